//! Softmax and mean cross-entropy over logits `[B, L]`.

/// Row-wise softmax of `[B, L]`, numerically stable.
pub fn softmax(logits: &[f32], classes: usize) -> Vec<f32> {
    let mut out = logits.to_vec();
    for row in out.chunks_exact_mut(classes) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0;
        for v in row.iter_mut() {
            *v = (*v - max).exp();
            sum += *v;
        }
        row.iter_mut().for_each(|v| *v /= sum);
    }
    out
}

/// Sum over the batch of −log softmax(logits)[label], computed from log-sum-exp (no log(0)).
pub fn cross_entropy_sum(logits: &[f32], labels: &[u32], classes: usize) -> f64 {
    logits
        .chunks_exact(classes)
        .zip(labels)
        .map(|(row, &y)| {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let lse = max as f64 + row.iter().map(|v| ((v - max) as f64).exp()).sum::<f64>().ln();
            lse - row[y as usize] as f64
        })
        .sum()
}

/// Mean cross-entropy and its gradient d loss / d logits = (softmax − onehot)/B.
pub fn cross_entropy(logits: &[f32], labels: &[u32], classes: usize) -> (f32, Vec<f32>) {
    let batch = labels.len();
    let loss = (cross_entropy_sum(logits, labels, classes) / batch as f64) as f32;
    let mut grad = softmax(logits, classes);
    for (row, &y) in grad.chunks_exact_mut(classes).zip(labels) {
        row[y as usize] -= 1.0;
        row.iter_mut().for_each(|v| *v /= batch as f32);
    }
    (loss, grad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_entropy_matches_definition() {
        let logits = [1.0, 2.0, 0.5, -1.0, 0.0, 3.0];
        let (loss, grad) = cross_entropy(&logits, &[1, 2], 3);
        let p = softmax(&logits, 3);
        let want = -(p[1].ln() + p[5].ln()) / 2.0;
        assert!((loss - want).abs() < 1e-6);
        assert!((grad[1] - (p[1] - 1.0) / 2.0).abs() < 1e-7);
        assert!((grad[0] - p[0] / 2.0).abs() < 1e-7);
        let big = cross_entropy_sum(&[1000.0, -1000.0], &[1], 2);
        assert!((big - 2000.0).abs() < 1e-6);
    }
}
