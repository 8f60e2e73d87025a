//! 8-bit weights with 16-bit activations: [`NumberFormat::Q4_12W8`].
//!
//! Every weight is an `i8` `q`; each output row `r` (a gate row of a
//! recurrent layer, both its input part `w_ih[r]` and its recurrent part
//! `w_hh[r]`, or an output of the Dense head) has one power-of-two scale
//! `2^-e_r`, `0 ≤ e_r ≤ ` [`MAX_SHIFT`], so the weight's value is
//! `q · 2^-e_r`. Biases stay [`Q4_12`] (`i16`), and everything else — inputs,
//! `h`, gate values, the activations, the cell update, the Q20.12 cell
//! state, the outputs — is exactly [`NumberFormat::Q4_12`]'s arithmetic.
//! This is the "int16x8" scheme of TFLite Micro and CMSIS-NN's `s16`
//! kernels (8-bit weights, 16-bit activations), with a power-of-two scale.
//!
//! One pre-activation ([`pre`]) is exact integer arithmetic, the same on
//! every machine:
//!
//! ```text
//! S   = Σ_k q_x[k]·x[k] + Σ_k q_h[k]·h[k]       (i8 × i16 products, summed exactly)
//! acc = b·2^e + S                               (b: the bias's Q4.12 bits)
//! pre = sat_i16(⌊(acc + ⌊2^e / 2⌋) / 2^e⌋)       (round half up, saturate to Q4.12)
//! ```
//!
//! (`x`, `h` are Q4.12 bits.) With `e = 12` this is Q4.12's own
//! `from_acc(b·2^12 + Σ w·v)`; for any `e`, a model whose weights are all
//! of the form `q·2^-e_r` and representable in Q4.12 gives bit for bit the
//! outputs of the same model in Q4.12 (the same rational number, rounded
//! the same way). `|q·v| ≤ 2^22`, so `S` fits in an `i32` for rows of up to
//! 512 values; this implementation sums in an `i64` (exact for any length).
//!
//! **Why a scale per row, and why a power of two.** Gate rows differ widely
//! in magnitude (a forget gate's row against a candidate's; the head
//! against the recurrent layers): one scale per tensor would spend bits of
//! the small rows on the largest row's range. A power of two makes the
//! rescaling one rounding shift, and makes `e = 12` rows identical to
//! Q4.12; it costs at most one bit against an arbitrary scale (the row's
//! largest `|w|` maps to a `|q|` in `[64, 128]` instead of 127).
//!
//! **Choosing the scales** ([`row_shift`]): `e_r` is the largest `e ≤ 24`
//! such that every weight of the row rounds (to nearest, half away from
//! zero, like `Q4_12::from_f32`) into `[−128, 127]`: the finest scale that
//! clips nothing. A weight's error is then at most `2^-(e_r+1)`, i.e. at most
//! `2^-7` (and at least `2^-8`) of the row's largest `|w|`.
//!
//! **Bytes** (per layer, in header order, in the weights blob; every
//! layer's part is a multiple of 4 bytes, so each starts 4-aligned):
//!
//! - recurrent layer (`G` gate blocks, `IN` inputs, `H` units, `R = G·H`
//!   rows): `w_ih` (`R` rows of `IN`) and `w_hh` (`R` rows of `H`) in the
//!   pair layout (below), the shifts `e` `[R]` `u8`, zero bytes up to a
//!   multiple of 4, the bias `[4H]` Q4.12 `i16` (as in
//!   [`NumberFormat::Q4_12`]). A GRU's candidate row `n` uses its shift for
//!   both `W_in x + b_in` and `W_hn h + b_hn`, each a [`pre`] of its own;
//! - Dense head (`IN` inputs, `OUT` outputs): `w` (`OUT` rows of `IN`) in
//!   the pair layout, the shifts `[OUT]` `u8`, zero bytes up to a multiple
//!   of 4, the bias `[OUT]` `i16`, zero bytes up to a multiple of 4.
//!
//! **The pair layout** ([`weight`], [`pair_layout`]): rows `2k` and `2k +
//! 1` share `2n` bytes, column `c` as the bytes `q_{2k}[c] + 128` (`u8`)
//! and `q_{2k+1}[c]` (`i8`); an odd last row is `n` plain `i8`. Read as a
//! little-endian `i16`, a column is `v = 256·q_{2k+1} + q_{2k} + 128`: on
//! a Cortex-M4 one `SMLALD` of two such columns against two 16-bit values
//! adds `256·S_b + S_a + 128·Σv` for both rows of the pair, and `UXTB16`
//! with `SMLAD` adds `S_a + 128·Σv`: three instructions per two columns of
//! two rows (four MACs) give both exact sums, where row-major bytes need
//! four (two `SXTB16`, two `SMLAD`).
//!
//! A reader refuses a shift above [`MAX_SHIFT`] and non-zero padding
//! (`Error::Malformed`) when it builds a model.

use crate::activation::Activation;
use crate::cell::{tail, CellKind, CHUNK};
use crate::error::Error;
use crate::num::{row, sat_i16, NumberFormat, Scalar, Q4_12};
use crate::shape::LayerShape;

/// The largest row shift `e` (scale `2^-24`).
pub const MAX_SHIFT: u8 = 24;

/// Products per row up to which [`pre`] sums in an `i32`: `|q·v| ≤ 2^22`
/// (`−128 · −32768`), so 511 of them stay below `2^31`.
pub const I32_ROW: usize = 511;

/// `Σ w[k]·v[k]` over the common length, exact in an `i64`.
#[inline]
fn sum(w: &[i8], v: &[Q4_12]) -> i64 {
    w.iter()
        .zip(v)
        .map(|(&w, v)| i64::from(i32::from(w) * i32::from(v.to_bits())))
        .sum()
}

