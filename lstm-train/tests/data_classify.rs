//! Classification pipeline: the shared datasets load with the README's counts,
//! long format with different lengths, padding, classes, validation splits.

use lstm_train::data::{
    load_classification, ClassConfig, ClassDataset, ClassFormat, LabelledSeries, ScalerKind,
    ValSplit,
};
use ndarray::s;

fn shared(rel: &str) -> String {
    format!(
        "{}/../../shared/datasets/classification/{rel}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn dataset(name: &str, cfg: &ClassConfig) -> ClassDataset {
    load_classification(
        shared(&format!("{name}/train.csv")),
        shared(&format!("{name}/test.csv")),
        cfg,
    )
    .expect("dataset loads")
}

fn no_val() -> ClassConfig {
    ClassConfig {
        val_fraction: 0.0,
        ..Default::default()
    }
}

fn counts(labels: &[usize], k: usize) -> Vec<usize> {
    let mut c = vec![0; k];
    for &l in labels {
        c[l] += 1;
    }
    c
}

#[test]
fn italy_power_demand_loads_with_readme_counts() {
    let d = dataset("ItalyPowerDemand", &no_val());
    assert_eq!(d.format, ClassFormat::Wide);
    assert_eq!(d.classes, vec!["1", "2"]);
    assert_eq!((d.train.len(), d.val.len(), d.test.len()), (67, 0, 1029));
    assert_eq!(d.train.x.dim(), (67, 24, 1));
    assert_eq!(d.test.x.dim(), (1029, 24, 1));
    assert!(d
        .train
        .lengths
        .iter()
        .chain(&d.test.lengths)
        .all(|&l| l == 24));
    assert_eq!(counts(&d.train.labels, 2), vec![34, 33]);
    assert_eq!(counts(&d.test.labels, 2), vec![513, 516]);
    let (class, acc) = d.majority_baseline().unwrap();
    assert_eq!(class, 0);
    assert!((acc - 513.0 / 1029.0).abs() < 1e-12);
}

#[test]
fn gunpoint_loads_with_readme_counts() {
    let d = dataset("GunPoint", &no_val());
    assert_eq!(d.classes, vec!["1", "2"]);
    assert_eq!(d.train.x.dim(), (50, 150, 1));
    assert_eq!(d.test.x.dim(), (150, 150, 1));
    assert_eq!(counts(&d.train.labels, 2), vec![24, 26]);
    assert_eq!(counts(&d.test.labels, 2), vec![76, 74]);
    // Majority of training labels is class "2" (26 > 24): 74 / 150 correct.
    let (class, acc) = d.majority_baseline().unwrap();
    assert_eq!(class, 1);
    assert!((acc - 74.0 / 150.0).abs() < 1e-12);
}

#[test]
fn basic_motions_loads_with_readme_counts() {
    let d = dataset("BasicMotions", &no_val());
    assert_eq!(d.format, ClassFormat::Long);
    assert_eq!(
        d.classes,
        vec!["Badminton", "Running", "Standing", "Walking"]
    );
    assert_eq!(d.channels, vec!["f0", "f1", "f2", "f3", "f4", "f5"]);
    assert_eq!(d.train.x.dim(), (40, 100, 6));
    assert_eq!(d.test.x.dim(), (40, 100, 6));
    assert_eq!(counts(&d.train.labels, 4), vec![10; 4]);
    assert_eq!(counts(&d.test.labels, 4), vec![10; 4]);
    // File order: the first training series is a Standing one, with id 0.
    assert_eq!((d.train.labels[0], d.train.ids[0].as_str()), (2, "0"));
    // Tie between 4 classes of 10: smallest id wins, accuracy 1/4.
    assert_eq!(d.majority_baseline().unwrap(), (0, 0.25));
}

#[test]
fn basic_motions_raw_values_and_standard_scaling() {
    let raw = dataset(
        "BasicMotions",
        &ClassConfig {
            scaler: ScalerKind::None,
            val_fraction: 0.0,
            ..Default::default()
        },
    );
    // First row of the training file: 0,Standing,0,0.079106,0.394032,...
    assert_eq!(raw.train.x[[0, 0, 0]], 0.079106);
    assert_eq!(raw.train.x[[0, 0, 1]], 0.394032);
    let std = dataset("BasicMotions", &no_val());
    // Standardised training data: per channel mean 0 and std 1.
    for f in 0..6 {
        let col = std.train.x.slice(s![.., .., f]);
        let n = col.len() as f64;
        let mean = col.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = col
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n;
        assert!(
            mean.abs() < 1e-4 && (var - 1.0).abs() < 1e-3,
            "channel {f}: {mean} {var}"
        );
    }
}

#[test]
fn validation_split_tail_and_stratified() {
    let tail = dataset(
        "BasicMotions",
        &ClassConfig {
            val_fraction: 0.1,
            val_split: ValSplit::Tail,
            ..Default::default()
        },
    );
    // The file is sorted by class: the last 4 series are all Badminton.
    assert_eq!(tail.val.labels, vec![0; 4]);
    assert_eq!(tail.val.ids, vec!["36", "37", "38", "39"]);
    assert_eq!(tail.train.len(), 36);
    let strat = dataset("BasicMotions", &ClassConfig::default());
    assert_eq!(strat.val.len(), 4);
    let mut v = strat.val.labels.clone();
    v.sort_unstable();
    assert_eq!(v, vec![0, 1, 2, 3]);
    // The last series of each class, in file order.
    assert_eq!(strat.val.ids, vec!["9", "19", "29", "39"]);
    assert_eq!(counts(&strat.train.labels, 4), vec![9; 4]);
}

#[test]
fn long_format_with_different_lengths() {
    let cfg = ClassConfig {
        scaler: ScalerKind::None,
        val_fraction: 0.0,
        ..Default::default()
    };
    let d = load_classification(
        fixture("long_varlen_train.csv"),
        fixture("long_varlen_test.csv"),
        &cfg,
    )
    .unwrap();
    assert_eq!(d.format, ClassFormat::Long);
    assert_eq!(d.classes, vec!["run", "walk"]);
    assert_eq!(d.train.lengths, vec![3, 1, 2, 4]);
    assert_eq!(d.train.labels, vec![1, 0, 1, 0]);
    assert_eq!(d.train.x.dim(), (4, 4, 2));
    // The 5-step test series is longer than the model's window (the
    // longest training series, 4 steps): it keeps its last 4 steps, as a
    // device keeping the last 4 samples sees it, and a note says so.
    assert_eq!(d.test.lengths, vec![2, 4]);
    assert_eq!(d.test.x.dim(), (2, 4, 2));
    assert_eq!(
        d.test.series(1).to_owned(),
        ndarray::arr2(&[[4.0f32, 40.0], [5.0, 50.0], [6.0, 60.0], [7.0, 70.0]])
    );
    let note = d.length_note.as_deref().unwrap_or_default();
    assert!(
        note.contains("1 longer ones from their last 4 steps"),
        "{note}"
    );
    // Real steps hold the file's values ...
    assert_eq!(
        d.train.series(0).to_owned(),
        ndarray::arr2(&[[1.0f32, 10.0], [2.0, 20.0], [3.0, 30.0]])
    );
    assert_eq!(
        d.train.series(1).to_owned(),
        ndarray::arr2(&[[4.0f32, 40.0]])
    );
    // ... and padding is zero.
    for (i, &len) in d.train.lengths.iter().enumerate() {
        assert!(d.train.x.slice(s![i, len.., ..]).iter().all(|&v| v == 0.0));
    }
}

#[test]
fn padding_does_not_leak_into_scaling() {
    let cfg = ClassConfig {
        scaler: ScalerKind::Standard,
        val_fraction: 0.0,
        ..Default::default()
    };
    let d = load_classification(
        fixture("long_varlen_train.csv"),
        fixture("long_varlen_test.csv"),
        &cfg,
    )
    .unwrap();
    // f0 over the 10 real training steps is 1..=10: mean 5.5, population std sqrt(8.25).
    let (mean, scale) = d.scaler.affine(0);
    assert!((mean - 5.5).abs() < 1e-12);
    assert!((scale - 8.25f64.sqrt()).abs() < 1e-12);
    // Padding stays exactly 0 after scaling (not -mean / std).
    assert!(d.train.x.slice(s![1, 1.., ..]).iter().all(|&v| v == 0.0));
    assert!(d.test.x.slice(s![0, 2.., ..]).iter().all(|&v| v == 0.0));
    // The first real step of the first series is (1 - 5.5) / std.
    assert!((f64::from(d.train.x[[0, 0, 0]]) - (1.0 - 5.5) / 8.25f64.sqrt()).abs() < 1e-6);
}

#[test]
fn wide_variable_length_rows() {
    let csv = "label,v0,v1,v2,v3\n1,1,2,3,4\n2,5,6,,\n";
    let cfg = ClassConfig {
        wide_variable_length: true,
        ..Default::default()
    };
    let s = LabelledSeries::from_reader("w.csv", csv.as_bytes(), &cfg).unwrap();
    assert_eq!(s.lengths(), vec![4, 2]);
    // Without the option, trailing empty cells are missing values.
    assert!(LabelledSeries::from_reader("w.csv", csv.as_bytes(), &ClassConfig::default()).is_err());
}

#[test]
fn integer_labels_sort_numerically_string_labels_by_bytes() {
    let csv = "label,v0\n10,1\n2,2\n1,3\n10,4\n";
    let s = LabelledSeries::from_reader("n.csv", csv.as_bytes(), &ClassConfig::default()).unwrap();
    let d = ClassDataset::new(s.clone(), s, &no_val()).unwrap();
    assert_eq!(d.classes, vec!["1", "2", "10"]);
    assert_eq!(d.train.labels, vec![2, 1, 0, 2]);
    let csv = "label,v0\nb,1\nB,2\na,3\n";
    let s = LabelledSeries::from_reader("s.csv", csv.as_bytes(), &ClassConfig::default()).unwrap();
    let d = ClassDataset::new(s.clone(), s, &no_val()).unwrap();
    assert_eq!(d.classes, vec!["B", "a", "b"]);
}

#[test]
fn explicit_format_and_label_column_position() {
    // Wide with the label in the last column, chosen explicitly.
    let csv = "v0,v1,label\n1,2,x\n3,4,y\n";
    let cfg = ClassConfig {
        format: ClassFormat::Wide,
        ..Default::default()
    };
    let s = LabelledSeries::from_reader("w.csv", csv.as_bytes(), &cfg).unwrap();
    assert_eq!(s.labels, vec!["x", "y"]);
    assert_eq!(s.series[1].column(0).to_vec(), vec![3.0, 4.0]);
}

#[test]
fn prepare_applies_classes_and_scaler() {
    let d = dataset("ItalyPowerDemand", &ClassConfig::default());
    let again =
        LabelledSeries::read(shared("ItalyPowerDemand/test.csv"), &ClassConfig::default()).unwrap();
    let prepared = d.prepare(&again).unwrap();
    assert_eq!(prepared, d.test);
}

/// `--pool K`: the trainer's pooled, scaled series equal what lstm-core's
/// `RawIo` (through `model_inputs`) makes of the raw series on a device:
/// normalised per series, the mean of every K samples, a trailing partial
/// group dropped, then the file's scaling.
#[test]
fn pooling_matches_lstm_core_raw_io() {
    use lstm_core::file::{Differencing, Header, Scaling, Task, TrainingMode};
    use lstm_core::{LayerShape, NumberFormat};
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, lens: &[usize]| {
        let mut s = String::from("label");
        for t in 0..11 {
            s.push_str(&format!(",v{t}"));
        }
        s.push('\n');
        for (i, &len) in lens.iter().enumerate() {
            s.push_str(if i % 2 == 0 { "a" } else { "b" });
            for t in 0..11 {
                if t < len {
                    s.push_str(&format!(",{}", ((i * 13 + t * 7) % 10) as f64 * 0.3 - 1.0));
                } else {
                    s.push(',');
                }
            }
            s.push('\n');
        }
        let p = dir.path().join(name);
        std::fs::write(&p, s).unwrap();
        p
    };
    let train = write("train.csv", &[11, 9, 10, 11, 8, 11]);
    let test = write("test.csv", &[11, 7, 10, 3]);
    let cfg = ClassConfig {
        val_fraction: 0.0,
        per_series_norm: true,
        pool: 3,
        wide_variable_length: true,
        ..Default::default()
    };
    let d = load_classification(&train, &test, &cfg).unwrap();
    assert_eq!(d.train.lengths, vec![3, 3, 3, 3, 2, 3]);
    assert_eq!(d.test.lengths, vec![3, 2, 3, 1]);
    let lstm_train::data::Scaler::Standard { mean, std } = &d.scaler else {
        panic!("standard scaler expected");
    };
    let header = Header {
        format: NumberFormat::F32,
        layers: heapless::Vec::from_slice(&[
            LayerShape::Lstm {
                input: 1,
                hidden: 1,
            },
            LayerShape::Dense {
                input: 1,
                output: 2,
            },
        ])
        .unwrap(),
        input_scaling: Scaling::SeriesStandard {
            mean: heapless::Vec::from_slice(&[mean[0] as f32]).unwrap(),
            std: heapless::Vec::from_slice(&[std[0] as f32]).unwrap(),
        },
        output_scaling: Scaling::Identity,
        mode: TrainingMode::Windowed { window: 3 },
        task: Task::Classification {
            classes: heapless::Vec::from_slice(&["a", "b"]).unwrap(),
        },
        differencing: Differencing::None,
        pool: 3,
    };
    header.validate().unwrap();
    let raw = lstm_train::data::LabelledSeries::read(
        &test,
        &ClassConfig {
            format: d.format,
            ..cfg.clone()
        },
    )
    .unwrap();
    for (i, s) in raw.series.iter().enumerate() {
        let device = lstm_train::core_runner::model_inputs(&header, s.view()).unwrap();
        let trainer = d.test.series(i);
        assert_eq!(device.dim(), trainer.dim(), "series {i}");
        for (a, b) in device.iter().zip(trainer.iter()) {
            assert!((a - b).abs() < 1e-5, "series {i}: {device} vs {trainer}");
        }
    }
    // A series shorter than the pool is refused, naming it.
    let short = write("short.csv", &[11, 2]);
    let err = load_classification(&train, &short, &cfg)
        .unwrap_err()
        .to_string();
    assert!(err.contains("fewer than --pool 3"), "{err}");
}
