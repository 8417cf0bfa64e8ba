//! What a content team reads to find its gaps: the questions a bot could not answer,
//! grouped by meaning, and a summary of a bot's traffic (turns by outcome, rates,
//! latency percentiles) for a time range. Served by `/v1/analytics/*` and printed by
//! `docent analytics`; both call [`unanswered`] and [`summary`].
//!
//! Grouping embeds each distinct question with the bots' query embedder (its LRU
//! cache usually already holds first-turn questions) and clusters greedily: the
//! most asked questions become group leaders, and every other question joins the
//! leader it is most similar to when the cosine similarity reaches the threshold.
//! Exact repeats (after [`QueryEmbedder::normalize`]) always share a group.
//!
//! Useful for: reports over the stored turns, on demand.
//! Not for: live counters (that is [`crate::metrics`]) or per-visitor tracking.

use std::collections::HashMap;
use std::sync::Arc;

use docent_retrieval::QueryEmbedder;
use serde::Serialize;
use utoipa::ToSchema;

use crate::store::{FinishCount, Store, StoreError, TimeRange, TurnTiming, UnansweredTurn};

/// Default similarity at which two questions share a group (cosine of their
/// normalised embeddings). Measured with the default model (all-MiniLM-L6-v2):
/// close paraphrases score 0.84–0.88 ("Is there an Android app?" / "Do you have a
/// mobile app for Android phones?"), a different need on the same topic 0.71 ("Can
/// I pay with bitcoin?" / "… with PayPal?"), unrelated questions below 0.3. Looser
/// paraphrases (0.57–0.72) stay apart at this default: a lower `similarity` groups
/// them, at the price of merging neighbouring needs.
pub const DEFAULT_SIMILARITY: f32 = 0.75;
/// Unanswered turns read per request (the newest ones; the response says when
/// there were more).
pub const MAX_UNANSWERED_SCANNED: usize = 5_000;
/// Turns whose timings feed the percentiles (the newest ones).
pub const MAX_TIMED_TURNS: usize = 100_000;
/// Example phrasings kept per group.
const EXAMPLES_PER_GROUP: usize = 5;
/// Message ids kept per group (to open the conversations).
const MESSAGES_PER_GROUP: usize = 10;

/// Default range: this many days up to now.
pub const DEFAULT_DAYS: i64 = 30;
const DAY_MS: i64 = 86_400_000;

/// A time range that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    /// `from` or `to` is not RFC 3339.
    #[error("`{0}` must be an RFC 3339 time such as 2026-12-01T00:00:00Z")]
    Syntax(&'static str),
    /// `from` is not before `to`.
    #[error("`from` must be before `to`")]
    Empty,
}

impl RangeError {
    /// The error code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            RangeError::Syntax(_) => "invalid_time",
            RangeError::Empty => "invalid_range",
        }
    }

    /// The parameter at fault.
    pub fn param(&self) -> &'static str {
        match self {
            RangeError::Syntax(p) => p,
            RangeError::Empty => "from",
        }
    }
}

/// `[from, to)` from optional RFC 3339 bounds: `to` defaults to `now_ms`, `from` to
/// [`DEFAULT_DAYS`] before `to`.
pub fn time_range(from: Option<&str>, to: Option<&str>, now_ms: i64) -> Result<TimeRange, RangeError> {
    let to_ms = to.map_or(Ok(now_ms), |t| parse_time(t, "to"))?;
    let from_ms = from.map_or(Ok(to_ms - DEFAULT_DAYS * DAY_MS), |f| parse_time(f, "from"))?;
    if from_ms >= to_ms {
        return Err(RangeError::Empty);
    }
    Ok(TimeRange { from_ms, to_ms })
}

fn parse_time(text: &str, param: &'static str) -> Result<i64, RangeError> {
    let t = time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
        .map_err(|_| RangeError::Syntax(param))?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).map_err(|_| RangeError::Syntax(param))
}

/// Analytics failures.
#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    /// Reading the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A question could not be embedded.
    #[error("embedding a question: {0}")]
    Embed(String),
}

/// Similar unanswered questions.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct UnansweredGroup {
    /// The most asked phrasing of the group (the most recent one among equals).
    pub question: String,
    /// Unanswered turns in the group.
    pub count: usize,
    /// Epoch milliseconds of the first and the last time it was asked.
    pub first_seen_ms: i64,
    /// Epoch milliseconds of the last time it was asked.
    pub last_seen_ms: i64,
    /// Other phrasings, most asked first.
    pub examples: Vec<String>,
    /// The newest assistant messages (`msg_…`) of the group.
    pub message_ids: Vec<String>,
}

/// The unanswered questions of a range, grouped.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct UnansweredReport {
    /// Groups, most asked first (then most recent).
    pub groups: Vec<UnansweredGroup>,
    /// Unanswered turns read.
    pub turns: usize,
    /// True when the range held more than [`MAX_UNANSWERED_SCANNED`] (only the
    /// newest were grouped).
    pub truncated: bool,
}

