//! Kernels for the Armv7E-M DSP extension (Cortex-M4/M7) and, on the
//! hard-float targets, its FPU.
//!
//! - [`q12_dot`] and [`q12_rows`]: `SMLALD` adds two exact 16×16 products
//!   to a 64-bit accumulator in one instruction, which is exactly the
//!   portable semantics of [`Q4_12::dot`](super::Scalar::dot) (products
//!   summed exactly in an `i64`, saturated only when added to the caller's
//!   accumulator), so results are bit-identical to the portable code on
//!   every input. Pairs of `i16` are loaded as one 32-bit word: `LDM` (four
//!   words, one instruction) where both operands are 4-byte aligned, `LDR`
//!   (which the Cortex-M4 allows unaligned) elsewhere.
//! - [`q12_rows2`]: two gate rows per pass with `SMLAD` into 32-bit sums;
//!   the sticky Q flag reports a sum that left the `i32` range (or a
//!   saturating `SSAT`), and [`q12_rows`] then recomputes the call.
//! - [`q12_lstm_units`]: the Q4.12 LSTM unit update with the folded fast
//!   activation tables.
//! - [`w8_dot`]: one row part of 8-bit weights (`NumberFormat::Q4_12W8`)
//!   over 16-bit values, `SXTB16` + `SMLAD` into an `i32` (exact for the
//!   rows of at most 511 products it is called for).
//! - [`w8_pairs`] ([`w8_pairs_kernel`]): pairs of rows of 8-bit weights
//!   in the file's pair layout (both parts, the rounding shift, the bias
//!   and the saturation): per two weight columns of a row pair one `SMLAD`
//!   of the pair's halfwords (`256·q_b + q_a + 128`) and one `SXTB16` +
//!   `SMLAD` of row `b`'s bytes, the values copied once per call to a
//!   4-byte-aligned buffer so that one `LDM` loads 8 of them. A layer's
//!   unpaired last row (plain `i8`) is summed by [`w8_dot`] (through
//!   `w8::sum32`).
//! - `f32_rows4` (`thumbv7em-none-eabihf` only): four `f32` gate rows per
//!   pass with `VMLA.F32`, which rounds the product and then the sum, as
//!   `acc + w * v` does.
//!
//! `core::arch::arm::__smlald` is unstable, so the kernels are naked
//! functions in assembly (stable `naked_asm!`); being whole functions, they
//! may use every general register, saving the callee-saved ones (including
//! `r6`, `r7` and `r9`, which `asm!` operands cannot name) per the AAPCS.
//! Compiled only for `thumbv7em-*` targets (see `build.rs`); the device
//! self-test in `firmware-example/src/selftest.rs` checks them against the
//! portable arithmetic under QEMU.

use super::{Q20_12, Q4_12};
use crate::activation::{Piece, SIGMOID_Q12, TANH_Q12};
use crate::cell::CHUNK;

/// `Σ w[k]·x[k]` for `k < n`, exact (no saturation; `|Σ| < n·2³⁰`).
///
/// Register use: `r0` = `w`, `r1` = `x`, `r2` = `n`, sum in `r8:r9`,
/// block counter `r12`, data in `r3`–`r7`, `r10`, `r11`, `lr`.
///
/// # Safety
///
/// `w` and `x` must be valid for reads of `n` `i16` values each (any
/// alignment of 2; `LDM` is only used on 4-byte-aligned addresses).
#[unsafe(naked)]
unsafe extern "C" fn q12_dot(w: *const i16, x: *const i16, n: usize) -> i64 {
    core::arch::naked_asm!(
        "push {{r4-r11, lr}}",
        "mov r8, #0",
        "mov r9, #0",
        "cmp r2, #0",
        "beq 7f",
        // Head: one element if `w` is not 4-byte aligned, so `LDM` can load `w`.
        "tst r0, #2",
        "beq 2f",
        "ldrsh r3, [r0], #2",
        "ldrsh r4, [r1], #2",
        "smlalbb r8, r9, r3, r4",
        "subs r2, r2, #1",
        // Blocks of 8 elements: `w` by `LDM`; `x` by `LDM` if aligned, else by `LDR`.
        "2:",
        "lsrs r12, r2, #3",
        "beq 5f",
        "tst r1, #2",
        "bne 4f",
        "3:",
        "ldm r0!, {{r3, r4, r5, r6}}",
        "ldm r1!, {{r7, r10, r11, lr}}",
        "smlald r8, r9, r3, r7",
        "smlald r8, r9, r4, r10",
        "smlald r8, r9, r5, r11",
        "smlald r8, r9, r6, lr",
        "subs r12, r12, #1",
        "bne 3b",
        "b 5f",
        "4:",
        "ldm r0!, {{r3, r4, r5, r6}}",
        "ldr r7, [r1], #4",
        "ldr r10, [r1], #4",
        "ldr r11, [r1], #4",
        "ldr lr, [r1], #4",
        "smlald r8, r9, r3, r7",
        "smlald r8, r9, r4, r10",
        "smlald r8, r9, r5, r11",
        "smlald r8, r9, r6, lr",
        "subs r12, r12, #1",
        "bne 4b",
        // Remaining pairs (0 to 3), by `LDR` (unaligned allowed).
        "5:",
        "ands r12, r2, #6",
        "beq 6f",
        "8:",
        "ldr r3, [r0], #4",
        "ldr r4, [r1], #4",
        "smlald r8, r9, r3, r4",
        "subs r12, r12, #2",
        "bne 8b",
        // Last element of an odd length.
        "6:",
        "tst r2, #1",
        "beq 7f",
        "ldrsh r3, [r0]",
        "ldrsh r4, [r1]",
        "smlalbb r8, r9, r3, r4",
        "7:",
        "mov r0, r8",
        "mov r1, r9",
        "pop {{r4-r11, pc}}",
    )
}

/// Blocks of 8 recurrent elements unrolled in [`q12_rows`].
const UNROLL: usize = 8;
/// Code bytes of one unrolled block (two `LDM.W` and four `SMLALD`, 4 bytes each).
const BLOCK_BYTES: usize = 24;

/// Arguments of [`q12_rows`], in the order of its stack frame.
#[repr(C)]
struct RowsArgs {
    /// `[sp, #0]` Bias of the next row (advanced by the kernel).
    bias: *const i16,
    /// `[sp, #4]` Input weights of the next row (advanced).
    w_ih: *const i16,
    /// `[sp, #8]` The input vector.
    x: *const i16,
    /// `[sp, #12]` `x.len() / 2`.
    in_pairs: usize,
    /// `[sp, #16]` `x.len() % 2`.
    in_odd: usize,
    /// `[sp, #20]` The previous hidden state, 4-byte aligned.
    h: *const i16,
    /// `[sp, #24]` Full rounds of [`UNROLL`] blocks after the first, partial one.
    h_rounds: usize,
    /// `[sp, #28]` `(h.len() % 8) / 2` (`h.len()` is even).
    h_pairs: usize,
    /// `[sp, #32]` Recurrent weights of the first row, 4-byte aligned.
    w_hh: *const i16,
    /// `[sp, #36]` First output.
    out: *mut i16,
    /// `[sp, #40]` One past the last output.
    out_end: *mut i16,
    /// `[sp, #44]` Code bytes of the blocks the first round skips; the
    /// kernel replaces it by the address it jumps to.
    h_skip: usize,
}

/// For every output row `r`:
/// `out[r] = from_acc((bias[r] << 12) + w_ih[r]·x + w_hh[r]·h)` (Q4.12
/// rounding to nearest, saturating), rows of `w_ih` and `w_hh` contiguous.
///
/// The arguments are copied to the stack frame (the layout of
/// [`RowsArgs`]); `r10` walks `w_hh`, `lr` walks `out`, `r8:r9` is the
/// accumulator. Per row: the bias, the input part by `LDR`/`LDRSH` (any
/// alignment), the recurrent part by blocks of 8 elements (`LDM` of four
/// words of `w_hh` and four of `h`, four `SMLALD`) unrolled [`UNROLL`]
/// times and entered at the block that leaves a whole number of rounds
/// (Duff's device: `LDR PC` from the frame, no loop counter), then `LDR`
/// pairs, then rounding (`+2¹¹`, `>> 12`) and saturation (`SSAT` of the
/// high word to 12 bits, so that `SSAT` to 16 bits of the shifted low word
/// is exact). The accumulator cannot wrap: `|bias·2¹²| + n·2³⁰ < 2⁶³`.
///
/// # Safety
///
/// `args` must point to a valid [`RowsArgs`] with `rows = out_end − out`:
/// `bias` readable for `rows` values, `w_ih` for `rows·(2·in_pairs +
/// in_odd)`, `x` for `2·in_pairs + in_odd`, `h` for `H = 8·blocks +
/// 2·h_pairs` and `w_hh` for `rows·H` values, where `blocks = 8·h_rounds +
/// (8 − h_skip / 24)` and `h_skip` is a multiple of 24 in `24..=192`; `h`
/// and `w_hh` 4-byte aligned; `out` writable for `rows` values and not
/// overlapping the inputs.
#[unsafe(naked)]
unsafe extern "C" fn q12_rows(args: *const RowsArgs) {
    core::arch::naked_asm!(
        // `ADR` below assumes a 4-byte-aligned section (no padding here: the
        // function starts the section).
        ".p2align 2",
        "push {{r4-r11, lr}}",
        "ldm r0, {{r1-r12}}",
        "push {{r1-r12}}",
        "mov r10, r9",
        "ldr lr, [sp, #36]",
        // The entry of the first round of blocks, with the Thumb bit.
        "adr.w r0, 20f",
        "add r0, r0, r12",
        "orr r0, r0, #1",
        "str r0, [sp, #44]",
        "cmp lr, r11",
        "beq 9f",
        // Row loop. Bias, then the input part.
        "2:",
        "ldm sp, {{r0, r1, r2, r3, r4, r11}}",
        "ldrsh r5, [r0], #2",
        "lsl r8, r5, #12",
        "asr r9, r5, #31",
        "cbz r3, 4f",
        "3:",
        "ldr r5, [r1], #4",
        "ldr r6, [r2], #4",
        "smlald r8, r9, r5, r6",
        "subs r3, r3, #1",
        "bne 3b",
        "4:",
        "cbz r4, 5f",
        "ldrsh r5, [r1], #2",
        "ldrsh r6, [r2], #2",
        "smlalbb r8, r9, r5, r6",
        "5:",
        "stm sp, {{r0, r1}}",
        // The recurrent part: jump into the unrolled blocks.
        "ldr r7, [sp, #24]",
        "ldr pc, [sp, #44]",
        "20:",
        ".rept 8",
        "ldm.w r10!, {{r0, r1, r2, r3}}",
        "ldm.w r11!, {{r4, r5, r6, r12}}",
        "smlald r8, r9, r0, r4",
        "smlald r8, r9, r1, r5",
        "smlald r8, r9, r2, r6",
        "smlald r8, r9, r3, r12",
        ".endr",
        "subs r7, r7, #1",
        "bpl 20b",
        // Remaining pairs.
        "ldr r7, [sp, #28]",
        "cbz r7, 8f",
        "10:",
        "ldr r0, [r10], #4",
        "ldr r4, [r11], #4",
        "smlald r8, r9, r0, r4",
        "subs r7, r7, #1",
        "bne 10b",
        // Round, saturate, store.
        "8:",
        "adds r8, r8, #2048",
        "adc r9, r9, #0",
        "ssat r9, #12, r9",
        "lsr r8, r8, #12",
        "orr r8, r8, r9, lsl #20",
        "ssat r8, #16, r8",
        "strh r8, [lr], #2",
        "ldr r0, [sp, #40]",
        "cmp lr, r0",
        "bne 2b",
        "9:",
        "add sp, sp, #48",
        "pop {{r4-r11, pc}}",
    )
}

