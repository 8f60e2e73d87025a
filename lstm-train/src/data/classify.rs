//! Classification data: labelled sequences from the wide or the long CSV
//! format, class names, validation split, scaling and zero-padded batches.
//!
//! # Formats
//!
//! * **Wide** (`label,v0,v1,…`): one univariate series per row; the label is
//!   the column named `label` (or the first column if none is so named), every
//!   other column is one time step. All series have the header's length,
//!   unless [`ClassConfig::wide_variable_length`] is set: then missing cells
//!   (empty / `NA`) at the *end* of a row are padding, so rows may hold series
//!   of different lengths (the UCR convention for variable-length data).
//! * **Long** (`series_id,label,t,f0,f1,…`): one row per time step; columns
//!   found by the names `series_id`, `label` and `t`, every other column is a
//!   channel (feature), in header order. The rows of a series must be
//!   contiguous and strictly increasing in `t`, and carry the same label.
//!   Series may have different lengths.
//!
//! [`ClassFormat::Auto`] picks long if the header has `series_id`, `label` and
//! `t`, else wide if it has `label`, else fails with
//! [`DataError::UnknownFormat`].
//!
//! # Classes
//!
//! The class list comes from the **training** file and is **sorted**: by
//! numeric value if every label is an integer (`1, 2, 10`), otherwise by byte
//! order of the strings (`Badminton, Running, Standing, Walking`). Class id `k`
//! is the index in that list. Test labels must all occur in training.
//!
//! # Splits
//!
//! Train and test come from the official files. The validation split is taken
//! from the end of the training file, never shuffled: with
//! [`ValSplit::Tail`] (Keras `validation_split`) the last
//! `n - floor((1 - f) · n)` series; with [`ValSplit::Stratified`] (the
//! default, because archive files are often sorted by class) the last
//! `floor(f · n_k)` series *of each class k*, so every class keeps at least one
//! training series. The scaler (per channel) is fitted on the remaining fit
//! series only, over their real (unpadded) time steps.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use ndarray::{s, Array2, Array3, ArrayView2};
use serde::{Deserialize, Serialize};

use super::baseline::majority_baseline;
use super::error::{DataError, Result};
use super::missing::{fill_column, ColumnContext, MissingPolicy};
use super::scaler::{Scaler, ScalerKind};
use super::table::{is_missing, Table};

/// Layout of a classification CSV.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClassFormat {
    /// Detect from the header (the default).
    #[default]
    Auto,
    /// `label,v0,v1,…`: one univariate series per row.
    Wide,
    /// `series_id,label,t,f0,f1,…`: one row per time step.
    Long,
}

/// How the validation series are chosen from the training file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValSplit {
    /// The last series of the file (Keras `validation_split`).
    Tail,
    /// The last series of each class (the default).
    #[default]
    Stratified,
}

/// How to read and prepare classification CSVs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassConfig {
    /// File layout. Default [`ClassFormat::Auto`].
    pub format: ClassFormat,
    /// Missing-value policy (applied within each series and channel; `Drop`
    /// drops the whole series). Default [`MissingPolicy::Error`].
    pub missing: MissingPolicy,
    /// Per-channel scaler, fitted on the fit split. Default [`ScalerKind::Standard`].
    pub scaler: ScalerKind,
    /// Fraction of the training series used for validation, in `[0, 1)`. Default 0.1.
    pub val_fraction: f64,
    /// How validation series are chosen. Default [`ValSplit::Stratified`].
    pub val_split: ValSplit,
    /// Wide format only: treat missing cells at the end of a row as the end
    /// of a shorter series instead of missing values. Default `false`.
    pub wide_variable_length: bool,
    /// Z-normalise each series per channel over its own length before the
    /// scaler (the UCR convention; [`normalize_series`]). Recorded in the
    /// model file (`Scaling::SeriesStandard`, format version 5). Default
    /// `false` (and then not written to `trained.json`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub per_series_norm: bool,
    /// Input pooling: each model step is the mean of `pool` consecutive
    /// samples of a series (after [`ClassConfig::per_series_norm`], before
    /// the scaler), a trailing partial group dropped ([`pool_series`]);
    /// fewer steps, cheaper on the device too. Recorded in the model file
    /// (`Header::pool`, format version 6). Default 1, no pooling (and then
    /// not written to `trained.json`).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub pool: usize,
}

