//! Repositories against real indexes: a pypiserver and the local directory
//! index (read back by pip).

use crate::common;

use std::fs;
use std::path::Path;
use std::process::Command;

use blake2::Digest;
use secrecy::SecretString;
use tagpub::dist::hash::sha256_file;
use tagpub::dist::{Artifact, ArtifactKind, Metadata};
use tagpub::report::Silent;
use tagpub::repository::{
    FileStatus, IndexedFile, Repository, RepositoryError, UploadOutcome, UploadRequest,
    simple_url_for_upload,
};
use tagpub::retry::Backoff;
use url::Url;

use crate::common::PypiServer;

/// An artifact around `bytes`, metadata filled by hand (no `check::inspect`).
fn artifact(dir: &Path, filename: &str, bytes: &[u8], name: &str, version: &str) -> Artifact {
    let path = dir.join(filename);
    fs::write(&path, bytes).unwrap();
    let kind = if filename.ends_with(".whl") {
        ArtifactKind::Wheel
    } else {
        ArtifactKind::Sdist
    };
    let fields = [
        ("Metadata-Version", "2.1"),
        ("Name", name),
        ("Version", version),
        ("Summary", "A demo package"),
        ("Classifier", "Programming Language :: Python :: 3"),
        ("Classifier", "License :: OSI Approved :: MIT License"),
    ];
    Artifact {
        sha256: sha256_file(&path).unwrap(),
        blake2_256: hex::encode(blake2::Blake2b::<blake2::digest::consts::U32>::digest(
            bytes,
        )),
        path,
        filename: filename.to_owned(),
        kind,
        metadata: Metadata {
            fields: fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            body: Some("# Demo\n\nLong description.\n".to_owned()),
        },
        pyversion: match kind {
            ArtifactKind::Wheel => "py3".to_owned(),
            ArtifactKind::Sdist => "source".to_owned(),
        },
    }
}

/// Retries as the product does them, with waits short enough for tests.
const FAST_RETRIES: Backoff = Backoff {
    retries: 2,
    base: std::time::Duration::from_millis(20),
};

fn remote(server: &PypiServer) -> Repository {
    let upload_url = Url::parse(&server.url).unwrap();
    Repository::Remote {
        name: "testpypiserver".to_owned(),
        simple_url: simple_url_for_upload(&upload_url),
        upload_url,
        backoff: FAST_RETRIES,
        username: "__token__".to_owned(),
    }
}

fn token(server: &PypiServer) -> SecretString {
    SecretString::from(server.token.clone())
}

#[test]
fn remote_upload_is_listed_with_its_sha256() {
    let server = PypiServer::start();
    let repo = remote(&server);
    assert_eq!(repo.simple_url().as_str(), server.simple_url);
    assert!(repo.needs_token());
    let tmp = tempfile::tempdir().unwrap();
    let sdist = artifact(
        tmp.path(),
        "demo_pkg-1.0.0.tar.gz",
        b"sdist bytes",
        "demo-pkg",
        "1.0.0",
    );

    assert_eq!(repo.list_files("demo-pkg").unwrap(), vec![]);
    let outcome = repo
        .upload(&UploadRequest::new(&sdist, Some(&token(&server)), &Silent))
        .unwrap();
    assert_eq!(outcome, UploadOutcome::Uploaded, "{}", server.logs());
    assert_eq!(
        fs::read(server.packages_dir.join("demo_pkg-1.0.0.tar.gz")).unwrap(),
        b"sdist bytes"
    );
    // Any spelling of the name finds it; pypiserver answers in HTML.
    for spelling in ["demo-pkg", "Demo_Pkg", "demo.pkg"] {
        assert_eq!(
            names_and_hashes(repo.list_files(spelling).unwrap()),
            [(
                "demo_pkg-1.0.0.tar.gz".to_owned(),
                Some(sdist.sha256.clone())
            )],
            "{spelling}"
        );
    }
}