/// Arguments of [`q12_rows2`], in the order of its stack frame (the kernel
/// copies them there and replaces the `*_at` indices and skips by code
/// addresses).
#[repr(C)]
struct Rows2Args {
    /// `[sp, #0]` `bias − out` in bytes (the biases of a row pair are read
    /// at the output pointer plus this).
    bias_delta: u32,
    /// `[sp, #4]` 4096: a bias times this is the bias in Q.24.
    k4096: u32,
    /// `[sp, #8]` 2048: the rounding term.
    k2048: u32,
    /// `[sp, #12]` `w_ih − out` in bytes (one input: a row pair's two
    /// input weights are read at the output pointer plus this).
    w_ih_delta: u32,
    /// `[sp, #16]` `x[0]` (one input), sign-extended.
    x0: i32,
    /// `[sp, #20]` `2·H`: bytes of one recurrent row.
    h_bytes: u32,
    /// `[sp, #24]` Recurrent weights of the next row pair (advanced).
    w_hh: *const i16,
    /// `[sp, #28]` The previous hidden state, 4-byte aligned.
    h: *const i16,
    /// `[sp, #32]` `2·IN`: bytes of one input row.
    in_bytes: u32,
    /// `[sp, #36]` Input weights of the next row pair (advanced).
    w_ih: *const i16,
    /// `[sp, #40]` The input vector.
    x: *const i16,
    /// `[sp, #44]` Input path: 0 none, 1 one input, 2 any, 3 aligned and
    /// even up to 32 (replaced by its code address).
    in_at: u32,
    /// `[sp, #48]` `IN / 2` (path 2).
    in_pairs: u32,
    /// `[sp, #52]` `IN % 2` (path 2).
    in_odd: u32,
    /// `[sp, #56]` After path 3's blocks of 4: 4 for a last pair of inputs, 5 for none.
    in_tail_at: u32,
    /// `[sp, #60]` Code bytes of the recurrent blocks the first round skips.
    rec_skip: u32,
    /// `[sp, #64]` Set by the kernel: where the blocks continue (the round
    /// check or the pairs).
    after: u32,
    /// `[sp, #68]` Rounds left (the kernel's counter).
    rounds_left: u32,
    /// `[sp, #72]` Rounds of 8 blocks after the first, partial one.
    rounds: u32,
    /// `[sp, #76]` Code bytes of the recurrent pair units skipped (3 − pairs).
    tail_skip: u32,
    /// `[sp, #80]` One past the last output.
    out_end: *mut i16,
    /// `[sp, #84]` First output.
    out: *mut i16,
    /// `[sp, #88]` Code bytes of path 3's blocks of 4 skipped (8 − IN / 4;
    /// replaced by the address of the first block run).
    in_skip: u32,
}

/// Code bytes of one recurrent block of [`q12_rows2`] (three `LDM.W`, eight `SMLAD`).
const BLOCK2_BYTES: usize = 44;
/// Code bytes of one recurrent pair unit of [`q12_rows2`] (three `LDR.W`, two `SMLAD`).
const PAIR2_BYTES: usize = 20;
/// Code bytes of one input block of 4 of [`q12_rows2`] (three `LDM.W`, four `SMLAD`).
const IN_BLOCK_BYTES: usize = 28;

/// Two gate rows per pass: for every output row `r` (an even number of
/// them), `out[r] = from_acc((bias[r] << 12) + w_ih[r]·x + w_hh[r]·h)`, as
/// [`q12_rows`], but each loaded pair of `x` or `h` serves two rows, and
/// the sums are 32-bit (`SMLAD`, `SMLABB`) with the bias and the rounding
/// term `2¹¹` in their start value, so that rounding and saturation are one
/// `SSAT` (of the sum shifted right by 12) per row.
///
/// A 32-bit sum is exact unless it leaves the `i32` range at some point;
/// `SMLAD` and `SMLABB` then set the sticky Q flag (their result is
/// computed exactly and compared with its low 32 bits), as does `SSAT` when
/// it saturates. The kernel clears Q on entry and returns it: 0 means every
/// output is exact and equals the 64-bit definition (`|sum| < 2³¹` all
/// along, and `SSAT` did not clamp, so the 16-bit result is the rounded
/// sum); 1 means some row overflowed or saturated, and the caller
/// recomputes the call with the exact 64-bit kernel.
///
/// Registers: `lr` walks `out`; row pair sums in `r8`, `r9`; the recurrent
/// part walks `h` in `r11` and the two rows in `r10`, `r12` (blocks of 8
/// values: one `LDM` of `h`, one of each row, eight `SMLAD`, unrolled 8
/// times and entered as in [`q12_rows`], then up to 3 pairs by `LDR`). The
/// input part: none; one input (both rows' weights in one `LDR` beside the
/// biases, `SMLABB`/`SMLATB`); an aligned even input up to 32 (blocks of 4
/// values by `LDM`, entered so that `IN / 4` run, and a last pair); or any
/// input (pairs by `LDR`, then the odd value by `LDRSH`).
///
/// # Safety
///
/// `args` must point to a valid [`Rows2Args`] with `rows = out_end − out`
/// even: `bias` readable for `rows` values, `w_ih` for `rows·IN`, `x` for
/// `IN`, `h` for `H = 8·blocks + 2·pairs` and `w_hh` for `rows·H` values,
/// where the skips and rounds encode `blocks` and `pairs` as
/// [`gate_rows`] computes them; `h` and `w_hh` 4-byte aligned; on input
/// path 3 also `x` and `w_ih` 4-byte aligned, `IN` even and at most 32;
/// `out` writable for `rows` values and not overlapping the inputs.
#[unsafe(naked)]
unsafe extern "C" fn q12_rows2(args: *const Rows2Args) -> u32 {
    core::arch::naked_asm!(
        ".p2align 2",
        "push {{r4-r11, lr}}",
        "sub sp, sp, #92",
        // Copy the 23 argument words to the frame.
        "mov r1, sp",
        "ldm r0!, {{r2-r12}}",
        "stm r1!, {{r2-r12}}",
        "ldm r0!, {{r2-r12}}",
        "stm r1!, {{r2-r12}}",
        "ldr r2, [r0]",
        "str r2, [r1]",
        // Clear the Q flag.
        "mov r0, #0",
        "msr APSR_nzcvq, r0",
        // Code addresses (with the Thumb bit) from the offset table.
        "adr.w r2, 90f",
        "ldr r3, [sp, #44]",
        "ldr r3, [r2, r3, lsl #2]",
        "add r3, r3, r2",
        "orr r3, r3, #1",
        "str r3, [sp, #44]",
        "ldr r3, [r2, #36]",
        "add r3, r3, r2",
        "ldr r4, [sp, #88]",
        "add r3, r3, r4",
        "orr r3, r3, #1",
        "str r3, [sp, #88]",
        "ldr r3, [sp, #56]",
        "ldr r3, [r2, r3, lsl #2]",
        "add r3, r3, r2",
        "orr r3, r3, #1",
        "str r3, [sp, #56]",
        "ldr r3, [r2, #24]",
        "add r3, r3, r2",
        "ldr r4, [sp, #60]",
        "add r3, r3, r4",
        "orr r3, r3, #1",
        "str r3, [sp, #60]",
        "ldr r5, [r2, #32]",
        "add r5, r5, r2",
        "ldr r4, [sp, #76]",
        "add r5, r5, r4",
        "orr r5, r5, #1",
        "str r5, [sp, #76]",
        "ldr r3, [r2, #28]",
        "add r3, r3, r2",
        "orr r3, r3, #1",
        "ldr r4, [sp, #72]",
        "cmp r4, #0",
        "it eq",
        "moveq r3, r5",
        "str r3, [sp, #64]",
        "ldr lr, [sp, #84]",
        "ldr r0, [sp, #80]",
        "cmp lr, r0",
        "beq 40f",
        // Row pair loop: biases (+ rounding term), recurrent pointers, input part.
        "10:",
        "ldm sp, {{r0, r2, r3, r5, r6, r7, r10, r11}}",
        "ldr r1, [lr, r0]",
        "smlabb r8, r1, r2, r3",
        "smlatb r9, r1, r2, r3",
        "add r12, r10, r7",
        "ldr pc, [sp, #44]",
        // Input path 1: one input.
        "20:",
        "ldr r1, [lr, r5]",
        "smlabb r8, r1, r6, r8",
        "smlatb r9, r1, r6, r9",
        // The recurrent part (input path 0 starts here).
        "30:",
        "ldr pc, [sp, #60]",
        "31:",
        ".rept 8",
        "ldm.w r11!, {{r0, r1, r2, r3}}",
        "ldm.w r10!, {{r4, r5, r6, r7}}",
        "smlad r8, r0, r4, r8",
        "smlad r8, r1, r5, r8",
        "smlad r8, r2, r6, r8",
        "smlad r8, r3, r7, r8",
        "ldm.w r12!, {{r4, r5, r6, r7}}",
        "smlad r9, r0, r4, r9",
        "smlad r9, r1, r5, r9",
        "smlad r9, r2, r6, r9",
        "smlad r9, r3, r7, r9",
        ".endr",
        "ldr pc, [sp, #64]",
        // Another round of 8 blocks?
        "32:",
        "ldr r0, [sp, #68]",
        "subs r0, r0, #1",
        "bmi 35f",
        "str r0, [sp, #68]",
        "b 31b",
        "35:",
        "ldr r0, [sp, #72]",
        "str r0, [sp, #68]",
        "ldr pc, [sp, #76]",
        // Remaining recurrent pairs (entered at 3 − pairs).
        "33:",
        ".rept 3",
        "ldr.w r0, [r11], #4",
        "ldr.w r4, [r10], #4",
        "ldr.w r5, [r12], #4",
        "smlad r8, r0, r4, r8",
        "smlad r9, r0, r5, r9",
        ".endr",
        // Round (the 2^11 is in the start value), saturate, store both rows.
        "str r12, [sp, #24]",
        "ssat r8, #16, r8, asr #12",
        "ssat r9, #16, r9, asr #12",
        "pkhbt r8, r8, r9, lsl #16",
        "str r8, [lr], #4",
        "ldr r0, [sp, #80]",
        "cmp lr, r0",
        "bne 10b",
        // Return the Q flag.
        "40:",
        "mrs r0, apsr",
        "ubfx r0, r0, #27, #1",
        "add sp, sp, #92",
        "pop {{r4-r11, pc}}",
        // Input path 2: any input, pairs by `LDR`, the odd value by `LDRSH`.
        "21:",
        "add r0, sp, #32",
        "ldm r0, {{r7, r10, r11}}",
        "add r12, r10, r7",
        "ldr r7, [sp, #48]",
        "cmp r7, #0",
        "beq 26f",
        "25:",
        "ldr r0, [r11], #4",
        "ldr r2, [r10], #4",
        "ldr r4, [r12], #4",
        "smlad r8, r0, r2, r8",
        "smlad r9, r0, r4, r9",
        "subs r7, r7, #1",
        "bne 25b",
        "26:",
        "ldr r7, [sp, #52]",
        "cmp r7, #0",
        "beq 24f",
        "ldrsh r0, [r11]",
        "ldrsh r2, [r10], #2",
        "ldrsh r4, [r12], #2",
        "smlabb r8, r0, r2, r8",
        "smlabb r9, r0, r4, r9",
        "b 24f",
        // Input path 3: aligned, even, up to 32: blocks of 4 (entered at 8 − IN / 4).
        "22:",
        "add r0, sp, #32",
        "ldm r0, {{r7, r10, r11}}",
        "add r12, r10, r7",
        "ldr pc, [sp, #88]",
        "27:",
        ".rept 8",
        "ldm.w r11!, {{r0, r1}}",
        "ldm.w r10!, {{r2, r3}}",
        "ldm.w r12!, {{r4, r5}}",
        "smlad r8, r0, r2, r8",
        "smlad r8, r1, r3, r8",
        "smlad r9, r0, r4, r9",
        "smlad r9, r1, r5, r9",
        ".endr",
        "ldr pc, [sp, #56]",
        // The last pair of an input of 4k + 2.
        "23:",
        "ldr r0, [r11], #4",
        "ldr r2, [r10], #4",
        "ldr r4, [r12], #4",
        "smlad r8, r0, r2, r8",
        "smlad r9, r0, r4, r9",
        // End of input paths 2 and 3: the next pair's input rows, the recurrent pointers.
        "24:",
        "str r12, [sp, #36]",
        "add r0, sp, #20",
        "ldm r0, {{r7, r10, r11}}",
        "add r12, r10, r7",
        "ldr pc, [sp, #60]",
        // Offsets of the entry points from 90.
        ".p2align 2",
        "90:",
        ".word 30b - 90b",
        ".word 20b - 90b",
        ".word 21b - 90b",
        ".word 22b - 90b",
        ".word 23b - 90b",
        ".word 24b - 90b",
        ".word 31b - 90b",
        ".word 32b - 90b",
        ".word 33b - 90b",
        ".word 27b - 90b",
    )
}

