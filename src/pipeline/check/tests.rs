//! Unit tests: real archives written with the zip/tar/flate2 crates.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use sha2::Digest;

use tagpub_fixtures::archive;

use super::*;
use crate::dist::Metadata;

const METADATA: &str = "\
Metadata-Version: 2.1
Name: demo-pkg
Version: 1.0
Summary: A demo
Classifier: Programming Language :: Python :: 3
Classifier: License :: OSI Approved :: MIT License
Requires-Dist: requests>=2
Requires-Dist: click; extra == \"cli\"
Description-Content-Type: text/markdown

# Demo

Long description.
";

fn write_zip(dir: &Path, filename: &str, entries: &[(&str, &[u8])]) -> PathBuf {
    let members: Vec<_> = entries.iter().map(|(n, c)| archive::member(n, c)).collect();
    archive::write_zip(&dir.join(filename), &members)
}

fn write_tar_gz(dir: &Path, filename: &str, entries: &[(&str, &[u8])]) -> PathBuf {
    let members: Vec<_> = entries.iter().map(|(n, c)| archive::member(n, c)).collect();
    archive::write_tar_gz(&dir.join(filename), &members, &[])
}

fn wheel(dir: &Path, metadata: &str) -> PathBuf {
    write_zip(
        dir,
        "demo_pkg-1.0-py3-none-any.whl",
        &[
            ("demo_pkg/__init__.py", b""),
            ("demo_pkg-1.0.dist-info/METADATA", metadata.as_bytes()),
            (
                "demo_pkg-1.0.dist-info/WHEEL",
                b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
            ),
            (
                "demo_pkg-1.0.dist-info/RECORD",
                b"demo_pkg/__init__.py,,\ndemo_pkg-1.0.dist-info/METADATA,,\n",
            ),
        ],
    )
}

/// An in-memory artifact, for checks that do not need an archive.
fn artifact(filename: &str, metadata: &str) -> Artifact {
    Artifact {
        path: PathBuf::from(filename),
        filename: filename.to_string(),
        kind: ArtifactKind::from_filename(filename).unwrap(),
        metadata: Metadata::parse(metadata.as_bytes()).unwrap(),
        sha256: String::new(),
        blake2_256: String::new(),
        pyversion: "py3".to_string(),
    }
}

fn version(text: &str) -> Version {
    Version::from_str(text).unwrap()
}

fn has(messages: &[String], needle: &str) -> bool {
    messages.iter().any(|message| message.contains(needle))
}

#[test]
fn inspect_wheel_reads_metadata_and_digests() {
    let dir = tempfile::tempdir().unwrap();
    let path = wheel(dir.path(), METADATA);
    let artifact = inspect(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(artifact.kind, ArtifactKind::Wheel);
    assert_eq!(artifact.filename, "demo_pkg-1.0-py3-none-any.whl");
    assert_eq!(artifact.pyversion, "py3");
    assert_eq!(artifact.sha256, hex::encode(sha2::Sha256::digest(&bytes)));
    assert_eq!(
        artifact.blake2_256,
        hex::encode(blake2::Blake2b::<blake2::digest::consts::U32>::digest(
            &bytes
        ))
    );
    assert_eq!(artifact.metadata.get("name"), Some("demo-pkg"));
    let report = check(&artifact, None);
    assert!(report.ok(), "{report:?}");
    assert!(report.warnings.is_empty(), "{report:?}");
}

#[test]
fn inspect_tar_gz_sdist() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_tar_gz(
        dir.path(),
        "demo_pkg-1.0.tar.gz",
        &[
            ("demo_pkg-1.0/pyproject.toml", b"[project]\n"),
            ("demo_pkg-1.0/PKG-INFO", METADATA.as_bytes()),
            // A nested PKG-INFO must not be taken for the real one.
            ("demo_pkg-1.0/src/demo_pkg.egg-info/PKG-INFO", b"garbage"),
        ],
    );
    let artifact = inspect(&path).unwrap();
    assert_eq!(artifact.kind, ArtifactKind::Sdist);
    assert_eq!(artifact.pyversion, "source");
    assert_eq!(
        artifact.sha256,
        hex::encode(sha2::Sha256::digest(std::fs::read(&path).unwrap()))
    );
    assert_eq!(artifact.metadata.get("Version"), Some("1.0"));
    let expected = Expected {
        name: "Demo.Pkg",
        version: &version("1.0.0"),
    };
    let report = check(&artifact, Some(&expected));
    assert!(report.ok(), "{report:?}");
}

