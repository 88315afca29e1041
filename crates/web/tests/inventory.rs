//! The inventory API as a client meets it, through the router in process:
//! the operator lists numbers (all or nothing), anyone searches them, and a
//! bad query string gets a 400 problem document saying what is wrong.

mod common;

use axum::http::{Method, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use store::prelude::*;

struct Api {
    router: Router,
    token: String,
    _dir: tempfile::TempDir,
}

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
        router: web::router(web::AppState::new(store, "callex")),
        token,
        _dir: dir,
    }
}

impl Api {
    async fn send(
        &self,
        method: Method,
        uri: &str,
        token: bool,
        body: Option<Value>,
    ) -> (StatusCode, String, Value) {
        let token = token.then_some(self.token.as_str());
        let answer = common::send(
            &self.router,
            method,
            uri,
            token,
            body.map(|b| b.to_string()),
        )
        .await;
        (answer.status, answer.content_type, answer.body)
    }

    async fn search(&self, query: &str) -> (StatusCode, String, Value) {
        self.send(
            Method::GET,
            &format!("/api/v1/numbers/available{query}"),
            false,
            None,
        )
        .await
    }

    async fn import(&self, listings: Value) -> (StatusCode, String, Value) {
        self.send(Method::POST, "/api/v1/inventory", true, Some(listings))
            .await
    }
}

fn listing(number: &str, area: &str, price: &str) -> Value {
    json!({
        "number": number, "kind": "e164", "country": "KR", "area_code": area,
        "price": price, "monthly": "1100", "currency": "KRW",
    })
}

fn stock() -> Value {
    json!([
        listing("+82 2 6200 6200", "2", "50000"),
        listing("02-6185-3091", "2", "5000"),
        listing("+82 51 867 5309", "51", "7000.50"),
        {"number": "070-4000-1837", "kind": "did", "country": "KR", "area_code": "70",
         "price": "3000", "monthly": "1100", "currency": "krw"},
        {"number": "6200-6200#082", "kind": "vns", "country": "KR",
         "price": "990000", "monthly": "33000", "currency": "KRW", "premium": ""},
    ])
}

fn numbers(page: &Value) -> Vec<&str> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["number"].as_str().expect("a number"))
        .collect()
}

#[tokio::test]
async fn the_operator_lists_numbers_and_anyone_finds_them() {
    let api = api().await;
    let (status, _, body) = api.import(stock()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["imported"], 5);

    let (status, _, page) = api.search("?country=kr&kind=e164").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(
        numbers(&page),
        ["+82261853091", "+82262006200", "+82518675309"]
    );
    let busan = &page["items"][2];
    assert_eq!(busan["price"], "7000.5");
    assert_eq!(busan["currency"], "KRW");
    assert_eq!(busan["written"], "+82 51-867-5309");

    let (_, _, golden) = api.search("?premium=true").await;
    assert_eq!(
        numbers(&golden),
        ["+82262006200", "62006200#082"],
        "premium computed from the digits when not given"
    );
    assert_eq!(golden["items"][0]["premium"], "repeated");

    let (_, _, cheap) = api.search("?min_price=3000&max_price=7000.5&area=").await;
    assert_eq!(
        numbers(&cheap),
        ["+82261853091", "+82518675309", "+827040001837"]
    );
    let (_, _, area) = api.search("?area=7&kind=did").await;
    assert_eq!(numbers(&area), ["+827040001837"]);
    let (_, _, contains) = api.search("?contains=8675").await;
    assert_eq!(numbers(&contains), ["+82518675309"]);

    let (_, _, first) = api.search("?limit=2").await;
    assert_eq!(first["next_cursor"], "+82262006200");
    let (_, _, second) = api.search("?limit=2&cursor=%2B82262006200").await;
    assert_eq!(numbers(&second), ["+82518675309", "+827040001837"]);
    let (_, _, last) = api.search("?limit=2&cursor=%2B827040001837").await;
    assert_eq!(numbers(&last), ["62006200#082"]);
    assert_eq!(last["next_cursor"], Value::Null);
}

#[tokio::test]
async fn bad_query_strings_get_a_400_problem_saying_what_is_wrong() {
    let api = api().await;
    for (query, expected) in [
        ("?limit=0", "limit"),
        ("?limit=101", "1 to 100"),
        ("?limit=ten", "limit"),
        ("?country=Korea", "country"),
        ("?country=XX", "country"),
        ("?kind=mobile", "kind"),
        ("?contains=12a4", "contains"),
        ("?area=0x2", "area"),
        ("?min_price=-1", "min_price"),
        ("?max_price=1e3", "max_price"),
        ("?min_price=0.00001", "decimal places"),
        ("?min_price=10&max_price=5", "above"),
        ("?premium=yes", "premium"),
        ("?colour=gold", "colour"),
    ] {
        let (status, content_type, body) = api.search(query).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(content_type, "application/problem+json", "{query}");
        let detail = body["detail"].as_str().expect("a detail");
        assert!(detail.contains(expected), "{query}: {detail}");
    }
}

#[tokio::test]
async fn a_bad_listing_imports_nothing_and_names_every_bad_one() {
    let api = api().await;
    let mut bad = stock();
    bad[1]["number"] = json!("+82 2 61");
    bad[2]["price"] = json!("7,000");
    bad[3]["country"] = json!("XK1");
    bad.as_array_mut()
        .unwrap()
        .push(listing("+82-2-6200-6200", "2", "1"));
    let (status, content_type, body) = api.import(bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(content_type, "application/problem+json");
    let detail = body["detail"].as_str().unwrap();
    for expected in [
        "nothing imported",
        "listing 2: bad number",
        "listing 3: bad decimal in price",
        "listing 4: unknown country",
        "listing 6: number +82262006200 is listed twice: also at listing 1",
    ] {
        assert!(detail.contains(expected), "{expected} in {detail}");
    }
    let (_, _, page) = api.search("").await;
    assert_eq!(numbers(&page), Vec::<&str>::new());

    // Already listed: a conflict, and still nothing of the batch.
    let (status, _, _) = api
        .import(json!([listing("+82 2 6200 6200", "2", "1")]))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _, body) = api.import(stock()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .contains("listing 1: number +82262006200 is already in the inventory"));
    let (_, _, page) = api.search("").await;
    assert_eq!(numbers(&page), ["+82262006200"]);
}

#[tokio::test]
async fn importing_needs_the_operator_token_and_the_search_is_in_the_openapi_document() {
    let api = api().await;
    let (status, _, _) = api
        .send(Method::POST, "/api/v1/inventory", false, Some(stock()))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, doc) = api
        .send(Method::GET, "/api/v1/openapi.json", true, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["paths"]["/api/v1/numbers/available"]["get"].is_object());
    assert!(doc["paths"]["/api/v1/inventory"]["post"].is_object());
}
