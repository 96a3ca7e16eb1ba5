//! Reading core metadata out of wheels and sdists without extracting them.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Component;
use std::str::FromStr;

use super::{CheckError, MAX_METADATA_BYTES, Metadata, parse_sdist_filename, parse_wheel_filename};
use crate::version::{Version, normalize_name};

/// Whether `found` (`{name}-{version}` as in a dist-info or sdist directory)
/// names the same project and version as the file name did.
fn same_name_version(found: &str, name: &str, version: &str) -> bool {
    let names_match = |n: &str| normalize_name(n) == normalize_name(name);
    let versions_match = |v: &str| match (Version::from_str(v), Version::from_str(version)) {
        (Ok(a), Ok(b)) => a == b,
        _ => v == version,
    };
    // Wheels escape `-` in the name (split at the first), older sdist
    // directories may keep it (split at the last, like the file name).
    [found.split_once('-'), found.rsplit_once('-')]
        .into_iter()
        .flatten()
        .any(|(n, v)| names_match(n) && versions_match(v))
}

fn not_an_archive(filename: &str, format: &'static str, detail: impl ToString) -> CheckError {
    CheckError::NotAnArchive {
        filename: filename.to_string(),
        format,
        detail: detail.to_string(),
    }
}

/// Reads one archive member, refusing more than [`MAX_METADATA_BYTES`].
fn read_capped(
    reader: impl Read,
    filename: &str,
    member: &str,
    format: &'static str,
) -> Result<Vec<u8>, CheckError> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_METADATA_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| not_an_archive(filename, format, format!("reading `{member}`: {err}")))?;
    if bytes.len() as u64 > MAX_METADATA_BYTES {
        return Err(CheckError::MetadataTooLarge {
            filename: filename.to_string(),
            member: member.to_string(),
            limit: MAX_METADATA_BYTES,
        });
    }
    Ok(bytes)
}

fn parse_member(bytes: &[u8], filename: &str, member: &str) -> Result<Metadata, CheckError> {
    Metadata::parse(bytes).map_err(|source| CheckError::MalformedMetadata {
        filename: filename.to_string(),
        member: member.to_string(),
        source,
    })
}

fn open_zip(file: File, filename: &str) -> Result<zip::ZipArchive<BufReader<File>>, CheckError> {
    zip::ZipArchive::new(BufReader::new(file)).map_err(|err| not_an_archive(filename, "zip", err))
}

fn read_zip_member(
    zip: &mut zip::ZipArchive<BufReader<File>>,
    filename: &str,
    member: &str,
) -> Result<Metadata, CheckError> {
    let entry = zip
        .by_name(member)
        .map_err(|err| not_an_archive(filename, "zip", format!("opening `{member}`: {err}")))?;
    let bytes = read_capped(entry, filename, member, "zip")?;
    parse_member(&bytes, filename, member)
}

/// `METADATA` from the wheel's one top-level `*.dist-info` directory.
pub(super) fn wheel_metadata(file: File, filename: &str) -> Result<Metadata, CheckError> {
    let wheel = parse_wheel_filename(filename)?;
    let mut zip = open_zip(file, filename)?;
    let mut candidates: Vec<String> = zip
        .file_names()
        .filter(|name| {
            name.split_once('/').is_some_and(|(dir, rest)| {
                dir.ends_with(".dist-info") && dir.len() > ".dist-info".len() && rest == "METADATA"
            })
        })
        .map(str::to_string)
        .collect();
    candidates.sort();
    candidates.dedup();
    let member = match candidates.as_slice() {
        [] => {
            return Err(CheckError::MetadataMissing {
                filename: filename.to_string(),
                wanted: format!("{}-{}.dist-info/METADATA", wheel.name, wheel.version),
            });
        }
        [one] => one.clone(),
        _ => {
            return Err(CheckError::AmbiguousMetadata {
                filename: filename.to_string(),
                found: candidates,
            });
        }
    };
    // pip refuses a wheel whose dist-info does not match its file name.
    let dir = member.trim_end_matches("/METADATA");
    let stem = dir.trim_end_matches(".dist-info");
    if !same_name_version(stem, &wheel.name, &wheel.version) {
        return Err(CheckError::LayoutMismatch {
            filename: filename.to_string(),
            found: format!("{dir}/"),
            wanted: format!("{}-{}.dist-info/", wheel.name, wheel.version),
        });
    }
    read_zip_member(&mut zip, filename, &member)
}