fn one() -> usize {
    1
}

fn is_one(v: &usize) -> bool {
    *v == 1
}

/// The mean of every `pool` consecutive rows of `series`, a trailing
/// partial group dropped (`pool` 0 or 1: the series itself).
pub fn pool_series(series: &Array2<f64>, pool: usize) -> Array2<f64> {
    if pool <= 1 {
        return series.clone();
    }
    let steps = series.nrows() / pool;
    let mut out = Array2::zeros((steps, series.ncols()));
    for (k, mut row) in out.outer_iter_mut().enumerate() {
        let group = series.slice(s![k * pool..(k + 1) * pool, ..]);
        row.assign(&group.mean_axis(ndarray::Axis(0)).unwrap_or_default());
    }
    out
}

/// Z-normalises a `[length, channels]` series in place, per channel over its
/// own length: `(x − mean) / std` with the population standard deviation, or
/// only `x − mean` when `std ≤` [`lstm_core::file::SERIES_STD_FLOOR`] — the
/// definition of `lstm_core::file::normalize_series`, in `f64`.
pub fn normalize_series(series: &mut Array2<f64>) {
    let n = series.nrows();
    if n == 0 {
        return;
    }
    for mut col in series.columns_mut() {
        let mean = col.sum() / n as f64;
        let var = col.iter().map(|&x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
        let std = var.sqrt();
        let divisor = if std > f64::from(lstm_core::file::SERIES_STD_FLOOR) {
            std
        } else {
            1.0
        };
        col.mapv_inplace(|x| (x - mean) / divisor);
    }
}

impl Default for ClassConfig {
    fn default() -> Self {
        Self {
            format: ClassFormat::Auto,
            missing: MissingPolicy::Error,
            scaler: ScalerKind::Standard,
            val_fraction: 0.1,
            val_split: ValSplit::Stratified,
            wide_variable_length: false,
            per_series_norm: false,
            pool: 1,
        }
    }
}

/// Labelled series of one file in original units, after missing-value
/// handling, before class ids, splitting and scaling.
#[derive(Clone, Debug, PartialEq)]
pub struct LabelledSeries {
    /// File name.
    pub file: String,
    /// The resolved format ([`ClassFormat::Wide`] or [`ClassFormat::Long`]).
    pub format: ClassFormat,
    /// Channel names: the feature columns (long) or `["value"]` (wide).
    pub channels: Vec<String>,
    /// Each series as `[length, channels]`.
    pub series: Vec<Array2<f64>>,
    /// Label text of each series.
    pub labels: Vec<String>,
    /// Id of each series: `series_id` (long) or the 0-based data row (wide).
    pub ids: Vec<String>,
    /// 1-based line of the first row of each series.
    pub lines: Vec<u64>,
    /// Number of series dropped by [`MissingPolicy::Drop`].
    pub dropped: usize,
}

enum Layout {
    Wide {
        label: usize,
        values: Vec<usize>,
    },
    Long {
        id: usize,
        label: usize,
        t: usize,
        features: Vec<usize>,
    },
}

fn detect(table: &Table, format: ClassFormat) -> Result<Layout> {
    let others = |skip: &[usize]| -> Vec<usize> {
        (0..table.header.len())
            .filter(|c| !skip.contains(c))
            .collect()
    };
    let long = |table: &Table| -> Result<Layout> {
        let (id, label, t) = (
            table.column("series_id")?,
            table.column("label")?,
            table.column("t")?,
        );
        let features = others(&[id, label, t]);
        if features.is_empty() {
            return Err(DataError::UnknownFormat {
                file: table.file.clone(),
                header: table.header_text(),
                reason:
                    "the long format needs at least one feature column after series_id, label, t"
                        .to_string(),
            });
        }
        Ok(Layout::Long {
            id,
            label,
            t,
            features,
        })
    };
    let wide = |label: usize| Layout::Wide {
        label,
        values: others(&[label]),
    };
    let has = |n: &str| table.find_column(n).is_some();
    match format {
        ClassFormat::Long => long(table),
        ClassFormat::Wide => Ok(wide(table.find_column("label").unwrap_or(0))),
        ClassFormat::Auto if has("series_id") && has("label") && has("t") => long(table),
        ClassFormat::Auto => match table.find_column("label") {
            Some(l) => Ok(wide(l)),
            None => Err(DataError::UnknownFormat {
                file: table.file.clone(),
                header: table.header_text(),
                reason: "expected `label,v0,v1,...` (wide) or `series_id,label,t,f0,...` (long)"
                    .to_string(),
            }),
        },
    }
}

/// The label (or id) text at `row`, `col`; a missing label is always an error.
fn required_text(table: &Table, row: usize, col: usize) -> Result<String> {
    let t = table.text(row, col);
    if is_missing(t) {
        return Err(table.missing_error(row, col));
    }
    Ok(t.to_string())
}

/// One series being read: values per channel, with the line of each step.
struct Pending {
    id: String,
    label: String,
    first_line: u64,
    lines: Vec<u64>,
    channels: Vec<Vec<Option<f64>>>,
    any_missing: bool,
    last_t: f64,
    last_t_text: String,
}

impl LabelledSeries {
    /// Reads the CSV file at `path` (format by `cfg.format`).
    ///
    /// Errors: those of [`Table::from_path`] and [`LabelledSeries::from_table`].
    pub fn read(path: impl AsRef<Path>, cfg: &ClassConfig) -> Result<Self> {
        Self::from_table(&Table::from_path(path)?, cfg)
    }

    /// Like [`LabelledSeries::read`], from any reader; `name` is used in errors.
    ///
    /// Errors: those of [`Table::from_reader`] and [`LabelledSeries::from_table`].
    pub fn from_reader<R: Read>(name: &str, reader: R, cfg: &ClassConfig) -> Result<Self> {
        Self::from_table(&Table::from_reader(name, reader)?, cfg)
    }

    /// Parses the series of `table`, checks the layout and applies `cfg.missing`.
    ///
    /// Errors: [`DataError::UnknownFormat`], [`DataError::UnknownColumn`],
    /// cell errors ([`DataError::NonNumeric`], [`DataError::NotFinite`],
    /// [`DataError::MissingValue`] — also for a missing label, id or `t`
    /// whatever the policy — [`DataError::CannotFill`]),
    /// [`DataError::EmptySeries`], long format: [`DataError::NotGrouped`],
    /// [`DataError::NotOrdered`], [`DataError::InconsistentLabel`];
    /// [`DataError::NoData`] if `Drop` removes every series.
    pub fn from_table(table: &Table, cfg: &ClassConfig) -> Result<Self> {
        let mut out = match detect(table, cfg.format)? {
            Layout::Wide { label, values } => Self::read_wide(table, cfg, label, &values)?,
            Layout::Long {
                id,
                label,
                t,
                features,
            } => Self::read_long(table, cfg, id, label, t, &features)?,
        };
        if out.series.is_empty() {
            return Err(DataError::NoData {
                file: table.file.clone(),
                detail: format!(
                    " (all {} series have missing values and were dropped)",
                    out.dropped
                ),
            });
        }
        out.file = table.file.clone();
        Ok(out)
    }

    fn empty(format: ClassFormat, channels: Vec<String>) -> Self {
        Self {
            file: String::new(),
            format,
            channels,
            series: Vec::new(),
            labels: Vec::new(),
            ids: Vec::new(),
            lines: Vec::new(),
            dropped: 0,
        }
    }

    fn read_wide(
        table: &Table,
        cfg: &ClassConfig,
        label_col: usize,
        values: &[usize],
    ) -> Result<Self> {
        let mut out = Self::empty(ClassFormat::Wide, vec!["value".to_string()]);
        for r in 0..table.len() {
            let line = table.line(r);
            let label = required_text(table, r, label_col)?;
            let mut cells = Vec::with_capacity(values.len());
            for &c in values {
                cells.push(table.number(r, c)?);
            }
            if cfg.wide_variable_length {
                while cells.last() == Some(&None) {
                    cells.pop();
                }
            }
            if cells.is_empty() {
                return Err(DataError::EmptySeries {
                    file: table.file.clone(),
                    line,
                    series: r.to_string(),
                });
            }
            if let Some(k) = cells.iter().position(Option::is_none) {
                match cfg.missing {
                    MissingPolicy::Error => return Err(table.missing_error(r, values[k])),
                    MissingPolicy::Drop => {
                        out.dropped += 1;
                        continue;
                    }
                    MissingPolicy::Ffill | MissingPolicy::Interpolate => {}
                }
            }
            let lines = vec![line; cells.len()];
            let ctx = ColumnContext {
                file: &table.file,
                column: &table.header[values[0]],
                lines: &lines,
            };
            let filled = fill_column(&cells, cfg.missing, ctx)?;
            out.series
                .push(Array2::from_shape_vec((filled.len(), 1), filled).map_err(shape_err)?);
            out.labels.push(label);
            out.ids.push(r.to_string());
            out.lines.push(line);
        }
        Ok(out)
    }

    fn read_long(
        table: &Table,
        cfg: &ClassConfig,
        id_col: usize,
        label_col: usize,
        t_col: usize,
        features: &[usize],
    ) -> Result<Self> {
        let channels: Vec<String> = features.iter().map(|&c| table.header[c].clone()).collect();
        let mut out = Self::empty(ClassFormat::Long, channels);
        let mut ended: HashMap<String, u64> = HashMap::new();
        let mut current: Option<Pending> = None;
        for r in 0..table.len() {
            let line = table.line(r);
            let id = required_text(table, r, id_col)?;
            let label = required_text(table, r, label_col)?;
            let t = table
                .number(r, t_col)?
                .ok_or_else(|| table.missing_error(r, t_col))?;
            let t_text = table.text(r, t_col).to_string();
            let same = current.as_ref().is_some_and(|p| p.id == id);
            if !same {
                if let Some(p) = current.take() {
                    let last = p.lines.last().copied().unwrap_or(p.first_line);
                    ended.insert(p.id.clone(), last);
                    out.finish(table, cfg, features, p)?;
                }
                if let Some(&previous_line) = ended.get(&id) {
                    return Err(DataError::NotGrouped {
                        file: table.file.clone(),
                        line,
                        series_id: id,
                        previous_line,
                    });
                }
                current = Some(Pending {
                    id: id.clone(),
                    label: label.clone(),
                    first_line: line,
                    lines: Vec::new(),
                    channels: vec![Vec::new(); features.len()],
                    any_missing: false,
                    last_t: f64::NEG_INFINITY,
                    last_t_text: String::new(),
                });
            }
            let Some(p) = current.as_mut() else { continue };
            if p.label != label {
                return Err(DataError::InconsistentLabel {
                    file: table.file.clone(),
                    line,
                    series_id: id,
                    expected: p.label.clone(),
                    found: label,
                });
            }
            if t <= p.last_t {
                return Err(DataError::NotOrdered {
                    file: table.file.clone(),
                    line,
                    series_id: id,
                    t: t_text,
                    previous_t: p.last_t_text.clone(),
                });
            }
            p.last_t = t;
            p.last_t_text = t_text;
            p.lines.push(line);
            for (ch, &c) in p.channels.iter_mut().zip(features) {
                let v = table.number(r, c)?;
                if v.is_none() {
                    if cfg.missing == MissingPolicy::Error {
                        return Err(table.missing_error(r, c));
                    }
                    p.any_missing = true;
                }
                ch.push(v);
            }
        }
        if let Some(p) = current.take() {
            out.finish(table, cfg, features, p)?;
        }
        Ok(out)
    }

    /// Fills and stores one long-format series (or drops it).
    fn finish(
        &mut self,
        table: &Table,
        cfg: &ClassConfig,
        features: &[usize],
        p: Pending,
    ) -> Result<()> {
        let len = p.lines.len();
        if len == 0 {
            return Err(DataError::EmptySeries {
                file: table.file.clone(),
                line: p.first_line,
                series: p.id,
            });
        }
        if p.any_missing && cfg.missing == MissingPolicy::Drop {
            self.dropped += 1;
            return Ok(());
        }
        let mut arr = Array2::<f64>::zeros((len, features.len()));
        for (j, (col, &c)) in p.channels.iter().zip(features).enumerate() {
            let ctx = ColumnContext {
                file: &table.file,
                column: &table.header[c],
                lines: &p.lines,
            };
            let filled = fill_column(col, cfg.missing, ctx)?;
            for (i, v) in filled.into_iter().enumerate() {
                arr[[i, j]] = v;
            }
        }
        self.series.push(arr);
        self.labels.push(p.label);
        self.ids.push(p.id);
        self.lines.push(p.first_line);
        Ok(())
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// `true` if there are no series.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Length (number of time steps) of each series.
    pub fn lengths(&self) -> Vec<usize> {
        self.series.iter().map(|s| s.nrows()).collect()
    }
}

fn shape_err(e: ndarray::ShapeError) -> DataError {
    DataError::InvalidConfig(format!("internal shape error: {e}"))
}

/// A batch of labelled sequences ready for training or evaluation.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassData {
    /// Scaled values `[N, T_max, F]`; steps at and after `lengths[i]` are 0.
    pub x: Array3<f32>,
    /// Real length of each series.
    pub lengths: Vec<usize>,
    /// Class id of each series, in `0 .. classes.len()`.
    pub labels: Vec<usize>,
    /// Class names; id `k` is `classes[k]`.
    pub classes: Vec<String>,
    /// Id of each series in its file (see [`LabelledSeries::ids`]).
    pub ids: Vec<String>,
}

impl ClassData {
    /// Number of series `N`.
    pub fn len(&self) -> usize {
        self.lengths.len()
    }

    /// `true` if there are no series.
    pub fn is_empty(&self) -> bool {
        self.lengths.is_empty()
    }

    /// Number of channels `F`.
    pub fn n_features(&self) -> usize {
        self.x.dim().2
    }

    /// Padded length `T_max` (the longest series).
    pub fn max_len(&self) -> usize {
        self.x.dim().1
    }

    /// The real (unpadded) steps of series `i`, `[lengths[i], F]`.
    ///
    /// # Panics
    /// If `i >= len()`.
    pub fn series(&self, i: usize) -> ArrayView2<'_, f32> {
        self.x.slice(s![i, ..self.lengths[i], ..])
    }
}

