//! Per-epoch progress display: an `indicatif` bar on a terminal, one plain
//! line per epoch on a non-terminal stderr, nothing when quiet.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::history::EpochRecord;

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Bar,
    Lines,
    Quiet,
}

/// Progress reporter for one run.
#[derive(Debug)]
pub struct Progress {
    kind: Kind,
    epochs: usize,
    metric: String,
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A reporter for `epochs` epochs; `metric` names the validation metric.
    /// `quiet` silences it; when stderr is not a terminal, one line per
    /// epoch is printed instead of a bar.
    pub fn new(quiet: bool, epochs: usize, metric: &str) -> Self {
        let kind = if quiet {
            Kind::Quiet
        } else if std::io::stderr().is_terminal() {
            Kind::Bar
        } else {
            Kind::Lines
        };
        Progress {
            kind,
            epochs,
            metric: metric.to_string(),
            bar: None,
        }
    }

    /// Starts epoch `epoch` (1-based) of `batches` mini-batches.
    pub fn start_epoch(&mut self, epoch: usize, batches: usize) {
        if self.kind != Kind::Bar {
            return;
        }
        let bar = ProgressBar::with_draw_target(Some(batches as u64), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{prefix:>13} [{bar:30.cyan/blue}] {pos:>4}/{len:4} {elapsed_precise} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(format!("epoch {epoch}/{}", self.epochs));
        self.bar = Some(bar);
    }

    /// One mini-batch done; `loss` is the running mean training loss.
    pub fn batch(&mut self, loss: f64) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
            bar.set_message(format!("loss {loss:.5}"));
        }
    }

    /// Ends the epoch with its record (and the learning rate for the next one).
    pub fn end_epoch(&mut self, rec: &EpochRecord) {
        let val = match (rec.val_loss, rec.val_metric) {
            (Some(l), Some(m)) => format!(" val_loss {l:.5} {} {m:.4}", self.metric),
            _ => String::new(),
        };
        let msg = format!("loss {:.5}{val} lr {:.2e}", rec.loss, rec.lr);
        match self.kind {
            Kind::Bar => {
                if let Some(bar) = self.bar.take() {
                    bar.finish_with_message(msg);
                }
            }
            Kind::Lines => eprintln!(
                "epoch {}/{} {msg} ({:.2} s)",
                rec.epoch, self.epochs, rec.seconds
            ),
            Kind::Quiet => {}
        }
    }

    /// Prints a note (not in quiet mode).
    pub fn note(&mut self, text: &str) {
        match self.kind {
            Kind::Quiet => {}
            Kind::Bar => {
                if let Some(bar) = &self.bar {
                    bar.println(text);
                } else {
                    eprintln!("{text}");
                }
            }
            Kind::Lines => eprintln!("{text}"),
        }
    }

    /// Removes an unfinished bar (e.g. on error).
    pub fn abandon(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.abandon();
        }
    }
}
