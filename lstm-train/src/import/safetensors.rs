//! PyTorch `state_dict`s saved as `.safetensors`
//! (`safetensors.torch.save_file(model.state_dict(), …)`), read with the
//! `safetensors` crate.
//!
//! A `state_dict` holds tensors, not the architecture, so the network is
//! inferred from the tensors' names and shapes, without relying on the
//! module names:
//!
//! * the recurrent module is the one prefix under which
//!   `weight_ih_l{k}`, `weight_hh_l{k}` (and, unless `bias=False`,
//!   `bias_ih_l{k}`, `bias_hh_l{k}`) are found for `k = 0 … L-1`
//!   (`nn.LSTM` / `nn.GRU` with `num_layers = L`);
//! * the cell comes from `weight_hh_l{k}`'s shape `[G·H][H]`: `G = 4` is an
//!   LSTM (gates i, f, g, o), `G = 3` a GRU (r, z, n) — PyTorch's own layout,
//!   kept as it is;
//! * the head is the one remaining 2-D `weight` `[OUT][H]` whose columns
//!   match the last layer's hidden size, with its `bias` `[OUT]` (zeros
//!   without one), applied to the last step's `h`.
//!
//! What the tensors cannot tell comes from the caller: the head's
//! activation (the argument) and where the head is applied (the last step;
//! a head at every step is the same tensors, see [`read_safetensors`]).
//!
//! Refused, naming the tensor: `_reverse` tensors (`bidirectional=True`),
//! `weight_hr_l{k}` (`proj_size > 0`), any tensor that belongs to neither the
//! recurrent module nor the one head (a second `nn.Linear`, a norm layer,
//! …), two candidate heads, no head, shapes that do not fit together.
//! Values: `F32` as they are; `F16` and `BF16` converted to `f32`, which is
//! exact (every half and bfloat16 value is an `f32`); `F64` only when every
//! value is exactly an `f32`; other types and non-finite values are errors.

use std::collections::BTreeMap;
use std::path::Path;

use ::safetensors::{Dtype, SafeTensors};
use ndarray::{Array1, Array2};

use super::{HeadActivation, ImportError, ImportedNet};
use crate::net::{CellKind, DenseParams, HeadMode, LayerParams, NetConfig, Params};

/// The format name in [`ImportError::Corrupt`].
const FORMAT: &str = "safetensors (.safetensors)";

/// Reads a PyTorch `state_dict` saved as `.safetensors` (one `nn.LSTM` or
/// `nn.GRU` with `num_layers` layers, `batch_first` either way, then one
/// `nn.Linear` on the last step's `h`), with `head_activation` for the
/// head (the tensors do not record it; [`HeadActivation::Sigmoid`] needs a
/// single output). The network's head is
/// [`HeadMode::LastStep`]; a model whose `nn.Linear` runs at every step
/// has the same tensors, so a caller that knows it sets
/// `net.head = HeadMode::EveryStep`. `seq_len` is `None` (a `state_dict`
/// records no input shape).
///
/// Errors: [`ImportError::Io`] if the file cannot be read;
/// [`ImportError::Corrupt`] for a damaged file, missing tensors, shapes
/// that do not fit together, non-finite values; [`ImportError::Unsupported`]
/// (naming the tensor) for what the trainer's network cannot hold exactly
/// (bidirectional, `proj_size`, extra modules, non-float types).
pub fn read_safetensors(
    path: &Path,
    head_activation: HeadActivation,
) -> Result<ImportedNet, ImportError> {
    let bytes = crate::io::read(path)?;
    from_bytes(path, &bytes, head_activation)
}

/// [`read_safetensors`] on the file's bytes (`path` names it in errors).
pub(crate) fn from_bytes(
    path: &Path,
    bytes: &[u8],
    head_activation: HeadActivation,
) -> Result<ImportedNet, ImportError> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| corrupt(path, e.to_string()))?;
    let tensors: BTreeMap<String, Tensor<'_>> = st
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let t = Tensor {
                dtype: view.dtype(),
                shape: view.shape().to_vec(),
                data: view.data(),
            };
            (name, t)
        })
        .collect();
    Reader { path, tensors }.read(head_activation)
}