/// `Σ w[k]·v[k]` over the common length in an `i32`: exact when the
/// common length is at most [`I32_ROW`] (the caller checks), wrapping
/// otherwise (never panics).
/// On `thumbv7em` (Cortex-M4/M7) rows of at least `KERNEL_ROW` (16) run the
/// `SXTB16` + `SMLAD` kernel (shorter ones cost less inline than its
/// call), the same value.
#[inline]
fn sum32(w: &[i8], v: &[Q4_12]) -> i32 {
    #[cfg(lstm_arm_dsp)]
    if w.len().min(v.len()) >= KERNEL_ROW {
        return crate::num::w8_sum32(w, v);
    }
    w.iter().zip(v).fold(0i32, |a, (&w, v)| {
        a.wrapping_add(i32::from(w) * i32::from(v.to_bits()))
    })
}

/// Row lengths from which the Cortex-M4 kernel runs (see [`sum32`]).
#[cfg(lstm_arm_dsp)]
const KERNEL_ROW: usize = 16;

/// One pre-activation (see the [module docs](self)): `bias + 2^-shift ·
/// (Σ w_x·x + Σ w_h·h)`, summed exactly, rounded half up once, saturated
/// to Q4.12. A shift above [`MAX_SHIFT`] counts as [`MAX_SHIFT`] (a file
/// with one is refused before it gets here).
///
/// ```
/// use lstm_core::{w8, Q4_12};
/// let q = |x: f32| Q4_12::from_num(x);
/// // weights 64·2^-7 = 0.5 and -32·2^-7 = -0.25, bias 0.125:
/// // 0.125 + 0.5·1.0 - 0.25·0.5 = 0.5
/// let pre = w8::pre(q(0.125), 7, &[64], &[q(1.0)], &[-32], &[q(0.5)]);
/// assert_eq!(pre, q(0.5));
/// ```
#[inline]
pub fn pre(bias: Q4_12, shift: u8, w_x: &[i8], x: &[Q4_12], w_h: &[i8], h: &[Q4_12]) -> Q4_12 {
    let e = u32::from(shift.min(MAX_SHIFT));
    // |b·2^e| ≤ 2^39 and each product ≤ 2^22: no overflow below 2^40 terms.
    // A row of at most `I32_ROW` products sums exactly in an `i32` (one
    // 32-bit multiply-add per weight on a 32-bit core), the same value.
    let s = if w_x.len().min(x.len()) + w_h.len().min(h.len()) <= I32_ROW {
        i64::from(sum32(w_x, x).wrapping_add(sum32(w_h, h)))
    } else {
        sum(w_x, x) + sum(w_h, h)
    };
    let acc = (i64::from(bias.to_bits()) << e) + s;
    Q4_12::from_bits(sat_i16((acc + ((1i64 << e) >> 1)) >> e))
}

/// `sat_i16(bias + ⌊(s + ⌊2^e / 2⌋) / 2^e⌋)`: [`pre`]'s rounding and
/// saturation for a row sum `s` that is exact in an `i32`, computed in
/// 32-bit arithmetic (`b·2^e` is a multiple of `2^e`, so it leaves the
/// rounding unchanged; `s` splits into `(s >> e)·2^e + (s mod 2^e)`).
#[inline]
fn finish(bias: Q4_12, shift: u8, s: i32) -> Q4_12 {
    let e = u32::from(shift.min(MAX_SHIFT));
    let mask = (1i32 << e) - 1;
    let half = (1i32 << e) >> 1;
    // `s & mask < 2^24` and `half ≤ 2^23`: no overflow.
    let q = (s >> e) + (((s & mask) + half) >> e);
    Q4_12::from_bits(sat_i16(i64::from(
        i32::from(bias.to_bits()).saturating_add(q),
    )))
}

/// Whether row `r` (even) of a part of `n` weights per row is the first
/// of a stored pair, i.e. its partner `r + 1` is in `part` too (see
/// [`weight`]). An empty part (`n = 0`) pairs every row.
#[inline]
pub fn paired(part: &[u8], n: usize, r: usize) -> bool {
    n == 0 || r.saturating_add(2).saturating_mul(n) <= part.len()
}

/// The weight `q` of row `r`, column `c` of a part of `n` weights per row
/// in the file's *pair layout* (see the [module docs](self)): rows `2k`
/// and `2k + 1` share `2n` bytes, column `c` at bytes `2c` (`q_{2k}[c] +
/// 128` as a `u8`) and `2c + 1` (`q_{2k+1}[c]` as an `i8`); a last row
/// without a partner (an odd number of rows) is `n` plain `i8`. `part`
/// starts at a pair (row 0 even) and ends with the layer's last row; a
/// weight outside `part` reads as 0.
#[inline]
pub fn weight(part: &[u8], n: usize, r: usize, c: usize) -> i8 {
    let pair = r & !1;
    let at = |i: usize| part.get(i).copied();
    let q = if paired(part, n, pair) {
        let base = pair.saturating_mul(n).saturating_add(c.saturating_mul(2));
        if r & 1 == 0 {
            at(base).map(|b| (i16::from(b) - 128) as i8)
        } else {
            at(base.saturating_add(1)).map(|b| b as i8)
        }
    } else if r & 1 == 0 {
        at(r.saturating_mul(n).saturating_add(c)).map(|b| b as i8)
    } else {
        None
    };
    q.unwrap_or(0)
}

/// Writes the pair layout of `rows` rows of `n` weights each, given
/// row-major as `q` (`q[r·n + c]`), into `out` (`rows·n` bytes; at most
/// its length). The inverse of [`weight`].
pub fn pair_layout(q: &[i8], n: usize, rows: usize, out: &mut [u8]) {
    for r in 0..rows {
        for c in 0..n {
            put(out, n, rows, r, c, q.get(r * n + c).copied().unwrap_or(0));
        }
    }
}

