//! What a step of each `finetune` model does, and how a backend model is checkpointed: written
//! once for the training runs and for `bench finetune`, which times the very step training
//! takes.

use super::batches::next_word_rows;
use crate::compute::Backend;
use crate::data::keras_vocab::PAD;
use crate::models::device_params::Adam;
use crate::models::lm::{Batch, LstmLm, Masks, State};
use crate::models::lstm_classifier::LstmClassifier;
use crate::train::metrics::correct;
use anyhow::Result;

/// Texts (each of two or more ids) as the language model reads them: inputs `x[..n-1]`, the
/// real next words, a zero state, and how many next words count.
fn lm_batch<B: Backend>(be: &B, m: &LstmLm<B>, texts: &[&[u32]]) -> Result<(Batch<B>, State<B>, usize)> {
    let (tokens, targets, steps) = next_word_rows(texts);
    let x = m.padded_batch(be, &tokens, &targets, steps, texts.len(), PAD)?;
    let n = targets.iter().filter(|&&t| t != PAD).count();
    Ok((x, m.initial_state(be, texts.len())?, n))
}

/// The language model's mean loss over the real next words of `texts`, without dropout, and
/// how many there are.
pub fn lm_loss<B: Backend>(be: &B, m: &LstmLm<B>, texts: &[&[u32]]) -> Result<(f64, usize)> {
    let (x, mut state, n) = lm_batch(be, m, texts)?;
    Ok((be.read_loss_f32(&m.loss(be, &x, &mut state)?)? as f64, n))
}

/// One pre-training step on `texts` with dropout keyed by `(seed, key)`, then Adam at `lr`
/// when the loss is finite (a non-finite one is the caller's to report). Returns the mean loss
/// over the real next words, and how many there are.
pub fn lm_step<B: Backend>(
    be: &B,
    m: &mut LstmLm<B>,
    texts: &[&[u32]],
    (seed, key): (u64, u64),
    lr: f32,
) -> Result<(f64, usize)> {
    let (x, mut state, n) = lm_batch(be, m, texts)?;
    let loss = be.read_loss_f32(&m.forward_backward(be, &x, &mut state, Masks::Keyed { seed, step: key })?)? as f64;
    if loss.is_finite() {
        m.params_mut().adam_step(be, lr, Adam::default(), 1.0)?;
    }
    Ok((loss, n))
}

/// One classifier step on `texts` with dropout keyed by `(seed, key)`, then Adam at `lr` when
/// the loss is finite (a non-finite one is the caller's to report). Returns the batch's mean
/// loss and how many texts it classified right.
pub fn classifier_step<B: Backend>(
    be: &B,
    m: &mut LstmClassifier<B>,
    texts: &[&[u32]],
    labels: &[u32],
    (seed, key): (u64, u64),
    lr: f32,
) -> Result<(f64, usize)> {
    let x = m.batch(be, texts, labels)?;
    let (loss, logits) = m.forward_backward(be, &x, seed, key)?;
    let loss = be.read_loss_f32(&loss)? as f64;
    // two classes: the first largest of [0, z] is class 1 when z > 0
    let correct = correct(&be.download(&logits)?, m.cfg.classes, labels);
    if loss.is_finite() {
        m.params_mut().adam_step(be, lr, Adam::default(), 1.0)?;
    }
    Ok((loss, correct))
}
