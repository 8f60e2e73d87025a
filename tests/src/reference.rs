//! PyTorch reference cases (`../shared/reference/*.json` for the LSTM,
//! `../shared/reference/gru/*.json` for the GRU; the format is in those
//! folders' `README.md`): reading one case, checking its shapes, and
//! preparing its weights for `lstm-core` (file order, folded biases, a model
//! file in any number format). A case's cell is its `"cell"` key (`"gru"`;
//! absent means LSTM).
//!
//! Only the forward part of a case (parameters, initial state, inputs and the
//! expected forward values) is read; other keys (`loss`, `grads`, `adam`) are
//! ignored here.

use std::path::{Path, PathBuf};

use lstm_core::file::{Differencing, Header, Scaling, Task, TrainingMode, MAX_LAYERS};
use lstm_core::{CellKind, LayerShape, NumberFormat};
use serde::Deserialize;

/// Environment variable naming an extra folder of `*.json` cases.
pub const REFERENCE_DIR_ENV: &str = "LSTM_REFERENCE_DIR";

/// The shared reference folder, `<workspace>/../shared/reference`.
pub fn shared_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference")
}

/// The shared GRU reference folder, `<workspace>/../shared/reference/gru`.
pub fn shared_gru_dir() -> PathBuf {
    shared_dir().join("gru")
}

/// The trainer's reader of the (LSTM) reference JSON, re-exported.
pub use lstm_train::reference::{RefDense, RefLayer, RefParams};

/// One recurrent layer's parameters as the JSON holds them (LSTM: `4H`
/// rows in order i, f, g, o; GRU: `3H` rows in order r, z, n). Read here
/// rather than with the trainer's types so that GRU cases do not depend on
/// the trainer's reader.
#[derive(Clone, Debug, Deserialize)]
pub struct CaseLayer {
    /// `[G·H][IN]`.
    pub weight_ih: Vec<Vec<f64>>,
    /// `[G·H][H]`.
    pub weight_hh: Vec<Vec<f64>>,
    /// `[G·H]`.
    pub bias_ih: Vec<f64>,
    /// `[G·H]`.
    pub bias_hh: Vec<f64>,
}

/// The Dense head's parameters.
#[derive(Clone, Debug, Deserialize)]
pub struct CaseDense {
    /// `[OUT][H]`.
    pub weight: Vec<Vec<f64>>,
    /// `[OUT]`.
    pub bias: Vec<f64>,
}

/// All parameters of a case.
#[derive(Clone, Debug, Deserialize)]
pub struct CaseParams {
    /// Recurrent layers, bottom first.
    pub layers: Vec<CaseLayer>,
    /// The head.
    pub dense: CaseDense,
}

/// The `"cell"` key: absent or `"lstm"` is an LSTM case, `"gru"` a GRU case.
fn cell_kind<'de, D: serde::Deserializer<'de>>(d: D) -> Result<CellKind, D::Error> {
    let name: Option<String> = Option::deserialize(d)?;
    match name.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("lstm") => Ok(CellKind::Lstm),
        Some("gru") => Ok(CellKind::Gru),
        Some(other) => Err(serde::de::Error::custom(format!(
            "unknown cell `{other}` (expected \"lstm\" or \"gru\")"
        ))),
    }
}

fn lstm_kind() -> CellKind {
    CellKind::Lstm
}

/// The forward part of one reference case.
#[derive(Clone, Debug, Deserialize)]
pub struct Case {
    /// Name given by the generator, if any.
    #[serde(default)]
    pub name: Option<String>,
    /// The recurrent cell (the `"cell"` key; absent means LSTM).
    #[serde(default = "lstm_kind", deserialize_with = "cell_kind")]
    pub cell: CellKind,
    /// `IN`.
    pub input_size: usize,
    /// `H`.
    pub hidden_size: usize,
    /// `L`.
    pub num_layers: usize,
    /// `OUT`.
    pub output_size: usize,
    /// `B`.
    pub batch: usize,
    /// `T`.
    pub steps: usize,
    /// Weights and biases.
    pub params: CaseParams,
    /// `[L][B][H]`.
    pub h0: Vec<Vec<Vec<f64>>>,
    /// `[L][B][H]` for an LSTM case; absent (empty) for a GRU case.
    #[serde(default)]
    pub c0: Vec<Vec<Vec<f64>>>,
    /// `[B][T][IN]`.
    pub inputs: Vec<Vec<Vec<f64>>>,
    /// `[B][T][H]`, the last layer's `h_t` (optional).
    #[serde(default)]
    pub hidden: Option<Vec<Vec<Vec<f64>>>>,
    /// `[L][B][H]`.
    pub h_n: Vec<Vec<Vec<f64>>>,
    /// `[L][B][H]` for an LSTM case; absent (empty) for a GRU case.
    #[serde(default)]
    pub c_n: Vec<Vec<Vec<f64>>>,
    /// `[B][T][OUT]`.
    pub outputs: Vec<Vec<Vec<f64>>>,
}

