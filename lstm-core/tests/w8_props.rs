//! Properties of the 8-bit-weight format (`NumberFormat::Q4_12W8`,
//! `lstm_core::w8`): its pre-activation against an independent wide-integer
//! definition, the writer's scales, and that a model whose weights are
//! exactly representable computes bit for bit what the same model computes
//! in Q4.12.

use lstm_core::dynamic::DynModel;
use lstm_core::file::{to_vec, Differencing, Header, ModelFile, Scaling, Task, TrainingMode};
use lstm_core::w8::{self, MAX_SHIFT};
use lstm_core::{CellKind, Error, Exact, Fast, LayerShape, NumberFormat, Scalar, Q4_12};
use proptest::prelude::*;

/// `bytes` copied to a 16-aligned buffer (kept alive by the caller).
fn aligned(bytes: &[u8]) -> (Vec<u128>, usize) {
    let mut buf = vec![0u128; bytes.len().div_ceil(16)];
    bytemuck::cast_slice_mut::<u128, u8>(&mut buf)[..bytes.len()].copy_from_slice(bytes);
    (buf, bytes.len())
}

/// The definition in FORMAT.md, in `i128` (no shortcut shared with the crate).
fn pre_reference(bias: i16, e: u8, w: &[i8], v: &[i16]) -> i16 {
    let s: i128 = w
        .iter()
        .zip(v)
        .map(|(&w, &v)| i128::from(w) * i128::from(v))
        .sum();
    let acc = (i128::from(bias) << e) + s;
    let half = if e == 0 { 0 } else { 1i128 << (e - 1) };
    let r = (acc + half).div_euclid(1i128 << e);
    r.clamp(i16::MIN.into(), i16::MAX.into()) as i16
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// `w8::pre` is the documented rounding of the exact sum, saturating.
    #[test]
    fn pre_matches_the_definition(
        bias in any::<i16>(),
        e in 0u8..=MAX_SHIFT,
        wv in proptest::collection::vec((any::<i8>(), any::<i16>()), 0..40),
        split in 0usize..40,
    ) {
        let split = split.min(wv.len());
        let (w, v): (Vec<i8>, Vec<i16>) = wv.iter().copied().unzip();
        let q: Vec<Q4_12> = v.iter().map(|&b| Q4_12::from_bits(b)).collect();
        let got = w8::pre(Q4_12::from_bits(bias), e, &w[..split], &q[..split], &w[split..], &q[split..]);
        prop_assert_eq!(got.to_bits(), pre_reference(bias, e, &w, &v));
    }

    /// `w8::rows` (the batched rows the layers compute with) is
    /// `pre_reference` row by row, for any number of rows, lengths of `x`
    /// and `h` (including empty ones and rows beyond the `i32` limit),
    /// extreme values and every shift.
    #[test]
    fn rows_match_the_definition(
        rows in 0usize..6,
        nx in prop_oneof![0usize..20, 500usize..520],
        nh in 0usize..40,
        extreme in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let mut s = seed | 1;
        let mut next = || { s ^= s << 13; s ^= s >> 7; s ^= s << 17; s };
        let wx: Vec<i8> = (0..rows * nx).map(|_| if extreme { i8::MIN } else { next() as i8 }).collect();
        let wh: Vec<i8> = (0..rows * nh).map(|_| if extreme { i8::MIN } else { next() as i8 }).collect();
        let x: Vec<i16> = (0..nx).map(|_| if extreme { i16::MIN } else { next() as i16 }).collect();
        let h: Vec<i16> = (0..nh).map(|_| if extreme { i16::MIN } else { next() as i16 }).collect();
        let bias: Vec<i16> = (0..rows).map(|_| next() as i16).collect();
        let shift: Vec<u8> = (0..rows).map(|_| (next() % 25) as u8).collect();
        let q = |v: &[i16]| v.iter().map(|&b| Q4_12::from_bits(b)).collect::<Vec<_>>();
        let (qx, qh, qb) = (q(&x), q(&h), q(&bias));
        let mut out = vec![Q4_12::ZERO; rows];
        let (mut px, mut ph) = (vec![0u8; rows * nx], vec![0u8; rows * nh]);
        w8::pair_layout(&wx, nx, rows, &mut px);
        w8::pair_layout(&wh, nh, rows, &mut ph);
        w8::rows(0, &qb, &shift, &px, &qx, &ph, &qh, &mut out);
        for r in 0..rows {
            let w: Vec<i8> = wx[r * nx..][..nx].iter().chain(&wh[r * nh..][..nh]).copied().collect();
            let v: Vec<i16> = x.iter().chain(&h).copied().collect();
            prop_assert_eq!(out[r].to_bits(), pre_reference(bias[r], shift[r], &w, &v), "row {}", r);
        }
    }

    /// With shift 12, a pre-activation is Q4.12's: `from_acc` of the bias
    /// plus the exact dot product of the same weights.
    #[test]
    fn shift_12_is_q4_12(
        bias in any::<i16>(),
        wv in proptest::collection::vec((any::<i8>(), any::<i16>()), 0..40),
    ) {
        let w: Vec<i8> = wv.iter().map(|p| p.0).collect();
        let x: Vec<Q4_12> = wv.iter().map(|p| Q4_12::from_bits(p.1)).collect();
        let w12: Vec<Q4_12> = w.iter().map(|&q| Q4_12::from_bits(q.into())).collect();
        let b = Q4_12::from_bits(bias);
        let want = Q4_12::from_acc(Q4_12::dot(b.to_acc(), &w12, &x));
        prop_assert_eq!(w8::pre(b, 12, &w, &x, &[], &[]), want);
    }

    /// The writer's shift is the finest at which nothing clips: every
    /// weight fits in `i8` at `e`, some weight would not at `e + 1`, and
    /// each weight is within half a step `2^-(e+1)` of its value.
    #[test]
    fn row_shift_is_the_finest_that_does_not_clip(
        row in proptest::collection::vec(-100.0f32..100.0, 1..20),
        scale_exp in -20i32..1,
    ) {
        let row: Vec<f32> = row.iter().map(|w| w * 2f32.powi(scale_exp)).collect();
        let e = w8::row_shift(row.iter().copied());
        let fits = |e: u8| row.iter().all(|&w| (-128.0..=127.0).contains(&libm::roundf(w * (1u32 << e) as f32)));
        prop_assert!(fits(e));
        prop_assert!(e == MAX_SHIFT || !fits(e + 1));
        let step = 1.0 / (1u32 << e) as f32;
        for &w in &row {
            let q = w8::quantize(w, e);
            prop_assert!((f32::from(q) * step - w).abs() <= step / 2.0 * (1.0 + 1e-6), "{} -> {} at e {}", w, q, e);
        }
    }
}

