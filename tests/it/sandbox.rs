//! What the children tagpub starts can reach: a build in the Landlock
//! sandbox (no home, no other process's environment, no session bus), no
//! token variable in any child (build, `verify = "install"`, notifier), and
//! tagpub itself non-dumpable. Real builds (uv), a real pypiserver, the real
//! binary; `sandbox = "off"` is the control that shows each probe can see
//! the secret when nothing stops it.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::PypiServer;
use crate::common::project::{Project, Run, files_in, tagpub_bin};

/// Reads every place a hostile build would look for a secret, prints what it
/// found as one JSON line (into the build log), then builds with uv.
const PROBE: &str = r#"
import json, os, shutil, subprocess, sys

report = {}
def read(label, path):
    try:
        with open(path, "rb") as f:
            report[label] = "READ:" + f.read().decode("utf-8", "replace")
    except OSError as e:
        report[label] = "DENIED:%s:%s" % (type(e).__name__, e.errno)

ppid = os.getppid()
try:
    with open("/proc/%d/stat" % ppid) as f:
        grandparent = int(f.read().rsplit(")", 1)[1].split()[1])
except OSError:
    grandparent = 1
home = os.path.expanduser("~")
read("pypirc", os.path.join(home, ".pypirc"))
read("keyring", os.path.join(home, ".local/share/keyrings/login.keyring"))
read("ssh", os.path.join(home, ".ssh/id_ed25519"))
read("config", os.path.join(home, ".config/secret-app/token"))
read("tagpub_environ", "/proc/%d/environ" % ppid)
read("above_tagpub_environ", "/proc/%d/environ" % grandparent)
report["env"] = dict(os.environ)
print("PROBE " + json.dumps(report), flush=True)
if len(sys.argv) > 1:
    subprocess.run([shutil.which("uv"), "build", "--sdist", "--wheel", "--out-dir", sys.argv[1], "."], check=True)
"#;

/// The secrets a hostile build would look for, one per place.
struct Secrets {
    release_key: String,
    pypirc: String,
    keyring: String,
    ssh: String,
    config: String,
}

impl Secrets {
    fn new() -> Secrets {
        Secrets {
            release_key: common::unique("release-key-"),
            pypirc: common::unique("pypirc-secret-"),
            keyring: common::unique("keyring-secret-"),
            ssh: common::unique("ssh-secret-"),
            config: common::unique("config-secret-"),
        }
    }

    /// A home holding them, as a user's would.
    fn write_home(&self, home: &Path) {
        let files = [
            (
                ".pypirc",
                format!("[pypi]\nusername = __token__\npassword = {}\n", self.pypirc),
            ),
            (".local/share/keyrings/login.keyring", self.keyring.clone()),
            (".ssh/id_ed25519", self.ssh.clone()),
            (".config/secret-app/token", self.config.clone()),
        ];
        for (path, content) in files {
            let path = home.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
    }
}

/// The core package (setuptools, no dependencies) of the sample monorepo,
/// built by the probe, published to `server` with `token-env = "RELEASE_KEY"`,
/// verified by installing; its module writes its environment to `import_env`
/// when imported (by the install check).
fn probed_project(server: &PypiServer, sandbox: &str, import_env: &Path) -> Project {
    let project = Project::sample(&[]);
    project.write("probe.py", PROBE);
    project.write(
        "open_ticket_ai/__init__.py",
        &format!(
            "\"\"\"Core package.\"\"\"\nimport os\nwith open({:?}, \"w\") as f:\n    f.write(repr(dict(os.environ)))\nNAME = \"core\"\n",
            import_env.display().to_string()
        ),
    );
    project.write(
        "tagpub.toml",
        &format!(
            "[defaults]\nrepository = \"testindex\"\nverify = \"install\"\nsandbox = \"{sandbox}\"\n\
             build-command = [{:?}, \"probe.py\", \"{{outdir}}\"]\n\n\
             [[package]]\nname = \"open-ticket-ai\"\npath = \".\"\ntags = [\"v{{version}}\"]\n\n\
             [repository.testindex]\nurl = \"{}\"\ntoken-env = \"RELEASE_KEY\"\n",
            common::venv_bin("python").display().to_string(),
            server.url
        ),
    );
    project.commit("probe the build");
    project.tag("v1.0.0");
    project
}

/// `tagpub release v1.0.0` with HOME at `home`, a session bus address, the
/// token in `RELEASE_KEY` (and a copy under an innocent name), run from a
/// shell that keeps the token in its own environment (the probe's
/// "above tagpub" process).
fn release_from_shell(project: &Project, home: &Path, secrets: &Secrets) -> Run {
    let command = project.command(&["release", "v1.0.0"]);
    let tagpub = command.get_program().to_owned();
    let args: Vec<_> = command.get_args().map(|a| a.to_owned()).collect();
    let mut shell = Command::new("sh");
    shell
        .arg("-c")
        .arg("\"$@\"; exit $?")
        .arg("sh")
        .arg(tagpub)
        .args(args)
        .current_dir(&project.root);
    for (name, value) in command.get_envs() {
        match value {
            Some(value) => shell.env(name, value),
            None => shell.env_remove(name),
        };
    }
    for name in ["XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME"] {
        shell.env_remove(name);
    }
    let output = shell
        .env("HOME", home)
        .env("RELEASE_KEY", &secrets.release_key)
        .env("INNOCENT_COPY", &secrets.release_key)
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/tmp/probe-bus-address",
        )
        .env("SSH_AUTH_SOCK", "/tmp/probe-ssh-agent")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Run::from_output(output)
}

