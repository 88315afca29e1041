//! Calls between members over real sockets on 127.0.0.1: the exchange as a
//! B2BUA between two phones written here message by message, so that every
//! header that crosses (or must not cross) from one leg to the other can
//! be checked, with the CDR each call leaves in the store.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use sip::build;
use sip::digest::{self, Algorithm};
use sip::{HeaderName, Message, Method};
use store::prelude::*;
use store::ClaimKind;
use switch::{CallConfig, SipConfig};

const ALICE: &str = "0262006200082";
const BOB: &str = "0212345678001";
const PASSWORD: &str = "correct horse";

const SDP_OFFER: &str = "v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
const SDP_ANSWER: &str = "v=0\r\no=bob 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 50000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

/// An exchange with Alice and Bob as members, Bob's phone registered.
async fn exchange(config: CallConfig) -> (Exchange, Phone, Phone) {
    let exchange = start_configured(SipConfig {
        calls: config,
        ..local_config()
    })
    .await;
    with_members(exchange).await
}

async fn with_members(exchange: Exchange) -> (Exchange, Phone, Phone) {
    add_member(exchange.service.store(), ALICE, PASSWORD).await;
    add_member(exchange.service.store(), BOB, PASSWORD).await;
    let alice = Phone::new(ALICE).await;
    let mut bob = Phone::new(BOB).await;
    register(&exchange, &mut bob).await;
    (exchange, alice, bob)
}

async fn register(exchange: &Exchange, phone: &mut Phone) {
    let contact = format!("Contact: <sip:{}@{}>", phone.number, phone.addr());
    let ok = phone
        .register_with(exchange.udp, &[contact], Algorithm::Sha256, PASSWORD)
        .await;
    assert_eq!(ok.status(), Some(200), "{ok:?}");
}

/// A call as its caller sees it.
struct Calling {
    call_id: String,
    cseq: u32,
    /// The To tag of the exchange's answers.
    to_tag: Option<String>,
    /// The exchange's Contact on the caller's leg.
    remote_target: Option<String>,
    last_invite: String,
}

/// The Request-URI that dials `callee`: a number at the exchange, or a
/// whole `sip:` URI as given.
fn callee_uri(callee: &str) -> String {
    if callee.starts_with("sip:") {
        callee.to_owned()
    } else {
        format!("sip:{callee}@callex.test")
    }
}

fn invite(phone: &Phone, callee: &str, call_id: &str, cseq: u32, extra: &str) -> String {
    let via = phone.addr();
    let callee = callee_uri(callee);
    format!(
        "INVITE {callee} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {via};branch=z9hG4bK-{call_id}-{cseq};rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"Alice Kim\" <sip:{n}@callex.test>;tag=alice-{call_id}\r\n\
         To: <{callee}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} INVITE\r\n\
         Contact: <sip:alice@{via}>\r\n\
         Record-Route: <sip:secret-proxy.alice.example;lr>\r\n\
         User-Agent: test-phone\r\n\
         {extra}\
         Content-Type: application/sdp\r\n\
         Content-Length: {len}\r\n\r\n{SDP_OFFER}",
        n = phone.number,
        len = SDP_OFFER.len(),
    )
}

/// INVITE, 407, ACK, INVITE with credentials: the exchange takes the call
/// (100 Trying).
async fn place_call(exchange: &Exchange, alice: &mut Phone, callee: &str) -> Calling {
    let call_id = unique("call");
    let first = invite(alice, callee, &call_id, 1, "");
    let challenged = alice.send(exchange.udp, &first).await;
    assert_eq!(challenged.status(), Some(407), "{challenged:?}");
    let ack = format!(
        "ACK {uri} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {via};branch=z9hG4bK-{call_id}-1;rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"Alice Kim\" <sip:{n}@callex.test>;tag=alice-{call_id}\r\n\
         To: {to}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 ACK\r\n\
         Content-Length: 0\r\n\r\n",
        via = alice.addr(),
        n = alice.number,
        to = header(&challenged, HeaderName::To),
        uri = callee_uri(callee),
    );
    alice
        .socket
        .send_to(ack.as_bytes(), exchange.udp)
        .await
        .unwrap();
    let challenge = challenged
        .headers(HeaderName::ProxyAuthenticate)
        .filter_map(|v| digest::Challenge::parse(v).ok())
        .find(|c| c.algorithm == Algorithm::Sha256)
        .expect("a SHA-256 challenge");
    let credentials = digest::respond(
        &challenge,
        "INVITE",
        &callee_uri(callee),
        &alice.number,
        PASSWORD,
        "c0ffee",
        1,
    )
    .unwrap();
    let second = invite(
        alice,
        callee,
        &call_id,
        2,
        &format!("Proxy-Authorization: {credentials}\r\n"),
    );
    let trying = alice.send(exchange.udp, &second).await;
    assert_eq!(trying.status(), Some(100), "{trying:?}");
    Calling {
        call_id,
        cseq: 2,
        to_tag: None,
        remote_target: None,
        last_invite: second,
    }
}

