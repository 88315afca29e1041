//! Matching received requests to server transactions (RFC 3261 §17.2.3,
//! with the RFC 2543 fallback), CANCEL to its INVITE, and what happens to
//! messages that match nothing.

#[allow(dead_code)]
mod transaction_support;

use bytes::Bytes;
use sip::build;
use sip::transaction::{Config, Event, Received, Refusal, State, TransactionId};
use sip::Message;
use transaction_support::*;

fn ack_for(invite: &Req, to_tag: &str) -> Req {
    let mut ack = invite.clone();
    ack.method = "ACK";
    ack.to_tag = Some(to_tag.into());
    ack
}

#[test]
fn rfc3261_requests_match_on_branch_sent_by_and_method() {
    let mut h = Harness::new();
    let mut base = Req::new("OPTIONS", "z9hG4bKm1");
    base.sent_by = "PC33.atlanta.example.com:5060".into();
    let id = h.receive_new(base.msg(), UDP);

    // The same transaction whatever else changed: the branch rules.
    let mut same = base.clone();
    same.branch = Some("z9hG4bKM1".into()); // tokens compare case-insensitively
    same.sent_by = "pc33.ATLANTA.example.com:5060".into(); // host names too
    same.call_id = "other-call-id".into();
    same.uri = "sip:elsewhere@example.net".into();
    assert_eq!(h.receive(same.msg(), UDP), Received::Matched(id));

    let mut other_branch = base.clone();
    other_branch.branch = Some("z9hG4bKm2".into());
    let mut other_sent_by = base.clone();
    other_sent_by.sent_by = "192.0.2.5:5060".into();
    let mut other_port = base.clone();
    other_port.sent_by = "PC33.atlanta.example.com".into();
    let mut other_method = base.clone();
    other_method.method = "INFO";
    for req in [other_branch, other_sent_by, other_port, other_method] {
        match h.receive(req.msg(), UDP) {
            Received::Created(new) => assert_ne!(new, id),
            other => panic!("{req:?} should start a transaction, got {other:?}"),
        }
    }
    assert_eq!(h.layer.len(), 5);
}

#[test]
fn ack_for_a_non_2xx_matches_its_invite_and_an_ack_for_a_2xx_matches_nothing() {
    let mut h = Harness::new();
    let invite = Req::invite("z9hG4bKi1");
    let id = h.receive_new(invite.msg(), UDP);
    h.respond(id, response_to(&invite.msg(), 404, "t404"));
    assert_eq!(
        h.receive(ack_for(&invite, "t404").msg(), UDP),
        Received::Matched(id)
    );
    assert_eq!(h.layer.state(id), Some(State::Confirmed));

    let mut ack_2xx = ack_for(&invite, "t200");
    ack_2xx.branch = Some("z9hG4bKnew".into());
    match h.receive(ack_2xx.msg(), UDP) {
        Received::Unmatched(ack) => assert_eq!(ack.as_bytes(), ack_2xx.text().as_bytes()),
        other => panic!("{other:?}"),
    }
    // An unmatched ACK never starts a transaction.
    assert_eq!(h.layer.len(), 1);
}

/// Each variant differs from the INVITE in one field the RFC 2543 rule
/// compares.
fn rfc2543_variants(invite: &Req) -> Vec<(&'static str, Req)> {
    let mut v = Vec::new();
    let mut r = invite.clone();
    r.uri = "sip:other@callex.example.net".into();
    v.push(("Request-URI", r));
    let mut r = invite.clone();
    r.to_tag = Some("x".into());
    v.push(("To tag", r));
    let mut r = invite.clone();
    r.from_tag = Some("other".into());
    v.push(("From tag", r));
    let mut r = invite.clone();
    r.call_id = "other@192.0.2.4".into();
    v.push(("Call-ID", r));
    let mut r = invite.clone();
    r.cseq += 1;
    v.push(("CSeq number", r));
    let mut r = invite.clone();
    r.sent_by = "192.0.2.4:5070".into();
    v.push(("top Via", r));
    v
}

