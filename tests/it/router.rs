//! The router phase, in-process.

mod bulk;
mod duplicates;
mod intake;
mod resilience;
mod routing;
mod state_file;