/// Classification data ready for training: fit / validation / test batches,
/// the class list and the fitted scaler.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassDataset {
    /// The resolved file format.
    pub format: ClassFormat,
    /// Channel names.
    pub channels: Vec<String>,
    /// Sorted class names (see the module docs); id `k` is `classes[k]`.
    pub classes: Vec<String>,
    /// Per-channel scaler, fitted on the fit split.
    pub scaler: Scaler,
    /// Fit split (training file minus validation).
    pub train: ClassData,
    /// Validation split (from the end of the training file; may be empty).
    pub val: ClassData,
    /// Test split (the test file).
    pub test: ClassData,
    /// Each series was z-normalised before the scaler
    /// ([`ClassConfig::per_series_norm`]).
    pub per_series_norm: bool,
    /// What happened to test series whose length differs from the
    /// training series' ([`length_note`]), or `None`.
    pub length_note: Option<String>,
    /// Input pooling ([`ClassConfig::pool`]); lengths here are in pooled
    /// steps.
    pub pool: usize,
}

/// Cuts every series longer than `window` rows to its last `window` rows,
/// as a device does that keeps the last `window` samples of a series (a
/// classifier's window is its longest training series); returns how many
/// were cut.
pub fn keep_last(series: &mut [Array2<f64>], window: usize) -> usize {
    let mut cut = 0;
    for s in series.iter_mut() {
        let n = s.nrows();
        if n > window {
            *s = s.slice(s![n - window.., ..]).to_owned();
            cut += 1;
        }
    }
    cut
}

