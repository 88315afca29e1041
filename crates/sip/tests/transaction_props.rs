//! Whatever the network and the TU throw at the layer, in whatever order
//! and at whatever times, it does not panic, keeps its timers in the future,
//! and every transaction it starts ends once the TU answers and time passes.

#[allow(dead_code)]
mod transaction_support;

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use proptest::prelude::*;
use sip::transaction::{Config, Event, Kind, Received, State, TransactionId};
use sip::Message;
use transaction_support::*;

const METHODS: [&str; 5] = ["INVITE", "ACK", "CANCEL", "OPTIONS", "BYE"];

#[derive(Debug, Clone)]
enum Op {
    /// A request from the network, from a small universe so that
    /// retransmissions, ACKs and CANCELs meet their transactions.
    Request {
        method: usize,
        branch: u8,
        to_tag: u8,
        reliable: bool,
    },
    /// A response from the network to one of the requests the TU may send.
    Response {
        method: usize,
        branch: u8,
        status: u16,
        to_tag: u8,
    },
    /// A response from the network to a request a client transaction sent.
    Reply {
        pick: usize,
        status: u16,
        to_tag: u8,
    },
    /// Bytes off the wire, whatever they parse to.
    Garbage(Vec<u8>),
    SendRequest {
        method: usize,
        branch: u8,
        reliable: bool,
    },
    SendResponse {
        pick: usize,
        status: u16,
        to_tag: u8,
    },
    Advance(u32),
    TransportError(usize),
    Terminate(usize),
    FindCancelled {
        branch: u8,
    },
}

fn status() -> impl Strategy<Value = u16> {
    prop_oneof![
        Just(100u16),
        Just(180),
        Just(200),
        Just(202),
        Just(302),
        Just(486),
        Just(503),
        100u16..700
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..METHODS.len(), 0u8..4, 0u8..3, any::<bool>()).prop_map(
            |(method, branch, to_tag, reliable)| Op::Request { method, branch, to_tag, reliable }
        ),
        5 => (0..METHODS.len(), 0u8..4, status(), 0u8..3).prop_map(
            |(method, branch, status, to_tag)| Op::Response { method, branch, status, to_tag }
        ),
        4 => (any::<usize>(), status(), 0u8..3).prop_map(
            |(pick, status, to_tag)| Op::Reply { pick, status, to_tag }
        ),
        1 => proptest::collection::vec(any::<u8>(), 0..64).prop_map(Op::Garbage),
        2 => (0..METHODS.len(), 0u8..4, any::<bool>()).prop_map(
            |(method, branch, reliable)| Op::SendRequest { method, branch, reliable }
        ),
        3 => (any::<usize>(), status(), 0u8..3).prop_map(
            |(pick, status, to_tag)| Op::SendResponse { pick, status, to_tag }
        ),
        3 => (0u32..40_000).prop_map(Op::Advance),
        1 => any::<usize>().prop_map(Op::TransportError),
        1 => any::<usize>().prop_map(Op::Terminate),
        1 => (0u8..4).prop_map(|branch| Op::FindCancelled { branch }),
    ]
}

/// Branch 0: none (RFC 2543); 1: the bare cookie; others: RFC 3261.
fn template(method: &'static str, branch: u8, to_tag: u8) -> Req {
    let mut r = Req::new(method, "");
    r.branch = match branch {
        0 => None,
        1 => Some("z9hG4bK".into()),
        n => Some(format!("z9hG4bKp{n}")),
    };
    if method == "ACK" || method == "CANCEL" {
        r.cseq_method = Some(method);
    }
    r.to_tag = (to_tag > 0).then(|| format!("t{to_tag}"));
    r
}

