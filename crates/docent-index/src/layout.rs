use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::IndexError;

/// Name of the pointer file that names the live generation.
const CURRENT: &str = "CURRENT";
/// Prefix of generation directories (`gen-000042`).
const GEN_PREFIX: &str = "gen-";

/// The directory of one bot under the data dir: `<data>/bots/<bot>/`.
///
/// Holds `CURRENT`, the `gen-*` generation directories, the embedding cache and the
/// ingest lock. All path knowledge about that layout lives here.
#[derive(Debug, Clone)]
pub struct BotDir {
    bot: String,
    dir: PathBuf,
}

impl BotDir {
    /// The bot's directory under `data_dir`, after validating the bot id.
    pub fn new(data_dir: impl AsRef<Path>, bot: &str) -> Result<Self, IndexError> {
        let ok = !bot.is_empty()
            && bot.len() <= 64
            && bot.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !ok {
            return Err(IndexError::InvalidBotId(bot.to_string()));
        }
        Ok(BotDir { bot: bot.to_string(), dir: data_dir.as_ref().join("bots").join(bot) })
    }

    /// Bot id.
    pub fn bot(&self) -> &str {
        &self.bot
    }

    /// The directory itself.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Directory of generation `n`.
    pub fn generation_dir(&self, n: u64) -> PathBuf {
        self.dir.join(format!("{GEN_PREFIX}{n:06}"))
    }

    /// Path of the embedding cache file.
    pub fn embedding_cache_path(&self) -> PathBuf {
        self.dir.join("embeddings.cache")
    }

    /// The live generation number, if any has been published.
    pub fn current(&self) -> Result<Option<u64>, IndexError> {
        let p = self.dir.join(CURRENT);
        match fs::read_to_string(&p) {
            Ok(s) => {
                let name = s.trim();
                let n = name.strip_prefix(GEN_PREFIX).and_then(|d| d.parse::<u64>().ok()).ok_or_else(|| {
                    IndexError::Corrupt { path: p.clone(), detail: format!("unexpected content `{name}`") }
                })?;
                Ok(Some(n))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(IndexError::io("reading", p)(e)),
        }
    }

    /// Every generation directory on disk, published or not, in increasing order.
    pub fn generations_on_disk(&self) -> Result<Vec<u64>, IndexError> {
        let mut out = Vec::new();
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(IndexError::io("listing", &self.dir)(e)),
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if let Some(n) = name.to_str().and_then(|s| s.strip_prefix(GEN_PREFIX)).and_then(|d| d.parse::<u64>().ok())
            {
                out.push(n);
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    /// Atomically make generation `n` the live one: write a temp file, fsync, rename
    /// over `CURRENT`, fsync the directory. A crash leaves the old or the new pointer.
    pub fn publish(&self, n: u64) -> Result<(), IndexError> {
        let tmp = self.dir.join("CURRENT.tmp");
        let dst = self.dir.join(CURRENT);
        {
            let mut f = File::create(&tmp).map_err(IndexError::io("creating", &tmp))?;
            writeln!(f, "{GEN_PREFIX}{n:06}").map_err(IndexError::io("writing", &tmp))?;
            f.sync_all().map_err(IndexError::io("syncing", &tmp))?;
        }
        fs::rename(&tmp, &dst).map_err(IndexError::io("renaming", &dst))?;
        sync_dir(&self.dir)
    }

    /// Remove generations that are neither live nor among the `keep` newest published
    /// ones, and any unpublished generation newer than the live one (a crashed ingest's
    /// leftovers). Returns the removed generation numbers.
    pub fn remove_stale_generations(&self, keep: usize) -> Result<Vec<u64>, IndexError> {
        let current = self.current()?;
        let all = self.generations_on_disk()?;
        let mut removed = Vec::new();
        for &n in &all {
            let stale = match current {
                None => true,
                Some(c) if n > c => true,                 // orphan of a crashed ingest
                Some(c) => n + (keep.max(1) as u64) <= c, // older than the ones we keep
            };
            if stale {
                let d = self.generation_dir(n);
                fs::remove_dir_all(&d).map_err(IndexError::io("removing", &d))?;
                removed.push(n);
            }
        }
        Ok(removed)
    }

    /// Take the bot's ingest lock (released when the returned guard drops or the
    /// process dies), so two ingests never write the same bot at once.
    pub fn lock_for_ingest(&self) -> Result<IngestLock, IndexError> {
        fs::create_dir_all(&self.dir).map_err(IndexError::io("creating", &self.dir))?;
        let p = self.dir.join("ingest.lock");
        let f =
            File::options().create(true).truncate(false).write(true).open(&p).map_err(IndexError::io("opening", &p))?;
        match f.try_lock() {
            Ok(()) => Ok(IngestLock { _file: f }),
            Err(std::fs::TryLockError::WouldBlock) => Err(IndexError::Locked(self.bot.clone(), p)),
            Err(std::fs::TryLockError::Error(e)) => Err(IndexError::io("locking", p)(e)),
        }
    }
}

/// Guard of a bot's ingest lock; the OS releases it when dropped or on process exit.
#[derive(Debug)]
pub struct IngestLock {
    _file: File,
}

/// fsync a directory so a rename inside it is durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), IndexError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(IndexError::io("syncing", dir))
}
