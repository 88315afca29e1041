//! Members buying for themselves with their own tokens, and owners giving
//! numbers back, as a client meets them: the buyer's orders are theirs
//! alone (another tenant gets 404, as for an order that does not exist),
//! approvals stay the operator's (403), every transition names the member,
//! and a number released by its owner stops working at once and stays out
//! of sale during its quarantine.

mod common;

use axum::http::{Method, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use store::prelude::*;
use store::{Accounts, Actor, Inventory, Orders, Role, Topup};

const REALM: &str = "test.callex";
const NUMBER: &str = "+82261853091";

struct Api {
    router: Router,
    store: Store,
    operator: String,
    _dir: tempfile::TempDir,
}

struct Buyer {
    id: i64,
    token: String,
}

async fn api() -> Api {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = Store::open(dir.path().to_str().expect("a UTF-8 path"))
        .await
        .expect("open the store");
    let operator = store.create_token("admin").await.unwrap().plaintext;
    let api = Api {
        router: web::router(web::AppState::new(store.clone(), REALM)),
        store,
        operator,
        _dir: dir,
    };
    let listings = json!([
        {"number": "+82 2 6185 3091", "kind": "e164", "country": "KR", "area_code": "2",
         "price": "5000", "monthly": "1100", "currency": "KRW"},
        {"number": "+82 2 6185 3092", "kind": "e164", "country": "KR", "area_code": "2",
         "price": "5000", "monthly": "1100", "currency": "KRW"},
        {"number": "6200-6200#082", "kind": "vns", "country": "KR",
         "price": "990000", "monthly": "33000", "currency": "KRW"},
    ]);
    let answer = api
        .send(
            Method::POST,
            "/api/v1/inventory",
            &api.operator.clone(),
            Some(listings),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
    api
}

impl Api {
    async fn send(
        &self,
        method: Method,
        uri: &str,
        token: &str,
        body: Option<Value>,
    ) -> common::Answer {
        let body = body.map(|b| b.to_string());
        common::send(&self.router, method, uri, Some(token), body).await
    }

    async fn buyer(&self, name: &str, money: i64) -> Buyer {
        let id = self
            .store
            .add_member(&NewMember {
                kind: MemberKind::Individual,
                display_name: name.into(),
                email: None,
                country: "KR".into(),
            })
            .await
            .unwrap()
            .id;
        if money > 0 {
            let topup = Topup {
                member: id,
                amount: money.into(),
                currency: "KRW".into(),
                idempotency_key: "cash".into(),
            };
            self.store
                .top_up(&topup, Actor::Operator, store::now_millis())
                .await
                .unwrap();
        }
        let token = self
            .store
            .create_member_token(id, "main")
            .await
            .unwrap()
            .plaintext;
        Buyer { id: id.0, token }
    }
}

#[tokio::test]
async fn a_member_buys_pays_and_cancels_with_their_own_token_and_others_get_404() {
    let api = api().await;
    let alice = api.buyer("Alice", 20_000).await;
    let mallory = api.buyer("Mallory", 20_000).await;

    // "member" may be left out: the order is the caller's.
    let ordered = api
        .send(
            Method::POST,
            "/api/v1/orders",
            &alice.token,
            Some(json!({"number": "+82 2 6185 3091", "idempotency_key": "buy-1"})),
        )
        .await;
    assert_eq!(ordered.status, StatusCode::CREATED, "{:?}", ordered.body);
    assert_eq!(ordered.body["member_id"], alice.id);
    let paid_id = ordered.body["id"].as_i64().unwrap();
    let second = api
        .send(
            Method::POST,
            "/api/v1/orders",
            &alice.token,
            Some(json!({"member": alice.id, "number": "+82 2 6185 3092", "idempotency_key": "buy-2"})),
        )
        .await;
    assert_eq!(second.status, StatusCode::CREATED, "{:?}", second.body);
    let cancelled_id = second.body["id"].as_i64().unwrap();

    // Another tenant: every order route answers as for no order at all,
    // and ordering for Alice is refused as for no member at all.
    let before = api
        .store
        .orders_of(MemberId(alice.id), store::now_millis())
        .await
        .unwrap();
    for (method, uri) in [
        (Method::GET, format!("/api/v1/orders/{paid_id}")),
        (Method::POST, format!("/api/v1/orders/{paid_id}/pay")),
        (
            Method::POST,
            format!("/api/v1/orders/{cancelled_id}/cancel"),
        ),
    ] {
        let answer = api.send(method.clone(), &uri, &mallory.token, None).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{method} {uri}");
        let id = uri.split('/').nth(4).unwrap();
        assert_eq!(answer.body["detail"], format!("there is no order {id}"));
    }
    for uri in [
        format!("/api/v1/members/{}/orders", alice.id),
        format!("/api/v1/members/{}/ledger", alice.id),
    ] {
        let answer = api.send(Method::GET, &uri, &mallory.token, None).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{uri}");
    }
    let for_alice = api
        .send(
            Method::POST,
            "/api/v1/orders",
            &mallory.token,
            Some(json!({"member": alice.id, "number": "6200-6200#082", "idempotency_key": "x"})),
        )
        .await;
    assert_eq!(for_alice.status, StatusCode::NOT_FOUND);
    assert_eq!(
        api.store
            .orders_of(MemberId(alice.id), store::now_millis())
            .await
            .unwrap(),
        before
    );

    let paid = api
        .send(
            Method::POST,
            &format!("/api/v1/orders/{paid_id}/pay"),
            &alice.token,
            None,
        )
        .await;
    assert_eq!(paid.status, StatusCode::OK, "{:?}", paid.body);
    assert_eq!(paid.body["state"], "assigned");
    let by: Vec<&str> = paid.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["by"].as_str().unwrap())
        .collect();
    let alice_actor = format!("member {}", alice.id);
    assert_eq!(
        by,
        [
            alice_actor.as_str(),
            "system",
            &alice_actor,
            &alice_actor,
            "system"
        ]
    );

    let cancelled = api
        .send(
            Method::POST,
            &format!("/api/v1/orders/{cancelled_id}/cancel"),
            &alice.token,
            None,
        )
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{:?}", cancelled.body);
    assert_eq!(cancelled.body["state"], "cancelled");
    assert_eq!(cancelled.body["events"][2]["by"], alice_actor.as_str());

    // Only the operator takes an assigned number back.
    let take_back = api
        .send(
            Method::POST,
            &format!("/api/v1/orders/{paid_id}/cancel"),
            &alice.token,
            None,
        )
        .await;
    assert_eq!(
        take_back.status,
        StatusCode::CONFLICT,
        "{:?}",
        take_back.body
    );
    assert!(take_back.body["detail"]
        .as_str()
        .unwrap()
        .contains("release the number"));

    // Alice reads her orders, balance and ledger.
    let orders = api
        .send(
            Method::GET,
            &format!("/api/v1/members/{}/orders", alice.id),
            &alice.token,
            None,
        )
        .await;
    assert_eq!(orders.status, StatusCode::OK);
    let states: Vec<&str> = orders
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["assigned", "cancelled"]);
    let ledger = api
        .send(
            Method::GET,
            &format!("/api/v1/members/{}/ledger", alice.id),
            &alice.token,
            None,
        )
        .await;
    assert_eq!(ledger.status, StatusCode::OK);
    assert_eq!(
        ledger.body["balances"],
        json!([{"currency": "KRW", "amount": "13900"}])
    );
    let kinds: Vec<&str> = ledger.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["topup", "charge", "rental"]);
    assert!(ledger.body["entries"][2]["description"]
        .as_str()
        .unwrap()
        .starts_with("rental of "));
    // Top-ups stay the operator's.
    let topup = api
        .send(
            Method::POST,
            &format!("/api/v1/members/{}/topups", alice.id),
            &alice.token,
            Some(json!({"amount": "1000000", "currency": "KRW", "idempotency_key": "free money"})),
        )
        .await;
    assert_eq!(topup.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn approvals_stay_the_operator_s_and_a_company_admin_buys_for_the_company_s_members() {
    let api = api().await;
    let alice = api.buyer("Alice", 0).await;
    let vns = api
        .send(
            Method::POST,
            "/api/v1/orders",
            &alice.token,
            Some(json!({"number": "6200-6200#082", "idempotency_key": "vns"})),
        )
        .await;
    assert_eq!(vns.body["state"], "requested");
    let id = vns.body["id"].as_i64().unwrap();
    for (method, uri, body) in [
        (Method::POST, format!("/api/v1/orders/{id}/approve"), None),
        (
            Method::POST,
            format!("/api/v1/orders/{id}/reject"),
            Some(json!({"reason": "no"})),
        ),
        (Method::GET, "/api/v1/approvals".to_owned(), None),
        (Method::GET, "/api/v1/rentals/arrears".to_owned(), None),
    ] {
        let answer = api.send(method.clone(), &uri, &alice.token, body).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{method} {uri}");
        assert_eq!(answer.content_type, "application/problem+json");
    }
    let queue = api
        .send(Method::GET, "/api/v1/approvals", &api.operator, None)
        .await;
    assert_eq!(queue.body.as_array().unwrap().len(), 1);
    let arrears = api
        .send(Method::GET, "/api/v1/rentals/arrears", &api.operator, None)
        .await;
    assert_eq!(
        (arrears.status, arrears.body.clone()),
        (StatusCode::OK, json!([]))
    );

    // The operator must say who buys.
    let nobody = api
        .send(
            Method::POST,
            "/api/v1/orders",
            &api.operator,
            Some(json!({"number": "+82 2 6185 3091", "idempotency_key": "k"})),
        )
        .await;
    assert_eq!(
        nobody.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        nobody.body
    );

    // A company admin orders for the company's member; a plain member
    // cannot order for a colleague.
    let acme = api
        .store
        .add_member(&NewMember {
            kind: MemberKind::Company,
            display_name: "Acme".into(),
            email: None,
            country: "KR".into(),
        })
        .await
        .unwrap()
        .id;
    let admin = api.buyer("Ada", 0).await;
    let staff = api.buyer("Sam", 0).await;
    api.store
        .set_role(MemberId(admin.id), Role::CompanyAdmin, Some(acme))
        .await
        .unwrap();
    api.store
        .set_role(MemberId(staff.id), Role::Member, Some(acme))
        .await
        .unwrap();
    let for_staff = api
        .send(
            Method::POST,
            "/api/v1/orders",
            &admin.token,
            Some(json!({"member": staff.id, "number": "+82 2 6185 3091", "idempotency_key": "k"})),
        )
        .await;
    assert_eq!(
        for_staff.status,
        StatusCode::CREATED,
        "{:?}",
        for_staff.body
    );
    assert_eq!(for_staff.body["member_id"], staff.id);
    // Staff sees the order bought for them.
    let id = for_staff.body["id"].as_i64().unwrap();
    let seen = api
        .send(
            Method::GET,
            &format!("/api/v1/orders/{id}"),
            &staff.token,
            None,
        )
        .await;
    assert_eq!(seen.status, StatusCode::OK);
    let for_admin = api
        .send(
            Method::POST,
            "/api/v1/orders",
            &staff.token,
            Some(json!({"member": admin.id, "number": "+82 2 6185 3092", "idempotency_key": "k"})),
        )
        .await;
    assert_eq!(for_admin.status, StatusCode::NOT_FOUND);
    assert_eq!(
        for_admin.body["detail"],
        format!("member {} does not exist", admin.id)
    );
}

#[tokio::test]
async fn an_owner_releases_a_number_which_stops_working_and_stays_out_of_sale() {
    let api = api().await;
    let alice = api.buyer("Alice", 20_000).await;
    let mallory = api.buyer("Mallory", 20_000).await;
    let ordered = api
        .send(
            Method::POST,
            "/api/v1/orders",
            &alice.token,
            Some(json!({"number": NUMBER, "idempotency_key": "buy"})),
        )
        .await;
    let id = ordered.body["id"].as_i64().unwrap();
    let paid = api
        .send(
            Method::POST,
            &format!("/api/v1/orders/{id}/pay"),
            &alice.token,
            None,
        )
        .await;
    assert_eq!(paid.body["state"], "assigned");
    let reset =
        web::operator::reset_sip_password(&api.store, REALM, NUMBER, Some("a-long-sip-password"))
            .await;
    assert!(reset.is_ok(), "{reset:?}");
    assert!(api
        .store
        .ha1(NUMBER, REALM, sip::digest::Algorithm::Md5)
        .await
        .unwrap()
        .is_some());

    let uri = format!("/api/v1/members/{}/numbers/+82%202%206185%203091", alice.id);
    // Another tenant: as for no member at all; nothing changes.
    let refused = api.send(Method::DELETE, &uri, &mallory.token, None).await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    let theirs = format!(
        "/api/v1/members/{}/numbers/+82%202%206185%203091",
        mallory.id
    );
    let not_held = api
        .send(Method::DELETE, &theirs, &mallory.token, None)
        .await;
    assert_eq!(not_held.status, StatusCode::NOT_FOUND);
    assert!(
        not_held.body["detail"]
            .as_str()
            .unwrap()
            .contains("does not hold number"),
        "{:?}",
        not_held.body
    );
    let bad = format!("/api/v1/members/{}/numbers/not-a-number", alice.id);
    let bad = api.send(Method::DELETE, &bad, &alice.token, None).await;
    assert_eq!(
        bad.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        bad.body
    );
    assert_eq!(bad.content_type, "application/problem+json");
    assert!(api.store.holder(NUMBER).await.unwrap().is_some());

    let released = api.send(Method::DELETE, &uri, &alice.token, None).await;
    assert_eq!(released.status, StatusCode::OK, "{:?}", released.body);
    assert_eq!(released.body["number"], NUMBER);
    assert_eq!(released.body["by"], format!("member {}", alice.id));
    assert_eq!(released.body["order_id"], id);
    assert!(released.body["returned_at"].is_null());
    let until = released.body["quarantine_until"].as_i64().unwrap();
    let at = released.body["at"].as_i64().unwrap();
    assert_eq!(until - at, store::rentals::DEFAULT_QUARANTINE_MS);

    // Its SIP password no longer works, and nobody can buy it meanwhile.
    assert_eq!(
        api.store
            .ha1(NUMBER, REALM, sip::digest::Algorithm::Md5)
            .await
            .unwrap(),
        None
    );
    assert_eq!(api.store.holder(NUMBER).await.unwrap(), None);
    let search = common::send(
        &api.router,
        Method::GET,
        "/api/v1/numbers/available?country=KR",
        None,
        None,
    )
    .await;
    assert_eq!(search.status, StatusCode::OK, "{:?}", search.body);
    let numbers: Vec<&str> = search.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["number"].as_str().unwrap())
        .collect();
    assert!(!numbers.contains(&NUMBER), "{:?}", search.body);
    assert!(numbers.contains(&"+82261853092"), "{:?}", search.body);
    let again = api
        .send(
            Method::POST,
            "/api/v1/orders",
            &mallory.token,
            Some(json!({"number": NUMBER, "idempotency_key": "grab"})),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(
        again.body["detail"]
            .as_str()
            .unwrap()
            .contains("in quarantine until"),
        "{:?}",
        again.body
    );
    // Released twice: it is no longer the member's.
    let twice = api.send(Method::DELETE, &uri, &alice.token, None).await;
    assert_eq!(twice.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn hostile_order_bodies_get_a_problem_and_change_nothing() {
    let api = api().await;
    let alice = api.buyer("Alice", 20_000).await;
    let long_key = "k".repeat(101);
    let bodies = [
        r#"{"number": "+82261853091", "idempotency_key": "k", "member": "1 OR 1=1"}"#.to_owned(),
        r#"{"number": "+82261853091", "idempotency_key": "k", "member": 1e99}"#.to_owned(),
        r#"{"number": null, "idempotency_key": "k"}"#.to_owned(),
        r#"{"number": "+82261853091", "idempotency_key": "k", "price": "0"}"#.to_owned(),
        r#"{"number": "+82261853091"}"#.to_owned(),
        format!(r#"{{"number": "+82261853091", "idempotency_key": "{long_key}"}}"#),
        r#"{"number": "+82261853091", "idempotency_key": "\u0000"}"#.to_owned(),
        r#"{"number": "'; DELETE FROM orders; --", "idempotency_key": "k"}"#.to_owned(),
        r#"[{"number": "+82261853091", "idempotency_key": "k"}]"#.to_owned(),
        "{".to_owned(),
    ];
    for body in bodies {
        let answer = common::send(
            &api.router,
            Method::POST,
            "/api/v1/orders",
            Some(&alice.token),
            Some(body.clone()),
        )
        .await;
        assert!(
            [
                StatusCode::BAD_REQUEST,
                StatusCode::NOT_FOUND,
                StatusCode::UNPROCESSABLE_ENTITY
            ]
            .contains(&answer.status),
            "{body}: {} {:?}",
            answer.status,
            answer.body
        );
        assert_eq!(answer.content_type, "application/problem+json", "{body}");
        assert!(
            answer.body["detail"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{body}"
        );
    }
    // Someone else's member id in the body: as for no member at all.
    let answer = api
        .send(
            Method::POST,
            "/api/v1/orders",
            &alice.token,
            Some(json!({"member": -1, "number": NUMBER, "idempotency_key": "k"})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    let orders = api
        .store
        .orders_of(MemberId(alice.id), store::now_millis())
        .await
        .unwrap();
    assert!(orders.is_empty(), "{orders:?}");
    let listing = api.store.listing(NUMBER).await.unwrap().unwrap();
    assert_eq!(listing.state, store::ListingState::Available);
    assert_eq!(
        api.store.ledger(MemberId(alice.id)).await.unwrap().len(),
        1,
        "the top-up only"
    );
}
