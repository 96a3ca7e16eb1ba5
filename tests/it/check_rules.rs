//! Every `tagpub check` rule on a real, generated file: a good wheel and
//! sdist (written with the zip/tar crates, RECORD with real hashes) pass,
//! and one broken variant per rule fails with that rule's message. All the
//! variants are checked in one `tagpub check --json` run, as a user would.

use crate::common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tagpub_fixtures::archive::{self, Member, member, record, write_zip};

const GOOD_METADATA: &str = "\
Metadata-Version: 2.4
Name: demo-pkg
Version: 1.0
Summary: A demo package
License-Expression: MIT OR Apache-2.0
Classifier: Programming Language :: Python :: 3
Classifier: Operating System :: OS Independent
Requires-Python: >=3.9
Project-URL: Source, https://example.org/demo
Requires-Dist: click; extra == \"cli\"
Provides-Extra: cli
Description-Content-Type: text/markdown

# Demo

A *demo* package.
";

const RST_METADATA: &str = "\
Metadata-Version: 2.1
Name: demo-pkg
Version: 1.0
Summary: A demo package
Description-Content-Type: text/x-rst

Demo
====

A *demo* package with a ``literal``.

.. bogus:: directive
";

/// `demo_pkg-1.0.dist-info` members for `metadata`, without RECORD.
fn wheel_members(dist_info: &str, metadata: &str, tag: &str) -> Vec<Member> {
    vec![
        member("demo_pkg/__init__.py", b"print('hello')\n"),
        member(&format!("{dist_info}/METADATA"), metadata.as_bytes()),
        member(
            &format!("{dist_info}/WHEEL"),
            format!("Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: {tag}\n")
                .as_bytes(),
        ),
    ]
}

/// A wheel whose RECORD matches its members; `edit` changes the members
/// after RECORD was computed (to break it) or before (`pre`).
fn wheel(
    dir: &Path,
    filename: &str,
    metadata: &str,
    pre: impl FnOnce(&mut Vec<Member>),
    edit: impl FnOnce(&mut Vec<Member>),
) -> PathBuf {
    let dist_info = "demo_pkg-1.0.dist-info";
    let tag = filename
        .trim_end_matches(".whl")
        .splitn(3, '-')
        .nth(2)
        .unwrap_or("py3-none-any")
        .to_string();
    let mut members = wheel_members(dist_info, metadata, &tag);
    pre(&mut members);
    let record = record(dist_info, &members);
    members.push(record);
    edit(&mut members);
    let path = dir.join(filename);
    write_zip(&path, &members);
    path
}

/// Marks one member as bzip2-compressed in its local and central headers
/// (the zip crate here writes only stored/deflated): the archive stays
/// readable, PyPI would refuse it.
fn bzip2_member(path: &Path, name: &str) -> PathBuf {
    let mut bytes = std::fs::read(path).unwrap();
    let needle = name.as_bytes();
    let positions: Vec<usize> = (0..bytes.len() - needle.len())
        .filter(|&i| &bytes[i..i + needle.len()] == needle)
        .collect();
    let mut patched = 0;
    for at in positions {
        if at >= 30 && bytes[at - 30..at - 26] == *b"PK\x03\x04" {
            bytes[at - 30 + 8..at - 30 + 10].copy_from_slice(&12u16.to_le_bytes());
            patched += 1;
        } else if at >= 46 && bytes[at - 46..at - 42] == *b"PK\x01\x02" {
            bytes[at - 46 + 10..at - 46 + 12].copy_from_slice(&12u16.to_le_bytes());
            patched += 1;
        }
    }
    assert_eq!(patched, 2, "local and central header of {name}");
    std::fs::write(path, bytes).unwrap();
    path.to_path_buf()
}

fn simple_wheel(dir: &Path, filename: &str, metadata: &str) -> PathBuf {
    wheel(dir, filename, metadata, |_| {}, |_| {})
}

/// A `.tar.gz` sdist: `entries` are (name, data); links via `links`
/// (name, target, hard).
fn tar_gz(
    dir: &Path,
    filename: &str,
    entries: &[(&str, &[u8])],
    links: &[(&str, &str, bool)],
) -> PathBuf {
    let mut members: Vec<Member> = entries.iter().map(|(n, d)| member(n, d)).collect();
    let mut hard = Vec::new();
    for (name, target, is_hard) in links {
        if *is_hard {
            hard.push((*name, *target));
        } else {
            members.push(archive::symlink(name, target));
        }
    }
    archive::write_tar_gz(&dir.join(filename), &members, &hard)
}

fn sdist(dir: &Path, filename: &str, pkg_info: &str) -> PathBuf {
    let top = filename.trim_end_matches(".tar.gz");
    tar_gz(
        dir,
        filename,
        &[
            (
                &format!("{top}/pyproject.toml"),
                b"[project]\nname = 'demo-pkg'\n",
            ),
            (&format!("{top}/PKG-INFO"), pkg_info.as_bytes()),
        ],
        &[],
    )
}

fn tagpub(files: &[PathBuf], args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut command = Command::new(crate::common::project::tagpub_bin());
    command.arg("check").args(args).args(files);
    command.env("TAGPUB_PYTHON", common::venv_bin("python"));
    command.env_remove("TAGPUB_RST");
    for (key, value) in envs {
        command.env(key, value);
    }
    command.output().unwrap()
}

/// File name → (errors, warnings).
type Reports = BTreeMap<String, (Vec<String>, Vec<String>)>;

/// The `--json` output, and its reports by file name.
fn reports(output: &Output) -> (serde_json::Value, Reports) {
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "no JSON ({err}); stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    let map = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["file"].as_str().unwrap().to_string(),
                (strings(&r["errors"]), strings(&r["warnings"])),
            )
        })
        .collect();
    (json, map)
}

fn metadata_with(replace: &str, with: &str) -> String {
    assert!(GOOD_METADATA.contains(replace), "{replace}");
    GOOD_METADATA.replacen(replace, with, 1)
}

