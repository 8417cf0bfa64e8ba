//! Fitting and cross-validating the "no answer" model of [`crate::confidence`].
//!
//! The procedure, end to end (what [`fit`] does, and what [`leave_one_out`] repeats
//! once per held-out question):
//!
//! 1. standardise each feature (mean, population standard deviation; a constant
//!    feature gets scale 1);
//! 2. fit an L2-regularised logistic regression of "answerable" by Newton's method
//!    (the intercept is not penalised);
//! 3. pick the threshold that maximises the F1 of "no answer" (score below the
//!    threshold) on the fitted scores, ties going to the lower threshold (fewer
//!    refusals).
//!
//! [`leave_one_out`] fits on all questions but one, predicts the held-out one, and
//! pools the predictions: an honest estimate of the precision/recall of "no answer"
//! for a model fitted this way (the shipped model is fitted on all of them, so its
//! in-sample numbers are optimistic).

use serde::Serialize;

use crate::confidence::LogisticModel;

/// Default L2 penalty (on standardised features).
pub const DEFAULT_L2: f64 = 1.0;
const NEWTON_STEPS: usize = 50;

/// One labelled example: feature values in model order, and whether the index can
/// answer the question.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    /// Question id.
    pub id: String,
    /// Feature values (a missing value counts as the feature's mean).
    pub values: Vec<Option<f32>>,
    /// The label.
    pub answerable: bool,
}

/// Precision and recall of the "no answer" verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct NoAnswerStats {
    /// Questions the index cannot answer.
    pub unanswerable: usize,
    /// Questions it can answer.
    pub answerable: usize,
    /// Questions flagged "no answer".
    pub flagged: usize,
    /// Flagged questions that are indeed unanswerable.
    pub correct_flags: usize,
    /// `correct_flags / flagged` (0 when nothing is flagged).
    pub precision: f64,
    /// `correct_flags / unanswerable` (0 when nothing is unanswerable).
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Answerable questions wrongly flagged, over answerable questions.
    pub false_refusal_rate: f64,
}

impl NoAnswerStats {
    /// Stats of predicted verdicts (`true`: answerable) against labels.
    pub fn of(predicted_answerable: &[bool], labels: &[bool]) -> Self {
        let mut s = NoAnswerStats::default();
        for (&p, &l) in predicted_answerable.iter().zip(labels) {
            if l {
                s.answerable += 1;
            } else {
                s.unanswerable += 1;
            }
            if !p {
                s.flagged += 1;
                if !l {
                    s.correct_flags += 1;
                }
            }
        }
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        s.precision = ratio(s.correct_flags, s.flagged);
        s.recall = ratio(s.correct_flags, s.unanswerable);
        s.f1 = if s.precision + s.recall > 0.0 { 2.0 * s.precision * s.recall / (s.precision + s.recall) } else { 0.0 };
        s.false_refusal_rate = ratio(s.flagged - s.correct_flags, s.answerable);
        s
    }
}

/// What the calibration of one mode found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CalibrationReport {
    /// Feature names.
    pub features: Vec<String>,
    /// Leave-one-out estimate of the fitting procedure.
    pub loo: NoAnswerStats,
    /// Leave-one-out area under the ROC curve of the held-out scores.
    pub loo_auc: f64,
    /// The model fitted on every sample.
    pub fitted: LogisticModel,
    /// That model on its own fitting data (optimistic).
    pub fitted_in_sample: NoAnswerStats,
}

/// Mean and population standard deviation of each column (missing values skipped;
/// scale 1 for a constant or empty column).
fn standardisation(samples: &[&Sample], n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut mean = vec![0.0; n];
    let mut scale = vec![1.0; n];
    for j in 0..n {
        let xs: Vec<f64> = samples.iter().filter_map(|s| s.values.get(j).copied().flatten()).map(f64::from).collect();
        if xs.is_empty() {
            continue;
        }
        let m = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / xs.len() as f64;
        mean[j] = m;
        scale[j] = if var.sqrt() > 1e-9 { var.sqrt() } else { 1.0 };
    }
    (mean, scale)
}

