//! Time of one training step (forward over the whole sequence, full BPTT,
//! one Adam update) in f32 for the four standard configurations of
//! `shared/bench/README.md` (head on the last step, like
//! `torch_train_step.py`).
//!
//! First prints one JSON line per config from a plain timing loop (5 warm-up
//! steps, then at least 50 steps / 1 s, each step timed): `ms_per_step` is
//! the median step time, `mean_ms_per_step` the mean. Then runs the criterion
//! benchmarks (skip them with `LSTM_BENCH_QUICK=1`). Threads: the network
//! splits large batches over `LSTM_THREADS` threads (default: the available
//! parallelism; set `LSTM_THREADS=1` for a single-thread comparison with
//! `torch_train_step.py 1`). `LSTM_BENCH_ONLY=<config>` restricts the plain
//! timing to one configuration (for profiling). `LSTM_BENCH_CELL=gru` times
//! the same configurations with GRU layers (default: LSTM).

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use lstm_train::net::{
    Batch, CellKind, Grads, HeadMode, Mode, NetConfig, Network, Params, Regularization, Target,
};
use lstm_train::optim::Adam;
use ndarray::{Array2, Array3};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// (name, input, hidden, layers, output, steps, batch, cross-entropy)
type BenchConfig = (&'static str, usize, usize, usize, usize, usize, usize, bool);

const CONFIGS: [BenchConfig; 4] = [
    ("forecast-h32", 1, 32, 1, 1, 50, 32, false),
    ("forecast-h50x2", 1, 50, 2, 1, 50, 32, false),
    ("classify-i12-h64", 12, 64, 1, 9, 29, 32, true),
    ("large-i8-h128", 8, 128, 1, 1, 100, 64, false),
];

/// The cell the benchmark trains: `LSTM_BENCH_CELL` (`lstm` or `gru`).
fn bench_cell() -> CellKind {
    match std::env::var("LSTM_BENCH_CELL") {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("LSTM_BENCH_CELL={v}: expected lstm or gru")),
        Err(_) => CellKind::default(),
    }
}

struct Setup {
    net: Network<f32>,
    params: Params<f32>,
    grads: Grads<f32>,
    adam: Adam<f32>,
    x: Array3<f32>,
    y: Array2<f32>,
    classes: Vec<usize>,
    ce: bool,
    rng: ChaCha8Rng,
}

impl Setup {
    fn new(c: &BenchConfig) -> Self {
        let &(_, inp, hid, layers, out, steps, batch, ce) = c;
        let cfg = NetConfig {
            cell: bench_cell(),
            input_size: inp,
            hidden_sizes: vec![hid; layers],
            output_size: out,
            head: HeadMode::LastStep,
            dropout: 0.0,
            unit_forget_bias: false,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let params = Params::init(&cfg, &mut rng).expect("init");
        Setup {
            net: Network::new(cfg).expect("net"),
            grads: params.zeros_like(),
            adam: Adam::new(&params, 1e-3),
            x: Array3::from_shape_fn((batch, steps, inp), |_| rng.gen_range(-1.0..1.0)),
            y: Array2::from_shape_fn((batch, out), |_| rng.gen_range(-1.0..1.0)),
            classes: (0..batch).map(|_| rng.gen_range(0..out)).collect(),
            params,
            ce,
            rng,
        }
    }

    fn step(&mut self) -> f32 {
        let target = if self.ce {
            Target::CrossEntropyLast(&self.classes)
        } else {
            Target::MseLast(self.y.view())
        };
        let loss = self
            .net
            .loss_and_grad(
                &self.params,
                &Batch::new(self.x.view()),
                Mode::Train(&mut self.rng),
                &target,
                &Regularization::none(),
                &mut self.grads,
            )
            .expect("step");
        self.adam.step(&mut self.params, &self.grads).expect("adam");
        loss.total
    }
}

/// CPU time of this thread in ns (Linux `/proc/thread-self/schedstat`),
/// insensitive to other processes competing for the cores.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

fn plain_timing() {
    let only = std::env::var("LSTM_BENCH_ONLY").ok();
    for c in CONFIGS
        .iter()
        .filter(|c| only.as_deref().is_none_or(|o| o == c.0))
    {
        let mut s = Setup::new(c);
        let threads = s.net.threads();
        for _ in 0..5 {
            black_box(s.step());
        }
        let mut times = Vec::with_capacity(256);
        let t0 = Instant::now();
        let c0 = thread_cpu_ns();
        while times.len() < 50 || t0.elapsed().as_secs_f64() < 1.0 {
            let ts = Instant::now();
            black_box(s.step());
            times.push(ts.elapsed().as_secs_f64());
        }
        let iters = times.len();
        let mean = t0.elapsed().as_secs_f64() / iters as f64;
        times.sort_by(|a, b| a.total_cmp(b));
        let median = if iters % 2 == 1 {
            times[iters / 2]
        } else {
            0.5 * (times[iters / 2 - 1] + times[iters / 2])
        };
        let cpu_ms = match (c0, thread_cpu_ns()) {
            (Some(a), Some(b)) => format!("{:.3}", (b - a) as f64 / iters as f64 / 1e6),
            _ => "null".into(),
        };
        println!(
            "{{\"config\": \"{}\", \"ms_per_step\": {:.3}, \"mean_ms_per_step\": {:.3}, \"main_thread_cpu_ms_per_step\": {}, \"samples_per_s\": {:.0}, \"iters\": {}, \"threads\": {}, \"cell\": \"{}\", \"impl\": \"lstm-train f32\"}}",
            c.0,
            median * 1e3,
            mean * 1e3,
            cpu_ms,
            c.6 as f64 / median,
            iters,
            threads,
            bench_cell()
        );
    }
}

fn bench(cr: &mut Criterion) {
    plain_timing();
    if std::env::var_os("LSTM_BENCH_QUICK").is_some() {
        return;
    }
    let mut g = cr.benchmark_group("train_step");
    g.sample_size(20);
    for c in &CONFIGS {
        let mut s = Setup::new(c);
        g.bench_function(c.0, |b| b.iter(|| black_box(s.step())));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
