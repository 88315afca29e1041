//! `callex order list|approve|reject` and `callex balance topup|show`: the
//! operator's side of the purchase flow and the prepaid balance, on the
//! same store and through the same store functions as the API's
//! (`/api/v1/approvals`, `/orders/{id}/approve|reject`,
//! `/members/{id}/topups|ledger`).

use std::time::Duration;

use clap::{Args, Subcommand};
use store::prelude::*;
use store::{now_millis, Actor, Order, Orders, Topup};

use crate::config::Layer;
use crate::{announce, open_store, StoreArgs};

#[derive(Debug, Subcommand)]
pub enum OrderCommand {
    /// List orders: the approval queue, or one member's orders (--member).
    List(OrderList),
    /// Approve an order in the queue: its number is held for the buyer.
    Approve(OrderApprove),
    /// Reject an order, saying why: its number is for sale again.
    Reject(OrderReject),
}

#[derive(Debug, Subcommand)]
pub enum BalanceCommand {
    /// Credit a member's prepaid balance with money received.
    Topup(BalanceTopup),
    /// A member's balances and their movements.
    Show(BalanceShow),
}

#[derive(Debug, Args)]
pub struct OrderList {
    #[command(flatten)]
    store: StoreArgs,
    /// This member's orders, in every state, instead of the approval queue.
    #[arg(long, value_name = "ID")]
    member: Option<i64>,
}

#[derive(Debug, Args)]
pub struct OrderApprove {
    #[command(flatten)]
    store: StoreArgs,
    /// The order's id.
    id: i64,
    /// Seconds the number is held for the buyer to pay. [default: 1800]
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=30 * 86_400))]
    hold: Option<u64>,
}

#[derive(Debug, Args)]
pub struct OrderReject {
    #[command(flatten)]
    store: StoreArgs,
    /// The order's id.
    id: i64,
    /// Why, in words the buyer reads.
    #[arg(long)]
    reason: String,
}

#[derive(Debug, Args)]
pub struct BalanceTopup {
    #[command(flatten)]
    store: StoreArgs,
    /// The member's id.
    #[arg(long, value_name = "ID")]
    member: i64,
    /// The amount received, a decimal (12.50).
    amount: String,
    /// ISO 4217 (KRW).
    currency: String,
    /// The receipt's reference: the same key again records nothing new.
    #[arg(long, value_name = "KEY")]
    key: String,
}

#[derive(Debug, Args)]
pub struct BalanceShow {
    #[command(flatten)]
    store: StoreArgs,
    /// The member's id.
    #[arg(long, value_name = "ID")]
    member: i64,
}

impl OrderCommand {
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            OrderCommand::List(list) => {
                let store = open(list.store).await?;
                let orders = match list.member {
                    Some(member) => store.orders_of(MemberId(member), now_millis()).await,
                    None => store.approval_queue().await,
                };
                store.close().await;
                for order in orders? {
                    announce(&line(&order));
                }
            }
            OrderCommand::Approve(approve) => {
                let store = open(approve.store).await?;
                let hold = approve.hold.map_or(store::orders::DEFAULT_HOLD_MS, |secs| {
                    i64::try_from(Duration::from_secs(secs).as_millis()).unwrap_or(i64::MAX)
                });
                let approved = store
                    .approve_order(approve.id, Actor::Operator, now_millis(), hold)
                    .await;
                store.close().await;
                announce(&line(&approved?));
            }
            OrderCommand::Reject(reject) => {
                let store = open(reject.store).await?;
                let rejected = store
                    .reject_order(reject.id, Actor::Operator, &reject.reason, now_millis())
                    .await;
                store.close().await;
                announce(&line(&rejected?));
            }
        }
        Ok(())
    }
}

impl BalanceCommand {
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            BalanceCommand::Topup(topup) => {
                let amount = web::inventory::amount("the amount", &topup.amount)
                    .map_err(anyhow::Error::msg)?;
                let store = open(topup.store).await?;
                let outcome = store
                    .top_up(
                        &Topup {
                            member: MemberId(topup.member),
                            amount,
                            currency: topup.currency,
                            idempotency_key: topup.key,
                        },
                        Actor::Operator,
                        now_millis(),
                    )
                    .await;
                store.close().await;
                let outcome = outcome?;
                let replayed = if outcome.replayed {
                    " (this key was used: nothing new recorded)"
                } else {
                    ""
                };
                announce(&format!(
                    "topped up {} {} for member {}: balance {} {}{replayed}",
                    outcome.amount,
                    outcome.currency,
                    topup.member,
                    outcome.balance,
                    outcome.currency
                ));
            }
            BalanceCommand::Show(show) => {
                let store = open(show.store).await?;
                let member = MemberId(show.member);
                let found = store.member(member).await;
                let balances = store.balances(member).await;
                let ledger = store.ledger(member).await;
                store.close().await;
                if found?.is_none() {
                    anyhow::bail!("member {member} does not exist");
                }
                for balance in balances? {
                    announce(&format!("balance\t{} {}", balance.amount, balance.currency));
                }
                for entry in ledger? {
                    let order = entry
                        .order_id
                        .map(|id| format!("\torder {id}"))
                        .unwrap_or_default();
                    let description = entry
                        .description
                        .map(|text| format!("\t{text}"))
                        .unwrap_or_default();
                    announce(&format!(
                        "transaction {}\t{}\t{} {}{order}\tby {}{description}",
                        entry.transaction_id, entry.kind, entry.amount, entry.currency, entry.actor
                    ));
                }
            }
        }
        Ok(())
    }
}

/// One order on one line: id, state, number, member, price.
fn line(order: &Order) -> String {
    let held = order
        .hold_until
        .filter(|_| order.state == store::OrderState::Approved)
        .map(|until| {
            format!(
                "\theld until {}",
                store::orders::clock_utc(until, now_millis())
            )
        })
        .unwrap_or_default();
    let reason = order
        .reason
        .as_ref()
        .map(|reason| format!("\t{reason}"))
        .unwrap_or_default();
    format!(
        "order {}\t{}\t{}\tmember {}\t{} {} (monthly {}){held}{reason}",
        order.id,
        order.state,
        order.number,
        order.member_id,
        order.price,
        order.currency,
        order.monthly
    )
}

async fn open(args: StoreArgs) -> anyhow::Result<Store> {
    open_store(&args.resolve(Layer::default())?).await
}