#[test]
fn every_rule_refuses_its_broken_variant_with_its_message() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    // Each case in its own directory, so file names can repeat.
    let mut n = 0;
    let mut dir = || {
        n += 1;
        let d = root.join(format!("case{n}"));
        std::fs::create_dir(&d).unwrap();
        d
    };
    let good_wheel = "demo_pkg-1.0-py3-none-any.whl";
    let bomb = vec![0u8; 70 * 1024 * 1024];
    // (path, expected message); `None` = must pass.
    let mut cases: Vec<(PathBuf, Option<&str>)> = vec![
        (simple_wheel(&dir(), good_wheel, GOOD_METADATA), None),
        (sdist(&dir(), "demo_pkg-1.0.tar.gz", GOOD_METADATA), None),
        // Normalized names and versions match: Demo.Pkg 1.0.0 is demo_pkg 1.0.
        (
            simple_wheel(
                &dir(),
                good_wheel,
                &metadata_with(
                    "Name: demo-pkg\nVersion: 1.0",
                    "Name: Demo.Pkg\nVersion: 1.0.0",
                ),
            ),
            None,
        ),
        (
            simple_wheel(
                &dir(),
                "demo_pkg-1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
                GOOD_METADATA,
            ),
            None,
        ),
        (
            simple_wheel(
                &dir(),
                "demo_pkg-1.0-cp313-cp313-ios_13_0_arm64_iphoneos.whl",
                GOOD_METADATA,
            ),
            None,
        ),
        (
            simple_wheel(
                &dir(),
                "demo_pkg-1.0-cp313-cp313-android_21_arm64_v8a.whl",
                GOOD_METADATA,
            ),
            None,
        ),
        // Metadata does not parse.
        (
            simple_wheel(
                &dir(),
                good_wheel,
                &metadata_with("Summary:", "not a header\nSummary:"),
            ),
            Some("cannot be parsed: line 4 is neither a `Key: value` header"),
        ),
        // Metadata-Version.
        (
            simple_wheel(
                &dir(),
                good_wheel,
                &metadata_with("Metadata-Version: 2.4", "Metadata-Version: 2.0"),
            ),
            Some("`Metadata-Version: 2.0` is not supported"),
        ),
        (
            simple_wheel(
                &dir(),
                good_wheel,
                &metadata_with("Metadata-Version: 2.4", "Metadata-Version: 2.3"),
            ),
            Some(
                "`License-Expression` was introduced in metadata version 2.4, but the file says `Metadata-Version: 2.3`",
            ),
        ),
        (
            simple_wheel(
                &dir(),
                good_wheel,
                &metadata_with("Summary:", "X-Custom: 1\nSummary:"),
            ),
            Some("`X-Custom` is not a core metadata field"),
        ),
        (
            simple_wheel(
                &dir(),
                good_wheel,
                &metadata_with("Summary: A demo package", "Summary: A demo\n  package"),
            ),
            Some("`Summary` spans several lines"),
        ),
        // File name vs metadata, after normalization.
        (
            simple_wheel(
                &dir(),
                good_wheel,
                &metadata_with("Name: demo-pkg", "Name: other-pkg"),
            ),
            Some("the file name says project `demo_pkg` but the metadata says `other-pkg`"),
        ),
        (
            simple_wheel(
                &dir(),
                good_wheel,
                &metadata_with("Version: 1.0", "Version: 1.1"),
            ),
            Some("the file name says version 1.0 but the metadata says 1.1"),
        ),
        (
            sdist(
                &dir(),
                "demo_pkg-1.0.tar.gz",
                &metadata_with("Name: demo-pkg", "Name: other-pkg"),
            ),
            Some("the file name says project `demo_pkg` but the metadata says `other-pkg`"),
        ),
        (
            simple_wheel(
                &dir(),
                good_wheel,
                &metadata_with("Version: 1.0", "Version: 1.0-final-x"),
            ),
            Some("`Version: 1.0-final-x` is not a valid PEP 440 version"),
        ),
        // Wheel file name and platform tag.
        (
            simple_wheel(&dir(), "demo_pkg-1.0-py3-none.whl", GOOD_METADATA),
            Some("is not a valid wheel file name"),
        ),
        (
            simple_wheel(
                &dir(),
                "demo_pkg-1.0-cp312-cp312-linux_x86_64.whl",
                GOOD_METADATA,
            ),
            Some(
                "platform tag `linux_x86_64` is not one PyPI accepts; build it in a manylinux/musllinux container",
            ),
        ),
        (
            simple_wheel(
                &dir(),
                "demo_pkg-1.0-cp312-cp312-macosx_11_3_arm64.whl",
                GOOD_METADATA,
            ),
            Some("platform tag `macosx_11_3_arm64` is not one PyPI accepts"),
        ),
        // WHEEL, RECORD, METADATA.
        (
            wheel(
                &dir(),
                good_wheel,
                GOOD_METADATA,
                |m| m.retain(|m| !m.name.ends_with("/WHEEL")),
                |_| {},
            ),
            Some("`demo_pkg-1.0.dist-info/WHEEL` is missing"),
        ),
        (
            wheel(
                &dir(),
                good_wheel,
                GOOD_METADATA,
                |_| {},
                |m| m.retain(|m| !m.name.ends_with("/RECORD")),
            ),
            Some("`demo_pkg-1.0.dist-info/RECORD` is missing; PyPI refuses wheels without RECORD"),
        ),
        (
            wheel(
                &dir(),
                good_wheel,
                GOOD_METADATA,
                |m| m.retain(|m| !m.name.ends_with("/METADATA")),
                |_| {},
            ),
            Some("has no `demo_pkg-1.0.dist-info/METADATA`"),
        ),
        (
            wheel(
                &dir(),
                good_wheel,
                GOOD_METADATA,
                |_| {},
                |m| m[0].data = b"print('tampered')\n".to_vec(),
            ),
            Some("RECORD hash or size does not match the content of `demo_pkg/__init__.py`"),
        ),
        (
            wheel(
                &dir(),
                good_wheel,
                GOOD_METADATA,
                |_| {},
                |m| m.push(member("demo_pkg/extra.py", b"x = 1\n")),
            ),
            Some("RECORD does not list `demo_pkg/extra.py`"),
        ),
        (
            wheel(
                &dir(),
                good_wheel,
                GOOD_METADATA,
                |m| m.push(member("demo_pkg/gone.py", b"")),
                |m| m.retain(|m| m.name != "demo_pkg/gone.py"),
            ),
            Some("RECORD lists `demo_pkg/gone.py`, which the wheel does not contain"),
        ),
        (
            wheel(
                &dir(),
                good_wheel,
                GOOD_METADATA,
                |_| {},
                |m| {
                    let record = m.last_mut().unwrap();
                    let text = String::from_utf8(record.data.clone()).unwrap();
                    let line = text.lines().next().unwrap().to_string();
                    let (path, _) = line.split_once(',').unwrap();
                    record.data = text
                        .replacen(&line, &format!("{path},md5=AAAA,15"), 1)
                        .into_bytes();
                },
            ),
            Some("with an algorithm the wheel spec does not allow"),
        ),
        // PyPI wants the normalized name in a wheel's file name.
        (
            {
                let dir = dir();
                let metadata = metadata_with("Name: demo-pkg", "Name: Demo.Pkg");
                let members = wheel_members("Demo.Pkg-1.0.dist-info", &metadata, "py3-none-any");
                let mut members: Vec<Member> = members
                    .into_iter()
                    .map(|mut m| {
                        m.name = m.name.replace("demo_pkg/", "demo/");
                        m
                    })
                    .collect();
                members.push(record("Demo.Pkg-1.0.dist-info", &members));
                let path = dir.join("Demo.Pkg-1.0-py3-none-any.whl");
                write_zip(&path, &members);
                path
            },
            Some(
                "the wheel's file name starts with `Demo.Pkg` but PyPI wants the normalized project name `demo_pkg`",
            ),
        ),
        // License-File (metadata 2.4) must be in the wheel.
        (
            simple_wheel(
                &dir(),
                good_wheel,
                &metadata_with("Summary:", "License-File: LICENSE\nSummary:"),
            ),
            Some(
                "`License-File: LICENSE` is not in the wheel at `demo_pkg-1.0.dist-info/licenses/LICENSE`",
            ),
        ),
        (
            wheel(
                &dir(),
                good_wheel,
                &metadata_with("Summary:", "License-File: LICENSE\nSummary:"),
                |m| m.push(member("demo_pkg-1.0.dist-info/licenses/LICENSE", b"MIT")),
                |_| {},
            ),
            None,
        ),
        // Sdist without PKG-INFO.
        (
            tar_gz(
                &dir(),
                "demo_pkg-1.0.tar.gz",
                &[("demo_pkg-1.0/setup.py", b"")],
                &[],
            ),
            Some("has no `demo_pkg-1.0/PKG-INFO`"),
        ),
        // Classifiers.
        (
            simple_wheel(
                &dir(),
                good_wheel,
                &metadata_with("Python :: 3", "Pythn :: 3"),
            ),
            Some("classifier `Programming Language :: Pythn :: 3` is not a known trove classifier"),
        ),
        (
            simple_wheel(
                &dir(),
                good_wheel,
                &metadata_with(
                    "Classifier: Operating",
                    "Classifier: Private :: Do Not Upload\nClassifier: Operating",
                ),
            ),
            Some("PyPI refuses `Private ::` classifiers on purpose"),
        ),
        // License-Expression.
        (
            simple_wheel(
                &dir(),
                good_wheel,
                &metadata_with("MIT OR Apache-2.0", "MIT OR"),
            ),
            Some("`License-Expression: MIT OR` is not a valid SPDX expression"),
        ),
        (
            simple_wheel(
                &dir(),
                good_wheel,
                &metadata_with("MIT OR Apache-2.0", "Not-A-License"),
            ),
            Some("`License-Expression: Not-A-License` is not a valid SPDX expression"),
        ),
        // Description-Content-Type.
        (
            simple_wheel(
                &dir(),
                good_wheel,
                &metadata_with("text/markdown", "text/html"),
            ),
            Some("`Description-Content-Type: text/html` is not one PyPI renders"),
        ),
        (
            simple_wheel(
                &dir(),
                good_wheel,
                &metadata_with("text/markdown", "text/markdown; charset=latin-1"),
            ),
            Some("the charset must be UTF-8, not `latin-1`"),
        ),
        (
            simple_wheel(
                &dir(),
                good_wheel,
                &metadata_with("text/markdown", "text/markdown; variant=Pandoc"),
            ),
            Some("the Markdown variant must be `GFM` or `CommonMark`, not `Pandoc`"),
        ),
        // Other metadata PyPI validates.
        (
            simple_wheel(
                &dir(),
                good_wheel,
                &metadata_with("click; extra", "click >= ; extra"),
            ),
            Some("`Requires-Dist: click >= ; extra == \"cli\"` is not a valid PEP 508 requirement"),
        ),
        (
            simple_wheel(
                &dir(),
                good_wheel,
                &metadata_with(
                    "Summary:",
                    "Project-URL: Home, https://example.org\nProject-URL: Home, https://example.com\nSummary:",
                ),
            ),
            Some("`Project-URL` label `Home` is used twice"),
        ),
        (
            simple_wheel(
                &dir(),
                good_wheel,
                &metadata_with("Summary:", "Project-URL: Docs, ftp://example.org\nSummary:"),
            ),
            Some("`Project-URL: Docs, ftp://example.org` is not `label, http(s) URL`"),
        ),
        (
            simple_wheel(&dir(), good_wheel, &metadata_with(">=3.9", "=>3.9")),
            Some("`Requires-Python: =>3.9` is not a valid version specifier"),
        ),
        (
            simple_wheel(
                &dir(),
                good_wheel,
                &metadata_with("Provides-Extra: cli", "Provides-Extra: cli!"),
            ),
            Some("`Provides-Extra: cli!` is not a valid extra name"),
        ),
        (
            simple_wheel(
                &dir(),
                good_wheel,
                &metadata_with("Summary:", "Dynamic: Version\nSummary:"),
            ),
            Some("`Dynamic: Version` is not allowed"),
        ),
        // Archive safety: never extracted, refused.
        (
            wheel(
                &dir(),
                good_wheel,
                GOOD_METADATA,
                |m| m.push(member("../evil.py", b"x")),
                |_| {},
            ),
            Some("member `../evil.py` has a `..` component (path traversal)"),
        ),
        (
            wheel(
                &dir(),
                good_wheel,
                GOOD_METADATA,
                |m| m.push(member("/etc/evil.pth", b"x")),
                |_| {},
            ),
            Some("member `/etc/evil.pth` is an absolute path"),
        ),
        (
            wheel(
                &dir(),
                good_wheel,
                GOOD_METADATA,
                |m| {
                    m.push(Member {
                        name: "demo_pkg/link".into(),
                        data: b"../../../etc/passwd".to_vec(),
                        symlink: true,
                    })
                },
                |_| {},
            ),
            Some(
                "member `demo_pkg/link` is a symlink to `../../../etc/passwd`, outside the archive",
            ),
        ),
        (
            tar_gz(
                &dir(),
                "demo_pkg-1.0.tar.gz",
                &[
                    ("demo_pkg-1.0/PKG-INFO", GOOD_METADATA.as_bytes()),
                    ("demo_pkg-1.0/../../evil.py", b"x"),
                ],
                &[],
            ),
            Some("member `demo_pkg-1.0/../../evil.py` has a `..` component"),
        ),
        (
            tar_gz(
                &dir(),
                "demo_pkg-1.0.tar.gz",
                &[("demo_pkg-1.0/PKG-INFO", GOOD_METADATA.as_bytes())],
                &[("demo_pkg-1.0/link", "../../etc/passwd", false)],
            ),
            Some("member `demo_pkg-1.0/link` is a link to `../../etc/passwd`, outside the archive"),
        ),
        (
            tar_gz(
                &dir(),
                "demo_pkg-1.0.tar.gz",
                &[("demo_pkg-1.0/PKG-INFO", GOOD_METADATA.as_bytes())],
                &[("demo_pkg-1.0/hard", "/etc/shadow", true)],
            ),
            Some("member `demo_pkg-1.0/hard` is a link to `/etc/shadow`, outside the archive"),
        ),
        (
            wheel(
                &dir(),
                good_wheel,
                GOOD_METADATA,
                |m| m.push(member("demo_pkg/zeros.bin", &bomb)),
                |_| {},
            ),
            Some("a compression bomb, not a package; refused without unpacking it"),
        ),
        (
            tar_gz(
                &dir(),
                "demo_pkg-1.0.tar.gz",
                &[
                    ("demo_pkg-1.0/zeros.bin", &bomb),
                    ("demo_pkg-1.0/PKG-INFO", GOOD_METADATA.as_bytes()),
                ],
                &[],
            ),
            Some("a compression bomb, not a package"),
        ),
        (
            bzip2_member(
                &simple_wheel(&dir(), good_wheel, GOOD_METADATA),
                "demo_pkg/__init__.py",
            ),
            Some(
                "member `demo_pkg/__init__.py` uses bzip2 compression; PyPI accepts only stored and deflated",
            ),
        ),
        (
            {
                // Normalized the same, but not the file name's literal spelling.
                let path = simple_wheel(&dir(), good_wheel, GOOD_METADATA);
                let renamed = path.with_file_name("Demo_Pkg-1.0-py3-none-any.whl");
                std::fs::rename(&path, &renamed).unwrap();
                renamed
            },
            Some("but PyPI looks for `Demo_Pkg-1.0.dist-info/`"),
        ),
    ];
    // A legacy zip sdist reads, but PyPI refuses it (PEP 625).
    let zip_sdist = dir().join("demo-pkg-1.0.zip");
    write_zip(
        &zip_sdist,
        &[
            member("demo-pkg-1.0/setup.py", b""),
            member("demo-pkg-1.0/PKG-INFO", GOOD_METADATA.as_bytes()),
        ],
    );
    cases.push((
        zip_sdist,
        Some(
            "sdist `demo-pkg-1.0.zip` should be named `demo_pkg-1.0.tar.gz`: PyPI accepts only \
             `.tar.gz` sdists (PEP 625)",
        ),
    ));

    let files: Vec<PathBuf> = cases.iter().map(|(path, _)| path.clone()).collect();
    let output = tagpub(&files, &["--json"], &[]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let (json, _) = reports(&output);
    let reports = json["files"].as_array().unwrap();
    assert_eq!(reports.len(), cases.len());
    // Reports come in argument order (file names repeat across cases).
    for ((path, expected), report) in cases.iter().zip(reports) {
        let errors: Vec<&str> = report["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap())
            .collect();
        match expected {
            None => assert!(errors.is_empty(), "{}: {errors:#?}", path.display()),
            Some(message) => assert!(
                errors.iter().any(|e| e.contains(message)),
                "{}: expected {message:?} in {errors:#?}",
                path.display()
            ),
        }
    }
    // Nothing was unpacked next to the archives.
    assert!(!root.join("evil.py").exists() && !root.parent().unwrap().join("evil.py").exists());
    // Markdown only: no RST engine was needed.
    assert_eq!(json["rst_engine"], serde_json::Value::Null);
}

#[test]
fn missing_description_and_content_type_warn_and_fail_under_strict() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = "Metadata-Version: 2.1\nName: demo-pkg\nVersion: 1.0\nSummary: s\n";
    let path = simple_wheel(tmp.path(), "demo_pkg-1.0-py3-none-any.whl", bare);
    let files = [path];

    let lenient = tagpub(&files, &["--json"], &[]);
    assert_eq!(lenient.status.code(), Some(0));
    let (_, reports) = reports(&lenient);
    let (errors, warnings) = &reports["demo_pkg-1.0-py3-none-any.whl"];
    assert!(errors.is_empty(), "{errors:?}");
    assert!(
        warnings.iter().any(|w| w.contains("no long description")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("has no `Description-Content-Type`"))
    );

    let strict = tagpub(&files, &["--strict"], &[]);
    assert_eq!(strict.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&strict.stderr);
    let line = stderr
        .lines()
        .find(|l| l.contains("demo_pkg-1.0-py3-none-any.whl"))
        .unwrap();
    assert!(line.starts_with('✗'), "{stderr}");
    assert!(line.contains("no long description"), "{stderr}");
}

