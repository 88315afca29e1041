//! The front of the exchange: what this node answers by itself.
//!
//! Every request is validated here first. The node serves OPTIONS (the
//! capability and health probe that peers, gateways and load balancers
//! send) and absorbs stray ACKs by itself, hands REGISTER on to the
//! registrar, and INVITE, CANCEL and the requests within a call (BYE,
//! UPDATE, INFO) to the call controller. Every other request is refused
//! with the response RFC 3261 calls for — `405 Method Not Allowed` with
//! `Allow` for a standard method not served, `501 Not Implemented` for an
//! unknown one, `400` and friends for a malformed one — and responses that
//! match no client transaction are dropped.

use std::net::SocketAddr;

use sip::build;
use sip::validate::{validate_request, Policy};
use sip::{HeaderName, Message, Method};
use tracing::{debug, warn};

/// The Server header of every answer Callex writes itself.
pub const SERVER: &str = concat!("Callex/", env!("CARGO_PKG_VERSION"));

/// What the front end makes of a message.
#[derive(Debug)]
pub enum Triage {
    /// Answered here.
    Answer(Message),
    /// Nothing to send (an ACK, a response, a malformed ACK).
    Absorb,
    /// A valid REGISTER for the registrar, with its source stamped in the
    /// top Via (`received`/`rport`), so that answers built from it find
    /// their way back through NAT.
    Register(Message),
    /// A valid INVITE, CANCEL, BYE, UPDATE or INFO for the call controller,
    /// stamped likewise.
    Call(Message),
}

/// Decides what becomes of each message; holds no per-peer state.
#[derive(Debug, Clone)]
pub struct Frontend {
    policy: Policy,
}

impl Default for Frontend {
    fn default() -> Frontend {
        Frontend::new()
    }
}

impl Frontend {
    pub fn new() -> Frontend {
        Frontend {
            policy: Policy {
                // What this node serves; a method added here needs a
                // handler below.
                allowed_methods: vec![
                    Method::Invite,
                    Method::Ack,
                    Method::Bye,
                    Method::Cancel,
                    Method::Options,
                    Method::Register,
                    Method::Update,
                    Method::Info,
                ],
                // RFC 3327: the registrar keeps and echoes Path.
                supported_extensions: vec!["path".to_owned()],
                ..Policy::default()
            },
        }
    }

    /// What requests are held to, and what OPTIONS advertises.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// What becomes of one message received from `remote`. Pure: no IO,
    /// no panics on any input. An answer's top Via carries
    /// `received`/`rport` (RFC 3581), so it finds its way back through NAT.
    pub fn triage(&self, msg: &Message, remote: SocketAddr) -> Triage {
        if !msg.is_request() {
            debug!(
                status = msg.status(),
                call_id = msg.call_id(),
                "response dropped: no client transaction to match"
            );
            return Triage::Absorb;
        }
        // Validated as received; answered from the request as the transport
        // hands it on (with its source stamped in the top Via).
        let validated = validate_request(msg, &self.policy);
        let msg = &build::stamp_received(msg, remote);
        if let Err(rejection) = validated {
            debug!(
                method = msg.method().map(Method::as_str),
                status = rejection.status,
                reason = %rejection.reason,
                "request refused"
            );
            return rejection
                .response(msg, &new_tag())
                .map_or(Triage::Absorb, Triage::Answer);
        }
        match msg.method() {
            Some(Method::Options) => Triage::Answer(self.capabilities(msg)),
            Some(Method::Register) => Triage::Register(msg.clone()),
            Some(Method::Invite | Method::Cancel | Method::Bye | Method::Update | Method::Info) => {
                Triage::Call(msg.clone())
            }
            // An ACK for a final response that went out is the end of that
            // exchange (RFC 3261 §17.2.1); one for anything else is dropped.
            Some(Method::Ack) => Triage::Absorb,
            other => {
                // The policy lets only the methods above through; answering
                // anyway keeps a mismatch from leaving the peer to time out.
                warn!(method = ?other, "request allowed by the policy has no handler");
                Triage::Answer(
                    build::response(msg, 500, "Server Internal Error")
                        .to_tag(&new_tag())
                        .build(),
                )
            }
        }
    }