fn run(ops: Vec<Op>) {
    let mut h = Harness::with_config(Config {
        max_transactions: 16,
        ..Config::default()
    });
    let mut started: Vec<TransactionId> = Vec::new();
    let reliability = |reliable: bool| if reliable { TCP } else { UDP };
    for op in ops {
        match op {
            Op::Request {
                method,
                branch,
                to_tag,
                reliable,
            } => {
                let msg = template(METHODS[method], branch, to_tag).msg();
                if let Received::Created(id) = h.receive(msg, reliability(reliable)) {
                    started.push(id);
                }
            }
            Op::Response {
                method,
                branch,
                status,
                to_tag,
            } => {
                let request = template(METHODS[method], branch, 0).msg();
                let _ = h.receive(response_to(&request, status, &format!("t{to_tag}")), UDP);
            }
            Op::Reply {
                pick,
                status,
                to_tag,
            } => {
                let request = started
                    .get(pick % started.len().max(1))
                    .and_then(|id| h.layer.request(*id).cloned());
                if let Some(request) = request {
                    let _ = h.receive(response_to(&request, status, &format!("t{to_tag}")), UDP);
                }
            }
            Op::Garbage(bytes) => {
                if let Ok(msg) = Message::parse_datagram(Bytes::from(bytes)) {
                    if let Received::Created(id) = h.receive(msg, UDP) {
                        started.push(id);
                    }
                }
            }
            Op::SendRequest {
                method,
                branch,
                reliable,
            } => {
                let msg = template(METHODS[method], branch, 0).msg();
                if let Ok(id) = h
                    .layer
                    .send_request(msg, peer(), reliability(reliable), h.now)
                {
                    started.push(id);
                }
                h.drain();
            }
            Op::SendResponse {
                pick,
                status,
                to_tag,
            } => {
                if let Some(&id) = started.get(pick % started.len().max(1)) {
                    let request = template("INVITE", 2, 0).msg();
                    let response = response_to(&request, status, &format!("t{to_tag}"));
                    let _ = h.layer.send_response(id, response, h.now);
                    h.drain();
                }
            }
            Op::Advance(ms) => {
                let t = h.elapsed() + Duration::from_millis(u64::from(ms));
                h.advance_to(t);
                assert!(h.layer.poll_timeout().is_none_or(|w| w > h.now));
            }
            Op::TransportError(pick) => {
                if let Some(&id) = started.get(pick % started.len().max(1)) {
                    let _ = h.layer.handle_transport_error(id, h.now);
                    h.drain();
                }
            }
            Op::Terminate(pick) => {
                if let Some(&id) = started.get(pick % started.len().max(1)) {
                    let _ = h.layer.terminate(id);
                    h.drain();
                }
            }
            Op::FindCancelled { branch } => {
                let cancel = template("CANCEL", branch, 0).msg();
                if let Some(id) = h.layer.find_cancelled(&cancel) {
                    assert_eq!(h.layer.kind(id), Some(Kind::InviteServer));
                }
            }
        }
        assert!(h.layer.len() <= 16);
        for (_, e) in &h.events {
            if let Event::Terminated { id } = e {
                assert_eq!(h.layer.state(*id), None);
            }
        }
    }

    // The TU answers whatever waits for an answer, ends INVITEs still
    // ringing, and time passes: nothing is left.
    for &id in &started {
        if h.layer.kind(id).is_some_and(|k| !k.is_client())
            && matches!(h.layer.state(id), Some(State::Trying | State::Proceeding))
        {
            let request = template("OPTIONS", 2, 0).msg();
            h.layer
                .send_response(id, response_to(&request, 500, "end"), h.now)
                .expect("a waiting server transaction takes a final response");
        }
        if h.layer.kind(id) == Some(Kind::InviteClient)
            && h.layer.state(id) == Some(State::Proceeding)
        {
            assert!(h.layer.terminate(id));
        }
    }
    h.drain();
    let t = h.elapsed() + Duration::from_secs(600);
    h.advance_to(t);
    assert!(h.layer.is_empty(), "{:?}", h.layer);
    assert_eq!(h.layer.poll_timeout(), None);
    let ended: BTreeSet<TransactionId> = h
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Terminated { id } => Some(*id),
            _ => None,
        })
        .collect();
    let terminated_events = h
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::Terminated { .. }))
        .count();
    assert_eq!(terminated_events, started.len(), "one Terminated each");
    assert_eq!(ended, started.iter().copied().collect());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_sequence_of_inputs_leaves_a_consistent_layer_that_drains_to_empty(
        ops in proptest::collection::vec(op(), 0..80)
    ) {
        run(ops);
    }
}
