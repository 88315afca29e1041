//! Shared by the `transaction_*` tests: a fake clock, a harness that drives
//! a layer through it and records what was sent and reported when, and
//! request templates.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip::build;
use sip::transaction::{
    Config, Event, Received, Reliability, TransactionId, TransactionLayer, Transmit,
};
use sip::Message;

pub const UDP: Reliability = Reliability::Unreliable;
pub const TCP: Reliability = Reliability::Reliable;

pub fn peer() -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 4], 5060))
}

pub fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// A layer on a fake clock: `base` is read once; every other instant is
/// `base` plus a duration the test chooses.
pub struct Harness {
    pub layer: TransactionLayer,
    pub base: Instant,
    pub now: Instant,
    /// Everything transmitted, with the time since `base`.
    pub sent: Vec<(Duration, Transmit<SocketAddr>)>,
    /// Every event, with the time since `base`.
    pub events: Vec<(Duration, Event<SocketAddr>)>,
}

impl Harness {
    pub fn new() -> Harness {
        Harness::with_config(Config::default())
    }

    pub fn with_config(config: Config) -> Harness {
        let base = Instant::now();
        Harness {
            layer: TransactionLayer::new(config),
            base,
            now: base,
            sent: Vec::new(),
            events: Vec::new(),
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.base
    }

    /// Moves the clock to `t` after `base`, running every timer on the way
    /// at its own deadline (as a real event loop woken by `poll_timeout`
    /// would).
    pub fn advance_to(&mut self, t: Duration) {
        let until = self.base + t;
        assert!(until >= self.now, "the clock only moves forward");
        while let Some(wake) = self.layer.poll_timeout() {
            if wake > until {
                break;
            }
            assert!(wake >= self.now, "a timer is due in the past");
            self.now = wake;
            self.layer.handle_timeout(wake);
            self.drain();
        }
        self.now = until;
    }

    /// Collects what the layer has to send and to tell.
    pub fn drain(&mut self) {
        let at = self.elapsed();
        while let Some(t) = self.layer.poll_transmit() {
            self.sent.push((at, t));
        }
        while let Some(e) = self.layer.poll_event() {
            self.events.push((at, e));
        }
    }

    pub fn receive(&mut self, msg: Message, reliability: Reliability) -> Received {
        let r = self
            .layer
            .handle_message(msg, peer(), reliability, self.now);
        self.drain();
        r
    }

    /// Receives a request that must start a server transaction.
    pub fn receive_new(&mut self, msg: Message, reliability: Reliability) -> TransactionId {
        match self.receive(msg, reliability) {
            Received::Created(id) => id,
            other => panic!("expected a new server transaction, got {other:?}"),
        }
    }

    pub fn send_request(&mut self, msg: Message, reliability: Reliability) -> TransactionId {
        let id = self
            .layer
            .send_request(msg, peer(), reliability, self.now)
            .expect("the layer takes the request");
        self.drain();
        id
    }

    pub fn respond(&mut self, id: TransactionId, response: Message) {
        self.layer
            .send_response(id, response, self.now)
            .expect("the transaction takes the response");
        self.drain();
    }

    /// Times (seconds since base) at which something was sent for `id`.
    pub fn send_times(&self, id: TransactionId) -> Vec<f64> {
        self.sent
            .iter()
            .filter(|(_, t)| t.id == id)
            .map(|(at, _)| at.as_secs_f64())
            .collect()
    }

    /// Start lines of what was sent for `id`, in order.
    pub fn sent_lines(&self, id: TransactionId) -> Vec<String> {
        self.sent
            .iter()
            .filter(|(_, t)| t.id == id)
            .map(|(_, t)| start_line(&t.bytes))
            .collect()
    }

    /// Events for `id` as short labels with their time, e.g.
    /// `(32.0, "timeout B")`.
    pub fn event_log(&self, id: TransactionId) -> Vec<(f64, String)> {
        self.events
            .iter()
            .filter(|(_, e)| e.id() == id)
            .map(|(at, e)| (at.as_secs_f64(), label(e)))
            .collect()
    }

    pub fn clear(&mut self) {
        self.sent.clear();
        self.events.clear();
    }
}

pub fn label(e: &Event<SocketAddr>) -> String {
    match e {
        Event::Request { request, .. } => format!("request {}", request.method().unwrap()),
        Event::Response { response, .. } => format!("response {}", response.status().unwrap()),
        Event::Ack { .. } => "ack".into(),
        Event::Timeout { timer, .. } => format!("timeout {timer:?}"),
        Event::TransportError { .. } => "transport error".into(),
        Event::Terminated { .. } => "terminated".into(),
    }
}

pub fn start_line(bytes: &Bytes) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.split("\r\n").next().unwrap_or_default().to_owned()
}

pub fn parse(bytes: &Bytes) -> Message {
    Message::parse_datagram(bytes.clone()).expect("the layer sends parseable messages")
}

/// A request template; every field can be changed to test matching.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: &'static str,
    pub uri: String,
    pub transport: &'static str,
    pub sent_by: String,
    /// `None`: no branch parameter at all.
    pub branch: Option<String>,
    pub from_tag: Option<String>,
    pub to_tag: Option<String>,
    pub call_id: String,
    pub cseq: u32,
    /// Defaults to `method`.
    pub cseq_method: Option<&'static str>,
}

impl Req {
    pub fn new(method: &'static str, branch: &str) -> Req {
        Req {
            method,
            uri: "sip:02-6200-6200-082@callex.example.net".into(),
            transport: "UDP",
            sent_by: "192.0.2.4:5060".into(),
            branch: Some(branch.into()),
            from_tag: Some("1928301774".into()),
            to_tag: None,
            call_id: "a84b4c76e66710@192.0.2.4".into(),
            cseq: 314159,
            cseq_method: None,
        }
    }

    pub fn invite(branch: &str) -> Req {
        Req::new("INVITE", branch)
    }

    pub fn text(&self) -> String {
        let branch = self
            .branch
            .as_ref()
            .map(|b| format!(";branch={b}"))
            .unwrap_or_default();
        let from_tag = self
            .from_tag
            .as_ref()
            .map(|t| format!(";tag={t}"))
            .unwrap_or_default();
        let to_tag = self
            .to_tag
            .as_ref()
            .map(|t| format!(";tag={t}"))
            .unwrap_or_default();
        format!(
            "{method} {uri} SIP/2.0\r\n\
             Via: SIP/2.0/{transport} {sent_by}{branch}\r\n\
             Max-Forwards: 70\r\n\
             From: \"Alice\" <sip:212-555-0100-001@callex.example.net>{from_tag}\r\n\
             To: <sip:02-6200-6200-082@callex.example.net>{to_tag}\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {cseq} {cseq_method}\r\n\
             Content-Length: 0\r\n\r\n",
            method = self.method,
            uri = self.uri,
            transport = self.transport,
            sent_by = self.sent_by,
            call_id = self.call_id,
            cseq = self.cseq,
            cseq_method = self.cseq_method.unwrap_or(self.method),
        )
    }

    pub fn msg(&self) -> Message {
        Message::parse_datagram(Bytes::from(self.text())).expect("the template parses")
    }
}

/// The response a peer sends back to `request`, as received off the wire.
pub fn response_to(request: &Message, status: u16, to_tag: &str) -> Message {
    let reason = build::default_reason(status);
    let built = if status == 100 {
        build::response(request, status, reason).build()
    } else {
        build::response(request, status, reason)
            .to_tag(to_tag)
            .build()
    };
    Message::parse_datagram(built.bytes()).expect("built responses parse")
}
