//! Forecasting pipeline on the shared datasets: splits, baselines, windows,
//! stateful layout, multivariate inputs.

use lstm_train::data::{
    load_forecast, DataError, ForecastConfig, ForecastData, ScalerKind, TimeColumn,
};
use ndarray::{s, Array1};

fn shared(rel: &str) -> String {
    format!("{}/../../shared/datasets/{rel}", env!("CARGO_MANIFEST_DIR"))
}

fn airline(cfg: &ForecastConfig) -> ForecastData {
    load_forecast(shared("forecasting/airline/data.csv"), cfg).expect("airline loads")
}

fn sunspots(cfg: &ForecastConfig) -> ForecastData {
    load_forecast(shared("forecasting/sunspots/data.csv"), cfg).expect("sunspots loads")
}

/// Rounds to 3 decimals, as the README prints.
fn r3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[test]
fn airline_split_and_baselines_match_readme() {
    let d = airline(&ForecastConfig::default());
    assert_eq!(d.n, 144);
    assert_eq!(d.n_train, 115);
    assert_eq!(d.test.len(), 29);
    assert_eq!(&d.times[d.n_train], "1958-08");
    assert_eq!(d.target_raw[0], 112.0);
    let naive = d.naive_baseline().unwrap();
    assert_eq!(naive.n, 29);
    assert_eq!(r3(naive.rmse), 52.491, "naive rmse {}", naive.rmse);
    assert_eq!(r3(d.seasonal_naive_baseline(12).unwrap().rmse), 46.082);
}

#[test]
fn sunspots_split_and_baselines_match_readme() {
    let d = sunspots(&ForecastConfig::default());
    assert_eq!(d.n, 309);
    assert_eq!(d.n_train, 247);
    assert_eq!(d.test.len(), 62);
    assert_eq!(&d.times[d.n_train], "1947");
    assert_eq!(r3(d.naive_baseline().unwrap().rmse), 33.276);
    assert_eq!(r3(d.seasonal_naive_baseline(11).unwrap().rmse), 37.861);
}

#[test]
fn baselines_do_not_depend_on_window_or_validation() {
    for (w, v) in [(1, 0.0), (24, 0.3), (60, 0.1)] {
        let cfg = ForecastConfig {
            window: w,
            val_fraction: v,
            ..Default::default()
        };
        let d = airline(&cfg);
        assert_eq!(d.test.len(), 29);
        assert_eq!(r3(d.naive_baseline().unwrap().rmse), 52.491);
    }
}

#[test]
fn split_sizes_are_chronological_and_keras_style() {
    let d = airline(&ForecastConfig::default());
    // 115 training rows, validation = last ceil(0.1 * 115) = 12 of them.
    assert_eq!(d.n_fit, 103);
    assert_eq!(d.train.len(), 103 - 12);
    assert_eq!(d.val.len(), 12);
    assert_eq!(d.train.rows, (12..103).collect::<Vec<_>>());
    assert_eq!(d.val.rows, (103..115).collect::<Vec<_>>());
    assert_eq!(d.test.rows, (115..144).collect::<Vec<_>>());
    assert_eq!(d.train.x.dim(), (91, 12, 1));
    assert_eq!(d.train.y.dim(), (91, 1));
    assert_eq!(d.test.x.dim(), (29, 12, 1));
}

#[test]
fn windows_line_up_with_targets() {
    let d = airline(&ForecastConfig::default());
    let w = d.window;
    for split in [&d.train, &d.val, &d.test] {
        for (i, &t) in split.rows.iter().enumerate() {
            // Identity feature: the last input step is the previous target.
            assert_eq!(split.x[[i, w - 1, 0]], d.y_scaled[t - 1]);
            assert_eq!(split.y[[i, 0]], d.y_scaled[t]);
            assert_eq!(split.y_raw[i], d.target_raw[t]);
            // The whole window is rows t-W .. t-1.
            for k in 0..w {
                assert_eq!(split.x[[i, k, 0]], d.x_scaled[[t - w + k, 0]]);
            }
            if i > 0 {
                assert_eq!(split.x[[i, w - 1, 0]], split.y[[i - 1, 0]]);
            }
        }
    }
    // The first test input ends with the last training (validation) value.
    assert_eq!(d.test.x[[0, w - 1, 0]], d.val.y[[d.val.len() - 1, 0]]);
}

