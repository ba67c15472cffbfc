//! Progress through one training epoch. On a terminal it is a bar. Elsewhere indicatif hides
//! its bar, so a run under `nohup` or in CI would say nothing until an epoch ends (about 8
//! minutes for `lm train --preset better-rnnlm`). There it prints a plain line to stderr at
//! each tenth of the epoch, at most one every [`INTERVAL_VAR`] seconds (default 30). Short
//! epochs then stay quiet, and long ones report about every tenth.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Environment variable: the fewest seconds between two plain progress lines (default 30; 0
/// prints one at every tenth).
pub const INTERVAL_VAR: &str = "TSUMUGI_PROGRESS_SECONDS";

const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);

pub struct EpochProgress {
    mode: Mode,
}

enum Mode {
    Bar(ProgressBar),
    Lines(Lines),
}

/// The plain-line state: where the next tenth is and when the last line was printed.
struct Lines {
    prefix: String,
    unit: &'static str,
    total: u64,
    next_mark: u64,
    began: Instant,
    last_line: Instant,
    interval: Duration,
}

impl EpochProgress {
    /// Epoch `epoch` of `epochs` (both counted from 1), `total` `unit`s long ("batches").
    pub fn new(epoch: usize, epochs: usize, total: u64, unit: &'static str) -> Self {
        let prefix = format!("{epoch}/{epochs}");
        let mode = if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(total);
            let template = format!("epoch {{prefix}} [{{bar:30}}] {{pos}}/{{len}} {unit}, eta {{eta}}, {{msg}}");
            bar.set_style(ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_bar()));
            bar.set_prefix(prefix);
            Mode::Bar(bar)
        } else {
            let now = Instant::now();
            Mode::Lines(Lines {
                prefix,
                unit,
                total,
                next_mark: tenth_after(0, total),
                began: now,
                last_line: now,
                interval: interval_from(std::env::var(INTERVAL_VAR).ok().as_deref()),
            })
        };
        Self { mode }
    }

    /// `position` units done; `message` (loss, rate) is built only when it is shown.
    pub fn update(&mut self, position: u64, message: impl FnOnce() -> String) {
        match &mut self.mode {
            Mode::Bar(bar) => {
                bar.set_message(message());
                bar.set_position(position);
            }
            Mode::Lines(lines) => {
                if let Some(line) = lines.line_at(position, Instant::now(), message) {
                    eprintln!("{line}");
                }
            }
        }
    }

    /// Clears the bar; the caller prints the epoch's summary next.
    pub fn finish(self) {
        if let Mode::Bar(bar) = self.mode {
            bar.finish_and_clear();
        }
    }
}

impl Lines {
    /// The line to print at `position` and time `now`, if a tenth was passed and the interval
    /// has elapsed (never at the end: the epoch's summary follows).
    fn line_at(&mut self, position: u64, now: Instant, message: impl FnOnce() -> String) -> Option<String> {
        if position < self.next_mark || position >= self.total {
            return None;
        }
        self.next_mark = tenth_after(position, self.total);
        if now.duration_since(self.last_line) < self.interval {
            return None;
        }
        self.last_line = now;
        let elapsed = now.duration_since(self.began);
        let left = elapsed.mul_f64((self.total - position) as f64 / position.max(1) as f64);
        Some(format!(
            "epoch {}: {position}/{} {} ({}%), eta {}, {}",
            self.prefix,
            self.total,
            self.unit,
            position * 100 / self.total,
            clock(left),
            message()
        ))
    }
}

/// The first tenth of `total` past `position` (at least `position + 1`).
fn tenth_after(position: u64, total: u64) -> u64 {
    let tenth = position * 10 / total.max(1);
    ((tenth + 1) * total).div_ceil(10).max(position + 1)
}

/// `1h 05m`, `2m 40s` or `9s`: indicatif's `HumanDuration` rounds to one unit ("3 minutes"
/// for 160 s), too coarse for an ETA read every few minutes.
fn clock(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, min, sec) => format!("{min}m {sec:02}s"),
        (h, min, _) => format!("{h}h {min:02}m"),
    }
}

/// The interval from [`INTERVAL_VAR`]'s value; unset or unreadable gives the default.
fn interval_from(value: Option<&str>) -> Duration {
    value
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map_or(DEFAULT_INTERVAL, Duration::from_secs_f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(total: u64, interval: Duration, began: Instant) -> Lines {
        Lines {
            prefix: "2/5".into(),
            unit: "batches",
            total,
            next_mark: tenth_after(0, total),
            began,
            last_line: began,
            interval,
        }
    }

    /// Updates at every position with no interval: one line per tenth, none at the end.
    #[test]
    fn a_line_at_each_tenth_but_the_last() {
        let began = Instant::now();
        let mut l = lines(1328, Duration::ZERO, began);
        let printed: Vec<u64> = (1..=1328)
            .filter(|&p| {
                l.line_at(p, began + Duration::from_secs(p), || "ppl 1".into())
                    .is_some()
            })
            .collect();
        assert_eq!(printed, [133, 266, 399, 532, 664, 797, 930, 1063, 1196]);
    }

    /// Sparse updates (every 20 batches) print at the first update past each tenth, and the
    /// line carries the position, percentage, ETA and message.
    #[test]
    fn sparse_updates_and_the_line() {
        let began = Instant::now();
        let mut l = lines(100, Duration::ZERO, began);
        let line = l.line_at(20, began + Duration::from_secs(40), || "ppl 9.5".into());
        assert_eq!(
            line.as_deref(),
            Some("epoch 2/5: 20/100 batches (20%), eta 2m 40s, ppl 9.5")
        );
        assert!(l.line_at(29, began + Duration::from_secs(50), String::new).is_none());
        assert!(l.line_at(40, began + Duration::from_secs(60), String::new).is_some());
    }

    /// Tenths passed within the interval are skipped, not saved up.
    #[test]
    fn the_interval_throttles() {
        let began = Instant::now();
        let mut l = lines(10, Duration::from_secs(30), began);
        let at = |l: &mut Lines, p: u64, s: u64| l.line_at(p, began + Duration::from_secs(s), String::new).is_some();
        assert!(!at(&mut l, 1, 10));
        assert!(!at(&mut l, 2, 20));
        assert!(at(&mut l, 3, 30));
        assert!(!at(&mut l, 4, 59));
        assert!(at(&mut l, 5, 60));
    }

    #[test]
    fn tiny_epochs_and_the_variable() {
        assert_eq!(clock(Duration::from_millis(9_900)), "9s");
        assert_eq!(clock(Duration::from_secs(160)), "2m 40s");
        assert_eq!(clock(Duration::from_secs(3600 + 5 * 60 + 59)), "1h 05m");
        assert_eq!(tenth_after(0, 3), 1);
        assert_eq!(tenth_after(1, 3), 2);
        assert_eq!(tenth_after(0, 0), 1);
        assert_eq!(interval_from(None), DEFAULT_INTERVAL);
        assert_eq!(interval_from(Some("0")), Duration::ZERO);
        assert_eq!(interval_from(Some(" 2.5 ")), Duration::from_millis(2500));
        assert_eq!(interval_from(Some("soon")), DEFAULT_INTERVAL);
        assert_eq!(interval_from(Some("-1")), DEFAULT_INTERVAL);
    }
}
