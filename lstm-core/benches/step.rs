//! One streaming step of a one-layer LSTM (IN = 1) with a Dense head, for
//! H = 32 and H = 64, in f32 and Q4.12, exact and fast activations.
//! Criterion's throughput is in MACs (4·H·(IN+H) + H·OUT per step), so
//! ns/MAC = 1 / (throughput in elements per ns).

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lstm_core::{
    Activation, Dense, DenseWeights, Exact, Fast, Lstm, LstmWeights, Scalar, Stack, Stream, Q4_12,
};

/// Deterministic pseudo-random weights in ±0.5.
fn values<T: Scalar, const N: usize>(seed: &mut u32) -> [T; N] {
    core::array::from_fn(|_| {
        *seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        T::from_f32((*seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5)
    })
}

fn bench_one<T: Scalar, A: Activation<T>, const H: usize>(c: &mut Criterion, name: &str) {
    let mut seed = 1;
    let w_ih: &'static [[[T; 1]; H]; 4] = Box::leak(Box::new(core::array::from_fn(|_| {
        core::array::from_fn(|_| values(&mut seed))
    })));
    let w_hh: &'static [[[T; H]; H]; 4] = Box::leak(Box::new(core::array::from_fn(|_| {
        core::array::from_fn(|_| values(&mut seed))
    })));
    let bias: &'static [[T; H]; 4] =
        Box::leak(Box::new(core::array::from_fn(|_| values(&mut seed))));
    let dw: &'static [[T; H]; 1] = Box::leak(Box::new([values(&mut seed)]));
    let db: &'static [T; 1] = Box::leak(Box::new([T::ZERO]));
    let model = Stack::<_, _, H>::new(
        Lstm::<T, A, 1, H>::new(LstmWeights { w_ih, w_hh, bias }),
        Dense::new(DenseWeights { w: dw, b: db }),
    );
    let macs = 4 * H * (1 + H) + H;
    let mut group = c.benchmark_group("step");
    group.throughput(Throughput::Elements(macs as u64));
    let mut stream = Stream::new(&model);
    let mut x = T::from_f32(0.3);
    group.bench_function(BenchmarkId::new(name, H), |b| {
        b.iter(|| {
            let y = stream.step(black_box(&[x]));
            x = T::from_f32(y[0].to_f32() * 0.5);
            y
        })
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    bench_one::<f32, Exact, 32>(c, "f32-exact");
    bench_one::<f32, Fast, 32>(c, "f32-fast");
    bench_one::<Q4_12, Fast, 32>(c, "q4.12-fast");
    bench_one::<f32, Exact, 64>(c, "f32-exact");
    bench_one::<f32, Fast, 64>(c, "f32-fast");
    bench_one::<Q4_12, Fast, 64>(c, "q4.12-fast");
}

criterion_group!(step, benches);
criterion_main!(step);
