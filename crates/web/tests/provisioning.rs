//! Provisioning profiles and registered devices over HTTP, through the
//! router in process: a member issues their number's profile (a new SIP
//! password, the old one stops working), a softphone downloads it from the
//! public link in three formats, nobody else can issue or read it, and bad
//! input changes nothing.

mod common;

use axum::body::{to_bytes, Body};
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use serde_json::Value;
use sip::digest::{ha1, Algorithm};
use store::prelude::*;
use store::{Binding, Provisioning};
use tower::ServiceExt;

const REALM: &str = "test.callex";
const ALICE_PIN: &str = "0262006200082";
const BOB_PIN: &str = "0262006200083";

struct World {
    router: Router,
    store: Store,
    operator: String,
    alice: MemberId,
    alice_token: String,
    bob: MemberId,
    bob_token: String,
    _dir: tempfile::TempDir,
}

async fn member_with_number(store: &Store, name: &str, number: &str) -> (MemberId, String) {
    let member = store
        .add_member(&NewMember {
            kind: MemberKind::Individual,
            display_name: name.into(),
            email: None,
            country: "KR".into(),
        })
        .await
        .unwrap()
        .id;
    let number = web::operator::read_number(number, None).unwrap();
    web::operator::grant_number(store, REALM, &number, member, Some("initial-password"))
        .await
        .unwrap();
    let token = store
        .create_member_token(member, "main")
        .await
        .unwrap()
        .plaintext;
    (member, token)
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().to_str().unwrap()).await.unwrap();
    let operator = store.create_token("admin").await.unwrap().plaintext;
    let (alice, alice_token) = member_with_number(&store, "Alice", ALICE_PIN).await;
    let (bob, bob_token) = member_with_number(&store, "Bob", BOB_PIN).await;
    let target = web::provisioning::ProvisioningTarget {
        host: Some("sip.example.net".into()),
        listeners: vec![
            (
                web::provisioning::SipTransport::Udp,
                "0.0.0.0:5060".parse().unwrap(),
            ),
            (
                web::provisioning::SipTransport::Tcp,
                "0.0.0.0:5060".parse().unwrap(),
            ),
        ],
    };
    World {
        router: web::router(web::AppState::new(store.clone(), REALM).with_provisioning(target)),
        store,
        operator,
        alice,
        alice_token,
        bob,
        bob_token,
        _dir: dir,
    }
}

/// What the router answered, with the body as text.
struct Raw {
    status: StatusCode,
    content_type: String,
    cache_control: String,
    text: String,
}

impl Raw {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
}

impl World {
    async fn send(&self, method: Method, uri: &str, token: Option<&str>) -> Raw {
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::HOST, "callex.example.net");
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let response = self
            .router
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let header_of = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let (content_type, cache_control) = (
            header_of(header::CONTENT_TYPE),
            header_of(header::CACHE_CONTROL),
        );
        let status = response.status();
        let bytes = to_bytes(response.into_body(), 1 << 20).await.unwrap();
        Raw {
            status,
            content_type,
            cache_control,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    async fn issue(&self, member: MemberId, number: &str, token: &str) -> Raw {
        self.send(
            Method::POST,
            &format!("/api/v1/members/{member}/numbers/{number}/profile"),
            Some(token),
        )
        .await
    }

    async fn md5(&self, number: &str) -> Option<String> {
        self.store.ha1(number, REALM, Algorithm::Md5).await.unwrap()
    }

    /// What a request that must change nothing could have changed.
    async fn snapshot(&self) -> String {
        let mut out = String::new();
        for number in [ALICE_PIN, BOB_PIN] {
            out.push_str(&format!(
                "{:?} {:?} {:?}\n",
                self.md5(number).await,
                self.store
                    .ha1(number, REALM, Algorithm::Sha256)
                    .await
                    .unwrap(),
                self.store.link(number).await.unwrap()
            ));
        }
        out
    }
}

#[tokio::test]
async fn a_member_issues_a_profile_the_old_password_stops_and_the_link_serves_three_formats() {
    let world = world().await;
    let old_ha1 = world.md5(ALICE_PIN).await.unwrap();
    let issued = world
        .issue(world.alice, "02-6200-6200-082", &world.alice_token)
        .await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.text);
    let body = issued.json();
    let password = body["sip_password"].as_str().unwrap().to_owned();
    assert_eq!(password.len(), 24);
    assert_eq!(body["sip_username"], ALICE_PIN);
    assert_eq!(body["number"], "02-6200-6200-082");
    assert_eq!(body["sip_realm"], REALM);
    assert_eq!(body["server"], "sip.example.net");
    assert_eq!(body["sip_address"], "sip:0262006200082@sip.example.net");
    assert_eq!(body["endpoints"][0]["transport"], "udp");
    assert_eq!(body["endpoints"][1]["transport"], "tcp");
    let link = body["link"].as_str().unwrap().to_owned();
    assert!(
        link.starts_with("http://callex.example.net/p/cxp_"),
        "{link}"
    );
    assert_eq!(body["linphone_uri"], format!("linphone-config:{link}.xml"));
    let expires_in = body["expires_at"].as_i64().unwrap() - store::now_millis();
    assert!(
        (23 * 3_600_000..=24 * 3_600_000).contains(&expires_in),
        "{expires_in}"
    );