#[test]
fn rfc2543_requests_match_on_uri_tags_call_id_cseq_and_top_via() {
    // No branch, an RFC 2543 branch, and the bare magic cookie all fall back.
    for branch in [None, Some("7a3f2"), Some("z9hG4bK")] {
        let mut h = Harness::new();
        let mut invite = Req::invite("unused");
        invite.branch = branch.map(str::to_owned);
        let id = h.receive_new(invite.msg(), UDP);
        assert_eq!(h.receive(invite.msg(), UDP), Received::Matched(id));
        // From and To tags are tokens: case does not matter.
        let mut upper = invite.clone();
        upper.from_tag = Some("1928301774".to_uppercase());
        assert_eq!(h.receive(upper.msg(), UDP), Received::Matched(id));
        for (what, req) in rfc2543_variants(&invite) {
            match h.receive(req.msg(), UDP) {
                Received::Created(new) => assert_ne!(new, id, "{what}"),
                other => panic!("a different {what} must start a transaction, got {other:?}"),
            }
        }
        assert_eq!(h.layer.len(), 7, "{branch:?}");
    }
}

#[test]
fn rfc2543_ack_matches_by_the_to_tag_of_the_response_sent() {
    let mut h = Harness::new();
    let mut invite = Req::invite("unused");
    invite.branch = None;
    let id = h.receive_new(invite.msg(), UDP);
    // Before any final response there is no To tag to match.
    assert!(matches!(
        h.receive(ack_for(&invite, "t486").msg(), UDP),
        Received::Unmatched(_)
    ));
    h.respond(id, response_to(&invite.msg(), 486, "t486"));
    assert!(matches!(
        h.receive(ack_for(&invite, "other").msg(), UDP),
        Received::Unmatched(_)
    ));
    assert_eq!(
        h.receive(ack_for(&invite, "T486").msg(), UDP),
        Received::Matched(id)
    );
    assert_eq!(h.layer.state(id), Some(State::Confirmed));
}

#[test]
fn rfc2543_ack_for_a_2xx_reaches_the_tu_in_accepted() {
    let mut h = Harness::new();
    let mut invite = Req::invite("unused");
    invite.branch = None;
    let id = h.receive_new(invite.msg(), UDP);
    h.respond(id, response_to(&invite.msg(), 200, "t200"));
    assert_eq!(
        h.receive(ack_for(&invite, "t200").msg(), UDP),
        Received::Matched(id)
    );
    assert!(matches!(h.events.last(), Some((_, Event::Ack { id: a, .. })) if *a == id));
}

#[test]
fn cancel_gets_a_transaction_of_its_own_and_finds_the_invite_it_cancels() {
    for branch in [Some("z9hG4bKc1"), None] {
        let mut h = Harness::new();
        let mut invite = Req::invite("x");
        invite.branch = branch.map(str::to_owned);
        let invite_id = h.receive_new(invite.msg(), UDP);
        let cancel = build::cancel(&invite.msg());
        let cancel_id = h.receive_new(cancel.clone(), UDP);
        assert_ne!(cancel_id, invite_id);
        assert_eq!(
            h.layer.find_cancelled(&cancel),
            Some(invite_id),
            "{branch:?}"
        );
        // A retransmitted CANCEL matches the CANCEL transaction.
        assert_eq!(h.receive(cancel.clone(), UDP), Received::Matched(cancel_id));
        // The TU answers both.
        h.respond(cancel_id, response_to(&cancel, 200, "u"));
        h.respond(invite_id, response_to(&invite.msg(), 487, "u"));
        assert_eq!(h.layer.state(invite_id), Some(State::Completed));
    }
}

#[test]
fn find_cancelled_needs_the_same_invite() {
    let mut h = Harness::new();
    let invite = Req::invite("z9hG4bKc1");
    let _ = h.receive_new(invite.msg(), UDP);
    let mut elsewhere = invite.clone();
    elsewhere.sent_by = "198.51.100.1".into();
    let mut other_branch = invite.clone();
    other_branch.branch = Some("z9hG4bKc2".into());
    for req in [elsewhere, other_branch] {
        assert_eq!(h.layer.find_cancelled(&build::cancel(&req.msg())), None);
    }
    // Only INVITE server transactions are candidates.
    let options = Req::new("OPTIONS", "z9hG4bKo1");
    let _ = h.receive_new(options.msg(), UDP);
    let mut cancel_options = options.clone();
    cancel_options.method = "CANCEL";
    assert_eq!(h.layer.find_cancelled(&cancel_options.msg()), None);
    // RFC 2543: the To tag of the CANCEL must be the INVITE's.
    let mut old = Req::invite("x");
    old.branch = None;
    old.call_id = "old@192.0.2.4".into();
    let _ = h.receive_new(old.msg(), UDP);
    let mut cancel = old.clone();
    cancel.method = "CANCEL";
    cancel.to_tag = Some("late".into());
    assert_eq!(h.layer.find_cancelled(&cancel.msg()), None);
}

