//! Client transactions (RFC 3261 §17.1, RFC 6026) driven through a fake
//! clock: every timer path over UDP and over a reliable transport.

#[allow(dead_code)]
mod transaction_support;

use std::time::Duration;

use sip::build;
use sip::transaction::{Config, Event, Kind, Received, State, TransactionError};
use sip::{HeaderName, Method};
use transaction_support::*;

const INVITE_RETRANSMISSIONS: [f64; 7] = [0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5];

#[test]
fn invite_client_over_udp_doubles_timer_a_from_t1_then_times_out_with_timer_b_at_64_t1() {
    let mut h = Harness::new();
    let id = h.send_request(Req::invite("z9hG4bKa1").msg(), UDP);
    assert_eq!(h.layer.state(id), Some(State::Calling));
    assert_eq!(h.layer.kind(id), Some(Kind::InviteClient));
    h.advance_to(secs(100.0));
    // Intervals 0.5, 1, 2, 4, 8, 16 s: no cap at T2 for INVITE requests.
    assert_eq!(h.send_times(id), INVITE_RETRANSMISSIONS);
    assert!(h
        .sent_lines(id)
        .iter()
        .all(|l| l.starts_with("INVITE sip:02-6200")));
    assert_eq!(
        h.event_log(id),
        [(32.0, "timeout B".into()), (32.0, "terminated".into())]
    );
    assert_eq!(h.layer.state(id), None);
    assert!(h.layer.is_empty());
    assert_eq!(h.layer.poll_timeout(), None);
}

#[test]
fn invite_client_over_tcp_sends_once_and_times_out_with_timer_b() {
    let mut h = Harness::new();
    let id = h.send_request(Req::invite("z9hG4bKa1").msg(), TCP);
    assert_eq!(h.layer.poll_timeout(), Some(h.base + secs(32.0)));
    h.advance_to(secs(100.0));
    assert_eq!(h.send_times(id), [0.0]);
    assert_eq!(
        h.event_log(id),
        [(32.0, "timeout B".into()), (32.0, "terminated".into())]
    );
}

#[test]
fn invite_client_timer_a_follows_a_configured_t1() {
    let mut h = Harness::with_config(Config {
        t1: Duration::from_millis(100),
        ..Config::default()
    });
    let id = h.send_request(Req::invite("z9hG4bKa1").msg(), UDP);
    h.advance_to(secs(60.0));
    let expected: Vec<f64> = INVITE_RETRANSMISSIONS.iter().map(|t| t / 5.0).collect();
    let got = h.send_times(id);
    assert_eq!(got.len(), expected.len());
    for (g, e) in got.iter().zip(&expected) {
        assert!((g - e).abs() < 1e-9, "{got:?} vs {expected:?}");
    }
    assert_eq!(h.event_log(id)[0], (6.4, "timeout B".into()));
}

#[test]
fn invite_client_provisional_response_stops_retransmissions_and_timer_b() {
    let mut h = Harness::new();
    let invite = Req::invite("z9hG4bKa1").msg();
    let id = h.send_request(invite.clone(), UDP);
    h.advance_to(secs(0.7));
    assert_eq!(
        h.receive(response_to(&invite, 180, "b1"), UDP),
        Received::Matched(id)
    );
    assert_eq!(h.layer.state(id), Some(State::Proceeding));
    assert_eq!(h.layer.poll_timeout(), None);
    h.advance_to(secs(600.0));
    assert_eq!(h.send_times(id), [0.0, 0.5]);
    assert_eq!(h.event_log(id), [(0.7, "response 180".into())]);
    // Waiting for the final response is the TU's business (Timer C, CANCEL).
    assert_eq!(h.layer.state(id), Some(State::Proceeding));
    assert!(h.layer.terminate(id));
    h.drain();
    assert_eq!(h.event_log(id).last().unwrap().1, "terminated");
    assert!(!h.layer.terminate(id));
}