/// The note for test series whose lengths differ from the training
/// series' (`None` when every test length lies within the training
/// lengths): a shorter series is classified from its own steps, a longer
/// one from its last `max` steps (the model's window), on the host as on
/// the device.
pub fn length_note(train_lengths: &[usize], test_lengths: &[usize]) -> Option<String> {
    let (min, max) = (
        train_lengths.iter().copied().min()?,
        train_lengths.iter().copied().max()?,
    );
    let shorter = test_lengths.iter().filter(|&&l| l < min).count();
    let longer = test_lengths.iter().filter(|&&l| l > max).count();
    if shorter + longer == 0 {
        return None;
    }
    let train = if min == max {
        format!("every training series is {max} steps long")
    } else {
        format!("the training series are {min}-{max} steps long")
    };
    let mut parts = Vec::new();
    if shorter > 0 {
        parts.push(format!(
            "{shorter} shorter ones are classified from their own steps"
        ));
    }
    if longer > 0 {
        parts.push(format!(
            "{longer} longer ones from their last {max} steps only (the model's window: a device keeps the last {max} samples, and the host does the same)"
        ));
    }
    Some(format!(
        "note: {} of {} test series differ in length from the training series ({train}): {}",
        shorter + longer,
        test_lengths.len(),
        parts.join("; ")
    ))
}

