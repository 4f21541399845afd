//! `phase plan import` and `phase plan close` on a Markdown plan: 12 items under three
//! headings, with annotations; the same plan again; a grown plan; closing it.

use serde_json::{Value, json};

use super::{FAST, LIMIT, shown_state};
use crate::support::{Project, tool};

/// The plan: 12 task items (one ticked), a note list that is not a task list, and every
/// kind of annotation. `STAMP` is replaced by the stamping tool and its file.
const PLAN: &str = "\
# Release 1.2

Not a task list:
- a note
- another note

## Build
1. Fetch the sources {command: STAMP fetch}
2. Compile {command: STAMP compile}
3. Unit tests {command: STAMP unit; kind: test}
4. Lint {command: STAMP lint; kind: lint; parallel; files: src/a.py, src/b.py}

## Package
- [ ] Build the wheel {command: STAMP wheel}
- [ ] Build the docs {command: STAMP docs; parallel}
- [x] Write the changelog
- [ ] Sign the wheel {command: STAMP sign; after: 1}

## Ship
1. Upload {command: STAMP upload; tool: shell}
2. Tag the release {command: STAMP tag; after: build.2}
3. Announce it {command: STAMP announce; after: none}
4. Close the milestone {command: STAMP close}
";

/// A project with `release.md` written.
fn with_plan() -> (Project, String) {
    let p = Project::with_config(FAST);
    let stamp = format!(
        "{} {}",
        tool("executor/stamp.sh"),
        p.path("stamps").display()
    );
    let plan = PLAN.replace("STAMP", &stamp);
    p.write("release.md", &plan);
    (p, plan)
}

/// A task file in the inbox or tasks/.
fn task(p: &Project, id: &str) -> Value {
    let inbox = p.json(&format!("inbox/{id}.json"));
    if inbox.is_null() {
        p.json(&format!("tasks/{id}.json"))
    } else {
        inbox
    }
}

