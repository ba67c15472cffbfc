//! One file per command group: its clap definitions and how it prints results.

pub mod bench;
pub mod classify;
pub mod data;
pub mod device;
pub mod lm;
pub mod lm_train;

/// Pretty JSON on stdout, for `--json`.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
