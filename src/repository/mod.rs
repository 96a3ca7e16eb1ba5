//! Repository kinds: the legacy upload API (PyPI, TestPyPI, pypiserver,
//! devpi, …) and the built-in `local` PEP 503 directory index.
//!
//! This module holds the `Repository` type and the one answer to "is this
//! file already on the index" (`Repository::file_status`); the jobs behind
//! it live in submodules: `error` (errors, redaction, excerpts), `simple`
//! (PEP 503/691 listings), `upload` (the legacy API with retries), `local`
//! (the directory index).

mod error;
mod local;
mod simple;
mod upload;

use crate::dist::hash::sha256_file;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use sha2::Sha256;
use url::Url;

pub use error::{RepositoryError, redact_url};
pub use simple::{parse_simple_html, parse_simple_json, simple_url_for_upload};
pub use upload::{UploadRequest, form_field_name};

use crate::retry::{self, Backoff};
use crate::version::normalize_name;
use error::{get_error, io_error};

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
            Repository::Local { root, .. } => local::local_simple_url(root),
            Repository::Remote { simple_url, .. } => simple::with_trailing_slash(simple_url),
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
            Repository::Local { root, .. } => local::local_list(root, &normalized),
            Repository::Remote {
                name, simple_url, ..
            } => simple::remote_list(name, simple_url, &normalized),
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
        crate::dist::hash::hash_reader::<Sha256>(&mut response).map_err(|e| {
            unverifiable(format!(
                "the index lists it without a sha256 and fetching it failed: {e}"
            ))
        })
    }

    fn get_file(&self, url: &Url) -> Result<reqwest::blocking::Response, RepositoryError> {
        crate::http::get(url, "*/*").map_err(|e| get_error(self.name(), e))
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(filename: &str, sha256: Option<&str>, url: Option<Url>) -> IndexedFile {
        IndexedFile {
            filename: filename.to_owned(),
            sha256: sha256.map(str::to_owned),
            url,
            upload_time: None,
            provenance: None,
        }
    }

    /// The decision on "is this file already on the index": a file counts as
    /// present only when the bytes the index holds are known to be ours. A
    /// listing without a hash is settled by hashing the served bytes; when
    /// they cannot be had, it is an error, never "present" (nothing would be
    /// published) and never "missing" (it would be sent a second time).
    #[test]
    fn file_status_trusts_only_known_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::Local {
            name: "local".to_owned(),
            root: dir.path().to_owned(),
        };
        let name = "demo_pkg-1.0.0.tar.gz";
        let served = dir.path().join(name);
        std::fs::write(&served, b"abc").unwrap();
        let ours = sha256_file(&served).unwrap();
        let other = "0".repeat(64);
        let link = Url::from_file_path(&served).unwrap();

        let status = |listing: &[IndexedFile], sha: &str| repo.file_status(name, sha, listing);

        assert_eq!(status(&[], &ours).unwrap(), FileStatus::Missing);
        let other_file = listed("demo_pkg-1.0.0-py3-none-any.whl", Some(&ours), None);
        assert_eq!(status(&[other_file], &ours).unwrap(), FileStatus::Missing);

        // Listed with a hash: the hash decides (case-insensitively).
        let hashed = listed(name, Some(&ours.to_uppercase()), None);
        assert_eq!(
            status(std::slice::from_ref(&hashed), &ours).unwrap(),
            FileStatus::Present
        );
        assert_eq!(
            status(&[hashed], &other).unwrap(),
            FileStatus::Conflict {
                index_sha256: ours.to_uppercase()
            }
        );

        // Listed without a hash: the served bytes decide.
        let bare = listed(name, None, Some(link));
        assert_eq!(
            status(std::slice::from_ref(&bare), &ours).unwrap(),
            FileStatus::Present
        );
        assert_eq!(
            status(&[bare], &other).unwrap(),
            FileStatus::Conflict {
                index_sha256: ours.clone()
            }
        );

        // Listed without a hash and nothing to fetch: neither present nor missing.
        let unknowable = listed(name, None, None);
        let err = status(&[unknowable], &ours).unwrap_err();
        assert!(
            matches!(&err, RepositoryError::Conflict { filename, .. } if filename == name),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .contains("neither a sha256 nor a link to compare"),
            "{err}"
        );
    }
}
