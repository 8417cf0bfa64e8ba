//! Approximate dense search: an HNSW graph ([usearch]) over a generation's vectors.
//!
//! * **Graph**: usearch's HNSW with inner-product distance over normalised vectors. The
//!   graph keeps its own copy of the vectors, by default in Docent's scaled int8
//!   ([`AnnQuantization::I8Scaled`]: one scale for the generation, 127 / its largest
//!   component, so the rows use the whole ±127 range; each query quantised with its
//!   own scale). usearch's own int8 (`I8`) casts each component as `x × 127 / |row|`,
//!   truncated, which leaves a 384-d unit vector about ±6 of the ±127 levels; scaling
//!   first is what makes int8 as good as f16 for the walk.
//! * **Rescoring**: an int8 graph's distances are integer dot products, so its
//!   `max(k, min_candidates)` candidates are scored again exactly against the
//!   memory-mapped `vectors.f32` and cut to `k` (always for `I8Scaled`; `rescore` for
//!   the others). Scores are then the exact cosine. The cost is memory: every query
//!   touches ~64 random rows of `vectors.f32`, so over time the file becomes resident
//!   (page cache mapped into the process, shared and reclaimable). Measured in
//!   docs/BENCHMARKS.md ("Scaled int8 graph"): at 1M rows the int8 walk costs 60 % of the
//!   f16 one (the i8 dot product is half the bytes and needs no conversion) at the same
//!   recall, with a graph of 508 MB instead of 874 built in half the time, while RSS
//!   grows by up to the size of `vectors.f32` (1.5 GB at 1M, 154 MB at 100k). `F16`
//!   (no rescoring: scores within ~1e-4, a search never touches `vectors.f32`) is the
//!   choice when memory matters more than latency.
//! * **Where it lives**: the graph is built when a generation is first opened for
//!   retrieval and saved next to it as `ann-<params>.usearch` (written to a temporary
//!   name and renamed, so a reader never sees half a file). Later opens — another
//!   process, a restart, another replica on the same disk — memory-map that file
//!   (`view`, no copy) after checking its header and a few rows against `vectors.f32`.
//!   The file belongs to its generation directory and goes away with it. It is not
//!   written by ingest because the generation writer lives in `docent-index`; building
//!   at open keeps the on-disk format of a generation unchanged (the file is a cache:
//!   deleting it only costs a rebuild).
//! * **Filters**: an allowed-row set smaller than `max(threshold, filter_exact_fraction
//!   × rows)` is scanned exactly (cheap, and exact); a broad one uses usearch's filtered
//!   graph search with the row set as predicate.
//! * **Concurrency**: usearch keeps one search context per reserved thread slot and
//!   refuses a search when none is free, so searches take a slot from a small
//!   semaphore first (`search_slots`, default 64): more concurrent queries than that
//!   wait for a slot instead of failing.
//!
//! Any usearch error at query time falls back to the exact scan (logged), so a query
//! never fails because of the approximate index.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use docent_index::IndexSnapshot;
use serde::{Deserialize, Serialize};
use tracing::{info, info_span, warn};
use usearch::ffi::Matches;
use usearch::{Index, IndexOptions, MetricKind, ScalarKind, VectorType};

use super::exact::exact_top_k_with;
use super::kernel::Kernel;
use super::topk::TopK;
use super::{DenseIndex, ExactConfig};
use crate::{RowSet, Scored};

/// Default number of rows from which a generation gets an approximate index.
pub const DEFAULT_ANN_THRESHOLD: usize = 20_000;

/// How the graph stores its copy of the vectors (the exact rescoring always uses f32).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnnQuantization {
    /// 4 bytes per dimension.
    F32,
    /// 2 bytes per dimension (IEEE half); not rescored unless `rescore` is set.
    F16,
    /// 1 byte per dimension (usearch's cast: each component × 127 / |row|, truncated;
    /// a 384-d unit vector uses about ±6 of the ±127 levels).
    I8,
    /// 1 byte per dimension, quantised by Docent with one scale for the generation
    /// (127 / its largest component, rounded), so the rows use the whole int8 range;
    /// each query is quantised with its own scale, and the graph's candidates are
    /// always rescored exactly against `vectors.f32` (the graph's distances are in the
    /// integer domain).
    #[serde(rename = "i8s")]
    I8Scaled,
}

