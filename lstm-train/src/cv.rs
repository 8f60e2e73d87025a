//! Rolling-origin (time-series) cross-validation of forecasting models over
//! a grid of cells, hidden sizes and layer counts.
//!
//! Only the training portion of the series (rows `0 .. n_train`, the fit
//! and validation splits) is used; the test split is never touched. With
//! `K` folds and a block of `b` rows, fold `k` (0-based) has the origin
//! `o_k = n_train - (K - k) · b`: it trains on rows `0 .. o_k` (scalers
//! fitted on those rows only) and is scored on the one-step-ahead forecasts
//! of the next block, rows `o_k .. o_k + b` (RMSE in original units; inputs
//! may reach back before the origin, as in the test evaluation). Every
//! candidate is trained with the same [`FitConfig`] and seed, with the
//! callbacks watching the training loss so the scored block never steers
//! training.

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::artifact::DataSource;
use crate::data::{ForecastColumns, ForecastConfig, ForecastData, Metrics};
use crate::evaluate::{predict_with, Predictions, Split};
use crate::fit::{differenced, fit, FitConfig, FitError, Monitor, Result, TaskData};
use crate::net::CellKind;

/// Options of [`cross_validate`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CvConfig {
    /// Number of folds `K` (at least 1).
    pub folds: usize,
    /// Rows per validation block `b`; `None`: the data's validation length
    /// (`n_train - n_fit`), or `n_train / (K + 2)` if that is 0.
    pub block: Option<usize>,
    /// Candidate cells (absent in older files: the LSTM alone).
    #[serde(default = "lstm_only")]
    pub cells: Vec<CellKind>,
    /// Candidate hidden sizes.
    pub hidden_sizes: Vec<usize>,
    /// Candidate numbers of layers.
    pub layers: Vec<usize>,
    /// Training options of every fold (`cell`, `hidden_sizes`, `monitor`,
    /// `quiet` and `out_dir` are overridden).
    pub fit: FitConfig,
    /// Train on differences ([`crate::fit::differenced`]) at the lag
    /// `fit.difference_lag` (1: first differences).
    pub difference: bool,
    /// Print one line per trained fold on stderr.
    pub verbose: bool,
}

impl Default for CvConfig {
    fn default() -> Self {
        CvConfig {
            folds: 3,
            block: None,
            cells: lstm_only(),
            hidden_sizes: vec![16, 32, 64],
            layers: vec![1, 2],
            fit: FitConfig::forecasting(),
            difference: false,
            verbose: false,
        }
    }
}

fn lstm_only() -> Vec<CellKind> {
    vec![CellKind::Lstm]
}

/// One fold: train rows `0 .. origin`, scored rows `origin .. end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fold {
    /// First scored row (= number of training rows).
    pub origin: usize,
    /// One past the last scored row.
    pub end: usize,
}

/// Results of one candidate architecture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CvCandidate {
    /// The cell of the layers (absent in older reports: LSTM).
    #[serde(default)]
    pub cell: CellKind,
    /// Hidden size of every layer.
    pub hidden: usize,
    /// Number of layers.
    pub layers: usize,
    /// Validation RMSE (original units) of each fold.
    pub fold_rmse: Vec<f64>,
    /// Mean of `fold_rmse`.
    pub mean: f64,
    /// Sample standard deviation of `fold_rmse` (0 for one fold).
    pub std: f64,
    /// Total training time of the candidate, seconds.
    pub seconds: f64,
}

/// What [`cross_validate`] returns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CvReport {
    /// The folds, in order.
    pub folds: Vec<Fold>,
    /// One entry per candidate (cells outer, then hidden sizes, layers
    /// inner).
    pub candidates: Vec<CvCandidate>,
    /// Index in `candidates` of the lowest mean RMSE.
    pub best: usize,
}