/// Reads the official train and test files and prepares them: shorthand for
/// [`LabelledSeries::read`] on both (the test file is read in the format
/// resolved for the training file) and [`ClassDataset::new`].
///
/// Errors: see those functions.
pub fn load_classification(
    train: impl AsRef<Path>,
    test: impl AsRef<Path>,
    cfg: &ClassConfig,
) -> Result<ClassDataset> {
    let tr = LabelledSeries::read(train, cfg)?;
    let test_cfg = ClassConfig {
        format: tr.format,
        ..cfg.clone()
    };
    let te = LabelledSeries::read(test, &test_cfg)?;
    ClassDataset::new(tr, te, cfg)
}

/// Sorted unique labels: numerically if all are integers, else by bytes.
fn sorted_classes(labels: &[String]) -> Vec<String> {
    let mut classes: Vec<String> = labels.to_vec();
    classes.sort();
    classes.dedup();
    let ints: Option<Vec<i64>> = classes.iter().map(|c| c.parse::<i64>().ok()).collect();
    if let Some(ints) = ints {
        let mut pairs: Vec<(i64, String)> = ints.into_iter().zip(classes).collect();
        pairs.sort();
        classes = pairs.into_iter().map(|(_, c)| c).collect();
    }
    classes
}

impl ClassDataset {
    /// Builds class ids, the validation split, the scaler and the padded
    /// batches from the series of the training and test files.
    ///
    /// Errors: [`DataError::InvalidConfig`] (fraction outside `[0, 1)`),
    /// [`DataError::ColumnMismatch`] (formats or channels differ),
    /// [`DataError::SingleClass`] (one class in the training file, or in the
    /// fit split after taking the validation series),
    /// [`DataError::UnseenLabel`] (a test label not in training).
    pub fn new(
        mut train: LabelledSeries,
        mut test: LabelledSeries,
        cfg: &ClassConfig,
    ) -> Result<Self> {
        // As a device does: each whole series normalised, then pooled.
        if cfg.per_series_norm {
            train.series.iter_mut().for_each(normalize_series);
            test.series.iter_mut().for_each(normalize_series);
        }
        if cfg.pool > 1 {
            for part in [&mut train, &mut test] {
                if let Some(k) = part.series.iter().position(|s| s.nrows() < cfg.pool) {
                    return Err(DataError::InvalidConfig(format!(
                        "{}: line {}: series `{}` has {} steps, fewer than --pool {}: it would pool to nothing",
                        part.file,
                        part.lines[k],
                        part.ids[k],
                        part.series[k].nrows(),
                        cfg.pool
                    )));
                }
                for s in part.series.iter_mut() {
                    *s = pool_series(s, cfg.pool);
                }
            }
        }
        // The model's window is the longest training series (in model
        // steps): a longer test series is classified from its last
        // `window` steps, as a device streaming it through a window of
        // that length does.
        let train_lengths: Vec<usize> = train.series.iter().map(|s| s.nrows()).collect();
        let test_lengths: Vec<usize> = test.series.iter().map(|s| s.nrows()).collect();
        let length_note = length_note(&train_lengths, &test_lengths);
        if let Some(&window) = train_lengths.iter().max() {
            keep_last(&mut test.series, window);
        }
        if !(0.0..1.0).contains(&cfg.val_fraction) {
            return Err(DataError::InvalidConfig(format!(
                "val_fraction = {} is outside [0, 1)",
                cfg.val_fraction
            )));
        }
        if train.format != test.format || train.channels != test.channels {
            return Err(DataError::ColumnMismatch {
                file: test.file.clone(),
                expected: format!(
                    "{:?} format, channels {}",
                    train.format,
                    train.channels.join(",")
                ),
                found: format!(
                    "{:?} format, channels {}",
                    test.format,
                    test.channels.join(",")
                ),
            });
        }
        let classes = sorted_classes(&train.labels);
        let ids_of = |s: &LabelledSeries| -> Result<Vec<usize>> {
            s.labels
                .iter()
                .zip(&s.lines)
                .map(|(l, &line)| {
                    classes
                        .iter()
                        .position(|c| c == l)
                        .ok_or_else(|| DataError::UnseenLabel {
                            file: s.file.clone(),
                            line,
                            label: l.clone(),
                            known: classes.join(", "),
                        })
                })
                .collect()
        };
        let train_ids = ids_of(&train)?;
        if classes.len() < 2 {
            return Err(DataError::SingleClass {
                file: train.file.clone(),
                class: classes.first().cloned().unwrap_or_default(),
                count: train.len(),
            });
        }
        let test_ids = ids_of(&test)?;

        // Validation split (indices into the training file, in file order).
        let n = train.len();
        let mut is_val = vec![false; n];
        match cfg.val_split {
            ValSplit::Tail => {
                let keep = ((1.0 - cfg.val_fraction) * n as f64 + 1e-9).floor() as usize;
                for v in is_val.iter_mut().skip(keep.min(n)) {
                    *v = true;
                }
            }
            ValSplit::Stratified => {
                for k in 0..classes.len() {
                    let members: Vec<usize> = (0..n).filter(|&i| train_ids[i] == k).collect();
                    let n_val = (cfg.val_fraction * members.len() as f64 + 1e-9).floor() as usize;
                    for &i in members
                        .iter()
                        .rev()
                        .take(n_val.min(members.len().saturating_sub(1)))
                    {
                        is_val[i] = true;
                    }
                }
            }
        }
        let fit_idx: Vec<usize> = (0..n).filter(|&i| !is_val[i]).collect();
        let val_idx: Vec<usize> = (0..n).filter(|&i| is_val[i]).collect();
        let mut fit_classes: Vec<usize> = fit_idx.iter().map(|&i| train_ids[i]).collect();
        fit_classes.sort_unstable();
        fit_classes.dedup();
        if fit_classes.len() < 2 {
            let class = fit_classes
                .first()
                .map(|&k| classes[k].clone())
                .unwrap_or_default();
            return Err(DataError::SingleClass {
                file: format!(
                    "{} (fit split, after taking {} validation series)",
                    train.file,
                    val_idx.len()
                ),
                class,
                count: fit_idx.len(),
            });
        }

        // Scaler on the real steps of the fit series.
        let f = train.channels.len();
        let steps: usize = fit_idx.iter().map(|&i| train.series[i].nrows()).sum();
        let mut stacked = Array2::<f64>::zeros((steps, f));
        let mut at = 0;
        for &i in &fit_idx {
            let s = &train.series[i];
            stacked.slice_mut(s![at..at + s.nrows(), ..]).assign(s);
            at += s.nrows();
        }
        let scaler = Scaler::fit(cfg.scaler, stacked.view())?;

        let all_test: Vec<usize> = (0..test.len()).collect();
        Ok(Self {
            format: train.format,
            channels: train.channels.clone(),
            train: batch(&train, &fit_idx, &train_ids, &classes, &scaler),
            val: batch(&train, &val_idx, &train_ids, &classes, &scaler),
            test: batch(&test, &all_test, &test_ids, &classes, &scaler),
            classes,
            scaler,
            per_series_norm: cfg.per_series_norm,
            length_note,
            pool: cfg.pool.max(1),
        })
    }

