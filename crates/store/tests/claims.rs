//! Claims of e-mail addresses and domains (SPEC §3), pinned once and run
//! against both engines: tokens, expiry, attempts, revoking, and the one
//! verified claimant per value when members race.

mod support;

use sqlx::{Connection, Executor, PgConnection, SqliteConnection};
use store::claims::{MAX_ATTEMPTS, TOKEN_VALID_MS};
use store::prelude::*;
use store::{ClaimKind, ClaimState, SqliteStore, VerifiedBy};
use support::{on_both_engines, TestDb};

on_both_engines!(
    a_right_code_verifies_and_the_address_resolves_to_the_pin,
    a_wrong_code_counts_and_too_many_lock_the_claim,
    an_expired_token_is_refused,
    revoking_stops_the_value_resolving_at_once,
    a_value_is_verified_for_one_member_when_many_race,
    the_operator_verifies_without_a_token,
    claims_move_the_directory_version,
    a_claim_needs_a_number_of_the_right_kind_held_by_the_member,
    releasing_the_number_ends_its_claims,
    many_tokens_found_at_once_cost_one_attempt,
);

const PIN: &str = "0262006200082";
const VNS: &str = "62006200";

async fn add(store: &Store, name: &str, kind: MemberKind) -> MemberId {
    store
        .add_member(&NewMember {
            kind,
            display_name: name.into(),
            email: None,
            country: "KR".into(),
        })
        .await
        .expect("adding a member")
        .id
}

async fn alice_with_pin(store: &Store) -> MemberId {
    let alice = add(store, "Alice", MemberKind::Individual).await;
    store.grant(PIN, NumberKind::Pin, alice).await.unwrap();
    alice
}

/// Runs `statement` on the test's database, behind the store's back.
async fn execute(db: &TestDb, statement: &str) {
    if db.target().starts_with("postgres") {
        let mut conn = PgConnection::connect(db.target()).await.expect("connect");
        conn.execute(statement).await.expect("execute");
    } else {
        let file = std::path::Path::new(db.target()).join(SqliteStore::FILE_NAME);
        let url = format!("sqlite://{}", file.display());
        let mut conn = SqliteConnection::connect(&url).await.expect("connect");
        conn.execute(statement).await.expect("execute");
    }
}

/// A code that is not `right`.
fn wrong(right: &str) -> String {
    if right == "000000" {
        "111111"
    } else {
        "000000"
    }
    .to_owned()
}

async fn a_right_code_verifies_and_the_address_resolves_to_the_pin(db: TestDb) {
    let store = db.open().await;
    let alice = alice_with_pin(&store).await;
    let new = store
        .create_claim(alice, ClaimKind::Email, "Alice@Example.COM", PIN)
        .await
        .unwrap();
    assert_eq!(new.claim.value, "alice@example.com");
    assert_eq!(new.claim.state, ClaimState::Pending);
    assert_eq!(
        store
            .verified_claim(ClaimKind::Email, "alice@example.com")
            .await
            .unwrap(),
        None,
        "a pending claim resolves nothing"
    );

    let verified = store
        .verify_claim(alice, new.claim.id, &new.token)
        .await
        .unwrap();
    assert_eq!(verified.state, ClaimState::Verified);
    assert_eq!(verified.verified_by, Some(VerifiedBy::Email));
    assert_eq!(
        store
            .verified_claim(ClaimKind::Email, "ALICE@example.com")
            .await
            .unwrap()
            .as_deref(),
        Some(PIN)
    );
    assert_eq!(store.claims_of(alice).await.unwrap(), vec![verified]);
    assert!(matches!(
        store.verify_claim(alice, new.claim.id, &new.token).await,
        Err(StoreError::Conflict { .. })
    ));
}

