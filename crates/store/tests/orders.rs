//! The purchase flow and the prepaid ledger, pinned once and run against
//! both engines: the state machine and who moved it, the race for one
//! number, the ledger summing to zero, a failed payment changing nothing,
//! expiry releasing the number, idempotency keys.

mod ledger;
mod support;

use ledger::{assert_ledger_balanced, balance};
use rust_decimal::Decimal;
use store::orders::DEFAULT_HOLD_MS;
use store::prelude::*;
use store::{
    Actor, Inventory, LedgerKind, ListingKind, ListingState, NewListing, NewOrder, Order,
    OrderState, Orders, PaymentProvider, Premium, PrepaidBalance, Store, Topup,
};
use support::{on_both_engines, TestDb};

on_both_engines!(
    a_free_number_is_approved_at_once_paid_from_the_balance_and_assigned,
    premium_and_vns_numbers_wait_for_the_operator_who_approves_or_rejects,
    of_many_buyers_racing_for_one_number_exactly_one_wins,
    a_failed_payment_changes_nothing,
    an_expired_hold_releases_the_number_even_before_the_sweep,
    idempotency_keys_make_a_repeated_order_or_top_up_one,
    cancelling_releases_the_number_and_the_operator_can_refund_an_assignment,
    bad_input_is_refused,
    sweeps_and_buyers_racing_for_a_run_out_hold_expire_it_once_and_one_buyer_wins,
);

/// 2026-12-01 10:00 UTC: the tests' clock.
const T0: i64 = 1_796_119_200_000;

const FREE: &str = "+82262006200";
const PREMIUM_PIN: &str = "0262006200082";
const VNS: &str = "62006200#082";

fn money(text: &str) -> Decimal {
    text.parse().expect("a decimal")
}

async fn setup(db: &TestDb) -> Store {
    let store = db.open().await;
    let listing = |number: &str, kind, premium, price: &str| NewListing {
        number: number.into(),
        kind,
        country: "KR".into(),
        area_code: (kind != ListingKind::Vns).then(|| "2".into()),
        price: money(price),
        monthly: money("3.3"),
        currency: "KRW".into(),
        premium,
    };
    let outcome = store
        .import_listings(
            &[
                listing(FREE, ListingKind::E164, None, "10.5"),
                listing(
                    PREMIUM_PIN,
                    ListingKind::Pin,
                    Some(Premium::Repeated),
                    "250",
                ),
                listing(VNS, ListingKind::Vns, None, "1000"),
            ],
            &|_| {},
        )
        .await
        .expect("importing the stock");
    assert_eq!(outcome.imported, 3);
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

fn order_of(member: MemberId, number: &str, key: &str) -> NewOrder {
    NewOrder {
        member,
        number: number.into(),
        idempotency_key: key.into(),
    }
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

async fn state_of(store: &Store, number: &str) -> ListingState {
    store.listing(number).await.unwrap().expect("listed").state
}

async fn a_free_number_is_approved_at_once_paid_from_the_balance_and_assigned(db: TestDb) {
    let store = setup(&db).await;
    let alice = member(&store, "Alice").await;
    top_up(&store, alice, "20", "cash-1").await;

    let order = store
        .request_order(&order_of(alice, FREE, "buy-1"), T0, DEFAULT_HOLD_MS)
        .await
        .unwrap();
    assert_eq!(order.state, OrderState::Approved);
    assert_eq!(order.hold_until, Some(T0 + DEFAULT_HOLD_MS));
    assert_eq!((order.price, order.monthly), (money("10.5"), money("3.3")));
    assert_eq!(state_of(&store, FREE).await, ListingState::Held);

    let provider = PrepaidBalance {
        store: store.clone(),
    };
    let paid = provider
        .pay(order.id, Actor::Member(alice), T0 + 60_000)
        .await
        .unwrap();
    assert_eq!(paid.state, OrderState::Assigned);
    assert_eq!(
        paid.monthly,
        money("3.3"),
        "the rental goes with the assignment"
    );
    let held = store.holder(FREE).await.unwrap().expect("granted");
    assert_eq!((held.member_id, held.kind), (alice, NumberKind::E164));
    assert_eq!(state_of(&store, FREE).await, ListingState::Sold);
    // The price and the purchase month's rental.
    assert_eq!(balance(&store, alice).await, money("6.2"));

    let events = store.order_events(order.id).await.unwrap();
    let steps: Vec<_> = events
        .iter()
        .map(|e| (e.from, e.to, e.actor.as_str()))
        .collect();
    let by_alice = format!("member {alice}");
    assert_eq!(
        steps,
        [
            (None, OrderState::Requested, by_alice.as_str()),
            (Some(OrderState::Requested), OrderState::Approved, "system"),
            (
                Some(OrderState::Approved),
                OrderState::PaymentRequested,
                by_alice.as_str()
            ),
            (
                Some(OrderState::PaymentRequested),
                OrderState::Paid,
                by_alice.as_str()
            ),
            (Some(OrderState::Paid), OrderState::Assigned, "system"),
        ]
    );
    assert_eq!(events[0].at, T0);
    assert_eq!(events[4].at, T0 + 60_000);

    let kinds: Vec<_> = store
        .ledger(alice)
        .await
        .unwrap()
        .iter()
        .map(|e| (e.kind, e.amount))
        .collect();
    assert_eq!(
        kinds,
        [
            (LedgerKind::Topup, money("20")),
            (LedgerKind::Charge, money("-10.5")),
            (LedgerKind::Rental, money("-3.3"))
        ]
    );
    assert_ledger_balanced(&store, alice).await;

    // Paying twice is refused, and a sold number cannot be ordered.
    assert!(matches!(
        store
            .pay_order_from_balance(order.id, Actor::Member(alice), T0)
            .await,
        Err(StoreError::Conflict { .. })
    ));
    let bob = member(&store, "Bob").await;
    let err = store
        .request_order(&order_of(bob, FREE, "b"), T0, DEFAULT_HOLD_MS)
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), format!("number {FREE} is sold"));
}