#[test]
fn rst_is_checked_by_the_engine_asked_for_and_says_which() {
    let tmp = tempfile::tempdir().unwrap();
    let broken = simple_wheel(tmp.path(), "demo_pkg-1.0-py3-none-any.whl", RST_METADATA);
    let good_dir = tmp.path().join("good");
    std::fs::create_dir(&good_dir).unwrap();
    let good = simple_wheel(
        &good_dir,
        "demo_pkg-1.0-py3-none-any.whl",
        &RST_METADATA.replace(".. bogus:: directive\n", ".. note:: A note.\n"),
    );
    // Markdown and plain text are never rendered, so invalid RST there passes.
    let md_dir = tmp.path().join("md");
    std::fs::create_dir(&md_dir).unwrap();
    let markdown = simple_wheel(
        &md_dir,
        "demo_pkg-1.0-py3-none-any.whl",
        &RST_METADATA.replace("text/x-rst", "text/plain"),
    );
    let files = [broken, good, markdown];

    for (engine, says, message) in [
        (
            "readme_renderer",
            "readme_renderer ",
            "Unknown directive type \"bogus\"",
        ),
        (
            "native",
            "tagpub's native validator",
            "unknown directive type \"bogus\"",
        ),
    ] {
        let output = tagpub(&files, &["--json"], &[("TAGPUB_RST", engine)]);
        assert_eq!(output.status.code(), Some(1), "{engine}");
        let (json, _) = reports(&output);
        assert_eq!(json["rst_engine"]["engine"], engine);
        let checked = json["files"].as_array().unwrap();
        let errors = checked[0]["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 1, "{engine}: {errors:?}");
        let error = errors[0].as_str().unwrap();
        assert!(
            error.contains("reStructuredText that does not render"),
            "{error}"
        );
        assert!(error.contains(says), "{engine}: {error}");
        assert!(error.contains(message), "{engine}: {error}");
        assert_eq!(
            checked[1]["errors"].as_array().unwrap().len(),
            0,
            "{engine}"
        );
        assert_eq!(
            checked[2]["errors"].as_array().unwrap().len(),
            0,
            "{engine}"
        );

        // The human output says which engine ran.
        let human = tagpub(&files, &[], &[("TAGPUB_RST", engine)]);
        let stderr = String::from_utf8_lossy(&human.stderr);
        assert!(
            stderr
                .lines()
                .last()
                .unwrap()
                .starts_with("reStructuredText checked with ")
                && stderr.contains(says),
            "{stderr}"
        );
    }
}

/// A stand-in `python` that logs each start, then runs the venv's Python.
#[cfg(unix)]
fn counting_python(dir: &Path) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let log = dir.join("starts.log");
    let script = dir.join("python");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho started >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            common::venv_bin("python").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (script, log)
}

