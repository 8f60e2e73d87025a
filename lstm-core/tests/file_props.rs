//! The model file under attack: random bytes, every truncation, every single
//! bit flip, and mismatched types. Always an error, never a panic, never a
//! model that loads with wrong weights.

use lstm_core::file::{to_vec, Differencing, Header, ModelFile, Scaling, Task, TrainingMode};
use lstm_core::{Dense, Error, Exact, LayerShape, Lstm, NumberFormat, Stack, Q4_12};
use proptest::prelude::*;

type Model1<'a, T> = Stack<Lstm<'a, T, Exact, 2, 3>, Dense<'a, T, 3, 1>, 3>;

fn header(format: NumberFormat) -> Header<'static> {
    Header {
        format,
        layers: heapless::Vec::from_slice(&[
            LayerShape::Lstm {
                input: 2,
                hidden: 3,
            },
            LayerShape::Dense {
                input: 3,
                output: 1,
            },
        ])
        .unwrap(),
        input_scaling: Scaling::MinMax {
            min: heapless::Vec::from_slice(&[0.0, -1.0]).unwrap(),
            max: heapless::Vec::from_slice(&[10.0, 1.0]).unwrap(),
        },
        output_scaling: Scaling::Standard {
            mean: heapless::Vec::from_slice(&[5.0]).unwrap(),
            std: heapless::Vec::from_slice(&[2.0]).unwrap(),
        },
        mode: TrainingMode::Windowed { window: 12 },
        task: Task::Regression,
        differencing: Differencing::None,
    }
}

fn weights(h: &Header) -> Vec<f32> {
    (0..h.parameter_count().unwrap())
        .map(|k| ((k * 37 % 23) as f32 - 11.0) / 16.0)
        .collect()
}

/// A copy of `bytes` starting at a 16-byte boundary.
fn aligned(bytes: &[u8]) -> (Vec<u128>, usize) {
    let mut buf = vec![0u128; bytes.len().div_ceil(16) + 1];
    bytemuck::cast_slice_mut::<u128, u8>(&mut buf)[..bytes.len()].copy_from_slice(bytes);
    (buf, bytes.len())
}

fn parse_and_load(bytes: &[u8]) -> Result<(), Error> {
    let (buf, n) = aligned(bytes);
    let bytes = &bytemuck::cast_slice::<u128, u8>(&buf)[..n];
    let file = ModelFile::parse(bytes)?;
    let _: Model1<f32> = file.model()?;
    Ok(())
}

fn valid_file(format: NumberFormat) -> Vec<u8> {
    let h = header(format);
    to_vec(&h, &weights(&h)).unwrap()
}

#[test]
fn a_valid_file_round_trips() {
    let bytes = valid_file(NumberFormat::F32);
    let (buf, n) = aligned(&bytes);
    let file = ModelFile::parse(&bytemuck::cast_slice::<u128, u8>(&buf)[..n]).unwrap();
    assert_eq!(file.header, header(NumberFormat::F32));
    let model: Model1<f32> = file.model().unwrap();
    let w = weights(&file.header);
    assert_eq!(model.first.weights.w_ih[0][0], [w[0], w[1]]);
    assert_eq!(model.second.weights.b[0], *w.last().unwrap());
}

#[test]
fn every_truncation_is_an_error() {
    for format in NumberFormat::ALL {
        let bytes = valid_file(format);
        for n in 0..bytes.len() {
            let err = parse_and_load(&bytes[..n]).unwrap_err();
            assert!(
                matches!(err, Error::Truncated { .. } | Error::BadMagic),
                "{format}: truncated to {n} bytes gave {err:?}"
            );
        }
    }
}

#[test]
fn every_single_bit_flip_is_an_error() {
    for format in NumberFormat::ALL {
        let bytes = valid_file(format);
        for bit in 0..bytes.len() * 8 {
            let mut corrupt = bytes.clone();
            corrupt[bit / 8] ^= 1 << (bit % 8);
            assert!(
                parse_and_load(&corrupt).is_err(),
                "{format}: flipping bit {bit} still loads"
            );
        }
    }
}

#[test]
fn a_flipped_weight_is_a_crc_mismatch() {
    let mut bytes = valid_file(NumberFormat::Q4_12);
    let last_weight = bytes.len() - 5;
    bytes[last_weight] ^= 0x01;
    assert!(matches!(
        parse_and_load(&bytes),
        Err(Error::CrcMismatch { .. })
    ));
}

