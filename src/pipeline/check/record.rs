//! A wheel's RECORD (CSV as Python writes it) against the members it
//! lists: present, hashed as recorded, nothing unlisted.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufReader, Read};

use super::member::{list_some, not_an_archive, read_capped};
use super::{CheckError, Problem};

/// RECORD's rows, path → (hash, size); `Err(line)` where it is not CSV.
/// RECORD is CSV as Python's csv module writes it (warehouse reads it with
/// that module): quoted fields may hold commas, quotes and newlines.
pub(super) fn parse_record(
    text: &str,
) -> Result<std::collections::BTreeMap<String, (String, String)>, u64> {
    let mut listed = std::collections::BTreeMap::new();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    for row in reader.records() {
        let row = row.map_err(|err| err.position().map_or(0, |p| p.line()))?;
        if row.iter().all(|field| field.trim().is_empty()) {
            continue;
        }
        let field = |i: usize| row.get(i).unwrap_or_default().to_string();
        listed.insert(field(0).replace('\\', "/"), (field(1), field(2)));
    }
    Ok(listed)
}

/// Digest of a zip member with the named algorithm, in RECORD's encoding
/// (URL-safe base64 without padding). `None` for an algorithm the wheel
/// spec does not allow (md5, sha1) or does not name.
pub(super) fn member_digest(
    zip: &mut zip::ZipArchive<BufReader<File>>,
    filename: &str,
    name: &str,
    algorithm: &str,
) -> Result<Option<(String, u64)>, CheckError> {
    use base64::Engine;
    use sha2::Digest;
    fn run<D: Digest>(mut reader: impl Read) -> std::io::Result<(Vec<u8>, u64)> {
        let mut hasher = D::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        loop {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                break;
            }
            total += n as u64;
            hasher.update(&buf[..n]);
        }
        Ok((hasher.finalize().to_vec(), total))
    }
    let entry = zip
        .by_name(name)
        .map_err(|err| not_an_archive(filename, "zip", format!("opening `{name}`: {err}")))?;
    let result = match algorithm {
        "sha256" => run::<sha2::Sha256>(entry),
        "sha384" => run::<sha2::Sha384>(entry),
        "sha512" => run::<sha2::Sha512>(entry),
        _ => return Ok(None),
    };
    let (digest, size) = result
        .map_err(|err| not_an_archive(filename, "zip", format!("reading `{name}`: {err}")))?;
    Ok(Some((
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest),
        size,
    )))
}

