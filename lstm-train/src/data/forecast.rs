//! Forecasting data: columns from a CSV, chronological splits, scaling,
//! sliding windows and the stateful (whole-sequence) layout.
//!
//! # Splits
//!
//! With `n` rows (after missing-value handling), the test split is the last
//! `n_test = n - floor((1 - test_fraction) · n)` rows, so the default
//! `test_fraction = 0.2` gives `n_train = floor(0.8 · n)` as in the shared
//! datasets' README (airline 115 / 29, sunspots 247 / 62). The validation split
//! is the last `n_val = n_train - floor((1 - val_fraction) · n_train)` rows of
//! the training portion (Keras `validation_split` style, applied to rows). The
//! remaining first `n_fit = n_train - n_val` rows are the *fit* split, on which
//! the scalers are fitted and the model is trained. Nothing is shuffled across
//! time.
//!
//! # Windows (one-step-ahead)
//!
//! A sample with target row `t` has input `x = features[t-W .. t]` (`W` rows,
//! the last one is row `t-1`) and target `y = target[t]`. Each split holds the
//! samples whose *target* row lies in that split: fit targets `W .. n_fit`,
//! validation targets `n_fit .. n_train`, test targets `n_train .. n`. Inputs of
//! validation and test samples may reach back into earlier splits (as the
//! README's baselines use all true values before `t`), so there is exactly one
//! test prediction per test row.

use std::io::Read;
use std::ops::Range;
use std::path::Path;

use ndarray::{
    s, Array1, Array2, Array3, ArrayView1, ArrayView2, ArrayView3, ArrayViewMut3, Axis, Ix3,
    ShapeBuilder, SliceArg,
};
use serde::{Deserialize, Serialize};

use super::baseline::{naive_forecast, seasonal_naive_forecast, Metrics};
use super::error::{DataError, Result};
use super::missing::{fill_column, ColumnContext, MissingPolicy};
use super::scaler::{Scaler, ScalerKind};
use super::table::Table;
use super::times::Times;

/// Which column holds the time labels (kept as text, never parsed).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimeColumn {
    /// The first column (the default; the shared files' `time` column).
    #[default]
    First,
    /// The column with this name.
    Named(String),
    /// There is no time column; every column is a value column.
    Absent,
}

/// How to read and prepare a forecasting CSV.
///
/// Build with struct update syntax:
/// `ForecastConfig { window: 24, ..ForecastConfig::default() }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ForecastConfig {
    /// The time column (default: the first column).
    pub time_column: TimeColumn,
    /// Name of the target column. Default `None`: the single non-time column
    /// (an error if there are several).
    pub target: Option<String>,
    /// Names of the input feature columns, in this order. Default `None`:
    /// `[target]` (univariate autoregression). The target may or may not be
    /// among them.
    pub features: Option<Vec<String>>,
    /// Window length `W` (number of past steps in one input), at least 1. Default 12.
    pub window: usize,
    /// Fraction of rows at the end used for testing, in `[0, 1)`. Default 0.2.
    pub test_fraction: f64,
    /// Fraction of the training rows, at their end, used for validation, in `[0, 1)`. Default 0.1.
    pub val_fraction: f64,
    /// Missing-value policy. Default [`MissingPolicy::Error`].
    pub missing: MissingPolicy,
    /// Scaler for the input features. Default [`ScalerKind::MinMax`].
    pub scale_x: ScalerKind,
    /// Scaler for the target. Default [`ScalerKind::MinMax`].
    pub scale_y: ScalerKind,
}

impl Default for ForecastConfig {
    fn default() -> Self {
        Self {
            time_column: TimeColumn::First,
            target: None,
            features: None,
            window: 12,
            test_fraction: 0.2,
            val_fraction: 0.1,
            missing: MissingPolicy::Error,
            scale_x: ScalerKind::MinMax,
            scale_y: ScalerKind::MinMax,
        }
    }
}

