//! Members' accounts through the API: who a request acts as ([`Caller`]),
//! which tenants it may see, and the account routes (profile and role,
//! password, API tokens, company branches).
//!
//! A bearer token is the operator's (every tenant) or a member's: their own
//! record, and for a company admin also the company and its members. A
//! member id of another tenant answers 404, as an id that does not exist
//! would, so that ids cannot be probed; an action the caller's role does
//! not allow on a tenant it sees answers 403.

use std::collections::HashMap;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use axum::{Extension, Json};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use store::prelude::*;
use store::{
    Accounts, Branch, BranchDestination, Branches, Member, MemberProfile, MemberToken, Role,
};
use utoipa::ToSchema;

use crate::problem::{ApiError, ApiJson, ApiPath, Problem};
use crate::AppState;

/// Who a request acts as, put in its extensions by the auth layer.
#[derive(Debug, Clone)]
pub enum Caller {
    /// An operator API token (`api_tokens`), by name.
    Operator(String),
    /// A member's API token: the member as it was when the request came.
    Member(Box<Member>),
}

impl Caller {
    /// The operator, or a member whose role is operator.
    pub fn is_operator(&self) -> bool {
        match self {
            Caller::Operator(_) => true,
            Caller::Member(member) => member.role == Role::Operator,
        }
    }

    /// Whether the caller may see `target` at all.
    pub fn sees(&self, target: &Member) -> bool {
        match self {
            Caller::Operator(_) => true,
            Caller::Member(me) => match me.role {
                Role::Operator => true,
                Role::Member => me.id == target.id,
                Role::CompanyAdmin => {
                    me.id == target.id
                        || (me.company_id.is_some()
                            && (me.company_id == Some(target.id)
                                || me.company_id == target.company_id))
                }
            },
        }
    }

    fn only_operator(&self, what: &str) -> Result<(), ApiError> {
        if self.is_operator() {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "only the operator may {what}; this is a member's token"
            )))
        }
    }
}

fn no_such_member(id: i64) -> ApiError {
    StoreError::NotFound {
        what: format!("member {id} does not exist"),
    }
    .into()
}

/// The member `id` if the caller sees it, else the same 404 as an unknown
/// id.
pub async fn visible_member(
    state: &AppState,
    caller: &Caller,
    id: i64,
) -> Result<Member, ApiError> {
    match state.store.member(MemberId(id)).await? {
        Some(member) if caller.sees(&member) => Ok(member),
        _ => Err(no_such_member(id)),
    }
}

/// Route layer of every `/members/{id}…` route: another tenant's id is
/// answered 404 before the handler runs. A path whose id does not parse is
/// left to the handler's extractor (400).
pub async fn require_tenant(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    params: Option<Path<HashMap<String, String>>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let id = params.and_then(|Path(params)| params.get("id")?.parse::<i64>().ok());
    if let Some(id) = id {
        if !caller.is_operator() {
            visible_member(&state, &caller, id).await?;
        }
    }
    Ok(next.run(request).await)
}

/// Route layer of the operator's routes (registering members, granting
/// numbers, the inventory): 403 for members' tokens.
pub async fn require_operator(
    Extension(caller): Extension<Caller>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    caller.only_operator(&format!("{} {}", request.method(), request.uri().path()))?;
    Ok(next.run(request).await)
}

// ---------------------------------------------------------------- bodies

/// What a member may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoleView {
    Operator,
    CompanyAdmin,
    Member,
}

impl From<Role> for RoleView {
    fn from(role: Role) -> RoleView {
        match role {
            Role::Operator => RoleView::Operator,
            Role::CompanyAdmin => RoleView::CompanyAdmin,
            Role::Member => RoleView::Member,
        }
    }
}

impl From<RoleView> for Role {
    fn from(role: RoleView) -> Role {
        match role {
            RoleView::Operator => Role::Operator,
            RoleView::CompanyAdmin => Role::CompanyAdmin,
            RoleView::Member => Role::Member,
        }
    }
}

