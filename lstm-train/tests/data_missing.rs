//! Each missing-value policy gives the right values on small fixtures.

use lstm_train::data::{
    fill_column, ClassConfig, ColumnContext, DataError, ForecastColumns, ForecastConfig,
    LabelledSeries, MissingPolicy,
};
use ndarray::{arr2, Array1};

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// fc_gaps.csv: a = [1, NA, _, 4, 5, 6], b = [10, 20, _, 40, _, 60], note = text.
fn gaps(policy: MissingPolicy) -> Result<ForecastColumns, DataError> {
    let cfg = ForecastConfig {
        target: Some("a".into()),
        features: Some(vec!["a".into(), "b".into()]),
        missing: policy,
        ..Default::default()
    };
    ForecastColumns::read(fixture("fc_gaps.csv"), &cfg)
}

#[test]
fn forecast_error_policy_reports_first_missing_cell() {
    match gaps(MissingPolicy::Error).unwrap_err() {
        DataError::MissingValue { file, line, column } => {
            assert!(file.ends_with("fc_gaps.csv"));
            // `NA` on line 3 in column a comes before the empty cells of line 4.
            assert_eq!((line, column.as_str()), (3, "a"));
        }
        other => panic!("expected MissingValue, got {other:?}"),
    }
}

#[test]
fn forecast_drop_removes_rows_with_a_missing_used_cell() {
    let c = gaps(MissingPolicy::Drop).unwrap();
    assert_eq!(c.times.iter().collect::<Vec<_>>(), ["0", "3", "5"]);
    assert_eq!(c.lines, vec![2, 5, 7]);
    assert_eq!(c.dropped, 3);
    assert_eq!(c.features, arr2(&[[1.0, 10.0], [4.0, 40.0], [6.0, 60.0]]));
    assert_eq!(c.target, Array1::from(vec![1.0, 4.0, 6.0]));
}

#[test]
fn forecast_drop_ignores_unused_columns() {
    // Only column a is used: the gaps of b do not drop rows.
    let cfg = ForecastConfig {
        target: Some("a".into()),
        missing: MissingPolicy::Drop,
        ..Default::default()
    };
    let c = ForecastColumns::read(fixture("fc_gaps.csv"), &cfg).unwrap();
    assert_eq!(c.target.to_vec(), vec![1.0, 4.0, 5.0, 6.0]);
}

#[test]
fn forecast_ffill_repeats_previous_value() {
    let c = gaps(MissingPolicy::Ffill).unwrap();
    assert_eq!(
        c.features.column(0).to_vec(),
        vec![1.0, 1.0, 1.0, 4.0, 5.0, 6.0]
    );
    assert_eq!(
        c.features.column(1).to_vec(),
        vec![10.0, 20.0, 20.0, 40.0, 40.0, 60.0]
    );
    assert_eq!(c.target.to_vec(), c.features.column(0).to_vec());
    assert_eq!(c.dropped, 0);
}

#[test]
fn forecast_interpolate_is_linear_between_neighbours() {
    let c = gaps(MissingPolicy::Interpolate).unwrap();
    assert_eq!(
        c.features.column(0).to_vec(),
        vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    );
    assert_eq!(
        c.features.column(1).to_vec(),
        vec![10.0, 20.0, 30.0, 40.0, 50.0, 60.0]
    );
}

#[test]
fn ffill_fails_on_leading_gap_and_interpolate_backfills() {
    let cfg = |missing| ForecastConfig {
        missing,
        ..Default::default()
    };
    match ForecastColumns::read(fixture("fc_leading_gap.csv"), &cfg(MissingPolicy::Ffill))
        .unwrap_err()
    {
        DataError::CannotFill {
            file, line, column, ..
        } => {
            assert!(file.ends_with("fc_leading_gap.csv"));
            assert_eq!((line, column.as_str()), (2, "value"));
        }
        other => panic!("expected CannotFill, got {other:?}"),
    }
    let c = ForecastColumns::read(
        fixture("fc_leading_gap.csv"),
        &cfg(MissingPolicy::Interpolate),
    )
    .unwrap();
    assert_eq!(c.target.to_vec(), vec![2.0, 2.0, 3.0]);
}

