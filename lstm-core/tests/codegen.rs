//! `lstm_core::codegen`'s output compiles and runs: two generated files,
//! checked in under `tests/codegen/` and compared with the generator's
//! current text, are `include!`d here; a model file of each header loads
//! into the generated `Model`, and the generated `Io` and `Streamer` give
//! the same outputs, bit for bit, as `DynModel` (runtime shapes) over the
//! same differenced inputs (carried state, or each window from a zero state).

use lstm_core::codegen::{model_types, ActivationKind};
use lstm_core::dynamic::DynModel;
use lstm_core::file::{to_vec, Differencing, Header, ModelFile, Scaling, Task, TrainingMode};
use lstm_core::{LayerShape, NumberFormat, Scalar};

/// Windowed Q4.12: an LSTM, a GRU over it, the head; seasonal differences at lag 4.
mod mixed_windowed_q4_12 {
    include!("codegen/mixed_windowed_q4_12.rs");
}

/// The same model with 8-bit weights (`Q4_12W8`).
mod mixed_windowed_q4_12_w8 {
    include!("codegen/mixed_windowed_q4_12_w8.rs");
}

/// Stateful f32, exact activations: a GRU, an LSTM over it, two outputs; first differences.
mod gru_lstm_stateful_f32 {
    include!("codegen/gru_lstm_stateful_f32.rs");
}

fn mixed_header() -> Header<'static> {
    Header {
        format: NumberFormat::Q4_12,
        layers: heapless::Vec::from_slice(&[
            LayerShape::Lstm {
                input: 2,
                hidden: 6,
            },
            LayerShape::Gru {
                input: 6,
                hidden: 4,
            },
            LayerShape::Dense {
                input: 4,
                output: 1,
            },
        ])
        .unwrap(),
        input_scaling: Scaling::Identity,
        output_scaling: Scaling::Identity,
        mode: TrainingMode::Windowed { window: 5 },
        task: Task::Regression,
        differencing: Differencing::Seasonal {
            lag: 4,
            targets: heapless::Vec::from_slice(&[1]).unwrap(),
        },
        pool: lstm_core::file::NO_POOL,
    }
}

fn stateful_header() -> Header<'static> {
    Header {
        format: NumberFormat::F32,
        layers: heapless::Vec::from_slice(&[
            LayerShape::Gru {
                input: 3,
                hidden: 4,
            },
            LayerShape::Lstm {
                input: 4,
                hidden: 5,
            },
            LayerShape::Dense {
                input: 5,
                output: 2,
            },
        ])
        .unwrap(),
        input_scaling: Scaling::Identity,
        output_scaling: Scaling::Identity,
        mode: TrainingMode::Stateful,
        task: Task::Regression,
        differencing: Differencing::First {
            targets: heapless::Vec::from_slice(&[0, 2]).unwrap(),
        },
        pool: lstm_core::file::NO_POOL,
    }
}

/// Deterministic values in [-1, 1) (a 32-bit LCG).
fn values(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (s >> 8) as f32 / (1u32 << 23) as f32 - 1.0
        })
        .collect()
}

/// A model file of `header` with pseudo-random weights, in 16-byte-aligned
/// storage, and its length in bytes.
fn file_bytes(header: &Header<'_>) -> (Vec<u128>, usize) {
    let bytes = to_vec(header, &values(header.parameter_count().unwrap(), 7)).unwrap();
    let mut buf = vec![0u128; bytes.len().div_ceil(16)];
    bytemuck::cast_slice_mut::<u128, u8>(&mut buf)[..bytes.len()].copy_from_slice(&bytes);
    (buf, bytes.len())
}

#[test]
fn checked_in_files_are_the_generators_output() {
    assert_eq!(
        model_types(&mixed_header(), ActivationKind::Fast).unwrap(),
        include_str!("codegen/mixed_windowed_q4_12.rs")
    );
    let w8 = Header {
        format: NumberFormat::Q4_12W8,
        ..mixed_header()
    };
    assert_eq!(
        model_types(&w8, ActivationKind::Fast).unwrap(),
        include_str!("codegen/mixed_windowed_q4_12_w8.rs")
    );
    assert_eq!(
        model_types(&stateful_header(), ActivationKind::Exact).unwrap(),
        include_str!("codegen/gru_lstm_stateful_f32.rs")
    );
}

#[test]
fn generated_windowed_types_stream_like_the_dynamic_model() {
    use mixed_windowed_q4_12::{
        Act, Io, Model, Streamer, ACTIVATION, HISTORY, IN, LAYERS, MACS_PER_STEP, MODE, OUT, T,
        WINDOW,
    };
    let header = mixed_header();
    assert_eq!(HISTORY, 4 * IN);
    assert_eq!((MODE, ACTIVATION), ("windowed", "fast"));
    assert_eq!(LAYERS, "LSTM(2 -> 6), GRU(6 -> 4), Dense(4 -> 1)");
    assert_eq!(MACS_PER_STEP, 4 * 6 * (2 + 6) + 3 * 4 * (6 + 4) + 4);
    let (buf, len) = file_bytes(&header);
    let file = ModelFile::parse(&bytemuck::cast_slice(&buf)[..len]).unwrap();
    let model: Model<'_> = file.model::<T, Model<'_>>().unwrap();
    let dynamic = DynModel::<T, Act>::from_file(&file).unwrap();
    let mut stream = Streamer::new(&model);
    let mut io = Io::with_history(&file.header).unwrap();

    let raw = values(30 * IN, 11);
    let mut seen: Vec<[T; IN]> = Vec::new();
    for sample in raw.chunks_exact(IN) {
        let mut x = [T::ZERO; IN];
        if !io.input(sample, &mut x).unwrap() {
            continue;
        }
        seen.push(x);
        let y: [T; OUT] = stream.step(&x);
        // The dynamic model over the last WINDOW inputs, from a zero state.
        let mut state = dynamic.zero_state();
        let mut want = Vec::new();
        for x in &seen[seen.len().saturating_sub(WINDOW)..] {
            want = dynamic.step(&mut state, x).unwrap();
        }
        assert_eq!(&y[..], &want[..], "after {} inputs", seen.len());
    }
    // The first lag (4) samples only prime the differences.
    assert_eq!(seen.len(), 30 - 4);
}

