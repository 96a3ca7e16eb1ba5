//! What the index already has of a release, as `plan` and `release` see it:
//! PyPI's 14-day window (warehouse #19727: a release whose first file is
//! older than the window takes no new file) and PEP 740 provenance (files
//! uploaded without attestations after an attested release "lose" it). The
//! index is a real pypiserver; only its listing comes from a small local
//! server that adds what pypiserver does not report: upload times (PEP 700
//! `upload-time`) and `provenance` links.

use crate::common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::PypiServer;
use crate::common::project::{Project, Run, files_in};

const TAG: &str = "hf-local-v1.0.0";
const PROJECT: &str = "open-ticket-ai-hf-local";
const WHEEL: &str = "open_ticket_ai_hf_local-1.0.0-py3-none-any.whl";

/// A PEP 691 listing on 127.0.0.1 of what pypiserver stores in
/// `packages_dir` plus the files of the JSON array in `extra` (read at each
/// request); killed on drop.
struct Listing {
    url: String,
    port: u16,
    extra: std::path::PathBuf,
    child: Child,
}

impl Listing {
    fn start(server: &PypiServer, extra: std::path::PathBuf) -> Listing {
        std::fs::write(&extra, "[]").unwrap();
        let port = common::free_port();
        let script = r#"
import hashlib, http.server, json, os, sys, time
port, extra, packages, files_url = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        files = json.load(open(extra))
        for name in sorted(os.listdir(packages)):
            data = open(os.path.join(packages, name), "rb").read()
            mtime = os.path.getmtime(os.path.join(packages, name))
            files.append({"filename": name, "url": files_url + name,
                          "hashes": {"sha256": hashlib.sha256(data).hexdigest()},
                          "upload-time": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(mtime))})
        page = json.dumps({"meta": {"api-version": "1.1"}, "name": "x", "files": files}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.pypi.simple.v1+json")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
"#;
        let child = Command::new(common::venv_bin("python"))
            .args(["-c", script, &port.to_string()])
            .arg(&extra)
            .arg(&server.packages_dir)
            .arg(format!("{}packages/", server.url))
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the listing did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Listing {
            url: format!("http://127.0.0.1:{port}/simple/"),
            port,
            extra,
            child,
        }
    }

    /// From now on the index also lists these files: (name, sha256, upload
    /// time, attested).
    fn lists(&self, files: &[(&str, &str, &str, bool)]) {
        let files: Vec<serde_json::Value> = files
            .iter()
            .map(|(filename, sha256, upload_time, attested)| {
                serde_json::json!({
                    "filename": filename,
                    "url": format!("http://127.0.0.1:{}/files/{filename}", self.port),
                    "hashes": {"sha256": sha256},
                    "upload-time": upload_time,
                    "provenance": attested.then(|| format!(
                        "http://127.0.0.1:{}/integrity/{PROJECT}/{filename}/provenance",
                        self.port
                    )),
                })
            })
            .collect();
        std::fs::write(&self.extra, serde_json::Value::Array(files).to_string()).unwrap();
    }
}

