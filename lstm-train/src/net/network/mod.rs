//! The network driver: a [`Network`] of a fixed configuration owns its
//! preallocated workspace ([`workspace`]) and runs the batched forward pass
//! ([`forward`]) and full backpropagation through time ([`backward`]) on
//! the batches ([`batch`]) it is given; an observer ([`observe`]) may watch
//! the forward pass step by step.

mod backward;
mod batch;
mod forward;
mod observe;
mod workspace;

use ndarray::{Array2, Array3};

pub use batch::{Batch, Mode, State};
pub use observe::{LayerStep, StepObserver};

use super::loss::{check_target, data_loss, last_row};
use super::{
    Grads, HeadMode, LossValue, NetConfig, NetError, Params, Regularization, Scalar, Target,
};
use workspace::{default_threads, mat, parts_for, Workspace};

fn check_params<F: Scalar>(
    config: &NetConfig,
    params: &Params<F>,
    what: &str,
) -> Result<(), NetError> {
    let mismatch = |name: String, expected: Vec<usize>, got: &[usize]| NetError::ShapeMismatch {
        what: format!("{what} {name}"),
        expected,
        got: got.to_vec(),
    };
    if params.layers.len() != config.num_layers() {
        return Err(mismatch(
            "layers".into(),
            vec![config.num_layers()],
            &[params.layers.len()],
        ));
    }
    for (l, p) in params.layers.iter().enumerate() {
        let h = config.hidden_sizes[l];
        let inp = config.layer_input_size(l);
        let (c, g) = (config.cell, config.cell.gates() * h);
        if p.weight_ih.shape() != [g, inp] {
            return Err(mismatch(
                format!("{c}.weight_ih_l{l}"),
                vec![g, inp],
                p.weight_ih.shape(),
            ));
        }
        if p.weight_hh.shape() != [g, h] {
            return Err(mismatch(
                format!("{c}.weight_hh_l{l}"),
                vec![g, h],
                p.weight_hh.shape(),
            ));
        }
        if p.bias_ih.shape() != [g] {
            return Err(mismatch(
                format!("{c}.bias_ih_l{l}"),
                vec![g],
                p.bias_ih.shape(),
            ));
        }
        if p.bias_hh.shape() != [g] {
            return Err(mismatch(
                format!("{c}.bias_hh_l{l}"),
                vec![g],
                p.bias_hh.shape(),
            ));
        }
    }
    let (o, h) = (config.output_size, config.top_hidden());
    if params.dense.weight.shape() != [o, h] {
        return Err(mismatch(
            "dense.weight".into(),
            vec![o, h],
            params.dense.weight.shape(),
        ));
    }
    if params.dense.bias.shape() != [o] {
        return Err(mismatch(
            "dense.bias".into(),
            vec![o],
            params.dense.bias.shape(),
        ));
    }
    Ok(())
}

/// A network of a fixed [`NetConfig`] together with its preallocated
/// workspace. Parameters are passed in on each call (so one `Network` can
/// evaluate several parameter sets); the workspace grows to the largest
/// batch seen and is reused, so steady-state training does not allocate in
/// the forward/backward passes.
///
/// Typical step: [`Network::loss_and_grad`] (forward in training mode,
/// backward), then clipping and `Adam::step` from [`crate::optim`].
///
/// Large enough batches are split into contiguous parts processed on
/// [`Network::threads`] threads. Results are deterministic for a given
/// thread count; per-sample outputs do not depend on it, the weight
/// gradients (sums over the parts) only up to float rounding.
#[derive(Debug, Clone)]
pub struct Network<F> {
    config: NetConfig,
    threads: usize,
    ws: Workspace<F>,
}

