//! `tagpub rebuild`: build a published release again from its tag, exactly
//! as `release` builds it (`build::PlanBuild`), and compare the files with
//! the ones the index serves: which files only one side has, and for each
//! file whose bytes differ, the members that differ (only in one, content,
//! timestamp, mode, owner), archive-level differences, and a line diff of
//! the core metadata. Nothing is recorded in the release ledger and nothing
//! is uploaded.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::dirs::Dirs;
use crate::dist::filename::{parse_sdist_filename, parse_wheel_filename};
use crate::dist::hash::sha256_file;
use crate::git::Repo;
use crate::pipeline::build::{self, BuildError, PlanBuild};
use crate::pipeline::check::MAX_METADATA_BYTES;
use crate::pipeline::resolve::Plan;
use crate::pipeline::upload::open_repository;
use crate::report::Reporter;
use crate::repository::{IndexedFile, RepositoryError};
use crate::version::Version;

/// Why a rebuild could not compare (as opposed to finding differences).
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error("unknown repository `{0}`: name one from tagpub.toml, `pypi` or `local`")]
    UnknownRepository(String),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error("cannot read {package}'s files on {repository}")]
    Index {
        package: String,
        repository: String,
        #[source]
        source: Box<RepositoryError>,
    },
    #[error("cannot unpack {file} to compare it: it is not a readable {kind}")]
    Unpack {
        file: String,
        kind: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

/// How one release's rebuild compares with the index.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub tag: String,
    pub package: String,
    pub version: String,
    pub repository: String,
    /// Every file on both sides with the same sha256.
    pub identical: bool,
    /// SOURCE_DATE_EPOCH of the rebuild and why.
    pub source_date_epoch: String,
    pub files: Vec<FileComparison>,
}

/// How one file of the release compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Identical,
    Differs,
    /// Built from the tag, not on the index.
    BuiltOnly,
    /// On the index, not built from the tag.
    IndexOnly,
}

/// One file, built here and/or on the index, compared.
#[derive(Debug, Clone, Serialize)]
pub struct FileComparison {
    pub filename: String,
    pub outcome: Outcome,
    pub built_sha256: Option<String>,
    pub index_sha256: Option<String>,
    /// For a file that differs: its members that differ.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<MemberDifference>,
    /// For a file that differs: differences of the archive itself (gzip
    /// header, member order).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub archive: Vec<String>,
    /// A unified diff (index → built) of METADATA / PKG-INFO when it differs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub metadata_diff: Vec<String>,
}

/// What differs in one member of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DifferenceKind {
    BuiltOnly,
    IndexOnly,
    Content,
    Timestamp,
    Mode,
    Owner,
}

impl DifferenceKind {
    /// The kind as printed (`built only`, `content`, …).
    pub fn label(self) -> &'static str {
        match self {
            DifferenceKind::BuiltOnly => "built only",
            DifferenceKind::IndexOnly => "index only",
            DifferenceKind::Content => "content",
            DifferenceKind::Timestamp => "timestamp",
            DifferenceKind::Mode => "mode",
            DifferenceKind::Owner => "owner",
        }
    }
}

/// One way one member differs; `index`/`built` say how, where it applies.
#[derive(Debug, Clone, Serialize)]
pub struct MemberDifference {
    pub member: String,
    pub kind: DifferenceKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub built: Option<String>,
}

/// Builds a published release again from its tag and compares it with the
/// index's files ([`Rebuild::compare`]).
pub struct Rebuild<'a> {
    pub repo: &'a Repo,
    pub config: &'a Config,
    pub dirs: &'a Dirs,
    pub reporter: &'a dyn Reporter,
}

