//! The command line: the top of clap's definitions. Each command's own
//! arguments (`*Args`) live in its module under `commands/`, beside the code
//! that reads them; this module only puts them together, so the arrow goes
//! one way (`cli` → `commands`, never back). No logic here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "tagpub",
    version,
    about = "Publish Python packages the moment their release tag is created",
    long_about = "Publish Python packages the moment their release tag is created.\n\n\
        tagpub reads tagpub.toml (or [tool.tagpub] in pyproject.toml), resolves a release \
        tag to a package and version, builds it from a clean export of the tagged commit, \
        checks the files, uploads them and verifies them on the index.",
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Run as if tagpub was started in this directory (like `git -C`).
    #[arg(short = 'C', long = "directory", global = true, value_name = "DIR")]
    pub directory: Option<PathBuf>,
    /// More output (-v: info, -vv: debug, -vvv: trace). TAGPUB_LOG takes a tracing filter and overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write tagpub.toml from the pyproject.toml files in the repository.
    Init(crate::commands::init::InitArgs),
    /// Resolve a tag and show what releasing it would do, with every check.
    Plan(crate::commands::plan::PlanArgs),
    /// Build a package from HEAD (committed state) for local testing.
    Build(crate::commands::build::BuildArgs),
    /// Check built distributions (wheels and sdists) the way the index would.
    Check(crate::commands::check::CheckArgs),
    /// Build, check, upload and verify the release a tag names.
    Release(crate::commands::release::ReleaseArgs),
    /// Write the next version and changelog section; commit, tag (signed), push.
    Bump(crate::commands::bump::BumpArgs),
    /// Build a published release again from its tag and compare the files with the index's (exit 0: byte-identical, 1: something differs).
    Rebuild(crate::commands::rebuild::RebuildArgs),
    /// Store, show, delete and list upload tokens (OS keychain).
    Token(crate::commands::token::TokenArgs),
    /// Install, remove or inspect tagpub's git hooks (pre-push gate, tag nudge).
    Hooks(crate::commands::hooks::HooksArgs),
    /// Run, start, stop the background daemon that publishes new tags.
    Daemon(crate::commands::daemon::DaemonArgs),
    /// Install the daemon as a user service (systemd, launchd).
    Service(crate::commands::service::ServiceArgs),
    /// Choose the repositories the daemon watches.
    Watch(crate::commands::watch::WatchArgs),
    /// The daemon, its repositories, and recent jobs.
    Status(crate::commands::watch::StatusArgs),
    /// A job's build and upload output.
    Log(crate::commands::watch::LogArgs),
    /// Run a failed job again; it uploads only what the index is missing.
    Retry(crate::commands::watch::JobArgs),
    /// Cancel a job still waiting out its grace period.
    Cancel(crate::commands::watch::JobArgs),
    /// Write the CI release pipeline (GitHub Actions, GitLab CI) from the config.
    Ci(crate::commands::ci::CiArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions(crate::commands::completions::CompletionsArgs),
    /// Print the man page (roff), or write one per command with --out-dir.
    #[command(hide = true)]
    Man(crate::commands::completions::ManArgs),
    /// Entry points the installed git hooks call (not for direct use).
    #[command(hide = true)]
    Hook(crate::commands::hook::HookArgs),
    /// Make a sample monorepo, tag it, publish to a local index, pip install it.
    Demo(crate::commands::demo::DemoArgs),
    /// Check everything a release needs, per package, with the fix for each problem.
    Doctor(crate::commands::doctor::DoctorArgs),
}

impl Command {
    /// `tagpub daemon run`: the process that logs to the daemon's log file.
    pub fn runs_the_daemon(&self) -> bool {
        matches!(self, Command::Daemon(args) if matches!(args.command, crate::commands::daemon::DaemonCommand::Run))
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_definitions_are_consistent() {
        // clap's own checks (conflicting names, bad defaults, …), which the
        // generators rely on.
        Cli::command().debug_assert();
    }
}
