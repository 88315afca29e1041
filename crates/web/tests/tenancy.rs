//! Tenant isolation, route by route: every route of the OpenAPI document is
//! called as another tenant's member (404 for their members, 403 for the
//! operator's routes, and nothing changes) and as the right tenant
//! (success). A route added to the API without an expectation here fails
//! the walk. Malformed bodies and query strings get a problem document and
//! change nothing either.

mod common;

use axum::http::{Method, StatusCode};
use axum::Router;
use common::Answer;
use serde_json::{json, Value};
use store::prelude::*;
use store::{
    now_millis, Accounts, Actor, BranchDestination, Branches, ClaimKind, Inventory, ListingKind,
    NewListing, NewOrder, Orders, Provisioning, Rentals, Role, Topup,
};

const REALM: &str = "test.callex";
/// The victim's PIN.
const PIN: &str = "0262006200082";
/// Another PIN of the victim's, to release.
const SPARE_PIN: &str = "0262006200084";
/// Numbers for sale: the victim's orders to pay and to cancel, and one to
/// order.
const FOR_SALE: [&str; 3] = ["+82261853091", "+82261853092", "+82261853093"];

struct World {
    router: Router,
    store: Store,
    operator: String,
    /// The tenant whose data the others try to reach: an individual.
    victim: MemberId,
    /// The company the victim administers.
    victim_company: MemberId,
    victim_token: String,
    /// A token of the victim's, to revoke.
    victim_spare_token: i64,
    /// A pending e-mail claim of the victim's, to verify (wrongly).
    claim_to_verify: i64,
    /// Another, to revoke.
    claim_to_revoke: i64,
    /// The victim's approved orders: one to pay, one to cancel.
    order_to_pay: i64,
    order_to_cancel: i64,
    /// Another tenant: an individual with no company.
    stranger_token: String,
    _dir: tempfile::TempDir,
}

async fn member(store: &Store, name: &str, kind: MemberKind) -> MemberId {
    store
        .add_member(&NewMember {
            kind,
            display_name: name.into(),
            email: None,
            country: "KR".into(),
        })
        .await
        .expect("a member")
        .id
}

async fn token_of(store: &Store, member: MemberId) -> String {
    store
        .create_member_token(member, "main")
        .await
        .expect("a member token")
        .plaintext
}

async fn world() -> World {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = Store::open(dir.path().to_str().expect("a UTF-8 path"))
        .await
        .expect("open the store");
    let operator = store.create_token("admin").await.unwrap().plaintext;
    let victim = member(&store, "Victim", MemberKind::Individual).await;
    store.grant(PIN, NumberKind::Pin, victim).await.unwrap();
    let victim_token = token_of(&store, victim).await;
    let victim_company = member(&store, "Victim Co", MemberKind::Company).await;
    store
        .set_role(victim, Role::CompanyAdmin, Some(victim_company))
        .await
        .unwrap();
    store
        .grant("62006200", NumberKind::Vns, victim_company)
        .await
        .unwrap();
    // Branches to read (KR) and to remove (US); JP is written.
    for country in ["KR", "US"] {
        store
            .set_branch(
                victim_company,
                country,
                &BranchDestination::Terminal(PIN.into()),
                false,
            )
            .await
            .unwrap();
    }
    let victim_spare_token = store
        .create_member_token(victim, "spare")
        .await
        .unwrap()
        .info
        .id;
    let claim_to_verify = store
        .create_claim(victim, ClaimKind::Email, "victim@example.com", PIN)
        .await
        .unwrap()
        .claim
        .id;
    let claim_to_revoke = store
        .create_claim(victim, ClaimKind::Email, "victim@example.org", PIN)
        .await
        .unwrap()
        .claim
        .id;
    store
        .grant(SPARE_PIN, NumberKind::Pin, victim)
        .await
        .unwrap();
    let listings: Vec<NewListing> = FOR_SALE
        .iter()
        .map(|number| NewListing {
            number: (*number).into(),
            kind: ListingKind::E164,
            country: "KR".into(),
            area_code: Some("2".into()),
            price: 5000.into(),
            monthly: 1100.into(),
            currency: "KRW".into(),
            premium: None,
        })
        .collect();
    store.import_listings(&listings, &|_| {}).await.unwrap();
    let mut orders = Vec::new();
    for number in &FOR_SALE[..2] {
        let new = NewOrder {
            member: victim,
            number: (*number).into(),
            idempotency_key: format!("buy {number}"),
        };
        let order = store
            .request_order(&new, now_millis(), store::orders::DEFAULT_HOLD_MS)
            .await
            .unwrap();
        orders.push(order.id);
    }
    let topup = Topup {
        member: victim,
        amount: 100_000.into(),
        currency: "KRW".into(),
        idempotency_key: "cash".into(),
    };
    store
        .top_up(&topup, Actor::Operator, now_millis())
        .await
        .unwrap();
    let stranger = member(&store, "Stranger", MemberKind::Individual).await;
    let stranger_token = token_of(&store, stranger).await;
    World {
        router: web::router(web::AppState::new(store.clone(), REALM)),
        store,
        operator,
        victim,
        victim_company,
        victim_token,
        victim_spare_token,
        claim_to_verify,
        claim_to_revoke,
        order_to_pay: orders[0],
        order_to_cancel: orders[1],
        stranger_token,
        _dir: dir,
    }
}

