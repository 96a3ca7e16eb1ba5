//! `tagpub doctor` on a healthy fixture (real pypiserver, token in a real
//! keychain, hooks installed, daemon running and watching: all ✓) and on a
//! broken one (each fault named with its fix).
//!
//! The healthy test needs a Secret Service: run it inside
//! `scripts/keyring-session.sh` (as `scripts/test.sh` does); without one it
//! fails, by design, like tests/it/keychain.rs.

use crate::common;

use std::path::Path;
use std::process::Command;

use crate::common::PypiServer;
use crate::common::project::{Project, Run};
use crate::common::snapshot;
use serde_json::Value;
use tagpub::credentials::macaroon;

const PACKAGES: [&str; 3] = [
    "open-ticket-ai",
    "open-ticket-ai-hf-local",
    "open-ticket-ai-otobo-znuny-plugin",
];

/// Stops the project's daemon however the test ends.
struct DaemonGuard<'a>(&'a Project);

impl Drop for DaemonGuard<'_> {
    fn drop(&mut self) {
        let _ = self.0.run(&["daemon", "stop"]);
    }
}

/// `checks` of the report (`package` None) or of one package.
fn check<'a>(report: &'a Value, package: Option<&str>, name: &str) -> &'a Value {
    let checks = match package {
        None => &report["checks"],
        Some(package) => &report["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == package)
            .unwrap_or_else(|| panic!("no package {package} in {report:#}"))["checks"],
    };
    checks
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} for {package:?} in {report:#}"))
}

#[track_caller]
fn assert_check(report: &Value, package: Option<&str>, name: &str, status: &str, says: &str) {
    let check = check(report, package, name);
    assert_eq!(check["status"], status, "{name} for {package:?}: {check:#}");
    assert!(
        check["message"].as_str().unwrap().contains(says),
        "{name} for {package:?} should say `{says}`: {check:#}"
    );
}

#[track_caller]
fn assert_fix(report: &Value, package: Option<&str>, name: &str, fix: &str) {
    let check = check(report, package, name);
    assert!(
        check["fix"].as_str().is_some_and(|f| f.contains(fix)),
        "{name} for {package:?} should have the fix `{fix}`: {check:#}"
    );
}

fn json_report(run: &Run) -> Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("doctor --json: {e}\n{}\n{}", run.stdout, run.stderr))
}

#[test]
fn healthy_fixture_is_all_green() {
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "this test needs a Secret Service: run it inside scripts/keyring-session.sh"
    );
    // `token set` takes PyPI-shaped tokens only: an unrestricted one.
    let token = macaroon::encode("pypi.org", &common::unique("id-"), &[]);
    let server = PypiServer::start_with_token(&token);
    let project = Project::sample(&[]);
    project.configure(
        "testindex",
        &format!("\n[repository.testindex]\nurl = \"{}\"\n", server.url),
    );
    project
        .run_with_stdin(
            &["token", "set", "--repository", "testindex", "--stdin"],
            &server.token,
        )
        .assert_ok();
    project.run(&["hooks", "install"]).assert_ok();
    project.run(&["watch", "add"]).assert_ok();
    let _daemon = DaemonGuard(&project);
    project.run(&["daemon", "start"]).assert_ok();

    let run = project.run(&["doctor", "--json"]);
    run.assert_ok();
    let report = json_report(&run);
    assert_eq!(report["ok"], true, "{report:#}");
    let mut all = report["checks"].as_array().unwrap().clone();
    for package in report["packages"].as_array().unwrap() {
        all.extend(package["checks"].as_array().unwrap().iter().cloned());
    }
    for check in &all {
        assert_eq!(check["status"], "pass", "{check:#}");
    }
    assert_eq!(report["packages"].as_array().unwrap().len(), 3);
    assert_check(
        &report,
        None,
        "git",
        "pass",
        "runs the reference-transaction hook",
    );
    assert_check(&report, None, "keychain", "pass", "reachable");
    assert_check(&report, None, "hooks", "pass", "pre-push: installed");
    assert_check(&report, None, "daemon", "pass", "running (pid ");
    assert_check(
        &report,
        None,
        "watch",
        "pass",
        "the daemon watches this repository",
    );
    for package in PACKAGES {
        assert_check(&report, Some(package), "token", "pass", "keychain entry");
        assert_check(&report, Some(package), "build tool", "pass", "uv build");
        assert_check(&report, Some(package), "repository", "pass", "answers");
    }
    // The token itself never shows, only its redacted form.
    assert!(!run.stdout.contains(&server.token));

    // The whole screen: every line ✓, everything in place.
    let human = project.run(&["doctor"]);
    snapshot::settings(&project)
        .bind(|| insta::assert_snapshot!("healthy_screen", snapshot::transcript(&human)));
}

