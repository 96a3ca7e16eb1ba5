//! Everything git. git2 (vendored libgit2) first; the `git` CLI where libgit2
//! cannot open the repository (reftable refs, SHA-256 object format).
//!
//! Both backends only read objects and refs; nothing here writes to the
//! repository. Strings that come from outside (tag names, paths, commit ids)
//! never reach a shell: the CLI backend passes them as separate arguments,
//! validated so that none can be mistaken for an option.

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("{path} is not inside a git repository: run tagpub from your project's checkout")]
    NotARepository { path: PathBuf },
    #[error("git {args} failed: {stderr}")]
    Command { args: String, stderr: String },
    #[error("could not run git: {0}. Install git (2.28 or newer) and make sure it is on PATH")]
    Spawn(std::io::Error),
    #[error("{0}")]
    Libgit2(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{0:?} is not a commit id: pass a hexadecimal object name such as the one `git rev-parse HEAD` prints"
    )]
    InvalidObjectId(String),
    #[error("no commit {0} in this repository: fetch it, or check the id")]
    UnknownCommit(String),
    #[error("HEAD does not point at a commit yet: make a first commit")]
    UnbornHead,
    #[error("tag {tag} does not point at a commit (it tags a tree or blob): tag a commit instead")]
    TagNotACommit { tag: String },
    #[error("invalid repository path {path:?}: {reason}")]
    InvalidPath { path: String, reason: &'static str },
    #[error("refusing to export tree entry {path:?}: {reason}")]
    UnsafeEntry { path: String, reason: &'static str },
    #[error("export destination {0} must be an existing, empty directory")]
    DestNotEmpty(PathBuf),
    #[error(
        "the tagged commit's file {path} (object {oid}{more}) is not in this repository{from}. \
         Fetch it: run `git fetch` (for a partial clone whose remote is gone, point the remote at \
         a copy that has it, or clone the repository again without --filter), then release again",
        more = if *count > 1 { format!(", and {} more", count - 1) } else { String::new() },
        from = promisor.as_ref().map(|u| format!(", and its promisor remote {u} could not provide it")).unwrap_or_default()
    )]
    MissingObject {
        path: String,
        oid: String,
        /// How many of the tree's files are missing.
        count: usize,
        /// The partial clone's promisor remote that was asked, if any.
        promisor: Option<String>,
    },
    #[error(
        "refusing to export the symlink {path} -> {target}: {why}, outside the repository. \
         A build would package whatever it points at on this machine: commit the file itself, \
         or point the link at a path inside the repository"
    )]
    LinkOutsideTree {
        path: String,
        target: String,
        why: String,
    },
}

/// An annotated tag object's own data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnotatedTag {
    /// The name recorded inside the tag object (may differ from the ref name).
    pub object_name: String,
    pub tagger_name: Option<String>,
    pub tagger_email: Option<String>,
    /// Seconds since the Unix epoch.
    pub tagger_time: Option<i64>,
    /// The raw message as stored, including a trailing signature block if any.
    pub message: String,
    /// The message carries a PGP/SSH signature block.
    pub signed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagInfo {
    /// Short ref name: `hf-local-v1.0.0` for `refs/tags/hf-local-v1.0.0`.
    pub name: String,
    /// What the ref points at: the tag object for annotated tags, else the commit.
    pub ref_target: String,
    /// The commit the tag finally peels to (hex).
    pub commit: String,
    /// The commit's committer time, seconds since the Unix epoch.
    pub commit_time: i64,
    /// `None` for a lightweight tag.
    pub annotated: Option<AnnotatedTag>,
}

/// What [`Repo::symlinks`] found in a commit's tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symlinks {
    pub total: usize,
    pub escaping: Vec<EscapingLink>,
}

/// Which engine serves this repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Libgit2,
    Cli,
}

pub struct Repo {
    engine: Engine,
    workdir: PathBuf,
    git_dir: PathBuf,
}

enum Engine {
    // git2::Repository is Send but not Sync; the Mutex keeps `Repo` shareable
    // across threads like any plain value.
    Libgit2(Mutex<git2::Repository>),
    Cli,
}

const SIGNATURE_MARKERS: [&str; 2] = [
    "-----BEGIN PGP SIGNATURE-----",
    "-----BEGIN SSH SIGNATURE-----",
];

/// One record of `git ls-tree -z` (CLI backend).
struct TreeEntry {
    mode: u32,
    kind: String,
    oid: String,
    name: Vec<u8>,
}

const MODE_TREE: u32 = 0o040000;
const MODE_EXEC: u32 = 0o100755;
const MODE_LINK: u32 = 0o120000;
const MODE_GITLINK: u32 = 0o160000;

impl Repo {
    /// Finds the repository containing `path` (like `git rev-parse --show-toplevel`).
    ///
    /// For a bare repository, [`Repo::workdir`] is the git dir.
    pub fn discover(path: &Path) -> Result<Repo, GitError> {
        if !path.exists() {
            return Err(GitError::Io {
                context: format!("cannot look for a git repository at {}", path.display()),
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            });
        }
        let libgit2_err = match git2::Repository::discover(path) {
            Ok(repo) if libgit2_can_serve(&repo) => {
                let git_dir = normalize(repo.path());
                let workdir = repo
                    .workdir()
                    .map(normalize)
                    .unwrap_or_else(|| git_dir.clone());
                return Ok(Repo {
                    engine: Engine::Libgit2(Mutex::new(repo)),
                    workdir,
                    git_dir,
                });
            }
            Ok(_) => None,
            Err(e) => Some(e),
        };
        // libgit2 refused (unsupported extension, or not found): let git decide.
        match discover_cli(path) {
            Ok(repo) => Ok(repo),
            Err(GitError::Spawn(io)) => match libgit2_err {
                Some(e) if e.code() == git2::ErrorCode::NotFound => Err(GitError::NotARepository {
                    path: path.to_path_buf(),
                }),
                Some(e) => Err(GitError::Libgit2(format!(
                    "cannot open the repository at {}: {}; the git CLI, which could, \
                     is unavailable ({io}): install git 2.45 or newer",
                    path.display(),
                    e.message()
                ))),
                None => Err(GitError::Spawn(io)),
            },
            Err(e) => Err(e),
        }
    }

    /// Like [`Repo::discover`], but always uses the git CLI backend, even where
    /// libgit2 could serve the repository (for diagnostics and tests).
    pub fn discover_with_cli(path: &Path) -> Result<Repo, GitError> {
        discover_cli(path)
    }

    pub fn backend(&self) -> Backend {
        match self.engine {
            Engine::Libgit2(_) => Backend::Libgit2,
            Engine::Cli => Backend::Cli,
        }
    }

    /// The working tree root.
    pub fn workdir(&self) -> &Path {
        &self.workdir
    }

    /// The git dir (`.git`, or the worktree's git dir).
    pub fn git_dir(&self) -> &Path {
        &self.git_dir
    }

