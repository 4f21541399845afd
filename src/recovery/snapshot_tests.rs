use super::*;

#[test]
fn diffs_round_trip_through_diffy() {
    let cases = [
        ("a\nb  \nc\n", "a\nb\nc\n"),
        ("no newline", "no newline\nat end\n"),
        ("x\n", "x"),
        ("", "new file\n"),
        (
            "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n",
            "1\n2x\n3\n4\n5\n6\n7\n8\n9\n10\n11x\n12\n",
        ),
    ];
    for (old, new) in cases {
        let diff = unified_diff("d/f.txt", old, new);
        assert!(diff.starts_with("--- a/d/f.txt\n+++ b/d/f.txt\n"), "{diff}");
        let patch = diffy::Patch::from_str(&diff).expect("diffy parses similar's diff");
        assert_eq!(diffy::apply(old, &patch).expect("applies"), new, "{diff}");
    }
}

fn write(root: &Path, rel: &str, bytes: &[u8]) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, bytes).expect("write");
}

#[test]
fn snapshot_walks_the_tree_and_skips_tool_directories() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(root, "src/a.txt", b"hello \n");
    write(root, ".git/HEAD", b"ref\n");
    write(root, ".state/x.json", b"{}");
    write(root, "bin.dat", b"\x00\x01");
    let skip = root.join(".state");
    let before = Snapshot::take(root, &[], &skip);
    write(root, "src/a.txt", b"hello\n");
    write(root, "new.txt", b"n\n");
    write(root, "bin.dat", b"\x00\x02");
    write(root, ".git/HEAD", b"other\n");
    write(root, ".state/x.json", b"[]");
    let changes = before.changes(&Snapshot::take(root, &[], &skip), &root.join("src"));
    let files: Vec<&str> = changes.iter().map(|c| c.file.as_str()).collect();
    assert_eq!(files, ["../bin.dat", "../new.txt", "a.txt"]);
    assert_eq!(
        changes[0].diff,
        "Files a/../bin.dat and b/../bin.dat differ (not text, or too big to diff)\n"
    );
    assert!(
        changes[2].diff.contains("-hello \n+hello\n"),
        "{}",
        changes[2].diff
    );
}

#[test]
fn extra_files_are_seen_even_in_skipped_directories_and_when_missing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let extra = [root.join("a.txt"), root.join("target/gen.txt")];
    let skip = root.join(".state");
    let before = Snapshot::take(root, &extra, &skip);
    write(root, "a.txt", b"x\n");
    write(root, "target/gen.txt", b"y\n");
    write(root, "target/other.txt", b"z\n");
    let changes = before.changes(&Snapshot::take(root, &extra, &skip), root);
    let files: Vec<&str> = changes.iter().map(|c| c.file.as_str()).collect();
    assert_eq!(files, ["a.txt", "target/gen.txt"]);
}

#[test]
fn listing_a_directory_keeps_the_size_and_skip_rules() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(root, "api/a.py", b"a\n");
    write(root, "api/.venv/lib.py", b"v\n");
    write(
        root,
        "api/big.bin",
        &vec![b'x'; (MAX_FILE_BYTES + 1) as usize],
    );
    assert_eq!(
        list_files(&root.join("api"), &root.join(".state")),
        ["a.py"]
    );
}