/// One tensor of the file: type, shape and its little-endian bytes.
struct Tensor<'a> {
    dtype: Dtype,
    shape: Vec<usize>,
    data: &'a [u8],
}

/// The four tensors of a recurrent layer, by suffix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Part {
    WeightIh,
    WeightHh,
    BiasIh,
    BiasHh,
}

impl Part {
    const ALL: [Part; 4] = [Part::WeightIh, Part::WeightHh, Part::BiasIh, Part::BiasHh];

    fn stem(self) -> &'static str {
        match self {
            Part::WeightIh => "weight_ih",
            Part::WeightHh => "weight_hh",
            Part::BiasIh => "bias_ih",
            Part::BiasHh => "bias_hh",
        }
    }
}

/// What a tensor's last name segment says about it.
enum Role {
    /// `{prefix}{part}_l{layer}`.
    Recurrent {
        prefix: String,
        part: Part,
        layer: usize,
    },
    /// `{…}{part}_l{k}_reverse`: the backward direction of a bidirectional
    /// module.
    Reverse,
    /// `{…}weight_hr_l{k}`: the projection of `proj_size > 0`.
    Projection,
    /// Anything else (the head, or a module the importer does not map).
    Other,
}

/// Splits `name` into the module prefix (with its trailing `.`, or empty)
/// and the last segment.
fn split_last(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(i) => (&name[..=i], &name[i + 1..]),
        None => ("", name),
    }
}

/// The layer number of `l{k}` (canonical decimal digits only).
fn layer_number(s: &str) -> Option<usize> {
    let digits = s.strip_prefix('l')?;
    let k: usize = digits.parse().ok()?;
    (k.to_string() == digits).then_some(k)
}

fn role(name: &str) -> Role {
    let (prefix, last) = split_last(name);
    let (stem, is_reverse) = match last.strip_suffix("_reverse") {
        Some(s) => (s, true),
        None => (last, false),
    };
    let Some((stem, layer)) = stem.rsplit_once('_') else {
        return Role::Other;
    };
    let Some(layer) = layer_number(layer) else {
        return Role::Other;
    };
    if stem == "weight_hr" {
        return Role::Projection;
    }
    let Some(part) = Part::ALL.into_iter().find(|p| p.stem() == stem) else {
        return Role::Other;
    };
    if is_reverse {
        return Role::Reverse;
    }
    Role::Recurrent {
        prefix: prefix.to_string(),
        part,
        layer,
    }
}

fn corrupt(path: &Path, reason: impl Into<String>) -> ImportError {
    ImportError::corrupt(path, FORMAT, reason)
}

struct Reader<'p, 'a> {
    path: &'p Path,
    tensors: BTreeMap<String, Tensor<'a>>,
}

