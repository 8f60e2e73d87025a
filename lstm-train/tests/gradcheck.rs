//! Finite-difference gradient checks (f64, central differences with step
//! 1e-5) of every parameter on small random shapes (IN 2, H 3-4, 2 layers,
//! OUT 2, T 5, B 3, lengths [5, 2, 4], L1 1e-3 and L2 1e-2 on, with and
//! without initial state and dropout), both losses and both head modes.
//! Bound: |analytic - numeric| / max(|analytic|, |numeric|, 1e-3) < 1e-6
//! (observed about 2e-8).
//!
//! The same checks for the GRU (stacked, variable lengths, with and without
//! initial state and dropout).
//!
//! Also the variable-length and state-carrying invariants (both cells), and
//! typed shape errors.

use lstm_train::net::{
    Batch, CellKind, Grads, HeadMode, Mode, NetConfig, Network, Params, Regularization, State,
    Target,
};
use ndarray::{s, Array2, Array3};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[derive(Clone, Copy, Debug)]
enum Loss {
    MseEveryStep,
    MseLast,
    CrossEntropy,
}

struct Problem {
    cfg: NetConfig,
    x: Array3<f64>,
    lengths: Vec<usize>,
    state0: Option<State<f64>>,
    seq_targets: Array3<f64>,
    last_targets: Array2<f64>,
    classes: Vec<usize>,
    loss: Loss,
    reg: Regularization<f64>,
}

impl Problem {
    fn target(&self) -> Target<'_, f64> {
        match self.loss {
            Loss::MseEveryStep => Target::MseEveryStep(self.seq_targets.view()),
            Loss::MseLast => Target::MseLast(self.last_targets.view()),
            Loss::CrossEntropy => Target::CrossEntropyLast(&self.classes),
        }
    }

    fn batch(&self) -> Batch<'_, f64> {
        let mut b = Batch::new(self.x.view()).with_lengths(&self.lengths);
        if let Some(s) = &self.state0 {
            b = b.with_state(s);
        }
        b
    }
}

const DROPOUT_SEED: u64 = 99;

/// Loss (and optionally gradient) with dropout masks from a fresh generator
/// of a fixed seed, so every evaluation sees the same masks.
fn eval(
    net: &mut Network<f64>,
    p: &Params<f64>,
    prob: &Problem,
    grads: Option<&mut Grads<f64>>,
) -> f64 {
    let mut rng = ChaCha8Rng::seed_from_u64(DROPOUT_SEED);
    let batch = prob.batch();
    let target = prob.target();
    net.forward(p, &batch, Mode::Train(&mut rng))
        .expect("forward");
    match grads {
        Some(g) => {
            net.backward(p, &target, &prob.reg, g)
                .expect("backward")
                .total
        }
        None => net.loss(p, &target, &prob.reg).expect("loss").total,
    }
}

fn make_problem(
    seed: u64,
    hidden: Vec<usize>,
    head: HeadMode,
    loss: Loss,
    dropout: f32,
    with_state: bool,
) -> Problem {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (inp, out, t, b) = (2, 2, 5, 3);
    let cfg = NetConfig {
        cell: CellKind::Lstm,
        input_size: inp,
        hidden_sizes: hidden,
        output_size: out,
        head,
        dropout,
        unit_forget_bias: false,
    };
    let x = Array3::from_shape_fn((b, t, inp), |_| rng.gen_range(-1.0..1.0));
    let lengths = vec![t, 2, 4];
    let state0 = with_state.then(|| {
        let mut s = State::zeros(&cfg, b);
        for a in s.h.iter_mut().chain(s.c.iter_mut()) {
            a.mapv_inplace(|_| rng.gen_range(-0.5..0.5));
        }
        s
    });
    Problem {
        x,
        lengths,
        state0,
        seq_targets: Array3::from_shape_fn((b, t, out), |_| rng.gen_range(-1.0..1.0)),
        last_targets: Array2::from_shape_fn((b, out), |_| rng.gen_range(-1.0..1.0)),
        classes: (0..b).map(|_| rng.gen_range(0..out)).collect(),
        loss,
        reg: Regularization { l1: 1e-3, l2: 1e-2 },
        cfg,
    }
}

