//! Whole models written once over [`crate::compute::Backend`], so they run on every device.
//! (The classifier and the CPU language model still live in [`crate::nn`], over slices.)

pub mod lm;