/// `Σ w[k]·x[k]` over the common length, exact.
#[inline]
pub(super) fn dot(w: &[Q4_12], x: &[Q4_12]) -> i64 {
    let n = w.len().min(x.len());
    // SAFETY: `Q4_12` is `repr(transparent)` over `i16`; both slices hold at
    // least `n` values; `q12_dot` reads exactly `n` values from each, with
    // `LDM` only at 4-byte-aligned addresses and `LDR`/`LDRSH` elsewhere
    // (unaligned `LDR` is architecturally allowed on Armv7-M); it follows the
    // AAPCS (saves r4–r11 and lr, returns the `i64` in r0:r1).
    unsafe { q12_dot(w.as_ptr().cast(), x.as_ptr().cast(), n) }
}

/// The gate rows `out[r]` for every row (see [`Scalar::gate_rows`](super::Scalar::gate_rows)),
/// if the shapes and alignments fit the kernels (every row complete,
/// `h.len()` even, `h` and `w_hh` 4-byte aligned unless `h` is empty);
/// returns `false` without writing otherwise.
///
/// Row pairs run [`q12_rows2`] (32-bit sums); if it reports an overflow
/// or a saturation, [`q12_rows`] (64-bit sums, exact for every input)
/// recomputes them. An odd last row runs [`q12_rows`]. An empty `x` or
/// `h` (the GRU's candidate rows, whose input and recurrent parts are
/// separate) is a loop of zero iterations in either kernel: an empty `h`
/// jumps past every block and pair and reads neither `h` nor `w_hh`.
#[inline]
pub(super) fn gate_rows(
    bias: &[Q4_12],
    w_ih: &[Q4_12],
    x: &[Q4_12],
    w_hh: &[Q4_12],
    h: &[Q4_12],
    out: &mut [Q4_12],
) -> bool {
    let rows = out.len();
    let fits = bias.len() >= rows
        && rows.checked_mul(x.len()).is_some_and(|n| w_ih.len() >= n)
        && rows.checked_mul(h.len()).is_some_and(|n| w_hh.len() >= n)
        && h.len().is_multiple_of(2)
        && (h.is_empty()
            || ((h.as_ptr() as usize).is_multiple_of(4)
                && (w_hh.as_ptr() as usize).is_multiple_of(4)));
    if !fits {
        return false;
    }
    let even = rows & !1;
    let (pairs, last) = out.split_at_mut(even);
    if !pairs.is_empty() && rows2(bias, w_ih, x, w_hh, h, pairs) != 0 {
        rows_exact(bias, w_ih, x, w_hh, h, pairs);
    }
    if !last.is_empty() {
        rows_exact(
            skip(bias, even),
            skip(w_ih, even * x.len()),
            x,
            skip(w_hh, even * h.len()),
            h,
            last,
        );
    }
    true
}

/// `v[n..]`, or empty.
#[inline]
fn skip(v: &[Q4_12], n: usize) -> &[Q4_12] {
    v.get(n..).unwrap_or(&[])
}

/// [`q12_rows2`] over slices whose shapes [`gate_rows`] checked, with
/// `out.len()` even; returns the kernel's Q flag (nonzero: recompute).
#[inline]
fn rows2(
    bias: &[Q4_12],
    w_ih: &[Q4_12],
    x: &[Q4_12],
    w_hh: &[Q4_12],
    h: &[Q4_12],
    out: &mut [Q4_12],
) -> u32 {
    let out_range = out.as_mut_ptr_range();
    let (input, hidden) = (x.len(), h.len());
    let aligned = |p: *const Q4_12| (p as usize).is_multiple_of(4);
    let in_at = match input {
        0 => 0,
        1 => 1,
        n if n.is_multiple_of(2) && n <= 32 && aligned(x.as_ptr()) && aligned(w_ih.as_ptr()) => 3,
        _ => 2,
    };
    let blocks = hidden / 8;
    let rec_skip = match blocks % 8 {
        0 if blocks == 0 => 8,
        0 => 0,
        b => 8 - b,
    } * BLOCK2_BYTES;
    let rounds = blocks.div_ceil(8).saturating_sub(1) as u32;
    let out_addr = out_range.start as usize;
    let args = Rows2Args {
        bias_delta: (bias.as_ptr() as usize).wrapping_sub(out_addr) as u32,
        k4096: 4096,
        k2048: 2048,
        w_ih_delta: (w_ih.as_ptr() as usize).wrapping_sub(out_addr) as u32,
        x0: x.first().map_or(0, |v| i32::from(v.to_bits())),
        h_bytes: (2 * hidden) as u32,
        w_hh: w_hh.as_ptr().cast(),
        h: h.as_ptr().cast(),
        in_bytes: (2 * input) as u32,
        w_ih: w_ih.as_ptr().cast(),
        x: x.as_ptr().cast(),
        in_at,
        in_pairs: (input / 2) as u32,
        in_odd: (input % 2) as u32,
        in_tail_at: if input % 4 == 2 { 4 } else { 5 },
        rec_skip: rec_skip as u32,
        after: 0,
        rounds_left: rounds,
        rounds,
        tail_skip: ((3 - (hidden % 8) / 2) * PAIR2_BYTES) as u32,
        out_end: out_range.end.cast(),
        out: out_range.start.cast(),
        in_skip: if in_at == 3 {
            ((8 - input / 4) * IN_BLOCK_BYTES) as u32
        } else {
            0
        },
    };
    // SAFETY: `gate_rows` checked every requirement of `q12_rows2`:
    // `out.len()` (even) biases, complete rows of `x.len()` input and
    // `h.len()` (even) recurrent weights, `h` and `w_hh` 4-byte aligned
    // (read with `LDM`) or never read (`h` empty: the first round skips
    // every block, no rounds follow, no pairs); input path 3 only with `x`
    // and `w_ih` aligned and an even input of at most 32; the skips and
    // rounds computed above from `h.len()`; `Q4_12` is
    // `repr(transparent)` over `i16`; `out` is an exclusive borrow, so it
    // overlaps none of the shared inputs; the kernel follows the AAPCS and
    // restores `sp`.
    unsafe { q12_rows2(&args) }
}

