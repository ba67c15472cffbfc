//! transformers' `LukeTokenizer` (RoBERTa byte-level BPE) and `MLukeTokenizer` (SentencePiece
//! with fairseq ids): word ids from `luke::words`, entity ids and mention positions from
//! character-offset spans, and the task modes that insert `<ent>`/`<ent2>` markers.
//!
//! Spans are character offsets (Python string indices), as the LUKE articles write them. The text
//! is cut at every span boundary and each piece tokenized on its own (a space before a boundary
//! stays with the following piece), so a mention always starts and ends on a token boundary.

use super::words::WordTokenizer;
use crate::data::json::{ids_by_name, read_json};
use anyhow::{anyhow, bail, Result};
use std::collections::HashMap;
use std::path::Path;

/// How the entity spans of one text become model inputs (transformers' `task`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// Spans become `[MASK]` entities (or named entities); no markers.
    Plain,
    /// One span, wrapped in `<ent>` markers; entity `[MASK]`.
    EntityClassification,
    /// Head and tail spans wrapped in `<ent>` and `<ent2>`; entities `[MASK]`, `[MASK2]`.
    EntityPairClassification,
    /// Every span a `[MASK]` entity, plus start/end token positions for the head.
    EntitySpanClassification,
}

impl Task {
    /// The fixed number of entities a task's head reads (`<ent>` one, `<ent>`/`<ent2>` two).
    pub fn entities_needed(self) -> Option<usize> {
        match self {
            Task::EntityClassification => Some(1),
            Task::EntityPairClassification => Some(2),
            Task::Plain | Task::EntitySpanClassification => None,
        }
    }
}

/// A character range `[start, end)` in the text.
pub type CharSpan = (usize, usize);
/// A word-token range `[start, end)`.
pub type TokenSpan = (usize, usize);

/// Model inputs for one text (or text pair), before batching.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Encoding {
    pub input_ids: Vec<u32>,
    pub entity_ids: Vec<u32>,
    /// `[entities][max_mention_length]` word positions of each mention, −1 padded.
    pub entity_position_ids: Vec<Vec<i64>>,
    pub entity_start_positions: Vec<usize>,
    pub entity_end_positions: Vec<usize>,
    /// Word tokens cut to fit the position table.
    pub truncated_tokens: usize,
    /// Entities dropped because truncation cut their mention.
    pub dropped_entities: usize,
    /// Index into the given spans of each entity kept.
    pub kept_spans: Vec<usize>,
}

pub struct LukeTokenizer {
    words: WordTokenizer,
    cls: u32,
    sep: u32,
    pub pad: u32,
    entity_1: u32,
    entity_2: u32,
    entity_vocab: HashMap<String, u32>,
    entity_unk: u32,
    pub entity_pad: u32,
    entity_mask: u32,
    entity_mask2: u32,
    max_mention_length: usize,
    pub max_entity_length: usize,
    /// `task` from tokenizer_config.json, if it names one.
    pub configured_task: Option<Task>,
}

fn str_key<'a>(cfg: &'a serde_json::Value, key: &str, default: &'a str) -> &'a str {
    match cfg.get(key) {
        Some(serde_json::Value::String(s)) => s,
        Some(serde_json::Value::Object(o)) => o.get("content").and_then(|c| c.as_str()).unwrap_or(default),
        _ => default,
    }
}

impl LukeTokenizer {
    /// Reads `tokenizer.json`, or `vocab.json` + `merges.txt` (+ `added_tokens.json`), or
    /// `sentencepiece.bpe.model`, and the entity vocabulary from `entity_vocab.json` or `tokenizer_config.json`.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let cfg_path = dir.join("tokenizer_config.json");
        let cfg = if cfg_path.is_file() {
            read_json(&cfg_path)?
        } else {
            serde_json::json!({})
        };
        let entity_tokens = [
            str_key(&cfg, "entity_token_1", "<ent>"),
            str_key(&cfg, "entity_token_2", "<ent2>"),
        ];
        let words = WordTokenizer::load(dir, &cfg, entity_tokens)?;
        let id = |token: &str| {
            words
                .token_to_id(token)
                .ok_or_else(|| anyhow!("{}: the word vocabulary has no {token:?}", dir.display()))
        };
        let cls = id(str_key(&cfg, "cls_token", "<s>"))?;
        let sep = id(str_key(&cfg, "sep_token", "</s>"))?;
        let pad = id(str_key(&cfg, "pad_token", "<pad>"))?;
        let entity_1 = id(entity_tokens[0])?;
        let entity_2 = id(entity_tokens[1])?;

