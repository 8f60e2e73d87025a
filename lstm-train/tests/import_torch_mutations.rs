//! Damaged PyTorch files are typed errors, never a panic, an abort or a
//! huge allocation: mutated copies of the shared torch fixtures
//! (`.safetensors` and `.onnx`) go through `read_safetensors` / `read_onnx`,
//! and each must give `Ok` or an `ImportError` whose message names the
//! file.
//!
//! Mutations (seeded, each case reproducible from its number): bit flips,
//! truncations, runs of bytes overwritten, and changed length fields — the
//! safetensors header length and the numbers of its JSON header (shapes,
//! data offsets), the protobuf length prefixes and varint values (dims,
//! types, attribute values) of the ONNX file, found by walking its wire
//! format.
//!
//! A counting global allocator records the peak of live heap bytes during
//! each case; the test fails above [`BUDGET`]. The `protobuf` crate
//! reserves up to 10 M elements for a packed repeated field before it
//! checks the field's length against the input (80 MB for `int64`), so the
//! budget is that plus margin.
//!
//! The number of cases is `IMPORT_MUTATIONS` if set, else 12 000 in release
//! builds (CI's step, `cargo test --release -p lstm-train --test
//! import_torch_mutations`) and 1 200 in debug builds.

use std::alloc::{GlobalAlloc, Layout, System};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use lstm_train::import::onnx::read_onnx;
use lstm_train::import::safetensors::read_safetensors;
use lstm_train::import::{HeadActivation, ImportError};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Live heap bytes allowed above the level before a case.
const BUDGET: usize = 128 << 20;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to `System` with the same arguments; the
// counters are only statistics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let grow = new_size - layout.size();
                let live = LIVE.fetch_add(grow, Ordering::Relaxed) + grow;
                PEAK.fetch_max(live, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The tests of this file take turns: the counters are global.
static SERIAL: Mutex<()> = Mutex::new(());

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/import")
        .join(name)
}

/// The files mutated.
const FILES: [&str; 4] = [
    "torch_lstm2_forecast.safetensors",
    "torch_gru_classify.safetensors",
    "torch_lstm2_forecast.onnx",
    "torch_gru_classify.onnx",
];

/// Where a varint or a length prefix lies in a protobuf message.
#[derive(Clone, Copy, Debug)]
struct Field {
    /// Offset of the varint.
    at: usize,
    /// Its length in bytes.
    len: usize,
    /// Its value.
    value: u64,
    /// A length prefix (wire type 2) rather than a varint value.
    is_length: bool,
}

fn read_varint(b: &[u8], mut i: usize) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(i)?;
        i += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some((v, i));
        }
    }
    None
}

fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

/// Collects the varints and length prefixes of the message in
/// `b[start..end]`, recursing into length-delimited fields that parse as
/// messages. Returns whether the range parsed as a message.
fn walk(b: &[u8], start: usize, end: usize, depth: u32, out: &mut Vec<Field>) -> bool {
    let mut i = start;
    let mut found = Vec::new();
    while i < end {
        let Some((tag, next)) = read_varint(b, i) else {
            return false;
        };
        if tag >> 3 == 0 {
            return false;
        }
        i = next;
        match tag & 7 {
            0 => {
                let Some((value, next)) = read_varint(b, i) else {
                    return false;
                };
                found.push(Field {
                    at: i,
                    len: next - i,
                    value,
                    is_length: false,
                });
                i = next;
            }
            1 => i += 8,
            5 => i += 4,
            2 => {
                let Some((len, next)) = read_varint(b, i) else {
                    return false;
                };
                let Some(stop) = usize::try_from(len).ok().and_then(|l| next.checked_add(l)) else {
                    return false;
                };
                if stop > end {
                    return false;
                }
                found.push(Field {
                    at: i,
                    len: next - i,
                    value: len,
                    is_length: true,
                });
                if depth < 8 {
                    let mut inner = Vec::new();
                    if walk(b, next, stop, depth + 1, &mut inner) {
                        found.extend(inner);
                    }
                }
                i = stop;
            }
            _ => return false,
        }
    }
    out.extend(found);
    i == end
}

/// A new value for a length or count: near the old one, zero, or huge.
fn other_value(rng: &mut ChaCha8Rng, old: u64) -> u64 {
    match rng.gen_range(0..8) {
        0 => old.wrapping_add(1),
        1 => old.saturating_sub(1),
        2 => old.wrapping_add(rng.gen_range(2..4096)),
        3 => 0,
        4 => old.wrapping_mul(2).max(1),
        5 => 1 << rng.gen_range(20..64),
        6 => u64::MAX >> rng.gen_range(0..2),
        _ => rng.gen(),
    }
}

