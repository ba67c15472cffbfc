//! A language-model run directory read back: its resolved config, vocabulary and a checkpoint's
//! weights, every tensor checked for shape. Used by `lm eval`, `lm generate`, `--resume` and the
//! end-of-training test on the best model.

use super::config::LmRunConfig;
use crate::data::corpus::Vocab;
use crate::data::json::read_json;
use crate::models::lm_weights::LanguageModel;
use crate::nn::weights::Part;
use crate::train::checkpoint::TensorFile;
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

pub struct SavedRun {
    pub dir: PathBuf,
    pub config: LmRunConfig,
    pub vocab: Vocab,
}

impl SavedRun {
    pub fn open(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            bail!(
                "{}: no such run directory (written by `tsumugi lm train --out`)",
                dir.display()
            );
        }
        let config: LmRunConfig = read_json(&dir.join("config.json"))?;
        let words: Vec<String> = read_json(&dir.join("vocab.json"))?;
        if words.len() != config.model.vocab {
            bail!(
                "{}: {} words but config.json says vocabulary {}",
                dir.join("vocab.json").display(),
                words.len(),
                config.model.vocab
            );
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            config,
            vocab: Vocab::from_words(words),
        })
    }

    /// The train, valid and test files the run was trained on, as `corpus.json` records them
    /// (absolute paths); `None` for runs written before it was kept.
    pub fn corpus(&self) -> Result<Option<[PathBuf; 3]>> {
        recorded_corpus(&self.dir)
    }

    pub fn checkpoint(&self, name: &str) -> PathBuf {
        self.dir.join("checkpoints").join(name)
    }

    /// The model with the weights of `checkpoints/<name>`, and that file's metadata.
    pub fn load(&self, name: &str) -> Result<(LanguageModel, Option<serde_json::Value>)> {
        load_weights(&self.checkpoint(name), &self.config)
    }
}

/// `dir/corpus.json`, where a run records its corpus files.
pub fn recorded_corpus(dir: &Path) -> Result<Option<[PathBuf; 3]>> {
    let path = dir.join("corpus.json");
    if !path.exists() {
        return Ok(None);
    }
    let files: Vec<PathBuf> = read_json(&path)?;
    match <[PathBuf; 3]>::try_from(files) {
        Ok(files) => Ok(Some(files)),
        Err(_) => bail!("{}: expected the train, valid and test files", path.display()),
    }
}

/// A model of `config`'s shape with the weights in `path`; a missing or mis-shaped tensor is an
/// error naming it.
pub fn load_weights(path: &Path, config: &LmRunConfig) -> Result<(LanguageModel, Option<serde_json::Value>)> {
    let mut file = TensorFile::read(path)?;
    let model = model_from(&mut file, config)?;
    Ok((model, file.meta.take()))
}

/// A model of `config`'s shape with the weights of an already-read checkpoint.
pub fn model_from(file: &mut TensorFile, config: &LmRunConfig) -> Result<LanguageModel> {
    let mut model = LanguageModel::new(config.model.clone(), config.seed)?;
    file.weights().load_into(&mut model.params, &Part::All)?;
    Ok(model)
}
