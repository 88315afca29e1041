//! Search latency over a large number inventory: fills a store with N
//! numbers (through `import_listings`, a batch at a time) unless it already
//! has them, then runs a mix of buyers' searches and prints the latency
//! percentiles, per kind of search and overall.
//!
//! ```text
//! cargo run --release -p store --example inventory_search -- TARGET [NUMBERS] [QUERIES]
//! ```
//!
//! TARGET is what `Store::open` takes (a data directory, or `postgres://…`);
//! NUMBERS defaults to 10,000,000 and QUERIES to 5,000. See
//! bench/inventory-search/README.md.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use store::{Inventory, InventorySearch, ListingKind, NewListing, Premium, Store};

/// Country, calling code, currency, area codes: with 8 local digits after
/// the area code (7 after the NANP's 3-digit ones) each is a valid number.
const COUNTRIES: [(&str, &str, &str, &[&str]); 6] = [
    ("KR", "82", "KRW", &["2", "31", "51", "70"]),
    ("US", "1", "USD", &["212", "415", "646", "917"]),
    ("GB", "44", "GBP", &["20"]),
    ("DE", "49", "EUR", &["30", "40", "89"]),
    ("JP", "81", "JPY", &["3", "6"]),
    ("FR", "33", "EUR", &["1", "4"]),
];

/// Coprime with 10: `serial * STEP mod 10^k` visits every local number
/// once, scattered.
const STEP: u64 = 7_919_003;

const BATCH: usize = 500_000;

/// The `i`-th number of the generated inventory (the same scheme as
/// bench/inventory-search/gen-csv.py).
fn listing(i: u64) -> NewListing {
    let (country, cc, currency, areas) = COUNTRIES[(i % 6) as usize];
    let turn = i / 6;
    let area = areas[(turn % areas.len() as u64) as usize];
    let serial = turn / areas.len() as u64;
    let local_digits = if cc == "1" { 10 - area.len() } else { 8 } as u32;
    let local = serial * STEP % 10u64.pow(local_digits);
    let local = format!("{local:0width$}", width = local_digits as usize);
    let (kind, key, area_code) = match i % 10 {
        6 | 7 => (
            ListingKind::Did,
            format!("+{cc}{area}{local}"),
            area.to_owned(),
        ),
        8 if cc != "1" => (
            ListingKind::Pin,
            format!("0{area}{local}{cc:0>3}"),
            format!("0{area}"),
        ),
        _ => (
            ListingKind::E164,
            format!("+{cc}{area}{local}"),
            area.to_owned(),
        ),
    };
    let number = numbering::Number::from_key(ListingKind::number_kind(kind).into(), &key)
        .expect("generated keys are valid");
    NewListing {
        number: key,
        kind,
        country: country.to_owned(),
        area_code: Some(area_code),
        price: Decimal::new(100_000 + (i as i64 * 7_333) % 9_900_000, 2),
        monthly: Decimal::from(100 + (i * 13) % 900),
        currency: currency.to_owned(),
        premium: numbering::golden(&number).map(Premium::from),
    }
}

async fn fill(store: &Store, numbers: u64) {
    if store
        .listing(&listing(numbers - 1).number)
        .await
        .expect("reading")
        .is_some()
    {
        println!("the store already has the {numbers} numbers");
        return;
    }
    let started = Instant::now();
    let mut next = 0;
    while next < numbers {
        let end = (next + BATCH as u64).min(numbers);
        let batch: Vec<NewListing> = (next..end).map(listing).collect();
        let outcome = store
            .import_listings(&batch, &|_| {})
            .await
            .expect("importing");
        assert!(
            outcome.already_listed.is_empty(),
            "the store has part of the data: start from an empty one"
        );
        next = end;
        println!(
            "{next} numbers imported, {:.0} s",
            started.elapsed().as_secs_f64()
        );
    }
}

