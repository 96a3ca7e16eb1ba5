//! The pre-push gate: what `tagpub hook pre-push` lets through and refuses,
//! driven the way git drives it (refs on stdin), and end to end through an
//! installed hook and a real `git push` to a bare remote.

use crate::common;

use crate::common::project::{Project, Run, git};

const ZERO: &str = "0000000000000000000000000000000000000000";

/// Runs the gate as git would for pushing `refs` (local ref, remote ref).
fn gate(project: &Project, refs: &[(&str, &str)]) -> Run {
    let mut input = String::new();
    for (local, remote) in refs {
        let sha = if *local == "(delete)" {
            ZERO.to_string()
        } else {
            git(&project.root, &["rev-parse", local])
        };
        let local = if *local == "(delete)" {
            "(delete)"
        } else {
            local
        };
        input.push_str(&format!("{local} {sha} {remote} {ZERO}\n"));
    }
    project.run_with_stdin(&["hook", "pre-push", "origin", "/tmp/remote.git"], &input)
}

fn tag_ref(tag: &str) -> (String, String) {
    (format!("refs/tags/{tag}"), format!("refs/tags/{tag}"))
}

fn project() -> Project {
    let project = Project::sample(&[]);
    project.configure("local", "");
    project
}

#[test]
fn a_good_release_tag_and_branches_pass() {
    let project = project();
    project.tag("hf-local-v1.0.0");
    let (local, remote) = tag_ref("hf-local-v1.0.0");
    let run = gate(&project, &[(&local, &remote)]);
    run.assert_ok();
    assert!(
        run.stderr
            .contains("✓ hf-local-v1.0.0 (open-ticket-ai-hf-local 1.0.0)"),
        "{}",
        run.stderr
    );

    let branch = gate(&project, &[("refs/heads/main", "refs/heads/main")]);
    branch.assert_ok();
    assert_eq!(branch.stderr, "", "a branch push is untouched");

    // A tag that is no release passes untouched.
    git(&project.root, &["tag", "-a", "-m", "x", "docs-2026"]);
    let (local, remote) = tag_ref("docs-2026");
    assert_eq!(gate(&project, &[(&local, &remote)]).assert_ok().stderr, "");
}

#[test]
fn bad_release_tags_refuse_the_whole_push_with_one_block_each() {
    let project = project();
    project.tag("v1.0.0");
    git(&project.root, &["tag", "hf-local-v1.0.0"]);
    project.tag("otobo-znuny-v1.0.1");
    let refs: Vec<(String, String)> = ["v1.0.0", "hf-local-v1.0.0", "otobo-znuny-v1.0.1"]
        .iter()
        .map(|t| tag_ref(t))
        .collect();
    let refs: Vec<(&str, &str)> = refs.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let run = gate(&project, &refs);
    run.assert_fails(1, "tagpub: refusing to push hf-local-v1.0.0:\n  ✗ annotated: `hf-local-v1.0.0` is a lightweight tag")
        .assert_fails(1, "tagpub: refusing to push otobo-znuny-v1.0.1:\n  ✗ version: tag otobo-znuny-v1.0.1 says 1.0.1 but src/open_ticket_ai_otobo_znuny_plugin/pyproject.toml at")
        .assert_fails(1, "bump the version in pyproject.toml, then move the tag or create otobo-znuny-v1.0.2")
        .assert_fails(1, "push refused: 2 release tags would fail");
    assert!(run.stderr.contains("✓ v1.0.0"), "{}", run.stderr);

    project.tag("hf-local-vnext");
    let (local, remote) = tag_ref("hf-local-vnext");
    gate(&project, &[(&local, &remote)]).assert_fails(1, "`next` is not a PEP 440 version");
}

#[test]
fn a_typo_in_the_prefix_warns_but_passes() {
    let project = project();
    project.tag("hf-locl-v1.0.0");
    let (local, remote) = tag_ref("hf-locl-v1.0.0");
    let run = gate(&project, &[(&local, &remote)]);
    run.assert_ok();
    assert!(
        run.stderr
            .contains("hf-locl-v1.0.0 matches no package; did you mean hf-local-v1.0.0?"),
        "{}",
        run.stderr
    );
}

