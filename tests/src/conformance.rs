//! Runs a reference case through a const-generic `lstm-core` model in one
//! number format and activation variant, and compares it with the case's
//! expected forward values and with the same model loaded from a model file.
//!
//! [`CaseRun::check`] does one variant; [`CaseRun::finish`] prints what was
//! measured (max absolute error per tensor, skips and their reasons) and
//! panics with every failure, each naming the case, the variant, the tensor
//! and the index.

use std::fmt::Write as _;
use std::io::Write as _;

use lstm_core::dynamic::{DynModel, DynState};
use lstm_core::file::{FromModelFile, ModelFile, MAX_LAYERS};
use lstm_core::{Activation, Layer, NumberFormat, Scalar, Q4_12};

use crate::model::{FromWeights, LayerStates};
use crate::reference::Case;

/// One activation variant and the error bound it must meet.
#[derive(Clone, Copy, Debug)]
pub struct Variant {
    /// Name of the activation (`exact`, `fast`).
    pub activation: &'static str,
    /// Largest absolute error allowed on every compared value.
    pub bound: f64,
}

impl Variant {
    /// A variant.
    pub const fn new(activation: &'static str, bound: f64) -> Self {
        Variant { activation, bound }
    }
}

/// Largest absolute error per compared tensor in one run.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MaxErrors {
    /// Head outputs at every step.
    pub outputs: f64,
    /// Last layer's `h` at every step (`None` if the case has no `hidden`).
    pub hidden: Option<f64>,
    /// Final `h` of every layer.
    pub h_n: f64,
    /// Final `c` of every layer.
    pub c_n: f64,
}

/// What [`CaseRun::check`] did.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The variant ran; these are its errors (failures are kept in the run).
    Ran(MaxErrors),
    /// The variant was not run, for this reason.
    Skipped(String),
    /// The variant could not be run (a failure was recorded).
    Broken,
}

/// Error statistics of one tensor in one run.
struct Tensor {
    name: &'static str,
    max: f64,
    checked: usize,
    exceeded: usize,
    first: Option<String>,
}

impl Tensor {
    fn new(name: &'static str) -> Self {
        Tensor {
            name,
            max: 0.0,
            checked: 0,
            exceeded: 0,
            first: None,
        }
    }

    fn check(&mut self, index: impl FnOnce() -> String, got: f32, expected: f64, bound: f64) {
        let got = f64::from(got);
        let err = (got - expected).abs();
        let err = if err.is_nan() { f64::INFINITY } else { err };
        self.checked += 1;
        self.max = self.max.max(err);
        if err > bound {
            self.exceeded += 1;
            if self.first.is_none() {
                self.first = Some(format!(
                    "{}{}: got {got:.9}, expected {expected:.9}, |error| {err:.3e} > bound {bound:.1e}",
                    self.name,
                    index()
                ));
            }
        }
    }

    /// The failure message, if any value exceeded the bound.
    fn failure(&self, case: &str, variant: &str) -> Option<String> {
        let first = self.first.as_ref()?;
        Some(format!(
            "case `{case}`, format {variant}, tensor {}: {} values of {} exceed the bound (max |error| {:.3e}); first at {first}",
            self.name, self.exceeded, self.checked, self.max
        ))
    }
}

/// Whether two values are bit for bit the same.
fn identical<T: Scalar>(a: T, b: T) -> bool {
    identical_by(a, b, T::to_f32)
}

/// Whether two values (of a number or cell type) are bit for bit the same.
fn identical_by<V: PartialEq + Copy>(a: V, b: V, to_f32: fn(V) -> f32) -> bool {
    a == b && to_f32(a).to_bits() == to_f32(b).to_bits()
}

/// The first index where `a` and `b` differ, as a message.
fn first_difference<V: PartialEq + Copy + std::fmt::Debug>(
    name: &str,
    a: &[V],
    b: &[V],
    to_f32: fn(V) -> f32,
) -> Option<String> {
    if a.len() != b.len() {
        return Some(format!("{name}: lengths {} and {}", a.len(), b.len()));
    }
    let j = (0..a.len()).find(|&j| !identical_by(a[j], b[j], to_f32))?;
    Some(format!(
        "{name}[j={j}]: direct model {:?}, model file {:?}",
        a[j], b[j]
    ))
}

