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
    if name.ends_with(".gz") {
        bail!(
            "{}: compressed vectors are not read directly; decompress it first (gunzip -k)",
            path.display()
        );
    }
    if name.ends_with(".bin") {
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
