//! Export round trips: the exported file run by `lstm-core` agrees with the
//! trainer (LSTM and GRU), every format loads and inspects, scalers map
//! exactly, the quantizer's rescaling is exact and its clipping report
//! counts clipped weights (and shows no cell state for a GRU).

use std::path::PathBuf;

use lstm_core::file::Scaling;
use lstm_core::{LayerShape, NumberFormat};
use lstm_train::artifact::{DataSource, TaskKind, TrainMode, TrainedModel};
use lstm_train::core_runner::{model_inputs, raw_outputs, Activations, CoreBytes, CoreRunner};
use lstm_train::data::{ForecastConfig, Scaler};
use lstm_train::export::{export_model, Affine, ExportOptions, ExportPlan};
use lstm_train::inspect::inspect_bytes;
use lstm_train::net::{Batch, CellKind, HeadMode, Mode, NetConfig, Network, Params};
use lstm_train::quantize::{self, Calibration};
use ndarray::{Array2, Array3, Axis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const AIRLINE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/datasets/forecasting/airline/data.csv"
);

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
        season: None,
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
fn windowed_f32_export_matches_the_trainer() {
    for (seed, hidden) in [(1u64, vec![7]), (2, vec![6, 5]), (3, vec![4, 3, 5])] {
        let net = NetConfig::new(3, 1, 1, 2);
        let net = NetConfig {
            hidden_sizes: hidden,
            ..net
        };
        let params = random_params(&net, seed, 1.5);
        let m = model(
            net.clone(),
            params.clone(),
            TaskKind::Regression { target: "y".into() },
            TrainMode::Windowed { window: 9 },
        );
        let x = random_inputs((11, 9, 3), seed + 100);
        let mut trainer = Network::<f32>::new(net.clone()).unwrap();
        let expected = trainer.predict(&params, &Batch::new(x.view())).unwrap();
        let bytes = f32_bytes(&m);
        let file = bytes.parse().unwrap();
        let runner = CoreRunner::new(&file, Activations::Exact).unwrap();
        let (got, _) = runner.run_windows(x.view(), None).unwrap();
        let d = max_diff(&expected, &got);
        assert!(d <= 1e-5, "seed {seed}: core vs trainer differ by {d}");
        // Calibration runs the trainer's own forward: it sees exactly the
        // outputs the trainer predicts.
        let cal = quantize::calibrate(&net, &params, x.outer_iter(), false).unwrap();
        assert_eq!((cal.sequences, cal.steps), (11, 11 * 9));
        for (k, &m) in cal.outputs.iter().enumerate() {
            let max = expected.column(k).fold(0.0f32, |m, v| m.max(v.abs()));
            assert_eq!(m, max, "output {k}");
        }
    }
}