/// Stores weight `q` of row `r`, column `c` of a part of `rows` rows of
/// `n` weights in the pair layout (see [`weight`]); out of range: nothing.
#[inline]
fn put(part: &mut [u8], n: usize, rows: usize, r: usize, c: usize, q: i8) {
    let pair = r & !1;
    let (at, byte) = if pair + 1 < rows {
        let base = pair * n + 2 * c;
        if r & 1 == 0 {
            (base, (i16::from(q) + 128) as u8)
        } else {
            (base + 1, q as u8)
        }
    } else {
        (r * n + c, q as u8)
    };
    if let Some(b) = part.get_mut(at) {
        *b = byte;
    }
}

/// `(Σ q_a·v, Σ q_b·v)` of the stored pair whose bytes start `part`
/// (`2·v.len()` bytes; a short `part` sums what it holds), in `i32`
/// arithmetic (wrapping; exact for at most [`I32_ROW`] products).
#[inline]
fn pair_sums32(part: &[u8], v: &[Q4_12]) -> (i32, i32) {
    part.chunks_exact(2)
        .zip(v)
        .fold((0i32, 0i32), |(a, b), (w, v)| {
            let v = i32::from(v.to_bits());
            let (qa, qb) = match w {
                [lo, hi] => (i32::from(*lo) - 128, i32::from(*hi as i8)),
                _ => (0, 0),
            };
            (a.wrapping_add(qa * v), b.wrapping_add(qb * v))
        })
}

/// [`pair_sums32`] exact in `i64` (any length).
#[inline]
fn pair_sums64(part: &[u8], v: &[Q4_12]) -> (i64, i64) {
    part.chunks_exact(2).zip(v).fold((0, 0), |(a, b), (w, v)| {
        let v = i64::from(v.to_bits());
        let (qa, qb) = match w {
            [lo, hi] => (i64::from(*lo) - 128, i64::from(*hi as i8)),
            _ => (0, 0),
        };
        (a + qa * v, b + qb * v)
    })
}

/// `Σ q[r][c]·v[c]` of row `r` of a pair-layout part (see [`weight`]),
/// exact in `i64`: the row's bytes read in place (every other byte of its
/// pair, or plain `i8` for an unpaired last row; a missing weight is 0),
/// summed in an `i32` when the row has at most [`I32_ROW`] products (no
/// 64-bit multiply per weight on a 32-bit core), the same value.
#[inline]
fn row_sum64(part: &[u8], r: usize, v: &[Q4_12]) -> i64 {
    let n = v.len();
    let pair = r & !1;
    let (bytes, step, low) = if paired(part, n, pair) {
        let at = pair.saturating_mul(n).saturating_add(r & 1);
        (tail(part, at), 2, r & 1 == 0)
    } else if r & 1 == 0 {
        (tail(part, r.saturating_mul(n)), 1, false)
    } else {
        return 0;
    };
    // Row `2k` of a pair is stored as `q + 128` (`u8`), the others as `i8`.
    let q = |b: u8| {
        if low {
            i32::from(b) - 128
        } else {
            i32::from(b as i8)
        }
    };
    if step == 1 && n <= I32_ROW {
        // Plain `i8`: the Cortex-M4 sums it with its `SXTB16` kernel.
        let row: &[i8] = bytemuck::cast_slice(bytes.get(..n).unwrap_or(bytes));
        return i64::from(sum32(row, v));
    }
    let terms = bytes.iter().step_by(step).zip(v);
    if n <= I32_ROW {
        i64::from(terms.fold(0i32, |a, (&b, v)| {
            a.wrapping_add(q(b) * i32::from(v.to_bits()))
        }))
    } else {
        terms
            .map(|(&b, v)| i64::from(q(b)) * i64::from(v.to_bits()))
            .sum()
    }
}

/// Row `r` of the parts alone (see [`weight`]): [`pre`] with its sums by
/// [`row_sum64`], rounded in 32 bits when the row has at most [`I32_ROW`]
/// products (its sum is then exact in an `i32`).
#[inline]
fn one_row(
    bias: Q4_12,
    shift: u8,
    w_x: &[u8],
    x: &[Q4_12],
    w_h: &[u8],
    h: &[Q4_12],
    r: usize,
) -> Q4_12 {
    let s = row_sum64(w_x, r, x) + row_sum64(w_h, r, h);
    if x.len().saturating_add(h.len()) <= I32_ROW {
        finish(bias, shift, s as i32)
    } else {
        finish64(bias, shift, s)
    }
}

/// How many complete row pairs a row-pair kernel computes from row 0: the
/// largest `k` such that rows `0 .. 2k` all have an output, a bias and a
/// shift (`rows` = the fewest of those) and both parts hold `k` complete
/// pairs (`2k·n` bytes); 0 when a row has more than `max_row` products. A
/// multiplication on the common path (a Cortex-M0 divides in software).
#[cfg(any(lstm_arm_dsp, lstm_thumb1))]
pub(crate) fn kernel_pairs(
    rows: usize,
    w_x: &[u8],
    nx: usize,
    w_h: &[u8],
    nh: usize,
    max_row: usize,
) -> usize {
    if nx.saturating_add(nh) > max_row {
        return 0;
    }
    let fit = |w: &[u8], n: usize, pairs: usize| match n {
        0 => pairs,
        _ if pairs < 1 << 21 && 2 * pairs * n <= w.len() => pairs,
        _ => pairs.min(w.len() / (2 * n)),
    };
    fit(w_h, nh, fit(w_x, nx, rows / 2))
}

