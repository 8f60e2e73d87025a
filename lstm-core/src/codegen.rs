//! Rust type aliases for a model file, generated at build time (feature
//! `codegen`, host only: it needs `std`).
//!
//! A firmware fixes its model's shapes and number format in its types
//! (`Stack<Lstm<Q4_12, Fast, 1, 32>, Dense<…>, 32>`, a `Stream` or a
//! `WindowedStream<W>`, a `RawIo` ring of `lag × IN` floats). A build script
//! reads the model file it embeds, calls [`model_types_from_file`] (or
//! [`model_types`] on a parsed [`Header`]) and writes the result to
//! `$OUT_DIR`; the firmware `include!`s it:
//!
//! ```no_run
//! // build.rs (with `lstm-core = { …, features = ["codegen"] }` under [build-dependencies])
//! use lstm_core::codegen::{model_types_from_file, ActivationKind};
//! let out = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap());
//! println!("cargo:rerun-if-changed=models/my.lstm");
//! let types = model_types_from_file("models/my.lstm", ActivationKind::Fast).unwrap();
//! std::fs::write(out.join("model_types.rs"), types).unwrap();
//! ```
//!
//! and in the firmware, next to `include_bytes!` of the same file:
//! `include!(concat!(env!("OUT_DIR"), "/model_types.rs"));` then
//! `file.model::<T, Model<'_>>()?`, `Streamer::new(&model)` and
//! `Io::with_history(&file.header)?`.
//!
//! The generated items (every path is written in full, `lstm_core::…`, so
//! the text can be included in any module whatever it imports):
//!
//! | item | what |
//! |---|---|
//! | `T` | the number type: `f32`, `lstm_core::Q4_12` or `lstm_core::Q16_16` |
//! | `Act` | `lstm_core::Fast` or `lstm_core::Exact` |
//! | `IN`, `OUT` | inputs and outputs per step |
//! | `HISTORY`, `Io<'h, 'a>` | `lstm_core::RawIo` sized for the differencing (`lag × IN` raw values) or the pooling sums (`IN`), at least 1 |
//! | `Model<'a>` | the layers: `Lstm`/`Gru` layers in file order, nested in `Stack`s, then the `Dense` head |
//! | `Streamer<'m>` | `lstm_core::Stream` (stateful) or `lstm_core::WindowedStream` of the window length |
//! | `MODE`, `WINDOW` | `"stateful"` / `"windowed"`, model steps per `step()` call |
//! | `MACS_PER_STEP` | multiply-accumulates per model step |
//! | `LAYERS`, `ACTIVATION` | names for a log (`"LSTM(1 -> 32), Dense(32 -> 1)"`, `"fast"`) |
//!
//! `firmware-example` builds and runs this output under QEMU in CI for LSTM,
//! GRU and stacked models, every number format, both modes, and models
//! trained on differences (`cargo xtask ci`).

use core::fmt::{self, Write as _};
use core::str::FromStr;
use std::format;
use std::path::{Path, PathBuf};
use std::string::{String, ToString};
use std::vec::Vec;

use crate::file::{Header, ModelFile, TrainingMode};
use crate::num::NumberFormat;
use crate::shape::LayerShape;

/// Which activation functions the generated `Act` names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ActivationKind {
    /// [`Fast`](crate::Fast): tables for fixed point, `micromath` for `f32`.
    #[default]
    Fast,
    /// [`Exact`](crate::Exact): `libm`.
    Exact,
}

impl ActivationKind {
    /// The lower-case name (`"fast"`, `"exact"`), as [`FromStr`] reads it.
    pub const fn name(self) -> &'static str {
        match self {
            ActivationKind::Fast => "fast",
            ActivationKind::Exact => "exact",
        }
    }

    /// The type's path in generated code.
    pub const fn type_path(self) -> &'static str {
        match self {
            ActivationKind::Fast => "lstm_core::Fast",
            ActivationKind::Exact => "lstm_core::Exact",
        }
    }
}

impl FromStr for ActivationKind {
    type Err = CodegenError;

