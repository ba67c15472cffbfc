//! `--resume` takes a run's options from its `config.json`; options typed again on the command
//! line must match them. This finds which options were typed and lays their resolved values
//! over the run's config, so the library can name every one that differs.

use anyhow::{Context, Result};
use clap::parser::ValueSource;
use clap::ArgMatches;
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;
use std::path::Path;
use tsumugi::report::run_dir::{Existing, RunDir};

/// The ids of the options typed on the command line of the subcommand at `path`
/// (`["classify", "train"]`); none when another command ran.
pub fn typed(matches: &ArgMatches, path: &[&str]) -> Vec<String> {
    let mut m = matches;
    for name in path {
        match m.subcommand_matches(name) {
            Some(sub) => m = sub,
            None => return Vec::new(),
        }
    }
    m.ids()
        .map(|id| id.as_str().to_string())
        .filter(|id| m.value_source(id) == Some(ValueSource::CommandLine))
        .collect()
}

/// The config a training command hands the library: for a new run the one the flags resolve
/// to; for `--resume` none (the run's own), or, when settings were typed again, the run's
/// (`read` from `out`) with them laid over, for the library to check.
pub fn job_config<T: Serialize + DeserializeOwned>(
    resume: bool,
    typed: &[String],
    table: &[(&str, &[&str])],
    out: &Path,
    resolve: impl FnOnce() -> Result<T>,
    read: impl FnOnce(&Path) -> Result<T>,
) -> Result<Option<T>> {
    match (resume, any_setting(typed, table)) {
        (false, _) => Ok(Some(resolve()?)),
        (true, false) => Ok(None),
        (true, true) => {
            RunDir::check(out, Existing::Resume)?;
            let saved = read(out)?;
            Ok(Some(overlay(&saved, &resolve()?, typed, table)?))
        }
    }
}

/// `saved` with the config fields that typed options set (`table`: option id → JSON paths
/// such as `model.hidden`) taken from `flags`, the config the command line resolves to.
fn overlay<T: Serialize + DeserializeOwned>(
    saved: &T,
    flags: &T,
    typed: &[String],
    table: &[(&str, &[&str])],
) -> Result<T> {
    let mut out = serde_json::to_value(saved)?;
    let from = serde_json::to_value(flags)?;
    for (_, paths) in table.iter().filter(|(id, _)| typed.iter().any(|t| t == id)) {
        for path in *paths {
            let keys: Vec<&str> = path.split('.').collect();
            let value = keys.iter().try_fold(&from, |v, k| v.get(k));
            let (last, parents) = keys.split_last().expect("a path has a key");
            let Some(Value::Object(slot)) = parents.iter().try_fold(&mut out, |v, k| v.get_mut(k)) else {
                continue;
            };
            match value {
                Some(v) => slot.insert(last.to_string(), v.clone()),
                None => slot.remove(*last),
            };
        }
    }
    serde_json::from_value(out).context("the typed options over the run's config")
}

/// Whether any option beyond those that say where and how to run was typed.
fn any_setting(typed: &[String], table: &[(&str, &[&str])]) -> bool {
    typed.iter().any(|t| table.iter().any(|(id, _)| id == t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_options_replace_only_their_fields() {
        let saved = serde_json::json!({"lr": 5.0, "model": {"hidden": 32, "embed": 32}, "device": "cuda"});
        let flags = serde_json::json!({"lr": 3.0, "model": {"hidden": 64, "embed": 64}});
        let table: &[(&str, &[&str])] = &[
            ("lr", &["lr"]),
            ("hidden", &["model.hidden", "model.embed"]),
            ("device", &["device"]),
        ];
        let only_hidden: Value = overlay(&saved, &flags, &["hidden".into()], table).unwrap();
        assert_eq!(
            only_hidden,
            serde_json::json!({"lr": 5.0, "model": {"hidden": 64, "embed": 64}, "device": "cuda"})
        );
        let device: Value = overlay(&saved, &flags, &["device".into(), "out".into()], table).unwrap();
        assert_eq!(
            device,
            serde_json::json!({"lr": 5.0, "model": {"hidden": 32, "embed": 32}})
        );
        assert!(!any_setting(&["out".into(), "json".into()], table));
    }
}
