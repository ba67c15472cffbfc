//! What a person reads after a run: the run directory (config, metrics, checkpoints), figures
//! as PNG and SVG, and `report.md`.

pub mod plot;
pub mod run_dir;