impl AnnQuantization {
    fn scalar(self) -> ScalarKind {
        match self {
            AnnQuantization::F32 => ScalarKind::F32,
            AnnQuantization::F16 => ScalarKind::F16,
            AnnQuantization::I8 | AnnQuantization::I8Scaled => ScalarKind::I8,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            AnnQuantization::F32 => "f32",
            AnnQuantization::F16 => "f16",
            AnnQuantization::I8 => "i8",
            AnnQuantization::I8Scaled => "i8s",
        }
    }
}

/// Knobs of the approximate index and of when it is used.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AnnConfig {
    /// Generations with at least this many rows get an HNSW index; smaller ones are
    /// scanned exactly (`usize::MAX`: never approximate; 0: always).
    pub threshold: usize,
    /// HNSW connectivity `M` (neighbours per node on the upper levels; twice that on
    /// the base level).
    pub connectivity: usize,
    /// Beam width while building (`efConstruction`).
    pub expansion_add: usize,
    /// Beam width while searching (`ef`) in a graph of up to `expansion_reference_rows`
    /// rows; larger graphs and larger requests get a wider beam ([`AnnConfig::ef_for`]).
    pub expansion_search: usize,
    /// Graph size up to which `expansion_search` is used as it is.
    pub expansion_reference_rows: usize,
    /// Beyond `expansion_reference_rows`, the beam grows as `(rows / reference)^growth`:
    /// a graph ten times larger needs more hops and loses more queries in local optima
    /// at the same beam (measured in docs/BENCHMARKS.md).
    pub expansion_growth: f32,
    /// The beam is at least this many times the rows asked for (1.0: usearch's own
    /// minimum, a beam of `k`; measured at 100k rows, top 50: beam 50 recall@50 0.988,
    /// beam 64 0.994).
    pub expansion_per_result: f32,
    /// Upper bound of the beam (0: none).
    pub expansion_max: usize,
    /// Storage of the graph's vectors (default: Docent's scaled int8, rescored).
    pub quantization: AnnQuantization,
    /// Rescore the graph's candidates exactly against `vectors.f32` with `F32`, `F16` or
    /// `I8` (`I8Scaled` always rescores; see the module documentation for the memory
    /// cost).
    pub rescore: bool,
    /// Candidates taken from the graph and rescored exactly (at least `k`; only when
    /// rescoring).
    pub min_candidates: usize,
    /// Filters allowing fewer than this fraction of the rows are answered by an exact
    /// scan of the allowed rows.
    pub filter_exact_fraction: f32,
    /// Save the graph next to the generation and reuse it on later opens.
    pub cache: bool,
    /// Threads used to build the graph (0: all cores).
    pub build_threads: usize,
    /// Concurrent searches the graph serves; more wait for a free slot.
    pub search_slots: usize,
}

impl Default for AnnConfig {
    fn default() -> Self {
        AnnConfig {
            threshold: DEFAULT_ANN_THRESHOLD,
            connectivity: 16,
            expansion_add: 128,
            expansion_search: 64,
            expansion_reference_rows: 100_000,
            expansion_growth: 0.75,
            expansion_per_result: 1.0,
            expansion_max: 0,
            quantization: AnnQuantization::I8Scaled,
            rescore: false,
            min_candidates: 64,
            filter_exact_fraction: 0.1,
            cache: true,
            build_threads: 0,
            search_slots: 64,
        }
    }
}

impl AnnConfig {
    /// True when a generation of `rows` rows gets the approximate index.
    pub fn applies_to(&self, rows: usize) -> bool {
        rows > 0 && rows >= self.threshold
    }

    /// The beam width (`ef`) of a search for `k` rows in a graph of `rows` rows:
    /// `expansion_search × max(1, rows / expansion_reference_rows)^expansion_growth`,
    /// at least `expansion_per_result × k` and `k`, at most `expansion_max` (but never
    /// below `k`).
    pub fn ef_for(&self, rows: usize, k: usize) -> usize {
        let base = self.expansion_search.max(1) as f64;
        let scale = (rows as f64 / self.expansion_reference_rows.max(1) as f64).max(1.0);
        let grown = base * scale.powf(f64::from(self.expansion_growth.max(0.0)));
        let per_k = k as f64 * f64::from(self.expansion_per_result.max(0.0));
        let ef = grown.max(per_k).ceil() as usize;
        let ef = if self.expansion_max > 0 { ef.min(self.expansion_max) } else { ef };
        ef.max(k).max(1)
    }

