//! `tsumugi luke …`: run a LUKE checkpoint on texts with entity spans and print labels,
//! probabilities, or hidden states.

pub mod input;
pub mod output;
pub mod run;

pub use run::{run, LukeJob};
