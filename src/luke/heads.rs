//! The task heads of transformers' `LukeFor*` classes on top of [`LukeModel`]: which hidden
//! states each one reads, and its classifier.

use super::batch::Batch;
use super::config::{HeadKind, LukeConfig};
use super::model::{LukeModel, LukeOutput};
use super::tokenizer::Encoding;
use super::weights::Weights;
use crate::compute::cpu::Cpu;
use crate::compute::Backend;
use crate::nn::dense::Dense;
use anyhow::{bail, Result};
use std::path::Path;

/// A checkpoint: the encoder on backend `B`, its head's classifier (none for `LukeModel`; on
/// the host, where the hidden states it reads come back) and label names.
pub struct LukeCheckpoint<B: Backend = Cpu> {
    pub model: LukeModel<B>,
    pub kind: HeadKind,
    classifier: Option<Dense>,
    pub labels: Vec<String>,
}

impl<B: Backend> LukeCheckpoint<B> {
    /// Loads `config.json` and the weights of `dir`, the encoder's onto `be`.
    pub fn load(be: &B, dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            bail!("{}: no such model directory", dir.display());
        }
        let config = LukeConfig::from_file(&dir.join("config.json"))?;
        let mut w = super::weights::load_dir(dir)?;
        Self::from_weights(be, config, &mut w)
    }

    pub fn from_weights(be: &B, config: LukeConfig, w: &mut Weights) -> Result<Self> {
        let model = LukeModel::load(be, w, &config)?;
        let h = config.hidden_size;
        let (inputs, bias) = match config.head {
            HeadKind::Base => (0, false),
            HeadKind::EntityClassification | HeadKind::SequenceClassification | HeadKind::MultipleChoice => (h, true),
            HeadKind::EntityPairClassification => (2 * h, false),
            HeadKind::EntitySpanClassification => (3 * h, true),
        };
        let mut labels = config.labels.clone();
        if config.head == HeadKind::MultipleChoice {
            labels.clear();
        } else if labels.is_empty() && config.head != HeadKind::Base {
            labels = (0..2).map(|i| format!("LABEL_{i}")).collect(); // transformers' num_labels default
        }
        let outputs = if config.head == HeadKind::MultipleChoice {
            1
        } else {
            labels.len()
        };
        let classifier = if inputs > 0 {
            Some(Dense::load(w, "classifier", inputs, outputs, bias)?)
        } else {
            None
        };
        let pooled_head = matches!(config.head, HeadKind::SequenceClassification | HeadKind::MultipleChoice);
        if pooled_head && !model.has_pooler() {
            bail!(
                "{} needs the pooler, and the checkpoint has no pooler.dense.weight",
                config.head.name()
            );
        }
        Ok(Self {
            model,
            kind: config.head,
            classifier,
            labels,
        })
    }

    /// Logits of every example in the batch (span classification: `[spans, labels]` flattened;
    /// multiple choice: one score per batch row).
    pub fn logits(&self, out: &LukeOutput, batch: &Batch, encodings: &[&Encoding]) -> Result<Vec<Vec<f32>>> {
        let Some(classifier) = &self.classifier else {
            bail!("this checkpoint ({}) has no task head", self.kind.name());
        };
        let h = self.model.config.hidden_size;
        let word = |b: usize, t: usize| &out.word_hidden[(b * batch.words + t) * h..][..h];
        let entity = |b: usize, j: usize| &out.entity_hidden[(b * batch.entities + j) * h..][..h];
        let need_entities = |n: usize| -> Result<()> {
            if let Some(e) = encodings.iter().find(|e| e.entity_ids.len() < n) {
                bail!(
                    "{} needs {n} entities but an example has {} (were they dropped by truncation?)",
                    self.kind.name(),
                    e.entity_ids.len()
                );
            }
            Ok(())
        };
        let pooled = || {
            out.pooled
                .as_ref()
                .ok_or_else(|| anyhow::anyhow!("{} needs the pooler", self.kind.name()))
        };
        Ok(match self.kind {
            HeadKind::Base => unreachable!("no classifier"),
            HeadKind::EntityClassification => {
                need_entities(1)?;
                (0..batch.size).map(|b| classifier.forward(entity(b, 0), 1)).collect()
            }
            HeadKind::EntityPairClassification => {
                need_entities(2)?;
                (0..batch.size)
                    .map(|b| classifier.forward(&[entity(b, 0), entity(b, 1)].concat(), 1))
                    .collect()
            }
            HeadKind::EntitySpanClassification => encodings
                .iter()
                .enumerate()
                .map(|(b, e)| {
                    let features: Vec<f32> = (0..e.entity_ids.len())
                        .flat_map(|j| {
                            [
                                word(b, e.entity_start_positions[j]),
                                word(b, e.entity_end_positions[j]),
                                entity(b, j),
                            ]
                            .concat()
                        })
                        .collect();
                    classifier.forward(&features, e.entity_ids.len())
                })
                .collect(),
            HeadKind::SequenceClassification => {
                let p = pooled()?;
                (0..batch.size)
                    .map(|b| classifier.forward(&p[b * h..][..h], 1))
                    .collect()
            }
            HeadKind::MultipleChoice => {
                let p = pooled()?;
                vec![classifier.forward(p, batch.size)]
            }
        })
    }
}
