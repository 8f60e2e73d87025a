//! Start-up self-test of `lstm-core`'s Q4.12, 8-bit-weight and `f32` kernels on the device.
//!
//! On `thumbv7em` (Cortex-M4F, mps2-an386) `Q4_12::dot`, `Q4_12::gate_rows`
//! (`q12_rows2`, two rows per pass with 32-bit sums, and its exact 64-bit
//! fallback `q12_rows`), `f32::gate_rows` (`f32_rows4`) and the Q4.12
//! `Fast` LSTM unit update run the assembly kernels of
//! `lstm-core/src/num/dsp.rs`; on `thumbv6m` (Cortex-M0, microbit)
//! `Q4_12::gate_rows` (when every `h` is within ±1) and `w8::rows` (row
//! pairs of at most 509 products with weights at even addresses) run the
//! Thumb-1 kernels of `lstm-core/src/num/thumb1.rs` and the rest is
//! portable code. Either way, this checks them bit for bit against the
//! plain arithmetic written out here (the unit update against
//! `lstm_core::lstm::units_portable`): every dot-product length 0..=67,
//! gate rows of every input path (none, one, aligned even widths up to 32
//! with and without a last pair, any other width) and hidden sizes up to
//! 130 (the round loop), slices starting at 4-byte-aligned and at
//! misaligned addresses, random and extreme values (`i16::MIN`·`i16::MIN` =
//! 2³⁰ per product, which overflows the 32-bit sums and takes the
//! fallback), starting accumulators near `i64::MAX`/`i64::MIN` so that the
//! final saturating addition is exercised, and cell states past 16 bits and
//! at the `i32` limits. Logs one line; on a mismatch logs it and exits QEMU
//! with a failure status.

use cortex_m_semihosting::debug::{self, EXIT_FAILURE};
use lstm_core::cell::CHUNK;
use lstm_core::lstm::units_portable;
use lstm_core::{Activation, Fast, Scalar, Q20_12, Q4_12};

/// Longest dot product tested.
const MAX_LEN: usize = 67;
/// Gate-row shapes: rows, inputs, hidden units.
const ROWS: [usize; 5] = [0, 1, 2, 3, 5];
/// Inputs: empty, one (the one-input path), short, odd widths past 8 (the
/// any-input path's pairs and odd tail), even widths in blocks of 4 with
/// and without a last pair (the aligned path, entered at every block
/// count from 1 to 8), and past 32 (the any-input path again).
const INPUTS: [usize; 14] = [0, 1, 2, 3, 4, 5, 8, 9, 11, 12, 14, 30, 32, 34];
/// Hidden units: empty, short, 64 and more (the recurrent loop's back
/// edge in `q12_rows` is taken only from 64 on, `q12_rows2`'s round check
/// from 72 on; odd sizes take the portable path).
const HIDDEN: [usize; 13] = [0, 1, 2, 6, 7, 8, 10, 16, 34, 64, 66, 72, 130];
/// Longest of [`INPUTS`] and of [`HIDDEN`].
const MAX_INPUT: usize = 34;
const MAX_HIDDEN: usize = 130;

/// Buffers at a 4-byte-aligned address (offset by one value to misalign).
#[repr(C, align(4))]
struct Buf<const N: usize>([Q4_12; N]);

/// xorshift32: deterministic test values.
struct Rng(u32);

impl Rng {
    fn next(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }

    /// A value of the given pattern: random, or extremes.
    fn value(&mut self, pattern: u32, k: usize) -> i16 {
        match pattern {
            0 => self.next() as i16,
            1 => i16::MIN,
            2 => i16::MAX,
            3 => {
                if k.is_multiple_of(2) {
                    i16::MIN
                } else {
                    i16::MAX
                }
            }
            4 => (self.next() % 64) as i16 - 32,
            // Within ±1 (a hidden state), so that the Cortex-M0 kernel runs.
            5 => (self.next() % 8192) as i16 - 4096,
            _ => -4096,
        }
    }
}

/// `acc + Σ w·x`: products summed exactly in an `i64`, saturated once.
fn ref_dot(acc: i64, w: &[Q4_12], x: &[Q4_12]) -> i64 {
    let sum: i64 = w
        .iter()
        .zip(x)
        .map(|(w, x)| i64::from(w.to_bits()) * i64::from(x.to_bits()))
        .sum();
    acc.saturating_add(sum)
}