impl<F: Scalar> Network<F> {
    /// Creates a network for `config` (validated). The thread count is
    /// taken from the environment variable `LSTM_THREADS` if set, else the
    /// available parallelism (see [`Network::set_threads`]).
    pub fn new(config: NetConfig) -> Result<Self, NetError> {
        config.validate()?;
        Ok(Network {
            ws: Workspace::new(&config),
            config,
            threads: default_threads(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &NetConfig {
        &self.config
    }

    /// Maximum number of threads a forward or backward pass uses.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Sets the maximum number of threads (at least 1) a forward or
    /// backward pass uses. A batch is only split when it is large enough
    /// for that to pay.
    pub fn set_threads(&mut self, threads: usize) {
        self.threads = threads.max(1);
    }

    /// Forward pass over a batch; the results stay in the workspace (see
    /// [`Network::last_outputs`], [`Network::step_outputs`],
    /// [`Network::hidden`], [`Network::final_state`]) together with the cache
    /// that [`Network::backward`] needs.
    pub fn forward(
        &mut self,
        params: &Params<F>,
        batch: &Batch<'_, F>,
        mode: Mode<'_>,
    ) -> Result<(), NetError> {
        let rng = match mode {
            Mode::Train(r) if self.config.dropout > 0.0 => Some(r),
            _ => None,
        };
        let steps = self.check_batch(params, batch)?;
        let nparts = parts_for(&self.config, self.threads, batch.x.dim().0, steps);
        self.prepare_forward(batch, rng.is_some(), nparts);
        forward::forward(&mut self.ws, &self.config, params, batch, rng, None);
        Ok(())
    }

    /// Forward pass in evaluation mode that shows every layer's steps to
    /// `observer` (inputs, gate pre-activations, `h` and `c`; see
    /// [`StepObserver`]), e.g. to record the ranges a quantizer needs. The
    /// results are those of [`Network::forward`] with [`Mode::Eval`]; the
    /// batch is processed on the calling thread.
    pub fn forward_observed(
        &mut self,
        params: &Params<F>,
        batch: &Batch<'_, F>,
        observer: &mut dyn StepObserver<F>,
    ) -> Result<(), NetError> {
        self.check_batch(params, batch)?;
        self.prepare_forward(batch, false, 1);
        let part = &mut self.ws.parts[0];
        let width = 4 * self.config.hidden_sizes.iter().copied().max().unwrap_or(0);
        workspace::grow(&mut part.pre, part.bp * width);
        forward::forward(
            &mut self.ws,
            &self.config,
            params,
            batch,
            None,
            Some(observer),
        );
        Ok(())
    }

    /// Checks the parameters and the batch against the configuration;
    /// returns the number of steps.
    fn check_batch(&self, params: &Params<F>, batch: &Batch<'_, F>) -> Result<usize, NetError> {
        check_params(&self.config, params, "parameter")?;
        let (bsz, steps, inp) = batch.x.dim();
        if bsz == 0 || steps == 0 {
            return Err(NetError::EmptyBatch { batch: bsz, steps });
        }
        if inp != self.config.input_size {
            return Err(NetError::ShapeMismatch {
                what: "input".into(),
                expected: vec![bsz, steps, self.config.input_size],
                got: vec![bsz, steps, inp],
            });
        }
        if let Some(lens) = batch.lengths {
            if lens.len() != bsz {
                return Err(NetError::ShapeMismatch {
                    what: "lengths".into(),
                    expected: vec![bsz],
                    got: vec![lens.len()],
                });
            }
            if let Some((index, &len)) = lens.iter().enumerate().find(|(_, &l)| l == 0 || l > steps)
            {
                return Err(NetError::InvalidLength { index, len, steps });
            }
        }
        if let Some(s) = batch.state0 {
            s.check(&self.config, bsz)?;
        }
        Ok(steps)
    }

    /// Records the batch's lengths and sizes the workspace for it.
    fn prepare_forward(&mut self, batch: &Batch<'_, F>, train: bool, nparts: usize) {
        let (bsz, steps, _) = batch.x.dim();
        let ws = &mut self.ws;
        ws.have_forward = false;
        ws.cache_intact = false;
        ws.lengths.clear();
        match batch.lengths {
            Some(l) => ws.lengths.extend_from_slice(l),
            None => ws.lengths.resize(bsz, steps),
        }
        ws.prepare(&self.config, bsz, steps, train, nparts);
        ws.train = train;
        ws.has_state0 = batch.state0.is_some();
    }

    fn check_forward(&self) -> Result<(), NetError> {
        if self.ws.have_forward {
            Ok(())
        } else {
            Err(NetError::NoForward)
        }
    }

    /// Each sample's head output at its last step, `[B][OUT]`.
    pub fn last_outputs(&self) -> Result<Array2<F>, NetError> {
        self.check_forward()?;
        let (bsz, out) = (self.ws.batch, self.config.output_size);
        let y = mat(&self.ws.y, self.ws.head_rows(self.config.head), out);
        let mut res = Array2::zeros((bsz, out));
        for (b, &len) in self.ws.lengths.iter().enumerate() {
            res.row_mut(b)
                .assign(&y.row(last_row(self.config.head, bsz, len, b)));
        }
        Ok(res)
    }

    /// Head outputs at every step, `[B][T][OUT]` (only with
    /// [`HeadMode::EveryStep`]; values past a sample's length are the head
    /// applied to its frozen final state).
    pub fn step_outputs(&self) -> Result<Array3<F>, NetError> {
        self.check_forward()?;
        if self.config.head != HeadMode::EveryStep {
            return Err(NetError::NeedsEveryStep);
        }
        let (bsz, steps, out) = (self.ws.batch, self.ws.steps, self.config.output_size);
        let y = mat(&self.ws.y, steps * bsz, out);
        Ok(Array3::from_shape_fn((bsz, steps, out), |(b, t, k)| {
            y[[t * bsz + b, k]]
        }))
    }

    /// The last layer's hidden state at every step, `[B][T][H]` (frozen past
    /// each sample's length; before dropout).
    pub fn hidden(&self) -> Result<Array3<F>, NetError> {
        self.check_forward()?;
        let (bsz, steps) = (self.ws.batch, self.ws.steps);
        let h = self.config.top_hidden();
        let top = self.config.num_layers() - 1;
        let mut res = Array3::zeros((bsz, steps, h));
        for b in 0..bsz {
            let (p, bl) = self.ws.locate(b);
            let part = &self.ws.parts[p];
            let th = &part.layers[top].h;
            for t in 0..steps {
                let src = ((t + 1) * part.bp + bl) * h;
                for (d, v) in res
                    .slice_mut(ndarray::s![b, t, ..])
                    .iter_mut()
                    .zip(&th[src..src + h])
                {
                    *d = *v;
                }
            }
        }
        Ok(res)
    }

    /// Final state `(h_n, c_n)` of every layer: each sample's state after its
    /// own last step (`c_n` of width 0 for a GRU).
    pub fn final_state(&self) -> Result<State<F>, NetError> {
        self.check_forward()?;
        let (bsz, steps) = (self.ws.batch, self.ws.steps);
        let mut st = State::zeros(&self.config, bsz);
        for part in &self.ws.parts[..self.ws.nparts] {
            let (b0, bp) = (part.b0, part.bp);
            for (l, lw) in part.layers.iter().enumerate() {
                let h = lw.hidden;
                let off = steps * bp * h;
                let rows = ndarray::s![b0..b0 + bp, ..];
                st.h[l].slice_mut(rows).assign(&mat(&lw.h[off..], bp, h));
                if self.config.cell.has_cell_state() {
                    st.c[l].slice_mut(rows).assign(&mat(&lw.c[off..], bp, h));
                }
            }
        }
        Ok(st)
    }

    /// Loss of the last forward pass against `target` (no gradient).
    pub fn loss(
        &self,
        params: &Params<F>,
        target: &Target<'_, F>,
        reg: &Regularization<F>,
    ) -> Result<LossValue<F>, NetError> {
        self.check_forward()?;
        let (bsz, steps) = (self.ws.batch, self.ws.steps);
        check_target(
            target,
            self.config.head,
            bsz,
            steps,
            self.config.output_size,
        )?;
        let y = mat(
            &self.ws.y,
            self.ws.head_rows(self.config.head),
            self.config.output_size,
        );
        let data = data_loss(target, y, self.config.head, &self.ws.lengths, None);
        let penalty = reg.penalty(params);
        Ok(LossValue {
            total: data + penalty,
            data,
            penalty,
        })
    }

    /// Full BPTT for the last forward pass: writes `d loss / d params` into
    /// `grads` (overwritten, same shapes as `params`) and returns the loss.
    /// The gradient of `bias_ih` and `bias_hh` is the same value. The
    /// forward cache is consumed (outputs stay readable); call
    /// [`Network::forward`] again before the next backward.
    pub fn backward(
        &mut self,
        params: &Params<F>,
        target: &Target<'_, F>,
        reg: &Regularization<F>,
        grads: &mut Grads<F>,
    ) -> Result<LossValue<F>, NetError> {
        if !self.ws.cache_intact {
            return Err(NetError::NoForward);
        }
        check_params(&self.config, params, "parameter")?;
        check_params(&self.config, grads, "gradient")?;
        let (bsz, steps) = (self.ws.batch, self.ws.steps);
        let cfg = &self.config;
        check_target(target, cfg.head, bsz, steps, cfg.output_size)?;
        let rows = self.ws.head_rows(cfg.head);
        let data = backward::backward(&mut self.ws, cfg, params, target, rows, grads);
        reg.add_grad(params, grads);
        let penalty = reg.penalty(params);
        Ok(LossValue {
            total: data + penalty,
            data,
            penalty,
        })
    }
    /// available from [`Network::final_state`] afterwards.
    pub fn loss_and_grad(
        &mut self,
        params: &Params<F>,
        batch: &Batch<'_, F>,
        mode: Mode<'_>,
        target: &Target<'_, F>,
        reg: &Regularization<F>,
        grads: &mut Grads<F>,
    ) -> Result<LossValue<F>, NetError> {
        self.forward(params, batch, mode)?;
        self.backward(params, target, reg, grads)
    }

    /// Loss in evaluation mode (no dropout, no gradient).
    pub fn evaluate(
        &mut self,
        params: &Params<F>,
        batch: &Batch<'_, F>,
        target: &Target<'_, F>,
        reg: &Regularization<F>,
    ) -> Result<LossValue<F>, NetError> {
        self.forward(params, batch, Mode::Eval)?;
        self.loss(params, target, reg)
    }

    /// Predictions in evaluation mode: each sample's last-step output,
    /// `[B][OUT]`.
    pub fn predict(
        &mut self,
        params: &Params<F>,
        batch: &Batch<'_, F>,
    ) -> Result<Array2<F>, NetError> {
        self.forward(params, batch, Mode::Eval)?;
        self.last_outputs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::CellKind;
    use ndarray::Array3;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    struct Run {
        y: Array2<f32>,
        hidden: Array3<f32>,
        state: State<f32>,
        grads: Grads<f32>,
        loss: f32,
    }

    fn run(cell: CellKind, threads: usize, head: HeadMode) -> (Run, usize) {
        let cfg = NetConfig {
            cell,
            input_size: 3,
            hidden_sizes: vec![20, 13],
            output_size: 2,
            head,
            dropout: 0.2,
            unit_forget_bias: false,
        };
        let (bsz, steps) = (23, 30);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let params = Params::<f32>::init(&cfg, &mut rng).expect("init");
        let x = Array3::from_shape_fn((bsz, steps, 3), |_| rng.gen_range(-1.0f32..1.0));
        let lengths: Vec<usize> = (0..bsz).map(|_| rng.gen_range(1..=steps)).collect();
        let mut state0 = State::<f32>::zeros(&cfg, bsz);
        for a in state0.h.iter_mut().chain(state0.c.iter_mut()) {
            a.mapv_inplace(|_| rng.gen_range(-0.5f32..0.5));
        }
        let yl = Array2::from_shape_fn((bsz, 2), |_| rng.gen_range(-1.0f32..1.0));
        let ys = Array3::from_shape_fn((bsz, steps, 2), |_| rng.gen_range(-1.0f32..1.0));
        let target = match head {
            HeadMode::LastStep => Target::MseLast(yl.view()),
            HeadMode::EveryStep => Target::MseEveryStep(ys.view()),
        };
        let mut net = Network::new(cfg).expect("net");
        net.set_threads(threads);
        let mut grads = params.zeros_like();
        let mut drop_rng = ChaCha8Rng::seed_from_u64(9);
        let loss = net
            .loss_and_grad(
                &params,
                &Batch::new(x.view())
                    .with_lengths(&lengths)
                    .with_state(&state0),
                Mode::Train(&mut drop_rng),
                &target,
                &Regularization::none(),
                &mut grads,
            )
            .expect("step");
        let r = Run {
            y: net.last_outputs().expect("y"),
            hidden: net.hidden().expect("hidden"),
            state: net.final_state().expect("state"),
            grads,
            loss: loss.total,
        };
        (r, net.ws.nparts)
    }

    /// Splitting the batch over threads leaves per-sample results bit for
    /// bit unchanged and the summed weight gradients equal up to rounding;
    /// a given thread count is deterministic.
    #[test]
    fn thread_split_matches_single_thread() {
        for (cell, head) in CellKind::ALL
            .into_iter()
            .flat_map(|c| [(c, HeadMode::LastStep), (c, HeadMode::EveryStep)])
        {
            let (one, p1) = run(cell, 1, head);
            assert_eq!(p1, 1);
            for threads in [2, 3] {
                let (many, p) = run(cell, threads, head);
                assert_eq!(p, threads, "batch is split");
                assert_eq!(one.y, many.y);
                assert_eq!(one.hidden, many.hidden);
                assert_eq!(one.state, many.state);
                assert_eq!(one.loss, many.loss);
                for (a, b) in one.grads.flatten().iter().zip(many.grads.flatten()) {
                    assert!((a - b).abs() <= 1e-5 * (1.0 + a.abs()), "{a} vs {b}");
                }
                let (again, _) = run(cell, threads, head);
                assert_eq!(again.grads, many.grads, "deterministic");
            }
        }
    }
}
