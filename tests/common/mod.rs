//! Shared fixtures for integration tests: a real pypiserver on a free port.
//!
//! Each test binary includes this module (`mod common;`), so helpers unused
//! by one binary are `#[allow(dead_code)]`.

#![allow(dead_code)]

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The dev venv (pypi-server, twine, build, uv, pip): `$TAGPUB_DEV_VENV`,
/// else `$HOME/.cache/tagpub-dev/venv`; created by `scripts/setup-venv.sh`
/// on first use.
pub fn venv() -> PathBuf {
    static SETUP: Mutex<()> = Mutex::new(());
    let venv = std::env::var_os("TAGPUB_DEV_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").expect("HOME is set");
            Path::new(&home).join(".cache/tagpub-dev/venv")
        });
    // One setup per test binary at a time; the script itself is idempotent.
    let _guard = SETUP.lock().unwrap_or_else(|e| e.into_inner());
    if !venv.join("bin/pypi-server").exists() {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/setup-venv.sh");
        let status = Command::new("bash")
            .arg(&script)
            .status()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(status.success(), "{} failed: {status}", script.display());
    }
    venv
}

/// A program in the dev venv, e.g. `venv_bin("pip")`.
pub fn venv_bin(name: &str) -> PathBuf {
    venv().join("bin").join(name)
}

/// A random-ish string, unique enough for tokens and names in tests.
pub fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let addr = &nanos as *const _ as usize;
    format!("{prefix}{:x}{:x}{:x}", nanos, std::process::id(), addr)
}

/// A minimal but real wheel of `name` (METADATA, WHEEL, one module holding
/// `payload`, a RECORD listing every file): enough for pip and twine. Two
/// payloads give two wheels with one file name and other bytes.
pub fn wheel_bytes(name: &str, version: &str, payload: &str) -> Vec<u8> {
    use std::io::Write;
    let module = name.replace('-', "_");
    let dist_info = format!("{module}-{version}.dist-info");
    let files = [
        (
            format!("{dist_info}/METADATA"),
            format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"),
        ),
        (
            format!("{dist_info}/WHEEL"),
            "Wheel-Version: 1.0\nGenerator: tagpub-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
                .to_owned(),
        ),
        (format!("{module}/__init__.py"), payload.to_owned()),
    ];
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    let mut record = String::new();
    for (path, contents) in &files {
        zip.start_file(path.as_str(), options).unwrap();
        zip.write_all(contents.as_bytes()).unwrap();
        record.push_str(&format!("{path},,\n"));
    }
    record.push_str(&format!("{dist_info}/RECORD,,\n"));
    zip.start_file(format!("{dist_info}/RECORD"), options)
        .unwrap();
    zip.write_all(record.as_bytes()).unwrap();
    zip.finish().unwrap().into_inner()
}

/// [`wheel_bytes`] written to `dir/{module}-{version}-py3-none-any.whl`.
pub fn write_wheel(dir: &Path, name: &str, version: &str, payload: &str) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    let module = name.replace('-', "_");
    let path = dir.join(format!("{module}-{version}-py3-none-any.whl"));
    fs::write(&path, wheel_bytes(name, version, payload)).unwrap();
    path
}

/// A port on 127.0.0.1 where nothing listens, held (bound, never
/// listening: connections are refused) until the guard drops, so no server
/// another test starts can take it meanwhile.
pub fn closed_port() -> (u16, socket2::Socket) {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
        .expect("a TCP socket");
    socket
        .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .expect("bind 127.0.0.1:0");
    let port = socket
        .local_addr()
        .expect("local addr")
        .as_socket()
        .expect("an inet address")
        .port();
    (port, socket)
}

