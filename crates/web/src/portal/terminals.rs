//! My terminals: each number's SIP account, the phones registered with it
//! now, and its provisioning profile (the "flash card"): a new SIP
//! password with links a softphone imports it from.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use store::orders::{clock_utc, shown};
use store::prelude::*;
use store::{now_millis, HeldNumber};

use super::{error_page, render_with, see_other, Chrome, CsrfForm, Flash, PortalError, Signed};
use crate::provisioning::{
    aor, issue_for_request, linphone_import_uri, request_host, DeviceView, SipServer,
};
use crate::AppState;

#[derive(Debug, Clone)]
struct Device {
    user_agent: String,
    source: String,
    transport: String,
    until: String,
}

#[derive(Debug, Clone)]
struct Terminal {
    number: String,
    key: String,
    sip_address: String,
    devices: Vec<Device>,
}

/// A profile just issued, shown on this page only.
#[derive(Debug, Clone)]
struct Issued {
    number: String,
    username: String,
    password: String,
    realm: String,
    link: String,
    linphone_uri: String,
    until: String,
}

#[derive(Template)]
#[template(path = "terminals.html")]
struct TerminalsPage {
    page: Chrome,
    host: String,
    endpoints: Vec<String>,
    terminals: Vec<Terminal>,
    issued: Option<Issued>,
}

fn endpoints(server: &SipServer) -> Vec<String> {
    server
        .endpoints
        .iter()
        .map(|(transport, port)| format!("{} port {port}", transport.name()))
        .collect()
}

async fn terminals_page(
    state: &AppState,
    signed: &Signed,
    headers: &HeaderMap,
    issued: Option<Issued>,
) -> Response {
    let now = now_millis();
    let loaded = async {
        let mut terminals = Vec::new();
        for held in state.store.numbers_of(signed.me.id).await? {
            terminals.push(terminal(state, &held, now).await?);
        }
        Ok::<_, StoreError>(terminals)
    }
    .await;
    let terminals = match loaded {
        Ok(terminals) => terminals,
        Err(err) => {
            let err = PortalError::from(err);
            return error_page(&signed.visitor, err.status, &err.detail);
        }
    };
    let server = state
        .provisioning
        .server(request_host(headers), &state.realm);
    let status = if issued.is_some() {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let page = TerminalsPage {
        page: Chrome::new(&signed.visitor, "My terminals"),
        host: server.host.clone(),
        endpoints: endpoints(&server),
        terminals,
        issued,
    };
    render_with(&signed.visitor, status, &page)
}

async fn terminal(state: &AppState, held: &HeldNumber, now: i64) -> Result<Terminal, StoreError> {
    let bindings = state
        .store
        .bindings(&aor(&held.number, &state.realm), now)
        .await?;
    Ok(Terminal {
        number: shown(&held.number),
        key: held.number.clone(),
        sip_address: aor(&held.number, &state.realm),
        devices: bindings
            .into_iter()
            .map(DeviceView::from)
            .map(|device| Device {
                user_agent: device.user_agent,
                source: device.source,
                transport: device.transport.to_ascii_uppercase(),
                until: clock_utc(device.expires_at, now),
            })
            .collect(),
    })
}

pub async fn page(State(state): State<AppState>, signed: Signed, headers: HeaderMap) -> Response {
    terminals_page(&state, &signed, &headers, None).await
}

#[derive(Debug, Deserialize)]
pub struct ProfileForm {
    #[serde(default)]
    number: String,
}

/// A new SIP password for one of my numbers, and its profile's links.
pub async fn new_profile(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    posted: CsrfForm<ProfileForm>,
) -> Response {
    let now = now_millis();
    let issued = issue_for_request(&state, &headers, signed.me.id, &posted.form.number, now).await;
    match issued {
        Ok((issued, link)) => {
            let shown = Issued {
                number: issued.profile.number.clone(),
                username: issued.profile.username.clone(),
                password: issued.profile.password.clone(),
                realm: issued.profile.realm.clone(),
                linphone_uri: linphone_import_uri(&format!("{link}.xml")),
                link,
                until: clock_utc(issued.expires_at, now),
            };
            terminals_page(&state, &signed, &headers, Some(shown)).await
        }
        Err(err) => see_other("/my/terminals", Flash::error(PortalError::from(err).detail)),
    }
}
