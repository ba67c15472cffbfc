//! Atomic file writes: write to a temporary sibling, fsync, then rename over the target, so a
//! reader (or a resumed run after `kill -9`) never sees a half-written checkpoint or output.

use anyhow::{Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Temporary path next to `path` (same directory, so the final rename stays on one filesystem).
fn temp_sibling(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".to_string());
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Writes `bytes` to `path` atomically, creating parent directories.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |file| file.write_all(bytes).map_err(Into::into))
}

/// Like [`write_atomic`], for writers that stream into the file.
pub fn write_atomic_with(path: &Path, fill: impl FnOnce(&mut std::fs::File) -> Result<()>) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("creating directory {}", parent.display()))?;
    }
    let tmp = temp_sibling(path);
    let result = (|| -> Result<()> {
        let mut file = std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        fill(&mut file).with_context(|| format!("writing {}", path.display()))?;
        file.sync_all().with_context(|| format!("syncing {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Writes a set of files as one: `fill` writes them into a fresh sibling folder of `dir`, which
/// then takes `dir`'s place, so a failure (a full disk) leaves the old set whole, never a mix of
/// old and new files. `dir` may hold only files named in `names` (the set being replaced):
/// anything else there is refused, not deleted.
pub fn replace_dir(dir: &Path, names: &[&str], fill: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    if dir.exists() {
        for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let name = entry?.file_name();
            if !names.iter().any(|n| name == std::ffi::OsStr::new(n)) {
                anyhow::bail!(
                    "{}: holds {} besides the {} this command writes; choose another --out",
                    dir.display(),
                    name.to_string_lossy(),
                    names.join(", ")
                );
            }
        }
    }
    let sibling = |what: &str| {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        dir.with_file_name(format!(".{name}.{what}-{}", std::process::id()))
    };
    let (staging, old) = (sibling("staging"), sibling("old"));
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("creating directory {}", parent.display()))?;
    }
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir(&staging).with_context(|| format!("creating {}", staging.display()))?;
    if let Err(e) = fill(&staging) {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    if dir.exists() {
        std::fs::rename(dir, &old).with_context(|| format!("moving {} aside", dir.display()))?;
    }
    std::fs::rename(&staging, dir).with_context(|| format!("renaming {} to {}", staging.display(), dir.display()))?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_fill_leaves_no_file_behind() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.txt");
        let err = write_atomic_with(&target, |_| anyhow::bail!("boom")).unwrap_err();
        assert!(format!("{err:#}").contains("boom"));
        assert!(!target.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn replaces_existing_content() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("sub/out.txt");
        write_atomic(&target, b"one").unwrap();
        write_atomic(&target, b"two").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"two");
    }

    /// A set of files replaced together: a failure part-way (a full disk) leaves the old set
    /// whole, and a folder holding other files is refused, not emptied.
    #[test]
    fn a_set_of_files_is_replaced_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("split");
        let names = ["a.tsv", "b.tsv"];
        let write = |text: &'static str, fail_after_a: bool| {
            replace_dir(&out, &names, move |d| {
                write_atomic(&d.join("a.tsv"), text.as_bytes())?;
                if fail_after_a {
                    anyhow::bail!("disk full");
                }
                write_atomic(&d.join("b.tsv"), text.as_bytes())
            })
        };
        write("old", false).unwrap();
        assert!(write("new", true).is_err());
        for n in names {
            assert_eq!(std::fs::read_to_string(out.join(n)).unwrap(), "old");
        }
        write("new", false).unwrap();
        assert_eq!(std::fs::read_to_string(out.join("b.tsv")).unwrap(), "new");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no staging left behind"
        );
        std::fs::write(out.join("notes.txt"), "mine").unwrap();
        let e = write("newer", false).unwrap_err().to_string();
        assert!(e.contains("notes.txt"), "{e}");
        assert_eq!(std::fs::read_to_string(out.join("a.tsv")).unwrap(), "new");
    }
}