    /// True when the graph's candidates are rescored exactly against `vectors.f32`:
    /// with `rescore`, and always for [`AnnQuantization::I8Scaled`] (its distances are
    /// integer dot products).
    pub fn rescores(&self) -> bool {
        self.rescore || self.quantization == AnnQuantization::I8Scaled
    }

    /// File name of the cached graph for these build parameters (search-time knobs do
    /// not change the file).
    pub fn file_name(&self) -> String {
        format!(
            "ann-hnsw-{}-m{}-ef{}.usearch",
            self.quantization.as_str(),
            self.connectivity.max(2),
            self.expansion_add.max(1)
        )
    }

    fn options(&self, dim: usize) -> IndexOptions {
        IndexOptions {
            dimensions: dim,
            metric: MetricKind::IP,
            quantization: self.quantization.scalar(),
            connectivity: self.connectivity.max(2),
            expansion_add: self.expansion_add.max(1),
            expansion_search: self.expansion_search.max(1),
            multi: false,
        }
    }

    fn build_threads(&self) -> usize {
        match self.build_threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            t => t,
        }
    }
}

/// Why an approximate index could not be built or opened (the caller falls back to
/// the exact scan).
#[derive(Debug, thiserror::Error)]
pub enum AnnError {
    /// usearch refused an operation.
    #[error("usearch: {action}: {message}")]
    Usearch {
        /// What was being done.
        action: &'static str,
        /// usearch's message.
        message: String,
    },
    /// The vectors cannot be indexed (empty, or more rows than keys).
    #[error("cannot index {rows} rows of {dim} dimensions")]
    Shape {
        /// Rows.
        rows: usize,
        /// Dimensions.
        dim: usize,
    },
}

fn usearch_err<E: std::fmt::Display>(action: &'static str) -> impl FnOnce(E) -> AnnError {
    move |e| AnnError::Usearch { action, message: e.to_string() }
}

/// Where the graph of an [`AnnIndex`] came from.
#[derive(Debug, Clone, PartialEq)]
pub enum AnnOrigin {
    /// Built now (seconds spent), then saved to this file (memory-mapped from it).
    Built {
        /// Build time in seconds.
        secs: f64,
        /// The file it was saved to, if saving worked.
        saved: Option<PathBuf>,
    },
    /// Memory-mapped from a file built by an earlier open.
    Cached(PathBuf),
}

/// Docent's own int8 quantisation ([`AnnQuantization::I8Scaled`]): `round(x × scale)`
/// clamped to ±127. The rows share one scale (from the largest component of the
/// generation, found while building); a query gets its own, from its largest
/// component: the graph's inner-product order does not change when the query is
/// scaled, so the query needs no stored scale (nothing to read or scan at open), and
/// the candidates' scores come from the exact rescoring anyway.
#[derive(Debug, Clone, Copy, PartialEq)]
struct I8Scale(f32);

impl I8Scale {
    /// 127 / the largest absolute finite component of `rows` (1 for an all-zero input).
    fn of(rows: &[f32]) -> Self {
        let max = rows.iter().fold(0.0f32, |m, x| if x.is_finite() { m.max(x.abs()) } else { m });
        I8Scale(if max > 0.0 { 127.0 / max } else { 1.0 })
    }

    fn quantize(self, v: &[f32], out: &mut Vec<i8>) {
        out.clear();
        out.extend(v.iter().map(|x| (x * self.0).round().clamp(-127.0, 127.0) as i8));
    }
}

/// The f32 rows the candidates are rescored against.
enum Rows {
    Snapshot(Arc<IndexSnapshot>),
    Owned { data: Arc<[f32]>, dim: usize },
}

