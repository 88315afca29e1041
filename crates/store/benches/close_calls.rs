//! How many calls per second the call journal takes on SQLite, with the
//! store's durability settings (WAL, `synchronous=FULL`: one fsync per
//! batch), in batches of 100 as the switch group-commits them.
//!
//! Two figures: closing calls (a CDR and the delete of its active row per
//! call) and the whole journal of a call (opened in one batch, closed in a
//! later one). The database lives in `CALLEX_BENCH_DIR` if set, else in the
//! system's temporary directory: put it on the disk you will run on.
//! `CALLEX_BENCH_STORE` runs it against any store `Store::open` takes
//! instead (e.g. a PostgreSQL URL with `options[search_path]=a_scratch_schema`);
//! it must be empty of calls named `bench-*`.

use std::time::Instant;

use store::prelude::*;

const BATCH: usize = 100;
const BATCHES: usize = 200;

fn call(n: usize) -> ActiveCall {
    ActiveCall {
        call_id: format!("bench-{n}"),
        node: "node-a".into(),
        a_leg_call_id: format!("{n}-a@198.51.100.7"),
        b_leg_call_id: Some(format!("{n}-b@callex")),
        caller: "0262006200082".into(),
        callee_dialled: "0262006201082".into(),
        callee_presented: Some("0262006201082".into()),
        decision: Some("a national number of KR (trunk prefix)".into()),
        start_at: 1_700_000_000_000,
        answer_at: Some(1_700_000_001_000),
    }
}

fn cdr(n: usize) -> NewCdr {
    call(n).into_cdr(1_700_000_061_000, Disposition::Answered, Some(200))
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(run());
}

async fn run() {
    let parent = std::env::var_os("CALLEX_BENCH_DIR")
        .map(Into::into)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(&parent).expect("a temporary directory");
    let (target, shown) = match std::env::var("CALLEX_BENCH_STORE") {
        Ok(target) => (target.clone(), target),
        Err(_) => (
            dir.path().to_str().expect("a UTF-8 path").to_owned(),
            format!("a new directory in {}", parent.display()),
        ),
    };
    let store = Store::open(&target).await.expect("opening the store");
    println!(
        "{} in {shown}, {BATCHES} batches of {BATCH}",
        store.engine()
    );

    let started = Instant::now();
    for batch in 0..BATCHES {
        let cdrs: Vec<NewCdr> = (0..BATCH).map(|i| cdr(batch * BATCH + i)).collect();
        let written = store.close_calls(&cdrs).await.expect("closing calls");
        assert_eq!(written as usize, BATCH);
    }
    report("close_calls", started);

    let offset = BATCHES * BATCH;
    let started = Instant::now();
    for batch in 0..BATCHES {
        let numbers = (0..BATCH).map(|i| offset + batch * BATCH + i);
        let opened = CallBatch {
            opened: numbers.clone().map(call).collect(),
            ..CallBatch::default()
        };
        store.write_calls(&opened).await.expect("opening calls");
        let closed = CallBatch {
            closed: numbers.map(cdr).collect(),
            ..CallBatch::default()
        };
        store.write_calls(&closed).await.expect("closing calls");
    }
    report("open + close (two batches)", started);
    store.close().await;
}

fn report(what: &str, started: Instant) {
    let elapsed = started.elapsed();
    let calls = (BATCH * BATCHES) as f64;
    println!(
        "{what:>28}: {:>8.0} calls/s ({:.2} ms per batch of {BATCH})",
        calls / elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1000.0 / BATCHES as f64
    );
}
