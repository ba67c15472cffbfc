//! `tsumugi bench word2vec`: writes a word2vec binary file of `words × dim` random vectors (the
//! GoogleNews file is 3M × 300), then times loading it restricted to a `keep`-word vocabulary,
//! as `classify` does for one dataset.

use super::Timing;
use crate::embed::{word2vec_bin, WordVectors};
use anyhow::{bail, Result};
use rand::{Rng, SeedableRng};
use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

fn word(i: usize) -> String {
    format!("w{i:07}")
}

/// Streams the file to disk (it is larger than one would like to hold in memory twice).
pub fn write_synthetic(path: &Path, words: usize, dim: usize) -> Result<()> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let mut out = std::io::BufWriter::with_capacity(1 << 22, std::fs::File::create(path)?);
    writeln!(out, "{words} {dim}")?;
    let mut row = vec![0u8; dim * 4];
    for i in 0..words {
        for chunk in row.chunks_exact_mut(4) {
            chunk.copy_from_slice(&rng.gen::<f32>().to_le_bytes());
        }
        out.write_all(word(i).as_bytes())?;
        out.write_all(b" ")?;
        out.write_all(&row)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// Times `repeats` restricted loads; returns the timing and the loaded vocabulary size.
pub fn time_restricted_load(path: &Path, words: usize, keep: usize, repeats: usize) -> Result<(Timing, usize)> {
    let step = (words / keep.max(1)).max(1);
    let wanted: HashSet<String> = (0..words).step_by(step).take(keep).map(word).collect();
    let mut seconds = Vec::new();
    let mut loaded = WordVectors::default();
    for _ in 0..repeats {
        let began = Instant::now();
        loaded = word2vec_bin::read(path, Some(&wanted))?;
        seconds.push(began.elapsed().as_secs_f64());
    }
    if loaded.len() != wanted.len() {
        bail!("loaded {} of {} wanted words", loaded.len(), wanted.len());
    }
    Ok((Timing::of(seconds), loaded.len()))
}
