//! One epoch of training and one validation pass, per task and mode.

use ndarray::{s, Array3, Axis};

use crate::data::Windows;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::data::{ForecastData, Metrics, StatefulData};
use crate::net::{
    argmax, Batch, Grads, Mode, NetConfig, Network, Params, Regularization, State, Target,
};
use crate::optim::{clip_grad_norm, grad_norm, Adam};

use super::config::{FitConfig, FitMode};
use super::progress::Progress;
use super::{FitError, TaskData};

/// Numbers of one validation pass.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ValResult {
    /// Data loss on the validation split (scaled units / cross-entropy).
    pub loss: f64,
    /// RMSE in original units or accuracy.
    pub metric: f64,
}

/// The training loop's working set: network, gradient buffer, penalty.
pub(crate) struct Engine<'a> {
    cfg: &'a FitConfig,
    data: &'a TaskData,
    net: Network<f32>,
    grads: Grads<f32>,
    reg: Regularization<f32>,
    stateful: Option<StatefulData>,
    /// Reused `[batch_size, W, F]` buffer the training windows are gathered into.
    xbuf: Array3<f32>,
    /// Reused `[batch_size, 1]` buffer of the batch's targets.
    ybuf: ndarray::Array2<f32>,
}

/// Windows per forward pass when validating: bounds the network's
/// workspace (which grows with the batch) whatever the split's size.
pub(crate) const EVAL_CHUNK: usize = 512;

fn diverged(epoch: usize, loss: f64, reason: String) -> FitError {
    FitError::Diverged {
        epoch,
        loss,
        reason,
        best: None,
    }
}

impl<'a> Engine<'a> {
    /// A working set for `net` (already validated).
    pub fn new(
        cfg: &'a FitConfig,
        data: &'a TaskData,
        net: &NetConfig,
        params: &Params<f32>,
    ) -> Result<Self, FitError> {
        let stateful = match (&cfg.mode, data) {
            (FitMode::Stateful { .. }, TaskData::Forecast(d)) => Some(d.stateful()),
            _ => None,
        };
        Ok(Engine {
            cfg,
            data,
            net: Network::new(net.clone())?,
            grads: params.zeros_like(),
            reg: Regularization {
                l1: cfg.l1 as f32,
                l2: cfg.l2 as f32,
            },
            stateful,
            xbuf: Array3::zeros((0, 0, 0)),
            ybuf: ndarray::Array2::zeros((0, 0)),
        })
    }

    /// Number of mini-batches per epoch.
    pub fn batches_per_epoch(&self) -> usize {
        match (&self.cfg.mode, self.stateful.as_ref()) {
            (FitMode::Stateful { chunk, streams }, Some(st)) => {
                let t = st.train.x.nrows();
                let s = (*streams).min(t).max(1);
                (t / s).div_ceil(*chunk)
            }
            _ => {
                let n = match self.data {
                    TaskData::Forecast(d) => d.train.len(),
                    TaskData::Classify(c) => c.train.len(),
                };
                n.div_ceil(self.cfg.batch_size)
            }
        }
    }

    /// One optimisation step on the batch already described by the closure
    /// arguments; returns the batch's total loss.
    #[allow(clippy::too_many_arguments)]
    fn step(
        net: &mut Network<f32>,
        grads: &mut Grads<f32>,
        reg: &Regularization<f32>,
        cfg: &FitConfig,
        params: &mut Params<f32>,
        adam: &mut Adam<f32>,
        batch: &Batch<'_, f32>,
        target: &Target<'_, f32>,
        rng: &mut ChaCha8Rng,
        epoch: usize,
        first_loss: Option<f64>,
    ) -> Result<f64, FitError> {
        let lv = net.loss_and_grad(params, batch, Mode::Train(rng), target, reg, grads)?;
        let loss = f64::from(lv.total);
        if !loss.is_finite() {
            return Err(diverged(
                epoch,
                loss,
                "the training loss is not finite".into(),
            ));
        }
        if let Some(first) = first_loss {
            if loss > cfg.explode_factor * first {
                return Err(diverged(
                    epoch,
                    loss,
                    format!(
                        "a mini-batch loss exceeds {:e} x the first epoch's loss {first:.6e}",
                        cfg.explode_factor
                    ),
                ));
            }
        }
        let norm = match cfg.clip_norm {
            Some(c) => clip_grad_norm(grads, c as f32),
            None => grad_norm(grads),
        };
        if !norm.is_finite() {
            return Err(diverged(
                epoch,
                loss,
                "the gradient norm is not finite".into(),
            ));
        }
        adam.step(params, grads)?;
        Ok(loss)
    }

