//! Seeded stratified splits: every class is shuffled on its own and cut at the same fraction,
//! so each split keeps the class proportions (as scikit-learn's `stratify=` does).

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

/// Splits `labels` (indices 0..n) into two index lists, the first holding `fraction` of each class.
/// Both lists come back shuffled with the same seed.
pub fn stratified<L: Ord + Clone>(labels: &[L], fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut by_class: BTreeMap<L, Vec<usize>> = BTreeMap::new();
    for (i, label) in labels.iter().enumerate() {
        by_class.entry(label.clone()).or_default().push(i);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut first, mut second) = (Vec::new(), Vec::new());
    for (_, mut members) in by_class {
        members.shuffle(&mut rng);
        let take = (members.len() as f64 * fraction).round() as usize;
        let take = take.min(members.len());
        first.extend_from_slice(&members[..take]);
        second.extend_from_slice(&members[take..]);
    }
    first.shuffle(&mut rng);
    second.shuffle(&mut rng);
    (first, second)
}

/// Counts per label, in label order.
pub fn class_counts<'a>(labels: impl IntoIterator<Item = &'a str>) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for l in labels {
        *counts.entry(l.to_string()).or_insert(0) += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_proportions_partitions_and_is_seeded() {
        let labels: Vec<u8> = (0..1000).map(|i| if i % 10 == 0 { 1 } else { 0 }).collect();
        let (a, b) = stratified(&labels, 0.8, 7);
        assert_eq!(a.len() + b.len(), 1000);
        assert_eq!(a.iter().filter(|&&i| labels[i] == 1).count(), 80);
        let mut all: Vec<_> = a.iter().chain(&b).copied().collect();
        all.sort();
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
        assert_eq!(stratified(&labels, 0.8, 7), (a.clone(), b));
        assert_ne!(stratified(&labels, 0.8, 8).0, a);
    }
}
