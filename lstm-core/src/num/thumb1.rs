//! Q4.12 gate rows for Armv6-M (Cortex-M0/M0+), in Thumb-1 assembly:
//! `q12_rows2_thumb1` (16-bit weights, below) and `w8_pairs_thumb1`
//! (8-bit weights in the pair layout of `NumberFormat::Q4_12W8`, two rows
//! per pass, 32-bit sums that are exact for the rows of at most 509
//! products it is called for; see its docs).
//!
//! The M0 has no `SMLALD` and no 64-bit multiply-accumulate; the portable
//! dot product sums in an `i64` (two instructions per addition, and the
//! compiler spills). This kernel computes two gate rows per pass with
//! 32-bit sums: each loaded pair of `h` values serves both rows, and a
//! sum that could leave the `i32` range is detected (the `V` flag of
//! `ADDS`), in which case the caller recomputes the call with the portable
//! code, so results are bit-identical on every input.
//!
//! Why 32 bits suffice when no overflow is flagged: the caller runs the
//! kernel only when every `|h| ≤ 4096` (a hidden state is `o·tanh(c)` or a
//! GRU blend of values in ±1, so this always holds for an LSTM or GRU
//! layer's own state), so each recurrent product is at most 2²⁷ in
//! magnitude and a block of 8 of them at most 2³⁰. Before each block the
//! kernel checks `|sum| < 2³⁰` (`ADDS t, s, s` overflows otherwise); then
//! the block cannot take the sum out of the `i32` range. The start value
//! (bias·2¹² + 2¹¹, at most 2²⁷ + 2¹¹) plus one input product (at most
//! 2³⁰) fits too; longer inputs check every addition. Compiled only for
//! `thumbv6m-*` targets (see `build.rs`); the device self-test in
//! `firmware-example/src/selftest.rs` checks it against the portable
//! arithmetic under QEMU's `microbit`.

use super::Q4_12;

/// Arguments of [`q12_rows2_thumb1`], in the order of its stack frame.
#[repr(C)]
struct Args {
    /// `[sp, #0]` Biases of the next row pair (advanced).
    bias: *const i16,
    /// `[sp, #4]` Input weights of the next row pair (advanced).
    w_ih: *const i16,
    /// `[sp, #8]` The input vector.
    x: *const i16,
    /// `[sp, #12]` `IN`.
    input: usize,
    /// `[sp, #16]` Recurrent weights of the next row pair (advanced).
    w_hh: *const i16,
    /// `[sp, #20]` The previous hidden state, 4-byte aligned.
    h: *const i16,
    /// `[sp, #24]` `2·H`: bytes of one recurrent row.
    h_bytes: usize,
    /// `[sp, #28]` `x[0]` sign-extended (one input).
    x0: i32,
    /// `[sp, #32]` Next output (advanced).
    out: *mut i16,
    /// `[sp, #36]` One past the last output.
    out_end: *mut i16,
    /// `[sp, #40]` `h + H`: where the recurrent blocks end.
    h_end: *const i16,
}

