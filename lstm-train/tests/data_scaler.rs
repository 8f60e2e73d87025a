//! Scalers: fitted on the training split only, constant features, inverse, serde.

use lstm_train::data::{load_forecast, ForecastConfig, Scaler, ScalerKind};
use ndarray::{arr2, s, Array2};

fn shared(rel: &str) -> String {
    format!("{}/../../shared/datasets/{rel}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn minmax_is_fitted_on_the_fit_split_only() {
    let d = load_forecast(
        shared("forecasting/airline/data.csv"),
        &ForecastConfig::default(),
    )
    .unwrap();
    let fit = d.target_raw.slice(s![..d.n_fit]);
    let (lo, hi) = fit
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    assert_eq!(
        d.scaler_y,
        Scaler::MinMax {
            min: vec![lo],
            max: vec![hi]
        }
    );
    assert_eq!(d.scaler_x, d.scaler_y);
    // The fit split spans exactly [0, 1] ...
    let train_y = d.y_scaled.slice(s![..d.n_fit]);
    assert_eq!(train_y.iter().cloned().fold(f32::MAX, f32::min), 0.0);
    assert_eq!(train_y.iter().cloned().fold(f32::MIN, f32::max), 1.0);
    // ... and the (growing) test values, outside the training range, map above 1.
    let test_max = d.test.y.iter().cloned().fold(f32::MIN, f32::max);
    assert!(test_max > 1.0, "test max {test_max}");
    let expected = (622.0 - lo) / (hi - lo);
    assert!(
        (f64::from(test_max) - expected).abs() < 1e-6,
        "{test_max} vs {expected}"
    );
    assert!(d.test.x.iter().any(|&v| v > 1.0));
}

#[test]
fn standard_uses_training_mean_and_population_std() {
    let x = arr2(&[[1.0, 5.0], [2.0, 5.0], [3.0, 5.0], [4.0, 5.0]]);
    let sc = Scaler::fit(ScalerKind::Standard, x.view()).unwrap();
    let z = sc.transform(x.view());
    let sd = (1.25f64).sqrt();
    assert!((z[[0, 0]] - (1.0 - 2.5) / sd).abs() < 1e-12);
    assert!(z.column(0).sum().abs() < 1e-12);
    // Constant column: scale 1, maps to 0, no NaN.
    assert_eq!(z.column(1).to_vec(), vec![0.0; 4]);
    assert_eq!(sc.affine(1), (5.0, 1.0));
    let back = sc.inverse_transform(z.view());
    assert!((back - &x).iter().all(|d| d.abs() < 1e-12));
}

#[test]
fn constant_features_do_not_produce_nan() {
    let x = Array2::from_elem((5, 2), 0.1f64);
    for kind in [ScalerKind::MinMax, ScalerKind::Standard, ScalerKind::None] {
        let sc = Scaler::fit(kind, x.view()).unwrap();
        let z = sc.transform(x.view());
        assert!(z.iter().all(|v| v.is_finite()), "{kind}: {z}");
        if kind != ScalerKind::None {
            assert!(z.iter().all(|&v| v == 0.0), "{kind}: {z}");
        }
        // Other values still map finitely and invert exactly.
        let y = arr2(&[[0.3f32, -2.0]]);
        let back = sc.inverse_transform(sc.transform(y.view()).view());
        assert!((back - &y).iter().all(|d| d.abs() < 1e-6));
    }
}

#[test]
fn minmax_maps_outside_values_outside_unit_interval() {
    let train = arr2(&[[0.0], [10.0]]);
    let sc = Scaler::fit(ScalerKind::MinMax, train.view()).unwrap();
    let test = arr2(&[[-5.0f32], [5.0], [20.0]]);
    assert_eq!(
        sc.transform(test.view()).column(0).to_vec(),
        vec![-0.5, 0.5, 2.0]
    );
    assert_eq!(
        sc.inverse_transform_column(0, ndarray::arr1(&[2.0f32]).view())[0],
        20.0
    );
}

#[test]
fn scaler_serialises_with_serde() {
    let sc = Scaler::fit(ScalerKind::MinMax, arr2(&[[1.0, 2.0], [3.0, 6.0]]).view()).unwrap();
    let json = serde_json::to_string(&sc).unwrap();
    let back: Scaler = serde_json::from_str(&json).unwrap();
    assert_eq!(back, sc);
    let kind: ScalerKind = serde_json::from_str("\"standard\"").unwrap();
    assert_eq!(kind, ScalerKind::Standard);
    assert_eq!("minmax".parse::<ScalerKind>().unwrap(), ScalerKind::MinMax);
    assert!("log".parse::<ScalerKind>().is_err());
}

#[test]
fn fitting_on_no_rows_is_an_error() {
    let empty = Array2::<f64>::zeros((0, 1));
    assert!(Scaler::fit(ScalerKind::MinMax, empty.view()).is_err());
    assert_eq!(
        Scaler::fit(ScalerKind::None, empty.view()).unwrap(),
        Scaler::None
    );
}