/// The selected columns of a forecasting CSV, in original units, after
/// missing-value handling and before any split or scaling.
///
/// This is the building block for prediction on new data with a saved scaler;
/// [`ForecastData`] is built from it for training.
#[derive(Clone, Debug, PartialEq)]
pub struct ForecastColumns {
    /// File name (for messages).
    pub file: String,
    /// Time label of each kept row (the row's 0-based index as text if there
    /// is no time column).
    pub times: Times,
    /// 1-based line number of each kept row.
    pub lines: Vec<u64>,
    /// Names of the feature columns, in input order.
    pub feature_names: Vec<String>,
    /// Name of the target column.
    pub target_name: String,
    /// Feature values `[rows, features]`.
    pub features: Array2<f64>,
    /// Target values `[rows]`.
    pub target: Array1<f64>,
    /// Number of rows dropped by [`MissingPolicy::Drop`].
    pub dropped: usize,
}

impl ForecastColumns {
    /// Reads the CSV file at `path` and selects columns by `cfg`.
    ///
    /// Errors: those of [`Table::from_path`] and [`ForecastColumns::from_table`].
    pub fn read(path: impl AsRef<Path>, cfg: &ForecastConfig) -> Result<Self> {
        Self::from_table(&Table::from_path(path)?, cfg)
    }

    /// Like [`ForecastColumns::read`], from any reader; `name` is used in errors.
    ///
    /// Errors: those of [`Table::from_reader`] and [`ForecastColumns::from_table`].
    pub fn from_reader<R: Read>(name: &str, reader: R, cfg: &ForecastConfig) -> Result<Self> {
        Self::from_table(&Table::from_reader(name, reader)?, cfg)
    }

