//! Generates `$OUT_DIR/generated.rs` for `tests/conformance.rs`: one `#[test]`
//! per reference case, with the case's dimensions as const generics of the
//! model type, so that cases of any shape run without code changes.
//!
//! Cases are every `*.json` in `<workspace>/../shared/reference` and in its
//! `gru/` subfolder (tests named by the file stem) and, when the environment
//! variable `LSTM_REFERENCE_DIR` names a folder, every `*.json` in it (tests
//! prefixed `env_`). A case's `"cell"` key (`"gru"`; absent means LSTM)
//! picks the layer type. Only the dimensions and the cell are read here;
//! the test reads the values at run time.

use std::collections::{BTreeSet, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const ENV: &str = "LSTM_REFERENCE_DIR";

/// Names the generated tests must not take (items of `tests/conformance.rs`).
const RESERVED: &[&str] = &[
    "main",
    "check_case",
    "reference_cases_found",
    "reference_dir_env_is_usable",
];

const KEYWORDS: &[&str] = &[
    "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for",
    "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return",
    "self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use", "where",
    "while", "async", "await", "dyn", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "gen",
];

/// Dimensions of a case.
struct Dims {
    /// `Lstm` or `Gru` (the `lstm_core` layer alias).
    cell: &'static str,
    input: usize,
    hidden: usize,
    layers: usize,
    output: usize,
    batch: usize,
    steps: usize,
}

fn dims(path: &Path) -> Result<Dims, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("invalid JSON: {e}"))?;
    let get = |key: &str| -> Result<usize, String> {
        let n = json
            .get(key)
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| format!("`{key}` is missing or not a non-negative integer"))?;
        match usize::try_from(n) {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("`{key}` = {n} is not a usable dimension")),
        }
    };
    let cell = match json.get("cell") {
        None | Some(serde_json::Value::Null) => "Lstm",
        Some(v) => match v.as_str().map(str::to_ascii_lowercase).as_deref() {
            Some("lstm") => "Lstm",
            Some("gru") => "Gru",
            _ => return Err(format!("`cell` = {v} is not \"lstm\" or \"gru\"")),
        },
    };
    Ok(Dims {
        cell,
        input: get("input_size")?,
        hidden: get("hidden_size")?,
        layers: get("num_layers")?,
        output: get("output_size")?,
        batch: get("batch")?,
        steps: get("steps")?,
    })
}

