//! The test metric of an export, before and after: RMSE/MAE or accuracy,
//! and the 16-bit bar between them.

use crate::data::Metrics;

/// A test metric: RMSE/MAE in original units, or accuracy.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Metric {
    /// Forecasting.
    Regression(Metrics),
    /// Classification.
    Classification {
        /// Fraction correct.
        accuracy: f64,
        /// Number correct.
        correct: usize,
        /// Number of test series.
        n: usize,
    },
}

impl Metric {
    /// Accuracy from predicted and true class ids.
    pub fn accuracy(pred: &[usize], truth: &[usize]) -> Self {
        let correct = pred.iter().zip(truth).filter(|(a, b)| a == b).count();
        Metric::Classification {
            accuracy: correct as f64 / truth.len().max(1) as f64,
            correct,
            n: truth.len(),
        }
    }

    /// Whether `after` is within the 16-bit bar of `self`: RMSE at most 1%
    /// higher, or accuracy at most 0.5 points lower.
    pub fn within_bar(&self, after: &Metric) -> bool {
        match (self, after) {
            (Metric::Regression(b), Metric::Regression(a)) => a.rmse <= b.rmse * 1.01 + 1e-12,
            (
                Metric::Classification { accuracy: b, .. },
                Metric::Classification { accuracy: a, .. },
            ) => *a >= *b - 0.005 - 1e-12,
            _ => false,
        }
    }

    /// The change from `self` to `after` in words (`+0.12% RMSE`, `-0.50 points`).
    pub fn change(&self, after: &Metric) -> String {
        match (self, after) {
            (Metric::Regression(b), Metric::Regression(a)) => {
                format!(
                    "{:+.3}% RMSE",
                    100.0 * (a.rmse - b.rmse) / b.rmse.max(1e-300)
                )
            }
            (
                Metric::Classification { accuracy: b, .. },
                Metric::Classification { accuracy: a, .. },
            ) => format!("{:+.2} accuracy points", 100.0 * (a - b)),
            _ => "not comparable".into(),
        }
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Metric::Regression(m) => {
                write!(f, "RMSE {:.4}, MAE {:.4} (n = {})", m.rmse, m.mae, m.n)
            }
            Metric::Classification {
                accuracy,
                correct,
                n,
            } => write!(f, "accuracy {:.4} ({correct}/{n})", accuracy),
        }
    }
}
