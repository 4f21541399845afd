//! Markdown plans as tasks (README "Plans"): `phase plan import` turns the task items of a
//! plan — numbered items and checkbox items, grouped by the headings above them, with an
//! optional `{key: value; …}` annotation — into tasks with ids derived from the plan, each
//! after the one before unless marked `parallel`; importing the same or a grown plan again
//! adds only what is new (by each item's content fingerprint). `phase plan close` ticks the
//! plan's checkboxes once all of its tasks succeeded.
//!
//! Only the command line uses this module; it writes `plans.json` and submits tasks
//! through `store`, as `phase submit` does.

mod annotation;
pub mod close;
pub mod import;
mod items;
mod parse;

pub use annotation::Annotation;
pub use items::{Draft, sha256, slug};
pub use parse::{PlanItem, parse_plan};
