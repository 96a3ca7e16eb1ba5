//! The build's checkout of a tagged commit: a shared clone of this
//! repository (`git clone --shared`, no object copied) with the commit checked
//! out detached, made by the git CLI whatever the backend. It writes only
//! under the destination it is given, never to this repository. `cache.rs`
//! keeps such checkouts between builds; `tree.rs` writes a bare tree without
//! git metadata (the benchmark's and tests' reference).

pub(super) mod cache;
pub(super) mod tree;

use std::path::{Path, PathBuf};
use std::process::Command;

use super::cli::{git_base, run, run_with_input, trim_line};
use super::listing::{ListedEntry, MODE_TREE, TreeListing};
use super::{GitError, Repo, os_str_from_bytes, split_path};

impl Repo {
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
        let (oid, listing) = self.objects().commit_listing(commit)?;
        listing.check_links()?;
        self.clone_shared(dest)?;
        self.check_out(&oid, &listing, dest, sparse)
    }

    /// Checks `oid` out (detached, `-f`) in the clone at `dest`, with this
    /// repository's promisor remotes lent for the time of the checkout, and
    /// names the first file whose blob is still missing.
    pub(in crate::git) fn check_out(
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

    /// The repository's common git dir (a linked worktree's git dir is not
    /// clonable; its common dir is).
    pub(in crate::git) fn common_dir(&self) -> Result<PathBuf, GitError> {
        let common = self.git(["rev-parse", "--git-common-dir"])?;
        let common = common.strip_suffix(b"\n").unwrap_or(&common);
        // Relative output is relative to where git ran: the working tree root.
        Ok(self.cli.workdir.join(os_str_from_bytes(common)?))
    }

    /// `git clone --shared --no-checkout` of this repository into `dest`:
    /// alternates point at our object store, refs (every tag) are copied.
    pub(in crate::git) fn clone_shared(&self, dest: &Path) -> Result<(), GitError> {
        clone_shared(&self.common_dir()?, dest, None)
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
}

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

pub(in crate::git) fn check_dest_empty(dest: &Path) -> Result<(), GitError> {
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
pub(in crate::git) fn git_isolated() -> Command {
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

/// The one `git clone --shared` (the export's temporary clone and the
/// checkout cache's slots): no object copied (alternates point at
/// `common`'s store), no checkout, no hooks or other template files;
/// `separate_git_dir` keeps the git dir apart from the work tree `dest`.
pub(in crate::git) fn clone_shared(
    common: &Path,
    dest: &Path,
    separate_git_dir: Option<&Path>,
) -> Result<(), GitError> {
    let mut cmd = git_isolated();
    cmd.args([
        "clone",
        "--quiet",
        "--shared",
        "--no-checkout",
        "--template=",
    ]);
    if let Some(git_dir) = separate_git_dir {
        cmd.arg("--separate-git-dir").arg(git_dir);
    }
    cmd.arg("--").arg(common).arg(dest);
    run(cmd).map(drop)
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
        .env("GIT_NO_LAZY_FETCH", "1");
    let input: Vec<u8> = blobs
        .iter()
        .flat_map(|e| e.oid.bytes().chain(std::iter::once(b'\n')))
        .collect();
    let stdout = run_with_input(cmd, input)?;
    // One line per object, in order: its id, or `<oid> missing`.
    let answers = String::from_utf8_lossy(&stdout);
    Ok(blobs
        .into_iter()
        .zip(answers.lines())
        .filter(|(_, line)| line.ends_with(" missing"))
        .map(|(entry, _)| entry)
        .collect())
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