/// A directory with only `git` in it, for a PATH without uv or Python.
fn path_with_only_git(dir: &Path) -> std::path::PathBuf {
    let git = std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|d| d.join("git"))
        .find(|p| p.is_file())
        .expect("git on PATH");
    let bin = dir.join("bin-only-git");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(git, bin.join("git")).unwrap();
    bin
}

#[test]
fn broken_fixture_names_each_fault_and_its_fix() {
    let project = Project::sample(&[]);
    // Nothing listens on this port: the repository is unreachable.
    let (port, _held) = common::closed_port();
    project.configure(
        "testindex",
        &format!("\n[repository.testindex]\nurl = \"http://127.0.0.1:{port}/\"\n"),
    );
    // Scoped to one of the three projects only.
    let token = macaroon::encode(
        "pypi.org",
        &common::unique("id-"),
        &[r#"[1, ["open-ticket-ai"]]"#],
    );
    let bin = path_with_only_git(project.temp.path());
    let doctor = |args: &[&str]| {
        let mut command: Command = project.command(args);
        command
            .env("PATH", &bin)
            .env_remove("TAGPUB_PYTHON")
            // No keychain either, whatever session the test runs in.
            .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
            .env("PYPI_API_TOKEN", &token);
        Run::from_output(command.output().expect("tagpub runs"))
    };

    let run = doctor(&["doctor", "--json"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let report = json_report(&run);
    assert_eq!(report["ok"], false);

    assert_check(&report, None, "config", "pass", "3 package(s), valid");
    assert_check(&report, None, "hooks", "fail", "pre-push: not installed");
    assert_fix(&report, None, "hooks", "tagpub hooks install");
    assert_check(&report, None, "daemon", "fail", "not running");
    assert_fix(&report, None, "daemon", "tagpub daemon start");
    assert_check(
        &report,
        None,
        "watch",
        "fail",
        "not on the daemon's watch list",
    );
    assert_fix(&report, None, "watch", "tagpub watch add");
    assert_check(&report, None, "keychain", "fail", "");
    assert_fix(&report, None, "keychain", "PYPI_API_TOKEN");
    assert_check(
        &report,
        None,
        "python",
        "warn",
        "no python3 or python on PATH",
    );

    assert_check(
        &report,
        Some("open-ticket-ai"),
        "token",
        "pass",
        "environment variable PYPI_API_TOKEN",
    );
    for package in &PACKAGES[1..] {
        assert_check(
            &report,
            Some(package),
            "token",
            "fail",
            &format!("scoped to project open-ticket-ai, not {package}"),
        );
        assert_fix(
            &report,
            Some(package),
            "token",
            &format!("tagpub token set --repository testindex --package {package}"),
        );
    }
    for package in PACKAGES {
        assert_check(
            &report,
            Some(package),
            "build tool",
            "fail",
            "no build tool found",
        );
        assert_fix(&report, Some(package), "build tool", "install uv");
        assert_check(
            &report,
            Some(package),
            "repository",
            "fail",
            &format!("127.0.0.1:{port}"),
        );
        assert_fix(
            &report,
            Some(package),
            "repository",
            "[repository.testindex]",
        );
    }
    // The token never shows.
    assert!(!run.stdout.contains(&token));

    // The human screen: each ✗ with its fix on the next line.
    let human = doctor(&["doctor"]);
    assert_eq!(human.code, 1, "{}", human.stderr);
    let lines: Vec<&str> = human.stderr.lines().collect();
    let failures: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].trim_start().starts_with("✗ ") && lines[i].contains(": "))
        .collect();
    // hooks, daemon, watch, keychain; 2 tokens; 3 build tools; 3 repositories.
    assert_eq!(failures.len(), 4 + 2 + 3 + 3, "{}", human.stderr);
    for i in failures {
        assert!(
            lines
                .get(i + 1)
                .is_some_and(|l| l.trim_start().starts_with("fix: ")),
            "no fix after `{}`:\n{}",
            lines[i],
            human.stderr
        );
    }
    // The whole screen: each fault, its fix, "✗ 12 problems found".
    snapshot::settings(&project)
        .bind(|| insta::assert_snapshot!("broken_screen", snapshot::transcript(&human)));
    assert!(!human.stderr.contains(&token));
}

#[test]
fn a_config_error_is_a_failed_check_with_its_location() {
    let project = Project::sample(&[]);
    project.write("tagpub.toml", "[defaults]\nrepositry = \"pypi\"\n");
    let run = project.run(&["doctor", "--json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = json_report(&run);
    assert_check(&report, None, "config", "fail", "tagpub.toml:2:1");
    assert_eq!(report["packages"], serde_json::json!([]));

    std::fs::remove_file(project.root.join("tagpub.toml")).unwrap();
    let run = project.run(&["doctor", "--json"]);
    assert_fix(&json_report(&run), None, "config", "tagpub init");
}
