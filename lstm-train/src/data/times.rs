//! [`Times`]: the time labels of a series' rows, kept compactly (one text
//! buffer and an end offset per row, not one `String` per row), so that a
//! million rows cost about the labels' text plus 8 bytes each.

use std::ops::{Bound, Index, RangeBounds};

/// Time labels, one per row, in row order.
///
/// ```
/// use lstm_train::data::Times;
/// let times: Times = ["1949-01", "1949-02", "1949-03"].into_iter().collect();
/// assert_eq!(times.len(), 3);
/// assert_eq!(&times[1], "1949-02");
/// assert_eq!(times.slice(1..).iter().collect::<Vec<_>>(), ["1949-02", "1949-03"]);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Times {
    text: String,
    ends: Vec<usize>,
}

impl Times {
    /// No labels.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the label of the next row.
    pub fn push(&mut self, label: &str) {
        self.text.push_str(label);
        self.ends.push(self.text.len());
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The label of row `i`, if there is one.
    pub fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.text.get(start..end)
    }

    /// The labels in row order.
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.len()).filter_map(move |i| self.get(i))
    }

    /// A copy of the labels of the rows in `range` (clamped to the rows there are).
    pub fn slice(&self, range: impl RangeBounds<usize>) -> Times {
        let start = match range.start_bound() {
            Bound::Included(&s) => s,
            Bound::Excluded(&s) => s + 1,
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&e) => e + 1,
            Bound::Excluded(&e) => e,
            Bound::Unbounded => self.len(),
        }
        .min(self.len());
        (start..end).filter_map(|i| self.get(i)).collect()
    }
}

impl Index<usize> for Times {
    type Output = str;

    /// The label of row `i`.
    ///
    /// # Panics
    /// If `i` is out of bounds.
    fn index(&self, i: usize) -> &str {
        match self.get(i) {
            Some(label) => label,
            None => panic!("time label {i} of {} out of bounds", self.len()),
        }
    }
}

impl<'a> FromIterator<&'a str> for Times {
    fn from_iter<I: IntoIterator<Item = &'a str>>(iter: I) -> Self {
        let mut times = Times::new();
        for label in iter {
            times.push(label);
        }
        times
    }
}

impl FromIterator<String> for Times {
    fn from_iter<I: IntoIterator<Item = String>>(iter: I) -> Self {
        let mut times = Times::new();
        for label in iter {
            times.push(&label);
        }
        times.text.shrink_to_fit();
        times.ends.shrink_to_fit();
        times
    }
}
