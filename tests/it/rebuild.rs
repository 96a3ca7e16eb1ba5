//! Issue 13, item 3: `tagpub rebuild` compares a build of the tag with the
//! index's files; item 2: pretend versions are only a fallback. Real git
//! repos, real builds, a real pypiserver.

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::PypiServer;
use crate::common::project::{Project, Run, git};

const HF_TAG: &str = "hf-local-v1.0.0";
const HF_WHEEL: &str = "open_ticket_ai_hf_local-1.0.0-py3-none-any.whl";
const HF_SDIST: &str = "open_ticket_ai_hf_local-1.0.0.tar.gz";
const HF_TOKEN_ENV: &str = "PYPI_API_TOKEN_HF_LOCAL";

/// The wheels and sdists under `dir` (recursively), by name, with their paths.
fn dists_under(dir: &Path) -> BTreeMap<String, PathBuf> {
    let mut found = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                stack.push(path);
            } else if name.ends_with(".whl") || name.ends_with(".tar.gz") {
                found.insert(name, path);
            }
        }
    }
    found
}

/// The sample monorepo publishing to `server`, tagged `HF_TAG` (hatchling).
fn published_project(server: &PypiServer) -> Project {
    let project = Project::publishing_to("testindex", &server.url);
    project.tag(HF_TAG);
    project
}

/// Uploads `files` to `server` with twine (the token in the environment).
fn twine_upload(server: &PypiServer, files: &[&Path]) {
    let output = Command::new(common::venv_bin("twine"))
        .args([
            "upload",
            "--non-interactive",
            "--repository-url",
            &server.url,
        ])
        .args(files)
        .env("TWINE_USERNAME", "__token__")
        .env("TWINE_PASSWORD", &server.token)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "twine upload failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn rebuild(project: &Project, json: bool) -> Run {
    let mut args = vec!["rebuild", HF_TAG];
    if json {
        args.push("--json");
    }
    project.run(&args)
}

#[test]
fn a_release_published_by_tagpub_rebuilds_byte_identical() {
    let server = PypiServer::start();
    let project = published_project(&server);
    project
        .run_with_token(&["release", HF_TAG], HF_TOKEN_ENV, &server.token)
        .assert_ok();

    let run = rebuild(&project, false);
    run.assert_ok();
    assert!(
        run.stderr.contains("byte-identical, 2 files"),
        "{}",
        run.stderr
    );
    for file in [HF_WHEEL, HF_SDIST] {
        assert!(
            run.stderr.contains(&format!("✓ {file}: identical")),
            "{file}:\n{}",
            run.stderr
        );
    }
    // Nothing was uploaded by the rebuild.
    assert_eq!(server.uploads(), 2);

    // Usage errors exit 2, before building anything.
    project
        .run(&["rebuild", HF_TAG, "--repository", "nowhere"])
        .assert_fails(2, "unknown repository `nowhere`");
    project
        .run(&["rebuild", "hf-local-v9.9.9"])
        .assert_fails(2, "does not exist");
}

#[test]
fn other_bytes_on_the_index_and_a_missing_sdist_are_reported() {
    let server = PypiServer::start();
    let project = published_project(&server);
    // The same tag built with another SOURCE_DATE_EPOCH (hatchling dates
    // every wheel entry with it), and only its wheel published.
    let other = project.temp.path().join("other-build");
    Run::from_output(
        project
            .command(&["release", HF_TAG, "--dry-run"])
            .env("TAGPUB_DATA_DIR", &other)
            .env("SOURCE_DATE_EPOCH", "1600000000")
            .output()
            .unwrap(),
    )
    .assert_ok();
    let built = dists_under(&other);
    twine_upload(&server, &[&built[HF_WHEEL]]);

    let run = rebuild(&project, false);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains(&format!("✗ {HF_WHEEL}: differs (index sha256")),
        "{}",
        run.stderr
    );
    // 1600000000 is 2020-09-13 12:26:40 UTC; the rebuild uses hatchling's
    // own fixed date (2020-02-02).
    assert!(
        run.stderr.contains("timestamp (")
            && run
                .stderr
                .contains("index 2020-09-13 12:26:40, built 2020-02-02 00:00:00"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains(&format!("✗ {HF_SDIST}: built only (not on testindex)")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("1 of 2") || run.stderr.contains("2 of 2"));

    let run = rebuild(&project, true);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let comparison = &json[0];
    assert_eq!(comparison["identical"], false);
    let files = comparison["files"].as_array().unwrap();
    let by_name = |name: &str| {
        files
            .iter()
            .find(|f| f["filename"] == name)
            .unwrap_or_else(|| panic!("{name} missing: {}", run.stdout))
    };
    let wheel = by_name(HF_WHEEL);
    assert_eq!(wheel["outcome"], "differs");
    let members = wheel["members"].as_array().unwrap();
    assert!(
        members
            .iter()
            .any(|m| m["kind"] == "timestamp"
                && m["member"] == "open_ticket_ai_hf_local/__init__.py"),
        "{}",
        run.stdout
    );
    assert_eq!(by_name(HF_SDIST)["outcome"], "built-only");
    assert!(by_name(HF_SDIST)["index_sha256"].is_null());
}

#[test]
fn a_hatchling_build_equals_python_m_build_of_a_clean_checkout() {
    let project = Project::sample(&[]);
    project.configure("local", "");
    project.tag(HF_TAG);
    let data = project.temp.path().join("data");
    Run::from_output(
        project
            .command(&["release", HF_TAG, "--dry-run"])
            .env("TAGPUB_DATA_DIR", &data)
            .output()
            .unwrap(),
    )
    .assert_ok();
    let ours = dists_under(&data);

    let clone = project.temp.path().join("clone");
    git(
        project.temp.path(),
        &[
            "clone",
            "--quiet",
            "--branch",
            HF_TAG,
            project.root.to_str().unwrap(),
            clone.to_str().unwrap(),
        ],
    );
    let out = project.temp.path().join("plain");
    let output = Command::new(common::venv_bin("python"))
        .args(["-m", "build", "--sdist", "--wheel", "--outdir"])
        .arg(&out)
        .arg(clone.join("src/open_ticket_ai_hf_local"))
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let plain = dists_under(&out);
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        plain.keys().collect::<Vec<_>>()
    );
    for (name, path) in &plain {
        assert!(
            std::fs::read(path).unwrap() == std::fs::read(&ours[name]).unwrap(),
            "{name}: tagpub's build differs from python -m build of a clean checkout"
        );
    }
}