#[test]
fn inspect_legacy_zip_sdist() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_zip(
        dir.path(),
        "demo-pkg-1.0.zip",
        &[
            ("demo-pkg-1.0/setup.py", b""),
            ("demo-pkg-1.0/PKG-INFO", METADATA.as_bytes()),
        ],
    );
    let artifact = inspect(&path).unwrap();
    assert_eq!(artifact.kind, ArtifactKind::Sdist);
    assert_eq!(artifact.metadata.get("Name"), Some("demo-pkg"));
    // It reads, but PyPI refuses `.zip` sdists (PEP 625).
    let report = check(&artifact, None);
    assert_eq!(
        report
            .failures
            .iter()
            .map(|failure| failure.rule)
            .collect::<Vec<_>>(),
        ["sdist-filename"],
        "{report:?}"
    );
}

#[test]
fn metadata_multi_use_fields_and_body() {
    let metadata = Metadata::parse(METADATA.replace('\n', "\r\n").as_bytes()).unwrap();
    assert_eq!(
        metadata.get_all("classifier"),
        [
            "Programming Language :: Python :: 3",
            "License :: OSI Approved :: MIT License"
        ]
    );
    assert_eq!(
        metadata.get_all("Requires-Dist"),
        ["requests>=2", "click; extra == \"cli\""]
    );
    assert_eq!(
        metadata.body.as_deref(),
        Some("# Demo\n\nLong description.\n")
    );
    assert!(metadata.get_all("Provides-Extra").is_empty());
    assert_eq!(metadata.fields[0].0, "Metadata-Version");
}

#[test]
fn description_continuation_lines() {
    let pipe = "Metadata-Version: 1.1\nName: old\nVersion: 0.1\nDescription: Title\n       |=====\n       |\n       |  indented\nKeywords: a b\n  c\n\n";
    let metadata = Metadata::parse(pipe.as_bytes()).unwrap();
    assert_eq!(
        metadata.get("Description"),
        Some("Title\n=====\n\n  indented")
    );
    assert_eq!(metadata.get("Keywords"), Some("a b c"));
    assert_eq!(metadata.body, None);

    let spaces = "Name: old\nDescription: Title\n        =====\n        \n          indented\n        \nLicense: MIT\n        more\n";
    let metadata = Metadata::parse(spaces.as_bytes()).unwrap();
    assert_eq!(
        metadata.get("Description"),
        Some("Title\n=====\n\n  indented")
    );
    assert_eq!(metadata.get("License"), Some("MIT\nmore"));
}

#[test]
fn metadata_parse_errors() {
    assert_eq!(
        Metadata::parse(b"Name: caf\xe9\n").unwrap_err(),
        MetadataParseError::NotUtf8 { offset: 9 }
    );
    assert_eq!(
        Metadata::parse(b"Name: x\nnot a header\n").unwrap_err(),
        MetadataParseError::MalformedLine { line: 2 }
    );
    assert_eq!(
        Metadata::parse(b" leading\n").unwrap_err(),
        MetadataParseError::OrphanContinuation { line: 1 }
    );
}

#[test]
fn non_utf8_metadata_is_an_inspect_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_zip(
        dir.path(),
        "demo_pkg-1.0-py3-none-any.whl",
        &[("demo_pkg-1.0.dist-info/METADATA", b"Name: caf\xe9\n")],
    );
    let err = inspect(&path).unwrap_err();
    assert!(matches!(err, CheckError::MalformedMetadata { .. }), "{err}");
    assert!(err.to_string().contains("UTF-8"));
}

