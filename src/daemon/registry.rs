//! The repositories the daemon watches, and what it knows of their tags.
//!
//! Persisted as `<data>/watch.json` (atomic writes). Each repository is keyed
//! by its canonical *common* git dir: that is where `refs/tags`, `packed-refs`
//! and `reftable/` live, so a linked worktree and its main checkout are one
//! repository, and it is the path [`super::watcher::RefWatcher`] reports.
//!
//! `known` is the last tag → target map the daemon acted on. `watch add`
//! fills it with every existing tag (the baseline), so only tags created
//! afterwards ever show up in a [`diff`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::dirs::Dirs;
use crate::fsutil::write_atomic;
use crate::git::{GitError, Repo};

const REGISTRY_FILE: &str = "watch.json";
/// Bumped when the file's meaning changes; an unknown version is refused
/// rather than misread (a newer tagpub wrote it).
const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchedRepo {
    /// Canonical common git dir (the registry key).
    pub git_dir: PathBuf,
    /// The working tree `watch add` was given (the git dir for a bare repo).
    pub workdir: PathBuf,
    /// Tag name → the object id its ref points at, as last seen.
    pub known: BTreeMap<String, String>,
}

/// One difference between what the daemon knew and what a rescan found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum TagChange {
    Created {
        tag: String,
        target: String,
    },
    Deleted {
        tag: String,
        target: String,
    },
    /// The ref now points at another object (`git tag -f`, or delete and
    /// re-create between two rescans).
    Moved {
        tag: String,
        from: String,
        to: String,
    },
}

impl TagChange {
    pub fn tag(&self) -> &str {
        match self {
            TagChange::Created { tag, .. }
            | TagChange::Deleted { tag, .. }
            | TagChange::Moved { tag, .. } => tag,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddOutcome {
    /// Now watched; `baseline` tags existed and will never be published.
    Added {
        baseline: usize,
    },
    AlreadyWatched,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(
        "cannot read the watch list {path}: check that tagpub's data dir is readable (TAGPUB_DATA_DIR)"
    )]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the watch list {path} is unreadable ({reason}); move it aside and `tagpub watch add` your repositories again"
    )]
    Corrupt { path: PathBuf, reason: String },
    #[error(
        "the watch list {path} was written by a newer tagpub (format {found}, this one reads {FORMAT_VERSION}); upgrade tagpub"
    )]
    NewerFormat { path: PathBuf, found: u32 },
    #[error(
        "cannot write the watch list {path}: check that tagpub's data dir is writable (TAGPUB_DATA_DIR)"
    )]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot find the git dir of {path}")]
    GitDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot record the existing tags of {path} as the baseline")]
    Baseline {
        path: PathBuf,
        #[source]
        source: GitError,
    },
}

#[derive(Debug, Serialize, Deserialize)]
struct RegistryFile {
    version: u32,
    repos: Vec<WatchedRepo>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registry {
    repos: Vec<WatchedRepo>,
}

impl Registry {
    /// `<data>/watch.json`.
    pub fn path(dirs: &Dirs) -> PathBuf {
        dirs.data.join(REGISTRY_FILE)
    }

