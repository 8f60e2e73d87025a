//! ONNX files written by `torch.onnx.export`, read with the `protobuf`
//! crate and Rust types generated from ONNX's own `onnx.proto` (see
//! `onnx/README.md`: the schema's version and licence, and how the code was
//! generated).
//!
//! The graph is followed from its one input to its one output, node by
//! node, keeping track of what each value is:
//!
//! * **the network's data**, with the meaning of each of its axes (batch,
//!   time, features, or an axis of size 1) and the layers it has been
//!   through. The graph's input is `[batch][time][features]`
//!   (`batch_first=True`); `LSTM` / `GRU` nodes (forward direction, either
//!   `layout`) add a recurrent layer, `Gemm` (2-D, `transB` 0 or 1, `alpha`
//!   = `beta` = 1) or `MatMul` + `Add` add the head, `Softmax` (over the
//!   outputs) or `Sigmoid` (on a single output) after the head its
//!   activation; `Transpose`, `Squeeze`, `Unsqueeze`,
//!   `Identity`, `Gather` / `Slice` of the last time step (or of a size-1
//!   axis) move axes around; a `Concat` of the layers' `Y_h` (torch's
//!   `h_n`) is followed by the `Gather` / `Slice` that takes one of them
//!   (`h_n[-1]`: the last layer's last step);
//! * **constants** (initializers, `Constant` nodes): weights, biases, axes
//!   and indices, decoded from `raw_data` (little-endian) or the typed
//!   fields (`float_data`, …); `FLOAT16` / `BFLOAT16` convert exactly,
//!   `DOUBLE` only when every value is an `f32`;
//! * **zeros** (a zero constant through `Expand` / `ConstantOfShape` and the
//!   like): the initial states torch builds;
//! * **anything else** built by the shape plumbing torch emits (`Shape`,
//!   `Gather`, `Concat`, `Unsqueeze`, `Cast`, …): fine as the shape of the
//!   zero state, refused where a value matters.
//!
//! ONNX's gate orders are converted to PyTorch's: LSTM `W` / `R` / `B`
//! blocks i, o, f, c → i, f, g, o; GRU z, r, h → r, z, n (with
//! `linear_before_reset = 1`, PyTorch's GRU). The head runs at the last step
//! when the time axis was taken away before it (output `[batch][OUT]`), at
//! every step otherwise (output `[batch][time][OUT]`).
//!
//! Anything else is refused with [`ImportError::Unsupported`] naming the
//! node (name and op type) and the attribute or input: op types not listed
//! here, other domains, `direction` other than forward, `clip`,
//! non-default `activations`, `linear_before_reset = 0`, `input_forget`,
//! `sequence_lens`, an initial state or peephole that is not zero, data
//! moved in ways that are not the ones above, a second head, a graph with
//! more than one input or output.

mod proto;

use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;

use ndarray::{Array1, Array2};
use protobuf::Message;

use self::proto::attribute_proto::AttributeType;
use self::proto::{AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto};
use super::{HeadActivation, ImportError, ImportedNet};
use crate::net::{CellKind, DenseParams, HeadMode, LayerParams, NetConfig, Params};

/// The format name in [`ImportError::Corrupt`].
const FORMAT: &str = "ONNX (.onnx)";

/// ONNX `TensorProto.DataType` values the reader decodes.
mod dtype {
    pub const FLOAT: i32 = 1;
    pub const INT32: i32 = 6;
    pub const INT64: i32 = 7;
    pub const FLOAT16: i32 = 10;
    pub const DOUBLE: i32 = 11;
    pub const BFLOAT16: i32 = 16;
}

/// An `end` of `Slice` at least this large means "to the end" (torch
/// writes `INT64_MAX`).
const SLICE_TO_END: i64 = i32::MAX as i64;

/// Reads an ONNX model exported by `torch.onnx.export` from a PyTorch
/// `nn.LSTM` / `nn.GRU` (`batch_first=True`) and `nn.Linear` head, with an
/// optional softmax or sigmoid (see the module docs for what is followed
/// and what is refused). `seq_len` is the input's time dimension when the
/// graph fixes it.
///
/// Errors: [`ImportError::Io`] if the file cannot be read,
/// [`ImportError::Corrupt`] if it is not a valid ONNX protobuf or its
/// tensors do not fit together, [`ImportError::Unsupported`] naming the node
/// and attribute for anything the trainer's network cannot hold exactly.
pub fn read_onnx(path: &Path) -> Result<ImportedNet, ImportError> {
    let bytes = crate::io::read(path)?;
    from_bytes(path, &bytes)
}

/// [`read_onnx`] on the file's bytes (`path` names it in errors).
pub(crate) fn from_bytes(path: &Path, bytes: &[u8]) -> Result<ImportedNet, ImportError> {
    let model =
        ModelProto::parse_from_bytes(bytes).map_err(|e| corrupt(path, format!("protobuf: {e}")))?;
    import_model(path, &model)
}

fn corrupt(path: &Path, reason: impl Into<String>) -> ImportError {
    ImportError::corrupt(path, FORMAT, reason)
}

/// The meaning of one axis of the network's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ax {
    /// The batch (samples are independent along it).
    Batch,
    /// The time steps.
    Time,
    /// The features (`Data::feat` of them).
    Feat,
    /// An axis of size 1 (ONNX's `num_directions`, an unsqueezed axis, a
    /// sliced last step).
    One,
}

impl Ax {
    fn name(self) -> &'static str {
        match self {
            Ax::Batch => "batch",
            Ax::Time => "time",
            Ax::Feat => "features",
            Ax::One => "size-1",
        }
    }
}

fn axes_text(axes: &[Ax]) -> String {
    let names: Vec<&str> = axes.iter().map(|a| a.name()).collect();
    format!("[{}]", names.join(", "))
}

/// The head: `y = weight · h + bias`.
#[derive(Clone, Debug)]
struct Head {
    /// `[OUT][H]`.
    weight: Array2<f32>,
    /// `[OUT]`; `None` after a `MatMul` until its `Add`.
    bias: Option<Array1<f32>>,
}

/// The network's data at some point of the graph.
#[derive(Clone, Debug)]
struct Data {
    axes: Vec<Ax>,
    /// Size of the `Feat` axis.
    feat: usize,
    /// Recurrent layers it went through, indices into `Importer::layers`.
    layers: Vec<usize>,
    head: Option<Head>,
    activation: Option<HeadActivation>,
}

/// Data values concatenated along `axis`, a size-1 axis of each.
#[derive(Clone, Debug)]
struct Stack {
    parts: Vec<Data>,
    axis: usize,
}

/// A decoded constant tensor.
#[derive(Clone, Debug)]
struct Tensor {
    dims: Vec<usize>,
    elems: Elems,
}

#[derive(Clone, Debug)]
enum Elems {
    F32(Vec<f32>),
    I64(Vec<i64>),
}

impl Tensor {
    fn is_zero(&self) -> bool {
        match &self.elems {
            Elems::F32(v) => v.iter().all(|&x| x == 0.0),
            Elems::I64(v) => v.iter().all(|&x| x == 0),
        }
    }
}

/// Why a constant could not be decoded (reported only where it is used).
#[derive(Clone, Debug)]
enum DecodeError {
    Corrupt(String),
    Unsupported(String),
}

/// A constant: where it comes from (for messages) and its decoded value.
#[derive(Debug)]
struct Const {
    what: String,
    value: Result<Tensor, DecodeError>,
}

/// What a value of the graph is.
#[derive(Clone, Debug)]
enum Value {
    Data(Box<Data>),
    /// The network's data from several points (`Concat` of the recurrent
    /// layers' `Y_h`, as torch builds `h_n`), stacked along a size-1 axis;
    /// only one element of it can be taken (`Gather`, `Slice`).
    Stack(Box<Stack>),
    Const(Rc<Const>),
    /// All zeros, shape unknown.
    Zeros,
    /// Built from shapes or constants in a way not followed (only usable
    /// as a shape).
    Opaque,
}

impl Value {
    fn is_zero(&self) -> bool {
        match self {
            Value::Zeros => true,
            Value::Const(c) => c.value.as_ref().is_ok_and(Tensor::is_zero),
            Value::Data(_) | Value::Stack(_) | Value::Opaque => false,
        }
    }
}

/// A recurrent layer read from an `LSTM` / `GRU` node.
struct Layer {
    node: String,
    cell: CellKind,
    params: LayerParams<f32>,
}

struct Importer<'p> {
    path: &'p Path,
    opset: i64,
    values: HashMap<String, Value>,
    layers: Vec<Layer>,
    /// The graph input's fixed time dimension.
    seq_len: Option<usize>,
}

/// The default-domain opset of `model`.
fn default_opset(path: &Path, model: &ModelProto) -> Result<i64, ImportError> {
    model
        .opset_import
        .iter()
        .find(|o| matches!(o.domain(), "" | "ai.onnx"))
        .map(|o| o.version())
        .ok_or_else(|| corrupt(path, "no opset_import for the default ONNX domain"))
}

fn import_model(path: &Path, model: &ModelProto) -> Result<ImportedNet, ImportError> {
    let opset = default_opset(path, model)?;
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| corrupt(path, "the model has no graph"))?;
    let mut imp = Importer {
        path,
        opset,
        values: HashMap::new(),
        layers: Vec::new(),
        seq_len: None,
    };
    imp.run(graph)
}

/// A node's label in messages: `node '/rnn/LSTM' (LSTM)`.
fn node_label(node: &NodeProto, index: usize) -> String {
    if node.name().is_empty() {
        format!("node #{index} ({})", node.op_type())
    } else {
        format!("node '{}' ({})", node.name(), node.op_type())
    }
}

