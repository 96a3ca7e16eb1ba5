//! One daemon per user: a lock file in the runtime dir, held (flock) for the
//! daemon's whole life and holding its pid, as atuin's daemon does. The lock,
//! not the socket, decides who runs: a socket file can outlive a killed
//! daemon, a lock cannot (the kernel drops it with the process).

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::dirs::Dirs;

/// The lock file's name in the runtime dir.
pub const LOCK_FILE: &str = "daemon.lock";

#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error("the daemon is already running ({}): stop it with `tagpub daemon stop`", pid_text(*pid))]
    AlreadyRunning { pid: Option<u32> },
    #[error(
        "something else listens on {socket} although no tagpub daemon holds {lock}: stop that process, or remove the socket if you know it is tagpub's",
        socket = socket.display(),
        lock = lock.display()
    )]
    SocketInUse { socket: PathBuf, lock: PathBuf },
    #[error("cannot prepare {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn pid_text(pid: Option<u32>) -> String {
    match pid {
        Some(pid) => format!("pid {pid}"),
        None => "pid unknown".to_string(),
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> LifecycleError + '_ {
    move |source| LifecycleError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The running daemon's claim on being the one: releases the lock and
/// removes the socket when dropped (socket first, so that once the lock is
/// free the socket is gone too: `daemon stop` waits on the lock).
#[derive(Debug)]
pub struct Instance {
    lock: File,
    lock_path: PathBuf,
    socket: PathBuf,
    pid: u32,
}

impl Instance {
    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn socket_path(&self) -> &Path {
        &self.socket
    }

    pub fn lock_path(&self) -> &Path {
        &self.lock_path
    }

    /// Binds the socket and makes it 0600. The runtime dir is already 0700,
    /// so the moment between bind and chmod exposes nothing; the server
    /// checks each peer's uid as well.
    #[cfg(unix)]
    pub fn bind(&self) -> Result<std::os::unix::net::UnixListener, LifecycleError> {
        use std::os::unix::fs::PermissionsExt;
        let listener =
            std::os::unix::net::UnixListener::bind(&self.socket).map_err(io_error(&self.socket))?;
        std::fs::set_permissions(&self.socket, std::fs::Permissions::from_mode(0o600))
            .map_err(io_error(&self.socket))?;
        // tokio's listener needs a non-blocking socket.
        listener
            .set_nonblocking(true)
            .map_err(io_error(&self.socket))?;
        Ok(listener)
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.socket);
        // The pid is no longer true; the file itself stays (deleting a lock
        // file lets two processes each lock a different inode).
        let _ = self.lock.set_len(0);
        let _ = self.lock.unlock();
    }
}

/// Creates `dir` (and parents) and makes it 0700: the socket inside must be
/// reachable by no one else.
fn private_dir(dir: &Path) -> Result<(), LifecycleError> {
    crate::fsutil::create_private_dir(dir).map_err(io_error(dir))?;
    crate::fsutil::make_private(dir).map_err(io_error(dir))
}

fn open_lock(path: &Path) -> Result<File, LifecycleError> {
    crate::fsutil::open_private(path).map_err(io_error(path))
}

fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

/// Becomes the one daemon: takes the lock (or says who has it), writes our
/// pid into it and removes a stale socket left by a daemon that died.
pub fn acquire(dirs: &Dirs) -> Result<Instance, LifecycleError> {
    private_dir(&dirs.runtime)?;
    let lock_path = dirs.runtime.join(LOCK_FILE);
    let socket = dirs.socket_path();
    let mut lock = open_lock(&lock_path)?;
    // `daemon status`/`stop` probe the lock with a brief shared lock; a few
    // retries keep such a probe from being mistaken for a running daemon.
    let mut attempts = 0;
    loop {
        match lock.try_lock() {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) if attempts < 5 => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(TryLockError::WouldBlock) => {
                return Err(LifecycleError::AlreadyRunning {
                    pid: read_pid(&mut lock),
                });
            }
            Err(TryLockError::Error(source)) => {
                return Err(LifecycleError::Io {
                    path: lock_path,
                    source,
                });
            }
        }
    }
    let pid = std::process::id();
    lock.set_len(0).map_err(io_error(&lock_path))?;
    lock.rewind().map_err(io_error(&lock_path))?;
    writeln!(lock, "{pid}").map_err(io_error(&lock_path))?;
    if let Err(err) = remove_stale_socket(&socket, &lock_path) {
        // Not becoming the daemon after all: the pid must not stay behind.
        let _ = lock.set_len(0);
        return Err(err);
    }
    Ok(Instance {
        lock,
        lock_path,
        socket,
        pid,
    })
}

