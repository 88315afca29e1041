//! Signing up, logging in and out.

use std::time::Instant;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use store::accounts::language_tag;
use store::accounts::SESSION_MS;
use store::now_millis;
use store::prelude::*;
use store::{Accounts, MemberProfile, Role, Sessions};

use super::{
    cookie, local_path, render, render_with, see_other, set_cookie, Chrome, CsrfForm, Flash,
    PortalError, Visitor, SESSION_COOKIE,
};
use crate::accounts::{check_password_length, hash_password, password_matches};
use crate::AppState;

#[derive(Debug, Default, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct SignupForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_again: String,
    #[serde(default)]
    country: String,
    #[serde(default)]
    language: String,
}

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage<'a> {
    page: Chrome,
    form: &'a SignupForm,
    error: Option<String>,
}

pub async fn signup_page(visitor: Visitor) -> Response {
    let form = SignupForm {
        kind: "individual".to_owned(),
        language: "en".to_owned(),
        ..SignupForm::default()
    };
    let page = SignupPage {
        page: Chrome::new(&visitor, "Sign up"),
        form: &form,
        error: None,
    };
    render(&visitor, &page)
}

pub async fn signup(State(state): State<AppState>, posted: CsrfForm<SignupForm>) -> Response {
    let CsrfForm { visitor, form } = posted;
    match register(&state, &form).await {
        Ok(member) => logged_in(&state, member.id, "/my", Flash::ok(welcome(&member))).await,
        Err(err) => {
            let page = SignupPage {
                page: Chrome::new(&visitor, "Sign up"),
                form: &SignupForm {
                    password: String::new(),
                    password_again: String::new(),
                    ..form
                },
                error: Some(err.detail),
            };
            render_with(&visitor, err.status, &page)
        }
    }
}

fn welcome(member: &store::Member) -> String {
    format!(
        "Welcome, {}. Your account is open: find a number to buy below, or top up your balance \
         with the operator first.",
        member.display_name
    )
}

/// Checks the whole form, then writes: a member, their password's hash and
/// their language.
async fn register(state: &AppState, form: &SignupForm) -> Result<store::Member, PortalError> {
    let kind = match form.kind.as_str() {
        "individual" => MemberKind::Individual,
        "company" => MemberKind::Company,
        _ => {
            return Err(invalid(
                "Choose whether the account is a person's or a company's.",
            ))
        }
    };
    let email = form.email.trim();
    if email.is_empty() {
        return Err(invalid("Give an e-mail address: it is how you log in."));
    }
    let new = NewMember {
        kind,
        display_name: form.name.trim().to_owned(),
        email: Some(email.to_owned()),
        country: form.country.trim().to_owned(),
    };
    new.validate()?;
    crate::operator::known_country(&new.country)
        .map_err(|reason| invalid(&super::sentence(&reason)))?;
    let language = match form.language.trim() {
        "" => None,
        tag => Some(language_tag(tag)?),
    };
    check_password_length(&form.password)?;
    if form.password != form.password_again {
        return Err(invalid(
            "The two passwords differ; type the same one twice.",
        ));
    }
    if state.store.member_by_email(email).await?.is_some() {
        return Err(PortalError {
            status: StatusCode::CONFLICT,
            detail: format!(
                "An account with the e-mail address {email} exists already. Log in instead."
            ),
        });
    }
    let phc = hash_password(form.password.clone()).await?;
    let profile = MemberProfile {
        language,
        ..MemberProfile::default()
    };
    // One transaction: a failure leaves no account without its password.
    Ok(state
        .store
        .open_account(&new, &phc, &profile, Role::Member)
        .await?)
}

fn invalid(detail: &str) -> PortalError {
    PortalError {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        detail: detail.to_owned(),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    page: Chrome,
    email: &'a str,
    next: &'a str,
    error: Option<&'a str>,
}

pub async fn login_page(visitor: Visitor, Query(query): Query<NextQuery>) -> Response {
    let page = LoginPage {
        page: Chrome::new(&visitor, "Log in"),
        email: "",
        next: local_path(query.next.as_deref()),
        error: None,
    };
    render(&visitor, &page)
}

pub async fn login(State(state): State<AppState>, posted: CsrfForm<LoginForm>) -> Response {
    let CsrfForm { visitor, form } = posted;
    let next = local_path(form.next.as_deref());
    let email = form.email.trim();
    let shown_again = |status, error: &str| {
        let page = LoginPage {
            page: Chrome::new(&visitor, "Log in"),
            email,
            next,
            error: Some(error),
        };
        render_with(&visitor, status, &page)
    };
    if let Some(wait) = state.logins.wait(email, Instant::now()) {
        let minutes = wait.as_secs().div_ceil(60);
        return shown_again(
            StatusCode::TOO_MANY_REQUESTS,
            &format!(
                "Too many wrong passwords for this address. Try again in {minutes} minute{}.",
                if minutes == 1 { "" } else { "s" }
            ),
        );
    }
    match check_login(&state, &form).await {
        Ok(Some(member)) => {
            state.logins.succeeded(email);
            let hello = Flash::ok(format!("Logged in as {}.", member.display_name));
            logged_in(&state, member.id, next, hello).await
        }
        Ok(None) => {
            state.logins.failed(email, Instant::now());
            shown_again(
                StatusCode::UNAUTHORIZED,
                "That e-mail address and password do not match an account.",
            )
        }
        Err(err) => super::error_page(&visitor, err.status, &err.detail),
    }
}

/// The member these credentials are, if they are.
async fn check_login(
    state: &AppState,
    form: &LoginForm,
) -> Result<Option<store::Member>, PortalError> {
    let email = form.email.trim();
    let member = if email.is_empty() || email.len() > store::limits::EMAIL {
        None
    } else {
        state.store.member_by_email(email).await?
    };
    let phc = match &member {
        Some(member) => state.store.password_hash(member.id).await?,
        None => None,
    };
    match phc {
        Some(phc) => {
            let matches = password_matches(form.password.clone(), phc).await;
            Ok(member.filter(|_| matches))
        }
        None => {
            // Unknown accounts take as long as wrong passwords.
            let _ = hash_password(form.password.clone()).await;
            Ok(None)
        }
    }
}

/// Opens a session and goes to `to` with its cookie.
async fn logged_in(state: &AppState, member: MemberId, to: &str, flash: Flash) -> Response {
    match state
        .store
        .open_session(member, now_millis(), SESSION_MS)
        .await
    {
        Ok(opened) => {
            let mut response = see_other(to, flash);
            set_cookie(
                response.headers_mut(),
                SESSION_COOKIE,
                &opened.token,
                Some((SESSION_MS / 1000) as u32),
            );
            response
        }
        Err(err) => {
            let err = PortalError::from(err);
            see_other("/login", Flash::error(err.detail))
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct LogoutForm {}

pub async fn logout(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    _posted: CsrfForm<LogoutForm>,
) -> Response {
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        if let Err(err) = state.store.close_session(&token).await {
            return see_other("/my", Flash::error(PortalError::from(err).detail));
        }
    }
    let mut response = see_other("/", Flash::ok("Logged out."));
    set_cookie(response.headers_mut(), SESSION_COOKIE, "", Some(0));
    response
}
