//! What the tests share: the one project builder ([`Project`]), the one way to wait
//! ([`wait_until`], [`wait::Deadline`]), real child processes ([`procs`]), state files
//! through the store ([`store`]), external tools ([`tool`], [`require_tool`]), and the
//! in-process harness of each phase ([`executor`], [`recovery`], [`router`]).

pub(crate) mod demo;
pub(crate) mod executor;
pub(crate) mod procs;
pub(crate) mod project;
pub(crate) mod recovery;
pub(crate) mod router;
pub(crate) mod store;
pub(crate) mod tools;
pub(crate) mod wait;

pub(crate) use project::Project;
pub(crate) use tools::{require_tool, tool};
pub(crate) use wait::wait_until;
