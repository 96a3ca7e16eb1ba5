//! Repository kinds: the legacy upload API (PyPI, TestPyPI, pypiserver,
//! devpi, …) and the built-in `local` PEP 503 directory index.
//!
//! INTERFACE STUB — implemented by the repository helper.

use std::path::{Path, PathBuf};

use secrecy::SecretString;
use url::Url;

use crate::pipeline::check::Artifact;

#[derive(Debug, thiserror::Error)]
pub enum RepositoryError {
    #[error("todo")]
    Todo,
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
    },
}

/// One file as the index lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedFile {
    pub filename: String,
    /// From the link's `#sha256=` fragment or the JSON `hashes`; `None` if not given.
    pub sha256: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadOutcome {
    Uploaded,
    /// The index already had this exact file (same sha256): nothing sent.
    AlreadyPresent,
}

impl Repository {
    pub fn name(&self) -> &str {
        todo!()
    }
    /// The URL to show users and to give `pip install --index-url`.
    pub fn simple_url(&self) -> Url {
        todo!()
    }
    /// Whether uploading needs a token (the local index does not).
    pub fn needs_token(&self) -> bool {
        todo!()
    }
    /// The files the index lists for a project (name is normalized here);
    /// empty when the project is unknown to the index.
    pub fn list_files(&self, _project: &str) -> Result<Vec<IndexedFile>, RepositoryError> {
        todo!()
    }
    /// Uploads one artifact.
    pub fn upload(
        &self,
        _artifact: &Artifact,
        _token: Option<&SecretString>,
    ) -> Result<UploadOutcome, RepositoryError> {
        todo!()
    }
}

/// sha256 of a file, lowercase hex.
pub fn sha256_file(_path: &Path) -> std::io::Result<String> {
    todo!()
}

/// The simple index that belongs to an upload URL.
pub fn simple_url_for_upload(_upload: &Url) -> Url {
    todo!()
}
