//! One chat turn, transport-free: retrieve, generate, cite, store, as a sequence of
//! numbered frames (`start` → `sources` → `delta`… → `citation`… → `done`, or an
//! `error` frame ending the turn early).
//!
//! The turn runs in its own task and sends its frames into a channel; the SSE
//! handler forwards them as they come, the blocking handler waits for `done`. When
//! the receiving side goes away (a client that disconnects, a blocking request that
//! is dropped), the next send fails or `closed()` fires, the generator's stream is
//! dropped — which aborts an LLM request — and the turn is stored as `cancelled`.
//! Every frame is also kept for `Last-Event-ID` resume: in memory while the turn
//! runs ([`LiveTurns`]), in the store afterwards.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use docent_answer::citations::{claim_before, CitationFilter};
use docent_answer::{AnswerEvent, AnswerRequest, FinishReason, Source, Turn, Usage};
use docent_retrieval::{Filters, Hit, Retriever, SearchMode, SearchRequest, SearchResponse};
use futures::StreamExt;
use serde::Serialize;
use tokio::sync::{broadcast, mpsc};
use tracing::{info_span, warn, Instrument};
use utoipa::ToSchema;

use crate::answer_cache::{AnswerCache, CacheKey, CachedAnswer};
use crate::bots::BotRuntime;
use crate::config::BotConfig;
use crate::metrics::{Metrics, TurnReport};
use crate::store::{Store, StoreError, StoredEvent};

/// Characters of a source's text sent as its `snippet`.
const SNIPPET_CHARS: usize = 300;

/// One frame of a turn's stream.
pub type Frame = StoredEvent;

/// A source as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ApiSource {
    /// `src_…`: stable for a chunk across answers.
    pub id: String,
    /// The `[n]` number.
    pub index: usize,
    /// Page title.
    pub title: String,
    /// URL with the section anchor.
    pub url: String,
    /// Headings down to the chunk's section.
    pub heading_path: Vec<String>,
    /// The start of the chunk's text.
    pub snippet: String,
    /// The retrieval score the sources are ranked by.
    pub score: f32,
}

/// A citation as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ApiCitation {
    /// The `[n]` number.
    pub index: usize,
    /// The cited source's id.
    pub source_id: String,
    /// Char offset of the marker in the answer.
    pub start: usize,
    /// Char offset just after the marker.
    pub end: usize,
    /// The answer's sentence that this citation supports.
    pub quote: String,
}

/// Stage timings of a turn, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, ToSchema)]
pub struct TurnTimings {
    /// Retrieval (embedding, search, fusion, selection), rerank excluded.
    pub retrieval_ms: f64,
    /// Reranking.
    pub rerank_ms: f64,
    /// From the start of the turn to the first answer text.
    pub ttft_ms: f64,
    /// The whole turn.
    pub total_ms: f64,
}

/// The assistant message in a final state.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ApiMessage {
    /// `msg_…`.
    pub id: String,
    /// `assistant`.
    #[schema(value_type = String)]
    pub role: &'static str,
    /// The answer, with `[n]` markers.
    pub content: String,
}

/// The final state of a turn: the blocking response body, and the `done` frame.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FinalState {
    /// `conv_…`.
    pub conversation_id: String,
    /// The answer.
    pub message: ApiMessage,
    /// Sources shown.
    pub sources: Vec<ApiSource>,
    /// Citations in the answer.
    pub citations: Vec<ApiCitation>,
    /// Why the answer ended.
    #[schema(value_type = crate::api::openapi::FinishReasonSchema)]
    pub finish_reason: FinishReason,
    /// Token counts.
    #[schema(value_type = crate::api::openapi::UsageSchema)]
    pub usage: Usage,
    /// Stage timings.
    pub timings: TurnTimings,
    /// Served from the answer cache.
    pub cached: bool,
    /// Citation markers the generator wrote that point to no source (removed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub removed_citations: Vec<String>,
}

