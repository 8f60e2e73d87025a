//! A Q4.12 layer's cell state is not limited to Q4.12's ±8: a cell that
//! counts to 15 and back tracks the same layer in `f32`.

use lstm_core::{Exact, Fast, Layer, Lstm, LstmWeights, Scalar, Q4_12};

/// One unit that adds `tanh(4·x) ≈ ±1` to its cell every step and forgets
/// almost nothing (σ(7) = 0.9991); `h = σ(0)·tanh(c) = tanh(c) / 2`.
fn run<T: Scalar, A: lstm_core::Activation<T>>(xs: &[f32]) -> Vec<(f32, f32)> {
    let v = T::from_f32;
    let w_ih = [[[v(0.0)]], [[v(0.0)]], [[v(4.0)]], [[v(0.0)]]];
    let w_hh = [[[v(0.0)]]; 4];
    let bias = [[v(6.0)], [v(7.0)], [v(0.0)], [v(0.0)]];
    let lstm = Lstm::<T, A, 1, 1>::new(LstmWeights {
        w_ih: &w_ih,
        w_hh: &w_hh,
        bias: &bias,
    });
    let mut state = lstm.zero_state();
    xs.iter()
        .map(|&x| {
            let [h] = lstm.step(&mut state, &[v(x)]);
            (h.to_f32(), T::cell_to_f32(state.c[0]))
        })
        .collect()
}

#[test]
fn q4_12_cell_counts_past_eight_and_back() {
    // 16 steps up, 16 down, then 4 steps at 0 (where tanh(c) is steepest).
    let xs: Vec<f32> = [1.0; 16]
        .into_iter()
        .chain([-1.0; 16])
        .chain([0.0; 4])
        .collect();
    let reference = run::<f32, Exact>(&xs);
    let peak = reference.iter().map(|&(_, c)| c).fold(0.0, f32::max);
    assert!(
        peak > 15.0,
        "the test cell should pass 8 by far (peak {peak})"
    );
    for (t, (&(h_ref, c_ref), (h, c))) in reference.iter().zip(run::<Q4_12, Fast>(&xs)).enumerate()
    {
        assert!((c - c_ref).abs() < 0.02, "step {t}: c {c} vs f32 {c_ref}");
        assert!((h - h_ref).abs() < 0.01, "step {t}: h {h} vs f32 {h_ref}");
    }
}