fn depends_on(p: &Project, id: &str) -> Vec<String> {
    task(p, id)["depends_on"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Where each stamped step started and ended, in file order.
fn stamps(p: &Project) -> Vec<String> {
    std::fs::read_to_string(p.path("stamps"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        .collect()
}

fn position(stamps: &[String], line: &str) -> usize {
    stamps
        .iter()
        .position(|s| s == line)
        .unwrap_or_else(|| panic!("{line:?} not in {stamps:?}"))
}

#[test]
fn a_plan_is_imported_once_and_a_grown_plan_adds_only_its_new_items() {
    let (p, plan) = with_plan();

    // A dry run says what would happen and writes nothing.
    let (code, out, err) = p.run(&["plan", "import", "release.md", "--dry-run"], LIMIT);
    assert_eq!(code, 0, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 13, "{out}");
    assert_eq!(
        lines[0],
        "would submit release.build.1  [shell] Fetch the sources  (after: -)"
    );
    assert_eq!(
        lines[3],
        "would submit release.build.4  [lint] Lint  (after: release.build.2)"
    );
    assert_eq!(
        lines[6],
        "checked      release.package.3  Write the changelog"
    );
    assert_eq!(
        lines[12],
        "release.md: 12 items: 11 to submit, 0 known, 1 checked (dry run: nothing written)"
    );
    assert!(
        p.entries(".state/inbox").is_empty(),
        "a dry run submits nothing"
    );
    assert!(p.json("plans.json").is_null(), "a dry run records nothing");

    let (code, out, err) = p.run(&["plan", "import", "release.md"], LIMIT);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.ends_with("release.md: 12 items: 11 submitted, 0 known, 1 checked\n"),
        "{out}"
    );
    // Ids, annotations and the link back to the plan.
    let lint = task(&p, "release.build.4");
    assert_eq!(lint["kind"], "lint");
    assert_eq!(lint["files"], json!(["src/a.py", "src/b.py"]));
    assert_eq!(lint["description"], "Lint");
    assert_eq!(lint["plan"]["path"], "release.md");
    assert_eq!(lint["plan"]["item"], "build.4");
    assert_eq!(lint["plan"]["line"], 11);
    assert!(
        lint["plan"]["fingerprint"]
            .as_str()
            .is_some_and(|f| f.starts_with("sha256:"))
    );
    assert_eq!(task(&p, "release.ship.1")["tool"], "shell");
    assert_eq!(task(&p, "release.build.3")["kind"], "test");
    // Each after the stage before; `parallel` shares the stage; `after` replaces it; a
    // ticked item is done and nothing waits for it.
    let expect = [
        ("release.build.1", vec![]),
        ("release.build.2", vec!["release.build.1"]),
        ("release.build.3", vec!["release.build.2"]),
        ("release.build.4", vec!["release.build.2"]),
        (
            "release.package.1",
            vec!["release.build.3", "release.build.4"],
        ),
        (
            "release.package.2",
            vec!["release.build.3", "release.build.4"],
        ),
        ("release.package.4", vec!["release.package.1"]),
        ("release.ship.1", vec!["release.package.4"]),
        ("release.ship.2", vec!["release.build.2"]),
        ("release.ship.3", vec![]),
        ("release.ship.4", vec!["release.ship.3"]),
    ];
    for (id, deps) in &expect {
        assert_eq!(&depends_on(&p, id), deps, "{id}");
    }
    assert!(
        task(&p, "release.package.3").is_null(),
        "a ticked item is not submitted"
    );
    assert_eq!(p.events_of("TASK_DISCOVERED").len(), 11);
    assert_eq!(p.events_of("TASK_SUBMITTED").len(), 11);
    let record = &p.json("plans.json")["plans"][0];
    assert_eq!(
        (record["name"].as_str(), record["path"].as_str()),
        (Some("release"), Some("release.md"))
    );
    assert_eq!(record["items"].as_array().map(Vec::len), Some(12));

    let (code, out, err) = p.run(&["run", "--once"], LIMIT);
    assert_eq!(code, 0, "every item succeeds: {out}{err}");
    let s = stamps(&p);
    assert!(
        position(&s, "end fetch") < position(&s, "start compile"),
        "{s:?}"
    );
    assert!(
        position(&s, "end unit") < position(&s, "start wheel"),
        "{s:?}"
    );
    assert!(
        position(&s, "end lint") < position(&s, "start docs"),
        "{s:?}"
    );
    assert!(
        position(&s, "end wheel") < position(&s, "start sign"),
        "{s:?}"
    );

    // The same plan again: nothing new.
    let (code, out, err) = p.run(&["plan", "import", "release.md"], LIMIT);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.ends_with("release.md: 12 items: 0 submitted, 11 known, 1 checked\n"),
        "{out}"
    );
    assert!(
        out.contains("known        release.ship.4  Close the milestone\n"),
        "{out}"
    );
    assert_eq!(p.events_of("TASK_DUPLICATE_SKIPPED").len(), 11);
    assert_eq!(
        p.events_of("TASK_SUBMITTED").len(),
        11,
        "nothing submitted again"
    );
    assert!(p.entries(".state/inbox").is_empty());

    // A grown plan: only the two new items, after the stage before each.
    let stamp = format!(
        "{} {}",
        tool("executor/stamp.sh"),
        p.path("stamps").display()
    );
    let grown = plan.replace(
        "\n## Package",
        &format!("5. Benchmarks {{command: {stamp} bench; parallel}}\n\n## Package"),
    ) + &format!("5. Celebrate {{command: {stamp} party}}\n");
    p.write("release.md", &grown);
    let (code, out, err) = p.run(&["plan", "import", "release.md", "--dry-run"], LIMIT);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.ends_with(
            "release.md: 14 items: 2 to submit, 11 known, 1 checked (dry run: nothing written)\n"
        ),
        "{out}"
    );
    let (code, out, err) = p.run(&["plan", "import", "release.md"], LIMIT);
    assert_eq!(code, 0, "{out}{err}");
    let submitted: Vec<&str> = out.lines().filter(|l| l.starts_with("submitted")).collect();
    assert_eq!(
        submitted,
        [
            "submitted    release.build.5  [shell] Benchmarks  (after: release.build.2)",
            "submitted    release.ship.5  [shell] Celebrate  (after: release.ship.4)",
        ]
    );
    assert_eq!(p.events_of("TASK_SUBMITTED").len(), 13);
    let (code, out, err) = p.run(&["run", "--once"], LIMIT);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out.lines().next(),
        Some("2 tasks: 2 succeeded"),
        "the run judges its own tasks"
    );

    // Every task succeeded: close ticks the open checkboxes and says what was done.
    let (code, out, err) = p.run(&["plan", "close", "release.md"], LIMIT);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out,
        "release.md: closed: 14 items done, 3 checkboxes ticked, completion section appended\n"
    );
    let closed = p.read("release.md");
    assert!(
        closed.starts_with(&grown.replace("- [ ]", "- [x]")),
        "{closed}"
    );
    assert!(!closed.contains("- [ ]"), "{closed}");
    assert!(closed.contains("\n## Completed\n"), "{closed}");
    assert!(
        closed.contains("| build.5 | `release.build.5` | 1 |"),
        "{closed}"
    );
    assert!(
        closed.contains("| package.3 | `release.package.3` | - | ticked in the plan |"),
        "{closed}"
    );
    assert_eq!(p.events_of("PLAN_CLOSED").len(), 1);
    let (code, out, _) = p.run(&["plan", "close", "release"], LIMIT);
    assert_eq!((code, out.contains("closed already")), (0, true), "{out}");
    assert_eq!(
        p.read("release.md"),
        closed,
        "closing twice changes nothing"
    );
    let (code, out, err) = p.run(&["validate"], LIMIT);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn close_refuses_a_plan_that_changed_or_is_not_done() {
    let p = Project::with_config(&FAST.replace("[execution]\n", "[execution]\nmax_retries = 0\n"));
    p.write(
        "fix.md",
        "# Fix\n- [ ] ok {command: true}\n- [ ] fails {command: false; after: none}\n",
    );
    let (code, out, err) = p.run(&["plan", "import", "fix.md"], LIMIT);
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, _) = p.run(&["run", "--once"], LIMIT);
    assert_eq!(code, 1, "one item fails");
    let (code, out, err) = p.run(&["plan", "close", "fix"], LIMIT);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert_eq!(
        err,
        "error: fix.md: not every task of the plan has succeeded: fix.fix.2 (quarantined); \
         nothing written\n"
    );
    // Done by hand, and the file edited since its import: refused, left as it is.
    let edited = "# Fix\n- [ ] ok {command: true}\n- [x] fails {command: false; after: none}\n";
    p.write("fix.md", edited);
    let (code, _, err) = p.run(&["plan", "close", "fix.md"], LIMIT);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.starts_with("error: fix.md: changed since it was imported"),
        "{err}"
    );
    assert_eq!(p.read("fix.md"), edited);
    // Imported again (the ticked item is done), it closes.
    let (code, out, err) = p.run(&["plan", "import", "fix.md"], LIMIT);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("checked      fix.fix.2  fails"), "{out}");
    let (code, out, err) = p.run(&["plan", "close", "fix.md"], LIMIT);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        p.read("fix.md")
            .starts_with("# Fix\n- [x] ok {command: true}\n- [x] fails")
    );
    assert_eq!(shown_state(&p, "fix.fix.1"), "succeeded");
}