/// Q4.12 rounding to nearest (ties up) and saturation of an accumulator.
fn ref_from_acc(acc: i64) -> i16 {
    let v = (i128::from(acc) + 2048) >> 12;
    v.clamp(i128::from(i16::MIN), i128::from(i16::MAX)) as i16
}

fn fill(buf: &mut [Q4_12], rng: &mut Rng, pattern: u32) {
    for (k, v) in buf.iter_mut().enumerate() {
        *v = Q4_12::from_bits(rng.value(pattern, k));
    }
}

fn fail(what: &str, case: u32) -> ! {
    defmt::error!(
        "selftest: {=str} differs from the reference (case {=u32})",
        what,
        case
    );
    debug::exit(EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}

/// Runs every case; returns only if all pass.
#[inline(never)]
pub fn run() {
    let mut rng = Rng(0x2545_f491);
    let mut cases = 0u32;
    let accs = [
        0,
        -(1 << 27),
        i64::MAX - (1 << 33),
        i64::MIN + (1 << 33),
        i64::MAX,
        i64::MIN,
    ];

    let mut w = Buf([Q4_12::ZERO; MAX_LEN + 2]);
    let mut x = Buf([Q4_12::ZERO; MAX_LEN + 2]);
    for pattern in 0..5 {
        fill(&mut w.0, &mut rng, pattern);
        fill(&mut x.0, &mut rng, if pattern == 2 { 1 } else { pattern });
        for n in 0..=MAX_LEN {
            for (wo, xo) in [(0, 0), (1, 1), (0, 1), (1, 0)] {
                let (Some(ws), Some(xs)) = (w.0.get(wo..wo + n), x.0.get(xo..xo + n)) else {
                    continue;
                };
                for &acc in &accs {
                    cases += 1;
                    if Q4_12::dot(acc, ws, xs) != ref_dot(acc, ws, xs) {
                        fail("Q4_12::dot", cases);
                    }
                }
                // Unequal lengths: the common length counts.
                cases += 1;
                let longer = w.0.get(wo..).unwrap_or(&[]);
                if Q4_12::dot(0, longer, xs) != ref_dot(0, longer, xs) {
                    fail("Q4_12::dot (unequal lengths)", cases);
                }
            }
        }
    }

    // Gate rows: bias, rows of w_ih·x and w_hh·h, rounding and saturation.
    let mut bias = Buf([Q4_12::ZERO; 6]);
    let mut w_ih = Buf([Q4_12::ZERO; 5 * MAX_INPUT + 1]);
    let mut xv = Buf([Q4_12::ZERO; MAX_INPUT + 1]);
    let mut w_hh = Buf([Q4_12::ZERO; 5 * MAX_HIDDEN + 1]);
    let mut h = Buf([Q4_12::ZERO; MAX_HIDDEN + 1]);
    let mut out = [Q4_12::ZERO; 5];
    // Patterns 5 and 6: `h` within ±1 (the Cortex-M0 kernel's domain) with
    // random weights, and `h` = −1 with `i16::MIN` weights (its sums
    // overflow 32 bits: the overflow check and the fallback).
    for pattern in 0..7 {
        let weights = match pattern {
            5 => 0,
            6 => 1,
            p => p,
        };
        fill(&mut bias.0, &mut rng, weights);
        fill(&mut w_ih.0, &mut rng, weights);
        fill(&mut xv.0, &mut rng, weights);
        fill(&mut w_hh.0, &mut rng, weights);
        fill(&mut h.0, &mut rng, if pattern == 2 { 1 } else { pattern });
        for rows in ROWS {
            for input in INPUTS {
                for hidden in HIDDEN {
                    for off in 0..2 {
                        let (Some(b), Some(wi), Some(xs), Some(wh), Some(hs), Some(o)) = (
                            bias.0.get(off..off + rows),
                            w_ih.0.get(off..off + rows * input),
                            xv.0.get(off..off + input),
                            w_hh.0.get(off..off + rows * hidden),
                            h.0.get(off..off + hidden),
                            out.get_mut(..rows),
                        ) else {
                            continue;
                        };
                        cases += 1;
                        Q4_12::gate_rows(b, wi, xs, wh, hs, o);
                        for (r, got) in o.iter().enumerate() {
                            let wir = wi.get(r * input..(r + 1) * input).unwrap_or(&[]);
                            let whr = wh.get(r * hidden..(r + 1) * hidden).unwrap_or(&[]);
                            let acc = b.get(r).map_or(0, |b| i64::from(b.to_bits()) << 12);
                            let want = ref_from_acc(ref_dot(ref_dot(acc, wir, xs), whr, hs));
                            if got.to_bits() != want {
                                fail("Q4_12::gate_rows", cases);
                            }
                        }
                    }
                }
            }
        }
    }

    // f32 gate rows (four rows per pass of `VMLA.F32` on the Cortex-M4F):
    // each row `bias + Σ w_ih·x + Σ w_hh·h`, in order, as `acc + w·v`.
    let fv = |rng: &mut Rng| (rng.next() as i32 as f32) * 4.7e-10;
    let mut fbias = [0.0f32; 9];
    let mut fw_ih = [0.0f32; 9 * MAX_INPUT];
    let mut fx = [0.0f32; MAX_INPUT];
    let mut fw_hh = [0.0f32; 9 * MAX_HIDDEN];
    let mut fh = [0.0f32; MAX_HIDDEN];
    for v in fbias
        .iter_mut()
        .chain(fw_ih.iter_mut())
        .chain(fx.iter_mut())
        .chain(fw_hh.iter_mut())
        .chain(fh.iter_mut())
    {
        *v = fv(&mut rng);
    }
    let mut fout = [0.0f32; 9];
    for rows in [0, 1, 3, 4, 5, 8, 9] {
        for input in INPUTS {
            for hidden in HIDDEN {
                let (Some(wi), Some(xs), Some(wh), Some(hs), Some(o)) = (
                    fw_ih.get(..rows * input),
                    fx.get(..input),
                    fw_hh.get(..rows * hidden),
                    fh.get(..hidden),
                    fout.get_mut(..rows),
                ) else {
                    continue;
                };
                cases += 1;
                f32::gate_rows(&fbias, wi, xs, wh, hs, o);
                for (r, got) in o.iter().enumerate() {
                    let wir = wi.get(r * input..(r + 1) * input).unwrap_or(&[]);
                    let whr = wh.get(r * hidden..(r + 1) * hidden).unwrap_or(&[]);
                    let mut acc = fbias.get(r).copied().unwrap_or(0.0);
                    for (w, v) in wir.iter().zip(xs).chain(whr.iter().zip(hs)) {
                        acc += w * v;
                    }
                    if got.to_bits() != acc.to_bits() {
                        fail("f32::gate_rows", cases);
                    }
                }
            }
        }
    }

    // LSTM unit updates (an assembly loop on thumbv7em): every pattern of
    // pre-activations, cell states inside 16 bits, past them (the 64-bit
    // update) and at the `i32` limits (its saturation), every unit count.
    let mut pre = [[Q4_12::ZERO; CHUNK]; 4];
    let mut c = [Q20_12::ZERO; CHUNK];
    for pattern in 0..5 {
        for row in pre.iter_mut() {
            fill(row, &mut rng, pattern);
        }
        for (k, c) in c.iter_mut().enumerate() {
            let wide = rng.next() as i32;
            *c = Q20_12::from_bits(match k % 4 {
                0 => i32::from(rng.value(pattern, k)),
                1 => wide >> (rng.next() % 20),
                2 => wide,
                _ if k % 8 == 3 => i32::MAX,
                _ => i32::MIN,
            });
        }
        for n in 0..=CHUNK {
            cases += 1;
            let (mut c1, mut c2) = (c, c);
            let (mut h1, mut h2) = ([Q4_12::ZERO; CHUNK], [Q4_12::MAX; CHUNK]);
            <Fast as Activation<Q4_12>>::lstm_units(&pre, &mut c1[..n], &mut h1[..n]);
            units_portable::<Q4_12, Fast>(&pre, &mut c2[..n], &mut h2[..n]);
            h2[n..].fill(Q4_12::ZERO);
            if c1 != c2 || h1 != h2 {
                fail("Fast::lstm_units", cases);
            }
        }
    }
    cases += w8_cases(&mut rng);
    defmt::info!(
        "selftest: Q4.12, 8-bit-weight and f32 kernels match the reference in {=u32} cases",
        cases
    );
}

/// The 8-bit-weight pre-activation written out in `i64`: `bias·2^e` plus
/// the exact sum, rounded half up by `e`, saturated to 16 bits.
fn w8_reference(bias: i16, e: u8, w: &[i8], v: &[Q4_12]) -> i16 {
    let s: i64 = w
        .iter()
        .zip(v)
        .map(|(&w, v)| i64::from(w) * i64::from(v.to_bits()))
        .sum();
    w8_round(bias, e, s)
}

/// `bias·2^e + s`, rounded half up by `e`, saturated to 16 bits.
fn w8_round(bias: i16, e: u8, s: i64) -> i16 {
    let acc = (i64::from(bias) << e) + s;
    let half = if e == 0 { 0 } else { 1i64 << (e - 1) };
    ((acc + half) >> e).clamp(i64::from(i16::MIN), i64::from(i16::MAX)) as i16
}

/// Rows of the layers in [`w8_rows_cases`]: up to 6 computed from row 0
/// or 1, and a partner after them.
const W8_ROWS: usize = 8;
/// The widest parts in [`w8_rows_cases`].
const W8_NX: usize = 75;
const W8_NH: usize = 72;

/// `lstm_core::w8::rows` (on `thumbv7em` the row-pair kernel `w8_pairs` of
/// `num::dsp`, on `thumbv6m` that of `num::thumb1`: both at even byte
/// offsets `wo`, the portable code at odd ones)
/// against [`w8_reference`] row by row, from natural `i8` weights (the
/// pair layout built by `w8::pair_layout`): 1 to 6 rows computed from row
/// 0 or row 1 (the second of a pair) of a layer that ends with them or one
/// row later (an odd last row, or a partner outside `out`); inputs 0..=13,
/// 17, 33, 70 and 75, every hidden size 0..=72 (every block count 0..=9 of
/// the kernel, i.e. its first round of up to 8 and a second round, and
/// every tail, odd and even, in both parts), the weights at every byte offset (aligned, unaligned
/// and alternating blocks), the values at both halfword offsets, random
/// and extreme weights (−128, 127) and values (−32768, 32767), every shift
/// 0..=24 and 25, 255 (counted as 24), random and extreme biases. Returns
/// the cases run.
#[inline(never)]
fn w8_rows_cases(rng: &mut Rng) -> u32 {
    use lstm_core::w8;
    const NX: [usize; 18] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 17, 33, 70, 75];
    const R: usize = W8_ROWS;
    let mut cases = 0u32;
    let mut px = [0u32; (R * W8_NX + 3).div_ceil(4)];
    let mut ph = [0u32; (R * W8_NH + 3).div_ceil(4)];
    let mut xv = Buf([Q4_12::ZERO; W8_NX + 1]);
    let mut hv = Buf([Q4_12::ZERO; W8_NH + 1]);
    // Natural weights (no arrays: the Cortex-M0 has 16 KiB of RAM): `part`
    // 0 for `x`, 1 for `h`.
    let weight = |pattern: u32, seed: u32, part: usize, r: usize, c: usize| -> i8 {
        let k = (part * 0x9e37 + r * 0x79b9 + c) as u32;
        match pattern {
            1 => i8::MIN,
            2 => i8::MAX,
            3 => [i8::MIN, i8::MAX][(k % 2) as usize],
            _ => {
                let mut v = (k ^ seed).wrapping_mul(0x2c1b_3c6d);
                v ^= v >> 15;
                v = v.wrapping_mul(0x297a_2d39);
                (v >> 24) as i8
            }
        }
    };
    // The pair layout of rows `..layer` of `n` columns: that of each pair
    // (and of an odd last row) in turn.
    let layout = |out: &mut [u8], pattern: u32, seed: u32, part: usize, n: usize, layer: usize| {
        let mut pair = [0i8; 2 * W8_NX]; // W8_NX ≥ W8_NH
        for r0 in (0..layer).step_by(2) {
            let rows = (layer - r0).min(2);
            for r in 0..rows {
                for c in 0..n {
                    pair[r * n + c] = weight(pattern, seed, part, r0 + r, c);
                }
            }
            let at = r0 * n;
            w8::pair_layout(&pair[..rows * n], n, rows, &mut out[at..at + rows * n]);
        }
    };
    for pattern in 0..4u32 {
        let seed = rng.next();
        // Random; −32768 (against −128: the largest products); 32767; both.
        fill(&mut xv.0, rng, pattern.min(3));
        fill(&mut hv.0, rng, pattern.min(3));
        for (i, &nx) in NX.iter().enumerate() {
            for nh in 0..=W8_NH {
                let k = i + nh + pattern as usize;
                let first = k % 2;
                let rows = 1 + (k / 2 + nh / 3) % 6;
                let layer = first + rows + (k / 3) % 2;
                let (wo, vo) = (k % 4, (k / 4) % 2);
                let mut bias = [Q4_12::ZERO; R];
                let mut shift = [0u8; R];
                for r in 0..R {
                    bias[r] = Q4_12::from_bits(match pattern {
                        1 => i16::MIN,
                        2 => i16::MAX,
                        _ => rng.next() as i16,
                    });
                    shift[r] = match (cases as usize + 7 * r) % 27 {
                        26 => 255,
                        e => e as u8,
                    };
                }
                let (x, h) = (&xv.0[vo..vo + nx], &hv.0[vo..vo + nh]);
                // The layer's pair layout at byte offset `wo`, from the
                // pair holding row `first`.
                let bx = bytemuck::cast_slice_mut::<u32, u8>(&mut px);
                let bh = bytemuck::cast_slice_mut::<u32, u8>(&mut ph);
                layout(&mut bx[wo..wo + layer * nx], pattern, seed, 0, nx, layer);
                layout(&mut bh[wo..wo + layer * nh], pattern, seed, 1, nh, layer);
                let (w_x, w_h) = (&bx[wo..wo + layer * nx], &bh[wo..wo + layer * nh]);
                let mut out = [Q4_12::ZERO; R];
                w8::rows(
                    first,
                    &bias[first..],
                    &shift[first..],
                    w_x,
                    x,
                    w_h,
                    h,
                    &mut out[..rows],
                );
                for (j, o) in out[..rows].iter().enumerate() {
                    cases += 1;
                    let r = first + j;
                    let dot = |part: usize, v: &[Q4_12]| -> i64 {
                        v.iter()
                            .enumerate()
                            .map(|(c, v)| {
                                i64::from(weight(pattern, seed, part, r, c))
                                    * i64::from(v.to_bits())
                            })
                            .sum()
                    };
                    let want = w8_round(bias[r].to_bits(), shift[r].min(24), dot(0, x) + dot(1, h));
                    if o.to_bits() != want {
                        defmt::error!(
                            "w8::rows nx {=usize} nh {=usize} first {=usize} rows {=usize} layer {=usize} wo {=usize} vo {=usize} row {=usize}: {=i16} != {=i16}",
                            nx, nh, first, rows, layer, wo, vo, j, o.to_bits(), want
                        );
                        fail("w8::rows", cases);
                    }
                }
            }
        }
    }
    cases
}