/// The positions of the decimal numbers in a safetensors JSON header.
fn header_numbers(b: &[u8]) -> Vec<(usize, usize)> {
    let Some(n) = b
        .get(..8)
        .map(|h| u64::from_le_bytes(h.try_into().unwrap_or([0; 8])))
    else {
        return Vec::new();
    };
    let end = usize::try_from(n).map_or(b.len(), |n| (8 + n).min(b.len()));
    let mut runs = Vec::new();
    let mut i = 8;
    while i < end {
        if b[i].is_ascii_digit() {
            let s = i;
            while i < end && b[i].is_ascii_digit() {
                i += 1;
            }
            runs.push((s, i));
        } else {
            i += 1;
        }
    }
    runs
}

/// Mutates `orig` (case `seed`), returning the copy and what was done.
fn mutate(orig: &[u8], is_onnx: bool, fields: &[Field], seed: u64) -> (Vec<u8>, String) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut b = orig.to_vec();
    let kind = rng.gen_range(0..4);
    let what = match kind {
        0 => {
            let n = rng.gen_range(1..=8);
            let mut at = Vec::new();
            for _ in 0..n {
                let i = rng.gen_range(0..b.len());
                b[i] ^= 1 << rng.gen_range(0..8);
                at.push(i);
            }
            format!("bit flips at {at:?}")
        }
        1 => {
            let len = rng.gen_range(0..b.len());
            b.truncate(len);
            format!("truncated to {len} bytes")
        }
        2 => {
            let len = rng.gen_range(1..=64).min(b.len());
            let at = rng.gen_range(0..=b.len() - len);
            let fill = rng.gen_range(0..3);
            for x in &mut b[at..at + len] {
                *x = match fill {
                    0 => 0,
                    1 => 0xff,
                    _ => rng.gen(),
                };
            }
            format!("{len} bytes overwritten at {at} (fill {fill})")
        }
        _ if is_onnx => {
            let f = fields[rng.gen_range(0..fields.len())];
            let new = other_value(&mut rng, f.value);
            b.splice(f.at..f.at + f.len, varint(new));
            format!(
                "{} at {} changed from {} to {new}",
                if f.is_length {
                    "length prefix"
                } else {
                    "varint"
                },
                f.at,
                f.value
            )
        }
        _ => {
            let runs = header_numbers(&b);
            if runs.is_empty() || rng.gen_bool(0.25) {
                let old = u64::from_le_bytes(b[..8].try_into().unwrap_or([0; 8]));
                let new = other_value(&mut rng, old);
                b[..8].copy_from_slice(&new.to_le_bytes());
                format!("header length changed from {old} to {new}")
            } else {
                let (s, e) = runs[rng.gen_range(0..runs.len())];
                let old = String::from_utf8_lossy(&b[s..e]).into_owned();
                let new = other_value(&mut rng, old.parse().unwrap_or(0)).to_string();
                b.splice(s..e, new.bytes());
                format!("header number at {s} changed from {old} to {new}")
            }
        }
    };
    (b, what)
}

#[derive(Default)]
struct Tally {
    ok: usize,
    corrupt: usize,
    unsupported: usize,
    max_peak: usize,
}

