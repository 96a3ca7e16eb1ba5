//! `tagpub bump`: the version written where it lives (and nothing else
//! changed), the changelog step, the commit of exactly those files, the
//! annotated tag, and the release the tag then makes. Real git, the real
//! binary; the `local` index.

use crate::common;

use crate::common::project::{Project, git};

const HF_PYPROJECT: &str = "src/open_ticket_ai_hf_local/pyproject.toml";
const HF_CHANGELOG: &str = "src/open_ticket_ai_hf_local/CHANGELOG.md";

fn today() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()[..10].to_string()
}

/// The sample monorepo on the local index, with a committer identity for
/// the bump's own git commands and a Keep-a-Changelog file for hf-local.
fn sample() -> Project {
    let project = Project::sample(&[]);
    project.configure("local", "");
    git(&project.root, &["config", "user.name", "Bump Test"]);
    git(
        &project.root,
        &["config", "user.email", "bump@example.invalid"],
    );
    project.write(
        HF_CHANGELOG,
        "# Changelog\n\n## [Unreleased]\n### Added\n- Local models from the hub.\n\n## [1.0.0] - 2026-01-01\n- First release.\n\n[Unreleased]: https://example.invalid/r/compare/hf-local-v1.0.0...HEAD\n[1.0.0]: https://example.invalid/r/compare/hf-local-v0.9.0...hf-local-v1.0.0\n",
    );
    project.commit("hf-local changelog");
    project
}

fn read(project: &Project, path: &str) -> String {
    std::fs::read_to_string(project.root.join(path)).unwrap()
}

#[test]
fn bump_writes_the_version_and_changelog_commits_tags_and_the_tag_releases() {
    let project = sample();
    // A comment and odd layout that must survive byte for byte.
    let pyproject = read(&project, HF_PYPROJECT).replace(
        "version = \"1.0.0\"",
        "version   =   '1.0.0'   # released by tagpub",
    );
    project.write(HF_PYPROJECT, &pyproject);
    project.commit("layout");
    let head_before = git(&project.root, &["rev-parse", "HEAD"]);

    let run = project.run(&["bump", "hf-local", "minor", "--commit", "--tag"]);
    run.assert_ok();
    assert!(
        run.stderr
            .contains("open-ticket-ai-hf-local 1.0.0 → 1.1.0 (tag hf-local-v1.1.0)"),
        "{}",
        run.stderr
    );

    assert_eq!(
        read(&project, HF_PYPROJECT),
        pyproject.replace("'1.0.0'", "'1.1.0'")
    );
    assert_eq!(
        read(&project, HF_CHANGELOG),
        format!(
            "# Changelog\n\n## [Unreleased]\n\n## [1.1.0] - {}\n### Added\n- Local models from the hub.\n\n## [1.0.0] - 2026-01-01\n- First release.\n\n[Unreleased]: https://example.invalid/r/compare/hf-local-v1.1.0...HEAD\n[1.1.0]: https://example.invalid/r/compare/hf-local-v1.0.0...hf-local-v1.1.0\n[1.0.0]: https://example.invalid/r/compare/hf-local-v0.9.0...hf-local-v1.0.0\n",
            today()
        )
    );
    // One commit with exactly the two files, and nothing left uncommitted.
    assert_eq!(git(&project.root, &["rev-parse", "HEAD~1"]), head_before);
    assert_eq!(
        git(
            &project.root,
            &["show", "--name-only", "--format=%s", "HEAD"]
        ),
        format!("Release open-ticket-ai-hf-local 1.1.0\n\n{HF_CHANGELOG}\n{HF_PYPROJECT}")
    );
    assert_eq!(git(&project.root, &["status", "--porcelain"]), "");
    // An annotated tag on it, the changelog section as its message.
    assert_eq!(
        git(&project.root, &["cat-file", "-t", "hf-local-v1.1.0"]),
        "tag"
    );
    assert_eq!(
        git(&project.root, &["rev-parse", "hf-local-v1.1.0^{commit}"]),
        git(&project.root, &["rev-parse", "HEAD"])
    );
    assert_eq!(
        git(
            &project.root,
            &["tag", "-l", "--format=%(contents)", "hf-local-v1.1.0"]
        ),
        "Release open-ticket-ai-hf-local 1.1.0\n\n### Added\n- Local models from the hub."
    );

    // The tag passes its plan and releases the new version.
    project.run(&["plan", "hf-local-v1.1.0"]).assert_ok();
    project.run(&["release", "hf-local-v1.1.0"]).assert_ok();
    assert!(
        project
            .local_index()
            .join("open-ticket-ai-hf-local")
            .read_dir()
            .unwrap()
            .any(|e| e.unwrap().file_name().to_string_lossy()
                == "open_ticket_ai_hf_local-1.1.0-py3-none-any.whl")
    );
}

