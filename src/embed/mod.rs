//! Word vectors: the formats people have (word2vec binary, word2vec/GloVe/fastText text, the wink
//! JSON) read into one [`WordVectors`] table, and mean-vector sentence features.

pub mod features;
pub mod text;
pub mod vectors;
pub mod wink;
pub mod word2vec_bin;

pub use vectors::WordVectors;

use anyhow::{bail, Result};
use std::collections::HashSet;
use std::path::Path;

/// Loads a vectors file, choosing the reader from the file name: `*.bin` is word2vec binary
/// (`*.bin.gz` streamed through gzip), `*.json` the wink format, anything else text
/// (word2vec/GloVe/fastText, optionally `*.gz`). With `restrict`, only
/// those words are kept, which makes multi-gigabyte files quick to use for one dataset.
pub fn load(path: &Path, restrict: Option<&HashSet<String>>) -> Result<WordVectors> {
    let name = path.to_string_lossy();
    if !path.exists() {
        bail!("vectors file {} does not exist", path.display());
    }
    if name.ends_with(".bin.gz") {
        word2vec_bin::read_gz(path, restrict)
    } else if name.ends_with(".gz") {
        text::read_gz(path, restrict)
    } else if name.ends_with(".bin") {
        word2vec_bin::read(path, restrict)
    } else if name.ends_with(".json") {
        let all = wink::read(path)?;
        Ok(match restrict {
            Some(words) => all.restricted_to(words),
            None => all,
        })
    } else {
        text::read(path, restrict)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(path: &Path, bytes: &[u8]) {
        let mut gz = flate2::write::GzEncoder::new(std::fs::File::create(path).unwrap(), flate2::Compression::fast());
        gz.write_all(bytes).unwrap();
        gz.finish().unwrap();
    }

    /// `.bin.gz` (the article's GoogleNews file as downloaded) and gzipped text load as their
    /// plain forms do, restricted alike.
    #[test]
    fn gzipped_binary_and_text_vectors_load_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let mut v = WordVectors::new(3);
        v.push("king", &[1.0, 2.0, 3.0]);
        v.push("queen", &[-1.0, 0.5, 0.25]);
        let bin = dir.path().join("v.bin");
        word2vec_bin::write(&bin, &v).unwrap();
        gzip(&dir.path().join("v.bin.gz"), &std::fs::read(&bin).unwrap());
        gzip(&dir.path().join("v.txt.gz"), b"king 1 2 3\nqueen -1 0.5 0.25\n");
        let keep: HashSet<String> = ["queen".to_string()].into();
        for name in ["v.bin.gz", "v.txt.gz"] {
            let all = load(&dir.path().join(name), None).unwrap();
            assert_eq!(all.get("king").unwrap(), &[1.0, 2.0, 3.0], "{name}");
            let some = load(&dir.path().join(name), Some(&keep)).unwrap();
            assert_eq!(
                (some.len(), some.get("queen").unwrap()),
                (1, &[-1.0, 0.5, 0.25][..]),
                "{name}"
            );
        }
        std::fs::write(dir.path().join("bad.txt.gz"), b"not gzip").unwrap();
        let e = load(&dir.path().join("bad.txt.gz"), None).unwrap_err().to_string();
        assert!(e.contains("bad.txt.gz") && e.contains("gzip"), "{e}");
    }
}
