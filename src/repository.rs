//! Repository kinds: the legacy upload API (PyPI, TestPyPI, pypiserver,
//! devpi, …) and the built-in `local` PEP 503 directory index.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::blocking::{Response, multipart};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use url::Url;

use crate::credentials;
use crate::fsutil;
use crate::http;
use crate::pipeline::check::{Artifact, ArtifactKind};
use crate::pipeline::{Progress, Reporter};
use crate::retry::{self, Backoff};
use crate::version::{is_valid_project_name, normalize_name};

/// For the plain connect probe that tells "refused" from other failures.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// PEP 691 JSON first, HTML as fallback for indexes that only speak PEP 503.
const SIMPLE_ACCEPT: &str = "application/vnd.pypi.simple.v1+json, text/html;q=0.1";
const BODY_EXCERPT_CHARS: usize = 300;

#[derive(Debug, thiserror::Error)]
pub enum RepositoryError {
    #[error(
        "{repo} refused the token (HTTP {status}) for {url}: check that the token was issued \
         for this index and allows uploading this project, or point token-env at the right \
         variable"
    )]
    Auth {
        repo: String,
        url: String,
        status: u16,
    },
    #[error(
        "{repo} requires a token to upload (HTTP {status} from {url}): set the repository's \
         token-env variable"
    )]
    TokenRequired {
        repo: String,
        url: String,
        status: u16,
    },
    #[error(
        "{filename} is already on {repo} with different contents ({detail}): a version can be \
         published only once; bump the version in pyproject.toml and create a new tag"
    )]
    Conflict {
        repo: String,
        filename: String,
        detail: String,
    },
    #[error("{repo} rejected {filename} (HTTP {status}): {message}")]
    Rejected {
        repo: String,
        filename: String,
        status: u16,
        message: String,
    },
    /// 5xx, 429 and unexpected statuses; 5xx and 429 are retried.
    #[error("{repo} answered HTTP {status} for {url}: {message}")]
    Server {
        repo: String,
        url: String,
        status: u16,
        message: String,
        /// The server's `Retry-After`.
        retry_after: Option<Duration>,
    },
    #[error("cannot reach {repo} at {url}: {reason}; check the URL and that the server is running")]
    Unreachable {
        repo: String,
        url: String,
        reason: String,
    },
    #[error(
        "{repo} at {url} presented a certificate tagpub does not trust ({reason}). If the index uses a private certificate authority, point SSL_CERT_FILE (or REQUESTS_CA_BUNDLE) at its PEM bundle"
    )]
    Tls {
        repo: String,
        url: String,
        reason: String,
    },
    #[error("talking to {repo} at {url} failed: {reason}")]
    Network {
        repo: String,
        url: String,
        reason: String,
    },
    #[error("{repo}: cannot read the index page {url}: {reason}")]
    BadIndex {
        repo: String,
        url: String,
        reason: String,
    },
    #[error("cannot publish {filename}: {reason}")]
    InvalidArtifact { filename: String, reason: String },
    #[error("{source} (gave up after {attempts} attempts)")]
    GaveUp {
        attempts: u32,
        #[source]
        source: Box<RepositoryError>,
    },
    #[error(transparent)]
    Setup(#[from] crate::http::HttpSetupError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

impl RepositoryError {
    /// `Some(retry_after)` when the failure may pass if the request is
    /// sent again: no connection, a timeout or reset, HTTP 5xx or 429.
    pub fn retry_hint(&self) -> Option<Option<Duration>> {
        match self {
            RepositoryError::Unreachable { .. } | RepositoryError::Network { .. } => Some(None),
            RepositoryError::Server {
                status,
                retry_after,
                ..
            } if *status >= 500 || *status == 429 => Some(*retry_after),
            _ => None,
        }
    }
}

/// Runs `attempt` until it succeeds, fails for good, or the retries of
/// `backoff` are spent. Before each retry, `before_retry` may settle the
/// matter (the upload looks whether the index got the file after all).
fn with_retries<T>(
    what: &str,
    backoff: Backoff,
    warn: &dyn Fn(&str),
    mut attempt: impl FnMut() -> Result<T, RepositoryError>,
    mut before_retry: impl FnMut() -> Option<Result<T, RepositoryError>>,
) -> Result<T, RepositoryError> {
    let mut retry = 0;
    loop {
        let err = match attempt() {
            Ok(value) => return Ok(value),
            Err(err) => err,
        };
        let Some(retry_after) = err.retry_hint() else {
            return Err(err);
        };
        if retry_after.is_some_and(|wait| wait > retry::MAX_RETRY_AFTER) || retry >= backoff.retries
        {
            return Err(if retry == 0 {
                err
            } else {
                RepositoryError::GaveUp {
                    attempts: retry + 1,
                    source: Box::new(err),
                }
            });
        }
        retry += 1;
        let wait = backoff.delay(retry, retry_after);
        warn(&format!(
            "{what}: {err}; retrying in {:.1} s ({retry} of {})",
            wait.as_secs_f64(),
            backoff.retries
        ));
        std::thread::sleep(wait);
        if let Some(settled) = before_retry() {
            return settled;
        }
    }
}

/// Where a release goes.
#[derive(Debug, Clone)]
pub enum Repository {
    /// A PEP 503 directory index on disk (the built-in `local`).
    Local { name: String, root: PathBuf },
    /// An index with the legacy upload API and a simple index.
    Remote {
        name: String,
        upload_url: Url,
        simple_url: Url,
        /// How failures that may pass are retried.
        backoff: Backoff,
        /// The upload login; the token is its password.
        username: String,
    },
}

/// One file as the index lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedFile {
    pub filename: String,
    /// From the link's `#sha256=` fragment or the JSON `hashes`; `None` if not given.
    pub sha256: Option<String>,
    /// Where the file can be fetched (without the hash fragment).
    pub url: Option<Url>,
    /// When the index stored it (PEP 700 `upload-time`, JSON pages only).
    pub upload_time: Option<std::time::SystemTime>,
    /// Where its PEP 740 provenance is (JSON pages only): set when the file
    /// was uploaded with attestations.
    pub provenance: Option<Url>,
}

