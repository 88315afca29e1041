//! The operator's pages: the approval queue of VNS and premium purchases,
//! the inventory (search and CSV import), and the members with their
//! numbers, orders, balances and claims. Every page and form here is
//! [`OperatorSigned`]'s: anyone else gets a 403 page and changes nothing.
//! The actions are the API's (`crate::orders`, `crate::inventory`), done
//! as [`Actor::Operator`].

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use store::now_millis;
use store::orders::{clock_utc, shown};
use store::prelude::*;
use store::{Actor, Balance, Claims, Inventory, Member, Orders};

use super::claims::ClaimRow;
use super::market::{search_numbers, Searched};
use super::{
    after, error_page, random_hex, render, render_with, Chrome, CsrfForm, NoFields, OperatorSigned,
    PortalError, Signed,
};
use crate::inventory::{read_csv, BadRow};
use crate::orders::hold_ms;
use crate::AppState;

/// Members listed on one page.
const MEMBERS_PER_PAGE: u32 = 50;

fn failed(signed: &Signed, err: impl Into<PortalError>) -> Response {
    let err = err.into();
    error_page(&signed.visitor, err.status, &err.detail)
}

// ---------------------------------------------------------------- overview

#[derive(Template)]
#[template(path = "operator.html")]
struct OverviewPage {
    page: Chrome,
    waiting: usize,
    /// Members on the first page of the list, and whether there are more.
    members: usize,
    more_members: bool,
}

pub async fn overview(
    State(state): State<AppState>,
    OperatorSigned(signed): OperatorSigned,
) -> Response {
    let loaded = async {
        let waiting = state.store.approval_queue().await?.len();
        let members = state
            .store
            .members(Page::first(MEMBERS_PER_PAGE))
            .await?
            .len();
        Ok::<_, StoreError>((waiting, members))
    }
    .await;
    let (waiting, members) = match loaded {
        Ok(loaded) => loaded,
        Err(err) => return failed(&signed, err),
    };
    let page = OverviewPage {
        page: Chrome::new(&signed.visitor, "Operator"),
        waiting,
        members,
        more_members: members == MEMBERS_PER_PAGE as usize,
    };
    render(&signed.visitor, &page)
}

// ---------------------------------------------------------------- approvals

#[derive(Debug, Clone)]
struct ApprovalRow {
    id: i64,
    number: String,
    buyer_id: i64,
    buyer: String,
    price: String,
    premium: String,
    kind: String,
    since: String,
}

#[derive(Template)]
#[template(path = "approvals.html")]
struct ApprovalsPage {
    page: Chrome,
    orders: Vec<ApprovalRow>,
}

pub async fn approvals(
    State(state): State<AppState>,
    OperatorSigned(signed): OperatorSigned,
) -> Response {
    let now = now_millis();
    let loaded = async {
        let mut rows = Vec::new();
        for order in state.store.approval_queue().await? {
            let buyer = state.store.member(order.member_id).await?;
            let listing = state.store.listing(&order.number).await?;
            rows.push(ApprovalRow {
                id: order.id,
                number: shown(&order.number),
                buyer_id: order.member_id.0,
                buyer: buyer.map_or_else(|| order.member_id.to_string(), |b| b.display_name),
                price: format!("{} {}", order.price, order.currency),
                premium: listing
                    .as_ref()
                    .and_then(|l| l.premium)
                    .map_or_else(|| "—".to_owned(), |p| p.to_string()),
                kind: listing.map_or_else(String::new, |l| l.kind.to_string()),
                since: clock_utc(order.created_at, now),
            });
        }
        Ok::<_, StoreError>(rows)
    }
    .await;
    match loaded {
        Ok(orders) => {
            let page = ApprovalsPage {
                page: Chrome::new(&signed.visitor, "Approval queue"),
                orders,
            };
            render(&signed.visitor, &page)
        }
        Err(err) => failed(&signed, err),
    }
}

const APPROVALS: &str = "/operator/approvals";

pub async fn approve(
    State(state): State<AppState>,
    OperatorSigned(_): OperatorSigned,
    Path(id): Path<i64>,
    _posted: CsrfForm<NoFields>,
) -> Response {
    let approved = state
        .store
        .approve_order(id, Actor::Operator, now_millis(), hold_ms(&state))
        .await;
    after(approved, APPROVALS, APPROVALS, |order| {
        format!(
            "Order {} is approved: {} is held for the buyer until {}.",
            order.id,
            shown(&order.number),
            order
                .hold_until
                .map_or_else(String::new, |until| clock_utc(until, now_millis()))
        )
    })
}

