//! Post-training quantization: calibration, exact rescaling, clipping report.
//!
//! The fixed-point formats have a fixed range (Q4.12: \[−8, 8), Q16.16:
//! \[−32768, 32768)) and a fixed resolution, and the model file has no
//! per-tensor scale field, so the quantizer works in three steps:
//!
//! 1. **Calibration** ([`calibrate`]): the trainer's own `f32` forward pass
//!    runs over the training inputs with a statistics hook
//!    ([`StepObserver`]), and the largest `|x|` of every scaled input
//!    feature, of every gate's pre-activation, of `c` and `h` per layer and
//!    of every head output is recorded.
//! 2. **Exact rescaling** ([`fold_scales`]): power-of-two factors are folded
//!    where this leaves the function unchanged (up to rounding):
//!    * an input feature `j` whose scaled values would saturate is divided by
//!      `s` — its scaler divisor is multiplied by `s` and column `j` of the
//!      first layer's `weight_ih` by `s`, so `W·x` is unchanged (the device
//!      applies the file's scaling, so nothing changes on its side); the same
//!      fold in the other direction brings a too-large input weight column
//!      into range when the inputs have room;
//!    * a head whose outputs or weights would saturate is divided by `s`:
//!      weights and bias ÷ `s`, and for regression the output scaling's
//!      divisor × `s` (exact), for classification the logits are simply
//!      smaller (the argmax, hence the predicted class, is unchanged; the
//!      per-class softmax scores become less peaked — reported).
//!
//!    Scaling by a power of two is exact in `f32`. Nothing inside the LSTM
//!    can be rescaled exactly (σ and tanh are not homogeneous), so recurrent
//!    weights beyond the range and a cell state `|c|` beyond it are reported,
//!    not fixed.
//! 3. **Report** ([`analyze`]): weights that had to be clipped (outside the
//!    format's range), calibrated inputs / `c` / `h` / outputs that would
//!    saturate, and — separately, because it is harmless for σ and tanh
//!    (σ(8) = 0.99966, tanh(8) = 1 − 2·10⁻⁷, within a few LSB of their limits)
//!    — gate pre-activations beyond the range.

use std::fmt;

use std::collections::BTreeMap;

use lstm_core::{NumberFormat, Scalar, Q16_16, Q4_12};
use ndarray::{ArrayView2, Axis};

use crate::export::plan::ExportPlan;
use crate::net::{
    Batch, CellKind, HeadMode, LayerStep, NetConfig, NetError, Network, Params, StepObserver,
};

/// Largest representable value of `format` (`f32::MAX` for `f32`).
pub fn format_limit(format: NumberFormat) -> f32 {
    match format {
        NumberFormat::F32 => f32::MAX,
        NumberFormat::Q4_12 | NumberFormat::Q4_12W8 => i16::MAX as f32 / 4096.0,
        NumberFormat::Q16_16 => (i32::MAX as f64 / 65536.0) as f32,
    }
}

/// Largest cell state `c` an LSTM layer computing in `format` holds: its
/// [`Scalar::Cell`], wider than the format for
/// Q4.12 (Q20.12, ±524288), so `c` saturates much later than `h` would.
pub fn cell_limit(format: NumberFormat) -> f32 {
    fn limit<T: Scalar>() -> f32 {
        T::cell_to_f32(T::cell_from_f32(f32::INFINITY))
    }
    match format {
        NumberFormat::F32 => f32::MAX,
        NumberFormat::Q4_12 | NumberFormat::Q4_12W8 => limit::<Q4_12>(),
        NumberFormat::Q16_16 => limit::<Q16_16>(),
    }
}

/// Resolution (one LSB) of `format` (0 for `f32`).
pub fn format_lsb(format: NumberFormat) -> f32 {
    match format {
        NumberFormat::F32 => 0.0,
        NumberFormat::Q4_12 | NumberFormat::Q4_12W8 => 1.0 / 4096.0,
        NumberFormat::Q16_16 => 1.0 / 65536.0,
    }
}

