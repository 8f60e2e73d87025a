//! Generic glue between owned weights and `lstm-core`'s const-generic models.
//!
//! * [`FromWeights`] builds a model (any [`Stack`] of recurrent layers,
//!   [`Lstm`](lstm_core::Lstm) or [`Gru`](lstm_core::Gru), and a [`Dense`] head) from `f32` weights in model-file order, converting them to
//!   the model's number type. The weight arrays are boxed and leaked, so the
//!   model is `'static`, like one built over `static` arrays.
//! * [`LayerStates`] reads and sets the `h`/`c` of every recurrent layer in
//!   a model's state (`c` empty for GRU layers), whatever its nesting of tuples.

use lstm_core::{
    Cell, Dense, DenseWeights, GruState, LayerShape, LstmState, Recurrent, RecurrentWeights,
    Scalar, Stack,
};

/// Takes the next `n` values off `weights`.
fn take<'a>(weights: &mut &'a [f32], n: usize, what: &str) -> Result<&'a [f32], String> {
    if weights.len() < n {
        return Err(format!(
            "{what} needs {n} weights, only {} are left",
            weights.len()
        ));
    }
    let (head, rest) = weights.split_at(n);
    *weights = rest;
    Ok(head)
}

/// `[T; N]` from `values` (converted with [`Scalar::from_f32`]), leaked.
pub fn leak_vector<T: Scalar, const N: usize>(values: &[f32]) -> &'static [T; N] {
    assert_eq!(values.len(), N, "vector of {N} values");
    let mut b: Box<[T; N]> = Box::new([T::ZERO; N]);
    for (dst, &src) in b.iter_mut().zip(values) {
        *dst = T::from_f32(src);
    }
    Box::leak(b)
}

/// `[[T; C]; R]` from `R·C` row-major values, leaked.
pub fn leak_matrix<T: Scalar, const R: usize, const C: usize>(
    values: &[f32],
) -> &'static [[T; C]; R] {
    assert_eq!(values.len(), R * C, "matrix of {R}×{C} values");
    let rows: Box<[[T; C]]> = vec![[T::ZERO; C]; R].into_boxed_slice();
    let mut b: Box<[[T; C]; R]> = rows
        .try_into()
        .unwrap_or_else(|_| unreachable!("the slice has R rows"));
    for (dst, &src) in b.iter_mut().flatten().zip(values) {
        *dst = T::from_f32(src);
    }
    Box::leak(b)
}

/// `[[[T; C]; R]; G]` (one block per gate) from `G·R·C` row-major values, leaked.
pub fn leak_gates<T: Scalar, const G: usize, const R: usize, const C: usize>(
    values: &[f32],
) -> &'static [[[T; C]; R]; G] {
    assert_eq!(values.len(), G * R * C, "gate blocks of {G}×{R}×{C} values");
    let blocks: Box<[[[T; C]; R]]> = vec![[[T::ZERO; C]; R]; G].into_boxed_slice();
    let mut b: Box<[[[T; C]; R]; G]> = blocks
        .try_into()
        .unwrap_or_else(|_| unreachable!("the slice has G blocks"));
    for (dst, &src) in b.iter_mut().flatten().flatten().zip(values) {
        *dst = T::from_f32(src);
    }
    Box::leak(b)
}

/// A model that can be built from `f32` weights in model-file order.
pub trait FromWeights<T: Scalar>: Sized {
    /// Appends this model's layer shapes, in file order.
    fn shapes(out: &mut Vec<LayerShape>);

    /// Builds the model from the front of `weights`, advancing it past the
    /// values used.
    fn from_weights(weights: &mut &[f32]) -> Result<Self, String>;

    /// This model's layer shapes, in file order.
    fn layer_shapes() -> Vec<LayerShape> {
        let mut out = Vec::new();
        Self::shapes(&mut out);
        out
    }

    /// Builds the model from exactly `weights` (all must be used).
    fn from_all_weights(weights: &[f32]) -> Result<Self, String> {
        let mut rest = weights;
        let model = Self::from_weights(&mut rest)?;
        if !rest.is_empty() {
            return Err(format!(
                "{} weights left over after building the model",
                rest.len()
            ));
        }
        Ok(model)
    }
}

impl<C: Cell, T: Scalar, A, const IN: usize, const H: usize, const G: usize> FromWeights<T>
    for Recurrent<'static, C, T, A, IN, H, G>
{
    fn shapes(out: &mut Vec<LayerShape>) {
        out.push(LayerShape::recurrent(C::KIND, IN as u32, H as u32));
    }

    fn from_weights(weights: &mut &[f32]) -> Result<Self, String> {
        let kind = C::KIND;
        let w_ih =
            leak_gates::<T, G, H, IN>(take(weights, G * H * IN, &format!("{kind} weight_ih"))?);
        let w_hh =
            leak_gates::<T, G, H, H>(take(weights, G * H * H, &format!("{kind} weight_hh"))?);
        let bias = leak_matrix::<T, 4, H>(take(weights, 4 * H, &format!("{kind} bias"))?);
        Ok(Recurrent::new(RecurrentWeights { w_ih, w_hh, bias }))
    }
}

