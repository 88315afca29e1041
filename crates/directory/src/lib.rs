//! # directory — the number directory over DNS
//!
//! A number resolves to more than a phone (SPEC §7): its holder's SIP
//! address, home page and mailbox, served the way ENUM (RFC 6116) serves
//! them for E.164 numbers — as NAPTR records (RFC 3403) — over UDP and TCP,
//! under a private tree (the *apex*, `callex.arpa.` by default) because
//! PINs and VNS numbers are not E.164 and have no place under `e164.arpa`.
//!
//! It is an edge: the entries are the store's ([`store::Directory`]), the
//! names are the numbering rules' ([`numbering::enum_dns`]), and the DNS
//! wire format, UDP and TCP are hickory-server's. It is not for resolving
//! anything else: names outside the apex are refused, never recursed.
//!
//! ## Names
//!
//! A number's name is one digit per label, least significant first, then
//! the tree of its kind, then the apex:
//!
//! | number | name |
//! |---|---|
//! | E.164 `+82 2 6200 6200` | `0.0.2.6.0.0.2.6.2.2.8.e164.callex.arpa.` |
//! | PIN `02-6200-6200-082` | `0.0.2.6.0.0.2.6.2.0.082.pin.callex.arpa.` |
//! | VNS `6200-6200#082` (a branch) | `082.#.0.0.2.6.0.0.2.6.vns.callex.arpa.` |
//! | VNS `6200-6200` (the company) | `0.0.2.6.0.0.2.6.vns.callex.arpa.` |
//!
//! A PIN's 3-digit country code is one label at the top of its tree, so
//! `082.pin` can be delegated to a country's communication center; a
//! company's branches hang below the company as `#` then the country code.
//!
//! ## Records
//!
//! Each entry a holder lists is one NAPTR record, order 100, flags `u`,
//! replacement `.`, and a regexp that rewrites any number to the entry:
//!
//! ```text
//! 0.0.2.6.0.0.2.6.2.0.082.pin.callex.arpa. 60 IN NAPTR 100 10 "u" "E2U+sip" "!^.*$!sip:alice@example.com!" .
//! 0.0.2.6.0.0.2.6.2.0.082.pin.callex.arpa. 60 IN NAPTR 100 20 "u" "E2U+web:https" "!^.*$!https://alice.example.com/!" .
//! 0.0.2.6.0.0.2.6.2.0.082.pin.callex.arpa. 60 IN NAPTR 100 30 "u" "E2U+email:mailto" "!^.*$!mailto:alice@example.com!" .
//! ```
//!
//! The home page's service is `E2U+web:http` or `E2U+web:https` after its
//! URL's scheme.
//!
//! ## Answers
//!
//! Every answer about the apex or below is authoritative (AA):
//!
//! - a held number: its NAPTR records (also for `ANY`); no data (NOERROR,
//!   the SOA in the authority section) for other types or when it lists
//!   nothing;
//! - a name above held numbers (`pin.callex.arpa.`, `082.pin…`, a
//!   company's node above its branches): no data, since it exists (RFC
//!   8020);
//! - any other name — a number nobody holds, labels that are not digits,
//!   too many of them, bytes that are not ASCII: NXDOMAIN, with the SOA;
//! - the apex: its SOA and NS (`ns.<apex>`, which the operator delegates
//!   the apex to).
//!
//! Names outside the apex, zone transfers and classes other than IN get
//! REFUSED; a message with other than one question, FORMERR; opcodes other
//! than QUERY, NOTIMP.
//!
//! ## Freshness
//!
//! Answers come from an in-memory copy of every held number's entries,
//! reloaded whole when the store's
//! [`directory_version`](store::SipCredentials::directory_version) moves
//! (read every [`DnsConfig::refresh`], a tenth of a second by default):
//! queries never wait on the database, and an edit is served within that
//! tenth of a second. The copy is a few hundred bytes per number.
//!
//! ## Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! let store = store::Store::open(dir.path().to_str().unwrap()).await?;
//! let config = directory::DnsConfig {
//!     listen: "127.0.0.1:0".parse()?,
//!     ..directory::DnsConfig::default()
//! };
//! let dns = directory::DnsService::start(config, store).await?;
//! println!("dig @127.0.0.1 -p {} NAPTR 0.0.2.6.0.0.2.6.2.0.082.pin.callex.arpa.",
//!     dns.local_addr().port());
//! dns.stop().await;
//! # Ok(())
//! # }
//! ```

mod server;
pub mod zone;

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

pub use server::DnsService;
pub use zone::{Apex, ApexError};

/// Where the directory listens unless told otherwise: a port that needs no
/// privilege, on loopback. Production serves port 53 on a public address
/// (`--dns-listen 0.0.0.0:53`).
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 5300);

/// The default apex: a name under `.arpa` that is never delegated on the
/// public Internet, so it collides with nobody's zone.
pub const DEFAULT_APEX: &str = "callex.arpa.";

/// How often the store's directory version is read by default.
pub const DEFAULT_REFRESH: Duration = Duration::from_millis(100);

/// How the DNS directory runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsConfig {
    /// Served over both UDP and TCP; port 0 picks one free for both.
    pub listen: SocketAddr,
    /// The name everything is answered under (see [`Apex::parse`]).
    pub apex: String,
    /// How often to look whether the store's entries changed.
    pub refresh: Duration,
}

impl Default for DnsConfig {
    fn default() -> DnsConfig {
        DnsConfig {
            listen: DEFAULT_LISTEN,
            apex: DEFAULT_APEX.to_owned(),
            refresh: DEFAULT_REFRESH,
        }
    }
}

/// Why the DNS directory did not start.
#[derive(Debug)]
pub enum DnsError {
    /// The UDP socket or the TCP listener could not be bound.
    Bind { addr: SocketAddr, source: io::Error },
    /// The apex is not a usable domain name.
    Apex(ApexError),
    /// The entries could not be loaded.
    Store(store::StoreError),
}

impl fmt::Display for DnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DnsError::Bind { addr, source } => {
                let reason = match source.kind() {
                    io::ErrorKind::AddrInUse => "Address in use".to_owned(),
                    io::ErrorKind::AddrNotAvailable => "Address not available".to_owned(),
                    io::ErrorKind::PermissionDenied => {
                        "Permission denied (ports below 1024 need root or \
                         CAP_NET_BIND_SERVICE)"
                            .to_owned()
                    }
                    _ => source.to_string(),
                };
                write!(f, "cannot listen for DNS on {addr}: {reason}")
            }
            DnsError::Apex(err) => err.fmt(f),
            DnsError::Store(err) => write!(f, "cannot load the number directory: {err}"),
        }
    }
}

impl std::error::Error for DnsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DnsError::Bind { source, .. } => Some(source),
            DnsError::Apex(err) => Some(err),
            DnsError::Store(err) => Some(err),
        }
    }
}

impl From<store::StoreError> for DnsError {
    fn from(err: store::StoreError) -> DnsError {
        DnsError::Store(err)
    }
}
