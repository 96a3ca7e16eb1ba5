//! `tagpub daemon run|start|stop|status`: the daemon in the foreground (for
//! service managers), detached in the background, stopped, and inspected.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use serde::Serialize;

use crate::commands::Context;
use crate::daemon::lifecycle::{self, Holder};
use crate::dirs::Dirs;
use crate::exit::ExitStatus;
use crate::ipc::{self, Request, Response};
use crate::report::Reporter as _;

#[derive(Debug, Args)]
pub struct DaemonArgs {
    #[command(subcommand)]
    pub command: DaemonCommand,
}

#[derive(Debug, Subcommand)]
pub enum DaemonCommand {
    /// Run the daemon in the foreground until SIGTERM/SIGINT (for systemd, launchd).
    Run,
    /// Start the daemon in the background; says so if one is already running.
    Start,
    /// Ask the running daemon to stop and wait until it has.
    Stop,
    /// Whether the daemon runs: pid, version, socket, uptime.
    Status(DaemonStatusArgs),
}

#[derive(Debug, Args)]
pub struct DaemonStatusArgs {
    /// Print the status as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// How long `start` waits for the new daemon to answer a ping.
const START_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `stop` waits for the daemon to release its lock (it has 10 s to
/// checkpoint an upload and exit).
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// A ping's timeout: a healthy daemon answers in microseconds.
const PING_TIMEOUT: Duration = Duration::from_secs(2);
const POLL: Duration = Duration::from_millis(50);

pub fn run(ctx: &Context, args: &DaemonArgs) -> anyhow::Result<ExitStatus> {
    match &args.command {
        DaemonCommand::Run => {
            crate::daemon::run_foreground(&ctx.dirs)?;
            Ok(ExitStatus::Success)
        }
        DaemonCommand::Start => start(ctx),
        DaemonCommand::Stop => stop(ctx),
        DaemonCommand::Status(status_args) => status(ctx, status_args),
    }
}

fn ping(dirs: &Dirs) -> Result<Response, ipc::IpcError> {
    ipc::request(&dirs.socket_path(), Request::Ping, PING_TIMEOUT)
}

fn holder_text(holder: &Holder) -> String {
    holder
        .pid
        .map_or("pid unknown".to_string(), |pid| format!("pid {pid}"))
}

/// A daemon that holds this data dir but listens elsewhere cannot be
/// reached from here (hooks and `status` would miss it): an error, not
/// "already running".
/// `daemon start` when a daemon holds the lock: fine if it serves this
/// environment's socket, an error naming the other one if not.
fn already_running(ctx: &Context, dirs: &Dirs, holder: &Holder) -> anyhow::Result<ExitStatus> {
    elsewhere(dirs, holder)?;
    ctx.printer.line(&format!(
        "the daemon is already running ({})",
        holder_text(holder)
    ));
    Ok(ExitStatus::Success)
}

fn elsewhere(dirs: &Dirs, holder: &Holder) -> anyhow::Result<()> {
    if holder.socket != dirs.socket_path() {
        bail!(
            "a tagpub daemon ({}) already runs on the data dir {} but listens on {}, not on {} as this environment expects (its runtime dir differs: XDG_RUNTIME_DIR or TAGPUB_RUNTIME_DIR). Run tagpub with TAGPUB_RUNTIME_DIR={}, or stop that daemon with `tagpub daemon stop` and start it again from here",
            holder_text(holder),
            dirs.data.display(),
            holder.socket.display(),
            dirs.socket_path().display(),
            holder
                .socket
                .parent()
                .map_or(String::new(), |p| p.display().to_string()),
        );
    }
    Ok(())
}

fn start(ctx: &Context) -> anyhow::Result<ExitStatus> {
    let dirs = &ctx.dirs;
    // Concurrent starts take turns from here on: the second one finds the
    // daemon the first started, so exactly one daemon runs.
    let _turn = lifecycle::start_lock(dirs, START_TIMEOUT * 3)?;
    if let Ok(Response::Pong { pid, .. }) = ping(dirs) {
        ctx.printer
            .line(&format!("the daemon is already running (pid {pid})"));
        return Ok(ExitStatus::Success);
    }
    // Holding a lock but not (yet) answering: starting up right now, or
    // running with another runtime dir.
    if let Some(holder) = lifecycle::running(dirs)? {
        return already_running(ctx, dirs, &holder);
    }
    let mut child = spawn_detached(dirs)?;
    let log = crate::daemon::log_path(dirs);
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        match ping(dirs) {
            Ok(Response::Pong { pid, .. }) if pid == child.id() => {
                ctx.printer.success(&format!(
                    "started the daemon (pid {pid}), listening on {}; log: {}",
                    dirs.socket_path().display(),
                    log.display()
                ));
                return Ok(ExitStatus::Success);
            }
            Ok(Response::Pong { pid, .. }) => {
                // Another daemon (a service manager's) won: ours exits on
                // its own; wait for it so it leaves no zombie behind.
                let _ = crate::process::wait_within(&mut child, START_TIMEOUT);
                ctx.printer
                    .line(&format!("the daemon is already running (pid {pid})"));
                return Ok(ExitStatus::Success);
            }
            _ => {}
        }
        if let Some(status) = child.try_wait()? {
            // Lost a race with a daemon not started by `daemon start`.
            if let Some(holder) = lifecycle::running(dirs)? {
                return already_running(ctx, dirs, &holder);
            }
            bail!(
                "the daemon exited at startup ({status}): {}see {}",
                last_line(&log).map_or(String::new(), |line| format!("{line}; ")),
                log.display()
            );
        }
        if Instant::now() >= deadline {
            bail!(
                "the daemon (pid {}) did not answer on {} within {} s: see {}",
                child.id(),
                dirs.socket_path().display(),
                START_TIMEOUT.as_secs(),
                log.display()
            );
        }
        std::thread::sleep(POLL);
    }
}

/// `tagpub daemon run` in its own process group (a Ctrl-C in the starting
/// terminal must not reach it), stdin from /dev/null, output appended to the
/// log, in `/` (it must not keep the caller's directory busy), with the dirs
/// this process uses passed on as absolute paths.
fn spawn_detached(dirs: &Dirs) -> anyhow::Result<std::process::Child> {
    let log = crate::daemon::log_path(dirs);
    let output = crate::fsutil::open_private_append(&log)
        .with_context(|| format!("cannot open the daemon log {}", log.display()))?;
    let mut daemon =
        crate::process::Child::tagpub_itself().context("cannot find the tagpub executable")?;
    let absolute = |path: &Path| std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    daemon
        .args(["daemon", "run"])
        .env(crate::env::DATA_DIR.name, absolute(&dirs.data))
        .env(crate::env::CONFIG_DIR.name, absolute(&dirs.config))
        .env(crate::env::RUNTIME_DIR.name, absolute(&dirs.runtime))
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(output.try_clone()?)
        .stderr(output)
        .own_process_group();
    let program = daemon.program().to_string();
    daemon
        .spawn()
        .map_err(crate::process::RunError::into_io)
        .with_context(|| format!("cannot start {program} daemon run"))
}

fn last_line(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .map(|line| line.trim().to_string())
}

fn stop(ctx: &Context) -> anyhow::Result<ExitStatus> {
    let dirs = &ctx.dirs;
    let holder = lifecycle::running(dirs)?;
    // The daemon that holds this data dir, wherever it listens.
    let socket = holder
        .as_ref()
        .map_or_else(|| dirs.socket_path(), |h| h.socket.clone());
    let pid = match ipc::request(&socket, Request::Shutdown, PING_TIMEOUT) {
        Ok(Response::Ok) => holder.as_ref().and_then(|h| h.pid),
        Ok(Response::Error { message }) => bail!("the daemon refused to stop: {message}"),
        Ok(other) => bail!("the daemon answered {other:?} to shutdown: restart it by hand"),
        Err(err) if err.is_not_running() => match holder {
            None => {
                ctx.printer.line("the daemon is not running");
                return Ok(ExitStatus::Success);
            }
            Some(holder) => bail!(
                "the daemon ({}) holds {} but does not listen on {}: stop it with `kill {}`",
                holder_text(&holder),
                dirs.runtime.join(lifecycle::LOCK_FILE).display(),
                socket.display(),
                holder
                    .pid
                    .map_or("<pid>".to_string(), |pid| pid.to_string()),
            ),
        },
        Err(err) => return Err(err.into()),
    };
    let deadline = Instant::now() + STOP_TIMEOUT;
    // Stopped means the locks are free and the process is gone, so that a
    // `daemon start` right after never meets the old one.
    while lifecycle::running(dirs)?.is_some() || pid.is_some_and(process_alive) {
        if Instant::now() >= deadline {
            bail!(
                "the daemon ({}) did not stop within {} s: see {}",
                pid.map_or("pid unknown".to_string(), |pid| format!("pid {pid}")),
                STOP_TIMEOUT.as_secs(),
                crate::daemon::log_path(dirs).display()
            );
        }
        std::thread::sleep(POLL);
    }
    ctx.printer.success(&match pid {
        Some(pid) => format!("stopped the daemon (pid {pid})"),
        None => "stopped the daemon".to_string(),
    });
    Ok(ExitStatus::Success)
}

/// Whether `pid` is a live process (a zombie, dead but not yet reaped by
/// its parent, counts as gone).
fn process_alive(pid: u32) -> bool {
    #[cfg(target_os = "linux")]
    {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            // The state follows the parenthesised command name.
            Ok(stat) => !stat
                .rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
            Err(_) => false,
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        // SAFETY: signal 0 only checks that the process exists.
        unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
    }
}

#[derive(Debug, Serialize)]
struct StatusReport {
    running: bool,
    pid: Option<u32>,
    version: Option<String>,
    uptime_secs: Option<u64>,
    socket: PathBuf,
    log: PathBuf,
    /// Why the daemon could not be asked (it holds the lock but does not
    /// answer, or answers with an error).
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<String>,
}

/// Exit 0 whether or not the daemon runs (it is a report); `--json` says
/// which in `running`.
fn status(ctx: &Context, args: &DaemonStatusArgs) -> anyhow::Result<ExitStatus> {
    let dirs = &ctx.dirs;
    let mut report = StatusReport {
        running: false,
        pid: None,
        version: None,
        uptime_secs: None,
        socket: dirs.socket_path(),
        log: crate::daemon::log_path(dirs),
        problem: None,
    };
    match ping(dirs) {
        Ok(Response::Pong {
            pid,
            tagpub_version,
            uptime_secs,
        }) => {
            report.running = true;
            report.pid = Some(pid);
            report.version = Some(tagpub_version);
            report.uptime_secs = Some(uptime_secs);
        }
        Ok(Response::Error { message }) => {
            report.running = true;
            report.problem = Some(message);
        }
        Ok(other) => {
            report.running = true;
            report.problem = Some(format!("unexpected answer to ping: {other:?}"));
        }
        Err(err) => {
            if let Some(holder) = lifecycle::running(dirs)? {
                report.running = true;
                report.pid = holder.pid;
                report.problem = Some(match elsewhere(dirs, &holder) {
                    Err(elsewhere) => crate::exit::chain_text(elsewhere.as_ref()),
                    Ok(()) => crate::exit::chain_text(&err),
                });
            }
        }
    }
    if args.json {
        ctx.printer.json(&report)?;
        return Ok(ExitStatus::Success);
    }
    if !report.running {
        ctx.printer.line(&format!(
            "the daemon is not running (socket {}): start it with `tagpub daemon start`",
            report.socket.display()
        ));
        return Ok(ExitStatus::Success);
    }
    let pid = report
        .pid
        .map_or("pid unknown".to_string(), |pid| format!("pid {pid}"));
    match (&report.version, report.uptime_secs) {
        (Some(version), Some(uptime)) => ctx.printer.line(&format!(
            "the daemon is running ({pid}, tagpub {version}, up {})",
            humantime::format_duration(Duration::from_secs(uptime))
        )),
        _ => ctx.printer.line(&format!(
            "the daemon is running ({pid}) but does not answer"
        )),
    }
    ctx.printer
        .line(&format!("  socket: {}", report.socket.display()));
    ctx.printer
        .line(&format!("  log:    {}", report.log.display()));
    if let Some(problem) = &report.problem {
        ctx.printer.warn(problem);
    }
    if let Some(version) = &report.version
        && version != env!("CARGO_PKG_VERSION")
    {
        ctx.printer.warn(&format!(
            "the daemon is tagpub {version}, this is {}: restart it with `tagpub daemon stop` then `tagpub daemon start`",
            env!("CARGO_PKG_VERSION")
        ));
    }
    Ok(ExitStatus::Success)
}
