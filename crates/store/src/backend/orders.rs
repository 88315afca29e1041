// Orders and the prepaid ledger, written once and `include!`d into an
// `orders` module inside each engine's module (`sqlite.rs`, `postgres.rs`),
// which brings `Db`, `ThisStore`, `DbRow`, `DbConnection`, `reader()`,
// `begin_write()` and the row helpers of `repositories.rs` in with
// `use super::*`. The rules (states, keys, reasons) are `crate::orders`'s.

use crate::inventory::{amount_e4, amount_from_e4, currency_code, ListingKind};
use crate::rentals::{
    check_month_begun, check_quarantine, Arrear, BillingMonth, NumberRelease, RentalCharge, RentalRun, Rentals,
};
use crate::orders::{
    check_hold, check_key, check_reason, clock_utc, shown, Actor, Balance, LedgerEntry, LedgerKind,
    NewOrder, Order, OrderEvent, OrderState, Orders, Topup, TopupOutcome,
};

const ORDER_COLUMNS: &str = "id, member_id, number, state, price_e4, monthly_e4, currency, \
                             hold_until, reason, idempotency_key, created_at, updated_at, \
                             released_at";

fn order_from_row(row: &DbRow) -> Result<Order> {
    Ok(Order {
        id: row.try_get("id")?,
        member_id: MemberId(row.try_get("member_id")?),
        number: row.try_get("number")?,
        state: row.try_get::<String, _>("state")?.parse().map_err(corrupt)?,
        price: amount_from_e4(row.try_get("price_e4")?),
        monthly: amount_from_e4(row.try_get("monthly_e4")?),
        currency: row.try_get("currency")?,
        hold_until: row.try_get("hold_until")?,
        reason: row.try_get("reason")?,
        idempotency_key: row.try_get("idempotency_key")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        released_at: row.try_get("released_at")?,
    })
}

async fn order_in(conn: &mut DbConnection, id: i64) -> Result<Option<Order>> {
    let row = sqlx::query(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(order_from_row).transpose()
}

async fn existing_order(conn: &mut DbConnection, id: i64) -> Result<Order> {
    order_in(conn, id)
        .await?
        .ok_or_else(|| StoreError::not_found(format!("there is no order {id}")))
}

async fn order_by_key(
    conn: &mut DbConnection,
    member: MemberId,
    key: &str,
) -> Result<Option<Order>> {
    let row = sqlx::query(&format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE member_id = $1 AND idempotency_key = $2"
    ))
    .bind(member.0)
    .bind(key)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(order_from_row).transpose()
}

/// The order a repeated key names, if it was for the same number.
fn replay(order: Order, number: &str) -> Result<Order> {
    if order.number == number {
        Ok(order)
    } else {
        Err(StoreError::conflict(format!(
            "idempotency key {:?} was used for order {} of number {}; use a new key for \
             another number",
            order.idempotency_key,
            order.id,
            shown(&order.number)
        )))
    }
}

/// Moves `order` to `to` (it must still be in its state) and records who
/// and when.
async fn transition(
    conn: &mut DbConnection,
    order: &Order,
    to: OrderState,
    by: Actor,
    now: UnixMillis,
    note: Option<&str>,
) -> Result<Order> {
    try_transition(conn, order, to, by, now, note)
        .await?
        .ok_or_else(|| {
            StoreError::conflict(format!(
                "order {} changed while it was being moved to {to}; look at it again",
                order.id
            ))
        })
}