/// The `*.json` files of `dir`, sorted, registering the folder and every
/// file for rebuilds.
fn list_json(dir: &Path) -> Result<Vec<PathBuf>, String> {
    println!("cargo:rerun-if-changed={}", dir.display());
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot read folder: {e}"))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| format!("cannot list folder: {e}"))?
            .path();
        let is_json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        if is_json && path.is_file() {
            println!("cargo:rerun-if-changed={}", path.display());
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// A test function name from a file stem: lower case, `[a-z0-9_]`, not
/// starting with a digit, not a keyword, unique among `taken`.
fn test_name(prefix: &str, stem: &str, taken: &mut HashSet<String>) -> String {
    let mut base: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    base.insert_str(0, prefix);
    if base.is_empty() || base.starts_with(|c: char| c.is_ascii_digit()) {
        base.insert_str(0, "case_");
    }
    if base == "_" || KEYWORDS.contains(&base.as_str()) {
        base.push_str("_case");
    }
    let mut name = base.clone();
    let mut n = 2;
    while RESERVED.contains(&name.as_str()) || taken.contains(&name) {
        name = format!("{base}_{n}");
        n += 1;
    }
    taken.insert(name.clone());
    name
}

/// The model type for `d`: the recurrent layers, then the head, nested to the right.
fn model_type(d: &Dims) -> String {
    let mut ty = format!("::lstm_core::Dense<'static, T, {}, {}>", d.hidden, d.output);
    for l in (0..d.layers).rev() {
        let input = if l == 0 { d.input } else { d.hidden };
        ty = format!(
            "::lstm_core::Stack<::lstm_core::{cell}<'static, T, A, {input}, {h}>, {ty}, {h}>",
            cell = d.cell,
            h = d.hidden
        );
    }
    ty
}

/// Appends the test for one case file; returns the test's name.
fn emit_case(out: &mut String, prefix: &str, path: &Path, taken: &mut HashSet<String>) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = test_name(prefix, &stem, taken);
    let shown = path.display().to_string();
    let result = path
        .to_str()
        .ok_or_else(|| "the path is not UTF-8".to_string())
        .and_then(|p| dims(path).map(|d| (p, d)));
    match result {
        Ok((p, d)) => {
            let _ = write!(
                out,
                r#"
/// Reference case `{name}` ({shown}): {cell} IN={i} H={h} L={l} OUT={o} B={b} T={t}.
#[test]
fn {name}() {{
    type Model<T, A> = {ty};
    check_case!({name:?}, {p:?}, Model, {i}, {o});
}}
"#,
                i = d.input,
                h = d.hidden,
                l = d.layers,
                o = d.output,
                b = d.batch,
                t = d.steps,
                ty = model_type(&d),
                cell = d.cell,
            );
        }
        Err(e) => {
            println!("cargo:warning=reference case {shown}: {e}");
            let msg = format!("reference case `{name}` ({shown}): {e}");
            let _ = write!(
                out,
                r#"
/// Reference case `{name}` ({shown}), which cannot be read.
#[test]
fn {name}() {{
    panic!("{{}}", {msg:?});
}}
"#
            );
        }
    }
    name
}

fn string_list(names: &[String]) -> String {
    let items: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    format!("&[{}]", items.join(", "))
}

fn option_str(s: &Option<String>) -> String {
    match s {
        Some(s) => format!("Some({s:?})"),
        None => "None".to_string(),
    }
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed={ENV}");

    let manifest =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let shared = manifest.join("../../shared/reference");
    let shared = shared.canonicalize().unwrap_or(shared);

    let mut out = String::from("// @generated by tests/build.rs: one test per reference case.\n");
    let mut taken = HashSet::new();

    let mut shared_cases = Vec::new();
    let mut shared_seen = BTreeSet::new();
    let mut shared_errors = Vec::new();
    // The LSTM cases, then the GRU cases in `gru/`.
    for dir in [shared.clone(), shared.join("gru")] {
        match list_json(&dir) {
            Ok(files) => {
                for path in files {
                    shared_seen.insert(path.canonicalize().unwrap_or_else(|_| path.clone()));
                    shared_cases.push(emit_case(&mut out, "", &path, &mut taken));
                }
            }
            Err(e) => {
                println!(
                    "cargo:warning=shared reference folder {}: {e}",
                    dir.display()
                );
                shared_errors.push(format!("{}: {e}", dir.display()));
            }
        }
    }
    let shared_error = (!shared_errors.is_empty()).then(|| shared_errors.join("; "));

    let env_dir = std::env::var_os(ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let mut env_cases = Vec::new();
    let mut env_duplicates = Vec::new();
    let mut env_error = None;
    if let Some(dir) = &env_dir {
        // Relative paths are taken from the `tests` crate's folder (the build
        // script's working directory).
        let dir = dir.canonicalize().unwrap_or_else(|_| dir.clone());
        match list_json(&dir) {
            Ok(files) if files.is_empty() => {
                env_error = Some(format!("{ENV}={} holds no *.json file", dir.display()));
            }
            Ok(files) => {
                for path in files {
                    let canonical = path.canonicalize().unwrap_or_else(|_| path.clone());
                    if shared_seen.contains(&canonical) {
                        env_duplicates.push(path.display().to_string());
                        continue;
                    }
                    env_cases.push(emit_case(&mut out, "env_", &path, &mut taken));
                }
            }
            Err(e) => env_error = Some(format!("{ENV}={}: {e}", dir.display())),
        }
        if let Some(e) = &env_error {
            println!("cargo:warning={e}");
        }
    }

    let _ = write!(
        out,
        r#"
/// The shared reference folder.
const SHARED_DIR: &str = {shared_dir:?};
/// Why the shared folder could not be read, if it could not.
const SHARED_DIR_ERROR: Option<&str> = {shared_error};
/// Tests generated for the shared cases.
const SHARED_CASES: &[&str] = {shared_cases};
/// The folder named by `{ENV}` at build time, if set.
const ENV_DIR: Option<&str> = {env_dir};
/// Why that folder is unusable, if it is.
const ENV_DIR_ERROR: Option<&str> = {env_error};
/// Tests generated for its cases.
const ENV_CASES: &[&str] = {env_cases};
/// Its files that are shared cases already (not run twice).
const ENV_DUPLICATES: &[&str] = {env_duplicates};
"#,
        shared_dir = shared.display().to_string(),
        shared_error = option_str(&shared_error),
        shared_cases = string_list(&shared_cases),
        env_dir = option_str(&env_dir.map(|d| d.display().to_string())),
        env_error = option_str(&env_error),
        env_cases = string_list(&env_cases),
        env_duplicates = string_list(&env_duplicates),
    );

    std::fs::write(out_dir.join("generated.rs"), out).expect("write generated.rs");
}
