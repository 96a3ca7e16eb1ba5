//! The tagpub directories of one test project or benchmark: data, config
//! and runtime (the daemon's socket) under one `state` dir, so nothing
//! touches the user's.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Points `command` (tagpub, or a git whose hooks run tagpub) at the dirs
/// under `state`.
pub fn isolate<'c>(command: &'c mut Command, state: &Path) -> &'c mut Command {
    command
        .env("TAGPUB_DATA_DIR", state.join("data"))
        .env("TAGPUB_CONFIG_DIR", state.join("config"))
        .env("TAGPUB_RUNTIME_DIR", state.join("run"))
}

/// Where the daemon of `state` listens.
pub fn daemon_socket(state: &Path) -> PathBuf {
    state.join("run/tagpub.sock")
}

/// Waits until `path` exists; false when `limit` passed first.
pub fn wait_for(path: &Path, limit: Duration) -> bool {
    let started = Instant::now();
    while !path.exists() {
        if started.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}
