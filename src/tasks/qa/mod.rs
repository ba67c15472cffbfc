//! Multiple-choice QA on LUKE features (the CNN-on-LUKE article): features from a checkpoint's
//! hidden states (`features`, which also reads and checks feature files), heads trained on
//! them (`train`), and the checkpoint, a head and their ensemble evaluated (`eval`).

pub mod eval;
pub mod features;
pub mod train;
