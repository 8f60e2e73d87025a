//! The model file under attack: random bytes, every truncation, every single
//! bit flip, and mismatched types. Always an error, never a panic, never a
//! model that loads with wrong weights.

use lstm_core::dynamic::DynModel;
use lstm_core::file::FORMAT_VERSION;
use lstm_core::file::{to_vec, Differencing, Header, ModelFile, Scaling, Task, TrainingMode};
use lstm_core::{CellKind, Dense, Error, Exact, Gru, LayerShape, Lstm, NumberFormat, Stack, Q4_12};
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
        pool: 1,
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

/// A GRU layer over an LSTM layer, then the head (version 4).
type Mixed<'a, T> =
    Stack<Stack<Lstm<'a, T, Exact, 2, 3>, Gru<'a, T, Exact, 3, 2>, 3>, Dense<'a, T, 2, 1>, 2>;

fn mixed_header(format: NumberFormat) -> Header<'static> {
    let mut h = header(format);
    h.layers = heapless::Vec::from_slice(&[
        LayerShape::Lstm {
            input: 2,
            hidden: 3,
        },
        LayerShape::Gru {
            input: 3,
            hidden: 2,
        },
        LayerShape::Dense {
            input: 2,
            output: 1,
        },
    ])
    .unwrap();
    h
}

fn mixed_file(format: NumberFormat) -> Vec<u8> {
    let h = mixed_header(format);
    to_vec(&h, &weights(&h)).unwrap()
}

fn parse_and_load_mixed(bytes: &[u8]) -> Result<(), Error> {
    let (buf, n) = aligned(bytes);
    let bytes = &bytemuck::cast_slice::<u128, u8>(&buf)[..n];
    let file = ModelFile::parse(bytes)?;
    let _: Mixed<f32> = file.model()?;
    Ok(())
}

#[test]
fn a_mixed_file_round_trips_as_version_4() {
    let bytes = mixed_file(NumberFormat::F32);
    assert_eq!(u16::from_le_bytes([bytes[4], bytes[5]]), 4);
    let (buf, n) = aligned(&bytes);
    let file = ModelFile::parse(&bytemuck::cast_slice::<u128, u8>(&buf)[..n]).unwrap();
    assert_eq!(file.version, 4);
    assert_eq!(file.header, mixed_header(NumberFormat::F32));
    let model: Mixed<f32> = file.model().unwrap();
    let w = weights(&file.header);
    // The GRU layer starts after the LSTM's 4·3·(2 + 3 + 1) = 72 values.
    assert_eq!(model.first.second.weights.w_ih[0][0], [w[72], w[73], w[74]]);
    assert_eq!(model.first.second.kind(), CellKind::Gru);
    // A GRU layer: 3·2·(3 + 2) + 4·2 = 38 values.
    assert_eq!(
        LayerShape::Gru {
            input: 3,
            hidden: 2
        }
        .parameter_count(),
        Some(38)
    );
    assert_eq!(
        LayerShape::Gru {
            input: 3,
            hidden: 2
        }
        .to_string(),
        "GRU(3 -> 2)"
    );
    // The same layers read as LSTM-only types are a shape mismatch at layer 1.
    type AllLstm<'a> = Stack<
        Stack<Lstm<'a, f32, Exact, 2, 3>, Lstm<'a, f32, Exact, 3, 2>, 3>,
        Dense<'a, f32, 2, 1>,
        2,
    >;
    assert_eq!(
        file.model::<f32, AllLstm>().unwrap_err(),
        Error::ShapeMismatch {
            layer: 1,
            expected: LayerShape::Lstm {
                input: 3,
                hidden: 2
            },
            found: LayerShape::Gru {
                input: 3,
                hidden: 2
            }
        }
    );
    // Labelled version 3 (valid CRC), a GRU layer is refused.
    let mut old = bytes.clone();
    old[4] = 3;
    let end = old.len() - 4;
    let crc = lstm_core::file::CRC.checksum(&old[..end]);
    old[end..].copy_from_slice(&crc.to_le_bytes());
    assert_eq!(
        parse_and_load_mixed(&old),
        Err(Error::Malformed(
            "a GRU layer in a file older than version 4"
        ))
    );
}