/// A free TCP port on 127.0.0.1 (free when asked; a tiny race is accepted).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// A running `pypi-server` (uploads need `__token__` / `token`, reads are
/// open, no fallback to PyPI); killed on drop.
pub struct PypiServer {
    /// The upload URL, e.g. `http://127.0.0.1:PORT/`.
    pub url: String,
    /// `http://127.0.0.1:PORT/simple/`.
    pub simple_url: String,
    /// The password of user `__token__`.
    pub token: String,
    /// Where uploaded files land.
    pub packages_dir: PathBuf,
    pub log_file: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl PypiServer {
    pub fn start() -> PypiServer {
        PypiServer::start_with_token(&unique("pypi-test-"))
    }

    /// A server whose `__token__` password is `token` (e.g. a crafted macaroon).
    pub fn start_with_token(token: &str) -> PypiServer {
        PypiServer::start_with(token, false)
    }

    /// A server that stores a re-upload of an existing file again
    /// (`--overwrite`) instead of answering 409: a second send is not
    /// refused, so only the client can keep a file from being sent twice.
    pub fn start_overwriting() -> PypiServer {
        PypiServer::start_with(&unique("pypi-test-"), true)
    }

    fn start_with(token: &str, overwrite: bool) -> PypiServer {
        let token = token.to_string();
        let server = venv_bin("pypi-server");
        let dir = tempfile::tempdir().expect("temp dir");
        let packages_dir = dir.path().join("packages");
        fs::create_dir_all(&packages_dir).expect("create packages dir");

        // The password goes in on stdin: even a test token stays out of argv.
        let mut openssl = Command::new("openssl")
            .args(["passwd", "-apr1", "-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run openssl passwd");
        {
            use std::io::Write;
            let mut stdin = openssl.stdin.take().expect("openssl stdin");
            writeln!(stdin, "{token}").expect("write the password");
        }
        let hash = openssl.wait_with_output().expect("openssl passwd output");
        assert!(hash.status.success(), "openssl passwd -apr1 failed");
        let hash = String::from_utf8(hash.stdout).expect("utf-8 hash");
        let htpasswd = dir.path().join("htpasswd");
        fs::write(&htpasswd, format!("__token__:{}\n", hash.trim())).expect("write htpasswd");

        let port = free_port();
        let log_file = dir.path().join("pypiserver.log");
        let output = fs::File::create(dir.path().join("pypiserver.out")).expect("create log");
        let child = Command::new(&server)
            .arg("run")
            .args(["-i", "127.0.0.1", "-p", &port.to_string()])
            .arg("-P")
            .arg(&htpasswd)
            // -v logs every request: tests count uploads (POSTs) in the log.
            .args(["-v", "-a", "update", "--disable-fallback", "--log-file"])
            .arg(&log_file)
            .args(overwrite.then_some("--overwrite"))
            .arg(&packages_dir)
            .stdin(Stdio::null())
            .stdout(output.try_clone().expect("clone log handle"))
            .stderr(output)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", server.display()));

        let url = format!("http://127.0.0.1:{port}/");
        let mut this = PypiServer {
            simple_url: format!("{url}simple/"),
            url,
            token,
            packages_dir,
            log_file,
            child,
            _dir: dir,
        };
        this.wait_ready(Duration::from_secs(10));
        this
    }

    fn wait_ready(&mut self, limit: Duration) {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("http client");
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "pypi-server exited ({status}) before answering:\n{}",
                    self.logs()
                );
            }
            if client
                .get(&self.simple_url)
                .send()
                .is_ok_and(|r| r.status().is_success())
            {
                return;
            }
            if started.elapsed() > limit {
                panic!(
                    "pypi-server did not answer {} within {limit:?}:\n{}",
                    self.simple_url,
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// How many uploads (POST requests) the server received: its log has
    /// one `<LocalRequest: POST …>` line per request (with `-v`; older
    /// setups wrote a `"POST / HTTP` access line instead).
    pub fn uploads(&self) -> usize {
        fs::read_to_string(&self.log_file)
            .unwrap_or_default()
            .lines()
            .filter(|line| line.contains("<LocalRequest: POST ") || line.contains("\"POST / HTTP"))
            .count()
    }

    /// The server's log and console output, for failure messages.
    pub fn logs(&self) -> String {
        let dir = self.log_file.parent().expect("log in temp dir");
        let log = fs::read_to_string(&self.log_file).unwrap_or_default();
        let out = fs::read_to_string(dir.join("pypiserver.out")).unwrap_or_default();
        format!("--- log ---\n{log}\n--- output ---\n{out}")
    }
}

impl Drop for PypiServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub mod daemon;
pub mod devpi;
pub mod project;
pub mod proxy;

/// xorshift64*: a seeded generator for the random-kill tests, so a failing
/// run can be replayed with `TAGPUB_CRASH_SEED`.
pub struct Rng {
    pub seed: u64,
    state: u64,
}

impl Rng {
    /// Seeded from `TAGPUB_CRASH_SEED`, else the clock; prints the seed.
    pub fn from_env() -> Rng {
        let seed = std::env::var("TAGPUB_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        eprintln!("TAGPUB_CRASH_SEED={seed}");
        Rng { seed, state: seed }
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}
