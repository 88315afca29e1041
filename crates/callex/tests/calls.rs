//! Calls between members through the `callex` binary, with SIPp as the
//! phones (scenarios in `tests/sipp/`): registration with digest auth, a
//! call answered and hung up by either side, cancelled, busy, unanswered
//! until the ring timeout, to an unknown or an unregistered number, with a
//! re-INVITE, and 1,000 calls in a row; each call's CDR read back with
//! `callex cdr list --json`.
//!
//! Each test runs its own `callex serve` on port 0 of 127.0.0.1 and its own
//! SIPp processes on free ports; every wait is bounded. Needs `sipp`
//! (Debian/Ubuntu: `apt-get install -y sip-tester`): without it the tests
//! fail, they do not skip.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::calls::*;

/// Talk time of the answered calls (SIPp `-d`, milliseconds).
const TALK_MS: i64 = 500;
const TALK: &str = "500";

/// The callee side of a call: its member, who registers from the port its
/// SIPp uas then answers on.
struct Callee<'a> {
    member: &'a Member,
    scenario: &'a str,
    args: &'a [&'a str],
}

/// What a call left behind for the checks.
struct Placed {
    /// The Call-ID of the caller's dialog.
    a_leg: String,
    /// The callee's SIPp message trace, when there was a callee.
    callee_trace: Option<SippLogs>,
}

/// One call from `caller` to `dialled` (the caller's scenario with
/// `caller_args`), and the callee's SIPp if there is one. Both SIPp runs
/// must succeed.
fn call(
    exchange: &Exchange,
    caller: &Member,
    dialled: &str,
    scenario: &str,
    caller_args: &[&str],
    callee: Option<Callee<'_>>,
) -> Placed {
    let phone = callee.map(|callee| {
        let port = exchange.register(callee.member);
        exchange
            .sipp("callee", callee.scenario)
            .on_port(port)
            .args(&["-m", "1"])
            .args(callee.args)
            .spawn()
            .wait_listening(port)
    });
    let dialler = exchange
        .sipp("caller", scenario)
        .calling(exchange, caller, dialled)
        .args(&["-m", "1"])
        .args(caller_args)
        .spawn();
    let a_leg = dialler.a_leg_call_id(1);
    dialler.succeeds(exchange);
    Placed {
        a_leg,
        callee_trace: phone.map(|phone| phone.succeeds(exchange)),
    }
}

/// A call that must end before an answer with `status` at the caller.
fn refused(
    exchange: &Exchange,
    caller: &Member,
    dialled: &str,
    status: u16,
    callee: Option<Callee<'_>>,
) -> Placed {
    let status = status.to_string();
    call(
        exchange,
        caller,
        dialled,
        "call_uac_expect.xml",
        &["-set", "expect", &status],
        callee,
    )
}

/// What every CDR of a call from `caller` to `dialled` says.
fn assert_cdr(cdr: &Cdr, caller: &Member, dialled: &str, placed: &Placed, disposition: &str) {
    assert_eq!(cdr.disposition, disposition, "{cdr:#?}");
    assert_eq!(cdr.caller, caller.number, "{cdr:#?}");
    assert_eq!(cdr.callee_dialled, dialled, "{cdr:#?}");
    assert_eq!(cdr.a_leg_call_id, placed.a_leg, "{cdr:#?}");
    assert!(!cdr.call_id.is_empty() && !cdr.node.is_empty(), "{cdr:#?}");
    assert!(cdr.start_at <= cdr.end_at, "{cdr:#?}");
}

/// An answered call that lasted about `talk_ms`, on a B leg of its own:
/// the Call-ID the callee saw, not the caller's.
fn assert_answered(cdr: &Cdr, placed: &Placed, talk_ms: i64) {
    let answer_at = cdr.answer_at.expect("an answer time");
    assert!(
        cdr.start_at <= answer_at && answer_at <= cdr.end_at,
        "{cdr:#?}"
    );
    assert_eq!(cdr.duration_ms, cdr.end_at - answer_at, "{cdr:#?}");
    assert!(
        (talk_ms - 50..talk_ms + 5_000).contains(&cdr.duration_ms),
        "about {talk_ms} ms of talk: {cdr:#?}"
    );
    assert!(matches!(cdr.sip_code, None | Some(200)), "{cdr:#?}");
    let seen = placed
        .callee_trace
        .as_ref()
        .and_then(|trace| trace.first_header("Call-ID"))
        .expect("the callee's INVITE in its trace");
    assert_eq!(cdr.b_leg_call_id.as_deref(), Some(seen), "{cdr:#?}");
    assert_ne!(seen, placed.a_leg, "a B2BUA: the B leg has its own Call-ID");
}

/// A call that ended before an answer with `status`.
fn assert_unanswered(cdr: &Cdr, status: u16) {
    assert_eq!(cdr.sip_code, Some(status), "{cdr:#?}");
    assert_eq!(cdr.answer_at, None, "{cdr:#?}");
    assert_eq!(cdr.duration_ms, 0, "{cdr:#?}");
}

