//! From raw sensor units to the model's inputs and back: the scaling and the
//! differencing a model file's [`Header`] records, applied exactly as in
//! training. The device, the host checks and the trainer's export all go
//! through these functions, so there is one definition of what a model file's
//! inputs and outputs mean.
//!
//! | step | [`Differencing::None`] | [`Differencing::First`] | [`Differencing::Seasonal`] (lag `L`) |
//! |---|---|---|---|
//! | input | `scale(x[t])` | `scale(x[t] − x[t−1])`; nothing for the first sample | `scale(x[t] − x[t−L])`; nothing for the first `L` samples |
//! | output | `unscale(y)` | `x[t][target] + unscale(y)` | `x[t+1−L][target] + unscale(y)` |
//!
//! A classifier whose input scaling is [`Scaling::SeriesStandard`]
//! (`fit --per-series-norm`, format version 5) was trained on series each
//! z-normalised over its own length, which needs the whole series: the
//! device buffers the series it classifies (the raw samples, sample-major),
//! calls [`RawIo::normalize_series`] (or [`Header::normalize_series`]) on
//! the buffer once, and then streams the buffer's samples through
//! [`RawIo::input`] as usual. For any other model that call does nothing, so
//! a whole-series classifier can always make it.
//!
//! ```
//! use lstm_core::file::{Differencing, Header, Scaling, Task, TrainingMode};
//! use lstm_core::{LayerShape, NumberFormat, RawIo};
//! let header = Header {
//!     format: NumberFormat::F32,
//!     layers: heapless::Vec::from_slice(&[
//!         LayerShape::Lstm { input: 1, hidden: 2 },
//!         LayerShape::Dense { input: 2, output: 1 },
//!     ]).unwrap(),
//!     input_scaling: Scaling::Standard {
//!         mean: heapless::Vec::from_slice(&[1.0]).unwrap(),
//!         std: heapless::Vec::from_slice(&[2.0]).unwrap(),
//!     },
//!     output_scaling: Scaling::Identity,
//!     mode: TrainingMode::Stateful,
//!     task: Task::Regression,
//!     differencing: Differencing::First { targets: heapless::Vec::from_slice(&[0]).unwrap() },
//!     pool: 1,
//! };
//! let mut io = RawIo::new(&header)?;
//! let mut x = [0.0f32];
//! assert_eq!(io.input(&[10.0], &mut x), Ok(false)); // primes the difference
//! assert_eq!(io.input(&[15.0], &mut x), Ok(true));
//! assert_eq!(x, [2.0]); // (15 - 10 - 1) / 2
//! let mut y = [0.0f32];
//! io.output(&[0.5f32], &mut y).unwrap();
//! assert_eq!(y, [15.5]); // last raw value + predicted difference
//! # Ok::<(), lstm_core::Error>(())
//! ```

use crate::error::Error;
#[cfg(doc)]
use crate::file::{Differencing, Scaling};
use crate::file::{Header, MAX_FEATURES};
use crate::num::Scalar;

fn check_len(expected: usize, found: usize) -> Result<(), Error> {
    if expected == found {
        Ok(())
    } else {
        Err(Error::LengthMismatch { expected, found })
    }
}