    /// The saved registry; empty when nothing was ever watched.
    pub fn load(dirs: &Dirs) -> Result<Registry, RegistryError> {
        let path = Registry::path(dirs);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Registry::default());
            }
            Err(source) => return Err(RegistryError::Read { path, source }),
        };
        // Read the version first so a newer format is named as such, not as
        // corruption.
        #[derive(Deserialize)]
        struct Version {
            version: u32,
        }
        let version: Version =
            serde_json::from_slice(&bytes).map_err(|err| RegistryError::Corrupt {
                path: path.clone(),
                reason: err.to_string(),
            })?;
        if version.version > FORMAT_VERSION {
            return Err(RegistryError::NewerFormat {
                path,
                found: version.version,
            });
        }
        let file: RegistryFile =
            serde_json::from_slice(&bytes).map_err(|err| RegistryError::Corrupt {
                path,
                reason: err.to_string(),
            })?;
        Ok(Registry { repos: file.repos })
    }

    /// Loads, changes and saves the registry under an exclusive lock on
    /// `<data>/watch.lock`, so `tagpub watch` and the daemon never lose
    /// each other's writes.
    pub fn update<T>(
        dirs: &Dirs,
        change: impl FnOnce(&mut Registry) -> T,
    ) -> Result<T, RegistryError> {
        let lock_path = dirs.data.join("watch.lock");
        let io = |source| RegistryError::Write {
            path: lock_path.clone(),
            source,
        };
        let lock = crate::fsutil::open_private(&lock_path).map_err(io)?;
        lock.lock().map_err(io)?;
        let mut registry = Registry::load(dirs)?;
        let out = change(&mut registry);
        registry.save(dirs)?;
        Ok(out)
    }

    pub fn save(&self, dirs: &Dirs) -> Result<(), RegistryError> {
        let path = Registry::path(dirs);
        let file = RegistryFile {
            version: FORMAT_VERSION,
            repos: self.repos.clone(),
        };
        let bytes = serde_json::to_vec_pretty(&file).expect("the registry always serializes");
        write_atomic(&path, &bytes).map_err(|source| RegistryError::Write { path, source })
    }

    /// Starts watching `repo`, recording every tag it has now as the
    /// baseline. Call [`Registry::save`] afterwards.
    pub fn add(&mut self, repo: &Repo) -> Result<AddOutcome, RegistryError> {
        let git_dir = common_git_dir(repo.git_dir())?;
        if self.get(&git_dir).is_some() {
            return Ok(AddOutcome::AlreadyWatched);
        }
        let known: BTreeMap<String, String> = repo
            .tag_targets()
            .map_err(|source| RegistryError::Baseline {
                path: repo.workdir().to_path_buf(),
                source,
            })?
            .into_iter()
            .collect();
        let baseline = known.len();
        self.repos.push(WatchedRepo {
            git_dir,
            workdir: canonical_or_given(repo.workdir()),
            known,
        });
        self.repos.sort_by(|a, b| a.git_dir.cmp(&b.git_dir));
        Ok(AddOutcome::Added { baseline })
    }

    /// Stops watching the repository whose working tree or git dir is
    /// `path`. Works for a repository that no longer exists (the path is
    /// then compared as given). `false` if it was not watched.
    pub fn remove(&mut self, path: &Path) -> bool {
        let path = canonical_or_given(path);
        let before = self.repos.len();
        self.repos
            .retain(|r| r.git_dir != path && r.workdir != path);
        self.repos.len() != before
    }

    pub fn repos(&self) -> &[WatchedRepo] {
        &self.repos
    }

    /// The watched repository with this (canonical common) git dir.
    pub fn get(&self, git_dir: &Path) -> Option<&WatchedRepo> {
        self.repos.iter().find(|r| r.git_dir == git_dir)
    }

    pub fn get_mut(&mut self, git_dir: &Path) -> Option<&mut WatchedRepo> {
        self.repos.iter_mut().find(|r| r.git_dir == git_dir)
    }
}

impl WatchedRepo {
    /// Makes `known` reflect `changes` (as returned by [`diff`]). The daemon
    /// should persist this only once the changes are durably queued, so a
    /// crash in between rescans and finds them again.
    pub fn apply(&mut self, changes: &[TagChange]) {
        for change in changes {
            match change {
                TagChange::Created { tag, target }
                | TagChange::Moved {
                    tag, to: target, ..
                } => {
                    self.known.insert(tag.clone(), target.clone());
                }
                TagChange::Deleted { tag, .. } => {
                    self.known.remove(tag);
                }
            }
        }
    }
}

/// What changed between `known` and a rescan (`now`, as from
/// [`Repo::tag_targets`]), in tag-name order. `now` need not be sorted.
pub fn diff(known: &BTreeMap<String, String>, now: &[(String, String)]) -> Vec<TagChange> {
    let now: BTreeMap<&str, &str> = now.iter().map(|(t, o)| (t.as_str(), o.as_str())).collect();
    let mut changes = Vec::new();
    let mut old = known.iter().peekable();
    let mut new = now.into_iter().peekable();
    // A merge walk over two sorted maps: one pass, no lookups.
    loop {
        let order = match (old.peek(), new.peek()) {
            (None, None) => break,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some((o, _)), Some((n, _))) => o.as_str().cmp(n),
        };
        match order {
            std::cmp::Ordering::Less => {
                let (tag, target) = old.next().expect("peeked");
                changes.push(TagChange::Deleted {
                    tag: tag.clone(),
                    target: target.clone(),
                });
            }
            std::cmp::Ordering::Greater => {
                let (tag, target) = new.next().expect("peeked");
                changes.push(TagChange::Created {
                    tag: tag.to_string(),
                    target: target.to_string(),
                });
            }
            std::cmp::Ordering::Equal => {
                let (tag, from) = old.next().expect("peeked");
                let (_, to) = new.next().expect("peeked");
                if from != to {
                    changes.push(TagChange::Moved {
                        tag: tag.clone(),
                        from: from.clone(),
                        to: to.to_string(),
                    });
                }
            }
        }
    }
    changes
}