/// How one of our files stands against what the index lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileStatus {
    Missing,
    /// Listed with the same sha256 (given by the index, or of the bytes it serves).
    Present,
    /// Listed with other bytes: this version was published from something else.
    Conflict {
        index_sha256: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadOutcome {
    Uploaded,
    /// The index already had this exact file (same sha256): nothing sent.
    AlreadyPresent,
}

impl Repository {
    pub fn name(&self) -> &str {
        match self {
            Repository::Local { name, .. } | Repository::Remote { name, .. } => name,
        }
    }

    /// The URL to show users and to give `pip install --index-url`.
    pub fn simple_url(&self) -> Url {
        match self {
            Repository::Local { root, .. } => local_simple_url(root),
            Repository::Remote { simple_url, .. } => with_trailing_slash(simple_url),
        }
    }

    /// Whether uploading needs a token (the local index does not).
    pub fn needs_token(&self) -> bool {
        matches!(self, Repository::Remote { .. })
    }

    /// The files the index lists for a project (name is normalized here);
    /// empty when the project is unknown to the index.
    /// Failures that may pass are retried with backoff.
    pub fn list_files(&self, project: &str) -> Result<Vec<IndexedFile>, RepositoryError> {
        match self {
            Repository::Local { .. } => self.list_files_once(project),
            Repository::Remote { name, backoff, .. } => with_retries(
                &format!("listing {} on {name}", normalize_name(project)),
                *backoff,
                &|message| tracing::warn!("{message}"),
                || self.list_files_once(project),
                || None,
            ),
        }
    }

    /// One listing, no retries (for a quick probe, or between retries).
    pub fn list_files_once(&self, project: &str) -> Result<Vec<IndexedFile>, RepositoryError> {
        let normalized = normalize_name(project);
        match self {
            Repository::Local { root, .. } => local_list(root, &normalized),
            Repository::Remote {
                name, simple_url, ..
            } => remote_list(name, simple_url, &normalized),
        }
    }

    /// Uploads one artifact. For a remote, `None` sends no credentials (an
    /// index open for uploads); callers check `needs_token` first.
    ///
    /// Failures that may pass (no connection, timeout, reset, 5xx, 429) are
    /// retried with backoff; before each retry the index is asked whether
    /// the file arrived after all, so a file is never sent twice.
    /// `attestations`: the PEP 740 `attestations` form value, if any
    /// (`pipeline::attest`); a local index keeps none.
    pub fn upload(
        &self,
        artifact: &Artifact,
        attestations: Option<&str>,
        token: Option<&SecretString>,
        reporter: &dyn Reporter,
    ) -> Result<UploadOutcome, RepositoryError> {
        check_filename(&artifact.filename)?;
        match self {
            Repository::Local { name, root } => local_upload(name, root, artifact),
            Repository::Remote {
                name,
                upload_url,
                backoff,
                username,
                ..
            } => {
                // Once this process has sent the file, finding it on the index
                // means our send landed: it was uploaded now, not before.
                let sent = std::cell::Cell::new(false);
                let ours = |outcome: UploadOutcome| {
                    if sent.get() {
                        UploadOutcome::Uploaded
                    } else {
                        outcome
                    }
                };
                with_retries(
                    &format!("uploading {} to {name}", artifact.filename),
                    *backoff,
                    &|message| reporter.warn(message),
                    || {
                        let outcome = self.remote_upload(
                            upload_url,
                            username,
                            artifact,
                            attestations,
                            token,
                            reporter,
                        );
                        let outcome = outcome.map(ours);
                        sent.set(true);
                        outcome
                    },
                    || {
                        self.arrived_after_all(artifact)
                            .map(|settled| settled.map(ours))
                    },
                )
            }
        }
    }

    /// After a failed upload: `Some` if the index has the file now (same
    /// bytes: done; other bytes: a conflict), `None` to send it again.
    fn arrived_after_all(
        &self,
        artifact: &Artifact,
    ) -> Option<Result<UploadOutcome, RepositoryError>> {
        let project = project_name(artifact).ok()?;
        // The index may still be failing; then the retry itself will tell.
        let listed = self.list_files_once(&project).ok()?;
        let outcome = self.compare_listed(artifact, &listed)?;
        tracing::info!(file = %artifact.filename, "the index has the file from the failed attempt");
        Some(outcome)
    }

    /// How `artifact` stands against a listing: `None` when not listed, else
    /// done (same sha256) or a conflict.
    fn compare_listed(
        &self,
        artifact: &Artifact,
        listed: &[IndexedFile],
    ) -> Option<Result<UploadOutcome, RepositoryError>> {
        match self.file_status(&artifact.filename, &artifact.sha256, listed) {
            Ok(FileStatus::Missing) => None,
            Ok(FileStatus::Present) => {
                tracing::info!(repo = self.name(), file = %artifact.filename, "already present, same sha256");
                Some(Ok(UploadOutcome::AlreadyPresent))
            }
            Ok(FileStatus::Conflict { index_sha256 }) => Some(Err(RepositoryError::Conflict {
                repo: self.name().to_owned(),
                filename: artifact.filename.clone(),
                detail: format!("sha256 there {index_sha256}, here {}", artifact.sha256),
            })),
            Err(err) => Some(Err(err)),
        }
    }

    /// The one answer to "is this file already on the index": listed with
    /// our sha256 → present, with another → a conflict. An index that lists
    /// the file without a hash has the file fetched and hashed: a file is
    /// never taken as ours on its name alone.
    pub fn file_status(
        &self,
        filename: &str,
        sha256: &str,
        listed: &[IndexedFile],
    ) -> Result<FileStatus, RepositoryError> {
        let Some(found) = listed.iter().find(|f| f.filename == filename) else {
            return Ok(FileStatus::Missing);
        };
        let theirs = match &found.sha256 {
            Some(theirs) => theirs.clone(),
            None => self.fetch_sha256(found)?,
        };
        Ok(if theirs.eq_ignore_ascii_case(sha256) {
            FileStatus::Present
        } else {
            FileStatus::Conflict {
                index_sha256: theirs,
            }
        })
    }

    /// The sha256 of the bytes the index serves for `file`.
    fn fetch_sha256(&self, file: &IndexedFile) -> Result<String, RepositoryError> {
        let unverifiable = |reason: String| RepositoryError::Conflict {
            repo: self.name().to_owned(),
            filename: file.filename.clone(),
            detail: reason,
        };
        let Some(url) = &file.url else {
            return Err(unverifiable(
                "the index lists it with neither a sha256 nor a link to compare".to_owned(),
            ));
        };
        if url.scheme() == "file" {
            let path = url
                .to_file_path()
                .map_err(|()| unverifiable(format!("cannot read {url}")))?;
            return sha256_file(&path).map_err(|e| io_error(&path, "read", e));
        }
        tracing::info!(file = %file.filename, "the index gives no sha256; fetching the file to hash it");
        let mut response = self.get_file(url)?;
        if !response.status().is_success() {
            return Err(unverifiable(format!(
                "the index lists it without a sha256 and fetching it answered HTTP {}",
                response.status().as_u16()
            )));
        }
        hash_reader::<Sha256>(&mut response).map_err(|e| {
            unverifiable(format!(
                "the index lists it without a sha256 and fetching it failed: {e}"
            ))
        })
    }

    fn get_file(&self, url: &Url) -> Result<reqwest::blocking::Response, RepositoryError> {
        http::get(url, "*/*").map_err(|e| match e {
            http::GetError::Setup(e) => RepositoryError::Setup(e),
            http::GetError::Request { url, source } => network_error(self.name(), &url, source),
            http::GetError::TooManyRedirects { url } => RepositoryError::BadIndex {
                repo: self.name().to_owned(),
                url: redact_url(&url),
                reason: "too many redirects".to_owned(),
            },
        })
    }

    /// Copies the bytes the index serves for `file` into `dest` (`tagpub
    /// rebuild` compares them with a build of the tag).
    pub fn download(&self, file: &IndexedFile, dest: &Path) -> Result<(), RepositoryError> {
        let Some(url) = &file.url else {
            return Err(RepositoryError::BadIndex {
                repo: self.name().to_owned(),
                url: redact_url(&self.simple_url()),
                reason: format!("it lists {} without a link to fetch it", file.filename),
            });
        };
        let mut out = File::create(dest).map_err(|e| io_error(dest, "create", e))?;
        if url.scheme() == "file" {
            let path = url.to_file_path().map_err(|()| RepositoryError::BadIndex {
                repo: self.name().to_owned(),
                url: url.to_string(),
                reason: "not a local path".to_owned(),
            })?;
            let mut source = File::open(&path).map_err(|e| io_error(&path, "read", e))?;
            io::copy(&mut source, &mut out).map_err(|e| io_error(dest, "write", e))?;
            return Ok(());
        }
        let mut response = self.get_file(url)?;
        let status = response.status();
        if !status.is_success() {
            return Err(RepositoryError::Server {
                repo: self.name().to_owned(),
                url: redact_url(url),
                status: status.as_u16(),
                message: format!("fetching {} failed", file.filename),
                retry_after: None,
            });
        }
        io::copy(&mut response, &mut out).map_err(|e| RepositoryError::Io {
            context: format!("cannot download {} from {}", file.filename, redact_url(url)),
            source: e,
        })?;
        Ok(())
    }

    fn remote_upload(
        &self,
        upload_url: &Url,
        username: &str,
        artifact: &Artifact,
        attestations: Option<&str>,
        token: Option<&SecretString>,
        reporter: &dyn Reporter,
    ) -> Result<UploadOutcome, RepositoryError> {
        let repo = self.name();
        let shown = redact_url(upload_url);
        tracing::info!(repo, url = %shown, file = %artifact.filename, "uploading");
        let response = send_upload_once(
            repo,
            upload_url,
            username,
            artifact,
            attestations,
            token,
            reporter,
        )?;
        let status = response.status();
        if status.is_success() {
            tracing::info!(repo, file = %artifact.filename, "uploaded");
            return Ok(UploadOutcome::Uploaded);
        }
        let retry_after = retry::retry_after(response.headers());
        let body = response.text().unwrap_or_default();
        let message = body_excerpt(&body, token);
        tracing::debug!(repo, status = status.as_u16(), %message, "upload refused");
        match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN if token.is_none() => {
                Err(RepositoryError::TokenRequired {
                    repo: repo.to_owned(),
                    url: shown,
                    status: status.as_u16(),
                })
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(RepositoryError::Auth {
                repo: repo.to_owned(),
                url: shown,
                status: status.as_u16(),
            }),
            // PyPI: 400 "File already exists"; pypiserver and devpi: 409.
            StatusCode::CONFLICT => self.resolve_existing(artifact, status, message),
            StatusCode::BAD_REQUEST if mentions_existing(&body) => {
                self.resolve_existing(artifact, status, message)
            }
            StatusCode::TOO_MANY_REQUESTS => Err(RepositoryError::Server {
                repo: repo.to_owned(),
                url: shown,
                status: status.as_u16(),
                message,
                retry_after,
            }),
            s if s.is_client_error() => Err(RepositoryError::Rejected {
                repo: repo.to_owned(),
                filename: artifact.filename.clone(),
                status: s.as_u16(),
                message,
            }),
            s if s.is_redirection() => Err(RepositoryError::Server {
                repo: repo.to_owned(),
                url: shown,
                status: s.as_u16(),
                message: "the upload URL redirects; set it to the final URL (https?)".to_owned(),
                retry_after: None,
            }),
            s => Err(RepositoryError::Server {
                repo: repo.to_owned(),
                url: shown,
                status: s.as_u16(),
                message,
                retry_after,
            }),
        }
    }

    /// The index says the file exists: same bytes are fine, others a conflict.
    fn resolve_existing(
        &self,
        artifact: &Artifact,
        status: StatusCode,
        message: String,
    ) -> Result<UploadOutcome, RepositoryError> {
        let project = project_name(artifact)?;
        let listed = self.list_files(&project)?;
        self.compare_listed(artifact, &listed).unwrap_or_else(|| {
            // E.g. a deleted file PyPI will not take again: the server's words are best.
            Err(RepositoryError::Rejected {
                repo: self.name().to_owned(),
                filename: artifact.filename.clone(),
                status: status.as_u16(),
                message,
            })
        })
    }
}

fn mentions_existing(body: &str) -> bool {
    let lower = body.to_ascii_lowercase();
    lower.contains("exist") || lower.contains("already been used")
}

/// One POST, no retries. The file is streamed from disk, not read into memory.
fn send_upload_once(
    repo: &str,
    upload_url: &Url,
    username: &str,
    artifact: &Artifact,
    attestations: Option<&str>,
    token: Option<&SecretString>,
    reporter: &dyn Reporter,
) -> Result<Response, RepositoryError> {
    let client = http::index_client(upload_url)?;
    let timeout = http::upload_timeout()?;
    let mut form = upload_form(artifact, reporter)?;
    if let Some(attestations) = attestations {
        form = form.text("attestations", attestations.to_owned());
    }
    let request = match token {
        Some(token) => {
            // What goes into the Authorization header is what an index may
            // echo: both parts are registered for masking.
            credentials::held::remember(token, None);
            credentials::held::remember_user(username);
            // reqwest turns URL userinfo into its own Authorization header; the token wins.
            let mut url = upload_url.clone();
            let _ = url.set_username("");
            let _ = url.set_password(None);
            client
                .post(url)
                .basic_auth(username, Some(token.expose_secret()))
        }
        None => client.post(upload_url.clone()),
    };
    request
        .multipart(form)
        .timeout(timeout)
        .send()
        .map_err(|e| network_error(repo, upload_url, e))
}

/// The legacy-API form, field names as twine sends them.
fn upload_form(
    artifact: &Artifact,
    reporter: &dyn Reporter,
) -> Result<multipart::Form, RepositoryError> {
    let filetype = match artifact.kind {
        ArtifactKind::Sdist => "sdist",
        ArtifactKind::Wheel => "bdist_wheel",
    };
    let mut form = multipart::Form::new()
        .text(":action", "file_upload")
        .text("protocol_version", "1")
        .text("filetype", filetype)
        .text("pyversion", artifact.pyversion.clone())
        .text("sha256_digest", artifact.sha256.clone())
        .text("blake2_256_digest", artifact.blake2_256.clone());
    let mut description = artifact.metadata.body.clone();
    let metadata_version = artifact.metadata.get("Metadata-Version");
    for (header, value) in &artifact.metadata.fields {
        if header.eq_ignore_ascii_case("description") {
            description.get_or_insert_with(|| value.clone());
            continue;
        }
        if !sent_in_form(header, metadata_version) {
            continue;
        }
        form = form.text(form_field_name(header), value.clone());
    }
    if let Some(description) = description {
        form = form.text("description", description);
    }
    let file = File::open(&artifact.path).map_err(|e| io_error(&artifact.path, "open", e))?;
    let len = file
        .metadata()
        .map_err(|e| io_error(&artifact.path, "stat", e))?
        .len();
    let reader = ProgressReader {
        inner: file,
        progress: reporter.transfer(&artifact.filename, len),
    };
    let part = multipart::Part::reader_with_length(reader, len)
        .file_name(artifact.filename.clone())
        .mime_str("application/octet-stream")
        .expect("a constant, valid MIME type");
    Ok(form.part("content", part))
}

/// Tells a [`Progress`] how much of the file the HTTP client has read.
struct ProgressReader<R> {
    inner: R,
    progress: Box<dyn Progress>,
}

impl<R: Read> Read for ProgressReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 {
            self.progress.finish();
        } else {
            self.progress.advance(n as u64);
        }
        Ok(n)
    }
}

