//! The purchase flow (SPEC §2) and the prepaid ledger.
//!
//! An [`Order`] is one member buying one inventory number. Its states:
//!
//! ```text
//! requested ──approve──▶ approved ──pay──▶ payment_requested ─▶ paid ─▶ assigned
//!     │                   │  │
//!     └──reject──▶ rejected ◀┘  └──hold runs out──▶ expired
//! requested / approved / payment_requested ──cancel──▶ cancelled
//! ```
//!
//! VNS and premium numbers wait in the operator's approval queue
//! (`requested`); other numbers are approved at once when free. An approved
//! order holds the number until `hold_until` ([`DEFAULT_HOLD_MS`] unless
//! configured); a read treats an order whose hold ran out as `expired`
//! even before [`Orders::expire_holds`] has swept it. Every transition is an
//! [`OrderEvent`] with who and when.
//!
//! Two buyers racing for one number: the inventory row goes from
//! `available` to `held` in the ordering transaction, and the database
//! allows one live order per number, so exactly one wins on both engines.
//!
//! Payment goes through a [`PaymentProvider`]; the built-in one is the
//! member's prepaid balance ([`PrepaidBalance`]), kept in a double-entry
//! ledger: top-ups, charges and refunds are ledger transactions whose
//! entries sum to zero per currency. For the prepaid balance the charge,
//! the transitions to `paid` and `assigned` and the grant of the number are
//! one database transaction: a payment that fails (insufficient balance)
//! changes nothing. The order keeps the listing's monthly rental: the
//! purchase month's is charged with the price, the later months' by the
//! rental run ([`crate::rentals`]).
//!
//! Amounts are exact [`Decimal`]s with an ISO 4217 currency, stored as the
//! inventory stores them (integer ten-thousandths).

use std::fmt;
use std::future::Future;
use std::str::FromStr;

use rust_decimal::Decimal;

use crate::error::{Result, StoreError};
use crate::model::{excerpt, text_enum, MemberId, UnixMillis};
use crate::{Backend, Store};

/// How long an approved order holds its number unless configured: 30
/// minutes.
pub const DEFAULT_HOLD_MS: i64 = 30 * 60 * 1000;
/// The longest idempotency key.
pub const MAX_IDEMPOTENCY_KEY: usize = 100;
/// The longest reason for a rejection.
pub const MAX_REASON: usize = 500;

text_enum! {
    /// Where an order is in the purchase flow.
    pub enum OrderState ("order state") {
        /// Waiting in the operator's approval queue (VNS and premium).
        Requested = "requested",
        /// Approved; the number is held for the buyer until `hold_until`.
        Approved = "approved",
        /// Refused by the operator, with a reason.
        Rejected = "rejected",
        /// The buyer chose to pay; the provider is collecting.
        PaymentRequested = "payment_requested",
        /// The money is in.
        Paid = "paid",
        /// The number is the buyer's (the switch routes it at once).
        Assigned = "assigned",
        /// The hold ran out before payment; the number is for sale again.
        Expired = "expired",
        /// Withdrawn by the buyer or the operator; the number is for sale
        /// again.
        Cancelled = "cancelled",
    }
}

text_enum! {
    /// What moved money in the ledger.
    pub enum LedgerKind ("ledger kind") {
        Topup = "topup",
        Charge = "charge",
        Refund = "refund",
        /// A month's rental of an assigned number ([`crate::rentals`]).
        Rental = "rental",
    }
}

impl OrderState {
    /// Whether the order still holds (or is about to hold) its number.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            OrderState::Requested
                | OrderState::Approved
                | OrderState::PaymentRequested
                | OrderState::Paid
        )
    }

    /// States whose number is held until `hold_until`.
    pub(crate) fn runs_out(self) -> bool {
        matches!(self, OrderState::Approved | OrderState::PaymentRequested)
    }
}

/// Who made a transition, as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Member(MemberId),
    Operator,
    /// The exchange itself: automatic approvals, expiry.
    System,
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Member(id) => write!(f, "member {id}"),
            Actor::Operator => f.write_str("operator"),
            Actor::System => f.write_str("system"),
        }
    }
}

/// A purchase request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    pub member: MemberId,
    /// The number's store key, as listed in the inventory.
    pub number: String,
    /// The buyer's name for this request: the same key again is the same
    /// order, whatever happened to it since.
    pub idempotency_key: String,
}

