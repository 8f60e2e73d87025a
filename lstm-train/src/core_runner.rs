//! Runs an exported model file with `lstm-core`'s [`DynModel`]: the very
//! same cell and head code (and the same fixed-point arithmetic) as the
//! firmware, with the shapes read from the file at run time.
//!
//! The trainer uses it to score an exported file (the "after quantization"
//! metric of `export`) and to predict from a model file (`predict`), so that
//! what is measured on the laptop is what the device computes.
//!
//! Values cross the boundary as `f32` in model units (scaled): they are
//! converted with [`Scalar::from_f32`] (round to nearest, saturate) on the way
//! in and [`Scalar::to_f32`] on the way out, exactly as a device converts its
//! scaled sensor samples. [`model_inputs`] and [`raw_outputs`] apply the
//! file's own scalings and differencing in `f32`, as the device does.
//!
//! ```
//! use lstm_core::file::{Differencing, to_vec, Header, Scaling, Task, TrainingMode};
//! use lstm_core::{LayerShape, NumberFormat};
//! use lstm_train::core_runner::{Activations, CoreBytes, CoreRunner};
//! let header = Header {
//!     format: NumberFormat::Q4_12,
//!     layers: heapless::Vec::from_slice(&[
//!         LayerShape::Lstm { input: 1, hidden: 2 },
//!         LayerShape::Dense { input: 2, output: 1 },
//!     ]).unwrap(),
//!     input_scaling: Scaling::Identity,
//!     output_scaling: Scaling::Identity,
//!     mode: TrainingMode::Windowed { window: 3 },
//!     task: Task::Regression,
//!     differencing: Differencing::None,
//!     pool: 1,
//! };
//! let bytes = CoreBytes::new(&to_vec(&header, &vec![0.1; header.parameter_count().unwrap()]).unwrap());
//! let file = bytes.parse().unwrap();
//! let runner = CoreRunner::new(&file, Activations::Fast).unwrap();
//! let y = runner.run_sequence(ndarray::array![[0.5f32], [0.25], [1.0]].view()).unwrap();
//! assert_eq!(y.dim(), (3, 1));
//! ```

use std::path::Path;

use lstm_core::dynamic::DynModel;
use lstm_core::file::{Header, ModelFile};
use lstm_core::{Activation, Error, Exact, Fast, NumberFormat, Scalar, Q16_16, Q4_12};
use ndarray::{s, Array2, ArrayView2, ArrayView3, ArrayViewMut2};

use crate::io::{self, IoError};

/// The bytes of a model file in a buffer aligned to 16 bytes, as
/// [`ModelFile::model`] and [`DynModel::from_file`] need for borrowing the
/// weights in place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoreBytes {
    words: Vec<u128>,
    len: usize,
}

impl CoreBytes {
    /// Copies `bytes` into an aligned buffer.
    pub fn new(bytes: &[u8]) -> Self {
        let mut words = vec![0u128; bytes.len().div_ceil(16)];
        let view: &mut [u8] = bytemuck_bytes_mut(&mut words);
        view[..bytes.len()].copy_from_slice(bytes);
        CoreBytes {
            words,
            len: bytes.len(),
        }
    }

    /// Reads a model file from disk into an aligned buffer.
    pub fn read(path: &Path) -> Result<Self, IoError> {
        Ok(Self::new(&io::read(path)?))
    }

    /// The file's bytes (aligned to 16).
    pub fn bytes(&self) -> &[u8] {
        let all: &[u8] = bytemuck_bytes(&self.words);
        &all[..self.len]
    }

    /// Checks the frame, CRC and header ([`ModelFile::parse`]).
    pub fn parse(&self) -> Result<ModelFile<'_>, Error> {
        ModelFile::parse(self.bytes())
    }
}

fn bytemuck_bytes(words: &[u128]) -> &[u8] {
    bytemuck::cast_slice(words)
}

fn bytemuck_bytes_mut(words: &mut [u128]) -> &mut [u8] {
    bytemuck::cast_slice_mut(words)
}

