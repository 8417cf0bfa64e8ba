//! The extractive generator: the offline default, an answer made of the sources' own
//! sentences.
//!
//! It never writes a word the sources do not contain, so it cannot invent an answer;
//! it needs no model and no network, answers in microseconds, and is the baseline an
//! LLM generator has to beat. How an answer is made:
//!
//! 1. **Refuse early.** When the retrieval confidence says the sources cannot answer
//!    ([`AnswerRequest::answerable`] is false), or there are no usable sources, the
//!    bot's fallback text is streamed and the answer ends with
//!    [`FinishReason::NoAnswer`].
//! 2. **Units.** The text of the top [`ExtractiveConfig::max_sources`] sources is cut
//!    into sentences, list blocks, list items and table rows (see `text.rs`: the
//!    splitter knows abbreviations, decimals, versions and URLs, joins hard-wrapped
//!    lines, skips code and keeps questions, lead-ins and headings as context).
//! 3. **Relevance.** Each unit gets the IDF-weighted share of the question's content
//!    terms it contains (IDF over the units of this request, earlier user turns at a
//!    lower weight, heading/lead-in/table-header words at half credit), times a prior
//!    that prefers the better-ranked source. If even the best unit is below
//!    [`ExtractiveConfig::min_relevance`], the sources are judged not to answer and
//!    the fallback is returned.
//! 4. **Selection.** The best unit, then up to [`ExtractiveConfig::max_sentences`] in
//!    all whose score is at least [`ExtractiveConfig::follow_ratio`] of the best,
//!    skipping near-duplicates (term Jaccard ≥ [`ExtractiveConfig::duplicate_jaccard`]).
//!    A chosen sentence that starts with a pronoun ("It is counted in calendar days…")
//!    brings the sentence before it, since alone it does not say what "it" is.
//!    Sentences are grouped by source (the best one's source first) and kept in their
//!    order within it. Section headings are *not* written into the answer: they are
//!    not sentences, and the cited source shows its title and heading next to the
//!    answer; they only help choose.
//! 5. **Streaming.** Each unit verbatim, its `[n]` marker before its final period
//!    (`… monthly plans [1].`), one word (with its following whitespace) per delta,
//!    the marker its own delta. [`AnswerRequest::max_tokens`] caps the words; hitting
//!    it ends with [`FinishReason::Length`].
//!
//! The stream does nothing until polled and holds no task: dropping it stops
//! everything ([`ExtractiveGenerator::active_streams`] counts the live ones). It
//! does not sleep between words unless [`ExtractiveConfig::pacing`] asks it to (then
//! it needs a tokio runtime with the time driver).
//!
//! ```
//! use docent_answer::extractive::ExtractiveGenerator;
//! use docent_answer::{AnswerEvent, AnswerRequest, Generator, Source};
//! use futures::StreamExt;
//!
//! let generator = ExtractiveGenerator::default();
//! let request = AnswerRequest {
//!     question: "How long is the refund window?".into(),
//!     history: vec![],
//!     sources: vec![Source {
//!         index: 1,
//!         title: "Refunds".into(),
//!         url: "https://help.example/refunds#window".into(),
//!         heading_path: vec!["Refunds".into(), "Refund window".into()],
//!         text: "The refund window is 30 days. Contact us by email.".into(),
//!         score: 0.8,
//!     }],
//!     answerable: true,
//!     confidence: 0.9,
//!     system_prompt: None,
//!     fallback: "Sorry, I don't know.".into(),
//!     max_tokens: 200,
//! };
//! let events = futures::executor::block_on(generator.generate(request).collect::<Vec<_>>());
//! let text: String = events
//!     .iter()
//!     .filter_map(|e| match e {
//!         Ok(AnswerEvent::Delta(d)) => Some(d.as_str()),
//!         _ => None,
//!     })
//!     .collect();
//! assert_eq!(text, "The refund window is 30 days [1].");
//! ```

mod score;
mod text;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::{AnswerError, AnswerEvent, AnswerRequest, AnswerStream, FinishReason, Generator, Role, Usage};
use score::{idf, jaccard, relevance, term_set, QueryTerms};
use text::{units, word_count, Unit, UnitKind, UnitLimits};

