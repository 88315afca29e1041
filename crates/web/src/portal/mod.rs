//! The members' portal: server-rendered HTML over the same store and the
//! same rules as the API, usable without JavaScript.
//!
//! A visitor logs in with e-mail and password and gets a session cookie
//! (`callex_session`: HttpOnly, SameSite=Lax, the token kept hashed by the
//! store). Every form posts a CSRF token: the session's synchronizer token,
//! or before log-in a random token also held in the `callex_form` cookie
//! (double submit). A POST without the right token changes nothing.
//!
//! After a POST the portal redirects (303) to a page that says what
//! happened, in a one-shot `callex_flash` cookie; forms that are wrong are
//! shown again with the reason and what was typed (never a password).

mod account;
mod auth;
mod claims;
mod company;
mod market;
mod operator;
mod terminals;
mod throttle;

pub use throttle::LoginThrottle;

use std::fmt::Write as _;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use rand::RngCore;
use serde::de::DeserializeOwned;
use store::now_millis;
use store::prelude::*;
use store::{Member, Role, Session, Sessions};

use crate::problem::ApiError;
use crate::AppState;

const SESSION_COOKIE: &str = "callex_session";
const FORM_COOKIE: &str = "callex_form";
const FLASH_COOKIE: &str = "callex_flash";
/// The longest form the portal reads; a bigger body is refused unread.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// The portal's pages, merged at the root of the HTTP service.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(market::home))
        .route("/portal.css", get(stylesheet))
        .route("/signup", get(auth::signup_page).post(auth::signup))
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/numbers", get(market::search))
        .route("/numbers/buy", post(market::buy))
        .route("/my", get(market::dashboard))
        .route("/my/numbers/release", post(market::release))
        .route("/my/orders/{id}/pay", post(market::pay))
        .route("/my/orders/{id}/cancel", post(market::cancel))
        .route("/my/terminals", get(terminals::page))
        .route("/my/terminals/profile", post(terminals::new_profile))
        .route("/my/account", get(account::page))
        .route("/my/account/profile", post(account::save_profile))
        .route("/my/account/password", post(account::change_password))
        .route("/my/account/tokens", post(account::create_token))
        .route(
            "/my/account/tokens/{id}/revoke",
            post(account::revoke_token),
        )
        .route("/my/claims", get(claims::page).post(claims::add))
        .route("/my/claims/{id}/verify", post(claims::verify))
        .route("/my/claims/{id}/revoke", post(claims::revoke))
        .route("/my/company", get(company::page))
        .route("/my/company/branches", post(company::set_branch))
        .route(
            "/my/company/branches/{country}/remove",
            post(company::remove_branch),
        )
        .route("/operator", get(operator::overview))
        .route("/operator/approvals", get(operator::approvals))
        .route("/operator/approvals/{id}/approve", post(operator::approve))
        .route("/operator/approvals/{id}/reject", post(operator::reject))
        .route("/operator/inventory", get(operator::inventory))
        .route("/operator/inventory/import", post(operator::import))
        .route("/operator/members", get(operator::members))
        .route("/operator/members/{id}", get(operator::member))
        .route("/operator/members/{id}/topups", post(operator::top_up))
        .route(
            "/operator/members/{id}/claims/{claim}/verify",
            post(operator::verify_claim),
        )
        .layer(axum::middleware::from_fn(secure_cookies))
}

/// Behind a proxy that terminates TLS (`X-Forwarded-Proto: https`), every
/// cookie the portal sets is marked `Secure`: the browser never sends the
/// session over plain HTTP.
async fn secure_cookies(request: Request, next: axum::middleware::Next) -> Response {
    let https = request
        .headers()
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"));
    let mut response = next.run(request).await;
    if https {
        let headers = response.headers_mut();
        let secured: Vec<HeaderValue> = headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|cookie| {
                let text = cookie.to_str().ok()?;
                HeaderValue::from_str(&format!("{text}; Secure")).ok()
            })
            .collect();
        headers.remove(header::SET_COOKIE);
        for cookie in secured {
            headers.append(header::SET_COOKIE, cookie);
        }
    }
    response
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../templates/portal.css"),
    )
        .into_response()
}

// ---------------------------------------------------------------- visitor

/// Who is looking at a page: a member logged in, or nobody yet.
#[derive(Debug, Clone)]
pub struct Visitor {
    pub member: Option<Member>,
    session: Option<Session>,
    /// The `callex_form` cookie, before log-in: the one sent, or a new one
    /// (`new_form_token`) that the page sets.
    form_token: Option<String>,
    new_form_token: bool,
    flash: Option<Flash>,
}

