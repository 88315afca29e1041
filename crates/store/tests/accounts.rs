//! Member accounts on both engines: profile fields are normalised or
//! refused, roles tie members to companies, and members' API tokens are
//! kept hashed, verified and revoked.

mod support;

use store::prelude::*;
use store::{Branch, BranchDestination, Branches, Member, MemberProfile, Role, Sessions};
use support::{on_both_engines, TestDb};

on_both_engines!(
    a_profile_is_stored_normalised_and_a_bad_field_changes_nothing,
    a_company_admin_needs_a_company_and_a_company_is_a_company,
    a_member_token_verifies_as_its_member_until_revoked,
    a_password_hash_is_kept_and_replaced,
    a_company_has_one_branch_per_country_and_one_default,
    a_branch_rings_only_the_company_s_own_terminals,
    a_session_lasts_until_it_expires_or_is_closed,
    an_account_opens_whole_or_not_at_all,
);

async fn add(store: &Store, name: &str, kind: MemberKind) -> Member {
    store
        .add_member(&NewMember {
            kind,
            display_name: name.into(),
            email: None,
            country: "KR".into(),
        })
        .await
        .expect("a member")
}

async fn a_profile_is_stored_normalised_and_a_bad_field_changes_nothing(db: TestDb) {
    let store = db.open().await;
    let alice = add(&store, "Alice", MemberKind::Individual).await;
    assert_eq!(alice.role, Role::Member);
    assert_eq!(alice.profile, MemberProfile::default());

    let stored = store
        .set_profile(
            alice.id,
            &MemberProfile {
                language: Some("EN-gb".into()),
                contact_pstn: Some("+82 10-1234-5678".into()),
                voip_elsewhere: Some("sip:alice@voip.example.net".into()),
            },
        )
        .await
        .expect("a valid profile");
    assert_eq!(stored.profile.language.as_deref(), Some("en-GB"));
    assert_eq!(
        stored.profile.contact_pstn.as_deref(),
        Some("+821012345678")
    );
    assert_eq!(
        stored.profile.voip_elsewhere.as_deref(),
        Some("sip:alice@voip.example.net")
    );

    for bad in [
        MemberProfile {
            language: Some("english please".into()),
            ..stored.profile.clone()
        },
        MemberProfile {
            contact_pstn: Some("010-1234-5678".into()),
            ..stored.profile.clone()
        },
        MemberProfile {
            voip_elsewhere: Some("alice at home".into()),
            ..stored.profile.clone()
        },
    ] {
        let refused = store.set_profile(alice.id, &bad).await;
        assert!(
            matches!(refused, Err(StoreError::Invalid { .. })),
            "{bad:?}: {refused:?}"
        );
    }
    let after = store.member(alice.id).await.unwrap().unwrap();
    assert_eq!(after, stored);

    let nobody = store
        .set_profile(MemberId(999_999), &MemberProfile::default())
        .await;
    assert!(matches!(nobody, Err(StoreError::NotFound { .. })));
}

async fn a_company_admin_needs_a_company_and_a_company_is_a_company(db: TestDb) {
    let store = db.open().await;
    let acme = add(&store, "Acme", MemberKind::Company).await;
    let bob = add(&store, "Bob", MemberKind::Individual).await;
    let carol = add(&store, "Carol", MemberKind::Individual).await;

    let no_company = store.set_role(bob.id, Role::CompanyAdmin, None).await;
    assert!(matches!(no_company, Err(StoreError::Invalid { .. })));
    let not_a_company = store.set_role(bob.id, Role::Member, Some(carol.id)).await;
    assert!(matches!(not_a_company, Err(StoreError::Invalid { .. })));
    let company_in_company = store.set_role(acme.id, Role::Member, Some(acme.id)).await;
    assert!(matches!(
        company_in_company,
        Err(StoreError::Invalid { .. })
    ));

    let admin = store
        .set_role(bob.id, Role::CompanyAdmin, Some(acme.id))
        .await
        .expect("an admin of Acme");
    assert_eq!(admin.role, Role::CompanyAdmin);
    assert_eq!(admin.company_id, Some(acme.id));
    assert_eq!(store.member(bob.id).await.unwrap().unwrap(), admin);
}

