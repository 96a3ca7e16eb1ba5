//! git with a fixed identity and no user or system config, so what a test
//! commits does not depend on the machine it runs on.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

/// The identity of every commit and tag a fixture makes.
pub const NAME: &str = "Test";
pub const EMAIL: &str = "test@example.invalid";

/// `program` (a git) in `dir` with the fixed identity and no user/system config.
pub fn command_with(program: impl AsRef<OsStr>, dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(program);
    command
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", NAME)
        .env("GIT_AUTHOR_EMAIL", EMAIL)
        .env("GIT_COMMITTER_NAME", NAME)
        .env("GIT_COMMITTER_EMAIL", EMAIL);
    command
}

/// `git` in `dir`, as [`command_with`].
pub fn command(dir: &Path, args: &[&str]) -> Command {
    command_with("git", dir, args)
}

/// Runs `command`; its trimmed stdout, or what failed with its stderr.
pub fn output(mut command: Command) -> Result<String, String> {
    let output = command
        .output()
        .map_err(|e| format!("{command:?} did not start: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{command:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// Runs git in `dir` (fixed identity); its trimmed stdout. Panics on failure.
#[track_caller]
pub fn git(dir: &Path, args: &[&str]) -> String {
    output(command(dir, args)).unwrap_or_else(|e| panic!("{e}"))
}

/// `git init` of `dir` on branch `main`, with `extra` init options.
#[track_caller]
pub fn init(dir: &Path, extra: &[&str]) {
    let mut args = vec!["init", "--quiet", "--initial-branch=main"];
    args.extend_from_slice(extra);
    git(dir, &args);
}

/// A linked worktree of the repository at `dir`, in a temp dir of its own
/// (kept while the returned guard lives); its work tree path.
#[track_caller]
pub fn linked_worktree(dir: &Path) -> (tempfile::TempDir, std::path::PathBuf) {
    let temp = tempfile::tempdir().unwrap();
    let path = temp.path().join("wt");
    git(dir, &["worktree", "add", "-q", path.to_str().unwrap()]);
    (temp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_carry_the_fixed_identity() {
        let dir = tempfile::tempdir().unwrap();
        init(dir.path(), &[]);
        std::fs::write(dir.path().join("f"), "x").unwrap();
        git(dir.path(), &["add", "f"]);
        git(dir.path(), &["commit", "--quiet", "-m", "one"]);
        assert_eq!(
            git(dir.path(), &["log", "-1", "--format=%an <%ae> / %cn <%ce>"]),
            "Test <test@example.invalid> / Test <test@example.invalid>"
        );
        assert_eq!(git(dir.path(), &["branch", "--show-current"]), "main");
    }

    #[test]
    fn a_failing_git_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let err = output(command(dir.path(), &["rev-parse", "HEAD"])).unwrap_err();
        assert!(err.contains("not a git repository"), "{err}");
    }
}
