//! The executor phase, in-process.

mod files;
mod hand_edits;
mod processes;
mod restart;
mod retry;
mod scheduling;
