//! The number inventory's store (the marketplace's stock), pinned once and
//! run against both engines: imports are all or nothing, search filters and
//! pages, bad input changes nothing.

mod support;

use rust_decimal::Decimal;
use store::{
    ImportOutcome, Inventory, InventorySearch, ListingKind, ListingState, NewListing, Premium,
    StoreError,
};
use support::{on_both_engines, TestDb};

on_both_engines!(
    an_import_lists_every_number_with_exact_prices,
    a_number_already_listed_stops_the_whole_import,
    a_bad_listing_or_a_number_given_twice_changes_nothing,
    search_filters_by_country_kind_area_contains_price_and_premium,
    pages_follow_the_cursor_and_visit_every_number_once,
    bad_searches_are_refused,
);

// ---------------------------------------------------------------- fixtures

fn money(text: &str) -> Decimal {
    text.parse().expect("a decimal")
}

/// A Korean E.164 number in Seoul (area 2) or Busan (51).
fn kr(national: &str, price: &str) -> NewListing {
    NewListing {
        number: format!("+82{national}"),
        kind: ListingKind::E164,
        country: "KR".into(),
        area_code: Some(if national.starts_with('2') { "2" } else { "51" }.into()),
        price: money(price),
        monthly: money("3.30"),
        currency: "KRW".into(),
        premium: None,
    }
}

fn stock() -> Vec<NewListing> {
    vec![
        kr("262006200", "10"),
        NewListing {
            premium: Some(Premium::Repeated),
            ..kr("212341234", "99.99")
        },
        kr("518675309", "5.5"),
        NewListing {
            number: "0262006200082".into(),
            kind: ListingKind::Pin,
            area_code: Some("02".into()),
            premium: Some(Premium::Repeated),
            ..kr("", "250")
        },
        NewListing {
            number: "62006200#082".into(),
            kind: ListingKind::Vns,
            area_code: None,
            ..kr("", "1000")
        },
        NewListing {
            number: "+12125550100".into(),
            kind: ListingKind::Did,
            country: "US".into(),
            area_code: Some("212".into()),
            currency: "USD".into(),
            ..kr("", "1.25")
        },
    ]
}

async fn import(db: &TestDb, listings: &[NewListing]) -> ImportOutcome {
    // Each import on a store of its own, as separate `callex numbers
    // import` runs would be.
    store::Store::open(db.target())
        .await
        .expect("opening the store")
        .import_listings(listings, &|_| {})
        .await
        .expect("importing")
}

fn numbers(listings: &[store::Listing]) -> Vec<&str> {
    listings.iter().map(|l| l.number.as_str()).collect()
}

async fn everything(db: &TestDb) -> Vec<String> {
    let found = db
        .open()
        .await
        .search_inventory(&InventorySearch {
            limit: 100,
            ..Default::default()
        })
        .await
        .expect("searching");
    found.into_iter().map(|l| l.number).collect()
}

// ---------------------------------------------------------------- tests

async fn an_import_lists_every_number_with_exact_prices(db: TestDb) {
    let seen = std::sync::Mutex::new(Vec::new());
    let store = db.open().await;
    let outcome = store
        .import_listings(&stock(), &|n| seen.lock().unwrap().push(n))
        .await
        .unwrap();
    assert_eq!(outcome.imported, 6);
    assert!(outcome.already_listed.is_empty());
    assert_eq!(seen.lock().unwrap().last(), Some(&6));

    let listing = store.listing("+82212341234").await.unwrap().unwrap();
    assert_eq!(listing.price, money("99.99"));
    assert_eq!(listing.price.to_string(), "99.99");
    assert_eq!(listing.monthly, money("3.3"));
    assert_eq!(listing.currency, "KRW");
    assert_eq!(listing.premium, Some(Premium::Repeated));
    assert_eq!(listing.state, ListingState::Available);
    assert_eq!(listing.area_code.as_deref(), Some("2"));
    assert!(store.listing("+82299999999").await.unwrap().is_none());
}

async fn a_number_already_listed_stops_the_whole_import(db: TestDb) {
    import(&db, &stock()[..2]).await;
    let outcome = import(&db, &stock()).await;
    assert_eq!(outcome.imported, 0);
    assert_eq!(outcome.already_listed, [0, 1]);
    assert_eq!(
        everything(&db).await.len(),
        2,
        "nothing of the second import"
    );
}