/// One buyer's search: its kind (for the report) and the search.
fn search(rng: &mut StdRng, cursors: &[String]) -> (&'static str, InventorySearch) {
    let (country, _, _, areas) = COUNTRIES[rng.gen_range(0..COUNTRIES.len())];
    let base = InventorySearch {
        country: Some(country.to_owned()),
        limit: 20,
        ..Default::default()
    };
    let digits = |rng: &mut StdRng, n: usize| -> String {
        (0..n)
            .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
            .collect()
    };
    match rng.gen_range(0..9) {
        0 => ("country", base),
        1 => (
            "country+kind",
            InventorySearch {
                kind: Some([ListingKind::E164, ListingKind::Did][rng.gen_range(0..2)]),
                ..base
            },
        ),
        2 => (
            "country+area",
            InventorySearch {
                area_prefix: Some(areas[rng.gen_range(0..areas.len())].to_owned()),
                ..base
            },
        ),
        3 => (
            "country+contains(4)",
            InventorySearch {
                contains: Some(digits(rng, 4)),
                ..base
            },
        ),
        4 => (
            "country+premium",
            InventorySearch {
                premium_only: true,
                ..base
            },
        ),
        5 => {
            let low = rng.gen_range(1_000..90_000);
            (
                "country+price",
                InventorySearch {
                    min_price: Some(Decimal::from(low)),
                    max_price: Some(Decimal::from(low + 5_000)),
                    ..base
                },
            )
        }
        6 => (
            "country+kind+area+contains(3)",
            InventorySearch {
                kind: Some(ListingKind::E164),
                area_prefix: Some(areas[0].to_owned()),
                contains: Some(digits(rng, 3)),
                ..base
            },
        ),
        7 => (
            "country+area+premium",
            InventorySearch {
                area_prefix: Some(areas[rng.gen_range(0..areas.len())].to_owned()),
                premium_only: true,
                ..base
            },
        ),
        _ => (
            "next page",
            InventorySearch {
                after: cursors.get(rng.gen_range(0..cursors.len().max(1))).cloned(),
                ..base
            },
        ),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let target = args
        .next()
        .expect("usage: inventory_search TARGET [NUMBERS] [QUERIES]");
    let numbers: u64 = args
        .next()
        .map_or(10_000_000, |n| n.parse().expect("NUMBERS"));
    let queries: usize = args.next().map_or(5_000, |n| n.parse().expect("QUERIES"));
    let store = Store::open(&target).await.expect("opening the store");
    println!("{} store at {target}", store.engine());
    fill(&store, numbers).await;

    let mut rng = StdRng::seed_from_u64(5);
    let mut cursors: Vec<String> = Vec::new();
    let mut by_kind: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    let mut all = Vec::with_capacity(queries);
    let mut found = 0usize;
    // The first tenth warms the caches and is not counted.
    let warm_up = queries / 10;
    for n in 0..queries + warm_up {
        let (kind, search) = search(&mut rng, &cursors);
        let started = Instant::now();
        let page = store.search_inventory(&search).await.expect("searching");
        let took = started.elapsed();
        found += page.len();
        if page.len() == search.limit as usize {
            if let Some(last) = page.last() {
                cursors.push(last.number.clone());
            }
        }
        if n >= warm_up {
            by_kind.entry(kind).or_default().push(took);
            all.push(took);
        }
    }
    println!(
        "{:<32} {:>6} {:>8} {:>8} {:>8}",
        "search", "count", "p50 ms", "p99 ms", "max ms"
    );
    for (kind, mut times) in by_kind.into_iter().chain([("all", all)]) {
        times.sort();
        println!(
            "{:<32} {:>6} {:>8} {:>8} {:>8}",
            kind,
            times.len(),
            ms(percentile(&times, 0.50)),
            ms(percentile(&times, 0.99)),
            ms(*times.last().expect("some searches"))
        );
    }
    println!(
        "{:.1} numbers per search on average",
        found as f64 / (queries + warm_up) as f64
    );
    store.close().await;
}
