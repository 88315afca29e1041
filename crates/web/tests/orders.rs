//! The purchase flow and the prepaid balance as a client meets them,
//! through the router in process: order, pay, assigned; the approval
//! queue; top-ups and the ledger; and bad input answered with a problem
//! document that says what is wrong, changing nothing.

mod common;

use axum::http::{Method, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use store::prelude::*;
use store::{Inventory, Orders};

struct Api {
    router: Router,
    store: Store,
    token: String,
    _dir: tempfile::TempDir,
}

const PROBLEM: &str = "application/problem+json";

async fn api() -> Api {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let target = dir.path().to_str().expect("a UTF-8 path").to_owned();
    let store = Store::open(&target).await.expect("open the store");
    let token = store
        .create_token("admin")
        .await
        .expect("a token")
        .plaintext;
    let api = Api {
        router: web::router(web::AppState::new(store.clone(), "callex")),
        store,
        token,
        _dir: dir,
    };
    let (status, _, body) = api
        .send(
            Method::POST,
            "/api/v1/inventory",
            Some(json!([
                {"number": "+82 2 6185 3091", "kind": "e164", "country": "KR", "area_code": "2",
                 "price": "5000", "monthly": "1100", "currency": "KRW", "premium": "none"},
                {"number": "6200-6200#082", "kind": "vns", "country": "KR",
                 "price": "990000", "monthly": "33000", "currency": "KRW"},
            ])),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    api
}

impl Api {
    async fn send(
        &self,
        method: Method,
        uri: &str,
        body: Option<Value>,
    ) -> (StatusCode, String, Value) {
        self.send_raw(method, uri, true, body.map(|b| b.to_string()))
            .await
    }

    async fn send_raw(
        &self,
        method: Method,
        uri: &str,
        token: bool,
        body: Option<String>,
    ) -> (StatusCode, String, Value) {
        let token = token.then_some(self.token.as_str());
        let answer = common::send(&self.router, method, uri, token, body).await;
        (answer.status, answer.content_type, answer.body)
    }

    async fn member(&self, name: &str) -> i64 {
        let (status, _, body) = self
            .send(
                Method::POST,
                "/api/v1/members",
                Some(json!({"name": name, "country": "KR", "kind": "individual"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_i64().expect("an id")
    }

    async fn order(&self, member: i64, number: &str, key: &str) -> (StatusCode, String, Value) {
        self.send(
            Method::POST,
            "/api/v1/orders",
            Some(json!({"member": member, "number": number, "idempotency_key": key})),
        )
        .await
    }

    async fn top_up(&self, member: i64, amount: &str, key: &str) -> (StatusCode, String, Value) {
        self.send(
            Method::POST,
            &format!("/api/v1/members/{member}/topups"),
            Some(json!({"amount": amount, "currency": "KRW", "idempotency_key": key})),
        )
        .await
    }
}

fn states(order: &Value) -> Vec<&str> {
    order["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["to"].as_str().expect("a state"))
        .collect()
}

#[tokio::test]
async fn a_member_orders_pays_from_the_balance_and_holds_the_number_at_once() {
    let api = api().await;
    let alice = api.member("Alice").await;
    let (status, _, topup) = api.top_up(alice, "6100.50", "receipt-1").await;
    assert_eq!(status, StatusCode::CREATED, "{topup}");
    assert_eq!(topup["balance"], "6100.5");
    let (status, _, again) = api.top_up(alice, "6100.50", "receipt-1").await;
    assert_eq!((status, &again["replayed"]), (StatusCode::OK, &json!(true)));

    let (status, _, order) = api.order(alice, "+82 2 6185 3091", "buy-1").await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    assert_eq!(order["state"], "approved");
    assert_eq!(order["number"], "+82261853091");
    assert_eq!(
        (&order["price"], &order["monthly"]),
        (&json!("5000"), &json!("1100"))
    );
    let id = order["id"].as_i64().expect("an id");
    let (status, _, same) = api.order(alice, "+82261853091", "buy-1").await;
    assert_eq!((status, &same["id"]), (StatusCode::OK, &json!(id)));

    let (status, _, paid) = api
        .send(Method::POST, &format!("/api/v1/orders/{id}/pay"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{paid}");
    assert_eq!(paid["state"], "assigned");
    assert_eq!(
        states(&paid),
        [
            "requested",
            "approved",
            "payment_requested",
            "paid",
            "assigned"
        ]
    );
    let held = api
        .store
        .holder("+82261853091")
        .await
        .unwrap()
        .expect("granted");
    assert_eq!(held.member_id, MemberId(alice));

    let (status, _, ledger) = api
        .send(
            Method::GET,
            &format!("/api/v1/members/{alice}/ledger"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        ledger["balances"],
        json!([{"currency": "KRW", "amount": "0.5"}])
    );
    let amounts: Vec<&str> = ledger["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["amount"].as_str().unwrap())
        .collect();
    // The price and the purchase month's rental.
    assert_eq!(amounts, ["6100.5", "-5000", "-1100"]);

    let (status, _, got) = api
        .send(Method::GET, &format!("/api/v1/orders/{id}"), None)
        .await;
    assert_eq!(
        (status, &got["state"]),
        (StatusCode::OK, &json!("assigned"))
    );
}

#[tokio::test]
async fn a_vns_waits_in_the_approval_queue_and_a_rival_is_told_until_when() {
    let api = api().await;
    let alice = api.member("Alice").await;
    let bob = api.member("Bob").await;
    let (status, _, order) = api.order(alice, "62006200#082", "vns").await;
    assert_eq!(
        (status, &order["state"]),
        (StatusCode::CREATED, &json!("requested"))
    );
    let id = order["id"].as_i64().unwrap();
    let (_, _, queue) = api.send(Method::GET, "/api/v1/approvals", None).await;
    assert_eq!(queue.as_array().unwrap().len(), 1);

    // Not payable before approval; no balance either: nothing changes.
    let (status, content_type, problem) = api
        .send(Method::POST, &format!("/api/v1/orders/{id}/pay"), None)
        .await;
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::CONFLICT, PROBLEM)
    );
    assert!(problem["detail"]
        .as_str()
        .unwrap()
        .contains("awaiting the operator's approval"));

    let (status, _, approved) = api
        .send(Method::POST, &format!("/api/v1/orders/{id}/approve"), None)
        .await;
    assert_eq!(
        (status, &approved["state"]),
        (StatusCode::OK, &json!("approved"))
    );
    let (status, _, rival) = api.order(bob, "62006200#082", "mine").await;
    assert_eq!(status, StatusCode::CONFLICT);
    let detail = rival["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("number 6200-6200#082 is held by another order until "),
        "{detail}"
    );
    assert!(detail.ends_with(" UTC"), "{detail}");

    let (status, _, short) = api
        .send(Method::POST, &format!("/api/v1/orders/{id}/pay"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(short["detail"]
        .as_str()
        .unwrap()
        .contains("top up at least 1023000 KRW"));

    let (status, _, problem) = api
        .send(
            Method::POST,
            &format!("/api/v1/orders/{id}/reject"),
            Some(json!({"reason": ""})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let (status, _, rejected) = api
        .send(
            Method::POST,
            &format!("/api/v1/orders/{id}/reject"),
            Some(json!({"reason": "VNS numbers are for companies"})),
        )
        .await;
    assert_eq!(
        (status, &rejected["state"]),
        (StatusCode::OK, &json!("rejected"))
    );
    assert_eq!(rejected["reason"], "VNS numbers are for companies");
    let (status, _, order) = api.order(bob, "6200-6200#082", "mine").await;
    assert_eq!(status, StatusCode::CREATED, "the number is for sale again");
    assert_eq!(order["number"], "62006200#082", "written any way");
}

#[tokio::test]
async fn bad_input_gets_a_problem_saying_what_is_wrong() {
    let api = api().await;
    let alice = api.member("Alice").await;
    let cases: Vec<(Method, String, Option<String>, StatusCode, &str)> = vec![
        (
            Method::POST,
            "/api/v1/orders".into(),
            Some(
                json!({"member": alice, "number": "+82299999999", "idempotency_key": "k"})
                    .to_string(),
            ),
            StatusCode::NOT_FOUND,
            "number +82299999999 is not in the inventory",
        ),
        (
            Method::POST,
            "/api/v1/orders".into(),
            Some(
                json!({"member": 999, "number": "+82261853091", "idempotency_key": "k"})
                    .to_string(),
            ),
            StatusCode::NOT_FOUND,
            "member 999 does not exist",
        ),
        (
            Method::POST,
            "/api/v1/orders".into(),
            Some(
                json!({"member": alice, "number": "+82261853091", "idempotency_key": ""})
                    .to_string(),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key",
        ),
        (
            Method::POST,
            "/api/v1/orders".into(),
            Some("{\"member\": \"alice\"}".into()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "member",
        ),
        (
            Method::GET,
            "/api/v1/orders/4242".into(),
            None,
            StatusCode::NOT_FOUND,
            "there is no order 4242",
        ),
        (
            Method::POST,
            "/api/v1/orders/abc/approve".into(),
            None,
            StatusCode::BAD_REQUEST,
            "",
        ),
        (
            Method::POST,
            format!("/api/v1/members/{alice}/topups"),
            Some(json!({"amount": 12.5, "currency": "KRW", "idempotency_key": "t"}).to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "amount",
        ),
        (
            Method::POST,
            format!("/api/v1/members/{alice}/topups"),
            Some(json!({"amount": "-5", "currency": "KRW", "idempotency_key": "t"}).to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad decimal in amount",
        ),
        (
            Method::POST,
            format!("/api/v1/members/{alice}/topups"),
            Some(json!({"amount": "0", "currency": "KRW", "idempotency_key": "t"}).to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "more than 0",
        ),
        (
            Method::POST,
            format!("/api/v1/members/{alice}/topups"),
            Some(json!({"amount": "5", "currency": "WON!", "idempotency_key": "t"}).to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "ISO 4217",
        ),
        (
            Method::POST,
            "/api/v1/members/999/topups".into(),
            Some(json!({"amount": "5", "currency": "KRW", "idempotency_key": "t"}).to_string()),
            StatusCode::NOT_FOUND,
            "member 999",
        ),
        (
            Method::GET,
            "/api/v1/members/999/ledger".into(),
            None,
            StatusCode::NOT_FOUND,
            "member 999",
        ),
    ];
    for (method, uri, body, want, says) in cases {
        let (status, content_type, problem) = api.send_raw(method, &uri, true, body.clone()).await;
        assert_eq!(status, want, "{uri} {body:?}: {problem}");
        assert_eq!(content_type, PROBLEM, "{uri}");
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(says), "{uri} {body:?}: {detail}");
    }
    // Without a token, nothing.
    let (status, _, _) = api
        .send_raw(Method::GET, "/api/v1/approvals", false, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Nothing was recorded by any of it.
    assert!(api.store.ledger(MemberId(alice)).await.unwrap().is_empty());
    assert_eq!(
        api.store
            .listing("+82261853091")
            .await
            .unwrap()
            .unwrap()
            .state,
        store::ListingState::Available
    );
}

#[tokio::test]
async fn the_openapi_document_lists_the_order_routes() {
    let api = api().await;
    let (status, _, doc) = api.send(Method::GET, "/api/v1/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    for path in [
        "/api/v1/orders",
        "/api/v1/orders/{id}",
        "/api/v1/orders/{id}/approve",
        "/api/v1/orders/{id}/reject",
        "/api/v1/orders/{id}/pay",
        "/api/v1/orders/{id}/cancel",
        "/api/v1/approvals",
        "/api/v1/members/{id}/topups",
        "/api/v1/members/{id}/ledger",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }
}

#[tokio::test]
async fn an_approved_order_holds_its_number_for_the_configured_time() {
    let mut api = api().await;
    let alice = api.member("Alice").await;
    let (_, _, order) = api.order(alice, "+82261853091", "default").await;
    let held_for = |order: &Value| {
        order["hold_until"].as_i64().unwrap() - order["created_at"].as_i64().unwrap()
    };
    assert_eq!(held_for(&order), 30 * 60 * 1000, "30 minutes by default");
    let (status, _, _) = api
        .send(
            Method::POST,
            &format!("/api/v1/orders/{}/cancel", order["id"]),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    api.router = web::router(
        web::AppState::new(api.store.clone(), "callex")
            .with_order_hold(std::time::Duration::from_secs(90)),
    );
    let (_, _, order) = api.order(alice, "+82261853091", "configured").await;
    assert_eq!(held_for(&order), 90_000);
}

#[tokio::test]
async fn the_serve_loop_s_sweep_puts_a_run_out_hold_back_on_sale() {
    let api = api().await;
    let alice = api.member("Alice").await;
    let two_hours_ago = store::now_millis() - 2 * 3600 * 1000;
    let order = store::NewOrder {
        member: MemberId(alice),
        number: "+82261853091".into(),
        idempotency_key: "old".into(),
    };
    api.store
        .request_order(&order, two_hours_ago, 60_000)
        .await
        .unwrap();
    let state = || async {
        api.store
            .listing("+82261853091")
            .await
            .unwrap()
            .unwrap()
            .state
    };
    assert_eq!(state().await, store::ListingState::Held);
    let sweep =
        web::orders::spawn_hold_expiry(api.store.clone(), std::time::Duration::from_millis(10));
    for _ in 0..200 {
        if state().await == store::ListingState::Available {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    sweep.abort();
    assert_eq!(state().await, store::ListingState::Available);
}
