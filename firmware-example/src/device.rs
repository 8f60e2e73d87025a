//! The firmware: start-up, model loading, streaming with per-step checks,
//! instruction-count markers, and the exit paths.

use core::hint::black_box;
use core::mem::MaybeUninit;

use cortex_m_rt::{entry, exception, ExceptionFrame, STACK_PAINT_VALUE};
use cortex_m_semihosting::debug::{self, EXIT_FAILURE, EXIT_SUCCESS};
// The defmt logger: semihosting under QEMU, RTT on a real board (`rtt`).
#[cfg(feature = "rtt")]
use defmt_rtt as _;
#[cfg(not(feature = "rtt"))]
use defmt_semihosting as _;
use lstm_core::file::ModelFile;
use lstm_core::Scalar;
use panic_probe as _;

use crate::model::{self, data, Model, Streamer, IN, MACS_PER_STEP, OUT, T};

/// Start of a measured region. The QEMU plugin `insn_regions` counts the
/// instructions executed between this function's first instruction and
/// [`bench_mark_end`]'s (see `shared/bench/mcu/README.md`).
#[no_mangle]
#[inline(never)]
pub extern "C" fn bench_mark_begin() {
    cortex_m::asm::nop()
}

/// End of a measured region (a different body, so it cannot be merged with
/// [`bench_mark_begin`]).
#[no_mangle]
#[inline(never)]
pub extern "C" fn bench_mark_end() {
    cortex_m::asm::nop();
    cortex_m::asm::nop()
}

/// Ends the QEMU session with the firmware's verdict.
fn exit(ok: bool) -> ! {
    debug::exit(if ok { EXIT_SUCCESS } else { EXIT_FAILURE });
    // Only reached without a semihosting host (on a real board without a probe).
    loop {
        cortex_m::asm::wfi();
    }
}

/// Paints the stack again below the current stack pointer (minus a
/// margin for this function's own frame), so that a later [`stack_peak`]
/// measures what happens from here on.
fn repaint_stack() {
    extern "C" {
        static _stack_end: u32;
    }
    let bottom = core::ptr::addr_of!(_stack_end) as usize;
    let below_sp = cortex_m::register::msp::read() as usize - 128;
    let mut p = bottom;
    while p < below_sp {
        // SAFETY: [bottom, below_sp) is unused stack, word-aligned; nothing
        // else runs (no interrupts are enabled).
        unsafe { core::ptr::write_volatile(p as *mut u32, STACK_PAINT_VALUE) };
        p += 4;
    }
}

/// Bytes of stack ever used: cortex-m-rt (feature `paint-stack`) fills the
/// stack with [`STACK_PAINT_VALUE`] before `main`; this finds the lowest word
/// that no longer holds it.
fn stack_peak() -> usize {
    extern "C" {
        /// Lowest address of the stack (cortex-m-rt's `link.x`).
        static _stack_end: u32;
        /// Highest address of the stack.
        static _stack_start: u32;
    }
    let bottom = core::ptr::addr_of!(_stack_end) as usize;
    let top = core::ptr::addr_of!(_stack_start) as usize;
    let mut p = bottom;
    // SAFETY: reads of word-aligned RAM inside the stack region.
    while p < top && unsafe { core::ptr::read_volatile(p as *const u32) } == STACK_PAINT_VALUE {
        p += 4;
    }
    top - p
}

#[cfg(feature = "systick")]
mod ticks {
    //! SysTick as a cross-check of the instruction counts: under
    //! `-icount shift=3` one instruction is 8 ns of virtual time and the
    //! mps2-an386's SysTick runs at 25 MHz, so one tick is 5 instructions.
    use cortex_m::peripheral::syst::SystClkSource;
    use cortex_m::peripheral::SYST;

    /// Starts SysTick free-running from its largest reload value.
    pub fn start() -> SYST {
        let mut syst = cortex_m::Peripherals::take().unwrap().SYST;
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(0x00FF_FFFF);
        syst.clear_current();
        syst.enable_counter();
        syst
    }

    /// Current value (counts down).
    pub fn now() -> u32 {
        SYST::get_current()
    }
}

/// One model step, kept out of `main` so that what the instruction count
/// measures does not depend on how the compiler lays out the rest of `main`
/// (its register pressure and spills); the call itself is inside the
/// measured region (a few instructions).
#[inline(never)]
fn model_step(stream: &mut Streamer<'static>, x: &[T; IN]) -> [T; OUT] {
    stream.step(x)
}

