//! The LUKE article's relation classification, step by step: the same text and character
//! spans, the entity-pair tokenizer with its `<ent>`/`<ent2>` markers, the model, the label.
//!
//! ```python
//! model = LukeForEntityPairClassification.from_pretrained('studio-ousia/luke-large-finetuned-tacred')
//! tokenizer = LukeTokenizer.from_pretrained('studio-ousia/luke-large-finetuned-tacred')
//! entity_spans = [(0, 3), (15, 29)]
//! text = 'Taro belong to Keio university'
//! inputs = tokenizer(text, entity_spans=entity_spans, return_tensors="pt")
//! outputs = model(**inputs)
//! logits = outputs.logits
//! predicted_class_idx = int(logits[0].argmax())
//! print("Predicted class:", model.config.id2label[predicted_class_idx])
//! ```
//!
//! Give the checkpoint directory (download it yourself, e.g. with `huggingface-cli`); without
//! one the example runs on the tiny random checkpoint in `tests/fixtures/luke/pair_dense_bin`,
//! whose label is meaningless but whose every step is the real one:
//!
//! ```sh
//! cargo run --release --example luke_relation -- path/to/luke-large-finetuned-tacred
//! ```

use anyhow::Result;
use std::path::PathBuf;
use tsumugi::compute::cpu::Cpu;
use tsumugi::luke::batch::Batch;
use tsumugi::luke::heads::LukeCheckpoint;
use tsumugi::luke::tokenizer::{LukeTokenizer, Task};
use tsumugi::train::metrics::argmax_rows;

fn main() -> Result<()> {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/luke/pair_dense_bin"));

    // 1. The model and the tokenizer, from the files transformers would read.
    let model = LukeCheckpoint::load(&Cpu, &dir)?;
    let tokenizer = LukeTokenizer::from_dir(&dir)?;
    let cfg = &model.model.config;
    println!(
        "{}: {}, {} layers × {} hidden, {} labels",
        dir.display(),
        model.kind.name(),
        cfg.num_hidden_layers,
        cfg.hidden_size,
        model.labels.len()
    );

    // 2. The article's text and character spans, as written there: (0, 3) is "Tar" and (15, 29)
    //    "Keio universit" (one character short each); transformers cuts the words there, and so do we.
    let text = "Taro belong to Keio university";
    let entity_spans = [(0, 3), (15, 29)];
    for (s, e) in entity_spans {
        println!(
            "span ({s}, {e}) = {:?}",
            text.chars().skip(s).take(e - s).collect::<String>()
        );
    }

    // 3. Tokenize as an entity pair: the text is cut at the span boundaries, each piece is
    //    BPE-encoded, `<ent>` wraps the head and `<ent2>` the tail; the two entities are
    //    [MASK] and [MASK2], and each mention lists the word positions it covers.
    let inputs = tokenizer.encode(
        text,
        &entity_spans,
        None,
        Task::EntityPairClassification,
        cfg.max_words(),
    )?;
    println!("input_ids           {:?}", inputs.input_ids);
    println!("entity_ids          {:?}", inputs.entity_ids);
    for (i, p) in inputs.entity_position_ids.iter().enumerate() {
        let used: Vec<i64> = p.iter().copied().filter(|&x| x >= 0).collect();
        println!("entity {i} positions  {used:?} (padded with -1 to {})", p.len());
    }

    // 4. The forward pass: word and entity embeddings, entity-aware self-attention in every layer.
    let batch = Batch::new(&[&inputs], tokenizer.pad, tokenizer.entity_pad);
    let outputs = model.model.forward(&Cpu, &batch, false)?;

    // 5. The head: [head entity state ; tail entity state] → linear → one logit per relation.
    let logits = model.logits(&outputs, &batch, &[&inputs])?.remove(0);
    println!("logits              {logits:?}");
    let predicted = argmax_rows(&logits, logits.len())[0] as usize;
    println!("Predicted class: {}", model.labels[predicted]);
    Ok(())
}