    /// Runs one epoch; returns the sample-weighted mean training loss.
    pub fn train_epoch(
        &mut self,
        params: &mut Params<f32>,
        adam: &mut Adam<f32>,
        rng: &mut ChaCha8Rng,
        epoch: usize,
        first_loss: Option<f64>,
        progress: &mut Progress,
    ) -> Result<f64, FitError> {
        let cfg = self.cfg;
        let mut sum = 0.0;
        let mut count = 0usize;
        if let (FitMode::Stateful { chunk, streams }, Some(st)) = (cfg.mode, self.stateful.as_ref())
        {
            let seq = &st.train;
            let t = seq.x.nrows();
            let f = seq.x.ncols();
            let s = streams.min(t).max(1);
            let l = t / s;
            // Drop the remainder at the start so the streams end where the
            // validation split begins.
            let off = t - s * l;
            let mut state: Option<State<f32>> = None;
            let mut c0 = 0;
            while c0 < l {
                let len = chunk.min(l - c0);
                let xb = Array3::from_shape_fn((s, len, f), |(b, k, j)| {
                    seq.x[[off + b * l + c0 + k, j]]
                });
                let yb = Array3::from_shape_fn((s, len, 1), |(b, k, _)| {
                    seq.y[[off + b * l + c0 + k, 0]]
                });
                let mut batch = Batch::new(xb.view());
                if let Some(st0) = &state {
                    batch = batch.with_state(st0);
                }
                let loss = Self::step(
                    &mut self.net,
                    &mut self.grads,
                    &self.reg,
                    cfg,
                    params,
                    adam,
                    &batch,
                    &Target::MseEveryStep(yb.view()),
                    rng,
                    epoch,
                    first_loss,
                )?;
                state = Some(self.net.final_state()?);
                sum += loss * (s * len) as f64;
                count += s * len;
                progress.batch(sum / count as f64);
                c0 += len;
            }
            return Ok(sum / count.max(1) as f64);
        }
        match self.data {
            TaskData::Forecast(d) => {
                let w = &d.train;
                let mut order: Vec<usize> = (0..w.len()).collect();
                if cfg.shuffle {
                    order.shuffle(rng);
                }
                // Windows are gathered batch by batch into reused buffers;
                // the split is never copied as a whole.
                let (_, wl, f) = w.x.dim();
                let bs = cfg.batch_size.min(w.len()).max(1);
                if self.xbuf.dim() != (bs, wl, f) {
                    self.xbuf = Array3::zeros((bs, wl, f));
                }
                let ny = w.y.ncols();
                if self.ybuf.dim() != (bs, ny) {
                    self.ybuf = ndarray::Array2::zeros((bs, ny));
                }
                for idx in order.chunks(cfg.batch_size) {
                    let nb = idx.len();
                    w.x.gather_into(idx, &mut self.xbuf.view_mut());
                    for (b, &i) in idx.iter().enumerate() {
                        self.ybuf.row_mut(b).assign(&w.y.row(i));
                    }
                    let xb = self.xbuf.slice(s![..nb, .., ..]);
                    let yb = self.ybuf.slice(s![..nb, ..]);
                    let loss = Self::step(
                        &mut self.net,
                        &mut self.grads,
                        &self.reg,
                        cfg,
                        params,
                        adam,
                        &Batch::new(xb),
                        &Target::MseLast(yb),
                        rng,
                        epoch,
                        first_loss,
                    )?;
                    sum += loss * nb as f64;
                    count += nb;
                    progress.batch(sum / count as f64);
                }
            }
            TaskData::Classify(c) => {
                let tr = &c.train;
                let mut order: Vec<usize> = (0..tr.len()).collect();
                if cfg.shuffle {
                    order.shuffle(rng);
                }
                for idx in order.chunks(cfg.batch_size) {
                    let lens: Vec<usize> = idx.iter().map(|&i| tr.lengths[i]).collect();
                    let labels: Vec<usize> = idx.iter().map(|&i| tr.labels[i]).collect();
                    let tmax = lens.iter().copied().max().unwrap_or(1).max(1);
                    let xb = tr.x.select(Axis(0), idx);
                    let xb = xb.slice(s![.., ..tmax, ..]);
                    let loss = Self::step(
                        &mut self.net,
                        &mut self.grads,
                        &self.reg,
                        cfg,
                        params,
                        adam,
                        &Batch::new(xb).with_lengths(&lens),
                        &Target::CrossEntropyLast(&labels),
                        rng,
                        epoch,
                        first_loss,
                    )?;
                    sum += loss * idx.len() as f64;
                    count += idx.len();
                    progress.batch(sum / count as f64);
                }
            }
        }
        Ok(sum / count.max(1) as f64)
    }