impl<R> Drop for ProgressReader<R> {
    fn drop(&mut self) {
        self.progress.finish();
    }
}

/// Whether a metadata header goes into the upload form. As twine does,
/// `License-File` is dropped below metadata 2.4: setuptools < 77 wrote it
/// with 2.1/2.2, and PyPI refuses it there ("license-file introduced in
/// metadata version 2.4, not 2.1").
fn sent_in_form(header: &str, metadata_version: Option<&str>) -> bool {
    if !header.eq_ignore_ascii_case("license-file") {
        return true;
    }
    let parsed = metadata_version
        .and_then(|v| v.trim().split_once('.'))
        .and_then(|(major, minor)| Some((major.parse::<u32>().ok()?, minor.parse::<u32>().ok()?)));
    parsed.is_some_and(|version| version >= (2, 4))
}

/// Core-metadata header → legacy upload form field (twine's names).
pub fn form_field_name(header: &str) -> String {
    let lower = header.to_ascii_lowercase();
    match lower.as_str() {
        "classifier" => "classifiers".to_owned(),
        "project-url" => "project_urls".to_owned(),
        "provides-extra" => "provides_extras".to_owned(),
        // The rest map plainly: Requires-Dist → requires_dist, Home-page → home_page,
        // Platform → platform, Supported-Platform → supported_platform, ...
        _ => lower.replace('-', "_"),
    }
}