/// `sat_i16(bias + ⌊(s + ⌊2^e / 2⌋) / 2^e⌋)` for an exact `i64` sum `s`:
/// [`pre`]'s rounding and saturation.
#[inline]
fn finish64(bias: Q4_12, shift: u8, s: i64) -> Q4_12 {
    let e = u32::from(shift.min(MAX_SHIFT));
    let acc = (i64::from(bias.to_bits()) << e) + s;
    Q4_12::from_bits(sat_i16((acc + ((1i64 << e) >> 1)) >> e))
}

/// [`rows`] from a row that starts a pair: `out.len()` consecutive rows `0, 1, …` of a layer
/// part in the file's pair layout (see [`weight`]): for every `r`,
/// `out[r] = pre(bias[r], shift[r], q_x[r], x, q_h[r], h)` where `q_x[r]`
/// is row `r` of `w_x` (`x.len()` weights per row) and `q_h[r]` row `r` of
/// `w_h`. Row 0 must be the first of a pair (or the layer's unpaired last
/// row) and the parts must run to the layer's last row, so that a pair's
/// partner is found; a missing bias reads as zero, a missing shift as 0, a
/// missing weight as 0. The same values as [`pre`] row by row; pairs are
/// summed together (one pass over `x` and `h` for two rows), on
/// `thumbv7em` by the row-pair kernel `w8_pairs` in `num::dsp` and on
/// `thumbv6m` by `w8_pairs` in `num::thumb1`.
#[inline]
fn rows_even(
    bias: &[Q4_12],
    shift: &[u8],
    w_x: &[u8],
    x: &[Q4_12],
    w_h: &[u8],
    h: &[Q4_12],
    out: &mut [Q4_12],
) {
    let (nx, nh) = (x.len(), h.len());
    let short = nx.saturating_add(nh) <= I32_ROW;
    let b_e = |r: usize| {
        (
            bias.get(r).map_or(Q4_12::ZERO, |&b| b),
            shift.get(r).map_or(0, |&e| e),
        )
    };
    #[cfg(any(lstm_arm_dsp, lstm_thumb1))]
    let mut r = crate::num::w8_pairs(bias, shift, w_x, x, w_h, h, out);
    #[cfg(not(any(lstm_arm_dsp, lstm_thumb1)))]
    let mut r = 0;
    while let Some(rest) = out.get_mut(r..).filter(|rest| !rest.is_empty()) {
        let pair = rest.len() >= 2 && paired(w_x, nx, r) && paired(w_h, nh, r);
        if pair {
            let (px, ph) = (
                tail(w_x, r.saturating_mul(nx)),
                tail(w_h, r.saturating_mul(nh)),
            );
            let ((ba, ea), (bb, eb)) = (b_e(r), b_e(r + 1));
            let (a, b) = if short {
                let ((xa, xb), (ha, hb)) = (pair_sums32(px, x), pair_sums32(ph, h));
                (
                    finish(ba, ea, xa.wrapping_add(ha)),
                    finish(bb, eb, xb.wrapping_add(hb)),
                )
            } else {
                let ((xa, xb), (ha, hb)) = (pair_sums64(px, x), pair_sums64(ph, h));
                (finish64(ba, ea, xa + ha), finish64(bb, eb, xb + hb))
            };
            if let [oa, ob, ..] = rest {
                (*oa, *ob) = (a, b);
            }
            r += 2;
        } else {
            let (b, e) = b_e(r);
            if let Some(o) = rest.first_mut() {
                *o = one_row(b, e, w_x, x, w_h, h, r);
            }
            r += 1;
        }
    }
}

/// Pre-activations of `out.len()` consecutive rows `first, first + 1, …`
/// of a layer part in the file's pair layout (see [`weight`]): `w_x` and
/// `w_h` start at the pair holding row `first` (row `first & !1`) and run
/// to the layer's last row (`x.len()` and `h.len()` weights per row), so
/// that a pair's partner is found; `bias` and `shift` start at row
/// `first`. For every `i`, `out[i] = pre(bias[i], shift[i], q_x, x, q_h,
/// h)` with `q_x`, `q_h` row `first + i`'s weights; a missing bias reads as
/// zero, a missing shift as 0, a missing weight as 0. The same values as
/// [`pre`] row by row; pairs are summed together (one pass over `x` and
/// `h` for two rows), by a row-pair kernel on `thumbv7em` and `thumbv6m`
/// (`w8_pairs` in `num::dsp` and `num::thumb1`). Exposed for the device
/// self-test.
///
/// ```
/// use lstm_core::{w8, Q4_12};
/// let q = |x: f32| Q4_12::from_num(x);
/// // Two rows of one weight each, 64·2^-7 = 0.5 and -32·2^-7 = -0.25:
/// let mut part = [0u8; 2];
/// w8::pair_layout(&[64, -32], 1, 2, &mut part);
/// assert_eq!(part, [64 + 128, (-32i8) as u8]);
/// let mut out = [Q4_12::ZERO; 2];
/// w8::rows(0, &[q(0.125), q(0.0)], &[7, 7], &part, &[q(1.0)], &[], &[], &mut out);
/// assert_eq!(out, [q(0.625), q(-0.25)]);
/// ```
#[doc(hidden)]
#[inline]
#[allow(clippy::too_many_arguments)]
pub fn rows(
    first: usize,
    bias: &[Q4_12],
    shift: &[u8],
    w_x: &[u8],
    x: &[Q4_12],
    w_h: &[u8],
    h: &[Q4_12],
    out: &mut [Q4_12],
) {
    if first & 1 == 0 {
        return rows_even(bias, shift, w_x, x, w_h, h, out);
    }
    // Row `first` is the second of the pair that starts the parts.
    let Some((o, out)) = out.split_first_mut() else {
        return;
    };
    let (b, e) = (
        bias.first().map_or(Q4_12::ZERO, |&b| b),
        shift.first().map_or(0, |&e| e),
    );
    *o = one_row(b, e, w_x, x, w_h, h, 1);
    rows_even(
        tail(bias, 1),
        tail(shift, 1),
        tail(w_x, x.len().saturating_mul(2)),
        x,
        tail(w_h, h.len().saturating_mul(2)),
        h,
        out,
    );
}

