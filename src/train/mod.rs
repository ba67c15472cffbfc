//! The training core every task shares: the epoch loop (`epochs.rs`), the optimizer a run names,
//! learning-rate schedules, early stopping, checkpoints that resume exactly, and classification
//! metrics. It knows parameters only as a named list ([`crate::nn::params::Params`]), never a
//! model or a task.

pub mod checkpoint;
pub mod early_stop;
pub mod epochs;
pub mod metrics;
pub mod optim;
pub mod progress;
pub mod schedule;
pub mod stop;