impl Reader<'_, '_> {
    fn read(&self, head_activation: HeadActivation) -> Result<ImportedNet, ImportError> {
        // Tensors the importer refuses outright, before anything else, so
        // that the error names what the model has rather than a symptom.
        for name in self.tensors.keys() {
            match role(name) {
                Role::Reverse => {
                    return Err(ImportError::unsupported(
                        self.path,
                        format!("tensor '{name}'"),
                        "bidirectional recurrent layer (bidirectional=True); only the forward \
                         direction is supported",
                    ))
                }
                Role::Projection => {
                    return Err(ImportError::unsupported(
                        self.path,
                        format!("tensor '{name}'"),
                        "LSTM with a projection (proj_size > 0)",
                    ))
                }
                Role::Recurrent { .. } | Role::Other => {}
            }
        }

        // The recurrent module: one prefix, layers 0..L.
        let mut prefixes: BTreeMap<String, BTreeMap<(usize, Part), &str>> = BTreeMap::new();
        for name in self.tensors.keys() {
            if let Role::Recurrent {
                prefix,
                part,
                layer,
            } = role(name)
            {
                prefixes
                    .entry(prefix)
                    .or_default()
                    .insert((layer, part), name.as_str());
            }
        }
        let mut modules = prefixes.iter();
        let Some((prefix, parts)) = modules.next() else {
            return Err(ImportError::unsupported(
                self.path,
                "state_dict",
                "no recurrent layer: no tensor named like nn.LSTM's or nn.GRU's \
                 `weight_ih_l0` / `weight_hh_l0`",
            ));
        };
        if let Some((other, _)) = modules.next() {
            return Err(ImportError::unsupported(
                self.path,
                format!(
                    "modules '{}' and '{}'",
                    module_name(prefix),
                    module_name(other)
                ),
                "two recurrent modules; one nn.LSTM or nn.GRU (with num_layers) is supported",
            ));
        }
        let num_layers = parts.keys().map(|&(k, _)| k).max().map_or(0, |k| k + 1);
        let name_of = |k: usize, part: Part| format!("{prefix}{}_l{k}", part.stem());
        let has_bias = parts
            .keys()
            .any(|&(_, p)| matches!(p, Part::BiasIh | Part::BiasHh));

        let mut cell: Option<CellKind> = None;
        let mut layers = Vec::with_capacity(num_layers);
        let mut input_size = 0;
        let mut hidden_sizes = Vec::with_capacity(num_layers);
        for k in 0..num_layers {
            for part in Part::ALL {
                let needed = matches!(part, Part::WeightIh | Part::WeightHh) || has_bias;
                if needed && !parts.contains_key(&(k, part)) {
                    return Err(corrupt(
                        self.path,
                        format!(
                            "tensor '{}' is missing ({num_layers} recurrent layers{})",
                            name_of(k, part),
                            if has_bias { " with biases" } else { "" }
                        ),
                    ));
                }
            }
            let whh_name = name_of(k, Part::WeightHh);
            let whh = self.matrix(&whh_name)?;
            let (rows, h) = whh.dim();
            let g = rows.checked_div(h).and_then(CellKind::from_gates);
            let this_cell = match g {
                Some(c) if rows == c.gates() * h => c,
                _ => {
                    return Err(corrupt(
                        self.path,
                        format!(
                            "tensor '{whh_name}' has shape [{rows}, {h}]: a recurrent weight is \
                             [4·H, H] (LSTM) or [3·H, H] (GRU) with H > 0"
                        ),
                    ))
                }
            };
            match cell {
                None => cell = Some(this_cell),
                Some(c) if c != this_cell => {
                    return Err(corrupt(
                        self.path,
                        format!(
                            "tensor '{whh_name}' is a {this_cell} layer's ([{rows}, {h}]) but \
                             layer 0 is a {c}"
                        ),
                    ))
                }
                Some(_) => {}
            }
            let gh = rows;
            let wih_name = name_of(k, Part::WeightIh);
            let wih = self.matrix(&wih_name)?;
            let expected_in = if k == 0 {
                wih.ncols()
            } else {
                hidden_sizes[k - 1]
            };
            if wih.nrows() != gh || wih.ncols() != expected_in || expected_in == 0 {
                return Err(corrupt(
                    self.path,
                    format!(
                        "tensor '{wih_name}' has shape [{}, {}], expected [{gh}, {}]",
                        wih.nrows(),
                        wih.ncols(),
                        if k == 0 {
                            "IN > 0".to_string()
                        } else {
                            expected_in.to_string()
                        }
                    ),
                ));
            }
            if k == 0 {
                input_size = expected_in;
            }
            let (bias_ih, bias_hh) = if has_bias {
                (
                    self.vector(&name_of(k, Part::BiasIh), gh)?,
                    self.vector(&name_of(k, Part::BiasHh), gh)?,
                )
            } else {
                (Array1::zeros(gh), Array1::zeros(gh))
            };
            hidden_sizes.push(h);
            layers.push(LayerParams {
                weight_ih: wih,
                weight_hh: whh,
                bias_ih,
                bias_hh,
            });
        }
        let cell = cell.unwrap_or_default();
        let top = hidden_sizes.last().copied().unwrap_or(0);

        // The head: the one leftover 2-D `weight` with H_top columns.
        let claimed = |name: &str| matches!(role(name), Role::Recurrent { .. });
        let mut heads = Vec::new();
        for (name, t) in &self.tensors {
            let (module, last) = split_last(name);
            if !claimed(name) && last == "weight" && t.shape.len() == 2 && t.shape[1] == top {
                heads.push(module.to_string());
            }
        }
        let head = match heads.as_slice() {
            [] => {
                return Err(ImportError::unsupported(
                    self.path,
                    "state_dict",
                    format!(
                        "no nn.Linear head: no 2-D `weight` of shape [OUT, {top}] besides the \
                         recurrent module '{}'",
                        module_name(prefix)
                    ),
                ))
            }
            [one] => one.clone(),
            [a, b, ..] => {
                return Err(ImportError::unsupported(
                    self.path,
                    format!("modules '{}' and '{}'", module_name(a), module_name(b)),
                    format!(
                        "two candidate heads (2-D `weight` with {top} columns); one nn.Linear \
                         on the last layer's h is supported"
                    ),
                ))
            }
        };
        let weight_name = format!("{head}weight");
        let bias_name = format!("{head}bias");
        for name in self.tensors.keys() {
            if !claimed(name) && *name != weight_name && *name != bias_name {
                let shape = &self.tensors[name].shape;
                return Err(ImportError::unsupported(
                    self.path,
                    format!("tensor '{name}' (shape {shape:?})"),
                    format!(
                        "belongs neither to the recurrent module '{}' nor to the head '{}'; \
                         only one nn.LSTM / nn.GRU followed by one nn.Linear is supported",
                        module_name(prefix),
                        module_name(&head)
                    ),
                ));
            }
        }
        let weight = self.matrix(&weight_name)?;
        let output_size = weight.nrows();
        if output_size == 0 {
            return Err(corrupt(
                self.path,
                format!("tensor '{weight_name}' has no rows (shape [0, {top}])"),
            ));
        }
        if head_activation == HeadActivation::Sigmoid && output_size != 1 {
            return Err(ImportError::unsupported(
                self.path,
                format!("tensor '{weight_name}' (shape [{output_size}, {top}])"),
                format!(
                    "a sigmoid head over {output_size} outputs (multi-label); a sigmoid head is \
                     supported on a single output (binary classification)"
                ),
            ));
        }
        let bias = if self.tensors.contains_key(&bias_name) {
            self.vector(&bias_name, output_size)?
        } else {
            Array1::zeros(output_size)
        };

        let net = NetConfig {
            cell,
            input_size,
            hidden_sizes,
            output_size,
            head: HeadMode::LastStep,
            dropout: 0.0,
            unit_forget_bias: false,
        };
        let params = Params {
            layers,
            dense: DenseParams { weight, bias },
        };
        params
            .check_config(&net)
            .map_err(|e| corrupt(self.path, e.to_string()))?;
        Ok(ImportedNet {
            net,
            params,
            head_activation,
            seq_len: None,
        })
    }