/// Default [`ExtractiveConfig::min_relevance`], measured on `corpus/questions.jsonl`
/// (see `docs/BENCHMARKS.md`, "Answers (extractive generator)"): up to 0.1 it costs
/// no answerable question and the retrieval confidence already refuses what it would;
/// from 0.3 it refuses more unanswerable questions but many more answerable ones.
pub const DEFAULT_MIN_RELEVANCE: f32 = 0.1;

/// How much the prior of each lower-ranked source drops: source at rank r (1-based)
/// has prior `1 / (1 + RANK_DECAY · (r − 1))`.
pub const RANK_DECAY: f32 = 0.25;

/// Sentence openings that refer back to the sentence before.
const ANAPHORA: &[&str] =
    &["It", "Its", "This", "That", "These", "Those", "They", "Their", "Them", "Both", "Such", "However", "Otherwise"];

/// Settings of the extractive generator. `Default` is the measured configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExtractiveConfig {
    /// Most units (sentences, list blocks, rows) in an answer: short answers read
    /// better, and the sources are shown next to them anyway.
    pub max_sentences: usize,
    /// Below this relevance of the best unit (share of the question's IDF mass it
    /// contains, `[0, 1]`), the sources are judged not to answer: fallback,
    /// `no_answer`. Adds to the retrieval confidence, which decides first.
    pub min_relevance: f32,
    /// Units after the first must score at least this share of the best one.
    pub follow_ratio: f32,
    /// Sources considered, best first (the retrieval's order).
    pub max_sources: usize,
    /// Units longer than this many words are not quoted (a run-on text without
    /// punctuation is not an answer sentence).
    pub max_unit_words: usize,
    /// A list with its lead-in is quoted whole up to this many words; longer lists
    /// are quoted item by item.
    pub list_block_words: usize,
    /// Two units whose term sets overlap at least this much (Jaccard) are duplicates;
    /// only the better one is used.
    pub duplicate_jaccard: f32,
    /// Pause between deltas (none by default: the server flushes each delta as it
    /// comes; a pause only imitates typing).
    pub pacing: Option<Duration>,
}

impl Default for ExtractiveConfig {
    fn default() -> Self {
        ExtractiveConfig {
            max_sentences: 3,
            min_relevance: DEFAULT_MIN_RELEVANCE,
            follow_ratio: 0.6,
            max_sources: 5,
            max_unit_words: 120,
            list_block_words: 90,
            duplicate_jaccard: 0.7,
            pacing: None,
        }
    }
}

/// A setting of [`ExtractiveConfig`] that cannot work.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// A count that must be at least one.
    #[error("extractive generator: `{field}` must be at least 1")]
    Zero {
        /// The setting.
        field: &'static str,
    },
    /// A share outside `[0, 1]` (or not a number).
    #[error("extractive generator: `{field}` must be between 0 and 1, got {value}")]
    OutOfRange {
        /// The setting.
        field: &'static str,
        /// Its value.
        value: f32,
    },
}

impl ExtractiveConfig {
    /// Check every setting; the generator is only built from a valid config.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (field, v) in [
            ("max_sentences", self.max_sentences),
            ("max_sources", self.max_sources),
            ("max_unit_words", self.max_unit_words),
        ] {
            if v == 0 {
                return Err(ConfigError::Zero { field });
            }
        }
        for (field, value) in [
            ("min_relevance", self.min_relevance),
            ("follow_ratio", self.follow_ratio),
            ("duplicate_jaccard", self.duplicate_jaccard),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(ConfigError::OutOfRange { field, value });
            }
        }
        Ok(())
    }
}

/// Why an answer is the fallback.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum Refusal {
    /// The retrieval confidence said the sources cannot answer.
    NotAnswerable,
    /// No source had any text to quote.
    NoSources,
    /// The best unit's relevance was below the threshold.
    NotRelevant {
        /// The best relevance found.
        best: f32,
        /// [`ExtractiveConfig::min_relevance`].
        threshold: f32,
    },
}

/// One quoted unit of a planned answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedSentence {
    /// The cited source's number ([`crate::Source::index`]).
    pub source: usize,
    /// The text quoted, verbatim from the source (list markers and prefixes trimmed).
    pub text: String,
    /// Its relevance to the question, `[0, 1]`.
    pub relevance: f32,
    /// A multi-line unit (a list or a table row): set apart by blank lines.
    pub block: bool,
}