/// [`q12_rows`] over slices whose shapes [`gate_rows`] checked.
#[inline]
fn rows_exact(
    bias: &[Q4_12],
    w_ih: &[Q4_12],
    x: &[Q4_12],
    w_hh: &[Q4_12],
    h: &[Q4_12],
    out: &mut [Q4_12],
) {
    let out_range = out.as_mut_ptr_range();
    let blocks = h.len() / 8;
    let args = RowsArgs {
        bias: bias.as_ptr().cast(),
        w_ih: w_ih.as_ptr().cast(),
        x: x.as_ptr().cast(),
        in_pairs: x.len() / 2,
        in_odd: x.len() % 2,
        h: h.as_ptr().cast(),
        h_rounds: blocks / UNROLL,
        h_pairs: (h.len() % 8) / 2,
        w_hh: w_hh.as_ptr().cast(),
        out: out_range.start.cast(),
        out_end: out_range.end.cast(),
        h_skip: (UNROLL - blocks % UNROLL) * BLOCK_BYTES,
    };
    // SAFETY: `gate_rows` checked every requirement of `q12_rows`: `rows`
    // biases, `rows` complete rows of `x.len()` input and `h.len()` (even)
    // recurrent weights, `h` and `w_hh` 4-byte aligned (the only operands
    // read with `LDM`; a last odd row starts an even number of rows in,
    // `h.len()` even, so its `w_hh` row is aligned too) or never read (`h`
    // empty: no block, no pair); `Q4_12` is `repr(transparent)` over `i16`;
    // `out` is an exclusive borrow, so it overlaps none of the shared
    // inputs; the kernel follows the AAPCS and restores `sp`.
    unsafe { q12_rows(&args) };
}

/// Arguments of [`q12_lstm_units`].
#[repr(C)]
struct UnitsArgs {
    /// Pre-activations: gate `k` of unit `j` at `pre + 2j + k·2·CHUNK`.
    pre: *const i16,
    /// Cell states (advanced).
    c: *mut i32,
    /// Outputs `h`.
    h: *mut i16,
    /// `pre + 2·units`: where the loop ends.
    pre_end: *const i16,
    /// [`SIGMOID_Q12`].
    sigmoid: *const Piece,
    /// [`TANH_Q12`].
    tanh: *const Piece,
}

/// The LSTM unit update of [`units_portable`](crate::lstm::units_portable)
/// for Q4.12 with the folded fast activations, per unit: `i, f, o = σ`,
/// `g = tanh` (each `ubfx` of the piece index, `ldrd` of the piece, `eor`
/// for `v`, `mla`, `asr`), `ig = ssat16((i·g + 2¹¹) >> 12)`, then
/// `c = (f·c + (ig << 12 | 2¹¹)) >> 12` in 32 bits while `c` fits in 16
/// bits, else in 64 bits (`SMLAL`) saturated to 32 bits, and `h =
/// ssat16((o·tanh(ssat16(c)) + 2¹¹) >> 12)`, the arithmetic of
/// `Q4_12::cell_update`, `Q4_12::mul` and `Fast`'s tables.
///
/// # Safety
///
/// `pre` readable for `4·CHUNK` values with `pre_end − pre ≤ 2·CHUNK`
/// bytes (even, at least 2), `c` and `h` writable for `(pre_end − pre) / 2`
/// values each, `c` 4-byte aligned, the tables [`SIGMOID_Q12`] and
/// [`TANH_Q12`] (every `ubfx` index is below their lengths).
#[unsafe(naked)]
unsafe extern "C" fn q12_lstm_units(args: *const UnitsArgs) {
    core::arch::naked_asm!(
        "push {{r4-r11, lr}}",
        "ldm r0, {{r0-r5}}",
        "mov r6, #2048",
        "1:",
        // f = σ(pre_f)
        "ldrsh r7, [r0, #{s1}]",
        "ubfx r8, r7, #8, #8",
        "add r8, r4, r8, lsl #3",
        "ldrd r8, r9, [r8]",
        "eor r7, r7, r7, asr #31",
        "mla r7, r8, r7, r9",
        "asr r7, r7, #16",
        // i = σ(pre_i)
        "ldrsh r8, [r0]",
        "ubfx r9, r8, #8, #8",
        "add r9, r4, r9, lsl #3",
        "ldrd r9, r10, [r9]",
        "eor r8, r8, r8, asr #31",
        "mla r8, r9, r8, r10",
        "asr r8, r8, #16",
        // g = tanh(pre_g)
        "ldrsh r9, [r0, #{s2}]",
        "ubfx r10, r9, #7, #9",
        "add r10, r5, r10, lsl #3",
        "ldrd r10, r11, [r10]",
        "eor r9, r9, r9, asr #31",
        "mla r9, r10, r9, r11",
        "asr r9, r9, #15",
        // ig = i·g rounded and saturated, then (ig << 12) | 2^11
        "smlabb r8, r8, r9, r6",
        "ssat r8, #16, r8, asr #12",
        "lsl r8, r8, #12",
        "orr r8, r8, #2048",
        // c = (f·c + ig) >> 12, in 32 bits while c fits in 16
        "ldr r9, [r1]",
        "ssat r10, #16, r9",
        "cmp r10, r9",
        "bne 5f",
        "smlabb r9, r7, r9, r8",
        "asr r9, r9, #12",
        "6:",
        "str r9, [r1], #4",
        // tanh(c saturated to 16 bits)
        "ssat r9, #16, r9",
        "ubfx r10, r9, #7, #9",
        "add r10, r5, r10, lsl #3",
        "ldrd r10, r11, [r10]",
        "eor r9, r9, r9, asr #31",
        "mla r9, r10, r9, r11",
        "asr r9, r9, #15",
        // o = σ(pre_o); h = o·tanh(c) rounded and saturated
        "ldrsh r7, [r0, #{s3}]",
        "ubfx r8, r7, #8, #8",
        "add r8, r4, r8, lsl #3",
        "ldrd r8, r10, [r8]",
        "eor r7, r7, r7, asr #31",
        "mla r7, r8, r7, r10",
        "asr r7, r7, #16",
        "smlabb r7, r7, r9, r6",
        "ssat r7, #16, r7, asr #12",
        "strh r7, [r2], #2",
        "add r0, r0, #2",
        "cmp r0, r3",
        "bne 1b",
        "pop {{r4-r11, pc}}",
        // c past 16 bits: ig + f·c in 64 bits, >> 12, saturated to 32 bits.
        "5:",
        "asr r10, r8, #31",
        "smlal r8, r10, r7, r9",
        "lsr r8, r8, #12",
        "orr r8, r8, r10, lsl #20",
        "asr r11, r10, #12",
        "cmp r11, r8, asr #31",
        "beq 7f",
        "mvn r8, #0x80000000",
        "eor r8, r8, r10, asr #31",
        "7:",
        "mov r9, r8",
        "b 6b",
        s1 = const 2 * CHUNK,
        s2 = const 4 * CHUNK,
        s3 = const 6 * CHUNK,
    )
}

/// [`q12_lstm_units`] over `min(c.len(), h.len(), CHUNK)` units (none: nothing).
#[inline]
pub(super) fn lstm_units(pre: &[[Q4_12; CHUNK]; 4], c: &mut [Q20_12], h: &mut [Q4_12]) {
    let n = c.len().min(h.len()).min(CHUNK);
    if n == 0 {
        return;
    }
    let base: *const i16 = pre.as_ptr().cast();
    let args = UnitsArgs {
        pre: base,
        c: c.as_mut_ptr().cast(),
        h: h.as_mut_ptr().cast(),
        pre_end: base.wrapping_add(n),
        sigmoid: SIGMOID_Q12.as_ptr(),
        tanh: TANH_Q12.as_ptr(),
    };
    // SAFETY: `pre` is `[[i16; CHUNK]; 4]` in memory (`Q4_12` is
    // `repr(transparent)` over `i16`, arrays are contiguous), so gate `k`
    // of unit `j < n ≤ CHUNK` is at `pre + 2j + k·2·CHUNK` bytes; `c` and
    // `h` hold at least `n ≥ 1` values, `Q20_12` is `repr(transparent)`
    // over `i32` (so `c` is 4-byte aligned); the piece indices are 8 bits
    // (σ, 256 pieces) and 9 bits (tanh, 512 pieces); the kernel follows the
    // AAPCS.
    unsafe { q12_lstm_units(&args) }
}

/// Arguments of [`f32_rows4`], in the order of its stack frame.
#[cfg(lstm_arm_fpu)]
#[repr(C)]
struct F32RowsArgs {
    /// `[sp, #0]` Biases of the next group of 4 rows (advanced).
    bias: *const f32,
    /// `[sp, #4]` Input weights of the next group (advanced).
    w_ih: *const f32,
    /// `[sp, #8]` The input vector.
    x: *const f32,
    /// `[sp, #12]` `IN`.
    input: usize,
    /// `[sp, #16]` `4·IN`: bytes of one input row.
    in_bytes: usize,
    /// `[sp, #20]` Recurrent weights of the next group (advanced).
    w_hh: *const f32,
    /// `[sp, #24]` The previous hidden state.
    h: *const f32,
    /// `[sp, #28]` `4·H`: bytes of one recurrent row.
    h_bytes: usize,
    /// `[sp, #32]` `H / 8`.
    h_blocks: usize,
    /// `[sp, #36]` `H % 8`.
    h_rest: usize,
    /// `[sp, #40]` Next output (advanced).
    out: *mut f32,
    /// `[sp, #44]` One past the last output.
    out_end: *mut f32,
}

