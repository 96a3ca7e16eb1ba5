//! A real `pypi-server` from the dev venv on a free loopback port: uploads
//! need `__token__` and a token, reads are open, no fallback to PyPI.

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
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
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").expect("HOME is set");
            Path::new(&home).join(".cache/tagpub-dev/venv")
        });
    // One setup at a time in this process; the script itself is idempotent.
    let _guard = SETUP.lock().unwrap_or_else(|e| e.into_inner());
    if !venv.join("bin/pypi-server").exists() {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/setup-venv.sh");
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

/// A free TCP port on 127.0.0.1 (free when asked; a tiny race is accepted).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// How to run the server.
#[derive(Clone, Debug)]
pub struct Options {
    /// The password of `__token__`; a fresh [`unique`] one when `None`.
    pub token: Option<String>,
    /// Store a re-upload of an existing file again (`--overwrite`) instead
    /// of answering 409: only the client can keep a file from being sent twice.
    pub overwrite: bool,
    /// List the directory on every request (`--backend simple-dir`, no
    /// cache to go stale), so files removed behind its back are gone.
    pub simple_dir: bool,
    /// Log every request (`-v --log-file`): [`PypiServer::uploads`] counts them.
    pub log_requests: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            token: None,
            overwrite: false,
            simple_dir: false,
            log_requests: true,
        }
    }
}

/// A running `pypi-server`; killed on drop.
pub struct PypiServer {
    /// The upload URL, e.g. `http://127.0.0.1:PORT/`.
    pub url: String,
    /// `http://127.0.0.1:PORT/simple/`.
    pub simple_url: String,
    /// The password of user `__token__`.
    pub token: String,
    /// Where uploaded files land (and what the server serves).
    pub packages_dir: PathBuf,
    pub log_file: PathBuf,
    port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl PypiServer {
    pub fn start() -> PypiServer {
        PypiServer::start_with(Options::default())
    }

    /// A server whose `__token__` password is `token` (e.g. a crafted macaroon).
    pub fn start_with_token(token: &str) -> PypiServer {
        PypiServer::start_with(Options {
            token: Some(token.to_string()),
            ..Options::default()
        })
    }

    /// A server that takes a re-upload of an existing file ([`Options::overwrite`]).
    pub fn start_overwriting() -> PypiServer {
        PypiServer::start_with(Options {
            overwrite: true,
            ..Options::default()
        })
    }

    /// Starts one from the dev venv ([`venv`]); panics when it cannot.
    pub fn start_with(options: Options) -> PypiServer {
        PypiServer::start_in(&venv(), options).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts `venv`'s `pypi-server`, or says why it could not.
    pub fn start_in(venv: &Path, options: Options) -> Result<PypiServer, String> {
        let token = options.token.unwrap_or_else(|| unique("pypi-test-"));
        let server = venv.join("bin/pypi-server");
        let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let packages_dir = dir.path().join("packages");
        fs::create_dir_all(&packages_dir).map_err(|e| format!("packages dir: {e}"))?;

        // The password goes in on stdin: even a test token stays out of argv.
        let mut openssl = Command::new("openssl")
            .args(["passwd", "-apr1", "-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run openssl passwd: {e}"))?;
        writeln!(openssl.stdin.take().expect("piped stdin"), "{token}")
            .map_err(|e| format!("openssl passwd: {e}"))?;
        let hash = openssl
            .wait_with_output()
            .map_err(|e| format!("openssl passwd: {e}"))?;
        if !hash.status.success() {
            return Err(format!("openssl passwd -apr1 failed: {}", hash.status));
        }
        let htpasswd = dir.path().join("htpasswd");
        let hash = String::from_utf8_lossy(&hash.stdout);
        fs::write(&htpasswd, format!("__token__:{}\n", hash.trim()))
            .map_err(|e| format!("htpasswd: {e}"))?;

        let port = free_port();
        let log_file = dir.path().join("pypiserver.log");
        let output = fs::File::create(dir.path().join("pypiserver.out"))
            .map_err(|e| format!("server output: {e}"))?;
        let mut command = Command::new(&server);
        command
            .arg("run")
            .args(["-i", "127.0.0.1", "-p", &port.to_string()])
            .arg("-P")
            .arg(&htpasswd)
            .args(["-a", "update", "--disable-fallback"]);
        if options.log_requests {
            // -v logs every request: tests count uploads (POSTs) in the log.
            command.args(["-v", "--log-file"]).arg(&log_file);
        }
        if options.overwrite {
            command.arg("--overwrite");
        }
        if options.simple_dir {
            command.args(["--backend", "simple-dir"]);
        }
        let child = command
            .arg(&packages_dir)
            .stdin(Stdio::null())
            .stdout(output.try_clone().map_err(|e| e.to_string())?)
            .stderr(output)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", server.display()))?;

        let url = format!("http://127.0.0.1:{port}/");
        let mut this = PypiServer {
            simple_url: format!("{url}simple/"),
            url,
            token,
            packages_dir,
            log_file,
            port,
            child,
            _dir: dir,
        };
        this.wait_ready(Duration::from_secs(15))?;
        Ok(this)
    }

    /// Until `GET /simple/` answers 200 (or the server died, or `limit` passed).
    fn wait_ready(&mut self, limit: Duration) -> Result<(), String> {
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "pypi-server exited ({status}) before answering:\n{}",
                    self.logs()
                ));
            }
            if self.simple_answers() {
                return Ok(());
            }
            if started.elapsed() > limit {
                return Err(format!(
                    "pypi-server did not answer {} within {limit:?}:\n{}",
                    self.simple_url,
                    self.logs()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn simple_answers(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let request = format!(
            "GET /simple/ HTTP/1.0\r\nHost: 127.0.0.1:{}\r\n\r\n",
            self.port
        );
        let mut head = [0u8; 12];
        stream.write_all(request.as_bytes()).is_ok()
            && stream.read_exact(&mut head).is_ok()
            && head.starts_with(b"HTTP/1.")
            && &head[9..12] == b"200"
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
