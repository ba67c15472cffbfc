//! Reading one JSON file into a value, with errors that name the file.

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use std::path::Path;

/// Parses `path` as `T`; a missing file or content of another shape is an error naming `path`.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: not the JSON expected here", path.display()))
}
