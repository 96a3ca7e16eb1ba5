//! Uploading: the legacy API's multipart form (as twine sends it), streamed
//! from disk and retried; before a retry, and when the index says the file
//! exists, the listing settles whether the file arrived after all.

use std::fs::File;
use std::io::{self, Read};

use reqwest::StatusCode;
use reqwest::blocking::{Response, multipart};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::error::{RepositoryError, body_excerpt, io_error, network_error, redact_url};
use super::{FileStatus, IndexedFile, Repository, UploadOutcome, local, with_retries};
use crate::dist::{Artifact, ArtifactKind};
use crate::http;
use crate::report::{Progress, Reporter};
use crate::retry;
use crate::secrets;
use crate::version::is_valid_project_name;

/// One file to upload and what goes with it, passed whole from the release
/// down to the POST.
#[derive(Clone, Copy)]
pub struct UploadRequest<'a> {
    pub artifact: &'a Artifact,
    /// The PEP 740 `attestations` form value, if any (`pipeline::attest`);
    /// a local index keeps none.
    pub attestations: Option<&'a str>,
    /// For a remote, `None` sends no credentials (an index open for
    /// uploads); callers check `needs_token` first.
    pub token: Option<&'a SecretString>,
    /// Warnings (retries) and the transfer's progress.
    pub reporter: &'a dyn Reporter,
}

impl<'a> UploadRequest<'a> {
    /// A request without attestations.
    pub fn new(
        artifact: &'a Artifact,
        token: Option<&'a SecretString>,
        reporter: &'a dyn Reporter,
    ) -> UploadRequest<'a> {
        UploadRequest {
            artifact,
            attestations: None,
            token,
            reporter,
        }
    }
}

impl Repository {
    /// Uploads one artifact.
    ///
    /// Failures that may pass (no connection, timeout, reset, 5xx, 429) are
    /// retried with backoff; before each retry the index is asked whether
    /// the file arrived after all, so a file is never sent twice.
    pub fn upload(&self, request: &UploadRequest<'_>) -> Result<UploadOutcome, RepositoryError> {
        let artifact = request.artifact;
        check_filename(&artifact.filename)?;
        match self {
            Repository::Local { name, root } => local::local_upload(name, root, artifact),
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
                    &|message| request.reporter.warn(message),
                    || {
                        let outcome = self.remote_upload(upload_url, username, request);
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

    fn remote_upload(
        &self,
        upload_url: &Url,
        username: &str,
        request: &UploadRequest<'_>,
    ) -> Result<UploadOutcome, RepositoryError> {
        let UploadRequest {
            artifact, token, ..
        } = *request;
        let repo = self.name();
        let shown = redact_url(upload_url);
        tracing::info!(repo, url = %shown, file = %artifact.filename, "uploading");
        let response = send_upload_once(repo, upload_url, username, request)?;
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
    request: &UploadRequest<'_>,
) -> Result<Response, RepositoryError> {
    let client = http::index_client(upload_url)?;
    let timeout = http::upload_timeout()?;
    let mut form = upload_form(request.artifact, request.reporter)?;
    if let Some(attestations) = request.attestations {
        form = form.text("attestations", attestations.to_owned());
    }
    let post = match request.token {
        Some(token) => {
            // What goes into the Authorization header is what an index may
            // echo: both parts are registered for masking.
            secrets::held::remember(token, None);
            secrets::held::remember_user(username);
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
    post.multipart(form)
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
pub(super) fn project_name(artifact: &Artifact) -> Result<String, RepositoryError> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
