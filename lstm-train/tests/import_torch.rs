//! PyTorch models imported from `.safetensors` (`state_dict`) and `.onnx`
//! (`torch.onnx.export`) reproduce PyTorch's own outputs: every case of
//! `../shared/import/` with PyTorch files (and of the folder named by
//! `IMPORT_FIXTURE_DIR`, when set) goes through the reader, then through the
//! trainer's own f32 forward pass (`Network::forward`, exact activations),
//! and must match the framework's `outputs` within 1e-5. A failing case is
//! named with its file.

use std::path::{Path, PathBuf};

use lstm_train::import::onnx::read_onnx;
use lstm_train::import::safetensors::read_safetensors;
use lstm_train::import::{HeadActivation, ImportedNet};
use lstm_train::net::{Batch, CellKind, HeadMode, Mode, Network};
use ndarray::{Array2, Array3, ArrayD, Axis, IxDyn};
use serde_json::Value;

const TOLERANCE: f32 = 1e-5;

fn shared_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/import")
}

/// A case: its JSON and the PyTorch files it lists.
struct Case {
    name: String,
    json: Value,
    torch_files: Vec<PathBuf>,
}

/// Every case in `dir` that lists a `.safetensors` or `.onnx` file.
fn cases_in(dir: &Path) -> Vec<Case> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading fixture folder {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    entries.sort();
    let mut cases = Vec::new();
    for json_path in entries {
        let text = std::fs::read_to_string(&json_path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", json_path.display()));
        let json: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("parsing {}: {e}", json_path.display()));
        let Some(files) = json.get("files").and_then(Value::as_array) else {
            continue;
        };
        let torch_files: Vec<PathBuf> = files
            .iter()
            .filter_map(Value::as_str)
            .filter(|f| f.ends_with(".safetensors") || f.ends_with(".onnx"))
            .map(|f| dir.join(f))
            .collect();
        if torch_files.is_empty() {
            continue;
        }
        let name = json_path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        cases.push(Case {
            name,
            json,
            torch_files,
        });
    }
    cases
}

