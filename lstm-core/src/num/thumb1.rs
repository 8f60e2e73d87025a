//! Q4.12 gate rows for Armv6-M (Cortex-M0/M0+), in Thumb-1 assembly.
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