/// Like [`transition`]; `None` when the order has left its state meanwhile
/// (another node moved it first, on PostgreSQL).
async fn try_transition(
    conn: &mut DbConnection,
    order: &Order,
    to: OrderState,
    by: Actor,
    now: UnixMillis,
    note: Option<&str>,
) -> Result<Option<Order>> {
    let updated =
        sqlx::query("UPDATE orders SET state = $1, updated_at = $2 WHERE id = $3 AND state = $4")
            .bind(to.as_str())
            .bind(now)
            .bind(order.id)
            .bind(order.state.as_str())
            .execute(&mut *conn)
            .await?;
    if updated.rows_affected() != 1 {
        return Ok(None);
    }
    sqlx::query(
        "INSERT INTO order_events (order_id, from_state, to_state, actor, at, note) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(order.id)
    .bind(order.state.as_str())
    .bind(to.as_str())
    .bind(by.to_string())
    .bind(now)
    .bind(note)
    .execute(&mut *conn)
    .await?;
    Ok(Some(Order {
        state: to,
        updated_at: now,
        ..order.clone()
    }))
}

/// Puts a held number back on sale.
async fn release_hold(conn: &mut DbConnection, number: &str) -> Result<()> {
    sqlx::query("UPDATE inventory SET state = 'available' WHERE number = $1 AND state = 'held'")
        .bind(number)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Expires the holds that ran out by `now` (of `number` only, if given).
async fn expire_in(conn: &mut DbConnection, number: Option<&str>, now: UnixMillis) -> Result<u64> {
    let mut query = QueryBuilder::<Db>::new("SELECT ");
    query
        .push(ORDER_COLUMNS)
        .push(" FROM orders WHERE state IN ('approved', 'payment_requested') AND hold_until <= ")
        .push_bind(now);
    if let Some(number) = number {
        query.push(" AND number = ").push_bind(number);
    }
    let rows = query.build().fetch_all(&mut *conn).await?;
    let ran_out = rows.iter().map(order_from_row).collect::<Result<Vec<_>>>()?;
    let mut expired = 0;
    for order in &ran_out {
        let until = order.hold_until.unwrap_or(now);
        let note = format!("the hold ran out at {}", clock_utc(until, now));
        // Another sweep, or a request for the number, may expire it first.
        let moved =
            try_transition(conn, order, OrderState::Expired, Actor::System, now, Some(&note))
                .await?;
        if moved.is_some() {
            release_hold(conn, &order.number).await?;
            expired += 1;
        }
    }
    Ok(expired)
}

/// Why `number` cannot be ordered now, or the order a concurrent request
/// with the same key made.
async fn unavailable(
    conn: &mut DbConnection,
    new: &NewOrder,
    state: &str,
    now: UnixMillis,
) -> Result<Order> {
    if let Some(order) = order_by_key(conn, new.member, &new.idempotency_key).await? {
        return replay(order, &new.number);
    }
    let live = sqlx::query(&format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE number = $1 \
         AND state IN ('requested', 'approved', 'payment_requested', 'paid')"
    ))
    .bind(&new.number)
    .fetch_optional(&mut *conn)
    .await?;
    let live = live.as_ref().map(order_from_row).transpose()?;
    let number = shown(&new.number);
    Err(StoreError::conflict(match (live, state) {
        (Some(order), _) if order.state == OrderState::Requested => format!(
            "number {number} is awaiting the operator's approval for another order"
        ),
        (Some(Order {
            hold_until: Some(until),
            ..
        }), _) => format!(
            "number {number} is held by another order until {}",
            clock_utc(until, now)
        ),
        (Some(_), _) => format!("number {number} is being sold to another buyer"),
        (None, "sold") => format!("number {number} is sold"),
        (None, "withdrawn") => match quarantine_until(conn, &new.number).await? {
            Some(until) => format!(
                "number {number} was given back by its previous holder and is in quarantine \
                 until {}",
                clock_utc(until, now)
            ),
            None => format!("number {number} is withdrawn from sale"),
        },
        (None, _) => format!("number {number} was taken by another order just now"),
    }))
}

/// A ledger transaction about to be recorded.
struct Posting<'a> {
    member: MemberId,
    kind: LedgerKind,
    order: Option<i64>,
    key: Option<&'a str>,
    by: Actor,
    now: UnixMillis,
    currency: &'a str,
    description: Option<&'a str>,
}

/// Records `posting` with its entries (account, member, amount), which
/// must sum to zero. Returns its id.
async fn post(
    conn: &mut DbConnection,
    posting: &Posting<'_>,
    entries: &[(&str, Option<MemberId>, i64)],
) -> std::result::Result<i64, sqlx::Error> {
    let Posting {
        member,
        kind,
        order,
        key,
        by,
        now,
        currency,
        description,
    } = *posting;
    // An invariant of every caller: each posts an amount and its opposite.
    debug_assert_eq!(entries.iter().map(|e| e.2).sum::<i64>(), 0);
    let row = sqlx::query(
        "INSERT INTO ledger_transactions \
         (member_id, kind, order_id, idempotency_key, actor, at, description) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(member.0)
    .bind(kind.as_str())
    .bind(order)
    .bind(key)
    .bind(by.to_string())
    .bind(now)
    .bind(description)
    .fetch_one(&mut *conn)
    .await?;
    let id: i64 = row.try_get("id")?;
    for &(account, holder, amount) in entries {
        sqlx::query(
            "INSERT INTO ledger_entries (transaction_id, account, member_id, currency, amount_e4) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(account)
        .bind(holder.map(|m| m.0))
        .bind(currency)
        .bind(amount)
        .execute(&mut *conn)
        .await?;
    }
    Ok(id)
}

/// Adds `amount_e4` to a member's balance (creating it).
async fn credit_balance(
    conn: &mut DbConnection,
    member: MemberId,
    currency: &str,
    amount_e4: i64,
) -> std::result::Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO balances (member_id, currency, balance_e4) VALUES ($1, $2, $3) \
         ON CONFLICT (member_id, currency) \
         DO UPDATE SET balance_e4 = balances.balance_e4 + excluded.balance_e4",
    )
    .bind(member.0)
    .bind(currency)
    .bind(amount_e4)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn balance_e4<'c, E>(executor: E, member: MemberId, currency: &str) -> Result<i64>
where
    E: sqlx::Executor<'c, Database = Db>,
{
    let row = sqlx::query("SELECT balance_e4 FROM balances WHERE member_id = $1 AND currency = $2")
        .bind(member.0)
        .bind(currency)
        .fetch_optional(executor)
        .await?;
    Ok(match row {
        Some(row) => row.try_get("balance_e4")?,
        None => 0,
    })
}

async fn topup_by_key(
    conn: &mut DbConnection,
    member: MemberId,
    key: &str,
) -> Result<Option<(i64, String, i64)>> {
    let row = sqlx::query(
        "SELECT t.id, e.currency, e.amount_e4 FROM ledger_transactions t \
         JOIN ledger_entries e ON e.transaction_id = t.id AND e.account = 'balance' \
         WHERE t.member_id = $1 AND t.idempotency_key = $2",
    )
    .bind(member.0)
    .bind(key)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| -> Result<_> {
        Ok((row.try_get("id")?, row.try_get("currency")?, row.try_get("amount_e4")?))
    })
    .transpose()
}