#[test]
fn deleting_a_published_tag_warns() {
    let project = project();
    project.tag("v1.0.0");
    project.run(&["release", "v1.0.0"]).assert_ok();
    let run = gate(&project, &[("(delete)", "refs/tags/v1.0.0")]);
    run.assert_ok();
    assert!(
        run.stderr.contains(
            "deleting remote tag v1.0.0, but open-ticket-ai 1.0.0 is already published on local"
        ),
        "{}",
        run.stderr
    );
    // An unpublished tag is deleted silently.
    assert_eq!(
        gate(&project, &[("(delete)", "refs/tags/v9.0.0")])
            .assert_ok()
            .stderr,
        ""
    );
}

#[test]
fn trigger_push_records_the_pushed_tags() {
    let project = Project::sample(&[]);
    project.configure("local", "");
    let config = std::fs::read_to_string(project.root.join("tagpub.toml")).unwrap();
    project.write(
        "tagpub.toml",
        &config.replace("[defaults]\n", "[defaults]\ntrigger = \"push\"\n"),
    );
    project.commit("publish on push");
    project.tag("v1.0.0");
    let (local, remote) = tag_ref("v1.0.0");
    gate(&project, &[(&local, &remote)]).assert_ok();
    let recorded = std::fs::read_to_string(project.state.join("data/pushed-tags.json")).unwrap();
    let value: serde_json::Value = serde_json::from_str(&recorded).unwrap();
    assert_eq!(value[0]["tag"], "v1.0.0");
    assert_eq!(value[0]["remote"], "origin");
    assert_eq!(
        value[0]["target"],
        git(&project.root, &["rev-parse", "refs/tags/v1.0.0"])
    );
}

#[test]
fn pre_push_build_mode_builds_and_refuses_a_broken_build() {
    let project = Project::sample(&[]);
    project.configure("local", "\n[hooks]\npre-push = \"build\"\n");
    project.tag("v1.0.0");
    let (local, remote) = tag_ref("v1.0.0");
    gate(&project, &[(&local, &remote)]).assert_ok();
    assert!(
        project
            .state
            .join("data/releases/open-ticket-ai/1.0.0")
            .is_dir(),
        "the gate built the release"
    );
    // The release then reuses exactly those files.
    let release = project.run(&["release", "v1.0.0"]);
    release.assert_ok();
    assert!(
        release
            .stderr
            .contains("reusing the files built for v1.0.0"),
        "{}",
        release.stderr
    );

    let pyproject = std::fs::read_to_string(
        project
            .root
            .join("src/open_ticket_ai_hf_local/pyproject.toml"),
    )
    .unwrap();
    project.write(
        "src/open_ticket_ai_hf_local/pyproject.toml",
        &pyproject.replace("hatchling.build", "hatchling.missing"),
    );
    project.commit("broken build");
    project.tag("hf-local-v1.0.0");
    let (local, remote) = tag_ref("hf-local-v1.0.0");
    gate(&project, &[(&local, &remote)]).assert_fails(1, "it does not build cleanly");
}

/// The gits this workplace has: Debian's 2.39 and 2.47 under /usr/local.
fn gits() -> Vec<&'static str> {
    let found: Vec<&str> = ["/usr/local/bin/git", "/usr/bin/git"]
        .into_iter()
        .filter(|path| std::path::Path::new(path).is_file())
        .collect();
    assert!(!found.is_empty(), "no git binary found");
    found
}

#[test]
fn an_installed_hook_gates_a_real_push() {
    for git_bin in gits() {
        installed_hook_gates_a_real_push(git_bin);
    }
}