fn gradcheck(prob: &Problem, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let params = Params::<f64>::init(&prob.cfg, &mut rng).expect("init");
    let mut net = Network::new(prob.cfg.clone()).expect("net");
    let mut grads = params.zeros_like();
    eval(&mut net, &params, prob, Some(&mut grads));
    let analytic = grads.flatten();
    let flat = params.flatten();
    let names: Vec<(String, usize)> = params
        .tensors()
        .into_iter()
        .map(|(n, t)| (n, t.len()))
        .collect();
    let mut p = params.clone();
    let h = 1e-5;
    let mut worst = 0.0f64;
    let mut idx = 0;
    for (name, len) in &names {
        for k in 0..*len {
            let i = idx + k;
            let mut v = flat.clone();
            v[i] = flat[i] + h;
            p.assign_flat(&v).expect("flat");
            let lp = eval(&mut net, &p, prob, None);
            v[i] = flat[i] - h;
            p.assign_flat(&v).expect("flat");
            let lm = eval(&mut net, &p, prob, None);
            let numeric = (lp - lm) / (2.0 * h);
            let a = analytic[i];
            let err = (a - numeric).abs() / (a.abs().max(numeric.abs()).max(1e-3));
            worst = worst.max(err);
            assert!(
                err < 1e-6,
                "{:?} seed {seed}: {name}[{k}]: analytic {a:e}, numeric {numeric:e}, relative error {err:e}",
                prob.loss
            );
        }
        idx += len;
    }
    println!(
        "{} {:?} head {:?} hidden {:?} dropout {} seed {seed}: {} parameters, worst relative error {worst:.2e}",
        prob.cfg.cell,
        prob.loss,
        prob.cfg.head,
        prob.cfg.hidden_sizes,
        prob.cfg.dropout,
        idx
    );
}

/// The same problem with GRU layers (a GRU has no cell state: `c0` is
/// `[B][0]`).
fn as_gru(mut prob: Problem) -> Problem {
    prob.cfg.cell = CellKind::Gru;
    if let Some(s) = &mut prob.state0 {
        s.c = State::<f64>::zeros(&prob.cfg, s.batch_size()).c;
    }
    prob
}

#[test]
fn gru_gradcheck_variable_lengths_stacked() {
    for seed in [21, 22, 23] {
        let prob = make_problem(
            seed,
            vec![3, 4],
            HeadMode::EveryStep,
            Loss::MseEveryStep,
            0.0,
            true,
        );
        gradcheck(&as_gru(prob), seed + 100);
    }
    for (seed, loss) in [(24, Loss::MseLast), (25, Loss::CrossEntropy)] {
        let prob = make_problem(seed, vec![4, 3], HeadMode::LastStep, loss, 0.0, false);
        gradcheck(&as_gru(prob), seed + 100);
    }
}

#[test]
fn gru_gradcheck_with_dropout_fixed_masks() {
    let prob = make_problem(
        26,
        vec![3, 2],
        HeadMode::EveryStep,
        Loss::MseEveryStep,
        0.25,
        true,
    );
    gradcheck(&as_gru(prob), 126);
}

#[test]
fn gradcheck_mse_every_step_variable_lengths_l1_l2_state() {
    for seed in [1, 2, 3] {
        let prob = make_problem(
            seed,
            vec![3, 3],
            HeadMode::EveryStep,
            Loss::MseEveryStep,
            0.0,
            true,
        );
        gradcheck(&prob, seed + 100);
    }
}

#[test]
fn gradcheck_mse_last_step() {
    for seed in [4, 5] {
        let prob = make_problem(
            seed,
            vec![4, 3],
            HeadMode::LastStep,
            Loss::MseLast,
            0.0,
            false,
        );
        gradcheck(&prob, seed + 100);
    }
}

#[test]
fn gradcheck_cross_entropy_last_step_head() {
    for seed in [6, 7] {
        let prob = make_problem(
            seed,
            vec![3, 3],
            HeadMode::LastStep,
            Loss::CrossEntropy,
            0.0,
            true,
        );
        gradcheck(&prob, seed + 100);
    }
}