/// Four `f32` gate rows per pass: for every row `r` (a multiple of 4 of
/// them), `out[r] = ((bias[r] + Σ w_ih[r][k]·x[k]) + Σ w_hh[r][k]·h[k])`,
/// each sum in order, each step `acc + w·v` with the product rounded and
/// then the sum (`VMLA.F32` is not fused), exactly as the portable
/// `f32::dot` computes it. Each loaded value of `x` or `h` serves four
/// rows: the recurrent part in blocks of 8 (`VLDM` of 8 values of `h`, and
/// per row `VLDM` of 8 weights and 8 `VMLA`), then one value at a time;
/// the input part one value at a time (one input: the four rows' weights
/// in one `VLDM`).
///
/// Registers: `s0`–`s3` the four sums, `s4`–`s11` values of `x` or `h`,
/// `s12`–`s19` weights; `r0`, `r10`–`r12` the four rows, `lr` the vector.
///
/// # Safety
///
/// `args` must point to a valid [`F32RowsArgs`] with `rows = out_end −
/// out` a multiple of 4: `bias` readable for `rows` values, `w_ih` for
/// `rows·IN`, `x` for `IN`, `h` for `H = 8·h_blocks + h_rest`, `w_hh` for
/// `rows·H`, `out` writable for `rows` values and not overlapping the inputs.
#[cfg(lstm_arm_fpu)]
#[unsafe(naked)]
unsafe extern "C" fn f32_rows4(args: *const F32RowsArgs) {
    core::arch::naked_asm!(
        // The FPU of `thumbv7em-none-eabihf` (Cortex-M4F), for the assembler.
        ".fpu fpv4-sp-d16",
        "push {{r4-r11, lr}}",
        "vpush {{s16-s19}}",
        "sub sp, sp, #48",
        "mov r1, sp",
        "ldm r0!, {{r2-r7}}",
        "stm r1!, {{r2-r7}}",
        "ldm r0!, {{r2-r7}}",
        "stm r1!, {{r2-r7}}",
        "ldr r8, [sp, #40]",
        "ldr r9, [sp, #44]",
        "cmp r8, r9",
        "beq 9f",
        "1:",
        // Biases.
        "ldr r1, [sp, #0]",
        "vldmia r1!, {{s0-s3}}",
        "str r1, [sp, #0]",
        // The input part.
        "ldr r4, [sp, #12]",
        "ldr r0, [sp, #4]",
        "cmp r4, #1",
        "bne 20f",
        // One input: the 4 rows' weights are consecutive.
        "ldr r3, [sp, #8]",
        "vldr s4, [r3]",
        "vldmia r0!, {{s12-s15}}",
        "vmla.f32 s0, s12, s4",
        "vmla.f32 s1, s13, s4",
        "vmla.f32 s2, s14, s4",
        "vmla.f32 s3, s15, s4",
        "str r0, [sp, #4]",
        "b 30f",
        "20:",
        "cmp r4, #0",
        "beq 30f",
        "ldr r3, [sp, #16]",
        "add r10, r0, r3",
        "add r11, r10, r3",
        "add r12, r11, r3",
        "ldr lr, [sp, #8]",
        "21:",
        "vldmia lr!, {{s4}}",
        "vldmia r0!, {{s12}}",
        "vmla.f32 s0, s12, s4",
        "vldmia r10!, {{s13}}",
        "vmla.f32 s1, s13, s4",
        "vldmia r11!, {{s14}}",
        "vmla.f32 s2, s14, s4",
        "vldmia r12!, {{s15}}",
        "vmla.f32 s3, s15, s4",
        "subs r4, r4, #1",
        "bne 21b",
        "str r12, [sp, #4]",
        // The recurrent part.
        "30:",
        "ldr r0, [sp, #20]",
        "ldr r3, [sp, #28]",
        "ldr lr, [sp, #24]",
        "add r10, r0, r3",
        "add r11, r10, r3",
        "add r12, r11, r3",
        "ldr r4, [sp, #32]",
        "cmp r4, #0",
        "beq 33f",
        // Blocks of 8 values, two per iteration (an odd one first).
        "tst r4, #1",
        "beq 32f",
        "vldmia lr!, {{s4-s11}}",
        "vldmia r0!, {{s12-s19}}",
        "vmla.f32 s0, s12, s4",
        "vmla.f32 s0, s13, s5",
        "vmla.f32 s0, s14, s6",
        "vmla.f32 s0, s15, s7",
        "vmla.f32 s0, s16, s8",
        "vmla.f32 s0, s17, s9",
        "vmla.f32 s0, s18, s10",
        "vmla.f32 s0, s19, s11",
        "vldmia r10!, {{s12-s19}}",
        "vmla.f32 s1, s12, s4",
        "vmla.f32 s1, s13, s5",
        "vmla.f32 s1, s14, s6",
        "vmla.f32 s1, s15, s7",
        "vmla.f32 s1, s16, s8",
        "vmla.f32 s1, s17, s9",
        "vmla.f32 s1, s18, s10",
        "vmla.f32 s1, s19, s11",
        "vldmia r11!, {{s12-s19}}",
        "vmla.f32 s2, s12, s4",
        "vmla.f32 s2, s13, s5",
        "vmla.f32 s2, s14, s6",
        "vmla.f32 s2, s15, s7",
        "vmla.f32 s2, s16, s8",
        "vmla.f32 s2, s17, s9",
        "vmla.f32 s2, s18, s10",
        "vmla.f32 s2, s19, s11",
        "vldmia r12!, {{s12-s19}}",
        "vmla.f32 s3, s12, s4",
        "vmla.f32 s3, s13, s5",
        "vmla.f32 s3, s14, s6",
        "vmla.f32 s3, s15, s7",
        "vmla.f32 s3, s16, s8",
        "vmla.f32 s3, s17, s9",
        "vmla.f32 s3, s18, s10",
        "vmla.f32 s3, s19, s11",
        "subs r4, r4, #1",
        "beq 33f",
        "32:",
        "lsr r4, r4, #1",
        "31:",
        "vldmia lr!, {{s4-s11}}",
        "vldmia r0!, {{s12-s19}}",
        "vmla.f32 s0, s12, s4",
        "vmla.f32 s0, s13, s5",
        "vmla.f32 s0, s14, s6",
        "vmla.f32 s0, s15, s7",
        "vmla.f32 s0, s16, s8",
        "vmla.f32 s0, s17, s9",
        "vmla.f32 s0, s18, s10",
        "vmla.f32 s0, s19, s11",
        "vldmia r10!, {{s12-s19}}",
        "vmla.f32 s1, s12, s4",
        "vmla.f32 s1, s13, s5",
        "vmla.f32 s1, s14, s6",
        "vmla.f32 s1, s15, s7",
        "vmla.f32 s1, s16, s8",
        "vmla.f32 s1, s17, s9",
        "vmla.f32 s1, s18, s10",
        "vmla.f32 s1, s19, s11",
        "vldmia r11!, {{s12-s19}}",
        "vmla.f32 s2, s12, s4",
        "vmla.f32 s2, s13, s5",
        "vmla.f32 s2, s14, s6",
        "vmla.f32 s2, s15, s7",
        "vmla.f32 s2, s16, s8",
        "vmla.f32 s2, s17, s9",
        "vmla.f32 s2, s18, s10",
        "vmla.f32 s2, s19, s11",
        "vldmia r12!, {{s12-s19}}",
        "vmla.f32 s3, s12, s4",
        "vmla.f32 s3, s13, s5",
        "vmla.f32 s3, s14, s6",
        "vmla.f32 s3, s15, s7",
        "vmla.f32 s3, s16, s8",
        "vmla.f32 s3, s17, s9",
        "vmla.f32 s3, s18, s10",
        "vmla.f32 s3, s19, s11",
        "vldmia lr!, {{s4-s11}}",
        "vldmia r0!, {{s12-s19}}",
        "vmla.f32 s0, s12, s4",
        "vmla.f32 s0, s13, s5",
        "vmla.f32 s0, s14, s6",
        "vmla.f32 s0, s15, s7",
        "vmla.f32 s0, s16, s8",
        "vmla.f32 s0, s17, s9",
        "vmla.f32 s0, s18, s10",
        "vmla.f32 s0, s19, s11",
        "vldmia r10!, {{s12-s19}}",
        "vmla.f32 s1, s12, s4",
        "vmla.f32 s1, s13, s5",
        "vmla.f32 s1, s14, s6",
        "vmla.f32 s1, s15, s7",
        "vmla.f32 s1, s16, s8",
        "vmla.f32 s1, s17, s9",
        "vmla.f32 s1, s18, s10",
        "vmla.f32 s1, s19, s11",
        "vldmia r11!, {{s12-s19}}",
        "vmla.f32 s2, s12, s4",
        "vmla.f32 s2, s13, s5",
        "vmla.f32 s2, s14, s6",
        "vmla.f32 s2, s15, s7",
        "vmla.f32 s2, s16, s8",
        "vmla.f32 s2, s17, s9",
        "vmla.f32 s2, s18, s10",
        "vmla.f32 s2, s19, s11",
        "vldmia r12!, {{s12-s19}}",
        "vmla.f32 s3, s12, s4",
        "vmla.f32 s3, s13, s5",
        "vmla.f32 s3, s14, s6",
        "vmla.f32 s3, s15, s7",
        "vmla.f32 s3, s16, s8",
        "vmla.f32 s3, s17, s9",
        "vmla.f32 s3, s18, s10",
        "vmla.f32 s3, s19, s11",
        "subs r4, r4, #1",
        "bne 31b",
        "33:",
        "ldr r4, [sp, #36]",
        "cmp r4, #0",
        "beq 35f",
        "34:",
        "vldmia lr!, {{s4}}",
        "vldmia r0!, {{s12}}",
        "vmla.f32 s0, s12, s4",
        "vldmia r10!, {{s13}}",
        "vmla.f32 s1, s13, s4",
        "vldmia r11!, {{s14}}",
        "vmla.f32 s2, s14, s4",
        "vldmia r12!, {{s15}}",
        "vmla.f32 s3, s15, s4",
        "subs r4, r4, #1",
        "bne 34b",
        "35:",
        "str r12, [sp, #20]",
        "vstmia r8!, {{s0-s3}}",
        "cmp r8, r9",
        "bne 1b",
        "9:",
        "add sp, sp, #48",
        "vpop {{s16-s19}}",
        "pop {{r4-r11, pc}}",
    )
}

