//! tagpub: publish Python packages the moment their release tag is created.
//!
//! `main` parses the command line and calls [`run`]; everything else is a
//! library the commands, the tests and (later) the daemon share.

// All output goes through `printer.rs`, which neutralizes terminal control
// characters and treats a closed stdout as the end of the command.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod bump;
pub mod ci;
pub mod cli;
pub mod commands;
pub mod config;
pub mod credentials;
pub mod daemon;
pub mod dirs;
pub mod dist;
pub mod env;
pub mod exit;
pub mod fault;
pub mod finding;
pub mod fsutil;
pub mod git;
pub mod hooks;
pub mod http;
pub mod ipc;
pub mod ledger;
pub mod logfile;
pub mod pipeline;
pub mod printer;
pub mod process;
pub mod report;
pub mod repository;
pub mod retry;
pub mod sample;
pub mod secrets;
pub mod version;

use std::process::ExitCode;

use cli::{Cli, Command};
use commands::Context;
use exit::{Classify, ExitStatus, UsageError};

pub fn run(cli: Cli) -> ExitCode {
    // The daemon's log is its only voice: it says what it does by default.
    let daemon = matches!(
        &cli.command,
        Command::Daemon(args) if matches!(args.command, commands::daemon::DaemonCommand::Run)
    );
    // The daemon writes its own size-bounded log file in the data dir.
    let log_file = daemon
        .then(|| dirs::Dirs::from_env().ok())
        .flatten()
        .and_then(|dirs| {
            let path = commands::daemon::log_path(&dirs);
            logfile::RotatingLog::open(&path)
                .map_err(|err| {
                    printer::eprint_line(&format!(
                        "warning: cannot open the log {}: {err}",
                        path.display()
                    ))
                })
                .ok()
        });
    init_logging(
        cli.global.verbose + u8::from(daemon),
        cli.global.quiet,
        daemon,
        log_file,
    );
    match dispatch(cli) {
        Ok(status) => status.into(),
        // `tagpub … | head -1`: the reader has what it wanted.
        Err(err) if err.chain().any(|cause| cause.is::<printer::StdoutClosed>()) => {
            ExitCode::SUCCESS
        }
        Err(err) => {
            report_error(&err);
            exit_status(&err).into()
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<ExitStatus> {
    let ctx = Context {
        cwd: commands::current_dir(cli.global.directory)?,
        printer: printer::Printer::new(cli.global.quiet),
        dirs: dirs::Dirs::from_env()?,
    };
    match &cli.command {
        Command::Init(args) => commands::init::run(&ctx, args),
        Command::Plan(args) => commands::plan::run(&ctx, args),
        Command::Build(args) => commands::build::run(&ctx, args),
        Command::Check(args) => commands::check::run(&ctx, args),
        Command::Release(args) => commands::release::run(&ctx, args),
        Command::Rebuild(args) => commands::rebuild::run(&ctx, args),
        Command::Bump(args) => commands::bump::run(&ctx, args),
        Command::Token(args) => commands::token::run(&ctx, args),
        Command::Hooks(args) => commands::hooks::run(&ctx, args),
        Command::Daemon(args) => commands::daemon::run(&ctx, args),
        Command::Service(args) => commands::service::run(&ctx, args),
        Command::Watch(args) => commands::watch::watch(&ctx, args),
        Command::Status(args) => commands::watch::status(&ctx, args),
        Command::Log(args) => commands::watch::log(&ctx, args),
        Command::Retry(args) => {
            commands::watch::job_request(&ctx, ipc::Request::Retry { job: args.job })
        }
        Command::Cancel(args) => {
            commands::watch::job_request(&ctx, ipc::Request::Cancel { job: args.job })
        }
        Command::Ci(args) => commands::ci::run(&ctx, args),
        Command::Completions(args) => commands::completions::completions(&ctx, args),
        Command::Man(args) => commands::completions::man(&ctx, args),
        Command::Hook(args) => commands::hook::run(&ctx, args),
        Command::Demo(args) => commands::demo::run(&ctx, args),
        Command::Doctor(args) => commands::doctor::run(&ctx, args),
    }
}

/// The one mapping from an error to an exit status: each error type says
/// which it means (`exit::Classify`); a usage error anywhere in the chain
/// (under added context) makes it a usage error, anything else failed.
fn exit_status(err: &anyhow::Error) -> ExitStatus {
    let usage = err
        .chain()
        .any(|cause| classify(cause) == Some(ExitStatus::Usage));
    if usage {
        ExitStatus::Usage
    } else {
        ExitStatus::Failed
    }
}

/// The error types that classify themselves; an error of another type
/// is a failure.
fn classify(cause: &(dyn std::error::Error + 'static)) -> Option<ExitStatus> {
    fn ask<E: Classify>(cause: &(dyn std::error::Error + 'static)) -> Option<ExitStatus> {
        cause.downcast_ref::<E>().map(Classify::exit_status)
    }
    ask::<UsageError>(cause)
        .or_else(|| ask::<config::ConfigError>(cause))
        .or_else(|| ask::<git::GitError>(cause))
        .or_else(|| ask::<pipeline::resolve::ResolveError>(cause))
}

/// Prints the error and those of its causes that its message does not
/// already include (most of tagpub's messages embed their cause).
fn report_error(err: &anyhow::Error) {
    // Masked again here: an error may quote an index's answer.
    let mask = secrets::mask;
    let mut shown = err.to_string();
    printer::eprint_line(&format!("error: {}", mask(&shown)));
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        if !shown.contains(&text) {
            printer::eprint_line(&format!("  caused by: {}", mask(&text)));
            shown.push_str(&text);
        }
    }
}

fn init_logging(
    verbose: u8,
    quiet: bool,
    timestamps: bool,
    log_file: Option<logfile::RotatingLog>,
) {
    use secrets::mask::MaskingMakeWriter;
    use tracing_subscriber::EnvFilter;
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "tagpub=debug,info",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_env(env::LOG.name).unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = match log_file {
        // stderr is the log file already when `daemon start` spawned us.
        // Every line is masked of secrets: log fields may quote an index.
        Some(log) if log.is_stderr() => builder
            .with_writer(MaskingMakeWriter(log))
            .with_ansi(false)
            .try_init(),
        Some(log) => {
            use tracing_subscriber::fmt::writer::MakeWriterExt;
            builder
                .with_writer(MaskingMakeWriter(log.and(std::io::stderr)))
                .with_ansi(false)
                .try_init()
        }
        None if timestamps => builder
            .with_writer(MaskingMakeWriter(std::io::stderr))
            .try_init(),
        None => builder
            .with_writer(MaskingMakeWriter(std::io::stderr))
            .without_time()
            .try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context as _;
    use pipeline::resolve::ResolveError;

    fn not_a_repo() -> git::GitError {
        git::GitError::NotARepository {
            path: "/nowhere".into(),
        }
    }

    #[test]
    fn each_error_says_its_exit_status_under_added_context() {
        let usage: Vec<anyhow::Error> = vec![
            UsageError("--sign signs the tag: add --tag".into()).into(),
            Err::<(), _>(config::ConfigError::Missing { root: "/r".into() })
                .context("reading the config")
                .unwrap_err(),
            config::ConfigError::Git(git::GitError::Command {
                args: "show".into(),
                stderr: "x".into(),
            })
            .into(),
            not_a_repo().into(),
            ResolveError::NoSuchTag {
                tag: "v1".into(),
                repo: "/r".into(),
            }
            .into(),
        ];
        for err in &usage {
            assert_eq!(exit_status(err), ExitStatus::Usage, "{err:#}");
        }
        let failed: Vec<anyhow::Error> = vec![
            anyhow::anyhow!("upload failed"),
            git::GitError::Command {
                args: "tag".into(),
                stderr: "x".into(),
            }
            .into(),
            // Transparent: the git error is not in the chain, as before.
            ResolveError::Git(not_a_repo()).into(),
        ];
        for err in &failed {
            assert_eq!(exit_status(err), ExitStatus::Failed, "{err:#}");
        }
    }
}
