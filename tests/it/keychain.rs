//! The keychain module against a real Secret Service: `scripts/test.sh` runs
//! the tests inside `scripts/keyring-session.sh` (a private D-Bus session with
//! an unlocked gnome-keyring). Without one these tests fail, by design.
//!
//! Tests that need another `DBUS_SESSION_BUS_ADDRESS` run this test binary
//! again as a child (the variable is process-wide and tests run in threads).

use crate::common;

use std::io::Write;
use std::os::unix::net::UnixListener;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use tagpub::credentials::keychain::{self, KeychainError};

/// A service name no other test (or run) uses, shaped like twine's: the upload URL.
fn service(name: &str) -> String {
    format!(
        "https://{}.invalid/legacy/",
        common::unique(&format!("{name}-"))
    )
}

fn secret(value: &str) -> SecretString {
    SecretString::from(value.to_string())
}

fn get(service: &str) -> Option<String> {
    keychain::get(service, "__token__")
        .unwrap_or_else(|e| panic!("keychain get {service}: {e}"))
        .map(|s| s.expose_secret().to_string())
}

/// `python -m keyring ARGS` from the dev venv, forced onto the Secret Service
/// backend; must succeed.
fn python_keyring(args: &[&str], stdin: Option<&str>) -> Output {
    let output = python_keyring_status(args, stdin);
    assert!(
        output.status.success(),
        "python -m keyring {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn python_keyring_status(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(common::venv_bin("python"))
        .args(["-m", "keyring"])
        .args(args)
        .env(
            "PYTHON_KEYRING_BACKEND",
            "keyring.backends.SecretService.Keyring",
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python -m keyring");
    let mut pipe = child.stdin.take().expect("stdin");
    if let Some(input) = stdin {
        pipe.write_all(input.as_bytes()).expect("write stdin");
    }
    drop(pipe);
    child
        .wait_with_output()
        .expect("wait for python -m keyring")
}

#[test]
fn set_get_delete_round_trip() {
    let service = service("round-trip");
    keychain::set(&service, "__token__", &secret("pypi-one"), "tagpub test").unwrap();
    assert_eq!(get(&service).as_deref(), Some("pypi-one"));
    // A second set replaces the secret.
    keychain::set(&service, "__token__", &secret("pypi-two"), "tagpub test").unwrap();
    assert_eq!(get(&service).as_deref(), Some("pypi-two"));
    // Another user of the same service is another entry.
    assert!(keychain::get(&service, "alice").unwrap().is_none());
    assert!(keychain::delete(&service, "__token__").unwrap());
    assert_eq!(get(&service), None);
}

#[test]
fn get_of_a_missing_entry_is_none() {
    assert_eq!(get(&service("missing")), None);
}

#[test]
fn delete_of_a_missing_entry_is_false() {
    assert!(!keychain::delete(&service("missing"), "__token__").unwrap());
}

#[test]
fn reads_what_python_keyring_wrote() {
    let service = service("from-python");
    python_keyring(&["set", &service, "__token__"], Some("pypi-from-python"));
    assert_eq!(get(&service).as_deref(), Some("pypi-from-python"));
    assert!(keychain::delete(&service, "__token__").unwrap());
    // `get` of a missing entry prints nothing and exits 1.
    let left = python_keyring_status(&["get", &service, "__token__"], None);
    assert!(!left.status.success());
    assert_eq!(String::from_utf8_lossy(&left.stdout).trim(), "");
}

#[test]
fn python_keyring_reads_what_we_wrote() {
    let service = service("to-python");
    keychain::set(
        &service,
        "__token__",
        &secret("pypi-from-rust"),
        "tagpub test",
    )
    .unwrap();
    let out = python_keyring(&["get", &service, "__token__"], None);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "pypi-from-rust"
    );
    python_keyring(&["del", &service, "__token__"], None);
    assert_eq!(get(&service), None);
}

#[test]
fn python_and_tagpub_overwrite_each_other_instead_of_duplicating() {
    let service = service("overwrite");
    keychain::set(&service, "__token__", &secret("pypi-rust-1"), "tagpub test").unwrap();
    python_keyring(&["set", &service, "__token__"], Some("pypi-python-2"));
    // One item, not two (which would be `Ambiguous`).
    assert_eq!(get(&service).as_deref(), Some("pypi-python-2"));
    keychain::set(&service, "__token__", &secret("pypi-rust-3"), "tagpub test").unwrap();
    let out = python_keyring(&["get", &service, "__token__"], None);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "pypi-rust-3");
    assert!(keychain::delete(&service, "__token__").unwrap());
    assert_eq!(get(&service), None);
}

#[test]
fn a_secret_service_is_reachable() {
    // Guards against a test run outside keyring-session.sh passing vacuously.
    let service = service("reachable");
    match keychain::get(&service, "__token__") {
        Ok(None) => {}
        other => panic!("expected a reachable, empty Secret Service, got {other:?}"),
    }
}

// --- no or broken session bus: run in a child process ---------------------

const PROBE_ENV: &str = "TAGPUB_KEYCHAIN_PROBE";

