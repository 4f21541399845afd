//! Reading a Markdown plan with pulldown-cmark (never regexes over Markdown): the task
//! items — items of top-level numbered lists, and checkbox items of any top-level list —
//! each under the heading before it (its group), with its text, annotation, further
//! lines and where its checkbox is.

use std::ops::Range;

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

use super::annotation::{self, Annotation};

/// One task item as written in the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanItem {
    /// The heading it is under (`""` before any).
    pub group: String,
    /// 1-based number among the task items of its group.
    pub number: u32,
    /// 1-based line where it starts.
    pub line: u32,
    /// Its first line of text, without the annotation.
    pub title: String,
    /// What else the item holds (more paragraphs, nested lists, code), as text.
    pub details: String,
    /// Its checkbox: `Some(true)` ticked, `Some(false)` open, `None` without one.
    pub checked: Option<bool>,
    /// Byte range of the checkbox (`[ ]`) in the file, for `phase plan close`.
    pub marker: Option<Range<usize>>,
    /// The annotation.
    pub annotation: Annotation,
}

/// An item being read.
#[derive(Default)]
struct Open {
    start: usize,
    ordered: bool,
    checked: Option<bool>,
    marker: Option<Range<usize>>,
    title: String,
    title_done: bool,
    details: String,
}

/// The task items of `text`, in order; an annotation that does not parse is an error
/// naming its line.
pub fn parse_plan(text: &str) -> Result<Vec<PlanItem>, String> {
    let mut items = Vec::new();
    let mut group = String::new();
    let mut numbers: std::collections::HashMap<String, u32> = Default::default();
    let mut heading: Option<String> = None;
    // Whether each list that is open is ordered, outermost first.
    let mut lists: Vec<bool> = Vec::new();
    let mut open: Option<Open> = None;
    let parser = Parser::new_ext(text, Options::ENABLE_TASKLISTS).into_offset_iter();
    for (event, range) in parser {
        match &event {
            Event::Start(Tag::Heading { .. }) if lists.is_empty() => heading = Some(String::new()),
            Event::End(TagEnd::Heading(_)) if lists.is_empty() => {
                group = heading.take().unwrap_or_default().trim().to_string();
            }
            Event::Start(Tag::List(first)) => {
                if let Some(item) = open.as_mut() {
                    item.title_done |= !item.title.is_empty();
                }
                lists.push(first.is_some());
            }
            Event::End(TagEnd::List(_)) => {
                lists.pop();
            }
            Event::Start(Tag::Item) if lists.len() == 1 => {
                open = Some(Open {
                    start: range.start,
                    ordered: lists[0],
                    ..Open::default()
                });
            }
            Event::End(TagEnd::Item) if lists.len() == 1 => {
                let Some(item) = open.take() else { continue };
                if !item.ordered && item.checked.is_none() {
                    continue; // a plain bullet: a note, not a task
                }
                let line = line_of(text, item.start);
                let (title, annotation) =
                    annotation::split(&item.title).map_err(|e| format!("line {line}: {e}"))?;
                let number = numbers.entry(group.clone()).or_insert(0);
                *number += 1;
                items.push(PlanItem {
                    group: group.clone(),
                    number: *number,
                    line,
                    title,
                    details: item.details.trim().to_string(),
                    checked: item.checked,
                    marker: item.marker,
                    annotation,
                });
            }
            Event::TaskListMarker(done) if lists.len() == 1 => {
                if let Some(item) = open.as_mut() {
                    item.checked = Some(*done);
                    item.marker = Some(range.clone());
                }
            }
            _ => {
                if let Some(h) = heading.as_mut() {
                    push_text(h, &event);
                } else if let Some(item) = open.as_mut() {
                    take(item, &event, lists.len());
                }
            }
        }
    }
    Ok(items)
}

/// Adds an event inside an open item to its title (its first block) or its details.
fn take(item: &mut Open, event: &Event<'_>, depth: usize) {
    match event {
        Event::Start(Tag::Paragraph) if !item.title.is_empty() => item.title_done = true,
        Event::Start(Tag::CodeBlock(_) | Tag::BlockQuote(_) | Tag::Table(_)) => {
            item.title_done |= !item.title.is_empty();
        }
        Event::End(TagEnd::Paragraph | TagEnd::Item | TagEnd::CodeBlock) => {
            if item.title_done || depth > 1 {
                item.details.push('\n');
            } else {
                item.title_done = !item.title.is_empty();
            }
        }
        _ if item.title_done || depth > 1 => push_text(&mut item.details, event),
        Event::SoftBreak | Event::HardBreak => item.title.push(' '),
        _ => push_text(&mut item.title, event),
    }
}

/// The text an inline event stands for.
fn push_text(out: &mut String, event: &Event<'_>) {
    match event {
        Event::Text(t) | Event::Code(t) | Event::InlineHtml(t) | Event::Html(t) => out.push_str(t),
        Event::SoftBreak | Event::HardBreak => out.push('\n'),
        _ => {}
    }
}

/// 1-based line of byte `offset`.
fn line_of(text: &str, offset: usize) -> u32 {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count() as u32
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAN: &str = "# Release\n\nIntro {not an item}\n\n## Back end\n\
        1. Format `api` {files: a_b.py; kind: lint}\n\
        2. Lint *it*\n   more text\n   - nested note\n\
        3. [ ] Tests\n\n\
        - [ ] Docs {after: 1}\n- [x] Done\n- plain bullet\n\n\
        ## Front\n\n1. loose\n\n   para two\n";

    #[test]
    fn numbered_and_checkbox_items_under_their_headings() {
        let items = parse_plan(PLAN).expect("parses");
        let summary: Vec<(&str, u32, u32, &str, Option<bool>)> = items
            .iter()
            .map(|i| {
                (
                    i.group.as_str(),
                    i.number,
                    i.line,
                    i.title.as_str(),
                    i.checked,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("Back end", 1, 6, "Format api", None),
                ("Back end", 2, 7, "Lint it more text", None),
                ("Back end", 3, 10, "Tests", Some(false)),
                ("Back end", 4, 12, "Docs", Some(false)),
                ("Back end", 5, 13, "Done", Some(true)),
                ("Front", 1, 18, "loose", None),
            ]
        );
        assert_eq!(items[0].annotation.files, ["a_b.py"]);
        assert_eq!(items[1].details, "nested note");
        assert_eq!(items[5].details, "para two");
        let marker = items[2].marker.clone().expect("marker");
        assert_eq!(&PLAN[marker], "[ ]");
    }

    #[test]
    fn a_bad_annotation_names_its_line() {
        let err = parse_plan("# P\n\n1. ok\n2. bad {colour: red}\n").unwrap_err();
        assert!(err.starts_with("line 4: unknown key \"colour\""), "{err}");
    }
}
