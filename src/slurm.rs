//! The Slurm execution backend: a tool with `backend = "slurm"` has its attempts run as
//! Slurm batch jobs instead of local processes (DESIGN.md §10, docs/SLURM.md).
//!
//! The state directory, on a shared file system, stays the one place of truth: each job
//! runs the engine's own wrapper (`phase __slurm-job`, [`job`]) which takes the task's
//! claim and fence like the local attempt runner and writes the same outcome record
//! (`attempts/<task>/<n>.json`). The engine side, [`SlurmBackend`], submits with
//! `sbatch --parsable`, records each job durably (`attempts/<task>/<n>.slurm.json`), polls
//! every live job with one `squeue` call per pass, cancels with `scancel`, and after a
//! restart adopts every job it finds recorded, never submitting one twice.

pub mod backend;
pub mod classify;
pub mod client;
pub mod job;
pub mod parse;
pub mod script;

use serde::{Deserialize, Serialize};

pub use backend::{JobRef, SlurmBackend, SlurmEvent, SlurmFinished};
pub use job::{SlurmJobArgs, run_job};

/// `[tools.NAME.slurm]`: how the tool's jobs are submitted. Every field is optional; the
/// cluster's defaults apply to what is left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlurmOptions {
    /// `--partition`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// `--account`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// `--qos`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qos: Option<String>,
    /// `--cpus-per-task`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus: Option<u32>,
    /// `--mem`, as Slurm reads it (`512M`, `4G`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem: Option<String>,
    /// More `sbatch` arguments, last (so they can override the above), e.g.
    /// `["--constraint=avx2", "--gres=gpu:1"]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_args: Vec<String>,
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::SlurmOptions;
    use crate::config::{Config, ToolBackend};

    #[test]
    fn a_tool_can_run_on_slurm_and_local_stays_the_default() {
        let text = "[tools.shell]\n\
                    [tools.cluster]\nbackend = \"slurm\"\n\
                    [tools.cluster.slurm]\npartition = \"batch\"\ncpus = 2\nmem = \"4G\"\n\
                    extra_args = [\"--constraint=avx2\"]\n";
        let config = Config::parse(Path::new("c.toml"), text).expect("valid");
        assert_eq!(config.tools["shell"].backend, ToolBackend::Local);
        let cluster = &config.tools["cluster"];
        assert_eq!(cluster.backend, ToolBackend::Slurm);
        let expected = SlurmOptions {
            partition: Some("batch".into()),
            cpus: Some(2),
            mem: Some("4G".into()),
            extra_args: vec!["--constraint=avx2".into()],
            ..SlurmOptions::default()
        };
        assert_eq!(cluster.slurm.as_ref(), Some(&expected));
        let bad = "[tools.c]\nbackend = \"k8s\"\n";
        let err = Config::parse(Path::new("c.toml"), bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("tools.c.backend"), "{err}");
        let typo = "[tools.c.slurm]\npartion = \"x\"\n";
        let err = Config::parse(Path::new("c.toml"), typo)
            .unwrap_err()
            .to_string();
        assert!(err.contains("tools.c.slurm.partion"), "{err}");
    }
}
