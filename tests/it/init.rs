//! `tagpub init` learns the repository's own tag scheme: reduced
//! reproductions of open-ticket-ai (one `v*` tag for several setuptools-scm
//! packages, older per-package tags), pypa/hatch (lightweight `hatch-v*` and
//! `hatchling-v*` tags, a test fixture), directories that are never
//! released, and a repository without tags. Each runs the real binary on a
//! real git repository, then `plan` on the tags with the config it wrote.

use crate::common::project::{Project, Run, git_command};
use crate::common::snapshot;

/// An empty git repository in a temp dir.
fn repository() -> Project {
    Project::empty(&[])
}

/// Runs git with author and committer (and so tagger) dates set to `date`.
fn git_on(project: &Project, date: &str, args: &[&str]) {
    let output = git_command("git", &project.root, args)
        .env("GIT_AUTHOR_DATE", date)
        .env("GIT_COMMITTER_DATE", date)
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn commit_on(project: &Project, date: &str, message: &str) {
    git_on(project, date, &["add", "--all"]);
    git_on(project, date, &["commit", "--quiet", "-m", message]);
}

fn annotated(project: &Project, date: &str, tag: &str) {
    git_on(
        project,
        date,
        &["tag", "-a", "-m", &format!("Release {tag}"), tag],
    );
}

fn lightweight(project: &Project, date: &str, tag: &str) {
    git_on(project, date, &["tag", tag]);
}

#[track_caller]
fn assert_has(run: &Run, text: &str) {
    assert!(
        run.stdout.contains(text) || run.stderr.contains(text),
        "expected `{text}` in the output\nstdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
}

const SCM_ROOT: &str = r#"[project]
name = "open-ticket-ai"
dynamic = ["version"]
dependencies = ["otai-base", "otai-hf-local"]

[build-system]
requires = ["setuptools>=61", "setuptools_scm[toml]>=8.1"]
build-backend = "setuptools.build_meta"

[tool.setuptools_scm]
tag_regex = '^v(?P<version>\d+\.\d+\.\d+)$'
"#;

fn scm_member(name: &str) -> String {
    format!(
        r#"[project]
name = "{name}"
dynamic = ["version"]

[build-system]
requires = ["setuptools>=61", "setuptools_scm[toml]>=8.1"]
build-backend = "setuptools.build_meta"

[tool.setuptools_scm]
root = "../.."
version_scheme = "guess-next-dev"
tag_regex = '^v(?P<version>\d+\.\d+\.\d+)$'
"#
    )
}

/// open-ticket-ai, reduced: per-package tags before 1.1.0 (lightweight),
/// then one annotated `v*` tag per release for every package, versioned by
/// setuptools-scm with `root = "../.."` and a `v` tag regex; a Docker demo
/// under `deployment/`.
#[test]
fn one_v_tag_for_setuptools_scm_packages_becomes_one_group() {
    let project = repository();
    project.write("pyproject.toml", SCM_ROOT);
    project.write(
        "packages/otai_base/pyproject.toml",
        &scm_member("otai-base"),
    );
    project.write(
        "packages/otai_hf_local/pyproject.toml",
        &scm_member("otai-hf-local"),
    );
    project.write(
        "deployment/demo/pyproject.toml",
        "[project]\nname = \"otobo-demo\"\nversion = \"0.1.8\"\n",
    );
    commit_on(&project, "2025-09-01T10:00:00Z", "1.0");
    lightweight(&project, "2025-09-01T10:00:00Z", "otai-base-v1.0.1");
    lightweight(&project, "2025-09-01T10:00:00Z", "hf-local-v1.0.1");
    annotated(&project, "2025-09-01T10:00:00Z", "v1.0.1");
    for (date, version) in [
        ("2025-10-20T10:00:00Z", "1.1.0"),
        ("2025-11-01T10:00:00Z", "1.4.0"),
        ("2025-11-12T10:00:00Z", "1.5.14"),
    ] {
        project.write("CHANGES", version);
        commit_on(&project, date, version);
        annotated(&project, date, &format!("v{version}"));
    }

    let init = project.run(&["init", "--yes", "--repository", "local"]);
    init.assert_ok();
    // The whole config and report: the group of all three with no
    // patterns of their own, no retired prefixes, no demo.
    let config = std::fs::read_to_string(project.root.join("tagpub.toml")).unwrap();
    let settings = snapshot::settings(&project);
    settings.bind(|| {
        insta::assert_snapshot!("scm_group_config", config);
        insta::assert_snapshot!("scm_group_init", snapshot::transcript(&init));
    });

    // The newest release tag plans for every member, and no demo.
    let plan = project.run(&["plan", "v1.5.14"]);
    settings.bind(|| insta::assert_snapshot!("scm_group_plan", snapshot::transcript(&plan)));
}

const HATCH_ROOT: &str = r#"[project]
name = "hatch"
dynamic = ["version"]

[build-system]
requires = ["hatchling>=1.24.2", "hatch-vcs>=0.3.0"]
build-backend = "hatchling.build"

[tool.hatch.version]
source = "vcs"

[tool.hatch.version.raw-options]
local_scheme = "no-local-version"
git_describe_command = ["git", "describe", "--dirty", "--tags", "--long", "--match", "hatch-v*"]
"#;

const HATCHLING: &str = r#"[project]
name = "hatchling"
dynamic = ["version"]

[build-system]
requires = []
build-backend = "hatchling.build"
backend-path = ["src"]

[tool.hatch.version]
path = "src/hatchling/__about__.py"
"#;

fn about(project: &Project, version: &str) {
    project.write(
        "backend/src/hatchling/__about__.py",
        &format!("__version__ = '{version}'\n"),
    );
}

/// pypa/hatch, reduced: `hatch` (root, hatch-vcs `--match hatch-v*`) and
/// `hatchling` (`backend/`, version in `__about__.py`), every tag
/// lightweight, a downstream test project under `backend/tests/`. One
/// hatchling tag was made on a commit whose `__about__.py` says otherwise:
/// plan fails it, and the pass rate says so.
#[test]
fn lightweight_per_package_tags_keep_their_prefixes() {
    let project = repository();
    project.write("pyproject.toml", HATCH_ROOT);
    project.write("backend/pyproject.toml", HATCHLING);
    project.write(
        "backend/tests/downstream/datadogpy/pyproject.toml",
        "[project]\nname = \"datadog\"\nversion = \"0.49.1\"\n",
    );
    about(&project, "1.0.0");
    commit_on(&project, "2024-01-01T10:00:00Z", "start");
    lightweight(&project, "2024-01-01T10:00:00Z", "hatchling-v1.0.0");
    lightweight(&project, "2024-01-01T10:00:00Z", "hatch-v1.0.0");
    about(&project, "1.1.0");
    commit_on(&project, "2024-02-01T10:00:00Z", "hatchling 1.1.0");
    lightweight(&project, "2024-02-01T10:00:00Z", "hatchling-v1.1.0");
    project.write("README", "docs");
    commit_on(&project, "2024-03-01T10:00:00Z", "no bump");
    // A mistake: __about__.py still says 1.1.0.
    lightweight(&project, "2024-03-01T10:00:00Z", "hatchling-v1.2.0");
    about(&project, "1.3.0");
    commit_on(&project, "2024-04-01T10:00:00Z", "hatchling 1.3.0");
    lightweight(&project, "2024-04-01T10:00:00Z", "hatchling-v1.3.0");
    // Eleven more hatch releases: only the last 10 are tried.
    for minor in 1..=11 {
        project.write("CHANGES", &minor.to_string());
        let date = format!("2024-05-{minor:02}T10:00:00Z");
        commit_on(&project, &date, "hatch release");
        lightweight(&project, &date, &format!("hatch-v1.{minor}.0"));
    }

    let init = project.run(&["init", "--yes", "--repository", "local"]);
    init.assert_ok();
    // The whole config and report: two packages with their own prefixes,
    // require-annotated = false and why, no group, no datadog fixture.
    let config = std::fs::read_to_string(project.root.join("tagpub.toml")).unwrap();
    snapshot::settings(&project).bind(|| {
        insta::assert_snapshot!("hatch_config", config);
        insta::assert_snapshot!("hatch_init", snapshot::transcript(&init));
    });

    for tag in ["hatch-v1.11.0", "hatchling-v1.3.0"] {
        let plan = project.run(&["plan", tag]);
        plan.assert_ok();
        assert_has(
            &plan,
            "is a lightweight tag (allowed: require-annotated = false)",
        );
    }
}

/// Static versions moved with the `v*` tags (no VCS plugin) join the root's
/// group; a package with its own recent tags and its own version does not.
#[test]
fn lockstep_static_versions_join_the_shared_tags_and_independent_ones_keep_theirs() {
    let project = repository();
    let write = |version: &str, plugin: &str| {
        project.write(
            "pyproject.toml",
            &format!("[project]\nname = \"core\"\nversion = \"{version}\"\n"),
        );
        project.write(
            "packages/core_extra/pyproject.toml",
            &format!("[project]\nname = \"core-extra\"\nversion = \"{version}\"\n"),
        );
        project.write(
            "packages/plugin/pyproject.toml",
            &format!("[project]\nname = \"core-plugin\"\nversion = \"{plugin}\"\n"),
        );
    };
    write("1.0.0", "0.1.0");
    commit_on(&project, "2025-01-01T10:00:00Z", "1.0.0");
    // Before the switch to one tag, core-extra had tags of its own.
    annotated(&project, "2025-01-01T10:00:00Z", "extra-v1.0.0");
    annotated(&project, "2025-01-01T10:00:00Z", "plugin-v0.1.0");
    annotated(&project, "2025-01-01T10:00:00Z", "v1.0.0");
    write("1.1.0", "0.1.0");
    commit_on(&project, "2025-02-01T10:00:00Z", "1.1.0");
    annotated(&project, "2025-02-01T10:00:00Z", "v1.1.0");
    write("1.2.0", "0.1.0");
    commit_on(&project, "2025-03-01T10:00:00Z", "1.2.0");
    annotated(&project, "2025-03-01T10:00:00Z", "v1.2.0");

    let init = project.run(&["init", "--yes", "--repository", "local"]);
    init.assert_ok();
    let config = std::fs::read_to_string(project.root.join("tagpub.toml")).unwrap();
    assert!(
        config.contains("[[group]]\nname = \"core\"\ntags = [\"v{version}\"]\npackages = [\"core\", \"core-extra\"]\n"),
        "{config}"
    );
    assert!(
        config.contains("tags = [\"plugin-v{version}\"]"),
        "{config}"
    );
    assert!(!config.contains("extra-v{version}"), "{config}");
    assert_has(
        &init,
        "core-extra (packages/core_extra): v{version} (3 recent tags like v1.2.0, and its version at v1.2.0 is 1.2.0)",
    );
    assert_has(
        &init,
        "`v{version}` → group core (2 packages): matches 3 of 5 release tags; 3 of the last 3 release tags pass plan",
    );
    assert_has(
        &init,
        "`plugin-v{version}` → core-plugin: matches 1 of 5 release tags; 1 of the last 1 release tags pass plan",
    );
    project.run(&["plan", "v1.2.0"]).assert_ok();
}

/// Examples, templates, docs and a package classified private are listed
/// as skipped with the reason, and left out of the config.
#[test]
fn examples_templates_docs_and_private_packages_are_skipped() {
    let project = repository();
    let static_project = |name: &str, extra: &str| {
        format!("[project]\nname = \"{name}\"\nversion = \"0.1.0\"\n{extra}")
    };
    project.write("pyproject.toml", &static_project("app", ""));
    project.write(
        "packages/real/pyproject.toml",
        &static_project("app-real", ""),
    );
    project.write(
        "examples/hello/pyproject.toml",
        &static_project("hello", ""),
    );
    project.write(
        "templates/cookie/pyproject.toml",
        &static_project("cookie", ""),
    );
    project.write("docs/ext/pyproject.toml", &static_project("docs-ext", ""));
    project.write(
        "samples/one/pyproject.toml",
        &static_project("sample-one", ""),
    );
    project.write(
        "packages/internal/pyproject.toml",
        &static_project(
            "internal",
            "classifiers = [\"Programming Language :: Python\", \"Private :: Do Not Upload\"]\n",
        ),
    );
    project.commit("start");

    let init = project.run(&["init", "--yes"]);
    init.assert_ok();
    let config = std::fs::read_to_string(project.root.join("tagpub.toml")).unwrap();
    for (name, path, reason) in [
        ("hello", "examples/hello", "an example (under examples/)"),
        (
            "cookie",
            "templates/cookie",
            "a template (under templates/)",
        ),
        ("docs-ext", "docs/ext", "documentation (under docs/)"),
        ("sample-one", "samples/one", "a sample (under samples/)"),
        (
            "internal",
            "packages/internal",
            "classifier `Private :: Do Not Upload`",
        ),
    ] {
        assert_has(&init, &format!("skipped {name} ({path}): {reason}"));
        assert!(!config.contains(&format!("\"{name}\"")), "{config}");
    }
    assert!(config.contains("name = \"app\""), "{config}");
    assert!(config.contains("tags = [\"real-v{version}\"]"), "{config}");
    assert_has(&init, "wrote");
    assert_has(&init, "with 2 packages");
}

/// Without tags, the proposal is the one init always made, and it says
/// there was nothing to learn from. No terminal (a CI job, stdin closed):
/// it writes without asking, `--yes` or not.
#[test]
fn without_tags_the_seed_proposal_stays() {
    let project = Project::sample(&[]);
    let init = project.run(&["init"]);
    init.assert_ok();
    let config = std::fs::read_to_string(project.root.join("tagpub.toml")).unwrap();
    assert!(config.contains("tags = [\"v{version}\"]"), "{config}");
    assert!(
        config.contains("tags = [\"hf-local-v{version}\"]"),
        "{config}"
    );
    assert!(
        config.contains("tags = [\"otobo-znuny-v{version}\"]"),
        "{config}"
    );
    assert!(config.contains("require-annotated = true"), "{config}");
    assert!(!config.contains("[[group]]"), "{config}");
    assert_has(
        &init,
        "open-ticket-ai (.): v{version} (no release tags yet)",
    );
    assert_has(
        &init,
        "`hf-local-v{version}` → open-ticket-ai-hf-local: matches 0 of 0 release tags; no release tag to try plan on",
    );
}

/// Tags from more than two years before the newest one are history: a
/// prefix last used then is not proposed again.
#[test]
fn tags_older_than_two_years_do_not_decide() {
    let project = repository();
    project.write(
        "pyproject.toml",
        "[project]\nname = \"core\"\nversion = \"2.0.0\"\n",
    );
    project.write(
        "packages/extra/pyproject.toml",
        "[project]\nname = \"core-extra\"\nversion = \"0.5.0\"\n",
    );
    commit_on(&project, "2021-01-01T10:00:00Z", "old");
    annotated(&project, "2021-01-01T10:00:00Z", "core-extra-v0.1.0");
    project.write("CHANGES", "2.0.0");
    commit_on(&project, "2025-06-01T10:00:00Z", "2.0.0");
    annotated(&project, "2025-06-01T10:00:00Z", "v2.0.0");

    let init = project.run(&["init", "--yes", "--repository", "local"]);
    init.assert_ok();
    let config = std::fs::read_to_string(project.root.join("tagpub.toml")).unwrap();
    assert!(config.contains("tags = [\"extra-v{version}\"]"), "{config}");
    assert!(!config.contains("core-extra-v{version}"), "{config}");
    assert_has(
        &init,
        "core-extra (packages/extra): extra-v{version} (no recent release tag names it)",
    );
    assert_has(
        &init,
        "`v{version}` → core: matches 1 of 2 release tags; 1 of the last 1 release tags pass plan",
    );
}
