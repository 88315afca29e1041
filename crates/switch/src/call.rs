//! Calls between members: a back-to-back user agent (B2BUA).
//!
//! Each call is two dialogs. The caller's INVITE is answered by the
//! exchange (leg A); the exchange places a new INVITE to every registered
//! contact of the callee at once (the B branches, first 2xx wins, the others
//! are cancelled), and from then on relays what one leg says to the other:
//! provisional responses (180, 183 with SDP), the answer and its ACK,
//! re-INVITE, UPDATE and INFO with their bodies untouched, BYE from either
//! side, CANCEL before the answer. Nothing of one leg's own (Via, Contact,
//! Call-ID, tags, Record-Route) reaches the other; the callee sees the
//! caller's number in From and P-Asserted-Identity.
//!
//! The controller is a state machine over the sans-IO transaction layer:
//! it reads no clock and touches no socket or database. The engine feeds it
//! requests, responses, store results, durable journal tickets and the
//! time, and drains what it asks for: store look-ups, journal records and
//! stateless sends (ACKs for 2xx, 2xx retransmissions).
//!
//! Durability: a call's record is opened in the journal before the callee's
//! phone is rung, and the call's last word — the error or 487 to the
//! caller, the 200 to the BYE that ends it — is sent only once its CDR is
//! durable. So a call that anyone heard ringing has its record on disk, and
//! a call whose end a phone saw acknowledged has its CDR.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip::build::{self, MessageBuilder};
use sip::digest::{Algorithm, Authenticator, Credentials, Verdict};
use sip::transaction::TransactionLayer;
use sip::transaction::{Config as TransactionConfig, Reliability, Timer, TransactionId};
use sip::{HeaderName, Message, Method, NameAddr, Uri};
use store::prelude::*;
use store::{Answer, UnixMillis};
use tracing::{debug, info, warn};

use crate::dialplan::{self, DialPlan};
use crate::frontend::{new_tag, SERVER};
use crate::journal::{Record, Ticket};
use crate::location::Locations;
use crate::transport::{Flows, Source, Transport};

/// How calls are placed and how long they may take.
#[derive(Debug, Clone)]
pub struct CallConfig {
    /// How long a call may ring unanswered; then the caller gets 480 and
    /// the callee's phones a CANCEL.
    pub ring_timeout: Duration,
    /// Calls at once on this node, ringing or talking; more get 503.
    pub max_calls: usize,
    /// The host written in the exchange's Contact and Via headers, for an
    /// exchange behind NAT or with several addresses. By default the
    /// address the leg's packets leave from.
    pub advertise: Option<String>,
}

impl Default for CallConfig {
    fn default() -> CallConfig {
        CallConfig {
            ring_timeout: Duration::from_secs(60),
            max_calls: 100_000,
            advertise: None,
        }
    }
}

/// What the controller needs from the store before it can place a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallLookup {
    /// The digest username of the caller and the algorithm they used.
    pub username: String,
    pub algorithm: Algorithm,
    /// The Request-URI as received: what the caller dialled.
    pub request_uri: String,
}

/// The answer to a [`CallLookup`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CallLookedUp {
    pub ha1: Option<String>,
    /// The caller's country (their member record's): national numbers are
    /// relative to it.
    pub region: Option<String>,
    /// The store's answers to what the dial plan asked.
    pub answers: dialplan::Answers,
}

/// Reads what a [`CallLookup`] asks for: the caller's HA1, and only if
/// there is one, their country and the numbers the dial string may mean.
pub async fn look_up(
    store: &Store,
    realm: &str,
    plan: &DialPlan,
    lookup: &CallLookup,
) -> Result<CallLookedUp, StoreError> {
    let ha1 = store.ha1(&lookup.username, realm, lookup.algorithm).await?;
    if ha1.is_none() {
        return Ok(CallLookedUp::default());
    }
    let (region, answers) =
        dialplan::read_answers(store, plan, &lookup.username, &lookup.request_uri).await?;
    Ok(CallLookedUp {
        ha1,
        region,
        answers,
    })
}

/// The time, as the controller needs it: a monotonic instant for timers and
/// the wall clock for records.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub at: Instant,
    pub wall: UnixMillis,
}

type CallKey = u64;

/// Which record of a call a journal ticket is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Written {
    Opened = 0,
    Answered = 1,
    Closed = 2,
}

fn ticket(key: CallKey, written: Written) -> Ticket {
    key << 2 | written as u64
}

