//! Reading core metadata out of wheels and sdists without extracting them.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Component;
use std::str::FromStr;

use super::contents::{check_entry_points, check_license_files, check_sdist_license_files};
use super::member::{list_some, not_an_archive, read_capped};
use super::record::check_wheel_files;
use super::{CheckError, Problem};
use crate::dist::Metadata;
use crate::dist::filename::{parse_sdist_filename, parse_wheel_filename};
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

fn parse_member(
    bytes: &[u8],
    filename: &str,
    member: &str,
) -> Result<(Metadata, crate::dist::metadata::Raw), CheckError> {
    crate::dist::metadata::parse_with_raw_description(bytes).map_err(|reason| {
        CheckError::MalformedMetadata {
            filename: filename.to_string(),
            member: member.to_string(),
            reason,
        }
    })
}

/// A second handle on the archive, for reading its raw records.
fn clone_file(file: &File, filename: &str) -> Result<File, CheckError> {
    file.try_clone()
        .map_err(|err| not_an_archive(filename, "file", err))
}

fn open_zip(file: File, filename: &str) -> Result<zip::ZipArchive<BufReader<File>>, CheckError> {
    zip::ZipArchive::new(BufReader::new(file)).map_err(|err| not_an_archive(filename, "zip", err))
}

fn read_zip_member(
    zip: &mut zip::ZipArchive<BufReader<File>>,
    filename: &str,
    member: &str,
) -> Result<(Metadata, crate::dist::metadata::Raw), CheckError> {
    let entry = zip
        .by_name(member)
        .map_err(|err| not_an_archive(filename, "zip", format!("opening `{member}`: {err}")))?;
    let bytes = read_capped(entry, filename, member, "zip")?;
    parse_member(&bytes, filename, member)
}

/// What reading an archive found: its core metadata, the raw `Description`
/// header (see `metadata::parse_with_raw_description`), and problems that
/// do not stop the reading (unsafe members, RECORD mismatches).
pub(super) type Scanned = ((Metadata, crate::dist::metadata::Raw), Vec<Problem>);

fn packed_size(file: &File, filename: &str) -> Result<u64, CheckError> {
    file.metadata()
        .map(|meta| meta.len())
        .map_err(|err| not_an_archive(filename, "file", err))
}