#[cfg(unix)]
#[test]
fn one_python_process_for_all_rst_descriptions_and_none_without_rst() {
    let tmp = tempfile::tempdir().unwrap();
    let (python, log) = counting_python(tmp.path());
    let mut files = Vec::new();
    for n in 0..3 {
        let dir = tmp.path().join(format!("rst{n}"));
        std::fs::create_dir(&dir).unwrap();
        files.push(simple_wheel(
            &dir,
            "demo_pkg-1.0-py3-none-any.whl",
            RST_METADATA,
        ));
    }
    let md = tmp.path().join("md");
    std::fs::create_dir(&md).unwrap();
    let markdown = simple_wheel(&md, "demo_pkg-1.0-py3-none-any.whl", GOOD_METADATA);
    files.push(markdown.clone());

    let python = python.to_str().unwrap();
    let output = tagpub(&files, &["--json"], &[("TAGPUB_PYTHON", python)]);
    let (json, _) = reports(&output);
    assert_eq!(json["rst_engine"]["engine"], "readme_renderer", "{json}");
    let starts = std::fs::read_to_string(&log).unwrap();
    assert_eq!(starts.lines().count(), 1, "one Python for three RST files");

    std::fs::remove_file(&log).unwrap();
    let output = tagpub(&[markdown], &["--json"], &[("TAGPUB_PYTHON", python)]);
    assert_eq!(output.status.code(), Some(0));
    assert!(!log.exists(), "no Python without RST descriptions");
}

#[cfg(unix)]
#[test]
fn the_rst_renderer_gets_no_token() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let env_dump = tmp.path().join("renderer.env");
    let python = tmp.path().join("python");
    std::fs::write(
        &python,
        format!(
            "#!/bin/sh\nenv > '{}'\nexec '{}' \"$@\"\n",
            env_dump.display(),
            common::venv_bin("python").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).unwrap();
    let files = [simple_wheel(
        tmp.path(),
        "demo_pkg-1.0-py3-none-any.whl",
        RST_METADATA,
    )];
    let output = tagpub(
        &files,
        &["--json"],
        &[
            ("TAGPUB_PYTHON", python.to_str().unwrap()),
            ("PYPI_API_TOKEN", "pypi-rst-renderer-leak"),
            ("GITHUB_TOKEN", "ghp_rst_renderer_leak"),
            ("DBUS_SESSION_BUS_ADDRESS", "unix:path=/rst-renderer-bus"),
            ("RST_RENDERER_PROBE", "kept"),
        ],
    );
    let (json, _) = reports(&output);
    assert_eq!(json["rst_engine"]["engine"], "readme_renderer", "{json}");
    let env = std::fs::read_to_string(&env_dump).unwrap();
    assert!(env.contains("RST_RENDERER_PROBE=kept"), "{env}");
    for leaked in ["rst-renderer-leak", "rst_renderer_leak", "rst-renderer-bus"] {
        assert!(!env.contains(leaked), "the renderer saw {leaked}:\n{env}");
    }
}

