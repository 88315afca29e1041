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
    assert!(data.starts_with(msg.as_bytes()), "message is not a prefix of its input");
    read_everything(&msg);

    // Unchanged, a message re-emits as the very same bytes.
    let same = MessageBuilder::edit(&msg).build();
    assert_eq!(same.as_bytes(), msg.as_bytes());

    // Edited, it is still a message that parses to the same fields.
    let edited = MessageBuilder::edit(&msg)
        .prepend(HeaderName::Via, "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKfuzz")
        .build();
    let reparsed = Message::parse_datagram(edited.bytes()).expect("edited message must parse");
    assert_eq!(reparsed.count(HeaderName::Via), msg.count(HeaderName::Via) + 1);
    assert_eq!(reparsed.body(), msg.body());

    if msg.is_request() {
        if let Err(rejection) = validate_request(&msg, &Policy::default()) {
            if let Some(response) = rejection.response(&msg, "fuzz") {
                let back = Message::parse_datagram(response.bytes()).expect("error response must parse");
                assert_eq!(back.status(), Some(rejection.status));
            }
        }
    } else {
        let _ = validate_response(&msg);
    }
}

fn read_everything(msg: &Message) {
    let _ = (msg.method(), msg.status(), msg.reason(), msg.version(), msg.defect());
    if let Some(Ok(uri)) = msg.request_uri() {
        let _ = (uri.user_decoded(), uri.params().count(), uri.equivalent(&uri));
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
        let _ = (via.branch(), via.rport(), via.received(), via.has_rfc3261_branch());
    }
    let _ = (msg.cseq(), msg.call_id(), msg.from_tag(), msg.to_tag(), msg.max_forwards(), msg.expires());
}
