//! Installing tagpub like a Python tool, and what an install brings along:
//! shell completions and man pages.
//!
//! `pip_install_builds_a_working_tagpub` compiles the crate through maturin
//! (pyproject.toml) with the dev profile in this test binary's Cargo target
//! dir, where `cargo test` has just built the same crates: cargo reuses them
//! and only re-links the binary (maturin's `cargo rustc` flags differ). The
//! other tests run their own hard link of the test build
//! (`common::project::tagpub_bin`), so that re-link cannot pull the binary
//! from under them. Set `TAGPUB_SKIP_PIP_INSTALL_TEST=1` to leave it out.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::project::{Run, tagpub_bin};
use crate::common::venv_bin;

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

fn tagpub(args: &[&str]) -> Run {
    Run::from_output(
        Command::new(tagpub_bin())
            .args(args)
            .env("NO_COLOR", "1")
            .output()
            .expect("tagpub runs"),
    )
}

/// `git status` of the tagpub checkout, ignored files included, as a set
/// of lines: what a build left in the work tree shows up here.
fn worktree_status() -> BTreeSet<String> {
    let output = Command::new("git")
        .args([
            "status",
            "--porcelain",
            "--ignored",
            "--untracked-files=all",
        ])
        .current_dir(MANIFEST_DIR)
        .output()
        .expect("git runs");
    assert!(output.status.success(), "git status failed");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// The Cargo target dir this test binary was built in (`…/debug/deps/install-…`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.ancestors()
        .nth(3)
        .expect("the test binary lives in <target>/<profile>/deps")
        .to_path_buf()
}

#[test]
fn pip_install_builds_a_working_tagpub() {
    if std::env::var_os("TAGPUB_SKIP_PIP_INSTALL_TEST").is_some_and(|v| v == "1") {
        eprintln!("TAGPUB_SKIP_PIP_INSTALL_TEST=1: not testing `pip install .`");
        return;
    }
    // Before cargo re-links target/debug/tagpub below: every other test
    // runs this link of the test build.
    tagpub_bin();
    let temp = tempfile::tempdir().unwrap();
    let venv = temp.path().join("venv");
    let status = Command::new(venv_bin("python"))
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .expect("python -m venv");
    assert!(status.success());

    // No network: pip gets maturin's PEP 517 backend from the dev venv
    // instead of an isolated build env downloaded from the index. Only the
    // `maturin` module is put on PYTHONPATH, not the dev venv's other packages.
    let locate = Command::new(venv_bin("python"))
        .args([
            "-c",
            "import maturin, os; print(os.path.dirname(maturin.__file__))",
        ])
        .output()
        .expect("python runs");
    assert!(locate.status.success(), "maturin is not in the dev venv");
    let maturin_module = PathBuf::from(String::from_utf8(locate.stdout).unwrap().trim());
    let backend = temp.path().join("backend");
    std::fs::create_dir_all(&backend).unwrap();
    std::os::unix::fs::symlink(&maturin_module, backend.join("maturin")).unwrap();
    let path = std::env::join_paths(
        std::iter::once(venv_bin("maturin").parent().unwrap().to_path_buf()).chain(
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
        ),
    )
    .unwrap();

    let before = worktree_status();
    let mut pip = Command::new(venv.join("bin/pip"));
    // What `cargo test` sets for this process (CARGO_MANIFEST_DIR, CARGO_PKG_*,
    // …) would look like changed build inputs to the cargo that maturin
    // runs (ring's build script tracks CARGO_MANIFEST_DIR), and it would
    // rebuild: it gets the environment a user's shell has.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if (name == "CARGO" || name.starts_with("CARGO_")) && name != "CARGO_HOME" {
            pip.env_remove(&*name);
        }
    }
    let output = pip
        .args([
            "install",
            "--no-index",
            "--no-build-isolation",
            "--no-cache-dir",
            "--quiet",
            ".",
        ])
        .current_dir(MANIFEST_DIR)
        .env("PIP_CONFIG_FILE", "/dev/null")
        .env_remove("PIP_FIND_LINKS")
        .env("PYTHONPATH", &backend)
        .env("PATH", path)
        // The dev profile and this test's target dir: the compiled crates
        // are reused, so the build only links the binary.
        .env("MATURIN_PEP517_ARGS", "--profile dev")
        .env("CARGO_TARGET_DIR", target_dir())
        .output()
        .expect("pip runs");
    assert!(
        output.status.success(),
        "pip install . failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    // Whatever cargo did to target/debug/tagpub, the other tests' link
    // still runs the test build.
    assert_ne!(tagpub_bin(), Path::new(env!("CARGO_BIN_EXE_tagpub")));
    tagpub(&["--version"]).assert_ok();

    let installed = venv.join("bin/tagpub");
    let version = Command::new(&installed)
        .arg("--version")
        .output()
        .expect("the installed tagpub runs");
    assert!(version.status.success());
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("tagpub {}", env!("CARGO_PKG_VERSION"))
    );
    let help = Command::new(&installed).arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("release"));

    // pip builds in place: nothing may be left in the checkout.
    assert_eq!(
        worktree_status(),
        before,
        "`pip install .` left files in {MANIFEST_DIR}"
    );
}