impl World {
    async fn send(&self, method: &Method, uri: &str, token: &str, body: Option<&str>) -> Answer {
        let body = body.map(str::to_owned);
        common::send(&self.router, method.clone(), uri, Some(token), body).await
    }

    /// Every (method, path template) of the OpenAPI document.
    async fn routes(&self) -> Vec<(Method, String)> {
        let doc = self
            .send(&Method::GET, "/api/v1/openapi.json", &self.operator, None)
            .await;
        assert_eq!(doc.status, StatusCode::OK);
        let mut routes = Vec::new();
        for (path, operations) in doc.body["paths"].as_object().expect("paths") {
            for method in operations.as_object().expect("operations").keys() {
                let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                routes.push((method, path.clone()));
            }
        }
        assert!(routes.len() >= 20, "{routes:?}");
        routes
    }

    /// `path` with its parameters filled in with the victim's things.
    fn uri(&self, method: &Method, path: &str) -> String {
        let claim = if method == Method::DELETE {
            self.claim_to_revoke
        } else {
            self.claim_to_verify
        };
        let country = match *method {
            Method::PUT => "JP",
            Method::DELETE => "US",
            _ => "KR",
        };
        let number = if method == Method::DELETE {
            SPARE_PIN
        } else {
            PIN
        };
        let id = if !path.starts_with("/api/v1/orders/") {
            self.target(path).0
        } else if path.ends_with("/cancel") {
            self.order_to_cancel
        } else {
            self.order_to_pay
        };
        path.replace("{id}", &id.to_string())
            .replace("{country}", country)
            .replace("{number}", number)
            .replace("{claim}", &claim.to_string())
            .replace("{token}", &self.victim_spare_token.to_string())
    }

    /// The member a route's `{id}` names: the victim's company for its
    /// branches, else the victim.
    fn target(&self, path: &str) -> MemberId {
        if path.contains("/branches/") {
            self.victim_company
        } else {
            self.victim
        }
    }

    /// What the victim's tenant looks like, to compare before and after.
    async fn snapshot(&self) -> String {
        let s = &self.store;
        let v = self.victim;
        format!(
            "{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
            (
                s.members(Page::first(1000)).await.unwrap(),
                s.branches(self.victim_company).await.unwrap()
            ),
            s.password_hash(v).await.unwrap(),
            s.member_tokens(v).await.unwrap(),
            s.claims_of(v).await.unwrap(),
            s.numbers_of(v).await.unwrap(),
            s.directory_listing(PIN).await.unwrap(),
            s.tokens().await.unwrap(),
            s.ha1(PIN, REALM, sip::digest::Algorithm::Md5)
                .await
                .unwrap(),
            (
                s.orders_of(v, now_millis()).await.unwrap(),
                s.ledger(v).await.unwrap(),
                s.balances(v).await.unwrap(),
                s.number_releases(SPARE_PIN).await.unwrap(),
            ),
            s.link(PIN).await.unwrap(),
        )
    }
}