/// A failure after the stream started.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct StreamError {
    /// Error type (`server_error`, `upstream_error`).
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub kind: &'static str,
    /// Stable code.
    #[schema(value_type = String)]
    pub code: &'static str,
    /// Safe to show.
    pub message: String,
    /// Whether sending the same question again may work.
    pub retryable: bool,
}

/// What the turn needs to know.
#[derive(Debug, Clone)]
pub struct TurnInput {
    /// The bot.
    pub bot: Arc<BotRuntime>,
    /// Conversation (already stored).
    pub conversation_id: String,
    /// The assistant message id (already stored as streaming).
    pub message_id: String,
    /// Request id.
    pub request_id: String,
    /// The visitor's message.
    pub question: String,
    /// Earlier turns, oldest first.
    pub history: Vec<Turn>,
    /// Retrieval filters.
    pub filters: Filters,
    /// Where the turn's stage timings and outcome are counted.
    pub metrics: Arc<Metrics>,
    /// The answer cache (`None`: disabled); used for first turns only.
    pub cache: Option<Arc<AnswerCache>>,
}

/// Frames of the turns running now, for resume.
#[derive(Debug, Default)]
pub struct LiveTurns {
    turns: Mutex<HashMap<String, Arc<LiveTurn>>>,
}

/// A running turn's frames so far and its live feed.
#[derive(Debug)]
pub struct LiveTurn {
    frames: Mutex<Vec<Frame>>,
    feed: broadcast::Sender<Frame>,
}

impl LiveTurn {
    /// Frames with an id above `after`, and a receiver for the ones still to come
    /// (taken under the same lock, so nothing falls in between).
    pub fn follow(&self, after: u64) -> (Vec<Frame>, broadcast::Receiver<Frame>) {
        let frames = self.frames.lock().unwrap_or_else(|p| p.into_inner());
        let rx = self.feed.subscribe();
        (frames.iter().filter(|f| f.id > after).cloned().collect(), rx)
    }
}

impl LiveTurns {
    /// The running turn of message `id`.
    pub fn get(&self, id: &str) -> Option<Arc<LiveTurn>> {
        self.turns.lock().unwrap_or_else(|p| p.into_inner()).get(id).cloned()
    }

    fn start(&self, id: &str) -> Arc<LiveTurn> {
        let (feed, _) = broadcast::channel(256);
        let live = Arc::new(LiveTurn { frames: Mutex::new(Vec::new()), feed });
        self.turns.lock().unwrap_or_else(|p| p.into_inner()).insert(id.to_string(), Arc::clone(&live));
        live
    }

    fn end(&self, id: &str) {
        self.turns.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
    }
}

/// Conversations with a turn in flight (one at a time each).
#[derive(Debug, Default)]
pub struct ActiveConversations {
    ids: Mutex<HashSet<String>>,
}

/// Held while a conversation has a turn in flight; released on drop.
#[derive(Debug)]
pub struct ConversationLock {
    owner: Arc<ActiveConversations>,
    id: String,
}

impl ActiveConversations {
    /// Take the conversation, or `None` when a turn is already running in it.
    pub fn try_lock(self: &Arc<Self>, id: &str) -> Option<ConversationLock> {
        let mut ids = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        ids.insert(id.to_string()).then(|| ConversationLock { owner: Arc::clone(self), id: id.to_string() })
    }
}

impl Drop for ConversationLock {
    fn drop(&mut self) {
        self.owner.ids.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.id);
    }
}

/// Numbers, records and sends the frames of one turn.
struct Emitter {
    next_id: u64,
    frames: Vec<Frame>,
    tx: mpsc::Sender<Frame>,
    live: Arc<LiveTurn>,
    /// The receiver is gone (client left).
    gone: bool,
}

impl Emitter {
    /// Number and keep a frame without sending it yet.
    fn record(&mut self, event: &'static str, data: serde_json::Value) -> Frame {
        self.next_id += 1;
        let frame = Frame { id: self.next_id, event: event.to_string(), data: data.to_string() };
        self.frames.push(frame.clone());
        frame
    }