fn read_ticket(ticket: Ticket) -> (CallKey, Written) {
    let written = match ticket & 3 {
        0 => Written::Opened,
        1 => Written::Answered,
        _ => Written::Closed,
    };
    (ticket >> 2, written)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Side {
    A,
    B,
}

impl Side {
    fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
}

/// One side's dialog, as the exchange sees it.
#[derive(Debug)]
struct Leg {
    call_id: String,
    local_tag: String,
    /// Our end of the dialog (From on requests we send), with our tag.
    local: String,
    /// Their end (To on requests we send), with their tag once known.
    remote: String,
    /// Where requests within the dialog go (their Contact).
    target: String,
    /// Our Contact on this leg.
    contact: String,
    /// The host:port the peer knows us by (our Contact's and Via's).
    host: String,
    /// The CSeq of our last request on this leg.
    cseq: u32,
    peer: Source,
    /// They sent an INVITE whose 2xx we relayed: waiting for their ACK.
    pending_ack: Option<PendingAck>,
    /// The ACK we sent for the 2xx of our INVITE with this CSeq, sent again
    /// when that 2xx is.
    ack_sent: Option<(u32, Bytes)>,
    /// Our last INVITE on this leg, while its transaction may still pass
    /// 2xx retransmissions.
    invite_tx: Option<TransactionId>,
}

#[derive(Debug)]
struct PendingAck {
    /// Their INVITE's CSeq (the ACK carries it).
    cseq: u32,
    /// Our INVITE's CSeq on the other leg, to ACK its 2xx with.
    other_cseq: u32,
    /// The 2xx we sent them, retransmitted until the ACK (RFC 3261
    /// §13.3.1.4).
    ok: Bytes,
    interval: Duration,
    give_up_at: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BranchState {
    /// INVITE sent, nothing but 100 heard.
    Trying,
    /// A provisional response came: it can be cancelled.
    Ringing,
    /// Ended with this final response.
    Done(u16),
}

#[derive(Debug)]
struct Branch {
    tx: TransactionId,
    state: BranchState,
    leg: Leg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The call's record is being made durable.
    Opening,
    /// The callee's phones are ringing.
    Ringing,
    /// Answered: the 2xx went to the caller.
    Answered,
    /// Ended; waiting for the CDR to be durable.
    Ending,
}

/// A registered contact of the callee to ring.
#[derive(Debug)]
struct Target {
    contact: String,
    path: Vec<String>,
    peer: Source,
}

#[derive(Debug)]
struct Call {
    record: ActiveCall,
    phase: Phase,
    a: Leg,
    b: Option<Leg>,
    /// The caller's INVITE, until its final response.
    a_invite: Option<Box<Message>>,
    a_tx: TransactionId,
    targets: Vec<Target>,
    branches: Vec<Branch>,
    /// Answers to send once the CDR is durable.
    closing: Vec<(TransactionId, Message)>,
    /// The 2xx for the caller, held until the answer is durable.
    answer: Option<Message>,
}

impl Call {
    fn leg_mut(&mut self, side: Side) -> Option<&mut Leg> {
        match side {
            Side::A => Some(&mut self.a),
            Side::B => self.b.as_mut(),
        }
    }
}

/// A server transaction the controller answers.
#[derive(Debug)]
enum Server {
    /// The caller's INVITE.
    Initial(CallKey),
    /// A request relayed to the other leg as client transaction `client`.
    Relayed {
        call: CallKey,
        from: Side,
        client: TransactionId,
        request: Box<Message>,
    },
}

/// A client transaction the controller started.
#[derive(Debug, Clone, Copy)]
enum Client {
    Branch(CallKey),
    /// Relays server transaction `server` of `call`, sent to `to`.
    Relayed {
        call: CallKey,
        to: Side,
        server: TransactionId,
        invite: bool,
    },
    /// An INVITE no longer wanted that could not be cancelled yet (RFC
    /// 3261 §9.1: not before a provisional response): cancelled when one
    /// comes.
    CancelWhenRinging,
    /// BYE, CANCEL, a cancelled INVITE: nothing but a 2xx changes anything.
    Fire,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Wake {
    Ring,
    Retransmit(Side),
    /// A cancelled branch's INVITE transaction that never got its final
    /// response.
    Abandon(TransactionId),
}

/// An INVITE being authenticated.
#[derive(Debug)]
struct Authenticating {
    request: Message,
    source: Source,
}

/// What the engine must do for the controller.
#[derive(Debug, Default)]
pub(crate) struct Output {
    pub lookups: Vec<(TransactionId, CallLookup)>,
    pub records: Vec<(Record, Option<Ticket>)>,
    /// Sent outside any transaction.
    pub sends: Vec<(Source, Bytes)>,
}

/// The calls of one node.
pub(crate) struct CallController {
    realm: String,
    node: String,
    config: CallConfig,
    timers_config: TransactionConfig,
    authenticator: Authenticator,
    flows: Flows,
    dial_plan: DialPlan,
    /// Boxed: a table of calls inline would keep its empty slots at a
    /// call's full size.
    calls: HashMap<CallKey, Box<Call>>,
    next_key: CallKey,
    by_dialog: HashMap<(String, String), (CallKey, Side)>,
    by_server: HashMap<TransactionId, Server>,
    by_client: HashMap<TransactionId, Client>,
    authenticating: HashMap<TransactionId, Authenticating>,
    wakes: BinaryHeap<Reverse<(Instant, CallKey, Wake)>>,
    advertised: HashMap<IpAddr, IpAddr>,
    draining: bool,
    overloaded: bool,
    pub(crate) out: Output,
}

/// A message that waited this long in the engine's queue means the node
/// is behind: phones are retransmitting (T1 is 500 ms), and new calls are
/// refused until it has caught up.
const OVERLOADED: Duration = Duration::from_millis(500);
const RECOVERED: Duration = Duration::from_millis(50);

/// The status the caller gets when the call cannot be placed because the
/// callee has no phone registered, or none answered in time.
const UNAVAILABLE: u16 = 480;

impl CallController {
    pub(crate) fn new(
        realm: &str,
        node: &str,
        config: CallConfig,
        timers_config: TransactionConfig,
        authenticator: Authenticator,
        flows: Flows,
    ) -> CallController {
        // A Request-URI at the realm dials a number (so does one at an IP
        // address: phones often write the proxy's address there).
        let dial_plan = DialPlan::new(&[realm]);
        CallController {
            realm: realm.to_owned(),
            node: node.to_owned(),
            config,
            timers_config,
            authenticator,
            flows,
            dial_plan,
            calls: HashMap::new(),
            next_key: 1,
            by_dialog: HashMap::new(),
            by_server: HashMap::new(),
            by_client: HashMap::new(),
            authenticating: HashMap::new(),
            wakes: BinaryHeap::new(),
            advertised: HashMap::new(),
            draining: false,
            overloaded: false,
            out: Output::default(),
        }
    }

    pub(crate) fn dial_plan(&self) -> &DialPlan {
        &self.dial_plan
    }

    /// Calls in progress, ringing or talking or being closed.
    pub(crate) fn len(&self) -> usize {
        self.calls.len()
    }

    /// No call and no INVITE in progress.
    pub(crate) fn is_idle(&self) -> bool {
        self.calls.is_empty() && self.authenticating.is_empty()
    }

    /// From now on new calls are refused with 503; calls in progress go on.
    pub(crate) fn drain(&mut self) {
        self.draining = true;
    }

    /// How long the last message waited before the engine took it. Past
    /// [`OVERLOADED`], new calls are refused with 503 until the wait is back
    /// under [`RECOVERED`]: shedding new work keeps the calls in progress
    /// answered in time, where taking everything would let retransmissions
    /// pile up until nothing completes.
    pub(crate) fn saw_lag(&mut self, lag: Duration) {
        if lag > OVERLOADED {
            if !self.overloaded {
                warn!(
                    ?lag,
                    "overloaded: new calls refused with 503 until the exchange catches up"
                );
            }
            self.overloaded = true;
        } else if lag < RECOVERED && self.overloaded {
            info!(?lag, "caught up: new calls taken again");
            self.overloaded = false;
        }
    }

    // ------------------------------------------------------------ requests

    /// A validated request for the call controller: an INVITE, CANCEL, or a
    /// request within a dialog.
    pub(crate) fn request(
        &mut self,
        layer: &mut TransactionLayer<Source>,
        id: TransactionId,
        request: Message,
        source: Source,
        clock: Clock,
    ) {
        let method = request.method().cloned();
        if method == Some(Method::Cancel) {
            return self.cancel(layer, id, &request, clock);
        }
        match request.to_tag() {
            Some(tag) => {
                let key = (
                    request.call_id().unwrap_or_default().to_owned(),
                    tag.to_owned(),
                );
                match self.by_dialog.get(&key).copied() {
                    Some((call, side)) => {
                        self.in_dialog(layer, id, request, source, call, side, clock)
                    }
                    None => reply(layer, id, &request, 481, clock),
                }
            }
            None if method == Some(Method::Invite) => {
                self.invite(layer, id, request, source, clock)
            }
            // BYE, UPDATE, INFO outside a dialog.
            None => reply(layer, id, &request, 481, clock),
        }
    }

    /// A new call: challenge, or look up the caller's HA1 and the callee.
    fn invite(
        &mut self,
        layer: &mut TransactionLayer<Source>,
        id: TransactionId,
        request: Message,
        source: Source,
        clock: Clock,
    ) {
        if self.draining || self.overloaded || self.calls.len() >= self.config.max_calls {
            let busy = answer(&request, 503, "Service Unavailable")
                .header(HeaderName::RetryAfter, "30")
                .build();
            return respond(layer, id, busy, clock);
        }
        if request.max_forwards() == Some(0) {
            return reply(layer, id, &request, 483, clock);
        }
        let Some(credentials) = credentials_for(&request, &self.realm) else {
            let challenge = self.challenge(&request, clock, false);
            return respond(layer, id, challenge, clock);
        };
        let lookup = CallLookup {
            username: credentials.username.to_string(),
            algorithm: credentials.algorithm,
            request_uri: request.request_uri_str().unwrap_or_default().to_owned(),
        };
        respond(
            layer,
            id,
            build::response(&request, 100, "Trying").build(),
            clock,
        );
        self.out.lookups.push((id, lookup));
        self.authenticating
            .insert(id, Authenticating { request, source });
    }

    /// The store answered a [`CallLookup`]: authenticate, then place the
    /// call or refuse it.
    pub(crate) fn looked_up(
        &mut self,
        layer: &mut TransactionLayer<Source>,
        id: TransactionId,
        result: Result<CallLookedUp, StoreError>,
        locations: &Locations,
        clock: Clock,
    ) {
        // Gone if the caller cancelled meanwhile.
        let Some(Authenticating { request, source }) = self.authenticating.remove(&id) else {
            return;
        };
        let looked_up = match result {
            Ok(looked_up) => looked_up,
            Err(e) => {
                warn!(error = %e, "caller's credentials could not be read");
                return reply(layer, id, &request, 500, clock);
            }
        };
        let Some(credentials) = credentials_for(&request, &self.realm) else {
            return;
        };
        // Unlike the registrar, the digest uri is not held to the
        // Request-URI: the nonce count already refuses a replayed
        // Authorization, and common UAs (SIPp among them) write the
        // server's address there on INVITE.
        let verdict = self.authenticator.verify(
            &credentials,
            &self.realm,
            "INVITE",
            |_| looked_up.ha1.as_deref(),
            epoch(clock.wall),
        );
        match verdict {
            Ok(()) => {}
            Err(Verdict::Stale) => {
                let challenge = self.challenge(&request, clock, true);
                return respond(layer, id, challenge, clock);
            }
            Err(verdict) => {
                debug!(username = %credentials.username, %verdict, "INVITE not authenticated");
                let challenge = self.challenge(&request, clock, false);
                return respond(layer, id, challenge, clock);
            }
        }
        let caller = credentials.username.to_string();
        drop(credentials);
        let uri = request.request_uri_str().unwrap_or_default().to_owned();
        let region = looked_up.region.as_deref().unwrap_or_default();
        let decision = self.dial_plan.decide(&uri, region, &looked_up.answers);
        let callee_dialled = excerpt(Uri::parse(&uri).ok().and_then(|u| u.user()).unwrap_or(&uri));
        // The number to ring, or why there is none, as a reason phrase the
        // caller's phone can show.
        let (callee, refusal) = match &decision {
            Ok(decision) => match dialplan::callee_key(decision) {
                Some(key) => (Some(key), None),
                None => (
                    None,
                    Some((404, format!("No route to {}", decision.target))),
                ),
            },
            Err(e) => (None, Some((e.sip_status(), capitalised(&e.to_string())))),
        };
        // The call record says how the dial string was read (its callee
        // is in the record already), or why it was refused.
        let explained = match &decision {
            Ok(decision) => {
                debug!(%caller, dialled = %callee_dialled, %decision, "dial string classified");
                record_text(&decision.how().to_string(), store::limits::DECISION)
            }
            Err(e) => {
                debug!(%caller, dialled = %callee_dialled, error = %e, "dial string refused");
                record_text(&e.to_string(), store::limits::DECISION)
            }
        };
        let key = self.next_key;
        self.next_key += 1;
        let a = self.a_leg(&request, &source, callee.as_deref().unwrap_or("callex"));
        let record = ActiveCall {
            call_id: new_call_id(),
            node: self.node.clone(),
            a_leg_call_id: a.call_id.clone(),
            b_leg_call_id: None,
            caller: caller.clone(),
            callee_dialled,
            callee_presented: callee.clone(),
            decision: Some(explained),
            start_at: clock.wall,
            answer_at: None,
        };
        let targets = match &callee {
            Some(callee) => self.targets(locations, callee, clock.wall),
            None => Vec::new(),
        };
        self.by_dialog
            .insert((a.call_id.clone(), a.local_tag.clone()), (key, Side::A));
        self.by_server.insert(id, Server::Initial(key));
        let mut call = Box::new(Call {
            record,
            phase: Phase::Opening,
            a,
            b: None,
            a_invite: Some(Box::new(request)),
            a_tx: id,
            targets,
            branches: Vec::new(),
            closing: Vec::new(),
            answer: None,
        });
        if let Some((status, reason)) = refusal {
            self.calls.insert(key, call);
            return self.end_refused(layer, key, status, &reason, clock);
        }
        if call.targets.is_empty() {
            debug!(call = %call.record.call_id, callee = ?callee, "callee not registered");
            self.calls.insert(key, call);
            return self.end_unanswered(layer, key, UNAVAILABLE, Disposition::Failed, clock);
        }
        if let Err(e) = call.record.validate() {
            warn!(error = %e, "call refused");
            call.targets.clear();
            self.calls.insert(key, call);
            return self.end_unanswered(layer, key, 500, Disposition::Failed, clock);
        }
        self.out.records.push((
            Record::Open(call.record.clone()),
            Some(ticket(key, Written::Opened)),
        ));
        self.calls.insert(key, call);
    }

    /// The callee's registered contacts that a flow reaches.
    fn targets(&self, locations: &Locations, callee: &str, now: UnixMillis) -> Vec<Target> {
        let aor = format!("sip:{callee}@{}", self.realm);
        locations
            .current(&aor, now)
            .into_iter()
            .filter_map(|binding| {
                let Some((transport, remote)) = parse_received(&binding.received) else {
                    warn!(received = %binding.received, "binding with an unreadable source");
                    return None;
                };
                let Some(peer) = self.flows.to(transport, remote) else {
                    debug!(contact = %binding.contact, %remote, "no flow to the contact: connection closed");
                    return None;
                };
                let path = if binding.path.is_empty() {
                    Vec::new()
                } else {
                    sip::text::split_list(&binding.path)
                        .filter_map(Result::ok)
                        .map(str::to_owned)
                        .collect()
                };
                Some(Target {
                    contact: binding.contact.clone(),
                    path,
                    peer,
                })
            })
            .collect()
    }

    /// The caller's dialog, from their INVITE.
    fn a_leg(&mut self, invite: &Message, source: &Source, user: &str) -> Leg {
        let tag = new_tag();
        let host = self.host(source);
        let to = invite.header(HeaderName::To).unwrap_or_default();
        let target = invite
            .header(HeaderName::Contact)
            .and_then(|c| NameAddr::parse(c).ok())
            .map(|c| c.uri_str().to_owned())
            .unwrap_or_else(|| {
                invite
                    .from()
                    .map(|f| f.uri_str().to_owned())
                    .unwrap_or_default()
            });
        Leg {
            call_id: invite.call_id().unwrap_or_default().to_owned(),
            local: format!("{to};tag={tag}"),
            local_tag: tag,
            remote: invite
                .header(HeaderName::From)
                .unwrap_or_default()
                .to_owned(),
            target,
            contact: contact(user, &host, source.transport),
            host,
            cseq: 0,
            peer: source.clone(),
            pending_ack: None,
            ack_sent: None,
            invite_tx: None,
        }
    }

    /// The host and port the peer knows us by.
    fn host(&mut self, peer: &Source) -> String {
        let port = peer.local.port();
        if let Some(host) = &self.config.advertise {
            return match host.parse::<IpAddr>() {
                Ok(ip) => SocketAddr::new(ip, port).to_string(),
                Err(_) => format!("{host}:{port}"),
            };
        }
        let ip = if peer.local.ip().is_unspecified() {
            *self
                .advertised
                .entry(peer.remote.ip())
                .or_insert_with(|| route_to(peer.remote))
        } else {
            peer.local.ip()
        };
        SocketAddr::new(ip, port).to_string()
    }

    // ------------------------------------------------------------ durability

    /// The journal made these records durable.
    pub(crate) fn durable(
        &mut self,
        layer: &mut TransactionLayer<Source>,
        tickets: &[Ticket],
        clock: Clock,
    ) {
        for &ticket in tickets {
            match read_ticket(ticket) {
                (key, Written::Closed) => self.closed(layer, key, clock),
                (key, Written::Answered) => self.send_answer(layer, key, clock),
                (key, Written::Opened) => {
                    if self
                        .calls
                        .get(&key)
                        .is_some_and(|c| c.phase == Phase::Opening)
                    {
                        self.fork(layer, key, clock);
                    }
                }
            }
        }
    }

    /// The CDR is durable: the call's last answers go out, and it is gone.
    fn closed(&mut self, layer: &mut TransactionLayer<Source>, key: CallKey, clock: Clock) {
        let Some(call) = self.calls.remove(&key) else {
            return;
        };
        for (id, response) in call.closing {
            respond(layer, id, response, clock);
        }
        self.by_dialog.remove(&(call.a.call_id, call.a.local_tag));
        if let Some(b) = call.b {
            self.by_dialog.remove(&(b.call_id, b.local_tag));
        }
        self.by_server.remove(&call.a_tx);
    }

    // ------------------------------------------------------------ ringing

    /// Rings every target at once.
    fn fork(&mut self, layer: &mut TransactionLayer<Source>, key: CallKey, clock: Clock) {
        let Some(mut call) = self.calls.remove(&key) else {
            return;
        };
        let targets = std::mem::take(&mut call.targets);
        let Some(invite) = call.a_invite.take() else {
            self.calls.insert(key, call);
            return;
        };
        let display = invite
            .from()
            .and_then(|from| from.raw_display_name().map(str::to_owned));
        for target in targets {
            let leg = self.b_leg(&call, &target, display.as_deref());
            let request = self.b_invite(&invite, &call, &leg, &target);
            let reliability = target.peer.reliability();
            match layer.send_request(request, target.peer.clone(), reliability, clock.at) {
                Ok(tx) => {
                    self.by_client.insert(tx, Client::Branch(key));
                    call.branches.push(Branch {
                        tx,
                        state: BranchState::Trying,
                        leg,
                    });
                }
                Err(e) => {
                    warn!(error = %e, contact = %target.contact, "INVITE to the callee not sent")
                }
            }
        }
        call.a_invite = Some(invite);
        call.phase = Phase::Ringing;
        let none_rung = call.branches.is_empty();
        self.calls.insert(key, call);
        if none_rung {
            return self.end_unanswered(layer, key, UNAVAILABLE, Disposition::Failed, clock);
        }
        self.wakes.push(Reverse((
            clock.at + self.config.ring_timeout,
            key,
            Wake::Ring,
        )));
    }

    /// The callee's dialog with one contact, before it answers.
    fn b_leg(&mut self, call: &Call, target: &Target, display: Option<&str>) -> Leg {
        let tag = new_tag();
        let caller = &call.record.caller;
        let callee = call.record.callee_presented.as_deref().unwrap_or_default();
        let host = self.host(&target.peer);
        let from = match display {
            Some(display) => format!("{display} <sip:{caller}@{host}>;tag={tag}"),
            None => format!("<sip:{caller}@{host}>;tag={tag}"),
        };
        Leg {
            call_id: format!("{:032x}", rand::random::<u128>()),
            local: from,
            local_tag: tag,
            remote: format!("<sip:{callee}@{host}>"),
            target: target.contact.clone(),
            contact: contact(caller, &host, target.peer.transport),
            host,
            cseq: 1,
            peer: target.peer.clone(),
            pending_ack: None,
            ack_sent: None,
            invite_tx: None,
        }
    }

    /// The INVITE to one of the callee's contacts.
    fn b_invite(&self, invite: &Message, call: &Call, leg: &Leg, target: &Target) -> Message {
        let max_forwards = invite
            .max_forwards()
            .unwrap_or(70)
            .saturating_sub(1)
            .min(70);
        let host = &leg.host;
        let mut b = MessageBuilder::request(Method::Invite, &leg.target)
            .header(HeaderName::Via, &via(&leg.peer, host))
            .header(HeaderName::MaxForwards, &max_forwards.to_string());
        for hop in &target.path {
            b = b.header(HeaderName::Route, hop);
        }
        b = b
            .header(HeaderName::From, &leg.local)
            .header(HeaderName::To, &leg.remote)
            .header(HeaderName::CallId, &leg.call_id)
            .header(HeaderName::CSeq, &format!("{} INVITE", leg.cseq))
            .header(HeaderName::Contact, &leg.contact)
            .header(
                HeaderName::PAssertedIdentity,
                &format!("<sip:{}@{host}>", call.record.caller),
            );
        b = pass_request_headers(b, invite);
        with_body(b, invite).build()
    }

    // ------------------------------------------------------------ responses

    /// A response for one of the controller's client transactions.
    pub(crate) fn response(
        &mut self,
        layer: &mut TransactionLayer<Source>,
        id: TransactionId,
        response: Message,
        clock: Clock,
    ) {
        match self.by_client.get(&id).copied() {
            Some(Client::Branch(key)) => self.branch_response(layer, key, id, response, clock),
            Some(Client::Relayed {
                call, to, server, ..
            }) => self.relayed_response(layer, call, to, server, response, clock),
            Some(Client::CancelWhenRinging) => match response.status() {
                Some(101..=199) => self.cancel_branch(layer, id, clock),
                Some(200..=299) => self.refuse_2xx(layer, id, &response, clock),
                _ => {}
            },
            Some(Client::Fire) | None => {
                if is_invite_2xx(&response) {
                    self.refuse_2xx(layer, id, &response, clock);
                }
            }
        }
    }

    fn branch_response(
        &mut self,
        layer: &mut TransactionLayer<Source>,
        key: CallKey,
        tx: TransactionId,
        response: Message,
        clock: Clock,
    ) {
        let status = response.status().unwrap_or(500);
        let Some(call) = self.calls.get_mut(&key) else {
            if is_invite_2xx(&response) {
                self.refuse_2xx(layer, tx, &response, clock);
            }
            return;
        };
        let Some(index) = call.branches.iter().position(|b| b.tx == tx) else {
            if status / 100 == 2 {
                let same_dialog = call.b.as_ref().is_some_and(|b| {
                    response.to_tag().is_some_and(|tag| b.remote.contains(tag))
                        && response.call_id() == Some(b.call_id.as_str())
                });
                if same_dialog {
                    // The winner's 2xx again, after its branch became leg B.
                    self.retransmitted_2xx(key, Side::B, &response);
                } else {
                    // Another dialog of the same INVITE (forked further on).
                    self.refuse_2xx(layer, tx, &response, clock);
                }
            }
            return;
        };
        match status {
            100 => {}
            101..=199 => {
                let branch = &mut call.branches[index];
                if branch.state == BranchState::Trying {
                    branch.state = BranchState::Ringing;
                }
                if call.phase == Phase::Ringing
                    && call.branches[index].state == BranchState::Ringing
                {
                    self.relay_provisional(layer, key, &response, clock);
                }
            }
            200..=299 => {
                let wanted = call.phase == Phase::Ringing
                    && matches!(
                        call.branches[index].state,
                        BranchState::Trying | BranchState::Ringing
                    );
                if wanted {
                    self.answered(layer, key, index, response, clock);
                } else {
                    call.branches[index].state = BranchState::Done(status);
                    self.refuse_2xx(layer, tx, &response, clock);
                }
            }
            _ => {
                call.branches[index].state = BranchState::Done(status);
                self.branch_ended(layer, key, clock);
            }
        }
    }

    /// A branch ended without answering: when none is left, the caller
    /// hears the best of their answers.
    fn branch_ended(&mut self, layer: &mut TransactionLayer<Source>, key: CallKey, clock: Clock) {
        let Some(call) = self.calls.get(&key) else {
            return;
        };
        if call.phase != Phase::Ringing {
            return;
        }
        let mut statuses = Vec::with_capacity(call.branches.len());
        for branch in &call.branches {
            match branch.state {
                BranchState::Done(status) => statuses.push(status),
                BranchState::Trying | BranchState::Ringing => return,
            }
        }
        let status = caller_status(&statuses);
        let disposition = match status {
            486 | 600 => Disposition::Busy,
            408 | 480 => Disposition::NoAnswer,
            _ => Disposition::Failed,
        };
        self.end_unanswered(layer, key, status, disposition, clock);
    }

    /// 180/183 to the caller, with the callee's early media SDP.
    fn relay_provisional(
        &mut self,
        layer: &mut TransactionLayer<Source>,
        key: CallKey,
        response: &Message,
        clock: Clock,
    ) {
        let Some(call) = self.calls.get(&key) else {
            return;
        };
        let Some(invite) = call.a_invite.as_deref() else {
            return;
        };
        let status = response.status().unwrap_or(180);
        let b = build::response(invite, status, response.reason().unwrap_or_default())
            .to_tag(&call.a.local_tag)
            .header(HeaderName::Contact, &call.a.contact);
        let b = with_body(pass_response_headers(b, response), response);
        respond(layer, call.a_tx, b.build(), clock);
    }

    /// The first 2xx: its branch becomes leg B, the others are cancelled,
    /// and the caller gets the 2xx.
    fn answered(
        &mut self,
        layer: &mut TransactionLayer<Source>,
        key: CallKey,
        index: usize,
        response: Message,
        clock: Clock,
    ) {
        let Some(mut call) = self.calls.remove(&key) else {
            return;
        };
        let winner = call.branches.swap_remove(index);
        let mut leg = winner.leg;
        leg.invite_tx = Some(winner.tx);
        leg.remote = response
            .header(HeaderName::To)
            .unwrap_or_default()
            .to_owned();
        if let Some(target) = contact_uri(&response) {
            leg.target = target;
        }
        self.stop_ringing(layer, std::mem::take(&mut call.branches), clock);
        self.by_client.insert(winner.tx, Client::Branch(key));
        call.record.answer_at = Some(clock.wall.max(call.record.start_at));
        call.record.b_leg_call_id = Some(leg.call_id.clone());
        // The caller hears the answer once it is durable: a call cut by a
        // crash after that is recovered as answered, and billed.
        self.out.records.push((
            Record::Answer(Answer {
                call_id: call.record.call_id.clone(),
                answer_at: call.record.answer_at.unwrap_or(clock.wall),
                b_leg_call_id: Some(leg.call_id.clone()),
            }),
            Some(ticket(key, Written::Answered)),
        ));
        self.by_dialog
            .insert((leg.call_id.clone(), leg.local_tag.clone()), (key, Side::B));
        let invite = call.a_invite.take();
        call.b = Some(leg);
        call.phase = Phase::Answered;
        if let Some(invite) = invite {
            let status = response.status().unwrap_or(200);
            let b = build::response(&invite, status, response.reason().unwrap_or("OK"))
                .to_tag(&call.a.local_tag)
                .header(HeaderName::Contact, &call.a.contact);
            call.answer = Some(with_body(pass_response_headers(b, &response), &response).build());
        }
        self.calls.insert(key, call);
    }

    /// The answer is durable: the caller gets the 2xx, sent again until
    /// they ACK it.
    fn send_answer(&mut self, layer: &mut TransactionLayer<Source>, key: CallKey, clock: Clock) {
        let t1 = self.timers_config.t1();
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        let Some(ok) = call.answer.take() else {
            return;
        };
        let cseq = ok.cseq().map_or(0, |c| c.seq);
        if call.phase == Phase::Answered {
            let first = expect_ack(&mut call.a, cseq, 1, &ok, t1, clock.at);
            self.wakes
                .push(Reverse((first, key, Wake::Retransmit(Side::A))));
        }
        respond(layer, call.a_tx, ok, clock);
    }

    /// A 2xx that `side` sent again: the ACK already sent goes again, or
    /// the 2xx is relayed again while the other side has not ACKed it.
    fn retransmitted_2xx(&mut self, key: CallKey, side: Side, response: &Message) {
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        let cseq = response.cseq().map_or(0, |c| c.seq);
        let resend = {
            let Some(leg) = call.leg_mut(side) else {
                return;
            };
            match &leg.ack_sent {
                Some((acked, ack)) if *acked == cseq => Some((leg.peer.clone(), ack.clone())),
                _ => None,
            }
        };
        if let Some(send) = resend {
            self.out.sends.push(send);
            return;
        }
        if let Some(other) = call.leg_mut(side.other()) {
            if let Some(pending) = &other.pending_ack {
                if pending.other_cseq == cseq {
                    self.out
                        .sends
                        .push((other.peer.clone(), pending.ok.clone()));
                }
            }
        }
    }

    /// ACK and BYE for a 2xx nobody wants: a branch that lost the race, or
    /// answered after the caller gave up (RFC 3261 §13.2.2.4).
    fn refuse_2xx(
        &mut self,
        layer: &mut TransactionLayer<Source>,
        tx: TransactionId,
        response: &Message,
        clock: Clock,
    ) {
        let (Some(invite), Some(peer)) = (layer.request(tx).cloned(), layer.peer(tx).cloned())
        else {
            return;
        };
        let Some(target) = contact_uri(response) else {
            return;
        };
        let host = self.host(&peer);
        let dialog = Dialog {
            target: &target,
            local: invite.header(HeaderName::From).unwrap_or_default(),
            remote: response.header(HeaderName::To).unwrap_or_default(),
            call_id: invite.call_id().unwrap_or_default(),
        };
        let seq = invite.cseq().map_or(1, |c| c.seq);
        let ack = dialog.request(Method::Ack, seq, &via(&peer, &host)).build();
        self.out.sends.push((peer.clone(), ack.bytes()));
        let bye = dialog
            .request(Method::Bye, seq.saturating_add(1), &via(&peer, &host))
            .header(
                HeaderName::Reason,
                "SIP;cause=200;text=\"Call completed elsewhere\"",
            )
            .build();
        let reliability = peer.reliability();
        if let Ok(id) = layer.send_request(bye, peer, reliability, clock.at) {
            self.by_client.insert(id, Client::Fire);
        }
    }

    fn cancel_branch(
        &mut self,
        layer: &mut TransactionLayer<Source>,
        tx: TransactionId,
        clock: Clock,
    ) {
        let (Some(invite), Some(peer)) = (layer.request(tx), layer.peer(tx).cloned()) else {
            return;
        };
        let cancel = build::cancel(invite);
        let reliability = peer.reliability();
        if let Ok(id) = layer.send_request(cancel, peer, reliability, clock.at) {
            self.by_client.insert(id, Client::Fire);
        }
        // The INVITE's 487 ends it; one that never comes must not keep it.
        self.by_client.insert(tx, Client::Fire);
        let wait = self.timers_config.timer(Timer::B, Reliability::Unreliable);
        self.wakes
            .push(Reverse((clock.at + wait, 0, Wake::Abandon(tx))));
    }

    /// Cancels the branches still ringing (or about to).
    fn stop_ringing(
        &mut self,
        layer: &mut TransactionLayer<Source>,
        branches: Vec<Branch>,
        clock: Clock,
    ) {
        for branch in branches {
            match branch.state {
                BranchState::Ringing => self.cancel_branch(layer, branch.tx, clock),
                BranchState::Trying => self.cancel_when_ringing(branch.tx, clock),
                BranchState::Done(_) => {}
            }
        }
    }

    /// A branch that has not rung yet is cancelled once it does (timer B
    /// ends it if it never answers at all); a 2xx from it is refused.
    fn cancel_when_ringing(&mut self, tx: TransactionId, clock: Clock) {
        self.by_client.insert(tx, Client::CancelWhenRinging);
        let wait = self.timers_config.timer(Timer::B, Reliability::Unreliable);
        self.wakes
            .push(Reverse((clock.at + wait, 0, Wake::Abandon(tx))));
    }

    // ------------------------------------------------------------ ending

    /// Ends a call that was not answered: the branches are cancelled, the
    /// CDR written, and the caller hears `status` once it is durable.
    fn end_unanswered(
        &mut self,
        layer: &mut TransactionLayer<Source>,
        key: CallKey,
        status: u16,
        disposition: Disposition,
        clock: Clock,
    ) {
        let reason = build::default_reason(status);
        self.end_unanswered_because(layer, key, status, reason, disposition, clock)
    }

    /// A call the dial plan refused, with its reason.
    fn end_refused(
        &mut self,
        layer: &mut TransactionLayer<Source>,
        key: CallKey,
        status: u16,
        reason: &str,
        clock: Clock,
    ) {
        self.end_unanswered_because(layer, key, status, reason, Disposition::Failed, clock)
    }

    fn end_unanswered_because(
        &mut self,
        layer: &mut TransactionLayer<Source>,
        key: CallKey,
        status: u16,
        reason: &str,
        disposition: Disposition,
        clock: Clock,
    ) {
        let Some(mut call) = self.calls.remove(&key) else {
            return;
        };
        if matches!(call.phase, Phase::Answered | Phase::Ending) {
            self.calls.insert(key, call);
            return;
        }
        self.stop_ringing(layer, std::mem::take(&mut call.branches), clock);
        if let Some(invite) = call.a_invite.take() {
            let mut refusal = build::response(&invite, status, reason).to_tag(&call.a.local_tag);
            if status == 503 {
                refusal = refusal.header(HeaderName::RetryAfter, "30");
            }
            call.closing.push((
                call.a_tx,
                refusal.header(HeaderName::Server, SERVER).build(),
            ));
        }
        let sip_code = match disposition {
            Disposition::Cancelled => Some(487),
            _ => Some(status),
        };
        self.close(key, call, disposition, sip_code, clock);
    }

    /// Writes the call's CDR; the call waits in `Ending` for it.
    fn close(
        &mut self,
        key: CallKey,
        mut call: Box<Call>,
        disposition: Disposition,
        sip_code: Option<u16>,
        clock: Clock,
    ) {
        call.phase = Phase::Ending;
        call.a.pending_ack = None;
        if let Some(b) = call.b.as_mut() {
            b.pending_ack = None;
        }
        let end_at = clock
            .wall
            .max(call.record.answer_at.unwrap_or(call.record.start_at));
        let cdr = call.record.clone().into_cdr(end_at, disposition, sip_code);
        info!(
            call = %cdr.call_id,
            caller = %cdr.caller,
            callee = %cdr.callee_dialled,
            disposition = %cdr.disposition,
            duration_ms = cdr.duration_ms(),
            "call ended"
        );
        self.out
            .records
            .push((Record::Close(cdr), Some(ticket(key, Written::Closed))));
        self.calls.insert(key, call);
    }

    /// Ends an answered call from `side`'s BYE (or the exchange's decision):
    /// BYE to the other side(s), CDR written, then the 200 to the BYE.
    fn hang_up(
        &mut self,
        layer: &mut TransactionLayer<Source>,
        key: CallKey,
        from: Option<Side>,
        clock: Clock,
    ) {
        // The callee hung up before the caller heard the answer: the 2xx
        // goes first, so that the BYE has a dialog to end.
        if self.calls.get(&key).is_some_and(|c| c.answer.is_some()) {
            self.send_answer(layer, key, clock);
        }
        let Some(mut call) = self.calls.remove(&key) else {
            return;
        };
        for side in [Side::A, Side::B] {
            if Some(side) == from {
                continue;
            }
            if let Some(leg) = call.leg_mut(side) {
                leg.cseq = leg.cseq.wrapping_add(1);
                let bye = in_dialog_request(leg, Method::Bye, leg.cseq).build();
                let peer = leg.peer.clone();
                let reliability = peer.reliability();
                match layer.send_request(bye, peer, reliability, clock.at) {
                    Ok(id) => {
                        self.by_client.insert(id, Client::Fire);
                    }
                    Err(e) => debug!(error = %e, "BYE not sent"),
                }
            }
        }
        self.close(key, call, Disposition::Answered, Some(200), clock);
    }

    // ------------------------------------------------------------ in dialog

    #[allow(clippy::too_many_arguments)]
    fn in_dialog(
        &mut self,
        layer: &mut TransactionLayer<Source>,
        id: TransactionId,
        request: Message,
        source: Source,
        key: CallKey,
        side: Side,
        clock: Clock,
    ) {
        let Some(call) = self.calls.get_mut(&key) else {
            return reply(layer, id, &request, 481, clock);
        };
        let method = request.method().cloned().unwrap_or(Method::Ack);
        if call.phase == Phase::Ending {
            if method == Method::Bye {
                // Both hung up at once: this BYE is answered with the other.
                let ok = answer(&request, 200, "OK").build();
                call.closing.push((id, ok));
                return;
            }
            return reply(layer, id, &request, 481, clock);
        }
        if call.b.is_none() {
            // Early dialog: nothing is relayed before the answer.
            return reply(layer, id, &request, 491, clock);
        }
        if method == Method::Bye {
            let ok = answer(&request, 200, "OK").build();
            call.closing.push((id, ok));
            return self.hang_up(layer, key, Some(side), clock);
        }
        // A target refresh moves where this side is reached.
        if matches!(method, Method::Invite | Method::Update) {
            if let Some(target) = contact_uri(&request) {
                if let Some(leg) = call.leg_mut(side) {
                    leg.target = target;
                    leg.peer = source;
                }
            }
        }
        let Some(other) = call.leg_mut(side.other()) else {
            return;
        };
        other.cseq = other.cseq.wrapping_add(1);
        let mut b = in_dialog_request(other, method.clone(), other.cseq);
        if matches!(method, Method::Invite | Method::Update) {
            b = b.header(HeaderName::Contact, &other.contact);
        }
        let relayed = with_body(pass_request_headers(b, &request), &request).build();
        let peer = other.peer.clone();
        let reliability = peer.reliability();
        match layer.send_request(relayed, peer, reliability, clock.at) {
            Ok(client) => {
                if method == Method::Invite {
                    if let Some(leg) = self
                        .calls
                        .get_mut(&key)
                        .and_then(|c| c.leg_mut(side.other()))
                    {
                        leg.invite_tx = Some(client);
                    }
                }
                self.by_client.insert(
                    client,
                    Client::Relayed {
                        call: key,
                        to: side.other(),
                        server: id,
                        invite: method == Method::Invite,
                    },
                );
                self.by_server.insert(
                    id,
                    Server::Relayed {
                        call: key,
                        from: side,
                        client,
                        request: Box::new(request),
                    },
                );
            }
            Err(e) => {
                debug!(error = %e, "in-dialog request not relayed");
                reply(layer, id, &request, 500, clock);
            }
        }
    }

    fn relayed_response(
        &mut self,
        layer: &mut TransactionLayer<Source>,
        key: CallKey,
        to: Side,
        server: TransactionId,
        response: Message,
        clock: Clock,
    ) {
        let status = response.status().unwrap_or(500);
        if status == 100 {
            return;
        }
        let Some(Server::Relayed {
            call: owner,
            from,
            client,
            request,
        }) = self.by_server.remove(&server)
        else {
            // Answered already: a 2xx retransmission.
            if is_invite_2xx(&response) {
                self.retransmitted_2xx(key, to, &response);
            }
            return;
        };
        let t1 = self.timers_config.t1();
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        let method = request.method().cloned();
        let mut b = build::response(&request, status, response.reason().unwrap_or_default());
        let refreshes = matches!(method, Some(Method::Invite | Method::Update));
        if refreshes && status / 100 == 2 {
            if let (Some(target), Some(leg)) = (contact_uri(&response), call.leg_mut(to)) {
                leg.target = target;
            }
        }
        if refreshes && status < 300 {
            if let Some(leg) = call.leg_mut(from) {
                b = b.header(HeaderName::Contact, &leg.contact);
            }
        }
        let relayed = with_body(pass_response_headers(b, &response), &response).build();
        if method == Some(Method::Invite) && status / 100 == 2 {
            let cseq = request.cseq().map_or(0, |c| c.seq);
            let other_cseq = response.cseq().map_or(0, |c| c.seq);
            if let Some(leg) = call.leg_mut(from) {
                let first = expect_ack(leg, cseq, other_cseq, &relayed, t1, clock.at);
                self.wakes
                    .push(Reverse((first, key, Wake::Retransmit(from))));
            }
        }
        respond(layer, server, relayed, clock);
        if status < 200 {
            self.by_server.insert(
                server,
                Server::Relayed {
                    call: owner,
                    from,
                    client,
                    request,
                },
            );
        }
    }

    // ------------------------------------------------------------ ACK

    /// An ACK for a 2xx (a transaction of its own, RFC 3261 §13.2.2.4).
    pub(crate) fn ack(&mut self, ack: &Message) {
        let (Some(call_id), Some(tag)) = (ack.call_id(), ack.to_tag()) else {
            return;
        };
        let Some(&(key, side)) = self.by_dialog.get(&(call_id.to_owned(), tag.to_owned())) else {
            return;
        };
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        let cseq = ack.cseq().map_or(0, |c| c.seq);
        let pending = match call.leg_mut(side) {
            Some(leg) if leg.pending_ack.as_ref().is_some_and(|p| p.cseq == cseq) => {
                leg.pending_ack.take()
            }
            _ => return,
        };
        let Some(pending) = pending else {
            return;
        };
        let Some(other) = call.leg_mut(side.other()) else {
            return;
        };
        let relayed = in_dialog_request(other, Method::Ack, pending.other_cseq);
        let relayed = with_body(relayed, ack).build().bytes();
        other.ack_sent = Some((pending.other_cseq, relayed.clone()));
        self.out.sends.push((other.peer.clone(), relayed));
    }

    // ------------------------------------------------------------ CANCEL

    fn cancel(
        &mut self,
        layer: &mut TransactionLayer<Source>,
        id: TransactionId,
        cancel: &Message,
        clock: Clock,
    ) {
        let Some(invite_tx) = layer.find_cancelled(cancel) else {
            return reply(layer, id, cancel, 481, clock);
        };
        reply(layer, id, cancel, 200, clock);
        if let Some(Authenticating { request, .. }) = self.authenticating.remove(&invite_tx) {
            let terminated = answer(&request, 487, "Request Terminated").build();
            return respond(layer, invite_tx, terminated, clock);
        }
        match self.by_server.get(&invite_tx) {
            Some(Server::Initial(key)) => {
                let key = *key;
                self.end_unanswered(layer, key, 487, Disposition::Cancelled, clock);
            }
            Some(Server::Relayed { client, .. }) => {
                let client = *client;
                if let (Some(invite), Some(peer)) =
                    (layer.request(client), layer.peer(client).cloned())
                {
                    if invite.method() == Some(&Method::Invite) {
                        let cancel = build::cancel(invite);
                        let reliability = peer.reliability();
                        if let Ok(id) = layer.send_request(cancel, peer, reliability, clock.at) {
                            self.by_client.insert(id, Client::Fire);
                        }
                    }
                }
            }
            None => {}
        }
    }

    // ------------------------------------------------------------ failures

    /// A client transaction timed out (timer B or F) or could not be sent.
    pub(crate) fn failed(
        &mut self,
        layer: &mut TransactionLayer<Source>,
        id: TransactionId,
        status: u16,
        clock: Clock,
    ) {
        match self.by_client.get(&id).copied() {
            Some(Client::Branch(key)) => {
                if let Some(call) = self.calls.get_mut(&key) {
                    if let Some(branch) = call.branches.iter_mut().find(|b| b.tx == id) {
                        branch.state = BranchState::Done(status);
                        self.branch_ended(layer, key, clock);
                    }
                }
            }
            Some(Client::Relayed { server, .. }) => {
                if let Some(Server::Relayed { request, .. }) = self.by_server.remove(&server) {
                    let reason = build::default_reason(status);
                    respond(
                        layer,
                        server,
                        answer(&request, status, reason).build(),
                        clock,
                    );
                }
            }
            _ => {}
        }
    }

    /// A transaction ended: forget it.
    pub(crate) fn terminated(&mut self, id: TransactionId) {
        // Once an INVITE sent on a leg has ended, no 2xx of it comes any
        // more: the ACK kept to answer retransmissions can go.
        let acked_leg = match self.by_client.remove(&id) {
            Some(Client::Branch(key)) => Some((key, Side::B)),
            Some(Client::Relayed {
                call,
                to,
                invite: true,
                ..
            }) => Some((call, to)),
            _ => None,
        };
        if let Some((key, side)) = acked_leg {
            if let Some(leg) = self.calls.get_mut(&key).and_then(|c| c.leg_mut(side)) {
                if leg.invite_tx == Some(id) {
                    leg.ack_sent = None;
                }
            }
        }
        if let Some(Server::Relayed { .. }) = self.by_server.get(&id) {
            self.by_server.remove(&id);
        }
        self.authenticating.remove(&id);
    }

    // ------------------------------------------------------------ timers

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.wakes.peek().map(|Reverse((at, _, _))| *at)
    }

    pub(crate) fn handle_timeout(&mut self, layer: &mut TransactionLayer<Source>, clock: Clock) {
        while let Some(&Reverse((at, key, wake))) = self.wakes.peek() {
            if at > clock.at {
                break;
            }
            self.wakes.pop();
            match wake {
                Wake::Ring => {
                    if self
                        .calls
                        .get(&key)
                        .is_some_and(|c| c.phase == Phase::Ringing)
                    {
                        debug!(key, "ring timeout");
                        self.end_unanswered(layer, key, UNAVAILABLE, Disposition::NoAnswer, clock);
                    }
                }
                Wake::Abandon(tx) => {
                    if matches!(
                        self.by_client.get(&tx),
                        Some(Client::Fire | Client::CancelWhenRinging)
                    ) {
                        layer.terminate(tx);
                    }
                }
                Wake::Retransmit(side) => self.retransmit(layer, key, side, at, clock),
            }
        }
    }

    /// Sends a 2xx again while its ACK has not come; gives the call up
    /// after 64·T1 without one.
    fn retransmit(
        &mut self,
        layer: &mut TransactionLayer<Source>,
        key: CallKey,
        side: Side,
        at: Instant,
        clock: Clock,
    ) {
        let t2 = self.timers_config.t2();
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        if call.phase == Phase::Ending {
            return;
        }
        let call_id = call.record.call_id.clone();
        let Some(leg) = call.leg_mut(side) else {
            return;
        };
        let Some(pending) = leg.pending_ack.as_mut() else {
            return;
        };
        if at >= pending.give_up_at {
            warn!(call = %call_id, "no ACK for the answer: hanging up");
            leg.pending_ack = None;
            return self.hang_up(layer, key, None, clock);
        }
        self.out.sends.push((leg.peer.clone(), pending.ok.clone()));
        pending.interval = (pending.interval * 2).min(t2);
        let next = (at + pending.interval).min(pending.give_up_at);
        self.wakes
            .push(Reverse((next, key, Wake::Retransmit(side))));
    }

    /// Ends every call now: answered ones with BYE on both legs, the
    /// others with 503 to the caller and CANCEL to the callee.
    pub(crate) fn end_all(&mut self, layer: &mut TransactionLayer<Source>, clock: Clock) {
        let keys: Vec<CallKey> = self.calls.keys().copied().collect();
        for key in keys {
            match self.calls.get(&key).map(|c| c.phase) {
                Some(Phase::Answered) => self.hang_up(layer, key, None, clock),
                Some(Phase::Opening | Phase::Ringing) => {
                    self.end_unanswered(layer, key, 503, Disposition::Failed, clock)
                }
                _ => {}
            }
        }
        for (id, Authenticating { request, .. }) in std::mem::take(&mut self.authenticating) {
            let refusal = answer(&request, 503, "Service Unavailable").build();
            respond(layer, id, refusal, clock);
        }
    }

    fn challenge(&mut self, request: &Message, clock: Clock, stale: bool) -> Message {
        let mut b = answer(request, 407, "Proxy Authentication Required");
        for value in self
            .authenticator
            .challenge(&self.realm, epoch(clock.wall), stale)
        {
            b = b.header(HeaderName::ProxyAuthenticate, &value);
        }
        b.build()
    }
}

/// Our Contact on a leg, at `host` over `transport`.
fn contact(user: &str, host: &str, transport: Transport) -> String {
    match transport {
        Transport::Udp => format!("<sip:{user}@{host}>"),
        Transport::Tcp => format!("<sip:{user}@{host};transport=tcp>"),
    }
}

/// `leg` sent an INVITE (CSeq `cseq`) whose 2xx `ok` we relay: it is
/// retransmitted until their ACK, which is relayed as the ACK of our INVITE
/// `other_cseq` on the other leg. Returns when to retransmit first (or, over
/// a reliable transport, when to give up).
fn expect_ack(
    leg: &mut Leg,
    cseq: u32,
    other_cseq: u32,
    ok: &Message,
    t1: Duration,
    now: Instant,
) -> Instant {
    let give_up_at = now + 64 * t1;
    leg.pending_ack = Some(PendingAck {
        cseq,
        other_cseq,
        ok: ok.bytes(),
        interval: t1,
        give_up_at,
    });
    if leg.peer.transport == Transport::Udp {
        now + t1
    } else {
        give_up_at
    }
}

/// The start of a request within `leg`'s dialog with CSeq number `seq`.
fn in_dialog_request(leg: &Leg, method: Method, seq: u32) -> MessageBuilder {
    let dialog = Dialog {
        target: &leg.target,
        local: &leg.local,
        remote: &leg.remote,
        call_id: &leg.call_id,
    };
    dialog.request(method, seq, &via(&leg.peer, &leg.host))
}

/// What a request within a dialog is addressed with.
struct Dialog<'a> {
    target: &'a str,
    /// From, with our tag.
    local: &'a str,
    /// To, with theirs.
    remote: &'a str,
    call_id: &'a str,
}

impl Dialog<'_> {
    fn request(&self, method: Method, seq: u32, via: &str) -> MessageBuilder {
        let cseq = format!("{seq} {}", method.as_str());
        MessageBuilder::request(method, self.target)
            .header(HeaderName::Via, via)
            .header(HeaderName::MaxForwards, "70")
            .header(HeaderName::From, self.local)
            .header(HeaderName::To, self.remote)
            .header(HeaderName::CallId, self.call_id)
            .header(HeaderName::CSeq, &cseq)
    }
}

