//! The engine: the one task that owns the exchange's SIP state — the
//! server transactions (`sip::transaction`) and the registrar — and drives
//! it from the outside world.
//!
//! It wakes for four things: a message from a transport, the next
//! transaction timer (`poll_timeout`), a store task finishing, and the
//! periodic purge of expired bindings. After each it drains what the
//! transaction layer has for the transaction user (new requests) and for
//! the wire (`poll_transmit`), sending each message back by the [`Source`]
//! its request came from — the layer's peer type — so retransmitted
//! requests are answered again without reaching the registrar.
//!
//! The engine never awaits the database itself: the registrar's lookups
//! (HA1, number) and writes (bindings) run as tasks in a [`JoinSet`] the
//! engine owns, and come back as inputs. Meanwhile the request's server
//! transaction absorbs its retransmissions, and other requests go on.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sip::build;
use sip::transaction::{
    Config, Event, Received, Refusal, Reliability, TransactionId, TransactionLayer,
};
use sip::{HeaderName, Message};
use store::prelude::*;
use store::{now_millis, UnixMillis};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use crate::frontend::{new_tag, Frontend, Triage, SERVER};
use crate::location::Locations;
use crate::registrar::{self, LookedUp, Register, Registrar, Step, Written};
use crate::transport::{Inbound, Source, Transport};

/// What a store task reports back.
enum Done {
    LookedUp {
        id: TransactionId,
        result: Result<LookedUp, StoreError>,
    },
    Written {
        id: TransactionId,
        result: Result<Written, StoreError>,
    },
    Purged(Result<u64, StoreError>),
}

/// A REGISTER waiting for a store task.
struct Pending {
    /// As stamped with its source (answers are built from it).
    request: Message,
    register: Register,
    source: Source,
}

/// What woke the engine.
enum Wake {
    Inbound(Inbound),
    TransportsGone,
    Done(Done),
    TaskFailed(tokio::task::JoinError),
    Timer,
    Purge,
}

pub(crate) struct Engine {
    layer: TransactionLayer<Source>,
    frontend: Frontend,
    registrar: Registrar,
    store: Store,
    realm: String,
    pending: HashMap<TransactionId, Pending>,
    work: JoinSet<Done>,
}

impl Engine {
    pub(crate) fn new(registrar: Registrar, store: Store, realm: &str) -> Engine {
        Engine {
            layer: TransactionLayer::new(Config {
                // INVITE is answered at once (405 until calls land), so a
                // 100 Trying would only be one more datagram.
                send_100_trying: false,
                ..Config::default()
            }),
            frontend: Frontend::new(),
            registrar,
            store,
            realm: realm.to_owned(),
            pending: HashMap::new(),
            work: JoinSet::new(),
        }
    }

    /// Loads the bindings the store holds, then serves until every
    /// transport is gone.
    pub(crate) async fn run(mut self, mut inbound: mpsc::Receiver<Inbound>) {
        self.load_locations().await;
        let mut purge = tokio::time::interval(self.registrar.config().purge_interval);
        purge.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate; the store was just read.
        purge.tick().await;
        loop {
            let timer = self.layer.poll_timeout();
            let wake = tokio::select! {
                received = inbound.recv() => received.map_or(Wake::TransportsGone, Wake::Inbound),
                Some(joined) = self.work.join_next(), if !self.work.is_empty() => match joined {
                    Ok(done) => Wake::Done(done),
                    Err(e) => Wake::TaskFailed(e),
                },
                () = sleep_until(timer), if timer.is_some() => Wake::Timer,
                _ = purge.tick() => Wake::Purge,
            };
            match wake {
                Wake::Inbound(inbound) => self.on_inbound(inbound).await,
                Wake::TransportsGone => return,
                Wake::Done(done) => self.on_done(done),
                Wake::TaskFailed(e) => warn!(error = %e, "a registrar store task failed"),
                Wake::Timer => self.layer.handle_timeout(Instant::now()),
                Wake::Purge => self.purge(),
            }
            self.drive().await;
        }
    }

    async fn load_locations(&mut self) {
        match self.store.all_unexpired(now_millis()).await {
            Ok(bindings) => {
                let count = bindings.len();
                *self.registrar.locations_mut() = Locations::from_bindings(bindings);
                info!(
                    bindings = count,
                    aors = self.registrar.locations().len(),
                    "location service loaded"
                );
            }
            Err(e) => warn!(
                error = %e,
                "bindings could not be loaded: registrations made before this start are unknown \
                 until their phones register again"
            ),
        }
    }

    async fn on_inbound(&mut self, Inbound { message, source }: Inbound) {
        let reliability = match source.transport {
            Transport::Udp => Reliability::Unreliable,
            Transport::Tcp => Reliability::Reliable,
        };
        let received =
            self.layer
                .handle_message(message, source.clone(), reliability, Instant::now());
        match received {
            Received::Created(_) | Received::Matched(_) => {}
            // A stray ACK or response: nothing to answer.
            Received::Unmatched(message) => {
                let _ = self.frontend.triage(&message, source.remote);
            }
            Received::Refused { message, reason } => {
                let answer = if reason == Refusal::TooManyTransactions {
                    overloaded(&message)
                } else {
                    // Unmatchable (no Via, CSeq or Call-ID): the front end
                    // says what is wrong, statelessly.
                    match self.frontend.triage(&message, source.remote) {
                        Triage::Answer(answer) => answer,
                        Triage::Absorb | Triage::Register(_) => return,
                    }
                };
                if let Err(e) = source.outbound().send(answer.bytes()).await {
                    debug!(%source, error = %e, "stateless answer not sent");
                }
            }
        }
    }

