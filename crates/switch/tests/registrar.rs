//! The registrar over real sockets on 127.0.0.1, with its store in a
//! temporary directory: digest challenge and answers (SHA-256 and MD5),
//! refusals, expiry bounds, `*`, expiry on time, bindings across a restart,
//! NAT (`received`), UDP keep-alives, and SIPp registering with auth.

mod common;

use std::time::Duration;

use common::*;
use sip::digest::{self, Algorithm};
use sip::{HeaderName, Message};
use store::prelude::*;
use switch::{RegistrarConfig, SipConfig};
use tokio::time::timeout;

const NUMBER: &str = "0262006200082";
const PASSWORD: &str = "correct horse";

fn contact(phone: &Phone, user: &str) -> String {
    format!("sip:{user}@{}", phone.addr())
}

fn contacts_of(msg: &Message) -> Vec<String> {
    msg.values(HeaderName::Contact)
        .map(|v| v.unwrap().to_owned())
        .collect()
}

/// SHA-256 offered first and MD5 too, as an operator may configure.
fn both_algorithms() -> RegistrarConfig {
    RegistrarConfig {
        algorithms: vec![Algorithm::Sha256, Algorithm::Md5],
        ..RegistrarConfig::default()
    }
}

async fn exchange_with_member(registrar: RegistrarConfig) -> Exchange {
    let exchange = start_configured(SipConfig {
        registrar,
        ..local_config()
    })
    .await;
    add_member(exchange.service.store(), NUMBER, PASSWORD).await;
    exchange
}

#[tokio::test]
async fn register_without_credentials_is_challenged_with_md5_as_phones_expect() {
    let exchange = exchange_with_member(RegistrarConfig::default()).await;
    let mut phone = Phone::new(NUMBER).await;
    let register = phone.register(&[format!("Contact: <{}>", contact(&phone, "a"))], None);
    let challenged = phone.send(exchange.udp, &register).await;
    assert_eq!(challenged.status(), Some(401));
    let algorithms: Vec<Algorithm> = challenged
        .headers(HeaderName::WwwAuthenticate)
        .map(|v| digest::Challenge::parse(v).unwrap().algorithm)
        .collect();
    assert_eq!(algorithms, [Algorithm::Md5]);
    assert!(challenged.to_tag().is_some());
    let stored = exchange
        .service
        .store()
        .bindings("sip:0262006200082@callex", store::now_millis())
        .await
        .unwrap();
    assert!(stored.is_empty(), "a challenge binds nothing");
}

async fn registers_with(algorithm: Algorithm) {
    let exchange = exchange_with_member(both_algorithms()).await;
    let mut phone = Phone::new(NUMBER).await;
    let desk = contact(&phone, "desk");
    let ok = phone
        .register_with(
            exchange.udp,
            &[format!("Contact: <{desk}>"), "Expires: 600".into()],
            algorithm,
            PASSWORD,
        )
        .await;
    assert_eq!(ok.status(), Some(200), "{ok:?}");
    assert_eq!(contacts_of(&ok), [format!("<{desk}>;expires=600")]);
    assert_eq!(ok.header(HeaderName::Supported), Some("path"));
}

#[tokio::test]
async fn register_with_sha256_credentials_binds_the_contact_with_its_expiry() {
    registers_with(Algorithm::Sha256).await;
}

#[tokio::test]
async fn register_with_md5_credentials_binds_the_contact_with_its_expiry() {
    registers_with(Algorithm::Md5).await;
}

#[tokio::test]
async fn a_wrong_password_is_challenged_again_and_binds_nothing() {
    let exchange = exchange_with_member(both_algorithms()).await;
    let mut phone = Phone::new(NUMBER).await;
    let headers = [format!("Contact: <{}>", contact(&phone, "a"))];
    let refused = phone
        .register_with(exchange.udp, &headers, Algorithm::Sha256, "wrong")
        .await;
    assert_eq!(refused.status(), Some(401));
    let stored = exchange
        .service
        .store()
        .bindings("sip:0262006200082@callex", store::now_millis())
        .await
        .unwrap();
    assert!(stored.is_empty());
}