    /// All tag names (short), sorted.
    pub fn tag_names(&self) -> Result<Vec<String>, GitError> {
        let mut names = match &self.engine {
            Engine::Libgit2(_) => {
                let repo = self.git2();
                let refs = repo
                    .references_glob("refs/tags/*")
                    .map_err(|e| libgit2("cannot list tags", e))?;
                let mut names = Vec::new();
                for r in refs {
                    let r = r.map_err(|e| libgit2("cannot list tags", e))?;
                    let full = String::from_utf8_lossy(r.name_bytes());
                    if let Some(short) = full.strip_prefix("refs/tags/") {
                        names.push(short.to_string());
                    }
                }
                names
            }
            Engine::Cli => {
                let out = self.git(["for-each-ref", "--format=%(refname)", "refs/tags/"])?;
                String::from_utf8_lossy(&out)
                    .lines()
                    .filter_map(|l| l.strip_prefix("refs/tags/"))
                    .map(str::to_string)
                    .collect()
            }
        };
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// `None` when no such tag exists.
    pub fn tag(&self, name: &str) -> Result<Option<TagInfo>, GitError> {
        // No valid ref name is empty or contains these; such a tag cannot exist.
        if name.is_empty() || name.contains(['\0', '\n']) {
            return Ok(None);
        }
        let refname = format!("refs/tags/{name}");
        match &self.engine {
            Engine::Libgit2(_) => self.tag_libgit2(name, &refname),
            Engine::Cli => self.tag_cli(name, &refname),
        }
    }

    /// HEAD's commit id (hex).
    pub fn head_commit(&self) -> Result<String, GitError> {
        match &self.engine {
            Engine::Libgit2(_) => {
                let repo = self.git2();
                let head = match repo.head() {
                    Ok(h) => h,
                    Err(e) if e.code() == git2::ErrorCode::UnbornBranch => {
                        return Err(GitError::UnbornHead);
                    }
                    Err(e) => return Err(libgit2("cannot read HEAD", e)),
                };
                let commit = head
                    .peel_to_commit()
                    .map_err(|e| libgit2("HEAD does not point at a commit", e))?;
                Ok(commit.id().to_string())
            }
            Engine::Cli => {
                let out = self.git_opt(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"])?;
                out.map(|o| trim_line(&o)).ok_or(GitError::UnbornHead)
            }
        }
    }

    /// Committer time of a commit, seconds since the epoch.
    pub fn commit_time(&self, commit: &str) -> Result<i64, GitError> {
        match &self.engine {
            Engine::Libgit2(_) => {
                let repo = self.git2();
                Ok(find_commit(&repo, commit)?.time().seconds())
            }
            Engine::Cli => {
                let oid = self.resolve_cli(commit, "commit")?;
                let raw = self.git(["cat-file", "commit", &oid])?;
                let (headers, _) = parse_object(&raw);
                headers
                    .iter()
                    .find(|(k, _)| k == "committer")
                    .and_then(|(_, v)| parse_ident(v).2)
                    .ok_or_else(|| GitError::Command {
                        args: format!("cat-file commit {oid}"),
                        stderr: "commit has no parsable committer line".into(),
                    })
            }
        }
    }

    /// A file's bytes at a commit; `None` if the path is not a blob there.
    /// `path` is relative to the repository root, `/`-separated.
    pub fn read_file(&self, commit: &str, path: &str) -> Result<Option<Vec<u8>>, GitError> {
        let parts = split_path(path)?;
        if parts.is_empty() {
            return Ok(None); // the root is a tree
        }
        match &self.engine {
            Engine::Libgit2(_) => {
                let repo = self.git2();
                let tree = commit_tree(&repo, commit)?;
                let entry = match tree.get_path(Path::new(path.trim_end_matches('/'))) {
                    Ok(e) => e,
                    Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
                    Err(e) => return Err(libgit2(&format!("cannot look up {path}"), e)),
                };
                if entry.kind() != Some(git2::ObjectType::Blob) {
                    return Ok(None);
                }
                let blob = repo
                    .find_blob(entry.id())
                    .map_err(|e| libgit2(&format!("cannot read {path}"), e))?;
                Ok(Some(blob.content().to_vec()))
            }
            Engine::Cli => match self.lookup_cli(commit, &parts)? {
                Some(e) if e.kind == "blob" => Ok(Some(self.git(["cat-file", "blob", &e.oid])?)),
                _ => Ok(None),
            },
        }
    }

    /// Names of the entries of a directory at a commit (`""` = root); empty if absent.
    pub fn list_dir(&self, commit: &str, path: &str) -> Result<Vec<String>, GitError> {
        let parts = split_path(path)?;
        let entries = match &self.engine {
            Engine::Libgit2(_) => {
                let repo = self.git2();
                let root = commit_tree(&repo, commit)?;
                let tree = if parts.is_empty() {
                    root
                } else {
                    let entry = match root.get_path(Path::new(path.trim_end_matches('/'))) {
                        Ok(e) => e,
                        Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(vec![]),
                        Err(e) => return Err(libgit2(&format!("cannot look up {path}"), e)),
                    };
                    if entry.kind() != Some(git2::ObjectType::Tree) {
                        return Ok(vec![]);
                    }
                    repo.find_tree(entry.id())
                        .map_err(|e| libgit2(&format!("cannot read directory {path}"), e))?
                };
                tree.iter()
                    .map(|e| e.name_bytes().to_vec())
                    .collect::<Vec<_>>()
            }
            Engine::Cli => {
                let tree = if parts.is_empty() {
                    self.resolve_cli(commit, "tree")?
                } else {
                    match self.lookup_cli(commit, &parts)? {
                        Some(e) if e.kind == "tree" => e.oid,
                        _ => return Ok(vec![]),
                    }
                };
                self.ls_tree(&tree)?.into_iter().map(|e| e.name).collect()
            }
        };
        Ok(entries
            .iter()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .collect())
    }

    /// Prepares `dest` (an existing, empty directory) as a checkout of
    /// `commit` with git metadata, like a CI job's checkout of the tag: a
    /// local clone that borrows this repository's objects (`git clone
    /// --shared`, so no object is copied), has every tag, and has `commit`
    /// checked out detached. VCS build plugins (setuptools-scm and its file
    /// finder, hatch-vcs, versioningit, …) see the tag and the tracked files.
    /// Nothing of the working tree is used, and nothing is written to this
    /// repository. Always the git CLI, whatever the backend: libgit2 cannot
    /// fetch a partial clone's missing objects, and git is required anyway.
    ///
    /// Refuses before writing anything if the tree holds an unsafe name or a
    /// symlink that leads outside it (see [`Repo::symlinks`]). In a partial
    /// (blobless) clone, the clone's promisor remotes are lent to the
    /// checkout, which fetches what it lacks into `dest` only; an object
    /// nobody can provide is reported with its path.
    pub fn export(&self, commit: &str, dest: &Path) -> Result<(), GitError> {
        self.export_checkout(commit, dest, None)
    }

    /// [`Repo::export`] as a cone-mode sparse checkout: only the files at the
    /// root and under `dirs` are written (the index still lists every file,
    /// and `.git` is complete). Several times faster on a large tree, but a
    /// build that reads a file elsewhere fails where a full checkout works,
    /// so builds use the full [`Repo::export`]; measured in
    /// `benches/checkout.rs`.
    pub fn export_sparse(&self, commit: &str, dest: &Path, dirs: &[&str]) -> Result<(), GitError> {
        for dir in dirs {
            split_path(dir)?;
        }
        self.export_checkout(commit, dest, Some(dirs))
    }

    fn export_checkout(
        &self,
        commit: &str,
        dest: &Path,
        sparse: Option<&[&str]>,
    ) -> Result<(), GitError> {
        check_dest_empty(dest)?;
        let (oid, listing) = self.commit_listing(commit)?;
        listing.check_links()?;
        self.clone_shared(dest)?;
        self.check_out(&oid, &listing, dest, sparse)
    }

    /// The commit's id and its tree listing, with either engine.
    fn commit_listing(&self, commit: &str) -> Result<(String, TreeListing), GitError> {
        match &self.engine {
            Engine::Libgit2(_) => {
                let repo = self.git2();
                let commit = find_commit(&repo, commit)?;
                let tree = commit
                    .tree()
                    .map_err(|e| libgit2("cannot read the commit's tree", e))?;
                Ok((commit.id().to_string(), listing_libgit2(&repo, &tree)?))
            }
            Engine::Cli => {
                let oid = self.resolve_cli(commit, "commit")?;
                let listing = self.listing_cli(&oid)?;
                Ok((oid, listing))
            }
        }
    }

    /// Checks `oid` out (detached, `-f`) in the clone at `dest`, with this
    /// repository's promisor remotes lent for the time of the checkout, and
    /// names the first file whose blob is still missing.
    fn check_out(
        &self,
        oid: &str,
        listing: &TreeListing,
        dest: &Path,
        sparse: Option<&[&str]>,
    ) -> Result<(), GitError> {
        let lent = self.lend_promisors(dest)?;
        if let Some(dirs) = sparse {
            let mut cmd = git_isolated();
            cmd.arg("-C")
                .arg(dest)
                .args(["sparse-checkout", "set", "--cone", "--"])
                .args(dirs.iter().map(|d| d.trim_end_matches('/')));
            run(cmd)?;
        }
        let checkout = checkout_in(dest, oid);
        // The build needs no remote (everything it reads is checked out),
        // and a remote's URL may carry a credential: take them away again.
        for name in &lent {
            let mut cmd = git_isolated();
            cmd.arg("-C")
                .arg(dest)
                .args(["config", "--remove-section", &format!("remote.{name}")]);
            run(cmd)?;
        }
        // git may report a blob it could not read and still exit 0, and a
        // failed lazy fetch names only the object: look for what is missing
        // either way, and name its path.
        let wanted = |path: &[u8]| match sparse {
            None => true,
            // Cone mode: the root's files, and everything under each dir.
            Some(dirs) => {
                !path.contains(&b'/')
                    || dirs.iter().any(|d| {
                        let d = d.trim_end_matches('/').as_bytes();
                        d.is_empty() || (path.starts_with(d) && path.get(d.len()) == Some(&b'/'))
                    })
            }
        };
        let missing = missing_blobs(dest, listing, wanted)?;
        if let Some(entry) = missing.first() {
            return Err(GitError::MissingObject {
                path: String::from_utf8_lossy(&entry.path).into_owned(),
                oid: entry.oid.clone(),
                count: missing.len(),
                promisor: self
                    .promisor_remotes()?
                    .first()
                    .map(|(_, url)| without_userinfo(url)),
            });
        }
        checkout
    }

    /// The build's checkout of `commit`: what [`Repo::export`] prepares,
    /// taken from a persistent cache under `cache` (tagpub's data dir) when
    /// one of its slots for this repository is free, else a fresh temporary
    /// export. A slot is a shared clone (git dir beside the work tree, so a
    /// sandboxed build can only read it) that is moved to `commit` with
    /// `git checkout -f --detach` and `git clean -ffdx`: only the files
    /// that differ are written, and whatever a previous build changed,
    /// added or left ignored is gone; its refs are set to this
    /// repository's, its config and alternates restored. The slot stays
    /// locked (flock) while the returned [`Checkout`] lives, so builds in
    /// one process or several never share one. Same refusals and missing-
    /// object report as `export`.
    pub fn checkout(&self, commit: &str, cache: Option<&Path>) -> Result<Checkout, GitError> {
        let (oid, listing) = self.commit_listing(commit)?;
        listing.check_links()?;
        if let Some(cache) = cache {
            match self.cached_checkout(cache, &oid, &listing) {
                Ok(Some(checkout)) => return Ok(checkout),
                Ok(None) => {
                    tracing::debug!(
                        "every cached checkout of this repository is in use: a temporary one"
                    )
                }
                Err(err @ GitError::MissingObject { .. }) => return Err(err),
                Err(err) => {
                    tracing::warn!(error = %err, "the checkout cache failed; using a temporary checkout")
                }
            }
        }
        let temp = tempfile::Builder::new()
            .prefix("tagpub-export-")
            .tempdir()
            .map_err(io_err(
                "cannot create a temporary directory for the checkout".into(),
            ))?;
        self.clone_shared(temp.path())?;
        self.check_out(&oid, &listing, temp.path(), None)?;
        Ok(Checkout {
            work: temp.path().to_path_buf(),
            hold: Hold::Temp(temp),
        })
    }

    /// A free slot of this repository's cache, reset to `oid`; `None` when
    /// every slot is held by another build.
    fn cached_checkout(
        &self,
        cache: &Path,
        oid: &str,
        listing: &TreeListing,
    ) -> Result<Option<Checkout>, GitError> {
        let common = self.common_dir()?;
        let canonical = common.canonicalize().unwrap_or_else(|_| common.clone());
        let key = {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(path_bytes(&canonical)))
        };
        let dir = cache.join(&key[..16]);
        crate::fsutil::create_private_dir(&dir)
            .map_err(io_err(format!("cannot create {}", dir.display())))?;
        // For whoever wonders what the directory is.
        let note = dir.join("repository");
        if !note.exists() {
            let _ = crate::fsutil::write_atomic(&note, &path_bytes(&canonical));
        }
        for i in 0..CACHE_SLOTS {
            let lock_path = dir.join(format!("slot-{i}.lock"));
            let lock = crate::fsutil::open_private(&lock_path)
                .map_err(io_err(format!("cannot open {}", lock_path.display())))?;
            match lock.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => continue,
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(io_err(format!("cannot lock {}", lock_path.display()))(e));
                }
            }
            let slot = dir.join(format!("slot-{i}"));
            let work = match self.reset_slot(&slot, &common, oid, listing) {
                Ok(work) => work,
                Err(err @ GitError::MissingObject { .. }) => return Err(err),
                // Whatever broke the slot, a new clone does not have it.
                Err(err) => {
                    tracing::info!(slot = %slot.display(), error = %err, "cached checkout unusable: cloning it again");
                    remove_all(&slot)?;
                    self.reset_slot(&slot, &common, oid, listing)?
                }
            };
            return Ok(Some(Checkout {
                work,
                hold: Hold::Slot(lock),
            }));
        }
        Ok(None)
    }

    /// Makes `slot` (locked by the caller) a clean checkout of `oid`,
    /// byte for byte what a fresh [`Repo::export`] writes, and returns its
    /// work tree.
    fn reset_slot(
        &self,
        slot: &Path,
        common: &Path,
        oid: &str,
        listing: &TreeListing,
    ) -> Result<PathBuf, GitError> {
        let git_dir = slot.join("git");
        let work = slot.join("work");
        let pristine_config = slot.join("config.pristine");
        let pristine_alternates = slot.join("alternates.pristine");
        let alternates = git_dir.join("objects/info/alternates");
        let reusable = pristine_config.is_file()
            && pristine_alternates.is_file()
            && git_dir.join("HEAD").is_file()
            && std::fs::symlink_metadata(&work).is_ok_and(|m| m.is_dir());
        if reusable {
            // A build that ran without the sandbox could have changed any
            // of these: put back what the clone wrote. (Builds that ran
            // unsandboxed discard their slot; this is the second line.)
            copy_file(&pristine_config, &git_dir.join("config"))?;
            copy_file(&pristine_alternates, &alternates)?;
            // Attributes (eol, filters), grafts and excludes in `info/` would
            // change what a checkout writes or what `clean` removes.
            remove_all(&git_dir.join("info"))?;
            // An untracked `.gitattributes` the last build left in the work
            // tree would apply to the checkout below: clean first, too.
            let mut cmd = git_isolated();
            cmd.arg("-C").arg(&work).args(["clean", "-ffdxq"]);
            run(cmd)?;
            let _ = std::fs::remove_file(git_dir.join("info/sparse-checkout"));
            let gitfile = work.join(".git");
            if std::fs::symlink_metadata(&gitfile).is_ok_and(|m| m.is_dir()) {
                remove_all(&gitfile)?;
            } else if std::fs::symlink_metadata(&gitfile).is_ok() {
                std::fs::remove_file(&gitfile)
                    .map_err(io_err(format!("cannot remove {}", gitfile.display())))?;
            }
            let mut text = b"gitdir: ".to_vec();
            text.extend(path_bytes(&git_dir));
            text.push(b'\n');
            std::fs::write(&gitfile, text)
                .map_err(io_err(format!("cannot write {}", gitfile.display())))?;
            self.sync_refs(&work)?;
        } else {
            remove_all(slot)?;
            crate::fsutil::create_private_dir(slot)
                .map_err(io_err(format!("cannot create {}", slot.display())))?;
            let mut cmd = git_isolated();
            cmd.args([
                "clone",
                "--quiet",
                "--shared",
                "--no-checkout",
                "--template=",
            ])
            .arg("--separate-git-dir")
            .arg(&git_dir)
            .arg("--")
            .arg(common)
            .arg(&work);
            run(cmd)?;
            for (from, to) in [
                (git_dir.join("config"), &pristine_config),
                (alternates.clone(), &pristine_alternates),
            ] {
                let bytes = std::fs::read(&from)
                    .map_err(io_err(format!("cannot read {}", from.display())))?;
                crate::fsutil::write_atomic(to, &bytes)
                    .map_err(io_err(format!("cannot write {}", to.display())))?;
            }
        }
        self.check_out(oid, listing, &work, None)?;
        let mut cmd = git_isolated();
        cmd.arg("-C").arg(&work).args(["clean", "-ffdxq"]);
        run(cmd)?;
        // The reset's own proof: nothing modified, untracked or ignored.
        let mut cmd = git_isolated();
        cmd.arg("-C").arg(&work).args([
            "status",
            "--porcelain",
            "--ignored",
            "--untracked-files=all",
        ]);
        let status = run(cmd)?;
        if !status.is_empty() {
            return Err(GitError::Command {
                args: "status (after resetting a cached checkout)".into(),
                stderr: format!(
                    "left over: {}",
                    String::from_utf8_lossy(&status).trim().replace('\n', ", ")
                ),
            });
        }
        Ok(work)
    }

    /// Sets the clone's tags and `origin/*` branches to this repository's
    /// tags and branches (what a fresh clone would copy), in one
    /// transaction; the objects are already there (alternates).
    fn sync_refs(&self, clone: &Path) -> Result<(), GitError> {
        let format = "--format=%(objectname) %(refname)";
        let parse = |out: &[u8]| -> std::collections::BTreeMap<String, String> {
            String::from_utf8_lossy(out)
                .lines()
                .filter_map(|l| l.split_once(' '))
                .map(|(oid, name)| (name.to_string(), oid.to_string()))
                .collect()
        };
        let want: std::collections::BTreeMap<String, String> =
            parse(&self.git(["for-each-ref", format, "refs/tags", "refs/heads"])?)
                .into_iter()
                .map(|(name, oid)| match name.strip_prefix("refs/heads/") {
                    Some(branch) => (format!("refs/remotes/origin/{branch}"), oid),
                    None => (name, oid),
                })
                .collect();
        let mut cmd = git_isolated();
        cmd.arg("-C")
            .arg(clone)
            .args(["for-each-ref", format, "refs/tags", "refs/remotes/origin"]);
        let mut have = parse(&run(cmd)?);
        // The clone's symbolic origin/HEAD stays as the clone made it.
        have.remove("refs/remotes/origin/HEAD");
        let mut script = String::new();
        for name in have.keys().filter(|n| !want.contains_key(*n)) {
            script.push_str(&format!("delete {name}\n"));
        }
        for (name, oid) in &want {
            if have.get(name) != Some(oid) {
                script.push_str(&format!("update {name} {oid}\n"));
            }
        }
        if script.is_empty() {
            return Ok(());
        }
        let mut cmd = git_isolated();
        cmd.arg("-C")
            .arg(clone)
            .args(["update-ref", "--no-deref", "--stdin"]);
        run_with_input(cmd, script.into_bytes()).map(drop)
    }

    /// Writes the commit's whole tree into `dest` (which must exist and be
    /// empty) without any git metadata: regular files, executable bits and
    /// symlinks; submodules are left out. What builds used before they got a
    /// real checkout ([`Repo::export`]); kept for the checkout benchmark and
    /// as the tree-only reference in tests. Same refusals as `export`.
    pub fn export_tree(&self, commit: &str, dest: &Path) -> Result<(), GitError> {
        check_dest_empty(dest)?;
        match &self.engine {
            Engine::Libgit2(_) => {
                let repo = self.git2();
                let tree = commit_tree(&repo, commit)?;
                let listing = listing_libgit2(&repo, &tree)?;
                listing.check_links()?;
                write_listing(&repo, &listing, dest)
            }
            Engine::Cli => self.export_cli(commit, dest),
        }
    }

    /// The repository's common git dir (a linked worktree's git dir is not
    /// clonable; its common dir is).
    fn common_dir(&self) -> Result<PathBuf, GitError> {
        let common = self.git(["rev-parse", "--git-common-dir"])?;
        let common = common.strip_suffix(b"\n").unwrap_or(&common);
        // Relative output is relative to where git ran: the working tree root.
        Ok(self.workdir.join(os_str_from_bytes(common)?))
    }

    /// `git clone --shared --no-checkout` of this repository into `dest`:
    /// alternates point at our object store, refs (every tag) are copied.
    fn clone_shared(&self, dest: &Path) -> Result<(), GitError> {
        let common = self.common_dir()?;
        let mut cmd = git_isolated();
        cmd.args([
            "clone",
            "--quiet",
            "--shared",
            "--no-checkout",
            // No hooks or other template files in the clone.
            "--template=",
            "--",
        ])
        .arg(&common)
        .arg(dest);
        run(cmd).map(drop)
    }

    /// A partial clone's missing objects come from its promisor remotes:
    /// lets the clone at `dest` ask them too (it fetches into `dest`
    /// only). Returns the names of the remotes it added.
    fn lend_promisors(&self, dest: &Path) -> Result<Vec<String>, GitError> {
        let mut lent = Vec::new();
        for (i, (_, url)) in self.promisor_remotes()?.into_iter().enumerate() {
            let name = format!("tagpub-promisor-{i}");
            lent.push(name.clone());
            for (key, value) in [("url", url.as_str()), ("promisor", "true")] {
                let mut cmd = git_isolated();
                cmd.arg("-C")
                    .arg(dest)
                    .args(["config", &format!("remote.{name}.{key}"), value]);
                run(cmd)?;
            }
        }
        Ok(lent)
    }

    /// `(name, url)` of each promisor remote of a partial clone; empty for
    /// a complete repository.
    fn promisor_remotes(&self) -> Result<Vec<(String, String)>, GitError> {
        let config = self
            .git_opt([
                "config",
                "--get-regexp",
                r"^(remote\..*\.promisor|extensions\.partialclone)$",
            ])?
            .unwrap_or_default();
        let mut names: Vec<String> = Vec::new();
        for line in String::from_utf8_lossy(&config).lines() {
            let (key, value) = line.split_once(' ').unwrap_or((line, ""));
            let name = if key.eq_ignore_ascii_case("extensions.partialclone") {
                Some(value.to_string())
            } else if value.eq_ignore_ascii_case("true") {
                key.strip_prefix("remote.")
                    .and_then(|k| k.strip_suffix(".promisor"))
                    .map(str::to_string)
            } else {
                None
            };
            if let Some(name) = name.filter(|n| !n.is_empty() && !names.contains(n)) {
                names.push(name);
            }
        }
        let mut remotes = Vec::new();
        for name in names {
            if let Some(url) = self.git_opt(["config", "--get", &format!("remote.{name}.url")])? {
                remotes.push((name, trim_line(&url)));
            }
        }
        Ok(remotes)
    }

    /// The commit's symlinks, and those that resolve outside its tree,
    /// followed the way the kernel would in an export: absolute targets,
    /// targets that climb above the root, and chains of links ending there.
    pub fn symlinks(&self, commit: &str) -> Result<Symlinks, GitError> {
        let listing = match &self.engine {
            Engine::Libgit2(_) => {
                let repo = self.git2();
                let tree = commit_tree(&repo, commit)?;
                listing_libgit2(&repo, &tree)?
            }
            Engine::Cli => {
                let oid = self.resolve_cli(commit, "commit")?;
                self.listing_cli(&oid)?
            }
        };
        Ok(Symlinks {
            total: listing.links.len(),
            escaping: listing.escaping_links(),
        })
    }

    // ---- libgit2 backend -------------------------------------------------

    fn git2(&self) -> MutexGuard<'_, git2::Repository> {
        match &self.engine {
            // A panic while holding the lock cannot leave the read-only handle
            // inconsistent, so a poisoned lock is still usable.
            Engine::Libgit2(m) => m.lock().unwrap_or_else(|p| p.into_inner()),
            Engine::Cli => unreachable!("libgit2 handle requested for a CLI-backed repo"),
        }
    }

    fn tag_libgit2(&self, name: &str, refname: &str) -> Result<Option<TagInfo>, GitError> {
        let repo = self.git2();
        let reference = match repo.find_reference(refname) {
            Ok(r) => r,
            // Invalid names cannot name an existing tag either.
            Err(e)
                if matches!(
                    e.code(),
                    git2::ErrorCode::NotFound | git2::ErrorCode::InvalidSpec
                ) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(libgit2(&format!("cannot read tag {name}"), e)),
        };
        let target = reference
            .resolve()
            .ok()
            .and_then(|r| r.target())
            .ok_or_else(|| GitError::Libgit2(format!("tag {name} is a dangling reference")))?;
        let object = repo
            .find_object(target, None)
            .map_err(|e| libgit2(&format!("cannot read the object tag {name} points at"), e))?;
        let annotated = object.as_tag().map(|t| {
            let message =
                String::from_utf8_lossy(t.message_bytes().unwrap_or_default()).into_owned();
            let tagger = t.tagger();
            AnnotatedTag {
                object_name: String::from_utf8_lossy(t.name_bytes()).into_owned(),
                tagger_name: tagger
                    .as_ref()
                    .map(|s| String::from_utf8_lossy(s.name_bytes()).into_owned()),
                tagger_email: tagger
                    .as_ref()
                    .map(|s| String::from_utf8_lossy(s.email_bytes()).into_owned()),
                tagger_time: tagger.as_ref().map(|s| s.when().seconds()),
                signed: is_signed(&message),
                message,
            }
        });
        // peel() follows nested tags all the way down.
        let commit = object
            .peel_to_commit()
            .map_err(|_| GitError::TagNotACommit {
                tag: name.to_string(),
            })?;
        Ok(Some(TagInfo {
            name: name.to_string(),
            ref_target: target.to_string(),
            commit: commit.id().to_string(),
            commit_time: commit.time().seconds(),
            annotated,
        }))
    }

    // ---- CLI backend -----------------------------------------------------

    /// Runs git against this repository; `Ok(None)` when it exits non-zero.
    fn git_opt<I, S>(&self, args: I) -> Result<Option<Vec<u8>>, GitError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        match self.git(args) {
            Ok(out) => Ok(Some(out)),
            Err(GitError::Command { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn git<I, S>(&self, args: I) -> Result<Vec<u8>, GitError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.git_command();
        cmd.args(args);
        run(cmd)
    }

    fn git_command(&self) -> Command {
        let mut cmd = git_base();
        // Pin the repository we discovered; an inherited GIT_DIR (e.g. inside
        // a hook) must not redirect us elsewhere.
        cmd.env("GIT_DIR", &self.git_dir)
            .env_remove("GIT_WORK_TREE")
            .current_dir(&self.workdir);
        cmd
    }

    /// `git verify-tag --raw` of the tag object `object` (hex: the object
    /// the plan resolved, not a name that could move): whether git accepted
    /// the signature, and its stdout then stderr (gpg's status lines or
    /// ssh-keygen's verdict; `pipeline::signature` reads them).
    ///
    /// Unlike every other git call here it runs through `process::Child`:
    /// git hands the signature to gpg or ssh-keygen, so the child keeps what
    /// they need of the user's setup (HOME, GNUPGHOME, git's config with
    /// gpg.format, gpg.program, gpg.ssh.allowedSignersFile) but loses every
    /// token and the session's agent/bus addresses (verifying needs no agent).
    pub fn verify_tag_raw(&self, object: &str) -> Result<(bool, String), GitError> {
        check_hex(object)?;
        let output = crate::process::Child::new("git")
            .args(["verify-tag", "--raw", object])
            .env("GIT_DIR", &self.git_dir)
            .env("LC_ALL", "C")
            .env("GIT_TERMINAL_PROMPT", "0")
            .current_dir(&self.workdir)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| match e {
                crate::process::RunError::Start { source, .. } => GitError::Spawn(source),
                other => GitError::Command {
                    args: format!("verify-tag --raw {object}"),
                    stderr: other.to_string(),
                },
            })?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        Ok((output.status.success(), text))
    }

    /// Full object id of `rev^{kind}`; `rev` must be hex so it cannot be
    /// read as an option or as revision syntax.
    fn resolve_cli(&self, rev: &str, kind: &str) -> Result<String, GitError> {
        check_hex(rev)?;
        let spec = format!("{rev}^{{{kind}}}");
        self.git_opt(["rev-parse", "--verify", "--quiet", &spec])?
            .map(|o| trim_line(&o))
            .ok_or_else(|| GitError::UnknownCommit(rev.to_string()))
    }

    fn ls_tree(&self, tree: &str) -> Result<Vec<TreeEntry>, GitError> {
        let out = self.git(["ls-tree", "-z", "--full-tree", tree])?;
        out.split(|&b| b == 0)
            .filter(|r| !r.is_empty())
            .map(|r| {
                parse_ls_tree(r).ok_or_else(|| GitError::Command {
                    args: format!("ls-tree -z {tree}"),
                    stderr: format!("unexpected output line {:?}", String::from_utf8_lossy(r)),
                })
            })
            .collect()
    }

    /// Walks `parts` from the commit's root tree one level at a time, matching
    /// names exactly (no pathspec or revision syntax involved).
    fn lookup_cli(&self, commit: &str, parts: &[&str]) -> Result<Option<TreeEntry>, GitError> {
        let mut tree = self.resolve_cli(commit, "tree")?;
        let (last, dirs) = parts.split_last().expect("non-empty path");
        for dir in dirs {
            match self.find_entry(&tree, dir)? {
                Some(e) if e.kind == "tree" => tree = e.oid,
                _ => return Ok(None),
            }
        }
        self.find_entry(&tree, last)
    }

    fn find_entry(&self, tree: &str, name: &str) -> Result<Option<TreeEntry>, GitError> {
        Ok(self
            .ls_tree(tree)?
            .into_iter()
            .find(|e| e.name == name.as_bytes()))
    }

    fn tag_cli(&self, name: &str, refname: &str) -> Result<Option<TagInfo>, GitError> {
        // for-each-ref treats its argument as a pattern (prefix/glob), so
        // keep only the exact refname.
        let out = self.git([
            "for-each-ref",
            "--format=%(refname)%00%(objectname)%00%(objecttype)",
            refname,
        ])?;
        let out = String::from_utf8_lossy(&out);
        let Some((target, kind)) = out.lines().find_map(|l| {
            let mut f = l.split('\0');
            (f.next()? == refname).then_some(())?;
            Some((f.next()?.to_string(), f.next()?.to_string()))
        }) else {
            return Ok(None);
        };
        let annotated = if kind == "tag" {
            let raw = self.git(["cat-file", "tag", &target])?;
            Some(parse_tag(&raw))
        } else {
            None
        };
        let commit = match self.resolve_cli(&target, "commit") {
            Err(GitError::UnknownCommit(_)) => {
                return Err(GitError::TagNotACommit {
                    tag: name.to_string(),
                });
            }
            other => other?,
        };
        let commit_time = self.commit_time(&commit)?;
        Ok(Some(TagInfo {
            name: name.to_string(),
            ref_target: target,
            commit,
            commit_time,
            annotated,
        }))
    }

    /// The whole tree of commit `oid`, with each symlink's target read in
    /// one `git cat-file --batch`.
    fn listing_cli(&self, oid: &str) -> Result<TreeListing, GitError> {
        let out = self.git(["ls-tree", "-r", "-t", "-z", "--full-tree", oid])?;
        let mut entries = Vec::new();
        let mut link_paths = Vec::new();
        let mut link_oids = Vec::new();
        let mut submodules = Vec::new();
        for record in out.split(|&b| b == 0).filter(|r| !r.is_empty()) {
            let entry = parse_ls_tree(record).ok_or_else(|| GitError::Command {
                args: format!("ls-tree -r -t -z {oid}"),
                stderr: format!(
                    "unexpected output line {:?}",
                    String::from_utf8_lossy(record)
                ),
            })?;
            let rel = String::from_utf8_lossy(&entry.name).into_owned();
            for name in entry.name.split(|&b| b == b'/') {
                check_entry_name(name, &rel)?;
            }
            match entry.mode {
                MODE_GITLINK => {
                    submodules.push(entry.name);
                    continue;
                }
                MODE_TREE => {}
                MODE_LINK => {
                    link_paths.push(entry.name.clone());
                    link_oids.push(entry.oid.clone());
                }
                mode if mode & 0o170000 == 0o100000 => {}
                _ => {
                    return Err(GitError::UnsafeEntry {
                        path: rel,
                        reason: "unknown file mode",
                    });
                }
            }
            entries.push(ListedEntry {
                path: entry.name,
                mode: entry.mode,
                oid: entry.oid,
            });
        }
        let targets = self.read_blobs(&link_oids)?;
        Ok(TreeListing::new(
            entries,
            link_paths.into_iter().zip(targets).collect(),
            submodules,
        ))
    }

    /// The contents of these blobs, in order, from one `git cat-file --batch`.
    fn read_blobs(&self, oids: &[String]) -> Result<Vec<Vec<u8>>, GitError> {
        if oids.is_empty() {
            return Ok(Vec::new());
        }
        for oid in oids {
            check_hex(oid)?;
        }
        let mut cmd = self.git_command();
        cmd.args(["cat-file", "--batch"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(GitError::Spawn)?;
        let mut stdin = child.stdin.take().expect("piped");
        let input: Vec<u8> = oids
            .iter()
            .flat_map(|o| o.bytes().chain(std::iter::once(b'\n')))
            .collect();
        // Written from a thread: git answers while it reads, and a full
        // stdout pipe would otherwise block both sides.
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            stdin.write_all(&input)
        });
        let output = child.wait_with_output().map_err(GitError::Spawn)?;
        let _ = writer.join();
        let failed = |why: String| GitError::Command {
            args: "cat-file --batch".into(),
            stderr: why,
        };
        if !output.status.success() {
            return Err(command_error(
                &[OsStr::new("cat-file"), OsStr::new("--batch")],
                &output.stderr,
            ));
        }
        // `<oid> SP <type> SP <size> LF <contents> LF` per object.
        let mut rest = output.stdout.as_slice();
        let mut blobs = Vec::with_capacity(oids.len());
        for oid in oids {
            let newline = rest
                .iter()
                .position(|&b| b == b'\n')
                .ok_or_else(|| failed(format!("no answer for {oid}")))?;
            let header = String::from_utf8_lossy(&rest[..newline]).into_owned();
            let size: usize = match header.split(' ').collect::<Vec<_>>()[..] {
                [_, "blob", size] => size
                    .parse()
                    .map_err(|_| failed(format!("unexpected header {header:?}")))?,
                _ => return Err(failed(format!("unexpected answer {header:?} for {oid}"))),
            };
            let body = rest
                .get(newline + 1..newline + 1 + size)
                .ok_or_else(|| failed(format!("short answer for {oid}")))?;
            blobs.push(body.to_vec());
            rest = rest.get(newline + 2 + size..).unwrap_or_default();
        }
        Ok(blobs)
    }

    fn export_cli(&self, commit: &str, dest: &Path) -> Result<(), GitError> {
        let oid = self.resolve_cli(commit, "commit")?;
        let listing = self.listing_cli(&oid)?;
        listing.check_links()?;

        let args = ["archive", "--format=tar", oid.as_str()];
        let mut cmd = self.git_command();
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(GitError::Spawn)?;
        let mut stderr = child.stderr.take().expect("piped");
        // Drain stderr concurrently so a chatty git cannot block on a full pipe.
        let stderr_reader = std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = stderr.read_to_end(&mut s);
            s
        });
        let unpacked = unpack_tar(child.stdout.take().expect("piped"), dest, &listing);
        let status = child.wait().map_err(GitError::Spawn)?;
        let stderr = stderr_reader.join().unwrap_or_default();
        match unpacked {
            // We stopped reading (refused entry, full disk): git then dies of
            // a broken pipe, so our error is the one that explains it.
            Err(Unpack::Write(e)) => Err(e),
            _ if !status.success() => Err(command_error(&args.map(OsStr::new), &stderr)),
            Err(Unpack::Stream(e)) => Err(e),
            Ok(()) => Ok(()),
        }
    }

    /// The directory git runs this repository's hooks from: `core.hooksPath`
    /// if set (a relative value is relative to the working tree root, where
    /// git runs hooks), else `hooks/` in the common git dir, so a linked
    /// worktree gets the main repository's hooks. Absolute; may not exist yet.
    pub fn hooks_dir(&self) -> Result<PathBuf, GitError> {
        // `--git-path hooks` applies core.hooksPath and the common dir the
        // same way git's hook runner does (checked with git 2.39 and 2.47).
        let out = self.git(["rev-parse", "--git-path", "hooks"])?;
        let bytes = out.strip_suffix(b"\n").unwrap_or(&out);
        if bytes.is_empty() {
            return Err(GitError::Command {
                args: "rev-parse --git-path hooks".into(),
                stderr: "printed no path".into(),
            });
        }
        // Relative output is relative to where git ran: the working tree root.
        let path = self.workdir.join(os_str_from_bytes(bytes)?);
        Ok(path.components().collect())
    }

    /// The version of the `git` on PATH (the one that runs hooks), e.g. (2, 47, 3).
    pub fn git_version(&self) -> Result<(u32, u32, u32), GitError> {
        let out = self.git(["--version"])?;
        let text = trim_line(&out);
        // "git version 2.47.3", "git version 2.39.5 (Apple Git-154)",
        // "git version 2.45.1.windows.1".
        let mut numbers = text
            .strip_prefix("git version ")
            .and_then(|v| v.split_whitespace().next())
            .unwrap_or("")
            .split('.')
            .map(|n| n.parse::<u32>());
        match (numbers.next(), numbers.next(), numbers.next()) {
            (Some(Ok(major)), Some(Ok(minor)), patch) => {
                Ok((major, minor, patch.and_then(Result::ok).unwrap_or(0)))
            }
            _ => Err(GitError::Command {
                args: "--version".into(),
                stderr: format!("cannot read a version from {text:?}"),
            }),
        }
    }

    /// Every tag's short name and the object id its ref points at (the tag
    /// object for an annotated tag, the commit for a lightweight one), sorted
    /// by name. The daemon's rescan: nothing is peeled or parsed, so it stays
    /// one pass over the refs (10 000 tags in a few ms with libgit2).
    /// What `remote` has for `refs/tags/<tag>` (`git ls-remote`): the
    /// object id, or `None` when the remote has no such tag. Always the git
    /// CLI, which knows the user's remotes, credentials helpers and SSH setup.
    pub fn remote_tag(&self, remote: &str, tag: &str) -> Result<Option<String>, GitError> {
        let refname = format!("refs/tags/{tag}");
        // `--` keeps a remote or tag name from being read as an option.
        let out = self.git(["ls-remote", "--tags", "--", remote, &refname])?;
        Ok(String::from_utf8_lossy(&out)
            .lines()
            .filter_map(|line| line.split_once('\t'))
            .find(|(_, name)| *name == refname)
            .map(|(id, _)| id.to_string()))
    }

    /// The URL of `remote` as configured (`remote.<name>.url`, before any
    /// `insteadOf` rewriting), or `None` when there is no such remote.
    pub fn remote_url(&self, remote: &str) -> Result<Option<String>, GitError> {
        let key = format!("remote.{remote}.url");
        Ok(self
            .git_opt(["config", "--get", "--", &key])?
            .map(|out| trim_line(&out))
            .filter(|url| !url.is_empty()))
    }

    pub fn tag_targets(&self) -> Result<Vec<(String, String)>, GitError> {
        let mut tags = match &self.engine {
            Engine::Libgit2(_) => {
                let repo = self.git2();
                let refs = repo
                    .references_glob("refs/tags/*")
                    .map_err(|e| libgit2("cannot list tags", e))?;
                let mut tags = Vec::new();
                for r in refs {
                    let r = r.map_err(|e| libgit2("cannot list tags", e))?;
                    let Some(short) = r.name_bytes().strip_prefix(b"refs/tags/") else {
                        continue;
                    };
                    // A symbolic ref under refs/tags has no object id of its
                    // own; it cannot be a release tag, so leave it out.
                    if let Some(oid) = r.target() {
                        tags.push((String::from_utf8_lossy(short).into_owned(), oid.to_string()));
                    }
                }
                tags
            }
            Engine::Cli => {
                // Trailing slash: only refs inside refs/tags/, never a ref
                // named refs/tagsfoo.
                let out = self.git([
                    "for-each-ref",
                    "--format=%(refname:strip=2)%00%(objectname)",
                    "refs/tags/",
                ])?;
                let mut tags = Vec::new();
                for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                    let mut fields = line.splitn(2, |&b| b == 0);
                    let (Some(name), Some(oid)) = (fields.next(), fields.next()) else {
                        return Err(GitError::Command {
                            args: "for-each-ref refs/tags/".into(),
                            stderr: format!(
                                "unexpected output line {:?}",
                                String::from_utf8_lossy(line)
                            ),
                        });
                    };
                    tags.push((
                        String::from_utf8_lossy(name).into_owned(),
                        String::from_utf8_lossy(oid).into_owned(),
                    ));
                }
                tags
            }
        };
        tags.sort();
        tags.dedup();
        Ok(tags)
    }
}

