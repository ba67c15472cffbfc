//! JGLUE's JCommonsenseQA rows: `{"q_id", "question", "choice0", …, "choice4", "label"}`, one
//! JSON object per line (the splits are JSON lines despite their `.json` names). Read here once
//! for `luke choose` and the `qa` commands.

use anyhow::{anyhow, bail, Context, Result};
use std::path::Path;

/// One question with its answer choices, and the index of the right one when known.
#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    pub question: String,
    pub choices: Vec<String>,
    pub label: Option<usize>,
}

/// Whether a JSON object is a JCommonsenseQA row (it has a `question`).
pub fn is_row(row: &serde_json::Map<String, serde_json::Value>) -> bool {
    row.contains_key("question")
}

/// One row: `question`, then `choice0`, `choice1`, … for as long as they go on, and `label`.
pub fn parse_row(row: &serde_json::Map<String, serde_json::Value>) -> Result<Question> {
    let text = |key: &str| -> Result<String> {
        row.get(key)
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .ok_or_else(|| anyhow!("{key:?} is missing or not a string"))
    };
    let mut choices = Vec::new();
    while row.contains_key(&format!("choice{}", choices.len())) {
        choices.push(text(&format!("choice{}", choices.len()))?);
    }
    let label = match row.get("label") {
        None => None,
        Some(v) => Some(v.as_u64().ok_or_else(|| anyhow!("\"label\" is not a choice index"))? as usize),
    };
    Ok(Question {
        question: text("question")?,
        choices,
        label,
    })
}

/// A labelled multiple-choice file for training and evaluation: every row has a non-empty
/// question, the same number (≥ 2) of non-empty choices as the first row, and a label among
/// them. Each error names the file and line.
pub fn read_labelled(path: &Path) -> Result<Vec<Question>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut out: Vec<Question> = Vec::new();
    for item in super::lines::text_lines(&bytes, path) {
        let (line_no, line) = item?;
        let place = || format!("{}:{line_no}", path.display());
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| anyhow!("{}: not a JSON object: {e}", place()))?;
        let row = value
            .as_object()
            .filter(|r| is_row(r))
            .ok_or_else(|| anyhow!("{}: not a JCommonsenseQA row (no \"question\")", place()))?;
        let q = parse_row(row).with_context(place)?;
        let want = out.first().map_or(q.choices.len(), |first| first.choices.len());
        if q.choices.len() < 2 {
            bail!(
                "{}: {} choice(s); a question needs choice0 and choice1 at least",
                place(),
                q.choices.len()
            );
        }
        if q.choices.len() != want {
            bail!("{}: {} choices, but the first row has {want}", place(), q.choices.len());
        }
        if q.question.trim().is_empty() {
            bail!("{}: the question is empty", place());
        }
        if let Some(k) = q.choices.iter().position(|c| c.trim().is_empty()) {
            bail!("{}: choice{k} is empty", place());
        }
        match q.label {
            None => bail!("{}: no \"label\"", place()),
            Some(l) if l >= want => bail!("{}: label {l} but only {want} choices", place()),
            Some(_) => {}
        }
        out.push(q);
    }
    if out.is_empty() {
        bail!("{}: no questions", path.display());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Vec<Question>> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("dev.json");
        std::fs::write(&p, text).unwrap();
        read_labelled(&p)
    }

    #[test]
    fn rows_read_with_their_choices_and_label() {
        let qs = read("{\"q_id\": 1, \"question\": \"q\", \"choice0\": \"a\", \"choice1\": \"b\", \"label\": 1}\n\n")
            .unwrap();
        assert_eq!(qs[0].choices, ["a", "b"]);
        assert_eq!(qs[0].label, Some(1));
    }

    #[test]
    fn bad_rows_are_named_by_line() {
        let ok = "{\"question\": \"q\", \"choice0\": \"a\", \"choice1\": \"b\", \"label\": 0}\n";
        for (second, want) in [
            (
                "{\"question\": \"q\", \"choice0\": \"a\", \"choice1\": \"b\"}",
                "no \"label\"",
            ),
            (
                "{\"question\": \"q\", \"choice0\": \"a\", \"choice1\": \"b\", \"label\": 2}",
                "label 2",
            ),
            ("{\"question\": \"q\", \"choice0\": \"a\", \"label\": 0}", "1 choice(s)"),
            (
                "{\"question\": \"q\", \"choice0\": \"a\", \"choice1\": \"b\", \"choice2\": \"c\", \"label\": 0}",
                "first row has 2",
            ),
            (
                "{\"question\": \" \", \"choice0\": \"a\", \"choice1\": \"b\", \"label\": 0}",
                "question is empty",
            ),
            (
                "{\"question\": \"q\", \"choice0\": \"a\", \"choice1\": \"\", \"label\": 0}",
                "choice1 is empty",
            ),
            (
                "{\"question\": \"q\", \"choice0\": 3, \"choice1\": \"b\", \"label\": 0}",
                "\"choice0\" is missing",
            ),
            ("{\"text\": \"q\"}", "not a JCommonsenseQA row"),
            ("[1", "not a JSON object"),
        ] {
            let e = format!("{:#}", read(&format!("{ok}{second}\n")).unwrap_err());
            assert!(e.contains("dev.json:2") && e.contains(want), "{e}");
        }
        assert!(read("\n").unwrap_err().to_string().contains("no questions"));
    }
}
