//! `tagpub rebuild <tag>`: build a published release again from its tag and
//! compare it with the index's files. Exit 0 when every file is
//! byte-identical, 1 when something differs (the report says what).

use crate::commands::{Context, UsageError};
use crate::exit::ExitStatus;
use crate::pipeline::rebuild::{Comparison, DifferenceKind, Outcome, Rebuild, RebuildError};
use crate::pipeline::resolve::resolve;
use crate::printer::Printer;
use crate::report::{Reporter, Silent};
use clap::Args;

#[derive(Debug, Args)]
pub struct RebuildArgs {
    /// The release tag, e.g. `hf-local-v1.0.0`.
    pub tag: String,
    /// Compare with this repository instead of the configured one.
    #[arg(short, long)]
    pub repository: Option<String>,
    /// Print the comparison as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Member differences shown per kind and file before "… and N more"
/// (`--json` has them all).
const SHOWN_PER_KIND: usize = 10;

pub fn run(ctx: &Context, args: &RebuildArgs) -> anyhow::Result<ExitStatus> {
    let (repo, config) = ctx.repo_and_config_for_tag(&args.tag)?;
    // Nothing is uploaded: a missing token does not matter.
    let plan = resolve(&repo, &config, &args.tag, args.repository.as_deref())?.for_dry_run();
    let reporter: &dyn Reporter = if args.json { &Silent } else { &ctx.printer };
    // A failed plan check (e.g. a changelog entry) is no reason not to
    // compare a published release; it is shown, and the build decides.
    for member in &plan.members {
        for check in member.failures() {
            reporter.warn(&check.text(&format!("{}: ", member.package)));
        }
    }
    let rebuild = Rebuild {
        repo: &repo,
        config: &config,
        dirs: &ctx.dirs,
        reporter,
    };
    // A package tag has one plan; a group tag one per member.
    let comparisons = plan
        .members
        .iter()
        .map(|member| {
            rebuild.compare(member).map_err(|err| match err {
                RebuildError::UnknownRepository(_) => {
                    anyhow::Error::new(UsageError(err.to_string()))
                }
                other => other.into(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if args.json {
        ctx.printer.json(&comparisons)?;
    } else {
        for comparison in &comparisons {
            print_comparison(&ctx.printer, comparison);
        }
    }
    Ok(ExitStatus::success_if(
        comparisons.iter().all(|c| c.identical),
    ))
}

fn short(sha: &Option<String>) -> &str {
    sha.as_deref().map_or("-", |s| &s[..s.len().min(12)])
}

pub fn print_comparison(printer: &Printer, comparison: &Comparison) {
    let what = format!(
        "{} {} ({}) against {}",
        comparison.package, comparison.version, comparison.tag, comparison.repository
    );
    let differing = comparison
        .files
        .iter()
        .filter(|f| f.outcome != Outcome::Identical)
        .count();
    if comparison.identical {
        printer.success(&format!(
            "{what}: byte-identical, {} files",
            comparison.files.len()
        ));
    } else {
        printer.line(&printer.fail(&format!(
            "{what}: {differing} of {} files differ",
            comparison.files.len()
        )));
    }
    printer.line(&format!(
        "  SOURCE_DATE_EPOCH: {}",
        comparison.source_date_epoch
    ));
    for file in &comparison.files {
        let line = match file.outcome {
            Outcome::Identical => printer.pass(&format!(
                "{}: identical (sha256 {})",
                file.filename,
                short(&file.built_sha256)
            )),
            Outcome::Differs => printer.fail(&format!(
                "{}: differs (index sha256 {}, built {})",
                file.filename,
                short(&file.index_sha256),
                short(&file.built_sha256)
            )),
            Outcome::BuiltOnly => printer.fail(&format!(
                "{}: built only (not on {})",
                file.filename, comparison.repository
            )),
            Outcome::IndexOnly => printer.fail(&format!(
                "{}: index only (the build from the tag did not make it)",
                file.filename
            )),
        };
        printer.line(&format!("  {line}"));
        for note in &file.archive {
            printer.line(&format!("      archive: {note}"));
        }
        let mut kinds: Vec<DifferenceKind> = file.members.iter().map(|m| m.kind).collect();
        kinds.sort();
        kinds.dedup();
        for kind in kinds {
            let of_kind: Vec<_> = file.members.iter().filter(|m| m.kind == kind).collect();
            printer.line(&format!(
                "      {} ({} members):",
                kind.label(),
                of_kind.len()
            ));
            for member in of_kind.iter().take(SHOWN_PER_KIND) {
                let how = match (&member.index, &member.built) {
                    (Some(index), Some(built)) => format!(": index {index}, built {built}"),
                    _ => String::new(),
                };
                printer.line(&format!("        {}{how}", member.member));
            }
            if of_kind.len() > SHOWN_PER_KIND {
                printer.line(&format!(
                    "        … and {} more (--json lists them all)",
                    of_kind.len() - SHOWN_PER_KIND
                ));
            }
        }
        if !file.metadata_diff.is_empty() {
            printer.line("      metadata:");
            for line in &file.metadata_diff {
                printer.line(&format!("        {line}"));
            }
        }
    }
}