fn respond(
    layer: &mut TransactionLayer<Source>,
    id: TransactionId,
    response: Message,
    clock: Clock,
) {
    if let Err(e) = layer.send_response(id, response, clock.at) {
        debug!(%id, error = %e, "answer not sent");
    }
}

/// Answers `request` with `status` and its standard reason phrase.
fn reply(
    layer: &mut TransactionLayer<Source>,
    id: TransactionId,
    request: &Message,
    status: u16,
    clock: Clock,
) {
    let refusal = answer(request, status, build::default_reason(status)).build();
    respond(layer, id, refusal, clock);
}

/// A final response of the exchange's own.
fn answer(request: &Message, status: u16, reason: &str) -> MessageBuilder {
    build::response(request, status, reason)
        .to_tag(&new_tag())
        .header(HeaderName::Server, SERVER)
}

fn via(peer: &Source, host: &str) -> String {
    format!(
        "SIP/2.0/{} {host};branch=z9hG4bK{:016x};rport",
        peer.transport.as_str(),
        rand::random::<u64>()
    )
}

fn is_invite_2xx(response: &Message) -> bool {
    response.status().is_some_and(|s| (200..300).contains(&s))
        && response.cseq().is_some_and(|c| c.method == "INVITE")
}

fn contact_uri(msg: &Message) -> Option<String> {
    let value = msg.values(HeaderName::Contact).next()?.ok()?;
    let contact = NameAddr::parse(value).ok()?;
    Some(contact.uri_str().to_owned())
}