impl Visitor {
    /// The token this visitor's forms carry.
    fn csrf(&self) -> String {
        match (&self.session, &self.form_token) {
            (Some(session), _) => session.csrf.clone(),
            (None, Some(token)) => token.clone(),
            (None, None) => String::new(),
        }
    }

    fn is_operator(&self) -> bool {
        self.member
            .as_ref()
            .is_some_and(|m| m.role == Role::Operator)
    }
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        // A handler may take several extractors that each need the visitor
        // (`Signed` and `CsrfForm`): the session is read once a request.
        if let Some(visitor) = parts.extensions.get::<Visitor>() {
            return Ok(visitor.clone());
        }
        let session_token = cookie(&parts.headers, SESSION_COOKIE);
        let form_token = cookie(&parts.headers, FORM_COOKIE)
            .filter(|t| t.len() == TOKEN_HEX && t.bytes().all(|b| b.is_ascii_hexdigit()));
        let mut visitor = Visitor {
            member: None,
            session: None,
            new_form_token: form_token.is_none(),
            form_token: Some(form_token.unwrap_or_else(random_hex)),
            flash: cookie(&parts.headers, FLASH_COOKIE).and_then(|text| Flash::read(&text)),
        };
        if let Some(token) = session_token {
            let session = state
                .store
                .session(&token, now_millis())
                .await
                .map_err(|err| PortalError::from(err).into_response())?;
            if let Some(session) = session {
                visitor.member = state
                    .store
                    .member(session.member_id)
                    .await
                    .map_err(|err| PortalError::from(err).into_response())?;
                visitor.session = visitor.member.as_ref().map(|_| session);
            }
        }
        parts.extensions.insert(visitor.clone());
        Ok(visitor)
    }
}

/// A visitor who is logged in; anyone else is sent to the log-in page,
/// and back here after.
#[derive(Debug, Clone)]
pub struct Signed {
    pub me: Member,
    pub visitor: Visitor,
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let visitor = Visitor::from_request_parts(parts, state).await?;
        match visitor.member.clone() {
            Some(me) => Ok(Signed { me, visitor }),
            None => {
                let back = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/");
                let next = if parts.method == axum::http::Method::GET {
                    back
                } else {
                    "/my"
                };
                Err(Redirect::to(&format!("/login?next={}", url_encode(next))).into_response())
            }
        }
    }
}

/// A logged-in member whose role is operator; others get a 403 page.
#[derive(Debug, Clone)]
pub struct OperatorSigned(pub Signed);

impl FromRequestParts<AppState> for OperatorSigned {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let signed = Signed::from_request_parts(parts, state).await?;
        if signed.visitor.is_operator() {
            Ok(OperatorSigned(signed))
        } else {
            Err(error_page(
                &signed.visitor,
                StatusCode::FORBIDDEN,
                "This page is the operator's. Log in with an operator account to see it.",
            ))
        }
    }
}

// ---------------------------------------------------------------- forms

/// A form posted with the right CSRF token for the visitor who posts it.
/// Anything else is refused before the form is read: a wrong or missing
/// token answers 403 and changes nothing.
#[derive(Debug)]
pub struct CsrfForm<T> {
    pub visitor: Visitor,
    pub form: T,
}

/// A form of nothing but its CSRF token: a button.
#[derive(Debug, serde::Deserialize)]
pub struct NoFields {}

#[derive(serde::Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

impl<T: DeserializeOwned> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let visitor = Visitor::from_request_parts(&mut parts, state).await?;
        let refuse = |status, text: &str| error_page(&visitor, status, text);
        let is_form = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if !is_form {
            return Err(refuse(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "This address takes the portal's forms (application/x-www-form-urlencoded).",
            ));
        }
        let body = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(|_| refuse(StatusCode::BAD_REQUEST, "The form could not be read."))?;
        if body.len() > MAX_FORM_BYTES {
            return Err(refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                "The form is too large.",
            ));
        }
        let field: CsrfField = serde_urlencoded::from_bytes(&body)
            .map_err(|_| refuse(StatusCode::BAD_REQUEST, "The form could not be read."))?;
        let expected = visitor.csrf();
        if expected.is_empty() || !constant_time_eq(field.csrf.as_bytes(), expected.as_bytes()) {
            return Err(refuse(
                StatusCode::FORBIDDEN,
                "This form has expired or did not come from this portal. Nothing was changed; \
                 open the page again and resend it.",
            ));
        }
        let form = serde_urlencoded::from_bytes(&body).map_err(|err| {
            refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!("The form is not what this page sends: {err}."),
            )
        })?;
        Ok(CsrfForm { visitor, form })
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