/// Whether writing `w` in `format` saturates (rounds to a value more than
/// half an LSB away because it is outside the range).
pub fn clips(format: NumberFormat, w: f32) -> bool {
    if format == NumberFormat::F32 {
        return !w.is_finite();
    }
    let (hi, lsb) = (format_limit(format), format_lsb(format));
    let lo = -hi - lsb; // the most negative value, e.g. −8 for Q4.12
    w > hi + lsb / 2.0 || w < lo - lsb / 2.0
}

/// Largest magnitudes seen in one recurrent layer during calibration.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LayerStats {
    /// Largest `|x|` of the layer's input.
    pub input: f32,
    /// Largest `|pre-activation|` per gate in the cell's order (LSTM i, f,
    /// g, o; GRU r, z, n and an unused 0), before σ / tanh.
    pub pre: [f32; 4],
    /// Largest `|c|` (LSTM; 0 for a GRU, which has no cell state).
    pub c: f32,
    /// Largest `|h|`.
    pub h: f32,
}

/// What a calibration pass saw (trainer's scaled units).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Calibration {
    /// The cell of the layers.
    pub cell: CellKind,
    /// Largest `|x_j|` of each scaled input feature.
    pub input_features: Vec<f32>,
    /// Per recurrent layer, bottom first.
    pub layers: Vec<LayerStats>,
    /// Largest `|y_k|` of each head output (at the steps that count).
    pub outputs: Vec<f32>,
    /// Sequences run.
    pub sequences: usize,
    /// Steps run.
    pub steps: usize,
}

/// Records the ranges an observed forward pass shows (see
/// [`StepObserver`]) into a [`Calibration`]'s layers and input features.
struct Ranges<'c> {
    layers: &'c mut [LayerStats],
    input_features: &'c mut [f32],
}

fn fold_max(m: &mut f32, xs: &[f32]) {
    *m = xs.iter().fold(*m, |m, v| m.max(v.abs()));
}

impl StepObserver<f32> for Ranges<'_> {
    fn layer_step(&mut self, s: &LayerStep<'_, f32>) {
        let st = &mut self.layers[s.layer];
        for b in s.rows() {
            let x = s.input_row(b);
            fold_max(&mut st.input, x);
            if s.layer == 0 {
                for (m, v) in self.input_features.iter_mut().zip(x) {
                    *m = m.max(v.abs());
                }
            }
            for (m, gate) in st.pre.iter_mut().zip(s.pre_row(b).chunks_exact(s.hidden)) {
                fold_max(m, gate);
            }
            if let Some(c) = s.c_row(b) {
                fold_max(&mut st.c, c);
            }
            fold_max(&mut st.h, s.h_row(b));
        }
    }
}

/// Sequences per forward pass of [`calibrate`].
const CALIBRATION_BATCH: usize = 256;

/// Runs every sequence (scaled, `[T][IN]`, each from the zero state)
/// through the trainer's own `f32` forward pass ([`Network::forward_observed`],
/// evaluation mode) and records the largest magnitudes it computes (see
/// [`Calibration`]). Sequences of equal length run together in batches. The
/// head output counts at every step if `head_every_step` (stateful models)
/// or only at each sequence's last step (windowed models and classifiers).
///
/// Errors: the network's, if `params` or a sequence does not fit `net`.
pub fn calibrate<'a>(
    net: &NetConfig,
    params: &Params<f32>,
    sequences: impl IntoIterator<Item = ArrayView2<'a, f32>>,
    head_every_step: bool,
) -> Result<Calibration, NetError> {
    let mut cal = Calibration {
        cell: net.cell,
        input_features: vec![0.0; net.input_size],
        layers: vec![LayerStats::default(); net.num_layers()],
        outputs: vec![0.0; net.output_size],
        sequences: 0,
        steps: 0,
    };
    let head = if head_every_step {
        HeadMode::EveryStep
    } else {
        HeadMode::LastStep
    };
    let mut network = Network::<f32>::new(NetConfig {
        head,
        dropout: 0.0,
        ..net.clone()
    })?;
    let mut by_length: BTreeMap<usize, Vec<ArrayView2<'a, f32>>> = BTreeMap::new();
    for x in sequences {
        if x.ncols() != net.input_size {
            return Err(NetError::ShapeMismatch {
                what: "calibration sequence".into(),
                expected: vec![x.nrows(), net.input_size],
                got: x.shape().to_vec(),
            });
        }
        if x.nrows() > 0 {
            by_length.entry(x.nrows()).or_default().push(x);
        }
    }
    for (steps, seqs) in by_length {
        for chunk in seqs.chunks(CALIBRATION_BATCH) {
            let x = ndarray::stack(Axis(0), chunk).expect("sequences of one shape");
            let mut ranges = Ranges {
                layers: &mut cal.layers,
                input_features: &mut cal.input_features,
            };
            network.forward_observed(params, &Batch::new(x.view()), &mut ranges)?;
            let y = match head {
                HeadMode::EveryStep => {
                    let y = network.step_outputs()?;
                    let rows = y.len() / net.output_size;
                    y.into_shape_with_order((rows, net.output_size))
                        .expect("outputs in standard layout")
                }
                HeadMode::LastStep => network.last_outputs()?,
            };
            for row in y.rows() {
                for (m, v) in cal.outputs.iter_mut().zip(row) {
                    *m = m.max(v.abs());
                }
            }
            cal.sequences += chunk.len();
            cal.steps += chunk.len() * steps;
        }
    }
    Ok(cal)
}

