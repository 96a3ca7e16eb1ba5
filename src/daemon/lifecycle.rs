//! One daemon per user and per data dir: a lock file in the runtime dir and
//! one in the data dir, both held (flock) for the daemon's whole life, as
//! atuin's daemon does. The runtime lock guards the socket; the data lock
//! guards the jobs and records, which two daemons started with different
//! runtime dirs (a service with `XDG_RUNTIME_DIR`, a shell without) would
//! otherwise both write. The data lock holds the daemon's pid and socket,
//! so whoever finds it taken can say who has it and reach it. The locks,
//! not the socket, decide who runs: a socket file can outlive a killed
//! daemon, a lock cannot (the kernel drops it with the process).

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::dirs::Dirs;

/// The lock file's name in the runtime dir and in the data dir.
pub const LOCK_FILE: &str = "daemon.lock";
/// Held by `tagpub daemon start` while it starts one, so two starts at once
/// make one daemon and both report it.
const START_LOCK_FILE: &str = "daemon-start.lock";

#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error("the daemon is already running ({}): stop it with `tagpub daemon stop`", pid_text(*pid))]
    AlreadyRunning { pid: Option<u32> },
    #[error(
        "another tagpub daemon ({}) already uses the data dir {data}{}: two daemons on one data dir would overwrite each other's jobs. Stop it with `tagpub daemon stop` in the environment it was started from (or `kill {}`), or give both the same TAGPUB_RUNTIME_DIR",
        pid_text(*pid),
        socket.as_ref().map_or(String::new(), |s| format!(" and listens on {} (its runtime dir differs from this one's)", s.display())),
        pid.map_or("<pid>".to_string(), |p| p.to_string()),
        data = data.display()
    )]
    DataDirInUse {
        pid: Option<u32>,
        data: PathBuf,
        socket: Option<PathBuf>,
    },
    #[error(
        "something else listens on {socket} although no tagpub daemon holds {lock}: stop that process, or remove the socket if you know it is tagpub's",
        socket = socket.display(),
        lock = lock.display()
    )]
    SocketInUse { socket: PathBuf, lock: PathBuf },
    #[error("cannot prepare {}", path.display())]
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

