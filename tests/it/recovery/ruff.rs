//! The `ruff_json` parser and a mechanical fix with the real ruff (CI installs it and fails
//! without it; elsewhere these tests are skipped with a note when it is not on PATH).

use phase_coordinator::model::Classification;
use serde_json::json;

use crate::support::recovery::{Failure, Harness, config_with, drive};
use crate::support::require_tool;

fn ruff_config(ladder: &str, fixer: bool) -> String {
    let fixer = if fixer {
        r#"fixer = ["ruff", "check", "--no-cache", "--fix", "{files}"]"#
    } else {
        ""
    };
    config_with(&format!(
        r#"
[recovery]
ladder = {ladder}

[recovery.detectors.ruff]
command = ["ruff", "check", "--no-cache", "--output-format", "json", "{{files}}"]
parser = "ruff_json"
kinds = ["python"]
{fixer}
"#
    ))
}

const APP: &str = "import os\nimport sys\n\n\ndef main():\n    return 1\n";

#[test]
fn ruff_json_reads_real_ruff_output() {
    if !require_tool("ruff") {
        return;
    }
    let h = Harness::new(&ruff_config(r#"["mechanical_fix"]"#, false));
    h.write(
        "pkg/app.py",
        "import os\n\n\ndef f():\n    y = 2\n    return 1\n",
    );
    h.submit(json!({ "id": "py", "kind": "python", "files": ["pkg/app.py"] }));
    h.fail("py", Failure::exit(1, "tests failed\n"));
    let (mut rec, wakes) = h.recovery();
    drive(&mut rec, &wakes);

    let a = h.analysis("py", 1);
    assert_eq!(a.plugins_run, ["ruff"]);
    let ruff: Vec<_> = a.issues.iter().filter(|i| i.detector == "ruff").collect();
    let seen: Vec<_> = ruff
        .iter()
        .map(|i| {
            (
                i.file.as_deref(),
                i.line,
                i.column,
                i.rule.as_deref(),
                i.fixable,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (Some("pkg/app.py"), Some(1), Some(8), Some("F401"), true),
            // ruff's fix for an unused variable is unsafe: `--fix` does not apply it.
            (Some("pkg/app.py"), Some(5), Some(5), Some("F841"), false),
        ]
    );
    assert!(
        ruff[0].message.contains("`os` imported but unused"),
        "{:?}",
        ruff[0]
    );
    // No fixer configured, no agent: nothing on the ladder fixes it, so it is retried as is
    // (recovery.retry_unfixable).
    assert_eq!(h.retry("py", 1).ladder_step, "retry");
    assert!(h.retry("py", 1).retry_recommended);
}

#[test]
fn real_ruff_detector_and_fixer_end_with_a_validated_patch() {
    if !require_tool("ruff") {
        return;
    }
    let h = Harness::new(&ruff_config(r#"["mechanical_fix"]"#, true));
    h.write("app.py", APP);
    h.submit(json!({ "id": "py", "kind": "python", "command": ["python", "app.py"], "files": ["app.py"] }));
    h.fail(
        "py",
        Failure::exit(1, "app.py:1:8: F401 `os` imported but unused\n"),
    );
    let (mut rec, wakes) = h.recovery();
    drive(&mut rec, &wakes);

    let a = h.analysis("py", 1);
    assert_eq!(
        (a.classification, a.ladder_step.as_str()),
        (Classification::AutoFixable, "mechanical_fix")
    );
    let patches = h.patches().patches;
    assert_eq!(patches.len(), 1, "{patches:?}");
    let p = &patches[0];
    assert_eq!(
        (p.file.as_str(), p.fixer.as_str(), p.applied, p.validated),
        ("app.py", "ruff", true, true)
    );
    assert_eq!(
        p.diff,
        "--- a/app.py\n+++ b/app.py\n@@ -1,5 +1,3 @@\n-import os\n-import sys\n \n \n def main():\n"
    );
    assert_eq!(h.read("app.py"), "\n\ndef main():\n    return 1\n");
    assert!(h.retry("py", 1).retry_recommended);
    // The recorded diff is ruff's change: applying it to the original gives ruff's file.
    let parsed = diffy::Patch::from_str(&p.diff).expect("diff parses");
    assert_eq!(
        diffy::apply(APP, &parsed).expect("applies"),
        h.read("app.py")
    );
}
