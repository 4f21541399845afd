//! The integration tests: one binary, linked once, over one support tree (`support`).
//! Each module holds what used to be one test file; `cargo test --test it MODULE::` runs
//! one of them (e.g. `cargo test --test it router::intake::`).

mod support;

mod cli;
mod config;
mod e2e;
mod errors;
mod events_log;
mod example_demo;
mod executor;
mod properties;
mod recovery;
mod router;
mod runner;
mod schemas;
mod store;
mod watch_events;