// ---- discovery -----------------------------------------------------------

/// libgit2 (1.9, no experimental SHA-256) may open repositories whose refs or
/// objects it cannot actually read; check the extensions ourselves.
fn libgit2_can_serve(repo: &git2::Repository) -> bool {
    let Ok(config) = repo.config() else {
        return false;
    };
    let get = |key: &str| config.get_string(key).ok().map(|v| v.to_ascii_lowercase());
    let refs_ok = get("extensions.refstorage").is_none_or(|v| v == "files");
    let objects_ok = get("extensions.objectformat").is_none_or(|v| v == "sha1");
    // libgit2 cannot fetch a partial clone's missing objects; git does.
    let complete = get("extensions.partialclone").is_none()
        && config
            .entries(Some(r"remote\..*\.promisor"))
            .map(|mut entries| {
                let mut promisor = false;
                while let Some(Ok(entry)) = entries.next() {
                    promisor |= entry
                        .value()
                        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
                }
                !promisor
            })
            .unwrap_or(true);
    refs_ok && objects_ok && complete
}

fn discover_cli(path: &Path) -> Result<Repo, GitError> {
    let rev_parse = |args: &[&str]| -> Result<Vec<String>, GitError> {
        let mut cmd = git_base();
        // Look where we were asked to, like libgit2's discover does.
        cmd.arg("-C").arg(path).arg("rev-parse").args(args);
        cmd.env_remove("GIT_DIR").env_remove("GIT_WORK_TREE");
        match run(cmd) {
            Ok(out) => Ok(String::from_utf8_lossy(&out)
                .lines()
                .map(str::to_string)
                .collect()),
            Err(GitError::Command { stderr, .. }) if stderr.contains("not a git repository") => {
                Err(GitError::NotARepository {
                    path: path.to_path_buf(),
                })
            }
            Err(GitError::Command { args, stderr })
                if stderr.contains("unknown repository extension") =>
            {
                Err(GitError::Command {
                    args,
                    stderr: format!(
                        "{stderr} (this repository needs a newer git: reftable refs need \
                         git 2.45 or newer, SHA-256 objects git 2.29 or newer)"
                    ),
                })
            }
            Err(e) => Err(e),
        }
    };
    let out = rev_parse(&["--is-bare-repository", "--absolute-git-dir"])?;
    let [bare, git_dir] = out.as_slice() else {
        return Err(GitError::Command {
            args: "rev-parse --is-bare-repository --absolute-git-dir".into(),
            stderr: format!("unexpected output {out:?}"),
        });
    };
    let git_dir = normalize(Path::new(git_dir));
    let workdir = if bare == "true" {
        git_dir.clone()
    } else {
        let top = rev_parse(&["--show-toplevel"])?;
        match top.first() {
            Some(t) => normalize(Path::new(t)),
            // Inside the git dir of a non-bare repository: no toplevel to show.
            None => git_dir.clone(),
        }
    };
    Ok(Repo {
        engine: Engine::Cli,
        workdir,
        git_dir,
    })
}

