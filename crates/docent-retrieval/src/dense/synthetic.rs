//! Deterministic synthetic data for tests and benchmarks: clustered unit vectors and a
//! corpus of chunks whose words follow a Zipf law.
//!
//! Everything is a pure function of a seed and an index (chunk `i` is generated on its
//! own, without generating chunks `0..i`), so a benchmark can rebuild any chunk, query
//! or export without storing them.
//!
//! Vectors: `clusters` random unit centres; a sample is `normalise(centre + noise)`
//! with Gaussian noise of total norm ≈ `spread` (cosine to its centre ≈ 1/√(1+spread²)).
//! Uniform random vectors in 384 dimensions would be a poor stand-in for sentence
//! embeddings (every pair nearly orthogonal, no neighbourhood structure for a graph
//! index to find); clustered ones are closer to real embedding spaces.

/// SplitMix64: a small, fast, well-distributed generator.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// A generator for the pair (`seed`, `stream`): independent streams per item.
    pub fn stream(seed: u64, stream: u64) -> Self {
        let mut g = SplitMix64(seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03));
        g.next_u64();
        g
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Standard normal (Box–Muller).
    pub fn gauss(&mut self) -> f32 {
        let u1 = self.next_f64().max(1e-300);
        let u2 = self.next_f64();
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    }
}

