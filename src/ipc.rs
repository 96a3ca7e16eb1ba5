//! The daemon's socket protocol: newline-delimited JSON over a Unix socket,
//! each message carrying the protocol version, with versioned `Request` and
//! `Response` enums in this one module (as sccache's `protocol.rs`).
//!
//! Hooks send `Nudge` and never wait for an answer; `tagpub daemon
//! start|stop|status` send `Ping`, `Shutdown` and `Status` with [`request`]
//! and read one `Response` line back.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub const PROTOCOL_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Request {
    /// Refs under `refs/tags/` changed in this repository: rescan it.
    Nudge { git_dir: PathBuf },
    /// Is a daemon there, which one? Answered with `Response::Pong`.
    Ping,
    /// The daemon's state (repos, queue, jobs): `Response::Status`.
    Status,
    /// Stop gracefully (like SIGTERM); answered `Response::Ok` before stopping.
    Shutdown,
    /// Run a failed job again; the release resumes where it stopped.
    Retry { job: u64 },
    /// Cancel a job still in its grace period.
    Cancel { job: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Response {
    Ok,
    Error {
        message: String,
    },
    Pong {
        pid: u32,
        /// The daemon's tagpub version (`CARGO_PKG_VERSION`), so a client can
        /// tell that the daemon predates an upgrade. Not `version`: that
        /// name is the envelope's protocol version on the same JSON object.
        tagpub_version: String,
        /// Seconds since the daemon started.
        #[serde(default)]
        uptime_secs: u64,
    },
    /// The daemon's state. Its fields sit next to `"version"` and `"type"`
    /// on the wire (the enum is internally tagged, the message flattened),
    /// so `StatusReply` has neither name.
    Status(StatusReply),
}

/// The daemon's answer to `Status`, and what `tagpub status` shows when no
/// daemon runs (then from the watch list and the ledger, `daemon.running`
/// false and no queue counts). One type for both ends: a renamed field is a
/// compile error, not a key read back as null.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReply {
    pub daemon: DaemonState,
    #[serde(default)]
    pub repos: Vec<WatchedRepo>,
    /// Jobs waiting (grace period, push) and running; the daemon's only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queued: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<usize>,
    #[serde(default)]
    pub jobs: Vec<crate::ledger::JobRecord>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonState {
    pub running: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// Seconds since the daemon started: the name `Pong` uses too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime_secs: Option<u64>,
}

/// One repository on the watch list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchedRepo {
    pub git_dir: PathBuf,
    pub workdir: PathBuf,
    pub known_tags: usize,
    /// What keeps the daemon from watching or recording it, if anything.
    #[serde(default)]
    pub problem: Option<String>,
}

/// One line on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message<T> {
    pub version: u32,
    #[serde(flatten)]
    pub body: T,
}

impl<T: Serialize> Message<T> {
    pub fn new(body: T) -> Message<T> {
        Message {
            version: PROTOCOL_VERSION,
            body,
        }
    }

    /// The JSON line, newline included.
    pub fn to_line(&self) -> String {
        let mut line = serde_json::to_string(self).expect("messages always serialize");
        line.push('\n');
        line
    }
}

/// Why a [`request`] got no answer.
#[derive(Debug, thiserror::Error)]
pub enum IpcError {
    #[error(
        "no daemon is running ({socket}): start one with `tagpub daemon start`",
        socket = socket.display()
    )]
    NotRunning {
        socket: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the daemon at {socket} did not answer within {}: see its log, or restart it with `tagpub daemon stop` then `tagpub daemon start`",
        humantime::format_duration(*timeout),
        socket = socket.display()
    )]
    Timeout { socket: PathBuf, timeout: Duration },
    #[error(
        "the daemon at {socket} closed the connection without answering: see its log",
        socket = socket.display()
    )]
    NoAnswer { socket: PathBuf },
    #[error(
        "talking to the daemon at {socket} failed",
        socket = socket.display()
    )]
    Io {
        socket: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the daemon at {socket} answered something this tagpub does not understand: restart the daemon after upgrading tagpub",
        socket = socket.display()
    )]
    Malformed {
        socket: PathBuf,
        source: serde_json::Error,
    },
}

impl IpcError {
    /// True when nothing listens on the socket (no daemon, or a stale socket
    /// file), as opposed to a daemon that misbehaves.
    pub fn is_not_running(&self) -> bool {
        matches!(self, IpcError::NotRunning { .. })
    }
}

/// Sends one request and waits (at most `timeout` for each of connect, write
/// and read) for its one-line response. Blocking: for the CLI, not the daemon.
#[cfg(unix)]
pub fn request(socket: &Path, request: Request, timeout: Duration) -> Result<Response, IpcError> {
    use std::io::ErrorKind;
    let io_error = |source: std::io::Error| match source.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => IpcError::Timeout {
            socket: socket.to_path_buf(),
            timeout,
        },
        _ => IpcError::Io {
            socket: socket.to_path_buf(),
            source,
        },
    };
    // Connecting to a Unix socket never blocks long: it either has a
    // listener (and a backlog) or fails at once with ENOENT/ECONNREFUSED.
    let stream =
        std::os::unix::net::UnixStream::connect(socket).map_err(|source| IpcError::NotRunning {
            socket: socket.to_path_buf(),
            source,
        })?;
    stream.set_write_timeout(Some(timeout)).map_err(io_error)?;
    stream.set_read_timeout(Some(timeout)).map_err(io_error)?;
    (&stream)
        .write_all(Message::new(request).to_line().as_bytes())
        .map_err(io_error)?;
    let mut line = String::new();
    // One line, bounded: a confused peer must not make us buffer forever.
    std::io::BufReader::new(std::io::Read::take(&stream, MAX_LINE))
        .read_line(&mut line)
        .map_err(io_error)?;
    if line.trim().is_empty() {
        return Err(IpcError::NoAnswer {
            socket: socket.to_path_buf(),
        });
    }
    let message: Message<Response> =
        serde_json::from_str(line.trim_end()).map_err(|source| IpcError::Malformed {
            socket: socket.to_path_buf(),
            source,
        })?;
    Ok(message.body)
}