impl Drop for Listing {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The sample monorepo releasing to pypiserver as `windowed` (a 14-day
/// window), listed by a `Listing`, with `TAG` built by a dry run; the built
/// sdist's name and sha256.
/// `defaults`: lines for `[defaults]`.
fn fixture(server: &PypiServer, defaults: &str) -> (Project, Listing, String, String) {
    let project = Project::sample(&[]);
    let listing = Listing::start(server, project.temp.path().join("extra.json"));
    project.configure(
        "windowed",
        &format!(
            "\n[repository.windowed]\nurl = \"{}\"\nsimple-url = \"{}\"\nfile-window = \"14days\"\n",
            server.url, listing.url
        ),
    );
    if !defaults.is_empty() {
        project.add_defaults(defaults, "defaults");
    }
    project.tag(TAG);
    // The release's files as tagpub builds them (reused by the release).
    project.run(&["release", "--dry-run", TAG]).assert_ok();
    let dist = find_file(&project.state.join("data/releases"), ".tar.gz")
        .expect("the dry run built an sdist");
    let sha256 = tagpub::dist::hash::sha256_file(&dist).unwrap();
    let filename = dist.file_name().unwrap().to_string_lossy().into_owned();
    (project, listing, filename, sha256)
}

/// `tagpub ARGS` asking the index (tests are otherwise offline).
fn online(project: &Project, args: &[&str], token: Option<&str>) -> Run {
    let mut command = project.command(args);
    command.env_remove("TAGPUB_OFFLINE");
    if let Some(token) = token {
        command.env("PYPI_API_TOKEN", token);
    }
    Run::from_output(command.output().expect("tagpub runs"))
}

fn days_ago(days: u64) -> String {
    humantime::format_rfc3339_micros(
        std::time::SystemTime::now() - Duration::from_secs(days * 86_400),
    )
    .to_string()
}

#[test]
fn a_release_whose_first_file_is_older_than_the_window_gets_no_new_file() {
    let server = PypiServer::start();
    let (project, listing, sdist, sha256) = fixture(&server, "");
    // The index has had the sdist since 2026-01-01; the wheel is missing.
    listing.lists(&[(&sdist, &sha256, "2026-01-01T00:00:00.000000Z", false)]);

    // The plan knows the missing wheel (this tag was built here) and that
    // it can no longer be added.
    let plan = online(&project, &["plan", TAG], None);
    plan.assert_fails(1, "");
    assert!(
        plan.stderr.contains(&format!(
            "windowed has {sdist} of {PROJECT} 1.0.0 since 2026-01-01T00:00:00Z (not yet: {WHEEL}); the index stopped taking new files on 2026-01-15T00:00:00Z, 14 days after the first one: a file still missing can only be published in a new version"
        )),
        "{}",
        plan.stderr
    );

    let run = online(&project, &["release", TAG], Some(&server.token));
    run.assert_fails(
        1,
        "windowed takes no more files for open-ticket-ai-hf-local 1.0.0: its first file was uploaded 2026-01-01T00:00:00Z, more than 14 days ago",
    );
    assert!(
        run.stderr
            .contains(&format!("{WHEEL} cannot join this release")),
        "{}",
        run.stderr
    );
    assert_eq!(server.uploads(), 0);
    assert!(files_in(&server.packages_dir).is_empty());
}

#[test]
fn plan_shows_the_deadline_of_a_half_published_release() {
    let server = PypiServer::start();
    let (project, listing, sdist, sha256) = fixture(&server, "");
    let plan = online(&project, &["plan", TAG], Some(&server.token));
    plan.assert_ok();
    assert!(
        plan.stderr
            .contains(&format!("windowed has no file of {PROJECT} 1.0.0 yet")),
        "{}",
        plan.stderr
    );

    listing.lists(&[(&sdist, &sha256, &days_ago(2), false)]);
    let plan = online(&project, &["plan", TAG, "--json"], Some(&server.token));
    plan.assert_ok();
    let json: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    let index = json["plan"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "index")
        .expect("an index check");
    assert_eq!(index["status"], "warn");
    let message = index["message"].as_str().unwrap();
    for part in [
        format!("windowed has {sdist} of {PROJECT} 1.0.0 since "),
        format!("(not yet: {WHEEL}); new files accepted until "),
        "(12 days left). Run `tagpub release hf-local-v1.0.0` before then".to_string(),
    ] {
        assert!(message.contains(&part), "{part}\n{message}");
    }

    // Offline, the plan asks nothing.
    let offline = online(&project, &["plan", TAG, "--offline"], None);
    assert!(
        !offline.stderr.contains("windowed has"),
        "{}",
        offline.stderr
    );
}

#[test]
fn plan_refuses_a_version_the_index_has_with_other_bytes() {
    let server = PypiServer::start();
    let (project, listing, _, _) = fixture(&server, "");
    listing.lists(&[(WHEEL, &"0".repeat(64), &days_ago(1), false)]);
    let plan = online(&project, &["plan", TAG], Some(&server.token));
    plan.assert_fails(1, &format!(
        "✗ index: windowed has {WHEEL} of {PROJECT} 1.0.0 with other bytes than the files built here: a version is published only once. Bump the version and tag it"
    ));
}

#[test]
fn a_token_upload_after_an_attested_release_asks_for_allow_unattested() {
    let server = PypiServer::start();
    let (project, listing, _, _) = fixture(&server, "");
    // 0.9.0 was published with attestations (trusted publishing from CI).
    listing.lists(&[
        (
            "open_ticket_ai_hf_local-0.9.0-py3-none-any.whl",
            "00",
            &days_ago(30),
            true,
        ),
        (
            "open_ticket_ai_hf_local-0.9.0.tar.gz",
            "11",
            &days_ago(30),
            true,
        ),
    ]);
    let plan = online(&project, &["plan", TAG], Some(&server.token));
    plan.assert_ok();
    assert!(
        plan.stderr.contains(&format!(
            "{PROJECT} 0.9.0 on windowed carries PEP 740 attestations (2 of 2 files); uploading 1.0.0 with a token sends none, so windowed would show its provenance as lost"
        )),
        "{}",
        plan.stderr
    );

    let refused = online(&project, &["release", TAG], Some(&server.token));
    refused.assert_fails(
        1,
        &format!("{PROJECT} 0.9.0 on windowed was published with PEP 740 attestations (2 of its 2 files), and {WHEEL}, open_ticket_ai_hf_local-1.0.0.tar.gz have none: windowed would show {PROJECT} 1.0.0 as having lost provenance. Nothing was uploaded"),
    );
    assert!(
        refused.stderr.contains("--allow-unattested"),
        "{}",
        refused.stderr
    );
    assert_eq!(server.uploads(), 0);

    let allowed = online(
        &project,
        &["release", TAG, "--allow-unattested"],
        Some(&server.token),
    );
    allowed.assert_ok();
    assert!(
        allowed.stderr.contains(
            "without attestations after open-ticket-ai-hf-local 0.9.0 had them (allow-unattested)"
        ),
        "{}",
        allowed.stderr
    );
    assert_eq!(files_in(&server.packages_dir).len(), 2);
}

#[test]
fn allow_unattested_in_the_config_silences_plan_and_release() {
    let server = PypiServer::start();
    let (project, listing, _, _) = fixture(&server, "allow-unattested = true\n");
    listing.lists(&[(
        "open_ticket_ai_hf_local-0.9.0.tar.gz",
        "11",
        &days_ago(30),
        true,
    )]);
    let plan = online(&project, &["plan", TAG], Some(&server.token));
    plan.assert_ok();
    assert!(!plan.stderr.contains("provenance"), "{}", plan.stderr);
    online(&project, &["release", TAG], Some(&server.token)).assert_ok();
    assert_eq!(files_in(&server.packages_dir).len(), 2);
}

#[test]
fn doctor_names_a_half_published_release_and_the_provenance_route() {
    let server = PypiServer::start();
    let (project, listing, sdist, _) = fixture(&server, "");
    listing.lists(&[(
        "open_ticket_ai_hf_local-0.9.0.tar.gz",
        "11",
        &days_ago(30),
        true,
    )]);
    let doctor = || {
        let run = project.run_with_token(&["doctor", "--json"], "PYPI_API_TOKEN", &server.token);
        let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let package = report["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == PROJECT)
            .unwrap()
            .clone();
        move |name: &str| {
            package["checks"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["name"] == name)
                .cloned()
        }
    };

    // The latest release is attested; uploads from here go by token.
    let provenance = doctor()("provenance").expect("a provenance check");
    assert_eq!(provenance["status"], "warn");
    assert!(
        provenance["message"].as_str().unwrap().starts_with(&format!(
            "{PROJECT} 0.9.0 on windowed carries PEP 740 attestations (1 of 1 files). A release from here uploads with a token"
        )),
        "{provenance}"
    );
    assert!(
        provenance["fix"]
            .as_str()
            .unwrap()
            .contains("through trusted publishing from CI"),
        "{provenance}"
    );

    // The release dies right after its first file (the wheel) is stored.
    let mut command = project.command(&["release", TAG, "--allow-unattested"]);
    command
        .env_remove("TAGPUB_OFFLINE")
        .env("PYPI_API_TOKEN", &server.token)
        .env("TAGPUB_FAULT", "uploaded-1");
    let killed = command.output().unwrap();
    assert!(!killed.status.success());
    assert_eq!(files_in(&server.packages_dir), vec![WHEEL.to_string()]);

    let check = doctor();
    let half = check("half-published").expect("a half-published check");
    assert_eq!(half["status"], "warn");
    let message = half["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!(
            "{PROJECT} 1.0.0 ({TAG}) is half-published on windowed: not yet {sdist}; new files accepted until "
        )) && message.ends_with("(14 days left)"),
        "{message}"
    );
    assert_eq!(half["fix"], format!("tagpub release {TAG}"));
    // 1.0.0 went up without attestations: the provenance is gone already.
    assert_eq!(check("provenance"), None);
}

fn find_file(dir: &std::path::Path, suffix: &str) -> Option<std::path::PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = find_file(&path, suffix) {
                return Some(found);
            }
        } else if path.to_string_lossy().ends_with(suffix) {
            return Some(path);
        }
    }
    None
}
