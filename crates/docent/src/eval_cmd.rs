//! `docent eval`: retrieval quality, measured.
//!
//! - `--dataset DIR` (BEIR format): indexes the corpus once as bot `beir-<name>` under
//!   `--data` (reused while the corpus, model and chunker are unchanged), then
//!   nDCG@10, Recall@10/100 and MRR@10 of bm25, dense, hybrid and hybrid+rerank.
//! - `--questions FILE` (`corpus/questions.jsonl`): the same table over the answerable
//!   questions of a docs bot (relevance = the expected page) plus the section hit
//!   rate, follow-up recall with and without history, and the precision/recall of the
//!   "no answer" confidence (shipped model, and the fitting procedure under
//!   leave-one-out cross-validation).
//!
//! `--answers` (with `--questions`) also answers every question with the extractive
//! generator and reports the share of answerable questions whose answer cites the
//! expected page and the share of unanswerable ones refused.
//!
//! `--sweep` adds fusion variants (RRF and weighted blends, candidate depths), with a
//! split-half check of the best one so a tuned default is not judged on the queries
//! that chose it.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use docent_index::{BotDir, Embedder, EmbedderOptions, ModelFiles, ModelGraph};
use docent_retrieval::eval::calibrate::{self, CalibrationReport, NoAnswerStats, Sample, DEFAULT_L2};
use docent_retrieval::eval::run::{run_variant, RunOptions};
use docent_retrieval::eval::{
    BeirDataset, BeirIndexReport, EvalQuery, Qrels, QueryMetrics, QuestionKind, QuestionSet, Variant, VariantResult,
};
use docent_retrieval::rerank::{CrossEncoder, CrossEncoderOptions, OfflineReranker};
use docent_retrieval::{
    Bm25Config, ConfidenceFeatures, ConfidenceModels, FollowupConfig, FusionConfig, QueryEmbedder, Reranker, Retriever,
    RetrieverConfig, SearchMode,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::DataArgs;

/// Arguments of `docent eval`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// A BEIR-format data set directory (`corpus.jsonl`, `queries.jsonl`, `qrels/<split>.tsv`).
    #[arg(long, value_name = "DIR", conflicts_with = "questions", required_unless_present = "questions")]
    pub dataset: Option<PathBuf>,
    /// Judgments split of the BEIR data set.
    #[arg(long, default_value = "train")]
    pub split: String,
    /// A `questions.jsonl` file evaluated against the bot `--bot`.
    #[arg(long, value_name = "FILE")]
    pub questions: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
    /// Evaluate only the first N queries.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Also evaluate fusion variants (RRF / weighted blends, candidate depths).
    #[arg(long)]
    pub sweep: bool,
    /// Cross-encoder model directory for the hybrid+rerank row; without it the offline
    /// reranker is used.
    #[arg(long, value_name = "DIR", env = "DOCENT_RERANKER_MODEL")]
    pub reranker_model: Option<PathBuf>,
    /// BM25 field boosts `TITLE,HEADINGS,BODY` for this run instead of the retriever's
    /// defaults (to measure another setting; the defaults are not changed).
    #[arg(long, value_name = "T,H,B", value_parser = parse_boosts)]
    pub bm25_boosts: Option<(f32, f32, f32)>,
    /// Graph of the query model: `query-int8` (the server's default) or `shipped`
    /// (the graph the documents were embedded with).
    #[arg(long, default_value = "query-int8")]
    pub query_graph: ModelGraph,
    /// Skip the hybrid+rerank row.
    #[arg(long)]
    pub no_rerank: bool,
    /// Questions only: print the confidence models fitted on all questions (JSON).
    #[arg(long)]
    pub fit_confidence: bool,
    /// Questions only: write the fitted confidence models to this file.
    #[arg(long, value_name = "FILE", requires = "fit_confidence")]
    pub write_confidence: Option<PathBuf>,
    /// Questions only: BM25 weight of the previous turn in follow-up queries (the turn
    /// before gets its square).
    #[arg(long, value_name = "W")]
    pub followup_decay: Option<f32>,
    /// Questions only: weight of the current turn's vector in the follow-up dense blend.
    #[arg(long, value_name = "A")]
    pub followup_dense_current: Option<f32>,
    /// Questions only: include every question's outcome per mode in the JSON report.
    #[arg(long)]
    pub details: bool,
    /// Questions only: also answer every question with the extractive generator (hybrid
    /// retrieval, top 5, follow-ups with their earlier turns) and report the share of
    /// answerable questions whose answer cites the expected page and the share of
    /// unanswerable ones refused (`no_answer`).
    #[arg(long)]
    pub answers: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// One table row as printed and serialised.
#[derive(Debug, Clone, Serialize)]
struct Row {
    name: String,
    queries: usize,
    #[serde(flatten)]
    metrics: Option<QueryMetrics>,
    #[serde(skip_serializing_if = "Option::is_none")]
    page_hit_at_5: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    section_hit_at_5: Option<f64>,
    search_p50_ms: f64,
}

impl Row {
    fn of(r: &VariantResult) -> Self {
        Row {
            name: r.variant.name.clone(),
            queries: r.queries,
            metrics: r.mean,
            page_hit_at_5: r.page_hit_at_5,
            section_hit_at_5: r.section_hit_at_5,
            search_p50_ms: r.search_p50_ms,
        }
    }
}

/// The split-half check of a sweep: the best variant chosen on one half of the
/// queries, scored on the other half.
#[derive(Debug, Serialize)]
struct SplitHalf {
    chosen_on_odd: String,
    ndcg_on_even: f64,
    default_ndcg_on_even: f64,
    chosen_on_even: String,
    ndcg_on_odd: f64,
    default_ndcg_on_odd: f64,
}

#[derive(Debug, Serialize)]
struct BeirReport {
    dataset: String,
    split: String,
    queries: usize,
    judgments: usize,
    index: BeirIndexReport,
    bm25: Bm25Config,
    rows: Vec<Row>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    sweep: Vec<Row>,
    #[serde(skip_serializing_if = "Option::is_none")]
    split_half: Option<SplitHalf>,
}

#[derive(Debug, Serialize)]
struct FollowupRow {
    mode: String,
    questions: usize,
    mrr_at_10_without_history: f64,
    mrr_at_10_with_history: f64,
    page_hit_at_5_without_history: f64,
    page_hit_at_5_with_history: f64,
    section_hit_at_5_without_history: Option<f64>,
    section_hit_at_5_with_history: Option<f64>,
}

#[derive(Debug, Serialize)]
struct ConfidenceRow {
    mode: String,
    answerable: usize,
    unanswerable: usize,
    shipped: NoAnswerStats,
    shipped_auc: f64,
    loo: NoAnswerStats,
    loo_auc: f64,
    features: Vec<String>,
}

#[derive(Debug, Serialize)]
struct QuestionsReport {
    bot: String,
    generation: u64,
    chunks: usize,
    questions: usize,
    answerable: usize,
    rows: Vec<Row>,
    by_kind: Vec<(String, Row)>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    sweep: Vec<Row>,
    followup: Vec<FollowupRow>,
    topic_switch: Vec<FollowupRow>,
    same_topic: Vec<FollowupRow>,
    confidence: Vec<ConfidenceRow>,
    confidence_model: String,
    followup_config: FollowupConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    fitted_confidence: Option<ConfidenceModels>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    details: Vec<Detail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    answers: Option<AnswersReport>,
}

/// `--answers`: the extractive generator over the retrieved sources.
#[derive(Debug, Serialize)]
struct AnswersReport {
    generator: &'static str,
    mode: String,
    k: usize,
    answerable: usize,
    unanswerable: usize,
    /// Share of answerable questions whose answer cites the expected page.
    cites_expected_page: f64,
    /// Share of answerable questions whose first citation is the expected page.
    first_citation_expected_page: f64,
    /// Share of unanswerable questions answered with the fallback (`no_answer`).
    refused_unanswerable: f64,
    /// Share of answerable questions answered with the fallback.
    false_refusals: f64,
    /// Refusals decided by the retrieval confidence / by the generator's own threshold.
    refused_by_retrieval: usize,
    refused_by_generator: usize,
    min_relevance: f32,
    answer_p50_ms: f64,
}

/// One question's outcome under one mode (`--details`).
#[derive(Debug, Serialize)]
struct Detail {
    id: String,
    kind: QuestionKind,
    mode: String,
    answerable: bool,
    question: String,
    history: Vec<String>,
    outcome: docent_retrieval::eval::QueryOutcome,
}

/// Run the command.
pub fn run(args: EvalArgs) -> anyhow::Result<ExitCode> {
    let files = ModelFiles::locate(args.data.models.as_deref())?;
    if let Some(dir) = &args.dataset {
        let report = eval_beir(&args, dir, &files)?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print!("{}", beir_text(&report));
        }
    } else if let Some(path) = &args.questions {
        let report = eval_questions(&args, path, &files)?;
        if let (Some(out), Some(models)) = (&args.write_confidence, &report.fitted_confidence) {
            let json = serde_json::to_string_pretty(models)? + "\n";
            std::fs::write(out, json).with_context(|| format!("writing {}", out.display()))?;
            eprintln!("wrote {}", out.display());
        }
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print!("{}", questions_text(&report));
            if let (Some(models), None) = (&report.fitted_confidence, &args.write_confidence) {
                println!("\nfitted confidence models:\n{}", serde_json::to_string_pretty(models)?);
            }
        }
    } else {
        bail!("give --dataset DIR or --questions FILE");
    }
    Ok(ExitCode::SUCCESS)
}

