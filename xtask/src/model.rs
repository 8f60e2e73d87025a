//! `make-model`: writes a model file (and its held-out inputs) from one of
//! the PyTorch reference cases in `shared/reference/`, until the trainer's
//! `export` produces real ones.
//!
//! The file is written by `lstm_core::file::to_vec`, the same writer the
//! trainer uses; the inputs are the case's first sequence as raw
//! little-endian `f32` in `<out>.inputs` (the firmware's `LSTM_INPUTS`).

use std::path::{Path, PathBuf};

use lstm_core::file::{to_vec, Differencing, Header, Scaling, Task, TrainingMode};
use lstm_core::{CellKind, LayerShape, NumberFormat};
use serde_json::Value;

use crate::util::{err, Args, Result};

/// What `make-model` writes.
#[derive(Debug, Clone)]
pub struct MakeModel {
    /// Reference case (JSON, format in `shared/reference/README.md`).
    pub reference: PathBuf,
    /// Number format of the weights.
    pub format: NumberFormat,
    /// Training mode recorded in the header.
    pub mode: TrainingMode,
    /// The model file to write; the inputs go to `<out>.inputs`.
    pub out: PathBuf,
}

/// `<path>.<ext>`.
pub fn with_suffix(path: &Path, ext: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

/// Parses `stateful` or `windowed:<W>`.
pub fn parse_mode(s: &str) -> Result<TrainingMode> {
    match s.split_once(':') {
        None if s == "stateful" => Ok(TrainingMode::Stateful),
        Some(("windowed", w)) => Ok(TrainingMode::Windowed {
            window: w
                .parse()
                .map_err(|_| err(format!("bad window length {w}")))?,
        }),
        _ => Err(err(format!("mode {s}: expected stateful or windowed:<W>"))),
    }
}

/// Parses a number format name (`f32`, `q4.12`, `q16.16`, `q4.12-w8`).
pub fn parse_format(s: &str) -> Result<NumberFormat> {
    NumberFormat::from_name(&s.to_ascii_lowercase()).ok_or_else(|| {
        err(format!(
            "format {s}: expected f32, q4.12, q16.16 or q4.12-w8"
        ))
    })
}

/// `cargo xtask make-model --from-reference <json> --format <f> [--mode m] --out <file>`.
pub fn cmd(mut args: Args) -> Result<()> {
    let reference = args
        .value("--from-reference")?
        .ok_or_else(|| err("--from-reference <json> is required"))?;
    let format = parse_format(&args.value("--format")?.unwrap_or_else(|| "q4.12".into()))?;
    let mode = parse_mode(&args.value("--mode")?.unwrap_or_else(|| "stateful".into()))?;
    let out = args
        .value("--out")?
        .ok_or_else(|| err("--out <file> is required"))?;
    args.finish()?;
    let spec = MakeModel {
        reference: reference.into(),
        format,
        mode,
        out: out.into(),
    };
    let summary = make_model(&spec)?;
    println!("{summary}");
    Ok(())
}

fn field<'a>(v: &'a Value, key: &str) -> Result<&'a Value> {
    v.get(key)
        .ok_or_else(|| err(format!("reference case has no `{key}`")))
}

fn usize_of(v: &Value, key: &str) -> Result<usize> {
    field(v, key)?
        .as_u64()
        .map(|n| n as usize)
        .ok_or_else(|| err(format!("`{key}` is not a count")))
}

/// Appends every number of a nested list, in row-major order, as `f64`.
fn flatten(v: &Value, out: &mut Vec<f64>) -> Result<()> {
    match v {
        Value::Array(items) => items.iter().try_for_each(|i| flatten(i, out)),
        Value::Number(n) => {
            out.push(n.as_f64().ok_or_else(|| err("not a finite number"))?);
            Ok(())
        }
        _ => Err(err("expected a nested list of numbers")),
    }
}

fn flat(v: &Value, key: &str) -> Result<Vec<f64>> {
    let mut out = Vec::new();
    flatten(field(v, key)?, &mut out)?;
    Ok(out)
}

