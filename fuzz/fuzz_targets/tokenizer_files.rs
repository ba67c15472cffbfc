//! A LUKE tokenizer folder: `tokenizer_config.json`, `vocab.json`, `merges.txt`,
//! `entity_vocab.json`, `tokenizer.json` and `added_tokens.json`, given in that order separated
//! by `\n--8<--\n` (an empty or missing part is a missing file); then one encoding.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tsumugi::luke::tokenizer::{LukeTokenizer, Task};

const FILES: [&str; 6] = [
    "tokenizer_config.json",
    "vocab.json",
    "merges.txt",
    "entity_vocab.json",
    "tokenizer.json",
    "added_tokens.json",
];

fuzz_target!(|data: &[u8]| {
    let dir = tsumugi_fuzz::scratch_dir().join("tokenizer");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (name, part) in FILES.iter().zip(tsumugi_fuzz::parts(data, FILES.len())) {
        if !part.is_empty() {
            std::fs::write(dir.join(name), part).unwrap();
        }
    }
    if let Ok(tokenizer) = LukeTokenizer::from_dir(&dir) {
        let text = "Beyoncé lives in Los Angeles.";
        let _ = tokenizer.encode(text, &[(0, 7), (17, 28)], None, Task::EntityPairClassification, 64);
        let _ = tokenizer.encode_pair(text, "and sings", 16);
    }
});
