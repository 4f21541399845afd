//! All phases end to end through the real binary.

mod pipeline;
mod recovery;