        let entity_vocab = load_entity_vocab(dir, &cfg)?;
        let entity_id = |key: &str, default: &str| {
            let name = str_key(&cfg, key, default);
            entity_vocab
                .get(name)
                .copied()
                .ok_or_else(|| anyhow!("{}: the entity vocabulary has no {name:?}", dir.display()))
        };
        let configured_task = match cfg.get("task").and_then(|t| t.as_str()) {
            None => None,
            Some("entity_classification") => Some(Task::EntityClassification),
            Some("entity_pair_classification") => Some(Task::EntityPairClassification),
            Some("entity_span_classification") => Some(Task::EntitySpanClassification),
            Some(other) => bail!("{}: unknown task {other:?}", cfg_path.display()),
        };
        let usize_key =
            |key: &str, default: usize| cfg.get(key).and_then(|v| v.as_u64()).map_or(default, |v| v as usize);
        Ok(Self {
            cls,
            sep,
            pad,
            entity_1,
            entity_2,
            entity_unk: entity_id("entity_unk_token", "[UNK]")?,
            entity_pad: entity_id("entity_pad_token", "[PAD]")?,
            entity_mask: entity_id("entity_mask_token", "[MASK]")?,
            entity_mask2: entity_id("entity_mask2_token", "[MASK2]")?,
            entity_vocab,
            max_mention_length: usize_key("max_mention_length", 30),
            max_entity_length: usize_key("max_entity_length", 32),
            configured_task,
            words,
        })
    }

    /// Word ids with each span's token range, cutting the text at span boundaries.
    fn ids_and_token_spans(&self, text: &str, spans: &[CharSpan]) -> Result<(Vec<u32>, Vec<TokenSpan>)> {
        let chars: Vec<(usize, char)> = text.char_indices().collect();
        let byte_at = |c: usize| chars.get(c).map_or(text.len(), |&(b, _)| b);
        let mut cuts: Vec<usize> = spans.iter().flat_map(|&(s, e)| [s, e]).collect();
        cuts.sort_unstable();
        cuts.dedup();
        let mut ids = Vec::new();
        let mut cur = 0;
        let mut token_at: HashMap<usize, usize> = HashMap::new();
        for &cut in &cuts {
            let mut split = cut;
            if split > 0 && chars[split - 1].1 == ' ' {
                split -= 1;
            }
            if cur != split {
                ids.extend(self.words.encode(&text[byte_at(cur)..byte_at(split)])?);
                cur = split;
            }
            token_at.insert(cut, ids.len());
        }
        ids.extend(self.words.encode(&text[byte_at(cur)..])?);
        let token_spans = spans.iter().map(|(s, e)| (token_at[s], token_at[e])).collect();
        Ok((ids, token_spans))
    }

    /// Encodes `text` with entity `spans` (and optional entity names) for `task`; the word
    /// sequence is cut to `max_words` (special tokens included).
    pub fn encode(
        &self,
        text: &str,
        spans: &[CharSpan],
        entities: Option<&[String]>,
        task: Task,
        max_words: usize,
    ) -> Result<Encoding> {
        check_spans(text, spans, task)?;
        if spans.len() > self.max_entity_length {
            bail!(
                "{} spans given but the tokenizer allows {} entities (max_entity_length)",
                spans.len(),
                self.max_entity_length
            );
        }
        if let Some(names) = entities {
            if names.len() != spans.len() {
                bail!(
                    "{} entity names for {} spans: give one name per span",
                    names.len(),
                    spans.len()
                );
            }
        }
        let (mut ids, mut token_spans) = self.ids_and_token_spans(text, spans)?;
        let entity_ids: Vec<u32> = match task {
            Task::Plain => match entities {
                Some(names) => names
                    .iter()
                    .map(|n| *self.entity_vocab.get(n).unwrap_or(&self.entity_unk))
                    .collect(),
                None => vec![self.entity_mask; spans.len()],
            },
            Task::EntityClassification => {
                let (s, e) = token_spans[0];
                ids.insert(e, self.entity_1);
                ids.insert(s, self.entity_1);
                token_spans[0] = (s, e + 2);
                vec![self.entity_mask]
            }
            Task::EntityPairClassification => {
                let ((hs, he), (ts, te)) = (token_spans[0], token_spans[1]);
                // Insert markers from the rightmost span leftwards so earlier positions hold.
                let mut marked = [((hs, he), self.entity_1), ((ts, te), self.entity_2)];
                if hs < ts {
                    token_spans = vec![(hs, he + 2), (ts + 2, te + 4)];
                    marked.reverse();
                } else {
                    token_spans = vec![(hs + 2, he + 4), (ts, te + 2)];
                }
                for ((s, e), marker) in marked {
                    ids.insert(e, marker);
                    ids.insert(s, marker);
                }
                vec![self.entity_mask, self.entity_mask2]
            }
            Task::EntitySpanClassification => vec![self.entity_mask; spans.len()],
        };
        let room = max_words.saturating_sub(2);
        let truncated_tokens = ids.len().saturating_sub(room);
        ids.truncate(room);
        let mut kept_ids = Vec::new();
        let mut kept_token_spans = Vec::new();
        let mut kept_spans = Vec::new();
        for (i, (id, span)) in entity_ids.into_iter().zip(token_spans).enumerate() {
            if span.1 <= ids.len() {
                kept_ids.push(id);
                kept_token_spans.push(span);
                kept_spans.push(i);
            }
        }
        let dropped_entities = spans.len() - kept_ids.len();
        let mut enc = Encoding {
            input_ids: [vec![self.cls], ids, vec![self.sep]].concat(),
            entity_ids: kept_ids,
            truncated_tokens,
            dropped_entities,
            kept_spans,
            ..Default::default()
        };
        for (s, e) in kept_token_spans {
            let (s, e) = (s + 1, e + 1); // after <s>
            let mut positions: Vec<i64> = (s..e).take(self.max_mention_length).map(|p| p as i64).collect();
            positions.resize(self.max_mention_length, -1);
            enc.entity_position_ids.push(positions);
            enc.entity_start_positions.push(s);
            enc.entity_end_positions.push(e - 1);
        }
        Ok(enc)
    }

    /// `<s> first </s></s> second </s>` with no entities (multiple choice), longest-first
    /// truncation to `max_words` as transformers does it.
    pub fn encode_pair(&self, first: &str, second: &str, max_words: usize) -> Result<Encoding> {
        let (mut a, mut b) = (self.words.encode(first)?, self.words.encode(second)?);
        let excess = (a.len() + b.len() + 4).saturating_sub(max_words);
        if excess > 0 {
            let first_remove = a.len().abs_diff(b.len()).min(excess);
            let second_remove = excess - first_remove;
            let (from_a, from_b) = if a.len() > b.len() {
                (first_remove + second_remove / 2, second_remove - second_remove / 2)
            } else {
                (second_remove / 2, first_remove + second_remove - second_remove / 2)
            };
            if from_a > a.len() || from_b > b.len() {
                bail!("the pair cannot be cut to {max_words} tokens");
            }
            a.truncate(a.len() - from_a);
            b.truncate(b.len() - from_b);
        }
        Ok(Encoding {
            input_ids: [vec![self.cls], a, vec![self.sep, self.sep], b, vec![self.sep]].concat(),
            truncated_tokens: excess,
            ..Default::default()
        })
    }
}

