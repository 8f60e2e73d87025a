//! The error type of the data pipeline.

use std::path::PathBuf;

/// Everything that can go wrong while reading, checking and preparing data.
///
/// Every variant that concerns a particular cell or row carries the file name
/// (as given by the caller), the 1-based line number in that file (the header
/// is line 1) and, where meaningful, the column name, so the message alone is
/// enough to find the problem.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The file could not be opened or read.
    #[error("{path}: cannot read file: {source}", path = path.display())]
    Io {
        /// The path that was opened.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The CSV reader failed (invalid UTF-8, I/O error while reading, ...).
    #[error("{file}: line {line}: malformed CSV: {message}")]
    Csv {
        /// File name.
        file: String,
        /// 1-based line number (0 if unknown).
        line: u64,
        /// Message of the CSV reader.
        message: String,
    },

    /// The file has no header line at all.
    #[error("{file}: empty file (no header line)")]
    EmptyFile {
        /// File name.
        file: String,
    },

    /// The file has a header but no data rows (or every row was dropped).
    #[error("{file}: no data rows{detail}")]
    NoData {
        /// File name.
        file: String,
        /// Extra detail such as "after dropping rows with missing values" (may be empty).
        detail: String,
    },

    /// Two header columns have the same name, so selecting by name is ambiguous.
    #[error("{file}: line 1: duplicate column name `{column}`")]
    DuplicateColumn {
        /// File name.
        file: String,
        /// The repeated name.
        column: String,
    },

    /// A row has a different number of fields than the header.
    #[error("{file}: line {line}: ragged row: expected {expected} fields (as in the header), found {found}")]
    RaggedRow {
        /// File name.
        file: String,
        /// 1-based line number.
        line: u64,
        /// Number of header fields.
        expected: usize,
        /// Number of fields on this line.
        found: usize,
    },

    /// A cell that should hold a number does not parse as one.
    #[error("{file}: line {line}, column `{column}`: not a number: `{value}`")]
    NonNumeric {
        /// File name.
        file: String,
        /// 1-based line number.
        line: u64,
        /// Column name.
        column: String,
        /// The offending text.
        value: String,
    },

    /// A cell holds `NaN` or `inf`.
    #[error("{file}: line {line}, column `{column}`: value is not finite: `{value}` (write an empty cell or NA for a missing value)")]
    NotFinite {
        /// File name.
        file: String,
        /// 1-based line number.
        line: u64,
        /// Column name.
        column: String,
        /// The offending text.
        value: String,
    },

    /// A cell holds a finite number beyond the `f32` range (|x| > 3.4e38),
    /// which the network and the device compute in.
    #[error("{file}: line {line}, column `{column}`: value `{value}` is out of range: beyond the f32 range of ±3.4e38 the model computes in")]
    OutOfRange {
        /// File name.
        file: String,
        /// 1-based line number.
        line: u64,
        /// Column name.
        column: String,
        /// The offending text.
        value: String,
    },

    /// A missing cell (empty or `NA`) under [`MissingPolicy::Error`](crate::data::MissingPolicy::Error).
    #[error("{file}: line {line}, column `{column}`: missing value (policy: error; choose drop, ffill or interpolate to accept missing values)")]
    MissingValue {
        /// File name.
        file: String,
        /// 1-based line number.
        line: u64,
        /// Column name.
        column: String,
    },

    /// A missing value cannot be filled: forward fill with no earlier value,
    /// or interpolation in a column (or series channel) that has no value at all.
    #[error("{file}: line {line}, column `{column}`: cannot fill missing value: {reason}")]
    CannotFill {
        /// File name.
        file: String,
        /// 1-based line number of the first cell that cannot be filled.
        line: u64,
        /// Column name.
        column: String,
        /// Why it cannot be filled.
        reason: String,
    },

    /// A column named by the caller is not in the header.
    #[error("{file}: unknown column `{column}` (columns are: {available})")]
    UnknownColumn {
        /// File name.
        file: String,
        /// The requested name.
        column: String,
        /// The header, comma separated.
        available: String,
    },

    /// The header does not match any supported layout.
    #[error("{file}: line 1: cannot detect the format from the header `{header}`: {reason}")]
    UnknownFormat {
        /// File name.
        file: String,
        /// The header, comma separated.
        header: String,
        /// What was expected.
        reason: String,
    },

    /// Not enough rows for the requested window and split.
    #[error("{file}: too few rows: {detail}")]
    TooFewRows {
        /// File name.
        file: String,
        /// What was needed and what there is.
        detail: String,
    },

    /// A configuration value is out of range (window 0, fraction outside [0, 1), ...).
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),

    /// The training data holds a single class, so there is nothing to learn.
    #[error("{file}: training data has a single class `{class}` ({count} series); classification needs at least two")]
    SingleClass {
        /// File name.
        file: String,
        /// The only class present.
        class: String,
        /// How many series carry it.
        count: usize,
    },

    /// A label in the test (or validation) data never occurs in the training data.
    #[error(
        "{file}: line {line}: label `{label}` does not occur in the training data (known: {known})"
    )]
    UnseenLabel {
        /// File name.
        file: String,
        /// 1-based line number.
        line: u64,
        /// The unseen label.
        label: String,
        /// Training classes, comma separated.
        known: String,
    },

    /// Long format: the rows of a series are not contiguous.
    #[error("{file}: line {line}: rows of series `{series_id}` are not grouped together (it already ended at line {previous_line})")]
    NotGrouped {
        /// File name.
        file: String,
        /// 1-based line where the series reappears.
        line: u64,
        /// The series id.
        series_id: String,
        /// Last line of the earlier block of that series.
        previous_line: u64,
    },

    /// Long format: `t` does not increase strictly within a series.
    #[error("{file}: line {line}: series `{series_id}` is not ordered by t: t = {t} after t = {previous_t}")]
    NotOrdered {
        /// File name.
        file: String,
        /// 1-based line number.
        line: u64,
        /// The series id.
        series_id: String,
        /// The value of `t` on this line.
        t: String,
        /// The value of `t` on the previous line of the series.
        previous_t: String,
    },

    /// Long format: the label changes within one series.
    #[error(
        "{file}: line {line}: series `{series_id}` changes label from `{expected}` to `{found}`"
    )]
    InconsistentLabel {
        /// File name.
        file: String,
        /// 1-based line number.
        line: u64,
        /// The series id.
        series_id: String,
        /// Label on the first row of the series.
        expected: String,
        /// Label on this line.
        found: String,
    },

    /// A series has no time steps.
    #[error("{file}: line {line}: series `{series}` has length zero")]
    EmptySeries {
        /// File name.
        file: String,
        /// 1-based line number of the series (its first row).
        line: u64,
        /// The series id (long format) or 0-based row index (wide format).
        series: String,
    },

    /// Train and test files do not have the same columns / channels.
    #[error("{file}: columns do not match the training file: expected {expected}, found {found}")]
    ColumnMismatch {
        /// File name (the test file).
        file: String,
        /// Training columns, comma separated.
        expected: String,
        /// Columns of this file, comma separated.
        found: String,
    },

    /// A baseline or metric cannot be computed (empty input, period too long, ...).
    #[error("baseline: {0}")]
    Baseline(String),
}

/// Shorthand for results of the data pipeline.
pub type Result<T> = std::result::Result<T, DataError>;
