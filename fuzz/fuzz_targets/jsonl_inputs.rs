//! JSON-lines inputs: `luke --input` examples and JCommonsenseQA rows.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = tsumugi_fuzz::scratch_file("input.jsonl", data);
    let _ = tsumugi::tasks::luke::input::read_jsonl(&path);
    let _ = tsumugi::data::jcqa::read_labelled(&path);
});
