//! Callex's HTTP API: REST over the store, for the operator today and for
//! members and companies later (SPEC §9), with an OpenAPI 3.1 document at
//! `GET /api/v1/openapi.json` generated from the handlers.
//!
//! Every `/api/v1` route needs `Authorization: Bearer <token>` with a
//! current operator token ([`store::ApiTokens`]) or member token
//! ([`store::Accounts`]; a member sees only their own tenant, see
//! [`accounts`]), except the public
//! number directory (`GET /api/v1/directory/{number}`, [`directory`]) and
//! the search of numbers for sale (`GET /api/v1/numbers/available`,
//! [`inventory`]);
//! `GET /healthz`, the short links `GET /n/{number}` and the provisioning
//! links `GET /p/{token}` ([`provisioning`]) need none either.
//! Failures are RFC 9457 problem documents ([`problem`]); the short links,
//! which browsers follow, answer with small HTML pages.
//!
//! It also holds [`operator`]: what an operator does to members' numbers,
//! shared with the `callex` command line so both behave the same; and
//! [`claims`]: the DNS look-up and the code mail that verify members'
//! e-mail addresses and domains, shared the same way.
//!
//! It is not for the exchange's rules (they live in the pure crates) nor
//! for SIP (that is `switch`).
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = store::Store::open("./callex-data").await?;
//! let state = web::AppState::new(store, "callex");
//! let http = web::HttpService::start("127.0.0.1:8080".parse()?, state).await?;
//! println!("API on http://{}", http.local_addr());
//! http.stop().await;
//! # Ok(())
//! # }
//! ```

pub mod accounts;
pub mod api;
pub mod claims;
pub mod directory;
pub mod inventory;
pub mod operator;
pub mod orders;
pub mod periodic;
pub mod portal;
pub mod problem;
pub mod provisioning;
pub mod rentals;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{delete, get, post, put};
use axum::Router;
use store::prelude::*;
use store::TokenInfo;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use crate::accounts::Caller;
use crate::problem::ApiError;

/// What every handler is given.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Store,
    /// The digest realm SIP passwords are hashed in (`SipConfig.realm`).
    pub realm: Arc<str>,
    /// Where claims' proofs are checked: DNS resolver, SMTP relay.
    pub claims: Arc<claims::ClaimChecks>,
    /// How long an approved purchase holds its number
    /// ([`store::orders::DEFAULT_HOLD_MS`] unless set).
    pub order_hold: Duration,
    /// How long a number given back stays out of sale
    /// ([`store::rentals::DEFAULT_QUARANTINE_MS`] unless set).
    pub number_quarantine: Duration,
    /// Failed portal log-ins per e-mail address, to slow down guessing.
    pub logins: Arc<portal::LoginThrottle>,
    /// Where phones register, as provisioning profiles tell them.
    pub provisioning: Arc<provisioning::ProvisioningTarget>,
}

impl AppState {
    pub fn new(store: Store, realm: &str) -> AppState {
        AppState {
            store,
            realm: realm.into(),
            claims: Arc::default(),
            order_hold: Duration::from_millis(store::orders::DEFAULT_HOLD_MS.unsigned_abs()),
            number_quarantine: Duration::from_millis(
                store::rentals::DEFAULT_QUARANTINE_MS.unsigned_abs(),
            ),
            logins: Arc::default(),
            provisioning: Arc::default(),
        }
    }

    /// Numbers given back stay out of sale for `quarantine` instead.
    pub fn with_number_quarantine(self, quarantine: Duration) -> AppState {
        AppState {
            number_quarantine: quarantine,
            ..self
        }
    }

    /// Profiles name `target` as the server phones register with.
    pub fn with_provisioning(self, target: provisioning::ProvisioningTarget) -> AppState {
        AppState {
            provisioning: Arc::new(target),
            ..self
        }
    }

    /// Approved purchases hold their numbers for `hold` instead.
    pub fn with_order_hold(self, hold: Duration) -> AppState {
        AppState {
            order_hold: hold,
            ..self
        }
    }

    /// Checks claims through `checks` instead of the system's resolver and
    /// no SMTP relay.
    pub fn with_claim_checks(self, checks: claims::ClaimChecks) -> AppState {
        AppState {
            claims: Arc::new(checks),
            ..self
        }
    }
}

/// The operator's token a request came with, put in its extensions by the
/// auth layer (with [`Caller::Operator`]); absent for members' tokens.
#[derive(Debug, Clone)]
pub struct Operator(pub TokenInfo);

