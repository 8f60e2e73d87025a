//! End-to-end training on a synthetic sine: windowed next-value regression
//! with Adam in f32 drives the MSE below a stated threshold within a few
//! seconds even in debug builds, and the same seed gives bit-identical
//! final parameters.

use lstm_train::net::{
    Batch, CellKind, HeadMode, Mode, NetConfig, Network, Params, Regularization, Target,
};
use lstm_train::optim::{clip_grad_norm, Adam};
use ndarray::{Array2, Array3};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Stated threshold: final MSE (on the training windows, eval mode) below
/// 1e-3 after 15 epochs of 7 batches; the series variance is 0.5, so this
/// is 0.2 % of it (observed about 2e-5).
const MSE_THRESHOLD: f32 = 1e-3;

const WINDOW: usize = 12;

fn windows() -> (Array3<f32>, Array2<f32>) {
    let series: Vec<f32> = (0..260).map(|k| (0.25 * k as f32).sin()).collect();
    let n = series.len() - WINDOW;
    let x = Array3::from_shape_fn((n, WINDOW, 1), |(i, t, _)| series[i + t]);
    let y = Array2::from_shape_fn((n, 1), |(i, _)| series[i + WINDOW]);
    (x, y)
}

/// Trains and returns (final MSE, parameters).
fn train(seed: u64, epochs: usize, dropout: f32) -> (f32, Params<f32>) {
    let cfg = NetConfig {
        cell: CellKind::Lstm,
        input_size: 1,
        hidden_sizes: vec![12],
        output_size: 1,
        head: HeadMode::LastStep,
        dropout,
        unit_forget_bias: true,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut params = Params::<f32>::init(&cfg, &mut rng).expect("init");
    let mut net = Network::new(cfg).expect("net");
    let mut grads = params.zeros_like();
    let mut adam = Adam::new(&params, 0.02);
    let reg = Regularization::none();
    let (x, y) = windows();
    let n = x.shape()[0];
    let bs = 32;
    let mut order: Vec<usize> = (0..n).collect();
    let mut xb = Array3::<f32>::zeros((bs, WINDOW, 1));
    let mut yb = Array2::<f32>::zeros((bs, 1));
    for _ in 0..epochs {
        order.shuffle(&mut rng);
        for chunk in order.chunks_exact(bs) {
            for (r, &i) in chunk.iter().enumerate() {
                xb.index_axis_mut(ndarray::Axis(0), r)
                    .assign(&x.index_axis(ndarray::Axis(0), i));
                yb.row_mut(r).assign(&y.row(i));
            }
            net.loss_and_grad(
                &params,
                &Batch::new(xb.view()),
                Mode::Train(&mut rng),
                &Target::MseLast(yb.view()),
                &reg,
                &mut grads,
            )
            .expect("step");
            clip_grad_norm(&mut grads, 1.0);
            adam.step(&mut params, &grads).expect("adam");
        }
    }
    let mse = net
        .evaluate(
            &params,
            &Batch::new(x.view()),
            &Target::MseLast(y.view()),
            &reg,
        )
        .expect("eval")
        .data;
    (mse, params)
}

#[test]
fn sine_training_converges_and_is_reproducible() {
    let t0 = std::time::Instant::now();
    let (mse, p1) = train(42, 15, 0.0);
    let dt = t0.elapsed();
    println!("sine: final MSE {mse:.6} (threshold {MSE_THRESHOLD}) in {dt:?}");
    assert!(
        mse < MSE_THRESHOLD,
        "final MSE {mse} not below {MSE_THRESHOLD}"
    );
    let (mse2, p2) = train(42, 15, 0.0);
    assert_eq!(mse.to_bits(), mse2.to_bits());
    let (a, b) = (p1.flatten(), p2.flatten());
    assert!(
        a.iter().zip(&b).all(|(u, v)| u.to_bits() == v.to_bits()),
        "same seed, different parameters"
    );
}

#[test]
fn dropout_training_is_reproducible() {
    let (m1, p1) = train(7, 5, 0.2);
    let (m2, p2) = train(7, 5, 0.2);
    let (_, p3) = train(8, 5, 0.2);
    assert_eq!(m1.to_bits(), m2.to_bits());
    let (a, b, c) = (p1.flatten(), p2.flatten(), p3.flatten());
    assert!(
        a.iter().zip(&b).all(|(u, v)| u.to_bits() == v.to_bits()),
        "same seed, different parameters"
    );
    assert!(
        a.iter().zip(&c).any(|(u, v)| u != v),
        "different seeds, same parameters"
    );
}
