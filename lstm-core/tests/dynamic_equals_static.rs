//! `DynModel` (runtime shapes) and the const-generic layers run the same
//! code: on any weights and inputs their outputs and states are bit-identical.

use lstm_core::dynamic::DynModel;
use lstm_core::file::{to_vec, Differencing, Header, ModelFile, Scaling, Task, TrainingMode};
use lstm_core::{
    Activation, Dense, Exact, Fast, Layer, LayerShape, Lstm, NumberFormat, Scalar, Stack, Q16_16,
    Q4_12,
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