impl Header<'_> {
    /// Z-normalises a buffered raw series in place, per feature over its own
    /// length ([`crate::file::normalize_series`]), when the input scaling is
    /// [`Scaling::SeriesStandard`]; does nothing otherwise. `series` holds
    /// whole samples of [`Header::input_size`] values, sample-major. Call it
    /// once on the whole series, before its samples go to
    /// [`Header::model_input`] or [`RawIo::input`].
    ///
    /// Errors: [`Error::LengthMismatch`] if `series.len()` is not a multiple
    /// of the input size.
    pub fn normalize_series(&self, series: &mut [f32]) -> Result<(), Error> {
        if self.input_scaling.per_series() {
            crate::file::normalize_series(series, self.input_size())
        } else if series.len().is_multiple_of(self.input_size().max(1)) {
            Ok(())
        } else {
            Err(Error::LengthMismatch {
                expected: self.input_size(),
                found: series.len(),
            })
        }
    }

    /// The model input (in `f32`, model units) for the raw sample `raw`,
    /// given the raw sample [`Differencing::lag`] samples before it (`None`
    /// while the stream has not seen that many). Returns `Ok(false)`,
    /// leaving `out` untouched, when the model needs that sample and there
    /// is none.
    ///
    /// Errors: [`Error::LengthMismatch`] if `raw`, `prev` or `out` is not
    /// [`Header::input_size`] long.
    pub fn model_input(
        &self,
        prev: Option<&[f32]>,
        raw: &[f32],
        out: &mut [f32],
    ) -> Result<bool, Error> {
        let n = self.input_size();
        check_len(n, raw.len())?;
        check_len(n, out.len())?;
        match (self.differencing.lag(), prev) {
            (0, _) => {
                for (i, (o, &x)) in out.iter_mut().zip(raw).enumerate() {
                    *o = self.input_scaling.scale(i, x);
                }
            }
            (_, None) => return Ok(false),
            (_, Some(prev)) => {
                check_len(n, prev.len())?;
                for (i, ((o, &x), &p)) in out.iter_mut().zip(raw).zip(prev).enumerate() {
                    *o = self.input_scaling.scale(i, x - p);
                }
            }
        }
        Ok(true)
    }

    /// The model's output `y` (`f32`, model units) in raw units, given the
    /// raw sample the forecast difference is added to when differenced: the
    /// last raw sample the model has seen ([`Differencing::First`]), or the
    /// one `L − 1` samples before it ([`Differencing::Seasonal`], one season
    /// before the forecast time); ignored when not differenced.
    ///
    /// Errors: [`Error::LengthMismatch`] if `y` or `out` is not
    /// [`Header::output_size`] long or `base` not [`Header::input_size`].
    pub fn raw_output(&self, base: &[f32], y: &[f32], out: &mut [f32]) -> Result<(), Error> {
        check_len(self.output_size(), y.len())?;
        check_len(self.output_size(), out.len())?;
        for (k, (o, &v)) in out.iter_mut().zip(y).enumerate() {
            *o = self.output_scaling.unscale(k, v);
        }
        if let Some(targets) = self.differencing.targets() {
            check_len(self.input_size(), base.len())?;
            for (o, &t) in out.iter_mut().zip(targets) {
                *o += base.get(usize::from(t)).copied().unwrap_or(0.0);
            }
        }
        Ok(())
    }
}

/// Streams raw samples through a header's scaling and differencing: keeps
/// the raw samples a differenced model needs (the last [`Differencing::lag`]
/// ones, in a ring of `N` floats, on the stack or in a `static`), turns
/// each new sample into the model's input in its number format `T`, and the
/// model's output back into raw units.
///
/// `N` must hold `lag × inputs` floats: [`RawIo::new`] uses
/// [`MAX_FEATURES`] (first differences of up to 32 features);
/// [`RawIo::with_history`] takes any `N`, e.g. `12 × inputs` for a monthly
/// model differenced at lag 12.
///
/// A classifier trained with input pooling ([`Header::pool`] `K > 1`,
/// format version 6) takes the mean of every `K` raw samples as one model
/// step: [`RawIo::input`] adds each sample to a fixed-size running sum and
/// returns `Ok(true)` on every `K`-th one, with the mean scaled in `out`
/// (a trailing partial group never reaches the model). The running sum
/// takes the first `inputs` floats of the history buffer, which a pooling
/// model (never differenced) does not otherwise use, so `N` must hold
/// `inputs` floats then.
#[derive(Clone, Debug)]
pub struct RawIo<'h, 'a, const N: usize = MAX_FEATURES> {
    header: &'h Header<'a>,
    /// Slot `k` (`inputs` floats) holds a past raw sample; `oldest` is the
    /// slot of the earliest one once `seen == lag`.
    history: [f32; N],
    /// Samples seen while priming a differenced model; in a pooling model
    /// (never differenced), the samples of the current group, whose
    /// running sum is in `history[..inputs]`.
    seen: usize,
    oldest: usize,
}

