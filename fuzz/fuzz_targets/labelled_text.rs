//! `newsCorpora.csv` (strict and skipping bad rows) and `label<TAB>text` files.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = tsumugi_fuzz::scratch_file("newsCorpora.csv", data);
    for skip_bad_rows in [false, true] {
        let _ = tsumugi::data::news::read(&path, skip_bad_rows);
    }
    let _ = tsumugi::data::labeled::parse(data, std::path::Path::new("train.tsv"));
});
