//! safetensors files: a run's checkpoint (`TensorFile`, with its JSON metadata) and a LUKE
//! checkpoint's `model.safetensors`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = tsumugi_fuzz::scratch_file("last.safetensors", data);
    let _ = tsumugi::train::checkpoint::TensorFile::read(&path);
    let dir = tsumugi_fuzz::scratch_dir().join("model");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("model.safetensors"), data).unwrap();
    let _ = tsumugi::luke::weights::load_dir(&dir);
});
