//! The engine: the one task that owns the exchange's SIP state — the
//! transactions (`sip::transaction`), the registrar and the calls — and
//! drives it from the outside world.
//!
//! It wakes for: a message from a transport, the next transaction or call
//! timer, a store task finishing, journal records becoming durable, the
//! periodic purge of expired bindings, and the operator's stop. After each
//! it drains what the transaction layer has for the transaction users (new
//! requests, responses) and for the wire (`poll_transmit`), sending each
//! message by the [`Source`] it names — the layer's peer type — so
//! retransmitted requests are answered again without reaching the registrar
//! or the calls; then what the call controller asks for (store look-ups,
//! journal records, ACKs).
//!
//! The engine never awaits the database itself: the registrar's and the
//! calls' lookups run as tasks in a [`JoinSet`] the engine owns and come
//! back as inputs, and call records go to the journal's own writer.
//! Meanwhile transactions absorb retransmissions, and other requests go on.

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

use crate::call::{self, CallController, CallLookedUp, CallLookup, Clock};
use crate::credentials::{self, CredentialCache, Epoch};
use crate::dialplan::Answers;
use crate::frontend::{new_tag, Frontend, Triage, SERVER};
use crate::journal::{Journal, Ticket};
use crate::location::Locations;
use crate::registrar::{self, LookedUp, Lookup, Register, Registrar, Step, Write, Written};
use crate::registrations::{self, RegistrationWriter};
use crate::transport::{Inbound, Source, Transport};

/// What the service tells its engine.
#[derive(Debug)]
pub(crate) enum Control {
    /// Refuse new calls, let those in progress end within `grace`, end the
    /// rest, write every CDR, then stop and say so on `done`.
    Drain {
        grace: Duration,
        done: tokio::sync::oneshot::Sender<()>,
    },
}

/// How long after the grace period the engine waits for the last CDRs
/// and BYE answers before it stops anyway.
const DRAIN_FINISH: Duration = Duration::from_secs(10);

/// What a store task reports back.
enum Done {
    LookedUp {
        id: TransactionId,
        lookup: Lookup,
        epoch: Epoch,
        result: Result<LookedUp, StoreError>,
    },
    Purged(Result<u64, StoreError>),
    CallLookedUp {
        id: TransactionId,
        lookup: CallLookup,
        epoch: Epoch,
        result: Result<CallLookedUp, StoreError>,
    },
    DirectoryVersion(Result<i64, StoreError>),
}

/// A REGISTER waiting for a store task.
struct Pending {
    /// As stamped with its source (answers are built from it).
    request: Message,
    register: Register,
    source: Source,
    /// What is being written, once it is.
    write: Option<Write>,
}

/// What woke the engine.
enum Wake {
    Inbound(Inbound),
    TransportsGone,
    Done(Done),
    TaskFailed(tokio::task::JoinError),
    Timer,
    Purge,
    PollDirectory,
    Durable(Vec<Ticket>),
    Registered(Vec<(TransactionId, registrations::Outcome)>),
    Control(Control),
    DrainDeadline,
}

/// A stop in progress.
struct Draining {
    deadline: tokio::time::Instant,
    ended_all: bool,
    done: Option<tokio::sync::oneshot::Sender<()>>,
}

pub(crate) struct Engine {
    layer: TransactionLayer<Source>,
    frontend: Frontend,
    registrar: Registrar,
    calls: CallController,
    credentials: CredentialCache,
    /// A read of the directory version is under way.
    polling: bool,
    store: Store,
    realm: String,
    node: String,
    pending: HashMap<TransactionId, Pending>,
    work: JoinSet<Done>,
    registrations: Option<RegistrationWriter>,
}

impl Engine {
    pub(crate) fn new(
        layer_config: Config,
        registrar: Registrar,
        calls: CallController,
        store: Store,
        realm: &str,
        node: &str,
    ) -> Engine {
        Engine {
            layer: TransactionLayer::new(layer_config),
            frontend: Frontend::new(),
            registrar,
            calls,
            credentials: CredentialCache::default(),
            polling: false,
            store,
            realm: realm.to_owned(),
            node: node.to_owned(),
            pending: HashMap::new(),
            work: JoinSet::new(),
            registrations: None,
        }
    }

