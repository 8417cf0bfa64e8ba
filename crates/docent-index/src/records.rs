//! `chunks.bin`: every chunk's stored fields and word signatures, uncompressed, one
//! record per vector ordinal, read with one positional read per record.
//!
//! *"Here is an ordinal; give me its chunk, now."* Retrieval reads the stored chunk of
//! every hit it returns; through tantivy's docstore that is a block decompression and
//! a document decode per hit (~50–90 µs measured at 100k chunks), through this file it
//! is one `pread` of ~2 kB (a few µs). The file also carries what the per-query checks
//! would otherwise recompute from the text: the near-duplicate word set
//! ([`word_set`]) and the hashes of the chunk's analyzed terms ([`term_hash`]) for the
//! confidence's coverage feature.
//!
//! Layout (little-endian; every record starts at a multiple of 8):
//! ```text
//! "DCNTREC1"
//! record × rows  hash [32] | n_words u32 | n_terms u32 | n_headings u32 | n_tags u32
//!                | lengths u32 × (5 + n_headings + n_tags)   chunk_id, doc_id, url, title, text, headings…, tags…
//!                | pad to 8 | words u64 × n_words | terms u32 × n_terms | UTF-8 strings in length order | pad to 8
//! offsets        (rows + 1) × u64: byte offset of record i from the file start; the last one = start of this table
//! footer         rows u64 | "DCNTREC1"
//! ```
//! The offsets go last so the writer streams records without knowing their count.
//! *Useful for* the hits of a query (a few dozen reads). *Not for* iterating over every
//! chunk in a hot loop: that still touches the whole file.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::{ChunkRecord, ContentHash, IndexError};

const MAGIC: &[u8; 8] = b"DCNTREC1";
const HEADER: usize = 8;
const FOOTER: usize = 16;
const FIXED: usize = 32 + 4 * 4;
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Sorted, distinct FNV-1a hashes of the lower-cased alphanumeric words of `text`:
/// the near-duplicate signature of a chunk (word-set Jaccard similarity).
pub fn word_set(text: &str) -> Vec<u64> {
    let mut lowered = String::new();
    let mut out: Vec<u64> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            if w.is_ascii() {
                w.bytes().fold(FNV_OFFSET, |h, x| (h ^ x.to_ascii_lowercase() as u64).wrapping_mul(FNV_PRIME))
            } else {
                lowered.clear();
                lowered.extend(w.chars().flat_map(char::to_lowercase));
                lowered.bytes().fold(FNV_OFFSET, |h, x| (h ^ x as u64).wrapping_mul(FNV_PRIME))
            }
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The 32-bit hash of one analyzed term (a token as the text analyzer indexes it).
pub fn term_hash(term: &str) -> u32 {
    let h = term.bytes().fold(FNV_OFFSET, |h, x| (h ^ x as u64).wrapping_mul(FNV_PRIME));
    (h ^ (h >> 32)) as u32
}

/// A zero-copy view of one record of `chunks.bin`.
#[derive(Debug, Clone, Copy)]
pub struct ChunkView<'a> {
    /// Stable chunk id.
    pub chunk_id: &'a str,
    /// Document (page) id.
    pub doc_id: &'a str,
    /// URL with anchor.
    pub url: &'a str,
    /// Page title.
    pub title: &'a str,
    /// Chunk text.
    pub text: &'a str,
    /// Hash of the embedded text.
    pub hash: ContentHash,
    /// [`word_set`] of the text: sorted, distinct.
    pub words: &'a [u64],
    /// [`term_hash`] of every distinct analyzed term of the title, headings and text: sorted.
    pub terms: &'a [u32],
    headings: Fields<'a>,
    tags: Fields<'a>,
}

/// A run of strings inside a record.
#[derive(Debug, Clone, Copy)]
struct Fields<'a> {
    lens: &'a [u8],
    bytes: &'a str,
}

impl<'a> Fields<'a> {
    fn iter(self) -> impl Iterator<Item = &'a str> {
        let mut at = 0usize;
        self.lens.chunks_exact(4).map(move |l| {
            let n = u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize;
            let s = self.bytes.get(at..at + n).unwrap_or("");
            at += n;
            s
        })
    }
}

impl<'a> ChunkView<'a> {
    /// The heading path, page title first.
    pub fn heading_path(&self) -> impl Iterator<Item = &'a str> {
        self.headings.iter()
    }

    /// Tags.
    pub fn tags(&self) -> impl Iterator<Item = &'a str> {
        self.tags.iter()
    }

    /// An owned [`ChunkRecord`].
    pub fn to_record(&self) -> ChunkRecord {
        ChunkRecord {
            chunk_id: self.chunk_id.to_string(),
            doc_id: self.doc_id.to_string(),
            url: self.url.to_string(),
            title: self.title.to_string(),
            heading_path: self.heading_path().map(str::to_string).collect(),
            text: self.text.to_string(),
            tags: self.tags().map(str::to_string).collect(),
            hash: self.hash,
        }
    }
}

