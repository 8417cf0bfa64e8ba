//! The LLM generator end to end against a real OpenAI-compatible server: llama.cpp's
//! (`llama-cpp-python[server]`) running SmolLM2-135M-Instruct. `make test-llm` builds
//! and starts it (scripts/llm-server.sh) and sets `DOCENT_LLM_TEST_URL`; without that
//! variable these tests say so and pass without doing anything.

use std::time::{Duration, Instant};

use docent_answer::citations::CitationFilter;
use docent_answer::llm::{LlmConfig, LlmGenerator};
use docent_answer::{AnswerEvent, AnswerRequest, FinishReason, Generator, Source};
use futures::StreamExt;

const FALLBACK: &str = "I could not find that in the documentation.";

fn server() -> Option<LlmConfig> {
    let Ok(url) = std::env::var("DOCENT_LLM_TEST_URL") else {
        eprintln!("skipped: DOCENT_LLM_TEST_URL is not set (run `make test-llm` for the real LLM server tests)");
        return None;
    };
    let model = std::env::var("DOCENT_LLM_TEST_MODEL").unwrap_or_else(|_| "smollm2-135m-instruct".into());
    let mut c = LlmConfig::new(url, model);
    c.temperature = 0.0;
    c.max_tokens = 96;
    // CI machines are shared: generous limits, the point is the real protocol.
    c.first_token_timeout = Duration::from_secs(60);
    c.total_timeout = Duration::from_secs(120);
    // llama.cpp's default repeat penalty stops the model from copying the sources.
    c.extra_body.insert("repeat_penalty".into(), serde_json::json!(1.0));
    Some(c)
}

fn refund_question() -> AnswerRequest {
    AnswerRequest {
        question: "How many days do I have to ask for a refund?".into(),
        history: vec![],
        sources: vec![Source {
            index: 1,
            title: "Refunds".into(),
            url: "https://help.example/billing/refunds#window".into(),
            heading_path: vec!["Refunds".into(), "Refund window".into()],
            text: "You can ask for a refund within 30 days of purchase. After 30 days, purchases cannot be refunded."
                .into(),
            score: 0.9,
        }],
        answerable: true,
        confidence: 0.9,
        system_prompt: None,
        fallback: FALLBACK.into(),
        max_tokens: 96,
    }
}

struct Run {
    shown: String,
    raw: String,
    deltas: usize,
    finish: FinishReason,
    ttft: Duration,
    total: Duration,
    filter: CitationFilter,
}

async fn run(llm: &LlmGenerator, request: AnswerRequest) -> Run {
    let sources = request.sources.len();
    let started = Instant::now();
    let mut stream = llm.generate(request);
    let mut filter = CitationFilter::new(sources);
    let (mut shown, mut raw, mut deltas, mut ttft, mut finish) = (String::new(), String::new(), 0, None, None);
    while let Some(event) = stream.next().await {
        match event.unwrap_or_else(|e| panic!("the real LLM server failed: {e}")) {
            AnswerEvent::Delta(d) => {
                ttft.get_or_insert_with(|| started.elapsed());
                deltas += 1;
                raw.push_str(&d);
                shown.push_str(&filter.push(&d));
            }
            AnswerEvent::Done { finish_reason, .. } => finish = Some(finish_reason),
        }
    }
    shown.push_str(&filter.finish());
    let total = started.elapsed();
    Run { shown, raw, deltas, finish: finish.expect("no Done event"), ttft: ttft.unwrap_or(total), total, filter }
}

fn assert_markers_valid(run: &Run, sources: usize) {
    for c in run.filter.citations() {
        assert!((1..=sources).contains(&c.index), "citation {c:?} points to no source");
        let marker: String = run.shown.chars().skip(c.start).take(c.end - c.start).collect();
        assert_eq!(marker, format!("[{}]", c.index));
    }
}

#[tokio::test]
async fn a_real_llm_streams_a_grounded_answer() {
    let Some(mut config) = server() else { return };
    config.require_citation = false;
    let llm = LlmGenerator::new(config).unwrap();
    let answer = run(&llm, refund_question()).await;
    eprintln!(
        "real LLM (streaming as it comes): ttft {:?}, total {:?}, {} deltas, finish {:?}\n  raw:   {:?}\n  shown: {:?}\n  dropped markers: {:?}",
        answer.ttft,
        answer.total,
        answer.deltas,
        answer.finish,
        answer.raw,
        answer.shown,
        answer.filter.dropped()
    );
    assert!(!answer.shown.trim().is_empty(), "empty answer");
    assert!(answer.deltas > 1, "the answer was not streamed token by token");
    assert!(matches!(answer.finish, FinishReason::Stop | FinishReason::Length), "{:?}", answer.finish);
    assert_markers_valid(&answer, 1);
    assert!(answer.shown.contains("30"), "the answer does not use the source: {:?}", answer.shown);
}

#[tokio::test]
async fn a_real_llm_answer_is_grounded_or_silent() {
    let Some(config) = server() else { return };
    let llm = LlmGenerator::new(config).unwrap();
    let answer = run(&llm, refund_question()).await;
    eprintln!(
        "real LLM (require_citation): first delta {:?}, total {:?}, finish {:?}\n  shown: {:?}",
        answer.ttft, answer.total, answer.finish, answer.shown
    );
    assert_markers_valid(&answer, 1);
    match answer.finish {
        FinishReason::Stop | FinishReason::Length => {
            assert!(!answer.filter.citations().is_empty(), "an uncited answer was shown: {:?}", answer.shown)
        }
        FinishReason::NoAnswer => assert_eq!(answer.shown, FALLBACK),
        other => panic!("unexpected finish {other:?}"),
    }

    // Outside the sources' support: the fallback, without asking the model.
    let mut unanswerable = refund_question();
    unanswerable.answerable = false;
    let refused = run(&llm, unanswerable).await;
    assert_eq!((refused.shown.as_str(), refused.finish), (FALLBACK, FinishReason::NoAnswer));
}
