//! Keras models: Keras 3 `.keras` files (a zip of `config.json`,
//! `metadata.json` and `model.weights.h5`, read with the `zip` crate) and
//! legacy single-file `.h5` files written by `model.save("m.h5")` (a
//! `model_config` attribute and a `model_weights/` group), read with the
//! pure-Rust `hdf5-pure` crate. The configuration is JSON (`serde_json`).
//!
//! Supported: a `Sequential` model of `InputLayer`, `LSTM` or `GRU` layers
//! (one cell kind for the whole stack, Keras' default activations, GRU with
//! `reset_after=True`), `Dropout` (the identity at inference) and one final
//! `Dense` layer (linear, softmax, or sigmoid on one unit). Everything else
//! is refused with [`ImportError::Unsupported`] naming the layer and the
//! attribute.
//!
//! Layouts: Keras stores `kernel` `[IN][G·H]` and `recurrent_kernel`
//! `[H][G·H]` (the transposes of PyTorch's); LSTM gates i, f, c, o are
//! PyTorch's i, f, g, o with one bias (read as `bias_ih`, `bias_hh` zero);
//! GRU gates z, r, h become PyTorch's r, z, n, with `bias[0]` the input and
//! `bias[1]` the recurrent bias.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use ndarray::{Array1, Array2};
use serde_json::Value;

use super::{HeadActivation, ImportError, ImportedNet};
use crate::net::{CellKind, DenseParams, HeadMode, LayerParams, NetConfig, Params};

/// The format name of a `.keras` file in errors.
pub const KERAS_FORMAT: &str = "Keras 3 (.keras)";
/// The format name of a legacy `.h5` file in errors.
pub const H5_FORMAT: &str = "Keras HDF5 (.h5)";

/// The largest member of a `.keras` zip that is read (`config.json`,
/// `model.weights.h5`): 256 MiB, far above any model `lstm-core` runs; a
/// larger (or lying) member is refused before it is decompressed whole.
const MAX_MEMBER: u64 = 256 << 20;

/// The largest number of values one weight tensor may declare (64 Mi); a
/// corrupt shape above this is refused before anything is allocated.
const MAX_TENSOR: u64 = 64 << 20;

/// The most units a layer may declare: 65 535, far above any network a
/// microcontroller runs; a larger (or corrupt) `units` is refused before
/// any size is computed from it.
const MAX_UNITS: usize = u16::MAX as usize;

/// Reads a Keras 3 `.keras` file.
///
/// Errors: [`ImportError::Io`] if the file cannot be read,
/// [`ImportError::Corrupt`] for a damaged zip, JSON or HDF5 member or
/// missing / misshapen weights, [`ImportError::Unsupported`] for a layer or
/// attribute outside what `lstm-core` runs exactly.
pub fn read_keras(path: &Path) -> Result<ImportedNet, ImportError> {
    keras_from_bytes(path, crate::io::read(path)?)
}