impl Rebuild<'_> {
    /// Builds `plan`'s release into a temporary directory and compares it
    /// with the index's files of the same name and version.
    pub fn compare(&self, plan: &Plan) -> Result<Comparison, RebuildError> {
        let repository = plan
            .target
            .as_ref()
            .and_then(|target| open_repository(target, self.dirs))
            .ok_or_else(|| RebuildError::UnknownRepository(plan.repository.clone()))?;
        let index_error = |source| RebuildError::Index {
            package: plan.package.clone(),
            repository: plan.repository.clone(),
            source: Box::new(source),
        };
        self.reporter.step(&format!(
            "listing {} {} on {}",
            plan.package, plan.version, plan.repository
        ));
        let listed: Vec<IndexedFile> = repository
            .list_files(&plan.package)
            .map_err(index_error)?
            .into_iter()
            .filter(|file| file_version(&file.filename).as_ref() == Some(&plan.version))
            .collect();

        let work = tempfile::Builder::new()
            .prefix("tagpub-rebuild-")
            .tempdir()
            .map_err(io_error(
                "cannot create a temporary directory for the rebuild",
            ))?;
        let (dist, log, index_dir) = (
            work.path().join("dist"),
            work.path().join("build.log"),
            work.path().join("index"),
        );
        std::fs::create_dir_all(&index_dir)
            .map_err(io_error(format!("cannot create {}", index_dir.display())))?;
        let how = PlanBuild::prepare(self.repo, self.config, plan, None)?;
        self.reporter.info(&format!(
            "SOURCE_DATE_EPOCH: {} ({})",
            how.epoch
                .value
                .map_or_else(|| "unset".to_string(), |v| v.to_string()),
            how.epoch.origin
        ));
        let built = match build::build_commit(
            self.repo,
            &plan.package_config,
            &plan.commit,
            &how.settings(plan, &dist, &log),
            self.reporter,
            Some(&self.dirs.checkouts()),
        ) {
            Ok(built) => built,
            Err(err) => {
                // The error names the build log: keep it.
                let _ = work.keep();
                return Err(err.into());
            }
        };

        let mut built_files = BTreeMap::new();
        for path in built {
            let name = file_name(&path);
            built_files.insert(name, path);
        }
        let mut index_files = BTreeMap::new();
        for file in &listed {
            let dest = index_dir.join(&file.filename);
            self.reporter.step(&format!(
                "downloading {} from {}",
                file.filename, plan.repository
            ));
            repository.download(file, &dest).map_err(index_error)?;
            index_files.insert(file.filename.clone(), dest);
        }

        let names: BTreeSet<&String> = built_files.keys().chain(index_files.keys()).collect();
        let mut files = Vec::new();
        for name in names {
            files.push(compare_file(
                name,
                built_files.get(name).map(PathBuf::as_path),
                index_files.get(name).map(PathBuf::as_path),
            )?);
        }
        Ok(Comparison {
            tag: plan.tag.clone(),
            package: plan.package.clone(),
            version: plan.version.to_string(),
            repository: plan.repository.clone(),
            identical: files.iter().all(|f| f.outcome == Outcome::Identical),
            source_date_epoch: format!(
                "{} ({})",
                how.epoch
                    .value
                    .map_or_else(|| "unset".to_string(), |v| v.to_string()),
                how.epoch.origin
            ),
            files,
        })
    }
}

