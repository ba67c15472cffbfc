//! What the `luke` commands print: a short human summary, or JSON (pretty for one example,
//! one line per example with `--input`).

use super::input::Example;
use crate::compute::Backend;
use crate::luke::batch::Batch;
use crate::luke::config::HeadKind;
use crate::luke::heads::LukeCheckpoint;
use crate::luke::model::LukeOutput;
use crate::luke::tokenizer::Encoding;
use crate::train::metrics::argmax_rows;
use anyhow::Result;
use serde_json::{json, Value};

/// One example's result.
pub struct Outcome {
    pub text: String,
    pub spans: Vec<(usize, usize)>,
    /// Spans whose entity the model saw (truncation can drop some).
    pub kept_spans: Vec<usize>,
    pub choices: Vec<String>,
    /// The right choice or label, when the input says.
    pub label: Option<usize>,
    /// Flattened logits (`[spans, labels]` for span classification).
    pub logits: Vec<f32>,
    pub input_ids: Vec<u32>,
    pub entity_ids: Vec<u32>,
    /// Per layer (only the last unless every layer was asked for): `[tokens][H]`.
    pub word_hidden: Vec<Vec<Vec<f32>>>,
    pub entity_hidden: Vec<Vec<Vec<f32>>>,
    pub pooled: Option<Vec<f32>>,
}

fn rows(block: &[f32], start: usize, count: usize, h: usize) -> Vec<Vec<f32>> {
    (start..start + count)
        .map(|r| block[r * h..(r + 1) * h].to_vec())
        .collect()
}

impl Outcome {
    /// Cuts example `b` out of a batch's outputs (padding rows left behind).
    pub fn from_batch(
        ex: &Example,
        enc: &Encoding,
        logits: Vec<f32>,
        out: &LukeOutput,
        batch: &Batch,
        b: usize,
    ) -> Self {
        let h = out.word_hidden.len() / (batch.size * batch.words).max(1);
        let (nw, ne) = (enc.input_ids.len(), enc.entity_ids.len());
        let layers = |all: &[Vec<f32>], last: &[f32], per_seq: usize, n: usize| {
            if all.is_empty() {
                vec![rows(last, b * per_seq, n, h)]
            } else {
                all.iter().map(|l| rows(l, b * per_seq, n, h)).collect()
            }
        };
        Self {
            text: ex.text.clone(),
            spans: ex.spans.clone(),
            kept_spans: enc.kept_spans.clone(),
            choices: Vec::new(),
            label: None,
            logits,
            input_ids: enc.input_ids.clone(),
            entity_ids: enc.entity_ids.clone(),
            word_hidden: layers(&out.all_word_hidden, &out.word_hidden, batch.words, nw),
            entity_hidden: layers(&out.all_entity_hidden, &out.entity_hidden, batch.entities, ne),
            pooled: out.pooled.as_ref().map(|p| p[b * h..(b + 1) * h].to_vec()),
        }
    }

    pub fn choice(ex: &Example, label: Option<usize>, logits: Vec<f32>) -> Self {
        Self {
            text: ex.text.clone(),
            spans: Vec::new(),
            kept_spans: Vec::new(),
            choices: ex.choices.clone(),
            label,
            logits,
            input_ids: Vec::new(),
            entity_ids: Vec::new(),
            word_hidden: Vec::new(),
            entity_hidden: Vec::new(),
            pooled: None,
        }
    }
}

/// How to print: hidden states (`encode`), JSON, one JSON line per example, and whether labels
/// are independent (sigmoid each) or exclusive (softmax).
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub encode: bool,
    pub json: bool,
    pub lines: bool,
    pub multi_label: bool,
}

/// Probability of each label: softmax over the row, or a sigmoid each for multi-label heads.
fn probabilities(logits: &[f32], multi_label: bool) -> Vec<f64> {
    if multi_label {
        logits.iter().map(|&x| 1.0 / (1.0 + (-(x as f64)).exp())).collect()
    } else {
        softmax(logits)
    }
}

