//! All phases end to end through the real binary.

mod chain;
mod pipeline;
mod recovery;