#[test]
fn without_readme_renderer_auto_falls_back_and_forced_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let files = [simple_wheel(
        tmp.path(),
        "demo_pkg-1.0-py3-none-any.whl",
        RST_METADATA,
    )];
    let missing = tmp.path().join("no-such-python");
    let missing = missing.to_str().unwrap();

    let auto = tagpub(&files, &[], &[("TAGPUB_PYTHON", missing)]);
    assert_eq!(auto.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&auto.stderr);
    assert!(
        stderr.contains("reStructuredText checked with tagpub's native validator"),
        "{stderr}"
    );
    assert!(
        stderr.contains("unknown directive type \"bogus\""),
        "{stderr}"
    );

    let forced = tagpub(
        &files,
        &[],
        &[
            ("TAGPUB_PYTHON", missing),
            ("TAGPUB_RST", "readme_renderer"),
        ],
    );
    assert_eq!(forced.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&forced.stderr);
    assert!(stderr.contains("cannot run readme_renderer"), "{stderr}");
    assert!(stderr.contains("TAGPUB_RST=native"), "{stderr}");

    let bogus = tagpub(&files, &[], &[("TAGPUB_RST", "pandoc")]);
    assert_eq!(bogus.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bogus.stderr).contains("TAGPUB_RST=\"pandoc\""));
}

/// reStructuredText snippets and whether PyPI renders them: both engines
/// must give that verdict (the native validator's subset, checked against
/// readme_renderer itself).
const RST_CASES: &[(&str, bool)] = &[
    (
        "Title\n=====\n\nText with *emphasis*, **strong**, ``literal`` and `a link <https://example.org>`_.\n",
        true,
    ),
    (
        "Title\n===\n\nAn underline under 4 characters too short for its title is text.\n",
        true,
    ),
    ("Longer title\n=====\n\nUnderline too short.\n", false),
    (
        "Sub\n---\n\nA 3-character underline is enough for a 3-character title.\n",
        true,
    ),
    ("Para text\n  ----\n", false),
    ("a\nb\n=====\n", true),
    ("=====\n\nTransition first.\n", false),
    ("Transition last.\n\n=====\n", false),
    ("One\n\n=====\n\nTwo\n", true),
    (
        "=======\n Title\n=======\n\nOverline and underline.\n",
        true,
    ),
    ("=======\n Title\n\nNo underline.\n", false),
    (
        "Title\n=====\n\nSub\n---\n\nSubsub\n~~~~~~\n\nOther\n=====\n",
        true,
    ),
    (
        "Title\n=====\n\nSub\n---\n\nBack\n=====\n\nNew style\n*********\n\nDeeper\n~~~~~~\n",
        false,
    ),
    (
        "Title\n=====\n\nSub\n----\n\nSubsub\n~~~~~~\n\nNew\n****\n",
        true,
    ),
    (
        "A\n=\n\nShort titles under 4 adornment characters are text.\n",
        true,
    ),
    (
        "Paragraph one\nstill one\n    unexpected indentation\n",
        false,
    ),
    ("term\n    definition\n", true),
    (
        "Example::\n\n    Title\n    ===\n    *not markup\n\nAfter.\n",
        true,
    ),
    (
        "- item one\n- item two\n  continued\n\n1. first\n2. second\n",
        true,
    ),
    ("Text with *unclosed emphasis.\n", false),
    ("Text with ``unclosed literal.\n", false),
    ("Text with `unclosed interpreted.\n", false),
    ("A 2 * 3 product and a (*) star are not markup.\n", true),
    ("See the docs_.\n\n.. _docs: https://example.org\n", true),
    ("See the missing_ target.\n", false),
    ("See `Title`_ below.\n\nTitle\n=====\n", true),
    ("Use |name| here.\n\n.. |name| replace:: tagpub\n", true),
    ("Use |undefined| here.\n", false),
    (
        ".. note:: A note.\n\n.. code:: python\n\n    print('hi')\n",
        true,
    ),
    (".. code-block:: python\n\n    print('hi')\n", true),
    (".. bogus:: directive\n", false),
    (".. raw:: html\n\n    <b>hi</b>\n", false),
    (".. include:: other.rst\n", false),
    (
        ".. image:: https://example.org/a.png\n    :alt: alt\n\n    content is not allowed\n",
        false,
    ),
    (
        ".. image:: https://example.org/a.png\n    :target: https://example.org\n",
        true,
    ),
    ("Role :emphasis:`ok` and :sup:`2`.\n", true),
    ("Sphinx role :func:`print` does not render.\n", false),
    ("Footnote [1]_.\n\n.. [1] The note.\n", true),
    ("Footnote [2]_ without a note.\n", false),
    (".. comment without double colon\n   spans lines\n", false),
    (".. comment\n\nThen text.\n", true),
    ("Text\n\n    Quoted block\n    ---------\n", false),
    ("Anonymous `link`__.\n\n__ https://example.org\n", true),
    ("- item\n  text\n- next\ncontinues at the margin\n", false),
    (
        "- item one\n  first line\n  second line\n    deeper\n",
        false,
    ),
    ("1. This is a sentence\nthat starts with a number.\n", true),
    (
        "term\n    definition\nother term\n    its definition\n",
        true,
    ),
    ("term\n    definition\nnot a term\n", false),
    ("| line one\n| line two\nplain\n", false),
    ("Rust._ and `Ranges::empty()`: no role.\n", true),
    (".. |sub| replace:: only a substitution\n", false),
    (
        "+-----+-----+\n| a   | b   |\n+=====+=====+\n| 1   | 2   |\n+-----+-----+\n",
        true,
    ),
    (
        "=====  =====\nA      B\n=====  =====\n1      2\n=====  =====\n",
        true,
    ),
];

