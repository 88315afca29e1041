//! Server transactions (RFC 3261 §17.2, RFC 6026) driven through a fake
//! clock: every timer path over UDP and over a reliable transport, and the
//! absorption of retransmitted requests.

#[allow(dead_code)]
mod transaction_support;

use sip::build;
use sip::transaction::{Config, Kind, Received, State, TransactionError};
use transaction_support::*;

fn final_response(invite: &sip::Message, status: u16) -> sip::Message {
    response_to(invite, status, "uas1")
}

#[test]
fn invite_server_sends_100_trying_at_once_and_again_for_each_retransmitted_invite() {
    let mut h = Harness::new();
    let invite = Req::invite("z9hG4bKi1").msg();
    let id = h.receive_new(invite.clone(), UDP);
    assert_eq!(h.layer.kind(id), Some(Kind::InviteServer));
    assert_eq!(h.layer.state(id), Some(State::Proceeding));
    let trying = parse(&h.sent[0].1.bytes);
    assert_eq!(trying.status(), Some(100));
    assert_eq!(trying.to_tag(), None);
    assert_eq!(trying.top_via().unwrap().branch(), Some("z9hG4bKi1"));
    assert_eq!(h.sent[0].1.peer, peer());
    h.advance_to(secs(0.5));
    assert_eq!(h.receive(invite.clone(), UDP), Received::Matched(id));
    h.advance_to(secs(1.5));
    assert_eq!(h.receive(invite, UDP), Received::Matched(id));
    assert_eq!(h.send_times(id), [0.0, 0.5, 1.5]);
    assert!(h.sent_lines(id).iter().all(|l| l == "SIP/2.0 100 Trying"));
    // The TU heard of the INVITE once.
    assert_eq!(h.event_log(id), [(0.0, "request INVITE".into())]);
    // No timer runs until the TU answers.
    assert_eq!(h.layer.poll_timeout(), None);
}

#[test]
fn invite_server_leaves_the_100_to_the_tu_when_configured_and_repeats_the_last_provisional() {
    let mut h = Harness::with_config(Config {
        send_100_trying: false,
        ..Config::default()
    });
    let invite = Req::invite("z9hG4bKi1").msg();
    let id = h.receive_new(invite.clone(), UDP);
    assert!(h.sent.is_empty());
    let _ = h.receive(invite.clone(), UDP); // nothing to repeat yet
    assert!(h.sent.is_empty());
    h.respond(id, response_to(&invite, 180, "uas1"));
    let _ = h.receive(invite, UDP);
    assert_eq!(
        h.sent_lines(id),
        ["SIP/2.0 180 Ringing", "SIP/2.0 180 Ringing"]
    );
}

