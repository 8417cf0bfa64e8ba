//! Hot swap: generations published while queries run; every response comes from one
//! generation, the retriever moves on after a reload, old snapshots keep working.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{publish, retriever, Page};
use docent_index::BotDir;
use docent_retrieval::{ReloadOutcome, SearchMode, SearchRequest};

const MARKERS: [&str; 3] = ["aurora", "borealis", "cascade"];

/// Pages of generation `g` (1-based): every chunk names the generation's marker word.
fn pages(g: usize) -> Vec<Page> {
    let m = MARKERS[g - 1];
    (0..4)
        .map(|p| {
            let sections: Vec<(String, String)> = (0..3)
                .map(|s| {
                    (
                        format!("Step {s}"),
                        format!(
                            "Widget setup step {s} of guide {p} in the {m} release: connect the widget, then save."
                        ),
                    )
                })
                .collect();
            let refs: Vec<(&str, &str)> = sections.iter().map(|(h, t)| (h.as_str(), t.as_str())).collect();
            Page::new(&format!("https://help.test/{m}/guide-{p}"), &format!("Guide {p}"), &refs)
        })
        .collect()
}

fn marker_of(text: &str) -> Vec<&'static str> {
    MARKERS.iter().copied().filter(|m| text.contains(m)).collect()
}

#[test]
fn queries_during_publishes_never_mix_generations_and_reload_moves_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bot = BotDir::new(dir.path(), "docs").expect("bot");
    assert_eq!(publish(&bot, &pages(1)), 1);
    let retriever = Arc::new(retriever(&bot));
    let first = retriever.snapshot();
    assert_eq!(first.generation(), 1);

    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(BTreeSet::new()));
    let workers: Vec<_> = (0..2)
        .map(|t| {
            let (retriever, stop, seen) = (retriever.clone(), stop.clone(), seen.clone());
            std::thread::spawn(move || {
                let modes = [SearchMode::Hybrid, SearchMode::Bm25, SearchMode::Dense];
                let mut n = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let mode = modes[(n + t) % 3];
                    // Vary the text so the embedding cache does not serve every query.
                    let q = format!("widget setup step {} connect", n % 7);
                    let r = retriever.search(&SearchRequest::new(q).with_k(6).with_mode(mode).with_max_per_doc(0));
                    let r = r.unwrap_or_else(|e| panic!("query failed during a swap: {e}"));
                    let want = MARKERS[r.generation as usize - 1];
                    assert!(!r.hits.is_empty(), "{mode}: no hits in generation {}", r.generation);
                    for h in &r.hits {
                        assert_eq!(marker_of(&h.text), vec![want], "generation {} returned {:?}", r.generation, h.text);
                        assert!(h.url.contains(want), "{}", h.url);
                    }
                    seen.lock().unwrap_or_else(|p| p.into_inner()).insert(r.generation);
                    n += 1;
                }
                n
            })
        })
        .collect();

    let wait_for = |g: u64| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !seen.lock().unwrap_or_else(|p| p.into_inner()).contains(&g) {
            assert!(Instant::now() < deadline, "queries never saw generation {g}");
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    wait_for(1);
    assert_eq!(retriever.reload_if_changed().expect("reload"), ReloadOutcome::Unchanged { generation: 1 });

    // Publish while queries run: nothing changes until the reload.
    assert_eq!(publish(&bot, &pages(2)), 2);
    assert_eq!(retriever.generation(), 1);
    assert_eq!(retriever.reload_if_changed().expect("reload"), ReloadOutcome::Swapped { from: 1, to: 2 });
    wait_for(2);

    // A third generation removes the first from disk (two are kept); reload again.
    assert_eq!(publish(&bot, &pages(3)), 3);
    assert!(!bot.generation_dir(1).exists(), "generation 1 should have been cleaned up");
    assert_eq!(retriever.reload_if_changed().expect("reload"), ReloadOutcome::Swapped { from: 2, to: 3 });
    wait_for(3);

    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for w in workers {
        total += w.join().expect("query thread panicked");
    }
    assert!(total > 10, "only {total} queries ran");
    assert_eq!(retriever.generation(), 3);

    // A snapshot taken before the swaps still answers from generation 1, files deleted or not.
    let old = retriever
        .search_in(&first, &SearchRequest::new("widget setup step").with_k(5).with_mode(SearchMode::Hybrid))
        .expect("search on an old snapshot");
    assert_eq!(old.generation, 1);
    assert!(!old.hits.is_empty());
    assert!(old.hits.iter().all(|h| marker_of(&h.text) == vec!["aurora"]));
    eprintln!("{total} queries during 2 swaps");
}