    /// The values of tensor `name` as `f32` (see the module docs for the
    /// types accepted).
    fn values(&self, name: &str) -> Result<Vec<f32>, ImportError> {
        let t = self
            .tensors
            .get(name)
            .ok_or_else(|| corrupt(self.path, format!("tensor '{name}' is missing")))?;
        let values = to_f32(t.dtype, t.data).map_err(|reason| {
            ImportError::unsupported(
                self.path,
                format!("tensor '{name}' ({:?})", t.dtype),
                reason,
            )
        })?;
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(corrupt(
                self.path,
                format!(
                    "tensor '{name}' has a non-finite value ({}) at index {i}",
                    values[i]
                ),
            ));
        }
        Ok(values)
    }

    /// Tensor `name` as a 2-D array (its shape must be 2-D).
    fn matrix(&self, name: &str) -> Result<Array2<f32>, ImportError> {
        let shape = self.shape(name)?;
        let [rows, cols] = shape[..] else {
            return Err(corrupt(
                self.path,
                format!("tensor '{name}' has shape {shape:?}, expected 2 dimensions"),
            ));
        };
        let values = self.values(name)?;
        Array2::from_shape_vec((rows, cols), values)
            .map_err(|e| corrupt(self.path, format!("tensor '{name}': {e}")))
    }

    /// Tensor `name` as a vector of `len` values (its shape must be `[len]`).
    fn vector(&self, name: &str, len: usize) -> Result<Array1<f32>, ImportError> {
        let shape = self.shape(name)?;
        if shape[..] != [len] {
            return Err(corrupt(
                self.path,
                format!("tensor '{name}' has shape {shape:?}, expected [{len}]"),
            ));
        }
        Ok(Array1::from_vec(self.values(name)?))
    }

    fn shape(&self, name: &str) -> Result<Vec<usize>, ImportError> {
        self.tensors
            .get(name)
            .map(|t| t.shape.clone())
            .ok_or_else(|| corrupt(self.path, format!("tensor '{name}' is missing")))
    }
}