/// `round(w · 2^e)` (half away from zero), saturated to `i8`; NaN is 0.
pub fn quantize(w: f32, shift: u8) -> i8 {
    let scaled = libm::roundf(w * (1u32 << shift.min(MAX_SHIFT)) as f32);
    if scaled.is_nan() {
        0
    } else {
        scaled.clamp(-128.0, 127.0) as i8
    }
}

/// The shift of a row (see the [module docs](self)): the largest
/// `e ≤` [`MAX_SHIFT`] at which every weight rounds into `[−128, 127]`
/// ([`MAX_SHIFT`] for an empty or all-zero row; 0 when even `e = 0` clips,
/// i.e. some `|w| > 127.5`).
pub fn row_shift(weights: impl IntoIterator<Item = f32>) -> u8 {
    let (lo, hi) = weights
        .into_iter()
        .fold((0.0f32, 0.0f32), |(lo, hi), w| (lo.min(w), hi.max(w)));
    (0..=MAX_SHIFT)
        .rev()
        .find(|&e| {
            let s = (1u32 << e) as f32;
            libm::roundf(hi * s) <= 127.0 && libm::roundf(lo * s) >= -128.0
        })
        .unwrap_or(0)
}

/// The next multiple of 4.
fn pad4(n: usize) -> Option<usize> {
    n.checked_next_multiple_of(4)
}

/// `(rows, weights per row, bias values)` of a layer: `G·H`, `(IN, H)`,
/// `4H` for a recurrent layer; `OUT`, `(IN, 0)`, `OUT` for the head.
fn dims(shape: LayerShape) -> Option<(usize, (usize, usize), usize)> {
    let (i, o) = (shape.input(), shape.output());
    match shape.cell() {
        Some(kind) => Some((kind.gates().checked_mul(o)?, (i, o), o.checked_mul(4)?)),
        None => Some((o, (i, 0), o)),
    }
}

/// Bytes of one layer in the weights blob. `None` on overflow.
pub fn layer_len(shape: LayerShape) -> Option<usize> {
    let (rows, (i, h), b) = dims(shape)?;
    let weights = rows.checked_mul(i.checked_add(h)?)?;
    pad4(pad4(weights.checked_add(rows)?)?.checked_add(b.checked_mul(2)?)?)
}

/// Bytes of the weights blob of `layers`. `None` on overflow.
pub fn blob_len(layers: &[LayerShape]) -> Option<usize> {
    layers
        .iter()
        .try_fold(0usize, |n, &l| n.checked_add(layer_len(l)?))
}

/// Writes the blob of `layers` from `weights` (every layer's values in
/// file order, as for the other formats: `w_ih`, `w_hh`, bias; `w`, `b`):
/// the shifts by [`row_shift`], the weights by [`quantize`], the biases as
/// `Q4_12::from_f32`. `blob` must be [`blob_len`] bytes of zeros and
/// `weights` must match the shapes (the caller checks both).
#[cfg(feature = "serde")]
pub(crate) fn put_weights(layers: &[LayerShape], weights: &[f32], blob: &mut [u8]) {
    let (mut weights, mut blob) = (weights, blob);
    for &shape in layers {
        let (Some((rows, (i, h), nb)), Some(len)) = (dims(shape), layer_len(shape)) else {
            return;
        };
        // The header is valid, so none of these sizes overflows.
        let (n_ih, n_hh) = (rows * i, rows * h);
        let n = len.min(blob.len());
        let (out, rest) = core::mem::take(&mut blob).split_at_mut(n);
        blob = rest;
        let (w_ih, w_hh, bias) = (
            row(weights, 0, n_ih),
            row(weights, n_ih, n_hh),
            row(weights, n_ih + n_hh, nb),
        );
        weights = weights.get(n_ih + n_hh + nb..).unwrap_or(&[]);
        let (q_ih, rest) = out.split_at_mut(n_ih.min(out.len()));
        let (q_hh, rest) = rest.split_at_mut(n_hh.min(rest.len()));
        let (shifts, rest) = rest.split_at_mut(rows.min(rest.len()));
        let used = n_ih + n_hh + rows;
        let pad = pad4(used).unwrap_or(used) - used;
        let biases = rest.get_mut(pad..).unwrap_or_default();
        for (r, e_out) in shifts.iter_mut().enumerate() {
            let (ri, rh) = (row(w_ih, r * i, i), row(w_hh, r * h, h));
            let e = row_shift(ri.iter().chain(rh).copied());
            *e_out = e;
            for (c, &w) in ri.iter().enumerate() {
                put(q_ih, i, rows, r, c, quantize(w, e));
            }
            for (c, &w) in rh.iter().enumerate() {
                put(q_hh, h, rows, r, c, quantize(w, e));
            }
        }
        for (out, &b) in biases.chunks_exact_mut(2).zip(bias) {
            out.copy_from_slice(&Q4_12::from_f32(b).to_bits().to_le_bytes());
        }
    }
}

/// One layer's 8-bit weights, borrowed from a model file: rows as in
/// [`crate::Cell`] (`w_ih` `R` rows of `IN`, `w_hh` `R` rows of `H`, bias
/// `[4][H]`) or the head (`w_ih` `OUT` rows of `IN`, `w_hh` empty, bias
/// `[OUT]`), the weights as the file's bytes in the pair layout (see
/// [`weight`]).
#[derive(Clone, Copy, Debug)]
pub struct LayerW8<'a, T> {
    /// Input weights (the head's weights), pair layout.
    pub w_ih: &'a [u8],
    /// Recurrent weights, pair layout (empty for the head).
    pub w_hh: &'a [u8],
    /// The shift `e` of each row.
    pub shift: &'a [u8],
    /// The biases, in the activations' type.
    pub bias: &'a [T],
}

