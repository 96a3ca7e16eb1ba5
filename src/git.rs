//! Everything git. git2 (vendored libgit2) first; the `git` CLI where libgit2
//! cannot open the repository (reftable refs, SHA-256 object format).
//!
//! INTERFACE STUB — implemented by the git helper.

use std::path::{Path, PathBuf};

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

/// Which engine serves this repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Libgit2,
    Cli,
}

pub struct Repo {
    _private: (),
}

impl Repo {
    /// Finds the repository containing `path` (like `git rev-parse --show-toplevel`).
    pub fn discover(_path: &Path) -> Result<Repo, GitError> {
        todo!()
    }
    pub fn backend(&self) -> Backend {
        todo!()
    }
    /// The working tree root.
    pub fn workdir(&self) -> &Path {
        todo!()
    }
    /// The git dir (`.git`, or the worktree's git dir).
    pub fn git_dir(&self) -> &Path {
        todo!()
    }
    /// All tag names (short), sorted.
    pub fn tag_names(&self) -> Result<Vec<String>, GitError> {
        todo!()
    }
    /// `None` when no such tag exists.
    pub fn tag(&self, _name: &str) -> Result<Option<TagInfo>, GitError> {
        todo!()
    }
    /// HEAD's commit id (hex).
    pub fn head_commit(&self) -> Result<String, GitError> {
        todo!()
    }
    /// Committer time of a commit, seconds since the epoch.
    pub fn commit_time(&self, _commit: &str) -> Result<i64, GitError> {
        todo!()
    }
    /// A file's bytes at a commit; `None` if the path is not a blob there.
    /// `path` is relative to the repository root, `/`-separated.
    pub fn read_file(&self, _commit: &str, _path: &str) -> Result<Option<Vec<u8>>, GitError> {
        todo!()
    }
    /// Names of the entries of a directory at a commit (`""` = root); empty if absent.
    pub fn list_dir(&self, _commit: &str, _path: &str) -> Result<Vec<String>, GitError> {
        todo!()
    }
    /// Writes the commit's whole tree into `dest` (which must exist and be empty):
    /// regular files, executable bits and symlinks; submodules are left out.
    pub fn export(&self, _commit: &str, _dest: &Path) -> Result<(), GitError> {
        todo!()
    }
}

// Repository set-up through the git CLI, for the demo (and tests): the same
// commands a user would type, with a fixed identity so they work on a
// machine without git config.

fn run_git_in(dir: &Path, args: &[&str]) -> Result<(), GitError> {
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=tagpub demo",
            "-c",
            "user.email=demo@tagpub.invalid",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "tag.gpgsign=false",
        ])
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(GitError::Spawn)?;
    if output.status.success() {
        Ok(())
    } else {
        Err(GitError::Command {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        })
    }
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
