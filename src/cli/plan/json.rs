//! `phase plan import --json`: what was (or, with `--dry-run`, would be) submitted, as one
//! document (schemas/plan_import.schema.json).

use serde_json::{Value, json};

use crate::Error;
use crate::cli::Failure;
use crate::plan::import::{Prepared, Verdict};

/// The document for the plans of one `phase plan import`.
pub(super) fn render(plans: &[Prepared], dry_run: bool) -> Result<String, Failure> {
    let plans: Vec<Value> = plans.iter().map(plan).collect();
    let doc = json!({ "dry_run": dry_run, "plans": plans });
    serde_json::to_string_pretty(&doc)
        .map_err(|e| Failure::from(Error::Usage(format!("cannot render JSON: {e}"))))
}

fn plan(p: &Prepared) -> Value {
    let count = |want: fn(&Verdict) -> bool| p.items.iter().filter(|d| want(&d.verdict)).count();
    let items: Vec<Value> = p
        .items
        .iter()
        .map(|d| {
            let (verdict, known_as) = match &d.verdict {
                Verdict::New => ("new", None),
                Verdict::Known(id) => ("known", Some(id.clone())),
                Verdict::Checked => ("checked", None),
            };
            json!({
                "task_id": d.task_id,
                "title": d.draft.item.title,
                "kind": d.draft.kind,
                "verdict": verdict,
                "known_as": known_as,
                "depends_on": d.spec.as_ref().map(|s| s.depends_on.clone()).unwrap_or_default(),
            })
        })
        .collect();
    json!({
        "path": p.path.display().to_string(),
        "name": p.name,
        "items": items,
        "new": count(|v| matches!(v, Verdict::New)),
        "known": count(|v| matches!(v, Verdict::Known(_))),
        "checked": count(|v| matches!(v, Verdict::Checked)),
    })
}