#[test]
fn mutated_torch_files_are_errors_never_panics() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let total: usize = match std::env::var("IMPORT_MUTATIONS") {
        Ok(v) => v.parse().expect("IMPORT_MUTATIONS is a number"),
        Err(_) if cfg!(debug_assertions) => 1_200,
        Err(_) => 12_000,
    };
    let per_file = total.div_ceil(FILES.len());
    let dir = tempfile::tempdir().expect("temporary folder");
    let mut failures = Vec::new();
    let mut cases = 0;
    let started = std::time::Instant::now();
    // Panics are caught and reported per case; keep the default hook quiet.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for (fi, name) in FILES.iter().enumerate() {
        let orig = std::fs::read(fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let is_onnx = name.ends_with(".onnx");
        let mut fields = Vec::new();
        if is_onnx {
            assert!(
                walk(&orig, 0, orig.len(), 0, &mut fields),
                "{name} is not protobuf"
            );
            assert!(
                fields.iter().filter(|f| f.is_length).count() > 50,
                "{name}: few fields"
            );
        }
        let path = dir.path().join(name);
        let mut tally = Tally::default();
        for case in 0..per_file {
            let seed = (fi as u64) << 32 | case as u64;
            let (bytes, what) = mutate(&orig, is_onnx, &fields, seed);
            std::fs::write(&path, &bytes).expect("writing the mutated copy");
            let base = LIVE.load(Ordering::Relaxed);
            PEAK.store(base, Ordering::Relaxed);
            let result = catch_unwind(AssertUnwindSafe(|| {
                if is_onnx {
                    read_onnx(&path)
                } else {
                    read_safetensors(&path, HeadActivation::Linear)
                }
            }));
            let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
            tally.max_peak = tally.max_peak.max(peak);
            cases += 1;
            let id = format!("{name} case {case} (seed {seed:#x}: {what})");
            if peak > BUDGET {
                failures.push(format!("{id}: peak heap {peak} bytes > budget {BUDGET}"));
            }
            match result {
                Err(_) => failures.push(format!("{id}: panicked")),
                Ok(Ok(_)) => tally.ok += 1,
                Ok(Err(e)) => {
                    let text = e.to_string();
                    if !text.contains(&path.display().to_string()) {
                        failures.push(format!("{id}: error does not name the file: {text}"));
                    }
                    match e {
                        ImportError::Corrupt { .. } => tally.corrupt += 1,
                        ImportError::Unsupported { .. } => tally.unsupported += 1,
                        other => failures.push(format!("{id}: unexpected error kind: {other}")),
                    }
                }
            }
        }
        eprintln!(
            "{name}: {per_file} mutated copies: {} Ok, {} Corrupt, {} Unsupported; peak heap \
             per case {:.1} MiB",
            tally.ok,
            tally.corrupt,
            tally.unsupported,
            tally.max_peak as f64 / (1 << 20) as f64
        );
    }
    std::panic::set_hook(hook);
    eprintln!(
        "{cases} mutated copies in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(cases >= total, "{cases} cases run, {total} asked");
    assert!(
        failures.is_empty(),
        "{} of {cases} mutated copies failed:\n{}",
        failures.len(),
        failures
            .iter()
            .take(30)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The checks above can fail: an intact file imports, and the allocator
/// sees a large allocation.
#[test]
fn the_harness_sees_what_it_checks() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    for name in FILES {
        let path = fixture(name);
        if name.ends_with(".onnx") {
            read_onnx(&path).unwrap_or_else(|e| panic!("{e}"));
        } else {
            read_safetensors(&path, HeadActivation::Linear).unwrap_or_else(|e| panic!("{e}"));
        }
    }
    let bytes = std::fs::read(fixture("torch_gru_classify.onnx")).expect("fixture");
    let mut fields = Vec::new();
    assert!(walk(&bytes, 0, bytes.len(), 0, &mut fields));
    // the walker finds the initializers' dims (varints) and raw_data
    // (length prefixes of the weights' sizes: 48·5·4 bytes for W)
    assert!(fields.iter().any(|f| !f.is_length && f.value == 48));
    assert!(fields.iter().any(|f| f.is_length && f.value == 960));
    // an allocation over the budget shows in the peak
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let big: Vec<u8> = Vec::with_capacity(BUDGET + 1);
    std::hint::black_box(&big);
    drop(big);
    assert!(PEAK.load(Ordering::Relaxed) - base > BUDGET);
    assert!(LIVE.load(Ordering::Relaxed) <= base + (1 << 20));
}

/// The worst case the budget allows for: a packed `dims` field (int64)
/// whose length prefix claims 50 MB in a 9-byte file. The `protobuf`
/// crate reserves min(length, 10 M) elements before it finds the input too
/// short; the import is a typed error and the peak stays under the budget.
#[test]
fn a_huge_packed_length_stays_within_the_budget() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // ModelProto.graph (7) { initializer (5) { dims (1), packed: 50 000 000 bytes } }
    let mut dims = vec![0x0a];
    dims.extend(varint(50_000_000));
    let mut init = vec![0x2a];
    init.extend(varint(dims.len() as u64));
    init.extend(&dims);
    let mut bytes = vec![0x3a];
    bytes.extend(varint(init.len() as u64));
    bytes.extend(&init);
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("packed.onnx");
    std::fs::write(&path, &bytes).expect("writing");
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let result = read_onnx(&path);
    let peak = PEAK.load(Ordering::Relaxed) - base;
    eprintln!(
        "{} bytes claiming a 50 MB packed field: peak heap {peak} bytes",
        bytes.len()
    );
    match result {
        Err(e @ ImportError::Corrupt { .. }) => {
            assert!(e.to_string().contains(&path.display().to_string()), "{e}")
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert!(peak <= BUDGET, "peak {peak} > budget {BUDGET}");
}
