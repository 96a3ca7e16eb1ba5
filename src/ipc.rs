//! The daemon's socket protocol: newline-delimited JSON over a Unix socket,
//! each message carrying the protocol version, with versioned `Request` and
//! `Response` enums in this one module (as sccache's `protocol.rs`).
//!
//! Only the nudge exists so far: hooks send it and never wait for an answer.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub const PROTOCOL_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Request {
    /// Refs under `refs/tags/` changed in this repository: rescan it.
    Nudge { git_dir: PathBuf },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Response {
    Ok,
    Error { message: String },
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
