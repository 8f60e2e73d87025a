//! PyTorch reference cases (`../shared/reference/*.json` for the LSTM,
//! `../shared/reference/gru/*.json` for the GRU; the format is in those
//! folders' `README.md`), read and checked with the trainer's types
//! ([`lstm_train::reference`], the one definition of the layout), and
//! prepared for `lstm-core`: file order, folded biases, a model file in any
//! number format. A case's cell is its `"cell"` key (`"gru"`; absent means
//! LSTM).
//!
//! Only the forward part of a case (parameters, initial state, inputs and the
//! expected forward values) is used here; `loss`, `grads` and `adam` are
//! the trainer's.

use std::ops::Deref;
use std::path::Path;

use lstm_core::file::{Differencing, Header, Scaling, Task, TrainingMode, MAX_LAYERS};
use lstm_core::{LayerShape, NumberFormat};
use lstm_train::export::core_cell;
use lstm_train::net::CellKind;

/// The trainer's reader of the reference JSON, re-exported.
pub use lstm_train::reference::{
    shared_dir_of, shared_reference_dir, RefDense, RefLayer, RefParams, ReferenceCase,
    REFERENCE_DIR_ENV,
};

/// One reference case, read and checked with the trainer's
/// [`ReferenceCase`] (its fields are reached through `Deref`), with what
/// `lstm-core` needs of it.
#[derive(Clone, Debug)]
pub struct Case {
    json: ReferenceCase,
}

impl Deref for Case {
    type Target = ReferenceCase;

    fn deref(&self) -> &ReferenceCase {
        &self.json
    }
}

fn max_abs<'a>(values: impl IntoIterator<Item = &'a f64>) -> f64 {
    values.into_iter().fold(0.0, |m, x| m.max(x.abs()))
}