/// A member's account details, replaced as a whole; `role` and
/// `company_id` are the operator's to set (left out: unchanged).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMember {
    /// BCP 47.
    #[schema(example = "en-GB")]
    pub language: Option<String>,
    /// A PSTN number the member answers, in international form.
    #[schema(example = "+82 10-1234-5678")]
    pub contact_pstn: Option<String>,
    /// The member's number at another VoIP provider: SIP URI or E.164.
    #[schema(example = "sip:alice@voip.example.net")]
    pub voip_elsewhere: Option<String>,
    pub role: Option<RoleView>,
    /// The company (a member of kind company) the member belongs to.
    pub company_id: Option<i64>,
}

/// A new password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPassword {
    /// 10 to 1024 characters.
    pub password: String,
    /// The password it replaces: needed when members change their own.
    pub current_password: Option<String>,
}

/// A token to create for a member.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    #[schema(example = "billing script")]
    pub name: String,
}

/// A member's API token, without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    pub id: i64,
    pub member_id: i64,
    pub name: String,
    /// Milliseconds since the Unix epoch, UTC.
    pub created_at: i64,
    /// The token, in the answer that creates it and nowhere else.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl From<MemberToken> for TokenView {
    fn from(token: MemberToken) -> TokenView {
        TokenView {
            id: token.id,
            member_id: token.member_id.0,
            name: token.name,
            created_at: token.created_at,
            token: None,
        }
    }
}

const PASSWORD_CHARS: std::ops::RangeInclusive<usize> = 10..=1024;

/// A member's password is long enough to resist guessing, and not absurd.
pub fn check_password_length(password: &str) -> Result<(), ApiError> {
    let length = password.chars().count();
    if PASSWORD_CHARS.contains(&length) {
        return Ok(());
    }
    Err(ApiError::Invalid(format!(
        "a password is {} to {} characters; this one has {length}",
        PASSWORD_CHARS.start(),
        PASSWORD_CHARS.end()
    )))
}

/// The argon2id PHC string of `password` (RFC 9106's defaults), computed
/// off the async threads: it takes tens of milliseconds on purpose.
pub async fn hash_password(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || {
        let mut salt = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        // 16 bytes are within the salt's bounds, so encoding cannot fail.
        let salt = SaltString::encode_b64(&salt).expect("a 16-byte salt");
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|err| ApiError::Invalid(format!("the password cannot be hashed: {err}")))
    })
    .await
    .map_err(|err| ApiError::Invalid(format!("hashing the password failed: {err}")))?
}

/// Whether `password` matches the stored PHC string.
pub async fn password_matches(password: String, phc: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&phc)
            .map(|hash| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &hash)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

// ---------------------------------------------------------------- handlers

/// Replaces a member's account details; the operator also sets the role
/// and the company.
#[utoipa::path(
    put, path = "/api/v1/members/{id}", tag = "members",
    params(("id" = i64, Path, description = "The member's id")),
    request_body = UpdateMember,
    security(("operator_token" = [])),
    responses(
        (status = 200, body = crate::api::MemberView),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "Not JSON"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Only the operator sets roles and companies"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "A field is invalid"),
    )
)]
pub async fn update_member(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<UpdateMember>,
) -> Result<Json<crate::api::MemberView>, ApiError> {
    let member = visible_member(&state, &caller, id).await?;
    // Everything is checked before anything is written.
    let profile = MemberProfile {
        language: body.language,
        contact_pstn: body.contact_pstn,
        voip_elsewhere: body.voip_elsewhere,
    }
    .normalised()?;
    let role = body.role.map(Role::from).unwrap_or(member.role);
    let company = body.company_id.map(MemberId).or(member.company_id);
    let role_changes = role != member.role || company != member.company_id;
    if role_changes {
        caller.only_operator("set a member's role or company")?;
        state.store.set_role(member.id, role, company).await?;
    }
    let updated = state.store.set_profile(member.id, &profile).await?;
    Ok(Json(updated.into()))
}

