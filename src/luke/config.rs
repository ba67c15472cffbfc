//! `config.json` of a LUKE checkpoint, with transformers' `LukeConfig` defaults for absent keys.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Which task head a checkpoint carries, from its `architectures` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadKind {
    /// `LukeModel` (or any head tsumugi does not run): encoder and pooler only.
    Base,
    EntityClassification,
    EntityPairClassification,
    EntitySpanClassification,
    SequenceClassification,
    MultipleChoice,
}

impl HeadKind {
    fn from_architecture(name: &str) -> Option<Self> {
        Some(match name {
            "LukeModel" | "LukeForMaskedLM" | "LukeForTokenClassification" | "LukeForQuestionAnswering" => Self::Base,
            "LukeForEntityClassification" => Self::EntityClassification,
            "LukeForEntityPairClassification" => Self::EntityPairClassification,
            "LukeForEntitySpanClassification" => Self::EntitySpanClassification,
            "LukeForSequenceClassification" => Self::SequenceClassification,
            "LukeForMultipleChoice" => Self::MultipleChoice,
            _ => return None,
        })
    }

    /// The class name transformers uses, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Base => "LukeModel",
            Self::EntityClassification => "LukeForEntityClassification",
            Self::EntityPairClassification => "LukeForEntityPairClassification",
            Self::EntitySpanClassification => "LukeForEntitySpanClassification",
            Self::SequenceClassification => "LukeForSequenceClassification",
            Self::MultipleChoice => "LukeForMultipleChoice",
        }
    }
}

/// The activation `hidden_act` names (never [`Activation::Tanh`]).
pub use crate::nn::activate::Activation;

#[derive(Debug, Deserialize)]
struct RawConfig {
    model_type: Option<String>,
    #[serde(default)]
    architectures: Vec<String>,
    #[serde(default = "d_vocab")]
    vocab_size: usize,
    #[serde(default = "d_entity_vocab")]
    entity_vocab_size: usize,
    #[serde(default = "d_hidden")]
    hidden_size: usize,
    #[serde(default = "d_entity_emb")]
    entity_emb_size: usize,
    #[serde(default = "d_layers")]
    num_hidden_layers: usize,
    #[serde(default = "d_heads")]
    num_attention_heads: usize,
    #[serde(default = "d_intermediate")]
    intermediate_size: usize,
    #[serde(default = "d_act")]
    hidden_act: String,
    #[serde(default = "d_positions")]
    max_position_embeddings: usize,
    #[serde(default = "d_types")]
    type_vocab_size: usize,
    #[serde(default = "d_eps")]
    layer_norm_eps: f64,
    #[serde(default = "d_true")]
    use_entity_aware_attention: bool,
    #[serde(default = "d_pad")]
    pad_token_id: Option<usize>,
    #[serde(default)]
    id2label: BTreeMap<String, String>,
    #[serde(default)]
    problem_type: Option<String>,
}

fn d_vocab() -> usize {
    50267
}
fn d_entity_vocab() -> usize {
    500000
}
fn d_hidden() -> usize {
    768
}
fn d_entity_emb() -> usize {
    256
}
fn d_layers() -> usize {
    12
}
fn d_heads() -> usize {
    12
}
fn d_intermediate() -> usize {
    3072
}
fn d_act() -> String {
    "gelu".into()
}
fn d_positions() -> usize {
    512
}
fn d_types() -> usize {
    2
}
fn d_eps() -> f64 {
    1e-12
}
fn d_true() -> bool {
    true
}
fn d_pad() -> Option<usize> {
    Some(1)
}

/// Model hyper-parameters, checked for consistency.
#[derive(Debug, Clone)]
pub struct LukeConfig {
    pub head: HeadKind,
    pub vocab_size: usize,
    pub entity_vocab_size: usize,
    pub hidden_size: usize,
    pub entity_emb_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub activation: Activation,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub layer_norm_eps: f32,
    pub use_entity_aware_attention: bool,
    pub pad_token_id: usize,
    /// Label names by class index (`id2label`); empty when the config has none.
    pub labels: Vec<String>,
    /// `problem_type: "multi_label_classification"`: labels are independent (a sigmoid each).
    pub multi_label: bool,
}