    /// Selects and parses the time, target and feature columns of `table`
    /// (only those: other columns are never parsed) and applies `cfg.missing`.
    ///
    /// Errors: [`DataError::UnknownColumn`], [`DataError::InvalidConfig`]
    /// (several value columns and no target chosen, empty feature list),
    /// [`DataError::UnknownFormat`] (no value column), cell errors
    /// ([`DataError::NonNumeric`], [`DataError::NotFinite`],
    /// [`DataError::MissingValue`], [`DataError::CannotFill`]), and
    /// [`DataError::NoData`] if `Drop` removes every row.
    pub fn from_table(table: &Table, cfg: &ForecastConfig) -> Result<Self> {
        let time_idx = match &cfg.time_column {
            TimeColumn::First => Some(0),
            TimeColumn::Named(name) => Some(table.column(name)?),
            TimeColumn::Absent => None,
        };
        let value_cols: Vec<usize> = (0..table.header.len())
            .filter(|&c| Some(c) != time_idx)
            .collect();
        if value_cols.is_empty() {
            return Err(DataError::UnknownFormat {
                file: table.file.clone(),
                header: table.header_text(),
                reason:
                    "a forecasting file needs at least one value column besides the time column"
                        .to_string(),
            });
        }
        let target_idx = match &cfg.target {
            Some(name) => table.column(name)?,
            None => match value_cols.as_slice() {
                [only] => *only,
                _ => {
                    let names: Vec<&str> = value_cols
                        .iter()
                        .map(|&c| table.header[c].as_str())
                        .collect();
                    return Err(DataError::InvalidConfig(format!(
                        "{}: {} value columns ({}): choose the target column by name",
                        table.file,
                        names.len(),
                        names.join(", ")
                    )));
                }
            },
        };
        let feature_idx: Vec<usize> = match &cfg.features {
            Some(names) if names.is_empty() => {
                return Err(DataError::InvalidConfig(
                    "the feature column list is empty".to_string(),
                ))
            }
            Some(names) => names
                .iter()
                .map(|n| table.column(n))
                .collect::<Result<_>>()?,
            None => vec![target_idx],
        };
        // Columns to parse: features then the target, without repeats.
        let mut used = feature_idx.clone();
        if !used.contains(&target_idx) {
            used.push(target_idx);
        }
        let slot = |c: usize| used.iter().position(|&u| u == c).unwrap_or(0);

        // Parse row-major so that the first error reported is the first in the file.
        let mut cells: Vec<Vec<Option<f64>>> = vec![Vec::with_capacity(table.len()); used.len()];
        let mut keep: Vec<usize> = Vec::with_capacity(table.len());
        for r in 0..table.len() {
            let mut row_missing = false;
            let mut row_vals = Vec::with_capacity(used.len());
            for &c in &used {
                let v = table.number(r, c)?;
                if v.is_none() {
                    if cfg.missing == MissingPolicy::Error {
                        return Err(table.missing_error(r, c));
                    }
                    row_missing = true;
                }
                row_vals.push(v);
            }
            if row_missing && cfg.missing == MissingPolicy::Drop {
                continue;
            }
            keep.push(r);
            for (col, v) in cells.iter_mut().zip(row_vals) {
                col.push(v);
            }
        }
        let dropped = table.len() - keep.len();
        if keep.is_empty() {
            return Err(DataError::NoData {
                file: table.file.clone(),
                detail: format!(" (all {dropped} rows have missing values and were dropped)"),
            });
        }
        let lines: Vec<u64> = keep.iter().map(|&r| table.line(r)).collect();
        let filled: Vec<Vec<f64>> = used
            .iter()
            .zip(&cells)
            .map(|(&c, col)| {
                fill_column(
                    col,
                    cfg.missing,
                    ColumnContext {
                        file: &table.file,
                        column: &table.header[c],
                        lines: &lines,
                    },
                )
            })
            .collect::<Result<_>>()?;
        let n = keep.len();
        let mut features = Array2::<f64>::zeros((n, feature_idx.len()));
        for (j, &c) in feature_idx.iter().enumerate() {
            features
                .column_mut(j)
                .assign(&Array1::from(filled[slot(c)].clone()));
        }
        let target = Array1::from(filled[slot(target_idx)].clone());
        let times = keep
            .iter()
            .map(|&r| match time_idx {
                Some(c) => table.text(r, c).to_string(),
                None => r.to_string(),
            })
            .collect();
        Ok(Self {
            file: table.file.clone(),
            times,
            lines,
            feature_names: feature_idx
                .iter()
                .map(|&c| table.header[c].clone())
                .collect(),
            target_name: table.header[target_idx].clone(),
            features,
            target,
            dropped,
        })
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.target.len()
    }

    /// `true` if there are no rows (never the case for a successfully read file).
    pub fn is_empty(&self) -> bool {
        self.target.is_empty()
    }
}

/// Inputs of the sliding windows of one split, `[N, W, F]`.
///
/// Consecutive windows overlap in `W - 1` rows, so they are not stored as
/// copies: only the `N + W - 1` scaled rows they cover are kept, and window
/// `i` is rows `i .. i + W` of them. [`WindowInputs::view`] shows them as an
/// `[N, W, F]` array view (overlapping strides, no copy);
/// [`WindowInputs::gather_into`] copies chosen windows into a batch buffer.
#[derive(Clone, Debug, PartialEq)]
pub struct WindowInputs {
    /// The covered rows `[N + W - 1, F]` (`[0, F]` when `N = 0`).
    rows: Array2<f32>,
    /// Number of windows `N`.
    n: usize,
    /// Window length `W`.
    w: usize,
}

impl WindowInputs {
    /// Windows of length `w` over the rows of `rows`: `rows.nrows() - w + 1` of them.
    fn new(rows: Array2<f32>, w: usize) -> Self {
        let n = (rows.nrows() + 1).saturating_sub(w);
        WindowInputs { rows, n, w }
    }

    /// `(N, W, F)`.
    pub fn dim(&self) -> (usize, usize, usize) {
        (self.n, self.w, self.rows.ncols())
    }

