//! The store's behaviour, pinned once and run against both engines.

mod support;

use std::process::Command;

use sip::digest::{ha1, Algorithm};
use store::prelude::*;
use store::{limits, BatchOutcome, Engine, HeldNumber};
use support::{on_both_engines, TestDb};

on_both_engines!(
    members_are_added_listed_and_found_by_email,
    a_taken_email_is_a_conflict_naming_its_holder,
    bad_member_input_is_refused_and_changes_nothing,
    numbers_are_granted_looked_up_and_released,
    a_number_held_by_another_member_is_a_conflict_naming_the_holder,
    concurrent_grants_of_one_number_have_one_winner,
    bad_numbers_are_refused_and_change_nothing,
    only_canonical_keys_of_the_granted_kind_are_taken,
    ha1s_are_replaced_atomically_and_looked_up_per_algorithm,
    credentials_need_a_held_number_and_are_released_with_it,
    the_directory_version_moves_with_every_credential_and_holder_change,
    bad_ha1s_are_refused_and_keep_the_old_ones,
    bindings_are_upserted_listed_by_q_and_removed,
    an_older_register_does_not_overwrite_a_newer_binding,
    a_batch_of_registrations_commits_together_and_reports_each_binding,
    bindings_expire_on_time_and_purge_deletes_them,
    bad_bindings_are_refused_and_change_nothing,
    a_call_opens_is_answered_and_closes_into_one_cdr,
    closing_a_call_twice_writes_one_cdr,
    concurrent_closes_of_one_call_write_one_cdr,
    a_batch_commits_opens_answers_and_closes_together,
    a_batch_with_one_bad_record_writes_nothing,
    a_large_batch_is_written_whole,
    interrupted_calls_are_closed_on_restart_with_what_is_known,
    a_calls_decision_is_kept_through_answer_close_and_recovery,
    a_bad_decision_is_refused_and_changes_nothing,
    cdrs_are_listed_by_filter_and_page,
    bad_call_input_is_refused_and_changes_nothing,
    a_cdr_written_before_the_process_is_killed_is_there_after_restart,
    api_tokens_are_created_verified_replaced_and_revoked,
);

// ---------------------------------------------------------------- fixtures

fn new_member(name: &str, email: Option<&str>, country: &str) -> NewMember {
    NewMember {
        kind: MemberKind::Individual,
        display_name: name.into(),
        email: email.map(Into::into),
        country: country.into(),
    }
}

async fn add(store: &Store, name: &str) -> MemberId {
    store
        .add_member(&new_member(name, None, "KR"))
        .await
        .expect("adding a member")
        .id
}

fn binding(aor: &str, contact: &str) -> Binding {
    Binding {
        aor: aor.into(),
        contact: contact.into(),
        q: 1000,
        expires_at: 10_000,
        call_id: "reg-1@phone".into(),
        cseq: 1,
        path: String::new(),
        received: "udp:192.0.2.1:5060".into(),
        instance_id: None,
        reg_id: None,
        user_agent: "baresip".into(),
        node: "node-a".into(),
        updated_at: 1_000,
    }
}

fn call(call_id: &str, node: &str, start_at: i64) -> ActiveCall {
    ActiveCall {
        call_id: call_id.into(),
        node: node.into(),
        a_leg_call_id: format!("{call_id}-a@caller"),
        b_leg_call_id: None,
        caller: "4420".into(),
        callee_dialled: "4421".into(),
        callee_presented: Some("4421".into()),
        decision: None,
        start_at,
        answer_at: None,
    }
}

/// The CDR of a call answered 1 s after its start and hung up 60 s later.
fn answered(call_id: &str, node: &str, start_at: i64) -> NewCdr {
    let mut call = call(call_id, node, start_at);
    call.answer_at = Some(start_at + 1_000);
    call.b_leg_call_id = Some(format!("{call_id}-b@exchange"));
    call.into_cdr(start_at + 61_000, Disposition::Answered, Some(200))
}

fn busy(call_id: &str, node: &str, start_at: i64) -> NewCdr {
    call(call_id, node, start_at).into_cdr(start_at + 2_000, Disposition::Busy, Some(486))
}

async fn all_cdrs(store: &Store) -> Vec<Cdr> {
    store
        .cdrs(&CdrFilter::default(), Page::first(1000))
        .await
        .expect("listing CDRs")
}

fn by_call_id(call_id: &str) -> CdrFilter {
    CdrFilter {
        call_id: Some(call_id.into()),
        ..CdrFilter::default()
    }
}

#[track_caller]
fn assert_invalid<T: std::fmt::Debug>(result: Result<T, StoreError>, field: &str) {
    match result {
        Err(StoreError::Invalid { field: got, reason }) => {
            assert_eq!(got, field, "refused for {got}: {reason}");
        }
        other => panic!("expected invalid {field}, got {other:?}"),
    }
}

// ---------------------------------------------------------------- members

async fn members_are_added_listed_and_found_by_email(db: TestDb) {
    let store = db.open().await;
    let before = store::now_millis();
    let alice = store
        .add_member(&new_member("Alice", Some("Alice@Example.com"), "kr"))
        .await
        .unwrap();
    assert_eq!(alice.display_name, "Alice");
    assert_eq!(alice.email.as_deref(), Some("Alice@Example.com"));
    assert_eq!(alice.country, "KR", "country codes are stored upper case");
    assert!(alice.created_at >= before);
    let company = store
        .add_member(&NewMember {
            kind: MemberKind::Company,
            ..new_member("Acme Ltd", None, "US")
        })
        .await
        .unwrap();
    let carol = add(&store, "Carol").await;

    assert_eq!(store.member(alice.id).await.unwrap().as_ref(), Some(&alice));
    assert_eq!(
        store.member(company.id).await.unwrap().unwrap().kind,
        MemberKind::Company
    );
    assert_eq!(store.member(MemberId(999_999)).await.unwrap(), None);

    let first = store.members(Page::first(2)).await.unwrap();
    assert_eq!(
        first.iter().map(|m| m.id).collect::<Vec<_>>(),
        [alice.id, company.id]
    );
    let rest = store.members(Page::after(company.id.0, 2)).await.unwrap();
    assert_eq!(rest.iter().map(|m| m.id).collect::<Vec<_>>(), [carol]);

    let found = store.member_by_email("alice@EXAMPLE.COM").await.unwrap();
    assert_eq!(
        found.map(|m| m.id),
        Some(alice.id),
        "e-mail look-up ignores case"
    );
    assert_eq!(
        store.member_by_email("bob@example.com").await.unwrap(),
        None
    );
    assert_eq!(store.member_by_email("not an address").await.unwrap(), None);
}

