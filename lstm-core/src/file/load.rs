//! Typed loading: [`FromModelFile`] for each layer type and for [`Stack`].

use crate::cell::{Cell, Recurrent, RecurrentWeights};
use crate::dense::{Dense, DenseWeights};
use crate::error::Error;
use crate::layer::Stack;
use crate::num::Scalar;
use crate::shape::LayerShape;

/// Hands out the file's layers in order, with their weight bytes.
#[derive(Debug)]
pub struct LayerReader<'h, 'a> {
    layers: &'h [LayerShape],
    next: usize,
    weights: &'a [u8],
}

impl<'h, 'a> LayerReader<'h, 'a> {
    pub(crate) fn new(layers: &'h [LayerShape], weights: &'a [u8]) -> Self {
        LayerReader {
            layers,
            next: 0,
            weights,
        }
    }

    /// Checks that the next layer in the file is `expected`, and moves past it.
    pub fn expect_layer(&mut self, expected: LayerShape) -> Result<(), Error> {
        let layer = self.next;
        let found = *self.layers.get(layer).ok_or(Error::LayerCountMismatch {
            expected: layer + 1,
            found: self.layers.len(),
        })?;
        if found != expected {
            return Err(Error::ShapeMismatch {
                layer,
                expected,
                found,
            });
        }
        self.next += 1;
        Ok(())
    }

    /// Borrows the next `count` weight values as a slice of `T`, checking
    /// alignment and that every value is valid.
    pub fn take_slice<T: Scalar>(&mut self, count: usize) -> Result<&'a [T], Error> {
        let n = count
            .checked_mul(core::mem::size_of::<T>())
            .ok_or(Error::Malformed(
                "weights blob shorter than the layers need",
            ))?;
        if self.weights.len() < n {
            return Err(Error::Malformed(
                "weights blob shorter than the layers need",
            ));
        }
        let (bytes, rest) = self.weights.split_at(n);
        let values: &'a [T] = bytemuck::try_cast_slice(bytes).map_err(|_| Error::Misaligned {
            required: core::mem::align_of::<T>(),
        })?;
        if !values.iter().all(|v| v.is_valid()) {
            return Err(Error::Malformed("a weight is not finite"));
        }
        self.weights = rest;
        Ok(values)
    }

    /// Borrows the next `size_of::<B>()` weight bytes as a `B` (an array of `T`).
    pub fn take<T: Scalar, B: bytemuck::Pod>(&mut self) -> Result<&'a B, Error> {
        let count = core::mem::size_of::<B>() / core::mem::size_of::<T>();
        let values = self.take_slice::<T>(count)?;
        bytemuck::try_from_bytes(bytemuck::cast_slice(values)).map_err(|_| Error::Misaligned {
            required: core::mem::align_of::<B>(),
        })
    }

    /// Borrows the next layer of shape `shape` with 8-bit weights (see
    /// [`crate::w8`]), checking its shifts, padding and alignment.
    pub fn take_w8<T: Scalar>(
        &mut self,
        shape: LayerShape,
    ) -> Result<crate::w8::LayerW8<'a, T>, Error> {
        crate::w8::read_layer(shape, &mut self.weights)
    }

    /// The shape of the next layer, without moving past it.
    pub fn peek_layer(&self) -> Option<LayerShape> {
        self.layers.get(self.next).copied()
    }
}

/// A model (or part of one) that can be built from a model file's layers.
pub trait FromModelFile<'a, T: Scalar>: Sized {
    /// Layers this type consumes.
    const LAYERS: usize;
    /// Whether this type reads 8-bit weights (a file in `T`'s
    /// [`Scalar::FORMAT_W8`] rather than `T::FORMAT`).
    const W8: bool = false;
    /// Reads this type's layers from `reader`.
    fn read(reader: &mut LayerReader<'_, 'a>) -> Result<Self, Error>;
}

/// `u32` of a const-generic size (sizes above `u32::MAX` cannot be in a file).
fn dim(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl<'a, C: Cell, T: Scalar, A, const IN: usize, const H: usize, const G: usize>
    FromModelFile<'a, T> for Recurrent<'a, C, T, A, IN, H, G>
{
    const LAYERS: usize = 1;
    fn read(reader: &mut LayerReader<'_, 'a>) -> Result<Self, Error> {
        reader.expect_layer(LayerShape::recurrent(C::KIND, dim(IN), dim(H)))?;
        let w_ih = reader.take::<T, _>()?;
        let w_hh = reader.take::<T, _>()?;
        let bias = reader.take::<T, _>()?;
        Ok(Recurrent::new(RecurrentWeights { w_ih, w_hh, bias }))
    }
}

impl<'a, T: Scalar, const IN: usize, const OUT: usize> FromModelFile<'a, T>
    for Dense<'a, T, IN, OUT>
{
    const LAYERS: usize = 1;
    fn read(reader: &mut LayerReader<'_, 'a>) -> Result<Self, Error> {
        reader.expect_layer(LayerShape::Dense {
            input: dim(IN),
            output: dim(OUT),
        })?;
        let w = reader.take::<T, _>()?;
        let b = reader.take::<T, _>()?;
        Ok(Dense::new(DenseWeights { w, b }))
    }
}

impl<'a, T: Scalar, A, B, const MID: usize> FromModelFile<'a, T> for Stack<A, B, MID>
where
    A: FromModelFile<'a, T>,
    B: FromModelFile<'a, T>,
{
    const LAYERS: usize = A::LAYERS + B::LAYERS;
    const W8: bool = A::W8;
    fn read(reader: &mut LayerReader<'_, 'a>) -> Result<Self, Error> {
        if A::W8 != B::W8 {
            return Err(Error::Malformed(
                "a model type mixes 8-bit and full-width layers",
            ));
        }
        let first = A::read(reader)?;
        let second = B::read(reader)?;
        Ok(Stack::new(first, second))
    }
}
