//! From an [`ImportedNet`] and what the user says about it (scaling, task,
//! class names, windowed or stateful use, differencing, data) to a
//! [`TrainedModel`], which then goes through the very export `lstm-train
//! export` runs ([`crate::export::export_model`]: calibration on the data,
//! power-of-two folding, quantization report, before / after metric).
//!
//! A file written by `fit` records all of these; a framework's file does
//! not, so each has a stated default ([`ImportSettings::default`]): no
//! scaling, regression (classification for a softmax or sigmoid head),
//! windows of the file's own sequence length (a stream when the last
//! recurrent layer returns sequences), no differencing, no data.

use std::path::{Path, PathBuf};

use super::{read_model, HeadActivation, ImportError, ImportedNet, ReadOptions};
use crate::artifact::{DataSource, TaskKind, TrainMode, TrainedModel};
use crate::data::{
    load_classification, load_forecast, ClassConfig, DataError, ForecastConfig, Scaler,
};
use crate::export::{export_model, ExportError, ExportOptions, ExportReport};
use crate::fit::FitError;
use crate::net::HeadMode;

/// The data an imported model is calibrated and scored on.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum ImportData {
    /// None (the default): no calibration, no metrics, no fitted scalers.
    #[default]
    None,
    /// A forecasting CSV, read and split as `fit --data` reads it; its
    /// `config.window` is set to the model's window.
    Forecast {
        /// The CSV.
        path: PathBuf,
        /// Columns, splits, missing values and the scaler kinds to fit.
        config: ForecastConfig,
    },
    /// A classification pair, as `fit --train --test` reads it.
    Classify {
        /// Training CSV.
        train: PathBuf,
        /// Test CSV.
        test: PathBuf,
        /// Format, missing values and the scaler kind to fit.
        config: ClassConfig,
    },
}

/// How the imported model is run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ModeChoice {
    /// Windows of the file's sequence length, or a stream (head at every
    /// step) when the last recurrent layer returns sequences.
    #[default]
    Auto,
    /// Windows of `W` steps from a zero state.
    Window(usize),
    /// A stream with carried state, the head at every step.
    Stateful,
}

/// Everything about an imported model that its file cannot tell.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ImportSettings {
    /// The data (default: none).
    pub data: ImportData,
    /// Input scaling given by value, for an import without data (default:
    /// none; with data, the scaler `data`'s configuration fits).
    pub scaler_x: Option<Scaler>,
    /// Output scaling given by value (regression), for an import without
    /// data.
    pub scaler_y: Option<Scaler>,
    /// Class names in output order (default: the data's classes, else
    /// `0`, `1`, …). Giving them makes the model a classifier.
    pub classes: Option<Vec<String>>,
    /// Windowed or stateful.
    pub mode: ModeChoice,
    /// Differencing lag (needs forecasting data).
    pub difference: Option<usize>,
}

