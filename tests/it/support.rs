//! What the tests share: the one project builder ([`Project`]), the one way to wait
//! ([`wait_until`], [`wait::Deadline`]), real child processes ([`procs`]), state files
//! through the store ([`store`]), external tools ([`tool`], [`require_tool`]), and the
//! in-process harness of each phase ([`executor`], [`recovery`], [`router`]).

pub mod executor;
pub mod procs;
pub mod project;
pub mod recovery;
pub mod router;
pub mod store;
pub mod tools;
pub mod wait;

pub use project::Project;
pub use tools::{require_tool, tool};
pub use wait::wait_until;