#[derive(Debug, Deserialize)]
pub struct RejectForm {
    #[serde(default)]
    reason: String,
}

pub async fn reject(
    State(state): State<AppState>,
    OperatorSigned(_): OperatorSigned,
    Path(id): Path<i64>,
    posted: CsrfForm<RejectForm>,
) -> Response {
    // The store wants a reason, and says so.
    let rejected = state
        .store
        .reject_order(id, Actor::Operator, &posted.form.reason, now_millis())
        .await;
    after(rejected, APPROVALS, APPROVALS, |order| {
        format!(
            "Order {} is rejected; {} is for sale again.",
            order.id,
            shown(&order.number)
        )
    })
}

// ---------------------------------------------------------------- inventory

#[derive(Template)]
#[template(path = "inventory.html")]
struct InventoryPage {
    page: Chrome,
    found: Searched,
    /// The CSV last posted, shown again when refused.
    csv: String,
    bad: Vec<BadRow>,
    import_error: Option<String>,
}

pub async fn inventory(
    State(state): State<AppState>,
    OperatorSigned(signed): OperatorSigned,
    RawQuery(raw): RawQuery,
) -> Response {
    let found = search_numbers(&state, "/operator/inventory", raw.as_deref()).await;
    let status = found.status();
    let page = InventoryPage {
        page: Chrome::new(&signed.visitor, "Inventory"),
        found,
        csv: String::new(),
        bad: Vec::new(),
        import_error: None,
    };
    render_with(&signed.visitor, status, &page)
}

#[derive(Debug, Deserialize)]
pub struct ImportForm {
    #[serde(default)]
    csv: String,
}

pub async fn import(
    State(state): State<AppState>,
    OperatorSigned(signed): OperatorSigned,
    posted: CsrfForm<ImportForm>,
) -> Response {
    let csv = posted.form.csv;
    let refused = |status, bad: Vec<BadRow>, error: String| {
        let page = InventoryPage {
            page: Chrome::new(&signed.visitor, "Inventory"),
            found: Searched::none("/operator/inventory"),
            csv: csv.clone(),
            bad,
            import_error: Some(error),
        };
        render_with(&signed.visitor, status, &page)
    };
    let read = match read_csv(csv.as_bytes(), &mut |_| {}) {
        Ok(read) => read,
        Err(bad) => {
            let error = nothing_imported(bad.len());
            return refused(StatusCode::UNPROCESSABLE_ENTITY, bad, error);
        }
    };
    if read.listings.is_empty() {
        return refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            Vec::new(),
            "No numbers to import: give the header line and one row per number.".to_owned(),
        );
    }
    match state.store.import_listings(&read.listings, &|_| {}).await {
        Ok(outcome) if outcome.already_listed.is_empty() => after(
            Ok::<_, PortalError>(outcome.imported),
            "/operator/inventory",
            "/operator/inventory",
            |imported| format!("{imported} numbers imported: they are for sale now."),
        ),
        Ok(outcome) => {
            let bad = read.already_listed(&outcome);
            let error = nothing_imported(bad.len());
            refused(StatusCode::CONFLICT, bad, error)
        }
        Err(err) => {
            let err = PortalError::from(err);
            refused(err.status, Vec::new(), err.detail)
        }
    }
}

fn nothing_imported(bad: usize) -> String {
    format!(
        "Nothing imported: {bad} bad row{}. Fix {} and import again.",
        if bad == 1 { "" } else { "s" },
        if bad == 1 { "it" } else { "them" }
    )
}

// ---------------------------------------------------------------- members

#[derive(Debug, Deserialize)]
pub struct MembersQuery {
    after: Option<i64>,
}

#[derive(Template)]
#[template(path = "members.html")]
struct MembersPage {
    page: Chrome,
    members: Vec<Member>,
    next: Option<i64>,
    first: bool,
}

pub async fn members(
    State(state): State<AppState>,
    OperatorSigned(signed): OperatorSigned,
    RawQuery(raw): RawQuery,
) -> Response {
    // A query that is not a page of this list is the first page.
    let after_id = serde_urlencoded::from_str::<MembersQuery>(raw.as_deref().unwrap_or(""))
        .ok()
        .and_then(|query| query.after)
        .unwrap_or(0);
    match state
        .store
        .members(Page::after(after_id, MEMBERS_PER_PAGE))
        .await
    {
        Ok(members) => {
            let next = members
                .last()
                .filter(|_| members.len() == MEMBERS_PER_PAGE as usize)
                .map(|m| m.id.0);
            let page = MembersPage {
                page: Chrome::new(&signed.visitor, "Members"),
                members,
                next,
                first: after_id == 0,
            };
            render(&signed.visitor, &page)
        }
        Err(err) => failed(&signed, err),
    }
}

