//! PyTorch reference cases (`../shared/reference/*.json` for the LSTM,
//! `../shared/reference/gru/*.json` for the GRU, format in those folders'
//! READMEs): serde structs to read one case, conversion to this crate's
//! types, and discovery of all case files. A case's cell is its `"cell"`
//! key (absent: LSTM).

use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2, Array3};
use serde::Deserialize;

use crate::net::{CellKind, DenseParams, HeadMode, LayerParams, NetConfig, Params, Scalar, State};

/// Environment variable naming an extra folder of `*.json` cases.
pub const REFERENCE_DIR_ENV: &str = "LSTM_REFERENCE_DIR";

/// Errors while finding or reading reference cases.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    /// A file or folder could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file is not a valid reference case.
    #[error("invalid reference JSON {path}: {source}")]
    Json {
        /// The path.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
    /// A nested list is ragged or does not have the declared dimensions.
    #[error("bad shape of {what}: {detail}")]
    Shape {
        /// Which array.
        what: String,
        /// Explanation.
        detail: String,
    },
    /// A value is NaN or infinite.
    #[error("{what} is not finite")]
    NotFinite {
        /// Which value.
        what: String,
    },
}

/// Parameters of one recurrent layer as nested lists (PyTorch layout: `G`
/// gate blocks of `H` rows, LSTM i, f, g, o, GRU r, z, n).
#[derive(Debug, Clone, Deserialize)]
pub struct RefLayer {
    /// `[G·H][IN]`.
    pub weight_ih: Vec<Vec<f64>>,
    /// `[G·H][H]`.
    pub weight_hh: Vec<Vec<f64>>,
    /// `[G·H]`.
    pub bias_ih: Vec<f64>,
    /// `[G·H]`.
    pub bias_hh: Vec<f64>,
}

/// The Dense head as nested lists.
#[derive(Debug, Clone, Deserialize)]
pub struct RefDense {
    /// `[OUT][H]`.
    pub weight: Vec<Vec<f64>>,
    /// `[OUT]`.
    pub bias: Vec<f64>,
}

/// A full parameter (or gradient) set as nested lists.
#[derive(Debug, Clone, Deserialize)]
pub struct RefParams {
    /// Recurrent layers, bottom first.
    pub layers: Vec<RefLayer>,
    /// Dense head.
    pub dense: RefDense,
}

/// Loss kind of a reference case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefLossKind {
    /// Mean over all `B·T·OUT` squared errors, head at every step.
    Mse,
    /// Softmax cross-entropy of the last step's output, mean over `B`.
    CrossEntropyLast,
}

/// Targets of a reference case.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RefTargets {
    /// `[B][T][OUT]` regression targets (MSE).
    Sequence(Vec<Vec<Vec<f64>>>),
    /// `[B]` class ids (cross-entropy).
    Classes(Vec<usize>),
}

/// The loss section.
#[derive(Debug, Clone, Deserialize)]
pub struct RefLoss {
    /// Loss kind.
    pub kind: RefLossKind,
    /// Targets.
    pub targets: RefTargets,
    /// Loss value.
    pub value: f64,
}

/// The Adam section: full-batch steps on the same batch.
#[derive(Debug, Clone, Deserialize)]
pub struct RefAdam {
    /// Learning rate.
    pub lr: f64,
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
    pub beta2: f64,
    /// Epsilon.
    pub eps: f64,
    /// Number of steps.
    pub steps: usize,
    /// Loss before each step.
    pub losses_before_each_step: Vec<f64>,
    /// Parameters after all steps.
    pub params_after: RefParams,
}

