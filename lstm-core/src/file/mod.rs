//! The model file: a small binary frame around a postcard header, followed by
//! the weights as aligned little-endian blobs and a CRC-32. The byte layout and
//! versioning rule are in `lstm-core/FORMAT.md`.
//!
//! Loading is `no_std` and allocation-free: [`ModelFile::parse`] checks the
//! frame, the CRC and the header once ("validate at the boundary"), and
//! [`ModelFile::model`] builds a typed model whose weight blocks borrow the
//! file's bytes where they lie (nothing is copied to RAM), after checking the
//! number format, every layer's shape and the buffer's alignment.
//! [`ModelFile::parse_into`] does the same into a slot the caller owns (a
//! `static` on a device), decoding the ~1 KiB header where it stays instead
//! of on the stack.
//!
//! ```
//! use lstm_core::file::{Differencing, Header, ModelFile, Scaling, Task, TrainingMode, write_to_slice, encoded_len};
//! use lstm_core::{Dense, Exact, LayerShape, Lstm, NumberFormat, Stack, Stream};
//!
//! // A 1-input, 2-unit LSTM with a 1-output head, weights in PyTorch order.
//! let header = Header {
//!     format: NumberFormat::F32,
//!     layers: heapless::Vec::from_slice(&[
//!         LayerShape::Lstm { input: 1, hidden: 2 },
//!         LayerShape::Dense { input: 2, output: 1 },
//!     ]).unwrap(),
//!     input_scaling: Scaling::Identity,
//!     output_scaling: Scaling::Identity,
//!     mode: TrainingMode::Stateful,
//!     task: Task::Regression,
//!     differencing: Differencing::None,
//!     pool: 1,
//! };
//! let weights: Vec<f32> = (0..header.parameter_count().unwrap()).map(|k| k as f32 * 0.01).collect();
//! let mut buf = lstm_core::file::AlignedBuf([0u8; 512]);
//! let n = write_to_slice(&header, &weights, &mut buf.0).unwrap();
//! assert_eq!(n, encoded_len(&header).unwrap());
//!
//! let file = ModelFile::parse(&buf.0[..n]).unwrap();
//! type Model<'a> = Stack<Lstm<'a, f32, Exact, 1, 2>, Dense<'a, f32, 2, 1>, 2>;
//! let model: Model = file.model().unwrap();
//! let mut stream = Stream::new(&model);
//! let y = stream.step(&[0.5]);
//! assert!(y[0].is_finite());
//! ```

mod decode;
mod frame;
mod header;
mod load;
mod write;

pub use frame::{
    ModelFile, CRC, FORMAT_VERSION, MAGIC, OLDEST_VERSION, PREFIX_LEN, RETIRED_VERSION,
    WEIGHTS_ALIGN,
};
pub use header::{
    normalize_series, Differencing, Header, Scaling, Task, TrainingMode, MAX_CLASSES, MAX_FEATURES,
    MAX_LAYERS, NO_POOL, SERIES_STD_FLOOR,
};
pub use load::{FromModelFile, LayerReader};
#[cfg(feature = "std")]
pub use write::to_vec;
pub use write::{encoded_len, write_to_slice};

/// A byte buffer aligned for zero-copy loading of any number format
/// (wrap `include_bytes!` output or a RAM buffer in it).
#[derive(Clone, Copy, Debug)]
#[repr(C, align(16))]
pub struct AlignedBuf<const N: usize>(pub [u8; N]);

/// Wraps a byte array so that it starts on a 16-byte boundary:
/// `static MODEL: &AlignedBytes<[u8]> = &AlignedBytes(*include_bytes!("model.lstm"));`
/// then load `&MODEL.0`.
#[derive(Debug)]
#[repr(C, align(16))]
pub struct AlignedBytes<B: ?Sized>(pub B);