async fn premium_and_vns_numbers_wait_for_the_operator_who_approves_or_rejects(db: TestDb) {
    let store = setup(&db).await;
    let alice = member(&store, "Alice").await;
    let premium = store
        .request_order(&order_of(alice, PREMIUM_PIN, "p"), T0, DEFAULT_HOLD_MS)
        .await
        .unwrap();
    let vns = store
        .request_order(&order_of(alice, VNS, "v"), T0, DEFAULT_HOLD_MS)
        .await
        .unwrap();
    assert_eq!(
        (premium.state, vns.state),
        (OrderState::Requested, OrderState::Requested)
    );
    let bob = member(&store, "Bob").await;
    let waiting = store
        .request_order(&order_of(bob, PREMIUM_PIN, "p"), T0, DEFAULT_HOLD_MS)
        .await
        .unwrap_err();
    assert_eq!(
        waiting.to_string(),
        "number 02-6200-6200-082 is awaiting the operator's approval for another order"
    );
    let queue: Vec<i64> = store
        .approval_queue()
        .await
        .unwrap()
        .iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(queue, [premium.id, vns.id]);

    // Not payable before approval.
    assert!(store
        .pay_order_from_balance(premium.id, Actor::Member(alice), T0)
        .await
        .unwrap_err()
        .to_string()
        .contains("awaiting the operator's approval"));

    let approved = store
        .approve_order(premium.id, Actor::Operator, T0 + 1000, 5 * 60_000)
        .await
        .unwrap();
    assert_eq!(approved.state, OrderState::Approved);
    assert_eq!(approved.hold_until, Some(T0 + 1000 + 5 * 60_000));

    let rejected = store
        .reject_order(
            vns.id,
            Actor::Operator,
            "  VNS numbers are for companies  ",
            T0 + 2000,
        )
        .await
        .unwrap();
    assert_eq!(rejected.state, OrderState::Rejected);
    assert_eq!(
        rejected.reason.as_deref(),
        Some("VNS numbers are for companies")
    );
    assert_eq!(state_of(&store, VNS).await, ListingState::Available);
    assert!(store.approval_queue().await.unwrap().is_empty());
    let last = store.order_events(vns.id).await.unwrap().pop().unwrap();
    assert_eq!((last.actor.as_str(), last.at), ("operator", T0 + 2000));

    // Approving twice, or rejecting without a reason, is refused.
    assert!(matches!(
        store
            .approve_order(premium.id, Actor::Operator, T0, DEFAULT_HOLD_MS)
            .await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(matches!(
        store
            .reject_order(premium.id, Actor::Operator, " ", T0)
            .await,
        Err(StoreError::Invalid { .. })
    ));
}

async fn of_many_buyers_racing_for_one_number_exactly_one_wins(db: TestDb) {
    let store = setup(&db).await;
    let mut buyers = Vec::new();
    for i in 0..24 {
        buyers.push(member(&store, &format!("Buyer {i}")).await);
    }
    // Half of them through a second store, as a second node (or the CLI)
    // would be.
    let other = Store::open(db.target()).await.expect("a second store");
    let requests = buyers.iter().enumerate().map(|(i, &buyer)| {
        let store = if i % 2 == 0 {
            store.clone()
        } else {
            other.clone()
        };
        tokio::spawn(async move {
            store
                .request_order(&order_of(buyer, FREE, "race"), T0, DEFAULT_HOLD_MS)
                .await
        })
    });
    let mut won = Vec::new();
    for request in requests.collect::<Vec<_>>() {
        match request.await.expect("the task") {
            Ok(order) => won.push(order),
            Err(StoreError::Conflict { what }) => {
                assert!(
                    what.contains("held by another order until 10:30 UTC"),
                    "{what}"
                )
            }
            Err(err) => panic!("{err}"),
        }
    }
    assert_eq!(won.len(), 1, "exactly one buyer wins");
    assert_eq!(won[0].state, OrderState::Approved);
    assert_eq!(state_of(&store, FREE).await, ListingState::Held);
}

async fn a_failed_payment_changes_nothing(db: TestDb) {
    let store = setup(&db).await;
    let alice = member(&store, "Alice").await;
    top_up(&store, alice, "4", "cash").await;
    let order = store
        .request_order(&order_of(alice, FREE, "k"), T0, DEFAULT_HOLD_MS)
        .await
        .unwrap();
    let events = store.order_events(order.id).await.unwrap();
    let ledger = store.ledger(alice).await.unwrap();

    let err = store
        .pay_order_from_balance(order.id, Actor::Member(alice), T0 + 1)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "the prepaid balance of member {alice} is 4 KRW and order {} costs 13.8 KRW (10.5 \
             and the rental of 2026-12, 3.3): top up at least 9.8 KRW first",
            order.id
        )
    );
    assert_eq!(
        store.order(order.id, T0 + 1).await.unwrap(),
        Some(order.clone())
    );
    assert_eq!(store.order_events(order.id).await.unwrap(), events);
    assert_eq!(store.ledger(alice).await.unwrap(), ledger);
    assert_eq!(balance(&store, alice).await, money("4"));
    assert_eq!(store.holder(FREE).await.unwrap(), None);
    assert_eq!(state_of(&store, FREE).await, ListingState::Held);

    // With enough money the same order goes through.
    top_up(&store, alice, "9.8", "cash-2").await;
    let paid = store
        .pay_order_from_balance(order.id, Actor::Member(alice), T0 + 2)
        .await
        .unwrap();
    assert_eq!(paid.state, OrderState::Assigned);
    assert_eq!(balance(&store, alice).await, Decimal::ZERO);
    assert_ledger_balanced(&store, alice).await;
}