/// Scale `v` to unit length (a zero vector stays zero).
pub fn normalize(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

/// Unit vectors scattered around random cluster centres.
#[derive(Debug, Clone)]
pub struct ClusteredVectors {
    dim: usize,
    clusters: usize,
    spread: f32,
    seed: u64,
    centres: Vec<f32>,
}

impl ClusteredVectors {
    /// `clusters` (≥ 1) random unit centres in `dim` dimensions; samples lie at noise
    /// norm ≈ `spread` around them.
    pub fn new(dim: usize, clusters: usize, spread: f32, seed: u64) -> Self {
        let clusters = clusters.max(1);
        let mut centres = vec![0.0f32; clusters * dim];
        for (c, centre) in centres.chunks_exact_mut(dim.max(1)).enumerate() {
            let mut g = SplitMix64::stream(seed ^ 0xC3A5_C85C_97CB_3127, c as u64);
            centre.iter_mut().for_each(|x| *x = g.gauss());
            normalize(centre);
        }
        ClusteredVectors { dim, clusters, spread, seed, centres }
    }

    /// Dimensions.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of clusters.
    pub fn clusters(&self) -> usize {
        self.clusters
    }

    /// The cluster of row `row` in [`ClusteredVectors::row`] (a hash of the row).
    pub fn cluster_of(&self, row: u64) -> usize {
        SplitMix64::stream(self.seed ^ 0x2545_F491_4F6C_DD1D, row).below(self.clusters as u64) as usize
    }

    /// Sample number `stream` of cluster `cluster` into `out` (`dim` long).
    pub fn sample(&self, cluster: usize, stream: u64, out: &mut [f32]) {
        let c = cluster % self.clusters;
        let centre = &self.centres[c * self.dim..(c + 1) * self.dim];
        let sigma = self.spread / (self.dim.max(1) as f32).sqrt();
        let mut g = SplitMix64::stream(self.seed, stream);
        for (o, &x) in out.iter_mut().zip(centre) {
            *o = x + sigma * g.gauss();
        }
        normalize(out);
    }

    /// Row `row`: sample `row` of cluster [`ClusteredVectors::cluster_of`]`(row)`.
    pub fn row(&self, row: u64, out: &mut [f32]) {
        self.sample(self.cluster_of(row), row, out);
    }

    /// Rows `0..n`, row-major.
    pub fn matrix(&self, n: usize) -> Vec<f32> {
        let mut out = vec![0.0f32; n * self.dim];
        for (i, r) in out.chunks_exact_mut(self.dim.max(1)).enumerate() {
            self.row(i as u64, r);
        }
        out
    }

    /// `normalise(v + noise)` with noise of norm ≈ `jitter` (stream `stream`): a
    /// query near `v`.
    pub fn near(&self, v: &[f32], jitter: f32, stream: u64, out: &mut [f32]) {
        let sigma = jitter / (self.dim.max(1) as f32).sqrt();
        let mut g = SplitMix64::stream(self.seed ^ 0x6A09_E667_F3BC_C909, stream);
        for (o, &x) in out.iter_mut().zip(v) {
            *o = x + sigma * g.gauss();
        }
        normalize(out);
    }
}

/// Syllables of the synthetic words (consonant + vowel; no `y`, so the English stemmer
/// rarely merges two of them).
const CONSONANTS: &[u8] = b"bcdfghjklmnprstvwz";
const VOWELS: &[u8] = b"aeiou";

/// A vocabulary of pronounceable made-up words with Zipfian frequencies: the word of
/// rank `r` (0-based) has probability ∝ 1/(r+1)^exponent.
#[derive(Debug, Clone)]
pub struct ZipfVocabulary {
    words: Vec<String>,
    cdf: Vec<f64>,
}

impl ZipfVocabulary {
    /// `size` distinct words (frequent words are short, as in real text).
    pub fn new(size: usize, exponent: f64) -> Self {
        let size = size.max(1);
        let syllables = CONSONANTS.len() * VOWELS.len();
        let words = (0..size)
            .map(|r| {
                // Bijective base-`syllables` numbering: 1-syllable words first, then 2, ...
                let mut x = r + 1;
                let mut w = String::new();
                while x > 0 {
                    let d = (x - 1) % syllables;
                    // Scatter neighbouring ranks over the syllable table.
                    let s = (d * 37 + 11) % syllables;
                    w.push(CONSONANTS[s / VOWELS.len()] as char);
                    w.push(VOWELS[s % VOWELS.len()] as char);
                    x = (x - 1) / syllables;
                }
                // One-syllable words are too short to look like content words; make
                // every word at least 3 letters.
                if w.len() < 3 {
                    w.push('n');
                }
                w
            })
            .collect();
        let mut cdf = Vec::with_capacity(size);
        let mut total = 0.0;
        for r in 0..size {
            total += 1.0 / ((r + 1) as f64).powf(exponent);
            cdf.push(total);
        }
        cdf.iter_mut().for_each(|c| *c /= total);
        ZipfVocabulary { words, cdf }
    }

    /// Number of words.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// True when empty (never: at least one word).
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The word of rank `rank` (0: most frequent).
    pub fn word(&self, rank: usize) -> &str {
        &self.words[rank % self.words.len()]
    }

    /// A random rank, Zipf-distributed.
    pub fn sample_rank(&self, g: &mut SplitMix64) -> usize {
        let u = g.next_f64();
        self.cdf.partition_point(|&c| c < u).min(self.words.len() - 1)
    }
}

/// One generated chunk.
#[derive(Debug, Clone)]
pub struct SyntheticChunk {
    /// Document (page) number; `chunks_per_doc` consecutive chunks share one.
    pub doc: u64,
    /// Position of the chunk in its page.
    pub position: usize,
    /// Page title.
    pub title: String,
    /// Section heading.
    pub heading: String,
    /// Body text.
    pub text: String,
    /// Unit vector (near the page's cluster centre).
    pub vector: Vec<f32>,
}

/// A query aimed at one chunk: a few of its rarer words in a question frame, and a
/// vector near the chunk's.
#[derive(Debug, Clone)]
pub struct SyntheticQuery {
    /// The chunk the query was drawn from.
    pub target: u64,
    /// Query text.
    pub text: String,
    /// Query vector (unit length).
    pub vector: Vec<f32>,
}

/// Parameters of a [`SyntheticCorpus`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CorpusParams {
    /// Chunks.
    pub chunks: usize,
    /// Vector dimensions.
    pub dim: usize,
    /// Seed of everything.
    pub seed: u64,
    /// Distinct words.
    pub vocabulary: usize,
    /// Zipf exponent of word frequencies.
    pub zipf_exponent: f64,
    /// Chunks per page.
    pub chunks_per_doc: usize,
    /// Body words per chunk, `min..=max`.
    pub words: (usize, usize),
    /// Chunks per vector cluster (and topic), on average.
    pub chunks_per_cluster: usize,
    /// Noise norm around the cluster centre.
    pub spread: f32,
    /// Share of body words drawn from the page's topic words.
    pub topic_share: f64,
}

