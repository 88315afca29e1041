//! The RFC 4475 torture messages, each fed to the parser, the framer and the
//! validator as a receiving element would over UDP and over TCP, against the
//! verdict the RFC gives (restated in `tests/rfc4475/README`-style table
//! below; the messages are the RFC's archive, byte for byte).
//!
//! The element modelled here is the one `callex` runs: a UAS/B2BUA front
//! that validates with [`Policy::default`]. Checks that belong to later
//! stages (a registrar refusing a non-SIP AOR in To, two bindings for two
//! `%00` contacts) are pinned by the switch's own tests; here a message the
//! RFC calls well-formed must get past validation, and an ill-formed one must
//! get the response the RFC asks for.

use bytes::Bytes;
use sip::framing::{next_frame, Frame};
use sip::message::Framing;
use sip::validate::{validate_request, validate_response, Policy};
use sip::Message;

/// What the element did with the first message on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Valid request: handed on to be processed (the processing answers,
    /// never with 400).
    Processed,
    /// Answered with this status by the validator.
    Rejected(u16),
    /// A request too broken to answer (no Via to answer to), dropped.
    DroppedRequest,
    /// A response, parsed and valid: matched against transactions (none
    /// here), nothing sent back.
    ResponseAccepted,
    /// A response dropped as invalid.
    ResponseDropped,
    /// Stream only: nothing complete arrived.
    Waiting,
    /// Stream only: the connection was closed.
    Closed,
}

use Outcome::*;

fn judge(msg: Result<Message, sip::ParseError>) -> Outcome {
    let Ok(msg) = msg else {
        return DroppedRequest;
    };
    if !msg.is_request() {
        return match validate_response(&msg) {
            Ok(()) => ResponseAccepted,
            Err(_) => ResponseDropped,
        };
    }
    match validate_request(&msg, &Policy::default()) {
        Ok(()) => Processed,
        Err(rejection) => {
            // An answer needs a Via to go back along; it must parse back.
            // (It echoes the request's fields, so it is only as valid as they.)
            match rejection.response(&msg, "callex-tag") {
                Some(response) => {
                    let reparsed = Message::parse_datagram(response.bytes()).unwrap();
                    assert_eq!(reparsed.status(), Some(rejection.status));
                    Rejected(rejection.status)
                }
                None => DroppedRequest,
            }
        }
    }
}

fn over_udp(bytes: &[u8]) -> Outcome {
    judge(Message::parse_datagram(Bytes::copy_from_slice(bytes)))
}

fn over_tcp(bytes: &[u8]) -> Outcome {
    let mut buf = bytes;
    loop {
        match next_frame(buf, 65_535) {
            Frame::Message(n) => {
                return judge(Message::parse(
                    Bytes::copy_from_slice(&buf[..n]),
                    Framing::Stream,
                ))
            }
            Frame::Ping(n) | Frame::Skip(n) => buf = &buf[n..],
            Frame::Incomplete => return Waiting,
            Frame::Invalid(_) => return Closed,
        }
    }
}

