//! The recovery phase, in-process.

mod classify;
mod ladder;
mod patches;
mod restart;
mod ruff;
mod scope;
