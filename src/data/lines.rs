//! Line-oriented text files read the same way everywhere: 1-based line numbers, `\r\n` or `\n`,
//! a leading UTF-8 byte-order mark dropped (Windows editors write one; kept, it became part of
//! the first label or word), blank lines skipped, and invalid UTF-8 reported with its file and
//! line.

use anyhow::{anyhow, Result};
use std::path::Path;

/// The UTF-8 byte-order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// `bytes` without a leading UTF-8 byte-order mark.
pub fn without_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(BOM).unwrap_or(bytes)
}

/// `text` without a leading byte-order mark (`\u{FEFF}`).
pub fn str_without_bom(text: &str) -> &str {
    text.strip_prefix('\u{FEFF}').unwrap_or(text)
}

/// The non-blank lines of `bytes` as `(line number, text)`, in order.
pub fn text_lines<'a>(bytes: &'a [u8], path: &'a Path) -> impl Iterator<Item = Result<(usize, &'a str)>> + 'a {
    without_bom(bytes)
        .split(|&b| b == b'\n')
        .enumerate()
        .filter_map(move |(index, raw)| {
            let line_no = index + 1;
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            if raw.iter().all(|b| b.is_ascii_whitespace()) {
                return None;
            }
            Some(std::str::from_utf8(raw).map(|line| (line_no, line)).map_err(|e| {
                anyhow!(
                    "{}:{line_no}: not valid UTF-8 (byte {})",
                    path.display(),
                    e.valid_up_to()
                )
            }))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_lines_skips_blanks_and_locates_bad_bytes() {
        let p = Path::new("f.txt");
        let got: Vec<_> = text_lines(b"a\r\n\n  \nb\n", p).map(|r| r.unwrap()).collect();
        assert_eq!(got, [(1, "a"), (4, "b")]);
        let err = text_lines(b"ok\n\xff\n", p).nth(1).unwrap().unwrap_err().to_string();
        assert_eq!(err, "f.txt:2: not valid UTF-8 (byte 0)");
        let got: Vec<_> = text_lines(b"\xEF\xBB\xBFacq\tx\n", p).map(|r| r.unwrap()).collect();
        assert_eq!(got, [(1, "acq\tx")]);
    }
}