fn normalize(path: &Path) -> PathBuf {
    // Canonical and without libgit2's trailing slash, so both backends agree.
    std::fs::canonicalize(path).unwrap_or_else(|_| path.components().collect())
}

// ---- the checkout -----------------------------------------------------------

/// A remote URL fit for a message: `https://user:token@host/x` →
/// `https://***@host/x`.
fn without_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***{}", &rest[at..]),
        None => url.to_string(),
    }
}

fn check_dest_empty(dest: &Path) -> Result<(), GitError> {
    let empty = std::fs::read_dir(dest)
        .map(|mut d| d.next().is_none())
        .unwrap_or(false);
    if empty {
        Ok(())
    } else {
        Err(GitError::DestNotEmpty(dest.to_path_buf()))
    }
}

/// git for the temporary clone: none of the environment that could point it
/// at another repository (a hook's `GIT_DIR`, …), and none of the user's
/// hooks (a global `core.hooksPath` would otherwise run in it).
fn git_isolated() -> Command {
    let mut cmd = git_base();
    for var in [
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_COMMON_DIR",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_NAMESPACE",
    ] {
        cmd.env_remove(var);
    }
    cmd.args([
        "-c",
        "core.hooksPath=/dev/null",
        "-c",
        "advice.detachedHead=false",
    ]);
    // `refs/replace/*` would let a ref stand in for the tagged commit's
    // objects: a checkout writes exactly the commit's tree.
    cmd.env("GIT_NO_REPLACE_OBJECTS", "1");
    cmd
}