    // The old password stops working at once: the HA1s are the new one's.
    let new_ha1 = world.md5(ALICE_PIN).await.unwrap();
    assert_ne!(new_ha1, old_ha1);
    assert_eq!(new_ha1, ha1(Algorithm::Md5, ALICE_PIN, REALM, &password));
    assert_eq!(
        world
            .store
            .ha1(ALICE_PIN, REALM, Algorithm::Sha256)
            .await
            .unwrap(),
        Some(ha1(Algorithm::Sha256, ALICE_PIN, REALM, &password))
    );

    let path = link.trim_start_matches("http://callex.example.net");
    let card = world.send(Method::GET, path, None).await;
    assert_eq!(card.status, StatusCode::OK);
    assert_eq!(card.content_type, "text/plain; charset=utf-8");
    assert_eq!(card.cache_control, "no-store");
    assert!(
        card.text
            .contains(&format!("Password:         {password}\n")),
        "{}",
        card.text
    );
    assert!(card.text.contains("UDP port 5060"), "{}", card.text);
    let txt = world.send(Method::GET, &format!("{path}.txt"), None).await;
    assert_eq!(txt.text, card.text);

    let xml = world.send(Method::GET, &format!("{path}.xml"), None).await;
    assert_eq!(xml.status, StatusCode::OK);
    assert_eq!(xml.content_type, "application/xml");
    assert_eq!(xml.cache_control, "no-store");
    assert!(xml.text.contains(&format!(
        "<entry name=\"passwd\" overwrite=\"true\">{password}</entry>"
    )));
    assert!(xml
        .text
        .contains("&lt;sip:sip.example.net:5060;transport=udp&gt;"));

    let baresip = world
        .send(Method::GET, &format!("{path}?format=baresip"), None)
        .await;
    assert_eq!(baresip.status, StatusCode::OK);
    assert_eq!(
        baresip.text,
        format!(
            "<sip:{ALICE_PIN}@sip.example.net:5060;transport=udp>;auth_user={ALICE_PIN};\
             auth_pass={password};regint=600\n"
        )
    );
    let counted = world.store.link(ALICE_PIN).await.unwrap().unwrap();
    assert_eq!(counted.fetches, 4);

