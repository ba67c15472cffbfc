//! Word vectors: word2vec `.bin` (memory-mapped and streamed, as `.bin.gz` is) and text, each
//! whole and restricted to a vocabulary.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::collections::HashSet;
use std::path::Path;
use tsumugi::embed::{text, word2vec_bin};

fuzz_target!(|data: &[u8]| {
    let path = Path::new("vectors");
    let keep: HashSet<String> = ["the", "a"].iter().map(|w| w.to_string()).collect();
    for restrict in [None, Some(&keep)] {
        let _ = word2vec_bin::parse(data, path, restrict);
        let _ = word2vec_bin::parse_stream(data, path, restrict);
        let _ = text::parse(data, path, restrict);
    }
});
