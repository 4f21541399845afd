//! The store with real processes: atomic writes, locks, claims, crashes.

mod atomic;
mod counter;
mod crash;
mod locks;
