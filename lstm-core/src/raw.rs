//! From raw sensor units to the model's inputs and back: the scaling and the
//! differencing a model file's [`Header`] records, applied exactly as in
//! training. The device, the host checks and the trainer's export all go
//! through these functions, so there is one definition of what a model file's
//! inputs and outputs mean.
//!
//! | step | [`Differencing::None`] | [`Differencing::First`] |
//! |---|---|---|
//! | input | `scale(x[t])` | `scale(x[t] − x[t−1])`; nothing for the first sample |
//! | output | `unscale(y)` | `x[t][target] + unscale(y)` |
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
//! };
//! let mut io = RawIo::new(&header);
//! let mut x = [0.0f32];
//! assert_eq!(io.input(&[10.0], &mut x), Ok(false)); // primes the difference
//! assert_eq!(io.input(&[15.0], &mut x), Ok(true));
//! assert_eq!(x, [2.0]); // (15 - 10 - 1) / 2
//! let mut y = [0.0f32];
//! io.output(&[0.5f32], &mut y).unwrap();
//! assert_eq!(y, [15.5]); // last raw value + predicted difference
//! ```

use crate::error::Error;
use crate::file::{Differencing, Header, MAX_FEATURES};
use crate::num::Scalar;

fn check_len(expected: usize, found: usize) -> Result<(), Error> {
    if expected == found {
        Ok(())
    } else {
        Err(Error::LengthMismatch { expected, found })
    }
}

impl Header<'_> {
    /// The model input (in `f32`, model units) for the raw sample `raw`,
    /// given the raw sample before it (`None` at the start of a stream).
    /// Returns `Ok(false)`, leaving `out` untouched, when the model needs
    /// the previous sample and there is none.
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
        match (&self.differencing, prev) {
            (Differencing::None, _) => {
                for (i, (o, &x)) in out.iter_mut().zip(raw).enumerate() {
                    *o = self.input_scaling.scale(i, x);
                }
            }
            (Differencing::First { .. }, None) => return Ok(false),
            (Differencing::First { .. }, Some(prev)) => {
                check_len(n, prev.len())?;
                for (i, ((o, &x), &p)) in out.iter_mut().zip(raw).zip(prev).enumerate() {
                    *o = self.input_scaling.scale(i, x - p);
                }
            }
        }
        Ok(true)
    }

    /// The model's output `y` (`f32`, model units) in raw units, given the
    /// last raw sample the model has seen (needed when differenced).
    ///
    /// Errors: [`Error::LengthMismatch`] if `y` or `out` is not
    /// [`Header::output_size`] long or `last_raw` not [`Header::input_size`].
    pub fn raw_output(&self, last_raw: &[f32], y: &[f32], out: &mut [f32]) -> Result<(), Error> {
        check_len(self.output_size(), y.len())?;
        check_len(self.output_size(), out.len())?;
        for (k, (o, &v)) in out.iter_mut().zip(y).enumerate() {
            *o = self.output_scaling.unscale(k, v);
        }
        if let Differencing::First { targets } = &self.differencing {
            check_len(self.input_size(), last_raw.len())?;
            for (o, &t) in out.iter_mut().zip(targets) {
                *o += last_raw.get(usize::from(t)).copied().unwrap_or(0.0);
            }
        }
        Ok(())
    }
}

/// Streams raw samples through a header's scaling and differencing: keeps
/// the last raw sample, turns each new one into the model's input in its
/// number format `T`, and the model's output back into raw units.
#[derive(Clone, Debug)]
pub struct RawIo<'h, 'a> {
    header: &'h Header<'a>,
    last: [f32; MAX_FEATURES],
    primed: bool,
}

impl<'h, 'a> RawIo<'h, 'a> {
    /// A stream that has seen no sample yet.
    pub fn new(header: &'h Header<'a>) -> Self {
        RawIo {
            header,
            last: [0.0; MAX_FEATURES],
            primed: false,
        }
    }

    /// Forgets the last sample (start of a new stream).
    pub fn reset(&mut self) {
        self.primed = false;
    }

    /// Takes the raw sample `raw` and writes the model's input for it into
    /// `out` (converted to `T`, rounding and saturating like
    /// [`Scalar::from_f32`]). `Ok(false)`: no model input yet (the first
    /// sample of a differenced model).
    ///
    /// Errors: [`Error::LengthMismatch`] on a wrong length.
    pub fn input<T: Scalar>(&mut self, raw: &[f32], out: &mut [T]) -> Result<bool, Error> {
        let n = self.header.input_size();
        check_len(n, out.len())?;
        let mut scaled = [0.0f32; MAX_FEATURES];
        let scaled = scaled.get_mut(..n).ok_or(Error::LengthMismatch {
            expected: MAX_FEATURES,
            found: n,
        })?;
        let last = self.last.get(..n).unwrap_or(&[]);
        let prev = if self.primed { Some(last) } else { None };
        let ready = self.header.model_input(prev, raw, scaled)?;
        for (l, &r) in self.last.iter_mut().zip(raw) {
            *l = r;
        }
        self.primed = true;
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
        let last = self.last.get(..self.header.input_size()).unwrap_or(&[]);
        self.header.raw_output(last, yf, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::{Scaling, Task, TrainingMode};
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
        }
    }

    #[test]
    fn plain_scaling_has_no_lag() {
        let h = header(Differencing::None);
        let mut io = RawIo::new(&h);
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
        let mut io = RawIo::new(&h);
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
    fn wrong_lengths_are_errors() {
        let h = header(Differencing::None);
        let mut io = RawIo::new(&h);
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