/// Which sigmoid / tanh implementation the core uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Activations {
    /// `libm` (exact to the format's rounding).
    Exact,
    /// The fast approximations: `micromath` for `f32`, interpolated tables for
    /// fixed point (what the firmware example uses).
    Fast,
}

impl Activations {
    /// What the firmware runs for `format`: [`Activations::Fast`] for fixed
    /// point, [`Activations::Exact`] for `f32` (which the export check
    /// compares with the trainer to 1e-5).
    pub fn firmware_default(format: NumberFormat) -> Self {
        match format {
            NumberFormat::F32 => Activations::Exact,
            NumberFormat::Q4_12 | NumberFormat::Q16_16 | NumberFormat::Q4_12W8 => Activations::Fast,
        }
    }

    /// `exact` or `fast`.
    pub fn name(self) -> &'static str {
        match self {
            Activations::Exact => "exact",
            Activations::Fast => "fast",
        }
    }
}

impl std::fmt::Display for Activations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a run saw of the state, in the core's own number format: the largest
/// `|c|` and `|h|` of any layer, and how many output values hit the format's
/// limits (saturated).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RunStats {
    /// Largest `|c|` of any unit of any layer at any step.
    pub max_abs_c: f32,
    /// Largest `|h|`.
    pub max_abs_h: f32,
    /// Cell-state values that sat at the format's limit (saturated).
    pub saturated_c: usize,
    /// Head outputs that sat at the format's limit.
    pub saturated_outputs: usize,
    /// Steps run.
    pub steps: usize,
}

impl RunStats {
    fn merge(&mut self, o: &RunStats) {
        self.max_abs_c = self.max_abs_c.max(o.max_abs_c);
        self.max_abs_h = self.max_abs_h.max(o.max_abs_h);
        self.saturated_c += o.saturated_c;
        self.saturated_outputs += o.saturated_outputs;
        self.steps += o.steps;
    }
}

/// One sequence through a typed `DynModel`, from the zero state.
trait SequenceRun {
    /// Writes the output of step `t` to row `t` of `out`, or, with
    /// `last_only`, only the last step's output to row 0 (`out` then has
    /// one row, whatever the sequence's length).
    fn run(
        &self,
        x: ArrayView2<'_, f32>,
        out: ArrayViewMut2<'_, f32>,
        last_only: bool,
    ) -> Result<RunStats, Error>;
}

fn at_limit<T: Scalar>(v: T) -> bool {
    T::FORMAT != NumberFormat::F32 && (v == T::MAX || v == T::MIN)
}

/// Whether a cell state sits at its type's limit (never for `f32`).
fn cell_at_limit<T: Scalar>(c: T::Cell) -> bool {
    T::FORMAT != NumberFormat::F32
        && (c == T::cell_from_f32(f32::INFINITY) || c == T::cell_from_f32(f32::NEG_INFINITY))
}

impl<T: Scalar, A: Activation<T>> SequenceRun for DynModel<'_, T, A> {
    fn run(
        &self,
        x: ArrayView2<'_, f32>,
        mut out: ArrayViewMut2<'_, f32>,
        last_only: bool,
    ) -> Result<RunStats, Error> {
        let mut state = self.zero_state();
        let mut stats = RunStats::default();
        let mut xin: Vec<T> = Vec::with_capacity(x.ncols());
        for (t, row) in x.rows().into_iter().enumerate() {
            xin.clear();
            xin.extend(row.iter().map(|&v| T::from_f32(v)));
            let y = self.step(&mut state, &xin)?;
            for c in state.c.iter().flatten() {
                stats.max_abs_c = stats.max_abs_c.max(T::cell_to_f32(*c).abs());
                stats.saturated_c += usize::from(cell_at_limit::<T>(*c));
            }
            for h in state.h.iter().flatten() {
                stats.max_abs_h = stats.max_abs_h.max(h.to_f32().abs());
            }
            let row = if last_only { 0 } else { t };
            for (o, v) in out.row_mut(row).iter_mut().zip(&y) {
                *o = v.to_f32();
                stats.saturated_outputs += usize::from(at_limit(*v));
            }
            stats.steps += 1;
        }
        Ok(stats)
    }
}

