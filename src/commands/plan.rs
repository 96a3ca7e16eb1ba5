//! `tagpub plan <tag>`: what a release would do, and every check.

use crate::commands::Context;
use crate::exit::ExitStatus;
use crate::pipeline::index_state;
use crate::pipeline::resolve::resolve;
use crate::render::print_plan;
use clap::Args;

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The release tag, e.g. `hf-local-v1.0.0`.
    pub tag: String,
    /// Publish to this repository instead of the configured one.
    #[arg(short, long)]
    pub repository: Option<String>,
    /// Do not ask the index what it already has of the release (its files,
    /// the deadline of a half-published release, provenance).
    #[arg(long, env = crate::env::OFFLINE.name, value_parser = clap::builder::BoolishValueParser::new())]
    pub offline: bool,
    /// Print the plan as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

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
