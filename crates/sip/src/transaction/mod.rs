//! SIP transactions (RFC 3261 §17, with RFC 6026's Accepted state), sans-IO.
//!
//! A transaction is a request, its retransmissions and the responses to it;
//! this module runs the four state machines that make that exchange reliable
//! over UDP: INVITE client (Calling, Proceeding, Completed, Accepted), non-INVITE
//! client (Trying, Proceeding, Completed), INVITE server (Proceeding,
//! Completed, Confirmed, Accepted) and non-INVITE server (Trying, Proceeding,
//! Completed). [`TransactionLayer`] owns any number of them, matches each
//! received message to its transaction (§17.1.3, §17.2.3, with the RFC 2543
//! fallback), retransmits, absorbs retransmissions, builds the ACK for
//! non-2xx responses, and reports timeouts.
//!
//! It does no IO and reads no clock: the caller feeds it what arrived
//! ([`handle_message`](TransactionLayer::handle_message)), what the
//! transaction user (TU: the registrar, the call controller) wants sent
//! ([`send_request`](TransactionLayer::send_request),
//! [`send_response`](TransactionLayer::send_response)), what failed to send
//! ([`handle_transport_error`](TransactionLayer::handle_transport_error)) and
//! the time ([`handle_timeout`](TransactionLayer::handle_timeout)); it then
//! polls what to send ([`poll_transmit`](TransactionLayer::poll_transmit)),
//! when to wake it ([`poll_timeout`](TransactionLayer::poll_timeout)) and what
//! to tell the TU ([`poll_event`](TransactionLayer::poll_event)). Tests drive
//! it with a fake clock, faster than real time.
//!
//! It is not the dialog layer: the ACK for a 2xx and the retransmission of a
//! 2xx until that ACK arrives (§13.3.1.4) are the TU's, as are CANCEL
//! decisions and Timer C.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use bytes::Bytes;
//! use sip::transaction::{Config, Event, Received, Reliability, TransactionLayer};
//! use sip::{build, Message};
//!
//! // The peer type is the caller's: a socket address, a connection id…
//! let mut layer: TransactionLayer<&str> = TransactionLayer::new(Config::default());
//! let start = Instant::now(); // the caller's clock; the layer never reads one
//! let options = Message::parse_datagram(Bytes::from_static(
//!     b"OPTIONS sip:callex.example.net SIP/2.0\r\n\
//! Via: SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bK776sgdkse\r\n\
//! From: <sip:02-6200-6200-082@example.net>;tag=1928301774\r\n\
//! To: <sip:callex.example.net>\r\n\
//! Call-ID: a84b4c76e66710\r\n\
//! CSeq: 63104 OPTIONS\r\n\
//! Content-Length: 0\r\n\r\n",
//! ))
//! .unwrap();
//! let peer = "192.0.2.4:5060";
//!
//! // A new request starts a server transaction and reaches the TU as an event.
//! let received = layer.handle_message(options.clone(), peer, Reliability::Unreliable, start);
//! let Received::Created(id) = received else { panic!("{received:?}") };
//! let Some(Event::Request { request, .. }) = layer.poll_event() else { panic!() };
//!
//! // The TU answers through the transaction; the layer says what to send where.
//! let ok = build::response(&request, 200, "OK").to_tag("a1").build();
//! layer.send_response(id, ok, start).unwrap();
//! assert_eq!(layer.poll_transmit().unwrap().peer, peer);
//!
//! // A retransmitted request is absorbed: the 200 goes out again, the TU hears nothing.
//! let again = start + Duration::from_millis(500);
//! assert_eq!(layer.handle_message(options, peer, Reliability::Unreliable, again), Received::Matched(id));
//! assert!(layer.poll_transmit().unwrap().bytes.starts_with(b"SIP/2.0 200 OK"));
//! assert!(layer.poll_event().is_none());
//!
//! // Timer J (64*T1 over UDP) ends the transaction.
//! let wake = layer.poll_timeout().unwrap();
//! assert_eq!(wake, start + Duration::from_secs(32));
//! layer.handle_timeout(wake);
//! assert!(matches!(layer.poll_event(), Some(Event::Terminated { .. })));
//! assert!(layer.is_empty());
//! ```

