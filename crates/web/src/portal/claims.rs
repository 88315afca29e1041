//! Addresses: the e-mail addresses (individuals) and domains (companies)
//! a member claims, so that calls to them reach the member's numbers —
//! made, proven and revoked through the same functions as the API's
//! claims routes (`web::claims`).

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use store::claims::challenge_name;
use store::now_millis;
use store::orders::{clock_utc, shown};
use store::prelude::*;
use store::{Claim, ClaimKind, ClaimState, Claims};

use super::{after, error_page, render_with, Chrome, CsrfForm, NoFields, PortalError, Signed};
use crate::problem::ApiError;
use crate::AppState;

const PAGE: &str = "/my/claims";

/// A claim as the page lists it.
#[derive(Debug, Clone)]
pub(super) struct ClaimRow {
    pub id: i64,
    pub kind: String,
    pub value: String,
    pub number: String,
    pub state: String,
    pub pending: bool,
    pub email: bool,
    pub revocable: bool,
    /// For a pending domain: where its TXT record goes.
    pub record_name: Option<String>,
    pub note: String,
}

impl ClaimRow {
    pub fn new(claim: &Claim, now: i64) -> ClaimRow {
        let pending = claim.state == ClaimState::Pending;
        let note = match (claim.state, claim.verified_by) {
            (ClaimState::Pending, _) if claim.expires_at <= now => {
                "The code or token ran out: revoke it and claim it again.".to_owned()
            }
            (ClaimState::Pending, _) => {
                format!(
                    "Waiting for proof until {}",
                    clock_utc(claim.expires_at, now)
                )
            }
            (ClaimState::Verified, Some(by)) => format!(
                "Verified {} by {by}",
                claim
                    .verified_at
                    .map_or_else(String::new, |at| clock_utc(at, now))
            ),
            _ => String::new(),
        };
        ClaimRow {
            id: claim.id,
            kind: claim.kind.to_string(),
            value: claim.value.clone(),
            number: shown(&claim.number),
            state: claim.state.to_string(),
            pending,
            email: claim.kind == ClaimKind::Email,
            revocable: claim.state != ClaimState::Revoked,
            record_name: (pending && claim.kind == ClaimKind::Domain)
                .then(|| challenge_name(&claim.value)),
            note,
        }
    }
}

/// What a new claim asks the member to do, shown once.
#[derive(Debug, Clone)]
struct Challenge {
    value: String,
    /// A domain's TXT record: name and text.
    record: Option<(String, String)>,
    code_sent: bool,
}

/// A held number a claim may resolve to.
#[derive(Debug, Clone)]
struct NumberChoice {
    key: String,
    shown: String,
    kind: String,
}

#[derive(Template)]
#[template(path = "claims.html")]
struct ClaimsPage {
    page: Chrome,
    claims: Vec<ClaimRow>,
    numbers: Vec<NumberChoice>,
    /// The kind a new claim of this member is, by default.
    company: bool,
    challenge: Option<Challenge>,
    /// The form as posted, shown again with its reason.
    typed: ClaimForm,
    error: Option<String>,
}

async fn claims_page(
    state: &AppState,
    signed: &Signed,
    status: StatusCode,
    challenge: Option<Challenge>,
    typed: ClaimForm,
    error: Option<String>,
) -> Response {
    let me = &signed.me;
    let now = now_millis();
    let loaded = async {
        let claims = state.store.claims_of(me.id).await?;
        let held = state.store.numbers_of(me.id).await?;
        Ok::<_, StoreError>((claims, held))
    }
    .await;
    let (claims, held) = match loaded {
        Ok(loaded) => loaded,
        Err(err) => {
            let err = PortalError::from(err);
            return error_page(&signed.visitor, err.status, &err.detail);
        }
    };
    let page = ClaimsPage {
        page: Chrome::new(&signed.visitor, "Addresses"),
        claims: claims.iter().map(|c| ClaimRow::new(c, now)).collect(),
        numbers: held
            .into_iter()
            .filter(|held| matches!(held.kind, NumberKind::Pin | NumberKind::Vns))
            .map(|held| NumberChoice {
                shown: shown(&held.number),
                kind: held.kind.to_string(),
                key: held.number,
            })
            .collect(),
        company: me.kind == MemberKind::Company,
        challenge,
        typed,
        error,
    };
    render_with(&signed.visitor, status, &page)
}

pub async fn page(State(state): State<AppState>, signed: Signed) -> Response {
    claims_page(
        &state,
        &signed,
        StatusCode::OK,
        None,
        ClaimForm::default(),
        None,
    )
    .await
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ClaimForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    number: String,
}

pub async fn add(
    State(state): State<AppState>,
    signed: Signed,
    posted: CsrfForm<ClaimForm>,
) -> Response {
    let form = posted.form;
    let kind = match form.kind.as_str() {
        "email" => ClaimKind::Email,
        "domain" => ClaimKind::Domain,
        _ => {
            let reason = "Choose what to claim: an e-mail address or a domain.".to_owned();
            return claims_page(
                &state,
                &signed,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                form,
                Some(reason),
            )
            .await;
        }
    };
    let claimed = state
        .claims
        .claim(&state.store, signed.me.id, kind, &form.value, &form.number)
        .await;
    match claimed {
        Ok(claimed) => {
            let challenge = Challenge {
                value: claimed.claim.value.clone(),
                record: claimed.publish,
                code_sent: claimed.code_sent,
            };
            claims_page(
                &state,
                &signed,
                StatusCode::CREATED,
                Some(challenge),
                ClaimForm::default(),
                None,
            )
            .await
        }
        Err(err) => {
            let err = PortalError::from(ApiError::from(err));
            claims_page(&state, &signed, err.status, None, form, Some(err.detail)).await
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct VerifyForm {
    #[serde(default)]
    code: Option<String>,
}

pub async fn verify(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<i64>,
    posted: CsrfForm<VerifyForm>,
) -> Response {
    let verified = state
        .claims
        .verify(&state.store, signed.me.id, id, posted.form.code.as_deref())
        .await
        .map_err(ApiError::from);
    after(verified, PAGE, PAGE, |claim| {
        format!(
            "{} is verified: calls to it reach {}.",
            claim.value,
            shown(&claim.number)
        )
    })
}

pub async fn revoke(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<i64>,
    _posted: CsrfForm<NoFields>,
) -> Response {
    let revoked = state.store.revoke_claim(Some(signed.me.id), id).await;
    after(revoked, PAGE, PAGE, |claim| {
        format!(
            "{} is revoked: calls to it no longer reach you.",
            claim.value
        )
    })
}
