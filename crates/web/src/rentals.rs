//! Numbers given back and monthly rentals over HTTP (SPEC §2, §6): an
//! owner releases a number, the operator lists members in arrears, and
//! `callex serve` runs the rental run every hour. The rules are the
//! store's ([`store::rentals`]).

use std::time::Duration;

use axum::extract::State;
use axum::{Extension, Json};
use serde::Serialize;
use store::prelude::*;
use store::{now_millis, Arrear, BillingMonth, NumberRelease, RentalRun, Rentals};
use utoipa::ToSchema;

use crate::accounts::{visible_member, Caller};
use crate::orders::actor_of;
use crate::problem::{ApiError, ApiPath, Problem};
use crate::AppState;

/// A number given back.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReleaseView {
    pub number: String,
    /// Who held it.
    pub member_id: i64,
    /// The order it was bought with, if any.
    pub order_id: Option<i64>,
    /// `member 7` or `operator`.
    pub by: String,
    /// Milliseconds since the Unix epoch, UTC.
    pub at: i64,
    /// Out of sale until then (so that the previous holder's callers do
    /// not reach the next one).
    pub quarantine_until: i64,
    /// When it went back on sale, if it did.
    pub returned_at: Option<i64>,
}

impl From<NumberRelease> for ReleaseView {
    fn from(release: NumberRelease) -> ReleaseView {
        ReleaseView {
            number: release.number,
            member_id: release.member_id.0,
            order_id: release.order_id,
            by: release.actor,
            at: release.at,
            quarantine_until: release.quarantine_until,
            returned_at: release.returned_at,
        }
    }
}

/// A member whose balance is below zero in a currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct ArrearView {
    pub member_id: i64,
    pub currency: String,
    /// A negative decimal string.
    pub balance: String,
}

impl From<Arrear> for ArrearView {
    fn from(arrear: Arrear) -> ArrearView {
        ArrearView {
            member_id: arrear.member_id.0,
            currency: arrear.currency,
            balance: arrear.balance.to_string(),
        }
    }
}

/// The readings of `written` (`02-6200-6200-082`, `+82 2 6200 6200`,
/// `6200-6200#082`) as store keys, most likely first; 422 when it is no
/// number.
pub fn readings(written: &str) -> Result<Vec<String>, StoreError> {
    crate::operator::read_number(written, None)?;
    let readings = numbering::candidates(written).map_err(|err| StoreError::Invalid {
        field: "number",
        reason: err.to_string(),
    })?;
    Ok(readings.iter().map(|number| number.key()).collect())
}

/// The store key of the number `member` holds that `written` names.
pub async fn held_key(
    store: &Store,
    member: MemberId,
    written: &str,
) -> Result<String, StoreError> {
    let keys = readings(written)?;
    let held = store.numbers_of(member).await?;
    keys.iter()
        .find(|key| held.iter().any(|h| &h.number == *key))
        .cloned()
        .ok_or_else(|| StoreError::NotFound {
            what: format!(
                "member {member} does not hold number {}",
                store::orders::shown(&keys[0])
            ),
        })
}

/// Who holds the number `written` names, and its store key.
pub async fn holder_of(store: &Store, written: &str) -> Result<(MemberId, String), StoreError> {
    let keys = readings(written)?;
    for key in &keys {
        if let Some(held) = store.holder(key).await? {
            return Ok((held.member_id, key.clone()));
        }
    }
    Err(StoreError::NotFound {
        what: format!("nobody holds number {}", store::orders::shown(&keys[0])),
    })
}

/// The holder gives a number back: it stops working at once (SIP
/// credentials, registrations, directory entries and claims go), its
/// monthly rental stops, and it returns to sale after the quarantine.
#[utoipa::path(
    delete, path = "/api/v1/members/{id}/numbers/{number}", tag = "members",
    params(("id" = i64, Path, description = "The holder"), ("number" = String, Path, description = "The number, written any way")),
    security(("operator_token" = [])),
    responses(
        (status = 200, body = ReleaseView, description = "Released"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such member, or the member does not hold the number"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "Not a number"),
    )
)]
pub async fn release_number(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath((id, written)): ApiPath<(i64, String)>,
) -> Result<Json<ReleaseView>, ApiError> {
    let member = visible_member(&state, &caller, id).await?;
    let key = held_key(&state.store, member.id, &written).await?;
    let release = state
        .store
        .release_number(
            member.id,
            &key,
            actor_of(&caller),
            now_millis(),
            quarantine_ms(state.number_quarantine),
        )
        .await?;
    Ok(Json(release.into()))
}

/// Members whose prepaid balance is below zero: a rental run charged more
/// than the balance held.
#[utoipa::path(
    get, path = "/api/v1/rentals/arrears", tag = "orders",
    security(("operator_token" = [])),
    responses(
        (status = 200, body = Vec<ArrearView>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "A member's token"),
    )
)]
pub async fn arrears(State(state): State<AppState>) -> Result<Json<Vec<ArrearView>>, ApiError> {
    let arrears = state.store.arrears().await?;
    Ok(Json(arrears.into_iter().map(Into::into).collect()))
}

pub fn quarantine_ms(quarantine: Duration) -> i64 {
    i64::try_from(quarantine.as_millis()).unwrap_or(i64::MAX)
}

/// How often `callex serve` runs the rental run (and ends quarantines).
pub const RENTAL_RUN_INTERVAL: Duration = Duration::from_secs(3600);

/// The rental run of the current month, then the end of quarantines that
/// ran out: what one tick of [`spawn_rental_run`] and `callex rent run`
/// do.
pub async fn run_once(store: &Store, month: BillingMonth) -> Result<(RentalRun, u64), StoreError> {
    let now = now_millis();
    let run = store.run_rentals(month, now).await?;
    let returned = store.end_quarantines(now).await?;
    Ok((run, returned))
}

/// Charges the current month's rentals not charged yet, and puts numbers
/// whose quarantine ended back on sale, every `every` until aborted; a
/// failed run is logged and the next one tries again (it charges only what
/// is still due).
pub fn spawn_rental_run(store: Store, every: Duration) -> tokio::task::JoinHandle<()> {
    crate::periodic::every(every, "the rental run", move || {
        let store = store.clone();
        async move {
            let (run, returned) = run_once(&store, BillingMonth::of(now_millis())).await?;
            if !run.charged.is_empty() || returned > 0 {
                tracing::info!(
                    month = %run.month,
                    charged = run.charged.len(),
                    in_arrears = run.arrears.len(),
                    back_on_sale = returned,
                    "rental run"
                );
            }
            Ok(())
        }
    })
}
