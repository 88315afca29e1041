//! The marketplace as members see it: the numbers for sale, buying one,
//! and what they hold and ordered.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use store::now_millis;
use store::orders::{clock_utc, shown};
use store::prelude::*;
use store::{Actor, Balance, Inventory, NewOrder, Order, OrderState, Orders, Rentals};

use super::{
    after, error_page, random_hex, render, Chrome, CsrfForm, NoFields, PortalError, Signed, Visitor,
};
use crate::accounts::Caller;
use crate::inventory::{AvailableQuery, ListingView};
use crate::orders::{cancel_visible, hold_ms, listed_key, pay_visible};
use crate::AppState;

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    page: Chrome,
}

pub async fn home(visitor: Visitor) -> Response {
    let page = HomePage {
        page: Chrome::new(&visitor, "Callex"),
    };
    render(&visitor, &page)
}

#[derive(Template)]
#[template(path = "numbers.html")]
struct NumbersPage {
    page: Chrome,
    found: Searched,
    /// What this page's "Buy" buttons send as their idempotency keys'
    /// prefix: pressing one twice is one order.
    buy_key: String,
    signed_in: bool,
}

/// A search of the numbers for sale as a page shows it: the public
/// `/numbers` and the operator's inventory.
#[derive(Debug)]
pub(super) struct Searched {
    /// The page's address, where the search form and "More" go.
    pub action: &'static str,
    pub query: AvailableQuery,
    pub error: Option<String>,
    pub results: Vec<ListingView>,
    pub searched: bool,
    /// The next page's address, if there is one.
    pub next: Option<String>,
}

impl Searched {
    /// No search yet: an empty form.
    pub fn none(action: &'static str) -> Searched {
        Searched {
            action,
            query: AvailableQuery::default(),
            error: None,
            results: Vec::new(),
            searched: false,
            next: None,
        }
    }

    pub fn status(&self) -> StatusCode {
        if self.error.is_some() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        }
    }
}

/// Runs the search the query string `raw` asks for (the API's
/// [`AvailableQuery`]), for the page at `action`.
pub(super) async fn search_numbers(
    state: &AppState,
    action: &'static str,
    raw: Option<&str>,
) -> Searched {
    let mut error = None;
    let query: AvailableQuery =
        serde_urlencoded::from_str(raw.unwrap_or("")).unwrap_or_else(|err| {
            error = Some(format!("This search cannot be read: {err}."));
            AvailableQuery::default()
        });
    let searched = error.is_none() && !query.as_pairs().is_empty();
    let mut results = Vec::new();
    let mut next = None;
    if searched {
        match query.search() {
            Err(reason) => error = Some(super::sentence(&reason)),
            Ok(search) => match state.store.search_inventory(&search).await {
                Err(err) => error = Some(PortalError::from(err).detail),
                Ok(found) => {
                    if found.len() == search.limit as usize {
                        next = found.last().map(|last| {
                            let more = AvailableQuery {
                                cursor: Some(last.number.clone()),
                                ..query.clone()
                            };
                            let pairs = serde_urlencoded::to_string(more.as_pairs());
                            format!("{action}?{}", pairs.unwrap_or_default())
                        });
                    }
                    results = found.into_iter().map(ListingView::from).collect();
                }
            },
        }
    }
    Searched {
        action,
        query,
        error,
        results,
        searched,
        next,
    }
}

pub async fn search(
    State(state): State<AppState>,
    visitor: Visitor,
    RawQuery(raw): RawQuery,
) -> Response {
    let found = search_numbers(&state, "/numbers", raw.as_deref()).await;
    let status = found.status();
    let page = NumbersPage {
        page: Chrome::new(&visitor, "Numbers for sale"),
        found,
        buy_key: random_hex(),
        signed_in: visitor.member.is_some(),
    };
    super::render_with(&visitor, status, &page)
}

#[derive(Debug, Deserialize)]
pub struct BuyForm {
    #[serde(default)]
    number: String,
    #[serde(default)]
    key: String,
}

pub async fn buy(
    State(state): State<AppState>,
    signed: Signed,
    posted: CsrfForm<BuyForm>,
) -> Response {
    let form = posted.form;
    let now = now_millis();
    let ordered = async {
        let new = NewOrder {
            member: signed.me.id,
            number: listed_key(&state.store, &form.number).await?,
            idempotency_key: if form.key.trim().is_empty() {
                random_hex()
            } else {
                form.key.trim().chars().take(100).collect()
            },
        };
        state.store.request_order(&new, now, hold_ms(&state)).await
    }
    .await;
    after(ordered, "/my", "/numbers", |order| match order.state {
        OrderState::Requested => format!(
            "Number {} is reserved for you and waits for the operator's approval (VNS and \
             premium numbers are approved by hand). This page shows when it is approved.",
            shown(&order.number)
        ),
        OrderState::Approved | OrderState::PaymentRequested => format!(
            "Number {} is held for you until {}. Pay for it below to make it yours.",
            shown(&order.number),
            order
                .hold_until
                .map_or_else(String::new, |until| clock_utc(until, now))
        ),
        state => format!(
            "Order {} for {} is {}.",
            order.id,
            shown(&order.number),
            state
        ),
    })
}

