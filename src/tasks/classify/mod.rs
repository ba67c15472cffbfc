//! Text classification on mean word vectors (NLP 100 Knocks ch. 8, problems 70–79).

pub mod config;
pub mod eval;
pub mod featurize;
pub mod inspect;
pub mod predict;
pub mod report;
pub mod source;
pub mod sweep;
pub mod train;
pub mod trainer;
