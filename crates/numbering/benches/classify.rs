//! Dial strings classified per second against an interconnect table of
//! 1,000,000 prefixes (the goal: 2,000,000/s on one core).
//!
//! `cargo bench -p numbering --bench classify`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use numbering::{
    BusinessSignal, Caller, Classifier, DialString, Pin, PrefixTable, Registry, Route, Vns, E164,
};
use rand::{rngs::StdRng, Rng, SeedableRng};
use rustc_hash::FxHashSet as HashSet;

const PREFIXES: usize = 1_000_000;
const DIAL_STRINGS: usize = 100_000;

/// What an exchange's hot copy of the store looks like: sets of numbers,
/// looked up without building a key string.
#[derive(Default)]
struct Held {
    pins: HashSet<Pin>,
    companies: HashSet<Vns>,
    numbers: HashSet<E164>,
}

impl Registry for Held {
    fn pin_held(&self, pin: &Pin) -> bool {
        self.pins.contains(pin)
    }
    fn vns_held(&self, vns: &Vns) -> bool {
        self.companies.contains(vns)
    }
    fn e164_held(&self, number: &E164) -> bool {
        self.numbers.contains(number)
    }
    fn member_email(&self, _: &str) -> Option<Pin> {
        None
    }
    fn company_domain(&self, _: &str) -> Option<Vns> {
        None
    }
}

/// Country codes a rate deck has many prefixes under.
const CODES: &[&str] = &[
    "1", "44", "49", "33", "39", "81", "82", "86", "91", "852", "971", "7", "61", "55",
];

fn digits(rng: &mut StdRng, n: usize) -> String {
    (0..n)
        .map(|_| char::from(b'0' + rng.gen_range(0..10)))
        .collect()
}

fn setup() -> (Classifier, Held, Vec<String>) {
    let mut rng = StdRng::seed_from_u64(7);
    let mut table = PrefixTable::new();
    for code in CODES {
        table.insert(code, Route::Pstn(0)).unwrap();
    }
    while table.len() < PREFIXES {
        let code = CODES[rng.gen_range(0..CODES.len())];
        let length = rng.gen_range(2..=8);
        let route = match rng.gen_range(0..10) {
            0 => Route::OnNet,
            1..=3 => Route::Partner(rng.gen_range(1..50)),
            _ => Route::Pstn(rng.gen_range(1..20)),
        };
        table
            .insert(&format!("{code}{}", digits(&mut rng, length)), route)
            .unwrap();
    }
    let mut held = Held::default();
    let mut dialled = Vec::with_capacity(DIAL_STRINGS);
    for i in 0..DIAL_STRINGS {
        let text = match i % 10 {
            // Members calling members.
            0 => {
                let pin = format!("02{}082", digits(&mut rng, 8));
                held.pins.insert(Pin::from_digits(pin.as_bytes()).unwrap());
                format!(
                    "{}-{}-{}-{}",
                    &pin[..2],
                    &pin[2..6],
                    &pin[6..10],
                    &pin[10..]
                )
            }
            1 => {
                let ident = digits(&mut rng, 8);
                let vns = format!("{ident}#082");
                held.companies.insert(vns.parse().unwrap());
                format!("{ident}%23082")
            }
            // National numbers, as Korean phones dial them.
            2..=4 => format!("010-{}-{}", digits(&mut rng, 4), digits(&mut rng, 4)),
            5 => format!("02{}", digits(&mut rng, 8)),
            // International, both ways.
            6 | 7 => format!("+1{}{}", rng.gen_range(2..10), digits(&mut rng, 9)),
            _ => format!("0044{}{}", rng.gen_range(1..10), digits(&mut rng, 9)),
        };
        dialled.push(text);
    }
    let classifier = Classifier::new(&["callex.example"], BusinessSignal::default(), table);
    (classifier, held, dialled)
}

fn classify(c: &mut Criterion) {
    let (classifier, held, dialled) = setup();
    let caller = Caller {
        region: "KR",
        business_pool: false,
        business_requested: false,
    };
    let failures = dialled
        .iter()
        .filter(|d| {
            let dial = DialString::Sip {
                user: Some(d),
                host: "callex.example",
            };
            classifier.classify(dial, &caller, &held).is_err()
        })
        .count();
    assert!(
        failures < DIAL_STRINGS / 100,
        "{failures} dial strings failed"
    );
    let mut group = c.benchmark_group("classify");
    group.throughput(Throughput::Elements(dialled.len() as u64));
    group.sample_size(20);
    group.bench_function("100k dial strings, 1M prefixes", |b| {
        b.iter(|| {
            for d in &dialled {
                let dial = DialString::Sip {
                    user: Some(d),
                    host: "callex.example",
                };
                let _ = black_box(classifier.classify(black_box(dial), &caller, &held));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, classify);
criterion_main!(benches);
