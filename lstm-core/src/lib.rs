#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]
#![doc = include_str!("../README.md")]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

pub mod activation;
mod activation_tables;
pub mod cell;
#[cfg(feature = "codegen")]
pub mod codegen;
pub mod dense;
#[cfg(all(feature = "alloc", feature = "serde"))]
pub mod dynamic;
pub mod error;
#[cfg(feature = "serde")]
pub mod file;
pub mod gru;
pub mod layer;
pub mod lstm;
pub mod num;
#[cfg(feature = "serde")]
pub mod raw;
pub mod shape;
pub mod stream;
pub mod w8;

pub use activation::{Activation, Exact, Fast};
pub use cell::{Cell, CellKind, Recurrent, RecurrentWeights};
pub use dense::{Dense, DenseWeights};
pub use error::Error;
pub use gru::{Gru, GruCell, GruState, GruWeights};
pub use layer::{Layer, Stack};
pub use lstm::{Lstm, LstmCell, LstmState, LstmWeights};
pub use num::{NumberFormat, Scalar, Q16_16, Q20_12, Q4_12};
#[cfg(feature = "serde")]
pub use raw::RawIo;
pub use shape::LayerShape;
pub use stream::{Stream, WindowedStream};
