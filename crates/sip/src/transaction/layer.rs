//! [`TransactionLayer`]: many transactions, the index that matches messages
//! to them, and one timer heap for all of them.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::message::{Message, Method};

use super::key::{self, Rule};
use super::{
    Config, Event, Kind, Output, Received, Refusal, Reliability, Rfc2543Tags, State, Transaction,
    TransactionError, TransactionId, Transmit,
};

/// End of a chain of transactions sharing a key hash.
pub(super) const NONE: u32 = u32::MAX;

/// The transactions of one SIP element, sans-IO (see the [module
/// docs](super)). `P` is whatever the caller needs to send to a peer (a
/// socket address, a connection handle): the layer only hands it back in
/// [`Transmit`] and [`Event::Request`].
///
/// Matching costs one hash of a key written from the message's borrowed
/// fields and one map probe; timers live in a binary heap whose stale
/// entries are skipped lazily, so [`poll_timeout`](Self::poll_timeout) is
/// O(1) amortised and every timer change O(log n). A transaction is removed
/// the moment it terminates; nothing is kept for messages that match nothing.
pub struct TransactionLayer<P = SocketAddr> {
    config: Config,
    slots: Vec<Slot<P>>,
    free: Vec<u32>,
    live: usize,
    /// Key hash → the first transaction with that hash; the others chain
    /// through `Transaction::next_same_hash`. The hash is already keyed
    /// (SipHash with per-layer random keys), so the map does not hash again.
    index: HashMap<u64, u32, BuildHasherDefault<Prehashed>>,
    hasher: RandomState,
    /// (deadline, slot, generation). An entry is live while its transaction
    /// exists and still wants waking at that deadline; the others are
    /// dropped when they reach the top.
    timers: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    out: Output<P>,
    /// Where keys are written for lookups, so that a lookup allocates nothing.
    scratch: Vec<u8>,
}

struct Slot<P> {
    generation: u32,
    tx: Option<Transaction<P>>,
}

