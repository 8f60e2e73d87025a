//! Parameters (and gradients, which have the same shape) in PyTorch layout.

use ndarray::{s, Array1, Array2, ArrayView1, ArrayView2, ArrayViewD, ArrayViewMutD, Zip};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::{CellKind, NetConfig, NetError, Scalar};

/// One of the four LSTM gates, in PyTorch's order i, f, g, o.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Gate {
    /// Input gate `i` (rows `0..H`).
    Input = 0,
    /// Forget gate `f` (rows `H..2H`).
    Forget = 1,
    /// Cell candidate `g` (rows `2H..3H`, tanh).
    Cell = 2,
    /// Output gate `o` (rows `3H..4H`).
    Output = 3,
}

impl Gate {
    /// All gates in storage order.
    pub const ALL: [Gate; 4] = [Gate::Input, Gate::Forget, Gate::Cell, Gate::Output];

    /// The row range of this gate in a `[4H]`-row tensor.
    pub fn rows(self, hidden: usize) -> std::ops::Range<usize> {
        let k = self as usize;
        k * hidden..(k + 1) * hidden
    }
}

/// Parameters of one recurrent layer, PyTorch layout: `G` gate blocks of
/// `H` rows each ([`CellKind::gates`]: LSTM i, f, g, o; GRU r, z, n). The
/// cell is implied by the shapes ([`LayerParams::cell`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound = "F: Scalar")]
pub struct LayerParams<F> {
    /// Input weights `[G·H][IN]`, rows in gate order.
    #[serde(with = "super::serde_array")]
    pub weight_ih: Array2<F>,
    /// Recurrent weights `[G·H][H]`, rows in gate order.
    #[serde(with = "super::serde_array")]
    pub weight_hh: Array2<F>,
    /// Input bias `[G·H]`.
    #[serde(with = "super::serde_array")]
    pub bias_ih: Array1<F>,
    /// Recurrent bias `[G·H]` (LSTM: the effective bias is `bias_ih +
    /// bias_hh`; GRU: `b_hn` is inside the reset product).
    #[serde(with = "super::serde_array")]
    pub bias_hh: Array1<F>,
}

impl<F: Scalar> LayerParams<F> {
    /// All-zero layer of `cell` with `input` inputs and `hidden` units.
    pub fn zeros(cell: CellKind, input: usize, hidden: usize) -> Self {
        let g = cell.gates() * hidden;
        LayerParams {
            weight_ih: Array2::zeros((g, input)),
            weight_hh: Array2::zeros((g, hidden)),
            bias_ih: Array1::zeros(g),
            bias_hh: Array1::zeros(g),
        }
    }

    /// The cell these parameters belong to, from their shapes (`weight_hh`
    /// has `G·H` rows); an LSTM for shapes that fit no cell.
    pub fn cell(&self) -> CellKind {
        let h = self.hidden_size().max(1);
        CellKind::from_gates(self.weight_hh.nrows() / h).unwrap_or_default()
    }

    /// Hidden size `H`.
    pub fn hidden_size(&self) -> usize {
        self.weight_hh.ncols()
    }

    /// Input size `IN`.
    pub fn input_size(&self) -> usize {
        self.weight_ih.ncols()
    }

    /// The bias as `lstm-core`'s model file and the trainer's forward pass
    /// use it, `[4H]`: LSTM `bias_ih + bias_hh`; GRU `[b_ir + b_hr,
    /// b_iz + b_hz, b_in, b_hn]` (the candidate's two biases stay apart,
    /// since `b_hn` is inside the reset product).
    pub fn bias(&self) -> Array1<F> {
        let sum = &self.bias_ih + &self.bias_hh;
        match self.cell() {
            CellKind::Lstm => sum,
            CellKind::Gru => {
                let h = self.hidden_size();
                let mut b = Array1::zeros(4 * h);
                b.slice_mut(s![..2 * h]).assign(&sum.slice(s![..2 * h]));
                b.slice_mut(s![2 * h..3 * h])
                    .assign(&self.bias_ih.slice(s![2 * h..]));
                b.slice_mut(s![3 * h..])
                    .assign(&self.bias_hh.slice(s![2 * h..]));
                b
            }
        }
    }