#[test]
fn invite_client_acks_a_non_2xx_itself_and_acks_each_retransmission_until_timer_d() {
    let mut h = Harness::new();
    let invite = Req::invite("z9hG4bKa1").msg();
    let id = h.send_request(invite.clone(), UDP);
    h.advance_to(secs(0.2));
    let _ = h.receive(response_to(&invite, 100, ""), UDP);
    h.advance_to(secs(2.0));
    let busy = response_to(&invite, 486, "b1");
    assert_eq!(h.receive(busy.clone(), UDP), Received::Matched(id));
    assert_eq!(h.layer.state(id), Some(State::Completed));

    let (at, ack) = h.sent.last().unwrap();
    assert_eq!(*at, secs(2.0));
    assert_eq!(ack.peer, peer());
    let ack = parse(&ack.bytes);
    assert_eq!(ack.method(), Some(&Method::Ack));
    assert_eq!(ack.request_uri_str(), invite.request_uri_str());
    assert_eq!(ack.top_via().unwrap().branch(), Some("z9hG4bKa1"));
    assert_eq!(ack.to_tag(), Some("b1"));
    assert_eq!(ack.from_tag(), invite.from_tag());
    assert_eq!(ack.call_id(), invite.call_id());
    assert_eq!(ack.header(HeaderName::CSeq), Some("314159 ACK"));

    // The response was lost on the way back: the ACK goes again, the TU
    // hears nothing more.
    h.advance_to(secs(3.0));
    assert_eq!(h.receive(busy.clone(), UDP), Received::Matched(id));
    h.advance_to(secs(9.0));
    assert_eq!(h.receive(busy, UDP), Received::Matched(id));
    h.advance_to(secs(100.0));
    assert_eq!(
        h.sent_lines(id),
        [
            "INVITE sip:02-6200-6200-082@callex.example.net SIP/2.0",
            "ACK sip:02-6200-6200-082@callex.example.net SIP/2.0",
            "ACK sip:02-6200-6200-082@callex.example.net SIP/2.0",
            "ACK sip:02-6200-6200-082@callex.example.net SIP/2.0",
        ]
    );
    assert_eq!(h.send_times(id), [0.0, 2.0, 3.0, 9.0]);
    assert_eq!(
        h.event_log(id),
        [
            (0.2, "response 100".into()),
            (2.0, "response 486".into()),
            (34.0, "terminated".into()), // timer D: 32 s
        ]
    );
}

#[test]
fn invite_client_over_tcp_acks_a_non_2xx_and_terminates_at_once() {
    let mut h = Harness::new();
    let invite = Req::invite("z9hG4bKa1").msg();
    let id = h.send_request(invite.clone(), TCP);
    h.advance_to(secs(1.0));
    let _ = h.receive(response_to(&invite, 503, "b1"), TCP);
    assert_eq!(h.sent_lines(id).len(), 2);
    assert!(h.sent_lines(id)[1].starts_with("ACK "));
    assert_eq!(
        h.event_log(id),
        [(1.0, "response 503".into()), (1.0, "terminated".into())]
    );
    assert!(h.layer.is_empty());
    // A late retransmission is a stray now.
    assert!(matches!(
        h.receive(response_to(&invite, 503, "b1"), TCP),
        Received::Unmatched(_)
    ));
}

#[test]
fn invite_client_accepted_passes_every_2xx_to_the_tu_and_sends_no_ack_until_timer_m() {
    for reliability in [UDP, TCP] {
        let mut h = Harness::new();
        let invite = Req::invite("z9hG4bKa1").msg();
        let id = h.send_request(invite.clone(), reliability);
        h.advance_to(secs(1.0));
        let ok = response_to(&invite, 200, "b1");
        assert_eq!(h.receive(ok.clone(), reliability), Received::Matched(id));
        assert_eq!(h.layer.state(id), Some(State::Accepted));
        h.advance_to(secs(2.0));
        let _ = h.receive(ok, reliability); // retransmission
        let _ = h.receive(response_to(&invite, 200, "fork2"), reliability);
        let _ = h.receive(response_to(&invite, 486, "fork3"), reliability); // absorbed
        let _ = h.receive(response_to(&invite, 180, "fork4"), reliability); // absorbed
        h.advance_to(secs(100.0));
        // The ACK for a 2xx is the TU's: only the INVITE went out (over
        // UDP also its retransmission at 0.5 s), never after the 2xx.
        assert!(h.sent_lines(id).iter().all(|l| l.starts_with("INVITE ")));
        assert!(h.send_times(id).iter().all(|t| *t < 1.0));
        let log = h.event_log(id);
        assert_eq!(
            log,
            [
                (1.0, "response 200".into()),
                (2.0, "response 200".into()),
                (2.0, "response 200".into()),
                (33.0, "terminated".into()), // timer M: 64*T1 on any transport
            ],
            "{reliability:?}"
        );
        let tags: Vec<_> = h
            .events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Response { response, .. } => response.to_tag().map(str::to_owned),
                _ => None,
            })
            .collect();
        assert_eq!(tags, ["b1", "b1", "fork2"]);
    }
}

