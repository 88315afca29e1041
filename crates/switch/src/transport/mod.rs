//! SIP transports (RFC 3261 §18): where messages come in, and the way back
//! to the peer that sent them.
//!
//! Each transport turns what arrives into an [`Inbound`] (a parsed
//! [`Message`] and its [`Source`]) and hands it to the exchange over a
//! channel. A [`Source`] carries an [`Outbound`]: the path an answer takes,
//! which is always the one the request came by (RFC 3261 §18.2.2 with
//! RFC 3581): the same TCP connection, or the datagram's source address and
//! port. A Via header from the message never decides where bytes go.

pub(crate) mod tcp;
pub(crate) mod udp;

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip::Message;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tracing::{debug, warn};

/// The largest SIP message Callex reads (RFC 3261 §18.1.1 leaves it to the
/// element; 65,535 is the largest UDP payload with its header).
pub const MAX_MESSAGE_LEN: usize = 65_535;

/// The keep-alive answer, "pong" (RFC 5626 §3.5.1), over TCP and UDP.
pub(crate) const PONG: &[u8] = b"\r\n";

/// A transport protocol a message is carried by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    /// The name as it appears in a Via header (`SIP/2.0/UDP`).
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Identifies one accepted TCP connection for as long as the service runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tcp#{}", self.0)
    }
}

/// Hands out connection ids, shared by every TCP listener of a service.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConnectionIds(Arc<AtomicU64>);

impl ConnectionIds {
    fn next(&self) -> ConnectionId {
        ConnectionId(self.0.fetch_add(1, Ordering::Relaxed) + 1)
    }
}

/// Where a message came from — the packet's source, not its Via — and the
/// way back to it.
#[derive(Debug, Clone)]
pub struct Source {
    pub transport: Transport,
    /// The local socket it arrived on.
    pub local: SocketAddr,
    /// The peer: the datagram's source address and port (what RFC 3581
    /// records as `received` and `rport`), or the connection's remote end.
    pub remote: SocketAddr,
    /// The TCP connection it arrived on; `None` for UDP.
    pub connection: Option<ConnectionId>,
    outbound: Outbound,
}

impl Source {
    /// The path back to the peer, for answers and for requests within the
    /// same flow.
    pub fn outbound(&self) -> &Outbound {
        &self.outbound
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.transport, self.remote)?;
        if let Some(id) = self.connection {
            write!(f, " ({id})")?;
        }
        Ok(())
    }
}

impl Source {
    /// Whether the transport retransmits for us (TCP) or not (UDP).
    pub fn reliability(&self) -> sip::transaction::Reliability {
        match self.transport {
            Transport::Udp => sip::transaction::Reliability::Unreliable,
            Transport::Tcp => sip::transaction::Reliability::Reliable,
        }
    }
}

/// The flows the node can send requests on: its UDP sockets, and the TCP
/// connections peers opened to it (a phone behind NAT can only be reached
/// over the connection it registered on, RFC 5626). Shared by the
/// transports, which add and remove connections, and the engine, which
/// sends calls to registered contacts.
#[derive(Debug, Clone, Default)]
pub struct Flows(Arc<FlowsInner>);

#[derive(Debug, Default)]
struct FlowsInner {
    udp: Vec<Arc<UdpSocket>>,
    tcp: Mutex<HashMap<SocketAddr, Source>>,
}

impl Flows {
    fn new(udp: Vec<Arc<UdpSocket>>) -> Flows {
        Flows(Arc::new(FlowsInner {
            udp,
            tcp: Mutex::default(),
        }))
    }

    /// The way to `remote` over `transport`: a UDP socket of the same
    /// address family, or the open TCP connection from that address.
    /// `None` when there is no such flow (the phone's connection closed).
    pub fn to(&self, transport: Transport, remote: SocketAddr) -> Option<Source> {
        match transport {
            Transport::Udp => {
                let socket = self.0.udp.iter().find(|s| {
                    s.local_addr()
                        .is_ok_and(|local| local.is_ipv4() == remote.is_ipv4())
                })?;
                Some(Source {
                    transport,
                    local: socket.local_addr().ok()?,
                    remote,
                    connection: None,
                    outbound: Outbound(Path::Datagram {
                        socket: socket.clone(),
                        to: remote,
                    }),
                })
            }
            Transport::Tcp => self.connections().get(&remote).cloned(),
        }
    }

