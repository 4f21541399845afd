//! The integration tests: one binary, linked once, over one support tree (`support`).
//! Each module holds what used to be one test file; `cargo test --test it MODULE::` runs
//! one of them (e.g. `cargo test --test it router::intake::`).

mod support;

mod bad_input;
mod cli;
mod config;
mod containment;
mod crash;
mod e2e;
mod errors;
mod events_log;
mod example_demo;
mod executor;
mod gate;
mod operator;
mod properties;
mod recovery;
mod retry_deps;
mod router;
mod runner;
mod schemas;
mod slurm;
mod store;
mod watch_events;
mod worktree;