impl Orders for ThisStore {
    async fn request_order(&self, new: &NewOrder, now: UnixMillis, hold_ms: i64) -> Result<Order> {
        check_key(&new.idempotency_key)?;
        check_number(&new.number)?;
        check_hold(hold_ms)?;
        let mut tx = self.begin_write().await?;
        if let Some(order) = order_by_key(&mut tx, new.member, &new.idempotency_key).await? {
            return replay(order, &new.number);
        }
        expire_in(&mut tx, Some(&new.number), now).await?;
        let listing = sqlx::query(
            "SELECT kind, premium, price_e4, monthly_e4, currency, state FROM inventory \
             WHERE number = $1",
        )
        .bind(&new.number)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(listing) = listing else {
            return Err(StoreError::not_found(format!(
                "number {} is not in the inventory",
                shown(&new.number)
            )));
        };
        let kind: ListingKind = listing.try_get::<String, _>("kind")?.parse().map_err(corrupt)?;
        let premium: Option<String> = listing.try_get("premium")?;
        let state: String = listing.try_get("state")?;
        // The race is decided here: of concurrent requests, one moves the
        // row from available to held; the others find it held (on
        // PostgreSQL after waiting for the winner's commit).
        let claimed = sqlx::query(
            "UPDATE inventory SET state = 'held' WHERE number = $1 AND state = 'available'",
        )
        .bind(&new.number)
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() != 1 {
            let outcome = unavailable(&mut tx, new, &state, now).await;
            tx.rollback().await?;
            return outcome;
        }
        let inserted = sqlx::query(&format!(
            "INSERT INTO orders (member_id, number, state, price_e4, monthly_e4, currency, \
             idempotency_key, created_at, updated_at) \
             VALUES ($1, $2, 'requested', $3, $4, $5, $6, $7, $7) RETURNING {ORDER_COLUMNS}"
        ))
        .bind(new.member.0)
        .bind(&new.number)
        .bind(listing.try_get::<i64, _>("price_e4")?)
        .bind(listing.try_get::<i64, _>("monthly_e4")?)
        .bind(listing.try_get::<String, _>("currency")?)
        .bind(&new.idempotency_key)
        .bind(now)
        .fetch_one(&mut *tx)
        .await;
        let order = match inserted {
            Ok(row) => order_from_row(&row)?,
            Err(err) if violation(&err) == Some(ErrorKind::ForeignKeyViolation) => {
                return Err(StoreError::not_found(format!(
                    "member {} does not exist",
                    new.member
                )))
            }
            Err(err) if violation(&err) == Some(ErrorKind::UniqueViolation) => {
                return Err(StoreError::conflict(format!(
                    "idempotency key {:?} was used by another request of member {} at the \
                     same moment; send it again to see that order",
                    new.idempotency_key, new.member
                )))
            }
            Err(err) => return Err(err.into()),
        };
        sqlx::query(
            "INSERT INTO order_events (order_id, from_state, to_state, actor, at) \
             VALUES ($1, NULL, 'requested', $2, $3)",
        )
        .bind(order.id)
        .bind(Actor::Member(new.member).to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let order = if kind == ListingKind::Vns || premium.is_some() {
            order
        } else {
            let until = now + hold_ms;
            sqlx::query("UPDATE orders SET hold_until = $1 WHERE id = $2")
                .bind(until)
                .bind(order.id)
                .execute(&mut *tx)
                .await?;
            let order = Order {
                hold_until: Some(until),
                ..order
            };
            let note = "approved automatically: the number is free";
            transition(&mut tx, &order, OrderState::Approved, Actor::System, now, Some(note))
                .await?
        };
        tx.commit().await?;
        Ok(order)
    }

    async fn approve_order(
        &self,
        id: i64,
        by: Actor,
        now: UnixMillis,
        hold_ms: i64,
    ) -> Result<Order> {
        check_hold(hold_ms)?;
        let mut tx = self.begin_write().await?;
        let order = existing_order(&mut tx, id).await?;
        if order.state != OrderState::Requested {
            return Err(StoreError::conflict(format!(
                "order {id} is {}, not awaiting approval",
                order.clone().as_of(now).state
            )));
        }
        let until = now + hold_ms;
        sqlx::query("UPDATE orders SET hold_until = $1 WHERE id = $2")
            .bind(until)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let order = Order {
            hold_until: Some(until),
            ..order
        };
        let order = transition(&mut tx, &order, OrderState::Approved, by, now, None).await?;
        tx.commit().await?;
        Ok(order)
    }

    async fn reject_order(&self, id: i64, by: Actor, reason: &str, now: UnixMillis) -> Result<Order> {
        check_reason(reason)?;
        let reason = reason.trim();
        let mut tx = self.begin_write().await?;
        let order = existing_order(&mut tx, id).await?;
        expire_in(&mut tx, Some(&order.number), now).await?;
        let order = existing_order(&mut tx, id).await?;
        if !matches!(order.state, OrderState::Requested | OrderState::Approved) {
            return Err(StoreError::conflict(format!(
                "order {id} is {}; only a requested or approved order can be rejected",
                order.state
            )));
        }
        sqlx::query("UPDATE orders SET reason = $1 WHERE id = $2")
            .bind(reason)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let order = Order {
            reason: Some(reason.to_owned()),
            ..order
        };
        let order = transition(&mut tx, &order, OrderState::Rejected, by, now, Some(reason)).await?;
        release_hold(&mut tx, &order.number).await?;
        tx.commit().await?;
        Ok(order)
    }

    async fn cancel_order(&self, id: i64, by: Actor, now: UnixMillis) -> Result<Order> {
        let mut tx = self.begin_write().await?;
        let order = existing_order(&mut tx, id).await?;
        expire_in(&mut tx, Some(&order.number), now).await?;
        let order = existing_order(&mut tx, id).await?;
        match order.state {
            OrderState::Requested | OrderState::Approved | OrderState::PaymentRequested => {
                let order = transition(&mut tx, &order, OrderState::Cancelled, by, now, None).await?;
                release_hold(&mut tx, &order.number).await?;
                tx.commit().await?;
                Ok(order)
            }
            OrderState::Assigned if order.released_at.is_some() => {
                Err(StoreError::conflict(format!(
                    "order {id}'s number {} was given back at {}; there is nothing to take back",
                    shown(&order.number),
                    clock_utc(order.released_at.unwrap_or(now), now)
                )))
            }
            OrderState::Assigned if by == Actor::Operator => {
                // Taken back and refunded: the grant goes, the number is for
                // sale again, the price returns to the buyer's balance.
                sqlx::query("DELETE FROM numbers WHERE number = $1 AND member_id = $2")
                    .bind(&order.number)
                    .bind(order.member_id.0)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("UPDATE inventory SET state = 'available' WHERE number = $1")
                    .bind(&order.number)
                    .execute(&mut *tx)
                    .await?;
                // The price, and this month's rental if it was charged: the
                // buyer does not keep the number for the rest of it.
                let month = BillingMonth::of(now);
                let rented = sqlx::query("SELECT 1 FROM rentals WHERE order_id = $1 AND month = $2")
                    .bind(id)
                    .bind(month.to_string())
                    .fetch_optional(&mut *tx)
                    .await?
                    .is_some();
                let monthly = if rented {
                    amount_e4("monthly rental", order.monthly)?
                } else {
                    0
                };
                let refund = amount_e4("price", order.price)? + monthly;
                if refund > 0 {
                    let entries = [
                        ("balance", Some(order.member_id), refund),
                        ("revenue", None, -refund),
                    ];
                    post(
                        &mut tx,
                        &Posting {
                            member: order.member_id,
                            kind: LedgerKind::Refund,
                            order: Some(id),
                            key: None,
                            by,
                            now,
                            currency: &order.currency,
                            description: None,
                        },
                        &entries,
                    )
                    .await?;
                    credit_balance(&mut tx, order.member_id, &order.currency, refund).await?;
                }
                let note = format!(
                    "number taken back; {} {} refunded to the prepaid balance",
                    amount_from_e4(refund),
                    order.currency
                );
                let order =
                    transition(&mut tx, &order, OrderState::Cancelled, by, now, Some(&note)).await?;
                tx.commit().await?;
                Ok(order)
            }
            OrderState::Assigned => Err(StoreError::conflict(format!(
                "order {id} is assigned: number {} is the member's; release the number instead",
                shown(&order.number)
            ))),
            state => Err(StoreError::conflict(format!(
                "order {id} is {state} already; there is nothing to cancel"
            ))),
        }
    }

    async fn pay_order_from_balance(&self, id: i64, by: Actor, now: UnixMillis) -> Result<Order> {
        let mut tx = self.begin_write().await?;
        let order = existing_order(&mut tx, id).await?;
        if order.state.runs_out() && order.hold_until.is_some_and(|until| until <= now) {
            // Not recorded here: a failed payment changes nothing; the
            // sweep (or the next request for the number) expires it.
            return Err(StoreError::conflict(format!(
                "the hold of order {id} ran out at {}; request number {} again",
                clock_utc(order.hold_until.unwrap_or(now), now),
                shown(&order.number)
            )));
        }
        if order.state != OrderState::Approved {
            return Err(StoreError::conflict(match order.state {
                OrderState::Requested => {
                    format!("order {id} is awaiting the operator's approval; it cannot be paid yet")
                }
                state => format!("order {id} is {state}; only an approved order can be paid"),
            }));
        }
        let requested = transition(&mut tx, &order, OrderState::PaymentRequested, by, now, None).await?;
        let price = amount_e4("price", order.price)?;
        let monthly = amount_e4("monthly rental", order.monthly)?;
        let month = BillingMonth::of(now);
        let total = price + monthly;
        if total > 0 {
            let taken = sqlx::query(
                "UPDATE balances SET balance_e4 = balance_e4 - $1 \
                 WHERE member_id = $2 AND currency = $3 AND balance_e4 >= $1",
            )
            .bind(total)
            .bind(order.member_id.0)
            .bind(&order.currency)
            .execute(&mut *tx)
            .await?;
            if taken.rows_affected() != 1 {
                tx.rollback().await?;
                let balance = amount_from_e4(
                    balance_e4(self.reader(), order.member_id, &order.currency).await?,
                );
                let due = amount_from_e4(total);
                return Err(StoreError::conflict(format!(
                    "the prepaid balance of member {} is {balance} {currency} and order {id} \
                     costs {due} {currency} ({price} and the rental of {month}, {monthly}): \
                     top up at least {short} {currency} first",
                    order.member_id,
                    currency = order.currency,
                    price = order.price,
                    monthly = order.monthly,
                    short = due - balance,
                )));
            }
        }
        let posting = |kind, description| Posting {
            member: order.member_id,
            kind,
            order: Some(id),
            key: None,
            by,
            now,
            currency: &order.currency,
            description,
        };
        if price > 0 {
            let entries = [
                ("balance", Some(order.member_id), -price),
                ("revenue", None, price),
            ];
            post(&mut tx, &posting(LedgerKind::Charge, None), &entries).await?;
        }
        if monthly > 0 {
            let description = rental_description(&order.number, month);
            let entries = [
                ("balance", Some(order.member_id), -monthly),
                ("revenue", None, monthly),
            ];
            let rental = post(
                &mut tx,
                &posting(LedgerKind::Rental, Some(&description)),
                &entries,
            )
            .await?;
            record_rental(&mut tx, id, month, rental).await?;
        }
        let note = format!(
            "{} {currency} and the rental of {month}, {} {currency}, charged to the prepaid \
             balance",
            order.price,
            order.monthly,
            currency = order.currency
        );
        let paid = transition(&mut tx, &requested, OrderState::Paid, by, now, Some(&note)).await?;
        let kind: String = sqlx::query("SELECT kind FROM inventory WHERE number = $1")
            .bind(&order.number)
            .fetch_one(&mut *tx)
            .await?
            .try_get("kind")?;
        let kind: ListingKind = kind.parse().map_err(corrupt)?;
        // The grant the switch reads (`Numbers::grant`'s statement), in this
        // transaction: the number is usable as soon as this commits.
        let granted = sqlx::query(sql::INSERT_NUMBER)
            .bind(&order.number)
            .bind(kind.number_kind().as_str())
            .bind(order.member_id.0)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        if granted.rows_affected() != 1 {
            tx.rollback().await?;
            return Err(StoreError::conflict(format!(
                "number {} is already granted to a member outside the marketplace; nothing was \
                 charged",
                shown(&order.number)
            )));
        }
        sqlx::query("UPDATE inventory SET state = 'sold' WHERE number = $1")
            .bind(&order.number)
            .execute(&mut *tx)
            .await?;
        let note = format!(
            "number granted; monthly rental {} {}",
            order.monthly, order.currency
        );
        let assigned = transition(&mut tx, &paid, OrderState::Assigned, Actor::System, now, Some(&note)).await?;
        tx.commit().await?;
        Ok(assigned)
    }

    async fn expire_holds(&self, now: UnixMillis) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let expired = expire_in(&mut tx, None, now).await?;
        tx.commit().await?;
        Ok(expired)
    }

