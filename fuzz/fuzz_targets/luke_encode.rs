//! Encoding text with entity spans on the test fixtures' tokenizers (BPE and SentencePiece):
//! spans out of range, inside a character, overlapping, empty text, any task and length.
//! Input: byte 0 picks the tokenizer and task, byte 1 the word limit, byte 2 the span count,
//! then two bytes per span, then the text.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use tsumugi::luke::tokenizer::{LukeTokenizer, Task};

fn tokenizers() -> &'static [LukeTokenizer; 2] {
    static T: OnceLock<[LukeTokenizer; 2]> = OnceLock::new();
    T.get_or_init(|| {
        let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/luke");
        let load = |name: &str| LukeTokenizer::from_dir(&fixtures.join(name)).expect("fixture tokenizer");
        [load("pair_dense_bin"), load("sentencepiece_pair_safetensors")]
    })
}

fuzz_target!(|data: &[u8]| {
    let [pick, limit, count, rest @ ..] = data else { return };
    let count = (*count as usize % 5).min(rest.len() / 2);
    let spans: Vec<(usize, usize)> = rest[..2 * count]
        .chunks_exact(2)
        .map(|s| (s[0] as usize, s[1] as usize))
        .collect();
    let text = String::from_utf8_lossy(&rest[2 * count..]);
    let tokenizer = &tokenizers()[(*pick & 1) as usize];
    let task = match (pick >> 1) % 4 {
        0 => Task::Plain,
        1 => Task::EntityClassification,
        2 => Task::EntityPairClassification,
        _ => Task::EntitySpanClassification,
    };
    let _ = tokenizer.encode(&text, &spans, None, task, *limit as usize);
    let names: Vec<String> = spans.iter().map(|_| "[MASK]".to_string()).collect();
    let _ = tokenizer.encode(&text, &spans, Some(&names), task, *limit as usize);
    let half = text.char_indices().nth(text.chars().count() / 2).map_or(0, |(b, _)| b);
    let _ = tokenizer.encode_pair(&text[..half], &text[half..], *limit as usize);
});
