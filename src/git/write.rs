//! Repository set-up through the git CLI, for the demo (and tests): the same
//! commands a user would type, with a fixed identity so they work on a
//! machine without git config. The only module of `git` that writes to a
//! repository; nothing in the release path uses it.

use std::path::Path;

use super::GitError;
use super::cli::{git_base, run};

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