async fn an_expired_hold_releases_the_number_even_before_the_sweep(db: TestDb) {
    let store = setup(&db).await;
    let alice = member(&store, "Alice").await;
    let bob = member(&store, "Bob").await;
    top_up(&store, alice, "100", "cash").await;
    let hold = 60_000;
    let order = store
        .request_order(&order_of(alice, FREE, "k"), T0, hold)
        .await
        .unwrap();
    let until = T0 + hold;

    let err = store
        .request_order(&order_of(bob, FREE, "k"), until - 1, hold)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("number {FREE} is held by another order until 10:01 UTC")
    );

    // Read as expired at once; not payable.
    let read = store.order(order.id, until).await.unwrap().unwrap();
    assert_eq!(read.state, OrderState::Expired);
    assert!(store
        .pay_order_from_balance(order.id, Actor::Member(alice), until)
        .await
        .unwrap_err()
        .to_string()
        .contains("ran out at 10:01 UTC"));
    assert_eq!(balance(&store, alice).await, money("100"));

    // The sweep expires it and puts the number back on sale.
    assert_eq!(store.expire_holds(until - 1).await.unwrap(), 0);
    assert_eq!(store.expire_holds(until).await.unwrap(), 1);
    assert_eq!(store.expire_holds(until).await.unwrap(), 0);
    assert_eq!(state_of(&store, FREE).await, ListingState::Available);
    let last = store.order_events(order.id).await.unwrap().pop().unwrap();
    assert_eq!(
        (last.to, last.actor.as_str()),
        (OrderState::Expired, "system")
    );

    // Bob's request, without any sweep, finds the number free once Alice's
    // second hold runs out.
    let second = store
        .request_order(&order_of(alice, FREE, "k2"), until, hold)
        .await
        .unwrap();
    let bobs = store
        .request_order(&order_of(bob, FREE, "k"), until + hold, hold)
        .await
        .unwrap();
    assert_eq!(bobs.state, OrderState::Approved);
    let seconds: Order = store.order(second.id, until + hold).await.unwrap().unwrap();
    assert_eq!(seconds.state, OrderState::Expired);
}