impl Importer<'_> {
    fn run(&mut self, graph: &GraphProto) -> Result<ImportedNet, ImportError> {
        for init in &graph.initializer {
            let what = format!("initializer '{}'", init.name());
            let value = Value::Const(Rc::new(Const {
                value: decode(init),
                what,
            }));
            self.values.insert(init.name().to_string(), value);
        }
        if !graph.sparse_initializer.is_empty() {
            return Err(ImportError::unsupported(
                self.path,
                "graph",
                "sparse initializers are not supported",
            ));
        }
        // The one true input (inputs that have an initializer are constants
        // with a default, as older exporters list them).
        let mut inputs = graph
            .input
            .iter()
            .filter(|i| !self.values.contains_key(i.name()));
        let input = inputs.next().ok_or_else(|| {
            ImportError::unsupported(self.path, "graph", "the graph has no input")
        })?;
        if let Some(other) = inputs.next() {
            return Err(ImportError::unsupported(
                self.path,
                format!("graph input '{}'", other.name()),
                format!(
                    "a second input besides '{}' (an initial state or another input given at \
                     run time); one input [batch, time, features] is supported",
                    input.name()
                ),
            ));
        }
        let data = self.input_data(input)?;
        self.values
            .insert(input.name().to_string(), Value::Data(Box::new(data)));

        for (index, node) in graph.node.iter().enumerate() {
            let label = node_label(node, index);
            let outputs = self.node(node, &label)?;
            for (i, name) in node.output.iter().enumerate() {
                if name.is_empty() {
                    continue;
                }
                let v = outputs.get(i).cloned().unwrap_or(Value::Opaque);
                if self.values.insert(name.clone(), v).is_some() {
                    return Err(corrupt(
                        self.path,
                        format!("{label}: output '{name}' is defined twice"),
                    ));
                }
            }
        }

        let [output] = graph.output.as_slice() else {
            let names: Vec<&str> = graph.output.iter().map(|o| o.name()).collect();
            return Err(ImportError::unsupported(
                self.path,
                "graph outputs",
                format!(
                    "{} outputs {names:?}; one output (the head's) is supported",
                    names.len()
                ),
            ));
        };
        let item = format!("graph output '{}'", output.name());
        let data = match self.values.get(output.name()) {
            Some(Value::Data(d)) => d.as_ref().clone(),
            Some(Value::Stack(_)) => {
                return Err(ImportError::unsupported(
                    self.path,
                    item,
                    "is a Concat of recurrent layers' states, not a head's output",
                ))
            }
            Some(_) => {
                return Err(ImportError::unsupported(
                    self.path,
                    item,
                    "is not computed from the graph's input",
                ))
            }
            None => {
                return Err(corrupt(
                    self.path,
                    format!("{item} is not produced by any node"),
                ))
            }
        };
        self.finish(data, &item)
    }

    /// The graph input as the network's data `[batch, time, features]`.
    fn input_data(&mut self, input: &proto::ValueInfoProto) -> Result<Data, ImportError> {
        use proto::tensor_shape_proto::dimension::Value as Dim;
        use proto::type_proto::Value as Type;
        let item = format!("graph input '{}'", input.name());
        let tensor = match input.type_.as_ref().and_then(|t| t.value.as_ref()) {
            Some(Type::TensorType(t)) => t,
            _ => return Err(ImportError::unsupported(self.path, item, "is not a tensor")),
        };
        if tensor.elem_type() != dtype::FLOAT {
            return Err(ImportError::unsupported(
                self.path,
                item,
                format!("element type {} (only FLOAT, 1)", tensor.elem_type()),
            ));
        }
        let dims: Vec<Option<i64>> = match tensor.shape.as_ref() {
            Some(s) => s
                .dim
                .iter()
                .map(|d| match d.value {
                    Some(Dim::DimValue(v)) => Some(v),
                    _ => None,
                })
                .collect(),
            None => Vec::new(),
        };
        let feat = match dims.as_slice() {
            [_, _, Some(f)] if *f > 0 => usize::try_from(*f).ok(),
            _ => None,
        };
        let Some(feat) = feat else {
            return Err(ImportError::unsupported(
                self.path,
                item,
                format!(
                    "shape {dims:?}: expected [batch, time, features] with a fixed number of \
                     features (batch_first=True)"
                ),
            ));
        };
        self.seq_len = match dims[1] {
            Some(t) if t > 0 => usize::try_from(t).ok(),
            _ => None,
        };
        Ok(Data {
            axes: vec![Ax::Batch, Ax::Time, Ax::Feat],
            feat,
            layers: Vec::new(),
            head: None,
            activation: None,
        })
    }

    /// The imported network from the graph output's data.
    fn finish(&self, data: Data, item: &str) -> Result<ImportedNet, ImportError> {
        let Some(head) = data.head else {
            return Err(ImportError::unsupported(
                self.path,
                item,
                "has no head: a Gemm or MatMul after the last recurrent layer is needed",
            ));
        };
        let head_mode = match data.axes.as_slice() {
            [Ax::Batch, Ax::Feat] => HeadMode::LastStep,
            [Ax::Batch, Ax::Time, Ax::Feat] => HeadMode::EveryStep,
            other => {
                return Err(ImportError::unsupported(
                    self.path,
                    item,
                    format!(
                        "has axes {}; [batch, features] (head at the last step) or [batch, \
                         time, features] (head at every step) is supported",
                        axes_text(other)
                    ),
                ))
            }
        };
        let mut cell = None;
        let mut layers = Vec::with_capacity(data.layers.len());
        let mut hidden_sizes = Vec::with_capacity(data.layers.len());
        let mut first_node = String::new();
        let mut input_size = 0;
        for &i in &data.layers {
            let layer = &self.layers[i];
            match cell {
                None => {
                    cell = Some(layer.cell);
                    first_node = layer.node.clone();
                    input_size = layer.params.input_size();
                }
                Some(c) if c != layer.cell => {
                    return Err(ImportError::unsupported(
                        self.path,
                        format!("{} and {}", first_node, layer.node),
                        "the network mixes LSTM and GRU layers; one cell for the whole stack is \
                         supported",
                    ))
                }
                Some(_) => {}
            }
            hidden_sizes.push(layer.params.hidden_size());
            layers.push(layer.params.clone());
        }
        let Some(cell) = cell else {
            return Err(ImportError::unsupported(
                self.path,
                item,
                "the head is not after an LSTM or GRU layer",
            ));
        };
        let output_size = head.weight.nrows();
        let bias = head.bias.unwrap_or_else(|| Array1::zeros(output_size));
        let net = NetConfig {
            cell,
            input_size,
            hidden_sizes,
            output_size,
            head: head_mode,
            dropout: 0.0,
            unit_forget_bias: false,
        };
        let params = Params {
            layers,
            dense: DenseParams {
                weight: head.weight,
                bias,
            },
        };
        params
            .check_config(&net)
            .map_err(|e| corrupt(self.path, e.to_string()))?;
        Ok(ImportedNet {
            net,
            params,
            head_activation: data.activation.unwrap_or(HeadActivation::Linear),
            seq_len: self.seq_len,
        })
    }

    /// Input `i` of `node`, `None` when absent (past the end or named "").
    fn input<'v>(
        &'v self,
        node: &NodeProto,
        label: &str,
        i: usize,
    ) -> Result<Option<&'v Value>, ImportError> {
        match node.input.get(i) {
            None => Ok(None),
            Some(name) if name.is_empty() => Ok(None),
            Some(name) => self.values.get(name).map(Some).ok_or_else(|| {
                corrupt(
                    self.path,
                    format!(
                        "{label}: input '{name}' is not defined before the node (not an \
                         initializer, the graph input or an earlier node's output)"
                    ),
                )
            }),
        }
    }

    /// One node: the values of its outputs (fewer than its outputs: the
    /// rest are [`Value::Opaque`]).
    fn node(&mut self, node: &NodeProto, label: &str) -> Result<Vec<Value>, ImportError> {
        if !matches!(node.domain(), "" | "ai.onnx") {
            return Err(ImportError::unsupported(
                self.path,
                label,
                format!(
                    "operator domain '{}' (only the default ONNX domain)",
                    node.domain()
                ),
            ));
        }
        let mut inputs = Vec::with_capacity(node.input.len());
        for i in 0..node.input.len() {
            inputs.push(self.input(node, label, i)?.cloned());
        }
        let data_at: Vec<usize> = inputs
            .iter()
            .enumerate()
            .filter(|(_, v)| matches!(v, Some(Value::Data(_) | Value::Stack(_))))
            .map(|(i, _)| i)
            .collect();
        let mut attrs = Attrs::new(self.path, label, node)?;
        let op = node.op_type();
        let out = if data_at.is_empty() {
            self.plumbing(op, &inputs, &mut attrs, label)?
        } else {
            self.data_op(op, &inputs, &data_at, &mut attrs, label)?
        };
        attrs.finish()?;
        Ok(out)
    }

    /// A node that does not touch the network's data.
    fn plumbing(
        &self,
        op: &str,
        inputs: &[Option<Value>],
        attrs: &mut Attrs<'_>,
        label: &str,
    ) -> Result<Vec<Value>, ImportError> {
        let first = inputs.first().cloned().flatten();
        let first_zero = first.as_ref().is_some_and(Value::is_zero);
        let v = match op {
            "Constant" => {
                attrs.ignore_rest();
                self.constant(attrs.node, label)
            }
            "ConstantOfShape" => {
                let zero = match attrs.tensor("value")? {
                    None => true,
                    Some(t) => decode(t).is_ok_and(|t| t.is_zero()),
                };
                if zero {
                    Value::Zeros
                } else {
                    Value::Opaque
                }
            }
            "Identity" => first.unwrap_or(Value::Opaque),
            "Transpose" => {
                let perm = attrs.ints("perm")?;
                match (&first, perm.as_deref()) {
                    (Some(Value::Const(c)), None | Some([1, 0])) => transpose_const(c),
                    _ if first_zero => Value::Zeros,
                    _ => Value::Opaque,
                }
            }
            "Expand" | "Unsqueeze" | "Squeeze" | "Reshape" | "Slice" | "Gather" | "Cast" => {
                attrs.ignore_rest();
                if first_zero {
                    Value::Zeros
                } else {
                    Value::Opaque
                }
            }
            "Concat" => {
                attrs.ignore_rest();
                if !inputs.is_empty()
                    && inputs
                        .iter()
                        .all(|v| v.as_ref().is_some_and(Value::is_zero))
                {
                    Value::Zeros
                } else {
                    Value::Opaque
                }
            }
            "Shape" | "Gemm" | "MatMul" | "Add" | "Softmax" | "Sigmoid" => {
                attrs.ignore_rest();
                Value::Opaque
            }
            "LSTM" | "GRU" => {
                return Err(ImportError::unsupported(
                    self.path,
                    label,
                    "input X is not computed from the graph's input",
                ))
            }
            other => return Err(self.unknown_op(other, label)),
        };
        Ok(vec![v])
    }

    fn unknown_op(&self, op: &str, label: &str) -> ImportError {
        ImportError::unsupported(
            self.path,
            label,
            format!(
                "op type '{op}' is not supported (supported: LSTM, GRU, Gemm, MatMul, Add, \
                 Softmax, Sigmoid, and Shape, Gather, Concat, Expand, ConstantOfShape, \
                 Unsqueeze, Squeeze, Transpose, Slice, Constant, Identity, Cast, Reshape to \
                 build shapes)"
            ),
        )
    }

    /// A `Constant` node's value.
    fn constant(&self, node: &NodeProto, label: &str) -> Value {
        let Some(a) = node.attribute.first() else {
            return Value::Opaque;
        };
        let what = format!("{label} value");
        let value = match a.name() {
            "value" => match a.t.as_ref() {
                Some(t) => decode(t),
                None => Err(DecodeError::Corrupt(
                    "attribute 'value' has no tensor".into(),
                )),
            },
            "value_float" => Ok(Tensor {
                dims: vec![],
                elems: Elems::F32(vec![a.f()]),
            }),
            "value_floats" => Ok(Tensor {
                dims: vec![a.floats.len()],
                elems: Elems::F32(a.floats.clone()),
            }),
            "value_int" => Ok(Tensor {
                dims: vec![],
                elems: Elems::I64(vec![a.i()]),
            }),
            "value_ints" => Ok(Tensor {
                dims: vec![a.ints.len()],
                elems: Elems::I64(a.ints.clone()),
            }),
            _ => return Value::Opaque,
        };
        Value::Const(Rc::new(Const { what, value }))
    }

    /// A node with the network's data among its inputs.
    fn data_op(
        &mut self,
        op: &str,
        inputs: &[Option<Value>],
        data_at: &[usize],
        attrs: &mut Attrs<'_>,
        label: &str,
    ) -> Result<Vec<Value>, ImportError> {
        if op == "Shape" {
            attrs.ignore_rest();
            return Ok(vec![Value::Opaque]);
        }
        if op == "Concat" {
            return self.concat(inputs, data_at, attrs, label);
        }
        if let Some(Some(Value::Stack(stack))) = inputs.first() {
            if data_at == [0] {
                return self.stack_op(op, stack, inputs, attrs, label);
            }
        }
        // Every other op takes the data as its first input only (Add: either).
        let data_input = if op == "Add" && data_at == [1] { 1 } else { 0 };
        if data_at != [data_input] {
            return Err(ImportError::unsupported(
                self.path,
                label,
                format!(
                    "takes the network's data as input {} (inputs {data_at:?} are computed from \
                     the graph's input); the importer follows one chain of layers",
                    data_at.first().copied().unwrap_or(0)
                ),
            ));
        }
        let Some(Value::Data(data)) = inputs.get(data_input).cloned().flatten() else {
            return Err(ImportError::unsupported(
                self.path,
                label,
                "takes a Concat of the network's data; only one element of it can be taken \
                 (Gather, Slice)",
            ));
        };
        let mut d = *data;
        let rank = d.axes.len();
        let out = match op {
            "Identity" => Value::Data(Box::new(d)),
            "Cast" => {
                let to = attrs.int("to")?;
                if to != Some(i64::from(dtype::FLOAT)) {
                    return Err(ImportError::unsupported(
                        self.path,
                        label,
                        format!("attribute 'to' = {to:?}: casts the data to another type"),
                    ));
                }
                Value::Data(Box::new(d))
            }
            "Transpose" => {
                let perm = match attrs.ints("perm")? {
                    Some(p) => p,
                    None => (0..rank as i64).rev().collect(),
                };
                let mut seen = vec![false; rank];
                let mut axes = Vec::with_capacity(rank);
                for &p in &perm {
                    match usize::try_from(p).ok().filter(|&p| p < rank && !seen[p]) {
                        Some(p) => {
                            seen[p] = true;
                            axes.push(d.axes[p]);
                        }
                        None => {
                            return Err(corrupt(
                                self.path,
                                format!(
                                    "{label}: perm {perm:?} is not a permutation of {rank} axes"
                                ),
                            ))
                        }
                    }
                }
                if axes.len() != rank {
                    return Err(corrupt(
                        self.path,
                        format!("{label}: perm {perm:?} is not a permutation of {rank} axes"),
                    ));
                }
                d.axes = axes;
                Value::Data(Box::new(d))
            }
            "Squeeze" => {
                let axes = self.axes_arg(attrs, inputs, label)?.ok_or_else(|| {
                    ImportError::unsupported(
                        self.path,
                        label,
                        "Squeeze without axes (what it removes would depend on the batch size)",
                    )
                })?;
                let mut remove = self.normalize_axes(&axes, rank, label)?;
                remove.sort_unstable();
                remove.dedup();
                for &a in remove.iter().rev() {
                    if d.axes[a] != Ax::One {
                        return Err(ImportError::unsupported(
                            self.path,
                            label,
                            format!(
                                "squeezes axis {a}, the {} axis of data {}",
                                d.axes[a].name(),
                                axes_text(&d.axes)
                            ),
                        ));
                    }
                    d.axes.remove(a);
                }
                Value::Data(Box::new(d))
            }
            "Unsqueeze" => {
                let axes = self.axes_arg(attrs, inputs, label)?.ok_or_else(|| {
                    corrupt(self.path, format!("{label}: Unsqueeze without axes"))
                })?;
                let mut at = self.normalize_axes(&axes, rank + axes.len(), label)?;
                at.sort_unstable();
                at.dedup();
                if at.len() != axes.len() {
                    return Err(corrupt(
                        self.path,
                        format!("{label}: repeated axes {axes:?}"),
                    ));
                }
                for a in at {
                    d.axes.insert(a, Ax::One);
                }
                Value::Data(Box::new(d))
            }
            "Gather" => {
                let axis = attrs.int("axis")?.unwrap_or(0);
                let axis = self.normalize_axes(&[axis], rank, label)?[0];
                let (index, keep) = self.gather_index(inputs, label)?;
                let ok = match d.axes[axis] {
                    Ax::Time => self.is_last_step(index),
                    Ax::One => index == 0 || index == -1,
                    Ax::Batch | Ax::Feat => false,
                };
                if !ok {
                    return Err(ImportError::unsupported(
                        self.path,
                        label,
                        format!(
                            "takes index {index} of the {} axis of data {} (only the last time \
                             step, or the element of a size-1 axis)",
                            d.axes[axis].name(),
                            axes_text(&d.axes)
                        ),
                    ));
                }
                if keep {
                    d.axes[axis] = Ax::One;
                } else {
                    d.axes.remove(axis);
                }
                Value::Data(Box::new(d))
            }
            "Slice" => {
                self.slice(&mut d, inputs, attrs, label)?;
                Value::Data(Box::new(d))
            }
            "LSTM" | "GRU" => return self.recurrent(op, d, inputs, attrs, label),
            "Gemm" => {
                self.check_head_input(&d, label)?;
                if d.axes != [Ax::Batch, Ax::Feat] {
                    return Err(ImportError::unsupported(
                        self.path,
                        label,
                        format!(
                            "input A has axes {}; [batch, features] is supported",
                            axes_text(&d.axes)
                        ),
                    ));
                }
                if attrs.int("transA")?.unwrap_or(0) != 0 {
                    return Err(ImportError::unsupported(
                        self.path,
                        label,
                        "attribute 'transA' = 1",
                    ));
                }
                let trans_b = i64::from(attrs.int("transB")?.unwrap_or(0) != 0);
                for name in ["alpha", "beta"] {
                    let v = attrs.float(name)?.unwrap_or(1.0);
                    if v != 1.0 {
                        return Err(ImportError::unsupported(
                            self.path,
                            label,
                            format!("attribute '{name}' = {v} (only 1)"),
                        ));
                    }
                }
                let b = self.const_f32(inputs.get(1), label, "B")?;
                let weight = match (b.dims.as_slice(), trans_b) {
                    ([out, h], 1) => matrix(self.path, *out, *h, b.elems)?,
                    ([h, out], 0) => matrix(self.path, *h, *out, b.elems)?.reversed_axes(),
                    (dims, t) => {
                        return Err(corrupt(
                            self.path,
                            format!("{label}: B has shape {dims:?} (transB = {t}), expected 2-D"),
                        ))
                    }
                };
                let weight = weight.as_standard_layout().into_owned();
                self.check_weight(&weight, d.feat, label, "B")?;
                let out = weight.nrows();
                let bias = match inputs.get(2).cloned().flatten() {
                    None => Array1::zeros(out),
                    Some(_) => {
                        let c = self.const_f32(inputs.get(2), label, "C")?;
                        self.bias_vector(c, &[Ax::Batch, Ax::Feat], out, label, "C")?
                    }
                };
                d.axes = vec![Ax::Batch, Ax::Feat];
                d.feat = out;
                d.head = Some(Head {
                    weight,
                    bias: Some(bias),
                });
                Value::Data(Box::new(d))
            }
            "MatMul" => {
                self.check_head_input(&d, label)?;
                if d.axes.last() != Some(&Ax::Feat) {
                    return Err(ImportError::unsupported(
                        self.path,
                        label,
                        format!(
                            "input A has axes {}: the features must be the last axis",
                            axes_text(&d.axes)
                        ),
                    ));
                }
                let b = self.const_f32(inputs.get(1), label, "B")?;
                let weight = match b.dims.as_slice() {
                    [h, out] => matrix(self.path, *h, *out, b.elems)?.reversed_axes(),
                    dims => {
                        return Err(ImportError::unsupported(
                            self.path,
                            label,
                            format!(
                                "input B has shape {dims:?}; a 2-D weight [H, OUT] is supported"
                            ),
                        ))
                    }
                };
                let weight = weight.as_standard_layout().into_owned();
                self.check_weight(&weight, d.feat, label, "B")?;
                d.feat = weight.nrows();
                d.head = Some(Head { weight, bias: None });
                Value::Data(Box::new(d))
            }
            "Add" => {
                let other = inputs.get(1 - data_input);
                let feat = d.feat;
                let axes = d.axes.clone();
                match &mut d.head {
                    Some(Head { bias: b @ None, .. }) if d.activation.is_none() => {
                        let c = self.const_f32(other, label, "the bias")?;
                        *b = Some(self.bias_vector(c, &axes, feat, label, "the bias")?);
                    }
                    _ => {
                        return Err(ImportError::unsupported(
                            self.path,
                            label,
                            "Add is supported only as the bias right after the head's MatMul",
                        ))
                    }
                }
                Value::Data(Box::new(d))
            }
            "Softmax" | "Sigmoid" => {
                if d.head.is_none() || d.activation.is_some() {
                    return Err(ImportError::unsupported(
                        self.path,
                        label,
                        format!(
                            "{op} is supported only right after the head (Gemm, or MatMul + Add)"
                        ),
                    ));
                }
                if op == "Softmax" {
                    let default = if self.opset >= 13 { -1 } else { 1 };
                    let axis = attrs.int("axis")?.unwrap_or(default);
                    let axis = self.normalize_axes(&[axis], rank, label)?[0];
                    let last_ok = self.opset >= 13 || axis + 1 == rank;
                    if d.axes[axis] != Ax::Feat || !last_ok {
                        return Err(ImportError::unsupported(
                            self.path,
                            label,
                            format!(
                                "attribute 'axis' = {axis} on data {}: softmax over the outputs \
                                 (the last axis) is supported",
                                axes_text(&d.axes)
                            ),
                        ));
                    }
                    d.activation = Some(HeadActivation::Softmax);
                } else {
                    if d.feat != 1 {
                        return Err(ImportError::unsupported(
                            self.path,
                            label,
                            format!(
                                "Sigmoid over {} outputs (multi-label); a sigmoid head is \
                                 supported on a single output (binary classification)",
                                d.feat
                            ),
                        ));
                    }
                    d.activation = Some(HeadActivation::Sigmoid);
                }
                Value::Data(Box::new(d))
            }
            other => {
                return Err(match other {
                    "Shape" | "Concat" | "Expand" | "ConstantOfShape" | "Reshape" | "Constant" => {
                        ImportError::unsupported(
                            self.path,
                            label,
                            format!("{other} on the network's data is not supported"),
                        )
                    }
                    _ => self.unknown_op(other, label),
                })
            }
        };
        Ok(vec![out])
    }

    /// A `Gather`'s one index and whether it keeps the axis (`indices` of
    /// shape `[1]`) or removes it (a scalar).
    fn gather_index(
        &self,
        inputs: &[Option<Value>],
        label: &str,
    ) -> Result<(i64, bool), ImportError> {
        let idx = self.const_of(inputs.get(1), label, "indices")?;
        match (&idx.elems, idx.dims.as_slice()) {
            (Elems::I64(v), []) if v.len() == 1 => Ok((v[0], false)),
            (Elems::I64(v), [1]) if v.len() == 1 => Ok((v[0], true)),
            _ => Err(ImportError::unsupported(
                self.path,
                label,
                format!(
                    "indices of shape {:?}: one integer index is supported",
                    idx.dims
                ),
            )),
        }
    }

    /// `Concat` of the network's data: a [`Stack`], when every input is
    /// data with the same axes and the axis is a size-1 one.
    fn concat(
        &self,
        inputs: &[Option<Value>],
        data_at: &[usize],
        attrs: &mut Attrs<'_>,
        label: &str,
    ) -> Result<Vec<Value>, ImportError> {
        let refuse = |why: String| {
            ImportError::unsupported(
                self.path,
                label,
                format!(
                    "{why}; Concat of the network's data is supported only to stack \
                     recurrent layers' Y_h (h_n), of which one is then taken"
                ),
            )
        };
        if data_at.len() != inputs.len() {
            return Err(refuse("concatenates the data with other values".into()));
        }
        let mut parts = Vec::with_capacity(inputs.len());
        for v in inputs {
            match v {
                Some(Value::Data(d)) => parts.push(d.as_ref().clone()),
                _ => return Err(refuse("concatenates stacks".into())),
            }
        }
        let Some(axis) = attrs.int("axis")? else {
            return Err(corrupt(
                self.path,
                format!("{label}: Concat without 'axis'"),
            ));
        };
        let first = &parts[0];
        let axis = self.normalize_axes(&[axis], first.axes.len(), label)?[0];
        if first.axes[axis] != Ax::One {
            return Err(refuse(format!(
                "concatenates along the {} axis of data {}",
                first.axes[axis].name(),
                axes_text(&first.axes)
            )));
        }
        if let Some(p) = parts
            .iter()
            .find(|p| p.axes != first.axes || p.feat != first.feat)
        {
            return Err(refuse(format!(
                "inputs with axes {} ({} features) and {} ({} features)",
                axes_text(&first.axes),
                first.feat,
                axes_text(&p.axes),
                p.feat
            )));
        }
        Ok(vec![Value::Stack(Box::new(Stack { parts, axis }))])
    }

    /// An op on a [`Stack`]: `Identity`, or taking one element (`Gather`
    /// of one index, `Slice` of the last element) along its axis.
    fn stack_op(
        &self,
        op: &str,
        stack: &Stack,
        inputs: &[Option<Value>],
        attrs: &mut Attrs<'_>,
        label: &str,
    ) -> Result<Vec<Value>, ImportError> {
        let n = stack.parts.len() as i64;
        let rank = stack.parts[0].axes.len();
        let (index, keep, axis) = match op {
            "Identity" => return Ok(vec![Value::Stack(Box::new(stack.clone()))]),
            "Gather" => {
                let axis = attrs.int("axis")?.unwrap_or(0);
                let axis = self.normalize_axes(&[axis], rank, label)?[0];
                let (index, keep) = self.gather_index(inputs, label)?;
                (index, keep, axis)
            }
            "Slice" if !attrs.has("starts") => {
                let starts =
                    self.ints_of(inputs.get(1).and_then(Option::as_ref), label, "starts")?;
                let ends = self.ints_of(inputs.get(2).and_then(Option::as_ref), label, "ends")?;
                let axes = match inputs.get(3).cloned().flatten() {
                    None => vec![0],
                    some => self.ints_of(some.as_ref(), label, "axes")?,
                };
                let steps = match inputs.get(4).cloned().flatten() {
                    None => vec![1],
                    some => self.ints_of(some.as_ref(), label, "steps")?,
                };
                match (&starts[..], &ends[..], &axes[..], &steps[..]) {
                    (&[start], &[end], &[axis], &[1])
                        if (start == -1 || start == n - 1) && end >= n =>
                    {
                        (start, true, self.normalize_axes(&[axis], rank, label)?[0])
                    }
                    _ => {
                        return Err(ImportError::unsupported(
                            self.path,
                            label,
                            "slices a Concat of the network's data other than to its last element",
                        ))
                    }
                }
            }
            other => {
                return Err(ImportError::unsupported(
                    self.path,
                    label,
                    format!(
                        "{other} on a Concat of the network's data; only one element of it can \
                         be taken (Gather, Slice)"
                    ),
                ))
            }
        };
        if axis != stack.axis {
            return Err(ImportError::unsupported(
                self.path,
                label,
                format!(
                    "takes from axis {axis} of a Concat along axis {}",
                    stack.axis
                ),
            ));
        }
        let i = if index < 0 { index + n } else { index };
        let Some(part) = usize::try_from(i).ok().and_then(|i| stack.parts.get(i)) else {
            return Err(corrupt(
                self.path,
                format!("{label}: index {index} out of range for {n} elements"),
            ));
        };
        let mut d = part.clone();
        if !keep {
            d.axes.remove(axis);
        }
        Ok(vec![Value::Data(Box::new(d))])
    }

    fn check_head_input(&self, d: &Data, label: &str) -> Result<(), ImportError> {
        if d.head.is_some() {
            return Err(ImportError::unsupported(
                self.path,
                label,
                "a second Dense layer after the head; one head is supported",
            ));
        }
        if d.layers.is_empty() {
            return Err(ImportError::unsupported(
                self.path,
                label,
                "a Dense layer before any LSTM or GRU layer",
            ));
        }
        Ok(())
    }

    fn check_weight(
        &self,
        w: &Array2<f32>,
        feat: usize,
        label: &str,
        what: &str,
    ) -> Result<(), ImportError> {
        if w.ncols() != feat || w.nrows() == 0 {
            return Err(corrupt(
                self.path,
                format!(
                    "{label}: {what} maps {} inputs to {} outputs, the data has {feat} features",
                    w.ncols(),
                    w.nrows()
                ),
            ));
        }
        Ok(())
    }

    /// A bias constant that broadcasts over data with `axes` along the
    /// features only: its shape, padded on the left, is 1 everywhere but on
    /// the features axis, where it is `out` (or 1: one value for all).
    fn bias_vector(
        &self,
        c: Tensor,
        axes: &[Ax],
        out: usize,
        label: &str,
        what: &str,
    ) -> Result<Array1<f32>, ImportError> {
        let Elems::F32(v) = c.elems else {
            return Err(corrupt(self.path, format!("{label}: {what} is not FLOAT")));
        };
        let fits = c.dims.len() <= axes.len()
            && c.dims
                .iter()
                .rev()
                .zip(axes.iter().rev())
                .all(|(&n, &ax)| n == 1 || (ax == Ax::Feat && n == out));
        if !fits {
            return Err(ImportError::unsupported(
                self.path,
                label,
                format!(
                    "{what} of shape {:?} on data {} with {out} outputs: a bias over the outputs \
                     is supported",
                    c.dims,
                    axes_text(axes)
                ),
            ));
        }
        Ok(match v.as_slice() {
            [one] => Array1::from_elem(out, *one),
            _ => Array1::from_vec(v),
        })
    }

    /// `Squeeze` / `Unsqueeze` axes: the attribute (opset < 13) or input 1.
    fn axes_arg(
        &self,
        attrs: &mut Attrs<'_>,
        inputs: &[Option<Value>],
        label: &str,
    ) -> Result<Option<Vec<i64>>, ImportError> {
        if let Some(a) = attrs.ints("axes")? {
            return Ok(Some(a));
        }
        match inputs.get(1).cloned().flatten() {
            None => Ok(None),
            some => Ok(Some(self.ints_of(some.as_ref(), label, "axes")?)),
        }
    }

    /// Axes in `[-rank, rank)` made non-negative.
    fn normalize_axes(
        &self,
        axes: &[i64],
        rank: usize,
        label: &str,
    ) -> Result<Vec<usize>, ImportError> {
        axes.iter()
            .map(|&a| {
                let r = rank as i64;
                let n = if a < 0 { a + r } else { a };
                usize::try_from(n)
                    .ok()
                    .filter(|&n| n < rank)
                    .ok_or_else(|| {
                        corrupt(
                            self.path,
                            format!("{label}: axis {a} out of range for rank {rank}"),
                        )
                    })
            })
            .collect()
    }

    /// Whether `index` on the time axis is the last step.
    fn is_last_step(&self, index: i64) -> bool {
        index == -1 || self.seq_len.is_some_and(|t| index == t as i64 - 1)
    }

    fn slice(
        &self,
        d: &mut Data,
        inputs: &[Option<Value>],
        attrs: &mut Attrs<'_>,
        label: &str,
    ) -> Result<(), ImportError> {
        let rank = d.axes.len();
        let (starts, ends, axes, steps) = match attrs.ints("starts")? {
            Some(starts) => {
                let ends = attrs.ints("ends")?.unwrap_or_default();
                let axes = attrs.ints("axes")?;
                (starts, ends, axes, None)
            }
            None => {
                let starts =
                    self.ints_of(inputs.get(1).and_then(Option::as_ref), label, "starts")?;
                let ends = self.ints_of(inputs.get(2).and_then(Option::as_ref), label, "ends")?;
                let axes = match inputs.get(3).cloned().flatten() {
                    None => None,
                    some => Some(self.ints_of(some.as_ref(), label, "axes")?),
                };
                let steps = match inputs.get(4).cloned().flatten() {
                    None => None,
                    some => Some(self.ints_of(some.as_ref(), label, "steps")?),
                };
                (starts, ends, axes, steps)
            }
        };
        let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
        let steps = steps.unwrap_or_else(|| vec![1; starts.len()]);
        if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
            return Err(corrupt(
                self.path,
                format!("{label}: starts, ends, axes and steps differ in length"),
            ));
        }
        let axes = self.normalize_axes(&axes, rank, label)?;
        for (((&start, &end), &axis), &step) in starts.iter().zip(&ends).zip(&axes).zip(&steps) {
            let len = match d.axes[axis] {
                Ax::Time => self.seq_len,
                Ax::Feat => Some(d.feat),
                Ax::One => Some(1),
                Ax::Batch => None,
            };
            let to_end = end >= SLICE_TO_END || len.is_some_and(|n| end >= n as i64);
            let from_start = start == 0 || len.is_some_and(|n| start <= -(n as i64));
            let whole = step == 1 && from_start && to_end;
            let last = step == 1 && d.axes[axis] == Ax::Time && self.is_last_step(start) && to_end;
            if last {
                d.axes[axis] = Ax::One;
            } else if !whole {
                return Err(ImportError::unsupported(
                    self.path,
                    label,
                    format!(
                        "slices [{start}:{end}:{step}] of the {} axis of data {} (only the last \
                         time step, or a whole axis)",
                        d.axes[axis].name(),
                        axes_text(&d.axes)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The decoded constant behind input `v`, refusing anything else.
    fn const_of(
        &self,
        v: Option<&Option<Value>>,
        label: &str,
        what: &str,
    ) -> Result<Tensor, ImportError> {
        match v.cloned().flatten() {
            Some(Value::Const(c)) => match &c.value {
                Ok(t) => Ok(t.clone()),
                Err(DecodeError::Corrupt(r)) => Err(corrupt(
                    self.path,
                    format!("{} ({label}, {what}): {r}", c.what),
                )),
                Err(DecodeError::Unsupported(r)) => Err(ImportError::unsupported(
                    self.path,
                    format!("{} ({label}, {what})", c.what),
                    r.clone(),
                )),
            },
            Some(Value::Zeros) | Some(Value::Opaque) => Err(ImportError::unsupported(
                self.path,
                label,
                format!("input {what} is computed in the graph, not a constant"),
            )),
            Some(Value::Data(_) | Value::Stack(_)) => Err(ImportError::unsupported(
                self.path,
                label,
                format!("input {what} is computed from the graph's input"),
            )),
            None => Err(corrupt(
                self.path,
                format!("{label}: input {what} is missing"),
            )),
        }
    }

    /// A FLOAT constant with finite values.
    fn const_f32(
        &self,
        v: Option<&Option<Value>>,
        label: &str,
        what: &str,
    ) -> Result<Tensor, ImportError> {
        let t = self.const_of(v, label, what)?;
        match &t.elems {
            Elems::F32(values) => {
                if let Some(i) = values.iter().position(|x| !x.is_finite()) {
                    return Err(corrupt(
                        self.path,
                        format!(
                            "{label}: {what} has a non-finite value ({}) at index {i}",
                            values[i]
                        ),
                    ));
                }
                Ok(t)
            }
            Elems::I64(_) => Err(corrupt(
                self.path,
                format!("{label}: {what} is an integer tensor, expected FLOAT"),
            )),
        }
    }

    /// An integer constant's values (axes, indices, slice bounds).
    fn ints_of(&self, v: Option<&Value>, label: &str, what: &str) -> Result<Vec<i64>, ImportError> {
        let t = self.const_of(Some(&v.cloned()), label, what)?;
        match t.elems {
            Elems::I64(v) => Ok(v),
            Elems::F32(_) => Err(corrupt(
                self.path,
                format!("{label}: {what} is a FLOAT tensor, expected integers"),
            )),
        }
    }

    /// An `LSTM` or `GRU` node.
    fn recurrent(
        &mut self,
        op: &str,
        mut d: Data,
        inputs: &[Option<Value>],
        attrs: &mut Attrs<'_>,
        label: &str,
    ) -> Result<Vec<Value>, ImportError> {
        let cell = if op == "LSTM" {
            CellKind::Lstm
        } else {
            CellKind::Gru
        };
        let g = cell.gates();
        if d.head.is_some() {
            return Err(ImportError::unsupported(
                self.path,
                label,
                "a recurrent layer after the head",
            ));
        }
        // attributes
        let direction = attrs
            .string("direction")?
            .unwrap_or_else(|| "forward".into());
        if direction != "forward" {
            return Err(ImportError::unsupported(
                self.path,
                label,
                format!("attribute 'direction' = '{direction}' (only 'forward')"),
            ));
        }
        if attrs.has("clip") {
            return Err(ImportError::unsupported(
                self.path,
                label,
                "attribute 'clip' (cell clipping)",
            ));
        }
        for name in ["activation_alpha", "activation_beta"] {
            if attrs.has(name) {
                return Err(ImportError::unsupported(
                    self.path,
                    label,
                    format!("attribute '{name}'"),
                ));
            }
        }
        let defaults: &[&str] = if cell == CellKind::Lstm {
            &["Sigmoid", "Tanh", "Tanh"]
        } else {
            &["Sigmoid", "Tanh"]
        };
        if let Some(acts) = attrs.strings("activations")? {
            let same = acts.len() == defaults.len()
                && acts
                    .iter()
                    .zip(defaults)
                    .all(|(a, b)| a.eq_ignore_ascii_case(b));
            if !same {
                return Err(ImportError::unsupported(
                    self.path,
                    label,
                    format!("attribute 'activations' = {acts:?} (only the default {defaults:?})"),
                ));
            }
        }
        let layout = attrs.int("layout")?.unwrap_or(0);
        let (x_axes, y_axes, yh_axes) = match layout {
            0 => (
                vec![Ax::Time, Ax::Batch, Ax::Feat],
                vec![Ax::Time, Ax::One, Ax::Batch, Ax::Feat],
                vec![Ax::One, Ax::Batch, Ax::Feat],
            ),
            1 => (
                vec![Ax::Batch, Ax::Time, Ax::Feat],
                vec![Ax::Batch, Ax::Time, Ax::One, Ax::Feat],
                vec![Ax::Batch, Ax::One, Ax::Feat],
            ),
            other => {
                return Err(ImportError::unsupported(
                    self.path,
                    label,
                    format!("attribute 'layout' = {other} (0 or 1)"),
                ))
            }
        };
        if cell == CellKind::Gru {
            let lbr = attrs.int("linear_before_reset")?.unwrap_or(0);
            if lbr != 1 {
                return Err(ImportError::unsupported(
                    self.path,
                    label,
                    format!(
                        "attribute 'linear_before_reset' = {lbr}: only 1 (PyTorch's GRU, the \
                         reset gate applied after the recurrent product) is supported"
                    ),
                ));
            }
        } else {
            let input_forget = attrs.int("input_forget")?.unwrap_or(0);
            if input_forget != 0 {
                return Err(ImportError::unsupported(
                    self.path,
                    label,
                    format!(
                        "attribute 'input_forget' = {input_forget} (coupled input and forget \
                         gates)"
                    ),
                ));
            }
        }
        let hidden_attr = attrs.int("hidden_size")?;

        // inputs
        let max_inputs = if cell == CellKind::Lstm { 8 } else { 6 };
        if inputs.len() > max_inputs {
            return Err(corrupt(
                self.path,
                format!(
                    "{label}: {} inputs, an {op} has at most {max_inputs}",
                    inputs.len()
                ),
            ));
        }
        if d.axes != x_axes {
            return Err(ImportError::unsupported(
                self.path,
                label,
                format!(
                    "input X has axes {}; with layout = {layout} an {op} reads {} (the graph's \
                     input is read as [batch, time, features])",
                    axes_text(&d.axes),
                    axes_text(&x_axes)
                ),
            ));
        }
        if inputs.get(4).cloned().flatten().is_some() {
            return Err(ImportError::unsupported(
                self.path,
                label,
                "input 'sequence_lens' (per-sample lengths given to the node)",
            ));
        }
        let states: &[(usize, &str)] = if cell == CellKind::Lstm {
            &[(5, "initial_h"), (6, "initial_c"), (7, "P (peepholes)")]
        } else {
            &[(5, "initial_h")]
        };
        for &(i, name) in states {
            if let Some(v) = inputs.get(i).cloned().flatten() {
                if !v.is_zero() {
                    return Err(ImportError::unsupported(
                        self.path,
                        label,
                        format!(
                            "input {name} is not zero (a given initial state or peephole \
                             weights); the zero state is supported"
                        ),
                    ));
                }
            }
        }
        let w = self.const_f32(inputs.get(1), label, "W")?;
        let r = self.const_f32(inputs.get(2), label, "R")?;
        let (gh, h, input) = match (w.dims.as_slice(), r.dims.as_slice()) {
            ([1, gh, input], [1, gh2, h]) if gh == gh2 && *h > 0 && *gh == g * *h && *input > 0 => {
                (*gh, *h, *input)
            }
            (wd, rd) => {
                return Err(corrupt(
                    self.path,
                    format!(
                        "{label}: W has shape {wd:?} and R {rd:?}; an {op} needs W [1, {g}·H, IN] \
                         and R [1, {g}·H, H] with H > 0"
                    ),
                ))
            }
        };
        if let Some(hs) = hidden_attr {
            if hs != h as i64 {
                return Err(corrupt(
                    self.path,
                    format!("{label}: attribute 'hidden_size' = {hs} but R has H = {h}"),
                ));
            }
        }
        if input != d.feat {
            return Err(corrupt(
                self.path,
                format!(
                    "{label}: W takes {input} inputs, the data has {} features",
                    d.feat
                ),
            ));
        }
        let b = match inputs.get(3).cloned().flatten() {
            None => None,
            Some(_) => {
                let b = self.const_f32(inputs.get(3), label, "B")?;
                if b.dims != [1, 2 * gh] {
                    return Err(corrupt(
                        self.path,
                        format!(
                            "{label}: B has shape {:?}, expected [1, {}]",
                            b.dims,
                            2 * gh
                        ),
                    ));
                }
                Some(b)
            }
        };
        // ONNX block k of the gates → PyTorch block j takes ONNX block order[j].
        let order: &[usize] = if cell == CellKind::Lstm {
            &[0, 2, 3, 1] // i, o, f, c → i, f, g(c), o
        } else {
            &[1, 0, 2] // z, r, h → r, z, n(h)
        };
        let (Elems::F32(wv), Elems::F32(rv)) = (&w.elems, &r.elems) else {
            return Err(corrupt(
                self.path,
                format!("{label}: W and R are not FLOAT"),
            ));
        };
        let weight_ih = reorder(order, h, input, wv);
        let weight_hh = reorder(order, h, h, rv);
        let (bias_ih, bias_hh) = match b.as_ref().map(|b| &b.elems) {
            None => (Array1::zeros(gh), Array1::zeros(gh)),
            Some(Elems::F32(bv)) => (
                reorder(order, h, 1, &bv[..gh]).column(0).to_owned(),
                reorder(order, h, 1, &bv[gh..]).column(0).to_owned(),
            ),
            Some(Elems::I64(_)) => {
                return Err(corrupt(self.path, format!("{label}: B is not FLOAT")))
            }
        };
        self.layers.push(Layer {
            node: label.to_string(),
            cell,
            params: LayerParams {
                weight_ih,
                weight_hh,
                bias_ih,
                bias_hh,
            },
        });
        d.layers.push(self.layers.len() - 1);
        d.feat = h;
        let mut y = d.clone();
        y.axes = y_axes;
        let mut y_h = d;
        y_h.axes = yh_axes;
        Ok(vec![
            Value::Data(Box::new(y)),
            Value::Data(Box::new(y_h)),
            Value::Opaque,
        ])
    }
}

/// Rows of `v` (`G` blocks of `h` rows of `cols` values, ONNX's gate
/// order) in PyTorch's gate order: block `j` is ONNX's block `order[j]`.
/// The caller checked that `v` holds `order.len() · h · cols` values.
fn reorder(order: &[usize], h: usize, cols: usize, v: &[f32]) -> Array2<f32> {
    let mut out = Array2::zeros((order.len() * h, cols));
    for (j, &k) in order.iter().enumerate() {
        for row in 0..h {
            let src = &v[(k * h + row) * cols..(k * h + row + 1) * cols];
            out.row_mut(j * h + row)
                .iter_mut()
                .zip(src)
                .for_each(|(o, &x)| *o = x);
        }
    }
    out
}

/// A `[rows][cols]` matrix from a FLOAT tensor's values.
fn matrix(path: &Path, rows: usize, cols: usize, elems: Elems) -> Result<Array2<f32>, ImportError> {
    let Elems::F32(v) = elems else {
        return Err(corrupt(
            path,
            "an integer tensor where a FLOAT weight is needed",
        ));
    };
    Array2::from_shape_vec((rows, cols), v).map_err(|e| corrupt(path, e.to_string()))
}

/// A 2-D constant transposed (a weight torch transposes in the graph).
fn transpose_const(c: &Rc<Const>) -> Value {
    match &c.value {
        Ok(Tensor {
            dims,
            elems: Elems::F32(v),
        }) if dims.len() == 2 => {
            let (r, k) = (dims[0], dims[1]);
            let mut out = Vec::with_capacity(v.len());
            for j in 0..k {
                for i in 0..r {
                    out.push(v[i * k + j]);
                }
            }
            Value::Const(Rc::new(Const {
                what: format!("{} (transposed)", c.what),
                value: Ok(Tensor {
                    dims: vec![k, r],
                    elems: Elems::F32(out),
                }),
            }))
        }
        _ => Value::Opaque,
    }
}

/// Decodes a tensor's values (checking them against its dims).
fn decode(t: &TensorProto) -> Result<Tensor, DecodeError> {
    use proto::tensor_proto::DataLocation;
    if t.data_location
        .is_some_and(|l| l.enum_value() != Ok(DataLocation::DEFAULT))
    {
        return Err(DecodeError::Unsupported(
            "its data is stored in an external file (data_location = EXTERNAL); export with \
             the weights inside the .onnx file"
                .into(),
        ));
    }
    if t.segment.is_some() {
        return Err(DecodeError::Unsupported("segmented tensor".into()));
    }
    let mut dims = Vec::with_capacity(t.dims.len());
    let mut count: usize = 1;
    for &d in &t.dims {
        let d = usize::try_from(d)
            .map_err(|_| DecodeError::Corrupt(format!("negative dimension in {:?}", t.dims)))?;
        count = count
            .checked_mul(d)
            .ok_or_else(|| DecodeError::Corrupt(format!("dimensions {:?} overflow", t.dims)))?;
        dims.push(d);
    }
    let raw = t.raw_data.as_deref();
    let check = |n: usize, field: &str| -> Result<(), DecodeError> {
        if n == count {
            Ok(())
        } else {
            Err(DecodeError::Corrupt(format!(
                "dims {:?} hold {count} values but {field} has {n}",
                t.dims
            )))
        }
    };
    let elems = match t.data_type() {
        dtype::FLOAT => match raw {
            Some(raw) => {
                check(raw.len() / 4, "raw_data")?;
                check_raw(raw, 4)?;
                Elems::F32(
                    raw.chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        .collect(),
                )
            }
            None => {
                check(t.float_data.len(), "float_data")?;
                Elems::F32(t.float_data.clone())
            }
        },
        dt @ (dtype::FLOAT16 | dtype::BFLOAT16) => {
            let conv = |bits: u16| {
                if dt == dtype::FLOAT16 {
                    half::f16::from_bits(bits).to_f32()
                } else {
                    half::bf16::from_bits(bits).to_f32()
                }
            };
            match raw {
                Some(raw) => {
                    check(raw.len() / 2, "raw_data")?;
                    check_raw(raw, 2)?;
                    Elems::F32(
                        raw.chunks_exact(2)
                            .map(|c| conv(u16::from_le_bytes([c[0], c[1]])))
                            .collect(),
                    )
                }
                None => {
                    check(t.int32_data.len(), "int32_data")?;
                    Elems::F32(t.int32_data.iter().map(|&b| conv(b as u16)).collect())
                }
            }
        }
        dtype::DOUBLE => {
            let values: Vec<f64> = match raw {
                Some(raw) => {
                    check(raw.len() / 8, "raw_data")?;
                    check_raw(raw, 8)?;
                    raw.chunks_exact(8)
                        .map(|c| {
                            f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])
                        })
                        .collect()
                }
                None => {
                    check(t.double_data.len(), "double_data")?;
                    t.double_data.clone()
                }
            };
            let mut out = Vec::with_capacity(values.len());
            for (i, v) in values.into_iter().enumerate() {
                let f = v as f32;
                if f64::from(f) != v && !v.is_nan() {
                    return Err(DecodeError::Unsupported(format!(
                        "DOUBLE value {v} at index {i} is not exactly an f32; export the model \
                         in float32"
                    )));
                }
                out.push(f);
            }
            Elems::F32(out)
        }
        dtype::INT64 => match raw {
            Some(raw) => {
                check(raw.len() / 8, "raw_data")?;
                check_raw(raw, 8)?;
                Elems::I64(
                    raw.chunks_exact(8)
                        .map(|c| {
                            i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])
                        })
                        .collect(),
                )
            }
            None => {
                check(t.int64_data.len(), "int64_data")?;
                Elems::I64(t.int64_data.clone())
            }
        },
        dtype::INT32 => match raw {
            Some(raw) => {
                check(raw.len() / 4, "raw_data")?;
                check_raw(raw, 4)?;
                Elems::I64(
                    raw.chunks_exact(4)
                        .map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                        .collect(),
                )
            }
            None => {
                check(t.int32_data.len(), "int32_data")?;
                Elems::I64(t.int32_data.iter().map(|&v| i64::from(v)).collect())
            }
        },
        other => {
            return Err(DecodeError::Unsupported(format!(
                "data type {other} (FLOAT, FLOAT16, BFLOAT16, DOUBLE, INT32 and INT64 are read)"
            )))
        }
    };
    Ok(Tensor { dims, elems })
}

