//! From parsed items to task drafts: the ids derived from the plan, the fingerprint of
//! each item's normalised content, and the dependencies. Items run in plan order: each
//! depends on the items of the stage before it, where a stage is an item and the
//! `parallel` items right after it; `after:` replaces that.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use super::parse::PlanItem;
use crate::model::is_valid_task_id;

/// One item, ready to decide about.
#[derive(Debug, Clone)]
pub struct Draft {
    /// The parsed item.
    pub item: PlanItem,
    /// Where it is: `<group>.<n>`, or `<n>` before any heading.
    pub key: String,
    /// The id derived from the plan (or its `id:`).
    pub base_id: String,
    /// `sha256:<hex>` of its normalised content.
    pub fingerprint: String,
    /// `kind`: the annotation's, else `shell` with a command and `code` without.
    pub kind: String,
    /// Dependencies: indices of earlier (or later) drafts, and ids outside the plan.
    pub after_items: Vec<usize>,
    /// Task ids outside the plan it depends on.
    pub after_ids: Vec<String>,
}

/// A name made an id part: lowercase ASCII letters and digits, anything else one `-`,
/// at most `max` bytes; `fallback` when nothing is left.
pub fn slug(text: &str, max: usize, fallback: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
        if out.len() >= max {
            break;
        }
    }
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        fallback.to_string()
    } else {
        out
    }
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The drafts of plan `name`'s items; a reference in `after:` that names no item of the
/// plan and is no valid task id is an error naming the line.
pub(super) fn drafts(name: &str, items: Vec<PlanItem>) -> Result<Vec<Draft>, String> {
    let mut drafts: Vec<Draft> = items.into_iter().map(|i| draft(name, i)).collect();
    let by_key: HashMap<String, usize> = drafts
        .iter()
        .enumerate()
        .map(|(i, d)| (d.key.clone(), i))
        .collect();
    let by_id: HashMap<String, usize> = drafts
        .iter()
        .enumerate()
        .filter_map(|(i, d)| d.item.annotation.id.clone().map(|id| (id, i)))
        .collect();
    // The items of the current stage, and what that stage depends on.
    let mut stage: Vec<usize> = Vec::new();
    let mut stage_deps: Vec<usize> = Vec::new();
    for (i, d) in drafts.iter_mut().enumerate() {
        let implicit = if d.item.annotation.parallel && !stage.is_empty() {
            stage.push(i);
            stage_deps.clone()
        } else {
            stage_deps = std::mem::replace(&mut stage, vec![i]);
            stage_deps.clone()
        };
        match d.item.annotation.after.clone() {
            None => d.after_items = implicit,
            Some(after) => resolve(d, i, after, &by_key, &by_id)?,
        }
    }
    Ok(drafts)
}

/// Fills `d`'s dependencies from its `after:` references; `d` is draft `i`.
fn resolve(
    d: &mut Draft,
    i: usize,
    after: Vec<String>,
    by_key: &HashMap<String, usize>,
    by_id: &HashMap<String, usize>,
) -> Result<(), String> {
    let group = slug(&d.item.group, 40, "group");
    let line = d.item.line;
    for r in after {
        let number = r.chars().all(|c| c.is_ascii_digit());
        let local = if number && !d.item.group.is_empty() {
            format!("{group}.{r}")
        } else {
            r.replace('/', ".")
        };
        if let Some(&j) = by_key.get(&local).or_else(|| by_id.get(&r)) {
            if j != i {
                d.after_items.push(j);
            }
        } else if number {
            return Err(format!(
                "line {line}: after: no item {r} under this heading"
            ));
        } else if is_valid_task_id(&r) {
            d.after_ids.push(r);
        } else {
            return Err(format!(
                "line {line}: after: {r:?} is no item of the plan (<n>, <group>.<n>, an id:) \
                 and no task id"
            ));
        }
    }
    Ok(())
}

fn draft(name: &str, item: PlanItem) -> Draft {
    let a = &item.annotation;
    let key = if item.group.is_empty() {
        item.number.to_string()
    } else {
        format!("{}.{}", slug(&item.group, 40, "group"), item.number)
    };
    let base_id = a.id.clone().unwrap_or_else(|| format!("{name}.{key}"));
    let kind = a.kind.clone().unwrap_or_else(|| {
        if a.command.is_empty() {
            "code"
        } else {
            "shell"
        }
        .to_string()
    });
    let mut files = a.files.clone();
    files.sort();
    let text = format!("{} {}", item.title, item.details);
    let normalised: String = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    let content = serde_json::json!({
        "group": slug(&item.group, 40, ""),
        "kind": kind,
        "text": normalised,
        "files": files,
        "command": a.command,
        "tool": a.tool,
    });
    let fingerprint = sha256(content.to_string().as_bytes());
    Draft {
        key,
        base_id,
        fingerprint,
        kind,
        after_items: Vec::new(),
        after_ids: Vec::new(),
        item,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::parse::parse_plan;

    fn deps(plan: &str) -> Vec<(String, Vec<String>)> {
        let d = drafts("p", parse_plan(plan).expect("parses")).expect("drafts");
        d.iter()
            .map(|x| {
                let mut on: Vec<String> = x.after_items.iter().map(|&j| d[j].key.clone()).collect();
                on.extend(x.after_ids.clone());
                (x.key.clone(), on)
            })
            .collect()
    }

    #[test]
    fn items_follow_each_other_unless_parallel() {
        let plan = "# A\n1. build\n2. unit {parallel: no}\n3. lint {parallel}\n4. package\n\
                    # B\n1. docs {after: none}\n2. publish {after: a.1, 1, ext-task}\n";
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            deps(plan),
            [
                ("a.1".to_string(), s(&[])),
                ("a.2".to_string(), s(&["a.1"])),
                ("a.3".to_string(), s(&["a.1"])),
                ("a.4".to_string(), s(&["a.2", "a.3"])),
                ("b.1".to_string(), s(&[])),
                ("b.2".to_string(), s(&["a.1", "b.1", "ext-task"])),
            ]
        );
    }

    #[test]
    fn ids_and_fingerprints_come_from_the_plan() {
        let d = drafts(
            "rel",
            parse_plan(
                "# Back End!\n1. Lint {kind: lint}\n2. Lint {kind: lint}\n3. lint  {kind: lint}\n",
            )
            .expect("p"),
        )
        .expect("drafts");
        assert_eq!(d[0].base_id, "rel.back-end.1");
        assert_eq!(
            d[0].fingerprint, d[1].fingerprint,
            "same content, same fingerprint"
        );
        assert_eq!(
            d[1].fingerprint, d[2].fingerprint,
            "case and spaces do not matter"
        );
        assert!(d[0].fingerprint.starts_with("sha256:"));
        assert_eq!(slug("Über: the  API", 40, "g"), "ber-the-api");
        let err = drafts("p", parse_plan("# A\n1. x {after: 7}\n").expect("p")).unwrap_err();
        assert_eq!(err, "line 2: after: no item 7 under this heading");
    }
}