// ---------------------------------------------------------------- pages

/// What every page shows around its content.
#[derive(Debug, Clone)]
pub struct Chrome {
    pub title: String,
    /// The member logged in, by name.
    pub who: Option<String>,
    pub operator: bool,
    /// In a company (its own account, a member or an admin): the nav links
    /// the company page.
    pub company: bool,
    pub csrf: String,
    pub flash: Option<Flash>,
    /// The page's language: the member's, else English.
    pub lang: String,
}

impl Chrome {
    pub fn new(visitor: &Visitor, title: impl Into<String>) -> Chrome {
        let member = visitor.member.as_ref();
        Chrome {
            title: title.into(),
            who: member.map(|m| m.display_name.clone()),
            operator: visitor.is_operator(),
            company: member.is_some_and(|m| {
                m.kind == MemberKind::Company
                    || m.company_id.is_some()
                    || m.role == Role::CompanyAdmin
            }),
            csrf: visitor.csrf(),
            flash: visitor.flash.clone(),
            lang: member
                .and_then(|m| m.profile.language.clone())
                .unwrap_or_else(|| "en".to_owned()),
        }
    }
}

/// A one-line message shown once, on the page after a POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    pub error: bool,
    pub text: String,
}

impl Flash {
    pub fn ok(text: impl Into<String>) -> Flash {
        Flash {
            error: false,
            text: text.into(),
        }
    }

    pub fn error(text: impl Into<String>) -> Flash {
        Flash {
            error: true,
            text: text.into(),
        }
    }

    fn write(&self) -> String {
        let kind = if self.error { "e" } else { "o" };
        let text: String = self.text.chars().take(600).collect();
        format!("{kind}{}", url_encode(&text))
    }

    fn read(cookie: &str) -> Option<Flash> {
        let (kind, text) = cookie.split_at_checked(1)?;
        let text: String = url_decode(text)?.chars().take(600).collect();
        match kind {
            "e" => Some(Flash::error(text)),
            "o" => Some(Flash::ok(text)),
            _ => None,
        }
    }
}

/// Renders `page` for `visitor` with `status`: a new form token for an
/// anonymous visitor without one, and the flash, once shown, cleared.
pub fn render_with(visitor: &Visitor, status: StatusCode, page: &impl Template) -> Response {
    let html = match page.render() {
        Ok(html) => html,
        Err(err) => {
            tracing::error!(error = %err, "a portal page failed to render");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page could not be shown; the server log has the details.",
            )
                .into_response();
        }
    };
    let mut response = (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    if visitor.flash.is_some() {
        set_cookie(headers, FLASH_COOKIE, "", Some(0));
    }
    if visitor.session.is_none() && visitor.new_form_token {
        // The token in the page's forms is the one this cookie sets.
        set_cookie(headers, FORM_COOKIE, &visitor.csrf(), None);
    }
    response
}

pub fn render(visitor: &Visitor, page: &impl Template) -> Response {
    render_with(visitor, StatusCode::OK, page)
}

/// 303 to `to`, with `flash` to show there.
pub fn see_other(to: &str, flash: Flash) -> Response {
    let mut response = Redirect::to(to).into_response();
    set_cookie(response.headers_mut(), FLASH_COOKIE, &flash.write(), None);
    response
}

/// 303 to `to` saying what was done, or back to `back` saying what went
/// wrong: the POST's answer.
pub fn after<T>(
    result: Result<T, impl Into<PortalError>>,
    to: &str,
    back: &str,
    said: impl FnOnce(T) -> String,
) -> Response {
    match result {
        Ok(value) => see_other(to, Flash::ok(said(value))),
        Err(err) => see_other(back, Flash::error(err.into().detail)),
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    page: Chrome,
    reason: &'a str,
    text: &'a str,
}

/// A page saying what went wrong, with `status`.
pub fn error_page(visitor: &Visitor, status: StatusCode, text: &str) -> Response {
    let page = ErrorPage {
        page: Chrome::new(visitor, status.canonical_reason().unwrap_or("Error")),
        reason: status.canonical_reason().unwrap_or("Error"),
        text,
    };
    render_with(visitor, status, &page)
}

/// Why a portal action failed: the API's reasons, in the API's words.
#[derive(Debug)]
pub struct PortalError {
    pub status: StatusCode,
    pub detail: String,
}

impl From<ApiError> for PortalError {
    fn from(err: ApiError) -> PortalError {
        let (status, detail) = err.status_and_detail();
        PortalError {
            status,
            detail: sentence(&detail),
        }
    }
}

impl From<StoreError> for PortalError {
    fn from(err: StoreError) -> PortalError {
        ApiError::Store(err).into()
    }
}

impl IntoResponse for PortalError {
    fn into_response(self) -> Response {
        (self.status, self.detail).into_response()
    }
}

/// A reason as people read it: a capital first letter and a full stop.
fn sentence(detail: &str) -> String {
    let mut chars = detail.chars();
    let mut text: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => return String::new(),
    };
    if !text.ends_with(['.', '!', '?', ')']) {
        text.push('.');
    }
    text
}

