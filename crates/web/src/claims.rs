//! Claims of e-mail addresses and domains (SPEC §3), as the API and the
//! `callex claim` commands make and verify them: the store keeps the claim
//! and decides (`store::claims` holds every rule), this module is the two
//! edges that reach outside — the DNS look-up of a domain's challenge and
//! the mail that carries an address's code — and the `/api/v1` handlers.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::TokioResolver;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::{Deserialize, Serialize};
use store::claims::{challenge_name, challenge_text, token_in_challenge};
use store::prelude::*;
use store::{Claim, ClaimKind, ClaimState, Claims, VerifiedBy};
use utoipa::ToSchema;

use crate::operator;
use crate::problem::{ApiError, ApiJson, ApiPath};
use crate::AppState;

/// How long a DNS check or an SMTP conversation may take.
const OUTSIDE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the checks reach: the operator's `--claim-resolver`,
/// `--smtp-relay` and `--smtp-from`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClaimChecks {
    /// The DNS server to ask for challenges; `None`: the system's.
    pub resolver: Option<SocketAddr>,
    /// The SMTP relay codes go through; `None`: e-mail codes cannot be
    /// sent (the operator may still verify an address).
    pub smtp_relay: Option<(String, u16)>,
    /// The sender of code mails.
    pub smtp_from: Option<String>,
}

/// Why a check outside the store failed.
#[derive(Debug)]
pub enum CheckError {
    /// The store refused or failed.
    Store(StoreError),
    /// The proof is not there yet (no TXT record, no code given).
    NotProven(String),
    /// The DNS server or the SMTP relay could not be reached or refused.
    Unreachable(String),
}

impl From<StoreError> for CheckError {
    fn from(err: StoreError) -> CheckError {
        CheckError::Store(err)
    }
}

impl std::fmt::Display for CheckError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CheckError::Store(err) => err.fmt(f),
            CheckError::NotProven(why) | CheckError::Unreachable(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for CheckError {}

impl From<CheckError> for ApiError {
    fn from(err: CheckError) -> ApiError {
        match err {
            CheckError::Store(err) => ApiError::Store(err),
            CheckError::NotProven(detail) => ApiError::Invalid(detail),
            CheckError::Unreachable(detail) => ApiError::Rejected {
                status: StatusCode::BAD_GATEWAY,
                detail,
            },
        }
    }
}

/// A claim made, and what the member must do next.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub claim: Claim,
    /// For a domain: the TXT record to publish, `(name, text)`.
    pub publish: Option<(String, String)>,
    /// For an address: whether the code went out through the relay.
    pub code_sent: bool,
}

impl ClaimChecks {
    /// Claims `value` for `member`, resolving to the number written
    /// `number` (any written form), and starts its proof: a domain's TXT
    /// record to publish is returned; an address's code is mailed to it.
    pub async fn claim(
        &self,
        store: &Store,
        member: MemberId,
        kind: ClaimKind,
        value: &str,
        number: &str,
    ) -> Result<Claimed, CheckError> {
        let held = operator::held_number(store, number).await?;
        let new = store
            .create_claim(member, kind, value, &held.number)
            .await?;
        match kind {
            ClaimKind::Domain => Ok(Claimed {
                publish: Some((challenge_name(&new.claim.value), challenge_text(&new.token))),
                claim: new.claim,
                code_sent: false,
            }),
            ClaimKind::Email => {
                let code_sent = match &self.smtp_relay {
                    Some(relay) => {
                        self.send_code(relay, &new.claim.value, &new.token).await?;
                        true
                    }
                    None => false,
                };
                Ok(Claimed {
                    claim: new.claim,
                    publish: None,
                    code_sent,
                })
            }
        }
    }