#[test]
fn a_mistake_in_a_plan_submits_nothing_and_names_the_line() {
    let p = Project::with_config(FAST);
    p.write(
        "bad.md",
        "# A\n1. fine {command: true}\n2. typo {comand: true}\n",
    );
    let (code, out, err) = p.run(&["plan", "import", "bad.md"], LIMIT);
    assert_eq!((code, out.as_str()), (2, ""));
    assert_eq!(
        err,
        "error: bad.md: line 3: unknown key \"comand\" (expected one of: id, kind, tool, files, \
         command, after, parallel, timeout, priority, workdir)\n"
    );
    assert!(p.entries(".state/inbox").is_empty());
    p.write("notes.md", "# Notes\n- only\n- notes\n");
    let (code, _, err) = p.run(&["plan", "import", "notes.md"], LIMIT);
    assert_eq!(code, 2);
    assert_eq!(
        err,
        "error: notes.md: no task items (numbered list items, or checkbox items `- [ ]`)\n"
    );
}

#[test]
fn the_readme_plan_imports_as_it_says() {
    let p = Project::with_config(FAST);
    p.write("release-1.2.md", super::readme_block("Plans", "markdown"));
    let (code, out, err) = p.run(&["plan", "import", "release-1.2.md", "--dry-run"], LIMIT);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "would submit release-1-2.build.1  [shell] Fetch the sources  (after: -)\n\
         would submit release-1-2.build.2  [shell] Compile  (after: release-1-2.build.1)\n\
         would submit release-1-2.build.3  [test] Unit tests  (after: release-1-2.build.2)\n\
         would submit release-1-2.build.4  [lint] Lint  (after: release-1-2.build.2)\n\
         would submit release-1-2.package.1  [shell] Build the wheel  \
         (after: release-1-2.build.3, release-1-2.build.4)\n\
         checked      release-1-2.package.2  Write the changelog\n\
         would submit release-1-2.package.3  [shell] Sign the wheel  (after: release-1-2.package.1)\n\
         release-1.2.md: 7 items: 6 to submit, 0 known, 1 checked (dry run: nothing written)\n"
    );
    let (code, _, err) = p.run(&["plan", "import", "release-1.2.md"], LIMIT);
    assert_eq!(code, 0, "{err}");
    let link = &task(&p, "release-1-2.build.3")["plan"];
    assert_eq!(
        (link["path"].as_str(), link["line"].as_u64()),
        (Some("release-1.2.md"), Some(6))
    );
}