/// The whole HTTP surface.
///
/// Three layers guard `/api/v1`, outermost first: [`authenticate`] (401
/// without a current token), [`accounts::require_tenant`] on every
/// `/members/{id}…` route (404 for another tenant's member), and
/// [`accounts::require_operator`] on the operator's own routes (403 for a
/// member's token). The tenant layer reads `{id}` as a member's id, so a
/// route whose `{id}` is something else (an order) stays outside it.
pub fn router(state: AppState) -> Router {
    let operator_only = || middleware::from_fn(accounts::require_operator);
    // The operator's routes on a member: 404 for another tenant's member
    // (the tenant layer comes first), 403 for the member themself.
    let operator_on_member = Router::new()
        .route("/members/{id}/numbers", post(api::grant_number))
        .route("/members/{id}/topups", post(orders::create_topup))
        .route_layer(operator_only());
    let member_scoped = Router::new()
        .route(
            "/members/{id}",
            get(api::get_member).put(accounts::update_member),
        )
        .route("/members/{id}/password", post(accounts::set_password))
        .route(
            "/members/{id}/tokens",
            post(accounts::create_token).get(accounts::list_tokens),
        )
        .route(
            "/members/{id}/tokens/{token}",
            delete(accounts::revoke_token),
        )
        .route(
            "/members/{id}/branches/{country}",
            get(accounts::get_branch)
                .put(accounts::set_branch)
                .delete(accounts::remove_branch),
        )
        .route(
            "/members/{id}/claims",
            post(claims::create_claim).get(claims::list_claims),
        )
        .route("/members/{id}/claims/{claim}", delete(claims::revoke_claim))
        .route(
            "/members/{id}/claims/{claim}/verify",
            post(claims::verify_claim),
        )
        .route(
            "/members/{id}/numbers/{number}/directory",
            put(directory::set_directory),
        )
        .route("/members/{id}/ledger", get(orders::ledger))
        .route("/members/{id}/orders", get(orders::orders_of_member))
        .route(
            "/members/{id}/numbers/{number}",
            delete(rentals::release_number),
        )
        .route(
            "/members/{id}/numbers/{number}/profile",
            post(provisioning::create_profile),
        )
        .route(
            "/members/{id}/numbers/{number}/devices",
            get(provisioning::devices),
        )
        .merge(operator_on_member)
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            accounts::require_tenant,
        ));
    // The operator's routes on no member: 403 for every member.
    let operator_wide = Router::new()
        .route("/members", post(api::create_member).get(api::list_members))
        .route("/inventory", post(inventory::import))
        .route("/orders/{id}/approve", post(orders::approve_order))
        .route("/orders/{id}/reject", post(orders::reject_order))
        .route("/approvals", get(orders::approvals))
        .route("/rentals/arrears", get(rentals::arrears))
        .route_layer(operator_only());
    // A buyer's own orders (the handlers answer 404 for another tenant's).
    let buyer = Router::new()
        .route("/orders", post(orders::create_order))
        .route("/orders/{id}", get(orders::get_order))
        .route("/orders/{id}/pay", post(orders::pay_order))
        .route("/orders/{id}/cancel", post(orders::cancel_order));
    let api = Router::new()
        .merge(member_scoped)
        .merge(operator_wide)
        .merge(buyer)
        .route("/openapi.json", get(api::openapi))
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate))
        // Added after the layer: public.
        .route("/directory/{number}", get(directory::get_directory))
        .route("/numbers/available", get(inventory::available));
    Router::new()
        .nest("/api/v1", api)
        .route("/healthz", get(api::healthz))
        .route("/n/{number}", get(directory::short_link))
        .route("/p/{token}", get(provisioning::link))
        .merge(portal::router())
        .fallback(not_found)
        .with_state(state)
}

/// Lets the request through only with a current API token: the operator's
/// ([`Operator`] and [`Caller::Operator`] in its extensions) or a member's
/// ([`Caller::Member`]).
async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    const UNKNOWN: ApiError = ApiError::Unauthorized("this token is not a current API token");
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .ok_or(ApiError::Unauthorized(
            "send an API token as Authorization: Bearer <token>",
        ))?;
    let operator = state
        .store
        .verify_token(token)
        .await
        .or_else(unknown_as_none)?;
    if let Some(operator) = operator {
        let caller = Caller::Operator(operator.name.clone());
        request.extensions_mut().insert(Operator(operator));
        request.extensions_mut().insert(caller);
        return Ok(next.run(request).await);
    }
    let member_token = state
        .store
        .verify_member_token(token)
        .await
        .or_else(unknown_as_none)?
        .ok_or(UNKNOWN)?;
    let member = state
        .store
        .member(member_token.member_id)
        .await?
        .ok_or(UNKNOWN)?;
    request
        .extensions_mut()
        .insert(Caller::Member(Box::new(member)));
    Ok(next.run(request).await)
}

/// A token of the wrong shape is as unknown as a wrong one.
fn unknown_as_none<T>(err: StoreError) -> Result<Option<T>, ApiError> {
    match err {
        StoreError::Invalid { .. } => Ok(None),
        err => Err(err.into()),
    }
}

async fn not_found(request: Request) -> Response {
    problem::problem(
        StatusCode::NOT_FOUND,
        format!("there is nothing at {}", request.uri().path()),
    )
}

/// Why the HTTP service did not start.
#[derive(Debug)]
pub struct BindError {
    pub addr: SocketAddr,
    pub source: io::Error,
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reason = match self.source.kind() {
            io::ErrorKind::AddrInUse => "Address in use".to_owned(),
            io::ErrorKind::AddrNotAvailable => "Address not available".to_owned(),
            io::ErrorKind::PermissionDenied => "Permission denied".to_owned(),
            _ => self.source.to_string(),
        };
        write!(f, "cannot listen for HTTP on {}: {reason}", self.addr)
    }
}

impl std::error::Error for BindError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// How long [`HttpService::stop`] lets requests in flight finish.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The running HTTP API.
#[derive(Debug)]
pub struct HttpService {
    local_addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl HttpService {
    /// Binds `addr` and serves [`router`] on it.
    pub async fn start(addr: SocketAddr, state: AppState) -> Result<HttpService, BindError> {
        let bind_error = |source| BindError { addr, source };
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(bind_error)?;
        let local_addr = listener.local_addr().map_err(bind_error)?;
        let (stop, stopped) = oneshot::channel::<()>();
        let app = router(state);
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(err) = served {
                tracing::error!(error = %err, "the HTTP API stopped");
            }
        });
        Ok(HttpService {
            local_addr,
            stop,
            task,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, lets requests in flight finish (a few seconds at
    /// most), and closes every connection.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let mut task = self.task;
        if tokio::time::timeout(STOP_GRACE, &mut task).await.is_err() {
            task.abort();
        }
    }
}
