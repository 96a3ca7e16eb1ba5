//! `tagpub init`, `plan` and `release` end to end: real git repos, real
//! builds (uv / python -m build), a real pypiserver, pip installing the result.

use crate::common;

use crate::common::PypiServer;
use crate::common::project::{Project, Run, files_in, git};
use crate::common::snapshot;

const HF_FILES: [&str; 2] = [
    "open_ticket_ai_hf_local-1.0.0-py3-none-any.whl",
    "open_ticket_ai_hf_local-1.0.0.tar.gz",
];

/// The sample monorepo configured to publish to a fresh pypiserver.
fn project_with_server(extra: &str) -> (Project, PypiServer) {
    let server = PypiServer::start();
    let project = Project::sample(&[]);
    project.configure(
        "testindex",
        &format!(
            "\n[repository.testindex]\nurl = \"{}\"\n{extra}",
            server.url
        ),
    );
    (project, server)
}

#[track_caller]
fn assert_nothing_published(server: &PypiServer) {
    assert_eq!(
        files_in(&server.packages_dir),
        Vec::<String>::new(),
        "something reached the index"
    );
}

#[test]
fn init_then_release_publishes_exactly_that_package_and_pip_installs_it() {
    let server = PypiServer::start();
    let project = Project::sample(&[]);
    let init = project.run(&["init", "--yes"]);
    init.assert_ok();
    // The whole config it proposes (each package with its own tags) and
    // what it says about it.
    let settings = snapshot::settings(&project);
    settings.bind(|| insta::assert_snapshot!("init_sample", snapshot::transcript(&init)));
    // A second init refuses to overwrite.
    project
        .run(&["init", "--yes"])
        .assert_fails(2, "already exists; pass --force");

    let config = std::fs::read_to_string(project.root.join("tagpub.toml")).unwrap();
    project.write(
        "tagpub.toml",
        &format!(
            "{config}\n[repository.testindex]\nurl = \"{}\"\n",
            server.url
        ),
    );
    project.commit("add tagpub config");
    project.tag("hf-local-v1.0.0");

    let release = project.run_with_token(
        &["release", "hf-local-v1.0.0", "--repository", "testindex"],
        "PYPI_API_TOKEN",
        &server.token,
    );
    release.assert_ok();
    // The whole summary: published to testindex and verified.
    settings.bind(|| insta::assert_snapshot!("release_sample", snapshot::transcript(&release)));
    assert_eq!(files_in(&server.packages_dir), HF_FILES);
    assert!(!release.stderr.contains(&server.token) && !release.stdout.contains(&server.token));

    // What a user would do next: pip install it from the index.
    let venv = project.temp.path().join("venv");
    let python = common::venv_bin("python");
    let status = std::process::Command::new(&python)
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .unwrap();
    assert!(status.success());
    let pip = std::process::Command::new(venv.join("bin/pip"))
        .args([
            "install",
            "--disable-pip-version-check",
            "--no-deps",
            "--index-url",
            &server.simple_url,
        ])
        .arg("open-ticket-ai-hf-local==1.0.0")
        .output()
        .unwrap();
    assert!(
        pip.status.success(),
        "{}",
        String::from_utf8_lossy(&pip.stderr)
    );
    let shown = std::process::Command::new(venv.join("bin/python"))
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('open-ticket-ai-hf-local'))",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&shown.stdout).trim(), "1.0.0");
}

#[test]
fn each_tag_releases_its_own_package_and_a_second_run_is_a_no_op() {
    let (project, server) = project_with_server("");
    project.tag("v1.0.0");
    project.tag("otobo-znuny-v1.0.0");
    project
        .run_with_token(&["release", "v1.0.0"], "PYPI_API_TOKEN", &server.token)
        .assert_ok();
    assert_eq!(
        files_in(&server.packages_dir),
        [
            "open_ticket_ai-1.0.0-py3-none-any.whl",
            "open_ticket_ai-1.0.0.tar.gz"
        ]
    );
    project
        .run_with_token(
            &["release", "otobo-znuny-v1.0.0"],
            "PYPI_API_TOKEN",
            &server.token,
        )
        .assert_ok();
    assert_eq!(files_in(&server.packages_dir).len(), 4);
    let core_sdist =
        std::fs::read(server.packages_dir.join("open_ticket_ai-1.0.0.tar.gz")).unwrap();

    let again = project.run_with_token(&["release", "v1.0.0"], "PYPI_API_TOKEN", &server.token);
    again.assert_ok();
    assert!(
        again.stderr.contains("already complete"),
        "{}",
        again.stderr
    );
    assert!(
        again.stderr.contains("reusing the files built"),
        "{}",
        again.stderr
    );
    assert_eq!(files_in(&server.packages_dir).len(), 4);
    assert_eq!(
        std::fs::read(server.packages_dir.join("open_ticket_ai-1.0.0.tar.gz")).unwrap(),
        core_sdist
    );
}

