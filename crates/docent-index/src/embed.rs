use std::sync::OnceLock;

use fastembed::{
    InitOptionsUserDefined, Pooling, QuantizationMode, TextEmbedding, TokenizerFiles, UserDefinedEmbeddingModel,
};
use tracing::{debug_span, info};

use crate::{IndexError, ModelFiles, ModelInfo};

/// Id recorded in every manifest for vectors produced by this model.
pub const MODEL_ID: &str = "sentence-transformers/all-MiniLM-L6-v2@int8-static";
/// Output dimension of the model.
pub const MODEL_DIM: usize = 384;
/// Token window: the model's training setting (the shipped tokenizer says 128; we override).
pub const MAX_LENGTH: usize = 256;

/// File of the query-side graph, derived from `model.onnx` by `make models`
/// (`scripts/quantize-query-model.py`).
pub const QUERY_GRAPH_FILE: &str = "query_int8.onnx";

/// Which ONNX graph of the model an [`Embedder`] runs.
///
/// Both compute all-MiniLM-L6-v2 from the same int8 weights. The shipped graph
/// multiplies in fp32 (ONNX Runtime folds its int8 weights back to fp32 at load), and
/// every document vector of an index comes from it. The query graph quantizes
/// activations per call and multiplies in int8 (`MatMulInteger`): about twice as fast
/// for one short query, with vectors within cosine 0.988 of the shipped graph's
/// (docs/BENCHMARKS.md: retrieval quality with it on both evaluation sets). Its
/// vectors depend on the other texts of a batch, so it is for one text per call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelGraph {
    /// `model.onnx`: documents, and queries when exact agreement with them matters.
    #[default]
    Shipped,
    /// `query_int8.onnx`: queries, one per call.
    QueryInt8,
}

impl std::str::FromStr for ModelGraph {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "shipped" => Ok(ModelGraph::Shipped),
            "query-int8" => Ok(ModelGraph::QueryInt8),
            other => Err(format!("unknown model graph `{other}` (use shipped or query-int8)")),
        }
    }
}

impl ModelGraph {
    /// The name used by flags and `docent.toml` (`shipped`, `query-int8`).
    pub fn name(self) -> &'static str {
        match self {
            ModelGraph::Shipped => "shipped",
            ModelGraph::QueryInt8 => "query-int8",
        }
    }

    /// The graph's file in the model directory.
    pub fn file(self) -> &'static str {
        match self {
            ModelGraph::Shipped => "model.onnx",
            ModelGraph::QueryInt8 => QUERY_GRAPH_FILE,
        }
    }
}

/// Options for [`Embedder::load`].
#[derive(Debug, Clone)]
pub struct EmbedderOptions {
    /// Texts per model call. Small batches were fastest on 2-core machines.
    pub batch_size: usize,
    /// ONNX Runtime intra-op threads; `None` uses every core.
    pub threads: Option<usize>,
    /// Which graph to run.
    pub graph: ModelGraph,
}

impl Default for EmbedderOptions {
    fn default() -> Self {
        EmbedderOptions { batch_size: 8, threads: None, graph: ModelGraph::Shipped }
    }
}

impl EmbedderOptions {
    /// One query per call on one intra-op thread, with `graph` (the server's and the
    /// benchmarks' query embedder).
    pub fn queries(graph: ModelGraph) -> Self {
        EmbedderOptions { batch_size: 1, threads: Some(1), graph }
    }
}

/// The sentence embedding model (all-MiniLM-L6-v2, int8 ONNX, mean pooling, normalised).
///
/// `embed` takes `&mut self`: a server shares one through a pool or a worker thread.
pub struct Embedder {
    model: TextEmbedding,
    options: EmbedderOptions,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder").field("model", &MODEL_ID).field("options", &self.options).finish()
    }
}

static ORT_PATH: OnceLock<Result<(), String>> = OnceLock::new();

