//! The task lifecycle in one place (DESIGN.md §4, docs/LIFECYCLE.md).
//!
//! - [`Stage`]: the state machine of a task's entry in `execution_results.json`, with its
//!   transitions as methods. The executor writes a status only as the target of one.
//! - [`next_step`]: what an entry asks the executor for next (an attempt now, one after a
//!   back-off, or nothing).
//! - [`derive`]: every task's [`TaskState`] as `phase status`, `phase run --once` and
//!   `phase wait` show and judge it, from the same stages and rules.
//! - [`plan_retry`]: what `phase retry` may ask for without leaving a task stuck.
//!
//! The executor and the command line both ask this module, so they cannot disagree.

mod derive;
#[cfg(test)]
mod derive_tests;
mod facts;
mod next;
mod retry;
#[cfg(test)]
mod retry_tests;
mod runs;
mod stage;
#[cfg(test)]
mod truth_table;
mod view;

pub use derive::derive;
pub use facts::Facts;
pub(crate) use facts::{RejectedFile, RejectionView};
pub use next::{Next, RecoveryAdvice, applicable_recommendation, next_step};
pub use retry::{Refusal, RetryPlan, plan_retry};
pub use runs::{is_settled, last_activity};
pub use stage::{Ending, GateOutcome, Recommendation, Stage, Transition, is_dead, reverted_status};
pub use view::{LivePhases, Snapshot, TaskState, TaskView};