/// For every output row `r` (an even number of them), `out[r] =
/// from_acc((bias[r] << 12) + w_ih[r]·x + w_hh[r]·h)`, two rows per pass,
/// in 32-bit sums; returns 0, or 1 if a sum could have overflowed (the
/// outputs are then incomplete and the caller recomputes them).
///
/// Registers: `r8`, `r9` the two sums during the recurrent blocks (`ADD`
/// of high registers), `r10` = `h_end`, `r12` = 2¹¹; per block of 8
/// values of `h`: four `LDM` of an `h` word, split by `SXTH`/`ASRS`, and
/// per row an `LDM` of a weight word, split, two `MULS` and two `ADD`.
///
/// # Safety
///
/// `args` must point to a valid [`Args`] with `rows = out_end − out` even
/// and nonzero: `bias` readable for `rows` values, `w_ih` for `rows·IN`,
/// `x` for `IN` (`IN = 1`: `x0 = x[0]`), `h` for `H` and `w_hh` for `rows·H`
/// values, `H` a nonzero multiple of 8, `h_end = h + H`, `h` and `w_hh`
/// 4-byte aligned, every `|h[k]| ≤ 4096`; `out` writable for `rows` values
/// and not overlapping the inputs.
#[unsafe(naked)]
unsafe extern "C" fn q12_rows2_thumb1(args: *const Args) -> u32 {
    core::arch::naked_asm!(
        "push {{r4-r7, lr}}",
        "mov r4, r8",
        "mov r5, r9",
        "mov r6, r10",
        "mov r7, r11",
        "push {{r4-r7}}",
        "sub sp, #44",
        // Copy the 11 argument words to the frame.
        "mov r1, sp",
        "ldm r0!, {{r2-r7}}",
        "stm r1!, {{r2-r7}}",
        "ldm r0!, {{r2-r6}}",
        "stm r1!, {{r2-r6}}",
        "ldr r0, [sp, #40]",
        "mov r10, r0",
        "movs r0, #1",
        "lsls r0, r0, #11",
        "mov r12, r0",
        // Row pair loop: biases in Q.24 plus the rounding term.
        "10:",
        "ldr r0, [sp, #0]",
        "ldrh r3, [r0]",
        "ldrh r4, [r0, #2]",
        "adds r0, #4",
        "str r0, [sp, #0]",
        "lsls r3, r3, #16",
        "asrs r3, r3, #4",
        "lsls r4, r4, #16",
        "asrs r4, r4, #4",
        "add r3, r12",
        "add r4, r12",
        // The input part.
        "ldr r5, [sp, #12]",
        "cmp r5, #1",
        "bne 20f",
        // One input: both rows' weights are consecutive; one product cannot overflow.
        "ldr r0, [sp, #4]",
        "ldrh r6, [r0]",
        "ldrh r7, [r0, #2]",
        "adds r0, #4",
        "str r0, [sp, #4]",
        "sxth r6, r6",
        "sxth r7, r7",
        "ldr r5, [sp, #28]",
        "muls r6, r5, r6",
        "muls r7, r5, r7",
        "adds r3, r3, r6",
        "adds r4, r4, r7",
        "b 30f",
        // Any other input: every addition checked.
        "20:",
        "cmp r5, #0",
        "beq 30f",
        "ldr r0, [sp, #4]",
        "ldr r2, [sp, #8]",
        "lsls r1, r5, #1",
        "21:",
        "ldrh r6, [r2]",
        "sxth r6, r6",
        "ldrh r7, [r0]",
        "sxth r7, r7",
        "muls r7, r6, r7",
        "adds r3, r3, r7",
        "bvs 90f",
        "ldrsh r7, [r0, r1]",
        "muls r7, r6, r7",
        "adds r4, r4, r7",
        "bvs 90f",
        "adds r0, #2",
        "adds r2, #2",
        "subs r5, #1",
        "bne 21b",
        // Past the pair's two rows: the next pair's first row.
        "adds r0, r0, r1",
        "str r0, [sp, #4]",
        // The recurrent part, blocks of 8 values.
        "30:",
        "ldr r0, [sp, #16]",
        "ldr r1, [sp, #24]",
        "adds r1, r0, r1",
        "ldr r2, [sp, #20]",
        "mov r8, r3",
        "mov r9, r4",
        "31:",
        // |sum| < 2^30 for both rows, so that a block (|Σ| ≤ 2^30) cannot overflow.
        "adds r3, r3, r3",
        "bvs 90f",
        "adds r4, r4, r4",
        "bvs 90f",
        ".rept 4",
        "ldm r2!, {{r3}}",
        "sxth r4, r3",
        "asrs r3, r3, #16",
        "ldm r0!, {{r5}}",
        "sxth r6, r5",
        "asrs r5, r5, #16",
        "muls r6, r4, r6",
        "muls r5, r3, r5",
        "add r8, r6",
        "add r8, r5",
        "ldm r1!, {{r5}}",
        "sxth r6, r5",
        "asrs r5, r5, #16",
        "muls r6, r4, r6",
        "muls r5, r3, r5",
        "add r9, r6",
        "add r9, r5",
        ".endr",
        "mov r3, r8",
        "mov r4, r9",
        "cmp r2, r10",
        "bne 31b",
        "str r1, [sp, #16]",
        // Round (the 2^11 is in the start value) and saturate to 16 bits.
        "asrs r3, r3, #12",
        "asrs r4, r4, #12",
        "sxth r5, r3",
        "cmp r5, r3",
        "bne 40f",
        "41:",
        "sxth r6, r4",
        "cmp r6, r4",
        "bne 42f",
        "43:",
        "ldr r0, [sp, #32]",
        "strh r5, [r0]",
        "strh r6, [r0, #2]",
        "adds r0, #4",
        "str r0, [sp, #32]",
        "ldr r1, [sp, #36]",
        "cmp r0, r1",
        "beq 44f",
        "b 10b",
        "44:",
        "movs r0, #0",
        "99:",
        "add sp, #44",
        "pop {{r4-r7}}",
        "mov r8, r4",
        "mov r9, r5",
        "mov r10, r6",
        "mov r11, r7",
        "pop {{r4-r7, pc}}",
        // A sum could overflow: report it.
        "90:",
        "movs r0, #1",
        "b 99b",
        // Saturation: 32767, or −32768 for a negative sum.
        "40:",
        "asrs r5, r3, #31",
        "ldr r7, 50f",
        "eors r5, r7",
        "b 41b",
        "42:",
        "asrs r6, r4, #31",
        "ldr r7, 50f",
        "eors r6, r7",
        "b 43b",
        ".p2align 2",
        "50:",
        ".word 32767",
    )
}

