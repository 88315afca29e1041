//! The timer values of RFC 3261 Table 4 and RFC 6026 §8.11, derived from
//! T1, T2 and T4.

use std::time::Duration;

/// Whether the transport under a transaction delivers reliably (TCP, TLS,
/// SCTP, WebSocket) or not (UDP). Over a reliable transport nothing is
/// retransmitted and timers D, I, J and K are zero (RFC 3261 §17).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reliability {
    Unreliable,
    Reliable,
}

impl Reliability {
    /// The reliability of a Via transport token (`UDP`, `TCP`, `TLS`,
    /// `SCTP`, `WS`, `WSS`…): only UDP (and DTLS-over-UDP) is unreliable.
    pub fn of_transport(transport: &str) -> Reliability {
        if transport.eq_ignore_ascii_case("UDP") || transport.eq_ignore_ascii_case("DTLS-UDP") {
            Reliability::Unreliable
        } else {
            Reliability::Reliable
        }
    }

    pub fn is_reliable(self) -> bool {
        self == Reliability::Reliable
    }
}

/// The transaction timers, named as in RFC 3261 Table 4 (A–K) and RFC 6026
/// (L, M).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// INVITE request retransmission interval (client, unreliable only).
    A,
    /// INVITE client transaction timeout (no response while Calling).
    B,
    /// Proxy INVITE transaction timeout (§16.6 bullet 11). The proxy core
    /// runs it, not this layer; its value is here so that there is one place
    /// for timer values.
    C,
    /// Wait time for response retransmissions (INVITE client, Completed).
    D,
    /// Non-INVITE request retransmission interval (client, unreliable only).
    E,
    /// Non-INVITE client transaction timeout.
    F,
    /// INVITE final response retransmission interval (server, unreliable).
    G,
    /// Wait time for ACK receipt (INVITE server, Completed).
    H,
    /// Wait time for ACK retransmissions (INVITE server, Confirmed).
    I,
    /// Wait time for request retransmissions (non-INVITE server, Completed).
    J,
    /// Wait time for response retransmissions (non-INVITE client, Completed).
    K,
    /// Wait time for INVITE retransmissions after a 2xx (INVITE server,
    /// Accepted; RFC 6026).
    L,
    /// Wait time for 2xx retransmissions and forked 2xx responses (INVITE
    /// client, Accepted; RFC 6026).
    M,
}

/// Transaction layer settings. The defaults are the RFC's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// RTT estimate (RFC 3261 default 500 ms). At least 1 ms is used.
    pub t1: Duration,
    /// Maximum retransmission interval for non-INVITE requests and INVITE
    /// responses (default 4 s). At least `t1` is used.
    pub t2: Duration,
    /// Maximum time a message stays in the network (default 5 s).
    pub t4: Duration,
    /// Send `100 Trying` as soon as an INVITE arrives (default). With
    /// `false` the TU sends it, within 200 ms (§17.2.1), or a provisional of
    /// its own; until it does, INVITE retransmissions are absorbed silently.
    pub send_100_trying: bool,
    /// Live transactions at most: a request that would start one more is
    /// handed back as refused (the caller may answer 503 statelessly), and
    /// [`send_request`](super::TransactionLayer::send_request) fails. Keeps
    /// memory bounded whatever the network sends.
    pub max_transactions: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            send_100_trying: true,
            max_transactions: 1 << 20,
        }
    }
}

/// Timer D's floor for unreliable transports (RFC 3261 Table 4: "> 32 s").
const TIMER_D_MIN: Duration = Duration::from_secs(32);
/// Timer C (RFC 3261 Table 4: "> 3 min").
const TIMER_C: Duration = Duration::from_secs(181);

impl Config {
    /// T1 as the layer uses it (a zero T1 would retransmit without pause).
    pub fn t1(&self) -> Duration {
        self.t1.max(Duration::from_millis(1))
    }

    /// T2 as the layer uses it (never below T1).
    pub fn t2(&self) -> Duration {
        self.t2.max(self.t1())
    }

    /// The value of `timer` over a transport of the given reliability:
    /// RFC 3261 Table 4 and RFC 6026 §8.11. For the retransmission timers
    /// (A, E, G) this is the initial interval; over a reliable transport they
    /// never run, and zero is returned.
    pub fn timer(&self, timer: Timer, reliability: Reliability) -> Duration {
        let reliable = reliability.is_reliable();
        let t1 = self.t1();
        let unless_reliable = |d: Duration| if reliable { Duration::ZERO } else { d };
        match timer {
            Timer::A | Timer::E | Timer::G => unless_reliable(t1),
            Timer::B | Timer::F | Timer::H | Timer::L | Timer::M => t1 * 64,
            Timer::C => TIMER_C,
            // "At least 32 s": kept at 64*T1 when a larger T1 makes the
            // server retransmit for longer than that.
            Timer::D => unless_reliable((t1 * 64).max(TIMER_D_MIN)),
            Timer::I | Timer::K => unless_reliable(self.t4),
            Timer::J => unless_reliable(t1 * 64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_rfc_3261_table_4() {
        let c = Config::default();
        let u = Reliability::Unreliable;
        let r = Reliability::Reliable;
        let s = Duration::from_secs;
        assert_eq!(c.timer(Timer::A, u), Duration::from_millis(500));
        assert_eq!(c.timer(Timer::B, u), s(32));
        assert_eq!(c.timer(Timer::D, u), s(32));
        assert_eq!(c.timer(Timer::D, r), Duration::ZERO);
        assert_eq!(c.timer(Timer::F, r), s(32));
        assert_eq!(c.timer(Timer::H, r), s(32));
        assert_eq!(c.timer(Timer::I, u), s(5));
        assert_eq!(c.timer(Timer::I, r), Duration::ZERO);
        assert_eq!(c.timer(Timer::J, u), s(32));
        assert_eq!(c.timer(Timer::J, r), Duration::ZERO);
        assert_eq!(c.timer(Timer::K, u), s(5));
        assert_eq!(c.timer(Timer::K, r), Duration::ZERO);
        assert_eq!(c.timer(Timer::L, r), s(32));
        assert_eq!(c.timer(Timer::M, r), s(32));
        assert!(c.timer(Timer::C, u) > s(180));
    }

    #[test]
    fn timers_scale_with_t1_and_degenerate_values_are_clamped() {
        let c = Config {
            t1: Duration::from_secs(1),
            t2: Duration::ZERO,
            ..Config::default()
        };
        let u = Reliability::Unreliable;
        assert_eq!(c.timer(Timer::B, u), Duration::from_secs(64));
        assert_eq!(c.timer(Timer::D, u), Duration::from_secs(64));
        assert_eq!(c.t2(), Duration::from_secs(1));
        let zero = Config {
            t1: Duration::ZERO,
            ..Config::default()
        };
        assert_eq!(zero.timer(Timer::A, u), Duration::from_millis(1));
    }

    #[test]
    fn only_udp_is_unreliable() {
        assert_eq!(Reliability::of_transport("udp"), Reliability::Unreliable);
        for t in ["TCP", "TLS", "SCTP", "WS", "WSS"] {
            assert_eq!(Reliability::of_transport(t), Reliability::Reliable);
        }
    }
}