#[test]
fn every_truncation_and_bit_flip_of_a_mixed_file_is_an_error() {
    for format in NumberFormat::ALL {
        let bytes = mixed_file(format);
        if format == NumberFormat::F32 {
            assert_eq!(parse_and_load_mixed(&bytes), Ok(()));
        }
        for n in 0..bytes.len() {
            assert!(
                parse_and_load_mixed(&bytes[..n]).is_err(),
                "{format}: {n} bytes"
            );
        }
        for bit in 0..bytes.len() * 8 {
            let mut corrupt = bytes.clone();
            corrupt[bit / 8] ^= 1 << (bit % 8);
            assert!(
                parse_and_load_mixed(&corrupt).is_err(),
                "{format}: flipping bit {bit} still loads"
            );
        }
    }
}

/// Random stacks of LSTM and GRU layers (1 to 4) with a Dense head.
fn layer_stacks() -> impl Strategy<Value = (NumberFormat, Vec<LayerShape>)> {
    (
        prop::sample::select(NumberFormat::ALL.to_vec()),
        1u32..4,
        proptest::collection::vec((any::<bool>(), 1u32..6), 1..5),
        1u32..3,
    )
        .prop_map(|(format, input, recurrent, output)| {
            let mut width = input;
            let mut layers: Vec<LayerShape> = recurrent
                .into_iter()
                .map(|(gru, hidden)| {
                    let kind = if gru { CellKind::Gru } else { CellKind::Lstm };
                    let l = LayerShape::recurrent(kind, width, hidden);
                    width = hidden;
                    l
                })
                .collect();
            layers.push(LayerShape::Dense {
                input: width,
                output,
            });
            (format, layers)
        })
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
    for version in [1u8, FORMAT_VERSION as u8 + 1] {
        let mut other = bytes.clone();
        other[4] = version;
        assert_eq!(
            parse_and_load(&other),
            Err(Error::UnsupportedVersion {
                found: version.into(),
                supported: FORMAT_VERSION
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
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Any mix of LSTM and GRU layers round-trips through the file, is
    /// written at the lowest version that holds it, and loads into `DynModel`.
    #[test]
    fn random_layer_stacks_round_trip((format, layers) in layer_stacks()) {
        let mut h = header(format);
        h.layers = heapless::Vec::from_slice(&layers).unwrap();
        h.input_scaling = Scaling::Identity;
        h.output_scaling = Scaling::Identity;
        let bytes = to_vec(&h, &weights(&h)).unwrap();
        let has_gru = layers.iter().any(|l| l.cell() == Some(CellKind::Gru));
        let version = u16::from_le_bytes([bytes[4], bytes[5]]);
        let expected = match (format, has_gru) {
            (NumberFormat::Q4_12W8, _) => 8,
            (_, true) => 4,
            _ => 2,
        };
        prop_assert_eq!(version, expected);
        let (buf, n) = aligned(&bytes);
        let file = ModelFile::parse(&bytemuck::cast_slice::<u128, u8>(&buf)[..n]).unwrap();
        prop_assert_eq!(&file.header, &h);
        let kinds: Vec<CellKind> = layers.iter().filter_map(|l| l.cell()).collect();
        match format {
            NumberFormat::F32 => {
                let m = DynModel::<f32, Exact>::from_file(&file).unwrap();
                prop_assert_eq!(&m.cells().collect::<Vec<_>>(), &kinds);
                let s = m.zero_state();
                for (k, kind) in kinds.iter().enumerate() {
                    prop_assert_eq!(s.c[k].len(), s.h[k].len() * kind.cell_state_width());
                }
            }
            NumberFormat::Q4_12 => {
                prop_assert!(DynModel::<Q4_12, Exact>::from_file(&file).is_ok());
            }
            NumberFormat::Q16_16 => {
                prop_assert!(DynModel::<lstm_core::Q16_16, Exact>::from_file(&file).is_ok());
            }
            NumberFormat::Q4_12W8 => {
                let m = DynModel::<Q4_12, Exact>::from_file(&file).unwrap();
                prop_assert_eq!(&m.cells().collect::<Vec<_>>(), &kinds);
                let refused = matches!(
                    DynModel::<lstm_core::Q16_16, Exact>::from_file(&file),
                    Err(Error::FormatMismatch { .. })
                );
                prop_assert!(refused);
            }
        }
    }
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
