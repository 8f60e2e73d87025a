//! The GRU cell against an independent `f64` implementation of PyTorch's
//! `nn.GRU` equations, Q4.12 against `f32`, the batched path against the
//! portable one (bit for bit), and a mixed GRU-over-LSTM stack.

use lstm_core::gru::{step_batched, step_portable};
use lstm_core::{
    Activation, Dense, DenseWeights, Exact, Fast, Gru, GruState, GruWeights, Layer, Lstm,
    LstmWeights, Scalar, Stack, Q16_16, Q4_12,
};
use proptest::prelude::*;

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// PyTorch's GRU step in `f64`, from unfolded biases `b_ih`, `b_hh` (`[3H]`).
fn reference_step(
    w_ih: &[f64],
    w_hh: &[f64],
    b_ih: &[f64],
    b_hh: &[f64],
    x: &[f64],
    h: &[f64],
) -> Vec<f64> {
    let (i, hn) = (x.len(), h.len());
    let wx = |r: usize| -> f64 { (0..i).map(|k| w_ih[r * i + k] * x[k]).sum::<f64>() + b_ih[r] };
    let wh = |r: usize| -> f64 { (0..hn).map(|k| w_hh[r * hn + k] * h[k]).sum::<f64>() + b_hh[r] };
    (0..hn)
        .map(|j| {
            let r = sigmoid(wx(j) + wh(j));
            let z = sigmoid(wx(hn + j) + wh(hn + j));
            let n = (wx(2 * hn + j) + r * wh(2 * hn + j)).tanh();
            (1.0 - z) * n + z * h[j]
        })
        .collect()
}

/// The core layout of the bias: `[b_ir + b_hr, b_iz + b_hz, b_in, b_hn]`.
fn fold(b_ih: &[f64], b_hh: &[f64]) -> Vec<f64> {
    let h = b_ih.len() / 3;
    let mut out: Vec<f64> = (0..2 * h).map(|k| b_ih[k] + b_hh[k]).collect();
    out.extend_from_slice(&b_ih[2 * h..]);
    out.extend_from_slice(&b_hh[2 * h..]);
    out
}

/// Deterministic pseudo-random values in `[-scale, scale)`.
fn values(n: usize, seed: u64, scale: f64) -> Vec<f64> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * scale
        })
        .collect()
}

fn leak<T: Scalar, const N: usize>(v: &[f64]) -> &'static [T; N] {
    let a: [T; N] = core::array::from_fn(|k| T::from_f32(v[k] as f32));
    Box::leak(Box::new(a))
}

fn leak3<T: Scalar, const G: usize, const R: usize, const C: usize>(
    v: &[f64],
) -> &'static [[[T; C]; R]; G] {
    let a: [[[T; C]; R]; G] = core::array::from_fn(|g| {
        core::array::from_fn(|r| {
            core::array::from_fn(|c| T::from_f32(v[(g * R + r) * C + c] as f32))
        })
    });
    Box::leak(Box::new(a))
}

fn leak2<T: Scalar, const R: usize, const C: usize>(v: &[f64]) -> &'static [[T; C]; R] {
    let a: [[T; C]; R] =
        core::array::from_fn(|r| core::array::from_fn(|c| T::from_f32(v[r * C + c] as f32)));
    Box::leak(Box::new(a))
}

const IN: usize = 3;
const H: usize = 8;

struct Case {
    w_ih: Vec<f64>,
    w_hh: Vec<f64>,
    b_ih: Vec<f64>,
    b_hh: Vec<f64>,
    xs: Vec<Vec<f64>>,
}

fn case(seed: u64) -> Case {
    Case {
        w_ih: values(3 * H * IN, seed, 0.6),
        w_hh: values(3 * H * H, seed + 1, 0.4),
        b_ih: values(3 * H, seed + 2, 0.3),
        b_hh: values(3 * H, seed + 3, 0.3),
        xs: (0..30).map(|t| values(IN, seed + 100 + t, 1.5)).collect(),
    }
}

fn gru<T: Scalar, A: Activation<T>>(c: &Case) -> Gru<'static, T, A, IN, H> {
    let bias = fold(&c.b_ih, &c.b_hh);
    Gru::new(GruWeights {
        w_ih: leak3::<T, 3, H, IN>(&c.w_ih),
        w_hh: leak3::<T, 3, H, H>(&c.w_hh),
        bias: leak2::<T, 4, H>(&bias),
    })
}

