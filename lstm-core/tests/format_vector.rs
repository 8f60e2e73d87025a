//! The byte-level test vector printed in `FORMAT.md`: the writer must produce
//! exactly these bytes and the reader must read them back.

use lstm_core::file::{to_vec, Differencing, Header, ModelFile, Scaling, Task, TrainingMode};
use lstm_core::{Dense, Exact, Gru, LayerShape, Lstm, NumberFormat, Stack, Q4_12};

/// FORMAT.md's example, as hex, 16 bytes per line.
const VECTOR: &str = "
4c53544d 0200 0000 0d000000 1c000000
01 02 00 01 01 01 01 01 00 00 00 00 00 000000
0008 00fc 0002 0004 00f8 0006 0010 00f4 0001 0000 0000 0001 0020 0000
xxxxxxxx";

fn header() -> Header<'static> {
    Header {
        format: NumberFormat::Q4_12,
        layers: heapless::Vec::from_slice(&[
            LayerShape::Lstm {
                input: 1,
                hidden: 1,
            },
            LayerShape::Dense {
                input: 1,
                output: 1,
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

/// w_ih (i, f, g, o), w_hh (i, f, g, o), bias (i, f, g, o), dense w, dense b.
const WEIGHTS: [f32; 14] = [
    0.5, -0.25, 0.125, 0.25, -0.5, 0.375, 1.0, -0.75, 0.0625, 0.0, 0.0, 0.0625, 2.0, 0.0,
];

/// FORMAT.md's second example: the same model differenced at lag 12
/// (`Differencing::Seasonal`), which needs version 3.
const SEASONAL_VECTOR: &str = "
4c53544d 0300 0000 10000000 1c000000
01 02 00 01 01 01 01 01 00 00 00 00 02 0c 01 00
0008 00fc 0002 0004 00f8 0006 0010 00f4 0001 0000 0000 0001 0020 0000
xxxxxxxx";

fn seasonal_header() -> Header<'static> {
    Header {
        differencing: Differencing::Seasonal {
            lag: 12,
            targets: heapless::Vec::from_slice(&[0]).unwrap(),
        },
        ..header()
    }
}

fn vector_bytes() -> Vec<u8> {
    hex_bytes(VECTOR)
}

/// The bytes of a documented vector, with its CRC computed.
fn hex_bytes(vector: &str) -> Vec<u8> {
    let hex: String = vector.split_whitespace().collect::<String>();
    let (body, crc) = hex.split_at(hex.len() - 8);
    assert_eq!(crc, "xxxxxxxx");
    let mut bytes: Vec<u8> = (0..body.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&body[i..i + 2], 16).unwrap())
        .collect();
    let crc = lstm_core::file::CRC.checksum(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    bytes
}

#[test]
fn writer_produces_the_documented_bytes() {
    let written = to_vec(&header(), &WEIGHTS).unwrap();
    assert_eq!(written, vector_bytes(), "written: {:02x?}", written);
    // The CRC of this vector, as printed in FORMAT.md.
    assert_eq!(
        &written[60..],
        &[0x12, 0x04, 0xab, 0x7e],
        "crc: {:02x?}",
        &written[60..]
    );
}

#[test]
fn reader_reads_the_documented_bytes() {
    let bytes = vector_bytes();
    let mut buf = lstm_core::file::AlignedBuf([0u8; 64]);
    buf.0.copy_from_slice(&bytes);
    let file = ModelFile::parse(&buf.0).unwrap();
    assert_eq!(file.header, header());
    let model: Stack<Lstm<Q4_12, Exact, 1, 1>, Dense<Q4_12, 1, 1>, 1> = file.model().unwrap();
    let w = model.first.weights;
    assert_eq!(
        w.w_ih.map(|g| g[0][0].to_num::<f32>()),
        [0.5, -0.25, 0.125, 0.25]
    );
    assert_eq!(
        w.w_hh.map(|g| g[0][0].to_num::<f32>()),
        [-0.5, 0.375, 1.0, -0.75]
    );
    assert_eq!(
        w.bias.map(|g| g[0].to_num::<f32>()),
        [0.0625, 0.0, 0.0, 0.0625]
    );
    assert_eq!(model.second.weights.w[0][0].to_num::<f32>(), 2.0);
}

#[test]
fn seasonal_vector_is_version_3_and_reads_back() {
    let written = to_vec(&seasonal_header(), &WEIGHTS).unwrap();
    assert_eq!(
        written,
        hex_bytes(SEASONAL_VECTOR),
        "written: {:02x?}",
        written
    );
    assert_eq!(
        &written[60..],
        &[0x13, 0x25, 0x4a, 0xec],
        "crc: {:02x?}",
        &written[60..]
    );
    let mut buf = lstm_core::file::AlignedBuf([0u8; 64]);
    buf.0.copy_from_slice(&written);
    assert_eq!(ModelFile::parse(&buf.0).unwrap().header, seasonal_header());
    // Labelled version 2 (with a valid CRC), it is refused: version 2 has
    // no seasonal differencing.
    buf.0[4] = 2;
    let crc = lstm_core::file::CRC.checksum(&buf.0[..60]);
    buf.0[60..].copy_from_slice(&crc.to_le_bytes());
    assert_eq!(
        ModelFile::parse(&buf.0).err(),
        Some(lstm_core::Error::Malformed(
            "seasonal differencing in a file of version 2"
        ))
    );
}

/// FORMAT.md's third example: a Q4.12 GRU with one input and one unit and a
/// Dense(1) head, which needs version 4 (layer variant 2 = Gru).
const GRU_VECTOR: &str = "
4c53544d 0400 0000 0d000000 18000000
01 02 02 01 01 01 01 01 00 00 00 00 00 000000
0008 00fc 0002 00f8 0006 0010 0001 0000 00fe 0004 0020 0000
xxxxxxxx";

fn gru_header() -> Header<'static> {
    let mut h = header();
    h.layers[0] = LayerShape::Gru {
        input: 1,
        hidden: 1,
    };
    h
}

/// w_ih (r, z, n), w_hh (r, z, n), bias (b_ir + b_hr, b_iz + b_hz, b_in, b_hn), dense w, dense b.
const GRU_WEIGHTS: [f32; 12] = [
    0.5, -0.25, 0.125, -0.5, 0.375, 1.0, 0.0625, 0.0, -0.125, 0.25, 2.0, 0.0,
];

#[test]
fn gru_vector_is_version_4_and_reads_back() {
    let written = to_vec(&gru_header(), &GRU_WEIGHTS).unwrap();
    assert_eq!(written, hex_bytes(GRU_VECTOR), "written: {:02x?}", written);
    assert_eq!(written.len(), 60);
    // The CRC of this vector, as printed in FORMAT.md.
    assert_eq!(
        &written[56..],
        &[0x1a, 0x4c, 0x31, 0xb1],
        "crc: {:02x?}",
        &written[56..]
    );
    let mut buf = lstm_core::file::AlignedBuf([0u8; 60]);
    buf.0.copy_from_slice(&written);
    {
        let file = ModelFile::parse(&buf.0).unwrap();
        assert_eq!(file.version, 4);
        assert_eq!(file.header, gru_header());
        let model: Stack<Gru<Q4_12, Exact, 1, 1>, Dense<Q4_12, 1, 1>, 1> = file.model().unwrap();
        let w = model.first.weights;
        assert_eq!(w.w_ih.map(|g| g[0][0].to_num::<f32>()), [0.5, -0.25, 0.125]);
        assert_eq!(w.w_hh.map(|g| g[0][0].to_num::<f32>()), [-0.5, 0.375, 1.0]);
        assert_eq!(
            w.bias.map(|g| g[0].to_num::<f32>()),
            [0.0625, 0.0, -0.125, 0.25]
        );
        assert_eq!(model.second.weights.w[0][0].to_num::<f32>(), 2.0);
    }
    // Labelled version 3 (with a valid CRC), it is refused: version 3 has no GRU.
    buf.0[4] = 3;
    let crc = lstm_core::file::CRC.checksum(&buf.0[..56]);
    buf.0[56..].copy_from_slice(&crc.to_le_bytes());
    assert_eq!(
        ModelFile::parse(&buf.0).err(),
        Some(lstm_core::Error::Malformed(
            "a GRU layer in a file older than version 4"
        ))
    );
}

/// FORMAT.md's fourth example: the first vector's LSTM as a one-class
/// windowed classifier (`W = 4`) whose inputs are normalised per series
/// (`Scaling::SeriesStandard { mean: [0.5], std: [2.0] }`), which needs
/// version 5 (scaling variant 3).
const SERIES_VECTOR: &str = "
4c53544d 0500 0000 1b000000 1c000000
01 02 00 01 01 01 01 01 03 01 0000003f 01 0000
0040 00 01 04 01 01 01 61 00 0000000000
0008 00fc 0002 0004 00f8 0006 0010 00f4 0001 0000 0000 0001 0020 0000
xxxxxxxx";

fn series_header() -> Header<'static> {
    Header {
        input_scaling: Scaling::SeriesStandard {
            mean: heapless::Vec::from_slice(&[0.5]).unwrap(),
            std: heapless::Vec::from_slice(&[2.0]).unwrap(),
        },
        mode: TrainingMode::Windowed { window: 4 },
        task: Task::Classification {
            classes: heapless::Vec::from_slice(&["a"]).unwrap(),
        },
        ..header()
    }
}

#[test]
fn series_norm_vector_is_version_5_and_reads_back() {
    let written = to_vec(&series_header(), &WEIGHTS).unwrap();
    assert_eq!(
        written,
        hex_bytes(SERIES_VECTOR),
        "written: {:02x?}",
        written
    );
    assert_eq!(written.len(), 80);
    assert_eq!(
        &written[76..],
        &[0x85, 0xb6, 0x8d, 0x25],
        "crc: {:02x?}",
        &written[76..]
    );
    let mut buf = lstm_core::file::AlignedBuf([0u8; 80]);
    buf.0.copy_from_slice(&written);
    {
        let file = ModelFile::parse(&buf.0).unwrap();
        assert_eq!(file.version, 5);
        assert_eq!(file.header, series_header());
        let mut series = [1.0f32, 3.0, 1.0, 3.0];
        file.header.normalize_series(&mut series).unwrap();
        assert_eq!(series, [-1.0, 1.0, -1.0, 1.0]);
    }
    // Labelled version 4 (with a valid CRC), it is refused.
    buf.0[4] = 4;
    let crc = lstm_core::file::CRC.checksum(&buf.0[..76]);
    buf.0[76..].copy_from_slice(&crc.to_le_bytes());
    assert_eq!(
        ModelFile::parse(&buf.0).err(),
        Some(lstm_core::Error::Malformed(
            "per-series normalisation in a file older than version 5"
        ))
    );
}

#[test]
fn series_normalisation_per_feature_and_of_a_constant_feature() {
    // Two features, three samples: feature 0 is 1, 2, 3; feature 1 constant 7.
    let mut s = [1.0f32, 7.0, 2.0, 7.0, 3.0, 7.0];
    lstm_core::file::normalize_series(&mut s, 2).unwrap();
    let k = (1.5f32).sqrt(); // 1 / population std of 1, 2, 3
    for (a, b) in s.iter().zip([-k, 0.0, 0.0, 0.0, k, 0.0]) {
        assert!((a - b).abs() < 1e-6, "{s:?}");
    }
    assert!(lstm_core::file::normalize_series(&mut s, 4).is_err());
    // Without per-series scaling the call does nothing.
    let mut t = [1.0f32, 3.0];
    header().normalize_series(&mut t).unwrap();
    assert_eq!(t, [1.0, 3.0]);
}

/// FORMAT.md's fifth example: the fourth vector's classifier with input
/// pooling of 2 samples (`Header::pool = 2`), which needs version 6: the
/// pool is a `u16` varint right after the postcard header.
const POOL_VECTOR: &str = "
4c53544d 0600 0000 1c000000 1c000000
01 02 00 01 01 01 01 01 03 01 0000003f 01 0000
0040 00 01 04 01 01 01 61 00 02 00000000
0008 00fc 0002 0004 00f8 0006 0010 00f4 0001 0000 0000 0001 0020 0000
xxxxxxxx";

#[test]
fn pool_vector_is_version_6_and_reads_back() {
    let pooled = Header {
        pool: 2,
        ..series_header()
    };
    let written = to_vec(&pooled, &WEIGHTS).unwrap();
    assert_eq!(written, hex_bytes(POOL_VECTOR), "written: {:02x?}", written);
    assert_eq!(written.len(), 80);
    assert_eq!(
        &written[76..],
        &[0x31, 0xab, 0xc5, 0x81],
        "crc: {:02x?}",
        &written[76..]
    );
    let mut buf = lstm_core::file::AlignedBuf([0u8; 80]);
    buf.0.copy_from_slice(&written);
    {
        let file = ModelFile::parse(&buf.0).unwrap();
        assert_eq!(file.version, 6);
        assert_eq!(file.header, pooled);
        let mut slot = core::mem::MaybeUninit::uninit();
        let in_place = ModelFile::parse_into(&mut slot, &buf.0).unwrap();
        assert_eq!(in_place.header.pool, 2);
    }
    // Without pooling the same classifier is still written as version 5,
    // byte for byte the fourth vector.
    assert_eq!(
        to_vec(&series_header(), &WEIGHTS).unwrap(),
        hex_bytes(SERIES_VECTOR)
    );
    // Labelled version 5 (with a valid CRC), the pool byte is left over.
    buf.0[4] = 5;
    let crc = lstm_core::file::CRC.checksum(&buf.0[..76]);
    buf.0[76..].copy_from_slice(&crc.to_le_bytes());
    assert_eq!(
        ModelFile::parse(&buf.0).err(),
        Some(lstm_core::Error::Malformed("bytes after the header"))
    );
}

/// FORMAT.md's 8-bit-weights example: the first vector's model in
/// `Q4_12W8` (version 8, so the header ends with the pool varint `01`):
/// `w_ih`, `w_hh` in row pairs (i with f, g with o: per column `q_a + 128`,
/// then `q_b`), one shift per gate row, the Q4.12 bias; the head's single
/// row as a plain `i8`, its shift, padding, its bias.
const W8_VECTOR: &str = "
4c53544d 0800 0000 0e000000 1c000000
03 02 00 01 01 01 01 01 00 00 00 00 00 01 0000
c0 c0 88 20  40 60 c0 a0  07 08 06 07  0001 0000 0000 0001
40 05 0000 0000 0000
xxxxxxxx";

fn w8_header() -> Header<'static> {
    Header {
        format: NumberFormat::Q4_12W8,
        ..header()
    }
}