/// Whether every `h` lies in `[−4096, 4095]` (so `|h| ≤ 4096`, which the
/// kernel needs): the bits of every `h + 4096` past bit 12 are zero.
#[inline]
fn h_in_range(h: &[Q4_12]) -> bool {
    let mut any = 0u16;
    for v in h {
        any |= (v.to_bits() as u16).wrapping_add(4096);
    }
    any >> 13 == 0
}

/// The gate rows by [`q12_rows2_thumb1`] if the shapes fit it (an even
/// number of rows; `H` a nonzero multiple of 8; `h` and `w_hh` 4-byte
/// aligned; every `h` in `[−4096, 4095]`; every row complete) and no sum could
/// overflow; returns how many rows it wrote (0: the caller computes them
/// all, as it does the rows past an even number).
#[inline]
pub(super) fn gate_rows(
    bias: &[Q4_12],
    w_ih: &[Q4_12],
    x: &[Q4_12],
    w_hh: &[Q4_12],
    h: &[Q4_12],
    out: &mut [Q4_12],
) -> usize {
    let rows = out.len() & !1;
    let aligned = |p: *const Q4_12| (p as usize).is_multiple_of(4);
    let fits = rows > 0
        && bias.len() >= rows
        && rows.checked_mul(x.len()).is_some_and(|n| w_ih.len() >= n)
        && rows.checked_mul(h.len()).is_some_and(|n| w_hh.len() >= n)
        && !h.is_empty()
        && h.len().is_multiple_of(8)
        && aligned(h.as_ptr())
        && aligned(w_hh.as_ptr())
        && h_in_range(h);
    let Some(out) = out.get_mut(..rows).filter(|_| fits) else {
        return 0;
    };
    let out_range = out.as_mut_ptr_range();
    let h_range = h.as_ptr_range();
    let args = Args {
        bias: bias.as_ptr().cast(),
        w_ih: w_ih.as_ptr().cast(),
        x: x.as_ptr().cast(),
        input: x.len(),
        w_hh: w_hh.as_ptr().cast(),
        h: h_range.start.cast(),
        h_bytes: 2 * h.len(),
        x0: x.first().map_or(0, |v| i32::from(v.to_bits())),
        out: out_range.start.cast(),
        out_end: out_range.end.cast(),
        h_end: h_range.end.cast(),
    };
    // SAFETY: checked above: `rows` (even, nonzero) biases and outputs,
    // complete rows of `x.len()` input and `h.len()` recurrent weights,
    // `h.len()` a nonzero multiple of 8 with `h_end` its end, `h` and
    // `w_hh` 4-byte aligned (read by `LDM`; the rest by `LDRH`/`LDRSH`,
    // 2-byte aligned as `i16`), every `|h| ≤ 4096`; `Q4_12` is
    // `repr(transparent)` over `i16`; `out` is an exclusive borrow, so it
    // overlaps none of the inputs; the kernel follows the AAPCS (saves
    // r4–r11, restores sp).
    match unsafe { q12_rows2_thumb1(&args) } {
        0 => rows,
        _ => 0,
    }
}

