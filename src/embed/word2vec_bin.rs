//! word2vec binary format: an ASCII header `COUNT DIM\n`, then per word its UTF-8 bytes, one
//! space, `DIM` little-endian f32 and (usually) a newline. The file is memory-mapped and only
//! the wanted words are copied, so the 3.6 GB GoogleNews file costs one pass over its pages.

use super::vectors::check_finite;
use super::WordVectors;
use anyhow::{anyhow, bail, Context, Result};
use std::collections::HashSet;
use std::path::Path;

pub fn read(path: &Path, restrict: Option<&HashSet<String>>) -> Result<WordVectors> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    // SAFETY: the map is read-only and dropped before returning; a file truncated underneath us
    // by another process is outside what any reader can defend against.
    let map = unsafe { memmap2::Mmap::map(&file) }.with_context(|| format!("mapping {}", path.display()))?;
    #[cfg(unix)]
    let _ = map.advise(memmap2::Advice::Sequential);
    parse(&map, path, restrict)
}

pub fn parse(bytes: &[u8], path: &Path, restrict: Option<&HashSet<String>>) -> Result<WordVectors> {
    let header_end = bytes
        .iter()
        .take(64)
        .position(|&b| b == b'\n')
        .ok_or_else(|| anyhow!("{}: no `COUNT DIM` header line", path.display()))?;
    let header = std::str::from_utf8(&bytes[..header_end]).unwrap_or("");
    let nums: Vec<usize> = header.split_whitespace().filter_map(|t| t.parse().ok()).collect();
    let [count, dim] = nums[..] else {
        bail!(
            "{}: header `{}` is not `COUNT DIM`",
            path.display(),
            header.escape_debug()
        );
    };
    if dim == 0 {
        bail!("{}: header says dimension 0", path.display());
    }
    if dim > bytes.len() / 4 {
        bail!(
            "{}: header dimension {dim} is impossible for a file of {} bytes",
            path.display(),
            bytes.len()
        );
    }
    let mut vectors = WordVectors::new(dim);
    let mut pos = header_end + 1;
    let row_bytes = dim * 4;
    let mut row = vec![0f32; dim];
    for entry in 0..count {
        while pos < bytes.len() && (bytes[pos] == b'\n' || bytes[pos] == b' ') {
            pos += 1;
        }
        let word_len = bytes[pos..]
            .iter()
            .take(1 << 16)
            .position(|&b| b == b' ')
            .ok_or_else(|| {
                anyhow!(
                    "{}: entry {} of {count} (byte {pos}) is truncated: no word followed by a space",
                    path.display(),
                    entry + 1
                )
            })?;
        let word = &bytes[pos..pos + word_len];
        pos += word_len + 1;
        if pos + row_bytes > bytes.len() {
            bail!(
                "{}: entry {} of {count} (`{}`) is truncated: expected {dim} floats, the file ends after {} bytes",
                path.display(),
                entry + 1,
                String::from_utf8_lossy(word),
                bytes.len() - pos
            );
        }
        let wanted = match (restrict, std::str::from_utf8(word)) {
            (None, _) => true,
            (Some(keep), Ok(w)) => keep.contains(w),
            (Some(_), Err(_)) => false,
        };
        if wanted {
            for (value, chunk) in row.iter_mut().zip(bytes[pos..pos + row_bytes].chunks_exact(4)) {
                *value = f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            }
            let word = String::from_utf8_lossy(word);
            check_finite(&row, &word, || {
                format!("{}: entry {} of {count}", path.display(), entry + 1)
            })?;
            vectors.push(&word, &row);
        }
        pos += row_bytes;
    }
    Ok(vectors)
}

/// Reads a gzipped word2vec binary file (`GoogleNews-vectors-negative300.bin.gz` as
/// distributed) in one streaming pass, keeping only the wanted words; nothing is unpacked to disk.
pub fn read_gz(path: &Path, restrict: Option<&HashSet<String>>) -> Result<WordVectors> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let reader = std::io::BufReader::with_capacity(1 << 20, flate2::read::GzDecoder::new(file));
    parse_stream(reader, path, restrict)
}

/// A gzipped stream's length is unknown up front, so its header dimension is bounded instead
/// (published vectors have 50–1024 dimensions).
const MAX_STREAM_DIM: usize = 1 << 16;

