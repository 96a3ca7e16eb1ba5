//! `tagpub service install|uninstall|status`: the daemon as a user service.
//!
//! Linux (and other non-macOS Unix): a systemd user unit,
//! `$XDG_CONFIG_HOME/systemd/user/tagpub.service` (`TAGPUB_SYSTEMD_USER_DIR`
//! overrides the directory), enabled with `systemctl --user`. Without a
//! reachable user manager (no `systemctl`, or no user session bus, as in
//! containers) the unit is still written and the command says how to run the
//! daemon instead.
//!
//! macOS: a launchd agent, `~/Library/LaunchAgents/dev.tagpub.daemon.plist`,
//! loaded with `launchctl load -w`. That code is compiled on macOS only and
//! has not been run by the test suite (which runs on Linux).
//!
//! Every external program is run through `process::Child` (secrets withheld;
//! the session bus kept: `systemctl --user` and launchctl talk to the user's
//! manager over it), with arguments, never through a shell.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use serde::Serialize;

use crate::commands::Context;
use crate::env;
use crate::exit::ExitStatus;
use crate::ipc::{self, Request, Response};

#[derive(Debug, Args)]
pub struct ServiceArgs {
    #[command(subcommand)]
    pub command: ServiceCommand,
}

#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Write the service file and enable and start it (systemd --user, launchd).
    Install,
    /// Stop and disable the service and remove its file.
    Uninstall,
    /// Whether the service file is there, enabled, running, and the daemon answers.
    Status(ServiceStatusArgs),
}

#[derive(Debug, Args)]
pub struct ServiceStatusArgs {
    /// Print the status as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// The systemd user unit template (`@TAGPUB@`: the tagpub binary).
const UNIT_TEMPLATE: &str = include_str!("../../packaging/tagpub.service");
/// The launchd agent template (`@TAGPUB@`: the binary, `@LOG@`: the daemon log).
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
const PLIST_TEMPLATE: &str = include_str!("../../packaging/dev.tagpub.daemon.plist");

pub const UNIT_NAME: &str = "tagpub.service";
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
pub const AGENT_LABEL: &str = "dev.tagpub.daemon";

const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// How to run the daemon without a service manager.
const FALLBACK: &str =
    "run the daemon with `tagpub daemon start`, or `tagpub daemon run` under your own supervisor";

/// A word for a systemd unit line: `%` specifiers are doubled, and a word
/// with spaces, quotes or backslashes is double-quoted with C-style escapes.
fn systemd_word(text: &str) -> String {
    let text = text.replace('%', "%%");
    if text
        .chars()
        .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '\\' | ';'))
    {
        format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        text
    }
}

/// The dir overrides (`TAGPUB_DATA_DIR`, …) set where `install` runs: the
/// service must use the same dirs as the CLI, or `tagpub status` and the
/// daemon would not see each other.
pub fn dir_overrides() -> Vec<(&'static str, PathBuf)> {
    [env::DATA_DIR, env::CONFIG_DIR, env::RUNTIME_DIR]
        .into_iter()
        .filter_map(|var| {
            let path = PathBuf::from(var.non_empty()?);
            Some((var.name, std::path::absolute(&path).unwrap_or(path)))
        })
        .collect()
}

/// The unit for this binary, with `Environment=` lines for `env`.
pub fn render_unit(exe: &Path, env: &[(&str, PathBuf)]) -> String {
    let environment: String = env
        .iter()
        .map(|(name, value)| {
            format!(
                "Environment={}\n",
                systemd_word(&format!("{name}={}", value.to_string_lossy()))
            )
        })
        .collect();
    UNIT_TEMPLATE
        .replace("@TAGPUB@", &systemd_word(&exe.to_string_lossy()))
        .replace("[Service]\n", &format!("[Service]\n{environment}"))
}

