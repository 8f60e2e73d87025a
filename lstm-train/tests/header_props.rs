//! Every header value a valid model file can hold (windows up to
//! `u32::MAX`, seasonal lags up to `u16::MAX`, stateful models,
//! classifiers of 1..=32 classes, LSTM and GRU layers, extreme scalings)
//! driven through the library functions behind `inspect`, `predict` and
//! `eval --core`, in-process: each returns `Ok` or a typed error, never
//! panics, and never asks for an allocation larger than [`LIMIT`] (a
//! counting global allocator records any such request).

mod common;
use common::fit_airline_one_epoch;

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use lstm_core::file::{to_vec, Differencing, Header, Scaling, Task, TrainingMode};
use lstm_core::{LayerShape, NumberFormat};
use lstm_train::artifact::TrainedModel;
use lstm_train::export::score_file;
use lstm_train::inspect::inspect_path;
use lstm_train::predict::predict_path;
use proptest::prelude::*;

/// The largest single allocation any command may ask for here: the data
/// are a few kilobytes, so anything near this is sized by a header value.
const LIMIT: usize = 256 << 20;

/// Allocations above [`LIMIT`] are counted and refused (null), which
/// aborts the process: a failure either way.
struct Counting;

static HUGE: AtomicUsize = AtomicUsize::new(0);
static LARGEST_HUGE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to `System`, only refusing (null) requests above LIMIT,
// which the `GlobalAlloc` contract allows.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > LIMIT {
            HUGE.fetch_add(1, Ordering::SeqCst);
            LARGEST_HUGE.fetch_max(layout.size(), Ordering::SeqCst);
            return std::ptr::null_mut();
        }
        // SAFETY: same layout, forwarded.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > LIMIT {
            HUGE.fetch_add(1, Ordering::SeqCst);
            LARGEST_HUGE.fetch_max(layout.size(), Ordering::SeqCst);
            return std::ptr::null_mut();
        }
        // SAFETY: same layout, forwarded.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > LIMIT {
            HUGE.fetch_add(1, Ordering::SeqCst);
            LARGEST_HUGE.fetch_max(new_size, Ordering::SeqCst);
            return std::ptr::null_mut();
        }
        // SAFETY: `ptr` came from `System` with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// A forecasting model trained for one epoch on the airline series (one
/// input feature), in a directory kept for the whole test binary.
fn trained() -> &'static (TrainedModel, PathBuf) {
    static TRAINED: OnceLock<(TrainedModel, PathBuf)> = OnceLock::new();
    TRAINED.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir").keep();
        let run = dir.join("run");
        fit_airline_one_epoch(&run);
        let model = TrainedModel::load(&run.join("trained.json")).expect("trained.json");
        (model, dir)
    })
}

/// What a generated file holds (the header borrows the class names).
#[derive(Clone, Debug)]
struct Spec {
    format: NumberFormat,
    inputs: usize,
    /// `(is_gru, hidden)` per recurrent layer.
    recurrent: Vec<(bool, usize)>,
    /// `Some(classes)` for a classifier, else regression with `outputs`.
    classes: Option<usize>,
    outputs: usize,
    input_scaling: ScalingSpec,
    output_scaling: ScalingSpec,
    window: Option<u32>,
    /// 0: none, 1: first, L ≥ 2: seasonal at lag L (regression only).
    lag: u16,
    weight: f32,
    rows: usize,
}

#[derive(Clone, Copy, Debug)]
enum ScalingSpec {
    Identity,
    MinMax(f32, f32),
    Standard(f32, f32),
}

fn scaling(s: ScalingSpec, n: usize) -> Scaling {
    let v = |x: f32| heapless::Vec::from_slice(&vec![x; n]).expect("≤ 32 features");
    match s {
        ScalingSpec::Identity => Scaling::Identity,
        ScalingSpec::MinMax(a, b) => Scaling::MinMax {
            min: v(a.min(b)),
            max: v(a.max(b)),
        },
        ScalingSpec::Standard(m, s) => Scaling::Standard {
            mean: v(m),
            std: v(s),
        },
    }
}

fn extreme() -> impl Strategy<Value = f32> {
    prop_oneof![
        -1e3f32..1e3,
        Just(0.0f32),
        Just(f32::MAX),
        Just(f32::MIN),
        Just(3e38f32),
        Just(-3e38f32),
        Just(f32::MIN_POSITIVE),
        Just(1e-45f32),
        Just(1e-30f32),
        Just(1e30f32),
    ]
}

fn positive() -> impl Strategy<Value = f32> {
    prop_oneof![
        0.01f32..1e3,
        Just(f32::MAX),
        Just(f32::MIN_POSITIVE),
        Just(1e-45f32),
        Just(1e-30f32),
        Just(1e30f32),
    ]
}

fn scaling_spec() -> impl Strategy<Value = ScalingSpec> {
    prop_oneof![
        Just(ScalingSpec::Identity),
        (extreme(), extreme()).prop_map(|(a, b)| ScalingSpec::MinMax(a, b)),
        (extreme(), positive()).prop_map(|(m, s)| ScalingSpec::Standard(m, s)),
    ]
}