async fn a_taken_email_is_a_conflict_naming_its_holder(db: TestDb) {
    let store = db.open().await;
    let alice = store
        .add_member(&new_member("Alice", Some("alice@example.com"), "KR"))
        .await
        .unwrap();
    let again = store
        .add_member(&new_member("Mallory", Some("ALICE@example.com"), "KR"))
        .await;
    match again {
        Err(err @ StoreError::Conflict { .. }) => assert_eq!(
            err.to_string(),
            format!(
                "e-mail ALICE@example.com is registered to member {}",
                alice.id
            )
        ),
        other => panic!("expected a conflict, got {other:?}"),
    }
    // Members without an e-mail never conflict with each other.
    add(&store, "Bob").await;
    add(&store, "Bob").await;
    let names: Vec<_> = store
        .members(Page::first(10))
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.display_name)
        .collect();
    assert_eq!(names, ["Alice", "Bob", "Bob"]);
}

async fn bad_member_input_is_refused_and_changes_nothing(db: TestDb) {
    let store = db.open().await;
    let long_name = "x".repeat(limits::DISPLAY_NAME + 1);
    let long_email = format!("{}@example.com", "a".repeat(limits::EMAIL));
    let cases = [
        (new_member("", None, "KR"), "display name"),
        (new_member("   ", None, "KR"), "display name"),
        (new_member(&long_name, None, "KR"), "display name"),
        (
            new_member("Eve\r\nX-Injected: 1", None, "KR"),
            "display name",
        ),
        (new_member("Eve", Some("no-at-sign"), "KR"), "e-mail"),
        (new_member("Eve", Some("two@@example.com"), "KR"), "e-mail"),
        (new_member("Eve", Some("a b@example.com"), "KR"), "e-mail"),
        (new_member("Eve", Some(&long_email), "KR"), "e-mail"),
        (new_member("Eve", None, "KOR"), "country"),
        (new_member("Eve", None, "8"), "country"),
        (new_member("Eve", None, "K1"), "country"),
    ];
    for (member, field) in cases {
        assert_invalid(store.add_member(&member).await, field);
    }
    // The longest name accepted is accepted on both engines alike.
    let longest = "ü".repeat(limits::DISPLAY_NAME);
    let kept = store
        .add_member(&new_member(&longest, None, "DE"))
        .await
        .unwrap();
    assert_eq!(kept.display_name, longest);
    assert_eq!(store.members(Page::first(100)).await.unwrap().len(), 1);
}

// ---------------------------------------------------------------- numbers

/// An E.164 store key: with its `+`.
const LONDON: &str = "+442079460000";

