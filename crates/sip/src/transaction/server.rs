//! The server machines: INVITE (RFC 3261 §17.2.1, RFC 6026 §8.5–8.7) and
//! non-INVITE (§17.2.2).

use std::time::Instant;

use crate::build;
use crate::message::Message;

use super::{
    Config, Event, Kind, Output, State, Timer, Transaction, TransactionError, TransactionId,
};

impl<P: Clone> Transaction<P> {
    /// The request that creates the transaction arrived. An INVITE is
    /// answered with 100 Trying at once unless the TU asked to do it.
    pub(super) fn start_server(
        &mut self,
        id: TransactionId,
        request: &Message,
        config: &Config,
        out: &mut Output<P>,
    ) {
        if self.kind == Kind::InviteServer {
            self.state = State::Proceeding;
            if config.send_100_trying {
                let trying = build::response(request, 100, "Trying").build().bytes();
                self.send(id, trying.clone(), out);
                self.last_sent = Some(trying);
            }
        } else {
            self.state = State::Trying;
        }
    }

    /// A request matched this server transaction: a retransmission of the
    /// request that created it, or (INVITE) the ACK.
    pub(super) fn on_request(
        &mut self,
        id: TransactionId,
        request: Message,
        is_ack: bool,
        config: &Config,
        now: Instant,
        out: &mut Output<P>,
    ) {
        match (self.kind, self.state, is_ack) {
            (Kind::InviteServer, State::Completed, true) => {
                self.state = State::Confirmed;
                let wait = config.timer(Timer::I, self.reliability());
                self.linger(wait, now);
            }
            (Kind::InviteServer, State::Accepted, true) => {
                out.events.push_back(Event::Ack { id, request });
            }
            // Retransmissions: answered with the last response, if any.
            (Kind::InviteServer, State::Proceeding | State::Completed, false)
            | (Kind::NonInviteServer, State::Proceeding | State::Completed, _) => {
                if let Some(last) = &self.last_sent {
                    self.send(id, last.clone(), out);
                }
            }
            // Trying (nothing to re-send yet), Confirmed (ACK retransmissions),
            // Accepted (INVITE retransmissions; the TU re-sends the 2xx), and
            // an ACK before any final response: absorbed.
            _ => {}
        }
    }

    /// The TU sends `response` on this server transaction.
    pub(super) fn send_response(
        &mut self,
        id: TransactionId,
        response: Message,
        config: &Config,
        now: Instant,
        out: &mut Output<P>,
    ) -> Result<(), TransactionError> {
        let status = response.status().ok_or(TransactionError::NotAResponse)?;
        let allowed = match (self.kind, self.state) {
            (_, State::Proceeding | State::Trying) => true,
            // RFC 6026: 2xx retransmissions from the TU pass in Accepted.
            (Kind::InviteServer, State::Accepted) => (200..=299).contains(&status),
            _ => false,
        };
        if !allowed {
            return Err(TransactionError::ResponseNotAllowed {
                id,
                state: self.state,
                status,
            });
        }
        if status >= 200 {
            if let Some(tags) = &mut self.rfc2543 {
                // An RFC 2543 ACK is matched by the To tag of this response.
                tags.response = response.to_tag().map(|t| t.to_ascii_lowercase().into());
            }
        }
        let bytes = response.bytes();
        self.send(id, bytes.clone(), out);
        self.last_sent = Some(bytes);
        let reliability = self.reliability();
        match (self.kind, status) {
            (_, 100..=199) => {
                if self.state == State::Trying {
                    self.state = State::Proceeding;
                }
            }
            (Kind::InviteServer, 200..=299) => {
                if self.state != State::Accepted {
                    self.state = State::Accepted;
                    self.linger(config.timer(Timer::L, reliability), now);
                }
            }
            (Kind::InviteServer, _) => {
                self.state = State::Completed;
                if !self.reliable {
                    self.interval = config.timer(Timer::G, reliability);
                    self.retransmit_at = Some(now + self.interval);
                }
                self.timeout_at = Some(now + config.timer(Timer::H, reliability));
            }
            _ => {
                self.state = State::Completed;
                self.linger(config.timer(Timer::J, reliability), now);
            }
        }
        Ok(())
    }

    /// Timer G fired at `due`: the final response again, the interval
    /// doubled up to T2.
    pub(super) fn retransmit_response(
        &mut self,
        id: TransactionId,
        due: Instant,
        config: &Config,
        out: &mut Output<P>,
    ) {
        if self.kind != Kind::InviteServer || self.state != State::Completed {
            self.retransmit_at = None;
            return;
        }
        if let Some(last) = &self.last_sent {
            self.send(id, last.clone(), out);
        }
        self.interval = (self.interval * 2).min(config.t2());
        self.retransmit_at = Some(due + self.interval);
    }
}