#[cfg(not(unix))]
pub fn request(socket: &Path, _request: Request, _timeout: Duration) -> Result<Response, IpcError> {
    Err(IpcError::NotRunning {
        socket: socket.to_path_buf(),
        source: std::io::Error::other("the daemon socket needs a Unix system"),
    })
}

/// The longest line either side accepts (requests and status answers are
/// far smaller; this only bounds memory).
pub const MAX_LINE: u64 = 1 << 20;

/// Sends a nudge and returns at once: it never waits for the daemon's
/// answer. Errors (no daemon, a stale socket) are for the caller to ignore.
#[cfg(unix)]
pub fn send_nudge(socket: &Path, git_dir: &Path) -> std::io::Result<()> {
    let mut stream = std::os::unix::net::UnixStream::connect(socket)?;
    // A daemon that stops reading must not stall `git tag`.
    stream.set_write_timeout(Some(Duration::from_millis(200)))?;
    let line = Message::new(Request::Nudge {
        git_dir: git_dir.to_path_buf(),
    })
    .to_line();
    stream.write_all(line.as_bytes())
}

#[cfg(not(unix))]
pub fn send_nudge(_socket: &Path, _git_dir: &Path) -> std::io::Result<()> {
    let _ = Duration::ZERO;
    Err(std::io::Error::other(
        "the daemon socket needs a Unix system",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nudge_wire_format_is_versioned_json_lines() {
        let line = Message::new(Request::Nudge {
            git_dir: PathBuf::from("/r/.git"),
        })
        .to_line();
        assert_eq!(
            line,
            "{\"version\":1,\"type\":\"nudge\",\"git_dir\":\"/r/.git\"}\n"
        );
        let back: Message<Request> = serde_json::from_str(line.trim()).unwrap();
        assert_eq!(back.version, PROTOCOL_VERSION);
    }

    #[test]
    fn new_variants_wire_format() {
        assert_eq!(
            Message::new(Request::Ping).to_line(),
            "{\"version\":1,\"type\":\"ping\"}\n"
        );
        assert_eq!(
            Message::new(Request::Shutdown).to_line(),
            "{\"version\":1,\"type\":\"shutdown\"}\n"
        );
        let pong = Message::new(Response::Pong {
            pid: 7,
            tagpub_version: "0.1.0".into(),
            uptime_secs: 3,
        });
        let back: Message<Response> = serde_json::from_str(pong.to_line().trim()).unwrap();
        assert_eq!(back, pong);
        let status = Message::new(Response::Status(StatusReply {
            daemon: DaemonState {
                running: true,
                pid: Some(7),
                uptime_secs: Some(3),
            },
            repos: vec![WatchedRepo {
                git_dir: "/r/.git".into(),
                workdir: "/r".into(),
                known_tags: 2,
                problem: Some("cannot read refs".into()),
            }],
            queued: Some(1),
            running: Some(0),
            jobs: Vec::new(),
        }));
        let line = status.to_line();
        assert!(line.contains("\"type\":\"status\""), "{line}");
        assert!(line.contains("\"uptime_secs\":3"), "{line}");
        let back: Message<Response> = serde_json::from_str(line.trim()).unwrap();
        assert_eq!(back, status);
    }

    #[cfg(unix)]
    #[test]
    fn request_without_a_daemon_says_how_to_start_one() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("tagpub.sock");
        let err = request(&socket, Request::Ping, Duration::from_secs(1)).unwrap_err();
        assert!(err.is_not_running());
        assert!(
            err.to_string().contains("no daemon is running (")
                && err
                    .to_string()
                    .contains("start one with `tagpub daemon start`"),
            "{err}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn request_times_out_on_a_silent_daemon() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("tagpub.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let err = request(&socket, Request::Ping, Duration::from_millis(100)).unwrap_err();
        assert!(matches!(err, IpcError::Timeout { .. }), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn send_nudge_reaches_a_listener_and_fails_fast_without_one() {
        use std::io::BufRead;
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("tagpub.sock");
        assert!(send_nudge(&socket, Path::new("/x")).is_err());
        let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        send_nudge(&socket, Path::new("/x/.git")).unwrap();
        let (stream, _) = listener.accept().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(stream)
            .read_line(&mut line)
            .unwrap();
        let message: Message<Request> = serde_json::from_str(&line).unwrap();
        assert_eq!(
            message.body,
            Request::Nudge {
                git_dir: PathBuf::from("/x/.git")
            }
        );
    }
}