/// How many cached checkouts of one repository builds may hold at once (a
/// release group's two workers, the daemon and a CLI run); a build that
/// finds them all held gets a temporary checkout.
const CACHE_SLOTS: usize = 4;

/// A build's checkout of a commit ([`Repo::checkout`]): a locked slot of
/// the checkout cache, or a temporary directory removed when dropped.
pub struct Checkout {
    work: PathBuf,
    hold: Hold,
}

enum Hold {
    /// The slot's lock file, flock-ed until dropped.
    Slot(#[allow(dead_code)] std::fs::File),
    Temp(#[allow(dead_code)] tempfile::TempDir),
}

impl Checkout {
    /// The checkout's work tree.
    pub fn path(&self) -> &Path {
        &self.work
    }

    /// Whether it came from the cache (else it is a temporary one).
    pub fn cached(&self) -> bool {
        matches!(self.hold, Hold::Slot(_))
    }

    /// Removes a cached slot instead of keeping it for the next build:
    /// after a build that ran without the sandbox, which could have
    /// rewritten the slot's git dir (its index included) in ways a reset
    /// would not see. The slot is cloned anew at its next use.
    pub fn discard(self) -> Result<(), GitError> {
        if let (Hold::Slot(_), Some(slot)) = (&self.hold, self.work.parent()) {
            // Still locked here: nobody else is in it.
            remove_all(slot)?;
        }
        Ok(())
    }

    /// Dates every file and directory under `dir` (a path in the work tree,
    /// `.` for all of it) that is not later than `epoch` (a build's
    /// SOURCE_DATE_EPOCH) to just after it, as in a fresh checkout written
    /// after the tag: a cached slot keeps the files an earlier release did
    /// not change with their older times, and a backend that stores file
    /// times (setuptools' sdist, clamped to the epoch, not raised to it)
    /// would otherwise write other bytes than from a fresh checkout. Builds
    /// pass their package's directory: what an sdist stores comes from
    /// there, and the index refresh that follows (so the next reset still
    /// reads only changed files) hashes every file dated again. Returns how
    /// many it changed.
    pub fn date_after(&self, epoch: i64, dir: &Path) -> Result<usize, GitError> {
        if dir
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(GitError::InvalidPath {
                path: dir.display().to_string(),
                reason: "must be a path inside the repository",
            });
        }
        let top = self.work.join(dir);
        if !top.is_dir() {
            // The build reports a package directory the commit lacks.
            return Ok(0);
        }
        let Ok(secs) = u64::try_from(epoch) else {
            return Ok(0);
        };
        let epoch = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
        // Strictly later, like a checkout written after the tag: an sdist
        // writer stores a whole-second time other than a fractional one
        // (`1700000000.0` against `1700000000`), and the clamp only
        // rewrites times later than the epoch.
        let later = epoch + std::time::Duration::from_secs(1);
        let mut changed = 0;
        let mut pending = vec![top];
        while let Some(dir) = pending.pop() {
            let entries = std::fs::read_dir(&dir)
                .map_err(io_err(format!("cannot read {}", dir.display())))?;
            for entry in entries {
                let entry = entry.map_err(io_err(format!("cannot read {}", dir.display())))?;
                let path = entry.path();
                // git tracks no `.git`: only the clone's own metadata is named so.
                if entry.file_name() == ".git" {
                    continue;
                }
                let meta = std::fs::symlink_metadata(&path)
                    .map_err(io_err(format!("cannot stat {}", path.display())))?;
                if meta.is_symlink() {
                    continue;
                }
                if meta.is_dir() {
                    pending.push(path.clone());
                }
                if meta.modified().is_ok_and(|m| m <= epoch) {
                    let file = std::fs::File::open(&path)
                        .map_err(io_err(format!("cannot open {}", path.display())))?;
                    file.set_modified(later)
                        .map_err(io_err(format!("cannot date {}", path.display())))?;
                    changed += 1;
                }
            }
        }
        if changed > 0 {
            let mut cmd = git_isolated();
            cmd.arg("-C")
                .arg(&self.work)
                .args(["update-index", "-q", "--refresh"]);
            // Exit 1 lists files that need an update: none are changed
            // (the reset proved it), so only a failure to run matters.
            let _ = cmd.output().map_err(GitError::Spawn)?;
        }
        Ok(changed)
    }
}

fn copy_file(from: &Path, to: &Path) -> Result<(), GitError> {
    std::fs::copy(from, to).map(drop).map_err(io_err(format!(
        "cannot copy {} to {}",
        from.display(),
        to.display()
    )))
}

/// Removes `path` whatever it is, including directories a build left
/// without write permission.
fn remove_all(path: &Path) -> Result<(), GitError> {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    if !meta.is_dir() {
        return std::fs::remove_file(path)
            .map_err(io_err(format!("cannot remove {}", path.display())));
    }
    if std::fs::remove_dir_all(path).is_ok() {
        return Ok(());
    }
    #[cfg(unix)]
    for entry in ignore::WalkBuilder::new(path)
        .standard_filters(false)
        .build()
        .flatten()
    {
        use std::os::unix::fs::PermissionsExt;
        if entry.file_type().is_some_and(|t| t.is_dir()) {
            let _ = std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o700));
        }
    }
    std::fs::remove_dir_all(path).map_err(io_err(format!("cannot remove {}", path.display())))
}