/// `lstm_core::w8::pre` (on `thumbv7em` its row sums by the `SXTB16` +
/// `SMLAD` kernel) against the definition written out here, in `i64`: row
/// lengths 0..=67 split between `x` and `h` at three points, every byte
/// offset of the weights and both halfword offsets of the values, random
/// and extreme values (`−128 · −32768` per product), shifts 0, 7, 12, 24
/// and extreme biases; rows of 511 and 512 extreme products (the
/// longest `i32` sum, and the first `i64` one); `w8::rows` over 508 to
/// 512 extreme products; and `w8::rows` over parts cut short at every
/// length (missing weights read as 0). Returns the cases run.
#[inline(never)]
fn w8_cases(rng: &mut Rng) -> u32 {
    use lstm_core::w8;
    const LONG: usize = w8::I32_ROW + 1;
    let reference = w8_reference;
    let mut cases = 0u32;
    let mut w = [0i8; MAX_LEN + 4];
    let mut v = Buf([Q4_12::ZERO; MAX_LEN + 2]);
    for pattern in 0..5u32 {
        for (k, q) in w.iter_mut().enumerate() {
            *q = match pattern {
                1 | 3 => i8::MIN,
                2 => i8::MAX,
                _ => rng.value(0, k) as i8,
            };
        }
        fill(&mut v.0, rng, if pattern == 2 { 2 } else { pattern.min(1) });
        for n in 0..=MAX_LEN {
            for (wo, vo) in [(0, 0), (1, 1), (2, 0), (3, 1)] {
                let (Some(ws), Some(vs)) = (w.get(wo..wo + n), v.0.get(vo..vo + n)) else {
                    continue;
                };
                for split in [0, n / 3, n] {
                    let (wx, wh) = ws.split_at(split);
                    let (x, h) = vs.split_at(split);
                    for (bias, e) in [(0i16, 12u8), (i16::MIN, 24), (i16::MAX, 0), (-77, 7)] {
                        cases += 1;
                        let got = w8::pre(Q4_12::from_bits(bias), e, wx, x, wh, h);
                        if got.to_bits() != reference(bias, e, ws, vs) {
                            fail("w8::pre", cases);
                        }
                    }
                }
            }
        }
    }
    cases += w8_rows_cases(rng);
    // In flash, not on the stack (the Cortex-M0 has 16 KiB of RAM).
    static LONG_W: [i8; LONG] = [i8::MIN; LONG];
    static LONG_V: [Q4_12; LONG] = [Q4_12::MIN; LONG];
    let (long_w, long_v) = (&LONG_W, &LONG_V);
    for n in [LONG - 1, LONG] {
        cases += 1;
        let got = w8::pre(Q4_12::ZERO, 24, &long_w[..n], &long_v[..n], &[], &[]);
        if got.to_bits() != reference(0, 24, &long_w[..n], &long_v[..n]) {
            fail("w8::pre (long row)", cases);
        }
    }
    // `w8::rows` at the longest `i32` rows of the row-pair path (509
    // extreme products: the largest sum plus the rounding term) and past
    // them (510..=512), two rows split between `x` and `h`, in the pair
    // layout (both rows −128: bytes 0 and 0x80 per column).
    static LONG_PAIR: [u8; 2 * LONG + 2] = {
        let mut b = [0u8; 2 * LONG + 2];
        let mut k = 1;
        while k < 2 * LONG + 2 {
            b[k] = 0x80;
            k += 2;
        }
        b
    };
    // The weights at two byte offsets (aligned and unaligned blocks); the
    // kernel runs 31 or 32 blocks per part (4 rounds) up to 509 products.
    for n in 508..=LONG {
        let (nx, nh) = (n / 2, n - n / 2);
        for (e, wo) in [(0u8, 0), (12, 2), (24, 0), (24, 2)] {
            let mut out = [Q4_12::ZERO; 2];
            w8::rows(
                0,
                &[Q4_12::MIN, Q4_12::MAX],
                &[e, e],
                &LONG_PAIR[wo..wo + 2 * nx],
                &long_v[..nx],
                &LONG_PAIR[wo..wo + 2 * nh],
                &long_v[..nh],
                &mut out,
            );
            for (r, o) in out.iter().enumerate() {
                cases += 1;
                let b = [i16::MIN, i16::MAX][r];
                if o.to_bits() != reference(b, e, &long_w[..n], &long_v[..n]) {
                    fail("w8::rows (long rows)", cases);
                }
            }
        }
    }
    // Parts shorter than the 4 rows asked for (a missing weight reads as
    // 0, as `w8::weight` defines): only the complete pairs of both parts
    // go through a row-pair kernel (on the Cortex-M0 found by a division),
    // the rest is portable code; the weights 4-byte aligned.
    let (nx, nh) = (3usize, 5usize);
    let (x, h) = (&v.0[..nx], &v.0[nx..nx + nh]);
    let mut wx = [0u32; 3];
    let mut wh = [0u32; 5];
    let bx = bytemuck::cast_slice_mut::<u32, u8>(&mut wx);
    let bh = bytemuck::cast_slice_mut::<u32, u8>(&mut wh);
    for b in bx.iter_mut().chain(bh.iter_mut()) {
        *b = rng.next() as u8;
    }
    let bias = [-5, 300, i16::MAX, -4000].map(Q4_12::from_bits);
    let shift = [3u8, 12, 0, 24];
    for cut in 0..=4 * (nx + nh) {
        let (cx, ch) = (cut.min(4 * nx), (cut.saturating_sub(4 * nx)).min(4 * nh));
        let (px, ph) = if cut % 2 == 0 {
            (&bx[..cx], &bh[..4 * nh - ch])
        } else {
            (&bx[..4 * nx - cx], &bh[..ch.max(1)])
        };
        let mut out = [Q4_12::ZERO; 4];
        w8::rows(0, &bias, &shift, px, x, ph, h, &mut out);
        for (r, o) in out.iter().enumerate() {
            cases += 1;
            let s: i64 = (0..nx)
                .map(|c| i64::from(w8::weight(px, nx, r, c)) * i64::from(x[c].to_bits()))
                .chain(
                    (0..nh)
                        .map(|c| i64::from(w8::weight(ph, nh, r, c)) * i64::from(h[c].to_bits())),
                )
                .sum();
            if o.to_bits() != w8_round(bias[r].to_bits(), shift[r], s) {
                fail("w8::rows (short parts)", cases);
            }
        }
    }
    cases
}
