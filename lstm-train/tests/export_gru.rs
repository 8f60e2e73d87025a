//! GRU export round trips: a GRU trained model exported to a model file
//! (`LayerShape::Gru`, bias `[b_ir + b_hr, b_iz + b_hz, b_in, b_hn]`) and
//! run by `lstm-core`'s `DynModel` computes what the trainer's forward pass
//! computes (f32: within 1e-5; Q4.12 and Q16.16: the test metric within the
//! 16-bit bar), and the quantization report of a GRU shows no cell state.

use std::path::PathBuf;

use lstm_core::{LayerShape, NumberFormat};
use lstm_train::artifact::{DataSource, TaskKind, TrainMode, TrainedModel};
use lstm_train::core_runner::{Activations, CoreBytes, CoreRunner};
use lstm_train::data::{ForecastConfig, Scaler};
use lstm_train::export::{export_model, ExportOptions, ExportPlan};
use lstm_train::inspect::inspect_bytes;
use lstm_train::net::{Batch, CellKind, HeadMode, Mode, NetConfig, Network, Params};
use ndarray::{Array2, Array3};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const AIRLINE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/datasets/forecasting/airline/data.csv"
);

fn gru(input: usize, hidden: Vec<usize>, output: usize) -> NetConfig {
    NetConfig {
        hidden_sizes: hidden,
        ..NetConfig::new(input, 1, 1, output).with_cell(CellKind::Gru)
    }
}

fn random_params(net: &NetConfig, seed: u64, scale: f32) -> Params<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut p = Params::<f32>::init(net, &mut rng).unwrap();
    p.scale(scale);
    p
}

fn random_inputs(shape: (usize, usize, usize), seed: u64) -> Array3<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array3::from_shape_fn(shape, |_| rng.gen_range(-2.0f32..2.0))
}

fn model(net: NetConfig, params: Params<f32>, task: TaskKind, mode: TrainMode) -> TrainedModel {
    TrainedModel {
        net,
        params,
        task,
        mode,
        scaler_x: Scaler::None,
        scaler_y: Scaler::None,
        data: DataSource::Forecast {
            path: PathBuf::from(AIRLINE),
            config: ForecastConfig::default(),
        },
        difference: false,
        difference_lag: 1,
    }
}

fn f32_bytes(m: &TrainedModel) -> CoreBytes {
    CoreBytes::new(
        &ExportPlan::from_model(m, NumberFormat::F32)
            .unwrap()
            .encode()
            .unwrap(),
    )
}

fn max_diff(a: &Array2<f32>, b: &Array2<f32>) -> f32 {
    assert_eq!(a.dim(), b.dim());
    a.iter().zip(b).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
}

#[test]
fn windowed_gru_f32_export_matches_the_trainer() {
    for (seed, hidden) in [(1u64, vec![7]), (2, vec![6, 5]), (3, vec![4, 3, 5])] {
        let net = gru(3, hidden.clone(), 2);
        let params = random_params(&net, seed, 1.5);
        let m = model(
            net.clone(),
            params.clone(),
            TaskKind::Regression { target: "y".into() },
            TrainMode::Windowed { window: 9 },
        );
        let x = random_inputs((11, 9, 3), seed + 100);
        let expected = Network::<f32>::new(net)
            .unwrap()
            .predict(&params, &Batch::new(x.view()))
            .unwrap();
        let bytes = f32_bytes(&m);
        let file = bytes.parse().unwrap();
        assert!(file.header.layers[..hidden.len()]
            .iter()
            .all(|l| matches!(l, LayerShape::Gru { .. })));
        let runner = CoreRunner::new(&file, Activations::Exact).unwrap();
        let (got, _) = runner.run_windows(x.view(), None).unwrap();
        let d = max_diff(&expected, &got);
        assert!(d <= 1e-5, "seed {seed}: core vs trainer differ by {d}");
    }
}

