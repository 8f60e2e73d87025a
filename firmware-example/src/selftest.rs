//! Start-up self-test of `lstm-core`'s Q4.12, 8-bit-weight and `f32` kernels on the device.
//!
//! On `thumbv7em` (Cortex-M4F, mps2-an386) `Q4_12::dot`, `Q4_12::gate_rows`
//! (`q12_rows2`, two rows per pass with 32-bit sums, and its exact 64-bit
//! fallback `q12_rows`), `f32::gate_rows` (`f32_rows4`) and the Q4.12
//! `Fast` LSTM unit update run the assembly kernels of
//! `lstm-core/src/num/dsp.rs`; on `thumbv6m` (Cortex-M0, microbit)
//! `Q4_12::gate_rows` runs the Thumb-1 kernel of
//! `lstm-core/src/num/thumb1.rs` (when every `h` is within ±1) and the rest
//! is portable code. Either way, this checks them bit for bit against the
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
    let acc = (i64::from(bias) << e) + s;
    let half = if e == 0 { 0 } else { 1i64 << (e - 1) };
    ((acc + half) >> e).clamp(i64::from(i16::MIN), i64::from(i16::MAX)) as i16
}

/// `lstm_core::w8::rows` (on `thumbv7em` the two-row kernel over packed
/// values) against [`w8_reference`] row by row: 1 to 5 rows (an odd last row),
/// inputs 0, 1, 7, 8, 12, 13 and 70 (past the packed 64), hidden 0, 2, 8,
/// 30, 32, 64 and 72, weights at every byte offset, random and extreme
/// values (`−128 · −32768` per product), every shift 0..=24 and one above
/// (counted as 24), random and extreme biases. Returns the cases run.
#[inline(never)]
fn w8_rows_cases(rng: &mut Rng) -> u32 {
    let reference = w8_reference;
    use lstm_core::w8;
    const NX: [usize; 7] = [0, 1, 7, 8, 12, 13, 70];
    const NH: [usize; 7] = [0, 2, 8, 30, 32, 64, 72];
    const R: usize = 5;
    let mut cases = 0u32;
    let mut wx = [0i8; R * 70 + 3];
    let mut wh = [0i8; R * 72 + 3];
    let mut xv = [Q4_12::ZERO; 70];
    let mut hv = [Q4_12::ZERO; 72];
    let mut row_w = [0i8; 70 + 72];
    let mut row_v = [Q4_12::ZERO; 70 + 72];
    for pattern in 0..3u32 {
        for (k, q) in wx.iter_mut().chain(wh.iter_mut()).enumerate() {
            *q = match pattern {
                1 => i8::MIN,
                _ => rng.value(0, k) as i8,
            };
        }
        fill(&mut xv, rng, pattern.min(1));
        fill(&mut hv, rng, pattern.min(1));
        for (i, &nx) in NX.iter().enumerate() {
            for (j, &nh) in NH.iter().enumerate() {
                let off = (i + j + pattern as usize) % 4;
                let rows = 1 + (i + 2 * j + pattern as usize) % R;
                let mut bias = [Q4_12::ZERO; R];
                let mut shift = [0u8; R];
                for r in 0..R {
                    bias[r] = Q4_12::from_bits(if pattern == 2 {
                        [i16::MIN, i16::MAX][r % 2]
                    } else {
                        rng.next() as i16
                    });
                    shift[r] = ((cases as usize + 7 * r) % 26) as u8;
                }
                let (x, h) = (&xv[..nx], &hv[..nh]);
                let (w_x, w_h) = (&wx[off..off + rows * nx], &wh[off..off + rows * nh]);
                let mut out = [Q4_12::ZERO; R];
                w8::rows(&bias, &shift, w_x, x, w_h, h, &mut out[..rows]);
                for r in 0..rows {
                    cases += 1;
                    let n = nx + nh;
                    row_w[..nx].copy_from_slice(&w_x[r * nx..][..nx]);
                    row_w[nx..n].copy_from_slice(&w_h[r * nh..][..nh]);
                    row_v[..nx].copy_from_slice(x);
                    row_v[nx..n].copy_from_slice(h);
                    let want = reference(
                        bias[r].to_bits(),
                        shift[r].min(24),
                        &row_w[..n],
                        &row_v[..n],
                    );
                    if out[r].to_bits() != want {
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
/// longest `i32` sum, and the first `i64` one); and `w8::rows` over 508 to
/// 512 extreme products. Returns the cases run.
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
    // `w8::rows` at the kernel's longest rows (509 extreme products: the
    // largest sum plus the rounding term) and past them (510..=512: the
    // portable path), two rows split between `x` and `h`.
    for n in 508..=LONG {
        let (nx, nh) = (n / 2, n - n / 2);
        for e in [0u8, 12, 24] {
            let mut out = [Q4_12::ZERO; 2];
            w8::rows(
                &[Q4_12::MIN, Q4_12::MAX],
                &[e, e],
                &long_w[..2 * nx],
                &long_v[..nx],
                &long_w[..2 * nh],
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
    cases
}
