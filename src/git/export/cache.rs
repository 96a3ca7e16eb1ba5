//! The checkout cache: per repository, a few slots (shared clones) that a
//! build locks and resets to its commit instead of cloning anew. Writes only
//! under tagpub's cache directory.

use std::path::{Component, Path, PathBuf};

use super::{clone_shared, git_isolated};
use crate::git::cli::{run, run_with_input};
use crate::git::listing::TreeListing;
use crate::git::{GitError, Repo, io_err, path_bytes};

impl Repo {
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
        let (oid, listing) = self.objects().commit_listing(commit)?;
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
                    let error = crate::exit::chain_text(&err);
                    tracing::warn!(%error, "the checkout cache failed; using a temporary checkout")
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
                    let error = crate::exit::chain_text(&err);
                    tracing::info!(slot = %slot.display(), %error, "cached checkout unusable: cloning it again");
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
            clone_shared(common, &work, Some(&git_dir))?;
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
