//! ZIP record framing, as Warehouse checks it before accepting a wheel or
//! zip sdist (`warehouse/utils/zipfiles.py`, `validate_zipfile`): walking
//! the file from its first byte, local headers, central directory and
//! end records must agree, so a streaming reader and a central-directory
//! reader see the same files ("ZIP confusion"). Also the zip/tar polyglot
//! check of `warehouse/forklift/legacy.py` `_is_valid_dist_file`.

use std::collections::{HashMap, HashSet};
use std::io::{self, BufReader, Read, Seek, SeekFrom};

const SIG_CENTRAL_DIRECTORY: [u8; 4] = *b"PK\x01\x02";
const SIG_LOCAL_FILE: [u8; 4] = *b"PK\x03\x04";
const SIG_EOCD: [u8; 4] = *b"PK\x05\x06";
const SIG_EOCD64: [u8; 4] = *b"PK\x06\x06";
const SIG_EOCD64_LOCATOR: [u8; 4] = *b"PK\x06\x07";

/// Extra fields that may not appear twice (ZIP64, Info-ZIP Unicode Path).
const NO_DUPLICATE_EXTRAS: [u16; 2] = [0x0001, 0x7075];

/// Why the framing is refused: Warehouse's own message.
#[derive(Debug)]
struct Invalid(&'static str);

impl From<io::Error> for Invalid {
    fn from(_: io::Error) -> Invalid {
        Invalid("Malformed zip file")
    }
}

fn u16_at(data: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([data[at], data[at + 1]])
}
fn u32_at(data: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(data[at..at + 4].try_into().expect("4 bytes"))
}
fn u64_at(data: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(data[at..at + 8].try_into().expect("8 bytes"))
}

fn read_exact<R: Read>(reader: &mut R, len: usize) -> Result<Vec<u8>, Invalid> {
    let mut buf = vec![0; len];
    reader
        .read_exact(&mut buf)
        .map_err(|_| Invalid("Malformed zip file"))?;
    Ok(buf)
}

fn unprintable(name: &[u8]) -> bool {
    name.iter().any(|&b| b < 0x20 || b == 0x7f)
}

/// `_validate_zipfile`. `central` maps each name (decoded as the zip reader
/// decodes it) to its (compressed, uncompressed) size from the central
/// directory. `Ok(None)` when the framing is sound, else Warehouse's reason.
pub fn validate<R: Read + Seek>(
    reader: &mut BufReader<R>,
    central: &HashMap<String, (u64, u64)>,
) -> io::Result<Option<&'static str>> {
    reader.seek(SeekFrom::Start(0))?;
    match walk(reader, central) {
        Ok(()) => {}
        Err(Invalid(reason)) => return Ok(Some(reason)),
    }
    let end = reader.stream_position()?;
    if reader.seek(SeekFrom::End(0))? != end {
        return Ok(Some("Trailing data"));
    }
    Ok(None)
}