impl LukeConfig {
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        Self::from_json(&text).with_context(|| format!("{}: not a usable LUKE config", path.display()))
    }

    pub fn from_json(text: &str) -> Result<Self> {
        let raw: RawConfig = serde_json::from_str(text)?;
        if let Some(kind) = raw.model_type.as_deref() {
            if kind != "luke" {
                bail!("model_type is {kind:?}, not \"luke\" (mLUKE and luke-japanese checkpoints also say \"luke\")");
            }
        }
        let head = match raw.architectures.first() {
            None => HeadKind::Base,
            Some(name) => HeadKind::from_architecture(name).with_context(|| {
                format!("unknown architecture {name:?}: tsumugi runs LukeModel and the Luke* classification heads")
            })?,
        };
        let activation = match raw.hidden_act.as_str() {
            "gelu" => Activation::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Activation::GeluTanh,
            "relu" => Activation::Relu,
            other => bail!("hidden_act {other:?} is not supported (gelu, gelu_new, relu)"),
        };
        if raw.hidden_size == 0
            || raw.num_attention_heads == 0
            || !raw.hidden_size.is_multiple_of(raw.num_attention_heads)
        {
            bail!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                raw.hidden_size,
                raw.num_attention_heads
            );
        }
        let pad_token_id = raw.pad_token_id.unwrap_or(1);
        if pad_token_id + 1 >= raw.max_position_embeddings {
            bail!(
                "max_position_embeddings {} leaves no positions after padding",
                raw.max_position_embeddings
            );
        }
        let mut labels = Vec::new();
        for (i, (key, name)) in raw
            .id2label
            .iter()
            .map(|(k, v)| (k.parse::<usize>().ok(), v))
            .collect::<BTreeMap<_, _>>()
            .into_iter()
            .enumerate()
        {
            if key != Some(i) {
                bail!("id2label keys must be 0..{}, found {key:?}", raw.id2label.len());
            }
            labels.push(name.clone());
        }
        Ok(Self {
            head,
            vocab_size: raw.vocab_size,
            entity_vocab_size: raw.entity_vocab_size,
            hidden_size: raw.hidden_size,
            entity_emb_size: raw.entity_emb_size,
            num_hidden_layers: raw.num_hidden_layers,
            num_attention_heads: raw.num_attention_heads,
            intermediate_size: raw.intermediate_size,
            activation,
            max_position_embeddings: raw.max_position_embeddings,
            type_vocab_size: raw.type_vocab_size,
            layer_norm_eps: raw.layer_norm_eps as f32,
            use_entity_aware_attention: raw.use_entity_aware_attention,
            pad_token_id,
            labels,
            multi_label: raw.problem_type.as_deref() == Some("multi_label_classification"),
        })
    }

    pub fn head_size(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// Longest word sequence the position table admits (RoBERTa positions start after padding).
    pub fn max_words(&self) -> usize {
        self.max_position_embeddings - self.pad_token_id - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_transformers_luke_base() {
        let c = LukeConfig::from_json(r#"{"model_type": "luke"}"#).unwrap();
        assert_eq!((c.hidden_size, c.entity_emb_size, c.num_hidden_layers), (768, 256, 12));
        assert_eq!((c.vocab_size, c.max_words(), c.head), (50267, 510, HeadKind::Base));
        assert!(c.use_entity_aware_attention);
    }

    #[test]
    fn unknown_architecture_and_bad_labels_are_errors() {
        let e = LukeConfig::from_json(r#"{"architectures": ["LukeForPoetry"]}"#).unwrap_err();
        assert!(format!("{e:#}").contains("LukeForPoetry"));
        let e = LukeConfig::from_json(r#"{"model_type": "bert"}"#).unwrap_err();
        assert!(format!("{e:#}").contains("bert"));
        let e = LukeConfig::from_json(r#"{"id2label": {"0": "a", "2": "b"}}"#).unwrap_err();
        assert!(format!("{e:#}").contains("id2label"));
        let c = LukeConfig::from_json(r#"{"id2label": {"1": "b", "0": "a", "10": "k", "2": "c", "3": "d", "4": "e", "5": "f", "6": "g", "7": "h", "8": "i", "9": "j"}}"#).unwrap();
        assert_eq!(c.labels[10], "k");
        assert_eq!(c.labels[2], "c");
    }
}
