//! Native checks of built artifacts (first cut; a later issue deepens it).
//!
//! INTERFACE STUB — implemented by the check helper.

use std::path::{Path, PathBuf};

use crate::version::Version;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ArtifactKind {
    Sdist,
    Wheel,
}

/// Core metadata as read from PKG-INFO / METADATA.
#[derive(Debug, Clone, Default)]
pub struct Metadata {
    /// Every header in file order; multi-use fields appear several times.
    pub fields: Vec<(String, String)>,
    /// The message body (the long description in Metadata 2.1+), if any.
    pub body: Option<String>,
}

impl Metadata {
    /// First value of a header (case-insensitive name).
    pub fn get(&self, _name: &str) -> Option<&str> {
        todo!()
    }
    /// All values of a multi-use header.
    pub fn get_all(&self, _name: &str) -> Vec<&str> {
        todo!()
    }
}

/// A built file, opened and its metadata read.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub path: PathBuf,
    pub filename: String,
    pub kind: ArtifactKind,
    pub metadata: Metadata,
    pub sha256: String,
    pub blake2_256: String,
    /// For wheels, the python tag from the filename (`py3`); `source` for sdists.
    pub pyversion: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("todo")]
    Todo,
}

/// Opens an artifact and reads its metadata and digests.
pub fn inspect(_path: &Path) -> Result<Artifact, CheckError> {
    todo!()
}

/// The outcome of checking one file.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CheckReport {
    pub file: String,
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
}

impl CheckReport {
    pub fn ok(&self) -> bool {
        self.errors.is_empty()
    }
}

/// What the release expects the artifact to be.
pub struct Expected<'a> {
    pub name: &'a str,
    pub version: &'a Version,
}

/// Checks an artifact; `expected` adds the name/version-vs-tag checks.
pub fn check(_artifact: &Artifact, _expected: Option<&Expected<'_>>) -> CheckReport {
    todo!()
}

/// Inspects and checks a file; an unreadable file is a report error.
pub fn check_path(_path: &Path, _expected: Option<&Expected<'_>>) -> CheckReport {
    todo!()
}