/// A module's name from its prefix (`rnn.` → `rnn`; the empty prefix is the
/// top-level module).
fn module_name(prefix: &str) -> &str {
    match prefix.strip_suffix('.') {
        Some(p) => p,
        None if prefix.is_empty() => "<top level>",
        None => prefix,
    }
}

/// Little-endian values of type `dtype` as `f32`, exactly: `F32`, `F16`,
/// `BF16`, and `F64` when every value is an `f32`. The error says why not.
fn to_f32(dtype: Dtype, data: &[u8]) -> Result<Vec<f32>, String> {
    match dtype {
        Dtype::F32 => Ok(data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()),
        Dtype::F16 => Ok(data
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect()),
        Dtype::BF16 => Ok(data
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect()),
        Dtype::F64 => data
            .chunks_exact(8)
            .enumerate()
            .map(|(i, c)| {
                let v = f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
                let f = v as f32;
                if f64::from(f) == v || v.is_nan() {
                    Ok(f)
                } else {
                    Err(format!(
                        "value {v} at index {i} is not exactly an f32; save the model in \
                         float32 (`model.float()`)"
                    ))
                }
            })
            .collect(),
        other => Err(format!(
            "tensor type {other:?}; weights must be F32 (or F16, BF16, or F64 holding f32 values)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::safetensors::tensor::TensorView;

    const P: &str = "model.safetensors";

    /// An owned tensor for building test files.
    struct T {
        dtype: Dtype,
        shape: Vec<usize>,
        bytes: Vec<u8>,
    }

    fn f32s(shape: &[usize], start: f32) -> T {
        let n: usize = shape.iter().product();
        let bytes = (0..n)
            .flat_map(|i| (start + 0.01 * i as f32).to_le_bytes())
            .collect();
        T {
            dtype: Dtype::F32,
            shape: shape.to_vec(),
            bytes,
        }
    }

    fn file(tensors: &[(&str, T)]) -> Vec<u8> {
        let views: Vec<(String, TensorView<'_>)> = tensors
            .iter()
            .map(|(n, t)| {
                let v = TensorView::new(t.dtype, t.shape.clone(), &t.bytes).unwrap();
                (n.to_string(), v)
            })
            .collect();
        ::safetensors::serialize(views, None).unwrap()
    }

    /// `nn.LSTM(in, h, num_layers)` (G = 4) or `nn.GRU` (G = 3) + `nn.Linear(h, out)`.
    fn model(g: usize, input: usize, h: usize, layers: usize, out: usize) -> Vec<(String, T)> {
        let mut v = Vec::new();
        for k in 0..layers {
            let i = if k == 0 { input } else { h };
            v.push((format!("rnn.weight_ih_l{k}"), f32s(&[g * h, i], 0.1)));
            v.push((format!("rnn.weight_hh_l{k}"), f32s(&[g * h, h], 0.2)));
            v.push((format!("rnn.bias_ih_l{k}"), f32s(&[g * h], 0.3)));
            v.push((format!("rnn.bias_hh_l{k}"), f32s(&[g * h], 0.4)));
        }
        v.push(("head.weight".into(), f32s(&[out, h], 0.5)));
        v.push(("head.bias".into(), f32s(&[out], 0.6)));
        v
    }

    fn read(tensors: Vec<(String, T)>) -> Result<ImportedNet, ImportError> {
        let refs: Vec<(&str, T)> = tensors.into_iter().map(|(n, t)| (leak(n), t)).collect();
        from_bytes(Path::new(P), &file(&refs), HeadActivation::Linear)
    }

    fn leak(s: String) -> &'static str {
        Box::leak(s.into_boxed_str())
    }

    fn unsupported_text(r: Result<ImportedNet, ImportError>) -> String {
        match r {
            Err(e @ ImportError::Unsupported { .. }) => e.to_string(),
            other => panic!("expected Unsupported, got {other:?}"),
        }
    }

    fn corrupt_text(r: Result<ImportedNet, ImportError>) -> String {
        match r {
            Err(e @ ImportError::Corrupt { .. }) => e.to_string(),
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }

    #[test]
    fn infers_lstm_and_gru_stacks_from_names_and_shapes() {
        let net = read(model(4, 3, 5, 2, 2)).unwrap();
        assert_eq!(net.net.cell, CellKind::Lstm);
        assert_eq!(net.net.input_size, 3);
        assert_eq!(net.net.hidden_sizes, vec![5, 5]);
        assert_eq!(net.net.output_size, 2);
        assert_eq!(net.net.head, HeadMode::LastStep);
        assert_eq!(net.seq_len, None);
        assert_eq!(net.params.layers[1].weight_hh[[0, 1]], 0.2 + 0.01 * 1.0_f32);
        assert_eq!(net.params.dense.bias[[1]], 0.6 + 0.01 * 1.0_f32);

        let net = read(model(3, 4, 6, 1, 3)).unwrap();
        assert_eq!(net.net.cell, CellKind::Gru);
        assert_eq!(net.net.hidden_sizes, vec![6]);
        assert_eq!(net.net.output_size, 3);
    }

    #[test]
    fn module_names_do_not_matter() {
        let renamed = model(4, 3, 5, 2, 1)
            .into_iter()
            .map(|(n, t)| {
                let n = n
                    .replace("rnn.", "encoder.lstm.")
                    .replace("head.", "fc_out.");
                (n, t)
            })
            .collect();
        let a = read(renamed).unwrap();
        let b = read(model(4, 3, 5, 2, 1)).unwrap();
        assert_eq!(a, b);
        // a bare nn.LSTM's keys have no prefix
        let bare = model(4, 3, 5, 1, 1)
            .into_iter()
            .map(|(n, t)| (n.replace("rnn.", ""), t))
            .collect();
        assert_eq!(read(bare).unwrap().net.hidden_sizes, vec![5]);
    }

    #[test]
    fn no_bias_is_zeros() {
        let nobias = model(3, 2, 4, 2, 1)
            .into_iter()
            .filter(|(n, _)| !n.contains("bias"))
            .collect();
        let net = read(nobias).unwrap();
        assert!(net
            .params
            .layers
            .iter()
            .all(|l| l.bias_ih.iter().all(|&b| b == 0.0)));
        assert!(net
            .params
            .layers
            .iter()
            .all(|l| l.bias_hh.iter().all(|&b| b == 0.0)));
        assert!(net.params.dense.bias.iter().all(|&b| b == 0.0));
    }

    #[test]
    fn head_activation_comes_from_the_caller() {
        let refs: Vec<(&str, T)> = model(4, 1, 2, 1, 1)
            .into_iter()
            .map(|(n, t)| (leak(n), t))
            .collect();
        let net = from_bytes(Path::new(P), &file(&refs), HeadActivation::Sigmoid).unwrap();
        assert_eq!(net.head_activation, HeadActivation::Sigmoid);
        let refs: Vec<(&str, T)> = model(4, 1, 2, 1, 3)
            .into_iter()
            .map(|(n, t)| (leak(n), t))
            .collect();
        let net = from_bytes(Path::new(P), &file(&refs), HeadActivation::Softmax).unwrap();
        assert_eq!(net.head_activation, HeadActivation::Softmax);
        let e = unsupported_text(from_bytes(
            Path::new(P),
            &file(&refs),
            HeadActivation::Sigmoid,
        ));
        assert!(e.contains("head.weight") && e.contains("3 outputs"), "{e}");
    }

    #[test]
    fn half_types_convert_exactly_and_f64_only_when_exact() {
        let mut m = model(4, 1, 2, 1, 1);
        let half_vals = [0.5f32, -1.25, 3.0, 0.0];
        m[5].1 = T {
            dtype: Dtype::F16,
            shape: vec![1],
            bytes: half::f16::from_f32(half_vals[1]).to_le_bytes().to_vec(),
        };
        assert_eq!(read(m).unwrap().params.dense.bias[[0]], -1.25);
        let mut m = model(4, 1, 2, 1, 1);
        m[5].1 = T {
            dtype: Dtype::BF16,
            shape: vec![1],
            bytes: half::bf16::from_f32(3.0).to_le_bytes().to_vec(),
        };
        assert_eq!(read(m).unwrap().params.dense.bias[[0]], 3.0);
        let mut m = model(4, 1, 2, 1, 1);
        m[5].1 = T {
            dtype: Dtype::F64,
            shape: vec![1],
            bytes: 0.375f64.to_le_bytes().to_vec(),
        };
        assert_eq!(read(m).unwrap().params.dense.bias[[0]], 0.375);
        let mut m = model(4, 1, 2, 1, 1);
        m[5].1 = T {
            dtype: Dtype::F64,
            shape: vec![1],
            bytes: 0.1f64.to_le_bytes().to_vec(),
        };
        let e = unsupported_text(read(m));
        assert!(
            e.contains("head.bias") && e.contains("not exactly an f32"),
            "{e}"
        );
        let mut m = model(4, 1, 2, 1, 1);
        m[5].1 = T {
            dtype: Dtype::I64,
            shape: vec![1],
            bytes: 1i64.to_le_bytes().to_vec(),
        };
        let e = unsupported_text(read(m));
        assert!(e.contains("head.bias") && e.contains("I64"), "{e}");
    }

    #[test]
    fn refuses_bidirectional() {
        let mut m = model(4, 3, 5, 1, 1);
        m.push(("rnn.weight_ih_l0_reverse".into(), f32s(&[20, 3], 0.0)));
        let e = unsupported_text(read(m));
        assert!(
            e.contains("rnn.weight_ih_l0_reverse") && e.contains("bidirectional"),
            "{e}"
        );
    }

    #[test]
    fn refuses_projection() {
        let mut m = model(4, 3, 5, 1, 1);
        m.push(("rnn.weight_hr_l0".into(), f32s(&[2, 5], 0.0)));
        let e = unsupported_text(read(m));
        assert!(
            e.contains("rnn.weight_hr_l0") && e.contains("proj_size"),
            "{e}"
        );
    }

    #[test]
    fn refuses_two_candidate_heads() {
        let mut m = model(4, 3, 5, 1, 1);
        m.push(("aux.weight".into(), f32s(&[2, 5], 0.0)));
        let e = unsupported_text(read(m));
        assert!(e.contains("'aux'") && e.contains("'head'") && e.contains("two candidate heads"));
    }

    #[test]
    fn refuses_an_extra_module() {
        // a two-layer MLP head: the second Linear is not on the LSTM's h
        let mut m = model(4, 3, 5, 1, 8);
        m.push(("head2.weight".into(), f32s(&[1, 8], 0.0)));
        m.push(("head2.bias".into(), f32s(&[1], 0.0)));
        let e = unsupported_text(read(m));
        assert!(e.contains("head2.") && e.contains("belongs neither"), "{e}");
        let mut m = model(4, 3, 5, 1, 1);
        m.push(("norm.running_mean".into(), f32s(&[5], 0.0)));
        let e = unsupported_text(read(m));
        assert!(e.contains("norm.running_mean"), "{e}");
    }

    #[test]
    fn refuses_two_recurrent_modules_and_missing_parts() {
        let mut m = model(4, 3, 5, 1, 1);
        m.push(("enc.weight_ih_l0".into(), f32s(&[20, 3], 0.0)));
        m.push(("enc.weight_hh_l0".into(), f32s(&[20, 5], 0.0)));
        let e = unsupported_text(read(m));
        assert!(e.contains("'enc'") && e.contains("'rnn'"), "{e}");

        let m = model(4, 3, 5, 2, 1)
            .into_iter()
            .filter(|(n, _)| n != "rnn.weight_hh_l1")
            .collect();
        let e = corrupt_text(read(m));
        assert!(
            e.contains("rnn.weight_hh_l1") && e.contains("missing"),
            "{e}"
        );

        let m = model(4, 3, 5, 2, 1)
            .into_iter()
            .filter(|(n, _)| n != "rnn.bias_hh_l0")
            .collect();
        let e = corrupt_text(read(m));
        assert!(e.contains("rnn.bias_hh_l0") && e.contains("missing"), "{e}");

        let m = model(4, 3, 5, 1, 1)
            .into_iter()
            .filter(|(n, _)| !n.starts_with("head."))
            .collect();
        let e = unsupported_text(read(m));
        assert!(e.contains("no nn.Linear head"), "{e}");

        let e = unsupported_text(read(vec![("w".into(), f32s(&[2], 0.0))]));
        assert!(e.contains("no recurrent layer"), "{e}");
    }

    #[test]
    fn refuses_inconsistent_shapes() {
        // weight_hh rows neither 3H nor 4H
        let mut m = model(4, 3, 5, 1, 1);
        m[1].1 = f32s(&[10, 5], 0.0);
        let e = corrupt_text(read(m));
        assert!(
            e.contains("rnn.weight_hh_l0") && e.contains("[10, 5]"),
            "{e}"
        );
        // weight_ih of layer 1 with the wrong input size
        let mut m = model(4, 3, 5, 2, 1);
        m[4].1 = f32s(&[20, 4], 0.0);
        let e = corrupt_text(read(m));
        assert!(
            e.contains("rnn.weight_ih_l1") && e.contains("[20, 5]"),
            "{e}"
        );
        // bias of the wrong length
        let mut m = model(4, 3, 5, 1, 1);
        m[2].1 = f32s(&[19], 0.0);
        let e = corrupt_text(read(m));
        assert!(e.contains("rnn.bias_ih_l0") && e.contains("[20]"), "{e}");
        // a GRU layer on top of an LSTM layer
        let mut m = model(4, 3, 5, 2, 1);
        m[4].1 = f32s(&[15, 5], 0.0);
        m[5].1 = f32s(&[15, 5], 0.0);
        let e = corrupt_text(read(m));
        assert!(e.contains("rnn.weight_hh_l1") && e.contains("gru"), "{e}");
        // head bias of the wrong length
        let mut m = model(4, 3, 5, 1, 2);
        m[5].1 = f32s(&[3], 0.0);
        let e = corrupt_text(read(m));
        assert!(e.contains("head.bias"), "{e}");
        // a 3-D weight
        let mut m = model(4, 3, 5, 1, 1);
        m[0].1 = f32s(&[20, 3, 1], 0.0);
        let e = corrupt_text(read(m));
        assert!(
            e.contains("rnn.weight_ih_l0") && e.contains("2 dimensions"),
            "{e}"
        );
    }

    #[test]
    fn refuses_non_finite_values() {
        let mut m = model(4, 3, 5, 1, 1);
        m[1].1.bytes[8..12].copy_from_slice(&f32::NAN.to_le_bytes());
        let e = corrupt_text(read(m));
        assert!(
            e.contains("rnn.weight_hh_l0") && e.contains("index 2"),
            "{e}"
        );
    }

    #[test]
    fn a_damaged_file_is_corrupt_and_named() {
        let refs: Vec<(&str, T)> = model(4, 1, 2, 1, 1)
            .into_iter()
            .map(|(n, t)| (leak(n), t))
            .collect();
        let bytes = file(&refs);
        for cut in [0, 7, 8, 20, bytes.len() - 1] {
            let e = corrupt_text(from_bytes(
                Path::new(P),
                &bytes[..cut],
                HeadActivation::Linear,
            ));
            assert!(e.contains(P), "{e}");
        }
    }
}
