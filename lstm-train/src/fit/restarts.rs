//! Restarts: train the same configuration from several seeds (`seed`,
//! `seed + 1`, …) and keep the model with the lowest monitored value (the
//! best epoch's validation loss, or its training loss when there is no
//! validation split). Seed variance of small recurrent models is large;
//! a few restarts are cheap insurance when the training set is small.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{fit, FitConfig, FitError, FitMode, FitOutcome, Result, RunFiles, TaskData};
use crate::artifact::DataSource;

/// The default number of restarts when the training set is small: see
/// [`default_restarts`].
pub const SMALL_RESTARTS: usize = 3;

/// Training work (time steps per epoch × epochs) up to which
/// [`default_restarts`] gives [`SMALL_RESTARTS`].
pub const SMALL_WORK: usize = 1_000_000;

/// The score of one restart, as recorded in `metrics.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RestartScore {
    /// The seed of the restart.
    pub seed: u64,
    /// The best epoch by the monitored value (`None`: the restart failed).
    pub best_epoch: Option<usize>,
    /// The monitored value at that epoch (validation loss, or training loss
    /// without a validation split), scaled units.
    pub best: Option<f64>,
    /// Validation loss at the best epoch (`None` without a validation
    /// split).
    pub val_loss: Option<f64>,
    /// Training loss at the best epoch.
    pub loss: Option<f64>,
    /// Epochs run.
    pub epochs: usize,
    /// This restart's model is the one kept.
    pub kept: bool,
    /// Why the restart failed (e.g. it diverged); failed restarts are never
    /// kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Time steps the network processes per epoch on `data` with `cfg`
/// (windows × window length for windowed forecasting, the fit rows for
/// stateful training, series × longest length for classification).
pub fn steps_per_epoch(cfg: &FitConfig, data: &TaskData) -> usize {
    match (cfg.mode, data) {
        (FitMode::Stateful { .. }, TaskData::Forecast(d)) => d.n_fit,
        (_, TaskData::Forecast(d)) => d.train.len() * d.window,
        (_, TaskData::Classify(c)) => c.train.len() * c.train.max_len(),
    }
}

/// The default number of restarts: [`SMALL_RESTARTS`] when
/// [`steps_per_epoch`] × `cfg.epochs` ≤ [`SMALL_WORK`], else 1.
pub fn default_restarts(cfg: &FitConfig, data: &TaskData) -> usize {
    if steps_per_epoch(cfg, data).saturating_mul(cfg.epochs) <= SMALL_WORK {
        SMALL_RESTARTS
    } else {
        1
    }
}

/// Folder (inside the run folder) where restarts train before the kept
/// one's files are moved up.
pub const RESTARTS_DIR: &str = ".restarts";

/// Trains `n` restarts of `cfg` (seeds `cfg.seed`, `cfg.seed + 1`, …) and
/// returns the kept outcome and every restart's score. `n == 1` is exactly
/// [`fit`]. With `cfg.out_dir` set and `n > 1`, restart `k` trains in
/// `<out_dir>/.restarts/seed-<s>`; the kept restart's `checkpoint.json`,
/// `best.json` and `history.csv` are then moved into `out_dir` (so the run
/// can be resumed as a single run of the kept seed) and `.restarts` is
/// removed. `on_restart` is called after each restart with its score.
///
/// Errors: the first restart's error when every restart fails;
/// [`FitError::InvalidConfig`] for `n == 0`; [`FitError::Io`] moving files.
pub fn fit_restarts(
    cfg: &FitConfig,
    data: &TaskData,
    source: DataSource,
    n: usize,
    on_restart: &mut dyn FnMut(usize, &RestartScore),
) -> Result<(FitOutcome, Vec<RestartScore>)> {
    if n == 0 {
        return Err(FitError::InvalidConfig(
            "the number of restarts must be at least 1".into(),
        ));
    }
    if n == 1 {
        let out = fit(cfg, data, source)?;
        let mut s = score(cfg.seed, &out);
        s.kept = true;
        on_restart(0, &s);
        return Ok((out, vec![s]));
    }
    let root = cfg.out_dir.clone();
    if let Some(r) = &root {
        remove_dir(&r.join(RESTARTS_DIR))?;
    }
    let mut scores = Vec::with_capacity(n);
    let mut kept: Option<(usize, FitOutcome)> = None;
    let mut first_err = None;
    for k in 0..n {
        let seed = cfg.seed.wrapping_add(k as u64);
        let c = FitConfig {
            seed,
            out_dir: root
                .as_ref()
                .map(|r| r.join(RESTARTS_DIR).join(format!("seed-{seed}"))),
            ..cfg.clone()
        };
        let s = match fit(&c, data, source.clone()) {
            Ok(out) => {
                let s = score(seed, &out);
                let better = match (&kept, s.best) {
                    (_, None) => false,
                    (None, Some(_)) => true,
                    (Some((i, _)), Some(v)) => scores_best(&scores, *i).is_none_or(|b| v < b),
                };
                if better {
                    kept = Some((k, out));
                }
                s
            }
            Err(e) => {
                let s = RestartScore {
                    seed,
                    best_epoch: None,
                    best: None,
                    val_loss: None,
                    loss: None,
                    epochs: 0,
                    kept: false,
                    error: Some(e.to_string()),
                };
                first_err.get_or_insert(e);
                s
            }
        };
        on_restart(k, &s);
        scores.push(s);
    }
    let Some((k, mut out)) = kept else {
        return Err(first_err
            .unwrap_or_else(|| FitError::InvalidConfig("no restart produced a model".into())));
    };
    scores[k].kept = true;
    if let Some(r) = &root {
        let from = RunFiles::in_dir(
            &r.join(RESTARTS_DIR)
                .join(format!("seed-{}", scores[k].seed)),
        );
        let to = RunFiles::in_dir(r);
        for (a, b) in [
            (&from.checkpoint, &to.checkpoint),
            (&from.best, &to.best),
            (&from.history, &to.history),
        ] {
            if a.exists() {
                std::fs::rename(a, b).map_err(|e| io_err(b, e))?;
            }
        }
        remove_dir(&r.join(RESTARTS_DIR))?;
        out.files = Some(to);
    }
    Ok((out, scores))
}

fn scores_best(scores: &[RestartScore], i: usize) -> Option<f64> {
    scores.get(i).and_then(|s| s.best)
}

/// The score of one finished run of `seed` (not marked kept).
pub fn score(seed: u64, out: &FitOutcome) -> RestartScore {
    let rec = out
        .best
        .and_then(|(e, _)| out.history.epochs.iter().find(|r| r.epoch == e));
    RestartScore {
        seed,
        best_epoch: out.best.map(|b| b.0),
        best: out.best.map(|b| b.1),
        val_loss: rec.and_then(|r| r.val_loss),
        loss: rec.map(|r| r.loss),
        epochs: out.epochs_run,
        kept: false,
        error: None,
    }
}

fn io_err(path: &Path, source: std::io::Error) -> FitError {
    FitError::Io(crate::io::IoError::new(
        "moving the kept restart's files to",
        path,
        source,
    ))
}

fn remove_dir(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(dir, e)),
    }
}