/// We hold the lock, so no tagpub daemon is serving: a socket file left
/// there is a dead daemon's. Unless something answers on it (a process that
/// is not a lock-holding tagpub), it is removed so that bind can succeed.
fn remove_stale_socket(socket: &Path, lock_path: &Path) -> Result<(), LifecycleError> {
    if std::fs::symlink_metadata(socket).is_err() {
        return Ok(());
    }
    // A listener can outlive its closing for a moment in a child forked
    // before it was closed (until that child execs): only a socket that
    // keeps answering is someone else's.
    #[cfg(unix)]
    if (0..3).all(|attempt| {
        if attempt > 0 {
            std::thread::sleep(Duration::from_millis(50));
        }
        std::os::unix::net::UnixStream::connect(socket).is_ok()
    }) {
        return Err(LifecycleError::SocketInUse {
            socket: socket.to_path_buf(),
            lock: lock_path.to_path_buf(),
        });
    }
    tracing::info!(socket = %socket.display(), "removing a stale socket left by a daemon that is gone");
    match std::fs::remove_file(socket) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(io_error(socket)(err)),
    }
}

/// Whether a daemon holds the lock, and its pid if it wrote it yet. Probes
/// with a shared lock, so it never blocks and never takes the daemon's place.
pub fn running(dirs: &Dirs) -> Result<Option<Holder>, LifecycleError> {
    let lock_path = dirs.runtime.join(LOCK_FILE);
    let mut file = match File::open(&lock_path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(io_error(&lock_path)(err)),
    };
    match file.try_lock_shared() {
        Ok(()) => {
            let _ = file.unlock();
            Ok(None)
        }
        Err(TryLockError::WouldBlock) => Ok(Some(Holder {
            pid: read_pid(&mut file),
        })),
        Err(TryLockError::Error(source)) => Err(LifecycleError::Io {
            path: lock_path,
            source,
        }),
    }
}

/// The daemon that holds the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder {
    /// None while the daemon is between locking and writing its pid.
    pub pid: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_acquire_names_the_first_pid_and_drop_releases() {
        let temp = tempfile::tempdir().unwrap();
        let dirs = Dirs::under(temp.path());
        let first = acquire(&dirs).unwrap();
        assert_eq!(
            running(&dirs).unwrap(),
            Some(Holder {
                pid: Some(std::process::id())
            })
        );
        match acquire(&dirs) {
            Err(LifecycleError::AlreadyRunning { pid }) => {
                assert_eq!(pid, Some(std::process::id()))
            }
            other => panic!("expected AlreadyRunning, got {other:?}"),
        }
        let listener = first.bind().unwrap();
        assert!(dirs.socket_path().exists());
        drop(listener);
        drop(first);
        assert!(!dirs.socket_path().exists(), "drop removes the socket");
        assert_eq!(running(&dirs).unwrap(), None);
        acquire(&dirs).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn modes_are_private_and_a_stale_socket_is_removed() {
        use std::os::unix::fs::PermissionsExt;
        let temp = tempfile::tempdir().unwrap();
        let dirs = Dirs::under(temp.path());
        std::fs::create_dir_all(&dirs.runtime).unwrap();
        // A dead daemon's socket: the file stays, nobody listens.
        drop(std::os::unix::net::UnixListener::bind(dirs.socket_path()).unwrap());
        assert!(dirs.socket_path().exists());
        let instance = acquire(&dirs).unwrap();
        assert!(!dirs.socket_path().exists());
        let _listener = instance.bind().unwrap();
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dirs.socket_path()), 0o600);
        assert_eq!(mode(&dirs.runtime), 0o700);
        assert_eq!(mode(instance.lock_path()), 0o600);
    }

    #[cfg(unix)]
    #[test]
    fn a_live_foreign_listener_is_not_removed() {
        let temp = tempfile::tempdir().unwrap();
        let dirs = Dirs::under(temp.path());
        std::fs::create_dir_all(&dirs.runtime).unwrap();
        let _listener = std::os::unix::net::UnixListener::bind(dirs.socket_path()).unwrap();
        let err = acquire(&dirs).unwrap_err();
        assert!(matches!(err, LifecycleError::SocketInUse { .. }), "{err}");
        assert!(dirs.socket_path().exists());
    }
}
