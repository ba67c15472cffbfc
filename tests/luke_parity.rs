//! LUKE against transformers: token ids, entity ids/positions, logits and hidden states of
//! tiny random checkpoints (`tools/gen_luke_golden.py` wrote the checkpoints and the expected
//! values in `tests/fixtures/luke/`).

use serde_json::Value;
use std::path::PathBuf;
use tsumugi::compute::cpu::Cpu;
use tsumugi::luke::batch::Batch;
use tsumugi::luke::heads::LukeCheckpoint;
use tsumugi::luke::tokenizer::{Encoding, LukeTokenizer, Task};

const TOLERANCE: f32 = 1e-4;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/luke")
        .join(name)
}

fn golden(name: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(fixture(name).join("golden.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v["examples"].as_array().unwrap().clone()
}

fn ints(v: &Value) -> Vec<i64> {
    v.as_array()
        .map(|a| a.iter().map(|x| x.as_i64().unwrap()).collect())
        .unwrap_or_default()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn spans(v: &Value) -> Vec<(usize, usize)> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|s| (s[0].as_u64().unwrap() as usize, s[1].as_u64().unwrap() as usize))
                .collect()
        })
        .unwrap_or_default()
}

fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let worst = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(worst <= TOLERANCE, "{what}: max |Δ| {worst:e} > {TOLERANCE:e}");
}

/// Encodes every example of a fixture as transformers did and checks ids, then runs the model.
fn check_fixture(name: &str) {
    let dir = fixture(name);
    let tok = LukeTokenizer::from_dir(&dir).unwrap();
    let ckpt = LukeCheckpoint::load(&Cpu, &dir).unwrap();
    let task = tok.configured_task.unwrap_or(Task::Plain);
    for (i, ex) in golden(name).iter().enumerate() {
        let what = format!("{name} example {i}");
        let names: Option<Vec<String>> = ex["entities"]
            .as_array()
            .map(|a| a.iter().map(|x| x.as_str().unwrap().to_string()).collect());
        let max_words = ckpt.model.config.max_words();
        let text = ex["text"].as_str().unwrap();
        let enc = match ex.get("pair").and_then(|p| p.as_str()) {
            Some(pair) => tok.encode_pair(text, pair, max_words).unwrap(),
            None => tok
                .encode(text, &spans(&ex["spans"]), names.as_deref(), task, max_words)
                .unwrap(),
        };
        let ids: Vec<i64> = enc.input_ids.iter().map(|&x| x as i64).collect();
        assert_eq!(ids, ints(&ex["input_ids"]), "{what}: input_ids");
        let eids: Vec<i64> = enc.entity_ids.iter().map(|&x| x as i64).collect();
        assert_eq!(eids, ints(&ex["entity_ids"]), "{what}: entity_ids");
        let positions: Vec<i64> = enc.entity_position_ids.concat();
        let want_positions: Vec<i64> = ex["entity_position_ids"]
            .as_array()
            .map(|a| a.iter().flat_map(ints).collect())
            .unwrap_or_default();
        assert_eq!(positions, want_positions, "{what}: entity_position_ids");
        if let Some(starts) = ex.get("entity_start_positions") {
            let got: Vec<i64> = enc.entity_start_positions.iter().map(|&x| x as i64).collect();
            assert_eq!(got, ints(starts), "{what}: entity_start_positions");
        }
        let batch = Batch::new(&[&enc], 1, 0);
        let keep_all = ex.get("word_hidden_states").is_some();
        let out = ckpt.model.forward(&Cpu, &batch, keep_all).unwrap();
        let logits = ckpt.logits(&out, &batch, &[&enc]).unwrap();
        assert_close(&logits[0], &floats(&ex["logits"]), &format!("{what}: logits"));
        if keep_all {
            for (layer, want) in ex["word_hidden_states"].as_array().unwrap().iter().enumerate() {
                assert_close(
                    &out.all_word_hidden[layer],
                    &floats(want),
                    &format!("{what}: word hidden {layer}"),
                );
            }
            if let Some(states) = ex.get("entity_hidden_states") {
                for (layer, want) in states.as_array().unwrap().iter().enumerate() {
                    assert_close(
                        &out.all_entity_hidden[layer],
                        &floats(want),
                        &format!("{what}: entity hidden {layer}"),
                    );
                }
            }
        }
    }
}

#[test]
fn entity_pair_with_dense_projection_from_pickle_weights() {
    check_fixture("pair_dense_bin");
}

#[test]
fn entity_classification_without_projection_from_safetensors_and_tokenizer_json() {
    check_fixture("entity_nodense_safetensors");
}

#[test]
fn entity_spans_without_entity_aware_attention_and_truncation() {
    check_fixture("spans_noaware_bin");
}

