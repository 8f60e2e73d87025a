//! `DynModel` (runtime shapes) and the const-generic layers run the same
//! code: on any weights and inputs their outputs and states are bit-identical.

use lstm_core::dynamic::DynModel;
use lstm_core::file::{to_vec, Differencing, Header, ModelFile, Scaling, Task, TrainingMode};
use lstm_core::{
    Activation, Dense, Exact, Fast, Gru, Layer, LayerShape, Lstm, NumberFormat, Scalar, Stack,
    Q16_16, Q4_12,
};
use proptest::prelude::*;

type Two<'a, T, A> =
    Stack<Stack<Lstm<'a, T, A, 3, 5>, Lstm<'a, T, A, 5, 4>, 5>, Dense<'a, T, 4, 2>, 4>;

fn header(format: NumberFormat) -> Header<'static> {
    Header {
        format,
        layers: heapless::Vec::from_slice(&[
            LayerShape::Lstm {
                input: 3,
                hidden: 5,
            },
            LayerShape::Lstm {
                input: 5,
                hidden: 4,
            },
            LayerShape::Dense {
                input: 4,
                output: 2,
            },
        ])
        .unwrap(),
        input_scaling: Scaling::Identity,
        output_scaling: Scaling::Identity,
        mode: TrainingMode::Stateful,
        task: Task::Regression,
        differencing: Differencing::None,
        pool: 1,
    }
}

fn check<T: Scalar, A: Activation<T>>(weights: &[f32], inputs: &[[f32; 3]]) {
    let h = header(T::FORMAT);
    let bytes = to_vec(&h, weights).unwrap();
    let mut buf = vec![0u128; bytes.len().div_ceil(16)];
    let aligned = &mut bytemuck::cast_slice_mut::<u128, u8>(&mut buf)[..bytes.len()];
    aligned.copy_from_slice(&bytes);
    let file = ModelFile::parse(aligned).unwrap();
    let fixed: Two<T, A> = file.model().unwrap();
    let dynamic = DynModel::<T, A>::from_file(&file).unwrap();
    let mut s1 = fixed.zero_state();
    let mut s2 = dynamic.zero_state();
    for x in inputs {
        let x = x.map(T::from_f32);
        let y1 = fixed.step(&mut s1, &x);
        let y2 = dynamic.step(&mut s2, &x).unwrap();
        assert_eq!(&y1[..], &y2[..], "{}", T::FORMAT);
        assert_eq!(&s1.0 .1.h[..], &s2.h[1][..]);
        assert_eq!(&s1.0 .0.c[..], &s2.c[0][..]);
    }
    assert_eq!(
        dynamic.step(&mut s2, &[T::ZERO; 2]),
        Err(lstm_core::Error::LengthMismatch {
            expected: 3,
            found: 2
        })
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn dynamic_model_is_bit_identical(
        weights in proptest::collection::vec(-1.5f32..1.5, 4 * 5 * 9 + 4 * 4 * 10 + 2 * 5),
        inputs in proptest::collection::vec(proptest::array::uniform3(-3f32..3.0), 1..12),
    ) {
        check::<f32, Exact>(&weights, &inputs);
        check::<f32, Fast>(&weights, &inputs);
        check::<Q4_12, Exact>(&weights, &inputs);
        check::<Q4_12, Fast>(&weights, &inputs);
        check::<Q16_16, Fast>(&weights, &inputs);
    }
}

/// A GRU layer over an LSTM layer, and a GRU stack, as the same weights.
type GruOverLstm<'a, T, A> =
    Stack<Stack<Lstm<'a, T, A, 3, 5>, Gru<'a, T, A, 5, 4>, 5>, Dense<'a, T, 4, 2>, 4>;
type LstmOverGru<'a, T, A> =
    Stack<Stack<Gru<'a, T, A, 3, 5>, Lstm<'a, T, A, 5, 4>, 5>, Dense<'a, T, 4, 2>, 4>;
type GruGru<'a, T, A> =
    Stack<Stack<Gru<'a, T, A, 3, 5>, Gru<'a, T, A, 5, 4>, 5>, Dense<'a, T, 4, 2>, 4>;

fn header_of(format: NumberFormat, first: LayerShape, second: LayerShape) -> Header<'static> {
    let mut h = header(format);
    h.layers[0] = first;
    h.layers[1] = second;
    h
}

fn aligned_file(h: &Header, weights: &[f32]) -> Vec<u128> {
    let bytes = to_vec(h, &weights[..h.parameter_count().unwrap()]).unwrap();
    let mut buf = vec![0u128; bytes.len().div_ceil(16)];
    bytemuck::cast_slice_mut::<u128, u8>(&mut buf)[..bytes.len()].copy_from_slice(&bytes);
    buf
}

