//! Training on the five shared real datasets to the stated targets, with
//! each recurrent cell (LSTM and GRU), then exporting each model in Q4.12
//! and scoring the file with `lstm-core`: the 16-bit model must stay within
//! 1 % RMSE / 0.5 accuracy points of the trainer's `f32` (the quantization
//! bar). These take seconds in release mode and much longer in debug, so
//! they are `#[ignore]`d and CI runs them:
//!
//! ```text
//! cargo test -p lstm-train --release --test fit_datasets -- --ignored --nocapture --test-threads 1
//! ```
//!
//! Each test trains its dataset once per cell, same splits, and checks
//! every cell's target and bar (and, for classification, that the model at
//! least matches 1-NN Euclidean on the same split, as the evaluation
//! computes it) before failing with all the misses. Every
//! run prints a line `result <dataset> <cell> seed <s>: f32 … | q4.12 …`.
//! Each model is also exported with 8-bit weights (`q4.12-w8`), held to 5 %
//! RMSE / 5 accuracy points of `f32`, and a line `w8 <dataset> <cell> seed
//! <s>: …` says whether it is within the 16-bit bar and by how much.
//!
//! Hyper-parameters may be overridden for experiments with environment
//! variables (`FIT_H`, `FIT_LAYERS`, `FIT_LR`, `FIT_EPOCHS`, `FIT_BATCH`,
//! `FIT_W`, `FIT_SEED`, `FIT_PATIENCE`, `FIT_CHUNK`, `FIT_STREAMS`,
//! `FIT_DROPOUT`, `FIT_L2`, `FIT_VAL`, `FIT_SCALE`, `FIT_DIFF`, `FIT_POOL`); `FIT_CELL`
//! (`lstm` or `gru`) trains only that cell, and `FIT_OUT` is where the
//! outputs go (`$FIT_OUT/<dataset>/<cell>`).

use std::path::PathBuf;
use std::time::Instant;

use lstm_core::NumberFormat;
use lstm_train::artifact::DataSource;
use lstm_train::data::{ClassConfig, ForecastConfig, ScalerKind};
use lstm_train::evaluate::{
    evaluate, evaluate_differenced, predict_split, predict_with, EvalOptions, Evaluation,
    Predictions, Split,
};
use lstm_train::export::{export_model, ExportOptions, Metric};
use lstm_train::fit::{differenced, fit, FitConfig, FitMode, FitOutcome, TaskData};
use lstm_train::net::CellKind;
use lstm_train::plot::{plot_history, plot_predictions};

fn dataset(rel: &str) -> PathBuf {
    PathBuf::from(format!(
        "{}/../../shared/datasets/{rel}",
        env!("CARGO_MANIFEST_DIR")
    ))
}