/// An order as stored (with its state as of the time it was read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: i64,
    pub member_id: MemberId,
    pub number: String,
    pub state: OrderState,
    /// The one-off price, the listing's when the order was made.
    pub price: Decimal,
    /// The monthly rental the assignment carries.
    pub monthly: Decimal,
    pub currency: String,
    /// Until when an approved order holds the number.
    pub hold_until: Option<UnixMillis>,
    /// Why it was rejected.
    pub reason: Option<String>,
    pub idempotency_key: String,
    pub created_at: UnixMillis,
    pub updated_at: UnixMillis,
    /// When the buyer gave the assigned number back: its rental stopped.
    pub released_at: Option<UnixMillis>,
}

impl Order {
    /// The order as it stands at `now`: a hold that ran out is expired,
    /// whether or not [`Orders::expire_holds`] has run.
    pub fn as_of(mut self, now: UnixMillis) -> Order {
        if self.state.runs_out() && self.hold_until.is_some_and(|until| until <= now) {
            self.state = OrderState::Expired;
        }
        self
    }
}

/// One transition of an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderEvent {
    pub order_id: i64,
    /// `None` for the order's creation.
    pub from: Option<OrderState>,
    pub to: OrderState,
    /// "member 7", "operator" or "system".
    pub actor: String,
    pub at: UnixMillis,
    pub note: Option<String>,
}

/// A top-up of a member's prepaid balance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topup {
    pub member: MemberId,
    /// Positive, at most four decimal places.
    pub amount: Decimal,
    /// ISO 4217.
    pub currency: String,
    /// The same key again for this member is the same top-up.
    pub idempotency_key: String,
}

/// What a top-up did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopupOutcome {
    /// The ledger transaction.
    pub transaction_id: i64,
    pub amount: Decimal,
    pub currency: String,
    /// The member's balance in that currency afterwards (now, for a
    /// replay).
    pub balance: Decimal,
    /// True when the key had been used: nothing new was recorded.
    pub replayed: bool,
}

/// One movement of a member's prepaid balance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub transaction_id: i64,
    pub kind: LedgerKind,
    pub order_id: Option<i64>,
    /// Credited (positive) or debited (negative).
    pub amount: Decimal,
    pub currency: String,
    pub actor: String,
    pub at: UnixMillis,
    /// What it was for, when the kind does not say it all ("rental of
    /// 02-6200-6200-082 for 2026-12").
    pub description: Option<String>,
}

/// A member's balance in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    pub currency: String,
    pub amount: Decimal,
}

/// The purchase flow and the prepaid ledger.
pub trait Orders {
    /// Records a purchase request at `now`. The number must be available:
    /// a VNS or premium number waits for the operator (`requested`), any
    /// other is approved and held for `hold_ms`. A key the member used
    /// before returns that order as it is. `NotFound` for a number not in
    /// the inventory or a member who does not exist; `Conflict` for a
    /// number held, sold or withdrawn, saying until when.
    fn request_order(
        &self,
        new: &NewOrder,
        now: UnixMillis,
        hold_ms: i64,
    ) -> impl Future<Output = Result<Order>> + Send;

    /// The operator approves a `requested` order: the number is held for
    /// `hold_ms` from `now`.
    fn approve_order(
        &self,
        id: i64,
        by: Actor,
        now: UnixMillis,
        hold_ms: i64,
    ) -> impl Future<Output = Result<Order>> + Send;

    /// The operator rejects a `requested` or `approved` order, with a
    /// reason; the number is for sale again.
    fn reject_order(
        &self,
        id: i64,
        by: Actor,
        reason: &str,
        now: UnixMillis,
    ) -> impl Future<Output = Result<Order>> + Send;

    /// Cancels an order not yet paid; the number is for sale again. The
    /// operator may also cancel an `assigned` order: the number is taken
    /// back and the price refunded to the buyer's balance.
    fn cancel_order(
        &self,
        id: i64,
        by: Actor,
        now: UnixMillis,
    ) -> impl Future<Output = Result<Order>> + Send;

    /// Pays an approved order from the buyer's prepaid balance and assigns
    /// the number, in one transaction: approved → payment_requested → paid
    /// → assigned. The price and the purchase month's rental are charged
    /// together; a balance short of both is a `Conflict` and changes
    /// nothing.
    fn pay_order_from_balance(
        &self,
        id: i64,
        by: Actor,
        now: UnixMillis,
    ) -> impl Future<Output = Result<Order>> + Send;