fn check_raw(raw: &[u8], size: usize) -> Result<(), DecodeError> {
    if raw.len().is_multiple_of(size) {
        Ok(())
    } else {
        Err(DecodeError::Corrupt(format!(
            "raw_data has {} bytes, not a multiple of {size}",
            raw.len()
        )))
    }
}

/// A node's attributes, each to be read once; [`Attrs::finish`] refuses
/// any left unread.
struct Attrs<'n> {
    path: &'n Path,
    label: &'n str,
    node: &'n NodeProto,
    by_name: Vec<(&'n str, &'n AttributeProto, bool)>,
}

impl<'n> Attrs<'n> {
    fn new(path: &'n Path, label: &'n str, node: &'n NodeProto) -> Result<Self, ImportError> {
        let mut by_name: Vec<(&str, &AttributeProto, bool)> = Vec::new();
        for a in &node.attribute {
            if by_name.iter().any(|(n, _, _)| *n == a.name()) {
                return Err(corrupt(
                    path,
                    format!("{label}: attribute '{}' given twice", a.name()),
                ));
            }
            if a.ref_attr_name.is_some() {
                return Err(ImportError::unsupported(
                    path,
                    label,
                    format!("attribute '{}' refers to a function's attribute", a.name()),
                ));
            }
            by_name.push((a.name(), a, false));
        }
        Ok(Attrs {
            path,
            label,
            node,
            by_name,
        })
    }