fn remote_list(
    repo: &str,
    simple_url: &Url,
    normalized: &str,
) -> Result<Vec<IndexedFile>, RepositoryError> {
    let page = with_trailing_slash(simple_url)
        .join(&format!("{normalized}/"))
        .map_err(|e| RepositoryError::BadIndex {
            repo: repo.to_owned(),
            url: redact_url(simple_url),
            reason: e.to_string(),
        })?;
    let response = http::get(&page, SIMPLE_ACCEPT).map_err(|e| match e {
        http::GetError::Setup(e) => RepositoryError::Setup(e),
        http::GetError::Request { url, source } => network_error(repo, &url, source),
        http::GetError::TooManyRedirects { url } => RepositoryError::BadIndex {
            repo: repo.to_owned(),
            url: redact_url(&url),
            reason: "too many redirects".to_owned(),
        },
    })?;
    let status = response.status();
    if status == StatusCode::NOT_FOUND {
        return Ok(Vec::new());
    }
    let final_url = response.url().clone();
    let retry_after = retry::retry_after(response.headers());
    let is_json = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("json"));
    let body = response
        .text()
        .map_err(|e| network_error(repo, &final_url, e))?;
    if !status.is_success() {
        return Err(RepositoryError::Server {
            repo: repo.to_owned(),
            url: redact_url(&page),
            status: status.as_u16(),
            message: body_excerpt(&body, None),
            retry_after,
        });
    }
    if is_json {
        parse_simple_json(&body, &final_url).map_err(|e| RepositoryError::BadIndex {
            repo: repo.to_owned(),
            url: redact_url(&final_url),
            // serde_json quotes the values it did not expect.
            reason: credentials::mask(&e.to_string()),
        })
    } else {
        Ok(parse_simple_html(&body, &final_url))
    }
}

fn network_error(repo: &str, url: &Url, err: reqwest::Error) -> RepositoryError {
    let error = network_error_unmasked(repo, url, err);
    // A reason may quote what the server sent (a bad header, a redirect).
    match error {
        RepositoryError::Tls { repo, url, reason } => RepositoryError::Tls {
            repo,
            url,
            reason: credentials::mask(&reason),
        },
        RepositoryError::Unreachable { repo, url, reason } => RepositoryError::Unreachable {
            repo,
            url,
            reason: credentials::mask(&reason),
        },
        RepositoryError::Network { repo, url, reason } => RepositoryError::Network {
            repo,
            url,
            reason: credentials::mask(&reason),
        },
        other => other,
    }
}

