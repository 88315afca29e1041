//! The purchase flow and the prepaid balance over HTTP (SPEC §2): orders,
//! the operator's approval queue, top-ups and a member's ledger. The rules
//! are the store's ([`store::orders`]); these handlers read the request,
//! call it with the time and the caller, and show the result.
//!
//! A member buys for themself with their own token (a company admin also
//! for the company's members), and pays, cancels and reads their orders,
//! ledger and balance; another tenant's order answers 404 as an order that
//! does not exist would. Approving, rejecting, the approval queue and
//! top-ups are the operator's. Every transition records who made it.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use store::prelude::*;
use store::{
    now_millis, Actor, Balance, Inventory, LedgerEntry, NewOrder, Order, OrderEvent, Orders,
    PaymentProvider, PrepaidBalance, Topup, TopupOutcome,
};
use utoipa::ToSchema;

use crate::accounts::{visible_member, Caller};
use crate::problem::{ApiError, ApiJson, ApiPath};
use crate::AppState;

/// A purchase request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrder {
    /// The buying member: the operator gives it; a member's token buys for
    /// the member (left out) or, for a company admin, for one of the
    /// company's members.
    pub member: Option<i64>,
    /// The number, written any way (`02-6200-6200-082`, `+82 2 6200 6200`,
    /// `6200-6200#082`) or as the search shows it.
    pub number: String,
    /// The client's name for this request: sending it again returns the
    /// same order.
    pub idempotency_key: String,
}

/// Why an order is rejected.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectOrder {
    pub reason: String,
}

/// Money the operator received for a member's prepaid balance.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTopup {
    /// A decimal as a string (`"12.50"`), never a float.
    pub amount: String,
    /// ISO 4217 (`KRW`).
    pub currency: String,
    /// Sending the same key again records nothing new.
    pub idempotency_key: String,
}

