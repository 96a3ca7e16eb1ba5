//! Doctor's checks of the set-up every package shares: git, Python, the
//! keychain, the hooks, the daemon and its watch list.

use std::path::Path;
use std::process::Stdio;

use std::time::Duration;

use crate::commands::Context;
use crate::credentials::{KEYCHAIN_SERVICE, keychain};
use crate::daemon::registry::{Registry, common_git_dir};
use crate::finding::{Finding, Status};
use crate::git::Repo;
use crate::hooks::REFERENCE_TRANSACTION_SINCE;
use crate::hooks::{self, State};
use crate::ipc::{self, Request, Response};
use crate::pipeline::build::{self};

const DAEMON_TIMEOUT: Duration = Duration::from_secs(2);

pub(super) fn git_check(repo: &Repo) -> Finding {
    match repo.git_version() {
        Ok(version @ (major, minor, patch)) if version >= REFERENCE_TRANSACTION_SINCE => {
            Finding::pass(
                "git",
                format!("git {major}.{minor}.{patch}: runs the reference-transaction hook"),
            )
        }
        Ok((major, minor, patch)) => Finding::warn(
            "git",
            format!(
                "git {major}.{minor}.{patch} is older than 2.28 and never runs the reference-transaction hook: \
                 the daemon sees new tags by its own watch only"
            ),
            "upgrade git to 2.28 or later",
        ),
        Err(err) => Finding::fail(
            "git",
            crate::exit::chain_text_in("cannot run git", &err),
            "install git 2.28 or later and put it on PATH",
        ),
    }
}

pub(super) fn python_check() -> Finding {
    let Some(python) = build::python_interpreter() else {
        return Finding::warn(
            "python",
            "no python3 or python on PATH (uv build brings its own; python -m build cannot run)",
            "install Python 3, or set TAGPUB_PYTHON=/path/to/python",
        );
    };
    match command_output(&python, &["--version"]) {
        Ok(version) => Finding::pass("python", format!("{version} ({})", python.display())),
        Err(problem) => Finding::fail(
            "python",
            format!("{} does not run: {problem}", python.display()),
            "install Python 3, or set TAGPUB_PYTHON=/path/to/python",
        ),
    }
}

/// First line of a program's output (stdout, else stderr), or why it failed.
pub(super) fn command_output(program: &Path, args: &[&str]) -> Result<String, String> {
    let output = crate::process::Child::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    let text = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes)
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(str::to_string)
    };
    if output.status.success() {
        Ok(text(&output.stdout)
            .or_else(|| text(&output.stderr))
            .unwrap_or_default())
    } else {
        Err(text(&output.stderr)
            .or_else(|| text(&output.stdout))
            .unwrap_or_else(|| output.status.to_string()))
    }
}

pub(super) fn keychain_check(all_tokens_found: bool) -> Finding {
    match keychain::get(KEYCHAIN_SERVICE, "tagpub-doctor/probe") {
        Ok(_) => Finding::pass("keychain", "reachable, unlocked"),
        Err(err) => {
            let fix = "start a Secret Service (gnome-keyring, KeePassXC) in this session, \
                       or give tokens through the environment (PYPI_API_TOKEN or the package's token-env)";
            if all_tokens_found {
                Finding::warn(
                    "keychain",
                    format!(
                        "{} (every package has a token from elsewhere)",
                        crate::exit::chain_text(&err)
                    ),
                    fix,
                )
            } else {
                Finding::fail("keychain", crate::exit::chain_text(&err), fix)
            }
        }
    }
}

