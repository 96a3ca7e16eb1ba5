//! Which index a release goes to, and what of it is already there.

use url::Url;

use crate::config::Config;
use crate::dirs::Dirs;
use crate::ledger::BuiltFile;
use crate::repository::{IndexedFile, Repository, simple_url_for_upload};

pub const PYPI_UPLOAD: &str = "https://upload.pypi.org/legacy/";
pub const PYPI_SIMPLE: &str = "https://pypi.org/simple/";
pub const TESTPYPI_UPLOAD: &str = "https://test.pypi.org/legacy/";
pub const TESTPYPI_SIMPLE: &str = "https://test.pypi.org/simple/";

/// Turns a repository name from the config into something to upload to.
/// The config has validated names and URLs already.
pub fn open_repository(config: &Config, name: &str, dirs: &Dirs) -> Option<Repository> {
    let parse = |s: &str| Url::parse(s).ok();
    let remote = |upload: &str, simple: &str| {
        Some(Repository::Remote {
            name: name.to_string(),
            upload_url: parse(upload)?,
            simple_url: parse(simple)?,
        })
    };
    match name {
        "local" => Some(Repository::Local {
            name: name.to_string(),
            root: dirs.local_index(),
        }),
        "pypi" => remote(PYPI_UPLOAD, PYPI_SIMPLE),
        "testpypi" => remote(TESTPYPI_UPLOAD, TESTPYPI_SIMPLE),
        _ => {
            let custom = config.repositories.get(name)?;
            let upload_url = parse(&custom.url)?;
            let simple_url = match &custom.simple_url {
                Some(simple) => parse(simple)?,
                None => simple_url_for_upload(&upload_url),
            };
            Some(Repository::Remote {
                name: name.to_string(),
                upload_url,
                simple_url,
            })
        }
    }
}

/// How one built file stands against what the index lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileStatus {
    Missing,
    /// Listed with the same sha256 (or listed without a hash to compare).
    Present {
        hash_checked: bool,
    },
    /// Listed with other bytes: this version was published from something else.
    Conflict {
        index_sha256: String,
    },
}

pub fn file_status(file: &BuiltFile, listed: &[IndexedFile]) -> FileStatus {
    match listed.iter().find(|f| f.filename == file.filename) {
        None => FileStatus::Missing,
        Some(IndexedFile { sha256: None, .. }) => FileStatus::Present {
            hash_checked: false,
        },
        Some(IndexedFile {
            sha256: Some(sha), ..
        }) if sha.eq_ignore_ascii_case(&file.sha256) => FileStatus::Present { hash_checked: true },
        Some(IndexedFile {
            sha256: Some(sha), ..
        }) => FileStatus::Conflict {
            index_sha256: sha.clone(),
        },
    }
}