impl<'h, 'a> RawIo<'h, 'a> {
    /// A stream that has seen no sample yet, keeping up to [`MAX_FEATURES`]
    /// past raw values.
    ///
    /// Errors: [`Error::BufferTooSmall`] if the header's differencing needs
    /// more (use [`RawIo::with_history`]).
    pub fn new(header: &'h Header<'a>) -> Result<Self, Error> {
        Self::with_history(header)
    }
}

impl<'h, 'a, const N: usize> RawIo<'h, 'a, N> {
    /// A stream that has seen no sample yet, keeping up to `N` past raw values.
    ///
    /// Errors: [`Error::BufferTooSmall`] (in bytes) if `N` is less than
    /// `lag × inputs`, or than `inputs` for a pooling model.
    pub fn with_history(header: &'h Header<'a>) -> Result<Self, Error> {
        let lag = if header.pool > crate::file::NO_POOL {
            1
        } else {
            header.differencing.lag()
        };
        let needed = lag.saturating_mul(header.input_size());
        if needed > N {
            return Err(Error::BufferTooSmall {
                needed: needed.saturating_mul(4),
                available: N * 4,
            });
        }
        Ok(RawIo {
            header,
            history: [0.0; N],
            seen: 0,
            oldest: 0,
        })
    }

    /// Z-normalises a buffered raw series in place when the model was
    /// trained so ([`Header::normalize_series`]); does nothing otherwise.
    /// Call it on the whole series, then [`RawIo::reset`] and stream its
    /// samples through [`RawIo::input`].
    ///
    /// ```
    /// use lstm_core::file::{Differencing, Header, Scaling, Task, TrainingMode};
    /// use lstm_core::{LayerShape, NumberFormat, RawIo};
    /// let header = Header {
    ///     format: NumberFormat::F32,
    ///     layers: heapless::Vec::from_slice(&[
    ///         LayerShape::Lstm { input: 1, hidden: 2 },
    ///         LayerShape::Dense { input: 2, output: 2 },
    ///     ]).unwrap(),
    ///     input_scaling: Scaling::SeriesStandard {
    ///         mean: heapless::Vec::from_slice(&[0.0]).unwrap(),
    ///         std: heapless::Vec::from_slice(&[2.0]).unwrap(),
    ///     },
    ///     output_scaling: Scaling::Identity,
    ///     mode: TrainingMode::Windowed { window: 4 },
    ///     task: Task::Classification { classes: heapless::Vec::from_slice(&["a", "b"]).unwrap() },
    ///     differencing: Differencing::None,
    ///     pool: 1,
    /// };
    /// let mut io = RawIo::new(&header)?;
    /// let mut series = [1.0f32, 3.0, 1.0, 3.0]; // mean 2, std 1
    /// io.normalize_series(&mut series)?;
    /// assert_eq!(series, [-1.0, 1.0, -1.0, 1.0]);
    /// let mut x = [0.0f32];
    /// assert_eq!(io.input(&series[1..2], &mut x), Ok(true));
    /// assert_eq!(x, [0.5]); // then the file's (x - mean) / std
    /// # Ok::<(), lstm_core::Error>(())
    /// ```
    ///
    /// Errors: [`Error::LengthMismatch`] if `series.len()` is not a multiple
    /// of the input size.
    pub fn normalize_series(&self, series: &mut [f32]) -> Result<(), Error> {
        self.header.normalize_series(series)
    }

    /// Forgets the past samples (start of a new stream), and a partial
    /// pooling group.
    pub fn reset(&mut self) {
        self.seen = 0;
        self.oldest = 0;
        if self.header.pool > crate::file::NO_POOL {
            self.history.iter_mut().for_each(|h| *h = 0.0);
        }
    }

    /// Where ring slot `k` (one raw sample) lies in `history`.
    fn slot_range(&self, k: usize) -> core::ops::Range<usize> {
        let n = self.header.input_size();
        k.saturating_mul(n)..k.saturating_add(1).saturating_mul(n)
    }

    /// Past raw sample in ring slot `k` (empty if out of range).
    fn slot(&self, k: usize) -> &[f32] {
        self.history.get(self.slot_range(k)).unwrap_or(&[])
    }

