//! The network's preallocated buffers and how a batch is split between
//! threads: per-part buffers ([`Part`]), the [`Workspace`] that owns
//! them and grows to the largest batch seen, and the helpers that run the
//! parts on threads and add up their weight-gradient shares.

use ndarray::{Array2, ArrayView2, ArrayViewMut2};
use rand::RngCore;

use crate::net::cell::PackedLayer;
use crate::net::gemm::TnScratch;
use crate::net::{HeadMode, NetConfig, Scalar};

/// Buffers of one layer for one batch part. Time-major within the part:
/// row `t * Bp + b` for the part's `Bp` samples.
#[derive(Debug, Default, Clone)]
pub(super) struct PartLayer<F> {
    pub(super) hidden: usize,
    /// `[T*Bp][4H]`: what the cell's forward step leaves for its backward
    /// step, then the gradients of the gate products (see `cell::step`).
    pub(super) gates: Vec<F>,
    /// `[(T+1)*Bp][H]`: `h_{t-1}` at block `t` (block 0 = initial state).
    pub(super) h: Vec<F>,
    /// `[(T+1)*Bp][H]`: cell states, same layout as `h` (LSTM; empty for
    /// the GRU).
    pub(super) c: Vec<F>,
    /// `[T*Bp][H]`: `tanh(c_t)` (LSTM).
    pub(super) tanh_c: Vec<F>,
    /// `[T*Bp][H]`: dropout mask on the output (non-top layers, training).
    pub(super) mask: Vec<F>,
    /// `[T*Bp][H]`: masked output, input of the next layer (training).
    pub(super) dropped: Vec<F>,
    /// `[T*Bp][H]`: gradient arriving at the outputs `h_t` from above.
    pub(super) dh: Vec<F>,
    /// `[H + IN + 1][4H]`: this part's share of `[h_{t-1} | x_t | 1]ᵀ · dG`,
    /// the transposed weight gradients: `weight_hh` (rows `0..H`),
    /// `weight_ih` (rows `H..H + IN`), then the bias gradient (last row), in
    /// the columns of the gate buffer (`CellKind::hh_column`).
    pub(super) dw_t: Vec<F>,
}

/// A contiguous range of samples `b0..b0+bp` of the batch with its own
/// buffers. The recurrences of different samples are independent, so the
/// parts of a batch are processed independently, on their own threads when
/// the network has more than one; the weight gradients are the sums of the
/// parts' shares, added in part order.
#[derive(Debug, Default, Clone)]
pub(super) struct Part<F> {
    pub(super) b0: usize,
    pub(super) bp: usize,
    /// Lengths of the part's samples.
    pub(super) lengths: Vec<usize>,
    /// `[T*Bp][IN]` time-major input, zero past each length.
    pub(super) xt: Vec<F>,
    pub(super) layers: Vec<PartLayer<F>>,
    /// `[Bp][H]` recurrent gradient `dL/dh_{t}` from step `t + 1`.
    pub(super) dh_rec: Vec<F>,
    /// `[Bp][H]` `dL/dc_t`.
    pub(super) dc: Vec<F>,
    /// Packing buffers of the weight-gradient products.
    pub(super) tn: TnScratch<F>,
    /// `[Bp][G·H]` gate pre-activations of one step (observed passes only).
    pub(super) pre: Vec<F>,
}

/// All buffers of a [`super::Network`], reused from pass to pass.
#[derive(Debug, Default, Clone)]
pub(super) struct Workspace<F> {
    pub(super) batch: usize,
    pub(super) steps: usize,
    pub(super) lengths: Vec<usize>,
    /// Number of parts of the current batch (`parts` may hold more).
    pub(super) nparts: usize,
    pub(super) parts: Vec<Part<F>>,
    /// Per-layer weights as the products use them, shared by all parts.
    pub(super) shared: Vec<PackedLayer<F>>,
    /// The last forward pass started from a given state (not zeros).
    pub(super) has_state0: bool,
    /// `[rows][H_top]` head input (rows = `T*B` or `B`).
    pub(super) head_in: Vec<F>,
    pub(super) head_mask: Vec<F>,
    /// `[rows][OUT]` head output.
    pub(super) y: Vec<F>,
    /// `[rows][OUT]` loss gradient w.r.t. `y`.
    pub(super) dy: Vec<F>,
    /// `[rows][H_top]` head-input gradient.
    pub(super) dhead: Vec<F>,
    /// Whether the last forward pass used dropout.
    pub(super) train: bool,
    /// A forward pass has been run (outputs valid).
    pub(super) have_forward: bool,
    /// The forward cache is intact (backward possible).
    pub(super) cache_intact: bool,
}

pub(super) fn grow<F: Scalar>(v: &mut Vec<F>, n: usize) {
    if v.len() < n {
        v.resize(n, F::zero());
    }
}

pub(super) fn mat<F>(v: &[F], rows: usize, cols: usize) -> ArrayView2<'_, F> {
    ArrayView2::from_shape((rows, cols), &v[..rows * cols])
        .expect("workspace buffer sized by prepare")
}

pub(super) fn mat_mut<F>(v: &mut [F], rows: usize, cols: usize) -> ArrayViewMut2<'_, F> {
    ArrayViewMut2::from_shape((rows, cols), &mut v[..rows * cols])
        .expect("workspace buffer sized by prepare")
}

