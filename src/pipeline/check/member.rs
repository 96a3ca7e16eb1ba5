//! Small pieces every archive reader and member check shares: one member
//! read with a size cap, the error for a file that is no archive, a few
//! names out of many for a message.

use std::io::Read;

use super::{CheckError, MAX_METADATA_BYTES};

pub(super) fn not_an_archive(
    filename: &str,
    format: &'static str,
    detail: impl ToString,
) -> CheckError {
    CheckError::NotAnArchive {
        filename: filename.to_string(),
        format,
        detail: detail.to_string(),
    }
}

/// Reads one archive member, refusing more than [`MAX_METADATA_BYTES`].
pub(super) fn read_capped(
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

/// At most this many paths are named per RECORD finding.
pub(super) const MAX_LISTED: usize = 5;

pub(super) fn list_some(items: &[String]) -> String {
    let mut shown: Vec<String> = items
        .iter()
        .take(MAX_LISTED)
        .map(|item| format!("`{item}`"))
        .collect();
    if items.len() > MAX_LISTED {
        shown.push(format!("and {} more", items.len() - MAX_LISTED));
    }
    shown.join(", ")
}
