//! `lstm-train import`: a model trained in Keras or PyTorch
//! ([`lstm_train::import`]) turned into a model file by the same export
//! `lstm-train export` runs.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use lstm_core::NumberFormat;
use lstm_train::data::{ClassConfig, ForecastConfig, Scaler, TimeColumn};
use lstm_train::export::{write_heldout, ExportOptions, ReportText};
use lstm_train::import::build::{import_model, ImportData, ImportSettings, ModeChoice};
use lstm_train::import::{HeadActivation, ReadOptions};

use super::fit::{MissingArg, ScalerArg};
use super::{ActivationArg, FormatArg};

/// The head's activation of a `.safetensors` state_dict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum HeadArg {
    /// No activation: regression outputs, or logits.
    Linear,
    /// Softmax over the outputs: a classifier.
    Softmax,
    /// Sigmoid on one output: a binary classifier (stored as two logits [0, z]).
    Sigmoid,
}

impl From<HeadArg> for HeadActivation {
    fn from(h: HeadArg) -> Self {
        match h {
            HeadArg::Linear => HeadActivation::Linear,
            HeadArg::Softmax => HeadActivation::Softmax,
            HeadArg::Sigmoid => HeadActivation::Sigmoid,
        }
    }
}

/// Arguments of `import`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  lstm-train import m.keras --out m.lstm
  lstm-train import m.h5 --format f32 --out m.f32.lstm
  lstm-train import m.keras --data airline.csv --scaler minmax --out m.lstm --heldout m.lstm.inputs
  lstm-train import m.keras --x-min 104 --x-max 622 --y-min 104 --y-max 622 --out m.lstm
  lstm-train import classify.keras --classes walk,run,sit --out c.lstm
  lstm-train import model.safetensors --window 24 --out t.lstm
  lstm-train import model.onnx --out t.lstm