    fn connections(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, Source>> {
        // A panic while holding this lock leaves the map itself intact.
        self.0.tcp.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn connected(&self, source: &Source) {
        self.connections().insert(source.remote, source.clone());
    }

    pub(crate) fn disconnected(&self, source: &Source) {
        let mut connections = self.connections();
        if connections
            .get(&source.remote)
            .is_some_and(|s| s.connection == source.connection)
        {
            connections.remove(&source.remote);
        }
    }
}

/// A message received, with where it came from.
#[derive(Debug)]
pub struct Inbound {
    pub message: Message,
    pub source: Source,
    /// When the transport read it: how long it then waits in the queue is
    /// how far behind the exchange is.
    pub received_at: Instant,
}

/// The way bytes go back to a peer: the socket a datagram came in on and
/// its source address, or the writer of a TCP connection.
#[derive(Clone)]
pub struct Outbound(Path);

#[derive(Clone)]
enum Path {
    Datagram {
        socket: Arc<UdpSocket>,
        to: SocketAddr,
    },
    Stream {
        connection: ConnectionId,
        queue: mpsc::Sender<Bytes>,
    },
}

impl Outbound {
    /// Sends one message (or a keep-alive). Over TCP it is queued for the
    /// connection's writer and never waits: a peer that does not read gets
    /// its messages dropped rather than stalling the exchange.
    pub async fn send(&self, bytes: Bytes) -> Result<(), SendError> {
        match &self.0 {
            Path::Datagram { socket, to } => socket
                .send_to(&bytes, *to)
                .await
                .map(drop)
                .map_err(SendError::Io),
            Path::Stream { connection, queue } => queue.try_send(bytes).map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => SendError::QueueFull(*connection),
                mpsc::error::TrySendError::Closed(_) => SendError::ConnectionClosed(*connection),
            }),
        }
    }
}

impl fmt::Debug for Outbound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Path::Datagram { to, .. } => write!(f, "Outbound(UDP to {to})"),
            Path::Stream { connection, .. } => write!(f, "Outbound({connection})"),
        }
    }
}

/// Why bytes could not be sent.
#[derive(Debug)]
pub enum SendError {
    Io(io::Error),
    /// The connection is gone; its peer must open a new one.
    ConnectionClosed(ConnectionId),
    /// The peer is not reading what was already sent.
    QueueFull(ConnectionId),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Io(e) => write!(f, "send failed: {e}"),
            SendError::ConnectionClosed(id) => write!(f, "connection {id} is closed"),
            SendError::QueueFull(id) => {
                write!(f, "connection {id} is not reading: its write queue is full")
            }
        }
    }
}

impl std::error::Error for SendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SendError::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// Limits that keep one TCP peer, or many, from exhausting the node.
#[derive(Debug, Clone)]
pub struct TcpLimits {
    /// The largest message read; a stream that does not frame within it is
    /// closed.
    pub max_message_len: usize,
    /// A connection on which no complete message or keep-alive arrives for
    /// this long is closed.
    pub idle_timeout: Duration,
    /// Connections open at once, over all TCP listeners; more are closed as
    /// soon as they are accepted.
    pub max_connections: usize,
    /// Messages waiting to be written to one connection.
    pub write_queue: usize,
    /// A write that makes no progress for this long closes the connection.
    pub write_timeout: Duration,
}

impl Default for TcpLimits {
    fn default() -> TcpLimits {
        TcpLimits {
            max_message_len: MAX_MESSAGE_LEN,
            idle_timeout: Duration::from_secs(120),
            max_connections: 1024,
            write_queue: 64,
            write_timeout: Duration::from_secs(10),
        }
    }
}

/// A socket the service listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listening {
    pub transport: Transport,
    pub addr: SocketAddr,
}

impl fmt::Display for Listening {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP over {} on {}", self.transport, self.addr)
    }
}

/// A listen address could not be bound.
#[derive(Debug)]
pub struct BindError {
    pub transport: Transport,
    pub addr: SocketAddr,
    pub source: io::Error,
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reason = match self.source.kind() {
            io::ErrorKind::AddrInUse => "Address in use".to_owned(),
            io::ErrorKind::AddrNotAvailable => "Address not available on this host".to_owned(),
            io::ErrorKind::PermissionDenied => {
                "Permission denied (ports below 1024 need privileges)".to_owned()
            }
            _ => self.source.to_string(),
        };
        write!(f, "cannot bind {} {}: {reason}", self.transport, self.addr)
    }
}