async fn a_member_token_verifies_as_its_member_until_revoked(db: TestDb) {
    let store = db.open().await;
    let alice = add(&store, "Alice", MemberKind::Individual).await;
    let bob = add(&store, "Bob", MemberKind::Individual).await;

    let token = store
        .create_member_token(alice.id, "script")
        .await
        .expect("a token");
    assert!(token.plaintext.starts_with("cxt_"));
    assert!(!format!("{token:?}").contains(&token.plaintext));
    let taken = store.create_member_token(alice.id, "script").await;
    assert!(matches!(taken, Err(StoreError::Conflict { .. })));
    // Names are per member.
    store.create_member_token(bob.id, "script").await.unwrap();
    let unknown = store.create_member_token(MemberId(999_999), "x").await;
    assert!(matches!(unknown, Err(StoreError::NotFound { .. })));

    let verified = store.verify_member_token(&token.plaintext).await.unwrap();
    assert_eq!(verified, Some(token.info.clone()));
    // Not an operator token, and an operator token is not a member's.
    assert_eq!(store.verify_token(&token.plaintext).await.unwrap(), None);
    let operator = store.create_token("admin").await.unwrap();
    assert_eq!(
        store
            .verify_member_token(&operator.plaintext)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.member_tokens(alice.id).await.unwrap(),
        vec![token.info.clone()]
    );

    // Another member cannot revoke it.
    assert!(!store
        .revoke_member_token(bob.id, token.info.id)
        .await
        .unwrap());
    assert!(store
        .revoke_member_token(alice.id, token.info.id)
        .await
        .unwrap());
    assert_eq!(
        store.verify_member_token(&token.plaintext).await.unwrap(),
        None
    );
}

async fn a_password_hash_is_kept_and_replaced(db: TestDb) {
    let store = db.open().await;
    let alice = add(&store, "Alice", MemberKind::Individual).await;
    assert_eq!(store.password_hash(alice.id).await.unwrap(), None);
    store
        .set_password_hash(alice.id, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA")
        .await
        .unwrap();
    store
        .set_password_hash(alice.id, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdDI$aGFzaDI")
        .await
        .unwrap();
    // Kept across a restart: read back through a store opened anew.
    let reopened = Store::open(db.target()).await.expect("reopen the store");
    assert_eq!(
        reopened.password_hash(alice.id).await.unwrap().as_deref(),
        Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdDI$aGFzaDI")
    );
    let nobody = store.set_password_hash(MemberId(999_999), "$x").await;
    assert!(matches!(nobody, Err(StoreError::NotFound { .. })));
}

async fn a_company_has_one_branch_per_country_and_one_default(db: TestDb) {
    let store = db.open().await;
    let acme = add(&store, "Acme", MemberKind::Company).await;
    let pstn = |n: &str| BranchDestination::Pstn(n.into());

    let kr = store
        .set_branch(acme.id, "kr", &pstn("+82 2-6200-6200"), true)
        .await
        .expect("a branch in KR");
    assert_eq!(kr.country, "KR");
    assert_eq!(kr.destination, pstn("+82262006200"));
    assert!(kr.default);
    // Replacing a country's branch keeps one row; a new default takes over.
    store
        .set_branch(acme.id, "KR", &pstn("+82 2-6200-6201"), true)
        .await
        .unwrap();
    store
        .set_branch(acme.id, "US", &pstn("+1 212 555 0100"), true)
        .await
        .unwrap();
    let branches = store.branches(acme.id).await.unwrap();
    let summary: Vec<(&str, &BranchDestination, bool)> = branches
        .iter()
        .map(|b: &Branch| (b.country.as_str(), &b.destination, b.default))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("KR", &pstn("+82262006201"), false),
            ("US", &pstn("+12125550100"), true),
        ]
    );
    assert!(store.remove_branch(acme.id, "kr").await.unwrap());
    assert!(!store.remove_branch(acme.id, "KR").await.unwrap());
    assert_eq!(store.branch(acme.id, "KR").await.unwrap(), None);

    let alice = add(&store, "Alice", MemberKind::Individual).await;
    let individual = store
        .set_branch(alice.id, "KR", &pstn("+82262006200"), false)
        .await;
    assert!(
        matches!(individual, Err(StoreError::Invalid { .. })),
        "{individual:?}"
    );
    let bad_country = store
        .set_branch(acme.id, "KOR", &pstn("+82262006200"), false)
        .await;
    assert!(matches!(bad_country, Err(StoreError::Invalid { .. })));
    let bad_number = store
        .set_branch(acme.id, "KR", &pstn("62006200"), false)
        .await;
    assert!(matches!(bad_number, Err(StoreError::Invalid { .. })));
    assert_eq!(store.branches(acme.id).await.unwrap().len(), 1);
}

