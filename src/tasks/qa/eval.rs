//! `qa eval`: the multiple-choice checkpoint's own accuracy on a JCommonsenseQA file, and with
//! a trained head (`qa train`), the head's accuracy and the ensemble's, the average of the
//! two models' choice probabilities (the "CNN-LUKE ensemble" the article names and does not
//! build). The head's features are made from the same forward pass, with the layer, pooling
//! and choices its training features were made with.

use super::features::{encode_question, pool_question, Choices, FeatureFile, Pool};
use super::train::{scores, QaTrainConfig};
use crate::compute::cpu::Cpu;
use crate::compute::dispatch::{self, OnBackend};
use crate::compute::{Backend, Device};
use crate::data::jcqa;
use crate::luke::batch::Batch;
use crate::luke::config::HeadKind as LukeHead;
use crate::luke::heads::LukeCheckpoint;
use crate::luke::tokenizer::{Encoding, LukeTokenizer};
use crate::models::qa_head::{HeadConfig, QaHead};
use crate::nn::loss::softmax;
use crate::nn::weights::Part;
use crate::train::checkpoint::TensorFile;
use anyhow::{anyhow, ensure, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct EvalJob {
    pub model: PathBuf,
    pub data: PathBuf,
    /// A `qa train` run whose best checkpoint joins the evaluation.
    pub head: Option<PathBuf>,
    /// Where LUKE runs (the head, a few thousand values a question, runs on the CPU).
    pub device: Device,
}

/// Accuracy (argmax = label) and the article's `predicted − label < 1`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Scores {
    pub accuracy: f64,
    pub article_metric: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    pub questions: usize,
    /// The checkpoint's multiple-choice head.
    pub model: Scores,
    pub head: Option<Scores>,
    /// The mean of the two models' probabilities.
    pub ensemble: Option<Scores>,
}

/// How the head's training features were made, from their file's metadata.
#[derive(Debug, Clone, Deserialize)]
struct FeatureRecipe {
    layer: usize,
    pool: Pool,
    choices: Choices,
}

/// A trained head and the recipe of its features.
struct Head {
    net: QaHead<Cpu>,
    recipe: FeatureRecipe,
}

fn load_head(run: &Path) -> Result<Head> {
    let cfg: QaTrainConfig = crate::data::json::read_json(&run.join("config.json"))
        .with_context(|| format!("{}: not a `qa train` run", run.display()))?;
    let features = FeatureFile::read(&cfg.train)
        .with_context(|| format!("{}: reading the head's training features", run.display()))?;
    let recipe: FeatureRecipe = features
        .meta
        .clone()
        .ok_or_else(|| anyhow!("{}: no record of how its features were made", cfg.train.display()))
        .and_then(|m| {
            serde_json::from_value(m).map_err(|e| anyhow!("{}: feature metadata: {e}", cfg.train.display()))
        })?;
    let best = run.join("checkpoints").join("best.safetensors");
    let mut file = TensorFile::read(&best)?;
    let head_cfg: HeadConfig = file
        .meta
        .as_ref()
        .and_then(|m| m.get("head"))
        .ok_or_else(|| anyhow!("{}: metadata lacks `head`", best.display()))
        .and_then(|v| serde_json::from_value(v.clone()).map_err(|e| anyhow!("{}: `head`: {e}", best.display())))?;
    let mut host = QaHead::<Cpu>::init(&head_cfg, 0)?;
    file.weights().load_into(&mut host, &Part::All)?;
    Ok(Head {
        net: QaHead::upload(&Cpu, &head_cfg, &host)?,
        recipe,
    })
}

pub fn evaluate(job: &EvalJob, log: &mut dyn FnMut(&str)) -> Result<Evaluation> {
    let questions = jcqa::read_labelled(&job.data)?;
    dispatch::check(job.device)?;
    dispatch::on_device(job.device, Evaluate { job, questions, log })
}

/// The evaluation with LUKE on the device the job names.
struct Evaluate<'a> {
    job: &'a EvalJob,
    questions: Vec<jcqa::Question>,
    log: &'a mut dyn FnMut(&str),
}

impl OnBackend for Evaluate<'_> {
    type Output = Evaluation;

    fn run<B: Backend>(self, be: &B) -> Result<Evaluation> {
        evaluate_on(be, self.job, &self.questions, self.log)
    }
}

fn evaluate_on<B: Backend>(
    be: &B,
    job: &EvalJob,
    questions: &[jcqa::Question],
    log: &mut dyn FnMut(&str),
) -> Result<Evaluation> {
    let ckpt = LukeCheckpoint::load(be, &job.model)?;
    ensure!(
        ckpt.kind == LukeHead::MultipleChoice,
        "{} holds a {}, not a multiple-choice model (LukeForMultipleChoice)",
        job.model.display(),
        ckpt.kind.name()
    );
    let tok = LukeTokenizer::from_dir(&job.model)?;
    let mut head = job.head.as_deref().map(load_head).transpose()?;
    let options = questions[0].choices.len();
    if let Some(head) = &head {
        let c = &head.net.cfg;
        ensure!(
            c.options == options,
            "the head answers {} choices, and {} has {options}",
            c.options,
            job.data.display()
        );
        ensure!(
            head.recipe.layer <= ckpt.model.config.num_hidden_layers && c.hidden == ckpt.model.config.hidden_size,
            "the head was trained on features of another model (hidden state {}, width {})",
            head.recipe.layer,
            c.hidden
        );
    }
    let h = ckpt.model.config.hidden_size;
    let max_words = ckpt.model.config.max_words();
    let (mut model_probs, mut head_probs, mut labels) = (Vec::new(), Vec::new(), Vec::new());
    for (i, q) in questions.iter().enumerate() {
        let pairs: Vec<Encoding> = encode_question(&tok, q, max_words)
            .with_context(|| format!("{}: question {}", job.data.display(), i + 1))?;
        let refs: Vec<&Encoding> = pairs.iter().collect();
        let batch = Batch::new(&refs, tok.pad, tok.entity_pad);
        let out = ckpt.model.forward(be, &batch, head.is_some())?;
        let logits = ckpt.logits(&out, &batch, &refs)?.remove(0);
        model_probs.extend(softmax(&logits, options));
        if let Some(head) = &mut head {
            let kept = match head.recipe.choices {
                Choices::First => 1,
                Choices::All => options,
            };
            let states = &out.all_word_hidden[head.recipe.layer];
            let x = pool_question(states, batch.words, h, &pairs, head.recipe.pool, kept);
            let logits = head.net.logits(&Cpu, &x, 1)?;
            head_probs.extend(softmax(&Cpu.download(&logits)?, options));
        }
        labels.push(q.label.unwrap_or(0) as u32);
        if (i + 1) % 100 == 0 {
            log(&format!("{} of {} questions", i + 1, questions.len()));
        }
    }
    let score = |probs: &[f32]| {
        let (right, article) = scores(probs, options, &labels);
        let n = labels.len() as f64;
        Scores {
            accuracy: right as f64 / n,
            article_metric: article as f64 / n,
        }
    };
    let (head_scores, ensemble) = if head.is_some() {
        let mean: Vec<f32> = model_probs
            .iter()
            .zip(&head_probs)
            .map(|(a, b)| (a + b) / 2.0)
            .collect();
        (Some(score(&head_probs)), Some(score(&mean)))
    } else {
        (None, None)
    };
    Ok(Evaluation {
        questions: questions.len(),
        model: score(&model_probs),
        head: head_scores,
        ensemble,
    })
}