    /// Loss and metric on the validation split (`None` if it is empty).
    pub fn validate(&mut self, params: &Params<f32>) -> Result<Option<ValResult>, FitError> {
        let none = Regularization::none();
        match self.data {
            TaskData::Forecast(d) => {
                if d.val.is_empty() {
                    return Ok(None);
                }
                if self.stateful.is_some() {
                    let (pred, loss) =
                        stateful_predict(&mut self.net, params, d, d.n_fit..d.n_train)?;
                    let truth = d.target_raw.slice(s![d.n_fit..d.n_train]).to_vec();
                    let m = Metrics::of(&truth, &pred)?;
                    return Ok(Some(ValResult {
                        loss,
                        metric: m.rmse,
                    }));
                }
                let (loss, out) = windows_loss(&mut self.net, params, &d.val, EVAL_CHUNK)?;
                let m = d.score(&d.val, out.view())?;
                Ok(Some(ValResult {
                    loss: f64::from(loss),
                    metric: m.rmse,
                }))
            }
            TaskData::Classify(c) => {
                let v = &c.val;
                if v.is_empty() {
                    return Ok(None);
                }
                self.net.forward(
                    params,
                    &Batch::new(v.x.view()).with_lengths(&v.lengths),
                    Mode::Eval,
                )?;
                let lv = self
                    .net
                    .loss(params, &Target::CrossEntropyLast(&v.labels), &none)?;
                let out = self.net.last_outputs()?;
                let correct = out
                    .outer_iter()
                    .zip(&v.labels)
                    .filter(|(row, &l)| argmax(row.view()) == l)
                    .count();
                Ok(Some(ValResult {
                    loss: f64::from(lv.data),
                    metric: correct as f64 / v.len() as f64,
                }))
            }
        }
    }
}

/// Mean squared error (scaled units) and first outputs of `net` on the
/// windows `v`, run `chunk` windows at a time so that the network's
/// workspace stays bounded. The sum runs over the windows in order in `f32`,
/// as [`Network::loss`] does on the whole split at once, so the result is
/// the same.
pub(crate) fn windows_loss(
    net: &mut Network<f32>,
    params: &Params<f32>,
    v: &Windows,
    chunk: usize,
) -> Result<(f32, ndarray::Array1<f32>), FitError> {
    let n = v.len();
    let k_out = v.y.ncols();
    let chunk = chunk.max(1);
    let all = v.x.view();
    let mut out = ndarray::Array1::<f32>::zeros(n);
    let mut loss = 0.0f32;
    let mut start = 0;
    while start < n {
        let end = (start + chunk).min(n);
        net.forward(
            params,
            &Batch::new(all.slice(s![start..end, .., ..])),
            Mode::Eval,
        )?;
        let o = net.last_outputs()?;
        for (b, i) in (start..end).enumerate() {
            for k in 0..k_out {
                let diff = o[[b, k]] - v.y[[i, k]];
                loss += diff * diff;
            }
            out[i] = o[[b, 0]];
        }
        start = end;
    }
    Ok((loss / ((n * k_out) as f64) as f32, out))
}