fn io_error(context: impl Into<String>) -> impl FnOnce(io::Error) -> RebuildError {
    let context = context.into();
    move |source| RebuildError::Io { context, source }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The version a distribution's file name gives (`None`: not a wheel or
/// sdist, or no PEP 440 version).
fn file_version(filename: &str) -> Option<Version> {
    let text = if filename.ends_with(".whl") {
        parse_wheel_filename(filename).ok()?.version
    } else {
        parse_sdist_filename(filename).ok()?.version
    };
    Version::from_str(&text).ok()
}

/// Compares one file name's two sides (either may be missing).
pub fn compare_file(
    filename: &str,
    built: Option<&Path>,
    index: Option<&Path>,
) -> Result<FileComparison, RebuildError> {
    let sha = |path: Option<&Path>| -> Result<Option<String>, RebuildError> {
        path.map(|p| sha256_file(p).map_err(io_error(format!("cannot read {}", p.display()))))
            .transpose()
    };
    let (built_sha256, index_sha256) = (sha(built)?, sha(index)?);
    let mut comparison = FileComparison {
        filename: filename.to_string(),
        outcome: Outcome::Identical,
        built_sha256,
        index_sha256,
        members: Vec::new(),
        archive: Vec::new(),
        metadata_diff: Vec::new(),
    };
    let (Some(built), Some(index)) = (built, index) else {
        comparison.outcome = if built.is_some() {
            Outcome::BuiltOnly
        } else {
            Outcome::IndexOnly
        };
        return Ok(comparison);
    };
    if comparison.built_sha256 == comparison.index_sha256 {
        return Ok(comparison);
    }
    comparison.outcome = Outcome::Differs;
    let theirs = unpack(index)?;
    let ours = unpack(built)?;
    let names: BTreeSet<&String> = theirs.members.keys().chain(ours.members.keys()).collect();
    for name in names {
        let difference = |kind, index: Option<String>, built: Option<String>| MemberDifference {
            member: name.clone(),
            kind,
            index,
            built,
        };
        match (theirs.members.get(name), ours.members.get(name)) {
            (Some(_), None) => {
                comparison
                    .members
                    .push(difference(DifferenceKind::IndexOnly, None, None))
            }
            (None, Some(_)) => {
                comparison
                    .members
                    .push(difference(DifferenceKind::BuiltOnly, None, None))
            }
            (Some(a), Some(b)) => {
                if a.sha256 != b.sha256 {
                    comparison.members.push(difference(
                        DifferenceKind::Content,
                        Some(format!("sha256 {}", &a.sha256[..12])),
                        Some(format!("sha256 {}", &b.sha256[..12])),
                    ));
                    if let (Some(x), Some(y)) = (&a.metadata, &b.metadata) {
                        comparison.metadata_diff = line_diff(x, y);
                    }
                }
                if a.time != b.time {
                    comparison.members.push(difference(
                        DifferenceKind::Timestamp,
                        Some(a.time.clone()),
                        Some(b.time.clone()),
                    ));
                }
                if a.mode != b.mode {
                    let octal = |m: Option<u32>| m.map_or("none".into(), |m| format!("{m:o}"));
                    comparison.members.push(difference(
                        DifferenceKind::Mode,
                        Some(octal(a.mode)),
                        Some(octal(b.mode)),
                    ));
                }
                if a.owner != b.owner {
                    comparison.members.push(difference(
                        DifferenceKind::Owner,
                        Some(a.owner.clone()),
                        Some(b.owner.clone()),
                    ));
                }
            }
            (None, None) => {}
        }
    }
    for ((what, a), (_, b)) in theirs.header.iter().zip(&ours.header) {
        if a != b {
            comparison
                .archive
                .push(format!("{what}: index {a}, built {b}"));
        }
    }
    if comparison.members.is_empty() && theirs.order != ours.order {
        comparison
            .archive
            .push("the members are in another order".to_string());
    }
    if comparison.members.is_empty() && comparison.archive.is_empty() {
        comparison.archive.push(
            "every member, time and mode is the same: the compression or the archive's own headers differ"
                .to_string(),
        );
    }
    Ok(comparison)
}

/// `index` → `built`, unified, 2 lines of context.
fn line_diff(index: &str, built: &str) -> Vec<String> {
    similar::TextDiff::from_lines(index, built)
        .unified_diff()
        .context_radius(2)
        .header("index", "built")
        .to_string()
        .lines()
        .map(str::to_string)
        .collect()
}

/// One archive member as far as the comparison cares.
struct Member {
    sha256: String,
    time: String,
    mode: Option<u32>,
    owner: String,
    /// The text of the core metadata file (METADATA / PKG-INFO).
    metadata: Option<String>,
}

struct Unpacked {
    members: BTreeMap<String, Member>,
    order: Vec<String>,
    /// Archive-level fields, the same names in the same order for both
    /// sides of one kind (gzip header mtime, file name).
    header: Vec<(&'static str, String)>,
}

/// The core metadata: `*.dist-info/METADATA` of a wheel, `top/PKG-INFO`
/// of an sdist.
fn is_core_metadata(name: &str) -> bool {
    match name.split_once('/') {
        Some((top, rest)) => {
            (top.ends_with(".dist-info") && rest == "METADATA") || rest == "PKG-INFO"
        }
        None => false,
    }
}

/// Reads `reader` to its end (at most `MAX_UNPACKED_BYTES` in all, a bomb
/// guard) and returns its sha256, and its text when `keep` (capped).
fn digest(
    reader: &mut dyn Read,
    keep: bool,
    budget: &mut u64,
) -> io::Result<(String, Option<String>)> {
    let mut hasher = Sha256::new();
    let mut kept = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        *budget = budget
            .checked_sub(n as u64)
            .ok_or_else(|| io::Error::other("it unpacks to more than 4 GiB"))?;
        hasher.update(&buf[..n]);
        if keep && (kept.len() as u64) < MAX_METADATA_BYTES {
            kept.extend_from_slice(&buf[..n]);
        }
    }
    let text = keep.then(|| String::from_utf8_lossy(&kept).into_owned());
    Ok((hex::encode(hasher.finalize()), text))
}

const MAX_UNPACKED: u64 = 4 * 1024 * 1024 * 1024;

fn unpack(path: &Path) -> Result<Unpacked, RebuildError> {
    let name = file_name(path);
    if name.ends_with(".whl") || name.ends_with(".zip") {
        unpack_zip(path).map_err(|source| RebuildError::Unpack {
            file: name,
            kind: "zip archive",
            source,
        })
    } else {
        unpack_tar_gz(path).map_err(|source| RebuildError::Unpack {
            file: name,
            kind: "tar.gz archive",
            source,
        })
    }
}

fn unpack_zip(path: &Path) -> io::Result<Unpacked> {
    let mut archive =
        zip::ZipArchive::new(BufReader::new(File::open(path)?)).map_err(io::Error::other)?;
    let mut unpacked = Unpacked {
        members: BTreeMap::new(),
        order: Vec::new(),
        header: vec![("archive comment", String::new())],
    };
    unpacked.header[0].1 = String::from_utf8_lossy(archive.comment()).into_owned();
    let mut budget = MAX_UNPACKED;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(io::Error::other)?;
        let name = entry.name().to_string();
        let time = entry.last_modified().map_or_else(
            || "none".to_string(),
            |t| {
                format!(
                    "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                    t.year(),
                    t.month(),
                    t.day(),
                    t.hour(),
                    t.minute(),
                    t.second()
                )
            },
        );
        let mode = entry.unix_mode();
        let (sha256, metadata) = digest(&mut entry, is_core_metadata(&name), &mut budget)?;
        unpacked.order.push(name.clone());
        unpacked.members.insert(
            name,
            Member {
                sha256,
                time,
                mode,
                owner: String::new(),
                metadata,
            },
        );
    }
    Ok(unpacked)
}