async fn a_wrong_code_counts_and_too_many_lock_the_claim(db: TestDb) {
    let store = db.open().await;
    let alice = alice_with_pin(&store).await;
    let new = store
        .create_claim(alice, ClaimKind::Email, "alice@example.com", PIN)
        .await
        .unwrap();
    let bob = add(&store, "Bob", MemberKind::Individual).await;
    assert!(
        matches!(
            store.verify_claim(bob, new.claim.id, &new.token).await,
            Err(StoreError::NotFound { .. })
        ),
        "another member cannot verify it"
    );
    for tried in 1..=MAX_ATTEMPTS {
        match store
            .verify_claim(alice, new.claim.id, &wrong(&new.token))
            .await
        {
            Err(StoreError::Invalid { reason, .. }) => {
                assert!(reason.contains("attempt"), "{reason}")
            }
            other => panic!("a wrong code, got {other:?}"),
        }
        let claim = store.claim(new.claim.id).await.unwrap().unwrap();
        assert_eq!(claim.attempts, tried);
    }
    match store.verify_claim(alice, new.claim.id, &new.token).await {
        Err(StoreError::Conflict { what }) => assert!(what.contains("wrong codes"), "{what}"),
        other => panic!("the right code after too many wrong ones, got {other:?}"),
    }
    // Claiming again gives a fresh code.
    let again = store
        .create_claim(alice, ClaimKind::Email, "alice@example.com", PIN)
        .await
        .unwrap();
    store
        .verify_claim(alice, again.claim.id, &again.token)
        .await
        .unwrap();
}

async fn an_expired_token_is_refused(db: TestDb) {
    let store = db.open().await;
    let company = add(&store, "Example Inc.", MemberKind::Company).await;
    store.grant(VNS, NumberKind::Vns, company).await.unwrap();
    let new = store
        .create_claim(company, ClaimKind::Domain, "example.com.", VNS)
        .await
        .unwrap();
    assert_eq!(new.claim.value, "example.com");
    assert!(new.claim.expires_at - new.claim.created_at == TOKEN_VALID_MS);
    execute(
        &db,
        &format!(
            "UPDATE claims SET expires_at = created_at - 1 WHERE id = {}",
            new.claim.id
        ),
    )
    .await;
    match store.verify_claim(company, new.claim.id, &new.token).await {
        Err(StoreError::Conflict { what }) => assert!(what.contains("expired"), "{what}"),
        other => panic!("an expired token, got {other:?}"),
    }
    assert_eq!(
        store
            .verified_claim(ClaimKind::Domain, "example.com")
            .await
            .unwrap(),
        None
    );
}

async fn revoking_stops_the_value_resolving_at_once(db: TestDb) {
    let store = db.open().await;
    let alice = alice_with_pin(&store).await;
    let new = store
        .create_claim(alice, ClaimKind::Email, "alice@example.com", PIN)
        .await
        .unwrap();
    store
        .verify_claim(alice, new.claim.id, &new.token)
        .await
        .unwrap();
    let bob = add(&store, "Bob", MemberKind::Individual).await;
    assert!(matches!(
        store.revoke_claim(Some(bob), new.claim.id).await,
        Err(StoreError::NotFound { .. })
    ));
    let revoked = store.revoke_claim(Some(alice), new.claim.id).await.unwrap();
    assert_eq!(revoked.state, ClaimState::Revoked);
    assert_eq!(
        store
            .verified_claim(ClaimKind::Email, "alice@example.com")
            .await
            .unwrap(),
        None
    );
    assert!(matches!(
        store.verify_claim(alice, new.claim.id, &new.token).await,
        Err(StoreError::Conflict { .. })
    ));
}

async fn a_value_is_verified_for_one_member_when_many_race(db: TestDb) {
    let store = db.open().await;
    let mut pending = Vec::new();
    for i in 0..8 {
        let member = add(&store, &format!("Member {i}"), MemberKind::Individual).await;
        let pin = format!("02620062{i:02}082");
        store.grant(&pin, NumberKind::Pin, member).await.unwrap();
        let new = store
            .create_claim(member, ClaimKind::Email, "shared@example.com", &pin)
            .await
            .unwrap();
        pending.push((member, new));
    }
    let mut racers = Vec::new();
    for (member, new) in pending {
        let store = db.open().await;
        racers.push(tokio::spawn(async move {
            store.verify_claim(member, new.claim.id, &new.token).await
        }));
    }
    let mut won = 0;
    for racer in racers {
        match racer.await.unwrap() {
            Ok(_) => won += 1,
            Err(StoreError::Conflict { what }) => {
                assert!(what.contains("shared@example.com"), "{what}")
            }
            Err(other) => panic!("a racer failed otherwise: {other}"),
        }
    }
    assert_eq!(won, 1, "exactly one member verifies the address");
}

