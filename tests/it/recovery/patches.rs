//! Patches people write into fix_patches.json, merging with their edits, and hand-broken
//! state files.

use phase_coordinator::model::{FixPatches, Patch, PatchSource, RetryRecommendation};
use serde_json::json;

use crate::support::recovery::{Failure, Harness, drive, lint_and_agents};
use crate::support::store::update;

fn human_patch(id: &str, file: &str, diff: &str) -> Patch {
    Patch {
        patch_id: id.to_string(),
        task_id: "t".to_string(),
        attempt: 0,
        fixer: "human".to_string(),
        file: file.to_string(),
        diff: diff.to_string(),
        source: PatchSource::Human,
        ..Patch::default()
    }
}

fn entry(h: &Harness, id: &str) -> Patch {
    h.patches()
        .patches
        .into_iter()
        .find(|p| p.patch_id == id)
        .unwrap_or_else(|| panic!("patch {id} is gone"))
}

#[test]
fn a_hand_written_patch_is_applied_and_validated_and_a_bad_one_rejected_once() {
    let h = Harness::new(&lint_and_agents(r#"["agent1"]"#, 3));
    h.write("src/a.txt", "one  \ntwo\n");
    h.write("b.txt", "unrelated\n");
    h.submit(json!({ "id": "t", "kind": "lint", "workdir": "src", "files": ["a.txt"] }));
    let good = "--- a/a.txt\n+++ b/a.txt\n@@ -1,2 +1,2 @@\n-one  \n+one\n two\n";
    let bad = "--- a/a.txt\n+++ b/a.txt\n@@ -1,2 +1,2 @@\n-not there\n+x\n two\n";
    let escape = "--- a/../b.txt\n+++ b/../b.txt\n@@ -1 +1 @@\n-unrelated\n+owned\n";
    update::<FixPatches>(&h.state, |doc| {
        doc.patches.push(human_patch("mine-1", "a.txt", good));
        doc.patches.push(human_patch("mine-2", "a.txt", bad));
        doc.patches.push(human_patch("mine-3", "../b.txt", escape));
    });
    let (mut rec, wakes) = h.recovery();
    drive(&mut rec, &wakes);

    assert_eq!(
        h.read("src/a.txt"),
        "one\ntwo\n",
        "applied to <workdir>/<file>"
    );
    let applied = entry(&h, "mine-1");
    assert!(
        applied.applied && applied.validated && applied.error.is_none(),
        "{applied:?}"
    );
    assert_eq!(
        applied.source,
        PatchSource::Human,
        "the person's fields stay"
    );

    let rejected = entry(&h, "mine-2");
    assert!(!rejected.applied && rejected.rejected, "{rejected:?}");
    assert!(
        rejected
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("does not apply"),
        "{rejected:?}"
    );
    let escaped = entry(&h, "mine-3");
    assert!(escaped.rejected, "{escaped:?}");
    assert!(
        escaped
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("not inside"),
        "{escaped:?}"
    );
    assert_eq!(h.read("b.txt"), "unrelated\n");

    assert_eq!(h.events_of("FIX_APPLIED", Some("t")).len(), 1);
    assert_eq!(h.events_of("FIX_FAILED", Some("t")).len(), 2);

    // Not retried forever: more passes, a restart, nothing new.
    drive(&mut rec, &wakes);
    drop(rec);
    let (mut rec, wakes) = h.recovery();
    drive(&mut rec, &wakes);
    assert_eq!(h.events_of("FIX_FAILED", Some("t")).len(), 2);
    assert_eq!(h.events_of("FIX_APPLIED", Some("t")).len(), 1);

    // A person fixes their bad patch by clearing the error: it is tried again.
    update::<FixPatches>(&h.state, |doc| {
        let p = doc
            .patches
            .iter_mut()
            .find(|p| p.patch_id == "mine-2")
            .expect("entry");
        p.diff = "--- a/a.txt\n+++ b/a.txt\n@@ -1,2 +1,2 @@\n one\n-two\n+TWO\n".to_string();
        p.error = None;
        p.rejected = false;
    });
    drive(&mut rec, &wakes);
    assert_eq!(h.read("src/a.txt"), "one\nTWO\n");
    assert!(entry(&h, "mine-2").applied);
}

#[test]
fn recovery_never_drops_what_people_write_into_its_files() {
    let h = Harness::new(&lint_and_agents(r#"["agent1"]"#, 3));
    h.write("a.txt", "a\n");
    h.submit(json!({ "id": "t", "kind": "build", "files": ["a.txt"] }));
    h.submit(json!({ "id": "u", "kind": "build", "files": ["a.txt"] }));
    let (mut rec, wakes) = h.recovery();
    h.fail("t", Failure::exit(1, "boom\n"));
    drive(&mut rec, &wakes);
    assert!(h.retry("t", 1).retry_recommended);

    // A person adds an already-applied patch and a verdict of their own.
    update::<FixPatches>(&h.state, |doc| {
        let mut p = human_patch("by-hand", "a.txt", "--- a/a.txt\n+++ b/a.txt\n");
        p.applied = true;
        doc.patches.push(p);
        doc.retries.push(RetryRecommendation {
            task_id: "t".to_string(),
            attempt: 7,
            retry_recommended: false,
            reason: "hold it".to_string(),
            ..RetryRecommendation::default()
        });
    });
    h.fail("u", Failure::exit(1, "boom\n"));
    drive(&mut rec, &wakes);
    let doc = h.patches();
    assert!(
        h.retry("u", 1).retry_recommended,
        "recovery's own verdict written"
    );
    assert!(
        doc.patches.iter().any(|p| p.patch_id == "by-hand"),
        "their patch kept"
    );
    assert!(
        doc.retries
            .iter()
            .any(|r| r.attempt == 7 && r.reason == "hold it"),
        "their verdict kept"
    );
    assert_eq!(
        h.events_of("FIX_APPLIED", None).len(),
        2,
        "the applied one was not re-applied"
    );
}

#[test]
fn a_hand_broken_file_is_reported_once_never_overwritten_and_work_resumes_when_fixed() {
    let h = Harness::new(&lint_and_agents(r#"["agent1"]"#, 3));
    h.write("a.txt", "a\n");
    h.submit(json!({ "id": "t", "kind": "build", "files": ["a.txt"] }));
    let broken = "{ \"patches\": [ oops ] }\n";
    let path = h.state.file("fix_patches.json");
    std::fs::write(&path, broken).expect("break the file");
    h.fail("t", Failure::exit(1, "boom\n"));
    let (mut rec, wakes) = h.recovery();
    drive(&mut rec, &wakes);
    drive(&mut rec, &wakes);

    assert_eq!(
        std::fs::read_to_string(&path).expect("read"),
        broken,
        "never overwritten"
    );
    let invalid = h.events_of("STATE_FILE_INVALID", None);
    assert_eq!(invalid.len(), 1, "{invalid:?}");
    assert_eq!(invalid[0]["data"]["file"], "fix_patches.json");
    let error = invalid[0]["data"]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("fix_patches.json:1:"),
        "names file, line, column: {error}"
    );
    assert!(
        h.analyses().is_empty(),
        "the work that needs the file waits"
    );

    // Another broken content is another report.
    std::fs::write(&path, "[]\n").expect("break differently");
    drive(&mut rec, &wakes);
    assert_eq!(h.events_of("STATE_FILE_INVALID", None).len(), 2);

    // Fixed by hand: the work resumes by itself.
    std::fs::write(&path, "{\"patches\": [], \"retries\": []}\n").expect("fix the file");
    drive(&mut rec, &wakes);
    assert_eq!(h.events_of("STATE_FILE_RECOVERED", None).len(), 1);
    assert!(h.retry("t", 1).retry_recommended);
}
