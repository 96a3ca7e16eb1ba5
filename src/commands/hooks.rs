//! `tagpub hooks install|uninstall|status`: tagpub's git hooks in the hooks
//! dir git actually uses (`core.hooksPath`, or the common git dir's `hooks/`,
//! so every linked worktree shares them).

use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Serialize;

use crate::commands::Context;
use crate::exit::ExitStatus;
use crate::git::Repo;
use crate::hooks::REFERENCE_TRANSACTION_SINCE;
use crate::hooks::{self, Installed, State, Uninstalled};
use crate::report::Reporter;

#[derive(Debug, Args)]
pub struct HooksArgs {
    #[command(subcommand)]
    pub command: HooksCommand,
}

#[derive(Debug, Subcommand)]
pub enum HooksCommand {
    /// Install the pre-push and reference-transaction hooks (chaining existing ones).
    Install,
    /// Remove tagpub's hooks and restore exactly what was there before.
    Uninstall,
    /// Show each hook's state, the hooks dir in use and whether the daemon hears nudges.
    Status(HooksStatusArgs),
}

#[derive(Debug, Args)]
pub struct HooksStatusArgs {
    /// Print the status as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(ctx: &Context, args: &HooksArgs) -> anyhow::Result<ExitStatus> {
    let repo = ctx.repo()?;
    let dir = repo.hooks_dir()?;
    match &args.command {
        HooksCommand::Install => install(ctx, &repo, &dir),
        HooksCommand::Uninstall => uninstall(ctx, &dir),
        HooksCommand::Status(status_args) => status(ctx, &repo, &dir, status_args),
    }
}

fn install(ctx: &Context, repo: &Repo, dir: &Path) -> anyhow::Result<ExitStatus> {
    // The path the hooks call: this very binary (PATH is only the fallback,
    // since git may run hooks with another PATH, e.g. from an IDE).
    let exe = std::env::current_exe()
        .context("cannot tell where the tagpub binary is, to write its path into the hooks")?;
    let done = hooks::install(dir, &exe)?;
    let p = &ctx.printer;
    p.line(&format!("hooks dir: {}", dir.display()));
    for (name, outcome) in &done {
        let what = match outcome {
            Installed::New => "installed".to_string(),
            Installed::NewChainingExisting => {
                format!("installed (runs the existing {name}.legacy first)")
            }
            Installed::Chained => {
                format!("installed, chained {name}.legacy (the hook that was here; runs first)")
            }
            Installed::Updated => format!("updated (now calls {})", exe.display()),
            Installed::Unchanged => "already installed".to_string(),
        };
        p.line(&p.pass(&format!("{name}: {what}")));
    }
    warn_old_git(ctx, repo);
    if inside_worktree(repo, dir) {
        p.warn(&format!(
            "{} is inside the working tree (core.hooksPath): do not commit tagpub's hooks, \
             they hold this machine's path to tagpub",
            dir.display()
        ));
    }
    Ok(ExitStatus::Success)
}

fn uninstall(ctx: &Context, dir: &Path) -> anyhow::Result<ExitStatus> {
    let done = hooks::uninstall(dir)?;
    let p = &ctx.printer;
    p.line(&format!("hooks dir: {}", dir.display()));
    for (name, outcome) in &done {
        let what = match outcome {
            Uninstalled::Removed => "removed".to_string(),
            Uninstalled::Restored => format!("removed, restored {name}.legacy as {name}"),
            Uninstalled::NotInstalled => "not installed".to_string(),
            Uninstalled::Foreign => "not tagpub's hook: left alone".to_string(),
        };
        p.line(&format!("  {name}: {what}"));
    }
    Ok(ExitStatus::Success)
}

#[derive(Serialize)]
struct StatusReport {
    hooks_dir: PathBuf,
    hooks: Vec<hooks::HookStatus>,
    git_version: Option<String>,
    /// git runs reference-transaction hooks (2.28+).
    reference_transaction_supported: Option<bool>,
    daemon: DaemonReport,
}

#[derive(Serialize)]
struct DaemonReport {
    socket: PathBuf,
    listening: bool,
}

fn status(
    ctx: &Context,
    repo: &Repo,
    dir: &Path,
    args: &HooksStatusArgs,
) -> anyhow::Result<ExitStatus> {
    let hooks = hooks::status(dir)?;
    let version = repo.git_version().ok();
    // The socket path belongs to the daemon's protocol (crate::ipc); Dirs
    // knows where it lives. A connect is all it takes to know it listens.
    let socket = ctx.dirs.socket_path();
    let listening = daemon_listening(&socket);
    let report = StatusReport {
        hooks_dir: dir.to_path_buf(),
        git_version: version.map(|(a, b, c)| format!("{a}.{b}.{c}")),
        reference_transaction_supported: version.map(|v| v >= REFERENCE_TRANSACTION_SINCE),
        daemon: DaemonReport { socket, listening },
        hooks,
    };
    if args.json {
        ctx.printer.json(&report)?;
        return Ok(ExitStatus::Success);
    }
    let p = &ctx.printer;
    p.line(&format!("hooks dir: {}", dir.display()));
    for hook in &report.hooks {
        let name = &hook.name;
        let line = match hook.state {
            State::Installed => p.pass(&format!("{name}: installed")),
            State::Chained => p.pass(&format!(
                "{name}: installed, chained ({name}.legacy runs first)"
            )),
            State::Foreign => p.fail(&format!(
                "{name}: another hook, not tagpub's ({})",
                hook.path.display()
            )),
            State::Missing => p.fail(&format!("{name}: not installed")),
        };
        p.line(&line);
    }
    warn_old_git(ctx, repo);
    if listening {
        p.line(&format!(
            "daemon listening on {}: tag nudges reach it",
            report.daemon.socket.display()
        ));
    } else {
        p.line(&format!(
            "no daemon at {}: nudges are dropped, the daemon's own watch will see tags when it runs",
            report.daemon.socket.display()
        ));
    }
    Ok(ExitStatus::Success)
}

#[cfg(unix)]
fn daemon_listening(socket: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(socket).is_ok()
}

#[cfg(not(unix))]
fn daemon_listening(_socket: &Path) -> bool {
    false
}

fn warn_old_git(ctx: &Context, repo: &Repo) {
    if let Ok(version @ (major, minor, _)) = repo.git_version()
        && version < REFERENCE_TRANSACTION_SINCE
    {
        ctx.printer.warn(&format!(
            "git {major}.{minor} is older than 2.28 and never runs the reference-transaction hook: \
             new tags are seen by the daemon's own watch instead"
        ));
    }
}

/// A hooks dir in the working tree (outside the git dir) may get committed.
fn inside_worktree(repo: &Repo, dir: &Path) -> bool {
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let dir = canonical(dir);
    let git_dir = canonical(repo.git_dir());
    dir.starts_with(repo.workdir()) && !dir.starts_with(&git_dir) && repo.workdir() != git_dir
}