/// What the caller hears when every branch failed (after RFC 3261 §16.7):
/// a 6xx first, then busy, then the lowest class; what speaks of the
/// exchange's own path to the phone (timeouts, 503, redirections,
/// challenges) becomes 480.
fn caller_status(statuses: &[u16]) -> u16 {
    let pick = statuses
        .iter()
        .copied()
        .filter(|s| *s >= 600)
        .min()
        .or_else(|| statuses.iter().copied().find(|&s| s == 486))
        .or_else(|| {
            statuses
                .iter()
                .copied()
                .min_by_key(|s| (s / 100, *s == 408 || *s == 503, *s))
        })
        .unwrap_or(UNAVAILABLE);
    match pick {
        300..=399 | 401 | 407 | 408 | 503 => UNAVAILABLE,
        500..=599 => 500,
        _ => pick,
    }
}

/// Headers of a request that mean something to the other side and reveal
/// nothing of the leg they came on.
const PASSED_REQUEST_HEADERS: [HeaderName; 9] = [
    HeaderName::ContentDisposition,
    HeaderName::ContentEncoding,
    HeaderName::ContentLanguage,
    HeaderName::Accept,
    HeaderName::Allow,
    HeaderName::Subject,
    HeaderName::Priority,
    HeaderName::UserAgent,
    HeaderName::Event,
];