/// The launchd agent for this binary, logging to `log`.
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
pub fn render_plist(exe: &Path, log: &Path) -> String {
    // A text node: `&`, `<`, `>` escaped by the crate that decodes index pages.
    fn xml(text: &str) -> String {
        html_escape::encode_text(text).into_owned()
    }
    PLIST_TEMPLATE
        .replace("@TAGPUB@", &xml(&exe.to_string_lossy()))
        .replace("@LOG@", &xml(&log.to_string_lossy()))
}

fn current_exe() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find the tagpub executable")?;
    Ok(std::path::absolute(&exe).unwrap_or(exe))
}

/// Whether the daemon answers a ping, with its pid.
fn daemon_pid(ctx: &Context) -> Option<u32> {
    match ipc::request(&ctx.dirs.socket_path(), Request::Ping, PING_TIMEOUT) {
        Ok(Response::Pong { pid, .. }) => Some(pid),
        _ => None,
    }
}

#[derive(Debug, Serialize)]
struct StatusReport {
    /// `systemd` or `launchd`.
    manager: &'static str,
    /// Where the service file is (or would be) installed.
    file: PathBuf,
    installed: bool,
    /// The installed file is what `install` would write now (same binary path).
    #[serde(skip_serializing_if = "Option::is_none")]
    up_to_date: Option<bool>,
    /// The service manager could be asked.
    manager_reachable: bool,
    /// Why it could not (e.g. no user session bus).
    #[serde(skip_serializing_if = "Option::is_none")]
    manager_problem: Option<String>,
    /// What the manager says of the service (`active`, `inactive`, `failed`,
    /// or for launchd `loaded`/`not loaded`); absent when unreachable.
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    enabled: Option<bool>,
    /// The daemon answers on its socket (however it was started).
    daemon_running: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    daemon_pid: Option<u32>,
    socket: PathBuf,
}

pub fn run(ctx: &Context, args: &ServiceArgs) -> anyhow::Result<ExitStatus> {
    match &args.command {
        ServiceCommand::Install => platform::install(ctx),
        ServiceCommand::Uninstall => platform::uninstall(ctx),
        ServiceCommand::Status(status_args) => {
            let report = platform::status(ctx)?;
            print_status(ctx, &report, status_args.json)?;
            Ok(ExitStatus::Success)
        }
    }
}

fn print_status(ctx: &Context, report: &StatusReport, json: bool) -> anyhow::Result<()> {
    if json {
        return ctx.printer.json(report);
    }
    let p = &ctx.printer;
    if report.installed {
        p.line(&format!("service file: {}", report.file.display()));
        if report.up_to_date == Some(false) {
            p.line(&p.warning(
                "it runs another tagpub binary than this one: run `tagpub service install` again",
            ));
        }
    } else {
        p.line(&format!(
            "service file: not installed ({}): run `tagpub service install`",
            report.file.display()
        ));
    }
    match (&report.manager_problem, &report.state) {
        (Some(problem), _) => p.line(&format!("{}: not reachable ({problem})", report.manager)),
        (None, Some(state)) => p.line(&format!(
            "{}: {state}{}",
            report.manager,
            match report.enabled {
                Some(true) => ", enabled",
                Some(false) => ", not enabled",
                None => "",
            }
        )),
        (None, None) => p.line(&format!("{}: reachable", report.manager)),
    }
    match report.daemon_pid {
        Some(pid) => p.line(&format!(
            "daemon: running (pid {pid}) on {}",
            report.socket.display()
        )),
        None => p.line(&format!(
            "daemon: not answering on {}",
            report.socket.display()
        )),
    }
    Ok(())
}

#[cfg(not(target_os = "macos"))]
mod platform {
    use std::process::Stdio;

    use crate::process::{Child, RunError};

    use crate::exit::ExitStatus;

    use anyhow::{Context as _, bail};

    use super::*;
    use crate::report::Reporter as _;

