//! Replays the `dial` fuzz corpus under `fuzz/corpus/dial/` (and crash
//! inputs kept under `fuzz/regressions/dial/`) through the fuzz target's
//! checks, so that what the fuzzer found once stays fixed.

use std::path::Path;

#[test]
fn dial_corpus_keeps_every_invariant() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut count = 0;
    for dir in [root.join("corpus/dial"), root.join("regressions/dial")] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| numbering::fuzzing::dial(&data));
            assert!(outcome.is_ok(), "{} breaks an invariant", path.display());
            count += 1;
        }
    }
    assert!(count >= 5, "the dial corpus has only {count} inputs");
}
