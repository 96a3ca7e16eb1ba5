//! The leak scan: an index that echoes the request's `Authorization` header
//! (raw, decoded, percent-encoded, URL-safe) in its error pages, a CLI
//! release at `-vvv` and a daemon job against it, then every output, every
//! file under tagpub's dirs and `status --json` searched for every form of
//! the token. Also: everything tagpub created under its dirs is 0600 / 0700.

use crate::common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::daemon::{Daemon, daemon_log};
use crate::common::project::{Project, Run};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};

/// A short index password (16 characters) with characters that percent-
/// and form-encoding change.
const PASSWORD: &str = "Zq7+xK2/vB9 mW4!";

/// An index that lists nothing (404) and answers uploads with error pages
/// quoting the credentials it was sent: the odd POSTs 503 (retried), the
/// even ones 400 (final).
struct EchoIndex {
    url: String,
    posts: Arc<AtomicUsize>,
    echoed: Arc<AtomicUsize>,
}

impl EchoIndex {
    fn start() -> EchoIndex {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let posts = Arc::new(AtomicUsize::new(0));
        let echoed = Arc::new(AtomicUsize::new(0));
        let (p, e) = (posts.clone(), echoed.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (p, e) = (p.clone(), e.clone());
                std::thread::spawn(move || {
                    let _ = answer(conn, &p, &e);
                });
            }
        });
        EchoIndex { url, posts, echoed }
    }
}

fn answer(mut conn: TcpStream, posts: &AtomicUsize, echoed: &AtomicUsize) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let method = line.split(' ').next().unwrap_or_default().to_string();
    let mut authorization = None;
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').unwrap_or((header, ""));
        match name.to_ascii_lowercase().as_str() {
            "authorization" => authorization = Some(value.trim().to_string()),
            "content-length" => length = value.trim().parse().unwrap_or(0),
            _ => {}
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    if method != "POST" {
        return respond(&mut conn, 404, "Not Found", "", "no such project");
    }
    let n = posts.fetch_add(1, Ordering::SeqCst) + 1;
    let auth = authorization.unwrap_or_default();
    let encoded = auth.strip_prefix("Basic ").unwrap_or_default();
    let decoded =
        String::from_utf8_lossy(&STANDARD.decode(encoded).unwrap_or_default()).into_owned();
    let password = decoded.split_once(':').map(|(_, p)| p).unwrap_or_default();
    if !password.is_empty() {
        echoed.fetch_add(1, Ordering::SeqCst);
    }
    let page = format!(
        "<html><head><title>denied</title></head><body><h1>Upload refused</h1>\
         <p>You sent Authorization: {auth}</p><p>which is {decoded}</p>\
         <p>password={}</p><p>url-safe: {}</p><p>alone: {}</p></body></html>",
        percent_encoding::utf8_percent_encode(password, percent_encoding::NON_ALPHANUMERIC),
        URL_SAFE.encode(decoded.as_bytes()),
        STANDARD.encode(password.as_bytes()),
    );
    let (code, reason) = if n % 2 == 1 {
        (503, "Unavailable")
    } else {
        (400, "Bad Request")
    };
    respond(&mut conn, code, reason, &auth, &page)
}

fn respond(
    conn: &mut TcpStream,
    code: u16,
    reason: &str,
    echo: &str,
    body: &str,
) -> std::io::Result<()> {
    let echo_header = if echo.is_empty() {
        String::new()
    } else {
        format!("X-You-Sent: {echo}\r\n")
    };
    write!(
        conn,
        "HTTP/1.1 {code} {reason}\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\
         {echo_header}Connection: close\r\n\r\n{body}",
        body.len()
    )?;
    conn.flush()
}

