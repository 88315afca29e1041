//! My account: contact details and language, the password, the prepaid
//! balance with its ledger, and API tokens for scripts.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use store::now_millis;
use store::orders::clock_utc;
use store::prelude::*;
use store::{Balance, MemberProfile, MemberToken, Orders};

use super::{
    after, error_page, render_with, set_cookie, Chrome, CsrfForm, Flash, NoFields, PortalError,
    Signed, SESSION_COOKIE,
};
use crate::accounts::replace_password;
use crate::AppState;

#[derive(Debug, Clone)]
struct LedgerRow {
    at: String,
    what: String,
    amount: String,
    order: Option<i64>,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    page: Chrome,
    me: &'a store::Member,
    email: String,
    balances: Vec<Balance>,
    ledger: Vec<LedgerRow>,
    tokens: Vec<MemberToken>,
    /// A token just created: shown on this page only.
    new_token: Option<(String, String)>,
}

async fn account_page(
    state: &AppState,
    signed: &Signed,
    new_token: Option<(String, String)>,
) -> Response {
    let me = &signed.me;
    let now = now_millis();
    let loaded = async {
        let balances = state.store.balances(me.id).await?;
        let ledger = state.store.ledger(me.id).await?;
        let tokens = state.store.member_tokens(me.id).await?;
        Ok::<_, StoreError>((balances, ledger, tokens))
    }
    .await;
    let (balances, ledger, tokens) = match loaded {
        Ok(loaded) => loaded,
        Err(err) => {
            let err = PortalError::from(err);
            return error_page(&signed.visitor, err.status, &err.detail);
        }
    };
    let page = AccountPage {
        page: Chrome::new(&signed.visitor, "My account"),
        me,
        email: me.email.clone().unwrap_or_default(),
        balances,
        ledger: ledger
            .into_iter()
            .rev()
            .map(|entry| LedgerRow {
                at: clock_utc(entry.at, now),
                what: entry
                    .description
                    .clone()
                    .unwrap_or_else(|| entry.kind.to_string().replace('_', " ")),
                amount: format!("{} {}", entry.amount, entry.currency),
                order: entry.order_id,
            })
            .collect(),
        tokens,
        new_token,
    };
    let status = if page.new_token.is_some() {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    render_with(&signed.visitor, status, &page)
}

pub async fn page(State(state): State<AppState>, signed: Signed) -> Response {
    account_page(&state, &signed, None).await
}

#[derive(Debug, Deserialize)]
pub struct ProfileForm {
    #[serde(default)]
    language: String,
    #[serde(default)]
    contact_pstn: String,
    #[serde(default)]
    voip_elsewhere: String,
}

fn given(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|t| !t.is_empty())
}

pub async fn save_profile(
    State(state): State<AppState>,
    signed: Signed,
    posted: CsrfForm<ProfileForm>,
) -> Response {
    let form = posted.form;
    let profile = MemberProfile {
        language: given(&form.language),
        contact_pstn: given(&form.contact_pstn),
        voip_elsewhere: given(&form.voip_elsewhere),
    };
    let saved = state.store.set_profile(signed.me.id, &profile).await;
    after(saved, "/my/account", "/my/account", |_| {
        "Your details are saved.".to_owned()
    })
}

#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_again: String,
}

pub async fn change_password(
    State(state): State<AppState>,
    signed: Signed,
    posted: CsrfForm<PasswordForm>,
) -> Response {
    let form = posted.form;
    let changed = async {
        if form.password != form.password_again {
            return Err(PortalError {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                detail: "The two new passwords differ; type the same one twice.".to_owned(),
            });
        }
        // Every session, this one included, ends with the old password.
        replace_password(
            &state.store,
            signed.me.id,
            Some(form.current.clone()),
            form.password.clone(),
        )
        .await?;
        Ok(())
    }
    .await;
    match changed {
        Ok(()) => {
            let mut response = super::see_other(
                "/login",
                Flash::ok("Your password is changed. Log in with the new one."),
            );
            set_cookie(response.headers_mut(), SESSION_COOKIE, "", Some(0));
            response
        }
        Err(err) => super::see_other("/my/account", Flash::error(err.detail)),
    }
}

#[derive(Debug, Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    name: String,
}

pub async fn create_token(
    State(state): State<AppState>,
    signed: Signed,
    posted: CsrfForm<TokenForm>,
) -> Response {
    match state
        .store
        .create_member_token(signed.me.id, posted.form.name.trim())
        .await
    {
        Ok(created) => {
            let shown = Some((created.info.name, created.plaintext));
            account_page(&state, &signed, shown).await
        }
        Err(err) => super::see_other("/my/account", Flash::error(PortalError::from(err).detail)),
    }
}

pub async fn revoke_token(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<i64>,
    _posted: CsrfForm<NoFields>,
) -> Response {
    let revoked = state
        .store
        .revoke_member_token(signed.me.id, id)
        .await
        .map_err(PortalError::from)
        .and_then(|found| {
            if found {
                Ok(())
            } else {
                Err(PortalError {
                    status: StatusCode::NOT_FOUND,
                    detail: format!("You have no API token {id}."),
                })
            }
        });
    after(revoked, "/my/account", "/my/account", |()| {
        "The token is revoked: scripts using it are refused from now on.".to_owned()
    })
}