/// Where a folded scale factor went.
#[derive(Clone, Debug, PartialEq)]
pub enum Fold {
    /// Input feature `feature` is divided by `factor`: its scaler divisor ×
    /// `factor`, column `feature` of `weight_ih_l0` × `factor`.
    Input {
        /// Feature index.
        feature: usize,
        /// The factor (a power of two, may be below 1).
        factor: f64,
    },
    /// The head's outputs are divided by `factor`: weights and bias ÷
    /// `factor`; regression: output divisor × `factor`; classification: the
    /// logits are smaller (argmax unchanged).
    Head {
        /// The factor (a power of two).
        factor: f64,
    },
}

/// One folded scale factor and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Adjustment {
    /// What was folded.
    pub fold: Fold,
    /// Why (the calibrated or weight magnitudes that needed it).
    pub reason: String,
}

impl fmt::Display for Adjustment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.fold {
            Fold::Input { feature, factor } => write!(
                f,
                "input feature {feature}: scaled values ÷ {factor} (scaler divisor × {factor}, \
                 weight_ih_l0 column {feature} × {factor}; exact): {}",
                self.reason
            ),
            Fold::Head { factor } => write!(
                f,
                "head: outputs ÷ {factor} (dense weight and bias ÷ {factor}; {}",
                self.reason
            ),
        }
    }
}

fn max_abs(xs: impl IntoIterator<Item = f32>) -> f32 {
    xs.into_iter().fold(0.0, |m, v| m.max(v.abs()))
}