/// What an answer will say, before it is streamed: the quoted units in order, or why
/// the fallback is returned. Exposed for tests, evaluation and logs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnswerPlan {
    /// The units, in answer order (empty when refused).
    pub sentences: Vec<PlannedSentence>,
    /// Relevance of the best unit (0 when there was none).
    pub best_relevance: f32,
    /// Set when the answer is the fallback.
    pub refusal: Option<Refusal>,
}

impl AnswerPlan {
    fn refused(refusal: Refusal, best_relevance: f32) -> Self {
        AnswerPlan { sentences: Vec::new(), best_relevance, refusal: Some(refusal) }
    }
}

/// The extractive generator (see the module documentation). Cheap to clone and to
/// share: one per process serves every request.
#[derive(Debug, Clone)]
pub struct ExtractiveGenerator {
    config: Arc<ExtractiveConfig>,
    /// One clone per live stream.
    alive: Arc<()>,
}

impl Default for ExtractiveGenerator {
    fn default() -> Self {
        ExtractiveGenerator { config: Arc::new(ExtractiveConfig::default()), alive: Arc::new(()) }
    }
}

/// A candidate unit with its terms and scores.
struct Candidate {
    rank: usize,
    source: usize,
    unit: Unit,
    own: HashSet<String>,
    context: HashSet<String>,
    relevance: f32,
    score: f32,
}

impl ExtractiveGenerator {
    /// A generator with `config`, checked.
    pub fn new(config: ExtractiveConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(ExtractiveGenerator { config: Arc::new(config), alive: Arc::new(()) })
    }

    /// The settings in use.
    pub fn config(&self) -> &ExtractiveConfig {
        &self.config
    }

    /// Streams of this generator (and its clones) not yet dropped: a gauge for
    /// metrics, and the proof that dropping a stream ends its work.
    pub fn active_streams(&self) -> usize {
        Arc::strong_count(&self.alive).saturating_sub(1)
    }

    /// Decide what the answer to `request` says (no streaming, no side effects).
    pub fn plan(&self, request: &AnswerRequest) -> AnswerPlan {
        plan(&self.config, request)
    }
}