/// One reference case (see `shared/reference/README.md`).
#[derive(Debug, Clone, Deserialize)]
pub struct ReferenceCase {
    /// Case name.
    pub name: String,
    /// What produced it.
    #[serde(default)]
    pub generator: String,
    /// The recurrent cell (the `"cell"` key; absent: LSTM).
    #[serde(default)]
    pub cell: CellKind,
    /// `IN`.
    pub input_size: usize,
    /// `H` (all layers).
    pub hidden_size: usize,
    /// `L`.
    pub num_layers: usize,
    /// `OUT`.
    pub output_size: usize,
    /// `B`.
    pub batch: usize,
    /// `T`.
    pub steps: usize,
    /// Parameters.
    pub params: RefParams,
    /// Initial hidden state `[L][B][H]`.
    pub h0: Vec<Vec<Vec<f64>>>,
    /// Initial cell state `[L][B][H]` (absent for a GRU).
    #[serde(default)]
    pub c0: Vec<Vec<Vec<f64>>>,
    /// Inputs `[B][T][IN]`.
    pub inputs: Vec<Vec<Vec<f64>>>,
    /// Last layer's `h_t`, `[B][T][H]`.
    pub hidden: Vec<Vec<Vec<f64>>>,
    /// Final hidden state `[L][B][H]`.
    pub h_n: Vec<Vec<Vec<f64>>>,
    /// Final cell state `[L][B][H]` (absent for a GRU).
    #[serde(default)]
    pub c_n: Vec<Vec<Vec<f64>>>,
    /// Head output at every step `[B][T][OUT]`.
    pub outputs: Vec<Vec<Vec<f64>>>,
    /// Loss.
    pub loss: RefLoss,
    /// Gradients (same layout as `params`).
    pub grads: RefParams,
    /// Adam steps.
    pub adam: RefAdam,
}

/// `[n]` list to an array.
pub fn to_array1<F: Scalar>(v: &[f64]) -> Array1<F> {
    v.iter().map(|&x| F::of(x)).collect()
}

/// `[r][c]` nested list to an array (error when ragged).
pub fn to_array2<F: Scalar>(v: &[Vec<f64>], what: &str) -> Result<Array2<F>, ReferenceError> {
    let cols = v.first().map_or(0, Vec::len);
    if v.iter().any(|r| r.len() != cols) {
        return Err(ReferenceError::Shape {
            what: what.into(),
            detail: "ragged rows".into(),
        });
    }
    let flat: Vec<F> = v.iter().flatten().map(|&x| F::of(x)).collect();
    Array2::from_shape_vec((v.len(), cols), flat).map_err(|e| ReferenceError::Shape {
        what: what.into(),
        detail: e.to_string(),
    })
}

/// `[a][b][c]` nested list to an array (error when ragged).
pub fn to_array3<F: Scalar>(v: &[Vec<Vec<f64>>], what: &str) -> Result<Array3<F>, ReferenceError> {
    let d1 = v.first().map_or(0, Vec::len);
    let d2 = v.first().and_then(|r| r.first()).map_or(0, Vec::len);
    if v.iter()
        .any(|r| r.len() != d1 || r.iter().any(|c| c.len() != d2))
    {
        return Err(ReferenceError::Shape {
            what: what.into(),
            detail: "ragged nested lists".into(),
        });
    }
    let flat: Vec<F> = v.iter().flatten().flatten().map(|&x| F::of(x)).collect();
    Array3::from_shape_vec((v.len(), d1, d2), flat).map_err(|e| ReferenceError::Shape {
        what: what.into(),
        detail: e.to_string(),
    })
}

impl RefParams {
    /// Converts to [`Params`] (both biases kept).
    pub fn to_params<F: Scalar>(&self) -> Result<Params<F>, ReferenceError> {
        let layers = self
            .layers
            .iter()
            .enumerate()
            .map(|(l, r)| {
                Ok(LayerParams {
                    weight_ih: to_array2(&r.weight_ih, &format!("weight_ih_l{l}"))?,
                    weight_hh: to_array2(&r.weight_hh, &format!("weight_hh_l{l}"))?,
                    bias_ih: to_array1(&r.bias_ih),
                    bias_hh: to_array1(&r.bias_hh),
                })
            })
            .collect::<Result<Vec<_>, ReferenceError>>()?;
        Ok(Params {
            layers,
            dense: DenseParams {
                weight: to_array2(&self.dense.weight, "dense.weight")?,
                bias: to_array1(&self.dense.bias),
            },
        })
    }
}