/// The probe's report from the build logs under tagpub's data dir.
fn probe_report(project: &Project) -> serde_json::Value {
    let mut logs = Vec::new();
    collect(&project.state.join("data"), "build.log", &mut logs);
    for log in logs {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(line) = text.lines().find_map(|l| l.strip_prefix("PROBE ")) {
            return serde_json::from_str(line).unwrap();
        }
    }
    panic!("the probe did not run (no PROBE line in any build.log)");
}

fn collect(dir: &Path, name: &str, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, name, found);
        } else if path.file_name().is_some_and(|n| n == name) {
            found.push(path);
        }
    }
}

fn start_server(secrets: &Secrets) -> PypiServer {
    PypiServer::start_with_token(&secrets.release_key)
}

#[test]
fn a_sandboxed_build_reaches_no_secret_and_sandbox_off_is_the_control() {
    let secrets = Secrets::new();
    let server = start_server(&secrets);
    let import_env = tempfile::NamedTempFile::new().unwrap();
    let project = probed_project(&server, "auto", import_env.path());
    let home = project.temp.path().join("home");
    secrets.write_home(&home);

    let run = release_from_shell(&project, &home, &secrets);
    run.assert_ok();
    assert_eq!(
        files_in(&server.packages_dir),
        [
            "open_ticket_ai-1.0.0-py3-none-any.whl",
            "open_ticket_ai-1.0.0.tar.gz"
        ]
    );
    let report = probe_report(&project);
    // (The /proc probes are not asserted here: these tests run as root,
    // who may read any process's environment; `tagpub_is_not_dumpable`
    // checks tagpub's as another user.)
    for place in ["pypirc", "keyring", "ssh", "config"] {
        let seen = report[place].as_str().unwrap();
        assert!(
            seen.starts_with("DENIED:"),
            "the sandboxed build read {place}: {seen}"
        );
    }
    let mut files = report.clone();
    files["tagpub_environ"].take();
    files["above_tagpub_environ"].take();
    let whole = files.to_string();
    for secret in [
        &secrets.release_key,
        &secrets.pypirc,
        &secrets.keyring,
        &secrets.ssh,
        &secrets.config,
    ] {
        assert!(
            !whole.contains(secret.as_str()),
            "{secret} reached the build: {whole}"
        );
    }
    let env = &report["env"];
    for name in [
        "RELEASE_KEY",
        "INNOCENT_COPY",
        "DBUS_SESSION_BUS_ADDRESS",
        "SSH_AUTH_SOCK",
    ] {
        assert!(
            env.get(name).is_none(),
            "the build's environment has {name}"
        );
    }
    // The install check imported the published module: its environment has
    // no token either, by name or by value.
    let imported = std::fs::read_to_string(import_env.path()).unwrap();
    assert!(
        imported.contains("'HOME'"),
        "the import did not run: {imported}"
    );
    for forbidden in [
        "RELEASE_KEY",
        "INNOCENT_COPY",
        "DBUS_SESSION_BUS_ADDRESS",
        secrets.release_key.as_str(),
    ] {
        assert!(
            !imported.contains(forbidden),
            "the install check's import saw {forbidden}"
        );
    }

    // The control: the same build with the sandbox off reads the home and
    // the shell's environment, so the probes above could have failed.
    let server = start_server(&secrets);
    let control = probed_project(&server, "off", import_env.path());
    let home = control.temp.path().join("home");
    secrets.write_home(&home);
    release_from_shell(&control, &home, &secrets).assert_ok();
    let report = probe_report(&control);
    for (place, secret) in [
        ("pypirc", &secrets.pypirc),
        ("keyring", &secrets.keyring),
        ("ssh", &secrets.ssh),
        ("config", &secrets.config),
    ] {
        let seen = report[place].as_str().unwrap();
        assert!(
            seen.contains(secret.as_str()),
            "unsandboxed, {place} should be readable: {seen}"
        );
    }
    // Environment scrubbing does not depend on the sandbox.
    let env = &report["env"];
    for name in [
        "RELEASE_KEY",
        "INNOCENT_COPY",
        "DBUS_SESSION_BUS_ADDRESS",
        "SSH_AUTH_SOCK",
    ] {
        assert!(
            env.get(name).is_none(),
            "the build's environment has {name}"
        );
    }
}

