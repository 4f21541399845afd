//! `phase schema [NAME]`: the published JSON Schemas, as embedded in this build.

use super::{EXIT_OK, Failure, Out, Outcome};
use crate::Error;
use crate::schema::SchemaName;

/// Arguments of `phase schema`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The schema to print (e.g. `task`, `execution_results`); none lists the names.
    pub name: Option<String>,
}

/// Lists the schema names, one a line, or prints one schema.
pub(super) fn run(args: &Args, out: &mut Out<'_>) -> Outcome {
    let Some(name) = &args.name else {
        for schema in SchemaName::ALL {
            out.line(schema.name())?;
        }
        return Ok(EXIT_OK);
    };
    let Some(schema) = SchemaName::from_name(name) else {
        let names: Vec<&str> = SchemaName::ALL.iter().map(|s| s.name()).collect();
        return Err(Failure::from(Error::Usage(format!(
            "unknown schema {name:?} (expected one of: {})",
            names.join(", ")
        ))));
    };
    let source = schema.source();
    out.text(source)?;
    if !source.ends_with('\n') {
        out.text("\n")?;
    }
    Ok(EXIT_OK)
}
