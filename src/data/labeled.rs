//! `label<TAB>text` files, one example per line; Orange's `.tab` files are the same after three
//! header lines (`Category<TAB>Text`, types, flags), which are recognised and skipped.

use anyhow::{bail, Context, Result};
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    pub label: String,
    pub text: String,
    /// 1-based line in the file it came from (0 when made in memory).
    pub line: usize,
}

/// Reads every example; any malformed line is an error naming the file and line.
pub fn read(path: &Path) -> Result<Vec<Example>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    parse(&bytes, path)
}

pub fn parse(bytes: &[u8], path: &Path) -> Result<Vec<Example>> {
    let header_lines = if bytes.starts_with(b"Category\tText") { 3 } else { 0 };
    let mut examples = Vec::new();
    for item in super::lines::text_lines(bytes, path) {
        let (line_no, line) = item?;
        if line_no <= header_lines {
            continue;
        }
        let Some((label, text)) = line.split_once('\t') else {
            bail!("{}:{line_no}: expected `label<TAB>text`, found no tab", path.display());
        };
        let label = label.trim();
        let text = text.trim();
        if label.is_empty() {
            bail!("{}:{line_no}: empty label", path.display());
        }
        if text.is_empty() {
            bail!("{}:{line_no}: empty text", path.display());
        }
        examples.push(Example {
            label: label.to_string(),
            text: text.to_string(),
            line: line_no,
        });
    }
    if examples.is_empty() {
        bail!("{}: no examples", path.display());
    }
    Ok(examples)
}

/// Writes examples as `label<TAB>text` lines (atomically).
pub fn write(path: &Path, examples: &[Example]) -> Result<()> {
    let mut out = String::new();
    for e in examples {
        out.push_str(&e.label);
        out.push('\t');
        out.push_str(&e.text);
        out.push('\n');
    }
    crate::atomic::write_atomic(path, out.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(s: &[u8]) -> Result<Vec<Example>> {
        parse(s, Path::new("f.tsv"))
    }

    #[test]
    fn skips_orange_header_and_blank_lines() {
        let ex = parse_str(b"Category\tText\nd\tstring\nclass\t\nearn\tprofit up\n\nacq\tbuys firm\r\n").unwrap();
        assert_eq!(ex.len(), 2);
        assert_eq!(
            ex[1],
            Example {
                label: "acq".into(),
                text: "buys firm".into(),
                line: 6
            }
        );
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = parse_str(b"a\tok\nno tab here\n").unwrap_err().to_string();
        assert!(e.contains("f.tsv:2") && e.contains("no tab"), "{e}");
        let e = parse_str(b"a\tok\nb\t  \n").unwrap_err().to_string();
        assert!(e.contains("f.tsv:2: empty text"), "{e}");
        let e = parse_str(b"a\tok\nb\t\xff\xfe\n").unwrap_err().to_string();
        assert!(e.contains("f.tsv:2: not valid UTF-8"), "{e}");
        assert!(parse_str(b"\n\n").unwrap_err().to_string().contains("no examples"));
    }
}
