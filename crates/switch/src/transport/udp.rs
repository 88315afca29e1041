//! SIP over UDP: one datagram is one message (RFC 3261 §18.3).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sip::Message;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::{Inbound, Outbound, Path, Source, Throttled, Transport, PONG};

/// Room for the largest datagram IP can carry.
const DATAGRAM_BUFFER: usize = 64 * 1024;

/// Pause after a socket error that is not about one peer, so that a
/// persistent fault does not spin the loop.
const ERROR_BACKOFF: Duration = Duration::from_millis(10);

/// Receives datagrams until the exchange stops listening. Nothing a peer
/// sends ends the loop.
pub(crate) async fn receive(socket: Arc<UdpSocket>, inbound: mpsc::Sender<Inbound>) {
    let local = match socket.local_addr() {
        Ok(addr) => addr,
        Err(e) => {
            warn!(error = %e, "UDP socket has no local address; not receiving on it");
            return;
        }
    };
    let mut buf = vec![0u8; DATAGRAM_BUFFER];
    let mut shed = Throttled::default();
    loop {
        let (len, remote) = match socket.recv_from(&mut buf).await {
            Ok(received) => received,
            // An ICMP error for something sent earlier to one peer.
            Err(e) if is_about_one_peer(&e) => {
                debug!(%local, error = %e, "UDP peer unreachable");
                continue;
            }
            Err(e) => {
                warn!(%local, error = %e, "UDP receive failed");
                tokio::time::sleep(ERROR_BACKOFF).await;
                continue;
            }
        };
        if is_keep_alive(&buf[..len]) {
            // RFC 5626 §3.5.1's CRLF keep-alive, sent by phones over UDP to
            // hold their NAT binding open: a double CRLF ("ping") gets its
            // single CRLF ("pong"), same size, so it amplifies nothing.
            if len >= 4 {
                if let Err(e) = socket.send_to(PONG, remote).await {
                    debug!(%local, %remote, error = %e, "keep-alive pong not sent");
                }
            }
            continue;
        }
        // The message keeps its bytes (zero-copy parsing), so it gets its own
        // copy and the receive buffer is reused.
        let datagram = Bytes::copy_from_slice(&buf[..len]);
        let message = match Message::parse_datagram(datagram) {
            Ok(message) => message,
            Err(e) => {
                debug!(%local, %remote, len, error = %e, "datagram dropped: not a SIP message");
                continue;
            }
        };
        let source = Source {
            transport: Transport::Udp,
            local,
            remote,
            connection: None,
            outbound: Outbound(Path::Datagram {
                socket: socket.clone(),
                to: remote,
            }),
        };
        let received_at = std::time::Instant::now();
        match inbound.try_send(Inbound {
            message,
            source,
            received_at,
        }) {
            Ok(()) => {}
            // Overload: shed datagrams here, as the kernel would; the peer
            // retransmits.
            Err(mpsc::error::TrySendError::Full(dropped)) => {
                if let Some(count) = shed.record() {
                    warn!(%local, count, last_from = %dropped.source, "exchange busy: datagrams dropped");
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return,
        }
    }
}

/// A datagram of line ends only: a keep-alive, not garbage.
fn is_keep_alive(datagram: &[u8]) -> bool {
    !datagram.is_empty() && datagram.iter().all(|&b| b == b'\r' || b == b'\n')
}

fn is_about_one_peer(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
    )
}
