//! The number directory over HTTP (SPEC §7): what a number lists — its
//! holder's SIP address, home page and mailbox — as the same ENUM records
//! the DNS directory serves, and the short link `/n/{number}` that takes a
//! browser to the home page.
//!
//! A number may be written any way a person writes it (`02-6200-6200-082`,
//! `6200-6200%23082`, `+82 2 6200 6200`): the numbering rules give the
//! numbers a written form may mean, most likely first, and the first that
//! someone holds is the one meant.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use store::prelude::*;
use store::{DirectoryListing, EnumRecord};
use utoipa::ToSchema;

use crate::problem::{ApiError, ApiJson, ApiPath, Problem};
use crate::AppState;

// ---------------------------------------------------------------- bodies

/// What a number lists; a field left out or `null` is not listed. A PUT
/// replaces all three.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DirectoryEntriesBody {
    /// A `sip:` or `sips:` URI.
    #[schema(example = "sip:alice@example.com")]
    pub sip: Option<String>,
    /// The home page: an `http://` or `https://` URL.
    #[schema(example = "https://alice.example.com/")]
    pub web: Option<String>,
    /// The mailbox: an e-mail address, without `mailto:`.
    #[schema(example = "alice@example.com")]
    pub email: Option<String>,
}

/// One directory record: a NAPTR record of the DNS directory (flags `u`,
/// regexp `!^.*$!URI!`, replacement `.`), as JSON.
#[derive(Debug, Serialize, ToSchema)]
pub struct DirectoryRecord {
    #[schema(example = 100)]
    pub order: u16,
    /// Lower first, among records of the same order.
    #[schema(example = 10)]
    pub preference: u16,
    /// The ENUM service: `E2U+sip`, `E2U+web:http`, `E2U+web:https` or
    /// `E2U+email:mailto`.
    #[schema(example = "E2U+sip")]
    pub service: String,
    #[schema(example = "sip:alice@example.com")]
    pub uri: String,
}

impl From<EnumRecord> for DirectoryRecord {
    fn from(record: EnumRecord) -> DirectoryRecord {
        DirectoryRecord {
            order: record.order,
            preference: record.preference,
            service: record.service.to_owned(),
            uri: record.uri,
        }
    }
}

/// What a number resolves to.
#[derive(Debug, Serialize, ToSchema)]
pub struct DirectoryView {
    /// The number as it is written canonically.
    #[schema(example = "02-6200-6200-082")]
    pub number: String,
    /// The number's key: the SIP username of a PIN or VNS.
    #[schema(example = "0262006200082")]
    pub key: String,
    /// In preference order; empty when the holder lists nothing.
    pub records: Vec<DirectoryRecord>,
}

/// A member's number and what it lists, after a change.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberDirectoryView {
    #[schema(example = "02-6200-6200-082")]
    pub number: String,
    #[schema(example = "0262006200082")]
    pub key: String,
    pub member_id: i64,
    pub sip: Option<String>,
    pub web: Option<String>,
    pub email: Option<String>,
    /// What the directory now serves for the number, over DNS and HTTP.
    pub records: Vec<DirectoryRecord>,
}

// ---------------------------------------------------------------- resolving

/// A held number as the path named it.
struct Resolved {
    number: numbering::Number,
    listing: DirectoryListing,
}

/// Why a written number resolves to no held number.
enum Unresolved {
    /// Not a number at all: what is wrong with it.
    NotANumber(String),
    /// A number nobody holds.
    Unknown(String),
    Store(StoreError),
}

impl From<StoreError> for Unresolved {
    fn from(err: StoreError) -> Unresolved {
        Unresolved::Store(err)
    }
}

impl From<Unresolved> for ApiError {
    fn from(unresolved: Unresolved) -> ApiError {
        match unresolved {
            Unresolved::NotANumber(detail) => ApiError::Rejected {
                status: StatusCode::BAD_REQUEST,
                detail,
            },
            Unresolved::Unknown(detail) => ApiError::Rejected {
                status: StatusCode::NOT_FOUND,
                detail,
            },
            Unresolved::Store(err) => err.into(),
        }
    }
}

/// Every number `written` may mean that someone holds, most likely first.
async fn held(store: &Store, written: &str) -> Result<Vec<Resolved>, Unresolved> {
    let shown = shown(written);
    let candidates = numbering::candidates(written)
        .map_err(|err| Unresolved::NotANumber(format!("{shown} is not a number: {err}")))?;
    let mut found = Vec::new();
    for number in candidates {
        if let Some(listing) = store.directory_listing(&number.key()).await? {
            found.push(Resolved { number, listing });
        }
    }
    if found.is_empty() {
        return Err(Unresolved::Unknown(format!("nobody holds number {shown}")));
    }
    Ok(found)
}

/// The number `written` means: the first of its readings someone holds.
async fn resolve(store: &Store, written: &str) -> Result<Resolved, Unresolved> {
    Ok(held(store, written).await?.swap_remove(0))
}

/// A path segment quoted for a message, short whatever was sent.
fn shown(written: &str) -> String {
    const SHOWN: usize = 40;
    let mut text: String = written.chars().take(SHOWN).collect();
    if written.chars().count() > SHOWN {
        text.push('…');
    }
    format!("{text:?}")
}

fn records(listing: &DirectoryListing) -> Vec<DirectoryRecord> {
    listing
        .entries
        .records()
        .into_iter()
        .map(DirectoryRecord::from)
        .collect()
}

