//! `tagpub init`: shows and writes the tagpub.toml that `scaffold` proposes
//! for the repository (the tag scheme it already uses, what is never
//! released left out), saying how many existing release tags it accepts.

use clap::Args;
use std::io::{BufRead, IsTerminal};

use anyhow::Context as _;

use crate::commands::{Context, UsageError};
use crate::config::{BUILTIN_REPOSITORIES, CONFIG_FILE};
use crate::exit::ExitStatus;
use crate::scaffold::Proposal;

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Write without asking.
    #[arg(short, long)]
    pub yes: bool,
    /// Overwrite an existing tagpub.toml.
    #[arg(long)]
    pub force: bool,
    /// The default repository to write (pypi, testpypi, local).
    #[arg(long, default_value = "pypi")]
    pub repository: String,
}

/// What init found and learned, for a person.
fn summary(proposal: &Proposal) -> Vec<String> {
    let mut lines = Vec::new();
    for (package, choice) in proposal.kept.iter().zip(&proposal.choices) {
        lines.push(format!(
            "{} ({}): {} ({})",
            package.name,
            package.display_path(),
            choice.pattern,
            choice.why
        ));
    }
    for (package, reason) in &proposal.skipped {
        lines.push(format!(
            "skipped {} ({}): {reason}",
            package.name,
            package.display_path()
        ));
    }
    if let Some(names) = &proposal.lightweight {
        lines.push(format!(
            "lightweight release tags ({}): writing require-annotated = false",
            names.join(", ")
        ));
    }
    for report in &proposal.reports {
        let plan = if report.last == 0 {
            "no release tag to try plan on".to_string()
        } else {
            format!(
                "{} of the last {} release tags pass plan",
                report.passed, report.last
            )
        };
        lines.push(format!(
            "`{}` → {}: matches {} of {} release tags; {plan}",
            report.pattern, report.target, report.matching, report.total
        ));
        if let Some((tag, why)) = &report.failure {
            lines.push(format!("  ✗ {tag}: {why}"));
        }
    }
    lines
}

pub fn run(ctx: &Context, args: &InitArgs) -> anyhow::Result<ExitStatus> {
    if !BUILTIN_REPOSITORIES.contains(&args.repository.as_str()) {
        return Err(UsageError(format!(
            "--repository must be one of {}; add custom ones to tagpub.toml afterwards",
            BUILTIN_REPOSITORIES.join(", ")
        ))
        .into());
    }
    let repo = ctx.repo()?;
    let root = repo.workdir();
    let target = root.join(CONFIG_FILE);
    if target.exists() && !args.force {
        return Err(UsageError(format!(
            "{} already exists; pass --force to overwrite it",
            target.display()
        ))
        .into());
    }
    let proposal = crate::scaffold::propose(&repo, &target, &args.repository)?;
    let summary = summary(&proposal);
    let text = &proposal.text;
    let kept = &proposal.kept;

    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if !args.yes && interactive {
        crate::printer::eprint_prompt(&format!(
            "{text}\n{}\nWrite this to {}? [Y/n] ",
            summary.join("\n"),
            target.display()
        ));
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if matches!(answer.trim().to_ascii_lowercase().as_str(), "n" | "no") {
            ctx.printer.line("nothing written");
            return Ok(ExitStatus::Failed);
        }
    } else {
        for line in &summary {
            ctx.printer.line(line);
        }
    }
    crate::fsutil::write_atomic(&target, text.as_bytes())
        .with_context(|| format!("cannot write {}", target.display()))?;
    ctx.printer.out(text)?;
    ctx.printer.success(&format!(
        "wrote {} with {} package{}",
        target.display(),
        kept.len(),
        if kept.len() == 1 { "" } else { "s" }
    ));
    // What the repository released with before: it would publish the same
    // tags beside tagpub.
    crate::ci::others::warn_each(root, &ctx.printer);
    Ok(ExitStatus::Success)
}