/// Splits off `n` bytes, or reports a short blob.
fn split<'a>(bytes: &mut &'a [u8], n: usize) -> Result<&'a [u8], Error> {
    if bytes.len() < n {
        return Err(Error::Malformed(
            "weights blob shorter than the layers need",
        ));
    }
    let (taken, rest) = bytes.split_at(n);
    *bytes = rest;
    Ok(taken)
}

/// One layer's parts as bytes: `w_ih`, `w_hh`, shifts, bias.
type Parts<'a> = (&'a [u8], &'a [u8], &'a [u8], &'a [u8]);

/// Splits the next layer of shape `shape` off `bytes`, checking its shifts
/// and its padding.
fn parts<'a>(shape: LayerShape, bytes: &mut &'a [u8]) -> Result<Parts<'a>, Error> {
    let too_big = Error::Malformed("weights too large");
    let (rows, (i, h), nb) = dims(shape).ok_or(too_big)?;
    let start_len = bytes.len();
    let w_ih = split(bytes, rows.checked_mul(i).ok_or(too_big)?)?;
    let w_hh = split(bytes, rows.checked_mul(h).ok_or(too_big)?)?;
    let shift = split(bytes, rows)?;
    if shift.iter().any(|&e| e > MAX_SHIFT) {
        return Err(Error::Malformed("a row's weight shift is above 24"));
    }
    let used = start_len - bytes.len();
    let pad = split(bytes, pad4(used).ok_or(too_big)? - used)?;
    let bias = split(bytes, nb.checked_mul(2).ok_or(too_big)?)?;
    let used = start_len - bytes.len();
    let tail = split(bytes, pad4(used).ok_or(too_big)? - used)?;
    if pad.iter().chain(tail).any(|&b| b != 0) {
        return Err(Error::Malformed("padding in the weights is not zero"));
    }
    Ok((w_ih, w_hh, shift, bias))
}

/// Reads the next layer of shape `shape` from `bytes` (moving past it),
/// checking its shifts, its padding and the biases' alignment. `T` is the
/// type the layer computes in ([`Q4_12`]; a type of another size is
/// refused as `Error::FormatMismatch`).
pub fn read_layer<'a, T: Scalar>(
    shape: LayerShape,
    bytes: &mut &'a [u8],
) -> Result<LayerW8<'a, T>, Error> {
    if core::mem::size_of::<T>() != 2 {
        return Err(Error::FormatMismatch {
            expected: T::FORMAT,
            found: NumberFormat::Q4_12W8,
        });
    }
    let (w_ih, w_hh, shift, bias) = parts(shape, bytes)?;
    let bias = bytemuck::try_cast_slice(bias).map_err(|_| Error::Misaligned {
        required: core::mem::align_of::<T>(),
    })?;
    Ok(LayerW8 {
        w_ih,
        w_hh,
        shift,
        bias,
    })
}

/// The value of every weight and bias of a blob of `layers` in file order
/// (as a Q4.12 or `f32` file lists them: `w_ih`, `w_hh`, bias; `w`, `b`),
/// into `out` (at most its length; any alignment). Returns the number of
/// values written.
pub fn decode(layers: &[LayerShape], blob: &[u8], out: &mut [f32]) -> Result<usize, Error> {
    let mut bytes = blob;
    let mut values = out.iter_mut();
    let mut n = 0;
    for &shape in layers {
        let (w_ih, w_hh, shift, bias) = parts(shape, &mut bytes)?;
        let (i, h) = (
            shape.input(),
            if shape.cell().is_some() {
                shape.output()
            } else {
                0
            },
        );
        let scale = |r: usize| 1.0 / (1u32 << shift.get(r).map_or(0, |&e| e)) as f32;
        let rows = shift.len();
        let value = |part: &[u8], n: usize, k: usize| {
            let r = k / n.max(1);
            f32::from(weight(part, n, r, k % n.max(1))) * scale(r)
        };
        let w = (0..rows * i)
            .map(|k| value(w_ih, i, k))
            .chain((0..rows * h).map(|k| value(w_hh, h, k)))
            .chain(
                bias.chunks_exact(2)
                    .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 4096.0),
            );
        // `w` first: when it ends, no slot of `out` is skipped.
        for (v, o) in w.zip(values.by_ref()) {
            *o = v;
            n += 1;
        }
    }
    Ok(n)
}