#[test]
fn typed_errors_name_the_problem() {
    let bytes = valid_file(NumberFormat::F32);
    let (buf, n) = aligned(&bytes);
    let file = ModelFile::parse(&bytemuck::cast_slice::<u128, u8>(&buf)[..n]).unwrap();

    let wrong_format = file.model::<Q4_12, Model1<Q4_12>>().unwrap_err();
    assert_eq!(
        wrong_format,
        Error::FormatMismatch {
            expected: NumberFormat::Q4_12,
            found: NumberFormat::F32
        }
    );

    type Wider<'a> = Stack<Lstm<'a, f32, Exact, 2, 4>, Dense<'a, f32, 4, 1>, 4>;
    let wrong_shape = file.model::<f32, Wider>().unwrap_err();
    assert_eq!(
        wrong_shape,
        Error::ShapeMismatch {
            layer: 0,
            expected: LayerShape::Lstm {
                input: 2,
                hidden: 4
            },
            found: LayerShape::Lstm {
                input: 2,
                hidden: 3
            }
        }
    );
    assert_eq!(
        wrong_shape.to_string(),
        "layer 0 shape mismatch: expected LSTM(2 -> 4), file has LSTM(2 -> 3)"
    );

    type Deeper<'a> = Stack<
        Stack<Lstm<'a, f32, Exact, 2, 3>, Lstm<'a, f32, Exact, 3, 3>, 3>,
        Dense<'a, f32, 3, 1>,
        3,
    >;
    assert_eq!(
        file.model::<f32, Deeper>().unwrap_err(),
        Error::LayerCountMismatch {
            expected: 3,
            found: 2
        }
    );

    // One byte off a 4-byte boundary: zero-copy loading refuses, it does not copy.
    let mut shifted = vec![0u8; bytes.len() + 1];
    shifted[1..].copy_from_slice(&bytes);
    let (buf, n) = aligned(&shifted);
    let off = &bytemuck::cast_slice::<u128, u8>(&buf)[1..n];
    let file = ModelFile::parse(off).unwrap();
    assert!(matches!(
        file.model::<f32, Model1<f32>>(),
        Err(Error::Misaligned { .. })
    ));

    let mut bad_magic = bytes.clone();
    bad_magic[0] = b'X';
    assert_eq!(parse_and_load(&bad_magic), Err(Error::BadMagic));
    // Version 1 (before `differencing`) and any later version are refused.
    for version in [1u8, 4] {
        let mut other = bytes.clone();
        other[4] = version;
        assert_eq!(
            parse_and_load(&other),
            Err(Error::UnsupportedVersion {
                found: version.into(),
                supported: 3
            })
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(parse_and_load(&longer), Err(Error::Malformed(_))));
}

#[test]
fn the_writer_refuses_what_the_reader_would_refuse() {
    let mut h = header(NumberFormat::F32);
    let w = weights(&h);
    assert!(matches!(to_vec(&h, &w[1..]), Err(Error::Malformed(_))));
    let mut nan = w.clone();
    nan[3] = f32::NAN;
    assert!(matches!(to_vec(&h, &nan), Err(Error::Malformed(_))));
    h.layers[1] = LayerShape::Dense {
        input: 2,
        output: 1,
    };
    assert!(matches!(to_vec(&h, &w), Err(Error::Malformed(_))));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn random_bytes_never_panic_and_never_load(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        prop_assert!(parse_and_load(&bytes).is_err());
    }

    #[test]
    fn random_bytes_after_a_valid_prefix_never_load(tail in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut bytes = valid_file(NumberFormat::F32)[..16].to_vec();
        bytes.extend_from_slice(&tail);
        prop_assert!(parse_and_load(&bytes).is_err());
    }

    #[test]
    fn multi_byte_corruption_never_loads(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..6)
    ) {
        let mut bytes = valid_file(NumberFormat::Q16_16);
        for (i, x) in edits {
            let i = i.index(bytes.len());
            bytes[i] ^= x;
        }
        let (buf, n) = aligned(&bytes);
        let b = &bytemuck::cast_slice::<u128, u8>(&buf)[..n];
        // CRC-32 misses a random multi-byte corruption with probability 2^-32; a
        // corruption that restores the original bytes is no corruption.
        if b != valid_file(NumberFormat::Q16_16).as_slice() {
            prop_assert!(ModelFile::parse(b).is_err());
        }
    }
}