#[test]
fn messages_that_cannot_be_matched_are_refused_with_the_reason() {
    let mut h = Harness::new();
    let no_via = Message::parse_datagram(Bytes::from_static(
        b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n",
    ))
    .unwrap();
    let mut no_call_id = Req::new("OPTIONS", "old");
    no_call_id.call_id = String::new();
    let no_call_id =
        Message::parse_datagram(Bytes::from(no_call_id.text().replace("Call-ID: \r\n", "")))
            .unwrap();
    let response_without_cseq = Message::parse_datagram(Bytes::from_static(
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n",
    ))
    .unwrap();
    for (msg, reason) in [
        (no_via, Refusal::NoVia),
        (no_call_id, Refusal::NoCallId),
        (response_without_cseq, Refusal::NoCSeq),
    ] {
        match h.receive(msg, UDP) {
            Received::Refused { reason: r, .. } => assert_eq!(r, reason),
            other => panic!("{other:?}"),
        }
    }
    assert!(h.layer.is_empty());
}

#[test]
fn the_transaction_limit_refuses_new_requests_but_still_absorbs_retransmissions() {
    let mut h = Harness::with_config(Config {
        max_transactions: 2,
        ..Config::default()
    });
    let a = Req::new("OPTIONS", "z9hG4bKa");
    let id = h.receive_new(a.msg(), UDP);
    let _ = h.receive_new(Req::new("OPTIONS", "z9hG4bKb").msg(), UDP);
    match h.receive(Req::new("OPTIONS", "z9hG4bKc").msg(), UDP) {
        Received::Refused { reason, message } => {
            assert_eq!(reason, Refusal::TooManyTransactions);
            assert_eq!(message.top_via().unwrap().branch(), Some("z9hG4bKc"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(h.receive(a.msg(), UDP), Received::Matched(id));
    assert_eq!(
        h.layer
            .send_request(Req::invite("z9hG4bKd").msg(), peer(), UDP, h.now),
        Err(sip::transaction::TransactionError::TooManyTransactions)
    );
    // A transaction ending makes room.
    h.respond(id, response_to(&a.msg(), 200, "x"));
    h.advance_to(secs(40.0));
    assert!(matches!(
        h.receive(Req::new("OPTIONS", "z9hG4bKc").msg(), UDP),
        Received::Created(_)
    ));
}

#[test]
fn unmatched_acks_and_stray_responses_leave_no_state_behind() {
    let mut h = Harness::new();
    for i in 0..5_000 {
        let ack = ack_for(&Req::invite(&format!("z9hG4bKs{i}")), "t");
        assert!(matches!(h.receive(ack.msg(), UDP), Received::Unmatched(_)));
        let stray = response_to(&Req::new("BYE", &format!("z9hG4bKs{i}")).msg(), 200, "t");
        assert!(matches!(h.receive(stray, UDP), Received::Unmatched(_)));
    }
    assert!(h.layer.is_empty());
    assert!(h.events.is_empty() && h.sent.is_empty());
    assert_eq!(h.layer.poll_timeout(), None);
}

#[test]
fn many_transactions_each_match_their_own_messages() {
    let mut h = Harness::new();
    let reqs: Vec<Req> = (0..2_000)
        .map(|i| {
            let mut r = Req::new(if i % 2 == 0 { "INVITE" } else { "MESSAGE" }, "");
            if i % 3 == 0 {
                r.branch = None;
                r.call_id = format!("call-{i}");
            } else {
                r.branch = Some(format!("z9hG4bK{i}"));
            }
            r
        })
        .collect();
    let ids: Vec<TransactionId> = reqs.iter().map(|r| h.receive_new(r.msg(), UDP)).collect();
    for (r, id) in reqs.iter().zip(&ids).rev() {
        assert_eq!(h.receive(r.msg(), UDP), Received::Matched(*id));
    }
    for (r, id) in reqs.iter().zip(&ids) {
        h.respond(*id, response_to(&r.msg(), 500, "x"));
    }
    h.advance_to(secs(100.0));
    assert!(h.layer.is_empty());
    let terminated = h
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::Terminated { .. }))
        .count();
    assert_eq!(terminated, ids.len());
}
