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
#[cfg(test)]
mod layering;
pub mod ledger;
pub mod logfile;
pub mod pipeline;
pub mod printer;
pub mod process;
pub mod render;
pub mod report;
pub mod repository;
pub mod retry;
pub mod sample;
pub mod scaffold;
pub mod secrets;
pub mod version;

use std::process::ExitCode;

use clap::CommandFactory;

use cli::{Cli, Command};
use commands::Context;
use exit::{Classify, ExitStatus, UsageError};

pub fn run(cli: Cli) -> ExitCode {
    // The daemon's log is its only voice: it says what it does by default.
    let daemon = cli.command.runs_the_daemon();
    // The daemon writes its own size-bounded log file in the data dir.
    let log_file = daemon
        .then(|| dirs::Dirs::from_env().ok())
        .flatten()
        .and_then(|dirs| {
            let path = daemon::log_path(&dirs);
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
            ExitStatus::Success.into()
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
        Command::Completions(args) => {
            commands::completions::completions(&ctx, args, Cli::command())
        }
        Command::Man(args) => commands::completions::man(&ctx, args, Cli::command()),
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

/// Prints the error and each of its causes, once each.
fn report_error(err: &anyhow::Error) {
    printer::eprint_line(&error_report(err));
}

/// What the CLI prints for an error: `error: …`, then `  caused by: …`
/// per cause (`exit::chain_text`, which also masks every layer).
fn error_report(err: &anyhow::Error) -> String {
    format!("error: {}", exit::chain_text(err.as_ref()))
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

    /// `classify` is a list because anyhow erases types; this keeps the
    /// list whole: every type in `src/` that implements `Classify` is asked.
    #[test]
    fn every_classifying_type_is_asked() {
        let lib = include_str!("lib.rs");
        let body = &lib[lib.find("fn classify(").unwrap()..];
        let body = &body[..body.find("\n}\n").unwrap()];
        let mut dirs = vec![std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src"
        ))];
        let mut found = Vec::new();
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    for (at, _) in text.match_indices("Classify for ") {
                        let name: String = text[at + 13..]
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect();
                        if !name.is_empty() {
                            found.push(name);
                        }
                    }
                }
            }
        }
        assert!(found.len() >= 4, "{found:?}");
        for name in &found {
            assert!(
                body.contains(&format!("{name}>")),
                "{name} implements Classify but lib.rs::classify does not ask it"
            );
        }
    }

    /// Each layer of a printed chain once: a retried upload that failed.
    #[test]
    fn an_upload_that_gave_up_prints_each_layer_once() {
        use pipeline::release::{IncompleteUpload, ReleaseError};
        use repository::RepositoryError;
        let server = RepositoryError::Server {
            repo: "pypi".into(),
            url: "https://upload.pypi.org/legacy/".into(),
            status: 503,
            message: "down for maintenance".into(),
            retry_after: None,
        };
        let err = anyhow::Error::new(ReleaseError::Upload(Box::new(IncompleteUpload {
            repository: "pypi".into(),
            file: "demo-1.0-py3-none-any.whl".into(),
            tag: "v1.0".into(),
            uploaded: "demo-1.0.tar.gz".into(),
            missing: "demo-1.0-py3-none-any.whl".into(),
            source: RepositoryError::GaveUp {
                attempts: 3,
                source: Box::new(server),
            },
        })));
        assert_eq!(
            error_report(&err),
            "error: uploading demo-1.0-py3-none-any.whl to pypi failed. The release is incomplete. \
             On the index: demo-1.0.tar.gz. Missing: demo-1.0-py3-none-any.whl. Fix the cause below \
             and run `tagpub release v1.0` again: it uploads only the missing files\n\
             \x20 caused by: gave up after 3 attempts\n\
             \x20 caused by: pypi answered HTTP 503 for https://upload.pypi.org/legacy/: down for maintenance"
        );
    }

    #[test]
    fn a_config_error_prints_its_cause_below_it() {
        let err = anyhow::Error::new(config::ConfigError::Read {
            path: "/r/tagpub.toml".into(),
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        });
        assert_eq!(
            error_report(&err),
            "error: cannot read /r/tagpub.toml\n  caused by: permission denied"
        );
        assert_eq!(exit_status(&err), ExitStatus::Usage);
    }

    #[test]
    fn a_git_error_under_a_build_prints_three_layers() {
        let missing = std::path::Path::new("/nonexistent/tagpub-test");
        let git = git::Repo::discover(missing)
            .err()
            .expect("no repository there");
        let err = anyhow::Error::new(pipeline::build::BuildError::Export {
            commit: "0123abc".into(),
            source: git,
        })
        .context("building demo 1.0");
        assert_eq!(
            error_report(&err),
            "error: building demo 1.0\n\
             \x20 caused by: cannot export 0123abc for building\n\
             \x20 caused by: cannot look for a git repository at /nonexistent/tagpub-test\n\
             \x20 caused by: entity not found"
        );
    }

    /// A secret in any layer is masked, not only in the first.
    #[test]
    fn every_layer_is_masked() {
        let secret = "pypi-AgEIcHlwaS5vcmcCJGNoYWluLXRlc3Q";
        let err = anyhow::Error::new(repository::RepositoryError::Server {
            repo: "testindex".into(),
            url: "https://index.example/legacy/".into(),
            status: 500,
            message: format!("bad token {secret}"),
            retry_after: None,
        })
        .context("uploading demo");
        let text = error_report(&err);
        assert_eq!(
            text,
            "error: uploading demo\n  caused by: testindex answered HTTP 500 for \
             https://index.example/legacy/: bad token [redacted]"
        );
    }

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