    /// `$XDG_CONFIG_HOME/systemd/user`, or `TAGPUB_SYSTEMD_USER_DIR`.
    fn unit_dir() -> anyhow::Result<PathBuf> {
        if let Some(dir) = crate::env::SYSTEMD_USER_DIR.non_empty() {
            return Ok(PathBuf::from(dir));
        }
        let base = directories::BaseDirs::new().context(
            "cannot tell where systemd user units go: no home directory (set TAGPUB_SYSTEMD_USER_DIR)",
        )?;
        Ok(base.config_dir().join("systemd").join("user"))
    }

    fn unit_path() -> anyhow::Result<PathBuf> {
        Ok(unit_dir()?.join(UNIT_NAME))
    }

    /// `systemctl --user ARGS`, output captured.
    fn systemctl(args: &[&str]) -> std::io::Result<std::process::Output> {
        Child::new("systemctl")
            .arg("--user")
            .args(args)
            .stdin(Stdio::null())
            .keep_session()
            .output()
            .map_err(RunError::into_io)
    }

    fn first_line(bytes: &[u8]) -> String {
        String::from_utf8_lossy(bytes)
            .lines()
            .map(str::trim)
            .find(|line| !line.is_empty())
            .unwrap_or("")
            .to_string()
    }

    /// `Ok(())` when a user manager answers; otherwise why not.
    fn reachable() -> Result<(), String> {
        match systemctl(&["show-environment"]) {
            Ok(out) if out.status.success() => Ok(()),
            Ok(out) => {
                let why = first_line(&out.stderr);
                Err(if why.is_empty() {
                    format!("`systemctl --user` failed ({})", out.status)
                } else {
                    why
                })
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                Err("systemctl is not installed".to_string())
            }
            Err(err) => Err(format!("cannot run systemctl: {err}")),
        }
    }

    /// Runs `systemctl --user ARGS` and fails with its message.
    fn checked(args: &[&str]) -> anyhow::Result<()> {
        let out = systemctl(args)
            .with_context(|| format!("cannot run systemctl --user {}", args.join(" ")))?;
        if !out.status.success() {
            bail!(
                "`systemctl --user {}` failed ({}): {}",
                args.join(" "),
                out.status,
                first_line(&out.stderr)
            );
        }
        Ok(())
    }

