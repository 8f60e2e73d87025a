//! Damaged Keras files never panic and never allocate without bound:
//! mutated copies of every `.keras` and `.h5` fixture in `../shared/import`
//! and `tests/fixtures/import`
//! (bit flips, truncations, runs of bytes overwritten, 8-byte fields set to
//! huge values; for `.keras` also damage inside `config.json` (bytes, or one
//! number such as `units` set to 0, -1, 2^31, u64::MAX, 1e308) or
//! `model.weights.h5` repacked into a fresh zip, so it passes the zip's
//! CRC check) are read, and each read returns `Ok` or a typed
//! [`ImportError`] naming the file.
//!
//! A panic fails the test (nothing catches it). A counting global allocator
//! refuses any single allocation above 1 GiB and any growth of the live heap
//! beyond 2 GiB, which aborts the test binary: a corrupt length field that
//! would make a reader allocate its claimed size fails loudly.
//!
//! `cargo test` runs 2000 cases (debug, about a second); `IMPORT_MUTATION_CASES=100000` with
//! `--release` is the full run (a `cargo xtask ci` step).

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use lstm_train::import::keras::{h5_from_bytes, keras_from_bytes};
use lstm_train::import::ImportError;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The largest single allocation allowed.
const MAX_ONE: usize = 1 << 30;
/// The largest live heap allowed.
const MAX_LIVE: usize = 2 << 30;

struct Budget;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; only refuses (returns null for)
// requests over the budget, which the standard library turns into an abort.
unsafe impl GlobalAlloc for Budget {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let size = layout.size();
        if size > MAX_ONE || LIVE.fetch_add(size, Ordering::Relaxed) + size > MAX_LIVE {
            if size <= MAX_ONE {
                LIVE.fetch_sub(size, Ordering::Relaxed);
            }
            eprintln!("allocation of {size} bytes refused (budget)");
            return std::ptr::null_mut();
        }
        // SAFETY: same layout, forwarded.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: allocated by `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Budget = Budget;

fn fixtures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut v: Vec<PathBuf> = [
        root.join("../../shared/import"),
        root.join("tests/fixtures/import"),
    ]
    .iter()
    .flat_map(|dir| std::fs::read_dir(dir).unwrap())
    .map(|e| e.unwrap().path())
    .filter(|p| p.extension().is_some_and(|e| e == "keras" || e == "h5"))
    .collect();
    v.sort();
    v
}

/// One random damage to `bytes`.
fn mutate(rng: &mut ChaCha8Rng, bytes: &mut Vec<u8>) -> String {
    if bytes.is_empty() {
        return "empty".into();
    }
    let n = bytes.len();
    match rng.gen_range(0..5) {
        0 => {
            let flips = rng.gen_range(1..=8);
            for _ in 0..flips {
                let i = rng.gen_range(0..n);
                bytes[i] ^= 1 << rng.gen_range(0..8);
            }
            format!("{flips} bit flip(s)")
        }
        1 => {
            let keep = rng.gen_range(0..n);
            bytes.truncate(keep);
            format!("truncated to {keep} bytes")
        }
        2 => {
            let at = rng.gen_range(0..n);
            let len = rng.gen_range(1..=64).min(n - at);
            let v: u8 = if rng.gen() { rng.gen() } else { 0xff };
            bytes[at..at + len].iter_mut().for_each(|b| *b = v);
            format!("{len} bytes at {at} set to {v:#04x}")
        }
        3 => {
            // A length or address field made huge.
            let at = rng.gen_range(0..n.saturating_sub(8).max(1));
            let big: u64 = match rng.gen_range(0..3) {
                0 => u64::MAX,
                1 => 1 << rng.gen_range(20..63),
                _ => rng.gen(),
            };
            let end = (at + 8).min(n);
            bytes[at..end].copy_from_slice(&big.to_le_bytes()[..end - at]);
            format!("8 bytes at {at} set to {big:#x}")
        }
        _ => {
            let at = rng.gen_range(0..n);
            let len = rng.gen_range(1..=256).min(n - at);
            bytes.drain(at..at + len);
            format!("{len} bytes removed at {at}")
        }
    }
}

