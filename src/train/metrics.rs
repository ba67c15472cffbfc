//! Accuracy, confusion matrix and per-class precision / recall / F1.

use serde::{Deserialize, Serialize};

/// Mean and sample standard deviation (0 for one value).
pub fn mean_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = if values.len() > 1 {
        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

/// A figure over seeds: mean and sample standard deviation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeanSd {
    pub mean: f64,
    pub sd: f64,
}

impl MeanSd {
    pub fn of(values: &[f64]) -> Self {
        let (mean, sd) = mean_sd(values);
        Self { mean, sd }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassScores {
    pub label: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub loss: f64,
    pub accuracy: f64,
    pub macro_f1: f64,
    /// `confusion[gold][predicted]`
    pub confusion: Vec<Vec<usize>>,
    pub per_class: Vec<ClassScores>,
}

/// Scores predictions against gold labels; `labels` names the class indices.
pub fn evaluate(gold: &[u32], predicted: &[u32], labels: &[String], loss: f64) -> Evaluation {
    let k = labels.len();
    let mut confusion = vec![vec![0usize; k]; k];
    for (&g, &p) in gold.iter().zip(predicted) {
        confusion[g as usize][p as usize] += 1;
    }
    let correct: usize = (0..k).map(|i| confusion[i][i]).sum();
    let per_class: Vec<ClassScores> = (0..k)
        .map(|c| {
            let tp = confusion[c][c] as f64;
            let predicted_c: usize = (0..k).map(|g| confusion[g][c]).sum();
            let support: usize = confusion[c].iter().sum();
            let precision = if predicted_c > 0 { tp / predicted_c as f64 } else { 0.0 };
            let recall = if support > 0 { tp / support as f64 } else { 0.0 };
            let f1 = if precision + recall > 0.0 {
                2.0 * precision * recall / (precision + recall)
            } else {
                0.0
            };
            ClassScores {
                label: labels[c].clone(),
                precision,
                recall,
                f1,
                support,
            }
        })
        .collect();
    let present: Vec<&ClassScores> = per_class.iter().filter(|c| c.support > 0).collect();
    let macro_f1 = present.iter().map(|c| c.f1).sum::<f64>() / present.len().max(1) as f64;
    Evaluation {
        loss,
        accuracy: correct as f64 / gold.len().max(1) as f64,
        macro_f1,
        confusion,
        per_class,
    }
}

/// Index of the largest value in each row of `[B, L]` (first on ties, as torch.argmax).
/// How many rows of `logits` `[N, classes]` pick their `labels` under [`argmax_rows`].
pub fn correct(logits: &[f32], classes: usize, labels: &[u32]) -> usize {
    argmax_rows(logits, classes)
        .iter()
        .zip(labels)
        .filter(|(p, l)| p == l)
        .count()
}

pub fn argmax_rows(values: &[f32], classes: usize) -> Vec<u32> {
    values
        .chunks_exact(classes)
        .map(|row| {
            let mut best = 0;
            for (i, v) in row.iter().enumerate() {
                if *v > row[best] {
                    best = i;
                }
            }
            best as u32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_sample_sd() {
        let (m, s) = mean_sd(&[0.8, 0.9, 1.0]);
        assert!((m - 0.9).abs() < 1e-12 && (s - 0.1).abs() < 1e-12);
        assert_eq!(mean_sd(&[0.5]), (0.5, 0.0));
    }

    #[test]
    fn scores_a_small_case() {
        let labels: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let e = evaluate(&[0, 0, 1, 1, 2], &[0, 1, 1, 1, 1], &labels, 0.5);
        assert_eq!(e.accuracy, 0.6);
        assert_eq!(e.confusion, vec![vec![1, 1, 0], vec![0, 2, 0], vec![0, 1, 0]]);
        assert_eq!(e.per_class[0].precision, 1.0);
        assert_eq!(e.per_class[0].recall, 0.5);
        assert!((e.per_class[1].precision - 0.5).abs() < 1e-12);
        assert_eq!(e.per_class[2].f1, 0.0);
        assert_eq!(argmax_rows(&[0.1, 0.5, 0.5, 2.0, 1.0, 0.0], 3), [1, 0]);
    }
}
