//! `tsumugi news prepare` (NLP 100 Knocks problem 50): keep the five publishers, split 80/10/10
//! stratified by category with a seed, write `train.tsv`, `valid.tsv`, `test.tsv` and
//! `labels.json`, and report the per-split class counts the article prints.

use crate::data::labeled::{self, Example};
use crate::data::news::{self, CATEGORIES, PUBLISHERS};
use crate::data::split::stratified;
use anyhow::{bail, Result};
use serde::Serialize;
use std::path::Path;

#[derive(Debug, Serialize)]
pub struct PrepareSummary {
    pub rows_read: usize,
    pub rows_kept: usize,
    pub rows_skipped: Vec<String>,
    /// Per split, `(category, count)` from most to least frequent (pandas' `value_counts`).
    pub counts: Vec<(String, Vec<(String, usize)>)>,
}

pub fn prepare(input: &Path, out: &Path, seed: u64, skip_bad_rows: bool) -> Result<PrepareSummary> {
    let (rows, report) = news::read(input, skip_bad_rows)?;
    let kept: Vec<_> = rows
        .iter()
        .filter(|h| PUBLISHERS.contains(&h.publisher.as_str()))
        .collect();
    if kept.len() < 10 {
        bail!(
            "{}: only {} rows from the five publishers ({}); need at least 10 to split",
            input.display(),
            kept.len(),
            PUBLISHERS.join(", ")
        );
    }
    let labels: Vec<&str> = kept.iter().map(|h| h.category.as_str()).collect();
    let (train_idx, rest_idx) = stratified(&labels, 0.8, seed);
    let rest_labels: Vec<&str> = rest_idx.iter().map(|&i| labels[i]).collect();
    let (valid_sub, test_sub) = stratified(&rest_labels, 0.5, seed);
    let to_examples = |idx: &[usize]| -> Vec<Example> {
        idx.iter()
            .map(|&i| Example {
                label: kept[i].category.clone(),
                text: kept[i].title.clone(),
                line: 0,
            })
            .collect()
    };
    let train = to_examples(&train_idx);
    let valid = to_examples(&valid_sub.iter().map(|&j| rest_idx[j]).collect::<Vec<_>>());
    let test = to_examples(&test_sub.iter().map(|&j| rest_idx[j]).collect::<Vec<_>>());
    let mut counts = Vec::new();
    let splits = [("train", &train), ("valid", &valid), ("test", &test)];
    // the four files replace the old split together, or not at all
    crate::atomic::replace_dir(out, &["train.tsv", "valid.tsv", "test.tsv", "labels.json"], |dir| {
        for (name, set) in splits {
            labeled::write(&dir.join(format!("{name}.tsv")), set)?;
        }
        crate::atomic::write_atomic(&dir.join("labels.json"), serde_json::to_string(&CATEGORIES)?.as_bytes())
    })?;
    for (name, set) in splits {
        let mut c: Vec<(String, usize)> = CATEGORIES
            .iter()
            .map(|cat| (cat.to_string(), set.iter().filter(|e| e.label == *cat).count()))
            .filter(|(_, n)| *n > 0)
            .collect();
        c.sort_by_key(|entry| std::cmp::Reverse(entry.1));
        counts.push((name.to_string(), c));
    }
    Ok(PrepareSummary {
        rows_read: rows.len(),
        rows_kept: kept.len(),
        rows_skipped: report.skipped,
        counts,
    })
}
