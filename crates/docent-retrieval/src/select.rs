//! From fused candidates to hits: per-page diversity, near-duplicate removal, and
//! reading the stored chunks of the hits (one read each from the generation's
//! `chunks.bin`, which also holds each chunk's near-duplicate word set, so nothing is
//! decompressed or re-tokenized per query).

use docent_index::ChunkBuf;
use tracing::debug_span;

use crate::fusion::FusedCandidate;
use crate::{Hit, Ranks, RetrievalError, Scores, Snapshot};

/// How [`select`] trims the fused list.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Selection {
    /// Hits wanted.
    pub k: usize,
    /// Chunks of one page at most.
    pub max_per_doc: usize,
    /// Word-set Jaccard similarity at or above which a chunk duplicates an earlier hit
    /// (above 1.0: only identical embedded text counts).
    pub near_duplicate: f32,
}

/// Walk the fused list best first and keep up to `k` chunks, at most `max_per_doc`
/// per page, skipping chunks whose text (hash or near-identical words) was already kept.
/// Also returns the chunk ordinal of each hit (for the reranker's embeddings).
pub(crate) fn select_with_ordinals(
    snapshot: &Snapshot,
    fused: &[FusedCandidate],
    sel: Selection,
) -> Result<(Vec<Hit>, Vec<u32>), RetrievalError> {
    let _span = debug_span!("select", candidates = fused.len(), k = sel.k).entered();
    let table = snapshot.table();
    let index = snapshot.index();
    let cap = sel.k.min(fused.len());
    let mut hits: Vec<Hit> = Vec::with_capacity(cap);
    // k is small (tens): linear scans beat hashing here.
    let mut per_page: Vec<(u32, usize)> = Vec::with_capacity(cap);
    let mut kept: Vec<ChunkBuf> = Vec::with_capacity(cap);
    let mut ordinals: Vec<u32> = Vec::with_capacity(cap);
    for c in fused {
        if hits.len() >= sel.k {
            break;
        }
        let page = table.page(c.ordinal);
        let slot = per_page.iter().position(|&(p, _)| p == page);
        if slot.is_some_and(|i| per_page[i].1 >= sel.max_per_doc) {
            continue;
        }
        let buf = index.stored_chunk(c.ordinal as usize).map_err(|source| RetrievalError::Fetch {
            bot: snapshot.bot().to_string(),
            generation: snapshot.generation(),
            ordinal: c.ordinal,
            source,
        })?;
        if kept.iter().any(|k| k.hash() == buf.hash()) {
            continue;
        }
        if sel.near_duplicate <= 1.0 && kept.iter().any(|k| jaccard(k.words(), buf.words()) >= sel.near_duplicate) {
            continue;
        }
        let chunk = buf.view();
        match slot {
            Some(i) => per_page[i].1 += 1,
            None => per_page.push((page, 1)),
        }
        ordinals.push(c.ordinal);
        hits.push(Hit {
            url: chunk.url.to_string(),
            title: chunk.title.to_string(),
            heading_path: chunk.heading_path().map(str::to_string).collect(),
            text: chunk.text.to_string(),
            doc_id: chunk.doc_id.to_string(),
            chunk_id: chunk.chunk_id.to_string(),
            tags: chunk.tags().map(str::to_string).collect(),
            scores: Scores { bm25: c.bm25.map(|b| b.0), dense: c.dense.map(|d| d.0), fused: c.fused, rerank: None },
            ranks: Ranks { bm25: c.bm25.map(|b| b.1), dense: c.dense.map(|d| d.1), fused: hits.len() + 1 },
        });
        kept.push(buf);
    }
    Ok((hits, ordinals))
}

/// Jaccard similarity of two sorted, distinct sets (two empty sets are identical).
pub(crate) fn jaccard(a: &[u64], b: &[u64]) -> f32 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let (mut i, mut j, mut inter) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                inter += 1;
                i += 1;
                j += 1;
            }
        }
    }
    let union = a.len() + b.len() - inter;
    inter as f32 / union as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use docent_index::word_set;

    #[test]
    fn near_identical_texts_have_high_jaccard() {
        let a = word_set("Refunds are issued within 30 days of the charge date.");
        let b = word_set("refunds ARE issued within 30 days of the charge date!!");
        let c = word_set("API keys can be rotated from the dashboard at any time.");
        assert!((jaccard(&a, &b) - 1.0).abs() < 1e-6);
        assert!(jaccard(&a, &c) < 0.2);
        assert_eq!(jaccard(&[], &[]), 1.0);
        assert_eq!(jaccard(&a, &[]), 0.0);
        // 9 of 10 words shared -> 9 / 11.
        let d = word_set("one two three four five six seven eight nine ten");
        let e = word_set("one two three four five six seven eight nine eleven");
        assert!((jaccard(&d, &e) - 9.0 / 11.0).abs() < 1e-6);
    }
}
