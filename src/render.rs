//! What a person reads of a plan and of a release, shared by the commands
//! that show them (`plan`, `release`, `demo`) so each reads the same.

use crate::config::RepositoryTarget;
use crate::finding;
use crate::pipeline::release::{ReleaseStatus, ReleaseSummary, TagSummary};
use crate::pipeline::resolve::{Plan, TagPlan, short};
use crate::printer::Printer;

/// A package tag's plan as before groups; a group's as its header and one
/// block per member.
pub fn print_plan(printer: &Printer, tag_plan: &TagPlan) {
    let Some(group) = &tag_plan.group else {
        for plan in &tag_plan.members {
            print_plan_member(printer, plan, false);
        }
        return;
    };
    let first = &tag_plan.members[0];
    for (key, value) in [
        ("tag", tag_plan.tag.clone()),
        (
            "group",
            format!(
                "{group} {} ({} packages, released together)",
                tag_plan.version,
                tag_plan.members.len()
            ),
        ),
        ("commit", short(&first.commit).to_string()),
        ("config", first.config.clone()),
    ] {
        printer.line(&format!("{key:<11}{value}"));
    }
    for plan in &tag_plan.members {
        print_plan_member(printer, plan, true);
    }
}

fn print_plan_member(printer: &Printer, plan: &Plan, in_group: bool) {
    let token = plan.token_source.as_deref().unwrap_or(
        if matches!(plan.target, Some(RepositoryTarget::Local)) {
            "not needed"
        } else {
            "not found"
        },
    );
    let mut fields = vec![
        ("tag", plan.tag.clone()),
        ("package", format!("{} {}", plan.package, plan.version)),
        ("path", plan.path.clone()),
        ("commit", short(&plan.commit).to_string()),
        ("repository", plan.repository.clone()),
        ("token", token.to_string()),
        ("config", plan.config.clone()),
    ];
    // In a group, the tag, commit and config are the group's header.
    let indent = if in_group {
        fields.retain(|(key, _)| !matches!(*key, "tag" | "commit" | "config"));
        printer.line("");
        "  "
    } else {
        ""
    };
    for (key, value) in fields {
        printer.line(&format!("{indent}{key:<11}{value}"));
    }
    for line in finding::lines(&plan.checks, indent) {
        printer.line(&line);
    }
}

/// What a release did (or a dry run would do), per member, and for a
/// group the line that ties them together.
pub fn print_summary(printer: &Printer, tag_summary: &TagSummary) {
    for summary in &tag_summary.members {
        print_summary_member(printer, summary);
    }
    if let Some(group) = &tag_summary.group {
        printer.success(&format!(
            "group {group} {}: {} packages {}",
            tag_summary.version,
            tag_summary.members.len(),
            if tag_summary
                .members
                .iter()
                .all(|m| m.status == ReleaseStatus::DryRun)
            {
                "built and checked"
            } else {
                "published and verified, in this order"
            }
        ));
    }
}

fn print_summary_member(printer: &Printer, summary: &ReleaseSummary) {
    let files = summary
        .files
        .iter()
        .map(|f| f.filename.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let what = format!("{} {}", summary.package, summary.version);
    match summary.status {
        ReleaseStatus::DryRun => {
            printer.success(&format!(
                "dry run: {what} built and checked ({files}); nothing uploaded"
            ));
            printer.line(&format!("  artifacts: {}", summary.artifacts_dir.display()));
        }
        ReleaseStatus::AlreadyComplete => printer.success(&format!(
            "{what} is already complete on {}: every file is there with the same sha256, nothing uploaded",
            summary.repository
        )),
        ReleaseStatus::Published => {
            printer.success(&format!(
                "published {what} to {} and verified: {files}",
                summary.repository
            ));
            printer.line(&format!(
                "  install: pip install --index-url {} {}=={}",
                summary.simple_url, summary.package, summary.version
            ));
        }
    }
}