#[test]
fn package_token_env_is_used_and_dry_run_uploads_nothing() {
    let (project, server) = project_with_server("");
    project.tag("hf-local-v1.0.0");
    let plan = project.run_with_token(
        &["plan", "hf-local-v1.0.0"],
        "PYPI_API_TOKEN_HF_LOCAL",
        &server.token,
    );
    // The whole plan: the token comes from the package's `token-env`.
    let settings = snapshot::settings(&project);
    settings.bind(|| insta::assert_snapshot!("plan_token_env", snapshot::transcript(&plan)));

    let dry = project.run(&["release", "--dry-run", "hf-local-v1.0.0"]);
    // The whole dry-run summary: nothing uploaded, and where the files are
    // ([TEMP]/state/data/releases/open-ticket-ai-hf-local/1.0.0).
    settings.bind(|| insta::assert_snapshot!("release_dry_run", snapshot::transcript(&dry)));
    assert_nothing_published(&server);

    project
        .run_with_token(
            &["release", "hf-local-v1.0.0"],
            "PYPI_API_TOKEN_HF_LOCAL",
            &server.token,
        )
        .assert_ok();
    assert_eq!(files_in(&server.packages_dir), HF_FILES);
}

#[test]
fn plan_reports_every_check_as_text_and_json() {
    let (project, _server) = project_with_server("");
    project.tag("v1.0.0");
    let plan = project.run(&["plan", "v1.0.0"]);
    // No token in the environment: the plan fails on exactly that, every
    // other check passes (the whole text).
    snapshot::settings(&project)
        .bind(|| insta::assert_snapshot!("plan_without_token", snapshot::transcript(&plan)));
    let json = project.run(&["plan", "v1.0.0", "--json", "--repository", "local"]);
    json.assert_ok();
    let value: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(value["ok"], true);
    assert_eq!(value["plan"]["package"], "open-ticket-ai");
    assert_eq!(value["plan"]["version"], "1.0.0");
    assert_eq!(value["plan"]["repository"], "local");
    assert_eq!(
        value["plan"]["commit"],
        git(&project.root, &["rev-parse", "HEAD"])
    );
    assert!(
        value["plan"]["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] == "pass")
    );
}

#[test]
fn changelog_without_the_version_warns_or_fails_when_required() {
    let (project, _server) = project_with_server("");
    project.write("CHANGELOG.md", "# Changelog\n\n## 0.9.0\n");
    project.commit("old changelog");
    project.tag("v1.0.0");
    let plan = project.run(&["plan", "v1.0.0", "--repository", "local"]);
    let settings = snapshot::settings(&project);
    settings.bind(|| insta::assert_snapshot!("plan_changelog_warns", snapshot::transcript(&plan)));

    let config = std::fs::read_to_string(project.root.join("tagpub.toml")).unwrap();
    project.write(
        "tagpub.toml",
        &config.replace("[defaults]\n", "[defaults]\nrequire-changelog = true\n"),
    );
    retag(&project, "v1.0.0");
    let plan = project.run(&["plan", "v1.0.0", "--repository", "local"]);
    settings
        .bind(|| insta::assert_snapshot!("plan_changelog_required", snapshot::transcript(&plan)));
}

// ---- bad input: a clear message, a non-zero exit, nothing published ----

#[test]
fn lightweight_tag_is_refused() {
    let (project, server) = project_with_server("");
    git(&project.root, &["tag", "hf-local-v1.0.0"]);
    let run = project.run_with_token(
        &["release", "hf-local-v1.0.0"],
        "PYPI_API_TOKEN",
        &server.token,
    );
    // The whole refusal: a lightweight tag, the config requires annotated ones.
    snapshot::settings(&project)
        .bind(|| insta::assert_snapshot!("refused_lightweight_tag", snapshot::transcript(&run)));
    assert_nothing_published(&server);
}

#[test]
fn tag_version_must_equal_pyproject_at_the_tagged_commit() {
    let (project, server) = project_with_server("");
    project.tag("hf-local-v1.0.1");
    // The working tree says 1.0.1, but the tagged commit does not: only the
    // commit counts.
    tagpub::sample::set_version(
        &project.root,
        "src/open_ticket_ai_hf_local",
        "1.0.0",
        "1.0.1",
    )
    .unwrap();
    project
        .run_with_token(&["release", "hf-local-v1.0.1"], "PYPI_API_TOKEN", &server.token)
        .assert_fails(
            1,
            "tag hf-local-v1.0.1 says 1.0.1 but src/open_ticket_ai_hf_local/pyproject.toml at",
        )
        .assert_fails(1, "says 1.0.0: bump the version in pyproject.toml, then move the tag or create hf-local-v1.0.2");
    assert_nothing_published(&server);
}

#[test]
fn tags_that_are_not_releases_are_refused_with_the_patterns() {
    let (project, server) = project_with_server("");
    let settings = snapshot::settings(&project);
    project.tag("hf-local-vnext");
    let run = project.run_with_token(
        &["release", "hf-local-vnext"],
        "PYPI_API_TOKEN",
        &server.token,
    );
    // Each whole refusal (exit 2): `next` is not a PEP 440 version; a tag
    // that matches no package, with every package's patterns; no such tag.
    settings.bind(|| insta::assert_snapshot!("refused_not_a_version", snapshot::transcript(&run)));
    project.tag("nightly-2026");
    let run = project.run_with_token(
        &["release", "nightly-2026"],
        "PYPI_API_TOKEN",
        &server.token,
    );
    settings.bind(|| insta::assert_snapshot!("refused_no_package", snapshot::transcript(&run)));
    let run = project.run(&["plan", "v9.9.9"]);
    settings.bind(|| insta::assert_snapshot!("refused_no_such_tag", snapshot::transcript(&run)));
    assert_nothing_published(&server);
}

/// Commits the working tree and (re)creates `tag` there: a release reads
/// the config of the tagged commit.
fn retag(project: &Project, tag: &str) {
    project.commit("config");
    git(&project.root, &["tag", "-f", "-a", "-m", "x", tag]);
}

#[test]
fn broken_configs_are_refused_with_location() {
    let (project, server) = project_with_server("");
    project.write(
        "tagpub.toml",
        "[[package]]\nname = \"open-ticket-ai\"\ntags = [\"v{version}\"\n",
    );
    retag(&project, "v1.0.0");
    project
        .run(&["release", "v1.0.0"])
        .assert_fails(2, "tagpub.toml:3:");
    project.write(
        "tagpub.toml",
        "[[package]]\nname = \"open-ticket-ai\"\ntags = [\"{version}\"]\n\n[[package]]\nname = \"other\"\npath = \"src/x\"\ntags = [\"v{version}\"]\n",
    );
    retag(&project, "v1.0.0");
    project.run(&["release", "v1.0.0"]).assert_fails(
        2,
        "tag patterns `{version}` (package `open-ticket-ai`) and `v{version}` (package `other`) can match the same tag",
    );
    project.write(
        "tagpub.toml",
        "[[package]]\nname = \"open-ticket-ai\"\ntags = [\"v{version}\"]\nrepo = \"pypi\"\n",
    );
    retag(&project, "v1.0.0");
    project
        .run(&["plan", "v1.0.0"])
        .assert_fails(2, "tagpub.toml:4:1: unknown field `repo`");
    assert_nothing_published(&server);
}

#[test]
fn a_failing_build_is_reported_with_its_output() {
    let (project, server) = project_with_server("");
    let pyproject = std::fs::read_to_string(
        project
            .root
            .join("src/open_ticket_ai_hf_local/pyproject.toml"),
    )
    .unwrap();
    project.write(
        "src/open_ticket_ai_hf_local/pyproject.toml",
        &pyproject.replace(
            "build-backend = \"hatchling.build\"",
            "build-backend = \"hatchling.no_such_module\"",
        ),
    );
    project.commit("break the build");
    project.tag("hf-local-v1.0.0");
    let run = project.run_with_token(
        &["release", "hf-local-v1.0.0"],
        "PYPI_API_TOKEN",
        &server.token,
    );
    run.assert_fails(1, "the build failed")
        .assert_fails(1, "no_such_module")
        .assert_fails(1, "Full log:");
    assert_nothing_published(&server);

    // A pyproject.toml that is not TOML fails the plan before any build.
    project.write(
        "src/open_ticket_ai_otobo_znuny_plugin/pyproject.toml",
        "[project\nname = \"x\"\n",
    );
    project.commit("syntax error");
    project.tag("otobo-znuny-v1.0.0");
    project
        .run_with_token(
            &["release", "otobo-znuny-v1.0.0"],
            "PYPI_API_TOKEN",
            &server.token,
        )
        .assert_fails(1, "is not valid TOML");
    assert_nothing_published(&server);
}

#[test]
fn missing_and_wrong_tokens_are_refused() {
    let (project, server) = project_with_server("");
    project.tag("hf-local-v1.0.0");
    project
        .run(&["release", "hf-local-v1.0.0"])
        .assert_fails(1, "no token for `open-ticket-ai-hf-local` on testindex")
        .assert_fails(1, "PYPI_API_TOKEN_HF_LOCAL");
    let wrong = "pypi-wrong-token-value";
    let run = project.run_with_token(&["release", "hf-local-v1.0.0"], "PYPI_API_TOKEN", wrong);
    run.assert_fails(1, "403");
    assert!(
        !run.stderr.contains(wrong),
        "the token leaked: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("The release is incomplete"),
        "{}",
        run.stderr
    );
    assert_nothing_published(&server);
}

#[test]
fn same_version_with_other_bytes_is_a_conflict_and_nothing_is_uploaded() {
    let (project, server) = project_with_server("");
    project.tag("hf-local-v1.0.0");
    std::fs::write(
        server
            .packages_dir
            .join("open_ticket_ai_hf_local-1.0.0.tar.gz"),
        b"other bytes",
    )
    .unwrap();
    project
        .run_with_token(
            &["release", "hf-local-v1.0.0"],
            "PYPI_API_TOKEN",
            &server.token,
        )
        .assert_fails(
            1,
            "already has open_ticket_ai_hf_local-1.0.0.tar.gz with other bytes",
        )
        .assert_fails(1, "A version can be published only once");
    // The wheel was not uploaded either: the conflict is found first.
    assert_eq!(
        files_in(&server.packages_dir),
        ["open_ticket_ai_hf_local-1.0.0.tar.gz"]
    );
}

#[test]
fn an_unreachable_index_fails_before_uploading() {
    let (port, _held) = common::closed_port();
    let project = Project::sample(&[]);
    project.configure(
        "down",
        &format!("\n[repository.down]\nurl = \"http://127.0.0.1:{port}/\"\n"),
    );
    project.tag("v1.0.0");
    let mut command = project.command(&["release", "v1.0.0"]);
    command
        .env("PYPI_API_TOKEN", "pypi-x")
        .env("TAGPUB_RETRY_BASE", "10ms");
    Run::from_output(command.output().unwrap())
        .assert_fails(1, "nothing was uploaded")
        .assert_fails(1, "gave up after 5 attempts")
        .assert_fails(1, &format!("127.0.0.1:{port}"));
}

// ---- build environment, git formats, build tools ----

#[test]
fn the_build_sees_no_token_and_gets_the_tag_date() {
    let (project, server) = project_with_server("");
    // A build command that records the environment it sees, then builds
    // (into a dir the build sandbox is told to allow).
    let dump_dir = project.temp.path().join("dump");
    let env_dump = dump_dir.join("build-env.txt");
    project.build_with_prelude(&format!("env > '{}'", env_dump.display()), &dump_dir);
    project.tag("v1.0.0");
    let tag_date = git(
        &project.root,
        &[
            "for-each-ref",
            "--format=%(taggerdate:unix)",
            "refs/tags/v1.0.0",
        ],
    );
    let run = project
        .command(&["release", "v1.0.0", "-vv"])
        .env("PYPI_API_TOKEN", &server.token)
        .env("PYPI_API_TOKEN_HF_LOCAL", "pypi-other-secret")
        .env("TWINE_PASSWORD", "twine-secret")
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let env = std::fs::read_to_string(&env_dump).unwrap();
    for secret in [
        server.token.as_str(),
        "pypi-other-secret",
        "twine-secret",
        "PYPI_API_TOKEN",
        "TWINE_PASSWORD",
    ] {
        assert!(!env.contains(secret), "the build saw {secret}");
    }
    assert!(
        env.contains(&format!("SOURCE_DATE_EPOCH={tag_date}")),
        "{env}"
    );
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        !output.contains(&server.token),
        "the token appeared in -vv output"
    );
}

