//! `tagpub service install|uninstall|status` with the real binary, isolated
//! dirs, and a stand-in `systemctl` first on PATH: one that answers like a
//! container without a user session bus, one that works (recording its
//! arguments), or none at all. The real `systemctl --user` is never called,
//! so running these tests never enables anything on the developer's machine.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Env {
    _root: tempfile::TempDir,
    root: PathBuf,
    bin: PathBuf,
}

enum Systemctl {
    /// `Failed to connect to bus: No medium found`, exit 1 (this container).
    NoBus,
    /// Succeeds; `is-active` prints `active`.
    Works,
    /// Not installed.
    Missing,
}

impl Env {
    fn new(systemctl: Systemctl) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let bin = root.join("bin");
        fs::create_dir_all(&bin).unwrap();
        let calls = root.join("systemctl.calls");
        let script = match systemctl {
            Systemctl::NoBus => Some(format!(
                "#!/bin/sh\necho \"$*\" >> '{}'\necho 'Failed to connect to bus: No medium found' >&2\nexit 1\n",
                calls.display()
            )),
            Systemctl::Works => Some(format!(
                "#!/bin/sh\necho \"$*\" >> '{}'\n/usr/bin/env >> '{}'\nif [ \"$2\" = is-active ]; then echo active; fi\nexit 0\n",
                calls.display(),
                root.join("systemctl.env").display()
            )),
            Systemctl::Missing => None,
        };
        if let Some(script) = script {
            let path = bin.join("systemctl");
            fs::write(&path, script).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        }
        Env {
            _root: dir,
            root,
            bin,
        }
    }

    fn unit(&self) -> PathBuf {
        self.root.join("systemd-user").join("tagpub.service")
    }

    fn calls(&self) -> String {
        fs::read_to_string(self.root.join("systemctl.calls")).unwrap_or_default()
    }

    fn tagpub(&self, args: &[&str]) -> Output {
        self.tagpub_with(args, &[])
    }

    fn tagpub_with(&self, args: &[&str], envs: &[(&str, &str)]) -> Output {
        Command::new(exe())
            .args(args)
            .current_dir(&self.root)
            .env_clear()
            .env("PATH", &self.bin)
            .env("HOME", self.root.join("home"))
            .env("NO_COLOR", "1")
            .env("TAGPUB_DATA_DIR", self.root.join("data"))
            .env("TAGPUB_CONFIG_DIR", self.root.join("config"))
            .env("TAGPUB_RUNTIME_DIR", self.root.join("run"))
            .env("TAGPUB_SYSTEMD_USER_DIR", self.root.join("systemd-user"))
            .envs(envs.iter().copied())
            .output()
            .unwrap()
    }
}

fn ok(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(
        output.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {stderr}",
        output.status,
        String::from_utf8_lossy(&output.stdout)
    );
    stderr
}

fn exe() -> &'static Path {
    crate::common::project::tagpub_bin()
}

#[test]
fn install_without_user_systemd_writes_the_unit_and_says_how_to_run_the_daemon() {
    let env = Env::new(Systemctl::NoBus);
    let stderr = ok(&env.tagpub(&["service", "install"]));
    let unit = fs::read_to_string(env.unit()).unwrap();
    assert!(exe().is_absolute());
    assert!(
        unit.contains(&format!("ExecStart={} daemon run\n", exe().display())),
        "{unit}"
    );
    assert!(unit.contains("WantedBy=default.target"));
    assert!(!unit.contains('@'));
    // The service uses the dirs this CLI uses.
    assert!(
        unit.contains(&format!(
            "Environment=TAGPUB_DATA_DIR={}\n",
            env.root.join("data").display()
        )),
        "{unit}"
    );
    assert!(stderr.contains("no user systemd is running"), "{stderr}");
    assert!(stderr.contains("No medium found"), "{stderr}");
    assert!(stderr.contains("tagpub daemon start"), "{stderr}");
    assert!(stderr.contains("tagpub daemon run"), "{stderr}");
    // Only the reachability probe: nothing was enabled.
    assert!(!env.calls().contains("enable"), "{}", env.calls());
}

#[test]
fn install_without_systemctl_at_all_still_writes_the_unit() {
    let env = Env::new(Systemctl::Missing);
    let stderr = ok(&env.tagpub(&["service", "install"]));
    assert!(env.unit().is_file());
    assert!(stderr.contains("no user systemd is running"), "{stderr}");
    assert!(stderr.contains("systemctl is not installed"), "{stderr}");
}

