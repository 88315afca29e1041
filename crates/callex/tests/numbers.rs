//! `callex numbers import` with the built binary: a good CSV file is
//! listed whole; a broken one is refused with every bad row's line number
//! and reason, and nothing of it is imported.

mod common;

use std::path::Path;
use std::process::Output;

use common::*;
use store::{Inventory, InventorySearch, Premium};

fn import(data_dir: &Path, csv: &str) -> Output {
    let file = data_dir.with_extension("csv");
    std::fs::create_dir_all(data_dir).expect("a data directory");
    std::fs::write(&file, csv).expect("writing the CSV file");
    callex()
        .args(["numbers", "import"])
        .arg(&file)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .expect("run callex")
}

async fn listed(data_dir: &Path) -> Vec<store::Listing> {
    let store = store::Store::open(data_dir.to_str().expect("a UTF-8 path"))
        .await
        .expect("opening the store");
    store
        .search_inventory(&InventorySearch {
            limit: 100,
            ..Default::default()
        })
        .await
        .expect("searching")
}

const GOOD: &str = "\
number,kind,country,area_code,price,monthly,currency,premium
+82 2 6200 6200,e164,KR,2,50000,1100,KRW,
02-6185-3091,e164,KR,2,5000.50,1100,KRW,none
070-4000-1837,did,KR,70,3000,1100,KRW,
\"6200-6200#082\",vns,KR,,990000,33000,KRW,
";

#[tokio::test]
async fn a_good_file_is_listed_whole_with_premium_computed_when_empty() {
    let data_dir = scratch_dir("numbers-good");
    let out = import(&data_dir, GOOD);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("4 numbers imported"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let listings = listed(&data_dir).await;
    let numbers: Vec<&str> = listings.iter().map(|l| l.number.as_str()).collect();
    assert_eq!(
        numbers,
        [
            "+82261853091",
            "+82262006200",
            "+827040001837",
            "62006200#082"
        ]
    );
    assert_eq!(listings[1].premium, Some(Premium::Repeated));
    assert_eq!(listings[0].premium, None);
    assert_eq!(listings[0].price.to_string(), "5000.5");
}

#[tokio::test]
async fn a_broken_file_reports_every_bad_line_and_imports_nothing() {
    let data_dir = scratch_dir("numbers-broken");
    let broken = "\
number,kind,country,area_code,price,monthly,currency
+82 2 6200 6200,e164,KR,2,50000,1100,KRW
+82 2 61,e164,KR,2,5000,1100,KRW
070-4000-1837,did,XX,70,3000,1100,KRW
02-6185-3091,e164,KR,2,5000.505050,1100,KRW
02-6185-3091,e164,KR,2,12,1100,KRW
+82-2-6200-6200,e164,KR,2,1,1,KRW
+82 51 867 5309,e164,KR,51,1,1
+1 212 555 0100,e164,KR,212,1,1,USD
";
    let out = import(&data_dir, broken);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = data_dir.with_extension("csv");
    for (line, reason) in [
        (3, "bad number"),
        (4, "unknown country"),
        (5, "bad decimal in price"),
        (7, "listed twice: also at line 2"),
        (8, "6 fields where the header has 7"),
        (9, "is in country code +1, and KR is +82"),
    ] {
        let expected = format!("{}:{line}: ", file.display());
        let reported = stderr
            .lines()
            .find(|l| l.starts_with(&expected))
            .unwrap_or_else(|| panic!("line {line} reported in\n{stderr}"));
        assert!(reported.contains(reason), "{reason} in {reported}");
    }
    assert!(stderr.contains("6 bad rows; nothing imported"), "{stderr}");
    assert!(listed(&data_dir).await.is_empty(), "nothing imported");

    // A number already in the inventory: its line, and still nothing.
    let out = import(&data_dir, GOOD);
    assert!(out.status.success());
    let again = format!("{GOOD}+82 51 867 5309,e164,KR,51,1,1,KRW,\n");
    let out = import(&data_dir, &again);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(":2: number +82262006200 is already in the inventory"),
        "{stderr}"
    );
    assert_eq!(listed(&data_dir).await.len(), 4);
}
