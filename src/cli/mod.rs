//! One file per command group: its clap definitions and how it prints results.

pub mod bench;
pub mod bench_luke;
pub mod classify;
pub mod classify_args;
pub mod data;
pub mod device;
pub mod finetune;
pub mod flags;
pub mod lm;
pub mod lm_train;
pub mod luke;
pub mod qa;
pub mod resume;

/// Pretty JSON on stdout, for `--json`.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
