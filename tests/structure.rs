//! The layout ARCHITECTURE.md promises, checked on the sources: clap only under `src/cli`
//! (and `main.rs`), one crash-test variable, and no two files that import each other.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every source file under `src/`: module path (`train::epochs`) → its code without
/// comments and without its test module.
fn modules() -> BTreeMap<String, String> {
    let mut files = Vec::new();
    rust_files(Path::new("src"), &mut files);
    files
        .into_iter()
        .map(|f| {
            let rel = f.strip_prefix("src").unwrap().with_extension("");
            let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
            if parts.last().is_some_and(|p| p == "mod") {
                parts.pop();
            }
            let text = std::fs::read_to_string(&f).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap();
            let text: String = code
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            (parts.join("::"), text)
        })
        .collect()
}

/// The modules the code of module `name` names with `crate::` or `super::` paths, resolved to
/// the longest known module.
fn imports(name: &str, text: &str, known: &BTreeSet<String>) -> BTreeSet<String> {
    // `super::` is the module above: a file's folder, or the folder above a `mod.rs`'s
    let mut parent: Vec<&str> = name.split("::").collect();
    parent.pop();
    let mut found = BTreeSet::new();
    for (prefix, base) in [("crate::", Vec::new()), ("super::", parent)] {
        for (at, _) in text.match_indices(prefix) {
            let path: String = text[at + prefix.len()..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == ':')
                .collect();
            let mut parts: Vec<&str> = base.clone();
            parts.extend(path.split("::").filter(|p| !p.is_empty()));
            for k in (1..=parts.len()).rev() {
                let candidate = parts[..k].join("::");
                if known.contains(&candidate) {
                    found.insert(candidate);
                    break;
                }
            }
        }
    }
    found.remove(name);
    found
}

#[test]
fn clap_lives_only_in_the_command_line() {
    let offenders: Vec<String> = modules()
        .into_iter()
        .filter(|(name, text)| {
            !(name.starts_with("cli") || name == "main") && (text.contains("clap::") || text.contains("use clap"))
        })
        .map(|(name, _)| name)
        .collect();
    assert!(offenders.is_empty(), "clap outside src/cli: {offenders:?}");
}

#[test]
fn one_crash_test_variable() {
    let mut names = BTreeSet::new();
    for text in modules().into_values() {
        for (at, _) in text.match_indices("TSUMUGI_CRASH") {
            let name: String = text[at..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                .collect();
            names.insert(name);
        }
    }
    assert_eq!(names, BTreeSet::from(["TSUMUGI_CRASH_IN_EPOCH".to_string()]));
}

#[test]
fn no_two_files_import_each_other() {
    let modules = modules();
    let known: BTreeSet<String> = modules.keys().cloned().collect();
    let graph: BTreeMap<&str, BTreeSet<String>> = modules
        .iter()
        .map(|(name, text)| (name.as_str(), imports(name, text, &known)))
        .collect();
    let mut pairs = Vec::new();
    for (a, deps) in &graph {
        for b in deps {
            let nested = b.starts_with(&format!("{a}::")) || a.starts_with(&format!("{b}::"));
            if !nested && *a < b.as_str() && graph.get(b.as_str()).is_some_and(|d| d.contains(*a)) {
                pairs.push(format!("{a} ↔ {b}"));
            }
        }
    }
    assert!(pairs.is_empty(), "files importing each other: {pairs:?}");
}