/// `METADATA` from the wheel's one top-level `*.dist-info` directory, after
/// the members' safety; then `WHEEL` and `RECORD` (every hash verified).
pub(super) fn wheel_metadata(file: File, filename: &str) -> Result<Scanned, CheckError> {
    let wheel = parse_wheel_filename(filename)?;
    let packed = packed_size(&file, filename)?;
    let framing = clone_file(&file, filename)?;
    let mut zip = open_zip(file, filename)?;
    let mut problems = Vec::new();
    scan_zip(&mut zip, filename, packed, framing, &mut problems)?;
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
    let metadata = read_zip_member(&mut zip, filename, &member)?;
    // Warehouse looks for WHEEL and RECORD under the file name's own
    // (escaped) name and version, not a normalized equivalent.
    let literal = format!("{}-{}.dist-info", wheel.name, wheel.version);
    if dir != literal {
        problems.push(Problem::new(
            "dist-info-name",
            format!(
                "the metadata is in `{dir}/` but PyPI looks for `{literal}/` (the file name's \
             name and version, exactly); rename the wheel to match or rebuild it"
            ),
        ));
    }
    check_license_files(&mut zip, &metadata.0, &literal, &mut problems);
    check_entry_points(&mut zip, filename, &literal, &mut problems)?;
    check_wheel_files(&mut zip, filename, dir, &mut problems)?;
    Ok((metadata, problems))
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
pub(super) fn zip_sdist_metadata(file: File, filename: &str) -> Result<Scanned, CheckError> {
    let packed = packed_size(&file, filename)?;
    let framing = clone_file(&file, filename)?;
    let mut zip = open_zip(file, filename)?;
    let mut problems = Vec::new();
    scan_zip(&mut zip, filename, packed, framing, &mut problems)?;
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
    Ok((read_zip_member(&mut zip, filename, &member)?, problems))
}

/// `<top>/PKG-INFO` from a `.tar.gz` sdist, streaming through the entries.
pub(super) fn tar_sdist_metadata(file: File, filename: &str) -> Result<Scanned, CheckError> {
    const FORMAT: &str = "gzip-compressed tar";
    let packed = packed_size(&file, filename)?;
    let mut problems = Vec::new();
    // warehouse/forklift/legacy.py `_is_valid_dist_file`: "File is both a
    // zip and a tar file".
    let mut raw = BufReader::new(clone_file(&file, filename)?);
    if super::zipframe::looks_like_zip(&mut raw)
        .map_err(|err| not_an_archive(filename, FORMAT, err))?
    {
        problems.push(Problem::new(
            "zip-tar-polyglot",
            "the file is both a tar and a zip archive; PyPI refuses such polyglots, rebuild it"
                .to_string(),
        ));
    }
    // The clone shares the file position: back to the start for the reader.
    std::io::Seek::seek(&mut raw.into_inner(), std::io::SeekFrom::Start(0))
        .map_err(|err| not_an_archive(filename, FORMAT, err))?;
    // Every member path (components joined by `/`), for License-File.
    let mut names: BTreeSet<String> = BTreeSet::new();
    let mut sparse: Vec<String> = Vec::new();
    let mut unpacked: u64 = 0;
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
        let mut entry = entry.map_err(|err| not_an_archive(filename, FORMAT, err))?;
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
            continue;
        }
        // The reader applies a PAX header to the member it describes; GNU
        // sparse files in PAX form carry `GNU.sparse.*` keys.
        let pax_sparse = entry
            .pax_extensions()
            .ok()
            .flatten()
            .is_some_and(|extensions| {
                extensions
                    .flatten()
                    .any(|ext| ext.key_bytes().starts_with(b"GNU.sparse."))
            });
        // Sizes are known from the headers before the content is read, so
        // a bomb is refused before it is decompressed.
        unpacked = unpacked.saturating_add(entry.size());
        check_unpacked(filename, unpacked, packed)?;
        let raw_name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        if let Some(why) = unsafe_member_name(&raw_name) {
            problems.push(Problem::new("member-path-safe", format!(
                "member `{raw_name}` {why}; unpacking it would write outside the target directory, refused"
            )));
        }
        if kind.is_symlink() || kind.is_hard_link() {
            let target = entry
                .link_name_bytes()
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                .unwrap_or_default();
            // Symlinks resolve from their own directory, hard links from the root.
            let base = if kind.is_symlink() {
                parent_dir(&raw_name)
            } else {
                ""
            };
            if link_escapes(base, &target) {
                problems.push(Problem::new(
                    "member-link-safe",
                    format!(
                        "member `{raw_name}` is a link to `{target}`, outside the archive; refused"
                    ),
                ));
            }
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
        if kind.is_gnu_sparse() || pax_sparse {
            sparse.push(components.join("/"));
        }
        names.insert(components.join("/"));
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
    // warehouse/forklift/legacy.py `_is_valid_dist_file`: "Sparse members
    // are not allowed" (GNU extensions, not valid in PEP 625 sdists).
    if !sparse.is_empty() {
        problems.push(Problem::new(
            "tar-sparse-member",
            format!(
                "sparse tar members are not allowed ({}); PyPI refuses the sdist, rebuild it \
                 with a standard build backend (not GNU tar --sparse)",
                list_some(&sparse)
            ),
        ));
    }
    let top = top.single_dir(filename, FORMAT)?;
    let metadata = match pkg_info {
        Some((dir, bytes)) if dir == top => {
            parse_member(&bytes, filename, &format!("{top}/PKG-INFO"))?
        }
        _ => return Err(missing_pkg_info(filename, &top)),
    };
    check_sdist_license_files(&metadata.0, &top, &names, &mut problems);
    Ok((metadata, problems))
}

/// An archive that unpacks to more than this is refused outright.
pub const MAX_UNPACKED_BYTES: u64 = 4 * 1024 * 1024 * 1024;
/// Above [`RATIO_FLOOR`] unpacked bytes, more than this many unpacked bytes
/// per packed byte is a compression bomb: Warehouse's limits for zips
/// (`COMPRESSION_RATIO_THRESHOLD`, `COMPRESSION_RATIO_MIN_SIZE`), applied
/// to `.tar.gz` sdists too.
pub const MAX_RATIO: u64 = 50;
pub const RATIO_FLOOR: u64 = 64 * 1024 * 1024;

fn check_unpacked(filename: &str, unpacked: u64, packed: u64) -> Result<(), CheckError> {
    if unpacked > MAX_UNPACKED_BYTES
        || (unpacked > RATIO_FLOOR && unpacked > MAX_RATIO.saturating_mul(packed.max(1)))
    {
        return Err(CheckError::CompressionBomb {
            filename: filename.to_string(),
            unpacked,
            packed,
        });
    }
    Ok(())
}

/// A zip compression method's usual name (this build reads only stored and
/// deflated members, so the others arrive as numbers).
fn method_name(method: zip::CompressionMethod) -> String {
    const NAMES: &[(zip::CompressionMethod, &str)] = &[
        (zip::CompressionMethod::BZIP2, "bzip2"),
        (zip::CompressionMethod::LZMA, "LZMA"),
        (zip::CompressionMethod::ZSTD, "zstd"),
        (zip::CompressionMethod::XZ, "xz"),
        (zip::CompressionMethod::DEFLATE64, "deflate64"),
        (zip::CompressionMethod::AES, "AES-encrypted"),
    ];
    NAMES
        .iter()
        .find(|(known, _)| *known == method)
        .map_or_else(|| format!("{method:?}"), |(_, name)| (*name).to_string())
}

/// Why an archive member name is unsafe to unpack, if it is.
fn unsafe_member_name(name: &str) -> Option<&'static str> {
    let bytes = name.as_bytes();
    if name.starts_with(['/', '\\']) || (bytes.len() >= 2 && bytes[1] == b':') {
        return Some("is an absolute path");
    }
    if name.split(['/', '\\']).any(|part| part == "..") {
        return Some("has a `..` component (path traversal)");
    }
    None
}

