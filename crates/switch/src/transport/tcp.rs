//! SIP over TCP: messages cut from the stream by Content-Length (RFC 3261
//! §18.3), CRLF keep-alives answered (RFC 5626 §3.5.1), and bounds on what
//! a connection may cost: buffered bytes, idle time, and how many are open.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use sip::framing::{next_frame, Frame};
use sip::message::Framing;
use sip::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{debug, warn};

use super::{
    ConnectionId, ConnectionIds, Flows, Inbound, Outbound, Path, Source, TcpLimits, Throttled,
    Transport, PONG,
};

/// How much is read from a connection at a time.
const READ_CHUNK: usize = 8 * 1024;

/// How long a connection being closed waits for answers still owed.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Pause after a failed accept (out of file descriptors, say), so that the
/// loop does not spin while the condition lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Accepts connections until the exchange stops listening; each connection
/// is served in a task owned by this one, so stopping the listener closes
/// them all.
pub(crate) async fn accept(
    listener: TcpListener,
    inbound: mpsc::Sender<Inbound>,
    limits: TcpLimits,
    ids: ConnectionIds,
    capacity: Arc<Semaphore>,
    flows: Flows,
) {
    let local = match listener.local_addr() {
        Ok(addr) => addr,
        Err(e) => {
            warn!(error = %e, "TCP listener has no local address; not accepting on it");
            return;
        }
    };
    let mut open = JoinSet::new();
    let mut refused = Throttled::default();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    let Ok(permit) = capacity.clone().try_acquire_owned() else {
                        if let Some(count) = refused.record() {
                            warn!(
                                %local, count, last_from = %remote, limit = limits.max_connections,
                                "too many TCP connections: new ones closed"
                            );
                        }
                        continue;
                    };
                    let peer = Peer { local, remote, id: ids.next() };
                    open.spawn(serve(stream, peer, inbound.clone(), limits.clone(), permit, flows.clone()));
                }
                Err(e) => {
                    warn!(%local, error = %e, "TCP accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            Some(finished) = open.join_next(), if !open.is_empty() => {
                if let Err(e) = finished {
                    if e.is_panic() {
                        warn!(%local, "a TCP connection task panicked: {e}");
                    }
                }
            }
        }
    }
}

struct Peer {
    local: SocketAddr,
    remote: SocketAddr,
    id: ConnectionId,
}

/// Why the reading side of a connection ended.
enum Closing {
    /// The peer closed its side: answers still owed are written first.
    PeerClosed,
    Idle(Duration),
    Unframeable(&'static str),
    ReadFailed(io::Error),
    ExchangeStopped,
}

impl Closing {
    /// Whether the connection is closed at once rather than after the
    /// answers still owed to the peer.
    fn is_forced(&self) -> bool {
        !matches!(self, Closing::PeerClosed)
    }
}

impl fmt::Display for Closing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Closing::PeerClosed => f.write_str("closed by the peer"),
            Closing::Idle(after) => write!(f, "idle for {after:?}"),
            Closing::Unframeable(why) => write!(f, "stream cannot be framed: {why}"),
            Closing::ReadFailed(e) => write!(f, "read failed: {e}"),
            Closing::ExchangeStopped => f.write_str("the exchange is stopping"),
        }
    }
}

async fn serve(
    stream: TcpStream,
    peer: Peer,
    inbound: mpsc::Sender<Inbound>,
    limits: TcpLimits,
    _slot: OwnedSemaphorePermit,
    flows: Flows,
) {
    // SIP messages are small and latency matters more than packet count.
    if let Err(e) = stream.set_nodelay(true) {
        debug!(remote = %peer.remote, error = %e, "cannot set TCP_NODELAY");
    }
    let (reader, writer) = stream.into_split();
    let (queue, pending) = mpsc::channel(limits.write_queue.max(1));
    let (close, closed) = oneshot::channel();
    let source = Source {
        transport: Transport::Tcp,
        local: peer.local,
        remote: peer.remote,
        connection: Some(peer.id),
        outbound: Outbound(Path::Stream {
            connection: peer.id,
            queue,
        }),
    };
    debug!(%source, "TCP connection accepted");
    flows.connected(&source);
    let read_side = async {
        let closing = read(reader, source.clone(), &inbound, &limits).await;
        // Calls no longer go out on it; its writer ends once the answers
        // still owed are written.
        flows.disconnected(&source);
        drop(source);
        debug!(connection = %peer.id, remote = %peer.remote, "TCP connection ends: {closing}");
        if closing.is_forced() {
            // The writer may already be gone; then there is nothing to stop.
            let _ = close.send(());
        }
    };
    let write_side = write(writer, pending, closed, limits.write_timeout);
    tokio::join!(read_side, write_side);
}