async fn idempotency_keys_make_a_repeated_order_or_top_up_one(db: TestDb) {
    let store = setup(&db).await;
    let alice = member(&store, "Alice").await;
    let first = store
        .request_order(&order_of(alice, FREE, "same"), T0, DEFAULT_HOLD_MS)
        .await
        .unwrap();
    let again = store
        .request_order(&order_of(alice, FREE, "same"), T0 + 5, DEFAULT_HOLD_MS)
        .await
        .unwrap();
    assert_eq!(first, again);
    assert_eq!(store.orders_of(alice, T0).await.unwrap().len(), 1);
    let other = store
        .request_order(&order_of(alice, PREMIUM_PIN, "same"), T0, DEFAULT_HOLD_MS)
        .await
        .unwrap_err();
    assert!(other.to_string().contains("was used for order"), "{other}");

    let topup = Topup {
        member: alice,
        amount: money("12.3456"),
        currency: "krw".into(),
        idempotency_key: "t".into(),
    };
    let once = store.top_up(&topup, Actor::Operator, T0).await.unwrap();
    let twice = store.top_up(&topup, Actor::Operator, T0).await.unwrap();
    assert!(!once.replayed && twice.replayed);
    assert_eq!(once.transaction_id, twice.transaction_id);
    assert_eq!(balance(&store, alice).await, money("12.3456"));
    let different = Topup {
        amount: money("1"),
        ..topup
    };
    assert!(matches!(
        store.top_up(&different, Actor::Operator, T0).await,
        Err(StoreError::Conflict { .. })
    ));
    assert_ledger_balanced(&store, alice).await;
}

async fn cancelling_releases_the_number_and_the_operator_can_refund_an_assignment(db: TestDb) {
    let store = setup(&db).await;
    let alice = member(&store, "Alice").await;
    top_up(&store, alice, "50", "cash").await;
    let order = store
        .request_order(&order_of(alice, FREE, "a"), T0, DEFAULT_HOLD_MS)
        .await
        .unwrap();
    let cancelled = store
        .cancel_order(order.id, Actor::Member(alice), T0 + 1)
        .await
        .unwrap();
    assert_eq!(cancelled.state, OrderState::Cancelled);
    assert_eq!(state_of(&store, FREE).await, ListingState::Available);
    assert!(matches!(
        store
            .cancel_order(order.id, Actor::Member(alice), T0 + 2)
            .await,
        Err(StoreError::Conflict { .. })
    ));

    let order = store
        .request_order(&order_of(alice, FREE, "b"), T0, DEFAULT_HOLD_MS)
        .await
        .unwrap();
    store
        .pay_order_from_balance(order.id, Actor::Member(alice), T0 + 3)
        .await
        .unwrap();
    assert_eq!(balance(&store, alice).await, money("36.2"));
    // The buyer releases a number rather than cancelling its purchase.
    assert!(store
        .cancel_order(order.id, Actor::Member(alice), T0 + 4)
        .await
        .unwrap_err()
        .to_string()
        .contains("release the number instead"));
    let refunded = store
        .cancel_order(order.id, Actor::Operator, T0 + 5)
        .await
        .unwrap();
    assert_eq!(refunded.state, OrderState::Cancelled);
    assert_eq!(balance(&store, alice).await, money("50"));
    assert_eq!(store.holder(FREE).await.unwrap(), None);
    assert_eq!(state_of(&store, FREE).await, ListingState::Available);
    assert_ledger_balanced(&store, alice).await;
}

