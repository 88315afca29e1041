//! The number directory's store (what a held number lists: SIP address,
//! home page, mailbox), pinned once and run against both engines.

mod support;

use sqlx::{Connection, Executor, PgConnection, SqliteConnection};
use store::prelude::*;
use store::{DirectoryListing, SqliteStore};
use support::{on_both_engines, TestDb};

on_both_engines!(
    the_holder_sets_reads_replaces_and_clears_a_numbers_entries,
    only_the_holder_of_a_held_number_can_list_entries,
    bad_entries_are_refused_and_keep_the_old_ones,
    the_directory_version_moves_when_entries_change_and_only_then,
    releasing_a_number_deletes_its_entries,
    listings_give_every_held_number_in_key_order,
    keys_of_every_kind_up_to_32_characters_can_list_entries,
);

// ---------------------------------------------------------------- fixtures

const PIN: &str = "0262006200082";

async fn add(store: &Store, name: &str) -> MemberId {
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

fn alices() -> DirectoryEntries {
    DirectoryEntries {
        sip: Some("sip:alice@example.com".into()),
        web: Some("https://alice.example.com/".into()),
        email: Some("alice@example.com".into()),
    }
}

#[track_caller]
fn assert_not_found<T: std::fmt::Debug>(result: Result<T, StoreError>, says: &str) {
    match result {
        Err(StoreError::NotFound { what }) => {
            assert!(what.contains(says), "{what:?} should say {says:?}")
        }
        other => panic!("expected not found ({says}), got {other:?}"),
    }
}

/// Puts a number straight into `numbers`, past the store's own check of
/// keys, as another version of the exchange could have written it: the
/// directory's columns must take any key `numbers` takes.
async fn insert_number_directly(db: &TestDb, key: &str, member: MemberId) {
    let statement = format!(
        "INSERT INTO numbers (number, kind, member_id, assigned_at) \
         VALUES ('{key}', 'pin', {}, 0)",
        member.0
    );
    if db.target().starts_with("postgres") {
        let mut conn = PgConnection::connect(db.target()).await.expect("connect");
        conn.execute(statement.as_str()).await.expect("insert");
    } else {
        let file = std::path::Path::new(db.target()).join(SqliteStore::FILE_NAME);
        let url = format!("sqlite://{}", file.display());
        let mut conn = SqliteConnection::connect(&url).await.expect("connect");
        conn.execute(statement.as_str()).await.expect("insert");
    }
}

// ---------------------------------------------------------------- tests

async fn the_holder_sets_reads_replaces_and_clears_a_numbers_entries(db: TestDb) {
    let store = db.open().await;
    let alice = add(&store, "Alice").await;
    store.grant(PIN, NumberKind::Pin, alice).await.unwrap();

    let listed = store.directory_listing(PIN).await.unwrap();
    assert_eq!(
        listed,
        Some(DirectoryListing {
            number: PIN.into(),
            kind: NumberKind::Pin,
            holder: alice,
            entries: DirectoryEntries::default(),
        }),
        "a held number lists nothing until its holder says so"
    );

    let set = store
        .set_directory_entries(PIN, alice, &alices())
        .await
        .unwrap();
    assert_eq!(set.entries, alices());
    assert_eq!(store.directory_listing(PIN).await.unwrap(), Some(set));

    let web_only = DirectoryEntries {
        web: Some("http://alice.example.net".into()),
        ..DirectoryEntries::default()
    };
    store
        .set_directory_entries(PIN, alice, &web_only)
        .await
        .unwrap();
    let listed = store.directory_listing(PIN).await.unwrap().unwrap();
    assert_eq!(listed.entries, web_only, "a set replaces all three");

    store
        .set_directory_entries(PIN, alice, &DirectoryEntries::default())
        .await
        .unwrap();
    let listed = store.directory_listing(PIN).await.unwrap().unwrap();
    assert!(listed.entries.is_empty(), "nothing given clears them");
    // Clearing what is already clear is no error.
    store
        .set_directory_entries(PIN, alice, &DirectoryEntries::default())
        .await
        .unwrap();
}

async fn only_the_holder_of_a_held_number_can_list_entries(db: TestDb) {
    let store = db.open().await;
    let alice = add(&store, "Alice").await;
    let bob = add(&store, "Bob").await;

    assert_not_found(
        store.set_directory_entries(PIN, alice, &alices()).await,
        "not held by any member",
    );
    assert_eq!(store.directory_listing(PIN).await.unwrap(), None);

    store.grant(PIN, NumberKind::Pin, alice).await.unwrap();
    store
        .set_directory_entries(PIN, alice, &alices())
        .await
        .unwrap();
    let bobs = DirectoryEntries {
        web: Some("https://bob.example.com/".into()),
        ..DirectoryEntries::default()
    };
    assert_not_found(
        store.set_directory_entries(PIN, bob, &bobs).await,
        &format!("held by member {alice}, not member {bob}"),
    );
    let listed = store.directory_listing(PIN).await.unwrap().unwrap();
    assert_eq!(listed.entries, alices(), "Bob changed nothing");
}

async fn bad_entries_are_refused_and_keep_the_old_ones(db: TestDb) {
    let store = db.open().await;
    let alice = add(&store, "Alice").await;
    store.grant(PIN, NumberKind::Pin, alice).await.unwrap();
    store
        .set_directory_entries(PIN, alice, &alices())
        .await
        .unwrap();

    let bad = [
        (
            "SIP address",
            DirectoryEntries {
                sip: Some("https://alice.example.com/".into()),
                ..alices()
            },
        ),
        (
            "home page",
            DirectoryEntries {
                web: Some("https://alice.example.com/\r\nSet-Cookie: x".into()),
                ..alices()
            },
        ),
        (
            "home page",
            DirectoryEntries {
                web: Some(format!("https://{}.example.com/", "a".repeat(300))),
                ..alices()
            },
        ),
        (
            "mailbox",
            DirectoryEntries {
                email: Some("not an address".into()),
                ..alices()
            },
        ),
    ];
    for (field, entries) in bad {
        match store.set_directory_entries(PIN, alice, &entries).await {
            Err(StoreError::Invalid { field: got, .. }) => assert_eq!(got, field),
            other => panic!("expected invalid {field}, got {other:?}"),
        }
    }
    let listed = store.directory_listing(PIN).await.unwrap().unwrap();
    assert_eq!(listed.entries, alices());
}

async fn the_directory_version_moves_when_entries_change_and_only_then(db: TestDb) {
    let store = db.open().await;
    let alice = add(&store, "Alice").await;
    store.grant(PIN, NumberKind::Pin, alice).await.unwrap();
    let before = store.directory_version().await.unwrap();

    store
        .set_directory_entries(PIN, alice, &alices())
        .await
        .unwrap();
    let listed = store.directory_version().await.unwrap();
    assert_ne!(listed, before, "listing entries moves the version");

    store
        .set_directory_entries(PIN, alice, &alices())
        .await
        .unwrap();
    assert_eq!(
        store.directory_version().await.unwrap(),
        listed,
        "writing the same entries again is no change"
    );

    let changed = DirectoryEntries {
        sip: Some("sips:alice@example.com".into()),
        ..alices()
    };
    store
        .set_directory_entries(PIN, alice, &changed)
        .await
        .unwrap();
    let replaced = store.directory_version().await.unwrap();
    assert_ne!(replaced, listed, "replacing an entry moves the version");

    store
        .set_directory_entries(PIN, alice, &DirectoryEntries::default())
        .await
        .unwrap();
    assert_ne!(
        store.directory_version().await.unwrap(),
        replaced,
        "clearing moves the version"
    );
}

async fn releasing_a_number_deletes_its_entries(db: TestDb) {
    let store = db.open().await;
    let alice = add(&store, "Alice").await;
    store.grant(PIN, NumberKind::Pin, alice).await.unwrap();
    store
        .set_directory_entries(PIN, alice, &alices())
        .await
        .unwrap();
    store.release(PIN).await.unwrap();
    assert_eq!(store.directory_listing(PIN).await.unwrap(), None);

    let bob = add(&store, "Bob").await;
    store.grant(PIN, NumberKind::Pin, bob).await.unwrap();
    let listed = store.directory_listing(PIN).await.unwrap().unwrap();
    assert_eq!(listed.holder, bob);
    assert!(
        listed.entries.is_empty(),
        "the next holder does not inherit Alice's home page"
    );
}

async fn listings_give_every_held_number_in_key_order(db: TestDb) {
    let store = db.open().await;
    let alice = add(&store, "Alice").await;
    let acme = add(&store, "Acme").await;
    store.grant(PIN, NumberKind::Pin, alice).await.unwrap();
    store
        .grant("62006200#082", NumberKind::Vns, acme)
        .await
        .unwrap();
    store
        .grant("62006200", NumberKind::Vns, acme)
        .await
        .unwrap();
    let acmes = DirectoryEntries {
        web: Some("https://acme.example/kr".into()),
        ..DirectoryEntries::default()
    };
    store
        .set_directory_entries("62006200#082", acme, &acmes)
        .await
        .unwrap();
    store
        .set_directory_entries(PIN, alice, &alices())
        .await
        .unwrap();

    let listings = store.directory_listings().await.unwrap();
    let summary: Vec<_> = listings
        .iter()
        .map(|l| (l.number.as_str(), l.kind, l.holder, l.entries.clone()))
        .collect();
    assert_eq!(
        summary,
        [
            (PIN, NumberKind::Pin, alice, alices()),
            (
                "62006200",
                NumberKind::Vns,
                acme,
                DirectoryEntries::default()
            ),
            ("62006200#082", NumberKind::Vns, acme, acmes),
        ]
    );
}

async fn keys_of_every_kind_up_to_32_characters_can_list_entries(db: TestDb) {
    let store = db.open().await;
    let alice = add(&store, "Alice").await;
    let longest = format!("{}#082", "1".repeat(28));
    assert_eq!(longest.len(), 32);
    for key in ["+82262006200", "62006200#082", "0262006200082", &longest] {
        insert_number_directly(&db, key, alice).await;
        store
            .set_directory_entries(key, alice, &alices())
            .await
            .unwrap_or_else(|err| panic!("{key}: {err}"));
        let listed = store.directory_listing(key).await.unwrap().unwrap();
        assert_eq!(listed.number, key);
        assert_eq!(listed.entries, alices());
    }
}