fn header(format: NumberFormat, layers: &[LayerShape]) -> Header<'static> {
    Header {
        format,
        layers: heapless::Vec::from_slice(layers).unwrap(),
        input_scaling: Scaling::Identity,
        output_scaling: Scaling::Identity,
        mode: TrainingMode::Stateful,
        task: Task::Regression,
        differencing: Differencing::None,
        pool: lstm_core::file::NO_POOL,
    }
}

/// Rows of `(IN + H)` weights each of the form `q · 2^-e` (one `e` per
/// row, 4 to 12: representable in Q4.12 and in 8 bits), Q4.12 biases; in
/// file order.
fn representable_weights(layers: &[LayerShape], seed: u64) -> Vec<f32> {
    let mut s = seed | 1;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let mut out = Vec::new();
    for l in layers {
        let (rows, width, biases) = match l.cell() {
            Some(k) => (
                k.gates() * l.output(),
                l.input() + l.output(),
                4 * l.output(),
            ),
            None => (l.output(), l.input(), l.output()),
        };
        let h = if l.cell().is_some() { l.output() } else { 0 };
        let mut w_ih = Vec::new();
        let mut w_hh = Vec::new();
        for _ in 0..rows {
            let e = 4 + (next() % 9) as i32;
            for k in 0..width {
                let q = (next() % 256) as i64 - 128;
                let w = q as f32 * 2f32.powi(-e);
                if k < width - h {
                    w_ih.push(w);
                } else {
                    w_hh.push(w);
                }
            }
        }
        out.extend(w_ih);
        out.extend(w_hh);
        for _ in 0..biases {
            out.push(((next() % 8192) as i64 - 4096) as f32 / 4096.0);
        }
    }
    out
}

