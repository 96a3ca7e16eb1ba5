//! PEP 740 attestations that travel with a built file: every
//! `<file>.*.attestation` beside it (`<file>.publish.attestation` is what
//! `pypi-attestations sign` writes), sent in the upload's `attestations`
//! form field as one JSON array, the convention of twine, uv and
//! gh-action-pypi-publish.
//!
//! tagpub does not verify the Sigstore signature (PyPI does, against the
//! trusted publisher's identity); it checks what would make PyPI refuse the
//! upload and can be decided offline, so a bad attestation stops the release
//! before the first byte instead of at the index after half its files:
//! the shape (`version` 1, an envelope), exactly one subject naming this
//! file and its sha256, a predicate type PyPI supports, at most one per
//! predicate type. Sources: pypi/warehouse `warehouse/attestations/services.py`
//! (`_extract_attestations_from_request`, `IntegrityService.parse_attestations`)
//! and pypi/pypi-attestations `_impl.py` (`Attestation.verify`).

use std::path::{Path, PathBuf};

use base64::Engine as _;

/// The predicate types PyPI accepts (warehouse `SUPPORTED_ATTESTATION_TYPES`).
pub const SUPPORTED_PREDICATE_TYPES: [&str; 2] = [
    "https://docs.pypi.org/attestations/publish/v1",
    "https://slsa.dev/provenance/v1",
];

/// One file's attestations, ready for the form.
#[derive(Debug, Clone)]
pub struct Attestations {
    /// The attestation files, sorted.
    pub paths: Vec<PathBuf>,
    /// The `attestations` form value: a JSON array of the files' objects.
    pub form_value: String,
}

/// Why a built file's attestations cannot be sent: PyPI would refuse them.
#[derive(Debug, thiserror::Error)]
pub enum AttestationError {
    #[error(
        "cannot read the attestation {}",
        path.display()
    )]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{} is not a PEP 740 attestation the index would take: {reason}. Sign {file} again (`pypi-attestations sign`), or remove the attestation to upload without it",
        path.display()
    )]
    Malformed {
        path: PathBuf,
        file: String,
        reason: String,
    },
    #[error(
        "{} attests other bytes than {file} ({found}): it was made before the file was built again. Remove it and sign the file again",
        path.display()
    )]
    OtherBytes {
        path: PathBuf,
        file: String,
        found: String,
    },
    #[error(
        "{file} has two attestations of the predicate type {predicate_type} ({} and {}); PyPI takes at most one of each type. Remove one",
        first.display(),
        second.display()
    )]
    DuplicatePredicate {
        file: String,
        predicate_type: String,
        first: PathBuf,
        second: PathBuf,
    },
}

/// The attestations beside `dist/<filename>` for the file with this sha256,
/// or `None` if it has none (an empty array is never sent: PyPI refuses it).
pub fn for_file(
    dist: &Path,
    filename: &str,
    sha256: &str,
) -> Result<Option<Attestations>, AttestationError> {
    let prefix = format!("{filename}.");
    let mut paths: Vec<PathBuf> = match std::fs::read_dir(dist) {
        Ok(entries) => entries
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.file_type().is_ok_and(|t| t.is_file()))
            .map(|entry| entry.path())
            .filter(|path| {
                path.file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_prefix(&prefix))
                    .and_then(|rest| rest.strip_suffix(".attestation"))
                    .is_some_and(|kind| !kind.is_empty())
            })
            .collect(),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(source) => {
            return Err(AttestationError::Read {
                path: dist.to_path_buf(),
                source,
            });
        }
    };
    if paths.is_empty() {
        return Ok(None);
    }
    paths.sort();
    let mut objects = Vec::new();
    let mut seen: Vec<(String, PathBuf)> = Vec::new();
    for path in &paths {
        let text = std::fs::read(path).map_err(|source| AttestationError::Read {
            path: path.clone(),
            source,
        })?;
        let object: serde_json::Value = serde_json::from_slice(&text)
            .map_err(|err| malformed(path, filename, format!("not JSON ({err})")))?;
        let predicate_type = check_one(&object, path, filename, sha256)?;
        if let Some((_, first)) = seen.iter().find(|(t, _)| *t == predicate_type) {
            return Err(AttestationError::DuplicatePredicate {
                file: filename.to_string(),
                predicate_type,
                first: first.clone(),
                second: path.clone(),
            });
        }
        seen.push((predicate_type, path.clone()));
        objects.push(object);
    }
    Ok(Some(Attestations {
        paths,
        form_value: serde_json::Value::Array(objects).to_string(),
    }))
}

fn malformed(path: &Path, file: &str, reason: impl Into<String>) -> AttestationError {
    AttestationError::Malformed {
        path: path.to_path_buf(),
        file: file.to_string(),
        reason: reason.into(),
    }
}