/// Runs `cmd` with `input` on its stdin (written from a thread: git
/// answers while it reads).
fn run_with_input(mut cmd: Command, input: Vec<u8>) -> Result<Vec<u8>, GitError> {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(GitError::Spawn)?;
    let mut stdin = child.stdin.take().expect("piped");
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        stdin.write_all(&input)
    });
    let output = child.wait_with_output().map_err(GitError::Spawn)?;
    let _ = writer.join();
    if output.status.success() {
        Ok(output.stdout)
    } else {
        let args: Vec<&OsStr> = cmd.get_args().collect();
        Err(command_error(&args, &output.stderr))
    }
}

fn checkout_in(dest: &Path, oid: &str) -> Result<(), GitError> {
    let mut cmd = git_isolated();
    cmd.arg("-C")
        .arg(dest)
        .args(["checkout", "--quiet", "--force", "--detach", oid]);
    run(cmd).map(drop)
}

/// The listed files whose blobs `dest`'s clone does not have, asked without
/// fetching (`GIT_NO_LAZY_FETCH`) in one `git cat-file --batch-check`.
fn missing_blobs<'l>(
    dest: &Path,
    listing: &'l TreeListing,
    wanted: impl Fn(&[u8]) -> bool,
) -> Result<Vec<&'l ListedEntry>, GitError> {
    let blobs: Vec<&ListedEntry> = listing
        .entries
        .iter()
        .filter(|e| e.mode != MODE_TREE && wanted(&e.path))
        .collect();
    if blobs.is_empty() {
        return Ok(Vec::new());
    }
    let mut cmd = git_isolated();
    cmd.arg("-C")
        .arg(dest)
        .args(["cat-file", "--batch-check=%(objectname)"])
        .env("GIT_NO_LAZY_FETCH", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(GitError::Spawn)?;
    let mut stdin = child.stdin.take().expect("piped");
    let input: Vec<u8> = blobs
        .iter()
        .flat_map(|e| e.oid.bytes().chain(std::iter::once(b'\n')))
        .collect();
    // From a thread: git answers while it reads.
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        stdin.write_all(&input)
    });
    let output = child.wait_with_output().map_err(GitError::Spawn)?;
    let _ = writer.join();
    if !output.status.success() {
        return Err(command_error(
            &[OsStr::new("cat-file"), OsStr::new("--batch-check")],
            &output.stderr,
        ));
    }
    // One line per object, in order: its id, or `<oid> missing`.
    let answers = String::from_utf8_lossy(&output.stdout);
    Ok(blobs
        .into_iter()
        .zip(answers.lines())
        .filter(|(_, line)| line.ends_with(" missing"))
        .map(|(entry, _)| entry)
        .collect())
}

