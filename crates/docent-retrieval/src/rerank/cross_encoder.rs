//! A cross-encoder reranker: an ONNX model that reads `[CLS] query [SEP] passage [SEP]`
//! and outputs one relevance logit, run through fastembed's user-defined reranker.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use docent_index::ModelFiles;
use fastembed::{RerankInitOptionsUserDefined, TextRerank, TokenizerFiles, UserDefinedRerankingModel};
use tracing::{debug_span, info};

use super::{CancelToken, RerankBudget, RerankError, RerankInput, Reranker};

/// Files a cross-encoder model directory must hold.
pub const CROSS_ENCODER_FILES: [&str; 5] =
    ["model.onnx", "tokenizer.json", "config.json", "special_tokens_map.json", "tokenizer_config.json"];

/// How a [`CrossEncoder`] is loaded and run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrossEncoderOptions {
    /// Token window of the model (the tokenizer's `model_max_length` still caps it). A
    /// call's [`RerankBudget::max_tokens`] may lower it, never raise it.
    pub max_length: usize,
    /// Pairs per model call; cancellation and the deadline are checked between calls.
    pub batch_size: usize,
    /// ONNX Runtime intra-op threads; `None` uses every core.
    pub threads: Option<usize>,
}

impl Default for CrossEncoderOptions {
    fn default() -> Self {
        CrossEncoderOptions { max_length: 512, batch_size: 4, threads: None }
    }
}

/// An ONNX cross-encoder loaded from an operator-configured directory.
///
/// The directory holds `model.onnx` (inputs `input_ids`, `attention_mask` and optionally
/// `token_type_ids`, int64 `[batch, seq]`; output `logits`, `[batch, 1]` or
/// `[batch, n]`, column 0 is the score) and the tokenizer files of
/// [`CROSS_ENCODER_FILES`]. Loading runs one probe pair, so a model with the wrong
/// output name or shape is refused at start-up with a clear error, not at the first
/// query. One model behind a mutex: concurrent reranks take turns.
pub struct CrossEncoder {
    name: String,
    dir: PathBuf,
    options: CrossEncoderOptions,
    /// Token window after loading (the options' and the tokenizer's limits).
    window: usize,
    model: Mutex<TextRerank>,
}

impl std::fmt::Debug for CrossEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrossEncoder").field("dir", &self.dir).field("options", &self.options).finish()
    }
}

