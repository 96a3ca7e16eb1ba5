//! Uploads over a network that fails: a fault-injecting proxy in front of a
//! real pypiserver (and a real devpi-server) answers 503, 429, resets the
//! connection after the server stored the file, or is slower than the
//! timeout. Each file must end up on the index exactly once.

use crate::common;

use std::time::Duration;

use crate::common::PypiServer;
use crate::common::devpi::DevpiServer;
use crate::common::project::{Project, Run, files_in};
use crate::common::proxy::{Fault, FaultProxy};

const TAG: &str = "hf-local-v1.0.0";
const SDIST: &str = "open_ticket_ai_hf_local-1.0.0.tar.gz";
const WHEEL: &str = "open_ticket_ai_hf_local-1.0.0-py3-none-any.whl";

/// The sample monorepo publishing to `url` (the proxy) as `faulty`.
fn project_publishing_to(url: &str, extra: &str) -> Project {
    let project = Project::sample(&[]);
    project.configure(
        "faulty",
        &format!("\n[repository.faulty]\nurl = \"{url}\"\n{extra}"),
    );
    project.tag(TAG);
    project
}

/// `tagpub release` with the token and quick retries.
fn release(project: &Project, server: &PypiServer, env: &[(&str, &str)]) -> Run {
    let mut command = project.command(&["release", TAG]);
    command
        .env("PYPI_API_TOKEN", &server.token)
        .env("TAGPUB_RETRIES", "3")
        .env("TAGPUB_RETRY_BASE", "50ms");
    for (name, value) in env {
        command.env(name, value);
    }
    Run::from_output(command.output().expect("tagpub runs"))
}

fn setup() -> (PypiServer, FaultProxy, Project) {
    let server = PypiServer::start();
    let proxy = FaultProxy::start(&server.url);
    let project = project_publishing_to(&proxy.url(), "");
    (server, proxy, project)
}

fn posts_seen(proxy: &FaultProxy) -> usize {
    proxy.log().iter().filter(|e| e.method == "POST").count()
}

#[track_caller]
fn assert_published_once(server: &PypiServer) {
    assert_eq!(files_in(&server.packages_dir), [WHEEL, SDIST]);
    assert_eq!(
        server.uploads(),
        2,
        "each file reached the server once\n{}",
        server.logs()
    );
}

#[test]
fn a_503_is_retried_and_each_file_reaches_the_server_once() {
    let (server, proxy, project) = setup();
    proxy.inject("POST", 2, Fault::status(503, None, "try later"));
    let run = release(&project, &server, &[]);
    run.assert_ok();
    assert!(run.stderr.contains("HTTP 503"), "{}", run.stderr);
    assert!(run.stderr.contains("retrying in"), "{}", run.stderr);
    assert_eq!(posts_seen(&proxy), 4, "{}", proxy.log_text());
    assert_published_once(&server);
}

#[test]
fn a_429_is_retried_after_the_servers_retry_after() {
    let (server, proxy, project) = setup();
    proxy.inject("POST", 1, Fault::status(429, Some("1"), "slow down"));
    let started = std::time::Instant::now();
    let run = release(&project, &server, &[]);
    run.assert_ok();
    assert!(
        run.stderr.contains("HTTP 429") && run.stderr.contains("retrying in 1.0 s"),
        "{}",
        run.stderr
    );
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_published_once(&server);
}

#[test]
fn other_client_errors_are_never_retried() {
    let (server, proxy, project) = setup();
    proxy.inject(
        "POST",
        1,
        Fault::status(400, None, "Invalid value for classifiers"),
    );
    let run = release(&project, &server, &[]);
    run.assert_fails(1, "Invalid value for classifiers");
    assert!(!run.stderr.contains("retrying"), "{}", run.stderr);
    assert_eq!(posts_seen(&proxy), 1, "{}", proxy.log_text());
    assert!(files_in(&server.packages_dir).is_empty());
}