/// Latency percentiles, milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, ToSchema)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
}

/// Finished assistant turns by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Outcomes {
    /// Answered (`stop` or `length`).
    pub answered: u64,
    /// The fallback (`no_answer`).
    pub no_answer: u64,
    /// Handed to a human (`handoff`).
    pub handoff: u64,
    /// The visitor left (`cancelled`).
    pub cancelled: u64,
    /// Failed (`error`).
    pub error: u64,
}

impl Outcomes {
    fn total(self) -> u64 {
        self.answered + self.no_answer + self.handoff + self.cancelled + self.error
    }
}

/// Shares of the finished turns (0–1; 0 when there were none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, ToSchema)]
pub struct Rates {
    /// Answered turns / finished turns ("resolution").
    pub answer_rate: f64,
    /// `no_answer` turns / finished turns.
    pub no_answer_rate: f64,
    /// `handoff` turns / finished turns.
    pub handoff_rate: f64,
}

/// Latencies of the turns that produced an answer or the fallback.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, ToSchema)]
pub struct Latency {
    /// Turns measured.
    pub turns: usize,
    /// Time to the first answer text.
    pub ttft_ms: Percentiles,
    /// The whole turn.
    pub total_ms: Percentiles,
}

/// Ratings of answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct FeedbackCounts {
    /// Thumbs up.
    pub up: u64,
    /// Thumbs down.
    pub down: u64,
}

/// A bot's traffic over a time range.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Summary {
    /// The bot.
    pub bot_id: String,
    /// Epoch milliseconds, included.
    pub from_ms: i64,
    /// Epoch milliseconds, excluded.
    pub to_ms: i64,
    /// Conversations started.
    pub conversations: u64,
    /// Visitor messages.
    pub user_messages: u64,
    /// Assistant messages (finished or not).
    pub assistant_messages: u64,
    /// Finished turns by outcome.
    pub outcomes: Outcomes,
    /// Shares of the outcomes.
    pub rates: Rates,
    /// Thumbs up / down given (the latest rating per message).
    pub feedback: FeedbackCounts,
    /// Leads captured.
    pub leads: u64,
    /// Turn latencies.
    pub latency: Latency,
    /// True when the range held more than [`MAX_TIMED_TURNS`] turns (percentiles
    /// over the newest).
    pub latency_truncated: bool,
}