#[test]
fn reftable_and_sha256_repositories_release() {
    for init in [["--ref-format=reftable"], ["--object-format=sha256"]] {
        let project = Project::sample(&init);
        project.configure("local", "");
        project.tag("otobo-znuny-v1.0.0");
        let run = project.run(&["release", "otobo-znuny-v1.0.0"]);
        run.assert_ok();
        let index = project
            .local_index()
            .join("open-ticket-ai-otobo-znuny-plugin");
        let files = files_in(&index);
        assert!(
            files.contains(&"open_ticket_ai_otobo_znuny_plugin-1.0.0.tar.gz".to_string()),
            "{init:?}: {files:?}"
        );
    }
}

#[test]
fn dynamic_versions_get_the_tag_version() {
    let project = Project::sample(&[]);
    project.configure("local", "");
    project.write(
        "src/open_ticket_ai_otobo_znuny_plugin/pyproject.toml",
        r#"[build-system]
requires = ["setuptools>=69", "setuptools-scm>=8"]
build-backend = "setuptools.build_meta"

[project]
name = "open-ticket-ai-otobo-znuny-plugin"
dynamic = ["version"]
description = "dynamic"
readme = "README.md"

[tool.setuptools]
packages = ["open_ticket_ai_otobo_znuny_plugin"]

[tool.setuptools_scm]
"#,
    );
    project.commit("dynamic version");
    project.tag("otobo-znuny-v2.1.0rc1");
    let run = project.run(&["release", "otobo-znuny-v2.1.0rc1"]);
    run.assert_ok();
    assert!(
        run.stderr.contains(
            "SETUPTOOLS_SCM_PRETEND_VERSION_FOR_OPEN_TICKET_AI_OTOBO_ZNUNY_PLUGIN=2.1.0rc1"
        ),
        "{}",
        run.stderr
    );
    let files = files_in(
        &project
            .local_index()
            .join("open-ticket-ai-otobo-znuny-plugin"),
    );
    assert!(
        files.contains(&"open_ticket_ai_otobo_znuny_plugin-2.1.0rc1-py3-none-any.whl".to_string()),
        "{files:?}"
    );
}