// ---- pretend versions only as a fallback ----

/// A repository whose only package lives in `packages/scmpkg`, versioned by
/// setuptools-scm (`root = "../.."`, a `tag_regex` for `scm-v…` tags), and
/// released by tags `scm-v{version}` or `rel-{version}` (which the regex
/// does not match). The build appends the pretend variables it sees to
/// `seen-env` in a dir the sandbox allows.
fn scm_project() -> (Project, PathBuf) {
    scm_project_with("")
}

/// [`scm_project`] with `extra` lines in `[tool.setuptools_scm]`.
fn scm_project_with(extra: &str) -> (Project, PathBuf) {
    let project = Project::empty(&[]);
    let seen = project.temp.path().join("seen");
    std::fs::create_dir_all(&seen).unwrap();
    project.write(
        "tagpub.toml",
        &format!(
            "[defaults]\nrepository = \"local\"\nsandbox-allow = [\"{seen}\"]\n\
             build-command = [\"sh\", \"-c\", \"echo attempt >> {seen}/env; env | grep PRETEND_VERSION >> {seen}/env; \
             exec uv build --sdist --wheel --out-dir \\\"$0\\\" .\", \"{{outdir}}\"]\n\n\
             [[package]]\nname = \"scmpkg\"\npath = \"packages/scmpkg\"\ntags = [\"scm-v{{version}}\", \"rel-{{version}}\"]\n",
            seen = seen.display()
        ),
    );
    project.write(
        "packages/scmpkg/pyproject.toml",
        &(r#"[build-system]
requires = ["setuptools>=69", "setuptools-scm>=8"]
build-backend = "setuptools.build_meta"

[project]
name = "scmpkg"
dynamic = ["version"]
description = "versioned by its tag"
license = "MIT"

[tool.setuptools]
packages = ["scmpkg"]

[tool.setuptools_scm]
root = "../.."
tag_regex = '^scm-v(?P<version>[0-9][0-9.]*)$'
"#
        .to_string()
            + extra),
    );
    project.write("packages/scmpkg/scmpkg/__init__.py", "NAME = 'scmpkg'\n");
    project.write("README.md", "# the monorepo\n");
    project.commit("scmpkg");
    (project, seen.join("env"))
}

#[test]
fn setuptools_scm_gets_the_version_from_the_checkout_without_pretend_variables() {
    let (project, seen) = scm_project();
    project.tag("scm-v1.2.3");
    let run = project.run(&["release", "--dry-run", "scm-v1.2.3"]);
    run.assert_ok();
    let built = dists_under(&project.state.join("data/releases"));
    assert!(
        built.contains_key("scmpkg-1.2.3.tar.gz")
            && built.contains_key("scmpkg-1.2.3-py3-none-any.whl"),
        "{:?}\n{}",
        built.keys(),
        run.stderr
    );
    // One attempt, and no pretend variable in it.
    assert_eq!(
        std::fs::read_to_string(&seen).unwrap(),
        "attempt\n",
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("building again"), "{}", run.stderr);
}

