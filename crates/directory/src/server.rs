//! The edge: hickory-server's UDP and TCP serving around [`Zone::answer`],
//! and the task that keeps the [`Snapshot`] in step with the store.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hickory_server::net::runtime::Time;
use hickory_server::proto::op::{Edns, Metadata, OpCode, ResponseCode};
use hickory_server::proto::rr::{DNSClass, Name};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use hickory_server::Server;
use store::prelude::*;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::zone::{Answer, Apex, Snapshot, Zone};
use crate::{DnsConfig, DnsError};

/// A TCP connection that sends no complete query for this long is closed.
const TCP_IDLE: Duration = Duration::from_secs(10);
/// Responses queued per TCP connection.
const TCP_RESPONSE_BUFFER: usize = 32;
/// How long [`DnsService::stop`] waits for queries in flight.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// How often a free port is tried for both UDP and TCP when asked for
/// port 0.
const SAME_PORT_TRIES: usize = 16;

/// The DNS directory, serving on one address over UDP and TCP.
pub struct DnsService {
    local_addr: SocketAddr,
    apex: Apex,
    server: Server<DirectoryHandler>,
    refresher: JoinHandle<()>,
    stop_refresher: watch::Sender<bool>,
}

impl std::fmt::Debug for DnsService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsService")
            .field("local_addr", &self.local_addr)
            .field("apex", &self.apex)
            .finish_non_exhaustive()
    }
}

impl DnsService {
    /// Loads what every held number lists, binds `config.listen` over UDP
    /// and TCP (the same port for both, also when it is 0), and serves.
    pub async fn start(config: DnsConfig, store: Store) -> Result<DnsService, DnsError> {
        let apex = Apex::parse(&config.apex).map_err(DnsError::Apex)?;
        let snapshot = Arc::new(RwLock::new(Arc::new(load(&store).await?)));
        let (udp, tcp) = bind_both(config.listen).await?;
        let local_addr = udp.local_addr().map_err(|source| DnsError::Bind {
            addr: config.listen,
            source,
        })?;

        let handler = DirectoryHandler {
            apex: apex.clone(),
            snapshot: snapshot.clone(),
        };
        let mut server = Server::new(handler);
        server.register_socket(udp);
        server.register_listener(tcp, TCP_IDLE, TCP_RESPONSE_BUFFER);

        let (stop_refresher, stopped) = watch::channel(false);
        let refresher = tokio::spawn(refresh(store, snapshot, config.refresh, stopped));
        Ok(DnsService {
            local_addr,
            apex,
            server,
            refresher,
            stop_refresher,
        })
    }

    /// The address queries go to, over UDP and over TCP.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn apex(&self) -> &Apex {
        &self.apex
    }

    /// Stops taking queries, lets those in flight finish (a few seconds at
    /// most), and stops following the store.
    pub async fn stop(mut self) {
        let _ = self.stop_refresher.send(true);
        if tokio::time::timeout(STOP_GRACE, self.server.shutdown_gracefully())
            .await
            .is_err()
        {
            warn!("the DNS directory did not stop within {STOP_GRACE:?}");
        }
        let _ = self.refresher.await;
    }
}

/// UDP and TCP on one port: DNS clients retry a truncated UDP answer over
/// TCP on the same port (RFC 7766). Port 0 picks a port free for both.
async fn bind_both(addr: SocketAddr) -> Result<(UdpSocket, TcpListener), DnsError> {
    let bind_error = |source| DnsError::Bind { addr, source };
    let tries = if addr.port() == 0 { SAME_PORT_TRIES } else { 1 };
    let mut last = None;
    for _ in 0..tries {
        let udp = UdpSocket::bind(addr).await.map_err(bind_error)?;
        let bound = udp.local_addr().map_err(bind_error)?;
        match TcpListener::bind(bound).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(err) => last = Some(err),
        }
    }
    Err(bind_error(last.unwrap_or_else(|| {
        io::Error::new(io::ErrorKind::AddrInUse, "no port free for UDP and TCP")
    })))
}

async fn load(store: &Store) -> Result<Snapshot, StoreError> {
    // The version first: a change between the two reads is then seen as a
    // newer version at the next look, and loaded again.
    let version = store.directory_version().await?;
    let listings = store.directory_listings().await?;
    Ok(Snapshot::new(version, &listings))
}