    /// `[N, W, F]`.
    pub fn shape(&self) -> [usize; 3] {
        [self.n, self.w, self.rows.ncols()]
    }

    /// Number of windows `N`.
    pub fn len(&self) -> usize {
        self.n
    }

    /// `true` if there is no window.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// All windows as an `[N, W, F]` view into the stored rows (no copy; the
    /// windows overlap in memory, so the view is read-only).
    pub fn view(&self) -> ArrayView3<'_, f32> {
        let f = self.rows.ncols();
        if self.n == 0 || f == 0 {
            return ArrayView3::from_shape((self.n, self.w, f), &[]).expect("empty view");
        }
        let data = self
            .rows
            .as_slice()
            .expect("window rows are stored in standard layout");
        ArrayView3::from_shape((self.n, self.w, f).strides((f, f, 1)), data)
            .expect("overlapping read-only window view")
    }

    /// Window `i` as a `[W, F]` view.
    ///
    /// # Panics
    /// If `i >= N`.
    pub fn window(&self, i: usize) -> ArrayView2<'_, f32> {
        assert!(i < self.n, "window {i} of {}", self.n);
        self.rows.slice(s![i..i + self.w, ..])
    }

    /// The windows in order, each a `[W, F]` view.
    pub fn outer_iter(&self) -> impl ExactSizeIterator<Item = ArrayView2<'_, f32>> + '_ {
        (0..self.n).map(move |i| self.rows.slice(s![i..i + self.w, ..]))
    }

    /// Every value in `[N, W, F]` logical order.
    pub fn iter(&self) -> impl Iterator<Item = &f32> + '_ {
        (0..self.n).flat_map(move |i| self.rows.slice(s![i..i + self.w, ..]).into_iter())
    }

    /// A slice of [`WindowInputs::view`].
    pub fn slice<I: SliceArg<Ix3>>(&self, info: I) -> ndarray::ArrayView<'_, f32, I::OutDim> {
        self.view().slice_move(info)
    }

    /// The windows copied into an owned `[N, W, F]` array.
    pub fn to_owned(&self) -> Array3<f32> {
        self.view().to_owned()
    }

    /// Copies windows `idx` into the first `idx.len()` entries of `out`
    /// (`[B, W, F]` with `B >= idx.len()`).
    ///
    /// # Panics
    /// If an index is out of range or `out` is too small.
    pub fn gather_into(&self, idx: &[usize], out: &mut ArrayViewMut3<'_, f32>) {
        for (b, &i) in idx.iter().enumerate() {
            out.slice_mut(s![b, .., ..]).assign(&self.window(i));
        }
    }

    /// The covered rows `[N + W - 1, F]` (window `i` is rows `i .. i + W`).
    pub fn rows(&self) -> ArrayView2<'_, f32> {
        self.rows.view()
    }
}

impl std::ops::Index<[usize; 3]> for WindowInputs {
    type Output = f32;

    fn index(&self, [i, k, j]: [usize; 3]) -> &f32 {
        assert!(i < self.n && k < self.w, "window index out of bounds");
        &self.rows[[i + k, j]]
    }
}

/// Sliding-window samples of one split.
#[derive(Clone, Debug, PartialEq)]
pub struct Windows {
    /// Scaled inputs `[N, W, F]`: `x[i, k, :]` = features at row `rows[i] - W + k`
    /// (stored once, not one copy per window; see [`WindowInputs`]).
    pub x: WindowInputs,
    /// Scaled targets `[N, 1]` (one-step-ahead, one target column).
    pub y: Array2<f32>,
    /// Targets in original units `[N]`, for metrics.
    pub y_raw: Array1<f64>,
    /// Row index (0-based, after missing-value handling) of each target.
    pub rows: Vec<usize>,
}