    pub(super) fn install(ctx: &Context) -> anyhow::Result<ExitStatus> {
        let path = unit_path()?;
        let unit = render_unit(&current_exe()?, &dir_overrides());
        let unchanged = std::fs::read(&path).is_ok_and(|old| old == unit.as_bytes());
        if !unchanged {
            crate::fsutil::write_atomic(&path, unit.as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        ctx.printer.line(&format!(
            "{} the systemd user unit {}",
            if unchanged { "kept" } else { "wrote" },
            path.display()
        ));
        if let Err(why) = reachable() {
            ctx.printer.warn(&format!(
                "no user systemd is running ({why}), so the unit is not enabled; \
                 it will be usable in a session with a user manager \
                 (then `systemctl --user enable --now {UNIT_NAME}`). Meanwhile {FALLBACK}"
            ));
            return Ok(ExitStatus::Success);
        }
        if let Some(pid) = daemon_pid(ctx) {
            ctx.printer.warn(&format!(
                "a daemon is already running (pid {pid}); if systemd did not start it, \
                 stop it with `tagpub daemon stop` and run `systemctl --user restart {UNIT_NAME}`"
            ));
        }
        checked(&["daemon-reload"])?;
        checked(&["enable", "--now", UNIT_NAME])?;
        ctx.printer.success(&format!(
            "enabled and started {UNIT_NAME}: the daemon starts with your session (logs: `journalctl --user -u {UNIT_NAME}`)"
        ));
        Ok(ExitStatus::Success)
    }

    pub(super) fn uninstall(ctx: &Context) -> anyhow::Result<ExitStatus> {
        let path = unit_path()?;
        let reach = reachable();
        if reach.is_ok() {
            // A unit that was never enabled or loaded is fine to "disable".
            let out = systemctl(&["disable", "--now", UNIT_NAME])?;
            if !out.status.success() && path.exists() {
                ctx.printer.warn(&format!(
                    "`systemctl --user disable --now {UNIT_NAME}` failed: {}",
                    first_line(&out.stderr)
                ));
            }
        }
        let removed = match std::fs::remove_file(&path) {
            Ok(()) => true,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => false,
            Err(err) => {
                return Err(err).with_context(|| format!("cannot remove {}", path.display()));
            }
        };
        if reach.is_ok() {
            checked(&["daemon-reload"])?;
        }
        if removed {
            ctx.printer
                .success(&format!("removed the systemd user unit {}", path.display()));
        } else {
            ctx.printer.line(&format!(
                "the systemd user unit is not installed ({})",
                path.display()
            ));
        }
        if let Err(why) = reach {
            ctx.printer.line(&format!(
                "no user systemd is running ({why}): nothing to stop there; a daemon started with `tagpub daemon start` stops with `tagpub daemon stop`"
            ));
        }
        Ok(ExitStatus::Success)
    }

    pub(super) fn status(ctx: &Context) -> anyhow::Result<StatusReport> {
        let path = unit_path()?;
        let installed = path.is_file();
        let up_to_date = if installed {
            let expected = render_unit(&current_exe()?, &dir_overrides());
            Some(std::fs::read(&path).is_ok_and(|bytes| bytes == expected.as_bytes()))
        } else {
            None
        };
        let reach = reachable();
        let (state, enabled) = if reach.is_ok() {
            let state = systemctl(&["is-active", UNIT_NAME])
                .ok()
                .map(|out| first_line(&out.stdout))
                .filter(|s| !s.is_empty());
            let enabled = systemctl(&["is-enabled", UNIT_NAME])
                .ok()
                .map(|out| out.status.success());
            (state, enabled)
        } else {
            (None, None)
        };
        let pid = daemon_pid(ctx);
        Ok(StatusReport {
            manager: "systemd",
            file: path,
            installed,
            up_to_date,
            manager_reachable: reach.is_ok(),
            manager_problem: reach.err(),
            state,
            enabled,
            daemon_running: pid.is_some(),
            daemon_pid: pid,
            socket: ctx.dirs.socket_path(),
        })
    }
}

/// launchd. Compiled on macOS only; not exercised by the (Linux) test suite.
#[cfg(target_os = "macos")]
mod platform {
    use std::process::Stdio;

    use crate::process::{Child, RunError};

    use crate::exit::ExitStatus;

    use anyhow::{Context as _, bail};

    use super::*;
    use crate::report::Reporter as _;

    fn plist_path() -> anyhow::Result<PathBuf> {
        let base = directories::BaseDirs::new()
            .context("cannot tell where launchd agents go: no home directory")?;
        Ok(base
            .home_dir()
            .join("Library/LaunchAgents")
            .join(format!("{AGENT_LABEL}.plist")))
    }

    fn launchctl(args: &[&str], plist: Option<&Path>) -> std::io::Result<std::process::Output> {
        let mut command = Child::new("launchctl");
        command.args(args);
        if let Some(plist) = plist {
            command.arg(plist);
        }
        command
            .stdin(Stdio::null())
            .keep_session()
            .output()
            .map_err(RunError::into_io)
    }

    fn loaded() -> bool {
        launchctl(&["list", AGENT_LABEL], None).is_ok_and(|out| out.status.success())
    }

    pub(super) fn install(ctx: &Context) -> anyhow::Result<ExitStatus> {
        let path = plist_path()?;
        let log = crate::daemon::log_path(&ctx.dirs);
        crate::fsutil::create_private_dir(&ctx.dirs.data)
            .with_context(|| format!("cannot create {}", ctx.dirs.data.display()))?;
        let plist = render_plist(&current_exe()?, &std::path::absolute(&log).unwrap_or(log));
        crate::fsutil::write_atomic(&path, plist.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
        ctx.printer
            .line(&format!("wrote the launchd agent {}", path.display()));
        if loaded() {
            let _ = launchctl(&["unload"], Some(&path));
        }
        let out = launchctl(&["load", "-w"], Some(&path)).context("cannot run launchctl")?;
        if !out.status.success() {
            bail!(
                "`launchctl load -w {}` failed: {}; meanwhile {FALLBACK}",
                path.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        ctx.printer
            .success(&format!("loaded {AGENT_LABEL}: the daemon starts at login"));
        Ok(ExitStatus::Success)
    }

    pub(super) fn uninstall(ctx: &Context) -> anyhow::Result<ExitStatus> {
        let path = plist_path()?;
        if !path.exists() {
            ctx.printer.line(&format!(
                "the launchd agent is not installed ({})",
                path.display()
            ));
            return Ok(ExitStatus::Success);
        }
        if loaded() {
            let out = launchctl(&["unload", "-w"], Some(&path)).context("cannot run launchctl")?;
            if !out.status.success() {
                ctx.printer.warn(&format!(
                    "`launchctl unload -w` failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
        }
        std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
        ctx.printer
            .success(&format!("removed the launchd agent {}", path.display()));
        Ok(ExitStatus::Success)
    }

    pub(super) fn status(ctx: &Context) -> anyhow::Result<StatusReport> {
        let path = plist_path()?;
        let installed = path.is_file();
        let reachable = launchctl(&["help"], None).is_ok();
        let pid = daemon_pid(ctx);
        Ok(StatusReport {
            manager: "launchd",
            file: path,
            installed,
            up_to_date: None,
            manager_reachable: reachable,
            manager_problem: (!reachable).then(|| "cannot run launchctl".to_string()),
            state: reachable.then(|| {
                let state = if loaded() { "loaded" } else { "not loaded" };
                state.to_string()
            }),
            enabled: None,
            daemon_running: pid.is_some(),
            daemon_pid: pid,
            socket: ctx.dirs.socket_path(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unit_passes_the_dir_overrides_on() {
        let unit = render_unit(
            Path::new("/opt/tagpub/bin/tagpub"),
            &[
                ("TAGPUB_DATA_DIR", PathBuf::from("/srv/tagpub data")),
                ("TAGPUB_RUNTIME_DIR", PathBuf::from("/run/t")),
            ],
        );
        assert!(
            unit.contains("[Service]\nEnvironment=\"TAGPUB_DATA_DIR=/srv/tagpub data\"\nEnvironment=TAGPUB_RUNTIME_DIR=/run/t\nExecStart="),
            "{unit}"
        );
    }

    #[test]
    fn the_rendered_unit_has_no_placeholder_and_runs_the_daemon() {
        let unit = render_unit(Path::new("/opt/tagpub/bin/tagpub"), &[]);
        assert!(!unit.contains('@'), "{unit}");
        assert!(unit.contains("ExecStart=/opt/tagpub/bin/tagpub daemon run\n"));
        assert!(unit.contains("[Unit]\nDescription=tagpub release daemon\n"));
        assert!(unit.contains("Restart=on-failure\n"));
        assert!(unit.contains("[Install]\nWantedBy=default.target\n"));
    }

    #[test]
    fn a_path_with_spaces_or_percent_is_quoted_for_systemd() {
        let unit = render_unit(Path::new("/home/a b/100%/tagpub"), &[]);
        assert!(unit.contains("ExecStart=\"/home/a b/100%%/tagpub\" daemon run\n"));
    }

    #[test]
    fn the_rendered_plist_has_no_placeholder_and_escapes_xml() {
        let plist = render_plist(Path::new("/Apps/R&D/tagpub"), Path::new("/d/daemon.log"));
        assert!(!plist.contains('@'), "{plist}");
        assert!(plist.contains("<string>/Apps/R&amp;D/tagpub</string>"));
        assert!(plist.contains("<string>/d/daemon.log</string>"));
        assert!(plist.contains(&format!("<string>{AGENT_LABEL}</string>")));
    }
}
