use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use tracing::{info, warn};

use crate::{ContentHash, IndexError};

const MAGIC: &[u8; 8] = b"DOCENTEC";
const VERSION: u32 = 1;

/// Embeddings keyed by the hash of the text they embed, kept across ingests.
///
/// Re-ingest re-embeds only chunks whose text changed: every other vector comes from
/// here. The file is an append-only log (`header`, then `hash ‖ dim × f32` records),
/// appended after every batch, so even an ingest that is killed half-way leaves its
/// work for the next run. A torn last record is ignored on load; a different model
/// (id or dimension in the header) starts an empty cache. After a successful ingest
/// [`EmbeddingCache::compact`] rewrites it with only the live chunks.
pub struct EmbeddingCache {
    path: PathBuf,
    model_id: String,
    dim: usize,
    map: HashMap<ContentHash, Box<[f32]>>,
    appender: Option<BufWriter<File>>,
}

impl std::fmt::Debug for EmbeddingCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddingCache").field("path", &self.path).field("entries", &self.map.len()).finish()
    }
}

fn header(model_id: &str, dim: usize) -> Vec<u8> {
    let mut h = Vec::with_capacity(20 + model_id.len());
    h.extend_from_slice(MAGIC);
    h.extend_from_slice(&VERSION.to_le_bytes());
    h.extend_from_slice(&(dim as u32).to_le_bytes());
    h.extend_from_slice(&(model_id.len() as u32).to_le_bytes());
    h.extend_from_slice(model_id.as_bytes());
    h
}

impl EmbeddingCache {
    /// Open (or start) the cache at `path` for vectors of this model.
    pub fn open(path: &Path, model_id: &str, dim: usize) -> Result<Self, IndexError> {
        let mut cache = EmbeddingCache {
            path: path.to_path_buf(),
            model_id: model_id.to_string(),
            dim,
            map: HashMap::new(),
            appender: None,
        };
        let mut bytes = Vec::new();
        match File::open(path) {
            Ok(mut f) => {
                f.read_to_end(&mut bytes).map_err(IndexError::io("reading", path))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(IndexError::io("opening", path)(e)),
        }
        let head = header(model_id, dim);
        if bytes.starts_with(&head) {
            let record = 32 + dim * 4;
            let body = &bytes[head.len()..];
            let whole = body.len() / record;
            if body.len() % record != 0 {
                warn!(path = %path.display(), "embedding cache ends with a torn record (interrupted ingest); ignoring it");
            }
            for i in 0..whole {
                let r = &body[i * record..(i + 1) * record];
                let mut h = [0u8; 32];
                h.copy_from_slice(&r[..32]);
                let v: Box<[f32]> =
                    r[32..].chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
                cache.map.insert(ContentHash(h), v);
            }
            info!(entries = cache.map.len(), "embedding cache loaded");
        } else if !bytes.is_empty() {
            warn!(path = %path.display(), "embedding cache is for another model or format; starting a new one");
        }
        // Rewrite a clean file (drops a torn tail or a foreign header) and append from there.
        cache.rewrite(|_| true)?;
        Ok(cache)
    }

    /// Number of cached vectors.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The cached vector for a text hash.
    pub fn get(&self, hash: &ContentHash) -> Option<&[f32]> {
        self.map.get(hash).map(|v| &v[..])
    }

    /// Add vectors and append them to the file (flushed, so a crash keeps them).
    pub fn insert_batch<'a>(
        &mut self,
        items: impl IntoIterator<Item = (ContentHash, &'a [f32])>,
    ) -> Result<(), IndexError> {
        let Some(out) = self.appender.as_mut() else {
            return Ok(());
        };
        for (h, v) in items {
            if v.len() != self.dim {
                return Err(IndexError::Dimension { got: v.len(), want: self.dim });
            }
            if self.map.contains_key(&h) {
                continue;
            }
            let mut rec = Vec::with_capacity(32 + v.len() * 4);
            rec.extend_from_slice(&h.0);
            for x in v {
                rec.extend_from_slice(&x.to_le_bytes());
            }
            out.write_all(&rec).map_err(IndexError::io("appending to", &self.path))?;
            self.map.insert(h, v.into());
        }
        out.flush().map_err(IndexError::io("flushing", &self.path))
    }

    /// Keep only the entries `keep` accepts (the live generation's chunks) and rewrite
    /// the file atomically.
    pub fn compact(&mut self, keep: impl Fn(&ContentHash) -> bool) -> Result<usize, IndexError> {
        self.map.retain(|h, _| keep(h));
        self.rewrite(|_| true)?;
        Ok(self.map.len())
    }

    fn rewrite(&mut self, keep: impl Fn(&ContentHash) -> bool) -> Result<(), IndexError> {
        self.appender = None;
        if let Some(parent) = self.path.parent() {
            fs::create_dir_all(parent).map_err(IndexError::io("creating", parent))?;
        }
        let tmp = self.path.with_extension("cache.tmp");
        {
            let f = File::create(&tmp).map_err(IndexError::io("creating", &tmp))?;
            let mut w = BufWriter::new(f);
            w.write_all(&header(&self.model_id, self.dim)).map_err(IndexError::io("writing", &tmp))?;
            for (h, v) in self.map.iter().filter(|(h, _)| keep(h)) {
                w.write_all(&h.0).map_err(IndexError::io("writing", &tmp))?;
                for x in v.iter() {
                    w.write_all(&x.to_le_bytes()).map_err(IndexError::io("writing", &tmp))?;
                }
            }
            let f = w.into_inner().map_err(|e| IndexError::io("flushing", &tmp)(e.into_error()))?;
            f.sync_all().map_err(IndexError::io("syncing", &tmp))?;
        }
        fs::rename(&tmp, &self.path).map_err(IndexError::io("renaming", &self.path))?;
        let f = File::options().append(true).open(&self.path).map_err(IndexError::io("opening", &self.path))?;
        self.appender = Some(BufWriter::new(f));
        Ok(())
    }
}
