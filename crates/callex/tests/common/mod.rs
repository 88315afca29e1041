//! Runs the `callex` binary as an operator would, on ephemeral ports of
//! 127.0.0.1, and stops it with SIGTERM. Every wait is bounded.

#![allow(dead_code)] // each test binary uses its own part of this

pub mod calls;

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip::Message;

pub const CALLEX: &str = env!("CARGO_BIN_EXE_callex");

/// How long the binary may take to start, answer or stop.
pub const WITHIN: Duration = Duration::from_secs(20);

/// Runs `callex ARGS --data-dir DIR` to the end.
pub fn run(data_dir: &Path, args: &[&str]) -> Output {
    callex()
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .expect("run callex")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn succeeded(out: Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}; stderr:\n{}",
        out.status.code(),
        stderr(&out)
    );
    stdout(&out)
}

/// A fresh directory under the target's temporary directory.
pub fn scratch_dir(label: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{label}-{}-{nanos}", std::process::id()))
}

/// `callex` with an environment that does not leak the developer's own
/// settings into the test, and the HTTP API and the DNS directory on free
/// ports (tests run in parallel).
pub fn callex() -> Command {
    let mut command = Command::new(CALLEX);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("CALLEX_") {
            command.env_remove(name);
        }
    }
    command
        .env("CALLEX_HTTP_LISTEN", "127.0.0.1:0")
        .env("CALLEX_DNS_LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "info");
    command
}

/// A running `callex serve`; killed if a test fails before stopping it.
pub struct Running {
    child: Child,
    pub udp: SocketAddr,
    pub tcp: SocketAddr,
    pub http: SocketAddr,
    /// The DNS directory, over UDP and TCP.
    pub dns: SocketAddr,
    /// The operator token printed on a first start.
    pub token: Option<String>,
    pub stdout: Vec<String>,
    stderr: Arc<Mutex<String>>,
}

impl Running {
    /// Starts `command` (a `callex serve`) and waits until it says where it
    /// listens.
    pub fn start(mut command: Command) -> Running {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn callex");
        let stderr = collect(child.stderr.take().expect("stderr"));
        let (lines_tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            // Read to the end even when no one listens any more, so that
            // callex never writes into a closed pipe.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines_tx.send(line);
            }
        });
        let mut running = Running {
            child,
            udp: unspecified(),
            tcp: unspecified(),
            http: unspecified(),
            dns: unspecified(),
            token: None,
            stdout: Vec::new(),
            stderr,
        };
        let deadline = Instant::now() + WITHIN;
        let (mut udp, mut tcp, mut http, mut dns) = (None, None, None, None);
        while udp.is_none() || tcp.is_none() || http.is_none() || dns.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = lines.recv_timeout(left) else {
                panic!(
                    "callex did not say where it listens; stdout {:?}, stderr {}",
                    running.stdout,
                    running.stderr()
                );
            };
            if let Some(addr) = line.strip_prefix("listening: SIP over UDP on ") {
                udp = addr.parse().ok();
            }
            if let Some(addr) = line.strip_prefix("listening: SIP over TCP on ") {
                tcp = addr.parse().ok();
            }
            if let Some(addr) = line.strip_prefix("listening: HTTP on ") {
                http = addr.parse().ok();
            }
            if let Some(rest) = line.strip_prefix("listening: DNS over UDP and TCP on ") {
                dns = rest.split(' ').next().and_then(|addr| addr.parse().ok());
            }
            if let Some(rest) = line.strip_prefix("operator API token: ") {
                running.token = rest.split(',').next().map(str::to_owned);
            }
            running.stdout.push(line);
        }
        running.udp = udp.expect("UDP address");
        running.tcp = tcp.expect("TCP address");
        running.http = http.expect("HTTP address");
        running.dns = dns.expect("DNS address");
        running
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn terminate(mut self) -> (ExitStatus, String) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {pid}");
        let status = wait_bounded(&mut self.child).expect("callex exits after SIGTERM");
        // The stderr thread ends at EOF, which follows the exit.
        std::thread::sleep(Duration::from_millis(50));
        (status, self.stderr())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn unspecified() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 0))
}

fn collect(mut from: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = text.clone();
    std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = from.read(&mut chunk) {
            if n == 0 {
                break;
            }
            if let Ok(mut s) = sink.lock() {
                s.push_str(&String::from_utf8_lossy(&chunk[..n]));
            }
        }
    });
    text
}

/// Waits for the child to exit, at most [`WITHIN`].
pub fn wait_bounded(child: &mut Child) -> Option<ExitStatus> {
    let deadline = Instant::now() + WITHIN;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Sends an OPTIONS over UDP and returns the answer.
pub fn options_over_udp(exchange: SocketAddr) -> Message {
    let peer = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP peer");
    peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let local = peer.local_addr().unwrap();
    let options = format!(
        "OPTIONS sip:{exchange} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK-cli-{};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:monitor@example.net>;tag=m1\r\n\
         To: <sip:{exchange}>\r\n\
         Call-ID: cli-{}@127.0.0.1\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n",
        std::process::id(),
        std::process::id()
    );
    peer.send_to(options.as_bytes(), exchange).expect("send");
    let mut buf = vec![0u8; 65_536];
    let (n, _) = peer.recv_from(&mut buf).expect("an answer within 5 s");
    Message::parse_datagram(Bytes::copy_from_slice(&buf[..n])).expect("the answer parses")
}

/// An HTTP answer: the status, the header lines, the body.
#[derive(Debug)]
pub struct HttpReply {
    pub status: u16,
    pub headers: String,
    pub body: String,
}

impl HttpReply {
    /// The value of header `name` (any case), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.lines().find_map(|line| {
            let (field, value) = line.split_once(':')?;
            field.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

/// One HTTP/1.1 request on a fresh connection, with a JSON body if given.
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    json: Option<&str>,
) -> HttpReply {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to the API");
    stream.set_read_timeout(Some(WITHIN)).unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let body = json.unwrap_or_default();
    let content_type = if json.is_some() {
        "Content-Type: application/json\r\n"
    } else {
        ""
    };
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}{content_type}Connection: close\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("send the request");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("an answer");
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let (status_line, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    HttpReply {
        status: status_line
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or(0),
        headers: headers.to_owned(),
        body: body.to_owned(),
    }
}