fn walk<R: Read + Seek>(
    reader: &mut BufReader<R>,
    central: &HashMap<String, (u64, u64)>,
) -> Result<(), Invalid> {
    let mut local_names: HashSet<Vec<u8>> = HashSet::new();
    let mut cd_names: HashSet<Vec<u8>> = HashSet::new();
    let (mut expected_eocd64, mut actual_eocd64) = (None::<u64>, None::<u64>);
    let (mut cd_records, mut cd_offset, mut cd_size) = (0u64, None::<u64>, 0u64);
    let mut eocd: Option<(u64, u64, u64)> = None;
    loop {
        let signature: [u8; 4] = read_exact(reader, 4)?.try_into().expect("4 bytes");
        if signature == SIG_EOCD && expected_eocd64.is_some() && actual_eocd64.is_none() {
            return Err(Invalid("Malformed zip file"));
        }
        match signature {
            SIG_CENTRAL_DIRECTORY => {
                if cd_offset.is_none() {
                    cd_offset = Some(reader.stream_position()? - 4);
                }
                cd_records += 1;
                let data = read_exact(reader, 42)?;
                let (name_len, extra_len, comment_len) = (
                    u16_at(&data, 24) as usize,
                    u16_at(&data, 26) as usize,
                    u16_at(&data, 28),
                );
                if comment_len != 0 {
                    return Err(Invalid("Comment in central directory"));
                }
                let name = read_exact(reader, name_len)?;
                read_exact(reader, extra_len)?;
                if unprintable(&name) {
                    return Err(Invalid("Invalid character in filename"));
                }
                cd_size += 46 + name_len as u64 + extra_len as u64;
                if cd_names.contains(&name) {
                    return Err(Invalid("Duplicate filename in central directory"));
                }
                if !local_names.contains(&name) {
                    return Err(Invalid("Missing filename in local headers"));
                }
                cd_names.insert(name);
            }
            SIG_LOCAL_FILE => {
                let name = local_file(reader, central)?;
                if !local_names.insert(name) {
                    return Err(Invalid("Duplicate filename in local headers"));
                }
            }
            SIG_EOCD => {
                if cd_offset.is_none() {
                    cd_offset = Some(reader.stream_position()? - 4);
                }
                let data = read_exact(reader, 18)?;
                let (on_disk, records) = (u16_at(&data, 4) as u64, u16_at(&data, 6) as u64);
                let (size, offset) = (u32_at(&data, 8) as u64, u32_at(&data, 12) as u64);
                let comment_len = u16_at(&data, 16) as i64;
                if on_disk != records {
                    return Err(Invalid("Malformed zip file"));
                }
                reader.seek_relative(comment_len)?;
                // A ZIP64 archive keeps the EOCD64's values.
                if actual_eocd64.is_none() || eocd.is_none() {
                    eocd = Some((records, size, offset));
                }
                let (records, size, offset) = eocd.expect("just set");
                if records != cd_records {
                    return Err(Invalid("Mismatched central directory records"));
                }
                if cd_offset != Some(offset) {
                    return Err(Invalid("Mismatched central directory offset"));
                }
                if size != cd_size {
                    return Err(Invalid("Mismatched central directory size"));
                }
                break;
            }
            SIG_EOCD64 => {
                expected_eocd64 = Some(reader.stream_position()? - 4);
                let data = read_exact(reader, 52)?;
                let (record_size, on_disk, records) =
                    (u64_at(&data, 0), u64_at(&data, 20), u64_at(&data, 28));
                let (size, offset) = (u64_at(&data, 36), u64_at(&data, 44));
                if on_disk != records {
                    return Err(Invalid("Malformed zip file"));
                }
                if record_size != 44 {
                    return Err(Invalid("ZIP64 extensible data not allowed"));
                }
                eocd = Some((records, size, offset));
            }
            SIG_EOCD64_LOCATOR => {
                let data = read_exact(reader, 16)?;
                actual_eocd64 = Some(u64_at(&data, 4));
            }
            _ => return Err(Invalid("Unknown record signature")),
        }
    }
    if cd_names != local_names {
        return Err(Invalid("Mis-matched local headers and central directory"));
    }
    Ok(())
}

/// `_handle_local_file_header`: the name, after checking the header's
/// sizes against the central directory and skipping the member's data.
fn local_file<R: Read + Seek>(
    reader: &mut BufReader<R>,
    central: &HashMap<String, (u64, u64)>,
) -> Result<Vec<u8>, Invalid> {
    let data = read_exact(reader, 26)?;
    let flags = u16_at(&data, 2);
    let method = u16_at(&data, 4);
    let mut compressed = u32_at(&data, 14) as u64;
    let mut size = u32_at(&data, 18) as u64;
    let name = read_exact(reader, u16_at(&data, 22) as usize)?;
    let mut extra = &read_exact(reader, u16_at(&data, 24) as usize)?[..];
    if unprintable(&name) {
        return Err(Invalid("Invalid character in filename"));
    }
    let mut seen = HashSet::new();
    while !extra.is_empty() {
        if extra.len() < 4 {
            return Err(Invalid("Malformed zip file"));
        }
        let (id, len) = (u16_at(extra, 0), u16_at(extra, 2) as usize);
        if len + 4 > extra.len() {
            return Err(Invalid("Malformed zip file"));
        }
        if !seen.insert(id) && NO_DUPLICATE_EXTRAS.contains(&id) {
            return Err(Invalid("Invalid duplicate extra in local file"));
        }
        let body = &extra[4..4 + len];
        if id == 0x0001 {
            match len {
                0 => {
                    if compressed == 0xFFFF_FFFF || size == 0xFFFF_FFFF {
                        return Err(Invalid("Malformed zip file"));
                    }
                }
                8 => {
                    // Only the uncompressed size: the member must be stored.
                    if method != 0 {
                        return Err(Invalid("Malformed zip file"));
                    }
                    let uncompressed = u64_at(body, 0);
                    compressed = uncompressed;
                    if size == 0xFFFF_FFFF {
                        size = uncompressed;
                    }
                }
                16 | 24 | 28 => {
                    if size == 0xFFFF_FFFF {
                        size = u64_at(body, 0);
                    }
                    compressed = u64_at(body, 8);
                }
                _ => return Err(Invalid("Malformed zip file")),
            }
        } else if id == 0x7075 {
            let unicode = body.get(5..).unwrap_or_default();
            if unprintable(unicode) {
                return Err(Invalid("Invalid character in filename"));
            }
            if std::str::from_utf8(unicode).is_err() {
                return Err(Invalid("Filename not valid UTF-8"));
            }
        }
        extra = &extra[4 + len..];
    }
    if flags & 0x08 != 0 {
        return Err(Invalid("ZIP contains a data descriptor"));
    }
    let Ok(decoded) = std::str::from_utf8(&name) else {
        return Err(Invalid("Filename not unicode"));
    };
    let Some(&(expected_compressed, expected_size)) = central.get(decoded) else {
        return Err(Invalid("Filename not in central directory"));
    };
    if expected_compressed != compressed {
        return Err(Invalid("Mis-matched data size"));
    }
    if expected_size != size {
        return Err(Invalid("Mis-matched file size"));
    }
    let skip = i64::try_from(compressed).map_err(|_| Invalid("Malformed zip file"))?;
    // Relative seeks keep the buffer when the member is small.
    reader.seek_relative(skip)?;
    Ok(name)
}

