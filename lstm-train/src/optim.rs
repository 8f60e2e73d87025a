//! Optimiser: Adam exactly like `torch.optim.Adam` (no weight decay, no
//! AMSGrad) and global-norm gradient clipping like
//! `torch.nn.utils.clip_grad_norm_`.

use ndarray::Zip;
use serde::{Deserialize, Serialize};

use crate::net::{Grads, NetError, Params, Scalar};

/// Adam hyper-parameters (PyTorch defaults via [`AdamConfig::default`]:
/// `lr = 1e-3`, `beta1 = 0.9`, `beta2 = 0.999`, `eps = 1e-8`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamConfig {
    /// Learning rate.
    pub lr: f64,
    /// Decay of the first moment.
    pub beta1: f64,
    /// Decay of the second moment.
    pub beta2: f64,
    /// Added to `sqrt(v_hat)` after bias correction.
    pub eps: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

/// Adam optimiser state: hyper-parameters, step count and the two moment
/// estimates (same shapes as the parameters). Serialisable for
/// checkpoints.
///
/// Update (PyTorch's, per element, `k` = step count after increment):
/// `m = m + (1 - β1) (g - m)`, `v = β2 v + (1 - β2) g²`,
/// `p -= lr / (1 - β1^k) · m / (sqrt(v) / sqrt(1 - β2^k) + eps)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound = "F: Scalar")]
pub struct Adam<F> {
    config: AdamConfig,
    step: u64,
    m: Params<F>,
    v: Params<F>,
}

impl<F: Scalar> Adam<F> {
    /// Adam with PyTorch's default betas and eps and learning rate `lr`,
    /// for parameters shaped like `params`.
    pub fn new(params: &Params<F>, lr: f64) -> Self {
        Self::with_config(
            params,
            AdamConfig {
                lr,
                ..AdamConfig::default()
            },
        )
    }

    /// Adam with explicit hyper-parameters.
    pub fn with_config(params: &Params<F>, config: AdamConfig) -> Self {
        Adam {
            config,
            step: 0,
            m: params.zeros_like(),
            v: params.zeros_like(),
        }
    }

    /// Current learning rate.
    pub fn lr(&self) -> f64 {
        self.config.lr
    }

    /// Changes the learning rate (e.g. reduce-on-plateau); moments are kept.
    pub fn set_lr(&mut self, lr: f64) {
        self.config.lr = lr;
    }

    /// Hyper-parameters.
    pub fn config(&self) -> &AdamConfig {
        &self.config
    }

    /// Number of steps taken so far.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// First-moment estimates.
    pub fn first_moment(&self) -> &Params<F> {
        &self.m
    }

    /// Second-moment estimates.
    pub fn second_moment(&self) -> &Params<F> {
        &self.v
    }

    /// One update of `params` with `grads` (both shaped like the parameters
    /// this optimiser was created for).
    pub fn step(&mut self, params: &mut Params<F>, grads: &Grads<F>) -> Result<(), NetError> {
        params.check_same_shape(&self.m)?;
        grads.check_same_shape(&self.m)?;
        self.step += 1;
        let c = self.config;
        let k = self.step as i32;
        let bc1 = 1.0 - c.beta1.powi(k);
        let bc2_sqrt = F::of((1.0 - c.beta2.powi(k)).sqrt());
        let neg_step = F::of(-(c.lr / bc1));
        let w1 = F::of(1.0 - c.beta1);
        let b2 = F::of(c.beta2);
        let w2 = F::of(1.0 - c.beta2);
        let eps = F::of(c.eps);
        let tensors = params
            .tensors_mut()
            .into_iter()
            .zip(grads.tensors())
            .zip(self.m.tensors_mut())
            .zip(self.v.tensors_mut());
        for ((((_, mut p), (_, g)), (_, mut m)), (_, mut v)) in tensors {
            Zip::from(&mut p)
                .and(&g)
                .and(&mut m)
                .and(&mut v)
                .for_each(|p, &g, m, v| {
                    *m = *m + w1 * (g - *m);
                    *v = *v * b2 + w2 * g * g;
                    let denom = v.sqrt() / bc2_sqrt + eps;
                    *p = *p + neg_step * (*m / denom);
                });
        }
        Ok(())
    }
}

/// Global L2 norm of all gradients.
pub fn grad_norm<F: Scalar>(grads: &Grads<F>) -> F {
    grads.sum_squares().sqrt()
}

/// Clips the gradients in place to a global L2 norm of at most `max_norm`
/// like `torch.nn.utils.clip_grad_norm_`: with `n` the total norm, all
/// gradients are multiplied by `max_norm / (n + 1e-6)` when that factor is
/// below 1. Returns the norm before clipping.
pub fn clip_grad_norm<F: Scalar>(grads: &mut Grads<F>, max_norm: F) -> F {
    let norm = grad_norm(grads);
    let coef = max_norm / (norm + F::of(1e-6));
    if coef < F::one() {
        grads.scale(coef);
    }
    norm
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::NetConfig;
    use rand::SeedableRng;

    fn params() -> Params<f64> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        Params::init(&NetConfig::new(2, 3, 2, 1), &mut rng).expect("init")
    }

    #[test]
    fn clip_scales_to_max_norm_and_returns_pre_clip_norm() {
        let mut g = params();
        let n0 = grad_norm(&g);
        let n = clip_grad_norm(&mut g, 0.5);
        assert_eq!(n, n0);
        assert!((grad_norm(&g) - 0.5).abs() < 1e-6);
        let before = g.clone();
        let n2 = clip_grad_norm(&mut g, 10.0);
        assert!((n2 - 0.5).abs() < 1e-6);
        assert_eq!(g, before, "no scaling below the threshold");
    }

    #[test]
    fn adam_first_step_moves_by_lr_and_state_round_trips() {
        let mut p = params();
        let p0 = p.clone();
        let g = params();
        let mut adam = Adam::new(&p, 0.01);
        adam.step(&mut p, &g).expect("step");
        // first step: m_hat = g, v_hat = g^2, so |dp| = lr * |g| / (|g| + eps)
        for (a, b) in p.flatten().iter().zip(p0.flatten()) {
            assert!(((a - b).abs() - 0.01).abs() < 1e-7);
        }
        adam.set_lr(0.001);
        let json = serde_json::to_string(&adam).expect("serialise");
        let back: Adam<f64> = serde_json::from_str(&json).expect("deserialise");
        // serde_json without its `float_roundtrip` feature may be 1 ulp off
        let close = |a: &Params<f64>, b: &Params<f64>| {
            a.flatten()
                .iter()
                .zip(b.flatten())
                .all(|(x, y)| (x - y).abs() <= 1e-15 * x.abs().max(1e-300))
        };
        assert!(close(back.first_moment(), adam.first_moment()));
        assert!(close(back.second_moment(), adam.second_moment()));
        assert_eq!(back.steps(), 1);
        assert_eq!(back.lr(), 0.001);
        let pj = serde_json::to_string(&p).expect("serialise");
        let pb: Params<f64> = serde_json::from_str(&pj).expect("deserialise");
        assert!(close(&pb, &p));
        let wrong = Params::<f64>::zeros(&NetConfig::new(2, 4, 2, 1)).expect("zeros");
        assert!(adam.step(&mut p, &wrong).is_err());
    }
}