/// The next message `phone` receives, with where it came from.
async fn next(phone: &Phone) -> (Message, SocketAddr) {
    let mut buf = vec![0u8; 65_536];
    let (n, from) = tokio::time::timeout(ANSWER_WITHIN, phone.socket.recv_from(&mut buf))
        .await
        .expect("a message within the time limit")
        .expect("receive");
    let msg = Message::parse_datagram(Bytes::copy_from_slice(&buf[..n])).expect("it parses");
    (msg, from)
}

/// The next request, skipping retransmitted responses.
async fn next_request(phone: &Phone) -> (Message, SocketAddr) {
    loop {
        let (msg, from) = next(phone).await;
        if msg.is_request() {
            return (msg, from);
        }
    }
}

async fn next_response(phone: &Phone, status: u16) -> Message {
    loop {
        let (msg, _) = next(phone).await;
        if msg.status() == Some(status) {
            return msg;
        }
        assert!(
            msg.status().is_some_and(|s| s < 200) || msg.is_request(),
            "expected {status}, got {msg:?}"
        );
    }
}

/// The callee's answer to a request it received.
fn reply(request: &Message, status: u16, tag: &str, phone: &Phone, sdp: Option<&str>) -> Bytes {
    let mut b = build::response(request, status, build::default_reason(status))
        .to_tag(tag)
        .header(HeaderName::Contact, &format!("<sip:bob@{}>", phone.addr()));
    if let Some(sdp) = sdp {
        b = b.body("application/sdp", Bytes::copy_from_slice(sdp.as_bytes()));
    }
    b.build().bytes()
}

async fn send(phone: &Phone, to: SocketAddr, bytes: &[u8]) {
    phone.socket.send_to(bytes, to).await.unwrap();
}

/// A request within the caller's dialog.
fn alice_request(alice: &Phone, calling: &mut Calling, method: &str, body: Option<&str>) -> String {
    calling.cseq += 1;
    let (content, len) = match body {
        Some(sdp) => ("Content-Type: application/sdp\r\n".to_owned(), sdp.len()),
        None => (String::new(), 0),
    };
    format!(
        "{method} {target} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {via};branch=z9hG4bK-{cid}-{cseq};rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"Alice Kim\" <sip:{n}@callex.test>;tag=alice-{cid}\r\n\
         To: <sip:{BOB}@callex.test>;tag={tag}\r\n\
         Call-ID: {cid}\r\n\
         CSeq: {cseq} {method}\r\n\
         Contact: <sip:alice@{via}>\r\n\
         {content}Content-Length: {len}\r\n\r\n{body}",
        target = calling.remote_target.as_deref().unwrap_or("sip:nowhere"),
        via = alice.addr(),
        cid = calling.call_id,
        cseq = calling.cseq,
        n = alice.number,
        tag = calling.to_tag.as_deref().unwrap_or(""),
        body = body.unwrap_or(""),
    )
}

fn ack_for(alice: &Phone, calling: &Calling, cseq: u32) -> String {
    format!(
        "ACK {target} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {via};branch=z9hG4bK-ack-{cid}-{cseq};rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"Alice Kim\" <sip:{n}@callex.test>;tag=alice-{cid}\r\n\
         To: <sip:{BOB}@callex.test>;tag={tag}\r\n\
         Call-ID: {cid}\r\n\
         CSeq: {cseq} ACK\r\n\
         Content-Length: 0\r\n\r\n",
        target = calling.remote_target.as_deref().unwrap_or("sip:nowhere"),
        via = alice.addr(),
        cid = calling.call_id,
        n = alice.number,
        tag = calling.to_tag.as_deref().unwrap_or(""),
    )
}

fn contact_uri(msg: &Message) -> String {
    sip::NameAddr::parse(header(msg, HeaderName::Contact))
        .unwrap()
        .uri_str()
        .to_owned()
}