    /// Send a recorded frame to the client and to resumers.
    async fn send(&mut self, frame: Frame) {
        self.live.frames.lock().unwrap_or_else(|p| p.into_inner()).push(frame.clone());
        let _ = self.live.feed.send(frame.clone());
        if !self.gone && self.tx.send(frame).await.is_err() {
            self.gone = true;
        }
    }

    async fn emit(&mut self, event: &'static str, data: serde_json::Value) {
        let frame = self.record(event, data);
        self.send(frame).await;
    }
}

fn with_type(kind: &str, value: impl Serialize) -> serde_json::Value {
    let mut v = serde_json::to_value(value).unwrap_or_else(|_| serde_json::json!({}));
    if let Some(map) = v.as_object_mut() {
        // `type` first, for readers that look at it first.
        let mut out = serde_json::Map::new();
        out.insert("type".into(), serde_json::Value::String(kind.into()));
        out.extend(std::mem::take(map));
        return serde_json::Value::Object(out);
    }
    v
}

fn source_id(hit: &Hit) -> String {
    let h = blake3::hash(hit.chunk_id.as_bytes());
    format!("src_{}", &h.to_hex()[..16])
}

/// The first `n` hits as the API shows them and as the generator gets them.
pub fn sources_for(hits: &[Hit], n: usize) -> (Vec<ApiSource>, Vec<Source>) {
    hits.iter()
        .take(n)
        .enumerate()
        .map(|(i, h)| {
            let score = h.scores.rerank.unwrap_or(h.scores.fused);
            let api = ApiSource {
                id: source_id(h),
                index: i + 1,
                title: h.title.clone(),
                url: h.url.clone(),
                heading_path: h.heading_path.clone(),
                snippet: h.text.chars().take(SNIPPET_CHARS).collect(),
                score,
            };
            let gen = Source {
                index: i + 1,
                title: h.title.clone(),
                url: h.url.clone(),
                heading_path: h.heading_path.clone(),
                text: h.text.clone(),
                score,
            };
            (api, gen)
        })
        .unzip()
}

/// The retrieval mode answers use: rerank when the bot's retriever has a reranker.
pub fn answer_mode(retriever: &Retriever) -> SearchMode {
    if retriever.reranker().is_some() {
        SearchMode::Rerank
    } else {
        SearchMode::Hybrid
    }
}

/// Whether `response` can support an answer for this bot: the retrieval confidence's
/// verdict, or the bot's own threshold when it sets one, and at least one hit.
pub fn is_answerable(bot: &BotConfig, response: &SearchResponse) -> bool {
    let confident = match bot.no_answer_threshold {
        Some(t) => response.confidence.score >= t,
        None => response.confidence.answerable,
    };
    confident && !response.hits.is_empty()
}

/// Run one turn to its end; frames go to `tx`. The final message is stored and the
/// conversation released (`hold` dropped) *before* the final frame is sent, so a
/// client that has seen `done` can read the turn back and ask the next question.
pub async fn run_turn<H: Send>(store: Store, live: Arc<LiveTurns>, input: TurnInput, tx: mpsc::Sender<Frame>, hold: H) {
    let span = info_span!("turn", bot = %input.bot.config.id, conversation = %input.conversation_id, message = %input.message_id, request_id = %input.request_id);
    async move {
        let started = Instant::now();
        let live_turn = live.start(&input.message_id);
        let mut em = Emitter { next_id: 0, frames: Vec::new(), tx, live: live_turn, gone: false };
        em.emit(
            "start",
            serde_json::json!({"type": "start", "conversation_id": input.conversation_id, "message_id": input.message_id, "request_id": input.request_id}),
        )
        .await;
        let outcome = answer(&input, &mut em, started).await;
        let (state, error) = match outcome {
            Ok(state) => (state, None),
            Err((state, error)) => (state, Some(error)),
        };
        let last = match &error {
            Some(e) => em.record("error", serde_json::json!({"type": "error", "error": e})),
            None => em.record("done", with_type("done", &state)),
        };
        let stored = store_turn(&store, &input, &state, &em.frames).await;
        if let Err(e) = stored {
            warn!(error = %e, "could not store the finished turn");
        }
        input.metrics.observe_turn(TurnReport {
            bot: &input.bot.config.id,
            finish_reason: state.finish_reason.as_str(),
            retrieval_ms: state.timings.retrieval_ms,
            rerank_ms: state.timings.rerank_ms,
            ttft_ms: state.timings.ttft_ms,
            total_ms: state.timings.total_ms,
            cached: state.cached,
        });
        drop(hold);
        em.send(last).await;
        live.end(&input.message_id);
    }
    .instrument(span)
    .await
}