fn stacks() -> impl Strategy<Value = Vec<LayerShape>> {
    (
        1u32..4,
        proptest::collection::vec((any::<bool>(), 1u32..9), 1..4),
        1u32..3,
    )
        .prop_map(|(input, recurrent, output)| {
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
            layers
        })
}

/// Every output of `xs` run through the model in `file`, then the final
/// `h` and `c` of every layer, as raw bits.
fn run<A: lstm_core::Activation<Q4_12>>(file: &ModelFile<'_>, xs: &[Vec<Q4_12>]) -> Vec<Vec<i32>> {
    let m = DynModel::<Q4_12, A>::from_file(file).unwrap();
    let mut s = m.zero_state();
    let bits = |v: &[Q4_12]| {
        v.iter()
            .map(|v| i32::from(v.to_bits()))
            .collect::<Vec<i32>>()
    };
    let mut out: Vec<Vec<i32>> = xs
        .iter()
        .map(|x| bits(&m.step(&mut s, x).unwrap()))
        .collect();
    out.extend(s.h.iter().map(|h| bits(h)));
    out.extend(s.c.iter().map(|c| c.iter().map(|c| c.to_bits()).collect()));
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// A model (LSTM and GRU layers mixed, any head) whose weights are all
    /// `q · 2^-e` with one `e ≤ 12` per row gives the same outputs, `h`
    /// and `c`, bit for bit, in `Q4_12W8` as in `Q4_12`, with exact and
    /// with fast activations, and its weights decode to their values.
    #[test]
    fn representable_weights_compute_as_q4_12(layers in stacks(), seed in any::<u64>(), xseed in 0u32..1000) {
        let weights = representable_weights(&layers, seed);
        let b12 = to_vec(&header(NumberFormat::Q4_12, &layers), &weights).unwrap();
        let b8 = to_vec(&header(NumberFormat::Q4_12W8, &layers), &weights).unwrap();
        let ((a12, n12), (a8, n8)) = (aligned(&b12), aligned(&b8));
        let f12 = ModelFile::parse(&bytemuck::cast_slice::<u128, u8>(&a12)[..n12]).unwrap();
        let f8 = ModelFile::parse(&bytemuck::cast_slice::<u128, u8>(&a8)[..n8]).unwrap();
        let mut decoded = vec![0.0; weights.len()];
        prop_assert_eq!(w8::decode(&f8.header.layers, f8.weights, &mut decoded), Ok(weights.len()));
        prop_assert_eq!(&decoded, &weights);
        let input = layers[0].input();
        let xs: Vec<Vec<Q4_12>> = (0..12u32)
            .map(|t| (0..input as u32).map(|i| Q4_12::from_num(((t * 7 + i * 3 + xseed) as f32 * 0.37).sin() * 4.0)).collect())
            .collect();
        prop_assert_eq!(run::<Exact>(&f8, &xs), run::<Exact>(&f12, &xs));
        prop_assert_eq!(run::<Fast>(&f8, &xs), run::<Fast>(&f12, &xs));
    }
}

