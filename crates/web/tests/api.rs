//! The HTTP API as a client meets it, through the router in process (no
//! sockets): authentication, members, numbers, problem documents, and the
//! OpenAPI document.

mod common;

use axum::http::{Method, StatusCode};
use axum::Router;
use common::Answer;
use serde_json::{json, Value};
use sip::digest::{ha1, Algorithm};
use store::prelude::*;

struct Api {
    router: Router,
    store: Store,
    token: String,
    _dir: tempfile::TempDir,
}

const REALM: &str = "test.callex";

async fn api() -> Api {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let target = dir.path().to_str().expect("a UTF-8 path").to_owned();
    let store = Store::open(&target).await.expect("open the store");
    let token = store
        .create_token("admin")
        .await
        .expect("a token")
        .plaintext;
    Api {
        router: web::router(web::AppState::new(store.clone(), REALM)),
        store,
        token,
        _dir: dir,
    }
}

impl Api {
    async fn send(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> Answer {
        common::send(&self.router, method, uri, token, body.map(str::to_owned)).await
    }

    async fn get(&self, uri: &str) -> Answer {
        self.send(Method::GET, uri, Some(&self.token), None).await
    }

    async fn post(&self, uri: &str, body: &Value) -> Answer {
        self.send(
            Method::POST,
            uri,
            Some(&self.token),
            Some(&body.to_string()),
        )
        .await
    }

    async fn new_member(&self, name: &str) -> i64 {
        let created = self
            .post(
                "/api/v1/members",
                &json!({"name": name, "country": "KR", "kind": "individual"}),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        created.body["id"].as_i64().expect("an id")
    }
}

fn assert_problem(answer: &Answer, status: StatusCode, detail_contains: &str) {
    assert_eq!(answer.status, status, "{:?}", answer.body);
    assert_eq!(answer.content_type, "application/problem+json");
    assert_eq!(answer.body["status"], status.as_u16());
    assert_eq!(answer.body["type"], "about:blank");
    let detail = answer.body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains(detail_contains),
        "{detail:?} should say {detail_contains:?}"
    );
}

#[tokio::test]
async fn api_routes_refuse_requests_without_a_current_operator_token() {
    let api = api().await;
    for token in [
        None,
        Some("cxt_0000000000000000000000000000000000"),
        Some("short"),
    ] {
        let answer = api.send(Method::GET, "/api/v1/members", token, None).await;
        assert_problem(&answer, StatusCode::UNAUTHORIZED, "token");
    }
    let answer = api
        .send(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn only_operator_tokens_are_accepted_not_a_members_sip_password() {
    let api = api().await;
    let id = api.new_member("Alice").await;
    let granted = api
        .post(
            &format!("/api/v1/members/{id}/numbers"),
            &json!({"number": "02-6200-6200-082"}),
        )
        .await;
    let password = granted.body["sip_password"].as_str().expect("a password");
    let answer = api
        .send(Method::GET, "/api/v1/members", Some(password), None)
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    api.store.revoke_token("admin").await.expect("revoke");
    let answer = api.get("/api/v1/members").await;
    assert_eq!(
        answer.status,
        StatusCode::UNAUTHORIZED,
        "a revoked token stops at once"
    );
}

#[tokio::test]
async fn healthz_needs_no_token() {
    let api = api().await;
    let answer = api.send(Method::GET, "/healthz", None, None).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["status"], "ok");
}

#[tokio::test]
async fn creating_a_member_answers_201_and_it_can_be_read_and_listed() {
    let api = api().await;
    let created = api
        .post(
            "/api/v1/members",
            &json!({"name": "Acme Ltd", "email": "ops@acme.example", "country": "kr", "kind": "company"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert_eq!(created.body["name"], "Acme Ltd");
    assert_eq!(created.body["kind"], "company");
    assert_eq!(created.body["country"], "KR");
    let id = created.body["id"].as_i64().expect("an id");

    let read = api.get(&format!("/api/v1/members/{id}")).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body, created.body);

    let listed = api.get("/api/v1/members").await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.body["items"][0], created.body);
    assert!(listed.body["next_after"].is_null());
}

#[tokio::test]
async fn members_are_listed_a_page_at_a_time() {
    let api = api().await;
    let ids = [
        api.new_member("A").await,
        api.new_member("B").await,
        api.new_member("C").await,
    ];
    let first = api.get("/api/v1/members?limit=2").await;
    assert_eq!(first.body["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(first.body["next_after"], ids[1]);
    let second = api
        .get(&format!("/api/v1/members?limit=2&after={}", ids[1]))
        .await;
    assert_eq!(second.body["items"][0]["id"], ids[2]);
    assert!(second.body["next_after"].is_null());
    let bad = api.get("/api/v1/members?limit=0").await;
    assert_problem(&bad, StatusCode::UNPROCESSABLE_ENTITY, "limit");
}

#[tokio::test]
async fn bad_json_and_invalid_fields_are_problem_documents() {
    let api = api().await;
    let not_json = api
        .send(
            Method::POST,
            "/api/v1/members",
            Some(&api.token),
            Some("{\"name\": "),
        )
        .await;
    assert_problem(&not_json, StatusCode::BAD_REQUEST, "");
    let missing = api
        .post(
            "/api/v1/members",
            &json!({"name": "Bob", "kind": "individual"}),
        )
        .await;
    assert_problem(&missing, StatusCode::UNPROCESSABLE_ENTITY, "country");
    let bad_country = api
        .post(
            "/api/v1/members",
            &json!({"name": "Bob", "country": "Korea", "kind": "individual"}),
        )
        .await;
    assert_problem(&bad_country, StatusCode::UNPROCESSABLE_ENTITY, "ISO 3166-1");
    let id = api.new_member("Bob").await;
    let bad_number = api
        .post(
            &format!("/api/v1/members/{id}/numbers"),
            &json!({"number": "02-62OO"}),
        )
        .await;
    assert_problem(
        &bad_number,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid number",
    );
    let not_an_id = api.get("/api/v1/members/seven").await;
    assert_problem(&not_an_id, StatusCode::BAD_REQUEST, "");
}

#[tokio::test]
async fn an_unknown_member_is_404() {
    let api = api().await;
    assert_problem(
        &api.get("/api/v1/members/999").await,
        StatusCode::NOT_FOUND,
        "999",
    );
    let grant = api
        .post(
            "/api/v1/members/999/numbers",
            &json!({"number": "+44 20 7946 0000"}),
        )
        .await;
    assert_problem(&grant, StatusCode::NOT_FOUND, "999");
}

#[tokio::test]
async fn granting_a_number_returns_the_sip_credentials_once_and_stores_only_ha1s() {
    let api = api().await;
    let id = api.new_member("Alice").await;
    let granted = api
        .post(
            &format!("/api/v1/members/{id}/numbers"),
            &json!({"number": "02-6200-6200-082"}),
        )
        .await;
    assert_eq!(granted.status, StatusCode::CREATED, "{:?}", granted.body);
    assert_eq!(granted.body["number"], "0262006200082");
    assert_eq!(granted.body["sip_username"], "0262006200082");
    assert_eq!(granted.body["kind"], "pin");
    assert_eq!(granted.body["member_id"], id);
    assert_eq!(granted.body["sip_realm"], REALM);
    let password = granted.body["sip_password"].as_str().expect("a password");
    for algorithm in [Algorithm::Md5, Algorithm::Sha256] {
        let stored = api
            .store
            .ha1("0262006200082", REALM, algorithm)
            .await
            .expect("read the HA1");
        assert_eq!(
            stored,
            Some(ha1(algorithm, "0262006200082", REALM, password))
        );
    }

    let chosen = api
        .post(
            &format!("/api/v1/members/{id}/numbers"),
            &json!({"number": "+44 20 7946 0000", "sip_password": "chosen-by-alice"}),
        )
        .await;
    assert_eq!(chosen.status, StatusCode::CREATED, "{:?}", chosen.body);
    assert_eq!(chosen.body["kind"], "e164");
    assert_eq!(chosen.body["number"], "+442079460000");
    assert_eq!(chosen.body["sip_username"], "+442079460000");
    assert!(
        chosen.body.get("sip_password").is_none(),
        "a given password is not echoed"
    );
}

#[tokio::test]
async fn a_number_someone_holds_is_409() {
    let api = api().await;
    let alice = api.new_member("Alice").await;
    let bob = api.new_member("Bob").await;
    let first = api
        .post(
            &format!("/api/v1/members/{alice}/numbers"),
            &json!({"number": "+44 20 7946 0000"}),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    for (member, written) in [(bob, "+44 (20) 7946-0000"), (alice, "+442079460000")] {
        let again = api
            .post(
                &format!("/api/v1/members/{member}/numbers"),
                &json!({"number": written}),
            )
            .await;
        assert_problem(&again, StatusCode::CONFLICT, "+442079460000");
    }
}

#[tokio::test]
async fn any_written_form_is_granted_under_its_store_key() {
    let api = api().await;
    let id = api.new_member("Acme").await;
    for (written, key, kind) in [
        ("(02) 6200.6200 082", "0262006200082", "pin"),
        ("6200-6200%23082", "62006200#082", "vns"),
        ("6200 6200", "62006200", "vns"),
        ("+44 20 7946 0000", "+442079460000", "e164"),
    ] {
        let granted = api
            .post(
                &format!("/api/v1/members/{id}/numbers"),
                &json!({"number": written}),
            )
            .await;
        assert_eq!(
            granted.status,
            StatusCode::CREATED,
            "{written:?}: {:?}",
            granted.body
        );
        assert_eq!(granted.body["number"], key, "{written:?}");
        assert_eq!(granted.body["sip_username"], key, "{written:?}");
        assert_eq!(granted.body["kind"], kind, "{written:?}");
    }
    let held: Vec<String> = api
        .store
        .numbers_of(MemberId(id))
        .await
        .expect("numbers of Acme")
        .into_iter()
        .map(|held| held.number)
        .collect();
    assert_eq!(
        held,
        ["+442079460000", "0262006200082", "62006200", "62006200#082"]
    );
}

#[tokio::test]
async fn a_number_not_of_the_asked_kind_is_422_saying_why() {
    let api = api().await;
    let id = api.new_member("Alice").await;
    for (number, kind, why) in [
        (
            "+44 20 7946 0000",
            "pin",
            "a leading + marks an E.164 number",
        ),
        ("4420", "e164", "starts with +"),
        ("+82 1", "e164", "fewer than"),
    ] {
        let refused = api
            .post(
                &format!("/api/v1/members/{id}/numbers"),
                &json!({"number": number, "kind": kind}),
            )
            .await;
        assert_problem(&refused, StatusCode::UNPROCESSABLE_ENTITY, why);
    }
    let asked = api
        .post(
            &format!("/api/v1/members/{id}/numbers"),
            &json!({"number": "02 6200 6200 082", "kind": "vns"}),
        )
        .await;
    assert_eq!(asked.status, StatusCode::CREATED, "{:?}", asked.body);
    assert_eq!(asked.body["number"], "0262006200082");
    assert_eq!(asked.body["kind"], "vns");
}

#[tokio::test]
async fn the_openapi_document_lists_every_route_and_the_bearer_scheme() {
    let api = api().await;
    let doc = api.get("/api/v1/openapi.json").await;
    assert_eq!(doc.status, StatusCode::OK);
    assert!(doc.body["openapi"]
        .as_str()
        .unwrap_or_default()
        .starts_with("3.1"));
    let paths = &doc.body["paths"];
    assert!(paths["/api/v1/members"]["post"].is_object());
    assert!(paths["/api/v1/members"]["get"].is_object());
    assert!(paths["/api/v1/members/{id}"]["get"].is_object());
    assert!(paths["/api/v1/members/{id}/numbers"]["post"].is_object());
    assert!(paths["/api/v1/openapi.json"]["get"].is_object());
    assert!(paths["/healthz"]["get"].is_object());
    assert_eq!(
        doc.body["components"]["securitySchemes"]["operator_token"]["scheme"],
        "bearer"
    );
}

#[tokio::test]
async fn an_unknown_path_is_a_404_problem() {
    let api = api().await;
    assert_problem(
        &api.get("/nowhere").await,
        StatusCode::NOT_FOUND,
        "/nowhere",
    );
}
