//! The number directory over HTTP, through the router in process: setting
//! a member's entries, reading a number's records in any written form
//! without a token, the short link's redirect and pages, and bad input.

use axum::body::{to_bytes, Body};
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use store::prelude::*;
use tower::ServiceExt;

const PIN: &str = "0262006200082";
const VNS: &str = "62006200#082";
const E164: &str = "+82262006200";

struct Web {
    router: Router,
    store: Store,
    token: String,
    alice: i64,
    acme: i64,
    _dir: tempfile::TempDir,
}

/// Alice holds the PIN 02-6200-6200-082 and the E.164 number
/// +82 2 6200 6200, Acme the VNS 6200-6200#082 and the bare 6200-6200.
async fn web() -> Web {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = Store::open(dir.path().to_str().expect("a UTF-8 path"))
        .await
        .expect("open the store");
    let token = store
        .create_token("admin")
        .await
        .expect("a token")
        .plaintext;
    let mut members = Vec::new();
    for (name, kind) in [
        ("Alice", MemberKind::Individual),
        ("Acme", MemberKind::Company),
    ] {
        let member = store
            .add_member(&NewMember {
                kind,
                display_name: name.into(),
                email: None,
                country: "KR".into(),
            })
            .await
            .expect("a member");
        members.push(member.id);
    }
    store.grant(PIN, NumberKind::Pin, members[0]).await.unwrap();
    store
        .grant(E164, NumberKind::E164, members[0])
        .await
        .unwrap();
    store.grant(VNS, NumberKind::Vns, members[1]).await.unwrap();
    store
        .grant("62006200", NumberKind::Vns, members[1])
        .await
        .unwrap();
    Web {
        router: web::router(web::AppState::new(store.clone(), "callex")),
        store,
        token,
        alice: members[0].0,
        acme: members[1].0,
        _dir: dir,
    }
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    fn content_type(&self) -> &str {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    #[track_caller]
    fn assert_problem(&self, status: StatusCode, detail_contains: &str) {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(self.content_type(), "application/problem+json");
        let detail = self.json()["detail"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            detail.contains(detail_contains),
            "{detail:?} should say {detail_contains:?}"
        );
    }

    #[track_caller]
    fn assert_page(&self, status: StatusCode, says: &str) {
        assert_eq!(self.status, status, "{}", self.text);
        assert!(
            self.content_type().starts_with("text/html"),
            "{}",
            self.content_type()
        );
        assert!(
            self.text.contains(says),
            "{:?} should say {says:?}",
            self.text
        );
    }
}

impl Web {
    async fn send(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let response = self
            .router
            .clone()
            .oneshot(request.body(Body::from(body)).expect("a request"))
            .await
            .expect("an answer");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("a body");
        Reply {
            status,
            headers,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    /// A GET as the public sends it: no token.
    async fn get(&self, uri: &str) -> Reply {
        self.send(Method::GET, uri, None, None).await
    }

    async fn put_directory(&self, member: i64, number: &str, entries: Value) -> Reply {
        self.send(
            Method::PUT,
            &format!("/api/v1/members/{member}/numbers/{number}/directory"),
            Some(&self.token),
            Some(entries),
        )
        .await
    }
}

fn alices() -> Value {
    json!({
        "sip": "sip:alice@example.com",
        "web": "https://alice.example.com/",
        "email": "alice@example.com",
    })
}

fn services_and_uris(body: &Value) -> Vec<(String, String)> {
    body["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| {
            (
                r["service"].as_str().unwrap_or_default().to_owned(),
                r["uri"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_member_sets_entries_and_anyone_reads_them_in_any_written_form() {
    let web = web().await;
    let set = web
        .put_directory(web.alice, "02-6200-6200-082", alices())
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text);
    let body = set.json();
    assert_eq!(body["key"], PIN);
    assert_eq!(body["number"], "02-6200-6200-082");
    assert_eq!(body["member_id"], web.alice);
    assert_eq!(body["web"], "https://alice.example.com/");

    let expected = vec![
        ("E2U+sip".to_owned(), "sip:alice@example.com".to_owned()),
        (
            "E2U+web:https".to_owned(),
            "https://alice.example.com/".to_owned(),
        ),
        (
            "E2U+email:mailto".to_owned(),
            "mailto:alice@example.com".to_owned(),
        ),
    ];
    assert_eq!(services_and_uris(&body), expected);
    for written in [
        "02-6200-6200-082",
        PIN,
        "(02)%206200%206200%20082",
        "02.6200.6200.082",
    ] {
        let read = web.get(&format!("/api/v1/directory/{written}")).await;
        assert_eq!(read.status, StatusCode::OK, "{written}: {}", read.text);
        assert_eq!(read.content_type(), "application/json");
        let body = read.json();
        assert_eq!(body["key"], PIN, "{written}");
        assert_eq!(services_and_uris(&body), expected, "{written}");
        let first = &body["records"][0];
        assert_eq!(
            (first["order"].as_u64(), first["preference"].as_u64()),
            (Some(100), Some(10))
        );
    }
}

#[tokio::test]
async fn a_vns_branch_is_written_with_percent_23_and_a_held_number_may_list_nothing() {
    let web = web().await;
    let set = web
        .put_directory(
            web.acme,
            "6200-6200%23082",
            json!({"web": "http://acme.example/kr"}),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text);
    assert_eq!(set.json()["key"], VNS);
    let read = web.get("/api/v1/directory/6200-6200%23082").await;
    assert_eq!(read.json()["number"], "6200-6200#082");
    assert_eq!(
        services_and_uris(&read.json()),
        [(
            "E2U+web:http".to_owned(),
            "http://acme.example/kr".to_owned()
        )]
    );

    let bare = web.get("/api/v1/directory/6200-6200").await;
    assert_eq!(bare.status, StatusCode::OK, "{}", bare.text);
    assert_eq!(bare.json()["key"], "62006200");
    assert_eq!(bare.json()["records"], json!([]));

    let cleared = web
        .put_directory(web.acme, "62006200%23082", json!({}))
        .await;
    assert_eq!(cleared.status, StatusCode::OK, "{}", cleared.text);
    assert_eq!(cleared.json()["records"], json!([]));
    let listing = web.store.directory_listing(VNS).await.unwrap().unwrap();
    assert!(listing.entries.is_empty());
}

#[tokio::test]
async fn an_e164_number_is_read_with_its_plus_or_00() {
    let web = web().await;
    let set = web
        .put_directory(
            web.alice,
            "%2B82%202%206200%206200",
            json!({"sip": "sip:alice@example.com"}),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text);
    assert_eq!(set.json()["key"], E164);
    for written in ["+82262006200", "%2B82-2-6200-6200", "0082262006200"] {
        let read = web.get(&format!("/api/v1/directory/{written}")).await;
        assert_eq!(read.status, StatusCode::OK, "{written}: {}", read.text);
        assert_eq!(read.json()["key"], E164, "{written}");
        assert_eq!(read.json()["number"], "+82262006200", "{written}");
    }
    let pin = web.get(&format!("/api/v1/directory/{PIN}")).await;
    assert_eq!(
        pin.json()["records"],
        json!([]),
        "the PIN is a number of its own"
    );
}

#[tokio::test]
async fn setting_entries_needs_the_operator_token() {
    let web = web().await;
    let uri = format!("/api/v1/members/{}/numbers/{PIN}/directory", web.alice);
    for token in [None, Some("not-a-current-token-at-all")] {
        let refused = web.send(Method::PUT, &uri, token, Some(alices())).await;
        refused.assert_problem(StatusCode::UNAUTHORIZED, "token");
    }
    let listing = web.store.directory_listing(PIN).await.unwrap().unwrap();
    assert!(listing.entries.is_empty(), "nothing was set");
}

#[tokio::test]
async fn only_the_holder_sets_a_numbers_entries_and_bad_ones_are_refused() {
    let web = web().await;
    web.put_directory(web.acme, PIN, alices())
        .await
        .assert_problem(
            StatusCode::NOT_FOUND,
            &format!("held by member {}", web.alice),
        );
    web.put_directory(999, PIN, alices())
        .await
        .assert_problem(StatusCode::NOT_FOUND, "member 999 does not exist");
    web.put_directory(web.alice, "0212345678001", alices())
        .await
        .assert_problem(
            StatusCode::NOT_FOUND,
            "nobody holds number \"0212345678001\"",
        );
    web.put_directory(web.alice, "call-me", alices())
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "is not a number");
    web.put_directory(web.alice, PIN, json!({"sip": "tel:+82262006200"}))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "SIP address");
    web.put_directory(web.alice, PIN, json!({"web": "javascript:alert(1)"}))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "home page");
    web.put_directory(web.alice, PIN, json!({"email": "mailto:alice@example.com"}))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "without mailto:");
    web.put_directory(
        web.alice,
        PIN,
        json!({"homepage": "https://alice.example.com/"}),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "homepage");
    let listing = web.store.directory_listing(PIN).await.unwrap().unwrap();
    assert!(listing.entries.is_empty(), "nothing was set");
}

#[tokio::test]
async fn bad_numbers_are_problem_documents_that_say_what_is_wrong() {
    let web = web().await;
    let absurd = "1".repeat(5000);
    for (path, status, says) in [
        ("caf%C3%A9", StatusCode::BAD_REQUEST, "is not a number"),
        ("%E2%98%8E", StatusCode::BAD_REQUEST, "is not a number"),
        (absurd.as_str(), StatusCode::BAD_REQUEST, "too long"),
        ("call-me", StatusCode::BAD_REQUEST, "is not a number"),
        ("%FF%FE", StatusCode::BAD_REQUEST, "UTF-8"),
        (
            "0212345678001",
            StatusCode::NOT_FOUND,
            "nobody holds number",
        ),
        (
            "%2B442079460000",
            StatusCode::NOT_FOUND,
            "nobody holds number \"+442079460000\"",
        ),
    ] {
        let reply = web.get(&format!("/api/v1/directory/{path}")).await;
        reply.assert_problem(status, says);
        assert!(
            reply.text.len() < 1000,
            "the detail stays short: {}",
            reply.text
        );
    }
}

#[tokio::test]
async fn the_short_link_redirects_a_browser_to_the_home_page() {
    let web = web().await;
    web.put_directory(web.alice, PIN, alices()).await;
    for written in ["02-6200-6200-082", PIN] {
        let reply = web.get(&format!("/n/{written}")).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text);
        assert_eq!(
            reply
                .headers
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok()),
            Some("https://alice.example.com/")
        );
    }
}

