//! Parse a typical INVITE and extract what the transaction layer needs.
//!
//! `cargo bench -p sip --bench parse`; figures in bench/README.md.

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use sip::Message;

/// A softphone's INVITE with SDP, 800-odd bytes, as seen on the wire.
pub const INVITE: &[u8] = b"INVITE sip:02-6200-6200-082@callex.example.net SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-524287-1---7ad4b7e5c0cbb8e1;rport\r\n\
Max-Forwards: 70\r\n\
Contact: <sip:212-555-0100-001@192.0.2.10:5060;transport=udp>\r\n\
To: <sip:02-6200-6200-082@callex.example.net>\r\n\
From: \"Alice\" <sip:212-555-0100-001@callex.example.net>;tag=1c61ea7a\r\n\
Call-ID: 98asjd8ZTE3Y2Y0MzdiYjJhMDk4NzE2OTY4OGQ1OTE4\r\n\
CSeq: 1 INVITE\r\n\
Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, MESSAGE, OPTIONS, INFO, SUBSCRIBE\r\n\
Content-Type: application/sdp\r\n\
Supported: replaces, timer, outbound, path\r\n\
User-Agent: Z 5.4.12 v2.10.13.2\r\n\
Content-Length: 192\r\n\
\r\n\
v=0\r\n\
o=Z 0 1 IN IP4 192.0.2.10\r\n\
s=Z\r\n\
c=IN IP4 192.0.2.10\r\n\
t=0 0\r\n\
m=audio 8000 RTP/AVP 106 9 0 8 101\r\n\
a=rtpmap:106 opus/48000/2\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=sendrecv\r\n";

/// What a transaction layer reads from every message.
#[derive(Debug)]
pub struct TransactionKeys<'a> {
    pub method: &'a sip::Method,
    pub branch: &'a str,
    pub cseq: sip::CSeq<'a>,
    pub call_id: &'a str,
    pub sent_by: (&'a str, Option<u16>),
    pub from_tag: Option<&'a str>,
    pub to_tag: Option<&'a str>,
}

pub fn keys(msg: &Message) -> Option<TransactionKeys<'_>> {
    let via = msg.top_via()?;
    Some(TransactionKeys {
        method: msg.method()?,
        branch: via.branch()?,
        cseq: msg.cseq()?,
        call_id: msg.call_id()?,
        sent_by: via.sent_by(),
        from_tag: msg.from_tag(),
        to_tag: msg.to_tag(),
    })
}

fn parse(c: &mut Criterion) {
    assert!((780..=900).contains(&INVITE.len()), "{}", INVITE.len());
    let received = Bytes::from_static(INVITE);
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Elements(1));
    g.bench_function("invite_800B_transaction_keys", |b| {
        b.iter(|| {
            let msg = Message::parse_datagram(black_box(received.clone())).unwrap();
            let k = keys(&msg).unwrap();
            black_box((k.branch.len(), k.cseq.seq, k.from_tag, k.to_tag, k.sent_by));
        })
    });
    // The floor this machine sets: split the header section into lines with
    // memchr and nothing else (the reference: 5.2 M/s).
    g.bench_function("baseline_bare_memchr_header_splitter", |b| {
        b.iter(|| {
            let buf = black_box(&received[..]);
            let mut lines = 0u32;
            let mut start = 0;
            for nl in memchr::memchr_iter(b'\n', buf) {
                if nl == start + 1 {
                    break;
                }
                lines += 1;
                start = nl + 1;
            }
            black_box(lines)
        })
    });
    g.bench_function("invite_800B_parse_only", |b| {
        b.iter(|| black_box(Message::parse_datagram(black_box(received.clone())).unwrap()))
    });
    g.bench_function("invite_800B_validate", |b| {
        let policy = sip::validate::Policy::default();
        b.iter(|| {
            let msg = Message::parse_datagram(black_box(received.clone())).unwrap();
            black_box(sip::validate::validate_request(&msg, &policy).is_ok())
        })
    });
    g.bench_function("response_200_from_invite", |b| {
        let msg = Message::parse_datagram(received.clone()).unwrap();
        b.iter(|| {
            black_box(
                sip::build::response(black_box(&msg), 200, "OK")
                    .to_tag("8f2a6c41")
                    .build(),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