fn network_error_unmasked(repo: &str, url: &Url, err: reqwest::Error) -> RepositoryError {
    // reqwest's Display carries the URL, which may hold credentials.
    let err = err.without_url();
    let url_for_probe = url.clone();
    let (repo, url) = (repo.to_owned(), redact_url(url));
    let chain = error_chain(&err);
    if chain.to_ascii_lowercase().contains("certificate") {
        // Not retried: an untrusted certificate stays untrusted.
        let reason = root_cause(&err);
        return RepositoryError::Tls { repo, url, reason };
    }
    if err.is_timeout() {
        let reason = "timed out".to_owned();
        RepositoryError::Unreachable { repo, url, reason }
    } else if err.is_connect() {
        // The innermost cause ("Connection refused", "failed to lookup address") says it all.
        let reason = root_cause(&err);
        RepositoryError::Unreachable { repo, url, reason }
    } else if let Some(reason) = connect_probe(&url_for_probe) {
        // reqwest's blocking client may report a refused connection as a failed
        // body stream ("receiver is gone"); a plain connect tells them apart.
        RepositoryError::Unreachable { repo, url, reason }
    } else {
        let reason = error_chain(&err);
        RepositoryError::Network { repo, url, reason }
    }
}

/// Why a TCP connection to the URL's host fails, or `None` if it succeeds.
fn connect_probe(url: &Url) -> Option<String> {
    let addrs = match url.socket_addrs(|| None) {
        Ok(addrs) => addrs,
        Err(e) => return Some(e.to_string()),
    };
    let mut last = None;
    for addr in addrs {
        match std::net::TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(_) => return None,
            Err(e) => last = Some(e.to_string()),
        }
    }
    Some(last.unwrap_or_else(|| "the host name resolves to no address".to_owned()))
}

