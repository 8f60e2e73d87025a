//! The one error type of `lstm-core`.

use crate::num::NumberFormat;
use crate::shape::LayerShape;

/// Everything that can go wrong when loading, validating or writing a model file.
///
/// Flat and `Copy`, like postcard's error: match on the variant, print it with
/// `Display` (or `defmt` with the `defmt` feature).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The file does not start with the magic bytes `LSTM`.
    BadMagic,
    /// The file's format version is not one this build reads.
    UnsupportedVersion {
        /// Version in the file.
        found: u16,
        /// The version this build reads.
        supported: u16,
    },
    /// The file is shorter than its own lengths say.
    Truncated {
        /// Bytes the file needs.
        needed: usize,
        /// Bytes present.
        found: usize,
    },
    /// The stored CRC-32 does not match the contents: the file is corrupt.
    CrcMismatch {
        /// CRC stored in the file.
        stored: u32,
        /// CRC computed over the contents.
        computed: u32,
    },
    /// The contents are inconsistent (the text says what).
    Malformed(&'static str),
    /// A layer in the file has another shape than the type it is loaded into.
    ShapeMismatch {
        /// Index of the layer (0 = first).
        layer: usize,
        /// Shape the program was compiled for.
        expected: LayerShape,
        /// Shape in the file.
        found: LayerShape,
    },
    /// The file has another number of layers than the type it is loaded into.
    LayerCountMismatch {
        /// Layers the program was compiled for.
        expected: usize,
        /// Layers in the file.
        found: usize,
    },
    /// The file's weights are in another number format than the program computes in.
    FormatMismatch {
        /// Format the program was compiled for.
        expected: NumberFormat,
        /// Format in the file.
        found: NumberFormat,
    },
    /// The file's bytes are not aligned for zero-copy loading.
    Misaligned {
        /// Alignment the buffer's start needs, in bytes.
        required: usize,
    },
    /// A vector passed to a runtime-shaped model has the wrong length.
    LengthMismatch {
        /// Length the model needs.
        expected: usize,
        /// Length given.
        found: usize,
    },
    /// An output buffer is too small.
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::BadMagic => f.write_str("not a model file: bad magic bytes (expected \"LSTM\")"),
            Error::UnsupportedVersion { found, supported } => {
                write!(f, "unsupported model file version {found} (this build reads version {supported})")
            }
            Error::Truncated { needed, found } => {
                write!(f, "model file truncated: {found} bytes, needs {needed}")
            }
            Error::CrcMismatch { stored, computed } => write!(
                f,
                "model file corrupt: CRC mismatch (stored {stored:#010x}, computed {computed:#010x})"
            ),
            Error::Malformed(what) => write!(f, "malformed model file: {what}"),
            Error::ShapeMismatch { layer, expected, found } => {
                write!(f, "layer {layer} shape mismatch: expected {expected}, file has {found}")
            }
            Error::LayerCountMismatch { expected, found } => {
                write!(f, "layer count mismatch: expected {expected} layers, file has {found}")
            }
            Error::FormatMismatch { expected, found } => {
                write!(f, "number format mismatch: expected {expected}, file has {found}")
            }
            Error::Misaligned { required } => {
                write!(f, "model bytes misaligned: the buffer must start at a multiple of {required} bytes")
            }
            Error::LengthMismatch { expected, found } => {
                write!(f, "vector length mismatch: expected {expected} values, got {found}")
            }
            Error::BufferTooSmall { needed, available } => {
                write!(f, "output buffer too small: {available} bytes, needs {needed}")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

#[cfg(feature = "defmt")]
impl defmt::Format for Error {
    fn format(&self, f: defmt::Formatter<'_>) {
        match self {
            Error::BadMagic => defmt::write!(f, "BadMagic"),
            Error::UnsupportedVersion { found, supported } => {
                defmt::write!(
                    f,
                    "UnsupportedVersion {{ found: {=u16}, supported: {=u16} }}",
                    found,
                    supported
                )
            }
            Error::Truncated { needed, found } => {
                defmt::write!(
                    f,
                    "Truncated {{ needed: {=usize}, found: {=usize} }}",
                    needed,
                    found
                )
            }
            Error::CrcMismatch { stored, computed } => {
                defmt::write!(
                    f,
                    "CrcMismatch {{ stored: {=u32:#x}, computed: {=u32:#x} }}",
                    stored,
                    computed
                )
            }
            Error::Malformed(what) => defmt::write!(f, "Malformed({=str})", what),
            Error::ShapeMismatch {
                layer,
                expected,
                found,
            } => defmt::write!(
                f,
                "ShapeMismatch {{ layer: {=usize}, expected: {}, found: {} }}",
                layer,
                expected,
                found
            ),
            Error::LayerCountMismatch { expected, found } => {
                defmt::write!(
                    f,
                    "LayerCountMismatch {{ expected: {=usize}, found: {=usize} }}",
                    expected,
                    found
                )
            }
            Error::FormatMismatch { expected, found } => {
                defmt::write!(
                    f,
                    "FormatMismatch {{ expected: {}, found: {} }}",
                    expected,
                    found
                )
            }
            Error::Misaligned { required } => {
                defmt::write!(f, "Misaligned {{ required: {=usize} }}", required)
            }
            Error::LengthMismatch { expected, found } => {
                defmt::write!(
                    f,
                    "LengthMismatch {{ expected: {=usize}, found: {=usize} }}",
                    expected,
                    found
                )
            }
            Error::BufferTooSmall { needed, available } => {
                defmt::write!(
                    f,
                    "BufferTooSmall {{ needed: {=usize}, available: {=usize} }}",
                    needed,
                    available
                )
            }
        }
    }
}