#[test]
fn sipp_registers_with_digest_auth_and_gets_its_calls() {
    let mut exchange = Exchange::start("calls-register", &[]);
    let (alice, bob) = (exchange.member("Alice"), exchange.member("Bob"));
    // REGISTER / 401 / REGISTER with credentials / 200, by SIPp, from the
    // port Bob's phone then answers on.
    let port = free_udp_port();
    let sip = exchange.sip().to_string();
    let register = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../switch/tests/sipp/register_auth.xml"
    );
    exchange
        .sipp("register", register)
        .on_port(port)
        .args(&[&sip, "-m", "1", "-s", &bob.number])
        .args(&["-au", &bob.number, "-ap", &bob.password])
        .spawn()
        .succeeds(&exchange);

    let phone = exchange
        .sipp("callee", "uas_answer.xml")
        .on_port(port)
        .args(&["-m", "1"])
        .spawn()
        .wait_listening(port);
    let dialler = exchange
        .sipp("caller", "call_uac.xml")
        .calling(&exchange, &alice, &bob.number)
        .args(&["-m", "1"])
        .spawn();
    let a_leg = dialler.a_leg_call_id(1);
    dialler.succeeds(&exchange);
    let placed = Placed {
        a_leg,
        callee_trace: Some(phone.succeeds(&exchange)),
    };
    let cdr = exchange.one_cdr();
    assert_cdr(&cdr, &alice, &bob.number, &placed, "answered");
    assert_answered(&cdr, &placed, 0);
}

#[test]
fn a_call_answered_and_hung_up_by_the_caller() {
    let mut exchange = Exchange::start("calls-caller-bye", &[]);
    let (alice, bob) = (exchange.member("Alice"), exchange.member("Bob"));
    let placed = call(
        &exchange,
        &alice,
        &bob.number,
        "call_uac.xml",
        &["-d", TALK],
        Some(Callee {
            member: &bob,
            scenario: "uas_answer.xml",
            args: &[],
        }),
    );
    let cdr = exchange.one_cdr();
    assert_cdr(&cdr, &alice, &bob.number, &placed, "answered");
    assert_answered(&cdr, &placed, TALK_MS);
    assert_eq!(cdr.decision.as_deref(), Some("a PIN"), "{cdr:?}");
    // `cdr list --caller` finds the caller's calls however the number is written.
    let n = &alice.number;
    let written = format!("{}-{}-{}-{}", &n[..2], &n[2..6], &n[6..10], &n[10..]);
    let listed = exchange.cli(&["cdr", "list", "--json", "--caller", &written]);
    assert_eq!(listed.lines().count(), 1, "{written}: {listed}");
    let listed = exchange.cli(&["cdr", "list", "--json", "--caller", &bob.number]);
    assert_eq!(listed.lines().count(), 0, "{listed}");
}

#[test]
fn a_call_answered_and_hung_up_by_the_callee() {
    let mut exchange = Exchange::start("calls-callee-bye", &[]);
    let (alice, bob) = (exchange.member("Alice"), exchange.member("Bob"));
    let placed = call(
        &exchange,
        &alice,
        &bob.number,
        "call_uac_wait_bye.xml",
        &[],
        Some(Callee {
            member: &bob,
            scenario: "uas_answer_bye.xml",
            args: &["-d", TALK],
        }),
    );
    let cdr = exchange.one_cdr();
    assert_cdr(&cdr, &alice, &bob.number, &placed, "answered");
    assert_answered(&cdr, &placed, TALK_MS);
}

#[test]
fn a_call_cancelled_while_ringing_cancels_the_callee_too() {
    let mut exchange = Exchange::start("calls-cancel", &[]);
    let (alice, bob) = (exchange.member("Alice"), exchange.member("Bob"));
    // The caller: 180, CANCEL, 200 and 487; the callee: CANCEL, 200, 487.
    let placed = call(
        &exchange,
        &alice,
        &bob.number,
        "call_uac_cancel.xml",
        &[],
        Some(Callee {
            member: &bob,
            scenario: "uas_ring.xml",
            args: &[],
        }),
    );
    let cdr = exchange.one_cdr();
    assert_cdr(&cdr, &alice, &bob.number, &placed, "cancelled");
    assert_unanswered(&cdr, 487);
}

#[test]
fn a_busy_callee_gives_the_caller_486() {
    let mut exchange = Exchange::start("calls-busy", &[]);
    let (alice, bob) = (exchange.member("Alice"), exchange.member("Bob"));
    let busy = Callee {
        member: &bob,
        scenario: "uas_busy.xml",
        args: &[],
    };
    let placed = refused(&exchange, &alice, &bob.number, 486, Some(busy));
    let cdr = exchange.one_cdr();
    assert_cdr(&cdr, &alice, &bob.number, &placed, "busy");
    assert_unanswered(&cdr, 486);
}

