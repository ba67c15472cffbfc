//! The wink-embeddings JSON: `{"dimensions": D, "vectors": {word: [D values, l2 norm, row]}, ...}`.
//! The map is streamed into a list (no hash map of 341k entries) and ordered by the stored row.

use super::vectors::check_finite;
use super::WordVectors;
use anyhow::{bail, Context, Result};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::path::Path;

#[derive(Deserialize)]
struct WinkFile {
    dimensions: usize,
    vectors: Entries,
}

struct Entries(Vec<(String, Vec<f32>)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct EntriesVisitor;
        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map from word to numbers")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Entries, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some(entry) = map.next_entry::<String, Vec<f32>>()? {
                    out.push(entry);
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(EntriesVisitor)
    }
}

pub fn read(path: &Path) -> Result<WordVectors> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let file: WinkFile =
        serde_json::from_slice(&bytes).with_context(|| format!("{}: not a wink vectors JSON file", path.display()))?;
    let dim = file.dimensions;
    let mut entries = file.vectors.0;
    for (word, values) in &entries {
        if values.len() < dim {
            bail!(
                "{}: vector of `{word}` has {} values, expected {dim}",
                path.display(),
                values.len()
            );
        }
        check_finite(&values[..dim], word, || path.display().to_string())?;
    }
    entries.sort_by(|a, b| {
        let row = |v: &Vec<f32>| v.get(dim + 1).copied().unwrap_or(f32::MAX);
        row(&a.1).total_cmp(&row(&b.1))
    });
    let mut vectors = WordVectors::new(dim);
    for (word, values) in &entries {
        vectors.push(word, &values[..dim]);
    }
    Ok(vectors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_in_row_order_and_rejects_short_vectors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.json");
        std::fs::write(
            &path,
            r#"{"dimensions":2,"words":["a","b"],"vectors":{"b":[3,4,5,1],"a":[1,2,2.2,0]},"unkVector":[0,0]}"#,
        )
        .unwrap();
        let v = read(&path).unwrap();
        assert_eq!(v.words(), ["a", "b"]);
        assert_eq!(v.get("b").unwrap(), &[3.0, 4.0]);
        std::fs::write(&path, r#"{"dimensions":3,"vectors":{"a":[1,2]}}"#).unwrap();
        assert!(read(&path).unwrap_err().to_string().contains("`a` has 2 values"));
    }
}