    /// Number of classes `K`.
    pub fn n_classes(&self) -> usize {
        self.classes.len()
    }

    /// Applies this dataset's classes and scaler to other labelled series
    /// (e.g. a further evaluation file).
    ///
    /// Errors: [`DataError::ColumnMismatch`], [`DataError::UnseenLabel`].
    pub fn prepare(&self, series: &LabelledSeries) -> Result<ClassData> {
        if series.format != self.format || series.channels != self.channels {
            return Err(DataError::ColumnMismatch {
                file: series.file.clone(),
                expected: format!(
                    "{:?} format, channels {}",
                    self.format,
                    self.channels.join(",")
                ),
                found: format!(
                    "{:?} format, channels {}",
                    series.format,
                    series.channels.join(",")
                ),
            });
        }
        let ids = series
            .labels
            .iter()
            .zip(&series.lines)
            .map(|(l, &line)| {
                self.classes
                    .iter()
                    .position(|c| c == l)
                    .ok_or_else(|| DataError::UnseenLabel {
                        file: series.file.clone(),
                        line,
                        label: l.clone(),
                        known: self.classes.join(", "),
                    })
            })
            .collect::<Result<Vec<usize>>>()?;
        let all: Vec<usize> = (0..series.len()).collect();
        if self.per_series_norm || self.pool > 1 {
            let mut prepared = series.clone();
            for s in prepared.series.iter_mut() {
                if self.per_series_norm {
                    normalize_series(s);
                }
                *s = pool_series(s, self.pool);
            }
            return Ok(batch(&prepared, &all, &ids, &self.classes, &self.scaler));
        }
        Ok(batch(series, &all, &ids, &self.classes, &self.scaler))
    }