#[test]
fn an_unanswered_call_gets_480_at_the_ring_timeout_and_the_callee_a_cancel() {
    let mut exchange = Exchange::start("calls-no-answer", &["--ring-timeout", "2"]);
    let (alice, bob) = (exchange.member("Alice"), exchange.member("Bob"));
    let ringing = Callee {
        member: &bob,
        scenario: "uas_ring.xml",
        args: &[],
    };
    let placed = refused(&exchange, &alice, &bob.number, 480, Some(ringing));
    let cdr = exchange.one_cdr();
    assert_cdr(&cdr, &alice, &bob.number, &placed, "no-answer");
    assert_unanswered(&cdr, 480);
    let rang = Duration::from_millis((cdr.end_at - cdr.start_at).unsigned_abs());
    assert!(
        (Duration::from_secs(2)..Duration::from_secs(10)).contains(&rang),
        "rang {rang:?} for a 2 s ring timeout: {cdr:#?}"
    );
}

#[test]
fn a_number_nobody_holds_gets_404() {
    let mut exchange = Exchange::start("calls-unknown", &[]);
    let alice = exchange.member("Alice");
    let nobody = "0262006299082";
    let placed = refused(&exchange, &alice, nobody, 404, None);
    let cdr = exchange.one_cdr();
    assert_cdr(&cdr, &alice, nobody, &placed, "failed");
    assert_unanswered(&cdr, 404);
    assert_eq!(cdr.b_leg_call_id, None, "{cdr:#?}");
}

#[test]
fn a_member_not_registered_gets_480() {
    let mut exchange = Exchange::start("calls-unregistered", &[]);
    let (alice, bob) = (exchange.member("Alice"), exchange.member("Bob"));
    let placed = refused(&exchange, &alice, &bob.number, 480, None);
    let cdr = exchange.one_cdr();
    assert_cdr(&cdr, &alice, &bob.number, &placed, "failed");
    assert_unanswered(&cdr, 480);
    assert_eq!(cdr.b_leg_call_id, None, "{cdr:#?}");
}

#[test]
fn a_reinvite_mid_call_is_relayed_with_its_answer_and_ack() {
    let mut exchange = Exchange::start("calls-reinvite", &[]);
    let (alice, bob) = (exchange.member("Alice"), exchange.member("Bob"));
    // The caller holds (a=sendonly); the callee's a=recvonly comes back.
    let placed = call(
        &exchange,
        &alice,
        &bob.number,
        "call_uac_reinvite.xml",
        &[],
        Some(Callee {
            member: &bob,
            scenario: "uas_reinvite.xml",
            args: &[],
        }),
    );
    let cdr = exchange.one_cdr();
    assert_cdr(&cdr, &alice, &bob.number, &placed, "answered");
    // Two pauses of 200 ms in the caller's scenario.
    assert_answered(&cdr, &placed, 400);
}

#[test]
fn a_thousand_calls_in_a_row_all_succeed_with_a_cdr_each() {
    const CALLS: u32 = 1_000;
    let calls = CALLS.to_string();
    let bound = Duration::from_secs(120);
    let mut exchange = Exchange::start("calls-thousand", &[]);
    let (alice, bob) = (exchange.member("Alice"), exchange.member("Bob"));
    let port = exchange.register(&bob);
    let phone = exchange
        .sipp("callee", "uas_answer.xml")
        .on_port(port)
        .args(&["-m", &calls])
        .timeout(bound)
        .without_message_log()
        .spawn()
        .wait_listening(port);
    // 100 calls/s, at most 200 at once, no talk time.
    let dialler = exchange
        .sipp("caller", "call_uac.xml")
        .calling(&exchange, &alice, &bob.number)
        .args(&[
            "-m", &calls, "-r", "100", "-rp", "1000", "-l", "200", "-d", "0",
        ])
        .timeout(bound)
        .without_message_log()
        .spawn();
    let a_legs: HashSet<String> = (1..=CALLS).map(|n| dialler.a_leg_call_id(n)).collect();
    dialler.succeeds(&exchange);
    phone.succeeds(&exchange);

    let cdrs = exchange.await_cdrs(a_legs.len());
    for cdr in &cdrs {
        assert_eq!(cdr.disposition, "answered", "{cdr:#?}");
        assert_eq!(cdr.caller, alice.number, "{cdr:#?}");
        assert_eq!(cdr.callee_dialled, bob.number, "{cdr:#?}");
        assert!(cdr.answer_at.is_some(), "{cdr:#?}");
    }
    let recorded: HashSet<String> = cdrs.iter().map(|c| c.a_leg_call_id.clone()).collect();
    assert_eq!(recorded, a_legs, "one CDR for each call placed");
    let ids: HashSet<&str> = cdrs.iter().map(|c| c.call_id.as_str()).collect();
    assert_eq!(ids.len(), cdrs.len(), "call ids are unique");
    let b_legs: HashSet<&str> = cdrs
        .iter()
        .filter_map(|c| c.b_leg_call_id.as_deref())
        .collect();
    assert_eq!(b_legs.len(), cdrs.len(), "each call has a B leg of its own");
    assert!(b_legs.iter().all(|b| !a_legs.contains(*b)));
}
