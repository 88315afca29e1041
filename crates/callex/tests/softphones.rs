//! Two real softphones call each other through the `callex` binary, and
//! audio flows both ways; and a softphone registers with the provisioning
//! profile it downloaded from the API, and is listed among the number's
//! devices.
//!
//! The softphones are baresip (Debian's `baresip` / `baresip-core`), run
//! headless: no sound card, the `aufile` module plays a WAV file holding a
//! tone as the microphone, and the `sndfile` filter records what each phone
//! decodes from the RTP it receives. The caller sends 440 Hz, the callee
//! 660 Hz; each recording must hold seconds of the other phone's tone (and
//! not its own), so signalling alone does not pass. Afterwards the exchange
//! must show one answered call in `callex cdr list`.
//!
//! Needs `baresip` on the PATH (`apt-get install -y baresip`; `./scripts/test`
//! installs it). Without it this test fails rather than skips. All traffic
//! stays on 127.0.0.1, every wait is bounded and every process is killed
//! when the test ends, passed or failed.

mod common;

use std::fs::File;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use common::calls::{Exchange, Member};
use common::{http_request, wait_bounded};

const CALLER_TONE_HZ: f64 = 440.0;
const CALLEE_TONE_HZ: f64 = 660.0;
/// G.711 (PCMU) runs at 8 kHz; the tone files and the recordings do too.
const RATE: u32 = 8_000;
/// How long the call stays up once both phones say it is established.
const TALK: Duration = Duration::from_secs(3);
/// Bound on each step on the wire (register, answer, hang up).
const STEP: Duration = Duration::from_secs(15);

fn baresip_is_installed() {
    let found = Command::new("baresip")
        .arg("-h")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if let Err(e) = found {
        panic!(
            "baresip is not installed ({e}): install it with `apt-get install -y baresip` \
             (Debian/Ubuntu; `./scripts/test` does it) — this test calls between two baresip \
             softphones through callex and does not skip"
        );
    }
}

/// Where baresip's modules are: Debian's path, or a local build's.
fn baresip_modules() -> PathBuf {
    let candidates = [
        "/usr/lib/baresip/modules",
        "/usr/local/lib/baresip/modules",
        "/usr/lib/x86_64-linux-gnu/baresip/modules",
        "/usr/lib/aarch64-linux-gnu/baresip/modules",
    ];
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|dir| MODULES.iter().all(|m| dir.join(m).is_file()))
        .unwrap_or_else(|| {
            panic!(
                "baresip's modules {MODULES:?} are not in any of {candidates:?}: install \
                 them with `apt-get install -y baresip baresip-core`"
            )
        })
}

/// The baresip modules each phone loads: the console on standard input,
/// G.711, a WAV file as microphone, the recorder, accounts and commands.
const MODULES: [&str; 6] = [
    "stdio.so",
    "g711.so",
    "aufile.so",
    "sndfile.so",
    "account.so",
    "menu.so",
];

/// A mono 16-bit WAV file of a sine at `hz`, `seconds` long.
fn write_tone(path: &Path, hz: f64, seconds: u32) {
    let samples = RATE * seconds;
    let mut wav = Vec::with_capacity(44 + 2 * samples as usize);
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + 2 * samples).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&RATE.to_le_bytes());
    wav.extend_from_slice(&(2 * RATE).to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&(2 * samples).to_le_bytes());
    for n in 0..samples {
        let phase = 2.0 * std::f64::consts::PI * hz * f64::from(n) / f64::from(RATE);
        let sample = (8_000.0 * phase.sin()).round() as i16;
        wav.extend_from_slice(&sample.to_le_bytes());
    }
    std::fs::write(path, wav).expect("write the tone file");
}

/// A member's phone line: the member whose number it registers, the tone
/// it sends, and whether it answers calls at once.
struct Line<'a> {
    member: &'a Member,
    tone_hz: f64,
    auto_answer: bool,
}

