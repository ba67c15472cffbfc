//! Text vectors: one word and its values per line, space-separated. word2vec and fastText `.vec`
//! files start with a `COUNT DIM` header; GloVe files do not. The dimension is read from the
//! header or the first line, and every later line must match it. Values are taken from the right
//! so that words containing spaces (GloVe 840B has some) survive.

use super::vectors::check_finite;
use super::WordVectors;
use crate::data::lines::text_lines;
use anyhow::{bail, Context, Result};
use std::collections::HashSet;
use std::path::Path;

pub fn read(path: &Path, restrict: Option<&HashSet<String>>) -> Result<WordVectors> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    parse(&bytes, path, restrict)
}

/// A gzipped text file (`glove.6B.100d.txt.gz`), decompressed in memory.
pub fn read_gz(path: &Path, restrict: Option<&HashSet<String>>) -> Result<WordVectors> {
    use std::io::Read;
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(file)
        .read_to_end(&mut bytes)
        .with_context(|| format!("{}: not a readable gzip file", path.display()))?;
    parse(&bytes, path, restrict)
}

pub fn parse(bytes: &[u8], path: &Path, restrict: Option<&HashSet<String>>) -> Result<WordVectors> {
    let mut header_count = None;
    let mut dim = None;
    let mut vectors: Option<WordVectors> = None;
    let mut seen = 0usize;
    let mut row = Vec::new();
    for item in text_lines(bytes, path) {
        let (line_no, line) = item?;
        if seen == 0 && header_count.is_none() {
            if let [n, d] = line.split_whitespace().collect::<Vec<_>>()[..] {
                if let (Ok(n), Ok(d)) = (n.parse::<usize>(), d.parse::<usize>()) {
                    header_count = Some(n);
                    dim = Some(d);
                    continue;
                }
            }
        }
        let line = line.trim_end();
        let tokens: Vec<&str> = line.split(' ').collect();
        let d = *dim.get_or_insert(tokens.len().saturating_sub(1));
        if d == 0 {
            bail!("{}:{line_no}: a word with no values", path.display());
        }
        if tokens.len() < d + 1 {
            bail!(
                "{}:{line_no}: expected a word and {d} values, found {} value(s) (dimension mismatch or truncated file)",
                path.display(),
                tokens.len() - 1
            );
        }
        seen += 1;
        let split = tokens.len() - d;
        let word = tokens[..split].join(" ");
        if restrict.is_some_and(|keep| !keep.contains(&word)) {
            continue;
        }
        row.clear();
        for (k, t) in tokens[split..].iter().enumerate() {
            let v: f32 = t.parse().map_err(|_| {
                anyhow::anyhow!(
                    "{}:{line_no}: value {} `{t}` of `{word}` is not a number",
                    path.display(),
                    k + 1
                )
            })?;
            row.push(v);
        }
        check_finite(&row, &word, || format!("{}:{line_no}", path.display()))?;
        vectors.get_or_insert_with(|| WordVectors::new(d)).push(&word, &row);
    }
    if let Some(n) = header_count {
        if n != seen {
            bail!(
                "{}: header says {n} vectors, the file has {seen} (truncated?)",
                path.display()
            );
        }
    }
    match (vectors, dim) {
        (Some(v), _) => Ok(v),
        (None, Some(d)) if seen > 0 || header_count.is_some() => Ok(WordVectors::new(d)),
        _ => bail!("{}: no vectors", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<WordVectors> {
        parse(s.as_bytes(), Path::new("v.txt"), None)
    }

    #[test]
    fn glove_and_word2vec_text() {
        let g = p("the 0.1 0.2\nnew york 1 2\n").unwrap();
        assert_eq!((g.len(), g.dim()), (2, 2));
        assert_eq!(g.get("new york").unwrap(), &[1.0, 2.0]);
        let w = p("2 3\na 1 2 3 \nb 4 5 6\n").unwrap();
        assert_eq!(w.get("b").unwrap(), &[4.0, 5.0, 6.0]);
    }

    #[test]
    fn bad_files_name_the_line() {
        let e = p("a 1 2 3\nb 1 2\n").unwrap_err().to_string();
        assert!(
            e.contains("v.txt:2") && e.contains("expected a word and 3 values"),
            "{e}"
        );
        let e = p("a 1 x\n").unwrap_err().to_string();
        assert!(e.contains("v.txt:1") && e.contains("`x`"), "{e}");
        let e = p("3 2\na 1 2\n").unwrap_err().to_string();
        assert!(e.contains("header says 3"), "{e}");
        for bad in ["nan", "inf", "-inf", "NaN"] {
            let e = p(&format!("a 1 2\nb 0.5 {bad}\n")).unwrap_err().to_string();
            assert!(
                e.contains("v.txt:2") && e.contains("value 2 of `b`") && e.contains("finite"),
                "{e}"
            );
        }
    }
}