/// The CDRs the store holds, once `count` are there (bounded wait).
async fn cdrs(exchange: &Exchange, count: usize) -> Vec<Cdr> {
    let deadline = tokio::time::Instant::now() + ANSWER_WITHIN;
    loop {
        let cdrs = exchange
            .service
            .store()
            .cdrs(&CdrFilter::default(), Page::first(100))
            .await
            .unwrap();
        if cdrs.len() >= count || tokio::time::Instant::now() > deadline {
            return cdrs;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Alice calls Bob; Bob rings and answers; Alice ACKs. Returns the INVITE
/// Bob got (leg B) and where it came from.
async fn answered_call(
    exchange: &Exchange,
    alice: &mut Phone,
    bob: &Phone,
) -> (Calling, Message, SocketAddr) {
    let mut calling = place_call(exchange, alice, BOB).await;
    let (b_invite, from) = next_request(bob).await;
    assert_eq!(b_invite.method(), Some(&Method::Invite));
    send(bob, from, &reply(&b_invite, 180, "bob-tag", bob, None)).await;
    let ringing = next_response(alice, 180).await;
    let tag = ringing.to_tag().expect("a To tag on 180").to_owned();
    send(
        bob,
        from,
        &reply(&b_invite, 200, "bob-tag", bob, Some(SDP_ANSWER)),
    )
    .await;
    let ok = next_response(alice, 200).await;
    assert_eq!(
        ok.to_tag(),
        Some(tag.as_str()),
        "one dialog with the caller"
    );
    assert_eq!(
        ok.body(),
        SDP_ANSWER.as_bytes(),
        "the callee's SDP, untouched"
    );
    calling.to_tag = Some(tag);
    calling.remote_target = Some(contact_uri(&ok));
    let ack = ack_for(alice, &calling, 2);
    send(alice, exchange.udp, ack.as_bytes()).await;
    let (b_ack, _) = next_request(bob).await;
    assert_eq!(b_ack.method(), Some(&Method::Ack));
    assert_eq!(b_ack.call_id(), b_invite.call_id());
    (calling, b_invite, from)
}

#[tokio::test]
async fn a_call_is_relayed_between_members_and_the_legs_share_nothing_internal() {
    let (exchange, mut alice, bob) = exchange(CallConfig::default()).await;
    let (mut calling, b_invite, from) = answered_call(&exchange, &mut alice, &bob).await;

    // Leg B carries the caller's number and SDP, and nothing of leg A's own.
    assert_eq!(from, exchange.udp, "the exchange rings the phone itself");
    let b_from = b_invite.from().unwrap();
    assert_eq!(b_from.uri().unwrap().user(), Some(ALICE));
    assert_eq!(b_from.display_name().as_deref(), Some("Alice Kim"));
    let pai = header(&b_invite, HeaderName::PAssertedIdentity);
    assert!(pai.contains(&format!("sip:{ALICE}@")), "{pai}");
    assert_eq!(b_invite.body(), SDP_OFFER.as_bytes());
    assert_ne!(b_invite.call_id(), Some(calling.call_id.as_str()));
    let raw = String::from_utf8_lossy(b_invite.as_bytes()).into_owned();
    for internal in [
        alice.addr().to_string(),
        "secret-proxy".to_owned(),
        format!("alice-{}", calling.call_id),
        "Proxy-Authorization".to_owned(),
    ] {
        assert!(
            !raw.contains(&internal),
            "{internal} leaked into leg B:\n{raw}"
        );
    }
    assert_eq!(
        b_invite.request_uri_str(),
        Some(format!("sip:{BOB}@{}", bob.addr()).as_str())
    );

    // Alice hangs up: Bob gets the BYE, Alice her 200 once the CDR is written.
    alice_hangs_up(&exchange, &alice, &mut calling, &bob, &b_invite).await;

    let cdrs = cdrs(&exchange, 1).await;
    assert_eq!(cdrs.len(), 1, "{cdrs:?}");
    let cdr = &cdrs[0];
    assert_eq!(cdr.disposition, Disposition::Answered);
    assert_eq!(
        cdr.sip_code,
        Some(200),
        "the final status of an answered call"
    );
    assert_eq!(cdr.caller, ALICE);
    assert_eq!(cdr.callee_dialled, BOB);
    assert_eq!(cdr.decision.as_deref(), Some("a PIN"));
    assert_eq!(cdr.a_leg_call_id, calling.call_id);
    assert_eq!(cdr.b_leg_call_id.as_deref(), b_invite.call_id());
    assert!(cdr.answer_at.is_some());
    assert!(cdr.end_at >= cdr.answer_at.unwrap());
}

#[tokio::test]
async fn the_callee_hangs_up_and_the_caller_gets_the_bye() {
    let (exchange, mut alice, bob) = exchange(CallConfig::default()).await;
    let (calling, b_invite, from) = answered_call(&exchange, &mut alice, &bob).await;
    let bye = format!(
        "BYE {target} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {via};branch=z9hG4bK-bob-bye;rport\r\n\
         Max-Forwards: 70\r\n\
         From: {to};tag=bob-tag\r\n\
         To: {from_}\r\n\
         Call-ID: {cid}\r\n\
         CSeq: 1 BYE\r\n\
         Content-Length: 0\r\n\r\n",
        target = contact_uri(&b_invite),
        via = bob.addr(),
        to = header(&b_invite, HeaderName::To),
        from_ = header(&b_invite, HeaderName::From),
        cid = b_invite.call_id().unwrap(),
    );
    send(&bob, from, bye.as_bytes()).await;
    let (a_bye, a_from) = next_request(&alice).await;
    assert_eq!(a_bye.method(), Some(&Method::Bye));
    assert_eq!(a_bye.call_id(), Some(calling.call_id.as_str()));
    assert_eq!(a_bye.from_tag(), calling.to_tag.as_deref());
    assert_eq!(
        a_bye.request_uri_str(),
        Some(format!("sip:alice@{}", alice.addr()).as_str())
    );
    let ok = build::response(&a_bye, 200, "OK").build();
    send(&alice, a_from, ok.as_bytes()).await;
    let bye_ok = next_response(&bob, 200).await;
    assert_eq!(bye_ok.cseq().unwrap().method, "BYE");
    let cdrs = cdrs(&exchange, 1).await;
    assert_eq!(cdrs[0].disposition, Disposition::Answered);
}

#[tokio::test]
async fn a_cancel_before_the_answer_stops_the_callee_ringing() {
    let (exchange, mut alice, bob) = exchange(CallConfig::default()).await;
    let calling = place_call(&exchange, &mut alice, BOB).await;
    let (b_invite, from) = next_request(&bob).await;
    send(&bob, from, &reply(&b_invite, 180, "bob-tag", &bob, None)).await;
    let _ = next_response(&alice, 180).await;
    let invite = Message::parse_datagram(Bytes::from(calling.last_invite.clone())).unwrap();
    let cancel = build::cancel(&invite);
    send(&alice, exchange.udp, cancel.as_bytes()).await;

    let (b_cancel, from) = next_request(&bob).await;
    assert_eq!(b_cancel.method(), Some(&Method::Cancel));
    assert_eq!(b_cancel.call_id(), b_invite.call_id());
    send(&bob, from, &reply(&b_cancel, 200, "bob-tag", &bob, None)).await;
    send(&bob, from, &reply(&b_invite, 487, "bob-tag", &bob, None)).await;

    let mut statuses = Vec::new();
    while statuses.len() < 2 {
        let (msg, _) = next(&alice).await;
        statuses.push((msg.status().unwrap(), msg.cseq().unwrap().method.to_owned()));
    }
    statuses.sort();
    assert_eq!(statuses, [(200, "CANCEL".into()), (487, "INVITE".into())]);
    let cdrs = cdrs(&exchange, 1).await;
    assert_eq!(cdrs[0].disposition, Disposition::Cancelled);
    assert_eq!(cdrs[0].answer_at, None);
}

#[tokio::test]
async fn a_busy_callee_is_busy_for_the_caller() {
    let (exchange, mut alice, bob) = exchange(CallConfig::default()).await;
    place_call(&exchange, &mut alice, BOB).await;
    let (b_invite, from) = next_request(&bob).await;
    send(&bob, from, &reply(&b_invite, 486, "bob-tag", &bob, None)).await;
    let busy = next_response(&alice, 486).await;
    assert!(busy.to_tag().is_some());
    let cdrs = cdrs(&exchange, 1).await;
    assert_eq!(cdrs[0].disposition, Disposition::Busy);
    assert_eq!(cdrs[0].sip_code, Some(486));
}

#[tokio::test]
async fn an_unanswered_call_times_out_with_480_and_cancels_the_callee() {
    let config = CallConfig {
        ring_timeout: Duration::from_millis(500),
        ..CallConfig::default()
    };
    let (exchange, mut alice, bob) = exchange(config).await;
    place_call(&exchange, &mut alice, BOB).await;
    let (b_invite, from) = next_request(&bob).await;
    send(&bob, from, &reply(&b_invite, 180, "bob-tag", &bob, None)).await;
    let _ = next_response(&alice, 180).await;
    let (b_cancel, from) = next_request(&bob).await;
    assert_eq!(b_cancel.method(), Some(&Method::Cancel));
    send(&bob, from, &reply(&b_cancel, 200, "bob-tag", &bob, None)).await;
    send(&bob, from, &reply(&b_invite, 487, "bob-tag", &bob, None)).await;
    next_response(&alice, 480).await;
    let cdrs = cdrs(&exchange, 1).await;
    assert_eq!(cdrs[0].disposition, Disposition::NoAnswer);
}

#[tokio::test]
async fn unknown_numbers_get_404_and_unregistered_members_480() {
    let (exchange, mut alice, _bob) = exchange(CallConfig::default()).await;
    place_call(&exchange, &mut alice, "0299999999").await;
    next_response(&alice, 404).await;
    // Alice holds her number but has no phone registered.
    let mut carol = Phone::new(BOB).await;
    place_call(&exchange, &mut carol, ALICE).await;
    next_response(&carol, 480).await;
    let cdrs = cdrs(&exchange, 2).await;
    let codes: Vec<Option<u16>> = cdrs.iter().map(|c| c.sip_code).collect();
    assert_eq!(codes, [Some(404), Some(480)]);
    assert!(cdrs.iter().all(|c| c.disposition == Disposition::Failed));
}

#[tokio::test]
async fn a_verified_e_mail_address_reaches_its_member_and_an_unverified_one_404() {
    let (exchange, mut alice, bob) = exchange(CallConfig::default()).await;
    // Each call from a phone of its own, so that no answer of one call
    // (sent again until ACKed) reaches the next.
    let store = exchange.service.store();
    let bob_id = store.holder(BOB).await.unwrap().unwrap().member_id;
    let claim = store
        .create_claim(bob_id, ClaimKind::Email, "Bob@Example.com", BOB)
        .await
        .unwrap();
    place_call(&exchange, &mut alice, "sip:bob@example.com").await;
    let unverified = next_response(&alice, 404).await;
    assert_eq!(
        unverified.reason(),
        Some("No route to sip:bob@example.com"),
        "a pending claim reaches nobody"
    );

    store
        .verify_claim(bob_id, claim.claim.id, &claim.token)
        .await
        .unwrap();
    // The switch's cache drops what it knew within one directory poll.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut alice = Phone::new(ALICE).await;
    place_call(&exchange, &mut alice, "sip:bob@example.com").await;
    let (b_invite, from) = next_request(&bob).await;
    assert_eq!(b_invite.method(), Some(&Method::Invite));
    assert!(
        b_invite
            .request_uri_str()
            .unwrap_or_default()
            .contains(&bob.addr().to_string()),
        "Bob's phone rings: {b_invite:?}"
    );
    send(&bob, from, &reply(&b_invite, 486, "bob-tag", &bob, None)).await;
    next_response(&alice, 486).await;
    let cdrs = cdrs(&exchange, 2).await;
    let decisions: Vec<&str> = cdrs.iter().filter_map(|c| c.decision.as_deref()).collect();
    assert_eq!(
        decisions,
        [
            "an address at another domain",
            "bob@example.com is a member's verified e-mail"
        ]
    );

    store.revoke_claim(None, claim.claim.id).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut alice = Phone::new(ALICE).await;
    place_call(&exchange, &mut alice, "sip:bob@example.com").await;
    next_response(&alice, 404).await;
}

#[tokio::test]
async fn a_verified_domain_reaches_the_companys_number() {
    const COMPANY: &str = "62006200";
    let (exchange, mut alice, _bob) = exchange(CallConfig::default()).await;
    let store = exchange.service.store();
    let company = store
        .add_member(&NewMember {
            kind: MemberKind::Company,
            display_name: "Example Inc.".into(),
            email: None,
            country: "KR".into(),
        })
        .await
        .unwrap();
    store
        .grant(COMPANY, NumberKind::Vns, company.id)
        .await
        .unwrap();
    let sha = digest::ha1(Algorithm::Sha256, COMPANY, switch::DEFAULT_REALM, PASSWORD);
    store
        .set_password_ha1s(COMPANY, switch::DEFAULT_REALM, &[(Algorithm::Sha256, &sha)])
        .await
        .unwrap();
    let mut reception = Phone::new(COMPANY).await;
    register(&exchange, &mut reception).await;
    let claim = store
        .create_claim(company.id, ClaimKind::Domain, "example.com", COMPANY)
        .await
        .unwrap();
    store
        .verify_claim_as_operator(claim.claim.id)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    place_call(&exchange, &mut alice, "sip:example.com").await;
    let (b_invite, from) = next_request(&reception).await;
    assert_eq!(b_invite.method(), Some(&Method::Invite));
    send(
        &reception,
        from,
        &reply(&b_invite, 486, "reception-tag", &reception, None),
    )
    .await;
    next_response(&alice, 486).await;
    let cdrs = cdrs(&exchange, 1).await;
    assert_eq!(
        cdrs[0].decision.as_deref(),
        Some("example.com is a company's verified domain")
    );
    assert_eq!(cdrs[0].callee_presented.as_deref(), Some(COMPANY));
}

#[tokio::test]
async fn dial_strings_the_plan_refuses_get_a_status_and_a_reason_to_read() {
    let (exchange, mut alice, _bob) = exchange(CallConfig::default()).await;
    // Too short for a Korean number: address incomplete.
    place_call(&exchange, &mut alice, "010").await;
    let incomplete = next_response(&alice, 484).await;
    let reason = incomplete.reason().unwrap_or_default().to_owned();
    assert!(reason.contains("fewer than"), "{reason}");
    // A company number nobody holds.
    place_call(&exchange, &mut alice, "6200-6200%23082").await;
    let unknown = next_response(&alice, 404).await;
    assert_eq!(unknown.reason(), Some("6200-6200#082 is not in service"));
    // A PSTN number, with no gateway to it yet.
    place_call(&exchange, &mut alice, "+44-20-7946-0000").await;
    let no_route = next_response(&alice, 404).await;
    assert_eq!(
        no_route.reason(),
        Some("No route to +44 20 7946 0000 (PSTN)")
    );
    let cdrs = cdrs(&exchange, 3).await;
    let codes: Vec<Option<u16>> = cdrs.iter().map(|c| c.sip_code).collect();
    assert_eq!(codes, [Some(484), Some(404), Some(404)]);
    // Each record says why.
    let decisions: Vec<&str> = cdrs.iter().filter_map(|c| c.decision.as_deref()).collect();
    assert_eq!(
        decisions,
        [
            "the national part of this number has 2 digits, fewer than 5",
            "6200-6200#082 is not in service",
            "an international number (+)",
        ]
    );
}

#[tokio::test]
async fn a_wrong_password_is_challenged_again_and_places_no_call() {
    let (exchange, mut alice, bob) = exchange(CallConfig::default()).await;
    let call_id = unique("wrong");
    let first = invite(&alice, BOB, &call_id, 1, "");
    let challenged = alice.send(exchange.udp, &first).await;
    let challenge = challenged
        .headers(HeaderName::ProxyAuthenticate)
        .find_map(|v| digest::Challenge::parse(v).ok())
        .unwrap();
    let credentials = digest::respond(
        &challenge,
        "INVITE",
        &format!("sip:{BOB}@callex.test"),
        ALICE,
        "wrong password",
        "c0ffee",
        1,
    )
    .unwrap();
    let second = invite(
        &alice,
        BOB,
        &call_id,
        2,
        &format!("Proxy-Authorization: {credentials}\r\n"),
    );
    send(&alice, exchange.udp, second.as_bytes()).await;
    next_response(&alice, 407).await;
    assert_silent(&bob.socket, "the callee").await;
}

#[tokio::test]
async fn re_invite_and_info_cross_with_their_bodies_untouched() {
    let (exchange, mut alice, bob) = exchange(CallConfig::default()).await;
    let (mut calling, b_invite, _) = answered_call(&exchange, &mut alice, &bob).await;

    let reinvite = alice_request(&alice, &mut calling, "INVITE", Some(SDP_OFFER));
    let reinvite_cseq = calling.cseq;
    send(&alice, exchange.udp, reinvite.as_bytes()).await;
    let (b_reinvite, from) = next_request(&bob).await;
    assert_eq!(b_reinvite.method(), Some(&Method::Invite));
    assert_eq!(b_reinvite.call_id(), b_invite.call_id());
    assert_eq!(b_reinvite.body(), SDP_OFFER.as_bytes());
    assert!(b_reinvite.cseq().unwrap().seq > 1);
    send(
        &bob,
        from,
        &reply(&b_reinvite, 200, "bob-tag", &bob, Some(SDP_ANSWER)),
    )
    .await;
    let ok = next_response(&alice, 200).await;
    assert_eq!(ok.cseq().unwrap().seq, reinvite_cseq);
    assert_eq!(ok.body(), SDP_ANSWER.as_bytes());
    send(
        &alice,
        exchange.udp,
        ack_for(&alice, &calling, reinvite_cseq).as_bytes(),
    )
    .await;
    let (b_ack, _) = next_request(&bob).await;
    assert_eq!(b_ack.method(), Some(&Method::Ack));
    assert_eq!(b_ack.cseq().unwrap().seq, b_reinvite.cseq().unwrap().seq);

    let dtmf = "Signal=5\r\nDuration=160\r\n";
    let info = alice_request(&alice, &mut calling, "INFO", Some(dtmf))
        .replace("application/sdp", "application/dtmf-relay");
    send(&alice, exchange.udp, info.as_bytes()).await;
    let (b_info, from) = next_request(&bob).await;
    assert_eq!(b_info.method(), Some(&Method::Info));
    assert_eq!(b_info.body(), dtmf.as_bytes());
    assert_eq!(
        b_info.header(HeaderName::ContentType),
        Some("application/dtmf-relay")
    );
    send(&bob, from, &reply(&b_info, 200, "bob-tag", &bob, None)).await;
    let ok = next_response(&alice, 200).await;
    assert_eq!(ok.cseq().unwrap().method, "INFO");
}

#[tokio::test]
async fn requests_for_no_dialog_get_481() {
    let (exchange, alice, _bob) = exchange(CallConfig::default()).await;
    let mut calling = Calling {
        call_id: unique("nodialog"),
        cseq: 1,
        to_tag: Some("nosuchtag".into()),
        remote_target: Some(format!("sip:{BOB}@{}", exchange.udp)),
        last_invite: String::new(),
    };
    for method in ["BYE", "INFO", "UPDATE"] {
        let request = alice_request(&alice, &mut calling, method, None);
        send(&alice, exchange.udp, request.as_bytes()).await;
        let answer = next_response(&alice, 481).await;
        assert_eq!(answer.cseq().unwrap().method, method);
    }
}

#[tokio::test]
async fn every_phone_of_the_callee_rings_and_the_first_to_answer_wins() {
    let (exchange, mut alice, bob) = exchange(CallConfig::default()).await;
    let mut desk = Phone::new(BOB).await;
    register(&exchange, &mut desk).await;
    let mut calling = place_call(&exchange, &mut alice, BOB).await;
    let (on_mobile, mobile_from) = next_request(&bob).await;
    let (on_desk, desk_from) = next_request(&desk).await;
    assert_ne!(on_mobile.call_id(), on_desk.call_id());
    send(&bob, mobile_from, &reply(&on_mobile, 180, "m", &bob, None)).await;
    send(&desk, desk_from, &reply(&on_desk, 180, "d", &desk, None)).await;
    send(
        &desk,
        desk_from,
        &reply(&on_desk, 200, "d", &desk, Some(SDP_ANSWER)),
    )
    .await;
    let ok = next_response(&alice, 200).await;
    calling.to_tag = ok.to_tag().map(str::to_owned);
    calling.remote_target = Some(contact_uri(&ok));
    let (cancel, _) = next_request(&bob).await;
    assert_eq!(cancel.method(), Some(&Method::Cancel));
    assert_eq!(cancel.call_id(), on_mobile.call_id());
    send(
        &alice,
        exchange.udp,
        ack_for(&alice, &calling, 2).as_bytes(),
    )
    .await;
    let (ack, _) = next_request(&desk).await;
    assert_eq!(ack.method(), Some(&Method::Ack));
}

#[tokio::test]
async fn the_answer_is_sent_again_until_the_caller_acks_it() {
    let (exchange, mut alice, bob) = exchange(CallConfig::default()).await;
    place_call(&exchange, &mut alice, BOB).await;
    let (b_invite, from) = next_request(&bob).await;
    send(
        &bob,
        from,
        &reply(&b_invite, 200, "bob-tag", &bob, Some(SDP_ANSWER)),
    )
    .await;
    let first = next_response(&alice, 200).await;
    // No ACK: the 2xx comes again after T1 (500 ms), the same bytes.
    let again = next_response(&alice, 200).await;
    assert_eq!(first.as_bytes(), again.as_bytes());
}

#[tokio::test]
async fn an_answered_call_is_ended_cleanly_at_shutdown_with_its_cdr() {
    let (exchange, mut alice, bob) = exchange(CallConfig::default()).await;
    let (_calling, _b_invite, _) = answered_call(&exchange, &mut alice, &bob).await;
    let store = exchange.service.store().clone();
    let stopping = tokio::spawn(exchange.service.shutdown(Duration::from_millis(200)));
    let (a_bye, a_from) = next_request(&alice).await;
    assert_eq!(a_bye.method(), Some(&Method::Bye));
    let (b_bye, b_from) = next_request(&bob).await;
    assert_eq!(b_bye.method(), Some(&Method::Bye));
    send(
        &alice,
        a_from,
        build::response(&a_bye, 200, "OK").build().as_bytes(),
    )
    .await;
    send(
        &bob,
        b_from,
        build::response(&b_bye, 200, "OK").build().as_bytes(),
    )
    .await;
    tokio::time::timeout(Duration::from_secs(15), stopping)
        .await
        .expect("the exchange stops within its grace")
        .unwrap();
    let cdrs = store
        .cdrs(&CdrFilter::default(), Page::first(10))
        .await
        .unwrap();
    assert_eq!(cdrs.len(), 1);
    assert_eq!(cdrs[0].disposition, Disposition::Answered);
}

/// Alice's BYE reaches Bob on leg B, and Alice gets her 200.
async fn alice_hangs_up(
    exchange: &Exchange,
    alice: &Phone,
    calling: &mut Calling,
    bob: &Phone,
    b_invite: &Message,
) {
    let bye = alice_request(alice, calling, "BYE", None);
    send(alice, exchange.udp, bye.as_bytes()).await;
    let (b_bye, from) = next_request(bob).await;
    assert_eq!(b_bye.method(), Some(&Method::Bye));
    assert_eq!(b_bye.call_id(), b_invite.call_id());
    send(bob, from, &reply(&b_bye, 200, "bob-tag", bob, None)).await;
    let ok = next_response(alice, 200).await;
    assert_eq!(ok.cseq().unwrap().method, "BYE");
}

/// A call answered and hung up by the caller, to its last 200.
async fn complete_call(exchange: &Exchange, alice: &mut Phone, bob: &Phone) {
    let (mut calling, b_invite, _) = answered_call(exchange, alice, bob).await;
    alice_hangs_up(exchange, alice, &mut calling, bob, &b_invite).await;
}

/// One call ends before the node is killed, one is in progress: after a
/// restart on the same store, the first has its CDR as answered, the other
/// is closed as interrupted.
async fn killed_during_calls(exchange: Exchange, mut alice: Phone, bob: Phone) {
    complete_call(&exchange, &mut alice, &bob).await;
    let (_calling, _b_invite, _) = answered_call(&exchange, &mut alice, &bob).await;
    let Exchange {
        service, data_dir, ..
    } = exchange;
    let store = service.store().clone();
    // Killed: nothing is ended, nothing more is written.
    service.stop().await;
    let before = store
        .cdrs(&CdrFilter::default(), Page::first(10))
        .await
        .unwrap();
    assert_eq!(
        before.len(),
        1,
        "the call that ended has its CDR: {before:?}"
    );
    assert_eq!(before[0].disposition, Disposition::Answered);
    let restarted = start_on(local_config(), store, data_dir).await;
    let cdrs = cdrs(&restarted, 2).await;
    assert_eq!(cdrs.len(), 2);
    assert_eq!(cdrs[1].disposition, Disposition::Interrupted);
    assert!(cdrs[1].answer_at.is_some());
}

#[tokio::test]
async fn calls_on_postgresql_keep_their_cdrs_across_a_kill() {
    let store = postgres_store().await;
    let data_dir = tempfile::tempdir().unwrap();
    let exchange = start_on(local_config(), store, data_dir).await;
    let (exchange, alice, bob) = with_members(exchange).await;
    killed_during_calls(exchange, alice, bob).await;
}

#[tokio::test]
async fn a_call_in_progress_when_the_node_dies_is_closed_at_the_next_start() {
    let (exchange, alice, bob) = exchange(CallConfig::default()).await;
    killed_during_calls(exchange, alice, bob).await;
}

#[tokio::test]
async fn bad_input_of_every_kind_leaves_a_call_in_progress_intact() {
    let (exchange, mut alice, bob) = exchange(CallConfig::default()).await;
    let (mut calling, b_invite, _) = answered_call(&exchange, &mut alice, &bob).await;
    throw_garbage(&exchange, 3261).await;
    // Hostile requests aimed at the call itself: a BYE with the call's
    // Call-ID but a forged tag, a CANCEL and a stray ACK for it, a response
    // that matches nothing.
    let forged = alice_request(&alice, &mut calling, "BYE", None).replace(
        &format!("tag={}", calling.to_tag.as_deref().unwrap()),
        "tag=forged",
    );
    send(&alice, exchange.udp, forged.as_bytes()).await;
    next_response(&alice, 481).await;
    let invite = Message::parse_datagram(Bytes::from(calling.last_invite.clone())).unwrap();
    send(&alice, exchange.udp, build::cancel(&invite).as_bytes()).await;
    // The INVITE was answered: the CANCEL changes nothing (RFC 3261 §9.2).
    let cancelled = next_response(&alice, 200).await;
    assert_eq!(cancelled.cseq().unwrap().method, "CANCEL");
    send(
        &alice,
        exchange.udp,
        ack_for(&alice, &calling, 99).as_bytes(),
    )
    .await;
    // A 2xx of another dialog for the callee's INVITE is ACKed and ended.
    let stray = build::response(&b_invite, 200, "OK")
        .to_tag("other-dialog")
        .header(HeaderName::Contact, &format!("<sip:other@{}>", bob.addr()))
        .build();
    send(&bob, exchange.udp, stray.as_bytes()).await;
    let (stray_ack, _) = next_request(&bob).await;
    assert_eq!(stray_ack.method(), Some(&Method::Ack));
    assert_eq!(stray_ack.to_tag(), Some("other-dialog"));
    let (stray_bye, from) = next_request(&bob).await;
    assert_eq!(stray_bye.method(), Some(&Method::Bye));
    assert_eq!(stray_bye.to_tag(), Some("other-dialog"));
    send(
        &bob,
        from,
        &reply(&stray_bye, 200, "other-dialog", &bob, None),
    )
    .await;
    assert_answers_options(&exchange).await;

    // The call goes on and ends as it should.
    alice_hangs_up(&exchange, &alice, &mut calling, &bob, &b_invite).await;
    let cdrs = cdrs(&exchange, 1).await;
    assert_eq!(cdrs.len(), 1);
    assert_eq!(cdrs[0].disposition, Disposition::Answered);
}

#[tokio::test]
async fn a_phone_registered_over_tcp_is_called_on_its_connection() {
    let (exchange, mut alice, _bob) = exchange(CallConfig::default()).await;
    let mut desk = StreamPeer::connect(exchange.tcp).await;
    let local = desk.local_addr();
    let register = |cseq: u32, authorization: &str| {
        format!(
            "REGISTER sip:callex.test SIP/2.0\r\n\
             Via: SIP/2.0/TCP {local};branch=z9hG4bK-tcpreg-{cseq}\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:{BOB}@callex.test>;tag=tcpreg\r\n\
             To: <sip:{BOB}@callex.test>\r\n\
             Call-ID: tcpreg-{local}\r\n\
             CSeq: {cseq} REGISTER\r\n\
             Contact: <sip:desk@{local};transport=tcp>\r\n\
             {authorization}Content-Length: 0\r\n\r\n"
        )
    };
    desk.send(register(1, "").as_bytes()).await;
    let challenged = desk.next_message().await.unwrap();
    let challenge = challenged
        .headers(HeaderName::WwwAuthenticate)
        .find_map(|v| digest::Challenge::parse(v).ok())
        .unwrap();
    let credentials = digest::respond(
        &challenge,
        "REGISTER",
        "sip:callex.test",
        BOB,
        PASSWORD,
        "beef",
        1,
    )
    .unwrap();
    desk.send(register(2, &format!("Authorization: {credentials}\r\n")).as_bytes())
        .await;
    assert_eq!(desk.next_message().await.unwrap().status(), Some(200));

    place_call(&exchange, &mut alice, BOB).await;
    let mut b_invite = desk
        .next_message()
        .await
        .expect("the INVITE on the connection");
    while b_invite.method() != Some(&Method::Invite) {
        b_invite = desk.next_message().await.unwrap();
    }
    assert!(header(&b_invite, HeaderName::Via).starts_with("SIP/2.0/TCP"));
    assert!(header(&b_invite, HeaderName::Contact).contains("transport=tcp"));
    let ok = build::response(&b_invite, 200, "OK")
        .to_tag("desk")
        .header(
            HeaderName::Contact,
            &format!("<sip:desk@{local};transport=tcp>"),
        )
        .body("application/sdp", Bytes::from_static(SDP_ANSWER.as_bytes()))
        .build();
    desk.send(ok.as_bytes()).await;
    let answered = next_response(&alice, 200).await;
    assert_eq!(answered.body(), SDP_ANSWER.as_bytes());
}
