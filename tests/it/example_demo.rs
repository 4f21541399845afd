//! The shipped example (examples/demo) ends as README says: five tasks succeed (one after
//! a mechanical fix), one is quarantined with a report, its dependent ends dep_failed.

use std::path::Path;

use serde_json::Value;

use crate::support::demo::{copy_dir, phase};

#[test]
fn shipped_demo_shows_the_whole_loop() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo");
    let tmp = tempfile::tempdir().expect("tempdir");
    let demo = tmp.path().join("demo");
    for part in ["bin", "pristine", "tasks"] {
        copy_dir(&src.join(part), &demo.join(part));
    }
    std::fs::copy(src.join("coordinator.toml"), demo.join("coordinator.toml")).expect("config");
    // What run.sh does, with the binary under test.
    copy_dir(&demo.join("pristine"), &demo.join("work"));
    assert!(phase(&demo, &["init"]).status.success());
    let tasks: Vec<String> = std::fs::read_dir(demo.join("tasks"))
        .expect("tasks")
        .map(|e| e.expect("entry").path().to_string_lossy().into_owned())
        .collect();
    let mut submit = vec!["submit"];
    submit.extend(tasks.iter().map(String::as_str));
    let out = phase(&demo, &submit);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = phase(&demo, &["run", "--once"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let results: Value = serde_json::from_slice(
        &std::fs::read(demo.join(".state/execution_results.json")).expect("results"),
    )
    .expect("json");
    let status = |id: &str| -> String {
        results["results"]
            .as_array()
            .expect("results")
            .iter()
            .find(|r| r["task_id"] == id)
            .map(|r| r["status"].as_str().unwrap_or_default().to_string())
            .unwrap_or_else(|| panic!("no result for {id}"))
    };
    for id in ["fetch", "build", "test", "lint-config", "package"] {
        assert_eq!(status(id), "succeeded", "{id}");
    }
    assert_eq!(status("migrate"), "quarantined");
    assert_eq!(status("announce"), "dep_failed");

    let config = std::fs::read_to_string(demo.join("work/config.ini")).expect("config.ini");
    assert!(
        !config
            .lines()
            .any(|l| l.ends_with(' ') || l.ends_with('\t')),
        "{config:?}"
    );
    let patches: Value = serde_json::from_slice(
        &std::fs::read(demo.join(".state/fix_patches.json")).expect("patches"),
    )
    .expect("json");
    let patch = &patches["patches"][0];
    assert_eq!(patch["file"], "config.ini");
    assert_eq!(patch["validated"], true);
    let report =
        std::fs::read_to_string(demo.join(".state/escalations/migrate.md")).expect("report");
    assert!(report.contains("schema version 7"), "{report}");
    assert!(report.contains("phase retry migrate"), "{report}");
}
