//! Rolling-origin cross-validation: folds, per-candidate statistics, best
//! choice, table.

use lstm_train::artifact::DataSource;
use lstm_train::cv::{cross_validate, CvConfig};
use lstm_train::data::{ForecastConfig, ForecastData};
use lstm_train::fit::FitConfig;

fn data() -> (ForecastData, ForecastConfig, DataSource) {
    let mut csv = String::from("time,value\n");
    for t in 0..100 {
        let v = 5.0 + (0.5 * t as f64).sin() + 0.03 * t as f64;
        csv.push_str(&format!("{t},{v}\n"));
    }
    let cfg = ForecastConfig {
        window: 5,
        ..ForecastConfig::default()
    };
    let d = ForecastData::from_reader("cv.csv", csv.as_bytes(), &cfg).expect("data");
    let src = DataSource::Forecast {
        path: "cv.csv".into(),
        config: cfg.clone(),
    };
    (d, cfg, src)
}

#[test]
fn rolling_origin_folds_and_statistics() {
    let (d, cfg, src) = data();
    // 100 rows: 72 fit + 8 validation + 20 test; block = 8.
    assert_eq!((d.n_fit, d.n_train), (72, 80));
    let cv = CvConfig {
        folds: 3,
        block: None,
        cells: vec![lstm_train::net::CellKind::Lstm],
        hidden_sizes: vec![3, 6],
        layers: vec![1],
        fit: FitConfig {
            epochs: 4,
            batch_size: 16,
            quiet: true,
            ..FitConfig::forecasting()
        },
        difference: false,
        verbose: false,
    };
    let report = cross_validate(&d, &cfg, &src, &cv).expect("cv");
    let bounds: Vec<(usize, usize)> = report.folds.iter().map(|f| (f.origin, f.end)).collect();
    assert_eq!(bounds, vec![(56, 64), (64, 72), (72, 80)]);
    assert_eq!(report.candidates.len(), 2);
    for c in &report.candidates {
        assert_eq!(c.fold_rmse.len(), 3);
        assert!(c.fold_rmse.iter().all(|r| r.is_finite() && *r >= 0.0));
        let mean = c.fold_rmse.iter().sum::<f64>() / 3.0;
        let var = c.fold_rmse.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / 2.0;
        assert!((c.mean - mean).abs() < 1e-12);
        assert!((c.std - var.sqrt()).abs() < 1e-12);
    }
    let best = report.best().expect("best");
    assert!(report.candidates.iter().all(|c| c.mean >= best.mean));
    let table = report.table();
    assert!(
        table.contains("<- best") && table.contains("fold 3"),
        "{table}"
    );

    // Same inputs, same report (seeded).
    let again = cross_validate(&d, &cfg, &src, &cv).expect("cv again");
    assert_eq!(
        again.candidates[0].fold_rmse,
        report.candidates[0].fold_rmse
    );
}

#[test]
fn too_many_folds_is_an_error() {
    let (d, cfg, src) = data();
    let cv = CvConfig {
        folds: 20,
        hidden_sizes: vec![3],
        layers: vec![1],
        ..CvConfig::default()
    };
    assert!(cross_validate(&d, &cfg, &src, &cv).is_err());
}

/// A differenced candidate is scored with its own window, whatever window
/// the recorded source carries (the automatic choice passes the run's
/// source, window 12 by default, with candidate windows 6, 12 and 24):
/// the fold RMSEs are those of a source with the candidate's window.
#[test]
fn differenced_candidates_are_scored_with_their_own_window() {
    let (d, cfg, src) = data();
    let cv = CvConfig {
        folds: 2,
        block: None,
        cells: vec![lstm_train::net::CellKind::Lstm],
        hidden_sizes: vec![3],
        layers: vec![1],
        fit: FitConfig {
            epochs: 3,
            batch_size: 16,
            quiet: true,
            difference_lag: 1,
            ..FitConfig::forecasting()
        },
        difference: true,
        verbose: false,
    };
    let own = cross_validate(&d, &cfg, &src, &cv).expect("cv, window 5");
    let other_src = DataSource::Forecast {
        path: "cv.csv".into(),
        config: ForecastConfig {
            window: 12,
            ..cfg.clone()
        },
    };
    let other = cross_validate(&d, &cfg, &other_src, &cv).expect("cv, source window 12");
    assert_eq!(
        own.candidates[0].fold_rmse, other.candidates[0].fold_rmse,
        "the source's window must not change a candidate's score"
    );
}
