//! UCI News Aggregator `newsCorpora.csv`: eight tab-separated columns
//! (ID, TITLE, URL, PUBLISHER, CATEGORY, STORY, HOSTNAME, TIMESTAMP), no quoting. Titles carry
//! stray `"` characters that make CSV readers (pandas) swallow lines; the article ran `sed` to
//! replace them. Splitting on tabs only keeps every title exactly as published.

use anyhow::{bail, Context, Result};
use std::path::Path;

/// The publishers NLP 100 Knocks problem 50 keeps.
pub const PUBLISHERS: [&str; 5] = [
    "Reuters",
    "Huffington Post",
    "Businessweek",
    "Contactmusic.com",
    "Daily Mail",
];

/// Categories in the article's label order: business, science/technology, entertainment, health.
pub const CATEGORIES: [&str; 4] = ["b", "t", "e", "m"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Headline {
    pub title: String,
    pub publisher: String,
    pub category: String,
}

/// What reading found, besides the headlines.
#[derive(Debug, Default)]
pub struct ReadReport {
    /// `file:line: why` for each skipped malformed row.
    pub skipped: Vec<String>,
}

/// Reads every row. A malformed row (wrong column count, unknown category, empty title, bad
/// UTF-8) is an error naming the line, unless `skip_bad_rows`, when it is reported and skipped.
pub fn read(path: &Path, skip_bad_rows: bool) -> Result<(Vec<Headline>, ReadReport)> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut headlines = Vec::new();
    let mut report = ReadReport::default();
    for (index, raw) in super::lines::without_bom(&bytes).split(|&b| b == b'\n').enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.is_empty() {
            continue;
        }
        match parse_row(raw) {
            Ok(h) => headlines.push(h),
            Err(why) => {
                let msg = format!("{}:{}: {why}", path.display(), index + 1);
                if !skip_bad_rows {
                    bail!("{msg} (use --skip-bad-rows to skip such rows)");
                }
                report.skipped.push(msg);
            }
        }
    }
    if headlines.is_empty() {
        bail!("{}: no rows", path.display());
    }
    Ok((headlines, report))
}

fn parse_row(raw: &[u8]) -> std::result::Result<Headline, String> {
    let line = std::str::from_utf8(raw).map_err(|e| format!("not valid UTF-8 (byte {})", e.valid_up_to()))?;
    let fields: Vec<&str> = line.split('\t').collect();
    if fields.len() != 8 {
        return Err(format!("expected 8 tab-separated columns, found {}", fields.len()));
    }
    let (title, publisher, category) = (fields[1].trim(), fields[3].trim(), fields[4].trim());
    if title.is_empty() {
        return Err("empty TITLE".into());
    }
    if !CATEGORIES.contains(&category) {
        return Err(format!("CATEGORY `{category}` is not one of b, t, e, m"));
    }
    Ok(Headline {
        title: title.to_string(),
        publisher: publisher.to_string(),
        category: category.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stray_quotes_survive_and_bad_rows_are_located() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("newsCorpora.csv");
        std::fs::write(
            &path,
            "1\t\"Fed\" holds rates, says \"patience\tu\tReuters\tb\ts\th\t1\n2\tbroken row\tu\n",
        )
        .unwrap();
        let err = read(&path, false).unwrap_err().to_string();
        assert!(err.contains("newsCorpora.csv:2") && err.contains("found 3"), "{err}");
        let (rows, report) = read(&path, true).unwrap();
        assert_eq!(rows[0].title, "\"Fed\" holds rates, says \"patience");
        assert_eq!(report.skipped.len(), 1);
    }
}