impl CorpusParams {
    /// Defaults for `chunks` chunks of `dim`-dimensional vectors: 50k-word vocabulary,
    /// Zipf exponent 1.07, 5 chunks per page, 120–200 words per chunk (≈ the ~235-token
    /// chunks of real ingests), ~100 chunks per cluster.
    pub fn new(chunks: usize, dim: usize, seed: u64) -> Self {
        CorpusParams {
            chunks,
            dim,
            seed,
            vocabulary: 50_000,
            zipf_exponent: 1.07,
            chunks_per_doc: 5,
            words: (120, 200),
            chunks_per_cluster: 100,
            spread: 1.2,
            topic_share: 0.2,
        }
    }
}

/// Words of each topic.
const TOPIC_WORDS: usize = 40;
/// Ranks below this are treated as function words when building queries.
const COMMON_RANKS: usize = 150;

/// A synthetic documentation corpus: pages of chunks with Zipfian text, each page on
/// a topic (its cluster) that biases both its words and its vectors.
#[derive(Debug, Clone)]
pub struct SyntheticCorpus {
    params: CorpusParams,
    vocab: ZipfVocabulary,
    vectors: ClusteredVectors,
    topics: Vec<Vec<u32>>,
}

impl SyntheticCorpus {
    /// The corpus of `params`.
    pub fn new(params: CorpusParams) -> Self {
        let vocab = ZipfVocabulary::new(params.vocabulary, params.zipf_exponent);
        let clusters = (params.chunks / params.chunks_per_cluster.max(1)).max(1);
        let vectors = ClusteredVectors::new(params.dim, clusters, params.spread, params.seed);
        let topics = (0..clusters)
            .map(|c| {
                let mut g = SplitMix64::stream(params.seed ^ 0x1F83_D9AB_FB41_BD6B, c as u64);
                (0..TOPIC_WORDS)
                    .map(|_| {
                        // Log-uniform over the mid and rare ranks.
                        let lo = (COMMON_RANKS as f64).ln();
                        let hi = (vocab.len().max(COMMON_RANKS + 1) as f64).ln();
                        ((lo + (hi - lo) * g.next_f64()).exp() as usize).min(vocab.len() - 1) as u32
                    })
                    .collect()
            })
            .collect();
        SyntheticCorpus { params, vocab, vectors, topics }
    }

    /// The parameters.
    pub fn params(&self) -> &CorpusParams {
        &self.params
    }

    /// Number of chunks.
    pub fn len(&self) -> usize {
        self.params.chunks
    }

    /// True when the corpus has no chunk.
    pub fn is_empty(&self) -> bool {
        self.params.chunks == 0
    }

    /// The vector generator.
    pub fn vectors(&self) -> &ClusteredVectors {
        &self.vectors
    }

    fn doc_cluster(&self, doc: u64) -> usize {
        SplitMix64::stream(self.params.seed ^ 0x5851_F42D_4C95_7F2D, doc).below(self.vectors.clusters() as u64) as usize
    }

    fn words(&self, g: &mut SplitMix64, topic: &[u32], count: usize, topic_share: f64, out: &mut String) {
        for i in 0..count {
            let rank = if g.next_f64() < topic_share {
                topic[g.below(topic.len() as u64) as usize] as usize
            } else {
                self.vocab.sample_rank(g)
            };
            if i > 0 {
                out.push(' ');
            }
            out.push_str(self.vocab.word(rank));
        }
    }

