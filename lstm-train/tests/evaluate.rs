//! Evaluation against a hand computation on tiny data, metrics.json, the
//! printed table, and the plots (valid PNG / SVG files).

use lstm_train::artifact::{DataSource, TaskKind, TrainMode, TrainedModel};
use lstm_train::data::{
    ClassConfig, ClassDataset, ForecastConfig, ForecastData, LabelledSeries, Scaler,
};
use lstm_train::evaluate::{evaluate, predict_split, EvalOptions, Evaluation, Predictions, Split};
use lstm_train::fit::{EpochRecord, History, TaskData};
use lstm_train::net::{HeadMode, NetConfig, Params};
use lstm_train::plot::{plot_history, plot_predictions};

const SERIES: [f64; 10] = [1.0, 2.0, 4.0, 7.0, 11.0, 16.0, 22.0, 29.0, 37.0, 46.0];

fn tiny_forecast() -> (ForecastData, ForecastConfig) {
    let mut csv = String::from("time,value\n");
    for (t, v) in SERIES.iter().enumerate() {
        csv.push_str(&format!("{t},{v}\n"));
    }
    let cfg = ForecastConfig {
        window: 2,
        test_fraction: 0.2,
        val_fraction: 0.0,
        ..ForecastConfig::default()
    };
    let d = ForecastData::from_reader("tiny.csv", csv.as_bytes(), &cfg).expect("data");
    (d, cfg)
}

/// A model whose LSTM weights are all zero (so `h = 0`) and whose head bias
/// is `bias`: it predicts `bias` (scaled units) everywhere.
fn constant_model(
    outputs: usize,
    bias: &[f32],
    head: HeadMode,
    mode: TrainMode,
    task: TaskKind,
    (scaler_x, scaler_y): (Scaler, Scaler),
    data: DataSource,
) -> TrainedModel {
    let net = NetConfig {
        head,
        ..NetConfig::new(1, 3, 1, outputs)
    };
    let mut params = Params::<f32>::zeros(&net).expect("zeros");
    for (b, v) in params.dense.bias.iter_mut().zip(bias) {
        *b = *v;
    }
    TrainedModel {
        net,
        params,
        task,
        mode,
        scaler_x,
        scaler_y,
        data,
        difference: false,
        difference_lag: 1,
        season: None,
    }
}

fn forecast_model(d: &ForecastData, cfg: &ForecastConfig, mode: TrainMode) -> TrainedModel {
    let head = match mode {
        TrainMode::Windowed { .. } => HeadMode::LastStep,
        TrainMode::Stateful { .. } => HeadMode::EveryStep,
    };
    constant_model(
        1,
        &[0.5],
        head,
        mode,
        TaskKind::Regression {
            target: "value".into(),
        },
        (d.scaler_x.clone(), d.scaler_y.clone()),
        DataSource::Forecast {
            path: "tiny.csv".into(),
            config: cfg.clone(),
        },
    )
}

#[test]
fn forecast_metrics_equal_a_hand_computation() {
    let (d, cfg) = tiny_forecast();
    // 10 rows: 8 fit, 0 validation, 2 test (rows 8 and 9: 37 and 46).
    assert_eq!((d.n_fit, d.n_train, d.n), (8, 8, 10));
    // min-max on the fit rows: min 1, max 29; scaled 0.5 is 1 + 0.5 * 28 = 15.
    for mode in [
        TrainMode::Windowed { window: 2 },
        TrainMode::Stateful { chunk: 4 },
    ] {
        let model = forecast_model(&d, &cfg, mode);
        let data = TaskData::Forecast(Box::new(d.clone()));
        let Predictions::Forecast(p) = predict_split(&model, &data, Split::Test).expect("predict")
        else {
            panic!("forecast expected")
        };
        assert_eq!(p.rows, vec![8, 9]);
        assert_eq!(p.truth, vec![37.0, 46.0]);
        for v in &p.pred {
            assert!((v - 15.0).abs() < 1e-5, "{v}");
        }
        let ev = evaluate(&model, &data, &EvalOptions { season: Some(2) }).expect("evaluate");
        let Evaluation::Forecast(e) = &ev else {
            panic!("forecast expected")
        };
        // errors 22 and 31
        assert!((e.model.rmse - ((22.0f64 * 22.0 + 31.0 * 31.0) / 2.0).sqrt()).abs() < 1e-4);
        assert!((e.model.mae - 26.5).abs() < 1e-4);
        // naive: 29, 37 -> errors 8, 9
        assert_eq!(e.baselines[0].name, "naive");
        assert!((e.baselines[0].metrics.rmse - 72.5f64.sqrt()).abs() < 1e-12);
        assert!((e.baselines[0].metrics.mae - 8.5).abs() < 1e-12);
        // seasonal naive m = 2: 22, 29 -> errors 15, 17
        assert_eq!(e.baselines[1].name, "seasonal_naive_m2");
        assert!((e.baselines[1].metrics.rmse - 257.0f64.sqrt()).abs() < 1e-12);
        assert!((e.baselines[1].metrics.mae - 16.0).abs() < 1e-12);
        let table = ev.table();
        assert!(table.contains("LSTM") && table.contains("naive y[t-1]"));
        assert!(table.contains("seasonal naive y[t-2]"), "{table}");
        assert!(table.contains("26.8794"), "{table}");

        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("metrics.json");
        ev.write_json(&path).expect("metrics.json");
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
        assert_eq!(v["task"], "forecast");
        assert!((v["model"]["mae"].as_f64().expect("mae") - 26.5).abs() < 1e-4);
        assert_eq!(v["baselines"][0]["metrics"]["n"], 2);
        let back: Evaluation = serde_json::from_value(v).expect("round trip");
        assert_eq!(back, ev);
    }
}