/// Python's `tarfile.is_tarfile` on a file that should be a zip: a valid
/// tar header at offset 0, plain or gzip-compressed. (bzip2/xz/zstd
/// starts are refused by [`validate`] anyway: no zip record comes first.)
pub fn starts_like_tar<R: Read + Seek>(reader: &mut R) -> io::Result<bool> {
    reader.seek(SeekFrom::Start(0))?;
    let mut head = Vec::with_capacity(512);
    reader.by_ref().take(512).read_to_end(&mut head)?;
    if head.starts_with(&[0x1f, 0x8b]) {
        reader.seek(SeekFrom::Start(0))?;
        let mut inflated = Vec::with_capacity(512);
        let gzip = flate2::read::GzDecoder::new(&mut *reader);
        // A broken stream is simply not a tar.
        let _ = gzip.take(512).read_to_end(&mut inflated);
        return Ok(tar_header(&inflated));
    }
    Ok(tar_header(&head))
}

/// A 512-byte block whose checksum field matches (unsigned or signed sum,
/// as `tarfile` accepts), and that is not the all-zero end block.
fn tar_header(block: &[u8]) -> bool {
    if block.len() < 512 || block.iter().all(|&b| b == 0) {
        return false;
    }
    let field = &block[148..156];
    let text: String = field
        .iter()
        .take_while(|&&b| b != 0)
        .map(|&b| b as char)
        .collect();
    let Ok(stored) = i64::from_str_radix(text.trim(), 8) else {
        return false;
    };
    let (mut unsigned, mut signed) = (0i64, 0i64);
    for (i, &b) in block[..512].iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += b as i64;
        signed += b as i8 as i64;
    }
    stored == unsigned || stored == signed
}

/// Python's `zipfile.is_zipfile` on a file that should be a tar.gz: an end
/// of central directory record in the last 64 KiB whose central directory
/// starts with its signature (or an empty zip).
pub fn looks_like_zip<R: Read + Seek>(reader: &mut R) -> io::Result<bool> {
    let len = reader.seek(SeekFrom::End(0))?;
    let tail_len = len.min(22 + 65535);
    reader.seek(SeekFrom::Start(len - tail_len))?;
    let mut tail = Vec::with_capacity(tail_len as usize);
    reader.by_ref().take(tail_len).read_to_end(&mut tail)?;
    let Some(at) = tail
        .windows(4)
        .rposition(|w| w == SIG_EOCD)
        .filter(|&at| tail.len() - at >= 22)
    else {
        return Ok(false);
    };
    let record = &tail[at..at + 22];
    let (disk, cd_disk) = (u16_at(record, 4), u16_at(record, 6));
    let (entries, size, offset) = (
        u16_at(record, 10),
        u32_at(record, 12) as u64,
        u32_at(record, 16) as u64,
    );
    if entries == 0 && size == 0 && offset == 0 {
        return Ok(true);
    }
    if disk != cd_disk {
        return Ok(false);
    }
    let eocd_at = len - tail_len + at as u64;
    let Some(cd_at) = eocd_at.checked_sub(size) else {
        return Ok(false);
    };
    let _ = offset;
    reader.seek(SeekFrom::Start(cd_at))?;
    let mut signature = [0u8; 4];
    Ok(size >= 46
        && reader.read_exact(&mut signature).is_ok()
        && signature == SIG_CENTRAL_DIRECTORY)
}