    /// `fast` or `exact` (e.g. from an environment variable a build script reads).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fast" => Ok(ActivationKind::Fast),
            "exact" => Ok(ActivationKind::Exact),
            other => Err(CodegenError::UnknownActivation(other.to_string())),
        }
    }
}

impl fmt::Display for ActivationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why no types could be generated.
#[derive(Debug)]
#[non_exhaustive]
pub enum CodegenError {
    /// The model file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file is not a usable model file (magic, version, lengths, CRC or header).
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        error: crate::Error,
    },
    /// The header does not describe a model `lstm-core` can run
    /// ([`Header::validate`] failed).
    InvalidHeader(crate::Error),
    /// An activation name other than `fast` or `exact`.
    UnknownActivation(String),
}

impl fmt::Display for CodegenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodegenError::Read { path, source } => {
                write!(f, "cannot read model file {}: {source}", path.display())
            }
            CodegenError::Parse { path, error } => {
                write!(f, "{} is not a usable model file: {error}", path.display())
            }
            CodegenError::InvalidHeader(error) => {
                write!(
                    f,
                    "the header describes no model lstm-core can run: {error}"
                )
            }
            CodegenError::UnknownActivation(name) => {
                write!(f, "activation {name:?}: expected fast or exact")
            }
        }
    }
}

impl std::error::Error for CodegenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CodegenError::Read { source, .. } => Some(source),
            CodegenError::Parse { error, .. } | CodegenError::InvalidHeader(error) => Some(error),
            CodegenError::UnknownActivation(_) => None,
        }
    }
}

