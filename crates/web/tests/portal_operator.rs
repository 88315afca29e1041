//! The portal's company, addresses and operator pages through the router
//! in process, as a browser uses them: the operator's approval queue,
//! inventory import, members and top-ups; a company's branches; claims of
//! addresses and domains — and that members get none of the operator's.

mod common;

use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use common::peers::{dns_server, smtp_relay};
use common::portal::{portal, sign_up, sign_up_as, Browser, Portal, Shown};
use store::prelude::*;
use store::{
    now_millis, BranchDestination, Branches, ClaimState, Claims, Inventory, Member, OrderState,
    Orders, Role,
};

const HOSTILE: &str = "<script>alert(1)</script>";

async fn member(portal: &Portal, email: &str) -> Member {
    portal
        .store
        .member_by_email(email)
        .await
        .unwrap()
        .expect("a member")
}

/// A browser logged in as a member whose role is operator.
async fn operator(portal: &Portal) -> Browser {
    let mut browser = Browser::new(&portal.router);
    sign_up(&mut browser, "Olga Operator", "olga@callex.test").await;
    let olga = member(portal, "olga@callex.test").await;
    portal
        .store
        .set_role(olga.id, Role::Operator, None)
        .await
        .unwrap();
    browser
}

/// The value of the first form field `name` on the page.
fn field(shown: &Shown, name: &str) -> String {
    let marker = format!(r#"name="{name}" value=""#);
    let at = shown.html.find(&marker).expect("the field") + marker.len();
    shown.html[at..].split('"').next().unwrap().to_owned()
}

fn escaped(shown: &Shown) {
    assert!(!shown.html.contains("<script>"), "{}", shown.html);
    assert!(!shown.html.contains("<img"), "{}", shown.html);
}

/// `email` buys `number` through the numbers page; the order.
async fn buy(portal: &Portal, browser: &mut Browser, email: &str, number: &str) -> store::Order {
    browser.get("/numbers?country=KR").await;
    let page = browser
        .post("/numbers/buy", &[("number", number), ("key", number)])
        .await;
    assert!(page.html.contains("flash ok"), "{}", page.html);
    let me = member(portal, email).await;
    let orders = portal.store.orders_of(me.id, now_millis()).await.unwrap();
    orders.last().expect("an order").clone()
}

/// A golden number for sale (its premium class computed from the digits):
/// its purchase waits for the operator too.
async fn list_golden(portal: &Portal) {
    let csv = "number,kind,country,area_code,price,monthly,currency\n\
               +82 2 6200 6200,e164,KR,2,50000,1100,KRW\n";
    let read = web::inventory::read_csv(csv.as_bytes(), &mut |_| {}).unwrap();
    portal
        .store
        .import_listings(&read.listings, &|_| {})
        .await
        .unwrap();
}

#[tokio::test]
async fn a_plain_member_gets_403_on_every_operator_page_and_form_and_changes_nothing() {
    let portal = portal().await;
    let mut alice = Browser::new(&portal.router);
    sign_up(&mut alice, "Alice", "alice@example.net").await;
    let order = buy(&portal, &mut alice, "alice@example.net", "6200-6200#082").await;
    assert_eq!(order.state, OrderState::Requested);
    let me = member(&portal, "alice@example.net").await;

    for page in [
        "/operator".to_owned(),
        "/operator/approvals".to_owned(),
        "/operator/inventory?country=KR".to_owned(),
        "/operator/members".to_owned(),
        format!("/operator/members/{}", me.id),
    ] {
        let shown = alice.get(&page).await;
        assert_eq!(shown.status, StatusCode::FORBIDDEN, "{page}");
        assert!(shown.html.contains("operator"), "{page}: {}", shown.html);
    }
    assert!(!alice.get("/my").await.html.contains(r#"href="/operator""#));
    alice.get("/my").await;
    let csv = "number,kind,country,area_code,price,monthly,currency\n\
               +82 2 6185 4000,e164,KR,2,1,1,KRW\n";
    let id = order.id.to_string();
    let me_id = me.id.to_string();
    let posts: [(String, Vec<(&str, &str)>); 5] = [
        (format!("/operator/approvals/{id}/approve"), vec![]),
        (
            format!("/operator/approvals/{id}/reject"),
            vec![("reason", "no")],
        ),
        ("/operator/inventory/import".to_owned(), vec![("csv", csv)]),
        (
            format!("/operator/members/{me_id}/topups"),
            vec![("amount", "1000000"), ("currency", "KRW"), ("key", "k")],
        ),
        (format!("/operator/members/{me_id}/claims/1/verify"), vec![]),
    ];
    for (uri, fields) in posts {
        let refused = alice.post(&uri, &fields).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{uri}");
    }
    let after = portal
        .store
        .order(order.id, now_millis())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.state, OrderState::Requested);
    assert!(portal.store.balances(me.id).await.unwrap().is_empty());
    assert!(portal
        .store
        .listing("+82261854000")
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn the_operator_approves_one_purchase_and_rejects_another_with_a_reason() {
    let portal = portal().await;
    list_golden(&portal).await;
    let mut alice = Browser::new(&portal.router);
    sign_up(&mut alice, "Alice", "alice@example.net").await;
    let vns = buy(&portal, &mut alice, "alice@example.net", "6200-6200#082").await;
    let mut bob = Browser::new(&portal.router);
    sign_up(&mut bob, HOSTILE, "bob@example.net").await;
    let golden = buy(&portal, &mut bob, "bob@example.net", "+82 2 6200 6200").await;
    assert_eq!(golden.state, OrderState::Requested);

    let mut olga = operator(&portal).await;
    let overview = olga.get("/operator").await;
    assert_eq!(overview.status, StatusCode::OK);
    assert!(
        overview.html.contains("<strong>2</strong> purchases wait"),
        "{}",
        overview.html
    );
    let queue = olga.get("/operator/approvals").await;
    assert_eq!(queue.status, StatusCode::OK);
    for expected in [
        "6200-6200#082",
        "Alice",
        "990000 KRW",
        "repeated",
        "&#60;script",
    ] {
        assert!(queue.html.contains(expected), "{expected}: {}", queue.html);
    }
    escaped(&queue);

    // No reason, no rejection.
    let refused = olga
        .post(
            &format!("/operator/approvals/{}/reject", golden.id),
            &[("reason", "  ")],
        )
        .await;
    assert!(
        refused.html.contains("a rejection needs a reason"),
        "{}",
        refused.html
    );

    let approved = olga
        .post(&format!("/operator/approvals/{}/approve", vns.id), &[])
        .await;
    assert!(approved.html.contains("is approved"), "{}", approved.html);
    let reason = "Golden numbers are for <b>resellers</b> only";
    let rejected = olga
        .post(
            &format!("/operator/approvals/{}/reject", golden.id),
            &[("reason", reason)],
        )
        .await;
    assert!(rejected.html.contains("is rejected"), "{}", rejected.html);
    assert!(rejected.html.contains("No purchase waits"));

    let now = now_millis();
    let vns = portal.store.order(vns.id, now).await.unwrap().unwrap();
    assert_eq!(vns.state, OrderState::Approved);
    assert!(vns.hold_until.is_some());
    let golden = portal.store.order(golden.id, now).await.unwrap().unwrap();
    assert_eq!(golden.state, OrderState::Rejected);
    assert_eq!(golden.reason.as_deref(), Some(reason));

    // Approving twice is refused in the store's words.
    let again = olga
        .post(&format!("/operator/approvals/{}/approve", vns.id), &[])
        .await;
    assert!(again.html.contains("flash error"), "{}", again.html);
    // The buyer reads the reason, escaped.
    let dashboard = bob.get("/my").await;
    assert!(
        dashboard.html.contains("for &#60;b&#62;resellers")
            || dashboard.html.contains("for &lt;b&gt;resellers"),
        "{}",
        dashboard.html
    );
}

#[tokio::test]
async fn a_csv_import_with_a_bad_row_imports_nothing_and_names_the_line() {
    let portal = portal().await;
    let mut olga = operator(&portal).await;
    olga.get("/operator/inventory").await;
    let bad = format!(
        "number,kind,country,area_code,price,monthly,currency\n\
         +82 2 6185 4001,e164,KR,2,5000,1100,KRW\n\
         +82 2 6185 4002,e164,{HOSTILE},2,5000,1100,KRW\n\
         +82 2 6185 4003,e164,KR,2,5000,1100\n"
    );
    let refused = olga
        .post("/operator/inventory/import", &[("csv", &bad)])
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.html.contains("Nothing imported: 2 bad rows"),
        "{}",
        refused.html
    );
    assert!(
        refused.html.contains("Line 3: unknown country"),
        "{}",
        refused.html
    );
    assert!(refused
        .html
        .contains("Line 4: 6 fields where the header has 7"));
    // The CSV is shown again to be fixed, escaped.
    assert!(refused.html.contains("+82 2 6185 4001,e164"));
    escaped(&refused);
    assert!(portal
        .store
        .listing("+82261854001")
        .await
        .unwrap()
        .is_none());

    let good = "number,kind,country,area_code,price,monthly,currency,premium\n\
                +82 2 6185 4001,e164,KR,2,5000,1100,KRW,\n\
                +82 2 6185 4002,e164,KR,2,5000,1100,KRW,none\n";
    let imported = olga
        .post("/operator/inventory/import", &[("csv", good)])
        .await;
    assert!(
        imported.html.contains("2 numbers imported"),
        "{}",
        imported.html
    );
    let found = olga.get("/operator/inventory?contains=618540").await;
    assert!(found.html.contains("+82 2-6185-4001"), "{}", found.html);
    assert!(found.html.contains("+82 2-6185-4002"));

    let again = olga
        .post("/operator/inventory/import", &[("csv", good)])
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(
        again
            .html
            .contains("Line 2: number +82261854001 is already in the inventory"),
        "{}",
        again.html
    );
    let empty = olga
        .post(
            "/operator/inventory/import",
            &[(
                "csv",
                "number,kind,country,area_code,price,monthly,currency\n",
            )],
        )
        .await;
    assert!(
        empty.html.contains("No numbers to import"),
        "{}",
        empty.html
    );
}

#[tokio::test]
async fn the_operator_lists_members_and_tops_up_a_balance_once_per_form() {
    let portal = portal().await;
    let mut alice = Browser::new(&portal.router);
    sign_up(&mut alice, HOSTILE, "alice@example.net").await;
    let me = member(&portal, "alice@example.net").await;
    let mut olga = operator(&portal).await;

    let list = olga.get("/operator/members").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.html.contains(&format!("/operator/members/{}", me.id)));
    assert!(list.html.contains("olga@callex.test"));
    escaped(&list);

    let page = format!("/operator/members/{}", me.id);
    let shown = olga.get(&page).await;
    assert_eq!(shown.status, StatusCode::OK);
    escaped(&shown);
    let key = field(&shown, "key");
    let topups = format!("{page}/topups");
    let wrong = olga
        .post(
            &topups,
            &[("amount", "-5"), ("currency", "KRW"), ("key", &key)],
        )
        .await;
    assert!(
        wrong.html.contains("Bad decimal in amount"),
        "{}",
        wrong.html
    );
    for _ in 0..2 {
        olga.get(&page).await;
        olga.post(
            &topups,
            &[("amount", "5000"), ("currency", "krw"), ("key", &key)],
        )
        .await;
    }
    let balances = portal.store.balances(me.id).await.unwrap();
    assert_eq!(balances.len(), 1);
    assert_eq!(balances[0].amount.to_string(), "5000");
    let shown = olga.get(&page).await;
    assert!(shown.html.contains("5000 KRW"), "{}", shown.html);

    let missing = olga.get("/operator/members/999999").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

/// A company holding `6200-6200#082`, with Carol (a plain member holding
/// `02-6200-6200-082`) and Dave (its admin); the company's browser.
async fn company(portal: &Portal) -> (Member, Browser) {
    let mut acme = Browser::new(&portal.router);
    sign_up_as(&mut acme, "company", "Acme <img src=x>", "acme@example.com").await;
    let company = member(portal, "acme@example.com").await;
    portal
        .store
        .grant("62006200#082", NumberKind::Vns, company.id)
        .await
        .unwrap();
    for (name, email, role) in [
        ("Carol", "carol@example.com", Role::Member),
        ("Dave", "dave@example.com", Role::CompanyAdmin),
    ] {
        let mut browser = Browser::new(&portal.router);
        sign_up(&mut browser, name, email).await;
        let id = member(portal, email).await.id;
        portal
            .store
            .set_role(id, role, Some(company.id))
            .await
            .unwrap();
    }
    let carol = member(portal, "carol@example.com").await;
    portal
        .store
        .grant("0262006200082", NumberKind::Pin, carol.id)
        .await
        .unwrap();
    (company, acme)
}

async fn log_in(portal: &Portal, email: &str) -> Browser {
    let mut browser = Browser::new(&portal.router);
    browser.get("/login").await;
    browser
        .post(
            "/login",
            &[("email", email), ("password", "correct horse battery")],
        )
        .await;
    browser
}

#[tokio::test]
async fn company_branches_are_set_and_removed_and_bad_input_changes_nothing() {
    let portal = portal().await;
    let (company, mut acme) = company(&portal).await;
    let page = acme.get("/my/company").await;
    assert_eq!(page.status, StatusCode::OK);
    for expected in [
        "Carol",
        "Dave",
        "company admin",
        "6200-6200#082",
        "02-6200-6200-082",
    ] {
        assert!(page.html.contains(expected), "{expected}: {}", page.html);
    }
    escaped(&page);

    let set = acme
        .post(
            "/my/company/branches",
            &[
                ("country", "kr"),
                ("to", "terminal"),
                ("terminal", "6200-6200#082"),
                ("default", "on"),
            ],
        )
        .await;
    assert!(
        set.html.contains("Calls for the company in KR now go to"),
        "{}",
        set.html
    );
    let set = acme
        .post(
            "/my/company/branches",
            &[
                ("country", "DE"),
                ("to", "group"),
                ("group", "6200-6200#082,\n02-6200-6200-082"),
            ],
        )
        .await;
    assert!(set.html.contains("flash ok"), "{}", set.html);
    let before = portal.store.branches(company.id).await.unwrap();
    assert_eq!(before.len(), 2);
    assert!(before[1].default, "KR is the default: {before:?}");

    for (fields, reason) in [
        (
            vec![
                ("country", "ZZ"),
                ("to", "pstn"),
                ("pstn", "+82 2 6200 6200"),
            ],
            "ZZ",
        ),
        (
            vec![
                ("country", HOSTILE),
                ("to", "pstn"),
                ("pstn", "+82 2 6200 6200"),
            ],
            "country",
        ),
        (
            vec![
                ("country", "KR"),
                ("to", "terminal"),
                ("terminal", "+82 2 6185 3091"),
            ],
            "not held by company",
        ),
        (
            vec![
                ("country", "KR"),
                ("to", "group"),
                ("group", "6200-6200#082"),
            ],
            "2 to 32",
        ),
        (vec![("country", "KR"), ("to", "fax")], "Choose where"),
    ] {
        let refused = acme.post("/my/company/branches", &fields).await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{fields:?}"
        );
        assert!(refused.html.contains("role=\"alert\""), "{fields:?}");
        assert!(refused.html.contains(reason), "{reason}: {}", refused.html);
        escaped(&refused);
        assert_eq!(portal.store.branches(company.id).await.unwrap(), before);
    }

    // A plain member sees the branches and changes none of them.
    let mut carol = log_in(&portal, "carol@example.com").await;
    let seen = carol.get("/my/company").await;
    assert_eq!(seen.status, StatusCode::OK);
    assert!(seen.html.contains(r#"<a href="/my/company">Company</a>"#));
    assert!(
        seen.html
            .contains("The company&#39;s admins change its branches")
            || seen.html.contains("admins change its branches")
    );
    assert!(!seen.html.contains("/my/company/branches/KR/remove"));
    let refused = carol.post("/my/company/branches/KR/remove", &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let refused = carol
        .post(
            "/my/company/branches",
            &[
                ("country", "US"),
                ("to", "pstn"),
                ("pstn", "+1 212 555 0100"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(portal.store.branches(company.id).await.unwrap(), before);

    // The admin acts on the company.
    let mut dave = log_in(&portal, "dave@example.com").await;
    dave.get("/my/company").await;
    let removed = dave.post("/my/company/branches/DE/remove", &[]).await;
    assert!(
        removed.html.contains("The branch in DE is removed"),
        "{}",
        removed.html
    );
    let gone = dave.post("/my/company/branches/DE/remove", &[]).await;
    assert!(gone.html.contains("has no branch in DE"), "{}", gone.html);
    let after = portal.store.branches(company.id).await.unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(
        after[0].destination,
        BranchDestination::Terminal("62006200#082".into())
    );

    // Someone in no company is told so.
    let mut alice = Browser::new(&portal.router);
    sign_up(&mut alice, "Alice", "alice@example.net").await;
    let refused = alice.get("/my/company").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.html.contains("belongs to no company"));
    assert!(!refused.html.contains(r#"<a href="/my/company">"#));
}

#[tokio::test]
async fn a_claim_is_added_verified_by_the_operator_and_revoked() {
    let portal = portal().await;
    let (company, mut acme) = company(&portal).await;
    acme.get("/my/claims").await;
    let claimed = acme
        .post(
            "/my/claims",
            &[
                ("kind", "domain"),
                ("value", "Example.COM."),
                ("number", "62006200#082"),
            ],
        )
        .await;
    assert_eq!(claimed.status, StatusCode::CREATED, "{}", claimed.html);
    assert!(
        claimed.html.contains("_callex-challenge.example.com"),
        "{}",
        claimed.html
    );
    assert!(claimed.html.contains("callex-verify="));
    let domain = portal.store.claims_of(company.id).await.unwrap()[0].clone();
    assert_eq!(domain.state, ClaimState::Pending);

    // Carol claims her address: no mail relay, so no code went out.
    let mut carol = log_in(&portal, "carol@example.com").await;
    carol.get("/my/claims").await;
    let bad = carol
        .post(
            "/my/claims",
            &[
                ("kind", "email"),
                ("value", "<img src=x>"),
                ("number", "0262006200082"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.html);
    escaped(&bad);
    let wrong_kind = carol
        .post(
            "/my/claims",
            &[
                ("kind", "domain"),
                ("value", "carol.example"),
                ("number", "0262006200082"),
            ],
        )
        .await;
    assert!(
        wrong_kind.html.contains("role=\"alert\""),
        "{}",
        wrong_kind.html
    );
    let claimed = carol
        .post(
            "/my/claims",
            &[
                ("kind", "email"),
                ("value", "Carol@Example.com"),
                ("number", "0262006200082"),
            ],
        )
        .await;
    assert_eq!(claimed.status, StatusCode::CREATED, "{}", claimed.html);
    assert!(
        claimed.html.contains("No code could be mailed"),
        "{}",
        claimed.html
    );
    let carol_id = member(&portal, "carol@example.com").await.id;
    let email = portal.store.claims_of(carol_id).await.unwrap()[0].clone();
    let wrong = carol
        .post(
            &format!("/my/claims/{}/verify", email.id),
            &[("code", "000000")],
        )
        .await;
    assert!(wrong.html.contains("flash error"), "{}", wrong.html);
    // Nobody else's claim is Carol's to revoke.
    let refused = carol
        .post(&format!("/my/claims/{}/revoke", domain.id), &[])
        .await;
    assert!(refused.html.contains("flash error"), "{}", refused.html);

    // The operator vouches for both.
    let mut olga = operator(&portal).await;
    for (member_id, claim) in [(company.id, domain.id), (carol_id, email.id)] {
        let page = format!("/operator/members/{member_id}");
        let shown = olga.get(&page).await;
        assert!(shown.html.contains("Verify as operator"), "{}", shown.html);
        let verified = olga
            .post(&format!("{page}/claims/{claim}/verify"), &[])
            .await;
        assert!(
            verified.html.contains("is verified by the operator"),
            "{}",
            verified.html
        );
    }
    // A claim id under another member is not that member's.
    let mismatched = olga
        .post(
            &format!(
                "/operator/members/{}/claims/{}/verify",
                company.id, email.id
            ),
            &[],
        )
        .await;
    assert!(
        mismatched.html.contains("has no claim"),
        "{}",
        mismatched.html
    );
    assert_eq!(
        portal.store.claim(domain.id).await.unwrap().unwrap().state,
        ClaimState::Verified
    );

    let listed = carol.get("/my/claims").await;
    assert!(listed.html.contains("verified"), "{}", listed.html);
    let revoked = carol
        .post(&format!("/my/claims/{}/revoke", email.id), &[])
        .await;
    assert!(
        revoked.html.contains("carol@example.com is revoked"),
        "{}",
        revoked.html
    );
    assert_eq!(
        portal.store.claim(email.id).await.unwrap().unwrap().state,
        ClaimState::Revoked
    );
    assert_eq!(
        portal.store.claim(domain.id).await.unwrap().unwrap().state,
        ClaimState::Verified
    );
}

/// The text of the `<code class="secret">` after `label` on the page.
fn secret_after(shown: &Shown, label: &str) -> String {
    let at = shown.html.find(label).expect("the label");
    let rest = &shown.html[at..];
    let start = rest.find(r#"<code class="secret">"#).unwrap() + r#"<code class="secret">"#.len();
    rest[start..].split('<').next().unwrap().to_owned()
}

#[tokio::test]
async fn a_domain_is_proven_by_its_txt_record_and_an_address_by_its_mailed_code() {
    let portal = portal().await;
    company(&portal).await;
    let published = Arc::new(Mutex::new(Vec::new()));
    let resolver = dns_server("_callex-challenge.example.com", published.clone()).await;
    let (relay, mut mails) = smtp_relay().await;
    let checks = web::claims::ClaimChecks {
        resolver: Some(resolver),
        smtp_relay: Some(("127.0.0.1".into(), relay.port())),
        smtp_from: Some("claims@callex.test".into()),
    };
    let router =
        web::router(web::AppState::new(portal.store.clone(), "callex").with_claim_checks(checks));

    let mut acme = Browser::new(&router);
    acme.get("/login").await;
    acme.post(
        "/login",
        &[
            ("email", "acme@example.com"),
            ("password", "correct horse battery"),
        ],
    )
    .await;
    acme.get("/my/claims").await;
    let claimed = acme
        .post(
            "/my/claims",
            &[
                ("kind", "domain"),
                ("value", "example.com"),
                ("number", "6200-6200#082"),
            ],
        )
        .await;
    let record = secret_after(&claimed, "<dt>Text</dt>");
    assert!(record.starts_with("callex-verify="), "{record}");
    let company = member(&portal, "acme@example.com").await;
    let domain = portal.store.claims_of(company.id).await.unwrap()[0].clone();
    let verify = format!("/my/claims/{}/verify", domain.id);
    // Not published yet: the page says where it should be.
    let early = acme.post(&verify, &[]).await;
    assert!(early.html.contains("flash error"), "{}", early.html);
    assert!(early.html.contains("_callex-challenge.example.com"));
    assert_eq!(
        portal.store.claim(domain.id).await.unwrap().unwrap().state,
        ClaimState::Pending
    );
    published.lock().unwrap().push(record);
    let verified = acme.post(&verify, &[]).await;
    assert!(
        verified.html.contains("example.com is verified"),
        "{}",
        verified.html
    );

    let mut carol = Browser::new(&router);
    carol.get("/login").await;
    carol
        .post(
            "/login",
            &[
                ("email", "carol@example.com"),
                ("password", "correct horse battery"),
            ],
        )
        .await;
    carol.get("/my/claims").await;
    let claimed = carol
        .post(
            "/my/claims",
            &[
                ("kind", "email"),
                ("value", "carol@example.com"),
                ("number", "02-6200-6200-082"),
            ],
        )
        .await;
    assert!(
        claimed
            .html
            .contains("A code was sent to the address carol@example.com"),
        "{}",
        claimed.html
    );
    let mail = mails.recv().await.expect("the code mail");
    let code: String = mail
        .split("The code is ")
        .nth(1)
        .expect("a code in the mail")
        .chars()
        .take(6)
        .collect();
    let carol_id = member(&portal, "carol@example.com").await.id;
    let email = portal.store.claims_of(carol_id).await.unwrap()[0].clone();
    let page = carol.get("/my/claims").await;
    assert!(page
        .html
        .contains(&format!(r#"<label for="code-{}">"#, email.id)));
    let verified = carol
        .post(
            &format!("/my/claims/{}/verify", email.id),
            &[("code", &code)],
        )
        .await;
    assert!(
        verified.html.contains("carol@example.com is verified"),
        "{}",
        verified.html
    );
    assert_eq!(
        portal.store.claim(email.id).await.unwrap().unwrap().state,
        ClaimState::Verified
    );
}