/// Writes `chunks.bin` record by record (offsets are filled in by [`RecordWriter::finish`]).
#[derive(Debug)]
pub(crate) struct RecordWriter {
    path: PathBuf,
    out: BufWriter<File>,
    offsets: Vec<u64>,
    at: u64,
}

impl RecordWriter {
    pub(crate) fn create(path: &Path) -> Result<Self, IndexError> {
        let f = File::create(path).map_err(IndexError::io("creating", path))?;
        let mut out = BufWriter::with_capacity(1 << 20, f);
        out.write_all(MAGIC).map_err(IndexError::io("writing", path))?;
        Ok(RecordWriter { path: path.into(), out, offsets: Vec::new(), at: HEADER as u64 })
    }

    /// Append the record of the next ordinal. `terms` is the analyzed terms' hashes
    /// (any order, duplicates allowed).
    pub(crate) fn push(&mut self, chunk: &ChunkRecord, mut terms: Vec<u32>) -> Result<(), IndexError> {
        terms.sort_unstable();
        terms.dedup();
        let words = word_set(&chunk.text);
        let mut buf: Vec<u8> = Vec::with_capacity(FIXED + words.len() * 8 + terms.len() * 4 + chunk.text.len() + 256);
        buf.extend_from_slice(&chunk.hash.0);
        for n in [words.len(), terms.len(), chunk.heading_path.len(), chunk.tags.len()] {
            buf.extend_from_slice(&len32(n, &self.path)?.to_le_bytes());
        }
        let strings: Vec<&str> = [&chunk.chunk_id, &chunk.doc_id, &chunk.url, &chunk.title, &chunk.text]
            .into_iter()
            .map(String::as_str)
            .chain(chunk.heading_path.iter().map(String::as_str))
            .chain(chunk.tags.iter().map(String::as_str))
            .collect();
        for s in &strings {
            buf.extend_from_slice(&len32(s.len(), &self.path)?.to_le_bytes());
        }
        buf.resize(buf.len().next_multiple_of(8), 0);
        for w in &words {
            buf.extend_from_slice(&w.to_le_bytes());
        }
        for t in &terms {
            buf.extend_from_slice(&t.to_le_bytes());
        }
        for s in &strings {
            buf.extend_from_slice(s.as_bytes());
        }
        buf.resize(buf.len().next_multiple_of(8), 0);
        self.offsets.push(self.at);
        self.out.write_all(&buf).map_err(IndexError::io("writing", &self.path))?;
        self.at += buf.len() as u64;
        Ok(())
    }

    /// Records written so far.
    pub(crate) fn rows(&self) -> usize {
        self.offsets.len()
    }

    /// Write the offsets table and the footer, flush and fsync.
    pub(crate) fn finish(mut self) -> Result<(), IndexError> {
        let path = self.path;
        let io = IndexError::io;
        for o in self.offsets.iter().copied().chain([self.at]) {
            self.out.write_all(&o.to_le_bytes()).map_err(io("writing", &path))?;
        }
        self.out.write_all(&(self.offsets.len() as u64).to_le_bytes()).map_err(io("writing", &path))?;
        self.out.write_all(MAGIC).map_err(io("writing", &path))?;
        let f = self.out.into_inner().map_err(|e| io("flushing", &path)(e.into_error()))?;
        f.sync_all().map_err(io("syncing", &path))?;
        Ok(())
    }
}

fn len32(n: usize, path: &Path) -> Result<u32, IndexError> {
    u32::try_from(n).map_err(|_| IndexError::Corrupt { path: path.into(), detail: format!("a field of {n} bytes") })
}

/// Read side of `chunks.bin`: the offsets table in memory, records read with one
/// positional read each (`pread`) into an owned, aligned buffer.
///
/// Not memory-mapped on purpose: a hit touches one record, but page fault-around maps
/// the neighbouring pages too, so after a few thousand queries a mapping holds most of
/// the file in the process's RSS (measured: all 225 MB at 100k chunks). With `pread`
/// the hot records stay in the kernel's page cache, shared and reclaimable, and a read
/// costs ~1–2 µs.
#[derive(Debug)]
pub struct RecordFile {
    path: PathBuf,
    file: File,
    /// `rows + 1` record boundaries.
    offsets: Vec<u64>,
}

/// One record read from `chunks.bin` (8-byte aligned, parsed once).
#[derive(Debug, Clone)]
pub struct ChunkBuf {
    words: Vec<u64>,
    layout: Layout,
}

