//! Callex's HTTP API: REST over the store, for the operator today and for
//! members and companies later (SPEC §9), with an OpenAPI 3.1 document at
//! `GET /api/v1/openapi.json` generated from the handlers.
//!
//! Every `/api/v1` route needs `Authorization: Bearer <token>` with a
//! current operator token ([`store::ApiTokens`]), except the public
//! number directory (`GET /api/v1/directory/{number}`, [`directory`]) and
//! the search of numbers for sale (`GET /api/v1/numbers/available`,
//! [`inventory`]);
//! `GET /healthz` and the short links `GET /n/{number}` need none either.
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

pub mod api;
pub mod claims;
pub mod directory;
pub mod inventory;
pub mod operator;
pub mod orders;
pub mod problem;

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
}

impl AppState {
    pub fn new(store: Store, realm: &str) -> AppState {
        AppState {
            store,
            realm: realm.into(),
            claims: Arc::default(),
            order_hold: Duration::from_millis(store::orders::DEFAULT_HOLD_MS.unsigned_abs()),
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

/// Who a request acts as, put in its extensions by the auth layer.
#[derive(Debug, Clone)]
pub struct Operator(pub TokenInfo);

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/members", post(api::create_member).get(api::list_members))
        .route("/members/{id}", get(api::get_member))
        .route("/members/{id}/numbers", post(api::grant_number))
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
        .route("/inventory", post(inventory::import))
        .route("/orders", post(orders::create_order))
        .route("/orders/{id}", get(orders::get_order))
        .route("/orders/{id}/approve", post(orders::approve_order))
        .route("/orders/{id}/reject", post(orders::reject_order))
        .route("/orders/{id}/pay", post(orders::pay_order))
        .route("/orders/{id}/cancel", post(orders::cancel_order))
        .route("/approvals", get(orders::approvals))
        .route("/members/{id}/topups", post(orders::create_topup))
        .route("/members/{id}/ledger", get(orders::ledger))
        .route("/openapi.json", get(api::openapi))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_operator,
        ))
        // Added after the layer: public.
        .route("/directory/{number}", get(directory::get_directory))
        .route("/numbers/available", get(inventory::available));
    Router::new()
        .nest("/api/v1", api)
        .route("/healthz", get(api::healthz))
        .route("/n/{number}", get(directory::short_link))
        .fallback(not_found)
        .with_state(state)
}

/// Lets the request through only with a current operator token. Member
/// tokens do not exist yet; when they do, they are refused here until the
/// routes check tenancy.
async fn require_operator(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .ok_or(ApiError::Unauthorized(
            "send the operator API token as Authorization: Bearer <token>",
        ))?;
    let operator = match state.store.verify_token(token).await {
        Ok(Some(info)) => info,
        // A token of the wrong shape is as unknown as a wrong one.
        Ok(None) | Err(StoreError::Invalid { .. }) => {
            return Err(ApiError::Unauthorized(
                "this token is not a current operator API token",
            ))
        }
        Err(err) => return Err(err.into()),
    };
    request.extensions_mut().insert(Operator(operator));
    Ok(next.run(request).await)
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
