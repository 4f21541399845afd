//! The engine's side of `scripts/bench-slurm.sh`: N attempts of `true` through the Slurm
//! backend (submit, one `squeue` per pass, final state, ack), as the executor would drive
//! it. Prints one JSON line: wall time and the job ids.
//!
//!     cargo run --release --example slurm_bench -- STATE_DIR N PHASE_BIN [PASS_MS]

use std::path::Path;
use std::time::{Duration, Instant};

use phase_coordinator::runner::RunRequest;
use phase_coordinator::slurm::{SlurmBackend, SlurmEvent, SlurmOptions};
use phase_coordinator::store::StateDir;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, state_dir, n, phase, rest @ ..] = args.as_slice() else {
        return Err("usage: slurm_bench STATE_DIR N PHASE_BIN [PASS_MS]".into());
    };
    let n: u32 = n.parse()?;
    let pass = Duration::from_millis(rest.first().map_or(Ok(100), |p| p.parse())?);
    let state = StateDir::new(state_dir);
    state.ensure_layout()?;
    let work = state.project_root();
    let mut backend = SlurmBackend::new(&state, Path::new(phase))?;
    let begun = Instant::now();
    for i in 0..n {
        let task = format!("t{i}");
        let logs = state.root().join("logs").join(&task);
        let run = RunRequest {
            task,
            attempt: 1,
            argv: vec!["true".into()],
            cwd: work.clone(),
            out_log: logs.join("1.out"),
            err_log: logs.join("1.err"),
            tail_bytes: 4096,
            ..RunRequest::default()
        };
        backend.submit(&run, &SlurmOptions::default())?;
    }
    let submitted = begun.elapsed();
    let mut left = n;
    let mut failed = 0;
    while left > 0 {
        for event in backend.poll() {
            if let SlurmEvent::Finished(f) = event {
                left -= 1;
                failed += u32::from(f.finished.exit_code != Some(0));
                backend.ack(&f.finished.task, f.finished.attempt)?;
            }
        }
        if left > 0 {
            std::thread::sleep(pass);
        }
    }
    let wall = begun.elapsed();
    println!(
        "{{\"jobs\": {n}, \"failed\": {failed}, \"submit_s\": {:.3}, \"wall_s\": {:.3}}}",
        submitted.as_secs_f64(),
        wall.as_secs_f64()
    );
    Ok(())
}