#[test]
fn a_group_moves_together() {
    let project = sample();
    project.write(
        "tagpub.toml",
        &format!(
            "{}\n[[group]]\nname = \"suite\"\ntags = [\"suite-v{{version}}\"]\npackages = [\"open-ticket-ai\", \"open-ticket-ai-hf-local\", \"open-ticket-ai-otobo-znuny-plugin\"]\n",
            read(&project, "tagpub.toml")
                .replace("tags = [\"v{version}\"]\n", "")
                .replace("tags = [\"hf-local-v{version}\", \"open-ticket-ai-hf-local-v{version}\"]\n", "")
                .replace("tags = [\"otobo-znuny-v{version}\"]\n", "")
        ),
    );
    project.commit("a group");
    project
        .run(&["bump", "suite", "rc", "--commit", "--tag"])
        .assert_ok();
    for path in [
        "pyproject.toml",
        HF_PYPROJECT,
        "src/open_ticket_ai_otobo_znuny_plugin/pyproject.toml",
    ] {
        assert!(
            read(&project, path).contains("version = \"1.0.1rc1\""),
            "{path}: {}",
            read(&project, path)
        );
    }
    assert_eq!(
        git(&project.root, &["tag", "-l", "suite-v*"]),
        "suite-v1.0.1rc1"
    );
    project.run(&["plan", "suite-v1.0.1rc1"]).assert_ok();
}

#[test]
fn dirty_files_staged_changes_and_existing_tags_are_refused_before_writing() {
    let project = sample();
    // An uncommitted edit in a file the bump would write.
    let pyproject = read(&project, HF_PYPROJECT);
    project.write(HF_PYPROJECT, &format!("{pyproject}\n# local edit\n"));
    project.run(&["bump", "hf-local", "patch"]).assert_fails(
        1,
        &format!("{HF_PYPROJECT} has changes that are not committed"),
    );
    project.write(HF_PYPROJECT, &pyproject);

    // Something else staged would slip into --commit.
    project.write("NOTES.txt", "staged\n");
    git(&project.root, &["add", "NOTES.txt"]);
    let run = project.run(&["bump", "hf-local", "patch", "--commit", "--tag"]);
    run.assert_fails(
        1,
        "changes are staged (NOTES.txt): --commit commits only the bump",
    );
    assert_eq!(read(&project, HF_PYPROJECT), pyproject);
    git(&project.root, &["reset", "--quiet", "NOTES.txt"]);

    // The tag of the next version exists already.
    git(&project.root, &["tag", "-a", "-m", "x", "hf-local-v1.0.1"]);
    project
        .run(&["bump", "hf-local", "patch"])
        .assert_fails(1, "the tag hf-local-v1.0.1 exists already")
        // The way out: the next version no tag has, or the tag gone.
        .assert_stderr("Release the next free version with `tagpub bump hf-local 1.0.2`")
        .assert_stderr("delete it (`git tag -d hf-local-v1.0.1`) and bump again");
    assert_eq!(read(&project, HF_PYPROJECT), pyproject);
    // status names that version instead of a `patch` bump git would refuse.
    let status = project.run(&["status"]);
    status.assert_ok();
    assert!(
        status
            .stderr
            .contains("open-ticket-ai-hf-local 1.0.0 (hf-local-v1.0.1): next `tagpub bump hf-local 1.0.2 --commit --tag`"),
        "{}",
        status.stderr
    );

    // A step backwards and a tag without its commit are usage errors.
    project
        .run(&["bump", "hf-local", "0.9.0"])
        .assert_fails(2, "0.9.0 is not after the current version 1.0.0");
    project
        .run(&["bump", "hf-local", "minor", "--tag"])
        .assert_fails(
            2,
            "--tag without --commit would tag a commit without the new version",
        );
    assert_eq!(read(&project, HF_PYPROJECT), pyproject);
}

#[test]
fn dry_run_shows_the_diff_and_the_commands_and_writes_nothing() {
    let project = sample();
    let head = git(&project.root, &["rev-parse", "HEAD"]);
    let run = project.run(&[
        "bump",
        "hf-local",
        "2.0.0",
        "--commit",
        "--tag",
        "--dry-run",
    ]);
    run.assert_ok();
    for part in [
        format!("--- a/{HF_PYPROJECT}\n+++ b/{HF_PYPROJECT}"),
        "-version = \"1.0.0\"\n+version = \"2.0.0\"".to_string(),
        format!("+## [2.0.0] - {}", today()),
        format!("would run: git add -- {HF_PYPROJECT} {HF_CHANGELOG}"),
        "would run: git tag -a --cleanup=whitespace -F <message-file> hf-local-v2.0.0".to_string(),
        "dry run: nothing written".to_string(),
    ] {
        assert!(run.stderr.contains(&part), "{part}\n{}", run.stderr);
    }
    assert_eq!(git(&project.root, &["status", "--porcelain"]), "");
    assert_eq!(git(&project.root, &["rev-parse", "HEAD"]), head);
    assert_eq!(git(&project.root, &["tag", "-l", "hf-local-v2*"]), "");
}