#[derive(Debug, Clone)]
struct HeldRow {
    number: String,
    kind: String,
    since: String,
}

#[derive(Debug, Clone)]
struct OrderRow {
    id: i64,
    number: String,
    state: String,
    class: &'static str,
    price: String,
    at: String,
}

#[derive(Template)]
#[template(path = "member.html")]
struct MemberPage {
    page: Chrome,
    member: Member,
    company: Option<Member>,
    held: Vec<HeldRow>,
    orders: Vec<OrderRow>,
    balances: Vec<Balance>,
    claims: Vec<ClaimRow>,
    /// The top-up form's idempotency key: a double click is one top-up.
    topup_key: String,
}

pub async fn member(
    State(state): State<AppState>,
    OperatorSigned(signed): OperatorSigned,
    Path(id): Path<i64>,
) -> Response {
    let now = now_millis();
    let loaded = async {
        let Some(member) = state.store.member(MemberId(id)).await? else {
            return Err(StoreError::NotFound {
                what: format!("member {id} does not exist"),
            });
        };
        let company = match member.company_id {
            Some(company) => state.store.member(company).await?,
            None => None,
        };
        let held = state.store.numbers_of(member.id).await?;
        let orders = state.store.orders_of(member.id, now).await?;
        let balances = state.store.balances(member.id).await?;
        let claims = state.store.claims_of(member.id).await?;
        Ok((member, company, held, orders, balances, claims))
    }
    .await;
    let (member, company, held, orders, balances, claims) = match loaded {
        Ok(loaded) => loaded,
        Err(err) => return failed(&signed, err),
    };
    let page = MemberPage {
        page: Chrome::new(&signed.visitor, member.display_name.clone()),
        company,
        held: held
            .into_iter()
            .map(|held| HeldRow {
                number: shown(&held.number),
                kind: held.kind.to_string(),
                since: clock_utc(held.assigned_at, now),
            })
            .collect(),
        orders: orders
            .iter()
            .rev()
            .map(|order| OrderRow {
                id: order.id,
                number: shown(&order.number),
                state: order.state.to_string().replace('_', " "),
                class: order.state.as_str(),
                price: format!("{} {}", order.price, order.currency),
                at: clock_utc(order.created_at, now),
            })
            .collect(),
        balances,
        claims: claims.iter().map(|c| ClaimRow::new(c, now)).collect(),
        topup_key: random_hex(),
        member,
    };
    render(&signed.visitor, &page)
}

#[derive(Debug, Deserialize)]
pub struct TopupForm {
    #[serde(default)]
    amount: String,
    #[serde(default)]
    currency: String,
    #[serde(default)]
    key: String,
}

pub async fn top_up(
    State(state): State<AppState>,
    OperatorSigned(_): OperatorSigned,
    Path(id): Path<i64>,
    posted: CsrfForm<TopupForm>,
) -> Response {
    let form = posted.form;
    let page = format!("/operator/members/{id}");
    let key = if form.key.trim().is_empty() {
        random_hex()
    } else {
        form.key.trim().chars().take(100).collect()
    };
    let topped = crate::orders::top_up(
        &state.store,
        MemberId(id),
        &form.amount,
        form.currency.trim().to_owned(),
        key,
    )
    .await;
    after(topped, &page, &page, |outcome| {
        if outcome.replayed {
            format!(
                "This top-up was recorded already; the balance is {} {}.",
                outcome.balance, outcome.currency
            )
        } else {
            format!(
                "{} {} credited; the balance is {} {}.",
                outcome.amount, outcome.currency, outcome.balance, outcome.currency
            )
        }
    })
}

pub async fn verify_claim(
    State(state): State<AppState>,
    OperatorSigned(_): OperatorSigned,
    Path((id, claim)): Path<(i64, i64)>,
    _posted: CsrfForm<NoFields>,
) -> Response {
    let page = format!("/operator/members/{id}");
    let verified = async {
        match state.store.claim(claim).await? {
            Some(found) if found.member_id == MemberId(id) => {}
            _ => {
                return Err(StoreError::NotFound {
                    what: format!("member {id} has no claim {claim}"),
                })
            }
        }
        state.store.verify_claim_as_operator(claim).await
    }
    .await;
    after(verified, &page, &page, |claim| {
        format!(
            "{} is verified by the operator: calls to it reach {}.",
            claim.value,
            shown(&claim.number)
        )
    })
}