Read: Keras 3 .keras, legacy Keras .h5 (model.save(\"m.h5\")), a PyTorch
state_dict as .safetensors (nn.LSTM / nn.GRU named by their tensors, then
nn.Linear on the last step), and .onnx from torch.onnx.export. Anything
else in the model (Bidirectional, Conv1D, Masking, non-default activations,
stateful=True, an ONNX op not handled) is refused with the layer or node
named. What the file cannot tell comes from the flags below; the defaults
are: no input or output scaling, regression (classification when the head
is softmax or sigmoid, or --classes / --train are given), windows of the
sequence length the file records (a stream with the head at every step when
the last recurrent layer returns sequences), no differencing, no data (then
no calibration and no test metrics). With --data (or --train --test) the
data is read and split as `fit` reads it, the scalers chosen by --scaler are
fitted on the fit split as `fit` fits them, and the export calibrates on the
training data and scores the test split before (trainer f32) and after
(the file run by lstm-core), as `lstm-train export` does.")]
pub struct ImportArgs {
    /// The framework's model file (.keras, .h5, .safetensors, .onnx).
    pub model: PathBuf,
    /// Output model file.
    #[arg(long, short = 'o')]
    pub out: PathBuf,
    /// Number format of the file.
    #[arg(long, short = 'f', value_enum, default_value = "q4.12")]
    pub format: FormatArg,
    /// The head's activation, for a .safetensors state_dict only (Keras and
    /// ONNX files record theirs) [default: linear].
    #[arg(long, value_enum)]
    pub head: Option<HeadArg>,
    /// Forecasting CSV to fit the scalers on, calibrate and score with (read
    /// as `fit --data` reads it) [default: none].
    #[arg(long, conflicts_with_all = ["train", "test"])]
    pub data: Option<PathBuf>,
    /// Classification training CSV (with --test), as `fit --train` [default: none].
    #[arg(long, requires = "test")]
    pub train: Option<PathBuf>,
    /// Classification test CSV (with --train).
    #[arg(long, requires = "train")]
    pub test: Option<PathBuf>,
    /// Target column of --data [default: the single value column].
    #[arg(long, requires = "data")]
    pub target: Option<String>,
    /// Input feature columns of --data, comma-separated, in the model's input
    /// order [default: the target alone].
    #[arg(long, value_delimiter = ',', requires = "data")]
    pub features: Option<Vec<String>>,
    /// Missing cells in the data.
    #[arg(long, value_enum, default_value = "error")]
    pub missing: MissingArg,
    /// Scaler fitted on the data's fit split, for inputs and target alike, as
    /// `fit` fits it; `none` when the model was trained on raw values.
    #[arg(long, value_enum, default_value = "none")]
    pub scaler: ScalerArg,
    /// Input min-max scaling by value, for an import without data:
    /// per-feature minimums, comma-separated (with --x-max) [default: no
    /// input scaling; with data, the --scaler fitted on it].
    #[arg(long, value_delimiter = ',', requires = "x_max", conflicts_with_all = ["x_mean", "x_std"], allow_hyphen_values = true)]
    pub x_min: Option<Vec<f64>>,
    /// Input min-max scaling: per-feature maximums (with --x-min).
    #[arg(
        long,
        value_delimiter = ',',
        requires = "x_min",
        allow_hyphen_values = true
    )]
    pub x_max: Option<Vec<f64>>,
    /// Input standard scaling by value: per-feature means (with --x-std).
    #[arg(
        long,
        value_delimiter = ',',
        requires = "x_std",
        allow_hyphen_values = true
    )]
    pub x_mean: Option<Vec<f64>>,
    /// Input standard scaling: per-feature standard deviations (with --x-mean).
    #[arg(
        long,
        value_delimiter = ',',
        requires = "x_mean",
        allow_hyphen_values = true
    )]
    pub x_std: Option<Vec<f64>>,
    /// Output min-max scaling by value (regression, without data):
    /// per-output minimums (with --y-max) [default: no output scaling;
    /// with data, the --scaler fitted on it].
    #[arg(long, value_delimiter = ',', requires = "y_max", conflicts_with_all = ["y_mean", "y_std"], allow_hyphen_values = true)]
    pub y_min: Option<Vec<f64>>,
    /// Output min-max scaling: per-output maximums (with --y-min).
    #[arg(
        long,
        value_delimiter = ',',
        requires = "y_min",
        allow_hyphen_values = true
    )]
    pub y_max: Option<Vec<f64>>,
    /// Output standard scaling by value: per-output means (with --y-std).
    #[arg(
        long,
        value_delimiter = ',',
        requires = "y_std",
        allow_hyphen_values = true
    )]
    pub y_mean: Option<Vec<f64>>,
    /// Output standard scaling: per-output standard deviations (with --y-mean).
    #[arg(
        long,
        value_delimiter = ',',
        requires = "y_mean",
        allow_hyphen_values = true
    )]
    pub y_std: Option<Vec<f64>>,
    /// Class names in output order, comma-separated; makes the model a
    /// classifier. With --train/--test the classes are the training file's
    /// labels sorted as `fit` sorts them (numerically if all are integers),
    /// output k being the k-th: train the framework's model with the same
    /// label ids, or name them here [default: the data's classes, else
    /// 0,1,…].
    #[arg(long, value_delimiter = ',')]
    pub classes: Option<Vec<String>>,
    /// Run on windows of W steps from a zero state [default: the sequence
    /// length the file records].
    #[arg(long, conflicts_with = "stateful")]
    pub window: Option<usize>,
    /// Run as a stream with carried state, the head at every step [default:
    /// only when the last recurrent layer returns sequences].
    #[arg(long)]
    pub stateful: bool,
    /// The model was trained on differences x[t] - x[t-LAG] (needs --data)
    /// [default: no differencing].
    #[arg(long, value_name = "LAG", requires = "data")]
    pub difference: Option<usize>,
    /// Do not fold power-of-two scale factors into the scalers and the
    /// first / last weights (fixed point).
    #[arg(long)]
    pub no_rescale: bool,
    /// Also write the held-out input stream for a device (needs --data; as
    /// `export --heldout`).
    #[arg(long, value_name = "FILE", requires = "data")]
    pub heldout: Option<PathBuf>,
    /// Activations lstm-core scores the file with [default: fast for fixed
    /// point, as the firmware; exact for f32].
    #[arg(long, value_enum)]
    pub activations: Option<ActivationArg>,
}

