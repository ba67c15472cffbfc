//! A run's `metrics.jsonl` as `--resume` reads it back. Input: byte 0 is the checkpoint's
//! epoch, the rest the file.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tsumugi::report::run_dir::{Existing, RunDir};

fuzz_target!(|data: &[u8]| {
    let [epoch, text @ ..] = data else { return };
    let root = tsumugi_fuzz::scratch_dir().join("run");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("metrics.jsonl"), text).unwrap();
    if let Ok(run) = RunDir::create(&root, Existing::Resume) {
        let _ = run.truncate_metrics(*epoch as usize);
    }
});
