//! # switch — the SIP service of Callex
//!
//! The tokio edge between the network and the sans-IO [`sip`] core: it owns
//! the sockets and the tasks, cuts bytes into messages, hands each one with
//! its [`Source`] to the exchange, and sends answers back the way the
//! request came (the same TCP connection, or the datagram's source address
//! and port — never a Via host from the message).
//!
//! It is not where SIP rules live: parsing, validation, transactions and
//! digest authentication are `sip`'s; this crate only wires them to sockets.
//! Behind the transports one task, the engine, owns the server
//! transactions: the [`Frontend`] validates each request and answers
//! OPTIONS and what is not served yet, and the [`Registrar`] takes
//! REGISTER, with digest authentication and its bindings in the store and
//! in memory ([`Locations`]).
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! # let dir = tempfile::tempdir().unwrap();
//! let store = store::Store::open(dir.path().to_str().unwrap()).await.unwrap();
//! let config = switch::SipConfig {
//!     listen: vec!["127.0.0.1:0".parse().unwrap()],
//!     ..switch::SipConfig::default()
//! };
//! let service = switch::SipService::start(config, store).await.expect("a free port");
//! for socket in service.listening() {
//!     println!("{socket}"); // "SIP over UDP on 127.0.0.1:40123", then TCP
//! }
//! assert_eq!(service.listening().len(), 2);
//! service.stop().await;
//! # });
//! ```

mod engine;
pub mod frontend;
pub mod location;
pub mod registrar;
pub mod transport;

use std::net::{Ipv4Addr, SocketAddr};

use store::Store;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

pub use frontend::{Frontend, Triage};
pub use location::Locations;
pub use registrar::{Registrar, RegistrarConfig};
pub use transport::{
    BindError, ConnectionId, Inbound, Listening, Outbound, SendError, Source, TcpLimits, Transport,
};

/// The standard SIP port (RFC 3261 §19.1.2).
pub const SIP_PORT: u16 = 5060;

/// The digest realm members' SIP credentials belong to unless configured
/// otherwise. HA1s are computed over it, so changing it invalidates every
/// stored SIP password.
pub const DEFAULT_REALM: &str = "callex";

/// The node name unless configured otherwise.
pub const DEFAULT_NODE: &str = "callex";

/// What the SIP service listens on and how much it lets peers cost.
#[derive(Debug, Clone)]
pub struct SipConfig {
    /// Each address is served over both UDP and TCP. Port 0 picks a free
    /// port, the same for both transports.
    pub listen: Vec<SocketAddr>,
    pub tcp: TcpLimits,
    /// Messages received and not yet handled; over UDP more are dropped,
    /// over TCP the connection waits.
    pub inbound_queue: usize,
    /// The digest realm of members' SIP credentials.
    pub realm: String,
    /// Expiry bounds of registrations, nonce lifetime, purge interval.
    pub registrar: RegistrarConfig,
    /// This node's name, stable across restarts: bindings record which
    /// node holds their flow.
    pub node: String,
}

impl Default for SipConfig {
    fn default() -> SipConfig {
        SipConfig {
            listen: vec![SocketAddr::from((Ipv4Addr::UNSPECIFIED, SIP_PORT))],
            tcp: TcpLimits::default(),
            inbound_queue: 4096,
            realm: DEFAULT_REALM.to_owned(),
            registrar: RegistrarConfig::default(),
            node: DEFAULT_NODE.to_owned(),
        }
    }
}

/// The running SIP service: transports and the exchange behind them.
#[derive(Debug)]
pub struct SipService {
    listening: Vec<Listening>,
    tasks: JoinSet<()>,
    store: Store,
}

impl SipService {
    /// Binds every listen address and starts serving, with `store` as the
    /// exchange's memory (members, credentials, bindings, calls). Fails,
    /// having started nothing, if any address cannot be bound.
    ///
    /// The digest nonces are signed with a key drawn at start: a challenge
    /// issued before a restart is answered with a fresh one after it.
    pub async fn start(config: SipConfig, store: Store) -> Result<SipService, BindError> {
        let bound = transport::Bound::bind(&config.listen).await?;
        let listening = bound.listening();
        let (inbound, received) = mpsc::channel(config.inbound_queue.max(1));
        let mut tasks = JoinSet::new();
        let secret: [u8; 32] = rand::random();
        let registrar = Registrar::new(&config.realm, &config.node, config.registrar, &secret);
        let engine = engine::Engine::new(registrar, store.clone(), &config.realm);
        tasks.spawn(engine.run(received));
        bound.serve(&mut tasks, &inbound, &config.tcp);
        Ok(SipService {
            listening,
            tasks,
            store,
        })
    }

    /// The store the exchange keeps its state in.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The sockets served, in the order of the listen addresses: each
    /// address's UDP socket, then its TCP listener.
    pub fn listening(&self) -> &[Listening] {
        &self.listening
    }

    /// The bound address of the first socket of `transport`.
    pub fn local_addr(&self, transport: Transport) -> Option<SocketAddr> {
        self.listening
            .iter()
            .find(|l| l.transport == transport)
            .map(|l| l.addr)
    }

    /// Stops listening and closes every connection.
    pub async fn stop(mut self) {
        self.tasks.shutdown().await;
    }
}
