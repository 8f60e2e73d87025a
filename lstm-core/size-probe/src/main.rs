//! Code-size probe: one streaming step of a one-layer H = 32, IN = 1 model
//! with a Dense head, in f32 and Q4.12, as `extern "C"` symbols whose sizes
//! `arm-none-eabi-nm --print-size` reads. Builds for any thumb target:
//! `cd lstm-core/size-probe && cargo build --release --target thumbv6m-none-eabi`.
#![no_std]
#![no_main]

use lstm_core::{Dense, DenseWeights, Fast, Layer, Lstm, LstmState, LstmWeights, Q4_12, Scalar, Stack};

const H: usize = 32;

macro_rules! probe {
    ($name:ident, $t:ty) => {
        /// One step of the H = 32 model; weights are passed in so nothing is constant-folded.
        #[no_mangle]
        pub extern "C" fn $name(
            w_ih: &[[[$t; 1]; H]; 4],
            w_hh: &[[[$t; H]; H]; 4],
            bias: &[[$t; H]; 4],
            dense_w: &[[$t; H]; 1],
            dense_b: &[$t; 1],
            state: &mut LstmState<$t, H>,
            x: $t,
        ) -> $t {
            let model = Stack::<_, _, H>::new(
                Lstm::<$t, Fast, 1, H>::new(LstmWeights { w_ih, w_hh, bias }),
                Dense::new(DenseWeights { w: dense_w, b: dense_b }),
            );
            let mut s = (*state, ());
            let y = model.step(&mut s, &[x]);
            *state = s.0;
            y[0]
        }
    };
}

probe!(lstm_step_h32_f32, f32);
probe!(lstm_step_h32_q4_12, Q4_12);

/// The entry point: keeps both probes linked (their addresses escape).
#[no_mangle]
pub extern "C" fn _start() -> ! {
    core::hint::black_box(lstm_step_h32_f32 as *const () as usize);
    core::hint::black_box(lstm_step_h32_q4_12 as *const () as usize);
    let _ = <f32 as Scalar>::ZERO;
    loop {}
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}