#[test]
fn a_tag_the_plugin_cannot_read_builds_with_the_fallback_and_says_why() {
    let (project, seen) = scm_project();
    project.tag("rel-2.0.0");
    let run = project.run(&["release", "--dry-run", "rel-2.0.0"]);
    run.assert_ok();
    let built = dists_under(&project.state.join("data/releases"));
    assert!(
        built.contains_key("scmpkg-2.0.0.tar.gz")
            && built.contains_key("scmpkg-2.0.0-py3-none-any.whl"),
        "{:?}\n{}",
        built.keys(),
        run.stderr
    );
    assert!(
        run.stderr.contains(
            "building again with SETUPTOOLS_SCM_PRETEND_VERSION=2.0.0 and SETUPTOOLS_SCM_PRETEND_VERSION_FOR_SCMPKG=2.0.0"
        ),
        "{}",
        run.stderr
    );
    // The first attempt's log is kept, where the message says.
    assert!(
        run.stderr.contains("build.without-pretend.log)"),
        "{}",
        run.stderr
    );
    let kept = dists_under(&project.state.join("data/releases"));
    let log = kept
        .values()
        .next()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("build.without-pretend.log");
    assert!(log.is_file(), "{}", log.display());
    // Two attempts: the first without the variables, the second with both.
    let env = std::fs::read_to_string(&seen).unwrap();
    let attempts: Vec<&str> = env.split("attempt\n").skip(1).collect();
    assert_eq!(attempts.len(), 2, "{env}");
    assert_eq!(attempts[0], "", "{env}");
    assert!(
        attempts[1].contains("SETUPTOOLS_SCM_PRETEND_VERSION=2.0.0\n")
            && attempts[1].contains("SETUPTOOLS_SCM_PRETEND_VERSION_FOR_SCMPKG=2.0.0\n"),
        "{env}"
    );

    // The fallback is part of the build inputs: the same inputs reuse the
    // files, with no third attempt.
    let again = project.run(&["release", "--dry-run", "rel-2.0.0"]);
    again.assert_ok();
    assert!(
        again.stderr.contains("reusing the files"),
        "{}",
        again.stderr
    );
    assert_eq!(
        std::fs::read_to_string(&seen)
            .unwrap()
            .matches("attempt")
            .count(),
        2
    );
}

#[test]
fn a_vcs_version_other_than_the_tags_builds_again_with_the_fallback() {
    // `git describe --match scm-v*` finds no tag for `rel-…`: setuptools-scm
    // does not fail but makes up `0.1.devN+g…`.
    let (project, seen) = scm_project_with(
        "git_describe_command = [\"git\", \"describe\", \"--dirty\", \"--tags\", \"--long\", \"--match\", \"scm-v*\"]\n",
    );
    project.tag("rel-3.1.0");
    let run = project.run(&["release", "--dry-run", "rel-3.1.0"]);
    run.assert_ok();
    let built = dists_under(&project.state.join("data/releases"));
    assert!(
        built.contains_key("scmpkg-3.1.0.tar.gz")
            && built.contains_key("scmpkg-3.1.0-py3-none-any.whl"),
        "{:?}\n{}",
        built.keys(),
        run.stderr
    );
    assert!(
        run.stderr.contains("came out as version 0.1.dev")
            && run.stderr.contains("not the tag's 3.1.0")
            && run
                .stderr
                .contains("building again with SETUPTOOLS_SCM_PRETEND_VERSION=3.1.0"),
        "{}",
        run.stderr
    );
    let env = std::fs::read_to_string(&seen).unwrap();
    assert_eq!(env.matches("attempt").count(), 2, "{env}");
}

#[test]
fn hatch_vcs_builds_with_the_fallback_when_its_tag_pattern_does_not_match() {
    let project = Project::sample(&[]);
    project.write(
        "src/vcs_demo/pyproject.toml",
        r#"[build-system]
requires = ["hatchling", "hatch-vcs"]
build-backend = "hatchling.build"

[project]
name = "vcs-demo"
dynamic = ["version"]
description = "hatch-vcs"

[tool.hatch.version]
source = "vcs"
tag-pattern = '^vcs-v(?P<version>[0-9][0-9.]*)$'
raw-options = { root = "../.." }

[tool.hatch.build.targets.wheel]
packages = ["vcs_demo"]
"#,
    );
    project.write("src/vcs_demo/vcs_demo/__init__.py", "X = 1\n");
    project.configure(
        "local",
        "\n[[package]]\nname = \"vcs-demo\"\npath = \"src/vcs_demo\"\ntags = [\"demo-{version}\"]\n",
    );
    project.tag("demo-4.0.0");
    let run = project.run(&["release", "--dry-run", "demo-4.0.0"]);
    run.assert_ok();
    assert!(
        run.stderr
            .contains("building again with SETUPTOOLS_SCM_PRETEND_VERSION=4.0.0"),
        "{}",
        run.stderr
    );
    let built = dists_under(&project.state.join("data/releases"));
    assert!(
        built.contains_key("vcs_demo-4.0.0.tar.gz")
            && built.contains_key("vcs_demo-4.0.0-py2.py3-none-any.whl"),
        "{:?}\n{}",
        built.keys(),
        run.stderr
    );
}