const PASSED_RESPONSE_HEADERS: [HeaderName; 8] = [
    HeaderName::ContentDisposition,
    HeaderName::ContentEncoding,
    HeaderName::ContentLanguage,
    HeaderName::Accept,
    HeaderName::Allow,
    HeaderName::Server,
    HeaderName::Warning,
    HeaderName::Unsupported,
];

/// Extension headers passed with INFO (RFC 6086 packages).
const PASSED_NAMED: [&str; 2] = ["Info-Package", "Recv-Info"];

/// Option tags the exchange does not relay: reliable provisionals and
/// session timers would need it to take part, and the rest describe one
/// leg's path.
const WITHHELD_OPTION_TAGS: [&str; 5] = ["100rel", "timer", "path", "gruu", "outbound"];

fn pass_request_headers(mut b: MessageBuilder, from: &Message) -> MessageBuilder {
    for name in PASSED_REQUEST_HEADERS {
        for value in from.headers(name) {
            b = b.header(name, value);
        }
    }
    for name in PASSED_NAMED {
        if let Some(value) = from.header_named(name) {
            b = b.header_named(name, value);
        }
    }
    pass_supported(b, from)
}

fn pass_response_headers(mut b: MessageBuilder, from: &Message) -> MessageBuilder {
    for name in PASSED_RESPONSE_HEADERS {
        for value in from.headers(name) {
            b = b.header(name, value);
        }
    }
    pass_supported(b, from)
}

