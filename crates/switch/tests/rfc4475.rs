//! Every RFC 4475 torture message sent to a running exchange over UDP and
//! over TCP (each on its own connection). Where the exchange answers, the
//! answer comes back to the sender — never to a host a Via names
//! (`bcast.dat` names 255.255.255.255, `mpart01.dat` 127.0.0.1:5070 and a
//! Route to 127.0.0.1:5080) — and after all of them the exchange still
//! answers OPTIONS on both transports.
//!
//! Which status each message earns is the `sip` crate's to pin (its own
//! RFC 4475 test); this test holds the wire to what [`Frontend::triage`]
//! (and, for REGISTER, the [`Registrar`]) decides for the same bytes,
//! framed as the transport frames them.

mod common;

use std::net::SocketAddr;

use bytes::Bytes;
use common::*;
use sip::framing::{next_frame, Frame};
use sip::message::Framing;
use sip::{build, Message, Method};
use switch::registrar::Step;
use switch::{Frontend, Registrar, RegistrarConfig, Triage, DEFAULT_REALM};
use tokio::net::UdpSocket;

fn torture_messages() -> Vec<(String, Vec<u8>)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../sip/tests/rfc4475");
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let name = path.file_name()?.to_str()?.strip_suffix(".dat")?.to_owned();
            let bytes = std::fs::read(&path).ok()?;
            Some((name, bytes))
        })
        .collect();
    files.sort();
    assert_eq!(files.len(), 50, "the RFC 4475 archive has 50 messages");
    files
}

/// The answer the exchange owes for a request: the front end's, or for a
/// REGISTER the registrar's (none of the torture messages carries
/// credentials for our realm, so it answers without the store).
fn owed_answer(frontend: &Frontend, request: &Message) -> Option<Message> {
    match frontend.triage(request, SENDER) {
        Triage::Answer(answer) => Some(answer),
        Triage::Absorb => None,
        Triage::Register(register) => {
            let mut registrar =
                Registrar::new(DEFAULT_REALM, "test", RegistrarConfig::default(), b"key");
            match registrar.receive(&register, store::now_millis()) {
                Step::Answer(answer) => Some(answer),
                other => panic!("a torture REGISTER went to the store: {other:?}"),
            }
        }
        // The call controller, without a store: none of the torture
        // messages has credentials for our realm or names a dialog of ours.
        Triage::Call(request) => {
            let status = match request.method() {
                Some(Method::Invite) if request.to_tag().is_none() => {
                    if request.max_forwards() == Some(0) {
                        483
                    } else {
                        407
                    }
                }
                _ => 481,
            };
            Some(build::response(&request, status, "").build())
        }
    }
}

/// (status, Call-ID) of the answer the exchange owes for a datagram.
fn owed_over_udp(frontend: &Frontend, bytes: &[u8]) -> Option<(u16, Option<String>)> {
    let request = Message::parse_datagram(Bytes::copy_from_slice(bytes)).ok()?;
    let answer = owed_answer(frontend, &request)?;
    Some((answer.status()?, answer.call_id().map(str::to_owned)))
}

/// The statuses owed over a stream, in order, and whether the stream is
/// one the exchange must close.
fn owed_over_tcp(frontend: &Frontend, bytes: &[u8]) -> (Vec<u16>, bool) {
    let mut rest = bytes;
    let mut owed = Vec::new();
    loop {
        match next_frame(rest, 65_535) {
            Frame::Message(n) => {
                let frame = Bytes::copy_from_slice(&rest[..n]);
                if let Ok(request) = Message::parse(frame, Framing::Stream) {
                    owed.extend(owed_answer(frontend, &request).and_then(|a| a.status()));
                }
                rest = &rest[n..];
            }
            Frame::Ping(n) | Frame::Skip(n) => rest = &rest[n..],
            Frame::Incomplete => return (owed, false),
            Frame::Invalid(_) => return (owed, true),
        }
    }
}

/// The message with a branch of its own: the exchange is transaction
/// stateful, and many torture messages share `branch=z9hG4bKkdjuw`, so the
/// later ones would rightly be absorbed as retransmissions of the first:
/// over UDP, where a transaction outlives its answer (RFC 3261 Timer J), and
/// over TCP too when they arrive before the first is answered.
fn own_branch(bytes: &[u8], index: usize) -> Vec<u8> {
    const MAGIC: &[u8] = b"branch=z9hG4bK";
    let unique = format!("branch=z9hG4bK{index}x");
    let mut out = Vec::with_capacity(bytes.len() + 64);
    let mut rest = bytes;
    while let Some(at) = rest.windows(MAGIC.len()).position(|w| w == MAGIC) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(unique.as_bytes());
        rest = &rest[at + MAGIC.len()..];
    }
    out.extend_from_slice(rest);
    out
}

