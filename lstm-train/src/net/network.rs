//! The network driver: preallocated workspace, batched forward pass and
//! full backpropagation through time.

use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, Array3, ArrayView2, ArrayView3, ArrayViewMut2};
use rand::RngCore;

use super::gemm::{gemm_packed, gemm_packed2, gemm_tn, PackedB, TnScratch, TnSeg};
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

/// Buffers of one layer for one batch part. Time-major within the part:
/// row `t * Bp + b` for the part's `Bp` samples.
#[derive(Debug, Default, Clone)]
struct PartLayer<F> {
    hidden: usize,
    /// `[T*Bp][4H]`: activated gates after forward, gate pre-activation
    /// gradients after backward.
    gates: Vec<F>,
    /// `[(T+1)*Bp][H]`: `h_{t-1}` at block `t` (block 0 = initial state).
    h: Vec<F>,
    /// `[(T+1)*Bp][H]`: cell states, same layout as `h`.
    c: Vec<F>,
    /// `[T*Bp][H]`: `tanh(c_t)`.
    tanh_c: Vec<F>,
    /// `[T*Bp][H]`: dropout mask on the output (non-top layers, training).
    mask: Vec<F>,
    /// `[T*Bp][H]`: masked output, input of the next layer (training).
    dropped: Vec<F>,
    /// `[T*Bp][H]`: gradient arriving at the outputs `h_t` from above.
    dh: Vec<F>,
    /// `[H + IN + 1][4H]`: this part's share of the transposed weight
    /// gradients, `weight_hh` (rows `0..H`), `weight_ih` (rows
    /// `H..H + IN`), then the bias gradient (last row).
    dw_t: Vec<F>,
}

/// A contiguous range of samples `b0..b0+bp` of the batch with its own
/// buffers. The recurrences of different samples are independent, so the
/// parts of a batch are processed independently, on their own threads when
/// the network has more than one; the weight gradients are the sums of the
/// parts' shares, added in part order.
#[derive(Debug, Default, Clone)]
struct Part<F> {
    b0: usize,
    bp: usize,
    /// Lengths of the part's samples.
    lengths: Vec<usize>,
    /// `[T*Bp][IN]` time-major input, zero past each length.
    xt: Vec<F>,
    layers: Vec<PartLayer<F>>,
    /// `[Bp][H]` recurrent gradient `dL/dh_{t}` from step `t + 1`.
    dh_rec: Vec<F>,
    /// `[Bp][H]` `dL/dc_t`.
    dc: Vec<F>,
    /// Packing buffers of the weight-gradient products.
    tn: TnScratch<F>,
}

/// Per-layer data derived from the parameters, shared by all parts.
#[derive(Debug, Default, Clone)]
struct SharedLayer<F> {
    /// `[4H]`: `bias_ih + bias_hh`.
    bias: Vec<F>,
    /// `[weight_ih^T; weight_hh^T]` (`(IN + H) x 4H`) packed for the
    /// per-step forward product `[x_t | h_{t-1}] · W^T`.
    w_t: PackedB<F>,
    /// `weight_hh` (`4H x H`) packed for the per-step backward product.
    whh: PackedB<F>,
    /// `weight_ih` (`4H x IN`) packed for the gradient to the layer below.
    wih: PackedB<F>,
}

