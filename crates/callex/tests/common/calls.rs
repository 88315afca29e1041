//! Calls through the `callex` binary with SIPp as the phones: an exchange
//! on ephemeral ports of 127.0.0.1 with its own data directory, members
//! provisioned with the CLI, callees registered from the port their SIPp
//! uas then answers on, SIPp runs bounded in time and killed on drop, and
//! the CDRs read back with `callex cdr list --json`.
//!
//! Needs `sipp` on the PATH (Debian/Ubuntu: `apt-get install -y
//! sip-tester`); without it the tests fail rather than skip.

use std::fs::File;
use std::io::Read;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Deserialize;
use sip::digest;
use sip::{HeaderName, Message};

use super::{callex, scratch_dir, wait_bounded, Running, WITHIN};

/// The scenarios of `tests/sipp/`.
pub const SCENARIOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sipp");

/// SIPp's own bound (`-timeout`) for a run of a few calls; the process is
/// killed if it outlives that by [`SIPP_GRACE`].
pub const SIPP_TIMEOUT: Duration = Duration::from_secs(20);
const SIPP_GRACE: Duration = Duration::from_secs(10);

/// Fails the test when SIPp is missing: a green run always means SIPp
/// talked to Callex.
pub fn require_sipp() {
    if let Err(e) = Command::new("sipp")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        panic!(
            "sipp is not installed ({e}): install it with `apt-get install -y sip-tester` \
             (Debian/Ubuntu) — these tests run SIPp against callex and do not skip"
        );
    }
}

/// A UDP port of 127.0.0.1 that was free a moment ago.
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free UDP port")
        .port()
}

/// A member with a number and its SIP password.
#[derive(Debug, Clone)]
pub struct Member {
    pub id: String,
    /// The number in digits: also the SIP username.
    pub number: String,
    pub password: String,
}

/// One line of `callex cdr list --json`.
#[derive(Debug, Clone, Deserialize)]
pub struct Cdr {
    pub call_id: String,
    pub node: String,
    pub a_leg_call_id: String,
    pub b_leg_call_id: Option<String>,
    pub caller: String,
    pub callee_dialled: String,
    pub start_at: i64,
    pub answer_at: Option<i64>,
    pub end_at: i64,
    pub duration_ms: i64,
    pub disposition: String,
    pub sip_code: Option<u16>,
    /// How the dial string was read, or why the call was refused.
    pub decision: Option<String>,
}

/// `callex serve` with its data and the logs of one test (SIPp's, a
/// softphone's) under one scratch directory, kept when the test fails.
pub struct Exchange {
    running: Option<Running>,
    dir: PathBuf,
    data_dir: PathBuf,
    members: u32,
}

