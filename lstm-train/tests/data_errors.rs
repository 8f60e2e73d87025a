//! Every bad input gives its own error variant, naming file, line and column.

use lstm_train::data::{
    load_classification, load_forecast, ClassConfig, ClassFormat, DataError, ForecastConfig,
    LabelledSeries, MissingPolicy, Table,
};

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn forecast_err(name: &str) -> DataError {
    let cfg = ForecastConfig {
        window: 1,
        val_fraction: 0.0,
        ..Default::default()
    };
    load_forecast(fixture(name), &cfg).expect_err("must fail")
}

fn class_err(train: &str, test: &str) -> DataError {
    load_classification(fixture(train), fixture(test), &ClassConfig::default())
        .expect_err("must fail")
}

#[test]
fn missing_cell_with_error_policy_names_file_line_and_column() {
    let err = forecast_err("fc_missing.csv");
    match &err {
        DataError::MissingValue { file, line, column } => {
            assert!(file.ends_with("fc_missing.csv"), "{file}");
            assert_eq!(*line, 4);
            assert_eq!(column, "value");
        }
        other => panic!("expected MissingValue, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("fc_missing.csv"), "{msg}");
    assert!(msg.contains("line 4"), "{msg}");
    assert!(msg.contains("`value`"), "{msg}");
}

#[test]
fn non_numeric_cell() {
    match forecast_err("fc_non_numeric.csv") {
        DataError::NonNumeric {
            file,
            line,
            column,
            value,
        } => {
            assert!(file.ends_with("fc_non_numeric.csv"));
            assert_eq!((line, column.as_str(), value.as_str()), (4, "value", "abc"));
        }
        other => panic!("expected NonNumeric, got {other:?}"),
    }
}

#[test]
fn nan_is_not_finite_not_missing() {
    match forecast_err("fc_nan.csv") {
        DataError::NotFinite {
            line,
            column,
            value,
            ..
        } => {
            assert_eq!((line, column.as_str(), value.as_str()), (3, "value", "NaN"));
        }
        other => panic!("expected NotFinite, got {other:?}"),
    }
    // Even a filling policy does not turn NaN into a missing value.
    let cfg = ForecastConfig {
        window: 1,
        val_fraction: 0.0,
        missing: MissingPolicy::Interpolate,
        ..Default::default()
    };
    assert!(matches!(
        load_forecast(fixture("fc_nan.csv"), &cfg),
        Err(DataError::NotFinite { .. })
    ));
}

#[test]
fn infinity_is_not_finite() {
    match forecast_err("fc_inf.csv") {
        DataError::NotFinite { line, value, .. } => assert_eq!((line, value.as_str()), (5, "-inf")),
        other => panic!("expected NotFinite, got {other:?}"),
    }
    // A finite number beyond the f32 range is out of range, not "not finite".
    let err = Table::from_reader("big.csv", "x\n1e39\n".as_bytes())
        .unwrap()
        .number(0, 0)
        .unwrap_err();
    assert!(
        matches!(err, DataError::OutOfRange { line: 2, .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("big.csv: line 2, column `x`")
            && text.contains("out of range")
            && !text.contains("not finite"),
        "{text}"
    );
}

#[test]
fn ragged_row() {
    match forecast_err("fc_ragged.csv") {
        DataError::RaggedRow {
            file,
            line,
            expected,
            found,
        } => {
            assert!(file.ends_with("fc_ragged.csv"));
            assert_eq!((line, expected, found), (3, 2, 3));
        }
        other => panic!("expected RaggedRow, got {other:?}"),
    }
}

#[test]
fn empty_file_and_header_only() {
    assert!(
        matches!(forecast_err("empty.csv"), DataError::EmptyFile { file } if file.ends_with("empty.csv"))
    );
    assert!(
        matches!(forecast_err("header_only.csv"), DataError::NoData { file, .. } if file.ends_with("header_only.csv"))
    );
    assert!(matches!(
        class_err("empty.csv", "empty.csv"),
        DataError::EmptyFile { .. }
    ));
    assert!(matches!(
        class_err("header_only.csv", "header_only.csv"),
        DataError::NoData { .. }
    ));
}

#[test]
fn nonexistent_file_is_io_error() {
    let err = load_forecast(fixture("no_such_file.csv"), &ForecastConfig::default()).unwrap_err();
    assert!(matches!(err, DataError::Io { .. }));
    assert!(err.to_string().contains("no_such_file.csv"));
}

#[test]
fn duplicate_column_names() {
    let err = Table::from_reader("dup.csv", "time,v,v\n1,2,3\n".as_bytes()).unwrap_err();
    assert!(
        matches!(err, DataError::DuplicateColumn { ref column, .. } if column == "v"),
        "{err:?}"
    );
}

#[test]
fn window_longer_than_data() {
    let cfg = ForecastConfig {
        window: 4,
        val_fraction: 0.0,
        missing: MissingPolicy::Ffill,
        ..Default::default()
    };
    // 4 rows: 3 fit + 1 test, a window of 4 needs 5 fit rows.
    let err = load_forecast(fixture("fc_missing.csv"), &cfg).unwrap_err();
    assert!(matches!(err, DataError::TooFewRows { .. }), "{err:?}");
    assert!(err.to_string().contains("window 4"), "{err}");
}

#[test]
fn single_class_in_training_data() {
    match class_err("cls_single_class.csv", "cls_single_class.csv") {
        DataError::SingleClass { file, class, count } => {
            assert!(file.ends_with("cls_single_class.csv"));
            assert_eq!((class.as_str(), count), ("1", 3));
        }
        other => panic!("expected SingleClass, got {other:?}"),
    }
}

#[test]
fn single_class_left_after_tail_validation_split() {
    let train = "label,v0\n1,0\n1,1\n1,2\n2,3\n";
    let cfg = ClassConfig {
        val_fraction: 0.25,
        val_split: lstm_train::data::ValSplit::Tail,
        ..Default::default()
    };
    let tr = LabelledSeries::from_reader("tr.csv", train.as_bytes(), &cfg).unwrap();
    let te = tr.clone();
    let err = lstm_train::data::ClassDataset::new(tr, te, &cfg).unwrap_err();
    assert!(matches!(err, DataError::SingleClass { .. }), "{err:?}");
}

#[test]
fn label_unseen_in_training() {
    match class_err("cls_wide_train.csv", "cls_wide_unseen.csv") {
        DataError::UnseenLabel {
            file,
            line,
            label,
            known,
        } => {
            assert!(file.ends_with("cls_wide_unseen.csv"));
            assert_eq!((line, label.as_str(), known.as_str()), (3, "3", "1, 2"));
        }
        other => panic!("expected UnseenLabel, got {other:?}"),
    }
}

#[test]
fn long_format_not_ordered_by_t() {
    match class_err("long_unordered.csv", "long_unordered.csv") {
        DataError::NotOrdered {
            file,
            line,
            series_id,
            t,
            previous_t,
        } => {
            assert!(file.ends_with("long_unordered.csv"));
            assert_eq!(
                (line, series_id.as_str(), t.as_str(), previous_t.as_str()),
                (4, "0", "1", "2")
            );
        }
        other => panic!("expected NotOrdered, got {other:?}"),
    }
}

#[test]
fn long_format_not_grouped() {
    match class_err("long_not_grouped.csv", "long_not_grouped.csv") {
        DataError::NotGrouped {
            line,
            series_id,
            previous_line,
            ..
        } => assert_eq!((line, series_id.as_str(), previous_line), (5, "0", 3)),
        other => panic!("expected NotGrouped, got {other:?}"),
    }
}

#[test]
fn long_format_label_changes_within_series() {
    assert!(matches!(
        class_err("long_label_changes.csv", "long_label_changes.csv"),
        DataError::InconsistentLabel { line: 3, .. }
    ));
}

#[test]
fn series_of_length_zero() {
    // A wide file without value columns.
    let err = LabelledSeries::from_reader(
        "labels.csv",
        "label\n1\n2\n".as_bytes(),
        &ClassConfig::default(),
    )
    .unwrap_err();
    assert!(
        matches!(err, DataError::EmptySeries { line: 2, .. }),
        "{err:?}"
    );
    // Variable-length wide format: a row with no value at all.
    let cfg = ClassConfig {
        wide_variable_length: true,
        ..Default::default()
    };
    let err = LabelledSeries::read(fixture("cls_wide_varlen.csv"), &cfg).unwrap_err();
    match err {
        DataError::EmptySeries { file, line, series } => {
            assert!(file.ends_with("cls_wide_varlen.csv"));
            assert_eq!((line, series.as_str()), (4, "2"));
        }
        other => panic!("expected EmptySeries, got {other:?}"),
    }
}

#[test]
fn unknown_layout_and_missing_long_columns() {
    let err =
        LabelledSeries::from_reader("x.csv", "a,b\n1,2\n".as_bytes(), &ClassConfig::default())
            .unwrap_err();
    assert!(matches!(err, DataError::UnknownFormat { .. }), "{err:?}");
    let cfg = ClassConfig {
        format: ClassFormat::Long,
        ..Default::default()
    };
    let err = LabelledSeries::read(fixture("cls_wide_train.csv"), &cfg).unwrap_err();
    assert!(
        matches!(err, DataError::UnknownColumn { ref column, .. } if column == "series_id"),
        "{err:?}"
    );
}

#[test]
fn train_and_test_formats_must_match() {
    let cfg = ClassConfig::default();
    let tr = LabelledSeries::read(fixture("long_varlen_train.csv"), &cfg).unwrap();
    let te = LabelledSeries::read(fixture("cls_wide_train.csv"), &cfg).unwrap();
    let err = lstm_train::data::ClassDataset::new(tr, te, &cfg).unwrap_err();
    assert!(matches!(err, DataError::ColumnMismatch { .. }), "{err:?}");
}

#[test]
fn missing_label_is_always_an_error() {
    let cfg = ClassConfig {
        missing: MissingPolicy::Drop,
        ..Default::default()
    };
    let err =
        LabelledSeries::from_reader("l.csv", "label,v0\n1,2\n,3\n".as_bytes(), &cfg).unwrap_err();
    assert!(
        matches!(err, DataError::MissingValue { line: 3, ref column, .. } if column == "label"),
        "{err:?}"
    );
}

#[test]
fn missing_cell_in_classification_names_file_line_column() {
    let err = class_err("long_gaps.csv", "long_gaps.csv");
    assert!(
        matches!(err, DataError::MissingValue { line: 3, ref column, .. } if column == "f0"),
        "{err:?}"
    );
    assert!(err.to_string().contains("long_gaps.csv"));
}