/// Copies `bytes` to a leaked buffer starting on a 16-byte boundary, as
/// [`ModelFile::model`] needs for zero-copy loading.
pub fn leak_aligned(bytes: &[u8]) -> &'static [u8] {
    const ALIGN: usize = lstm_core::file::WEIGHTS_ALIGN;
    let buf: &'static mut [u8] = Box::leak(vec![0u8; bytes.len() + ALIGN].into_boxed_slice());
    let offset = buf.as_ptr().align_offset(ALIGN);
    assert!(offset < ALIGN, "cannot align a byte buffer");
    let out = &mut buf[offset..offset + bytes.len()];
    out.copy_from_slice(bytes);
    out
}

/// One reference case being checked in several variants.
pub struct CaseRun {
    name: String,
    path: String,
    case: Case,
    weights: Vec<f32>,
    magnitudes: Vec<(&'static str, f64)>,
    report: Vec<String>,
    skips: Vec<String>,
    failures: Vec<String>,
}

impl CaseRun {
    /// Loads the case at `path`, to be reported as `name`. Panics (naming
    /// the case) if the file cannot be read or is not a valid case.
    pub fn load(name: &str, path: &str) -> Self {
        let case = Case::load(path).unwrap_or_else(|e| panic!("case `{name}`: {e}"));
        CaseRun {
            name: name.to_string(),
            path: path.to_string(),
            weights: case.file_weights(),
            magnitudes: case.magnitudes(),
            case,
            report: Vec::new(),
            skips: Vec::new(),
            failures: Vec::new(),
        }
    }

    /// The loaded case.
    pub fn case(&self) -> &Case {
        &self.case
    }

    /// Why format `T` cannot represent this case, if it cannot.
    fn out_of_range<T: Scalar>(&self) -> Option<String> {
        if T::FORMAT == NumberFormat::F32 {
            return None;
        }
        let limit = f64::from(T::MAX.to_f32()).min(-f64::from(T::MIN.to_f32()));
        let over: Vec<String> = self
            .magnitudes
            .iter()
            .filter(|(_, m)| *m > limit)
            .map(|(tensor, m)| format!("{tensor} reach |x| = {m:.4}"))
            .collect();
        (!over.is_empty()).then(|| {
            format!(
                "{} outside the {} range [{}, {}]",
                over.join(", "),
                T::FORMAT,
                T::MIN.to_f32(),
                T::MAX.to_f32()
            )
        })
    }

    /// Runs every batch element of the case as its own stream through model
    /// `M` computing in `T` (built directly from the case's weights, and
    /// loaded from a model file written in `T`'s format), and compares the
    /// outputs, `hidden`, `h_n` and `c_n` with the case within `variant.bound`,
    /// and the two models' results bit for bit.
    pub fn check<T, A, M, const IN: usize, const OUT: usize>(&mut self, variant: Variant) -> Outcome
    where
        T: Scalar,
        A: Activation<T>,
        M: Layer<T, IN, OUT> + FromWeights<T> + FromModelFile<'static, T>,
        M::State: LayerStates<T>,
    {
        let label = format!("{}/{}", T::FORMAT, variant.activation);
        match self.run::<T, A, M, IN, OUT>(&label, variant.bound) {
            Ok(outcome) => outcome,
            Err(e) => {
                self.failures
                    .push(format!("case `{}`, format {label}: {e}", self.name));
                self.report.push(format!("{label:<13} BROKEN: {e}"));
                Outcome::Broken
            }
        }
    }

