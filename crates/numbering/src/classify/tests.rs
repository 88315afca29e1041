use std::collections::{HashMap, HashSet};

use super::*;

#[derive(Default)]
struct Held {
    pins: HashSet<String>,
    companies: HashSet<String>,
    e164: HashSet<String>,
    emails: HashMap<String, Pin>,
    domains: HashMap<String, Vns>,
}

impl Registry for Held {
    fn pin_held(&self, pin: &Pin) -> bool {
        self.pins.contains(&pin.key())
    }
    fn vns_held(&self, vns: &Vns) -> bool {
        self.companies.contains(&vns.key())
    }
    fn e164_held(&self, number: &E164) -> bool {
        self.e164.contains(&number.to_string())
    }
    fn member_email(&self, address: &str) -> Option<Pin> {
        self.emails.get(address).copied()
    }
    fn company_domain(&self, domain: &str) -> Option<Vns> {
        self.domains.get(domain).copied()
    }
}

fn held() -> Held {
    let pin: Pin = "02-6200-6200-082".parse().unwrap();
    let mut held = Held::default();
    held.pins.insert(pin.key());
    held.companies.extend([
        "62006200".into(),
        "62006200#082".into(),
        "62006200#001".into(),
    ]);
    held.e164.insert("+827040001234".into());
    held.emails.insert("alice@example.com".into(), pin);
    held.domains
        .insert("acme.example".into(), "6200-6200".parse().unwrap());
    held
}

fn classifier(signal: BusinessSignal) -> Classifier {
    let table = PrefixTable::from_entries([
        ("82", Route::Pstn(1)),
        ("8270", Route::Partner(7)),
        ("1", Route::Pstn(2)),
    ]);
    Classifier::new(&["callex.example"], signal, table.unwrap())
}

const KOREAN: Caller<'static> = Caller {
    region: "KR",
    business_pool: false,
    business_requested: false,
};

const KOREAN_WITH_POOL: Caller<'static> = Caller {
    region: "KR",
    business_pool: true,
    business_requested: false,
};

fn sip(user: &str) -> DialString<'_> {
    DialString::Sip {
        user: Some(user),
        host: "callex.example",
    }
}

fn classify(dialled: DialString<'_>, caller: &Caller<'_>) -> Result<Decision, DialError> {
    classifier(BusinessSignal::new(Some("0"), None).unwrap()).classify(dialled, caller, &held())
}

fn target(dialled: &str) -> String {
    classify(sip(dialled), &KOREAN).unwrap().target.to_string()
}

#[test]
fn a_held_pin_is_a_member_however_written() {
    for written in ["02-6200-6200-082", "0262006200082", "02.6200.6200.082"] {
        assert_eq!(target(written), "member 02-6200-6200-082", "{written}");
    }
}

#[test]
fn a_hash_is_a_company_branch() {
    assert_eq!(target("6200-6200%23082"), "company 6200-6200#082");
    assert_eq!(target("62006200#001"), "company 6200-6200#001");
    let missing = classify(sip("62006200%23044"), &KOREAN).unwrap_err();
    assert_eq!(missing.sip_status(), 404);
    assert!(missing.to_string().contains("no branch there"), "{missing}");
    let unknown = classify(sip("1111-2222%23082"), &KOREAN).unwrap_err();
    assert_eq!(unknown.to_string(), "1111-2222#082 is not in service");
}

#[test]
fn a_bare_company_number_picks_the_callers_branch() {
    assert_eq!(target("6200-6200"), "company 6200-6200#082");
    let japanese = Caller {
        region: "JP",
        ..KOREAN
    };
    let decision = classify(sip("6200-6200"), &japanese).unwrap();
    assert_eq!(
        decision.target.to_string(),
        "company 6200-6200 (default branch)"
    );
}