/// The finished turn and, for `no_answer`, its `message.unanswered` event (for
/// `handoff`, the conversation's handoff and its event), in one transaction (on the
/// store's write thread: [`Store::transact`]).
async fn store_turn(store: &Store, input: &TurnInput, state: &FinalState, frames: &[Frame]) -> Result<(), StoreError> {
    let (message_id, conversation_id) = (input.message_id.clone(), input.conversation_id.clone());
    let content = state.message.content.clone();
    let finish_reason = state.finish_reason;
    let json = [to_json(&state.sources), to_json(&state.citations), to_json(&state.usage), to_json(&state.timings)];
    let frames = frames.to_vec();
    let handoff_phrase =
        (finish_reason == FinishReason::Handoff).then(|| input.bot.handoff.find(&input.question).unwrap_or_default());
    let unanswered = (finish_reason == FinishReason::NoAnswer).then(|| {
        crate::webhooks::message_unanswered(
            &input.bot.config.id,
            &input.conversation_id,
            &input.message_id,
            &input.question,
            &state.message.content,
        )
    });
    store
        .transact(move |tx| {
            Box::pin(async move {
                let [sources, citations, usage, timings] = &json;
                let reason = finish_reason.as_str();
                Store::finish_message_in(
                    tx,
                    &message_id,
                    &content,
                    reason,
                    sources,
                    citations,
                    usage,
                    timings,
                    &frames,
                )
                .await?;
                if let Some(phrase) = &handoff_phrase {
                    let trigger = crate::webhooks::HandoffTrigger::Message { message_id: &message_id, phrase };
                    crate::handoff::hand_off_in(tx, &conversation_id, None, trigger).await?;
                }
                if let Some(event) = &unanswered {
                    tx.emit(event).await?;
                }
                Ok(())
            })
        })
        .await
}

fn to_json<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

type Failed = (FinalState, StreamError);

