//! Examples for the `luke` commands: one from `--text/--pair/--span/--entity/--choice`, or many
//! from a JSONL file (`{"text": …, "pair": …, "spans": [[s, e], …], "entities": […],
//! "choices": […]}` per line).

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use std::path::Path;

/// One input: a text (and optional second text), its character spans, optional entity names,
/// optional answer choices.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Example {
    pub text: String,
    #[serde(default)]
    pub pair: Option<String>,
    #[serde(default)]
    pub spans: Vec<(usize, usize)>,
    #[serde(default)]
    pub entities: Option<Vec<String>>,
    #[serde(default)]
    pub choices: Vec<String>,
}

/// `START:END` character offsets, as the LUKE articles write `(0, 3)`.
pub fn parse_span(s: &str) -> Result<(usize, usize), String> {
    let (a, b) = s
        .split_once(':')
        .ok_or_else(|| format!("span {s:?} is not START:END"))?;
    let start = a
        .trim()
        .parse()
        .map_err(|_| format!("span start {a:?} is not a number"))?;
    let end = b
        .trim()
        .parse()
        .map_err(|_| format!("span end {b:?} is not a number"))?;
    Ok((start, end))
}

/// Reads a JSONL file of examples; a bad line is an error naming file and line.
pub fn read_jsonl(path: &Path) -> Result<Vec<(usize, Example)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let ex: Example = serde_json::from_str(line)
            .map_err(|e| anyhow!("{}:{}: not an example object: {e}", path.display(), i + 1))?;
        out.push((i + 1, ex));
    }
    if out.is_empty() {
        bail!("{}: no examples", path.display());
    }
    Ok(out)
}