impl<P: Clone> TransactionLayer<P> {
    pub fn new(config: Config) -> TransactionLayer<P> {
        TransactionLayer {
            config,
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
            index: HashMap::default(),
            hasher: RandomState::new(),
            timers: BinaryHeap::new(),
            out: Output {
                transmits: VecDeque::new(),
                events: VecDeque::new(),
            },
            scratch: Vec::with_capacity(128),
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Live transactions.
    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Input: a message that arrived from `peer` over a transport of the
    /// given reliability. Requests are matched to server transactions
    /// (§17.2.3) and start one when none matches (ACK excepted); responses
    /// are matched to client transactions (§17.1.3). What no transaction
    /// takes is handed back.
    pub fn handle_message(
        &mut self,
        message: Message,
        peer: P,
        reliability: Reliability,
        now: Instant,
    ) -> Received {
        if message.is_request() {
            self.handle_request(message, peer, reliability, now)
        } else {
            self.handle_response(message, now)
        }
    }

    fn handle_response(&mut self, response: Message, now: Instant) -> Received {
        let lookup = match (response.top_via(), response.cseq()) {
            (None, _) => Err(Refusal::NoVia),
            (_, None) => Err(Refusal::NoCSeq),
            (Some(via), Some(cseq)) => Ok(via.branch().and_then(|branch| {
                key::client_key(&mut self.scratch, branch, cseq.method);
                let hash = self.hasher.hash_one(&self.scratch[..]);
                self.find(hash, |tx| tx.kind.is_client())
            })),
        };
        match lookup {
            Err(reason) => Received::Refused {
                message: response,
                reason,
            },
            Ok(None) => Received::Unmatched(response),
            Ok(Some(index)) => {
                let id = self.step(index, |tx, id, config, out| {
                    tx.on_response(id, response, config, now, out);
                    id
                });
                // find() returned a live slot.
                id.map_or_else(|| unreachable_slot(index), Received::Matched)
            }
        }
    }

    fn handle_request(
        &mut self,
        request: Message,
        peer: P,
        reliability: Reliability,
        now: Instant,
    ) -> Received {
        let is_ack = matches!(request.method(), Some(Method::Ack));
        let is_invite = matches!(request.method(), Some(Method::Invite));
        // An ACK belongs to the INVITE it acknowledges.
        let method = match request.method() {
            Some(Method::Ack) => Method::Invite.as_str(),
            Some(method) => method.as_str(),
            None => "",
        };
        let lookup = match request.top_via() {
            None => Err(Refusal::NoVia),
            Some(via) => key::server_key(&mut self.scratch, &request, &via, method).map(|rule| {
                let hash = self.hasher.hash_one(&self.scratch[..]);
                let found = self.find(hash, |tx| {
                    !tx.kind.is_client() && rfc2543_tags_match(tx, rule, is_ack)
                });
                (hash, found, matches!(rule, Rule::Rfc2543 { .. }))
            }),
        };
        let (hash, found, rfc2543) = match lookup {
            Ok(found) => found,
            Err(reason) => {
                return Received::Refused {
                    message: request,
                    reason,
                }
            }
        };
        if let Some(index) = found {
            let id = self.step(index, |tx, id, config, out| {
                tx.on_request(id, request, is_ack, config, now, out);
                id
            });
            // find() returned a live slot.
            return id.map_or_else(|| unreachable_slot(index), Received::Matched);
        }
        if is_ack {
            return Received::Unmatched(request);
        }
        if self.live >= self.max_transactions() {
            return Received::Refused {
                message: request,
                reason: Refusal::TooManyTransactions,
            };
        }
        let kind = if is_invite {
            Kind::InviteServer
        } else {
            Kind::NonInviteServer
        };
        let mut tx = self.new_transaction(kind, peer.clone(), reliability, None);
        if rfc2543 {
            tx.rfc2543 = Some(Box::new(Rfc2543Tags {
                request: request.to_tag().map(|t| t.to_ascii_lowercase().into()),
                response: None,
            }));
        }
        let index = self.insert(tx, hash);
        let created = self.step(index, |tx, id, config, out| {
            tx.start_server(id, &request, config, out);
            out.events.push_back(Event::Request { id, request, peer });
            id
        });
        // insert() just filled the slot.
        created.map_or_else(|| unreachable_slot(index), Received::Created)
    }

    /// Input from the TU: send `request` to `peer` through a new client
    /// transaction (INVITE or non-INVITE by its method). Its top Via must
    /// carry an RFC 3261 branch (`z9hG4bK…`) unique among the layer's client
    /// transactions of that method; a CANCEL (built with
    /// [`build::cancel`](crate::build::cancel) from [`Self::request`]) shares
    /// its INVITE's branch and is a transaction of its own.
    pub fn send_request(
        &mut self,
        request: Message,
        peer: P,
        reliability: Reliability,
        now: Instant,
    ) -> Result<TransactionId, TransactionError> {
        let kind = match request.method() {
            None => return Err(TransactionError::NotARequest),
            Some(Method::Ack) => return Err(TransactionError::AckHasNoTransaction),
            Some(Method::Invite) => Kind::InviteClient,
            Some(_) => Kind::NonInviteClient,
        };
        let hash = match (request.method(), request.top_via()) {
            (Some(method), Some(via)) if via.has_rfc3261_branch() => {
                let branch = via.branch().unwrap_or_default();
                key::client_key(&mut self.scratch, branch, method.as_str());
                self.hasher.hash_one(&self.scratch[..])
            }
            _ => return Err(TransactionError::NoRfc3261Branch),
        };
        if self.find(hash, |tx| tx.kind.is_client()).is_some() {
            return Err(TransactionError::DuplicateBranch);
        }
        if self.live >= self.max_transactions() {
            return Err(TransactionError::TooManyTransactions);
        }
        let tx = self.new_transaction(kind, peer, reliability, Some(Box::new(request)));
        let index = self.insert(tx, hash);
        let id = self.step(index, |tx, id, config, out| {
            tx.start_client(id, config, now, out);
            id
        });
        // insert() just filled the slot.
        Ok(id.unwrap_or_else(|| unreachable_slot(index)))
    }

    /// Input from the TU: send `response` on server transaction `id`.
    /// Provisional responses may follow one another; the first final
    /// response completes the transaction; after a 2xx to an INVITE
    /// (Accepted) only 2xx retransmissions pass (RFC 6026).
    pub fn send_response(
        &mut self,
        id: TransactionId,
        response: Message,
        now: Instant,
    ) -> Result<(), TransactionError> {
        let index = self
            .index_of(id)
            .ok_or(TransactionError::UnknownTransaction(id))?;
        if self.kind(id).is_some_and(Kind::is_client) {
            return Err(TransactionError::NotAServerTransaction(id));
        }
        self.step(index, |tx, id, config, out| {
            tx.send_response(id, response, config, now, out)
        })
        .unwrap_or(Err(TransactionError::UnknownTransaction(id)))
    }

    /// Input: the time is `now`. Runs every timer due, in deadline order.
    /// Timers are run as of their deadlines, so a late call behaves like
    /// calls on time (retransmissions keep their spacing).
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&Reverse((at, index, generation))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            if !self.is_live_entry(at, index, generation) {
                continue;
            }
            self.step(index, |tx, id, config, out| {
                tx.wake = None;
                tx.on_timer(id, at, config, out);
            });
        }
    }