fn pass_supported(b: MessageBuilder, from: &Message) -> MessageBuilder {
    let tags: Vec<&str> = from
        .values(HeaderName::Supported)
        .filter_map(Result::ok)
        .filter(|tag| {
            !WITHHELD_OPTION_TAGS
                .iter()
                .any(|w| w.eq_ignore_ascii_case(tag))
        })
        .collect();
    if tags.is_empty() {
        b
    } else {
        b.header(HeaderName::Supported, &tags.join(", "))
    }
}

/// The body of `from`, untouched, with its Content-Type.
fn with_body(b: MessageBuilder, from: &Message) -> MessageBuilder {
    let body = from.body();
    if body.is_empty() {
        return b;
    }
    let content_type = from
        .header(HeaderName::ContentType)
        .unwrap_or("application/octet-stream");
    b.body(content_type, Bytes::copy_from_slice(body))
}

/// The credentials of `req` for `realm`.
fn credentials_for<'m>(req: &'m Message, realm: &str) -> Option<Credentials<'m>> {
    req.headers(HeaderName::ProxyAuthorization)
        .filter_map(|value| Credentials::parse(value).ok())
        .find(|credentials| credentials.realm == realm)
}

/// `text` with its first letter upper-case, as a reason phrase reads.
fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// At most a CDR field's worth of `text`.
fn excerpt(text: &str) -> String {
    record_text(text, store::limits::PARTY)
}

