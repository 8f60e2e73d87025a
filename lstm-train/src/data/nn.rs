//! Nearest-neighbour baselines of a classification set: 1-NN with the
//! Euclidean distance and with dynamic time warping (DTW), the standard
//! references of the UCR/UEA archive, computed on the same prepared series
//! the model sees (after `--per-series-norm` and the scaler).
//!
//! The training set of the neighbours is the whole training file (fit and
//! validation series). Series of different lengths are compared with the
//! shorter one padded with zeros (Euclidean) or warped (DTW). DTW is
//! unconstrained (full warping window), dependent over channels (the cost
//! of a step is the squared Euclidean distance of the channel vectors), and
//! abandons a pair early once a row of its cost matrix exceeds the best
//! distance found so far (the result is the same).

use ndarray::{s, ArrayView2};

use super::classify::ClassData;

/// DTW is skipped when the full cost matrices of every test/training pair
/// would hold more cells than this (about a second in a release build).
pub const DTW_MAX_CELLS: f64 = 5e8;

/// The nearest-neighbour baselines of a test split.
#[derive(Clone, Debug, PartialEq)]
pub struct NnBaselines {
    /// Test accuracy of 1-NN Euclidean.
    pub euclidean: f64,
    /// Test accuracy of 1-NN DTW, `None` when skipped.
    pub dtw: Option<f64>,
    /// Why DTW was skipped.
    pub dtw_skipped: Option<String>,
}

fn series(d: &ClassData) -> Vec<ArrayView2<'_, f32>> {
    (0..d.len())
        .map(|i| d.x.slice(s![i, ..d.lengths[i], ..]))
        .collect()
}

/// Squared Euclidean distance, the shorter series padded with zeros.
fn euclidean2(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> f64 {
    let n = a.nrows().max(b.nrows());
    let f = a.ncols();
    let mut d = 0.0;
    for t in 0..n {
        for j in 0..f {
            let x = if t < a.nrows() { a[[t, j]] } else { 0.0 };
            let y = if t < b.nrows() { b[[t, j]] } else { 0.0 };
            d += f64::from(x - y).powi(2);
        }
    }
    d
}

/// DTW distance (sum of squared step costs along the best path), or
/// `None` once it is certain to exceed `best`.
fn dtw(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>, best: f64) -> Option<f64> {
    let (n, m) = (a.nrows(), b.nrows());
    if n == 0 || m == 0 {
        return Some(if n == m { 0.0 } else { f64::INFINITY });
    }
    let cost = |i: usize, j: usize| -> f64 {
        a.row(i)
            .iter()
            .zip(b.row(j))
            .map(|(x, y)| f64::from(x - y).powi(2))
            .sum()
    };
    let mut prev = vec![f64::INFINITY; m];
    let mut cur = vec![f64::INFINITY; m];
    for i in 0..n {
        let mut row_min = f64::INFINITY;
        for j in 0..m {
            let before = match (i, j) {
                (0, 0) => 0.0,
                (0, _) => cur[j - 1],
                (_, 0) => prev[j],
                _ => prev[j].min(prev[j - 1]).min(cur[j - 1]),
            };
            cur[j] = before + cost(i, j);
            row_min = row_min.min(cur[j]);
        }
        if row_min > best {
            return None;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    Some(prev[m - 1])
}

/// 1-NN accuracy on `test` with `train` as neighbours under `dist`
/// (which may abandon a candidate above the best so far).
fn one_nn(
    train: &[ArrayView2<'_, f32>],
    train_labels: &[usize],
    test: &[ArrayView2<'_, f32>],
    test_labels: &[usize],
    dist: impl Fn(ArrayView2<'_, f32>, ArrayView2<'_, f32>, f64) -> Option<f64>,
) -> f64 {
    if test.is_empty() {
        return 0.0;
    }
    let mut correct = 0;
    for (q, &truth) in test.iter().zip(test_labels) {
        let mut best = (f64::INFINITY, usize::MAX);
        for (c, &label) in train.iter().zip(train_labels) {
            if let Some(d) = dist(*q, *c, best.0) {
                if d < best.0 {
                    best = (d, label);
                }
            }
        }
        correct += usize::from(best.1 == truth);
    }
    correct as f64 / test.len() as f64
}

/// 1-NN Euclidean and (when the cost allows, [`DTW_MAX_CELLS`]) 1-NN DTW
/// test accuracies, with the fit and validation splits as neighbours.
pub fn nn_baselines(train: &ClassData, val: &ClassData, test: &ClassData) -> NnBaselines {
    let mut neighbours = series(train);
    neighbours.extend(series(val));
    let mut labels = train.labels.clone();
    labels.extend_from_slice(&val.labels);
    let queries = series(test);
    let euclidean = one_nn(&neighbours, &labels, &queries, &test.labels, |a, b, _| {
        Some(euclidean2(a, b))
    });
    let f = test.x.dim().2.max(1) as f64;
    let train_steps: f64 = neighbours.iter().map(|s| s.nrows() as f64).sum();
    let test_steps: f64 = queries.iter().map(|s| s.nrows() as f64).sum();
    let cells = train_steps * test_steps * f;
    let (dtw_acc, dtw_skipped) = if cells <= DTW_MAX_CELLS {
        (
            Some(one_nn(&neighbours, &labels, &queries, &test.labels, dtw)),
            None,
        )
    } else {
        (
            None,
            Some(format!(
                "1-NN DTW skipped: {} test x {} training series would take {cells:.2e} cost-matrix cells, \
                 above the cap of {DTW_MAX_CELLS:.0e}",
                queries.len(),
                neighbours.len()
            )),
        )
    };
    NnBaselines {
        euclidean,
        dtw: dtw_acc,
        dtw_skipped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn dtw_matches_a_hand_computed_alignment() {
        // a = 0 1 2, b = 0 0 1 2: b's repeated 0 aligns with a's 0 at no cost.
        let a = array![[0.0f32], [1.0], [2.0]];
        let b = array![[0.0f32], [0.0], [1.0], [2.0]];
        assert_eq!(dtw(a.view(), b.view(), f64::INFINITY), Some(0.0));
        // Euclidean pads a with a 0: (0-0)² + (1-0)² + (2-1)² + (0-2)² = 6.
        assert_eq!(euclidean2(a.view(), b.view()), 6.0);
        // A shifted peak: DTW 0 where Euclidean pays twice.
        let p = array![[0.0f32], [5.0], [0.0], [0.0]];
        let q = array![[0.0f32], [0.0], [5.0], [0.0]];
        assert_eq!(dtw(p.view(), q.view(), f64::INFINITY), Some(0.0));
        assert_eq!(euclidean2(p.view(), q.view()), 50.0);
        // Abandoned once above the best so far.
        assert_eq!(dtw(p.view(), b.view(), 1.0), None);
    }
}
