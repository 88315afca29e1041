//! Provisioning links on both engines: a link opens with its token only,
//! until it expires; a new link replaces the number's old one; only the
//! holder gets one; releasing the number deletes it.

mod support;

use store::prelude::*;
use store::provisioning::{DEFAULT_LINK_TTL_MS, MAX_LINK_TTL_MS};
use store::{Member, Provisioning};
use support::{on_both_engines, TestDb};

on_both_engines!(
    a_link_opens_with_its_token_until_it_expires_and_counts_fetches,
    a_new_link_replaces_the_number_s_old_one,
    only_the_holder_gets_a_link_and_bad_input_changes_nothing,
    releasing_the_number_deletes_its_link,
);

const PIN: &str = "0262006200082";
const PASSWORD: &str = "Xk3s9QmZ2vLp8RtY4wNb6HcJ";
const NOW: i64 = 1_800_000_000_000;

async fn holder(store: &Store, name: &str) -> Member {
    store
        .add_member(&NewMember {
            kind: MemberKind::Individual,
            display_name: name.into(),
            email: None,
            country: "KR".into(),
        })
        .await
        .expect("a member")
}

async fn a_link_opens_with_its_token_until_it_expires_and_counts_fetches(db: TestDb) {
    let store = db.open().await;
    let alice = holder(&store, "Alice").await;
    store.grant(PIN, NumberKind::Pin, alice.id).await.unwrap();
    let created = store
        .create_link(PIN, alice.id, PASSWORD, NOW, DEFAULT_LINK_TTL_MS)
        .await
        .expect("a link");
    assert!(created.token.starts_with("cxp_"), "{}", created.token);
    assert!(!format!("{created:?}").contains(&created.token));
    assert_eq!(created.link.number, PIN);
    assert_eq!(created.link.member_id, alice.id);
    assert_eq!(created.link.expires_at, NOW + DEFAULT_LINK_TTL_MS);
    assert_eq!(
        (created.link.fetches, created.link.last_fetched_at),
        (0, None)
    );

    // Kept across a restart: opened through a store opened anew.
    let reopened = Store::open(db.target()).await.expect("reopen the store");
    for fetch in 1..=2 {
        let at = NOW + fetch * 1_000;
        let opened = reopened
            .open_link(&created.token, at)
            .await
            .unwrap()
            .expect("the link opens");
        assert_eq!(opened.sip_password, PASSWORD);
        assert!(!format!("{opened:?}").contains(PASSWORD));
        assert_eq!(opened.link.fetches, fetch);
        assert_eq!(opened.link.last_fetched_at, Some(at));
    }
    // Another token of the right shape, a token of the wrong shape, and
    // the right one once expired: all nothing, and nothing counted.
    let flipped = if created.token.as_bytes()[10] == b'0' {
        "1"
    } else {
        "0"
    };
    let mut wrong = created.token.clone();
    wrong.replace_range(10..11, flipped);
    let expiry = NOW + DEFAULT_LINK_TTL_MS;
    for (token, at) in [
        (wrong.as_str(), NOW),
        ("cxp_short", NOW),
        ("", NOW),
        ("' OR 1=1 --", NOW),
        (created.token.as_str(), expiry),
        (created.token.as_str(), expiry + 1),
    ] {
        assert!(
            store.open_link(token, at).await.unwrap().is_none(),
            "{token:?} at {at}"
        );
    }
    let link = store.link(PIN).await.unwrap().expect("the link");
    assert_eq!(link.fetches, 2);
    assert_eq!(store.link("0262006200083").await.unwrap(), None);

    // The purge deletes it once expired, not before.
    assert_eq!(store.purge_links(expiry - 1).await.unwrap(), 0);
    assert!(store.link(PIN).await.unwrap().is_some());
    assert_eq!(store.purge_links(expiry).await.unwrap(), 1);
    assert_eq!(store.link(PIN).await.unwrap(), None);
}

async fn a_new_link_replaces_the_number_s_old_one(db: TestDb) {
    let store = db.open().await;
    let alice = holder(&store, "Alice").await;
    store.grant(PIN, NumberKind::Pin, alice.id).await.unwrap();
    let first = store
        .create_link(PIN, alice.id, PASSWORD, NOW, DEFAULT_LINK_TTL_MS)
        .await
        .unwrap();
    store
        .open_link(&first.token, NOW + 1)
        .await
        .unwrap()
        .unwrap();
    let second = store
        .create_link(PIN, alice.id, "another password", NOW + 10, 60_000)
        .await
        .unwrap();
    assert_ne!(first.token, second.token);
    assert!(store
        .open_link(&first.token, NOW + 20)
        .await
        .unwrap()
        .is_none());
    let opened = store
        .open_link(&second.token, NOW + 20)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(opened.sip_password, "another password");
    assert_eq!(opened.link.fetches, 1, "the count starts again");
    assert_eq!(opened.link.expires_at, NOW + 10 + 60_000);

    assert!(store.revoke_link(PIN).await.unwrap());
    assert!(!store.revoke_link(PIN).await.unwrap());
    assert!(store
        .open_link(&second.token, NOW + 30)
        .await
        .unwrap()
        .is_none());
}

async fn only_the_holder_gets_a_link_and_bad_input_changes_nothing(db: TestDb) {
    let store = db.open().await;
    let alice = holder(&store, "Alice").await;
    let mallory = holder(&store, "Mallory").await;
    store.grant(PIN, NumberKind::Pin, alice.id).await.unwrap();
    let refused = store
        .create_link(PIN, mallory.id, PASSWORD, NOW, DEFAULT_LINK_TTL_MS)
        .await;
    assert!(
        matches!(refused, Err(StoreError::NotFound { .. })),
        "{refused:?}"
    );
    let nobody_s = store
        .create_link(
            "0262006200083",
            alice.id,
            PASSWORD,
            NOW,
            DEFAULT_LINK_TTL_MS,
        )
        .await;
    assert!(
        matches!(nobody_s, Err(StoreError::NotFound { .. })),
        "{nobody_s:?}"
    );
    let too_long = "x".repeat(129);
    for (number, password, ttl) in [
        ("not a number", PASSWORD, DEFAULT_LINK_TTL_MS),
        (PIN, "", DEFAULT_LINK_TTL_MS),
        (PIN, too_long.as_str(), DEFAULT_LINK_TTL_MS),
        (PIN, PASSWORD, 0),
        (PIN, PASSWORD, -5),
        (PIN, PASSWORD, MAX_LINK_TTL_MS + 1),
    ] {
        let refused = store
            .create_link(number, alice.id, password, NOW, ttl)
            .await;
        assert!(
            matches!(refused, Err(StoreError::Invalid { .. })),
            "{number:?} {} {ttl}: {refused:?}",
            password.len()
        );
    }
    assert_eq!(store.link(PIN).await.unwrap(), None, "nothing was written");
}

async fn releasing_the_number_deletes_its_link(db: TestDb) {
    let store = db.open().await;
    let alice = holder(&store, "Alice").await;
    let bob = holder(&store, "Bob").await;
    store.grant(PIN, NumberKind::Pin, alice.id).await.unwrap();
    let link = store
        .create_link(PIN, alice.id, PASSWORD, NOW, DEFAULT_LINK_TTL_MS)
        .await
        .unwrap();
    store.release(PIN).await.unwrap();
    assert_eq!(store.link(PIN).await.unwrap(), None);
    // The number's next holder: the old token gives nothing.
    store.grant(PIN, NumberKind::Pin, bob.id).await.unwrap();
    assert!(store
        .open_link(&link.token, NOW + 1)
        .await
        .unwrap()
        .is_none());
}
