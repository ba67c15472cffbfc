//! Learning-rate schedules applied once per epoch, as torch's `StepLR`, `CosineAnnealingLR`
//! (closed form) and `ReduceLROnPlateau` (mode min, relative threshold) do.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Schedule {
    Constant,
    /// lr · gamma^(epoch / step_size)
    Step {
        step_size: usize,
        gamma: f32,
    },
    /// lr · factor^max(0, epoch + 2 − start): × `factor` each epoch from the (1-based) epoch
    /// `start` on, as Zaremba et al.'s recipe.
    Decay {
        start: usize,
        factor: f32,
    },
    /// eta_min + (lr − eta_min)(1 + cos(π·epoch/t_max))/2
    Cosine {
        t_max: usize,
        eta_min: f32,
    },
    /// lr · factor after `patience` epochs without a relative improvement of `threshold`.
    Plateau {
        factor: f32,
        patience: usize,
        threshold: f32,
        min_lr: f32,
    },
}

/// The state a schedule carries between epochs (saved in checkpoints).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScheduleState {
    pub lr: f32,
    pub best: Option<f64>,
    pub bad_epochs: usize,
}

impl Schedule {
    pub fn start(&self, base_lr: f32) -> ScheduleState {
        ScheduleState {
            lr: base_lr,
            best: None,
            bad_epochs: 0,
        }
    }

    /// The learning rate for the (0-based) `epoch` about to run, after `valid_loss` of the
    /// previous one where known.
    pub fn advance(&self, state: &mut ScheduleState, base_lr: f32, epoch: usize, prev_valid_loss: Option<f64>) -> f32 {
        state.lr = match *self {
            Schedule::Constant => base_lr,
            Schedule::Step { step_size, gamma } => base_lr * gamma.powi((epoch / step_size.max(1)) as i32),
            Schedule::Decay { start, factor } => base_lr * factor.powi((epoch + 2).saturating_sub(start) as i32),
            Schedule::Cosine { t_max, eta_min } => {
                let t = (epoch.min(t_max.max(1))) as f32 / t_max.max(1) as f32;
                eta_min + (base_lr - eta_min) * (1.0 + (std::f32::consts::PI * t).cos()) / 2.0
            }
            Schedule::Plateau {
                factor,
                patience,
                threshold,
                min_lr,
            } => {
                if let Some(loss) = prev_valid_loss {
                    match state.best {
                        Some(best) if loss >= best * (1.0 - threshold as f64) => {
                            state.bad_epochs += 1;
                            if state.bad_epochs > patience {
                                state.lr = (state.lr * factor).max(min_lr);
                                state.bad_epochs = 0;
                            }
                        }
                        _ => {
                            state.best = Some(loss);
                            state.bad_epochs = 0;
                        }
                    }
                }
                state.lr
            }
        };
        state.lr
    }
}

/// In words: `constant`, `step (× 0.1 every 10 epochs)`, `cosine over 60 epochs to 0`, …
impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Schedule::Constant => write!(f, "constant"),
            Schedule::Step { step_size, gamma } => write!(f, "step (× {gamma} every {step_size} epochs)"),
            Schedule::Decay { start, factor } => write!(f, "× {factor} each epoch from epoch {start}"),
            Schedule::Cosine { t_max, eta_min } => write!(f, "cosine over {t_max} epochs to {eta_min}"),
            Schedule::Plateau {
                factor,
                patience,
                threshold,
                min_lr,
            } => write!(
                f,
                "plateau (× {factor} after {patience} epochs without a relative improvement of {threshold}, down to {min_lr})"
            ),
        }
    }
}

/// ULMFiT's slanted triangular rate (Howard & Ruder 2018, eq. 3) at step `t` (from 0) of
/// `total`: up linearly from `lr / ratio` to `lr` over the first `cut_frac` of the steps, then
/// down linearly to `lr / ratio` at the end. Per step, so it is a function of the step alone.
pub fn slanted_triangular(lr: f32, t: usize, total: usize, cut_frac: f64, ratio: f64) -> f32 {
    let cut = (total as f64 * cut_frac).floor().max(1.0);
    let t = t as f64;
    let p = if t < cut {
        t / cut
    } else {
        (1.0 - (t - cut) / (cut * (1.0 / cut_frac - 1.0))).max(0.0)
    };
    (lr as f64 * (1.0 + p * (ratio - 1.0)) / ratio) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_and_step_closed_forms() {
        let c = Schedule::Cosine {
            t_max: 10,
            eta_min: 1e-5,
        };
        let mut s = c.start(0.1);
        assert!((c.advance(&mut s, 0.1, 0, None) - 0.1).abs() < 1e-7);
        assert!((c.advance(&mut s, 0.1, 5, None) - (1e-5 + (0.1 - 1e-5) / 2.0)).abs() < 1e-6);
        assert!((c.advance(&mut s, 0.1, 10, None) - 1e-5).abs() < 1e-7);
        let st = Schedule::Step {
            step_size: 2,
            gamma: 0.5,
        };
        assert!((st.advance(&mut s, 1.0, 5, None) - 0.25).abs() < 1e-7);
        // 1-based epochs 1..=4 run at 1, then halve from epoch 5
        let d = Schedule::Decay { start: 5, factor: 0.5 };
        let lrs: Vec<f32> = (0..7).map(|e| d.advance(&mut s, 1.0, e, None)).collect();
        assert_eq!(lrs, [1.0, 1.0, 1.0, 1.0, 0.5, 0.25, 0.125]);
    }

    #[test]
    fn plateau_divides_after_patience() {
        let p = Schedule::Plateau {
            factor: 0.25,
            patience: 1,
            threshold: 0.0,
            min_lr: 0.0,
        };
        let mut s = p.start(20.0);
        let lrs: Vec<f32> = [None, Some(5.0), Some(4.0), Some(4.5), Some(4.2), Some(3.0)]
            .iter()
            .enumerate()
            .map(|(e, l)| p.advance(&mut s, 20.0, e, *l))
            .collect();
        assert_eq!(lrs, [20.0, 20.0, 20.0, 20.0, 5.0, 5.0]);
    }

    #[test]
    fn slanted_triangular_rises_to_the_peak_and_falls_back() {
        let at = |t| slanted_triangular(0.01, t, 1000, 0.1, 32.0);
        assert!((at(0) - 0.01 / 32.0).abs() < 1e-9);
        assert!((at(100) - 0.01).abs() < 1e-9);
        assert!(at(50) > at(0) && at(50) < at(100) && at(500) < at(100));
        assert!((at(1000) - 0.01 / 32.0).abs() < 1e-7);
    }
}
