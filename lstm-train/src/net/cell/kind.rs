//! Which recurrent cell a network's layers use.

use serde::{Deserialize, Serialize};

/// The recurrent cell of a network's layers. Serialized as `"lstm"` /
/// `"gru"`; a configuration without it (every file written before the GRU)
/// is an LSTM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CellKind {
    /// PyTorch's `nn.LSTM`: gates i, f, g, o; state `h` and `c`.
    #[default]
    Lstm,
    /// PyTorch's `nn.GRU`: gates r, z, n; state `h` only.
    Gru,
}

impl CellKind {
    /// Every cell.
    pub const ALL: [CellKind; 2] = [CellKind::Lstm, CellKind::Gru];

    /// Lower-case name, as on the command line and in files (`lstm`, `gru`).
    pub const fn name(self) -> &'static str {
        match self {
            CellKind::Lstm => "lstm",
            CellKind::Gru => "gru",
        }
    }

    /// Number of gate blocks of the weights (`weight_ih` is `[G·H][IN]`):
    /// 4 for the LSTM, 3 for the GRU.
    pub const fn gates(self) -> usize {
        match self {
            CellKind::Lstm => 4,
            CellKind::Gru => 3,
        }
    }

    /// The gates' names in storage order.
    pub const fn gate_names(self) -> &'static [&'static str] {
        match self {
            CellKind::Lstm => &["i", "f", "g", "o"],
            CellKind::Gru => &["r", "z", "n"],
        }
    }

    /// Whether the cell has a cell state `c` besides `h` (the LSTM).
    pub const fn has_cell_state(self) -> bool {
        matches!(self, CellKind::Lstm)
    }

    /// The cell whose weights have `gates` gate blocks.
    pub fn from_gates(gates: usize) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.gates() == gates)
    }
}

impl std::fmt::Display for CellKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for CellKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("unknown cell `{s}` (expected lstm or gru)"))
    }
}