#[test]
fn versions_in_files_and_from_tags() {
    let project = Project::empty(&[]);
    git(&project.root, &["config", "user.name", "Bump Test"]);
    git(
        &project.root,
        &["config", "user.email", "bump@example.invalid"],
    );
    // hatch `path`, setuptools `attr`, hatch-vcs.
    project.write(
        "hatchpkg/pyproject.toml",
        "[build-system]\nrequires = [\"hatchling\"]\nbuild-backend = \"hatchling.build\"\n\n[project]\nname = \"hatchpkg\"\ndynamic = [\"version\"]\n\n[tool.hatch.version]\npath = \"src/hatchpkg/__about__.py\"\n",
    );
    project.write(
        "hatchpkg/src/hatchpkg/__about__.py",
        "# SPDX header\n__version__ = \"0.4.2\"\n",
    );
    project.write(
        "stpkg/pyproject.toml",
        "[build-system]\nrequires = [\"setuptools\"]\nbuild-backend = \"setuptools.build_meta\"\n\n[project]\nname = \"stpkg\"\ndynamic = [\"version\"]\n\n[tool.setuptools.dynamic]\nversion = {attr = \"stpkg.__version__\"}\n",
    );
    project.write(
        "stpkg/stpkg/__init__.py",
        "'''Doc.'''\n__version__ = '3.1.0'\n",
    );
    project.write(
        "vcspkg/pyproject.toml",
        "[build-system]\nrequires = [\"hatchling\", \"hatch-vcs\"]\nbuild-backend = \"hatchling.build\"\n\n[project]\nname = \"vcspkg\"\ndynamic = [\"version\"]\n\n[tool.hatch.version]\nsource = \"vcs\"\n",
    );
    project.write(
        "tagpub.toml",
        "[defaults]\nrepository = \"local\"\n\n[[package]]\nname = \"hatchpkg\"\npath = \"hatchpkg\"\ntags = [\"hatchpkg-v{version}\"]\n\n[[package]]\nname = \"stpkg\"\npath = \"stpkg\"\ntags = [\"stpkg-v{version}\"]\n\n[[package]]\nname = \"vcspkg\"\npath = \"vcspkg\"\ntags = [\"vcspkg-v{version}\"]\n",
    );
    project.commit("three packages");

    project
        .run(&["bump", "hatchpkg", "patch", "--commit"])
        .assert_ok();
    assert_eq!(
        read(&project, "hatchpkg/src/hatchpkg/__about__.py"),
        "# SPDX header\n__version__ = \"0.4.3\"\n"
    );
    project.run(&["bump", "stpkg", "b", "--commit"]).assert_ok();
    assert_eq!(
        read(&project, "stpkg/stpkg/__init__.py"),
        "'''Doc.'''\n__version__ = '3.1.1b1'\n"
    );

    // A VCS version needs an earlier tag (or an explicit version) and writes nothing.
    project
        .run(&["bump", "vcspkg", "minor", "--tag"])
        .assert_fails(
            1,
            "vcspkg's version comes from its tags, and no tag of it matches `vcspkg-v{version}`",
        );
    git(&project.root, &["tag", "-a", "-m", "v", "vcspkg-v0.9.0"]);
    let head = git(&project.root, &["rev-parse", "HEAD"]);
    let run = project.run(&["bump", "vcspkg", "minor", "--tag"]);
    run.assert_ok();
    assert!(
        run.stderr.contains(
            "vcspkg's version comes from the tag: nothing to write, the tag vcspkg-v0.10.0 sets it"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(git(&project.root, &["rev-parse", "HEAD"]), head);
    assert_eq!(
        git(&project.root, &["rev-parse", "vcspkg-v0.10.0^{commit}"]),
        head
    );
    assert_eq!(git(&project.root, &["status", "--porcelain"]), "");
}

#[test]
fn sign_signs_with_gits_configured_ssh_key_and_push_sends_commit_and_tag() {
    let project = sample();
    // An SSH signing key, as `gpg.format = ssh` users have.
    let key = project.temp.path().join("signing-key");
    let keygen = std::process::Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "bump@example.invalid",
            "-f",
        ])
        .arg(&key)
        .output()
        .expect("ssh-keygen runs (openssh-client)");
    assert!(keygen.status.success(), "{keygen:?}");
    git(&project.root, &["config", "gpg.format", "ssh"]);
    git(
        &project.root,
        &["config", "user.signingkey", key.to_str().unwrap()],
    );
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let allowed = project.temp.path().join("allowed_signers");
    std::fs::write(&allowed, format!("bump@example.invalid {public}")).unwrap();
    // A remote to push to.
    let remote = project.bare_origin();
    git(&project.root, &["push", "--quiet", "-u", "origin", "main"]);

    project
        .run(&[
            "bump", "hf-local", "patch", "--commit", "--tag", "--sign", "--push",
        ])
        .assert_ok();
    let verified = common::project::git_command(
        "git",
        &project.root,
        &[
            "-c",
            &format!("gpg.ssh.allowedSignersFile={}", allowed.display()),
            "verify-tag",
            "hf-local-v1.0.1",
        ],
    )
    .output()
    .unwrap();
    assert!(
        verified.status.success()
            && String::from_utf8_lossy(&verified.stderr)
                .contains("Good \"git\" signature for bump@example.invalid"),
        "{verified:?}"
    );
    assert_eq!(
        git(&remote, &["rev-parse", "main"]),
        git(&project.root, &["rev-parse", "HEAD"])
    );
    assert_eq!(
        git(&remote, &["rev-parse", "hf-local-v1.0.1"]),
        git(&project.root, &["rev-parse", "hf-local-v1.0.1"])
    );
}