/// One baresip softphone with its own configuration directory, its output
/// in `DIR/baresip.log`, its commands on standard input (the `stdio` UI).
struct Phone {
    label: &'static str,
    dir: PathBuf,
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Phone {
    fn start(
        label: &'static str,
        modules: &Path,
        dir: PathBuf,
        exchange: SocketAddr,
        line: Line,
    ) -> Phone {
        let Line {
            member: Member {
                number, password, ..
            },
            tone_hz,
            auto_answer,
        } = line;
        // It goes into baresip's account line, where ; > , would cut it.
        assert!(
            !password.is_empty() && password.bytes().all(|b| b.is_ascii_alphanumeric()),
            "an alphanumeric SIP password: {password:?}"
        );
        let answermode = if auto_answer { "auto" } else { "manual" };
        let account = format!(
            "<sip:{number}@{exchange};transport=udp>;auth_pass={password};regint=600;\
             audio_codecs=pcmu;answermode={answermode}\n"
        );
        Phone::with_account(label, modules, dir, tone_hz, &account)
    }

    /// A phone with `account` as its whole `accounts` file.
    fn with_account(
        label: &'static str,
        modules: &Path,
        dir: PathBuf,
        tone_hz: f64,
        account: &str,
    ) -> Phone {
        std::fs::create_dir_all(dir.join("received")).expect("create the phone's directory");
        let tone = dir.join("tone.wav");
        write_tone(&tone, tone_hz, 30);
        let config = format!(
            "poll_method epoll\n\
             sip_listen 127.0.0.1:0\n\
             net_interface 127.0.0.1\n\
             dns_server 127.0.0.1:53\n\
             call_local_timeout 20\n\
             audio_source aufile,{tone}\n\
             audio_player nil\n\
             audio_alert nil\n\
             rtp_ports 20000-39999\n\
             rtp_stats yes\n\
             statmode_default off\n\
             module_path {modules}\n\
             module stdio.so\n\
             module g711.so\n\
             module aufile.so\n\
             module sndfile.so\n\
             module_tmp account.so\n\
             module_app menu.so\n\
             snd_path {received}\n",
            tone = tone.display(),
            modules = modules.display(),
            received = dir.join("received").display(),
        );
        std::fs::write(dir.join("config"), config).expect("write config");
        std::fs::write(dir.join("accounts"), account).expect("write accounts");
        std::fs::write(dir.join("contacts"), "").expect("write contacts");

        let log = File::create(dir.join("baresip.log")).expect("create the phone's log");
        let mut child = Command::new("baresip")
            .arg("-f")
            .arg(&dir)
            // Its own bound: it quits even if this test is killed outright.
            .args(["-t", "120"])
            .stdin(Stdio::piped())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start baresip for the {label}: {e}"));
        let stdin = child.stdin.take();
        Phone {
            label,
            dir,
            child,
            stdin,
        }
    }

    fn log(&self) -> String {
        std::fs::read(self.dir.join("baresip.log"))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Types a command into baresip's console.
    fn command(&mut self, line: &str) {
        let typed = self.stdin.as_mut().map(|s| {
            s.write_all(format!("{line}\n").as_bytes())
                .and_then(|_| s.flush())
        });
        if !matches!(typed, Some(Ok(()))) {
            panic!(
                "the {} took no command {line:?}:\n{}",
                self.label,
                self.log()
            );
        }
    }

    /// Waits (at most `within`) until the phone's output shows `needle`;
    /// an error at once if it shows one of `failures` first.
    fn expect(&self, needle: &str, failures: &[&str], within: Duration) -> Result<(), String> {
        let deadline = Instant::now() + within;
        loop {
            let log = self.log();
            if log.contains(needle) {
                return Ok(());
            }
            if let Some(failure) = failures.iter().find(|f| log.contains(**f)) {
                return Err(format!("the {} shows {failure:?}", self.label));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "the {} shows no {needle:?} in {within:?}",
                    self.label
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Asks baresip to quit and waits for it (bounded); true if it exited.
    fn quit(&mut self) -> bool {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"/quit\n");
            let _ = stdin.flush();
        }
        wait_bounded(&mut self.child).is_some()
    }

    /// The RTP packets baresip counted when the call ended: (sent, received).
    fn packet_counts(&self) -> Option<(u64, u64)> {
        let log = self.log();
        let line = log
            .lines()
            .find(|l| l.trim_start().starts_with("packets:"))?;
        let mut numbers = line
            .split_whitespace()
            .skip(1)
            .map(|n| n.parse::<u64>().ok());
        Some((numbers.next()??, numbers.next()??))
    }

    /// The file the `sndfile` filter wrote with the audio this phone
    /// received (decoded).
    fn received_recording(&self) -> Option<PathBuf> {
        let mut found: Vec<PathBuf> = std::fs::read_dir(self.dir.join("received"))
            .ok()?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.to_string_lossy().ends_with("-dec.wav"))
            .collect();
        found.sort();
        found.pop()
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The last lines of `text` without terminal colours, for failure
/// messages.
fn tail(text: &str, lines: usize) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters, ended by a letter.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    let all: Vec<&str> = plain.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn report(exchange: &Exchange, phones: &[&Phone]) -> String {
    let mut out = String::new();
    for phone in phones {
        out.push_str(&format!(
            "\n--- {} ({}) ---\n{}\n",
            phone.label,
            phone.dir.display(),
            tail(&phone.log(), 80)
        ));
    }
    out.push_str(&format!("\n--- callex log ---\n{}\n", exchange.log_tail()));
    out
}

/// The 16-bit mono samples of a WAV file at [`RATE`]. A file cut short
/// (its writer killed) still gives what it holds.
fn read_wav(path: &Path) -> Result<Vec<i16>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    if bytes.len() < 12 || &bytes[..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(format!("{} is not a WAV file", path.display()));
    }
    let mut at = 12;
    let mut format_ok = false;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let declared = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        let body = &bytes[at + 8..];
        if id == b"fmt " && body.len() >= 16 {
            let u16_at = |i: usize| u16::from_le_bytes([body[i], body[i + 1]]);
            let rate = u32::from_le_bytes(body[4..8].try_into().unwrap());
            let (encoding, channels, bits) = (u16_at(0), u16_at(2), u16_at(14));
            if (encoding, channels, rate, bits) != (1, 1, RATE, 16) {
                return Err(format!(
                    "{}: PCM {encoding}, {channels} channel(s), {rate} Hz, {bits} bits; \
                     expected PCM mono {RATE} Hz 16 bits",
                    path.display()
                ));
            }
            format_ok = true;
        }
        if id == b"data" {
            if !format_ok {
                return Err(format!("{}: data before fmt", path.display()));
            }
            let len = if declared == 0 || declared > body.len() {
                body.len()
            } else {
                declared
            };
            return Ok(body[..len & !1]
                .chunks_exact(2)
                .map(|s| i16::from_le_bytes([s[0], s[1]]))
                .collect());
        }
        at += 8 + declared + (declared & 1);
    }
    Err(format!("{}: no data chunk", path.display()))
}

/// The amplitude of the `hz` component of `samples` (Goertzel).
fn tone_amplitude(samples: &[i16], hz: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let coefficient = 2.0 * (2.0 * std::f64::consts::PI * hz / f64::from(RATE)).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = f64::from(x) + coefficient * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coefficient * s1 * s2;
    2.0 * power.max(0.0).sqrt() / samples.len() as f64
}

/// What a phone heard: seconds recorded, seconds of sound (20 ms frames
/// above an RMS of 1000), and the amplitudes of the two tones in the sound.
struct Heard {
    seconds: f64,
    sound_seconds: f64,
    peer_tone: f64,
    own_tone: f64,
}

fn listen(samples: &[i16], peer_hz: f64, own_hz: f64) -> Heard {
    let frame = (RATE / 50) as usize;
    let sound: Vec<i16> = samples
        .chunks(frame)
        .filter(|f| {
            let energy: f64 = f.iter().map(|&x| f64::from(x).powi(2)).sum();
            (energy / f.len() as f64).sqrt() > 1_000.0
        })
        .flatten()
        .copied()
        .collect();
    Heard {
        seconds: samples.len() as f64 / f64::from(RATE),
        sound_seconds: sound.len() as f64 / f64::from(RATE),
        peer_tone: tone_amplitude(&sound, peer_hz),
        own_tone: tone_amplitude(&sound, own_hz),
    }
}

#[test]
fn two_baresip_softphones_call_through_callex_and_hear_each_other() {
    baresip_is_installed();
    let modules = baresip_modules();
    let mut exchange = Exchange::start("softphones", &["--log", "info,switch=debug"]);
    let (caller_member, callee_member) = (exchange.member("A"), exchange.member("B"));
    let (caller_number, callee_number) = (&caller_member.number, &callee_member.number);

    let mut callee = Phone::start(
        "callee",
        &modules,
        exchange.dir().join("callee"),
        exchange.sip(),
        Line {
            member: &callee_member,
            tone_hz: CALLEE_TONE_HZ,
            auto_answer: true,
        },
    );
    let mut caller = Phone::start(
        "caller",
        &modules,
        exchange.dir().join("caller"),
        exchange.sip(),
        Line {
            member: &caller_member,
            tone_hz: CALLER_TONE_HZ,
            auto_answer: false,
        },
    );
    // baresip's line for a 200 to its REGISTER over UDP/IPv4.
    let registered = "{0/UDP/v4} 200 OK";
    for phone in [&callee, &caller] {
        if let Err(e) = phone.expect(registered, &["reg: "], STEP) {
            panic!(
                "the {} registers with callex: {e}{}",
                phone.label,
                report(&exchange, &[&caller, &callee])
            );
        }
    }

    caller.command(&format!("/dial sip:{callee_number}@{}", exchange.sip()));
    // The caller gives up on a final error ("session closed: 4xx"); the
    // callee, auto-answering, must see the call established too.
    for phone in [&caller, &callee] {
        if let Err(e) = phone.expect("Call established", &["session closed"], STEP) {
            panic!(
                "the call is established: {e}{}",
                report(&exchange, &[&caller, &callee])
            );
        }
    }
    // The callee is called by the exchange (leg B) and sees the caller's
    // number.
    let established = callee
        .log()
        .lines()
        .find(|l| l.contains("Call established"))
        .map(str::to_owned)
        .unwrap_or_default();
    assert!(
        established.contains(&format!("sip:{caller_number}@")),
        "the callee sees the caller's number: {established}{}",
        report(&exchange, &[&caller, &callee])
    );
    std::thread::sleep(TALK);
    caller.command("/hangup");
    // baresip prints the RTP summary once the call is over.
    for phone in [&caller, &callee] {
        if let Err(e) = phone.expect("packets:", &[], STEP) {
            panic!(
                "the call ends on both phones: {e}{}",
                report(&exchange, &[&caller, &callee])
            );
        }
    }
    let counts = [caller.packet_counts(), callee.packet_counts()];
    let exited = [caller.quit(), callee.quit()];
    let diagnostics = report(&exchange, &[&caller, &callee]);
    assert_eq!(
        exited,
        [true, true],
        "both phones quit when told{diagnostics}"
    );

    for ((phone, heard_hz, own_hz), count) in [
        (&caller, CALLEE_TONE_HZ, CALLER_TONE_HZ),
        (&callee, CALLER_TONE_HZ, CALLEE_TONE_HZ),
    ]
    .into_iter()
    .zip(counts)
    {
        let label = phone.label;
        let (sent, received) =
            count.unwrap_or_else(|| panic!("the {label} prints its RTP counts{diagnostics}"));
        // 50 packets a second for ~3 s; at least 2 s of them each way.
        assert!(
            sent >= 100 && received >= 100,
            "the {label} sent {sent} and received {received} RTP packets{diagnostics}"
        );
        let recording = phone
            .received_recording()
            .unwrap_or_else(|| panic!("the {label} recorded what it received{diagnostics}"));
        let samples = read_wav(&recording).unwrap_or_else(|e| panic!("{e}{diagnostics}"));
        let heard = listen(&samples, heard_hz, own_hz);
        eprintln!(
            "the {label} sent {sent} and received {received} RTP packets; its recording holds \
             {:.2} s, {:.2} s of it sound: {heard_hz} Hz at amplitude {:.0}, {own_hz} Hz at {:.0}",
            heard.seconds, heard.sound_seconds, heard.peer_tone, heard.own_tone
        );
        assert!(
            (2.0..=30.0).contains(&heard.seconds) && heard.sound_seconds >= 2.0,
            "the {label} received {:.2} s of audio, {:.2} s of it sound, from the other \
             phone ({}){diagnostics}",
            heard.seconds,
            heard.sound_seconds,
            recording.display()
        );
        // The tones are sent at amplitude 8000; G.711 keeps them close.
        assert!(
            heard.peer_tone > 2_000.0 && heard.own_tone < heard.peer_tone / 10.0,
            "the {label} hears the other phone's {heard_hz} Hz (amplitude {:.0}) and not its own \
             {own_hz} Hz (amplitude {:.0}) in {}{diagnostics}",
            heard.peer_tone,
            heard.own_tone,
            recording.display()
        );
    }

    // The call record: written by the switch when the call ends, read here
    // from the same store while the exchange runs. One call passed
    // authentication: exactly one record, and it is answered.
    let cdr = exchange.one_cdr();
    eprintln!("the call's record: {cdr:?}");
    assert_eq!(cdr.disposition, "answered", "{cdr:#?}");
    assert_eq!(&cdr.caller, caller_number, "the caller in {cdr:#?}");
    assert_eq!(&cdr.callee_dialled, callee_number, "the callee in {cdr:#?}");
    assert!(
        cdr.duration_ms > 1_000,
        "an answered call of ~{TALK:?} lasts more than 1 s: {cdr:#?}"
    );

    drop(caller);
    drop(callee);
    exchange.terminate();
}

#[test]
fn baresip_registers_with_the_profile_it_downloads_and_is_listed_as_a_device() {
    const TOKEN: &str = "cxt_softphones_provisioning_test";
    baresip_is_installed();
    let modules = baresip_modules();
    let mut exchange = Exchange::start("provisioning", &["--admin-token", TOKEN]);
    let member = exchange.member("A");
    let number_path = format!("/api/v1/members/{}/numbers/{}", member.id, member.number);

    let issued = http_request(
        exchange.http(),
        "POST",
        &format!("{number_path}/profile"),
        Some(TOKEN),
        None,
    );
    assert_eq!(issued.status, 201, "{issued:?}");
    let issued: serde_json::Value = serde_json::from_str(&issued.body).expect("JSON");
    let password = issued["sip_password"].as_str().expect("a password");
    assert_ne!(password, member.password, "a new password");
    // The old password stops working at once: the registrar's copy of the
    // credentials follows the store within one poll (100 ms).
    std::thread::sleep(Duration::from_millis(300));
    let (_, refused) = exchange.register_answer(&member);
    assert!(
        matches!(refused.status(), Some(401 | 403)),
        "the old password is refused: {refused:?}"
    );
    let link = issued["link"].as_str().expect("a link");
    let link_path = link
        .strip_prefix(&format!("http://{}", exchange.http()))
        .unwrap_or_else(|| panic!("{link} is on the API's address"));

    let downloaded = http_request(
        exchange.http(),
        "GET",
        &format!("{link_path}?format=baresip"),
        None,
        None,
    );
    assert_eq!(downloaded.status, 200, "{downloaded:?}");
    assert_eq!(downloaded.header("cache-control"), Some("no-store"));
    let account = downloaded.body;
    assert!(
        account.starts_with(&format!(
            "<sip:{}@{};transport=udp>",
            member.number,
            exchange.sip()
        )) && account.contains(&format!("auth_pass={password};")),
        "the account line names the exchange and the new password: {account}"
    );

    let phone = Phone::with_account(
        "phone",
        &modules,
        exchange.dir().join("phone"),
        CALLER_TONE_HZ,
        &account,
    );
    if let Err(e) = phone.expect("{0/UDP/v4} 200 OK", &["reg: "], STEP) {
        panic!(
            "baresip registers with the downloaded profile: {e}{}",
            report(&exchange, &[&phone])
        );
    }

    // The registrar group-commits bindings: the device shows shortly.
    let deadline = Instant::now() + STEP;
    let devices = loop {
        let answer = http_request(
            exchange.http(),
            "GET",
            &format!("{number_path}/devices"),
            Some(TOKEN),
            None,
        );
        assert_eq!(answer.status, 200, "{answer:?}");
        let devices: serde_json::Value = serde_json::from_str(&answer.body).expect("JSON");
        if devices.as_array().is_some_and(|d| !d.is_empty()) || Instant::now() >= deadline {
            break devices;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let devices = devices.as_array().expect("a list");
    assert_eq!(
        devices.len(),
        1,
        "one device: {devices:?}{}",
        report(&exchange, &[&phone])
    );
    let device = &devices[0];
    assert!(
        device["user_agent"]
            .as_str()
            .is_some_and(|ua| ua.contains("baresip")),
        "baresip's user agent: {device}"
    );
    assert_eq!(device["transport"], "udp", "{device}");
    assert!(
        device["contact"]
            .as_str()
            .is_some_and(|c| c.contains(&member.number)),
        "{device}"
    );
    assert!(
        device["source"]
            .as_str()
            .is_some_and(|s| s.starts_with("127.0.0.1:")),
        "{device}"
    );

    let mut phone = phone;
    assert!(phone.quit(), "baresip quits when told");
    drop(phone);
    exchange.terminate();
}