fn installed_hook_gates_a_real_push(git_bin: &str) {
    let project = project();
    let remote = project.bare_origin();
    project.run(&["hooks", "install"]).assert_ok();
    let push = |args: &[&str]| project.git_as_user(git_bin, args);
    push(&["push", "--quiet", "origin", "main"]).assert_ok();

    project.tag("hf-local-v1.0.1");
    push(&["push", "--dry-run", "origin", "hf-local-v1.0.1"])
        .assert_fails(1, "tagpub: refusing to push hf-local-v1.0.1");
    push(&["push", "origin", "hf-local-v1.0.1"])
        .assert_fails(1, "bump the version in pyproject.toml");
    let remote_tags = git(&remote, &["tag", "--list"]);
    assert_eq!(
        remote_tags, "",
        "{git_bin}: the refused tag must not reach the remote"
    );

    project.tag("hf-local-v1.0.0");
    push(&["push", "origin", "hf-local-v1.0.0"]).assert_ok();
    assert_eq!(
        git(&remote, &["tag", "--list"]),
        "hf-local-v1.0.0",
        "{git_bin}"
    );

    // Uninstall leaves the hooks dir as git made it.
    project.run(&["hooks", "uninstall"]).assert_ok();
    push(&["push", "origin", "hf-local-v1.0.1"]).assert_ok();
}

/// Git's pre-push lines are bytes split on ASCII spaces: a tag name that is
/// not UTF-8, or that holds Unicode whitespace (U+00A0, U+2028, U+0085),
/// neither stops the gate from reading the lines after it nor slips through
/// unchecked. A real `git push` through the installed hook.
#[test]
fn odd_tag_names_are_checked_not_skipped_in_a_real_push() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    let git_bin = gits()[0];
    let project = project();
    let remote = project.bare_origin();
    project.run(&["hooks", "install"]).assert_ok();
    let push = |args: &[&OsStr]| {
        let mut command = std::process::Command::new(git_bin);
        let output = project
            .with_tagpub_dirs(&mut command)
            .arg("-C")
            .arg(&project.root)
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        common::project::Run::from_output(output)
    };
    let tag = |name: &[u8]| {
        let mut command = common::project::git_command(git_bin, &project.root, &[]);
        let status = command
            .args(["tag", "-a", "-m", "x", "--"])
            .arg(OsStr::from_bytes(name))
            .status()
            .unwrap();
        assert!(
            status.success(),
            "git tag {:?}",
            String::from_utf8_lossy(name)
        );
    };

    // A tag that is not UTF-8, pushed before a release tag that must be
    // refused (its version is not the one in pyproject.toml).
    tag(b"aa-\xff");
    project.tag("hf-local-v1.0.1");
    let run = push(&[
        OsStr::new("push"),
        OsStr::new("origin"),
        OsStr::from_bytes(b"aa-\xff"),
        OsStr::new("hf-local-v1.0.1"),
    ]);
    run.assert_fails(1, "is not valid UTF-8")
        .assert_fails(1, "tagpub: refusing to push hf-local-v1.0.1")
        .assert_fails(1, "push refused: 2 release tags would fail");
    assert_eq!(git(&remote, &["tag", "--list"]), "", "nothing was pushed");

    // Release tags whose names hold Unicode whitespace are checked as the
    // whole name: not PEP 440, so refused.
    for (name, shown) in [
        ("hf-local-v1.0.0\u{a0}x", "1.0.0\u{a0}x"),
        ("hf-local-v1.0.0\u{2028}x", "1.0.0\u{2028}x"),
        ("hf-local-v1.0.0\u{85}x", "1.0.0\u{85}x"),
    ] {
        tag(name.as_bytes());
        let run = push(&[OsStr::new("push"), OsStr::new("origin"), OsStr::new(name)]);
        let neutralized = tagpub::printer::neutralize(shown).into_owned();
        run.assert_fails(1, &format!("`{neutralized}` is not a PEP 440 version"));
        assert_eq!(git(&remote, &["tag", "--list"]), "", "{name:?} was refused");
    }

    // The good release tag still goes through.
    project.tag("hf-local-v1.0.0");
    push(&[
        OsStr::new("push"),
        OsStr::new("origin"),
        OsStr::new("hf-local-v1.0.0"),
    ])
    .assert_ok();
    assert_eq!(git(&remote, &["tag", "--list"]), "hf-local-v1.0.0");
}
