//! `tagpub check FILE...`: check distributions the way the index would.

use std::process::ExitCode;

use crate::cli::CheckArgs;
use crate::commands::Context;
use crate::pipeline::check::check_path;

pub fn run(ctx: &Context, args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let reports: Vec<_> = args
        .files
        .iter()
        .map(|file| check_path(&ctx.cwd.join(file), None))
        .collect();
    let ok = reports.iter().all(|r| r.ok());
    if args.json {
        ctx.printer
            .json(&serde_json::json!({ "ok": ok, "files": &reports }));
    } else {
        for report in &reports {
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
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
