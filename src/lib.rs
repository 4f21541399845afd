//! phase-coordinator: a file-driven workflow engine.
//!
//! Three phases — router, executor, recovery — are decoupled watchers on a state
//! directory; JSON files, file locks and atomic renames are their only coordination.
//! Only [`store`] opens state files; phases depend on `store`, `model`, `config` and
//! `events`, never on each other.

pub mod agent;
pub mod cli;
pub mod config;
pub mod coordinator;
pub mod error;
pub mod events;
pub mod executor;
pub mod heap;
pub mod lifecycle;
pub mod model;
pub mod phase;
pub mod plan;
pub mod process;
pub mod recovery;
pub mod report;
pub mod router;
pub mod runner;
pub mod runs;
pub mod schema;
pub mod slurm;
pub mod status;
pub mod store;
pub mod template;
pub mod watch;
pub mod workdir;
pub mod worktree;

pub use error::{Error, Result};