async fn answer(input: &TurnInput, em: &mut Emitter, started: Instant) -> Result<FinalState, Failed> {
    let bot = &input.bot;
    let mut state = FinalState {
        conversation_id: input.conversation_id.clone(),
        message: ApiMessage { id: input.message_id.clone(), role: "assistant", content: String::new() },
        sources: Vec::new(),
        citations: Vec::new(),
        finish_reason: FinishReason::Error,
        usage: Usage::default(),
        timings: TurnTimings::default(),
        cached: false,
        removed_citations: Vec::new(),
    };
    let fail = |mut state: FinalState, code: &'static str, message: String, retryable: bool, started: Instant| {
        state.finish_reason = FinishReason::Error;
        state.timings.total_ms = ms(started);
        (state, StreamError { kind: "server_error", code, message, retryable })
    };

    // A visitor who asks for a person gets the bot's handoff text, without a search.
    if bot.handoff.matches(&input.question) {
        return Ok(hand_off(input, em, state, started).await);
    }

    // Retrieval, on a blocking thread (CPU: embedding, search, rerank).
    let retriever = match bot.retriever() {
        Ok(r) => r,
        Err(why) => return Err(fail(state, "index_unavailable", why, true, started)),
    };
    // A first turn may be answered from the cache (same bot, generation, filters and
    // normalised question).
    let cache_key = input
        .cache
        .as_ref()
        .filter(|_| input.history.is_empty())
        .map(|_| CacheKey::new(&bot.config.id, retriever.generation(), &input.filters, &input.question));
    if let (Some(cache), Some(key)) = (&input.cache, &cache_key) {
        if let Some(hit) = cache.get(key) {
            return Ok(replay(&hit, state, em, started).await);
        }
    }
    let mode = answer_mode(&retriever);
    let request = SearchRequest::new(input.question.clone())
        .with_k(bot.config.sources)
        .with_mode(mode)
        .with_filters(input.filters.clone());
    let earlier: Vec<String> =
        input.history.iter().filter(|t| t.role == docent_answer::Role::User).map(|t| t.content.clone()).collect();
    let searched = tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = earlier.iter().map(String::as_str).collect();
        retriever.search_with_history(&request, &refs)
    })
    .await;
    let response = match searched {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            warn!(error = %e, "retrieval failed");
            return Err(fail(state, "retrieval_failed", "searching the knowledge base failed".into(), true, started));
        }
        Err(e) => {
            warn!(error = %e, "retrieval task failed");
            return Err(fail(state, "retrieval_failed", "searching the knowledge base failed".into(), true, started));
        }
    };
    state.timings.rerank_ms = response.timings.rerank_ms;
    state.timings.retrieval_ms = (response.timings.total_ms - response.timings.rerank_ms).max(0.0);
    let answerable = is_answerable(&bot.config, &response);
    let (api_sources, sources) =
        if answerable { sources_for(&response.hits, bot.config.sources) } else { (Vec::new(), Vec::new()) };
    state.sources = api_sources;
    em.emit(
        "sources",
        serde_json::json!({"type": "sources", "grounded": answerable, "sources": state.sources, "confidence": response.confidence.score}),
    )
    .await;

    // Generation.
    let mut stream = bot.generator.generate(AnswerRequest {
        question: input.question.clone(),
        history: input.history.clone(),
        sources,
        answerable,
        confidence: response.confidence.score,
        system_prompt: bot.config.system_prompt.clone(),
        fallback: bot.config.fallback.clone(),
        max_tokens: bot.config.max_tokens,
    });
    let mut filter = CitationFilter::new(state.sources.len());
    let mut deltas: Vec<String> = Vec::new();
    let mut finish: Option<(FinishReason, Usage)> = None;
    let mut failure: Option<StreamError> = None;
    loop {
        if em.gone {
            break;
        }
        let item = tokio::select! {
            item = stream.next() => item,
            _ = em.tx.closed() => { em.gone = true; break; }
        };
        match item {
            Some(Ok(AnswerEvent::Delta(text))) => {
                let shown = filter.push(&text);
                if !shown.is_empty() {
                    if state.timings.ttft_ms == 0.0 {
                        state.timings.ttft_ms = ms(started);
                    }
                    em.emit("delta", serde_json::json!({"type": "delta", "delta": shown})).await;
                    deltas.push(shown);
                }
            }
            Some(Ok(AnswerEvent::Done { finish_reason, usage })) => {
                finish = Some((finish_reason, usage));
                break;
            }
            Some(Err(e)) => {
                warn!(error = %e, "generation failed");
                failure = Some(StreamError {
                    kind: "upstream_error",
                    code: e.code(),
                    message: e.to_string(),
                    retryable: e.retryable(),
                });
                break;
            }
            None => {
                failure = Some(StreamError {
                    kind: "server_error",
                    code: "generation_incomplete",
                    message: "the answer ended without finishing".into(),
                    retryable: true,
                });
                break;
            }
        }
    }
    drop(stream);
    let rest = filter.finish();
    if !rest.is_empty() && !em.gone && failure.is_none() {
        em.emit("delta", serde_json::json!({"type": "delta", "delta": rest})).await;
        deltas.push(rest);
    }
    state.message.content = filter.content().to_string();
    state.removed_citations = filter.dropped().to_vec();
    if !state.removed_citations.is_empty() {
        warn!(removed = ?state.removed_citations, "citation markers pointing to no source were removed");
    }
    state.citations = filter
        .citations()
        .iter()
        .filter_map(|c| {
            let source = state.sources.get(c.index.checked_sub(1)?)?;
            Some(ApiCitation {
                index: c.index,
                source_id: source.id.clone(),
                start: c.start,
                end: c.end,
                quote: claim_before(&state.message.content, c),
            })
        })
        .collect();
    if em.gone {
        state.finish_reason = FinishReason::Cancelled;
        state.timings.total_ms = ms(started);
        return Ok(state);
    }
    if let Some(e) = failure {
        state.finish_reason = FinishReason::Error;
        state.timings.total_ms = ms(started);
        return Err((state, e));
    }
    if let Some((reason, usage)) = finish {
        state.finish_reason = reason;
        state.usage = usage;
    }
    for c in state.citations.clone() {
        em.emit("citation", with_type("citation", &c)).await;
    }
    state.timings.total_ms = ms(started);
    if let (Some(cache), Some(key)) = (&input.cache, cache_key) {
        if !em.gone {
            cache.put(
                key,
                CachedAnswer {
                    grounded: answerable,
                    confidence: response.confidence.score,
                    sources: state.sources.clone(),
                    deltas,
                    content: state.message.content.clone(),
                    citations: state.citations.clone(),
                    finish_reason: state.finish_reason,
                    usage: state.usage,
                    removed_citations: state.removed_citations.clone(),
                },
            );
        }
    }
    Ok(state)
}