impl<T: Scalar> LayerW8<'_, T> {
    /// The pre-activations of rows `r0 ..` into `out` with the biases at
    /// `b0 ..`: over `x` and `h` (an empty `x` or `h` leaves that part
    /// out).
    #[inline]
    fn rows(&self, r0: usize, b0: usize, x: &[T], h: &[T], out: &mut [T]) {
        let (ni, nh, pair) = (x.len(), h.len(), r0 & !1);
        T::w8_rows(
            r0,
            tail(self.bias, b0),
            tail(self.shift, r0),
            tail(self.w_ih, pair.saturating_mul(ni)),
            x,
            tail(self.w_hh, pair.saturating_mul(nh)),
            h,
            out,
        );
    }

    /// One recurrent step of a `kind` layer: `x` `[IN]`, `h_prev` `[H]`,
    /// the new `h` into `h_out` (`[H]`), `c` updated in place (`[H]` for
    /// the LSTM, empty for the GRU). The pre-activations of up to
    /// [`CHUNK`] units per gate row block in one call, then the cells' own
    /// unit updates (`Activation::lstm_units`, the GRU's unit), so only the
    /// pre-activations differ from the full-width format's.
    pub fn step<A: Activation<T>>(
        &self,
        kind: CellKind,
        x: &[T],
        h_prev: &[T],
        h_out: &mut [T],
        c: &mut [T::Cell],
    ) {
        let hidden = h_out.len();
        let at = |k: usize, j: usize| k.saturating_mul(hidden).saturating_add(j);
        match kind {
            CellKind::Lstm => {
                for (chunk, (hs, cs)) in
                    h_out.chunks_mut(CHUNK).zip(c.chunks_mut(CHUNK)).enumerate()
                {
                    let j0 = chunk * CHUNK;
                    let mut pre = [[T::ZERO; CHUNK]; 4];
                    if hidden <= CHUNK {
                        // One layer-wide call (`x` and `h` packed once):
                        // the 4 gate blocks are consecutive rows.
                        rows_spread(&mut pre, 4, hidden, |p| self.rows(0, 0, x, h_prev, p));
                    } else {
                        for (g, p) in pre.iter_mut().enumerate() {
                            let r0 = at(g, j0);
                            let (p, _) = p.split_at_mut(hs.len().min(CHUNK));
                            self.rows(r0, r0, x, h_prev, p);
                        }
                    }
                    A::lstm_units(&pre, cs, hs);
                }
            }
            CellKind::Gru => {
                use crate::gru::{bias as b, gate};
                let (no_x, no_h) = (x.get(..0).unwrap_or(&[]), h_prev.get(..0).unwrap_or(&[]));
                for (chunk, hs) in h_out.chunks_mut(CHUNK).enumerate() {
                    let j0 = chunk * CHUNK;
                    let n = hs.len().min(CHUNK);
                    let mut pre = [[T::ZERO; CHUNK]; 4];
                    if hidden <= CHUNK {
                        // One call for the r and z blocks (consecutive
                        // rows, consecutive biases).
                        rows_spread(&mut pre, 2, hidden, |p| self.rows(0, 0, x, h_prev, p));
                    }
                    let [pr, pz, pnx, pnh] = &mut pre;
                    let (pr, pz, pnx, pnh) =
                        (&mut pr[..n], &mut pz[..n], &mut pnx[..n], &mut pnh[..n]);
                    if hidden > CHUNK {
                        self.rows(at(gate::R, j0), at(b::R, j0), x, h_prev, pr);
                        self.rows(at(gate::Z, j0), at(b::Z, j0), x, h_prev, pz);
                    }
                    self.rows(at(gate::N, j0), at(b::N_INPUT, j0), x, no_h, pnx);
                    self.rows(at(gate::N, j0), at(b::N_HIDDEN, j0), no_x, h_prev, pnh);
                    for (j, (h, (((&r, &z), &nx), &nh))) in hs
                        .iter_mut()
                        .zip(pr.iter().zip(pz.iter()).zip(pnx.iter()).zip(pnh.iter()))
                        .enumerate()
                    {
                        let old = h_prev.get(j0 + j).map_or(T::ZERO, |&v| v);
                        *h = crate::gru::unit::<T, A>(r, z, nx, nh, old);
                    }
                }
            }
        }
    }

    /// The head: `y[k]` = row `k`'s pre-activation over `x`.
    pub fn dense(&self, x: &[T], y: &mut [T]) {
        self.rows(0, 0, x, &[], y);
    }
}

/// Calls `rows` for `blocks · hidden` consecutive rows (`blocks ≤ 4` gate
/// blocks: an LSTM's four, a GRU's r and z; `hidden ≤ CHUNK`) written from
/// the start of `out`, then moves block `g` to `out[g]`.
#[inline]
fn rows_spread<T: Copy>(
    out: &mut [[T; CHUNK]; 4],
    blocks: usize,
    hidden: usize,
    rows: impl FnOnce(&mut [T]),
) {
    let (h, blocks) = (hidden.min(CHUNK), blocks.min(4));
    let flat = out.as_flattened_mut();
    rows(flat.get_mut(..blocks * h).unwrap_or(&mut []));
    // From the last block down: a block's destination starts at or after
    // its source, and past every lower block's source (`g < 4`, `h ≤
    // CHUNK`: both ranges are inside `flat`).
    for g in (1..blocks).rev() {
        flat.copy_within(g * h..(g + 1) * h, g * CHUNK);
    }
}

/// Whether `format` stores 8-bit weights.
pub const fn is_w8(format: NumberFormat) -> bool {
    matches!(format, NumberFormat::Q4_12W8)
}

/// A recurrent layer with 8-bit weights and const-generic shapes (cell `C`,
/// `IN` inputs, `H` units, `G` gate blocks), computing in [`Q4_12`] with
/// activations `A`: the same arithmetic as `DynModel` over the same file
/// (one implementation, [`LayerW8::step`]). Use the aliases [`LstmW8`] and
/// [`GruW8`]; load it from a [`NumberFormat::Q4_12W8`] file with
/// `ModelFile::model`.
#[derive(Debug)]
pub struct RecurrentW8<'w, C, A, const IN: usize, const H: usize, const G: usize> {
    /// Input weights: `G·H` rows of `IN`, the file's bytes in the pair
    /// layout (see [`weight`]; not indexed `[gate][unit][input]`).
    pub w_ih: &'w [[[u8; IN]; H]; G],
    /// Recurrent weights: `G·H` rows of `H`, pair layout.
    pub w_hh: &'w [[[u8; H]; H]; G],
    /// The shift `e` of every gate row, `[gate][unit]`.
    pub shift: &'w [[u8; H]; G],
    /// Four bias rows, as in [`crate::RecurrentWeights`].
    pub bias: &'w [[Q4_12; H]; 4],
    _cell: core::marker::PhantomData<(C, A)>,
}

impl<C, A, const IN: usize, const H: usize, const G: usize> Clone
    for RecurrentW8<'_, C, A, IN, H, G>
{
    fn clone(&self) -> Self {
        *self
    }
}
impl<C, A, const IN: usize, const H: usize, const G: usize> Copy
    for RecurrentW8<'_, C, A, IN, H, G>
{
}