// ---------------------------------------------------------------- cookies

const TOKEN_HEX: usize = 64;

fn random_hex() -> String {
    let mut bytes = [0u8; TOKEN_HEX / 2];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let mut out = String::with_capacity(TOKEN_HEX);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// The value of cookie `name` in the request, if sent once or more (the
/// first wins).
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim_matches('"').to_owned())
}

/// Adds a `Set-Cookie`: HttpOnly, SameSite=Lax, for the whole site;
/// `max_age` in seconds (0 deletes it), none for a browser session.
fn set_cookie(headers: &mut HeaderMap, name: &str, value: &str, max_age: Option<u32>) {
    let mut text = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if let Some(age) = max_age {
        let _ = write!(text, "; Max-Age={age}");
    }
    if let Ok(value) = HeaderValue::from_str(&text) {
        headers.append(header::SET_COOKIE, value);
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
pub fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

fn url_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A `next` address to go back to after log-in: only a path on this site.
fn local_path(next: Option<&str>) -> &str {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && !path.chars().any(char::is_control) =>
        {
            path
        }
        _ => "/my",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flash_survives_its_cookie_and_a_forged_one_is_dropped() {
        for flash in [
            Flash::ok("Number 02-6200-6200-082 is yours."),
            Flash::error("Ünïcode; semicolons, \"quotes\" and = signs"),
        ] {
            assert_eq!(Flash::read(&flash.write()), Some(flash));
        }
        for forged in ["", "x", "zhello", "e%ZZ", "o%FF%FE"] {
            assert_eq!(Flash::read(forged), None, "{forged}");
        }
    }

    #[test]
    fn only_a_path_on_this_site_is_a_place_to_go_back_to() {
        assert_eq!(
            local_path(Some("/numbers?country=KR")),
            "/numbers?country=KR"
        );
        for away in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "javascript:alert(1)",
            "/my\r\nSet-Cookie: x=y",
        ] {
            assert_eq!(local_path(Some(away)), "/my", "{away}");
        }
        assert_eq!(local_path(None), "/my");
    }

    #[tokio::test]
    async fn behind_a_tls_proxy_every_cookie_is_secure() {
        use tower::ServiceExt;
        let app = axum::Router::new()
            .route(
                "/",
                get(|| async {
                    let mut response = Response::new(axum::body::Body::empty());
                    set_cookie(response.headers_mut(), "a", "1", None);
                    set_cookie(response.headers_mut(), "b", "2", Some(0));
                    response
                }),
            )
            .layer(axum::middleware::from_fn(secure_cookies));
        for (proto, secure) in [(Some("https"), true), (Some("http"), false), (None, false)] {
            let mut request = axum::http::Request::builder().uri("/");
            if let Some(proto) = proto {
                request = request.header("x-forwarded-proto", proto);
            }
            let response = app
                .clone()
                .oneshot(request.body(axum::body::Body::empty()).unwrap())
                .await
                .unwrap();
            let cookies: Vec<&str> = response
                .headers()
                .get_all(header::SET_COOKIE)
                .iter()
                .map(|v| v.to_str().unwrap())
                .collect();
            assert_eq!(cookies.len(), 2, "{proto:?}");
            for cookie in cookies {
                assert_eq!(cookie.ends_with("; Secure"), secure, "{proto:?}: {cookie}");
            }
        }
    }

    #[test]
    fn cookies_are_read_by_name() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; callex_session=abc; callex_sessionx=no"),
        );
        assert_eq!(cookie(&headers, "callex_session").as_deref(), Some("abc"));
        assert_eq!(cookie(&headers, "missing"), None);
    }

    #[test]
    fn a_reason_reads_as_a_sentence() {
        assert_eq!(sentence("number 123 is held"), "Number 123 is held.");
        assert_eq!(sentence("Done."), "Done.");
        assert_eq!(sentence(""), "");
    }
}