#[test]
fn non_invite_client_over_udp_doubles_timer_e_up_to_t2_then_times_out_with_timer_f() {
    let mut h = Harness::new();
    let id = h.send_request(Req::new("OPTIONS", "z9hG4bKo1").msg(), UDP);
    assert_eq!(h.layer.state(id), Some(State::Trying));
    h.advance_to(secs(100.0));
    assert_eq!(
        h.send_times(id),
        [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    );
    assert_eq!(
        h.event_log(id),
        [(32.0, "timeout F".into()), (32.0, "terminated".into())]
    );
}

#[test]
fn non_invite_client_timer_e_caps_at_a_configured_t2() {
    let mut h = Harness::with_config(Config {
        t2: Duration::from_secs(1),
        ..Config::default()
    });
    let id = h.send_request(Req::new("REGISTER", "z9hG4bKr1").msg(), UDP);
    h.advance_to(secs(5.0));
    assert_eq!(h.send_times(id), [0.0, 0.5, 1.5, 2.5, 3.5, 4.5]);
}

#[test]
fn non_invite_client_in_proceeding_retransmits_every_t2_until_timer_f() {
    let mut h = Harness::new();
    let options = Req::new("OPTIONS", "z9hG4bKo1").msg();
    let id = h.send_request(options.clone(), UDP);
    h.advance_to(secs(0.2));
    let _ = h.receive(response_to(&options, 100, ""), UDP);
    assert_eq!(h.layer.state(id), Some(State::Proceeding));
    h.advance_to(secs(100.0));
    // Timer E keeps its deadline (0.5 s), then is reset to T2 each time.
    assert_eq!(
        h.send_times(id),
        [0.0, 0.5, 4.5, 8.5, 12.5, 16.5, 20.5, 24.5, 28.5]
    );
    assert_eq!(
        h.event_log(id),
        [
            (0.2, "response 100".into()),
            (32.0, "timeout F".into()),
            (32.0, "terminated".into())
        ]
    );
}

#[test]
fn non_invite_client_over_tcp_never_retransmits_and_times_out_with_timer_f() {
    let mut h = Harness::new();
    let id = h.send_request(Req::new("OPTIONS", "z9hG4bKo1").msg(), TCP);
    h.advance_to(secs(100.0));
    assert_eq!(h.send_times(id), [0.0]);
    assert_eq!(h.event_log(id)[0], (32.0, "timeout F".into()));
}

#[test]
fn non_invite_client_final_response_absorbs_retransmissions_until_timer_k() {
    let mut h = Harness::new();
    let register = Req::new("REGISTER", "z9hG4bKr1").msg();
    let id = h.send_request(register.clone(), UDP);
    h.advance_to(secs(1.0));
    let ok = response_to(&register, 200, "r1");
    let _ = h.receive(ok.clone(), UDP);
    assert_eq!(h.layer.state(id), Some(State::Completed));
    h.advance_to(secs(2.0));
    assert_eq!(h.receive(ok, UDP), Received::Matched(id));
    h.advance_to(secs(100.0));
    assert_eq!(h.send_times(id), [0.0, 0.5]);
    assert_eq!(
        h.event_log(id),
        [(1.0, "response 200".into()), (6.0, "terminated".into())] // K = T4
    );
}

#[test]
fn non_invite_client_over_tcp_terminates_on_the_final_response() {
    let mut h = Harness::new();
    let bye = Req::new("BYE", "z9hG4bKb1").msg();
    let id = h.send_request(bye.clone(), TCP);
    let _ = h.receive(response_to(&bye, 481, "x"), TCP);
    assert_eq!(
        h.event_log(id),
        [(0.0, "response 481".into()), (0.0, "terminated".into())]
    );
    assert!(h.layer.is_empty());
}

#[test]
fn transport_error_ends_a_client_transaction_and_tells_the_tu() {
    let mut h = Harness::new();
    let id = h.send_request(Req::invite("z9hG4bKa1").msg(), UDP);
    h.advance_to(secs(0.1));
    h.layer.handle_transport_error(id, h.now).unwrap();
    h.drain();
    assert_eq!(
        h.event_log(id),
        [(0.1, "transport error".into()), (0.1, "terminated".into())]
    );
    assert_eq!(
        h.layer.handle_transport_error(id, h.now),
        Err(TransactionError::UnknownTransaction(id))
    );
    h.advance_to(secs(100.0));
    assert_eq!(h.send_times(id), [0.0]);
}

#[test]
fn transport_error_in_accepted_is_reported_but_the_invite_client_lives_on() {
    let mut h = Harness::new();
    let invite = Req::invite("z9hG4bKa1").msg();
    let id = h.send_request(invite.clone(), UDP);
    let _ = h.receive(response_to(&invite, 200, "b1"), UDP);
    h.layer.handle_transport_error(id, h.now).unwrap();
    h.drain();
    assert_eq!(h.layer.state(id), Some(State::Accepted));
    let _ = h.receive(response_to(&invite, 200, "b2"), UDP);
    assert_eq!(
        h.event_log(id),
        [
            (0.0, "response 200".into()),
            (0.0, "transport error".into()),
            (0.0, "response 200".into())
        ]
    );
}

#[test]
fn cancel_is_a_client_transaction_of_its_own_matched_apart_from_its_invite() {
    let mut h = Harness::new();
    let invite = Req::invite("z9hG4bKa1").msg();
    let invite_id = h.send_request(invite.clone(), UDP);
    let _ = h.receive(response_to(&invite, 180, "b1"), UDP);
    let cancel = build::cancel(h.layer.request(invite_id).unwrap());
    let cancel_id = h.send_request(cancel.clone(), UDP);
    assert_eq!(h.layer.kind(cancel_id), Some(Kind::NonInviteClient));
    assert_eq!(
        h.receive(response_to(&cancel, 200, "b1"), UDP),
        Received::Matched(cancel_id)
    );
    assert_eq!(
        h.receive(response_to(&invite, 487, "b1"), UDP),
        Received::Matched(invite_id)
    );
    assert_eq!(h.event_log(cancel_id)[0].1, "response 200");
    assert_eq!(h.event_log(invite_id)[1].1, "response 487");
    assert!(h.sent_lines(invite_id).last().unwrap().starts_with("ACK "));
}

#[test]
fn responses_matching_no_client_transaction_come_back_unmatched_and_leave_nothing_behind() {
    let mut h = Harness::new();
    let invite = Req::invite("z9hG4bKa1").msg();
    let id = h.send_request(invite.clone(), UDP);
    for i in 0..10_000 {
        let stray = response_to(&Req::invite(&format!("z9hG4bKstray{i}")).msg(), 200, "s");
        assert!(matches!(h.receive(stray, UDP), Received::Unmatched(_)));
    }
    // Same branch, other method: not ours either (§17.1.3).
    let mut other = Req::invite("z9hG4bKa1");
    other.method = "OPTIONS";
    assert!(matches!(
        h.receive(response_to(&other.msg(), 200, "s"), UDP),
        Received::Unmatched(_)
    ));
    assert_eq!(h.layer.len(), 1);
    assert!(h.event_log(id).is_empty());
    h.advance_to(secs(100.0));
    assert!(h.layer.is_empty());
    assert_eq!(h.layer.poll_timeout(), None);
}

#[test]
fn client_branch_matching_ignores_case() {
    let mut h = Harness::new();
    let invite = Req::invite("z9hG4bKAbC").msg();
    let id = h.send_request(invite, UDP);
    let echoed = Req::invite("z9hG4bKabc").msg();
    assert_eq!(
        h.receive(response_to(&echoed, 180, "b"), UDP),
        Received::Matched(id)
    );
}

#[test]
fn send_request_refuses_what_cannot_be_a_client_transaction() {
    let mut h = Harness::new();
    let now = h.now;
    let layer = &mut h.layer;
    let ack = Req::new("ACK", "z9hG4bKa1").msg();
    assert_eq!(
        layer.send_request(ack, peer(), UDP, now),
        Err(TransactionError::AckHasNoTransaction)
    );
    for branch in [None, Some("z9hG4bK"), Some("1234")] {
        let mut req = Req::invite("x");
        req.branch = branch.map(str::to_owned);
        assert_eq!(
            layer.send_request(req.msg(), peer(), UDP, now),
            Err(TransactionError::NoRfc3261Branch)
        );
    }
    let invite = Req::invite("z9hG4bKa1").msg();
    let response = response_to(&invite, 200, "x");
    assert_eq!(
        layer.send_request(response, peer(), UDP, now),
        Err(TransactionError::NotARequest)
    );
    let id = layer
        .send_request(invite.clone(), peer(), UDP, now)
        .unwrap();
    assert_eq!(
        layer.send_request(invite.clone(), peer(), UDP, now),
        Err(TransactionError::DuplicateBranch)
    );
    assert_eq!(
        layer.send_response(id, response_to(&invite, 200, "x"), now),
        Err(TransactionError::NotAServerTransaction(id))
    );
    assert!(layer.poll_timeout().is_some());
}