#[test]
fn gradcheck_cross_entropy_every_step_head() {
    let prob = make_problem(
        8,
        vec![3, 3],
        HeadMode::EveryStep,
        Loss::CrossEntropy,
        0.0,
        false,
    );
    gradcheck(&prob, 108);
}

#[test]
fn gradcheck_with_dropout_fixed_masks() {
    let prob = make_problem(
        9,
        vec![3, 3],
        HeadMode::LastStep,
        Loss::CrossEntropy,
        0.3,
        false,
    );
    gradcheck(&prob, 109);
    let prob = make_problem(
        10,
        vec![3, 2],
        HeadMode::EveryStep,
        Loss::MseEveryStep,
        0.25,
        true,
    );
    gradcheck(&prob, 110);
}

/// A batch with lengths [T, T-3] gives for the short sample the output,
/// final state and gradient it gives alone with length T-3 (and the long one
/// its own): the batch gradient is the mean of the two single-sample ones.
#[test]
fn variable_length_equals_alone() {
    let t = 8;
    for (cell, head) in CellKind::ALL
        .into_iter()
        .flat_map(|c| [(c, HeadMode::LastStep), (c, HeadMode::EveryStep)])
    {
        let cfg = NetConfig {
            cell,
            input_size: 2,
            hidden_sizes: vec![4, 3],
            output_size: 2,
            head,
            dropout: 0.0,
            unit_forget_bias: false,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let params = Params::<f64>::init(&cfg, &mut rng).expect("init");
        let mut x = Array3::from_shape_fn((2, t, 2), |_| rng.gen_range(-1.0..1.0));
        // garbage past the short sample's end must not matter
        x.slice_mut(s![1, t - 3.., ..]).fill(1e3);
        let targets = Array2::from_shape_fn((2, 2), |_| rng.gen_range(-1.0..1.0));
        let lengths = [t, t - 3];
        let reg = Regularization::none();
        let mut net = Network::new(cfg.clone()).expect("net");

        let mut g_batch = params.zeros_like();
        let batch = Batch::new(x.view()).with_lengths(&lengths);
        net.loss_and_grad(
            &params,
            &batch,
            Mode::Eval,
            &Target::MseLast(targets.view()),
            &reg,
            &mut g_batch,
        )
        .expect("batch");
        let out_batch = net.last_outputs().expect("outputs");
        let state_batch = net.final_state().expect("state");

        let mut g_sum = params.zeros_like();
        for (b, &len) in lengths.iter().enumerate() {
            let xs = x.slice(s![b..b + 1, ..len, ..]).to_owned();
            let ts = targets.slice(s![b..b + 1, ..]).to_owned();
            let mut g = params.zeros_like();
            net.loss_and_grad(
                &params,
                &Batch::new(xs.view()),
                Mode::Eval,
                &Target::MseLast(ts.view()),
                &reg,
                &mut g,
            )
            .expect("alone");
            let out = net.last_outputs().expect("outputs");
            let st = net.final_state().expect("state");
            for k in 0..2 {
                assert_eq!(
                    out[[0, k]],
                    out_batch[[b, k]],
                    "{cell} {head:?}: output of sample {b}"
                );
            }
            for l in 0..2 {
                assert_eq!(
                    st.h[l].row(0),
                    state_batch.h[l].row(b),
                    "{cell} {head:?}: h_n layer {l} sample {b}"
                );
                assert_eq!(
                    st.c[l].row(0),
                    state_batch.c[l].row(b),
                    "{cell} {head:?}: c_n layer {l} sample {b}"
                );
            }
            g_sum.add_scaled(0.5, &g).expect("shapes");
        }
        for ((name, a), (_, e)) in g_batch.tensors().into_iter().zip(g_sum.tensors()) {
            for (u, v) in a.iter().zip(e.iter()) {
                assert!(
                    (u - v).abs() <= 1e-13 * (1.0 + v.abs()),
                    "{cell} {head:?}: gradient {name}: batch {u:e} vs alone {v:e}"
                );
            }
        }
    }
}

/// Carrying the final state of one chunk into the next gives the same
/// outputs as running the whole sequence at once.
#[test]
fn carried_state_equals_whole_sequence() {
    for cell in CellKind::ALL {
        carried_state_equals_whole_sequence_for(cell);
    }
}

fn carried_state_equals_whole_sequence_for(cell: CellKind) {
    let cfg = NetConfig {
        cell,
        input_size: 1,
        hidden_sizes: vec![5, 4],
        output_size: 1,
        head: HeadMode::EveryStep,
        dropout: 0.0,
        unit_forget_bias: cell == CellKind::Lstm,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let params = Params::<f64>::init(&cfg, &mut rng).expect("init");
    let x = Array3::from_shape_fn((3, 12, 1), |_| rng.gen_range(-1.0..1.0));
    let mut net = Network::new(cfg).expect("net");
    net.forward(&params, &Batch::new(x.view()), Mode::Eval)
        .expect("whole");
    let whole = net.step_outputs().expect("outputs");
    let whole_state = net.final_state().expect("state");
    let a = x.slice(s![.., ..7, ..]).to_owned();
    let b = x.slice(s![.., 7.., ..]).to_owned();
    net.forward(&params, &Batch::new(a.view()), Mode::Eval)
        .expect("chunk 1");
    let first = net.step_outputs().expect("outputs");
    let st = net.final_state().expect("state");
    net.forward(&params, &Batch::new(b.view()).with_state(&st), Mode::Eval)
        .expect("chunk 2");
    let second = net.step_outputs().expect("outputs");
    let end_state = net.final_state().expect("state");
    for (u, v) in whole.slice(s![.., ..7, ..]).iter().zip(first.iter()) {
        assert!((u - v).abs() < 1e-14);
    }
    for (u, v) in whole.slice(s![.., 7.., ..]).iter().zip(second.iter()) {
        assert!((u - v).abs() < 1e-14, "chunked {v} vs whole {u}");
    }
    for l in 0..2 {
        for (u, v) in whole_state.h[l].iter().zip(end_state.h[l].iter()) {
            assert!((u - v).abs() < 1e-14);
        }
    }
}

/// Shape errors are typed errors, not panics.
#[test]
fn shape_errors_are_values() {
    let cfg = NetConfig::new(2, 3, 1, 1);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let params = Params::<f64>::init(&cfg, &mut rng).expect("init");
    let mut net = Network::new(cfg.clone()).expect("net");
    let bad_x = Array3::<f64>::zeros((2, 4, 3));
    assert!(net
        .forward(&params, &Batch::new(bad_x.view()), Mode::Eval)
        .is_err());
    let x = Array3::<f64>::zeros((2, 4, 2));
    assert!(net
        .forward(
            &params,
            &Batch::new(x.view()).with_lengths(&[4, 5]),
            Mode::Eval
        )
        .is_err());
    assert!(net
        .forward(
            &params,
            &Batch::new(x.view()).with_lengths(&[0, 1]),
            Mode::Eval
        )
        .is_err());
    let mut grads = params.zeros_like();
    let reg = Regularization::none();
    assert!(net
        .backward(
            &params,
            &Target::CrossEntropyLast(&[0, 0]),
            &reg,
            &mut grads
        )
        .is_err());
    net.forward(&params, &Batch::new(x.view()), Mode::Eval)
        .expect("forward");
    assert!(net
        .backward(
            &params,
            &Target::CrossEntropyLast(&[0, 1]),
            &reg,
            &mut grads
        )
        .is_err());
    let t3 = Array3::<f64>::zeros((2, 4, 1));
    assert!(net
        .backward(&params, &Target::MseEveryStep(t3.view()), &reg, &mut grads)
        .is_err());
    let other = Params::<f64>::init(&NetConfig::new(2, 4, 1, 1), &mut rng).expect("init");
    assert!(net
        .forward(&other, &Batch::new(x.view()), Mode::Eval)
        .is_err());
}
