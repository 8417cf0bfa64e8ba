use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::IndexError;

/// Appends vectors row by row to `vectors.f32`: N × dim little-endian f32, no header
/// (dimension and count live in the manifest). Row `i` is chunk ordinal `i`.
#[derive(Debug)]
pub struct VectorWriter {
    path: PathBuf,
    out: BufWriter<File>,
    dim: usize,
    rows: u64,
}

impl VectorWriter {
    /// Create (truncate) the file.
    pub fn create(path: &Path, dim: usize) -> Result<Self, IndexError> {
        let f = File::create(path).map_err(IndexError::io("creating", path))?;
        Ok(VectorWriter { path: path.to_path_buf(), out: BufWriter::with_capacity(1 << 20, f), dim, rows: 0 })
    }

    /// Append one row; returns its ordinal.
    pub fn push(&mut self, v: &[f32]) -> Result<u64, IndexError> {
        if v.len() != self.dim {
            return Err(IndexError::Dimension { got: v.len(), want: self.dim });
        }
        for x in v {
            self.out.write_all(&x.to_le_bytes()).map_err(IndexError::io("writing", &self.path))?;
        }
        self.rows += 1;
        Ok(self.rows - 1)
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Flush and fsync; returns the number of rows.
    pub fn finish(self) -> Result<u64, IndexError> {
        let path = self.path.clone();
        let f = self.out.into_inner().map_err(|e| IndexError::io("flushing", &path)(e.into_error()))?;
        f.sync_all().map_err(IndexError::io("syncing", &path))?;
        Ok(self.rows)
    }
}

/// Read side of `vectors.f32`: memory-mapped, immutable, zero-copy row access.
#[derive(Debug)]
pub struct VectorFile {
    map: Option<Mmap>,
    dim: usize,
    rows: usize,
}

impl VectorFile {
    /// Map the file and check it holds exactly `rows` × `dim` floats.
    pub fn open(path: &Path, dim: usize, rows: usize) -> Result<Self, IndexError> {
        let f = File::open(path).map_err(IndexError::io("opening", path))?;
        let len = f.metadata().map_err(IndexError::io("reading metadata of", path))?.len() as usize;
        let want = rows * dim * 4;
        if len != want {
            return Err(IndexError::Corrupt {
                path: path.to_path_buf(),
                detail: format!("{len} bytes, expected {want} ({rows} rows × {dim} dims)"),
            });
        }
        if len == 0 {
            return Ok(VectorFile { map: None, dim, rows });
        }
        // SAFETY: generation files are never modified after publication (a new
        // generation gets a new directory), so the mapping cannot change under us.
        let map = unsafe { Mmap::map(&f) }.map_err(IndexError::io("mapping", path))?;
        Ok(VectorFile { map: Some(map), dim, rows })
    }

    /// Vector dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// True when the file has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// All rows as one flat slice (row-major), for scans.
    pub fn as_flat(&self) -> &[f32] {
        match &self.map {
            // mmap is page-aligned, so the f32 cast cannot fail on alignment; the length
            // was checked in `open`. The file is little-endian, like every target we build for.
            Some(m) => bytemuck::cast_slice(&m[..]),
            None => &[],
        }
    }

    /// Row `i`, or `None` past the end.
    pub fn row(&self, i: usize) -> Option<&[f32]> {
        if i >= self.rows {
            return None;
        }
        Some(&self.as_flat()[i * self.dim..(i + 1) * self.dim])
    }
}

#[cfg(not(target_endian = "little"))]
compile_error!("vectors.f32 is little-endian; big-endian targets need a conversion on read");