    /// Majority-class baseline: the most frequent label of the whole training
    /// file (fit + validation; ties go to the smallest class id) predicted for
    /// every test series. Returns `(class id, test accuracy)`.
    ///
    /// Errors: [`DataError::Baseline`] if the test split is empty.
    pub fn majority_baseline(&self) -> Result<(usize, f64)> {
        let mut train_labels = self.train.labels.clone();
        train_labels.extend_from_slice(&self.val.labels);
        majority_baseline(&train_labels, &self.test.labels)
    }
}

/// Scales and zero-pads the series `idx` of `src`.
fn batch(
    src: &LabelledSeries,
    idx: &[usize],
    ids: &[usize],
    classes: &[String],
    scaler: &Scaler,
) -> ClassData {
    let f = src.channels.len();
    let t_max = idx
        .iter()
        .map(|&i| src.series[i].nrows())
        .max()
        .unwrap_or(0);
    let mut x = Array3::<f32>::zeros((idx.len(), t_max, f));
    for (b, &i) in idx.iter().enumerate() {
        let scaled = scaler.transform(src.series[i].view()).mapv(|v| v as f32);
        x.slice_mut(s![b, ..scaled.nrows(), ..]).assign(&scaled);
    }
    ClassData {
        x,
        lengths: idx.iter().map(|&i| src.series[i].nrows()).collect(),
        labels: idx.iter().map(|&i| ids[i]).collect(),
        classes: classes.to_vec(),
        ids: idx.iter().map(|&i| src.ids[i].clone()).collect(),
    }
}