/// Every form of `secret` that must never be shown, with a label.
fn forms(secret: &str) -> Vec<(String, String)> {
    let mut forms = vec![("raw".to_string(), secret.to_string())];
    let credential = format!("__token__:{secret}");
    for (name, engine) in [("base64", &STANDARD), ("url-safe base64", &URL_SAFE)] {
        let encoded = engine.encode(&credential);
        forms.push((
            format!("{name} of __token__:secret"),
            encoded.trim_end_matches('=').to_string(),
        ));
        let alone = engine.encode(secret);
        forms.push((
            format!("{name} of the secret"),
            alone[..alone.len() - 4].to_string(),
        ));
    }
    let percent = percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
        .to_string();
    forms.push(("percent-encoded".into(), percent.clone()));
    forms.push(("percent-encoded, lower case".into(), percent.to_lowercase()));
    // Any slice longer than 4 characters of a short secret.
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() < 32 {
        for window in chars.windows(5) {
            forms.push(("a 5-character slice".into(), window.iter().collect()));
        }
    }
    forms
}

#[track_caller]
fn assert_no_leak(secret: &str, what: &str, text: &str) {
    for (form, needle) in forms(secret) {
        assert!(
            !text.contains(&needle),
            "{form} of the token ({needle:?}) in {what}:\n{text}"
        );
    }
}

/// Every file and directory under `dir`, depth first.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        out.push(path.clone());
        if entry.file_type().unwrap().is_dir() {
            walk(&path, out);
        }
    }
}

/// No form of the token in any file under tagpub's dirs, and every entry
/// private: 0700 directories, 0600 files (the socket included).
#[track_caller]
fn scan_state(project: &Project, secret: &str) -> Vec<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let mut entries = vec![project.state.clone()];
    walk(&project.state, &mut entries);
    for path in &entries {
        let meta = std::fs::symlink_metadata(path).unwrap();
        let mode = meta.permissions().mode() & 0o777;
        // A cached checkout (`data/checkouts/<repo>/slot-N`, itself 0700)
        // keeps the modes git gives its files: builds record them, so
        // they must be a fresh clone's.
        let in_slot = path.ancestors().skip(1).any(|a| {
            a.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("slot-"))
                && a.parent()
                    .and_then(|p| p.parent())
                    .is_some_and(|p| p.ends_with("data/checkouts"))
        });
        if in_slot {
            // Checked as a whole: its slot dir is.
        } else if meta.is_dir() {
            assert_eq!(mode, 0o700, "{} is {mode:o}", path.display());
        } else {
            assert_eq!(mode, 0o600, "{} is {mode:o}", path.display());
        }
        if meta.is_file() {
            let bytes = std::fs::read(path).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            assert_no_leak(secret, &path.display().to_string(), &text);
        }
    }
    entries
}

fn project_for(index: &EchoIndex) -> Project {
    Project::publishing_to("echo", &index.url)
}

fn run_with(project: &Project, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = project.command(args);
    command.envs(env.iter().copied());
    Run::from_output(command.output().unwrap())
}

const FAST_RETRIES: [(&str, &str); 2] = [("TAGPUB_RETRIES", "1"), ("TAGPUB_RETRY_BASE", "10ms")];