async fn bad_input_is_refused(db: TestDb) {
    let store = setup(&db).await;
    let alice = member(&store, "Alice").await;
    let refused = |result: Result<Order, StoreError>| match result {
        Err(err @ (StoreError::Invalid { .. } | StoreError::NotFound { .. })) => err.to_string(),
        other => panic!("expected a refusal, got {other:?}"),
    };
    let bad_key = refused(
        store
            .request_order(&order_of(alice, FREE, ""), T0, DEFAULT_HOLD_MS)
            .await,
    );
    assert!(bad_key.contains("idempotency_key"), "{bad_key}");
    let unlisted = refused(
        store
            .request_order(&order_of(alice, "+82299999999", "k"), T0, DEFAULT_HOLD_MS)
            .await,
    );
    assert_eq!(unlisted, "number +82299999999 is not in the inventory");
    let nobody = refused(
        store
            .request_order(&order_of(MemberId(999), FREE, "k"), T0, DEFAULT_HOLD_MS)
            .await,
    );
    assert_eq!(nobody, "member 999 does not exist");
    assert_eq!(state_of(&store, FREE).await, ListingState::Available);
    assert!(store.order(12345, T0).await.unwrap().is_none());

    for (amount, currency) in [("0", "KRW"), ("-5", "KRW"), ("1.00001", "KRW"), ("1", "KR")] {
        let topup = Topup {
            member: alice,
            amount: money(amount),
            currency: currency.into(),
            idempotency_key: "t".into(),
        };
        assert!(
            matches!(
                store.top_up(&topup, Actor::Operator, T0).await,
                Err(StoreError::Invalid { .. })
            ),
            "{amount} {currency}"
        );
    }
    let nobody = Topup {
        member: MemberId(999),
        amount: money("1"),
        currency: "KRW".into(),
        idempotency_key: "t".into(),
    };
    assert!(matches!(
        store.top_up(&nobody, Actor::Operator, T0).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(store.ledger(alice).await.unwrap().is_empty());
}

async fn sweeps_and_buyers_racing_for_a_run_out_hold_expire_it_once_and_one_buyer_wins(db: TestDb) {
    let store = setup(&db).await;
    let alice = member(&store, "Alice").await;
    let first = store
        .request_order(&order_of(alice, FREE, "first"), T0, 60_000)
        .await
        .unwrap();
    let later = T0 + 60_000;
    let mut buyers = Vec::new();
    for i in 0..8 {
        buyers.push(member(&store, &format!("Buyer {i}")).await);
    }
    let other = Store::open(db.target()).await.expect("a second store");
    let mut tasks = Vec::new();
    for (i, &buyer) in buyers.iter().enumerate() {
        let store = if i % 2 == 0 {
            store.clone()
        } else {
            other.clone()
        };
        tasks.push(tokio::spawn(async move {
            if i % 3 == 0 {
                store.expire_holds(later).await.map(|_| None)
            } else {
                store
                    .request_order(&order_of(buyer, FREE, "late"), later, DEFAULT_HOLD_MS)
                    .await
                    .map(Some)
            }
        }));
    }
    let mut won = 0;
    for task in tasks {
        match task.await.expect("the task") {
            Ok(Some(_)) => won += 1,
            Ok(None) => {}
            Err(StoreError::Conflict { what }) => {
                assert!(what.contains("is held by another order until"), "{what}")
            }
            Err(err) => panic!("{err}"),
        }
    }
    assert_eq!(won, 1, "exactly one buyer wins");
    let expiries = store
        .order_events(first.id)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.to == OrderState::Expired)
        .count();
    assert_eq!(expiries, 1, "expired once");
}
