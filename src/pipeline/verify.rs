//! After publishing: the index lists every file with the uploaded hash.

use std::time::Duration;

use crate::ledger::BuiltFile;
use crate::repository::{FileStatus, Repository, RepositoryError};

/// Why a published release was not confirmed on the index.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(
        "{repository} does not list {files} after {waited:?}. The upload was accepted; an index with a CDN can lag. Check again with `tagpub release {tag}` in a minute"
    )]
    NotListed {
        repository: String,
        files: String,
        waited: Duration,
        tag: String,
    },
    #[error(
        "{repository} lists {file} with sha256 {index_sha256}, but the uploaded file has {sha256}: the index holds other bytes than the release"
    )]
    HashMismatch {
        repository: String,
        file: String,
        sha256: String,
        index_sha256: String,
    },
    #[error("cannot verify the release")]
    Index(#[from] RepositoryError),
}

/// Polls the index until every file is listed with its hash, at most
/// `attempts` times with a growing pause (CDN lag on PyPI).
pub fn verify(
    repository: &Repository,
    project: &str,
    files: &[BuiltFile],
    tag: &str,
    attempts: u32,
) -> Result<(), VerifyError> {
    let mut waited = Duration::ZERO;
    let mut pause = Duration::from_millis(500);
    for attempt in 1..=attempts.max(1) {
        let listed = repository.list_files(project)?;
        let mut missing = Vec::new();
        for file in files {
            match repository.file_status(&file.filename, &file.sha256, &listed)? {
                FileStatus::Present => {}
                FileStatus::Missing => missing.push(file.filename.clone()),
                FileStatus::Conflict { index_sha256 } => {
                    return Err(VerifyError::HashMismatch {
                        repository: repository.name().to_string(),
                        file: file.filename.clone(),
                        sha256: file.sha256.clone(),
                        index_sha256,
                    });
                }
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        if attempt == attempts.max(1) {
            return Err(VerifyError::NotListed {
                repository: repository.name().to_string(),
                files: missing.join(", "),
                waited,
                tag: tag.to_string(),
            });
        }
        std::thread::sleep(pause);
        waited += pause;
        pause = (pause * 2).min(Duration::from_secs(10));
    }
    unreachable!("the loop returns on its last attempt")
}