/// Stream a cached answer as the same frames a generated one sends (`sources`,
/// `delta`…, `citation`…), and its final state with `cached: true`.
async fn replay(hit: &CachedAnswer, mut state: FinalState, em: &mut Emitter, started: Instant) -> FinalState {
    state.cached = true;
    state.sources = hit.sources.clone();
    em.emit(
        "sources",
        serde_json::json!({"type": "sources", "grounded": hit.grounded, "sources": state.sources, "confidence": hit.confidence}),
    )
    .await;
    let mut shown = String::new();
    for d in &hit.deltas {
        if em.gone || em.tx.is_closed() {
            em.gone = true;
            break;
        }
        if state.timings.ttft_ms == 0.0 {
            state.timings.ttft_ms = ms(started);
        }
        em.emit("delta", serde_json::json!({"type": "delta", "delta": d})).await;
        shown.push_str(d);
    }
    if em.gone {
        state.message.content = shown;
        state.finish_reason = FinishReason::Cancelled;
        state.timings.total_ms = ms(started);
        return state;
    }
    state.message.content = hit.content.clone();
    state.citations = hit.citations.clone();
    state.removed_citations = hit.removed_citations.clone();
    state.usage = hit.usage;
    state.finish_reason = hit.finish_reason;
    for c in &hit.citations {
        em.emit("citation", with_type("citation", c)).await;
    }
    state.timings.total_ms = ms(started);
    state
}

/// The handoff answer: the same frames as any answer (`sources` empty and ungrounded,
/// the bot's `handoff_text` as one `delta`), finishing with `handoff`; the store then
/// marks the conversation handed off ([`store_turn`]). A visitor who left meanwhile
/// still asked for a person, so it stays `handoff`, not `cancelled`.
async fn hand_off(input: &TurnInput, em: &mut Emitter, mut state: FinalState, started: Instant) -> FinalState {
    em.emit("sources", serde_json::json!({"type": "sources", "grounded": false, "sources": [], "confidence": 0.0}))
        .await;
    let text = input.bot.config.handoff_text.clone();
    state.timings.ttft_ms = ms(started);
    em.emit("delta", serde_json::json!({"type": "delta", "delta": text})).await;
    state.message.content = text;
    state.finish_reason = FinishReason::Handoff;
    state.timings.total_ms = ms(started);
    state
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}