// ---- running git -----------------------------------------------------------

fn git_base() -> Command {
    let mut cmd = Command::new("git");
    // Stable, parseable messages; everything else of the user's setup
    // (config, safe.directory, object quarantine in hooks) is respected.
    cmd.env("LC_ALL", "C")
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null());
    cmd
}

fn run(mut cmd: Command) -> Result<Vec<u8>, GitError> {
    let out = cmd.output().map_err(GitError::Spawn)?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        let args: Vec<&OsStr> = cmd.get_args().collect();
        Err(command_error(&args, &out.stderr))
    }
}

fn command_error(args: &[&OsStr], stderr: &[u8]) -> GitError {
    let args = args
        .iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    let stderr = String::from_utf8_lossy(stderr).trim().to_string();
    GitError::Command {
        args,
        stderr: if stderr.is_empty() {
            "(no error output)".into()
        } else {
            stderr
        },
    }
}

fn trim_line(out: &[u8]) -> String {
    String::from_utf8_lossy(out).trim().to_string()
}

fn libgit2(context: &str, e: git2::Error) -> GitError {
    GitError::Libgit2(format!("{context}: {}", e.message()))
}

// ---- input validation ------------------------------------------------------

fn check_hex(id: &str) -> Result<(), GitError> {
    if (4..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(GitError::InvalidObjectId(id.to_string()))
    }
}

fn commit_tree<'r>(repo: &'r git2::Repository, id: &str) -> Result<git2::Tree<'r>, GitError> {
    find_commit(repo, id)?
        .tree()
        .map_err(|e| libgit2("cannot read the commit's tree", e))
}

fn find_commit<'r>(repo: &'r git2::Repository, id: &str) -> Result<git2::Commit<'r>, GitError> {
    check_hex(id)?;
    let object = repo
        .find_object_by_prefix(id, None)
        .map_err(|e| match e.code() {
            git2::ErrorCode::NotFound => GitError::UnknownCommit(id.to_string()),
            _ => libgit2(&format!("cannot look up {id}"), e),
        })?;
    object
        .peel_to_commit()
        .map_err(|_| GitError::UnknownCommit(id.to_string()))
}

/// Splits a repository-relative path; `""` (the root) gives no parts.
fn split_path(path: &str) -> Result<Vec<&str>, GitError> {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok(vec![]);
    }
    let invalid = |reason| GitError::InvalidPath {
        path: path.to_string(),
        reason,
    };
    if trimmed.starts_with('/') {
        return Err(invalid("must be relative to the repository root"));
    }
    let parts: Vec<&str> = trimmed.split('/').collect();
    for p in &parts {
        match *p {
            "" => return Err(invalid("contains an empty component")),
            "." | ".." => return Err(invalid("must not contain . or .. components")),
            _ if p.contains('\0') => return Err(invalid("contains a NUL byte")),
            _ => {}
        }
    }
    Ok(parts)
}

// ---- parsing git's raw output ---------------------------------------------

/// Splits a raw commit/tag object into headers (continuation lines joined
/// with `\n`) and the message after the first blank line.
fn parse_object(raw: &[u8]) -> (Vec<(String, String)>, String) {
    let text = String::from_utf8_lossy(raw);
    let (head, message) = match text.find("\n\n") {
        Some(i) => (&text[..i], &text[i + 2..]),
        None => (text.trim_end_matches('\n'), ""),
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.split('\n') {
        if let Some(cont) = line.strip_prefix(' ') {
            if let Some((_, v)) = headers.last_mut() {
                v.push('\n');
                v.push_str(cont);
            }
        } else {
            let (k, v) = line.split_once(' ').unwrap_or((line, ""));
            headers.push((k.to_string(), v.to_string()));
        }
    }
    (headers, message.to_string())
}

fn parse_tag(raw: &[u8]) -> AnnotatedTag {
    let (headers, message) = parse_object(raw);
    let header = |k: &str| {
        headers
            .iter()
            .find(|(h, _)| h == k)
            .map(|(_, v)| v.as_str())
    };
    let (tagger_name, tagger_email, tagger_time) =
        header("tagger").map(parse_ident).unwrap_or_default();
    // A signature over the compat-hash form of the tag lives in a header.
    let header_sig = header("gpgsig").is_some() || header("gpgsig-sha256").is_some();
    AnnotatedTag {
        object_name: header("tag").unwrap_or_default().to_string(),
        tagger_name,
        tagger_email,
        tagger_time,
        signed: header_sig || is_signed(&message),
        message,
    }
}

/// `Name <email> 1700000000 +0100` → (name, email, time).
fn parse_ident(ident: &str) -> (Option<String>, Option<String>, Option<i64>) {
    let (Some(lt), Some(gt)) = (ident.find('<'), ident.rfind('>')) else {
        return (Some(ident.trim().to_string()), None, None);
    };
    if gt < lt {
        return (Some(ident.trim().to_string()), None, None);
    }
    let name = ident[..lt].trim().to_string();
    let email = ident[lt + 1..gt].to_string();
    let time = ident[gt + 1..]
        .split_whitespace()
        .next()
        .and_then(|t| t.parse().ok());
    (Some(name), Some(email), time)
}

fn is_signed(message: &str) -> bool {
    SIGNATURE_MARKERS.iter().any(|m| message.contains(m))
}

/// `<mode> SP <type> SP <oid> TAB <name>` (one `ls-tree -z` record).
fn parse_ls_tree(record: &[u8]) -> Option<TreeEntry> {
    let tab = record.iter().position(|&b| b == b'\t')?;
    let meta = std::str::from_utf8(&record[..tab]).ok()?;
    let mut f = meta.split(' ');
    let mode = u32::from_str_radix(f.next()?, 8).ok()?;
    let kind = f.next()?.to_string();
    let oid = f.next()?.to_string();
    Some(TreeEntry {
        mode,
        kind,
        oid,
        name: record[tab + 1..].to_vec(),
    })
}

// ---- export ------------------------------------------------------------------

/// Refuses names that could write outside the destination or into a git dir,
/// even though well-formed trees never contain them.
fn check_entry_name(name: &[u8], path: &str) -> Result<(), GitError> {
    let reason = if name.is_empty() {
        "empty name"
    } else if name.contains(&b'/') || name.contains(&b'\\') || name.contains(&0) {
        "name contains a path separator"
    } else if name == b"." || name == b".." {
        "name is . or .."
    } else if name.eq_ignore_ascii_case(b".git") {
        "name is .git"
    } else {
        return Ok(());
    };
    Err(GitError::UnsafeEntry {
        path: path.to_string(),
        reason,
    })
}

fn io_err(context: String) -> impl FnOnce(std::io::Error) -> GitError {
    move |source| GitError::Io { context, source }
}

// ---- the tree's listing and its symlinks -------------------------------------

/// How many symlinks one path may go through, as Linux allows (MAXSYMLINKS).
const MAX_LINK_HOPS: usize = 40;

/// One entry of a commit's whole tree, parents before children.
struct ListedEntry {
    /// `/`-separated, relative to the root; every component checked by
    /// [`check_entry_name`].
    path: Vec<u8>,
    mode: u32,
    oid: String,
}

/// A commit's whole tree (submodules left out) with every symlink's target:
/// what an export writes, checked before anything is written.
struct TreeListing {
    entries: Vec<ListedEntry>,
    /// Symlink path → target, as committed.
    links: std::collections::BTreeMap<Vec<u8>, Vec<u8>>,
    /// Paths of submodules (left out of the export).
    submodules: Vec<Vec<u8>>,
}

/// A committed symlink that leads outside the repository's tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscapingLink {
    /// The link, relative to the repository root.
    pub path: String,
    /// Its target as committed.
    pub target: String,
    /// Why the target is outside (`it is an absolute path`, …).
    pub why: String,
}

impl std::fmt::Display for EscapingLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} -> {} ({})", self.path, self.target, self.why)
    }
}

impl TreeListing {
    fn new(
        entries: Vec<ListedEntry>,
        links: Vec<(Vec<u8>, Vec<u8>)>,
        submodules: Vec<Vec<u8>>,
    ) -> TreeListing {
        TreeListing {
            entries,
            links: links.into_iter().collect(),
            submodules,
        }
    }

    /// Every symlink that resolves outside the tree, in path order.
    fn escaping_links(&self) -> Vec<EscapingLink> {
        self.links
            .iter()
            .filter_map(|(path, target)| {
                self.resolve_link(path, target)
                    .err()
                    .map(|why| EscapingLink {
                        path: String::from_utf8_lossy(path).into_owned(),
                        target: String::from_utf8_lossy(target).into_owned(),
                        why,
                    })
            })
            .collect()
    }

    /// Follows the link at `path` the way the kernel would inside an export
    /// of this tree: component by component, through the tree's own links.
    /// `Err` says why it leaves the tree. Components that do not exist are
    /// taken as plain directories: the kernel would fail there, which is
    /// harmless, and `..` after one still counts against the root.
    fn resolve_link(&self, path: &[u8], target: &[u8]) -> Result<(), String> {
        fn via(through: Option<(&[u8], &[u8])>) -> String {
            through.map_or(String::new(), |(link, target)| {
                format!(
                    " (through {} -> {})",
                    String::from_utf8_lossy(link),
                    String::from_utf8_lossy(target)
                )
            })
        }
        let mut dir: Vec<&[u8]> = path.split(|&b| b == b'/').collect();
        dir.pop(); // a target is relative to the link's own directory
        let mut pending: std::collections::VecDeque<&[u8]> = std::collections::VecDeque::new();
        let mut hops = 0;
        // The link being followed now, once the first one led to another.
        let mut through: Option<(&[u8], &[u8])> = None;
        let mut target = target;
        loop {
            if target.is_empty() {
                return Err(format!("the target is empty{}", via(through)));
            }
            if target.starts_with(b"/") {
                return Err(format!("the target is an absolute path{}", via(through)));
            }
            for part in target.split(|&b| b == b'/').rev() {
                pending.push_front(part);
            }
            let mut next_link = None;
            while let Some(part) = pending.pop_front() {
                match part {
                    b"" | b"." => {}
                    b".." => {
                        if dir.pop().is_none() {
                            return Err(format!(
                                "it climbs above the repository root{}",
                                via(through)
                            ));
                        }
                    }
                    name => {
                        dir.push(name);
                        if let Some((link, link_target)) =
                            self.links.get_key_value(&dir.join(&b'/'))
                        {
                            dir.pop();
                            next_link = Some((link.as_slice(), link_target.as_slice()));
                            break;
                        }
                    }
                }
            }
            let Some(link) = next_link else {
                return Ok(());
            };
            hops += 1;
            if hops > MAX_LINK_HOPS {
                return Err(format!(
                    "it goes through more than {MAX_LINK_HOPS} links (a loop)"
                ));
            }
            through = Some(link);
            target = link.1;
        }
    }

