//! `docent bench serve` end to end at a tiny size: it indexes a corner of the sample
//! corpus, starts the real server as a child process, streams answers at two
//! concurrency levels, holds a few LLM streams open, and reports JSON rows. The test
//! checks the rows and that nothing failed; speed numbers live in the benchmark's
//! output only (docs/BENCHMARKS.md), never in assertions.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn docent() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_docent"));
    c.env("DOCENT_MODELS", models_dir()).env_remove("DOCENT_DATA").env_remove("DOCENT_BOT");
    c
}

fn models_dir() -> PathBuf {
    std::env::var_os("DOCENT_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models"))
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpus")
}

/// `corpus/billing/` and the answerable questions about it.
fn small_corpus(dir: &Path) -> (PathBuf, PathBuf) {
    let docs = dir.join("corpus");
    let billing = docs.join("billing");
    std::fs::create_dir_all(&billing).expect("mkdir");
    for e in std::fs::read_dir(corpus().join("billing")).expect("billing pages") {
        let p = e.expect("entry").path();
        std::fs::copy(&p, billing.join(p.file_name().expect("name"))).expect("copy");
    }
    let all = std::fs::read_to_string(corpus().join("questions.jsonl")).expect("questions");
    let picked: Vec<&str> =
        all.lines().filter(|l| l.contains("/billing/") && l.contains("\"answerable\": true")).collect();
    assert!(picked.len() >= 4, "the corpus has billing questions");
    let questions = dir.join("questions.jsonl");
    std::fs::write(&questions, picked.join("\n")).expect("write questions");
    (docs, questions)
}

fn rows(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON row ({e}): {l}")))
        .collect()
}

#[test]
fn a_tiny_run_reports_every_level_without_errors() {
    let work = tempfile::tempdir().expect("tempdir");
    let (docs, questions) = small_corpus(work.path());
    let out = docent()
        .args(["bench", "serve", "--clients", "1,4", "--requests-per-client", "2", "--hold", "4", "--json"])
        .args(["--open-streams", "3", "--open-streams-clients", "2", "--paced-clients", "3", "--pacing-ms", "5"])
        .args(["--paced-seconds", "1"])
        .arg("--corpus")
        .arg(&docs)
        .arg("--scratch")
        .arg(work.path().join("data"))
        .arg("--questions")
        .arg(&questions)
        .output()
        .expect("spawn docent");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench failed: {}\nstdout: {stdout}\nstderr: {stderr}", out.status);
    let rows = rows(&stdout);
    let of = |kind: &str| rows.iter().filter(|r| r["kind"] == kind).collect::<Vec<_>>();

    let setup = of("setup");
    assert_eq!(setup.len(), 1, "{stdout}");
    assert!(setup[0]["chunks"].as_u64().unwrap_or(0) > 0, "{stdout}");
    assert!(setup[0]["server_rss_ready_mb"].as_f64().unwrap_or(0.0) > 0.0, "the server's RSS was read: {stdout}");

    let levels = of("level");
    let clients: Vec<(u64, u64, &str)> = levels
        .iter()
        .filter_map(|r| Some((r["clients"].as_u64()?, r["open_streams"].as_u64()?, r["generator"].as_str()?)))
        .collect();
    assert_eq!(
        clients,
        [(1, 0, "extractive"), (4, 0, "extractive"), (3, 0, "extractive_paced"), (2, 3, "extractive")],
        "the plain levels, the paced one, then one beside 3 open streams: {stdout}"
    );
    for r in &levels {
        let clients = r["clients"].as_u64().unwrap_or(0);
        let n = r["requests"].as_u64().unwrap_or(0);
        if r["generator"] == "extractive_paced" {
            // Paced clients ask until the level's time cap.
            assert!(n >= clients, "every paced client asked at least once: {r}");
        } else {
            assert_eq!(n, clients * 2, "every client made its requests: {r}");
        }
        assert_eq!(r["errors"], 0, "{r}");
        assert_eq!(r["answers"], n, "every stream ended with done: {r}");
        assert_eq!(r["truncated"], false, "{r}");
        for key in ["ttft_p50_ms", "ttft_p99_ms", "full_p50_ms", "full_p99_ms", "throughput_per_s"] {
            assert!(r[key].as_f64().is_some_and(|v| v > 0.0), "{key} was measured: {r}");
        }
        assert!(r["ttft_p50_ms"].as_f64() <= r["full_p50_ms"].as_f64(), "the first delta comes before done: {r}");
        assert!(r["streams_open_max"].as_u64() <= r["clients"].as_u64(), "no more streams open than clients: {r}");
    }
    // A paced answer streams for words × 5 ms, so the 5 ms samples see it open (an
    // extractive one is over in about a millisecond and may fall between samples).
    let paced = levels.iter().find(|r| r["generator"] == "extractive_paced").expect("the paced level");
    assert_eq!(paced["pacing_ms"], 5, "{paced}");
    assert!(paced["streams_open_max"].as_u64().unwrap_or(0) >= 1, "open streams were counted: {paced}");
    assert!(paced["streams_open_mean"].as_f64().is_some_and(|m| m > 0.0), "{paced}");

    let memory = of("memory");
    assert_eq!(memory.len(), 1, "{stdout}");
    let m = memory[0];
    assert_eq!(m["hold"], 4, "{m}");
    assert_eq!(m["errors"], 0, "{m}");
    assert_eq!(m["answers"], 4, "held streams ended with done once released: {m}");
    let (open, early) = (m["open"].as_u64().unwrap_or(0), m["finished_early"].as_u64().unwrap_or(0));
    assert_eq!(open + early, 4, "each stream was open at the measurement or had ended: {m}");
    assert!(open > 0, "billing questions reach the LLM generator: {m}");

    let background = of("open_streams");
    assert_eq!(background.len(), 1, "{stdout}");
    assert_eq!(background[0]["errors"], 0, "the streams held during a level ended well: {}", background[0]);
    assert_eq!(background[0]["answers"], 3, "{}", background[0]);
}

#[test]
fn a_data_dir_without_the_index_says_which_command_to_run() {
    let work = tempfile::tempdir().expect("tempdir");
    let out = docent()
        .args(["bench", "serve", "--bot", "docs", "--clients", "1", "--data"])
        .arg(work.path())
        .output()
        .expect("spawn docent");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no index for bot `docs`") && stderr.contains("docent ingest"), "{stderr}");
}
