//! Monthly rentals and numbers given back, pinned once and run against both
//! engines: the rental run charges each number once per month however
//! often (and however concurrently) it runs, records the debt of a short
//! balance and lists the member in arrears, keeps the ledger balanced; a
//! released number stops working at once, is no longer charged, and waits
//! out its quarantine before it is for sale again.

mod ledger;
mod support;

use ledger::{assert_ledger_balanced, balance};
use rust_decimal::Decimal;
use sip::digest::Algorithm;
use store::orders::DEFAULT_HOLD_MS;
use store::prelude::*;
use store::rentals::DEFAULT_QUARANTINE_MS;
use store::{
    Actor, BillingMonth, Binding, Inventory, LedgerKind, ListingKind, ListingState, NewListing,
    NewOrder, OrderState, Orders, Rentals, Store, Topup,
};
use support::{on_both_engines, TestDb};

on_both_engines!(
    the_rental_run_charges_each_month_once_even_run_twice_or_concurrently,
    a_short_balance_is_charged_all_the_same_and_the_member_is_in_arrears,
    a_released_number_stops_working_is_not_charged_and_waits_out_its_quarantine,
    a_release_with_no_quarantine_puts_the_number_on_sale_at_once,
    bad_releases_and_months_are_refused_and_change_nothing,
);

/// 2026-12-01 10:00 UTC: the tests' clock.
const T0: i64 = 1_796_119_200_000;
const DAY: i64 = 86_400_000;
const NUMBER: &str = "+82262006200";
const OTHER: &str = "+82262006201";
const REALM: &str = "test.callex";

fn money(text: &str) -> Decimal {
    text.parse().expect("a decimal")
}

fn month(text: &str) -> BillingMonth {
    text.parse().expect("a month")
}

async fn setup(db: &TestDb) -> Store {
    let store = db.open().await;
    let listing = |number: &str| NewListing {
        number: number.into(),
        kind: ListingKind::E164,
        country: "KR".into(),
        area_code: Some("2".into()),
        price: money("10"),
        monthly: money("3.3"),
        currency: "KRW".into(),
        premium: None,
    };
    store
        .import_listings(&[listing(NUMBER), listing(OTHER)], &|_| {})
        .await
        .expect("importing the stock");
    store
}

async fn member(store: &Store, name: &str) -> MemberId {
    store
        .add_member(&NewMember {
            kind: MemberKind::Individual,
            display_name: name.into(),
            email: None,
            country: "KR".into(),
        })
        .await
        .expect("adding a member")
        .id
}

async fn top_up(store: &Store, member: MemberId, amount: &str, key: &str) {
    store
        .top_up(
            &Topup {
                member,
                amount: money(amount),
                currency: "KRW".into(),
                idempotency_key: key.into(),
            },
            Actor::Operator,
            T0,
        )
        .await
        .expect("topping up");
}

/// `member` buys `number` at `at` and pays from the balance.
async fn buy(store: &Store, member: MemberId, number: &str, at: i64) -> i64 {
    let order = store
        .request_order(
            &NewOrder {
                member,
                number: number.into(),
                idempotency_key: format!("buy {number} at {at}"),
            },
            at,
            DEFAULT_HOLD_MS,
        )
        .await
        .expect("ordering");
    let paid = store
        .pay_order_from_balance(order.id, Actor::Member(member), at)
        .await
        .expect("paying");
    assert_eq!(paid.state, OrderState::Assigned);
    order.id
}

async fn rentals_of(store: &Store, member: MemberId) -> Vec<String> {
    store
        .ledger(member)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == LedgerKind::Rental)
        .map(|e| format!("{} {}", e.amount, e.description.unwrap_or_default()))
        .collect()
}

async fn the_rental_run_charges_each_month_once_even_run_twice_or_concurrently(db: TestDb) {
    let store = setup(&db).await;
    let alice = member(&store, "Alice").await;
    top_up(&store, alice, "100", "cash").await;
    let order = buy(&store, alice, NUMBER, T0).await;
    // December was charged with the price.
    assert_eq!(balance(&store, alice).await, money("86.7"));

    let december = store.run_rentals(month("2026-12"), T0 + DAY).await.unwrap();
    assert_eq!((december.charged.len(), december.already_charged), (0, 1));
    // A month before the purchase is not charged at all.
    let november = store.run_rentals(month("2026-11"), T0 + DAY).await.unwrap();
    assert_eq!((november.charged.len(), november.already_charged), (0, 0));

    // January: eight runs at once, through two stores (two nodes).
    let other = Store::open(db.target()).await.expect("a second store");
    let runs = (0..8).map(|i| {
        let store = if i % 2 == 0 {
            store.clone()
        } else {
            other.clone()
        };
        tokio::spawn(async move { store.run_rentals(month("2027-01"), T0 + 31 * DAY).await })
    });
    let mut charged = Vec::new();
    let mut already = 0;
    for run in futures_join(runs).await {
        let run = run.expect("a run");
        charged.extend(run.charged);
        already += run.already_charged;
    }
    assert_eq!(charged.len(), 1, "{charged:?}");
    assert_eq!(already, 7);
    let charge = &charged[0];
    assert_eq!(
        (
            charge.order_id,
            charge.member_id,
            charge.amount,
            charge.balance
        ),
        (order, alice, money("3.3"), money("83.4"))
    );
    let again = store
        .run_rentals(month("2027-01"), T0 + 32 * DAY)
        .await
        .unwrap();
    assert_eq!((again.charged.len(), again.already_charged), (0, 1));

    let rentals = rentals_of(&store, alice).await;
    assert_eq!(rentals.len(), 2, "{rentals:?}");
    assert!(rentals[0].starts_with("-3.3 rental of ") && rentals[0].ends_with(" for 2026-12"));
    assert!(rentals[1].ends_with(" for 2027-01"), "{rentals:?}");
    assert_eq!(balance(&store, alice).await, money("83.4"));
    assert!(store.arrears().await.unwrap().is_empty());
    assert_ledger_balanced(&store, alice).await;
}