async fn a_bad_listing_or_a_number_given_twice_changes_nothing(db: TestDb) {
    let store = db.open().await;
    let mut bad = stock();
    bad[2].price = money("0.00001");
    let refused = store.import_listings(&bad, &|_| {}).await;
    match refused {
        Err(StoreError::Invalid { reason, .. }) => {
            assert!(reason.contains("listing 3"), "{reason}");
            assert!(reason.contains("decimal places"), "{reason}");
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    for break_it in [
        (|l: &mut NewListing| l.number = "+82 2 6200 6200".into()) as fn(&mut NewListing),
        |l| l.country = "Korea".into(),
        |l| l.currency = "WON1".into(),
        |l| l.area_code = Some("2a".into()),
        |l| l.kind = ListingKind::Pin,
        |l| l.monthly = money("-1"),
    ] {
        let mut bad = stock();
        break_it(&mut bad[0]);
        let refused = store.import_listings(&bad, &|_| {}).await;
        assert!(
            matches!(refused, Err(StoreError::Invalid { .. })),
            "{refused:?}"
        );
    }
    let mut twice = stock();
    twice.push(twice[0].clone());
    let refused = store.import_listings(&twice, &|_| {}).await;
    match refused {
        Err(StoreError::Invalid { reason, .. }) => {
            assert!(reason.contains("listing 7"), "{reason}");
            assert!(reason.contains("listing 1"), "{reason}");
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert!(everything(&db).await.is_empty());
}

async fn search_filters_by_country_kind_area_contains_price_and_premium(db: TestDb) {
    import(&db, &stock()).await;
    let store = db.open().await;
    let search = |search: InventorySearch| {
        let store = store.clone();
        async move { store.search_inventory(&search).await.unwrap() }
    };
    let all = InventorySearch::default();

    let korea = search(InventorySearch {
        country: Some("kr".into()),
        ..all.clone()
    })
    .await;
    assert_eq!(
        numbers(&korea),
        [
            "+82212341234",
            "+82262006200",
            "+82518675309",
            "0262006200082",
            "62006200#082"
        ]
    );
    let e164 = search(InventorySearch {
        country: Some("KR".into()),
        kind: Some(ListingKind::E164),
        ..all.clone()
    })
    .await;
    assert_eq!(e164.len(), 3);
    let busan = search(InventorySearch {
        area_prefix: Some("5".into()),
        ..all.clone()
    })
    .await;
    assert_eq!(numbers(&busan), ["+82518675309"]);
    let seoul = search(InventorySearch {
        area_prefix: Some("2".into()),
        ..all.clone()
    })
    .await;
    assert_eq!(seoul.len(), 3, "area 2 and 212");
    // With a country, an area is a range of keys: E.164 numbers and DIDs
    // first, then PINs.
    let area = |country: &str, area: &str, kind: Option<ListingKind>| InventorySearch {
        country: Some(country.into()),
        area_prefix: Some(area.into()),
        kind,
        ..all.clone()
    };
    assert_eq!(
        numbers(&search(area("KR", "2", None)).await),
        ["+82212341234", "+82262006200"]
    );
    assert_eq!(
        numbers(&search(area("KR", "02", None)).await),
        ["0262006200082"]
    );
    assert!(search(area("KR", "02", Some(ListingKind::E164)))
        .await
        .is_empty());
    assert_eq!(
        numbers(&search(area("US", "21", Some(ListingKind::Did))).await),
        ["+12125550100"]
    );
    let seoul_after = search(InventorySearch {
        after: Some("+82212341234".into()),
        ..area("KR", "2", None)
    })
    .await;
    assert_eq!(numbers(&seoul_after), ["+82262006200"]);
    let contains = search(InventorySearch {
        contains: Some("6200".into()),
        ..all.clone()
    })
    .await;
    assert_eq!(
        numbers(&contains),
        ["+82262006200", "0262006200082", "62006200#082"]
    );
    let priced = search(InventorySearch {
        min_price: Some(money("5.5")),
        max_price: Some(money("99.99")),
        ..all.clone()
    })
    .await;
    assert_eq!(
        numbers(&priced),
        ["+82212341234", "+82262006200", "+82518675309"],
        "both bounds included, compared as numbers (10 > 5.5)"
    );
    let premium = search(InventorySearch {
        premium_only: true,
        ..all.clone()
    })
    .await;
    assert_eq!(numbers(&premium), ["+82212341234", "0262006200082"]);
    let did = search(InventorySearch {
        kind: Some(ListingKind::Did),
        ..all.clone()
    })
    .await;
    assert_eq!(numbers(&did), ["+12125550100"]);
}

async fn pages_follow_the_cursor_and_visit_every_number_once(db: TestDb) {
    let many: Vec<NewListing> = (0..250)
        .map(|i| kr(&format!("2{:08}", i * 7919 % 100_000_000), "1"))
        .collect();
    import(&db, &many).await;
    let store = db.open().await;
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .search_inventory(&InventorySearch {
                country: Some("KR".into()),
                after: after.clone(),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        seen.extend(page.iter().map(|l| l.number.clone()));
        if page.len() < 100 {
            break;
        }
        after = page.last().map(|l| l.number.clone());
    }
    let mut expected: Vec<String> = many.into_iter().map(|l| l.number).collect();
    expected.sort();
    assert_eq!(seen, expected);
}

async fn bad_searches_are_refused(db: TestDb) {
    let store = db.open().await;
    for bad in [
        InventorySearch {
            limit: 0,
            ..Default::default()
        },
        InventorySearch {
            limit: 101,
            ..Default::default()
        },
        InventorySearch {
            min_price: Some(money("10")),
            max_price: Some(money("1")),
            ..Default::default()
        },
        InventorySearch {
            contains: Some("12a".into()),
            ..Default::default()
        },
        InventorySearch {
            area_prefix: Some(String::new()),
            ..Default::default()
        },
        InventorySearch {
            country: Some("KOR".into()),
            ..Default::default()
        },
    ] {
        let refused = store.search_inventory(&bad).await;
        assert!(
            matches!(refused, Err(StoreError::Invalid { .. })),
            "{bad:?}: {refused:?}"
        );
    }
}