#[test]
fn an_index_echoing_the_credentials_never_gets_them_shown_or_stored() {
    let index = EchoIndex::start();
    let project = project_for(&index);
    let env = [
        ("PYPI_API_TOKEN", PASSWORD),
        FAST_RETRIES[0],
        FAST_RETRIES[1],
    ];

    // The CLI, as verbose as it gets.
    project.tag("hf-local-v1.0.0");
    let release = run_with(&project, &["-vvv", "release", "hf-local-v1.0.0"], &env);
    assert_eq!(release.code, 1, "{}", release.stderr);
    assert!(
        index.echoed.load(Ordering::SeqCst) >= 2,
        "the index did not get (and echo) the credentials twice"
    );
    assert_no_leak(PASSWORD, "the release's stderr", &release.stderr);
    assert_no_leak(PASSWORD, "the release's stdout", &release.stdout);
    // The echo reached the user, masked: a retry warning and the failure.
    assert!(
        release.stderr.contains("HTTP 503") && release.stderr.contains("HTTP 400"),
        "{}",
        release.stderr
    );
    assert!(
        release
            .stderr
            .contains("You sent Authorization: Basic [redacted]"),
        "{}",
        release.stderr
    );

    let list = run_with(&project, &["-vvv", "token", "list"], &env);
    list.assert_ok();
    assert!(
        list.stdout.contains("…") || list.stderr.contains("…"),
        "{}",
        list.stderr
    );
    assert_no_leak(
        PASSWORD,
        "token list",
        &format!("{}{}", list.stdout, list.stderr),
    );

    // A daemon job against the same index.
    project.run(&["watch", "add"]).assert_ok();
    let daemon = Daemon::start_with(&project, "10m", &env);
    let posts_before = index.posts.load(Ordering::SeqCst);
    project.tag("v1.0.0");
    let started = Instant::now();
    let status = loop {
        let status = project.run(&["status", "--json"]);
        let json: serde_json::Value = serde_json::from_str(&status.stdout).unwrap_or_default();
        let failed = json["jobs"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|j| j["tag"] == "v1.0.0" && j["state"] == "failed");
        if failed {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the job did not fail:\n{}\n{}",
            status.stdout,
            daemon_log(&project)
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(index.posts.load(Ordering::SeqCst) >= posts_before + 2);
    assert_no_leak(PASSWORD, "status --json", &status.stdout);
    assert!(
        status.stdout.contains("Basic [redacted]"),
        "the job's message should quote the (masked) echo:\n{}",
        status.stdout
    );
    let text = project.run(&["status"]);
    assert_no_leak(
        PASSWORD,
        "status",
        &format!("{}{}", text.stdout, text.stderr),
    );
    let log = project.run(&["log", "1"]);
    log.assert_ok();
    assert!(log.stdout.contains("[redacted]"), "{}", log.stdout);
    assert_no_leak(PASSWORD, "tagpub log", &log.stdout);

    // Every file under tagpub's dirs, while the daemon still runs (its
    // socket and lock included), then its stderr once it stopped.
    let entries = scan_state(&project, PASSWORD);
    let names: Vec<String> = entries
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for expected in [
        "daemon.log",
        "1.json",
        "1.log",
        "record.json",
        "build.log",
        "watch.json",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "no {expected} in {names:?}"
        );
    }
    drop(daemon);
    let stderr = daemon_log(&project);
    assert!(stderr.contains("[redacted]"), "{stderr}");
    assert_no_leak(PASSWORD, "the daemon's stderr", &stderr);
}

/// A long PyPI-shaped token: raw, base64 and percent-encoded forms, and no
/// more than its `pypi-AgE…x4Q` ends.
#[test]
fn a_pypi_token_is_masked_in_every_form_too() {
    let index = EchoIndex::start();
    let project = project_for(&index);
    let token = tagpub::credentials::macaroon::encode(
        "pypi.org",
        &common::unique("leak-scan-"),
        &[r#"[1, ["open-ticket-ai-hf-local"]]"#],
    );
    let env = [
        ("PYPI_API_TOKEN", token.as_str()),
        FAST_RETRIES[0],
        FAST_RETRIES[1],
    ];
    project.tag("hf-local-v1.0.0");
    let release = run_with(&project, &["-vvv", "release", "hf-local-v1.0.0"], &env);
    assert_eq!(release.code, 1, "{}", release.stderr);
    assert!(index.echoed.load(Ordering::SeqCst) >= 2);
    let output = format!("{}{}", release.stdout, release.stderr);
    for (form, needle) in forms(&token) {
        assert!(!output.contains(&needle), "{form} in:\n{output}");
    }
    // Nothing longer than the redacted head of the token.
    let chars: Vec<char> = token.chars().collect();
    for window in chars.windows(9) {
        let slice: String = window.iter().collect();
        assert!(!output.contains(&slice), "{slice:?} in:\n{output}");
    }
    scan_state(&project, &token);
}
