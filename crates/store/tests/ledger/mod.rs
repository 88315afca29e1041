//! The prepaid ledger as the order and rental tests check it.

use rust_decimal::Decimal;
use store::prelude::*;
use store::Orders;

/// The member's balance in KRW (zero when there is none).
pub async fn balance(store: &Store, member: MemberId) -> Decimal {
    store
        .balances(member)
        .await
        .unwrap()
        .into_iter()
        .find(|b| b.currency == "KRW")
        .map_or(Decimal::ZERO, |b| b.amount)
}

/// Every transaction sums to zero, and the member's balance is the sum of
/// their entries.
pub async fn assert_ledger_balanced(store: &Store, member: MemberId) {
    assert_eq!(
        store.unbalanced_transactions().await.unwrap(),
        Vec::<i64>::new()
    );
    let sum: Decimal = store
        .ledger(member)
        .await
        .unwrap()
        .iter()
        .map(|e| e.amount)
        .sum();
    assert_eq!(
        sum,
        balance(store, member).await,
        "the balance is its entries' sum"
    );
}