    async fn order(&self, id: i64, now: UnixMillis) -> Result<Option<Order>> {
        let mut conn = self.reader().acquire().await?;
        Ok(order_in(&mut conn, id).await?.map(|order| order.as_of(now)))
    }

    async fn order_events(&self, id: i64) -> Result<Vec<OrderEvent>> {
        let rows = sqlx::query(
            "SELECT order_id, from_state, to_state, actor, at, note FROM order_events \
             WHERE order_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(OrderEvent {
                    order_id: row.try_get("order_id")?,
                    from: row
                        .try_get::<Option<String>, _>("from_state")?
                        .map(|s| s.parse())
                        .transpose()
                        .map_err(corrupt)?,
                    to: row.try_get::<String, _>("to_state")?.parse().map_err(corrupt)?,
                    actor: row.try_get("actor")?,
                    at: row.try_get("at")?,
                    note: row.try_get("note")?,
                })
            })
            .collect()
    }

    async fn orders_of(&self, member: MemberId, now: UnixMillis) -> Result<Vec<Order>> {
        let rows = sqlx::query(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE member_id = $1 ORDER BY id"
        ))
        .bind(member.0)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|row| order_from_row(row).map(|order| order.as_of(now)))
            .collect()
    }

    async fn approval_queue(&self) -> Result<Vec<Order>> {
        let rows = sqlx::query(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE state = 'requested' ORDER BY id"
        ))
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(order_from_row).collect()
    }

    async fn top_up(&self, topup: &Topup, by: Actor, now: UnixMillis) -> Result<TopupOutcome> {
        check_key(&topup.idempotency_key)?;
        let currency = currency_code(&topup.currency)?;
        let amount = amount_e4("amount", topup.amount)?;
        if amount == 0 {
            return Err(StoreError::invalid("amount", "a top-up must be more than 0"));
        }
        let member = topup.member;
        let key = topup.idempotency_key.as_str();
        for _ in 0..2 {
            let mut tx = self.begin_write().await?;
            if let Some((id, used_currency, used_amount)) = topup_by_key(&mut tx, member, key).await? {
                if used_currency != currency || used_amount != amount {
                    return Err(StoreError::conflict(format!(
                        "idempotency key {key:?} was used for a top-up of {} {used_currency} \
                         (transaction {id}); use a new key for another top-up",
                        amount_from_e4(used_amount)
                    )));
                }
                let balance = balance_e4(&mut *tx, member, &currency).await?;
                return Ok(TopupOutcome {
                    transaction_id: id,
                    amount: amount_from_e4(amount),
                    currency,
                    balance: amount_from_e4(balance),
                    replayed: true,
                });
            }
            let entries = [("balance", Some(member), amount), ("funding", None, -amount)];
            let posted = post(
                &mut tx,
                &Posting {
                    member,
                    kind: LedgerKind::Topup,
                    order: None,
                    key: Some(key),
                    by,
                    now,
                    currency: &currency,
                    description: None,
                },
                &entries,
            )
            .await;
            let id = match posted {
                Ok(id) => id,
                Err(err) if violation(&err) == Some(ErrorKind::ForeignKeyViolation) => {
                    return Err(StoreError::not_found(format!("member {member} does not exist")))
                }
                // The same key at the same moment (PostgreSQL): read what
                // the other request recorded.
                Err(err) if violation(&err) == Some(ErrorKind::UniqueViolation) => {
                    tx.rollback().await?;
                    continue;
                }
                Err(err) => return Err(err.into()),
            };
            credit_balance(&mut tx, member, &currency, amount).await?;
            let balance = balance_e4(&mut *tx, member, &currency).await?;
            tx.commit().await?;
            return Ok(TopupOutcome {
                transaction_id: id,
                amount: amount_from_e4(amount),
                currency,
                balance: amount_from_e4(balance),
                replayed: false,
            });
        }
        Err(StoreError::conflict(format!(
            "idempotency key {key:?} is being used by another top-up right now; try again"
        )))
    }

    async fn balances(&self, member: MemberId) -> Result<Vec<Balance>> {
        let rows = sqlx::query(
            "SELECT currency, balance_e4 FROM balances WHERE member_id = $1 ORDER BY currency",
        )
        .bind(member.0)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Balance {
                    currency: row.try_get("currency")?,
                    amount: amount_from_e4(row.try_get("balance_e4")?),
                })
            })
            .collect()
    }

    async fn ledger(&self, member: MemberId) -> Result<Vec<LedgerEntry>> {
        let rows = sqlx::query(
            "SELECT t.id, t.kind, t.order_id, t.actor, t.at, t.description, e.currency, e.amount_e4 \
             FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id \
             WHERE e.account = 'balance' AND e.member_id = $1 ORDER BY t.id, e.id",
        )
        .bind(member.0)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(LedgerEntry {
                    transaction_id: row.try_get("id")?,
                    kind: row.try_get::<String, _>("kind")?.parse().map_err(corrupt)?,
                    order_id: row.try_get("order_id")?,
                    amount: amount_from_e4(row.try_get("amount_e4")?),
                    currency: row.try_get("currency")?,
                    actor: row.try_get("actor")?,
                    at: row.try_get("at")?,
                    description: row.try_get("description")?,
                })
            })
            .collect()
    }

    async fn unbalanced_transactions(&self) -> Result<Vec<i64>> {
        let rows = sqlx::query(
            "SELECT DISTINCT transaction_id FROM ledger_entries \
             GROUP BY transaction_id, currency HAVING SUM(amount_e4) <> 0 ORDER BY transaction_id",
        )
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|row| Ok(row.try_get("transaction_id")?))
            .collect()
    }
}