#[test]
fn a_build_denied_a_path_says_how_to_allow_it() {
    let project = Project::sample(&[]);
    project.configure("local", "");
    let secret_dir = project.temp.path().join("outside");
    std::fs::create_dir_all(&secret_dir).unwrap();
    std::fs::write(secret_dir.join("data.txt"), "x").unwrap();
    let config = std::fs::read_to_string(project.root.join("tagpub.toml")).unwrap();
    let with_command = |extra: &str| {
        config.replace(
            "[defaults]\n",
            &format!(
                "[defaults]\n{extra}build-command = [\"sh\", \"-c\", \"cat '{}' && exec uv build --sdist --wheel --out-dir \\\"$0\\\" .\", \"{{outdir}}\"]\n",
                secret_dir.join("data.txt").display()
            ),
        )
    };
    project.write("tagpub.toml", &with_command(""));
    project.commit("read outside");
    let run = project.run(&["build", "open-ticket-ai", "--out-dir", "out"]);
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("sandbox-allow = [")
            && run
                .stderr
                .contains(&secret_dir.join("data.txt").display().to_string()),
        "{}",
        run.stderr
    );
    // Following the advice works.
    project.write(
        "tagpub.toml",
        &with_command(&format!(
            "sandbox-allow = [{:?}]\n",
            secret_dir.display().to_string()
        )),
    );
    project.commit("allow it");
    project
        .run(&["build", "open-ticket-ai", "--out-dir", "out"])
        .assert_ok();
}

