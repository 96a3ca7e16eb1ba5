//! Self-tests of the upload test harness: `FaultProxy` in front of a real
//! pypiserver (and of a tiny in-test upstream for framing details), and a
//! real devpi-server. Each fails if the harness stops doing what tests of
//! retries, lookups after resets and devpi support rely on.

use crate::common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::PypiServer;
use crate::common::devpi::DevpiServer;
use crate::common::proxy::{Fault, FaultProxy, MAX_BODY, Outcome, Rule};
use sha2::Digest;

fn sha256_hex(path: &Path) -> String {
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

/// What `twine upload` printed and how it ended.
struct Twine {
    ok: bool,
    output: String,
}

/// `twine upload` of `file` to `url`; the password goes in through
/// `TWINE_PASSWORD`, never argv. `http_proxy`: sets `HTTP_PROXY`.
fn twine_upload(
    url: &str,
    user: &str,
    password: &str,
    file: &Path,
    http_proxy: Option<&str>,
) -> Twine {
    let mut command = Command::new(common::venv_bin("twine"));
    command
        .args(["upload", "--non-interactive", "--disable-progress-bar"])
        .args(["--repository-url", url])
        .arg("--config-file")
        .arg(file.with_extension("no-pypirc"))
        .arg(file)
        .env("TWINE_USERNAME", user)
        .env("TWINE_PASSWORD", password)
        .env("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring");
    for var in ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"] {
        command.env_remove(var);
    }
    // requests skips the proxy for hosts in NO_PROXY; loopback must go through.
    command.env_remove("NO_PROXY").env_remove("no_proxy");
    if let Some(proxy) = http_proxy {
        command.env("HTTP_PROXY", proxy);
    }
    let output = command.output().expect("twine runs");
    Twine {
        ok: output.status.success(),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

/// A legacy-API upload with reqwest (status and body visible, timeout
/// settable), as `twine` would send it.
fn legacy_upload(
    url: &str,
    user: &str,
    password: &str,
    file: &Path,
    timeout: Duration,
) -> reqwest::Result<(u16, String)> {
    let filename = file.file_name().unwrap().to_string_lossy().into_owned();
    let mut parts = filename.split('-');
    let name = parts.next().unwrap().replace('_', "-");
    let version = parts.next().unwrap().to_owned();
    let form = reqwest::blocking::multipart::Form::new()
        .text(":action", "file_upload")
        .text("protocol_version", "1")
        .text("metadata_version", "2.1")
        .text("name", name)
        .text("version", version)
        .text("filetype", "bdist_wheel")
        .text("pyversion", "py3")
        .text("sha256_digest", sha256_hex(file))
        .part(
            "content",
            reqwest::blocking::multipart::Part::bytes(std::fs::read(file).unwrap())
                .file_name(filename),
        );
    let response = client(timeout)
        .post(url)
        .basic_auth(user, Some(password))
        .multipart(form)
        .send()?;
    let status = response.status().as_u16();
    Ok((status, response.text().unwrap_or_default()))
}

fn client(timeout: Duration) -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(timeout)
        .no_proxy()
        .build()
        .unwrap()
}

fn get(url: &str) -> reqwest::blocking::Response {
    client(Duration::from_secs(10))
        .get(url)
        .send()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

/// Upload POSTs in pypiserver's log. `PypiServer::uploads()` counts
/// wsgiref's access lines (`"POST / HTTP`), but `--server auto` picks
/// waitress once devpi-server (which needs it) is in the venv, and waitress
/// writes none. pypiserver's own `<LocalRequest: POST …>` line (with `-v`)
/// is there under either server, once per request.
fn pypi_uploads(server: &PypiServer) -> usize {
    std::fs::read_to_string(&server.log_file)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("<LocalRequest: POST "))
        .count()
}

#[test]
fn twine_upload_through_the_proxy_succeeds_once_a_503_rule_is_consumed() {
    let server = PypiServer::start();
    let proxy = FaultProxy::start(&server.url);
    let temp = tempfile::tempdir().unwrap();
    let wheel = common::write_wheel(temp.path(), "demo-pkg", "0.1.0", "x = 1\n");

    // twine 7 retries a 5xx answer to an upload itself, 5 times in all:
    // five 503s in a row make it give up with nothing stored.
    proxy.inject("POST", 5, Fault::status(503, None, "index busy"));
    let failed = twine_upload(&proxy.url(), "__token__", &server.token, &wheel, None);
    assert!(
        !failed.ok,
        "twine must give up after five 503s:\n{}",
        failed.output
    );
    assert!(failed.output.contains("503"), "{}", failed.output);
    assert_eq!(
        pypi_uploads(&server),
        0,
        "the 503s were answered by the proxy"
    );
    assert_eq!(proxy.forwarded("POST"), 0);
    assert_eq!(proxy.rules_left(), 0);

    // One 503, then the rule falls through: twine's retry is forwarded.
    proxy.inject("POST", 1, Fault::status(503, None, "index busy"));
    let twine = twine_upload(&proxy.url(), "__token__", &server.token, &wheel, None);
    assert!(
        twine.ok,
        "twine after one 503:\n{}\n{}",
        twine.output,
        proxy.log_text()
    );
    assert!(twine.output.contains("503"), "{}", twine.output);
    assert_eq!(pypi_uploads(&server), 1, "{}", server.logs());
    assert_eq!(proxy.forwarded("POST"), 1, "{}", proxy.log_text());
    assert_eq!(
        common::project::files_in(&server.packages_dir),
        ["demo_pkg-0.1.0-py3-none-any.whl"]
    );

    let posts: Vec<_> = proxy
        .log()
        .into_iter()
        .filter(|e| e.method == "POST")
        .collect();
    assert_eq!(posts.len(), 7, "{}", proxy.log_text());
    for post in &posts[..6] {
        assert_eq!(
            post.outcome,
            Outcome::Fault(Fault::status(503, None, "index busy"))
        );
        assert_eq!((post.forwarded, post.status), (false, Some(503)));
    }
    assert_eq!(posts[6].outcome, Outcome::Forwarded);
    assert_eq!(
        (posts[6].upstream_status, posts[6].status),
        (Some(200), Some(200))
    );
    assert_eq!(posts[6].target, "/");
}

#[test]
fn a_429_rule_answers_with_retry_after_only_on_its_path() {
    let server = PypiServer::start();
    let proxy = FaultProxy::start(&server.url);
    proxy.push(
        Rule::new("GET", Fault::status(429, Some("1"), "slow down"))
            .path("/simple/")
            .times(1),
    );

    // A GET elsewhere does not match and does not consume the rule.
    let root = get(&proxy.url());
    assert!(root.status().is_success(), "{}", root.status());
    assert_eq!(proxy.rules_left(), 1);

    let limited = get(&format!("{}simple/", proxy.url()));
    assert_eq!(limited.status().as_u16(), 429);
    assert_eq!(limited.headers()["retry-after"], "1");
    assert_eq!(limited.headers()["connection"], "close");
    assert_eq!(limited.text().unwrap(), "slow down");

    let after = get(&format!("{}simple/", proxy.url()));
    assert_eq!(after.status().as_u16(), 200);
    // HEAD: the upstream's length passes, no body follows.
    let head = client(Duration::from_secs(10))
        .head(format!("{}simple/", proxy.url()))
        .send()
        .unwrap();
    assert_eq!(head.status().as_u16(), 200);
    assert_ne!(head.headers()["content-length"], "0");
    assert_eq!(proxy.forwarded("GET"), 2, "{}", proxy.log_text());
    assert_eq!(proxy.forwarded("HEAD"), 1, "{}", proxy.log_text());
    assert_eq!(proxy.rules_left(), 0);
}

#[test]
fn reset_after_forward_stores_the_file_but_twine_sees_a_connection_error() {
    let server = PypiServer::start();
    let proxy = FaultProxy::start(&server.url);
    let temp = tempfile::tempdir().unwrap();
    let wheel = common::write_wheel(temp.path(), "demo-pkg", "0.1.0", "x = 1\n");
    proxy.inject("POST", 1, Fault::ResetAfterForward);

    let twine = twine_upload(&proxy.url(), "__token__", &server.token, &wheel, None);
    eprintln!("twine after a reset:\n{}", twine.output);
    assert!(!twine.ok, "twine must see the reset:\n{}", twine.output);
    // requests' wording for ECONNRESET, whatever the OS calls it.
    assert!(
        twine.output.contains("ConnectionResetError"),
        "twine should report a reset connection:\n{}",
        twine.output
    );
    assert_eq!(pypi_uploads(&server), 1, "{}", server.logs());
    assert_eq!(
        common::project::files_in(&server.packages_dir),
        ["demo_pkg-0.1.0-py3-none-any.whl"]
    );
    let post = proxy
        .log()
        .into_iter()
        .find(|e| e.method == "POST")
        .unwrap();
    assert_eq!(post.outcome, Outcome::Fault(Fault::ResetAfterForward));
    assert!(post.forwarded);
    assert_eq!((post.upstream_status, post.status), (Some(200), None));
}

#[test]
fn delay_response_pushes_the_client_past_its_timeout_after_the_server_stored_the_file() {
    let server = PypiServer::start();
    let proxy = FaultProxy::start(&server.url);
    let temp = tempfile::tempdir().unwrap();
    let wheel = common::write_wheel(temp.path(), "demo-pkg", "0.1.0", "x = 1\n");
    proxy.inject("POST", 1, Fault::DelayResponse(Duration::from_secs(4)));

    let started = Instant::now();
    let error = legacy_upload(
        &proxy.url(),
        "__token__",
        &server.token,
        &wheel,
        Duration::from_millis(1500),
    )
    .expect_err("the client must time out");
    assert!(error.is_timeout(), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(4));
    // Forwarded before the delay: the file is there while the client waits.
    assert_eq!(
        common::project::files_in(&server.packages_dir),
        ["demo_pkg-0.1.0-py3-none-any.whl"]
    );
    assert_eq!(pypi_uploads(&server), 1);
    assert_eq!(proxy.forwarded("POST"), 1, "counted before the delay");
}

#[test]
fn refuse_closes_without_forwarding_and_the_next_post_passes() {
    let server = PypiServer::start();
    let proxy = FaultProxy::start(&server.url);
    let temp = tempfile::tempdir().unwrap();
    let wheel = common::write_wheel(temp.path(), "demo-pkg", "0.1.0", "x = 1\n");
    proxy.inject("POST", 1, Fault::Refuse);
    let timeout = Duration::from_secs(10);

    let error = legacy_upload(&proxy.url(), "__token__", &server.token, &wheel, timeout)
        .expect_err("a refused request gets no answer");
    assert!(!error.is_timeout(), "{error:?}");
    assert_eq!(pypi_uploads(&server), 0);
    assert_eq!(proxy.forwarded("POST"), 0);

    let (status, _) =
        legacy_upload(&proxy.url(), "__token__", &server.token, &wheel, timeout).unwrap();
    assert_eq!(status, 200);
    assert_eq!(pypi_uploads(&server), 1);
    assert_eq!(proxy.forwarded("POST"), 1);
    let outcomes: Vec<_> = proxy
        .log()
        .into_iter()
        .map(|e| (e.outcome, e.status))
        .collect();
    assert_eq!(
        outcomes,
        [
            (Outcome::Fault(Fault::Refuse), None),
            (Outcome::Forwarded, Some(200))
        ]
    );
}

#[test]
fn set_down_from_another_thread_answers_503_until_switched_back() {
    let server = PypiServer::start();
    let proxy = FaultProxy::start(&server.url);
    let control = proxy.control();
    std::thread::spawn(move || control.set_down(true))
        .join()
        .unwrap();

    let simple = format!("{}simple/", proxy.url());
    for _ in 0..2 {
        assert_eq!(get(&simple).status().as_u16(), 503);
    }
    assert_eq!(proxy.forwarded("GET"), 0);
    proxy.set_down(false);
    assert_eq!(get(&simple).status().as_u16(), 200);
    let outcomes: Vec<_> = proxy.log().into_iter().map(|e| e.outcome).collect();
    assert_eq!(outcomes, [Outcome::Down, Outcome::Down, Outcome::Forwarded]);

    // Dropping the proxy closes its port.
    let addr = proxy.addr();
    drop(proxy);
    assert!(TcpStream::connect(addr).is_err(), "{addr} still accepts");
}

#[test]
fn forward_proxy_mode_carries_twine_and_reqwest_and_refuses_other_hosts() {
    let server = PypiServer::start();
    let proxy = FaultProxy::start_forward();
    let temp = tempfile::tempdir().unwrap();
    let wheel = common::write_wheel(temp.path(), "demo-pkg", "0.1.0", "x = 1\n");

    let twine = twine_upload(
        &server.url,
        "__token__",
        &server.token,
        &wheel,
        Some(&proxy.url()),
    );
    assert!(twine.ok, "{}\n{}", twine.output, proxy.log_text());
    assert_eq!(pypi_uploads(&server), 1);
    assert_eq!(proxy.forwarded("POST"), 1, "twine went around the proxy");
    let post = proxy
        .log()
        .into_iter()
        .find(|e| e.method == "POST")
        .unwrap();
    assert_eq!(post.target, server.url, "absolute-form target");

    let via_proxy = reqwest::blocking::Client::builder()
        .proxy(reqwest::Proxy::http(proxy.url()).unwrap())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let page = via_proxy.get(&server.simple_url).send().unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().unwrap().contains("demo-pkg"));

    // Loopback only: refused without a connection attempt (TEST-NET-1).
    let outside = via_proxy.get("http://192.0.2.1/simple/").send().unwrap();
    assert_eq!(outside.status().as_u16(), 502);
    assert!(outside.text().unwrap().contains("not loopback"));

    let log = proxy.log();
    let targets: Vec<_> = log.iter().map(|e| e.target.as_str()).collect();
    assert!(targets.contains(&server.simple_url.as_str()), "{targets:?}");
    let refused = log.iter().find(|e| e.target.contains("192.0.2.1")).unwrap();
    assert!(matches!(refused.outcome, Outcome::Rejected(_)));
    assert!(!refused.forwarded);
    assert_eq!(proxy.forwarded("GET"), 1);
}

