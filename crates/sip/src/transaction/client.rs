//! The client machines: INVITE (RFC 3261 §17.1.1, RFC 6026 §8.4) and
//! non-INVITE (§17.1.2).

use std::time::Instant;

use crate::build;
use crate::message::Message;

use super::{Config, Event, Kind, Output, State, Timer, Transaction, TransactionId};

impl<P: Clone> Transaction<P> {
    /// Sends the request and arms the retransmission timer (A or E,
    /// unreliable transports only) and the timeout (B or F).
    pub(super) fn start_client(
        &mut self,
        id: TransactionId,
        config: &Config,
        now: Instant,
        out: &mut Output<P>,
    ) {
        if let Some(request) = &self.request {
            self.send(id, request.bytes(), out);
        }
        let (first, retransmit, timeout) = match self.kind {
            Kind::InviteClient => (State::Calling, Timer::A, Timer::B),
            _ => (State::Trying, Timer::E, Timer::F),
        };
        self.state = first;
        let reliability = self.reliability();
        if !self.reliable {
            self.interval = config.timer(retransmit, reliability);
            self.retransmit_at = Some(now + self.interval);
        }
        self.timeout_at = Some(now + config.timer(timeout, reliability));
    }

    /// A response matched this client transaction.
    pub(super) fn on_response(
        &mut self,
        id: TransactionId,
        response: Message,
        config: &Config,
        now: Instant,
        out: &mut Output<P>,
    ) {
        let Some(status) = response.status() else {
            return;
        };
        let reliability = self.reliability();
        match (self.kind, self.state) {
            (Kind::InviteClient, State::Calling | State::Proceeding) => match status {
                100..=199 => {
                    // Provisional: retransmissions stop, and so does timer B
                    // (it only runs in Calling; Timer C is the TU's).
                    self.state = State::Proceeding;
                    self.retransmit_at = None;
                    self.timeout_at = None;
                    out.events.push_back(Event::Response { id, response });
                }
                200..=299 => {
                    self.state = State::Accepted;
                    out.events.push_back(Event::Response { id, response });
                    self.linger(config.timer(Timer::M, reliability), now);
                }
                _ => {
                    if let Some(invite) = &self.request {
                        let ack = build::ack_for_non_2xx(invite, &response).bytes();
                        self.send(id, ack.clone(), out);
                        self.last_sent = Some(ack);
                    }
                    self.state = State::Completed;
                    out.events.push_back(Event::Response { id, response });
                    self.linger(config.timer(Timer::D, reliability), now);
                }
            },
            // A retransmitted final response: its ACK was lost, send it again.
            (Kind::InviteClient, State::Completed) if status >= 300 => {
                if let Some(ack) = &self.last_sent {
                    self.send(id, ack.clone(), out);
                }
            }
            // RFC 6026: every 2xx goes up (retransmissions and forks alike).
            (Kind::InviteClient, State::Accepted) if (200..=299).contains(&status) => {
                out.events.push_back(Event::Response { id, response });
            }
            (Kind::NonInviteClient, State::Trying | State::Proceeding) => {
                out.events.push_back(Event::Response { id, response });
                if status < 200 {
                    self.state = State::Proceeding;
                } else {
                    self.state = State::Completed;
                    self.linger(config.timer(Timer::K, reliability), now);
                }
            }
            // Completed non-INVITE, or anything else late: absorbed.
            _ => {}
        }
    }

    /// Timer A or E fired at `due`.
    pub(super) fn retransmit_request(
        &mut self,
        id: TransactionId,
        due: Instant,
        config: &Config,
        out: &mut Output<P>,
    ) {
        self.interval = match (self.kind, self.state) {
            // Timer A doubles without a cap: 0.5, 1, 2, 4, 8, 16 s, then B.
            (Kind::InviteClient, State::Calling) => self.interval * 2,
            (Kind::NonInviteClient, State::Trying) => (self.interval * 2).min(config.t2()),
            (Kind::NonInviteClient, State::Proceeding) => config.t2(),
            _ => {
                self.retransmit_at = None;
                return;
            }
        };
        if let Some(request) = &self.request {
            self.send(id, request.bytes(), out);
        }
        self.retransmit_at = Some(due + self.interval);
    }
}