    /// Loads the bindings the store holds and closes the calls the last
    /// run of this node left open, then serves until every transport is
    /// gone or a drain ends.
    pub(crate) async fn run(
        mut self,
        mut inbound: mpsc::Receiver<Inbound>,
        mut control: mpsc::Receiver<Control>,
    ) {
        self.load_locations().await;
        self.recover_calls().await;
        let (journal, mut durable) = Journal::start(self.store.clone());
        let (writer, mut registered) = RegistrationWriter::start(self.store.clone());
        self.registrations = Some(writer);
        let mut journal = Some(journal);
        let mut purge = tokio::time::interval(self.registrar.config().purge_interval);
        purge.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate; the store was just read.
        purge.tick().await;
        let mut poll = tokio::time::interval(credentials::POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut draining: Option<Draining> = None;
        loop {
            let timer = earliest(self.layer.poll_timeout(), self.calls.poll_timeout());
            let drain_at = draining.as_ref().map(|d| {
                if d.ended_all {
                    d.deadline + DRAIN_FINISH
                } else {
                    d.deadline
                }
            });
            let wake = tokio::select! {
                received = inbound.recv() => received.map_or(Wake::TransportsGone, Wake::Inbound),
                Some(joined) = self.work.join_next(), if !self.work.is_empty() => match joined {
                    Ok(done) => Wake::Done(done),
                    Err(e) => Wake::TaskFailed(e),
                },
                Some(tickets) = durable.recv() => Wake::Durable(tickets),
                Some(outcomes) = registered.recv() => Wake::Registered(outcomes),
                Some(order) = control.recv() => Wake::Control(order),
                () = sleep_until(timer), if timer.is_some() => Wake::Timer,
                () = tokio::time::sleep_until(drain_at.unwrap_or_else(tokio::time::Instant::now)), if drain_at.is_some() => Wake::DrainDeadline,
                _ = purge.tick() => Wake::Purge,
                _ = poll.tick() => Wake::PollDirectory,
            };
            match wake {
                Wake::Inbound(first) => {
                    // Under load, messages wait in the queue: take a few at
                    // once rather than one per turn of the select.
                    self.on_inbound(first).await;
                    for _ in 1..INBOUND_BURST {
                        match inbound.try_recv() {
                            Ok(next) => self.on_inbound(next).await,
                            Err(_) => break,
                        }
                    }
                }
                Wake::TransportsGone => break,
                Wake::Done(done) => self.on_done(done),
                Wake::TaskFailed(e) => warn!(error = %e, "a store task failed"),
                Wake::Timer => {
                    let clock = clock();
                    self.layer.handle_timeout(clock.at);
                    self.calls.handle_timeout(&mut self.layer, clock);
                }
                Wake::Purge => self.purge(),
                Wake::PollDirectory => self.poll_directory(),
                Wake::Durable(tickets) => self.calls.durable(&mut self.layer, &tickets, clock()),
                Wake::Registered(outcomes) => {
                    for (id, outcome) in outcomes {
                        self.registered(id, outcome);
                    }
                }
                Wake::Control(Control::Drain { grace, done }) => {
                    info!(
                        calls = self.calls.len(),
                        ?grace,
                        "draining: new calls refused"
                    );
                    self.calls.drain();
                    draining = Some(Draining {
                        deadline: tokio::time::Instant::now() + grace,
                        ended_all: false,
                        done: Some(done),
                    });
                }
                Wake::DrainDeadline => match draining.as_mut() {
                    Some(d) if !d.ended_all => {
                        info!(
                            calls = self.calls.len(),
                            "grace period over: ending the calls left"
                        );
                        d.ended_all = true;
                        self.calls.end_all(&mut self.layer, clock());
                    }
                    _ => {
                        warn!(
                            calls = self.calls.len(),
                            "calls still open at stop: closed at next start"
                        );
                        break;
                    }
                },
            }
            self.drive(journal.as_ref()).await;
            if draining.is_some() && self.calls.is_idle() {
                break;
            }
        }
        // The writers end once everything queued is durable.
        self.registrations = None;
        drop(journal.take());
        while durable.recv().await.is_some() {}
        if let Some(done) = draining.and_then(|mut d| d.done.take()) {
            let _ = done.send(());
        }
    }

    /// Closes, as interrupted, the calls this node had open when it last
    /// stopped without ending them (killed, crashed).
    async fn recover_calls(&mut self) {
        match self
            .store
            .recover_interrupted(&self.node, now_millis())
            .await
        {
            Ok(cdrs) if cdrs.is_empty() => {}
            Ok(cdrs) => warn!(
                calls = cdrs.len(),
                "calls interrupted by the last stop closed with what was known"
            ),
            Err(e) => warn!(error = %e, "interrupted calls could not be closed"),
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

    async fn on_inbound(
        &mut self,
        Inbound {
            message,
            source,
            received_at,
        }: Inbound,
    ) {
        self.calls.saw_lag(received_at.elapsed());
        let reliability = match source.transport {
            Transport::Udp => Reliability::Unreliable,
            Transport::Tcp => Reliability::Reliable,
        };
        let received =
            self.layer
                .handle_message(message, source.clone(), reliability, Instant::now());
        match received {
            Received::Created(_) | Received::Matched(_) => {}
            // The ACK for a 2xx is a transaction of its own; a response
            // that matches nothing is dropped.
            Received::Unmatched(message) => {
                if message.method() == Some(&sip::Method::Ack) {
                    self.calls.ack(&message);
                } else {
                    let _ = self.frontend.triage(&message, source.remote);
                }
            }
            Received::Refused { message, reason } => {
                let answer = if reason == Refusal::TooManyTransactions {
                    overloaded(&message)
                } else {
                    // Unmatchable (no Via, CSeq or Call-ID): the front end
                    // says what is wrong, statelessly.
                    match self.frontend.triage(&message, source.remote) {
                        Triage::Answer(answer) => answer,
                        Triage::Absorb | Triage::Register(_) | Triage::Call(_) => return,
                    }
                };
                if let Err(e) = source.outbound().send(answer.bytes()).await {
                    debug!(%source, error = %e, "stateless answer not sent");
                }
            }
        }
    }

    /// Drains the layer: requests to the transaction users, messages to
    /// the wire, until neither has anything left; then what the calls ask
    /// for.
    async fn drive(&mut self, journal: Option<&Journal>) {
        loop {
            let mut idle = true;
            while let Some(event) = self.layer.poll_event() {
                idle = false;
                self.on_event(event);
            }
            for (id, lookup) in std::mem::take(&mut self.calls.out.lookups) {
                idle = false;
                self.look_up_call(id, lookup);
            }
            for (source, bytes) in std::mem::take(&mut self.calls.out.sends) {
                idle = false;
                if let Err(e) = source.outbound().send(bytes).await {
                    debug!(%source, error = %e, "send failed");
                }
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
                break;
            }
        }
        for (record, ticket) in std::mem::take(&mut self.calls.out.records) {
            match journal {
                Some(journal) => journal.write(record, ticket),
                None => warn!(?record, "call record after the journal closed"),
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
                    Triage::Call(request) => {
                        self.calls
                            .request(&mut self.layer, id, request, peer, clock());
                    }
                }
            }
            Event::Response { id, response } => {
                self.calls.response(&mut self.layer, id, response, clock());
            }
            Event::Ack { request, .. } => self.calls.ack(&request),
            Event::Terminated { id } => {
                self.pending.remove(&id);
                self.calls.terminated(id);
            }
            Event::TransportError { id } => {
                debug!(%id, "message could not be sent");
                self.calls.failed(&mut self.layer, id, 503, clock());
            }
            Event::Timeout { id, timer } => {
                debug!(%id, ?timer, "transaction timed out");
                if matches!(
                    timer,
                    sip::transaction::Timer::B | sip::transaction::Timer::F
                ) {
                    self.calls.failed(&mut self.layer, id, 408, clock());
                }
            }
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
                if let Some(looked_up) = self.cached_register_lookup(&lookup) {
                    let step = self.registrar.authenticated(
                        &request,
                        register,
                        looked_up,
                        &source,
                        now_millis(),
                    );
                    return self.advance(id, step, request, source);
                }
                let store = self.store.clone();
                let realm = self.realm.clone();
                let epoch = self.credentials.epoch();
                self.work.spawn(async move {
                    let result = registrar::look_up(&store, &realm, &lookup).await;
                    Done::LookedUp {
                        id,
                        lookup,
                        epoch,
                        result,
                    }
                });
                self.pending.insert(
                    id,
                    Pending {
                        request,
                        register,
                        source,
                        write: None,
                    },
                );
            }
            Step::Write(register, write) => {
                let Some(writer) = &self.registrations else {
                    return self.respond(id, overloaded(&request));
                };
                writer.write(id, write.clone());
                self.pending.insert(
                    id,
                    Pending {
                        request,
                        register,
                        source,
                        write: Some(write),
                    },
                );
            }
        }
    }

    fn on_done(&mut self, done: Done) {
        match done {
            Done::LookedUp {
                id,
                lookup,
                epoch,
                result,
            } => {
                if let Ok(looked_up) = &result {
                    self.credentials.remember(
                        epoch,
                        &lookup.username,
                        lookup.algorithm,
                        looked_up.ha1.clone(),
                        Some((&lookup.number, looked_up.number_held)),
                    );
                }
                let Some(Pending {
                    request,
                    register,
                    source,
                    ..
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
            Done::Purged(Ok(purged)) => {
                if purged > 0 {
                    debug!(purged, "expired bindings deleted");
                }
            }
            Done::Purged(Err(e)) => warn!(error = %e, "expired bindings not deleted"),
            Done::CallLookedUp {
                id,
                lookup,
                epoch,
                result,
            } => {
                if let Ok(looked_up) = &result {
                    self.credentials.remember(
                        epoch,
                        &lookup.username,
                        lookup.algorithm,
                        looked_up.ha1.clone(),
                        None,
                    );
                    if looked_up.ha1.is_some() {
                        self.credentials.remember_call(
                            epoch,
                            &lookup.username,
                            looked_up.region.as_deref(),
                            &looked_up.answers,
                        );
                    }
                }
                self.calls.looked_up(
                    &mut self.layer,
                    id,
                    result,
                    self.registrar.locations(),
                    clock(),
                )
            }
            Done::DirectoryVersion(result) => {
                self.polling = false;
                match result {
                    Ok(version) => self.credentials.saw_version(version),
                    Err(e) => {
                        warn!(error = %e, "directory version not read: cached credentials kept")
                    }
                }
            }
        }
    }

    fn respond(&mut self, id: TransactionId, answer: Message) {
        if let Err(e) = self.layer.send_response(id, answer, Instant::now()) {
            debug!(%id, error = %e, "answer not sent");
        }
    }

    /// A REGISTER's bindings are durable (or could not be written): the
    /// hot copy takes them and the phone hears about every current one.
    fn registered(&mut self, id: TransactionId, outcome: registrations::Outcome) {
        let Some(pending) = self.pending.remove(&id) else {
            return;
        };
        let now = now_millis();
        let written = match (outcome, &pending.write) {
            (Ok(true), Some(write)) => Ok(Written::Current(
                self.registrar.locations_mut().apply(write, now),
            )),
            (Ok(_), _) => Ok(Written::OutOfOrder),
            (Err(e), _) => Err(e),
        };
        let answer = self
            .registrar
            .written(&pending.request, &pending.register, written, now);
        self.respond(id, answer);
    }

    /// The caller's HA1 and the callee, from the cache when it knows them
    /// (answered at once), else from the store (answered as a `Done`).
    fn look_up_call(&mut self, id: TransactionId, lookup: CallLookup) {
        if let Some(looked_up) = self.cached_call_lookup(&lookup) {
            return self.calls.looked_up(
                &mut self.layer,
                id,
                Ok(looked_up),
                self.registrar.locations(),
                clock(),
            );
        }
        let store = self.store.clone();
        let realm = self.realm.clone();
        let plan = self.calls.dial_plan().clone();
        let epoch = self.credentials.epoch();
        self.work.spawn(async move {
            let result = call::look_up(&store, &realm, &plan, &lookup).await;
            Done::CallLookedUp {
                id,
                lookup,
                epoch,
                result,
            }
        });
    }

    /// A call's look-up answered from the cache, if it knows everything
    /// the look-up would read.
    fn cached_call_lookup(&self, lookup: &CallLookup) -> Option<CallLookedUp> {
        let ha1 = self.credentials.ha1(&lookup.username, lookup.algorithm)?;
        if ha1.is_none() {
            return Some(CallLookedUp::default());
        }
        let region = self.credentials.region(&lookup.username)?;
        let mut answers = Answers::default();
        if let Some(region) = region {
            let questions = self
                .calls
                .dial_plan()
                .questions(&lookup.request_uri, region);
            for number in questions.numbers {
                let is_held = self.credentials.held(&number)?;
                answers.held.insert(number, is_held);
            }
            for question in questions.claims {
                let number = self.credentials.claimed(&question)?;
                answers.claimed.insert(question, number);
            }
        }
        Some(CallLookedUp {
            ha1,
            region: region.map(str::to_owned),
            answers,
        })
    }

    fn cached_register_lookup(&self, lookup: &Lookup) -> Option<LookedUp> {
        Some(LookedUp {
            ha1: self.credentials.ha1(&lookup.username, lookup.algorithm)?,
            number_held: self.credentials.held(&lookup.number)?,
        })
    }

    fn poll_directory(&mut self) {
        if self.polling {
            return;
        }
        self.polling = true;
        let store = self.store.clone();
        self.work
            .spawn(async move { Done::DirectoryVersion(store.directory_version().await) });
    }

    fn purge(&mut self) {
        let now: UnixMillis = now_millis();
        self.registrar.locations_mut().purge_expired(now);
        let store = self.store.clone();
        self.work
            .spawn(async move { Done::Purged(store.purge_expired(now).await) });
    }
}

/// The time now, as the call controller reads it.
fn clock() -> Clock {
    Clock {
        at: Instant::now(),
        wall: now_millis(),
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
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

/// Messages handled in one turn of the engine's loop at most, so that
/// timers, store results and durable records still get their turn.
const INBOUND_BURST: usize = 32;

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