    /// Input: sending a [`Transmit`] of transaction `id` failed (ICMP
    /// unreachable, connection refused or reset). The TU is told and the
    /// transaction ends (§17.1.4, §17.2.4), unless it is Accepted.
    pub fn handle_transport_error(
        &mut self,
        id: TransactionId,
        _now: Instant,
    ) -> Result<(), TransactionError> {
        let index = self
            .index_of(id)
            .ok_or(TransactionError::UnknownTransaction(id))?;
        self.step(index, |tx, id, _, out| tx.on_transport_error(id, out));
        Ok(())
    }

    /// Input from the TU: end transaction `id` now, whatever its state —
    /// e.g. an INVITE client transaction whose CANCEL drew no final response
    /// within 64*T1 (§9.1). [`Event::Terminated`] follows. False if `id` is
    /// not live.
    pub fn terminate(&mut self, id: TransactionId) -> bool {
        match self.index_of(id) {
            Some(index) => {
                self.remove(index);
                true
            }
            None => false,
        }
    }

    /// Output: the next message to send, if any.
    pub fn poll_transmit(&mut self) -> Option<Transmit<P>> {
        self.out.transmits.pop_front()
    }

    /// Output: the next event for the TU, if any.
    pub fn poll_event(&mut self) -> Option<Event<P>> {
        self.out.events.pop_front()
    }