impl Rows {
    fn flat(&self) -> &[f32] {
        match self {
            Rows::Snapshot(s) => s.vectors().as_flat(),
            Rows::Owned { data, .. } => data,
        }
    }

    fn dim(&self) -> usize {
        match self {
            Rows::Snapshot(s) => s.vectors().dim(),
            Rows::Owned { dim, .. } => *dim,
        }
    }
}

/// A counting semaphore: at most `n` searches inside the graph at once.
struct Slots {
    free: Mutex<usize>,
    ready: Condvar,
}

impl Slots {
    fn new(n: usize) -> Self {
        Slots { free: Mutex::new(n.max(1)), ready: Condvar::new() }
    }

    fn acquire(&self) -> SlotGuard<'_> {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        while *free == 0 {
            free = self.ready.wait(free).unwrap_or_else(|p| p.into_inner());
        }
        *free -= 1;
        SlotGuard(self)
    }
}

struct SlotGuard<'a>(&'a Slots);

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        let mut free = self.0.free.lock().unwrap_or_else(|p| p.into_inner());
        *free += 1;
        self.0.ready.notify_one();
    }
}

/// HNSW candidates, rescored exactly against the f32 vectors.
pub struct AnnIndex {
    rows: Rows,
    graph: Index,
    config: AnnConfig,
    exact: ExactConfig,
    kernel: Kernel,
    slots: Slots,
    origin: AnnOrigin,
}

impl std::fmt::Debug for AnnIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnnIndex")
            .field("rows", &self.len())
            .field("dim", &self.rows.dim())
            .field("config", &self.config)
            .field("origin", &self.origin)
            .finish()
    }
}

impl AnnIndex {
    /// The approximate index of a generation: memory-mapped from its cached graph file
    /// when a valid one exists, else built (on `config.build_threads` threads) and, with
    /// `config.cache`, saved for the next open.
    pub fn for_snapshot(
        snapshot: Arc<IndexSnapshot>,
        config: &AnnConfig,
        exact: ExactConfig,
    ) -> Result<Self, AnnError> {
        let dir = snapshot.dir().to_path_buf();
        let cache = config.cache.then(|| dir.join(config.file_name()));
        Self::open(Rows::Snapshot(snapshot), config, exact, cache.as_deref())
    }

    /// An approximate index over `rows` (row-major, `dim` wide, normalised), cached in
    /// `cache_file` when given (loaded from it when it holds a valid graph of these rows).
    pub fn from_rows(
        rows: Arc<[f32]>,
        dim: usize,
        config: &AnnConfig,
        exact: ExactConfig,
        cache_file: Option<&Path>,
    ) -> Result<Self, AnnError> {
        Self::open(Rows::Owned { data: rows, dim }, config, exact, cache_file)
    }

    fn open(rows: Rows, config: &AnnConfig, exact: ExactConfig, cache: Option<&Path>) -> Result<Self, AnnError> {
        let dim = rows.dim();
        let n = rows.flat().len().checked_div(dim).unwrap_or(0);
        if n == 0 || u32::try_from(n).is_err() {
            return Err(AnnError::Shape { rows: n, dim });
        }
        let _span = info_span!("ann_open", rows = n, dim).entered();
        let kernel = Kernel::detect();
        if let Some(path) = cache.filter(|p| p.exists()) {
            match view_cached(path, rows.flat(), dim, config) {
                Ok(graph) => {
                    info!(path = %path.display(), rows = n, "ANN index memory-mapped from its cache file");
                    return Ok(Self::assemble(rows, graph, config, exact, kernel, AnnOrigin::Cached(path.into())));
                }
                Err(e) => warn!(path = %path.display(), error = %e, "ignoring the cached ANN index; rebuilding it"),
            }
        }
        let started = Instant::now();
        let built = build_graph(rows.flat(), dim, config)?;
        let secs = started.elapsed().as_secs_f64();
        info!(rows = n, secs, threads = config.build_threads(), "ANN index built");
        let Some(path) = cache else {
            return Ok(Self::assemble(rows, built, config, exact, kernel, AnnOrigin::Built { secs, saved: None }));
        };
        // Save, then serve from the memory-mapped file (page cache instead of heap,
        // shared with every other process that opens the generation).
        match save_atomically(&built, path).and_then(|()| view_cached(path, rows.flat(), dim, config)) {
            Ok(viewed) => {
                drop(built);
                let origin = AnnOrigin::Built { secs, saved: Some(path.into()) };
                Ok(Self::assemble(rows, viewed, config, exact, kernel, origin))
            }
            Err(e) => {
                warn!(path = %path.display(), error = %e, "could not cache the ANN index; keeping it in memory");
                Ok(Self::assemble(rows, built, config, exact, kernel, AnnOrigin::Built { secs, saved: None }))
            }
        }
    }