/// An order and its history.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderView {
    pub id: i64,
    pub member_id: i64,
    pub number: String,
    /// requested, approved, rejected, payment_requested, paid, assigned,
    /// expired or cancelled.
    pub state: String,
    /// Decimal strings in `currency`.
    pub price: String,
    /// The monthly rental the assignment carries.
    pub monthly: String,
    pub currency: String,
    /// Until when an approved order holds the number (milliseconds since
    /// the Unix epoch, UTC).
    pub hold_until: Option<i64>,
    pub reason: Option<String>,
    pub idempotency_key: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// When the buyer gave the number back (its rental stopped).
    pub released_at: Option<i64>,
    /// Every transition, oldest first.
    pub events: Vec<OrderEventView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderEventView {
    /// Absent for the order's creation.
    pub from: Option<String>,
    pub to: String,
    /// `member 7`, `operator` or `system`.
    pub by: String,
    pub at: i64,
    pub note: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TopupView {
    pub transaction_id: i64,
    pub amount: String,
    pub currency: String,
    /// The balance in that currency afterwards.
    pub balance: String,
    /// True when the key had been used: nothing new was recorded.
    pub replayed: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerView {
    pub balances: Vec<BalanceView>,
    /// The movements of the balance, oldest first.
    pub entries: Vec<LedgerEntryView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BalanceView {
    pub currency: String,
    pub amount: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerEntryView {
    pub transaction_id: i64,
    /// topup, charge, refund or rental.
    pub kind: String,
    pub order_id: Option<i64>,
    /// Credited (positive) or debited (negative), a decimal string.
    pub amount: String,
    pub currency: String,
    pub by: String,
    pub at: i64,
    /// What it was for: `rental of 02-6200-6200-082 for 2026-12`.
    pub description: Option<String>,
}

impl OrderView {
    fn new(order: Order, events: Vec<OrderEvent>) -> OrderView {
        OrderView {
            id: order.id,
            member_id: order.member_id.0,
            number: order.number,
            state: order.state.to_string(),
            price: order.price.to_string(),
            monthly: order.monthly.to_string(),
            currency: order.currency,
            hold_until: order.hold_until,
            reason: order.reason,
            idempotency_key: order.idempotency_key,
            created_at: order.created_at,
            updated_at: order.updated_at,
            released_at: order.released_at,
            events: events
                .into_iter()
                .map(|event| OrderEventView {
                    from: event.from.map(|s| s.to_string()),
                    to: event.to.to_string(),
                    by: event.actor,
                    at: event.at,
                    note: event.note,
                })
                .collect(),
        }
    }
}

impl From<TopupOutcome> for TopupView {
    fn from(outcome: TopupOutcome) -> TopupView {
        TopupView {
            transaction_id: outcome.transaction_id,
            amount: outcome.amount.to_string(),
            currency: outcome.currency,
            balance: outcome.balance.to_string(),
            replayed: outcome.replayed,
        }
    }
}

impl From<Balance> for BalanceView {
    fn from(balance: Balance) -> BalanceView {
        BalanceView {
            currency: balance.currency,
            amount: balance.amount.to_string(),
        }
    }
}

impl From<LedgerEntry> for LedgerEntryView {
    fn from(entry: LedgerEntry) -> LedgerEntryView {
        LedgerEntryView {
            transaction_id: entry.transaction_id,
            kind: entry.kind.to_string(),
            order_id: entry.order_id,
            amount: entry.amount.to_string(),
            currency: entry.currency,
            by: entry.actor,
            at: entry.at,
            description: entry.description,
        }
    }
}

/// The inventory key of the number a buyer wrote (`02-6200-6200-082`,
/// `+82 2 6200 6200`, `6200-6200#082`): the first reading of it that is
/// listed; otherwise the digits as given, for the store to refuse.
pub async fn listed_key(store: &Store, written: &str) -> Result<String, StoreError> {
    for number in numbering::candidates(written).unwrap_or_default() {
        let key = number.key();
        if store.listing(&key).await?.is_some() {
            return Ok(key);
        }
    }
    Ok(written
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect())
}

/// How often `callex serve` expires the holds that ran out. Reads see a
/// run-out hold as expired at once; until the sweep, its number is missing
/// from the search for at most this long.
pub const HOLD_SWEEP_INTERVAL: Duration = Duration::from_secs(30);

/// Expires run-out holds every `every` until aborted; a failed sweep is
/// logged and the next one tries again.
pub fn spawn_hold_expiry(store: Store, every: Duration) -> tokio::task::JoinHandle<()> {
    crate::periodic::every(every, "expiring purchase holds", move || {
        let store = store.clone();
        async move {
            let expired = store.expire_holds(now_millis()).await?;
            if expired > 0 {
                tracing::info!(expired, "purchase holds ran out; numbers for sale again");
            }
            Ok(())
        }
    })
}

pub(crate) fn hold_ms(state: &AppState) -> i64 {
    i64::try_from(state.order_hold.as_millis()).unwrap_or(i64::MAX)
}

/// The operator credits `member`'s prepaid balance with `amount` as
/// written (a decimal string): the API's top-up and the portal's form. The
/// same key again is the same top-up.
pub async fn top_up(
    store: &Store,
    member: MemberId,
    amount: &str,
    currency: String,
    idempotency_key: String,
) -> Result<TopupOutcome, ApiError> {
    let amount = crate::inventory::amount("amount", amount).map_err(ApiError::Invalid)?;
    let topup = Topup {
        member,
        amount,
        currency,
        idempotency_key,
    };
    Ok(store.top_up(&topup, Actor::Operator, now_millis()).await?)
}

/// Order `id` with its events, as of `now`.
async fn view(store: &Store, id: i64, now: i64) -> Result<OrderView, ApiError> {
    let order = store
        .order(id, now)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: format!("there is no order {id}"),
        })?;
    let events = store.order_events(id).await?;
    Ok(OrderView::new(order, events))
}

async fn shown(store: &Store, order: Order, now: i64) -> Result<Json<OrderView>, ApiError> {
    Ok(Json(view(store, order.id, now).await?))
}

/// Who a transition is recorded as: the operator (its token, or a member
/// whose role is operator), or the member.
pub fn actor_of(caller: &Caller) -> Actor {
    match caller {
        Caller::Member(member) if !caller.is_operator() => Actor::Member(member.id),
        _ => Actor::Operator,
    }
}

fn no_such_order(id: i64) -> ApiError {
    StoreError::NotFound {
        what: format!("there is no order {id}"),
    }
    .into()
}

/// Order `id` as of `now` if the caller sees its buyer; otherwise the same
/// 404 as an id that does not exist.
async fn visible_order(
    state: &AppState,
    caller: &Caller,
    id: i64,
    now: i64,
) -> Result<Order, ApiError> {
    let order = state
        .store
        .order(id, now)
        .await?
        .ok_or_else(|| no_such_order(id))?;
    if !caller.is_operator()
        && visible_member(state, caller, order.member_id.0)
            .await
            .is_err()
    {
        return Err(no_such_order(id));
    }
    Ok(order)
}

#[utoipa::path(
    post, path = "/api/v1/orders", tag = "orders",
    request_body = CreateOrder,
    security(("operator_token" = [])),
    responses(
        (status = 201, body = OrderView, description = "Ordered: approved and held, or waiting in the approval queue (VNS and premium numbers)"),
        (status = 200, body = OrderView, description = "The idempotency key was used: that order, as it is now"),
        (status = 401, body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, body = crate::problem::Problem, content_type = "application/problem+json", description = "No such member, or the number is not in the inventory"),
        (status = 409, body = crate::problem::Problem, content_type = "application/problem+json", description = "The number is held by another order (until when), sold or withdrawn"),
        (status = 422, body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_order(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<CreateOrder>,
) -> Result<(StatusCode, Json<OrderView>), ApiError> {
    let now = now_millis();
    let member = match (&caller, body.member) {
        (Caller::Member(me), None) => me.id,
        (_, Some(id)) if caller.is_operator() => MemberId(id),
        (_, Some(id)) => visible_member(&state, &caller, id).await?.id,
        (_, None) => {
            return Err(ApiError::Invalid(
                "say which member buys: \"member\" is needed with the operator's token".to_owned(),
            ))
        }
    };
    let new = NewOrder {
        member,
        number: listed_key(&state.store, &body.number).await?,
        idempotency_key: body.idempotency_key,
    };
    let order = state
        .store
        .request_order(&new, now, hold_ms(&state))
        .await?;
    let status = if order.created_at == now {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, shown(&state.store, order, now).await?))
}

#[utoipa::path(
    get, path = "/api/v1/orders/{id}", tag = "orders",
    params(("id" = i64, Path, description = "The order")),
    security(("operator_token" = [])),
    responses(
        (status = 200, body = OrderView),
        (status = 401, body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_order(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<OrderView>, ApiError> {
    let now = now_millis();
    let order = visible_order(&state, &caller, id, now).await?;
    shown(&state.store, order, now).await
}

#[utoipa::path(
    post, path = "/api/v1/orders/{id}/approve", tag = "orders",
    params(("id" = i64, Path, description = "The order")),
    security(("operator_token" = [])),
    responses(
        (status = 200, body = OrderView, description = "Approved: the number is held for the buyer"),
        (status = 401, body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 409, body = crate::problem::Problem, content_type = "application/problem+json", description = "The order is not awaiting approval"),
    )
)]
pub async fn approve_order(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<OrderView>, ApiError> {
    let now = now_millis();
    let order = state
        .store
        .approve_order(id, actor_of(&caller), now, hold_ms(&state))
        .await?;
    shown(&state.store, order, now).await
}

#[utoipa::path(
    post, path = "/api/v1/orders/{id}/reject", tag = "orders",
    params(("id" = i64, Path, description = "The order")),
    request_body = RejectOrder,
    security(("operator_token" = [])),
    responses(
        (status = 200, body = OrderView, description = "Rejected: the number is for sale again"),
        (status = 401, body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 409, body = crate::problem::Problem, content_type = "application/problem+json", description = "The order is past approval"),
        (status = 422, body = crate::problem::Problem, content_type = "application/problem+json", description = "No reason given"),
    )
)]
pub async fn reject_order(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<RejectOrder>,
) -> Result<Json<OrderView>, ApiError> {
    let now = now_millis();
    let order = state
        .store
        .reject_order(id, actor_of(&caller), &body.reason, now)
        .await?;
    shown(&state.store, order, now).await
}

#[utoipa::path(
    post, path = "/api/v1/orders/{id}/pay", tag = "orders",
    params(("id" = i64, Path, description = "The order")),
    security(("operator_token" = [])),
    responses(
        (status = 200, body = OrderView, description = "Paid from the prepaid balance and assigned: the number is usable at once"),
        (status = 401, body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 409, body = crate::problem::Problem, content_type = "application/problem+json", description = "Not approved, the hold ran out, or the balance is short (nothing changed)"),
    )
)]
pub async fn pay_order(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<OrderView>, ApiError> {
    let now = now_millis();
    let order = pay_visible(&state, &caller, id, now).await?;
    shown(&state.store, order, now).await
}

/// Pays order `id` from the buyer's prepaid balance on behalf of `caller`,
/// who must see the order (another tenant's is as unknown as none).
pub(crate) async fn pay_visible(
    state: &AppState,
    caller: &Caller,
    id: i64,
    now: i64,
) -> Result<Order, ApiError> {
    visible_order(state, caller, id, now).await?;
    let provider = PrepaidBalance {
        store: state.store.clone(),
    };
    Ok(provider.pay(id, actor_of(caller), now).await?)
}

/// Cancels order `id` on behalf of `caller`, who must see it; the store
/// keeps an assigned order to the operator.
pub(crate) async fn cancel_visible(
    state: &AppState,
    caller: &Caller,
    id: i64,
    now: i64,
) -> Result<Order, ApiError> {
    visible_order(state, caller, id, now).await?;
    Ok(state.store.cancel_order(id, actor_of(caller), now).await?)
}

#[utoipa::path(
    post, path = "/api/v1/orders/{id}/cancel", tag = "orders",
    params(("id" = i64, Path, description = "The order")),
    security(("operator_token" = [])),
    responses(
        (status = 200, body = OrderView, description = "Cancelled: the number is for sale again (an assigned order is taken back and refunded)"),
        (status = 401, body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 409, body = crate::problem::Problem, content_type = "application/problem+json", description = "Already rejected, expired or cancelled; or assigned and the caller is not the operator (the holder releases the number instead)"),
    )
)]
pub async fn cancel_order(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<OrderView>, ApiError> {
    let now = now_millis();
    let order = cancel_visible(&state, &caller, id, now).await?;
    shown(&state.store, order, now).await
}

#[utoipa::path(
    get, path = "/api/v1/approvals", tag = "orders",
    security(("operator_token" = [])),
    responses(
        (status = 200, body = Vec<OrderView>, description = "Orders waiting for the operator's approval, oldest first"),
        (status = 401, body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn approvals(State(state): State<AppState>) -> Result<Json<Vec<OrderView>>, ApiError> {
    let mut views = Vec::new();
    for order in state.store.approval_queue().await? {
        let events = state.store.order_events(order.id).await?;
        views.push(OrderView::new(order, events));
    }
    Ok(Json(views))
}

#[utoipa::path(
    post, path = "/api/v1/members/{id}/topups", tag = "orders",
    params(("id" = i64, Path, description = "The member")),
    request_body = CreateTopup,
    security(("operator_token" = [])),
    responses(
        (status = 201, body = TopupView, description = "Credited"),
        (status = 200, body = TopupView, description = "The idempotency key was used: nothing new"),
        (status = 401, body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 409, body = crate::problem::Problem, content_type = "application/problem+json", description = "The key was used for another amount"),
        (status = 422, body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_topup(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<CreateTopup>,
) -> Result<(StatusCode, Json<TopupView>), ApiError> {
    let outcome = top_up(
        &state.store,
        MemberId(id),
        &body.amount,
        body.currency,
        body.idempotency_key,
    )
    .await?;
    let status = if outcome.replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(outcome.into())))
}

#[utoipa::path(
    get, path = "/api/v1/members/{id}/ledger", tag = "orders",
    params(("id" = i64, Path, description = "The member")),
    security(("operator_token" = [])),
    responses(
        (status = 200, body = LedgerView),
        (status = 401, body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn ledger(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<LedgerView>, ApiError> {
    let member = visible_member(&state, &caller, id).await?.id;
    Ok(Json(LedgerView {
        balances: state
            .store
            .balances(member)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
        entries: state
            .store
            .ledger(member)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    }))
}

#[utoipa::path(
    get, path = "/api/v1/members/{id}/orders", tag = "orders",
    params(("id" = i64, Path, description = "The buyer")),
    security(("operator_token" = [])),
    responses(
        (status = 200, body = Vec<OrderView>, description = "The member's orders, oldest first"),
        (status = 401, body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn orders_of_member(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<OrderView>>, ApiError> {
    let member = visible_member(&state, &caller, id).await?.id;
    let mut views = Vec::new();
    for order in state.store.orders_of(member, now_millis()).await? {
        let events = state.store.order_events(order.id).await?;
        views.push(OrderView::new(order, events));
    }
    Ok(Json(views))
}