impl CrossEncoder {
    /// Load the model in `dir`. `runtime` locates the ONNX Runtime library (it sets
    /// `ORT_DYLIB_PATH` once per process, like the embedder's loader).
    pub fn load(dir: &Path, runtime: &ModelFiles, options: CrossEncoderOptions) -> Result<Self, RerankError> {
        let _span = debug_span!("cross_encoder_load", dir = %dir.display()).entered();
        let invalid = |detail: String| RerankError::InvalidModel { dir: dir.to_path_buf(), detail };
        if options.batch_size == 0 || options.max_length < 8 {
            return Err(invalid(format!(
                "batch_size must be at least 1 and max_length at least 8 (got {} and {})",
                options.batch_size, options.max_length
            )));
        }
        if !dir.is_dir() {
            return Err(invalid(format!(
                "is not a directory (expected {} from a cross-encoder export)",
                CROSS_ENCODER_FILES.join(", ")
            )));
        }
        let missing: Vec<&str> = CROSS_ENCODER_FILES.iter().copied().filter(|f| !dir.join(f).is_file()).collect();
        if !missing.is_empty() {
            return Err(invalid(format!("missing {} (a cross-encoder directory holds {})", missing.join(", "), {
                CROSS_ENCODER_FILES.join(", ")
            })));
        }
        docent_index::init_onnx_runtime(runtime).map_err(|e| invalid(format!("ONNX Runtime: {e}")))?;
        let read = |name: &str| std::fs::read(dir.join(name)).map_err(|e| invalid(format!("reading {name}: {e}")));
        let tokenizer_files = TokenizerFiles {
            tokenizer_file: read("tokenizer.json")?,
            config_file: read("config.json")?,
            special_tokens_map_file: read("special_tokens_map.json")?,
            tokenizer_config_file: read("tokenizer_config.json")?,
        };
        let user_model = UserDefinedRerankingModel::new(dir.join("model.onnx"), tokenizer_files);
        let mut init = RerankInitOptionsUserDefined::new().with_max_length(options.max_length);
        if let Some(t) = options.threads {
            init = init.with_intra_threads(t);
        }
        // ort reports a malformed graph as an error, but guard against a panic deep in
        // the runtime too: an operator's bad file must not take the process down.
        let loaded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            TextRerank::try_new_from_user_defined(user_model, init)
        }))
        .map_err(|_| invalid("ONNX Runtime panicked while loading model.onnx".into()))?;
        let mut model = loaded.map_err(|e| invalid(format!("loading model.onnx: {e}")))?;
        match model.rerank("probe", ["probe passage"].as_slice(), false, Some(1)) {
            Ok(r) if r.len() == 1 && r[0].score.is_finite() => {}
            Ok(r) => return Err(invalid(format!("the probe pair gave {} scores ({:?}), expected one finite score", r.len(), r))),
            Err(fastembed::Error::OutputKeyMissing { key }) => {
                return Err(invalid(format!(
                    "the graph has no output named `{key}`; a cross-encoder for Docent must output its score as `logits` ([batch, 1])"
                )))
            }
            Err(e) => return Err(invalid(format!("running a probe pair: {e}"))),
        }
        let window = model.tokenizer.get_truncation().map_or(options.max_length, |t| t.max_length);
        let name = format!(
            "cross-encoder:{}",
            dir.file_name().map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into_owned())
        );
        info!(dir = %dir.display(), max_length = options.max_length, "cross-encoder loaded");
        Ok(CrossEncoder { name, dir: dir.to_path_buf(), options, window, model: Mutex::new(model) })
    }

    /// The directory the model came from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Tokens of one pair at most (the options' limit and the tokenizer's
    /// `model_max_length`, whichever is smaller).
    pub fn max_tokens(&self) -> usize {
        self.window
    }

    /// The options it was loaded with.
    pub fn options(&self) -> &CrossEncoderOptions {
        &self.options
    }

    fn lock(&self) -> MutexGuard<'_, TextRerank> {
        self.model.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn failed(&self, detail: String) -> RerankError {
        RerankError::Failed { reranker: self.name.clone(), detail }
    }
}

impl Reranker for CrossEncoder {
    fn name(&self) -> &str {
        &self.name
    }

    fn rerank(
        &self,
        query: &str,
        passages: &[RerankInput<'_>],
        budget: &RerankBudget,
        cancel: &CancelToken,
    ) -> Result<Vec<f32>, RerankError> {
        let total = passages.len();
        let mut scores: Vec<f32> = Vec::with_capacity(total);
        budget.check(cancel, 0, total)?;
        if total == 0 {
            return Ok(scores);
        }
        let mut model = self.lock();
        if let Some(t) = model.tokenizer.get_truncation_mut() {
            // The load-time window, lowered by this call's budget when it asks for less.
            t.max_length = self.window.min(budget.max_tokens).max(8);
        }
        for batch in passages.chunks(self.options.batch_size) {
            budget.check(cancel, scores.len(), total)?;
            let texts: Vec<&str> = batch.iter().map(|p| p.text).collect();
            let results = model
                .rerank(query, texts.as_slice(), false, Some(batch.len()))
                .map_err(|e| self.failed(e.to_string()))?;
            if results.len() != batch.len() {
                return Err(self.failed(format!("{} scores for a batch of {}", results.len(), batch.len())));
            }
            let base = scores.len();
            scores.resize(base + batch.len(), f32::NAN);
            for r in results {
                if let Some(slot) = scores.get_mut(base + r.index) {
                    *slot = r.score;
                }
            }
        }
        if scores.iter().any(|s| !s.is_finite()) {
            return Err(self.failed("the model returned a score that is not finite".into()));
        }
        Ok(scores)
    }
}