impl<'w, C: crate::Cell, A, const IN: usize, const H: usize, const G: usize>
    RecurrentW8<'w, C, A, IN, H, G>
{
    /// Fails to compile when `G` is not the cell's number of gate blocks.
    const GATES_MATCH: () = assert!(G == C::GATES, "G must be the cell's Cell::GATES");

    /// A layer over the given weights, shifts and biases.
    pub const fn new(
        w_ih: &'w [[[u8; IN]; H]; G],
        w_hh: &'w [[[u8; H]; H]; G],
        shift: &'w [[u8; H]; G],
        bias: &'w [[Q4_12; H]; 4],
    ) -> Self {
        let () = Self::GATES_MATCH;
        RecurrentW8 {
            w_ih,
            w_hh,
            shift,
            bias,
            _cell: core::marker::PhantomData,
        }
    }

    /// The flat view [`LayerW8`] computes over.
    fn view(&self) -> LayerW8<'w, Q4_12> {
        LayerW8 {
            w_ih: self.w_ih.as_flattened().as_flattened(),
            w_hh: self.w_hh.as_flattened().as_flattened(),
            shift: self.shift.as_flattened(),
            bias: self.bias.as_flattened(),
        }
    }
}

impl<C: crate::Cell, A: Activation<Q4_12>, const IN: usize, const H: usize, const G: usize>
    crate::Layer<Q4_12, IN, H> for RecurrentW8<'_, C, A, IN, H, G>
{
    type State = C::State<Q4_12, H>;

    fn zero_state(&self) -> Self::State {
        C::zero_state()
    }

    #[inline]
    fn step(&self, state: &mut Self::State, x: &[Q4_12; IN]) -> [Q4_12; H] {
        let () = Self::GATES_MATCH;
        let (h, c) = C::state_parts(state);
        let h_prev = *h;
        self.view().step::<A>(C::KIND, x, &h_prev, h, c);
        *h
    }
}

/// An LSTM layer with 8-bit weights: [`RecurrentW8`] over [`crate::LstmCell`].
pub type LstmW8<'w, A, const IN: usize, const H: usize> =
    RecurrentW8<'w, crate::LstmCell, A, IN, H, 4>;
/// A GRU layer with 8-bit weights: [`RecurrentW8`] over [`crate::GruCell`].
pub type GruW8<'w, A, const IN: usize, const H: usize> =
    RecurrentW8<'w, crate::GruCell, A, IN, H, 3>;

/// The Dense head with 8-bit weights, computing in [`Q4_12`].
#[derive(Clone, Copy, Debug)]
pub struct DenseW8<'w, const IN: usize, const OUT: usize> {
    /// `OUT` rows of `IN`, the file's bytes in the pair layout (see
    /// [`weight`]).
    pub w: &'w [[u8; IN]; OUT],
    /// The shift `e` of every output row.
    pub shift: &'w [u8; OUT],
    /// `[output]`.
    pub bias: &'w [Q4_12; OUT],
}

impl<const IN: usize, const OUT: usize> crate::Layer<Q4_12, IN, OUT> for DenseW8<'_, IN, OUT> {
    type State = ();

    fn zero_state(&self) {}

    #[inline]
    fn step(&self, _state: &mut (), x: &[Q4_12; IN]) -> [Q4_12; OUT] {
        let mut y = [Q4_12::ZERO; OUT];
        LayerW8 {
            w_ih: self.w.as_flattened(),
            w_hh: &[],
            shift: self.shift,
            bias: self.bias,
        }
        .dense(x, &mut y);
        y
    }
}

#[cfg(feature = "serde")]
mod load {
    use super::{DenseW8, RecurrentW8};
    use crate::error::Error;
    use crate::file::{FromModelFile, LayerReader};
    use crate::num::Q4_12;
    use crate::shape::LayerShape;

    /// `u32` of a const-generic size (sizes above `u32::MAX` cannot be in a file).
    fn dim(n: usize) -> u32 {
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// `values` as a `&B` (an array), or the alignment `B` needs.
    fn array<V: bytemuck::Pod, B: bytemuck::Pod>(values: &[V]) -> Result<&B, Error> {
        bytemuck::try_from_bytes(bytemuck::cast_slice(values)).map_err(|_| Error::Misaligned {
            required: core::mem::align_of::<B>(),
        })
    }

    impl<'a, C: crate::Cell, A, const IN: usize, const H: usize, const G: usize>
        FromModelFile<'a, Q4_12> for RecurrentW8<'a, C, A, IN, H, G>
    {
        const LAYERS: usize = 1;
        const W8: bool = true;
        fn read(reader: &mut LayerReader<'_, 'a>) -> Result<Self, Error> {
            let shape = LayerShape::recurrent(C::KIND, dim(IN), dim(H));
            reader.expect_layer(shape)?;
            let l = reader.take_w8::<Q4_12>(shape)?;
            Ok(RecurrentW8::new(
                array(l.w_ih)?,
                array(l.w_hh)?,
                array(l.shift)?,
                array(l.bias)?,
            ))
        }
    }

    impl<'a, const IN: usize, const OUT: usize> FromModelFile<'a, Q4_12> for DenseW8<'a, IN, OUT> {
        const LAYERS: usize = 1;
        const W8: bool = true;
        fn read(reader: &mut LayerReader<'_, 'a>) -> Result<Self, Error> {
            let shape = LayerShape::Dense {
                input: dim(IN),
                output: dim(OUT),
            };
            reader.expect_layer(shape)?;
            let l = reader.take_w8::<Q4_12>(shape)?;
            Ok(DenseW8 {
                w: array(l.w_ih)?,
                shift: array(l.shift)?,
                bias: array(l.bias)?,
            })
        }
    }
}