/// Who may call a route.
#[derive(Debug, PartialEq)]
enum Access {
    /// No token needed.
    Public,
    /// Any current token.
    AnyToken,
    /// The operator's route: 403 for every member.
    Operator,
    /// A route on member `{id}`: 404 for another tenant.
    Tenant,
    /// A route on member `{id}` that only the operator may call: 404 for
    /// another tenant, 403 for the member themself.
    OperatorOnTenant,
    /// A route on order `{id}`: 404 for another tenant's order.
    Order,
}

fn access(method: &Method, path: &str) -> Access {
    match (method.as_str(), path) {
        ("GET", "/healthz" | "/n/{number}" | "/p/{token}")
        | ("GET", "/api/v1/directory/{number}" | "/api/v1/numbers/available") => Access::Public,
        ("GET", "/api/v1/openapi.json") => Access::AnyToken,
        ("POST" | "GET", "/api/v1/members") | ("POST", "/api/v1/inventory") => Access::Operator,
        ("POST", "/api/v1/orders/{id}/approve" | "/api/v1/orders/{id}/reject")
        | ("GET", "/api/v1/approvals" | "/api/v1/rentals/arrears") => Access::Operator,
        // Ordering for the victim: 404 for the victim as a member.
        ("POST", "/api/v1/orders") => Access::Tenant,
        ("POST", "/api/v1/orders/{id}/pay" | "/api/v1/orders/{id}/cancel")
        | ("GET", "/api/v1/orders/{id}") => Access::Order,
        ("POST", "/api/v1/members/{id}/numbers" | "/api/v1/members/{id}/topups") => {
            Access::OperatorOnTenant
        }
        (_, path) if path.starts_with("/api/v1/members/{id}") => Access::Tenant,
        _ => panic!("{method} {path} has no tenancy expectation: add it to access()"),
    }
}