/// The RFC's verdict, per transport.
#[derive(Debug, Clone, Copy)]
enum Verdict {
    /// `respond:N|M`.
    Status(&'static [u16]),
    /// `respond:!400`: processed, or answered with anything but 400.
    Not400,
    /// `respond:4xx`.
    Class4xx,
    /// `any-response-ok`: some answer (any status, or processed).
    AnyAnswer,
    /// `respond:any|none`, `respond:400|none`-like: anything but a crash.
    AnyOrNone,
    /// `no-response-ok`: a response that is parsed and then dropped or
    /// matched: nothing goes back. `true` when the RFC says it is valid and
    /// must parse.
    NoResponse { valid: bool },
    /// `respond:400|closed` on a stream.
    Status400OrClosed,
    /// Stream: the message never completes.
    NeverCompletes,
}

use Verdict::*;

fn holds(verdict: Verdict, outcome: Outcome) -> bool {
    match verdict {
        Status(codes) => matches!(outcome, Rejected(c) if codes.contains(&c)),
        Not400 => matches!(outcome, Processed) || matches!(outcome, Rejected(c) if c != 400),
        Class4xx => {
            matches!(outcome, Processed)
                || matches!(outcome, Rejected(c) if (400..500).contains(&c))
        }
        AnyAnswer => matches!(outcome, Processed | Rejected(_)),
        AnyOrNone => true,
        NoResponse { valid: true } => outcome == ResponseAccepted,
        NoResponse { valid: false } => matches!(outcome, ResponseDropped | DroppedRequest),
        Status400OrClosed => matches!(outcome, Rejected(400) | Closed),
        NeverCompletes => outcome == Waiting,
    }
}

/// (file, verdict over UDP, verdict over TCP), RFC 4475 §3.
const CASES: &[(&str, Verdict, Verdict)] = &[
    // §3.1.1 valid messages
    ("wsinv", Not400, Not400),
    ("intmeth", Not400, Not400),
    ("esc01", Not400, Not400),
    ("escnull", Not400, Not400),
    ("esc02", Not400, Not400),
    ("lwsdisp", Not400, Not400),
    ("longreq", Not400, Not400),
    ("dblreq", Not400, Not400),
    ("semiuri", Not400, Not400),
    ("transports", Not400, Not400),
    ("mpart01", Not400, Not400),
    (
        "unreason",
        NoResponse { valid: true },
        NoResponse { valid: true },
    ),
    (
        "noreason",
        NoResponse { valid: true },
        NoResponse { valid: true },
    ),
    // §3.1.2 invalid messages
    ("badinv01", Status(&[400]), Status(&[400])),
    ("clerr", Status(&[400]), NeverCompletes),
    ("ncl", Status(&[400]), Status400OrClosed),
    ("scalar02", Status(&[400]), Status(&[400])),
    (
        "scalarlg",
        NoResponse { valid: false },
        NoResponse { valid: false },
    ),
    ("quotbal", AnyAnswer, AnyAnswer),
    ("ltgtruri", AnyAnswer, AnyAnswer),
    ("lwsruri", AnyAnswer, AnyAnswer),
    ("lwsstart", AnyAnswer, AnyAnswer),
    ("trws", AnyAnswer, AnyAnswer),
    ("escruri", AnyAnswer, AnyAnswer),
    ("baddate", AnyAnswer, AnyAnswer),
    ("regbadct", AnyAnswer, AnyAnswer),
    ("badaspec", AnyAnswer, AnyAnswer),
    ("baddn", AnyOrNone, AnyOrNone),
    ("badvers", Status(&[505]), Status(&[505])),
    ("mismatch01", Status(&[400]), Status(&[400])),
    ("mismatch02", Status(&[501, 400]), Status(&[501, 400])),
    (
        "bigcode",
        NoResponse { valid: false },
        NoResponse { valid: false },
    ),
    // §3.2 transaction layer
    ("badbranch", AnyAnswer, AnyAnswer),
    // §3.3 application layer
    ("insuf", Status(&[400]), Status(&[400])),
    ("unkscm", Status(&[416]), Status(&[416])),
    ("novelsc", Status(&[416, 404]), Status(&[416, 404])),
    ("unksm2", Class4xx, Class4xx),
    ("bext01", Status(&[420]), Status(&[420])),
    ("invut", Not400, Not400),
    ("regaut01", Not400, Not400),
    ("multi01", Status(&[400]), Status(&[400])),
    ("mcl01", Status(&[400]), Status400OrClosed),
    (
        "bcast",
        NoResponse { valid: true },
        NoResponse { valid: true },
    ),
    ("zeromf", Not400, Not400),
    ("cparam01", Not400, Not400),
    ("cparam02", Not400, Not400),
    ("regescrt", Not400, Not400),
    ("sdp01", Status(&[406, 400]), Status(&[406, 400])),
    // §3.4 backward compatibility
    ("inv2543", AnyAnswer, AnyOrNone),
    // the archive's extra file
    ("test", AnyOrNone, AnyOrNone),
];

fn load(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/rfc4475/{name}.dat", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn every_torture_message_gets_the_rfc_4475_verdict_over_udp_and_tcp() {
    let mut failures = Vec::new();
    for &(name, udp, tcp) in CASES {
        let bytes = load(name);
        let (u, t) = (over_udp(&bytes), over_tcp(&bytes));
        if !holds(udp, u) {
            failures.push(format!("{name} over UDP: expected {udp:?}, got {u:?}"));
        }
        if !holds(tcp, t) {
            failures.push(format!("{name} over TCP: expected {tcp:?}, got {t:?}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn the_table_covers_every_file_of_the_archive() {
    let dir = format!("{}/tests/rfc4475", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter_map(|f| f.strip_suffix(".dat").map(str::to_owned))
        .collect();
    files.sort();
    let mut listed: Vec<String> = CASES.iter().map(|c| c.0.to_owned()).collect();
    listed.sort();
    assert_eq!(files, listed);
    assert_eq!(files.len(), 50);
}

#[test]
fn valid_messages_read_as_the_rfc_describes() {
    let m = Message::parse_datagram(load("wsinv").into()).unwrap();
    assert_eq!(m.cseq().unwrap().seq, 9);
    assert_eq!(m.max_forwards(), Some(68));
    assert_eq!(m.to_tag(), Some("1918181833n"));
    assert_eq!(
        m.from().unwrap().display_name().unwrap(),
        "J Rosenberg \\\""
    );
    assert_eq!(m.top_via().unwrap().branch(), Some("390skdjuw"));

    let m = Message::parse_datagram(load("esc01").into()).unwrap();
    let uri = m.request_uri().unwrap().unwrap();
    assert_eq!(uri.user(), Some("sips%3Auser%40example.com"));
    assert_eq!(&*uri.user_decoded().unwrap(), b"sips:user@example.com");

    let m = Message::parse_datagram(load("esc02").into()).unwrap();
    assert_eq!(m.method().unwrap().as_str(), "RE%47IST%45R");
    // `C%6Fntact` is not Contact: only two Contact fields.
    assert_eq!(m.count(sip::HeaderName::Contact), 2);

    let m = Message::parse_datagram(load("longreq").into()).unwrap();
    assert_eq!(m.values(sip::HeaderName::Via).count(), 34);

    let m = Message::parse_datagram(load("dblreq").into()).unwrap();
    assert_eq!(m.method(), Some(&sip::Method::Register));
    assert!(m.body().is_empty());

    let m = Message::parse_datagram(load("mpart01").into()).unwrap();
    assert_eq!(m.body().len(), 553);

    let m = Message::parse_datagram(load("semiuri").into()).unwrap();
    let uri = m.request_uri().unwrap().unwrap();
    assert_eq!(uri.user(), Some("user;par=u%40example.net"));
    assert_eq!(uri.host(), "example.com");

    let m = Message::parse_datagram(load("unreason").into()).unwrap();
    assert_eq!(m.status(), Some(200));
    assert!(m.reason().unwrap().contains("сто девяносто девять"));
}

#[test]
fn dblreq_over_tcp_is_two_messages() {
    let bytes = load("dblreq");
    let Frame::Message(n) = next_frame(&bytes, 65_535) else {
        panic!("first frame");
    };
    let first = Message::parse(Bytes::copy_from_slice(&bytes[..n]), Framing::Stream).unwrap();
    assert_eq!(first.method(), Some(&sip::Method::Register));
    let rest = &bytes[n..];
    assert_eq!(next_frame(rest, 65_535), Frame::Skip(2));
    let Frame::Message(m) = next_frame(&rest[2..], 65_535) else {
        panic!("second frame");
    };
    let second = Message::parse(Bytes::copy_from_slice(&rest[2..2 + m]), Framing::Stream).unwrap();
    assert_eq!(second.method(), Some(&sip::Method::Invite));
}