    // Issued again (by the operator this time): the old link is gone and
    // the password changes again.
    let again = world.issue(world.alice, ALICE_PIN, &world.operator).await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.text);
    assert_ne!(again.json()["sip_password"], password.as_str());
    assert_ne!(world.md5(ALICE_PIN).await.unwrap(), new_ha1);
    let stale = world.send(Method::GET, path, None).await;
    assert_eq!(stale.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn nobody_issues_or_lists_another_member_s_number_and_bad_numbers_change_nothing() {
    let world = world().await;
    let before = world.snapshot().await;
    let attempts = [
        // Another tenant's member id: the tenancy layer's 404.
        (
            world.alice,
            ALICE_PIN,
            &world.bob_token,
            StatusCode::NOT_FOUND,
        ),
        // Bob's own id, Alice's number.
        (
            world.bob,
            ALICE_PIN,
            &world.bob_token,
            StatusCode::NOT_FOUND,
        ),
        // The operator, on Bob, for Alice's number.
        (world.bob, ALICE_PIN, &world.operator, StatusCode::NOT_FOUND),
        // A number nobody holds, and what is not a number.
        (
            world.alice,
            "02-6200-6200-099",
            &world.alice_token,
            StatusCode::NOT_FOUND,
        ),
        (
            world.alice,
            "not-a-number",
            &world.alice_token,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            world.alice,
            "%3Cscript%3E",
            &world.alice_token,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (member, number, token, expected) in attempts {
        for route in ["profile", "devices"] {
            let method = if route == "profile" {
                Method::POST
            } else {
                Method::GET
            };
            let answer = world
                .send(
                    method.clone(),
                    &format!("/api/v1/members/{member}/numbers/{number}/{route}"),
                    Some(token),
                )
                .await;
            assert_eq!(
                answer.status, expected,
                "{method} {member} {number}: {}",
                answer.text
            );
            assert_eq!(answer.content_type, "application/problem+json");
            let detail = answer.json()["detail"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            assert!(!detail.is_empty());
            // Whose number it is, is not said.
            assert!(!detail.contains("held by"), "{detail}");
        }
        assert_eq!(world.snapshot().await, before, "{member} {number}");
    }
}

#[tokio::test]
async fn an_unknown_malformed_or_expired_link_is_the_same_404_and_a_bad_format_a_400() {
    let world = world().await;
    let expired = world
        .store
        .create_link(ALICE_PIN, world.alice, "some-password", 1_000, 1)
        .await
        .unwrap();
    let mut details = Vec::new();
    for path in [
        format!("/p/cxp_{}", "0".repeat(64)),
        "/p/cxp_short".to_owned(),
        "/p/%27%20OR%201%3D1".to_owned(),
        format!("/p/{}", expired.token),
        format!("/p/{}.xml", expired.token),
    ] {
        let answer = world.send(Method::GET, &path, None).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(answer.content_type, "application/problem+json", "{path}");
        assert_eq!(answer.cache_control, "no-store", "{path}");
        details.push(answer.json()["detail"].clone());
    }
    details.dedup();
    assert_eq!(details.len(), 1, "one answer for all: {details:?}");
    for path in [
        format!("/p/{}.exe", expired.token),
        format!("/p/{}?format=json", expired.token),
        format!("/p/{}.xml?format=baresip", expired.token),
        format!("/p/{}?no_such=1", expired.token),
    ] {
        let answer = world.send(Method::GET, &path, None).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{path}: {}",
            answer.text
        );
        assert_eq!(answer.content_type, "application/problem+json");
    }
    assert_eq!(
        world.store.link(ALICE_PIN).await.unwrap().unwrap().fetches,
        0,
        "nothing was served"
    );
}

#[tokio::test]
async fn the_devices_route_lists_the_number_s_current_bindings_with_their_user_agents() {
    let world = world().await;
    let now = store::now_millis();
    let binding = |contact: &str, expires_at: i64, user_agent: &str| Binding {
        aor: web::provisioning::aor(ALICE_PIN, REALM),
        contact: contact.into(),
        q: 1000,
        expires_at,
        call_id: format!("reg-{contact}"),
        cseq: 1,
        path: String::new(),
        received: "udp:192.0.2.10:5062".into(),
        instance_id: None,
        reg_id: None,
        user_agent: user_agent.into(),
        node: "node-a".into(),
        updated_at: now,
    };
    for b in [
        binding(
            "sip:0262006200082@192.0.2.10:5062",
            now + 600_000,
            "baresip v1.0.0",
        ),
        binding("sip:0262006200082@192.0.2.11:5060", now - 1, "gone"),
    ] {
        world.store.upsert_binding(&b).await.unwrap();
    }
    let uri = format!(
        "/api/v1/members/{}/numbers/02-6200-6200-082/devices",
        world.alice
    );
    let answer = world
        .send(Method::GET, &uri, Some(&world.alice_token))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let devices = answer.json();
    let devices = devices.as_array().unwrap();
    assert_eq!(
        devices.len(),
        1,
        "the expired binding is not listed: {devices:?}"
    );
    assert_eq!(devices[0]["contact"], "sip:0262006200082@192.0.2.10:5062");
    assert_eq!(devices[0]["transport"], "udp");
    assert_eq!(devices[0]["source"], "192.0.2.10:5062");
    assert_eq!(devices[0]["user_agent"], "baresip v1.0.0");
    assert_eq!(devices[0]["expires_at"], now + 600_000);

    let bobs = format!("/api/v1/members/{}/numbers/{BOB_PIN}/devices", world.bob);
    let none = world.send(Method::GET, &bobs, Some(&world.bob_token)).await;
    assert_eq!(none.status, StatusCode::OK);
    assert_eq!(none.json(), serde_json::json!([]));
}
