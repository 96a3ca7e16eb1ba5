//! `tagpub plan <tag>`: what a release would do, and every check.

use std::process::ExitCode;

use crate::cli::PlanArgs;
use crate::commands::Context;
use crate::pipeline::resolve::{CheckStatus, Plan, resolve, short};
use crate::printer::Printer;

pub fn run(ctx: &Context, args: &PlanArgs) -> anyhow::Result<ExitCode> {
    let (repo, config) = ctx.repo_and_config_for_tag(&args.tag)?;
    let plan = resolve(&repo, &config, &args.tag, args.repository.as_deref())?;
    if args.json {
        ctx.printer.json(&serde_json::json!({
            "ok": plan.ok(),
            "plan": &plan,
        }))?;
    } else {
        print_plan(&ctx.printer, &plan);
    }
    Ok(if plan.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub fn print_plan(printer: &Printer, plan: &Plan) {
    let token = plan
        .token_source
        .as_deref()
        .unwrap_or(if plan.repository == "local" {
            "not needed"
        } else {
            "not found"
        });
    for (key, value) in [
        ("tag", plan.tag.clone()),
        ("package", format!("{} {}", plan.package, plan.version)),
        ("path", plan.path.clone()),
        ("commit", short(&plan.commit).to_string()),
        ("repository", plan.repository.clone()),
        ("token", token.to_string()),
        ("config", plan.config.clone()),
    ] {
        printer.line(&format!("{key:<11}{value}"));
    }
    for check in &plan.checks {
        let text = format!("{}: {}", check.name, check.message);
        printer.line(&format!(
            "  {}",
            match check.status {
                CheckStatus::Pass => printer.pass(&text),
                CheckStatus::Warn => printer.warning(&text),
                CheckStatus::Fail => printer.fail(&text),
            }
        ));
    }
}
