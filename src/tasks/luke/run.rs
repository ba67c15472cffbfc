//! The `luke` subcommands: load a checkpoint, encode the examples for the command's task,
//! run them in padded batches, and hand the results to [`super::output`].

use super::input::{read_jsonl, Example, Label};
use super::output::{self, Outcome};
use crate::compute::dispatch::{self, OnBackend};
use crate::compute::{Backend, Device};
use crate::luke::batch::Batch;
use crate::luke::config::HeadKind;
use crate::luke::heads::LukeCheckpoint;
use crate::luke::tokenizer::{Encoding, LukeTokenizer, Task};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;

/// One `luke` invocation, resolved: which head the command expects (none for `encode`), the
/// checkpoint, and the examples (one from the command line, or a JSONL file).
#[derive(Debug, Clone)]
pub struct LukeJob {
    /// The head the command runs; `None` for `encode` (hidden states of any checkpoint).
    pub head: Option<HeadKind>,
    /// Checkpoint directory as published.
    pub model: PathBuf,
    /// A JSONL file of examples, or `None` for [`LukeJob::example`].
    pub input: Option<PathBuf>,
    /// The one example given on the command line (when there is no `input`).
    pub example: Example,
    pub json: bool,
    pub batch_size: usize,
    /// Every layer's hidden states (encode).
    pub all_layers: bool,
    /// A sigmoid per label (also on when the checkpoint's config says so).
    pub multi_label: bool,
    pub device: Device,
}

/// The command that runs a checkpoint with `kind`'s head.
fn command_for(kind: HeadKind) -> &'static str {
    match kind {
        HeadKind::EntityClassification => "tsumugi luke classify-entity",
        HeadKind::EntityPairClassification => "tsumugi luke classify-pair",
        HeadKind::EntitySpanClassification => "tsumugi luke classify-spans",
        HeadKind::SequenceClassification => "tsumugi luke classify",
        HeadKind::MultipleChoice => "tsumugi luke choose",
        HeadKind::Base => "tsumugi luke encode",
    }
}

/// The tokenizer task each head was fine-tuned with.
fn task_for(head: Option<HeadKind>, tok: &LukeTokenizer) -> Task {
    match head {
        Some(HeadKind::EntityClassification) => Task::EntityClassification,
        Some(HeadKind::EntityPairClassification) => Task::EntityPairClassification,
        Some(HeadKind::EntitySpanClassification) => Task::EntitySpanClassification,
        Some(_) => Task::Plain,
        None => tok.configured_task.unwrap_or(Task::Plain),
    }
}

pub fn run(job: &LukeJob) -> Result<()> {
    if job.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    dispatch::check(job.device)?;
    dispatch::on_device(job.device, Run(job))
}

/// The command's work on the device its job names.
struct Run<'a>(&'a LukeJob);

impl OnBackend for Run<'_> {
    type Output = ();

    fn run<B: Backend>(self, be: &B) -> Result<()> {
        run_on(be, self.0)
    }
}

fn run_on<B: Backend>(be: &B, job: &LukeJob) -> Result<()> {
    let (args, head) = (job, job.head);
    let ckpt = LukeCheckpoint::load(be, &args.model)?;
    let multi_label = args.multi_label || ckpt.model.config.multi_label;
    if args.multi_label && matches!(head, None | Some(HeadKind::MultipleChoice)) {
        bail!("--multi-label applies to the classify commands, not to choose or encode");
    }
    if let Some(want) = head {
        if ckpt.kind != want {
            bail!(
                "{} holds a {}, not a {}: run it with `{}`",
                args.model.display(),
                ckpt.kind.name(),
                want.name(),
                command_for(ckpt.kind)
            );
        }
    }
    let tok = LukeTokenizer::from_dir(&args.model)?;
    let task = task_for(head, &tok);
    let examples: Vec<(String, Example)> = match &args.input {
        Some(path) => read_jsonl(path)?
            .into_iter()
            .map(|(line, ex)| (format!("{}:{line}", path.display()), ex))
            .collect(),
        None => vec![("--text".to_string(), args.example.clone())],
    };
    check_labels(head, multi_label, &examples)?;
    let outcomes = if head == Some(HeadKind::MultipleChoice) {
        choose(be, &ckpt, &tok, &examples)?
    } else {
        classify(be, &ckpt, &tok, task, &examples, args, head.is_some())?
    };
    let style = output::Style {
        encode: head.is_none(),
        json: args.json,
        lines: args.input.is_some(),
        multi_label,
    };
    output::print(&outcomes, &ckpt, style)
}

/// Gold labels are scored for one label per text (classify, classify-entity, classify-pair)
/// and for `choose` (which checks them against its choices): not for `encode`, per-span
/// labelling, or independent (multi-label) labels.
fn check_labels(head: Option<HeadKind>, multi_label: bool, examples: &[(String, Example)]) -> Result<()> {
    let Some((place, _)) = examples.iter().find(|(_, ex)| ex.label.is_some()) else {
        return Ok(());
    };
    match head {
        None => bail!("{place}: `luke encode` predicts nothing, so it takes no label"),
        Some(HeadKind::EntitySpanClassification) => {
            bail!("{place}: `luke classify-spans` labels every span, so one label per line cannot be scored")
        }
        Some(HeadKind::MultipleChoice) => Ok(()),
        Some(_) if multi_label => {
            bail!("{place}: with independent labels (--multi-label) one gold label cannot be scored")
        }
        Some(_) => Ok(()),
    }
}