/// Checks one attestation object; returns its predicate type.
fn check_one(
    object: &serde_json::Value,
    path: &Path,
    filename: &str,
    sha256: &str,
) -> Result<String, AttestationError> {
    let bad = |reason: &str| malformed(path, filename, reason);
    if object.get("version").and_then(|v| v.as_u64()) != Some(1) {
        return Err(bad("its `version` is not 1"));
    }
    if object
        .pointer("/verification_material/certificate")
        .and_then(|v| v.as_str())
        .is_none()
    {
        return Err(bad("it has no verification_material.certificate"));
    }
    let decode = |pointer: &str| {
        object
            .pointer(pointer)
            .and_then(|v| v.as_str())
            .and_then(|text| base64::engine::general_purpose::STANDARD.decode(text).ok())
    };
    if decode("/envelope/signature").is_none() {
        return Err(bad("its envelope has no base64 signature"));
    }
    let statement =
        decode("/envelope/statement").ok_or_else(|| bad("its envelope has no base64 statement"))?;
    let statement: serde_json::Value = serde_json::from_slice(&statement)
        .map_err(|_| bad("its statement is not JSON (an in-toto Statement)"))?;
    let subjects = statement
        .get("subject")
        .and_then(|s| s.as_array())
        .ok_or_else(|| bad("its statement has no subject"))?;
    let [subject] = subjects.as_slice() else {
        return Err(bad(&format!(
            "its statement has {} subjects; PyPI wants exactly one",
            subjects.len()
        )));
    };
    let name = subject.get("name").and_then(|n| n.as_str()).unwrap_or("");
    let digest = subject
        .pointer("/digest/sha256")
        .and_then(|d| d.as_str())
        .unwrap_or("");
    // pypi-attestations compares the parsed file names; tagpub's own
    // builds give the exact name, so an exact comparison is the same test.
    if name != filename {
        return Err(bad(&format!("its subject is `{name}`, not {filename}")));
    }
    if !digest.eq_ignore_ascii_case(sha256) {
        return Err(AttestationError::OtherBytes {
            path: path.to_path_buf(),
            file: filename.to_string(),
            found: format!(
                "sha256 {}",
                if digest.is_empty() { "missing" } else { digest }
            ),
        });
    }
    let predicate_type = statement
        .get("predicateType")
        .and_then(|t| t.as_str())
        .unwrap_or("");
    if !SUPPORTED_PREDICATE_TYPES.contains(&predicate_type) {
        return Err(bad(&format!(
            "its predicate type `{predicate_type}` is not one PyPI takes ({})",
            SUPPORTED_PREDICATE_TYPES.join(", ")
        )));
    }
    Ok(predicate_type.to_string())
}

/// An attestation object shaped as `pypi-attestations sign` writes it, for
/// `filename` with `sha256` (the signature and certificate are not real:
/// only the index verifies those). For tests outside this crate.
#[doc(hidden)]
pub fn sample(filename: &str, sha256: &str, predicate_type: &str) -> String {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let statement = serde_json::json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": filename, "digest": {"sha256": sha256}}],
        "predicateType": predicate_type,
        "predicate": null,
    });
    serde_json::json!({
        "version": 1,
        "verification_material": {
            "certificate": b64(b"not a real certificate"),
            "transparency_entries": [{"logIndex": "1"}],
        },
        "envelope": {
            "statement": b64(statement.to_string().as_bytes()),
            "signature": b64(b"not a real signature"),
        },
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "demo-1.0-py3-none-any.whl";
    const SHA: &str = "aa11";
    const PUBLISH: &str = SUPPORTED_PREDICATE_TYPES[0];

    fn dist(files: &[(&str, String)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    #[test]
    fn none_without_attestation_files() {
        let dir = dist(&[(
            "demo-1.0.tar.gz.publish.attestation",
            sample("demo-1.0.tar.gz", SHA, PUBLISH),
        )]);
        assert!(for_file(dir.path(), FILE, SHA).unwrap().is_none());
    }

    #[test]
    fn every_predicate_type_once_as_one_array() {
        let dir = dist(&[
            (
                &format!("{FILE}.publish.attestation"),
                sample(FILE, SHA, PUBLISH),
            ),
            (
                &format!("{FILE}.slsa.attestation"),
                sample(FILE, SHA, SUPPORTED_PREDICATE_TYPES[1]),
            ),
        ]);
        let found = for_file(dir.path(), FILE, SHA).unwrap().unwrap();
        assert_eq!(found.paths.len(), 2);
        let array: Vec<serde_json::Value> = serde_json::from_str(&found.form_value).unwrap();
        assert_eq!(array.len(), 2);
        assert!(array.iter().all(|a| a["version"] == 1));
    }

    #[test]
    fn refusals_name_the_problem() {
        let err = |text: String| {
            let dir = dist(&[(&format!("{FILE}.publish.attestation"), text)]);
            for_file(dir.path(), FILE, SHA).unwrap_err().to_string()
        };
        assert!(err(sample(FILE, "bb22", PUBLISH)).contains("attests other bytes"));
        assert!(
            err(sample("other-1.0.tar.gz", SHA, PUBLISH))
                .contains("its subject is `other-1.0.tar.gz`")
        );
        assert!(err(sample(FILE, SHA, "https://example.com/x")).contains("is not one PyPI takes"));
        assert!(err("{}".into()).contains("`version` is not 1"));
        assert!(err("[".into()).contains("not JSON"));

        let dir = dist(&[
            (
                &format!("{FILE}.publish.attestation"),
                sample(FILE, SHA, PUBLISH),
            ),
            (
                &format!("{FILE}.again.attestation"),
                sample(FILE, SHA, PUBLISH),
            ),
        ]);
        let message = for_file(dir.path(), FILE, SHA).unwrap_err().to_string();
        assert!(
            message.contains("two attestations of the predicate type"),
            "{message}"
        );
    }
}
