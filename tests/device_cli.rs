//! `tsumugi device`: what a binary can compute on. These tests run on CPU-only machines, so a
//! CUDA build must say why CUDA is unavailable (missing driver) instead of panicking, and a
//! plain build must say how to get a CUDA one.

mod common;

use common::{fails, ok};
use serde_json::Value;

#[test]
fn lists_the_cpu_and_says_why_cuda_is_unavailable() {
    let text = ok(&["device"]);
    assert!(text.starts_with("cpu: "), "{text}");
    let cuda_line = text.lines().find(|l| l.starts_with("cuda")).expect("a cuda line");
    if !tsumugi::compute::devices::BUILT_WITH_CUDA {
        assert!(cuda_line.contains("tools/cuda-build.sh"), "{cuda_line}");
    }
    let json: Value = serde_json::from_str(&ok(&["device", "--json"])).unwrap();
    assert!(json["cpu_threads"].as_u64().unwrap() >= 1);
    assert_eq!(json["built_with_cuda"], tsumugi::compute::devices::BUILT_WITH_CUDA);
}

#[test]
fn the_gpu_check_without_a_gpu_is_a_clear_error() {
    if tsumugi::compute::devices::cuda_devices().is_ok_and(|d| !d.is_empty()) {
        return; // a real GPU: there `device --check` is run by hand
    }
    let needle = if tsumugi::compute::devices::BUILT_WITH_CUDA {
        "cannot use CUDA"
    } else {
        "tools/cuda-build.sh"
    };
    fails(&["device", "--check", "--size", "64"], &[needle]);
    fails(&["device", "--check", "--size", "0"], &["--size"]);
}
