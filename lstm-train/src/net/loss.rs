//! Losses, their gradients with respect to the head outputs, and L1/L2
//! weight penalties.

use ndarray::{Array2, ArrayView2, ArrayView3, ArrayViewMut2, Zip};
use serde::{Deserialize, Serialize};

use super::{Grads, HeadMode, NetError, Params, Scalar};

/// Training target, which also selects the loss.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a, F> {
    /// MSE at every counted step: targets `[B][T][OUT]`; the loss is the mean
    /// of `(y - target)^2` over all `sum_b len_b * OUT` counted elements
    /// (steps `t < len_b`). Needs [`HeadMode::EveryStep`].
    MseEveryStep(ArrayView3<'a, F>),
    /// MSE at each sample's last step: targets `[B][OUT]`; mean over
    /// `B * OUT`. Works with both head modes.
    MseLast(ArrayView2<'a, F>),
    /// Softmax cross-entropy of each sample's last-step output against an
    /// integer class (`< OUT`), mean over the batch (like
    /// `torch.nn.functional.cross_entropy`). Works with both head modes.
    CrossEntropyLast(&'a [usize]),
}

/// L1 / L2 penalties on the **weights** (`weight_ih`, `weight_hh` of every
/// layer and the head's `weight`); biases are not penalised, like Keras'
/// `kernel_regularizer` / `recurrent_regularizer`.
///
/// The penalty added to the loss is `l1 * Σ|w| + l2 * Σ w²` (Keras
/// convention, no factor 1/2); its gradient `l1 * sign(w) + 2 * l2 * w` is
/// added to the weight gradients (`sign(0) = 0`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(bound = "F: Scalar")]
pub struct Regularization<F> {
    /// L1 factor.
    pub l1: F,
    /// L2 factor.
    pub l2: F,
}

impl<F: Scalar> Default for Regularization<F> {
    fn default() -> Self {
        Self::none()
    }
}

impl<F: Scalar> Regularization<F> {
    /// No penalty.
    pub fn none() -> Self {
        Regularization {
            l1: F::zero(),
            l2: F::zero(),
        }
    }

    /// True when both factors are zero.
    pub fn is_none(&self) -> bool {
        self.l1 == F::zero() && self.l2 == F::zero()
    }

    /// The penalty for `params` (0 when [`Regularization::is_none`]).
    pub fn penalty(&self, params: &Params<F>) -> F {
        let mut acc = F::zero();
        if self.is_none() {
            return acc;
        }
        let mut add = |w: &Array2<F>| {
            for &x in w.iter() {
                acc = acc + self.l1 * x.abs() + self.l2 * x * x;
            }
        };
        for l in &params.layers {
            add(&l.weight_ih);
            add(&l.weight_hh);
        }
        add(&params.dense.weight);
        acc
    }

    /// Adds the penalty's gradient to `grads` (same shapes as `params`).
    pub(crate) fn add_grad(&self, params: &Params<F>, grads: &mut Grads<F>) {
        if self.is_none() {
            return;
        }
        let two_l2 = self.l2 + self.l2;
        let l1 = self.l1;
        let add = |g: &mut Array2<F>, w: &Array2<F>| {
            Zip::from(g).and(w).for_each(|g, &w| {
                let sign = if w > F::zero() {
                    F::one()
                } else if w < F::zero() {
                    -F::one()
                } else {
                    F::zero()
                };
                *g = *g + l1 * sign + two_l2 * w;
            });
        };
        for (g, p) in grads.layers.iter_mut().zip(&params.layers) {
            add(&mut g.weight_ih, &p.weight_ih);
            add(&mut g.weight_hh, &p.weight_hh);
        }
        add(&mut grads.dense.weight, &params.dense.weight);
    }
}

/// Loss of one batch, split into its parts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(bound = "F: Scalar")]
pub struct LossValue<F> {
    /// `data + penalty`, what the gradient is taken of.
    pub total: F,
    /// The data loss (MSE or cross-entropy).
    pub data: F,
    /// The L1/L2 penalty.
    pub penalty: F,
}

/// Row of the head output that holds sample `b`'s last-step output.
#[inline]
pub(crate) fn last_row(head: HeadMode, batch: usize, len_b: usize, b: usize) -> usize {
    match head {
        HeadMode::EveryStep => (len_b - 1) * batch + b,
        HeadMode::LastStep => b,
    }
}

/// Checks the target against the batch shape.
pub(crate) fn check_target<F: Scalar>(
    target: &Target<'_, F>,
    head: HeadMode,
    batch: usize,
    steps: usize,
    out: usize,
) -> Result<(), NetError> {
    match target {
        Target::MseEveryStep(t) => {
            if head != HeadMode::EveryStep {
                return Err(NetError::NeedsEveryStep);
            }
            if t.shape() != [batch, steps, out] {
                return Err(NetError::ShapeMismatch {
                    what: "target".into(),
                    expected: vec![batch, steps, out],
                    got: t.shape().to_vec(),
                });
            }
        }
        Target::MseLast(t) => {
            if t.shape() != [batch, out] {
                return Err(NetError::ShapeMismatch {
                    what: "target".into(),
                    expected: vec![batch, out],
                    got: t.shape().to_vec(),
                });
            }
        }
        Target::CrossEntropyLast(c) => {
            if c.len() != batch {
                return Err(NetError::ShapeMismatch {
                    what: "class targets".into(),
                    expected: vec![batch],
                    got: vec![c.len()],
                });
            }
            if let Some((index, &class)) = c.iter().enumerate().find(|(_, &k)| k >= out) {
                return Err(NetError::InvalidClass {
                    index,
                    class,
                    classes: out,
                });
            }
        }
    }
    Ok(())
}

/// Data loss of the head outputs `y` (time-major rows, see
/// [`last_row`]); when `dy` is given it receives `d loss / d y` (rows that
/// do not count are zero). The target must have been checked.
pub(crate) fn data_loss<F: Scalar>(
    target: &Target<'_, F>,
    y: ArrayView2<'_, F>,
    head: HeadMode,
    lengths: &[usize],
    mut dy: Option<&mut ArrayViewMut2<'_, F>>,
) -> F {
    let batch = lengths.len();
    let out = y.ncols();
    if let Some(d) = dy.as_deref_mut() {
        d.fill(F::zero());
    }
    let mut loss = F::zero();
    match target {
        Target::MseEveryStep(t) => {
            let count: usize = lengths.iter().sum::<usize>() * out;
            let scale = F::of(2.0 / count as f64);
            for (b, &len) in lengths.iter().enumerate() {
                for s in 0..len {
                    let r = s * batch + b;
                    for k in 0..out {
                        let diff = y[[r, k]] - t[[b, s, k]];
                        loss = loss + diff * diff;
                        if let Some(d) = dy.as_deref_mut() {
                            d[[r, k]] = scale * diff;
                        }
                    }
                }
            }
            loss / F::of(count as f64)
        }
        Target::MseLast(t) => {
            let count = batch * out;
            let scale = F::of(2.0 / count as f64);
            for (b, &len) in lengths.iter().enumerate() {
                let r = last_row(head, batch, len, b);
                for k in 0..out {
                    let diff = y[[r, k]] - t[[b, k]];
                    loss = loss + diff * diff;
                    if let Some(d) = dy.as_deref_mut() {
                        d[[r, k]] = scale * diff;
                    }
                }
            }
            loss / F::of(count as f64)
        }
        Target::CrossEntropyLast(classes) => {
            let inv_b = F::of(1.0 / batch as f64);
            for (b, &len) in lengths.iter().enumerate() {
                let r = last_row(head, batch, len, b);
                let row = y.row(r);
                let m = row.iter().fold(F::neg_infinity(), |m, &v| m.max(v));
                let sum = row.iter().fold(F::zero(), |s, &v| s + (v - m).exp());
                let lse = sum.ln() + m;
                let c = classes[b];
                loss = loss + lse - row[c];
                if let Some(d) = dy.as_deref_mut() {
                    for k in 0..out {
                        let p = (row[k] - lse).exp();
                        let onehot = if k == c { F::one() } else { F::zero() };
                        d[[r, k]] = (p - onehot) * inv_b;
                    }
                }
            }
            loss * inv_b
        }
    }
}
/// The predicted class of a row of logits: the index of the largest value
/// (the first one on a tie).
pub fn argmax<F: Scalar>(row: ndarray::ArrayView1<'_, F>) -> usize {
    let mut best = 0;
    for (k, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = k;
        }
    }
    best
}