/// Reloads the snapshot whenever the store's directory version moves
/// (checked every `every`), until told to stop. A store that fails is
/// retried at the next tick; the last good snapshot keeps serving.
async fn refresh(
    store: Store,
    snapshot: Arc<RwLock<Arc<Snapshot>>>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.changed() => return,
        }
        let current = current(&snapshot).version;
        let version = match store.directory_version().await {
            Ok(version) => version,
            Err(err) => {
                if !failing {
                    warn!(error = %err, "the DNS directory cannot read the store; answering from its last copy");
                }
                failing = true;
                continue;
            }
        };
        if version == current && !failing {
            continue;
        }
        match load(&store).await {
            Ok(fresh) => {
                debug!(
                    version = fresh.version,
                    numbers = fresh.len(),
                    "DNS directory reloaded"
                );
                if failing {
                    info!("the DNS directory reads the store again");
                }
                failing = false;
                *snapshot.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(fresh);
            }
            Err(err) => {
                if !failing {
                    warn!(error = %err, "the DNS directory cannot read the store; answering from its last copy");
                }
                failing = true;
            }
        }
    }
}

fn current(snapshot: &RwLock<Arc<Snapshot>>) -> Arc<Snapshot> {
    // A writer only swaps an Arc, so a poisoned lock still holds a whole
    // snapshot.
    snapshot.read().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Answers every query from the current snapshot; never touches the store.
struct DirectoryHandler {
    apex: Apex,
    snapshot: Arc<RwLock<Arc<Snapshot>>>,
}

#[async_trait::async_trait]
impl RequestHandler for DirectoryHandler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let response_edns = request.edns.as_ref().map(|asked| {
            let mut edns = Edns::new();
            edns.set_max_payload(asked.max_payload().max(512));
            edns.set_version(0);
            edns
        });
        let builder = || {
            let mut builder = MessageResponseBuilder::from_message_request(request);
            if let Some(edns) = &response_edns {
                builder.edns(edns);
            }
            builder
        };
        let refuse = |code: ResponseCode| builder().error_msg(&request.metadata, code);

        let sent = if request.edns.as_ref().is_some_and(|e| e.version() > 0) {
            response_handle
                .send_response(refuse(ResponseCode::BADVERS))
                .await
        } else if request.metadata.op_code != OpCode::Query {
            response_handle
                .send_response(refuse(ResponseCode::NotImp))
                .await
        } else {
            match request.request_info() {
                // Not exactly one question.
                Err(_) => {
                    response_handle
                        .send_response(refuse(ResponseCode::FormErr))
                        .await
                }
                Ok(info) => {
                    let query = info.query;
                    let class = query.query_class();
                    if class != DNSClass::IN && class != DNSClass::ANY {
                        response_handle
                            .send_response(refuse(ResponseCode::Refused))
                            .await
                    } else {
                        let snapshot = current(&self.snapshot);
                        let zone = Zone {
                            apex: &self.apex,
                            snapshot: &snapshot,
                        };
                        let name = Name::from(query.name().clone());
                        let answer =
                            zone.answer(&name, query.original().name(), query.query_type());
                        let metadata = response_metadata(&request.metadata, &answer);
                        let Answer {
                            answers, authority, ..
                        } = &answer;
                        response_handle
                            .send_response(builder().build(
                                metadata,
                                answers.iter(),
                                std::iter::empty(),
                                authority.iter(),
                                std::iter::empty(),
                            ))
                            .await
                    }
                }
            }
        };
        match sent {
            Ok(info) => info,
            Err(err) => {
                debug!(error = %err, "a DNS answer could not be sent");
                let mut metadata = Metadata::response_from_request(&request.metadata);
                metadata.response_code = ResponseCode::ServFail;
                ResponseInfo::from(hickory_server::proto::op::Header {
                    metadata,
                    counts: Default::default(),
                })
            }
        }
    }
}

fn response_metadata(request: &Metadata, answer: &Answer) -> Metadata {
    let mut metadata = Metadata::response_from_request(request);
    metadata.authoritative = answer.authoritative;
    metadata.response_code = answer.code;
    metadata
}