#[test]
fn python_m_build_is_used_without_uv_and_build_uses_head() {
    let project = Project::sample(&[]);
    project.configure("local", "");
    // Uncommitted changes must not reach a build.
    project.write(
        "open_ticket_ai/__init__.py",
        "raise SystemExit('uncommitted')\n",
    );
    let run = project
        .command(&["build", "open-ticket-ai", "--out-dir", "out"])
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("TAGPUB_PYTHON", common::venv_bin("python"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(stderr.contains("-m build"), "{stderr}");
    assert_eq!(
        files_in(&project.root.join("out")),
        [
            "open_ticket_ai-1.0.0-py3-none-any.whl",
            "open_ticket_ai-1.0.0.tar.gz"
        ]
    );
    let wheel = std::fs::File::open(
        project
            .root
            .join("out/open_ticket_ai-1.0.0-py3-none-any.whl"),
    )
    .unwrap();
    let mut archive = zip::ZipArchive::new(wheel).unwrap();
    let mut init = String::new();
    std::io::Read::read_to_string(
        &mut archive.by_name("open_ticket_ai/__init__.py").unwrap(),
        &mut init,
    )
    .unwrap();
    assert!(init.contains("NAME = \"core\""), "{init}");
}

#[test]
fn verify_install_installs_from_the_index_and_imports_or_says_why_not() {
    let project = Project::sample(&[]);
    project.configure("local", "");
    let config = std::fs::read_to_string(project.root.join("tagpub.toml")).unwrap();
    project.write(
        "tagpub.toml",
        &config.replace("[defaults]\n", "[defaults]\nverify = \"install\"\n"),
    );
    project.commit("verify by installing");

    // The plugin needs the core package, which is not on the index yet:
    // published, but the install check fails and says so.
    project.tag("hf-local-v1.0.0");
    let run = project.run(&["release", "hf-local-v1.0.0"]);
    run.assert_fails(
        1,
        "open-ticket-ai-hf-local 1.0.0 is published on local, but installing it from there failed",
    );
    assert!(run.stderr.contains("open-ticket-ai"), "{}", run.stderr);

    // With the core published, the same release verifies by installing.
    project.tag("v1.0.0");
    project.run(&["release", "v1.0.0"]).assert_ok();
    let again = project.run(&["release", "hf-local-v1.0.0", "--json"]);
    again.assert_ok();
    let summary: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(summary["status"], "already-complete", "{}", again.stdout);
    assert_eq!(
        summary["installed"]["imported"],
        serde_json::json!(["open_ticket_ai_hf_local"]),
        "{}",
        again.stdout
    );
}