#[test]
fn national_and_international_numbers_become_e164() {
    assert_eq!(
        target("010-1234-5678"),
        "+82 10-1234-5678 (PSTN route 1, prefix +82)"
    );
    assert_eq!(
        target("00-1-212-555-0100"),
        "+1 212-555-0100 (PSTN route 2, prefix +1)"
    );
    assert_eq!(
        target("+1 212 555 0100"),
        "+1 212-555-0100 (PSTN route 2, prefix +1)"
    );
    assert_eq!(
        target("070-1234-5678"),
        "+82 70-1234-5678 (partner 7, range +8270)"
    );
    assert_eq!(
        target("070-4000-1234"),
        "+82 70-4000-1234 (held by a member)"
    );
    assert_eq!(target("+44 20 7946 0000"), "+44 20 7946 0000 (PSTN)");
    let american = Caller {
        region: "US",
        ..KOREAN
    };
    for dialled in ["011 82 2 6200 6200", "00 82 2 6200 6200", "+82262006200"] {
        let decision = classify(sip(dialled), &american).unwrap();
        assert_eq!(
            decision.target.to_string(),
            "+82 2-6200-6200 (PSTN route 1, prefix +82)"
        );
    }
    for dialled in ["1 212 555 0100", "212 555 0100"] {
        let decision = classify(sip(dialled), &american).unwrap();
        assert_eq!(
            decision.target.to_string(),
            "+1 212-555-0100 (PSTN route 2, prefix +1)"
        );
    }
}

#[test]
fn tel_uris_are_numbers() {
    let decision = classify(
        DialString::Tel("+82-2-6200-6200;phone-context=example.com"),
        &KOREAN,
    )
    .unwrap();
    assert_eq!(
        decision.target.to_string(),
        "+82 2-6200-6200 (PSTN route 1, prefix +82)"
    );
}

#[test]
fn emails_and_domains_reach_members_and_companies() {
    let to =
        |user: Option<&str>, host: &str| classify(DialString::Sip { user, host }, &KOREAN).unwrap();
    assert_eq!(
        to(Some("Alice"), "Example.COM").target.to_string(),
        "member 02-6200-6200-082"
    );
    assert_eq!(
        to(None, "acme.example.").target.to_string(),
        "company 6200-6200 (default branch)"
    );
    assert_eq!(
        to(Some("bob"), "elsewhere.example").target.to_string(),
        "sip:bob@elsewhere.example"
    );
    assert_eq!(
        to(None, "elsewhere.example").target.to_string(),
        "sip:elsewhere.example"
    );
    // A number is a number at any domain; at ours or an IP address, too.
    assert_eq!(
        to(Some("0262006200082"), "elsewhere.example")
            .target
            .to_string(),
        "member 02-6200-6200-082"
    );
    assert_eq!(
        to(Some("0262006200082"), "192.0.2.1").target.to_string(),
        "member 02-6200-6200-082"
    );
    assert_eq!(
        to(Some("0262006200082"), "CALLEX.example")
            .target
            .to_string(),
        "member 02-6200-6200-082"
    );
}

#[test]
fn the_business_signal_is_read_only_where_it_cannot_be_a_prefix() {
    // 0 + a national number: 0010… is no international number, so business.
    let decision = classify(sip("0010-1234-5678"), &KOREAN_WITH_POOL).unwrap();
    assert_eq!(decision.business, Some(Business::Signal));
    assert_eq!(
        decision.target.to_string(),
        "+82 10-1234-5678 (PSTN route 1, prefix +82)"
    );
    // 00 + an international number stays personal: 082 2… is no number.
    let decision = classify(sip("0082-2-6200-6200"), &KOREAN_WITH_POOL).unwrap();
    assert_eq!(decision.business, None);
    assert_eq!(
        decision.target.to_string(),
        "+82 2-6200-6200 (PSTN route 1, prefix +82)"
    );
    // Without a pool, the same digits are never business.
    let decision = classify(sip("0010-1234-5678"), &KOREAN);
    assert!(decision.is_err() || decision.unwrap().business.is_none());
    // 0 + a PIN.
    let decision = classify(sip("00262006200082"), &KOREAN_WITH_POOL).unwrap();
    assert_eq!(decision.business, Some(Business::Signal));
    assert_eq!(decision.target.to_string(), "member 02-6200-6200-082");
}