    /// Refuses the first symlink that leads outside the tree.
    fn check_links(&self) -> Result<(), GitError> {
        match self.escaping_links().into_iter().next() {
            Some(link) => Err(GitError::LinkOutsideTree {
                path: link.path,
                target: link.target,
                why: link.why,
            }),
            None => Ok(()),
        }
    }
}

/// The whole tree of `tree`, walked without recursion (a tree may nest as
/// deep as its paths are long), with each symlink's target read.
fn listing_libgit2(
    repo: &git2::Repository,
    tree: &git2::Tree<'_>,
) -> Result<TreeListing, GitError> {
    let mut entries = Vec::new();
    let mut links = Vec::new();
    let mut submodules = Vec::new();
    let mut pending: Vec<(git2::Oid, Vec<u8>)> = vec![(tree.id(), Vec::new())];
    while let Some((id, prefix)) = pending.pop() {
        let dir = String::from_utf8_lossy(&prefix).into_owned();
        let tree = repo
            .find_tree(id)
            .map_err(|e| libgit2(&format!("cannot read directory {dir}"), e))?;
        for entry in tree.iter() {
            let name = entry.name_bytes();
            let path = join_path(&prefix, name);
            let rel = String::from_utf8_lossy(&path).into_owned();
            check_entry_name(name, &rel)?;
            let mode = u32::try_from(entry.filemode_raw()).unwrap_or(0);
            match mode {
                MODE_GITLINK => {
                    submodules.push(path);
                    continue;
                }
                MODE_TREE => pending.push((entry.id(), path.clone())),
                MODE_LINK => {
                    let blob = repo
                        .find_blob(entry.id())
                        .map_err(|e| libgit2(&format!("cannot read {rel}"), e))?;
                    links.push((path.clone(), blob.content().to_vec()));
                }
                _ if mode & 0o170000 == 0o100000 => {}
                _ => {
                    return Err(GitError::UnsafeEntry {
                        path: rel,
                        reason: "unknown file mode",
                    });
                }
            }
            entries.push(ListedEntry {
                path,
                mode,
                oid: entry.id().to_string(),
            });
        }
    }
    Ok(TreeListing::new(entries, links, submodules))
}

fn join_path(prefix: &[u8], name: &[u8]) -> Vec<u8> {
    let mut path = prefix.to_vec();
    if !path.is_empty() {
        path.push(b'/');
    }
    path.extend_from_slice(name);
    path
}

/// Writes a checked listing into `dest`: directories and files first, then
/// the symlinks, so nothing is ever written through one.
fn write_listing(
    repo: &git2::Repository,
    listing: &TreeListing,
    dest: &Path,
) -> Result<(), GitError> {
    for entry in &listing.entries {
        let target = dest.join(os_str_from_bytes(&entry.path)?);
        let rel = || String::from_utf8_lossy(&entry.path).into_owned();
        match entry.mode {
            // create_dir (not create_dir_all) fails on an existing path,
            // so a duplicate name cannot redirect writes.
            MODE_TREE => std::fs::create_dir(&target)
                .map_err(io_err(format!("cannot create {}", target.display())))?,
            MODE_LINK => {}
            mode => {
                let blob = git2::Oid::from_str(&entry.oid)
                    .and_then(|id| repo.find_blob(id))
                    .map_err(|e| libgit2(&format!("cannot read {}", rel()), e))?;
                write_file(blob.content(), &target, mode == MODE_EXEC)?;
            }
        }
    }
    for (path, link_target) in &listing.links {
        write_symlink(link_target, &dest.join(os_str_from_bytes(path)?))?;
    }
    Ok(())
}

fn write_file(content: &[u8], target: &Path, executable: bool) -> Result<(), GitError> {
    use std::io::Write;
    let ctx = || format!("cannot write {}", target.display());
    let mut opts = std::fs::OpenOptions::new();
    // create_new: never follow or overwrite something already there.
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(if executable { 0o755 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = executable;
    let mut file = opts.open(target).map_err(io_err(ctx()))?;
    file.write_all(content).map_err(io_err(ctx()))?;
    #[cfg(unix)]
    if executable {
        // The creation mode is reduced by the umask; git checks out 755.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o755))
            .map_err(io_err(ctx()))?;
    }
    Ok(())
}

fn write_symlink(link_target: &[u8], target: &Path) -> Result<(), GitError> {
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(os_str_from_bytes(link_target)?, target).map_err(io_err(
            format!("cannot create symlink {}", target.display()),
        ))
    }
    #[cfg(not(unix))]
    {
        // Like git with core.symlinks=false: a file holding the target.
        write_file(link_target, target, false)
    }
}

/// A relative path as the listing spells it: components joined by `/`.
fn path_bytes(path: &Path) -> Vec<u8> {
    let parts: Vec<Vec<u8>> = path
        .components()
        .map(|c| c.as_os_str().as_encoded_bytes().to_vec())
        .collect();
    parts.join(&b'/')
}

#[cfg(unix)]
fn os_str_from_bytes(b: &[u8]) -> Result<&OsStr, GitError> {
    use std::os::unix::ffi::OsStrExt;
    Ok(OsStr::from_bytes(b))
}

#[cfg(not(unix))]
fn os_str_from_bytes(b: &[u8]) -> Result<&OsStr, GitError> {
    std::str::from_utf8(b)
        .map(OsStr::new)
        .map_err(|_| GitError::UnsafeEntry {
            path: String::from_utf8_lossy(b).into_owned(),
            reason: "name is not valid UTF-8",
        })
}

/// Why unpacking stopped: a bad stream (git's own error explains it better)
/// or something on our side.
enum Unpack {
    Stream(GitError),
    Write(GitError),
}

/// Unpacks `git archive`'s tar of the commit `listing` was made from: only
/// the paths it lists, and only the symlinks it checked, exactly as listed.
fn unpack_tar(stream: impl Read, dest: &Path, listing: &TreeListing) -> Result<(), Unpack> {
    let tar_err = |source| {
        Unpack::Stream(GitError::Io {
            context: "cannot read the tar stream from git archive".into(),
            source,
        })
    };
    let refuse = |path: &Path, reason| {
        Unpack::Write(GitError::UnsafeEntry {
            path: path.display().to_string(),
            reason,
        })
    };
    let mut archive = tar::Archive::new(stream);
    for entry in archive.entries().map_err(tar_err)? {
        let mut entry = entry.map_err(tar_err)?;
        let path = entry.path().map_err(tar_err)?.into_owned();
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() {
            continue; // git's commit-id comment
        }
        if !(kind.is_file() || kind.is_dir() || kind.is_symlink()) {
            return Err(refuse(&path, "unexpected archive entry type"));
        }
        let listed = path_bytes(&path);
        if kind.is_dir() && listing.submodules.contains(&listed) {
            continue; // submodule placeholder
        }
        if kind.is_symlink() {
            let link_target = entry.link_name_bytes().unwrap_or_default();
            if listing.links.get(&listed).map(Vec::as_slice) != Some(link_target.as_ref()) {
                return Err(refuse(&path, "symlink is not the one in the commit's tree"));
            }
        }
        if path
            .components()
            .any(|c| matches!(c, Component::Normal(n) if n.eq_ignore_ascii_case(".git")))
        {
            return Err(refuse(&path, "name is .git"));
        }
        // unpack_in refuses `..`, absolute paths and writes through symlinks
        // that leave `dest`; it reports such entries as skipped.
        let inside = entry.unpack_in(dest).map_err(|source| {
            Unpack::Write(GitError::Io {
                context: format!("cannot write {} into {}", path.display(), dest.display()),
                source,
            })
        })?;
        if !inside {
            return Err(refuse(&path, "would be written outside the destination"));
        }
    }
    Ok(())
}

// Repository set-up through the git CLI, for the demo (and tests): the same
// commands a user would type, with a fixed identity so they work on a
// machine without git config.

fn run_git_in(dir: &Path, args: &[&str]) -> Result<(), GitError> {
    let mut cmd = git_base();
    cmd.arg("-C").arg(dir).args([
        "-c",
        "user.name=tagpub demo",
        "-c",
        "user.email=demo@tagpub.invalid",
        "-c",
        "commit.gpgsign=false",
        "-c",
        "tag.gpgsign=false",
    ]);
    cmd.args(args);
    run(cmd).map(drop)
}

/// `git init` with `main` as the initial branch.
pub fn init_repository(dir: &Path) -> Result<(), GitError> {
    std::fs::create_dir_all(dir).map_err(|source| GitError::Io {
        context: format!("cannot create {}", dir.display()),
        source,
    })?;
    run_git_in(dir, &["init", "--quiet", "--initial-branch=main"])
}

/// Stages everything and commits it.
pub fn commit_all(dir: &Path, message: &str) -> Result<(), GitError> {
    run_git_in(dir, &["add", "--all"])?;
    run_git_in(dir, &["commit", "--quiet", "--no-verify", "-m", message])
}

/// `git tag -a NAME -m MESSAGE` at HEAD.
pub fn create_annotated_tag(dir: &Path, name: &str, message: &str) -> Result<(), GitError> {
    run_git_in(dir, &["tag", "-a", "-m", message, "--", name])
}

#[cfg(test)]
mod tests {
    use super::without_userinfo;

    #[test]
    fn a_remote_url_in_a_message_has_no_credential() {
        assert_eq!(
            without_userinfo("https://user:tok@example.org/r.git"),
            "https://***@example.org/r.git"
        );
        assert_eq!(
            without_userinfo("https://example.org/a@b.git"),
            "https://example.org/a@b.git"
        );
        assert_eq!(without_userinfo("file:///srv/r.git"), "file:///srv/r.git");
        assert_eq!(without_userinfo("git@host:r.git"), "git@host:r.git");
    }
}