/// Folds power-of-two scale factors into the plan where exact (see the
/// module docs) so that calibrated inputs and head outputs stay within half
/// the format's range (headroom for test data beyond the training range) and
/// the first layer's input weights and the head's weights within the range.
/// Without calibration only weights are considered. Returns what was done.
pub fn fold_scales(plan: &mut ExportPlan, cal: Option<&Calibration>) -> Vec<Adjustment> {
    let limit = f64::from(format_limit(plan.format));
    if plan.format == NumberFormat::F32 {
        return Vec::new();
    }
    let half = limit / 2.0;
    let mut done = Vec::new();
    let Some(first) = plan.recurrent.first_mut() else {
        return done;
    };
    let n_in = first.input;
    // Inputs (needs calibration: the input range is not in the weights).
    if let Some(cal) = cal {
        for j in 0..n_in {
            let mx = f64::from(cal.input_features.get(j).copied().unwrap_or(0.0));
            let mw = f64::from(max_abs(first.w_ih.iter().skip(j).step_by(n_in).copied()));
            let mut s = 1.0f64;
            // Too-large inputs: shrink them while the weights have room.
            while mx / s > half && mw * s * 2.0 < limit {
                s *= 2.0;
            }
            // Too-large weights: shrink them while the inputs have room.
            while mw * s >= limit && mx / (s / 2.0) <= half {
                s /= 2.0;
            }
            if s != 1.0 {
                for w in first.w_ih.iter_mut().skip(j).step_by(n_in) {
                    *w = (f64::from(*w) * s) as f32;
                }
                plan.input.rescale(j, s);
                done.push(Adjustment {
                    fold: Fold::Input {
                        feature: j,
                        factor: s,
                    },
                    reason: format!(
                        "calibrated max |x| {mx:.4} → {:.4}, max |weight| {mw:.4} → {:.4}",
                        mx / s,
                        mw * s
                    ),
                });
            }
        }
    }
    // Head.
    let my = f64::from(cal.map_or(0.0, |c| max_abs(c.outputs.iter().copied())));
    let mw = f64::from(max_abs(plan.dense_w.iter().chain(&plan.dense_b).copied()));
    let mut s = 1.0f64;
    while (my / s > half || mw / s >= limit) && s < 1e9 {
        s *= 2.0;
    }
    if s != 1.0 {
        for w in plan.dense_w.iter_mut().chain(plan.dense_b.iter_mut()) {
            *w = (f64::from(*w) / s) as f32;
        }
        let effect = match &mut plan.output {
            Some(out) => {
                for k in 0..out.len() {
                    out.rescale(k, s);
                }
                "output scaling divisor × factor; exact)".to_string()
            }
            None => {
                plan.logit_divisor *= s;
                "classifier logits ÷ factor: argmax exact, softmax scores less peaked)".to_string()
            }
        };
        done.push(Adjustment {
            fold: Fold::Head { factor: s },
            reason: format!(
                "{effect}: calibrated max |y| {my:.4} → {:.4}, max |weight| {mw:.4} → {:.4}",
                my / s,
                mw / s
            ),
        });
    }
    done
}

/// Range check of one weight tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorRange {
    /// PyTorch-style name.
    pub name: String,
    /// Values.
    pub count: usize,
    /// Largest `|w|`.
    pub max_abs: f32,
    /// Values outside the format's range (written saturated).
    pub clipped: usize,
}

/// A calibrated magnitude at or beyond the format's range.
#[derive(Clone, Debug, PartialEq)]
pub struct Saturation {
    /// What (e.g. `layer 0 c`, `input feature 2`, `layer 1 pre-activation g`;
    /// a GRU layer has no `c`).
    pub what: String,
    /// Its calibrated largest magnitude (after folding).
    pub max_abs: f32,
}

/// The quantization report of one export (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct QuantReport {
    /// Number format.
    pub format: NumberFormat,
    /// Largest representable value.
    pub limit: f32,
    /// Resolution.
    pub lsb: f32,
    /// Scale factors folded into the plan.
    pub adjustments: Vec<Adjustment>,
    /// Every weight tensor's range.
    pub weights: Vec<TensorRange>,
    /// Whether a calibration pass was run (else nothing is known about
    /// activations and states).
    pub calibrated: bool,
    /// Inputs, `c` (LSTM), `h` or head outputs whose calibrated magnitude reaches
    /// the range: these saturate and change the result.
    pub saturating: Vec<Saturation>,
    /// The same, between half the range and the range (test data beyond the
    /// training range may saturate).
    pub near_limit: Vec<Saturation>,
    /// Gate pre-activations beyond the range: saturated, but harmless for σ
    /// and tanh.
    pub preactivations: Vec<Saturation>,
    /// Classification: the file's logits are the trainer's ÷ this.
    pub logit_divisor: f64,
    /// Whether a layer keeps a cell state `c` (an LSTM layer; a GRU has
    /// none, and the report shows no `c`).
    pub cell_state: bool,
    /// With 8-bit weights: their scales and errors.
    pub w8: Option<W8Summary>,
}

/// What writing the weights in 8 bits does ([`NumberFormat::Q4_12W8`]:
/// per row, the scale `2^-e` of [`lstm_core::w8::row_shift`]).
#[derive(Clone, Debug, PartialEq)]
pub struct W8Summary {
    /// Weights (biases not counted: they stay Q4.12).
    pub weights: usize,
    /// Rows, each with its own scale.
    pub rows: usize,
    /// Smallest and largest row shift `e`.
    pub shifts: (u8, u8),
    /// Largest `|w − q·2^-e|`.
    pub max_error: f32,
    /// Largest `|w − q·2^-e|` divided by its row's largest `|w|`.
    pub max_relative_error: f32,
    /// Bytes of the weights blob in this format.
    pub blob_bytes: usize,
    /// Bytes of the same weights and biases in Q4.12.
    pub q4_12_bytes: usize,
}

