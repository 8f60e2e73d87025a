//! Missing values: the explicit policy and the column fillers.
//!
//! A cell is missing when it is empty or holds the text `NA` (see
//! [`table`](super::table)); `NaN` and `inf` are errors, not missing values.
//! What happens to missing cells is always the caller's explicit choice of
//! [`MissingPolicy`]; the default refuses them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::{DataError, Result};

/// What to do with missing cells (empty or `NA`).
///
/// | policy | forecasting (rows in time order) | classification (series) |
/// | --- | --- | --- |
/// | `Error` | error naming file, line, column | same |
/// | `Drop` | drop every row with a missing cell in a *used* column (target or feature; other columns are ignored) | drop every series with a missing cell |
/// | `Ffill` | previous value in the same column; error if the first value is missing | previous value in the same series and channel; error if the first value of the series is missing |
/// | `Interpolate` | linear in the row index between the nearest values before and after, in the same column; at the edges the nearest value is repeated (back-fill at the start, forward-fill at the end); error if the column has no value | same, within one series and channel |
///
/// Note that `Drop` in forecasting removes rows from the series, so the time
/// steps around a dropped row are no longer equally spaced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MissingPolicy {
    /// Refuse missing cells: [`DataError::MissingValue`] (the default).
    #[default]
    Error,
    /// Drop the row (forecasting) or the whole series (classification).
    Drop,
    /// Forward fill: repeat the previous value of the same column / channel.
    Ffill,
    /// Linear interpolation between neighbours, nearest value at the edges.
    Interpolate,
}

impl fmt::Display for MissingPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Error => "error",
            Self::Drop => "drop",
            Self::Ffill => "ffill",
            Self::Interpolate => "interpolate",
        })
    }
}

impl FromStr for MissingPolicy {
    type Err = DataError;

    /// Parses `error`, `drop`, `ffill` or `interpolate` (case-insensitive).
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "error" => Ok(Self::Error),
            "drop" => Ok(Self::Drop),
            "ffill" => Ok(Self::Ffill),
            "interpolate" => Ok(Self::Interpolate),
            other => Err(DataError::InvalidConfig(format!(
                "unknown missing-value policy `{other}` (expected error, drop, ffill or interpolate)"
            ))),
        }
    }
}

/// Where a column of values comes from, for error messages.
#[derive(Clone, Copy, Debug)]
pub struct ColumnContext<'a> {
    /// File name.
    pub file: &'a str,
    /// Column (or channel) name.
    pub column: &'a str,
    /// 1-based line number of each value.
    pub lines: &'a [u64],
}

impl ColumnContext<'_> {
    fn line(&self, i: usize) -> u64 {
        self.lines.get(i).copied().unwrap_or(0)
    }
}

/// Fills the missing entries (`None`) of one column in order, by `policy`.
///
/// `Error` and `Drop` accept no missing entry (with `Drop` the caller removes
/// the rows or series beforehand): the first one gives
/// [`DataError::MissingValue`]. `Ffill` gives [`DataError::CannotFill`] if the
/// first entry is missing; `Interpolate` if every entry is missing.
pub fn fill_column(
    values: &[Option<f64>],
    policy: MissingPolicy,
    ctx: ColumnContext<'_>,
) -> Result<Vec<f64>> {
    let first_missing = values.iter().position(Option::is_none);
    let Some(first_missing) = first_missing else {
        return Ok(values.iter().map(|v| v.unwrap_or(f64::NAN)).collect());
    };
    match policy {
        MissingPolicy::Error | MissingPolicy::Drop => Err(DataError::MissingValue {
            file: ctx.file.to_string(),
            line: ctx.line(first_missing),
            column: ctx.column.to_string(),
        }),
        MissingPolicy::Ffill => {
            let mut out = Vec::with_capacity(values.len());
            let mut last: Option<f64> = None;
            for (i, v) in values.iter().enumerate() {
                match v.or(last) {
                    Some(x) => {
                        out.push(x);
                        last = Some(x);
                    }
                    None => {
                        return Err(DataError::CannotFill {
                            file: ctx.file.to_string(),
                            line: ctx.line(i),
                            column: ctx.column.to_string(),
                            reason:
                                "forward fill needs an earlier value, but this is the first one"
                                    .to_string(),
                        })
                    }
                }
            }
            Ok(out)
        }
        MissingPolicy::Interpolate => {
            let known: Vec<usize> = (0..values.len()).filter(|&i| values[i].is_some()).collect();
            let (Some(&first), Some(&last)) = (known.first(), known.last()) else {
                return Err(DataError::CannotFill {
                    file: ctx.file.to_string(),
                    line: ctx.line(0),
                    column: ctx.column.to_string(),
                    reason: "interpolation needs at least one value, but every value is missing"
                        .to_string(),
                });
            };
            let get = |i: usize| values[i].unwrap_or(f64::NAN);
            let mut out = vec![0.0; values.len()];
            for o in out.iter_mut().take(first + 1) {
                *o = get(first);
            }
            for pair in known.windows(2) {
                let (a, b) = (pair[0], pair[1]);
                let (ya, yb) = (get(a), get(b));
                for (k, o) in out.iter_mut().enumerate().take(b + 1).skip(a) {
                    let frac = (k - a) as f64 / (b - a) as f64;
                    *o = ya + (yb - ya) * frac;
                }
                out[b] = yb;
            }
            for o in out.iter_mut().skip(last) {
                *o = get(last);
            }
            Ok(out)
        }
    }
}