/// A parsed model file ready to run, in its own number format with the
/// chosen [`Activations`].
pub struct CoreRunner<'a> {
    model: Box<dyn SequenceRun + 'a>,
    format: NumberFormat,
    activations: Activations,
    inputs: usize,
    outputs: usize,
}

impl std::fmt::Debug for CoreRunner<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoreRunner")
            .field("format", &self.format)
            .field("activations", &self.activations)
            .field("inputs", &self.inputs)
            .field("outputs", &self.outputs)
            .finish()
    }
}

fn boxed<'a, T: Scalar, A: Activation<T> + 'a>(
    file: &ModelFile<'a>,
) -> Result<Box<dyn SequenceRun + 'a>, Error> {
    Ok(Box::new(DynModel::<'a, T, A>::from_file(file)?))
}

impl<'a> CoreRunner<'a> {
    /// Builds the runtime-shaped model of `file` in the file's number format
    /// (the bytes must be aligned: see [`CoreBytes`]).
    pub fn new(file: &ModelFile<'a>, activations: Activations) -> Result<Self, Error> {
        let model = match (file.header.format, activations) {
            (NumberFormat::F32, Activations::Exact) => boxed::<f32, Exact>(file)?,
            (NumberFormat::F32, Activations::Fast) => boxed::<f32, Fast>(file)?,
            (NumberFormat::Q4_12, Activations::Exact) => boxed::<Q4_12, Exact>(file)?,
            (NumberFormat::Q4_12, Activations::Fast) => boxed::<Q4_12, Fast>(file)?,
            (NumberFormat::Q16_16, Activations::Exact) => boxed::<Q16_16, Exact>(file)?,
            (NumberFormat::Q16_16, Activations::Fast) => boxed::<Q16_16, Fast>(file)?,
            // 8-bit weights compute in Q4.12 (DynModel<Q4_12> reads them).
            (NumberFormat::Q4_12W8, Activations::Exact) => boxed::<Q4_12, Exact>(file)?,
            (NumberFormat::Q4_12W8, Activations::Fast) => boxed::<Q4_12, Fast>(file)?,
        };
        Ok(CoreRunner {
            model,
            format: file.header.format,
            activations,
            inputs: file.header.input_size(),
            outputs: file.header.output_size(),
        })
    }

    /// The number format the model computes in.
    pub fn format(&self) -> NumberFormat {
        self.format
    }

    /// The activations in use.
    pub fn activations(&self) -> Activations {
        self.activations
    }

    /// Inputs per step.
    pub fn input_size(&self) -> usize {
        self.inputs
    }

    /// Outputs per step.
    pub fn output_size(&self) -> usize {
        self.outputs
    }

    /// Runs one sequence `x` (`[T][IN]`, model units) from the zero state,
    /// carrying the state from step to step; returns the head's output at
    /// every step, `[T][OUT]`.
    pub fn run_sequence(&self, x: ArrayView2<'_, f32>) -> Result<Array2<f32>, Error> {
        Ok(self.run_sequence_stats(x)?.0)
    }

    /// [`CoreRunner::run_sequence`], also returning what the state did.
    pub fn run_sequence_stats(
        &self,
        x: ArrayView2<'_, f32>,
    ) -> Result<(Array2<f32>, RunStats), Error> {
        if x.ncols() != self.inputs {
            return Err(Error::LengthMismatch {
                expected: self.inputs,
                found: x.ncols(),
            });
        }
        let mut out = Array2::zeros((x.nrows(), self.outputs));
        let stats = self.model.run(x, out.view_mut(), false)?;
        Ok((out, stats))
    }

    /// Runs `x` (`[T][IN]`) from the zero state into `out` (one row), the
    /// output at its last step; nothing is allocated per step.
    fn run_last(
        &self,
        x: ArrayView2<'_, f32>,
        out: ArrayViewMut2<'_, f32>,
    ) -> Result<RunStats, Error> {
        if x.ncols() != self.inputs {
            return Err(Error::LengthMismatch {
                expected: self.inputs,
                found: x.ncols(),
            });
        }
        self.model.run(x, out, true)
    }

    /// Runs the window of `w` rows of `x` (`[rows][IN]`, model units) that
    /// ends before row `end`, `x[end - w..end]`, for every `end` in `ends`,
    /// each from the zero state, and returns each window's output at its
    /// last step, `[ends][OUT]`. The windows are read in place: nothing is
    /// sized by `w`.
    ///
    /// Errors: [`Error::LengthMismatch`] if a window does not fit in `x`
    /// (`end < w` or `end > rows`; `expected` is the rows the window needs).
    pub fn run_windows_ending(
        &self,
        x: ArrayView2<'_, f32>,
        w: usize,
        ends: &[usize],
    ) -> Result<(Array2<f32>, RunStats), Error> {
        if let Some(&end) = ends.iter().find(|&&e| e < w || e > x.nrows()) {
            return Err(Error::LengthMismatch {
                expected: w.max(end),
                found: end.min(x.nrows()),
            });
        }
        let mut out = Array2::zeros((ends.len(), self.outputs));
        let mut stats = RunStats::default();
        for (i, &end) in ends.iter().enumerate() {
            let s = self.run_last(x.slice(s![end - w..end, ..]), out.slice_mut(s![i..=i, ..]))?;
            stats.merge(&s);
        }
        Ok((out, stats))
    }

    /// Runs every window `x[i]` (`[N][T][IN]`, model units) from the zero
    /// state over its first `lengths[i]` steps (all `T` if `None`) and
    /// returns each window's output at its last step, `[N][OUT]`.
    pub fn run_windows(
        &self,
        x: ArrayView3<'_, f32>,
        lengths: Option<&[usize]>,
    ) -> Result<(Array2<f32>, RunStats), Error> {
        let (n, t, _) = x.dim();
        if let Some(l) = lengths {
            if l.len() != n {
                return Err(Error::LengthMismatch {
                    expected: n,
                    found: l.len(),
                });
            }
        }
        let mut out = Array2::zeros((n, self.outputs));
        let mut stats = RunStats::default();
        for i in 0..n {
            let len = lengths.map_or(t, |l| l[i]).min(t);
            if len == 0 {
                continue;
            }
            let seq = x.slice(s![i, ..len, ..]);
            let s = self.run_last(seq, out.slice_mut(s![i..=i, ..]))?;
            stats.merge(&s);
        }
        Ok((out, stats))
    }
}

/// The model inputs for raw rows `[rows][features]`: each row through the
/// file's own scaling and differencing ([`Header::model_input`], in `f32`,
/// as a device computes them; a pooling classifier's through
/// [`lstm_core::RawIo`], one row per pooled step), after [`Header::normalize_series`] on the
/// whole of `raw` (which does something only for a classifier normalised
/// per series: `raw` is then one whole series). A differenced model has no input for the
/// first `lag` rows, so row `r` of the result belongs to raw row `r + lag`,
/// where `lag` is [`Differencing::lag`](lstm_core::file::Differencing::lag)
/// (0, 1, or the seasonal lag).
///
/// Errors: [`Error::LengthMismatch`] if the rows are not the model's input width.
pub fn model_inputs(header: &Header<'_>, raw: ArrayView2<'_, f64>) -> Result<Array2<f32>, Error> {
    let lag = header.differencing.lag();
    let (n, f) = raw.dim();
    if f != header.input_size() {
        return Err(Error::LengthMismatch {
            expected: header.input_size(),
            found: f,
        });
    }
    // The rows in f32, row-major (as a device sees them), read in place.
    let mut raw32: Vec<f32> = raw.iter().map(|&v| v as f32).collect();
    // A per-series normalised classifier: `raw` is the whole series, and a
    // device normalises its buffered series the same way first.
    header.normalize_series(&mut raw32)?;
    if header.pool > lstm_core::file::NO_POOL {
        // A pooling classifier (no differencing): the samples go through
        // lstm-core's own RawIo, which pools and scales them as a device does.
        let mut io = lstm_core::RawIo::new(header)?;
        let mut out = Array2::zeros((n / usize::from(header.pool), f));
        let mut row_out = vec![0f32; f];
        let mut r = 0;
        for sample in raw32.chunks_exact(f) {
            if io.input::<f32>(sample, &mut row_out)? {
                if let Some(mut o) = out.rows_mut().into_iter().nth(r) {
                    o.iter_mut().zip(&row_out).for_each(|(o, &v)| *o = v);
                }
                r += 1;
            }
        }
        return Ok(out);
    }
    let row = |k: usize| raw32.get(k * f..(k + 1) * f).unwrap_or(&[]);
    let mut out = Array2::zeros((n.saturating_sub(lag), f));
    let mut row_out = vec![0f32; f];
    let mut r = 0;
    for k in 0..n {
        let before = k.checked_sub(lag).filter(|_| lag > 0).map(row);
        if header.model_input(before, row(k), &mut row_out)? {
            out.row_mut(r)
                .iter_mut()
                .zip(&row_out)
                .for_each(|(o, &v)| *o = v);
            r += 1;
        }
    }
    Ok(out)
}

/// The raw row a differenced model's forecast of raw row `t` adds its
/// output to: `t − 1` for first differences, `t − L` for seasonal ones
/// (`t − 1` when not differenced, where it is not used).
pub fn base_row(header: &Header<'_>, t: usize) -> usize {
    t.saturating_sub(header.differencing.lag().max(1))
}

/// Model outputs `y` (`[rows][outputs]`, model units) in raw units
/// ([`Header::raw_output`], in `f32`, as a device computes them); a
/// differenced model adds row `i` of `y` to raw row `base_raw[i]` (see
/// [`base_row`]).
///
/// Errors: [`Error::LengthMismatch`] on mismatched shapes.
pub fn raw_outputs(
    header: &Header<'_>,
    y: ArrayView2<'_, f32>,
    base_raw: ArrayView2<'_, f64>,
) -> Result<Array2<f64>, Error> {
    if base_raw.nrows() != y.nrows() {
        return Err(Error::LengthMismatch {
            expected: y.nrows(),
            found: base_raw.nrows(),
        });
    }
    let mut out = Array2::zeros(y.dim());
    let mut last = vec![0f32; base_raw.ncols()];
    let mut yv = vec![0f32; y.ncols()];
    let mut o = vec![0f32; y.ncols()];
    for ((yr, lr), mut orow) in y
        .rows()
        .into_iter()
        .zip(base_raw.rows())
        .zip(out.rows_mut())
    {
        last.iter_mut().zip(lr).for_each(|(d, &v)| *d = v as f32);
        yv.iter_mut().zip(yr).for_each(|(d, &v)| *d = v);
        header.raw_output(&last, &yv, &mut o)?;
        orow.iter_mut()
            .zip(&o)
            .for_each(|(d, &v)| *d = f64::from(v));
    }
    Ok(out)
}

/// Model outputs that are not finite (`inf` or NaN) in raw units: a model
/// file whose weights or scaling overflow `f32` (e.g. every weight at
/// `f32::MAX`, or a min-max range wider than `f32::MAX`). Its predictions
/// are refused rather than written as `inf`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{bad} of {total} {what} are not finite (inf or NaN): \
     the model file's weights or scaling overflow f32"
)]
pub struct NonFinite {
    /// Values that are not finite.
    pub bad: usize,
    /// Values checked.
    pub total: usize,
    /// What the values are (`forecasts`, `class scores`).
    pub what: &'static str,
}

/// Fails with [`NonFinite`] if any of `values` is `inf` or NaN.
pub fn check_finite<I>(values: I, what: &'static str) -> Result<(), NonFinite>
where
    I: IntoIterator,
    I::Item: Into<f64>,
{
    let (mut bad, mut total) = (0, 0);
    for v in values {
        total += 1;
        bad += usize::from(!v.into().is_finite());
    }
    if bad == 0 {
        Ok(())
    } else {
        Err(NonFinite { bad, total, what })
    }
}
