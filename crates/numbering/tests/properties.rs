//! Properties of the numbering crate over generated input: canonical forms
//! round-trip, nothing panics, classification is deterministic and a
//! canonical form classifies to itself.

use std::collections::HashSet;

use numbering::{
    candidates, enum_dns, BusinessSignal, Caller, Classifier, CountryCode, DialString, Number, Pin,
    PrefixTable, Registry, Route, Target, Vns, E164,
};
use proptest::prelude::*;

/// Codes across one, two and three digits.
const CODES: &[u16] = &[
    1, 7, 20, 33, 39, 44, 49, 52, 61, 81, 82, 86, 91, 353, 852, 886, 971, 800,
];

fn code() -> impl Strategy<Value = CountryCode> {
    prop::sample::select(CODES).prop_map(|c| CountryCode::new(c).unwrap())
}

fn pin() -> impl Strategy<Value = Pin> {
    ("[0-9]{4,17}", code()).prop_map(|(national, code)| {
        let key = format!("{national}{}", std::str::from_utf8(&code.padded()).unwrap());
        Pin::from_digits(key.as_bytes()).unwrap()
    })
}

fn vns() -> impl Strategy<Value = Vns> {
    ("[0-9]{4,15}", prop::option::of(code()))
        .prop_map(|(ident, branch)| Vns::new(ident.as_bytes(), branch).unwrap())
}

fn e164() -> impl Strategy<Value = E164> {
    (code(), "[0-9]{14}").prop_filter_map("a possible length", |(code, digits)| {
        let lengths = code.national_lengths();
        (lengths.min()..=lengths.max())
            .rev()
            .find(|&n| lengths.contains(n) && n + code.digit_count() <= 15)
            .and_then(|n| {
                E164::from_digits(format!("{}{}", code.value(), &digits[..n]).as_bytes()).ok()
            })
    })
}

fn number() -> impl Strategy<Value = Number> {
    prop_oneof![
        pin().prop_map(Number::Pin),
        vns().prop_map(Number::Vns),
        e164().prop_map(Number::E164),
    ]
}

/// Holds exactly one number.
struct One(Number);

impl Registry for One {
    fn pin_held(&self, pin: &Pin) -> bool {
        self.0 == Number::Pin(*pin)
    }
    fn vns_held(&self, vns: &Vns) -> bool {
        self.0 == Number::Vns(*vns)
    }
    fn e164_held(&self, number: &E164) -> bool {
        self.0 == Number::E164(*number)
    }
    fn member_email(&self, _: &str) -> Option<Pin> {
        None
    }
    fn company_domain(&self, _: &str) -> Option<Vns> {
        None
    }
}

struct Some_ {
    keys: HashSet<String>,
}

impl Registry for Some_ {
    fn pin_held(&self, pin: &Pin) -> bool {
        self.keys.contains(&pin.key())
    }
    fn vns_held(&self, vns: &Vns) -> bool {
        self.keys.contains(&vns.key())
    }
    fn e164_held(&self, number: &E164) -> bool {
        self.keys.contains(&number.to_string())
    }
    fn member_email(&self, address: &str) -> Option<Pin> {
        self.keys
            .contains(address)
            .then(|| "02-6200-6200-082".parse().unwrap())
    }
    fn company_domain(&self, domain: &str) -> Option<Vns> {
        self.keys
            .contains(domain)
            .then(|| "6200-6200".parse().unwrap())
    }
}

fn classifier() -> Classifier {
    let table =
        PrefixTable::from_entries([("82", Route::Pstn(1)), ("8270", Route::Partner(2))]).unwrap();
    Classifier::new(
        &["callex.example"],
        BusinessSignal::new(Some("0"), Some("*9")).unwrap(),
        table,
    )
}

fn caller(region: &str, pool: bool) -> Caller<'_> {
    Caller {
        region,
        business_pool: pool,
        business_requested: false,
    }
}

/// Written numbers and things that look almost like them.
fn dial_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9+#*%. ()-]{0,30}",
        "(\\+|00)?[0-9]{1,18}",
        "[0-9]{4,12}(#|%23)[0-9]{0,4}",
        ".{0,80}",
    ]
}

proptest! {
    #[test]
    fn canonical_forms_round_trip(number in number()) {
        let written = number.to_string();
        let again: Number = match number {
            Number::Pin(_) => Number::Pin(written.parse().unwrap()),
            Number::Vns(_) => Number::Vns(written.parse().unwrap()),
            Number::E164(_) => Number::E164(written.parse().unwrap()),
        };
        prop_assert_eq!(again, number);
        prop_assert_eq!(&again.to_string(), &written);
        prop_assert_eq!(Number::from_key(number.kind(), &number.key()).unwrap(), number);
        prop_assert!(candidates(&written).unwrap().contains(&number));
    }

    #[test]
    fn enum_names_round_trip(number in number()) {
        let labels = enum_dns::labels(&number);
        let refs: Vec<&str> = labels.iter().map(String::as_str).collect();
        prop_assert_eq!(enum_dns::number(&refs).unwrap(), number);
    }

    #[test]
    fn pins_of_real_numbers_map_both_ways(number in e164()) {
        if let Ok(pin) = Pin::from_e164(&number) {
            prop_assert_eq!(pin.to_e164(), Some(number));
        }
    }

    #[test]
    fn no_input_panics(text in dial_text(), host in "[a-zA-Z0-9.-]{0,20}|.{0,20}", pool: bool) {
        let _ = candidates(&text);
        let _ = text.parse::<Pin>();
        let _ = text.parse::<Vns>();
        let _ = text.parse::<E164>();
        let labels: Vec<&str> = text.split('.').collect();
        let _ = enum_dns::number(&labels);
        let registry = Some_ { keys: HashSet::new() };
        for region in ["KR", "US", "IT", "", "zz"] {
            let caller = caller(region, pool);
            let _ = classifier().classify(DialString::Sip { user: Some(&text), host: &host }, &caller, &registry);
            let _ = classifier().classify(DialString::Sip { user: None, host: &text }, &caller, &registry);
            let _ = classifier().classify(DialString::Tel(&text), &caller, &registry);
        }
    }

    #[test]
    fn classification_is_deterministic(text in dial_text(), pool: bool, held in prop::collection::vec(number(), 0..4)) {
        let registry = Some_ { keys: held.iter().map(Number::key).collect() };
        let classifier = classifier();
        let caller = caller("KR", pool);
        let dialled = DialString::Sip { user: Some(&text), host: "callex.example" };
        let first = classifier.classify(dialled, &caller, &registry);
        let second = classifier.classify(dialled, &caller, &registry);
        prop_assert_eq!(first, second);
    }

    #[test]
    fn a_canonical_form_classifies_to_itself(number in number()) {
        let registry = One(number);
        let written = number.to_string();
        // A bare company number reaches its default branch only if the
        // caller's country has no branch: this registry holds one number.
        let decision = classifier()
            .classify(DialString::Sip { user: Some(&written), host: "callex.example" }, &caller("JP", false), &registry);
        let decision = decision.unwrap();
        match (number, decision.target) {
            (Number::Pin(pin), Target::Member(found)) => prop_assert_eq!(found, pin),
            (Number::Vns(vns), Target::Company(found)) => prop_assert_eq!(found, vns),
            (Number::E164(e164), Target::Number { number, .. }) => prop_assert_eq!(number, e164),
            (number, target) => prop_assert!(false, "{} classified as {}", number, target),
        }
    }
}