#[test]
fn a_token_is_needed_unless_a_ci_pipeline_publishes_the_tag() {
    let project = Project::sample(&[]);
    project.configure("pypi", "");
    git(&project.root, &["config", "user.name", "Bump Test"]);
    git(
        &project.root,
        &["config", "user.email", "bump@example.invalid"],
    );
    project
        .run(&["bump", "hf-local", "patch", "--dry-run"])
        .assert_fails(1, "✗ no token for `open-ticket-ai-hf-local` on pypi");

    project.write(
        ".github/workflows/tagpub-release.yml",
        "name: Release (tagpub)\n",
    );
    project.commit("the CI pipeline");
    let run = project.run(&["bump", "hf-local", "patch", "--dry-run"]);
    run.assert_ok();
    assert!(
        run.stderr.contains(
            "no token for `open-ticket-ai-hf-local` on pypi here; .github/workflows/tagpub-release.yml publishes the tag once it is pushed"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn a_version_already_on_the_index_and_an_empty_required_changelog_are_refused() {
    let project = sample();
    // 1.0.1 reaches the local index through the package's second tag pattern.
    let pyproject = read(&project, HF_PYPROJECT);
    project.write(HF_PYPROJECT, &pyproject.replace("\"1.0.0\"", "\"1.0.1\""));
    project.commit("1.0.1");
    project.tag("open-ticket-ai-hf-local-v1.0.1");
    project
        .run(&["release", "open-ticket-ai-hf-local-v1.0.1"])
        .assert_ok();
    project.write(HF_PYPROJECT, &pyproject);
    project.commit("back to 1.0.0");

    let mut command = project.command(&["bump", "hf-local", "patch", "--commit", "--tag"]);
    command.env_remove("TAGPUB_OFFLINE");
    let run = common::project::Run::from_output(command.output().unwrap());
    run.assert_fails(
        1,
        "✗ local already has open-ticket-ai-hf-local 1.0.1: pick another version",
    );
    assert_eq!(read(&project, HF_PYPROJECT), pyproject);

    // With require-changelog, an empty Unreleased section stops the bump.
    project.write(
        HF_CHANGELOG,
        "# Changelog\n\n## [Unreleased]\n\n## [1.0.0] - 2026-01-01\n",
    );
    project.add_defaults("require-changelog = true\n", "require a changelog");
    project
        .run(&["bump", "hf-local", "minor"])
        .assert_fails(1, &format!("{HF_CHANGELOG}: its Unreleased section is empty: nothing is noted for this release (require-changelog = true)"));
    assert_eq!(read(&project, HF_PYPROJECT), pyproject);
}

#[test]
fn tag_gpgsign_signs_without_sign() {
    let project = sample();
    let key = project.temp.path().join("signing-key");
    let keygen = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .output()
        .expect("ssh-keygen runs (openssh-client)");
    assert!(keygen.status.success(), "{keygen:?}");
    for (k, v) in [
        ("gpg.format", "ssh".to_string()),
        ("user.signingkey", key.display().to_string()),
        ("tag.gpgSign", "true".to_string()),
    ] {
        git(&project.root, &["config", k, &v]);
    }
    project
        .run(&["bump", "hf-local", "patch", "--commit", "--tag"])
        .assert_ok();
    assert!(
        git(&project.root, &["cat-file", "-p", "hf-local-v1.0.1"])
            .contains("-----BEGIN SSH SIGNATURE-----")
    );
}