    fn run<T, A, M, const IN: usize, const OUT: usize>(
        &mut self,
        label: &str,
        bound: f64,
    ) -> Result<Outcome, String>
    where
        T: Scalar,
        A: Activation<T>,
        M: Layer<T, IN, OUT> + FromWeights<T> + FromModelFile<'static, T>,
        M::State: LayerStates<T>,
    {
        let case = &self.case;
        let shapes = M::layer_shapes();
        if IN != case.input_size || OUT != case.output_size || shapes != case.layer_shapes() {
            return Err(format!(
                "the compiled model ({shapes:?}) does not match the JSON ({:?}); \
                 the file changed since the build, rebuild",
                case.layer_shapes()
            ));
        }
        if let Some(reason) = self.out_of_range::<T>() {
            self.report.push(format!("{label:<13} SKIPPED: {reason}"));
            self.skips.push(format!("{label} SKIPPED: {reason}"));
            return Ok(Outcome::Skipped(reason));
        }

        let model = M::from_all_weights(&self.weights)?;
        let loaded: Option<(M, DynModel<'static, T, A>)> = if shapes.len() > MAX_LAYERS {
            let reason = format!(
                "model-file and DynModel checks SKIPPED: {} layers exceed the file's limit of {MAX_LAYERS}",
                shapes.len()
            );
            self.report.push(format!("{label:<13} {reason}"));
            self.skips.push(format!("{label} {reason}"));
            None
        } else {
            let bytes = case.to_model_file(T::FORMAT)?;
            let bytes = leak_aligned(&bytes);
            let file: &'static ModelFile<'static> = Box::leak(Box::new(
                ModelFile::parse(bytes).map_err(|e| format!("model file does not parse: {e}"))?,
            ));
            let typed = file
                .model::<T, M>()
                .map_err(|e| format!("model file does not load: {e}"))?;
            let dynamic = DynModel::<T, A>::from_file(file)
                .map_err(|e| format!("model file does not load as a DynModel: {e}"))?;
            Some((typed, dynamic))
        };
        let (file_model, dyn_model) = match loaded {
            Some((m, d)) => (Some(m), Some(d)),
            None => (None, None),
        };
        let mut outputs = Tensor::new("outputs");
        let mut hidden = Tensor::new("hidden");
        let mut h_n = Tensor::new("h_n");
        let mut c_n = Tensor::new("c_n");
        let mut file_mismatch: Option<String> = None;
        let mut mismatch = |what: String| {
            file_mismatch.get_or_insert(what);
        };

        for b in 0..case.batch {
            let init: Vec<(Vec<f32>, Vec<f32>)> = (0..case.num_layers)
                .map(|l| {
                    let f = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
                    // A GRU case has no `c0`: its layers' `c` is empty.
                    let c = case.c0.get(l).map_or(Vec::new(), |c| f(&c[b]));
                    (f(&case.h0[l][b]), c)
                })
                .collect();
            let mut state = model.zero_state();
            state.assign(&init)?;
            let mut file_state = state;
            // DynModel's state: the same `h` and `c` per layer (c empty for GRU).
            let mut dyn_state = DynState {
                h: state.layers().into_iter().map(|(h, _)| h).collect(),
                c: state.layers().into_iter().map(|(_, c)| c).collect(),
            };

            for t in 0..case.steps {
                let x: [T; IN] = std::array::from_fn(|i| T::from_f32(case.inputs[b][t][i] as f32));
                let y = model.step(&mut state, &x);
                for (j, (&got, &expected)) in y.iter().zip(&case.outputs[b][t]).enumerate() {
                    let got = got.to_f32();
                    outputs.check(|| format!("[b={b}][t={t}][j={j}]"), got, expected, bound);
                }
                if let Some(expected_hidden) = Some(&case.hidden).filter(|h| !h.is_empty()) {
                    let layers = state.layers();
                    let (h, _) = layers.last().ok_or("the model has no LSTM layer")?;
                    for (j, (&got, &expected)) in h.iter().zip(&expected_hidden[b][t]).enumerate() {
                        let got = got.to_f32();
                        hidden.check(|| format!("[b={b}][t={t}][j={j}]"), got, expected, bound);
                    }
                }
                if let Some(file_model) = &file_model {
                    let y_file = file_model.step(&mut file_state, &x);
                    if let Some(j) = (0..OUT).find(|&j| !identical(y[j], y_file[j])) {
                        mismatch(format!(
                            "outputs[b={b}][t={t}][j={j}]: direct model {:?}, model file {:?}",
                            y[j], y_file[j]
                        ));
                    }
                }
                if let Some(dyn_model) = &dyn_model {
                    let y_dyn = dyn_model
                        .step(&mut dyn_state, &x)
                        .map_err(|e| format!("DynModel step failed: {e}"))?;
                    if let Some(j) = (0..OUT).find(|&j| !identical(y[j], y_dyn[j])) {
                        mismatch(format!(
                            "outputs[b={b}][t={t}][j={j}]: direct model {:?}, DynModel {:?}",
                            y[j], y_dyn[j]
                        ));
                    }
                }
            }

            let layers = state.layers();
            for (l, (h, c)) in layers.iter().enumerate() {
                for (j, &got) in h.iter().enumerate() {
                    h_n.check(
                        || format!("[l={l}][b={b}][j={j}]"),
                        got.to_f32(),
                        case.h_n[l][b][j],
                        bound,
                    );
                }
                for (j, &got) in c.iter().enumerate() {
                    c_n.check(
                        || format!("[l={l}][b={b}][j={j}]"),
                        T::cell_to_f32(got),
                        case.c_n[l][b][j],
                        bound,
                    );
                }
            }
            if dyn_model.is_some() {
                let dyn_layers: Vec<_> = dyn_state
                    .h
                    .iter()
                    .cloned()
                    .zip(dyn_state.c.iter().cloned())
                    .collect();
                for (l, ((h, c), (dh, dc))) in layers.iter().zip(&dyn_layers).enumerate() {
                    let name = format!("[l={l}][b={b}] (DynModel)");
                    if let Some(m) = first_difference(&format!("h_n{name}"), h, dh, T::to_f32)
                        .or_else(|| first_difference(&format!("c_n{name}"), c, dc, T::cell_to_f32))
                    {
                        mismatch(m);
                    }
                }
            }
            if file_model.is_some() {
                let file_layers = file_state.layers();
                for (l, ((h, c), (fh, fc))) in layers.iter().zip(&file_layers).enumerate() {
                    let name = format!("[l={l}][b={b}]");
                    if let Some(m) = first_difference(&format!("h_n{name}"), h, fh, T::to_f32)
                        .or_else(|| first_difference(&format!("c_n{name}"), c, fc, T::cell_to_f32))
                    {
                        mismatch(m);
                    }
                }
            }
        }

        let has_hidden = !case.hidden.is_empty();
        let errors = MaxErrors {
            outputs: outputs.max,
            hidden: has_hidden.then_some(hidden.max),
            h_n: h_n.max,
            c_n: c_n.max,
        };
        let mut failed = false;
        for tensor in [&outputs, &hidden, &h_n, &c_n] {
            if let Some(f) = tensor.failure(&self.name, label) {
                self.failures.push(f);
                failed = true;
            }
        }
        let file_note = match (&file_model, &file_mismatch) {
            (None, _) => "model file: not checked",
            (Some(_), None) => "model file and DynModel: bit-identical",
            (Some(_), Some(_)) => "model file or DynModel: DIFFERS",
        };
        if let Some(m) = file_mismatch {
            self.failures.push(format!(
                "case `{}`, format {label}: the model loaded from the model file (typed or DynModel) differs from the directly built model at {m}",
                self.name
            ));
            failed = true;
        }
        let mut line = format!(
            "{label:<13} max|err| outputs {:.2e}  hidden {}  h_n {:.2e}  c_n {:.2e}  bound {:.1e}  ",
            errors.outputs,
            errors.hidden.map_or("-".to_string(), |e| format!("{e:.2e}")),
            errors.h_n,
            errors.c_n,
            bound,
        );
        let _ = write!(line, "{}  {file_note}", if failed { "FAIL" } else { "ok" });
        self.report.push(line);
        Ok(Outcome::Ran(errors))
    }