/// Rust source declaring the types and constants of the model `header`
/// describes (see the [module docs](self) for the items).
///
/// ```
/// use lstm_core::codegen::{model_types, ActivationKind};
/// use lstm_core::file::{Differencing, Header, Scaling, Task, TrainingMode};
/// use lstm_core::{LayerShape, NumberFormat};
///
/// // Two inputs, a GRU of 8 over an LSTM of 16, one output, trained on
/// // windows of 24 samples of seasonal differences at lag 12.
/// let header = Header {
///     format: NumberFormat::Q4_12,
///     layers: heapless::Vec::from_slice(&[
///         LayerShape::Lstm { input: 2, hidden: 16 },
///         LayerShape::Gru { input: 16, hidden: 8 },
///         LayerShape::Dense { input: 8, output: 1 },
///     ])
///     .unwrap(),
///     input_scaling: Scaling::Identity,
///     output_scaling: Scaling::Identity,
///     mode: TrainingMode::Windowed { window: 24 },
///     task: Task::Regression,
///     differencing: Differencing::Seasonal {
///         lag: 12,
///         targets: heapless::Vec::from_slice(&[0]).unwrap(),
///     },
///     pool: 1,
/// };
/// let code = model_types(&header, ActivationKind::Fast)?;
/// // HISTORY: lag 12 × 2 inputs; MACs: 4·16·(2+16) + 3·8·(16+8) + 8·1.
/// assert_eq!(
///     code,
///     r#"// Generated by lstm_core::codegen from the model file's header — do not edit.
/// /// Number type the model computes in (from the file's header).
/// pub type T = lstm_core::Q4_12;
/// /// Activation functions.
/// pub type Act = lstm_core::Fast;
/// /// Inputs per step.
/// pub const IN: usize = 2;
/// /// Outputs per step.
/// pub const OUT: usize = 1;
/// /// Past raw values `RawIo` keeps: the differencing lag times `IN` (at least 1).
/// pub const HISTORY: usize = 24;
/// /// Raw samples in, raw forecasts out, for this model.
/// pub type Io<'h, 'a> = lstm_core::RawIo<'h, 'a, HISTORY>;
/// /// The model, its shapes fixed at build time.
/// pub type Model<'a> = lstm_core::Stack<lstm_core::Stack<lstm_core::Lstm<'a, T, Act, 2, 16>, lstm_core::Gru<'a, T, Act, 16, 8>, 16>, lstm_core::Dense<'a, T, 8, 1>, 8>;
/// /// The stream for the mode the model was trained in.
/// pub type Streamer<'m> = lstm_core::WindowedStream<'m, Model<'m>, T, IN, OUT, 24>;
/// /// Training mode name.
/// pub const MODE: &str = "windowed";
/// /// Model steps per `step()` call (window length, 1 for stateful).
/// pub const WINDOW: usize = 24;
/// /// Multiply-accumulates per model step: Σ G·H·(IN+H) over recurrent layers (G = 4 for LSTM, 3 for GRU) + IN·OUT of the head.
/// pub const MACS_PER_STEP: usize = 1736;
/// /// Layers, for the log.
/// pub const LAYERS: &str = "LSTM(2 -> 16), GRU(16 -> 8), Dense(8 -> 1)";
/// /// Activation name, for the log.
/// pub const ACTIVATION: &str = "fast";
/// "#
/// );
/// # Ok::<(), lstm_core::codegen::CodegenError>(())
/// ```
pub fn model_types(
    header: &Header<'_>,
    activation: ActivationKind,
) -> Result<String, CodegenError> {
    header.validate().map_err(CodegenError::InvalidHeader)?;
    let scalar = match header.format {
        NumberFormat::F32 => "f32",
        NumberFormat::Q4_12 => "lstm_core::Q4_12",
        NumberFormat::Q16_16 => "lstm_core::Q16_16",
        NumberFormat::Q4_12W8 => "lstm_core::Q4_12",
    };
    let w8 = header.format == NumberFormat::Q4_12W8;
    let (in_size, out_size) = (header.input_size(), header.output_size());

    // Stack<…Stack<L1, L2, H1>…, Dense, H_last>, and the MACs of one model step.
    // The sizes are u32 in the file; u128 holds any product of them.
    let mut model_ty = String::new();
    let mut macs: u128 = 0;
    let mut width = in_size;
    for (k, layer) in header.layers.iter().enumerate() {
        let (ty, layer_macs) = match *layer {
            LayerShape::Lstm { input, hidden } if w8 => (
                format!("lstm_core::w8::LstmW8<'a, Act, {input}, {hidden}>"),
                4 * u128::from(hidden) * (u128::from(input) + u128::from(hidden)),
            ),
            LayerShape::Gru { input, hidden } if w8 => (
                format!("lstm_core::w8::GruW8<'a, Act, {input}, {hidden}>"),
                3 * u128::from(hidden) * (u128::from(input) + u128::from(hidden)),
            ),
            LayerShape::Dense { input, output } if w8 => (
                format!("lstm_core::w8::DenseW8<'a, {input}, {output}>"),
                u128::from(input) * u128::from(output),
            ),
            LayerShape::Lstm { input, hidden } => (
                format!("lstm_core::Lstm<'a, T, Act, {input}, {hidden}>"),
                4 * u128::from(hidden) * (u128::from(input) + u128::from(hidden)),
            ),
            LayerShape::Gru { input, hidden } => (
                format!("lstm_core::Gru<'a, T, Act, {input}, {hidden}>"),
                3 * u128::from(hidden) * (u128::from(input) + u128::from(hidden)),
            ),
            LayerShape::Dense { input, output } => (
                format!("lstm_core::Dense<'a, T, {input}, {output}>"),
                u128::from(input) * u128::from(output),
            ),
        };
        model_ty = if k == 0 {
            ty
        } else {
            format!("lstm_core::Stack<{model_ty}, {ty}, {width}>")
        };
        macs += layer_macs;
        width = layer.output();
    }
    let (stream_ty, mode, window) = match header.mode {
        TrainingMode::Stateful => (
            "lstm_core::Stream<'m, Model<'m>, T, IN, OUT>".to_string(),
            "stateful",
            1,
        ),
        TrainingMode::Windowed { window } => (
            format!("lstm_core::WindowedStream<'m, Model<'m>, T, IN, OUT, {window}>"),
            "windowed",
            window,
        ),
    };
    // What `RawIo::with_history` needs: a pooling model keeps its running
    // sums (one sample's worth), a differenced one `lag` samples. The lag is
    // a u16 and IN a u32 in the file: the product fits a u64.
    let lag = if header.pool > crate::file::NO_POOL {
        1
    } else {
        header.differencing.lag() as u64
    };
    let history = (lag * in_size as u64).max(1);
    let layers: Vec<String> = header.layers.iter().map(|l| l.to_string()).collect();

    let items: [(&str, String); 13] = [
        (
            "/// Number type the model computes in (from the file's header).",
            format!("pub type T = {scalar};"),
        ),
        (
            "/// Activation functions.",
            format!("pub type Act = {};", activation.type_path()),
        ),
        (
            "/// Inputs per step.",
            format!("pub const IN: usize = {in_size};"),
        ),
        (
            "/// Outputs per step.",
            format!("pub const OUT: usize = {out_size};"),
        ),
        (
            "/// Past raw values `RawIo` keeps: the differencing lag times `IN` (at least 1).",
            format!("pub const HISTORY: usize = {history};"),
        ),
        (
            "/// Raw samples in, raw forecasts out, for this model.",
            "pub type Io<'h, 'a> = lstm_core::RawIo<'h, 'a, HISTORY>;".to_string(),
        ),
        (
            "/// The model, its shapes fixed at build time.",
            format!("pub type Model<'a> = {model_ty};"),
        ),
        (
            "/// The stream for the mode the model was trained in.",
            format!("pub type Streamer<'m> = {stream_ty};"),
        ),
        (
            "/// Training mode name.",
            format!("pub const MODE: &str = \"{mode}\";"),
        ),
        (
            "/// Model steps per `step()` call (window length, 1 for stateful).",
            format!("pub const WINDOW: usize = {window};"),
        ),
        (
            "/// Multiply-accumulates per model step: Σ G·H·(IN+H) over recurrent layers \
             (G = 4 for LSTM, 3 for GRU) + IN·OUT of the head.",
            format!("pub const MACS_PER_STEP: usize = {macs};"),
        ),
        (
            "/// Layers, for the log.",
            format!("pub const LAYERS: &str = {:?};", layers.join(", ")),
        ),
        (
            "/// Activation name, for the log.",
            format!("pub const ACTIVATION: &str = {:?};", activation.name()),
        ),
    ];
    let mut code = String::from(
        "// Generated by lstm_core::codegen from the model file's header — do not edit.\n",
    );
    for (doc, item) in items {
        // Writing to a String cannot fail.
        let _ = writeln!(code, "{doc}\n{item}");
    }
    Ok(code)
}