fn unpack_tar_gz(path: &Path) -> io::Result<Unpacked> {
    let gz = flate2::read::GzDecoder::new(BufReader::new(File::open(path)?));
    let mut archive = tar::Archive::new(gz);
    let mut unpacked = Unpacked {
        members: BTreeMap::new(),
        order: Vec::new(),
        header: Vec::new(),
    };
    let mut budget = MAX_UNPACKED;
    for entry in archive.entries()? {
        let mut entry = entry?;
        let name = entry.path()?.to_string_lossy().into_owned();
        let head = entry.header().clone();
        // A pax `mtime` (fractional seconds) overrides the header's.
        let pax_mtime = entry.pax_extensions()?.and_then(|records| {
            records.flatten().find_map(|r| {
                (r.key().ok()? == "mtime").then(|| r.value().ok().map(str::to_string))?
            })
        });
        let time = match pax_mtime {
            Some(pax) => format!("{pax} (pax)"),
            None => head.mtime().map_or("unreadable".into(), unix_time),
        };
        let owner = format!(
            "{}:{} ({}:{})",
            head.uid().unwrap_or(0),
            head.gid().unwrap_or(0),
            head.username().ok().flatten().unwrap_or(""),
            head.groupname().ok().flatten().unwrap_or("")
        );
        let (sha256, metadata) = match entry.link_name()? {
            // A link's content is its target.
            Some(target) => (
                hex::encode(Sha256::digest(target.to_string_lossy().as_bytes())),
                None,
            ),
            None => digest(&mut entry, is_core_metadata(&name), &mut budget)?,
        };
        unpacked.order.push(name.clone());
        unpacked.members.insert(
            name,
            Member {
                sha256,
                time,
                mode: head.mode().ok(),
                owner,
                metadata,
            },
        );
    }
    let gz = archive.into_inner();
    let header = gz.header();
    unpacked.header = vec![
        (
            "gzip header mtime",
            header.map_or("none".into(), |h| unix_time(u64::from(h.mtime()))),
        ),
        (
            "gzip header file name",
            header
                .and_then(|h| h.filename())
                .map_or("none".into(), |n| String::from_utf8_lossy(n).into_owned()),
        ),
    ];
    Ok(unpacked)
}

fn unix_time(seconds: u64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds);
    format!("{} ({seconds})", humantime::format_rfc3339_seconds(at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_metadata_members() {
        assert!(is_core_metadata("pkg-1.0.dist-info/METADATA"));
        assert!(is_core_metadata("pkg-1.0/PKG-INFO"));
        assert!(!is_core_metadata("pkg-1.0/src/pkg.egg-info/PKG-INFO"));
        assert!(!is_core_metadata("PKG-INFO"));
    }

    #[test]
    fn versions_from_file_names() {
        let v = |s: &str| Version::from_str(s).unwrap();
        assert_eq!(file_version("a_b-1.0-py3-none-any.whl"), Some(v("1.0")));
        assert_eq!(file_version("a-b-1.0.0.tar.gz"), Some(v("1.0")));
        assert_eq!(file_version("a-1.0.egg"), None);
    }

    #[test]
    fn the_metadata_diff_shows_changed_lines() {
        let diff = line_diff("Name: a\nVersion: 1.0\n", "Name: a\nVersion: 1.0.post1\n");
        assert!(diff.contains(&"-Version: 1.0".to_string()), "{diff:?}");
        assert!(
            diff.contains(&"+Version: 1.0.post1".to_string()),
            "{diff:?}"
        );
    }
}