#[test]
fn parses_file_names() {
    let plain = parse_wheel_filename("demo_pkg-1.0-py2.py3-none-any.whl").unwrap();
    assert_eq!(
        (plain.name.as_str(), plain.version.as_str()),
        ("demo_pkg", "1.0")
    );
    assert_eq!(plain.python_tag, "py2.py3");
    assert_eq!(plain.build_tag, None);
    let built = parse_wheel_filename("demo-1.0-2b-cp312-cp312-manylinux_2_17_x86_64.whl").unwrap();
    assert_eq!(built.build_tag.as_deref(), Some("2b"));
    assert_eq!(built.platform_tag, "manylinux_2_17_x86_64");
    assert!(parse_wheel_filename("demo-1.0-any.whl").is_err());
    assert!(parse_wheel_filename("demo-1.0-x-py3-none-any.whl").is_err());
    assert!(parse_wheel_filename("de__mo-1.0-py3-none-any.whl").is_err());

    let sdist = parse_sdist_filename("demo-pkg-1.0.post1.tar.gz").unwrap();
    assert_eq!(
        (sdist.name.as_str(), sdist.version.as_str()),
        ("demo-pkg", "1.0.post1")
    );
    assert_eq!(parse_sdist_filename("demo-2.0.zip").unwrap().name, "demo");
    assert!(parse_sdist_filename("demo.tar.gz").is_err());
}

#[test]
fn missing_name_is_an_error() {
    let report = check(
        &artifact(
            "demo_pkg-1.0-py3-none-any.whl",
            &METADATA.replace("Name: demo-pkg\n", ""),
        ),
        None,
    );
    assert!(has(&report.errors, "`Name` is missing"), "{report:?}");
}

#[test]
fn invalid_name_is_an_error() {
    let report = check(
        &artifact(
            "demo_pkg-1.0-py3-none-any.whl",
            &METADATA.replace("Name: demo-pkg", "Name: -demo"),
        ),
        None,
    );
    assert!(
        has(&report.errors, "not a valid project name"),
        "{report:?}"
    );
}

#[test]
fn bad_version_is_an_error() {
    let report = check(
        &artifact(
            "demo_pkg-1.0-py3-none-any.whl",
            &METADATA.replace("Version: 1.0", "Version: one"),
        ),
        None,
    );
    assert!(
        has(&report.errors, "`Version: one` is not a valid PEP 440"),
        "{report:?}"
    );
    let missing = check(
        &artifact(
            "demo_pkg-1.0-py3-none-any.whl",
            &METADATA.replace("Version: 1.0\n", ""),
        ),
        None,
    );
    assert!(has(&missing.errors, "`Version` is missing"), "{missing:?}");
}

#[test]
fn filename_vs_metadata_mismatches_are_errors() {
    let report = check(&artifact("other-1.0.tar.gz", METADATA), None);
    assert!(
        has(
            &report.errors,
            "file name says project `other` but the metadata says `demo-pkg`"
        ),
        "{report:?}"
    );
    let report = check(&artifact("demo_pkg-1.1-py3-none-any.whl", METADATA), None);
    assert!(
        has(
            &report.errors,
            "file name says version 1.1 but the metadata says 1.0"
        ),
        "{report:?}"
    );
    // PEP 440 equality, not string equality; normalized names (for a
    // wheel: PyPI wants an sdist's name normalized, PEP 625).
    assert!(check(&artifact("demo_pkg-1.0.0-py3-none-any.whl", METADATA), None).ok());
    let sdist = check(&artifact("Demo.Pkg-1.0.0.tar.gz", METADATA), None);
    assert!(
        has(
            &sdist.errors,
            "sdist `Demo.Pkg-1.0.0.tar.gz` should be named `demo_pkg-1.0.tar.gz`"
        ),
        "{sdist:?}"
    );
}

