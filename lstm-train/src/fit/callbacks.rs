//! Keras-style callbacks with serialisable state: early stopping and
//! reduce-learning-rate-on-plateau.

use serde::{Deserialize, Serialize};

use super::config::{EarlyStoppingConfig, ReduceLrConfig};

/// State of [`EarlyStoppingConfig`]: the best monitored value so far and
/// the number of epochs since it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EarlyStopping {
    /// The options.
    pub config: EarlyStoppingConfig,
    /// Best monitored value so far (`None` before the first epoch).
    pub best: Option<f64>,
    /// Epochs since the last improvement.
    pub wait: usize,
}

impl EarlyStopping {
    /// Fresh state.
    pub fn new(config: EarlyStoppingConfig) -> Self {
        EarlyStopping {
            config,
            best: None,
            wait: 0,
        }
    }

    /// Records an epoch's monitored value; returns `true` when training
    /// should stop (no improvement by more than `min_delta` for `patience`
    /// epochs).
    pub fn update(&mut self, value: f64) -> bool {
        match self.best {
            Some(b) if value >= b - self.config.min_delta => {
                self.wait += 1;
                self.wait >= self.config.patience.max(1)
            }
            _ => {
                self.best = Some(value);
                self.wait = 0;
                false
            }
        }
    }
}

/// State of [`ReduceLrConfig`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReduceLrOnPlateau {
    /// The options.
    pub config: ReduceLrConfig,
    /// Best monitored value so far.
    pub best: Option<f64>,
    /// Epochs since the last improvement or reduction.
    pub wait: usize,
}

impl ReduceLrOnPlateau {
    /// Fresh state.
    pub fn new(config: ReduceLrConfig) -> Self {
        ReduceLrOnPlateau {
            config,
            best: None,
            wait: 0,
        }
    }

    /// Records an epoch's monitored value and returns the learning rate to
    /// use from now on (`lr` itself, or `max(lr · factor, min_lr)` after
    /// `patience` epochs without improvement).
    pub fn update(&mut self, value: f64, lr: f64) -> f64 {
        match self.best {
            Some(b) if value >= b - self.config.min_delta => {
                self.wait += 1;
                if self.wait >= self.config.patience.max(1) {
                    self.wait = 0;
                    (lr * self.config.factor).max(self.config.min_lr).min(lr)
                } else {
                    lr
                }
            }
            _ => {
                self.best = Some(value);
                self.wait = 0;
                lr
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn early_stopping_counts_epochs_without_improvement() {
        let mut es = EarlyStopping::new(EarlyStoppingConfig {
            patience: 2,
            min_delta: 0.1,
            restore_best: true,
        });
        assert!(!es.update(1.0));
        assert!(!es.update(0.95)); // not better by 0.1
        assert!(!es.update(0.5)); // better: reset
        assert!(!es.update(0.6));
        assert!(es.update(0.45));
        assert_eq!(es.best, Some(0.5));
    }

    #[test]
    fn reduce_lr_after_patience_with_floor() {
        let mut r = ReduceLrOnPlateau::new(ReduceLrConfig {
            factor: 0.5,
            patience: 2,
            min_lr: 0.3,
            min_delta: 0.0,
        });
        assert_eq!(r.update(1.0, 1.0), 1.0);
        assert_eq!(r.update(1.0, 1.0), 1.0);
        assert_eq!(r.update(1.0, 1.0), 0.5);
        assert_eq!(r.update(2.0, 0.5), 0.5);
        assert_eq!(r.update(2.0, 0.5), 0.3);
        assert_eq!(r.update(0.1, 0.3), 0.3);
    }
}