impl Windows {
    /// Number of samples `N`.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// `true` if the split has no samples.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// One split in the stateful layout: a contiguous input sequence with the
/// aligned one-step-ahead targets, to be cut into chunks for truncated BPTT
/// with carried state.
#[derive(Clone, Debug, PartialEq)]
pub struct Sequence {
    /// Scaled inputs `[T, F]`: `x[i, :]` = features at row `rows.start + i - 1`.
    pub x: Array2<f32>,
    /// Scaled targets `[T, 1]`: `y[i, 0]` = target at row `rows.start + i`.
    pub y: Array2<f32>,
    /// Targets in original units `[T]`.
    pub y_raw: Array1<f64>,
    /// Target rows covered.
    pub rows: Range<usize>,
}

/// The stateful layout of all three splits.
///
/// The input rows are contiguous across splits: train inputs are rows
/// `0 .. n_fit-1`, validation inputs `n_fit-1 .. n_train-1`, test inputs
/// `n_train-1 .. n-1`. Feeding train, then validation, then test with the state
/// carried over therefore runs over the series exactly once.
#[derive(Clone, Debug, PartialEq)]
pub struct StatefulData {
    /// Fit split (target rows `1 .. n_fit`).
    pub train: Sequence,
    /// Validation split (target rows `n_fit .. n_train`).
    pub val: Sequence,
    /// Test split (target rows `n_train .. n`).
    pub test: Sequence,
}

/// Forecasting data ready for training: scaled windows of the three
/// chronological splits, the fitted scalers and the original-unit series.
#[derive(Clone, Debug, PartialEq)]
pub struct ForecastData {
    /// File name.
    pub file: String,
    /// Time label of each row.
    pub times: Times,
    /// Feature column names, in input order.
    pub feature_names: Vec<String>,
    /// Target column name.
    pub target_name: String,
    /// Window length `W`.
    pub window: usize,
    /// Number of rows `n`.
    pub n: usize,
    /// End of the fit split (exclusive); the scalers are fitted on rows `0 .. n_fit`.
    pub n_fit: usize,
    /// End of the training portion = fit + validation (exclusive); test is `n_train .. n`.
    pub n_train: usize,
    /// Features in original units `[n, F]`.
    pub features_raw: Array2<f64>,
    /// Target in original units `[n]`.
    pub target_raw: Array1<f64>,
    /// Scaled features `[n, F]`.
    pub x_scaled: Array2<f32>,
    /// Scaled target `[n]`.
    pub y_scaled: Array1<f32>,
    /// Scaler of the features, fitted on the fit split.
    pub scaler_x: Scaler,
    /// Scaler of the target (one feature), fitted on the fit split.
    pub scaler_y: Scaler,
    /// Fit-split windows (targets `W .. n_fit`).
    pub train: Windows,
    /// Validation windows (targets `n_fit .. n_train`).
    pub val: Windows,
    /// Test windows (targets `n_train .. n`, one per test row).
    pub test: Windows,
}

/// Reads a forecasting CSV and prepares it: shorthand for
/// [`ForecastColumns::read`] followed by [`ForecastData::new`].
///
/// Errors: see those two functions.
pub fn load_forecast(path: impl AsRef<Path>, cfg: &ForecastConfig) -> Result<ForecastData> {
    ForecastData::new(ForecastColumns::read(path, cfg)?, cfg)
}

/// `n - floor((1 - frac) · n)`, robust to the rounding of `1 - frac`.
fn tail_count(n: usize, frac: f64) -> usize {
    let keep = ((1.0 - frac) * n as f64 + 1e-9).floor() as usize;
    n - keep.min(n)
}

impl ForecastData {
    /// Like [`load_forecast`], from any reader; `name` is used in errors.
    ///
    /// Errors: see [`ForecastColumns::from_table`] and [`ForecastData::new`].
    pub fn from_reader<R: Read>(name: &str, reader: R, cfg: &ForecastConfig) -> Result<Self> {
        Self::new(ForecastColumns::from_reader(name, reader, cfg)?, cfg)
    }