    /// Stores `raw` in ring slot `k`.
    fn store(&mut self, k: usize, raw: &[f32]) {
        let range = self.slot_range(k);
        if let Some(dst) = self.history.get_mut(range) {
            for (d, &r) in dst.iter_mut().zip(raw) {
                *d = r;
            }
        }
    }

    /// Takes the raw sample `raw` and writes the model's input for it into
    /// `out` (converted to `T`, rounding and saturating like
    /// [`Scalar::from_f32`]). `Ok(false)`: no model input yet (one of the
    /// first `lag` samples of a differenced model, or not the last sample
    /// of a pooling group: see [`Header::pool`]).
    ///
    /// Errors: [`Error::LengthMismatch`] on a wrong length.
    pub fn input<T: Scalar>(&mut self, raw: &[f32], out: &mut [T]) -> Result<bool, Error> {
        let n = self.header.input_size();
        check_len(n, out.len())?;
        check_len(n, raw.len())?;
        if self.header.pool > crate::file::NO_POOL {
            return self.pooled_input(raw, out);
        }
        let mut scaled = [0.0f32; MAX_FEATURES];
        let scaled = scaled.get_mut(..n).ok_or(Error::LengthMismatch {
            expected: MAX_FEATURES,
            found: n,
        })?;
        let lag = self.header.differencing.lag();
        let ready = if lag == 0 {
            self.header.model_input(None, raw, scaled)?
        } else if self.seen < lag {
            // Priming: slot `seen` holds sample `seen`; the oldest is slot 0.
            self.store(self.seen, raw);
            self.seen += 1;
            false
        } else {
            // The oldest slot holds x[t − L]; x[t] replaces it.
            let ready = self
                .header
                .model_input(Some(self.slot(self.oldest)), raw, scaled)?;
            self.store(self.oldest, raw);
            self.oldest = (self.oldest + 1) % lag;
            ready
        };
        if ready {
            for (o, &v) in out.iter_mut().zip(scaled.iter()) {
                *o = T::from_f32(v);
            }
        }
        Ok(ready)
    }

    /// [`RawIo::input`] of a pooling model (`Header::pool > 1`, never
    /// differenced): the running sum of the group in `history[..inputs]`,
    /// summed in sample order in `f32`; on the group's last sample the
    /// mean (divided in place) is scaled into `out`. Kept out of line so
    /// that models without pooling stream as they did before it existed.
    #[inline(never)]
    fn pooled_input<T: Scalar>(&mut self, raw: &[f32], out: &mut [T]) -> Result<bool, Error> {
        let n = self.header.input_size();
        let pool = self.header.pool;
        let sums = self.history.get_mut(..n).ok_or(Error::BufferTooSmall {
            needed: n.saturating_mul(4),
            available: N * 4,
        })?;
        for (s, &x) in sums.iter_mut().zip(raw) {
            *s += x;
        }
        self.seen += 1;
        if self.seen < usize::from(pool) {
            return Ok(false);
        }
        self.seen = 0;
        for s in sums.iter_mut() {
            *s /= f32::from(pool);
        }
        let mut scaled = [0.0f32; MAX_FEATURES];
        let scaled = scaled.get_mut(..n).ok_or(Error::LengthMismatch {
            expected: MAX_FEATURES,
            found: n,
        })?;
        let ready = self.header.model_input(None, sums, scaled)?;
        sums.iter_mut().for_each(|s| *s = 0.0);
        if ready {
            for (o, &v) in out.iter_mut().zip(scaled.iter()) {
                *o = T::from_f32(v);
            }
        }
        Ok(ready)
    }