#[test]
fn generated_stateful_types_stream_like_the_dynamic_model() {
    use gru_lstm_stateful_f32::{
        Act, Io, Model, Streamer, ACTIVATION, HISTORY, IN, LAYERS, MACS_PER_STEP, MODE, OUT, T,
        WINDOW,
    };
    let header = stateful_header();
    assert_eq!((HISTORY, WINDOW), (IN, 1));
    assert_eq!((MODE, ACTIVATION), ("stateful", "exact"));
    assert_eq!(LAYERS, "GRU(3 -> 4), LSTM(4 -> 5), Dense(5 -> 2)");
    assert_eq!(MACS_PER_STEP, 3 * 4 * (3 + 4) + 4 * 5 * (4 + 5) + 5 * 2);
    let (buf, len) = file_bytes(&header);
    let file = ModelFile::parse(&bytemuck::cast_slice(&buf)[..len]).unwrap();
    let model: Model<'_> = file.model::<T, Model<'_>>().unwrap();
    let dynamic = DynModel::<T, Act>::from_file(&file).unwrap();
    let mut stream = Streamer::new(&model);
    let mut io = Io::with_history(&file.header).unwrap();
    let mut state = dynamic.zero_state();

    let raw = values(20 * IN, 5);
    let mut outputs = 0;
    for sample in raw.chunks_exact(IN) {
        let mut x = [T::ZERO; IN];
        if !io.input(sample, &mut x).unwrap() {
            continue;
        }
        let y: [T; OUT] = stream.step(&x);
        assert_eq!(&y[..], &dynamic.step(&mut state, &x).unwrap()[..]);
        assert!(y.iter().all(|v| v.to_f32().is_finite()));
        outputs += 1;
    }
    assert_eq!(outputs, 20 - 1);
}

/// The generated 8-bit-weight types load a `Q4_12W8` file and stream, bit
/// for bit, like `DynModel` over it; a full-width model type refuses the
/// file, and the 8-bit types refuse a Q4.12 file.
#[test]
fn generated_w8_types_stream_like_the_dynamic_model() {
    use mixed_windowed_q4_12_w8::{
        Act, Io, Model, Streamer, ACTIVATION, HISTORY, IN, LAYERS, MACS_PER_STEP, MODE, OUT, T,
        WINDOW,
    };
    assert_eq!((MODE, ACTIVATION, HISTORY), ("windowed", "fast", 4 * IN));
    assert_eq!(LAYERS, "LSTM(2 -> 6), GRU(6 -> 4), Dense(4 -> 1)");
    assert_eq!(MACS_PER_STEP, 4 * 6 * (2 + 6) + 3 * 4 * (6 + 4) + 4);
    let header = Header {
        format: NumberFormat::Q4_12W8,
        ..mixed_header()
    };
    let (buf, len) = file_bytes(&header);
    let file = ModelFile::parse(&bytemuck::cast_slice(&buf)[..len]).unwrap();
    let model: Model<'_> = file.model::<T, Model<'_>>().unwrap();
    assert!(matches!(
        file.model::<T, mixed_windowed_q4_12::Model<'_>>(),
        Err(lstm_core::Error::FormatMismatch { .. })
    ));
    let (b12, l12) = file_bytes(&mixed_header());
    let q12 = ModelFile::parse(&bytemuck::cast_slice(&b12)[..l12]).unwrap();
    assert!(matches!(
        q12.model::<T, Model<'_>>(),
        Err(lstm_core::Error::FormatMismatch { .. })
    ));
    let dynamic = DynModel::<T, Act>::from_file(&file).unwrap();
    let mut stream = Streamer::new(&model);
    let mut io = Io::with_history(&file.header).unwrap();
    let raw = values(30 * IN, 11);
    let mut seen: Vec<[T; IN]> = Vec::new();
    for sample in raw.chunks_exact(IN) {
        let mut x = [T::ZERO; IN];
        if !io.input(sample, &mut x).unwrap() {
            continue;
        }
        seen.push(x);
        let y: [T; OUT] = stream.step(&x);
        let mut state = dynamic.zero_state();
        let mut want = Vec::new();
        for x in &seen[seen.len().saturating_sub(WINDOW)..] {
            want = dynamic.step(&mut state, x).unwrap();
        }
        assert_eq!(&y[..], &want[..], "after {} inputs", seen.len());
    }
    assert_eq!(seen.len(), 30 - 4);
}