#[tokio::test]
async fn a_password_reset_by_another_process_takes_effect_on_the_running_exchange() {
    let exchange = exchange_with_member(both_algorithms()).await;
    let mut phone = Phone::new(NUMBER).await;
    let headers = [format!("Contact: <{}>", contact(&phone, "a"))];
    let ok = phone
        .register_with(exchange.udp, &headers, Algorithm::Md5, PASSWORD)
        .await;
    assert_eq!(ok.status(), Some(200), "the exchange now knows the HA1");
    // The CLI of the same data directory: another store handle, as another
    // process has.
    let cli = store::Store::open(exchange.data_dir.path().to_str().unwrap())
        .await
        .unwrap();
    let new = "new password";
    cli.set_password_ha1s(
        NUMBER,
        switch::DEFAULT_REALM,
        &[
            (
                Algorithm::Md5,
                &digest::ha1(Algorithm::Md5, NUMBER, switch::DEFAULT_REALM, new),
            ),
            (
                Algorithm::Sha256,
                &digest::ha1(Algorithm::Sha256, NUMBER, switch::DEFAULT_REALM, new),
            ),
        ],
    )
    .await
    .unwrap();
    // Within a few of the exchange's polls of the directory version.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let refused = phone
        .register_with(exchange.udp, &headers, Algorithm::Md5, PASSWORD)
        .await;
    assert_eq!(refused.status(), Some(401), "the old password is refused");
    let ok = phone
        .register_with(exchange.udp, &headers, Algorithm::Md5, new)
        .await;
    assert_eq!(ok.status(), Some(200), "the new one works");
}

#[tokio::test]
async fn another_members_number_is_forbidden_and_an_unheld_one_not_found() {
    let exchange = exchange_with_member(both_algorithms()).await;
    add_member(exchange.service.store(), "0262006201082", "other").await;
    // Authenticated as NUMBER, registering someone else's number.
    let mut phone = Phone::new("0262006201082").await;
    let headers = [format!("Contact: <{}>", contact(&phone, "a"))];
    let first = phone.register(&headers, None);
    let challenged = phone.send(exchange.udp, &first).await;
    let challenge =
        digest::pick_challenge(challenged.headers(HeaderName::WwwAuthenticate)).unwrap();
    let as_other = digest::respond(
        &challenge,
        "REGISTER",
        REQUEST_URI,
        NUMBER,
        PASSWORD,
        "c0ffee",
        1,
    )
    .unwrap();
    let second = phone.register(&headers, Some(&as_other));
    assert_eq!(phone.send(exchange.udp, &second).await.status(), Some(403));

    let mut stranger = Phone::new("0299999999").await;
    let first = stranger.register(&headers, None);
    let challenged = stranger.send(exchange.udp, &first).await;
    let challenge =
        digest::pick_challenge(challenged.headers(HeaderName::WwwAuthenticate)).unwrap();
    let as_member = digest::respond(
        &challenge,
        "REGISTER",
        REQUEST_URI,
        NUMBER,
        PASSWORD,
        "c0ffee",
        1,
    )
    .unwrap();
    let second = stranger.register(&headers, Some(&as_member));
    assert_eq!(
        stranger.send(exchange.udp, &second).await.status(),
        Some(404)
    );
}

#[tokio::test]
async fn too_short_an_expiry_gets_423_with_min_expires() {
    let exchange = exchange_with_member(both_algorithms()).await;
    let mut phone = Phone::new(NUMBER).await;
    let register = phone.register(
        &[
            format!("Contact: <{}>", contact(&phone, "a")),
            "Expires: 30".into(),
        ],
        None,
    );
    let brief = phone.send(exchange.udp, &register).await;
    assert_eq!(brief.status(), Some(423));
    assert_eq!(brief.header(HeaderName::MinExpires), Some("60"));
}