// ---------------------------------------------------------------- rentals

/// The ledger description of a month's rental.
fn rental_description(number: &str, month: BillingMonth) -> String {
    format!("rental of {} for {month}", shown(number))
}

/// Records that `transaction` charged order `id`'s rental of `month`;
/// `false` when that month was charged already (by another run that got
/// there first: the caller rolls back).
async fn record_rental(
    conn: &mut DbConnection,
    id: i64,
    month: BillingMonth,
    transaction: i64,
) -> Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO rentals (order_id, month, transaction_id) VALUES ($1, $2, $3) \
         ON CONFLICT (order_id, month) DO NOTHING",
    )
    .bind(id)
    .bind(month.to_string())
    .bind(transaction)
    .execute(&mut *conn)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// Until when a number given back is out of sale, if it still is.
async fn quarantine_until(conn: &mut DbConnection, number: &str) -> Result<Option<UnixMillis>> {
    let row = sqlx::query(
        "SELECT quarantine_until FROM number_releases \
         WHERE number = $1 AND returned_at IS NULL ORDER BY id DESC LIMIT 1",
    )
    .bind(number)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| Ok(row.try_get("quarantine_until")?))
        .transpose()
}

const RELEASE_COLUMNS: &str =
    "id, number, member_id, order_id, actor, at, quarantine_until, returned_at";