/// Writes the model file and `<out>.inputs`; returns a one-line summary.
pub fn make_model(spec: &MakeModel) -> Result<String> {
    let text = std::fs::read_to_string(&spec.reference)
        .map_err(|e| err(format!("cannot read {}: {e}", spec.reference.display())))?;
    let case: Value = serde_json::from_str(&text)?;
    let input = usize_of(&case, "input_size")?;
    let hidden = usize_of(&case, "hidden_size")?;
    let layers = usize_of(&case, "num_layers")?;
    let output = usize_of(&case, "output_size")?;
    let steps = usize_of(&case, "steps")?;
    let params = field(&case, "params")?;

    // Weights in file order (lstm-core/FORMAT.md): per LSTM layer weight_ih,
    // weight_hh, bias_ih + bias_hh (summed in f64); then the head.
    let mut shapes = heapless::Vec::<LayerShape, { lstm_core::file::MAX_LAYERS }>::new();
    let mut weights: Vec<f32> = Vec::new();
    let layer_params = field(params, "layers")?
        .as_array()
        .ok_or_else(|| err("params.layers is not a list"))?;
    if layer_params.len() != layers {
        return Err(err("params.layers does not have num_layers entries"));
    }
    // The `cell` key tells GRU cases apart (absent: LSTM).
    let cell = match case.get("cell").and_then(Value::as_str) {
        None | Some("lstm") => CellKind::Lstm,
        Some("gru") => CellKind::Gru,
        Some(other) => return Err(err(format!("unknown cell `{other}` (lstm or gru)"))),
    };
    for (l, p) in layer_params.iter().enumerate() {
        let layer_in = if l == 0 { input } else { hidden };
        shapes
            .push(LayerShape::recurrent(cell, layer_in as u32, hidden as u32))
            .map_err(|_| err("too many layers"))?;
        weights.extend(flat(p, "weight_ih")?.iter().map(|&w| w as f32));
        weights.extend(flat(p, "weight_hh")?.iter().map(|&w| w as f32));
        let (b_ih, b_hh) = (flat(p, "bias_ih")?, flat(p, "bias_hh")?);
        if b_ih.len() != b_hh.len() {
            return Err(err("bias_ih and bias_hh differ in length"));
        }
        let folded = b_ih.iter().zip(&b_hh).map(|(a, b)| (a + b) as f32);
        match cell {
            // i, f, g, o: one folded bias per gate.
            CellKind::Lstm => weights.extend(folded),
            // r, z folded; n's two biases apart (b_hn sits inside the reset product).
            CellKind::Gru => {
                weights.extend(folded.take(2 * hidden));
                weights.extend(b_ih.iter().skip(2 * hidden).map(|&b| b as f32));
                weights.extend(b_hh.iter().skip(2 * hidden).map(|&b| b as f32));
            }
        }
    }
    let dense = field(params, "dense")?;
    shapes
        .push(LayerShape::Dense {
            input: hidden as u32,
            output: output as u32,
        })
        .map_err(|_| err("too many layers"))?;
    weights.extend(flat(dense, "weight")?.iter().map(|&w| w as f32));
    weights.extend(flat(dense, "bias")?.iter().map(|&w| w as f32));

    let header = Header {
        format: spec.format,
        layers: shapes,
        input_scaling: Scaling::Identity,
        output_scaling: Scaling::Identity,
        mode: spec.mode,
        task: Task::Regression,
        differencing: Differencing::None,
        pool: 1,
    };
    let bytes = to_vec(&header, &weights)?;

    // Held-out inputs: the first sequence of the batch.
    let all_inputs = flat(&case, "inputs")?;
    let first: Vec<f32> = all_inputs
        .get(..steps * input)
        .ok_or_else(|| err("inputs shorter than steps × input_size"))?
        .iter()
        .map(|&x| x as f32)
        .collect();
    let input_bytes: Vec<u8> = first.iter().flat_map(|x| x.to_le_bytes()).collect();

    if let Some(dir) = spec.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&spec.out, &bytes)?;
    let inputs_path = with_suffix(&spec.out, "inputs");
    std::fs::write(&inputs_path, &input_bytes)?;
    Ok(format!(
        "wrote {} ({} bytes, {}, {} parameters, {:?}) and {} ({steps} steps × {input} inputs)",
        spec.out.display(),
        bytes.len(),
        spec.format,
        header.parameter_count().unwrap_or(0),
        spec.mode,
        inputs_path.display()
    ))
}

/// A synthetic model for instruction counts: one recurrent layer of `cell`
/// with `input` inputs and `hidden` units and a Dense(1) head, stateful,
/// weights drawn uniformly from ±1/√H (PyTorch's initialisation) by a fixed
/// generator, and 64 input samples of a sine per feature in `<out>.inputs`.
pub fn make_synthetic(
    cell: CellKind,
    input: u32,
    hidden: u32,
    format: NumberFormat,
    out: &Path,
) -> Result<String> {
    let mut shapes = heapless::Vec::<LayerShape, { lstm_core::file::MAX_LAYERS }>::new();
    let dense = LayerShape::Dense {
        input: hidden,
        output: 1,
    };
    for shape in [LayerShape::recurrent(cell, input, hidden), dense] {
        shapes.push(shape).map_err(|_| err("too many layers"))?;
    }
    let header = Header {
        format,
        layers: shapes,
        input_scaling: Scaling::Identity,
        output_scaling: Scaling::Identity,
        mode: TrainingMode::Stateful,
        task: Task::Regression,
        differencing: Differencing::None,
        pool: 1,
    };
    let count = header
        .parameter_count()
        .ok_or_else(|| err("shape too large"))?;
    let bound = 1.0 / (hidden.max(1) as f32).sqrt();
    // xorshift32: reproducible without a dependency.
    let mut state = 0x2545_f491_u32;
    let weights: Vec<f32> = (0..count)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state as f32 / u32::MAX as f32 * 2.0 - 1.0) * bound
        })
        .collect();
    let bytes = to_vec(&header, &weights)?;
    let steps = 64;
    let inputs: Vec<u8> = (0..steps)
        .flat_map(|t| (0..input).map(move |i| (0.3 * t as f32 + i as f32).sin()))
        .flat_map(f32::to_le_bytes)
        .collect();
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(out, &bytes)?;
    std::fs::write(with_suffix(out, "inputs"), &inputs)?;
    Ok(format!(
        "wrote {} ({} bytes, {cell} {input} -> {hidden}, {format}, {count} parameters, {steps} input samples)",
        out.display(),
        bytes.len()
    ))
}

/// Parses `CELL:IN:H` (e.g. `gru:1:32`).
pub fn parse_shape(s: &str) -> Result<(CellKind, u32, u32)> {
    let bad = || err(format!("shape {s}: expected CELL:IN:H, e.g. gru:1:32"));
    let mut parts = s.split(':');
    let (Some(cell), Some(input), Some(hidden), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let cell = match cell.to_ascii_lowercase().as_str() {
        "lstm" => CellKind::Lstm,
        "gru" => CellKind::Gru,
        _ => return Err(bad()),
    };
    let input = input.parse().ok().filter(|&n| n > 0).ok_or_else(bad)?;
    let hidden = hidden.parse().ok().filter(|&n| n > 0).ok_or_else(bad)?;
    Ok((cell, input, hidden))
}