#[tokio::test]
async fn several_contacts_are_listed_highest_q_first_and_star_removes_them_all() {
    let exchange = exchange_with_member(both_algorithms()).await;
    let mut phone = Phone::new(NUMBER).await;
    let desk = contact(&phone, "desk");
    let mobile = contact(&phone, "mobile");
    let ok = phone
        .register_with(
            exchange.udp,
            &[
                format!("Contact: <{desk}>;q=0.3, <{mobile}>;q=0.9;expires=120"),
                "Expires: 600".into(),
            ],
            Algorithm::Sha256,
            PASSWORD,
        )
        .await;
    assert_eq!(ok.status(), Some(200), "{ok:?}");
    assert_eq!(
        contacts_of(&ok),
        [
            format!("<{mobile}>;expires=120;q=0.9"),
            format!("<{desk}>;expires=600;q=0.3")
        ]
    );

    let removed = phone
        .register_with(
            exchange.udp,
            &["Contact: *".into(), "Expires: 0".into()],
            Algorithm::Sha256,
            PASSWORD,
        )
        .await;
    assert_eq!(removed.status(), Some(200), "{removed:?}");
    assert!(contacts_of(&removed).is_empty());
    let stored = exchange
        .service
        .store()
        .bindings("sip:0262006200082@callex", store::now_millis())
        .await
        .unwrap();
    assert!(stored.is_empty());

    // `*` with a non-zero expiry is malformed.
    let bad = phone.register(&["Contact: *".into(), "Expires: 60".into()], None);
    assert_eq!(phone.send(exchange.udp, &bad).await.status(), Some(400));
}

#[tokio::test]
async fn a_binding_is_gone_once_it_expires() {
    let exchange = exchange_with_member(RegistrarConfig {
        min_expires: 1,
        purge_interval: Duration::from_millis(500),
        ..both_algorithms()
    })
    .await;
    let mut phone = Phone::new(NUMBER).await;
    let headers = [
        format!("Contact: <{}>", contact(&phone, "brief")),
        "Expires: 1".into(),
    ];
    let ok = phone
        .register_with(exchange.udp, &headers, Algorithm::Md5, PASSWORD)
        .await;
    assert_eq!(ok.status(), Some(200));
    assert_eq!(contacts_of(&ok).len(), 1);

    tokio::time::sleep(Duration::from_millis(2_200)).await;
    let query = phone
        .register_with(exchange.udp, &[], Algorithm::Md5, PASSWORD)
        .await;
    assert_eq!(query.status(), Some(200));
    assert!(contacts_of(&query).is_empty(), "{query:?}");
    // And the purge deleted it from the store (not merely hidden).
    let everything = exchange.service.store().all_unexpired(0).await.unwrap();
    assert!(everything.is_empty(), "{everything:?}");
}

#[tokio::test]
async fn bindings_survive_a_restart() {
    let exchange = exchange_with_member(both_algorithms()).await;
    let mut phone = Phone::new(NUMBER).await;
    let desk = contact(&phone, "desk");
    let ok = phone
        .register_with(
            exchange.udp,
            &[format!("Contact: <{desk}>")],
            Algorithm::Sha256,
            PASSWORD,
        )
        .await;
    assert_eq!(ok.status(), Some(200));

    let Exchange {
        service, data_dir, ..
    } = exchange;
    let store = service.store().clone();
    service.stop().await;
    let restarted = start_on(local_config(), store, data_dir).await;

    let query = phone
        .register_with(restarted.udp, &[], Algorithm::Sha256, PASSWORD)
        .await;
    assert_eq!(query.status(), Some(200));
    let listed = contacts_of(&query);
    assert_eq!(listed.len(), 1, "{query:?}");
    assert!(listed[0].starts_with(&format!("<{desk}>;expires=")));
}

