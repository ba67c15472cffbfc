//! Getting and reading data: the registry-packaged datasets, the readers for each file format,
//! tokenisation and stratified splits.

pub mod cache;
pub mod corpus;
pub mod fetch;
pub mod jcqa;
pub mod json;
pub mod keras_vocab;
pub mod labeled;
pub mod lines;
pub mod news;
pub mod registry;
pub mod rotten_tomatoes;
pub mod split;
pub mod tokenize;
