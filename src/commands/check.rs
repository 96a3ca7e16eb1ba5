//! `tagpub check FILE...`: check distributions the way twine and the index
//! would, in one run (one line per file, then which RST engine decided).

use crate::commands::{Context, UsageError};
use crate::exit::ExitStatus;
use crate::pipeline::check::{CheckOptions, RstChoice, check_paths};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Wheels (.whl) and sdists (.tar.gz, .zip).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Print the reports as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Like `twine check --strict`: a missing long description or content
    /// type is an error, not a warning.
    #[arg(long)]
    pub strict: bool,
}

pub fn run(ctx: &Context, args: &CheckArgs) -> anyhow::Result<ExitStatus> {
    let rst = RstChoice::from_env().map_err(|err| UsageError(err.to_string()))?;
    let options = CheckOptions {
        strict: args.strict,
        rst,
    };
    let paths: Vec<_> = args.files.iter().map(|file| ctx.cwd.join(file)).collect();
    // A forced engine that cannot run is a usage problem, not a failed check.
    let run = check_paths(&paths, None, &options).map_err(|err| UsageError(err.to_string()))?;
    let ok = run.reports.iter().all(|r| r.ok());
    if args.json {
        ctx.printer.json(&serde_json::json!({
            "ok": ok,
            "strict": args.strict,
            "rst_engine": &run.rst_engine,
            "files": &run.reports,
        }))?;
    } else {
        for report in &run.reports {
            if report.ok() {
                ctx.printer.line(&ctx.printer.pass(&report.file));
            } else {
                ctx.printer.line(&ctx.printer.fail(&format!(
                    "{}: {}",
                    report.file,
                    report.errors.join("; ")
                )));
            }
            for warning in &report.warnings {
                ctx.printer
                    .line(&format!("    {}", ctx.printer.warning(warning)));
            }
        }
        if let Some(engine) = &run.rst_engine {
            ctx.printer
                .line(&format!("reStructuredText checked with {engine}"));
        }
    }
    Ok(ExitStatus::success_if(ok))
}