#[tokio::test]
async fn a_binding_remembers_the_address_and_transport_it_came_from() {
    let exchange = exchange_with_member(both_algorithms()).await;
    let mut phone = Phone::new(NUMBER).await;
    // A phone behind NAT advertises its private address.
    let ok = phone
        .register_with(
            exchange.udp,
            &["Contact: <sip:desk@10.0.0.7:5060>".into()],
            Algorithm::Sha256,
            PASSWORD,
        )
        .await;
    assert_eq!(ok.status(), Some(200));
    let via = ok.top_via().unwrap();
    assert_eq!(via.rport(), Some(Some(phone.addr().port())));
    let stored = exchange
        .service
        .store()
        .bindings("sip:0262006200082@callex", store::now_millis())
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].contact, "sip:desk@10.0.0.7:5060");
    assert_eq!(stored[0].received, format!("udp:{}", phone.addr()));
}

#[tokio::test]
async fn path_is_kept_and_echoed_when_the_phone_supports_it() {
    let exchange = exchange_with_member(both_algorithms()).await;
    let mut phone = Phone::new(NUMBER).await;
    let ok = phone
        .register_with(
            exchange.udp,
            &[
                format!("Contact: <{}>", contact(&phone, "a")),
                "Path: <sip:edge.example.net;lr>".into(),
                "Supported: path".into(),
            ],
            Algorithm::Sha256,
            PASSWORD,
        )
        .await;
    assert_eq!(ok.status(), Some(200));
    assert_eq!(
        ok.header(HeaderName::Path),
        Some("<sip:edge.example.net;lr>")
    );
    let stored = exchange
        .service
        .store()
        .bindings("sip:0262006200082@callex", store::now_millis())
        .await
        .unwrap();
    assert_eq!(stored[0].path, "<sip:edge.example.net;lr>");
}

#[tokio::test]
async fn a_udp_crlf_keep_alive_gets_a_pong_and_the_exchange_answers_on() {
    let exchange = start().await;
    let peer = udp_peer().await;
    peer.send_to(b"\r\n\r\n", exchange.udp).await.unwrap();
    let mut buf = [0u8; 64];
    let (n, _) = timeout(ANSWER_WITHIN, peer.recv_from(&mut buf))
        .await
        .expect("a pong within the time limit")
        .unwrap();
    assert_eq!(&buf[..n], b"\r\n");
    assert_answers_options(&exchange).await;
}

#[tokio::test]
async fn sipp_registers_with_digest_auth_over_udp() {
    if std::process::Command::new("sipp")
        .arg("-v")
        .output()
        .is_err()
    {
        eprintln!("sipp is not installed: skipped");
        return;
    }
    // SIPp 3.6 answers only the first challenge, and only MD5.
    let exchange = exchange_with_member(RegistrarConfig {
        algorithms: vec![Algorithm::Md5],
        ..both_algorithms()
    })
    .await;
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sipp/register_auth.xml");
    let target = exchange.udp.to_string();
    let args: Vec<String> = [
        target.as_str(),
        "-sf",
        scenario,
        "-i",
        "127.0.0.1",
        "-p",
        "0",
        "-m",
        "1",
        "-s",
        NUMBER,
        "-au",
        NUMBER,
        "-ap",
        PASSWORD,
        "-timeout",
        "10s",
        "-timeout_error",
        "-nostdin",
    ]
    .map(str::to_owned)
    .to_vec();
    // SIPp's own -timeout bounds the run; the outer limit is a backstop.
    let run = tokio::task::spawn_blocking(move || {
        std::process::Command::new("sipp").args(&args).output()
    });
    let output = timeout(Duration::from_secs(30), run)
        .await
        .expect("sipp finishes within its own timeout")
        .expect("the sipp task")
        .expect("sipp runs");
    assert!(
        output.status.success(),
        "sipp failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let stored = exchange
        .service
        .store()
        .bindings("sip:0262006200082@callex", store::now_millis())
        .await
        .unwrap();
    assert_eq!(stored.len(), 1, "SIPp's contact is bound");
}
