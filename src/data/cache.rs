//! Where fetched datasets live: `$TSUMUGI_HOME`, else `$XDG_CACHE_HOME/tsumugi`, else
//! `~/.cache/tsumugi`.

use anyhow::{bail, Result};
use std::path::PathBuf;

pub fn home() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("TSUMUGI_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir).join("tsumugi"));
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".cache").join("tsumugi")),
        None => bail!("cannot find a cache directory: set TSUMUGI_HOME"),
    }
}

/// The directory holding one dataset's ready files.
pub fn dataset_dir(name: &str) -> Result<PathBuf> {
    Ok(home()?.join("datasets").join(name))
}
