//! `tagpub plan <tag>`: what a release would do, and every check.

use crate::cli::PlanArgs;
use crate::commands::Context;
use crate::config::RepositoryTarget;
use crate::exit::ExitStatus;
use crate::finding;
use crate::pipeline::index_state;
use crate::pipeline::resolve::{Plan, TagPlan, resolve, short};
use crate::printer::Printer;

pub fn run(ctx: &Context, args: &PlanArgs) -> anyhow::Result<ExitStatus> {
    let (repo, config) = ctx.repo_and_config_for_tag(&args.tag)?;
    let mut plan = resolve(&repo, &config, &args.tag, args.repository.as_deref())?;
    if !args.offline {
        index_state::add_plan_checks(&mut plan, &config, &ctx.dirs);
    }
    if args.json {
        ctx.printer.json(&serde_json::json!({
            "ok": plan.ok(),
            "plan": &plan,
        }))?;
    } else {
        print_plan(&ctx.printer, &plan);
    }
    Ok(ExitStatus::success_if(plan.ok()))
}

/// A package tag's plan as before groups; a group's as its header and one
/// block per member.
pub fn print_plan(printer: &Printer, tag_plan: &TagPlan) {
    let Some(group) = &tag_plan.group else {
        for plan in &tag_plan.members {
            print_member(printer, plan, false);
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
        print_member(printer, plan, true);
    }
}

fn print_member(printer: &Printer, plan: &Plan, in_group: bool) {
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