fn plan(config: &ExtractiveConfig, request: &AnswerRequest) -> AnswerPlan {
    if !request.answerable {
        return AnswerPlan::refused(Refusal::NotAnswerable, 0.0);
    }
    let limits = UnitLimits { max_unit_words: config.max_unit_words, list_block_words: config.list_block_words };
    let mut candidates: Vec<Candidate> = Vec::new();
    for (rank, source) in request.sources.iter().take(config.max_sources).enumerate() {
        let headings = source.heading_path.join(" ");
        for unit in units(&source.text, limits) {
            let own = term_set(&unit.own);
            let mut context = term_set(&unit.context);
            context.extend(term_set(&headings));
            candidates.push(Candidate { rank, source: source.index, unit, own, context, relevance: 0.0, score: 0.0 });
        }
    }
    if candidates.is_empty() {
        return AnswerPlan::refused(Refusal::NoSources, 0.0);
    }
    let history: Vec<&str> =
        request.history.iter().filter(|t| t.role == Role::User).map(|t| t.content.as_str()).collect();
    let query = QueryTerms::new(&request.question, &history);
    let n = candidates.len();
    // A question word that no unit contains cannot tell units apart, and at the
    // highest IDF it would swamp the share of the words that do match ("How long do I
    // have to ask for a refund?" scored 0.099 on the refund-window sentence). Whether
    // the sources can answer at all is the retrieval confidence's call.
    let weighted: Vec<(String, f32)> = query
        .iter()
        .filter_map(|(t, w)| {
            let df = candidates.iter().filter(|c| c.own.contains(t) || c.context.contains(t)).count();
            (df > 0).then(|| (t.to_string(), w * idf(n, df)))
        })
        .collect();
    for c in &mut candidates {
        c.relevance = if query.is_empty() { 0.0 } else { relevance(&weighted, &c.own, &c.context) };
        c.score = c.relevance / (1.0 + RANK_DECAY * c.rank as f32);
    }
    // Best first; ties go to the better source, then to the earlier unit.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (&candidates[a], &candidates[b]);
        y.score.total_cmp(&x.score).then(x.rank.cmp(&y.rank)).then(x.unit.position.cmp(&y.unit.position))
    });
    let best = &candidates[order[0]];
    let best_relevance = candidates.iter().map(|c| c.relevance).fold(0.0f32, f32::max);
    if best_relevance < config.min_relevance {
        return AnswerPlan::refused(
            Refusal::NotRelevant { best: best_relevance, threshold: config.min_relevance },
            best_relevance,
        );
    }
    let best_score = best.score;
    let mut chosen: Vec<usize> = vec![order[0]];
    for &i in &order[1..] {
        if chosen.len() >= config.max_sentences {
            break;
        }
        let c = &candidates[i];
        if c.score < best_score * config.follow_ratio || c.relevance < config.min_relevance {
            break;
        }
        let duplicate = chosen.iter().any(|&j| {
            let d = &candidates[j];
            d.unit.text == c.unit.text || jaccard(&d.own, &c.own) >= config.duplicate_jaccard
        });
        if !duplicate {
            chosen.push(i);
        }
    }
    // A sentence opening with a pronoun brings the one before it.
    let mut with_antecedents = chosen.clone();
    for &i in &chosen {
        let c = &candidates[i];
        let first = c.unit.text.split_whitespace().next().unwrap_or("");
        if c.unit.kind != UnitKind::Sentence || !ANAPHORA.contains(&first) || c.unit.position == 0 {
            continue;
        }
        let previous = candidates.iter().position(|p| {
            p.rank == c.rank && p.unit.position + 1 == c.unit.position && p.unit.paragraph == c.unit.paragraph
        });
        if let Some(p) = previous {
            if !with_antecedents.contains(&p) {
                with_antecedents.push(p);
            }
        }
    }
    // Group by source in order of first choice, then by position in the source.
    let mut group_of: HashMap<usize, usize> = HashMap::new();
    for &i in &chosen {
        let next = group_of.len();
        group_of.entry(candidates[i].rank).or_insert(next);
    }
    with_antecedents.sort_by_key(|&i| {
        let c = &candidates[i];
        (group_of.get(&c.rank).copied().unwrap_or(usize::MAX), c.unit.position)
    });
    let sentences = with_antecedents
        .into_iter()
        .map(|i| {
            let c = &candidates[i];
            PlannedSentence {
                source: c.source,
                text: c.unit.text.clone(),
                relevance: c.relevance,
                block: c.unit.kind.is_block(),
            }
        })
        .collect();
    AnswerPlan { sentences, best_relevance, refusal: None }
}

