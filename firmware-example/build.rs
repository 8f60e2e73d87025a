//! Build script: picks the model file and the QEMU machine at build time.
//!
//! Environment (all optional; each is a `rerun-if-env-changed`):
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `LSTM_MODEL` | model file written by `lstm_core::file` | `models/demo.lstm` |
//! | `LSTM_INPUTS` | held-out inputs: raw little-endian `f32`, `IN` per step, unscaled | `<model>.inputs` |
//! | `LSTM_EXPECTED` | the host's outputs for those inputs: the format's raw little-endian bits, `OUT` per step (device builds only; `cargo xtask firmware` computes it with the host build of this crate) | `<model>.expected` |
//! | `LSTM_TYPES_FROM` | take the shapes and number format from this model file instead (to test the device's own checks against a corrupt or mismatched `LSTM_MODEL`) | `LSTM_MODEL` |
//! | `LSTM_ACTIVATION` | `fast` or `exact` (`lstm_core::Fast` / `Exact`) | `fast` |
//! | `FIRMWARE_MACHINE` | `mps2-an386` or `microbit`: selects `memory/<machine>.x` | `microbit` for `thumbv6m-*`, else `mps2-an386` |
//!
//! Relative paths are taken from this crate's folder.
//!
//! It copies the model to `$OUT_DIR/model.lstm` (embedded with `include_bytes!`),
//! parses its header with `lstm-core` and writes `$OUT_DIR/model_types.rs`
//! (number type, const-generic shapes, model and stream types) and
//! `$OUT_DIR/data.rs` (inputs, expected outputs) for `src/main.rs`.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use lstm_core::file::{ModelFile, TrainingMode};
use lstm_core::{LayerShape, NumberFormat};

/// Fails the build with a readable message (build scripts report panics verbatim).
fn fail(msg: String) -> ! {
    panic!("\n\nfirmware-example build: {msg}\n")
}

/// `var` as a path relative to the crate, or `default`.
fn path_var(var: &str, default: impl FnOnce() -> PathBuf) -> PathBuf {
    println!("cargo:rerun-if-env-changed={var}");
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    match env::var_os(var) {
        Some(p) if !p.is_empty() => manifest_dir.join(p),
        _ => default(),
    }
}