mod client;
mod config;
mod key;
mod layer;
mod server;

use std::fmt;
use std::time::Instant;

use bytes::Bytes;

use crate::message::Message;

pub use config::{Config, Reliability, Timer};
pub use layer::TransactionLayer;

/// Names a transaction for as long as it lives. Ids are not reused while
/// the layer lives (a slot's generation changes when its transaction ends),
/// so an id kept past [`Event::Terminated`] simply matches nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransactionId {
    index: u32,
    generation: u32,
}

impl fmt::Display for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tx{}.{}", self.index, self.generation)
    }
}

/// Which of the four state machines a transaction runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    InviteClient,
    NonInviteClient,
    InviteServer,
    NonInviteServer,
}

impl Kind {
    pub fn is_client(self) -> bool {
        matches!(self, Kind::InviteClient | Kind::NonInviteClient)
    }
    pub fn is_invite(self) -> bool {
        matches!(self, Kind::InviteClient | Kind::InviteServer)
    }
}

/// The states of RFC 3261 Figures 5–8 and RFC 6026 Figures 5 and 7.
/// A transaction is removed the moment it is Terminated, so the layer never
/// reports that state; [`Event::Terminated`] says it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// INVITE client: request sent, nothing heard yet.
    Calling,
    /// Non-INVITE client: request sent, nothing heard yet. Non-INVITE server:
    /// request received, nothing sent yet.
    Trying,
    Proceeding,
    Completed,
    /// INVITE server: the ACK for a non-2xx final response arrived.
    Confirmed,
    /// RFC 6026: a 2xx was received (client) or sent (server).
    Accepted,
    Terminated,
}

/// Something to send: `bytes` to `peer` (what the caller gave with the
/// request or when it created the client transaction), on behalf of `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit<P> {
    pub id: TransactionId,
    pub peer: P,
    pub bytes: Bytes,
}

/// What transactions tell the TU.
#[derive(Debug, Clone)]
pub enum Event<P> {
    /// A request that started a new server transaction: answer it with
    /// [`TransactionLayer::send_response`]. `peer` is where it came from.
    Request {
        id: TransactionId,
        request: Message,
        peer: P,
    },
    /// A response for a client transaction: provisional or final, and in
    /// the Accepted state every further 2xx (retransmissions and 2xx from
    /// other branches of a forked INVITE), each of which the TU ACKs.
    Response {
        id: TransactionId,
        response: Message,
    },
    /// An ACK matched an INVITE server transaction in the Accepted state
    /// (RFC 6026: passed to the TU, not absorbed). With RFC 3261 peers the
    /// ACK for a 2xx has a branch of its own and arrives as
    /// [`Received::Unmatched`] instead.
    Ack { id: TransactionId, request: Message },
    /// Timer B, F or H fired: no (final) response, or no ACK. The
    /// transaction ends ([`Event::Terminated`] follows).
    Timeout { id: TransactionId, timer: Timer },
    /// The caller reported that sending for this transaction failed.
    /// The transaction ends, except in the Accepted state, which must live
    /// on to absorb retransmitted INVITEs (server) or to pass on further 2xx
    /// (client).
    TransportError { id: TransactionId },
    /// The transaction ended and was removed; its id matches nothing now.
    /// Every transaction ends with exactly one of these.
    Terminated { id: TransactionId },
}

impl<P> Event<P> {
    /// The transaction the event is about.
    pub fn id(&self) -> TransactionId {
        match self {
            Event::Request { id, .. }
            | Event::Response { id, .. }
            | Event::Ack { id, .. }
            | Event::Timeout { id, .. }
            | Event::TransportError { id }
            | Event::Terminated { id } => *id,
        }
    }
}

