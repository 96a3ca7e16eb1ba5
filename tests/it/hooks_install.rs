//! `tagpub hooks install|uninstall|status` against real repositories, and the
//! installed scripts run by real git: chaining an existing hook as
//! `<name>.legacy`, `core.hooksPath`, linked worktrees, restoring exactly
//! what was there, and hooks that never get in git's way.
//!
//! What `tagpub hook pre-push` decides is tested in `pre_push.rs`.

use crate::common;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::common::project::{Project, Run, git};

const ZERO: &str = "0000000000000000000000000000000000000000";

/// Every entry under `dir`: relative path → (bytes, permission bits); a
/// directory has no bytes. Empty when `dir` does not exist.
fn tree(dir: &Path) -> BTreeMap<PathBuf, (Option<Vec<u8>>, u32)> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, (Option<Vec<u8>>, u32)>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            let mode = meta.permissions().mode() & 0o7777;
            if meta.is_dir() {
                out.insert(rel, (None, mode));
                walk(root, &path, out);
            } else {
                out.insert(rel, (Some(fs::read(&path).unwrap()), mode));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn write_script(path: &Path, content: &str, mode: u32) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn hooks_dir(project: &Project) -> PathBuf {
    project.root.join(".git/hooks")
}

/// git with the test identity, no user config and tagpub's dirs isolated
/// (the hooks run tagpub, which must not reach a real daemon).
fn git_command(project: &Project, dir: &Path, args: &[&str]) -> Command {
    git_command_with(Path::new("git"), project, dir, args)
}

fn git_command_with(program: &Path, project: &Project, dir: &Path, args: &[&str]) -> Command {
    let mut command = common::project::git_command(program, dir, args);
    project.with_tagpub_dirs(&mut command).stdin(Stdio::null());
    command
}

fn git_run(project: &Project, args: &[&str]) -> Output {
    git_command(project, &project.root, args).output().unwrap()
}

fn status_json(project: &Project) -> serde_json::Value {
    let run = project.run(&["hooks", "status", "--json"]);
    run.assert_ok();
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

fn states(status: &serde_json::Value) -> Vec<(String, String)> {
    status["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["name"].as_str().unwrap().to_string(),
                h["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn install(project: &Project) -> Run {
    let run = project.run(&["hooks", "install"]);
    run.assert_ok();
    run
}

fn bare_remote(project: &Project) -> PathBuf {
    let remote = project.temp.path().join("remote.git");
    git(
        project.temp.path(),
        &["init", "--quiet", "--bare", "remote.git"],
    );
    remote
}

#[test]
fn a_fresh_repository_gets_both_hooks() {
    let project = Project::sample(&[]);
    let before = tree(&hooks_dir(&project));
    let run = install(&project);
    assert!(run.stderr.contains("pre-push: installed"), "{}", run.stderr);
    assert!(run.stderr.contains("reference-transaction: installed"));

    for name in tagpub::hooks::HOOK_NAMES {
        let path = hooks_dir(&project).join(name);
        assert_eq!(mode(&path), 0o755, "{name}");
        let text = fs::read_to_string(&path).unwrap();
        let second = text.lines().nth(1).unwrap();
        assert_eq!(
            second,
            format!(
                "# tagpub-hook: {name} (installed by tagpub hooks install; \
                 tagpub hooks uninstall restores what was here)"
            )
        );
        // The binary is called by the path recorded at install time.
        assert!(
            text.contains(&format!(
                "TAGPUB='{}'\n",
                common::project::tagpub_bin().display()
            )),
            "{text}"
        );
    }

    let status = status_json(&project);
    assert_eq!(
        states(&status),
        pairs(&[
            ("pre-push", "installed"),
            ("reference-transaction", "installed")
        ])
    );
    assert_eq!(
        Path::new(status["hooks_dir"].as_str().unwrap()),
        fs::canonicalize(hooks_dir(&project)).unwrap()
    );
    assert_eq!(status["daemon"]["listening"], false);

    let run = project.run(&["hooks", "uninstall"]);
    run.assert_ok();
    assert!(run.stderr.contains("pre-push: removed"), "{}", run.stderr);
    assert_eq!(tree(&hooks_dir(&project)), before);
    assert_eq!(
        states(&status_json(&project)),
        pairs(&[
            ("pre-push", "missing"),
            ("reference-transaction", "missing")
        ])
    );
}

#[test]
fn status_says_when_a_daemon_listens() {
    let project = Project::sample(&[]);
    let run_dir = project.state.join("run");
    fs::create_dir_all(&run_dir).unwrap();
    let _listener = std::os::unix::net::UnixListener::bind(run_dir.join("tagpub.sock")).unwrap();
    let status = status_json(&project);
    assert_eq!(status["daemon"]["listening"], true, "{status}");
    let run = project.run(&["hooks", "status"]);
    assert!(run.stderr.contains("daemon listening"), "{}", run.stderr);
}

#[test]
fn an_existing_hook_is_chained_and_restored_exactly() {
    let project = Project::sample(&[]);
    let dir = hooks_dir(&project);
    // An unusual mode and no trailing newline: both must come back as they were.
    let original = "#!/bin/sh\n# the team's own pre-push\nexit 0";
    write_script(&dir.join("pre-push"), original, 0o750);
    let before = tree(&dir);

    let run = install(&project);
    assert!(
        run.stderr
            .contains("pre-push: installed, chained pre-push.legacy"),
        "{}",
        run.stderr
    );
    assert_eq!(
        fs::read_to_string(dir.join("pre-push.legacy")).unwrap(),
        original
    );
    assert_eq!(mode(&dir.join("pre-push.legacy")), 0o750);
    assert_eq!(
        states(&status_json(&project)),
        pairs(&[
            ("pre-push", "chained"),
            ("reference-transaction", "installed")
        ])
    );

    let run = project.run(&["hooks", "uninstall"]);
    run.assert_ok();
    assert!(
        run.stderr
            .contains("pre-push: removed, restored pre-push.legacy as pre-push"),
        "{}",
        run.stderr
    );
    assert_eq!(tree(&dir), before);
}

#[test]
fn installing_twice_changes_nothing() {
    let project = Project::sample(&[]);
    let dir = hooks_dir(&project);
    write_script(
        &dir.join("reference-transaction"),
        "#!/bin/sh\nexit 0\n",
        0o755,
    );
    install(&project);
    let once = tree(&dir);
    let mtimes: Vec<_> = tagpub::hooks::HOOK_NAMES
        .iter()
        .map(|n| fs::metadata(dir.join(n)).unwrap().modified().unwrap())
        .collect();
    let run = install(&project);
    assert!(
        run.stderr.contains("pre-push: already installed")
            && run
                .stderr
                .contains("reference-transaction: already installed"),
        "{}",
        run.stderr
    );
    assert_eq!(tree(&dir), once);
    let again: Vec<_> = tagpub::hooks::HOOK_NAMES
        .iter()
        .map(|n| fs::metadata(dir.join(n)).unwrap().modified().unwrap())
        .collect();
    assert_eq!(mtimes, again, "an up-to-date hook is not even rewritten");
}

#[test]
fn a_relative_core_hooks_path_is_honoured() {
    let project = Project::sample(&[]);
    git(&project.root, &["config", "core.hooksPath", ".githooks"]);
    let git_hooks_before = tree(&hooks_dir(&project));
    // From a subdirectory: the path is relative to the working tree root.
    let run = Run::from_output(
        project
            .command(&["hooks", "install"])
            .current_dir(project.root.join("src"))
            .output()
            .unwrap(),
    );
    run.assert_ok();
    let custom = project.root.join(".githooks");
    for name in tagpub::hooks::HOOK_NAMES {
        assert_eq!(mode(&custom.join(name)), 0o755, "{name}");
        assert!(!hooks_dir(&project).join(name).exists(), "{name}");
    }
    assert_eq!(tree(&hooks_dir(&project)), git_hooks_before);
    assert!(
        run.stderr.contains("inside the working tree"),
        "{}",
        run.stderr
    );
    let status = status_json(&project);
    assert_eq!(
        Path::new(status["hooks_dir"].as_str().unwrap()),
        fs::canonicalize(&custom).unwrap()
    );

    // git runs them from there.
    let out = git_run(&project, &["tag", "-a", "v9.9.9", "-m", "m"]);
    assert!(out.status.success());

    project.run(&["hooks", "uninstall"]).assert_ok();
    assert!(tree(&custom).is_empty(), "{:?}", tree(&custom));
}

#[test]
fn a_linked_worktree_installs_into_the_common_hooks_dir() {
    let project = Project::sample(&[]);
    let worktree = project.temp.path().join("wt");
    git(
        &project.root,
        &[
            "worktree",
            "add",
            "--quiet",
            "-b",
            "feature",
            worktree.to_str().unwrap(),
        ],
    );
    let run = Run::from_output(
        project
            .command(&["hooks", "install"])
            .current_dir(&worktree)
            .output()
            .unwrap(),
    );
    run.assert_ok();
    for name in tagpub::hooks::HOOK_NAMES {
        assert_eq!(mode(&hooks_dir(&project).join(name)), 0o755, "{name}");
    }
    // The main checkout sees the same hooks.
    assert_eq!(
        states(&status_json(&project)),
        pairs(&[
            ("pre-push", "installed"),
            ("reference-transaction", "installed")
        ])
    );
    // And git in the worktree runs them: the legacy hook proves it.
    let marker = project.temp.path().join("ran-in-worktree");
    write_script(
        &hooks_dir(&project).join("reference-transaction.legacy"),
        &format!("#!/bin/sh\ncat >/dev/null\ntouch '{}'\n", marker.display()),
        0o755,
    );
    let out = git_command(&project, &worktree, &["tag", "-a", "wt-v1", "-m", "m"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(marker.exists());
}

/// A PATH with git on it and no tagpub.
fn path_without_tagpub(project: &Project) -> OsString {
    let bin = project.temp.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    let git = std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|d| d.join("git"))
        .find(|p| p.is_file())
        .expect("git on PATH");
    std::os::unix::fs::symlink(git, bin.join("git")).unwrap();
    bin.into_os_string()
}

#[test]
fn tagging_with_no_daemon_says_nothing() {
    let project = Project::sample(&[]);
    install(&project);
    let mut gits = vec![PathBuf::from("git")];
    // This machine's other git (2.39) runs the same hook.
    if Path::new("/usr/bin/git").exists() {
        gits.push(PathBuf::from("/usr/bin/git"));
    }
    for (i, program) in gits.iter().enumerate() {
        let tag = format!("v1.0.{i}");
        let out = git_command_with(
            program,
            &project,
            &project.root,
            &["tag", "-a", &tag, "-m", "m"],
        )
        .output()
        .unwrap();
        assert!(out.status.success(), "{program:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "", "{program:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{program:?}");
        git(
            &project.root,
            &["rev-parse", "--verify", &format!("refs/tags/{tag}")],
        );
    }
}

#[test]
fn a_missing_tagpub_never_blocks_git() {
    let project = Project::sample(&[]);
    install(&project);
    let dir = hooks_dir(&project);
    let gone = project.temp.path().join("gone/tagpub");
    for name in tagpub::hooks::HOOK_NAMES {
        let text = fs::read_to_string(dir.join(name)).unwrap();
        let moved = text.replace(
            &format!("TAGPUB='{}'", common::project::tagpub_bin().display()),
            &format!("TAGPUB='{}'", gone.display()),
        );
        assert_ne!(moved, text);
        fs::write(dir.join(name), moved).unwrap();
    }
    let path = path_without_tagpub(&project);

    let out = git_command(&project, &project.root, &["tag", "-a", "v2.0.0", "-m", "m"])
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");

    // The pre-push hook run the way git runs it: one line, exit 0.
    let sha = git(&project.root, &["rev-parse", "HEAD"]);
    let mut child = Command::new(dir.join("pre-push"))
        .args(["origin", "/nowhere.git"])
        .current_dir(&project.root)
        .env("PATH", &path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("refs/heads/main {sha} refs/heads/main {ZERO}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "tagpub: not found at {} or on PATH; the release-tag check is skipped for this push\n",
            gone.display()
        )
    );

    // And through a real push.
    let remote = bare_remote(&project);
    let out = git_command(
        &project,
        &project.root,
        &[
            "push",
            "--quiet",
            remote.to_str().unwrap(),
            "main",
            "v2.0.0",
        ],
    )
    .env("PATH", &path)
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    git(&remote, &["rev-parse", "--verify", "refs/tags/v2.0.0"]);
}

#[test]
fn a_failing_legacy_pre_push_blocks_the_push_and_gets_the_refs() {
    let project = Project::sample(&[]);
    let dir = hooks_dir(&project);
    let seen = project.temp.path().join("legacy-stdin");
    let args = project.temp.path().join("legacy-args");
    write_script(
        &dir.join("pre-push"),
        &format!(
            "#!/bin/sh\ncat > '{}'\necho \"$@\" > '{}'\necho 'legacy says no' >&2\nexit 1\n",
            seen.display(),
            args.display()
        ),
        0o755,
    );
    install(&project);
    project.tag("v1.0.0");
    let remote = bare_remote(&project);
    let remote_arg = remote.to_str().unwrap();

    let out = git_command(
        &project,
        &project.root,
        &["push", remote_arg, "main", "v1.0.0"],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("legacy says no"), "{stderr}");
    // Nothing reached the remote.
    assert_eq!(git(&remote, &["for-each-ref"]), "");

    let main = git(&project.root, &["rev-parse", "main"]);
    let tag = git(&project.root, &["rev-parse", "refs/tags/v1.0.0"]);
    let mut lines: Vec<String> = fs::read_to_string(&seen)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        vec![
            format!("refs/heads/main {main} refs/heads/main {ZERO}"),
            format!("refs/tags/v1.0.0 {tag} refs/tags/v1.0.0 {ZERO}"),
        ]
    );
    assert_eq!(
        fs::read_to_string(&args).unwrap(),
        format!("{remote_arg} {remote_arg}\n")
    );
}

#[test]
fn tag_names_cannot_inject_commands() {
    let project = Project::sample(&[]);
    let dir = hooks_dir(&project);
    install(&project);
    let names = [
        "v1.0.0-$(touch${IFS}pwned)",
        "v1-`touch${IFS}pwned`;\"x\"'&|<>",
    ];
    for name in names {
        let out = git(
            &project.root,
            &["check-ref-format", &format!("refs/tags/{name}")],
        );
        assert_eq!(out, "");
    }
    let tag_all = |project: &Project, suffix: &str| {
        for name in names {
            let out = git_run(
                project,
                &["tag", "-a", &format!("{name}{suffix}"), "-m", "m"],
            );
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(String::from_utf8_lossy(&out.stderr), "");
        }
    };
    tag_all(&project, "");
    // The buffered path too: with a legacy hook the whole input is kept.
    write_script(
        &dir.join("reference-transaction.legacy"),
        "#!/bin/sh\ncat >/dev/null\n",
        0o755,
    );
    tag_all(&project, "-b");
    // And pushing them through the pre-push hook (whatever the gate decides).
    let remote = bare_remote(&project);
    let _ = git_run(&project, &["push", remote.to_str().unwrap(), "--tags"]);

    let pwned: Vec<_> = walk_files(project.temp.path())
        .into_iter()
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().contains("pwned"))
        })
        .filter(|p| !p.to_string_lossy().contains("refs/tags"))
        .collect();
    assert!(pwned.is_empty(), "{pwned:?}");
    assert!(!Path::new("pwned").exists());
}

fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walk_files(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

#[test]
fn a_foreign_hook_is_never_lost() {
    let project = Project::sample(&[]);
    let dir = hooks_dir(&project);
    write_script(&dir.join("pre-push"), "#!/bin/sh\necho mine\n", 0o755);
    write_script(
        &dir.join("pre-push.legacy"),
        "#!/bin/sh\necho older\n",
        0o755,
    );
    let before = tree(&dir);
    project
        .run(&["hooks", "install"])
        .assert_fails(1, "pre-push.legacy already exists");
    // Nothing changed, not even the other hook.
    assert_eq!(tree(&dir), before);

    // Uninstall leaves hooks that are not tagpub's alone.
    let run = project.run(&["hooks", "uninstall"]);
    run.assert_ok();
    assert!(
        run.stderr
            .contains("pre-push: not tagpub's hook: left alone"),
        "{}",
        run.stderr
    );
    assert_eq!(tree(&dir), before);
}

#[test]
fn pre_commit_and_husky_hooks_are_not_renamed() {
    // Both find their job from their own file name: renamed to
    // pre-push.legacy, pre-commit's would run itself as its own legacy hook
    // and husky's would silently run nothing.
    let pre_commit = "#!/usr/bin/env bash\n# File generated by pre-commit: https://pre-commit.com\n\
                      # ID: 138fd403232d2ddd5efb44317e38bf03\nexit 0\n";
    let husky = "#!/usr/bin/env sh\n. \"$(dirname \"$0\")/h\"";
    for (content, legacy, message) in [
        (pre_commit, false, "pre-commit uninstall -t pre-push"),
        (
            pre_commit,
            true,
            "where pre-commit keeps the hook it replaced",
        ),
        (husky, false, "husky"),
    ] {
        let project = Project::sample(&[]);
        let dir = hooks_dir(&project);
        write_script(&dir.join("pre-push"), content, 0o755);
        if legacy {
            write_script(&dir.join("pre-push.legacy"), "#!/bin/sh\n", 0o755);
        }
        let before = tree(&dir);
        project.run(&["hooks", "install"]).assert_fails(1, message);
        assert_eq!(tree(&dir), before);
    }
}

#[test]
fn a_hook_chained_by_another_tool_does_not_run_itself() {
    // pre-commit (and others) keep the hook they replace as <name>.legacy and
    // run it; tagpub's script must not then run "its" legacy, itself.
    let project = Project::sample(&[]);
    install(&project);
    let dir = hooks_dir(&project);
    fs::rename(dir.join("pre-push"), dir.join("pre-push.legacy")).unwrap();
    let sha = git(&project.root, &["rev-parse", "HEAD"]);
    let mut child = Command::new(dir.join("pre-push.legacy"))
        .args(["origin", "/nowhere.git"])
        .current_dir(&project.root)
        .env("PATH", path_without_tagpub(&project))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("refs/heads/main {sha} refs/heads/main {ZERO}\n").as_bytes())
        .unwrap();
    // It reaches tagpub (the gate runs) instead of calling itself forever.
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(30) {
            let _ = child.kill();
            panic!("the hook chained as pre-push.legacy keeps calling itself");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