fn window() -> impl Strategy<Value = Option<u32>> {
    prop_oneof![
        Just(None),
        (1u32..=12).prop_map(Some),
        (13u32..=300).prop_map(Some),
        (1u32..=u32::MAX).prop_map(Some),
        Just(Some(u32::MAX)),
        Just(Some(u32::MAX - 1)),
        Just(Some(1u32 << 31)),
    ]
}

fn lag() -> impl Strategy<Value = u16> {
    prop_oneof![
        Just(0u16),
        Just(1u16),
        2u16..=16,
        17u16..=u16::MAX,
        Just(u16::MAX),
    ]
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop_oneof![
            Just(NumberFormat::F32),
            Just(NumberFormat::Q4_12),
            Just(NumberFormat::Q16_16)
        ],
        prop_oneof![3 => Just(1usize), 1 => 2usize..=3],
        prop::collection::vec((any::<bool>(), 1usize..=4), 1..=2),
        prop_oneof![2 => Just(None), 1 => (1usize..=32).prop_map(Some)],
        1usize..=2,
        (scaling_spec(), scaling_spec()),
        (window(), lag()),
        prop_oneof![
            -1.0f32..1.0,
            Just(0.5f32),
            Just(f32::MAX),
            Just(f32::MIN),
            Just(1e30f32)
        ],
        1usize..=40,
    )
        .prop_map(
            |(
                format,
                inputs,
                recurrent,
                classes,
                outputs,
                (input_scaling, output_scaling),
                (window, lag),
                weight,
                rows,
            )| {
                let outputs = classes.unwrap_or(outputs);
                Spec {
                    format,
                    inputs,
                    recurrent,
                    classes,
                    outputs,
                    input_scaling,
                    output_scaling: if classes.is_some() {
                        ScalingSpec::Identity
                    } else {
                        output_scaling
                    },
                    window,
                    lag: if classes.is_some() { 0 } else { lag },
                    weight,
                    rows,
                }
            },
        )
}

fn model_file(spec: &Spec) -> Vec<u8> {
    let names: Vec<String> = (0..spec.classes.unwrap_or(0))
        .map(|k| format!("c{k}"))
        .collect();
    let mut layers = heapless::Vec::new();
    let mut input = spec.inputs;
    for &(gru, hidden) in &spec.recurrent {
        let (input32, hidden32) = (input as u32, hidden as u32);
        let l = if gru {
            LayerShape::Gru {
                input: input32,
                hidden: hidden32,
            }
        } else {
            LayerShape::Lstm {
                input: input32,
                hidden: hidden32,
            }
        };
        layers.push(l).expect("≤ 8 layers");
        input = hidden;
    }
    layers
        .push(LayerShape::Dense {
            input: input as u32,
            output: spec.outputs as u32,
        })
        .expect("≤ 8 layers");
    // (Only a differenced model, of at most 32 outputs, has targets.)
    let targets: heapless::Vec<u8, 32> = (0..spec.outputs.min(32))
        .map(|k| (k % spec.inputs) as u8)
        .collect();
    let header = Header {
        format: spec.format,
        layers,
        input_scaling: scaling(spec.input_scaling, spec.inputs),
        output_scaling: scaling(spec.output_scaling, spec.outputs),
        mode: spec
            .window
            .map_or(TrainingMode::Stateful, |window| TrainingMode::Windowed {
                window,
            }),
        task: match spec.classes {
            Some(_) => Task::Classification {
                classes: names.iter().map(String::as_str).collect(),
            },
            None => Task::Regression,
        },
        differencing: match spec.lag {
            0 => Differencing::None,
            1 => Differencing::First { targets },
            lag => Differencing::Seasonal { lag, targets },
        },
        pool: 1,
    };
    header.validate().expect("the generated header is valid");
    let n = header.parameter_count().expect("small");
    // Alternate signs so that not every model saturates the same way.
    let weights: Vec<f32> = (0..n)
        .map(|i| {
            if i % 3 == 2 {
                -spec.weight
            } else {
                spec.weight
            }
        })
        .collect();
    to_vec(&header, &weights).expect("a valid file")
}

/// A forecasting CSV (time column, `inputs` values) and a long-format
/// classification CSV (`series_id,label,t,f0,...`) of `rows` rows.
fn write_data(dir: &Path, spec: &Spec) -> PathBuf {
    let mut csv = String::new();
    if spec.classes.is_some() {
        csv.push_str("series_id,label,t");
        for j in 0..spec.inputs {
            csv.push_str(&format!(",f{j}"));
        }
        csv.push('\n');
        for r in 0..spec.rows {
            csv.push_str(&format!("s{},c0,{}", r / 7, r % 7));
            for j in 0..spec.inputs {
                csv.push_str(&format!(",{}", (r * (j + 1)) as f64 * 0.37 - 2.0));
            }
            csv.push('\n');
        }
    } else {
        csv.push_str("time");
        for j in 0..spec.inputs {
            csv.push_str(&format!(",v{j}"));
        }
        csv.push('\n');
        for r in 0..spec.rows {
            csv.push_str(&r.to_string());
            for j in 0..spec.inputs {
                csv.push_str(&format!(",{}", 100.0 + (r * (j + 1)) as f64 * 1.5));
            }
            csv.push('\n');
        }
    }
    let path = dir.join("data.csv");
    std::fs::write(&path, csv).expect("write csv");
    path
}

