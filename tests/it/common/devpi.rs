//! `DevpiServer`: a real devpi-server on 127.0.0.1 with a temp serverdir,
//! one user and one non-volatile index without bases; killed on drop.
//!
//! devpi derives its server secret with argon2 at start-up (defaults: 512 MiB,
//! 16 passes, 8 lanes: ~11 s here). devpi-server has hidden options
//! `--argon2-memory-cost/-time-cost/-parallelism` for exactly this (its own
//! test suite lowers them); with the minimum start-up takes well under a
//! second. User passwords are hashed by passlib's argon2 defaults, already fast.

use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;

use super::{unique, venv_bin};

/// A running devpi-server with user `testuser` and index `testuser/dev`.
pub struct DevpiServer {
    /// The server root, `http://127.0.0.1:PORT/`.
    pub url: String,
    /// The index URL the legacy upload API posts to: `{url}testuser/dev/`.
    pub upload_url: String,
    /// `{upload_url}+simple/`.
    pub simple_url: String,
    pub username: String,
    pub password: String,
    /// `testuser/dev`.
    pub index: String,
    /// How long `start()` took, from `devpi-init` to the index existing.
    pub startup: Duration,
    log_file: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl DevpiServer {
    pub fn start() -> DevpiServer {
        let started = Instant::now();
        let dir = tempfile::tempdir().expect("temp dir");
        let serverdir = dir.path().join("server");
        let log_file = dir.path().join("devpi-server.log");

        // No root password: the server listens on loopback only and lives
        // as long as the test; nothing secret goes into argv.
        let init = Command::new(venv_bin("devpi-init"))
            .arg("--serverdir")
            .arg(&serverdir)
            .arg("--no-root-pypi")
            .env("PYTHONWARNINGS", "ignore")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run devpi-init: {e}"));
        assert!(
            init.status.success(),
            "devpi-init failed ({}):\n{}{}",
            init.status,
            String::from_utf8_lossy(&init.stdout),
            String::from_utf8_lossy(&init.stderr)
        );

        let output = fs::File::create(&log_file).expect("create the devpi log");
        // Port 0: the OS picks a free port, read back from the log (no race).
        let child = Command::new(venv_bin("devpi-server"))
            .arg("--serverdir")
            .arg(&serverdir)
            .args(["--host", "127.0.0.1", "--port", "0"])
            .args(["--argon2-memory-cost", "8", "--argon2-time-cost", "1"])
            .args(["--argon2-parallelism", "1", "--threads", "8"])
            .env("PYTHONWARNINGS", "ignore")
            .stdin(Stdio::null())
            .stdout(output.try_clone().expect("clone the log handle"))
            .stderr(output)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start devpi-server: {e}"));

        let mut server = DevpiServer {
            url: String::new(),
            upload_url: String::new(),
            simple_url: String::new(),
            username: "testuser".to_owned(),
            password: unique("devpi-pw-"),
            index: "testuser/dev".to_owned(),
            startup: Duration::ZERO,
            log_file,
            child,
            _dir: dir,
        };
        let port = server.wait_ready(Duration::from_secs(30));
        server.url = format!("http://127.0.0.1:{port}/");
        server.create_user_and_index();
        server.upload_url = format!("{}{}/", server.url, server.index);
        server.simple_url = format!("{}+simple/", server.upload_url);
        server.startup = started.elapsed();
        server
    }

    /// Polls the log for waitress's "Serving on" line, then `GET /+api`.
    fn wait_ready(&mut self, limit: Duration) -> u16 {
        let client = http_client();
        let started = Instant::now();
        let mut port = None;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "devpi-server exited ({status}) before answering:\n{}",
                    self.log()
                );
            }
            if port.is_none() {
                port = self.log().lines().find_map(|line| {
                    let (_, rest) = line.split_once("Serving on http://127.0.0.1:")?;
                    rest.trim().parse::<u16>().ok()
                });
            }
            if let Some(port) = port {
                let api = format!("http://127.0.0.1:{port}/+api");
                if client
                    .get(&api)
                    .send()
                    .is_ok_and(|r| r.status().is_success())
                {
                    return port;
                }
            }
            if started.elapsed() > limit {
                panic!(
                    "devpi-server did not answer within {limit:?} (port {port:?}):\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// `PUT /testuser` (anyone may create a user on a default server), then
    /// the index.
    fn create_user_and_index(&self) {
        let user_url = format!("{}{}", self.url, self.username);
        self.api(
            "create the user",
            http_client().put(&user_url).json(&serde_json::json!({
                "password": self.password,
                "email": "testuser@example.invalid",
            })),
        );
        let name = self.index.rsplit('/').next().unwrap_or_default().to_owned();
        self.create_index(&name, false);
    }

    /// Creates `testuser/{name}` without bases and returns its upload URL.
    /// A volatile index lets a file be replaced by different bytes.
    pub fn create_index(&self, name: &str, volatile: bool) -> String {
        let index = format!("{}/{name}", self.username);
        self.api(
            &format!("create the index {index}"),
            http_client()
                .put(format!("{}{index}", self.url))
                .header("X-Devpi-Auth", self.login())
                .json(&serde_json::json!({ "bases": [], "volatile": volatile })),
        );
        format!("{}{index}/", self.url)
    }

    /// `POST /+login`: the `X-Devpi-Auth` value for the session it returns.
    fn login(&self) -> String {
        let login = self.api(
            "log in",
            http_client()
                .post(format!("{}+login", self.url))
                .json(&serde_json::json!({
                    "user": self.username,
                    "password": self.password,
                })),
        );
        let session = login["result"]["password"]
            .as_str()
            .unwrap_or_else(|| panic!("devpi login answer without a password: {login}"));
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{session}", self.username))
    }

    /// Sends a devpi API request, panics with the answer and log unless 2xx.
    fn api(&self, what: &str, request: reqwest::blocking::RequestBuilder) -> serde_json::Value {
        let response = request
            .header("Accept", "application/json")
            .send()
            .unwrap_or_else(|e| panic!("devpi: cannot {what}: {e}\n{}", self.log()));
        let status = response.status();
        let text = response.text().unwrap_or_default();
        assert!(
            status.is_success(),
            "devpi: cannot {what}: {status}\n{text}\n{}",
            self.log()
        );
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
    }

    /// devpi-server's log (stdout and stderr), for failure messages.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_file).unwrap_or_default()
    }

    /// How many upload POSTs (`POST /user/index/`) devpi received, whatever
    /// it answered; logins (`POST /+login`) are not counted.
    pub fn uploads(&self) -> usize {
        self.log()
            .lines()
            .filter(|line| {
                line.split_once("] POST /")
                    .is_some_and(|(_, path)| !path.starts_with('+'))
            })
            .count()
    }

    /// `(filename, sha256)` of every file of `project` on the index's simple
    /// page (empty when the project has none).
    pub fn files(&self, project: &str) -> Vec<(String, String)> {
        self.files_on(&self.upload_url, project)
    }

    /// `files` for another index, given its upload URL.
    pub fn files_on(&self, index_url: &str, project: &str) -> Vec<(String, String)> {
        let page = http_client()
            .get(format!("{index_url}+simple/{project}/"))
            .send()
            .and_then(|r| r.text())
            .unwrap_or_else(|e| panic!("devpi simple page of {project}: {e}"));
        let mut files: Vec<(String, String)> = page
            .split("href=\"")
            .skip(1)
            .filter_map(|rest| {
                let href = &rest[..rest.find('"')?];
                let (path, fragment) = href.split_once("#sha256=")?;
                let filename = path.rsplit('/').next()?;
                Some((filename.to_owned(), fragment.to_owned()))
            })
            .collect();
        files.sort();
        files
    }
}

fn http_client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        // The harness talks to devpi directly, whatever HTTP_PROXY says.
        .no_proxy()
        .build()
        .expect("http client")
}

impl Drop for DevpiServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