/// Errors of [`build_model`] and [`import_model`].
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The framework's file could not be read.
    #[error(transparent)]
    Read(#[from] ImportError),
    /// The settings do not fit the model or each other.
    #[error("{0}")]
    Settings(String),
    /// The data could not be read.
    #[error(transparent)]
    Data(#[from] DataError),
    /// Differencing the data failed.
    #[error(transparent)]
    Fit(#[from] FitError),
    /// The export failed.
    #[error(transparent)]
    Export(#[from] ExportError),
}

fn settings<T>(msg: String) -> Result<T, BuildError> {
    Err(BuildError::Settings(msg))
}

/// The [`TrainedModel`] of `net` (read from `from`) with `s` applied.
///
/// Errors: [`BuildError::Settings`] for settings that contradict the model
/// or each other (a window with a sequence-returning model, class names of
/// the wrong count, differencing without forecasting data, scaling given
/// by value together with data, a classifier with a forecasting CSV),
/// [`BuildError::Data`] / [`BuildError::Fit`] for the data.
pub fn build_model(
    mut net: ImportedNet,
    from: &Path,
    s: &ImportSettings,
) -> Result<TrainedModel, BuildError> {
    let out = net.net.output_size;
    let every_step = net.net.head == HeadMode::EveryStep;
    // Mode.
    let default_len = net.seq_len.unwrap_or(12).max(1);
    let mode = match (s.mode, every_step) {
        (ModeChoice::Stateful, _) | (ModeChoice::Auto, true) => TrainMode::Stateful {
            chunk: default_len,
        },
        (ModeChoice::Window(0), _) => return settings("--window must be at least 1".into()),
        (ModeChoice::Window(w), false) => TrainMode::Windowed { window: w },
        (ModeChoice::Window(_), true) => {
            return settings(
                "the last recurrent layer returns sequences (a head at every step): the model runs as a stream, not on windows (drop --window)"
                    .into(),
            )
        }
        (ModeChoice::Auto, false) => match net.seq_len {
            Some(w) if w > 0 => TrainMode::Windowed { window: w },
            _ => {
                return settings(
                    "the file records no sequence length: give --window W or --stateful".into(),
                )
            }
        },
    };
    if matches!(mode, TrainMode::Stateful { .. }) {
        // Streamed: the head runs at every step.
        net.net.head = HeadMode::EveryStep;
    }
    let window = match mode {
        TrainMode::Windowed { window } => window,
        TrainMode::Stateful { chunk } => chunk,
    };
    let classify_head = net.head_activation != HeadActivation::Linear;
    let classify =
        classify_head || s.classes.is_some() || matches!(s.data, ImportData::Classify { .. });
    let given_scaling = s.scaler_x.is_some() || s.scaler_y.is_some();
    if classify && s.scaler_y.is_some() {
        return settings(
            "output scaling (--y-*) is for regression; this model is a classifier".into(),
        );
    }
    if given_scaling && s.data != ImportData::None {
        // The data is rebuilt by the export from what the model records,
        // with the scalers its configuration fits: values given here would
        // not be the ones the calibration and the metrics run with.
        return settings(
            "scaling given by value (--x-*/--y-*) is for an import without data; with --data or --train/--test the scalers are fitted on the data (--scaler)"
                .into(),
        );
    }
    if s.difference.is_some() && !matches!(s.data, ImportData::Forecast { .. }) {
        return settings(
            "--difference needs the forecasting data (--data CSV): the device adds each forecast change to a raw value of the series"
                .into(),
        );
    }
    let (source, scaler_x, scaler_y, data_classes, target) = match &s.data {
        ImportData::None => (
            DataSource::Imported { model: from.into() },
            s.scaler_x.clone().unwrap_or(Scaler::None),
            s.scaler_y.clone().unwrap_or(Scaler::None),
            None,
            None,
        ),
        ImportData::Forecast { path, config } => {
            if classify {
                return settings(
                    "a forecasting CSV (--data) was given for a classifier (softmax / sigmoid head or --classes): give --train and --test"
                        .into(),
                );
            }
            if out != 1 {
                return settings(format!(
                    "the model has {out} outputs; a forecasting CSV gives one target"
                ));
            }
            let config = ForecastConfig {
                window,
                ..config.clone()
            };
            let d = load_forecast(path, &config)?;
            if d.feature_names.len() != net.net.input_size {
                return settings(format!(
                    "the data has {} input feature(s) ({}), the model takes {}",
                    d.feature_names.len(),
                    d.feature_names.join(", "),
                    net.net.input_size
                ));
            }
            let d = match s.difference {
                Some(lag) => crate::fit::differenced(&d, &config, lag)?,
                None => d,
            };
            let (sx, sy) = (d.scaler_x.clone(), d.scaler_y.clone());
            (
                DataSource::Forecast {
                    path: path.clone(),
                    config,
                },
                sx,
                sy,
                None,
                Some(d.target_name.clone()),
            )
        }
        ImportData::Classify {
            train,
            test,
            config,
        } => {
            let d = load_classification(train, test, config)?;
            if d.channels.len() != net.net.input_size {
                return settings(format!(
                    "the data has {} channel(s), the model takes {}",
                    d.channels.len(),
                    net.net.input_size
                ));
            }
            let sx = d.scaler.clone();
            (
                DataSource::Classify {
                    train: train.clone(),
                    test: test.clone(),
                    config: config.clone(),
                },
                sx,
                Scaler::None,
                Some(d.classes.clone()),
                None,
            )
        }
    };
    if let Some(n) = scaler_x.n_features() {
        if n != net.net.input_size {
            return settings(format!(
                "input scaling for {n} feature(s), the model takes {}",
                net.net.input_size
            ));
        }
    }
    if let Some(n) = scaler_y.n_features() {
        if n != out {
            return settings(format!(
                "output scaling for {n} output(s), the model has {out}"
            ));
        }
    }
    let task = if classify {
        let classes = match (&s.classes, data_classes) {
            (Some(c), _) => c.clone(),
            (None, Some(c)) => c,
            (None, None) => (0..out).map(|k| k.to_string()).collect(),
        };
        if classes.len() != out {
            return settings(format!(
                "{} class name(s) for a head of {out} output(s){}",
                classes.len(),
                if net.head_activation == HeadActivation::Sigmoid {
                    " (a sigmoid head is read as two logits: give two names, negative first)"
                } else {
                    ""
                }
            ));
        }
        TaskKind::Classification { classes }
    } else {
        TaskKind::Regression {
            target: target.unwrap_or_else(|| "y".into()),
        }
    };
    Ok(TrainedModel {
        net: net.net,
        params: net.params,
        task,
        mode,
        scaler_x,
        scaler_y,
        data: source,
        difference: s.difference.is_some(),
        difference_lag: s.difference.unwrap_or(1),
        season: None,
    })
}

/// The whole `lstm-train import`: read the framework's file, build the
/// model with `settings`, and export it as `lstm-train export` does (the
/// data, if any, calibrates and scores it; without data, `opts.use_data` is
/// turned off).
///
/// Errors: those of [`read_model`], [`build_model`] and
/// [`export_model`].
pub fn import_model(
    path: &Path,
    read: &ReadOptions,
    s: &ImportSettings,
    opts: &ExportOptions,
) -> Result<(TrainedModel, ExportReport), BuildError> {
    let net = read_model(path, read)?;
    let model = build_model(net, path, s)?;
    let opts = ExportOptions {
        use_data: opts.use_data && s.data != ImportData::None,
        ..opts.clone()
    };
    let report = export_model(&model, &opts)?;
    Ok((model, report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{NetConfig, Params};

    fn net(head: HeadMode, act: HeadActivation, out: usize, seq_len: Option<usize>) -> ImportedNet {
        let config = NetConfig {
            head,
            ..NetConfig::new(2, 3, 1, out)
        };
        ImportedNet {
            params: Params::zeros(&config).unwrap(),
            net: config,
            head_activation: act,
            seq_len,
        }
    }

    fn refusal(n: ImportedNet, s: ImportSettings, needle: &str) {
        match build_model(n, Path::new("m.keras"), &s) {
            Err(BuildError::Settings(msg)) => {
                assert!(msg.contains(needle), "`{msg}` lacks `{needle}`")
            }
            other => panic!("expected a settings error with `{needle}`, got {other:?}"),
        }
    }

    #[test]
    fn defaults_regression_windows_of_the_saved_length_no_scaling() {
        let m = build_model(
            net(HeadMode::LastStep, HeadActivation::Linear, 1, Some(7)),
            Path::new("m.keras"),
            &ImportSettings::default(),
        )
        .unwrap();
        assert_eq!(m.mode, TrainMode::Windowed { window: 7 });
        assert_eq!(m.scaler_x, Scaler::None);
        assert_eq!(m.scaler_y, Scaler::None);
        assert!(matches!(m.task, TaskKind::Regression { .. }));
        assert!(!m.difference);
        assert_eq!(
            m.data,
            DataSource::Imported {
                model: "m.keras".into()
            }
        );
    }

    #[test]
    fn sequence_output_and_stateful_stream_with_the_head_at_every_step() {
        let m = build_model(
            net(HeadMode::EveryStep, HeadActivation::Linear, 1, Some(5)),
            Path::new("m.h5"),
            &ImportSettings::default(),
        )
        .unwrap();
        assert!(matches!(m.mode, TrainMode::Stateful { .. }));
        let s = ImportSettings {
            mode: ModeChoice::Stateful,
            ..ImportSettings::default()
        };
        let m = build_model(
            net(HeadMode::LastStep, HeadActivation::Linear, 1, None),
            Path::new("m.h5"),
            &s,
        )
        .unwrap();
        assert!(matches!(m.mode, TrainMode::Stateful { .. }));
        assert_eq!(m.net.head, HeadMode::EveryStep);
    }

    #[test]
    fn softmax_head_is_a_classifier_with_numbered_classes() {
        let m = build_model(
            net(HeadMode::LastStep, HeadActivation::Softmax, 3, Some(4)),
            Path::new("m.keras"),
            &ImportSettings::default(),
        )
        .unwrap();
        assert_eq!(
            m.task,
            TaskKind::Classification {
                classes: vec!["0".into(), "1".into(), "2".into()]
            }
        );
    }

    #[test]
    fn contradictions_are_refused() {
        let every = || net(HeadMode::EveryStep, HeadActivation::Linear, 1, Some(5));
        let last = || net(HeadMode::LastStep, HeadActivation::Linear, 1, Some(5));
        refusal(
            every(),
            ImportSettings {
                mode: ModeChoice::Window(4),
                ..Default::default()
            },
            "returns sequences",
        );
        refusal(
            net(HeadMode::LastStep, HeadActivation::Linear, 1, None),
            ImportSettings::default(),
            "give --window W or --stateful",
        );
        refusal(
            last(),
            ImportSettings {
                mode: ModeChoice::Window(0),
                ..Default::default()
            },
            "at least 1",
        );
        refusal(
            net(HeadMode::LastStep, HeadActivation::Softmax, 3, Some(5)),
            ImportSettings {
                classes: Some(vec!["a".into()]),
                ..Default::default()
            },
            "1 class name(s) for a head of 3 output(s)",
        );
        refusal(
            net(HeadMode::LastStep, HeadActivation::Softmax, 3, Some(5)),
            ImportSettings {
                scaler_y: Some(Scaler::MinMax {
                    min: vec![0.0],
                    max: vec![1.0],
                }),
                ..Default::default()
            },
            "is for regression",
        );
        refusal(
            last(),
            ImportSettings {
                difference: Some(1),
                ..Default::default()
            },
            "--difference needs",
        );
        refusal(
            last(),
            ImportSettings {
                scaler_x: Some(Scaler::MinMax {
                    min: vec![0.0],
                    max: vec![1.0],
                }),
                ..Default::default()
            },
            "input scaling for 1 feature(s), the model takes 2",
        );
        refusal(
            last(),
            ImportSettings {
                scaler_x: Some(Scaler::MinMax {
                    min: vec![0.0; 2],
                    max: vec![1.0; 2],
                }),
                data: ImportData::Forecast {
                    path: "x.csv".into(),
                    config: ForecastConfig::default(),
                },
                ..Default::default()
            },
            "for an import without data",
        );
    }
}