impl<T: Scalar, const IN: usize, const OUT: usize> FromWeights<T> for Dense<'static, T, IN, OUT> {
    fn shapes(out: &mut Vec<LayerShape>) {
        out.push(LayerShape::Dense {
            input: IN as u32,
            output: OUT as u32,
        });
    }

    fn from_weights(weights: &mut &[f32]) -> Result<Self, String> {
        let w = leak_matrix::<T, OUT, IN>(take(weights, OUT * IN, "Dense weight")?);
        let b = leak_vector::<T, OUT>(take(weights, OUT, "Dense bias")?);
        Ok(Dense::new(DenseWeights { w, b }))
    }
}

impl<T: Scalar, A: FromWeights<T>, B: FromWeights<T>, const MID: usize> FromWeights<T>
    for Stack<A, B, MID>
{
    fn shapes(out: &mut Vec<LayerShape>) {
        A::shapes(out);
        B::shapes(out);
    }

    fn from_weights(weights: &mut &[f32]) -> Result<Self, String> {
        let first = A::from_weights(weights)?;
        let second = B::from_weights(weights)?;
        Ok(Stack::new(first, second))
    }
}

/// `h` and `c` of one recurrent layer (`c` in [`Scalar::Cell`]; empty for a GRU layer).
pub type HC<T> = (Vec<T>, Vec<<T as Scalar>::Cell>);

/// A model state made of [`LstmState`]s and [`GruState`]s nested in pairs (as [`Stack`] builds
/// them), with `()` for stateless layers.
pub trait LayerStates<T: Scalar> {
    /// LSTM layers in the state.
    const LAYERS: usize;

    /// Appends `(h, c)` of every LSTM layer, first layer first.
    fn collect(&self, out: &mut Vec<HC<T>>);

    /// Sets every LSTM layer's `h` and `c` from `layers` (`f32`, converted
    /// with [`Scalar::from_f32`]), first layer first. `layers` must hold
    /// exactly [`LayerStates::LAYERS`] entries of the right widths.
    fn assign(&mut self, layers: &[(Vec<f32>, Vec<f32>)]) -> Result<(), String>;

    /// `(h, c)` of every LSTM layer, first layer first.
    fn layers(&self) -> Vec<HC<T>> {
        let mut out = Vec::with_capacity(Self::LAYERS);
        self.collect(&mut out);
        out
    }
}

impl<T: Scalar> LayerStates<T> for () {
    const LAYERS: usize = 0;

    fn collect(&self, _out: &mut Vec<HC<T>>) {}

    fn assign(&mut self, layers: &[(Vec<f32>, Vec<f32>)]) -> Result<(), String> {
        if layers.is_empty() {
            Ok(())
        } else {
            Err(format!("{} layer states too many", layers.len()))
        }
    }
}

impl<T: Scalar, const H: usize> LayerStates<T> for LstmState<T, H> {
    const LAYERS: usize = 1;

    fn collect(&self, out: &mut Vec<HC<T>>) {
        out.push((self.h.to_vec(), self.c.to_vec()));
    }

    fn assign(&mut self, layers: &[(Vec<f32>, Vec<f32>)]) -> Result<(), String> {
        let [(h, c)] = layers else {
            return Err(format!("expected 1 layer state, got {}", layers.len()));
        };
        if h.len() != H || c.len() != H {
            return Err(format!(
                "layer state of width {}/{} for a layer of {H} units",
                h.len(),
                c.len()
            ));
        }
        for (dst, &src) in self.h.iter_mut().zip(h) {
            *dst = T::from_f32(src);
        }
        for (dst, &src) in self.c.iter_mut().zip(c) {
            *dst = T::cell_from_f32(src);
        }
        Ok(())
    }
}

impl<T: Scalar, const H: usize> LayerStates<T> for GruState<T, H> {
    const LAYERS: usize = 1;

    fn collect(&self, out: &mut Vec<HC<T>>) {
        out.push((self.h.to_vec(), Vec::new()));
    }

    /// Sets `h`; the `c` given must be empty (a GRU has no cell state).
    fn assign(&mut self, layers: &[(Vec<f32>, Vec<f32>)]) -> Result<(), String> {
        let [(h, c)] = layers else {
            return Err(format!("expected 1 layer state, got {}", layers.len()));
        };
        if h.len() != H || !c.is_empty() {
            return Err(format!(
                "GRU layer state of width {}/{} for a layer of {H} units (c must be empty)",
                h.len(),
                c.len()
            ));
        }
        for (dst, &src) in self.h.iter_mut().zip(h) {
            *dst = T::from_f32(src);
        }
        Ok(())
    }
}

impl<T: Scalar, A: LayerStates<T>, B: LayerStates<T>> LayerStates<T> for (A, B) {
    const LAYERS: usize = A::LAYERS + B::LAYERS;

    fn collect(&self, out: &mut Vec<HC<T>>) {
        self.0.collect(out);
        self.1.collect(out);
    }

    fn assign(&mut self, layers: &[(Vec<f32>, Vec<f32>)]) -> Result<(), String> {
        if layers.len() != Self::LAYERS {
            return Err(format!(
                "expected {} layer states, got {}",
                Self::LAYERS,
                layers.len()
            ));
        }
        let (a, b) = layers.split_at(A::LAYERS);
        self.0.assign(a)?;
        self.1.assign(b)
    }
}
