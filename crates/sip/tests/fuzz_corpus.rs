//! Replays every fuzz corpus under `fuzz/corpus/` (and the crash inputs
//! kept under `fuzz/regressions/`) through the same checks the fuzz targets
//! run, so that what the fuzzer found once stays fixed.

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut count = 0;
    for dir in [
        root.join("corpus").join(target),
        root.join("regressions").join(target),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(outcome.is_ok(), "{} breaks an invariant", path.display());
            count += 1;
        }
    }
    count
}

#[test]
fn parse_corpus_keeps_every_invariant() {
    let n = replay("parse", sip::fuzzing::parse);
    assert!(n >= 50, "the parse corpus has only {n} inputs");
}

#[test]
fn transaction_corpus_keeps_every_invariant() {
    let n = replay("transaction", sip::fuzzing::transaction);
    assert!(n >= 10, "the transaction corpus has only {n} inputs");
}