#[test]
fn expected_name_and_version_mismatches_are_errors() {
    let artifact = artifact("demo_pkg-1.0-py3-none-any.whl", METADATA);
    let tag_version = version("1.0.1");
    let report = check(
        &artifact,
        Some(&Expected {
            name: "bar",
            version: &tag_version,
        }),
    );
    assert!(
        has(
            &report.errors,
            "built package is `demo-pkg` but tagpub.toml says `bar`"
        ),
        "{report:?}"
    );
    assert!(
        has(&report.errors, "built version 1.0 but the tag says 1.0.1"),
        "{report:?}"
    );
}

#[test]
fn metadata_version_support() {
    let with = |value: &str| {
        check(
            &artifact(
                "demo_pkg-1.0-py3-none-any.whl",
                &METADATA.replace("Metadata-Version: 2.1", value),
            ),
            None,
        )
    };
    for known in ["2.1", "2.4", "2.5"] {
        assert!(with(&format!("Metadata-Version: {known}")).ok());
    }
    // Warehouse's SUPPORTED_METADATA_VERSIONS stops at 2.5 (packaging knows 2.6).
    assert!(has(
        &with("Metadata-Version: 2.6").errors,
        "`Metadata-Version: 2.6` is not supported by PyPI"
    ));
    // Old versions are fine when the fields are as old as they are.
    let bare = "Name: demo-pkg\nVersion: 1.0\nSummary: s\n";
    for old in ["1.0", "1.1", "1.2"] {
        let metadata = format!("Metadata-Version: {old}\n{bare}");
        let report = check(&artifact("demo_pkg-1.0-py3-none-any.whl", &metadata), None);
        assert!(report.ok(), "{old}: {report:?}");
    }
    let unknown_major = with("Metadata-Version: 3.0");
    assert!(has(
        &unknown_major.errors,
        "`Metadata-Version: 3.0` is not supported"
    ));
    assert!(!with("Metadata-Version: 2.0").ok());
    assert!(!with("Metadata-Version: x").ok());
    // packaging (so twine and PyPI) refuses minor versions it does not know.
    let newer = with("Metadata-Version: 2.7");
    assert!(has(
        &newer.errors,
        "`Metadata-Version: 2.7` is not supported"
    ));
    let missing = with("");
    assert!(has(&missing.errors, "`Metadata-Version` is missing"));
}

#[test]
fn description_warnings() {
    let bare = "Metadata-Version: 2.1\nName: demo-pkg\nVersion: 1.0\n";
    let report = check(&artifact("demo_pkg-1.0-py3-none-any.whl", bare), None);
    assert!(report.ok());
    assert!(has(&report.warnings, "no `Summary`"), "{report:?}");
    assert!(has(&report.warnings, "no long description"), "{report:?}");

    let untyped = format!("{bare}Summary: s\nDescription: Hello\n");
    let report = check(&artifact("demo_pkg-1.0-py3-none-any.whl", &untyped), None);
    assert_eq!(report.warnings.len(), 1, "{report:?}");
    assert!(has(&report.warnings, "no `Description-Content-Type`"));
}

#[test]
fn wheel_without_metadata_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_zip(
        dir.path(),
        "demo_pkg-1.0-py3-none-any.whl",
        &[
            ("demo_pkg/__init__.py", b""),
            ("demo_pkg-1.0.dist-info/WHEEL", b"Wheel-Version: 1.0\n"),
            // Not at the top level: does not count.
            ("demo_pkg/x.dist-info/METADATA", METADATA.as_bytes()),
        ],
    );
    let err = inspect(&path).unwrap_err();
    assert!(matches!(err, CheckError::MetadataMissing { .. }), "{err}");
    let report = check_path(&path, None);
    assert!(!report.ok());
    assert_eq!(report.file, "demo_pkg-1.0-py3-none-any.whl");
    assert!(has(
        &report.errors,
        "has no `demo_pkg-1.0.dist-info/METADATA`"
    ));
}