/// `<path>.<ext>` (the model's companion files).
fn with_suffix(path: &Path, ext: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

fn read(path: &Path, what: &str) -> Vec<u8> {
    println!("cargo:rerun-if-changed={}", path.display());
    fs::read(path).unwrap_or_else(|e| fail(format!("cannot read {what} {}: {e}", path.display())))
}

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let target = env::var("TARGET").unwrap();
    let device = env::var("CARGO_CFG_TARGET_OS").unwrap() == "none";
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    println!("cargo:rerun-if-changed=build.rs");

    // ---- machine / memory layout -------------------------------------------------
    println!("cargo:rerun-if-env-changed=FIRMWARE_MACHINE");
    let machine = env::var("FIRMWARE_MACHINE")
        .ok()
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| {
            if target.starts_with("thumbv6m") {
                "microbit".into()
            } else {
                "mps2-an386".into()
            }
        });
    if device {
        let memory = manifest_dir.join("memory").join(format!("{machine}.x"));
        let text = read(&memory, "memory layout");
        fs::write(out.join("memory.x"), text).unwrap();
        println!("cargo:rustc-link-search={}", out.display());
    }

    // ---- model file --------------------------------------------------------------
    let model_path = path_var("LSTM_MODEL", || manifest_dir.join("models/demo.lstm"));
    let bytes = read(&model_path, "model file");
    fs::write(out.join("model.lstm"), &bytes).unwrap();
    // The types normally come from the embedded model itself; LSTM_TYPES_FROM
    // builds the firmware for another model's types, to exercise the
    // device-side checks (a corrupt file, another format or shape).
    println!("cargo:rerun-if-env-changed=LSTM_TYPES_FROM");
    let types_bytes = match env::var_os("LSTM_TYPES_FROM") {
        Some(p) if !p.is_empty() => read(&manifest_dir.join(p), "LSTM_TYPES_FROM model file"),
        _ => bytes.clone(),
    };
    let file = ModelFile::parse(&types_bytes).unwrap_or_else(|e| {
        fail(format!(
            "{} is not a usable model file: {e}",
            model_path.display()
        ))
    });
    let header = &file.header;

    println!("cargo:rerun-if-env-changed=LSTM_ACTIVATION");
    let activation = match env::var("LSTM_ACTIVATION").as_deref() {
        Ok("exact") => "Exact",
        Ok("fast") | Ok("") | Err(_) => "Fast",
        Ok(other) => fail(format!("LSTM_ACTIVATION={other}: expected fast or exact")),
    };

    let (scalar, size) = match header.format {
        NumberFormat::F32 => ("f32", 4),
        NumberFormat::Q4_12 => ("lstm_core::Q4_12", 2),
        NumberFormat::Q16_16 => ("lstm_core::Q16_16", 4),
    };
    let (in_size, out_size) = (header.input_size(), header.output_size());

    // Model type: Stack<...Stack<Lstm1, Gru2, H1>..., Dense, H_last>.
    let mut model_ty = String::new();
    let mut macs = 0usize;
    let mut width = in_size;
    for (k, layer) in header.layers.iter().enumerate() {
        match *layer {
            LayerShape::Lstm { input, hidden } | LayerShape::Gru { input, hidden } => {
                // `Lstm` or `Gru`: the same generic layer, 4 or 3 gate blocks.
                let (cell, gates) = match *layer {
                    LayerShape::Gru { .. } => ("Gru", 3),
                    _ => ("Lstm", 4),
                };
                let lstm = format!("{cell}<'a, T, Act, {input}, {hidden}>");
                model_ty = if k == 0 {
                    lstm
                } else {
                    format!("Stack<{model_ty}, {lstm}, {width}>")
                };
                macs += gates * hidden as usize * (input as usize + hidden as usize);
            }
            LayerShape::Dense { input, output } => {
                model_ty = format!("Stack<{model_ty}, Dense<'a, T, {input}, {output}>, {width}>");
                macs += input as usize * output as usize;
            }
        }
        width = layer.output();
    }
    let (stream_ty, mode, window) = match header.mode {
        TrainingMode::Stateful => (
            "Stream<'m, Model<'m>, T, IN, OUT>".to_string(),
            "stateful",
            1,
        ),
        TrainingMode::Windowed { window } => (
            format!("WindowedStream<'m, Model<'m>, T, IN, OUT, {window}>"),
            "windowed",
            window as usize,
        ),
    };
    let layers: Vec<String> = header.layers.iter().map(|l| l.to_string()).collect();
    let model_name = model_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();

    let mut types = String::new();
    writeln!(
        types,
        "// Generated by build.rs from {} — do not edit.",
        model_path.display()
    )
    .unwrap();
    // `Gru` is imported only when used, so that an LSTM model's generated
    // file stays byte-identical to earlier builds'.
    let has_gru = header
        .layers
        .iter()
        .any(|l| matches!(l, LayerShape::Gru { .. }));
    let gru_import = if has_gru { "Gru, " } else { "" };
    writeln!(
        types,
        "#[allow(unused_imports)] use lstm_core::{{Dense, {gru_import}Lstm, Stack, Stream, WindowedStream}};"
    )
    .unwrap();
    writeln!(
        types,
        "/// Number type the model computes in (from the file's header).\npub type T = {scalar};"
    )
    .unwrap();
    writeln!(
        types,
        "/// Activation functions (`LSTM_ACTIVATION`).\npub type Act = lstm_core::{activation};"
    )
    .unwrap();
    writeln!(
        types,
        "/// Inputs per step.\npub const IN: usize = {in_size};"
    )
    .unwrap();
    writeln!(
        types,
        "/// Outputs per step.\npub const OUT: usize = {out_size};"
    )
    .unwrap();
    let history = (header.differencing.lag() * in_size).max(1);
    writeln!(
        types,
        "/// Past raw values `RawIo` keeps: the differencing lag times `IN` (at least 1).\npub const HISTORY: usize = {history};\n/// Raw samples in, raw forecasts out, for this model.\npub type Io<'h, 'a> = lstm_core::RawIo<'h, 'a, HISTORY>;"
    )
    .unwrap();
    writeln!(
        types,
        "/// The model, its shapes fixed at build time.\npub type Model<'a> = {model_ty};"
    )
    .unwrap();
    writeln!(types, "/// The stream for the mode the model was trained in.\npub type Streamer<'m> = {stream_ty};").unwrap();
    writeln!(
        types,
        "/// Training mode name.\npub const MODE: &str = \"{mode}\";"
    )
    .unwrap();
    writeln!(types, "/// Model steps per `step()` call (window length, 1 for stateful).\npub const WINDOW: usize = {window};").unwrap();
    let macs_doc = if has_gru {
        "Σ G·H·(IN+H) over recurrent layers (G = 4 for LSTM, 3 for GRU) + H·OUT"
    } else {
        "Σ 4·H·(IN+H) over LSTM layers + H·OUT"
    };
    writeln!(types, "/// Multiply-accumulates per model step: {macs_doc}.\npub const MACS_PER_STEP: usize = {macs};").unwrap();
    writeln!(
        types,
        "/// Layers, for the log.\npub const LAYERS: &str = \"{}\";",
        layers.join(", ")
    )
    .unwrap();
    writeln!(
        types,
        "/// Activation name, for the log.\npub const ACTIVATION: &str = \"{}\";",
        activation.to_lowercase()
    )
    .unwrap();
    writeln!(
        types,
        "/// Model file name, for the log.\npub const MODEL_NAME: &str = {model_name:?};"
    )
    .unwrap();
    writeln!(
        types,
        "/// QEMU machine this build is laid out for.\npub const MACHINE: &str = \"{machine}\";"
    )
    .unwrap();
    fs::write(out.join("model_types.rs"), types).unwrap();

    // ---- held-out inputs and expected outputs ------------------------------------
    let inputs_path = path_var("LSTM_INPUTS", || with_suffix(&model_path, "inputs"));
    let inputs = read(&inputs_path, "inputs file");
    if inputs.is_empty() || !inputs.len().is_multiple_of(4 * in_size) {
        fail(format!(
            "{}: {} bytes is not a whole number of steps of {in_size} little-endian f32",
            inputs_path.display(),
            inputs.len()
        ));
    }
    let steps = inputs.len() / (4 * in_size);
    // A differenced model gives no output for the first sample.
    let lag = header.differencing.lag();
    if steps <= lag {
        fail(format!(
            "{}: {steps} steps of inputs, but a differenced model needs at least {}",
            inputs_path.display(),
            lag + 1
        ));
    }
    let outputs = steps - lag;
    let mut data = String::new();
    writeln!(
        data,
        "// Generated by build.rs from {} — do not edit.",
        inputs_path.display()
    )
    .unwrap();
    writeln!(
        data,
        "/// Number of held-out steps.\npub const STEPS: usize = {steps};"
    )
    .unwrap();
    writeln!(
        data,
        "/// Number of outputs (steps minus the samples that only prime a difference).\npub const OUTPUTS: usize = {outputs};"
    )
    .unwrap();
    writeln!(
        data,
        "/// Held-out inputs, unscaled, exact bits.\npub static INPUTS: [[f32; IN]; STEPS] = ["
    )
    .unwrap();
    for step in inputs.chunks_exact(4 * in_size) {
        let row: Vec<String> = step
            .chunks_exact(4)
            .map(|b| {
                format!(
                    "f32::from_bits({:#010x})",
                    u32::from_le_bytes(b.try_into().unwrap())
                )
            })
            .collect();
        writeln!(data, "    [{}],", row.join(", ")).unwrap();
    }
    writeln!(data, "];").unwrap();

    if device {
        let expected_path = path_var("LSTM_EXPECTED", || with_suffix(&model_path, "expected"));
        if !expected_path.exists() {
            fail(format!(
                "no expected outputs at {} (set LSTM_EXPECTED); `cargo xtask firmware --model {}` computes them on the host",
                expected_path.display(),
                model_path.display()
            ));
        }
        let expected = read(&expected_path, "expected outputs");
        if expected.len() != outputs * out_size * size {
            fail(format!(
                "{}: {} bytes, but {outputs} steps × {out_size} outputs × {size} bytes ({}) are {}; \
                 stale? recompute with `cargo xtask firmware --model {}`",
                expected_path.display(),
                expected.len(),
                header.format,
                outputs * out_size * size,
                model_path.display()
            ));
        }
        writeln!(
            data,
            "/// The host's outputs (raw bits of `T`).\npub static EXPECTED: [[T; OUT]; OUTPUTS] = ["
        )
        .unwrap();
        for step in expected.chunks_exact(out_size * size) {
            let row: Vec<String> = step
                .chunks_exact(size)
                .map(|b| match header.format {
                    NumberFormat::F32 => format!(
                        "f32::from_bits({:#010x})",
                        u32::from_le_bytes(b.try_into().unwrap())
                    ),
                    NumberFormat::Q4_12 => format!(
                        "T::from_bits({})",
                        i16::from_le_bytes(b.try_into().unwrap())
                    ),
                    NumberFormat::Q16_16 => format!(
                        "T::from_bits({})",
                        i32::from_le_bytes(b.try_into().unwrap())
                    ),
                })
                .collect();
            writeln!(data, "    [{}],", row.join(", ")).unwrap();
        }
        writeln!(data, "];").unwrap();
    }
    fs::write(out.join("data.rs"), data).unwrap();
}
