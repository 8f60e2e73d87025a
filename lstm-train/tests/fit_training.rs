//! The training loop: callbacks, checkpoints and resume, reproducibility,
//! divergence handling, history, and a small end-to-end classification.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use lstm_train::artifact::{DataSource, TrainedModel};
use lstm_train::data::{ClassConfig, ForecastConfig, ForecastData};
use lstm_train::evaluate::{evaluate, EvalOptions, Evaluation};
use lstm_train::fit::{
    fit, fit_with_callback, resume, Checkpoint, EarlyStoppingConfig, FitConfig, FitError, FitMode,
    ReduceLrConfig, StopReason, TaskData,
};
use lstm_train::net::Params;

fn sine_csv(n: usize) -> String {
    let mut s = String::from("time,value\n");
    for t in 0..n {
        let v = 10.0 + 3.0 * (0.4 * t as f64).sin() + 0.02 * t as f64;
        s.push_str(&format!("{t},{v}\n"));
    }
    s
}

fn forecast_data(n: usize) -> (TaskData, DataSource) {
    let cfg = ForecastConfig {
        window: 6,
        ..ForecastConfig::default()
    };
    let d = ForecastData::from_reader("sine.csv", sine_csv(n).as_bytes(), &cfg).expect("data");
    (
        TaskData::Forecast(Box::new(d)),
        DataSource::Forecast {
            path: "sine.csv".into(),
            config: cfg,
        },
    )
}

fn small_cfg() -> FitConfig {
    FitConfig {
        hidden_sizes: vec![6],
        epochs: 6,
        batch_size: 8,
        lr: 0.01,
        quiet: true,
        early_stopping: None,
        reduce_lr: None,
        ..FitConfig::forecasting()
    }
}