#[test]
fn native_rst_validator_agrees_with_readme_renderer_on_each_construct() {
    let tmp = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (n, (text, _)) in RST_CASES.iter().enumerate() {
        let dir = tmp.path().join(format!("rst{n}"));
        std::fs::create_dir(&dir).unwrap();
        let metadata = format!(
            "Metadata-Version: 2.1\nName: demo-pkg\nVersion: 1.0\nSummary: s\n\
             Description-Content-Type: text/x-rst\n\n{text}"
        );
        files.push(simple_wheel(
            &dir,
            "demo_pkg-1.0-py3-none-any.whl",
            &metadata,
        ));
    }
    let verdicts = |engine: &str| -> Vec<(bool, String)> {
        let output = tagpub(&files, &["--json"], &[("TAGPUB_RST", engine)]);
        let (json, _) = reports(&output);
        assert_eq!(json["rst_engine"]["engine"], engine);
        json["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let errors = r["errors"].as_array().unwrap();
                (
                    errors.is_empty(),
                    errors
                        .iter()
                        .map(|e| e.as_str().unwrap())
                        .collect::<Vec<_>>()
                        .join(" | "),
                )
            })
            .collect()
    };
    let renderer = verdicts("readme_renderer");
    let native = verdicts("native");
    let mut wrong = Vec::new();
    for (((text, renders), (rr_ok, rr_why)), (native_ok, native_why)) in
        RST_CASES.iter().zip(&renderer).zip(&native)
    {
        if rr_ok != renders || native_ok != renders {
            wrong.push(format!(
                "{text:?}: expected renders={renders}; readme_renderer {rr_ok} ({rr_why}); \
                 native {native_ok} ({native_why})"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The README: about 40 KB of nested list markers. It used to
/// overflow the native validator's stack (exit 134); now both engines give
/// a check failure, exit 1, with what docutils says about it. A deep but
/// shorter nesting (each line within docutils' limit) fails the same way.
#[test]
fn deeply_nested_rst_fails_the_check_instead_of_crashing() {
    let tmp = tempfile::tempdir().unwrap();
    let metadata = |description: &str| {
        format!(
            "Metadata-Version: 2.1\nName: demo-pkg\nVersion: 1.0\nSummary: A demo package\n\
             Description-Content-Type: text/x-rst\n\n{description}"
        )
    };
    let long_line = format!("{}x\n", "- ".repeat(20_000));
    let deep = format!("{}x\n", "- ".repeat(2_000));
    for (name, description, native, renderer) in [
        (
            "long",
            long_line,
            "exceeds the line-length-limit",
            "Line 1 exceeds the line-length-limit",
        ),
        (
            "deep",
            deep,
            "nested more than 150 levels deep",
            "too deeply for docutils to render",
        ),
    ] {
        let dir = tmp.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        let wheel = simple_wheel(
            &dir,
            "demo_pkg-1.0-py3-none-any.whl",
            &metadata(&description),
        );
        for (engine, message) in [("native", native), ("readme_renderer", renderer)] {
            let output = tagpub(
                std::slice::from_ref(&wheel),
                &["--json"],
                &[("TAGPUB_RST", engine)],
            );
            assert_eq!(
                output.status.code(),
                Some(1),
                "{name} with {engine}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            let (json, _) = reports(&output);
            let errors = json["files"][0]["errors"].as_array().unwrap();
            assert_eq!(errors.len(), 1, "{name} with {engine}: {errors:?}");
            let error = errors[0].as_str().unwrap();
            assert!(
                error.contains("reStructuredText that does not render") && error.contains(message),
                "{name} with {engine}: {error}"
            );
        }
    }
}

/// pep508_rs recurses once per parenthesis of a marker: 200 000 of them
/// overflowed the stack. packaging refuses markers nested more than 200
/// deep; so does tagpub, before parsing, and 200 still parse (on the check's
/// worker threads: two files).
#[test]
fn deeply_nested_markers_fail_the_check_instead_of_crashing() {
    let tmp = tempfile::tempdir().unwrap();
    let metadata = |depth: usize| {
        format!(
            "Metadata-Version: 2.1\nName: demo-pkg\nVersion: 1.0\nSummary: A demo package\n\
             Requires-Dist: x ; {}python_version > '3'{}\n",
            "(".repeat(depth),
            ")".repeat(depth)
        )
    };
    let mut wheels = Vec::new();
    for depth in [200, 201, 200_000] {
        let dir = tmp.path().join(depth.to_string());
        std::fs::create_dir(&dir).unwrap();
        wheels.push(simple_wheel(
            &dir,
            "demo_pkg-1.0-py3-none-any.whl",
            &metadata(depth),
        ));
    }
    let output = tagpub(&wheels, &["--json"], &[]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (json, _) = reports(&output);
    let nested = |index: usize| {
        json["files"][index]["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| {
                e.as_str()
                    .unwrap()
                    .contains("nested more than 200 levels deep")
            })
    };
    assert!(!nested(0), "{json}");
    assert!(nested(1), "{json}");
    assert!(nested(2), "{json}");
}

/// Rewrites bytes of `name`'s local file header (`local: true`) or central
/// directory header, at `offset` from the header's signature.
fn patch_header(path: &Path, name: &str, local: bool, offset: usize, value: &[u8]) {
    let mut bytes = std::fs::read(path).unwrap();
    let needle = name.as_bytes();
    let (signature, header_len) = if local {
        (*b"PK\x03\x04", 30)
    } else {
        (*b"PK\x01\x02", 46)
    };
    let at = (header_len..bytes.len() - needle.len())
        .find(|&i| {
            &bytes[i..i + needle.len()] == needle
                && bytes[i - header_len..i - header_len + 4] == signature
        })
        .unwrap_or_else(|| panic!("no header for {name}"))
        - header_len;
    bytes[at + offset..at + offset + value.len()].copy_from_slice(value);
    std::fs::write(path, bytes).unwrap();
}

/// Gives `name`'s central directory entry a one-byte comment (allowed by
/// the zip format and read by the zip crate; refused by PyPI).
fn add_entry_comment(path: &Path, name: &str) {
    let mut bytes = std::fs::read(path).unwrap();
    let needle = name.as_bytes();
    let at = (46..bytes.len() - needle.len())
        .find(|&i| &bytes[i..i + needle.len()] == needle && bytes[i - 46..i - 42] == *b"PK\x01\x02")
        .unwrap()
        - 46;
    let u16_at = |b: &[u8], i: usize| u16::from_le_bytes([b[i], b[i + 1]]) as usize;
    let end = at + 46 + u16_at(&bytes, at + 28) + u16_at(&bytes, at + 30);
    bytes[at + 32..at + 34].copy_from_slice(&1u16.to_le_bytes());
    bytes.insert(end, b'c');
    // The end record (no archive comment): central directory size + 1.
    let eocd = bytes.len() - 22;
    assert_eq!(bytes[eocd..eocd + 4], *b"PK\x05\x06");
    let size = u32::from_le_bytes(bytes[eocd + 12..eocd + 16].try_into().unwrap()) + 1;
    bytes[eocd + 12..eocd + 16].copy_from_slice(&size.to_le_bytes());
    std::fs::write(path, bytes).unwrap();
}

/// A GNU sparse member (type `S`) or a PAX-described sparse member in an
/// otherwise good sdist.
fn sparse_sdist(dir: &Path, pax: bool) -> PathBuf {
    let path = dir.join("demo_pkg-1.0.tar.gz");
    let gzip = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).unwrap(),
        flate2::Compression::default(),
    );
    let mut tar = tar::Builder::new(gzip);
    let append = |tar: &mut tar::Builder<_>, name: &str, data: &[u8], kind| {
        let mut header = tar::Header::new_gnu();
        header.set_path(name).unwrap();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(kind);
        header
            .as_gnu_mut()
            .unwrap()
            .set_real_size(data.len() as u64);
        header.set_cksum();
        tar.append(&header, data).unwrap();
    };
    append(
        &mut tar,
        "demo_pkg-1.0/PKG-INFO",
        GOOD_METADATA.as_bytes(),
        tar::EntryType::Regular,
    );
    if pax {
        // GNU's PAX 0.1 sparse format: an (offset, size) map.
        tar.append_pax_extensions([("GNU.sparse.map", b"0,0".as_slice())])
            .unwrap();
        append(
            &mut tar,
            "demo_pkg-1.0/holes.bin",
            b"",
            tar::EntryType::Regular,
        );
    } else {
        append(
            &mut tar,
            "demo_pkg-1.0/holes.bin",
            b"",
            tar::EntryType::GNUSparse,
        );
    }
    tar.into_inner().unwrap().finish().unwrap();
    path
}

/// Each rule Warehouse applies at upload (warehouse/forklift/legacy.py,
/// forklift/metadata.py, utils/zipfiles.py, utils/wheel.py) refuses its
/// generated broken file with its message, under its rule name in
/// `--json`; every failure in the run names a rule.
#[test]
fn warehouse_upload_rules_refuse_their_broken_files_by_rule_name() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let mut n = 0;
    let mut dir = || {
        n += 1;
        let d = root.join(format!("case{n}"));
        std::fs::create_dir(&d).unwrap();
        d
    };
    let good_wheel = "demo_pkg-1.0-py3-none-any.whl";
    let with_member = |dir: &Path, name: &str, data: &[u8]| {
        let (name, data) = (name.to_string(), data.to_vec());
        wheel(
            dir,
            good_wheel,
            GOOD_METADATA,
            move |m| {
                m.push(Member {
                    name,
                    data,
                    symlink: false,
                })
            },
            |_| {},
        )
    };
    let entry_points = "demo_pkg-1.0.dist-info/entry_points.txt";
    let long_tags = format!("any{}", ".any".repeat(55));
    // (path, rule, message); rule "" = must pass.
    let cases: Vec<(PathBuf, &str, String)> = vec![
        // Passing variants of the new rules.
        (
            with_member(&dir(), entry_points, b"[console_scripts]\ndemo-cli = demo_pkg:main\n  # continued\n[gui_scripts]\ndemo.gui = demo_pkg:gui\n"),
            "",
            String::new(),
        ),
        (
            simple_wheel(
                &dir(),
                good_wheel,
                &metadata_with(
                    "Summary:",
                    "Author-email: \"Smith, Jo\" <jo@example.com>, Al <al@example.org>\nHome-page: https://example.org\nSummary:",
                ),
            ),
            "",
            String::new(),
        ),
        (
            tar_gz(
                &dir(),
                "demo_pkg-1.0.tar.gz",
                &[
                    (
                        "demo_pkg-1.0/PKG-INFO",
                        metadata_with("Summary:", "License-File: LICENSE\nSummary:").as_bytes(),
                    ),
                    ("demo_pkg-1.0/LICENSE", b"MIT"),
                ],
                &[],
            ),
            "",
            String::new(),
        ),
        // PEP 625 sdist names (legacy.py `file_upload`).
        (
            tar_gz(
                &dir(),
                "Demo.Pkg-1.0.tar.gz",
                &[("Demo.Pkg-1.0/PKG-INFO", GOOD_METADATA.as_bytes())],
                &[],
            ),
            "sdist-filename",
            "sdist `Demo.Pkg-1.0.tar.gz` should be named `demo_pkg-1.0.tar.gz`: PyPI wants the \
             normalized project name and version (PEP 625)"
                .into(),
        ),
        // metadata.py `_validate_metadata`.
        (
            simple_wheel(
                &dir(),
                good_wheel,
                &metadata_with("Metadata-Version: 2.4", "Metadata-Version: 2.6"),
            ),
            "metadata-version",
            "`Metadata-Version: 2.6` is not supported by PyPI (it accepts 1.0, 1.1, 1.2, 2.1–2.5)"
                .into(),
        ),
        (
            tar_gz(
                &dir(),
                "demo_pkg-1.0+abc.tar.gz",
                &[(
                    "demo_pkg-1.0+abc/PKG-INFO",
                    metadata_with("Version: 1.0", "Version: 1.0+abc").as_bytes(),
                )],
                &[],
            ),
            "no-local-version",
            "`Version: 1.0+abc` is a local version (`+…`), which PyPI refuses; publish 1.0".into(),
        ),
        (
            simple_wheel(
                &dir(),
                good_wheel,
                &metadata_with(
                    "Requires-Dist: click; extra == \"cli\"",
                    "Requires-Dist: click @ https://example.org/click-8.0-py3-none-any.whl",
                ),
            ),
            "no-direct-dependencies",
            "`Requires-Dist: click @ https://example.org/click-8.0-py3-none-any.whl` is a direct \
             URL dependency, which PyPI refuses"
                .into(),
        ),
        (
            simple_wheel(
                &dir(),
                good_wheel,
                &metadata_with("Summary:", "Provides-Dist: demo @ https://example.org/demo.whl\nSummary:"),
            ),
            "no-direct-dependencies",
            "`Provides-Dist: demo @ https://example.org/demo.whl` is a direct URL dependency".into(),
        ),
        (
            simple_wheel(
                &dir(),
                good_wheel,
                &metadata_with("Summary:", "Obsoletes-Dist: old >=\nSummary:"),
            ),
            "provides-obsoletes-dist",
            "`Obsoletes-Dist: old >=` is not a valid PEP 508 requirement".into(),
        ),
        (
            simple_wheel(
                &dir(),
                good_wheel,
                &metadata_with("Summary:", "License: MIT\nSummary:"),
            ),
            "license-and-expression",
            "both `License` and `License-Expression` are set; PyPI refuses that".into(),
        ),
        (
            simple_wheel(
                &dir(),
                good_wheel,
                &metadata_with("Summary:", "License-File: ../LICENSE\nSummary:"),
            ),
            "license-file-paths",
            "`License-File: ../LICENSE` is invalid (parent directory indicators are not allowed)"
                .into(),
        ),
        (
            simple_wheel(
                &dir(),
                good_wheel,
                &metadata_with("Summary:", "Author-email: Jo <jo@localhost>\nSummary:"),
            ),
            "emails",
            "`Author-email: Jo <jo@localhost>`: `jo@localhost` is not a valid email address (the \
             part after the @-sign is not valid: it should have a period)"
                .into(),
        ),
        (
            simple_wheel(
                &dir(),
                good_wheel,
                &metadata_with("Summary:", "Maintainer-email: a..b@example.org\nSummary:"),
            ),
            "emails",
            "`a..b@example.org` is not a valid email address (an email address cannot have two \
             periods in a row)"
                .into(),
        ),
        (
            simple_wheel(
                &dir(),
                good_wheel,
                &metadata_with("Summary:", "Home-page: www.example.org\nSummary:"),
            ),
            "urls",
            "`Home-page: www.example.org` is not a valid URL (it has no scheme (write `https://…`))"
                .into(),
        ),
        (
            simple_wheel(
                &dir(),
                good_wheel,
                &metadata_with("Summary:", "Download-URL: https://example.org:99999/x\nSummary:"),
            ),
            "urls",
            "`Download-URL: https://example.org:99999/x` is not a valid URL (its port is not \
             between 0 and 65535)"
                .into(),
        ),
        (
            simple_wheel(
                &dir(),
                good_wheel,
                &metadata_with(
                    "Project-URL: Source,",
                    "Project-URL: The source code of this demo package,",
                ),
            ),
            "project-urls",
            "`Project-URL` label `The source code of this demo package` is 36 characters; PyPI \
             allows at most 32"
                .into(),
        ),
        (
            simple_wheel(
                &dir(),
                good_wheel,
                &metadata_with("Summary: A demo package", &format!("Summary: {}", "x".repeat(513))),
            ),
            "field-length",
            "`Summary` is 513 characters; PyPI allows at most 512".into(),
        ),
        (
            simple_wheel(
                &dir(),
                good_wheel,
                &metadata_with(
                    "Classifier: Operating",
                    "Classifier: Natural Language :: Ukranian\nClassifier: Operating",
                ),
            ),
            "classifiers",
            "classifier `Natural Language :: Ukranian` is deprecated and PyPI refuses it; use \
             `Natural Language :: Ukrainian` instead"
                .into(),
        ),
        (
            simple_wheel(
                &dir(),
                good_wheel,
                &metadata_with("Summary:", "Dynamic: Dynamic\nSummary:"),
            ),
            "dynamic",
            "`Dynamic: Dynamic` is not a field PyPI lets be dynamic".into(),
        ),
        (
            simple_wheel(
                &dir(),
                good_wheel,
                &metadata_with("Metadata-Version: 2.4", "Metadata-Version: 2.5\nImport-Name: demo.class"),
            ),
            "import-names",
            "`Import-Name: demo.class`: `class` is not a valid Python identifier".into(),
        ),
        // legacy.py `_validate_filename` and the `.metadata` file name.
        (
            simple_wheel(&dir(), "demo_pkg-1.0-py3-none-any\u{1}.whl", GOOD_METADATA),
            "filename-characters",
            "contains control characters, which PyPI refuses".into(),
        ),
        (
            simple_wheel(
                &dir(),
                &format!("demo_pkg-1.0-py3-none-{long_tags}.whl"),
                GOOD_METADATA,
            ),
            "filename-characters",
            "the file name is 249 bytes; PyPI stores `<wheel>.metadata` beside it and refuses \
             names over 246 bytes"
                .into(),
        ),
        // legacy.py: License-File must exist in the sdist too.
        (
            tar_gz(
                &dir(),
                "demo_pkg-1.0.tar.gz",
                &[(
                    "demo_pkg-1.0/PKG-INFO",
                    metadata_with("Summary:", "License-File: LICENSE\nSummary:").as_bytes(),
                )],
                &[],
            ),
            "license-file-present",
            "`License-File: LICENSE` is not in the sdist at `demo_pkg-1.0/LICENSE`".into(),
        ),
        // utils/wheel.py `validate_entrypoints`.
        (
            with_member(&dir(), entry_points, b"[console_scripts]\nbin/demo = demo_pkg:main\n"),
            "entry-points",
            "`demo_pkg-1.0.dist-info/entry_points.txt` is invalid: script name `bin/demo` in \
             `[console_scripts]` must be letters, digits, `_`, `.` or `-`"
                .into(),
        ),
        (
            with_member(&dir(), entry_points, b"[console_scripts]\ndemo: demo_pkg:main\n"),
            "entry-points",
            "`demo_pkg-1.0.dist-info/entry_points.txt` is invalid: line 2: `demo: demo_pkg:main` \
             is not `name = value`"
                .into(),
        ),
        (
            with_member(&dir(), entry_points, b"demo = demo_pkg:main\n"),
            "entry-points",
            "line 1: `demo = demo_pkg:main` comes before any `[section]`".into(),
        ),
        (
            with_member(&dir(), entry_points, b"[console_scripts]\ndemo = a\ndemo = b\n"),
            "entry-points",
            "line 3: `demo` is defined twice in its section".into(),
        ),
        (
            with_member(&dir(), entry_points, b"[console_scripts]\nd\xe9mo = a\n"),
            "entry-points",
            "`demo_pkg-1.0.dist-info/entry_points.txt` is invalid: it is not UTF-8".into(),
        ),
        // utils/zipfiles.py `validate_zipfile`.
        (
            {
                let path = simple_wheel(&dir(), good_wheel, GOOD_METADATA);
                let mut file = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
                file.write_all(b"appended").unwrap();
                path
            },
            "zip-framing",
            "PyPI does not accept this ZIP archive: Trailing data".into(),
        ),
        (
            {
                let path = simple_wheel(&dir(), good_wheel, GOOD_METADATA);
                // General purpose flag bit 3: sizes follow the data.
                patch_header(&path, "demo_pkg/__init__.py", true, 6, &8u16.to_le_bytes());
                path
            },
            "zip-framing",
            "PyPI does not accept this ZIP archive: ZIP contains a data descriptor".into(),
        ),
        (
            {
                let path = simple_wheel(&dir(), good_wheel, GOOD_METADATA);
                // The local header claims another uncompressed size.
                patch_header(&path, "demo_pkg/__init__.py", true, 22, &999u32.to_le_bytes());
                path
            },
            "zip-framing",
            "PyPI does not accept this ZIP archive: Mis-matched file size".into(),
        ),
        (
            {
                let path = simple_wheel(&dir(), good_wheel, GOOD_METADATA);
                add_entry_comment(&path, "demo_pkg/__init__.py");
                path
            },
            "zip-framing",
            "PyPI does not accept this ZIP archive: Comment in central directory".into(),
        ),
        (
            with_member(&dir(), "demo_pkg/bell\u{7}.py", b""),
            "zip-framing",
            "PyPI does not accept this ZIP archive: Invalid character in filename".into(),
        ),
        // legacy.py `_is_valid_dist_file`: polyglots and sparse members.
        (
            {
                let path = sdist(&dir(), "demo_pkg-1.0.tar.gz", GOOD_METADATA);
                let zip = root.join("polyglot.zip");
                write_zip(&zip, &[member("x.txt", b"x")]);
                let mut file = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
                file.write_all(&std::fs::read(&zip).unwrap()).unwrap();
                path
            },
            "zip-tar-polyglot",
            "the file is both a tar and a zip archive; PyPI refuses such polyglots".into(),
        ),
        (
            sparse_sdist(&dir(), false),
            "tar-sparse-member",
            "sparse tar members are not allowed (`demo_pkg-1.0/holes.bin`)".into(),
        ),
        (
            sparse_sdist(&dir(), true),
            "tar-sparse-member",
            "sparse tar members are not allowed (`demo_pkg-1.0/holes.bin`)".into(),
        ),
    ];
    let files: Vec<PathBuf> = cases.iter().map(|(path, _, _)| path.clone()).collect();
    let output = tagpub(&files, &["--json"], &[]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let (json, _) = reports(&output);
    let reports = json["files"].as_array().unwrap();
    assert_eq!(reports.len(), cases.len());
    let mut wrong = Vec::new();
    for ((path, rule, message), report) in cases.iter().zip(reports) {
        let failures: Vec<(&str, &str)> = report["failures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["rule"].as_str().unwrap(), f["message"].as_str().unwrap()))
            .collect();
        // `errors` are the failures' messages, each under a named rule.
        let errors: Vec<&str> = report["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap())
            .collect();
        assert_eq!(
            failures.iter().map(|(_, m)| *m).collect::<Vec<_>>(),
            errors,
            "{}",
            path.display()
        );
        assert!(failures.iter().all(|(rule, _)| !rule.is_empty()));
        let matched = if rule.is_empty() {
            failures.is_empty()
        } else {
            failures
                .iter()
                .any(|(r, m)| r == rule && m.contains(message.as_str()))
        };
        if !matched {
            wrong.push(format!(
                "{}: expected {rule:?}: {message:?} in {failures:#?}",
                path.display()
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