/// Runs only as a child of the tests below: prints the result of one `get`.
#[test]
fn probe_child() {
    if std::env::var_os(PROBE_ENV).is_none() {
        return;
    }
    let started = Instant::now();
    let result = keychain::get("https://probe.invalid/legacy/", "__token__");
    let kind = match &result {
        Ok(_) => "ok",
        Err(KeychainError::Unavailable { .. }) => "unavailable",
        Err(KeychainError::TimedOut { .. }) => "timed-out",
        Err(KeychainError::Locked) => "locked",
        Err(_) => "other",
    };
    let message = match &result {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    };
    println!(
        "PROBE kind={kind} ms={} message={message}",
        started.elapsed().as_millis()
    );
}

struct Probe {
    kind: String,
    message: String,
    elapsed: Duration,
}

const PROBE_ARGS: [&str; 4] = [
    "--exact",
    "keychain::probe_child",
    "--nocapture",
    "--test-threads=1",
];

fn probe(configure: impl FnOnce(&mut Command)) -> Probe {
    let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
    cmd.args(PROBE_ARGS);
    configure(&mut cmd);
    run_probe(cmd)
}

fn run_probe(mut cmd: Command) -> Probe {
    cmd.env(PROBE_ENV, "1").stdin(Stdio::null());
    let started = Instant::now();
    let output = cmd.output().expect("run the probe child");
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "probe child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("PROBE ").map(|(_, probe)| probe))
        .unwrap_or_else(|| panic!("no PROBE line in:\n{stdout}"));
    let (kind, rest) = line.split_once(' ').expect("kind");
    let (_ms, message) = rest.split_once(' ').expect("ms");
    Probe {
        kind: kind.trim_start_matches("kind=").to_string(),
        message: message.trim_start_matches("message=").to_string(),
        elapsed,
    }
}

#[test]
fn a_bus_address_to_a_missing_socket_is_unavailable_at_once() {
    let p = probe(|cmd| {
        cmd.env(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/tagpub-test-bus",
        )
        .env(keychain::TIMEOUT_ENV, "20000");
    });
    assert_eq!(p.kind, "unavailable", "{}", p.message);
    assert!(p.message.contains("no Secret Service"), "{}", p.message);
    assert!(p.message.contains("dbus-run-session"), "{}", p.message);
    assert!(p.message.contains("PYPI_API_TOKEN"), "{}", p.message);
    // "At once": far below the 20 s timeout (the child's start-up included).
    assert!(p.elapsed < Duration::from_secs(5), "took {:?}", p.elapsed);
}

#[test]
fn no_session_bus_at_all_is_unavailable_at_once() {
    let runtime = tempfile::tempdir().unwrap();
    let p = probe(|cmd| {
        cmd.env_remove("DBUS_SESSION_BUS_ADDRESS")
            .env("XDG_RUNTIME_DIR", runtime.path())
            .env(keychain::TIMEOUT_ENV, "20000");
    });
    assert_eq!(p.kind, "unavailable", "{}", p.message);
    assert!(
        p.message.contains("DBUS_SESSION_BUS_ADDRESS is not set"),
        "{}",
        p.message
    );
    assert!(p.elapsed < Duration::from_secs(5), "took {:?}", p.elapsed);
}

#[test]
fn a_bus_that_never_answers_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("silent-bus");
    // Connections queue in the backlog and are never answered.
    let _listener = UnixListener::bind(&socket).unwrap();
    let p = probe(|cmd| {
        cmd.env(
            "DBUS_SESSION_BUS_ADDRESS",
            format!("unix:path={}", socket.display()),
        )
        .env(keychain::TIMEOUT_ENV, "800");
    });
    assert_eq!(p.kind, "timed-out", "{}", p.message);
    assert!(
        p.message.contains("did not answer within 800ms"),
        "{}",
        p.message
    );
    assert!(
        p.elapsed >= Duration::from_millis(800),
        "took {:?}",
        p.elapsed
    );
    assert!(p.elapsed < Duration::from_secs(5), "took {:?}", p.elapsed);
}

#[test]
fn a_locked_collection_is_reported_without_prompting() {
    // Its own keyring session, since locking the shared one would break the
    // other tests.
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/keyring-session.sh");
    let lock = "import keyring, secretstorage as s\n\
                keyring.set_password('https://probe.invalid/legacy/', '__token__', 'x')\n\
                c = s.get_default_collection(s.dbus_init())\n\
                c.lock()\n\
                assert c.is_locked()";
    let mut cmd = Command::new("bash");
    cmd.arg(script)
        .args(["bash", "-c", r#""$0" -c "$1" && shift && exec "$@""#])
        .arg(common::venv_bin("python"))
        .arg(lock)
        .arg(std::env::current_exe().expect("test binary"))
        .args(PROBE_ARGS)
        .env(
            "PYTHON_KEYRING_BACKEND",
            "keyring.backends.SecretService.Keyring",
        )
        .env(keychain::TIMEOUT_ENV, "20000");
    let p = run_probe(cmd);
    assert_eq!(p.kind, "locked", "{}", p.message);
    assert!(p.message.contains("--unlock"), "{}", p.message);
    // A prompt would wait for the 20 s timeout.
    assert!(p.elapsed < Duration::from_secs(10), "took {:?}", p.elapsed);
}