/// Where the parts of a record are, in bytes from its start.
#[derive(Debug, Clone, Copy)]
struct Layout {
    hash: ContentHash,
    words: (usize, usize),
    terms: (usize, usize),
}

impl ChunkBuf {
    fn bytes(&self) -> &[u8] {
        bytemuck::cast_slice(&self.words)
    }

    /// Hash of the embedded text.
    pub fn hash(&self) -> ContentHash {
        self.layout.hash
    }

    /// [`word_set`] of the text: sorted, distinct.
    pub fn words(&self) -> &[u64] {
        let (a, b) = self.layout.words;
        &self.words[a / 8..b / 8]
    }

    /// [`term_hash`] of every distinct analyzed term of the title, headings and text: sorted.
    pub fn terms(&self) -> &[u32] {
        let (a, b) = self.layout.terms;
        bytemuck::cast_slice(&self.bytes()[a..b])
    }

    /// Every field, borrowed from the buffer.
    pub fn view(&self) -> ChunkView<'_> {
        // `RecordFile::get` parsed this buffer successfully, so parsing again cannot fail.
        parse(self.bytes()).unwrap_or(ChunkView {
            chunk_id: "",
            doc_id: "",
            url: "",
            title: "",
            text: "",
            hash: self.layout.hash,
            words: &[],
            terms: &[],
            headings: Fields { lens: &[], bytes: "" },
            tags: Fields { lens: &[], bytes: "" },
        })
    }
}

impl RecordFile {
    /// Open the file and check its header, footer, row count and offsets table.
    pub fn open(path: &Path, rows: usize) -> Result<Self, IndexError> {
        use std::os::unix::fs::FileExt;
        let file = File::open(path).map_err(IndexError::io("opening", path))?;
        let len = file.metadata().map_err(IndexError::io("reading metadata of", path))?.len() as usize;
        let corrupt = |detail: String| IndexError::Corrupt { path: path.into(), detail };
        let bad_magic = || corrupt("not a chunk record file (bad magic; written by an older build?)".into());
        if len < HEADER + FOOTER {
            return Err(bad_magic());
        }
        let (mut head, mut foot) = ([0u8; HEADER], [0u8; FOOTER]);
        file.read_exact_at(&mut head, 0).map_err(IndexError::io("reading", path))?;
        file.read_exact_at(&mut foot, (len - FOOTER) as u64).map_err(IndexError::io("reading", path))?;
        if &head != MAGIC || &foot[8..] != MAGIC {
            return Err(bad_magic());
        }
        let stored = u64::from_le_bytes(foot[..8].try_into().unwrap_or_default()) as usize;
        if stored != rows {
            return Err(corrupt(format!("{stored} records, the manifest says {rows} chunks")));
        }
        let table = (rows + 1).checked_mul(8).and_then(|t| (len - FOOTER).checked_sub(t));
        let Some(table) = table.filter(|&t| t >= HEADER) else {
            return Err(corrupt("truncated offsets table".into()));
        };
        let mut offsets = vec![0u64; rows + 1];
        file.read_exact_at(bytemuck::cast_slice_mut(&mut offsets), table as u64)
            .map_err(IndexError::io("reading", path))?;
        let in_order = offsets.windows(2).all(|w| w[0] <= w[1] && w[0] % 8 == 0);
        if offsets[0] != HEADER as u64 || offsets[rows] != table as u64 || !in_order {
            return Err(corrupt("offsets table does not span the records".into()));
        }
        Ok(RecordFile { path: path.into(), file, offsets })
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// True when there are no records.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The record of `ordinal` (one positional read).
    pub fn get(&self, ordinal: usize) -> Result<ChunkBuf, IndexError> {
        use std::os::unix::fs::FileExt;
        if ordinal >= self.len() {
            return Err(self.corrupt(ordinal, "ordinal past the end"));
        }
        let (start, end) = (self.offsets[ordinal], self.offsets[ordinal + 1]);
        let mut words = vec![0u64; ((end - start) / 8) as usize];
        self.file
            .read_exact_at(bytemuck::cast_slice_mut(&mut words), start)
            .map_err(IndexError::io("reading", &self.path))?;
        let layout = {
            let v = parse(bytemuck::cast_slice(&words)).ok_or_else(|| self.corrupt(ordinal, "malformed record"))?;
            let base = bytemuck::cast_slice::<u64, u8>(&words).as_ptr() as usize;
            let range = |p: *const u8, n: usize| (p as usize - base, p as usize - base + n);
            Layout {
                hash: v.hash,
                words: range(v.words.as_ptr().cast(), 8 * v.words.len()),
                terms: range(v.terms.as_ptr().cast(), 4 * v.terms.len()),
            }
        };
        Ok(ChunkBuf { words, layout })
    }

    fn corrupt(&self, ordinal: usize, what: &str) -> IndexError {
        IndexError::Corrupt { path: self.path.clone(), detail: format!("record {ordinal}: {what}") }
    }
}

fn parse(r: &[u8]) -> Option<ChunkView<'_>> {
    let u32_at = |at: usize| r.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
    let hash = ContentHash(r.get(..32)?.try_into().ok()?);
    let (n_words, n_terms, n_headings, n_tags) = (u32_at(32)?, u32_at(36)?, u32_at(40)?, u32_at(44)?);
    let n_strings = 5 + n_headings + n_tags;
    let lens = r.get(FIXED..FIXED + 4 * n_strings)?;
    let mut at = (FIXED + 4 * n_strings).next_multiple_of(8);
    let words: &[u64] = bytemuck::try_cast_slice(r.get(at..at + 8 * n_words)?).ok()?;
    at += 8 * n_words;
    let terms: &[u32] = bytemuck::try_cast_slice(r.get(at..at + 4 * n_terms)?).ok()?;
    at += 4 * n_terms;
    let len_of = |i: usize| u32::from_le_bytes([lens[4 * i], lens[4 * i + 1], lens[4 * i + 2], lens[4 * i + 3]]);
    let total: usize = (0..n_strings).map(|i| len_of(i) as usize).sum();
    let strings = std::str::from_utf8(r.get(at..at + total)?).ok()?;
    let mut pos = 0usize;
    let mut next = |n: usize| -> Option<&str> {
        let s = strings.get(pos..pos + n)?;
        pos += n;
        Some(s)
    };
    let (chunk_id, doc_id, url) = (next(len_of(0) as usize)?, next(len_of(1) as usize)?, next(len_of(2) as usize)?);
    let (title, text) = (next(len_of(3) as usize)?, next(len_of(4) as usize)?);
    let headings_len: usize = (5..5 + n_headings).map(|i| len_of(i) as usize).sum();
    let headings = Fields { lens: &lens[20..20 + 4 * n_headings], bytes: next(headings_len)? };
    let tags = Fields { lens: &lens[20 + 4 * n_headings..], bytes: strings.get(pos..)? };
    // Every run must split on character boundaries.
    headings.iter().chain(tags.iter()).for_each(drop);
    Some(ChunkView { chunk_id, doc_id, url, title, text, hash, words, terms, headings, tags })
}