    /// Input weights of one gate, `[H][IN]`.
    pub fn gate_weight_ih(&self, gate: Gate) -> ArrayView2<'_, F> {
        self.weight_ih.slice(s![gate.rows(self.hidden_size()), ..])
    }

    /// Recurrent weights of one gate, `[H][H]`.
    pub fn gate_weight_hh(&self, gate: Gate) -> ArrayView2<'_, F> {
        self.weight_hh.slice(s![gate.rows(self.hidden_size()), ..])
    }

    /// Effective bias of one gate, `[H]` (`bias_ih + bias_hh`).
    pub fn gate_bias(&self, gate: Gate) -> Array1<F> {
        let r = gate.rows(self.hidden_size());
        &self.bias_ih.slice(s![r.clone()]) + &self.bias_hh.slice(s![r])
    }

    /// Effective bias of one gate as two views `(bias_ih, bias_hh)`.
    pub fn gate_bias_parts(&self, gate: Gate) -> (ArrayView1<'_, F>, ArrayView1<'_, F>) {
        let r = gate.rows(self.hidden_size());
        (self.bias_ih.slice(s![r.clone()]), self.bias_hh.slice(s![r]))
    }
}

/// Parameters of the Dense head, `torch.nn.Linear` layout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound = "F: Scalar")]
pub struct DenseParams<F> {
    /// Weights `[OUT][H]`.
    #[serde(with = "super::serde_array")]
    pub weight: Array2<F>,
    /// Bias `[OUT]`.
    #[serde(with = "super::serde_array")]
    pub bias: Array1<F>,
}

/// All parameters of a network: stacked LSTM layers (bottom first) and the
/// Dense head. Gradients and Adam moments use the same type ([`Grads`]).
///
/// Tensor names (used by [`Params::tensors`]) follow PyTorch's
/// `state_dict`: `lstm.weight_ih_l{k}` (`gru.…` for a GRU),
/// `lstm.weight_hh_l{k}`, `lstm.bias_ih_l{k}`, `lstm.bias_hh_l{k}`,
/// `dense.weight`, `dense.bias`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound = "F: Scalar")]
pub struct Params<F> {
    /// Recurrent layers, bottom first.
    pub layers: Vec<LayerParams<F>>,
    /// Dense head.
    pub dense: DenseParams<F>,
}

/// Gradients: same shapes and names as [`Params`].
pub type Grads<F> = Params<F>;

fn uniform<F: Scalar, R: Rng + ?Sized>(rng: &mut R, k: f64) -> F {
    F::of(rng.gen_range(-k..k))
}

impl<F: Scalar> Params<F> {
    /// All-zero parameters for `config`.
    pub fn zeros(config: &NetConfig) -> Result<Self, NetError> {
        config.validate()?;
        let layers = (0..config.num_layers())
            .map(|l| {
                LayerParams::zeros(
                    config.cell,
                    config.layer_input_size(l),
                    config.hidden_sizes[l],
                )
            })
            .collect();
        Ok(Params {
            layers,
            dense: DenseParams {
                weight: Array2::zeros((config.output_size, config.top_hidden())),
                bias: Array1::zeros(config.output_size),
            },
        })
    }

    /// Random initialisation like PyTorch: every recurrent weight and bias
    /// `U(-1/√H, 1/√H)` (`nn.LSTM` and `nn.GRU` alike), the head
    /// `U(-1/√H_top, 1/√H_top)` like `torch.nn.Linear`. With
    /// `config.unit_forget_bias` (LSTM only) the biases are instead set
    /// Keras-style: `bias_ih` forget rows 1, everything else 0.
    /// Values are drawn tensor by tensor in [`Params::tensors`] order,
    /// row-major, so a seed fixes them.
    pub fn init<R: Rng + ?Sized>(config: &NetConfig, rng: &mut R) -> Result<Self, NetError> {
        let mut p = Self::zeros(config)?;
        for layer in p.layers.iter_mut() {
            let h = layer.hidden_size();
            let k = 1.0 / (h as f64).sqrt();
            layer.weight_ih.mapv_inplace(|_| uniform(rng, k));
            layer.weight_hh.mapv_inplace(|_| uniform(rng, k));
            if config.unit_forget_bias {
                layer.bias_ih.fill(F::zero());
                layer.bias_hh.fill(F::zero());
                layer
                    .bias_ih
                    .slice_mut(s![Gate::Forget.rows(h)])
                    .fill(F::one());
            } else {
                layer.bias_ih.mapv_inplace(|_| uniform(rng, k));
                layer.bias_hh.mapv_inplace(|_| uniform(rng, k));
            }
        }
        let k = 1.0 / (config.top_hidden() as f64).sqrt();
        p.dense.weight.mapv_inplace(|_| uniform(rng, k));
        p.dense.bias.mapv_inplace(|_| uniform(rng, k));
        Ok(p)
    }

