//! Streaming prediction, one sample at a time, in the two modes a model can
//! have been trained in.
//!
//! | mode | type | cost per sample | RAM per stream |
//! |---|---|---|---|
//! | carried state (Keras `stateful=True`) | [`Stream`] | one model step | the model's state (`2·H` values per LSTM layer) |
//! | window of `W` from zero state (Keras default) | [`WindowedStream`] | `W` model steps | `W·IN` values + one state, on the stack during the step |
//!
//! A model trained on fixed windows from a zero state is a different function
//! from one that carries state forever; run it in the mode it was trained in
//! (the model file records which, see [`TrainingMode`](crate::file::TrainingMode)).

use core::marker::PhantomData;

use heapless::HistoryBuffer;

use crate::layer::Layer;
use crate::num::Scalar;

/// A stream that carries the model's state from sample to sample.
///
/// ```
/// use lstm_core::{Dense, DenseWeights, Exact, Layer, Lstm, LstmWeights, Stack, Stream};
/// static W_IH: [[[f32; 1]; 2]; 4] = [[[0.5]; 2]; 4];
/// static W_HH: [[[f32; 2]; 2]; 4] = [[[0.1; 2]; 2]; 4];
/// static BIAS: [[f32; 2]; 4] = [[0.0; 2]; 4];
/// static DW: [[f32; 2]; 1] = [[1.0, 1.0]];
/// static DB: [f32; 1] = [0.0];
/// let model = Stack::<_, _, 2>::new(
///     Lstm::<f32, Exact, 1, 2>::new(LstmWeights { w_ih: &W_IH, w_hh: &W_HH, bias: &BIAS }),
///     Dense::new(DenseWeights { w: &DW, b: &DB }),
/// );
/// let mut stream = Stream::new(&model);
/// let first = stream.step(&[1.0]);
/// let saved = stream.state();
/// let second = stream.step(&[1.0]);
/// assert_ne!(first, second); // the state carried over
/// stream.set_state(saved);
/// assert_eq!(stream.step(&[1.0]), second); // restored
/// stream.reset();
/// assert_eq!(stream.step(&[1.0]), first);
/// ```
pub struct Stream<'m, M, T, const IN: usize, const OUT: usize>
where
    T: Scalar,
    M: Layer<T, IN, OUT>,
{
    model: &'m M,
    state: M::State,
    _t: PhantomData<T>,
}

impl<'m, M, T, const IN: usize, const OUT: usize> Stream<'m, M, T, IN, OUT>
where
    T: Scalar,
    M: Layer<T, IN, OUT>,
{
    /// A stream over `model`, starting from the zero state.
    pub fn new(model: &'m M) -> Self {
        Stream {
            model,
            state: model.zero_state(),
            _t: PhantomData,
        }
    }

    /// Feeds one sample, returns the model's output for it.
    #[inline]
    pub fn step(&mut self, x: &[T; IN]) -> [T; OUT] {
        self.model.step(&mut self.state, x)
    }

    /// Back to the zero state.
    pub fn reset(&mut self) {
        self.state = self.model.zero_state();
    }

    /// A copy of the current state (to save and restore later).
    pub fn state(&self) -> M::State {
        self.state
    }

    /// Replaces the current state.
    pub fn set_state(&mut self, state: M::State) {
        self.state = state;
    }
}

/// A stream for models trained on windows of `W` samples from a zero state:
/// keeps the last `W` samples in a [`HistoryBuffer`] and, for every new
/// sample, re-runs the window from the zero state, so it predicts exactly what
/// the model predicted in training.
///
/// Until `W` samples have arrived it runs over the samples it has
/// ([`WindowedStream::is_warm`] says when the window is full).
///
/// ```
/// use lstm_core::{Dense, DenseWeights, Exact, Layer, Lstm, LstmWeights, Stack, Stream, WindowedStream};
/// static W_IH: [[[f32; 1]; 2]; 4] = [[[0.5]; 2]; 4];
/// static W_HH: [[[f32; 2]; 2]; 4] = [[[0.1; 2]; 2]; 4];
/// static BIAS: [[f32; 2]; 4] = [[0.0; 2]; 4];
/// static DW: [[f32; 2]; 1] = [[1.0, 1.0]];
/// static DB: [f32; 1] = [0.0];
/// let model = Stack::<_, _, 2>::new(
///     Lstm::<f32, Exact, 1, 2>::new(LstmWeights { w_ih: &W_IH, w_hh: &W_HH, bias: &BIAS }),
///     Dense::new(DenseWeights { w: &DW, b: &DB }),
/// );
/// let mut windowed = WindowedStream::<_, f32, 1, 1, 3>::new(&model);
/// for x in [0.1, 0.2, 0.3, 0.4] {
///     windowed.step(&[x]);
/// }
/// // The same as running the last 3 samples from a zero state.
/// let mut fresh = Stream::new(&model);
/// fresh.step(&[0.2]);
/// fresh.step(&[0.3]);
/// assert_eq!(windowed.step(&[0.5]), { fresh.reset(); fresh.step(&[0.3]); fresh.step(&[0.4]); fresh.step(&[0.5]) });
/// ```
pub struct WindowedStream<'m, M, T, const IN: usize, const OUT: usize, const W: usize>
where
    T: Scalar,
    M: Layer<T, IN, OUT>,
{
    model: &'m M,
    window: HistoryBuffer<[T; IN], W>,
}

impl<'m, M, T, const IN: usize, const OUT: usize, const W: usize>
    WindowedStream<'m, M, T, IN, OUT, W>
where
    T: Scalar,
    M: Layer<T, IN, OUT>,
{
    /// An empty window over `model`.
    pub fn new(model: &'m M) -> Self {
        WindowedStream {
            model,
            window: HistoryBuffer::new(),
        }
    }

    /// Adds one sample and returns the model's output over the last `W` samples.
    pub fn step(&mut self, x: &[T; IN]) -> [T; OUT] {
        self.window.write(*x);
        let mut state = self.model.zero_state();
        let mut y = [T::ZERO; OUT];
        for sample in self.window.oldest_ordered() {
            y = self.model.step(&mut state, sample);
        }
        y
    }

    /// Whether `W` samples have arrived since the last reset.
    pub fn is_warm(&self) -> bool {
        self.window.len() == W
    }

    /// Forgets all samples.
    pub fn reset(&mut self) {
        self.window.clear();
    }
}
