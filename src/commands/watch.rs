//! `tagpub watch add|remove|list`, `tagpub status`, `tagpub log`: the
//! daemon's repositories and jobs, from the command line.

use std::path::PathBuf;
use std::time::Duration;

use crate::commands::{Context, UsageError};
use crate::daemon::registry::{AddOutcome, Registry};
use crate::exit::ExitStatus;
use crate::git::Repo;
use crate::ipc::{self, DaemonState, Request, Response, StatusReply, WatchedRepo};
use crate::ledger::{self, JobState};

#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    #[command(subcommand)]
    pub command: WatchCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum WatchCommand {
    /// Watch a repository (default: the current one). Its existing tags never publish.
    Add { path: Option<PathBuf> },
    /// Stop watching a repository (default: the current one).
    Remove { path: Option<PathBuf> },
    /// The watched repositories.
    List {
        /// Print the list as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Print the status as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct JobArgs {
    /// The job number (from `tagpub status`).
    pub job: u64,
}

#[derive(Debug, clap::Args)]
pub struct LogArgs {
    /// The job number (from `tagpub status`).
    pub job: u64,
}

/// Tells a running daemon to look at a repository; silent without one.
fn nudge_daemon(ctx: &Context, git_dir: &std::path::Path) {
    let _ = ipc::send_nudge(&ctx.dirs.socket_path(), git_dir);
}

pub fn watch(ctx: &Context, args: &WatchArgs) -> anyhow::Result<ExitStatus> {
    match &args.command {
        WatchCommand::Add { path } => {
            let repo = Repo::discover(&ctx.cwd.join(path.clone().unwrap_or_default()))?;
            let outcome = Registry::update(&ctx.dirs, |registry| registry.add(&repo))??;
            match outcome {
                AddOutcome::Added { baseline } => ctx.printer.success(&format!(
                    "watching {}; {baseline} existing tag{} will never be published",
                    repo.workdir().display(),
                    if baseline == 1 { "" } else { "s" }
                )),
                AddOutcome::AlreadyWatched => ctx
                    .printer
                    .line(&format!("{} is already watched", repo.workdir().display())),
            }
            nudge_daemon(ctx, repo.git_dir());
            if ipc::request(
                &ctx.dirs.socket_path(),
                Request::Ping,
                Duration::from_secs(2),
            )
            .is_err()
            {
                ctx.printer
                    .line("  no daemon is running: start it with `tagpub daemon start`");
            }
            Ok(ExitStatus::Success)
        }
        WatchCommand::Remove { path } => {
            let path = ctx.cwd.join(path.clone().unwrap_or_default());
            // The repository may be gone; then its path is what identifies it.
            let key = Repo::discover(&path)
                .map(|r| r.workdir().to_path_buf())
                .unwrap_or(path);
            if Registry::update(&ctx.dirs, |registry| registry.remove(&key))? {
                ctx.printer
                    .success(&format!("no longer watching {}", key.display()));
                nudge_daemon(ctx, &key);
                Ok(ExitStatus::Success)
            } else {
                Err(UsageError(format!(
                    "{} is not watched (see `tagpub watch list`)",
                    key.display()
                ))
                .into())
            }
        }
        WatchCommand::List { json } => {
            let registry = Registry::load(&ctx.dirs)?;
            if *json {
                ctx.printer.json(&serde_json::json!({
                    "repos": registry.repos().iter().map(|r| serde_json::json!({
                        "workdir": r.workdir, "git_dir": r.git_dir, "known_tags": r.known.len(),
                    })).collect::<Vec<_>>(),
                }))?;
            } else if registry.repos().is_empty() {
                ctx.printer
                    .line("no repository is watched: add one with `tagpub watch add`");
            } else {
                for repo in registry.repos() {
                    ctx.printer.out(&format!("{}\n", repo.workdir.display()))?;
                }
            }
            Ok(ExitStatus::Success)
        }
    }
}

pub fn status(ctx: &Context, args: &StatusArgs) -> anyhow::Result<ExitStatus> {
    // The daemon's view when it runs; the ledger's otherwise.
    let reply = match ipc::request(
        &ctx.dirs.socket_path(),
        Request::Status,
        Duration::from_secs(5),
    ) {
        Ok(Response::Status(reply)) => reply,
        _ => StatusReply {
            daemon: DaemonState::default(),
            repos: Registry::load(&ctx.dirs)
                .map(|r| {
                    r.repos()
                        .iter()
                        .map(|r| WatchedRepo {
                            git_dir: r.git_dir.clone(),
                            workdir: r.workdir.clone(),
                            known_tags: r.known.len(),
                            problem: None,
                        })
                        .collect()
                })
                .unwrap_or_default(),
            jobs: ledger::load_jobs(&ctx.dirs),
            ..StatusReply::default()
        },
    };
    // Run inside a repository with a config: each release's next step.
    let releases: Vec<crate::bump::NextRelease> = match ctx.repo_and_config() {
        Ok((repo, config)) => crate::bump::targets(&config)
            .into_iter()
            .map(|target| crate::bump::next_release(&repo, &config, target))
            .collect(),
        Err(_) => Vec::new(),
    };
    if args.json {
        /// The reply with each release's next step beside it.
        #[derive(serde::Serialize)]
        struct StatusOutput<'a> {
            #[serde(flatten)]
            reply: &'a StatusReply,
            releases: &'a [crate::bump::NextRelease],
        }
        ctx.printer.json(&StatusOutput {
            reply: &reply,
            releases: &releases,
        })?;
        return Ok(ExitStatus::Success);
    }
    ctx.printer
        .line(&match (reply.daemon.running, reply.daemon.pid) {
            (true, Some(pid)) => format!("daemon: running (pid {pid})"),
            (true, None) => "daemon: running".to_string(),
            (false, _) => "daemon: not running (start it with `tagpub daemon start`)".to_string(),
        });
    for repo in &reply.repos {
        let problem = repo
            .problem
            .as_deref()
            .map(|p| format!(" — {p}"))
            .unwrap_or_default();
        ctx.printer
            .line(&format!("watching {}{problem}", repo.workdir.display()));
    }
    for job in reply.jobs.iter().rev().take(20) {
        let mark = match job.state {
            JobState::Verified => ctx.printer.pass(""),
            JobState::Failed | JobState::Conflict => ctx.printer.fail(""),
            _ => ctx.printer.warning(""),
        };
        ctx.printer.line(&format!(
            "{mark}job {} {} ({}): {:?}{}",
            job.id,
            job.tag,
            job.package,
            job.state,
            job.message
                .as_ref()
                .map(|m| format!(" — {m}"))
                .unwrap_or_default()
        ));
    }
    for release in &releases {
        ctx.printer.line(&format!(
            "{} {} ({}): next `{}`",
            release.name,
            release.version.as_deref().unwrap_or("?"),
            release.latest.as_deref().unwrap_or("not released yet"),
            release.command
        ));
    }
    Ok(ExitStatus::Success)
}

pub fn log(ctx: &Context, args: &LogArgs) -> anyhow::Result<ExitStatus> {
    let path = ledger::job_log_path(&ctx.dirs, args.job);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            ctx.printer.out(&text)?;
            Ok(ExitStatus::Success)
        }
        Err(_) => Err(UsageError(format!(
            "job {} has no log (see `tagpub status` for job numbers; a job logs once it starts releasing)",
            args.job
        ))
        .into()),
    }
}

/// `tagpub retry JOB` / `tagpub cancel JOB`: asks the running daemon.
pub fn job_request(ctx: &Context, request: Request) -> anyhow::Result<ExitStatus> {
    let what = match &request {
        Request::Retry { job } => format!("job {job} is queued again"),
        Request::Cancel { job } => format!("job {job} is cancelled"),
        _ => String::new(),
    };
    match ipc::request(&ctx.dirs.socket_path(), request, Duration::from_secs(5))? {
        Response::Ok => {
            ctx.printer.success(&what);
            Ok(ExitStatus::Success)
        }
        Response::Error { message } => Err(UsageError(message).into()),
        other => Err(anyhow::anyhow!(
            "unexpected answer from the daemon: {other:?}"
        )),
    }
}
