//! One in-process request to the router, as the API tests send them;
//! [`portal`], a browser for the portal's pages; and [`peers`], the DNS
//! server and SMTP relay the claims' checks reach.

#![allow(dead_code)] // each test binary uses its own part of this

pub mod peers;
pub mod portal;

use axum::body::{to_bytes, Body};
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use serde_json::Value;
use tower::ServiceExt;

/// What the router answered: the body as JSON (`Null` when it is not).
pub struct Answer {
    pub status: StatusCode,
    pub content_type: String,
    pub body: Value,
}

/// `method uri` with a bearer `token` and a JSON `body`, if given.
pub async fn send(
    router: &Router,
    method: Method,
    uri: &str,
    token: Option<&str>,
    body: Option<String>,
) -> Answer {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    if body.is_some() {
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    let request = request
        .body(Body::from(body.unwrap_or_default()))
        .expect("a request");
    let response = router.clone().oneshot(request).await.expect("an answer");
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = to_bytes(response.into_body(), 1 << 22)
        .await
        .expect("a body");
    Answer {
        status,
        content_type,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}
