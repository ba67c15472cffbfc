//! Multiple-choice QA on LUKE features (the CNN-on-LUKE article): extract features from a
//! checkpoint (`features`), and the feature file's format shared by the commands that read it.

pub mod features;
pub mod train;
