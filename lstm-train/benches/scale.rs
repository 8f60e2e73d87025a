//! Scale benchmark: `lstm-train fit --epochs 1` on forecasting CSVs of
//! 10⁴, 10⁵ and 10⁶ rows (a noisy sine, `time,value`), reporting rows per
//! second and the peak resident memory of the child process.
//!
//! Run with `cargo bench -p lstm-train --bench scale` (builds the release
//! binary first). The binary is found next to this bench's executable
//! (`target/<profile>/lstm-train`); set `LSTM_TRAIN_BIN` to use another one.
//! Peak memory is `getrusage(RUSAGE_CHILDREN)`'s `ru_maxrss`, read through
//! `/usr/bin/time -v` when available.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn binary() -> PathBuf {
    if let Ok(p) = std::env::var("LSTM_TRAIN_BIN") {
        return PathBuf::from(p);
    }
    // target/<profile>/deps/scale-<hash> -> target/<profile>/lstm-train
    let exe = std::env::current_exe().expect("bench path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile> directory");
    let bin = profile_dir.join("lstm-train");
    if !bin.exists() {
        // `cargo bench` builds the package's binaries in the same profile;
        // fall back to building the release binary.
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--release",
                "-p",
                "lstm-train",
                "--bin",
                "lstm-train",
            ])
            .status()
            .expect("cargo build");
        assert!(status.success(), "building lstm-train failed");
    }
    bin
}

fn write_csv(path: &Path, rows: usize) -> u64 {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("csv"));
    writeln!(f, "time,value").unwrap();
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    for i in 0..rows {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let noise = (state % 1000) as f64 / 1000.0 - 0.5;
        let t = i as f64;
        writeln!(
            f,
            "{i},{:.4}",
            10.0 + 5.0 * (t * std::f64::consts::TAU / 50.0).sin() + noise
        )
        .unwrap();
    }
    f.flush().unwrap();
    drop(f);
    std::fs::metadata(path).expect("csv size").len()
}

/// Runs one fit; returns (seconds, peak RSS in KiB if known).
fn run(bin: &Path, data: &Path, out: &Path) -> (f64, Option<u64>) {
    let time = Path::new("/usr/bin/time");
    let mut cmd = if time.exists() {
        let mut c = Command::new(time);
        c.arg("-v").arg(bin);
        c
    } else {
        Command::new(bin)
    };
    cmd.args(["fit", "--data"])
        .arg(data)
        .args([
            "--window", "12", "--hidden", "8", "--epochs", "1", "--quiet",
        ])
        .arg("--out-dir")
        .arg(out);
    let t0 = Instant::now();
    let o = cmd.output().expect("running lstm-train");
    let secs = t0.elapsed().as_secs_f64();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "fit failed:\n{err}");
    let rss = err
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
        .and_then(|v| v.trim().parse().ok());
    (secs, rss)
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument selects sizes.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let bin = binary();
    let dir = tempfile::tempdir().expect("temp dir");
    println!("binary: {}", bin.display());
    println!(
        "{:>9} {:>10} {:>9} {:>12} {:>12} {:>10}",
        "rows", "csv MB", "seconds", "rows/s", "peak RSS MB", "RSS / csv"
    );
    for rows in [10_000usize, 100_000, 1_000_000] {
        if !filter.is_empty() && !filter.iter().any(|f| rows.to_string() == *f) {
            continue;
        }
        let data = dir.path().join(format!("sine_{rows}.csv"));
        let bytes = write_csv(&data, rows);
        let out = dir.path().join(format!("run_{rows}"));
        let (secs, rss) = run(&bin, &data, &out);
        let mb = bytes as f64 / 1e6;
        let (rss_mb, ratio) = match rss {
            Some(k) => {
                let m = k as f64 * 1024.0 / 1e6;
                (format!("{m:.1}"), format!("{:.1}x", m / mb))
            }
            None => ("?".into(), "?".into()),
        };
        println!(
            "{rows:>9} {mb:>10.2} {secs:>9.2} {:>12.0} {rss_mb:>12} {ratio:>10}",
            rows as f64 / secs
        );
    }
}
