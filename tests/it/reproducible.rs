//! Issue 13: reproducible builds (SOURCE_DATE_EPOCH), pretend versions that
//! hatch-vcs reads, reuse that cannot publish stale bytes, build-command
//! placeholders and environment failures. Real repos, real builds, a real
//! pypiserver.

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::PypiServer;
use crate::common::project::{Project, Run, git};

const HF_TAG: &str = "hf-local-v1.0.0";
const HF_WHEEL: &str = "open_ticket_ai_hf_local-1.0.0-py3-none-any.whl";
const CORE_SDIST: &str = "open_ticket_ai-1.0.0.tar.gz";

/// Every built file under `dir` (recursively), by name, with its bytes.
fn built_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut found = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                stack.push(path);
            } else if name.ends_with(".whl") || name.ends_with(".tar.gz") {
                found.insert(name, std::fs::read(&path).unwrap());
            }
        }
    }
    found
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// `release TAG --dry-run` with its own data dir `data`; the files it built.
fn dry_run_into(project: &Project, tag: &str, data: &Path) -> BTreeMap<String, Vec<u8>> {
    let run = Run::from_output(
        project
            .command(&["release", tag, "--dry-run"])
            .env("TAGPUB_DATA_DIR", data)
            .output()
            .unwrap(),
    );
    run.assert_ok();
    let files = built_files(&data.join("releases"));
    assert_eq!(files.len(), 2, "{:?}\n{}", files.keys(), run.stderr);
    files
}

/// Keeps `tagpub.toml` out of the commits (ignored, in the working tree), so
/// a test can change the config without changing the tag, whichever of the
/// two tagpub reads it from.
fn untrack_config(project: &Project) {
    git(&project.root, &["rm", "--cached", "--quiet", "tagpub.toml"]);
    let exclude = project.root.join(".git/info/exclude");
    let mut text = std::fs::read_to_string(&exclude).unwrap_or_default();
    text.push_str("\ntagpub.toml\n");
    std::fs::write(&exclude, text).unwrap();
    git(
        &project.root,
        &["commit", "--quiet", "-m", "config outside the commits"],
    );
}

/// The zip timestamps of every entry of a wheel, as (y, m, d, h, min, s).
fn wheel_times(bytes: &[u8]) -> Vec<(u16, u8, u8, u8, u8, u8)> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    (0..archive.len())
        .map(|i| {
            let t = archive.by_index(i).unwrap().last_modified().unwrap();
            (
                t.year(),
                t.month(),
                t.day(),
                t.hour(),
                t.minute(),
                t.second(),
            )
        })
        .collect()
}

#[test]
fn two_builds_of_a_tag_are_byte_identical_setuptools_and_hatchling() {
    let project = Project::sample(&[]);
    project.configure("local", "");
    project.tag("v1.0.0");
    project.tag(HF_TAG);
    for tag in ["v1.0.0", HF_TAG] {
        let first = dry_run_into(&project, tag, &project.temp.path().join(format!("a-{tag}")));
        // setuptools dates generated files and the gzip header "now": a
        // second later, they differ unless tagpub clamps them.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let second = dry_run_into(&project, tag, &project.temp.path().join(format!("b-{tag}")));
        assert_eq!(
            first.keys().collect::<Vec<_>>(),
            second.keys().collect::<Vec<_>>()
        );
        for (name, bytes) in &first {
            assert!(
                second[name] == *bytes,
                "{tag}: {name} differs between two builds"
            );
        }
    }
}

#[test]
fn a_hatchling_build_equals_a_plain_uv_build_of_a_clean_checkout() {
    let project = Project::sample(&[]);
    project.configure("local", "");
    project.tag(HF_TAG);
    let ours = dry_run_into(&project, HF_TAG, &project.temp.path().join("data"));

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
    let status = Command::new(common::venv_bin("uv"))
        .args(["build", "--sdist", "--wheel", "--out-dir"])
        .arg(&out)
        .arg(clone.join("src/open_ticket_ai_hf_local"))
        .env_remove("SOURCE_DATE_EPOCH")
        .status()
        .unwrap();
    assert!(status.success());
    let plain = built_files(&out);
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        plain.keys().collect::<Vec<_>>()
    );
    for (name, bytes) in &plain {
        assert!(
            ours[name] == *bytes,
            "{name}: tagpub's build differs from a plain uv build ({} vs {})",
            sha256(&ours[name]),
            sha256(bytes)
        );
    }
}