#[test]
fn unscaled_windows_hold_original_values() {
    let csv = "t,v\n".to_string()
        + &(0..20)
            .map(|i| format!("{i},{}\n", i * i))
            .collect::<String>();
    let cfg = ForecastConfig {
        window: 3,
        test_fraction: 0.25,
        val_fraction: 0.0,
        scale_x: ScalerKind::None,
        scale_y: ScalerKind::None,
        ..Default::default()
    };
    let d = ForecastData::from_reader("squares.csv", csv.as_bytes(), &cfg).unwrap();
    assert_eq!((d.n_fit, d.n_train, d.n), (15, 15, 20));
    assert_eq!(d.train.len(), 12);
    assert!(d.val.is_empty());
    assert_eq!(d.test.len(), 5);
    assert_eq!(d.train.x.slice(s![0, .., 0]).to_vec(), vec![0.0, 1.0, 4.0]);
    assert_eq!(d.train.y[[0, 0]], 9.0);
    assert_eq!(
        d.test.x.slice(s![0, .., 0]).to_vec(),
        vec![144.0, 169.0, 196.0]
    );
    assert_eq!(d.test.y[[0, 0]], 225.0);
}

#[test]
fn stateful_layout_is_contiguous_and_aligned() {
    let d = airline(&ForecastConfig::default());
    let st = d.stateful();
    assert_eq!(st.train.rows, 1..103);
    assert_eq!(st.val.rows, 103..115);
    assert_eq!(st.test.rows, 115..144);
    assert_eq!(st.train.x.nrows(), 102);
    assert_eq!(st.test.x.nrows(), 29);
    // Inputs concatenated over the splits are rows 0 .. n-1 exactly once.
    let mut all = st.train.x.column(0).to_vec();
    all.extend(st.val.x.column(0).iter());
    all.extend(st.test.x.column(0).iter());
    assert_eq!(all, d.x_scaled.slice(s![..d.n - 1, 0]).to_vec());
    for seq in [&st.train, &st.val, &st.test] {
        for (i, t) in seq.rows.clone().enumerate() {
            assert_eq!(seq.x[[i, 0]], d.y_scaled[t - 1]);
            assert_eq!(seq.y[[i, 0]], d.y_scaled[t]);
            assert_eq!(seq.y_raw[i], d.target_raw[t]);
        }
    }
}

#[test]
fn perfect_predictions_score_zero_and_inverse_restores_units() {
    let d = airline(&ForecastConfig::default());
    let pred = d.test.y.column(0).to_owned();
    let m = d.score(&d.test, pred.view()).unwrap();
    assert!(m.rmse < 1e-3 && m.mae < 1e-3, "{m:?}");
    let back = d.inverse_target(d.y_scaled.view());
    for (a, b) in back.iter().zip(d.target_raw.iter()) {
        assert!((a - b).abs() < 1e-3);
    }
}

const MULTI: &str = "time,temp,load,flag\n\
0,1,10,a\n1,2,20,b\n2,3,30,c\n3,4,40,d\n4,5,50,e\n5,6,60,f\n6,7,70,g\n7,8,80,h\n8,9,90,i\n9,10,100,j\n";

#[test]
fn multivariate_features_chosen_by_name() {
    let cfg = ForecastConfig {
        target: Some("load".into()),
        features: Some(vec!["temp".into(), "load".into()]),
        window: 2,
        test_fraction: 0.2,
        val_fraction: 0.0,
        scale_x: ScalerKind::None,
        scale_y: ScalerKind::MinMax,
        ..Default::default()
    };
    let d = ForecastData::from_reader("multi.csv", MULTI.as_bytes(), &cfg).unwrap();
    assert_eq!(d.feature_names, vec!["temp", "load"]);
    assert_eq!(d.target_name, "load");
    assert_eq!(d.n_features(), 2);
    assert_eq!(d.train.x.dim(), (6, 2, 2));
    // First window: rows 0 and 1, features (temp, load); target load[2] = 30 scaled on 10..80.
    assert_eq!(
        d.train.x.slice(s![0, .., ..]).to_owned(),
        ndarray::arr2(&[[1.0f32, 10.0], [2.0, 20.0]])
    );
    assert!((d.train.y[[0, 0]] - (30.0 - 10.0) / 70.0).abs() < 1e-6);
    assert_eq!(d.test.y_raw, Array1::from(vec![90.0, 100.0]));
    // Exogenous-only features work as well.
    let cfg2 = ForecastConfig {
        features: Some(vec!["temp".into()]),
        ..cfg.clone()
    };
    let d2 = ForecastData::from_reader("multi.csv", MULTI.as_bytes(), &cfg2).unwrap();
    assert_eq!(d2.n_features(), 1);
    assert_eq!(d2.target_name, "load");
}