#[tokio::test]
async fn the_short_link_shows_a_small_page_when_there_is_nowhere_to_go() {
    let web = web().await;
    web.get("/n/6200-6200%23082")
        .await
        .assert_page(StatusCode::NOT_FOUND, "has no home page");
    web.get("/n/0212345678001")
        .await
        .assert_page(StatusCode::NOT_FOUND, "Nobody holds number");
    let junk = web.get("/n/%3Cscript%3Ealert(1)%3C%2Fscript%3E").await;
    junk.assert_page(StatusCode::BAD_REQUEST, "is not a number");
    assert!(
        !junk.text.contains("<script>"),
        "echoed input is escaped: {}",
        junk.text
    );
    web.get("/n/%FF")
        .await
        .assert_page(StatusCode::BAD_REQUEST, "does not name a number");
}

#[tokio::test]
async fn the_openapi_document_lists_the_directory_routes() {
    let web = web().await;
    let doc = web
        .send(Method::GET, "/api/v1/openapi.json", Some(&web.token), None)
        .await
        .json();
    let paths = &doc["paths"];
    let put = &paths["/api/v1/members/{id}/numbers/{number}/directory"]["put"];
    assert!(put.is_object());
    assert!(
        put["security"].is_array(),
        "setting entries needs the token"
    );
    let get = &paths["/api/v1/directory/{number}"]["get"];
    assert!(get.is_object());
    assert!(get.get("security").is_none(), "reading them is public");
    assert!(paths["/n/{number}"]["get"]["responses"]["303"].is_object());
}
