//! The `/api/v1` handlers and the OpenAPI document generated from them.
//! Each handler extracts, calls the store (or [`crate::operator`]), and
//! maps the result; [`ApiError`] decides every failure's status.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use store::prelude::*;
use store::{limits, HeldNumber, Member};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};

use crate::directory;
use crate::inventory;
use crate::operator;
use crate::problem::{ApiError, ApiJson, ApiPath, ApiQuery, Problem};
use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Callex API", description = "Operate the Callex call exchange."),
    paths(
        healthz,
        create_member,
        list_members,
        get_member,
        crate::accounts::update_member,
        crate::accounts::set_password,
        crate::accounts::create_token,
        crate::accounts::list_tokens,
        crate::accounts::revoke_token,
        crate::accounts::get_branch,
        crate::accounts::set_branch,
        crate::accounts::remove_branch,
        grant_number,
        crate::claims::create_claim,
        crate::claims::verify_claim,
        crate::claims::list_claims,
        crate::claims::revoke_claim,
        directory::set_directory,
        directory::get_directory,
        directory::short_link,
        crate::provisioning::create_profile,
        crate::provisioning::devices,
        crate::provisioning::link,
        inventory::available,
        inventory::import,
        crate::orders::create_order,
        crate::orders::get_order,
        crate::orders::approve_order,
        crate::orders::reject_order,
        crate::orders::pay_order,
        crate::orders::cancel_order,
        crate::orders::approvals,
        crate::orders::create_topup,
        crate::orders::ledger,
        crate::orders::orders_of_member,
        crate::rentals::release_number,
        crate::rentals::arrears,
        openapi
    ),
    components(schemas(Problem)),
    modifiers(&OperatorToken),
    tags(
        (name = "members", description = "Members, the numbers they hold, their SIP \
            accounts' provisioning profiles and registered terminals"),
        (name = "claims", description = "E-mail addresses and domains that members claim, \
            verified (DNS TXT record, mailed code, or the operator) before calls to them reach \
            the member"),
        (name = "directory", description = "What a number resolves to besides a phone: SIP \
            address, home page, mailbox (the same records the DNS directory serves as ENUM NAPTR)"),
        (name = "numbers", description = "The numbers for sale: the public search and the \
            operator's inventory"),
        (name = "orders", description = "Buying numbers (requested, approved and held, paid, \
            assigned; or rejected, expired, cancelled), the operator's approval queue, and the \
            prepaid balance's top-ups and ledger")
    )
)]
pub struct ApiDoc;

/// Declares the bearer scheme the `/api/v1` routes require.
struct OperatorToken;

impl Modify for OperatorToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "operator_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

// ---------------------------------------------------------------- bodies

/// Individuals hold PINs; companies hold VNS numbers and branches.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MemberKindView {
    Individual,
    Company,
}

impl From<MemberKindView> for MemberKind {
    fn from(kind: MemberKindView) -> MemberKind {
        match kind {
            MemberKindView::Individual => MemberKind::Individual,
            MemberKindView::Company => MemberKind::Company,
        }
    }
}

impl From<MemberKind> for MemberKindView {
    fn from(kind: MemberKind) -> MemberKindView {
        match kind {
            MemberKind::Individual => MemberKindView::Individual,
            MemberKind::Company => MemberKindView::Company,
        }
    }
}

/// What kind of number a member holds (SPEC §1).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum NumberKindView {
    Pin,
    Vns,
    E164,
}

impl From<NumberKindView> for NumberKind {
    fn from(kind: NumberKindView) -> NumberKind {
        match kind {
            NumberKindView::Pin => NumberKind::Pin,
            NumberKindView::Vns => NumberKind::Vns,
            NumberKindView::E164 => NumberKind::E164,
        }
    }
}

impl From<NumberKind> for NumberKindView {
    fn from(kind: NumberKind) -> NumberKindView {
        match kind {
            NumberKind::Pin => NumberKindView::Pin,
            NumberKind::Vns => NumberKindView::Vns,
            NumberKind::E164 => NumberKindView::E164,
        }
    }
}

/// A member to register.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMember {
    #[schema(example = "Alice Kim")]
    pub name: String,
    #[schema(example = "alice@example.com")]
    pub email: Option<String>,
    /// ISO 3166-1 alpha-2.
    #[schema(example = "KR")]
    pub country: String,
    pub kind: MemberKindView,
}

/// A registered member.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    pub id: i64,
    pub kind: MemberKindView,
    pub name: String,
    pub email: Option<String>,
    pub country: String,
    /// Milliseconds since the Unix epoch, UTC.
    pub created_at: i64,
    pub role: crate::accounts::RoleView,
    /// The company this member belongs to.
    pub company_id: Option<i64>,
    /// BCP 47 (`ko`, `en-GB`).
    pub language: Option<String>,
    /// A PSTN number the member answers, E.164 (`+821012345678`).
    pub contact_pstn: Option<String>,
    /// The member's number at another VoIP provider: SIP URI or E.164.
    pub voip_elsewhere: Option<String>,
}

impl From<Member> for MemberView {
    fn from(member: Member) -> MemberView {
        MemberView {
            id: member.id.0,
            kind: member.kind.into(),
            name: member.display_name,
            email: member.email,
            country: member.country,
            created_at: member.created_at,
            role: member.role.into(),
            company_id: member.company_id.map(|c| c.0),
            language: member.profile.language,
            contact_pstn: member.profile.contact_pstn,
            voip_elsewhere: member.profile.voip_elsewhere,
        }
    }
}

