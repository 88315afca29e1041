//! # sip — the sans-IO SIP core of Callex
//!
//! Everything Callex knows about SIP (RFC 3261) that does not need a socket
//! or a clock: the zero-copy [parser](message), the [serializer](build), the
//! [validation](validate) that picks the right error response, the four
//! [transaction](transaction) state machines and [digest authentication](digest).
//!
//! It is not a SIP stack with threads or sockets: the `switch` crate owns
//! those and feeds bytes and the current time in. Time is always an input
//! (`now: Instant`), so every timer path is testable with a fake clock.
//!
//! ```
//! use sip::{Message, HeaderName};
//!
//! let bytes = b"OPTIONS sip:exchange.example.net SIP/2.0\r\n\
//! Via: SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bK776sgdkse;rport\r\n\
//! From: <sip:02-6200-6200-082@example.net>;tag=1928301774\r\n\
//! To: <sip:exchange.example.net>\r\n\
//! Call-ID: a84b4c76e66710\r\n\
//! CSeq: 63104 OPTIONS\r\n\
//! Max-Forwards: 70\r\n\
//! Content-Length: 0\r\n\r\n";
//! let msg = Message::parse_datagram(bytes::Bytes::from_static(bytes)).unwrap();
//! assert_eq!(msg.call_id(), Some("a84b4c76e66710"));
//! assert_eq!(msg.top_via().unwrap().branch(), Some("z9hG4bK776sgdkse"));
//! let ok = sip::build::response(&msg, 200, "OK").to_tag("x1").build();
//! assert_eq!(ok.status(), Some(200));
//! assert_eq!(ok.header(HeaderName::CSeq), Some("63104 OPTIONS"));
//! ```

pub mod build;
pub mod digest;
pub mod framing;
pub mod header;
pub mod message;
pub mod name_addr;
pub mod text;
pub mod transaction;
pub mod uri;
pub mod validate;
pub mod via;

#[doc(hidden)]
pub mod fuzzing;

pub use header::HeaderName;
pub use message::{CSeq, Message, Method, ParseError};
pub use name_addr::NameAddr;
pub use uri::Uri;
pub use via::Via;