fn check_shape1(what: &str, v: &[f64], n: usize) -> Result<(), String> {
    if v.len() != n {
        return Err(format!("{what} has length {}, expected {n}", v.len()));
    }
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(format!("{what}[{i}] is not finite"));
    }
    Ok(())
}

fn check_shape2(what: &str, v: &[Vec<f64>], rows: usize, cols: usize) -> Result<(), String> {
    if v.len() != rows {
        return Err(format!("{what} has {} rows, expected {rows}", v.len()));
    }
    v.iter()
        .enumerate()
        .try_for_each(|(i, row)| check_shape1(&format!("{what}[{i}]"), row, cols))
}

fn check_shape3(what: &str, v: &[Vec<Vec<f64>>], dims: [usize; 3]) -> Result<(), String> {
    if v.len() != dims[0] {
        return Err(format!(
            "{what} has length {}, expected {}",
            v.len(),
            dims[0]
        ));
    }
    v.iter()
        .enumerate()
        .try_for_each(|(i, m)| check_shape2(&format!("{what}[{i}]"), m, dims[1], dims[2]))
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
    /// Reads and checks a case file.
    pub fn load(path: impl AsRef<Path>) -> Result<Case, String> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let case: Case = serde_json::from_str(&text)
            .map_err(|e| format!("invalid reference JSON {}: {e}", path.display()))?;
        case.validate()
            .map_err(|e| format!("bad reference case {}: {e}", path.display()))?;
        Ok(case)
    }

    /// Checks every array against the declared dimensions and that all values are finite.
    pub fn validate(&self) -> Result<(), String> {
        let (i, h, l, o, b, t) = (
            self.input_size,
            self.hidden_size,
            self.num_layers,
            self.output_size,
            self.batch,
            self.steps,
        );
        if [i, h, l, o, b, t].contains(&0) {
            return Err("a dimension is zero".into());
        }
        if self.params.layers.len() != l {
            return Err(format!(
                "params.layers has {} layers, num_layers is {l}",
                self.params.layers.len()
            ));
        }
        let g = self.cell.gates();
        for (k, layer) in self.params.layers.iter().enumerate() {
            let input = if k == 0 { i } else { h };
            let p = format!("params.layers[{k}]");
            check_shape2(&format!("{p}.weight_ih"), &layer.weight_ih, g * h, input)?;
            check_shape2(&format!("{p}.weight_hh"), &layer.weight_hh, g * h, h)?;
            check_shape1(&format!("{p}.bias_ih"), &layer.bias_ih, g * h)?;
            check_shape1(&format!("{p}.bias_hh"), &layer.bias_hh, g * h)?;
        }
        check_shape2("params.dense.weight", &self.params.dense.weight, o, h)?;
        check_shape1("params.dense.bias", &self.params.dense.bias, o)?;
        check_shape3("h0", &self.h0, [l, b, h])?;
        // A GRU has no cell state: `c0` / `c_n` absent (or of width 0).
        let c_width = h * self.cell.cell_state_width();
        let c_layers = if c_width == 0 && self.c0.is_empty() {
            0
        } else {
            l
        };
        check_shape3("c0", &self.c0, [c_layers, b, c_width])?;
        check_shape3("inputs", &self.inputs, [b, t, i])?;
        if let Some(hidden) = &self.hidden {
            check_shape3("hidden", hidden, [b, t, h])?;
        }
        check_shape3("h_n", &self.h_n, [l, b, h])?;
        let c_layers = if c_width == 0 && self.c_n.is_empty() {
            0
        } else {
            l
        };
        check_shape3("c_n", &self.c_n, [c_layers, b, c_width])?;
        check_shape3("outputs", &self.outputs, [b, t, o])?;
        Ok(())
    }

    /// Layer shapes as a model file records them: the recurrent layers, then the head.
    pub fn layer_shapes(&self) -> Vec<LayerShape> {
        let h = self.hidden_size as u32;
        let mut shapes: Vec<LayerShape> = (0..self.num_layers)
            .map(|k| {
                let input = if k == 0 { self.input_size as u32 } else { h };
                LayerShape::recurrent(self.cell, input, h)
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
        if let Some(hidden) = &self.hidden {
            out.push(("hidden", max_abs3(hidden)));
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