fn bar(len: usize, label: &str) -> ProgressBar {
    let visible = std::io::stderr().is_terminal();
    let pb = ProgressBar::with_draw_target(
        Some(len as u64),
        if visible { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() },
    );
    pb.set_style(
        ProgressStyle::with_template("{msg:<28} {bar:30} {pos:>6}/{len:<6} {per_sec:>10} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb.set_message(label.to_string());
    pb
}

/// A retriever over `bot` with one single-threaded query model and a cache large
/// enough for every query of the run (so each query is embedded once for all rows).
fn open_retriever(bot: &BotDir, files: &ModelFiles, queries: usize, args: &EvalArgs) -> anyhow::Result<Retriever> {
    let model = Embedder::load(files, EmbedderOptions::queries(args.query_graph)).context("loading the query model")?;
    let embedder = Arc::new(QueryEmbedder::new(model, (queries * 3).max(4096)));
    let mut config = RetrieverConfig::default();
    if let Some(boosts @ (title, headings, body)) = args.bm25_boosts {
        set_boosts(&mut config.bm25, boosts);
        eprintln!("BM25 boosts for this run: title {title}, headings {headings}, body {body}");
    }
    let retriever = Retriever::open_with(bot, Arc::clone(&embedder), config)?;
    if args.no_rerank {
        return Ok(retriever);
    }
    let reranker: Arc<dyn Reranker> = match &args.reranker_model {
        Some(dir) => Arc::new(
            CrossEncoder::load(dir, files, CrossEncoderOptions { threads: Some(1), ..Default::default() })
                .context("loading the reranker model")?,
        ),
        None => match retriever.reranker() {
            Some(r) => Arc::clone(r),
            None => Arc::new(OfflineReranker::new(Some(embedder))),
        },
    };
    Ok(retriever.with_reranker(reranker))
}

/// Put a `--bm25-boosts` triple (title, headings, body) into `bm25`.
pub(crate) fn set_boosts(bm25: &mut Bm25Config, (title, headings, body): (f32, f32, f32)) {
    bm25.title_boost = title;
    bm25.headings_boost = headings;
    bm25.body_boost = body;
}

/// `TITLE,HEADINGS,BODY` as three non-negative boosts (`--bm25-boosts`).
pub(crate) fn parse_boosts(s: &str) -> Result<(f32, f32, f32), String> {
    let v: Vec<f32> =
        s.split(',').map(|x| x.trim().parse::<f32>().map_err(|e| format!("`{x}`: {e}"))).collect::<Result<_, _>>()?;
    match v[..] {
        [t, h, b] if v.iter().all(|x| x.is_finite() && *x >= 0.0) => Ok((t, h, b)),
        _ => Err("expected three non-negative numbers: TITLE,HEADINGS,BODY".into()),
    }
}

fn fusion_label(f: &FusionConfig) -> String {
    match *f {
        FusionConfig::Rrf { k } => format!("rrf k={k}"),
        FusionConfig::Weighted { bm25, dense } => format!("weighted {bm25:.2}/{dense:.2}"),
    }
}

/// bm25, dense, hybrid (default fusion) and hybrid+rerank.
fn main_variants(retriever: &Retriever, args: &EvalArgs) -> Vec<Variant> {
    let default_fusion = retriever.config().fusion;
    let mut v = vec![
        Variant::mode("bm25", SearchMode::Bm25),
        Variant::mode("dense", SearchMode::Dense),
        Variant::mode(format!("hybrid ({}, default)", fusion_label(&default_fusion)), SearchMode::Hybrid),
    ];
    match retriever.reranker() {
        Some(r) if !args.no_rerank => {
            v.push(Variant::mode(format!("hybrid+rerank ({})", r.name()), SearchMode::Rerank))
        }
        _ => v.push(Variant::unavailable("hybrid+rerank")),
    }
    v
}

/// Fusion variants of the sweep.
fn sweep_variants(default_candidates: usize) -> Vec<Variant> {
    let mut fusions: Vec<FusionConfig> = [10.0, 30.0, 60.0, 100.0].iter().map(|&k| FusionConfig::Rrf { k }).collect();
    for b in [0.2f32, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8] {
        fusions.push(FusionConfig::Weighted { bm25: b, dense: ((1.0 - b) * 100.0).round() / 100.0 });
    }
    let mut out = Vec::new();
    for depth in [default_candidates, 100, 200] {
        for f in &fusions {
            out.push(Variant::fused(format!("{} @{depth}", fusion_label(f)), *f).with_candidates(depth));
        }
    }
    out
}

fn run_all(
    retriever: &Retriever,
    variants: &[Variant],
    queries: &[EvalQuery],
    options: RunOptions,
) -> anyhow::Result<Vec<VariantResult>> {
    let mut out = Vec::with_capacity(variants.len());
    for v in variants {
        let pb = bar(queries.len(), &v.name);
        let t = Instant::now();
        let r = run_variant(retriever, v, queries, options, &mut |done, _| pb.set_position(done as u64))
            .with_context(|| format!("evaluating {}", v.name))?;
        pb.finish_and_clear();
        if v.available {
            eprintln!(
                "  {:<36} nDCG@10 {:.4}  ({} queries, {:.1} s)",
                v.name,
                r.mean.map_or(0.0, |m| m.ndcg_at_10),
                r.queries,
                t.elapsed().as_secs_f64()
            );
        }
        out.push(r);
    }
    Ok(out)
}

/// Mean nDCG@10 of a result over the queries whose position passes `keep`.
fn ndcg_where(r: &VariantResult, keep: impl Fn(usize) -> bool) -> f64 {
    let xs: Vec<f64> =
        r.per_query.iter().enumerate().filter(|(i, _)| keep(*i)).map(|(_, o)| o.metrics.ndcg_at_10).collect();
    if xs.is_empty() {
        0.0
    } else {
        xs.iter().sum::<f64>() / xs.len() as f64
    }
}

fn split_half(sweep: &[VariantResult], default: &VariantResult) -> Option<SplitHalf> {
    let best_on = |parity: usize| {
        sweep.iter().max_by(|a, b| ndcg_where(a, |i| i % 2 == parity).total_cmp(&ndcg_where(b, |i| i % 2 == parity)))
    };
    let odd = best_on(1)?;
    let even = best_on(0)?;
    Some(SplitHalf {
        chosen_on_odd: odd.variant.name.clone(),
        ndcg_on_even: ndcg_where(odd, |i| i % 2 == 0),
        default_ndcg_on_even: ndcg_where(default, |i| i % 2 == 0),
        chosen_on_even: even.variant.name.clone(),
        ndcg_on_odd: ndcg_where(even, |i| i % 2 == 1),
        default_ndcg_on_odd: ndcg_where(default, |i| i % 2 == 1),
    })
}

fn eval_beir(args: &EvalArgs, dir: &Path, files: &ModelFiles) -> anyhow::Result<BeirReport> {
    let mut dataset =
        BeirDataset::load(dir, &args.split).with_context(|| format!("loading the BEIR data set {}", dir.display()))?;
    if let Some(n) = args.limit {
        dataset.limit_queries(n);
    }
    eprintln!(
        "{}: {} documents, {} queries with {} judgments ({} split)",
        dataset.name,
        dataset.corpus.len(),
        dataset.queries.len(),
        dataset.judgment_count(),
        dataset.split
    );
    let index = {
        let mut embedder = Embedder::load(files, EmbedderOptions::default()).context("loading the embedding model")?;
        let pb = bar(dataset.corpus.len(), "indexing documents");
        let report = dataset
            .build_index(&args.data.data, files, &mut embedder, &mut |done, _| pb.set_position(done as u64))
            .context("indexing the corpus")?;
        pb.finish_and_clear();
        report
    };
    eprintln!(
        "index {}: generation {}, {} documents, {} chunks ({}; {} embedded, {} from cache, {:.0} s)",
        index.bot,
        index.generation,
        index.documents,
        index.chunks,
        if index.reused { "reused" } else { "built" },
        index.embedded,
        index.cached,
        index.seconds
    );
    let bot = dataset.bot_dir(&args.data.data)?;
    let retriever = open_retriever(&bot, files, dataset.queries.len(), args)?;
    let queries: Vec<EvalQuery> = dataset
        .queries
        .iter()
        .map(|q| EvalQuery {
            id: q.id.clone(),
            text: q.text.clone(),
            history: Vec::new(),
            qrels: dataset.qrels.get(&q.id).cloned().unwrap_or_default(),
            section_url: None,
            answerable: true,
        })
        .collect();
    let options = RunOptions::default();
    let main = run_all(&retriever, &main_variants(&retriever, args), &queries, options)?;
    let (sweep, split) = if args.sweep {
        let sweep = run_all(&retriever, &sweep_variants(retriever.config().candidates), &queries, options)?;
        let split = split_half(&sweep, &main[2]);
        (sweep, split)
    } else {
        (Vec::new(), None)
    };
    Ok(BeirReport {
        dataset: dataset.name.clone(),
        split: dataset.split.clone(),
        queries: queries.len(),
        judgments: dataset.judgment_count(),
        index,
        bm25: retriever.config().bm25,
        rows: main.iter().map(Row::of).collect(),
        sweep: sweep.iter().map(Row::of).collect(),
        split_half: split,
    })
}

fn eval_query(q: &docent_retrieval::eval::Question, history: Vec<String>) -> EvalQuery {
    let mut qrels = Qrels::new();
    if let (true, Some(url)) = (q.answerable, &q.expected_url) {
        qrels.insert(url.clone(), 1);
    }
    EvalQuery {
        id: q.id.clone(),
        text: q.question.clone(),
        history,
        qrels,
        section_url: q.expected_section_url(),
        answerable: q.answerable,
    }
}

fn samples(result: &VariantResult, queries: &[EvalQuery], mode: SearchMode) -> Vec<Sample> {
    let names = ConfidenceFeatures::names_for(mode);
    queries
        .iter()
        .filter_map(|q| {
            let c = result.outcome(&q.id)?.confidence?;
            Some(Sample {
                id: q.id.clone(),
                values: names.iter().map(|n| c.features.get(n)).collect(),
                answerable: q.answerable,
            })
        })
        .collect()
}

fn eval_questions(args: &EvalArgs, path: &Path, files: &ModelFiles) -> anyhow::Result<QuestionsReport> {
    let mut set = QuestionSet::load(path)?;
    if let Some(n) = args.limit {
        set = QuestionSet::parse(
            &set.questions
                .iter()
                .take(n)
                .map(|q| serde_json::to_string(q).unwrap_or_default())
                .collect::<Vec<_>>()
                .join("\n"),
        )
        .map_err(|(line, e)| anyhow::anyhow!("line {line}: {e}"))?;
    }
    let bot = BotDir::new(&args.data.data, &args.data.bot)?;
    let retriever = open_retriever(&bot, files, set.questions.len() * 3, args).with_context(|| {
        format!(
            "opening bot `{}` under {} (index the sample corpus with \
             `docent ingest corpus --base-url https://help.lumenledger.example/ --bot {} --data {}`)",
            args.data.bot,
            args.data.data.display(),
            args.data.bot,
            args.data.data.display()
        )
    })?;
    let snapshot = retriever.snapshot();
    eprintln!(
        "bot {}: generation {}, {} chunks; {} questions ({} direct, {} paraphrase, {} followup, {} unanswerable)",
        args.data.bot,
        snapshot.generation(),
        snapshot.chunk_count(),
        set.questions.len(),
        set.count(QuestionKind::Direct),
        set.count(QuestionKind::Paraphrase),
        set.count(QuestionKind::Followup),
        set.count(QuestionKind::Unanswerable)
    );
    let history_of = |q: &docent_retrieval::eval::Question| -> Vec<String> {
        set.history(q).into_iter().map(str::to_string).collect()
    };
    // Every question, follow-ups with their earlier turns: metrics over the answerable
    // ones, confidence features for all.
    let all: Vec<EvalQuery> = set.questions.iter().map(|q| eval_query(q, history_of(q))).collect();
    let mut followup_config = FollowupConfig::default();
    if let Some(w) = args.followup_decay {
        followup_config.bm25_decay = w;
    }
    if let Some(a) = args.followup_dense_current {
        followup_config.dense_current = a;
    }
    let with_history = RunOptions { history: true, chunk_level: true, followup: followup_config };
    let without_history = RunOptions { history: false, ..with_history };
    let variants = main_variants(&retriever, args);
    let main = run_all(&retriever, &variants, &all, with_history)?;

    let kinds = [QuestionKind::Direct, QuestionKind::Paraphrase, QuestionKind::Followup];
    let mut by_kind = Vec::new();
    for kind in kinds {
        let ids: Vec<&EvalQuery> = all.iter().filter(|q| set.get(&q.id).is_some_and(|x| x.kind == kind)).collect();
        for r in main.iter().filter(|r| r.variant.available) {
            by_kind.push((kind.to_string(), kind_row(r, &ids)));
        }
    }

    // Follow-ups without history, and a topic-switch control: non-follow-up questions
    // with the previous line as (irrelevant) history.
    let followups: Vec<EvalQuery> = all.iter().filter(|q| !q.history.is_empty()).cloned().collect();
    let previous = |same_page: bool| -> Vec<EvalQuery> {
        set.questions
            .iter()
            .filter(|q| q.answerable && q.kind != QuestionKind::Followup)
            .filter_map(|q| {
                let prev = set.previous_line(q)?;
                (prev.answerable && (prev.expected_url == q.expected_url) == same_page)
                    .then(|| eval_query(q, vec![prev.question.clone()]))
            })
            .collect()
    };
    let (same_page, switches) = (previous(true), previous(false));
    let mut followup = Vec::new();
    let mut topic_switch = Vec::new();
    let mut same_topic = Vec::new();
    for v in variants.iter().filter(|v| v.available) {
        let with = main.iter().find(|r| r.variant == *v).map(|r| kind_subset(r, &followups));
        let without = run_variant(&retriever, v, &followups, without_history, &mut |_, _| {})?;
        if let Some(with) = with {
            followup.push(followup_row(&v.name, &without, &with));
        }
        let sw_with = run_variant(&retriever, v, &switches, with_history, &mut |_, _| {})?;
        let sw_without = run_variant(&retriever, v, &switches, without_history, &mut |_, _| {})?;
        topic_switch.push(followup_row(&v.name, &sw_without, &sw_with));
        let st_with = run_variant(&retriever, v, &same_page, with_history, &mut |_, _| {})?;
        let st_without = run_variant(&retriever, v, &same_page, without_history, &mut |_, _| {})?;
        same_topic.push(followup_row(&v.name, &st_without, &st_with));
    }

    let sweep = if args.sweep {
        run_all(&retriever, &sweep_variants(retriever.config().candidates), &all, with_history)?
    } else {
        Vec::new()
    };

    // Confidence: per mode, the shipped model's verdicts and the fitting procedure
    // under leave-one-out.
    let shipped = ConfidenceModels::shipped();
    let mut confidence = Vec::new();
    let mut fitted: Vec<(SearchMode, CalibrationReport)> = Vec::new();
    for mode in [SearchMode::Bm25, SearchMode::Dense, SearchMode::Hybrid] {
        let Some(r) = main.iter().find(|r| r.variant.mode == mode && r.variant.available) else { continue };
        let samples = samples(r, &all, mode);
        let labels: Vec<bool> = samples.iter().map(|s| s.answerable).collect();
        let verdicts: Vec<bool> =
            all.iter().filter_map(|q| r.outcome(&q.id)?.confidence.map(|c| c.answerable)).collect();
        let scores: Vec<f32> = all.iter().filter_map(|q| r.outcome(&q.id)?.confidence.map(|c| c.score)).collect();
        let names = ConfidenceFeatures::names_for(mode);
        let report = calibrate::calibrate(&samples, names, DEFAULT_L2);
        confidence.push(ConfidenceRow {
            mode: mode.to_string(),
            answerable: labels.iter().filter(|&&a| a).count(),
            unanswerable: labels.iter().filter(|&&a| !a).count(),
            shipped: NoAnswerStats::of(&verdicts, &labels),
            shipped_auc: calibrate::auc(&scores, &labels),
            loo: report.loo,
            loo_auc: report.loo_auc,
            features: names.iter().map(|s| s.to_string()).collect(),
        });
        fitted.push((mode, report));
    }
    let fitted_confidence = if args.fit_confidence {
        let get = |m: SearchMode| fitted.iter().find(|(x, _)| *x == m).map(|(_, r)| r.fitted.clone());
        match (get(SearchMode::Bm25), get(SearchMode::Dense), get(SearchMode::Hybrid)) {
            (Some(bm25), Some(dense), Some(hybrid)) => Some(ConfidenceModels {
                fitted_on: format!(
                    "docent eval --questions {} --fit-confidence: {} questions ({} answerable, follow-ups with \
                     history) of bot `{}` (generation {}, {} chunks); standardised features, L2 logistic \
                     regression (lambda {DEFAULT_L2}), threshold maximising the F1 of 'no answer'",
                    path.display(),
                    all.len(),
                    all.iter().filter(|q| q.answerable).count(),
                    args.data.bot,
                    snapshot.generation(),
                    snapshot.chunk_count()
                ),
                bm25,
                dense,
                hybrid,
            }),
            _ => None,
        }
    } else {
        None
    };

    let mut details = Vec::new();
    if args.details {
        for r in main.iter().filter(|r| r.variant.available) {
            for (q, o) in set.questions.iter().zip(&r.per_query) {
                details.push(Detail {
                    id: q.id.clone(),
                    kind: q.kind,
                    mode: r.variant.mode.to_string(),
                    answerable: q.answerable,
                    question: q.question.clone(),
                    history: history_of(q),
                    outcome: o.clone(),
                });
            }
        }
    }
    Ok(QuestionsReport {
        bot: args.data.bot.clone(),
        generation: snapshot.generation(),
        chunks: snapshot.chunk_count(),
        questions: all.len(),
        answerable: all.iter().filter(|q| q.answerable).count(),
        rows: main.iter().map(Row::of).collect(),
        by_kind,
        sweep: sweep.iter().map(Row::of).collect(),
        followup,
        topic_switch,
        same_topic,
        confidence,
        confidence_model: shipped.fitted_on.clone(),
        followup_config,
        fitted_confidence,
        details,
        answers: if args.answers { Some(eval_answers(&retriever, &set)?) } else { None },
    })
}

/// Answer every question with the extractive generator and score the answers.
fn eval_answers(retriever: &Retriever, set: &QuestionSet) -> anyhow::Result<AnswersReport> {
    use docent_answer::extractive::ExtractiveGenerator;
    use docent_answer::{AnswerEvent, AnswerRequest, FinishReason, Generator, Role, Source, Turn};
    use futures::StreamExt;

    const K: usize = 5;
    let generator = ExtractiveGenerator::default();
    let (mut answerable, mut unanswerable, mut cites, mut first, mut refused_un, mut refused_ans) = (0, 0, 0, 0, 0, 0);
    let (mut by_retrieval, mut by_generator) = (0, 0);
    let mut times = Vec::new();
    let pb = bar(set.questions.len(), "answers (extractive)");
    for (n, q) in set.questions.iter().enumerate() {
        pb.set_position(n as u64);
        let history = set.history(q);
        let req = docent_retrieval::SearchRequest::new(q.question.clone()).with_k(K).with_mode(SearchMode::Hybrid);
        let resp = retriever.search_with_history(&req, &history).with_context(|| format!("searching {}", q.id))?;
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
        let request = AnswerRequest {
            question: q.question.clone(),
            history: history.iter().map(|t| Turn { role: Role::User, content: t.to_string() }).collect(),
            sources,
            answerable: resp.confidence.answerable,
            confidence: resp.confidence.score,
            system_prompt: None,
            fallback: "I couldn't find that in the help center.".into(),
            max_tokens: 300,
        };
        let t = Instant::now();
        let events = futures::executor::block_on(generator.generate(request.clone()).collect::<Vec<_>>());
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        let mut filter = docent_answer::citations::CitationFilter::new(request.sources.len());
        let mut finish = FinishReason::Error;
        for e in events {
            match e.with_context(|| format!("answering {}", q.id))? {
                AnswerEvent::Delta(d) => {
                    filter.push(&d);
                }
                AnswerEvent::Done { finish_reason, .. } => finish = finish_reason,
            }
        }
        filter.finish();
        let refused = finish == FinishReason::NoAnswer;
        if refused {
            if request.answerable {
                by_generator += 1;
            } else {
                by_retrieval += 1;
            }
        }
        if !q.answerable {
            unanswerable += 1;
            refused_un += usize::from(refused);
            continue;
        }
        answerable += 1;
        refused_ans += usize::from(refused);
        let want = q.expected_url.as_deref().unwrap_or_default();
        let pages: Vec<&str> = filter
            .cited_sources()
            .iter()
            .filter_map(|i| request.sources.get(i.wrapping_sub(1)))
            .map(|s| s.url.split('#').next().unwrap_or(&s.url))
            .collect();
        cites += usize::from(pages.contains(&want));
        first += usize::from(pages.first() == Some(&want));
    }
    pb.finish_and_clear();
    times.sort_by(f64::total_cmp);
    let share = |a: usize, b: usize| a as f64 / b.max(1) as f64;
    Ok(AnswersReport {
        generator: "extractive",
        mode: SearchMode::Hybrid.to_string(),
        k: K,
        answerable,
        unanswerable,
        cites_expected_page: share(cites, answerable),
        first_citation_expected_page: share(first, answerable),
        refused_unanswerable: share(refused_un, unanswerable),
        false_refusals: share(refused_ans, answerable),
        refused_by_retrieval: by_retrieval,
        refused_by_generator: by_generator,
        min_relevance: generator.config().min_relevance,
        answer_p50_ms: times.get(times.len() / 2).copied().unwrap_or(0.0),
    })
}

/// A row restricted to some queries (means recomputed from the per-query outcomes).
fn kind_row(r: &VariantResult, queries: &[&EvalQuery]) -> Row {
    let ids: Vec<&str> = queries.iter().map(|q| q.id.as_str()).collect();
    let outcomes: Vec<_> = r.per_query.iter().filter(|o| ids.contains(&o.id.as_str())).collect();
    let n = outcomes.len();
    let mean = |f: &dyn Fn(&QueryMetrics) -> f64| {
        if n == 0 {
            0.0
        } else {
            outcomes.iter().map(|o| f(&o.metrics)).sum::<f64>() / n as f64
        }
    };
    let rate = |f: &dyn Fn(&docent_retrieval::eval::QueryOutcome) -> Option<bool>| {
        let xs: Vec<bool> = outcomes.iter().filter_map(|o| f(o)).collect();
        (!xs.is_empty()).then(|| xs.iter().filter(|&&b| b).count() as f64 / xs.len() as f64)
    };
    Row {
        name: r.variant.name.clone(),
        queries: n,
        metrics: Some(QueryMetrics {
            ndcg_at_10: mean(&|m| m.ndcg_at_10),
            recall_at_10: mean(&|m| m.recall_at_10),
            recall_at_100: mean(&|m| m.recall_at_100),
            mrr_at_10: mean(&|m| m.mrr_at_10),
        }),
        page_hit_at_5: rate(&|o| o.page_hit_at_5),
        section_hit_at_5: rate(&|o| o.section_hit_at_5),
        search_p50_ms: r.search_p50_ms,
    }
}

fn kind_subset(r: &VariantResult, queries: &[EvalQuery]) -> VariantResult {
    let ids: Vec<&str> = queries.iter().map(|q| q.id.as_str()).collect();
    VariantResult {
        per_query: r.per_query.iter().filter(|o| ids.contains(&o.id.as_str())).cloned().collect(),
        ..r.clone()
    }
}

fn rate(r: &VariantResult, f: impl Fn(&docent_retrieval::eval::QueryOutcome) -> Option<bool>) -> Option<f64> {
    let xs: Vec<bool> = r.per_query.iter().filter_map(f).collect();
    (!xs.is_empty()).then(|| xs.iter().filter(|&&b| b).count() as f64 / xs.len() as f64)
}

fn followup_row(name: &str, without: &VariantResult, with: &VariantResult) -> FollowupRow {
    let mrr = |r: &VariantResult| {
        let n = r.per_query.len().max(1) as f64;
        r.per_query.iter().map(|o| o.metrics.mrr_at_10).sum::<f64>() / n
    };
    FollowupRow {
        mode: name.to_string(),
        questions: with.per_query.len(),
        mrr_at_10_without_history: mrr(without),
        mrr_at_10_with_history: mrr(with),
        page_hit_at_5_without_history: rate(without, |o| o.page_hit_at_5).unwrap_or(0.0),
        page_hit_at_5_with_history: rate(with, |o| o.page_hit_at_5).unwrap_or(0.0),
        section_hit_at_5_without_history: rate(without, |o| o.section_hit_at_5),
        section_hit_at_5_with_history: rate(with, |o| o.section_hit_at_5),
    }
}

fn f3(x: Option<f64>) -> String {
    x.map_or_else(|| "n/a".to_string(), |v| format!("{v:.3}"))
}

fn table(rows: &[Row], chunk_level: bool) -> String {
    let mut out = String::new();
    let width = rows.iter().map(|r| r.name.chars().count()).max().unwrap_or(6).max(6);
    out.push_str(&format!("{:<width$}  nDCG@10  R@10   R@100  MRR@10", "method"));
    if chunk_level {
        out.push_str("  page@5  section@5");
    }
    out.push('\n');
    for r in rows {
        let m = r.metrics;
        out.push_str(&format!(
            "{:<width$}  {:<7}  {:<5}  {:<5}  {:<6}",
            r.name,
            f3(m.map(|m| m.ndcg_at_10)),
            f3(m.map(|m| m.recall_at_10)),
            f3(m.map(|m| m.recall_at_100)),
            f3(m.map(|m| m.mrr_at_10)),
        ));
        if chunk_level {
            out.push_str(&format!("  {:<6}  {:<9}", f3(r.page_hit_at_5), f3(r.section_hit_at_5)));
        }
        out.push('\n');
    }
    out
}

fn beir_text(r: &BeirReport) -> String {
    let mut out = format!(
        "{} ({} split): {} queries, {} judgments; bot {} generation {}: {} documents, {} chunks\n\n",
        r.dataset, r.split, r.queries, r.judgments, r.index.bot, r.index.generation, r.index.documents, r.index.chunks
    );
    let b = &r.bm25;
    out.push_str(&format!(
        "(BM25 boosts title {} / headings {} / body {}; documents ranked by their best chunk)\n",
        b.title_boost, b.headings_boost, b.body_boost
    ));
    out.push_str(&table(&r.rows, false));
    if !r.sweep.is_empty() {
        out.push_str("\nfusion sweep (hybrid; @N = candidates per retriever)\n");
        out.push_str(&table(&r.sweep, false));
    }
    if let Some(s) = &r.split_half {
        out.push_str(&format!(
            "\nsplit-half check: best on odd queries = {} → {:.4} on even (default {:.4}); \
             best on even = {} → {:.4} on odd (default {:.4})\n",
            s.chosen_on_odd,
            s.ndcg_on_even,
            s.default_ndcg_on_even,
            s.chosen_on_even,
            s.ndcg_on_odd,
            s.default_ndcg_on_odd
        ));
    }
    out
}

fn questions_text(r: &QuestionsReport) -> String {
    let mut out = format!(
        "bot {} (generation {}, {} chunks): {} questions, {} answerable (relevance = expected page; \
         follow-ups searched with their earlier turns)\n\n",
        r.bot, r.generation, r.chunks, r.questions, r.answerable
    );
    out.push_str(&table(&r.rows, true));
    out.push_str("\nby kind\n");
    let rows: Vec<Row> =
        r.by_kind.iter().map(|(k, row)| Row { name: format!("{k:<10} {}", row.name), ..row.clone() }).collect();
    out.push_str(&table(&rows, true));
    if !r.sweep.is_empty() {
        out.push_str("\nfusion sweep (hybrid; @N = candidates per retriever)\n");
        out.push_str(&table(&r.sweep, true));
    }
    let fu = |title: &str, rows: &[FollowupRow]| {
        let mut s = format!(
            "\n{title}\nmode{:<32}  n    MRR@10 without → with   page@5 without → with   section@5 without → with\n",
            ""
        );
        for f in rows {
            s.push_str(&format!(
                "{:<36}  {:<3}  {:.3} → {:.3}            {:.3} → {:.3}            {} → {}\n",
                f.mode,
                f.questions,
                f.mrr_at_10_without_history,
                f.mrr_at_10_with_history,
                f.page_hit_at_5_without_history,
                f.page_hit_at_5_with_history,
                f3(f.section_hit_at_5_without_history),
                f3(f.section_hit_at_5_with_history)
            ));
        }
        s
    };
    out.push_str(&fu("follow-up questions: without vs with the earlier turns", &r.followup));
    out.push_str(&fu(
        "topic switch: non-follow-ups after a question about another page, with that question as history",
        &r.topic_switch,
    ));
    out.push_str(&fu(
        "same topic: non-follow-ups after a question about the same page, with that question as history",
        &r.same_topic,
    ));
    out.push_str(&format!("\nno-answer confidence (shipped model: {})\n", r.confidence_model));
    out.push_str("mode    answerable/unanswerable  shipped P / R / F1 (AUC)    leave-one-out P / R / F1 (AUC)   LOO false refusals\n");
    for c in &r.confidence {
        out.push_str(&format!(
            "{:<7} {:>3} / {:<3}                {:.3} / {:.3} / {:.3} ({:.3})   {:.3} / {:.3} / {:.3} ({:.3})      {:.3}\n",
            c.mode,
            c.answerable,
            c.unanswerable,
            c.shipped.precision,
            c.shipped.recall,
            c.shipped.f1,
            c.shipped_auc,
            c.loo.precision,
            c.loo.recall,
            c.loo.f1,
            c.loo_auc,
            c.loo.false_refusal_rate
        ));
    }
    if let Some(a) = &r.answers {
        out.push_str(&format!(
            "\nanswers ({} generator, {} top {}, follow-ups with history; min_relevance {})\n\
             answerable questions citing the expected page   {:.3}  (first citation: {:.3}; {} questions)\n\
             unanswerable questions refused (no_answer)      {:.3}  ({} questions)\n\
             answerable questions refused                    {:.3}\n\
             refusals by retrieval confidence / by generator {} / {}; answer p50 {:.3} ms\n",
            a.generator,
            a.mode,
            a.k,
            a.min_relevance,
            a.cites_expected_page,
            a.first_citation_expected_page,
            a.answerable,
            a.refused_unanswerable,
            a.unanswerable,
            a.false_refusals,
            a.refused_by_retrieval,
            a.refused_by_generator,
            a.answer_p50_ms
        ));
    }
    out
}