/// Solve `a x = b` (small dense system) by Gaussian elimination with partial pivoting.
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        for row in col + 1..n {
            let f = a[row][col] / a[col][col];
            let pivot_row = a[col].clone();
            for (x, p) in a[row][col..n].iter_mut().zip(&pivot_row[col..n]) {
                *x -= f * p;
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let s: f64 = (row + 1..n).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row][row];
    }
    Some(x)
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// L2-regularised logistic regression on standardised rows `z` (no intercept column);
/// returns `(bias, weights)`.
fn logistic(z: &[Vec<f64>], y: &[bool], l2: f64) -> (f64, Vec<f64>) {
    let n = z.first().map_or(0, Vec::len);
    let mut w = vec![0.0; n + 1]; // w[0] = bias
    let positives = y.iter().filter(|&&b| b).count() as f64;
    if !y.is_empty() && positives > 0.0 && positives < y.len() as f64 {
        let p = positives / y.len() as f64;
        w[0] = (p / (1.0 - p)).ln();
    }
    for _ in 0..NEWTON_STEPS {
        let mut grad = vec![0.0; n + 1];
        let mut hess = vec![vec![0.0; n + 1]; n + 1];
        for (row, &label) in z.iter().zip(y) {
            let x: Vec<f64> = std::iter::once(1.0).chain(row.iter().copied()).collect();
            let p = sigmoid(x.iter().zip(&w).map(|(a, b)| a * b).sum());
            let t = if label { 1.0 } else { 0.0 };
            for i in 0..=n {
                grad[i] += (p - t) * x[i];
                for j in 0..=n {
                    hess[i][j] += p * (1.0 - p) * x[i] * x[j];
                }
            }
        }
        for i in 1..=n {
            grad[i] += l2 * w[i];
            hess[i][i] += l2;
        }
        hess[0][0] += 1e-9;
        let Some(step) = solve(hess, grad) else { break };
        let mut change = 0.0f64;
        for (wi, si) in w.iter_mut().zip(&step) {
            *wi -= si;
            change = change.max(si.abs());
        }
        if change < 1e-10 {
            break;
        }
    }
    (w[0], w[1..].to_vec())
}

/// The threshold maximising the F1 of "no answer" (`score < threshold`); ties go to
/// the lowest such threshold. Candidates are midpoints between consecutive distinct
/// scores (and just above the largest).
pub fn choose_threshold(scores: &[f32], answerable: &[bool]) -> f32 {
    let mut sorted: Vec<f32> = scores.to_vec();
    sorted.sort_by(f32::total_cmp);
    sorted.dedup();
    let mut candidates: Vec<f32> = sorted.windows(2).map(|w| (w[0] + w[1]) / 2.0).collect();
    if let Some(&last) = sorted.last() {
        candidates.push((last + 1.0) / 2.0);
    }
    let mut best = (f64::NEG_INFINITY, 0.5f32);
    for t in candidates {
        let predicted: Vec<bool> = scores.iter().map(|&s| s >= t).collect();
        let f1 = NoAnswerStats::of(&predicted, answerable).f1;
        if f1 > best.0 + 1e-12 {
            best = (f1, t);
        }
    }
    best.1
}

/// Fit the full procedure (standardise, logistic regression, threshold) on `samples`.
pub fn fit(samples: &[Sample], features: &[&str], l2: f64) -> LogisticModel {
    let refs: Vec<&Sample> = samples.iter().collect();
    fit_refs(&refs, features, l2)
}

fn fit_refs(samples: &[&Sample], features: &[&str], l2: f64) -> LogisticModel {
    let n = features.len();
    let (mean, scale) = standardisation(samples, n);
    let z: Vec<Vec<f64>> = samples
        .iter()
        .map(|s| {
            (0..n)
                .map(|j| s.values.get(j).copied().flatten().map_or(0.0, |x| (f64::from(x) - mean[j]) / scale[j]))
                .collect()
        })
        .collect();
    let y: Vec<bool> = samples.iter().map(|s| s.answerable).collect();
    let (bias, weights) = logistic(&z, &y, l2);
    let mut model = LogisticModel {
        features: features.iter().map(|f| f.to_string()).collect(),
        mean: mean.iter().map(|&m| m as f32).collect(),
        scale: scale.iter().map(|&s| s as f32).collect(),
        weights: weights.iter().map(|&w| w as f32).collect(),
        bias: bias as f32,
        threshold: 0.5,
    };
    let scores: Vec<f32> = samples.iter().map(|s| model.score_values(&s.values)).collect();
    model.threshold = choose_threshold(&scores, &y);
    model
}

/// The verdicts of `model` on `samples` (`true`: answerable).
pub fn predict(model: &LogisticModel, samples: &[Sample]) -> Vec<bool> {
    samples.iter().map(|s| model.score_values(&s.values) >= model.threshold).collect()
}

/// Area under the ROC curve: the probability that a random answerable sample scores
/// above a random unanswerable one (ties count half). 0.5 when a class is empty.
pub fn auc(scores: &[f32], answerable: &[bool]) -> f64 {
    let pos: Vec<f32> = scores.iter().zip(answerable).filter(|(_, &a)| a).map(|(&s, _)| s).collect();
    let neg: Vec<f32> = scores.iter().zip(answerable).filter(|(_, &a)| !a).map(|(&s, _)| s).collect();
    if pos.is_empty() || neg.is_empty() {
        return 0.5;
    }
    let mut wins = 0.0;
    for p in &pos {
        for n in &neg {
            wins += if p > n {
                1.0
            } else if p == n {
                0.5
            } else {
                0.0
            };
        }
    }
    wins / (pos.len() * neg.len()) as f64
}