    /// Expires every hold that ran out by `now` and puts its number back on
    /// sale; how many orders expired.
    fn expire_holds(&self, now: UnixMillis) -> impl Future<Output = Result<u64>> + Send;

    /// Order `id` as of `now`.
    fn order(&self, id: i64, now: UnixMillis)
        -> impl Future<Output = Result<Option<Order>>> + Send;

    /// The transitions of order `id`, oldest first.
    fn order_events(&self, id: i64) -> impl Future<Output = Result<Vec<OrderEvent>>> + Send;

    /// A member's orders as of `now`, oldest first.
    fn orders_of(
        &self,
        member: MemberId,
        now: UnixMillis,
    ) -> impl Future<Output = Result<Vec<Order>>> + Send;

    /// The operator's approval queue: `requested` orders, oldest first.
    fn approval_queue(&self) -> impl Future<Output = Result<Vec<Order>>> + Send;

    /// Credits a member's prepaid balance (the operator received the
    /// money). A key used before returns that top-up; used for another
    /// amount or currency, it is a `Conflict`.
    fn top_up(
        &self,
        topup: &Topup,
        by: Actor,
        now: UnixMillis,
    ) -> impl Future<Output = Result<TopupOutcome>> + Send;

    /// A member's balances, by currency.
    fn balances(&self, member: MemberId) -> impl Future<Output = Result<Vec<Balance>>> + Send;

    /// The movements of a member's balance, oldest first.
    fn ledger(&self, member: MemberId) -> impl Future<Output = Result<Vec<LedgerEntry>>> + Send;

    /// Ledger transactions whose entries do not sum to zero in some
    /// currency: always none (an audit).
    fn unbalanced_transactions(&self) -> impl Future<Output = Result<Vec<i64>>> + Send;
}

/// Calls the same method on whichever engine the store is.
macro_rules! on_engine {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match &$self.backend {
            Backend::Sqlite(store) => store.$method($($arg),*).await,
            Backend::Postgres(store) => store.$method($($arg),*).await,
        }
    };
}

impl Orders for Store {
    async fn request_order(&self, new: &NewOrder, now: UnixMillis, hold_ms: i64) -> Result<Order> {
        on_engine!(self.request_order(new, now, hold_ms))
    }
    async fn approve_order(
        &self,
        id: i64,
        by: Actor,
        now: UnixMillis,
        hold_ms: i64,
    ) -> Result<Order> {
        on_engine!(self.approve_order(id, by, now, hold_ms))
    }
    async fn reject_order(
        &self,
        id: i64,
        by: Actor,
        reason: &str,
        now: UnixMillis,
    ) -> Result<Order> {
        on_engine!(self.reject_order(id, by, reason, now))
    }
    async fn cancel_order(&self, id: i64, by: Actor, now: UnixMillis) -> Result<Order> {
        on_engine!(self.cancel_order(id, by, now))
    }
    async fn pay_order_from_balance(&self, id: i64, by: Actor, now: UnixMillis) -> Result<Order> {
        on_engine!(self.pay_order_from_balance(id, by, now))
    }
    async fn expire_holds(&self, now: UnixMillis) -> Result<u64> {
        on_engine!(self.expire_holds(now))
    }
    async fn order(&self, id: i64, now: UnixMillis) -> Result<Option<Order>> {
        on_engine!(self.order(id, now))
    }
    async fn order_events(&self, id: i64) -> Result<Vec<OrderEvent>> {
        on_engine!(self.order_events(id))
    }
    async fn orders_of(&self, member: MemberId, now: UnixMillis) -> Result<Vec<Order>> {
        on_engine!(self.orders_of(member, now))
    }
    async fn approval_queue(&self) -> Result<Vec<Order>> {
        on_engine!(self.approval_queue())
    }
    async fn top_up(&self, topup: &Topup, by: Actor, now: UnixMillis) -> Result<TopupOutcome> {
        on_engine!(self.top_up(topup, by, now))
    }
    async fn balances(&self, member: MemberId) -> Result<Vec<Balance>> {
        on_engine!(self.balances(member))
    }
    async fn ledger(&self, member: MemberId) -> Result<Vec<LedgerEntry>> {
        on_engine!(self.ledger(member))
    }
    async fn unbalanced_transactions(&self) -> Result<Vec<i64>> {
        on_engine!(self.unbalanced_transactions())
    }
}