    fn assemble(
        rows: Rows,
        graph: Index,
        config: &AnnConfig,
        exact: ExactConfig,
        kernel: Kernel,
        origin: AnnOrigin,
    ) -> Self {
        // Every search passes its own beam as the count it asks for (`graph_search`):
        // usearch searches with `max(shared setting, count)`, so the shared setting is
        // kept at 1 and the count alone decides.
        graph.change_expansion_search(1);
        AnnIndex { rows, graph, config: *config, exact, kernel, slots: Slots::new(config.search_slots), origin }
    }

    /// Rows indexed.
    pub fn len(&self) -> usize {
        self.graph.size()
    }

    /// True when nothing is indexed (never: construction refuses empty inputs).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Where the graph came from (built now or memory-mapped from its cache file).
    pub fn origin(&self) -> &AnnOrigin {
        &self.origin
    }

    /// The settings it was built and is searched with.
    pub fn config(&self) -> &AnnConfig {
        &self.config
    }

    /// The graph's `k` best rows with an explicit beam width `ef` instead of
    /// [`AnnConfig::ef_for`]'s (for measuring the recall/latency trade-off; an empty
    /// list for a query of the wrong dimension, the exact scan if usearch fails).
    pub fn search_with_ef(&self, query: &[f32], k: usize, ef: usize) -> Vec<Scored> {
        let flat = self.rows.flat();
        let dim = self.rows.dim();
        if query.len() != dim || k == 0 {
            return Vec::new();
        }
        self.graph_search(query, k, ef, None)
            .unwrap_or_else(|| exact_top_k_with(self.kernel, flat, dim, query, k, None, &self.exact))
    }

    /// Approximate bytes the graph occupies (heap or mapped file).
    pub fn memory_usage(&self) -> usize {
        self.graph.memory_usage()
    }

    /// The graph's `k` best rows (rescored exactly with `rescore`), or `None` when
    /// usearch failed (the caller scans exactly instead).
    fn graph_search(&self, query: &[f32], k: usize, ef: usize, allowed: Option<&RowSet>) -> Option<Vec<Scored>> {
        let flat = self.rows.flat();
        let dim = self.rows.dim();
        let n = flat.len() / dim;
        let rescore = self.config.rescores();
        let want = if rescore { k.max(self.config.min_candidates) } else { k };
        // usearch's beam is `max(expansion_search, count)`: asking for `ef` rows is how
        // one search gets its own beam width without touching the shared setting.
        let count = want.max(ef).min(n);
        let matches = {
            let _slot = self.slots.acquire();
            if self.config.quantization == AnnQuantization::I8Scaled {
                let mut q = Vec::with_capacity(dim);
                I8Scale::of(query).quantize(query, &mut q);
                walk(&self.graph, q.as_slice(), count, allowed)
            } else {
                walk(&self.graph, query, count, allowed)
            }
        };
        let matches = match matches {
            Ok(m) => m,
            Err(e) => {
                warn!(error = %e, "ANN search failed; scanning exactly");
                return None;
            }
        };
        let mut top = TopK::new(k);
        // Sorted best first: the first `want` are the graph's answer (and the only ones
        // worth rescoring).
        for (&key, &distance) in matches.keys.iter().zip(&matches.distances).take(want) {
            let Ok(r) = u32::try_from(key) else { continue };
            let i = r as usize;
            if i >= n || allowed.is_some_and(|a| !a.contains(r)) {
                continue;
            }
            // Inner-product distance is `1 - dot`.
            let score = if rescore { self.kernel.dot(query, &flat[i * dim..(i + 1) * dim]) } else { 1.0 - distance };
            top.push(r, score);
        }
        Some(top.into_sorted())
    }
}