#[test]
fn fill_column_edges_and_all_missing() {
    let lines = [2, 3, 4, 5, 6];
    let ctx = ColumnContext {
        file: "f.csv",
        column: "x",
        lines: &lines,
    };
    let v = [None, Some(1.0), None, Some(4.0), None];
    assert_eq!(
        fill_column(&v, MissingPolicy::Interpolate, ctx).unwrap(),
        vec![1.0, 1.0, 2.5, 4.0, 4.0]
    );
    assert!(matches!(
        fill_column(&v, MissingPolicy::Ffill, ctx),
        Err(DataError::CannotFill { line: 2, .. })
    ));
    assert!(matches!(
        fill_column(&v, MissingPolicy::Error, ctx),
        Err(DataError::MissingValue { line: 2, .. })
    ));
    let none = [None, None];
    assert!(matches!(
        fill_column(&none, MissingPolicy::Interpolate, ctx),
        Err(DataError::CannotFill { .. })
    ));
    assert_eq!(
        "Interpolate".parse::<MissingPolicy>().unwrap(),
        MissingPolicy::Interpolate
    );
    assert!("zero".parse::<MissingPolicy>().is_err());
}

/// long_gaps.csv: series 0 has f0 = [1, _, 3, 5], f1 = [10, 20, _, 40]; series 1 is complete.
fn long_gaps(policy: MissingPolicy) -> Result<LabelledSeries, DataError> {
    let cfg = ClassConfig {
        missing: policy,
        ..Default::default()
    };
    LabelledSeries::read(fixture("long_gaps.csv"), &cfg)
}

#[test]
fn long_format_policies() {
    let s = long_gaps(MissingPolicy::Interpolate).unwrap();
    assert_eq!(
        s.series[0],
        arr2(&[[1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [5.0, 40.0]])
    );
    let s = long_gaps(MissingPolicy::Ffill).unwrap();
    assert_eq!(
        s.series[0],
        arr2(&[[1.0, 10.0], [1.0, 20.0], [3.0, 20.0], [5.0, 40.0]])
    );
    assert_eq!(s.series[1], arr2(&[[1.0, 1.0], [2.0, 2.0]]));
    // Drop removes the whole series 0.
    let s = long_gaps(MissingPolicy::Drop).unwrap();
    assert_eq!(s.len(), 1);
    assert_eq!(s.ids, vec!["1"]);
    assert_eq!(s.labels, vec!["b"]);
    assert_eq!(s.dropped, 1);
    assert!(matches!(
        long_gaps(MissingPolicy::Error),
        Err(DataError::MissingValue { line: 3, .. })
    ));
}

#[test]
fn wide_format_policies() {
    // cls_wide_gaps.csv row 0: [1, _, 3, _]
    let read = |missing| {
        LabelledSeries::read(
            fixture("cls_wide_gaps.csv"),
            &ClassConfig {
                missing,
                ..Default::default()
            },
        )
    };
    let col = |s: &LabelledSeries, i: usize| s.series[i].column(0).to_vec();
    let s = read(MissingPolicy::Interpolate).unwrap();
    assert_eq!(col(&s, 0), vec![1.0, 2.0, 3.0, 3.0]);
    assert_eq!(col(&s, 1), vec![5.0, 6.0, 7.0, 8.0]);
    assert_eq!(
        col(&read(MissingPolicy::Ffill).unwrap(), 0),
        vec![1.0, 1.0, 3.0, 3.0]
    );
    let s = read(MissingPolicy::Drop).unwrap();
    assert_eq!((s.len(), s.labels[0].as_str(), s.dropped), (1, "2", 1));
    match read(MissingPolicy::Error).unwrap_err() {
        DataError::MissingValue { line, column, .. } => {
            assert_eq!((line, column.as_str()), (2, "v1"))
        }
        other => panic!("expected MissingValue, got {other:?}"),
    }
}

#[test]
fn drop_of_every_row_is_no_data() {
    let cfg = ForecastConfig {
        missing: MissingPolicy::Drop,
        ..Default::default()
    };
    let err =
        ForecastColumns::from_reader("holes.csv", "t,v\n0,\n1,NA\n".as_bytes(), &cfg).unwrap_err();
    assert!(matches!(err, DataError::NoData { .. }), "{err:?}");
}