pub(super) fn hooks_check(repo: &Repo) -> Finding {
    let dir = match repo.hooks_dir() {
        Ok(dir) => dir,
        Err(err) => {
            return Finding::fail(
                "hooks",
                crate::exit::chain_text(&err),
                "tagpub hooks install",
            );
        }
    };
    let statuses = match hooks::status(&dir) {
        Ok(statuses) => statuses,
        Err(err) => {
            return Finding::fail(
                "hooks",
                crate::exit::chain_text(&err),
                "tagpub hooks install",
            );
        }
    };
    let describe = |state: State| match state {
        State::Installed => "installed",
        State::Chained => "installed (chained)",
        State::Foreign => "another tool's hook, not tagpub's",
        State::Missing => "not installed",
    };
    let summary = statuses
        .iter()
        .map(|h| format!("{}: {}", h.name, describe(h.state)))
        .collect::<Vec<_>>()
        .join(", ");
    let message = format!("{summary} ({})", dir.display());
    if statuses
        .iter()
        .all(|h| matches!(h.state, State::Installed | State::Chained))
    {
        Finding::pass("hooks", message)
    } else {
        // `install` chains a foreign hook as `.legacy`, so it is the fix for both.
        Finding::fail("hooks", message, "tagpub hooks install")
    }
}

/// Whether the daemon runs, and whether it watches this repository.
pub(super) fn daemon_checks(ctx: &Context, repo: &Repo) -> (Finding, Finding) {
    let socket = ctx.dirs.socket_path();
    let git_dir = common_git_dir(repo.git_dir()).unwrap_or_else(|_| repo.git_dir().to_path_buf());
    let watch_fix = format!("tagpub watch add {}", repo.workdir().display());
    let daemon = match ipc::request(&socket, Request::Ping, DAEMON_TIMEOUT) {
        Ok(Response::Pong {
            pid,
            tagpub_version,
            ..
        }) if tagpub_version != env!("CARGO_PKG_VERSION") => Finding::warn(
            "daemon",
            format!(
                "running (pid {pid}) but it is tagpub {tagpub_version}, this is {}",
                env!("CARGO_PKG_VERSION")
            ),
            "tagpub daemon stop && tagpub daemon start",
        ),
        Ok(Response::Pong { pid, .. }) => Finding::pass("daemon", format!("running (pid {pid})")),
        Ok(other) => Finding::fail(
            "daemon",
            format!("answered {other:?} to a ping"),
            "tagpub daemon stop && tagpub daemon start",
        ),
        Err(err) if err.is_not_running() => Finding::fail(
            "daemon",
            format!("not running (nothing listens on {})", socket.display()),
            "tagpub daemon start   (or `tagpub service install` to start it at login)",
        ),
        Err(err) => Finding::fail(
            "daemon",
            crate::exit::chain_text(&err),
            "tagpub daemon stop && tagpub daemon start",
        ),
    };
    let same = |dir: &Path| dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf()) == git_dir;
    // The running daemon's own view, with a problem it has with this repo;
    // else the watch list it will read when it starts.
    let watch = if daemon.status != Status::Fail
        && let Ok(Response::Status(status)) = ipc::request(&socket, Request::Status, DAEMON_TIMEOUT)
    {
        let entry = status.repos.iter().find(|r| same(&r.git_dir));
        match entry {
            Some(entry) => match entry.problem.as_deref() {
                Some(problem) => Finding::fail(
                    "watch",
                    format!("the daemon watches this repository but: {problem}"),
                    "fix the problem above; the daemon retries on its next rescan",
                ),
                None => Finding::pass("watch", "the daemon watches this repository"),
            },
            None => Finding::fail(
                "watch",
                "the daemon does not watch this repository",
                watch_fix,
            ),
        }
    } else {
        match Registry::load(&ctx.dirs) {
            Ok(registry) if registry.repos().iter().any(|r| same(&r.git_dir)) => Finding::pass(
                "watch",
                "on the watch list (the daemon watches it once it runs)",
            ),
            Ok(_) => Finding::fail(
                "watch",
                "this repository is not on the daemon's watch list",
                watch_fix,
            ),
            Err(err) => Finding::fail("watch", crate::exit::chain_text(&err), watch_fix),
        }
    };
    (daemon, watch)
}