    /// The model's output `y` in raw units (after the last [`RawIo::input`]).
    ///
    /// Errors: [`Error::LengthMismatch`] on a wrong length.
    pub fn output<T: Scalar>(&self, y: &[T], out: &mut [f32]) -> Result<(), Error> {
        let m = self.header.output_size();
        let mut yf = [0.0f32; MAX_FEATURES];
        let yf = yf.get_mut(..m).ok_or(Error::LengthMismatch {
            expected: MAX_FEATURES,
            found: m,
        })?;
        check_len(m, y.len())?;
        for (o, v) in yf.iter_mut().zip(y) {
            *o = v.to_f32();
        }
        // After `input`, the oldest slot holds x[t + 1 − L] (x[t] for L = 1).
        self.header.raw_output(self.slot(self.oldest), yf, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::{Differencing, Scaling, Task, TrainingMode};
    use crate::{LayerShape, NumberFormat, Q4_12};

    fn header(differencing: Differencing) -> Header<'static> {
        Header {
            format: NumberFormat::Q4_12,
            layers: heapless::Vec::from_slice(&[
                LayerShape::Lstm {
                    input: 2,
                    hidden: 3,
                },
                LayerShape::Dense {
                    input: 3,
                    output: 1,
                },
            ])
            .unwrap(),
            input_scaling: Scaling::MinMax {
                min: heapless::Vec::from_slice(&[0.0, -10.0]).unwrap(),
                max: heapless::Vec::from_slice(&[4.0, 10.0]).unwrap(),
            },
            output_scaling: Scaling::MinMax {
                min: heapless::Vec::from_slice(&[-2.0]).unwrap(),
                max: heapless::Vec::from_slice(&[2.0]).unwrap(),
            },
            mode: TrainingMode::Stateful,
            task: Task::Regression,
            differencing,
            pool: crate::file::NO_POOL,
        }
    }

    #[test]
    fn pooling_takes_the_mean_of_every_k_samples() {
        let mut h = header(Differencing::None);
        h.pool = 3;
        h.mode = TrainingMode::Windowed { window: 4 };
        h.task = Task::Classification {
            classes: heapless::Vec::from_slice(&["a"]).unwrap(),
        };
        h.output_scaling = Scaling::Identity;
        h.layers[1] = LayerShape::Dense {
            input: 3,
            output: 1,
        };
        h.validate().unwrap();
        let mut io = RawIo::new(&h).unwrap();
        let mut x = [0.0f32; 2];
        let raw = |t: usize| [t as f32, -(t as f32) * 2.0];
        let mut steps = 0;
        for t in 0..11 {
            let ready = io.input(&raw(t), &mut x).unwrap();
            assert_eq!(ready, t % 3 == 2, "t = {t}");
            if ready {
                // Mean of samples t-2, t-1, t: feature 0 is t-1, feature 1 -2(t-1).
                let m = (t - 1) as f32;
                assert_eq!(x, [m / 4.0, (-2.0 * m + 10.0) / 20.0], "t = {t}");
                steps += 1;
            }
        }
        // 11 samples: 3 groups, the last two samples a partial group.
        assert_eq!(steps, 3);
        io.reset();
        assert_eq!(io.input(&raw(0), &mut x), Ok(false));
        // The running sum takes `inputs` floats of the history buffer.
        assert!(RawIo::<'_, '_, 2>::with_history(&h).is_ok());
        assert_eq!(
            RawIo::<'_, '_, 1>::with_history(&h).err(),
            Some(Error::BufferTooSmall {
                needed: 8,
                available: 4
            })
        );
        // Pooling is refused where it has no meaning.
        let mut bad = header(Differencing::None);
        bad.pool = 2;
        assert!(matches!(bad.validate(), Err(Error::Malformed(_))));
        h.pool = 0;
        assert!(matches!(h.validate(), Err(Error::Malformed(_))));
    }

    #[test]
    fn plain_scaling_has_no_lag() {
        let h = header(Differencing::None);
        let mut io = RawIo::new(&h).unwrap();
        let mut x = [Q4_12::ZERO; 2];
        assert_eq!(io.input(&[1.0, 0.0], &mut x), Ok(true));
        assert_eq!(x.map(|v| v.to_f32()), [0.25, 0.5]);
        let mut y = [0.0];
        io.output(&[Q4_12::from_f32(0.75)], &mut y).unwrap();
        assert_eq!(y, [1.0]);
    }

    #[test]
    fn differencing_lags_one_sample_and_adds_the_target_back() {
        let targets = heapless::Vec::from_slice(&[1]).unwrap();
        let h = header(Differencing::First { targets });
        h.validate().unwrap();
        let mut io = RawIo::new(&h).unwrap();
        let mut x = [Q4_12::ZERO; 2];
        assert_eq!(io.input(&[1.0, 5.0], &mut x), Ok(false));
        assert_eq!(x, [Q4_12::ZERO; 2], "untouched before the first difference");
        assert_eq!(io.input(&[3.0, 7.0], &mut x), Ok(true));
        // (3 - 1 - 0) / 4 and (7 - 5 + 10) / 20
        assert_eq!(x.map(|v| v.to_f32()), [0.5, 0.600_097_66]);
        let mut y = [0.0];
        io.output(&[Q4_12::from_f32(0.75)], &mut y).unwrap();
        assert_eq!(y, [7.0 + 1.0], "last raw target 7 plus the unscaled 1.0");
        io.reset();
        assert_eq!(io.input(&[3.0, 7.0], &mut x), Ok(false));
    }

    #[test]
    fn seasonal_differencing_lags_a_season_and_adds_the_value_a_season_back() {
        let targets = heapless::Vec::from_slice(&[1]).unwrap();
        let h = header(Differencing::Seasonal { lag: 3, targets });
        h.validate().unwrap();
        let mut io = RawIo::new(&h).unwrap();
        // Feature 0 counts 0, 1, 2, …; feature 1 is 10·t².
        let raw = |t: usize| [t as f32, 10.0 * (t * t) as f32];
        let mut x = [0.0f32; 2];
        for t in 0..3 {
            assert_eq!(io.input(&raw(t), &mut x), Ok(false), "t = {t} primes");
        }
        for t in 3..12 {
            assert_eq!(io.input(&raw(t), &mut x), Ok(true));
            let (d0, d1) = (3.0, 10.0 * (t * t - (t - 3) * (t - 3)) as f32);
            assert_eq!(x, [d0 / 4.0, (d1 + 10.0) / 20.0], "t = {t}");
            let mut y = [0.0];
            io.output(&[0.75f32], &mut y).unwrap();
            // The forecast of t + 1 adds 1.0 to feature 1 at t + 1 − 3.
            assert_eq!(y, [raw(t - 2)[1] + 1.0], "t = {t}");
        }
        io.reset();
        assert_eq!(io.input(&raw(5), &mut x), Ok(false));
    }

    #[test]
    fn history_must_hold_a_season() {
        let targets = heapless::Vec::from_slice(&[0]).unwrap();
        let h = header(Differencing::Seasonal { lag: 12, targets });
        // 12 samples of 2 features need 24 floats.
        assert!(RawIo::<'_, '_, 24>::with_history(&h).is_ok());
        assert_eq!(
            RawIo::<'_, '_, 23>::with_history(&h).err(),
            Some(Error::BufferTooSmall {
                needed: 96,
                available: 92
            })
        );
        let zero = header(Differencing::Seasonal {
            lag: 0,
            targets: heapless::Vec::from_slice(&[0]).unwrap(),
        });
        assert_eq!(
            zero.validate(),
            Err(Error::Malformed("differencing lag is zero"))
        );
    }

    #[test]
    fn wrong_lengths_are_errors() {
        let h = header(Differencing::None);
        let mut io = RawIo::new(&h).unwrap();
        let mut x = [0.0f32; 2];
        assert_eq!(
            io.input(&[1.0], &mut x),
            Err(Error::LengthMismatch {
                expected: 2,
                found: 1
            })
        );
        let mut y = [0.0; 2];
        assert!(io.output(&[0.0f32], &mut y).is_err());
    }

    #[test]
    fn invalid_differencing_is_refused() {
        let bad_target = header(Differencing::First {
            targets: heapless::Vec::from_slice(&[2]).unwrap(),
        });
        assert!(matches!(bad_target.validate(), Err(Error::Malformed(_))));
        let wrong_count = header(Differencing::First {
            targets: heapless::Vec::new(),
        });
        assert!(matches!(wrong_count.validate(), Err(Error::Malformed(_))));
    }
}