/// Leave-one-out: for each sample, fit on the others and predict it. Returns the
/// pooled stats, the held-out scores and verdicts (in sample order).
pub fn leave_one_out(samples: &[Sample], features: &[&str], l2: f64) -> (NoAnswerStats, Vec<f32>, Vec<bool>) {
    let mut scores = Vec::with_capacity(samples.len());
    let mut verdicts = Vec::with_capacity(samples.len());
    for i in 0..samples.len() {
        let train: Vec<&Sample> = samples.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, s)| s).collect();
        let model = fit_refs(&train, features, l2);
        let s = model.score_values(&samples[i].values);
        scores.push(s);
        verdicts.push(s >= model.threshold);
    }
    let labels: Vec<bool> = samples.iter().map(|s| s.answerable).collect();
    (NoAnswerStats::of(&verdicts, &labels), scores, verdicts)
}

/// Fit on everything, cross-validate, and report both.
pub fn calibrate(samples: &[Sample], features: &[&str], l2: f64) -> CalibrationReport {
    let fitted = fit(samples, features, l2);
    let labels: Vec<bool> = samples.iter().map(|s| s.answerable).collect();
    let fitted_in_sample = NoAnswerStats::of(&predict(&fitted, samples), &labels);
    let (loo, scores, _) = leave_one_out(samples, features, l2);
    CalibrationReport {
        features: features.iter().map(|f| f.to_string()).collect(),
        loo,
        loo_auc: auc(&scores, &labels),
        fitted,
        fitted_in_sample,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(id: usize, x: f32, answerable: bool) -> Sample {
        Sample { id: format!("s{id}"), values: vec![Some(x)], answerable }
    }

    #[test]
    fn no_answer_stats_match_hand_counts() {
        // Labels: A A A U U; predicted answerable: T F T F T.
        // Flagged: #2 (A, wrong) and #4 (U, right) → precision 1/2; recall 1/2 (2 U);
        // false refusals 1/3.
        let s = NoAnswerStats::of(&[true, false, true, false, true], &[true, true, true, false, false]);
        assert_eq!((s.flagged, s.correct_flags, s.unanswerable, s.answerable), (2, 1, 2, 3));
        assert!((s.precision - 0.5).abs() < 1e-12 && (s.recall - 0.5).abs() < 1e-12);
        assert!((s.f1 - 0.5).abs() < 1e-12);
        assert!((s.false_refusal_rate - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(NoAnswerStats::of(&[true], &[false]).precision, 0.0);
    }

    #[test]
    fn separable_data_is_separated_and_cross_validates() {
        // Answerable at x ≥ 0.6, unanswerable at x ≤ 0.3: a monotone model must get
        // every held-out point right.
        let mut samples = Vec::new();
        for i in 0..12 {
            samples.push(sample(i, 0.6 + 0.03 * i as f32, true));
        }
        for i in 0..5 {
            samples.push(sample(100 + i, 0.1 + 0.05 * i as f32, false));
        }
        let report = calibrate(&samples, &["dense_top"], DEFAULT_L2);
        assert!(report.fitted.weights[0] > 0.0, "higher cosine, more answerable");
        assert_eq!(report.fitted_in_sample.f1, 1.0);
        assert_eq!(report.loo.precision, 1.0);
        assert_eq!(report.loo.recall, 1.0);
        assert_eq!(report.loo_auc, 1.0);
    }

    #[test]
    fn uninformative_feature_gets_no_weight_to_speak_of() {
        // The same x for both classes: the weight must stay ~0.
        let samples: Vec<Sample> = (0..20).map(|i| sample(i, if i % 2 == 0 { 0.4 } else { 0.6 }, i % 4 < 2)).collect();
        let m = fit(&samples, &["known"], DEFAULT_L2);
        assert!(m.weights[0].abs() < 1e-3, "{}", m.weights[0]);
    }

    #[test]
    fn threshold_and_auc_match_hand_computation() {
        // Scores 0.1 (U), 0.2 (U), 0.3 (A), 0.9 (A): cutting at 0.25 flags both U only.
        let scores = [0.1, 0.2, 0.3, 0.9];
        let labels = [false, false, true, true];
        assert!((choose_threshold(&scores, &labels) - 0.25).abs() < 1e-6);
        assert_eq!(auc(&scores, &labels), 1.0);
        // One inversion out of 4 pairs: AUC = 3/4.
        assert_eq!(auc(&[0.1, 0.5, 0.3, 0.9], &labels), 0.75);
        let x = solve(vec![vec![2.0, 1.0], vec![1.0, 3.0]], vec![3.0, 5.0]).expect("solvable");
        // 2a + b = 3, a + 3b = 5 → a = 0.8, b = 1.4.
        assert!((x[0] - 0.8).abs() < 1e-12 && (x[1] - 1.4).abs() < 1e-12);
    }
}