// ---------------------------------------------------------------- payment

/// How an approved order is paid. A provider takes the order from
/// `approved` to `assigned`, or leaves it exactly as it was when the
/// payment fails.
pub trait PaymentProvider {
    /// The provider's name, as the API shows it.
    fn name(&self) -> &'static str;

    /// Pays order `id` on behalf of `by` at `now`.
    fn pay(
        &self,
        id: i64,
        by: Actor,
        now: UnixMillis,
    ) -> impl Future<Output = Result<Order>> + Send;
}

/// The built-in provider: the buyer's prepaid balance, charged in the same
/// transaction that assigns the number.
#[derive(Debug, Clone)]
pub struct PrepaidBalance {
    pub store: Store,
}

impl PaymentProvider for PrepaidBalance {
    fn name(&self) -> &'static str {
        "prepaid balance"
    }

    async fn pay(&self, id: i64, by: Actor, now: UnixMillis) -> Result<Order> {
        self.store.pay_order_from_balance(id, by, now).await
    }
}

// ---------------------------------------------------------------- checks

pub(crate) fn check_key(key: &str) -> Result<()> {
    if key.is_empty()
        || key.chars().count() > MAX_IDEMPOTENCY_KEY
        || key.chars().any(char::is_control)
    {
        return Err(StoreError::invalid(
            "idempotency_key",
            format!(
                "{:?} is not 1 to {MAX_IDEMPOTENCY_KEY} printable characters",
                excerpt(key)
            ),
        ));
    }
    Ok(())
}

pub(crate) fn check_reason(reason: &str) -> Result<()> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON {
        return Err(StoreError::invalid(
            "reason",
            format!("a rejection needs a reason of 1 to {MAX_REASON} characters"),
        ));
    }
    Ok(())
}

pub(crate) fn check_hold(hold_ms: i64) -> Result<()> {
    if hold_ms <= 0 {
        return Err(StoreError::invalid(
            "hold",
            format!("{hold_ms} ms: a hold must be positive"),
        ));
    }
    Ok(())
}

/// A number key as people write the number (`02-6200-6200-082` for the
/// PIN `0262006200082`), for messages; the key itself if it is none.
pub fn shown(key: &str) -> String {
    crate::model::NumberKind::ALL
        .iter()
        .find_map(|&kind| numbering::Number::from_key(kind.into(), key).ok())
        .map_or_else(|| key.to_owned(), |number| number.to_string())
}

/// `millis` as the time of day, e.g. "10:42 UTC"; with the date when it is
/// not the day of `now`.
pub fn clock_utc(millis: UnixMillis, now: UnixMillis) -> String {
    const DAY: i64 = 86_400_000;
    let day = millis.div_euclid(DAY);
    let minutes = millis.rem_euclid(DAY) / 60_000;
    let time = format!("{:02}:{:02} UTC", minutes / 60, minutes % 60);
    if day == now.div_euclid(DAY) {
        return time;
    }
    let (y, m, d) = crate::rentals::civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02} {time}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_show_numbers_as_people_write_them() {
        assert_eq!(shown("0262006200082"), "02-6200-6200-082");
        assert_eq!(shown("not a number"), "not a number");
    }

    #[test]
    fn times_read_as_utc_clock_times_with_the_date_when_not_today() {
        // 2026-12-01 10:42:00 UTC.
        let at = 1_796_121_720_000;
        assert_eq!(clock_utc(at, at), "10:42 UTC");
        assert_eq!(clock_utc(at + 86_400_000, at), "2026-12-02 10:42 UTC");
    }

    #[test]
    fn an_approved_order_reads_as_expired_once_its_hold_ran_out() {
        let order = Order {
            id: 1,
            member_id: MemberId(1),
            number: "0262006200082".into(),
            state: OrderState::Approved,
            price: Decimal::ONE,
            monthly: Decimal::ONE,
            currency: "KRW".into(),
            hold_until: Some(1000),
            reason: None,
            idempotency_key: "k".into(),
            created_at: 0,
            updated_at: 0,
            released_at: None,
        };
        assert_eq!(order.clone().as_of(999).state, OrderState::Approved);
        assert_eq!(order.as_of(1000).state, OrderState::Expired);
    }
}
