//! What the wire tests share: an exchange on ephemeral ports of 127.0.0.1,
//! SIP peers over UDP and TCP, and bounded waits. Every wait has a time
//! limit, so a broken exchange fails a test instead of hanging it.

#![allow(dead_code)] // each test binary uses its own part of this

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use sip::digest::{self, Algorithm};
use sip::framing::{next_frame, Frame};
use sip::message::Framing;
use sip::{HeaderName, Message};
use store::prelude::*;
use switch::{SipConfig, SipService, TcpLimits, Transport, DEFAULT_REALM};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;

/// How long an answer the exchange owes may take on loopback.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// How long to watch for an answer that must not come.
pub const SILENCE: Duration = Duration::from_millis(300);

pub struct Exchange {
    pub service: SipService,
    /// Keeps the exchange's SQLite store alive for the test.
    pub data_dir: tempfile::TempDir,
    pub udp: SocketAddr,
    pub tcp: SocketAddr,
}

pub async fn start() -> Exchange {
    start_with(TcpLimits::default()).await
}

pub async fn start_with(tcp: TcpLimits) -> Exchange {
    start_configured(SipConfig {
        tcp,
        ..local_config()
    })
    .await
}

/// The configuration of a test exchange: ephemeral ports on 127.0.0.1.
/// Both digest algorithms are offered, SHA-256 first, so that tests can
/// answer either.
pub fn local_config() -> SipConfig {
    SipConfig {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        registrar: switch::RegistrarConfig {
            algorithms: vec![Algorithm::Sha256, Algorithm::Md5],
            ..switch::RegistrarConfig::default()
        },
        ..SipConfig::default()
    }
}

/// An exchange with `config` and a fresh store in a temporary directory.
pub async fn start_configured(config: SipConfig) -> Exchange {
    let data_dir = tempfile::tempdir().expect("a temporary data directory");
    let store = store::Store::open(data_dir.path().to_str().expect("a UTF-8 path"))
        .await
        .expect("a store in the temporary directory");
    start_on(config, store, data_dir).await
}

/// A store in a fresh schema of the PostgreSQL test database
/// (`CALLEX_TEST_POSTGRES_URL`, by default the local server's `test`).
pub async fn postgres_store() -> store::Store {
    use sqlx::{Connection, Executor};
    let base = std::env::var("CALLEX_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let mut admin = sqlx::PgConnection::connect(&base)
        .await
        .unwrap_or_else(|e| {
            panic!("these tests need PostgreSQL at {base} (set CALLEX_TEST_POSTGRES_URL): {e}")
        });
    // Schemas of earlier test processes that are gone are dropped here.
    let leftovers: Vec<(String,)> =
        sqlx::query_as("SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'switch_test_%'")
            .fetch_all(&mut admin)
            .await
            .unwrap_or_default();
    for (name,) in leftovers {
        let pid = name.split('_').nth(2).unwrap_or_default();
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = admin
                .execute(format!("DROP SCHEMA IF EXISTS {name} CASCADE").as_str())
                .await;
        }
    }
    let schema = format!(
        "switch_test_{}_{:08x}",
        std::process::id(),
        rand::random::<u32>()
    );
    admin
        .execute(format!("CREATE SCHEMA {schema}").as_str())
        .await
        .expect("a test schema");
    let separator = if base.contains('?') { '&' } else { '?' };
    store::Store::open(&format!("{base}{separator}options[search_path]={schema}"))
        .await
        .expect("the PostgreSQL store")
}

/// An exchange on an existing store (a restart).
pub async fn start_on(
    config: SipConfig,
    store: store::Store,
    data_dir: tempfile::TempDir,
) -> Exchange {
    let service = SipService::start(config, store)
        .await
        .expect("bind 127.0.0.1:0");
    let udp = service.local_addr(Transport::Udp).expect("a UDP socket");
    let tcp = service.local_addr(Transport::Tcp).expect("a TCP socket");
    assert_eq!(udp.port(), tcp.port(), "one port for both transports");
    Exchange {
        service,
        data_dir,
        udp,
        tcp,
    }
}