/// Point ONNX Runtime at the shared library before the first session exists.
///
/// Without it ort panics instead of returning an error, so we check the file ourselves.
fn init_runtime(files: &ModelFiles) -> Result<(), IndexError> {
    let result = ORT_PATH.get_or_init(|| {
        if std::env::var_os("ORT_DYLIB_PATH").is_none() {
            if !files.ort_library.is_file() {
                return Err(format!("{} does not exist", files.ort_library.display()));
            }
            let abs = std::fs::canonicalize(&files.ort_library).map_err(|e| e.to_string())?;
            // SAFETY-ish: set once, before any ONNX Runtime thread exists (guarded by the OnceLock).
            std::env::set_var("ORT_DYLIB_PATH", abs);
        }
        Ok(())
    });
    result.clone().map_err(|detail| IndexError::ModelMissing { detail })
}

/// Point ONNX Runtime at the shared library of `files` (sets `ORT_DYLIB_PATH` once per
/// process, unless it is already set), for other ONNX models than the embedder (a
/// cross-encoder reranker). Fails with [`IndexError::ModelMissing`] when the library is
/// not there, instead of letting ort panic at the first session.
pub fn init_onnx_runtime(files: &ModelFiles) -> Result<(), IndexError> {
    init_runtime(files)
}

impl Embedder {
    /// Load the model from local files (never from the network).
    pub fn load(files: &ModelFiles, options: EmbedderOptions) -> Result<Self, IndexError> {
        let _span = debug_span!("embedder_load", dir = %files.embed_dir.display()).entered();
        init_runtime(files)?;
        let tokenizer_files = TokenizerFiles {
            tokenizer_file: files.read("tokenizer.json")?,
            config_file: files.read("config.json")?,
            special_tokens_map_file: files.read("special_tokens_map.json")?,
            tokenizer_config_file: files.read("tokenizer_config.json")?,
        };
        if options.graph == ModelGraph::QueryInt8 && options.batch_size != 1 {
            return Err(IndexError::Model(format!(
                "the query graph embeds one text per call (batch size {} asked)",
                options.batch_size
            )));
        }
        let user_model = UserDefinedEmbeddingModel::new(files.read(options.graph.file())?, tokenizer_files)
            .with_pooling(Pooling::Mean)
            .with_quantization(QuantizationMode::Static);
        let mut init = InitOptionsUserDefined::new().with_max_length(MAX_LENGTH);
        if let Some(t) = options.threads {
            init = init.with_intra_threads(t);
        }
        let model = TextEmbedding::try_new_from_user_defined(user_model, init)
            .map_err(|e| IndexError::Model(format!("loading {}: {e}", files.embed_dir.display())))?;
        info!(model = MODEL_ID, graph = options.graph.file(), dim = MODEL_DIM, "embedding model loaded");
        Ok(Embedder { model, options })
    }

    /// What this model writes into manifests.
    pub fn info(&self) -> ModelInfo {
        Self::model_info()
    }

    /// The manifest description of the model, without loading it.
    pub fn model_info() -> ModelInfo {
        ModelInfo { id: MODEL_ID.to_string(), dim: MODEL_DIM, max_length: MAX_LENGTH }
    }

    /// The configured batch size.
    pub fn batch_size(&self) -> usize {
        self.options.batch_size
    }

    /// Embed texts; returns one normalised vector of [`MODEL_DIM`] floats per text.
    pub fn embed<S: AsRef<str> + Send + Sync>(&mut self, texts: &[S]) -> Result<Vec<Vec<f32>>, IndexError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let _span = debug_span!("embed", n = texts.len()).entered();
        let vectors =
            self.model.embed(texts, Some(self.options.batch_size)).map_err(|e| IndexError::Model(e.to_string()))?;
        if let Some(v) = vectors.iter().find(|v| v.len() != MODEL_DIM) {
            return Err(IndexError::Dimension { got: v.len(), want: MODEL_DIM });
        }
        Ok(vectors)
    }
}