/// The first `4·⌊rows / 4⌋` gate rows of `f32` (see
/// [`Scalar::gate_rows`](super::Scalar::gate_rows)) by [`f32_rows4`];
/// returns how many rows it wrote (0 if a slice is too short: the caller
/// then computes every row).
#[cfg(lstm_arm_fpu)]
#[inline]
pub(super) fn f32_gate_rows(
    bias: &[f32],
    w_ih: &[f32],
    x: &[f32],
    w_hh: &[f32],
    h: &[f32],
    out: &mut [f32],
) -> usize {
    let rows = out.len() & !3;
    let fits = bias.len() >= rows
        && rows.checked_mul(x.len()).is_some_and(|n| w_ih.len() >= n)
        && rows.checked_mul(h.len()).is_some_and(|n| w_hh.len() >= n);
    let Some(out) = out.get_mut(..rows).filter(|o| fits && !o.is_empty()) else {
        return 0;
    };
    let out_range = out.as_mut_ptr_range();
    let args = F32RowsArgs {
        bias: bias.as_ptr(),
        w_ih: w_ih.as_ptr(),
        x: x.as_ptr(),
        input: x.len(),
        in_bytes: 4 * x.len(),
        w_hh: w_hh.as_ptr(),
        h: h.as_ptr(),
        h_bytes: 4 * h.len(),
        h_blocks: h.len() / 8,
        h_rest: h.len() % 8,
        out: out_range.start,
        out_end: out_range.end,
    };
    // SAFETY: checked above: `rows` (a nonzero multiple of 4) biases and
    // outputs, `rows` complete rows of `x.len()` input and `h.len()`
    // recurrent weights; `f32` slices are 4-byte aligned (`VLDM`/`VLDR`);
    // `out` is an exclusive borrow, so it overlaps none of the inputs; the
    // kernel follows the AAPCS (saves r4–r11, lr and s16–s19, restores sp).
    unsafe { f32_rows4(&args) };
    rows
}

/// `Σ w[k]·x[k]` for `k < n` in an `i32`, `w` 8-bit and `x` 16-bit:
/// per 4 elements one `LDR` of 4 weights, `SXTB16` twice (weights 0 and 2,
/// 1 and 3, sign-extended to halfwords), two `LDR` of `x` and `PKHBT` /
/// `PKHTB` to pair `x` the same way, then two `SMLAD`; the last `n mod 4`
/// by `LDRSB` / `LDRSH` / `MLA`. Exact (the same value as the portable
/// `i32` sum) when `n ≤` [`I32_ROW`](crate::w8::I32_ROW): each product is
/// at most `2^22` in magnitude, so no partial sum leaves the `i32` range.
///
/// Register use: `r0` = `w`, `r1` = `x`, `r2` = `n`, sum in `r3`, block
/// counter `r12`, data in `r4`–`r7`, `lr`.
///
/// # Safety
///
/// `w` must be valid for reads of `n` bytes and `x` of `n` `i16` values
/// (any alignment: `LDR`, which the Cortex-M4 allows unaligned, and byte
/// and halfword loads).
#[unsafe(naked)]
unsafe extern "C" fn w8_dot(w: *const i8, x: *const i16, n: usize) -> i32 {
    core::arch::naked_asm!(
        "push {{r4-r7, lr}}",
        "movs r3, #0",
        "lsrs r12, r2, #2",
        "beq 2f",
        "1:",
        "ldr r4, [r0], #4",
        "ldr r5, [r1], #4",
        "ldr r6, [r1], #4",
        "sxtb16 r7, r4",
        "sxtb16 r4, r4, ror #8",
        "pkhbt lr, r5, r6, lsl #16",
        "pkhtb r6, r6, r5, asr #16",
        "smlad r3, r7, lr, r3",
        "smlad r3, r4, r6, r3",
        "subs r12, r12, #1",
        "bne 1b",
        "2:",
        "ands r2, r2, #3",
        "beq 4f",
        "3:",
        "ldrsb r4, [r0], #1",
        "ldrsh r5, [r1], #2",
        "mla r3, r4, r5, r3",
        "subs r2, r2, #1",
        "bne 3b",
        "4:",
        "mov r0, r3",
        "pop {{r4-r7, pc}}",
    )
}

/// `Σ w[k]·x[k]` over the common length, in an `i32` (exact for at most
/// [`I32_ROW`](crate::w8::I32_ROW) products; the caller checks).
#[inline]
pub(crate) fn w8_sum32(w: &[i8], x: &[Q4_12]) -> i32 {
    let n = w.len().min(x.len());
    // SAFETY: `Q4_12` is `repr(transparent)` over `i16`; both slices hold
    // at least `n` values and `w8_dot` reads exactly `n` from each, with
    // `LDR` (unaligned allowed on Armv7-M), `LDRSB` and `LDRSH`; it
    // follows the AAPCS (saves r4–r7 and lr, returns the `i32` in r0).
    unsafe { w8_dot(w.as_ptr(), x.as_ptr().cast(), n) }
}

/// The longest row (`x.len() + h.len()`) [`w8_pairs`] computes: `|s| ≤
/// 509 · 2^22 = 2^31 − 3 · 2^22`, so adding the rounding term (at most
/// `2^23`) stays in the `i32` range.
pub(crate) const KERNEL_ROW: usize = 509;

/// Blocks of 8 columns unrolled per part in [`w8_pairs_kernel`] (one
/// round; longer parts run more rounds; the kernel's round arithmetic
/// assumes 8).
const W8_BLOCKS: usize = 8;
/// Code bytes of one block of 8 columns with aligned weights (two `LDM.W`,
/// four `SMLAD`, `SXTB16`, `SMLAD`).
const W8_BLOCK_BYTES: usize = 56;
/// Code bytes of one block with unaligned weights (`LDM.W` of the values,
/// four `LDR.W` of the weights, twelve multiplies).
const W8_BLOCK_UN_BYTES: usize = 68;
/// Code bytes of one tail step of two columns (two `LDR.W`, `SMLAD`,
/// `SXTB16`, `SMLAD`).
const W8_WORD_BYTES: usize = 20;

/// Arguments of [`w8_pairs_kernel`]. Its frame (byte offsets from `sp`):
/// `[0]` `shift_end`, `[4]` `bias_end`, `[8]` `out_end`, `[12]` `0x1818`
/// (the largest shift, 24, in both bytes, for `USUB8` / `SEL`), `[16]` 1,
/// `[20]` the address of `[24]`, `[24]` `A`'s start `−128·Σ` (every value
/// of `x` and `h`, wrapping), `[28]` 0 (`B`'s start), `[32]` the recurrent
/// values in the buffer, `[36]` code: the recurrent part's entry, `[40]`
/// its blocks after an even tail, `[44]` / `[48]` its blocks with aligned
/// / unaligned weights (after an odd tail), `[52]` the input part's entry,
/// `[56]` the odd input tail (after the gap), `[60]`, `[64]`, `[68]` the
/// input blocks as for the recurrent part, `[72]` the pair index, `[76]` /
/// `[80]` after 8 recurrent blocks (aligned / unaligned: the input part or
/// the round check), `[84]` / `[88]` after 8 input blocks, `[92]` / `[96]`
/// recurrent rounds left / after the first, `[100]` / `[104]` the same for
/// the input part, `[108]` the frame's size; the value buffer from
/// `[112]`.
#[repr(C)]
struct W8PairsArgs {
    /// `shift + 2·pairs`.
    shift_end: *const u8,
    /// `bias + 2·pairs`.
    bias_end: *const i16,
    /// `out + 2·pairs`.
    out_end: *mut i16,
    /// `−2·pairs`: the kernel's pair index (in shift bytes) in `lr`.
    index: i32,
    /// Bytes of the kernel's frame: 112 and the value buffer (a multiple of 8).
    frame_bytes: u32,
    /// The input values.
    x: *const i16,
    /// `N_x`.
    nx: usize,
    /// The recurrent values.
    h: *const i16,
    /// `N_h`.
    nh: usize,
    /// Where `x` goes in the buffer, in bytes: `2·(N_h mod 2 + N_h + N_x mod 2)`.
    x_at: usize,
    /// Where `h` goes: `2·(N_h mod 2)`.
    h_at: usize,
}

/// Bytes of the argument words [`w8_pairs_kernel`] copies to its frame
/// (the value buffer follows them).
const W8_HEADER: usize = 112;