fn release_from_row(row: &DbRow) -> Result<NumberRelease> {
    Ok(NumberRelease {
        id: row.try_get("id")?,
        number: row.try_get("number")?,
        member_id: MemberId(row.try_get("member_id")?),
        order_id: row.try_get("order_id")?,
        actor: row.try_get("actor")?,
        at: row.try_get("at")?,
        quarantine_until: row.try_get("quarantine_until")?,
        returned_at: row.try_get("returned_at")?,
    })
}

impl Rentals for ThisStore {
    async fn release_number(
        &self,
        member: MemberId,
        number: &str,
        by: Actor,
        now: UnixMillis,
        quarantine_ms: i64,
    ) -> Result<NumberRelease> {
        check_number(number)?;
        check_quarantine(quarantine_ms)?;
        let mut tx = self.begin_write().await?;
        // SIP credentials, directory entries and claims go with the grant
        // (ON DELETE CASCADE).
        let deleted = sqlx::query("DELETE FROM numbers WHERE number = $1 AND member_id = $2")
            .bind(number)
            .bind(member.0)
            .execute(&mut *tx)
            .await?;
        if deleted.rows_affected() != 1 {
            return Err(StoreError::not_found(format!(
                "member {member} does not hold number {}",
                shown(number)
            )));
        }
        // The registrar's AORs are sip:<number>@<realm>.
        sqlx::query("DELETE FROM bindings WHERE aor LIKE $1")
            .bind(format!("sip:{number}@%"))
            .execute(&mut *tx)
            .await?;
        let order = sqlx::query(&format!(
            "UPDATE orders SET released_at = $1 WHERE number = $2 AND member_id = $3 \
             AND state = 'assigned' AND released_at IS NULL RETURNING {ORDER_COLUMNS}"
        ))
        .bind(now)
        .bind(number)
        .bind(member.0)
        .fetch_optional(&mut *tx)
        .await?;
        let order = order.as_ref().map(order_from_row).transpose()?;
        let until = now.saturating_add(quarantine_ms);
        let back_on_sale = quarantine_ms == 0;
        let listed = sqlx::query(
            "UPDATE inventory SET state = $1 WHERE number = $2 AND state = 'sold'",
        )
        .bind(if back_on_sale { "available" } else { "withdrawn" })
        .bind(number)
        .execute(&mut *tx)
        .await?;
        let returned = (back_on_sale && listed.rows_affected() == 1).then_some(now);
        let row = sqlx::query(&format!(
            "INSERT INTO number_releases \
             (number, member_id, order_id, actor, at, quarantine_until, returned_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {RELEASE_COLUMNS}"
        ))
        .bind(number)
        .bind(member.0)
        .bind(order.as_ref().map(|o| o.id))
        .bind(by.to_string())
        .bind(now)
        .bind(until)
        .bind(returned)
        .fetch_one(&mut *tx)
        .await?;
        let release = release_from_row(&row)?;
        if let Some(order) = &order {
            let note = if listed.rows_affected() == 0 {
                "number given back; its rental stopped".to_owned()
            } else if back_on_sale {
                "number given back; its rental stopped; for sale again".to_owned()
            } else {
                format!(
                    "number given back; its rental stopped; in quarantine until {}",
                    clock_utc(until, now)
                )
            };
            sqlx::query(
                "INSERT INTO order_events (order_id, from_state, to_state, actor, at, note) \
                 VALUES ($1, 'assigned', 'assigned', $2, $3, $4)",
            )
            .bind(order.id)
            .bind(by.to_string())
            .bind(now)
            .bind(note)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(release)
    }

    async fn number_releases(&self, number: &str) -> Result<Vec<NumberRelease>> {
        let rows = sqlx::query(&format!(
            "SELECT {RELEASE_COLUMNS} FROM number_releases WHERE number = $1 ORDER BY id"
        ))
        .bind(number)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(release_from_row).collect()
    }

    async fn end_quarantines(&self, now: UnixMillis) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let ended = sqlx::query(
            "UPDATE number_releases SET returned_at = $1 \
             WHERE returned_at IS NULL AND quarantine_until <= $1 RETURNING number",
        )
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        let mut returned = 0;
        for row in &ended {
            let number: String = row.try_get("number")?;
            let back = sqlx::query(
                "UPDATE inventory SET state = 'available' WHERE number = $1 AND state = 'withdrawn'",
            )
            .bind(&number)
            .execute(&mut *tx)
            .await?;
            returned += back.rows_affected();
        }
        tx.commit().await?;
        Ok(returned)
    }

