//! The in-memory map between a generation's BM25 documents and its vector rows, with
//! the per-chunk metadata that filters and diversity need.
//!
//! Built once per snapshot from tantivy's inverted index and the `ordinal` fast field
//! (never from the docstore), so a query can filter and diversify candidates without
//! reading a single stored document: the docstore is read only for the final hits.

use std::collections::{BTreeMap, HashMap};

use docent_index::ChunkSchema;
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocAddress, DocSet, Searcher, TERMINATED};

use crate::{Filters, RowSet};

/// Marker of "no row" in the per-segment maps.
const NONE: u32 = u32::MAX;

/// Why a table could not be built.
#[derive(Debug)]
pub(crate) enum TableError {
    /// Tantivy failed to read a structure.
    Tantivy(tantivy::TantivyError),
    /// The parts of the generation disagree.
    Corrupt(String),
}

impl From<tantivy::TantivyError> for TableError {
    fn from(e: tantivy::TantivyError) -> Self {
        TableError::Tantivy(e)
    }
}

impl From<std::io::Error> for TableError {
    fn from(e: std::io::Error) -> Self {
        TableError::Tantivy(e.into())
    }
}

/// Ordinal ↔ BM25 document, page of each chunk, rows of each page and tag.
#[derive(Debug)]
pub(crate) struct ChunkTable {
    /// BM25 document of each row.
    addresses: Vec<DocAddress>,
    /// Row of each BM25 document, per segment (`NONE` for deleted documents).
    ordinal_of: Vec<Vec<u32>>,
    /// Page index (into `doc_ids`) of each row.
    doc_of: Vec<u32>,
    /// Page ids (canonical URLs), sorted, so a URL prefix is a contiguous range.
    doc_ids: Vec<String>,
    /// CSR offsets: rows of page `i` are `doc_rows[doc_offsets[i]..doc_offsets[i + 1]]`.
    doc_offsets: Vec<u32>,
    /// Rows grouped by page.
    doc_rows: Vec<u32>,
    /// Rows of each tag (lower-cased), sorted.
    tags: HashMap<String, Vec<u32>>,
}

impl ChunkTable {
    /// Read the table of a generation with `rows` chunks.
    pub(crate) fn build(searcher: &Searcher, schema: &ChunkSchema, rows: usize) -> Result<Self, TableError> {
        if rows >= NONE as usize {
            return Err(TableError::Corrupt(format!("{rows} chunks is more than this build supports")));
        }
        let mut addresses: Vec<Option<DocAddress>> = vec![None; rows];
        let mut ordinal_of = Vec::with_capacity(searcher.segment_readers().len());
        let ordinal_name = schema.schema.get_field_name(schema.ordinal).to_string();
        for (seg_ord, seg) in searcher.segment_readers().iter().enumerate() {
            let column = seg.fast_fields().u64(&ordinal_name)?;
            let mut map = vec![NONE; seg.max_doc() as usize];
            for doc in seg.doc_ids_alive() {
                let ord = column
                    .first(doc)
                    .ok_or_else(|| TableError::Corrupt(format!("BM25 document {seg_ord}/{doc} has no ordinal")))?;
                let slot = usize::try_from(ord).ok().and_then(|o| addresses.get_mut(o)).ok_or_else(|| {
                    TableError::Corrupt(format!("BM25 document {seg_ord}/{doc} has ordinal {ord} ≥ {rows} rows"))
                })?;
                if slot.is_some() {
                    return Err(TableError::Corrupt(format!("ordinal {ord} belongs to two BM25 documents")));
                }
                *slot = Some(DocAddress::new(seg_ord as u32, doc));
                map[doc as usize] = ord as u32;
            }
            ordinal_of.push(map);
        }
        let addresses = addresses
            .into_iter()
            .enumerate()
            .map(|(i, a)| a.ok_or_else(|| TableError::Corrupt(format!("vector row {i} has no BM25 document"))))
            .collect::<Result<Vec<_>, _>>()?;

        let pages = rows_by_term(searcher, schema.doc_id, &ordinal_of, false)?;
        let mut doc_of = vec![NONE; rows];
        let mut doc_ids = Vec::with_capacity(pages.len());
        let mut doc_offsets = Vec::with_capacity(pages.len() + 1);
        let mut doc_rows = Vec::with_capacity(rows);
        doc_offsets.push(0);
        for (i, (id, page_rows)) in pages.into_iter().enumerate() {
            for &r in &page_rows {
                if doc_of[r as usize] != NONE {
                    return Err(TableError::Corrupt(format!("row {r} belongs to two documents")));
                }
                doc_of[r as usize] = i as u32;
            }
            doc_rows.extend_from_slice(&page_rows);
            doc_offsets.push(doc_rows.len() as u32);
            doc_ids.push(id);
        }
        if let Some(r) = doc_of.iter().position(|&d| d == NONE) {
            return Err(TableError::Corrupt(format!("row {r} has no document id")));
        }
        let tags = rows_by_term(searcher, schema.tags, &ordinal_of, true)?.into_iter().collect();
        Ok(ChunkTable { addresses, ordinal_of, doc_of, doc_ids, doc_offsets, doc_rows, tags })
    }