/// Pairs of rows of 8-bit weights in the pair layout (see
/// [`crate::w8::weight`]): for every pair `(a, b)` and each part, the
/// stored halfwords `v_c = 256·q_b[c] + q_a[c] + 128` of two columns `c,
/// c + 1` are one word `W`, the values `x_c, x_{c+1}` one word `X`, and
///
/// - `SMLAD A, W, X, A` adds `v_c·x_c + v_{c+1}·x_{c+1}` to `A`, which
///   starts at `−128·Σ` (every value of both parts), so that at the end `A
///   = 256·S_b + S_a` (mod `2^32`);
/// - `SXTB16 W, W, ROR #8` gives `(q_b[c], q_b[c+1])` and `SMLAD B, W, X,
///   B` adds to `B = S_b`;
///
/// then `S_a = A − 256·B` (exact: the true `S_a` is an `i32`), and per row
/// `sat_i16(bias + ((S + ⌊2^e/2⌋) >> e))` (`e` clamped to 24 by `USUB8` /
/// `SEL`; exact for rows of at most [`KERNEL_ROW`] products; the bias
/// added by `SMLABB` / `SMLATB`, which cannot overflow then).
///
/// Per part and pair: a tail of up to 3 column pairs by `LDR` and an odd
/// column by `LDRSH`, then blocks of 8 columns (one `LDM` of 4 value
/// words, one `LDM` of 4 weight words, or 4 `LDR` when the weights are not
/// 4-byte aligned, 12 multiplies), unrolled [`W8_BLOCKS`] times and
/// entered so that `(N / 8 − 1) mod 8 + 1` run (computed entry: `LDR PC` /
/// `LDM {…, PC}` from the frame), then, for parts of more than 71 values,
/// rounds of 8 (a counter in the frame). The values are copied once per
/// call into the frame (its size depends on `N_x + N_h`: at most 1136
/// bytes), so that every block's values are 4-byte aligned. The recurrent
/// part runs first, then the input part
/// (one input: its own short path). An odd part's blocks start at an
/// alignment that alternates from pair to pair: its tail ends by testing
/// the weight pointer.
///
/// Registers: weights `r0`–`r3`, values `r4`–`r7`, sums `A` = `r8`, `B` =
/// `r9`, input weights `r10` and recurrent weights `r11` (both advance
/// from pair to pair), values `r12`, the pair index `lr` (from `−2·pairs`
/// up to 0: shifts at `shift_end + lr`, biases and outputs at `… + 2·lr`).
///
/// # Safety
///
/// `args` must point to a valid [`W8PairsArgs`] describing `pairs ≥ 1`
/// row pairs (`index = −2·pairs`) with `N_x = nx`, `N_h = nh`, `N_x + N_h
/// ≤` [`KERNEL_ROW`] and `frame_bytes` = 112 plus the buffer rounded up to
/// a multiple of 8 (the kernel computes its code slots and rounds from
/// them, and tests the alignment of the weights itself): `shift_end −
/// 2·pairs` readable for `2·pairs` bytes, `bias_end` and `out_end` (minus
/// `2·pairs` values) readable / writable for `2·pairs` `i16` (any
/// alignment of 2; `out` overlapping no input); `w_x` (in `r1`) readable
/// for `2·pairs·N_x` bytes and `w_h` (in `r2`) for `2·pairs·N_h` (any
/// alignment); `x` readable for `N_x` values and `h` for `N_h` (any alignment of 2),
/// `x_at` and `h_at` as [`W8PairsArgs`] documents them (the kernel copies
/// `h`, a gap of one value if `N_x` is odd, then `x` into its frame so that
/// every part's first block is 4-byte aligned there, and reads them by
/// `LDM`).
#[unsafe(naked)]
unsafe extern "C" fn w8_pairs_kernel(args: *const W8PairsArgs, w_x: *const u8, w_h: *const u8) {
    core::arch::naked_asm!(
        ".p2align 2",
        "push {{r4-r11, lr}}",
        "ldr r3, [r0, #16]",
        "sub sp, sp, r3",
        "mov r10, r1",
        "mov r11, r2",
        // The frame's constants (see `W8PairsArgs`).
        "ldm r0!, {{r1-r5}}",
        "stm sp, {{r1-r3}}",
        "str r4, [sp, #72]",
        "str r5, [sp, #108]",
        "movw r1, #0x1818",
        "movs r2, #1",
        "add r3, sp, #24",
        "movs r4, #0",
        "add r5, sp, #12",
        "stm r5, {{r1-r3}}",
        "strd r4, r4, [sp, #24]",
        // The values into the frame's buffer (at 112), summed by SMLAD with
        // 0x00010001: r0 x, r1 N_x, r2 h, r3 N_h, r4 x's place, r5 h's place.
        "ldm r0, {{r0-r5}}",
        "add r12, sp, #112",
        "add r4, r12, r4",
        "add r5, r12, r5",
        "str r5, [sp, #32]",
        "movs r7, #0",
        "mov.w r8, #0x10001",
        "lsrs r6, r3, #2",
        "beq 61f",
        "60:",
        "ldr r9, [r2], #4",
        "ldr r12, [r2], #4",
        "str r9, [r5], #4",
        "str r12, [r5], #4",
        "smlad r7, r9, r8, r7",
        "smlad r7, r12, r8, r7",
        "subs r6, r6, #1",
        "bne 60b",
        "61:",
        "tst r3, #2",
        "beq 62f",
        "ldr r9, [r2], #4",
        "str r9, [r5], #4",
        "smlad r7, r9, r8, r7",
        "62:",
        "tst r3, #1",
        "beq 63f",
        "ldrsh r9, [r2]",
        "strh r9, [r5]",
        "add r7, r7, r9",
        "63:",
        "lsrs r6, r1, #2",
        "beq 65f",
        "64:",
        "ldr r9, [r0], #4",
        "ldr r12, [r0], #4",
        "str r9, [r4], #4",
        "str r12, [r4], #4",
        "smlad r7, r9, r8, r7",
        "smlad r7, r12, r8, r7",
        "subs r6, r6, #1",
        "bne 64b",
        "65:",
        "tst r1, #2",
        "beq 66f",
        "ldr r9, [r0], #4",
        "str r9, [r4], #4",
        "smlad r7, r9, r8, r7",
        "66:",
        "tst r1, #1",
        "beq 67f",
        "ldrsh r9, [r0]",
        "strh r9, [r4]",
        "add r7, r7, r9",
        "67:",
        // A and the low sum start at −128·Σ.
        "lsl r7, r7, #7",
        "rsb r7, r7, #0",
        "str r7, [sp, #24]",
        // Code slots: per part (the macro), from N and the weights' address:
        // `b = N / 8` blocks, the first round `(b − 1) mod 8 + 1` of them
        // (entry `(8 − first)` blocks in), `rounds` more; the tail of `N mod
        // 8` values; after 8 blocks the next part or the round check.
        ".macro w8_pairs_part n, w, blocks, blocks_un, teven, todd, round, round_un, next, s_entry, s_blk, s_al, s_un, s_after, s_after_un, s_left, s_rounds",
        "lsr r2, \\n, #3",
        "sub r4, r2, #1",
        "and r4, r4, #7",
        "add r4, r4, #1",
        "cmp r2, #0",
        "it eq",
        "moveq r4, #0",
        "sub r5, r2, r4",
        "lsr r5, r5, #3",
        "str r5, [sp, #\\s_left]",
        "str r5, [sp, #\\s_rounds]",
        "rsb r4, r4, #{nblk}",
        "adr.w r6, \\blocks",
        "mov r7, #{blk}",
        "mla r6, r4, r7, r6",
        "orr r6, r6, #1",
        "adr.w r7, \\blocks_un",
        "mov r3, #{blk_un}",
        "mla r7, r4, r3, r7",
        "orr r7, r7, #1",
        "str r6, [sp, #\\s_al]",
        "str r7, [sp, #\\s_un]",
        "and r3, \\n, #7",
        "add r4, \\w, r3, lsl #1",
        "tst r4, #3",
        "it ne",
        "movne r6, r7",
        "str r6, [sp, #\\s_blk]",
        "cbz r3, 1f",
        "lsr r4, r3, #1",
        "rsb r4, r4, #3",
        "mov r2, #{word}",
        "mul r4, r4, r2",
        "tst \\n, #1",
        "ite eq",
        "adreq.w r6, \\teven",
        "adrne.w r6, \\todd",
        "add r6, r6, r4",
        "orr r6, r6, #1",
        "1:",
        "str r6, [sp, #\\s_entry]",
        "mov r6, \\next",
        "mov r7, \\next",
        "cbz r5, 2f",
        "adr.w r6, \\round",
        "orr r6, r6, #1",
        "adr.w r7, \\round_un",
        "orr r7, r7, #1",
        "2:",
        "str r6, [sp, #\\s_after]",
        "str r7, [sp, #\\s_after_un]",
        ".endm",
        "mov r8, r1",
        "mov r9, r3",
        "adr.w r12, 30f",
        "orr r12, r12, #1",
        "w8_pairs_part r8, r10, 23f, 24f, 21f, 22f, 28f, 25f, r12, 56, 60, 64, 68, 84, 88, 100, 104",
        // The input part's entry: none, one input, odd (the gap, then the
        // tail in slot 56), even.
        "ldr r6, [sp, #56]",
        "tst r8, #1",
        "it ne",
        "adrne.w r6, 17f",
        "cmp r8, #1",
        "it eq",
        "adreq.w r6, 16f",
        "cmp r8, #0",
        "it eq",
        "adreq.w r6, 30f",
        "orr r6, r6, #1",
        "str r6, [sp, #52]",
        "mov r12, r6",
        "w8_pairs_part r9, r11, 13f, 14f, 11f, 12f, 18f, 15f, r12, 36, 40, 44, 48, 76, 80, 92, 96",
        ".purgem w8_pairs_part",
        "ldr lr, [sp, #72]",
        "add r6, sp, #24",
        // Start the first pair: A, B, the values, the recurrent entry.
        "ldm r6, {{r8, r9, r12, pc}}",
        // ---- The recurrent part (weights r11). Even tail: column pairs.
        "11:",
        ".rept 3",
        "ldr.w r0, [r11], #4",
        "ldr.w r4, [r12], #4",
        "smlad r8, r0, r4, r8",
        "sxtb16 r0, r0, ror #8",
        "smlad r9, r0, r4, r9",
        ".endr",
        "ldr pc, [sp, #40]",
        // Odd tail: column pairs, the odd column, then the blocks at this pair's alignment.
        "12:",
        ".rept 3",
        "ldr.w r0, [r11], #4",
        "ldr.w r4, [r12], #4",
        "smlad r8, r0, r4, r8",
        "sxtb16 r0, r0, ror #8",
        "smlad r9, r0, r4, r9",
        ".endr",
        "ldrsh r0, [r11], #2",
        "ldrsh r4, [r12], #2",
        "asr r1, r0, #8",
        "smlabb r8, r0, r4, r8",
        "smlabb r9, r1, r4, r9",
        "tst r11, #3",
        "it eq",
        "ldreq pc, [sp, #44]",
        "ldr pc, [sp, #48]",
        // Blocks of 8 columns, unaligned weights.
        "14:",
        ".rept {nblk}",
        "ldm.w r12!, {{r4, r5, r6, r7}}",
        "ldr.w r0, [r11], #4",
        "ldr.w r1, [r11], #4",
        "ldr.w r2, [r11], #4",
        "ldr.w r3, [r11], #4",
        "smlad r8, r0, r4, r8",
        "sxtb16 r0, r0, ror #8",
        "smlad r9, r0, r4, r9",
        "smlad r8, r1, r5, r8",
        "sxtb16 r1, r1, ror #8",
        "smlad r9, r1, r5, r9",
        "smlad r8, r2, r6, r8",
        "sxtb16 r2, r2, ror #8",
        "smlad r9, r2, r6, r9",
        "smlad r8, r3, r7, r8",
        "sxtb16 r3, r3, ror #8",
        "smlad r9, r3, r7, r9",
        ".endr",
        "ldr pc, [sp, #80]",
        // Blocks of 8 columns, aligned weights.
        "13:",
        ".rept {nblk}",
        "ldm.w r12!, {{r4, r5, r6, r7}}",
        "ldm.w r11!, {{r0, r1, r2, r3}}",
        "smlad r8, r0, r4, r8",
        "sxtb16 r0, r0, ror #8",
        "smlad r9, r0, r4, r9",
        "smlad r8, r1, r5, r8",
        "sxtb16 r1, r1, ror #8",
        "smlad r9, r1, r5, r9",
        "smlad r8, r2, r6, r8",
        "sxtb16 r2, r2, ror #8",
        "smlad r9, r2, r6, r9",
        "smlad r8, r3, r7, r8",
        "sxtb16 r3, r3, ror #8",
        "smlad r9, r3, r7, r9",
        ".endr",
        "ldr pc, [sp, #76]",
        // ---- The recurrent part is done (r12: just past its values).
        "10:",
        "ldr pc, [sp, #52]",
        // Another round of 8 recurrent blocks (aligned; unaligned)?
        "18:",
        "ldr r0, [sp, #92]",
        "subs r0, r0, #1",
        "bmi 19f",
        "str r0, [sp, #92]",
        "b 13b",
        "15:",
        "ldr r0, [sp, #92]",
        "subs r0, r0, #1",
        "bmi 19f",
        "str r0, [sp, #92]",
        "b 14b",
        "19:",
        "ldr r0, [sp, #96]",
        "str r0, [sp, #92]",
        "ldr pc, [sp, #52]",
        // ---- The input part (weights r10). Odd, 3 or more: skip the gap.
        "17:",
        "add r12, r12, #2",
        "ldr pc, [sp, #56]",
        // Even tail.
        "21:",
        ".rept 3",
        "ldr.w r0, [r10], #4",
        "ldr.w r4, [r12], #4",
        "smlad r8, r0, r4, r8",
        "sxtb16 r0, r0, ror #8",
        "smlad r9, r0, r4, r9",
        ".endr",
        "ldr pc, [sp, #60]",
        // Odd tail.
        "22:",
        ".rept 3",
        "ldr.w r0, [r10], #4",
        "ldr.w r4, [r12], #4",
        "smlad r8, r0, r4, r8",
        "sxtb16 r0, r0, ror #8",
        "smlad r9, r0, r4, r9",
        ".endr",
        "ldrsh r0, [r10], #2",
        "ldrsh r4, [r12], #2",
        "asr r1, r0, #8",
        "smlabb r8, r0, r4, r8",
        "smlabb r9, r1, r4, r9",
        "tst r10, #3",
        "it eq",
        "ldreq pc, [sp, #64]",
        "ldr pc, [sp, #68]",
        // Blocks, unaligned weights.
        "24:",
        ".rept {nblk}",
        "ldm.w r12!, {{r4, r5, r6, r7}}",
        "ldr.w r0, [r10], #4",
        "ldr.w r1, [r10], #4",
        "ldr.w r2, [r10], #4",
        "ldr.w r3, [r10], #4",
        "smlad r8, r0, r4, r8",
        "sxtb16 r0, r0, ror #8",
        "smlad r9, r0, r4, r9",
        "smlad r8, r1, r5, r8",
        "sxtb16 r1, r1, ror #8",
        "smlad r9, r1, r5, r9",
        "smlad r8, r2, r6, r8",
        "sxtb16 r2, r2, ror #8",
        "smlad r9, r2, r6, r9",
        "smlad r8, r3, r7, r8",
        "sxtb16 r3, r3, ror #8",
        "smlad r9, r3, r7, r9",
        ".endr",
        "ldr pc, [sp, #88]",
        // Blocks, aligned weights.
        "23:",
        ".rept {nblk}",
        "ldm.w r12!, {{r4, r5, r6, r7}}",
        "ldm.w r10!, {{r0, r1, r2, r3}}",
        "smlad r8, r0, r4, r8",
        "sxtb16 r0, r0, ror #8",
        "smlad r9, r0, r4, r9",
        "smlad r8, r1, r5, r8",
        "sxtb16 r1, r1, ror #8",
        "smlad r9, r1, r5, r9",
        "smlad r8, r2, r6, r8",
        "sxtb16 r2, r2, ror #8",
        "smlad r9, r2, r6, r9",
        "smlad r8, r3, r7, r8",
        "sxtb16 r3, r3, ror #8",
        "smlad r9, r3, r7, r9",
        ".endr",
        "ldr pc, [sp, #84]",
        // Another round of 8 input blocks (aligned; unaligned)?
        "28:",
        "ldr r0, [sp, #100]",
        "subs r0, r0, #1",
        "bmi 29f",
        "str r0, [sp, #100]",
        "b 23b",
        "25:",
        "ldr r0, [sp, #100]",
        "subs r0, r0, #1",
        "bmi 29f",
        "str r0, [sp, #100]",
        "b 24b",
        "29:",
        "ldr r0, [sp, #104]",
        "str r0, [sp, #100]",
        "b 30f",
        // One input: the pair's halfword, the value after the gap.
        "16:",
        "ldrsh r0, [r10], #2",
        "ldrsh r4, [r12, #2]",
        "asr r1, r0, #8",
        "smlabb r8, r0, r4, r8",
        "smlabb r9, r1, r4, r9",
        // ---- Both parts done: S_a = A − 256·B, S_b = B; shifts clamped to 24.
        "30:",
        "ldm sp, {{r1-r6}}",
        "sub r8, r8, r9, lsl #8",
        "ldrh r0, [r1, lr]",
        "ldr r7, [r2, lr, lsl #1]",
        "usub8 r1, r0, r4",
        "sel r0, r4, r0",
        // Row a: ((S + 2^e / 2) >> e) + bias, saturated.
        "lsl r1, r5, r0",
        "add r8, r8, r1, lsr #1",
        "asr r8, r8, r0",
        "smlabb r8, r7, r5, r8",
        "ssat r8, #16, r8",
        // Row b.
        "lsr r0, r0, #8",
        "lsl r1, r5, r0",
        "add r9, r9, r1, lsr #1",
        "asr r9, r9, r0",
        "smlatb r9, r7, r5, r9",
        "ssat r9, #16, r9",
        "pkhbt r8, r8, r9, lsl #16",
        "str r8, [r3, lr, lsl #1]",
        // Next pair: A, B, the values, the recurrent entry.
        "adds lr, lr, #2",
        "it ne",
        "ldmne r6, {{r8, r9, r12, pc}}",
        "ldr r0, [sp, #108]",
        "add sp, sp, r0",
        "pop {{r4-r11, pc}}",
        blk = const W8_BLOCK_BYTES,
        blk_un = const W8_BLOCK_UN_BYTES,
        word = const W8_WORD_BYTES,
        nblk = const W8_BLOCKS,
    )
}