#[test]
fn sequence_classification_with_named_entities_plain_text_and_a_sentence_pair() {
    check_fixture("sequence_bin");
}

#[test]
fn sentencepiece_sequence_classification_with_odd_text_and_named_entities() {
    check_fixture("sentencepiece_sequence_bin");
}

#[test]
fn sentencepiece_entity_pair_in_unspaced_japanese_without_charsmap() {
    check_fixture("sentencepiece_pair_safetensors");
}

#[test]
fn multiple_choice_over_padded_pairs() {
    check_choice_fixture("choice_safetensors");
}

#[test]
fn sentencepiece_multiple_choice_as_jcommonsenseqa() {
    check_choice_fixture("sentencepiece_choice_safetensors");
}

fn check_choice_fixture(name: &str) {
    let dir = fixture(name);
    let tok = LukeTokenizer::from_dir(&dir).unwrap();
    let ckpt = LukeCheckpoint::load(&Cpu, &dir).unwrap();
    let ex = &golden(name)[0];
    let question = ex["text"].as_str().unwrap();
    let encs: Vec<Encoding> = ex["choices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            tok.encode_pair(question, c.as_str().unwrap(), ckpt.model.config.max_words())
                .unwrap()
        })
        .collect();
    let refs: Vec<&Encoding> = encs.iter().collect();
    let batch = Batch::new(&refs, tok.pad, tok.entity_pad);
    let padded: Vec<i64> = batch.input_ids.iter().map(|&x| x as i64).collect();
    let want: Vec<i64> = ex["input_ids"].as_array().unwrap().iter().flat_map(ints).collect();
    assert_eq!(padded, want, "padded choice ids");
    let out = ckpt.model.forward(&Cpu, &batch, false).unwrap();
    let logits = ckpt.logits(&out, &batch, &refs).unwrap();
    assert_close(&logits[0], &floats(&ex["logits"]), "choice logits");
}

/// 300 random strings of full-/half-width forms, ligatures, combining marks, odd spaces, emoji
/// and literal special tokens: the same ids as MLukeTokenizer on every one (a blank text is
/// refused on purpose, where transformers would encode `<s></s>`).
#[test]
fn sentencepiece_ids_match_mluke_tokenizer_on_random_text() {
    let dir = fixture("sentencepiece_sequence_bin");
    let tok = LukeTokenizer::from_dir(&dir).unwrap();
    let words: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("words.json")).unwrap()).unwrap();
    let cases = words.as_array().unwrap();
    assert_eq!(cases.len(), 300);
    let mut wrong = Vec::new();
    for case in cases {
        let text = case["text"].as_str().unwrap();
        if text.trim().is_empty() {
            assert!(tok.encode(text, &[], None, Task::Plain, 4096).is_err());
            continue;
        }
        let got: Vec<i64> = match tok.encode(text, &[], None, Task::Plain, 4096) {
            Ok(enc) => enc.input_ids.iter().map(|&x| x as i64).collect(),
            Err(_) => vec![],
        };
        if got != ints(&case["input_ids"]) {
            wrong.push(format!("{text:?}: got {got:?}, want {:?}", ints(&case["input_ids"])));
        }
    }
    assert!(wrong.is_empty(), "{} of 300 differ:\n{}", wrong.len(), wrong.join("\n"));
}

/// Published SentencePiece checkpoints do not all list their added tokens: with no
/// `added_tokens_decoder`, ids come from `added_tokens.json`, and without that from the pieces
/// (`<mask>` = pieces + 1, `<ent>` + 2, `<ent2>` + 3) — the same ids either way.
#[test]
fn sentencepiece_added_token_ids_without_the_decoder_table() {
    let name = "sentencepiece_pair_safetensors";
    let tmp = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture(name)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), tmp.path().join(entry.file_name())).unwrap();
    }
    let cfg_path = tmp.path().join("tokenizer_config.json");
    let mut cfg: Value = serde_json::from_str(&std::fs::read_to_string(&cfg_path).unwrap()).unwrap();
    cfg.as_object_mut().unwrap().remove("added_tokens_decoder");
    std::fs::write(&cfg_path, cfg.to_string()).unwrap();
    let ex = &golden(name)[0];
    let encode = || {
        let tok = LukeTokenizer::from_dir(tmp.path()).unwrap();
        let enc = tok
            .encode(
                ex["text"].as_str().unwrap(),
                &spans(&ex["spans"]),
                None,
                Task::EntityPairClassification,
                512,
            )
            .unwrap();
        enc.input_ids.iter().map(|&x| x as i64).collect::<Vec<_>>()
    };
    assert_eq!(encode(), ints(&ex["input_ids"]), "from added_tokens.json");
    std::fs::remove_file(tmp.path().join("added_tokens.json")).unwrap();
    assert_eq!(encode(), ints(&ex["input_ids"]), "from the piece count");
}
