//! Answer quality of the extractive generator on the sample corpus, with the real
//! retrieval: ingest `corpus/` into a temp dir, retrieve every question of
//! `corpus/questions.jsonl` (follow-ups with their earlier turns), answer it, and
//! measure the share of answerable questions whose answer cites the expected page and
//! the share of unanswerable ones refused (`no_answer`). Every answer is also checked
//! for faithfulness (each quoted line is in its cited source).
//!
//! The floors are the measured values minus a margin (see docs/BENCHMARKS.md,
//! "Answers (extractive generator)"); `--nocapture` prints the numbers and a sweep of
//! the generator's own relevance threshold.

mod extractive_support;

use std::path::Path;
use std::sync::Arc;

use docent_answer::extractive::{ExtractiveConfig, ExtractiveGenerator};
use docent_answer::{AnswerRequest, FinishReason, Role, Source, Turn};
use docent_index::{BotDir, Embedder, EmbedderOptions, ModelFiles, ModelGraph};
use docent_ingest::{ingest, IngestOptions, NoProgress, SourceSpec};
use docent_retrieval::eval::QuestionSet;
use docent_retrieval::{QueryEmbedder, Retriever, RetrieverConfig, SearchMode, SearchRequest};
use extractive_support::{run, unfaithful};

const BASE_URL: &str = "https://help.lumenledger.example/";
const K: usize = 5;
/// Measured on this corpus with the confidence refitted under the current BM25 boosts
/// (0.837, 0.766, 0.609 and 0.057; the earlier fit gave 0.851, 0.780, 0.478 and 0.043:
/// three more unanswerable questions refused for two answerable ones, see
/// BENCHMARKS.md), with a margin of about two questions' worth each way.
const MIN_CITES_EXPECTED: f64 = 0.82;
const MIN_FIRST_CITES_EXPECTED: f64 = 0.75;
const MIN_REFUSED: f64 = 0.52;
const MAX_FALSE_REFUSALS: f64 = 0.072;

fn workspace() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn ingest_corpus(data: &Path) -> BotDir {
    let corpus = workspace().join("corpus");
    let source = SourceSpec::parse(corpus.to_str().expect("utf-8 path")).expect("source");
    let mut options = IngestOptions::new("docs".to_string(), data.to_path_buf(), vec![source]);
    options.base_url = Some(BASE_URL.into());
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let summary = runtime.block_on(ingest(&options, Arc::new(NoProgress))).expect("ingest corpus");
    eprintln!("{}", summary.to_text());
    BotDir::new(data, "docs").expect("bot")
}

fn page(url: &str) -> &str {
    url.split('#').next().unwrap_or(url)
}

struct Case {
    id: String,
    answerable: bool,
    expected_url: Option<String>,
    request: AnswerRequest,
}

#[derive(Debug, Default)]
struct Shares {
    answerable: usize,
    unanswerable: usize,
    cites_expected: usize,
    first_cites_expected: usize,
    refused_unanswerable: usize,
    refused_answerable: usize,
}

impl Shares {
    fn cites(&self) -> f64 {
        self.cites_expected as f64 / self.answerable.max(1) as f64
    }
    fn first(&self) -> f64 {
        self.first_cites_expected as f64 / self.answerable.max(1) as f64
    }
    fn refused(&self) -> f64 {
        self.refused_unanswerable as f64 / self.unanswerable.max(1) as f64
    }
    fn false_refusals(&self) -> f64 {
        self.refused_answerable as f64 / self.answerable.max(1) as f64
    }
}

fn measure(generator: &ExtractiveGenerator, cases: &[Case], check_faithful: bool) -> (Shares, Vec<String>) {
    let mut s = Shares::default();
    let mut misses = Vec::new();
    for case in cases {
        let a = run(generator, case.request.clone());
        let refused = a.finish == FinishReason::NoAnswer;
        if check_faithful && !refused {
            assert_eq!(unfaithful(&a, &case.request.sources), None, "{}: {}", case.id, a.content);
        }
        if refused {
            assert!(a.filter.citations().is_empty(), "{}: the fallback cites nothing", case.id);
        }
        if !case.answerable {
            s.unanswerable += 1;
            s.refused_unanswerable += usize::from(refused);
            if !refused {
                misses.push(format!("{} answered: {}", case.id, a.content.replace('\n', " ")));
            }
            continue;
        }
        s.answerable += 1;
        s.refused_answerable += usize::from(refused);
        let want = case.expected_url.as_deref().unwrap_or_default();
        let cited_pages: Vec<&str> = a
            .cited
            .iter()
            .filter_map(|i| case.request.sources.iter().find(|src| src.index == *i))
            .map(|src| page(&src.url))
            .collect();
        let hit = cited_pages.contains(&want);
        s.cites_expected += usize::from(hit);
        s.first_cites_expected += usize::from(cited_pages.first() == Some(&want));
        if !hit {
            misses.push(format!("{} ({}) cites {:?}: {}", case.id, want, cited_pages, a.content.replace('\n', " ")));
        }
    }
    (s, misses)
}

