use std::path::{Path, PathBuf};

use crate::IndexError;

/// Sub-directory of the models dir holding the embedding model and its tokenizer.
pub const EMBED_MODEL_DIR: &str = "all-minilm-l6-v2";
/// Sub-directory of the models dir holding the ONNX Runtime shared library.
pub const ORT_DIR: &str = "onnxruntime";
/// File name of the ONNX Runtime library shipped by the `onnxruntime` wheel.
pub const ORT_LIB: &str = "libonnxruntime.so.1.32.0";

/// The offline model files, located on disk.
///
/// Laid out by `make models` (`scripts/fetch-models.sh`):
/// `<models>/all-minilm-l6-v2/{model.onnx,query_int8.onnx,tokenizer.json,...}` and
/// `<models>/onnxruntime/libonnxruntime.so.1.32.0`.
#[derive(Debug, Clone)]
pub struct ModelFiles {
    /// The models directory itself.
    pub root: PathBuf,
    /// Directory of the embedding model (ONNX + tokenizer files).
    pub embed_dir: PathBuf,
    /// The ONNX Runtime shared library.
    pub ort_library: PathBuf,
}

impl ModelFiles {
    /// Find the models directory: `explicit` (from `--models`), else `DOCENT_MODELS`,
    /// else `./models`, else `models/` next to the workspace this crate was built in
    /// (so `cargo test` works from any crate directory).
    pub fn locate(explicit: Option<&Path>) -> Result<Self, IndexError> {
        let mut candidates: Vec<PathBuf> = Vec::new();
        if let Some(p) = explicit {
            // An explicit choice is the only candidate: silently falling back would hide typos.
            return Self::at(p);
        }
        if let Some(p) = std::env::var_os("DOCENT_MODELS") {
            return Self::at(Path::new(&p));
        }
        candidates.push(PathBuf::from("models"));
        candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models"));
        let mut last_err = None;
        for c in &candidates {
            match Self::at(c) {
                Ok(files) => return Ok(files),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| IndexError::ModelMissing { detail: "no models directory".into() }))
    }

    /// Use the models directory at `root`, checking that every needed file is there.
    pub fn at(root: &Path) -> Result<Self, IndexError> {
        let embed_dir = root.join(EMBED_MODEL_DIR);
        let ort_library = root.join(ORT_DIR).join(ORT_LIB);
        let files = ModelFiles { root: root.to_path_buf(), embed_dir, ort_library };
        for needed in files.required_files() {
            if !needed.is_file() {
                return Err(IndexError::ModelMissing { detail: format!("{} does not exist", needed.display()) });
            }
        }
        Ok(files)
    }

    fn required_files(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = [
            "model.onnx",
            crate::embed::QUERY_GRAPH_FILE,
            "tokenizer.json",
            "config.json",
            "special_tokens_map.json",
            "tokenizer_config.json",
        ]
        .iter()
        .map(|f| self.embed_dir.join(f))
        .collect();
        v.push(self.ort_library.clone());
        v
    }

    /// Path of the tokenizer definition (also used by the chunker to count tokens).
    pub fn tokenizer_json(&self) -> PathBuf {
        self.embed_dir.join("tokenizer.json")
    }

    /// Load the model's tokenizer, for token counting outside the model.
    pub fn load_tokenizer(&self) -> Result<tokenizers::Tokenizer, IndexError> {
        tokenizers::Tokenizer::from_file(self.tokenizer_json())
            .map_err(|e| IndexError::Model(format!("loading {}: {e}", self.tokenizer_json().display())))
    }

    pub(crate) fn read(&self, name: &str) -> Result<Vec<u8>, IndexError> {
        let p = self.embed_dir.join(name);
        std::fs::read(&p).map_err(IndexError::io("reading", p))
    }
}
