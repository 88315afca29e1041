//! The number directory of a running `callex serve`, asked the way the
//! world asks it: ENUM NAPTR queries with the real `dig` (Debian's
//! bind9-dnsutils, which `./scripts/test` installs) over UDP and TCP, and
//! the HTTP API and short link with plain HTTP requests.

mod common;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::calls::Exchange;
use common::*;

const TOKEN: &str = "directory-test-token-0001";

/// Alice's number in the exchange of these tests (the first member's):
/// 02-6200-6201-082.
const ALICE: &str = "02-6200-6201-082";
/// Its name under the default apex: the PIN's national digits one per
/// label, least significant first, then its country code and `pin`.
const ALICE_NAME: &str = "1.0.2.6.0.0.2.6.2.0.082.pin.callex.arpa.";

fn require_dig() {
    if let Err(e) = Command::new("dig")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        panic!(
            "dig is not installed ({e}): install it with `apt-get install -y bind9-dnsutils` \
             (Debian/Ubuntu) — these tests ask callex's DNS directory with dig and do not skip"
        );
    }
}

/// What `dig` printed for one question, read from its default output.
#[derive(Debug)]
struct Dig {
    status: String,
    flags: Vec<String>,
    /// The record lines of the answer section, TTL and all.
    answers: Vec<String>,
    authority: Vec<String>,
    output: String,
}

impl Dig {
    fn authoritative(&self) -> bool {
        self.flags.iter().any(|f| f == "aa")
    }
}