/// The wheel's `WHEEL` and `RECORD`: both present, RECORD listing exactly the
/// archive's files, each with a hash (sha256 or stronger) that matches.
pub(super) fn check_wheel_files(
    zip: &mut zip::ZipArchive<BufReader<File>>,
    filename: &str,
    dist_info: &str,
    problems: &mut Vec<Problem>,
) -> Result<(), CheckError> {
    let wheel_file = format!("{dist_info}/WHEEL");
    if zip.index_for_name(&wheel_file).is_none() {
        problems.push(Problem::new(
            "wheel-file",
            format!(
                "`{wheel_file}` is missing; installers cannot tell how to install this wheel, \
             rebuild it with a current build backend"
            ),
        ));
    }
    let record_file = format!("{dist_info}/RECORD");
    if zip.index_for_name(&record_file).is_none() {
        problems.push(Problem::new(
            "wheel-record",
            format!("`{record_file}` is missing; PyPI refuses wheels without RECORD, rebuild it"),
        ));
        return Ok(());
    }
    let bytes = {
        let entry = zip
            .by_name(&record_file)
            .map_err(|err| not_an_archive(filename, "zip", err))?;
        read_capped(entry, filename, &record_file, "zip")?
    };
    let Ok(text) = String::from_utf8(bytes) else {
        problems.push(Problem::new(
            "wheel-record",
            format!("`{record_file}` is not UTF-8; rebuild the wheel"),
        ));
        return Ok(());
    };
    let listed = match parse_record(&text) {
        Ok(listed) => listed,
        Err(line) => {
            problems.push(Problem::new(
                "wheel-record",
                format!("`{record_file}` line {line} is not valid CSV; rebuild the wheel"),
            ));
            return Ok(());
        }
    };
    let exempt = [
        record_file.clone(),
        format!("{record_file}.jws"),
        format!("{record_file}.p7s"),
    ];
    let members: Vec<String> = zip
        .file_names()
        .filter(|name| !name.ends_with('/') && !name.ends_with('\\'))
        .map(str::to_string)
        .collect();
    let unlisted: Vec<String> = members
        .iter()
        .filter(|name| !listed.contains_key(*name) && !exempt.contains(name))
        .cloned()
        .collect();
    let member_set: BTreeSet<&String> = members.iter().collect();
    let absent: Vec<String> = listed
        .keys()
        .filter(|path| !member_set.contains(path))
        .cloned()
        .collect();
    if !unlisted.is_empty() {
        problems.push(Problem::new(
            "record-matches",
            format!(
                "RECORD does not list {}; PyPI flags wheels whose RECORD and contents differ \
             (and emails the maintainers), rebuild it (do not add files to a built wheel)",
                list_some(&unlisted)
            ),
        ));
    }
    if !absent.is_empty() {
        problems.push(Problem::new(
            "record-matches",
            format!(
                "RECORD lists {}, which the wheel does not contain; rebuild it",
                list_some(&absent)
            ),
        ));
    }
    let (mut unhashed, mut weak, mut mismatched) = (Vec::new(), Vec::new(), Vec::new());
    for (path, (hash, size)) in &listed {
        if exempt.contains(path) || !member_set.contains(path) {
            continue;
        }
        let Some((algorithm, expected)) = hash.split_once('=') else {
            unhashed.push(path.clone());
            continue;
        };
        // A member in a method nobody can read was reported by `scan_zip`.
        let readable = zip
            .index_for_name(path)
            .and_then(|index| zip.by_index_raw(index).ok().map(|e| e.compression()))
            .is_some_and(|method| {
                matches!(
                    method,
                    zip::CompressionMethod::Stored | zip::CompressionMethod::Deflated
                )
            });
        if !readable {
            continue;
        }
        match member_digest(zip, filename, path, algorithm)? {
            None => weak.push(format!("{path} ({algorithm})")),
            Some((actual, actual_size)) => {
                let size_differs =
                    !size.is_empty() && size.parse::<u64>().ok() != Some(actual_size);
                if actual != expected.trim_end_matches('=') || size_differs {
                    mismatched.push(path.clone());
                }
            }
        }
    }
    if !unhashed.is_empty() {
        problems.push(Problem::new(
            "record-matches",
            format!(
                "RECORD has no hash for {}; rebuild the wheel",
                list_some(&unhashed)
            ),
        ));
    }
    if !weak.is_empty() {
        problems.push(Problem::new(
            "record-matches",
            format!(
                "RECORD hashes {} with an algorithm the wheel spec does not allow (use sha256); \
             rebuild the wheel",
                list_some(&weak)
            ),
        ));
    }
    if !mismatched.is_empty() {
        problems.push(Problem::new(
            "record-matches",
            format!(
                "RECORD hash or size does not match the content of {}; the wheel was modified \
             after it was built, rebuild it",
                list_some(&mismatched)
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_record;

    #[test]
    fn record_rows_as_pythons_csv_writes_them() {
        let rows = parse_record(
            "pkg/a.py,sha256=abc,12\n\"pkg/a,b.py\",sha256=abc,1\n\"a\"\"b\",,\n\"two\nlines.txt\",sha256=x,3\n\npkg\\win.py,sha256=y,4\n",
        )
        .unwrap();
        let row = |path: &str| rows.get(path).map(|(h, s)| (h.as_str(), s.as_str()));
        assert_eq!(row("pkg/a.py"), Some(("sha256=abc", "12")));
        assert_eq!(row("pkg/a,b.py"), Some(("sha256=abc", "1")));
        assert_eq!(row("a\"b"), Some(("", "")));
        // The hand splitter this replaced cut this row in two.
        assert_eq!(row("two\nlines.txt"), Some(("sha256=x", "3")));
        assert_eq!(row("pkg/win.py"), Some(("sha256=y", "4")));
        assert_eq!(rows.len(), 5);
        // An unterminated quote runs to the end, as in Python's csv module
        // (`[['ok', 'sha256=a', '1'], ['open,,\n']]`): a listed path the
        // wheel does not have, which the RECORD check then names.
        let open = parse_record("ok,sha256=a,1\n\"open,,\n").unwrap();
        assert_eq!(open.keys().collect::<Vec<_>>(), ["ok", "open,,\n"]);
    }
}
