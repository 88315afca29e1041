//! Claims through the API, with real peers on 127.0.0.1: a DNS server
//! answering the domain's challenge (the `--claim-resolver` the checks are
//! pointed at), and an SMTP relay that receives the code mail, from which
//! the test reads the code as a member would.

mod common;

use std::sync::{Arc, Mutex};

use axum::body::{to_bytes, Body};
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use common::peers::{dns_server, smtp_relay};
use serde_json::{json, Value};
use store::prelude::*;
use store::ClaimKind;
use tower::ServiceExt;
use web::claims::ClaimChecks;

struct Api {
    router: Router,
    store: Store,
    token: String,
    _dir: tempfile::TempDir,
}

async fn api(checks: ClaimChecks) -> Api {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = Store::open(dir.path().to_str().unwrap())
        .await
        .expect("open the store");
    let token = store.create_token("admin").await.unwrap().plaintext;
    Api {
        router: web::router(web::AppState::new(store.clone(), "callex").with_claim_checks(checks)),
        store,
        token,
        _dir: dir,
    }
}

impl Api {
    async fn send(&self, method: Method, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token));
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let response = self
            .router
            .clone()
            .oneshot(request.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// A member holding `number` of `kind`.
    async fn member_with(&self, kind: MemberKind, number: &str, number_kind: NumberKind) -> i64 {
        let member = self
            .store
            .add_member(&NewMember {
                kind,
                display_name: "Claimant".into(),
                email: None,
                country: "KR".into(),
            })
            .await
            .unwrap();
        self.store
            .grant(number, number_kind, member.id)
            .await
            .unwrap();
        member.id.0
    }
}

#[tokio::test]
async fn a_domain_is_verified_by_its_txt_record_through_the_claim_resolver() {
    let published = Arc::new(Mutex::new(vec!["v=spf1 -all".to_owned()]));
    let resolver = dns_server("_callex-challenge.example.com", published.clone()).await;
    let api = api(ClaimChecks {
        resolver: Some(resolver),
        ..ClaimChecks::default()
    })
    .await;
    let company = api
        .member_with(MemberKind::Company, "62006200", NumberKind::Vns)
        .await;

    let (status, claim) = api
        .send(
            Method::POST,
            &format!("/api/v1/members/{company}/claims"),
            Some(json!({"kind": "domain", "value": "Example.COM.", "number": "6200-6200"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{claim}");
    assert_eq!(claim["value"], "example.com");
    assert_eq!(claim["state"], "pending");
    assert_eq!(claim["publish"]["name"], "_callex-challenge.example.com");
    let text = claim["publish"]["text"].as_str().unwrap().to_owned();
    assert!(text.starts_with("callex-verify="), "{text}");
    let verify = format!("/api/v1/members/{company}/claims/{}/verify", claim["id"]);

    let (status, problem) = api.send(Method::POST, &verify, None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("no TXT record"),
        "{problem}"
    );

    // An old claim's record, still published, is not this one's proof.
    published
        .lock()
        .unwrap()
        .push("callex-verify=0123456789abcdef0123456789abcdef".to_owned());
    let (status, problem) = api.send(Method::POST, &verify, None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("do not hold this claim's token"),
        "{problem}"
    );

    published.lock().unwrap().push(text);
    let (status, verified) = api.send(Method::POST, &verify, None).await;
    assert_eq!(status, StatusCode::OK, "{verified}");
    assert_eq!(verified["state"], "verified");
    assert_eq!(verified["verified_by"], "dns");
    assert_eq!(
        api.store
            .verified_claim(ClaimKind::Domain, "example.com")
            .await
            .unwrap()
            .as_deref(),
        Some("62006200")
    );
}

#[tokio::test]
async fn an_e_mail_code_goes_through_the_smtp_relay_and_verifies_the_address() {
    let (relay, mut mails) = smtp_relay().await;
    let api = api(ClaimChecks {
        smtp_relay: Some(("127.0.0.1".into(), relay.port())),
        smtp_from: Some("claims@callex.test".into()),
        ..ClaimChecks::default()
    })
    .await;
    let alice = api
        .member_with(MemberKind::Individual, "0262006200082", NumberKind::Pin)
        .await;
    let (status, claim) = api
        .send(
            Method::POST,
            &format!("/api/v1/members/{alice}/claims"),
            Some(json!({"kind": "email", "value": "Alice@Example.com", "number": "02-6200-6200-082"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{claim}");
    assert_eq!(claim["code_sent"], true);
    assert!(
        claim.get("publish").is_none(),
        "no code in the answer: {claim}"
    );

    let mail = mails.recv().await.expect("the code mail");
    assert!(mail.contains("To: alice@example.com"), "{mail}");
    let code: String = mail
        .split("The code is ")
        .nth(1)
        .expect("a code in the mail")
        .chars()
        .take(6)
        .collect();
    assert!(code.bytes().all(|b| b.is_ascii_digit()), "{code}");

    let verify = format!("/api/v1/members/{alice}/claims/{}/verify", claim["id"]);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (status, problem) = api
        .send(Method::POST, &verify, Some(json!({"code": wrong})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("4 attempts left"),
        "{problem}"
    );
    let (status, missing) = api.send(Method::POST, &verify, None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{missing}");

    let (status, verified) = api
        .send(Method::POST, &verify, Some(json!({"code": code})))
        .await;
    assert_eq!(status, StatusCode::OK, "{verified}");
    assert_eq!(verified["verified_by"], "email");
    assert_eq!(
        api.store
            .verified_claim(ClaimKind::Email, "alice@example.com")
            .await
            .unwrap()
            .as_deref(),
        Some("0262006200082")
    );
}

#[tokio::test]
async fn claims_are_listed_revoked_and_documented() {
    let api = api(ClaimChecks::default()).await;
    let alice = api
        .member_with(MemberKind::Individual, "0262006200082", NumberKind::Pin)
        .await;
    let claims = format!("/api/v1/members/{alice}/claims");
    // Without a relay no code is sent; the claim waits for the operator.
    let (status, claim) = api
        .send(
            Method::POST,
            &claims,
            Some(json!({"kind": "email", "value": "alice@example.com", "number": "0262006200082"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{claim}");
    assert_eq!(claim["code_sent"], false);

    let (status, refused) = api
        .send(
            Method::POST,
            &claims,
            Some(json!({"kind": "domain", "value": "bücher.example", "number": "0262006200082"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(
        api.send(
            Method::POST,
            "/api/v1/members/999/claims",
            Some(json!({"kind": "email", "value": "a@b.example", "number": "0262006200082"}))
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );

    let (status, listed) = api.send(Method::GET, &claims, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");

    let (status, revoked) = api
        .send(Method::DELETE, &format!("{claims}/{}", claim["id"]), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert_eq!(revoked["state"], "revoked");
    let (status, _) = api
        .send(
            Method::DELETE,
            &format!("/api/v1/members/{}/claims/{}", alice + 1, claim["id"]),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another member's claim");

    let (_, doc) = api.send(Method::GET, "/api/v1/openapi.json", None).await;
    for path in [
        "/api/v1/members/{id}/claims",
        "/api/v1/members/{id}/claims/{claim}",
        "/api/v1/members/{id}/claims/{claim}/verify",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} documented");
    }
}