#[test]
fn stateful_f32_export_matches_the_trainer() {
    let net = NetConfig {
        head: HeadMode::EveryStep,
        ..NetConfig::new(2, 6, 2, 1)
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
        .index_axis(Axis(0), 0)
        .to_owned();
    let bytes = f32_bytes(&m);
    let file = bytes.parse().unwrap();
    assert_eq!(file.header.mode, lstm_core::file::TrainingMode::Stateful);
    let runner = CoreRunner::new(&file, Activations::Exact).unwrap();
    let got = runner.run_sequence(x.index_axis(Axis(0), 0)).unwrap();
    let d = max_diff(&expected, &got);
    assert!(
        d <= 1e-5,
        "core vs trainer differ by {d} over 200 carried steps"
    );
}

#[test]
fn classification_export_keeps_every_argmax() {
    let classes: Vec<String> = ["Badminton", "Running", "Standing", "Walking"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let net = NetConfig::new(6, 8, 1, 4);
    let params = random_params(&net, 11, 2.0);
    let m = model(
        net.clone(),
        params.clone(),
        TaskKind::Classification {
            classes: classes.clone(),
        },
        TrainMode::Windowed { window: 30 },
    );
    let x = random_inputs((40, 30, 6), 12);
    let lengths: Vec<usize> = (0..40).map(|i| 10 + i % 21).collect();
    let mut trainer = Network::<f32>::new(net).unwrap();
    let expected = trainer
        .predict(&params, &Batch::new(x.view()).with_lengths(&lengths))
        .unwrap();
    let bytes = f32_bytes(&m);
    let file = bytes.parse().unwrap();
    match &file.header.task {
        lstm_core::file::Task::Classification { classes: c } => {
            assert_eq!(c.iter().map(|s| s.to_string()).collect::<Vec<_>>(), classes)
        }
        t => panic!("task {t:?}"),
    }
    let runner = CoreRunner::new(&file, Activations::Exact).unwrap();
    let (got, _) = runner.run_windows(x.view(), Some(&lengths)).unwrap();
    assert!(max_diff(&expected, &got) <= 1e-5);
    let argmax = |r: ndarray::ArrayView1<'_, f32>| {
        (0..r.len()).fold(0, |b, k| if r[k] > r[b] { k } else { b })
    };
    for (a, b) in expected.outer_iter().zip(got.outer_iter()) {
        assert_eq!(argmax(a), argmax(b));
    }
}

#[test]
fn every_format_loads_and_inspects() {
    let net = NetConfig::new(1, 4, 1, 1);
    let params = random_params(&net, 5, 1.0);
    let mut m = model(
        net,
        params,
        TaskKind::Regression {
            target: "value".into(),
        },
        TrainMode::Windowed { window: 12 },
    );
    m.scaler_x = Scaler::MinMax {
        min: vec![104.0],
        max: vec![413.0],
    };
    m.scaler_y = m.scaler_x.clone();
    for (format, name) in [
        (NumberFormat::F32, "f32"),
        (NumberFormat::Q4_12, "q4.12"),
        (NumberFormat::Q16_16, "q16.16"),
    ] {
        let bytes = ExportPlan::from_model(&m, format)
            .unwrap()
            .encode()
            .unwrap();
        let aligned = CoreBytes::new(&bytes);
        let file = aligned.parse().unwrap();
        assert_eq!(file.header.format, format);
        for act in [Activations::Exact, Activations::Fast] {
            CoreRunner::new(&file, act).unwrap();
        }
        let text = inspect_bytes(&bytes).unwrap();
        assert!(text.contains(&format!("number format: {name}")), "{text}");
        assert!(text.contains("LSTM  input 1, hidden 4"), "{text}");
        assert!(text.contains("Dense input 4, output 1"), "{text}");
        assert!(text.contains("training mode: windowed, W = 12"), "{text}");
        assert!(text.contains("min 104, max 413"), "{text}");
        assert!(text.contains("(valid)"), "{text}");
        assert!(
            text.contains(&format!("size: {} bytes", bytes.len())),
            "{text}"
        );
    }
}

#[test]
fn constant_features_scale_like_the_trainer() {
    let scalers = [
        Scaler::MinMax {
            min: vec![3.0, -1.0],
            max: vec![3.0, 5.0],
        },
        Scaler::Standard {
            mean: vec![2.5, 0.5],
            std: vec![0.0, 2.0],
        },
        Scaler::None,
    ];
    for s in scalers {
        let scaling = Affine::from_scaler(&s, 2).unwrap().to_scaling().unwrap();
        for j in 0..2 {
            for x in [-7.0, 0.0, 2.5, 3.0, 11.0] {
                let core = scaling.scale(j, x as f32);
                let trainer = s.transform_value(j, x) as f32;
                assert!(core.is_finite(), "{s:?}: division by zero");
                assert!(
                    (core - trainer).abs() <= 1e-6,
                    "{s:?} [{j}] {x}: {core} vs {trainer}"
                );
            }
        }
    }
}

#[test]
fn a_weight_of_100_is_reported_clipped_in_q4_12() {
    let net = NetConfig::new(1, 4, 1, 1);
    let mut params = random_params(&net, 9, 1.0);
    params.layers[0].weight_hh[[2, 1]] = 100.0;
    let m = model(
        net,
        params,
        TaskKind::Regression { target: "y".into() },
        TrainMode::Windowed { window: 4 },
    );
    let opts = ExportOptions {
        use_data: false,
        ..ExportOptions::new(NumberFormat::Q4_12)
    };
    let r = export_model(&m, &opts).unwrap();
    assert_eq!(r.quant.clipped_weights(), 1);
    let t = r.quant.weights.iter().find(|t| t.clipped > 0).unwrap();
    assert_eq!(t.name, "lstm.weight_hh_l0");
    assert_eq!(t.max_abs, 100.0);
    assert!(r.quant.to_string().contains("lstm.weight_hh_l0: 1 of"));
    // Q16.16 holds it.
    let r = export_model(
        &m,
        &ExportOptions {
            format: NumberFormat::Q16_16,
            ..opts
        },
    )
    .unwrap();
    assert_eq!(r.quant.clipped_weights(), 0);
}

#[test]
fn rescaling_is_exact_and_removes_saturation() {
    // Inputs up to 40 (beyond Q4.12's 8) and a head whose outputs reach 30.
    let net = NetConfig::new(2, 5, 1, 1);
    let mut params = random_params(&net, 21, 0.5);
    params.layers[0].weight_ih.mapv_inplace(|w| w * 0.05);
    params.dense.weight.mapv_inplace(|w| w * 30.0);
    params.dense.bias.fill(12.0);
    let mut m = model(
        net.clone(),
        params.clone(),
        TaskKind::Regression { target: "y".into() },
        TrainMode::Windowed { window: 6 },
    );
    m.scaler_x = Scaler::Standard {
        mean: vec![1.0, -2.0],
        std: vec![0.5, 0.25],
    };
    m.scaler_y = Scaler::MinMax {
        min: vec![100.0],
        max: vec![300.0],
    };
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let raw: Array2<f64> = Array2::from_shape_fn((60, 2), |_| rng.gen_range(-9.0..11.0));
    let x = m.scaler_x.transform(raw.view()).mapv(|v| v as f32);
    let windows: Vec<Array2<f32>> = (0..=60 - 6)
        .map(|i| x.slice(ndarray::s![i..i + 6, ..]).to_owned())
        .collect();
    let cal: Calibration =
        quantize::calibrate(&net, &params, windows.iter().map(|w| w.view()), false).unwrap();
    assert!(cal.input_features.iter().any(|&v| v > 8.0), "{cal:?}");
    assert!(cal.outputs[0] > 8.0, "{cal:?}");

    let plain = ExportPlan::from_model(&m, NumberFormat::Q4_12).unwrap();
    let before = quantize::analyze(&plain, Some(&cal), Vec::new());
    assert!(before
        .saturating
        .iter()
        .any(|s| s.what.starts_with("input feature")));
    assert!(before.saturating.iter().any(|s| s.what == "head output 0"));

    let mut folded = plain.clone();
    let adj = quantize::fold_scales(&mut folded, Some(&cal));
    assert!(!adj.is_empty());
    let after = quantize::analyze(&folded, Some(&cal), adj);
    assert!(
        after
            .saturating
            .iter()
            .all(|s| !s.what.starts_with("input") && !s.what.starts_with("head")),
        "{after}"
    );
    assert_eq!(after.clipped_weights(), 0, "{after}");
    assert!(matches!(
        folded.header().unwrap().input_scaling,
        Scaling::Standard { .. }
    ));

    // The folded model is the same function: compare both in f32 from raw values.
    let run = |plan: &ExportPlan| -> Array2<f64> {
        let mut p = plan.clone();
        p.format = NumberFormat::F32;
        let bytes = CoreBytes::new(&p.encode().unwrap());
        let file = bytes.parse().unwrap();
        let runner = CoreRunner::new(&file, Activations::Exact).unwrap();
        let xs = model_inputs(&file.header, raw.view()).unwrap();
        let mut w = Array3::zeros((windows.len(), 6, 2));
        for i in 0..windows.len() {
            w.index_axis_mut(Axis(0), i)
                .assign(&xs.slice(ndarray::s![i..i + 6, ..]));
        }
        let (y, _) = runner.run_windows(w.view(), None).unwrap();
        let last = raw.slice(ndarray::s![5..5 + windows.len(), ..]);
        raw_outputs(&file.header, y.view(), last).unwrap()
    };
    let (a, b) = (run(&plain), run(&folded));
    for (u, v) in a.iter().zip(&b) {
        assert!((u - v).abs() <= 1e-4 * u.abs().max(1.0), "{u} vs {v}");
    }
    // And in Q4.12 the folded file is close to f32 while the plain one saturates.
    let q = |plan: &ExportPlan| -> f64 {
        let bytes = CoreBytes::new(&plan.encode().unwrap());
        let file = bytes.parse().unwrap();
        let runner = CoreRunner::new(&file, Activations::Fast).unwrap();
        let xs = model_inputs(&file.header, raw.view()).unwrap();
        let mut w = Array3::zeros((windows.len(), 6, 2));
        for i in 0..windows.len() {
            w.index_axis_mut(Axis(0), i)
                .assign(&xs.slice(ndarray::s![i..i + 6, ..]));
        }
        let (y, _) = runner.run_windows(w.view(), None).unwrap();
        let last = raw.slice(ndarray::s![5..5 + windows.len(), ..]);
        let y = raw_outputs(&file.header, y.view(), last).unwrap();
        y.iter().zip(&a).fold(0.0, |m, (p, t)| m.max((p - t).abs()))
    };
    let (err_plain, err_folded) = (q(&plain), q(&folded));
    assert!(err_folded < 1.0, "folded Q4.12 max error {err_folded}");
    assert!(
        err_plain > 10.0 * err_folded,
        "plain {err_plain} vs folded {err_folded}"
    );
}

#[test]
fn export_with_data_scores_before_and_after() {
    // A random (untrained) model on the airline data: the point is the
    // plumbing and the agreement of f32, not the error level.
    let cfg = ForecastConfig {
        window: 12,
        ..ForecastConfig::default()
    };
    let data = lstm_train::data::load_forecast(AIRLINE, &cfg).unwrap();
    let net = NetConfig::new(1, 8, 1, 1);
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
    let f = export_model(&m, &ExportOptions::new(NumberFormat::F32)).unwrap();
    let (b, a) = (f.before.unwrap(), f.after.unwrap());
    match (b, a) {
        (lstm_train::export::Metric::Regression(b), lstm_train::export::Metric::Regression(a)) => {
            assert_eq!(b.n, 29);
            assert!((a.rmse - b.rmse).abs() <= 1e-3 * b.rmse, "{b:?} vs {a:?}");
        }
        other => panic!("{other:?}"),
    }
    assert!(f.calibration.unwrap().sequences > 90);
    let q = export_model(&m, &ExportOptions::new(NumberFormat::Q16_16)).unwrap();
    assert!(q.before.unwrap().within_bar(&q.after.unwrap()));
}

// GRU: a GRU model exported to a model file (`LayerShape::Gru`, bias
// `[b_ir + b_hr, b_iz + b_hz, b_in, b_hn]`) and run by `lstm-core`'s
// `DynModel` computes what the trainer computes (f32 within 1e-5; Q4.12 and
// Q16.16 within the 16-bit bar), and its quantization report shows no cell
// state.

fn gru(input: usize, hidden: Vec<usize>, output: usize) -> NetConfig {
    NetConfig {
        hidden_sizes: hidden,
        ..NetConfig::new(input, 1, 1, output).with_cell(CellKind::Gru)
    }
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
