//! Reading a CSV file into a checked table of text cells, and parsing cells.
//!
//! The reader is the [`csv`] crate, configured for the files of this project:
//! comma separated, first line is the header, fields are trimmed, empty lines
//! are skipped. Every row is checked to have as many fields as the header
//! (a ragged row is an error naming its line), and every row keeps its 1-based
//! line number in the file (the header is line 1) for error messages.
//!
//! Cells are parsed on demand by [`Table::number`], which implements the
//! project's rules for numbers:
//!
//! * an empty cell or the text `NA` is a **missing** value (`Ok(None)`);
//! * anything Rust's `f64` parser accepts and that is finite and within the
//!   `f32` range is a value;
//! * `NaN`, `nan`, `inf`, `-inf` and `infinity` are [`DataError::NotFinite`]
//!   (they are not treated as missing: a NaN in a file usually means a bug
//!   upstream, so it is reported, not silently filled);
//! * a finite number beyond the `f32` range (`1e39`) is
//!   [`DataError::OutOfRange`];
//! * anything else is [`DataError::NonNumeric`].

use std::fs::File;
use std::io::Read;
use std::path::Path;

use super::error::{DataError, Result};

/// The text that marks a missing cell besides an empty field.
pub const MISSING_TOKEN: &str = "NA";

/// A CSV file read into memory: header, rows of text fields, line numbers.
///
/// The cells are kept in one text buffer with an end offset per cell (about
/// the file's size plus 8 bytes per cell and per row), not one allocation
/// per row, so that a file of a million rows costs tens of megabytes.
#[derive(Clone, Debug)]
pub struct Table {
    /// Name of the file, as used in error messages.
    pub file: String,
    /// Column names from the header line (trimmed).
    pub header: Vec<String>,
    /// Every cell's trimmed text, row by row, concatenated.
    text: String,
    /// End offset in `text` of each cell, row-major (`rows × header.len()`).
    ends: Vec<usize>,
    /// 1-based line number of each data row in its file.
    lines: Vec<u64>,
}