/// The 8-bit summary of `weights` (file order) of a model of `shapes`:
/// each row's shift as the writer chooses it, and the rounding errors.
pub fn w8_summary(shapes: &[lstm_core::LayerShape], weights: &[f32]) -> W8Summary {
    use lstm_core::w8;
    let mut out = W8Summary {
        weights: 0,
        rows: 0,
        shifts: (w8::MAX_SHIFT, 0),
        max_error: 0.0,
        max_relative_error: 0.0,
        blob_bytes: w8::blob_len(shapes).unwrap_or(0),
        q4_12_bytes: 2 * weights.len(),
    };
    let mut at = 0;
    for l in shapes {
        let (rows, i, h, biases) = match l.cell() {
            Some(k) => (
                k.gates() * l.output(),
                l.input(),
                l.output(),
                4 * l.output(),
            ),
            None => (l.output(), l.input(), 0, l.output()),
        };
        let part = |from: usize, n: usize| weights.get(from..from + n).unwrap_or(&[]);
        let (w_ih, w_hh) = (part(at, rows * i), part(at + rows * i, rows * h));
        for r in 0..rows {
            let row: Vec<f32> = w_ih
                .get(r * i..r * i + i)
                .unwrap_or(&[])
                .iter()
                .chain(w_hh.get(r * h..r * h + h).unwrap_or(&[]))
                .copied()
                .collect();
            let e = w8::row_shift(row.iter().copied());
            let step = 1.0 / (1u32 << e) as f32;
            let top = max_abs(row.iter().copied());
            for &w in &row {
                let err = (f32::from(w8::quantize(w, e)) * step - w).abs();
                out.max_error = out.max_error.max(err);
                if top > 0.0 {
                    out.max_relative_error = out.max_relative_error.max(err / top);
                }
            }
            out.shifts = (out.shifts.0.min(e), out.shifts.1.max(e));
            out.weights += row.len();
            out.rows += 1;
        }
        at += rows * (i + h) + biases;
    }
    out
}

impl QuantReport {
    /// Total number of clipped weights.
    pub fn clipped_weights(&self) -> usize {
        self.weights.iter().map(|t| t.clipped).sum()
    }
}

/// Checks the plan's weights against the format's range and the calibrated
/// magnitudes (adjusted for the folds in `adjustments`) against it.
pub fn analyze(
    plan: &ExportPlan,
    cal: Option<&Calibration>,
    adjustments: Vec<Adjustment>,
) -> QuantReport {
    let format = plan.format;
    let limit = format_limit(format);
    let weights = plan
        .tensors()
        .into_iter()
        .map(|(name, t)| TensorRange {
            name,
            count: t.len(),
            max_abs: max_abs(t.iter().copied()),
            clipped: t.iter().filter(|&&w| clips(format, w)).count(),
        })
        .collect();
    let mut saturating = Vec::new();
    let mut near_limit = Vec::new();
    let mut preactivations = Vec::new();
    if let Some(cal) = cal {
        let mut check = |what: String, v: f32, limit: f32| {
            if v >= limit {
                saturating.push(Saturation { what, max_abs: v });
            } else if v >= limit / 2.0 {
                near_limit.push(Saturation { what, max_abs: v });
            }
        };
        for (j, &m) in cal.input_features.iter().enumerate() {
            let s = adjustments
                .iter()
                .filter_map(|a| match a.fold {
                    Fold::Input { feature, factor } if feature == j => Some(factor),
                    _ => None,
                })
                .product::<f64>();
            check(
                format!("input feature {j}"),
                (f64::from(m) / s) as f32,
                limit,
            );
        }
        for (l, (st, layer)) in cal.layers.iter().zip(&plan.recurrent).enumerate() {
            if layer.cell.has_cell_state() {
                check(format!("layer {l} c"), st.c, cell_limit(format));
            }
            check(format!("layer {l} h"), st.h, limit);
            for (g, name) in layer.cell.gate_names().iter().enumerate() {
                if st.pre[g] >= limit {
                    preactivations.push(Saturation {
                        what: format!("layer {l} pre-activation {name}"),
                        max_abs: st.pre[g],
                    });
                }
            }
        }
        let head: f64 = adjustments
            .iter()
            .filter_map(|a| match a.fold {
                Fold::Head { factor } => Some(factor),
                _ => None,
            })
            .product();
        for (k, &m) in cal.outputs.iter().enumerate() {
            check(
                format!("head output {k}"),
                (f64::from(m) / head) as f32,
                limit,
            );
        }
    }
    QuantReport {
        format,
        limit,
        lsb: format_lsb(format),
        adjustments,
        weights,
        calibrated: cal.is_some(),
        saturating,
        near_limit,
        preactivations,
        logit_divisor: plan.logit_divisor,
        cell_state: plan.recurrent.iter().any(|l| l.cell.has_cell_state()),
        w8: (format == NumberFormat::Q4_12W8).then(|| w8_summary(&plan.shapes(), &plan.weights())),
    }
}

