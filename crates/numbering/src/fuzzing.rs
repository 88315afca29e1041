//! What the `dial` fuzz target checks on any bytes, taken as a dial string
//! (SIP user part and host, a bare domain, a tel: number) and as a written
//! number: nothing panics, a classification is the same twice, and every
//! number read has a canonical form that reads back as itself, also as a
//! DNS name.

use crate::{
    candidates, enum_dns, BusinessSignal, Caller, Classifier, DialString, Pin, PrefixTable,
    Registry, Route, Vns, E164,
};

/// Holds every PIN and company number it is asked about whose digits sum
/// to an even number: deterministic, and both answers get exercised.
struct Even;

fn even(key: &str) -> bool {
    key.bytes()
        .filter(u8::is_ascii_digit)
        .map(u32::from)
        .sum::<u32>()
        % 2
        == 0
}

impl Registry for Even {
    fn pin_held(&self, pin: &Pin) -> bool {
        even(&pin.key())
    }
    fn vns_held(&self, vns: &Vns) -> bool {
        even(&vns.key())
    }
    fn e164_held(&self, number: &E164) -> bool {
        even(number.digits())
    }
    fn member_email(&self, address: &str) -> Option<Pin> {
        even(address).then(|| "02-6200-6200-082".parse().unwrap())
    }
    fn company_domain(&self, domain: &str) -> Option<Vns> {
        even(domain).then(|| "6200-6200".parse().unwrap())
    }
}

/// The `dial` fuzz target's checks, also replayed over its corpus by
/// `cargo test`.
pub fn dial(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (user, host) = text.split_once('@').unwrap_or((&text, "callex.example"));
    let table =
        PrefixTable::from_entries([("82", Route::Pstn(1)), ("8270", Route::Partner(2))]).unwrap();
    let signal = BusinessSignal::new(Some("0"), Some("*9")).unwrap();
    let classifier = Classifier::new(&["callex.example"], signal, table);
    for region in ["KR", "US", "IT"] {
        for pool in [false, true] {
            let caller = Caller {
                region,
                business_pool: pool,
                business_requested: false,
            };
            for dialled in [
                DialString::Sip {
                    user: Some(user),
                    host,
                },
                DialString::Sip {
                    user: None,
                    host: &text,
                },
                DialString::Tel(&text),
            ] {
                let first = classifier.classify(dialled, &caller, &Even);
                assert_eq!(first, classifier.classify(dialled, &caller, &Even));
                if let Ok(decision) = first {
                    let _ = decision.to_string();
                }
            }
        }
    }
    if let Ok(numbers) = candidates(&text) {
        for number in numbers {
            let written = number.to_string();
            assert!(candidates(&written).unwrap().contains(&number), "{written}");
            let labels = enum_dns::labels(&number);
            let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
            assert_eq!(enum_dns::number(&labels).unwrap(), number);
        }
    }
}