#[test]
fn sdist_without_pkg_info_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_tar_gz(
        dir.path(),
        "demo_pkg-1.0.tar.gz",
        &[(
            "demo_pkg-1.0/src/demo_pkg.egg-info/PKG-INFO",
            METADATA.as_bytes(),
        )],
    );
    let err = inspect(&path).unwrap_err();
    assert!(
        err.to_string().contains("has no `demo_pkg-1.0/PKG-INFO`"),
        "{err}"
    );
}

#[test]
fn wrong_layouts_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let two_dist_infos = write_zip(
        dir.path(),
        "demo_pkg-1.0-py3-none-any.whl",
        &[
            ("demo_pkg-1.0.dist-info/METADATA", METADATA.as_bytes()),
            ("demo_pkg-0.9.dist-info/METADATA", METADATA.as_bytes()),
        ],
    );
    let err = inspect(&two_dist_infos).unwrap_err();
    assert!(matches!(err, CheckError::AmbiguousMetadata { .. }), "{err}");

    let renamed = write_zip(
        dir.path(),
        "other-1.0-py3-none-any.whl",
        &[("demo_pkg-1.0.dist-info/METADATA", METADATA.as_bytes())],
    );
    let err = inspect(&renamed).unwrap_err();
    assert!(matches!(err, CheckError::LayoutMismatch { .. }), "{err}");

    let two_tops = write_tar_gz(
        dir.path(),
        "demo_pkg-1.0.tar.gz",
        &[
            ("demo_pkg-1.0/PKG-INFO", METADATA.as_bytes()),
            ("setup.py", b""),
        ],
    );
    let err = inspect(&two_tops).unwrap_err();
    assert!(matches!(err, CheckError::NotSingleTopLevel { .. }), "{err}");

    let other_top = write_tar_gz(
        dir.path(),
        "demo_pkg-2.0.tar.gz",
        &[("demo_pkg-1.0/PKG-INFO", METADATA.as_bytes())],
    );
    let err = inspect(&other_top).unwrap_err();
    assert!(matches!(err, CheckError::LayoutMismatch { .. }), "{err}");
    assert!(err.to_string().contains("`demo_pkg-2.0/`"), "{err}");
}

#[test]
fn not_an_archive_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "demo_pkg-1.0-py3-none-any.whl",
        "demo_pkg-1.0.tar.gz",
        "demo-1.0.zip",
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, b"this is not an archive").unwrap();
        let err = inspect(&path).unwrap_err();
        assert!(
            matches!(err, CheckError::NotAnArchive { .. }),
            "{name}: {err}"
        );
    }
}

#[test]
fn unknown_extension_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("demo-1.0.egg");
    std::fs::write(&path, b"").unwrap();
    let err = inspect(&path).unwrap_err();
    assert!(matches!(err, CheckError::UnsupportedKind { .. }));
    assert!(err.to_string().contains("`.whl`"), "{err}");
    assert!(!check_path(&path, None).ok());
}

#[test]
fn missing_file_is_an_io_error() {
    let err = inspect(Path::new("/nonexistent/demo-1.0.tar.gz")).unwrap_err();
    assert!(matches!(err, CheckError::Io { .. }), "{err}");
}

#[test]
fn oversized_metadata_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // Deflate shrinks this to a few KiB: a small zip bomb.
    let huge = vec![b'a'; (MAX_METADATA_BYTES + 10) as usize];
    let path = write_zip(
        dir.path(),
        "demo_pkg-1.0-py3-none-any.whl",
        &[("demo_pkg-1.0.dist-info/METADATA", &huge)],
    );
    let err = inspect(&path).unwrap_err();
    assert!(matches!(err, CheckError::MetadataTooLarge { .. }), "{err}");
}