/// `text` as a call record may keep it: no control characters, at most
/// `limit` characters.
fn record_text(text: &str, limit: usize) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .take(limit)
        .collect()
}

/// The exchange's own id of a call: unique across nodes and restarts.
fn new_call_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// `udp:192.0.2.1:5060` (how a binding records its flow) read back.
pub fn parse_received(received: &str) -> Option<(Transport, SocketAddr)> {
    let (transport, addr) = received.split_once(':')?;
    let transport = match transport {
        "udp" => Transport::Udp,
        "tcp" => Transport::Tcp,
        _ => return None,
    };
    Some((transport, addr.parse().ok()?))
}

/// The local address packets to `remote` leave from, for a socket bound
/// to the unspecified address.
fn route_to(remote: SocketAddr) -> IpAddr {
    let unspecified: SocketAddr = if remote.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    std::net::UdpSocket::bind(unspecified)
        .and_then(|socket| {
            socket.connect(remote)?;
            socket.local_addr()
        })
        .map(|local| local.ip())
        .unwrap_or(unspecified.ip())
}

fn epoch(now: UnixMillis) -> Duration {
    Duration::from_millis(u64::try_from(now).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_calls_are_refused_from_a_long_queue_wait_until_it_is_short_again() {
        let mut calls = CallController::new(
            "callex",
            "node",
            CallConfig::default(),
            TransactionConfig::default(),
            Authenticator::new(b"secret", Duration::from_secs(300)),
            Flows::default(),
        );
        calls.saw_lag(Duration::from_millis(10));
        assert!(!calls.overloaded);
        calls.saw_lag(Duration::from_millis(600));
        assert!(calls.overloaded, "a wait past T1 is overload");
        calls.saw_lag(Duration::from_millis(100));
        assert!(calls.overloaded, "not yet caught up");
        calls.saw_lag(Duration::from_millis(10));
        assert!(!calls.overloaded, "caught up");
    }

    #[test]
    fn the_caller_hears_busy_over_a_timeout_and_a_decline_over_both() {
        assert_eq!(caller_status(&[408, 486]), 486);
        assert_eq!(caller_status(&[486, 603]), 603);
        assert_eq!(caller_status(&[408]), 480);
        assert_eq!(caller_status(&[503]), 480);
        assert_eq!(caller_status(&[302]), 480);
        assert_eq!(caller_status(&[404, 408]), 404);
        assert_eq!(caller_status(&[500]), 500);
        assert_eq!(caller_status(&[]), 480);
    }

    #[test]
    fn a_binding_source_reads_back() {
        assert_eq!(
            parse_received("udp:192.0.2.1:5060"),
            Some((Transport::Udp, "192.0.2.1:5060".parse().unwrap()))
        );
        assert_eq!(
            parse_received("tcp:[2001:db8::1]:5070"),
            Some((Transport::Tcp, "[2001:db8::1]:5070".parse().unwrap()))
        );
        assert_eq!(parse_received("sctp:1.2.3.4:1"), None);
        assert_eq!(parse_received("udp:nonsense"), None);
    }
}