/// The unanswered questions of `bot_id` in `range`, grouped at `similarity`.
pub async fn unanswered(
    store: &Store,
    embedder: &Arc<QueryEmbedder>,
    bot_id: &str,
    range: TimeRange,
    similarity: f32,
) -> Result<UnansweredReport, AnalyticsError> {
    let (turns, truncated) = store.unanswered_turns(bot_id, range, MAX_UNANSWERED_SCANNED).await?;
    let distinct = distinct_questions(&turns);
    let embedder = Arc::clone(embedder);
    let texts: Vec<String> = distinct.iter().map(|d| d.text.clone()).collect();
    let vectors = tokio::task::spawn_blocking(move || {
        texts
            .iter()
            .map(|t| embedder.embed_query(t).map(|v| v.map(|q| q.vector)).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, String>>()
    })
    .await
    .map_err(|e| AnalyticsError::Embed(e.to_string()))?
    .map_err(AnalyticsError::Embed)?;
    let groups = group(&turns, &distinct, &vectors, similarity);
    Ok(UnansweredReport { groups, turns: turns.len(), truncated })
}

/// The summary of `bot_id` in `range`.
pub async fn summary(store: &Store, bot_id: &str, range: TimeRange) -> Result<Summary, AnalyticsError> {
    let conversations = store.count_conversations(bot_id, range).await?;
    let (user_messages, assistant_messages) = store.count_messages(bot_id, range).await?;
    let outcomes = outcomes(&store.count_finish_reasons(bot_id, range).await?);
    let (timings, latency_truncated) = store.turn_timings(bot_id, range, MAX_TIMED_TURNS).await?;
    let (up, down) = store.count_feedback(bot_id, range).await?;
    let leads = store.count_leads(bot_id, range).await?;
    Ok(Summary {
        bot_id: bot_id.to_string(),
        from_ms: range.from_ms,
        to_ms: range.to_ms,
        conversations,
        user_messages,
        assistant_messages,
        outcomes,
        rates: rates(outcomes),
        feedback: FeedbackCounts { up, down },
        leads,
        latency: latency(&timings),
        latency_truncated,
    })
}

/// One normalised question text and the turns that asked it.
#[derive(Debug, Clone)]
struct Distinct {
    /// The normalised text (what is embedded).
    text: String,
    /// Indexes into the turns, newest first.
    turns: Vec<usize>,
}

/// Exact repeats folded together, most asked first (then newest).
fn distinct_questions(turns: &[UnansweredTurn]) -> Vec<Distinct> {
    let mut by_text: HashMap<String, usize> = HashMap::new();
    let mut out: Vec<Distinct> = Vec::new();
    for (i, t) in turns.iter().enumerate() {
        let text = QueryEmbedder::normalize(&t.question);
        match by_text.get(&text) {
            Some(&d) => out[d].turns.push(i),
            None => {
                by_text.insert(text.clone(), out.len());
                out.push(Distinct { text, turns: vec![i] });
            }
        }
    }
    // Turns come newest first, so the first index of each is its newest turn.
    out.sort_by(|a, b| b.turns.len().cmp(&a.turns.len()).then(a.turns[0].cmp(&b.turns[0])));
    out
}

/// Greedy leader clustering of the distinct questions (already most asked first).
/// A question without a vector (nothing to embed) stays in its own group.
fn group(
    turns: &[UnansweredTurn],
    distinct: &[Distinct],
    vectors: &[Option<Arc<[f32]>>],
    similarity: f32,
) -> Vec<UnansweredGroup> {
    let mut leaders: Vec<usize> = Vec::new();
    let mut members: Vec<Vec<usize>> = Vec::new();
    for (d, vector) in vectors.iter().enumerate().take(distinct.len()) {
        let best = vector.as_ref().and_then(|v| {
            leaders
                .iter()
                .enumerate()
                .filter_map(|(g, &l)| vectors[l].as_ref().map(|lv| (g, dot(v, lv))))
                .filter(|&(_, s)| s >= similarity)
                .max_by(|a, b| a.1.total_cmp(&b.1))
        });
        match best {
            Some((g, _)) => members[g].push(d),
            None => {
                leaders.push(d);
                members.push(vec![d]);
            }
        }
    }
    let mut groups: Vec<UnansweredGroup> = members
        .iter()
        .map(|m| {
            let mut all: Vec<usize> = m.iter().flat_map(|&d| distinct[d].turns.iter().copied()).collect();
            all.sort_unstable();
            let newest = all.first().map_or(0, |&i| turns[i].created_at);
            let oldest = all.last().map_or(0, |&i| turns[i].created_at);
            let phrasing = |d: usize| turns[distinct[d].turns[0]].question.trim().to_string();
            UnansweredGroup {
                question: phrasing(m[0]),
                count: all.len(),
                first_seen_ms: oldest,
                last_seen_ms: newest,
                examples: m.iter().skip(1).take(EXAMPLES_PER_GROUP).map(|&d| phrasing(d)).collect(),
                message_ids: all.iter().take(MESSAGES_PER_GROUP).map(|&i| turns[i].message_id.clone()).collect(),
            }
        })
        .collect();
    groups.sort_by(|a, b| b.count.cmp(&a.count).then(b.last_seen_ms.cmp(&a.last_seen_ms)));
    groups
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn outcomes(counts: &[FinishCount]) -> Outcomes {
    let mut o = Outcomes::default();
    for c in counts {
        match c.finish_reason.as_str() {
            "stop" | "length" => o.answered += c.count,
            "no_answer" => o.no_answer += c.count,
            "handoff" => o.handoff += c.count,
            "cancelled" => o.cancelled += c.count,
            "error" => o.error += c.count,
            _ => {}
        }
    }
    o
}

#[allow(clippy::cast_precision_loss)] // counts far below 2^52
fn rates(o: Outcomes) -> Rates {
    let total = o.total();
    if total == 0 {
        return Rates::default();
    }
    let share = |n: u64| n as f64 / total as f64;
    Rates { answer_rate: share(o.answered), no_answer_rate: share(o.no_answer), handoff_rate: share(o.handoff) }
}

/// Percentiles over the turns that answered or fell back (cancelled, failed and
/// handed-off turns say nothing about answer speed).
fn latency(timings: &[TurnTiming]) -> Latency {
    let measured: Vec<&TurnTiming> =
        timings.iter().filter(|t| matches!(t.finish_reason.as_str(), "stop" | "length" | "no_answer")).collect();
    let field = |name: &str| -> Vec<f64> {
        let mut v: Vec<f64> =
            measured.iter().filter_map(|t| t.timings.get(name).and_then(serde_json::Value::as_f64)).collect();
        v.sort_by(f64::total_cmp);
        v
    };
    Latency {
        turns: measured.len(),
        ttft_ms: percentiles(&field("ttft_ms")),
        total_ms: percentiles(&field("total_ms")),
    }
}

/// Nearest-rank percentiles of sorted values (all 0 for none).
fn percentiles(sorted: &[f64]) -> Percentiles {
    let at = |p: f64| -> f64 {
        if sorted.is_empty() {
            return 0.0;
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
        let rank = (p * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    };
    Percentiles { p50: at(0.50), p95: at(0.95), p99: at(0.99) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(i: usize, q: &str) -> UnansweredTurn {
        // Newest first: a higher index is older.
        UnansweredTurn {
            message_id: format!("msg_{i}"),
            conversation_id: format!("conv_{i}"),
            question: q.to_string(),
            created_at: 1_000_000 - i64::try_from(i).unwrap_or(0),
        }
    }

    fn unit(v: &[f32]) -> Option<Arc<[f32]>> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        Some(v.iter().map(|x| x / n).collect::<Vec<_>>().into())
    }

    #[test]
    fn ranges_default_to_thirty_days_and_reject_garbage() {
        let now = 1_800_000_000_000;
        assert_eq!(time_range(None, None, now), Ok(TimeRange { from_ms: now - 30 * DAY_MS, to_ms: now }));
        let r = time_range(Some("2026-12-01T00:00:00Z"), Some("2026-12-02T00:00:00+01:00"), now);
        assert_eq!(r, Ok(TimeRange { from_ms: 1_796_083_200_000, to_ms: 1_796_166_000_000 }));
        assert_eq!(time_range(Some("yesterday"), None, now), Err(RangeError::Syntax("from")));
        assert_eq!(time_range(None, Some("2026-13-01T00:00:00Z"), now), Err(RangeError::Syntax("to")));
        assert_eq!(time_range(Some("2026-12-02T00:00:00Z"), Some("2026-12-01T00:00:00Z"), now), Err(RangeError::Empty));
    }

    #[test]
    fn exact_repeats_fold_before_embedding_and_the_most_asked_leads() {
        let turns =
            vec![turn(0, "Bitcoin?"), turn(1, "Is there an Android app"), turn(2, "  bitcoin? "), turn(3, "BITCOIN?")];
        let d = distinct_questions(&turns);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].text, "bitcoin?");
        assert_eq!(d[0].turns, vec![0, 2, 3]);
    }

    #[test]
    fn similar_questions_join_the_nearest_leader_and_others_stay_apart() {
        let turns = vec![
            turn(0, "pay with bitcoin"),
            turn(1, "pay in crypto"),
            turn(2, "android app"),
            turn(3, "pay with bitcoin"),
        ];
        let d = distinct_questions(&turns);
        // d: "pay with bitcoin" (2 turns), "pay in crypto", "android app".
        let vectors = vec![unit(&[1.0, 0.1, 0.0]), unit(&[0.9, 0.3, 0.0]), unit(&[0.0, 0.1, 1.0])];
        let groups = group(&turns, &d, &vectors, 0.9);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].question, "pay with bitcoin");
        assert_eq!(groups[0].count, 3);
        assert_eq!(groups[0].examples, vec!["pay in crypto".to_string()]);
        assert_eq!(groups[0].last_seen_ms, 1_000_000);
        assert_eq!(groups[0].first_seen_ms, 1_000_000 - 3);
        assert_eq!(groups[0].message_ids, vec!["msg_0", "msg_1", "msg_3"]);
        assert_eq!(groups[1].question, "android app");
        // A stricter threshold separates the paraphrase.
        assert_eq!(group(&turns, &d, &vectors, 0.999).len(), 3);
    }

    #[test]
    fn rates_and_percentiles_count_what_they_say() {
        let counts = [
            FinishCount { finish_reason: "stop".into(), count: 6 },
            FinishCount { finish_reason: "length".into(), count: 1 },
            FinishCount { finish_reason: "no_answer".into(), count: 2 },
            FinishCount { finish_reason: "handoff".into(), count: 1 },
        ];
        let o = outcomes(&counts);
        assert_eq!(o, Outcomes { answered: 7, no_answer: 2, handoff: 1, cancelled: 0, error: 0 });
        let r = rates(o);
        assert!((r.answer_rate - 0.7).abs() < 1e-9 && (r.no_answer_rate - 0.2).abs() < 1e-9);
        assert_eq!(rates(Outcomes::default()), Rates::default());
        let sorted: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentiles(&sorted), Percentiles { p50: 50.0, p95: 95.0, p99: 99.0 });
        assert_eq!(percentiles(&[7.0]), Percentiles { p50: 7.0, p95: 7.0, p99: 7.0 });
        let timings = vec![
            TurnTiming { finish_reason: "stop".into(), timings: serde_json::json!({"ttft_ms": 2.0, "total_ms": 9.0}) },
            TurnTiming {
                finish_reason: "cancelled".into(),
                timings: serde_json::json!({"ttft_ms": 900.0, "total_ms": 900.0}),
            },
        ];
        let l = latency(&timings);
        assert_eq!(l.turns, 1);
        assert!((l.ttft_ms.p99 - 2.0).abs() < 1e-9);
    }
}
