//! Native checks of built artifacts: what `twine check --strict` checks and
//! what PyPI refuses at upload that twine misses.
//!
//! [`inspect_all`] opens a wheel or sdist without extracting it: core
//! metadata, digests, archive safety, WHEEL/RECORD (every hash verified).
//! [`check_paths`] runs the independent rules of `check/rules.rs` over each
//! (adding a check means adding one function to `RULES`), then renders every
//! reStructuredText description of the run in one go (`check/rst.rs`).

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use crate::dist::filename::{FilenameError, parse_sdist_filename, parse_wheel_filename};
use crate::dist::hash::digests;
use crate::dist::{Artifact, ArtifactKind, MetadataParseError};
use crate::version::Version;

mod archive;
mod classifiers;
mod contents;
mod fields;
mod member;
mod platform;
mod record;
mod rst;
mod rst_native;
mod rules;
#[cfg(test)]
mod tests;
mod zipframe;

pub use rst::{RstChoice, RstEngine, RstError};

/// Most core metadata we will read from an archive member; a real METADATA
/// with a long README is tens of KiB, so this only stops zip/gzip bombs.
pub const MAX_METADATA_BYTES: u64 = 10 * 1024 * 1024;

/// Why a file could not be opened as a distribution at all (each is a
/// failure of the rule [`CheckError::rule`] names).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(
        "`{filename}` is not a supported artifact: expected a wheel (`.whl`), an sdist \
         (`.tar.gz`) or a legacy zip sdist (`.zip`); remove it from the output directory"
    )]
    UnsupportedKind { filename: String },
    #[error("`{filename}` is not a valid {kind} file name: {reason}; rename it or fix the build")]
    InvalidFilename {
        filename: String,
        kind: &'static str,
        reason: String,
    },
    #[error("cannot read `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("`{filename}` is not a readable {format} archive ({detail}); rebuild it")]
    NotAnArchive {
        filename: String,
        format: &'static str,
        detail: String,
    },
    #[error(
        "`{filename}` has no `{wanted}`; the build backend did not write core metadata, rebuild it"
    )]
    MetadataMissing { filename: String, wanted: String },
    #[error(
        "`{filename}` has several metadata files ({}); a wheel must have exactly one \
         top-level `.dist-info` directory, rebuild from a clean build directory",
        found.join(", ")
    )]
    AmbiguousMetadata {
        filename: String,
        found: Vec<String>,
    },
    #[error(
        "`{filename}` contains `{found}` but its file name says it should be `{wanted}`; \
         the archive was renamed or built wrong, rebuild it"
    )]
    LayoutMismatch {
        filename: String,
        found: String,
        wanted: String,
    },
    #[error(
        "`{filename}` must unpack into a single top-level directory but has {}; rebuild it",
        found.join(", ")
    )]
    NotSingleTopLevel {
        filename: String,
        found: Vec<String>,
    },
    #[error(
        "`{member}` in `{filename}` is larger than {limit} bytes; \
         this is not a real metadata file, rebuild the artifact"
    )]
    MetadataTooLarge {
        filename: String,
        member: String,
        limit: u64,
    },
    #[error(
        "`{filename}` unpacks to {unpacked} bytes from {packed}: a compression bomb, not a \
         package; refused without unpacking it"
    )]
    CompressionBomb {
        filename: String,
        unpacked: u64,
        packed: u64,
    },
    #[error(
        "`{member}` in `{filename}` cannot be parsed: {reason}; rebuild with a current build backend"
    )]
    MalformedMetadata {
        filename: String,
        member: String,
        /// A detail of the message (a line number), not a cause of its own.
        reason: MetadataParseError,
    },
}

impl From<FilenameError> for CheckError {
    fn from(err: FilenameError) -> CheckError {
        CheckError::InvalidFilename {
            filename: err.filename,
            kind: err.kind,
            reason: err.reason,
        }
    }
}

impl CheckError {
    /// The rule a file that cannot be read at all fails.
    pub fn rule(&self) -> &'static str {
        match self {
            CheckError::UnsupportedKind { .. } => "file-extension",
            CheckError::InvalidFilename { .. } => "filename-valid",
            CheckError::Io { .. } => "readable",
            CheckError::NotAnArchive { .. } => "archive-readable",
            CheckError::MetadataMissing { .. } => "metadata-present",
            CheckError::AmbiguousMetadata { .. } => "one-dist-info",
            CheckError::LayoutMismatch { .. } => "archive-layout",
            CheckError::NotSingleTopLevel { .. } => "sdist-top-level",
            CheckError::MetadataTooLarge { .. } => "metadata-size",
            CheckError::CompressionBomb { .. } => "compression-bomb",
            CheckError::MalformedMetadata { .. } => "metadata-parses",
        }
    }
}