/// Sets or changes a member's password (argon2id). Members changing their
/// own give the current one.
#[utoipa::path(
    post, path = "/api/v1/members/{id}/password", tag = "members",
    params(("id" = i64, Path, description = "The member's id")),
    request_body = SetPassword,
    security(("operator_token" = [])),
    responses(
        (status = 204, description = "The password is set"),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "Not JSON"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "The current password is missing or wrong"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "Too short or too long"),
    )
)]
pub async fn set_password(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<SetPassword>,
) -> Result<StatusCode, ApiError> {
    let member = visible_member(&state, &caller, id).await?;
    let own = matches!(&caller, Caller::Member(me) if me.id == member.id);
    let current = own.then(|| body.current_password.unwrap_or_default());
    replace_password(&state.store, member.id, current, body.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sets `member`'s password to `password` (checked for length), ending
/// their portal sessions. A member changing their own gives `current`,
/// the password being replaced, when they have one; the operator resets
/// it with `None`.
pub async fn replace_password(
    store: &Store,
    member: MemberId,
    current: Option<String>,
    password: String,
) -> Result<(), ApiError> {
    check_password_length(&password)?;
    if let Some(given) = current {
        if let Some(phc) = store.password_hash(member).await? {
            if !password_matches(given, phc).await {
                return Err(ApiError::Forbidden(
                    "the current password (\"current_password\" in the API) is missing or \
                     wrong; nothing was changed"
                        .to_owned(),
                ));
            }
        }
    }
    let phc = hash_password(password).await?;
    store.set_password_hash(member, &phc).await?;
    Ok(())
}

/// Creates an API token for a member; the token is in this answer only.
#[utoipa::path(
    post, path = "/api/v1/members/{id}/tokens", tag = "members",
    params(("id" = i64, Path, description = "The member's id")),
    request_body = CreateToken,
    security(("operator_token" = [])),
    responses(
        (status = 201, body = TokenView),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "Not JSON"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "The name is taken"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "A field is invalid"),
    )
)]
pub async fn create_token(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<CreateToken>,
) -> Result<(StatusCode, Json<TokenView>), ApiError> {
    let member = visible_member(&state, &caller, id).await?;
    let created = state
        .store
        .create_member_token(member.id, &body.name)
        .await?;
    let mut view = TokenView::from(created.info);
    view.token = Some(created.plaintext);
    Ok((StatusCode::CREATED, Json(view)))
}

/// A member's API tokens, without their secrets.
#[utoipa::path(
    get, path = "/api/v1/members/{id}/tokens", tag = "members",
    params(("id" = i64, Path, description = "The member's id")),
    security(("operator_token" = [])),
    responses(
        (status = 200, body = Vec<TokenView>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_tokens(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<TokenView>>, ApiError> {
    let member = visible_member(&state, &caller, id).await?;
    let tokens = state.store.member_tokens(member.id).await?;
    Ok(Json(tokens.into_iter().map(TokenView::from).collect()))
}

/// Revokes a member's API token at once.
#[utoipa::path(
    delete, path = "/api/v1/members/{id}/tokens/{token}", tag = "members",
    params(("id" = i64, Path, description = "The member's id"), ("token" = i64, Path, description = "The token's id")),
    security(("operator_token" = [])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn revoke_token(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath((id, token)): ApiPath<(i64, i64)>,
) -> Result<StatusCode, ApiError> {
    let member = visible_member(&state, &caller, id).await?;
    if state.store.revoke_member_token(member.id, token).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(StoreError::NotFound {
            what: format!("member {id} has no API token {token}"),
        }
        .into())
    }
}

// ---------------------------------------------------------------- branches

/// Where a branch sends its calls.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum DestinationView {
    /// A terminal: a number the company or one of its members holds.
    #[schema(example = "02-6200-6200-082")]
    Terminal(String),
    /// Terminals ringing together (2 to 32).
    Group(Vec<String>),
    /// A PSTN number, in international form.
    #[schema(example = "+82 2-6200-6200")]
    Pstn(String),
}

impl From<DestinationView> for BranchDestination {
    fn from(view: DestinationView) -> BranchDestination {
        match view {
            DestinationView::Terminal(number) => BranchDestination::Terminal(number),
            DestinationView::Group(numbers) => BranchDestination::Group(numbers),
            DestinationView::Pstn(number) => BranchDestination::Pstn(number),
        }
    }
}

impl From<BranchDestination> for DestinationView {
    fn from(destination: BranchDestination) -> DestinationView {
        match destination {
            BranchDestination::Terminal(number) => DestinationView::Terminal(number),
            BranchDestination::Group(numbers) => DestinationView::Group(numbers),
            BranchDestination::Pstn(number) => DestinationView::Pstn(number),
        }
    }
}

/// A company's branch in a country, to create or replace.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetBranch {
    pub destination: DestinationView,
    /// Where calls for a country without a branch go; a new default takes
    /// over from the previous one.
    #[serde(default)]
    pub default: bool,
}

/// A company's branch in a country.
#[derive(Debug, Serialize, ToSchema)]
pub struct BranchView {
    pub company_id: i64,
    /// ISO 3166-1 alpha-2.
    #[schema(example = "KR")]
    pub country: String,
    /// Numbers as store keys.
    pub destination: DestinationView,
    pub default: bool,
    /// Milliseconds since the Unix epoch, UTC.
    pub updated_at: i64,
}

impl From<Branch> for BranchView {
    fn from(branch: Branch) -> BranchView {
        BranchView {
            company_id: branch.company_id.0,
            country: branch.country,
            destination: branch.destination.into(),
            default: branch.default,
            updated_at: branch.updated_at,
        }
    }
}

fn no_branch(id: i64, country: &str) -> ApiError {
    StoreError::NotFound {
        what: format!("company {id} has no branch in {country}"),
    }
    .into()
}

/// A company's branch in a country.
#[utoipa::path(
    get, path = "/api/v1/members/{id}/branches/{country}", tag = "members",
    params(("id" = i64, Path, description = "The company's id"), ("country" = String, Path, description = "ISO 3166-1 alpha-2")),
    security(("operator_token" = [])),
    responses(
        (status = 200, body = BranchView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "Not a country code"),
    )
)]
pub async fn get_branch(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath((id, country)): ApiPath<(i64, String)>,
) -> Result<Json<BranchView>, ApiError> {
    let company = visible_member(&state, &caller, id).await?;
    match state.store.branch(company.id, &country).await? {
        Some(branch) => Ok(Json(branch.into())),
        None => Err(no_branch(id, &country)),
    }
}