// ---------------------------------------------------------------- handlers

/// Sets what one of a member's numbers lists in the directory, replacing
/// all three entries (leave one out to stop listing it). Served over DNS
/// and HTTP within a tenth of a second.
#[utoipa::path(
    put, path = "/api/v1/members/{id}/numbers/{number}/directory", tag = "directory",
    params(
        ("id" = i64, Path, description = "The member's id"),
        ("number" = String, Path, description = "One of the member's numbers, written any way \
            (`02-6200-6200-082`, `6200-6200%23082`, `+82262006200`)"),
    ),
    request_body = DirectoryEntriesBody,
    security(("operator_token" = [])),
    responses(
        (status = 200, body = MemberDirectoryView),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "Not JSON, or not a number"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such member, or not a number of theirs"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "An entry is invalid"),
    )
)]
pub async fn set_directory(
    State(state): State<AppState>,
    ApiPath((id, written)): ApiPath<(i64, String)>,
    ApiJson(body): ApiJson<DirectoryEntriesBody>,
) -> Result<Json<MemberDirectoryView>, ApiError> {
    let member = MemberId(id);
    if state.store.member(member).await?.is_none() {
        return Err(StoreError::NotFound {
            what: format!("member {id} does not exist"),
        }
        .into());
    }
    let mut found = held(&state.store, &written).await?;
    // The member's own reading first; otherwise the store names the holder
    // of the most likely one. `held` returns at least one, so either index
    // is in bounds.
    let index = found
        .iter()
        .position(|r| r.listing.holder == member)
        .unwrap_or(0);
    let Resolved { number, listing } = found.swap_remove(index);
    let entries = DirectoryEntries {
        sip: body.sip,
        web: body.web,
        email: body.email,
    };
    let stored = state
        .store
        .set_directory_entries(&listing.number, member, &entries)
        .await?;
    Ok(Json(MemberDirectoryView {
        number: number.to_string(),
        records: records(&stored),
        key: stored.number,
        member_id: stored.holder.0,
        sip: stored.entries.sip,
        web: stored.entries.web,
        email: stored.entries.email,
    }))
}

/// What a number resolves to: the records the DNS directory serves for
/// it. Public: needs no token.
#[utoipa::path(
    get, path = "/api/v1/directory/{number}", tag = "directory",
    params(("number" = String, Path, description = "A number written any way \
        (`02-6200-6200-082`, `6200-6200%23082`, `+82262006200`)")),
    responses(
        (status = 200, body = DirectoryView),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "Not a number"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "Nobody holds it"),
    )
)]
pub async fn get_directory(
    State(state): State<AppState>,
    ApiPath(written): ApiPath<String>,
) -> Result<Json<DirectoryView>, ApiError> {
    let Resolved { number, listing } = resolve(&state.store, &written).await?;
    Ok(Json(DirectoryView {
        number: number.to_string(),
        records: records(&listing),
        key: listing.number,
    }))
}

/// The short link: a browser is sent (303) to the number's home page, or
/// shown a small page saying there is none.
#[utoipa::path(
    get, path = "/n/{number}", tag = "directory",
    params(("number" = String, Path, description = "A number written any way")),
    responses(
        (status = 303, description = "To the holder's home page (Location)"),
        (status = 400, description = "Not a number (an HTML page)", content_type = "text/html"),
        (status = 404, description = "Nobody holds it, or it has no home page (an HTML page)", content_type = "text/html"),
    )
)]
pub async fn short_link(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let Ok(Path(written)) = path else {
        return page(
            StatusCode::BAD_REQUEST,
            "Not a number",
            "This link does not name a number.",
        );
    };
    match resolve(&state.store, &written).await {
        Ok(Resolved { number, listing }) => match listing.entries.web {
            Some(url) => match HeaderValue::from_str(&url) {
                // Stored URLs are ASCII without controls: always a value.
                Ok(location) => {
                    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
                }
                Err(_) => page(
                    StatusCode::NOT_FOUND,
                    "No home page",
                    &format!("Number {number} has no home page."),
                ),
            },
            None => page(
                StatusCode::NOT_FOUND,
                "No home page",
                &format!("Number {number} has no home page."),
            ),
        },
        Err(Unresolved::NotANumber(_)) => page(
            StatusCode::BAD_REQUEST,
            "Not a number",
            &format!("{} is not a number.", shown(&written)),
        ),
        Err(Unresolved::Unknown(_)) => page(
            StatusCode::NOT_FOUND,
            "Unknown number",
            &format!("Nobody holds number {}.", shown(&written)),
        ),
        Err(Unresolved::Store(err)) => {
            tracing::error!(error = %err, "store failed while serving a short link");
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Try again later",
                "The directory cannot be read just now.",
            )
        }
    }
}

/// A small page a browser shows instead of a home page.
fn page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>{title} — Callex</title></head>\n\
         <body><h1>{title}</h1>\n<p>{message}</p></body>\n</html>\n",
        title = escape_html(title),
        message = escape_html(message),
    );
    (status, Html(body)).into_response()
}

fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_escape_what_they_echo() {
        assert_eq!(
            escape_html("<script>\"x\" & 'y'</script>"),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn echoed_input_is_quoted_and_cut_short() {
        assert_eq!(shown("4420"), "\"4420\"");
        let long = shown(&"9".repeat(500));
        assert!(long.chars().count() < 50, "{long}");
        assert!(long.contains('…'));
    }
}
