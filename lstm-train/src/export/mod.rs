//! Export of a [`TrainedModel`] to an `lstm-core` model file
//! (`lstm-core/FORMAT.md`), with post-training quantization, by job:
//!
//! * [`plan`]: [`ExportPlan`] is everything the file will hold, owned and in
//!   floating point: the layer shapes (LSTM or GRU layers and the head), the
//!   weights in file order (PyTorch's two biases folded into the file's one
//!   `[4H]` bias), the input and output scaling
//!   as per-feature affine maps, the training mode and the task. It is built
//!   from a trained model ([`ExportPlan::from_model`]), may be adjusted by the
//!   quantizer ([`crate::quantize::fold_scales`]), and is encoded with
//!   `lstm_core::file::to_vec`, so the trainer cannot write what the core
//!   cannot read;
//! * [`data`]: the data a model was trained and is tested on, rebuilt from
//!   what it records ([`EvalData`]);
//! * [`score`] and [`metric`]: the test split scored by the trainer and by
//!   `lstm-core` on the exported bytes ([`Metric`]);
//! * [`padding`]: series of different lengths in one batch;
//! * [`heldout`]: the held-out input stream a device replays;
//! * [`report`]: the text of an export's report ([`ReportText`]);
//! * here, [`export_model`], the whole `lstm-train export`: rebuild the
//!   training data, calibrate, fold scale factors where exact, report
//!   clipping, encode, and score the test split before (trainer, `f32`) and
//!   after (the exported bytes run by `lstm-core`'s
//!   [`DynModel`](lstm_core::dynamic::DynModel)).

pub mod data;
pub mod error;
pub mod heldout;
pub mod metric;
pub mod padding;
pub mod plan;
pub mod report;
pub mod score;

use std::path::{Path, PathBuf};

use lstm_core::NumberFormat;

pub use data::EvalData;
pub use error::ExportError;
pub use heldout::{heldout_inputs, write_heldout, HeldoutError};
pub use metric::Metric;
pub use padding::{pad_scaled, pad_series};
pub use plan::{
    core_cell, difference_targets, to_model_file, training_mode, Affine, AffineKind, ExportPlan,
    RecurrentTensors,
};
pub use report::ReportText;
pub use score::{
    core_test_outputs, score_core, score_file, score_trainer, trainer_metric, trainer_test_outputs,
    FileScore,
};

use crate::artifact::TrainedModel;
use crate::core_runner::{Activations, CoreBytes, CoreRunner, RunStats};
use crate::data::ForecastData;
use crate::quantize::{self, Calibration, QuantReport};

/// Options of [`export_model`].
#[derive(Clone, Debug, PartialEq)]
pub struct ExportOptions {
    /// Number format of the file.
    pub format: NumberFormat,
    /// Fold per-tensor power-of-two scale factors into the scalers and the
    /// first / last weight matrices where this is exact (fixed point only).
    pub rescale: bool,
    /// Rebuild the data recorded in the model to calibrate and to score the
    /// test split before and after. Without it, only the weights are checked.
    pub use_data: bool,
    /// Activations the core scores the export with (`None`: what the
    /// firmware uses, [`Activations::firmware_default`]).
    pub activations: Option<Activations>,
}

impl ExportOptions {
    /// Defaults for `format`: rescale, use the data, firmware activations.
    pub fn new(format: NumberFormat) -> Self {
        ExportOptions {
            format,
            rescale: true,
            use_data: true,
            activations: None,
        }
    }
}

/// What [`export_model`] produced and measured.
#[derive(Clone, Debug)]
pub struct ExportReport {
    /// The model file's bytes.
    pub bytes: Vec<u8>,
    /// The plan that was encoded (after any folding).
    pub plan: ExportPlan,
    /// Calibration statistics (trainer's scaled units, before folding), if
    /// the data was used.
    pub calibration: Option<Calibration>,
    /// Quantization report: folded scale factors, clipped weights,
    /// saturating states and pre-activations.
    pub quant: QuantReport,
    /// Activations the core used for the "after" metric.
    pub activations: Activations,
    /// Test metric of the trainer's `f32` forward.
    pub before: Option<Metric>,
    /// Test metric of the exported file run by `lstm-core`.
    pub after: Option<Metric>,
    /// What the core's state did on the test data.
    pub core_stats: Option<RunStats>,
}