fn root_cause(err: &dyn std::error::Error) -> String {
    let mut cause = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[derive(serde::Deserialize)]
struct SimpleJson {
    files: Vec<SimpleJsonFile>,
}

#[derive(serde::Deserialize)]
struct SimpleJsonFile {
    filename: String,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    hashes: HashMap<String, String>,
    #[serde(default, rename = "upload-time")]
    upload_time: Option<String>,
    #[serde(default)]
    provenance: Option<String>,
}

/// A PEP 691 project page.
pub fn parse_simple_json(body: &str, base: &Url) -> Result<Vec<IndexedFile>, serde_json::Error> {
    let page: SimpleJson = serde_json::from_str(body)?;
    Ok(page
        .files
        .into_iter()
        .map(|f| IndexedFile {
            sha256: f.hashes.get("sha256").map(|h| h.to_ascii_lowercase()),
            url: f.url.as_deref().and_then(|u| file_link(base, u)),
            upload_time: f
                .upload_time
                .as_deref()
                .and_then(|t| humantime::parse_rfc3339_weak(t.trim_end_matches('Z')).ok()),
            provenance: f.provenance.as_deref().and_then(|u| base.join(u).ok()),
            filename: f.filename,
        })
        .collect())
}

/// A PEP 503 project page: every `<a href>`; hrefs resolve against `base`.
pub fn parse_simple_html(body: &str, base: &Url) -> Vec<IndexedFile> {
    let mut files = Vec::new();
    for href in anchor_hrefs(body) {
        let Ok(url) = base.join(&href) else { continue };
        let Some(last) = url.path_segments().and_then(|mut s| s.next_back()) else {
            continue;
        };
        let filename = percent_decode(last);
        if filename.is_empty() {
            continue;
        }
        let sha256 = url.fragment().and_then(|frag| {
            frag.strip_prefix("sha256=")
                .map(|h| h.trim().to_ascii_lowercase())
        });
        files.push(IndexedFile {
            upload_time: None,
            provenance: None,
            filename,
            sha256,
            url: file_link(base, &href),
        });
    }
    files
}

/// A file's link resolved against its page, without the hash fragment.
fn file_link(base: &Url, href: &str) -> Option<Url> {
    let mut url = base.join(href).ok()?;
    url.set_fragment(None);
    Some(url)
}

/// The `href` values of `<a>` tags, entity-decoded.
fn anchor_hrefs(html: &str) -> Vec<String> {
    let Ok(dom) = tl::parse(html, tl::ParserOptions::default()) else {
        return Vec::new();
    };
    dom.nodes()
        .iter()
        .filter_map(|node| node.as_tag())
        .filter(|tag| tag.name().as_bytes().eq_ignore_ascii_case(b"a"))
        .filter_map(|tag| {
            // HTML attribute names are case-insensitive (`HREF` is valid).
            tag.attributes()
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case("href"))
                .and_then(|(_, value)| value)
        })
        .map(|href| html_escape::decode_html_entities(&href).into_owned())
        .collect()
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// The text a person would read on a page, without styles, scripts and
/// the title (which repeats the heading).
fn visible_text(html: &str) -> String {
    // An explicit stack, not recursion: the page comes from the index, and a
    // page of 100 000 nested tags must not overflow tagpub's stack.
    enum Step {
        Node(tl::NodeHandle),
        Space,
    }
    let Ok(dom) = tl::parse(html, tl::ParserOptions::default()) else {
        return html.to_string();
    };
    let parser = dom.parser();
    let mut out = String::new();
    let mut stack: Vec<Step> = dom
        .children()
        .iter()
        .rev()
        .map(|c| Step::Node(*c))
        .collect();
    while let Some(step) = stack.pop() {
        let handle = match step {
            Step::Space => {
                out.push(' ');
                continue;
            }
            Step::Node(handle) => handle,
        };
        match handle.get(parser) {
            Some(tl::Node::Tag(tag)) => {
                let name = tag.name().as_utf8_str().to_ascii_lowercase();
                if matches!(name.as_str(), "style" | "script" | "title") {
                    continue;
                }
                // Children in order, then the space that ends the tag.
                stack.push(Step::Space);
                let children: Vec<Step> = tag
                    .children()
                    .top()
                    .iter()
                    .map(|c| Step::Node(*c))
                    .collect();
                stack.extend(children.into_iter().rev());
            }
            Some(tl::Node::Raw(text)) => out.push_str(&text.as_utf8_str()),
            _ => {}
        }
    }
    html_escape::decode_html_entities(&out).into_owned()
}

/// A short, readable excerpt of an error page: tags, styles and scripts
/// dropped, whitespace collapsed, and every form of every secret masked
/// (`credentials::mask`): servers echo what they were sent, headers included.
fn body_excerpt(body: &str, token: Option<&SecretString>) -> String {
    let text = visible_text(body)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let mut text = credentials::mask::mask_with(&text, &token.into_iter().collect::<Vec<_>>());
    if text.is_empty() {
        return "(empty response)".to_owned();
    }
    if let Some((cut, _)) = text.char_indices().nth(BODY_EXCERPT_CHARS) {
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// The URL for messages and logs: a password (or a lone user, often a
/// token) becomes `***`.
pub fn redact_url(url: &Url) -> String {
    if url.password().is_none() && url.username().is_empty() {
        // A redirect's target comes from the index and may carry a secret.
        return credentials::mask(url.as_str());
    }
    let mut shown = url.clone();
    if shown.password().is_some() {
        let _ = shown.set_password(Some("***"));
    } else {
        let _ = shown.set_username("***");
    }
    shown.to_string()
}

/// The simple index next to an upload URL: `…/legacy/` → `…/simple/`
/// (PyPI, TestPyPI), otherwise `<upload>/simple/` (pypiserver). Indexes that
/// differ — devpi serves `…/user/index/+simple/` — set `simple-url` in the
/// config explicitly.
pub fn simple_url_for_upload(upload: &Url) -> Url {
    let mut base = upload.clone();
    base.set_query(None);
    base.set_fragment(None);
    let path = base.path().trim_end_matches('/').to_owned();
    if let Some(parent) = path.strip_suffix("/legacy") {
        base.set_path(&format!("{parent}/simple/"));
        return base;
    }
    base.set_path(&format!("{path}/simple/"));
    base
}

fn with_trailing_slash(url: &Url) -> Url {
    let mut url = url.clone();
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url
}

// ---------------------------------------------------------------- local index

fn local_simple_url(root: &Path) -> Url {
    let simple = std::path::absolute(root.join("simple")).unwrap_or_else(|_| root.join("simple"));
    Url::from_directory_path(&simple).unwrap_or_else(|()| {
        // Only a relative path fails, and only if the cwd is gone.
        Url::parse("file:///").expect("a valid constant URL")
    })
}

fn local_list(root: &Path, normalized: &str) -> Result<Vec<IndexedFile>, RepositoryError> {
    let dir = root.join("simple").join(normalized);
    // index.html is what pip sees, so it is the listing.
    read_local_index(&dir)
}

fn read_local_index(dir: &Path) -> Result<Vec<IndexedFile>, RepositoryError> {
    let index = dir.join("index.html");
    let html = match fs::read_to_string(&index) {
        Ok(html) => html,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(&index, "read", e)),
    };
    let base = std::path::absolute(dir)
        .ok()
        .and_then(|d| Url::from_directory_path(d).ok())
        .unwrap_or_else(|| Url::parse("file:///").expect("a valid constant URL"));
    Ok(parse_simple_html(&html, &base))
}

fn local_upload(
    repo: &str,
    root: &Path,
    artifact: &Artifact,
) -> Result<UploadOutcome, RepositoryError> {
    let project = project_name(artifact)?;
    let normalized = normalize_name(&project);
    let simple = root.join("simple");
    let dir = simple.join(&normalized);
    fsutil::create_private_dir(&dir).map_err(|e| io_error(&dir, "create", e))?;
    let dest = dir.join(&artifact.filename);

    let outcome = if dest.exists() {
        existing_local(repo, artifact, &dest)?
    } else {
        let sha = atomic_copy_noclobber(&artifact.path, &dest)?;
        match sha {
            Some(sha) if !sha.eq_ignore_ascii_case(&artifact.sha256) => {
                // Unpublish our own copy: the file changed after it was checked.
                let _ = fs::remove_file(&dest);
                return Err(RepositoryError::InvalidArtifact {
                    filename: artifact.filename.clone(),
                    reason: format!(
                        "its sha256 is now {sha}, not {} as when it was checked",
                        artifact.sha256
                    ),
                });
            }
            Some(_) => UploadOutcome::Uploaded,
            // Lost a race with another writer: judge what is there now.
            None => existing_local(repo, artifact, &dest)?,
        }
    };

    let listed = read_local_index(&dir)?;
    if outcome == UploadOutcome::Uploaded || !listed.iter().any(|f| f.filename == artifact.filename)
    {
        write_project_index(&dir, &normalized, &listed)?;
        write_root_index(&simple)?;
    }
    Ok(outcome)
}

fn existing_local(
    repo: &str,
    artifact: &Artifact,
    dest: &Path,
) -> Result<UploadOutcome, RepositoryError> {
    let theirs = sha256_file(dest).map_err(|e| io_error(dest, "read", e))?;
    let ours = sha256_file(&artifact.path).map_err(|e| io_error(&artifact.path, "read", e))?;
    if theirs == ours {
        return Ok(UploadOutcome::AlreadyPresent);
    }
    Err(RepositoryError::Conflict {
        repo: repo.to_owned(),
        filename: artifact.filename.clone(),
        detail: format!("sha256 there {theirs}, here {ours}"),
    })
}

/// Copies `src` to `dest` through a temp file in the same directory (fsync,
/// no-clobber rename, fsync the directory). Returns the sha256 of the bytes
/// written, or `None` if `dest` appeared meanwhile.
fn atomic_copy_noclobber(src: &Path, dest: &Path) -> Result<Option<String>, RepositoryError> {
    let dir = dest.parent().expect("dest is inside a project directory");
    let mut input = File::open(src).map_err(|e| io_error(src, "open", e))?;
    let mut tmp =
        fsutil::temp_file_in(dir).map_err(|e| io_error(dir, "create a temp file in", e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = input.read(&mut buf).map_err(|e| io_error(src, "read", e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        tmp.write_all(&buf[..n])
            .map_err(|e| io_error(tmp.path(), "write", e))?;
    }
    let written = fsutil::commit(tmp, dest, false).map_err(|e| io_error(dest, "create", e))?;
    Ok(written.then(|| hex::encode(hasher.finalize())))
}

/// Replaces `dest` with `contents` atomically.
fn atomic_write(dest: &Path, contents: &[u8]) -> Result<(), RepositoryError> {
    let dir = dest.parent().expect("index files live in a directory");
    let mut tmp =
        fsutil::temp_file_in(dir).map_err(|e| io_error(dir, "create a temp file in", e))?;
    tmp.write_all(contents)
        .map_err(|e| io_error(tmp.path(), "write", e))?;
    // 0600 like everything in tagpub's data dir: pip reads it as this user.
    fsutil::commit(tmp, dest, true)
        .map(drop)
        .map_err(|e| io_error(dest, "replace", e))
}

/// Files in a project directory: no index, no dotfiles (our temp files).
fn project_files(dir: &Path) -> Result<Vec<String>, RepositoryError> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| io_error(dir, "read", e))? {
        let entry = entry.map_err(|e| io_error(dir, "read", e))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name.starts_with('.') || name == "index.html" {
            continue;
        }
        if entry.file_type().is_ok_and(|t| t.is_file()) {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Rewrites a project's index.html; hashes already listed are reused so only
/// new files are read.
fn write_project_index(
    dir: &Path,
    normalized: &str,
    listed: &[IndexedFile],
) -> Result<(), RepositoryError> {
    let known: HashMap<&str, &str> = listed
        .iter()
        .filter_map(|f| Some((f.filename.as_str(), f.sha256.as_deref()?)))
        .collect();
    let mut links = String::new();
    for name in project_files(dir)? {
        let sha = match known.get(name.as_str()) {
            Some(sha) => (*sha).to_owned(),
            None => {
                let path = dir.join(&name);
                sha256_file(&path).map_err(|e| io_error(&path, "read", e))?
            }
        };
        let _ = writeln!(
            links,
            "    <a href=\"{}#sha256={sha}\">{}</a><br>",
            escape_html(&encode_path_segment(&name)),
            escape_html(&name)
        );
    }
    let html = page(&format!("Links for {normalized}"), &links);
    atomic_write(&dir.join("index.html"), html.as_bytes())
}

fn write_root_index(simple: &Path) -> Result<(), RepositoryError> {
    let mut projects = Vec::new();
    for entry in fs::read_dir(simple).map_err(|e| io_error(simple, "read", e))? {
        let entry = entry.map_err(|e| io_error(simple, "read", e))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if !name.starts_with('.') && entry.path().join("index.html").is_file() {
            projects.push(name);
        }
    }
    projects.sort();
    let mut links = String::new();
    for name in &projects {
        let _ = writeln!(
            links,
            "    <a href=\"{}/\">{}</a><br>",
            escape_html(&encode_path_segment(name)),
            escape_html(name)
        );
    }
    let html = page("Simple index", &links);
    atomic_write(&simple.join("index.html"), html.as_bytes())
}

fn page(title: &str, links: &str) -> String {
    let title = escape_html(title);
    format!(
        "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" \
         content=\"1.0\">\n    <title>{title}</title>\n  </head>\n  <body>\n    \
         <h1>{title}</h1>\n{links}  </body>\n</html>\n"
    )
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn encode_path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~+!".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

// ---------------------------------------------------------------- shared

/// The filename becomes a path on disk and in URLs: no separators, no dotfiles.
fn check_filename(filename: &str) -> Result<(), RepositoryError> {
    let bad = filename.is_empty()
        || filename.starts_with('.')
        || filename == "index.html"
        || filename.contains(['/', '\\', '\0', '#', '?']);
    if bad {
        return Err(RepositoryError::InvalidArtifact {
            filename: filename.to_owned(),
            reason: "not a valid distribution filename".to_owned(),
        });
    }
    Ok(())
}

/// The project name from the metadata, else from the filename.
fn project_name(artifact: &Artifact) -> Result<String, RepositoryError> {
    let from_metadata = artifact
        .metadata
        .fields
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("name"))
        .map(|(_, v)| v.trim().to_owned());
    // Both sdist and wheel filenames start with `{name}-{version}`.
    let name = from_metadata.or_else(|| {
        artifact
            .filename
            .split_once('-')
            .map(|(name, _)| name.to_owned())
    });
    match name {
        Some(name) if is_valid_project_name(&name) => Ok(name),
        _ => Err(RepositoryError::InvalidArtifact {
            filename: artifact.filename.clone(),
            reason: "no valid project name in its metadata".to_owned(),
        }),
    }
}

fn io_error(path: &Path, action: &str, source: io::Error) -> RepositoryError {
    RepositoryError::Io {
        context: format!("cannot {action} {}", path.display()),
        source,
    }
}

fn hash_file<D: Digest>(path: &Path) -> io::Result<String> {
    hash_reader::<D>(File::open(path)?)
}

fn hash_reader<D: Digest>(mut reader: impl Read) -> io::Result<String> {
    let mut hasher = D::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// sha256 of a file, lowercase hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    hash_file::<Sha256>(path)
}

/// blake2b-256 of a file (the legacy API's `blake2_256_digest`), lowercase hex.
pub fn blake2_256_file(path: &Path) -> std::io::Result<String> {
    hash_file::<blake2::Blake2b<blake2::digest::consts::U32>>(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn html_links_resolve_relative_hrefs_and_fragments() {
        let html = r#"<!DOCTYPE html><html><body><h1>Links for demo</h1>
            <A HREF="../../packages/demo_pkg-1.0.0.tar.gz#sha256=ABCDEF">demo_pkg-1.0.0.tar.gz</A><br>
            <a data-requires-python="&gt;=3.8" href='demo_pkg-1.0.0%2Blocal-py3-none-any.whl#md5=00'>x</a>
            <abbr href="nope">no</abbr>
            <a href="https://files.example/x/y/demo_pkg-0.9.tar.gz?a=1&amp;b=2#sha256=0a1b">old</a>
            <a name="anchor-without-href">z</a>
            </body></html>"#;
        let files = parse_simple_html(html, &url("http://h:8080/simple/demo-pkg/"));
        assert_eq!(
            files,
            vec![
                IndexedFile {
                    upload_time: None,
                    provenance: None,
                    filename: "demo_pkg-1.0.0.tar.gz".into(),
                    sha256: Some("abcdef".into()),
                    url: Some(url("http://h:8080/packages/demo_pkg-1.0.0.tar.gz")),
                },
                IndexedFile {
                    upload_time: None,
                    provenance: None,
                    filename: "demo_pkg-1.0.0+local-py3-none-any.whl".into(),
                    sha256: None,
                    url: Some(url(
                        "http://h:8080/simple/demo-pkg/demo_pkg-1.0.0%2Blocal-py3-none-any.whl"
                    )),
                },
                IndexedFile {
                    upload_time: None,
                    provenance: None,
                    filename: "demo_pkg-0.9.tar.gz".into(),
                    sha256: Some("0a1b".into()),
                    url: Some(url("https://files.example/x/y/demo_pkg-0.9.tar.gz?a=1&b=2")),
                },
            ]
        );
    }

    #[test]
    fn json_page_parses_files_and_hashes() {
        let body = r#"{"meta":{"api-version":"1.1"},"name":"demo-pkg","files":[
            {"filename":"demo_pkg-1.0.0.tar.gz","url":"x","hashes":{"sha256":"ABC","md5":"1"},
             "upload-time":"2026-07-08T09:10:11.123456Z",
             "provenance":"https://pypi.org/integrity/demo-pkg/1.0.0/demo_pkg-1.0.0.tar.gz/provenance"},
            {"filename":"demo_pkg-1.0.0-py3-none-any.whl","url":"/files/y","hashes":{},"provenance":null}]}"#;
        let base = url("http://h/simple/demo-pkg/");
        assert_eq!(
            parse_simple_json(body, &base).unwrap(),
            vec![
                IndexedFile {
                    upload_time: Some(
                        humantime::parse_rfc3339("2026-07-08T09:10:11.123456Z").unwrap()
                    ),
                    provenance: Some(url(
                        "https://pypi.org/integrity/demo-pkg/1.0.0/demo_pkg-1.0.0.tar.gz/provenance"
                    )),
                    filename: "demo_pkg-1.0.0.tar.gz".into(),
                    sha256: Some("abc".into()),
                    url: Some(url("http://h/simple/demo-pkg/x")),
                },
                IndexedFile {
                    upload_time: None,
                    provenance: None,
                    filename: "demo_pkg-1.0.0-py3-none-any.whl".into(),
                    sha256: None,
                    url: Some(url("http://h/files/y")),
                },
            ]
        );
        assert!(parse_simple_json("<html>", &base).is_err());
    }

    #[test]
    fn simple_url_from_upload_url() {
        let cases = [
            (
                "https://upload.pypi.org/legacy/",
                "https://upload.pypi.org/simple/",
            ),
            (
                "https://test.pypi.org/legacy",
                "https://test.pypi.org/simple/",
            ),
            ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/simple/"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080/simple/"),
            ("http://h/pypi/?x=1", "http://h/pypi/simple/"),
            ("https://u:p@h/legacy/", "https://u:p@h/simple/"),
        ];
        for (upload, simple) in cases {
            assert_eq!(
                simple_url_for_upload(&url(upload)).as_str(),
                simple,
                "{upload}"
            );
        }
    }

    #[test]
    fn error_pages_nested_beyond_any_stack_are_read_without_recursion() {
        let depth = 100_000;
        let page = format!("{}deep{}", "<div>".repeat(depth), "</div>".repeat(depth));
        // A small stack, as a worker thread of the daemon might have.
        let text = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || visible_text(&page))
            .unwrap()
            .join()
            .expect("no stack overflow");
        assert_eq!(text.trim(), "deep");
        assert_eq!(
            visible_text("<p>a<b>b</b><script>x</script></p>c")
                .split_whitespace()
                .collect::<Vec<_>>(),
            ["ab", "c"]
        );
    }

    #[test]
    fn redacts_credentials() {
        assert_eq!(
            redact_url(&url("https://user:secret@host/simple/")),
            "https://user:***@host/simple/"
        );
        assert_eq!(
            redact_url(&url("https://pypi-token@host/")),
            "https://***@host/"
        );
        assert_eq!(redact_url(&url("https://host/x/")), "https://host/x/");
    }

    #[test]
    fn license_file_is_sent_only_from_metadata_2_4() {
        assert!(!sent_in_form("License-File", Some("2.1")));
        assert!(!sent_in_form("License-File", Some("2.3")));
        assert!(!sent_in_form("License-File", None));
        assert!(sent_in_form("License-File", Some("2.4")));
        assert!(sent_in_form("License-File", Some("2.5")));
        assert!(sent_in_form("License", Some("2.1")));
    }

    #[test]
    fn form_field_names_follow_twine() {
        let cases = [
            ("Metadata-Version", "metadata_version"),
            ("Classifier", "classifiers"),
            ("Project-URL", "project_urls"),
            ("Provides-Extra", "provides_extras"),
            ("Requires-Dist", "requires_dist"),
            ("Home-page", "home_page"),
            ("Author-email", "author_email"),
            ("Supported-Platform", "supported_platform"),
            ("License-File", "license_file"),
            ("Requires-External", "requires_external"),
        ];
        for (header, field) in cases {
            assert_eq!(form_field_name(header), field);
        }
    }

    #[test]
    fn body_excerpt_is_short_plain_text_without_token() {
        let page = "<html><head><title>Error</title><style>body {color: red}</style></head>\
                    <body><h1>400</h1><p>Package &#x27;x&#x27; already exists! pypi-SECRET</p>\
                    <script>var a = 1;</script></body></html>";
        let token = SecretString::from("pypi-SECRET");
        assert_eq!(
            body_excerpt(page, Some(&token)),
            "400 Package 'x' already exists! [redacted]"
        );
        let long = "x".repeat(1000);
        assert_eq!(
            body_excerpt(&long, None).chars().count(),
            BODY_EXCERPT_CHARS + 1
        );
        assert_eq!(body_excerpt("  ", None), "(empty response)");

        // An index echoing the request's Authorization header.
        use base64::Engine as _;
        let password = SecretString::from("short-index-pw1");
        let basic = base64::engine::general_purpose::STANDARD.encode("__token__:short-index-pw1");
        let shown = body_excerpt(
            &format!("<p>bad auth: Basic {basic} (__token__:short-index-pw1)</p>"),
            Some(&password),
        );
        assert_eq!(shown, "bad auth: Basic [redacted] (__token__:[redacted])");
    }

    #[test]
    fn filenames_that_escape_the_directory_are_refused() {
        for bad in [
            "",
            ".hidden",
            "../x.tar.gz",
            "a/b.whl",
            "index.html",
            "a#b.whl",
        ] {
            assert!(check_filename(bad).is_err(), "{bad}");
        }
        assert!(check_filename("demo_pkg-1.0+local-py3-none-any.whl").is_ok());
        assert_eq!(encode_path_segment("a b+c.whl"), "a%20b+c.whl");
    }

    #[test]
    fn hashes_known_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, b"abc").unwrap();
        assert_eq!(
            sha256_file(&path).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            blake2_256_file(&path).unwrap(),
            "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319"
        );
    }
}