/// Reads and frames messages until the connection must end. The buffer
/// never holds more than one unfinished message of at most
/// `max_message_len` bytes plus one read.
async fn read(
    mut reader: OwnedReadHalf,
    source: Source,
    inbound: &mpsc::Sender<Inbound>,
    limits: &TcpLimits,
) -> Closing {
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let mut deadline = Instant::now() + limits.idle_timeout;
    loop {
        loop {
            match next_frame(&buf, limits.max_message_len) {
                Frame::Message(len) => {
                    deadline = Instant::now() + limits.idle_timeout;
                    let frame = buf.split_to(len).freeze();
                    match Message::parse(frame, Framing::Stream) {
                        Ok(message) => {
                            let delivered = inbound
                                .send(Inbound {
                                    message,
                                    source: source.clone(),
                                    received_at: std::time::Instant::now(),
                                })
                                .await;
                            if delivered.is_err() {
                                return Closing::ExchangeStopped;
                            }
                        }
                        // Framing held, so the stream is still in step.
                        Err(e) => debug!(%source, error = %e, "message dropped: not SIP"),
                    }
                }
                Frame::Ping(len) => {
                    deadline = Instant::now() + limits.idle_timeout;
                    buf.advance(len);
                    if let Err(e) = source.outbound().send(Bytes::from_static(PONG)).await {
                        debug!(%source, error = %e, "keep-alive not answered");
                    }
                }
                Frame::Skip(len) => buf.advance(len),
                Frame::Incomplete => break,
                Frame::Invalid(why) => return Closing::Unframeable(why),
            }
        }
        buf.reserve(READ_CHUNK);
        match tokio::time::timeout_at(deadline, reader.read_buf(&mut buf)).await {
            Err(_elapsed) => return Closing::Idle(limits.idle_timeout),
            Ok(Ok(0)) => return Closing::PeerClosed,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Closing::ReadFailed(e),
        }
    }
}

/// Writes queued messages in order until every sender is gone or the
/// reading side forces the connection closed; then closes the sending
/// direction.
async fn write(
    mut writer: OwnedWriteHalf,
    mut pending: mpsc::Receiver<Bytes>,
    mut closed: oneshot::Receiver<()>,
    write_timeout: Duration,
) {
    let mut reader_gone = false;
    loop {
        let next = if reader_gone {
            pending.recv().await
        } else {
            tokio::select! {
                biased;
                forced = &mut closed => {
                    if forced.is_ok() {
                        break;
                    }
                    // The reader ended without forcing: answers still owed
                    // are written until the last sender is dropped.
                    reader_gone = true;
                    continue;
                }
                next = pending.recv() => next,
            }
        };
        let Some(bytes) = next else { break };
        if !write_bounded(&mut writer, &bytes, write_timeout).await {
            return;
        }
    }
    // Answers to what was read before the close still go out: those the
    // exchange is working on arrive within moments, and the last sender
    // is then dropped.
    let grace = Instant::now() + CLOSE_GRACE;
    while let Ok(Some(bytes)) = tokio::time::timeout_at(grace, pending.recv()).await {
        if !write_bounded(&mut writer, &bytes, write_timeout).await {
            return;
        }
    }
    let _ = tokio::time::timeout(write_timeout, writer.shutdown()).await;
}

async fn write_bounded(writer: &mut OwnedWriteHalf, bytes: &[u8], limit: Duration) -> bool {
    match tokio::time::timeout(limit, writer.write_all(bytes)).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            debug!(error = %e, "TCP write failed");
            false
        }
        Err(_) => {
            debug!("TCP write made no progress for {limit:?}: closing");
            false
        }
    }
}