#[test]
fn w8_vector_is_version_8_reads_back_and_computes_as_q4_12() {
    use lstm_core::dynamic::DynModel;
    let written = to_vec(&w8_header(), &WEIGHTS).unwrap();
    assert_eq!(written, hex_bytes(W8_VECTOR), "written: {:02x?}", written);
    assert_eq!(written.len(), 64);
    assert_eq!(
        &written[60..],
        &[0xd5, 0x00, 0xd1, 0x65],
        "crc: {:02x?}",
        &written[60..]
    );
    let mut buf = lstm_core::file::AlignedBuf([0u8; 64]);
    buf.0.copy_from_slice(&written);
    let mut q12 = lstm_core::file::AlignedBuf([0u8; 64]);
    q12.0.copy_from_slice(&vector_bytes());
    {
        let file = ModelFile::parse(&buf.0).unwrap();
        assert_eq!(file.version, 8);
        assert_eq!(file.header, w8_header());
        let mut values = [0.0f32; 14];
        let n = lstm_core::w8::decode(&file.header.layers, file.weights, &mut values).unwrap();
        assert_eq!((n, values), (14, WEIGHTS));
        // Every weight is exactly representable: the same outputs as Q4.12.
        let q12_file = ModelFile::parse(&q12.0).unwrap();
        let m8 = DynModel::<Q4_12, Exact>::from_file(&file).unwrap();
        let m12 = DynModel::<Q4_12, Exact>::from_file(&q12_file).unwrap();
        let (mut s8, mut s12) = (m8.zero_state(), m12.zero_state());
        for t in 0..40 {
            let x = [Q4_12::from_num((t as f32 * 0.7).sin() * 3.0)];
            assert_eq!(
                m8.step(&mut s8, &x).unwrap(),
                m12.step(&mut s12, &x).unwrap(),
                "step {t}"
            );
            assert_eq!(s8, s12, "step {t}");
        }
        // The const-generic layers do not compute with 8-bit weights.
        let typed: Result<Stack<Lstm<Q4_12, Exact, 1, 1>, Dense<Q4_12, 1, 1>, 1>, _> = file.model();
        assert!(matches!(
            typed,
            Err(lstm_core::Error::FormatMismatch { .. })
        ));
    }
    // Labelled version 7 (the retired row-order layout of 8-bit weights,
    // with a valid CRC), it is refused by version; labelled 6, for its
    // format; labelled 5, the pool byte a version-5 reader does not read is
    // left over.
    for (version, err) in [
        (
            7,
            lstm_core::Error::UnsupportedVersion {
                found: 7,
                supported: 8,
            },
        ),
        (
            6,
            lstm_core::Error::Malformed("8-bit weights in a file older than version 8"),
        ),
        (5, lstm_core::Error::Malformed("bytes after the header")),
    ] {
        buf.0[4] = version;
        let crc = lstm_core::file::CRC.checksum(&buf.0[..60]);
        buf.0[60..].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(ModelFile::parse(&buf.0).err(), Some(err));
    }
}