    /// Output: when to call [`handle_timeout`](Self::handle_timeout) next;
    /// `None` while no timer runs. Call it again after every input.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some(&Reverse((at, index, generation))) = self.timers.peek() {
            if self.is_live_entry(at, index, generation) {
                return Some(at);
            }
            self.timers.pop();
        }
        None
    }

    /// The INVITE server transaction a CANCEL refers to (§9.2): matched like
    /// a retransmission of that INVITE (§17.2.3 with the method INVITE, and
    /// for RFC 2543 peers the same To tag).
    pub fn find_cancelled(&mut self, cancel: &Message) -> Option<TransactionId> {
        let via = cancel.top_via()?;
        let rule =
            key::server_key(&mut self.scratch, cancel, &via, Method::Invite.as_str()).ok()?;
        let hash = self.hasher.hash_one(&self.scratch[..]);
        let index = self.find(hash, |tx| {
            tx.kind == Kind::InviteServer && rfc2543_tags_match(tx, rule, false)
        })?;
        self.id_at(index)
    }

    /// The state of transaction `id`; `None` once it has ended.
    pub fn state(&self, id: TransactionId) -> Option<State> {
        self.get(id).map(|tx| tx.state)
    }

    pub fn kind(&self, id: TransactionId) -> Option<Kind> {
        self.get(id).map(|tx| tx.kind)
    }

    /// The peer transaction `id` sends to.
    pub fn peer(&self, id: TransactionId) -> Option<&P> {
        self.get(id).map(|tx| &tx.peer)
    }

    /// The request a client transaction sent (to build its CANCEL from).
    pub fn request(&self, id: TransactionId) -> Option<&Message> {
        self.get(id).and_then(|tx| tx.request.as_deref())
    }

    fn max_transactions(&self) -> usize {
        // Slot indexes are u32 and NONE is reserved.
        self.config.max_transactions.min(NONE as usize - 1)
    }

    fn new_transaction(
        &self,
        kind: Kind,
        peer: P,
        reliability: Reliability,
        request: Option<Box<Message>>,
    ) -> Transaction<P> {
        Transaction {
            kind,
            state: State::Trying,
            reliable: reliability.is_reliable(),
            peer,
            request,
            last_sent: None,
            retransmit_at: None,
            interval: Duration::ZERO,
            timeout_at: None,
            linger_at: None,
            wake: None,
            key: Box::from(&self.scratch[..]),
            hash: 0,
            next_same_hash: NONE,
            rfc2543: None,
        }
    }

    fn get(&self, id: TransactionId) -> Option<&Transaction<P>> {
        self.slots
            .get(id.index as usize)
            .filter(|slot| slot.generation == id.generation)
            .and_then(|slot| slot.tx.as_ref())
    }

    fn index_of(&self, id: TransactionId) -> Option<u32> {
        self.get(id).map(|_| id.index)
    }

    fn id_at(&self, index: u32) -> Option<TransactionId> {
        let slot = self.slots.get(index as usize)?;
        slot.tx.as_ref().map(|_| TransactionId {
            index,
            generation: slot.generation,
        })
    }

    /// The transaction whose key equals the one in `scratch` (hashing to
    /// `hash`) and that `accept` takes.
    fn find(&self, hash: u64, accept: impl Fn(&Transaction<P>) -> bool) -> Option<u32> {
        let mut at = *self.index.get(&hash)?;
        while at != NONE {
            let tx = self.slots.get(at as usize)?.tx.as_ref()?;
            if *tx.key == self.scratch[..] && accept(tx) {
                return Some(at);
            }
            at = tx.next_same_hash;
        }
        None
    }

    fn insert(&mut self, mut tx: Transaction<P>, hash: u64) -> u32 {
        tx.hash = hash;
        tx.next_same_hash = self.index.get(&hash).copied().unwrap_or(NONE);
        let index = match self.free.pop() {
            Some(index) => {
                self.slots[index as usize].tx = Some(tx);
                index
            }
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    tx: Some(tx),
                });
                // max_transactions() keeps the slot count below NONE.
                (self.slots.len() - 1) as u32
            }
        };
        self.index.insert(hash, index);
        self.live += 1;
        index
    }

    /// Runs `f` on the transaction in slot `index`, then files what it
    /// changed: removes it if it terminated, or queues its next wake-up.
    fn step<R>(
        &mut self,
        index: u32,
        f: impl FnOnce(&mut Transaction<P>, TransactionId, &Config, &mut Output<P>) -> R,
    ) -> Option<R> {
        let slot = self.slots.get_mut(index as usize)?;
        let id = TransactionId {
            index,
            generation: slot.generation,
        };
        let tx = slot.tx.as_mut()?;
        let result = f(tx, id, &self.config, &mut self.out);
        if tx.state == State::Terminated {
            self.remove(index);
        } else {
            let next = tx.next_deadline();
            if next != tx.wake {
                tx.wake = next;
                if let Some(at) = next {
                    self.timers.push(Reverse((at, index, id.generation)));
                }
            }
        }
        Some(result)
    }

    fn is_live_entry(&self, at: Instant, index: u32, generation: u32) -> bool {
        self.slots
            .get(index as usize)
            .filter(|slot| slot.generation == generation)
            .and_then(|slot| slot.tx.as_ref())
            .is_some_and(|tx| tx.wake == Some(at))
    }

    /// Removes the transaction in slot `index` and tells the TU.
    fn remove(&mut self, index: u32) {
        let Some(slot) = self.slots.get_mut(index as usize) else {
            return;
        };
        let Some(tx) = slot.tx.take() else {
            return;
        };
        let id = TransactionId {
            index,
            generation: slot.generation,
        };
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(index);
        self.live -= 1;
        self.unlink(index, tx.hash, tx.next_same_hash);
        self.out.events.push_back(Event::Terminated { id });
    }

    fn unlink(&mut self, index: u32, hash: u64, next: u32) {
        let Some(head) = self.index.get_mut(&hash) else {
            return;
        };
        if *head == index {
            if next == NONE {
                self.index.remove(&hash);
            } else {
                *head = next;
            }
            return;
        }
        let mut at = *head;
        while let Some(tx) = self
            .slots
            .get_mut(at as usize)
            .and_then(|slot| slot.tx.as_mut())
        {
            if tx.next_same_hash == index {
                tx.next_same_hash = next;
                return;
            }
            at = tx.next_same_hash;
        }
    }
}

/// The RFC 2543 rule compares the To tag outside the key: a retransmission
/// (or a CANCEL's INVITE) carries the To tag of the request, an ACK the To
/// tag of the final response sent.
fn rfc2543_tags_match<P>(tx: &Transaction<P>, rule: Rule<'_>, is_ack: bool) -> bool {
    let Rule::Rfc2543 { to_tag } = rule else {
        return true;
    };
    let Some(tags) = &tx.rfc2543 else {
        return false;
    };
    let expected = if is_ack {
        &tags.response
    } else {
        &tags.request
    };
    key::same_tag(expected.as_deref(), to_tag)
}

#[cold]
fn unreachable_slot(index: u32) -> ! {
    unreachable!("transaction slot {index} was live a moment ago")
}

impl<P> fmt::Debug for TransactionLayer<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransactionLayer")
            .field("live", &self.live)
            .field("timers", &self.timers.len())
            .field("transmits", &self.out.transmits.len())
            .field("events", &self.out.events.len())
            .field("config", &self.config)
            .finish()
    }
}

/// A `Hasher` for keys that are already hashes.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed with this; fold anything else in anyway.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}
