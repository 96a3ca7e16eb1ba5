//! Filesystem detection of tag changes: the fallback to the hook's nudge.
//!
//! For each watched git dir, [`RefWatcher`] watches where git stores tags:
//! `refs/tags/` (recursively: `notify` adds a watch for every directory
//! created later, like `refs/tags/release/x/`), `packed-refs` (replaced by a
//! rename, so the git dir itself is watched and events filtered by name),
//! and `reftable/` when the repository uses it. A change there only marks
//! the repository dirty: the daemon then rescans all tags and diffs, so a
//! missed or coalesced event costs nothing but a little latency.
//!
//! Access events (opens, closes of files read) are ignored so the daemon's
//! own `git for-each-ref` never triggers work, and so are `*.lock` files,
//! which appear and vanish around every ref write; the rename of the lock
//! into place (`refs/tags/v1.lock` → `refs/tags/v1`) is the ref write itself,
//! and its destination is what we keep.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use notify::event::{EventKind, Flag};
use notify::{Event, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error(
        "cannot start watching the filesystem; the daemon still finds new tags through the git hooks and its periodic rescan"
    )]
    Start(#[source] notify::Error),
    #[error("cannot watch {path}{hint}", hint = limit_hint(source))]
    Watch {
        path: PathBuf,
        #[source]
        source: notify::Error,
    },
    #[error("cannot watch {path}")]
    GitDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn limit_hint(err: &notify::Error) -> &'static str {
    if matches!(err.kind, notify::ErrorKind::MaxFilesWatch) {
        " (the inotify watch limit is reached: raise fs.inotify.max_user_watches with sysctl)"
    } else {
        ""
    }
}

/// What is watched for one repository, to undo it on [`RefWatcher::unwatch`].
struct Watched {
    paths: Vec<PathBuf>,
}

/// Watches the ref storage of git dirs and sends a git dir on the channel
/// whenever its tags may have changed.
pub struct RefWatcher {
    watcher: RecommendedWatcher,
    /// Shared with the event callback (which runs on notify's thread): the
    /// canonical git dirs events are matched against.
    roots: Arc<Mutex<BTreeSet<PathBuf>>>,
    watched: BTreeMap<PathBuf, Watched>,
}

impl RefWatcher {
    /// `dirty` receives a repository's canonical git dir (possibly several
    /// times per change: debounce with [`debounce`]).
    pub fn new(dirty: UnboundedSender<PathBuf>) -> Result<RefWatcher, WatchError> {
        let roots: Arc<Mutex<BTreeSet<PathBuf>>> = Arc::default();
        let shared = Arc::clone(&roots);
        let watcher = notify::recommended_watcher(move |result: notify::Result<Event>| {
            let roots = lock(&shared);
            for git_dir in dirty_repos(&roots, result) {
                // A closed channel means the daemon is stopping; nothing to do.
                let _ = dirty.send(git_dir);
            }
        })
        .map_err(WatchError::Start)?;
        Ok(RefWatcher {
            watcher,
            roots,
            watched: BTreeMap::new(),
        })
    }

    /// Starts watching the tags of the repository whose (common) git dir is
    /// `git_dir`. Watching the same dir again is a no-op. Returns the
    /// canonical path, which is what events carry.
    pub fn watch(&mut self, git_dir: &Path) -> Result<PathBuf, WatchError> {
        let git_dir = std::fs::canonicalize(git_dir).map_err(|source| WatchError::GitDir {
            path: git_dir.to_path_buf(),
            source,
        })?;
        if self.watched.contains_key(&git_dir) {
            return Ok(git_dir);
        }
        // Register the root before the watches exist, so no early event is
        // dropped as unknown.
        lock(&self.roots).insert(git_dir.clone());
        let mut targets = vec![(git_dir.clone(), RecursiveMode::NonRecursive)];
        let tags = git_dir.join("refs/tags");
        if tags.is_dir() {
            targets.push((tags, RecursiveMode::Recursive));
        } else if git_dir.join("refs").is_dir() {
            // No refs/tags yet (git does not always create it): watch refs/
            // recursively; the filter keeps only what is under refs/tags,
            // including the creation of refs/tags itself.
            targets.push((git_dir.join("refs"), RecursiveMode::Recursive));
        }
        let reftable = git_dir.join("reftable");
        if reftable.is_dir() {
            targets.push((reftable, RecursiveMode::NonRecursive));
        }
        let mut done: Vec<PathBuf> = Vec::new();
        for (path, mode) in targets {
            if let Err(source) = self.watcher.watch(&path, mode) {
                for p in &done {
                    let _ = self.watcher.unwatch(p);
                }
                lock(&self.roots).remove(&git_dir);
                return Err(WatchError::Watch { path, source });
            }
            done.push(path);
        }
        tracing::debug!(git_dir = %git_dir.display(), paths = ?done, "watching refs");
        self.watched
            .insert(git_dir.clone(), Watched { paths: done });
        Ok(git_dir)
    }

