//! The portal as a browser meets it, through the router in process: a
//! cookie jar, forms posted with the CSRF token the page carried, and the
//! page that answers. (The same flows run in a real Chromium in
//! `crates/callex/tests/browser.rs`.)

mod common;
// The store's own harness: each test below on SQLite and on PostgreSQL.
#[allow(dead_code)] // the store's tests use all of it, these a part
#[path = "../../store/tests/support/mod.rs"]
mod support;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use common::portal::{portal, portal_on, sign_up, top_up, Browser};
use support::{on_both_engines, TestDb};

on_both_engines!(
    a_new_member_signs_up_searches_buys_and_pays,
    a_form_without_this_visitor_s_token_changes_nothing,
    a_member_gets_a_profile_for_a_number_and_only_for_their_own,
    an_owner_gives_a_number_back_only_when_they_confirm_it,
);
use store::now_millis;
use store::prelude::*;
use store::Orders;
use tower::ServiceExt;

async fn a_new_member_signs_up_searches_buys_and_pays(db: TestDb) {
    let portal = portal_on(db.target()).await;
    let mut alice = Browser::new(&portal.router);
    let home = alice.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.html.contains("Sign up"));

    let welcome = sign_up(&mut alice, "Alice", "alice@example.net").await;
    assert_eq!(welcome.status, StatusCode::OK, "{}", welcome.html);
    assert!(welcome.html.contains("Welcome, Alice"), "{}", welcome.html);
    assert!(welcome.html.contains(r#"<html lang="ko">"#));
    assert!(alice.jar.contains_key("callex_session"));

    let found = alice.get("/numbers?country=KR&contains=3091").await;
    assert_eq!(found.status, StatusCode::OK);
    assert!(found.html.contains("+82 2-6185-3091"), "{}", found.html);
    assert!(!found.html.contains("3092"));
    let key = found
        .html
        .split(r#"name="key" value=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a buy key")
        .to_owned();

    let held = alice
        .post(
            "/numbers/buy",
            &[("number", "+827261853091"), ("key", &key)],
        )
        .await;
    // Not that number: nothing is ordered, and the page says why.
    assert!(held.html.contains("flash error"), "{}", held.html);
    let held = alice
        .post(
            "/numbers/buy",
            &[("number", "+8226185 3091"), ("key", &key)],
        )
        .await;
    assert!(held.html.contains("is held for you until"), "{}", held.html);
    // The same button pressed twice is one order.
    alice
        .post(
            "/numbers/buy",
            &[("number", "+8226185 3091"), ("key", &key)],
        )
        .await;
    let me = portal
        .store
        .member_by_email("alice@example.net")
        .await
        .unwrap()
        .unwrap();
    let orders = portal.store.orders_of(me.id, now_millis()).await.unwrap();
    assert_eq!(orders.len(), 1);

    let short = alice
        .post(&format!("/my/orders/{}/pay", orders[0].id), &[])
        .await;
    assert!(short.html.contains("flash error"), "{}", short.html);
    assert!(portal.store.numbers_of(me.id).await.unwrap().is_empty());

    top_up(&portal.store, "alice@example.net", "20000").await;
    let paid = alice
        .post(&format!("/my/orders/{}/pay", orders[0].id), &[])
        .await;
    assert!(paid.html.contains("is yours"), "{}", paid.html);
    let held = portal.store.numbers_of(me.id).await.unwrap();
    assert_eq!(held[0].number, "+82261853091");
    assert!(paid.html.contains("Numbers I hold"));

    let account = alice.get("/my/account").await;
    assert!(account.html.contains("-5000 KRW"), "{}", account.html);
}

async fn a_form_without_this_visitor_s_token_changes_nothing(db: TestDb) {
    let portal = portal_on(db.target()).await;
    let mut alice = Browser::new(&portal.router);
    sign_up(&mut alice, "Alice", "alice@example.net").await;
    let mut mallory = Browser::new(&portal.router);
    sign_up(&mut mallory, "Mallory", "mallory@example.net").await;

    // No token, a forged one, another session's token.
    let mallorys = mallory.csrf.clone();
    for body in [
        "number=%2B82261853091&key=a".to_owned(),
        "number=%2B82261853091&key=b&csrf=0000".to_owned(),
        format!("number=%2B82261853091&key=c&csrf={mallorys}"),
    ] {
        let refused = alice.post_raw("/numbers/buy", body).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.html);
        assert!(refused.html.contains("Nothing was changed"));
    }
    let me = portal
        .store
        .member_by_email("alice@example.net")
        .await
        .unwrap()
        .unwrap();
    assert!(portal
        .store
        .orders_of(me.id, now_millis())
        .await
        .unwrap()
        .is_empty());

    // A sign-up posted from elsewhere (no form cookie) opens no account.
    let mut stranger = Browser::new(&portal.router);
    let refused = stranger
        .post_raw(
            "/signup",
            "kind=individual&name=X&email=x%40example.net&country=KR&password=aaaaaaaaaa&password_again=aaaaaaaaaa&csrf=abc".into(),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(portal
        .store
        .member_by_email("x@example.net")
        .await
        .unwrap()
        .is_none());

    // Not a form at all.
    let mut request = Request::builder()
        .method(Method::POST)
        .uri("/numbers/buy")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{}"))
        .unwrap();
    request.headers_mut().insert(
        header::COOKIE,
        alice
            .jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
            .parse()
            .unwrap(),
    );
    let answer = portal.router.clone().oneshot(request).await.unwrap();
    assert_eq!(answer.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn a_bad_sign_up_is_shown_again_with_the_reason_and_opens_nothing() {
    let portal = portal().await;
    let mut browser = Browser::new(&portal.router);
    sign_up(&mut browser, "Alice", "alice@example.net").await;
    let mut other = Browser::new(&portal.router);
    other.get("/signup").await;
    type Case<'a> = (&'a [(&'a str, &'a str)], StatusCode, &'a str);
    let cases: [Case; 5] = [
        (
            &[("password", "short"), ("password_again", "short")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "10 to 1024 characters",
        ),
        (
            &[("password_again", "something else entirely")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "The two passwords differ",
        ),
        (
            &[("country", "ZZ")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "not a country",
        ),
        (
            &[("email", "ALICE@example.net")],
            StatusCode::CONFLICT,
            "exists already",
        ),
        (
            &[("kind", "robot")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "a person",
        ),
    ];
    for (changes, status, reason) in cases {
        let mut fields = vec![
            ("kind", "individual"),
            ("name", "<script>alert(1)</script>"),
            ("email", "new@example.net"),
            ("country", "KR"),
            ("password", "correct horse battery"),
            ("password_again", "correct horse battery"),
        ];
        for (name, value) in changes {
            fields.retain(|(n, _)| n != name);
            fields.push((name, value));
        }
        let page = other.post("/signup", &fields).await;
        assert_eq!(page.status, status, "{changes:?}: {}", page.html);
        assert!(page.html.contains(reason), "{changes:?}: {}", page.html);
        // What was typed is shown again, escaped; the password is not.
        assert!(page.html.contains("&#60;script&#62;") || page.html.contains("&lt;script&gt;"));
        assert!(!page.html.contains("<script>"));
        assert!(!page.html.contains("correct horse battery"));
    }
    assert!(portal
        .store
        .member_by_email("new@example.net")
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        portal.store.members(Page::first(100)).await.unwrap().len(),
        1
    );
}

#[tokio::test]
async fn logging_in_takes_the_right_password_and_goes_back_only_to_this_site() {
    let portal = portal().await;
    let mut first = Browser::new(&portal.router);
    sign_up(&mut first, "Alice", "alice@example.net").await;

    let mut browser = Browser::new(&portal.router);
    let sent_away = browser.get("/my/account").await;
    assert_eq!(sent_away.status, StatusCode::SEE_OTHER);
    assert_eq!(
        sent_away.location.as_deref(),
        Some("/login?next=%2Fmy%2Faccount")
    );
    browser.get("/login?next=https://evil.example/").await;
    for (email, password) in [
        ("alice@example.net", "wrong password!"),
        ("nobody@example.net", "correct horse battery"),
        ("", ""),
    ] {
        let refused = browser
            .post("/login", &[("email", email), ("password", password)])
            .await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
        assert!(refused.html.contains("do not match an account"));
        assert!(!browser.jar.contains_key("callex_session"));
    }
    let page = browser
        .post(
            "/login",
            &[
                ("email", "Alice@Example.net"),
                ("password", "correct horse battery"),
                ("next", "https://evil.example/"),
            ],
        )
        .await;
    assert!(page.html.contains("Logged in as Alice"), "{}", page.html);
    assert!(page.html.contains("<h1>My numbers</h1>"));

    // A new password ends every session: this browser's and the first.
    browser.get("/my/account").await;
    let changed = browser
        .post(
            "/my/account/password",
            &[
                ("current", "correct horse battery"),
                ("password", "a better passphrase"),
                ("password_again", "a better passphrase"),
            ],
        )
        .await;
    assert!(
        changed.html.contains("Log in with the new one"),
        "{}",
        changed.html
    );
    for browser in [&mut browser, &mut first] {
        let out = browser.get("/my").await;
        assert_eq!(out.status, StatusCode::SEE_OTHER);
    }
}

#[tokio::test]
async fn a_member_cannot_touch_another_member_s_order() {
    let portal = portal().await;
    let mut alice = Browser::new(&portal.router);
    sign_up(&mut alice, "Alice", "alice@example.net").await;
    alice.get("/numbers?country=KR").await;
    alice
        .post("/numbers/buy", &[("number", "+82261853091"), ("key", "k1")])
        .await;
    let alice_id = portal
        .store
        .member_by_email("alice@example.net")
        .await
        .unwrap()
        .unwrap()
        .id;
    let order = portal
        .store
        .orders_of(alice_id, now_millis())
        .await
        .unwrap()[0]
        .clone();

    let mut mallory = Browser::new(&portal.router);
    sign_up(&mut mallory, "Mallory", "mallory@example.net").await;
    top_up(&portal.store, "mallory@example.net", "100000").await;
    for action in ["pay", "cancel"] {
        let page = mallory
            .post(&format!("/my/orders/{}/{action}", order.id), &[])
            .await;
        assert!(
            page.html
                .contains(&format!("There is no order {}", order.id)),
            "{}",
            page.html
        );
    }
    let after = portal
        .store
        .order(order.id, now_millis())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.state, order.state);
    assert!(mallory.get("/my").await.html.contains("No orders yet"));
}

#[tokio::test]
async fn a_hostile_search_gets_a_message_not_an_error() {
    let portal = portal().await;
    let mut browser = Browser::new(&portal.router);
    for query in [
        "country=KR&min_price=abc",
        "kind=%3Cscript%3E",
        "limit=100000",
        "contains=12a",
        "unknown=1",
        "country=%FF%FE",
    ] {
        let page = browser.get(&format!("/numbers?{query}")).await;
        assert_eq!(
            page.status,
            StatusCode::BAD_REQUEST,
            "{query}: {}",
            page.html
        );
        assert!(page.html.contains("error-text"), "{query}");
        assert!(!page.html.contains("<script>"), "{query}");
    }
}

#[tokio::test]
async fn guessing_a_password_is_stopped_after_five_tries() {
    let portal = portal().await;
    let mut alice = Browser::new(&portal.router);
    sign_up(&mut alice, "Alice", "alice@example.net").await;
    let mut guesser = Browser::new(&portal.router);
    guesser.get("/login").await;
    for _ in 0..5 {
        let refused = guesser
            .post(
                "/login",
                &[("email", "alice@example.net"), ("password", "guess guess")],
            )
            .await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    }
    // Now even the right password waits, for this address only.
    let held = guesser
        .post(
            "/login",
            &[
                ("email", "ALICE@example.net"),
                ("password", "correct horse battery"),
            ],
        )
        .await;
    assert_eq!(held.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        held.html.contains("Try again in 15 minutes"),
        "{}",
        held.html
    );
    assert!(!guesser.jar.contains_key("callex_session"));
    sign_up(&mut guesser, "Bob", "bob@example.net").await;
    assert!(guesser.jar.contains_key("callex_session"));
}

async fn a_member_gets_a_profile_for_a_number_and_only_for_their_own(db: TestDb) {
    let portal = portal_on(db.target()).await;
    let mut alice = Browser::new(&portal.router);
    sign_up(&mut alice, "Alice", "alice@example.net").await;
    let empty = alice.get("/my/terminals").await;
    assert!(empty.html.contains("nothing to set up"), "{}", empty.html);
    alice.get("/numbers?country=KR").await;
    alice
        .post("/numbers/buy", &[("number", "+82261853091"), ("key", "k1")])
        .await;
    top_up(&portal.store, "alice@example.net", "20000").await;
    let me = portal
        .store
        .member_by_email("alice@example.net")
        .await
        .unwrap()
        .unwrap();
    let order = portal.store.orders_of(me.id, now_millis()).await.unwrap()[0].id;
    alice.post(&format!("/my/orders/{order}/pay"), &[]).await;

    let page = alice.get("/my/terminals").await;
    assert!(
        page.html.contains("<code>+82261853091</code>"),
        "{}",
        page.html
    );
    assert!(page.html.contains("No phone is registered"));
    let issued = alice
        .post("/my/terminals/profile", &[("number", "+82261853091")])
        .await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.html);
    let password = issued
        .html
        .split(r#"id="sip-password">"#)
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the password on the page")
        .to_owned();
    let card_link = issued
        .html
        .split(r#"<a href=""#)
        .find_map(|rest| rest.split('"').next().filter(|href| href.ends_with(".txt")))
        .expect("a card link")
        .to_owned();
    // The router was asked without a Host: the link is a path.
    let card = alice.get(&card_link).await;
    assert_eq!(card.status, StatusCode::OK);
    assert!(card.html.contains(&password), "{}", card.html);
    assert!(card.html.contains("+82261853091"));
    let ha1 = portal
        .store
        .ha1("+82261853091", "callex", sip::digest::Algorithm::Md5)
        .await
        .unwrap();
    assert_eq!(
        ha1,
        Some(sip::digest::ha1(
            sip::digest::Algorithm::Md5,
            "+82261853091",
            "callex",
            &password
        ))
    );

    // Someone else asking for Alice's number gets nothing, and her
    // password stays.
    let mut mallory = Browser::new(&portal.router);
    sign_up(&mut mallory, "Mallory", "mallory@example.net").await;
    mallory.get("/my/terminals").await;
    let refused = mallory
        .post("/my/terminals/profile", &[("number", "+82261853091")])
        .await;
    assert!(refused.html.contains("flash error"), "{}", refused.html);
    assert!(!refused.html.contains("sip-password"));
    let after = portal
        .store
        .ha1("+82261853091", "callex", sip::digest::Algorithm::Md5)
        .await
        .unwrap();
    assert_eq!(after, ha1);
}

async fn an_owner_gives_a_number_back_only_when_they_confirm_it(db: TestDb) {
    let portal = portal_on(db.target()).await;
    let mut alice = Browser::new(&portal.router);
    sign_up(&mut alice, "Alice", "alice@example.net").await;
    alice.get("/numbers?country=KR").await;
    alice
        .post("/numbers/buy", &[("number", "+82261853091"), ("key", "k1")])
        .await;
    top_up(&portal.store, "alice@example.net", "20000").await;
    let me = portal
        .store
        .member_by_email("alice@example.net")
        .await
        .unwrap()
        .unwrap();
    let order = portal.store.orders_of(me.id, now_millis()).await.unwrap()[0].id;
    let paid = alice.post(&format!("/my/orders/{order}/pay"), &[]).await;
    assert!(
        paid.html.contains("Give back +82261853091"),
        "{}",
        paid.html
    );

    let unconfirmed = alice
        .post("/my/numbers/release", &[("number", "+82261853091")])
        .await;
    assert!(
        unconfirmed.html.contains("Tick the box"),
        "{}",
        unconfirmed.html
    );
    assert_eq!(portal.store.numbers_of(me.id).await.unwrap().len(), 1);

    let mut mallory = Browser::new(&portal.router);
    sign_up(&mut mallory, "Mallory", "mallory@example.net").await;
    let refused = mallory
        .post(
            "/my/numbers/release",
            &[("number", "+82261853091"), ("understood", "yes")],
        )
        .await;
    assert!(
        refused.html.contains("does not hold number"),
        "{}",
        refused.html
    );
    assert_eq!(portal.store.numbers_of(me.id).await.unwrap().len(), 1);

    let released = alice
        .post(
            "/my/numbers/release",
            &[("number", "+82261853091"), ("understood", "yes")],
        )
        .await;
    assert!(released.html.contains("is given back"), "{}", released.html);
    assert!(portal.store.numbers_of(me.id).await.unwrap().is_empty());
}