#[test]
fn an_ambiguous_signal_is_refused_with_485() {
    // 0 + 2345-6789: both "02-345-6789" (a Seoul number) and "2345-6789"
    // (a company's branch in Korea) can surely be called.
    let mut held = held();
    held.companies.insert("23456789#082".into());
    let error = classifier(BusinessSignal::new(Some("0"), None).unwrap())
        .classify(sip("023456789"), &KOREAN_WITH_POOL, &held)
        .unwrap_err();
    assert_eq!(error.sip_status(), 485, "{error}");
    assert!(error.to_string().starts_with("ambiguous"), "{error}");
}

#[test]
fn a_valid_number_beats_one_of_a_possible_length() {
    // 0 + 62006200: "062-006-200" has the length of a Gwangju number but is
    // none; the company's branch in Korea is held.
    let decision = classify(sip("062006200"), &KOREAN_WITH_POOL).unwrap();
    assert_eq!(decision.business, Some(Business::Signal));
    assert_eq!(decision.target.to_string(), "company 6200-6200#082");
}

#[test]
fn a_suffix_signal() {
    let classifier = classifier(BusinessSignal::new(None, Some("*9")).unwrap());
    let decision = classifier
        .classify(sip("010-1234-5678*9"), &KOREAN_WITH_POOL, &held())
        .unwrap();
    assert_eq!(decision.business, Some(Business::Signal));
    assert!(classifier
        .classify(sip("010-1234-5678*9"), &KOREAN, &held())
        .is_err());
}

#[test]
fn the_phone_may_ask_for_business_out_of_band() {
    let caller = Caller {
        business_requested: true,
        ..KOREAN_WITH_POOL
    };
    let decision = classify(sip("0082-2-6200-6200"), &caller).unwrap();
    assert_eq!(decision.business, Some(Business::Requested));
    assert_eq!(
        decision.target.to_string(),
        "+82 2-6200-6200 (PSTN route 1, prefix +82)"
    );
}

#[test]
fn bad_signals_are_refused() {
    assert!(BusinessSignal::new(Some("+"), None).is_err());
    assert!(BusinessSignal::new(Some("123456789"), None).is_err());
    assert!(!BusinessSignal::new(Some(""), None).unwrap().is_set());
}

#[test]
fn errors_map_to_sip_statuses() {
    let status = |dialled: &str| classify(sip(dialled), &KOREAN).unwrap_err().sip_status();
    assert_eq!(status("010"), 484, "too short: address incomplete");
    assert_eq!(status("6200-6200%23"), 484);
    assert_eq!(status("+999 123"), 404);
    assert_eq!(status("alice"), 404);
    assert_eq!(status("01012345678901234567890"), 404);
    let nothing = classifier(BusinessSignal::default()).classify(
        DialString::Sip {
            user: None,
            host: "callex.example",
        },
        &KOREAN,
        &held(),
    );
    assert_eq!(nothing.unwrap_err().sip_status(), 484);
    let nowhere = Caller {
        region: "XX",
        ..KOREAN
    };
    assert_eq!(
        classify(sip("010-1234-5678"), &nowhere)
            .unwrap_err()
            .sip_status(),
        404
    );
}

#[test]
fn explanations_read_as_sentences() {
    let decision = classify(sip("0010-1234-5678"), &KOREAN_WITH_POOL).unwrap();
    assert_eq!(
        decision.to_string(),
        "business call (signal dialled); a national number of KR (trunk prefix) → +82 10-1234-5678 (PSTN route 1, prefix +82)"
    );
    let decision = classify(sip("6200-6200%23082"), &KOREAN).unwrap();
    assert_eq!(
        decision.to_string(),
        "a company number (#) → company 6200-6200#082"
    );
}
