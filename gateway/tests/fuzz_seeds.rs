//! Replays every seed in `fuzz/seeds/<target>/` through its fuzz target's checks
//! (`fuzz/src/lib.rs`), so that the seeds guard against regressions in every `cargo test`, on
//! stable and without libFuzzer.

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

// The fuzz crate's public functions, private here.
#[allow(unreachable_pub)]
#[path = "../../fuzz/src/lib.rs"]
mod checks;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn names_in(dir: &Path, extension: Option<&str>) -> Vec<String> {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut names: Vec<String> = entries
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| extension.is_none_or(|ext| path.extension().is_some_and(|e| e == ext)))
        .filter_map(|path| Some(path.file_stem()?.to_str()?.to_owned()))
        .collect();
    names.sort();
    names
}

#[test]
fn every_seed_passes_its_targets_checks() {
    let mut failures = Vec::new();
    let mut replayed = 0;
    for (target, check) in checks::TARGETS {
        let dir = fuzz_dir().join("seeds").join(target);
        let mut seeds: Vec<PathBuf> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.expect("a directory entry").path())
            .collect();
        seeds.sort();
        assert!(!seeds.is_empty(), "{target} has no seeds");
        for seed in seeds {
            let data = fs::read(&seed).unwrap_or_else(|e| panic!("{}: {e}", seed.display()));
            replayed += 1;
            if let Err(panic) = catch_unwind(AssertUnwindSafe(|| check(&data))) {
                let message = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("(no message)");
                failures.push(format!("{}: {message}", seed.display()));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "seeds failing their checks:\n{}",
        failures.join("\n")
    );
    eprintln!("{replayed} seeds replayed");
}

/// A target needs its check, its `fuzz_targets/` file, its `[[bin]]` and its seeds; a seed
/// folder without a target would be silently skipped.
#[test]
fn targets_seeds_and_binaries_agree() {
    let mut targets: Vec<String> = checks::TARGETS.iter().map(|(n, _)| n.to_string()).collect();
    targets.sort();
    assert_eq!(names_in(&fuzz_dir().join("seeds"), None), targets);
    assert_eq!(
        names_in(&fuzz_dir().join("fuzz_targets"), Some("rs")),
        targets
    );
    let manifest = fs::read_to_string(fuzz_dir().join("Cargo.toml")).expect("fuzz/Cargo.toml");
    for target in &targets {
        let bin = format!("name = \"{target}\"\npath = \"fuzz_targets/{target}.rs\"");
        assert!(
            manifest.contains(&bin),
            "fuzz/Cargo.toml has no [[bin]] {target}"
        );
    }
}