/// Runs `M` (const-generic) and `DynModel` over the same file; compares
/// outputs and every layer's `h` bit for bit, and `c` (empty for GRU layers).
fn check_mixed<T, A, M>(first: LayerShape, second: LayerShape, weights: &[f32], inputs: &[[f32; 3]])
where
    T: Scalar,
    A: Activation<T>,
    M: Layer<T, 3, 2> + lstm_core::file::FromModelFile<'static, T>,
    M::State: HStates<T>,
{
    let h = header_of(T::FORMAT, first, second);
    let buf: &'static [u128] = Box::leak(aligned_file(&h, weights).into_boxed_slice());
    let n = to_vec(&h, &weights[..h.parameter_count().unwrap()])
        .unwrap()
        .len();
    let file = ModelFile::parse(&bytemuck::cast_slice::<u128, u8>(buf)[..n]).unwrap();
    let fixed: M = file.model().unwrap();
    let dynamic = DynModel::<T, A>::from_file(&file).unwrap();
    let mut s1 = fixed.zero_state();
    let mut s2 = dynamic.zero_state();
    for (k, shape) in [first, second].iter().enumerate() {
        let width = if matches!(shape, LayerShape::Gru { .. }) {
            0
        } else {
            shape.output()
        };
        assert_eq!(s2.c[k].len(), width);
    }
    for x in inputs {
        let x = x.map(T::from_f32);
        let y1 = fixed.step(&mut s1, &x);
        let y2 = dynamic.step(&mut s2, &x).unwrap();
        assert_eq!(&y1[..], &y2[..], "{} {first} {second}", T::FORMAT);
        let (h0, h1) = s1.hs();
        assert_eq!(h0, s2.h[0], "{} {first}", T::FORMAT);
        assert_eq!(h1, s2.h[1], "{} {second}", T::FORMAT);
    }
}

/// `h` of both recurrent layers of a two-layer stack's state.
trait HStates<T> {
    fn hs(&self) -> (Vec<T>, Vec<T>);
}
impl<T: Scalar, const A: usize, const B: usize> HStates<T>
    for ((lstm_core::LstmState<T, A>, lstm_core::GruState<T, B>), ())
{
    fn hs(&self) -> (Vec<T>, Vec<T>) {
        (self.0 .0.h.to_vec(), self.0 .1.h.to_vec())
    }
}
impl<T: Scalar, const A: usize, const B: usize> HStates<T>
    for ((lstm_core::GruState<T, A>, lstm_core::LstmState<T, B>), ())
{
    fn hs(&self) -> (Vec<T>, Vec<T>) {
        (self.0 .0.h.to_vec(), self.0 .1.h.to_vec())
    }
}
impl<T: Scalar, const A: usize, const B: usize> HStates<T>
    for ((lstm_core::GruState<T, A>, lstm_core::GruState<T, B>), ())
{
    fn hs(&self) -> (Vec<T>, Vec<T>) {
        (self.0 .0.h.to_vec(), self.0 .1.h.to_vec())
    }
}

const L35: LayerShape = LayerShape::Lstm {
    input: 3,
    hidden: 5,
};
const L54: LayerShape = LayerShape::Lstm {
    input: 5,
    hidden: 4,
};
const G35: LayerShape = LayerShape::Gru {
    input: 3,
    hidden: 5,
};
const G54: LayerShape = LayerShape::Gru {
    input: 5,
    hidden: 4,
};

fn check_all_mixed<T: Scalar, A: Activation<T>>(weights: &[f32], inputs: &[[f32; 3]]) {
    check_mixed::<T, A, GruOverLstm<'static, T, A>>(L35, G54, weights, inputs);
    check_mixed::<T, A, LstmOverGru<'static, T, A>>(G35, L54, weights, inputs);
    check_mixed::<T, A, GruGru<'static, T, A>>(G35, G54, weights, inputs);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn dynamic_model_is_bit_identical_with_gru_layers(
        weights in proptest::collection::vec(-1.5f32..1.5, 4 * 5 * 9 + 4 * 4 * 10 + 2 * 5),
        inputs in proptest::collection::vec(proptest::array::uniform3(-3f32..3.0), 1..12),
    ) {
        check_all_mixed::<f32, Exact>(&weights, &inputs);
        check_all_mixed::<f32, Fast>(&weights, &inputs);
        check_all_mixed::<Q4_12, Exact>(&weights, &inputs);
        check_all_mixed::<Q4_12, Fast>(&weights, &inputs);
        check_all_mixed::<Q16_16, Exact>(&weights, &inputs);
        check_all_mixed::<Q16_16, Fast>(&weights, &inputs);
    }
}