/// Max |error| over all steps and units of `T`/`A` against the `f64` reference.
fn max_error<T: Scalar, A: Activation<T>>(c: &Case) -> f64 {
    let layer = gru::<T, A>(c);
    let mut state: GruState<T, H> = layer.zero_state();
    let mut h_ref = vec![0.0; H];
    let mut max = 0.0f64;
    for x in &c.xs {
        h_ref = reference_step(&c.w_ih, &c.w_hh, &c.b_ih, &c.b_hh, x, &h_ref);
        let xt: [T; IN] = core::array::from_fn(|k| T::from_f32(x[k] as f32));
        let h = layer.step(&mut state, &xt);
        for (a, b) in h.iter().zip(&h_ref) {
            max = max.max((f64::from(a.to_f32()) - b).abs());
        }
    }
    max
}

#[test]
fn gru_matches_pytorch_equations_in_f32() {
    for seed in [1, 7, 42] {
        let c = case(seed);
        let e = max_error::<f32, Exact>(&c);
        assert!(e < 2e-6, "seed {seed}: f32 exact max |error| {e:.3e}");
        let e = max_error::<f32, Fast>(&c);
        assert!(e < 2e-3, "seed {seed}: f32 fast max |error| {e:.3e}");
    }
}

/// Q4.12 tracks `f32` within 2e-3 over 30 steps (rounding to 2.44e-4 per
/// stored value; the GRU's convex blend keeps errors from growing).
#[test]
fn gru_q4_12_matches_f32_within_bound() {
    const BOUND: f64 = 2e-3;
    for seed in [1, 7, 42] {
        let c = case(seed);
        for (name, e) in [
            ("q4.12/exact", max_error::<Q4_12, Exact>(&c)),
            ("q4.12/fast", max_error::<Q4_12, Fast>(&c)),
            ("q16.16/exact", max_error::<Q16_16, Exact>(&c)),
        ] {
            assert!(
                e < BOUND,
                "seed {seed}, {name}: max |error| {e:.3e} > {BOUND:.1e}"
            );
        }
        // And directly against f32, step by step.
        let (a, b) = (gru::<f32, Exact>(&c), gru::<Q4_12, Exact>(&c));
        let (mut sa, mut sb) = (a.zero_state(), b.zero_state());
        for x in &c.xs {
            let ha = a.step(&mut sa, &core::array::from_fn(|k| x[k] as f32));
            let hb = b.step(
                &mut sb,
                &core::array::from_fn(|k| Q4_12::from_f32(x[k] as f32)),
            );
            for (p, q) in ha.iter().zip(&hb) {
                assert!((p - q.to_f32()).abs() < BOUND as f32, "{p} vs {q}");
            }
        }
    }
}

/// A GRU layer's state is `h` alone: no cell state, and no wide state in Q4.12.
#[test]
fn gru_state_is_h_only() {
    assert_eq!(
        core::mem::size_of::<GruState<Q4_12, H>>(),
        core::mem::size_of::<[Q4_12; H]>()
    );
}

fn check_paths<T: Scalar, A: Activation<T>>(
    w: &[f32],
    h: usize,
    inp: usize,
    x: &[f32],
    hp: &[f32],
) {
    let conv = |v: &[f32]| v.iter().map(|&v| T::from_f32(v)).collect::<Vec<T>>();
    let w_ih = conv(&w[..3 * h * inp]);
    let w_hh = conv(&w[3 * h * inp..3 * h * (inp + h)]);
    let bias = conv(&w[3 * h * (inp + h)..3 * h * (inp + h) + 4 * h]);
    let (x, hp) = (conv(&x[..inp]), conv(&hp[..h]));
    let mut a = vec![T::ZERO; h];
    let mut b = vec![T::ONE; h];
    step_portable::<T, A>(&w_ih, &w_hh, &bias, &x, &hp, &mut a);
    step_batched::<T, A>(&w_ih, &w_hh, &bias, &x, &hp, &mut b);
    assert_eq!(a, b, "{} H={h} IN={inp}", T::FORMAT);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    /// The batched path (chunks of 32 units, `gate_rows` per gate block, the
    /// candidate's two parts as separate rows) equals the portable one bit
    /// for bit, including past one chunk.
    #[test]
    fn batched_equals_portable(
        h in prop::sample::select(vec![1usize, 2, 5, 31, 32, 33, 40, 70]),
        inp in 0usize..4,
        w in proptest::collection::vec(-3f32..3.0, 3 * 70 * 74 + 4 * 70),
        x in proptest::collection::vec(-4f32..4.0, 4),
        hp in proptest::collection::vec(-1.2f32..1.2, 70),
    ) {
        check_paths::<f32, Exact>(&w, h, inp, &x, &hp);
        check_paths::<f32, Fast>(&w, h, inp, &x, &hp);
        check_paths::<Q4_12, Exact>(&w, h, inp, &x, &hp);
        check_paths::<Q4_12, Fast>(&w, h, inp, &x, &hp);
        check_paths::<Q16_16, Exact>(&w, h, inp, &x, &hp);
        check_paths::<Q16_16, Fast>(&w, h, inp, &x, &hp);
    }
}