    /// Verifies claim `id` of `member`: a domain by its TXT record, looked
    /// up now; an address by `code`.
    pub async fn verify(
        &self,
        store: &Store,
        member: MemberId,
        id: i64,
        code: Option<&str>,
    ) -> Result<Claim, CheckError> {
        let claim = match store.claim(id).await? {
            Some(claim) if claim.member_id == member => claim,
            _ => {
                return Err(StoreError::NotFound {
                    what: format!("member {member} has no claim {id}"),
                }
                .into())
            }
        };
        match claim.kind {
            ClaimKind::Email => {
                let code = code.filter(|code| !code.trim().is_empty()).ok_or_else(|| {
                    CheckError::NotProven(format!(
                        "give the 6-digit code mailed to {} as \"code\"",
                        claim.value
                    ))
                })?;
                Ok(store.verify_claim(member, id, code).await?)
            }
            ClaimKind::Domain => {
                if claim.state != ClaimState::Pending {
                    // The store says why (verified already, revoked).
                    return Ok(store.verify_claim(member, id, "").await?);
                }
                let name = challenge_name(&claim.value);
                let texts = self.txt_records(&name).await?;
                let tokens: Vec<&str> =
                    texts.iter().filter_map(|t| token_in_challenge(t)).collect();
                if tokens.is_empty() {
                    return Err(CheckError::NotProven(format!(
                        "no TXT record \"callex-verify=…\" at {name} yet; publish the one given \
                         when the claim was made, then verify again"
                    )));
                }
                // Old claims' records may still be published beside this
                // one's: one look-up is one attempt, whatever it found.
                match store.verify_claim_with_any(member, id, &tokens).await {
                    Ok(verified) => Ok(verified),
                    Err(StoreError::Invalid { reason, .. }) => Err(CheckError::NotProven(format!(
                        "the TXT records at {name} do not hold this claim's token: {reason}"
                    ))),
                    Err(err) => Err(err.into()),
                }
            }
        }
    }

    /// The texts of the TXT records at `name`, each record's strings
    /// joined; none if the name has none.
    async fn txt_records(&self, name: &str) -> Result<Vec<String>, CheckError> {
        let unreachable = |err: &dyn std::fmt::Display| {
            CheckError::Unreachable(format!(
                "the DNS look-up of {name} failed through {}: {err}",
                self.resolver_name()
            ))
        };
        let mut builder = match self.resolver {
            Some(addr) => {
                let mut server = NameServerConfig::udp_and_tcp(addr.ip());
                for connection in &mut server.connections {
                    connection.port = addr.port();
                }
                TokioResolver::builder_with_config(
                    ResolverConfig::from_name_servers(vec![server]),
                    TokioRuntimeProvider::default(),
                )
            }
            None => TokioResolver::builder_tokio().map_err(|e| unreachable(&e))?,
        };
        // A record published a minute ago must be seen: no cache.
        builder.options_mut().cache_size = 0;
        builder.options_mut().timeout = OUTSIDE_TIMEOUT / 2;
        let resolver = builder.build().map_err(|e| unreachable(&e))?;
        let fqdn = format!("{name}.");
        match resolver.txt_lookup(fqdn.as_str()).await {
            Ok(lookup) => Ok(lookup
                .answers()
                .iter()
                .filter_map(|record| match &record.data {
                    RData::TXT(txt) => Some(
                        txt.txt_data
                            .iter()
                            .map(|part| String::from_utf8_lossy(part))
                            .collect::<String>(),
                    ),
                    _ => None,
                })
                .collect()),
            Err(err) if err.is_no_records_found() || err.is_nx_domain() => Ok(Vec::new()),
            Err(err) => Err(unreachable(&err)),
        }
    }

    fn resolver_name(&self) -> String {
        match self.resolver {
            Some(addr) => addr.to_string(),
            None => "the system's resolver".to_owned(),
        }
    }

    /// Mails `code` to `address` through the relay.
    async fn send_code(
        &self,
        (host, port): &(String, u16),
        address: &str,
        code: &str,
    ) -> Result<(), CheckError> {
        let relay = format!("{host}:{port}");
        let from = self
            .smtp_from
            .clone()
            .unwrap_or_else(|| "callex@localhost".to_owned());
        let from = from.parse().map_err(|e| {
            CheckError::Unreachable(format!("--smtp-from {from:?} is not an address: {e}"))
        })?;
        let to = address
            .parse()
            .map_err(|e| CheckError::NotProven(format!("cannot mail {address}: {e}")))?;
        let mail = lettre::Message::builder()
            .from(from)
            .to(to)
            .subject(format!("Your Callex code: {code}"))
            .header(ContentType::TEXT_PLAIN)
            .body(format!(
                "Someone (we hope you) claimed {address} on Callex.\r\n\r\n\
                 The code is {code}. It is good for 30 minutes.\r\n\r\n\
                 If it was not you, ignore this mail: nothing changes without the code.\r\n"
            ))
            .map_err(|e| CheckError::Unreachable(format!("the code mail is malformed: {e}")))?;
        let mailer = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.as_str())
            .port(*port)
            .timeout(Some(OUTSIDE_TIMEOUT))
            .build();
        mailer.send(mail).await.map_err(|e| {
            CheckError::Unreachable(format!(
                "the code could not be sent through the SMTP relay {relay}: {e}"
            ))
        })?;
        Ok(())
    }
}