fn scaler(
    min: &Option<Vec<f64>>,
    max: &Option<Vec<f64>>,
    mean: &Option<Vec<f64>>,
    std: &Option<Vec<f64>>,
    which: &str,
) -> anyhow::Result<Option<Scaler>> {
    let check = |a: &Vec<f64>, b: &Vec<f64>, na: &str, nb: &str| -> anyhow::Result<()> {
        anyhow::ensure!(
            a.len() == b.len(),
            "--{which}-{na} has {} values, --{which}-{nb} {}",
            a.len(),
            b.len()
        );
        anyhow::ensure!(
            a.iter().chain(b).all(|v| v.is_finite()),
            "--{which}-{na} / --{which}-{nb}: every value must be finite"
        );
        Ok(())
    };
    Ok(match (min, max, mean, std) {
        (Some(min), Some(max), _, _) => {
            check(min, max, "min", "max")?;
            Some(Scaler::MinMax {
                min: min.clone(),
                max: max.clone(),
            })
        }
        (_, _, Some(mean), Some(std)) => {
            check(mean, std, "mean", "std")?;
            anyhow::ensure!(
                std.iter().all(|&s| s >= 0.0),
                "--{which}-std: a standard deviation is not negative"
            );
            Some(Scaler::Standard {
                mean: mean.clone(),
                std: std.clone(),
            })
        }
        _ => None,
    })
}

/// Imports, exports, writes the file atomically and prints the report.
pub fn run(args: ImportArgs) -> anyhow::Result<()> {
    let format: NumberFormat = args.format.into();
    let ext = args
        .model
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    if args.head.is_some() {
        anyhow::ensure!(
            ext.as_deref() == Some("safetensors"),
            "--head is for a .safetensors state_dict; `{}` records its own head",
            args.model.display()
        );
    }
    let read = ReadOptions {
        head_activation: args.head.map_or(HeadActivation::Linear, Into::into),
    };
    let data = match (&args.data, &args.train, &args.test) {
        (Some(path), _, _) => ImportData::Forecast {
            path: path.clone(),
            config: ForecastConfig {
                time_column: TimeColumn::First,
                target: args.target.clone(),
                features: args.features.clone(),
                missing: args.missing.into(),
                scale_x: args.scaler.into(),
                scale_y: args.scaler.into(),
                ..ForecastConfig::default()
            },
        },
        (None, Some(train), Some(test)) => ImportData::Classify {
            train: train.clone(),
            test: test.clone(),
            config: ClassConfig {
                missing: args.missing.into(),
                scaler: args.scaler.into(),
                ..ClassConfig::default()
            },
        },
        _ => ImportData::None,
    };
    if data == ImportData::None {
        let kind: lstm_train::data::ScalerKind = args.scaler.into();
        anyhow::ensure!(
            kind == lstm_train::data::ScalerKind::None,
            "--scaler fits a scaler on the data: give --data (or --train --test), or the values with --x-min/--x-max or --x-mean/--x-std"
        );
        anyhow::ensure!(
            args.missing == MissingArg::Error,
            "--missing applies to the data: give --data (or --train --test)"
        );
    }
    let settings = ImportSettings {
        data,
        scaler_x: scaler(&args.x_min, &args.x_max, &args.x_mean, &args.x_std, "x")?,
        scaler_y: scaler(&args.y_min, &args.y_max, &args.y_mean, &args.y_std, "y")?,
        classes: args.classes.clone(),
        mode: match (args.window, args.stateful) {
            (Some(w), _) => ModeChoice::Window(w),
            (None, true) => ModeChoice::Stateful,
            (None, false) => ModeChoice::Auto,
        },
        difference: args.difference,
    };
    let opts = ExportOptions {
        format,
        rescale: !args.no_rescale,
        use_data: true,
        activations: args.activations.map(Into::into),
    };
    let (model, report) = import_model(&args.model, &read, &settings, &opts)
        .with_context(|| format!("importing `{}` as {format}", args.model.display()))?;
    if let Some(path) = &args.heldout {
        let steps = write_heldout(&model, &report.bytes, path)?;
        println!(
            "wrote {} ({steps} steps of held-out inputs for the device)",
            path.display()
        );
    }
    lstm_train::io::write_atomic(&args.out, &report.bytes)
        .with_context(|| format!("writing the model file `{}`", args.out.display()))?;
    print!(
        "{}",
        ReportText {
            report: &report,
            out: &args.out,
            model: &args.model,
        }
    );
    Ok(())
}
