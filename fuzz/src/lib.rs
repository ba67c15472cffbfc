//! What the fuzz targets share: most of tsumugi's readers take a path (they memory-map or stream
//! the file, and name it in errors), so a target writes its input to a scratch file first.

use std::path::{Path, PathBuf};

/// A folder of this process's own under the system temp dir, made once.
pub fn scratch_dir() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("tsumugi-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch folder");
        dir
    })
}

/// Writes `bytes` to `name` in the scratch folder and returns its path.
pub fn scratch_file(name: &str, bytes: &[u8]) -> PathBuf {
    let path = scratch_dir().join(name);
    std::fs::write(&path, bytes).expect("scratch file");
    path
}

/// Splits `data` at each `\n--8<--\n` into at most `n` parts (the seeds join real files so).
pub fn parts(data: &[u8], n: usize) -> Vec<&[u8]> {
    const CUT: &[u8] = b"\n--8<--\n";
    let mut out = Vec::new();
    let mut rest = data;
    while out.len() + 1 < n {
        match rest.windows(CUT.len()).position(|w| w == CUT) {
            Some(at) => {
                out.push(&rest[..at]);
                rest = &rest[at + CUT.len()..];
            }
            None => break,
        }
    }
    out.push(rest);
    out
}