    /// Zeros with the same shapes as `self`.
    pub fn zeros_like(&self) -> Self {
        let mut z = self.clone();
        z.fill(F::zero());
        z
    }

    /// Sets every value to `v`.
    pub fn fill(&mut self, v: F) {
        for (_, mut t) in self.tensors_mut() {
            t.fill(v);
        }
    }

    /// Multiplies every value by `k`.
    pub fn scale(&mut self, k: F) {
        for (_, mut t) in self.tensors_mut() {
            t.mapv_inplace(|x| x * k);
        }
    }

    /// Checks that the shapes match `config`.
    pub fn check_config(&self, config: &NetConfig) -> Result<(), NetError> {
        config.validate()?;
        let reference = Self::zeros(config)?;
        self.check_same_shape(&reference)
    }

    /// Checks that `other` has the same tensors with the same shapes
    /// (error names the first mismatching tensor; `other` is the expected
    /// layout).
    pub fn check_same_shape(&self, other: &Self) -> Result<(), NetError> {
        if self.layers.len() != other.layers.len() {
            return Err(NetError::ShapeMismatch {
                what: "number of LSTM layers".into(),
                expected: vec![other.layers.len()],
                got: vec![self.layers.len()],
            });
        }
        for ((name, a), (_, b)) in self.tensors().into_iter().zip(other.tensors()) {
            if a.shape() != b.shape() {
                return Err(NetError::ShapeMismatch {
                    what: name,
                    expected: b.shape().to_vec(),
                    got: a.shape().to_vec(),
                });
            }
        }
        Ok(())
    }

    /// All tensors with their PyTorch-style names, in a fixed order
    /// (layer by layer `weight_ih, weight_hh, bias_ih, bias_hh`, then
    /// `dense.weight, dense.bias`).
    pub fn tensors(&self) -> Vec<(String, ArrayViewD<'_, F>)> {
        let mut v = Vec::with_capacity(4 * self.layers.len() + 2);
        for (l, layer) in self.layers.iter().enumerate() {
            let c = layer.cell();
            v.push((
                format!("{c}.weight_ih_l{l}"),
                layer.weight_ih.view().into_dyn(),
            ));
            v.push((
                format!("{c}.weight_hh_l{l}"),
                layer.weight_hh.view().into_dyn(),
            ));
            v.push((format!("{c}.bias_ih_l{l}"), layer.bias_ih.view().into_dyn()));
            v.push((format!("{c}.bias_hh_l{l}"), layer.bias_hh.view().into_dyn()));
        }
        v.push(("dense.weight".into(), self.dense.weight.view().into_dyn()));
        v.push(("dense.bias".into(), self.dense.bias.view().into_dyn()));
        v
    }

    /// Mutable version of [`Params::tensors`] (same order and names).
    pub fn tensors_mut(&mut self) -> Vec<(String, ArrayViewMutD<'_, F>)> {
        let mut v = Vec::with_capacity(4 * self.layers.len() + 2);
        for (l, layer) in self.layers.iter_mut().enumerate() {
            let c = layer.cell();
            v.push((
                format!("{c}.weight_ih_l{l}"),
                layer.weight_ih.view_mut().into_dyn(),
            ));
            v.push((
                format!("{c}.weight_hh_l{l}"),
                layer.weight_hh.view_mut().into_dyn(),
            ));
            v.push((
                format!("{c}.bias_ih_l{l}"),
                layer.bias_ih.view_mut().into_dyn(),
            ));
            v.push((
                format!("{c}.bias_hh_l{l}"),
                layer.bias_hh.view_mut().into_dyn(),
            ));
        }
        v.push((
            "dense.weight".into(),
            self.dense.weight.view_mut().into_dyn(),
        ));
        v.push(("dense.bias".into(), self.dense.bias.view_mut().into_dyn()));
        v
    }

