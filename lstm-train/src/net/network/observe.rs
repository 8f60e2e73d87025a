//! A hook into the forward pass: what each layer computed at each step, for
//! statistics (the quantizer's calibration records ranges with it).

/// What one layer computed at one step of an observed forward pass
/// ([`super::Network::forward_observed`], evaluation mode). All blocks are
/// row-major with one row per sample of the batch; only the rows of the
/// samples still running at step `t` (`t < length`) are meaningful, see
/// [`LayerStep::rows`].
#[derive(Debug, Clone, Copy)]
pub struct LayerStep<'a, F> {
    /// Layer index, bottom first.
    pub layer: usize,
    /// Time step.
    pub t: usize,
    /// Length of each sample of the batch.
    pub lengths: &'a [usize],
    /// Input width of the layer (`IN` for layer 0, else the hidden size of
    /// the layer below).
    pub input_size: usize,
    /// Units `H`.
    pub hidden: usize,
    /// `[B][input_size]`: the layer's input at step `t`.
    pub input: &'a [F],
    /// `[B][G·H]`: the gate pre-activations (the arguments of σ and tanh,
    /// biases included), in the cell's gate order (LSTM i, f, g, o; GRU
    /// r, z, n).
    pub pre: &'a [F],
    /// `[B][H]`: `h_t`.
    pub h: &'a [F],
    /// `[B][H]`: the cell state `c_t` (`None` for a GRU).
    pub c: Option<&'a [F]>,
}

impl<'a, F> LayerStep<'a, F> {
    /// The samples still running at this step (their rows are this step's
    /// values; the others keep their final state).
    pub fn rows(&self) -> impl Iterator<Item = usize> + 'a {
        let t = self.t;
        self.lengths
            .iter()
            .enumerate()
            .filter(move |&(_, &len)| t < len)
            .map(|(b, _)| b)
    }

    /// Input of sample `b`.
    pub fn input_row(&self, b: usize) -> &'a [F] {
        &self.input[b * self.input_size..(b + 1) * self.input_size]
    }

    /// Gate pre-activations of sample `b`.
    pub fn pre_row(&self, b: usize) -> &'a [F] {
        let g = self.pre.len() / self.lengths.len().max(1);
        &self.pre[b * g..(b + 1) * g]
    }

    /// `h_t` of sample `b`.
    pub fn h_row(&self, b: usize) -> &'a [F] {
        &self.h[b * self.hidden..(b + 1) * self.hidden]
    }

    /// `c_t` of sample `b` (`None` for a GRU).
    pub fn c_row(&self, b: usize) -> Option<&'a [F]> {
        self.c.map(|c| &c[b * self.hidden..(b + 1) * self.hidden])
    }
}

/// Receives every layer's steps of an observed forward pass, layer by
/// layer: all steps of layer 0, then all of layer 1, and so on.
pub trait StepObserver<F> {
    /// Called once per layer and step.
    fn layer_step(&mut self, step: &LayerStep<'_, F>);
}