/// Reads the model file at `path`, checks it like the device will (frame,
/// CRC, header) and returns [`model_types`] for its header, for a build
/// script. The caller prints `cargo:rerun-if-changed` for the file.
pub fn model_types_from_file(
    path: impl AsRef<Path>,
    activation: ActivationKind,
) -> Result<String, CodegenError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| CodegenError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let file = ModelFile::parse(&bytes).map_err(|error| CodegenError::Parse {
        path: path.to_path_buf(),
        error,
    })?;
    model_types(&file.header, activation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::{to_vec, Differencing, Scaling, Task};
    use std::vec;

    fn header(
        format: NumberFormat,
        layers: &[LayerShape],
        mode: TrainingMode,
        differencing: Differencing,
    ) -> Header<'static> {
        Header {
            format,
            layers: heapless::Vec::from_slice(layers).unwrap(),
            input_scaling: Scaling::Identity,
            output_scaling: Scaling::Identity,
            mode,
            task: Task::Regression,
            differencing,
            pool: crate::file::NO_POOL,
        }
    }

    /// The line declaring `name` (`pub type name` / `pub const name`).
    fn item<'c>(code: &'c str, name: &str) -> &'c str {
        code.lines()
            .find(|l| {
                l.strip_prefix("pub type ")
                    .or_else(|| l.strip_prefix("pub const "))
                    .is_some_and(|rest| {
                        rest.strip_prefix(name)
                            .is_some_and(|r| r.starts_with([' ', ':', '<']))
                    })
            })
            .unwrap_or_else(|| panic!("no item {name} in\n{code}"))
    }

    fn targets(t: &[u8]) -> heapless::Vec<u8, { crate::file::MAX_FEATURES }> {
        heapless::Vec::from_slice(t).unwrap()
    }

    /// The demo model (`firmware-example/models/demo.lstm`): its firmware
    /// log reports 4256 MACs per model step and 12 model steps per sample.
    #[test]
    fn demo_model_whole_text() {
        let h = header(
            NumberFormat::Q4_12,
            &[
                LayerShape::Lstm {
                    input: 1,
                    hidden: 32,
                },
                LayerShape::Dense {
                    input: 32,
                    output: 1,
                },
            ],
            TrainingMode::Windowed { window: 12 },
            Differencing::None,
        );
        let code = model_types(&h, ActivationKind::Fast).unwrap();
        let expected = "\
// Generated by lstm_core::codegen from the model file's header — do not edit.
/// Number type the model computes in (from the file's header).
pub type T = lstm_core::Q4_12;
/// Activation functions.
pub type Act = lstm_core::Fast;
/// Inputs per step.
pub const IN: usize = 1;
/// Outputs per step.
pub const OUT: usize = 1;
/// Past raw values `RawIo` keeps: the differencing lag times `IN` (at least 1).
pub const HISTORY: usize = 1;
/// Raw samples in, raw forecasts out, for this model.
pub type Io<'h, 'a> = lstm_core::RawIo<'h, 'a, HISTORY>;
/// The model, its shapes fixed at build time.
pub type Model<'a> = lstm_core::Stack<lstm_core::Lstm<'a, T, Act, 1, 32>, lstm_core::Dense<'a, T, 32, 1>, 32>;
/// The stream for the mode the model was trained in.
pub type Streamer<'m> = lstm_core::WindowedStream<'m, Model<'m>, T, IN, OUT, 12>;
/// Training mode name.
pub const MODE: &str = \"windowed\";
/// Model steps per `step()` call (window length, 1 for stateful).
pub const WINDOW: usize = 12;
/// Multiply-accumulates per model step: Σ G·H·(IN+H) over recurrent layers (G = 4 for LSTM, 3 for GRU) + IN·OUT of the head.
pub const MACS_PER_STEP: usize = 4256;
/// Layers, for the log.
pub const LAYERS: &str = \"LSTM(1 -> 32), Dense(32 -> 1)\";
/// Activation name, for the log.
pub const ACTIVATION: &str = \"fast\";
";
        assert_eq!(code, expected);
    }

    #[test]
    fn stateful_gru_in_f32_with_exact_activations() {
        let h = header(
            NumberFormat::F32,
            &[
                LayerShape::Gru {
                    input: 2,
                    hidden: 8,
                },
                LayerShape::Dense {
                    input: 8,
                    output: 3,
                },
            ],
            TrainingMode::Stateful,
            Differencing::None,
        );
        let code = model_types(&h, ActivationKind::Exact).unwrap();
        assert_eq!(item(&code, "T"), "pub type T = f32;");
        assert_eq!(item(&code, "Act"), "pub type Act = lstm_core::Exact;");
        assert_eq!(item(&code, "IN"), "pub const IN: usize = 2;");
        assert_eq!(item(&code, "OUT"), "pub const OUT: usize = 3;");
        assert_eq!(
            item(&code, "Model"),
            "pub type Model<'a> = lstm_core::Stack<lstm_core::Gru<'a, T, Act, 2, 8>, lstm_core::Dense<'a, T, 8, 3>, 8>;"
        );
        assert_eq!(
            item(&code, "Streamer"),
            "pub type Streamer<'m> = lstm_core::Stream<'m, Model<'m>, T, IN, OUT>;"
        );
        assert_eq!(item(&code, "MODE"), "pub const MODE: &str = \"stateful\";");
        assert_eq!(item(&code, "WINDOW"), "pub const WINDOW: usize = 1;");
        // 3·8·(2+8) + 8·3
        assert_eq!(
            item(&code, "MACS_PER_STEP"),
            "pub const MACS_PER_STEP: usize = 264;"
        );
        assert_eq!(
            item(&code, "LAYERS"),
            "pub const LAYERS: &str = \"GRU(2 -> 8), Dense(8 -> 3)\";"
        );
        assert_eq!(
            item(&code, "ACTIVATION"),
            "pub const ACTIVATION: &str = \"exact\";"
        );
    }

    #[test]
    fn three_recurrent_layers_nest_left_in_q16_16() {
        let h = header(
            NumberFormat::Q16_16,
            &[
                LayerShape::Gru {
                    input: 3,
                    hidden: 4,
                },
                LayerShape::Lstm {
                    input: 4,
                    hidden: 5,
                },
                LayerShape::Gru {
                    input: 5,
                    hidden: 6,
                },
                LayerShape::Dense {
                    input: 6,
                    output: 2,
                },
            ],
            TrainingMode::Windowed { window: 7 },
            Differencing::None,
        );
        let code = model_types(&h, ActivationKind::Fast).unwrap();
        assert_eq!(item(&code, "T"), "pub type T = lstm_core::Q16_16;");
        assert_eq!(
            item(&code, "Model"),
            "pub type Model<'a> = lstm_core::Stack<lstm_core::Stack<lstm_core::Stack<\
             lstm_core::Gru<'a, T, Act, 3, 4>, lstm_core::Lstm<'a, T, Act, 4, 5>, 4>, \
             lstm_core::Gru<'a, T, Act, 5, 6>, 5>, lstm_core::Dense<'a, T, 6, 2>, 6>;"
        );
        assert_eq!(
            item(&code, "Streamer"),
            "pub type Streamer<'m> = lstm_core::WindowedStream<'m, Model<'m>, T, IN, OUT, 7>;"
        );
        // 3·4·(3+4) + 4·5·(4+5) + 3·6·(5+6) + 6·2
        assert_eq!(
            item(&code, "MACS_PER_STEP"),
            "pub const MACS_PER_STEP: usize = 474;"
        );
    }

    #[test]
    fn differencing_sizes_the_raw_history() {
        let layers = [
            LayerShape::Lstm {
                input: 3,
                hidden: 4,
            },
            LayerShape::Dense {
                input: 4,
                output: 1,
            },
        ];
        let cases = [
            (Differencing::None, 1),
            (
                Differencing::First {
                    targets: targets(&[2]),
                },
                3,
            ),
            (
                Differencing::Seasonal {
                    lag: 12,
                    targets: targets(&[0]),
                },
                36,
            ),
        ];
        for (differencing, history) in cases {
            let h = header(
                NumberFormat::F32,
                &layers,
                TrainingMode::Stateful,
                differencing,
            );
            let code = model_types(&h, ActivationKind::Fast).unwrap();
            assert_eq!(
                item(&code, "HISTORY"),
                format!("pub const HISTORY: usize = {history};")
            );
        }
    }

    #[test]
    fn pooling_sizes_the_raw_history_for_its_sums() {
        // A pooled classifier of 3 inputs keeps one sample's running sums:
        // `RawIo::with_history` refuses fewer than 3 values.
        let mut h = header(
            NumberFormat::Q4_12,
            &[
                LayerShape::Lstm {
                    input: 3,
                    hidden: 4,
                },
                LayerShape::Dense {
                    input: 4,
                    output: 2,
                },
            ],
            TrainingMode::Windowed { window: 10 },
            Differencing::None,
        );
        h.task = Task::Classification {
            classes: heapless::Vec::from_slice(&["a", "b"]).unwrap(),
        };
        h.pool = 4;
        let code = model_types(&h, ActivationKind::Fast).unwrap();
        assert_eq!(item(&code, "HISTORY"), "pub const HISTORY: usize = 3;");
        assert!(crate::RawIo::<3>::with_history(&h).is_ok());
        assert!(crate::RawIo::<2>::with_history(&h).is_err());
    }

    #[test]
    fn an_invalid_header_is_refused() {
        let lstm_only = header(
            NumberFormat::F32,
            &[LayerShape::Lstm {
                input: 1,
                hidden: 2,
            }],
            TrainingMode::Stateful,
            Differencing::None,
        );
        let zero_window = header(
            NumberFormat::F32,
            &[
                LayerShape::Lstm {
                    input: 1,
                    hidden: 2,
                },
                LayerShape::Dense {
                    input: 2,
                    output: 1,
                },
            ],
            TrainingMode::Windowed { window: 0 },
            Differencing::None,
        );
        for h in [lstm_only, zero_window] {
            let e = model_types(&h, ActivationKind::Fast).unwrap_err();
            assert!(
                matches!(e, CodegenError::InvalidHeader(crate::Error::Malformed(_))),
                "{e:?}"
            );
        }
    }

    #[test]
    fn activation_names() {
        assert_eq!(
            "fast".parse::<ActivationKind>().unwrap(),
            ActivationKind::Fast
        );
        assert_eq!(
            "exact".parse::<ActivationKind>().unwrap(),
            ActivationKind::Exact
        );
        for kind in [ActivationKind::Fast, ActivationKind::Exact] {
            assert_eq!(kind.name().parse::<ActivationKind>().unwrap(), kind);
        }
        let e = "Fast".parse::<ActivationKind>().unwrap_err();
        assert!(matches!(&e, CodegenError::UnknownActivation(n) if n == "Fast"));
        assert_eq!(e.to_string(), "activation \"Fast\": expected fast or exact");
    }

    /// A file in the temp dir, removed on drop.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(name: &str, bytes: &[u8]) -> Self {
            let path = std::env::temp_dir()
                .join(format!("lstm-core-codegen-{}-{name}", std::process::id()));
            std::fs::write(&path, bytes).unwrap();
            TempFile(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[test]
    fn from_file_reads_checks_and_generates() {
        let h = header(
            NumberFormat::Q4_12,
            &[
                LayerShape::Lstm {
                    input: 2,
                    hidden: 3,
                },
                LayerShape::Gru {
                    input: 3,
                    hidden: 2,
                },
                LayerShape::Dense {
                    input: 2,
                    output: 1,
                },
            ],
            TrainingMode::Stateful,
            Differencing::First {
                targets: targets(&[1]),
            },
        );
        let bytes = to_vec(&h, &vec![0.25; h.parameter_count().unwrap()]).unwrap();
        let good = TempFile::new("good.lstm", &bytes);
        assert_eq!(
            model_types_from_file(&good.0, ActivationKind::Exact).unwrap(),
            model_types(&h, ActivationKind::Exact).unwrap()
        );

        // One weight byte flipped: the CRC no longer matches.
        let mut corrupt = bytes.clone();
        let last = corrupt.len() - 5;
        corrupt[last] ^= 1;
        let corrupt = TempFile::new("corrupt.lstm", &corrupt);
        let e = model_types_from_file(&corrupt.0, ActivationKind::Fast).unwrap_err();
        assert!(
            matches!(&e, CodegenError::Parse { path, error: crate::Error::CrcMismatch { .. } } if *path == corrupt.0),
            "{e:?}"
        );
        assert!(
            e.to_string()
                .contains("corrupt.lstm is not a usable model file"),
            "{e}"
        );

        let missing = std::env::temp_dir().join(format!(
            "lstm-core-codegen-{}-missing.lstm",
            std::process::id()
        ));
        let e = model_types_from_file(&missing, ActivationKind::Fast).unwrap_err();
        assert!(
            matches!(&e, CodegenError::Read { path, source } if *path == missing && source.kind() == std::io::ErrorKind::NotFound),
            "{e:?}"
        );
        assert!(e.to_string().starts_with("cannot read model file "), "{e}");
    }
}