/// Where a run writes metrics.json, model.json and plots:
/// `$FIT_OUT/<name>/<cell>`, `$FIT_OUT` defaulting to a folder in the
/// system temporary folder.
fn out_dir(name: &str, cell: CellKind) -> PathBuf {
    let base = std::env::var_os("FIT_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("lstm-fit-datasets"));
    base.join(name).join(cell.name())
}

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The cells the tests train: both, LSTM first, or the one `FIT_CELL`
/// names.
fn cells() -> Vec<CellKind> {
    match std::env::var("FIT_CELL") {
        Ok(s) if !s.trim().is_empty() => {
            vec![s.parse().unwrap_or_else(|e| panic!("FIT_CELL: {e}"))]
        }
        _ => CellKind::ALL.to_vec(),
    }
}

fn apply_env(mut cfg: FitConfig) -> FitConfig {
    let h = env("FIT_H", cfg.hidden_sizes[0]);
    let layers = env("FIT_LAYERS", cfg.hidden_sizes.len());
    cfg.hidden_sizes = vec![h; layers];
    cfg.lr = env("FIT_LR", cfg.lr);
    cfg.epochs = env("FIT_EPOCHS", cfg.epochs);
    cfg.batch_size = env("FIT_BATCH", cfg.batch_size);
    cfg.seed = env("FIT_SEED", cfg.seed);
    cfg.dropout = env("FIT_DROPOUT", cfg.dropout);
    cfg.l2 = env("FIT_L2", cfg.l2);
    if let Some(es) = &mut cfg.early_stopping {
        es.patience = env("FIT_PATIENCE", es.patience);
    }
    let chunk: usize = env("FIT_CHUNK", 0);
    if chunk > 0 {
        cfg.mode = FitMode::Stateful {
            chunk,
            streams: env("FIT_STREAMS", 1),
        };
    }
    cfg.quiet = env("FIT_QUIET", 1u8) == 1;
    cfg
}

fn scale(default: ScalerKind) -> ScalerKind {
    match std::env::var("FIT_SCALE").ok().as_deref() {
        Some(s) => s.parse().unwrap_or(default),
        None => default,
    }
}

/// What a dataset's model must reach on the test split.
#[derive(Clone, Copy, Debug)]
enum Goal {
    /// RMSE below the evaluation's last baseline (the seasonal naive one
    /// when a season is given).
    BeatBaseline,
    /// RMSE below this.
    RmseBelow(f64),
    /// Accuracy at least this.
    AccuracyAtLeast(f64),
}

/// One cell's trained model on one dataset.
struct Run {
    cell: CellKind,
    /// Test RMSE or accuracy of the trainer's `f32` model.
    metric: f64,
    /// Forecasting: RMSE of the last baseline (NaN for classification).
    baseline: f64,
    /// Classification: test accuracy of 1-NN Euclidean on the same split,
    /// computed by the evaluation (NaN for forecasting): every classifier
    /// must at least match it.
    nn_euclidean: f64,
    /// Test metric of the trainer's `f32` forward, from the export.
    before: Metric,
    /// Test metric of the Q4.12 file run by `lstm-core`.
    after: Metric,
    /// Test metric of the file with 8-bit weights (`q4.12-w8`) run by `lstm-core`.
    after_w8: Metric,
}

impl Run {
    /// The run's misses of `goal` and of the 16-bit bar.
    fn misses(&self, name: &str, goal: Goal) -> Vec<String> {
        let (cell, m) = (self.cell, self.metric);
        let met = match goal {
            Goal::BeatBaseline => m < self.baseline,
            Goal::RmseBelow(b) => m < b,
            Goal::AccuracyAtLeast(a) => m >= a,
        };
        let mut misses = Vec::new();
        if !met {
            let baseline = match goal {
                Goal::BeatBaseline => format!(" (baseline RMSE {})", self.baseline),
                _ => String::new(),
            };
            misses.push(format!(
                "{name} {cell}: test metric {m} misses {goal:?}{baseline}"
            ));
        }
        if m < self.nn_euclidean {
            misses.push(format!(
                "{name} {cell}: test accuracy {m} is below 1-NN Euclidean's {}",
                self.nn_euclidean
            ));
        }
        if !self.before.within_bar(&self.after) {
            misses.push(format!(
                "{name} {cell}: Q4.12 {} is outside the 16-bit bar of f32 {}",
                self.after, self.before
            ));
        }
        if !within_w8_bound(&self.before, &self.after_w8) {
            misses.push(format!(
                "{name} {cell}: q4.12-w8 {} is beyond 5% RMSE / 5 accuracy points of f32 {}",
                self.after_w8, self.before
            ));
        }
        misses
    }
}

/// `lstm` or `gru`, as the cell is.
fn per_cell<T>(cell: CellKind, lstm: T, gru: T) -> T {
    match cell {
        CellKind::Lstm => lstm,
        CellKind::Gru => gru,
    }
}

/// Runs `run` for every cell of [`cells`], checks each run against
/// `goal(cell)` and the 16-bit bar, and fails with every miss.
fn each_cell(name: &str, goal: impl Fn(CellKind) -> Goal, run: impl Fn(CellKind) -> Run) {
    let misses: Vec<String> = cells()
        .into_iter()
        .flat_map(|cell| run(cell).misses(name, goal(cell)))
        .collect();
    assert!(misses.is_empty(), "{}", misses.join("\n"));
}

/// Forecasting set-up of one dataset.
struct ForecastCase {
    name: &'static str,
    rel: &'static str,
    window: usize,
    season: usize,
    /// Differencing lag (`None`: not differenced).
    difference: Option<usize>,
    val_fraction: f64,
}

fn save_outputs(name: &str, out: &FitOutcome, ev: &Evaluation, pred: &Predictions) {
    let cell = out.model.net.cell;
    let dir = out_dir(name, cell);
    ev.write_json(&dir.join("metrics.json"))
        .expect("metrics.json");
    out.model.save(&dir.join("model.json")).expect("model.json");
    let title = format!("{name} ({cell}): test split");
    plot_predictions(pred, &dir.join("test.png"), &title).expect("png");
    plot_predictions(pred, &dir.join("test.svg"), &title).expect("svg");
    plot_history(
        &out.history,
        &dir.join("loss.png"),
        &format!("{name} ({cell}): loss"),
    )
    .expect("loss");
    println!("outputs in {}", dir.display());
}

/// Exports `out`'s model in Q4.12 and with 8-bit weights (`q4.12-w8`)
/// and scores the files, run by `lstm-core`: the test metric of the
/// trainer's `f32` forward and of each file.
fn quantized(name: &str, out: &FitOutcome) -> (Metric, Metric, Metric) {
    let export = |format| {
        let opts = ExportOptions {
            format,
            rescale: true,
            use_data: true,
            activations: None,
        };
        let report = export_model(&out.model, &opts).expect("export");
        let (before, after) = (report.before.expect("f32"), report.after.expect("file"));
        println!(
            "{name} {} {format}: before {before}, after {after} ({})\n{}",
            out.model.net.cell,
            before.change(&after),
            report.quant
        );
        (before, after)
    };
    let (before, after) = export(NumberFormat::Q4_12);
    let (_, after_w8) = export(NumberFormat::Q4_12W8);
    (before, after, after_w8)
}

/// The bound 8-bit weights are held to here: RMSE at most 5% above the
/// trainer's, or accuracy at most 5 points below (the 16-bit bar is 1% /
/// 0.5 points; the report says by how much each run misses that).
fn within_w8_bound(before: &Metric, after: &Metric) -> bool {
    match (before, after) {
        (Metric::Regression(b), Metric::Regression(a)) => a.rmse <= b.rmse * 1.05,
        (
            Metric::Classification { accuracy: b, .. },
            Metric::Classification { accuracy: a, .. },
        ) => *a >= *b - 0.05,
        _ => false,
    }
}

/// Prints the summary line of a run and the details of its fit.
fn report(name: &str, cfg: &FitConfig, out: &FitOutcome, secs: f64, ev: &Evaluation, run: &Run) {
    println!(
        "{name}: {} epochs ({:?}), best {:?}, {secs:.1} s, cfg {:?}\n{}",
        out.epochs_run,
        out.stop,
        out.best,
        (
            cfg.cell,
            &cfg.hidden_sizes,
            cfg.lr,
            cfg.batch_size,
            cfg.mode
        ),
        ev.table()
    );
    println!(
        "result {name} {} seed {}: f32 {} | q4.12 {} ({:.1} s)",
        run.cell, cfg.seed, run.before, run.after, secs
    );
    let bar = if run.before.within_bar(&run.after_w8) {
        "within the 16-bit bar"
    } else {
        "MISSES the 16-bit bar"
    };
    println!(
        "w8 {name} {} seed {}: f32 {} | q4.12 {} ({}) | q4.12-w8 {} ({}, {bar})",
        run.cell,
        cfg.seed,
        run.before,
        run.after,
        run.before.change(&run.after),
        run.after_w8,
        run.before.change(&run.after_w8)
    );
}

fn run_forecast(case: &ForecastCase, cfg: FitConfig) -> Run {
    let (name, season) = (case.name, case.season);
    // FIT_DIFF: the differencing lag (0: none).
    let lag = env("FIT_DIFF", case.difference.unwrap_or(0));
    let difference = lag > 0;
    let config = ForecastConfig {
        window: env("FIT_W", case.window),
        val_fraction: env("FIT_VAL", case.val_fraction),
        scale_x: scale(ScalerKind::MinMax),
        scale_y: scale(ScalerKind::MinMax),
        ..ForecastConfig::default()
    };
    let source = DataSource::Forecast {
        path: dataset(case.rel),
        config: config.clone(),
    };
    let data = TaskData::load(&source).expect("data");
    let train_data = match (&data, difference) {
        (TaskData::Forecast(d), true) => {
            TaskData::Forecast(Box::new(differenced(d, &config, lag).expect("differenced")))
        }
        _ => data.clone(),
    };
    let cfg = apply_env(FitConfig {
        difference,
        difference_lag: lag.max(1),
        ..cfg
    });
    let t0 = Instant::now();
    let out = fit(&cfg, &train_data, source).expect("fit");
    let secs = t0.elapsed().as_secs_f64();
    let (before, after, after_w8) = quantized(name, &out);
    let opts = EvalOptions {
        season: Some(season),
    };
    let ev = if difference {
        evaluate_differenced(&out.model, &data, &opts)
    } else {
        evaluate(&out.model, &data, &opts)
    }
    .expect("evaluate");
    let pred = predict_with(&out.model, &data, Split::Test, difference).expect("predict");
    save_outputs(name, &out, &ev, &pred);
    let Evaluation::Forecast(e) = &ev else {
        unreachable!()
    };
    let run = Run {
        cell: cfg.cell,
        metric: e.model.rmse,
        baseline: e.baselines.last().map_or(f64::NAN, |b| b.metrics.rmse),
        nn_euclidean: f64::NAN,
        before,
        after,
        after_w8,
    };
    report(name, &cfg, &out, secs, &ev, &run);
    run
}

/// `pool`: input pooling (`fit --pool`, 1: none).
fn run_classify(name: &str, val_fraction: f64, pool: usize, cfg: FitConfig) -> Run {
    let source = DataSource::Classify {
        train: dataset(&format!("classification/{name}/train.csv")),
        test: dataset(&format!("classification/{name}/test.csv")),
        config: ClassConfig {
            val_fraction: env("FIT_VAL", val_fraction),
            pool: env("FIT_POOL", pool),
            ..ClassConfig::default()
        },
    };
    let data = TaskData::load(&source).expect("data");
    let cfg = apply_env(cfg);
    let t0 = Instant::now();
    let out = fit(&cfg, &data, source).expect("fit");
    let secs = t0.elapsed().as_secs_f64();
    let (before, after, after_w8) = quantized(name, &out);
    let ev = evaluate(&out.model, &data, &EvalOptions::default()).expect("evaluate");
    let pred = predict_split(&out.model, &data, Split::Test).expect("predict");
    save_outputs(name, &out, &ev, &pred);
    let Evaluation::Classify(e) = &ev else {
        unreachable!()
    };
    let run = Run {
        cell: cfg.cell,
        metric: e.accuracy,
        baseline: f64::NAN,
        nn_euclidean: e.nn_euclidean.expect("1-NN Euclidean is computed"),
        before,
        after,
        after_w8,
    };
    report(name, &cfg, &out, secs, &ev, &run);
    run
}

// The configurations below are the ones reported; see the module docs.
// Both cells are trained with the same hyper-parameters (those chosen for
// the LSTM). The LSTM's targets are the original ones; the GRU's are round
// levels that all of seeds 42, 1, 2, 3 and 4 meet (README, "The shared
// datasets"), each above the dataset's naive / majority / 1-NN Euclidean
// baseline.

#[test]
#[ignore = "release-mode training on real data"]
fn airline_beats_seasonal_naive() {
    // A trend and a season that grows with it: trained on seasonal
    // differences x[t] - x[t-12] (SARIMA's seasonal differencing), 16 units
    // (what `lstm-train cv --difference 12 --hidden 16,32` prefers); no
    // validation split (the last 12 training months are the highest and most
    // informative to fit on), so the callbacks watch the training loss.
    let case = ForecastCase {
        name: "airline",
        rel: "forecasting/airline/data.csv",
        window: 12,
        season: 12,
        difference: Some(12),
        val_fraction: 0.0,
    };
    let config = |cell| FitConfig {
        cell,
        hidden_sizes: vec![16],
        lr: 0.002,
        epochs: 600,
        ..FitConfig::forecasting()
    };
    each_cell(
        case.name,
        // GRU, worst of five seeds: 16.97 (seasonal naive 46.08).
        |cell| per_cell(cell, Goal::BeatBaseline, Goal::RmseBelow(17.5)),
        |cell| run_forecast(&case, config(cell)),
    );
}

#[test]
#[ignore = "release-mode training on real data"]
fn sunspots_beats_naive() {
    let case = ForecastCase {
        name: "sunspots",
        rel: "forecasting/sunspots/data.csv",
        window: 12,
        season: 11,
        difference: None,
        val_fraction: 0.1,
    };
    let config = |cell| FitConfig {
        cell,
        ..FitConfig::forecasting()
    };
    each_cell(
        case.name,
        // LSTM: the naive forecast's RMSE on the test split; GRU, worst of
        // five seeds: 17.95 (ARIMA(9,0,0) 19.48).
        |cell| per_cell(cell, Goal::RmseBelow(33.276), Goal::RmseBelow(18.5)),
        |cell| run_forecast(&case, config(cell)),
    );
}

#[test]
#[ignore = "release-mode training on real data"]
fn italy_power_demand() {
    // 67 training series: no validation split, 200 epochs, 64 units.
    let config = |cell| FitConfig {
        cell,
        hidden_sizes: vec![64],
        epochs: 200,
        ..FitConfig::classification()
    };
    each_cell(
        "ItalyPowerDemand",
        // Worst of five seeds: LSTM 0.9611, GRU 0.9689 (1-NN 0.9553).
        |cell| Goal::AccuracyAtLeast(per_cell(cell, 0.96, 0.965)),
        |cell| run_classify("ItalyPowerDemand", 0.0, 1, config(cell)),
    );
}

#[test]
#[ignore = "release-mode training on real data"]
fn gunpoint() {
    // 150 steps pooled by 2 (`--pool 2`: 75 steps of the mean of two
    // samples), two stacked layers, a lower rate, a little L2, 50 training
    // series and no validation split.
    let config = |cell| FitConfig {
        cell,
        hidden_sizes: vec![32, 32],
        lr: 0.002,
        epochs: 400,
        l2: 1e-4,
        early_stopping: None,
        ..FitConfig::classification()
    };
    each_cell(
        "GunPoint",
        // LSTM: 0.97 at seed 42 (0.98; five seeds: median 0.9733, worst
        // 0.9667, so other seeds are held to 0.96); GRU, worst of five
        // seeds: 0.9333 (1-NN 0.9133).
        |cell| {
            let lstm = if env("FIT_SEED", 42u64) == 42 {
                0.97
            } else {
                0.96
            };
            Goal::AccuracyAtLeast(per_cell(cell, lstm, 0.93))
        },
        |cell| run_classify("GunPoint", 0.0, 2, config(cell)),
    );
}

#[test]
#[ignore = "release-mode training on real data"]
fn basic_motions() {
    // 40 training series: no validation split, 64 units, a lower rate.
    let config = |cell| FitConfig {
        cell,
        hidden_sizes: vec![64],
        lr: 0.002,
        epochs: 200,
        early_stopping: None,
        ..FitConfig::classification()
    };
    each_cell(
        "BasicMotions",
        // GRU, worst of five seeds: 0.875 (1-NN Euclidean 0.60, DTW 0.975).
        |cell| Goal::AccuracyAtLeast(per_cell(cell, 0.9, 0.875)),
        |cell| run_classify("BasicMotions", 0.0, 1, config(cell)),
    );
}