/// The streaming twin of [`parse`], for input that cannot be memory-mapped.
pub fn parse_stream(
    mut reader: impl std::io::BufRead,
    path: &Path,
    restrict: Option<&HashSet<String>>,
) -> Result<WordVectors> {
    let io_err = |e: std::io::Error| anyhow!("{}: {e}", path.display());
    let mut header = Vec::new();
    reader.read_until(b'\n', &mut header).map_err(io_err)?;
    let header = String::from_utf8_lossy(&header);
    let nums: Vec<usize> = header.split_whitespace().filter_map(|t| t.parse().ok()).collect();
    let [count, dim] = nums[..] else {
        bail!(
            "{}: header `{}` is not `COUNT DIM`",
            path.display(),
            header.trim().escape_debug()
        );
    };
    if dim == 0 {
        bail!("{}: header says dimension 0", path.display());
    }
    if dim > MAX_STREAM_DIM {
        bail!(
            "{}: header dimension {dim} is larger than {MAX_STREAM_DIM}",
            path.display()
        );
    }
    let mut vectors = WordVectors::new(dim);
    let mut word = Vec::new();
    let mut raw = vec![0u8; dim * 4];
    let mut row = vec![0f32; dim];
    for entry in 0..count {
        word.clear();
        loop {
            let n = reader.read_until(b' ', &mut word).map_err(io_err)?;
            if n == 0 || word.last() == Some(&b' ') {
                break;
            }
        }
        if word.last() != Some(&b' ') {
            bail!(
                "{}: entry {} of {count} is truncated: no word followed by a space",
                path.display(),
                entry + 1
            );
        }
        word.pop();
        let start = word.iter().position(|b| *b != b'\n').unwrap_or(word.len());
        let text = &word[start..];
        if let Err(e) = reader.read_exact(&mut raw) {
            bail!(
                "{}: entry {} of {count} (`{}`) is truncated: expected {dim} floats ({e})",
                path.display(),
                entry + 1,
                String::from_utf8_lossy(text)
            );
        }
        let wanted = match (restrict, std::str::from_utf8(text)) {
            (None, _) => true,
            (Some(keep), Ok(w)) => keep.contains(w),
            (Some(_), Err(_)) => false,
        };
        if wanted {
            for (value, chunk) in row.iter_mut().zip(raw.chunks_exact(4)) {
                *value = f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            }
            let word = String::from_utf8_lossy(text);
            check_finite(&row, &word, || {
                format!("{}: entry {} of {count}", path.display(), entry + 1)
            })?;
            vectors.push(&word, &row);
        }
    }
    Ok(vectors)
}

/// Writes vectors in word2vec binary format, atomically.
pub fn write(path: &Path, vectors: &WordVectors) -> Result<()> {
    let mut out = Vec::with_capacity(vectors.len() * (vectors.dim() * 4 + 16) + 32);
    out.extend_from_slice(format!("{} {}\n", vectors.len(), vectors.dim()).as_bytes());
    for (i, word) in vectors.words().iter().enumerate() {
        out.extend_from_slice(word.as_bytes());
        out.push(b' ');
        for v in vectors.row(i) {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.push(b'\n');
    }
    crate::atomic::write_atomic(path, &out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> WordVectors {
        let mut v = WordVectors::new(3);
        v.push("king", &[1.0, 2.0, 3.0]);
        v.push("queen", &[-1.0, 0.5, 0.25]);
        v.push("東京", &[0.0, 0.0, 1.0]);
        v
    }

    #[test]
    fn round_trip_and_restriction() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.bin");
        write(&path, &sample()).unwrap();
        let back = read(&path, None).unwrap();
        assert_eq!(back.len(), 3);
        assert_eq!(back.get("東京").unwrap(), &[0.0, 0.0, 1.0]);
        let keep: HashSet<String> = ["queen".to_string(), "absent".to_string()].into();
        let some = read(&path, Some(&keep)).unwrap();
        assert_eq!(some.len(), 1);
        assert_eq!(some.get("queen").unwrap(), &[-1.0, 0.5, 0.25]);
    }

    #[test]
    fn gzipped_file_streams_to_the_same_vectors() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("v.bin");
        write(&plain, &sample()).unwrap();
        let gz = dir.path().join("v.bin.gz");
        let mut enc = flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), flate2::Compression::fast());
        enc.write_all(&std::fs::read(&plain).unwrap()).unwrap();
        enc.finish().unwrap();
        let keep: HashSet<String> = ["東京".to_string(), "king".to_string()].into();
        let v = read_gz(&gz, Some(&keep)).unwrap();
        assert_eq!(v.words(), ["king", "東京"]);
        assert_eq!(v.get("東京").unwrap(), &[0.0, 0.0, 1.0]);
        let bytes = std::fs::read(&plain).unwrap();
        let err = parse_stream(&bytes[..bytes.len() - 6], &plain, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("entry 3 of 3") && err.contains("truncated"), "{err}");
    }

    #[test]
    fn truncated_file_is_an_error_naming_the_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.bin");
        write(&path, &sample()).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let err = parse(&bytes[..bytes.len() - 6], &path, None).unwrap_err().to_string();
        assert!(err.contains("entry 3 of 3") && err.contains("truncated"), "{err}");
        let err = parse(b"3 x\n", &path, None).unwrap_err().to_string();
        assert!(err.contains("not `COUNT DIM`"), "{err}");
        let err = parse(b"3 999999999999\nking ", &path, None).unwrap_err().to_string();
        assert!(err.contains("header dimension 999999999999 is impossible"), "{err}");
    }

    /// A NaN or an infinity stops the load naming the entry and the word, in the plain and the
    /// gzipped reader alike.
    #[test]
    fn a_nan_or_infinite_value_is_an_error_naming_the_entry_and_word() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.bin");
        for bad in [f32::NAN, f32::INFINITY] {
            let mut v = sample();
            v.push("bad", &[0.0, bad, 1.0]);
            write(&path, &v).unwrap();
            let bytes = std::fs::read(&path).unwrap();
            let err = parse(&bytes, &path, None).unwrap_err().to_string();
            assert!(
                err.contains("entry 4 of 4") && err.contains("value 2 of `bad`"),
                "{err}"
            );
            let err = parse_stream(&bytes[..], &path, None).unwrap_err().to_string();
            assert!(err.contains("entry 4 of 4") && err.contains("`bad`"), "{err}");
        }
    }
}