/// An order as the dashboard lists it.
#[derive(Debug, Clone)]
struct OrderRow {
    id: i64,
    number: String,
    state: String,
    /// The state as a CSS class name.
    class: &'static str,
    price: String,
    monthly: String,
    note: String,
    payable: bool,
    cancellable: bool,
}

impl OrderRow {
    fn new(order: &Order, now: i64) -> OrderRow {
        let note = match order.state {
            OrderState::Requested => "Waiting for the operator's approval".to_owned(),
            OrderState::Approved | OrderState::PaymentRequested => format!(
                "Held for you until {}. Paying takes the price and this month's rental: {} {}",
                order
                    .hold_until
                    .map_or_else(String::new, |until| clock_utc(until, now)),
                order.price + order.monthly,
                order.currency
            ),
            OrderState::Rejected => order
                .reason
                .as_ref()
                .map(|reason| format!("Rejected: {reason}"))
                .unwrap_or_default(),
            _ => String::new(),
        };
        OrderRow {
            id: order.id,
            number: shown(&order.number),
            state: order.state.to_string().replace('_', " "),
            class: order.state.as_str(),
            price: format!("{} {}", order.price, order.currency),
            monthly: format!("{} {}", order.monthly, order.currency),
            note,
            payable: matches!(
                order.state,
                OrderState::Approved | OrderState::PaymentRequested
            ),
            cancellable: matches!(
                order.state,
                OrderState::Requested | OrderState::Approved | OrderState::PaymentRequested
            ),
        }
    }
}

#[derive(Debug, Clone)]
struct HeldRow {
    number: String,
    key: String,
    kind: String,
    since: String,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    page: Chrome,
    held: Vec<HeldRow>,
    orders: Vec<OrderRow>,
    balances: Vec<Balance>,
}

pub async fn dashboard(State(state): State<AppState>, signed: Signed) -> Response {
    let now = now_millis();
    let me = signed.me.id;
    let loaded = async {
        let held = state.store.numbers_of(me).await?;
        let orders = state.store.orders_of(me, now).await?;
        let balances = state.store.balances(me).await?;
        Ok::<_, StoreError>((held, orders, balances))
    }
    .await;
    let (held, orders, balances) = match loaded {
        Ok(loaded) => loaded,
        Err(err) => {
            let err = PortalError::from(err);
            return error_page(&signed.visitor, err.status, &err.detail);
        }
    };
    let page = DashboardPage {
        page: Chrome::new(&signed.visitor, "My numbers"),
        held: held
            .into_iter()
            .map(|held| HeldRow {
                number: shown(&held.number),
                key: held.number.clone(),
                kind: held.kind.to_string(),
                since: clock_utc(held.assigned_at, now),
            })
            .collect(),
        // Newest first: what was just ordered is at the top.
        orders: orders
            .iter()
            .rev()
            .map(|order| OrderRow::new(order, now))
            .collect(),
        balances,
    };
    render(&signed.visitor, &page)
}

/// The member as the API's rules see them.
fn caller(signed: &Signed) -> Caller {
    Caller::Member(Box::new(signed.me.clone()))
}

pub async fn pay(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<i64>,
    _posted: CsrfForm<NoFields>,
) -> Response {
    let paid = pay_visible(&state, &caller(&signed), id, now_millis()).await;
    after(paid, "/my", "/my", |order| {
        format!(
            "Number {} is yours: it takes calls now. Set up a phone for it under My terminals.",
            shown(&order.number)
        )
    })
}

pub async fn cancel(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<i64>,
    _posted: CsrfForm<NoFields>,
) -> Response {
    let cancelled = cancel_visible(&state, &caller(&signed), id, now_millis()).await;
    after(cancelled, "/my", "/my", |order| {
        format!(
            "Order {} is cancelled; {} is for sale again.",
            order.id,
            shown(&order.number)
        )
    })
}

#[derive(Debug, Deserialize)]
pub struct ReleaseForm {
    #[serde(default)]
    number: String,
    /// The box saying calls stop at once; without it nothing happens.
    #[serde(default)]
    understood: String,
}

/// Gives one of my numbers back: it stops working at once and its rental
/// stops.
pub async fn release(
    State(state): State<AppState>,
    signed: Signed,
    posted: CsrfForm<ReleaseForm>,
) -> Response {
    let form = posted.form;
    let released = async {
        if form.understood != "yes" {
            return Err(PortalError {
                status: axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                detail: "Tick the box to confirm that calls to the number stop at once; \
                         nothing was changed."
                    .to_owned(),
            });
        }
        let key = crate::rentals::held_key(&state.store, signed.me.id, &form.number).await?;
        Ok(state
            .store
            .release_number(
                signed.me.id,
                &key,
                Actor::Member(signed.me.id),
                now_millis(),
                crate::rentals::quarantine_ms(state.number_quarantine),
            )
            .await?)
    }
    .await;
    after(released, "/my", "/my", |release| {
        format!(
            "Number {} is given back: it no longer rings your phones and its rental stopped.",
            shown(&release.number)
        )
    })
}