fn names_and_hashes(listed: Vec<IndexedFile>) -> Vec<(String, Option<String>)> {
    listed.into_iter().map(|f| (f.filename, f.sha256)).collect()
}

#[test]
fn remote_reupload_same_bytes_is_already_present_and_other_bytes_conflict() {
    let server = PypiServer::start();
    let repo = remote(&server);
    let tmp = tempfile::tempdir().unwrap();
    let wheel = artifact(
        tmp.path(),
        "demo_pkg-1.0.0-py3-none-any.whl",
        b"wheel bytes",
        "demo-pkg",
        "1.0.0",
    );
    let token = token(&server);
    assert_eq!(
        repo.upload(&UploadRequest::new(&wheel, Some(&token), &Silent))
            .unwrap(),
        UploadOutcome::Uploaded
    );
    assert_eq!(
        repo.upload(&UploadRequest::new(&wheel, Some(&token), &Silent))
            .unwrap(),
        UploadOutcome::AlreadyPresent
    );

    let other_dir = tempfile::tempdir().unwrap();
    let changed = artifact(
        other_dir.path(),
        "demo_pkg-1.0.0-py3-none-any.whl",
        b"other wheel bytes",
        "demo-pkg",
        "1.0.0",
    );
    let err = repo
        .upload(&UploadRequest::new(&changed, Some(&token), &Silent))
        .unwrap_err();
    assert!(matches!(err, RepositoryError::Conflict { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("a version can be published only once"),
        "{message}"
    );
    assert!(message.contains("bump the version"), "{message}");
    // The first upload is untouched.
    assert_eq!(
        fs::read(server.packages_dir.join("demo_pkg-1.0.0-py3-none-any.whl")).unwrap(),
        b"wheel bytes"
    );
}

#[test]
fn remote_wrong_token_is_an_auth_error_without_the_token() {
    let server = PypiServer::start();
    let repo = remote(&server);
    let tmp = tempfile::tempdir().unwrap();
    let sdist = artifact(
        tmp.path(),
        "demo_pkg-1.0.0.tar.gz",
        b"sdist",
        "demo-pkg",
        "1.0.0",
    );
    let wrong = "pypi-wrong-token-0123456789";

    let err = repo
        .upload(&UploadRequest::new(
            &sdist,
            Some(&SecretString::from(wrong)),
            &Silent,
        ))
        .unwrap_err();
    assert!(matches!(err, RepositoryError::Auth { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("testpypiserver"), "{message}");
    assert!(message.contains(&server.url), "{message}");
    assert!(!message.contains(wrong), "{message}");
    assert!(!format!("{err:?}").contains(wrong));
    assert!(!message.contains(&server.token), "{message}");

    let err = repo
        .upload(&UploadRequest::new(&sdist, None, &Silent))
        .unwrap_err();
    assert!(
        matches!(err, RepositoryError::TokenRequired { .. }),
        "{err:?}"
    );
    assert!(!server.packages_dir.join("demo_pkg-1.0.0.tar.gz").exists());
}

#[test]
fn remote_unreachable_port_is_unreachable() {
    let (port, _held) = common::closed_port();
    let upload_url = Url::parse(&format!("http://user:hunter2@127.0.0.1:{port}/")).unwrap();
    let repo = Repository::Remote {
        name: "nowhere".to_owned(),
        simple_url: simple_url_for_upload(&upload_url),
        upload_url,
        backoff: FAST_RETRIES,
        username: "__token__".to_owned(),
    };
    let tmp = tempfile::tempdir().unwrap();
    let sdist = artifact(
        tmp.path(),
        "demo_pkg-1.0.0.tar.gz",
        b"sdist",
        "demo-pkg",
        "1.0.0",
    );

    let err = repo
        .upload(&UploadRequest::new(
            &sdist,
            Some(&SecretString::from("pypi-x")),
            &Silent,
        ))
        .unwrap_err();
    // Retried, then given up with the cause.
    let RepositoryError::GaveUp { attempts, source } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*attempts, 3);
    assert!(
        matches!(**source, RepositoryError::Unreachable { .. }),
        "{err:?}"
    );
    // The whole printed chain: "gave up", then the cause under it.
    let message = tagpub::exit::chain_text(&err);
    assert!(message.contains("gave up after 3 attempts"), "{message}");
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    assert!(message.contains("check the URL"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");

    let err = repo.list_files("demo-pkg").unwrap_err();
    assert!(
        matches!(&err, RepositoryError::GaveUp { attempts: 3, source } if matches!(**source, RepositoryError::Unreachable { .. })),
        "{err:?}"
    );
    let message = tagpub::exit::chain_text(&err);
    assert!(!message.contains("hunter2"), "{message}");
}

#[test]
fn remote_rejection_shows_status_and_a_clean_excerpt() {
    let server = PypiServer::start();
    let repo = remote(&server);
    let tmp = tempfile::tempdir().unwrap();
    // pypiserver refuses names that are not distribution files.
    let bad = artifact(tmp.path(), "demo_pkg-1.0.0.txt", b"x", "demo-pkg", "1.0.0");
    let err = repo
        .upload(&UploadRequest::new(&bad, Some(&token(&server)), &Silent))
        .unwrap_err();
    let RepositoryError::Rejected {
        status, message, ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(*status, 400);
    assert!(message.contains("Bad filename"), "{message}");
    assert!(!message.contains('<'), "{message}");
    assert!(message.len() < 400, "{message}");
}

fn local(root: &Path) -> Repository {
    Repository::Local {
        name: "local".to_owned(),
        root: root.to_owned(),
    }
}

#[test]
fn local_upload_list_already_present_and_conflict() {
    let root = tempfile::tempdir().unwrap();
    let repo = local(root.path());
    assert!(!repo.needs_token());
    assert_eq!(
        repo.simple_url(),
        Url::from_directory_path(root.path().join("simple")).unwrap()
    );
    let tmp = tempfile::tempdir().unwrap();
    let sdist = artifact(
        tmp.path(),
        "demo_pkg-1.0.0.tar.gz",
        b"sdist bytes",
        "Demo.Pkg",
        "1.0.0",
    );
    let wheel = artifact(
        tmp.path(),
        "demo_pkg-1.0.0-py3-none-any.whl",
        &common::wheel_bytes("demo_pkg", "1.0.0", ""),
        "Demo.Pkg",
        "1.0.0",
    );

    assert_eq!(repo.list_files("demo-pkg").unwrap(), vec![]);
    assert_eq!(
        repo.upload(&UploadRequest::new(&sdist, None, &Silent))
            .unwrap(),
        UploadOutcome::Uploaded
    );
    assert_eq!(
        repo.upload(&UploadRequest::new(&wheel, None, &Silent))
            .unwrap(),
        UploadOutcome::Uploaded
    );
    let mut listed = repo.list_files("DEMO_pkg").unwrap();
    listed.sort_by(|a, b| a.filename.cmp(&b.filename));
    assert_eq!(
        names_and_hashes(listed),
        [
            (wheel.filename.clone(), Some(wheel.sha256.clone())),
            (sdist.filename.clone(), Some(sdist.sha256.clone())),
        ]
    );
    let project_dir = root.path().join("simple/demo-pkg");
    assert_eq!(
        fs::read(project_dir.join(&sdist.filename)).unwrap(),
        b"sdist bytes"
    );
    let root_index = fs::read_to_string(root.path().join("simple/index.html")).unwrap();
    assert!(
        root_index.contains(r#"<a href="demo-pkg/">demo-pkg</a>"#),
        "{root_index}"
    );
    // No temp files left behind.
    let stray: Vec<_> = fs::read_dir(&project_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");

    assert_eq!(
        repo.upload(&UploadRequest::new(&sdist, None, &Silent))
            .unwrap(),
        UploadOutcome::AlreadyPresent
    );

    let other_dir = tempfile::tempdir().unwrap();
    let changed = artifact(
        other_dir.path(),
        "demo_pkg-1.0.0.tar.gz",
        b"changed bytes",
        "demo-pkg",
        "1.0.0",
    );
    let err = repo
        .upload(&UploadRequest::new(&changed, None, &Silent))
        .unwrap_err();
    assert!(matches!(err, RepositoryError::Conflict { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("a version can be published only once"),
        "{err}"
    );
    assert_eq!(
        fs::read(project_dir.join(&sdist.filename)).unwrap(),
        b"sdist bytes"
    );
}

#[test]
fn local_index_is_readable_by_pip() {
    let root = tempfile::tempdir().unwrap();
    let repo = local(root.path());
    let tmp = tempfile::tempdir().unwrap();
    let wheel = artifact(
        tmp.path(),
        "demo_pkg-1.0.0-py3-none-any.whl",
        &common::wheel_bytes("demo_pkg", "1.0.0", ""),
        "demo-pkg",
        "1.0.0",
    );
    assert_eq!(
        repo.upload(&UploadRequest::new(&wheel, None, &Silent))
            .unwrap(),
        UploadOutcome::Uploaded
    );

    let dest = tempfile::tempdir().unwrap();
    let output = Command::new(common::venv_bin("pip"))
        .args(["download", "--no-deps", "--no-cache-dir", "--index-url"])
        .arg(repo.simple_url().as_str())
        .args(["demo-pkg==1.0.0", "-d"])
        .arg(dest.path())
        .env("PIP_CONFIG_FILE", "/dev/null")
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "pip download failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let downloaded = dest.path().join(&wheel.filename);
    assert_eq!(sha256_file(&downloaded).unwrap(), wheel.sha256);
}

/// An index that lists its one file without any hash, and serves it.
fn hashless_index(filename: &'static str, bytes: Vec<u8>) -> (String, std::thread::JoinHandle<()>) {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let base = format!("http://{}/", server.server_addr().to_ip().unwrap());
    let handle = std::thread::spawn(move || {
        // Two requests per status question at most: the page, then the file.
        for request in server.incoming_requests().take(4) {
            let response = if request.url().starts_with("/simple/") {
                tiny_http::Response::from_data(format!(
                    "<html><body><a href=\"/files/{filename}\">{filename}</a></body></html>"
                ))
            } else if request.url() == format!("/files/{filename}") {
                tiny_http::Response::from_data(bytes.clone())
            } else {
                tiny_http::Response::from_data(Vec::new()).with_status_code(404)
            };
            let _ = request.respond(response);
        }
    });
    (base, handle)
}

#[test]
fn a_file_listed_without_a_hash_is_fetched_and_hashed_never_taken_on_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let ours = artifact(
        dir.path(),
        "demo_pkg-1.0.0.tar.gz",
        b"our bytes",
        "demo-pkg",
        "1.0.0",
    );
    for (served, expected_present) in [
        (b"our bytes".to_vec(), true),
        (b"other bytes".to_vec(), false),
    ] {
        let (base, server) = hashless_index("demo_pkg-1.0.0.tar.gz", served);
        let upload_url = Url::parse(&base).unwrap();
        let repo = Repository::Remote {
            name: "hashless".to_owned(),
            simple_url: simple_url_for_upload(&upload_url),
            upload_url,
            backoff: FAST_RETRIES,
            username: "__token__".to_owned(),
        };
        let listed = repo.list_files("demo-pkg").unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].sha256, None, "the index gives no hash");
        let status = repo
            .file_status(&ours.filename, &ours.sha256, &listed)
            .unwrap();
        if expected_present {
            assert_eq!(status, FileStatus::Present);
        } else {
            assert!(
                matches!(status, FileStatus::Conflict { ref index_sha256 } if *index_sha256 != ours.sha256),
                "{status:?}"
            );
        }
        drop(repo);
        drop(server);
    }
}