    fn take(
        &mut self,
        name: &str,
        ty: AttributeType,
    ) -> Result<Option<&'n AttributeProto>, ImportError> {
        let Some(entry) = self.by_name.iter_mut().find(|(n, _, _)| *n == name) else {
            return Ok(None);
        };
        entry.2 = true;
        let a = entry.1;
        if let Some(t) = a.type_ {
            if t.enum_value() != Ok(ty) {
                return Err(corrupt(
                    self.path,
                    format!(
                        "{}: attribute '{name}' has type {:?}, expected {ty:?}",
                        self.label,
                        t.enum_value()
                    ),
                ));
            }
        }
        Ok(Some(a))
    }

    fn has(&mut self, name: &str) -> bool {
        match self.by_name.iter_mut().find(|(n, _, _)| *n == name) {
            Some(entry) => {
                entry.2 = true;
                true
            }
            None => false,
        }
    }

    fn int(&mut self, name: &str) -> Result<Option<i64>, ImportError> {
        Ok(self.take(name, AttributeType::INT)?.map(|a| a.i()))
    }

    fn float(&mut self, name: &str) -> Result<Option<f32>, ImportError> {
        Ok(self.take(name, AttributeType::FLOAT)?.map(|a| a.f()))
    }

    fn ints(&mut self, name: &str) -> Result<Option<Vec<i64>>, ImportError> {
        Ok(self
            .take(name, AttributeType::INTS)?
            .map(|a| a.ints.clone()))
    }

    fn string(&mut self, name: &str) -> Result<Option<String>, ImportError> {
        Ok(self
            .take(name, AttributeType::STRING)?
            .map(|a| String::from_utf8_lossy(a.s()).into_owned()))
    }

    fn strings(&mut self, name: &str) -> Result<Option<Vec<String>>, ImportError> {
        Ok(self.take(name, AttributeType::STRINGS)?.map(|a| {
            a.strings
                .iter()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        }))
    }

    fn tensor(&mut self, name: &str) -> Result<Option<&'n TensorProto>, ImportError> {
        Ok(self
            .take(name, AttributeType::TENSOR)?
            .and_then(|a| a.t.as_ref()))
    }

    /// Marks every attribute read (for nodes whose result does not depend
    /// on them).
    fn ignore_rest(&mut self) {
        for e in &mut self.by_name {
            e.2 = true;
        }
    }

    /// Refuses an attribute nobody read.
    fn finish(self) -> Result<(), ImportError> {
        match self.by_name.iter().find(|(_, _, used)| !used) {
            Some((name, _, _)) => Err(ImportError::unsupported(
                self.path,
                self.label,
                format!("attribute '{name}' is not supported"),
            )),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::proto::tensor_shape_proto::{dimension, Dimension};
    use super::proto::type_proto::{Tensor as TypeTensor, Value as TypeValue};
    use super::proto::{OperatorSetIdProto, TensorShapeProto, TypeProto, ValueInfoProto};
    use super::*;
    use protobuf::EnumOrUnknown;

    const P: &str = "model.onnx";
    const IN: usize = 2;
    const H: usize = 3;
    const OUT: usize = 2;
    const T: i64 = 5;

    fn attr(name: &str, ty: AttributeType) -> AttributeProto {
        AttributeProto {
            name: Some(name.into()),
            type_: Some(EnumOrUnknown::new(ty)),
            ..Default::default()
        }
    }
    fn a_int(name: &str, v: i64) -> AttributeProto {
        AttributeProto {
            i: Some(v),
            ..attr(name, AttributeType::INT)
        }
    }
    fn a_float(name: &str, v: f32) -> AttributeProto {
        AttributeProto {
            f: Some(v),
            ..attr(name, AttributeType::FLOAT)
        }
    }
    fn a_ints(name: &str, v: &[i64]) -> AttributeProto {
        AttributeProto {
            ints: v.to_vec(),
            ..attr(name, AttributeType::INTS)
        }
    }
    fn a_str(name: &str, v: &str) -> AttributeProto {
        AttributeProto {
            s: Some(v.as_bytes().to_vec()),
            ..attr(name, AttributeType::STRING)
        }
    }
    fn a_strs(name: &str, v: &[&str]) -> AttributeProto {
        AttributeProto {
            strings: v.iter().map(|s| s.as_bytes().to_vec()).collect(),
            ..attr(name, AttributeType::STRINGS)
        }
    }
    fn a_tensor(name: &str, t: TensorProto) -> AttributeProto {
        AttributeProto {
            t: Some(t).into(),
            ..attr(name, AttributeType::TENSOR)
        }
    }

    fn t_f32(name: &str, dims: &[usize], vals: &[f32]) -> TensorProto {
        assert_eq!(dims.iter().product::<usize>(), vals.len());
        TensorProto {
            name: Some(name.into()),
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: Some(dtype::FLOAT),
            raw_data: Some(vals.iter().flat_map(|v| v.to_le_bytes()).collect()),
            ..Default::default()
        }
    }
    fn t_i64(name: &str, dims: &[usize], vals: &[i64]) -> TensorProto {
        TensorProto {
            name: Some(name.into()),
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: Some(dtype::INT64),
            int64_data: vals.to_vec(),
            ..Default::default()
        }
    }
    /// Values `start, start + 0.01, …`.
    fn ramp(n: usize, start: f32) -> Vec<f32> {
        (0..n).map(|i| start + 0.01 * i as f32).collect()
    }

    fn node(op: &str, name: &str, inputs: &[&str], outputs: &[&str]) -> NodeProto {
        NodeProto {
            op_type: Some(op.into()),
            name: Some(name.into()),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }
    fn with(mut n: NodeProto, attrs: Vec<AttributeProto>) -> NodeProto {
        n.attribute = attrs;
        n
    }
    fn constant(name: &str, t: TensorProto) -> NodeProto {
        with(
            node("Constant", name, &[], &[name]),
            vec![a_tensor("value", t)],
        )
    }

    fn value_info(name: &str, dims: &[Option<i64>]) -> ValueInfoProto {
        let dim = dims
            .iter()
            .map(|d| Dimension {
                value: Some(match d {
                    Some(v) => dimension::Value::DimValue(*v),
                    None => dimension::Value::DimParam("n".into()),
                }),
                ..Default::default()
            })
            .collect();
        ValueInfoProto {
            name: Some(name.into()),
            type_: Some(TypeProto {
                value: Some(TypeValue::TensorType(TypeTensor {
                    elem_type: Some(dtype::FLOAT),
                    shape: Some(TensorShapeProto {
                        dim,
                        ..Default::default()
                    })
                    .into(),
                    ..Default::default()
                })),
                ..Default::default()
            })
            .into(),
            ..Default::default()
        }
    }

    /// The graph `torch.onnx.export` writes for `nn.LSTM` / `nn.GRU(IN, H,
    /// num_layers=layers, batch_first=True)` + `nn.Linear(H, OUT)` on
    /// `out[:, -1]`: Transpose, the zero states built with
    /// Shape/Gather/Unsqueeze/Concat/Expand, the recurrent nodes, Squeeze,
    /// Transpose, Gather of the last step, Gemm.
    fn torch_like(cell: CellKind, layers: usize) -> ModelProto {
        let g = cell.gates();
        let op = if cell == CellKind::Lstm {
            "LSTM"
        } else {
            "GRU"
        };
        let mut nodes = vec![with(
            node("Transpose", "/rnn/Transpose", &["x"], &["xt"]),
            vec![a_ints("perm", &[1, 0, 2])],
        )];
        let mut inits = vec![
            t_f32("head.weight", &[OUT, H], &ramp(OUT * H, 0.5)),
            t_f32("head.bias", &[OUT], &ramp(OUT, 0.6)),
        ];
        let mut seq = "xt".to_string();
        for k in 0..layers {
            let input = if k == 0 { IN } else { H };
            let (w, r, b) = (format!("W{k}"), format!("R{k}"), format!("B{k}"));
            inits.push(t_f32(&w, &[1, g * H, input], &ramp(g * H * input, 0.1)));
            inits.push(t_f32(&r, &[1, g * H, H], &ramp(g * H * H, 0.2)));
            inits.push(t_f32(&b, &[1, 2 * g * H], &ramp(2 * g * H, 0.3)));
            let mut state_inputs = Vec::new();
            for s in ["h", "c"]
                .iter()
                .take(if cell == CellKind::Lstm { 2 } else { 1 })
            {
                let p = format!("{s}{k}");
                nodes.push(constant(
                    &format!("{p}_zero"),
                    t_f32("", &[1, 4, H], &[0.0; 4 * H]),
                ));
                nodes.push(node(
                    "Shape",
                    &format!("{p}_shape"),
                    &[&seq],
                    &[&format!("{p}_s")],
                ));
                nodes.push(constant(&format!("{p}_one"), t_i64("", &[], &[1])));
                nodes.push(node(
                    "Gather",
                    &format!("{p}_gather"),
                    &[&format!("{p}_s"), &format!("{p}_one")],
                    &[&format!("{p}_b")],
                ));
                nodes.push(constant(&format!("{p}_ax"), t_i64("", &[1], &[0])));
                nodes.push(node(
                    "Unsqueeze",
                    &format!("{p}_unsq"),
                    &[&format!("{p}_b"), &format!("{p}_ax")],
                    &[&format!("{p}_bu")],
                ));
                nodes.push(constant(&format!("{p}_hs"), t_i64("", &[1], &[H as i64])));
                nodes.push(constant(&format!("{p}_d"), t_i64("", &[1], &[1])));
                nodes.push(with(
                    node(
                        "Concat",
                        &format!("{p}_concat"),
                        &[&format!("{p}_d"), &format!("{p}_bu"), &format!("{p}_hs")],
                        &[&format!("{p}_shape_out")],
                    ),
                    vec![a_int("axis", 0)],
                ));
                nodes.push(node(
                    "Expand",
                    &format!("{p}_expand"),
                    &[&format!("{p}_zero"), &format!("{p}_shape_out")],
                    &[&format!("{p}_state")],
                ));
                state_inputs.push(format!("{p}_state"));
            }
            let mut rnn_inputs: Vec<String> = vec![seq.clone(), w, r, b, String::new()];
            rnn_inputs.extend(state_inputs);
            let rnn_inputs: Vec<&str> = rnn_inputs.iter().map(String::as_str).collect();
            let outs = [format!("Y{k}"), format!("Yh{k}"), format!("Yc{k}")];
            let outs: Vec<&str> = outs
                .iter()
                .take(if cell == CellKind::Lstm { 3 } else { 2 })
                .map(String::as_str)
                .collect();
            let mut attrs = vec![a_int("hidden_size", H as i64)];
            if cell == CellKind::Gru {
                attrs.push(a_int("linear_before_reset", 1));
            }
            nodes.push(with(
                node(op, &format!("/rnn/{op}_{k}"), &rnn_inputs, &outs),
                attrs,
            ));
            nodes.push(constant(&format!("sq{k}_axes"), t_i64("", &[1], &[1])));
            nodes.push(node(
                "Squeeze",
                &format!("/rnn/Squeeze_{k}"),
                &[&format!("Y{k}"), &format!("sq{k}_axes")],
                &[&format!("seq{k}")],
            ));
            seq = format!("seq{k}");
        }
        nodes.push(with(
            node("Transpose", "/rnn/Transpose_1", &[&seq], &["yb"]),
            vec![a_ints("perm", &[1, 0, 2])],
        ));
        nodes.push(constant("last", t_i64("", &[], &[-1])));
        nodes.push(with(
            node("Gather", "/Gather", &["yb", "last"], &["h_last"]),
            vec![a_int("axis", 1)],
        ));
        nodes.push(with(
            node(
                "Gemm",
                "/head/Gemm",
                &["h_last", "head.weight", "head.bias"],
                &["y"],
            ),
            vec![
                a_float("alpha", 1.0),
                a_float("beta", 1.0),
                a_int("transB", 1),
            ],
        ));
        ModelProto {
            ir_version: Some(9),
            opset_import: vec![OperatorSetIdProto {
                domain: Some(String::new()),
                version: Some(20),
                ..Default::default()
            }],
            graph: Some(GraphProto {
                node: nodes,
                initializer: inits,
                input: vec![value_info("x", &[Some(4), Some(T), Some(IN as i64)])],
                output: vec![value_info("y", &[Some(4), Some(OUT as i64)])],
                ..Default::default()
            })
            .into(),
            ..Default::default()
        }
    }

    fn read(m: &ModelProto) -> Result<ImportedNet, ImportError> {
        from_bytes(Path::new(P), &m.write_to_bytes().unwrap())
    }

    fn graph(m: &mut ModelProto) -> &mut GraphProto {
        m.graph.as_mut().unwrap()
    }

    fn node_mut<'a>(m: &'a mut ModelProto, name: &str) -> &'a mut NodeProto {
        graph(m)
            .node
            .iter_mut()
            .find(|n| n.name() == name)
            .unwrap_or_else(|| panic!("no node {name}"))
    }

    /// Replaces the nodes from `from` (by name) to the end with `tail`.
    fn replace_tail(m: &mut ModelProto, from: &str, tail: Vec<NodeProto>) {
        let g = graph(m);
        let i = g.node.iter().position(|n| n.name() == from).unwrap();
        g.node.truncate(i);
        g.node.extend(tail);
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

    fn assert_mentions(text: &str, parts: &[&str]) {
        for p in parts {
            assert!(text.contains(p), "`{p}` not in: {text}");
        }
    }

    #[test]
    fn reads_torch_like_lstm_and_gru_stacks() {
        let net = read(&torch_like(CellKind::Lstm, 2)).unwrap();
        assert_eq!(net.net.cell, CellKind::Lstm);
        assert_eq!((net.net.input_size, net.net.output_size), (IN, OUT));
        assert_eq!(net.net.hidden_sizes, vec![H, H]);
        assert_eq!(net.net.head, HeadMode::LastStep);
        assert_eq!(net.seq_len, Some(T as usize));
        assert_eq!(net.head_activation, HeadActivation::Linear);
        let net = read(&torch_like(CellKind::Gru, 1)).unwrap();
        assert_eq!(net.net.cell, CellKind::Gru);
        assert_eq!(net.net.hidden_sizes, vec![H]);
        // a dynamic time axis
        let mut m = torch_like(CellKind::Gru, 1);
        graph(&mut m).input[0] = value_info("x", &[None, None, Some(IN as i64)]);
        assert_eq!(read(&m).unwrap().seq_len, None);
    }

    /// ONNX block k of W, R, Wb, Rb filled with k + 1 (+ 10 for R, + 20 for
    /// Wb, + 30 for Rb): PyTorch's block j must hold ONNX's block order[j].
    #[test]
    fn gate_blocks_are_reordered_to_pytorch() {
        for (cell, order) in [
            (CellKind::Lstm, vec![0, 2, 3, 1]),
            (CellKind::Gru, vec![1, 0, 2]),
        ] {
            let g = cell.gates();
            let mut m = torch_like(cell, 1);
            let blocks = |rows_per: usize, cols: usize, base: f32| -> Vec<f32> {
                (0..g)
                    .flat_map(|k| vec![base + k as f32 + 1.0; rows_per * cols])
                    .collect()
            };
            let mut b = blocks(H, 1, 20.0);
            b.extend(blocks(H, 1, 30.0));
            for t in graph(&mut m).initializer.iter_mut() {
                match t.name() {
                    "W0" => *t = t_f32("W0", &[1, g * H, IN], &blocks(H, IN, 0.0)),
                    "R0" => *t = t_f32("R0", &[1, g * H, H], &blocks(H, H, 10.0)),
                    "B0" => *t = t_f32("B0", &[1, 2 * g * H], &b),
                    _ => {}
                }
            }
            let net = read(&m).unwrap();
            let l = &net.params.layers[0];
            for (j, &k) in order.iter().enumerate() {
                let want = k as f32 + 1.0;
                for row in j * H..(j + 1) * H {
                    assert!(
                        l.weight_ih.row(row).iter().all(|&v| v == want),
                        "{cell} W block {j}"
                    );
                    assert!(
                        l.weight_hh.row(row).iter().all(|&v| v == want + 10.0),
                        "{cell} R {j}"
                    );
                    assert_eq!(l.bias_ih[row], want + 20.0, "{cell} Wb block {j}");
                    assert_eq!(l.bias_hh[row], want + 30.0, "{cell} Rb block {j}");
                }
            }
        }
    }

    #[test]
    fn other_ways_to_write_the_same_model_give_the_same_network() {
        let base = read(&torch_like(CellKind::Lstm, 2)).unwrap();
        let w = ramp(OUT * H, 0.5);
        let wt: Vec<f32> = (0..H)
            .flat_map(|j| (0..OUT).map(move |i| (i, j)))
            .map(|(i, j)| w[i * H + j])
            .collect();
        let same = |m: &ModelProto, what: &str| {
            let net = read(m).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(net.net, base.net, "{what}");
            assert_eq!(net.params, base.params, "{what}");
        };

        // Gemm with transB = 0 and the weight stored [H][OUT]
        let mut m = torch_like(CellKind::Lstm, 2);
        graph(&mut m).initializer.push(t_f32("wT", &[H, OUT], &wt));
        replace_tail(
            &mut m,
            "/head/Gemm",
            vec![with(
                node("Gemm", "g", &["h_last", "wT", "head.bias"], &["y"]),
                vec![a_int("transB", 0)],
            )],
        );
        same(&m, "Gemm transB=0");

        // MatMul + Add
        let mut m = torch_like(CellKind::Lstm, 2);
        graph(&mut m).initializer.push(t_f32("wT", &[H, OUT], &wt));
        replace_tail(
            &mut m,
            "/head/Gemm",
            vec![
                node("MatMul", "mm", &["h_last", "wT"], &["mm_out"]),
                node("Add", "add", &["head.bias", "mm_out"], &["y"]),
            ],
        );
        same(&m, "MatMul + Add");

        // Transpose of the initializer in the graph
        let mut m = torch_like(CellKind::Lstm, 2);
        replace_tail(
            &mut m,
            "/head/Gemm",
            vec![
                with(
                    node("Transpose", "tw", &["head.weight"], &["wT"]),
                    vec![a_ints("perm", &[1, 0])],
                ),
                node("MatMul", "mm", &["h_last", "wT"], &["mm_out"]),
                node("Add", "add", &["mm_out", "head.bias"], &["y"]),
            ],
        );
        same(&m, "Transpose + MatMul + Add");

        // the last step by Slice [-1:] and Squeeze
        let mut m = torch_like(CellKind::Lstm, 2);
        replace_tail(
            &mut m,
            "/Gather",
            vec![
                constant("s_start", t_i64("", &[1], &[-1])),
                constant("s_end", t_i64("", &[1], &[i64::MAX])),
                constant("s_axes", t_i64("", &[1], &[1])),
                node(
                    "Slice",
                    "slice",
                    &["yb", "s_start", "s_end", "s_axes"],
                    &["yl"],
                ),
                node("Squeeze", "sq", &["yl", "s_axes"], &["h_last"]),
                with(
                    node("Gemm", "g", &["h_last", "head.weight", "head.bias"], &["y"]),
                    vec![a_int("transB", 1)],
                ),
            ],
        );
        same(&m, "Slice + Squeeze");

        // Y_h of the last layer instead of Y's last step
        let mut m = torch_like(CellKind::Lstm, 2);
        replace_tail(
            &mut m,
            "/rnn/Transpose_1",
            vec![
                constant("zero", t_i64("", &[], &[0])),
                node("Gather", "hn", &["Yh1", "zero"], &["h_last"]),
                with(
                    node("Gemm", "g", &["h_last", "head.weight", "head.bias"], &["y"]),
                    vec![a_int("transB", 1)],
                ),
            ],
        );
        same(&m, "Y_h");

        // h_n[-1]: the layers' Y_h concatenated, the last one taken
        let mut m = torch_like(CellKind::Lstm, 2);
        replace_tail(
            &mut m,
            "/rnn/Transpose_1",
            vec![
                with(
                    node("Concat", "hn", &["Yh0", "Yh1"], &["h_n"]),
                    vec![a_int("axis", 0)],
                ),
                constant("minus1", t_i64("", &[], &[-1])),
                node("Gather", "hn_last", &["h_n", "minus1"], &["h_last"]),
                with(
                    node("Gemm", "g", &["h_last", "head.weight", "head.bias"], &["y"]),
                    vec![a_int("transB", 1)],
                ),
            ],
        );
        same(&m, "h_n[-1]");
        // h_n[0] is the first layer's state: a one-layer network
        for n in graph(&mut m).node.iter_mut() {
            if n.name() == "minus1" {
                *n = constant("minus1", t_i64("", &[], &[0]));
            }
        }
        let net = read(&m).unwrap();
        assert_eq!(net.net.hidden_sizes, vec![H]);
        assert_eq!(net.params.layers[0], base.params.layers[0]);
        // a Concat along the features is refused
        let mut m = torch_like(CellKind::Lstm, 2);
        replace_tail(
            &mut m,
            "/rnn/Transpose_1",
            vec![with(
                node("Concat", "hn", &["Yh0", "Yh1"], &["h_n"]),
                vec![a_int("axis", 2)],
            )],
        );
        graph(&mut m).output[0].name = Some("h_n".into());
        assert_mentions(
            &unsupported_text(read(&m)),
            &["node 'hn' (Concat)", "features axis"],
        );

        // the zero states from ConstantOfShape, and no explicit states at all
        let mut m = torch_like(CellKind::Lstm, 2);
        for k in 0..2 {
            for s in ["h", "c"] {
                *node_mut(&mut m, &format!("{s}{k}_expand")) = node(
                    "ConstantOfShape",
                    &format!("{s}{k}_expand"),
                    &[&format!("{s}{k}_shape_out")],
                    &[&format!("{s}{k}_state")],
                );
            }
        }
        same(&m, "ConstantOfShape");
        let mut m = torch_like(CellKind::Lstm, 2);
        for k in 0..2 {
            node_mut(&mut m, &format!("/rnn/LSTM_{k}"))
                .input
                .truncate(4);
        }
        same(&m, "no initial states");

        // layout = 1: no Transposes around the recurrent layers
        let mut m = torch_like(CellKind::Lstm, 1);
        let base1 = read(&m).unwrap();
        {
            let n = node_mut(&mut m, "/rnn/LSTM_0");
            n.input[0] = "x".into();
            n.input.truncate(4);
            n.attribute.push(a_int("layout", 1));
        }
        replace_tail(
            &mut m,
            "sq0_axes",
            vec![
                constant("sq_axes", t_i64("", &[1], &[2])),
                node("Squeeze", "sq", &["Y0", "sq_axes"], &["yb"]),
                constant("last", t_i64("", &[], &[-1])),
                with(
                    node("Gather", "gl", &["yb", "last"], &["h_last"]),
                    vec![a_int("axis", 1)],
                ),
                with(
                    node("Gemm", "g", &["h_last", "head.weight", "head.bias"], &["y"]),
                    vec![a_int("transB", 1)],
                ),
            ],
        );
        let net = read(&m).unwrap();
        assert_eq!(net.params, base1.params, "layout=1");

        // opset 11: Squeeze axes as an attribute, weights in float_data,
        // explicit default activations
        let mut m = torch_like(CellKind::Lstm, 2);
        m.opset_import[0].version = Some(11);
        for k in 0..2 {
            let n = node_mut(&mut m, &format!("/rnn/Squeeze_{k}"));
            n.input.truncate(1);
            n.attribute.push(a_ints("axes", &[1]));
            node_mut(&mut m, &format!("/rnn/LSTM_{k}"))
                .attribute
                .push(a_strs("activations", &["Sigmoid", "Tanh", "Tanh"]));
        }
        for t in graph(&mut m).initializer.iter_mut() {
            let raw = t.raw_data.take().unwrap();
            t.float_data = raw
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
        }
        same(&m, "opset 11, float_data");
    }

    #[test]
    fn head_at_every_step_activations_and_no_bias() {
        // MatMul + Add on [batch, time, H], then Softmax: every step
        let mut m = torch_like(CellKind::Gru, 1);
        graph(&mut m)
            .initializer
            .push(t_f32("wT", &[H, OUT], &ramp(H * OUT, 0.0)));
        replace_tail(
            &mut m,
            "/Gather",
            vec![
                node("MatMul", "mm", &["yb", "wT"], &["mm_out"]),
                node("Add", "add", &["mm_out", "head.bias"], &["logits"]),
                with(
                    node("Softmax", "sm", &["logits"], &["y"]),
                    vec![a_int("axis", -1)],
                ),
            ],
        );
        let net = read(&m).unwrap();
        assert_eq!(net.net.head, HeadMode::EveryStep);
        assert_eq!(net.head_activation, HeadActivation::Softmax);
        assert_eq!(net.params.dense.bias.to_vec(), ramp(OUT, 0.6));

        // Sigmoid after Gemm: on one output (binary), not on several
        let mut m = torch_like(CellKind::Gru, 1);
        node_mut(&mut m, "/head/Gemm").output[0] = "logits".into();
        graph(&mut m)
            .node
            .push(node("Sigmoid", "sig", &["logits"], &["y"]));
        assert_mentions(
            &unsupported_text(read(&m)),
            &["node 'sig' (Sigmoid)", "2 outputs"],
        );
        for t in graph(&mut m).initializer.iter_mut() {
            match t.name() {
                "head.weight" => *t = t_f32("head.weight", &[1, H], &ramp(H, 0.5)),
                "head.bias" => *t = t_f32("head.bias", &[1], &[0.25]),
                _ => {}
            }
        }
        let net = read(&m).unwrap();
        assert_eq!(net.head_activation, HeadActivation::Sigmoid);
        assert_eq!(net.net.output_size, 1);
        // MatMul without Add is a head without bias
        let mut m = torch_like(CellKind::Gru, 1);
        graph(&mut m)
            .initializer
            .push(t_f32("wT", &[H, OUT], &ramp(H * OUT, 0.0)));
        replace_tail(
            &mut m,
            "/head/Gemm",
            vec![node("MatMul", "mm", &["h_last", "wT"], &["y"])],
        );
        let net = read(&m).unwrap();
        assert!(net.params.dense.bias.iter().all(|&b| b == 0.0));

        // no B on the recurrent node: zero biases
        let mut m = torch_like(CellKind::Gru, 1);
        node_mut(&mut m, "/rnn/GRU_0").input[3] = String::new();
        let net = read(&m).unwrap();
        assert!(net.params.layers[0].bias_ih.iter().all(|&b| b == 0.0));
        assert!(net.params.layers[0].bias_hh.iter().all(|&b| b == 0.0));
    }

    fn refused_attr(cell: CellKind, attr: AttributeProto, parts: &[&str]) {
        let mut m = torch_like(cell, 1);
        let name = if cell == CellKind::Lstm {
            "/rnn/LSTM_0"
        } else {
            "/rnn/GRU_0"
        };
        let n = node_mut(&mut m, name);
        n.attribute.retain(|a| a.name() != attr.name());
        n.attribute.push(attr);
        let e = unsupported_text(read(&m));
        assert_mentions(&e, &[P, name]);
        assert_mentions(&e, parts);
    }

    #[test]
    fn refuses_recurrent_attributes_not_handled() {
        refused_attr(
            CellKind::Lstm,
            a_str("direction", "bidirectional"),
            &["'direction'", "bidirectional"],
        );
        refused_attr(
            CellKind::Gru,
            a_str("direction", "reverse"),
            &["'direction'", "reverse"],
        );
        refused_attr(
            CellKind::Gru,
            a_int("linear_before_reset", 0),
            &["'linear_before_reset' = 0"],
        );
        refused_attr(CellKind::Lstm, a_float("clip", 3.0), &["'clip'"]);
        refused_attr(
            CellKind::Lstm,
            a_strs("activations", &["Sigmoid", "Relu", "Tanh"]),
            &["'activations'", "Relu"],
        );
        refused_attr(CellKind::Gru, a_floats_alpha(), &["'activation_alpha'"]);
        refused_attr(
            CellKind::Lstm,
            a_int("input_forget", 1),
            &["'input_forget' = 1"],
        );
        refused_attr(CellKind::Lstm, a_int("layout", 2), &["'layout' = 2"]);
        refused_attr(
            CellKind::Lstm,
            a_int("some_new_attribute", 1),
            &["'some_new_attribute'"],
        );
        // a GRU without linear_before_reset is ONNX's default (0)
        let mut m = torch_like(CellKind::Gru, 1);
        node_mut(&mut m, "/rnn/GRU_0")
            .attribute
            .retain(|a| a.name() != "linear_before_reset");
        assert_mentions(
            &unsupported_text(read(&m)),
            &["/rnn/GRU_0", "'linear_before_reset' = 0"],
        );
    }

    fn a_floats_alpha() -> AttributeProto {
        AttributeProto {
            floats: vec![1.0],
            ..attr("activation_alpha", AttributeType::FLOATS)
        }
    }

    #[test]
    fn refuses_given_states_and_sequence_lengths() {
        // a non-zero initial state from an initializer
        let mut m = torch_like(CellKind::Lstm, 1);
        graph(&mut m)
            .initializer
            .push(t_f32("h_init", &[1, 4, H], &ramp(4 * H, 0.1)));
        node_mut(&mut m, "/rnn/LSTM_0").input[5] = "h_init".into();
        assert_mentions(
            &unsupported_text(read(&m)),
            &["/rnn/LSTM_0", "initial_h is not zero"],
        );
        // a zero one is fine
        let mut m = torch_like(CellKind::Lstm, 1);
        graph(&mut m)
            .initializer
            .push(t_f32("c_init", &[1, 4, H], &[0.0; 4 * H]));
        node_mut(&mut m, "/rnn/LSTM_0").input[6] = "c_init".into();
        read(&m).unwrap();
        // an initial state given as a graph input
        let mut m = torch_like(CellKind::Lstm, 1);
        graph(&mut m)
            .input
            .push(value_info("h0", &[Some(1), Some(4), Some(H as i64)]));
        node_mut(&mut m, "/rnn/LSTM_0").input[5] = "h0".into();
        assert_mentions(
            &unsupported_text(read(&m)),
            &["graph input 'h0'", "second input"],
        );
        // sequence_lens
        let mut m = torch_like(CellKind::Lstm, 1);
        graph(&mut m)
            .initializer
            .push(t_i64("lens", &[4], &[5, 5, 5, 5]));
        node_mut(&mut m, "/rnn/LSTM_0").input[4] = "lens".into();
        assert_mentions(
            &unsupported_text(read(&m)),
            &["/rnn/LSTM_0", "sequence_lens"],
        );
        // peepholes
        let mut m = torch_like(CellKind::Lstm, 1);
        graph(&mut m)
            .initializer
            .push(t_f32("P", &[1, 3 * H], &ramp(3 * H, 0.1)));
        node_mut(&mut m, "/rnn/LSTM_0").input.push("P".into());
        assert_mentions(&unsupported_text(read(&m)), &["/rnn/LSTM_0", "peephole"]);
    }

    #[test]
    fn refuses_unknown_ops_domains_and_attributes() {
        let mut m = torch_like(CellKind::Lstm, 1);
        node_mut(&mut m, "/Gather").output[0] = "g".into();
        let g = graph(&mut m);
        g.node.insert(
            g.node.len() - 1,
            node("Relu", "/act/Relu", &["g"], &["h_last"]),
        );
        assert_mentions(
            &unsupported_text(read(&m)),
            &["node '/act/Relu' (Relu)", "'Relu'"],
        );

        let mut m = torch_like(CellKind::Lstm, 1);
        node_mut(&mut m, "/head/Gemm").domain = Some("com.microsoft".into());
        assert_mentions(
            &unsupported_text(read(&m)),
            &["/head/Gemm", "com.microsoft"],
        );

        let mut m = torch_like(CellKind::Lstm, 1);
        node_mut(&mut m, "/head/Gemm")
            .attribute
            .push(a_int("foo", 1));
        assert_mentions(&unsupported_text(read(&m)), &["/head/Gemm", "'foo'"]);

        let mut m = torch_like(CellKind::Lstm, 1);
        let n = node_mut(&mut m, "/head/Gemm");
        n.attribute.retain(|a| a.name() != "alpha");
        n.attribute.push(a_float("alpha", 0.5));
        assert_mentions(
            &unsupported_text(read(&m)),
            &["/head/Gemm", "'alpha' = 0.5"],
        );
    }

    #[test]
    fn refuses_other_networks() {
        // a second Dense layer
        let mut m = torch_like(CellKind::Lstm, 1);
        node_mut(&mut m, "/head/Gemm").output[0] = "y1".into();
        graph(&mut m)
            .initializer
            .push(t_f32("w2", &[1, OUT], &[1.0; OUT]));
        graph(&mut m).node.push(with(
            node("Gemm", "/head2/Gemm", &["y1", "w2"], &["y"]),
            vec![a_int("transB", 1)],
        ));
        assert_mentions(
            &unsupported_text(read(&m)),
            &["/head2/Gemm", "second Dense"],
        );

        // LSTM then GRU
        let mut m = torch_like(CellKind::Lstm, 2);
        {
            let g = CellKind::Gru.gates();
            for t in graph(&mut m).initializer.iter_mut() {
                match t.name() {
                    "W1" => *t = t_f32("W1", &[1, g * H, H], &ramp(g * H * H, 0.1)),
                    "R1" => *t = t_f32("R1", &[1, g * H, H], &ramp(g * H * H, 0.1)),
                    "B1" => *t = t_f32("B1", &[1, 2 * g * H], &ramp(2 * g * H, 0.1)),
                    _ => {}
                }
            }
            let n = node_mut(&mut m, "/rnn/LSTM_1");
            n.op_type = Some("GRU".into());
            n.input.truncate(6);
            n.output.truncate(2);
            n.attribute.push(a_int("linear_before_reset", 1));
        }
        assert_mentions(
            &unsupported_text(read(&m)),
            &["/rnn/LSTM_0", "/rnn/LSTM_1", "mixes"],
        );

        // the first step instead of the last
        let mut m = torch_like(CellKind::Lstm, 1);
        for n in graph(&mut m).node.iter_mut() {
            if n.name() == "last" {
                *n = constant("last", t_i64("", &[], &[0]));
            }
        }
        assert_mentions(
            &unsupported_text(read(&m)),
            &["node '/Gather' (Gather)", "index 0", "time"],
        );

        // Squeeze without axes; Squeeze of the batch
        let mut m = torch_like(CellKind::Lstm, 1);
        node_mut(&mut m, "/rnn/Squeeze_0").input.truncate(1);
        assert_mentions(
            &unsupported_text(read(&m)),
            &["/rnn/Squeeze_0", "without axes"],
        );
        let mut m = torch_like(CellKind::Lstm, 1);
        for n in graph(&mut m).node.iter_mut() {
            if n.name() == "sq0_axes" {
                *n = constant("sq0_axes", t_i64("", &[1], &[2]));
            }
        }
        assert_mentions(&unsupported_text(read(&m)), &["/rnn/Squeeze_0", "batch"]);

        // batch-first data into a layout-0 LSTM (no Transpose)
        let mut m = torch_like(CellKind::Lstm, 1);
        node_mut(&mut m, "/rnn/LSTM_0").input[0] = "x".into();
        assert_mentions(
            &unsupported_text(read(&m)),
            &["/rnn/LSTM_0", "input X has axes [batch, time, features]"],
        );

        // two outputs; an output without a head
        let mut m = torch_like(CellKind::Lstm, 1);
        graph(&mut m)
            .output
            .push(value_info("Yh0", &[Some(1), Some(4), Some(H as i64)]));
        assert_mentions(&unsupported_text(read(&m)), &["graph outputs", "2 outputs"]);
        let mut m = torch_like(CellKind::Lstm, 1);
        graph(&mut m).output[0].name = Some("h_last".into());
        assert_mentions(
            &unsupported_text(read(&m)),
            &["graph output 'h_last'", "no head"],
        );

        // softmax over time
        let mut m = torch_like(CellKind::Gru, 1);
        graph(&mut m)
            .initializer
            .push(t_f32("wT", &[H, OUT], &ramp(H * OUT, 0.0)));
        replace_tail(
            &mut m,
            "/Gather",
            vec![
                node("MatMul", "mm", &["yb", "wT"], &["logits"]),
                with(
                    node("Softmax", "sm", &["logits"], &["y"]),
                    vec![a_int("axis", 1)],
                ),
            ],
        );
        assert_mentions(
            &unsupported_text(read(&m)),
            &["node 'sm' (Softmax)", "'axis'"],
        );
    }

    #[test]
    fn refuses_external_and_non_float_weights() {
        use super::proto::tensor_proto::DataLocation;
        let mut m = torch_like(CellKind::Lstm, 1);
        for t in graph(&mut m).initializer.iter_mut() {
            if t.name() == "R0" {
                t.raw_data = None;
                t.data_location = Some(EnumOrUnknown::new(DataLocation::EXTERNAL));
            }
        }
        assert_mentions(
            &unsupported_text(read(&m)),
            &["initializer 'R0'", "external"],
        );
        let mut m = torch_like(CellKind::Lstm, 1);
        for t in graph(&mut m).initializer.iter_mut() {
            if t.name() == "R0" {
                t.data_type = Some(dtype::DOUBLE);
                t.raw_data = Some(vec![0; 4 * H * H * 8]);
            }
        }
        // zeros are exact f32 values: DOUBLE is accepted then
        read(&m).unwrap();
        let mut m = torch_like(CellKind::Lstm, 1);
        for t in graph(&mut m).initializer.iter_mut() {
            if t.name() == "R0" {
                t.data_type = Some(dtype::DOUBLE);
                t.raw_data = Some((0..4 * H * H).flat_map(|_| 0.1f64.to_le_bytes()).collect());
            }
        }
        assert_mentions(
            &unsupported_text(read(&m)),
            &["initializer 'R0'", "not exactly an f32"],
        );
        let mut m = torch_like(CellKind::Lstm, 1);
        for t in graph(&mut m).initializer.iter_mut() {
            if t.name() == "R0" {
                t.data_type = Some(2); // UINT8
            }
        }
        assert_mentions(
            &unsupported_text(read(&m)),
            &["initializer 'R0'", "data type 2"],
        );
    }

    #[test]
    fn damaged_files_are_corrupt_and_named() {
        let e = corrupt_text(from_bytes(Path::new(P), b"\xff\xff\xff garbage"));
        assert_mentions(&e, &[P, "ONNX"]);
        let bytes = torch_like(CellKind::Lstm, 1).write_to_bytes().unwrap();
        for cut in [1, bytes.len() / 2, bytes.len() - 1] {
            match from_bytes(Path::new(P), &bytes[..cut]) {
                Err(e @ (ImportError::Corrupt { .. } | ImportError::Unsupported { .. })) => {
                    assert_mentions(&e.to_string(), &[P])
                }
                other => panic!("cut at {cut}: {other:?}"),
            }
        }
        // an input nobody defines
        let mut m = torch_like(CellKind::Lstm, 1);
        node_mut(&mut m, "/head/Gemm").input[1] = "nowhere".into();
        assert_mentions(&corrupt_text(read(&m)), &["/head/Gemm", "'nowhere'"]);
        // raw_data of the wrong length
        let mut m = torch_like(CellKind::Lstm, 1);
        for t in graph(&mut m).initializer.iter_mut() {
            if t.name() == "W0" {
                t.raw_data.as_mut().unwrap().truncate(8);
            }
        }
        assert_mentions(
            &corrupt_text(read(&m)),
            &["initializer 'W0'", "raw_data has 2"],
        );
        // W and R that do not fit together
        let mut m = torch_like(CellKind::Lstm, 1);
        for t in graph(&mut m).initializer.iter_mut() {
            if t.name() == "R0" {
                *t = t_f32("R0", &[1, 4 * H, H + 1], &ramp(4 * H * (H + 1), 0.0));
            }
        }
        assert_mentions(&corrupt_text(read(&m)), &["/rnn/LSTM_0", "R [1, 4·H, H]"]);
        // no opset
        let mut m = torch_like(CellKind::Lstm, 1);
        m.opset_import.clear();
        assert_mentions(&corrupt_text(read(&m)), &["opset_import"]);
    }
}