// ---------------------------------------------------------------- API

/// What is claimed: an e-mail address (individuals) or a domain
/// (companies).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ClaimKindView {
    Email,
    Domain,
}

impl From<ClaimKindView> for ClaimKind {
    fn from(kind: ClaimKindView) -> ClaimKind {
        match kind {
            ClaimKindView::Email => ClaimKind::Email,
            ClaimKindView::Domain => ClaimKind::Domain,
        }
    }
}

/// A claim to make.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateClaim {
    pub kind: ClaimKindView,
    /// The address or domain; stored lowercase, a domain without its
    /// trailing dot and in ASCII (an IDN as its `xn--` form).
    #[schema(example = "example.com")]
    pub value: String,
    /// The number it resolves to, held by the member, in any written form:
    /// a PIN for an address, a VNS for a domain.
    #[schema(example = "6200-6200")]
    pub number: String,
}

/// The proof of a claim.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyClaim {
    /// The 6-digit code mailed to an address; leave out for a domain (its
    /// TXT record is looked up).
    #[schema(example = "042917")]
    pub code: Option<String>,
}

/// A claim as stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClaimView {
    pub id: i64,
    pub member_id: i64,
    pub kind: ClaimKindView,
    #[schema(example = "example.com")]
    pub value: String,
    /// The store key of the number it resolves to.
    #[schema(example = "62006200")]
    pub number: String,
    /// `pending`, `verified` or `revoked`.
    #[schema(example = "pending")]
    pub state: String,
    /// Milliseconds since the Unix epoch, UTC: when the token or code stops
    /// being accepted.
    pub expires_at: i64,
    pub created_at: i64,
    pub verified_at: Option<i64>,
    /// `dns`, `email` or `operator`.
    pub verified_by: Option<String>,
    /// For a new domain claim: the TXT record to publish.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publish: Option<TxtRecord>,
    /// For a new address claim: whether the code was mailed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_sent: Option<bool>,
}

/// A DNS TXT record to publish.
#[derive(Debug, Serialize, ToSchema)]
pub struct TxtRecord {
    #[schema(example = "_callex-challenge.example.com")]
    pub name: String,
    #[schema(example = "callex-verify=5f0c…")]
    pub text: String,
}

impl From<Claim> for ClaimView {
    fn from(claim: Claim) -> ClaimView {
        ClaimView {
            id: claim.id,
            member_id: claim.member_id.0,
            kind: match claim.kind {
                ClaimKind::Email => ClaimKindView::Email,
                ClaimKind::Domain => ClaimKindView::Domain,
            },
            value: claim.value,
            number: claim.number,
            state: claim.state.to_string(),
            expires_at: claim.expires_at,
            created_at: claim.created_at,
            verified_at: claim.verified_at,
            verified_by: claim.verified_by.map(|by: VerifiedBy| by.to_string()),
            publish: None,
            code_sent: None,
        }
    }
}

async fn existing_member(store: &Store, id: i64) -> Result<MemberId, ApiError> {
    match store.member(MemberId(id)).await? {
        Some(member) => Ok(member.id),
        None => Err(StoreError::NotFound {
            what: format!("member {id} does not exist"),
        }
        .into()),
    }
}

