//! Errors as RFC 9457 problem details: the one place that decides what
//! status code and body a failure gets.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use store::StoreError;
use utoipa::ToSchema;

/// The media type of a problem document (RFC 9457 §3).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// Always `about:blank`: the status code says what kind of problem.
    #[serde(rename = "type")]
    #[schema(example = "about:blank")]
    pub kind: String,
    /// The status code's phrase.
    #[schema(example = "Conflict")]
    pub title: String,
    pub status: u16,
    /// What went wrong, in words a person can act on.
    #[schema(example = "number 0262006200082 is held by member 7")]
    pub detail: String,
}

/// Why a request failed.
#[derive(Debug)]
pub enum ApiError {
    /// No token, or not a current operator token.
    Unauthorized(&'static str),
    /// The request itself is malformed (bad JSON, a path or query that does
    /// not parse), with the status the extractor chose.
    Rejected { status: StatusCode, detail: String },
    /// A field is out of range before anything reaches the store.
    Invalid(String),
    /// The caller's token is good, but not for this action.
    Forbidden(String),
    /// The store refused or failed.
    Store(StoreError),
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> ApiError {
        ApiError::Store(err)
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> ApiError {
        ApiError::Rejected {
            status: rejection.status(),
            detail: rejection.body_text(),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> ApiError {
        ApiError::Rejected {
            status: rejection.status(),
            detail: rejection.body_text(),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> ApiError {
        ApiError::Rejected {
            status: rejection.status(),
            detail: rejection.body_text(),
        }
    }
}

impl ApiError {
    pub(crate) fn status_and_detail(self) -> (StatusCode, String) {
        match self {
            ApiError::Unauthorized(why) => (StatusCode::UNAUTHORIZED, why.to_owned()),
            ApiError::Rejected { status, detail } => (status, detail),
            ApiError::Invalid(detail) => (StatusCode::UNPROCESSABLE_ENTITY, detail),
            ApiError::Forbidden(detail) => (StatusCode::FORBIDDEN, detail),
            ApiError::Store(err) => match err {
                StoreError::NotFound { .. } => (StatusCode::NOT_FOUND, err.to_string()),
                StoreError::Conflict { .. } => (StatusCode::CONFLICT, err.to_string()),
                StoreError::Invalid { .. } => (StatusCode::UNPROCESSABLE_ENTITY, err.to_string()),
                StoreError::Open { .. } | StoreError::Migrate { .. } | StoreError::Database(_) => {
                    // The details may name hosts and files: they are for
                    // the operator's log, not the client.
                    tracing::error!(error = %err, "store failed while serving an API request");
                    (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "the store failed; the server log has the details".to_owned(),
                    )
                }
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let unauthorized = matches!(self, ApiError::Unauthorized(_));
        let (status, detail) = self.status_and_detail();
        let mut response = problem(status, detail);
        if unauthorized {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"callex\""),
            );
        }
        response
    }
}

/// What a failure says, for a reader other than an HTTP client (the
/// command line).
pub fn detail(err: ApiError) -> String {
    err.status_and_detail().1
}

/// A problem response with `status` and `detail`.
pub fn problem(status: StatusCode, detail: String) -> Response {
    let body = Problem {
        kind: "about:blank".to_owned(),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail,
    };
    let mut response = (status, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    response
}

/// `axum::Json`, failing with a problem document.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// `axum::extract::Path`, failing with a problem document.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// `axum::extract::Query`, failing with a problem document.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);