    /// Stops watching a repository; `false` if it was not watched.
    pub fn unwatch(&mut self, git_dir: &Path) -> bool {
        let git_dir = std::fs::canonicalize(git_dir).unwrap_or_else(|_| git_dir.to_path_buf());
        let Some(watched) = self.watched.remove(&git_dir) else {
            return false;
        };
        for path in &watched.paths {
            // Fails when the directory is already gone (repository deleted):
            // the kernel dropped that watch itself.
            let _ = self.watcher.unwatch(path);
        }
        lock(&self.roots).remove(&git_dir);
        true
    }

    /// The canonical git dirs being watched.
    pub fn watched(&self) -> impl Iterator<Item = &Path> {
        self.watched.keys().map(PathBuf::as_path)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The set stays consistent even if a holder panicked.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The repositories an event (or a watcher error) makes dirty.
fn dirty_repos(roots: &BTreeSet<PathBuf>, result: notify::Result<Event>) -> Vec<PathBuf> {
    let (paths, rescan) = match result {
        Ok(event) => {
            if event.need_rescan() || event.flag() == Some(Flag::Rescan) {
                // The kernel queue overflowed: events were lost, rescan all.
                (event.paths, true)
            } else if !is_write(&event.kind) {
                return vec![];
            } else {
                (event.paths, false)
            }
        }
        Err(err) => {
            tracing::warn!("filesystem watch error: {err}; rescanning");
            (err.paths, true)
        }
    };
    if rescan && paths.is_empty() {
        return roots.iter().cloned().collect();
    }
    roots
        .iter()
        .filter(|root| {
            paths.iter().any(|p| {
                if rescan {
                    p.starts_with(root)
                } else {
                    is_ref_path(root, p)
                }
            })
        })
        .cloned()
        .collect()
}

/// Creations, modifications, removals and renames; never access events.
fn is_write(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) | EventKind::Any
    )
}

/// Whether a change at `path` can change the tags of the repository at
/// `git_dir`: anything under `refs/tags` (files and directories),
/// `packed-refs`, or `reftable/`, but no `*.lock` file.
fn is_ref_path(git_dir: &Path, path: &Path) -> bool {
    let Ok(rel) = path.strip_prefix(git_dir) else {
        return false;
    };
    if path
        .file_name()
        .and_then(OsStr::to_str)
        .is_some_and(|n| n.ends_with(".lock"))
    {
        return false;
    }
    let mut parts = rel.components().map(|c| match c {
        Component::Normal(n) => n,
        _ => OsStr::new(""),
    });
    match (parts.next(), parts.next()) {
        (Some(first), None) => first == "packed-refs",
        // `refs/tags` itself (created, removed) or anything below it.
        (Some(first), Some(second)) if first == "refs" => second == "tags",
        (Some(first), Some(_)) => first == "reftable",
        (None, _) => false,
    }
}

