//! What a distribution file is, apart from any check or index: its kind,
//! its file name's parts (`filename`), its core metadata (`metadata`), its
//! digests (`hash`), and [`Artifact`], a built file opened and read. A leaf:
//! `pipeline::check` decides whether a file is fit to upload, `repository`
//! uploads one; both take these types from here.

pub mod filename;
pub mod hash;
pub mod metadata;

use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ArtifactKind {
    Sdist,
    Wheel,
}

impl ArtifactKind {
    /// Decides the kind from the file name alone (no I/O).
    pub fn from_filename(filename: &str) -> Option<ArtifactKind> {
        if filename.ends_with(".whl") {
            Some(ArtifactKind::Wheel)
        } else if filename.ends_with(".tar.gz") || filename.ends_with(".zip") {
            Some(ArtifactKind::Sdist)
        } else {
            None
        }
    }
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
    /// Parses RFC 822-style core metadata (see `metadata.rs`).
    pub fn parse(bytes: &[u8]) -> Result<Metadata, MetadataParseError> {
        metadata::parse(bytes)
    }

    /// First value of a header (case-insensitive name).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
    /// All values of a multi-use header.
    pub fn get_all(&self, name: &str) -> Vec<&str> {
        self.fields
            .iter()
            .filter(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
            .collect()
    }
}

/// Why a metadata file could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataParseError {
    #[error("it is not valid UTF-8 (byte offset {offset})")]
    NotUtf8 { offset: usize },
    #[error("line {line} is neither a `Key: value` header nor a continuation line")]
    MalformedLine { line: usize },
    #[error("line {line} is a continuation line but no header precedes it")]
    OrphanContinuation { line: usize },
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