/// Sets one number of a JSON document (units, shapes, rates, …) to an
/// extreme or random value: damage that still parses.
fn json_number(rng: &mut ChaCha8Rng, bytes: &mut Vec<u8>) -> String {
    use serde_json::Value;
    fn count(v: &Value) -> usize {
        match v {
            Value::Number(_) => 1,
            Value::Array(a) => a.iter().map(count).sum(),
            Value::Object(o) => o.values().map(count).sum(),
            _ => 0,
        }
    }
    /// Replaces the `n`-th number (depth first) by `new`.
    fn set_nth(v: &mut Value, n: &mut usize, new: &Value) -> bool {
        match v {
            Value::Number(_) if *n == 0 => {
                *v = new.clone();
                true
            }
            Value::Number(_) => {
                *n -= 1;
                false
            }
            Value::Array(a) => a.iter_mut().any(|x| set_nth(x, n, new)),
            Value::Object(o) => o.values_mut().any(|x| set_nth(x, n, new)),
            _ => false,
        }
    }
    let Ok(mut doc) = serde_json::from_slice::<Value>(bytes) else {
        return "not JSON".into();
    };
    let total = count(&doc);
    if total == 0 {
        return "no number".into();
    }
    let new = match rng.gen_range(0..6) {
        0 => serde_json::json!(0),
        1 => serde_json::json!(-1),
        2 => serde_json::json!(1u64 << 31),
        3 => serde_json::json!(u64::MAX),
        4 => serde_json::json!(1e308),
        _ => serde_json::json!(rng.gen_range(0..100_000u64)),
    };
    let at = rng.gen_range(0..total);
    set_nth(&mut doc, &mut at.clone(), &new);
    *bytes = serde_json::to_vec(&doc).unwrap();
    format!("JSON number {at} set to {new}")
}

/// The `.keras` zip's members.
fn members(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut z = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    (0..z.len())
        .map(|i| {
            let mut f = z.by_index(i).unwrap();
            let mut v = Vec::new();
            f.read_to_end(&mut v).unwrap();
            (f.name().unwrap().to_string(), v)
        })
        .collect()
}

/// A fresh zip of `members` (stored, valid CRCs).
fn rezip(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, data) in members {
        w.start_file(name.as_str(), opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn check(path: &Path, result: Result<lstm_train::import::ImportedNet, ImportError>, what: &str) {
    match result {
        Ok(_) => {}
        Err(e @ (ImportError::Corrupt { .. } | ImportError::Unsupported { .. })) => {
            let msg = e.to_string();
            assert!(
                msg.contains(&path.display().to_string()),
                "{what}: the error does not name the file: {msg}"
            );
        }
        Err(e) => panic!("{what}: unexpected error kind: {e:?}"),
    }
}

#[test]
fn mutated_keras_files_are_ok_or_typed_errors() {
    let cases: usize = std::env::var("IMPORT_MUTATION_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let files: Vec<(PathBuf, Vec<u8>)> = fixtures()
        .into_iter()
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    assert!(
        files.len() >= 8,
        "fixtures missing: {files:?}",
        files = files.len()
    );
    let zips: Vec<Vec<(String, Vec<u8>)>> = files
        .iter()
        .filter(|(p, _)| p.extension().is_some_and(|e| e == "keras"))
        .map(|(_, b)| members(b))
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(14);
    let (mut ok, mut refused) = (0usize, 0usize);
    for case in 0..cases {
        let (path, original) = &files[case % files.len()];
        let is_keras = path.extension().is_some_and(|e| e == "keras");
        let (bytes, what) = if is_keras && rng.gen_bool(0.5) {
            // Damage inside a member, repacked so that the zip is valid.
            let mut m = zips[rng.gen_range(0..zips.len())].clone();
            let k = m
                .iter()
                .position(|(n, _)| {
                    n == if rng.gen_bool(0.3) {
                        "config.json"
                    } else {
                        "model.weights.h5"
                    }
                })
                .unwrap_or(0);
            let how = if m[k].0 == "config.json" && rng.gen_bool(0.5) {
                json_number(&mut rng, &mut m[k].1)
            } else {
                mutate(&mut rng, &mut m[k].1)
            };
            (
                rezip(&m),
                format!("case {case}: {} member {}: {how}", path.display(), m[k].0),
            )
        } else {
            let mut b = original.clone();
            let how = mutate(&mut rng, &mut b);
            (b, format!("case {case}: {}: {how}", path.display()))
        };
        let name = Path::new(if is_keras {
            "damaged.keras"
        } else {
            "damaged.h5"
        });
        let result = if is_keras {
            keras_from_bytes(name, bytes)
        } else {
            h5_from_bytes(name, bytes)
        };
        if result.is_ok() {
            ok += 1;
        } else {
            refused += 1;
        }
        check(name, result, &what);
    }
    println!("{cases} mutated files: {ok} read, {refused} refused with a typed error");
    assert!(
        refused > cases / 2,
        "most damage should be noticed: {refused} of {cases}"
    );
}