/// Spans must lie inside the text, be non-empty, and match what the task needs.
fn check_spans(text: &str, spans: &[CharSpan], task: Task) -> Result<()> {
    let len = text.chars().count();
    if text.trim().is_empty() {
        bail!("the text is empty");
    }
    for &(s, e) in spans {
        if s >= e || e > len {
            bail!("span {s}:{e} is not a non-empty range inside the text (0..{len} characters)");
        }
    }
    if task == Task::EntitySpanClassification && spans.is_empty() {
        bail!("entity span classification needs at least one span");
    }
    if let Some(n) = task.entities_needed() {
        if spans.len() != n {
            bail!("this task needs exactly {n} span(s), {} given", spans.len());
        }
    }
    if task == Task::EntityPairClassification {
        let ((hs, he), (ts, te)) = (spans[0], spans[1]);
        if hs < te && ts < he {
            bail!("head span {hs}:{he} and tail span {ts}:{te} overlap; the markers need disjoint spans");
        }
    }
    Ok(())
}

fn load_entity_vocab(dir: &Path, cfg: &serde_json::Value) -> Result<HashMap<String, u32>> {
    let path = dir.join("entity_vocab.json");
    if path.is_file() {
        return Ok(ids_by_name(&read_json(&path)?, &path, "entity vocabulary")?
            .into_iter()
            .collect());
    }
    match cfg.get("entity_vocab").filter(|v| v.is_object()) {
        Some(v) => Ok(ids_by_name(v, &dir.join("tokenizer_config.json"), "entity vocabulary")?
            .into_iter()
            .collect()),
        None => bail!(
            "{}: no entity_vocab.json and no entity_vocab in tokenizer_config.json",
            dir.display()
        ),
    }
}
