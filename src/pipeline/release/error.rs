//! Why a release stopped, each with what to do next.

use crate::ledger::LedgerError;
use crate::pipeline::attest::AttestationError;
use crate::pipeline::build::BuildError;
use crate::pipeline::check::CheckReport;
use crate::pipeline::install_check::InstallCheckError;
use crate::pipeline::verify::VerifyError;
use crate::repository::RepositoryError;

/// Why a release stopped, each with what to do next; nothing is half done
/// that a rerun would not finish.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error("{tag} cannot be released:\n{failures}")]
    PlanFailed { tag: String, failures: String },
    #[error("unknown repository `{0}`")]
    UnknownRepository(String),
    #[error("no token for `{package}` on {repository}: {help}")]
    NoToken {
        package: String,
        repository: String,
        help: String,
    },
    #[error(
        "the token from {source_name} cannot publish this release: {refusal}. Nothing was built or uploaded"
    )]
    TokenRefused {
        source_name: String,
        refusal: String,
    },
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error("the built files did not pass the checks, so nothing was uploaded:\n{}", format_reports(.0))]
    Check(Vec<CheckReport>),
    #[error(
        "{repository} already has {file} with other bytes (sha256 {index_sha256}, ours {sha256}). A version can be published only once: bump the version in pyproject.toml and create a new tag. Nothing was uploaded"
    )]
    VersionConflict {
        repository: String,
        file: String,
        sha256: String,
        index_sha256: String,
    },
    #[error("cannot reach {repository} before uploading, so nothing was uploaded")]
    Index {
        repository: String,
        #[source]
        source: Box<RepositoryError>,
    },
    #[error(transparent)]
    Upload(Box<IncompleteUpload>),
    #[error(transparent)]
    Verify(#[from] VerifyError),
    #[error(
        "{package} {version} is published on {repository}, but installing it from there failed. Fix the package or its dependencies and publish a new version; `tagpub release {tag}` checks the install again"
    )]
    Install {
        package: String,
        version: String,
        repository: String,
        tag: String,
        #[source]
        source: Box<InstallCheckError>,
    },
    #[error(
        "{tag} moved while it was being released (it pointed at {expected}, now {}), so nothing more was uploaded. A published version is never republished from another commit: if the new commit is the release, bump the version and tag it anew",
        .found.as_deref().unwrap_or("nothing: the tag was deleted")
    )]
    TagMoved {
        tag: String,
        expected: String,
        found: Option<String>,
    },
    #[error(
        "{failed} of the {total} packages of {group} failed before anything was uploaded:\n{failures}"
    )]
    MembersFailed {
        group: String,
        failed: usize,
        total: usize,
        failures: String,
    },
    #[error(transparent)]
    FileWindowClosed(Box<ClosedWindow>),
    #[error("an attestation beside the built files would be refused, so nothing was uploaded")]
    Attestation(#[from] AttestationError),
    #[error(
        "{files} {has} PEP 740 attestations ({paths}), and {repository} takes attestations only with a trusted-publishing token, but the credential here is {credential}. Nothing was uploaded. Publish from CI with trusted publishing (`tagpub ci github` or `tagpub ci gitlab`), or remove the attestation files to upload without them"
    )]
    AttestationsNeedTrustedPublishing {
        files: String,
        has: &'static str,
        paths: String,
        repository: String,
        credential: String,
    },
    #[error(transparent)]
    ProvenanceLost(Box<LostProvenance>),
    #[error(transparent)]
    Member(Box<MemberFailed>),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

/// An upload failed part-way: what is on the index and what is not.
#[derive(Debug, thiserror::Error)]
#[error(
    "uploading {file} to {repository} failed. The release is incomplete. On the index: {uploaded}. Missing: {missing}. Fix the cause below and run `tagpub release {tag}` again: it uploads only the missing files"
)]
pub struct IncompleteUpload {
    pub repository: String,
    pub file: String,
    pub tag: String,
    pub uploaded: String,
    pub missing: String,
    #[source]
    pub source: RepositoryError,
}

/// A release older than the index's window for new files.
#[derive(Debug, thiserror::Error)]
#[error(
    "{repository} takes no more files for {package} {version}: its first file was uploaded {first}, more than {days} days ago, and PyPI adds nothing to a release after that (since July 2026). Nothing was uploaded; {missing} cannot join this release. Publish the change as a new version: bump it and tag again"
)]
pub struct ClosedWindow {
    pub repository: String,
    pub package: String,
    pub version: String,
    pub first: String,
    pub days: u64,
    pub missing: String,
}

/// Files without attestations after a release that had them.
#[derive(Debug, thiserror::Error)]
#[error(
    "{package} {attested_version} on {repository} was published with PEP 740 attestations ({attested} of its {total} files), and {files} {has} none: {repository} would show {package} {version} as having {effect} provenance. Nothing was uploaded. Publish through trusted publishing from CI, which attests every file (`tagpub ci github` or `tagpub ci gitlab`, and `trigger = \"push\"` for this package), or pass --allow-unattested (or set allow-unattested = true) to publish without attestations"
)]
pub struct LostProvenance {
    pub repository: String,
    pub package: String,
    pub version: String,
    pub attested_version: String,
    pub attested: usize,
    pub total: usize,
    pub files: String,
    pub has: &'static str,
    /// `lost` (after an attested release) or `partial` (mixed in one).
    pub effect: &'static str,
}

/// A group release stopped at one member: which members are done.
#[derive(Debug, thiserror::Error)]
#[error(
    "{package} failed. The release of {group} is incomplete. Published and verified: {done}. Not yet: {pending}. Run `tagpub release {tag}` again: it finishes only what is missing"
)]
pub struct MemberFailed {
    pub tag: String,
    pub group: String,
    pub package: String,
    pub done: String,
    pub pending: String,
    #[source]
    pub source: ReleaseError,
}

fn format_reports(reports: &[CheckReport]) -> String {
    reports
        .iter()
        .filter(|r| !r.errors.is_empty())
        .map(|r| format!("  ✗ {}: {}", r.file, r.errors.join("; ")))
        .collect::<Vec<_>>()
        .join("\n")
}
