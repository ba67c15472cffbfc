//! `pytorch_model.bin`: the zip container and the pickle inside it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = tsumugi_fuzz::scratch_file("pytorch_model.bin", data);
    let _ = tsumugi::luke::torch_pickle::read_torch_zip(&path);
});