    /// Number of rows.
    pub(crate) fn rows(&self) -> usize {
        self.addresses.len()
    }

    /// Row of a BM25 document.
    pub(crate) fn ordinal(&self, addr: DocAddress) -> Option<u32> {
        let o = *self.ordinal_of.get(addr.segment_ord as usize)?.get(addr.doc_id as usize)?;
        (o != NONE).then_some(o)
    }

    /// Page index of a row (equal for chunks of one page).
    pub(crate) fn page(&self, ordinal: u32) -> u32 {
        self.doc_of.get(ordinal as usize).copied().unwrap_or(NONE)
    }

    /// Number of distinct pages.
    pub(crate) fn page_count(&self) -> usize {
        self.doc_ids.len()
    }

    /// The rows the filters allow, or `None` when there is no filter.
    pub(crate) fn allowed_rows(&self, filters: &Filters) -> Option<RowSet> {
        if filters.is_empty() {
            return None;
        }
        let mut allowed: Option<RowSet> = None;
        if let Some(prefix) = filters.url_prefix.as_deref().filter(|p| !p.is_empty()) {
            let mut set = RowSet::empty(self.rows());
            let start = self.doc_ids.partition_point(|d| d.as_str() < prefix);
            for (i, id) in self.doc_ids.iter().enumerate().skip(start) {
                if !id.starts_with(prefix) {
                    break;
                }
                let (a, b) = (self.doc_offsets[i] as usize, self.doc_offsets[i + 1] as usize);
                for &r in &self.doc_rows[a..b] {
                    set.insert(r);
                }
            }
            allowed = Some(set);
        }
        if !filters.tags.is_empty() {
            let mut set = RowSet::empty(self.rows());
            for tag in &filters.tags {
                for &r in self.tags.get(&tag.to_lowercase()).map(Vec::as_slice).unwrap_or_default() {
                    set.insert(r);
                }
            }
            match &mut allowed {
                Some(a) => a.intersect_with(&set),
                None => allowed = Some(set),
            }
        }
        allowed
    }
}

/// Rows of every term of an exact (`STRING`) field, merged over segments, keyed by
/// the term text (lower-cased when `fold_case`). Reads postings, not stored documents.
fn rows_by_term(
    searcher: &Searcher,
    field: Field,
    ordinal_of: &[Vec<u32>],
    fold_case: bool,
) -> Result<BTreeMap<String, Vec<u32>>, TableError> {
    let mut out: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for (seg_ord, seg) in searcher.segment_readers().iter().enumerate() {
        let inverted = seg.inverted_index(field)?;
        let map = &ordinal_of[seg_ord];
        let mut stream = inverted.terms().stream()?;
        while stream.advance() {
            let key = std::str::from_utf8(stream.key())
                .map_err(|_| TableError::Corrupt(format!("a term of field {field:?} is not UTF-8")))?;
            let key = if fold_case { key.to_lowercase() } else { key.to_string() };
            let mut postings = inverted.read_postings_from_terminfo(stream.value(), IndexRecordOption::Basic)?;
            let rows = out.entry(key).or_default();
            let mut doc = postings.doc();
            while doc != TERMINATED {
                if let Some(&o) = map.get(doc as usize).filter(|&&o| o != NONE) {
                    rows.push(o);
                }
                doc = postings.advance();
            }
        }
    }
    out.retain(|_, rows| {
        rows.sort_unstable();
        rows.dedup();
        !rows.is_empty()
    });
    Ok(out)
}
