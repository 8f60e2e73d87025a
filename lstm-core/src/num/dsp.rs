//! Q4.12 dot products with the Armv7E-M DSP extension (Cortex-M4/M7).
//!
//! `SMLALD` adds two exact 16×16 products to a 64-bit accumulator in one
//! instruction, which is exactly the portable semantics of
//! [`Q4_12::dot`](super::Scalar::dot) (products summed exactly in an `i64`,
//! saturated only when added to the caller's accumulator), so results are
//! bit-identical to the portable code on every input. Pairs of `i16` are
//! loaded as one 32-bit word: `LDM` (four words, one instruction) where both
//! operands are 4-byte aligned, `LDR` (which the Cortex-M4 allows unaligned)
//! elsewhere.
//!
//! `core::arch::arm::__smlald` is unstable, so the kernels are naked
//! functions in assembly (stable `naked_asm!`); being whole functions, they
//! may use every general register, saving the callee-saved ones (including
//! `r6`, `r7` and `r9`, which `asm!` operands cannot name) per the AAPCS.
//! Compiled only for `thumbv7em-*` targets (see `build.rs`); the device
//! self-test in `firmware-example/src/selftest.rs` checks them against the
//! portable arithmetic under QEMU.

use super::Q4_12;

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

/// [`q12_rows`] over slices: `out[r]` for every row, if the shapes and
/// alignments fit the kernel (every row complete, `h.len()` even, `h` and
/// `w_hh` 4-byte aligned unless `h` is empty); returns `false` without
/// writing otherwise. An empty `x` or `h` (the GRU's candidate rows, whose
/// input and recurrent parts are separate) is a loop of zero iterations in
/// the kernel: an empty `h` jumps past every block (`h_rounds = 0`,
/// `h_skip = 192`) and reads neither `h` nor `w_hh`.
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
    // SAFETY: the checks above give every requirement of `q12_rows`: `rows`
    // biases, `rows` complete rows of `x.len()` input and `h.len()` (even)
    // recurrent weights, `h` and `w_hh` 4-byte aligned (the only operands
    // read with `LDM`) or never read (`h` empty: no block, no pair); `Q4_12` is `repr(transparent)` over `i16`; `out` is
    // an exclusive borrow, so it overlaps none of the shared inputs; the
    // kernel follows the AAPCS and restores `sp`.
    unsafe { q12_rows(&args) };
    true
}
