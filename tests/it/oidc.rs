//! Trusted publishing in `tagpub release`: the exchange against a local mock
//! of PyPI's `/_/oidc/*` endpoints and GitHub's ID token service (the one
//! mock the project allows: neither can be reached from a test), minting a
//! token that a real pypiserver accepts, so the release really uploads.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::common::PypiServer;
use crate::common::project::{Project, Run, files_in};
use crate::common::proxy::{FaultProxy, form_fields};
use tagpub::credentials::macaroon;
use tagpub::pipeline::attest;

const AUDIENCE: &str = "tagpub-test-audience";
const TAG: &str = "hf-local-v1.0.0";

/// One request the mock received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    url: String,
    authorization: Option<String>,
    body: String,
}

#[derive(Clone)]
enum Audience {
    Ok,
    Status(u16),
}

#[derive(Clone)]
enum Mint {
    /// 200 with this token.
    Token(String),
    /// This status and body (Warehouse's 422 error JSON); `{jwt}` in it
    /// becomes the ID token, as echoed by the index.
    Refuse(u16, String),
}

/// The mock: `/_/oidc/audience`, `/_/oidc/mint-token` and GitHub's token
/// request URL (`/github/token?api-version=2.0`), on 127.0.0.1.
struct OidcMock {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    server: Arc<tiny_http::Server>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl OidcMock {
    /// `request_token`: the bearer GitHub's service wants; `jwt`: the ID
    /// token it hands out and the mint endpoint accepts.
    fn start(audience: Audience, mint: Mint, request_token: &str, jwt: &str) -> OidcMock {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind the mock"));
        let port = server.server_addr().to_ip().expect("an IP address").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (server, seen) = (server.clone(), seen.clone());
            let (request_token, jwt) = (request_token.to_string(), jwt.to_string());
            std::thread::spawn(move || {
                while let Ok(mut request) = server.recv() {
                    let mut body = String::new();
                    let _ = request.as_reader().read_to_string(&mut body);
                    let authorization = request
                        .headers()
                        .iter()
                        .find(|h| h.field.equiv("Authorization"))
                        .map(|h| h.value.to_string());
                    let url = request.url().to_string();
                    seen.lock().unwrap().push(Seen {
                        method: request.method().to_string(),
                        url: url.clone(),
                        authorization: authorization.clone(),
                        body: body.clone(),
                    });
                    let (status, reply) = if url == "/_/oidc/audience" {
                        match &audience {
                            Audience::Ok => (200, format!(r#"{{"audience": "{AUDIENCE}"}}"#)),
                            Audience::Status(code) => (*code, "Not Found".to_string()),
                        }
                    } else if url.starts_with("/github/token?") {
                        if authorization.as_deref() == Some(&format!("bearer {request_token}")) {
                            (200, serde_json::json!({ "value": jwt }).to_string())
                        } else {
                            (401, r#"{"message": "bad credentials"}"#.to_string())
                        }
                    } else if url == "/_/oidc/mint-token" && request.method().as_str() == "POST" {
                        let sent: serde_json::Value =
                            serde_json::from_str(&body).unwrap_or_default();
                        match &mint {
                            _ if sent["token"] != jwt.as_str() => (
                                422,
                                r#"{"message": "Token request failed", "errors": [{"code": "invalid-token", "description": "malformed or invalid token"}]}"#
                                    .to_string(),
                            ),
                            Mint::Token(token) => (
                                200,
                                serde_json::json!({"success": true, "token": token, "expires": 0})
                                    .to_string(),
                            ),
                            Mint::Refuse(code, body) => (*code, body.replace("{jwt}", &jwt)),
                        }
                    } else {
                        (404, "Not Found".to_string())
                    };
                    let response = tiny_http::Response::from_string(reply)
                        .with_status_code(status)
                        .with_header(
                            "Content-Type: application/json"
                                .parse::<tiny_http::Header>()
                                .unwrap(),
                        );
                    let _ = request.respond(response);
                }
            })
        };
        OidcMock {
            url: format!("http://127.0.0.1:{port}"),
            seen,
            server,
            thread: Some(thread),
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn count(&self, prefix: &str) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.url.starts_with(prefix))
            .count()
    }
}

impl Drop for OidcMock {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A token shaped like Warehouse's minted ones: expiry, project ids,
/// publisher. Kept under 255 characters: `openssl passwd -stdin`, which
/// hashes pypiserver's password, reads no more.
fn minted_token() -> String {
    let expiry = format!("[0,{},{}]", now() + 900, now() - 5);
    let token = macaroon::encode(
        "127.0.0.1",
        &common::unique("m-")[..12],
        &[&expiry, r#"[2,["0f6a5b1e"]]"#, r#"[4,"9b7d"]"#],
    );
    assert!(token.len() < 255, "{}", token.len());
    token
}

/// A JWT-shaped ID token (the mock does not verify it; PyPI would).
fn fake_jwt() -> String {
    format!(
        "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ0YWdwdWItdGVzdC1hdWRpZW5jZSJ9.{}",
        common::unique("sig")
    )
}

struct Fixture {
    project: Project,
    mock: OidcMock,
    request_token: String,
    jwt: String,
}

/// The sample monorepo publishing to `upload_url`, with its OIDC endpoints
/// at the mock.
fn fixture(audience: Audience, mint: Mint, upload_url: &str) -> Fixture {
    fixture_with_oidc_url(audience, mint, upload_url, None)
}

/// … or at `oidc_url`.
fn fixture_with_oidc_url(
    audience: Audience,
    mint: Mint,
    upload_url: &str,
    oidc_url: Option<String>,
) -> Fixture {
    let request_token = common::unique("gh-request-token-");
    let jwt = fake_jwt();
    let mock = OidcMock::start(audience, mint, &request_token, &jwt);
    let project = Project::sample(&[]);
    project.configure(
        "testindex",
        &format!(
            "\n[repository.testindex]\nurl = \"{upload_url}\"\noidc-url = \"{}\"\n",
            oidc_url.unwrap_or_else(|| mock.url.clone())
        ),
    );
    project.tag(TAG);
    Fixture {
        project,
        mock,
        request_token,
        jwt,
    }
}

impl Fixture {
    /// `tagpub ARGS` as a GitHub Actions job; `with_id_token`: whether the
    /// job has `permissions: id-token: write` (the runner then sets the
    /// request variables).
    fn github(&self, args: &[&str], with_id_token: bool) -> Run {
        let mut command = self.project.command(args);
        command
            .env_remove("GITLAB_CI")
            .env("GITHUB_ACTIONS", "true");
        if with_id_token {
            command
                .env(
                    "ACTIONS_ID_TOKEN_REQUEST_URL",
                    format!("{}/github/token?api-version=2.0", self.mock.url),
                )
                .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", &self.request_token);
        }
        Run::from_output(command.output().expect("tagpub runs"))
    }

    #[track_caller]
    fn assert_no_secret_in(&self, run: &Run, minted: Option<&str>) {
        let all = format!("{}\n{}", run.stdout, run.stderr);
        for (what, secret) in [
            (
                "the GitHub request token",
                Some(self.request_token.as_str()),
            ),
            ("the ID token", Some(self.jwt.as_str())),
            ("the minted token", minted),
        ] {
            if let Some(secret) = secret {
                assert!(!all.contains(secret), "{what} was printed:\n{all}");
            }
        }
        if let Some(minted) = minted {
            // Not even the part after the prefix.
            assert!(
                !all.contains(&minted[10..40]),
                "the minted token leaked:\n{all}"
            );
        }
    }
}

#[test]
fn github_actions_release_mints_a_token_and_uploads_with_it() {
    let minted = minted_token();
    let server = PypiServer::start_with_token(&minted);
    let f = fixture(Audience::Ok, Mint::Token(minted.clone()), &server.url);

    // -vvv: trace logs (reqwest, hyper included) must not carry a secret either.
    let run = f.github(&["-vvv", "release", TAG], true);
    run.assert_ok();
    assert!(
        run.stderr
            .contains("published open-ticket-ai-hf-local 1.0.0 to testindex and verified"),
        "{}",
        run.stderr
    );
    // The plan names where the token came from.
    assert!(
        run.stderr.contains(&format!(
            "trusted publishing (GitHub Actions ID token, minted at {}/_/oidc/mint-token)",
            f.mock.url
        )),
        "{}",
        run.stderr
    );
    assert_eq!(
        files_in(&server.packages_dir),
        vec![
            "open_ticket_ai_hf_local-1.0.0-py3-none-any.whl".to_string(),
            "open_ticket_ai_hf_local-1.0.0.tar.gz".to_string(),
        ]
    );
    // Each file was accepted with the minted token, once.
    assert_eq!(
        server.logs().matches("User '__token__' stored").count(),
        2 * 2, // the log file and the console output both say it
        "{}",
        server.logs()
    );

    // The exchange, as PyPI and GitHub define it; one mint for plan + upload.
    let seen = f.mock.seen();
    assert_eq!(f.mock.count("/_/oidc/audience"), 1, "{seen:?}");
    let github: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.url.starts_with("/github/token"))
        .collect();
    assert_eq!(github.len(), 1, "{seen:?}");
    assert_eq!(github[0].method, "GET");
    assert_eq!(
        github[0].url,
        format!("/github/token?api-version=2.0&audience={AUDIENCE}")
    );
    assert_eq!(
        github[0].authorization.as_deref(),
        Some(format!("bearer {}", f.request_token).as_str())
    );
    let mints: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.url == "/_/oidc/mint-token")
        .collect();
    assert_eq!(mints.len(), 1, "{seen:?}");
    assert_eq!(mints[0].method, "POST");
    let body: serde_json::Value = serde_json::from_str(&mints[0].body).unwrap();
    assert_eq!(body, serde_json::json!({ "token": f.jwt }));

    f.assert_no_secret_in(&run, Some(&minted));
}

#[test]
fn gitlab_id_token_variable_is_exchanged_without_asking_github() {
    let minted = minted_token();
    let f = fixture(
        Audience::Ok,
        Mint::Token(minted.clone()),
        "http://127.0.0.1:9/legacy/",
    );
    let output = f
        .project
        .command(&["plan", TAG, "--json"])
        .env_remove("GITHUB_ACTIONS")
        .env("GITLAB_CI", "true")
        .env("PYPI_ID_TOKEN", &f.jwt)
        .output()
        .expect("tagpub runs");
    let run = Run::from_output(output);
    run.assert_ok();
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).expect("plan JSON");
    assert_eq!(
        plan["plan"]["token_source"],
        format!(
            "trusted publishing (PYPI_ID_TOKEN ID token, minted at {}/_/oidc/mint-token)",
            f.mock.url
        ),
        "{}",
        run.stdout
    );
    assert_eq!(f.mock.count("/github/"), 0);
    assert_eq!(f.mock.count("/_/oidc/mint-token"), 1);
    f.assert_no_secret_in(&run, Some(&minted));
}

#[test]
fn github_job_without_id_token_permission_is_told_to_add_it() {
    let server = PypiServer::start();
    let f = fixture(Audience::Ok, Mint::Token(minted_token()), &server.url);
    let run = f.github(&["release", TAG], false);
    run.assert_fails(1, "the workflow lacks `permissions: id-token: write`");
    // The other ways still show, after the cause.
    run.assert_fails(1, "tagpub token set --repository testindex");
    assert!(f.mock.seen().is_empty(), "{:?}", f.mock.seen());
    assert_eq!(files_in(&server.packages_dir), Vec::<String>::new());
    f.assert_no_secret_in(&run, None);
}

#[test]
fn audience_fetch_failure_is_explained() {
    let server = PypiServer::start();
    let f = fixture(
        Audience::Status(404),
        Mint::Token(minted_token()),
        &server.url,
    );
    let run = f.github(&["release", TAG], true);
    run.assert_fails(
        1,
        &format!(
            "cannot get the OIDC audience from {0}/_/oidc/audience: 404: {0} does not offer trusted publishing",
            f.mock.url
        ),
    );
    run.assert_fails(1, "set `oidc-url` in its [repository.NAME] section");
    // It stopped at the first step: no ID token was requested.
    assert_eq!(f.mock.count("/github/"), 0);
    assert_eq!(files_in(&server.packages_dir), Vec::<String>::new());
    f.assert_no_secret_in(&run, None);

    // Nothing listening at all is a failure of the same step.
    let (port, _held) = common::closed_port();
    let closed = fixture_with_oidc_url(
        Audience::Ok,
        Mint::Token(minted_token()),
        &server.url,
        Some(format!("http://127.0.0.1:{port}")),
    );
    closed
        .github(&["release", TAG], true)
        .assert_fails(1, "cannot get the OIDC audience from http://127.0.0.1:")
        .assert_fails(1, "cannot reach it");
}

#[test]
fn mint_refusal_shows_pypi_errors_and_what_to_do_without_echoing_the_id_token() {
    let server = PypiServer::start();
    // Warehouse's 422 body; its descriptions may echo the submitted token
    // (pydantic's `input_value=`), which must not reach the output.
    let body = serde_json::json!({
        "message": "Token request failed",
        "errors": [{
            "code": "invalid-publisher",
            "description": "valid token, but no corresponding publisher (Publisher with matching claims was not found) input_value='{jwt}'",
        }],
    })
    .to_string();
    let f = fixture(Audience::Ok, Mint::Refuse(422, body), &server.url);

    let run = f.github(&["release", TAG], true);
    let host = f.mock.url.trim_start_matches("http://");
    run.assert_fails(
        1,
        &format!("no trusted publisher configured for this project on {host} matches this run: add one at {}/manage/project/open-ticket-ai-hf-local/settings/publishing/", f.mock.url),
    );
    run.assert_fails(
        1,
        "`invalid-publisher`: valid token, but no corresponding publisher (Publisher with matching claims was not found)",
    );
    run.assert_fails(1, "input_value='[redacted]'");
    assert_eq!(f.mock.count("/_/oidc/mint-token"), 1, "{:?}", f.mock.seen());
    assert_eq!(files_in(&server.packages_dir), Vec::<String>::new());
    f.assert_no_secret_in(&run, None);
}

/// The release's built files (from a dry run) and their directory.
fn built_files(project: &Project) -> (std::path::PathBuf, Vec<String>) {
    let releases = project
        .state
        .join("data/releases/open-ticket-ai-hf-local/1.0.0");
    let dist = std::fs::read_dir(&releases)
        .unwrap()
        .map(|entry| entry.unwrap().path().join("dist"))
        .find(|dist| dist.is_dir())
        .expect("a dry run built the release");
    // uv build leaves a .gitignore beside the files.
    let files = files_in(&dist)
        .into_iter()
        .filter(|f| !f.starts_with('.'))
        .collect();
    (dist, files)
}

/// Writes `<file>.<kind>.attestation` for `file` in `dist`; returns its JSON.
fn attest_file(
    dist: &std::path::Path,
    file: &str,
    kind: &str,
    predicate: &str,
) -> serde_json::Value {
    let sha256 = tagpub::dist::hash::sha256_file(&dist.join(file)).unwrap();
    let text = attest::sample(file, &sha256, predicate);
    std::fs::write(dist.join(format!("{file}.{kind}.attestation")), &text).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn attestations_travel_with_their_files_in_the_upload_form() {
    let minted = minted_token();
    let server = PypiServer::start_with_token(&minted);
    let proxy = FaultProxy::start(&server.url);
    let f = fixture(Audience::Ok, Mint::Token(minted.clone()), &proxy.url());
    f.project.run(&["release", "--dry-run", TAG]).assert_ok();
    let (dist, files) = built_files(&f.project);
    assert_eq!(files.len(), 2, "{files:?}");
    // What `pypi-attestations sign` writes for each file, and an SLSA
    // provenance besides for the wheel.
    let [publish, slsa] = attest::SUPPORTED_PREDICATE_TYPES;
    let mut expected = std::collections::HashMap::new();
    for file in &files {
        let mut objects = vec![attest_file(&dist, file, "publish", publish)];
        if file.ends_with(".whl") {
            objects.push(attest_file(&dist, file, "slsa", slsa));
        }
        expected.insert(file.clone(), serde_json::Value::Array(objects));
    }

    let run = f.github(&["release", TAG], true);
    run.assert_ok();
    let uploads: Vec<_> = proxy
        .log()
        .into_iter()
        .filter(|entry| entry.method == "POST" && entry.upstream_status == Some(200))
        .collect();
    assert_eq!(uploads.len(), 2, "{}", proxy.log_text());
    let mut order = Vec::new();
    for upload in &uploads {
        let fields = form_fields(&upload.body);
        let file = fields
            .iter()
            .find_map(|(name, filename, _)| (name == "content").then(|| filename.clone()))
            .flatten()
            .expect("a content part with a file name");
        let sent: Vec<&Vec<u8>> = fields
            .iter()
            .filter(|(name, _, _)| name == "attestations")
            .map(|(_, _, value)| value)
            .collect();
        assert_eq!(sent.len(), 1, "one attestations field for {file}");
        let sent: serde_json::Value = serde_json::from_slice(sent[0]).unwrap();
        assert_eq!(sent, expected[&file], "{file}");
        order.push(file);
    }
    assert!(
        order[0].ends_with(".whl"),
        "the wheel goes first: {order:?}"
    );
    f.assert_no_secret_in(&run, Some(&minted));
}

#[test]
fn attestations_with_an_api_token_are_refused_before_any_upload() {
    let server = PypiServer::start();
    let project = Project::publishing_to("testindex", &server.url);
    project.tag(TAG);
    project.run(&["release", "--dry-run", TAG]).assert_ok();
    let (dist, files) = built_files(&project);
    let wheel = files.iter().find(|f| f.ends_with(".whl")).unwrap();
    attest_file(
        &dist,
        wheel,
        "publish",
        attest::SUPPORTED_PREDICATE_TYPES[0],
    );

    let run = project.run_with_token(&["release", TAG], "PYPI_API_TOKEN", &server.token);
    run.assert_fails(
        1,
        &format!(
            "{wheel} has PEP 740 attestations ({}), and testindex takes attestations only with a trusted-publishing token, but the credential here is environment variable PYPI_API_TOKEN. Nothing was uploaded",
            dist.join(format!("{wheel}.publish.attestation")).display()
        ),
    );
    assert_eq!(server.uploads(), 0);

    // An attestation of other bytes (the file built again since) is named.
    let sdist = files.iter().find(|f| f.ends_with(".tar.gz")).unwrap();
    std::fs::write(
        dist.join(format!("{sdist}.publish.attestation")),
        attest::sample(sdist, &"0".repeat(64), attest::SUPPORTED_PREDICATE_TYPES[0]),
    )
    .unwrap();
    let run = project.run_with_token(&["release", TAG], "PYPI_API_TOKEN", &server.token);
    run.assert_fails(
        1,
        &format!(
            "attests other bytes than {sdist} (sha256 {})",
            "0".repeat(64)
        ),
    );
    assert_eq!(server.uploads(), 0);
}
