//! Early stopping on validation loss.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum EarlyStop {
    Never,
    /// Stop after `patience` epochs without a new best validation loss.
    Patience {
        patience: usize,
    },
    /// NLP 100 Knocks problem 79: stop once the validation loss has not decreased for three
    /// consecutive epochs (four non-decreasing values in a row).
    Article,
}

impl EarlyStop {
    /// After `patience` epochs without a new best, or never without one (a `--patience` flag).
    pub fn after(patience: Option<usize>) -> Self {
        patience.map_or(EarlyStop::Never, |patience| EarlyStop::Patience { patience })
    }

    /// Whether to stop after the epoch whose validation loss is the last of `history`.
    pub fn should_stop(&self, history: &[f64]) -> bool {
        match *self {
            EarlyStop::Never => false,
            EarlyStop::Patience { patience } => {
                let Some(best) = history
                    .iter()
                    .enumerate()
                    .min_by(|a, b| a.1.total_cmp(b.1))
                    .map(|(i, _)| i)
                else {
                    return false;
                };
                history.len() - 1 - best >= patience
            }
            EarlyStop::Article => history.len() >= 4 && history[history.len() - 4..].windows(2).all(|w| w[0] <= w[1]),
        }
    }
}

/// In words: `never`, `patience 20`, `article`.
impl std::fmt::Display for EarlyStop {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            EarlyStop::Never => write!(f, "never"),
            EarlyStop::Patience { patience } => write!(f, "patience {patience}"),
            EarlyStop::Article => write!(f, "article (3 epochs without a lower validation loss)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        let p = EarlyStop::Patience { patience: 2 };
        assert!(!p.should_stop(&[3.0, 2.0, 2.5]));
        assert!(p.should_stop(&[3.0, 2.0, 2.5, 2.1]));
        let a = EarlyStop::Article;
        assert!(!a.should_stop(&[1.0, 1.0, 1.0]));
        assert!(a.should_stop(&[1.0, 1.0, 1.1, 1.2]));
        assert!(!a.should_stop(&[1.0, 1.1, 1.05, 1.2]));
        assert!(!EarlyStop::Never.should_stop(&[1.0, 2.0, 3.0, 4.0]));
    }
}
