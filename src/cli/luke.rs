//! `tsumugi luke …`: the flags of the LUKE commands, each command naming the head it runs,
//! resolved into the library's [`LukeJob`].

use super::flags::DeviceArg;
use anyhow::Result;
use clap::{Args, Subcommand};
use std::path::PathBuf;
use tsumugi::luke::config::HeadKind;
use tsumugi::tasks::luke::input::{parse_span, Example, Label};
use tsumugi::tasks::luke::LukeJob;

#[derive(Debug, Subcommand)]
pub enum LukeCommand {
    /// Types one entity mention (LukeForEntityClassification, e.g. luke-large-finetuned-open-entity).
    /// The span is wrapped in <ent> markers, as the model was fine-tuned.
    ClassifyEntity(LukeArgs),
    /// The relation between a head and a tail span (LukeForEntityPairClassification, e.g.
    /// luke-large-finetuned-tacred): `--span 0:3 --span 15:29`, head first.
    ClassifyPair(LukeArgs),
    /// A label for every span (LukeForEntitySpanClassification, e.g. luke-large-finetuned-conll-2003).
    ClassifySpans(LukeArgs),
    /// A label for the whole text (LukeForSequenceClassification); spans are optional.
    Classify(LukeArgs),
    /// Picks the best `--choice` for the text (LukeForMultipleChoice, e.g. JCommonsenseQA).
    Choose(LukeArgs),
    /// Word and entity hidden states (any LUKE checkpoint).
    Encode(LukeArgs),
}

#[derive(Debug, Args)]
pub struct LukeArgs {
    /// Checkpoint directory as published: config.json, model.safetensors or pytorch_model.bin,
    /// tokenizer.json or vocab.json + merges.txt (LUKE) or sentencepiece.bpe.model (mLUKE,
    /// luke-japanese), entity_vocab.json.
    #[arg(long)]
    pub model: PathBuf,
    /// The text to run on.
    #[arg(long, required_unless_present = "input", conflicts_with = "input")]
    pub text: Option<String>,
    /// A second text (classify, encode): `<s> text </s></s> pair </s>`, as sentence-pair heads
    /// (JNLI, JSTS) and the multiple-choice rows read it; no spans then.
    #[arg(long, conflicts_with = "input")]
    pub pair: Option<String>,
    /// An entity span as START:END character offsets (Python string indices); repeat for more.
    #[arg(long = "span", value_parser = parse_span)]
    pub spans: Vec<(usize, usize)>,
    /// Entity name (entity_vocab.json title) for each --span, in order (classify, encode).
    #[arg(long = "entity")]
    pub entities: Vec<String>,
    /// An answer candidate for `choose`; repeat for each.
    #[arg(long = "choice")]
    pub choices: Vec<String>,
    /// The right answer: a choice's index (choose), or a label's name or index (classify,
    /// classify-entity, classify-pair); the output then says whether the prediction was right.
    #[arg(long, conflicts_with = "input")]
    pub label: Option<String>,
    /// JSONL file, one {"text", "pair", "spans", "entities", "choices", "label"} object per line
    /// (or JCommonsenseQA rows for `choose`); prints one JSON line per example, and the
    /// accuracy over the labelled ones.
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Print JSON (label, logits, probabilities; hidden states for encode).
    #[arg(long)]
    pub json: bool,
    /// Examples per forward pass with --input.
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
    /// encode: every layer's hidden states (embeddings first), not only the last.
    #[arg(long)]
    pub all_layers: bool,
    /// Labels are independent (Open Entity typing): a sigmoid per label, and every label with
    /// probability above 0.5 is predicted. On by default when config.json says
    /// `problem_type: multi_label_classification`.
    #[arg(long)]
    pub multi_label: bool,
    /// Where the encoder runs: cpu, or cuda (a build with the `cuda` feature); the heads run on
    /// the CPU.
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    pub device: DeviceArg,
}

impl LukeCommand {
    /// The library's job for this command: the head it expects and its resolved options.
    pub fn job(self) -> LukeJob {
        let (a, head) = match self {
            Self::ClassifyEntity(a) => (a, Some(HeadKind::EntityClassification)),
            Self::ClassifyPair(a) => (a, Some(HeadKind::EntityPairClassification)),
            Self::ClassifySpans(a) => (a, Some(HeadKind::EntitySpanClassification)),
            Self::Classify(a) => (a, Some(HeadKind::SequenceClassification)),
            Self::Choose(a) => (a, Some(HeadKind::MultipleChoice)),
            Self::Encode(a) => (a, None),
        };
        LukeJob {
            head,
            model: a.model,
            input: a.input,
            example: Example {
                text: a.text.unwrap_or_default(),
                pair: a.pair,
                spans: a.spans,
                entities: (!a.entities.is_empty()).then_some(a.entities),
                choices: a.choices,
                label: a.label.map(|l| match l.parse() {
                    Ok(index) => Label::Index(index),
                    Err(_) => Label::Name(l),
                }),
            },
            json: a.json,
            batch_size: a.batch_size,
            all_layers: a.all_layers,
            multi_label: a.multi_label,
            device: a.device.into(),
        }
    }
}

pub fn run(cmd: LukeCommand) -> Result<()> {
    tsumugi::tasks::luke::run(&cmd.job())
}