#[test]
fn installing_twice_gives_the_same_bytes() {
    let env = Env::new(Systemctl::NoBus);
    ok(&env.tagpub(&["service", "install"]));
    let first = fs::read(env.unit()).unwrap();
    ok(&env.tagpub(&["service", "install"]));
    assert_eq!(fs::read(env.unit()).unwrap(), first);
    // No temp file left beside it.
    let entries: Vec<_> = fs::read_dir(env.unit().parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(entries, vec![std::ffi::OsString::from("tagpub.service")]);
}

#[test]
fn status_json_reports_the_unit_and_unreachable_systemd() {
    let env = Env::new(Systemctl::NoBus);
    let before = env.tagpub(&["service", "status", "--json"]);
    ok(&before);
    let before: serde_json::Value = serde_json::from_slice(&before.stdout).unwrap();
    assert_eq!(before["installed"], false);

    ok(&env.tagpub(&["service", "install"]));
    let output = env.tagpub(&["service", "status", "--json"]);
    ok(&output);
    let status: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(status["manager"], "systemd");
    assert_eq!(status["installed"], true);
    assert_eq!(status["up_to_date"], true);
    assert_eq!(status["manager_reachable"], false);
    assert!(
        status["manager_problem"]
            .as_str()
            .unwrap()
            .contains("Failed to connect to bus")
    );
    assert_eq!(status["daemon_running"], false);
    assert_eq!(status["file"], env.unit().to_str().unwrap());
}

#[test]
fn uninstall_removes_the_unit_and_is_fine_when_already_gone() {
    let env = Env::new(Systemctl::NoBus);
    ok(&env.tagpub(&["service", "install"]));
    assert!(env.unit().is_file());
    let stderr = ok(&env.tagpub(&["service", "uninstall"]));
    assert!(!env.unit().exists());
    assert!(stderr.contains("removed"), "{stderr}");
    let stderr = ok(&env.tagpub(&["service", "uninstall"]));
    assert!(stderr.contains("not installed"), "{stderr}");
}

#[test]
fn with_a_user_manager_install_enables_and_uninstall_disables() {
    let env = Env::new(Systemctl::Works);
    ok(&env.tagpub(&["service", "install"]));
    assert!(env.unit().is_file());
    let calls = env.calls();
    let lines: Vec<&str> = calls
        .lines()
        .filter(|l| *l != "--user show-environment")
        .collect();
    assert_eq!(
        lines,
        ["--user daemon-reload", "--user enable --now tagpub.service"],
        "{calls}"
    );

    let output = env.tagpub(&["service", "status", "--json"]);
    ok(&output);
    let status: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(status["manager_reachable"], true);
    assert_eq!(status["state"], "active");
    assert_eq!(status["enabled"], true);

    fs::remove_file(env.root.join("systemctl.calls")).unwrap();
    ok(&env.tagpub(&["service", "uninstall"]));
    assert!(!env.unit().exists());
    let calls = env.calls();
    let lines: Vec<&str> = calls
        .lines()
        .filter(|l| *l != "--user show-environment")
        .collect();
    assert_eq!(
        lines,
        [
            "--user disable --now tagpub.service",
            "--user daemon-reload"
        ],
        "{calls}"
    );
}

#[test]
fn systemctl_keeps_the_session_bus_but_gets_no_token() {
    let env = Env::new(Systemctl::Works);
    ok(&env.tagpub_with(
        &["service", "status", "--json"],
        &[
            ("PYPI_API_TOKEN", "pypi-systemctl-leak"),
            ("GITHUB_TOKEN", "ghp_systemctl_leak"),
            ("DBUS_SESSION_BUS_ADDRESS", "unix:path=/systemctl-bus"),
            ("XDG_RUNTIME_DIR", "/systemctl-runtime"),
        ],
    ));
    let seen = fs::read_to_string(env.root.join("systemctl.env")).unwrap();
    // `systemctl --user` finds the user manager over the session bus.
    assert!(
        seen.contains("DBUS_SESSION_BUS_ADDRESS=unix:path=/systemctl-bus"),
        "{seen}"
    );
    assert!(
        seen.contains("XDG_RUNTIME_DIR=/systemctl-runtime"),
        "{seen}"
    );
    for leaked in [
        "systemctl-leak",
        "systemctl_leak",
        "PYPI_API_TOKEN",
        "GITHUB_TOKEN",
    ] {
        assert!(!seen.contains(leaked), "systemctl saw {leaked}:\n{seen}");
    }
}