async fn numbers_are_granted_looked_up_and_released(db: TestDb) {
    let store = db.open().await;
    let alice = add(&store, "Alice").await;
    let pin = store
        .grant("0262006200082", NumberKind::Pin, alice)
        .await
        .unwrap();
    assert_eq!(pin.member_id, alice);
    assert_eq!(pin.kind, NumberKind::Pin);
    store
        .grant("62006200#082", NumberKind::Vns, alice)
        .await
        .unwrap();

    assert_eq!(
        store.holder("0262006200082").await.unwrap().as_ref(),
        Some(&pin)
    );
    assert_eq!(store.holder("1234").await.unwrap(), None);
    let held: Vec<String> = store
        .numbers_of(alice)
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.number)
        .collect();
    assert_eq!(held, ["0262006200082", "62006200#082"]);

    let again = store
        .grant("0262006200082", NumberKind::Pin, alice)
        .await
        .unwrap();
    assert_eq!(
        again, pin,
        "granting a number to its holder again changes nothing"
    );

    assert_eq!(store.release("0262006200082").await.unwrap(), pin);
    assert_eq!(store.holder("0262006200082").await.unwrap(), None);
    assert!(matches!(
        store.release("0262006200082").await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn a_number_held_by_another_member_is_a_conflict_naming_the_holder(db: TestDb) {
    let store = db.open().await;
    let alice = add(&store, "Alice").await;
    let bob = add(&store, "Bob").await;
    let held = store.grant(LONDON, NumberKind::E164, alice).await.unwrap();

    let taken = store.grant(LONDON, NumberKind::E164, bob).await;
    match taken {
        Err(err @ StoreError::Conflict { .. }) => {
            assert_eq!(
                err.to_string(),
                format!("number {LONDON} is held by member {alice}")
            )
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    // 0262006200082 is the key of a PIN and of a bare company number.
    store
        .grant("0262006200082", NumberKind::Pin, alice)
        .await
        .unwrap();
    match store.grant("0262006200082", NumberKind::Vns, alice).await {
        Err(err @ StoreError::Conflict { .. }) => assert_eq!(
            err.to_string(),
            format!("number 0262006200082 is already held by member {alice} as a pin number")
        ),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(store.holder(LONDON).await.unwrap(), Some(held));
    assert!(store.numbers_of(bob).await.unwrap().is_empty());

    match store
        .grant("+442079460001", NumberKind::E164, MemberId(424_242))
        .await
    {
        Err(err @ StoreError::NotFound { .. }) => {
            assert_eq!(err.to_string(), "member 424242 does not exist")
        }
        other => panic!("expected not found, got {other:?}"),
    }
    assert_eq!(store.holder("+442079460001").await.unwrap(), None);
}

async fn concurrent_grants_of_one_number_have_one_winner(db: TestDb) {
    let store = db.open().await;
    let mut members = Vec::new();
    for i in 0..6 {
        members.push(add(&store, &format!("Buyer {i}")).await);
    }
    let grants = members.iter().map(|&member| {
        let store = store.clone();
        tokio::spawn(async move { store.grant("+12125550100", NumberKind::E164, member).await })
    });
    let mut winners = Vec::new();
    for grant in grants {
        match grant.await.unwrap() {
            Ok(held) => winners.push(held.member_id),
            Err(StoreError::Conflict { .. }) => {}
            Err(other) => panic!("a losing grant must be a conflict, got {other}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one buyer wins");
    assert_eq!(
        store
            .holder("+12125550100")
            .await
            .unwrap()
            .map(|h| h.member_id),
        Some(winners[0])
    );
}

async fn bad_numbers_are_refused_and_change_nothing(db: TestDb) {
    let store = db.open().await;
    let alice = add(&store, "Alice").await;
    let too_long = "1".repeat(limits::NUMBER + 1);
    for bad in [
        "", "12a4", "+4420", "02-6200", "#082", "1#2#3", " 4420", &too_long,
    ] {
        assert_invalid(store.grant(bad, NumberKind::Pin, alice).await, "number");
    }
    // The longest key: a PIN of 17 digits and its country code.
    let longest = "12345678901234567082";
    store.grant(longest, NumberKind::Pin, alice).await.unwrap();
    let held: Vec<HeldNumber> = store.numbers_of(alice).await.unwrap();
    assert_eq!(held.len(), 1);
    assert!(longest.len() <= limits::NUMBER);
}

async fn only_canonical_keys_of_the_granted_kind_are_taken(db: TestDb) {
    let store = db.open().await;
    let alice = add(&store, "Alice").await;
    for (written, kind) in [
        ("02-6200-6200-082", NumberKind::Pin),
        ("(02) 6200.6200 082", NumberKind::Pin),
        ("6200-6200#082", NumberKind::Vns),
        ("62006200%23082", NumberKind::Vns),
        ("4420", NumberKind::E164),
        ("442079460000", NumberKind::E164),
        ("+44 20 7946 0000", NumberKind::E164),
        ("+82 1", NumberKind::E164),
        // Canonical keys, of another kind.
        ("+442079460000", NumberKind::Pin),
        ("62006200#082", NumberKind::Pin),
        ("0262006200082", NumberKind::E164),
        // Not a country code: 099.
        ("0262006200099", NumberKind::Pin),
    ] {
        match store.grant(written, kind, alice).await {
            Err(StoreError::Invalid { field, reason }) => {
                assert_eq!(field, "number", "{written:?} as {kind}: {reason}");
                assert!(reason.contains(written), "{written:?}: {reason}");
            }
            other => panic!("{written:?} as {kind}: expected invalid, got {other:?}"),
        }
    }
    let md5 = ha1(Algorithm::Md5, "02-6200-6200-082", REALM, "secret");
    assert_invalid(
        store
            .set_password_ha1s("02-6200-6200-082", REALM, &[(Algorithm::Md5, &md5)])
            .await,
        "number",
    );
    assert!(store.numbers_of(alice).await.unwrap().is_empty());

    for (key, kind) in [
        ("0262006200082", NumberKind::Pin),
        ("62006200#082", NumberKind::Vns),
        ("62006200", NumberKind::Vns),
        (LONDON, NumberKind::E164),
    ] {
        let held = store.grant(key, kind, alice).await.unwrap();
        assert_eq!((held.number.as_str(), held.kind), (key, kind));
    }
}

// ---------------------------------------------------------------- SIP credentials

const REALM: &str = "callex.example";

async fn ha1s_are_replaced_atomically_and_looked_up_per_algorithm(db: TestDb) {
    let store = db.open().await;
    let alice = add(&store, "Alice").await;
    store.grant(LONDON, NumberKind::E164, alice).await.unwrap();
    let md5 = ha1(Algorithm::Md5, LONDON, REALM, "first secret");
    let sha = ha1(Algorithm::Sha256, LONDON, REALM, "first secret");
    store
        .set_password_ha1s(
            LONDON,
            REALM,
            &[(Algorithm::Md5, &md5), (Algorithm::Sha256, &sha)],
        )
        .await
        .unwrap();
    assert_eq!(
        store.ha1(LONDON, REALM, Algorithm::Md5).await.unwrap(),
        Some(md5)
    );
    assert_eq!(
        store.ha1(LONDON, REALM, Algorithm::Sha256).await.unwrap(),
        Some(sha)
    );
    assert_eq!(
        store
            .ha1(LONDON, "other.realm", Algorithm::Md5)
            .await
            .unwrap(),
        None
    );

    // A reset replaces the whole set: an algorithm left out is gone.
    let new_sha = ha1(Algorithm::Sha256, LONDON, REALM, "second secret");
    store
        .set_password_ha1s(
            LONDON,
            REALM,
            &[(Algorithm::Sha256, &new_sha.to_uppercase())],
        )
        .await
        .unwrap();
    assert_eq!(
        store.ha1(LONDON, REALM, Algorithm::Md5).await.unwrap(),
        None
    );
    assert_eq!(
        store.ha1(LONDON, REALM, Algorithm::Sha256).await.unwrap(),
        Some(new_sha),
        "HA1s are kept in lowercase hex"
    );
}

async fn credentials_need_a_held_number_and_are_released_with_it(db: TestDb) {
    let store = db.open().await;
    let md5 = ha1(Algorithm::Md5, LONDON, REALM, "secret");
    match store
        .set_password_ha1s(LONDON, REALM, &[(Algorithm::Md5, &md5)])
        .await
    {
        Err(err @ StoreError::NotFound { .. }) => {
            assert!(err.to_string().contains("grant it first"), "{err}")
        }
        other => panic!("expected not found, got {other:?}"),
    }
    let alice = add(&store, "Alice").await;
    store.grant(LONDON, NumberKind::E164, alice).await.unwrap();
    store
        .set_password_ha1s(LONDON, REALM, &[(Algorithm::Md5, &md5)])
        .await
        .unwrap();
    store.release(LONDON).await.unwrap();

    let bob = add(&store, "Bob").await;
    store.grant(LONDON, NumberKind::E164, bob).await.unwrap();
    assert_eq!(
        store.ha1(LONDON, REALM, Algorithm::Md5).await.unwrap(),
        None,
        "the next holder of a number does not inherit the old password"
    );
}

async fn the_directory_version_moves_with_every_credential_and_holder_change(db: TestDb) {
    let store = db.open().await;
    let first = store.directory_version().await.unwrap();
    let mut seen = vec![first];
    let mut changed = |version: i64, what: &str| {
        assert!(
            !seen.contains(&version),
            "{what} moves the version: {seen:?} then {version}"
        );
        seen.push(version);
    };
    let alice = add(&store, "Alice").await;
    assert_eq!(
        store.directory_version().await.unwrap(),
        first,
        "a member alone is no change"
    );
    store.grant(LONDON, NumberKind::E164, alice).await.unwrap();
    changed(store.directory_version().await.unwrap(), "a grant");
    let md5 = ha1(Algorithm::Md5, LONDON, REALM, "secret");
    store
        .set_password_ha1s(LONDON, REALM, &[(Algorithm::Md5, &md5)])
        .await
        .unwrap();
    changed(store.directory_version().await.unwrap(), "a password");
    let md5 = ha1(Algorithm::Md5, LONDON, REALM, "another");
    store
        .set_password_ha1s(LONDON, REALM, &[(Algorithm::Md5, &md5)])
        .await
        .unwrap();
    changed(store.directory_version().await.unwrap(), "a password reset");
    store.release(LONDON).await.unwrap();
    changed(store.directory_version().await.unwrap(), "a release");
}

async fn bad_ha1s_are_refused_and_keep_the_old_ones(db: TestDb) {
    let store = db.open().await;
    let alice = add(&store, "Alice").await;
    store.grant(LONDON, NumberKind::E164, alice).await.unwrap();
    let md5 = ha1(Algorithm::Md5, LONDON, REALM, "secret");
    store
        .set_password_ha1s(LONDON, REALM, &[(Algorithm::Md5, &md5)])
        .await
        .unwrap();

    let sha = ha1(Algorithm::Sha256, LONDON, REALM, "secret");
    let not_hex = "z".repeat(32);
    let bad_sets: [&[(Algorithm, &str)]; 5] = [
        &[],
        &[(Algorithm::Md5, &sha)],
        &[(Algorithm::Sha256, &md5)],
        &[(Algorithm::Md5, &not_hex)],
        &[(Algorithm::Md5, &md5), (Algorithm::Md5, &md5)],
    ];
    for ha1s in bad_sets {
        assert_invalid(store.set_password_ha1s(LONDON, REALM, ha1s).await, "HA1");
    }
    assert_invalid(
        store
            .set_password_ha1s(LONDON, "", &[(Algorithm::Md5, &md5)])
            .await,
        "realm",
    );
    assert_eq!(
        store.ha1(LONDON, REALM, Algorithm::Md5).await.unwrap(),
        Some(md5)
    );
}

// ---------------------------------------------------------------- registrar bindings

const AOR: &str = "sip:4420@callex.example";

async fn bindings_are_upserted_listed_by_q_and_removed(db: TestDb) {
    let store = db.open().await;
    let desk = Binding {
        q: 500,
        path: "<sip:edge.example;lr>".into(),
        instance_id: Some("<urn:uuid:00000000-0000-0000-0000-000000000001>".into()),
        reg_id: Some(1),
        ..binding(AOR, "sip:4420@192.0.2.1:5060")
    };
    let mobile = Binding {
        call_id: "reg-2@mobile".into(),
        ..binding(AOR, "sip:4420@198.51.100.7:40000;transport=tcp")
    };
    assert_eq!(
        store.upsert_binding(&desk).await.unwrap(),
        BindingWrite::Applied
    );
    assert_eq!(
        store.upsert_binding(&mobile).await.unwrap(),
        BindingWrite::Applied
    );
    store
        .upsert_binding(&binding("sip:4421@callex.example", "sip:4421@192.0.2.9"))
        .await
        .unwrap();

    let found = store.bindings(AOR, 5_000).await.unwrap();
    assert_eq!(
        found,
        [mobile.clone(), desk.clone()],
        "highest q first, every field kept"
    );

    let refreshed = Binding {
        cseq: 2,
        expires_at: 20_000,
        received: "udp:192.0.2.1:61000".into(),
        updated_at: 2_000,
        ..desk.clone()
    };
    assert_eq!(
        store.upsert_binding(&refreshed).await.unwrap(),
        BindingWrite::Applied
    );
    let found = store.bindings(AOR, 5_000).await.unwrap();
    assert_eq!(found.len(), 2, "a refresh replaces its binding");
    assert!(found.contains(&refreshed));

    assert!(store.remove_binding(AOR, &mobile.contact).await.unwrap());
    assert!(!store.remove_binding(AOR, &mobile.contact).await.unwrap());
    assert_eq!(store.bindings(AOR, 5_000).await.unwrap(), [refreshed]);
    assert_eq!(store.remove_all(AOR).await.unwrap(), 1);
    assert!(store.bindings(AOR, 5_000).await.unwrap().is_empty());
    assert_eq!(
        store.all_unexpired(5_000).await.unwrap().len(),
        1,
        "other AORs untouched"
    );
}

async fn a_batch_of_registrations_commits_together_and_reports_each_binding(db: TestDb) {
    let store = db.open().await;
    let current = Binding {
        cseq: 10,
        ..binding(AOR, "sip:4420@192.0.2.1")
    };
    store.upsert_binding(&current).await.unwrap();
    let gone = binding("sip:4421@callex", "sip:4421@192.0.2.9");
    store.upsert_binding(&gone).await.unwrap();
    let stale = Binding {
        cseq: 9,
        ..current.clone()
    };
    let second = binding(AOR, "sip:4420@192.0.2.2");
    let other = binding("sip:4422@callex", "sip:4422@192.0.2.3");
    let outcome = store
        .write_bindings(
            &["sip:4421@callex".to_owned()],
            &[stale, second.clone(), other.clone()],
        )
        .await
        .unwrap();
    assert_eq!(
        outcome,
        [
            BindingWrite::OutOfOrder,
            BindingWrite::Applied,
            BindingWrite::Applied
        ]
    );
    assert_eq!(store.bindings(AOR, 0).await.unwrap().len(), 2);
    assert_eq!(store.bindings("sip:4422@callex", 0).await.unwrap(), [other]);
    assert!(store
        .bindings("sip:4421@callex", 0)
        .await
        .unwrap()
        .is_empty());

    // A bad binding refuses the whole batch, changing nothing.
    let bad = Binding {
        contact: String::new(),
        ..binding(AOR, "x")
    };
    assert!(store
        .write_bindings(&[AOR.to_owned()], &[bad])
        .await
        .is_err());
    assert_eq!(store.bindings(AOR, 0).await.unwrap().len(), 2);
}

async fn an_older_register_does_not_overwrite_a_newer_binding(db: TestDb) {
    let store = db.open().await;
    let current = Binding {
        cseq: 10,
        ..binding(AOR, "sip:4420@192.0.2.1")
    };
    store.upsert_binding(&current).await.unwrap();
    for stale_cseq in [9, 10] {
        let stale = Binding {
            cseq: stale_cseq,
            expires_at: 99_000,
            ..current.clone()
        };
        assert_eq!(
            store.upsert_binding(&stale).await.unwrap(),
            BindingWrite::OutOfOrder
        );
    }
    assert_eq!(
        store.bindings(AOR, 0).await.unwrap(),
        std::slice::from_ref(&current)
    );

    // A new Call-ID (the phone restarted) replaces it whatever its CSeq.
    let rebooted = Binding {
        call_id: "reg-after-reboot@phone".into(),
        cseq: 1,
        ..current
    };
    assert_eq!(
        store.upsert_binding(&rebooted).await.unwrap(),
        BindingWrite::Applied
    );
    assert_eq!(store.bindings(AOR, 0).await.unwrap(), [rebooted]);
}

async fn bindings_expire_on_time_and_purge_deletes_them(db: TestDb) {
    let store = db.open().await;
    let soon = Binding {
        expires_at: 1_000,
        ..binding(AOR, "sip:4420@192.0.2.1")
    };
    let later = Binding {
        expires_at: 3_000,
        ..binding("sip:4421@callex.example", "sip:4421@192.0.2.2")
    };
    store.upsert_binding(&soon).await.unwrap();
    store.upsert_binding(&later).await.unwrap();

    assert_eq!(
        store.bindings(AOR, 999).await.unwrap(),
        std::slice::from_ref(&soon)
    );
    assert!(
        store.bindings(AOR, 1_000).await.unwrap().is_empty(),
        "a binding is gone at its expiry time"
    );
    assert_eq!(store.all_unexpired(999).await.unwrap().len(), 2);
    assert_eq!(
        store.all_unexpired(1_000).await.unwrap(),
        std::slice::from_ref(&later)
    );

    assert_eq!(store.purge_expired(999).await.unwrap(), 0);
    assert_eq!(store.purge_expired(1_000).await.unwrap(), 1);
    assert_eq!(store.purge_expired(1_000).await.unwrap(), 0);
    assert_eq!(store.all_unexpired(0).await.unwrap(), [later]);

    // Bindings survive a restart.
    drop(store);
    let store = db.open().await;
    assert_eq!(store.all_unexpired(2_000).await.unwrap().len(), 1);
}

async fn bad_bindings_are_refused_and_change_nothing(db: TestDb) {
    let store = db.open().await;
    let good = binding(AOR, "sip:4420@192.0.2.1");
    let cases = [
        (
            Binding {
                q: 1001,
                ..good.clone()
            },
            "q",
        ),
        (
            Binding {
                aor: String::new(),
                ..good.clone()
            },
            "address-of-record",
        ),
        (
            Binding {
                contact: format!("sip:{}@192.0.2.1", "a".repeat(limits::CONTACT)),
                ..good.clone()
            },
            "contact",
        ),
        (
            Binding {
                contact: "sip:4420@192.0.2.1\r\nVia: forged".into(),
                ..good.clone()
            },
            "contact",
        ),
        (
            Binding {
                call_id: String::new(),
                ..good.clone()
            },
            "Call-ID",
        ),
        (
            Binding {
                received: String::new(),
                ..good.clone()
            },
            "received",
        ),
        (
            Binding {
                reg_id: Some(0),
                ..good.clone()
            },
            "reg-id",
        ),
        (
            Binding {
                user_agent: "u".repeat(limits::USER_AGENT + 1),
                ..good.clone()
            },
            "user agent",
        ),
        (
            Binding {
                node: String::new(),
                ..good.clone()
            },
            "node",
        ),
    ];
    for (bad, field) in cases {
        assert_invalid(store.upsert_binding(&bad).await, field);
    }
    assert!(store.all_unexpired(0).await.unwrap().is_empty());
}

// ---------------------------------------------------------------- calls and CDRs

async fn a_call_opens_is_answered_and_closes_into_one_cdr(db: TestDb) {
    let store = db.open().await;
    let started = call("call-1", "node-a", 100_000);
    store.open_call(&started).await.unwrap();
    assert_eq!(
        store.active_calls("node-a").await.unwrap(),
        std::slice::from_ref(&started)
    );

    store
        .mark_answered("call-1", 101_500, Some("call-1-b@exchange"))
        .await
        .unwrap();
    let active = store.active_calls("node-a").await.unwrap();
    assert_eq!(active[0].answer_at, Some(101_500));
    assert_eq!(
        active[0].b_leg_call_id.as_deref(),
        Some("call-1-b@exchange")
    );
    assert!(
        matches!(
            store.mark_answered("call-1", 101_600, None).await,
            Err(StoreError::NotFound { .. })
        ),
        "a call is answered once"
    );

    let ended = active[0]
        .clone()
        .into_cdr(161_500, Disposition::Answered, Some(200));
    assert_eq!(
        store
            .close_calls(std::slice::from_ref(&ended))
            .await
            .unwrap(),
        1
    );
    assert!(store.active_calls("node-a").await.unwrap().is_empty());

    let cdrs = store
        .cdrs(&by_call_id("call-1"), Page::first(10))
        .await
        .unwrap();
    assert_eq!(cdrs.len(), 1);
    let cdr = &cdrs[0];
    assert_eq!(
        (
            cdr.call_id.as_str(),
            cdr.node.as_str(),
            cdr.a_leg_call_id.as_str(),
            cdr.b_leg_call_id.as_deref(),
        ),
        (
            "call-1",
            "node-a",
            "call-1-a@caller",
            Some("call-1-b@exchange")
        )
    );
    assert_eq!(
        (
            cdr.caller.as_str(),
            cdr.callee_dialled.as_str(),
            cdr.callee_presented.as_deref()
        ),
        ("4420", "4421", Some("4421"))
    );
    assert_eq!(
        (cdr.start_at, cdr.answer_at, cdr.end_at, cdr.duration_ms),
        (100_000, Some(101_500), 161_500, 60_000)
    );
    assert_eq!(
        (cdr.disposition, cdr.sip_code),
        (Disposition::Answered, Some(200))
    );
}

async fn closing_a_call_twice_writes_one_cdr(db: TestDb) {
    let store = db.open().await;
    let cdr = answered("call-1", "node-a", 0);
    assert_eq!(
        store.close_calls(std::slice::from_ref(&cdr)).await.unwrap(),
        1
    );
    assert_eq!(
        store.close_calls(std::slice::from_ref(&cdr)).await.unwrap(),
        0
    );
    let differently = busy("call-1", "node-b", 5);
    assert_eq!(store.close_calls(&[differently]).await.unwrap(), 0);
    let cdrs = all_cdrs(&store).await;
    assert_eq!(cdrs.len(), 1);
    assert_eq!(
        cdrs[0].disposition,
        Disposition::Answered,
        "the first close stands"
    );
}

async fn concurrent_closes_of_one_call_write_one_cdr(db: TestDb) {
    let store = db.open().await;
    store
        .open_call(&call("contested", "node-a", 0))
        .await
        .unwrap();
    // Eight writers (think: two nodes and their retries) close the same
    // call, each in a batch with a call of its own.
    let closes = (0..8).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            let batch = [
                answered("contested", "node-a", 0),
                busy(&format!("own-{i}"), "node-a", 10),
            ];
            store.close_calls(&batch).await
        })
    });
    let mut written = 0;
    for close in closes {
        written += close
            .await
            .unwrap()
            .expect("a close never fails on a duplicate");
    }
    assert_eq!(written, 1 + 8);
    let contested = store
        .cdrs(&by_call_id("contested"), Page::first(10))
        .await
        .unwrap();
    assert_eq!(contested.len(), 1, "one call, one CDR");
    assert_eq!(all_cdrs(&store).await.len(), 9);
    assert!(store.active_calls("node-a").await.unwrap().is_empty());
}

async fn a_batch_commits_opens_answers_and_closes_together(db: TestDb) {
    let store = db.open().await;
    store
        .close_calls(&[busy("closed-before", "node-a", 0)])
        .await
        .unwrap();
    store
        .open_call(&call("open-before", "node-a", 0))
        .await
        .unwrap();

    let batch = CallBatch {
        opened: vec![
            call("new-1", "node-a", 10),
            call("new-2", "node-a", 20),
            call("open-before", "node-a", 30), // already open: skipped
        ],
        answered: vec![
            Answer {
                call_id: "new-1".into(),
                answer_at: 1_010,
                b_leg_call_id: Some("new-1-b".into()),
            },
            Answer {
                call_id: "unknown".into(),
                answer_at: 1_010,
                b_leg_call_id: None,
            },
        ],
        closed: vec![
            answered("open-before", "node-a", 0),
            busy("new-2", "node-a", 20), // opened in this very batch
            busy("closed-before", "node-a", 0), // already closed: skipped
        ],
    };
    let outcome = store.write_calls(&batch).await.unwrap();
    assert_eq!(
        outcome,
        BatchOutcome {
            opened: 2,
            answered: 1,
            closed: 2
        }
    );
    let active = store.active_calls("node-a").await.unwrap();
    assert_eq!(active.len(), 1);
    assert_eq!(
        (active[0].call_id.as_str(), active[0].answer_at),
        ("new-1", Some(1_010))
    );
    let closed: Vec<String> = all_cdrs(&store)
        .await
        .into_iter()
        .map(|c| c.call_id)
        .collect();
    assert_eq!(closed, ["closed-before", "open-before", "new-2"]);
    assert_eq!(
        store.write_calls(&CallBatch::default()).await.unwrap(),
        BatchOutcome::default()
    );
}

async fn a_batch_with_one_bad_record_writes_nothing(db: TestDb) {
    let store = db.open().await;
    let mut ends_before_it_starts = busy("bad", "node-a", 10_000);
    ends_before_it_starts.end_at = 5_000;
    let batch = CallBatch {
        opened: vec![call("fine-open", "node-a", 0)],
        answered: vec![],
        closed: vec![answered("fine-close", "node-a", 0), ends_before_it_starts],
    };
    match store.write_calls(&batch).await {
        Err(err @ StoreError::Invalid { .. }) => {
            assert!(
                err.to_string().contains("call bad ended before it started"),
                "{err}"
            )
        }
        other => panic!("expected invalid input, got {other:?}"),
    }
    assert!(store.active_calls("node-a").await.unwrap().is_empty());
    assert!(all_cdrs(&store).await.is_empty());
}

async fn a_large_batch_is_written_whole(db: TestDb) {
    let store = db.open().await;
    // 150 rows cross every chunk size the engines split batches into.
    let calls: Vec<ActiveCall> = (0..150)
        .map(|i| call(&format!("call-{i}"), "node-a", i))
        .collect();
    let opened = store
        .write_calls(&CallBatch {
            opened: calls.clone(),
            answered: (0..150)
                .step_by(3)
                .map(|i| Answer {
                    call_id: format!("call-{i}"),
                    answer_at: i + 1_000,
                    b_leg_call_id: None,
                })
                .collect(),
            closed: vec![],
        })
        .await
        .unwrap();
    assert_eq!((opened.opened, opened.answered), (150, 50));

    let active = store.active_calls("node-a").await.unwrap();
    assert_eq!(active.len(), 150);
    let mut cdrs: Vec<NewCdr> = active
        .into_iter()
        .map(|call| match call.answer_at {
            Some(answer_at) => call.into_cdr(answer_at + 5_000, Disposition::Answered, Some(200)),
            None => {
                let end = call.start_at + 3_000;
                call.into_cdr(end, Disposition::NoAnswer, Some(480))
            }
        })
        .collect();
    // The same CDRs again in the same batch: still one per call.
    cdrs.extend(cdrs.clone().into_iter().take(70));
    assert_eq!(store.close_calls(&cdrs).await.unwrap(), 150);
    assert!(store.active_calls("node-a").await.unwrap().is_empty());
    let stored = all_cdrs(&store).await;
    assert_eq!(stored.len(), 150);
    let answered = stored
        .iter()
        .filter(|c| c.disposition == Disposition::Answered && c.duration_ms == 5_000)
        .count();
    assert_eq!(answered, 50);
}

async fn interrupted_calls_are_closed_on_restart_with_what_is_known(db: TestDb) {
    let store = db.open().await;
    let ringing = call("ringing", "node-a", 1_000);
    let talking = call("talking", "node-a", 2_000);
    let elsewhere = call("elsewhere", "node-b", 3_000);
    let late_answer = call("late-answer", "node-a", 4_000);
    for started in [&ringing, &talking, &elsewhere, &late_answer] {
        store.open_call(started).await.unwrap();
    }
    store
        .mark_answered("talking", 2_500, Some("talking-b"))
        .await
        .unwrap();
    // Answered after the time recovery will be told the node was last alive.
    store
        .mark_answered("late-answer", 12_000, None)
        .await
        .unwrap();
    // The node dies: the store is dropped without `close`.
    drop(store);

    let store = db.open().await;
    let mut recovered = store.recover_interrupted("node-a", 10_000).await.unwrap();
    recovered.sort_by(|a, b| a.call_id.cmp(&b.call_id));
    let summary: Vec<_> = recovered
        .iter()
        .map(|c| {
            (
                c.call_id.as_str(),
                c.disposition,
                c.answer_at,
                c.end_at,
                c.duration_ms,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "late-answer",
                Disposition::Interrupted,
                Some(12_000),
                12_000,
                0
            ),
            ("ringing", Disposition::Interrupted, None, 10_000, 0),
            (
                "talking",
                Disposition::Interrupted,
                Some(2_500),
                10_000,
                7_500
            ),
        ]
    );
    let talking_cdr = recovered.iter().find(|c| c.call_id == "talking").unwrap();
    assert_eq!(talking_cdr.b_leg_call_id.as_deref(), Some("talking-b"));
    assert_eq!(talking_cdr.sip_code, None);

    assert!(store.active_calls("node-a").await.unwrap().is_empty());
    assert_eq!(store.active_calls("node-b").await.unwrap(), [elsewhere]);
    assert!(
        store
            .recover_interrupted("node-a", 20_000)
            .await
            .unwrap()
            .is_empty(),
        "recovery is idempotent"
    );
    let stored = store
        .cdrs(
            &CdrFilter {
                disposition: Some(Disposition::Interrupted),
                ..CdrFilter::default()
            },
            Page::first(10),
        )
        .await
        .unwrap();
    assert_eq!(stored.len(), 3);
}

const TRUNK: &str = "a national number of KR (trunk prefix)";
const SIGNAL: &str = "business call (signal dialled); a PIN";
const REFUSED: &str = "6200-6200#082 is not in service";

fn decided(call_id: &str, node: &str, start_at: i64, decision: &str) -> ActiveCall {
    ActiveCall {
        decision: Some(decision.into()),
        ..call(call_id, node, start_at)
    }
}

async fn a_calls_decision_is_kept_through_answer_close_and_recovery(db: TestDb) {
    let store = db.open().await;
    // Closed by the switch: opened, answered, then its CDR from the active call.
    store
        .open_call(&decided("closed", "node-a", 1_000, TRUNK))
        .await
        .unwrap();
    store
        .mark_answered("closed", 1_500, Some("closed-b"))
        .await
        .unwrap();
    let active = store.active_calls("node-a").await.unwrap();
    assert_eq!(active[0].decision.as_deref(), Some(TRUNK));
    let ended = active[0]
        .clone()
        .into_cdr(9_000, Disposition::Answered, Some(200));
    assert_eq!(store.close_calls(&[ended]).await.unwrap(), 1);

    // Refused at once, in a batch; and one left open by a node that dies,
    // answered or not.
    let refused = decided("refused", "node-a", 2_000, REFUSED).into_cdr(
        2_010,
        Disposition::Failed,
        Some(404),
    );
    let outcome = store
        .write_calls(&CallBatch {
            opened: vec![
                decided("talking", "node-a", 3_000, SIGNAL),
                decided("ringing", "node-a", 4_000, TRUNK),
                call("undecided", "node-a", 5_000),
            ],
            answered: vec![Answer {
                call_id: "talking".into(),
                answer_at: 3_500,
                b_leg_call_id: None,
            }],
            closed: vec![refused],
        })
        .await
        .unwrap();
    assert_eq!((outcome.opened, outcome.closed), (3, 1));
    drop(store);

    let store = db.open().await;
    let recovered = store.recover_interrupted("node-a", 10_000).await.unwrap();
    assert_eq!(recovered.len(), 3);
    let decisions = |cdrs: &[Cdr]| {
        let mut decisions: Vec<(String, Option<String>)> = cdrs
            .iter()
            .map(|c| (c.call_id.clone(), c.decision.clone()))
            .collect();
        decisions.sort();
        decisions
    };
    let expected = |ids: &[(&str, Option<&str>)]| {
        ids.iter()
            .map(|(id, decision)| (id.to_string(), decision.map(str::to_owned)))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        decisions(&recovered),
        expected(&[
            ("ringing", Some(TRUNK)),
            ("talking", Some(SIGNAL)),
            ("undecided", None),
        ]),
        "recovery writes what the returned CDRs say"
    );
    assert_eq!(
        decisions(&all_cdrs(&store).await),
        expected(&[
            ("closed", Some(TRUNK)),
            ("refused", Some(REFUSED)),
            ("ringing", Some(TRUNK)),
            ("talking", Some(SIGNAL)),
            ("undecided", None),
        ])
    );
}

async fn a_bad_decision_is_refused_and_changes_nothing(db: TestDb) {
    let store = db.open().await;
    let too_long = "x".repeat(limits::DECISION + 1);
    let longest = "é".repeat(limits::DECISION); // characters, not bytes
    for bad in [too_long.as_str(), "a PIN\r\nX-Forged: 1", "a\tPIN", ""] {
        assert_invalid(
            store.open_call(&decided("call-1", "node-a", 0, bad)).await,
            "decision",
        );
        let cdr = decided("call-2", "node-a", 0, bad).into_cdr(10, Disposition::Busy, Some(486));
        assert_invalid(
            store.close_calls(std::slice::from_ref(&cdr)).await,
            "decision",
        );
        let batch = CallBatch {
            opened: vec![call("call-3", "node-a", 0)],
            answered: vec![],
            closed: vec![cdr],
        };
        assert_invalid(store.write_calls(&batch).await, "decision");
    }
    assert!(store.active_calls("node-a").await.unwrap().is_empty());
    assert!(all_cdrs(&store).await.is_empty());

    store
        .open_call(&decided("call-4", "node-a", 0, &longest))
        .await
        .unwrap();
    let recovered = store.recover_interrupted("node-a", 10).await.unwrap();
    assert_eq!(recovered[0].decision.as_deref(), Some(longest.as_str()));
}

async fn cdrs_are_listed_by_filter_and_page(db: TestDb) {
    let store = db.open().await;
    let mut cdrs = Vec::new();
    for i in 0..5 {
        let mut cdr = if i % 2 == 0 {
            answered(&format!("call-{i}"), "node-a", i * 100_000)
        } else {
            busy(&format!("call-{i}"), "node-b", i * 100_000)
        };
        cdr.caller = if i < 3 { "4420" } else { "4499" }.into();
        cdrs.push(cdr);
    }
    store.close_calls(&cdrs).await.unwrap();

    let ids = |cdrs: Vec<Cdr>| cdrs.into_iter().map(|c| c.call_id).collect::<Vec<_>>();
    let list = |filter: CdrFilter, page: Page| {
        let store = store.clone();
        async move { ids(store.cdrs(&filter, page).await.unwrap()) }
    };
    assert_eq!(
        list(CdrFilter::default(), Page::first(10)).await,
        ["call-0", "call-1", "call-2", "call-3", "call-4"]
    );
    let first_two = store
        .cdrs(&CdrFilter::default(), Page::first(2))
        .await
        .unwrap();
    let after = first_two.last().unwrap().id;
    assert_eq!(
        list(CdrFilter::default(), Page::after(after, 2)).await,
        ["call-2", "call-3"]
    );
    let caller = CdrFilter {
        caller: Some("4420".into()),
        ..CdrFilter::default()
    };
    assert_eq!(
        list(caller, Page::first(10)).await,
        ["call-0", "call-1", "call-2"]
    );
    let busy_on_b = CdrFilter {
        node: Some("node-b".into()),
        disposition: Some(Disposition::Busy),
        ..CdrFilter::default()
    };
    assert_eq!(list(busy_on_b, Page::first(10)).await, ["call-1", "call-3"]);
    let window = CdrFilter {
        started_from: Some(100_000),
        started_before: Some(300_000),
        callee_dialled: Some("4421".into()),
        ..CdrFilter::default()
    };
    assert_eq!(list(window, Page::first(10)).await, ["call-1", "call-2"]);
    assert!(list(CdrFilter::default(), Page::first(0)).await.is_empty());
}

async fn bad_call_input_is_refused_and_changes_nothing(db: TestDb) {
    let store = db.open().await;
    let good = answered("call-1", "node-a", 10_000);
    let mut cases: Vec<(NewCdr, &str)> = Vec::new();
    let mut push = |field: &'static str, change: &dyn Fn(&mut NewCdr)| {
        let mut cdr = good.clone();
        change(&mut cdr);
        cases.push((cdr, field));
    };
    push("end time", &|c| c.end_at = c.start_at - 1);
    push("answer time", &|c| c.answer_at = Some(c.end_at + 1));
    push("disposition", &|c| c.answer_at = None);
    push("disposition", &|c| c.disposition = Disposition::Busy);
    push("SIP code", &|c| {
        c.answer_at = None;
        c.disposition = Disposition::Failed;
        c.sip_code = None;
    });
    push("SIP code", &|c| c.sip_code = Some(700));
    push("call id", &|c| c.call_id = String::new());
    push("caller", &|c| c.caller = "4".repeat(limits::PARTY + 1));
    push("callee dialled", &|c| c.callee_dialled = "44\n21".into());
    push("node", &|c| c.node = "n".repeat(limits::NODE + 1));
    for (cdr, field) in cases {
        assert_invalid(store.close_calls(&[cdr]).await, field);
    }

    let mut bad_open = call("call-2", "node-a", 0);
    bad_open.a_leg_call_id = "x".repeat(limits::SIP_CALL_ID + 1);
    assert_invalid(store.open_call(&bad_open).await, "A-leg Call-ID");
    assert_invalid(store.recover_interrupted("", 0).await, "node");

    store.open_call(&call("call-3", "node-a", 0)).await.unwrap();
    assert!(matches!(
        store.open_call(&call("call-3", "node-b", 5)).await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(matches!(
        store.mark_answered("no-such-call", 5, None).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(all_cdrs(&store).await.is_empty());
    assert_eq!(
        store.active_calls("node-a").await.unwrap(),
        [call("call-3", "node-a", 0)]
    );
    assert!(store.active_calls("node-b").await.unwrap().is_empty());
}

/// Set in the child process of the kill test: where its store is.
const CRASH_TARGET: &str = "CALLEX_STORE_TEST_CRASH_TARGET";

/// The kill test's child: writes, then dies without any shutdown (no
/// destructors, no WAL checkpoint, connections left open). Does nothing
/// unless run by that test.
#[tokio::test]
async fn crash_helper_writes_then_aborts_when_asked() {
    let Ok(target) = std::env::var(CRASH_TARGET) else {
        return;
    };
    let store = Store::open(&target)
        .await
        .expect("the child opens the store");
    store
        .open_call(&call("in-progress", "node-a", 1_000))
        .await
        .unwrap();
    store
        .mark_answered("in-progress", 1_500, None)
        .await
        .unwrap();
    let batch = CallBatch {
        opened: vec![call("finished", "node-a", 2_000)],
        answered: vec![],
        closed: vec![answered("finished", "node-a", 2_000)],
    };
    store.write_calls(&batch).await.unwrap();
    std::process::abort();
}

async fn a_cdr_written_before_the_process_is_killed_is_there_after_restart(db: TestDb) {
    // The store is created (and migrated) here, then written by a child
    // process that is killed right after its last commit.
    db.open().await;
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "crash_helper_writes_then_aborts_when_asked",
            "--exact",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(CRASH_TARGET, db.target())
        .output()
        .expect("running the child");
    assert!(
        !child.status.success(),
        "the child must die, not exit ({}): {}",
        child.status,
        String::from_utf8_lossy(&child.stderr)
    );

    let store = db.open().await;
    let finished = store
        .cdrs(&by_call_id("finished"), Page::first(1))
        .await
        .unwrap();
    assert_eq!(
        finished.len(),
        1,
        "the CDR committed before the kill is there"
    );
    assert_eq!(finished[0].duration_ms, 60_000);

    let recovered = store.recover_interrupted("node-a", 9_000).await.unwrap();
    assert_eq!(recovered.len(), 1);
    assert_eq!(
        (
            recovered[0].call_id.as_str(),
            recovered[0].disposition,
            recovered[0].duration_ms
        ),
        ("in-progress", Disposition::Interrupted, 7_500)
    );
}

// ---------------------------------------------------------------- API tokens

async fn api_tokens_are_created_verified_replaced_and_revoked(db: TestDb) {
    let store = db.open().await;
    let ci = store.create_token("ci").await.unwrap();
    assert!(ci.plaintext.starts_with("cxt_") && ci.plaintext.len() == 68);
    assert!(
        !format!("{ci:?}").contains(&ci.plaintext),
        "Debug hides the secret"
    );
    assert_eq!(
        store.verify_token(&ci.plaintext).await.unwrap().as_ref(),
        Some(&ci.info)
    );
    assert_eq!(store.verify_token("cxt_guess").await.unwrap(), None);
    assert_eq!(store.verify_token("").await.unwrap(), None);
    assert!(matches!(
        store.create_token("ci").await,
        Err(StoreError::Conflict { .. })
    ));

    let admin = store
        .set_token("admin", "operator-chosen-token-1")
        .await
        .unwrap();
    assert_eq!(
        store.verify_token("operator-chosen-token-1").await.unwrap(),
        Some(admin.clone())
    );
    let replaced = store
        .set_token("admin", "operator-chosen-token-2")
        .await
        .unwrap();
    assert_eq!(replaced.id, admin.id);
    assert_eq!(
        store.verify_token("operator-chosen-token-1").await.unwrap(),
        None
    );
    assert!(store
        .verify_token("operator-chosen-token-2")
        .await
        .unwrap()
        .is_some());
    assert!(matches!(
        store.set_token("other", "operator-chosen-token-2").await,
        Err(StoreError::Conflict { .. })
    ));
    assert_invalid(store.set_token("weak", "short").await, "API token");
    assert_invalid(store.create_token("").await, "token name");

    let names: Vec<String> = store
        .tokens()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["ci", "admin"]);
    assert!(store.revoke_token("ci").await.unwrap());
    assert!(!store.revoke_token("ci").await.unwrap());
    assert_eq!(store.verify_token(&ci.plaintext).await.unwrap(), None);
}

// ---------------------------------------------------------------- opening

#[tokio::test]
async fn open_takes_a_data_dir_a_sqlite_file_or_url_and_refuses_other_schemes() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("nested").join("data");
    let store = Store::open(data_dir.to_str().unwrap()).await.unwrap();
    assert_eq!(store.engine(), Engine::Sqlite);
    let alice = add(&store, "Alice").await;
    store.close().await;
    let file = data_dir.join("callex.db");
    assert!(file.is_file(), "the data directory holds callex.db");

    for target in [
        file.to_str().unwrap().to_owned(),
        format!("sqlite://{}", file.display()),
    ] {
        let store = Store::open(&target).await.unwrap();
        assert!(store.member(alice).await.unwrap().is_some(), "{target}");
        store.close().await;
    }

    match Store::open("mysql://root:hunter2@db/callex").await {
        Err(err @ StoreError::Open { .. }) => {
            let message = err.to_string();
            assert!(message.contains("mysql:// is not a store"), "{message}");
            assert!(
                !message.contains("hunter2"),
                "passwords stay out of messages"
            );
        }
        other => panic!("expected an open error, got {other:?}"),
    }
}

#[tokio::test]
async fn an_unreachable_postgres_is_an_open_error_naming_it() {
    // Port 9 (discard) has no PostgreSQL on a test machine.
    match Store::open("postgres://callex:secret@127.0.0.1:9/callex").await {
        Err(err @ StoreError::Open { .. }) => {
            let message = err.to_string();
            assert!(message.contains("127.0.0.1:9"), "{message}");
            assert!(!message.contains("secret"), "{message}");
        }
        other => panic!("expected an open error, got {other:?}"),
    }
}

#[tokio::test]
async fn postgres_reports_its_engine() {
    support::on_postgres(|db| async move {
        assert_eq!(db.open().await.engine(), Engine::Postgres);
    })
    .await;
}