/// A one-connection-at-a-time upstream that records each request head and
/// answers 200 with the request body, chunked.
fn echo_upstream() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/base/", listener.local_addr().unwrap());
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&heads);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut data = Vec::new();
            let mut buf = [0u8; 4096];
            let head_end = loop {
                let n = conn.read(&mut buf).unwrap_or(0);
                if n == 0 {
                    break None;
                }
                data.extend_from_slice(&buf[..n]);
                if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                    break Some(i + 4);
                }
            };
            let Some(head_end) = head_end else { continue };
            let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .map_or(0, |v| v.trim().parse().unwrap());
            while data.len() < head_end + length {
                let n = conn.read(&mut buf).unwrap();
                data.extend_from_slice(&buf[..n]);
            }
            seen.lock().unwrap().push(head);
            let body = &data[head_end..head_end + length];
            let mut answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            for chunk in body.chunks(4) {
                answer.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                answer.extend_from_slice(chunk);
                answer.extend_from_slice(b"\r\n");
            }
            answer.extend_from_slice(b"0\r\n\r\n");
            let _ = conn.write_all(&answer);
        }
    });
    (url, heads)
}

/// Sends raw bytes to the proxy and reads until it closes the connection.
fn raw_exchange(proxy: &FaultProxy, request: &[u8]) -> String {
    let mut conn = TcpStream::connect(proxy.addr()).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    conn.write_all(request).unwrap();
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer)
        .expect("the proxy closes the connection after one answer");
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn chunked_request_from_a_keep_alive_client_is_forwarded_with_a_length_and_closed() {
    let (upstream, heads) = echo_upstream();
    let proxy = FaultProxy::start(&upstream);

    let answer = raw_exchange(
        &proxy,
        b"POST /echo?x=1 HTTP/1.1\r\nHost: client.invalid\r\nConnection: keep-alive\r\n\
          Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.contains("\r\nConnection: close\r\n"), "{answer}");
    assert!(answer.contains("\r\nContent-Length: 11\r\n"), "{answer}");
    assert!(
        !answer.to_ascii_lowercase().contains("transfer-encoding"),
        "{answer}"
    );
    assert!(answer.ends_with("\r\n\r\nhello world"), "{answer}");

    let heads = heads.lock().unwrap();
    let head = &heads[0];
    let host = upstream
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap();
    assert!(
        head.starts_with("POST /base/echo?x=1 HTTP/1.1\r\n"),
        "{head}"
    );
    assert!(head.contains(&format!("\r\nHost: {host}\r\n")), "{head}");
    assert!(head.contains("\r\nContent-Length: 11\r\n"), "{head}");
    assert!(head.contains("\r\nConnection: close\r\n"), "{head}");
    assert!(
        !head.to_ascii_lowercase().contains("transfer-encoding"),
        "{head}"
    );
    assert!(!head.contains("keep-alive"), "{head}");
}

#[test]
fn content_length_body_with_expect_continue_is_forwarded_whole() {
    let (upstream, heads) = echo_upstream();
    let proxy = FaultProxy::start(&upstream);
    let body = "a=1&b=2".repeat(1000);
    let request = format!(
        "PUT /put HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let answer = raw_exchange(&proxy, request.as_bytes());
    assert!(
        answer.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"),
        "{answer}"
    );
    assert!(answer.ends_with(&format!("\r\n\r\n{body}")));
    let head = heads.lock().unwrap()[0].clone();
    assert!(!head.to_ascii_lowercase().contains("expect"), "{head}");
    assert_eq!(proxy.forwarded("PUT"), 1);
}

#[test]
fn a_body_over_the_cap_is_refused_with_413_and_not_forwarded() {
    let (upstream, heads) = echo_upstream();
    let proxy = FaultProxy::start(&upstream);
    let answer = raw_exchange(
        &proxy,
        format!(
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY + 1
        )
        .as_bytes(),
    );
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
    assert!(answer.contains("cap"), "{answer}");
    assert_eq!(proxy.forwarded("POST"), 0);
    assert!(heads.lock().unwrap().is_empty());
    assert!(matches!(proxy.log()[0].outcome, Outcome::Rejected(_)));

    // A client that sends the whole oversized body still reads the 413.
    let response = client(Duration::from_secs(20))
        .post(format!("{}upload", proxy.url()))
        .body(vec![b'x'; MAX_BODY + 1])
        .send()
        .expect("the 413 reaches a client that sent everything");
    assert_eq!(response.status().as_u16(), 413);
    assert_eq!(proxy.forwarded("POST"), 0);
    assert!(heads.lock().unwrap().is_empty());
}

#[test]
fn devpi_stores_a_twine_upload_and_reports_reuploads() {
    let devpi = DevpiServer::start();
    eprintln!("DevpiServer::start() took {:?}", devpi.startup);
    assert!(
        devpi.upload_url.ends_with("/testuser/dev/"),
        "{}",
        devpi.upload_url
    );
    let temp = tempfile::tempdir().unwrap();
    let wheel = common::write_wheel(&temp.path().join("a"), "demo-pkg", "0.1.0", "x = 1\n");
    let other = common::write_wheel(&temp.path().join("b"), "demo-pkg", "0.1.0", "x = 2\n");
    assert_ne!(sha256_hex(&wheel), sha256_hex(&other));
    let filename = "demo_pkg-0.1.0-py3-none-any.whl".to_owned();

    let twine = twine_upload(
        &devpi.upload_url,
        &devpi.username,
        &devpi.password,
        &wheel,
        None,
    );
    assert!(twine.ok, "{}\n{}", twine.output, devpi.log());
    assert_eq!(
        devpi.files("demo-pkg"),
        [(filename.clone(), sha256_hex(&wheel))]
    );
    assert_eq!(devpi.uploads(), 1, "{}", devpi.log());

    // devpi 6 on a non-volatile index: the same bytes again are a 200 with
    // a reason saying so (twine reports success); other bytes are a 409.
    let twine_again = twine_upload(
        &devpi.upload_url,
        &devpi.username,
        &devpi.password,
        &wheel,
        None,
    );
    assert!(twine_again.ok, "{}", twine_again.output);
    let timeout = Duration::from_secs(10);
    let (status, body) = legacy_upload(
        &devpi.upload_url,
        &devpi.username,
        &devpi.password,
        &wheel,
        timeout,
    )
    .unwrap();
    eprintln!("identical re-upload: {status}\n{body}");
    assert_eq!(status, 200);
    assert!(
        body.contains("Upload of identical file to non volatile index"),
        "{body}"
    );

    let (status, body) = legacy_upload(
        &devpi.upload_url,
        &devpi.username,
        &devpi.password,
        &other,
        timeout,
    )
    .unwrap();
    eprintln!("different bytes: {status}\n{body}");
    assert_eq!(status, 409);
    assert!(
        body.contains("already exists in non-volatile index"),
        "{body}"
    );

    let (status, body) = legacy_upload(
        &devpi.upload_url,
        &devpi.username,
        "wrong-password",
        &wheel,
        timeout,
    )
    .unwrap();
    eprintln!("wrong password: {status}");
    assert_eq!(status, 401, "{body}");

    assert_eq!(devpi.files("demo-pkg"), [(filename, sha256_hex(&wheel))]);
    assert_eq!(devpi.uploads(), 5, "{}", devpi.log());
}

#[test]
fn devpi_behind_the_proxy_keeps_the_file_a_reset_hid() {
    let devpi = DevpiServer::start();
    let proxy = FaultProxy::start(&devpi.url);
    let temp = tempfile::tempdir().unwrap();
    let wheel = common::write_wheel(temp.path(), "demo-pkg", "0.2.0", "x = 1\n");
    proxy.push(Rule::new("POST", Fault::ResetAfterForward).path("/testuser/dev/"));

    let upload_url = format!("{}{}/", proxy.url(), devpi.index);
    let twine = twine_upload(&upload_url, &devpi.username, &devpi.password, &wheel, None);
    assert!(!twine.ok, "{}", twine.output);
    assert_eq!(
        devpi.files("demo-pkg"),
        [(
            "demo_pkg-0.2.0-py3-none-any.whl".to_owned(),
            sha256_hex(&wheel)
        )]
    );
    // The retry a client would make: devpi says the identical file is fine.
    let (status, _) = legacy_upload(
        &upload_url,
        &devpi.username,
        &devpi.password,
        &wheel,
        Duration::from_secs(10),
    )
    .unwrap();
    assert_eq!(status, 200);
    assert_eq!(proxy.forwarded("POST"), 2, "{}", proxy.log_text());
}

#[test]
fn devpi_volatile_index_takes_different_bytes_for_the_same_filename() {
    let devpi = DevpiServer::start();
    let volatile = devpi.create_index("volatile", true);
    assert_eq!(volatile, format!("{}testuser/volatile/", devpi.url));
    let temp = tempfile::tempdir().unwrap();
    let wheel = common::write_wheel(&temp.path().join("a"), "demo-pkg", "0.1.0", "x = 1\n");
    let other = common::write_wheel(&temp.path().join("b"), "demo-pkg", "0.1.0", "x = 2\n");
    let timeout = Duration::from_secs(10);

    for file in [&wheel, &other] {
        let (status, body) =
            legacy_upload(&volatile, &devpi.username, &devpi.password, file, timeout).unwrap();
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(
        devpi.files_on(&volatile, "demo-pkg"),
        [(
            "demo_pkg-0.1.0-py3-none-any.whl".to_owned(),
            sha256_hex(&other)
        )]
    );
    assert!(
        devpi.files("demo-pkg").is_empty(),
        "testuser/dev is untouched"
    );
}

#[test]
fn delay_request_forwards_late_and_any_method_rules_match_every_method() {
    let (upstream, heads) = echo_upstream();
    let proxy = FaultProxy::start(&upstream);
    proxy.push(Rule::new("*", Fault::DelayRequest(Duration::from_millis(400))).times(2));

    let started = Instant::now();
    let answer = raw_exchange(&proxy, b"DELETE /x HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(get(&format!("{}y", proxy.url())).status().as_u16(), 200);
    assert_eq!(heads.lock().unwrap().len(), 2);
    assert_eq!(proxy.rules_left(), 0);
    let log = proxy.log();
    assert!(log.iter().all(|e| e.forwarded
        && e.outcome == Outcome::Fault(Fault::DelayRequest(Duration::from_millis(400)))));
}

#[test]
fn an_unreachable_upstream_is_a_502_naming_it() {
    let (port, _held) = common::closed_port();
    let proxy = FaultProxy::start(&format!("http://localhost:{port}/"));
    let response = get(&proxy.url());
    assert_eq!(response.status().as_u16(), 502);
    let text = response.text().unwrap();
    assert!(
        text.contains(&format!("localhost:{port} unreachable")),
        "{text}"
    );
    assert_eq!(proxy.forwarded("GET"), 0);
    assert!(matches!(proxy.log()[0].outcome, Outcome::Rejected(_)));
}