/// `dig @127.0.0.1 -p PORT ARGS`, bounded in time, without recursion.
fn dig(dns: SocketAddr, args: &[&str]) -> Dig {
    let out = Command::new("dig")
        .arg(format!("@{}", dns.ip()))
        .args(["-p", &dns.port().to_string()])
        .args(["+norecurse", "+time=2", "+tries=2"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run dig");
    let output = String::from_utf8_lossy(&out.stdout).into_owned();
    let status = output
        .lines()
        .find_map(|line| line.split("status: ").nth(1))
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_default()
        .to_owned();
    let flags = output
        .lines()
        .find_map(|line| line.strip_prefix(";; flags: "))
        .and_then(|rest| rest.split(';').next())
        .map(|flags| flags.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    let section = |title: &str| -> Vec<String> {
        output
            .lines()
            .skip_while(|line| !line.starts_with(title))
            .skip(1)
            .take_while(|line| !line.trim().is_empty())
            .map(str::to_owned)
            .collect()
    };
    Dig {
        status,
        flags,
        answers: section(";; ANSWER SECTION:"),
        authority: section(";; AUTHORITY SECTION:"),
        output,
    }
}

/// Asks until the answer has `count` records: the directory serves an
/// edit within its refresh interval (a tenth of a second).
fn dig_until(dns: SocketAddr, args: &[&str], count: usize) -> Dig {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = dig(dns, args);
        if answer.answers.len() == count || Instant::now() > deadline {
            return answer;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The type and data of a record line (`owner TTL IN TYPE DATA…`), the
/// data's fields separated by single spaces (none of ours has a space).
fn record(line: &str) -> Option<(String, String)> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    match fields.as_slice() {
        [_owner, _ttl, "IN", kind, data @ ..] => Some((kind.to_string(), data.join(" "))),
        _ => None,
    }
}

/// The data of the records of type `kind` in `lines`.
fn data_of(lines: &[String], kind: &str) -> Vec<String> {
    lines
        .iter()
        .filter_map(|line| record(line))
        .filter(|(k, _)| k == kind)
        .map(|(_, data)| data)
        .collect()
}

/// The NAPTR records of an answer as `order pref "flags" "service"
/// "regexp" replacement`.
fn naptrs(answer: &Dig) -> Vec<String> {
    data_of(&answer.answers, "NAPTR")
}

/// An exchange whose first member, Alice, holds 02-6200-6201-082 and lists
/// all three entries through the HTTP API.
fn exchange_with_alice(label: &str, extra: &[&str]) -> Exchange {
    let mut args = vec!["--admin-token", TOKEN];
    args.extend_from_slice(extra);
    let mut exchange = Exchange::start(label, &args);
    let alice = exchange.member("Alice");
    assert_eq!(alice.number, "0262006201082");
    let set = http_request(
        exchange.http(),
        "PUT",
        &format!("/api/v1/members/{}/numbers/{ALICE}/directory", alice.id),
        Some(TOKEN),
        Some(
            r#"{"sip": "sip:alice@example.com", "web": "https://alice.example.com/",
                "email": "alice@example.com"}"#,
        ),
    );
    assert_eq!(set.status, 200, "{}", set.body);
    exchange
}

const ALICES_RECORDS: [&str; 3] = [
    r#"100 10 "u" "E2U+sip" "!^.*$!sip:alice@example.com!" ."#,
    r#"100 20 "u" "E2U+web:https" "!^.*$!https://alice.example.com/!" ."#,
    r#"100 30 "u" "E2U+email:mailto" "!^.*$!mailto:alice@example.com!" ."#,
];

#[test]
fn dig_finds_a_numbers_sip_address_home_page_and_mailbox_over_udp_and_tcp() {
    require_dig();
    let exchange = exchange_with_alice("directory-dig", &[]);
    let dns = exchange.dns();

    for transport in ["+notcp", "+tcp"] {
        let answer = dig_until(dns, &[transport, "NAPTR", ALICE_NAME], 3);
        assert_eq!(answer.status, "NOERROR", "{transport}: {}", answer.output);
        assert!(answer.authoritative(), "{transport}: {}", answer.output);
        assert_eq!(
            naptrs(&answer),
            ALICES_RECORDS,
            "{transport}: {}",
            answer.output
        );
        let expected_transport = if transport == "+tcp" {
            "(TCP)"
        } else {
            "(UDP)"
        };
        assert!(
            answer.output.contains(expected_transport),
            "{transport}: {}",
            answer.output
        );
    }

    // A well-formed number nobody holds: NXDOMAIN, with the SOA saying for
    // how long to remember it.
    let unknown = dig(dns, &["NAPTR", "9.0.2.6.0.0.2.6.2.0.082.pin.callex.arpa."]);
    assert_eq!(unknown.status, "NXDOMAIN", "{}", unknown.output);
    assert!(unknown.authoritative(), "{}", unknown.output);
    assert!(unknown.answers.is_empty());
    assert_eq!(
        data_of(&unknown.authority, "SOA").len(),
        1,
        "{}",
        unknown.output
    );

    // Names outside the directory are not ours to answer.
    for name in ["example.com.", "arpa."] {
        let outside = dig(dns, &["A", name]);
        assert_eq!(outside.status, "REFUSED", "{name}: {}", outside.output);
        assert!(!outside.authoritative());
    }

    // Junk below the apex: labels that are not digits, bytes that are not
    // ASCII, far too many labels. Answered cleanly, over both transports.
    let deep = format!("{}pin.callex.arpa.", "1.".repeat(100));
    for name in [
        "x-y.z.pin.callex.arpa.",
        "\\200\\201.pin.callex.arpa.",
        &deep,
    ] {
        for transport in ["+notcp", "+tcp"] {
            let junk = dig(dns, &[transport, "NAPTR", name]);
            assert_eq!(
                junk.status, "NXDOMAIN",
                "{name} {transport}: {}",
                junk.output
            );
            assert!(junk.answers.is_empty());
        }
    }

    // The held number exists for other types, with no data; so does the
    // tree above it; the apex has its SOA and NS.
    let other_type = dig(dns, &["TXT", ALICE_NAME]);
    assert_eq!(other_type.status, "NOERROR", "{}", other_type.output);
    assert!(other_type.answers.is_empty() && other_type.authoritative());
    let above = dig(dns, &["NAPTR", "082.pin.callex.arpa."]);
    assert_eq!(above.status, "NOERROR", "{}", above.output);
    let soa = dig(dns, &["SOA", "callex.arpa."]);
    let soa = data_of(&soa.answers, "SOA");
    assert!(
        soa.len() == 1 && soa[0].starts_with("ns.callex.arpa. hostmaster.callex.arpa. "),
        "{soa:?}"
    );
    let ns = dig(dns, &["NS", "callex.arpa."]);
    assert_eq!(
        data_of(&ns.answers, "NS"),
        ["ns.callex.arpa."],
        "{}",
        ns.output
    );

    exchange.terminate();
}

#[test]
fn e164_and_vns_numbers_are_named_in_their_own_trees() {
    require_dig();
    let exchange = exchange_with_alice("directory-trees", &[]);
    for (number, entries, name, record) in [
        (
            "+82 2 6200 6200",
            r#"{"sip": "sips:alice@example.com"}"#,
            "0.0.2.6.0.0.2.6.2.2.8.e164.callex.arpa.",
            r#"100 10 "u" "E2U+sip" "!^.*$!sips:alice@example.com!" ."#,
        ),
        (
            "6200-6200#082",
            r#"{"web": "http://acme.example/kr"}"#,
            "082.#.0.0.2.6.0.0.2.6.vns.callex.arpa.",
            r#"100 20 "u" "E2U+web:http" "!^.*$!http://acme.example/kr!" ."#,
        ),
    ] {
        exchange.cli(&["number", "grant", number, "--member", "1"]);
        let path = number
            .replace(' ', "%20")
            .replace('#', "%23")
            .replace('+', "%2B");
        let set = http_request(
            exchange.http(),
            "PUT",
            &format!("/api/v1/members/1/numbers/{path}/directory"),
            Some(TOKEN),
            Some(entries),
        );
        assert_eq!(set.status, 200, "{number}: {}", set.body);
        for transport in ["+notcp", "+tcp"] {
            let answer = dig_until(exchange.dns(), &[transport, "NAPTR", name], 1);
            assert_eq!(answer.status, "NOERROR", "{number}: {}", answer.output);
            assert!(answer.authoritative());
            assert_eq!(naptrs(&answer), [record], "{number}: {}", answer.output);
        }
    }
    // The company's own node, above its branch, exists without data.
    let company = dig(
        exchange.dns(),
        &["NAPTR", "0.0.2.6.0.0.2.6.vns.callex.arpa."],
    );
    assert_eq!(company.status, "NOERROR", "{}", company.output);
    assert!(company.answers.is_empty());
    exchange.terminate();
}

#[test]
fn the_http_api_and_the_short_link_serve_the_same_directory() {
    let exchange = exchange_with_alice("directory-http", &[]);
    let http = exchange.http();

    for written in [ALICE, "0262006201082", "(02)%206200%206201%20082"] {
        let read = http_request(
            http,
            "GET",
            &format!("/api/v1/directory/{written}"),
            None,
            None,
        );
        assert_eq!(read.status, 200, "{written}: {}", read.body);
        let body: serde_json::Value = serde_json::from_str(&read.body).expect("JSON");
        assert_eq!(body["key"], "0262006201082");
        let services: Vec<&str> = body["records"]
            .as_array()
            .expect("records")
            .iter()
            .filter_map(|r| r["service"].as_str())
            .collect();
        assert_eq!(services, ["E2U+sip", "E2U+web:https", "E2U+email:mailto"]);
    }

    let link = http_request(http, "GET", &format!("/n/{ALICE}"), None, None);
    assert_eq!(link.status, 303, "{}", link.body);
    assert_eq!(link.header("location"), Some("https://alice.example.com/"));

    let unknown = http_request(http, "GET", "/n/02-6200-6299-082", None, None);
    assert_eq!(unknown.status, 404);
    assert!(unknown
        .header("content-type")
        .unwrap_or_default()
        .starts_with("text/html"));
    let junk = http_request(http, "GET", "/api/v1/directory/caf%C3%A9", None, None);
    assert_eq!(junk.status, 400, "{}", junk.body);
    assert_eq!(
        junk.header("content-type"),
        Some("application/problem+json")
    );

    exchange.terminate();
}

#[test]
fn the_apex_is_configurable_and_an_edit_is_served_at_once() {
    require_dig();
    let exchange = exchange_with_alice("directory-apex", &["--dns-apex", "Enum.Example.NET"]);
    let dns = exchange.dns();
    let name = "1.0.2.6.0.0.2.6.2.0.082.pin.enum.example.net.";
    let answer = dig_until(dns, &["NAPTR", name], 3);
    assert_eq!(naptrs(&answer), ALICES_RECORDS, "{}", answer.output);
    let default_apex = dig(dns, &["NAPTR", ALICE_NAME]);
    assert_eq!(default_apex.status, "REFUSED", "{}", default_apex.output);

    // Alice keeps only her home page, over plain HTTP.
    let set = http_request(
        exchange.http(),
        "PUT",
        &format!("/api/v1/members/1/numbers/{ALICE}/directory"),
        Some(TOKEN),
        Some(r#"{"web": "http://alice.example.net/"}"#),
    );
    assert_eq!(set.status, 200, "{}", set.body);
    let answer = dig_until(dns, &["NAPTR", name], 1);
    assert_eq!(
        naptrs(&answer),
        [r#"100 20 "u" "E2U+web:http" "!^.*$!http://alice.example.net/!" ."#],
        "{}",
        answer.output
    );
    exchange.terminate();
}

#[test]
fn an_answer_too_long_for_udp_is_truncated_and_dig_gets_it_whole_over_tcp() {
    require_dig();
    let exchange = exchange_with_alice("directory-truncated", &[]);
    let long = format!(
        r#"{{"sip": "sip:{}@example.com", "web": "https://{}.example.com/",
            "email": "{}@example.com"}}"#,
        "b".repeat(200),
        "c".repeat(63),
        "d".repeat(200)
    );
    let set = http_request(
        exchange.http(),
        "PUT",
        &format!("/api/v1/members/1/numbers/{ALICE}/directory"),
        Some(TOKEN),
        Some(&long),
    );
    assert_eq!(set.status, 200, "{}", set.body);
    // Without EDNS a UDP answer holds 512 bytes: the TC bit says there is
    // more, and dig asks again over TCP, on the same port.
    let deadline = Instant::now() + Duration::from_secs(10);
    let truncated = loop {
        let answer = dig(exchange.dns(), &["+noedns", "+ignore", "NAPTR", ALICE_NAME]);
        if answer.flags.iter().any(|f| f == "tc") || Instant::now() > deadline {
            break answer;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        truncated.flags.iter().any(|f| f == "tc"),
        "{}",
        truncated.output
    );
    let whole = dig(exchange.dns(), &["+noedns", "NAPTR", ALICE_NAME]);
    assert!(whole.output.contains("(TCP)"), "{}", whole.output);
    assert_eq!(naptrs(&whole).len(), 3, "{}", whole.output);
    exchange.terminate();
}

#[test]
fn a_taken_dns_port_or_a_bad_apex_is_a_clear_error_and_exit_1() {
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").expect("take a port");
    let addr = taken.local_addr().unwrap();
    for (flags, expected) in [
        (
            vec!["--dns-listen".to_owned(), addr.to_string()],
            format!(
                "cannot listen for DNS on {addr}: Address in use — choose another with \
                 --dns-listen"
            ),
        ),
        (
            vec!["--dns-apex".to_owned(), "not a domain".to_owned()],
            "DNS apex \"not a domain\" is not usable".to_owned(),
        ),
    ] {
        let data_dir = scratch_dir("dns-refused");
        let mut child = callex()
            .args(["serve", "--sip-listen", "127.0.0.1:0"])
            .args(&flags)
            .arg("--data-dir")
            .arg(&data_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run callex");
        let status = wait_bounded(&mut child);
        if status.is_none() {
            let _ = child.kill();
        }
        let out = child.wait_with_output().expect("callex's output");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            status.and_then(|s| s.code()),
            Some(1),
            "{flags:?}: {stderr}"
        );
        assert!(stderr.contains(&expected), "{flags:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        let _ = std::fs::remove_dir_all(&data_dir);
    }
}