/// Opens an artifact and reads its metadata and digests.
pub fn inspect(path: &Path) -> Result<Artifact, CheckError> {
    inspect_all(path).map(|inspected| inspected.artifact)
}

/// An artifact with what only reading its archive tells.
#[derive(Debug, Clone)]
pub struct Inspected {
    pub artifact: Artifact,
    /// Problems found while reading the archive without stopping (unsafe
    /// members, missing WHEEL/RECORD, RECORD mismatches); each is an error.
    pub problems: Vec<Problem>,
    /// The long description as the index receives it: the body, or the
    /// `Description` header with its continuation lines as they are.
    pub description: Option<String>,
}

impl Inspected {
    /// For an artifact read elsewhere: no archive problems, and the
    /// description from the parsed fields.
    pub fn from_artifact(artifact: Artifact) -> Inspected {
        let description = artifact
            .metadata
            .body
            .clone()
            .or_else(|| artifact.metadata.get("Description").map(str::to_string));
        Inspected {
            artifact,
            problems: Vec::new(),
            description,
        }
    }
}

/// [`inspect`] plus archive problems and the description as the index sees it.
pub fn inspect_all(path: &Path) -> Result<Inspected, CheckError> {
    inspect_with(path, true)
}

/// `with_digests: false` leaves `sha256`/`blake2_256` empty: checking does
/// not need them (uploading does), and hashing every byte twice is a fifth
/// of a check's time.
fn inspect_with(path: &Path, with_digests: bool) -> Result<Inspected, CheckError> {
    let filename = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    // Decide from the name first so an unknown file fails before any I/O.
    let kind =
        ArtifactKind::from_filename(&filename).ok_or_else(|| CheckError::UnsupportedKind {
            filename: filename.clone(),
        })?;
    let pyversion = match kind {
        ArtifactKind::Wheel => parse_wheel_filename(&filename)?.python_tag,
        ArtifactKind::Sdist => {
            parse_sdist_filename(&filename)?;
            "source".to_string()
        }
    };
    let io_error = |source| CheckError::Io {
        path: path.to_path_buf(),
        source,
    };
    let (sha256, blake2_256) = if with_digests {
        digests(File::open(path).map_err(io_error)?).map_err(io_error)?
    } else {
        (String::new(), String::new())
    };
    let file = File::open(path).map_err(io_error)?;
    let ((metadata, raw), mut problems) = match kind {
        ArtifactKind::Wheel => archive::wheel_metadata(file, &filename)?,
        ArtifactKind::Sdist if filename.ends_with(".zip") => {
            archive::zip_sdist_metadata(file, &filename)?
        }
        ArtifactKind::Sdist => archive::tar_sdist_metadata(file, &filename)?,
    };
    // packaging keeps a folded Summary's line break, then refuses it.
    if raw
        .folded
        .iter()
        .any(|key| key.eq_ignore_ascii_case("summary"))
    {
        problems.push(Problem::new(
            "summary-single-line",
            "`Summary` spans several lines; it must be a single line, shorten \
             `project.description`"
                .to_string(),
        ));
    }
    let description = metadata.body.clone().or(raw.description);
    Ok(Inspected {
        artifact: Artifact {
            path: path.to_path_buf(),
            filename,
            kind,
            metadata,
            sha256,
            blake2_256,
            pyversion,
        },
        problems,
        description,
    })
}

/// One error of a check, with the name of the rule that found it (the
/// README's `tagpub check` section lists every rule and its source).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Failure {
    pub rule: &'static str,
    pub message: String,
}

/// The outcome of checking one file.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CheckReport {
    pub file: String,
    /// The messages of `failures`, in order (what the text output prints).
    /// Only [`CheckReport::fail`] adds to it, so each has a rule.
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
    /// Every error with its rule name (`tagpub check --json`).
    pub failures: Vec<Failure>,
}

impl CheckReport {
    /// No errors (warnings do not block a release).
    pub fn ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// Records an error found by `rule`.
    pub fn fail(&mut self, rule: &'static str, message: String) {
        self.errors.push(message.clone());
        self.failures.push(Failure { rule, message });
    }

    /// A file that could not be opened or read as an archive.
    pub fn unreadable(path: &Path, err: &dyn std::error::Error) -> CheckReport {
        CheckReport::unreadable_by(path, "readable", err)
    }

    fn unreadable_by(path: &Path, rule: &'static str, err: &dyn std::error::Error) -> CheckReport {
        let mut report = CheckReport {
            file: path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_else(|| path.display().to_string()),
            ..CheckReport::default()
        };
        report.fail(rule, crate::exit::chain_text(err));
        report
    }
}

/// A problem found while reading an archive (it does not stop the reading).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub rule: &'static str,
    pub message: String,
}

