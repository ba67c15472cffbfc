//! `sentencepiece.bpe.model` (the protobuf, its normaliser's precompiled charsmap) and encoding
//! with it. Input: the model bytes, then `\n--8<--\n` and a text to encode.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tsumugi::luke::sentencepiece::{charsmap::CharsMap, SentencePiece};

fuzz_target!(|data: &[u8]| {
    let parts = tsumugi_fuzz::parts(data, 2);
    let text = String::from_utf8_lossy(parts.get(1).copied().unwrap_or(b"Hello, ABC! \xef\xbd\xb1 x"));
    if let Ok(model) = SentencePiece::from_bytes(parts[0]) {
        let _ = model.encode(&text);
    }
    if let Ok(map) = CharsMap::from_blob(parts[0]) {
        for at in 0..text.len().min(64) {
            let _ = map.longest_match(&text.as_bytes()[at..]);
        }
    }
});