#[cfg(not(target_endian = "little"))]
compile_error!("chunks.bin is little-endian; big-endian targets need a conversion on read");

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(i: usize, headings: usize, tags: usize) -> ChunkRecord {
        ChunkRecord {
            chunk_id: format!("c{i}"),
            doc_id: format!("https://d/{i}"),
            url: format!("https://d/{i}#s"),
            title: format!("Title {i} é"),
            heading_path: (0..headings).map(|h| format!("H{h} of {i}")).collect(),
            text: "word ".repeat(i % 7) + "Ünïcode text",
            tags: (0..tags).map(|t| format!("tag{t}")).collect(),
            hash: ContentHash::of(format!("{i}").as_bytes()),
        }
    }

    #[test]
    fn records_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("chunks.bin");
        let mut w = RecordWriter::create(&path).expect("create");
        let chunks: Vec<ChunkRecord> = (0..20).map(|i| chunk(i, i % 3, i % 2)).collect();
        for (i, c) in chunks.iter().enumerate() {
            w.push(c, vec![i as u32 + 2, 1, i as u32 + 2]).expect("push");
        }
        assert_eq!(w.rows(), 20);
        w.finish().expect("finish");
        let f = RecordFile::open(&path, 20).expect("open");
        for (i, c) in chunks.iter().enumerate() {
            let b = f.get(i).expect("get");
            let v = b.view();
            assert_eq!(&v.to_record(), c);
            assert_eq!(v.words, word_set(&c.text).as_slice());
            assert_eq!(b.words(), v.words);
            assert_eq!(v.terms, &[1, i as u32 + 2]);
            assert_eq!(b.terms(), v.terms);
            assert_eq!(b.hash(), c.hash);
        }
        assert!(f.get(20).is_err());
        assert!(RecordFile::open(&path, 19).is_err());
    }

    #[test]
    fn empty_file_and_garbage() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("chunks.bin");
        RecordWriter::create(&path).expect("create").finish().expect("finish");
        assert!(RecordFile::open(&path, 0).expect("open").is_empty());
        std::fs::write(&path, b"not a record file at all").expect("write");
        assert!(RecordFile::open(&path, 0).is_err());
    }
}