/// The running daemon's claim on being the one: releases the locks and
/// removes the socket when dropped (socket first, so that once the lock is
/// free the socket is gone too: `daemon stop` waits on the lock).
#[derive(Debug)]
pub struct Instance {
    lock: File,
    data_lock: File,
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
        // The pid is no longer true; the files themselves stay (deleting a
        // lock file lets two processes each lock a different inode).
        for lock in [&self.data_lock, &self.lock] {
            let _ = lock.set_len(0);
            let _ = lock.unlock();
        }
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

/// The holder written in a lock file: its pid, then (data lock) its socket.
fn read_holder(file: &mut File) -> (Option<u32>, Option<PathBuf>) {
    let mut text = String::new();
    if file.rewind().is_err() || file.read_to_string(&mut text).is_err() {
        return (None, None);
    }
    let mut lines = text.lines();
    let pid = lines.next().and_then(|line| line.trim().parse().ok());
    let socket = lines
        .next()
        .filter(|line| !line.is_empty())
        .map(PathBuf::from);
    (pid, socket)
}

/// Takes `lock` exclusively, or says it is taken.
fn try_take(lock: &File, path: &Path) -> Result<bool, LifecycleError> {
    // `daemon status`/`stop` probe the locks with a brief shared lock; a few
    // retries keep such a probe from being mistaken for a running daemon.
    let mut attempts = 0;
    loop {
        match lock.try_lock() {
            Ok(()) => return Ok(true),
            Err(TryLockError::WouldBlock) if attempts < 5 => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(TryLockError::WouldBlock) => return Ok(false),
            Err(TryLockError::Error(source)) => {
                return Err(LifecycleError::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        }
    }
}

fn write_holder(lock: &mut File, path: &Path, text: &str) -> Result<(), LifecycleError> {
    lock.set_len(0).map_err(io_error(path))?;
    lock.rewind().map_err(io_error(path))?;
    lock.write_all(text.as_bytes()).map_err(io_error(path))
}

/// Becomes the one daemon: takes the runtime lock and the data dir's lock
/// (or says who has them), writes our pid into both and removes a stale
/// socket left by a daemon that died.
pub fn acquire(dirs: &Dirs) -> Result<Instance, LifecycleError> {
    private_dir(&dirs.runtime)?;
    let lock_path = dirs.runtime.join(LOCK_FILE);
    let socket = dirs.socket_path();
    let mut lock = open_lock(&lock_path)?;
    if !try_take(&lock, &lock_path)? {
        return Err(LifecycleError::AlreadyRunning {
            pid: read_holder(&mut lock).0,
        });
    }
    crate::fsutil::create_private_dir(&dirs.data).map_err(io_error(&dirs.data))?;
    let data_lock_path = dirs.data.join(LOCK_FILE);
    let mut data_lock = open_lock(&data_lock_path)?;
    if !try_take(&data_lock, &data_lock_path)? {
        let (pid, other) = read_holder(&mut data_lock);
        let _ = lock.unlock();
        return Err(LifecycleError::DataDirInUse {
            pid,
            data: dirs.data.clone(),
            socket: other.filter(|other| *other != socket),
        });
    }
    let pid = std::process::id();
    let taken = write_holder(&mut lock, &lock_path, &format!("{pid}\n"))
        .and_then(|()| {
            write_holder(
                &mut data_lock,
                &data_lock_path,
                &format!("{pid}\n{}\n", socket.display()),
            )
        })
        .and_then(|()| remove_stale_socket(&socket, &lock_path));
    if let Err(err) = taken {
        // Not becoming the daemon after all: the pid must not stay behind.
        let _ = lock.set_len(0);
        let _ = data_lock.set_len(0);
        return Err(err);
    }
    Ok(Instance {
        lock,
        data_lock,
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

/// Whether a daemon holds the runtime dir's lock or the data dir's, its pid
/// if it wrote it yet, and its socket. Probes with shared locks, so it never
/// blocks and never takes the daemon's place.
pub fn running(dirs: &Dirs) -> Result<Option<Holder>, LifecycleError> {
    if let Some((pid, _)) = probe(&dirs.runtime.join(LOCK_FILE))? {
        return Ok(Some(Holder {
            pid,
            socket: dirs.socket_path(),
        }));
    }
    Ok(
        probe(&dirs.data.join(LOCK_FILE))?.map(|(pid, socket)| Holder {
            pid,
            socket: socket.unwrap_or_else(|| dirs.socket_path()),
        }),
    )
}

/// `Some(what the holder wrote)` if someone holds the lock at `path`.
#[allow(clippy::type_complexity)]
fn probe(path: &Path) -> Result<Option<(Option<u32>, Option<PathBuf>)>, LifecycleError> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(io_error(path)(err)),
    };
    match file.try_lock_shared() {
        Ok(()) => {
            let _ = file.unlock();
            Ok(None)
        }
        Err(TryLockError::WouldBlock) => Ok(Some(read_holder(&mut file))),
        Err(TryLockError::Error(source)) => Err(LifecycleError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// The daemon that holds the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// None while the daemon is between locking and writing its pid.
    pub pid: Option<u32>,
    /// Where it listens: this environment's socket, or another one when it
    /// was started with another runtime dir on the same data dir.
    pub socket: PathBuf,
}

/// Held by `tagpub daemon start` from before it looks for a daemon until
/// the one it started answers: concurrent starts take turns, so the second
/// finds the first's daemon instead of racing it. Released on drop (or
/// when the process ends).
pub struct StartLock {
    _file: File,
}

/// Waits (at most `timeout`) for the start lock.
pub fn start_lock(dirs: &Dirs, timeout: Duration) -> Result<StartLock, LifecycleError> {
    crate::fsutil::create_private_dir(&dirs.data).map_err(io_error(&dirs.data))?;
    let path = dirs.data.join(START_LOCK_FILE);
    let file = open_lock(&path)?;
    let deadline = std::time::Instant::now() + timeout;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(StartLock { _file: file }),
            Err(TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(TryLockError::WouldBlock) => {
                return Err(io_error(&path)(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "another `tagpub daemon start` has held it too long",
                )));
            }
            Err(TryLockError::Error(source)) => return Err(io_error(&path)(source)),
        }
    }
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
                pid: Some(std::process::id()),
                socket: dirs.socket_path(),
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

    #[test]
    fn a_second_daemon_on_the_same_data_dir_with_another_runtime_dir_is_refused() {
        let temp = tempfile::tempdir().unwrap();
        let first_dirs = Dirs::under(temp.path());
        let mut second_dirs = first_dirs.clone();
        second_dirs.runtime = temp.path().join("other-run");
        let first = acquire(&first_dirs).unwrap();
        match acquire(&second_dirs) {
            Err(err @ LifecycleError::DataDirInUse { .. }) => {
                let text = err.to_string();
                assert!(
                    text.contains(&format!("pid {}", std::process::id()))
                        && text.contains(&first_dirs.socket_path().display().to_string()),
                    "{text}"
                );
            }
            other => panic!("expected DataDirInUse, got {other:?}"),
        }
        // The refused one let go of its own runtime lock.
        assert_eq!(
            running(&second_dirs).unwrap(),
            Some(Holder {
                pid: Some(std::process::id()),
                socket: first_dirs.socket_path(),
            })
        );
        assert!(
            probe(&second_dirs.runtime.join(LOCK_FILE))
                .unwrap()
                .is_none()
        );
        drop(first);
        assert_eq!(running(&second_dirs).unwrap(), None);
        acquire(&second_dirs).unwrap();
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
