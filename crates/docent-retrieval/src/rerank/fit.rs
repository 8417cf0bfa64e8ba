//! Fitting the offline reranker's weights: coordinate ascent on mean nDCG@k over
//! training queries (the metric itself, no surrogate loss), starting from the fused
//! order, so the fitted model is never worse than the first stage on its training set.

/// One training query: the candidates' feature vectors (first-stage order) and gains.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingList {
    /// Feature vector of each candidate, in first-stage order.
    pub features: Vec<Vec<f32>>,
    /// Relevance gain of each candidate (0: not relevant).
    pub gains: Vec<f32>,
    /// Gains of every relevant item of the query, retrieved or not (for the ideal DCG).
    pub ideal: Vec<f32>,
    /// Identity of each candidate (e.g. its page): candidates sharing one count once, at
    /// the first of them in the ranking. Empty: all distinct.
    pub ids: Vec<u32>,
}

/// nDCG@k of a ranked list of gains against the query's relevant gains (`ideal`, any
/// order). Gain `g` at 1-based rank `r` adds `g / log2(r + 1)`. 0 when nothing is relevant.
pub fn ndcg_at(ranked: &[f32], ideal: &[f32], k: usize) -> f64 {
    let dcg =
        |g: &[f32]| -> f64 { g.iter().take(k).enumerate().map(|(i, &g)| g as f64 / ((i + 2) as f64).log2()).sum() };
    let mut best: Vec<f32> = ideal.to_vec();
    best.sort_by(|a, b| b.total_cmp(a));
    let idcg = dcg(&best);
    if idcg <= 0.0 {
        0.0
    } else {
        dcg(ranked) / idcg
    }
}

/// Order of a list under `weights` (ties keep first-stage order), as gains.
pub fn ranked_gains(list: &TrainingList, weights: &[f32]) -> Vec<f32> {
    let scores: Vec<f32> =
        list.features.iter().map(|f| f.iter().zip(weights).map(|(x, w)| x * w).sum::<f32>()).collect();
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    let mut seen = std::collections::HashSet::new();
    order
        .into_iter()
        .map(|i| match list.ids.get(i) {
            Some(id) if !seen.insert(*id) => 0.0,
            _ => list.gains[i],
        })
        .collect()
}

/// Mean nDCG@k over the lists under `weights`.
pub fn mean_ndcg(lists: &[TrainingList], weights: &[f32], k: usize) -> f64 {
    if lists.is_empty() {
        return 0.0;
    }
    lists.iter().map(|l| ndcg_at(&ranked_gains(l, weights), &l.ideal, k)).sum::<f64>() / lists.len() as f64
}

/// Weighted mean of [`mean_ndcg`] over groups of lists (e.g. one per data set, so a
/// small set weighs as much as a large one).
pub fn grouped_ndcg(groups: &[(&[TrainingList], f64)], weights: &[f32], k: usize) -> f64 {
    let total: f64 = groups.iter().map(|(_, g)| g).sum();
    if total <= 0.0 {
        return 0.0;
    }
    groups.iter().map(|(lists, g)| g * mean_ndcg(lists, weights, k)).sum::<f64>() / total
}

/// Coordinate ascent from `init`: repeatedly try moving one weight by each step of a
/// shrinking grid and keep a move when it raises mean nDCG@k by more than `1e-5`; stop
/// after `rounds` passes without a kept move or when the grid is exhausted. Weights are
/// kept in `[-clip, clip]`.
pub fn coordinate_ascent(lists: &[TrainingList], init: &[f32], k: usize, rounds: usize, clip: f32) -> Vec<f32> {
    coordinate_ascent_grouped(&[(lists, 1.0)], init, k, rounds, clip)
}

/// [`coordinate_ascent`] on the [`grouped_ndcg`] of several groups of lists.
pub fn coordinate_ascent_grouped(
    groups: &[(&[TrainingList], f64)],
    init: &[f32],
    k: usize,
    rounds: usize,
    clip: f32,
) -> Vec<f32> {
    let mut w = init.to_vec();
    let mut best = grouped_ndcg(groups, &w, k);
    let mut scale = 1.0f32;
    let mut idle = 0;
    while idle < rounds.max(1) && scale > 0.01 {
        let mut improved = false;
        for j in 0..w.len() {
            let mut best_move: Option<(f32, f64)> = None;
            for step in [-1.0f32, -0.5, -0.25, -0.1, 0.1, 0.25, 0.5, 1.0] {
                let mut t = w.clone();
                t[j] = (t[j] + step * scale).clamp(-clip, clip);
                if t[j] == w[j] {
                    continue;
                }
                let m = grouped_ndcg(groups, &t, k);
                if m > best + 1e-5 && best_move.is_none_or(|(_, bm)| m > bm) {
                    best_move = Some((t[j], m));
                }
            }
            if let Some((v, m)) = best_move {
                w[j] = v;
                best = m;
                improved = true;
            }
        }
        if improved {
            idle = 0;
        } else {
            idle += 1;
            scale *= 0.5;
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ndcg_matches_hand_computed_values() {
        // One relevant item at rank 2: 1/log2(3) = 0.6309.
        assert!((ndcg_at(&[0.0, 1.0, 0.0], &[1.0], 10) - 1.0 / 3f64.log2()).abs() < 1e-9);
        assert_eq!(ndcg_at(&[1.0, 0.0], &[1.0], 10), 1.0);
        // Two relevant, one found at rank 1: 1 / (1 + 1/log2(3)).
        assert!((ndcg_at(&[1.0, 0.0], &[1.0, 1.0], 10) - 1.0 / (1.0 + 1.0 / 3f64.log2())).abs() < 1e-9);
        assert_eq!(ndcg_at(&[0.0], &[], 10), 0.0);
        // Beyond k does not count.
        assert_eq!(ndcg_at(&[0.0, 1.0], &[1.0], 1), 0.0);
    }

    #[test]
    fn ascent_finds_the_informative_feature() {
        // Feature 0 (first stage) is noise; feature 1 marks the relevant item.
        let lists: Vec<TrainingList> = (0..20)
            .map(|q| {
                let rel = q % 4;
                TrainingList {
                    features: (0..4).map(|i| vec![1.0 - i as f32 * 0.1, if i == rel { 1.0 } else { 0.0 }]).collect(),
                    gains: (0..4).map(|i| if i == rel { 1.0 } else { 0.0 }).collect(),
                    ideal: vec![1.0],
                    ids: vec![],
                }
            })
            .collect();
        let before = mean_ndcg(&lists, &[1.0, 0.0], 10);
        let w = coordinate_ascent(&lists, &[1.0, 0.0], 10, 3, 5.0);
        let after = mean_ndcg(&lists, &w, 10);
        assert!(before < 0.8 && (after - 1.0).abs() < 1e-9, "{before} -> {after} with {w:?}");
    }

    #[test]
    fn repeated_ids_count_once() {
        let list = TrainingList {
            features: vec![vec![3.0], vec![2.0], vec![1.0]],
            gains: vec![1.0, 1.0, 0.0],
            ideal: vec![1.0],
            ids: vec![7, 7, 8],
        };
        assert_eq!(ranked_gains(&list, &[1.0]), vec![1.0, 0.0, 0.0]);
        assert_eq!(mean_ndcg(&[list], &[1.0], 10), 1.0);
    }
}