/// Awaits every handle, in order.
async fn futures_join<T: Send + 'static>(
    handles: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<T> {
    let mut outcomes = Vec::new();
    for handle in handles.collect::<Vec<_>>() {
        outcomes.push(handle.await.expect("the task ran"));
    }
    outcomes
}

async fn a_short_balance_is_charged_all_the_same_and_the_member_is_in_arrears(db: TestDb) {
    let store = setup(&db).await;
    let alice = member(&store, "Alice").await;
    let bob = member(&store, "Bob").await;
    top_up(&store, alice, "13.3", "cash").await;
    top_up(&store, bob, "20", "cash").await;
    buy(&store, alice, NUMBER, T0).await;
    buy(&store, bob, OTHER, T0).await;
    assert_eq!(balance(&store, alice).await, Decimal::ZERO);

    let run = store
        .run_rentals(month("2027-01"), T0 + 31 * DAY)
        .await
        .unwrap();
    assert_eq!(run.charged.len(), 2);
    assert_eq!(balance(&store, alice).await, money("-3.3"));
    assert_eq!(balance(&store, bob).await, money("3.4"));
    let arrears: Vec<_> = run
        .arrears
        .iter()
        .map(|a| (a.member_id, a.currency.as_str(), a.balance))
        .collect();
    assert_eq!(arrears, [(alice, "KRW", money("-3.3"))]);
    assert_eq!(store.arrears().await.unwrap(), run.arrears);
    assert_ledger_balanced(&store, alice).await;

    // A top-up that covers the debt takes the member out of arrears.
    top_up(&store, alice, "3.3", "cash-2").await;
    assert!(store.arrears().await.unwrap().is_empty());
    assert_ledger_balanced(&store, alice).await;
}