/// The longest row (`x.len() + h.len()`) [`w8_pairs`] computes: `|S| ≤
/// 509 · 2^22 = 2^31 − 3 · 2^22`, so adding the rounding term (at most
/// `2^23`) and then a bias (at most `2^15` after the shift) stays in the
/// `i32` range.
const W8_KERNEL_ROW: usize = 509;

/// Arguments of [`w8_pairs_thumb1`], in the order of its stack frame.
#[repr(C)]
struct W8Args {
    /// `[sp, #0]` Biases of the next row pair (advanced).
    bias: *const i16,
    /// `[sp, #4]` Shifts of the next row pair (advanced).
    shift: *const u8,
    /// `[sp, #8]` Next output (advanced).
    out: *mut i16,
    /// `[sp, #12]` One past the last output.
    out_end: *mut i16,
    /// `[sp, #16]` Input weights of the next row pair (advanced).
    w_x: *const u8,
    /// `[sp, #20]` `x + N_x`: one past the input values.
    x_end: *const i16,
    /// `[sp, #24]` `2·N_x`: bytes of one input column run of a pair.
    nx2: usize,
    /// `[sp, #28]` Recurrent weights of the next row pair (advanced).
    w_h: *const u8,
    /// `[sp, #32]` `h + N_h`.
    h_end: *const i16,
    /// `[sp, #36]` `2·N_h`.
    nh2: usize,
    /// `[sp, #40]` `128·Σ` of every value of `x` and `h` (wrapping).
    corr: i32,
}