#[test]
fn invite_server_over_udp_retransmits_a_non_2xx_with_timer_g_capped_at_t2_until_timer_h() {
    let mut h = Harness::new();
    let invite = Req::invite("z9hG4bKi1").msg();
    let id = h.receive_new(invite.clone(), UDP);
    h.clear();
    h.respond(id, final_response(&invite, 486));
    assert_eq!(h.layer.state(id), Some(State::Completed));
    h.advance_to(secs(100.0));
    assert_eq!(
        h.send_times(id),
        [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    );
    assert!(h
        .sent_lines(id)
        .iter()
        .all(|l| l == "SIP/2.0 486 Busy Here"));
    assert_eq!(
        h.event_log(id),
        [(32.0, "timeout H".into()), (32.0, "terminated".into())]
    );
}

#[test]
fn invite_server_ack_stops_timer_g_and_timer_i_absorbs_ack_retransmissions() {
    let mut h = Harness::new();
    let invite = Req::invite("z9hG4bKi1").msg();
    let id = h.receive_new(invite.clone(), UDP);
    h.clear();
    h.respond(id, final_response(&invite, 486));
    h.advance_to(secs(1.0));
    // The INVITE again in Completed: the final response again.
    assert_eq!(h.receive(invite.clone(), UDP), Received::Matched(id));
    h.advance_to(secs(2.0));
    let ack = build::ack_for_non_2xx(&invite, &final_response(&invite, 486));
    assert_eq!(h.receive(ack.clone(), UDP), Received::Matched(id));
    assert_eq!(h.layer.state(id), Some(State::Confirmed));
    h.advance_to(secs(3.0));
    assert_eq!(h.receive(ack, UDP), Received::Matched(id));
    assert_eq!(h.receive(invite, UDP), Received::Matched(id));
    h.advance_to(secs(100.0));
    assert_eq!(h.send_times(id), [0.0, 0.5, 1.0, 1.5]);
    assert_eq!(
        h.event_log(id),
        [(7.0, "terminated".into())] // timer I = T4 after the ACK
    );
}

#[test]
fn invite_server_over_tcp_sends_the_final_response_once_and_ends_at_the_ack() {
    let mut h = Harness::new();
    let invite = Req::invite("z9hG4bKi1").msg();
    let id = h.receive_new(invite.clone(), TCP);
    h.clear();
    h.respond(id, final_response(&invite, 404));
    h.advance_to(secs(10.0));
    assert_eq!(h.send_times(id), [0.0]);
    let ack = build::ack_for_non_2xx(&invite, &final_response(&invite, 404));
    assert_eq!(h.receive(ack, TCP), Received::Matched(id));
    assert_eq!(h.event_log(id), [(10.0, "terminated".into())]); // I = 0
}

#[test]
fn invite_server_over_tcp_without_ack_times_out_with_timer_h() {
    let mut h = Harness::new();
    let invite = Req::invite("z9hG4bKi1").msg();
    let id = h.receive_new(invite.clone(), TCP);
    h.clear();
    h.respond(id, final_response(&invite, 404));
    h.advance_to(secs(100.0));
    assert_eq!(h.send_times(id), [0.0]);
    assert_eq!(
        h.event_log(id),
        [(32.0, "timeout H".into()), (32.0, "terminated".into())]
    );
}

#[test]
fn invite_server_accepted_absorbs_invites_passes_2xx_from_the_tu_and_acks_until_timer_l() {
    for reliability in [UDP, TCP] {
        let mut h = Harness::new();
        let invite = Req::invite("z9hG4bKi1").msg();
        let id = h.receive_new(invite.clone(), reliability);
        h.clear();
        let ok = final_response(&invite, 200);
        h.respond(id, ok.clone());
        assert_eq!(h.layer.state(id), Some(State::Accepted));
        // RFC 6026: the INVITE again is absorbed, not a new transaction, and
        // the transaction does not retransmit the 2xx on its own.
        h.advance_to(secs(0.6));
        assert_eq!(
            h.receive(invite.clone(), reliability),
            Received::Matched(id)
        );
        h.advance_to(secs(1.0));
        h.respond(id, ok.clone()); // the TU's retransmission passes
                                   // The ACK for a 2xx has a branch of its own: the dialog's business.
        let mut ack_2xx = Req::new("ACK", "z9hG4bKack2xx");
        ack_2xx.to_tag = Some("uas1".into());
        ack_2xx.cseq_method = Some("ACK");
        assert!(matches!(
            h.receive(ack_2xx.msg(), reliability),
            Received::Unmatched(_)
        ));
        // One that reuses the INVITE's branch matches, and reaches the TU.
        h.advance_to(secs(2.0));
        let mut ack_same_branch = ack_2xx.clone();
        ack_same_branch.branch = Some("z9hG4bKi1".into());
        assert_eq!(
            h.receive(ack_same_branch.msg(), reliability),
            Received::Matched(id)
        );
        assert_eq!(
            h.layer
                .send_response(id, final_response(&invite, 486), h.now),
            Err(TransactionError::ResponseNotAllowed {
                id,
                state: State::Accepted,
                status: 486
            })
        );
        h.advance_to(secs(100.0));
        assert_eq!(h.send_times(id), [0.0, 1.0], "{reliability:?}");
        assert_eq!(
            h.event_log(id),
            [(2.0, "ack".into()), (32.0, "terminated".into())], // L = 64*T1
            "{reliability:?}"
        );
    }
}

#[test]
fn non_invite_server_in_trying_absorbs_retransmissions_silently() {
    let mut h = Harness::new();
    let register = Req::new("REGISTER", "z9hG4bKr1").msg();
    let id = h.receive_new(register.clone(), UDP);
    assert_eq!(h.layer.kind(id), Some(Kind::NonInviteServer));
    assert_eq!(h.layer.state(id), Some(State::Trying));
    for t in [0.5, 1.5, 3.5] {
        h.advance_to(secs(t));
        assert_eq!(h.receive(register.clone(), UDP), Received::Matched(id));
    }
    assert!(h.sent.is_empty());
    assert_eq!(h.event_log(id), [(0.0, "request REGISTER".into())]);
}

#[test]
fn non_invite_server_in_proceeding_repeats_the_last_provisional() {
    let mut h = Harness::new();
    let register = Req::new("REGISTER", "z9hG4bKr1").msg();
    let id = h.receive_new(register.clone(), UDP);
    h.respond(id, response_to(&register, 100, ""));
    assert_eq!(h.layer.state(id), Some(State::Proceeding));
    h.advance_to(secs(0.5));
    let _ = h.receive(register, UDP);
    assert_eq!(h.send_times(id), [0.0, 0.5]);
    assert!(h.sent_lines(id).iter().all(|l| l == "SIP/2.0 100 Trying"));
}

#[test]
fn non_invite_server_over_udp_repeats_its_final_response_until_timer_j() {
    let mut h = Harness::new();
    let register = Req::new("REGISTER", "z9hG4bKr1").msg();
    let id = h.receive_new(register.clone(), UDP);
    h.respond(id, response_to(&register, 200, "r"));
    assert_eq!(h.layer.state(id), Some(State::Completed));
    assert_eq!(
        h.layer
            .send_response(id, response_to(&register, 500, "r"), h.now),
        Err(TransactionError::ResponseNotAllowed {
            id,
            state: State::Completed,
            status: 500
        })
    );
    for t in [0.5, 10.0, 31.9] {
        h.advance_to(secs(t));
        assert_eq!(h.receive(register.clone(), UDP), Received::Matched(id));
    }
    h.advance_to(secs(100.0));
    assert_eq!(h.send_times(id), [0.0, 0.5, 10.0, 31.9]);
    assert!(h.sent_lines(id).iter().all(|l| l == "SIP/2.0 200 OK"));
    assert_eq!(
        h.event_log(id),
        [
            (0.0, "request REGISTER".into()),
            (32.0, "terminated".into())
        ]
    );
    // After timer J the same request is a new transaction.
    assert!(matches!(h.receive(register, UDP), Received::Created(_)));
}

#[test]
fn non_invite_server_over_tcp_ends_with_its_final_response() {
    let mut h = Harness::new();
    let options = Req::new("OPTIONS", "z9hG4bKo1").msg();
    let id = h.receive_new(options.clone(), TCP);
    h.respond(id, response_to(&options, 200, "o"));
    assert_eq!(
        h.event_log(id),
        [(0.0, "request OPTIONS".into()), (0.0, "terminated".into())]
    );
    assert!(h.layer.is_empty());
    assert_eq!(h.layer.poll_timeout(), None);
}

#[test]
fn transport_error_ends_a_server_transaction_and_tells_the_tu() {
    let mut h = Harness::new();
    let invite = Req::invite("z9hG4bKi1").msg();
    let id = h.receive_new(invite.clone(), UDP);
    h.clear();
    h.respond(id, final_response(&invite, 486));
    h.layer.handle_transport_error(id, h.now).unwrap();
    h.drain();
    assert_eq!(
        h.event_log(id),
        [(0.0, "transport error".into()), (0.0, "terminated".into())]
    );
    h.advance_to(secs(100.0));
    assert_eq!(h.send_times(id), [0.0]);
}

#[test]
fn transport_error_in_accepted_keeps_the_invite_server_absorbing_retransmissions() {
    let mut h = Harness::new();
    let invite = Req::invite("z9hG4bKi1").msg();
    let id = h.receive_new(invite.clone(), UDP);
    h.clear();
    h.respond(id, final_response(&invite, 200));
    h.layer.handle_transport_error(id, h.now).unwrap();
    h.drain();
    assert_eq!(h.layer.state(id), Some(State::Accepted));
    assert_eq!(h.receive(invite, UDP), Received::Matched(id));
}

#[test]
fn send_response_refuses_unknown_ids_and_requests() {
    let mut h = Harness::new();
    let options = Req::new("OPTIONS", "z9hG4bKo1").msg();
    let id = h.receive_new(options.clone(), TCP);
    assert_eq!(
        h.layer.send_response(id, options.clone(), h.now),
        Err(TransactionError::NotAResponse)
    );
    h.respond(id, response_to(&options, 200, "o"));
    // Ended: the id names nothing now, even once its slot is reused.
    let _ = h.receive_new(Req::new("OPTIONS", "z9hG4bKo2").msg(), TCP);
    let err = h
        .layer
        .send_response(id, response_to(&options, 200, "o"), h.now)
        .unwrap_err();
    assert_eq!(err, TransactionError::UnknownTransaction(id));
    assert!(err.to_string().contains("does not exist"));
}