fn max_abs3(v: &[Vec<Vec<f64>>]) -> f64 {
    max_abs(v.iter().flatten().flatten())
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

impl Case {
    /// Reads and checks a case file ([`lstm_train::reference::load_case`],
    /// [`ReferenceCase::validate`]).
    pub fn load(path: impl AsRef<Path>) -> Result<Case, String> {
        let path = path.as_ref();
        let json = lstm_train::reference::load_case(path).map_err(|e| e.to_string())?;
        json.validate()
            .map_err(|e| format!("bad reference case {}: {e}", path.display()))?;
        Ok(Case { json })
    }

    /// Layer shapes as a model file records them: the recurrent layers, then the head.
    pub fn layer_shapes(&self) -> Vec<LayerShape> {
        let h = self.hidden_size as u32;
        let mut shapes: Vec<LayerShape> = (0..self.num_layers)
            .map(|k| {
                let input = if k == 0 { self.input_size as u32 } else { h };
                LayerShape::recurrent(core_cell(self.cell), input, h)
            })
            .collect();
        shapes.push(LayerShape::Dense {
            input: h,
            output: self.output_size as u32,
        });
        shapes
    }

    /// Layer `k`'s bias in `lstm-core`'s layout (summed in `f64`, then
    /// rounded): LSTM `bias_ih + bias_hh` (`[4H]`); GRU `[b_ir + b_hr,
    /// b_iz + b_hz, b_in, b_hn]` (`[4H]`: `n`'s two biases stay apart, since
    /// `b_hn` is inside the reset product).
    pub fn folded_bias(&self, k: usize) -> Vec<f32> {
        let layer = &self.params.layers[k];
        let summed = layer.bias_ih.iter().zip(&layer.bias_hh).map(|(a, b)| a + b);
        match self.cell {
            CellKind::Lstm => summed.map(|v| v as f32).collect(),
            CellKind::Gru => {
                let h = self.hidden_size;
                summed
                    .take(2 * h)
                    .chain(layer.bias_ih[2 * h..].iter().copied())
                    .chain(layer.bias_hh[2 * h..].iter().copied())
                    .map(|v| v as f32)
                    .collect()
            }
        }
    }

    /// All weights and biases as `f32` in model-file order: per recurrent
    /// layer `weight_ih` `[G·H][IN]`, `weight_hh` `[G·H][H]`, bias `[4H]`
    /// ([`Case::folded_bias`]); then the head's weight `[OUT][H]` and bias `[OUT]`.
    pub fn file_weights(&self) -> Vec<f32> {
        let mut w = Vec::new();
        for (k, layer) in self.params.layers.iter().enumerate() {
            w.extend(layer.weight_ih.iter().flatten().map(|&x| x as f32));
            w.extend(layer.weight_hh.iter().flatten().map(|&x| x as f32));
            w.extend(self.folded_bias(k));
        }
        let dense = &self.params.dense;
        w.extend(dense.weight.iter().flatten().map(|&x| x as f32));
        w.extend(dense.bias.iter().map(|&x| x as f32));
        w
    }

    /// A regression header with identity scaling, stateful mode, for `format`.
    /// Fails if the case has more layers than a model file can hold.
    pub fn header(&self, format: NumberFormat) -> Result<Header<'static>, String> {
        let shapes = self.layer_shapes();
        if shapes.len() > MAX_LAYERS {
            return Err(format!(
                "{} layers (LSTM layers and head) exceed the model file's limit of {MAX_LAYERS}",
                shapes.len()
            ));
        }
        Ok(Header {
            format,
            layers: shapes.into_iter().collect(),
            input_scaling: Scaling::Identity,
            output_scaling: Scaling::Identity,
            mode: TrainingMode::Stateful,
            task: Task::Regression,
            differencing: Differencing::None,
            pool: 1,
        })
    }

    /// The case's weights as a model file in `format` (written with
    /// [`lstm_core::file::to_vec`]).
    pub fn to_model_file(&self, format: NumberFormat) -> Result<Vec<u8>, String> {
        let header = self.header(format)?;
        lstm_core::file::to_vec(&header, &self.file_weights())
            .map_err(|e| format!("writing the {format} model file failed: {e}"))
    }

    /// The largest magnitude of every value a computation on this case holds
    /// in the model's number type, by tensor: weights, initial state, inputs,
    /// the cell state at every step (from an `f64` forward pass), and the
    /// expected `h`/outputs. Used to decide whether a fixed-point format can
    /// represent the case.
    pub fn magnitudes(&self) -> Vec<(&'static str, f64)> {
        let weights = self.file_weights();
        let mut out = vec![
            (
                "weights",
                weights
                    .iter()
                    .fold(0.0f64, |m, &x| m.max(f64::from(x).abs())),
            ),
            ("h0", max_abs3(&self.h0)),
            ("c0", max_abs3(&self.c0)),
            ("inputs", max_abs3(&self.inputs)),
            ("cell state", self.max_abs_cell_state()),
            ("h_n", max_abs3(&self.h_n)),
            ("c_n", max_abs3(&self.c_n)),
            ("outputs", max_abs3(&self.outputs)),
        ];
        if !self.hidden.is_empty() {
            out.push(("hidden", max_abs3(&self.hidden)));
        }
        out
    }

    /// Largest `|c|` of any layer at any step of any batch element, from an
    /// `f64` forward pass over the case's parameters (0 for a GRU case).
    pub fn max_abs_cell_state(&self) -> f64 {
        if self.cell == CellKind::Gru {
            return 0.0;
        }
        let h = self.hidden_size;
        let mut max = max_abs3(&self.c0);
        for b in 0..self.batch {
            let mut hs: Vec<Vec<f64>> = self.h0.iter().map(|l| l[b].clone()).collect();
            let mut cs: Vec<Vec<f64>> = self.c0.iter().map(|l| l[b].clone()).collect();
            for x in &self.inputs[b] {
                let mut layer_in = x.clone();
                for (k, layer) in self.params.layers.iter().enumerate() {
                    let pre = |row: usize| -> f64 {
                        let wx: f64 = layer.weight_ih[row]
                            .iter()
                            .zip(&layer_in)
                            .map(|(w, v)| w * v)
                            .sum();
                        let wh: f64 = layer.weight_hh[row]
                            .iter()
                            .zip(&hs[k])
                            .map(|(w, v)| w * v)
                            .sum();
                        wx + wh + layer.bias_ih[row] + layer.bias_hh[row]
                    };
                    let mut h_new = vec![0.0; h];
                    for j in 0..h {
                        let i = sigmoid(pre(j));
                        let f = sigmoid(pre(h + j));
                        let g = pre(2 * h + j).tanh();
                        let o = sigmoid(pre(3 * h + j));
                        let c = f * cs[k][j] + i * g;
                        cs[k][j] = c;
                        h_new[j] = o * c.tanh();
                        max = max.max(c.abs());
                    }
                    hs[k] = h_new;
                    layer_in.clone_from(&hs[k]);
                }
            }
        }
        max
    }
}