/// [`read_keras`] on the bytes of a file; `path` names it in errors.
///
/// Errors: as [`read_keras`], but for [`ImportError::Io`].
pub fn keras_from_bytes(path: &Path, bytes: Vec<u8>) -> Result<ImportedNet, ImportError> {
    let corrupt = |reason: String| corrupt(path, KERAS_FORMAT, reason);
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| corrupt(format!("not a zip archive: {e}")))?;
    let config = read_member(&mut archive, "config.json").map_err(&corrupt)?;
    let weights = read_member(&mut archive, "model.weights.h5").map_err(&corrupt)?;
    let config: Value = serde_json::from_slice(&config)
        .map_err(|e| corrupt(format!("config.json is not JSON: {e}")))?;
    let layers = parse_model(path, KERAS_FORMAT, &config)?;
    let file = hdf5_pure::File::from_bytes(weights)
        .map_err(|e| corrupt(format!("model.weights.h5: {e}")))?;
    // Keras 3 saves a Sequential model's layers under `layers/<name>`, the
    // name being the class name in snake case, `_1`, `_2`, … for repeats.
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut weights = Vec::with_capacity(layers.len());
    for layer in &layers {
        let base = snake_case(&layer.class);
        let n = seen.entry(base.clone()).or_insert(0);
        let name = if *n == 0 {
            base.clone()
        } else {
            format!("{base}_{n}")
        };
        *n += 1;
        let count = layer.kind.variables();
        if count == 0 {
            weights.push(Vec::new());
            continue;
        }
        let group = match layer.kind {
            Kind::Recurrent { .. } => format!("layers/{name}/cell/vars"),
            _ => format!("layers/{name}/vars"),
        };
        let vars = (0..count)
            .map(|i| {
                let at = format!("{group}/{i}");
                read_tensor(&file, &at).map_err(|r| {
                    corrupt(format!(
                        "model.weights.h5 `{at}` (layer '{}'): {r}",
                        layer.name
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        weights.push(vars);
    }
    assemble(path, KERAS_FORMAT, &layers, weights)
}

/// Reads a legacy single-file Keras `.h5` model (`model.save("m.h5")`).
///
/// Errors: as [`read_keras`].
pub fn read_h5(path: &Path) -> Result<ImportedNet, ImportError> {
    h5_from_bytes(path, crate::io::read(path)?)
}

/// [`read_h5`] on the bytes of a file; `path` names it in errors.
///
/// Errors: as [`read_h5`], but for [`ImportError::Io`].
pub fn h5_from_bytes(path: &Path, bytes: Vec<u8>) -> Result<ImportedNet, ImportError> {
    let corrupt = |reason: String| corrupt(path, H5_FORMAT, reason);
    let file = hdf5_pure::File::from_bytes(bytes).map_err(|e| corrupt(e.to_string()))?;
    let attrs = file
        .root()
        .attrs()
        .map_err(|e| corrupt(format!("root attributes: {e}")))?;
    let config = attrs
        .get("model_config")
        .and_then(|a| a.as_str())
        .ok_or_else(|| {
            corrupt(
                "no `model_config` attribute (weights only? save with model.save(\"m.h5\"))".into(),
            )
        })?;
    let config: Value = serde_json::from_str(config)
        .map_err(|e| corrupt(format!("`model_config` is not JSON: {e}")))?;
    let layers = parse_model(path, H5_FORMAT, &config)?;
    let mut weights = Vec::with_capacity(layers.len());
    for layer in &layers {
        let count = layer.kind.variables();
        if count == 0 {
            weights.push(Vec::new());
            continue;
        }
        let group_path = format!("model_weights/{}", layer.name);
        let group = file
            .group(&group_path)
            .map_err(|e| corrupt(format!("`{group_path}` (layer '{}'): {e}", layer.name)))?;
        let names = group
            .attrs()
            .map_err(|e| corrupt(format!("`{group_path}` attributes: {e}")))?;
        let names = names
            .get("weight_names")
            .and_then(|a| a.as_strings())
            .ok_or_else(|| corrupt(format!("`{group_path}` has no `weight_names` list")))?;
        if names.len() != count {
            return Err(corrupt(format!(
                "layer '{}' has {} weights, expected {count}",
                layer.name,
                names.len()
            )));
        }
        let vars = names
            .iter()
            .map(|n| {
                let at = format!("{group_path}/{n}");
                read_tensor(&file, &at).map_err(|r| corrupt(format!("`{at}`: {r}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        weights.push(vars);
    }
    assemble(path, H5_FORMAT, &layers, weights)
}

fn corrupt(path: &Path, format: &'static str, reason: String) -> ImportError {
    ImportError::corrupt(path, format, reason)
}

fn unsupported(path: &Path, layer: &Layer, reason: String) -> ImportError {
    ImportError::unsupported(
        path,
        format!("layer '{}' ({})", layer.name, layer.class),
        reason,
    )
}

/// One member of the zip, at most [`MAX_MEMBER`] bytes.
fn read_member<R: Read + std::io::Seek>(
    archive: &mut zip::ZipArchive<R>,
    name: &str,
) -> Result<Vec<u8>, String> {
    let member = archive
        .by_name(name)
        .map_err(|e| format!("member `{name}`: {e}"))?;
    if member.size() > MAX_MEMBER {
        return Err(format!(
            "member `{name}` declares {} bytes (more than {MAX_MEMBER})",
            member.size()
        ));
    }
    let mut out = Vec::new();
    member
        .take(MAX_MEMBER + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("member `{name}`: {e}"))?;
    if out.len() as u64 > MAX_MEMBER {
        return Err(format!("member `{name}` is larger than {MAX_MEMBER} bytes"));
    }
    Ok(out)
}

/// A weight tensor: its shape and values (row-major).
#[derive(Clone, Debug, PartialEq)]
struct Tensor {
    shape: Vec<usize>,
    values: Vec<f32>,
}

fn read_tensor(file: &hdf5_pure::File, at: &str) -> Result<Tensor, String> {
    let ds = file.dataset(at).map_err(|e| e.to_string())?;
    let shape = ds.shape().map_err(|e| e.to_string())?;
    let mut total: u64 = 1;
    for &d in &shape {
        total = total
            .checked_mul(d)
            .filter(|&t| t <= MAX_TENSOR)
            .ok_or_else(|| format!("shape {shape:?} is too large"))?;
    }
    let size = ds.element_size().map_err(|e| e.to_string())?;
    if size != 4 {
        return Err(format!(
            "values of {size} bytes (a float32 model has 4-byte values)"
        ));
    }
    let values = ds.read_f32().map_err(|e| e.to_string())?;
    if values.len() as u64 != total {
        return Err(format!("{} values for shape {shape:?}", values.len()));
    }
    if let Some(v) = values.iter().find(|v| !v.is_finite()) {
        return Err(format!("a non-finite value ({v})"));
    }
    Ok(Tensor {
        shape: shape.iter().map(|&d| d as usize).collect(),
        values,
    })
}

/// `LSTM` → `lstm`, `InputLayer` → `input_layer`, `GRU` → `gru` (Keras'
/// `to_snake_case`).
fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev_lower =
                i > 0 && (chars[i - 1].is_ascii_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            let prev_upper = i > 0 && chars[i - 1].is_ascii_uppercase();
            if i > 0 && (prev_lower || (prev_upper && next_lower)) {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// What a layer of the configuration is.
#[derive(Clone, Debug, PartialEq)]
enum Kind {
    Input,
    Dropout,
    Recurrent {
        cell: CellKind,
        units: usize,
        return_sequences: bool,
        use_bias: bool,
    },
    Dense {
        units: usize,
        activation: HeadActivation,
        use_bias: bool,
    },
}

impl Kind {
    /// How many weight variables the layer saves.
    fn variables(&self) -> usize {
        match self {
            Kind::Input | Kind::Dropout => 0,
            Kind::Recurrent { use_bias, .. } => 2 + usize::from(*use_bias),
            Kind::Dense { use_bias, .. } => 1 + usize::from(*use_bias),
        }
    }
}

/// A layer of the configuration (InputLayer excluded from weights naming).
#[derive(Clone, Debug, PartialEq)]
struct Layer {
    name: String,
    class: String,
    kind: Kind,
    /// `batch_shape` of an InputLayer (or a layer's `batch_input_shape`).
    batch_shape: Option<Vec<Option<usize>>>,
}

fn str_attr<'a>(config: &'a Value, key: &str) -> Option<&'a str> {
    config.get(key).and_then(Value::as_str)
}

fn shape_attr(config: &Value, key: &str) -> Option<Vec<Option<usize>>> {
    config.get(key).and_then(Value::as_array).map(|dims| {
        dims.iter()
            .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
            .collect()
    })
}

/// The layers of a `Sequential` configuration, each checked against what is
/// supported. `InputLayer`s are kept (for the sequence length) but carry no
/// weights; in Keras 3 files they are not among `layers/`.
fn parse_model(
    path: &Path,
    format: &'static str,
    model: &Value,
) -> Result<Vec<Layer>, ImportError> {
    let class = str_attr(model, "class_name").ok_or_else(|| {
        corrupt(
            path,
            format,
            "the model configuration has no `class_name`".into(),
        )
    })?;
    let config = model.get("config").unwrap_or(&Value::Null);
    if class != "Sequential" {
        let name = str_attr(config, "name").unwrap_or("?");
        return Err(ImportError::Unsupported {
            path: path.into(),
            item: format!("model '{name}' ({class})"),
            reason: "only Sequential models are imported (a stack of LSTM or GRU layers and one Dense head)".into(),
        });
    }
    let list = config
        .get("layers")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            corrupt(
                path,
                format,
                "the Sequential configuration has no `layers` list".into(),
            )
        })?;
    let mut layers = Vec::with_capacity(list.len());
    for (i, l) in list.iter().enumerate() {
        layers.push(parse_layer(path, format, i, l)?);
    }
    Ok(layers)
}

fn parse_layer(
    path: &Path,
    format: &'static str,
    index: usize,
    l: &Value,
) -> Result<Layer, ImportError> {
    let class = str_attr(l, "class_name")
        .ok_or_else(|| corrupt(path, format, format!("layer {index} has no `class_name`")))?
        .to_string();
    let config = l.get("config").unwrap_or(&Value::Null);
    let name = str_attr(config, "name")
        .map(str::to_string)
        .unwrap_or_else(|| format!("#{index}"));
    let batch_shape =
        shape_attr(config, "batch_shape").or_else(|| shape_attr(config, "batch_input_shape"));
    let mut layer = Layer {
        name,
        class: class.clone(),
        kind: Kind::Input,
        batch_shape,
    };
    let refuse = |layer: &Layer, reason: String| Err(unsupported(path, layer, reason));
    let units = |layer: &Layer| -> Result<usize, ImportError> {
        config
            .get("units")
            .and_then(Value::as_u64)
            .and_then(|u| usize::try_from(u).ok())
            .filter(|&u| u > 0)
            .ok_or_else(|| {
                corrupt(
                    path,
                    format,
                    format!("layer '{}' has no positive `units`", layer.name),
                )
            })
            .and_then(|u| {
                if u > MAX_UNITS {
                    Err(unsupported(
                        path,
                        layer,
                        format!("units={u} (at most {MAX_UNITS} are imported)"),
                    ))
                } else {
                    Ok(u)
                }
            })
    };
    let flag = |key: &str| config.get(key).and_then(Value::as_bool);
    layer.kind = match class.as_str() {
        "InputLayer" => Kind::Input,
        "Dropout" => Kind::Dropout,
        "LSTM" | "GRU" => {
            let cell = if class == "LSTM" {
                CellKind::Lstm
            } else {
                CellKind::Gru
            };
            for (key, want) in [("activation", "tanh"), ("recurrent_activation", "sigmoid")] {
                match config.get(key) {
                    None => {}
                    Some(Value::String(s)) if s == want => {}
                    Some(other) => {
                        return refuse(
                            &layer,
                            format!(
                                "{key}={other} (only '{want}', Keras' default, runs in lstm-core)"
                            ),
                        );
                    }
                }
            }
            for key in ["stateful", "go_backwards", "return_state", "time_major"] {
                if flag(key) == Some(true) {
                    let why = match key {
                        "stateful" => "the state carried across batches is not in the file (import it as a windowed model and run it with --stateful instead)",
                        "go_backwards" => "lstm-core runs sequences forwards only",
                        "return_state" => "a model file has one output, the head's",
                        _ => "only batch-major input is read",
                    };
                    return refuse(&layer, format!("{key}=True: {why}"));
                }
            }
            if cell == CellKind::Gru && flag("reset_after") == Some(false) {
                return refuse(
                    &layer,
                    "reset_after=False (lstm-core's GRU is PyTorch's, reset_after=True, Keras' default)"
                        .into(),
                );
            }
            Kind::Recurrent {
                cell,
                units: units(&layer)?,
                return_sequences: flag("return_sequences").unwrap_or(false),
                use_bias: flag("use_bias").unwrap_or(true),
            }
        }
        "Dense" => {
            let units = units(&layer)?;
            let activation = match config.get("activation") {
                None | Some(Value::Null) => HeadActivation::Linear,
                Some(Value::String(s)) if s == "linear" => HeadActivation::Linear,
                Some(Value::String(s)) if s == "softmax" => HeadActivation::Softmax,
                Some(Value::String(s)) if s == "sigmoid" && units == 1 => HeadActivation::Sigmoid,
                Some(Value::String(s)) if s == "sigmoid" => {
                    return refuse(&layer, format!("activation='sigmoid' on {units} units (multi-label; only one sigmoid unit, a binary classifier, maps onto logits)"));
                }
                Some(other) => {
                    return refuse(&layer, format!("activation={other} (only 'linear', 'softmax', or 'sigmoid' on one unit, as a head)"));
                }
            };
            Kind::Dense {
                units,
                activation,
                use_bias: flag("use_bias").unwrap_or(true),
            }
        }
        other => {
            let why = match other {
                "Bidirectional" => "lstm-core runs one direction",
                "Masking" => "masked steps are not skipped by lstm-core; give sequences of their own length instead",
                "Conv1D" | "Conv2D" | "SeparableConv1D" => "convolutions are not in lstm-core",
                "SimpleRNN" => "lstm-core has LSTM and GRU cells",
                _ => "supported: InputLayer, LSTM, GRU, Dropout, Dense",
            };
            return refuse(&layer, format!("class {other}: {why}"));
        }
    };
    Ok(layer)
}

/// Checks the stack and builds the network from its weights (one entry per
/// layer, the layer's variables in Keras' order).
fn assemble(
    path: &Path,
    format: &'static str,
    layers: &[Layer],
    weights: Vec<Vec<Tensor>>,
) -> Result<ImportedNet, ImportError> {
    let mut cell: Option<(CellKind, &Layer)> = None;
    let mut rec: Vec<LayerParams<f32>> = Vec::new();
    let mut hidden: Vec<usize> = Vec::new();
    let mut last_returns_sequences = false;
    let mut dense: Option<(DenseParams<f32>, HeadActivation, &Layer)> = None;
    let mut input_size: Option<usize> = None;
    let mut seq_len: Option<usize> = None;
    for (layer, vars) in layers.iter().zip(weights) {
        if let Some((_, d)) = dense.as_ref().map(|(p, _, l)| (p, l)) {
            if !matches!(layer.kind, Kind::Dropout) {
                return Err(unsupported(
                    path,
                    layer,
                    format!(
                        "a layer after the Dense head '{}' (the head must be the last layer)",
                        d.name
                    ),
                ));
            }
        }
        if let Some(shape) = &layer.batch_shape {
            if rec.is_empty() {
                match shape.as_slice() {
                    [_, t, f] => {
                        seq_len = *t;
                        input_size = *f;
                    }
                    _ => {
                        return Err(unsupported(path, layer, format!("input shape {shape:?} (a recurrent model takes [batch, steps, features])")));
                    }
                }
            }
        }
        match &layer.kind {
            Kind::Input | Kind::Dropout => {}
            Kind::Recurrent {
                cell: c,
                units,
                return_sequences,
                use_bias,
            } => {
                if let Some((first, at)) = cell {
                    if first != *c {
                        return Err(unsupported(path, layer, format!(
                            "a {} layer after the {} layer '{}': a model file has one cell kind for the whole stack",
                            layer.class, at.class, at.name
                        )));
                    }
                }
                if let Some(prev) = layers_prev_recurrent(layers, layer) {
                    if !prev {
                        return Err(unsupported(path, layer, "its input is the previous recurrent layer's last step only (return_sequences=False below it); stacked layers need sequences".into()));
                    }
                }
                cell = Some((*c, layer));
                let in_size = hidden.last().copied().or(input_size);
                let p =
                    recurrent_params(path, format, layer, *c, *units, *use_bias, in_size, vars)?;
                input_size = input_size.or(Some(p.input_size()));
                hidden.push(*units);
                rec.push(p);
                last_returns_sequences = *return_sequences;
            }
            Kind::Dense {
                units,
                activation,
                use_bias,
            } => {
                let Some(&h) = hidden.last() else {
                    return Err(unsupported(
                        path,
                        layer,
                        "a Dense layer before any LSTM or GRU layer".into(),
                    ));
                };
                let p = dense_params(path, format, layer, *units, *use_bias, h, vars)?;
                dense = Some((p, *activation, layer));
            }
        }
    }
    let Some((cell, _)) = cell else {
        return Err(ImportError::Unsupported {
            path: path.into(),
            item: "the model".into(),
            reason: "no LSTM or GRU layer".into(),
        });
    };
    let Some((mut head, activation, _)) = dense else {
        return Err(ImportError::Unsupported {
            path: path.into(),
            item: "the model".into(),
            reason:
                "no Dense layer after the recurrent layers (a model file ends with a Dense head)"
                    .into(),
        });
    };
    if activation == HeadActivation::Sigmoid {
        head = sigmoid_as_logits(&head);
    }
    let net = NetConfig {
        cell,
        input_size: input_size.unwrap_or(0),
        hidden_sizes: hidden,
        output_size: head.bias.len(),
        head: if last_returns_sequences {
            HeadMode::EveryStep
        } else {
            HeadMode::LastStep
        },
        dropout: 0.0,
        unit_forget_bias: false,
    };
    let params = Params {
        layers: rec,
        dense: head,
    };
    params.check_config(&net).map_err(|e| {
        corrupt(
            path,
            format,
            format!("the weights do not fit the configuration: {e}"),
        )
    })?;
    Ok(ImportedNet {
        net,
        params,
        head_activation: activation,
        seq_len,
    })
}

/// Whether the recurrent layer before `layer` returns sequences (`None`:
/// `layer` is the first recurrent layer).
fn layers_prev_recurrent(layers: &[Layer], layer: &Layer) -> Option<bool> {
    let at = layers.iter().position(|l| std::ptr::eq(l, layer))?;
    layers[..at].iter().rev().find_map(|l| match l.kind {
        Kind::Recurrent {
            return_sequences, ..
        } => Some(return_sequences),
        _ => None,
    })
}

/// A single sigmoid unit `σ(z)` as two logits `[0, z]`: their softmax is
/// exactly `[1 − σ(z), σ(z)]`.
pub fn sigmoid_as_logits(head: &DenseParams<f32>) -> DenseParams<f32> {
    let h = head.weight.ncols();
    let mut weight = Array2::zeros((2, h));
    weight.row_mut(1).assign(&head.weight.row(0));
    let mut bias = Array1::zeros(2);
    bias[1] = head.bias[0];
    DenseParams { weight, bias }
}

fn expect_shape(
    path: &Path,
    format: &'static str,
    layer: &Layer,
    what: &str,
    t: &Tensor,
    want: &[usize],
) -> Result<(), ImportError> {
    if t.shape != want {
        return Err(corrupt(
            path,
            format,
            format!(
                "layer '{}': {what} has shape {:?}, expected {want:?}",
                layer.name, t.shape
            ),
        ));
    }
    Ok(())
}

/// `[rows][cols]` row-major → the `[cols][rows]` matrix.
fn transposed(t: &Tensor, rows: usize, cols: usize) -> Array2<f32> {
    Array2::from_shape_fn((cols, rows), |(c, r)| t.values[r * cols + c])
}

#[allow(clippy::too_many_arguments)]
fn recurrent_params(
    path: &Path,
    format: &'static str,
    layer: &Layer,
    cell: CellKind,
    units: usize,
    use_bias: bool,
    in_size: Option<usize>,
    vars: Vec<Tensor>,
) -> Result<LayerParams<f32>, ImportError> {
    let g = cell.gates();
    let gh = g * units;
    let [kernel, recurrent, bias @ ..] = vars.as_slice() else {
        return Err(corrupt(
            path,
            format,
            format!("layer '{}': missing weights", layer.name),
        ));
    };
    let in_size = match (in_size, kernel.shape.as_slice()) {
        (Some(i), _) => i,
        (None, [i, _]) => *i,
        _ => 0,
    };
    expect_shape(path, format, layer, "kernel", kernel, &[in_size, gh])?;
    expect_shape(
        path,
        format,
        layer,
        "recurrent_kernel",
        recurrent,
        &[units, gh],
    )?;
    // Keras [IN][G·H] → PyTorch [G·H][IN], rows in Keras' gate order.
    let w_ih = transposed(kernel, in_size, gh);
    let w_hh = transposed(recurrent, units, gh);
    let (b_ih, b_hh) = match (use_bias, bias) {
        (false, []) => (Array1::zeros(gh), Array1::zeros(gh)),
        (true, [b]) => match cell {
            CellKind::Lstm => {
                expect_shape(path, format, layer, "bias", b, &[gh])?;
                (Array1::from(b.values.clone()), Array1::zeros(gh))
            }
            CellKind::Gru => {
                expect_shape(path, format, layer, "bias", b, &[2, gh])?;
                (
                    Array1::from(b.values[..gh].to_vec()),
                    Array1::from(b.values[gh..].to_vec()),
                )
            }
        },
        _ => {
            return Err(corrupt(
                path,
                format,
                format!(
                    "layer '{}': {} weights, expected {}",
                    layer.name,
                    2 + bias.len(),
                    2 + usize::from(use_bias)
                ),
            ));
        }
    };
    let mut p = LayerParams {
        weight_ih: w_ih,
        weight_hh: w_hh,
        bias_ih: b_ih,
        bias_hh: b_hh,
    };
    if cell == CellKind::Gru {
        // Keras z, r, h → PyTorch r, z, n: swap the first two gate blocks.
        swap_blocks(&mut p, units);
    }
    Ok(p)
}

/// Swaps gate blocks 0 and 1 (rows `0..H` and `H..2H`) of every tensor.
fn swap_blocks(p: &mut LayerParams<f32>, h: usize) {
    for m in [&mut p.weight_ih, &mut p.weight_hh] {
        for r in 0..h {
            for c in 0..m.ncols() {
                m.swap((r, c), (r + h, c));
            }
        }
    }
    for b in [&mut p.bias_ih, &mut p.bias_hh] {
        for r in 0..h {
            b.swap(r, r + h);
        }
    }
}

fn dense_params(
    path: &Path,
    format: &'static str,
    layer: &Layer,
    units: usize,
    use_bias: bool,
    h: usize,
    vars: Vec<Tensor>,
) -> Result<DenseParams<f32>, ImportError> {
    let [kernel, bias @ ..] = vars.as_slice() else {
        return Err(corrupt(
            path,
            format,
            format!("layer '{}': missing weights", layer.name),
        ));
    };
    expect_shape(path, format, layer, "kernel", kernel, &[h, units])?;
    let bias = match (use_bias, bias) {
        (false, []) => Array1::zeros(units),
        (true, [b]) => {
            expect_shape(path, format, layer, "bias", b, &[units])?;
            Array1::from(b.values.clone())
        }
        _ => {
            return Err(corrupt(
                path,
                format,
                format!(
                    "layer '{}': {} weights, expected {}",
                    layer.name,
                    1 + bias.len(),
                    1 + usize::from(use_bias)
                ),
            ));
        }
    };
    Ok(DenseParams {
        weight: transposed(kernel, h, units),
        bias,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lstm(name: &str, extra: Value) -> Value {
        let mut c = json!({"name": name, "units": 4, "activation": "tanh", "recurrent_activation": "sigmoid", "return_sequences": false});
        if let (Some(c), Some(e)) = (c.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                c.insert(k.clone(), v.clone());
            }
        }
        json!({"class_name": "LSTM", "config": c})
    }

    fn seq(layers: Vec<Value>) -> Value {
        json!({"class_name": "Sequential", "config": {"name": "s", "layers": layers}})
    }

    fn dense(act: &str, units: usize) -> Value {
        json!({"class_name": "Dense", "config": {"name": "dense", "units": units, "activation": act}})
    }

    /// The error of parsing `model`, with fake zero weights of the right
    /// shapes for whatever parses.
    fn refusal(model: Value) -> String {
        let path = Path::new("m.keras");
        let err = match parse_model(path, KERAS_FORMAT, &model) {
            Err(e) => e,
            Ok(layers) => {
                let mut in_size = 3;
                let weights = layers
                    .iter()
                    .map(|l| match &l.kind {
                        Kind::Recurrent {
                            cell,
                            units,
                            use_bias,
                            ..
                        } => {
                            let gh = cell.gates() * units;
                            let mut v = vec![
                                Tensor {
                                    shape: vec![in_size, gh],
                                    values: vec![0.0; in_size * gh],
                                },
                                Tensor {
                                    shape: vec![*units, gh],
                                    values: vec![0.0; units * gh],
                                },
                            ];
                            if *use_bias {
                                v.push(Tensor {
                                    shape: vec![gh],
                                    values: vec![0.0; gh],
                                });
                            }
                            in_size = *units;
                            v
                        }
                        Kind::Dense { units, .. } => vec![
                            Tensor {
                                shape: vec![in_size, *units],
                                values: vec![0.0; in_size * units],
                            },
                            Tensor {
                                shape: vec![*units],
                                values: vec![0.0; *units],
                            },
                        ],
                        _ => vec![],
                    })
                    .collect();
                match assemble(path, KERAS_FORMAT, &layers, weights) {
                    Err(e) => e,
                    Ok(net) => panic!("accepted: {net:?}"),
                }
            }
        };
        assert!(matches!(err, ImportError::Unsupported { .. }), "{err}");
        err.to_string()
    }

    fn input() -> Value {
        json!({"class_name": "InputLayer", "config": {"name": "in", "batch_shape": [null, 5, 3]}})
    }

    #[test]
    fn accepts_a_plain_stack() {
        let model = seq(vec![input(), lstm("a", json!({})), dense("linear", 2)]);
        let layers = parse_model(Path::new("m"), KERAS_FORMAT, &model).unwrap();
        assert_eq!(layers.len(), 3);
    }

    #[test]
    fn refuses_each_unsupported_thing_by_name() {
        let cases: Vec<(Value, &[&str])> = vec![
            (
                seq(vec![
                    input(),
                    json!({"class_name": "Bidirectional", "config": {"name": "bi"}}),
                    dense("linear", 1),
                ]),
                &["'bi' (Bidirectional)"],
            ),
            (
                seq(vec![
                    input(),
                    json!({"class_name": "Conv1D", "config": {"name": "conv"}}),
                    lstm("a", json!({})),
                    dense("linear", 1),
                ]),
                &["'conv' (Conv1D)"],
            ),
            (
                seq(vec![
                    input(),
                    json!({"class_name": "Masking", "config": {"name": "mask"}}),
                    lstm("a", json!({})),
                    dense("linear", 1),
                ]),
                &["'mask' (Masking)"],
            ),
            (
                seq(vec![
                    input(),
                    lstm("a", json!({"activation": "relu"})),
                    dense("linear", 1),
                ]),
                &["'a' (LSTM)", "activation=\"relu\""],
            ),
            (
                seq(vec![
                    input(),
                    lstm("a", json!({"recurrent_activation": "hard_sigmoid"})),
                    dense("linear", 1),
                ]),
                &["'a' (LSTM)", "recurrent_activation=\"hard_sigmoid\""],
            ),
            (
                seq(vec![
                    input(),
                    lstm("a", json!({"stateful": true})),
                    dense("linear", 1),
                ]),
                &["'a' (LSTM)", "stateful=True"],
            ),
            (
                seq(vec![
                    input(),
                    lstm("a", json!({"go_backwards": true})),
                    dense("linear", 1),
                ]),
                &["go_backwards=True"],
            ),
            (
                seq(vec![
                    input(),
                    lstm("a", json!({"return_state": true})),
                    dense("linear", 1),
                ]),
                &["return_state=True"],
            ),
            (
                seq(vec![
                    input(),
                    json!({"class_name": "GRU", "config": {"name": "g", "units": 4, "reset_after": false}}),
                    dense("linear", 1),
                ]),
                &["'g' (GRU)", "reset_after=False"],
            ),
            (
                seq(vec![
                    input(),
                    lstm("a", json!({"return_sequences": true})),
                    json!({"class_name": "GRU", "config": {"name": "g", "units": 4}}),
                    dense("linear", 1),
                ]),
                &["'g' (GRU)", "one cell kind"],
            ),
            (
                seq(vec![input(), lstm("a", json!({})), dense("relu", 1)]),
                &["'dense' (Dense)", "activation=\"relu\""],
            ),
            (
                seq(vec![input(), lstm("a", json!({})), dense("sigmoid", 3)]),
                &["'dense' (Dense)", "sigmoid"],
            ),
            (
                json!({"class_name": "Functional", "config": {"name": "f", "layers": []}}),
                &["model 'f' (Functional)"],
            ),
            (
                seq(vec![
                    input(),
                    lstm("a", json!({})),
                    lstm("b", json!({})),
                    dense("linear", 1),
                ]),
                &["'b' (LSTM)", "return_sequences=False"],
            ),
            (
                seq(vec![input(), lstm("a", json!({}))]),
                &["no Dense layer"],
            ),
            (
                seq(vec![
                    input(),
                    lstm("a", json!({})),
                    dense("linear", 1),
                    dense("linear", 1),
                ]),
                &["after the Dense head"],
            ),
        ];
        for (model, needles) in cases {
            let msg = refusal(model);
            for n in needles {
                assert!(msg.contains(n), "`{msg}` lacks `{n}`");
            }
        }
    }

    #[test]
    fn snake_case_matches_keras() {
        assert_eq!(snake_case("LSTM"), "lstm");
        assert_eq!(snake_case("GRU"), "gru");
        assert_eq!(snake_case("Dense"), "dense");
        assert_eq!(snake_case("InputLayer"), "input_layer");
        assert_eq!(snake_case("Dropout"), "dropout");
    }

    #[test]
    fn gru_gates_are_reordered_and_biases_split() {
        // Keras GRU, IN = 1, H = 1: kernel [1][3] = [z, r, h], bias [2][3].
        let layer = Layer {
            name: "g".into(),
            class: "GRU".into(),
            kind: Kind::Input,
            batch_shape: None,
        };
        let vars = vec![
            Tensor {
                shape: vec![1, 3],
                values: vec![1.0, 2.0, 3.0],
            },
            Tensor {
                shape: vec![1, 3],
                values: vec![4.0, 5.0, 6.0],
            },
            Tensor {
                shape: vec![2, 3],
                values: vec![7.0, 8.0, 9.0, 10.0, 11.0, 12.0],
            },
        ];
        let p = recurrent_params(
            Path::new("m"),
            KERAS_FORMAT,
            &layer,
            CellKind::Gru,
            1,
            true,
            Some(1),
            vars,
        )
        .unwrap();
        assert_eq!(
            p.weight_ih.iter().copied().collect::<Vec<_>>(),
            [2.0, 1.0, 3.0]
        );
        assert_eq!(
            p.weight_hh.iter().copied().collect::<Vec<_>>(),
            [5.0, 4.0, 6.0]
        );
        assert_eq!(p.bias_ih.to_vec(), [8.0, 7.0, 9.0]);
        assert_eq!(p.bias_hh.to_vec(), [11.0, 10.0, 12.0]);
    }

    #[test]
    fn lstm_kernel_is_transposed() {
        let layer = Layer {
            name: "l".into(),
            class: "LSTM".into(),
            kind: Kind::Input,
            batch_shape: None,
        };
        // IN = 2, H = 1: kernel [2][4].
        let vars = vec![
            Tensor {
                shape: vec![2, 4],
                values: (0..8).map(|v| v as f32).collect(),
            },
            Tensor {
                shape: vec![1, 4],
                values: vec![0.5; 4],
            },
            Tensor {
                shape: vec![4],
                values: vec![1.0, 2.0, 3.0, 4.0],
            },
        ];
        let p = recurrent_params(
            Path::new("m"),
            KERAS_FORMAT,
            &layer,
            CellKind::Lstm,
            1,
            true,
            Some(2),
            vars,
        )
        .unwrap();
        assert_eq!(p.weight_ih.row(0).to_vec(), [0.0, 4.0]);
        assert_eq!(p.weight_ih.row(3).to_vec(), [3.0, 7.0]);
        assert_eq!(p.bias_ih.to_vec(), [1.0, 2.0, 3.0, 4.0]);
        assert_eq!(p.bias_hh.to_vec(), [0.0; 4]);
    }

    #[test]
    fn sigmoid_head_becomes_two_logits() {
        let head = DenseParams {
            weight: Array2::from_shape_vec((1, 2), vec![0.5, -1.0]).unwrap(),
            bias: Array1::from(vec![0.25]),
        };
        let two = sigmoid_as_logits(&head);
        assert_eq!(two.weight.row(0).to_vec(), [0.0, 0.0]);
        assert_eq!(two.weight.row(1).to_vec(), [0.5, -1.0]);
        assert_eq!(two.bias.to_vec(), [0.0, 0.25]);
    }
}
