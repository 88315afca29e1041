//! `callex rent run` and `callex numbers release` as an operator meets
//! them: a month's rental is charged once however often the run is made,
//! a short balance goes into arrears, a bad month changes nothing, and a
//! number taken back stops working and waits out its quarantine.

mod common;

use common::*;
use store::{Actor, NewOrder, Orders, Rentals, SipCredentials, Topup};

#[tokio::test]
async fn the_rental_run_charges_once_per_month_and_a_released_number_is_quarantined() {
    let data_dir = scratch_dir("rentals");
    std::fs::create_dir_all(&data_dir).expect("a data directory");
    let csv = data_dir.with_extension("csv");
    std::fs::write(
        &csv,
        "number,kind,country,area_code,price,monthly,currency,premium\n\
         +82261853091,e164,KR,2,5000,1100,KRW,\n",
    )
    .expect("writing the CSV file");
    let mut import = callex();
    import
        .args(["numbers", "import"])
        .arg(&csv)
        .arg("--data-dir")
        .arg(&data_dir);
    let out = import.output().expect("run callex");
    assert!(out.status.success(), "{}", stderr(&out));
    let member = succeeded(run(
        &data_dir,
        &["member", "add", "--name", "Alice", "--country", "KR"],
    ));
    let member = store::MemberId(member.trim().parse().expect("a member id"));

    // Alice buys through the API; here, through the store it serves. She
    // has the price and one month: the next month puts her in arrears.
    let store = store::Store::open(data_dir.to_str().expect("a UTF-8 path"))
        .await
        .expect("opening the store");
    // Bought a day into last month: this month is the run's to charge.
    let this_month = store::BillingMonth::of(store::now_millis());
    let last_month = store::BillingMonth::of(this_month.start() - 1);
    let now = last_month.start() + 86_400_000;
    let topup = Topup {
        member,
        amount: 6100.into(),
        currency: "KRW".into(),
        idempotency_key: "cash".into(),
    };
    store.top_up(&topup, Actor::Operator, now).await.unwrap();
    let order = store
        .request_order(
            &NewOrder {
                member,
                number: "+82261853091".into(),
                idempotency_key: "buy".into(),
            },
            now,
            store::orders::DEFAULT_HOLD_MS,
        )
        .await
        .expect("ordering");
    store
        .pay_order_from_balance(order.id, Actor::Member(member), now)
        .await
        .expect("paying");
    store
        .set_password_ha1s(
            "+82261853091",
            "callex",
            &[(
                sip::digest::Algorithm::Md5,
                "0123456789abcdef0123456789abcdef",
            )],
        )
        .await
        .unwrap();
    store.close().await;

    // Last month was charged with the price.
    let last = succeeded(run(
        &data_dir,
        &["rent", "run", "--month", &last_month.to_string()],
    ));
    assert!(last.contains(": 0 charged, 1 charged before"), "{last}");
    let charged = succeeded(run(&data_dir, &["rent", "run"]));
    assert!(
        charged.contains("charged\tmember 1\t") && charged.contains("1100 KRW"),
        "{charged}"
    );
    assert!(
        charged.contains("in arrears\tmember 1\t-1100 KRW"),
        "{charged}"
    );
    let again = succeeded(run(&data_dir, &["rent", "run"]));
    assert!(again.contains(": 0 charged, 1 charged before"), "{again}");
    for bad in ["2026-13", "next month", "2026-1"] {
        let refused = run(&data_dir, &["rent", "run", "--month", bad]);
        assert!(!refused.status.success(), "{bad}");
        assert!(stderr(&refused).contains("YYYY-MM"), "{}", stderr(&refused));
    }
    let next = this_month.next().to_string();
    let ahead = run(&data_dir, &["rent", "run", "--month", &next]);
    assert!(!ahead.status.success());
    assert!(
        stderr(&ahead).contains("has not begun"),
        "{}",
        stderr(&ahead)
    );
    let shown = succeeded(run(
        &data_dir,
        &["balance", "show", "--member", &member.to_string()],
    ));
    assert!(shown.contains("balance\t-1100 KRW"), "{shown}");
    assert!(shown.contains("rental of "), "{shown}");
    assert!(shown.contains(&format!("for {this_month}")), "{shown}");

    let unknown = run(&data_dir, &["numbers", "release", "+82 2 6185 3099"]);
    assert!(!unknown.status.success());
    assert!(
        stderr(&unknown).contains("nobody holds number"),
        "{}",
        stderr(&unknown)
    );
    let released = succeeded(run(
        &data_dir,
        &[
            "numbers",
            "release",
            "+82 2 6185 3091",
            "--quarantine",
            "30",
        ],
    ));
    assert!(
        released.contains("released") && released.contains("out of sale until"),
        "{released}"
    );

    let store = store::Store::open(data_dir.to_str().expect("a UTF-8 path"))
        .await
        .expect("opening the store");
    let ha1 = store
        .ha1("+82261853091", "callex", sip::digest::Algorithm::Md5)
        .await
        .unwrap();
    assert_eq!(ha1, None);
    let history = store.number_releases("+82261853091").await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].actor, "operator");
    assert_eq!(history[0].quarantine_until - history[0].at, 30 * 86_400_000);
    store.close().await;
    let history = succeeded(run(&data_dir, &["numbers", "history", "+82 2 6185 3091"]));
    assert!(
        history.contains("released by operator from member 1 (order 1)")
            && history.contains("out of sale until"),
        "{history}"
    );
}

/// Over SIP, against `callex serve`: a number registers with its password
/// until it is released; then the same password is refused at once (within
/// the switch's credential poll), and the number is no longer held.
#[test]
fn a_released_number_s_sip_password_stops_working_on_a_running_exchange() {
    let mut exchange = common::calls::Exchange::start("rentals-release", &[]);
    let member = exchange.member("Alice");
    exchange.register(&member);
    let released = exchange.cli(&["numbers", "release", &member.number]);
    assert!(released.contains("released"), "{released}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let status = loop {
        let status = exchange.register_answer(&member).1.status().unwrap_or(0);
        if status != 200 || std::time::Instant::now() > deadline {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(
        [401, 403, 404].contains(&status),
        "REGISTER after the release: {status}\n{}",
        exchange.log_tail()
    );
    exchange.terminate();
}