    /// Splits, scales and windows `cols` by `cfg` (`window`, fractions and scaler kinds).
    ///
    /// Errors: [`DataError::InvalidConfig`] (window 0, fraction outside
    /// `[0, 1)`), [`DataError::TooFewRows`] if the fit split has fewer than
    /// `window + 1` rows (no training window) or a split with a nonzero
    /// fraction would be empty.
    pub fn new(cols: ForecastColumns, cfg: &ForecastConfig) -> Result<Self> {
        let w = cfg.window;
        if w == 0 {
            return Err(DataError::InvalidConfig(
                "window length must be at least 1".to_string(),
            ));
        }
        for (name, f) in [
            ("test_fraction", cfg.test_fraction),
            ("val_fraction", cfg.val_fraction),
        ] {
            if !(0.0..1.0).contains(&f) {
                return Err(DataError::InvalidConfig(format!(
                    "{name} = {f} is outside [0, 1)"
                )));
            }
        }
        let n = cols.len();
        let n_test = tail_count(n, cfg.test_fraction);
        let n_train = n - n_test;
        let n_val = tail_count(n_train, cfg.val_fraction);
        let n_fit = n_train - n_val;
        let layout = format!("{n} rows = {n_fit} fit + {n_val} validation + {n_test} test");
        if n_fit < w + 1 {
            return Err(DataError::TooFewRows {
                file: cols.file,
                detail: format!(
                    "window {w} needs at least {} fit rows (one training window), but the split leaves {layout}",
                    w + 1
                ),
            });
        }
        if (cfg.test_fraction > 0.0 && n_test == 0) || (cfg.val_fraction > 0.0 && n_val == 0) {
            return Err(DataError::TooFewRows {
                file: cols.file,
                detail: format!(
                    "test fraction {} and validation fraction {} leave an empty split: {layout}",
                    cfg.test_fraction, cfg.val_fraction
                ),
            });
        }
        let scaler_x = Scaler::fit(cfg.scale_x, cols.features.slice(s![..n_fit, ..]))?;
        let target_2d = cols.target.view().insert_axis(Axis(1));
        let scaler_y = Scaler::fit(cfg.scale_y, target_2d.slice(s![..n_fit, ..]))?;
        let x_scaled = scaler_x.transform(cols.features.view()).mapv(|v| v as f32);
        let y_scaled = scaler_y
            .transform_column(0, cols.target.view())
            .mapv(|v| v as f32);

        let mut data = Self {
            file: cols.file,
            times: cols.times,
            feature_names: cols.feature_names,
            target_name: cols.target_name,
            window: w,
            n,
            n_fit,
            n_train,
            features_raw: cols.features,
            target_raw: cols.target,
            x_scaled,
            y_scaled,
            scaler_x,
            scaler_y,
            train: empty_windows(w, 0),
            val: empty_windows(w, 0),
            test: empty_windows(w, 0),
        };
        data.train = data.windows(w..n_fit);
        data.val = data.windows(n_fit..n_train);
        data.test = data.windows(n_train..n);
        Ok(data)
    }

    /// Number of input features `F`.
    pub fn n_features(&self) -> usize {
        self.x_scaled.ncols()
    }

    /// Target rows of the fit split's windows: `W .. n_fit`.
    pub fn train_rows(&self) -> Range<usize> {
        self.window..self.n_fit
    }

    /// Target rows of the validation split: `n_fit .. n_train`.
    pub fn val_rows(&self) -> Range<usize> {
        self.n_fit..self.n_train
    }

    /// Target rows of the test split: `n_train .. n`.
    pub fn test_rows(&self) -> Range<usize> {
        self.n_train..self.n
    }

