//! What a run says when it stops on a non-finite loss or weight: where (epoch and step), the
//! learning rate in a readable form, the causes to look at (the rate, or the data), and which
//! checkpoint survives — or that none was written yet.

use std::path::Path;

/// A learning rate as a person writes it: `0.001`, `20`, `1e6` (never 31 digits).
pub fn readable(x: f32) -> String {
    let a = x.abs();
    if a != 0.0 && !(1e-4..1e5).contains(&a) {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

/// Where the last good weights are: `checkpoint` if it exists, else that there are none yet.
pub fn survivor(checkpoint: &Path) -> String {
    if checkpoint.exists() {
        format!("the last good checkpoint is {}", checkpoint.display())
    } else {
        "no checkpoint was written yet (the run stopped in its first epoch)".to_string()
    }
}

/// The message for `what` (`the loss became NaN`) at `epoch` and `step` (both from 1), with
/// the two usual causes.
pub fn message(what: &str, epoch: usize, step: usize, lr: f32) -> String {
    format!(
        "{what} at epoch {epoch}, step {step} (lr {}); a learning rate too high for the data (try a lower --lr, or --clip) or non-finite input data cause this",
        readable(lr)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_as_written_and_missing_checkpoints_are_said_to_be_missing() {
        assert_eq!(readable(1e30), "1e30");
        assert_eq!(readable(1e6), "1e6");
        assert_eq!(readable(20.0), "20");
        assert_eq!(readable(0.001), "0.001");
        assert_eq!(readable(1e-6), "1e-6");
        let m = message("the loss became NaN", 1, 3, 1e30);
        assert!(
            m.contains("epoch 1, step 3 (lr 1e30)") && m.contains("input data"),
            "{m}"
        );
        let s = survivor(Path::new("/no/such/last.safetensors"));
        assert!(s.contains("no checkpoint was written yet"), "{s}");
    }
}