    /// Runs every batch element of the case through `DynModel<Q4_12, A>`
    /// over a model file written in [`NumberFormat::Q4_12W8`] (8-bit
    /// weights, the writer's scales; there is no const-generic model in
    /// that format) and compares the outputs, `hidden`, `h_n` and `c_n`
    /// with the case within `variant.bound`.
    pub fn check_w8<A: Activation<Q4_12>>(&mut self, variant: Variant) -> Outcome {
        let label = format!("{}/{}", NumberFormat::Q4_12W8, variant.activation);
        match self.run_w8::<A>(&label, variant.bound) {
            Ok(outcome) => outcome,
            Err(e) => {
                self.failures
                    .push(format!("case `{}`, format {label}: {e}", self.name));
                self.report.push(format!("{label:<13} BROKEN: {e}"));
                Outcome::Broken
            }
        }
    }

    fn run_w8<A: Activation<Q4_12>>(&mut self, label: &str, bound: f64) -> Result<Outcome, String> {
        let case = &self.case;
        let skip = match self.out_of_range::<Q4_12>() {
            Some(reason) => Some(reason),
            None if case.layer_shapes().len() > MAX_LAYERS => Some(format!(
                "{} layers exceed the file's limit of {MAX_LAYERS}",
                case.layer_shapes().len()
            )),
            None => None,
        };
        if let Some(reason) = skip {
            self.report.push(format!("{label:<13} SKIPPED: {reason}"));
            self.skips.push(format!("{label} SKIPPED: {reason}"));
            return Ok(Outcome::Skipped(reason));
        }
        let bytes = case.to_model_file(NumberFormat::Q4_12W8)?;
        let bytes = leak_aligned(&bytes);
        let file =
            ModelFile::parse(bytes).map_err(|e| format!("model file does not parse: {e}"))?;
        let model = DynModel::<Q4_12, A>::from_file(&file)
            .map_err(|e| format!("model file does not load as a DynModel: {e}"))?;
        let mut outputs = Tensor::new("outputs");
        let mut hidden = Tensor::new("hidden");
        let mut h_n = Tensor::new("h_n");
        let mut c_n = Tensor::new("c_n");
        for b in 0..case.batch {
            let q = |v: &[f64]| v.iter().map(|&x| Q4_12::from_f32(x as f32)).collect();
            let mut state = DynState::<Q4_12> {
                h: (0..case.num_layers).map(|l| q(&case.h0[l][b])).collect(),
                c: (0..case.num_layers)
                    .map(|l| {
                        case.c0.get(l).map_or(Vec::new(), |c| {
                            c[b].iter()
                                .map(|&x| Q4_12::cell_from_f32(x as f32))
                                .collect()
                        })
                    })
                    .collect(),
            };
            for t in 0..case.steps {
                let x: Vec<Q4_12> = q(&case.inputs[b][t]);
                let y = model
                    .step(&mut state, &x)
                    .map_err(|e| format!("DynModel step failed: {e}"))?;
                for (j, (&got, &expected)) in y.iter().zip(&case.outputs[b][t]).enumerate() {
                    outputs.check(
                        || format!("[b={b}][t={t}][j={j}]"),
                        got.to_f32(),
                        expected,
                        bound,
                    );
                }
                if !case.hidden.is_empty() {
                    let h = state.h.last().ok_or("the model has no recurrent layer")?;
                    for (j, (&got, &expected)) in h.iter().zip(&case.hidden[b][t]).enumerate() {
                        hidden.check(
                            || format!("[b={b}][t={t}][j={j}]"),
                            got.to_f32(),
                            expected,
                            bound,
                        );
                    }
                }
            }
            for l in 0..case.num_layers {
                for (j, &got) in state.h[l].iter().enumerate() {
                    h_n.check(
                        || format!("[l={l}][b={b}][j={j}]"),
                        got.to_f32(),
                        case.h_n[l][b][j],
                        bound,
                    );
                }
                for (j, &got) in state.c[l].iter().enumerate() {
                    c_n.check(
                        || format!("[l={l}][b={b}][j={j}]"),
                        Q4_12::cell_to_f32(got),
                        case.c_n[l][b][j],
                        bound,
                    );
                }
            }
        }
        let errors = MaxErrors {
            outputs: outputs.max,
            hidden: (!case.hidden.is_empty()).then_some(hidden.max),
            h_n: h_n.max,
            c_n: c_n.max,
        };
        let mut failed = false;
        for tensor in [&outputs, &hidden, &h_n, &c_n] {
            if let Some(f) = tensor.failure(&self.name, label) {
                self.failures.push(f);
                failed = true;
            }
        }
        self.report.push(format!(
            "{label:<13} max|err| outputs {:.2e}  hidden {}  h_n {:.2e}  c_n {:.2e}  bound {:.1e}  {}  (DynModel over the file)",
            errors.outputs,
            errors.hidden.map_or("-".to_string(), |e| format!("{e:.2e}")),
            errors.h_n,
            errors.c_n,
            bound,
            if failed { "FAIL" } else { "ok" },
        ));
        Ok(Outcome::Ran(errors))
    }

    /// Prints the report (one line per variant; skips also go straight to
    /// stderr, uncaptured, so they are never silent) and panics with every
    /// failure.
    pub fn finish(self) {
        let c = &self.case;
        let mut text = format!(
            "reference case `{}` ({}): IN={} H={} L={} OUT={} B={} T={}\n",
            self.name,
            self.path,
            c.input_size,
            c.hidden_size,
            c.num_layers,
            c.output_size,
            c.batch,
            c.steps
        );
        for line in &self.report {
            let _ = writeln!(text, "    {line}");
        }
        print!("{text}");
        if !self.skips.is_empty() {
            let mut err = std::io::stderr().lock();
            for s in &self.skips {
                let _ = writeln!(err, "reference case `{}`: {s}", self.name);
            }
        }
        if !self.failures.is_empty() {
            panic!(
                "reference case `{}` failed {} check(s):\n  {}",
                self.name,
                self.failures.len(),
                self.failures.join("\n  ")
            );
        }
    }
}