async fn the_operator_verifies_without_a_token(db: TestDb) {
    let store = db.open().await;
    let company = add(&store, "Example Inc.", MemberKind::Company).await;
    store.grant(VNS, NumberKind::Vns, company).await.unwrap();
    let new = store
        .create_claim(company, ClaimKind::Domain, "example.com", VNS)
        .await
        .unwrap();
    let verified = store.verify_claim_as_operator(new.claim.id).await.unwrap();
    assert_eq!(verified.verified_by, Some(VerifiedBy::Operator));
    assert_eq!(
        store
            .verified_claim(ClaimKind::Domain, "Example.com.")
            .await
            .unwrap()
            .as_deref(),
        Some(VNS)
    );
    let other = add(&store, "Other Inc.", MemberKind::Company).await;
    store
        .grant("62006201", NumberKind::Vns, other)
        .await
        .unwrap();
    match store
        .create_claim(other, ClaimKind::Domain, "example.com", "62006201")
        .await
    {
        Err(StoreError::Conflict { what }) => {
            assert!(what.contains(&format!("member {company}")), "{what}")
        }
        other => panic!("claiming a verified domain, got {other:?}"),
    }
}

async fn claims_move_the_directory_version(db: TestDb) {
    let store = db.open().await;
    let alice = alice_with_pin(&store).await;
    let before = store.directory_version().await.unwrap();
    let new = store
        .create_claim(alice, ClaimKind::Email, "alice@example.com", PIN)
        .await
        .unwrap();
    let claimed = store.directory_version().await.unwrap();
    assert_ne!(claimed, before);
    store
        .verify_claim(alice, new.claim.id, &new.token)
        .await
        .unwrap();
    let verified = store.directory_version().await.unwrap();
    assert_ne!(verified, claimed);
    store.revoke_claim(None, new.claim.id).await.unwrap();
    assert_ne!(store.directory_version().await.unwrap(), verified);
}

async fn a_claim_needs_a_number_of_the_right_kind_held_by_the_member(db: TestDb) {
    let store = db.open().await;
    let alice = alice_with_pin(&store).await;
    let bob = add(&store, "Bob", MemberKind::Individual).await;
    assert!(matches!(
        store
            .create_claim(bob, ClaimKind::Email, "bob@example.com", PIN)
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store
            .create_claim(alice, ClaimKind::Domain, "example.com", PIN)
            .await,
        Err(StoreError::Invalid { .. })
    ));
    match store
        .create_claim(alice, ClaimKind::Domain, "bücher.example", VNS)
        .await
    {
        Err(StoreError::Invalid { reason, .. }) => assert!(reason.contains("xn--"), "{reason}"),
        other => panic!("an IDN in Unicode, got {other:?}"),
    }
    assert!(store.claims_of(alice).await.unwrap().is_empty());
}

async fn releasing_the_number_ends_its_claims(db: TestDb) {
    let store = db.open().await;
    let alice = alice_with_pin(&store).await;
    let new = store
        .create_claim(alice, ClaimKind::Email, "alice@example.com", PIN)
        .await
        .unwrap();
    store
        .verify_claim(alice, new.claim.id, &new.token)
        .await
        .unwrap();
    store.release(PIN).await.unwrap();
    assert_eq!(
        store
            .verified_claim(ClaimKind::Email, "alice@example.com")
            .await
            .unwrap(),
        None
    );
    assert!(store.claims_of(alice).await.unwrap().is_empty());
}

async fn many_tokens_found_at_once_cost_one_attempt(db: TestDb) {
    let store = db.open().await;
    let company = add(&store, "Example Inc.", MemberKind::Company).await;
    store.grant(VNS, NumberKind::Vns, company).await.unwrap();
    let new = store
        .create_claim(company, ClaimKind::Domain, "example.com", VNS)
        .await
        .unwrap();
    let stale = ["0123456789abcdef0123456789abcdef"; 7];
    assert!(matches!(
        store
            .verify_claim_with_any(company, new.claim.id, &stale)
            .await,
        Err(StoreError::Invalid { .. })
    ));
    let claim = store.claim(new.claim.id).await.unwrap().unwrap();
    assert_eq!(claim.attempts, 1, "seven wrong records, one attempt");
    let verified = store
        .verify_claim_with_any(company, new.claim.id, &[stale[0], &new.token])
        .await
        .unwrap();
    assert_eq!(verified.verified_by, Some(VerifiedBy::Dns));
}
