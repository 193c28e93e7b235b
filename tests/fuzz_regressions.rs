//! Every input of `fuzz/regressions/<target>/` (findings of the cargo-fuzz targets, fixed in
//! `src/`) replayed through its target's own checks, in the normal `cargo test`. The checks are
//! the fuzz crate's `src/lib.rs` itself, included here (that crate is not in the workspace and
//! needs a fuzzing toolchain to build its targets; its library needs only starpipe, `csv`,
//! `serde_json` and `sqlparser`).

#[allow(dead_code)]
#[path = "../fuzz/src/lib.rs"]
mod fuzz_checks;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

#[test]
fn fuzz_regression_inputs_pass_their_targets_checks() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let mut replayed = 0;
    let mut failures = Vec::new();
    for target in fuzz_checks::TARGETS {
        let dir = root.join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
        files.sort();
        for file in files {
            let data = std::fs::read(&file).unwrap();
            let outcome = catch_unwind(AssertUnwindSafe(|| fuzz_checks::replay(target, &data)));
            match outcome {
                Ok(known) => assert!(known, "unknown target {target}"),
                Err(_) => failures.push(file.display().to_string()),
            }
            replayed += 1;
        }
    }
    assert!(
        replayed > 0,
        "no regression inputs under {}",
        root.display()
    );
    assert!(
        failures.is_empty(),
        "regression inputs that fail their target's checks (the panics are printed above):\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_regression_directory_is_a_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    for entry in std::fs::read_dir(&root).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            let name = path.file_name().unwrap().to_str().unwrap();
            assert!(
                fuzz_checks::TARGETS.contains(&name),
                "fuzz/regressions/{name} is not a fuzz target"
            );
        }
    }
}