/// The common git dir of `git_dir`: for a linked worktree, git records it
/// (relative or absolute) in `<git_dir>/commondir`; otherwise it is
/// `git_dir` itself. Reads a file, runs no git. The path may come from a
/// socket client, so `commondir` must be a small regular file: a FIFO there
/// would block the read forever.
pub fn common_git_dir(git_dir: &Path) -> Result<PathBuf, RegistryError> {
    let err = |source| RegistryError::GitDir {
        path: git_dir.to_path_buf(),
        source,
    };
    let common = match read_small_regular_file(&git_dir.join("commondir"), 64 * 1024) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            git_dir.join(text.trim_end_matches(['\n', '\r']))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => git_dir.to_path_buf(),
        Err(e) => return Err(err(e)),
    };
    std::fs::canonicalize(&common).map_err(err)
}

/// The bytes of `path` if it is a regular file of at most `limit` bytes.
/// Anything else (a FIFO, a device, a socket, a directory) is refused
/// without a read, and the open cannot block: it is non-blocking, and the
/// type is checked again on the opened file, so swapping the file for a
/// FIFO between the check and the open gains nothing.
pub fn read_small_regular_file(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let not_regular = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} is not a regular file", path.display()),
        )
    };
    if !std::fs::metadata(path)?.is_file() {
        return Err(not_regular());
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    let file = options.open(path)?;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(not_regular());
    }
    if metadata.len() > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} is larger than {limit} bytes", path.display()),
        ));
    }
    let mut bytes = Vec::new();
    file.take(limit).read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn canonical_or_given(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.components().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;
    use tagpub_fixtures::git::git;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(t, o)| (t.to_string(), o.to_string()))
            .collect()
    }

    fn list(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(t, o)| (t.to_string(), o.to_string()))
            .collect()
    }

    /// A repository with one commit and tags v1 (annotated) and v2 (lightweight).
    fn repo_with_tags() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        git(dir.path(), &["init", "-q", "-b", "main"]);
        std::fs::write(dir.path().join("f"), "x").unwrap();
        git(dir.path(), &["add", "f"]);
        git(dir.path(), &["commit", "-q", "-m", "one"]);
        git(dir.path(), &["tag", "-a", "v1", "-m", "v1"]);
        git(dir.path(), &["tag", "v2"]);
        dir
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_commondir_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let git_dir = dir.path().join(".git");
        std::fs::create_dir(&git_dir).unwrap();
        let fifo = git_dir.join("commondir");
        let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(common_git_dir(&git_dir)).unwrap());
        let result = rx
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("reading a FIFO commondir must not block");
        let err = crate::exit::chain_text(&result.unwrap_err());
        assert!(err.contains("is not a regular file"), "{err}");
    }

    #[test]
    fn diff_unchanged_is_empty() {
        let known = map(&[("a", "1"), ("b", "2")]);
        assert_eq!(diff(&known, &list(&[("b", "2"), ("a", "1")])), vec![]);
        assert_eq!(diff(&BTreeMap::new(), &[]), vec![]);
    }

    #[test]
    fn diff_created_deleted_moved() {
        let known = map(&[("a", "1"), ("b", "2"), ("d", "4")]);
        let now = list(&[("a", "1"), ("b", "9"), ("c", "3")]);
        assert_eq!(
            diff(&known, &now),
            vec![
                TagChange::Moved {
                    tag: "b".into(),
                    from: "2".into(),
                    to: "9".into()
                },
                TagChange::Created {
                    tag: "c".into(),
                    target: "3".into()
                },
                TagChange::Deleted {
                    tag: "d".into(),
                    target: "4".into()
                },
            ]
        );
    }

    #[test]
    fn diff_everything_new_or_everything_gone() {
        let now = list(&[("x", "1"), ("release/y", "2")]);
        let created = diff(&BTreeMap::new(), &now);
        assert_eq!(created.len(), 2);
        assert!(
            created
                .iter()
                .all(|c| matches!(c, TagChange::Created { .. }))
        );
        let gone = diff(&map(&[("x", "1"), ("release/y", "2")]), &[]);
        assert_eq!(gone.len(), 2);
        assert!(gone.iter().all(|c| matches!(c, TagChange::Deleted { .. })));
    }

    #[test]
    fn apply_makes_known_equal_to_now() {
        let mut repo = WatchedRepo {
            git_dir: "/r/.git".into(),
            workdir: "/r".into(),
            known: map(&[("a", "1"), ("b", "2"), ("d", "4")]),
        };
        let now = list(&[("a", "1"), ("b", "9"), ("c", "3")]);
        let changes = diff(&repo.known, &now);
        repo.apply(&changes);
        assert_eq!(repo.known, map(&[("a", "1"), ("b", "9"), ("c", "3")]));
        assert_eq!(diff(&repo.known, &now), vec![]);
    }

    #[test]
    fn add_records_the_baseline_once() {
        let dir = repo_with_tags();
        let repo = Repo::discover(dir.path()).unwrap();
        let mut registry = Registry::default();
        assert_eq!(
            registry.add(&repo).unwrap(),
            AddOutcome::Added { baseline: 2 }
        );
        let watched = &registry.repos()[0];
        assert_eq!(
            watched.git_dir,
            std::fs::canonicalize(dir.path().join(".git")).unwrap()
        );
        assert_eq!(watched.workdir, std::fs::canonicalize(dir.path()).unwrap());
        assert_eq!(
            watched.known.keys().collect::<Vec<_>>(),
            vec!["v1", "v2"],
            "existing tags are the baseline"
        );
        // The baseline is what a rescan finds now: nothing to publish.
        assert_eq!(diff(&watched.known, &repo.tag_targets().unwrap()), vec![]);

        assert_eq!(registry.add(&repo).unwrap(), AddOutcome::AlreadyWatched);
        // From a subdirectory, and from a linked worktree: the same repository.
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let from_sub = Repo::discover(&dir.path().join("sub")).unwrap();
        assert_eq!(registry.add(&from_sub).unwrap(), AddOutcome::AlreadyWatched);
        let (_wt, wt_path) = tagpub_fixtures::git::linked_worktree(dir.path());
        let linked = Repo::discover(&wt_path).unwrap();
        assert_ne!(linked.git_dir(), repo.git_dir());
        assert_eq!(registry.add(&linked).unwrap(), AddOutcome::AlreadyWatched);
        assert_eq!(registry.repos().len(), 1);
    }

    #[test]
    fn remove_by_workdir_or_git_dir() {
        let a = repo_with_tags();
        let b = repo_with_tags();
        let mut registry = Registry::default();
        registry.add(&Repo::discover(a.path()).unwrap()).unwrap();
        registry.add(&Repo::discover(b.path()).unwrap()).unwrap();
        assert_eq!(registry.repos().len(), 2);

        assert!(registry.remove(a.path()));
        assert!(!registry.remove(a.path()), "already removed");
        assert_eq!(registry.repos().len(), 1);
        // `<workdir>/.git` is the git dir.
        assert!(registry.remove(&b.path().join(".git")));
        assert!(registry.repos().is_empty());

        // A repository deleted while watched can still be removed.
        registry.add(&Repo::discover(a.path()).unwrap()).unwrap();
        let workdir = registry.repos()[0].workdir.clone();
        drop(a);
        assert!(!workdir.exists());
        assert!(registry.remove(&workdir));
    }

    #[test]
    fn save_load_round_trip() {
        let state = tempfile::tempdir().unwrap();
        let dirs = Dirs::under(state.path());
        assert_eq!(Registry::load(&dirs).unwrap(), Registry::default());

        let repo = repo_with_tags();
        let mut registry = Registry::default();
        registry.add(&Repo::discover(repo.path()).unwrap()).unwrap();
        registry.repos[0].apply(&[TagChange::Created {
            tag: "v3".into(),
            target: "abc".into(),
        }]);
        registry.save(&dirs).unwrap();
        assert!(Registry::path(&dirs).starts_with(&dirs.data));
        assert_eq!(Registry::load(&dirs).unwrap(), registry);

        std::fs::write(Registry::path(&dirs), b"{not json").unwrap();
        assert!(matches!(
            Registry::load(&dirs),
            Err(RegistryError::Corrupt { .. })
        ));
        std::fs::write(Registry::path(&dirs), br#"{"version": 99, "repos": []}"#).unwrap();
        assert!(matches!(
            Registry::load(&dirs),
            Err(RegistryError::NewerFormat { found: 99, .. })
        ));
    }
}
