//! [`DynModel`]: a model whose shapes are read from the file at run time,
//! for hosts (feature `alloc`). Each recurrent layer carries its own cell
//! kind and that cell's [`Cell::step`] (LSTM and GRU layers mix freely),
//! the very same code as the const-generic layers, so its outputs are
//! bit-identical to theirs:
//! the trainer uses it to score an exported file without a second
//! implementation of the fixed-point math.

use alloc::vec;
use alloc::vec::Vec;
use core::marker::PhantomData;

use crate::activation::Activation;
use crate::cell::{Cell, CellKind};
use crate::dense::dense_step;
use crate::error::Error;
use crate::file::{LayerReader, ModelFile};
use crate::gru::GruCell;
use crate::lstm::LstmCell;
use crate::num::Scalar;
use crate::shape::LayerShape;
use crate::w8::{self, LayerW8};

/// A cell's [`Cell::step`] for one number type and activation.
type StepFn<T> = fn(&[T], &[T], &[T], &[T], &[T], &mut [T], &mut [<T as Scalar>::Cell]);

/// One recurrent layer: its kind, its size and its weights.
struct DynRecurrent<'a, T: Scalar> {
    kind: CellKind,
    hidden: usize,
    weights: Weights<'a, T>,
}

/// A layer's weights: in the computation's own type with the cell's step,
/// or 8-bit ([`crate::w8`]).
enum Weights<'a, T: Scalar> {
    Full {
        step: StepFn<T>,
        w_ih: &'a [T],
        w_hh: &'a [T],
        bias: &'a [T],
    },
    W8(LayerW8<'a, T>),
}

/// The head's weights.
enum Head<'a, T> {
    Full { w: &'a [T], b: &'a [T] },
    W8(LayerW8<'a, T>),
}

/// A model of any shape a file describes, computing in `T` with activations `A`.
///
/// ```
/// use lstm_core::dynamic::DynModel;
/// use lstm_core::file::{Differencing, to_vec, AlignedBuf, Header, ModelFile, Scaling, Task, TrainingMode};
/// use lstm_core::{Exact, LayerShape, NumberFormat};
/// let header = Header {
///     format: NumberFormat::F32,
///     layers: heapless::Vec::from_slice(&[
///         LayerShape::Lstm { input: 2, hidden: 3 },
///         LayerShape::Dense { input: 3, output: 1 },
///     ]).unwrap(),
///     input_scaling: Scaling::Identity,
///     output_scaling: Scaling::Identity,
///     mode: TrainingMode::Stateful,
///     task: Task::Regression,
///     differencing: Differencing::None,
///     pool: 1,
/// };
/// let bytes = to_vec(&header, &vec![0.1; header.parameter_count().unwrap()]).unwrap();
/// let mut buf = AlignedBuf([0u8; 512]);
/// buf.0[..bytes.len()].copy_from_slice(&bytes);
/// let file = ModelFile::parse(&buf.0[..bytes.len()]).unwrap();
/// let model = DynModel::<f32, Exact>::from_file(&file).unwrap();
/// let mut state = model.zero_state();
/// let y = model.step(&mut state, &[1.0, 2.0]).unwrap();
/// assert_eq!(y.len(), 1);
/// ```
pub struct DynModel<'a, T: Scalar, A> {
    shapes: Vec<LayerShape>,
    layers: Vec<DynRecurrent<'a, T>>,
    head: Head<'a, T>,
    _activation: PhantomData<A>,
}

/// The state of a [`DynModel`] stream: `h` and `c` of every recurrent layer.
#[derive(Clone, Debug, PartialEq)]
pub struct DynState<T: Scalar> {
    /// `h` per recurrent layer.
    pub h: Vec<Vec<T>>,
    /// `c` per recurrent layer, in [`Scalar::Cell`]: `H` values for an LSTM
    /// layer, empty for a GRU layer (which has no cell state).
    pub c: Vec<Vec<T::Cell>>,
}