/// Creates or replaces a company's branch in a country.
#[utoipa::path(
    put, path = "/api/v1/members/{id}/branches/{country}", tag = "members",
    params(("id" = i64, Path, description = "The company's id"), ("country" = String, Path, description = "ISO 3166-1 alpha-2")),
    request_body = SetBranch,
    security(("operator_token" = [])),
    responses(
        (status = 200, body = BranchView),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "Not JSON"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "Not a company, a country or a number of the company's"),
    )
)]
pub async fn set_branch(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath((id, country)): ApiPath<(i64, String)>,
    ApiJson(body): ApiJson<SetBranch>,
) -> Result<Json<BranchView>, ApiError> {
    let branch = set_branch_of(
        &state,
        &caller,
        id,
        &country,
        &body.destination.into(),
        body.default,
    )
    .await?;
    Ok(Json(branch.into()))
}

/// Removes a company's branch in a country.
#[utoipa::path(
    delete, path = "/api/v1/members/{id}/branches/{country}", tag = "members",
    params(("id" = i64, Path, description = "The company's id"), ("country" = String, Path, description = "ISO 3166-1 alpha-2")),
    security(("operator_token" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "Not a country code"),
    )
)]
pub async fn remove_branch(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath((id, country)): ApiPath<(i64, String)>,
) -> Result<StatusCode, ApiError> {
    remove_branch_of(&state, &caller, id, &country).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Creates or replaces company `id`'s branch in `country` as `caller`
/// (the API's PUT, the portal's form): a company the caller does not see
/// is unknown, a country without a numbering plan is refused (no call is
/// ever for it), and the store checks the rest.
pub async fn set_branch_of(
    state: &AppState,
    caller: &Caller,
    id: i64,
    country: &str,
    destination: &BranchDestination,
    default: bool,
) -> Result<Branch, ApiError> {
    let company = visible_member(state, caller, id).await?;
    let code = crate::operator::known_country(country).map_err(ApiError::Invalid)?;
    Ok(state
        .store
        .set_branch(company.id, &code, destination, default)
        .await?)
}

/// Removes company `id`'s branch in `country` as `caller`; `NotFound` if
/// there is none.
pub async fn remove_branch_of(
    state: &AppState,
    caller: &Caller,
    id: i64,
    country: &str,
) -> Result<(), ApiError> {
    let company = visible_member(state, caller, id).await?;
    if state.store.remove_branch(company.id, country).await? {
        Ok(())
    } else {
        Err(no_branch(id, country))
    }
}