    /// Drains the layer: requests to the transaction user, messages to the
    /// wire, until neither has anything left.
    async fn drive(&mut self) {
        loop {
            let mut idle = true;
            while let Some(event) = self.layer.poll_event() {
                idle = false;
                self.on_event(event);
            }
            while let Some(transmit) = self.layer.poll_transmit() {
                idle = false;
                if let Err(e) = transmit.peer.outbound().send(transmit.bytes).await {
                    debug!(source = %transmit.peer, error = %e, "send failed");
                    let _ = self
                        .layer
                        .handle_transport_error(transmit.id, Instant::now());
                }
            }
            if idle {
                return;
            }
        }
    }

    fn on_event(&mut self, event: Event<Source>) {
        match event {
            Event::Request { id, request, peer } => {
                match self.frontend.triage(&request, peer.remote) {
                    Triage::Answer(answer) => self.respond(id, answer),
                    Triage::Absorb => {
                        self.layer.terminate(id);
                    }
                    Triage::Register(request) => {
                        let step = self.registrar.receive(&request, now_millis());
                        self.advance(id, step, request, peer);
                    }
                }
            }
            Event::Terminated { id } => {
                self.pending.remove(&id);
            }
            Event::TransportError { id } => debug!(%id, "answer could not be sent"),
            Event::Timeout { id, timer } => debug!(%id, ?timer, "transaction timed out"),
            Event::Response { .. } | Event::Ack { .. } => {}
        }
    }

    /// Goes on with a REGISTER: answers it, or starts the store task its
    /// next step needs.
    fn advance(&mut self, id: TransactionId, step: Step, request: Message, source: Source) {
        if matches!(step, Step::Lookup(..) | Step::Write(..)) && self.pending.len() >= MAX_PENDING {
            // The store is behind: ask the phone to come back rather than
            // queue without bound.
            self.respond(id, overloaded(&request));
            return;
        }
        match step {
            Step::Answer(answer) => self.respond(id, answer),
            Step::Lookup(register, lookup) => {
                let store = self.store.clone();
                let realm = self.realm.clone();
                self.work.spawn(async move {
                    let result = registrar::look_up(&store, &realm, &lookup).await;
                    Done::LookedUp { id, result }
                });
                self.pending.insert(
                    id,
                    Pending {
                        request,
                        register,
                        source,
                    },
                );
            }
            Step::Write(register, write) => {
                let store = self.store.clone();
                self.work.spawn(async move {
                    let result = registrar::write(&store, &write, now_millis()).await;
                    Done::Written { id, result }
                });
                self.pending.insert(
                    id,
                    Pending {
                        request,
                        register,
                        source,
                    },
                );
            }
        }
    }

    fn on_done(&mut self, done: Done) {
        match done {
            Done::LookedUp { id, result } => {
                let Some(Pending {
                    request,
                    register,
                    source,
                }) = self.pending.remove(&id)
                else {
                    return;
                };
                let now = now_millis();
                let step = match result {
                    Ok(looked_up) => self
                        .registrar
                        .authenticated(&request, register, looked_up, &source, now),
                    Err(e) => {
                        warn!(aor = %register.aor.uri, error = %e, "credentials could not be read");
                        Step::Answer(registrar::RegisterError::StoreFailed.response(&request))
                    }
                };
                self.advance(id, step, request, source);
            }
            Done::Written { id, result } => {
                let Some(pending) = self.pending.remove(&id) else {
                    return;
                };
                let answer = self.registrar.written(
                    &pending.request,
                    &pending.register,
                    result,
                    now_millis(),
                );
                self.respond(id, answer);
            }
            Done::Purged(Ok(purged)) => {
                if purged > 0 {
                    debug!(purged, "expired bindings deleted");
                }
            }
            Done::Purged(Err(e)) => warn!(error = %e, "expired bindings not deleted"),
        }
    }

    fn respond(&mut self, id: TransactionId, answer: Message) {
        if let Err(e) = self.layer.send_response(id, answer, Instant::now()) {
            debug!(%id, error = %e, "answer not sent");
        }
    }

    fn purge(&mut self) {
        let now: UnixMillis = now_millis();
        self.registrar.locations_mut().purge_expired(now);
        let store = self.store.clone();
        self.work
            .spawn(async move { Done::Purged(store.purge_expired(now).await) });
    }
}

/// Sleeps until `at`; forever when there is no timer (the select arm is
/// disabled then anyway).
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
        None => tokio::time::sleep(Duration::from_secs(3600)).await,
    }
}

/// REGISTERs waiting on the store at most; more get 503 until it catches up.
const MAX_PENDING: usize = 4096;

/// `503 Service Unavailable` with `Retry-After`: the exchange is overloaded.
fn overloaded(request: &Message) -> Message {
    build::response(request, 503, "Service Unavailable")
        .to_tag(&new_tag())
        .header(HeaderName::RetryAfter, "5")
        .header(HeaderName::Server, SERVER)
        .build()
}
