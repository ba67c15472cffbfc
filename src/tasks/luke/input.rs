//! Examples for the `luke` commands: one from `--text/--pair/--span/--entity/--choice`, or many
//! from a JSONL file (`{"text": …, "pair": …, "spans": [[s, e], …], "entities": […],
//! "choices": […], "label": …}` per line). JGLUE's JCommonsenseQA rows (`question`,
//! `choice0`…`choice4`, `label`) are read as they are, so its files go straight to `luke choose`.

use crate::data::jcqa;
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
    /// The right answer, when known: a choice's index for `luke choose`, a label's name or
    /// index for the classify commands (which then report accuracy).
    #[serde(default)]
    pub label: Option<Label>,
}

/// A gold label as a JSONL line gives it: an index, or a label's name.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Label {
    Index(usize),
    Name(String),
}

impl Label {
    /// The index among `names`, or an error naming the valid ones.
    pub fn resolve(&self, names: &[String]) -> Result<usize> {
        let shown = || {
            let mut list: Vec<&str> = names.iter().take(12).map(String::as_str).collect();
            if names.len() > 12 {
                list.push("…");
            }
            list.join(", ")
        };
        match self {
            Label::Index(i) if *i < names.len() => Ok(*i),
            Label::Index(i) => bail!("label {i} but there are {} ({})", names.len(), shown()),
            Label::Name(name) => names
                .iter()
                .position(|n| n == name)
                .ok_or_else(|| anyhow!("label {name:?} is not one of {}", shown())),
        }
    }
}

/// A JCommonsenseQA row as an example for `luke choose`.
fn from_commonsense_qa(row: &serde_json::Map<String, serde_json::Value>) -> Result<Example> {
    let q = jcqa::parse_row(row)?;
    Ok(Example {
        text: q.question,
        choices: q.choices,
        label: q.label.map(Label::Index),
        ..Default::default()
    })
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
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = Vec::new();
    // blank lines are skipped; invalid UTF-8 is an error naming its line
    for item in crate::data::lines::text_lines(&bytes, path) {
        let (line_no, line) = item?;
        let place = || format!("{}:{line_no}", path.display());
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| anyhow!("{}: not an example object: {e}", place()))?;
        let ex = match value.as_object() {
            Some(row) if jcqa::is_row(row) => {
                from_commonsense_qa(row).with_context(|| format!("{}: JCommonsenseQA row", place()))?
            }
            _ => serde_json::from_value(value).map_err(|e| anyhow!("{}: not an example object: {e}", place()))?,
        };
        out.push((line_no, ex));
    }
    if out.is_empty() {
        bail!("{}: no examples", path.display());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_that_is_not_utf8_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("in.jsonl");
        std::fs::write(&p, b"{\"text\": \"ok\"}\n{\"text\": \"\xff\"}\n").unwrap();
        let e = read_jsonl(&p).unwrap_err().to_string();
        assert!(e.contains("in.jsonl:2") && e.contains("UTF-8"), "{e}");
    }
}
