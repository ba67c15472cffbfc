//! tsumugi: neural NLP in one binary — word-vector classifiers, language models and LUKE.
//!
//! Data flows one way: [`data`] → [`embed`] → [`nn`] → [`train`] → [`report`]; [`tasks`] wires
//! one whole experiment together and is the only module that knows about one.

pub mod atomic;
pub mod compute;
pub mod data;
pub mod embed;
pub mod kernels;
pub mod luke;
pub mod memory;
pub mod models;
pub mod nn;
pub mod report;
pub mod tasks;
pub mod train;