    /// Windows whose targets are the rows `targets` (each `>= W`): the
    /// inputs keep only the rows `targets.start - W .. targets.end - 1`.
    fn windows(&self, targets: Range<usize>) -> Windows {
        let w = self.window;
        let f = self.n_features();
        if targets.is_empty() {
            return empty_windows(w, f);
        }
        let (a, b) = (targets.start, targets.end);
        let x = WindowInputs::new(
            self.x_scaled
                .slice(s![a - w..b - 1, ..])
                .as_standard_layout()
                .into_owned(),
            w,
        );
        let y = self
            .y_scaled
            .slice(s![a..b])
            .to_owned()
            .insert_axis(Axis(1));
        let y_raw = self.target_raw.slice(s![a..b]).to_owned();
        Windows {
            x,
            y,
            y_raw,
            rows: targets.collect(),
        }
    }

    /// One split in the stateful layout (targets `targets`, each `>= 1`).
    fn sequence(&self, targets: Range<usize>) -> Sequence {
        let (a, b) = (targets.start, targets.end);
        Sequence {
            x: self.x_scaled.slice(s![a - 1..b - 1, ..]).to_owned(),
            y: self
                .y_scaled
                .slice(s![a..b])
                .to_owned()
                .insert_axis(Axis(1)),
            y_raw: self.target_raw.slice(s![a..b]).to_owned(),
            rows: targets,
        }
    }

    /// The stateful layout: for each split, the whole scaled input sequence
    /// and aligned next-step targets (see [`StatefulData`]). The caller cuts
    /// it into chunks for truncated BPTT with carried state.
    pub fn stateful(&self) -> StatefulData {
        StatefulData {
            train: self.sequence(1..self.n_fit),
            val: self.sequence(self.n_fit..self.n_train),
            test: self.sequence(self.n_train..self.n),
        }
    }

    /// Brings scaled target values (e.g. predictions) back to original units.
    pub fn inverse_target(&self, y: ArrayView1<'_, f32>) -> Array1<f64> {
        self.scaler_y
            .inverse_transform_column(0, y.mapv(f64::from).view())
    }

    /// Scores scaled predictions `pred` (one per sample of `split`) in
    /// original units.
    ///
    /// Errors: [`DataError::Baseline`] if the lengths differ or are zero.
    pub fn score(&self, split: &Windows, pred: ArrayView1<'_, f32>) -> Result<Metrics> {
        let pred = self.inverse_target(pred);
        Metrics::of(&split.y_raw.to_vec(), &pred.to_vec())
    }

    /// Naive baseline `ŷ[t] = y[t-1]` on the test split, original units.
    ///
    /// Errors: [`DataError::Baseline`] if the test split is empty.
    pub fn naive_baseline(&self) -> Result<Metrics> {
        self.seasonal_naive_baseline(1)
    }

    /// Seasonal naive baseline `ŷ[t] = y[t-m]` on the test split, original units.
    ///
    /// Errors: [`DataError::Baseline`] if the test split is empty, `m` is 0
    /// or `m > n_train`.
    pub fn seasonal_naive_baseline(&self, m: usize) -> Result<Metrics> {
        let series = self.target_raw.to_vec();
        let pred = seasonal_naive_forecast(&series, m, self.test_rows())?;
        Metrics::of(&series[self.test_rows()], &pred)
    }

    /// Naive forecasts `y[t-1]` of the test rows, original units (e.g. to plot).
    ///
    /// Errors: [`DataError::Baseline`] if the test split is empty.
    pub fn naive_test_forecast(&self) -> Result<Vec<f64>> {
        naive_forecast(&self.target_raw.to_vec(), self.test_rows())
    }
}

fn empty_windows(w: usize, f: usize) -> Windows {
    Windows {
        x: WindowInputs {
            rows: Array2::zeros((0, f)),
            n: 0,
            w,
        },
        y: Array2::zeros((0, 1)),
        y_raw: Array1::zeros(0),
        rows: Vec::new(),
    }
}