/// Waits for the first dirty repository, then collects until `quiet` passes
/// without another event, and returns every repository seen: collect, then
/// act once. A stream of events that never pauses is cut after `20 × quiet`
/// so its repository is still rescanned regularly. Empty only when the
/// channel is closed.
pub async fn debounce(rx: &mut UnboundedReceiver<PathBuf>, quiet: Duration) -> BTreeSet<PathBuf> {
    let mut dirty = BTreeSet::new();
    let Some(first) = rx.recv().await else {
        return dirty;
    };
    dirty.insert(first);
    let deadline = Instant::now() + quiet.saturating_mul(20);
    loop {
        let wait = quiet.min(deadline.saturating_duration_since(Instant::now()));
        if wait.is_zero() {
            break;
        }
        match tokio::time::timeout(wait, rx.recv()).await {
            Ok(Some(git_dir)) => {
                dirty.insert(git_dir);
            }
            // Closed, or quiet for long enough.
            Ok(None) | Err(_) => break,
        }
    }
    dirty
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{
        AccessKind, AccessMode, CreateKind, DataChange, ModifyKind, RemoveKind, RenameMode,
    };

    const GIT: &str = "/repo/.git";

    fn event(kind: EventKind, paths: &[&str]) -> notify::Result<Event> {
        let mut e = Event::new(kind);
        for p in paths {
            e = e.add_path(PathBuf::from(p));
        }
        Ok(e)
    }

    fn dirty(result: notify::Result<Event>) -> bool {
        let roots = BTreeSet::from([PathBuf::from(GIT), PathBuf::from("/other/.git")]);
        let repos = dirty_repos(&roots, result);
        assert!(!repos.contains(&PathBuf::from("/other/.git")));
        repos == [PathBuf::from(GIT)]
    }

    #[test]
    fn a_tag_write_is_kept_its_lock_is_not() {
        let lock = "/repo/.git/refs/tags/v1.lock";
        let tag = "/repo/.git/refs/tags/v1";
        assert!(!dirty(event(EventKind::Create(CreateKind::File), &[lock])));
        assert!(!dirty(event(
            EventKind::Modify(ModifyKind::Data(DataChange::Any)),
            &[lock]
        )));
        assert!(!dirty(event(
            EventKind::Modify(ModifyKind::Name(RenameMode::From)),
            &[lock]
        )));
        assert!(dirty(event(
            EventKind::Modify(ModifyKind::Name(RenameMode::To)),
            &[tag]
        )));
        assert!(dirty(event(
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)),
            &[lock, tag]
        )));
        assert!(dirty(event(EventKind::Remove(RemoveKind::File), &[tag])));
        assert!(dirty(event(
            EventKind::Create(CreateKind::Folder),
            &["/repo/.git/refs/tags/release"]
        )));
        assert!(dirty(event(
            EventKind::Create(CreateKind::Folder),
            &["/repo/.git/refs/tags"]
        )));
    }

    #[test]
    fn reads_are_ignored() {
        for kind in [
            EventKind::Access(AccessKind::Open(AccessMode::Any)),
            EventKind::Access(AccessKind::Close(AccessMode::Read)),
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
        ] {
            assert!(!dirty(event(kind, &["/repo/.git/refs/tags/v1"])));
            assert!(!dirty(event(kind, &["/repo/.git/packed-refs"])));
        }
    }

    #[test]
    fn packed_refs_and_reftable_but_not_the_rest_of_the_git_dir() {
        let rename = EventKind::Modify(ModifyKind::Name(RenameMode::To));
        assert!(dirty(event(rename, &["/repo/.git/packed-refs"])));
        assert!(dirty(event(rename, &["/repo/.git/reftable/tables.list"])));
        assert!(!dirty(event(
            rename,
            &["/repo/.git/reftable/tables.list.lock"]
        )));
        for other in [
            "/repo/.git/index",
            "/repo/.git/HEAD",
            "/repo/.git/ORIG_HEAD",
            "/repo/.git/refs/heads/main",
            "/repo/.git/refs/tagsx",
            "/repo/.git/logs/refs/tags/v1",
            "/repo/.git/modules/sub/packed-refs",
            "/repo/.git/packed-refs.new",
            "/repo/.git",
            "/repo/packed-refs",
        ] {
            assert!(!dirty(event(rename, &[other])), "{other}");
        }
    }

    #[test]
    fn lost_events_rescan() {
        let overflow = Event::new(EventKind::Other).set_flag(Flag::Rescan);
        let roots = BTreeSet::from([PathBuf::from(GIT), PathBuf::from("/other/.git")]);
        assert_eq!(dirty_repos(&roots, Ok(overflow)).len(), 2);
        let err = notify::Error::generic("boom").add_path(PathBuf::from("/repo/.git/refs"));
        assert_eq!(dirty_repos(&roots, Err(err)), vec![PathBuf::from(GIT)]);
    }

    // Paused time: the sleeps advance a virtual clock, so a loaded machine
    // cannot stretch a 50 ms gap past the quiet period.
    #[tokio::test(start_paused = true)]
    async fn debounce_collects_then_returns_once() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let quiet = Duration::from_millis(100);
        let sender = tokio::spawn(async move {
            for i in 0..10 {
                tx.send(PathBuf::from(format!("/r{}", i % 3))).unwrap();
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            tx.send(PathBuf::from("/late")).unwrap();
        });
        let batch = debounce(&mut rx, quiet).await;
        assert_eq!(batch.len(), 3, "{batch:?}");
        assert_eq!(
            debounce(&mut rx, quiet).await,
            BTreeSet::from([PathBuf::from("/late")])
        );
        sender.await.unwrap();
        assert!(debounce(&mut rx, quiet).await.is_empty(), "closed channel");
    }

    #[tokio::test(start_paused = true)]
    async fn debounce_cuts_an_endless_stream() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let quiet = Duration::from_millis(20);
        tokio::spawn(async move {
            while tx.send(PathBuf::from("/busy")).is_ok() {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        });
        let start = Instant::now();
        assert_eq!(debounce(&mut rx, quiet).await.len(), 1);
        assert!(start.elapsed() < quiet * 20 + Duration::from_millis(200));
    }
}
