//! Reading one JSON file into a value, with errors that name the file.

use anyhow::{anyhow, Context, Result};
use serde::de::DeserializeOwned;
use std::path::Path;

/// Parses `path` as `T`; a missing file or content of another shape is an error naming `path`.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(super::lines::str_without_bom(&text))
        .with_context(|| format!("{}: not the JSON expected here", path.display()))
}

/// A `{name: id}` object (a vocabulary, added tokens) as pairs; anything else, or an id that is
/// not a non-negative 32-bit integer, is an error naming `source` and the entry.
pub fn ids_by_name(value: &serde_json::Value, source: &Path, what: &str) -> Result<Vec<(String, u32)>> {
    let map = value
        .as_object()
        .ok_or_else(|| anyhow!("{}: {what} is not an object", source.display()))?;
    map.iter()
        .map(|(name, id)| {
            let id = id
                .as_u64()
                .and_then(|id| u32::try_from(id).ok())
                .ok_or_else(|| anyhow!("{}: id of {name:?} in the {what} is not a token id", source.display()))?;
            Ok((name.clone(), id))
        })
        .collect()
}

/// The leaves where `a` and `b` differ, as `path (a → b)`: `lr (20 → 3)`,
/// `model.dropout (0.5 → 0.2)`. Says which options changed rather than that some did.
pub fn differences(a: &serde_json::Value, b: &serde_json::Value) -> Vec<String> {
    fn walk(a: &serde_json::Value, b: &serde_json::Value, path: &str, out: &mut Vec<String>) {
        match (a, b) {
            (serde_json::Value::Object(x), serde_json::Value::Object(y)) => {
                let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
                keys.sort();
                keys.dedup();
                for k in keys {
                    let null = serde_json::Value::Null;
                    let sub = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(x.get(k).unwrap_or(&null), y.get(k).unwrap_or(&null), &sub, out);
                }
            }
            _ if a != b => out.push(format!("{path} ({a} → {b})")),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(a, b, "", &mut out);
    out
}