/// Split `text` into deltas of one word plus its following whitespace (leading
/// whitespace goes with the first word).
fn word_deltas(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut in_space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            in_space = true;
        } else if in_space && !cur.trim().is_empty() {
            out.push(std::mem::take(&mut cur));
            in_space = false;
        } else {
            in_space = false;
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The deltas of a planned answer under a word cap, and whether the cap was hit.
fn render(plan: &AnswerPlan, max_words: usize) -> (Vec<String>, usize, bool) {
    let mut deltas = Vec::new();
    let mut words = 0usize;
    for (i, s) in plan.sentences.iter().enumerate() {
        // The marker goes before a final period ("… plans [1]."), else after the unit.
        let (body, end) = match s.text.strip_suffix('.') {
            Some(body) if !body.ends_with('.') => (body, "."),
            _ => (s.text.as_str(), ""),
        };
        let separator = match plan.sentences.get(i + 1) {
            None => "",
            Some(next) if next.block || s.block => "\n\n",
            Some(_) => " ",
        };
        let body_words = word_deltas(body);
        let mut emitted = 0usize;
        let mut truncated = false;
        for (w, mut delta) in body_words.into_iter().enumerate() {
            if words >= max_words {
                truncated = true;
                break;
            }
            if w + 1 == word_count(body) && !delta.ends_with(char::is_whitespace) {
                delta.push(' ');
            }
            deltas.push(delta);
            words += 1;
            emitted += 1;
        }
        if truncated {
            if emitted > 0 {
                deltas.push(format!("[{}]", s.source));
            }
            return (deltas, words, true);
        }
        deltas.push(format!("[{}]{end}{separator}", s.source));
    }
    (deltas, words, false)
}

/// What a live stream still has to send.
struct Emitting {
    deltas: std::vec::IntoIter<String>,
    done: Option<AnswerEvent>,
    pacing: Option<Duration>,
    first: bool,
    _alive: Arc<()>,
}

enum State {
    Start { config: Arc<ExtractiveConfig>, request: Box<AnswerRequest>, span: tracing::Span, alive: Arc<()> },
    Emitting(Emitting),
    Finished,
}

fn start(
    config: &ExtractiveConfig,
    request: &AnswerRequest,
    span: &tracing::Span,
    alive: Arc<()>,
) -> Result<Emitting, AnswerError> {
    let _entered = span.enter();
    if request.question.trim().is_empty() {
        return Err(AnswerError::Invalid("the question is empty".into()));
    }
    let plan = plan(config, request);
    let (deltas, words, finish) = match plan.refusal {
        Some(refusal) => {
            tracing::debug!(?refusal, best_relevance = plan.best_relevance, "extractive: fallback");
            let deltas = word_deltas(&request.fallback);
            let words = deltas.len();
            (deltas, words, FinishReason::NoAnswer)
        }
        None => {
            let (deltas, words, capped) = render(&plan, request.max_tokens);
            tracing::debug!(
                sentences = plan.sentences.len(),
                best_relevance = plan.best_relevance,
                words,
                capped,
                "extractive: answer"
            );
            (deltas, words, if capped { FinishReason::Length } else { FinishReason::Stop })
        }
    };
    let usage = Usage { prompt_tokens: 0, completion_tokens: u32::try_from(words).unwrap_or(u32::MAX) };
    Ok(Emitting {
        deltas: deltas.into_iter(),
        done: Some(AnswerEvent::Done { finish_reason: finish, usage }),
        pacing: config.pacing.filter(|d| !d.is_zero()),
        first: true,
        _alive: alive,
    })
}

impl Generator for ExtractiveGenerator {
    fn name(&self) -> &'static str {
        "extractive"
    }

    fn generate(&self, request: AnswerRequest) -> AnswerStream {
        let span = tracing::info_span!(
            "generate",
            generator = "extractive",
            sources = request.sources.len(),
            answerable = request.answerable
        );
        let state = State::Start {
            config: Arc::clone(&self.config),
            request: Box::new(request),
            span,
            alive: Arc::clone(&self.alive),
        };
        futures::stream::unfold(state, |state| async move {
            match state {
                State::Start { config, request, span, alive } => match start(&config, &request, &span, alive) {
                    Err(e) => Some((Err(e), State::Finished)),
                    Ok(emitting) => next(emitting).await,
                },
                State::Emitting(emitting) => next(emitting).await,
                State::Finished => None,
            }
        })
        .boxed()
    }
}

async fn next(mut e: Emitting) -> Option<(Result<AnswerEvent, AnswerError>, State)> {
    if let Some(delta) = e.deltas.next() {
        if let (Some(pause), false) = (e.pacing, e.first) {
            tokio::time::sleep(pause).await;
        }
        e.first = false;
        return Some((Ok(AnswerEvent::Delta(delta)), State::Emitting(e)));
    }
    e.done.take().map(|done| (Ok(done), State::Finished))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_deltas_keep_their_following_whitespace() {
        assert_eq!(word_deltas("a b  c\nd"), vec!["a ", "b  ", "c\n", "d"]);
        assert_eq!(word_deltas("  lead"), vec!["  lead"]);
        assert!(word_deltas("").is_empty());
    }

    #[test]
    fn bad_settings_are_refused() {
        let c = ExtractiveConfig { max_sentences: 0, ..Default::default() };
        assert_eq!(ExtractiveGenerator::new(c).err(), Some(ConfigError::Zero { field: "max_sentences" }));
        let c = ExtractiveConfig { min_relevance: f32::NAN, ..Default::default() };
        assert!(matches!(ExtractiveGenerator::new(c), Err(ConfigError::OutOfRange { field: "min_relevance", .. })));
        assert!(ExtractiveGenerator::new(ExtractiveConfig::default()).is_ok());
    }
}