#[test]
fn a_reset_after_the_server_stored_the_file_does_not_send_it_again() {
    let (server, proxy, project) = setup();
    proxy.inject("POST", 1, Fault::ResetAfterForward);
    let run = release(&project, &server, &[]);
    run.assert_ok();
    assert!(run.stderr.contains("retrying"), "{}", run.stderr);
    // The sdist was stored by the reset request; the retry found it.
    assert_eq!(posts_seen(&proxy), 2, "{}", proxy.log_text());
    assert_published_once(&server);
}

#[test]
fn a_server_slower_than_the_timeout_does_not_get_the_file_twice() {
    let (server, proxy, project) = setup();
    proxy.inject("POST", 1, Fault::DelayResponse(Duration::from_secs(3)));
    let run = release(&project, &server, &[("TAGPUB_UPLOAD_TIMEOUT", "1s")]);
    run.assert_ok();
    assert!(run.stderr.contains("timed out"), "{}", run.stderr);
    // The slow request stored the sdist; the retry found it there.
    assert_published_once(&server);
}

#[test]
fn an_index_down_mid_release_leaves_it_incomplete_and_the_next_release_finishes_it() {
    let (server, proxy, project) = setup();
    // The wheel (sent first) goes through; from then on the index answers 503.
    proxy.inject("POST", 1, Fault::DelayRequest(Duration::ZERO));
    proxy.inject(
        "POST",
        100,
        Fault::status(503, None, "down for maintenance"),
    );
    let run = release(&project, &server, &[]);
    run.assert_fails(1, "The release is incomplete");
    assert!(
        run.stderr
            .contains(&format!("On the index: {WHEEL}. Missing: {SDIST}")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("gave up after 4 attempts"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!("tagpub release {TAG}")),
        "{}",
        run.stderr
    );
    assert_eq!(files_in(&server.packages_dir), [WHEEL]);

    proxy.clear_rules();
    let again = release(&project, &server, &[]);
    again.assert_ok();
    assert!(
        again
            .stderr
            .contains(&format!("{WHEEL} is already on faulty")),
        "{}",
        again.stderr
    );
    assert_published_once(&server);
}

#[test]
fn uploads_go_through_the_proxy_the_environment_names() {
    let server = PypiServer::start();
    let proxy = FaultProxy::start_forward();
    let project = project_publishing_to(&server.url, "");
    let run = release(&project, &server, &[("HTTP_PROXY", &proxy.url())]);
    run.assert_ok();
    let through: Vec<String> = proxy
        .log()
        .iter()
        .map(|e| format!("{} {}", e.method, e.target))
        .collect();
    assert!(
        through
            .iter()
            .any(|line| line == &format!("POST {}", server.url)),
        "{through:?}"
    );
    assert!(
        through
            .iter()
            .any(|line| line.starts_with(&format!("GET {}simple/", server.url))),
        "{through:?}"
    );
    assert_published_once(&server);

    // NO_PROXY wins for the hosts it names.
    project.tag("otobo-znuny-v1.0.0");
    let before = proxy.log().len();
    let mut command = project.command(&["release", "otobo-znuny-v1.0.0"]);
    command
        .env("PYPI_API_TOKEN", &server.token)
        .env("HTTP_PROXY", proxy.url())
        .env("NO_PROXY", "127.0.0.1");
    Run::from_output(command.output().unwrap()).assert_ok();
    assert_eq!(proxy.log().len(), before, "{}", proxy.log_text());
}

#[test]
fn a_bad_ca_bundle_is_reported_before_anything_is_sent() {
    let server = PypiServer::start();
    // An https index (certificates matter); nothing may even connect to it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let project = project_publishing_to(&format!("https://127.0.0.1:{port}/"), "");
    let bundle = project.temp.path().join("not-a-bundle.pem");
    std::fs::write(&bundle, "this is no certificate\n").unwrap();
    let run = release(
        &project,
        &server,
        &[("SSL_CERT_FILE", bundle.to_str().unwrap())],
    );
    run.assert_fails(1, "holds no PEM certificate");
    assert!(run.stderr.contains("SSL_CERT_FILE="), "{}", run.stderr);
    assert!(!run.stderr.contains("retrying"), "{}", run.stderr);
    listener.set_nonblocking(true).unwrap();
    assert!(
        listener.accept().is_err(),
        "something connected to the index"
    );
}

#[test]
fn devpi_gets_each_file_once_even_after_a_reset_and_a_second_release_is_complete() {
    let devpi = DevpiServer::start();
    let proxy = FaultProxy::start(&devpi.url);
    let upload_url = devpi.upload_url.replace(&devpi.url, &proxy.url());
    let simple_url = devpi.simple_url.replace(&devpi.url, &proxy.url());
    let project = project_publishing_to(
        &upload_url,
        &format!(
            "simple-url = \"{simple_url}\"\nusername = \"{}\"\ntoken-env = \"DEVPI_PASSWORD\"\n",
            devpi.username
        ),
    );
    proxy.inject("POST", 1, Fault::ResetAfterForward);
    let run = |project: &Project| {
        let mut command = project.command(&["release", TAG]);
        command
            .env("DEVPI_PASSWORD", &devpi.password)
            .env("TAGPUB_RETRY_BASE", "50ms");
        Run::from_output(command.output().unwrap())
    };
    let first = run(&project);
    first.assert_ok();
    assert!(!first.stderr.contains(&devpi.password), "{}", first.stderr);
    let mut files = devpi.files("open-ticket-ai-hf-local");
    files.sort();
    assert_eq!(
        files
            .iter()
            .map(|(name, _)| name.as_str())
            .collect::<Vec<_>>(),
        [WHEEL, SDIST]
    );
    assert_eq!(devpi.uploads(), 2, "{}", devpi.log());

    let second = run(&project);
    second.assert_ok();
    assert!(
        second.stderr.contains("already complete"),
        "{}",
        second.stderr
    );
    assert_eq!(devpi.uploads(), 2, "{}", devpi.log());
}

/// A test CA and a server certificate for 127.0.0.1 it signed (openssl CLI).
fn test_ca(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let openssl = |args: &[&str]| {
        let output = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs");
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=tagpub test CA",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

/// HTTPS on 127.0.0.1 in front of `upstream` (tests/support/tls_proxy.py).
struct TlsProxy {
    url: String,
    child: std::process::Child,
}

impl TlsProxy {
    fn start(upstream: &str, cert: &std::path::Path, key: &std::path::Path) -> TlsProxy {
        let port_file = cert.with_file_name("tls-proxy.port");
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/tls_proxy.py");
        let child = std::process::Command::new(common::venv_bin("python"))
            .arg(script)
            .arg(upstream)
            .arg(cert)
            .arg(key)
            .arg(&port_file)
            .stdin(std::process::Stdio::null())
            .spawn()
            .expect("python runs");
        let started = std::time::Instant::now();
        let port = loop {
            if let Ok(port) = std::fs::read_to_string(&port_file) {
                break port;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the TLS proxy did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        TlsProxy {
            url: format!("https://127.0.0.1:{}/", port.trim()),
            child,
        }
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn an_index_behind_a_private_ca_works_with_ssl_cert_file_or_requests_ca_bundle() {
    let server = PypiServer::start();
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = test_ca(certs.path());
    let tls = TlsProxy::start(&server.url, &cert, &key);
    let project = project_publishing_to(&tls.url, "");

    // Not trusted by default: refused before anything is sent.
    let untrusted = release(&project, &server, &[]);
    untrusted.assert_fails(1, "cannot reach faulty before uploading");
    assert!(
        untrusted
            .stderr
            .contains("certificate tagpub does not trust")
            && untrusted.stderr.contains("point SSL_CERT_FILE")
            && !untrusted.stderr.contains("retrying"),
        "{}",
        untrusted.stderr
    );
    assert!(files_in(&server.packages_dir).is_empty());

    release(
        &project,
        &server,
        &[("SSL_CERT_FILE", ca.to_str().unwrap())],
    )
    .assert_ok();
    assert_published_once(&server);

    project.tag("otobo-znuny-v1.0.0");
    let mut command = project.command(&["release", "otobo-znuny-v1.0.0"]);
    command
        .env("PYPI_API_TOKEN", &server.token)
        .env("REQUESTS_CA_BUNDLE", &ca);
    Run::from_output(command.output().unwrap()).assert_ok();
    assert_eq!(files_in(&server.packages_dir).len(), 4);
}
