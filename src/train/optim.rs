//! The optimizer a run names and its hyper-parameters: SGD (momentum, Nesterov, weight decay,
//! as `torch.optim.SGD`) or AdamW (`torch.optim.AdamW`). The updates themselves are
//! [`crate::models::device_params::DeviceParams`]'s, on every backend.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum OptimizerConfig {
    Sgd {
        momentum: f32,
        nesterov: bool,
        weight_decay: f32,
    },
    AdamW {
        beta1: f32,
        beta2: f32,
        eps: f32,
        weight_decay: f32,
    },
}

impl std::fmt::Display for OptimizerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            OptimizerConfig::Sgd {
                momentum,
                nesterov,
                weight_decay,
            } => write!(
                f,
                "sgd (momentum {momentum}{}, weight decay {weight_decay})",
                if *nesterov { ", Nesterov" } else { "" }
            ),
            OptimizerConfig::AdamW {
                beta1,
                beta2,
                eps,
                weight_decay,
            } => write!(
                f,
                "adamw (betas {beta1}/{beta2}, eps {eps:e}, weight decay {weight_decay})"
            ),
        }
    }
}