#[test]
fn the_users_source_date_epoch_dates_the_wheel_from_env_or_config() {
    let project = Project::sample(&[]);
    project.configure("local", "");
    project.tag(HF_TAG);
    // 1700000000 = 2023-11-14 22:13:20 UTC.
    let run = Run::from_output(
        project
            .command(&["release", HF_TAG, "--dry-run"])
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .output()
            .unwrap(),
    );
    run.assert_ok();
    assert!(
        run.stderr
            .contains("SOURCE_DATE_EPOCH: 1700000000 (from the environment)"),
        "{}",
        run.stderr
    );
    let files = built_files(&project.state.join("data/releases"));
    let times = wheel_times(&files[HF_WHEEL]);
    assert!(
        !times.is_empty() && times.iter().all(|t| *t == (2023, 11, 14, 22, 13, 20)),
        "{times:?}"
    );

    // The config's value, for a setuptools package (whose default is the
    // tag's date). 1600000000 = 2020-09-13 12:26:40 UTC.
    let project = Project::sample(&[]);
    project.configure("local", "");
    let config = std::fs::read_to_string(project.root.join("tagpub.toml")).unwrap();
    project.write(
        "tagpub.toml",
        &config.replace(
            "[defaults]\n",
            "[defaults]\nsource-date-epoch = 1600000000\n",
        ),
    );
    project.commit("a fixed SOURCE_DATE_EPOCH");
    project.tag("v1.0.0");
    let run = project.run(&["release", "v1.0.0", "--dry-run"]);
    run.assert_ok();
    let files = built_files(&project.state.join("data/releases"));
    let wheel = "open_ticket_ai-1.0.0-py3-none-any.whl";
    let times = wheel_times(&files[wheel]);
    assert!(
        !times.is_empty() && times.iter().all(|t| *t == (2020, 9, 13, 12, 26, 40)),
        "{times:?}"
    );
    // The sdist's entries are no later than it, and its gzip header says it.
    let sdist = &files[CORE_SDIST];
    assert_eq!(&sdist[4..8], &1_600_000_000u32.to_le_bytes());
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&sdist[..]));
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        assert!(
            entry.header().mtime().unwrap() <= 1_600_000_000,
            "{:?}",
            entry.path()
        );
    }
}

#[test]
fn a_hatch_vcs_package_builds_with_the_tags_version() {
    let project = Project::sample(&[]);
    project.write(
        "src/vcs_demo/pyproject.toml",
        r#"[build-system]
requires = ["hatchling", "hatch-vcs"]
build-backend = "hatchling.build"

[project]
name = "Vcs.Demo_pkg"
dynamic = ["version"]
description = "hatch-vcs"

[tool.hatch.version]
source = "vcs"
raw-options = { root = "../.." }

[tool.hatch.build.targets.wheel]
packages = ["vcs_demo"]
"#,
    );
    project.write("src/vcs_demo/vcs_demo/__init__.py", "X = 1\n");
    project.configure(
        "local",
        "\n[[package]]\nname = \"Vcs.Demo_pkg\"\npath = \"src/vcs_demo\"\ntags = [\"pkg-{version}\"]\n",
    );
    project.tag("pkg-3.2.1");
    let run = project.run(&["release", "pkg-3.2.1"]);
    run.assert_ok();
    let files = built_files(&project.local_index());
    assert!(
        files.contains_key("vcs_demo_pkg-3.2.1-py2.py3-none-any.whl")
            && files.contains_key("vcs_demo_pkg-3.2.1.tar.gz"),
        "{:?}\n{}",
        files.keys(),
        run.stderr
    );
}

// ---- reuse only while the build inputs are unchanged ----

/// A project publishing to a fresh pypiserver, its config outside the
/// commits, tagged `v1.0.0` (the setuptools core package).
fn tagged_for_reuse() -> (Project, PypiServer) {
    let server = PypiServer::start();
    let project = Project::sample(&[]);
    project.configure(
        "testindex",
        &format!("\n[repository.testindex]\nurl = \"{}\"\n", server.url),
    );
    untrack_config(&project);
    project.tag("v1.0.0");
    (project, server)
}

/// sha256 of each file in the project's release dir.
fn built_shas(project: &Project) -> BTreeMap<String, String> {
    built_files(&project.state.join("data/releases"))
        .into_iter()
        .map(|(name, bytes)| (name, sha256(&bytes)))
        .collect()
}

/// After `release`: the index has exactly the release dir's files now.
#[track_caller]
fn assert_uploaded_current_build(project: &Project, server: &PypiServer) {
    let uploaded: BTreeMap<String, String> = built_files(&server.packages_dir)
        .into_iter()
        .map(|(name, bytes)| (name, sha256(&bytes)))
        .collect();
    assert_eq!(uploaded, built_shas(project));
}

fn release(project: &Project, server: &PypiServer, env: &[(&str, &str)]) -> Run {
    let mut command = project.command(&["release", "v1.0.0"]);
    command.env("PYPI_API_TOKEN", &server.token);
    for (name, value) in env {
        command.env(name, value);
    }
    Run::from_output(command.output().unwrap())
}