/// Runs the whole series from the start with carried state (head at every
/// step) and returns, for the target rows `rows`, the predictions in
/// original units and the MSE on the scaled targets.
pub(crate) fn stateful_predict(
    net: &mut Network<f32>,
    params: &Params<f32>,
    d: &ForecastData,
    rows: std::ops::Range<usize>,
) -> Result<(Vec<f64>, f64), FitError> {
    let end = rows.end;
    if rows.start == 0 || end > d.n || rows.is_empty() {
        return Err(FitError::InvalidConfig(format!(
            "stateful prediction needs target rows within 1..{}, got {rows:?}",
            d.n
        )));
    }
    let x = d.x_scaled.slice(s![..end - 1, ..]).insert_axis(Axis(0));
    net.forward(params, &Batch::new(x), Mode::Eval)?;
    let y = net.step_outputs()?;
    let scaled: Vec<f32> = rows.clone().map(|t| y[[0, t - 1, 0]]).collect();
    let mse = rows
        .clone()
        .zip(&scaled)
        .map(|(t, &p)| {
            let e = f64::from(p) - f64::from(d.y_scaled[t]);
            e * e
        })
        .sum::<f64>()
        / rows.len() as f64;
    let pred = d
        .inverse_target(ndarray::Array1::from(scaled).view())
        .to_vec();
    Ok((pred, mse))
}

/// `true` if every parameter is finite.
pub(crate) fn params_finite(p: &Params<f32>) -> bool {
    let mut ok = true;
    p.visit(|_, t| ok &= t.iter().all(|v| v.is_finite()));
    ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{ForecastConfig, ForecastData};
    use crate::net::{CellKind, HeadMode};
    use rand::SeedableRng;

    /// Validating in chunks gives exactly the loss and outputs of one pass
    /// over the whole split.
    #[test]
    fn chunked_validation_matches_one_pass() {
        let mut csv = String::from("time,a,b\n");
        for i in 0..400 {
            let t = i as f64;
            csv += &format!("{i},{},{}\n", (t * 0.3).sin() + 0.01 * t, (t * 0.11).cos());
        }
        let cfg = ForecastConfig {
            target: Some("a".into()),
            features: Some(vec!["a".into(), "b".into()]),
            window: 9,
            val_fraction: 0.3,
            ..ForecastConfig::default()
        };
        let d = ForecastData::from_reader("t.csv", csv.as_bytes(), &cfg).expect("data");
        for cell in [CellKind::Lstm, CellKind::Gru] {
            let net_cfg = NetConfig {
                cell,
                input_size: 2,
                hidden_sizes: vec![5, 3],
                output_size: 1,
                head: HeadMode::LastStep,
                dropout: 0.0,
                unit_forget_bias: cell == CellKind::Lstm,
            };
            let mut rng = ChaCha8Rng::seed_from_u64(3);
            let params = Params::<f32>::init(&net_cfg, &mut rng).expect("params");
            let mut net = Network::new(net_cfg).expect("net");
            net.forward(&params, &Batch::new(d.val.x.view()), Mode::Eval)
                .expect("forward");
            let whole = net
                .loss(
                    &params,
                    &Target::MseLast(d.val.y.view()),
                    &Regularization::none(),
                )
                .expect("loss")
                .data;
            let out = net.last_outputs().expect("outputs").column(0).to_owned();
            for chunk in [1, 7, 64, d.val.len()] {
                let (loss, o) = windows_loss(&mut net, &params, &d.val, chunk).expect("chunked");
                assert_eq!(loss.to_bits(), whole.to_bits(), "chunk {chunk}");
                assert_eq!(o, out, "chunk {chunk}");
            }
        }
    }
}
