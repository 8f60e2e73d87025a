//! Per-epoch progress display: an `indicatif` bar on a terminal, plain
//! lines on a non-terminal stderr, nothing when quiet.
//!
//! Without a terminal (output piped or redirected to a log), an epoch prints
//! a line each time another tenth of its mini-batches is done or
//! [`LINE_INTERVAL`] has passed since the last line, whichever comes first,
//! e.g. `epoch 1/5: 30 % (13500/45000 batches), loss 0.01230, 12 s`, then one
//! summary line when it ends.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::history::EpochRecord;

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Bar,
    Lines,
    Quiet,
}

/// Longest time between two progress lines of an epoch without a terminal.
pub const LINE_INTERVAL: Duration = Duration::from_secs(10);

/// Where the current epoch is, for the plain lines.
#[derive(Debug)]
struct EpochLines {
    epoch: usize,
    total: usize,
    done: usize,
    /// Batch count at which the next tenth is reached.
    next_mark: usize,
    started: Instant,
    last_line: Instant,
}

impl EpochLines {
    /// The first batch count past `done` that completes another tenth.
    fn mark_after(done: usize, total: usize) -> usize {
        let k = done * 10 / total.max(1) + 1;
        (k * total).div_ceil(10).max(done + 1)
    }
}

/// Progress reporter for one run.
#[derive(Debug)]
pub struct Progress {
    kind: Kind,
    epochs: usize,
    metric: String,
    bar: Option<ProgressBar>,
    lines: Option<EpochLines>,
}

impl Progress {
    /// A reporter for `epochs` epochs; `metric` names the validation metric.
    /// `quiet` silences it; when stderr is not a terminal, plain lines are
    /// printed instead of a bar (see the module docs).
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
            lines: None,
        }
    }

    /// Starts epoch `epoch` (1-based) of `batches` mini-batches.
    pub fn start_epoch(&mut self, epoch: usize, batches: usize) {
        if self.kind == Kind::Lines {
            let now = Instant::now();
            self.lines = Some(EpochLines {
                epoch,
                total: batches,
                done: 0,
                next_mark: EpochLines::mark_after(0, batches),
                started: now,
                last_line: now,
            });
        }
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
        if let Some(l) = &mut self.lines {
            l.done += 1;
            // The end of the epoch has its own line.
            if l.done >= l.total {
                return;
            }
            let now = Instant::now();
            if l.done < l.next_mark && now.duration_since(l.last_line) < LINE_INTERVAL {
                return;
            }
            let line = format!(
                "epoch {}/{}: {} % ({}/{} batches), loss {loss:.5}, {:.0} s",
                l.epoch,
                self.epochs,
                l.done * 100 / l.total.max(1),
                l.done,
                l.total,
                now.duration_since(l.started).as_secs_f64()
            );
            l.last_line = now;
            l.next_mark = EpochLines::mark_after(l.done, l.total);
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{line}");
            let _ = err.flush();
        }
    }

    /// Ends the epoch with its record (and the learning rate for the next one).
    pub fn end_epoch(&mut self, rec: &EpochRecord) {
        self.lines = None;
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
        self.lines = None;
        if let Some(bar) = self.bar.take() {
            bar.abandon();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::EpochLines;

    /// The marks are the batch counts completing each tenth, once each.
    #[test]
    fn tenths() {
        for total in [1usize, 3, 9, 10, 11, 45, 1000, 45_001] {
            let mut marks = Vec::new();
            let mut m = EpochLines::mark_after(0, total);
            while m < total {
                marks.push(m);
                m = EpochLines::mark_after(m, total);
            }
            assert!(marks.len() <= 9, "{total}: {marks:?}");
            for (k, &m) in marks.iter().enumerate() {
                assert!(
                    m * 10 >= (k + 1) * total || total < 10,
                    "{total}: {marks:?}"
                );
            }
            if total >= 10 {
                assert_eq!(marks.len(), 9, "{total}: {marks:?}");
            }
        }
    }
}
