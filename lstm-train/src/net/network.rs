//! The network driver: preallocated workspace, batched forward pass and
//! full backpropagation through time.

use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, Array3, ArrayView2, ArrayView3, ArrayViewMut2};
use rand::RngCore;

use super::gemm::gemm;
use super::kernels::{BwdStep, FwdStep, StepDims};
use super::loss::{check_target, data_loss, last_row};
use super::{
    Grads, HeadMode, LossValue, NetConfig, NetError, Params, Regularization, Scalar, Target,
};

/// Recurrent state `(h, c)` of every layer for a batch: `h[l]`, `c[l]` are
/// `[B][H_l]`. Used as initial state (e.g. carried between chunks in
/// stateful / truncated-BPTT training; no gradient flows through it) and
/// returned as final state `(h_n, c_n)`.
#[derive(Debug, Clone, PartialEq)]
pub struct State<F> {
    /// Hidden state per layer, `[B][H_l]`.
    pub h: Vec<Array2<F>>,
    /// Cell state per layer, `[B][H_l]`.
    pub c: Vec<Array2<F>>,
}

impl<F: Scalar> State<F> {
    /// All-zero state for `batch` samples.
    pub fn zeros(config: &NetConfig, batch: usize) -> Self {
        let z: Vec<Array2<F>> = config
            .hidden_sizes
            .iter()
            .map(|&h| Array2::zeros((batch, h)))
            .collect();
        State { h: z.clone(), c: z }
    }

    /// Batch size of the state (0 for a network without layers).
    pub fn batch_size(&self) -> usize {
        self.h.first().map_or(0, |a| a.nrows())
    }

