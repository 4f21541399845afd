//! The router phase, in-process.

mod bulk;
mod duplicates;
mod intake;
mod routing;
mod state_file;