/// Whether a link target leaves the archive: `base` is the directory the
/// target is relative to (the link's own directory for symlinks, the
/// archive root for tar hard links).
fn link_escapes(base: &str, target: &str) -> bool {
    if target.starts_with(['/', '\\']) || target.as_bytes().get(1) == Some(&b':') {
        return true;
    }
    let mut depth: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
    for part in target.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => {
                if depth.pop().is_none() {
                    return true;
                }
            }
            other => depth.push(other),
        }
    }
    false
}

fn parent_dir(name: &str) -> &str {
    name.trim_end_matches('/')
        .rsplit_once('/')
        .map_or("", |(dir, _)| dir)
}

/// Safety of every member of a zip (wheel or zip sdist), from the central
/// directory: names, symlinks, sizes. Nothing is written to disk.
fn scan_zip(
    zip: &mut zip::ZipArchive<BufReader<File>>,
    filename: &str,
    packed: u64,
    framing: File,
    problems: &mut Vec<Problem>,
) -> Result<(), CheckError> {
    let mut unpacked: u64 = 0;
    // Name → (compressed, uncompressed) size, as the central directory says.
    let mut central = std::collections::HashMap::with_capacity(zip.len());
    for index in 0..zip.len() {
        let (name, size, symlink, method) = {
            let entry = zip
                .by_index_raw(index)
                .map_err(|err| not_an_archive(filename, "zip", err))?;
            central.insert(
                entry.name().to_string(),
                (entry.compressed_size(), entry.size()),
            );
            (
                entry.name().to_string(),
                entry.size(),
                entry.is_symlink(),
                entry.compression(),
            )
        };
        // Warehouse refuses other methods (bzip2, lzma, zstd…): pip may not read them.
        if !matches!(
            method,
            zip::CompressionMethod::Stored | zip::CompressionMethod::Deflated
        ) {
            problems.push(Problem::new(
                "compression-method",
                format!(
                    "member `{name}` uses {} compression; PyPI accepts only stored and deflated \
                 members, rebuild the archive",
                    method_name(method)
                ),
            ));
        }
        unpacked = unpacked.saturating_add(size);
        check_unpacked(filename, unpacked, packed)?;
        if let Some(why) = unsafe_member_name(&name) {
            problems.push(Problem::new("member-path-safe", format!(
                "member `{name}` {why}; an installer would write outside its target directory, refused"
            )));
        }
        if symlink {
            // The link target is the member's content (a short path).
            let mut target = String::new();
            zip.by_index(index)
                .map_err(|err| not_an_archive(filename, "zip", err))?
                .take(4096)
                .read_to_string(&mut target)
                .map_err(|err| not_an_archive(filename, "zip", err))?;
            if link_escapes(parent_dir(&name), &target) {
                problems.push(Problem::new(
                    "member-link-safe",
                    format!(
                        "member `{name}` is a symlink to `{target}`, outside the archive; refused"
                    ),
                ));
            }
        }
    }
    let io_error = |err: std::io::Error| not_an_archive(filename, "zip", err);
    let mut raw = BufReader::new(framing);
    // warehouse/forklift/legacy.py `_is_valid_dist_file`: "File is both a
    // zip and a tar file" (an archive two tools would read differently).
    if super::zipframe::starts_like_tar(&mut raw).map_err(io_error)? {
        problems.push(Problem::new(
            "zip-tar-polyglot",
            "the file is both a zip and a tar archive; PyPI refuses such polyglots, rebuild it"
                .to_string(),
        ));
    }
    // warehouse/utils/zipfiles.py `validate_zipfile` (ZIP confusion).
    if let Some(reason) = super::zipframe::validate(&mut raw, &central).map_err(io_error)? {
        problems.push(Problem::new(
            "zip-framing",
            format!(
                "PyPI does not accept this ZIP archive: {reason} (see \
                 https://docs.pypi.org/archives); rebuild it with a standard build backend, \
                 do not append to or edit the archive"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{link_escapes, unsafe_member_name};

    #[test]
    fn member_names_and_links() {
        assert_eq!(unsafe_member_name("pkg/mod.py"), None);
        assert_eq!(unsafe_member_name("pkg/..data/x"), None);
        assert!(unsafe_member_name("../x").is_some());
        assert!(unsafe_member_name("pkg/../../x").is_some());
        assert!(unsafe_member_name("pkg\\..\\x").is_some());
        assert!(unsafe_member_name("/etc/x").is_some());
        assert!(unsafe_member_name("C:/x").is_some());
        // Inside the archive, however roundabout.
        assert!(!link_escapes("top/pkg", "../other/file"));
        assert!(!link_escapes("top", "./a/../b"));
        // Outside.
        assert!(link_escapes("top", "../../etc/passwd"));
        assert!(link_escapes("", ".."));
        assert!(link_escapes("top", "/etc/passwd"));
    }
}