impl std::error::Error for BindError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Counts an event that a flood would repeat (datagrams shed, connections
/// refused) so that it is logged at most once a second, with the count,
/// instead of adding a log line to every packet of an attack.
#[derive(Debug, Default)]
pub(crate) struct Throttled {
    since_report: u64,
    reported_at: Option<Instant>,
}

impl Throttled {
    const INTERVAL: Duration = Duration::from_secs(1);

    /// Records one event; `Some(n)` when it is time to log the `n` events
    /// since the last report.
    pub(crate) fn record(&mut self) -> Option<u64> {
        self.since_report += 1;
        let now = Instant::now();
        if self
            .reported_at
            .is_some_and(|at| now.duration_since(at) < Self::INTERVAL)
        {
            return None;
        }
        self.reported_at = Some(now);
        Some(std::mem::take(&mut self.since_report))
    }
}

/// The sockets of every listen address, bound and not yet serving.
pub(crate) struct Bound {
    udp: Vec<UdpSocket>,
    tcp: Vec<TcpListener>,
}

/// How often binding an ephemeral port is retried when UDP got a port whose
/// TCP twin is taken.
const EPHEMERAL_ATTEMPTS: usize = 16;

impl Bound {
    /// Binds UDP and TCP on each address. With port 0 both get the same
    /// ephemeral port, so one address names the node on both transports.
    pub(crate) async fn bind(addrs: &[SocketAddr]) -> Result<Bound, BindError> {
        let mut bound = Bound {
            udp: Vec::with_capacity(addrs.len()),
            tcp: Vec::with_capacity(addrs.len()),
        };
        for &addr in addrs {
            let (udp, tcp) = bind_pair(addr).await?;
            bound.udp.push(udp);
            bound.tcp.push(tcp);
        }
        Ok(bound)
    }

    /// Each address's UDP socket, then its TCP listener.
    pub(crate) fn listening(&self) -> Vec<Listening> {
        let udp = self.udp.iter().map(|s| (Transport::Udp, s.local_addr()));
        let tcp = self.tcp.iter().map(|s| (Transport::Tcp, s.local_addr()));
        udp.zip(tcp)
            .flat_map(|(u, t)| [u, t])
            .filter_map(|(transport, addr)| addr.ok().map(|addr| Listening { transport, addr }))
            .collect()
    }

    /// Starts a receive loop per socket in `tasks`; the flows they open
    /// are listed in what it returns.
    pub(crate) fn serve(
        self,
        tasks: &mut JoinSet<()>,
        inbound: &mpsc::Sender<Inbound>,
        limits: &TcpLimits,
    ) -> Flows {
        let udp: Vec<Arc<UdpSocket>> = self.udp.into_iter().map(Arc::new).collect();
        let flows = Flows::new(udp.clone());
        for socket in udp {
            tasks.spawn(udp::receive(socket, inbound.clone()));
        }
        let ids = ConnectionIds::default();
        let connections = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
        for listener in self.tcp {
            tasks.spawn(tcp::accept(
                listener,
                inbound.clone(),
                limits.clone(),
                ids.clone(),
                connections.clone(),
                flows.clone(),
            ));
        }
        flows
    }
}

/// What a UDP socket asks the kernel to buffer for it: at a few thousand
/// calls a second, the default (about 200 KB on Linux) overflowed in the
/// benchmarks while the engine was busy for a few milliseconds (a journal
/// commit, a checkpoint), and every dropped datagram cost the phone a
/// retransmission half a second later. The kernel caps it at
/// `net.core.rmem_max`; raise that for the full size.
const UDP_RECEIVE_BUFFER: usize = 8 * 1024 * 1024;

fn enlarge_receive_buffer(udp: &UdpSocket) {
    let socket = socket2::SockRef::from(udp);
    if let Err(e) = socket.set_recv_buffer_size(UDP_RECEIVE_BUFFER) {
        warn!(error = %e, "UDP receive buffer left at the system's default");
    }
    if let Ok(size) = socket.recv_buffer_size() {
        debug!(bytes = size, "UDP receive buffer");
    }
}

async fn bind_pair(addr: SocketAddr) -> Result<(UdpSocket, TcpListener), BindError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let udp = UdpSocket::bind(addr).await.map_err(|source| BindError {
            transport: Transport::Udp,
            addr,
            source,
        })?;
        enlarge_receive_buffer(&udp);
        let udp_addr = udp.local_addr().map_err(|source| BindError {
            transport: Transport::Udp,
            addr,
            source,
        })?;
        let tcp_addr = SocketAddr::new(addr.ip(), udp_addr.port());
        match TcpListener::bind(tcp_addr).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e)
                if addr.port() == 0
                    && e.kind() == io::ErrorKind::AddrInUse
                    && attempt < EPHEMERAL_ATTEMPTS =>
            {
                continue
            }
            Err(source) => {
                return Err(BindError {
                    transport: Transport::Tcp,
                    addr: tcp_addr,
                    source,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn udp_sockets_ask_for_a_large_receive_buffer() {
        let (udp, _tcp) = bind_pair("127.0.0.1:0".parse().unwrap()).await.unwrap();
        // Linux grants up to net.core.rmem_max and reports twice what it
        // granted (the other half is its bookkeeping).
        let max: usize = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let granted = socket2::SockRef::from(&udp).recv_buffer_size().unwrap();
        assert_eq!(granted, 2 * UDP_RECEIVE_BUFFER.min(max));
    }

    #[test]
    fn a_flood_is_reported_once_with_its_count() {
        let mut shed = Throttled::default();
        assert_eq!(shed.record(), Some(1));
        for _ in 0..999 {
            assert_eq!(shed.record(), None);
        }
        shed.reported_at = Instant::now().checked_sub(Throttled::INTERVAL);
        assert_eq!(shed.record(), Some(1000));
    }
}
