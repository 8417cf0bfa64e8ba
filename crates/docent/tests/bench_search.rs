//! `docent bench search` end to end at a tiny size: it generates a synthetic index in a
//! scratch directory, times each mode and reports JSON rows. The test checks the rows
//! and which modes ran their two halves side by side (`--parallel`, `--serial`, and
//! the size-based default); speed numbers live in the benchmark's output only
//! (docs/BENCHMARKS.md), never in assertions.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn models_dir() -> PathBuf {
    std::env::var_os("DOCENT_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models"))
}

/// The search rows of one run over a 2,000-chunk synthetic index kept in `scratch`.
fn run(scratch: &Path, extra: &[&str]) -> Vec<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_docent"))
        .env("DOCENT_MODELS", models_dir())
        .args(["bench", "search", "--chunks", "2000", "--queries", "20", "--modes", "bm25,dense,hybrid", "--json"])
        .arg("--scratch")
        .arg(scratch)
        .args(extra)
        .output()
        .expect("spawn docent");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "bench search failed: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("not a JSON row ({e}): {l}")))
        .filter(|r| r["kind"] == "search")
        .collect()
}

fn parallel_by_mode(rows: &[Value]) -> Vec<(String, bool)> {
    rows.iter()
        .map(|r| {
            let mode = r["mode"].as_str().expect("mode").to_string();
            (mode, r["bm25_parallel"].as_bool().expect("bm25_parallel"))
        })
        .collect()
}

#[test]
fn every_mode_reports_percentiles_and_how_its_halves_ran() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let default = run(scratch.path(), &[]);
    assert_eq!(default.len(), 3, "{default:?}");
    for r in &default {
        assert_eq!(r["chunks"], 2000, "{r}");
        assert_eq!(r["queries"], 20, "{r}");
        let (p50, p95, p99) = (r["p50_ms"].as_f64(), r["p95_ms"].as_f64(), r["p99_ms"].as_f64());
        let (p50, p95, p99) = (p50.expect("p50"), p95.expect("p95"), p99.expect("p99"));
        assert!(p50 > 0.0 && p50 <= p95 && p95 <= p99, "percentiles in order: {r}");
        assert!(r["mean_hits"].as_f64().is_some_and(|h| h > 0.0), "hits found: {r}");
    }
    // A small index runs its halves one after the other by default.
    let serial = vec![("bm25".to_string(), false), ("dense".to_string(), false), ("hybrid".to_string(), false)];
    assert_eq!(parallel_by_mode(&default), serial);
    // `--parallel` runs hybrid's BM25 on a pool thread (single-retriever modes have
    // nothing to run beside); `--serial` never does. The index is reused.
    let parallel = run(scratch.path(), &["--parallel"]);
    assert_eq!(
        parallel_by_mode(&parallel),
        vec![("bm25".to_string(), false), ("dense".to_string(), false), ("hybrid".to_string(), true)]
    );
    assert_eq!(parallel_by_mode(&run(scratch.path(), &["--serial"])), serial);
}

#[test]
fn bad_flags_are_refused_with_a_clear_error() {
    let scratch = tempfile::tempdir().expect("tempdir");
    for (args, needle) in [
        (&["--modes", "bm25,warp"][..], "unknown mode `warp`"),
        (&["--bm25-boosts", "1,2"][..], "TITLE,HEADINGS,BODY"),
        (&["--parallel", "--serial"][..], "cannot be used with"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_docent"))
            .env("DOCENT_MODELS", models_dir())
            .args(["bench", "search", "--chunks", "100"])
            .arg("--scratch")
            .arg(scratch.path())
            .args(args)
            .output()
            .expect("spawn docent");
        assert!(!out.status.success(), "{args:?} accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}