impl Problem {
    pub(crate) fn new(rule: &'static str, message: String) -> Problem {
        Problem { rule, message }
    }
}

/// What the release expects the artifact to be.
pub struct Expected<'a> {
    pub name: &'a str,
    pub version: &'a Version,
}

/// How strict a check run is, and which RST engine it uses.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckOptions {
    /// twine's `--strict`: a missing long description or content type is an
    /// error, not a warning.
    pub strict: bool,
    pub rst: RstChoice,
}

/// Checks an artifact's metadata (no archive problems, no RST rendering:
/// use [`check_paths`] for the whole check); `expected` adds the
/// name/version-vs-tag checks.
pub fn check(artifact: &Artifact, expected: Option<&Expected<'_>>) -> CheckReport {
    rules::run(
        &Inspected::from_artifact(artifact.clone()),
        expected,
        &CheckOptions::default(),
    )
}

/// The reports of one check run, and the RST engine if any description
/// needed one.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckRun {
    pub reports: Vec<CheckReport>,
    pub rst_engine: Option<RstEngine>,
}

/// Whether twine (and PyPI) renders this description as reStructuredText:
/// `text/x-rst`, or no content type at all (twine's default).
fn renders_as_rst(inspected: &Inspected) -> bool {
    let content_type = inspected
        .artifact
        .metadata
        .get("Description-Content-Type")
        .map(|value| {
            value
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    let described = inspected
        .description
        .as_deref()
        .is_some_and(|text| !text.is_empty() && text.trim_end() != "UNKNOWN");
    described && matches!(content_type.as_deref(), None | Some("text/x-rst"))
}

/// Inspects and checks every file, then renders all reStructuredText
/// descriptions together (one Python process at most, only if any).
pub fn check_paths(
    paths: &[PathBuf],
    expected: Option<&Expected<'_>>,
    options: &CheckOptions,
) -> Result<CheckRun, RstError> {
    let mut reports = Vec::new();
    let mut rst: Vec<(usize, String)> = Vec::new();
    for (path, inspected) in paths.iter().zip(inspect_many(paths)) {
        match inspected {
            Ok(inspected) => {
                if renders_as_rst(&inspected) {
                    rst.push((
                        reports.len(),
                        inspected.description.clone().unwrap_or_default(),
                    ));
                }
                reports.push(rules::run(&inspected, expected, options));
            }
            Err(err) => reports.push(CheckReport::unreadable_by(path, err.rule(), &err)),
        }
    }
    let mut rst_engine = None;
    if !rst.is_empty() {
        // An sdist and its wheels carry the same README: render each text once.
        let mut texts: Vec<&str> = rst.iter().map(|(_, text)| text.as_str()).collect();
        texts.sort_unstable();
        texts.dedup();
        let (engine, results) = rst::render_all(&texts, options.rst)?;
        for (index, text) in &rst {
            let position = texts
                .binary_search(&text.as_str())
                .expect("every text was rendered");
            let messages = &results[position];
            if !messages.is_empty() {
                reports[*index].fail(
                    "description-renders",
                    format!(
                        "the long description is reStructuredText that does not render, so PyPI \
                     would show it as plain text ({engine}): {}; fix the README (or set its \
                     content type to text/markdown if it is Markdown)",
                        messages.join("; ")
                    ),
                );
            }
        }
        rst_engine = Some(engine);
    }
    Ok(CheckRun {
        reports,
        rst_engine,
    })
}

/// [`inspect_all`] of every path, on as many threads as there are cores
/// (reading archives and verifying RECORD hashes is the bulk of a check),
/// results in the order of `paths`.
fn inspect_many(paths: &[PathBuf]) -> Vec<Result<Inspected, CheckError>> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(paths.len());
    if workers <= 1 {
        return paths.iter().map(|path| inspect_with(path, false)).collect();
    }
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<Inspected, CheckError>>>> =
        Mutex::new((0..paths.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = paths.get(index) else { break };
                    let result = inspect_with(path, false);
                    results.lock().unwrap_or_else(|e| e.into_inner())[index] = Some(result);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|result| result.expect("every path was inspected"))
        .collect()
}

/// [`check_paths`] for one file, non-strict, the RST engine chosen by
/// `TAGPUB_RST` (auto when unset or unknown).
pub fn check_path(path: &Path, expected: Option<&Expected<'_>>) -> CheckReport {
    let options = CheckOptions {
        strict: false,
        rst: RstChoice::from_env().unwrap_or_default(),
    };
    match check_paths(&[path.to_path_buf()], expected, &options) {
        Ok(mut run) => run.reports.remove(0),
        Err(err) => CheckReport::unreadable(path, &err),
    }
}