/// Rows around `w8::I32_ROW` products (the 32-bit and the 64-bit sums),
/// at the extremes (`−128 · −32768` each) and mixed: the definition.
#[test]
fn long_rows_at_the_extremes_match_the_definition() {
    for n in [w8::I32_ROW - 1, w8::I32_ROW, w8::I32_ROW + 1, 2000] {
        for (wq, v) in [(-128i8, i16::MIN), (127, i16::MAX), (-128, i16::MAX)] {
            for split in [0, n / 3, n] {
                let w = vec![wq; n];
                let vs = vec![v; n];
                let q: Vec<Q4_12> = vs.iter().map(|&b| Q4_12::from_bits(b)).collect();
                for (bias, e) in [(0i16, 24u8), (i16::MIN, 24), (i16::MAX, 0), (5, 12)] {
                    let got = w8::pre(
                        Q4_12::from_bits(bias),
                        e,
                        &w[..split],
                        &q[..split],
                        &w[split..],
                        &q[split..],
                    );
                    assert_eq!(
                        got.to_bits(),
                        pre_reference(bias, e, &w, &vs),
                        "n {n}, w {wq}, v {v}, split {split}, bias {bias}, e {e}"
                    );
                }
            }
        }
    }
}

/// A row with a weight beyond ±127.5 gets shift 0 and saturates there.
#[test]
fn a_row_beyond_the_range_saturates_at_shift_0() {
    let row = [300.0, -0.5, 127.0];
    assert_eq!(w8::row_shift(row), 0);
    assert_eq!(row.map(|w| w8::quantize(w, 0)), [127, -1, 127]);
    assert_eq!(w8::row_shift([-128.4]), 0);
    assert_eq!(w8::row_shift([-64.2]), 1);
    assert_eq!(w8::row_shift([0.0; 3]), MAX_SHIFT);
    assert_eq!(w8::row_shift([]), MAX_SHIFT);
}

/// A corrupted shift or padding byte (with a valid CRC) is refused when the
/// model is built, by name.
#[test]
fn bad_shift_or_padding_is_malformed() {
    // LSTM 1→3: 12 rows of 1 + 3 weights and 12 shifts = 60 bytes, no
    // padding; Dense 3→1: 3 weights + 1 shift, bias, 2 bytes of padding.
    let layers = [
        LayerShape::Lstm {
            input: 1,
            hidden: 3,
        },
        LayerShape::Dense {
            input: 3,
            output: 1,
        },
    ];
    let h = header(NumberFormat::Q4_12W8, &layers);
    let weights = representable_weights(&layers, 7);
    let good = to_vec(&h, &weights).unwrap();
    let blob = good.len() - 4 - w8::blob_len(&layers).unwrap();
    let lstm = w8::layer_len(layers[0]).unwrap();
    assert_eq!((lstm, w8::layer_len(layers[1]).unwrap()), (60 + 24, 8));
    for (at, value, err) in [
        (blob + 48, 25u8, "a row's weight shift is above 24"),
        (blob + lstm + 6, 1, "padding in the weights is not zero"),
    ] {
        let mut bytes = good.clone();
        bytes[at] = value;
        let n = bytes.len();
        let crc = lstm_core::file::CRC.checksum(&bytes[..n - 4]);
        bytes[n - 4..].copy_from_slice(&crc.to_le_bytes());
        let (a, n) = aligned(&bytes);
        let file = ModelFile::parse(&bytemuck::cast_slice::<u128, u8>(&a)[..n]).unwrap();
        assert_eq!(
            DynModel::<Q4_12, Exact>::from_file(&file).err(),
            Some(Error::Malformed(err)),
            "byte {at}"
        );
    }
    // The unmodified file loads.
    let (a, n) = aligned(&good);
    let file = ModelFile::parse(&bytemuck::cast_slice::<u128, u8>(&a)[..n]).unwrap();
    assert!(DynModel::<Q4_12, Fast>::from_file(&file).is_ok());
}
