//! Entry points shared by the cargo-fuzz targets (`fuzz/`) and the corpus
//! regression test (`tests/fuzz_corpus.rs`), so that what the fuzzer checks
//! and what `cargo test` replays are the same code. Each function panics
//! only when an invariant of the crate is broken.

use bytes::Bytes;

use crate::build::MessageBuilder;
use crate::framing::{next_frame, Frame};
use crate::header::HeaderName;
use crate::message::{Framing, Message};
use crate::validate::{validate_request, validate_response, Policy};

/// Bytes as a datagram and as a stream: parse, read every accessor,
/// validate, re-emit.
pub fn parse(data: &[u8]) {
    parse_as(data, Framing::Datagram);
    let mut rest = data;
    for _ in 0..64 {
        match next_frame(rest, 65_535) {
            Frame::Message(n) => {
                assert!(n <= rest.len(), "frame longer than the buffer");
                parse_as(&rest[..n], Framing::Stream);
                rest = &rest[n..];
            }
            Frame::Ping(n) | Frame::Skip(n) => {
                assert!(n > 0 && n <= rest.len());
                rest = &rest[n..];
            }
            Frame::Incomplete | Frame::Invalid(_) => break,
        }
    }
}

fn parse_as(data: &[u8], framing: Framing) {
    let Ok(msg) = Message::parse(Bytes::copy_from_slice(data), framing) else {
        return;
    };
    assert!(
        data.starts_with(msg.as_bytes()),
        "message is not a prefix of its input"
    );
    read_everything(&msg);

    // Unchanged, a message re-emits as the very same bytes.
    let same = MessageBuilder::edit(&msg).build();
    assert_eq!(same.as_bytes(), msg.as_bytes());

    // Edited, it is still a message that parses to the same fields.
    let edited = MessageBuilder::edit(&msg)
        .prepend(
            HeaderName::Via,
            "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKfuzz",
        )
        .build();
    let reparsed = Message::parse_datagram(edited.bytes()).expect("edited message must parse");
    assert_eq!(
        reparsed.count(HeaderName::Via),
        msg.count(HeaderName::Via) + 1
    );
    assert_eq!(reparsed.body(), msg.body());

    if msg.is_request() {
        let stamped = crate::build::stamp_received(&msg, ([192, 0, 2, 7], 5070).into());
        Message::parse_datagram(stamped.bytes()).expect("a stamped request must parse");
        if let Err(rejection) = validate_request(&msg, &Policy::default()) {
            if let Some(response) = rejection.response(&msg, "fuzz") {
                let back =
                    Message::parse_datagram(response.bytes()).expect("error response must parse");
                assert_eq!(back.status(), Some(rejection.status));
            }
        }
    } else {
        let _ = validate_response(&msg);
    }
}

fn read_everything(msg: &Message) {
    let _ = (
        msg.method(),
        msg.status(),
        msg.reason(),
        msg.version(),
        msg.defect(),
    );
    if let Some(Ok(uri)) = msg.request_uri() {
        let _ = (
            uri.user_decoded(),
            uri.params().count(),
            uri.equivalent(&uri),
        );
    }
    for f in msg.fields() {
        assert!(f.line.starts_with(f.raw_name));
        for v in msg.values(f.name).flatten() {
            if let Ok(addr) = crate::NameAddr::parse_strict(v) {
                let _ = (addr.display_name(), addr.uri(), addr.tag());
            }
        }
    }
    if let Some(via) = msg.top_via() {
        let _ = (
            via.branch(),
            via.rport(),
            via.received(),
            via.has_rfc3261_branch(),
        );
    }
    let _ = (
        msg.cseq(),
        msg.call_id(),
        msg.from_tag(),
        msg.to_tag(),
        msg.max_forwards(),
        msg.expires(),
    );
}

/// Bytes as a script of transaction-layer inputs: messages arriving over UDP
/// or TCP, responses from the TU, requests sent, clock jumps and transport
/// errors, in any order. Each step reads an opcode byte and its operand.
/// Checks that nothing panics, that the layer never asks to be woken in the
/// past, and that it never holds more transactions than configured.
pub fn transaction(data: &[u8]) {
    use crate::transaction::{
        Config, Event, Received, Reliability, TransactionId, TransactionLayer,
    };
    use std::time::{Duration, Instant};

    let config = Config {
        max_transactions: 64,
        ..Config::default()
    };
    let mut layer: TransactionLayer<u8> = TransactionLayer::new(config);
    let base = Instant::now();
    let mut now = base;
    let mut server_ids: Vec<TransactionId> = Vec::new();
    let mut all_ids: Vec<TransactionId> = Vec::new();
    let mut rest = data;
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        match op % 6 {
            // A message: the next byte is its length / 8 (up to 2 KiB).
            0 | 1 => {
                let Some((&len, tail)) = rest.split_first() else {
                    break;
                };
                let len = (len as usize * 8).min(tail.len());
                let (bytes, tail) = tail.split_at(len);
                rest = tail;
                let reliability = if op % 6 == 0 {
                    Reliability::Unreliable
                } else {
                    Reliability::Reliable
                };
                let Ok(msg) = Message::parse_datagram(Bytes::copy_from_slice(bytes)) else {
                    continue;
                };
                match layer.handle_message(msg, op, reliability, now) {
                    Received::Created(id) | Received::Matched(id) => all_ids.push(id),
                    Received::Unmatched(_) | Received::Refused { .. } => {}
                }
            }
            // The TU answers the latest server transaction with a status.
            2 => {
                let Some((&code, tail)) = rest.split_first() else {
                    break;
                };
                rest = tail;
                if let Some(&id) = server_ids.last() {
                    if let Some(req) = layer.request(id).cloned() {
                        let status = 100 + (code as u16 % 6) * 100 + (code as u16 % 7);
                        let response = crate::build::response(&req, status, "Fuzz")
                            .to_tag("fz")
                            .build();
                        let _ = layer.send_response(id, response, now);
                    }
                }
            }
            // The TU sends a request: the next message in the script.
            3 => {
                let Some((&len, tail)) = rest.split_first() else {
                    break;
                };
                let len = (len as usize * 8).min(tail.len());
                let (bytes, tail) = tail.split_at(len);
                rest = tail;
                if let Ok(msg) = Message::parse_datagram(Bytes::copy_from_slice(bytes)) {
                    if let Ok(id) = layer.send_request(msg, op, Reliability::Unreliable, now) {
                        all_ids.push(id);
                    }
                }
            }
            // The clock moves on by up to 64 s.
            4 => {
                let Some((&step, tail)) = rest.split_first() else {
                    break;
                };
                rest = tail;
                now += Duration::from_millis(u64::from(step) * 250);
                layer.handle_timeout(now);
                if let Some(wake) = layer.poll_timeout() {
                    assert!(wake > now, "layer asks to be woken in the past");
                }
            }
            // A transport error on some transaction.
            _ => {
                let Some((&pick, tail)) = rest.split_first() else {
                    break;
                };
                rest = tail;
                if !all_ids.is_empty() {
                    let id = all_ids[pick as usize % all_ids.len()];
                    let _ = layer.handle_transport_error(id, now);
                }
            }
        }
        while layer.poll_transmit().is_some() {}
        while let Some(event) = layer.poll_event() {
            if let Event::Request { id, .. } = event {
                server_ids.push(id);
            }
        }
        assert!(layer.len() <= 64, "more transactions than configured");
    }
}