/// A request as a UA at `via` would send it, with its own branch and
/// Call-ID.
pub fn request(method: &str, transport: &str, via: SocketAddr, call_id: &str) -> String {
    format!(
        "{method} sip:exchange@{via} SIP/2.0\r\n\
         Via: SIP/2.0/{transport} {via};branch=z9hG4bK-{call_id};rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"Alice\" <sip:02-6200-6200-082@example.net>;tag=a73kszlfl\r\n\
         To: <sip:exchange@example.net>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 7 {method}\r\n\
         Contact: <sip:alice@{via}>\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

pub fn unique(label: &str) -> String {
    format!("{label}-{:016x}", rand::random::<u64>())
}

/// A UDP peer on its own ephemeral port.
pub async fn udp_peer() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind a UDP peer")
}

pub async fn recv_message(socket: &UdpSocket) -> Message {
    let mut buf = vec![0u8; 65_536];
    let (n, from) = timeout(ANSWER_WITHIN, socket.recv_from(&mut buf))
        .await
        .expect("an answer within the time limit")
        .expect("receive");
    let _ = from;
    Message::parse_datagram(Bytes::copy_from_slice(&buf[..n])).expect("the answer parses")
}

/// Asserts nothing arrives on `socket` for a short while.
pub async fn assert_silent(socket: &UdpSocket, what: &str) {
    let mut buf = vec![0u8; 65_536];
    if let Ok(Ok((n, from))) = timeout(SILENCE, socket.recv_from(&mut buf)).await {
        panic!(
            "{what}: unexpected {n} bytes from {from}: {:?}",
            String::from_utf8_lossy(&buf[..n])
        );
    }
}

/// Asserts nothing arrives on any of `sockets` for a short while, watched
/// all at once.
pub async fn assert_all_silent<'a>(sockets: impl IntoIterator<Item = (&'a str, &'a UdpSocket)>) {
    tokio::time::sleep(SILENCE).await;
    let mut buf = vec![0u8; 65_536];
    for (what, socket) in sockets {
        if let Ok((n, from)) = socket.try_recv_from(&mut buf) {
            panic!(
                "{what}: unexpected {n} bytes from {from}: {:?}",
                String::from_utf8_lossy(&buf[..n])
            );
        }
    }
}

/// Sends `bytes` from a fresh UDP peer and returns the answer.
pub async fn ask_udp(exchange: SocketAddr, bytes: &[u8]) -> Message {
    let peer = udp_peer().await;
    peer.send_to(bytes, exchange).await.expect("send");
    recv_message(&peer).await
}