/// A nested JSON array of numbers as an f32 array of any rank.
fn array(v: &Value, what: &str) -> ArrayD<f32> {
    let mut shape = Vec::new();
    let mut cur = v;
    while let Some(a) = cur.as_array() {
        shape.push(a.len());
        match a.first() {
            Some(first) => cur = first,
            None => break,
        }
    }
    let mut flat = Vec::new();
    fn walk(v: &Value, out: &mut Vec<f32>, what: &str) {
        match v {
            Value::Array(a) => a.iter().for_each(|x| walk(x, out, what)),
            Value::Number(n) => out.push(n.as_f64().expect("number") as f32),
            other => panic!("{what}: not a number: {other}"),
        }
    }
    walk(v, &mut flat, what);
    ArrayD::from_shape_vec(IxDyn(&shape), flat).unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// The head activation a case records (`architecture.head_activation`, or
/// a Keras-style `activation`), linear otherwise (PyTorch's `nn.Linear`
/// gives logits).
fn case_head_activation(json: &Value) -> HeadActivation {
    let arch = json.get("architecture");
    let act = arch
        .and_then(|a| a.get("head_activation").or_else(|| a.get("activation")))
        .and_then(Value::as_str)
        .unwrap_or("linear");
    match act.to_ascii_lowercase().as_str() {
        "softmax" => HeadActivation::Softmax,
        "sigmoid" => HeadActivation::Sigmoid,
        _ => HeadActivation::Linear,
    }
}

/// The trainer's forward pass in evaluation mode on `inputs` `[B][T][IN]`,
/// with the head's activation: `[B][OUT]` (last step) or `[B][T][OUT]`.
fn forward(net: &ImportedNet, inputs: &Array3<f32>) -> ArrayD<f32> {
    let mut network = Network::<f32>::new(net.net.clone()).expect("valid config");
    network
        .forward(&net.params, &Batch::new(inputs.view()), Mode::Eval)
        .expect("forward");
    let raw = match net.net.head {
        HeadMode::LastStep => network.last_outputs().expect("outputs").into_dyn(),
        HeadMode::EveryStep => network.step_outputs().expect("outputs").into_dyn(),
    };
    activate(raw, net.head_activation)
}

fn activate(mut y: ArrayD<f32>, act: HeadActivation) -> ArrayD<f32> {
    let last = Axis(y.ndim() - 1);
    match act {
        HeadActivation::Linear => {}
        HeadActivation::Sigmoid => y.mapv_inplace(|v| 1.0 / (1.0 + (-v).exp())),
        HeadActivation::Softmax => {
            for mut row in y.lanes_mut(last) {
                let m = row.fold(f32::NEG_INFINITY, |a, &b| a.max(b));
                row.mapv_inplace(|v| (v - m).exp());
                let s = row.sum();
                row.mapv_inplace(|v| v / s);
            }
        }
    }
    y
}

/// Imports `file` of `case`; the error text if it cannot.
fn import(case: &Case, file: &Path, every_step: bool) -> Result<ImportedNet, String> {
    let ext = file.extension().and_then(|e| e.to_str()).unwrap_or("");
    let mut net = match ext {
        "safetensors" => read_safetensors(file, case_head_activation(&case.json)),
        "onnx" => read_onnx(file),
        other => return Err(format!("no reader for .{other} in this test")),
    }
    .map_err(|e| e.to_string())?;
    if every_step && ext == "safetensors" {
        // what a state_dict cannot tell: the head runs at every step
        net.net.head = HeadMode::EveryStep;
    }
    Ok(net)
}

/// Checks one file of one case: the architecture the case records, then
/// the outputs. The failure text names neither; the caller does.
fn check(case: &Case, file: &Path) -> Result<f32, String> {
    let inputs = array(&case.json["inputs"], "inputs");
    let expected = array(&case.json["outputs"], "outputs");
    let inputs: Array3<f32> = inputs
        .into_dimensionality()
        .map_err(|e| format!("inputs are not [B][T][IN]: {e}"))?;
    let every_step = expected.ndim() == 3;
    let net = import(case, file, every_step)?;
    if let Some(arch) = case.json.get("architecture") {
        let cell = match arch.get("cell").and_then(Value::as_str) {
            Some("gru") => Some(CellKind::Gru),
            Some("lstm") => Some(CellKind::Lstm),
            _ => None,
        };
        let checks = [
            ("cell", cell.map(|c| c == net.net.cell)),
            (
                "input_size",
                arch["input_size"]
                    .as_u64()
                    .map(|v| v as usize == net.net.input_size),
            ),
            (
                "hidden_size",
                arch["hidden_size"]
                    .as_u64()
                    .map(|v| net.net.hidden_sizes.iter().all(|&h| h == v as usize)),
            ),
            (
                "num_layers",
                arch["num_layers"]
                    .as_u64()
                    .map(|v| v as usize == net.net.num_layers()),
            ),
            (
                "output_size",
                arch["output_size"]
                    .as_u64()
                    .map(|v| v as usize == net.net.output_size),
            ),
        ];
        for (what, ok) in checks {
            if ok == Some(false) {
                return Err(format!(
                    "{what} differs from the case's architecture: {:?}",
                    net.net
                ));
            }
        }
    }
    let got = forward(&net, &inputs);
    if got.shape() != expected.shape() {
        return Err(format!(
            "output shape {:?}, the framework's {:?}",
            got.shape(),
            expected.shape()
        ));
    }
    let err = (&got - &expected).iter().fold(0f32, |a, &d| a.max(d.abs()));
    if err.is_nan() || err > TOLERANCE {
        return Err(format!("max |difference| {err:e} > {TOLERANCE:e}"));
    }
    Ok(err)
}

/// Runs every PyTorch file of every case in `dir`; panics naming each
/// failing case and file.
fn check_dir(dir: &Path) -> usize {
    let cases = cases_in(dir);
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in &cases {
        for file in &case.torch_files {
            let fname = file.file_name().unwrap_or_default().to_string_lossy();
            match check(case, file) {
                Ok(err) => {
                    checked += 1;
                    eprintln!("{} / {fname}: max |difference| {err:e}", case.name);
                }
                Err(e) => failures.push(format!("case {} / {fname}: {e}", case.name)),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} PyTorch files in {} failed:\n{}",
        failures.len(),
        failures.len() + checked,
        dir.display(),
        failures.join("\n")
    );
    checked
}

#[test]
fn shared_torch_cases_reproduce_pytorch() {
    let n = check_dir(&shared_dir());
    // torch_lstm2_forecast and torch_gru_classify, each as .safetensors and .onnx
    assert!(n >= 4, "only {n} PyTorch files checked");
}

#[test]
fn cases_in_import_fixture_dir_reproduce_their_framework() {
    match std::env::var_os("IMPORT_FIXTURE_DIR") {
        Some(dir) => {
            let n = check_dir(Path::new(&dir));
            eprintln!("IMPORT_FIXTURE_DIR: {n} PyTorch files checked");
        }
        None => eprintln!("IMPORT_FIXTURE_DIR not set: nothing more to check"),
    }
}

/// The comparison itself can fail: a parameter nudged by 1e-3 moves the
/// outputs past the tolerance.
#[test]
fn a_perturbed_parameter_is_caught() {
    let dir = shared_dir();
    let cases = cases_in(&dir);
    let case = cases
        .iter()
        .find(|c| c.name == "torch_lstm2_forecast")
        .expect("torch_lstm2_forecast case");
    let file = dir.join("torch_lstm2_forecast.safetensors");
    let mut net = import(case, &file, false).expect("imports");
    let inputs: Array3<f32> = array(&case.json["inputs"], "inputs")
        .into_dimensionality()
        .expect("3-D inputs");
    let expected: Array2<f32> = array(&case.json["outputs"], "outputs")
        .into_dimensionality()
        .expect("2-D outputs");
    net.params.layers[1].bias_hh[0] += 1e-3;
    let got = forward(&net, &inputs);
    let err = (&got - &expected.into_dyn())
        .iter()
        .fold(0f32, |a, &d| a.max(d.abs()));
    assert!(err > TOLERANCE, "perturbation not visible: {err:e}");
}

/// The two files of a case hold the same model: ONNX's gate order
/// converted back gives PyTorch's parameters bit for bit, and the ONNX
/// graph records its input's time dimension.
#[test]
fn onnx_and_safetensors_give_the_same_parameters() {
    let dir = shared_dir();
    for (name, seq_len) in [("torch_lstm2_forecast", 16), ("torch_gru_classify", 40)] {
        let st = read_safetensors(
            &dir.join(format!("{name}.safetensors")),
            HeadActivation::Linear,
        )
        .unwrap_or_else(|e| panic!("{name}.safetensors: {e}"));
        let onnx = read_onnx(&dir.join(format!("{name}.onnx")))
            .unwrap_or_else(|e| panic!("{name}.onnx: {e}"));
        assert_eq!(onnx.net, st.net, "{name}");
        assert_eq!(onnx.params, st.params, "{name}");
        assert_eq!(onnx.head_activation, HeadActivation::Linear, "{name}");
        assert_eq!(onnx.seq_len, Some(seq_len), "{name}");
    }
}