    /// Chunk `i` (`i < len()`).
    pub fn chunk(&self, i: u64) -> SyntheticChunk {
        let p = &self.params;
        let per_doc = p.chunks_per_doc.max(1) as u64;
        let doc = i / per_doc;
        let cluster = self.doc_cluster(doc);
        let topic = &self.topics[cluster];
        let mut title = String::new();
        self.words(&mut SplitMix64::stream(p.seed ^ 0x7A3D, doc), topic, 4, 0.75, &mut title);
        let mut g = SplitMix64::stream(p.seed ^ 0xB5AD_4ECE_DA1C_E2A9, i);
        let mut heading = String::new();
        let heading_words = 2 + g.below(3) as usize;
        self.words(&mut g, topic, heading_words, 0.5, &mut heading);
        let (lo, hi) = (p.words.0.min(p.words.1), p.words.0.max(p.words.1));
        let count = lo + g.below((hi - lo + 1) as u64) as usize;
        let mut text = String::with_capacity(count * 8);
        self.words(&mut g, topic, count, p.topic_share, &mut text);
        let mut vector = vec![0.0f32; p.dim];
        self.vectors.sample(cluster, i, &mut vector);
        SyntheticChunk { doc, position: (i % per_doc) as usize, title, heading, text, vector }
    }

    /// Query `q`: aimed at a random chunk, 2–5 of its less common words (with a
    /// question frame some of the time), vector at noise norm `0.8` around the chunk's
    /// (cosine ≈ 0.78).
    pub fn query(&self, q: u64) -> SyntheticQuery {
        let mut g = SplitMix64::stream(self.params.seed ^ 0x3C6E_F372_FE94_F82B, q);
        let target = g.below(self.params.chunks.max(1) as u64);
        let chunk = self.chunk(target);
        let words: Vec<&str> = chunk.text.split(' ').collect();
        let common: std::collections::HashSet<&str> = (0..COMMON_RANKS).map(|r| self.vocab.word(r)).collect();
        let content: Vec<&str> = words.iter().copied().filter(|w| !common.contains(w)).collect();
        let pool = if content.is_empty() { &words } else { &content };
        let want = 2 + g.below(4) as usize;
        let mut picked: Vec<&str> = Vec::with_capacity(want);
        for _ in 0..want * 4 {
            if picked.len() >= want {
                break;
            }
            let w = pool[g.below(pool.len() as u64) as usize];
            if !picked.contains(&w) {
                picked.push(w);
            }
        }
        let body = picked.join(" ");
        let text = match g.below(4) {
            0 => format!("how do I {body}?"),
            1 => format!("what is {body}"),
            2 => format!("why does {body} fail"),
            _ => body,
        };
        let mut vector = vec![0.0f32; self.params.dim];
        self.vectors.near(&chunk.vector, 0.8, q, &mut vector);
        SyntheticQuery { target, text, vector }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_unit_vectors_and_distinct_words() {
        let v = ClusteredVectors::new(32, 4, 1.0, 7);
        let (mut a, mut b) = (vec![0.0; 32], vec![0.0; 32]);
        v.row(5, &mut a);
        v.row(5, &mut b);
        assert_eq!(a, b);
        assert!((a.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-5);
        let vocab = ZipfVocabulary::new(5000, 1.0);
        let set: std::collections::HashSet<&str> = (0..vocab.len()).map(|r| vocab.word(r)).collect();
        assert_eq!(set.len(), 5000);
        let mut g = SplitMix64::new(1);
        let low = (0..10_000).filter(|_| vocab.sample_rank(&mut g) < 10).count();
        assert!(low > 2000, "the top 10 words should be ~30% of text, got {low}");
    }

    #[test]
    fn chunks_and_queries_are_reproducible() {
        let c = SyntheticCorpus::new(CorpusParams::new(1000, 16, 3));
        let (x, y) = (c.chunk(17), c.chunk(17));
        assert_eq!(x.text, y.text);
        assert_eq!(x.vector, y.vector);
        assert_eq!(c.chunk(15).title, c.chunk(19).title, "same page, same title");
        let q = c.query(3);
        assert_eq!(q.text, c.query(3).text);
        let target = c.chunk(q.target);
        let dot: f32 = q.vector.iter().zip(&target.vector).map(|(a, b)| a * b).sum();
        assert!(dot > 0.6, "query vector near its chunk: {dot}");
    }
}