/// tagpub is non-dumpable: another process of the same user cannot read
/// its environment, while it can read a dumpable one's (the shell above
/// it). Runs as `nobody` when the tests run as root (root reads any
/// process's environment).
#[test]
fn tagpub_is_not_dumpable() {
    let temp = tempfile::tempdir().unwrap();
    let root = temp.path();
    let bin = root.join("tagpub");
    std::fs::copy(tagpub_bin(), &bin).unwrap();
    let report = root.join("report.txt");
    // A build command that reads its parent's (tagpub's) environment and
    // its grandparent's (the shell's); it builds nothing.
    let probe = format!(
        "exec >'{}' 2>&1; gp=$(awk '{{print $4}}' /proc/$PPID/stat); \
         if cat /proc/$PPID/environ >/dev/null 2>&1; then echo tagpub=readable; else echo tagpub=denied; fi; \
         if tr '\\0' '\\n' </proc/$gp/environ | grep -q DUMP_PROBE=; then echo shell=readable; else echo shell=denied; fi",
        report.display()
    );
    let repo = root.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    tagpub::sample::write_monorepo(&repo, "1.0.0").unwrap();
    std::fs::write(
        repo.join("tagpub.toml"),
        format!(
            "[defaults]\nrepository = \"local\"\nsandbox = \"off\"\nbuild-command = [\"sh\", \"-c\", {probe:?}]\n\n\
             [[package]]\nname = \"open-ticket-ai\"\npath = \".\"\ntags = [\"v{{version}}\"]\n"
        ),
    )
    .unwrap();
    common::project::git(&repo, &["init", "--quiet", "--initial-branch=main"]);
    common::project::git(&repo, &["add", "--all"]);
    common::project::git(&repo, &["commit", "--quiet", "-m", "initial"]);
    let as_root = unsafe_getuid() == 0;
    if as_root {
        let status = Command::new("chown")
            .args(["-R", "65534:65534"])
            .arg(root)
            .status()
            .unwrap();
        assert!(status.success());
    }
    let mut command = Command::new("sh");
    if as_root {
        command = Command::new("setpriv");
        command.args(["--reuid=65534", "--regid=65534", "--clear-groups", "sh"]);
    }
    let output = command
        .arg("-c")
        .arg("\"$@\"; exit $?")
        .arg("sh")
        .arg(&bin)
        .args(["build", "open-ticket-ai", "--out-dir"])
        .arg(root.join("out"))
        .current_dir(&repo)
        .env("HOME", root)
        .env("TAGPUB_DATA_DIR", root.join("state/data"))
        .env("TAGPUB_CONFIG_DIR", root.join("state/config"))
        .env("TAGPUB_RUNTIME_DIR", root.join("state/run"))
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("DUMP_PROBE", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = std::fs::read_to_string(&report).unwrap_or_else(|_| {
        panic!(
            "the probe did not run: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    assert!(
        text.contains("shell=readable"),
        "the control failed: {text}"
    );
    assert!(
        text.contains("tagpub=denied"),
        "tagpub's environment was readable: {text}"
    );
}

fn unsafe_getuid() -> u32 {
    let out = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// The daemon's `[notify] command` gets no token variable, by name or by
/// value, and no session bus address is withheld from it (desktop
/// notifiers need the bus).
#[test]
fn the_notifier_gets_no_token() {
    let secrets = Secrets::new();
    let server = start_server(&secrets);
    let project = Project::sample(&[]);
    let notified = project.temp.path().join("notifier-env.txt");
    project.configure(
        "testindex",
        &format!(
            "\n[repository.testindex]\nurl = \"{}\"\ntoken-env = \"RELEASE_KEY\"\n\n\
             [notify]\ndesktop = false\ncommand = [\"sh\", \"-c\", \"env > '{}'\"]\n",
            server.url,
            notified.display()
        ),
    );
    project.add_defaults("grace = \"0s\"\n", "grace");
    project.run(&["watch", "add"]).assert_ok();
    let log = std::fs::File::create(project.temp.path().join("daemon.log")).unwrap();
    let mut daemon = project
        .command(&["daemon", "run"])
        .env("TAGPUB_RESCAN_INTERVAL", "1s")
        .env("RELEASE_KEY", &secrets.release_key)
        .env("INNOCENT_COPY", &secrets.release_key)
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/tmp/probe-bus-address",
        )
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    project.tag("otobo-znuny-v1.0.0");
    let started = Instant::now();
    while !notified.exists() || std::fs::read_to_string(&notified).unwrap().is_empty() {
        if started.elapsed() > Duration::from_secs(120) {
            let _ = daemon.kill();
            panic!(
                "the notifier did not run:\n{}",
                std::fs::read_to_string(project.temp.path().join("daemon.log")).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(200));
    let _ = Command::new("kill").arg(daemon.id().to_string()).status();
    let _ = daemon.wait();
    let env = std::fs::read_to_string(&notified).unwrap();
    assert!(
        files_in(&server.packages_dir).len() == 2,
        "the release did not publish (so the token was not read): {:?}\n{}",
        files_in(&server.packages_dir),
        std::fs::read_to_string(project.temp.path().join("daemon.log")).unwrap_or_default()
    );
    for forbidden in [
        "RELEASE_KEY=",
        "INNOCENT_COPY=",
        secrets.release_key.as_str(),
    ] {
        assert!(
            !env.contains(forbidden),
            "the notifier saw {forbidden}:\n{env}"
        );
    }
    assert!(env.contains("DBUS_SESSION_BUS_ADDRESS="), "{env}");
}
