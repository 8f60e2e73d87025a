//! The Dense (fully connected, linear) head: `y = W x + b`.

use crate::layer::Layer;
use crate::num::Scalar;

/// Read-only weights of a Dense layer (`torch.nn.Linear` layout).
#[derive(Debug)]
pub struct DenseWeights<'w, T, const IN: usize, const OUT: usize> {
    /// `[output][input]`.
    pub w: &'w [[T; IN]; OUT],
    /// `[output]`.
    pub b: &'w [T; OUT],
}

impl<T, const IN: usize, const OUT: usize> Clone for DenseWeights<'_, T, IN, OUT> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T, const IN: usize, const OUT: usize> Copy for DenseWeights<'_, T, IN, OUT> {}

/// A linear layer without activation: the model's head. Stateless.
///
/// Cost of one step: `IN·OUT` multiply-accumulates.
///
/// ```
/// use lstm_core::{Dense, DenseWeights, Layer};
/// static W: [[f32; 2]; 1] = [[2.0, -1.0]];
/// static B: [f32; 1] = [0.5];
/// let head = Dense::new(DenseWeights { w: &W, b: &B });
/// assert_eq!(head.step(&mut (), &[1.0, 3.0]), [-0.5]);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Dense<'w, T, const IN: usize, const OUT: usize> {
    /// The layer's weights.
    pub weights: DenseWeights<'w, T, IN, OUT>,
}

impl<'w, T, const IN: usize, const OUT: usize> Dense<'w, T, IN, OUT> {
    /// A head over the given weights.
    pub const fn new(weights: DenseWeights<'w, T, IN, OUT>) -> Self {
        Dense { weights }
    }
}

impl<T: Scalar, const IN: usize, const OUT: usize> Layer<T, IN, OUT> for Dense<'_, T, IN, OUT> {
    type State = ();

    fn zero_state(&self) {}

    #[inline]
    fn step(&self, _state: &mut (), x: &[T; IN]) -> [T; OUT] {
        let mut y = [T::ZERO; OUT];
        dense_step(self.weights.w.as_flattened(), self.weights.b, x, &mut y);
        y
    }
}

/// `y = W x + b` over flat slices (`w` is `[OUT][IN]`): the one
/// implementation of the head, for [`Dense`] and `DynModel`.
#[inline]
pub(crate) fn dense_step<T: Scalar>(w: &[T], b: &[T], x: &[T], y: &mut [T]) {
    for ((y, row), b) in y
        .iter_mut()
        .zip(w.chunks_exact(x.len().max(1)))
        .zip(b.iter())
    {
        *y = T::from_acc(T::dot(b.to_acc(), row, x));
    }
}