/// Pairs of rows of 8-bit weights in the pair layout (see
/// [`crate::w8::weight`]): per pair `(a, b)` and per column `c` of each
/// part, `LDRSH` of the stored halfword `v = 256·q_b + q_a + 128` and of
/// the value `x`, `A += v·x` (wrapping), `q_b = v >> 8` (arithmetic, as
/// `q_a + 128` is in `[0, 255]`), `B += q_b·x`. At the end `B = S_b` (exact)
/// and `A = 256·S_b + S_a + 128·Σx (mod 2^32)`, so `S_a = A − 256·B −
/// corr` (wrapping; exact because the true `S_a` is an `i32`); then per
/// row `sat_i16(bias + ((S + ⌊2^e/2⌋) >> e))`, `e` clamped to 24.
///
/// Registers in a part: `r0` / `r4` the part's end and end + 2 in the
/// pair's weights, `r1` / `r5` the same for the values, `r2` the index
/// (bytes, from `−2N` up to 0; weights and values both advance two bytes
/// per column, so one index serves both), `r3`, `r6`, `r7` data, `A` in
/// `r8`, `B` in `r9`. An odd column first, then two columns per index
/// step (`[r0, r2]` and `[r4, r2]`), two steps per loop pass (entered in
/// the middle for an odd number of steps).
///
/// # Safety
///
/// `args` must point to a valid [`W8Args`] describing `pairs ≥ 1` row
/// pairs (`out_end − out = 2·pairs`): `bias` readable for `2·pairs` `i16`,
/// `shift` for `2·pairs` bytes, `out` writable for `2·pairs` `i16` (not
/// overlapping the inputs); `w_x` readable for `pairs·nx2` bytes and `w_h`
/// for `pairs·nh2` bytes, both 2-byte aligned when their part is not
/// empty (`LDRSH`); `x_end − nx2/2` readable for `nx2/2` values and
/// `h_end − nh2/2` for `nh2/2`; `nx2/2 + nh2/2 ≤` [`W8_KERNEL_ROW`].
#[unsafe(naked)]
unsafe extern "C" fn w8_pairs_thumb1(args: *const W8Args) {
    core::arch::naked_asm!(
        // One part of the current pair: \s_w the weights' slot (advanced
        // past the pair), \s_end the values' end, \s_n 2·N.
        ".macro w8t1_part s_w, s_end, s_n",
        "ldr r2, [sp, #\\s_n]",
        "cmp r2, #0",
        "beq 9f",
        "ldr r0, [sp, #\\s_w]",
        "adds r0, r0, r2",
        "str r0, [sp, #\\s_w]",
        "ldr r1, [sp, #\\s_end]",
        "rsbs r2, r2, #0",
        // N odd (bit 1 of 2N): one column.
        "lsls r3, r2, #31",
        "bcc 3f",
        "ldrsh r3, [r0, r2]",
        "ldrsh r6, [r1, r2]",
        "asrs r7, r3, #8",
        "muls r3, r6, r3",
        "add r8, r3",
        "muls r7, r6, r7",
        "add r9, r7",
        "adds r2, #2",
        "beq 9f",
        "3:",
        "adds r4, r0, #2",
        "adds r5, r1, #2",
        // An odd number of column pairs (bit 2 of the index): enter in the middle.
        "lsls r3, r2, #30",
        "bcs 5f",
        "4:",
        "ldrsh r3, [r0, r2]",
        "ldrsh r6, [r1, r2]",
        "asrs r7, r3, #8",
        "muls r3, r6, r3",
        "add r8, r3",
        "muls r7, r6, r7",
        "add r9, r7",
        "ldrsh r3, [r4, r2]",
        "ldrsh r6, [r5, r2]",
        "asrs r7, r3, #8",
        "muls r3, r6, r3",
        "add r8, r3",
        "muls r7, r6, r7",
        "add r9, r7",
        "adds r2, #4",
        "5:",
        "ldrsh r3, [r0, r2]",
        "ldrsh r6, [r1, r2]",
        "asrs r7, r3, #8",
        "muls r3, r6, r3",
        "add r8, r3",
        "muls r7, r6, r7",
        "add r9, r7",
        "ldrsh r3, [r4, r2]",
        "ldrsh r6, [r5, r2]",
        "asrs r7, r3, #8",
        "muls r3, r6, r3",
        "add r8, r3",
        "muls r7, r6, r7",
        "add r9, r7",
        "adds r2, #4",
        "bne 4b",
        "9:",
        ".endm",
        // Row sum \s (i32) to sat_i16(\b + ((\s + ⌊2^e/2⌋) >> e)) in \t,
        // e = \e clamped to 24; \u scratch.
        ".macro w8t1_round s, e, b, t, u",
        "cmp \\e, #24",
        "bls 1f",
        "movs \\e, #24",
        "1:",
        "movs \\t, #1",
        "lsls \\t, \\t, \\e",
        "asrs \\t, \\t, #1",
        "adds \\s, \\s, \\t",
        "asrs \\s, \\s, \\e",
        "adds \\s, \\s, \\b",
        "sxth \\t, \\s",
        "cmp \\t, \\s",
        "beq 2f",
        // Saturate: 32767, or −32768 for a negative sum.
        "asrs \\t, \\s, #31",
        "movs \\u, #1",
        "lsls \\u, \\u, #15",
        "subs \\u, \\u, #1",
        "eors \\t, \\u",
        "2:",
        ".endm",
        "push {{r4-r7, lr}}",
        "mov r4, r8",
        "mov r5, r9",
        "push {{r4, r5}}",
        "sub sp, #44",
        // Copy the 11 argument words to the frame.
        "mov r1, sp",
        "ldm r0!, {{r2-r7}}",
        "stm r1!, {{r2-r7}}",
        "ldm r0!, {{r2-r6}}",
        "stm r1!, {{r2-r6}}",
        // Row pair loop: A = B = 0, the input part, the recurrent part.
        "10:",
        "movs r0, #0",
        "mov r8, r0",
        "mov r9, r0",
        "w8t1_part 16, 20, 24",
        "w8t1_part 28, 32, 36",
        // S_a = A − 256·B − 128·Σ, S_b = B.
        "ldr r0, [sp, #40]",
        "mov r3, r8",
        "mov r4, r9",
        "subs r3, r3, r0",
        "lsls r0, r4, #8",
        "subs r3, r3, r0",
        // Shifts and biases.
        "ldr r0, [sp, #4]",
        "ldrb r1, [r0]",
        "ldrb r2, [r0, #1]",
        "adds r0, #2",
        "str r0, [sp, #4]",
        "ldr r0, [sp, #0]",
        "ldrh r5, [r0]",
        "ldrh r6, [r0, #2]",
        "adds r0, #4",
        "str r0, [sp, #0]",
        "sxth r5, r5",
        "sxth r6, r6",
        "w8t1_round r3, r1, r5, r0, r7",
        "w8t1_round r4, r2, r6, r1, r7",
        "ldr r2, [sp, #8]",
        "strh r0, [r2]",
        "strh r1, [r2, #2]",
        "adds r0, r2, #4",
        "str r0, [sp, #8]",
        "ldr r1, [sp, #12]",
        "cmp r0, r1",
        "beq 20f",
        "b 10b",
        "20:",
        ".purgem w8t1_part",
        ".purgem w8t1_round",
        "add sp, #44",
        "pop {{r4, r5}}",
        "mov r8, r4",
        "mov r9, r5",
        "pop {{r4-r7, pc}}",
    )
}