fn assert_no_huge_allocation(what: &str, spec: &Spec) {
    let huge = HUGE.swap(0, Ordering::SeqCst);
    assert_eq!(
        huge,
        0,
        "{what}: {huge} allocation(s) above {LIMIT} bytes (largest {}) for {spec:?}",
        LARGEST_HUGE.load(Ordering::SeqCst)
    );
}

fn run_commands(spec: &Spec) {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = dir.path().join("model.lstm");
    std::fs::write(&model, model_file(spec)).expect("write model");
    let data = write_data(dir.path(), spec);

    // inspect: every valid file is described.
    let text = inspect_path(&model);
    assert_no_huge_allocation("inspect", spec);
    if let Err(e) = &text {
        // Only a weight lstm-core refuses to load (never for a valid file
        // with finite weights) may fail.
        panic!("inspect refused a valid file: {e} ({spec:?})");
    }

    // predict: Ok without a non-finite value, or a typed error.
    match predict_path(&model, &data, None) {
        Ok(p) => {
            let lower = p.csv.to_lowercase();
            assert!(
                !lower.contains("inf") && !lower.contains("nan"),
                "predict wrote non-finite values: {} ({spec:?})",
                p.csv
            );
        }
        Err(e) => {
            let msg = format!("{:#}", anyhow::Error::from(e));
            assert!(!msg.is_empty());
        }
    }
    assert_no_huge_allocation("predict", spec);

    // eval --core with a trained forecasting model on the airline series.
    let (trained_model, _) = trained();
    match score_file(trained_model, &model, None) {
        Ok(score) => {
            let text = format!("{:?}", score.core);
            assert!(
                !text.contains("inf") && !text.contains("NaN"),
                "eval --core scored non-finite values: {text} ({spec:?})"
            );
        }
        Err(e) => {
            let msg = format!("{:#}", anyhow::Error::from(e));
            assert!(!msg.is_empty());
        }
    }
    assert_no_huge_allocation("eval --core", spec);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn every_valid_header_runs_through_every_command_without_panicking(spec in spec()) {
        run_commands(&spec);
    }
}

#[test]
fn a_window_longer_than_the_data_is_refused_by_predict_naming_both() {
    let spec = Spec {
        format: NumberFormat::Q4_12,
        inputs: 1,
        recurrent: vec![(false, 1)],
        classes: None,
        outputs: 1,
        input_scaling: ScalingSpec::Identity,
        output_scaling: ScalingSpec::Identity,
        window: Some(u32::MAX),
        lag: 0,
        weight: 0.5,
        rows: 12,
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let model = dir.path().join("model.lstm");
    std::fs::write(&model, model_file(&spec)).expect("write model");
    let data = write_data(dir.path(), &spec);
    let err = predict_path(&model, &data, None).expect_err("refused");
    assert_no_huge_allocation("predict", &spec);
    assert_eq!(
        err.to_string(),
        "the model's window of 4294967295 samples is longer than the 12 rows of data"
    );
    let seasonal = Spec {
        lag: u16::MAX,
        window: Some(3),
        ..spec
    };
    std::fs::write(&model, model_file(&seasonal)).expect("write model");
    let err = predict_path(&model, &data, None).expect_err("refused");
    assert_eq!(
        err.to_string(),
        "the model's differencing lag of 65535 samples needs at least 65536 rows of data, \
         but there are 12"
    );
}

#[test]
fn a_regression_model_with_many_outputs_is_refused_before_they_size_anything() {
    // 200 000 outputs: a 1.6 MB file; streamed over the 12 rows it would
    // have taken 12 × 200 000 values for one forecast series.
    let spec = Spec {
        format: NumberFormat::F32,
        inputs: 1,
        recurrent: vec![(false, 1)],
        classes: None,
        outputs: 200_000,
        input_scaling: ScalingSpec::Identity,
        output_scaling: ScalingSpec::Identity,
        window: None,
        lag: 0,
        weight: 0.5,
        rows: 12,
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let model = dir.path().join("model.lstm");
    std::fs::write(&model, model_file(&spec)).expect("write model");
    let data = write_data(dir.path(), &spec);
    let err = predict_path(&model, &data, None).expect_err("refused");
    assert_eq!(
        err.to_string(),
        "the model file has 200000 outputs, but `predict` writes one forecast series: \
         give it a regression model of one target"
    );
}