impl fmt::Display for QuantReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.format == NumberFormat::F32 {
            let bad = self.clipped_weights();
            return writeln!(f, "f32: no quantization ({bad} non-finite weights)");
        }
        write!(
            f,
            "{}: range ±{}, resolution {:e}",
            self.format, self.limit, self.lsb
        )?;
        if self.cell_state {
            write!(f, "; cell state c up to ±{}", cell_limit(self.format))?;
        }
        writeln!(f)?;
        if let Some(w) = &self.w8 {
            writeln!(
                f,
                "  8-bit weights: {} in {} rows, a scale 2^-e per row, e from {} to {}; \
                 max |w - q·2^-e| {:.3e} ({:.2}% of its row's max |w|); \
                 weights blob {} bytes (q4.12: {} bytes); biases Q4.12",
                w.weights,
                w.rows,
                w.shifts.0,
                w.shifts.1,
                w.max_error,
                100.0 * w.max_relative_error,
                w.blob_bytes,
                w.q4_12_bytes
            )?;
        }
        if self.adjustments.is_empty() {
            writeln!(f, "  rescaling: none needed")?;
        }
        for a in &self.adjustments {
            writeln!(f, "  rescaled {a}")?;
        }
        let clipped = self.clipped_weights();
        writeln!(f, "  clipped weights: {clipped}")?;
        for t in self.weights.iter().filter(|t| t.clipped > 0) {
            writeln!(
                f,
                "    {}: {} of {} outside the range (max |w| {:.4})",
                t.name, t.clipped, t.count, t.max_abs
            )?;
        }
        if !self.calibrated {
            return writeln!(f, "  activations: not calibrated (no data)");
        }
        if self.saturating.is_empty() {
            let states = if self.cell_state { "c / h" } else { "h" };
            writeln!(f, "  saturating inputs / {states} / outputs: none")?;
        }
        for s in &self.saturating {
            writeln!(
                f,
                "  SATURATES: {} (calibrated max |x| {:.4})",
                s.what, s.max_abs
            )?;
        }
        for s in &self.near_limit {
            writeln!(
                f,
                "  near the limit: {} (calibrated max |x| {:.4} ≥ half the range)",
                s.what, s.max_abs
            )?;
        }
        if self.preactivations.is_empty() {
            writeln!(f, "  gate pre-activations beyond the range: none")?;
        } else {
            writeln!(
                f,
                "  gate pre-activations beyond the range (harmless: σ and tanh are flat there):"
            )?;
            for s in &self.preactivations {
                writeln!(f, "    {} (max |x| {:.4})", s.what, s.max_abs)?;
            }
        }
        if self.logit_divisor != 1.0 {
            writeln!(
                f,
                "  note: the file's logits are the trainer's ÷ {} (same predicted class; \
                 softmax scores less peaked)",
                self.logit_divisor
            )?;
        }
        Ok(())
    }
}