/// A GRU layer over an LSTM layer in the const-generic `Stack`, against
/// hand-computed `f64` (the LSTM from PyTorch's equations too).
#[test]
fn mixed_stack_gru_over_lstm() {
    const H1: usize = 4;
    let lw_ih = values(4 * H1 * IN, 11, 0.5);
    let lw_hh = values(4 * H1 * H1, 12, 0.5);
    let lb = values(4 * H1, 13, 0.2);
    let c = case(5);
    let dw = values(2 * H, 14, 0.5);
    let db = values(2, 15, 0.1);
    // The GRU's input is the LSTM's 4 units, not IN = 3 inputs.
    let gw_ih = values(3 * H * H1, 16, 0.6);
    let bias = fold(&c.b_ih, &c.b_hh);
    type M<'a> = Stack<
        Stack<Lstm<'a, f32, Exact, IN, H1>, Gru<'a, f32, Exact, H1, H>, H1>,
        Dense<'a, f32, H, 2>,
        H,
    >;
    let model: M = Stack::new(
        Stack::new(
            Lstm::new(LstmWeights {
                w_ih: leak3::<f32, 4, H1, IN>(&lw_ih),
                w_hh: leak3::<f32, 4, H1, H1>(&lw_hh),
                bias: leak2::<f32, 4, H1>(&lb),
            }),
            Gru::new(GruWeights {
                w_ih: leak3::<f32, 3, H, H1>(&gw_ih),
                w_hh: leak3::<f32, 3, H, H>(&c.w_hh),
                bias: leak2::<f32, 4, H>(&bias),
            }),
        ),
        Dense::new(DenseWeights {
            w: leak2::<f32, 2, H>(&dw),
            b: leak::<f32, 2>(&db),
        }),
    );
    let mut state = model.zero_state();
    let (mut h1, mut c1, mut h2) = (vec![0.0; H1], vec![0.0; H1], vec![0.0; H]);
    for x in &c.xs {
        // LSTM (i, f, g, o), folded bias.
        let pre = |r: usize, h1: &[f64]| -> f64 {
            lb[r]
                + (0..IN).map(|k| lw_ih[r * IN + k] * x[k]).sum::<f64>()
                + (0..H1).map(|k| lw_hh[r * H1 + k] * h1[k]).sum::<f64>()
        };
        let mut new_h1 = vec![0.0; H1];
        for j in 0..H1 {
            let i = sigmoid(pre(j, &h1));
            let f = sigmoid(pre(H1 + j, &h1));
            let g = pre(2 * H1 + j, &h1).tanh();
            let o = sigmoid(pre(3 * H1 + j, &h1));
            c1[j] = f * c1[j] + i * g;
            new_h1[j] = o * c1[j].tanh();
        }
        h1 = new_h1;
        h2 = reference_step(&gw_ih, &c.w_hh, &c.b_ih, &c.b_hh, &h1, &h2);
        let y_ref: Vec<f64> = (0..2)
            .map(|o| db[o] + (0..H).map(|k| dw[o * H + k] * h2[k]).sum::<f64>())
            .collect();
        let y = model.step(&mut state, &core::array::from_fn(|k| x[k] as f32));
        for (a, b) in y.iter().zip(&y_ref) {
            assert!((f64::from(*a) - b).abs() < 1e-5, "{a} vs {b}");
        }
        // The stack's state: the LSTM's (h, c), then the GRU's h alone.
        let ((lstm, gru), ()) = state;
        assert!((f64::from(lstm.c[0]) - c1[0]).abs() < 1e-5);
        assert!((f64::from(gru.h[H - 1]) - h2[H - 1]).abs() < 1e-5);
    }
}

/// `CellKind::gates` (what the file format sizes layers by) agrees with each
/// cell's `Cell::GATES` (what the typed layers are built with).
#[test]
fn cell_kind_gates_match_the_cells() {
    use lstm_core::{Cell, CellKind, GruCell, LstmCell};
    assert_eq!(CellKind::Lstm.gates(), LstmCell::GATES);
    assert_eq!(CellKind::Gru.gates(), GruCell::GATES);
    assert_eq!(LstmCell::KIND, CellKind::Lstm);
    assert_eq!(GruCell::KIND, CellKind::Gru);
}