/// Top-level entries of an sdist: directories, and plain files (never valid).
#[derive(Default)]
struct TopLevel {
    dirs: BTreeSet<String>,
    files: BTreeSet<String>,
}

impl TopLevel {
    fn add(&mut self, components: &[String], is_dir: bool) {
        match components {
            [] => {}
            [only] if !is_dir => {
                self.files.insert(only.clone());
            }
            [first, ..] => {
                self.dirs.insert(first.clone());
            }
        }
    }

    /// The single top-level directory, checked against the file name
    /// (PEP 625: `{name}-{version}.tar.gz` unpacks into `{name}-{version}/`).
    fn single_dir(self, filename: &str, format: &'static str) -> Result<String, CheckError> {
        if self.dirs.is_empty() && self.files.is_empty() {
            return Err(not_an_archive(filename, format, "it has no entries"));
        }
        if self.dirs.len() != 1 || !self.files.is_empty() {
            let found = self
                .dirs
                .iter()
                .map(|dir| format!("`{dir}/`"))
                .chain(self.files.iter().map(|file| format!("`{file}`")))
                .collect();
            return Err(CheckError::NotSingleTopLevel {
                filename: filename.to_string(),
                found,
            });
        }
        let top = self.dirs.into_iter().next().unwrap_or_default();
        let sdist = parse_sdist_filename(filename)?;
        if !same_name_version(&top, &sdist.name, &sdist.version) {
            return Err(CheckError::LayoutMismatch {
                filename: filename.to_string(),
                found: format!("{top}/"),
                wanted: format!("{}-{}/", sdist.name, sdist.version),
            });
        }
        Ok(top)
    }
}

fn missing_pkg_info(filename: &str, top: &str) -> CheckError {
    CheckError::MetadataMissing {
        filename: filename.to_string(),
        wanted: format!("{top}/PKG-INFO"),
    }
}

/// `<top>/PKG-INFO` from a legacy zip sdist.
pub(super) fn zip_sdist_metadata(file: File, filename: &str) -> Result<Metadata, CheckError> {
    let mut zip = open_zip(file, filename)?;
    let mut top = TopLevel::default();
    for name in zip.file_names() {
        let components: Vec<String> = name
            .split('/')
            .filter(|part| !part.is_empty() && *part != ".")
            .map(str::to_string)
            .collect();
        top.add(&components, name.ends_with('/'));
    }
    let top = top.single_dir(filename, "zip")?;
    let member = format!("{top}/PKG-INFO");
    if zip.index_for_name(&member).is_none() {
        return Err(missing_pkg_info(filename, &top));
    }
    read_zip_member(&mut zip, filename, &member)
}

/// `<top>/PKG-INFO` from a `.tar.gz` sdist, streaming through the entries.
pub(super) fn tar_sdist_metadata(file: File, filename: &str) -> Result<Metadata, CheckError> {
    const FORMAT: &str = "gzip-compressed tar";
    let gzip = flate2::read::MultiGzDecoder::new(BufReader::new(file));
    let mut archive = tar::Archive::new(gzip);
    let entries = archive
        .entries()
        .map_err(|err| not_an_archive(filename, FORMAT, err))?;
    let mut top = TopLevel::default();
    // Only the first top-level dir's PKG-INFO is kept: with several dirs the
    // archive is rejected anyway, and this bounds memory to one capped file.
    let mut pkg_info: Option<(String, Vec<u8>)> = None;
    for entry in entries {
        let entry = entry.map_err(|err| not_an_archive(filename, FORMAT, err))?;
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
            continue;
        }
        let path = entry
            .path()
            .map_err(|err| not_an_archive(filename, FORMAT, err))?;
        let components: Vec<String> = path
            .components()
            .filter_map(|component| match component {
                Component::Normal(part) => Some(part.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect();
        top.add(&components, kind.is_dir());
        if let [dir, name] = components.as_slice()
            && name == "PKG-INFO"
            && kind.is_file()
            && pkg_info.is_none()
        {
            let member = format!("{dir}/PKG-INFO");
            let bytes = read_capped(entry, filename, &member, FORMAT)?;
            pkg_info = Some((dir.clone(), bytes));
        }
    }
    let top = top.single_dir(filename, FORMAT)?;
    match pkg_info {
        Some((dir, bytes)) if dir == top => {
            parse_member(&bytes, filename, &format!("{top}/PKG-INFO"))
        }
        _ => Err(missing_pkg_info(filename, &top)),
    }
}