#[test]
fn target_must_be_chosen_when_ambiguous_and_names_must_exist() {
    let err = ForecastData::from_reader("multi.csv", MULTI.as_bytes(), &ForecastConfig::default())
        .unwrap_err();
    assert!(
        matches!(err, DataError::InvalidConfig(ref m) if m.contains("temp") && m.contains("multi.csv")),
        "{err}"
    );
    let cfg = ForecastConfig {
        target: Some("pressure".into()),
        ..Default::default()
    };
    let err = ForecastData::from_reader("multi.csv", MULTI.as_bytes(), &cfg).unwrap_err();
    match &err {
        DataError::UnknownColumn {
            file,
            column,
            available,
        } => {
            assert_eq!(file, "multi.csv");
            assert_eq!(column, "pressure");
            assert!(available.contains("temp,load"));
        }
        other => panic!("expected UnknownColumn, got {other:?}"),
    }
    let cfg = ForecastConfig {
        target: Some("load".into()),
        features: Some(vec!["tmp".into()]),
        ..Default::default()
    };
    assert!(matches!(
        ForecastData::from_reader("multi.csv", MULTI.as_bytes(), &cfg),
        Err(DataError::UnknownColumn { .. })
    ));
}

#[test]
fn named_and_absent_time_column() {
    let csv = "v,when\n1,a\n2,b\n3,c\n4,d\n5,e\n";
    let cfg = ForecastConfig {
        time_column: TimeColumn::Named("when".into()),
        window: 1,
        test_fraction: 0.2,
        val_fraction: 0.0,
        ..Default::default()
    };
    let d = ForecastData::from_reader("t.csv", csv.as_bytes(), &cfg).unwrap();
    assert_eq!(d.target_name, "v");
    assert_eq!(
        d.times.iter().collect::<Vec<_>>(),
        ["a", "b", "c", "d", "e"]
    );
    let csv = "v\n1\n2\n3\n4\n5\n";
    let cfg = ForecastConfig {
        time_column: TimeColumn::Absent,
        ..cfg
    };
    let d = ForecastData::from_reader("t.csv", csv.as_bytes(), &cfg).unwrap();
    assert_eq!(
        d.times.iter().collect::<Vec<_>>(),
        ["0", "1", "2", "3", "4"]
    );
}

#[test]
fn window_too_long_is_reported() {
    let cfg = ForecastConfig {
        window: 103,
        ..Default::default()
    };
    let err = load_forecast(shared("forecasting/airline/data.csv"), &cfg).unwrap_err();
    match &err {
        DataError::TooFewRows { file, detail } => {
            assert!(file.ends_with("data.csv"));
            assert!(detail.contains("103 fit"), "{detail}");
        }
        other => panic!("expected TooFewRows, got {other:?}"),
    }
    // One row less in the window is enough for exactly one training window.
    let cfg = ForecastConfig {
        window: 102,
        ..Default::default()
    };
    assert_eq!(airline(&cfg).train.len(), 1);
}

#[test]
fn invalid_config_values_are_rejected() {
    for cfg in [
        ForecastConfig {
            window: 0,
            ..Default::default()
        },
        ForecastConfig {
            test_fraction: 1.0,
            ..Default::default()
        },
        ForecastConfig {
            val_fraction: -0.1,
            ..Default::default()
        },
    ] {
        let err = load_forecast(shared("forecasting/airline/data.csv"), &cfg).unwrap_err();
        assert!(matches!(err, DataError::InvalidConfig(_)), "{err:?}");
    }
}