impl ReferenceCase {
    /// The network configuration of the case (head at every step, as the
    /// reference computes it; no dropout).
    pub fn config(&self) -> NetConfig {
        NetConfig {
            cell: self.cell,
            input_size: self.input_size,
            hidden_sizes: vec![self.hidden_size; self.num_layers],
            output_size: self.output_size,
            head: HeadMode::EveryStep,
            dropout: 0.0,
            unit_forget_bias: false,
        }
    }

    /// Inputs `[B][T][IN]`.
    pub fn inputs_array<F: Scalar>(&self) -> Result<Array3<F>, ReferenceError> {
        to_array3(&self.inputs, "inputs")
    }

    /// Initial state `(h0, c0)` (a GRU's `c0` is `[B][0]` per layer).
    pub fn initial_state<F: Scalar>(&self) -> Result<State<F>, ReferenceError> {
        self.state_from(&self.h0, &self.c0, "h0/c0")
    }

    /// Final state `(h_n, c_n)` as PyTorch computed it.
    pub fn final_state<F: Scalar>(&self) -> Result<State<F>, ReferenceError> {
        self.state_from(&self.h_n, &self.c_n, "h_n/c_n")
    }

    fn state_from<F: Scalar>(
        &self,
        h: &[Vec<Vec<f64>>],
        c: &[Vec<Vec<f64>>],
        what: &str,
    ) -> Result<State<F>, ReferenceError> {
        let conv = |v: &[Vec<Vec<f64>>]| {
            v.iter()
                .enumerate()
                .map(|(l, m)| to_array2(m, &format!("{what}[{l}]")))
                .collect::<Result<Vec<_>, _>>()
        };
        let c = if self.cell.has_cell_state() {
            conv(c)?
        } else {
            vec![Array2::zeros((self.batch, 0)); self.num_layers]
        };
        Ok(State { h: conv(h)?, c })
    }
}

fn shape_error(what: &str, detail: String) -> ReferenceError {
    ReferenceError::Shape {
        what: what.into(),
        detail,
    }
}

fn check_shape1(what: &str, v: &[f64], n: usize) -> Result<(), ReferenceError> {
    if v.len() != n {
        return Err(shape_error(
            what,
            format!("length {}, expected {n}", v.len()),
        ));
    }
    match v.iter().position(|x| !x.is_finite()) {
        Some(i) => Err(ReferenceError::NotFinite {
            what: format!("{what}[{i}]"),
        }),
        None => Ok(()),
    }
}

fn check_shape2(
    what: &str,
    v: &[Vec<f64>],
    rows: usize,
    cols: usize,
) -> Result<(), ReferenceError> {
    if v.len() != rows {
        return Err(shape_error(
            what,
            format!("{} rows, expected {rows}", v.len()),
        ));
    }
    v.iter()
        .enumerate()
        .try_for_each(|(i, row)| check_shape1(&format!("{what}[{i}]"), row, cols))
}

fn check_shape3(what: &str, v: &[Vec<Vec<f64>>], dims: [usize; 3]) -> Result<(), ReferenceError> {
    if v.len() != dims[0] {
        return Err(shape_error(
            what,
            format!("length {}, expected {}", v.len(), dims[0]),
        ));
    }
    v.iter()
        .enumerate()
        .try_for_each(|(i, m)| check_shape2(&format!("{what}[{i}]"), m, dims[1], dims[2]))
}