/// The first differences of `d` the model was trained on.
fn differenced_data(model: &TrainedModel, d: &ForecastData) -> Result<ForecastData, ExportError> {
    crate::fit::differenced_for(model, d)
        .map_err(|e| ExportError::Unsupported(format!("differencing the data: {e}")))
}

/// The whole `export`: plan, calibrate on the training data, fold scale
/// factors, analyse clipping, encode, and score before / after.
pub fn export_model(
    model: &TrainedModel,
    opts: &ExportOptions,
) -> Result<ExportReport, ExportError> {
    let mut plan = ExportPlan::from_model(model, opts.format)?;
    // A differenced model needs the data to know its target feature.
    let data = if opts.use_data || model.difference {
        Some(EvalData::load(&model.data)?)
    } else {
        None
    };
    // What the network itself was trained on (first differences, or not).
    let model_data = match (&data, model.difference) {
        (Some(EvalData::Forecast(d)), true) => {
            plan.difference_targets = Some(difference_targets(d)?);
            plan.difference_lag = model.difference_lag;
            Some(EvalData::Forecast(Box::new(differenced_data(model, d)?)))
        }
        (Some(_), true) => {
            return Err(ExportError::Unsupported(
                "only a forecasting model can be trained on first differences".into(),
            ))
        }
        _ => None,
    };
    let calibration = match model_data.as_ref().or(data.as_ref()) {
        Some(d) => {
            let (seqs, every_step) = d.calibration_sequences(model.mode);
            Some(quantize::calibrate(
                &model.net,
                &model.params,
                seqs.iter().map(|s| s.view()),
                every_step,
            )?)
        }
        None => None,
    };
    let adjustments = if opts.rescale && opts.format != NumberFormat::F32 {
        quantize::fold_scales(&mut plan, calibration.as_ref())
    } else {
        Vec::new()
    };
    let quant = quantize::analyze(&plan, calibration.as_ref(), adjustments);
    let bytes = plan.encode()?;
    let activations = opts
        .activations
        .unwrap_or_else(|| Activations::firmware_default(opts.format));
    let (before, after, core_stats) = match &data {
        Some(d) if opts.use_data => {
            let before = trainer_metric(model, d, model_data.as_ref())?;
            let aligned = CoreBytes::new(&bytes);
            let file = aligned.parse()?;
            let runner = CoreRunner::new(&file, activations)?;
            let (y, stats) = core_test_outputs(&runner, &file.header, d)?;
            let after = score_core(&file.header, d, &y)?;
            (Some(before), Some(after), Some(stats))
        }
        _ => (None, None, None),
    };
    Ok(ExportReport {
        bytes,
        plan,
        calibration,
        quant,
        activations,
        before,
        after,
        core_stats,
    })
}

/// Loads a trained model and exports it to `out` (written atomically);
/// returns the report.
pub fn export_to_path(
    model_path: &Path,
    out: &Path,
    opts: &ExportOptions,
) -> Result<ExportReport, ExportError> {
    let model = TrainedModel::load(model_path)?;
    let report = export_model(&model, opts)?;
    crate::io::write_atomic(out, &report.bytes)?;
    Ok(report)
}

/// The default output path beside a trained model: `model.<format>.lstm`.
pub fn default_out_path(model_path: &Path, format: NumberFormat) -> PathBuf {
    let stem = match format {
        NumberFormat::F32 => "model.f32.lstm",
        NumberFormat::Q4_12 => "model.q4_12.lstm",
        NumberFormat::Q16_16 => "model.q16_16.lstm",
        NumberFormat::Q4_12W8 => "model.q4_12_w8.lstm",
    };
    model_path.with_file_name(stem)
}