    async fn run_rentals(&self, month: BillingMonth, now: UnixMillis) -> Result<RentalRun> {
        check_month_begun(month, now)?;
        // Assigned before the month ended, not given back before it began.
        let rows = sqlx::query(&format!(
            "SELECT {ORDER_COLUMNS}, EXISTS (SELECT 1 FROM rentals AS r \
               WHERE r.order_id = orders.id AND r.month = $3) AS charged_before \
             FROM orders WHERE state = 'assigned' AND monthly_e4 > 0 \
             AND updated_at < $1 AND (released_at IS NULL OR released_at > $2) ORDER BY id"
        ))
        .bind(month.end())
        .bind(month.start())
        .bind(month.to_string())
        .fetch_all(self.reader())
        .await?;
        let mut charged = Vec::new();
        let mut already_charged = 0;
        for row in &rows {
            if row.try_get::<bool, _>("charged_before")? {
                already_charged += 1;
                continue;
            }
            let order = order_from_row(row)?;
            let monthly = amount_e4("monthly rental", order.monthly)?;
            let mut tx = self.begin_write().await?;
            let description = rental_description(&order.number, month);
            let entries = [
                ("balance", Some(order.member_id), -monthly),
                ("revenue", None, monthly),
            ];
            let transaction_id = post(
                &mut tx,
                &Posting {
                    member: order.member_id,
                    kind: LedgerKind::Rental,
                    order: Some(order.id),
                    key: None,
                    by: Actor::System,
                    now,
                    currency: &order.currency,
                    description: Some(&description),
                },
                &entries,
            )
            .await?;
            // The (order, month) key decides: a run that finds the month
            // charged (now, or by a concurrent run it waited for) undoes
            // its posting.
            if !record_rental(&mut tx, order.id, month, transaction_id).await? {
                tx.rollback().await?;
                already_charged += 1;
                continue;
            }
            credit_balance(&mut tx, order.member_id, &order.currency, -monthly).await?;
            let balance = balance_e4(&mut *tx, order.member_id, &order.currency).await?;
            tx.commit().await?;
            charged.push(RentalCharge {
                order_id: order.id,
                member_id: order.member_id,
                number: order.number,
                amount: order.monthly,
                currency: order.currency,
                transaction_id,
                balance: amount_from_e4(balance),
            });
        }
        Ok(RentalRun {
            month,
            charged,
            already_charged,
            arrears: self.arrears().await?,
        })
    }

    async fn arrears(&self) -> Result<Vec<Arrear>> {
        let rows = sqlx::query(
            "SELECT member_id, currency, balance_e4 FROM balances WHERE balance_e4 < 0 \
             ORDER BY member_id, currency",
        )
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Arrear {
                    member_id: MemberId(row.try_get("member_id")?),
                    currency: row.try_get("currency")?,
                    balance: amount_from_e4(row.try_get("balance_e4")?),
                })
            })
            .collect()
    }
}
