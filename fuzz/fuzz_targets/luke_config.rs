//! A LUKE checkpoint's `config.json` (`LukeConfig::from_file` reads the file and calls this).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(config) = tsumugi::luke::config::LukeConfig::from_json(text) {
            let _ = (config.head_size(), config.max_words());
        }
    }
});