/// Subcommands every completion script and man page must know.
const SUBCOMMANDS: &[&str] = &["release", "plan", "ci", "daemon", "token", "completions"];

#[test]
fn completions_for_every_shell_know_the_subcommands() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let run = tagpub(&["completions", shell]);
        run.assert_ok();
        for sub in SUBCOMMANDS {
            assert!(run.stdout.contains(sub), "{shell} completions lack `{sub}`");
        }
    }
    // Nested subcommands and their options are completed too.
    let bash = tagpub(&["completions", "bash"]).stdout;
    assert!(bash.contains("--check") && bash.contains("github") && bash.contains("gitlab"));

    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("tagpub.bash");
    std::fs::write(&script, &bash).unwrap();
    let check = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    // Loaded into bash, it completes `tagpub rel` to `release`.
    let complete = Command::new("bash")
        .arg("-c")
        .arg(
            "source \"$1\"; COMP_WORDS=(tagpub rel); COMP_CWORD=1; COMP_LINE='tagpub rel'; COMP_POINT=${#COMP_LINE}; _tagpub tagpub rel tagpub; printf '%s\\n' \"${COMPREPLY[@]}\"",
        )
        .arg("bash")
        .arg(&script)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&complete.stdout).trim(), "release");

    tagpub(&["completions", "tcsh"]).assert_fails(2, "invalid value 'tcsh'");
}

#[test]
fn man_pages_are_generated_from_the_commands() {
    let run = tagpub(&["man"]);
    run.assert_ok();
    assert!(
        run.stdout.starts_with(".ie \\n(.g .ds Aq"),
        "{}",
        &run.stdout[..80.min(run.stdout.len())]
    );
    assert!(run.stdout.contains(".TH tagpub 1"), "no title");
    assert!(run.stdout.contains(".SH SUBCOMMANDS"));
    for sub in SUBCOMMANDS {
        assert!(
            run.stdout.contains(&format!("tagpub\\-{sub}(1)")),
            "the man page does not list `{sub}`"
        );
    }
    // The hidden command is not documented.
    assert!(!run.stdout.contains("tagpub\\-man"), "{}", run.stdout);

    let dir = tempfile::tempdir().unwrap();
    tagpub(&["man", "--out-dir", dir.path().to_str().unwrap()]).assert_ok();
    for page in [
        "tagpub.1",
        "tagpub-release.1",
        "tagpub-ci.1",
        "tagpub-ci-github.1",
    ] {
        let text = std::fs::read_to_string(dir.path().join(page))
            .unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.contains(".TH "), "{page}");
    }
    assert!(!dir.path().join("tagpub-hook.1").exists());
    let release = std::fs::read_to_string(dir.path().join("tagpub-release.1")).unwrap();
    assert!(release.contains("dry\\-run"), "{release}");

    // groff, where present, renders it without warnings.
    if Path::new("/usr/bin/groff").exists() {
        let render = Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .arg(dir.path().join("tagpub.1"))
            .output()
            .unwrap();
        assert!(render.status.success());
        assert!(
            render.stderr.is_empty(),
            "groff warnings: {}",
            String::from_utf8_lossy(&render.stderr)
        );
    } else {
        eprintln!("groff is not installed: the man page was not rendered");
    }
}
