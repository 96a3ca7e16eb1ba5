//! `tagpub daemon run|start|stop|status` as real processes on a real socket:
//! single instance, stale socket cleanup, socket permissions, graceful stop
//! on signals and on `daemon stop`, protocol version mismatch, nudges.

#![cfg(unix)]

use std::io::{BufRead, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::common::project::Run;
use tagpub::daemon::lifecycle;
use tagpub::dirs::Dirs;
use tagpub::ipc::{self, Message, Request, Response};

/// Isolated dirs for one test; kills a daemon the test left running.
struct Env {
    temp: tempfile::TempDir,
    dirs: Dirs,
}

impl Env {
    fn new() -> Env {
        let temp = tempfile::tempdir().unwrap();
        let dirs = Dirs::under(temp.path());
        Env { temp, dirs }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(crate::common::project::tagpub_bin());
        command
            .args(args)
            .current_dir(self.temp.path())
            .env("TAGPUB_DATA_DIR", &self.dirs.data)
            .env("TAGPUB_CONFIG_DIR", &self.dirs.config)
            .env("TAGPUB_RUNTIME_DIR", &self.dirs.runtime)
            .env("NO_COLOR", "1")
            .env_remove("TAGPUB_LOG");
        command
    }

    fn run(&self, args: &[&str]) -> Run {
        let output = self
            .command(args)
            .stdin(Stdio::null())
            .output()
            .expect("tagpub runs");
        Run::from_output(output)
    }

    /// `tagpub daemon run` as our child, so the test sees its exit status.
    fn spawn_foreground(&self) -> Child {
        let child = self
            .command(&["daemon", "run"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        self.wait_for_pong();
        child
    }

    fn socket(&self) -> PathBuf {
        self.dirs.socket_path()
    }

    fn ping(&self) -> Result<Response, ipc::IpcError> {
        ipc::request(&self.socket(), Request::Ping, Duration::from_secs(2))
    }

    /// Waits (up to 10 s) for the daemon to answer; returns its pid.
    #[track_caller]
    fn wait_for_pong(&self) -> u32 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Response::Pong { pid, .. }) = self.ping() {
                return pid;
            }
            assert!(Instant::now() < deadline, "the daemon never answered");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn holder_pid(&self) -> Option<u32> {
        lifecycle::running(&self.dirs)
            .unwrap()
            .and_then(|holder| holder.pid)
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // A failed test must not leave a detached daemon behind.
        if let Some(pid) = self.holder_pid() {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits up to `limit` for the child to exit.
#[track_caller]
fn wait_exit(child: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("the daemon did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stderr_of(child: &mut Child) -> String {
    let mut text = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
    }
    text
}

#[test]
fn start_status_second_start_and_stop() {
    let env = Env::new();
    env.run(&["daemon", "status"])
        .assert_ok()
        .assert_stderr("the daemon is not running");
    env.run(&["daemon", "stop"])
        .assert_ok()
        .assert_stderr("the daemon is not running");

    let started = env.run(&["daemon", "start"]);
    started
        .assert_ok()
        .assert_stderr("started the daemon (pid ");
    let pid = env.wait_for_pong();
    assert_eq!(env.holder_pid(), Some(pid), "the lock file holds the pid");
    started.assert_stderr(&format!("(pid {pid})"));

    assert_eq!(mode(&env.socket()), 0o600, "socket mode");
    assert_eq!(mode(&env.dirs.runtime), 0o700, "runtime dir mode");

    env.run(&["daemon", "status"])
        .assert_ok()
        .assert_stderr(&format!(
            "the daemon is running (pid {pid}, tagpub {}",
            env!("CARGO_PKG_VERSION")
        ))
        .assert_stderr(&env.socket().display().to_string());
    let json = env.run(&["daemon", "status", "--json"]);
    json.assert_ok();
    let report: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(report["running"], true);
    assert_eq!(report["pid"], pid);
    assert_eq!(report["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(report["socket"], env.socket().display().to_string());

    // A second start and a second foreground run find the first.
    env.run(&["daemon", "start"])
        .assert_ok()
        .assert_stderr(&format!("the daemon is already running (pid {pid})"));
    let second = env.run(&["daemon", "run"]);
    assert_eq!(second.code, 1, "{}", second.stderr);
    second.assert_stderr(&format!("the daemon is already running (pid {pid})"));
    assert_eq!(env.wait_for_pong(), pid, "the first daemon still serves");

    env.run(&["daemon", "stop"])
        .assert_ok()
        .assert_stderr(&format!("stopped the daemon (pid {pid})"));
    assert!(!env.socket().exists(), "stop removes the socket");
    assert_eq!(env.holder_pid(), None);
    env.run(&["daemon", "status"])
        .assert_ok()
        .assert_stderr("the daemon is not running");
    assert!(env.dirs.data.join("daemon.log").exists());
}

#[test]
fn a_stale_socket_is_cleaned_up_and_the_daemon_starts() {
    let env = Env::new();
    std::fs::create_dir_all(&env.dirs.runtime).unwrap();
    // What a SIGKILLed daemon leaves: the socket file, nobody listening.
    drop(UnixListener::bind(env.socket()).unwrap());
    assert!(env.socket().exists());

    env.run(&["daemon", "start"])
        .assert_ok()
        .assert_stderr("started the daemon");
    env.wait_for_pong();
    env.run(&["daemon", "stop"]).assert_ok();
}

#[test]
fn sigterm_and_sigint_stop_the_daemon_with_exit_0_and_remove_the_socket() {
    for name in ["TERM", "INT"] {
        let env = Env::new();
        let mut child = env.spawn_foreground();
        assert!(env.socket().exists());
        signal(child.id(), name);
        let status = wait_exit(&mut child, Duration::from_secs(10));
        assert_eq!(
            status.code(),
            Some(0),
            "SIG{name}: {status}\n{}",
            stderr_of(&mut child)
        );
        assert!(!env.socket().exists(), "SIG{name} leaves the socket behind");
        assert_eq!(env.holder_pid(), None);
    }
}

#[test]
fn daemon_stop_stops_a_foreground_daemon() {
    let env = Env::new();
    let mut child = env.spawn_foreground();
    let pid = child.id();
    env.run(&["daemon", "stop"])
        .assert_ok()
        .assert_stderr(&format!("stopped the daemon (pid {pid})"));
    let status = wait_exit(&mut child, Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{}", stderr_of(&mut child));
    assert!(!env.socket().exists());
}

#[test]
fn a_protocol_version_mismatch_gets_an_error_response() {
    let env = Env::new();
    let mut child = env.spawn_foreground();
    let mut stream = UnixStream::connect(env.socket()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
        .write_all(b"{\"version\":2,\"type\":\"ping\"}\n")
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(&stream)
        .read_line(&mut line)
        .unwrap();
    let answer: Message<Response> = serde_json::from_str(&line).unwrap();
    assert_eq!(answer.version, ipc::PROTOCOL_VERSION);
    assert_eq!(
        answer.body,
        Response::Error {
            message: "protocol version 2 not supported (daemon speaks 1): restart the daemon after upgrading tagpub".to_string()
        }
    );
    // The same connection still serves a request in the right version.
    stream
        .write_all(Message::new(Request::Ping).to_line().as_bytes())
        .unwrap();
    line.clear();
    std::io::BufReader::new(&stream)
        .read_line(&mut line)
        .unwrap();
    let answer: Message<Response> = serde_json::from_str(&line).unwrap();
    assert!(matches!(answer.body, Response::Pong { pid, .. } if pid == child.id()));

    signal(child.id(), "TERM");
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(10)).code(),
        Some(0)
    );
}

#[test]
fn hook_nudges_are_accepted_and_the_daemon_keeps_serving() {
    let env = Env::new();
    env.run(&["daemon", "start"]).assert_ok();
    let pid = env.wait_for_pong();
    let repo = env.temp.path().join("repo");
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    for _ in 0..5 {
        let output = env
            .command(&["hook", "nudge"])
            .current_dir(&repo)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(output.status.success());
        assert!(
            output.stderr.is_empty(),
            "a nudge prints nothing: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    // Many senders that close at once, as the hook does.
    for _ in 0..50 {
        ipc::send_nudge(&env.socket(), &repo.join(".git")).unwrap();
    }
    assert_eq!(env.wait_for_pong(), pid, "the same daemon still answers");
    assert!(matches!(
        ipc::request(&env.socket(), Request::Status, Duration::from_secs(2)).unwrap(),
        Response::Status(_)
    ));
    env.run(&["daemon", "stop"]).assert_ok();
}

#[test]
fn the_daemon_log_rotates_while_the_daemon_runs() {
    let env = Env::new();
    let limit = 2048;
    let started = env
        .command(&["daemon", "start"])
        .env("TAGPUB_LOG_MAX_BYTES", limit.to_string())
        .env("TAGPUB_LOG", "tagpub=debug")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(started.status.success());
    let pid = env.wait_for_pong();
    let log = env.dirs.data.join("daemon.log");
    let repo = env.temp.path().join("repo");
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    // Each nudge and request is a debug line or more: far past 4 files' worth.
    for _ in 0..200 {
        ipc::send_nudge(&env.socket(), &repo.join(".git")).unwrap();
        let _ = env.ping();
    }
    assert_eq!(env.wait_for_pong(), pid, "the same daemon still answers");
    // Each nudge is served on its own connection, concurrently: on a busy
    // machine some are still being logged when the loop ends, and lines
    // logged after the stop's could rotate it out of the current file.
    wait_until_quiet(&env.dirs.data.join("daemon.log"));
    env.run(&["daemon", "stop"]).assert_ok();

    let rotated: Vec<PathBuf> = (1..=4)
        .map(|n| env.dirs.data.join(format!("daemon.log.{n}")))
        .collect();
    for path in &rotated[..3] {
        let size = std::fs::metadata(path)
            .unwrap_or_else(|e| panic!("{} should exist: {e}", path.display()))
            .len();
        assert!(
            size > 0 && size <= limit,
            "{} is {size} bytes",
            path.display()
        );
    }
    assert!(!rotated[3].exists(), "only three old logs are kept");
    // The lines after the last rotation, up to the stop, are in the current log.
    let current = std::fs::read_to_string(&log).unwrap();
    assert!(current.len() as u64 <= limit, "{} bytes", current.len());
    assert!(
        current.contains("stopping"),
        "the stop is logged in the current file:\n{current}"
    );
}

/// Waits (at most 30 s) until `log` and its first rotation have not
/// changed for half a second.
fn wait_until_quiet(log: &Path) {
    let state = || {
        [log.to_path_buf(), log.with_extension("log.1")].map(|path| {
            std::fs::metadata(path)
                .ok()
                .map(|m| (m.len(), m.modified().ok()))
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = state();
    let mut since = Instant::now();
    while Instant::now() < deadline && since.elapsed() < Duration::from_millis(500) {
        std::thread::sleep(Duration::from_millis(50));
        let now = state();
        if now != last {
            last = now;
            since = Instant::now();
        }
    }
}

/// The live (not zombie) `tagpub daemon run` processes whose data dir is
/// `data`, found in /proc by their command line and environment.
fn daemon_pids(data: &Path) -> Vec<u32> {
    let wanted = format!("TAGPUB_DATA_DIR={}", data.display());
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let dir = entry.path();
        let (Ok(cmdline), Ok(environ), Ok(stat)) = (
            std::fs::read(dir.join("cmdline")),
            std::fs::read(dir.join("environ")),
            std::fs::read_to_string(dir.join("stat")),
        ) else {
            continue;
        };
        let zombie = stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z'));
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let is_daemon = args.windows(2).any(|w| w == [&b"daemon"[..], &b"run"[..]]);
        let ours = environ
            .split(|b| *b == 0)
            .any(|var| var == wanted.as_bytes());
        if is_daemon && ours && !zombie {
            pids.push(pid);
        }
    }
    pids
}

#[test]
fn two_starts_at_once_make_one_daemon_and_stop_leaves_none() {
    for trial in 1..=5 {
        let env = Env::new();
        let starts: Vec<Child> = (0..2)
            .map(|_| {
                env.command(&["daemon", "start"])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut said = Vec::new();
        for start in starts {
            let output = start.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
            assert!(output.status.success(), "trial {trial}: {stderr}");
            said.push(stderr);
        }
        let pid = env.wait_for_pong();
        assert_eq!(
            daemon_pids(&env.dirs.data),
            vec![pid],
            "trial {trial}: exactly one daemon: {said:?}"
        );
        assert!(
            said.iter().any(|s| s.contains("started the daemon"))
                && said
                    .iter()
                    .any(|s| s.contains(&format!("already running (pid {pid})"))),
            "trial {trial}: one starts it, the other finds it: {said:?}"
        );
        env.run(&["daemon", "stop"])
            .assert_ok()
            .assert_stderr(&format!("stopped the daemon (pid {pid})"));
        assert_eq!(
            daemon_pids(&env.dirs.data),
            Vec::<u32>::new(),
            "trial {trial}: a daemon is left after stop"
        );
    }
}

#[test]
fn a_second_daemon_on_the_same_data_dir_with_another_runtime_dir_is_refused() {
    let env = Env::new();
    let mut first = env.spawn_foreground();
    let pid = first.id();
    // A shell without XDG_RUNTIME_DIR next to a service with it: another
    // runtime dir, the same data dir.
    let other_runtime = env.temp.path().join("other-run");
    let mut second = env
        .command(&["daemon", "run"])
        .env("TAGPUB_RUNTIME_DIR", &other_runtime)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_exit(&mut second, Duration::from_secs(10));
    let stderr = stderr_of(&mut second);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("pid {pid}"))
            && stderr.contains("already uses the data dir")
            && stderr.contains(&env.socket().display().to_string()),
        "{stderr}"
    );
    assert!(!other_runtime.join("tagpub.sock").exists());

    // `daemon start` there says where the running one listens…
    let started = env
        .command(&["daemon", "start"])
        .env("TAGPUB_RUNTIME_DIR", &other_runtime)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&started.stderr);
    assert_eq!(started.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!("pid {pid}")) && text.contains(&env.socket().display().to_string()),
        "{text}"
    );
    assert_eq!(daemon_pids(&env.dirs.data), vec![pid]);
    // …and `daemon stop` there reaches it.
    let stopped = env
        .command(&["daemon", "stop"])
        .env("TAGPUB_RUNTIME_DIR", &other_runtime)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&stopped.stderr);
    assert!(stopped.status.success(), "{text}");
    assert!(
        text.contains(&format!("stopped the daemon (pid {pid})")),
        "{text}"
    );
    assert_eq!(
        wait_exit(&mut first, Duration::from_secs(10)).code(),
        Some(0)
    );
}

#[test]
fn nudges_naming_a_fifo_commondir_do_not_wedge_the_daemon() {
    let env = Env::new();
    let mut child = env.spawn_foreground();
    let git_dir = env.temp.path().join("trap/.git");
    std::fs::create_dir_all(&git_dir).unwrap();
    let made = Command::new("mkfifo")
        .arg(git_dir.join("commondir"))
        .status()
        .unwrap();
    assert!(made.success());
    // More than the daemon's event-loop threads.
    for _ in 0..4 {
        ipc::send_nudge(&env.socket(), &git_dir).unwrap();
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        matches!(
            ipc::request(&env.socket(), Request::Status, Duration::from_secs(5)),
            Ok(Response::Status(_))
        ),
        "the daemon no longer answers"
    );
    env.run(&["status"])
        .assert_ok()
        .assert_stderr(&format!("daemon: running (pid {})", child.id()));
    signal(child.id(), "TERM");
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(10)).code(),
        Some(0),
        "{}",
        stderr_of(&mut child)
    );
}
