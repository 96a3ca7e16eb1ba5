//! The daemon's log file, bounded in size while the daemon runs.
//!
//! When a write would take `daemon.log` past the limit, the file becomes
//! `daemon.log.1` (older ones shift to `.2`, `.3`; the oldest is dropped) and
//! a fresh `daemon.log` is opened. If the process's stdout/stderr were that
//! same file (how `tagpub daemon start` and the launchd agent run it), they
//! are pointed at the fresh file too, so a panic message lands where the
//! user looks.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Default size of one log file before it rotates.
pub const DEFAULT_LIMIT: u64 = 5 * 1024 * 1024;
/// Rotated files kept besides the current one.
pub const KEEP: u32 = 3;

#[derive(Clone)]
pub struct RotatingLog {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    path: PathBuf,
    file: File,
    size: u64,
    limit: u64,
    /// stdout/stderr were the log file when it was opened.
    redirect_std: bool,
}

impl RotatingLog {
    /// Opens (appends to) the log, with the limit from `TAGPUB_LOG_MAX_BYTES` (`env::LOG_MAX_BYTES`; the tests use a small one).
    pub fn open(path: &Path) -> io::Result<RotatingLog> {
        let limit = crate::env::LOG_MAX_BYTES
            .get()
            .and_then(|v| v.parse().ok())
            .filter(|&limit| limit > 0)
            .unwrap_or(DEFAULT_LIMIT);
        RotatingLog::open_with_limit(path, limit)
    }

    pub fn open_with_limit(path: &Path, limit: u64) -> io::Result<RotatingLog> {
        let file = append(path)?;
        let size = file.metadata()?.len();
        let redirect_std = std_is(&file);
        let mut inner = Inner {
            path: path.to_path_buf(),
            file,
            size,
            limit,
            redirect_std,
        };
        // A log left too large by an earlier run starts out rotated.
        if inner.size > inner.limit {
            inner.rotate()?;
        }
        Ok(RotatingLog {
            inner: Arc::new(Mutex::new(inner)),
        })
    }

    /// Whether stdout/stderr already go to this file (then logging to
    /// stderr as well would write every line twice).
    pub fn is_stderr(&self) -> bool {
        self.inner.lock().map(|i| i.redirect_std).unwrap_or(false)
    }
}

impl Inner {
    fn rotate(&mut self) -> io::Result<()> {
        for n in (1..KEEP).rev() {
            let from = numbered(&self.path, n);
            if from.exists() {
                fs::rename(&from, numbered(&self.path, n + 1))?;
            }
        }
        fs::rename(&self.path, numbered(&self.path, 1))?;
        self.file = append(&self.path)?;
        self.size = 0;
        if self.redirect_std {
            redirect_std_to(&self.file);
        }
        Ok(())
    }
}

fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// The log quotes indexes' answers: 0600, in a 0700 dir (`fsutil`).
fn append(path: &Path) -> io::Result<File> {
    crate::fsutil::open_private_append(path)
}

#[cfg(unix)]
fn std_is(file: &File) -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let Ok(log) = file.metadata() else {
        return false;
    };
    let Ok(stderr) = io::stderr().as_fd().try_clone_to_owned().map(File::from) else {
        return false;
    };
    stderr
        .metadata()
        .is_ok_and(|m| m.dev() == log.dev() && m.ino() == log.ino())
}

#[cfg(not(unix))]
fn std_is(_file: &File) -> bool {
    false
}

#[cfg(unix)]
fn redirect_std_to(file: &File) {
    use std::os::fd::AsRawFd;
    // SAFETY: dup2 onto fds 1 and 2, which this process owns for its whole life;
    // both stay valid whatever the outcome.
    unsafe {
        libc::dup2(file.as_raw_fd(), 1);
        libc::dup2(file.as_raw_fd(), 2);
    }
}

#[cfg(not(unix))]
fn redirect_std_to(_file: &File) {}

impl Write for RotatingLog {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut inner = self
            .inner
            .lock()
            .map_err(|_| io::Error::other("log lock poisoned"))?;
        if inner.size > 0 && inner.size + buf.len() as u64 > inner.limit {
            // A log that cannot rotate keeps growing rather than losing lines.
            let _ = inner.rotate();
        }
        let written = inner.file.write(buf)?;
        inner.size += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RotatingLog {
    type Writer = RotatingLog;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> Vec<(String, u64)> {
        let mut files: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    e.metadata().unwrap().len(),
                )
            })
            .collect();
        files.sort();
        files
    }

    #[test]
    fn rotates_at_the_limit_and_keeps_three_old_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.log");
        let mut log = RotatingLog::open_with_limit(&path, 100).unwrap();
        let line = [b'x'; 39];
        for i in 0..40u8 {
            let mut line = line.to_vec();
            line[0] = b'a' + (i % 26);
            line.push(b'\n');
            log.write_all(&line).unwrap();
        }
        let found = files(dir.path());
        let names: Vec<_> = found.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["daemon.log", "daemon.log.1", "daemon.log.2", "daemon.log.3"]
        );
        for (name, size) in &found {
            assert!(*size <= 100, "{name} is {size} bytes");
            assert!(*size > 0, "{name} is empty");
        }
        // Line 40 (index 39) is the newest: in the current file.
        let current = fs::read_to_string(&path).unwrap();
        assert!(current.ends_with(&format!("{}{}\n", 'n', "x".repeat(38))));
    }

    #[test]
    fn a_log_left_too_large_starts_rotated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.log");
        fs::write(&path, vec![b'y'; 2000]).unwrap();
        RotatingLog::open_with_limit(&path, 1000).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().len(), 0);
        assert_eq!(fs::metadata(numbered(&path, 1)).unwrap().len(), 2000);
    }
}