impl ReferenceCase {
    /// Checks the forward part of the case (parameters, states, inputs,
    /// `hidden`, outputs) against the declared dimensions and
    /// the cell, and that every value is finite. A GRU case's `c0` / `c_n`
    /// may be absent.
    ///
    /// Errors: [`ReferenceError::Shape`], [`ReferenceError::NotFinite`].
    pub fn validate(&self) -> Result<(), ReferenceError> {
        let (i, h, l, o, b, t) = (
            self.input_size,
            self.hidden_size,
            self.num_layers,
            self.output_size,
            self.batch,
            self.steps,
        );
        if [i, h, l, o, b, t].contains(&0) {
            return Err(shape_error("the case", "a dimension is zero".into()));
        }
        if self.params.layers.len() != l {
            return Err(shape_error(
                "params.layers",
                format!("{} layers, num_layers is {l}", self.params.layers.len()),
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
        let c_width = if self.cell.has_cell_state() { h } else { 0 };
        let c_layers = |c: &[Vec<Vec<f64>>]| if c_width == 0 && c.is_empty() { 0 } else { l };
        check_shape3("c0", &self.c0, [c_layers(&self.c0), b, c_width])?;
        check_shape3("inputs", &self.inputs, [b, t, i])?;
        check_shape3("hidden", &self.hidden, [b, t, h])?;
        check_shape3("h_n", &self.h_n, [l, b, h])?;
        check_shape3("c_n", &self.c_n, [c_layers(&self.c_n), b, c_width])?;
        check_shape3("outputs", &self.outputs, [b, t, o])?;
        Ok(())
    }
}

/// The shared reference folder of the workspace (`../shared/reference`
/// relative to the workspace root).
pub fn shared_reference_dir() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference");
    p.canonicalize().unwrap_or(p)
}

/// The shared folder of a cell's cases: [`shared_reference_dir`] for the
/// LSTM, its `gru` subfolder for the GRU.
pub fn shared_dir_of(cell: CellKind) -> PathBuf {
    match cell {
        CellKind::Lstm => shared_reference_dir(),
        CellKind::Gru => shared_reference_dir().join("gru"),
    }
}

fn json_files(dir: &Path) -> Result<Vec<PathBuf>, ReferenceError> {
    let rd = std::fs::read_dir(dir).map_err(|source| ReferenceError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut files = Vec::new();
    for e in rd {
        let e = e.map_err(|source| ReferenceError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let p = e.path();
        if p.extension().is_some_and(|x| x == "json") && p.is_file() {
            files.push(p);
        }
    }
    files.sort();
    Ok(files)
}

/// Candidate case files of `cell`: every `*.json` in its shared folder
/// ([`shared_dir_of`], when it exists) and in the folder named by
/// `$LSTM_REFERENCE_DIR` (when set; an unreadable folder is an error), each
/// folder sorted by name. The extra folder may hold cases of either cell:
/// [`load_cases`] keeps those of `cell`.
pub fn case_paths_of(cell: CellKind) -> Result<Vec<PathBuf>, ReferenceError> {
    let mut files = Vec::new();
    let shared = shared_dir_of(cell);
    if shared.is_dir() {
        files.extend(json_files(&shared)?);
    }
    if let Some(dir) = std::env::var_os(REFERENCE_DIR_ENV) {
        if !dir.is_empty() {
            files.extend(json_files(Path::new(&dir))?);
        }
    }
    Ok(files)
}

/// Reads one case file.
pub fn load_case(path: &Path) -> Result<ReferenceCase, ReferenceError> {
    let text = std::fs::read_to_string(path).map_err(|source| ReferenceError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| ReferenceError::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// The LSTM's candidate case files ([`case_paths_of`]).
pub fn case_paths() -> Result<Vec<PathBuf>, ReferenceError> {
    case_paths_of(CellKind::Lstm)
}

/// Every case of `cell` ([`case_paths_of`], told apart by the `"cell"`
/// key), each with its path.
pub fn load_cases(cell: CellKind) -> Result<Vec<(PathBuf, ReferenceCase)>, ReferenceError> {
    let mut cases = Vec::new();
    for p in case_paths_of(cell)? {
        let c = load_case(&p)?;
        if c.cell == cell {
            cases.push((p, c));
        }
    }
    Ok(cases)
}

/// Every LSTM case, each with its path ([`load_cases`]).
pub fn load_all() -> Result<Vec<(PathBuf, ReferenceCase)>, ReferenceError> {
    load_cases(CellKind::Lstm)
}
