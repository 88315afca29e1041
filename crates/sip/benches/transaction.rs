//! Server transactions through the layer: a parsed request starts one, the
//! TU's final response completes it, the fake clock passing timer J (or L)
//! ends it. Every poll the switch would make is in the loop: the request
//! event, the transmit, the timeout, the Terminated event.
//!
//! `cargo bench -p sip --bench transaction`; parsing is not in the loop
//! (see the `parse` bench), and neither is building the response in the
//! `prebuilt` cases (the `tu_builds` case includes `build::response`).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use sip::transaction::{Config, Event, Received, Reliability, TransactionLayer};
use sip::{build, Message};

/// Transactions per measured batch.
const BATCH: usize = 1024;

fn request(method: &str, i: usize) -> Message {
    let text = format!(
        "{method} sip:02-6200-6200-082@callex.example.net SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-524287-1---{i:016x};rport\r\n\
         Max-Forwards: 70\r\n\
         Contact: <sip:212-555-0100-001@192.0.2.10:5060;transport=udp>\r\n\
         To: <sip:02-6200-6200-082@callex.example.net>\r\n\
         From: \"Alice\" <sip:212-555-0100-001@callex.example.net>;tag=1c61ea7a\r\n\
         Call-ID: 98asjd8ZTE3Y2Y0MzdiYjJhMDk4NzE2OTY4OGQ1{i:08x}\r\n\
         CSeq: 1 {method}\r\n\
         User-Agent: Z 5.4.12 v2.10.13.2\r\n\
         Content-Length: 0\r\n\r\n"
    );
    Message::parse_datagram(Bytes::from(text)).expect("bench requests parse")
}

struct Pool {
    requests: Vec<Message>,
    responses: Vec<Message>,
}

impl Pool {
    fn new(method: &str, status: u16) -> Pool {
        let requests: Vec<Message> = (0..BATCH).map(|i| request(method, i)).collect();
        let responses = requests
            .iter()
            .map(|r| build::response(r, status, "x").to_tag("as8d7f").build())
            .collect();
        Pool {
            requests,
            responses,
        }
    }
}

/// Creates, answers and ends `BATCH` server transactions; returns how many
/// ended. `respond` gives the TU's final response to a request.
fn run_batch(
    layer: &mut TransactionLayer,
    now: &mut Instant,
    requests: Vec<Message>,
    mut respond: impl FnMut(usize, &Message) -> Message,
) -> usize {
    let peer = SocketAddr::from(([192, 0, 2, 10], 5060));
    for (i, request) in requests.into_iter().enumerate() {
        let received = layer.handle_message(request, peer, Reliability::Unreliable, *now);
        let Received::Created(id) = received else {
            panic!("bench requests are new: {received:?}")
        };
        while let Some(transmit) = layer.poll_transmit() {
            black_box(transmit); // 100 Trying for an INVITE
        }
        let Some(Event::Request { request, .. }) = layer.poll_event() else {
            panic!("a new request reaches the TU")
        };
        let response = respond(i, &request);
        layer
            .send_response(id, response, *now)
            .expect("the transaction takes its final response");
        black_box(layer.poll_transmit());
    }
    *now += Duration::from_secs(33);
    while let Some(wake) = layer.poll_timeout() {
        if wake > *now {
            break;
        }
        layer.handle_timeout(wake);
    }
    let mut ended = 0;
    while let Some(event) = layer.poll_event() {
        ended += usize::from(matches!(event, Event::Terminated { .. }));
    }
    assert!(layer.is_empty());
    ended
}

fn server_transactions(c: &mut Criterion) {
    let mut group = c.benchmark_group("server_transaction");
    group.throughput(Throughput::Elements(BATCH as u64));

    for (name, method, status) in [
        ("non_invite_prebuilt_200", "OPTIONS", 200),
        ("invite_prebuilt_200_with_100_trying", "INVITE", 200),
    ] {
        let pool = Pool::new(method, status);
        let mut layer = TransactionLayer::new(Config::default());
        let mut now = Instant::now();
        group.bench_function(name, |b| {
            b.iter_batched(
                || (pool.requests.clone(), pool.responses.clone()),
                |(requests, responses)| {
                    let mut responses = responses.into_iter();
                    run_batch(&mut layer, &mut now, requests, |_, _| {
                        // One response per request, by construction.
                        responses.next().expect("a response per request")
                    })
                },
                BatchSize::SmallInput,
            )
        });
    }

    let pool = Pool::new("REGISTER", 200);
    let mut layer = TransactionLayer::new(Config::default());
    let mut now = Instant::now();
    group.bench_function("non_invite_tu_builds_200", |b| {
        b.iter_batched(
            || pool.requests.clone(),
            |requests| {
                run_batch(&mut layer, &mut now, requests, |_, request| {
                    build::response(request, 200, "OK").to_tag("as8d7f").build()
                })
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, server_transactions);
criterion_main!(benches);