impl DenseIndex for AnnIndex {
    fn kind(&self) -> &'static str {
        "hnsw"
    }

    fn search(&self, query: &[f32], k: usize, allowed: Option<&RowSet>) -> Vec<Scored> {
        let flat = self.rows.flat();
        let dim = self.rows.dim();
        if query.len() != dim || k == 0 {
            return Vec::new();
        }
        let n = flat.len() / dim;
        let exact = |allowed| exact_top_k_with(self.kernel, flat, dim, query, k, allowed, &self.exact);
        if let Some(a) = allowed {
            let small = (self.config.filter_exact_fraction.clamp(0.0, 1.0) as f64 * n as f64) as usize;
            if a.len() < self.config.threshold.max(small) {
                return exact(Some(a));
            }
        }
        // Asking for (nearly) every row: the scan is exact and no slower.
        if k.saturating_mul(2) >= n {
            return exact(allowed);
        }
        // A filtered walk's beam is sized by the rows the filter allows: a 10 % filter on
        // 1M rows with the 1M beam cost 23 ms instead of 8 ms (docs/BENCHMARKS.md).
        let ef = self.config.ef_for(allowed.map_or(n, |a| a.len()), k);
        self.graph_search(query, k, ef, allowed).unwrap_or_else(|| exact(allowed))
    }
}

