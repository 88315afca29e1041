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

pub mod call;
mod credentials;
pub mod dialplan;
mod engine;
pub mod frontend;
mod journal;
pub mod location;
pub mod registrar;
mod registrations;
pub mod transport;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use sip::digest::Authenticator;
use store::Store;
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};
use tracing::warn;

pub use call::CallConfig;
pub use frontend::{Frontend, Triage};
pub use location::Locations;
pub use registrar::{Registrar, RegistrarConfig};
pub use transport::{
    BindError, ConnectionId, Flows, Inbound, Listening, Outbound, SendError, Source, TcpLimits,
    Transport,
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
    /// node holds their flow, and calls which node to close them on after
    /// a crash.
    pub node: String,
    /// Ring timeout, call limit, advertised address.
    pub calls: CallConfig,
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
            calls: CallConfig::default(),
        }
    }
}

/// The running SIP service: transports and the exchange behind them.
#[derive(Debug)]
pub struct SipService {
    listening: Vec<Listening>,
    tasks: JoinSet<()>,
    engine: JoinHandle<()>,
    control: mpsc::Sender<engine::Control>,
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
        let flows = bound.serve(&mut tasks, &inbound, &config.tcp);
        // Calls and registrations get nonces of their own.
        let secret: [u8; 32] = rand::random();
        let call_secret: [u8; 32] = rand::random();
        let call_auth = Authenticator::new(&call_secret, config.registrar.nonce_lifetime)
            .with_algorithms(&config.registrar.algorithms);
        let layer_config = sip::transaction::Config {
            // The call controller sends 100 Trying itself, once it knows an
            // INVITE will not be refused at once (challenged, say).
            send_100_trying: false,
            ..sip::transaction::Config::default()
        };
        let calls = call::CallController::new(
            &config.realm,
            &config.node,
            config.calls,
            layer_config.clone(),
            call_auth,
            flows,
        );
        let registrar = Registrar::new(&config.realm, &config.node, config.registrar, &secret);
        let engine = engine::Engine::new(
            layer_config,
            registrar,
            calls,
            store.clone(),
            &config.realm,
            &config.node,
        );
        let (control, orders) = mpsc::channel(1);
        let engine = tokio::spawn(engine.run(received, orders));
        Ok(SipService {
            listening,
            tasks,
            engine,
            control,
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

    /// Stops at once: listening ends, connections close. Calls in progress
    /// are closed as interrupted at the next start.
    pub async fn stop(mut self) {
        self.engine.abort();
        let _ = self.engine.await;
        self.tasks.shutdown().await;
    }

    /// Stops cleanly: new calls are refused (503) while the calls in
    /// progress may go on for `grace`; then the rest are ended (BYE on both
    /// legs, or 503 to the caller and CANCEL to the callee), every CDR is
    /// written, and the service stops. Registrations and OPTIONS are
    /// served meanwhile.
    pub async fn shutdown(mut self, grace: Duration) {
        let (done, finished) = oneshot::channel();
        if self
            .control
            .send(engine::Control::Drain { grace, done })
            .await
            .is_ok()
        {
            // The engine bounds its own wait; this bound is for a stuck one.
            let limit = grace + Duration::from_secs(30);
            if tokio::time::timeout(limit, finished).await.is_err() {
                warn!("the exchange did not finish draining in time");
            }
        }
        self.engine.abort();
        let _ = self.engine.await;
        self.tasks.shutdown().await;
    }
}
