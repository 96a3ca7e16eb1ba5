//! PyPI's 14-day window (warehouse #19727): a release whose first file is
//! older than the window takes no new file, so tagpub refuses to finish or
//! extend it before uploading anything. The index is a real pypiserver; only
//! its listing comes from a small local server that reports an upload time
//! (PEP 700 `upload-time`), which pypiserver does not.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::PypiServer;
use common::project::{Project, files_in};

/// A PEP 691 listing served from the file `page` (read at each request) on
/// 127.0.0.1; killed on drop.
struct Listing {
    url: String,
    port: u16,
    page: std::path::PathBuf,
    child: Child,
}

impl Listing {
    fn start(page: std::path::PathBuf) -> Listing {
        let port = common::free_port();
        let script = r#"
import http.server, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        page = open(sys.argv[2], "rb").read()
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.pypi.simple.v1+json")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"#;
        let child = Command::new(common::venv_bin("python"))
            .args(["-c", script, &port.to_string()])
            .arg(&page)
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
            page,
            child,
        }
    }

    /// From now on the index lists one file, stored at `upload_time`.
    fn lists(&self, project: &str, filename: &str, sha256: &str, upload_time: &str) {
        let page = serde_json::json!({
            "meta": {"api-version": "1.1"},
            "name": project,
            "files": [{
                "filename": filename,
                "url": format!("http://127.0.0.1:{}/files/{filename}", self.port),
                "hashes": {"sha256": sha256},
                "upload-time": upload_time,
            }],
        });
        std::fs::write(&self.page, page.to_string()).unwrap();
    }
}

impl Drop for Listing {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_release_whose_first_file_is_older_than_the_window_gets_no_new_file() {
    let server = PypiServer::start();
    let project = Project::sample(&[]);
    let listing = Listing::start(project.temp.path().join("page.json"));
    project.configure(
        "windowed",
        &format!(
            "\n[repository.windowed]\nurl = \"{}\"\nsimple-url = \"{}\"\nfile-window = \"14days\"\n",
            server.url, listing.url
        ),
    );
    project.tag("hf-local-v1.0.0");
    // The release's files as tagpub builds them (reused below).
    project
        .run(&["release", "--dry-run", "hf-local-v1.0.0"])
        .assert_ok();
    let dist = find_file(&project.state.join("data/releases"), ".tar.gz")
        .expect("the dry run built an sdist");
    let sha256 = tagpub::repository::sha256_file(&dist).unwrap();
    let filename = dist.file_name().unwrap().to_string_lossy().into_owned();

    // The index has had the sdist since 2026-01-01; the wheel is missing.
    listing.lists(
        "open-ticket-ai-hf-local",
        &filename,
        &sha256,
        "2026-01-01T00:00:00.000000Z",
    );
    let run = project.run_with_token(
        &["release", "hf-local-v1.0.0"],
        "PYPI_API_TOKEN",
        &server.token,
    );
    run.assert_fails(
        1,
        "windowed takes no more files for open-ticket-ai-hf-local 1.0.0: its first file was uploaded 2026-01-01T00:00:00Z, more than 14 days ago",
    );
    assert!(
        run.stderr
            .contains("open_ticket_ai_hf_local-1.0.0-py3-none-any.whl cannot join this release"),
        "{}",
        run.stderr
    );
    assert_eq!(server.uploads(), 0);
    assert!(files_in(&server.packages_dir).is_empty());
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