fn bits(p: &Params<f32>) -> Vec<u32> {
    p.flatten().iter().map(|v| v.to_bits()).collect()
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

#[test]
fn same_seed_gives_identical_params_and_other_seed_differs() {
    let (data, src) = forecast_data(80);
    let cfg = FitConfig {
        dropout: 0.2,
        hidden_sizes: vec![5, 5],
        ..small_cfg()
    };
    let a = fit(&cfg, &data, src.clone()).expect("fit a");
    let b = fit(&cfg, &data, src.clone()).expect("fit b");
    assert_eq!(bits(&a.model.params), bits(&b.model.params));
    assert_eq!(a.history.epochs.len(), 6);
    for (x, y) in a.history.epochs.iter().zip(&b.history.epochs) {
        assert_eq!(x.loss.to_bits(), y.loss.to_bits());
    }
    let c = fit(&FitConfig { seed: 7, ..cfg }, &data, src).expect("fit c");
    assert_ne!(bits(&a.model.params), bits(&c.model.params));
}

/// Runs `cfg` uninterrupted and as 3 epochs + "kill" + resume; the final
/// parameters, optimiser state and losses must be bit-identical.
fn check_resume(cfg: FitConfig, data: &TaskData, src: &DataSource) {
    let full_dir = tmp();
    let full = fit(
        &FitConfig {
            out_dir: Some(full_dir.path().into()),
            ..cfg.clone()
        },
        data,
        src.clone(),
    )
    .expect("uninterrupted");

    let dir = tmp();
    let part_cfg = FitConfig {
        out_dir: Some(dir.path().into()),
        ..cfg.clone()
    };
    let part = fit_with_callback(&part_cfg, data, src.clone(), &mut |rec, _| {
        if rec.epoch == 3 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .expect("first part");
    assert_eq!(part.stop, StopReason::Interrupted { epoch: 3 });
    assert_eq!(part.epochs_run, 3);
    let ck = dir.path().join("checkpoint.json");
    let resumed = resume(&part_cfg, data, src.clone(), &ck).expect("resume");
    assert_eq!(resumed.epochs_run, cfg.epochs);
    assert_eq!(bits(&full.model.params), bits(&resumed.model.params));
    assert_eq!(full.history.epochs.len(), resumed.history.epochs.len());
    for (x, y) in full.history.epochs.iter().zip(&resumed.history.epochs) {
        assert_eq!(x.loss.to_bits(), y.loss.to_bits(), "epoch {}", x.epoch);
        assert_eq!(x.val_loss.map(f64::to_bits), y.val_loss.map(f64::to_bits));
        assert_eq!(x.lr.to_bits(), y.lr.to_bits());
    }
    let a = Checkpoint::load(&full_dir.path().join("checkpoint.json")).expect("ck a");
    let b = Checkpoint::load(&ck).expect("ck b");
    assert_eq!(a.adam, b.adam);
    assert_eq!(a.best, b.best);
    assert_eq!(a.reduce_lr, b.reduce_lr);
    assert_eq!(a.early_stopping, b.early_stopping);
    assert_eq!(a.model, b.model);
}

#[test]
fn resume_after_kill_equals_uninterrupted_windowed() {
    let (data, src) = forecast_data(90);
    let cfg = FitConfig {
        dropout: 0.1,
        hidden_sizes: vec![5, 4],
        clip_norm: Some(0.5),
        l2: 1e-4,
        early_stopping: Some(EarlyStoppingConfig {
            patience: 50,
            min_delta: 0.0,
            restore_best: true,
        }),
        reduce_lr: Some(ReduceLrConfig {
            factor: 0.5,
            patience: 1,
            min_lr: 1e-4,
            min_delta: 1e9,
        }),
        ..small_cfg()
    };
    check_resume(cfg, &data, &src);
}

#[test]
fn resume_after_kill_equals_uninterrupted_stateful() {
    let (data, src) = forecast_data(90);
    let cfg = FitConfig {
        mode: FitMode::Stateful {
            chunk: 7,
            streams: 2,
        },
        ..small_cfg()
    };
    check_resume(cfg, &data, &src);
}

#[test]
fn resume_refuses_other_options() {
    let (data, src) = forecast_data(60);
    let dir = tmp();
    let cfg = FitConfig {
        epochs: 2,
        out_dir: Some(dir.path().into()),
        ..small_cfg()
    };
    fit(&cfg, &data, src.clone()).expect("fit");
    let other = FitConfig { lr: 0.5, ..cfg };
    let err = resume(&other, &data, src, &dir.path().join("checkpoint.json")).unwrap_err();
    assert!(matches!(err, FitError::Checkpoint { .. }), "{err}");
}

#[test]
fn early_stopping_restores_the_best_weights_when_val_loss_rises() {
    let (data, src) = forecast_data(80);
    let dir = tmp();
    let cfg = FitConfig {
        epochs: 30,
        early_stopping: Some(EarlyStoppingConfig {
            patience: 3,
            min_delta: 0.0,
            restore_best: true,
        }),
        out_dir: Some(dir.path().into()),
        ..small_cfg()
    };
    // After epoch 4 every epoch's parameters are pushed far off, so the
    // validation loss rises from epoch 5 on.
    let mut snapshots: Vec<Params<f32>> = Vec::new();
    let out = fit_with_callback(&cfg, &data, src, &mut |rec, p| {
        snapshots.push(p.clone());
        if rec.epoch >= 4 {
            p.dense.bias.mapv_inplace(|b| b + 5.0 * rec.epoch as f32);
        }
        ControlFlow::Continue(())
    })
    .expect("fit");
    let val: Vec<f64> = out
        .history
        .epochs
        .iter()
        .map(|r| r.val_loss.expect("val"))
        .collect();
    let (best_epoch, best_val) = out.best.expect("best");
    assert!(best_epoch <= 5, "best epoch {best_epoch}, val {val:?}");
    assert_eq!(
        out.stop,
        StopReason::EarlyStopped {
            epoch: best_epoch + 3
        }
    );
    assert!(val[best_epoch..].iter().all(|&v| v > best_val));
    assert!(out.restored_best);
    assert_eq!(
        bits(&out.model.params),
        bits(&snapshots[best_epoch - 1]),
        "restored parameters are the best epoch's"
    );
    let best_file = TrainedModel::load(&dir.path().join("best.json")).expect("best.json");
    assert_eq!(bits(&best_file.params), bits(&snapshots[best_epoch - 1]));
}

#[test]
fn reduce_lr_lowers_the_rate_after_patience_epochs() {
    let (data, src) = forecast_data(60);
    let cfg = FitConfig {
        epochs: 7,
        lr: 0.01,
        reduce_lr: Some(ReduceLrConfig {
            factor: 0.5,
            patience: 2,
            min_lr: 0.002,
            // nothing counts as an improvement after the first epoch
            min_delta: 1e9,
        }),
        ..small_cfg()
    };
    let out = fit(&cfg, &data, src).expect("fit");
    let lrs: Vec<f64> = out.history.epochs.iter().map(|r| r.lr).collect();
    assert_eq!(lrs, vec![0.01, 0.01, 0.01, 0.005, 0.005, 0.0025, 0.0025]);
}

#[test]
fn diverging_run_stops_with_a_clear_error() {
    let (data, src) = forecast_data(60);
    let cfg = FitConfig {
        lr: 1e30,
        clip_norm: None,
        ..small_cfg()
    };
    let err = fit(&cfg, &data, src).unwrap_err();
    assert!(matches!(err, FitError::Diverged { epoch: 1, .. }), "{err}");
    assert!(err.to_string().contains("diverged"), "{err}");
}

#[test]
fn nan_in_epoch_three_keeps_the_best_checkpoint_loadable() {
    let (data, src) = forecast_data(60);
    let dir = tmp();
    let cfg = FitConfig {
        epochs: 10,
        out_dir: Some(dir.path().into()),
        ..small_cfg()
    };
    let mut good: Vec<Params<f32>> = Vec::new();
    let err = fit_with_callback(&cfg, &data, src, &mut |rec, p| {
        good.push(p.clone());
        if rec.epoch == 2 {
            p.layers[0].weight_hh[[0, 0]] = f32::NAN;
        }
        ControlFlow::Continue(())
    })
    .unwrap_err();
    match &err {
        FitError::Diverged {
            epoch: 3,
            best: Some(path),
            ..
        } => assert_eq!(path, &dir.path().join("best.json")),
        other => panic!("unexpected: {other}"),
    }
    assert!(err.to_string().contains("best model so far"), "{err}");
    let best = TrainedModel::load(&dir.path().join("best.json")).expect("best loads");
    assert!(best.params.flatten().iter().all(|v| v.is_finite()));
    assert!(good.iter().any(|g| bits(g) == bits(&best.params)));
    let ck = Checkpoint::load(&dir.path().join("checkpoint.json")).expect("checkpoint loads");
    assert_eq!(ck.epoch, 2);
    assert_eq!(bits(&ck.model.params), bits(&good[1]));
}

#[test]
fn history_csv_has_one_row_per_epoch() {
    let (data, src) = forecast_data(60);
    let dir = tmp();
    let cfg = FitConfig {
        epochs: 5,
        out_dir: Some(dir.path().into()),
        ..small_cfg()
    };
    let out = fit(&cfg, &data, src).expect("fit");
    let text = std::fs::read_to_string(dir.path().join("history.csv")).expect("history");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "epoch,loss,val_loss,val_metric,lr,seconds,cell");
    assert_eq!(lines.len(), 1 + 5);
    for (i, l) in lines[1..].iter().enumerate() {
        let cells: Vec<&str> = l.split(',').collect();
        assert_eq!(cells.len(), 7);
        assert_eq!(cells[0], (i + 1).to_string());
        assert_eq!(cells[6], "lstm");
        let loss: f64 = cells[1].parse().expect("loss");
        assert_eq!(loss, out.history.epochs[i].loss);
        let _: f64 = cells[2].parse().expect("val_loss");
        let _: f64 = cells[3].parse().expect("val_metric");
    }
    assert!(dir.path().join("checkpoint.json").exists());
    assert!(dir.path().join("best.json").exists());
}

fn dataset(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/datasets")
        .join(rel)
}

#[test]
fn italy_power_demand_small_end_to_end_beats_majority() {
    let source = DataSource::Classify {
        train: dataset("classification/ItalyPowerDemand/train.csv"),
        test: dataset("classification/ItalyPowerDemand/test.csv"),
        config: ClassConfig {
            val_fraction: 0.0,
            ..ClassConfig::default()
        },
    };
    let data = TaskData::load(&source).expect("data");
    let cfg = FitConfig {
        hidden_sizes: vec![8],
        epochs: 25,
        quiet: true,
        ..FitConfig::classification()
    };
    let out = fit(&cfg, &data, source).expect("fit");
    let ev = evaluate(&out.model, &data, &EvalOptions::default()).expect("evaluate");
    let Evaluation::Classify(e) = ev else {
        panic!("classification expected")
    };
    assert!(
        e.accuracy > e.majority_accuracy + 0.2,
        "accuracy {} vs majority {}",
        e.accuracy,
        e.majority_accuracy
    );
    assert_eq!(e.confusion.iter().flatten().sum::<usize>(), 1029);
}