impl Table {
    /// Reads the CSV file at `path`.
    ///
    /// Errors: [`DataError::Io`] if the file cannot be opened, and every error
    /// of [`Table::from_reader`].
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_reader(&path.display().to_string(), file)
    }

    /// Reads CSV text from `reader`; `name` is the file name used in errors.
    ///
    /// Errors: [`DataError::EmptyFile`] (no header), [`DataError::NoData`]
    /// (header only), [`DataError::DuplicateColumn`], [`DataError::RaggedRow`],
    /// [`DataError::Csv`] (e.g. invalid UTF-8).
    pub fn from_reader<R: Read>(name: &str, reader: R) -> Result<Self> {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(reader);
        let csv_err = |e: csv::Error| DataError::Csv {
            file: name.to_string(),
            line: e.position().map_or(0, |p| p.line()),
            message: e.to_string(),
        };
        let header: Vec<String> = rdr
            .headers()
            .map_err(csv_err)?
            .iter()
            .map(str::to_string)
            .collect();
        if header.is_empty() || header.iter().all(String::is_empty) {
            return Err(DataError::EmptyFile {
                file: name.to_string(),
            });
        }
        for (i, h) in header.iter().enumerate() {
            if header[..i].contains(h) {
                return Err(DataError::DuplicateColumn {
                    file: name.to_string(),
                    column: h.clone(),
                });
            }
        }
        let (mut text, mut ends, mut lines) = (String::new(), Vec::new(), Vec::new());
        // One record buffer, reused for every row.
        let mut fields = csv::StringRecord::new();
        while rdr.read_record(&mut fields).map_err(csv_err)? {
            let line = fields.position().map_or(0, |p| p.line());
            if fields.len() != header.len() {
                return Err(DataError::RaggedRow {
                    file: name.to_string(),
                    line,
                    expected: header.len(),
                    found: fields.len(),
                });
            }
            for field in &fields {
                text.push_str(field);
                ends.push(text.len());
            }
            lines.push(line);
        }
        if lines.is_empty() {
            return Err(DataError::NoData {
                file: name.to_string(),
                detail: " (the file has only a header line)".to_string(),
            });
        }
        text.shrink_to_fit();
        ends.shrink_to_fit();
        lines.shrink_to_fit();
        Ok(Self {
            file: name.to_string(),
            header,
            text,
            ends,
            lines,
        })
    }

    /// The header as one comma-separated string (for messages).
    pub fn header_text(&self) -> String {
        self.header.join(",")
    }

    /// Index of the column called `name` (exact match), if any.
    pub fn find_column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    /// Index of the column called `name`, or [`DataError::UnknownColumn`].
    pub fn column(&self, name: &str) -> Result<usize> {
        self.find_column(name)
            .ok_or_else(|| DataError::UnknownColumn {
                file: self.file.clone(),
                column: name.to_string(),
                available: self.header_text(),
            })
    }

    /// The trimmed text of the cell at data row `row` (0-based) and column `col`.
    ///
    /// # Panics
    /// If `row` or `col` is out of bounds.
    pub fn text(&self, row: usize, col: usize) -> &str {
        assert!(col < self.header.len(), "column {col} out of bounds");
        let k = row * self.header.len() + col;
        let start = if k == 0 { 0 } else { self.ends[k - 1] };
        &self.text[start..self.ends[k]]
    }

    /// Number of data rows (at least one: an empty file is refused).
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether the table has no data rows (never, once read).
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// 1-based line number of data row `row` (0-based).
    ///
    /// # Panics
    /// If `row` is out of bounds.
    pub fn line(&self, row: usize) -> u64 {
        self.lines[row]
    }

    /// Parses the cell at data row `row`, column `col` as a number:
    /// `Ok(None)` if it is missing (empty or `NA`), `Ok(Some(v))` for a finite
    /// number, otherwise [`DataError::NonNumeric`], [`DataError::NotFinite`]
    /// or [`DataError::OutOfRange`]
    /// naming the file, line and column.
    ///
    /// # Panics
    /// If `row` or `col` is out of bounds.
    pub fn number(&self, row: usize, col: usize) -> Result<Option<f64>> {
        parse_number(self.text(row, col)).map_err(|kind| self.cell_error(row, col, kind))
    }

    /// The error for a bad cell at `row`, `col`.
    fn cell_error(&self, row: usize, col: usize, kind: CellError) -> DataError {
        let file = self.file.clone();
        let line = self.line(row);
        let column = self.header[col].clone();
        let value = self.text(row, col).to_string();
        match kind {
            CellError::NonNumeric => DataError::NonNumeric {
                file,
                line,
                column,
                value,
            },
            CellError::NotFinite => DataError::NotFinite {
                file,
                line,
                column,
                value,
            },
            CellError::OutOfRange => DataError::OutOfRange {
                file,
                line,
                column,
                value,
            },
        }
    }

    /// [`DataError::MissingValue`] for the cell at `row`, `col`.
    pub fn missing_error(&self, row: usize, col: usize) -> DataError {
        DataError::MissingValue {
            file: self.file.clone(),
            line: self.line(row),
            column: self.header[col].clone(),
        }
    }
}

/// Why a cell is not a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CellError {
    /// The text does not parse as a number.
    NonNumeric,
    /// The text parses but is NaN or infinite.
    NotFinite,
    /// The text is a finite number beyond the `f32` range.
    OutOfRange,
}

/// Returns `true` if the (trimmed) text marks a missing cell: empty or `NA`.
pub fn is_missing(text: &str) -> bool {
    let t = text.trim();
    t.is_empty() || t == MISSING_TOKEN
}

/// Parses one cell by the rules of this module (see the module docs).
pub fn parse_number(text: &str) -> std::result::Result<Option<f64>, CellError> {
    let t = text.trim();
    if is_missing(t) {
        return Ok(None);
    }
    let v: f64 = t.parse().map_err(|_| CellError::NonNumeric)?;
    if !v.is_finite() {
        return Err(CellError::NotFinite);
    }
    if !(v as f32).is_finite() {
        return Err(CellError::OutOfRange);
    }
    Ok(Some(v))
}
