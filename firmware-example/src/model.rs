//! What the device and the host build share: the model (its bytes and its
//! build-time types), the held-out data, and the raw-unit outputs.

#![allow(clippy::excessive_precision, clippy::unreadable_literal)]

use lstm_core::file::AlignedBytes;
use lstm_core::{Q16_16, Q4_12};

include!(concat!(env!("OUT_DIR"), "/model_types.rs"));

/// Held-out inputs (and, on the device, the host's outputs for them).
pub mod data {
    #[allow(unused_imports)]
    use super::{IN, OUT, T};
    include!(concat!(env!("OUT_DIR"), "/data.rs"));
}

/// The model file, embedded where the linker puts read-only data (flash on
/// the device) and aligned so that `lstm-core` borrows its weights in place.
pub static MODEL: &AlignedBytes<[u8]> =
    &AlignedBytes(*include_bytes!(concat!(env!("OUT_DIR"), "/model.lstm")));

/// The model's output in raw units (unscaled, and, if the model is
/// differenced, added to the raw value `lag` samples before the forecast);
/// NaN if the lengths disagree, which the build-time types rule out.
pub fn raw_output(io: &Io<'_, '_>, y: &[T; OUT]) -> [f32; OUT] {
    let mut out = [f32::NAN; OUT];
    if io.output(y, &mut out).is_err() {
        out = [f32::NAN; OUT];
    }
    out
}

/// A value's raw bits, zero-extended (what the bit-identical check compares).
pub trait Bits {
    /// Raw bits as stored in a model file, zero-extended to 32 bits.
    fn bits(self) -> u32;
}

impl Bits for f32 {
    fn bits(self) -> u32 {
        self.to_bits()
    }
}

impl Bits for Q4_12 {
    fn bits(self) -> u32 {
        u32::from(self.to_bits() as u16)
    }
}

impl Bits for Q16_16 {
    fn bits(self) -> u32 {
        self.to_bits() as u32
    }
}

/// Raw bits of every output of one step.
pub fn output_bits(y: &[T; OUT]) -> [u32; OUT] {
    core::array::from_fn(|i| y[i].bits())
}
