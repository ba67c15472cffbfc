//! A PyTorch peer kept running while tsumugi times its own side, so the two sides' runs can
//! alternate. Started once with `--serve`, the peer builds its model, warms up, prints one JSON
//! line, then times one run per case name it reads on stdin and answers `{"seconds": s}`
//! (`tools/peers/serve.py`). On a host whose speed drifts by 2× within minutes (the machine
//! BENCHMARKS.md was measured on), timing all of tsumugi's runs and then all of the peer's
//! charged the drift to whichever side ran second; alternating charges it to both alike.

use super::{cannot_run, peer_command, Timing};
use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::thread::JoinHandle;
use std::time::Duration;

/// Idle time before every timed run, so neither side starts while the other's worker threads
/// are still spinning (OpenMP and rayon both spin a while before they sleep).
const PAUSE: Duration = Duration::from_millis(100);

pub struct ServedPeer {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    /// Collects the peer's stderr, to show when it fails.
    stderr: Option<JoinHandle<String>>,
    script: String,
}

impl ServedPeer {
    /// Starts `python script args… --serve` and waits for its first line, which must be JSON.
    pub fn start(python: &str, script: &Path, args: &[String]) -> Result<Self> {
        let mut child = peer_command(python, script)?
            .args(args)
            .arg("--serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| cannot_run(python))?;
        let (Some(stdin), Some(stdout), Some(mut err)) = (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            bail!("the PyTorch peer's pipes could not be opened");
        };
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text);
            text
        });
        let mut peer = Self {
            child,
            stdin: Some(stdin),
            stdout: BufReader::new(stdout),
            stderr: Some(stderr),
            script: script.display().to_string(),
        };
        peer.answer()?;
        Ok(peer)
    }

    /// Runs `case` once in the peer and returns its seconds.
    pub fn time(&mut self, case: &str) -> Result<f64> {
        let stdin = self.stdin.as_mut().context("the PyTorch peer's stdin is closed")?;
        if writeln!(stdin, "{case}").and_then(|_| stdin.flush()).is_err() {
            return Err(self.failure("stopped reading its input"));
        }
        let answer = self.answer()?;
        match answer["seconds"].as_f64() {
            Some(s) if s.is_finite() && s >= 0.0 => Ok(s),
            _ => bail!(
                "the PyTorch peer {} answered {answer} to {case:?}, not {{\"seconds\": …}}",
                self.script
            ),
        }
    }

    /// The peer's next line as JSON.
    fn answer(&mut self) -> Result<serde_json::Value> {
        let mut line = String::new();
        match self.stdout.read_line(&mut line) {
            Ok(0) | Err(_) => Err(self.failure("exited")),
            Ok(_) => serde_json::from_str(&line)
                .with_context(|| format!("the PyTorch peer {} printed {:?}, not JSON", self.script, line.trim())),
        }
    }

    /// An error carrying the peer's stderr once it has ended.
    fn failure(&mut self, what: &str) -> anyhow::Error {
        self.stdin = None;
        let _ = self.child.kill();
        let status = self.child.wait().map(|s| s.to_string()).unwrap_or_default();
        let stderr = self.stderr.take().and_then(|h| h.join().ok()).unwrap_or_default();
        anyhow::anyhow!(
            "the PyTorch peer {} {what} ({status}):\n{}",
            self.script,
            stderr.trim_end()
        )
    }
}

impl Drop for ServedPeer {
    /// Closing stdin ends the peer's loop; it is killed if it has not ended by then.
    fn drop(&mut self) {
        self.stdin = None;
        for _ in 0..50 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Seconds of `repeats` runs on each side, alternating: tsumugi's (`ours`, which returns its
/// seconds), then the peer's run of `case`, each after [`PAUSE`]. Warm-ups are the caller's.
pub fn alternate(
    repeats: usize,
    peer: &mut ServedPeer,
    case: &str,
    mut ours: impl FnMut() -> Result<f64>,
) -> Result<Paired> {
    let mut paired = Paired::default();
    for _ in 0..repeats {
        std::thread::sleep(PAUSE);
        paired.ours.push(ours()?);
        std::thread::sleep(PAUSE);
        paired.peer.push(peer.time(case)?);
    }
    Ok(paired)
}

/// Seconds of alternating runs, tsumugi's and the peer's, in the order they ran.
#[derive(Debug, Default)]
pub struct Paired {
    pub ours: Vec<f64>,
    pub peer: Vec<f64>,
}

impl Paired {
    /// tsumugi / peer of each pair of neighbouring runs: min / median / max.
    pub fn ratios(&self) -> Timing {
        Timing::of(self.ours.iter().zip(&self.peer).map(|(a, b)| a / b).collect())
    }

    /// "tsumugi / {peer} = median (min–max of n pairs)".
    pub fn ratio_line(&self, peer: &str) -> String {
        let r = self.ratios();
        format!(
            "tsumugi / {peer} = {:.2} (median of {} alternating pairs; {:.2}–{:.2})",
            r.median,
            self.ours.len(),
            r.min,
            r.max
        )
    }
}