fn tiny_classes() -> ClassDataset {
    let train = "label,v0,v1,v2\na,1,2,3\na,2,3,4\nb,5,6,7\nb,6,7,8\nb,7,8,9\n";
    let test = "label,v0,v1,v2\na,1,1,1\nb,2,2,2\nb,3,3,3\na,4,4,4\nb,5,5,5\n";
    let cfg = ClassConfig {
        val_fraction: 0.0,
        ..ClassConfig::default()
    };
    let tr = LabelledSeries::from_reader("train.csv", train.as_bytes(), &cfg).expect("train");
    let te = LabelledSeries::from_reader("test.csv", test.as_bytes(), &cfg).expect("test");
    ClassDataset::new(tr, te, &cfg).expect("dataset")
}

#[test]
fn classification_metrics_equal_a_hand_computation() {
    let c = tiny_classes();
    // always class "a" (logits 1 > 0)
    let model = constant_model(
        2,
        &[1.0, 0.0],
        HeadMode::LastStep,
        TrainMode::Windowed { window: 3 },
        TaskKind::Classification {
            classes: c.classes.clone(),
        },
        (c.scaler.clone(), Scaler::None),
        DataSource::Classify {
            train: "train.csv".into(),
            test: "test.csv".into(),
            config: ClassConfig::default(),
        },
    );
    let data = TaskData::Classify(Box::new(c));
    let ev = evaluate(&model, &data, &EvalOptions::default()).expect("evaluate");
    let Evaluation::Classify(e) = &ev else {
        panic!("classification expected")
    };
    assert_eq!(e.classes, vec!["a", "b"]);
    assert_eq!((e.correct, e.n), (2, 5));
    assert!((e.accuracy - 0.4).abs() < 1e-12);
    // majority of the training file is "b": 3 of 5 test series
    assert_eq!(e.majority_class, "b");
    assert!((e.majority_accuracy - 0.6).abs() < 1e-12);
    assert_eq!(e.confusion, vec![vec![2, 0], vec![3, 0]]);
    let table = ev.table();
    assert!(table.contains("2/5") && table.contains("3/5"), "{table}");

    let Predictions::Classify(p) = predict_split(&model, &data, Split::Test).expect("predict")
    else {
        panic!("classification expected")
    };
    let e1 = 1f64.exp();
    for probs in &p.probabilities {
        assert!((probs[0] - e1 / (e1 + 1.0)).abs() < 1e-6);
    }
}

fn check_png(path: &std::path::Path) {
    let bytes = std::fs::read(path).expect("png");
    assert!(bytes.len() > 1000, "{} bytes", bytes.len());
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
}

fn check_svg(path: &std::path::Path) {
    let text = std::fs::read_to_string(path).expect("svg");
    assert!(text.len() > 500);
    assert!(text.contains("<svg") && text.trim_end().ends_with("</svg>"));
}

#[test]
fn plots_are_written_as_valid_png_and_svg() {
    let dir = tempfile::tempdir().expect("tmp");
    let (d, cfg) = tiny_forecast();
    let model = forecast_model(&d, &cfg, TrainMode::Windowed { window: 2 });
    let data = TaskData::Forecast(Box::new(d));
    let pred = predict_split(&model, &data, Split::Test).expect("predict");
    let c = tiny_classes();
    let cmodel = constant_model(
        2,
        &[0.0, 1.0],
        HeadMode::LastStep,
        TrainMode::Windowed { window: 3 },
        TaskKind::Classification {
            classes: c.classes.clone(),
        },
        (c.scaler.clone(), Scaler::None),
        DataSource::Classify {
            train: "train.csv".into(),
            test: "test.csv".into(),
            config: ClassConfig::default(),
        },
    );
    let cpred = predict_split(&cmodel, &TaskData::Classify(Box::new(c)), Split::Test)
        .expect("predict classes");
    let mut history = History::new("val_rmse", lstm_train::net::CellKind::Lstm);
    for e in 1..=12 {
        history.epochs.push(EpochRecord {
            epoch: e,
            loss: 1.0 / e as f64,
            val_loss: Some(1.2 / e as f64 + 0.01 * e as f64),
            val_metric: Some(3.0),
            lr: 1e-3,
            seconds: 0.1,
        });
    }
    for ext in ["png", "svg"] {
        let f = dir.path().join(format!("forecast.{ext}"));
        let k = dir.path().join(format!("confusion.{ext}"));
        let h = dir.path().join(format!("loss.{ext}"));
        plot_predictions(&pred, &f, "tiny: test split").expect("forecast plot");
        plot_predictions(&cpred, &k, "tiny: confusion").expect("confusion plot");
        plot_history(&history, &h, "tiny: loss").expect("history plot");
        for p in [&f, &k, &h] {
            if ext == "png" {
                check_png(p);
            } else {
                check_svg(p);
            }
        }
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
    let err = plot_history(&history, &dir.path().join("loss.jpg"), "x").unwrap_err();
    assert!(err.to_string().contains(".png or .svg"), "{err}");
}
