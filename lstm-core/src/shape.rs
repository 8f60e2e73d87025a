//! [`LayerShape`]: the shape of one layer as a model file records it (a
//! recurrent layer of some [`CellKind`], or the Dense head).

use crate::cell::CellKind;

/// The shape of one layer as a model file records it.
///
/// Variants are appended, never reordered: postcard encodes the variant
/// index (`Lstm` 0, `Dense` 1, `Gru` 2, which needs format version 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum LayerShape {
    /// An LSTM layer with `input` inputs and `hidden` units.
    Lstm {
        /// Inputs per step.
        input: u32,
        /// Units (the size of `h` and `c`).
        hidden: u32,
    },
    /// A Dense layer.
    Dense {
        /// Inputs.
        input: u32,
        /// Outputs.
        output: u32,
    },
    /// A GRU layer with `input` inputs and `hidden` units.
    Gru {
        /// Inputs per step.
        input: u32,
        /// Units (the size of `h`).
        hidden: u32,
    },
}

impl LayerShape {
    /// The shape of a recurrent layer of cell `kind`.
    pub const fn recurrent(kind: CellKind, input: u32, hidden: u32) -> Self {
        match kind {
            CellKind::Lstm => LayerShape::Lstm { input, hidden },
            CellKind::Gru => LayerShape::Gru { input, hidden },
        }
    }

    /// The cell kind of a recurrent layer; `None` for Dense.
    pub const fn cell(self) -> Option<CellKind> {
        match self {
            LayerShape::Lstm { .. } => Some(CellKind::Lstm),
            LayerShape::Gru { .. } => Some(CellKind::Gru),
            LayerShape::Dense { .. } => None,
        }
    }

    /// Width of the layer's input.
    pub const fn input(self) -> usize {
        match self {
            LayerShape::Lstm { input, .. }
            | LayerShape::Gru { input, .. }
            | LayerShape::Dense { input, .. } => input as usize,
        }
    }

    /// Width of the layer's output.
    pub const fn output(self) -> usize {
        match self {
            LayerShape::Lstm { hidden, .. } | LayerShape::Gru { hidden, .. } => hidden as usize,
            LayerShape::Dense { output, .. } => output as usize,
        }
    }

    /// Number of stored values (weights and biases), in file order:
    /// `G·H·(IN + H) + 4·H` for a recurrent layer of `G` gate blocks (LSTM
    /// `4·H·(IN + H + 1)`, GRU `3·H·(IN + H) + 4·H`), `OUT·(IN + 1)` for
    /// Dense. `None` if it overflows `usize`.
    pub fn parameter_count(self) -> Option<usize> {
        let (i, o) = (self.input(), self.output());
        match self.cell() {
            Some(kind) => kind
                .gates()
                .checked_mul(o)?
                .checked_mul(i.checked_add(o)?)?
                .checked_add(4usize.checked_mul(o)?),
            None => o.checked_mul(i.checked_add(1)?),
        }
    }
}

impl core::fmt::Display for LayerShape {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            LayerShape::Lstm { input, hidden } => write!(f, "LSTM({input} -> {hidden})"),
            LayerShape::Gru { input, hidden } => write!(f, "GRU({input} -> {hidden})"),
            LayerShape::Dense { input, output } => write!(f, "Dense({input} -> {output})"),
        }
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for LayerShape {
    fn format(&self, f: defmt::Formatter<'_>) {
        match self {
            LayerShape::Lstm { input, hidden } => {
                defmt::write!(f, "LSTM({=u32} -> {=u32})", input, hidden)
            }
            LayerShape::Gru { input, hidden } => {
                defmt::write!(f, "GRU({=u32} -> {=u32})", input, hidden)
            }
            LayerShape::Dense { input, output } => {
                defmt::write!(f, "Dense({=u32} -> {=u32})", input, output)
            }
        }
    }
}