/// A TCP peer reading what the exchange writes, message by message.
pub struct StreamPeer {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl StreamPeer {
    pub async fn connect(exchange: SocketAddr) -> StreamPeer {
        let stream = timeout(ANSWER_WITHIN, TcpStream::connect(exchange))
            .await
            .expect("connect within the time limit")
            .expect("connect");
        StreamPeer {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.stream.local_addr().expect("local address")
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// The next message, or `None` if the exchange closed the connection.
    pub async fn next_message(&mut self) -> Option<Message> {
        loop {
            match next_frame(&self.buf, 65_535) {
                Frame::Message(n) => {
                    let frame: Vec<u8> = self.buf.drain(..n).collect();
                    return Some(
                        Message::parse(Bytes::from(frame), Framing::Stream)
                            .expect("the exchange writes parseable messages"),
                    );
                }
                Frame::Ping(n) | Frame::Skip(n) => {
                    self.buf.drain(..n);
                }
                Frame::Incomplete => {}
                Frame::Invalid(why) => panic!("the exchange wrote an unframeable stream: {why}"),
            }
            if !self.read_more().await {
                return None;
            }
        }
    }

    /// Reads once into the buffer; false when the connection is closed.
    async fn read_more(&mut self) -> bool {
        let mut chunk = [0u8; 8192];
        match timeout(ANSWER_WITHIN, self.stream.read(&mut chunk))
            .await
            .expect("data or a close within the time limit")
        {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// Waits until the exchange closes the connection (a reset counts),
    /// at most `limit`; the bytes it sent meanwhile are discarded.
    pub async fn closed_within(&mut self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        let mut chunk = [0u8; 8192];
        loop {
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Err(_) => return false,
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => {}
            }
        }
    }

    /// Raw bytes, for what is not a SIP message (a keep-alive pong).
    pub async fn read_exact(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            assert!(self.read_more().await, "connection closed early");
        }
        self.buf.drain(..n).collect()
    }
}

/// Asserts that the exchange answers OPTIONS with 200 over UDP and over TCP.
pub async fn assert_answers_options(exchange: &Exchange) {
    let peer = udp_peer().await;
    let call_id = unique("alive-udp");
    let options = request("OPTIONS", "UDP", peer.local_addr().unwrap(), &call_id);
    peer.send_to(options.as_bytes(), exchange.udp)
        .await
        .unwrap();
    let ok = recv_message(&peer).await;
    assert_eq!(ok.status(), Some(200), "OPTIONS over UDP");
    assert_eq!(ok.call_id(), Some(call_id.as_str()));

    let mut tcp = StreamPeer::connect(exchange.tcp).await;
    let call_id = unique("alive-tcp");
    let options = request("OPTIONS", "TCP", tcp.local_addr(), &call_id);
    tcp.send(options.as_bytes()).await;
    let ok = tcp.next_message().await.expect("an answer over TCP");
    assert_eq!(ok.status(), Some(200), "OPTIONS over TCP");
    assert_eq!(ok.call_id(), Some(call_id.as_str()));
}

pub fn header(msg: &Message, name: HeaderName) -> &str {
    msg.header(name)
        .unwrap_or_else(|| panic!("{name} missing in {msg:?}"))
}

/// A member holding `number`, with SIP password `password`.
pub async fn add_member(store: &Store, number: &str, password: &str) {
    let member = store
        .add_member(&NewMember {
            kind: MemberKind::Individual,
            display_name: format!("Member {number}"),
            email: None,
            country: "KR".into(),
        })
        .await
        .expect("add a member");
    store
        .grant(number, NumberKind::Pin, member.id)
        .await
        .expect("grant the number");
    let sha = digest::ha1(Algorithm::Sha256, number, DEFAULT_REALM, password);
    let md5 = digest::ha1(Algorithm::Md5, number, DEFAULT_REALM, password);
    store
        .set_password_ha1s(
            number,
            DEFAULT_REALM,
            &[(Algorithm::Sha256, &sha), (Algorithm::Md5, &md5)],
        )
        .await
        .expect("set the SIP password");
}

/// A phone registering `number` over UDP from its own port.
pub struct Phone {
    pub socket: UdpSocket,
    pub number: String,
    call_id: String,
    cseq: u32,
}

pub const REQUEST_URI: &str = "sip:callex.test";

impl Phone {
    pub async fn new(number: &str) -> Phone {
        Phone {
            socket: udp_peer().await,
            number: number.to_owned(),
            call_id: unique("reg"),
            cseq: 0,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.socket.local_addr().unwrap()
    }

    /// A REGISTER with these extra header lines (Contact, Expires, …).
    pub fn register(&mut self, headers: &[String], authorization: Option<&str>) -> String {
        self.cseq += 1;
        let via = self.addr();
        let mut msg = format!(
            "REGISTER {REQUEST_URI} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {via};branch=z9hG4bK-{}-{};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:{n}@callex.test>;tag=ph{}\r\n\
             To: <sip:{n}@callex.test>\r\n\
             Call-ID: {}\r\n\
             CSeq: {} REGISTER\r\n\
             User-Agent: registrar-test\r\n",
            self.call_id,
            self.cseq,
            self.cseq,
            self.call_id,
            self.cseq,
            n = self.number,
        );
        for header in headers {
            msg.push_str(header);
            msg.push_str("\r\n");
        }
        if let Some(authorization) = authorization {
            msg.push_str(&format!("Authorization: {authorization}\r\n"));
        }
        msg.push_str("Content-Length: 0\r\n\r\n");
        msg
    }

    pub async fn send(&mut self, exchange: SocketAddr, msg: &str) -> Message {
        self.socket.send_to(msg.as_bytes(), exchange).await.unwrap();
        recv_message(&self.socket).await
    }

    /// REGISTER, 401, REGISTER with credentials of `algorithm`: the answer.
    pub async fn register_with(
        &mut self,
        exchange: SocketAddr,
        headers: &[String],
        algorithm: Algorithm,
        password: &str,
    ) -> Message {
        let first = self.register(headers, None);
        let challenged = self.send(exchange, &first).await;
        assert_eq!(challenged.status(), Some(401), "{challenged:?}");
        let challenge = challenged
            .headers(HeaderName::WwwAuthenticate)
            .filter_map(|v| digest::Challenge::parse(v).ok())
            .find(|c| c.algorithm == algorithm)
            .expect("a challenge for the algorithm");
        let authorization = digest::respond(
            &challenge,
            "REGISTER",
            REQUEST_URI,
            &self.number,
            password,
            "0a4f113b",
            1,
        )
        .unwrap();
        let second = self.register(headers, Some(&authorization));
        self.send(exchange, &second).await
    }
}

/// Sends the exchange bad input of every kind, over UDP and TCP: empty and
/// random datagrams, half messages, invalid UTF-8, oversize datagrams,
/// single-byte mutations of a good request, and streams of random bytes or
/// half a message then a close. Deterministic for a seed.
pub async fn throw_garbage(exchange: &Exchange, seed: u64) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let options = request(
        "OPTIONS",
        "UDP",
        "127.0.0.1:5999".parse().unwrap(),
        "garbage",
    );
    let half = &options.as_bytes()[..options.len() / 2];
    let mut invalid_utf8 = options.clone().into_bytes();
    invalid_utf8.splice(30..30, [0xff, 0xfe, 0xc3, 0x28, 0x80]);
    let mut datagrams: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"\r\n\r\n".to_vec(),
        half.to_vec(),
        invalid_utf8.clone(),
        b"SIP/2.0 200\r\n\r\n".to_vec(),
        b"INVITE\0sip:\0 SIP/2.0\r\n\r\n".to_vec(),
        vec![0u8; 65_507],
    ];
    for _ in 0..200 {
        let len = rng.gen_range(1..1500);
        datagrams.push((0..len).map(|_| rng.gen()).collect());
    }
    // Mutations of a good message: each byte flipped somewhere.
    for _ in 0..200 {
        let mut m = options.clone().into_bytes();
        let at = rng.gen_range(0..m.len());
        m[at] = rng.gen();
        datagrams.push(m);
    }
    let garbler = udp_peer().await;
    for datagram in &datagrams {
        garbler.send_to(datagram, exchange.udp).await.unwrap();
    }

    // Over TCP, each on its own connection: random bytes, half a message
    // then a close, and invalid UTF-8 in a framed message.
    let mut streams: Vec<Vec<u8>> = vec![half.to_vec(), invalid_utf8];
    for _ in 0..20 {
        let len = rng.gen_range(1..4000);
        streams.push((0..len).map(|_| rng.gen()).collect());
    }
    for bytes in &streams {
        let mut peer = StreamPeer::connect(exchange.tcp).await;
        // The exchange may close first; what matters is that it goes on.
        let _ = peer.stream.write_all(bytes).await;
        let _ = peer.stream.shutdown().await;
    }
}