/// Build the graph over `rows` on `config.build_threads()` threads; keys are row numbers.
fn build_graph(rows: &[f32], dim: usize, config: &AnnConfig) -> Result<Index, AnnError> {
    let n = rows.len() / dim;
    let threads = config.build_threads().clamp(1, n);
    let graph = Index::new(&config.options(dim)).map_err(usearch_err("creating the index"))?;
    graph
        .reserve_capacity_and_threads(n, threads.max(config.search_slots.max(1)))
        .map_err(usearch_err("reserving memory"))?;
    let failure: Mutex<Option<AnnError>> = Mutex::new(None);
    let scale = (config.quantization == AnnQuantization::I8Scaled).then(|| I8Scale::of(rows));
    std::thread::scope(|s| {
        for t in 0..threads {
            let (graph, failure) = (&graph, &failure);
            s.spawn(move || {
                let mut q = Vec::with_capacity(dim);
                for i in (t..n).step_by(threads) {
                    let row = &rows[i * dim..(i + 1) * dim];
                    let added = match scale {
                        None => graph.add(i as u64, row),
                        Some(scale) => {
                            scale.quantize(row, &mut q);
                            graph.add(i as u64, q.as_slice())
                        }
                    };
                    if let Err(e) = added {
                        let mut f = failure.lock().unwrap_or_else(|p| p.into_inner());
                        f.get_or_insert(AnnError::Usearch { action: "adding a vector", message: e.to_string() });
                        return;
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    Ok(graph)
}

/// One walk of `graph` for `query` (f32, or the scaled int8 copy of it), with the
/// allowed rows as the predicate when filtered.
fn walk<T: VectorType>(graph: &Index, query: &[T], count: usize, allowed: Option<&RowSet>) -> Result<Matches, String> {
    match allowed {
        None => graph.search(query, count),
        Some(a) => graph.filtered_search(query, count, |key| u32::try_from(key).is_ok_and(|r| a.contains(r))),
    }
    .map_err(|e| e.to_string())
}

/// Save to a unique temporary name in the same directory, fsync, rename over `path`.
fn save_atomically(graph: &Index, path: &Path) -> Result<(), AnnError> {
    let io =
        |message: std::io::Error| AnnError::Usearch { action: "writing the cache file", message: message.to_string() };
    let nonce = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let tmp = path.with_extension(format!("tmp-{}-{nonce}", std::process::id()));
    let tmp_str = tmp.to_str().ok_or_else(|| io(std::io::Error::other("path is not UTF-8")))?;
    let result = (|| {
        graph.save(tmp_str).map_err(usearch_err("saving the index"))?;
        std::fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)?;
        if let Some(dir) = path.parent() {
            // Best effort: the file is a cache, a lost rename only costs a rebuild.
            let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Memory-map a cached graph after checking that it indexes exactly these rows: header
/// (dimensions, metric, quantisation, row count) and a few rows compared with the f32
/// vectors.
fn view_cached(path: &Path, rows: &[f32], dim: usize, config: &AnnConfig) -> Result<Index, AnnError> {
    let path_str = path.to_str().ok_or(AnnError::Usearch { action: "opening", message: "path is not UTF-8".into() })?;
    let n = rows.len() / dim;
    let meta = Index::metadata(path_str).map_err(usearch_err("reading the cache header"))?;
    let mismatch = |what: String| AnnError::Usearch { action: "checking the cache file", message: what };
    if meta.dimensions as usize != dim
        || meta.metric != MetricKind::IP
        || meta.quantization != config.quantization.scalar()
        || meta.multi
    {
        return Err(mismatch(format!(
            "built for {} dims / {:?} / {:?}, want {dim} / IP / {:?}",
            meta.dimensions,
            meta.metric,
            meta.quantization,
            config.quantization.scalar()
        )));
    }
    if meta.count_present as usize != n || meta.count_deleted != 0 {
        return Err(mismatch(format!("{} rows ({} deleted), want {n}", meta.count_present, meta.count_deleted)));
    }
    let graph = Index::new(&config.options(dim)).map_err(usearch_err("creating the index"))?;
    // Thread slots must be reserved before `view`: a viewed index cannot grow.
    graph.reserve_capacity_and_threads(0, config.search_slots.max(1)).map_err(usearch_err("reserving threads"))?;
    graph.view(path_str).map_err(usearch_err("memory-mapping the cache file"))?;
    if graph.size() != n {
        return Err(mismatch(format!("{} rows, want {n}", graph.size())));
    }
    let mut buf = vec![0.0f32; dim];
    let samples = [0, n / 3, n / 2, (2 * n) / 3, n - 1];
    for &i in &samples {
        let got = graph.get(i as u64, &mut buf).map_err(usearch_err("reading a row"))?;
        let want = &rows[i * dim..(i + 1) * dim];
        let dot: f32 = buf.iter().zip(want).map(|(a, b)| a * b).sum();
        let norms = buf.iter().map(|x| x * x).sum::<f32>().sqrt() * want.iter().map(|x| x * x).sum::<f32>().sqrt();
        // NaN must count as a mismatch, hence no plain `<`.
        if got != 1 || dot.partial_cmp(&(0.98 * norms)).is_none_or(|o| o == std::cmp::Ordering::Less) {
            return Err(mismatch(format!("row {i} differs from vectors.f32")));
        }
    }
    Ok(graph)
}

#[cfg(test)]
mod tests {
    use super::AnnConfig;

    #[test]
    fn the_beam_grows_with_the_graph_and_the_request() {
        let c = AnnConfig::default();
        // Up to the reference size the configured beam is used as it is.
        assert_eq!(c.ef_for(5_000, 10), 64);
        assert_eq!(c.ef_for(100_000, 10), 64);
        assert_eq!(c.ef_for(100_000, 50), 64);
        // Beyond it, (rows / 100k)^0.75: 64 × 10^0.75 = 359.9 at 1M.
        assert_eq!(c.ef_for(1_000_000, 10), 360);
        let (a, b, d) = (c.ef_for(200_000, 10), c.ef_for(500_000, 10), c.ef_for(1_000_000, 10));
        assert!(64 < a && a < b && b < d, "{a} {b} {d}");
        // A request for more rows than the beam widens the beam to the request...
        assert_eq!(c.ef_for(100_000, 200), 200);
        let wide = AnnConfig { expansion_per_result: 2.0, ..c };
        assert_eq!(wide.ef_for(100_000, 200), 400);
        assert_eq!(wide.ef_for(100_000, 10), 64);
        // ...and a cap bounds it, but never below the rows asked for.
        let capped = AnnConfig { expansion_max: 100, ..c };
        assert_eq!(capped.ef_for(1_000_000, 10), 100);
        assert_eq!(capped.ef_for(1_000_000, 150), 150);
        // No growth: the old fixed beam.
        let fixed = AnnConfig { expansion_growth: 0.0, ..c };
        assert_eq!(fixed.ef_for(1_000_000, 10), 64);
    }
}