async fn a_released_number_stops_working_is_not_charged_and_waits_out_its_quarantine(db: TestDb) {
    let store = setup(&db).await;
    let alice = member(&store, "Alice").await;
    let bob = member(&store, "Bob").await;
    top_up(&store, alice, "100", "cash").await;
    top_up(&store, bob, "100", "cash").await;
    let order = buy(&store, alice, NUMBER, T0).await;
    let ha1 = "0123456789abcdef0123456789abcdef";
    store
        .set_password_ha1s(NUMBER, REALM, &[(Algorithm::Md5, ha1)])
        .await
        .unwrap();
    let aor = format!("sip:{NUMBER}@{REALM}");
    store
        .upsert_binding(&Binding {
            aor: aor.clone(),
            contact: "sip:alice@192.0.2.1:5060".into(),
            q: 1000,
            expires_at: T0 + DAY,
            call_id: "reg-1@phone".into(),
            cseq: 1,
            path: String::new(),
            received: "udp:192.0.2.1:5060".into(),
            instance_id: None,
            reg_id: None,
            user_agent: "baresip".into(),
            node: "node-a".into(),
            updated_at: T0,
        })
        .await
        .unwrap();

    // Only the holder's number can be released.
    assert!(matches!(
        store
            .release_number(
                bob,
                NUMBER,
                Actor::Member(bob),
                T0 + DAY,
                DEFAULT_QUARANTINE_MS
            )
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(store.holder(NUMBER).await.unwrap().is_some());

    let released_at = T0 + 2 * DAY;
    let release = store
        .release_number(
            alice,
            NUMBER,
            Actor::Member(alice),
            released_at,
            DEFAULT_QUARANTINE_MS,
        )
        .await
        .unwrap();
    assert_eq!(
        (release.member_id, release.order_id, release.actor.as_str()),
        (alice, Some(order), format!("member {alice}").as_str())
    );
    assert_eq!(
        release.quarantine_until,
        released_at + DEFAULT_QUARANTINE_MS
    );
    assert_eq!(store.holder(NUMBER).await.unwrap(), None);
    assert_eq!(
        store.ha1(NUMBER, REALM, Algorithm::Md5).await.unwrap(),
        None
    );
    assert!(store.bindings(&aor, T0).await.unwrap().is_empty());
    assert_eq!(
        store.number_releases(NUMBER).await.unwrap(),
        std::slice::from_ref(&release)
    );
    let events = store.order_events(order).await.unwrap();
    let last = events.last().unwrap();
    assert!(
        last.note.as_deref().unwrap().contains("quarantine until"),
        "{last:?}"
    );
    assert_eq!(
        store
            .order(order, released_at)
            .await
            .unwrap()
            .unwrap()
            .released_at,
        Some(released_at)
    );

    // Out of sale while in quarantine, and not charged any more.
    let listing = store.listing(NUMBER).await.unwrap().unwrap();
    assert_eq!(listing.state, ListingState::Withdrawn);
    let err = store
        .request_order(
            &NewOrder {
                member: bob,
                number: NUMBER.into(),
                idempotency_key: "b".into(),
            },
            released_at + DAY,
            DEFAULT_HOLD_MS,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("in quarantine until"), "{err}");
    let january = store
        .run_rentals(month("2027-01"), T0 + 31 * DAY)
        .await
        .unwrap();
    assert_eq!((january.charged.len(), january.already_charged), (0, 0));
    // Released twice: nobody holds it.
    assert!(matches!(
        store
            .release_number(alice, NUMBER, Actor::Member(alice), released_at, 0)
            .await,
        Err(StoreError::NotFound { .. })
    ));
    // The operator cannot take back (and refund) what was given back.
    assert!(matches!(
        store
            .cancel_order(order, Actor::Operator, released_at)
            .await,
        Err(StoreError::Conflict { .. })
    ));

    assert_eq!(
        store
            .end_quarantines(release.quarantine_until - 1)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .end_quarantines(release.quarantine_until)
            .await
            .unwrap(),
        1
    );
    let listing = store.listing(NUMBER).await.unwrap().unwrap();
    assert_eq!(listing.state, ListingState::Available);
    let returned = store.number_releases(NUMBER).await.unwrap();
    assert_eq!(returned[0].returned_at, Some(release.quarantine_until));
    // Bob buys it; only his rental runs from now on.
    let later = release.quarantine_until + DAY;
    buy(&store, bob, NUMBER, later).await;
    let run = store
        .run_rentals(BillingMonth::of(later).next(), later + 31 * DAY)
        .await
        .unwrap();
    let charged: Vec<_> = run.charged.iter().map(|c| c.member_id).collect();
    assert_eq!(charged, [bob]);
    assert_ledger_balanced(&store, alice).await;
    assert_ledger_balanced(&store, bob).await;
}

async fn a_release_with_no_quarantine_puts_the_number_on_sale_at_once(db: TestDb) {
    let store = setup(&db).await;
    let alice = member(&store, "Alice").await;
    top_up(&store, alice, "100", "cash").await;
    buy(&store, alice, NUMBER, T0).await;
    let release = store
        .release_number(alice, NUMBER, Actor::Operator, T0 + 1, 0)
        .await
        .unwrap();
    assert_eq!(release.returned_at, Some(T0 + 1));
    assert_eq!(release.actor, "operator");
    let listing = store.listing(NUMBER).await.unwrap().unwrap();
    assert_eq!(listing.state, ListingState::Available);
    // A number granted outside the marketplace has no order to stop.
    store
        .grant("0262006200082", NumberKind::Pin, alice)
        .await
        .unwrap();
    let release = store
        .release_number(
            alice,
            "0262006200082",
            Actor::Operator,
            T0 + 2,
            DEFAULT_QUARANTINE_MS,
        )
        .await
        .unwrap();
    assert_eq!((release.order_id, release.returned_at), (None, None));
    assert_eq!(
        store
            .end_quarantines(release.quarantine_until)
            .await
            .unwrap(),
        0
    );
}

async fn bad_releases_and_months_are_refused_and_change_nothing(db: TestDb) {
    let store = setup(&db).await;
    let alice = member(&store, "Alice").await;
    top_up(&store, alice, "100", "cash").await;
    buy(&store, alice, NUMBER, T0).await;
    for (number, quarantine) in [("not a number", 0), ("", 0), (NUMBER, -1)] {
        let err = store
            .release_number(alice, number, Actor::Member(alice), T0, quarantine)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Invalid { .. }), "{number}: {err}");
    }
    assert!(matches!(
        store
            .release_number(alice, OTHER, Actor::Member(alice), T0, 0)
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(store.holder(NUMBER).await.unwrap().is_some());
    assert!(store.number_releases(NUMBER).await.unwrap().is_empty());
    for bad in [
        "2026-13",
        "2026/12",
        "December",
        "2026-1'; DROP TABLE rentals; --",
    ] {
        let err = bad.parse::<BillingMonth>().unwrap_err();
        assert!(err.to_string().contains("YYYY-MM"), "{err}");
    }
    // Never ahead: a month that has not begun is refused.
    let err = store.run_rentals(month("2027-01"), T0).await.unwrap_err();
    assert!(err.to_string().contains("2027-01 has not begun"), "{err}");
    assert_eq!(balance(&store, alice).await, money("86.7"));
}