pub(super) fn fill_mask<F: Scalar>(mask: &mut [F], rate: f32, rng: &mut dyn RngCore) {
    let scale = F::of(1.0 / (1.0 - rate as f64));
    for m in mask.iter_mut() {
        let u = (rng.next_u32() >> 8) as f32 * (1.0 / 16_777_216.0);
        *m = if u < rate { F::zero() } else { scale };
    }
}

/// Minimum multiply-adds of the recurrent layers per pass (about
/// `B * T * sum 4H(IN+H)`)
/// for a batch to be split between threads: below it the cost of starting
/// the threads outweighs the gain.
const PAR_MIN_MACS: usize = 2_000_000;
/// Minimum samples per part.
const PAR_MIN_BATCH: usize = 4;

/// Thread count from the environment: `LSTM_THREADS` if set to a positive
/// integer, else the available parallelism.
pub(super) fn default_threads() -> usize {
    std::env::var("LSTM_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Runs `f` on every part: the first on the calling thread, the others on
/// scoped threads.
pub(super) fn run_parts<F: Send, G: Fn(&mut Part<F>) + Sync>(parts: &mut [Part<F>], f: G) {
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

/// Number of parts a batch of `bsz` samples and `steps` steps is split
/// into on at most `threads` threads.
pub(super) fn parts_for(cfg: &NetConfig, threads: usize, bsz: usize, steps: usize) -> usize {
    if threads <= 1 {
        return 1;
    }
    let per_sample_step: usize = (0..cfg.num_layers())
        .map(|l| {
            let h = cfg.hidden_sizes[l];
            4 * h * (h + cfg.layer_input_size(l))
        })
        .sum();
    if bsz.saturating_mul(steps).saturating_mul(per_sample_step) < PAR_MIN_MACS {
        return 1;
    }
    threads.min(bsz / PAR_MIN_BATCH).max(1)
}

impl<F: Scalar> Workspace<F> {
    /// An empty workspace for `cfg`.
    pub(super) fn new(cfg: &NetConfig) -> Self {
        Workspace {
            shared: cfg
                .hidden_sizes
                .iter()
                .map(|_| PackedLayer::default())
                .collect(),
            ..Workspace::default()
        }
    }

    /// Number of head-output rows for the current batch.
    pub(super) fn head_rows(&self, head: HeadMode) -> usize {
        match head {
            HeadMode::EveryStep => self.steps * self.batch,
            HeadMode::LastStep => self.batch,
        }
    }

    /// Part index and index within the part of sample `b`.
    pub(super) fn locate(&self, b: usize) -> (usize, usize) {
        let parts = &self.parts[..self.nparts];
        let p = parts
            .iter()
            .rposition(|part| part.b0 <= b)
            .expect("sample in the batch");
        (p, b - parts[p].b0)
    }

    /// Sizes the buffers for a batch of `nparts` parts; `lengths` must be
    /// set.
    pub(super) fn prepare(
        &mut self,
        cfg: &NetConfig,
        batch: usize,
        steps: usize,
        train: bool,
        nparts: usize,
    ) {
        let ws = self;
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
                if cfg.cell.has_cell_state() {
                    grow(&mut lw.c, (tbp + bp) * h);
                    grow(&mut lw.tanh_c, tbp * h);
                }
                grow(&mut lw.dh, tbp * h);
                grow(&mut lw.dw_t, 4 * h * (h + inp + 1));
                if train && l + 1 < nl {
                    grow(&mut lw.mask, tbp * h);
                    grow(&mut lw.dropped, tbp * h);
                }
            }
            grow(&mut part.dh_rec, bp * hmax);
            if cfg.cell.has_cell_state() {
                grow(&mut part.dc, bp * hmax);
            }
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
}

/// Writes into `dst` (`[rows][cols]`) the sum over `parts` (in order) of
/// the transposed block of layer `l`'s weight-gradient shares (`[..][ld]`):
/// `dst[i][j]` is the sum of `dw_t[row0 + j][col(i)]`.
pub(super) fn sum_parts_t<F: Scalar>(
    dst: &mut Array2<F>,
    (row0, ld): (usize, usize),
    col: impl Fn(usize) -> usize,
    parts: &[Part<F>],
    l: usize,
) {
    sum_parts(
        dst.indexed_iter_mut(),
        |(i, j)| (row0 + j) * ld + col(i),
        parts,
        l,
    );
}

/// Writes into each element `(key, dst)` of `dst` the sum over `parts` (in
/// order) of the value at `idx(key)` of layer `l`'s weight-gradient shares.
pub(super) fn sum_parts<'a, F: Scalar + 'a, K>(
    dst: impl Iterator<Item = (K, &'a mut F)>,
    idx: impl Fn(K) -> usize,
    parts: &[Part<F>],
    l: usize,
) {
    let (first, rest) = parts.split_first().expect("at least one part");
    for (key, d) in dst {
        let k = idx(key);
        let mut s = first.layers[l].dw_t[k];
        for p in rest {
            s = s + p.layers[l].dw_t[k];
        }
        *d = s;
    }
}
