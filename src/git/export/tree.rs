//! [`Repo::export_tree`]: a commit's tree written as plain files, without
//! git metadata, by each backend's writer (libgit2: blob by blob from the
//! checked listing; CLI: `git archive`'s tar, unpacked against it). Writes
//! only into the empty destination it is given.

use std::io::Read;
use std::path::{Component, Path};

use super::check_dest_empty;
use crate::git::listing::{MODE_EXEC, MODE_LINK, MODE_TREE, TreeListing};
use crate::git::{GitError, Repo, io_err, libgit2_error, os_str_from_bytes, path_bytes};

impl Repo {
    /// Writes the commit's whole tree into `dest` (which must exist and be
    /// empty) without any git metadata: regular files, executable bits and
    /// symlinks; submodules are left out. What builds used before they got a
    /// real checkout ([`Repo::export`]); kept for the checkout benchmark and
    /// as the tree-only reference in tests. Same refusals as `export`.
    pub fn export_tree(&self, commit: &str, dest: &Path) -> Result<(), GitError> {
        check_dest_empty(dest)?;
        self.objects().export_tree(commit, dest)
    }
}

/// Writes a checked listing into `dest`: directories and files first, then
/// the symlinks, so nothing is ever written through one.
pub(in crate::git) fn write_listing(
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
                    .map_err(|e| libgit2_error(&format!("cannot read {}", rel()), e))?;
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

/// Why unpacking stopped: a bad stream (git's own error explains it better)
/// or something on our side.
pub(in crate::git) enum Unpack {
    Stream(GitError),
    Write(GitError),
}

/// Unpacks `git archive`'s tar of the commit `listing` was made from: only
/// the paths it lists, and only the symlinks it checked, exactly as listed.
pub(in crate::git) fn unpack_tar(
    stream: impl Read,
    dest: &Path,
    listing: &TreeListing,
) -> Result<(), Unpack> {
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