    /// Calls `f(name, tensor)` for every tensor, in [`Params::tensors`] order.
    pub fn visit(&self, mut f: impl FnMut(&str, ArrayViewD<'_, F>)) {
        for (name, t) in self.tensors() {
            f(&name, t);
        }
    }

    /// Calls `f(name, tensor)` for every tensor mutably.
    pub fn visit_mut(&mut self, mut f: impl FnMut(&str, ArrayViewMutD<'_, F>)) {
        for (name, t) in self.tensors_mut() {
            f(&name, t);
        }
    }

    /// Total number of scalar parameters.
    pub fn num_params(&self) -> usize {
        self.tensors().iter().map(|(_, t)| t.len()).sum()
    }

    /// All values in one vector ([`Params::tensors`] order, row-major).
    pub fn flatten(&self) -> Vec<F> {
        let mut v = Vec::with_capacity(self.num_params());
        for (_, t) in self.tensors() {
            v.extend(t.iter().copied());
        }
        v
    }

    /// Overwrites all values from a vector laid out like [`Params::flatten`].
    pub fn assign_flat(&mut self, flat: &[F]) -> Result<(), NetError> {
        let n = self.num_params();
        if flat.len() != n {
            return Err(NetError::FlatLength {
                expected: n,
                got: flat.len(),
            });
        }
        let mut it = flat.iter();
        for (_, mut t) in self.tensors_mut() {
            for (dst, src) in t.iter_mut().zip(&mut it) {
                *dst = *src;
            }
        }
        Ok(())
    }

    /// Converts to another float type.
    pub fn cast<G: Scalar>(&self) -> Params<G> {
        let c2 = |a: &Array2<F>| a.mapv(|x| G::of(x.to_f64_lossless()));
        let c1 = |a: &Array1<F>| a.mapv(|x| G::of(x.to_f64_lossless()));
        Params {
            layers: self
                .layers
                .iter()
                .map(|l| LayerParams {
                    weight_ih: c2(&l.weight_ih),
                    weight_hh: c2(&l.weight_hh),
                    bias_ih: c1(&l.bias_ih),
                    bias_hh: c1(&l.bias_hh),
                })
                .collect(),
            dense: DenseParams {
                weight: c2(&self.dense.weight),
                bias: c1(&self.dense.bias),
            },
        }
    }

    /// Sum of squares of all values (e.g. the squared gradient norm).
    pub fn sum_squares(&self) -> F {
        let mut acc = F::zero();
        for (_, t) in self.tensors() {
            acc = t.iter().fold(acc, |a, &x| a + x * x);
        }
        acc
    }

    /// `self += k * other` for every tensor (shapes must match).
    pub fn add_scaled(&mut self, k: F, other: &Self) -> Result<(), NetError> {
        other.check_same_shape(self)?;
        for ((_, mut a), (_, b)) in self.tensors_mut().into_iter().zip(other.tensors()) {
            Zip::from(&mut a).and(&b).for_each(|a, &b| *a = *a + k * b);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn init_ranges_names_and_flat_round_trip() {
        let mut cfg = NetConfig::new(3, 4, 2, 2);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let p = Params::<f32>::init(&cfg, &mut rng).expect("init");
        let k = 0.5f32; // 1/sqrt(4)
        assert!(p.flatten().iter().all(|v| v.abs() <= k));
        let names: Vec<String> = p.tensors().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names[0], "lstm.weight_ih_l0");
        assert_eq!(names[7], "lstm.bias_hh_l1");
        assert_eq!(names[9], "dense.bias");
        assert_eq!(
            p.num_params(),
            (16 * 3 + 16 * 4 + 32) + (16 * 4 + 16 * 4 + 32) + 8 + 2
        );
        let mut q = p.zeros_like();
        q.assign_flat(&p.flatten()).expect("flat");
        assert_eq!(p, q);
        assert!(q.assign_flat(&[0.0]).is_err());
        p.check_config(&cfg).expect("shapes");
        cfg.unit_forget_bias = true;
        let u = Params::<f64>::init(&cfg, &mut rng).expect("init");
        assert_eq!(
            u.layers[0].gate_bias(Gate::Forget),
            Array1::from_elem(4, 1.0)
        );
        assert_eq!(u.layers[1].gate_bias(Gate::Input), Array1::<f64>::zeros(4));
        assert_eq!(u.layers[1].gate_weight_hh(Gate::Output).shape(), &[4, 4]);
        assert!(p.check_config(&NetConfig::new(3, 5, 2, 2)).is_err());
    }
}