/// The columns of rows `0 .. end` of `d`.
fn prefix(d: &ForecastData, end: usize) -> ForecastColumns {
    ForecastColumns {
        file: d.file.clone(),
        times: d.times.slice(..end),
        lines: (0..end as u64).map(|r| r + 2).collect(),
        feature_names: d.feature_names.clone(),
        target_name: d.target_name.clone(),
        features: d.features_raw.slice(ndarray::s![..end, ..]).to_owned(),
        target: d.target_raw.slice(ndarray::s![..end]).to_owned(),
        dropped: 0,
    }
}

fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let std = if v.len() > 1 {
        (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    (mean, std)
}

/// Runs rolling-origin cross-validation on the training portion of `data`,
/// which was prepared with `data_cfg` (window and scaler kinds are reused
/// per fold; the fractions are set per fold). `source` is recorded in the
/// fold models (it is not read).
///
/// Errors: [`FitError::InvalidConfig`] (no candidates, zero folds, a first
/// origin too small for the window), and those of [`fit`].
pub fn cross_validate(
    data: &ForecastData,
    data_cfg: &ForecastConfig,
    source: &DataSource,
    cfg: &CvConfig,
) -> Result<CvReport> {
    if cfg.folds == 0
        || cfg.cells.is_empty()
        || cfg.hidden_sizes.is_empty()
        || cfg.layers.is_empty()
    {
        return Err(FitError::InvalidConfig(
            "cross-validation needs at least one fold, hidden size and layer count".into(),
        ));
    }
    if cfg.hidden_sizes.contains(&0) || cfg.layers.contains(&0) {
        return Err(FitError::InvalidConfig(
            "hidden sizes and layer counts must be > 0".into(),
        ));
    }
    let n_train = data.n_train;
    let block = match cfg.block {
        Some(b) => b,
        None if n_train > data.n_fit => n_train - data.n_fit,
        None => n_train / (cfg.folds + 2),
    };
    let need = cfg.folds * block;
    let lag = if cfg.difference {
        cfg.fit.difference_lag
    } else {
        0
    };
    let min_origin = data.window + 2 + lag;
    if block == 0 || need + min_origin > n_train {
        return Err(FitError::InvalidConfig(format!(
            "{} folds of {block} rows need more than the {n_train} training rows (window {})",
            cfg.folds, data.window
        )));
    }
    let folds: Vec<Fold> = (0..cfg.folds)
        .map(|k| {
            let origin = n_train - (cfg.folds - k) * block;
            Fold {
                origin,
                end: origin + block,
            }
        })
        .collect();
    // Prepared data of every fold: rows 0..end, fit = 0..origin, val = the block.
    let mut fold_data = Vec::with_capacity(folds.len());
    for f in &folds {
        let fc = ForecastConfig {
            test_fraction: 0.0,
            val_fraction: block as f64 / f.end as f64,
            ..data_cfg.clone()
        };
        let d = ForecastData::new(prefix(data, f.end), &fc)?;
        if d.n_fit != f.origin || d.n_train != f.end {
            return Err(FitError::InvalidConfig(format!(
                "fold split {}..{} came out as {}..{}",
                f.origin, f.end, d.n_fit, d.n_train
            )));
        }
        let train = if cfg.difference {
            TaskData::Forecast(Box::new(differenced(&d, data_cfg, lag)?))
        } else {
            TaskData::Forecast(Box::new(d.clone()))
        };
        fold_data.push((TaskData::Forecast(Box::new(d)), train));
    }
    // The models record `data_cfg` (its window) as their preparation: a
    // differenced model's predictions re-window the series from what the
    // model records, so a source with another window would score every
    // candidate with that window instead of its own.
    let source = match source {
        DataSource::Forecast { path, .. } => DataSource::Forecast {
            path: path.clone(),
            config: data_cfg.clone(),
        },
        other => other.clone(),
    };
    let mut candidates = Vec::new();
    let grid = cfg.cells.iter().flat_map(|&cell| {
        cfg.hidden_sizes
            .iter()
            .flat_map(move |&hidden| cfg.layers.iter().map(move |&layers| (cell, hidden, layers)))
    });
    for (cell, hidden, layers) in grid {
        let fit_cfg = FitConfig {
            cell,
            hidden_sizes: vec![hidden; layers],
            monitor: Monitor::TrainLoss,
            quiet: true,
            out_dir: None,
            difference: cfg.difference,
            ..cfg.fit.clone()
        };
        let started = std::time::Instant::now();
        let mut fold_rmse = Vec::with_capacity(folds.len());
        for (k, (orig, train)) in fold_data.iter().enumerate() {
            let out = fit(&fit_cfg, train, source.clone())?;
            let pred = predict_with(&out.model, orig, Split::Val, cfg.difference)?;
            let rmse = match pred {
                Predictions::Forecast(p) => Metrics::of(&p.truth, &p.pred)?.rmse,
                Predictions::Classify(_) => {
                    return Err(FitError::InvalidConfig("not a forecast".into()))
                }
            };
            if cfg.verbose {
                eprintln!(
                        "cv: {cell} hidden {hidden} x {layers} layer(s), fold {}/{} (rows {}..{}): RMSE {rmse:.4}",
                        k + 1,
                        folds.len(),
                        folds[k].origin,
                        folds[k].end
                    );
            }
            fold_rmse.push(rmse);
        }
        let (mean, std) = mean_std(&fold_rmse);
        candidates.push(CvCandidate {
            cell,
            hidden,
            layers,
            fold_rmse,
            mean,
            std,
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    let best = candidates
        .iter()
        .enumerate()
        .min_by(|a, b| a.1.mean.total_cmp(&b.1.mean))
        .map_or(0, |(i, _)| i);
    Ok(CvReport {
        folds,
        candidates,
        best,
    })
}

impl CvReport {
    /// The best candidate.
    pub fn best(&self) -> Option<&CvCandidate> {
        self.candidates.get(self.best)
    }

    /// Writes the report as pretty JSON to `path` atomically.
    ///
    /// Errors: [`FitError::Io`], [`FitError::Json`] (not expected for these
    /// types).
    pub fn write_json(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(|source| FitError::Json {
            path: path.to_path_buf(),
            source,
        })?;
        crate::io::write_atomic(path, &json)?;
        Ok(())
    }

    /// An aligned text table: one row per candidate with the per-fold RMSE,
    /// mean ± std, and the best marked.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let folds: Vec<String> = self
            .folds
            .iter()
            .map(|f| format!("{}..{}", f.origin, f.end))
            .collect();
        let _ = writeln!(
            s,
            "rolling-origin cross-validation, {} folds (validation rows {}); RMSE in original units",
            self.folds.len(),
            folds.join(", ")
        );
        let _ = write!(s, "{:>4}  {:>6}  {:>6}", "cell", "hidden", "layers");
        for k in 0..self.folds.len() {
            let _ = write!(s, "  {:>10}", format!("fold {}", k + 1));
        }
        let _ = writeln!(s, "  {:>10}  {:>10}  {:>8}", "mean", "std", "seconds");
        for (i, c) in self.candidates.iter().enumerate() {
            let _ = write!(s, "{:>4}  {:>6}  {:>6}", c.cell, c.hidden, c.layers);
            for r in &c.fold_rmse {
                let _ = write!(s, "  {r:>10.4}");
            }
            let _ = writeln!(
                s,
                "  {:>10.4}  {:>10.4}  {:>8.1}{}",
                c.mean,
                c.std,
                c.seconds,
                if i == self.best { "  <- best" } else { "" }
            );
        }
        if let Some(b) = self.best() {
            let _ = writeln!(
                s,
                "best: {} hidden {} x {} layer(s), RMSE {:.4} ± {:.4}",
                b.cell, b.hidden, b.layers, b.mean, b.std
            );
        }
        s
    }
}

/// Candidate windows of [`auto_choose`] (those that leave room for the
/// folds are tried).
pub const AUTO_WINDOWS: [usize; 3] = [6, 12, 24];
/// Folds of [`auto_choose`].
pub const AUTO_FOLDS: usize = 3;
/// Maximum epochs of each fold of [`auto_choose`] (fewer if the run's own
/// maximum is lower).
pub const AUTO_EPOCHS: usize = 40;
/// Rows of a long series [`auto_choose`] validates on: its first
/// `AUTO_MAX_ROWS` (all within the training part).
pub const AUTO_MAX_ROWS: usize = 5000;

/// One candidate preparation of [`auto_choose`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AutoScore {
    /// Differencing lag (0: none).
    pub difference: usize,
    /// Window length.
    pub window: usize,
    /// Validation RMSE (original units) of each fold.
    pub fold_rmse: Vec<f64>,
    /// Mean of `fold_rmse`.
    pub mean: f64,
}

/// The differencing and window `fit` chose by rolling-origin validation on
/// the training part, with every candidate's score (recorded in
/// `metrics.json` as `auto`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AutoChoice {
    /// The chosen differencing lag (0: none, 1: first differences, else
    /// seasonal).
    pub difference: usize,
    /// The chosen window.
    pub window: usize,
    /// Every candidate tried, in order.
    pub scores: Vec<AutoScore>,
    /// The folds (the same for every candidate).
    pub folds: Vec<Fold>,
    /// RMSE of the naive forecast `y[t-1]` on the same folds (mean), for
    /// reference.
    pub naive_mean: f64,
    /// Maximum epochs of each fold.
    pub epochs: usize,
    /// Time the choice took, seconds.
    pub seconds: f64,
}

impl AutoChoice {
    /// `differencing none|first|seasonal (lag L)`.
    pub fn difference_text(lag: usize) -> String {
        match lag {
            0 => "none".into(),
            1 => "first differences".into(),
            l => format!("seasonal differences at lag {l}"),
        }
    }

    /// One line: the choice, its mean fold RMSE, the runner-up and the
    /// naive forecast on the same folds.
    pub fn summary(&self) -> String {
        let best = self
            .scores
            .iter()
            .find(|s| s.difference == self.difference && s.window == self.window);
        let mut s = format!(
            "auto: {} and window {} chosen by rolling-origin validation on the training part ({} candidates, {} folds, {} epochs each, {:.1} s)",
            Self::difference_text(self.difference),
            self.window,
            self.scores.len(),
            self.folds.len(),
            self.epochs,
            self.seconds
        );
        if let Some(b) = best {
            let _ = write!(
                s,
                ": RMSE {:.4} vs naive {:.4} on the same folds",
                b.mean, self.naive_mean
            );
        }
        s.push_str("; fix either with --difference/--window, or --no-auto");
        s
    }
}

/// Chooses differencing (none, first, and seasonal at `season` when given)
/// and the window (from [`AUTO_WINDOWS`], those the data leave room for) by
/// rolling-origin validation ([`cross_validate`], [`AUTO_FOLDS`] folds of
/// the validation split's length or a fifth of the training part if that
/// is longer, at most [`AUTO_EPOCHS`] epochs) on the
/// training part of `data` (its first [`AUTO_MAX_ROWS`] rows if longer), which was prepared with `data_cfg` (any
/// window). `fit` gives the cell, layers, seed and optimiser. The lowest
/// mean fold RMSE wins (ties: the earlier candidate, no differencing
/// first, window 12 first).
///
/// Errors: [`FitError::InvalidConfig`] when no candidate fits the data, and
/// those of [`cross_validate`].
pub fn auto_choose(
    data: &ForecastData,
    data_cfg: &ForecastConfig,
    source: &DataSource,
    fit: &FitConfig,
    season: Option<usize>,
    verbose: bool,
) -> Result<AutoChoice> {
    let started = std::time::Instant::now();
    let mut lags = vec![0, 1];
    if let Some(m) = season.filter(|&m| m > 1) {
        lags.push(m);
    }
    let mut windows = vec![12, 6, 24];
    windows.retain(|w| AUTO_WINDOWS.contains(w));
    let epochs = fit.epochs.clamp(1, AUTO_EPOCHS);
    // A long series is judged on its first AUTO_MAX_ROWS rows (all of them
    // inside the training part), so the choice costs seconds, not hours.
    let limited = data.n > AUTO_MAX_ROWS && data.n_train >= AUTO_MAX_ROWS;
    let all = prefix(data, if limited { AUTO_MAX_ROWS } else { data.n });
    let (n_train, n_fit) = if limited {
        let d = ForecastData::new(all.clone(), data_cfg)?;
        (d.n_train, d.n_fit)
    } else {
        (data.n_train, data.n_fit)
    };
    // Blocks of at least a fifth of the training part, so the later folds
    // forecast beyond the range their scalers saw (as the test split does).
    let block = (n_train - n_fit).max(n_train / (AUTO_FOLDS + 2)).max(1);
    let mut scores = Vec::new();
    let mut folds = Vec::new();
    let mut first_err = None;
    for &lag in &lags {
        for &w in &windows {
            let dc = ForecastConfig {
                window: w,
                ..data_cfg.clone()
            };
            let d = match ForecastData::new(all.clone(), &dc) {
                Ok(d) => d,
                Err(e) => {
                    first_err.get_or_insert(FitError::from(e));
                    continue;
                }
            };
            let cfg = CvConfig {
                folds: AUTO_FOLDS,
                block: Some(block),
                cells: vec![fit.cell],
                hidden_sizes: vec![fit.hidden_sizes.first().copied().unwrap_or(32)],
                layers: vec![fit.hidden_sizes.len().max(1)],
                fit: FitConfig {
                    epochs,
                    difference_lag: lag.max(1),
                    ..fit.clone()
                },
                difference: lag > 0,
                verbose: false,
            };
            match cross_validate(&d, &dc, source, &cfg) {
                Ok(r) => {
                    let c = &r.candidates[0];
                    if verbose {
                        eprintln!(
                            "auto: differencing {}, window {w}: fold RMSE {:?}, mean {:.4}",
                            AutoChoice::difference_text(lag),
                            c.fold_rmse
                                .iter()
                                .map(|v| (v * 1e4).round() / 1e4)
                                .collect::<Vec<_>>(),
                            c.mean
                        );
                    }
                    folds.clone_from(&r.folds);
                    scores.push(AutoScore {
                        difference: lag,
                        window: w,
                        fold_rmse: c.fold_rmse.clone(),
                        mean: c.mean,
                    });
                }
                Err(FitError::InvalidConfig(m)) => {
                    first_err.get_or_insert(FitError::InvalidConfig(m));
                }
                Err(e) => return Err(e),
            }
        }
    }
    let Some(best) = scores.iter().min_by(|a, b| a.mean.total_cmp(&b.mean)) else {
        return Err(first_err.unwrap_or_else(|| {
            FitError::InvalidConfig("no automatic candidate fits the data".into())
        }));
    };
    let y = &data.target_raw;
    let naive: Vec<f64> = folds
        .iter()
        .map(|f| {
            let n = (f.end - f.origin) as f64;
            ((f.origin..f.end)
                .map(|t| (y[t] - y[t - 1]).powi(2))
                .sum::<f64>()
                / n)
                .sqrt()
        })
        .collect();
    Ok(AutoChoice {
        difference: best.difference,
        window: best.window,
        naive_mean: if naive.is_empty() {
            f64::NAN
        } else {
            mean_std(&naive).0
        },
        scores,
        folds,
        epochs,
        seconds: started.elapsed().as_secs_f64(),
    })
}
