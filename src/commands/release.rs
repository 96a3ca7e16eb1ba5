//! `tagpub release <tag>`: plan → build → check → upload → verify.

use crate::commands::Context;
use crate::exit::ExitStatus;
use crate::pipeline::release::{Release, ReleaseOptions};
use crate::pipeline::resolve::resolve;
use crate::render::{print_plan, print_summary};
use crate::report::{Reporter, Silent};
use clap::Args;

#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// The release tag, e.g. `hf-local-v1.0.0`.
    pub tag: String,
    /// Build and check, but upload nothing.
    #[arg(long, short = 'n')]
    pub dry_run: bool,
    /// Publish to this repository instead of the configured one.
    #[arg(short, long)]
    pub repository: Option<String>,
    /// Upload files without PEP 740 attestations even though the project's
    /// latest release had them (the index then shows its provenance as lost).
    #[arg(long)]
    pub allow_unattested: bool,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(ctx: &Context, args: &ReleaseArgs) -> anyhow::Result<ExitStatus> {
    let (repo, config) = ctx.repo_and_config_for_tag(&args.tag)?;
    let mut plan = resolve(&repo, &config, &args.tag, args.repository.as_deref())?;
    if args.dry_run {
        plan = plan.for_dry_run();
    }
    if !args.json {
        print_plan(&ctx.printer, &plan);
    }
    let reporter: &dyn Reporter = if args.json { &Silent } else { &ctx.printer };
    let release = Release {
        repo: &repo,
        config: &config,
        dirs: &ctx.dirs,
        reporter,
    };
    let options = ReleaseOptions {
        dry_run: args.dry_run,
        allow_unattested: args.allow_unattested,
        ..ReleaseOptions::default()
    };
    let summary = release.run(&plan, &options)?;
    if args.json {
        ctx.printer.json(&summary)?;
    } else {
        print_summary(&ctx.printer, &summary);
    }
    Ok(ExitStatus::Success)
}