/// Sockets on the addresses `mpart01.dat` names, where nothing may arrive;
/// `None` where the port is taken on this machine.
async fn watch(addr: &str) -> Option<UdpSocket> {
    let addr: SocketAddr = addr.parse().unwrap();
    match UdpSocket::bind(addr).await {
        Ok(socket) => Some(socket),
        Err(e) => {
            eprintln!(
                "cannot watch {addr} for misrouted answers ({e}); checked at the sender only"
            );
            None
        }
    }
}

/// Where the front end believes a request came from, in the expectations
/// (the statuses do not depend on it).
const SENDER: std::net::SocketAddr =
    std::net::SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 40000);

#[tokio::test]
async fn every_torture_message_over_udp_is_answered_to_its_sender_or_not_at_all() {
    let exchange = start().await;
    let frontend = Frontend::new();
    let watchers = [watch("127.0.0.1:5070").await, watch("127.0.0.1:5080").await];

    let mut peers = Vec::new();
    for (i, (name, bytes)) in torture_messages().into_iter().enumerate() {
        let bytes = own_branch(&bytes, i);
        let peer = udp_peer().await;
        peer.send_to(&bytes, exchange.udp).await.unwrap();
        let owed = owed_over_udp(&frontend, &bytes);
        peers.push((name, peer, owed));
    }
    let mut answered = 0;
    for (name, peer, owed) in &peers {
        if let Some((status, call_id)) = owed {
            let answer = recv_message(peer).await;
            assert_eq!(answer.status(), Some(*status), "{name}");
            assert_eq!(answer.call_id(), call_id.as_deref(), "{name}");
            answered += 1;
        }
    }
    // The silent ones: each peer hears nothing more (answers would have
    // been sent long before those awaited above arrived), and neither does
    // any host a message names.
    let watched = watchers
        .iter()
        .flatten()
        .map(|w| ("a Via or Route host of mpart01.dat", w));
    // (Those answered may hear their answer again: a final response to an
    // INVITE is retransmitted until its ACK, which these peers never send.)
    let silent = peers.iter().filter(|p| p.2.is_none());
    assert_all_silent(silent.map(|p| (p.0.as_str(), &p.1)).chain(watched)).await;
    assert!(
        answered >= 35,
        "most torture requests get an answer ({answered})"
    );
    let mpart = peers.iter().find(|p| p.0 == "mpart01").unwrap();
    assert!(
        mpart.2.is_some(),
        "mpart01 is answered, to its sender (405 for MESSAGE)"
    );
    assert_answers_options(&exchange).await;
}

#[tokio::test]
async fn every_torture_message_over_tcp_is_answered_on_its_own_connection() {
    let exchange = start().await;
    let frontend = Frontend::new();
    let mut connections = Vec::new();
    for (i, (name, bytes)) in torture_messages().into_iter().enumerate() {
        // Several messages share a branch: sent at once, the later ones
        // would be retransmissions of the first, whatever the connection.
        let bytes = own_branch(&bytes, i);
        let mut peer = StreamPeer::connect(exchange.tcp).await;
        peer.send(&bytes).await;
        let owed = owed_over_tcp(&frontend, &bytes);
        connections.push((name, peer, owed));
    }
    let mut answered = 0;
    for (name, peer, (statuses, closes)) in &mut connections {
        for status in statuses.iter() {
            let answer = peer
                .next_message()
                .await
                .unwrap_or_else(|| panic!("{name}: closed before its answer"));
            assert_eq!(answer.status(), Some(*status), "{name}");
            answered += 1;
        }
        if *closes {
            assert!(
                peer.closed_within(ANSWER_WITHIN).await,
                "{name}: a stream that cannot be framed is closed"
            );
        }
    }
    assert!(
        answered >= 35,
        "most torture requests get an answer ({answered})"
    );
    let dblreq = connections.iter().find(|c| c.0 == "dblreq").unwrap();
    assert_eq!(dblreq.2 .0.len(), 2, "dblreq is two requests on a stream");
    assert_answers_options(&exchange).await;
}
