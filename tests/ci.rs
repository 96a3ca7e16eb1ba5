//! `tagpub ci github|gitlab|resolve`: the generated pipelines pass GitHub's
//! and GitLab's schemas (check-jsonschema's vendored copies, offline) and
//! zizmor's audits (offline), equal the snapshots in tests/snapshots/
//! byte for byte, are regenerated to the same bytes, and `--check` tells a
//! stale file from a fresh one.
//!
//! `TAGPUB_UPDATE_SNAPSHOTS=1 cargo test --test ci` rewrites the snapshots;
//! review the diff before committing it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::project::{Project, Run};
use common::venv_bin;

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

#[track_caller]
fn assert_valid_github(file: &Path) {
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
    std::fs::write(&bad, "job:\n  stagex: deploy\n  script: [x]\n").unwrap();
    let schema = tool(
        "check-jsonschema",
        &["--builtin-schema", "vendor.gitlab-ci"],
        &bad,
    );
    assert_ne!(schema.code, 0, "{}", schema.stdout);
}

#[test]
fn github_workflow_for_one_package() {
    let project = one_package();
    let run = project.run(&["ci", "github"]);
    run.assert_ok();
    assert!(
        run.stderr
            .contains("wrote .github/workflows/tagpub-release.yml")
    );
    // Trusted publishing needs one publisher per package on PyPI.
    assert!(
        run.stderr
            .contains("open-ticket-ai on pypi: environment `pypi`"),
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
    assert!(workflow.contains("id-token: write"));
    assert!(workflow.contains("fetch-depth: 0"));
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
    // One release job per repository, each in its environment; the
    // company index gets its token secret and no id-token.
    let pypi = job(&workflow, "release-pypi");
    assert!(pypi.contains("      name: pypi\n"), "{pypi}");
    assert!(pypi.contains("id-token: write"));
    assert!(pypi.contains("PYPI_API_TOKEN_HF_LOCAL: ${{ secrets.PYPI_API_TOKEN_HF_LOCAL }}"));
    let internal = job(&workflow, "release-internal");
    assert!(internal.contains("      name: internal\n"), "{internal}");
    assert!(!internal.contains("id-token"), "{internal}");
    assert!(internal.contains("INTERNAL_PYPI_TOKEN: ${{ secrets.INTERNAL_PYPI_TOKEN }}"));
    assert!(!job(&workflow, "dry-run").contains("environment:"));
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
    let internal = &pipeline[pipeline.find("tagpub-release-internal:").unwrap()..];
    assert!(!internal.contains("id_tokens"), "{internal}");
    assert!(internal.contains("INTERNAL_PYPI_TOKEN"), "{internal}");
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
        "package=open-ticket-ai-hf-local\nversion=1.0.0\nrepository=pypi\n"
    );
    assert!(!run.stderr.contains("token"), "{}", run.stderr);
    project.tag("otobo-znuny-v1.0.0");
    let run = project.run(&["ci", "resolve", "otobo-znuny-v1.0.0"]);
    run.assert_ok();
    assert!(
        run.stdout.ends_with("repository=internal\n"),
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
    let bin_dir = Path::new(common::project::TAGPUB).parent().unwrap();
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
        "package=open-ticket-ai-hf-local\nversion=1.0.0\nrepository=pypi\n"
    );
    assert!(job(&workflow, "release-pypi").contains("needs.resolve.outputs.repository == 'pypi'"));
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