    /// `200 OK` to an OPTIONS (RFC 3261 §11.2): what the exchange accepts.
    fn capabilities(&self, options: &Message) -> Message {
        let ok = build::response(options, 200, "OK")
            .to_tag(&new_tag())
            .header(HeaderName::Allow, &self.policy.allow_header())
            .header(HeaderName::Accept, "application/sdp")
            .header(HeaderName::Server, SERVER);
        let supported = self.policy.supported_extensions.join(", ");
        if supported.is_empty() {
            ok.build()
        } else {
            ok.header(HeaderName::Supported, &supported).build()
        }
    }
}

/// A fresh To tag (RFC 3261 §19.3: at least 32 bits of randomness).
pub(crate) fn new_tag() -> String {
    format!("{:016x}", rand::random::<u64>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn request(method: &str) -> Message {
        let raw = format!(
            "{method} sip:exchange.example.net SIP/2.0\r\n\
             Via: SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bK776sgdkse;rport\r\n\
             From: <sip:02-6200-6200-082@example.net>;tag=1928301774\r\n\
             To: <sip:exchange.example.net>\r\n\
             Call-ID: a84b4c76e66710\r\n\
             CSeq: 63104 {method}\r\n\
             Max-Forwards: 70\r\n\
             Content-Length: 0\r\n\r\n"
        );
        Message::parse_datagram(Bytes::from(raw)).unwrap()
    }

    fn peer() -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 4], 5060))
    }

    fn answer(msg: &Message) -> Message {
        match Frontend::new().triage(msg, peer()) {
            Triage::Answer(answer) => answer,
            other => panic!("expected an answer, got {other:?}"),
        }
    }

    #[test]
    fn options_is_answered_with_the_capabilities_of_the_exchange() {
        let ok = answer(&request("OPTIONS"));
        assert_eq!(ok.status(), Some(200));
        assert_eq!(
            ok.header(HeaderName::Allow),
            Some("INVITE, ACK, BYE, CANCEL, OPTIONS, REGISTER, UPDATE, INFO")
        );
        assert_eq!(ok.header(HeaderName::Accept), Some("application/sdp"));
        assert_eq!(ok.header(HeaderName::Server), Some(SERVER));
        assert_eq!(ok.header(HeaderName::Supported), Some("path"));
        assert_eq!(ok.call_id(), Some("a84b4c76e66710"));
        assert_eq!(ok.to_tag().map(str::len), Some(16));
        // It parses back: what goes on the wire is a valid response.
        let reparsed = Message::parse_datagram(ok.bytes()).unwrap();
        assert!(sip::validate::validate_response(&reparsed).is_ok());
    }

    #[test]
    fn every_answer_gets_its_own_to_tag() {
        let a = answer(&request("OPTIONS"));
        let b = answer(&request("OPTIONS"));
        assert_ne!(a.to_tag(), b.to_tag());
    }

    #[test]
    fn methods_not_served_get_405_with_allow() {
        for method in ["SUBSCRIBE", "MESSAGE", "REFER", "PRACK"] {
            let refusal = answer(&request(method));
            assert_eq!(refusal.status(), Some(405), "{method}");
            assert_eq!(
                refusal.header(HeaderName::Allow),
                Some("INVITE, ACK, BYE, CANCEL, OPTIONS, REGISTER, UPDATE, INFO")
            );
        }
    }

    #[test]
    fn call_requests_go_to_the_call_controller() {
        for method in ["INVITE", "BYE", "CANCEL", "UPDATE", "INFO"] {
            let triaged = Frontend::new().triage(&request(method), peer());
            assert!(matches!(triaged, Triage::Call(_)), "{method}: {triaged:?}");
        }
    }

    #[test]
    fn register_goes_to_the_registrar_with_its_source_stamped() {
        let Triage::Register(register) = Frontend::new().triage(&request("REGISTER"), peer())
        else {
            panic!("REGISTER is the registrar's");
        };
        assert_eq!(register.top_via().unwrap().rport(), Some(Some(5060)));
    }

    #[test]
    fn unknown_methods_get_501() {
        assert_eq!(answer(&request("FROBNICATE")).status(), Some(501));
    }

    #[test]
    fn ack_and_responses_are_absorbed() {
        let frontend = Frontend::new();
        assert!(matches!(
            frontend.triage(&request("ACK"), peer()),
            Triage::Absorb
        ));
        let response = build::response(&request("OPTIONS"), 200, "OK").build();
        assert!(matches!(frontend.triage(&response, peer()), Triage::Absorb));
    }
}