impl Exchange {
    /// `callex serve` on 127.0.0.1 port 0 with `extra` flags. It challenges
    /// with MD5 alone by default, which the phones need: SIPp and Debian's
    /// baresip 1.0 answer only the first challenge, and only MD5.
    pub fn start(label: &str, extra: &[&str]) -> Exchange {
        let dir = scratch_dir(label);
        let data_dir = dir.join("data");
        std::fs::create_dir_all(dir.join("sipp")).expect("create the SIPp log directory");
        let mut command = callex();
        command
            .args(["serve", "--sip-listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data_dir)
            .args(extra);
        Exchange {
            running: Some(Running::start(command)),
            dir,
            data_dir,
            members: 0,
        }
    }

    fn running(&self) -> &Running {
        self.running.as_ref().expect("callex is running")
    }

    /// The exchange's SIP address over UDP.
    pub fn sip(&self) -> SocketAddr {
        self.running().udp
    }

    /// The exchange's HTTP API.
    pub fn http(&self) -> SocketAddr {
        self.running().http
    }

    /// The exchange's DNS directory, over UDP and TCP.
    pub fn dns(&self) -> SocketAddr {
        self.running().dns
    }

    /// The test's scratch directory (callex's data is in `data/`, SIPp's
    /// logs in `sipp/`), removed after a passing test.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stops callex with SIGTERM and checks that it exits 0.
    pub fn terminate(mut self) {
        let (status, stderr) = self.running.take().expect("callex is running").terminate();
        assert_eq!(
            status.code(),
            Some(0),
            "callex exits 0 on SIGTERM: {stderr}"
        );
    }

    /// The end of callex's log without its colours, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = self.running().stderr();
        let mut plain = String::with_capacity(log.len());
        let mut rest = log.as_str();
        // ANSI SGR sequences: ESC [ parameters m.
        while let Some(at) = rest.find('\x1b') {
            plain.push_str(&rest[..at]);
            rest = &rest[at..];
            rest = rest.find('m').map_or("", |end| &rest[end + 1..]);
        }
        plain.push_str(rest);
        tail(&plain, 6_000)
    }

    /// `callex ARGS --data-dir DIR` against this exchange's store, ended
    /// within [`WITHIN`]; its standard output.
    pub fn cli(&self, args: &[&str]) -> String {
        let mut child = callex()
            .args(args)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run callex");
        // Read while it runs: a long listing must not fill a pipe.
        fn read(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                let _ = pipe.read_to_end(&mut bytes);
                String::from_utf8_lossy(&bytes).into_owned()
            })
        }
        let stdout = read(child.stdout.take().expect("stdout"));
        let stderr = read(child.stderr.take().expect("stderr"));
        let Some(status) = wait_bounded(&mut child) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("callex {args:?} did not finish within {WITHIN:?}");
        };
        let stdout = stdout.join().unwrap_or_default();
        let stderr = stderr.join().unwrap_or_default();
        assert!(
            status.success(),
            "callex {args:?}: exit {:?}\n{stderr}",
            status.code()
        );
        stdout
    }

    /// A new member named `name` holding the next number of this exchange
    /// (`02620062NN082`), as the operator provisions one with the CLI.
    pub fn member(&mut self, name: &str) -> Member {
        self.members += 1;
        let number = format!("02620062{:02}082", self.members);
        let id = self
            .cli(&["member", "add", "--name", name, "--country", "KR"])
            .trim()
            .to_owned();
        assert!(
            id.parse::<i64>().is_ok(),
            "member add prints the id: {id:?}"
        );
        let granted = self.cli(&["number", "grant", &number, "--member", &id]);
        let password = granted
            .lines()
            .find_map(|line| line.strip_prefix("SIP password: "))
            .unwrap_or_else(|| panic!("a SIP password in {granted:?}"))
            .trim()
            .to_owned();
        Member {
            id,
            number,
            password,
        }
    }

    /// Registers `member` from a fresh port of 127.0.0.1 with digest auth
    /// (REGISTER / 401 / REGISTER with credentials / 200) and releases the
    /// port: Callex routes the member's calls to the source of the
    /// REGISTER, so the SIPp uas that then binds that port gets them.
    pub fn register(&self, member: &Member) -> u16 {
        let (port, ok) = self.register_answer(member);
        assert_eq!(ok.status(), Some(200), "REGISTER with credentials: {ok:?}");
        port
    }

    /// The REGISTER of [`register`](Self::register), whatever the final
    /// answer to the one with credentials: the port and that answer.
    pub fn register_answer(&self, member: &Member) -> (u16, Message) {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind the phone's port");
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let port = socket.local_addr().unwrap().port();
        let exchange = self.sip();
        let uri = format!("sip:{exchange}");
        let register = |cseq: u32, authorization: Option<&str>| {
            let mut msg = format!(
                "REGISTER {uri} SIP/2.0\r\n\
                 Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-reg-{port}-{cseq};rport\r\n\
                 Max-Forwards: 70\r\n\
                 From: <sip:{n}@127.0.0.1>;tag=reg{port}\r\n\
                 To: <sip:{n}@127.0.0.1>\r\n\
                 Call-ID: reg-{port}@127.0.0.1\r\n\
                 CSeq: {cseq} REGISTER\r\n\
                 Contact: <sip:{n}@127.0.0.1:{port}>\r\n\
                 Expires: 3600\r\n",
                n = member.number,
            );
            if let Some(authorization) = authorization {
                msg.push_str(&format!("Authorization: {authorization}\r\n"));
            }
            msg.push_str("Content-Length: 0\r\n\r\n");
            msg
        };
        let challenged = final_answer(&socket, exchange, &register(1, None), 1);
        assert_eq!(challenged.status(), Some(401), "{challenged:?}");
        let challenge = digest::pick_challenge(challenged.headers(HeaderName::WwwAuthenticate))
            .expect("an answerable digest challenge");
        let authorization = digest::respond(
            &challenge,
            "REGISTER",
            &uri,
            &member.number,
            &member.password,
            "c0ffee01",
            1,
        )
        .expect("digest credentials");
        let answer = final_answer(&socket, exchange, &register(2, Some(&authorization)), 2);
        (port, answer)
    }

    /// A SIPp run against this exchange, named `name` in its log files.
    pub fn sipp(&self, name: &str, scenario: &str) -> SippCommand {
        require_sipp();
        SippCommand::new(self, name, scenario)
    }

    /// Every CDR, oldest first.
    pub fn cdrs(&self) -> Vec<Cdr> {
        self.cli(&["cdr", "list", "--json"])
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|e| panic!("a CDR ({e}): {line}"))
            })
            .collect()
    }

    /// The CDRs once there are `count` of them (written by the switch's
    /// group commit, so shortly after the calls end), checked to stay at
    /// exactly `count` a moment later.
    pub fn await_cdrs(&self, count: usize) -> Vec<Cdr> {
        let deadline = Instant::now() + WITHIN;
        loop {
            let cdrs = self.cdrs();
            if cdrs.len() >= count {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{count} CDRs within {WITHIN:?}; there are {}: {cdrs:#?}\ncallex log:\n{}",
                cdrs.len(),
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        std::thread::sleep(Duration::from_millis(500));
        let cdrs = self.cdrs();
        assert_eq!(cdrs.len(), count, "exactly one CDR per call: {cdrs:#?}");
        cdrs
    }

    /// The only CDR, once written.
    pub fn one_cdr(&self) -> Cdr {
        self.await_cdrs(1).remove(0)
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        // Stop callex first, then clean up after a passing test only.
        drop(self.running.take());
        if std::thread::panicking() {
            eprintln!(
                "callex data and the test's logs kept in {}",
                self.dir.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Sends `request` and reads answers until the final one for `cseq`.
fn final_answer(socket: &UdpSocket, to: SocketAddr, request: &str, cseq: u32) -> Message {
    socket.send_to(request.as_bytes(), to).expect("send");
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, _) = socket
            .recv_from(&mut buf)
            .unwrap_or_else(|e| panic!("an answer within 5 s ({e}) to\n{request}"));
        let msg =
            Message::parse_datagram(Bytes::copy_from_slice(&buf[..n])).expect("the answer parses");
        let ours = msg
            .header(HeaderName::CSeq)
            .is_some_and(|v| v.split_whitespace().next() == Some(&cseq.to_string()));
        if ours && msg.status().is_some_and(|s| s >= 200) {
            return msg;
        }
    }
}

/// A SIPp command line being put together.
pub struct SippCommand {
    command: Command,
    name: String,
    logs: PathBuf,
    timeout: Duration,
    trace_messages: bool,
}

impl SippCommand {
    fn new(exchange: &Exchange, name: &str, scenario: &str) -> SippCommand {
        let mut command = Command::new("sipp");
        command
            .arg("-sf")
            .arg(Path::new(SCENARIOS).join(scenario))
            .args(["-i", "127.0.0.1", "-t", "u1", "-nostdin"]);
        SippCommand {
            command,
            name: name.to_owned(),
            logs: exchange.dir.join("sipp"),
            timeout: SIPP_TIMEOUT,
            trace_messages: true,
        }
    }

    /// SIPp on 127.0.0.1:`port`: a callee answers on the port its member
    /// registered from.
    pub fn on_port(mut self, port: u16) -> SippCommand {
        self.command.args(["-p", &port.to_string()]);
        self
    }

    /// The caller: `caller` dials `dialled` at `exchange`, from a free
    /// port, with its digest credentials. The digest URI is the
    /// Request-URI (SIPp's default would be `sip:HOST:PORT`). Call-IDs are
    /// `caller-N-PID@127.0.0.1` ([`Sipp::a_leg_call_id`]).
    pub fn calling(mut self, exchange: &Exchange, caller: &Member, dialled: &str) -> SippCommand {
        let sip = exchange.sip();
        self.command
            .arg(sip.to_string())
            .args(["-p", &free_udp_port().to_string()])
            .args(["-s", dialled])
            .args(["-key", "caller", &caller.number])
            .args(["-au", &caller.number, "-ap", &caller.password])
            .args(["-auth_uri", &format!("{dialled}@{sip}")])
            .args(["-cid_str", "caller-%u-%p@%s"]);
        self
    }

    pub fn args(mut self, args: &[&str]) -> SippCommand {
        self.command.args(args);
        self
    }

    /// SIPp's `-timeout` (the process is killed if it runs
    /// [`SIPP_GRACE`] longer).
    pub fn timeout(mut self, timeout: Duration) -> SippCommand {
        self.timeout = timeout;
        self
    }

    /// No `-trace_msg` (for many calls: the log would be megabytes).
    pub fn without_message_log(mut self) -> SippCommand {
        self.trace_messages = false;
        self
    }

    fn log(&self, kind: &str) -> PathBuf {
        self.logs.join(format!("{}_{kind}.log", self.name))
    }

    /// Starts SIPp. Its screens go to `NAME_stdout.log` beside its other
    /// logs.
    pub fn spawn(mut self) -> Sipp {
        let (errors, messages, screen, stderr_log) = (
            self.log("errors"),
            self.log("messages"),
            self.log("screen"),
            self.log("stderr"),
        );
        self.command
            .args(["-timeout", &format!("{}s", self.timeout.as_secs())])
            .arg("-timeout_error")
            .arg("-trace_err")
            .arg("-error_file")
            .arg(&errors)
            .arg("-trace_screen")
            .arg("-screen_file")
            .arg(&screen);
        if self.trace_messages {
            self.command
                .arg("-trace_msg")
                .arg("-message_file")
                .arg(&messages);
        }
        let stdout = File::create(self.log("stdout")).expect("create SIPp's stdout log");
        let stderr = File::create(&stderr_log).expect("create SIPp's stderr log");
        let child = self
            .command
            .current_dir(&self.logs)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("run sipp");
        Sipp {
            child,
            name: self.name,
            deadline: Instant::now() + self.timeout + SIPP_GRACE,
            errors,
            messages,
            screen,
            stderr: stderr_log,
        }
    }
}

/// A running SIPp, killed if dropped before it ends.
pub struct Sipp {
    child: Child,
    name: String,
    deadline: Instant,
    errors: PathBuf,
    messages: PathBuf,
    screen: PathBuf,
    stderr: PathBuf,
}

impl Sipp {
    /// The Call-ID of the `n`th call this caller places (1 for the first).
    pub fn a_leg_call_id(&self, n: u32) -> String {
        format!("caller-{n}-{}@127.0.0.1", self.child.id())
    }

    /// Waits until this uas has bound 127.0.0.1:`port` (SIPp takes a
    /// moment to start, and Callex must not send it the call before), at
    /// most 5 s. Reads the kernel's table rather than trying to bind the
    /// port, which could make SIPp's own bind fail.
    pub fn wait_listening(mut self, port: u16) -> Sipp {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !udp_bound(port) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{}: SIPp exited at start ({status})\n{}",
                    self.name,
                    self.report()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{}: SIPp did not bind 127.0.0.1:{port} within 5 s\n{}",
                self.name,
                self.report()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self
    }

    /// Waits for the end (bounded) and panics with SIPp's logs and
    /// callex's unless every call succeeded (exit status 0).
    pub fn succeeds(mut self, exchange: &Exchange) -> SippLogs {
        let status = self.wait();
        assert!(
            status.is_some_and(|s| s.success()),
            "{}: SIPp {}\n{}\n---- callex log (end):\n{}",
            self.name,
            status.map_or("did not end in time (killed)".to_owned(), |s| s.to_string()),
            self.report(),
            exchange.log_tail()
        );
        SippLogs {
            messages: std::fs::read_to_string(&self.messages).unwrap_or_default(),
        }
    }

    fn wait(&mut self) -> Option<ExitStatus> {
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= self.deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What SIPp says about its run: unexpected messages and errors, its
    /// last statistics screen, and the end of its message trace.
    fn report(&self) -> String {
        let read = |path: &Path| std::fs::read_to_string(path).unwrap_or_default();
        format!(
            "---- SIPp errors ({}):\n{}\n---- SIPp stderr:\n{}\n---- SIPp last screen:\n{}\n---- SIPp messages (end):\n{}",
            self.errors.display(),
            tail(&read(&self.errors), 4_000),
            tail(&read(&self.stderr), 2_000),
            tail(&read(&self.screen), 3_000),
            tail(&read(&self.messages), 8_000),
        )
    }
}

impl Drop for Sipp {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The message trace of a finished SIPp run.
pub struct SippLogs {
    pub messages: String,
}

impl SippLogs {
    /// The value of the first `name:` header line in the trace (for a
    /// uas, the first INVITE it received).
    pub fn first_header(&self, name: &str) -> Option<&str> {
        self.messages.lines().find_map(|line| {
            let (field, value) = line.split_once(':')?;
            field
                .trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim())
        })
    }
}

/// Whether a UDP socket is bound to 127.0.0.1:`port` (Linux: the local
/// address column of /proc/net/udp, `0100007F:PORT` in hexadecimal).
fn udp_bound(port: u16) -> bool {
    let local = format!("0100007F:{port:04X}");
    std::fs::read_to_string("/proc/net/udp")
        .expect("read /proc/net/udp")
        .lines()
        .skip(1)
        .any(|line| line.split_whitespace().nth(1) == Some(local.as_str()))
}

/// At most the last `max` bytes of `text`, cut at a character boundary.
fn tail(text: &str, max: usize) -> String {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_owned()
}