#[test]
fn extractive_answers_cite_the_expected_page_and_refuse_unanswerable_questions() {
    let data = tempfile::tempdir().expect("tempdir");
    let bot = ingest_corpus(data.path());
    let files = ModelFiles::locate(None).expect("models missing: run `make models`");
    let model = Embedder::load(&files, EmbedderOptions::queries(ModelGraph::QueryInt8)).expect("load model");
    let retriever = Retriever::open_with(&bot, Arc::new(QueryEmbedder::new(model, 1024)), RetrieverConfig::default())
        .expect("open retriever");
    let set = QuestionSet::load(&workspace().join("corpus/questions.jsonl")).expect("questions");

    let mut cases = Vec::new();
    for q in &set.questions {
        let history = set.history(q);
        let req = SearchRequest::new(q.question.clone()).with_k(K).with_mode(SearchMode::Hybrid);
        let resp = retriever.search_with_history(&req, &history).expect("search");
        let sources: Vec<Source> = resp
            .hits
            .iter()
            .enumerate()
            .map(|(i, h)| Source {
                index: i + 1,
                title: h.title.clone(),
                url: h.url.clone(),
                heading_path: h.heading_path.clone(),
                text: h.text.clone(),
                score: h.scores.fused,
            })
            .collect();
        cases.push(Case {
            id: q.id.clone(),
            answerable: q.answerable,
            expected_url: q.expected_url.clone(),
            request: AnswerRequest {
                question: q.question.clone(),
                history: history.iter().map(|t| Turn { role: Role::User, content: t.to_string() }).collect(),
                sources,
                answerable: resp.confidence.answerable,
                confidence: resp.confidence.score,
                system_prompt: None,
                fallback: "I couldn't find that in the help center.".into(),
                max_tokens: 300,
            },
        });
    }

    // Retrieval confidence alone (the generator never refuses on its own).
    let lenient = ExtractiveGenerator::new(ExtractiveConfig { min_relevance: 0.0, ..Default::default() }).expect("cfg");
    let (base, _) = measure(&lenient, &cases, false);
    eprintln!(
        "retrieval confidence only: cites expected page {:.3}, first citation {:.3}, refused {:.3}, false refusals {:.3}",
        base.cites(),
        base.first(),
        base.refused(),
        base.false_refusals()
    );
    eprintln!("min_relevance  cites  first  refused  false_refusals");
    for t in [0.0f32, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5] {
        let g = ExtractiveGenerator::new(ExtractiveConfig { min_relevance: t, ..Default::default() }).expect("cfg");
        let (s, _) = measure(&g, &cases, false);
        eprintln!("{t:<13.2}  {:.3}  {:.3}  {:.3}    {:.3}", s.cites(), s.first(), s.refused(), s.false_refusals());
    }

    let generator = ExtractiveGenerator::default();
    let (s, misses) = measure(&generator, &cases, true);
    for m in &misses {
        eprintln!("  miss: {m}");
    }
    eprintln!(
        "default: {} answerable, {} unanswerable; cites expected page {:.3}, first citation {:.3}, \
         refused {:.3}, false refusals {:.3}",
        s.answerable,
        s.unanswerable,
        s.cites(),
        s.first(),
        s.refused(),
        s.false_refusals()
    );
    assert!(s.answerable > 100 && s.unanswerable > 10, "{s:?}");
    assert!(s.cites() >= MIN_CITES_EXPECTED, "cites expected page {:.3} < {MIN_CITES_EXPECTED}", s.cites());
    assert!(s.first() >= MIN_FIRST_CITES_EXPECTED, "first citation {:.3} < {MIN_FIRST_CITES_EXPECTED}", s.first());
    assert!(s.refused() >= MIN_REFUSED, "refused {:.3} < {MIN_REFUSED}", s.refused());
    assert!(s.false_refusals() <= MAX_FALSE_REFUSALS, "false refusals {:.3}", s.false_refusals());
}
