//! `callex order` and `callex balance` as an operator meets them: the
//! approval queue lists a VNS purchase, approving holds the number,
//! rejecting says why; a top-up is recorded once per key and shows in the
//! member's ledger.

mod common;

use common::*;
use store::{NewOrder, Orders};

#[tokio::test]
async fn the_operator_works_the_approval_queue_and_tops_up_a_balance() {
    let data_dir = scratch_dir("orders");
    std::fs::create_dir_all(&data_dir).expect("a data directory");
    let csv = data_dir.with_extension("csv");
    std::fs::write(
        &csv,
        "number,kind,country,area_code,price,monthly,currency,premium\n\
         \"6200-6200#082\",vns,KR,,990000,33000,KRW,\n\
         \"6300-6300#082\",vns,KR,,500000,33000,KRW,\n",
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
        &[
            "member",
            "add",
            "--name",
            "Example Inc.",
            "--country",
            "KR",
            "--company",
        ],
    ));
    let member: i64 = member.trim().parse().expect("a member id");

    // Buyers order through the API; here, through the store it serves.
    let store = store::Store::open(data_dir.to_str().expect("a UTF-8 path"))
        .await
        .expect("opening the store");
    let mut ids = Vec::new();
    for (number, key) in [("62006200#082", "a"), ("63006300#082", "b")] {
        let order = store
            .request_order(
                &NewOrder {
                    member: store::MemberId(member),
                    number: number.into(),
                    idempotency_key: key.into(),
                },
                store::now_millis(),
                store::orders::DEFAULT_HOLD_MS,
            )
            .await
            .expect("ordering");
        ids.push(order.id.to_string());
    }
    store.close().await;

    let queue = succeeded(run(&data_dir, &["order", "list"]));
    assert_eq!(queue.lines().count(), 2, "{queue}");
    assert!(queue.contains("requested\t62006200#082"), "{queue}");

    let approved = succeeded(run(
        &data_dir,
        &["order", "approve", &ids[0], "--hold", "600"],
    ));
    assert!(
        approved.contains("approved") && approved.contains("held until"),
        "{approved}"
    );
    let rejected = succeeded(run(
        &data_dir,
        &[
            "order",
            "reject",
            &ids[1],
            "--reason",
            "one VNS per company",
        ],
    ));
    assert!(
        rejected.contains("rejected") && rejected.contains("one VNS per company"),
        "{rejected}"
    );
    assert_eq!(succeeded(run(&data_dir, &["order", "list"])), "");
    let again = run(&data_dir, &["order", "approve", &ids[1]]);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("not awaiting approval"),
        "{}",
        stderr(&again)
    );

    let member = member.to_string();
    let topup = [
        "balance",
        "topup",
        "--member",
        &member,
        "990000.50",
        "KRW",
        "--key",
        "r-1",
    ];
    let once = succeeded(run(&data_dir, &topup));
    assert!(once.contains("balance 990000.5 KRW"), "{once}");
    let twice = succeeded(run(&data_dir, &topup));
    assert!(twice.contains("nothing new recorded"), "{twice}");
    let bad = run(
        &data_dir,
        &[
            "balance", "topup", "--member", &member, "-3", "KRW", "--key", "r-2",
        ],
    );
    assert!(!bad.status.success());
    let shown = succeeded(run(&data_dir, &["balance", "show", "--member", &member]));
    assert!(shown.contains("balance\t990000.5 KRW"), "{shown}");
    assert_eq!(shown.matches("topup").count(), 1, "{shown}");
}