#[derive(Debug, Default, Clone)]
struct Workspace<F> {
    batch: usize,
    steps: usize,
    lengths: Vec<usize>,
    /// Number of parts of the current batch (`parts` may hold more).
    nparts: usize,
    parts: Vec<Part<F>>,
    shared: Vec<SharedLayer<F>>,
    /// The last forward pass started from a given state (not zeros).
    has_state0: bool,
    /// `[rows][H_top]` head input (rows = `T*B` or `B`).
    head_in: Vec<F>,
    head_mask: Vec<F>,
    /// `[rows][OUT]` head output.
    y: Vec<F>,
    /// `[rows][OUT]` loss gradient w.r.t. `y`.
    dy: Vec<F>,
    /// `[rows][H_top]` head-input gradient.
    dhead: Vec<F>,
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

/// Minimum multiply-adds of the LSTM layers per pass (`B * T * sum 4H(IN+H)`)
/// for a batch to be split between threads: below it the cost of starting
/// the threads outweighs the gain.
const PAR_MIN_MACS: usize = 2_000_000;
/// Minimum samples per part.
const PAR_MIN_BATCH: usize = 4;

/// Thread count from the environment: `LSTM_THREADS` if set to a positive
/// integer, else the available parallelism.
fn default_threads() -> usize {
    std::env::var("LSTM_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Runs `f` on every part: the first on the calling thread, the others on
/// scoped threads.
fn run_parts<F: Send, G: Fn(&mut Part<F>) + Sync>(parts: &mut [Part<F>], f: G) {
    match parts {
        [] => {}
        [one] => f(one),
        [first, rest @ ..] => std::thread::scope(|s| {
            let f = &f;
            for p in rest.iter_mut() {
                s.spawn(move || f(p));
            }
            f(first);
        }),
    }
}

/// Forward pass of all layers for one part.
fn forward_part<F: Scalar>(
    part: &mut Part<F>,
    shared: &[SharedLayer<F>],
    x: ArrayView3<'_, F>,
    state0: Option<&State<F>>,
    train: bool,
) {
    let Part {
        b0,
        bp,
        lengths,
        xt,
        layers,
        ..
    } = part;
    let (b0, bp) = (*b0, *bp);
    let (_, steps, nin) = x.dim();
    let tbp = bp * steps;

    // time-major input, zero past each sample's end
    for t in 0..steps {
        for (bl, &len) in lengths.iter().enumerate() {
            let r = (t * bp + bl) * nin;
            let dst = &mut xt[r..r + nin];
            if t < len {
                for (d, s) in dst.iter_mut().zip(x.slice(ndarray::s![b0 + bl, t, ..])) {
                    *d = *s;
                }
            } else {
                dst.fill(F::zero());
            }
        }
    }

    let nl = layers.len();
    for l in 0..nl {
        let sl = &shared[l];
        let (below, rest) = layers.split_at_mut(l);
        let cur = &mut rest[0];
        let h = cur.hidden;
        let g4 = 4 * h;
        let bh = bp * h;
        let (input, nx): (&[F], usize) = if l == 0 {
            (xt, nin)
        } else {
            let prev = &below[l - 1];
            let hp = prev.hidden;
            if train {
                (&prev.dropped, hp)
            } else {
                (&prev.h[bp * hp..], hp)
            }
        };
        match state0 {
            Some(s) => {
                let rows = ndarray::s![b0..b0 + bp, ..];
                for (d, v) in cur.h[..bh].iter_mut().zip(s.h[l].slice(rows).iter()) {
                    *d = *v;
                }
                for (d, v) in cur.c[..bh].iter_mut().zip(s.c[l].slice(rows).iter()) {
                    *d = *v;
                }
            }
            None => {
                cur.h[..bh].fill(F::zero());
                cur.c[..bh].fill(F::zero());
            }
        }
        for t in 0..steps {
            let (hp, hn) = cur.h.split_at_mut((t + 1) * bh);
            let hprev = &hp[t * bh..];
            let hnext = &mut hn[..bh];
            let (cp, cn) = cur.c.split_at_mut((t + 1) * bh);
            let cprev = &cp[t * bh..];
            let cnext = &mut cn[..bh];
            let gates_t = &mut cur.gates[t * bp * g4..(t + 1) * bp * g4];
            // gates = x_t · W_ih^T + h_{t-1} · W_hh^T (a zero initial state
            // contributes nothing)
            let xs = (&input[t * bp * nx..(t + 1) * bp * nx], nx, nx);
            let hs = if t > 0 || state0.is_some() {
                (&hprev[..bh], h, h)
            } else {
                (&hprev[..0], 0, 0)
            };
            gemm_packed2(bp, xs, hs, &sl.w_t, gates_t, g4, false);
            F::step_forward(
                StepDims {
                    batch: bp,
                    hidden: h,
                    t,
                },
                lengths,
                FwdStep {
                    gates: gates_t,
                    bias: &sl.bias[..g4],
                    h_prev: &hprev[..bh],
                    c_prev: &cprev[..bh],
                    h_next: hnext,
                    c_next: cnext,
                    tanh_c: &mut cur.tanh_c[t * bh..(t + 1) * bh],
                },
            );
        }
        if train && l + 1 < nl {
            let n = tbp * h;
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

/// Backward pass of all layers for one part: gate gradients and the part's
/// shares of the weight gradients. `dtop` is the head-input gradient,
/// `[B][H_top]` (last-step head) or `[T*B][H_top]` time-major (every step).
#[allow(clippy::too_many_arguments)]
fn backward_part<F: Scalar>(
    part: &mut Part<F>,
    shared: &[SharedLayer<F>],
    params: &Params<F>,
    head: HeadMode,
    dtop: &[F],
    batch: usize,
    steps: usize,
    train: bool,
) {
    let Part {
        b0,
        bp,
        lengths,
        xt,
        layers,
        dh_rec,
        dc,
        tn,
    } = part;
    let (b0, bp) = (*b0, *bp);
    let tbp = bp * steps;
    let nl = layers.len();
    {
        let top = &mut layers[nl - 1];
        let ht = top.hidden;
        match head {
            HeadMode::EveryStep => {
                for t in 0..steps {
                    let src = (t * batch + b0) * ht;
                    top.dh[t * bp * ht..(t + 1) * bp * ht]
                        .copy_from_slice(&dtop[src..src + bp * ht]);
                }
            }
            HeadMode::LastStep => {
                top.dh[..tbp * ht].fill(F::zero());
                for (bl, &len) in lengths.iter().enumerate() {
                    let r = ((len - 1) * bp + bl) * ht;
                    let src = (b0 + bl) * ht;
                    top.dh[r..r + ht].copy_from_slice(&dtop[src..src + ht]);
                }
            }
        }
    }

    for l in (0..nl).rev() {
        let p = &params.layers[l];
        let sl = &shared[l];
        let (below, rest) = layers.split_at_mut(l);
        let cur = &mut rest[0];
        let h = cur.hidden;
        let g4 = 4 * h;
        let bh = bp * h;
        let dc = &mut dc[..bh];
        let dh_rec = &mut dh_rec[..bh];
        dc.fill(F::zero());
        dh_rec.fill(F::zero());
        for t in (0..steps).rev() {
            let gates_t = &mut cur.gates[t * bp * g4..(t + 1) * bp * g4];
            F::step_backward(
                StepDims {
                    batch: bp,
                    hidden: h,
                    t,
                },
                lengths,
                BwdStep {
                    gates: gates_t,
                    dh_out: &cur.dh[t * bh..(t + 1) * bh],
                    dh_rec,
                    dc,
                    c_prev: &cur.c[t * bh..(t + 1) * bh],
                    tanh_c: &cur.tanh_c[t * bh..(t + 1) * bh],
                },
            );
            if t > 0 {
                gemm_packed(bp, gates_t, g4, &sl.whh, dh_rec, h, false);
            }
        }
        // weight gradients: one product over all of the part's steps,
        // `[h_{t-1} | x_t]^T · dG` (a zero initial state in block 0 of `h`
        // adds exact zeros), and the bias gradient as the column sums of dG
        {
            let nin = p.weight_ih.ncols();
            let input: &[F] = if l == 0 {
                xt
            } else {
                let prev = &below[l - 1];
                if train {
                    &prev.dropped
                } else {
                    &prev.h[bp * prev.hidden..]
                }
            };
            let segs = [
                TnSeg {
                    a: &cur.h[..tbp * h],
                    lda: h,
                    m: h,
                },
                TnSeg {
                    a: &input[..tbp * nin],
                    lda: nin,
                    m: nin,
                },
            ];
            gemm_tn(
                tbp,
                &segs,
                &cur.gates[..tbp * g4],
                g4,
                g4,
                &mut cur.dw_t,
                tn,
            );
        }
        if l > 0 {
            let prev = &mut below[l - 1];
            let hp = prev.hidden;
            gemm_rows(tbp, &cur.gates, g4, &sl.wih, &mut prev.dh, hp);
            if train {
                for (d, m) in prev.dh[..tbp * hp].iter_mut().zip(&prev.mask[..tbp * hp]) {
                    *d = *d * *m;
                }
            }
        }
    }
}

/// Rows of a large product per call of [`gemm_packed`] (the `C` rows of a
/// chunk stay in cache while the column panels pass over them).
const ROW_CHUNK: usize = 48;

/// `C = A · B` for `m` rows (`A` stride `lda`, `C` stride `b.n()`), in
/// chunks of [`ROW_CHUNK`] rows.
fn gemm_rows<F: Scalar>(m: usize, a: &[F], lda: usize, b: &PackedB<F>, c: &mut [F], ldc: usize) {
    let mut i = 0;
    while i < m {
        let rows = ROW_CHUNK.min(m - i);
        gemm_packed(rows, &a[i * lda..], lda, b, &mut c[i * ldc..], ldc, false);
        i += rows;
    }
}

/// Writes the sum over `parts` (in order) of the transposed rows
/// `row0..row0 + dst.ncols()` of the `[..][dst.nrows()]` buffer `sel`
/// selects into `dst`.
fn sum_parts_t<F: Scalar>(
    dst: &mut Array2<F>,
    row0: usize,
    parts: &[Part<F>],
    sel: impl Fn(&Part<F>) -> &[F],
) {
    let (first, rest) = parts.split_first().expect("at least one part");
    let n = dst.nrows();
    let f = sel(first);
    for ((j, i), d) in dst.indexed_iter_mut() {
        let idx = (row0 + i) * n + j;
        let mut s = f[idx];
        for p in rest {
            s = s + sel(p)[idx];
        }
        *d = s;
    }
}

/// Writes the sum over `parts` (in order) of the buffer `sel` selects into
/// `dst` (iterated in logical row-major order).
fn sum_parts<'a, F: Scalar + 'a>(
    dst: impl Iterator<Item = &'a mut F>,
    parts: &[Part<F>],
    sel: impl Fn(&Part<F>) -> &[F],
) {
    let (first, rest) = parts.split_first().expect("at least one part");
    for (i, (d, v)) in dst.zip(sel(first)).enumerate() {
        let mut s = *v;
        for p in rest {
            s = s + sel(p)[i];
        }
        *d = s;
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
        let shared = config
            .hidden_sizes
            .iter()
            .map(|_| SharedLayer::default())
            .collect();
        Ok(Network {
            config,
            threads: default_threads(),
            ws: Workspace {
                shared,
                ..Workspace::default()
            },
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

    /// Number of parts a batch of `bsz` samples and `steps` steps is split
    /// into.
    fn parts_for(&self, bsz: usize, steps: usize) -> usize {
        if self.threads <= 1 {
            return 1;
        }
        let per_sample_step: usize = (0..self.config.num_layers())
            .map(|l| {
                let h = self.config.hidden_sizes[l];
                4 * h * (h + self.config.layer_input_size(l))
            })
            .sum();
        if bsz.saturating_mul(steps).saturating_mul(per_sample_step) < PAR_MIN_MACS {
            return 1;
        }
        self.threads.min(bsz / PAR_MIN_BATCH).max(1)
    }

    /// Number of head-output rows for the current batch.
    fn head_rows(&self) -> usize {
        match self.config.head {
            HeadMode::EveryStep => self.ws.steps * self.ws.batch,
            HeadMode::LastStep => self.ws.batch,
        }
    }

    /// Sizes the buffers for a batch; `ws.lengths` must be set.
    fn prepare(&mut self, batch: usize, steps: usize, train: bool, nparts: usize) {
        let cfg = &self.config;
        let ws = &mut self.ws;
        ws.batch = batch;
        ws.steps = steps;
        ws.nparts = nparts;
        let nl = cfg.num_layers();
        let hmax = cfg.hidden_sizes.iter().copied().max().unwrap_or(0);
        if ws.parts.len() < nparts {
            ws.parts.resize_with(nparts, || Part {
                layers: cfg
                    .hidden_sizes
                    .iter()
                    .map(|&h| PartLayer {
                        hidden: h,
                        ..PartLayer::default()
                    })
                    .collect(),
                ..Part::default()
            });
        }
        for (p, part) in ws.parts[..nparts].iter_mut().enumerate() {
            let b0 = p * batch / nparts;
            let b1 = (p + 1) * batch / nparts;
            let bp = b1 - b0;
            let tbp = bp * steps;
            part.b0 = b0;
            part.bp = bp;
            part.lengths.clear();
            part.lengths.extend_from_slice(&ws.lengths[b0..b1]);
            grow(&mut part.xt, tbp * cfg.input_size);
            for (l, lw) in part.layers.iter_mut().enumerate() {
                let h = lw.hidden;
                let inp = cfg.layer_input_size(l);
                grow(&mut lw.gates, tbp * 4 * h);
                grow(&mut lw.h, (tbp + bp) * h);
                grow(&mut lw.c, (tbp + bp) * h);
                grow(&mut lw.tanh_c, tbp * h);
                grow(&mut lw.dh, tbp * h);
                grow(&mut lw.dw_t, 4 * h * (h + inp + 1));
                if train && l + 1 < nl {
                    grow(&mut lw.mask, tbp * h);
                    grow(&mut lw.dropped, tbp * h);
                }
            }
            grow(&mut part.dh_rec, bp * hmax);
            grow(&mut part.dc, bp * hmax);
        }
        for (sl, &h) in ws.shared.iter_mut().zip(&cfg.hidden_sizes) {
            grow(&mut sl.bias, 4 * h);
        }
        let rows = match cfg.head {
            HeadMode::EveryStep => batch * steps,
            HeadMode::LastStep => batch,
        };
        let ht = cfg.top_hidden();
        grow(&mut ws.head_in, rows * ht);
        if train {
            grow(&mut ws.head_mask, rows * ht);
        }
        grow(&mut ws.y, rows * cfg.output_size);
        grow(&mut ws.dy, rows * cfg.output_size);
        grow(&mut ws.dhead, rows * ht);
    }

    /// Part index and index within the part of sample `b`.
    fn locate(&self, b: usize) -> (usize, usize) {
        let parts = &self.ws.parts[..self.ws.nparts];
        let p = parts
            .iter()
            .rposition(|part| part.b0 <= b)
            .expect("sample in the batch");
        (p, b - parts[p].b0)
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
        self.ws.lengths.clear();
        match batch.lengths {
            Some(l) => self.ws.lengths.extend_from_slice(l),
            None => self.ws.lengths.resize(bsz, steps),
        }
        let nparts = self.parts_for(bsz, steps);
        self.prepare(bsz, steps, train, nparts);
        let cfg = &self.config;
        let ws = &mut self.ws;
        ws.train = train;
        ws.has_state0 = batch.state0.is_some();
        let tb = bsz * steps;
        let nl = cfg.num_layers();

        for (sl, p) in ws.shared.iter_mut().zip(&params.layers) {
            for ((d, a), b) in sl.bias.iter_mut().zip(&p.bias_ih).zip(&p.bias_hh) {
                *d = *a + *b;
            }
            sl.w_t.pack_stacked(&[p.weight_ih.t(), p.weight_hh.t()]);
        }
        // dropout masks between stacked layers, drawn layer by layer in
        // time-major order (independent of the split into parts)
        if let Some(r) = rng.as_deref_mut() {
            for l in 0..nl - 1 {
                let h = cfg.hidden_sizes[l];
                for t in 0..steps {
                    for part in ws.parts[..nparts].iter_mut() {
                        let n = part.bp * h;
                        fill_mask(&mut part.layers[l].mask[t * n..(t + 1) * n], dropout, r);
                    }
                }
            }
        }
        {
            let shared = &ws.shared;
            let (x, state0) = (batch.x, batch.state0);
            run_parts(&mut ws.parts[..nparts], |part| {
                forward_part(part, shared, x, state0, train)
            });
        }

        // head
        let ht = cfg.top_hidden();
        let out = cfg.output_size;
        let parts = &ws.parts[..nparts];
        let rows = match cfg.head {
            HeadMode::EveryStep => {
                for part in parts {
                    let (b0, bp) = (part.b0, part.bp);
                    let th = &part.layers[nl - 1].h;
                    for t in 0..steps {
                        let dst = (t * bsz + b0) * ht;
                        let src = (t + 1) * bp * ht;
                        ws.head_in[dst..dst + bp * ht].copy_from_slice(&th[src..src + bp * ht]);
                    }
                }
                tb
            }
            HeadMode::LastStep => {
                for part in parts {
                    let th = &part.layers[nl - 1].h;
                    for (bl, &len) in part.lengths.iter().enumerate() {
                        let src = (len * part.bp + bl) * ht;
                        let dst = (part.b0 + bl) * ht;
                        ws.head_in[dst..dst + ht].copy_from_slice(&th[src..src + ht]);
                    }
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
        let h = self.config.top_hidden();
        let top = self.config.num_layers() - 1;
        let mut res = Array3::zeros((bsz, steps, h));
        for b in 0..bsz {
            let (p, bl) = self.locate(b);
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
    /// own last step.
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
                st.c[l].slice_mut(rows).assign(&mat(&lw.c[off..], bp, h));
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
        let nl = cfg.num_layers();
        let ht = cfg.top_hidden();
        let nparts = ws.nparts;

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
            let mut dhd = mat_mut(&mut ws.dhead, rows, ht);
            general_mat_mul(F::one(), &dy, &params.dense.weight, F::zero(), &mut dhd);
            if ws.train {
                for (d, m) in ws.dhead[..rows * ht]
                    .iter_mut()
                    .zip(&ws.head_mask[..rows * ht])
                {
                    *d = *d * *m;
                }
            }
        }

        for (l, (sl, p)) in ws.shared.iter_mut().zip(&params.layers).enumerate() {
            sl.whh.pack(p.weight_hh.view());
            if l > 0 {
                sl.wih.pack(p.weight_ih.view());
            }
        }
        {
            let shared = &ws.shared;
            let dtop = &ws.dhead[..rows * ht];
            let (head, train) = (cfg.head, ws.train);
            run_parts(&mut ws.parts[..nparts], |part| {
                backward_part(part, shared, params, head, dtop, bsz, steps, train)
            });
        }

        let parts = &ws.parts[..nparts];
        for (l, g) in grads.layers.iter_mut().enumerate().take(nl) {
            let h = cfg.hidden_sizes[l];
            sum_parts_t(&mut g.weight_hh, 0, parts, |p| &p.layers[l].dw_t);
            sum_parts_t(&mut g.weight_ih, h, parts, |p| &p.layers[l].dw_t);
            let brow = 4 * h * (h + cfg.layer_input_size(l));
            sum_parts(g.bias_ih.iter_mut(), parts, |p| &p.layers[l].dw_t[brow..]);
            g.bias_hh.assign(&g.bias_ih);
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

#[cfg(test)]
mod tests {
    use super::*;
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

    fn run(threads: usize, head: HeadMode) -> (Run, usize) {
        let cfg = NetConfig {
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
        for head in [HeadMode::LastStep, HeadMode::EveryStep] {
            let (one, p1) = run(1, head);
            assert_eq!(p1, 1);
            for threads in [2, 3] {
                let (many, p) = run(threads, head);
                assert_eq!(p, threads, "batch is split");
                assert_eq!(one.y, many.y);
                assert_eq!(one.hidden, many.hidden);
                assert_eq!(one.state, many.state);
                assert_eq!(one.loss, many.loss);
                for (a, b) in one.grads.flatten().iter().zip(many.grads.flatten()) {
                    assert!((a - b).abs() <= 1e-5 * (1.0 + a.abs()), "{a} vs {b}");
                }
                let (again, _) = run(threads, head);
                assert_eq!(again.grads, many.grads, "deterministic");
            }
        }
    }
}
