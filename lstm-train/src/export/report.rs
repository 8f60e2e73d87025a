//! The text `lstm-train export` prints about an export ([`ReportText`]).

use std::fmt;
use std::path::Path;

use lstm_core::file::TrainingMode;
use lstm_core::NumberFormat;

use super::ExportReport;

impl ExportReport {
    /// The file's CRC-32 (its last four bytes, little-endian; 0 for a file
    /// shorter than that).
    pub fn crc(&self) -> u32 {
        self.bytes
            .get(self.bytes.len().saturating_sub(4)..)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u32::from_le_bytes)
    }
}

/// The report of an export written to `out` from the trained model `model`,
/// as text: the file, the calibration, the quantization report, the test
/// metric before and after, and the core's state on the test data. Each
/// line ends with a newline.
#[derive(Clone, Copy, Debug)]
pub struct ReportText<'a> {
    /// What the export produced and measured.
    pub report: &'a ExportReport,
    /// The model file written.
    pub out: &'a Path,
    /// The trained model it was exported from.
    pub model: &'a Path,
}

/// The 16-bit accuracy bar's text.
const BAR: &str = "the 16-bit bar (≤ 1% RMSE / ≤ 0.5 accuracy points)";

impl fmt::Display for ReportText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.report;
        writeln!(
            f,
            "wrote {} ({}, {} bytes, CRC-32 {:#010x}) from {}",
            self.out.display(),
            r.plan.format,
            r.bytes.len(),
            r.crc(),
            self.model.display()
        )?;
        if let Some(c) = &r.calibration {
            writeln!(
                f,
                "calibration: trainer f32 forward over {} training sequences ({} steps)",
                c.sequences, c.steps
            )?;
        }
        write!(f, "quantization: {}", r.quant)?;
        let (Some(before), Some(after)) = (&r.before, &r.after) else {
            return writeln!(
                f,
                "test metrics: skipped (no data: --no-data, or import without --data)"
            );
        };
        let mode = match r.plan.mode {
            TrainingMode::Windowed { window } => {
                format!("windowed: each test window of {window} from the zero state")
            }
            TrainingMode::Stateful => {
                "stateful: the whole series with carried state, test steps scored".to_string()
            }
        };
        writeln!(f, "test metric before (trainer f32 forward):  {before}")?;
        writeln!(
            f,
            "test metric after  (lstm-core DynModel<{}, {} activations> on the exported bytes; {mode}): {after}",
            r.plan.format, r.activations
        )?;
        let fixed = r.plan.format != NumberFormat::F32;
        write!(f, "change: {}", before.change(after))?;
        match (fixed, before.within_bar(after)) {
            (false, _) => writeln!(f)?,
            (true, true) => writeln!(f, " — within {BAR}")?,
            (true, false) => writeln!(f, " — OUTSIDE {BAR}")?,
        }
        match &r.core_stats {
            Some(s) if fixed && r.quant.cell_state => writeln!(
                f,
                "core state on the test data: max |c| {:.4}, max |h| {:.4}, saturated c values {}, saturated outputs {}",
                s.max_abs_c, s.max_abs_h, s.saturated_c, s.saturated_outputs
            ),
            Some(s) if fixed => writeln!(
                f,
                "core state on the test data: max |h| {:.4}, saturated outputs {}",
                s.max_abs_h, s.saturated_outputs
            ),
            _ => Ok(()),
        }
    }
}