#[test]
fn a_changed_build_command_rebuilds_before_uploading() {
    let (project, server) = tagged_for_reuse();
    project.run(&["release", "v1.0.0", "--dry-run"]).assert_ok();
    let dry = built_shas(&project);
    // Same tag, another build command (its own SOURCE_DATE_EPOCH: other bytes).
    let config = std::fs::read_to_string(project.root.join("tagpub.toml")).unwrap();
    project.write(
        "tagpub.toml",
        &config.replace(
            "[defaults]\n",
            "[defaults]\nbuild-command = [\"env\", \"SOURCE_DATE_EPOCH=1500000000\", \"uv\", \"build\", \"--sdist\", \"--wheel\", \"--out-dir\", \"{outdir}\", \".\"]\n",
        ),
    );
    let run = release(&project, &server, &[]);
    run.assert_ok();
    assert!(
        run.stderr.contains("rebuilding: build-command") && run.stderr.contains("changed since"),
        "{}",
        run.stderr
    );
    assert_ne!(built_shas(&project), dry);
    assert_uploaded_current_build(&project, &server);
}

#[test]
fn a_changed_source_date_epoch_rebuilds_before_uploading() {
    let (project, server) = tagged_for_reuse();
    project.run(&["release", "v1.0.0", "--dry-run"]).assert_ok();
    let dry = built_shas(&project);
    let run = release(&project, &server, &[("SOURCE_DATE_EPOCH", "1500000000")]);
    run.assert_ok();
    assert!(
        run.stderr
            .contains("rebuilding: SOURCE_DATE_EPOCH changed since"),
        "{}",
        run.stderr
    );
    assert_ne!(built_shas(&project), dry);
    assert_uploaded_current_build(&project, &server);
}

#[test]
fn a_changed_frontend_rebuilds_and_unchanged_inputs_reuse() {
    let (project, server) = tagged_for_reuse();
    project.run(&["release", "v1.0.0", "--dry-run"]).assert_ok();
    // Same inputs: reused.
    let again = project.run(&["release", "v1.0.0", "--dry-run"]);
    again.assert_ok();
    assert!(
        again.stderr.contains("reusing the files built for v1.0.0"),
        "{}",
        again.stderr
    );
    // No uv on PATH: `python -m build` builds instead of uv.
    let bin = project.temp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let run = release(
        &project,
        &server,
        &[
            (
                "PATH",
                &format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display()),
            ),
            (
                "TAGPUB_PYTHON",
                common::venv_bin("python").to_str().unwrap(),
            ),
        ],
    );
    run.assert_ok();
    assert!(
        run.stderr
            .contains("rebuilding: build-command, frontend changed since"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("-m build"), "{}", run.stderr);
    assert_uploaded_current_build(&project, &server);
}

// ---- build-command placeholders, environment failures ----

#[test]
fn build_command_placeholders_are_substituted_and_shown() {
    let project = Project::sample(&[]);
    let dump = project.temp.path().join("dump");
    project.configure("local", "");
    project.build_with_prelude(
        &format!("echo {{package}} {{version}} > '{}/seen'", dump.display()),
        &dump,
    );
    project.tag("v1.0.0");
    let run = project.run(&["release", "v1.0.0", "--dry-run"]);
    run.assert_ok();
    assert_eq!(
        std::fs::read_to_string(dump.join("seen")).unwrap().trim(),
        "open-ticket-ai 1.0.0"
    );
    let outdir: PathBuf = project.state.join("data/releases/open-ticket-ai/1.0.0");
    assert!(
        run.stderr
            .contains("building open-ticket-ai with sh -c echo open-ticket-ai 1.0.0")
            && run.stderr.contains(&outdir.display().to_string())
            && !run.stderr.contains("{outdir}"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_python_without_build_is_an_environment_failure() {
    let project = Project::sample(&[]);
    project.configure("local", "");
    project.tag("v1.0.0");
    // uv is not on this PATH; /usr/bin/python3 has no `build` module.
    let run = Run::from_output(
        project
            .command(&["release", "v1.0.0", "--dry-run"])
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("TAGPUB_PYTHON", "/usr/bin/python3")
            .output()
            .unwrap(),
    );
    run.assert_fails(1, "has no `build` module")
        .assert_fails(1, "TAGPUB_PYTHON")
        .assert_fails(1, "not the package");
    assert!(!run.stderr.contains("Fix the package"), "{}", run.stderr);
}

#[test]
fn a_build_program_that_cannot_start_is_an_environment_failure() {
    let project = Project::sample(&[]);
    project.configure("local", "");
    let config = std::fs::read_to_string(project.root.join("tagpub.toml")).unwrap();
    project.write(
        "tagpub.toml",
        &config.replace(
            "[defaults]\n",
            "[defaults]\nbuild-command = [\"/nonexistent/python3\", \"-m\", \"build\", \"--outdir\", \"{outdir}\"]\n",
        ),
    );
    project.commit("a build interpreter that is not installed");
    project.tag("v1.0.0");
    let run = project.run(&["release", "v1.0.0", "--dry-run"]);
    run.assert_fails(1, "could not start /nonexistent/python3")
        .assert_fails(1, "not the package");
    assert!(!run.stderr.contains("Fix the package"), "{}", run.stderr);
}