#[test]
fn stateful_gru_f32_export_matches_the_trainer() {
    let net = NetConfig {
        head: HeadMode::EveryStep,
        ..gru(2, vec![6, 6], 1)
    };
    let params = random_params(&net, 7, 1.0);
    let m = model(
        net.clone(),
        params.clone(),
        TaskKind::Regression { target: "y".into() },
        TrainMode::Stateful { chunk: 16 },
    );
    let x = random_inputs((1, 200, 2), 8);
    let mut trainer = Network::<f32>::new(net).unwrap();
    trainer
        .forward(&params, &Batch::new(x.view()), Mode::Eval)
        .unwrap();
    let expected = trainer
        .step_outputs()
        .unwrap()
        .index_axis_move(ndarray::Axis(0), 0);
    let bytes = f32_bytes(&m);
    let file = bytes.parse().unwrap();
    let runner = CoreRunner::new(&file, Activations::Exact).unwrap();
    let got = runner
        .run_sequence(x.index_axis(ndarray::Axis(0), 0))
        .unwrap();
    let d = max_diff(&expected, &got);
    assert!(
        d <= 1e-5,
        "core vs trainer differ by {d} over 200 carried steps"
    );
    let text = inspect_bytes(bytes.bytes()).unwrap();
    assert!(text.contains("GRU"), "{text}");
}

#[test]
fn gru_classifier_export_keeps_every_argmax_with_variable_lengths() {
    let net = gru(2, vec![5], 3);
    let params = random_params(&net, 9, 2.0);
    let m = model(
        net.clone(),
        params.clone(),
        TaskKind::Classification {
            classes: vec!["a".into(), "b".into(), "c".into()],
        },
        TrainMode::Windowed { window: 12 },
    );
    let x = random_inputs((8, 12, 2), 10);
    let lengths = [12, 3, 7, 12, 1, 9, 12, 5];
    let expected = Network::<f32>::new(net)
        .unwrap()
        .predict(&params, &Batch::new(x.view()).with_lengths(&lengths))
        .unwrap();
    let bytes = f32_bytes(&m);
    let file = bytes.parse().unwrap();
    let runner = CoreRunner::new(&file, Activations::Exact).unwrap();
    let (got, _) = runner.run_windows(x.view(), Some(&lengths)).unwrap();
    assert!(max_diff(&expected, &got) <= 1e-5);
}

/// A random (untrained) GRU on the airline data, exported with the data:
/// f32 agrees with the trainer, Q4.12 and Q16.16 are within the 16-bit bar,
/// and the report has no `c`.
#[test]
fn gru_export_with_data_in_every_format() {
    let cfg = ForecastConfig {
        window: 12,
        ..ForecastConfig::default()
    };
    let data = lstm_train::data::load_forecast(AIRLINE, &cfg).unwrap();
    let net = gru(1, vec![8, 8], 1);
    let params = random_params(&net, 4, 1.0);
    let mut m = model(
        net,
        params,
        TaskKind::Regression {
            target: "value".into(),
        },
        TrainMode::Windowed { window: 12 },
    );
    m.scaler_x = data.scaler_x.clone();
    m.scaler_y = data.scaler_y.clone();
    m.data = DataSource::Forecast {
        path: PathBuf::from(AIRLINE),
        config: cfg,
    };
    for format in [NumberFormat::F32, NumberFormat::Q4_12, NumberFormat::Q16_16] {
        let r = export_model(&m, &ExportOptions::new(format)).unwrap();
        let (before, after) = (r.before.unwrap(), r.after.unwrap());
        assert!(
            before.within_bar(&after),
            "{format}: {before} vs {after} ({})",
            before.change(&after)
        );
        let cal = r.calibration.unwrap();
        assert_eq!(cal.cell, CellKind::Gru);
        assert!(cal.layers.iter().all(|l| l.c == 0.0 && l.h > 0.0));
        let report = r.quant.to_string();
        assert!(!r.quant.cell_state);
        assert!(!report.contains("cell state c"), "{report}");
        assert!(
            r.quant
                .saturating
                .iter()
                .chain(&r.quant.near_limit)
                .all(|s| !s.what.ends_with(" c")),
            "{report}"
        );
        if format != NumberFormat::F32 {
            assert!(
                report.contains("saturating inputs / h / outputs"),
                "{report}"
            );
        }
        let names: Vec<String> = r.plan.tensors().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names[0], "gru.weight_ih_l0");
    }
}