/// Claims an e-mail address or a domain for a member. A domain's answer
/// says which TXT record to publish; an address gets its code by mail.
#[utoipa::path(
    post, path = "/api/v1/members/{id}/claims", tag = "claims",
    params(("id" = i64, Path, description = "The member")),
    request_body = CreateClaim,
    security(("operator_token" = [])),
    responses(
        (status = 201, body = ClaimView),
        (status = 401, body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, body = crate::problem::Problem, content_type = "application/problem+json", description = "No such member, or the member does not hold the number"),
        (status = 409, body = crate::problem::Problem, content_type = "application/problem+json", description = "Another member verified the value"),
        (status = 422, body = crate::problem::Problem, content_type = "application/problem+json", description = "A field is invalid"),
        (status = 502, body = crate::problem::Problem, content_type = "application/problem+json", description = "The SMTP relay refused the code mail"),
    )
)]
pub async fn create_claim(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<CreateClaim>,
) -> Result<(StatusCode, Json<ClaimView>), ApiError> {
    let member = existing_member(&state.store, id).await?;
    let claimed = state
        .claims
        .claim(
            &state.store,
            member,
            body.kind.into(),
            &body.value,
            &body.number,
        )
        .await?;
    let mut view = ClaimView::from(claimed.claim);
    view.publish = claimed.publish.map(|(name, text)| TxtRecord { name, text });
    if view.publish.is_none() {
        view.code_sent = Some(claimed.code_sent);
    }
    Ok((StatusCode::CREATED, Json(view)))
}

/// Verifies a claim: a domain's TXT record is looked up now; an address
/// needs the code that was mailed to it.
#[utoipa::path(
    post, path = "/api/v1/members/{id}/claims/{claim}/verify", tag = "claims",
    params(("id" = i64, Path, description = "The member"), ("claim" = i64, Path, description = "The claim")),
    request_body = VerifyClaim,
    security(("operator_token" = [])),
    responses(
        (status = 200, body = ClaimView),
        (status = 401, body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 409, body = crate::problem::Problem, content_type = "application/problem+json", description = "Expired, too many wrong codes, revoked, or verified by another member"),
        (status = 422, body = crate::problem::Problem, content_type = "application/problem+json", description = "Wrong code, or no TXT record yet"),
        (status = 502, body = crate::problem::Problem, content_type = "application/problem+json", description = "The DNS look-up failed"),
    )
)]
pub async fn verify_claim(
    State(state): State<AppState>,
    ApiPath((id, claim)): ApiPath<(i64, i64)>,
    body: Bytes,
) -> Result<Json<ClaimView>, ApiError> {
    let member = existing_member(&state.store, id).await?;
    // A domain's verification needs no body at all.
    let body: VerifyClaim = if body.iter().all(u8::is_ascii_whitespace) {
        VerifyClaim::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::Rejected {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            detail: format!("the body is not a verification ({{\"code\": \"123456\"}}): {e}"),
        })?
    };
    let verified = state
        .claims
        .verify(&state.store, member, claim, body.code.as_deref())
        .await?;
    Ok(Json(verified.into()))
}

/// A member's claims, in id order.
#[utoipa::path(
    get, path = "/api/v1/members/{id}/claims", tag = "claims",
    params(("id" = i64, Path, description = "The member")),
    security(("operator_token" = [])),
    responses(
        (status = 200, body = Vec<ClaimView>),
        (status = 401, body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_claims(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<ClaimView>>, ApiError> {
    let member = existing_member(&state.store, id).await?;
    let claims = state.store.claims_of(member).await?;
    Ok(Json(claims.into_iter().map(ClaimView::from).collect()))
}

/// Revokes a claim: the address or domain stops resolving at once.
#[utoipa::path(
    delete, path = "/api/v1/members/{id}/claims/{claim}", tag = "claims",
    params(("id" = i64, Path, description = "The member"), ("claim" = i64, Path, description = "The claim")),
    security(("operator_token" = [])),
    responses(
        (status = 200, body = ClaimView),
        (status = 401, body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn revoke_claim(
    State(state): State<AppState>,
    ApiPath((id, claim)): ApiPath<(i64, i64)>,
) -> Result<Json<ClaimView>, ApiError> {
    let member = existing_member(&state.store, id).await?;
    let revoked = state.store.revoke_claim(Some(member), claim).await?;
    Ok(Json(revoked.into()))
}