    fn check(&self, config: &NetConfig, batch: usize) -> Result<(), NetError> {
        let layers = config.num_layers();
        if self.h.len() != layers || self.c.len() != layers {
            return Err(NetError::ShapeMismatch {
                what: "initial state (layers)".into(),
                expected: vec![layers, layers],
                got: vec![self.h.len(), self.c.len()],
            });
        }
        for (l, &hs) in config.hidden_sizes.iter().enumerate() {
            for (name, a) in [("h0", &self.h[l]), ("c0", &self.c[l])] {
                if a.shape() != [batch, hs] {
                    return Err(NetError::ShapeMismatch {
                        what: format!("initial state {name}[{l}]"),
                        expected: vec![batch, hs],
                        got: a.shape().to_vec(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// One batch of input sequences.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a, F> {
    /// Inputs `[B][T][IN]`. Values past a sample's length are ignored.
    pub x: ArrayView3<'a, F>,
    /// Length of each sample (`1..=T`); `None` means all are `T`.
    pub lengths: Option<&'a [usize]>,
    /// Initial state; `None` means zeros.
    pub state0: Option<&'a State<F>>,
}

impl<'a, F> Batch<'a, F> {
    /// A batch of full-length sequences starting from the zero state.
    pub fn new(x: ArrayView3<'a, F>) -> Self {
        Batch {
            x,
            lengths: None,
            state0: None,
        }
    }

    /// Sets per-sample lengths.
    pub fn with_lengths(mut self, lengths: &'a [usize]) -> Self {
        self.lengths = Some(lengths);
        self
    }

    /// Sets the initial state.
    pub fn with_state(mut self, state0: &'a State<F>) -> Self {
        self.state0 = Some(state0);
        self
    }
}

/// Training or evaluation mode of a forward pass.
pub enum Mode<'r> {
    /// No dropout.
    Eval,
    /// Dropout active (when the configured rate is > 0), masks drawn from
    /// this generator (e.g. a seeded `rand_chacha::ChaCha8Rng`), in a fixed
    /// order, so a seed reproduces the masks exactly.
    Train(&'r mut dyn RngCore),
}

impl std::fmt::Debug for Mode<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mode::Eval => f.write_str("Eval"),
            Mode::Train(_) => f.write_str("Train(..)"),
        }
    }
}

/// Buffers of one layer. Time-major: row `t * B + b`.
#[derive(Debug, Default, Clone)]
struct LayerWs<F> {
    hidden: usize,
    /// `[T*B][4H]`: activated gates after forward, gate pre-activation
    /// gradients after backward.
    gates: Vec<F>,
    /// `[(T+1)*B][H]`: `h_{t-1}` at block `t` (block 0 = initial state).
    h: Vec<F>,
    /// `[(T+1)*B][H]`: cell states, same layout as `h`.
    c: Vec<F>,
    /// `[T*B][H]`: `tanh(c_t)`.
    tanh_c: Vec<F>,
    /// `[T*B][H]`: dropout mask on the output (non-top layers, training).
    mask: Vec<F>,
    /// `[T*B][H]`: masked output, input of the next layer (training).
    dropped: Vec<F>,
    /// `[T*B][H]`: gradient arriving at the outputs `h_t` from above.
    dh: Vec<F>,
    /// `[4H]`: `bias_ih + bias_hh`.
    bias: Vec<F>,
    /// `[H][4H]`: contiguous copy of `weight_hh^T` for the per-step forward
    /// product (packs faster than a transposed view).
    whh_t: Vec<F>,
}

#[derive(Debug, Default, Clone)]
struct Workspace<F> {
    batch: usize,
    steps: usize,
    lengths: Vec<usize>,
    /// `[T*B][IN]` time-major input, zero past each length.
    xt: Vec<F>,
    layers: Vec<LayerWs<F>>,
    /// `[rows][H_top]` head input (rows = `T*B` or `B`).
    head_in: Vec<F>,
    head_mask: Vec<F>,
    /// `[rows][OUT]` head output.
    y: Vec<F>,
    /// `[rows][OUT]` loss gradient w.r.t. `y`.
    dy: Vec<F>,
    /// `[B][H_top]` head-input gradient (last-step head).
    dhead: Vec<F>,
    /// `[B][H]` recurrent gradient `dL/dh_{t}` from step `t + 1`.
    dh_rec: Vec<F>,
    /// `[B][H]` `dL/dc_t`.
    dc: Vec<F>,
    /// `[4H]` scratch for bias gradients.
    colsum: Vec<F>,
    /// Whether the last forward pass used dropout.
    train: bool,
    /// A forward pass has been run (outputs valid).
    have_forward: bool,
    /// The forward cache is intact (backward possible).
    cache_intact: bool,
}

fn grow<F: Scalar>(v: &mut Vec<F>, n: usize) {
    if v.len() < n {
        v.resize(n, F::zero());
    }
}

fn mat<F>(v: &[F], rows: usize, cols: usize) -> ArrayView2<'_, F> {
    ArrayView2::from_shape((rows, cols), &v[..rows * cols])
        .expect("workspace buffer sized by prepare")
}

fn mat_mut<F>(v: &mut [F], rows: usize, cols: usize) -> ArrayViewMut2<'_, F> {
    ArrayViewMut2::from_shape((rows, cols), &mut v[..rows * cols])
        .expect("workspace buffer sized by prepare")
}

fn fill_mask<F: Scalar>(mask: &mut [F], rate: f32, rng: &mut dyn RngCore) {
    let scale = F::of(1.0 / (1.0 - rate as f64));
    for m in mask.iter_mut() {
        let u = (rng.next_u32() >> 8) as f32 * (1.0 / 16_777_216.0);
        *m = if u < rate { F::zero() } else { scale };
    }
}

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
        if p.weight_ih.shape() != [4 * h, inp] {
            return Err(mismatch(
                format!("lstm.weight_ih_l{l}"),
                vec![4 * h, inp],
                p.weight_ih.shape(),
            ));
        }
        if p.weight_hh.shape() != [4 * h, h] {
            return Err(mismatch(
                format!("lstm.weight_hh_l{l}"),
                vec![4 * h, h],
                p.weight_hh.shape(),
            ));
        }
        if p.bias_ih.shape() != [4 * h] {
            return Err(mismatch(
                format!("lstm.bias_ih_l{l}"),
                vec![4 * h],
                p.bias_ih.shape(),
            ));
        }
        if p.bias_hh.shape() != [4 * h] {
            return Err(mismatch(
                format!("lstm.bias_hh_l{l}"),
                vec![4 * h],
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
#[derive(Debug, Clone)]
pub struct Network<F> {
    config: NetConfig,
    ws: Workspace<F>,
}

impl<F: Scalar> Network<F> {
    /// Creates a network for `config` (validated).
    pub fn new(config: NetConfig) -> Result<Self, NetError> {
        config.validate()?;
        let layers = config
            .hidden_sizes
            .iter()
            .map(|&h| LayerWs {
                hidden: h,
                ..LayerWs::default()
            })
            .collect();
        Ok(Network {
            config,
            ws: Workspace {
                layers,
                ..Workspace::default()
            },
        })
    }

    /// The configuration.
    pub fn config(&self) -> &NetConfig {
        &self.config
    }

    /// Number of head-output rows for the current batch.
    fn head_rows(&self) -> usize {
        match self.config.head {
            HeadMode::EveryStep => self.ws.steps * self.ws.batch,
            HeadMode::LastStep => self.ws.batch,
        }
    }

    fn prepare(&mut self, batch: usize, steps: usize, train: bool) {
        let cfg = &self.config;
        let ws = &mut self.ws;
        ws.batch = batch;
        ws.steps = steps;
        let tb = batch * steps;
        grow(&mut ws.xt, tb * cfg.input_size);
        let nl = ws.layers.len();
        let mut hmax = 0;
        for (l, lw) in ws.layers.iter_mut().enumerate() {
            let h = lw.hidden;
            hmax = hmax.max(h);
            grow(&mut lw.gates, tb * 4 * h);
            grow(&mut lw.h, (tb + batch) * h);
            grow(&mut lw.c, (tb + batch) * h);
            grow(&mut lw.tanh_c, tb * h);
            grow(&mut lw.dh, tb * h);
            grow(&mut lw.bias, 4 * h);
            grow(&mut lw.whh_t, 4 * h * h);
            if train && l + 1 < nl {
                grow(&mut lw.mask, tb * h);
                grow(&mut lw.dropped, tb * h);
            }
        }
        let rows = match cfg.head {
            HeadMode::EveryStep => tb,
            HeadMode::LastStep => batch,
        };
        let ht = cfg.top_hidden();
        grow(&mut ws.head_in, rows * ht);
        if train {
            grow(&mut ws.head_mask, rows * ht);
        }
        grow(&mut ws.y, rows * cfg.output_size);
        grow(&mut ws.dy, rows * cfg.output_size);
        grow(&mut ws.dhead, batch * ht);
        grow(&mut ws.dh_rec, batch * hmax);
        grow(&mut ws.dc, batch * hmax);
        grow(&mut ws.colsum, 4 * hmax);
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
        let dropout = self.config.dropout;
        let (train, mut rng) = match mode {
            Mode::Train(r) if dropout > 0.0 => (true, Some(r)),
            _ => (false, None),
        };
        self.ws.have_forward = false;
        self.ws.cache_intact = false;
        self.prepare(bsz, steps, train);
        let cfg = &self.config;
        let ws = &mut self.ws;
        ws.train = train;
        ws.lengths.clear();
        match batch.lengths {
            Some(l) => ws.lengths.extend_from_slice(l),
            None => ws.lengths.resize(bsz, steps),
        }
        let tb = bsz * steps;
        let nin = cfg.input_size;

        // time-major input, zero past each sample's end
        for t in 0..steps {
            for b in 0..bsz {
                let r = (t * bsz + b) * nin;
                let dst = &mut ws.xt[r..r + nin];
                if t < ws.lengths[b] {
                    for (d, s) in dst.iter_mut().zip(batch.x.slice(ndarray::s![b, t, ..])) {
                        *d = *s;
                    }
                } else {
                    dst.fill(F::zero());
                }
            }
        }

        let nl = ws.layers.len();
        for l in 0..nl {
            let p = &params.layers[l];
            let (below, rest) = ws.layers.split_at_mut(l);
            let cur = &mut rest[0];
            let h = cur.hidden;
            let g4 = 4 * h;
            {
                let input = if l == 0 {
                    mat(&ws.xt, tb, nin)
                } else {
                    let prev = &below[l - 1];
                    let hp = prev.hidden;
                    if train {
                        mat(&prev.dropped, tb, hp)
                    } else {
                        mat(&prev.h[bsz * hp..], tb, hp)
                    }
                };
                let mut gates = mat_mut(&mut cur.gates, tb, g4);
                general_mat_mul(F::one(), &input, &p.weight_ih.t(), F::zero(), &mut gates);
            }
            for ((d, a), b) in cur.bias.iter_mut().zip(&p.bias_ih).zip(&p.bias_hh) {
                *d = *a + *b;
            }
            match batch.state0 {
                Some(s) => {
                    for (d, v) in cur.h[..bsz * h].iter_mut().zip(s.h[l].iter()) {
                        *d = *v;
                    }
                    for (d, v) in cur.c[..bsz * h].iter_mut().zip(s.c[l].iter()) {
                        *d = *v;
                    }
                }
                None => {
                    cur.h[..bsz * h].fill(F::zero());
                    cur.c[..bsz * h].fill(F::zero());
                }
            }
            mat_mut(&mut cur.whh_t, h, g4).assign(&p.weight_hh.t());
            let bh = bsz * h;
            for t in 0..steps {
                let (hp, hn) = cur.h.split_at_mut((t + 1) * bh);
                let hprev = &hp[t * bh..];
                let hnext = &mut hn[..bh];
                let (cp, cn) = cur.c.split_at_mut((t + 1) * bh);
                let cprev = &cp[t * bh..];
                let cnext = &mut cn[..bh];
                let gates_t = &mut cur.gates[t * bsz * g4..(t + 1) * bsz * g4];
                if t > 0 || batch.state0.is_some() {
                    gemm(bsz, h, g4, &hprev[..bh], &cur.whh_t, gates_t, true);
                }
                F::step_forward(
                    StepDims {
                        batch: bsz,
                        hidden: h,
                        t,
                    },
                    &ws.lengths,
                    FwdStep {
                        gates: gates_t,
                        bias: &cur.bias[..g4],
                        h_prev: &hprev[..bh],
                        c_prev: &cprev[..bh],
                        h_next: hnext,
                        c_next: cnext,
                        tanh_c: &mut cur.tanh_c[t * bh..(t + 1) * bh],
                    },
                );
            }
            if l + 1 < nl {
                if let Some(r) = rng.as_deref_mut() {
                    let n = tb * h;
                    fill_mask(&mut cur.mask[..n], dropout, r);
                    for ((d, m), v) in cur.dropped[..n]
                        .iter_mut()
                        .zip(&cur.mask[..n])
                        .zip(&cur.h[bh..bh + n])
                    {
                        *d = *m * *v;
                    }
                }
            }
        }

        // head
        let top = &ws.layers[nl - 1];
        let ht = top.hidden;
        let out = cfg.output_size;
        let rows = match cfg.head {
            HeadMode::EveryStep => {
                ws.head_in[..tb * ht].copy_from_slice(&top.h[bsz * ht..(tb + bsz) * ht]);
                tb
            }
            HeadMode::LastStep => {
                for b in 0..bsz {
                    let src = (ws.lengths[b] * bsz + b) * ht;
                    ws.head_in[b * ht..(b + 1) * ht].copy_from_slice(&top.h[src..src + ht]);
                }
                bsz
            }
        };
        if let Some(r) = rng {
            let n = rows * ht;
            fill_mask(&mut ws.head_mask[..n], dropout, r);
            for (d, m) in ws.head_in[..n].iter_mut().zip(&ws.head_mask[..n]) {
                *d = *d * *m;
            }
        }
        {
            let mut y = mat_mut(&mut ws.y, rows, out);
            general_mat_mul(
                F::one(),
                &mat(&ws.head_in, rows, ht),
                &params.dense.weight.t(),
                F::zero(),
                &mut y,
            );
            for mut row in y.rows_mut() {
                for (v, b) in row.iter_mut().zip(&params.dense.bias) {
                    *v = *v + *b;
                }
            }
        }
        ws.have_forward = true;
        ws.cache_intact = true;
        Ok(())
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
        let y = mat(&self.ws.y, self.head_rows(), out);
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
        let top = &self.ws.layers[self.ws.layers.len() - 1];
        let h = top.hidden;
        let hm = mat(&top.h, (steps + 1) * bsz, h);
        Ok(Array3::from_shape_fn((bsz, steps, h), |(b, t, j)| {
            hm[[(t + 1) * bsz + b, j]]
        }))
    }

    /// Final state `(h_n, c_n)` of every layer: each sample's state after its
    /// own last step.
    pub fn final_state(&self) -> Result<State<F>, NetError> {
        self.check_forward()?;
        let (bsz, steps) = (self.ws.batch, self.ws.steps);
        let mut st = State::zeros(&self.config, bsz);
        for (l, lw) in self.ws.layers.iter().enumerate() {
            let h = lw.hidden;
            let off = steps * bsz * h;
            st.h[l].assign(&mat(&lw.h[off..], bsz, h));
            st.c[l].assign(&mat(&lw.c[off..], bsz, h));
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
        let y = mat(&self.ws.y, self.head_rows(), self.config.output_size);
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
        let rows = self.head_rows();
        let ws = &mut self.ws;
        ws.cache_intact = false;
        let out = cfg.output_size;
        let tb = bsz * steps;
        let nl = ws.layers.len();
        let ht = ws.layers[nl - 1].hidden;

        let data = {
            let mut dy = mat_mut(&mut ws.dy, rows, out);
            data_loss(
                target,
                mat(&ws.y, rows, out),
                cfg.head,
                &ws.lengths,
                Some(&mut dy),
            )
        };

        // head
        let dy = mat(&ws.dy, rows, out);
        general_mat_mul(
            F::one(),
            &dy.t(),
            &mat(&ws.head_in, rows, ht),
            F::zero(),
            &mut grads.dense.weight,
        );
        for (k, g) in grads.dense.bias.iter_mut().enumerate() {
            *g = dy.column(k).sum();
        }
        {
            let top = &mut ws.layers[nl - 1];
            match cfg.head {
                HeadMode::EveryStep => {
                    let mut dh = mat_mut(&mut top.dh, tb, ht);
                    general_mat_mul(F::one(), &dy, &params.dense.weight, F::zero(), &mut dh);
                    if ws.train {
                        for (d, m) in top.dh[..tb * ht].iter_mut().zip(&ws.head_mask[..tb * ht]) {
                            *d = *d * *m;
                        }
                    }
                }
                HeadMode::LastStep => {
                    let mut dhd = mat_mut(&mut ws.dhead, bsz, ht);
                    general_mat_mul(F::one(), &dy, &params.dense.weight, F::zero(), &mut dhd);
                    if ws.train {
                        for (d, m) in ws.dhead[..bsz * ht]
                            .iter_mut()
                            .zip(&ws.head_mask[..bsz * ht])
                        {
                            *d = *d * *m;
                        }
                    }
                    top.dh[..tb * ht].fill(F::zero());
                    for b in 0..bsz {
                        let r = ((ws.lengths[b] - 1) * bsz + b) * ht;
                        top.dh[r..r + ht].copy_from_slice(&ws.dhead[b * ht..(b + 1) * ht]);
                    }
                }
            }
        }

        for l in (0..nl).rev() {
            let p = &params.layers[l];
            let (below, rest) = ws.layers.split_at_mut(l);
            let cur = &mut rest[0];
            let h = cur.hidden;
            let g4 = 4 * h;
            let bh = bsz * h;
            let dc = &mut ws.dc[..bh];
            let dh_rec = &mut ws.dh_rec[..bh];
            dc.fill(F::zero());
            dh_rec.fill(F::zero());
            for t in (0..steps).rev() {
                let gates_t = &mut cur.gates[t * bsz * g4..(t + 1) * bsz * g4];
                let dh_t = &cur.dh[t * bh..(t + 1) * bh];
                let cprev = &cur.c[t * bh..(t + 1) * bh];
                let tc_t = &cur.tanh_c[t * bh..(t + 1) * bh];
                F::step_backward(
                    StepDims {
                        batch: bsz,
                        hidden: h,
                        t,
                    },
                    &ws.lengths,
                    BwdStep {
                        gates: gates_t,
                        dh_out: dh_t,
                        dh_rec,
                        dc,
                        c_prev: cprev,
                        tanh_c: tc_t,
                    },
                );
                if t > 0 {
                    let mut dr = mat_mut(dh_rec, bsz, h);
                    general_mat_mul(
                        F::one(),
                        &mat(gates_t, bsz, g4),
                        &p.weight_hh,
                        F::zero(),
                        &mut dr,
                    );
                }
            }
            let g = &mut grads.layers[l];
            let dg = mat(&cur.gates, tb, g4);
            general_mat_mul(
                F::one(),
                &dg.t(),
                &mat(&cur.h, tb, h),
                F::zero(),
                &mut g.weight_hh,
            );
            {
                let input = if l == 0 {
                    mat(&ws.xt, tb, cfg.input_size)
                } else {
                    let prev = &below[l - 1];
                    let hp = prev.hidden;
                    if ws.train {
                        mat(&prev.dropped, tb, hp)
                    } else {
                        mat(&prev.h[bsz * hp..], tb, hp)
                    }
                };
                general_mat_mul(F::one(), &dg.t(), &input, F::zero(), &mut g.weight_ih);
            }
            let cs = &mut ws.colsum[..g4];
            cs.fill(F::zero());
            for row in cur.gates[..tb * g4].chunks_exact(g4) {
                for (a, v) in cs.iter_mut().zip(row) {
                    *a = *a + *v;
                }
            }
            for ((bi, bh_), v) in g
                .bias_ih
                .iter_mut()
                .zip(g.bias_hh.iter_mut())
                .zip(cs.iter())
            {
                *bi = *v;
                *bh_ = *v;
            }
            if l > 0 {
                let prev = &mut below[l - 1];
                let hp = prev.hidden;
                let mut dprev = mat_mut(&mut prev.dh, tb, hp);
                general_mat_mul(F::one(), &dg, &p.weight_ih, F::zero(), &mut dprev);
                if ws.train {
                    for (d, m) in prev.dh[..tb * hp].iter_mut().zip(&prev.mask[..tb * hp]) {
                        *d = *d * *m;
                    }
                }
            }
        }

        reg.add_grad(params, grads);
        let penalty = reg.penalty(params);
        Ok(LossValue {
            total: data + penalty,
            data,
            penalty,
        })
    }

    /// One training computation: forward in `mode`, then backward. Writes
    /// the gradients into `grads` and returns the loss; the final state is
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