/// What [`TransactionLayer::handle_message`] did with a message.
#[derive(Debug, Clone)]
#[must_use = "an unmatched or refused message is handed back to be forwarded, answered or dropped"]
pub enum Received {
    /// An existing transaction took it: a retransmission absorbed (maybe
    /// answered again), a response or an ACK queued for the TU as an event.
    Matched(TransactionId),
    /// A new request started a server transaction; [`Event::Request`] is
    /// queued for the TU.
    Created(TransactionId),
    /// No transaction wants it and none is started for it: an ACK for a 2xx
    /// (the dialog's business, or forwarded by a proxy), or a stray response
    /// (forwarded statelessly by a proxy, dropped by a UA; RFC 6026 §7.2).
    Unmatched(Message),
    /// It cannot be matched, or the layer is full: dropped, or answered
    /// statelessly (503 for [`Refusal::TooManyTransactions`]) by the caller.
    Refused { message: Message, reason: Refusal },
}

impl PartialEq for Received {
    /// Messages compare by their bytes.
    fn eq(&self, other: &Received) -> bool {
        match (self, other) {
            (Received::Matched(a), Received::Matched(b)) => a == b,
            (Received::Created(a), Received::Created(b)) => a == b,
            (Received::Unmatched(a), Received::Unmatched(b)) => a.as_bytes() == b.as_bytes(),
            (
                Received::Refused {
                    message: a,
                    reason: r,
                },
                Received::Refused {
                    message: b,
                    reason: s,
                },
            ) => r == s && a.as_bytes() == b.as_bytes(),
            _ => false,
        }
    }
}

/// Why a received message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No top Via, or one that cannot be read.
    NoVia,
    /// No readable CSeq (needed to match a response, and by the RFC 2543 rule).
    NoCSeq,
    /// No Call-ID (needed by the RFC 2543 rule).
    NoCallId,
    /// [`Config::max_transactions`] are live.
    TooManyTransactions,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::NoVia => "the message has no readable top Via",
            Refusal::NoCSeq => "the message has no readable CSeq",
            Refusal::NoCallId => "the message has no Call-ID",
            Refusal::TooManyTransactions => "the transaction limit is reached",
        })
    }
}

/// Why the TU's request or response was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransactionError {
    /// The id names no live transaction (it ended, or never existed).
    UnknownTransaction(TransactionId),
    /// A client transaction was asked to send a response, or a server
    /// transaction was given something to send that is not a response.
    NotAServerTransaction(TransactionId),
    NotAResponse,
    NotARequest,
    /// ACK is not sent through a transaction: the ACK for a non-2xx is the
    /// client transaction's, the ACK for a 2xx goes straight to the transport.
    AckHasNoTransaction,
    /// The request's top Via is missing or its branch lacks the RFC 3261
    /// magic cookie (a client transaction must be identifiable by it).
    NoRfc3261Branch,
    /// A client transaction with this branch and method is live.
    DuplicateBranch,
    /// The response does not fit the transaction's state: a second final
    /// response, a provisional after a final, a non-2xx after a 2xx. RFC
    /// 3261 discards these; the TU hears why.
    ResponseNotAllowed {
        id: TransactionId,
        state: State,
        status: u16,
    },
    /// [`Config::max_transactions`] are live.
    TooManyTransactions,
}

impl fmt::Display for TransactionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransactionError::UnknownTransaction(id) => {
                write!(f, "transaction {id} does not exist (ended or never started)")
            }
            TransactionError::NotAServerTransaction(id) => {
                write!(f, "transaction {id} is a client transaction: it cannot send a response")
            }
            TransactionError::NotAResponse => f.write_str("the message is not a response"),
            TransactionError::NotARequest => f.write_str("the message is not a request"),
            TransactionError::AckHasNoTransaction => {
                f.write_str("ACK is sent without a client transaction")
            }
            TransactionError::NoRfc3261Branch => f.write_str(
                "the request's top Via has no branch starting with z9hG4bK to identify the transaction",
            ),
            TransactionError::DuplicateBranch => {
                f.write_str("a client transaction with this branch and method already exists")
            }
            TransactionError::ResponseNotAllowed { id, state, status } => write!(
                f,
                "transaction {id} is {state:?}: a {status} response is not sent in that state"
            ),
            TransactionError::TooManyTransactions => f.write_str("the transaction limit is reached"),
        }
    }
}