async fn a_branch_rings_only_the_company_s_own_terminals(db: TestDb) {
    let store = db.open().await;
    let acme = add(&store, "Acme", MemberKind::Company).await;
    let staff = add(&store, "Sam", MemberKind::Individual).await;
    let outsider = add(&store, "Olive", MemberKind::Individual).await;
    store
        .set_role(staff.id, Role::Member, Some(acme.id))
        .await
        .unwrap();
    store
        .grant("62006200", NumberKind::Vns, acme.id)
        .await
        .unwrap();
    store
        .grant("0262006200082", NumberKind::Pin, staff.id)
        .await
        .unwrap();
    store
        .grant("62006201", NumberKind::Vns, outsider.id)
        .await
        .unwrap();

    let group = BranchDestination::Group(vec!["6200-6200".into(), "02-6200-6200-082".into()]);
    let branch = store
        .set_branch(acme.id, "KR", &group, false)
        .await
        .unwrap();
    assert_eq!(
        branch.destination,
        BranchDestination::Group(vec!["62006200".into(), "0262006200082".into()])
    );
    assert_eq!(
        store.branch(acme.id, "KR").await.unwrap(),
        Some(branch.clone())
    );

    for refused in [
        BranchDestination::Terminal("6200-6201".into()),
        BranchDestination::Terminal("6200-6299".into()),
        BranchDestination::Group(vec!["6200-6200".into()]),
        BranchDestination::Group(vec!["6200-6200".into(), "62006200".into()]),
    ] {
        let answer = store.set_branch(acme.id, "KR", &refused, false).await;
        assert!(
            matches!(answer, Err(StoreError::Invalid { .. })),
            "{refused:?}: {answer:?}"
        );
    }
    assert_eq!(store.branch(acme.id, "KR").await.unwrap(), Some(branch));
}

async fn a_session_lasts_until_it_expires_or_is_closed(db: TestDb) {
    let store = db.open().await;
    let alice = add(&store, "Alice", MemberKind::Individual).await;
    let bob = add(&store, "Bob", MemberKind::Individual).await;
    let now = 1_000_000;
    let first = store.open_session(alice.id, now, 60_000).await.unwrap();
    let second = store.open_session(alice.id, now, 60_000).await.unwrap();
    let bobs = store.open_session(bob.id, now, 60_000).await.unwrap();
    assert_ne!(first.token, second.token);
    assert_ne!(first.session.csrf, second.session.csrf);

    let found = store.session(&first.token, now + 59_999).await.unwrap();
    assert_eq!(found, Some(first.session.clone()));
    assert_eq!(
        store.session(&first.token, now + 60_000).await.unwrap(),
        None
    );
    for forged in ["", "cxt_", "not a token at all", &first.session.csrf] {
        assert_eq!(store.session(forged, now).await.unwrap(), None, "{forged}");
    }
    assert!(matches!(
        store.open_session(MemberId(999_999), now, 60_000).await,
        Err(StoreError::NotFound { .. })
    ));

    assert!(store.close_session(&second.token).await.unwrap());
    assert!(!store.close_session(&second.token).await.unwrap());
    assert_eq!(store.session(&second.token, now).await.unwrap(), None);

    // A new password ends every session of that member (both left), and
    // no other.
    let third = store.open_session(alice.id, now, 60_000).await.unwrap();
    store
        .set_password_hash(alice.id, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA")
        .await
        .unwrap();
    for ended in [&first.token, &third.token] {
        assert_eq!(store.session(ended, now).await.unwrap(), None);
    }
    assert!(store.session(&bobs.token, now).await.unwrap().is_some());

    assert_eq!(store.purge_sessions(now + 60_000).await.unwrap(), 1);
    assert_eq!(store.session(&bobs.token, now).await.unwrap(), None);
}

async fn an_account_opens_whole_or_not_at_all(db: TestDb) {
    let store = db.open().await;
    let new = |email: &str| NewMember {
        kind: MemberKind::Individual,
        display_name: "Alice".into(),
        email: Some(email.into()),
        country: "KR".into(),
    };
    let profile = MemberProfile {
        language: Some("ko".into()),
        ..MemberProfile::default()
    };
    let phc = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo";
    let alice = store
        .open_account(&new("alice@example.net"), phc, &profile, Role::Operator)
        .await
        .expect("an account");
    assert_eq!(alice.role, Role::Operator);
    assert_eq!(alice.profile.language.as_deref(), Some("ko"));
    assert_eq!(
        store.password_hash(alice.id).await.unwrap().as_deref(),
        Some(phc)
    );

    let bad_profile = MemberProfile {
        contact_pstn: Some("not a number".into()),
        ..MemberProfile::default()
    };
    let refusals = [
        store
            .open_account(&new("ALICE@example.net"), phc, &profile, Role::Member)
            .await,
        store
            .open_account(&new("bob@example.net"), phc, &bad_profile, Role::Member)
            .await,
        store
            .open_account(&new("bob@example.net"), "", &profile, Role::Member)
            .await,
        store
            .open_account(&new("bob@example.net"), phc, &profile, Role::CompanyAdmin)
            .await,
    ];
    assert!(
        matches!(refusals[0], Err(StoreError::Conflict { .. })),
        "{:?}",
        refusals[0]
    );
    for refused in &refusals[1..] {
        assert!(
            matches!(refused, Err(StoreError::Invalid { .. })),
            "{refused:?}"
        );
    }
    assert_eq!(store.members(Page::first(10)).await.unwrap(), vec![alice]);
}