/// A sentence pair, for the heads that read one (no entities, no markers).
fn encode_pair(tok: &LukeTokenizer, task: Task, max_words: usize, ex: &Example, pair: &str) -> Result<Encoding> {
    if task != Task::Plain {
        bail!("a pair of texts applies to `luke classify` and `luke encode`");
    }
    if !ex.spans.is_empty() || ex.entities.is_some() {
        bail!("a pair of texts takes no spans or entity names");
    }
    if ex.text.trim().is_empty() || pair.trim().is_empty() {
        bail!("both texts of a pair must be non-empty");
    }
    tok.encode_pair(&ex.text, pair, max_words)
}

/// Encodes every example first, so a bad one stops the run before anything is printed.
/// With `encode`, entity names are taken on any checkpoint: they replace its task's [MASK]
/// entities, so the text is encoded as a plain task.
fn encode_all(
    tok: &LukeTokenizer,
    task: Task,
    encode: bool,
    max_words: usize,
    examples: &[(String, Example)],
) -> Result<Vec<Encoding>> {
    examples
        .iter()
        .map(|(place, ex)| {
            if !ex.choices.is_empty() {
                bail!("{place}: choices are only for `luke choose`");
            }
            let task = if encode && ex.entities.is_some() {
                Task::Plain
            } else {
                task
            };
            if ex.entities.is_some() && task != Task::Plain {
                bail!(
                    "{place}: entity names apply to `luke classify` and `luke encode`; this head uses [MASK] entities"
                );
            }
            let enc = match &ex.pair {
                Some(pair) => encode_pair(tok, task, max_words, ex, pair).with_context(|| place.clone())?,
                None => tok
                    .encode(&ex.text, &ex.spans, ex.entities.as_deref(), task, max_words)
                    .with_context(|| place.clone())?,
            };
            if enc.truncated_tokens > 0 {
                eprintln!(
                    "warning: {place}: text cut by {} tokens to fit the position table ({max_words} tokens){}",
                    enc.truncated_tokens,
                    if enc.dropped_entities > 0 {
                        format!("; {} span(s) past the cut dropped", enc.dropped_entities)
                    } else {
                        String::new()
                    }
                );
            }
            if enc.entity_ids.len() < task.entities_needed().unwrap_or(0) {
                bail!("{place}: a span lies past the part of the text the model can read ({max_words} tokens)");
            }
            Ok(enc)
        })
        .collect()
}

fn classify<B: Backend>(
    be: &B,
    ckpt: &LukeCheckpoint<B>,
    tok: &LukeTokenizer,
    task: Task,
    examples: &[(String, Example)],
    args: &LukeJob,
    want_logits: bool,
) -> Result<Vec<Outcome>> {
    let encodings = encode_all(tok, task, !want_logits, ckpt.model.config.max_words(), examples)?;
    let gold = examples
        .iter()
        .map(|(place, ex)| {
            ex.label
                .as_ref()
                .map(|l| l.resolve(&ckpt.labels).with_context(|| place.clone()))
                .transpose()
        })
        .collect::<Result<Vec<_>>>()?;
    let mut outcomes = Vec::with_capacity(examples.len());
    for (chunk, exs) in encodings.chunks(args.batch_size).zip(examples.chunks(args.batch_size)) {
        let refs: Vec<&Encoding> = chunk.iter().collect();
        let batch = Batch::new(&refs, tok.pad, tok.entity_pad);
        let out = ckpt.model.forward(be, &batch, args.all_layers)?;
        let logits = if !want_logits {
            vec![Vec::new(); chunk.len()]
        } else {
            ckpt.logits(&out, &batch, &refs)?
        };
        for (b, ((enc, (_, ex)), logits)) in chunk.iter().zip(exs).zip(logits).enumerate() {
            let mut outcome = Outcome::from_batch(ex, enc, logits, &out, &batch, b);
            outcome.label = gold[outcomes.len()];
            outcomes.push(outcome);
        }
    }
    Ok(outcomes)
}

/// Multiple choice: each example's (text, choice) pairs form one batch.
fn choose<B: Backend>(
    be: &B,
    ckpt: &LukeCheckpoint<B>,
    tok: &LukeTokenizer,
    examples: &[(String, Example)],
) -> Result<Vec<Outcome>> {
    let max_words = ckpt.model.config.max_words();
    let mut outcomes = Vec::new();
    for (place, ex) in examples {
        if ex.choices.len() < 2 {
            bail!("{place}: give at least two --choice values");
        }
        let label = match &ex.label {
            None => None,
            Some(Label::Index(l)) if *l >= ex.choices.len() => {
                bail!("{place}: label {l} but only {} choices", ex.choices.len())
            }
            Some(l) => Some(l.resolve(&ex.choices).with_context(|| place.clone())?),
        };
        if let Some(k) = ex.choices.iter().position(|c| c.trim().is_empty()) {
            bail!("{place}: choice {k} is empty");
        }
        if !ex.spans.is_empty() || ex.pair.is_some() {
            bail!("{place}: `luke choose` takes no spans and no pair: give the answers as --choice");
        }
        let encs: Vec<Encoding> = ex
            .choices
            .iter()
            .map(|c| tok.encode_pair(&ex.text, c, max_words))
            .collect::<Result<_>>()
            .with_context(|| place.clone())?;
        let refs: Vec<&Encoding> = encs.iter().collect();
        let batch = Batch::new(&refs, tok.pad, tok.entity_pad);
        let out = ckpt.model.forward(be, &batch, false)?;
        let logits = ckpt.logits(&out, &batch, &refs)?.remove(0);
        outcomes.push(Outcome::choice(ex, label, logits));
    }
    Ok(outcomes)
}