/// Which page of members to list: those with an id above `after`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MembersQuery {
    /// The `next_after` of the previous page; 0 (the default) for the first.
    pub after: Option<i64>,
    /// How many members, 1 to 1000; 100 by default.
    pub limit: Option<u32>,
}

/// One page of members, in id order.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberPage {
    pub items: Vec<MemberView>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next_after: Option<i64>,
}

/// A number to grant a member.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantNumber {
    /// Any written form: `02-6200-6200-082`, `6200-6200#082` (or `%23`),
    /// `+44 20 7946 0000`; `-`, `.`, spaces and parentheses are ignored.
    #[schema(example = "02-6200-6200-082")]
    pub number: String,
    /// By default what the number reads as: `e164` with a `+`, `vns` with
    /// a `#`, else `pin` when the digits end in a country code, else `vns`.
    pub kind: Option<NumberKindView>,
    /// Leave out to have a strong one generated (and returned once).
    pub sip_password: Option<String>,
}

/// A number granted, with the member's SIP credentials for it.
#[derive(Debug, Serialize, ToSchema)]
pub struct GrantedNumberView {
    /// The store key: digits, `#` before a company branch, `+` before an
    /// E.164 number.
    #[schema(example = "0262006200082")]
    pub number: String,
    pub kind: NumberKindView,
    pub member_id: i64,
    /// Milliseconds since the Unix epoch, UTC.
    pub assigned_at: i64,
    /// The SIP username: the number's store key.
    pub sip_username: String,
    /// The digest realm the password belongs to.
    pub sip_realm: String,
    /// The generated SIP password: shown in this response only. Absent
    /// when the request gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sip_password: Option<String>,
}

impl GrantedNumberView {
    fn new(granted: operator::GrantedNumber, realm: &str) -> GrantedNumberView {
        let HeldNumber {
            number,
            kind,
            member_id,
            assigned_at,
        } = granted.held;
        GrantedNumberView {
            number,
            kind: kind.into(),
            member_id: member_id.0,
            assigned_at,
            sip_username: granted.sip_username,
            sip_realm: realm.to_owned(),
            sip_password: granted
                .password
                .generated
                .then_some(granted.password.secret),
        }
    }
}

/// The liveness answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
}

// ---------------------------------------------------------------- handlers

/// Is the process serving? Needs no token.
#[utoipa::path(get, path = "/healthz", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Registers a member.
#[utoipa::path(
    post, path = "/api/v1/members", tag = "members",
    request_body = CreateMember,
    security(("operator_token" = [])),
    responses(
        (status = 201, body = MemberView),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "Not JSON"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "E-mail taken"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "A field is invalid"),
    )
)]
pub async fn create_member(
    State(state): State<AppState>,
    ApiJson(new): ApiJson<CreateMember>,
) -> Result<(StatusCode, Json<MemberView>), ApiError> {
    let member = state
        .store
        .add_member(&NewMember {
            kind: new.kind.into(),
            display_name: new.name,
            email: new.email,
            country: new.country,
        })
        .await?;
    Ok((StatusCode::CREATED, Json(member.into())))
}

/// Lists members, a page at a time.
#[utoipa::path(
    get, path = "/api/v1/members", tag = "members",
    params(MembersQuery),
    security(("operator_token" = [])),
    responses(
        (status = 200, body = MemberPage),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_members(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<MembersQuery>,
) -> Result<Json<MemberPage>, ApiError> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=limits::PAGE).contains(&limit) {
        return Err(ApiError::Invalid(format!(
            "limit {limit} is out of range: 1 to {}",
            limits::PAGE
        )));
    }
    let members = state
        .store
        .members(Page::after(query.after.unwrap_or(0), limit))
        .await?;
    let full = members.len() == limit as usize;
    let next_after = members.last().filter(|_| full).map(|m| m.id.0);
    Ok(Json(MemberPage {
        items: members.into_iter().map(MemberView::from).collect(),
        next_after,
    }))
}

/// One member.
#[utoipa::path(
    get, path = "/api/v1/members/{id}", tag = "members",
    params(("id" = i64, Path, description = "The member's id")),
    security(("operator_token" = [])),
    responses(
        (status = 200, body = MemberView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_member(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<MemberView>, ApiError> {
    match state.store.member(MemberId(id)).await? {
        Some(member) => Ok(Json(member.into())),
        None => Err(StoreError::NotFound {
            what: format!("member {id} does not exist"),
        }
        .into()),
    }
}

/// Grants a number to a member and sets its SIP password.
#[utoipa::path(
    post, path = "/api/v1/members/{id}/numbers", tag = "members",
    params(("id" = i64, Path, description = "The member's id")),
    request_body = GrantNumber,
    security(("operator_token" = [])),
    responses(
        (status = 201, body = GrantedNumberView),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "Not JSON"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such member"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "The number is held"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "A field is invalid"),
    )
)]
pub async fn grant_number(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(grant): ApiJson<GrantNumber>,
) -> Result<(StatusCode, Json<GrantedNumberView>), ApiError> {
    let number = operator::read_number(&grant.number, grant.kind.map(NumberKind::from))?;
    let granted = operator::grant_number(
        &state.store,
        &state.realm,
        &number,
        MemberId(id),
        grant.sip_password.as_deref(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(GrantedNumberView::new(granted, &state.realm)),
    ))
}

/// This document.
#[utoipa::path(
    get, path = "/api/v1/openapi.json",
    security(("operator_token" = [])),
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json"))
)]
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