/// The rows of [`crate::w8::rows`] computed on the Cortex-M0: rows `0 ..
/// 2k` of parts in the pair layout (see [`crate::w8::weight`]) by
/// [`w8_pairs_thumb1`], for the largest `k` such that both rows of every
/// pair have an output, a bias, a shift and complete weights in both
/// parts (none when it declines; see the checks below). Returns `2k`: the
/// caller computes every row from there on (a layer's unpaired last row
/// too).
#[allow(clippy::too_many_arguments)]
#[inline]
pub(crate) fn w8_pairs(
    bias: &[Q4_12],
    shift: &[u8],
    w_x: &[u8],
    x: &[Q4_12],
    w_h: &[u8],
    h: &[Q4_12],
    out: &mut [Q4_12],
) -> usize {
    let (nx, nh) = (x.len(), h.len());
    let even = |w: &[u8], n: usize| n == 0 || (w.as_ptr() as usize).is_multiple_of(2);
    if !even(w_x, nx) || !even(w_h, nh) {
        return 0;
    }
    let rows = out.len().min(bias.len()).min(shift.len());
    let pairs = crate::w8::kernel_pairs(rows, w_x, nx, w_h, nh, W8_KERNEL_ROW);
    let rows = 2 * pairs;
    let Some(out) = out.get_mut(..rows).filter(|_| pairs > 0) else {
        return 0;
    };
    let sum = x
        .iter()
        .chain(h)
        .fold(0i32, |s, v| s.wrapping_add(i32::from(v.to_bits())));
    let out_range = out.as_mut_ptr_range();
    let args = W8Args {
        bias: bias.as_ptr().cast(),
        shift: shift.as_ptr(),
        out: out_range.start.cast(),
        out_end: out_range.end.cast(),
        w_x: w_x.as_ptr(),
        x_end: x.as_ptr_range().end.cast(),
        nx2: 2 * nx,
        w_h: w_h.as_ptr(),
        h_end: h.as_ptr_range().end.cast(),
        nh2: 2 * nh,
        corr: sum.wrapping_mul(128),
    };
    // SAFETY: checked above and by `w8::kernel_pairs`: `pairs ≥ 1`;
    // `rows = 2·pairs` outputs (an exclusive borrow, so overlapping no input), biases (`LDRH`, 2-byte
    // aligned as `i16`) and shifts (`LDRB`); `pairs` complete row pairs in
    // both parts (`2·pairs·N` bytes each), each non-empty part at an even
    // address, so every `LDRSH` of a column (at an even offset `2c` of a
    // pair's `2N` bytes) is 2-byte aligned; `x` and `h` (`Q4_12` is
    // `repr(transparent)` over `i16`) read for exactly their lengths;
    // `N_x + N_h ≤ W8_KERNEL_ROW`; `args` outlives the call; the kernel
    // follows the AAPCS (saves r4–r9 and lr, restores sp).
    unsafe { w8_pairs_thumb1(&args) };
    rows
}