/// Loads the embedded model: validates it at the boundary (frame, CRC,
/// header, then number format and shapes against the types this firmware was
/// compiled for) and exits with a failure status on any error.
///
/// The header (~1 KiB of heapless vectors for the scalings and class names)
/// is decoded straight into its slot in `.bss` ([`ModelFile::parse_into`]),
/// never onto the stack; the model (a few pointers into flash) goes to
/// `.bss` too. Kept out of `main` so that nothing of loading stays in
/// `main`'s stack frame while streaming.
#[inline(never)]
fn load() -> (&'static ModelFile<'static>, &'static Model<'static>) {
    let slot: &'static mut MaybeUninit<ModelFile<'static>> =
        cortex_m::singleton!(: MaybeUninit<ModelFile<'static>> = MaybeUninit::uninit()).unwrap();
    let file: &'static ModelFile<'static> = match ModelFile::parse_into(slot, &model::MODEL.0) {
        Ok(file) => file,
        Err(e) => {
            defmt::error!("model file rejected: {}", e);
            exit(false)
        }
    };
    let loaded: Model<'static> = match file.model::<T, Model<'static>>() {
        Ok(m) => m,
        Err(e) => {
            defmt::error!("model does not match this firmware: {}", e);
            exit(false)
        }
    };
    defmt::info!(
        "model file: {=usize} bytes, format {}, {=usize} parameters, crc {=u32:#010x}, {=usize} MACs/model step, {=usize} model steps/step()",
        model::MODEL.0.len(),
        file.header.format,
        file.header.parameter_count().unwrap_or(0),
        file.crc,
        MACS_PER_STEP,
        model::WINDOW
    );
    // Zero-copy: the weights are borrowed where the file lies (flash).
    let weights = file.weights.as_ptr() as usize;
    defmt::info!(
        "weights borrowed in place at @{=usize:#010x}, in flash: {=bool}",
        weights,
        weights < 0x2000_0000
    );

    let model: &'static Model<'static> = cortex_m::singleton!(: Model<'static> = loaded).unwrap();
    (file, model)
}

#[entry]
fn main() -> ! {
    defmt::info!(
        "lstm-core firmware on {=str}: model {=str}, {=str}, activation {=str}, {=str} streaming",
        model::MACHINE,
        model::MODEL_NAME,
        model::LAYERS,
        model::ACTIVATION,
        model::MODE
    );
    #[cfg(feature = "selftest")]
    {
        crate::selftest::run();
        // The self-test's test vectors are not part of loading: its peak on
        // a line of its own, then the count starts again.
        defmt::info!("stack peak of the selftest @{=usize} bytes", stack_peak());
        repaint_stack();
    }

    let (file, model) = load();

    // The stream (the model's state) lives in .bss, not on the stack.
    let stream: &'static mut Streamer<'static> =
        cortex_m::singleton!(: Streamer<'static> = Streamer::new(model)).unwrap();

    defmt::info!("stack peak while loading @{=usize} bytes", stack_peak());
    repaint_stack();

    #[cfg(feature = "systick")]
    let _syst = ticks::start();
    #[cfg(feature = "systick")]
    let mut total_ticks = 0u32;

    // Region 0: an empty region, the plugin's fixed overhead.
    bench_mark_begin();
    bench_mark_end();

    let mut mismatches = 0usize;
    let mut io = match model::Io::with_history(&file.header) {
        Ok(io) => io,
        Err(e) => {
            defmt::error!("raw input history: {}", e);
            exit(false)
        }
    };
    let mut expected = data::EXPECTED.iter();
    for (t, raw) in data::INPUTS.iter().enumerate() {
        let mut x = [<T as Scalar>::ZERO; IN];
        match io.input(raw, &mut x) {
            Ok(true) => {}
            Ok(false) => {
                defmt::info!("step {=usize}: primes the difference", t);
                continue;
            }
            Err(e) => {
                defmt::error!("step {=usize}: {}", t, e);
                exit(false)
            }
        }
        let Some(want) = expected.next() else {
            defmt::error!("step {=usize}: no expected output left", t);
            exit(false)
        };
        #[cfg(feature = "systick")]
        let t0 = ticks::now();
        bench_mark_begin();
        let y: [T; OUT] = model_step(stream, black_box(&x));
        bench_mark_end();
        #[cfg(feature = "systick")]
        {
            let dt = t0.wrapping_sub(ticks::now()) & 0x00FF_FFFF;
            total_ticks += dt;
            defmt::info!("systick step {=usize}: {=u32} ticks", t, dt);
        }
        let y = black_box(y);
        let ok = bytemuck::bytes_of(&y) == bytemuck::bytes_of(want);
        if !ok {
            mismatches += 1;
        }
        defmt::info!(
            "step {=usize}: y = {} bits {:#x} {=str}",
            t,
            model::raw_output(&io, &y),
            model::output_bits(&y),
            if ok { "ok" } else { "MISMATCH" }
        );
        if !ok {
            defmt::error!(
                "step {=usize}: host expected bits {:#x}",
                t,
                model::output_bits(want)
            );
        }
    }
    #[cfg(feature = "systick")]
    defmt::info!(
        "systick total: {=u32} ticks over {=usize} steps",
        total_ticks,
        data::OUTPUTS
    );

    defmt::info!("stack peak while streaming @{=usize} bytes", stack_peak());
    if mismatches == 0 {
        defmt::info!(
            "PASS: {=usize} steps, every output bit-identical to the host",
            data::OUTPUTS
        );
        exit(true)
    } else {
        defmt::error!(
            "FAIL: {=usize} of {=usize} outputs differ from the host",
            mismatches,
            data::OUTPUTS
        );
        exit(false)
    }
}

/// A fault (including the `udf` that `panic-probe` ends a panic with) ends
/// the QEMU session with a failure status instead of hanging.
#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    defmt::error!("HardFault at pc {=u32:#010x}", frame.pc());
    exit(false)
}