impl<'a, T: Scalar, A: Activation<T>> DynModel<'a, T, A> {
    /// Borrows the weights of a parsed file; checks the number format and alignment.
    ///
    /// `T` is the file's format or, for a file with 8-bit weights, the
    /// format it computes in: `DynModel<Q4_12, _>` runs both
    /// [`NumberFormat::Q4_12`](crate::NumberFormat::Q4_12) and
    /// [`NumberFormat::Q4_12W8`](crate::NumberFormat::Q4_12W8) files.
    pub fn from_file(file: &ModelFile<'a>) -> Result<Self, Error> {
        let format = file.header.format;
        if format != T::FORMAT && Some(format) != T::FORMAT_W8 {
            return Err(Error::FormatMismatch {
                expected: T::FORMAT,
                found: format,
            });
        }
        let shapes: Vec<LayerShape> = file.header.layers.iter().copied().collect();
        if w8::is_w8(format) {
            let mut bytes = file.weights;
            let mut layers = Vec::new();
            let mut head = None;
            for &shape in &shapes {
                let weights = w8::read_layer::<T>(shape, &mut bytes)?;
                match shape.cell() {
                    Some(kind) => layers.push(DynRecurrent {
                        kind,
                        hidden: shape.output(),
                        weights: Weights::W8(weights),
                    }),
                    None => head = Some(Head::W8(weights)),
                }
            }
            let head = head.ok_or(Error::Malformed("the last layer must be Dense"))?;
            return Ok(DynModel {
                shapes,
                layers,
                head,
                _activation: PhantomData,
            });
        }
        let mut reader = LayerReader::new(&file.header.layers, file.weights);
        let mut layers = Vec::new();
        let mut head = None;
        for &shape in &shapes {
            reader.expect_layer(shape)?;
            let (i, o) = (shape.input(), shape.output());
            let too_big = Error::Malformed("weights too large");
            match shape.cell() {
                Some(kind) => {
                    let g = kind.gates();
                    let (n_ih, n_hh) = (
                        g.checked_mul(o).and_then(|n| n.checked_mul(i)),
                        g.checked_mul(o).and_then(|n| n.checked_mul(o)),
                    );
                    let step: StepFn<T> = match kind {
                        CellKind::Lstm => LstmCell::step::<T, A>,
                        CellKind::Gru => GruCell::step::<T, A>,
                    };
                    layers.push(DynRecurrent {
                        kind,
                        hidden: o,
                        weights: Weights::Full {
                            step,
                            w_ih: reader.take_slice(n_ih.ok_or(too_big)?)?,
                            w_hh: reader.take_slice(n_hh.ok_or(too_big)?)?,
                            bias: reader.take_slice(4 * o)?,
                        },
                    })
                }
                None => {
                    head = Some(Head::Full {
                        w: reader.take_slice(o * i)?,
                        b: reader.take_slice(o)?,
                    })
                }
            }
        }
        let head = head.ok_or(Error::Malformed("the last layer must be Dense"))?;
        Ok(DynModel {
            shapes,
            layers,
            head,
            _activation: PhantomData,
        })
    }

    /// Inputs per step.
    pub fn input_size(&self) -> usize {
        self.shapes.first().map_or(0, |s| s.input())
    }

    /// Outputs per step.
    pub fn output_size(&self) -> usize {
        self.shapes.last().map_or(0, |s| s.output())
    }

    /// The layers' shapes.
    pub fn shapes(&self) -> &[LayerShape] {
        &self.shapes
    }

    /// The cell kind of every recurrent layer, first layer first.
    pub fn cells(&self) -> impl Iterator<Item = CellKind> + '_ {
        self.layers.iter().map(|l| l.kind)
    }

    /// All zeros (`c` empty for GRU layers).
    pub fn zero_state(&self) -> DynState<T> {
        let (h, c) = self
            .layers
            .iter()
            .map(|l| {
                let c = vec![T::CELL_ZERO; l.hidden * l.kind.cell_state_width()];
                (vec![T::ZERO; l.hidden], c)
            })
            .unzip();
        DynState { h, c }
    }

    /// One step: updates `state`, returns the head's outputs.
    pub fn step(&self, state: &mut DynState<T>, x: &[T]) -> Result<Vec<T>, Error> {
        if x.len() != self.input_size() {
            return Err(Error::LengthMismatch {
                expected: self.input_size(),
                found: x.len(),
            });
        }
        let shapes_fit = state.h.len() == self.layers.len()
            && state.c.len() == self.layers.len()
            && self
                .layers
                .iter()
                .zip(&state.h)
                .zip(&state.c)
                .all(|((l, h), c)| {
                    h.len() == l.hidden && c.len() == l.hidden * l.kind.cell_state_width()
                });
        if !shapes_fit {
            return Err(Error::LengthMismatch {
                expected: self.layers.len(),
                found: state.h.len(),
            });
        }
        let mut input: Vec<T> = x.to_vec();
        for ((layer, h), c) in self
            .layers
            .iter()
            .zip(state.h.iter_mut())
            .zip(state.c.iter_mut())
        {
            let h_prev = h.clone();
            match &layer.weights {
                Weights::Full {
                    step,
                    w_ih,
                    w_hh,
                    bias,
                } => step(w_ih, w_hh, bias, &input, &h_prev, h, c),
                Weights::W8(w) => w.step::<A>(layer.kind, &input, &h_prev, h, c),
            }
            input.clone_from(h);
        }
        let mut y = vec![T::ZERO; self.output_size()];
        match &self.head {
            Head::Full { w, b } => dense_step(w, b, &input, &mut y),
            Head::W8(w) => w.dense(&input, &mut y),
        }
        Ok(y)
    }
}
