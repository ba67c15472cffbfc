//! "Deep Learning from Scratch 2" ch. 6, `train_better_rnnlm.py`, step by step on PTB:
//! BetterRnnlm (embedding → dropout → LSTM → dropout → LSTM → dropout → tied affine), SGD with
//! lr 20, gradient clipping at 0.25, batch 20, BPTT 35, and lr ÷ 4 whenever validation perplexity
//! does not improve. The book's run needs hours on a CPU; `--epochs` and `--max-batches` make
//! a short trial:
//!
//! ```sh
//! cargo run --release --example better_rnnlm -- --epochs 1 --max-batches 200
//! ```
//!
//! (`tsumugi lm train --preset better-rnnlm` is the same recipe with checkpoints, resume,
//! figures and a report.)

use anyhow::Result;
use clap::Parser;
use tsumugi::compute::cpu::Cpu;
use tsumugi::compute::Backend;
use tsumugi::data::corpus::{batchify, read_train, read_with, Vocab};
use tsumugi::models::lm::{LstmLm, Masks};
use tsumugi::models::lm_weights::{LanguageModel, LmConfig};
use tsumugi::tasks::datasets;
use tsumugi::tasks::lm::stream_loss::mean_loss_by;

#[derive(Parser)]
struct Options {
    #[arg(long, default_value_t = 40)]
    epochs: usize,
    /// Stop each epoch after this many batches (short trials).
    #[arg(long)]
    max_batches: Option<usize>,
    #[arg(long, default_value_t = 650)]
    hidden: usize,
}

fn main() -> Result<()> {
    let opt = Options::parse();
    // Hyper-parameters of train_better_rnnlm.py.
    let (batch_size, time_size, lr0, max_grad, dropout) = (20, 35, 20.0f32, 0.25, 0.5);

    // 1. PTB (fetched on first use), words to ids; <eos> ends every sentence.
    let dir = datasets::ensure("ptb")?;
    let mut vocab = Vocab::default();
    let corpus = read_train(&dir.join("ptb.train.txt"), &mut vocab)?;
    let corpus_val = read_with(&dir.join("ptb.valid.txt"), &vocab)?;
    let corpus_test = read_with(&dir.join("ptb.test.txt"), &vocab)?;
    println!("vocabulary {}, train {} tokens", vocab.len(), corpus.len());

    // 2. The model: D = H, two LSTM layers, dropout 0.5, decoder weight tied to the embedding.
    let cfg = LmConfig {
        vocab: vocab.len(),
        embed: opt.hidden,
        hidden: opt.hidden,
        layers: 2,
        dropout,
        tied: true,
        locked_dropout: false,
        embedding_dropout: 0.0,
    };
    // Its weights are drawn on the host, then handed to the CPU backend the model runs on.
    let be = Cpu;
    let mut model = LstmLm::new(&be, &LanguageModel::new(cfg, 0)?)?;

    // 3. Contiguous batches: the corpus cut into 20 streams read in parallel, BPTT windows of 35.
    let (train, rows) = batchify(&corpus, batch_size);
    let (valid, valid_rows) = batchify(&corpus_val, 10);
    let (test, test_rows) = batchify(&corpus_test, 10);

    let (mut lr, mut best_ppl) = (lr0, f64::INFINITY);
    for epoch in 1..=opt.epochs {
        // 4. One epoch: the hidden state carries across windows (truncated BPTT).
        let mut state = model.initial_state(&be, batch_size)?;
        let mut rng = LanguageModel::rng(0, epoch as u64);
        let (mut loss_sum, mut count, mut i, mut batches) = (0.0, 0usize, 0, 0);
        while i + 1 < rows && opt.max_batches.is_none_or(|m| batches < m) {
            let seq = time_size.min(rows - 1 - i);
            let xs = &train[i * batch_size..(i + seq) * batch_size];
            let ts = &train[(i + 1) * batch_size..(i + 1 + seq) * batch_size];
            let batch = model.batch(&be, xs, ts, seq, batch_size)?;
            let loss = model.forward_backward(&be, &batch, &mut state, Masks::Stream(&mut rng))?;
            // clip_grads to a global norm of 0.25, then SGD (which leaves the gradients zero
            // for the next backward)
            model.params_mut().host_sgd_step(lr, Some(max_grad))?;
            loss_sum += be.read_loss(&loss)? * (seq * batch_size) as f64;
            count += seq * batch_size;
            i += seq;
            batches += 1;
            if batches % 100 == 0 {
                println!(
                    "| epoch {epoch} | iter {batches} | perplexity {:.2}",
                    (loss_sum / count as f64).exp()
                );
            }
        }
        // 5. Validation perplexity; lr ÷ 4 when it does not improve (the book's rule).
        let ppl = perplexity(&model, &valid, valid_rows)?;
        println!("epoch {epoch}: valid perplexity {ppl:.2}, lr {lr}");
        if ppl < best_ppl {
            best_ppl = ppl;
        } else {
            lr /= 4.0;
        }
    }
    // 6. Test perplexity of the final model (the book evaluates its saved best; see `lm train`).
    println!("test perplexity {:.2}", perplexity(&model, &test, test_rows)?);
    Ok(())
}

/// Perplexity over a split batchified at 10 streams, BPTT 35, without dropout; the state
/// carries from window to window.
fn perplexity(model: &LstmLm<Cpu>, data: &[u32], rows: usize) -> Result<f64> {
    let mut state = model.initial_state(&Cpu, 10)?;
    let loss = mean_loss_by(data, rows, 10, 35, |xs, ts, seq| {
        let batch = model.batch(&Cpu, xs, ts, seq, 10)?;
        Cpu.read_loss(&model.loss(&Cpu, &batch, &mut state)?)
    })?;
    Ok(loss.exp())
}