impl std::error::Error for TransactionError {}

/// One transaction: the state shared by the four machines. Client
/// transactions keep their request (to retransmit it, build the ACK, and
/// let the TU build a CANCEL); server transactions keep only the last
/// response they sent — the request went to the TU.
struct Transaction<P> {
    kind: Kind,
    state: State,
    reliable: bool,
    peer: P,
    /// Client: the request sent (boxed: server transactions, the many,
    /// stay small).
    request: Option<Box<Message>>,
    /// Server: the last response sent (re-sent to absorb retransmissions).
    /// INVITE client: the ACK sent for a non-2xx final response.
    last_sent: Option<Bytes>,
    /// Timer A, E or G: next retransmission, and the interval that led to it.
    retransmit_at: Option<Instant>,
    interval: std::time::Duration,
    /// Timer B, F or H.
    timeout_at: Option<Instant>,
    /// Timer D, I, J, K, L or M: the end of the wait for retransmissions.
    linger_at: Option<Instant>,
    /// The deadline of this transaction's live entry in the timer heap.
    wake: Option<Instant>,
    /// The matching key, its hash, and the next transaction with the same
    /// hash (index, or [`layer::NONE`]).
    key: Box<[u8]>,
    hash: u64,
    next_same_hash: u32,
    /// Server transactions matched by the RFC 2543 rule only.
    rfc2543: Option<Box<Rfc2543Tags>>,
}

/// The To tags the RFC 2543 rule compares outside the key, lower-cased.
#[derive(Debug, Default)]
struct Rfc2543Tags {
    /// The To tag of the request that created the transaction.
    request: Option<Box<str>>,
    /// The To tag of the final response sent (an ACK must carry it).
    response: Option<Box<str>>,
}

/// Where the machines put what they produce.
struct Output<P> {
    transmits: std::collections::VecDeque<Transmit<P>>,
    events: std::collections::VecDeque<Event<P>>,
}

impl<P: Clone> Transaction<P> {
    fn reliability(&self) -> Reliability {
        if self.reliable {
            Reliability::Reliable
        } else {
            Reliability::Unreliable
        }
    }

    fn send(&self, id: TransactionId, bytes: Bytes, out: &mut Output<P>) {
        out.transmits.push_back(Transmit {
            id,
            peer: self.peer.clone(),
            bytes,
        });
    }

    /// Starts the wait for retransmissions; a zero wait (reliable transport)
    /// ends the transaction at once.
    fn linger(&mut self, wait: std::time::Duration, now: Instant) {
        self.retransmit_at = None;
        self.timeout_at = None;
        if wait.is_zero() {
            self.state = State::Terminated;
        } else {
            self.linger_at = Some(now + wait);
        }
    }

    /// The earliest armed timer.
    fn next_deadline(&self) -> Option<Instant> {
        [self.retransmit_at, self.timeout_at, self.linger_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// Runs the timers due at `at` (the deadline that came up in the heap).
    /// A timeout or the end of a wait wins over a retransmission due at the
    /// same instant.
    fn on_timer(&mut self, id: TransactionId, at: Instant, config: &Config, out: &mut Output<P>) {
        if self.timeout_at.is_some_and(|t| t <= at) {
            let timer = match self.kind {
                Kind::InviteClient => Timer::B,
                Kind::NonInviteClient => Timer::F,
                Kind::InviteServer | Kind::NonInviteServer => Timer::H,
            };
            out.events.push_back(Event::Timeout { id, timer });
            self.state = State::Terminated;
            return;
        }
        if self.linger_at.is_some_and(|t| t <= at) {
            self.state = State::Terminated;
            return;
        }
        if let Some(due) = self.retransmit_at.filter(|t| *t <= at) {
            if self.kind.is_client() {
                self.retransmit_request(id, due, config, out);
            } else {
                self.retransmit_response(id, due, config, out);
            }
        }
    }

    fn on_transport_error(&mut self, id: TransactionId, out: &mut Output<P>) {
        out.events.push_back(Event::TransportError { id });
        if self.state != State::Accepted {
            self.state = State::Terminated;
        }
    }
}
