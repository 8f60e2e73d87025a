//! Extreme outliers, reported before training: a value so far from the
//! rest of its column (or channel) that it dominates the fitted scaler and
//! the loss (a `1e30` typo in a sales series trains "successfully" to an
//! RMSE of 1e27). The measure is robust: the distance from the median in
//! units of the scaled median absolute deviation (1.4826 · MAD, the
//! standard deviation for normal data), which one outlier cannot inflate.

use ndarray::s;

use super::classify::ClassDataset;
use super::forecast::ForecastData;

/// A value more than this many robust standard deviations from its
/// column's median is reported.
pub const OUTLIER_ROBUST_SD: f64 = 1000.0;

/// One reported value.
#[derive(Clone, Debug, PartialEq)]
pub struct Outlier {
    /// Where it is (row and column, or series, step and channel).
    pub place: String,
    /// The value (in the units it was checked in).
    pub value: f64,
    /// Its column's median.
    pub median: f64,
    /// Its column's robust standard deviation.
    pub robust_sd: f64,
}

fn median(v: &mut [f64]) -> f64 {
    let n = v.len();
    let mid = n / 2;
    v.select_nth_unstable_by(mid, f64::total_cmp);
    let hi = v[mid];
    if n % 2 == 1 {
        return hi;
    }
    let lo = v[..mid].iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (lo + hi) / 2.0
}

/// Median and robust standard deviation of `values`: 1.4826 · MAD, or,
/// when more than half the values are equal (MAD 0), 1.4826 times the
/// median of the non-zero absolute deviations; `None` for a constant or
/// empty column.
pub fn robust_scale(values: &[f64]) -> Option<(f64, f64)> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    let med = median(&mut v);
    let mut dev: Vec<f64> = values.iter().map(|x| (x - med).abs()).collect();
    let mad = median(&mut dev);
    let sd = if mad > 0.0 {
        1.4826 * mad
    } else {
        // More than half the values equal the median: the scale of the
        // others (the median of the non-zero deviations), which one
        // extreme value cannot inflate either.
        let mut nonzero: Vec<f64> = dev.into_iter().filter(|&d| d > 0.0).collect();
        if nonzero.is_empty() {
            return None;
        }
        1.4826 * median(&mut nonzero)
    };
    (sd > 0.0 && sd.is_finite()).then_some((med, sd))
}

/// Indices and values of a column's outliers, its median and robust
/// deviation.
type ColumnOutliers = (Vec<(usize, f64)>, f64, f64);

/// The values of one column beyond [`OUTLIER_ROBUST_SD`], as
/// `(index, value)`, with the column's median and robust deviation.
fn column_outliers(values: &[f64]) -> Option<ColumnOutliers> {
    let (med, sd) = robust_scale(values)?;
    let out: Vec<(usize, f64)> = values
        .iter()
        .enumerate()
        .filter(|(_, &x)| (x - med).abs() > OUTLIER_ROBUST_SD * sd)
        .map(|(i, &x)| (i, x))
        .collect();
    (!out.is_empty()).then_some((out, med, sd))
}

/// Extreme outliers of a forecasting series (every row, every feature
/// column and the target), with the row, its time label and the column.
pub fn forecast_outliers(d: &ForecastData) -> Vec<Outlier> {
    let mut cols: Vec<(String, Vec<f64>)> = d
        .feature_names
        .iter()
        .enumerate()
        .map(|(j, name)| (name.clone(), d.features_raw.column(j).to_vec()))
        .collect();
    if !d.feature_names.contains(&d.target_name) {
        cols.push((d.target_name.clone(), d.target_raw.to_vec()));
    }
    let mut found = Vec::new();
    for (name, values) in cols {
        if let Some((hits, median, robust_sd)) = column_outliers(&values) {
            for (r, value) in hits {
                found.push(Outlier {
                    place: format!(
                        "data row {} (time `{}`), column `{name}`",
                        r + 1,
                        &d.times[r]
                    ),
                    value,
                    median,
                    robust_sd,
                });
            }
        }
    }
    found
}

/// Extreme outliers of a classification set, per channel over every step
/// of every training, validation and test series (checked after the
/// scaler, which does not change how far a value lies in robust
/// deviations).
pub fn class_outliers(d: &ClassDataset) -> Vec<Outlier> {
    let parts = [
        ("training", &d.train),
        ("training", &d.val),
        ("test", &d.test),
    ];
    let mut found = Vec::new();
    for (j, channel) in d.channels.iter().enumerate() {
        let mut values = Vec::new();
        let mut where_ = Vec::new();
        for (part, data) in parts {
            for i in 0..data.len() {
                let s = data.x.slice(s![i, ..data.lengths[i], j]);
                for (t, &v) in s.iter().enumerate() {
                    values.push(f64::from(v));
                    where_.push((part, i, t));
                }
            }
        }
        if let Some((hits, median, robust_sd)) = column_outliers(&values) {
            for (k, value) in hits {
                let (part, i, t) = where_[k];
                let data = if part == "test" { &d.test } else { &d.train };
                let id = data.ids.get(i).map_or("?", String::as_str);
                found.push(Outlier {
                    place: format!(
                        "{part} series `{id}`, step {t}, channel `{channel}` (after scaling)"
                    ),
                    value,
                    median,
                    robust_sd,
                });
            }
        }
    }
    found
}

/// The warning for `found` (`None` when empty): the worst value named,
/// and how many there are.
pub fn outlier_warning(file: &str, found: &[Outlier]) -> Option<String> {
    let worst = found.iter().max_by(|a, b| {
        ((a.value - a.median).abs() / a.robust_sd)
            .total_cmp(&((b.value - b.median).abs() / b.robust_sd))
    })?;
    Some(format!(
        "warning: {file}: {} value(s) lie more than {OUTLIER_ROBUST_SD} robust standard deviations from the median \
         of their column; the farthest: {}: {:e} (median {:.6}, robust sd {:.6}, {:.3e} robust sd away). \
         Such a value dominates the scaler and the loss: check the data (an empty cell with --missing \
         interpolate replaces a bad value)",
        found.len(),
        worst.place,
        worst.value,
        worst.median,
        worst.robust_sd,
        (worst.value - worst.median).abs() / worst.robust_sd
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_extreme_value_is_found_and_ordinary_ones_are_not() {
        let mut v: Vec<f64> = (0..100)
            .map(|t| 100.0 + (t as f64 * 0.7).sin() * 20.0)
            .collect();
        assert!(column_outliers(&v).is_none());
        v[57] = 1e30;
        let (hits, med, sd) = column_outliers(&v).expect("found");
        assert_eq!(hits, vec![(57, 1e30)]);
        assert!(
            (med - 100.0).abs() < 10.0 && sd > 1.0 && sd < 40.0,
            "{med} {sd}"
        );
        // A constant column has no scale: nothing is reported.
        assert!(column_outliers(&[3.0; 10]).is_none());
        // More than half equal (MAD 0): the other values' deviations scale.
        let mut spiky = vec![0.0; 60];
        spiky.extend((1..=40).map(f64::from));
        assert!(column_outliers(&spiky).is_none());
        spiky.push(1e9);
        assert_eq!(column_outliers(&spiky).expect("found").0.len(), 1);
    }
}