/// A valid request of the right tenant on a member route, and the status
/// it succeeds with.
fn valid_request(method: &Method, path: &str) -> (Option<Value>, StatusCode) {
    match (method.as_str(), path) {
        ("GET", "/api/v1/members/{id}") => (None, StatusCode::OK),
        ("PUT", "/api/v1/members/{id}") => (
            Some(json!({"language": "ko", "contact_pstn": "+82 10-1234-5678"})),
            StatusCode::OK,
        ),
        ("POST", "/api/v1/members/{id}/password") => (
            Some(json!({"password": "correct horse battery"})),
            StatusCode::NO_CONTENT,
        ),
        ("POST", "/api/v1/members/{id}/tokens") => {
            (Some(json!({"name": "script"})), StatusCode::CREATED)
        }
        ("GET", "/api/v1/members/{id}/tokens") => (None, StatusCode::OK),
        ("DELETE", "/api/v1/members/{id}/tokens/{token}") => (None, StatusCode::NO_CONTENT),
        ("POST", "/api/v1/members/{id}/claims") => (
            Some(json!({"kind": "email", "value": "victim@example.net", "number": PIN})),
            StatusCode::CREATED,
        ),
        ("GET", "/api/v1/members/{id}/claims") => (None, StatusCode::OK),
        ("DELETE", "/api/v1/members/{id}/claims/{claim}") => (None, StatusCode::OK),
        // The code is wrong, which only the claim's member gets told.
        ("POST", "/api/v1/members/{id}/claims/{claim}/verify") => (
            Some(json!({"code": "000000"})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("PUT", "/api/v1/members/{id}/numbers/{number}/directory") => (
            Some(json!({"sip": "sip:victim@example.com"})),
            StatusCode::OK,
        ),
        ("POST", "/api/v1/members/{id}/numbers/{number}/profile") => (None, StatusCode::CREATED),
        ("GET", "/api/v1/members/{id}/numbers/{number}/devices") => (None, StatusCode::OK),
        ("GET", "/api/v1/members/{id}/branches/{country}") => (None, StatusCode::OK),
        ("PUT", "/api/v1/members/{id}/branches/{country}") => (
            Some(
                json!({"destination": {"group": ["6200-6200", "02-6200-6200-082"]}, "default": true}),
            ),
            StatusCode::OK,
        ),
        ("DELETE", "/api/v1/members/{id}/branches/{country}") => (None, StatusCode::NO_CONTENT),
        ("POST", "/api/v1/members/{id}/numbers") => (
            Some(json!({"number": "02-6200-6200-083"})),
            StatusCode::FORBIDDEN,
        ),
        ("POST", "/api/v1/members/{id}/topups") => (
            Some(json!({"amount": "10.00", "currency": "USD"})),
            StatusCode::FORBIDDEN,
        ),
        ("GET", "/api/v1/members/{id}/ledger" | "/api/v1/members/{id}/orders") => {
            (None, StatusCode::OK)
        }
        ("DELETE", "/api/v1/members/{id}/numbers/{number}") => (None, StatusCode::OK),
        ("POST", "/api/v1/orders") => (
            Some(json!({"number": FOR_SALE[2], "idempotency_key": "walk"})),
            StatusCode::CREATED,
        ),
        ("GET", "/api/v1/orders/{id}") => (None, StatusCode::OK),
        ("POST", "/api/v1/orders/{id}/pay" | "/api/v1/orders/{id}/cancel") => {
            (None, StatusCode::OK)
        }
        _ => panic!("{method} {path} has no valid request: add it to valid_request()"),
    }
}

/// Some body for a route that takes one, valid or not: the wrong tenant
/// must be refused whatever it sends.
fn some_body(world: &World, method: &Method, path: &str) -> Option<String> {
    match access(method, path) {
        // The stranger orders for the victim.
        Access::Tenant if path == "/api/v1/orders" => {
            let victim = world.victim.0;
            Some(
                json!({"member": victim, "number": FOR_SALE[2], "idempotency_key": "k"})
                    .to_string(),
            )
        }
        Access::Tenant | Access::OperatorOnTenant | Access::Order => {
            valid_request(method, path).0.map(|body| body.to_string())
        }
        Access::Operator if *method == Method::POST => Some("{}".to_owned()),
        _ => None,
    }
}

#[tokio::test]
async fn another_tenants_member_gets_404_or_403_on_every_route_and_changes_nothing() {
    let world = world().await;
    let before = world.snapshot().await;
    for (method, path) in world.routes().await {
        let uri = world.uri(&method, &path);
        let body = some_body(&world, &method, &path);
        let answer = world
            .send(&method, &uri, &world.stranger_token, body.as_deref())
            .await;
        let expected = match access(&method, &path) {
            Access::Public | Access::AnyToken => continue,
            Access::Operator => StatusCode::FORBIDDEN,
            Access::Tenant | Access::OperatorOnTenant | Access::Order => StatusCode::NOT_FOUND,
        };
        assert_eq!(answer.status, expected, "{method} {uri}: {:?}", answer.body);
        assert_eq!(
            answer.content_type, "application/problem+json",
            "{method} {uri}"
        );
        if expected == StatusCode::NOT_FOUND {
            // Exactly what an id that does not exist gets.
            let detail = if access(&method, &path) == Access::Order {
                format!("there is no order {}", uri.split('/').nth(4).unwrap())
            } else {
                format!("member {} does not exist", world.target(&path))
            };
            assert_eq!(answer.body["detail"], detail, "{method} {uri}");
        }
        assert_eq!(
            world.snapshot().await,
            before,
            "{method} {uri} changed something"
        );
    }
}

#[tokio::test]
async fn the_right_tenant_succeeds_on_every_member_route() {
    let world = world().await;
    let routes = world.routes().await;
    for (method, path) in &routes {
        let uri = world.uri(method, path);
        let answer = match access(method, path) {
            Access::Public => continue,
            Access::AnyToken => {
                let answer = world.send(method, &uri, &world.victim_token, None).await;
                assert_eq!(answer.status, StatusCode::OK, "{method} {uri}");
                continue;
            }
            Access::Operator => {
                let body = some_body(&world, method, path);
                let answer = world
                    .send(method, &uri, &world.victim_token, body.as_deref())
                    .await;
                assert_eq!(answer.status, StatusCode::FORBIDDEN, "{method} {uri}");
                continue;
            }
            Access::Tenant | Access::OperatorOnTenant | Access::Order => {
                let (body, expected) = valid_request(method, path);
                let body = body.map(|b| b.to_string());
                let answer = world
                    .send(method, &uri, &world.victim_token, body.as_deref())
                    .await;
                (answer, expected)
            }
        };
        let (answer, expected) = answer;
        assert_eq!(answer.status, expected, "{method} {uri}: {:?}", answer.body);
    }
    // What the walk did is there.
    let victim = world.store.member(world.victim).await.unwrap().unwrap();
    assert_eq!(
        victim.profile.contact_pstn.as_deref(),
        Some("+821012345678")
    );
    assert!(world
        .store
        .password_hash(world.victim)
        .await
        .unwrap()
        .is_some());
    let listing = world.store.directory_listing(PIN).await.unwrap().unwrap();
    assert!(format!("{listing:?}").contains("sip:victim@example.com"));
    let branches = world.store.branches(world.victim_company).await.unwrap();
    let countries: Vec<(&str, bool)> = branches
        .iter()
        .map(|b| (b.country.as_str(), b.default))
        .collect();
    assert_eq!(countries, vec![("JP", true), ("KR", false)]);
}

#[tokio::test]
async fn malformed_bodies_and_query_strings_get_a_problem_and_change_nothing() {
    let world = world().await;
    let doc = world
        .send(&Method::GET, "/api/v1/openapi.json", &world.operator, None)
        .await
        .body;
    let before = world.snapshot().await;
    for (method, path) in world.routes().await {
        let operation = &doc["paths"][&path][method.as_str().to_lowercase()];
        let uri = world.uri(&method, &path);
        if !operation["requestBody"].is_null() {
            for body in ["{", "[1, 2", "42", r#"{"no such field": 1}"#, "\"text\""] {
                let answer = world.send(&method, &uri, &world.operator, Some(body)).await;
                assert!(
                    [StatusCode::BAD_REQUEST, StatusCode::UNPROCESSABLE_ENTITY]
                        .contains(&answer.status),
                    "{method} {uri} {body}: {} {:?}",
                    answer.status,
                    answer.body
                );
                assert_eq!(answer.content_type, "application/problem+json");
                assert!(answer.body["detail"]
                    .as_str()
                    .is_some_and(|d| !d.is_empty()));
            }
        }
        let in_query = operation["parameters"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"));
        if in_query {
            for query in ["limit=many", "no_such_parameter=1", "after=%FF%FE"] {
                let answer = world
                    .send(&method, &format!("{uri}?{query}"), &world.operator, None)
                    .await;
                assert!(
                    [StatusCode::BAD_REQUEST, StatusCode::UNPROCESSABLE_ENTITY]
                        .contains(&answer.status),
                    "{method} {uri}?{query}: {} {:?}",
                    answer.status,
                    answer.body
                );
                assert_eq!(answer.content_type, "application/problem+json");
            }
        }
        assert_eq!(
            world.snapshot().await,
            before,
            "{method} {uri} changed something"
        );
    }
}

#[tokio::test]
async fn a_company_admin_manages_the_company_and_its_members_only() {
    let world = world().await;
    let s = &world.store;
    let acme = member(s, "Acme", MemberKind::Company).await;
    let admin = member(s, "Ada", MemberKind::Individual).await;
    let staff = member(s, "Sam", MemberKind::Individual).await;
    s.set_role(admin, Role::CompanyAdmin, Some(acme))
        .await
        .unwrap();
    s.set_role(staff, Role::Member, Some(acme)).await.unwrap();
    let admin_token = token_of(s, admin).await;
    let staff_token = token_of(s, staff).await;

    for id in [acme, admin, staff] {
        let answer = world
            .send(
                &Method::GET,
                &format!("/api/v1/members/{id}"),
                &admin_token,
                None,
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "member {id}");
    }
    let put = world
        .send(
            &Method::PUT,
            &format!("/api/v1/members/{staff}"),
            &admin_token,
            Some(r#"{"language": "en-gb", "voip_elsewhere": "sip:sam@voip.example.net"}"#),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{:?}", put.body);
    assert_eq!(put.body["language"], "en-GB");
    assert_eq!(put.body["company_id"], acme.0);
    // Another tenant's member, and the company's members among themselves.
    for (token, id) in [
        (&admin_token, world.victim),
        (&staff_token, admin),
        (&staff_token, acme),
    ] {
        let answer = world
            .send(&Method::GET, &format!("/api/v1/members/{id}"), token, None)
            .await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "member {id}");
    }
    // Roles are the operator's to give, even to oneself.
    let before = world.store.member(admin).await.unwrap();
    let promote = world
        .send(
            &Method::PUT,
            &format!("/api/v1/members/{admin}"),
            &admin_token,
            Some(r#"{"role": "operator"}"#),
        )
        .await;
    assert_eq!(promote.status, StatusCode::FORBIDDEN, "{:?}", promote.body);
    assert_eq!(world.store.member(admin).await.unwrap(), before);
    let by_operator = world
        .send(
            &Method::PUT,
            &format!("/api/v1/members/{staff}"),
            &world.operator,
            Some(r#"{"role": "company_admin"}"#),
        )
        .await;
    assert_eq!(by_operator.status, StatusCode::OK, "{:?}", by_operator.body);
    assert_eq!(by_operator.body["role"], "company_admin");
}

#[tokio::test]
async fn a_member_changes_their_password_with_the_current_one_and_tokens_are_revocable() {
    let world = world().await;
    let uri = format!("/api/v1/members/{}/password", world.victim);
    let token = &world.victim_token;
    let first = world
        .send(
            &Method::POST,
            &uri,
            token,
            Some(r#"{"password": "first password"}"#),
        )
        .await;
    assert_eq!(first.status, StatusCode::NO_CONTENT);
    let phc = world
        .store
        .password_hash(world.victim)
        .await
        .unwrap()
        .unwrap();
    assert!(phc.starts_with("$argon2id$"), "{phc}");
    assert!(!phc.contains("first password"));

    for body in [
        r#"{"password": "second password"}"#,
        r#"{"password": "second password", "current_password": "wrong password"}"#,
    ] {
        let refused = world.send(&Method::POST, &uri, token, Some(body)).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{body}");
    }
    let short = world
        .send(&Method::POST, &uri, token, Some(r#"{"password": "short"}"#))
        .await;
    assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        world
            .store
            .password_hash(world.victim)
            .await
            .unwrap()
            .unwrap(),
        phc
    );
    let changed = world
        .send(
            &Method::POST,
            &uri,
            token,
            Some(r#"{"password": "second password", "current_password": "first password"}"#),
        )
        .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT);
    // The operator resets without the current one.
    let reset = world
        .send(
            &Method::POST,
            &uri,
            &world.operator,
            Some(r#"{"password": "third password"}"#),
        )
        .await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT);

    // A token created through the API is shown once, works, and stops
    // working when revoked.
    let tokens = format!("/api/v1/members/{}/tokens", world.victim);
    let created = world
        .send(&Method::POST, &tokens, token, Some(r#"{"name": "cron"}"#))
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let plaintext = created.body["token"].as_str().unwrap().to_owned();
    let listed = world.send(&Method::GET, &tokens, &plaintext, None).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert!(listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t.get("token").is_none()));
    let id = created.body["id"].as_i64().unwrap();
    let revoked = world
        .send(&Method::DELETE, &format!("{tokens}/{id}"), token, None)
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    let after = world.send(&Method::GET, &tokens, &plaintext, None).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_branch_in_a_country_without_a_numbering_plan_is_refused_and_changes_nothing() {
    let world = world().await;
    let before = world.store.branches(world.victim_company).await.unwrap();
    let body = r#"{"destination": {"pstn": "+82 2 6200 6200"}}"#;
    for country in ["ZZ", "XX", "KOR", "K1"] {
        let answer = world
            .send(
                &Method::PUT,
                &format!(
                    "/api/v1/members/{}/branches/{country}",
                    world.victim_company
                ),
                &world.victim_token,
                Some(body),
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{country}: {:?}",
            answer.body
        );
        assert!(
            answer.body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("not a country the exchange knows")),
            "{country}: {:?}",
            answer.body
        );
    }
    assert_eq!(
        world.store.branches(world.victim_company).await.unwrap(),
        before
    );
}