/// Softmax of one row of logits, in f64 for the printout.
pub fn softmax(logits: &[f32]) -> Vec<f64> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let exps: Vec<f64> = logits.iter().map(|&x| (x as f64 - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.iter().map(|e| e / sum).collect()
}

/// Index of the largest logit (first on ties); 0 for no logits.
fn argmax(x: &[f32]) -> usize {
    argmax_rows(x, x.len().max(1)).first().map_or(0, |&i| i as usize)
}

fn mention(text: &str, (s, e): (usize, usize)) -> String {
    text.chars().skip(s).take(e - s).collect()
}

/// A labelled prediction from one row of logits: the best label, or with `multi_label` every
/// label whose sigmoid passes 0.5 (logit > 0).
fn prediction(labels: &[String], logits: &[f32], multi_label: bool) -> Value {
    let p = probabilities(logits, multi_label);
    if multi_label {
        let chosen: Vec<usize> = (0..logits.len()).filter(|&i| logits[i] > 0.0).collect();
        let names: Vec<&String> = chosen.iter().map(|&i| &labels[i]).collect();
        return json!({"predicted": names, "indices": chosen, "logits": logits, "probabilities": p});
    }
    let best = argmax(logits);
    json!({"label": labels[best], "index": best, "logits": logits, "probabilities": p})
}

fn to_json<B: Backend>(o: &Outcome, ckpt: &LukeCheckpoint<B>, style: Style) -> Value {
    let labels = &ckpt.labels;
    if style.encode {
        let mut v = json!({
            "text": o.text, "spans": o.spans, "input_ids": o.input_ids, "entity_ids": o.entity_ids,
        });
        if o.word_hidden.len() == 1 {
            v["word_hidden_state"] = json!(o.word_hidden[0]);
            v["entity_hidden_state"] = json!(o.entity_hidden[0]);
        } else {
            v["word_hidden_states"] = json!(o.word_hidden);
            v["entity_hidden_states"] = json!(o.entity_hidden);
        }
        if let Some(p) = &o.pooled {
            v["pooled"] = json!(p);
        }
        return v;
    }
    match ckpt.kind {
        HeadKind::MultipleChoice => {
            let best = argmax(&o.logits);
            let mut v = json!({"text": o.text, "choices": o.choices, "choice": best, "answer": o.choices[best],
                   "logits": o.logits, "probabilities": softmax(&o.logits)});
            if let Some(label) = o.label {
                v["label"] = json!(label);
                v["correct"] = json!(label == best);
            }
            v
        }
        HeadKind::EntitySpanClassification => {
            let per_span: Vec<Value> = o
                .kept_spans
                .iter()
                .zip(o.logits.chunks_exact(labels.len()))
                .map(|(&i, row)| {
                    let mut v = prediction(labels, row, style.multi_label);
                    v["span"] = json!(o.spans[i]);
                    v["mention"] = json!(mention(&o.text, o.spans[i]));
                    v
                })
                .collect();
            let dropped: Vec<(usize, usize)> = (0..o.spans.len())
                .filter(|i| !o.kept_spans.contains(i))
                .map(|i| o.spans[i])
                .collect();
            json!({"text": o.text, "labels": labels, "spans": per_span, "dropped_spans": dropped})
        }
        _ => {
            let mut v = prediction(labels, &o.logits, style.multi_label);
            v["text"] = json!(o.text);
            v["spans"] = json!(o.spans);
            if !o.spans.is_empty() {
                v["mentions"] = json!(mentions(o));
            }
            v["labels"] = json!(labels);
            if let Some(gold) = o.label {
                v["gold"] = json!(labels[gold]);
                v["correct"] = json!(gold == argmax(&o.logits));
            }
            v
        }
    }
}

/// Labels with their probabilities, most probable first.
fn ranked(logits: &[f32], names: &[String], multi_label: bool) -> Vec<(String, f64)> {
    let p = probabilities(logits, multi_label);
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
    order.into_iter().map(|i| (names[i].clone(), p[i])).collect()
}

/// One line for one row of logits: the best label and the next two, or for multi-label every
/// label above 0.5 (or "none" and the most likely).
fn human_row(logits: &[f32], labels: &[String], multi_label: bool) -> String {
    let top = ranked(logits, labels, multi_label);
    let Some((label, p)) = top.first() else {
        return String::new();
    };
    if multi_label {
        let above: Vec<String> = top
            .iter()
            .filter(|(_, p)| *p > 0.5)
            .map(|(l, p)| format!("{l} {p:.4}"))
            .collect();
        if above.is_empty() {
            return format!("(none above 0.5; most likely {label} {p:.4})");
        }
        return above.join(", ");
    }
    let rest: Vec<String> = top[1..].iter().take(2).map(|(l, p)| format!("{l} {p:.4}")).collect();
    format!("{label}\t{p:.4}\t(next: {})", rest.join(", "))
}

fn print_human<B: Backend>(o: &Outcome, ckpt: &LukeCheckpoint<B>, style: Style) {
    let labels = &ckpt.labels;
    if style.encode {
        let h = o.word_hidden.last().and_then(|l| l.first()).map_or(0, Vec::len);
        println!(
            "{} word tokens, {} entities, hidden size {h}, {} layer(s) of states (use --json to get them)",
            o.input_ids.len(),
            o.entity_ids.len(),
            o.word_hidden.len()
        );
        return;
    }
    match ckpt.kind {
        HeadKind::MultipleChoice => {
            let best = argmax(&o.logits);
            for (i, (c, p)) in o.choices.iter().zip(softmax(&o.logits)).enumerate() {
                println!("{} {p:.4}  {c}", if i == best { "*" } else { " " });
            }
        }
        HeadKind::EntitySpanClassification => {
            for (&i, row) in o.kept_spans.iter().zip(o.logits.chunks_exact(labels.len().max(1))) {
                let (s, e) = o.spans[i];
                let line = if style.multi_label {
                    human_row(row, labels, true)
                } else {
                    ranked(row, labels, false)
                        .first()
                        .map_or(String::new(), |(label, p)| format!("{label}\t{p:.4}"))
                };
                println!("{s}:{e}\t{}\t{line}", mention(&o.text, (s, e)));
            }
        }
        _ => {
            // the mentions first, so a span one character off (`[Tar]`) shows at once
            let shown: Vec<String> = mentions(o).iter().map(|m| format!("[{m}]")).collect();
            let mut row = human_row(&o.logits, labels, style.multi_label);
            if let Some(gold) = o.label {
                let verdict = if gold == argmax(&o.logits) { "right" } else { "wrong" };
                row = format!("{row}\tgold {}: {verdict}", labels[gold]);
            }
            match shown.is_empty() {
                true => println!("{row}"),
                false => println!("{}\t{row}", shown.join(" ")),
            }
        }
    }
}

/// The text each span covers, in order.
fn mentions(o: &Outcome) -> Vec<String> {
    o.spans.iter().map(|&s| mention(&o.text, s)).collect()
}

/// Over the labelled examples (choose, and the one-label classify commands): how many
/// predictions were right.
fn report_accuracy(outcomes: &[Outcome]) {
    let labelled: Vec<(usize, usize)> = outcomes
        .iter()
        .filter_map(|o| o.label.map(|l| (l, argmax(&o.logits))))
        .collect();
    if labelled.is_empty() {
        return;
    }
    let right = labelled.iter().filter(|(l, p)| l == p).count();
    eprintln!(
        "accuracy: {right}/{} = {:.4}",
        labelled.len(),
        right as f64 / labelled.len() as f64
    );
}

pub fn print<B: Backend>(outcomes: &[Outcome], ckpt: &LukeCheckpoint<B>, style: Style) -> Result<()> {
    for o in outcomes {
        if style.lines {
            println!("{}", serde_json::to_string(&to_json(o, ckpt, style))?);
        } else if style.json {
            println!("{}", serde_json::to_string_pretty(&to_json(o, ckpt, style))?);
        } else {
            print_human(o, ckpt, style);
        }
    }
    if !style.encode {
        report_accuracy(outcomes);
    }
    Ok(())
}
