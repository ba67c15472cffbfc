//! Process-wide allocator settings.
//!
//! A training step or a LUKE forward allocates the same large buffers every time (a 700 × 10000
//! logits matrix is 28 MB). glibc serves such blocks with `mmap` or returns freed heap to the
//! system, so every step paid page faults and kernel zeroing again: 10k faults per
//! `bench lstm` step, 3–5% of its samples in `perf`. Keeping freed memory in the heap halves
//! the process's faults (100k → 47k over `bench lstm --no-peer --repeats 3`); what remains is
//! first use.

/// Serve blocks up to glibc's largest mmap threshold (32 MiB) from the heap and never trim it.
/// Elsewhere than glibc this does nothing.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}