/// The rows of [`crate::w8::rows`] computed on the Cortex-M4: rows `0 ..
/// 2k` of parts in the pair layout (see [`crate::w8::weight`]) by
/// [`w8_pairs_kernel`], for the largest `k` such that both rows of every
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
    let rows = out.len().min(bias.len()).min(shift.len());
    let pairs = crate::w8::kernel_pairs(rows, w_x, nx, w_h, nh, KERNEL_ROW);
    if pairs == 0 {
        return 0;
    }
    let rows = 2 * pairs;
    // The buffer: `h` at `h0`, `x` at `x0` (values).
    let (h0, x0) = (nh % 2, nh % 2 + nh + nx % 2);
    let args = W8PairsArgs {
        shift_end: shift.as_ptr().wrapping_add(rows),
        bias_end: bias.as_ptr().wrapping_add(rows).cast(),
        out_end: out.as_mut_ptr().wrapping_add(rows).cast(),
        index: -(rows as i32),
        frame_bytes: (W8_HEADER + 2 * (x0 + nx)).next_multiple_of(8) as u32,
        x: x.as_ptr().cast(),
        nx,
        h: h.as_ptr().cast(),
        nh,
        x_at: 2 * x0,
        h_at: 2 * h0,
    };
    // SAFETY: checked above and by `w8::kernel_pairs`: `pairs ≥ 1`;
    // `rows = 2·pairs` outputs (an exclusive borrow, so overlapping no input), biases and shifts
    // (`LDR`, `LDRH`, `STR`: unaligned allowed on Armv7-M); `rows`
    // complete rows in the pair layout in both parts (`2·pairs·N` bytes,
    // `paired`), read by `LDR` / `LDRSH`, and by `LDM` only where the
    // kernel found them aligned: an even part's blocks start at `w + 2k·N
    // + 2·(N mod 8)` (`2N` a multiple of 4), tested once; an odd part's
    // tail tests the pointer itself; `N_x + N_h ≤ KERNEL_ROW` (the kernel
    // computes its code slots and rounds from `N_x`, `N_h`); the buffer
    // (`frame_bytes − 112` bytes at the 4-byte-aligned `sp + 112`) holds
    // both parts at `h0` and `x0` (`x0 + N_x` values), each part's blocks
    // 4-byte aligned (`h0 + (N_h mod 8)` and `x0 + (N_x mod 8)` are
    // even); `x` and `h` are read
    // for exactly their lengths; `Q4_12` is `repr(transparent)` over
    // `i16`; `args` outlives the call;
    // the kernel follows the AAPCS (saves r4–r11 and lr, restores sp by
    // `frame_bytes`, at most 112 + 2·511 rounded up to 8 = 1136 bytes).
    unsafe { w8_pairs_kernel(&args, w_x.as_ptr(), w_h.as_ptr()) };
    rows
}
