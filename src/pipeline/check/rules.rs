//! The checks themselves. Each rule is independent and only appends to the
//! report; values several rules need (parsed name/version) are computed once
//! in [`Context`]. To add a check, write a function and list it in [`RULES`].

use std::str::FromStr;

use super::{
    Artifact, ArtifactKind, CheckReport, Expected, parse_sdist_filename, parse_wheel_filename,
};
use crate::version::{Version, is_valid_project_name, normalize_name};

/// Metadata versions PyPI accepts today (2.0 was never released).
const KNOWN_METADATA_VERSIONS: &[(u32, u32)] = &[
    (1, 0),
    (1, 1),
    (1, 2),
    (2, 1),
    (2, 2),
    (2, 3),
    (2, 4),
    (2, 5),
];

struct Context<'a, 'e> {
    artifact: &'a Artifact,
    expected: Option<&'a Expected<'e>>,
    /// `Name`, when present and valid.
    name: Option<&'a str>,
    /// `Version`, when present and valid PEP 440 (raw text, parsed).
    version: Option<(&'a str, Version)>,
}

type Rule = fn(&Context<'_, '_>, &mut CheckReport);

const RULES: &[Rule] = &[
    metadata_version,
    name_present_and_valid,
    version_present_and_valid,
    filename_matches_metadata,
    matches_expected,
    has_summary,
    has_long_description,
];

pub(super) fn run(artifact: &Artifact, expected: Option<&Expected<'_>>) -> CheckReport {
    let metadata = &artifact.metadata;
    let name = present(metadata.get("Name")).filter(|name| is_valid_project_name(name));
    let version = present(metadata.get("Version"))
        .and_then(|raw| Version::from_str(raw).ok().map(|parsed| (raw, parsed)));
    let context = Context {
        artifact,
        expected,
        name,
        version,
    };
    let mut report = CheckReport {
        file: artifact.filename.clone(),
        ..CheckReport::default()
    };
    for rule in RULES {
        rule(&context, &mut report);
    }
    report
}

/// A header value that says something: not empty and not the `UNKNOWN`
/// placeholder old setuptools wrote for unset fields.
fn present(value: Option<&str>) -> Option<&str> {
    value
        .map(str::trim)
        .filter(|value| !value.is_empty() && *value != "UNKNOWN")
}

fn metadata_version(context: &Context<'_, '_>, report: &mut CheckReport) {
    let Some(raw) = present(context.artifact.metadata.get("Metadata-Version")) else {
        report.errors.push(
            "`Metadata-Version` is missing from the metadata; the build backend wrote \
             incomplete metadata, upgrade it and rebuild"
                .to_string(),
        );
        return;
    };
    let parsed = raw
        .split_once('.')
        .and_then(|(major, minor)| Some((major.parse::<u32>().ok()?, minor.parse::<u32>().ok()?)));
    let Some((major, minor)) = parsed else {
        report.errors.push(format!(
            "`Metadata-Version: {raw}` is not a metadata version; rebuild with a current \
             build backend"
        ));
        return;
    };
    if KNOWN_METADATA_VERSIONS.contains(&(major, minor)) {
        return;
    }
    if major == 2 && minor > 4 {
        // Newer minor versions are backwards compatible by definition.
        report.warnings.push(format!(
            "`Metadata-Version: {raw}` is newer than tagpub knows (2.5); the index may \
             reject it if it does not support it yet"
        ));
    } else {
        report.errors.push(format!(
            "`Metadata-Version: {raw}` is not supported (known: 1.0, 1.1, 1.2, 2.1–2.5); \
             rebuild with a current build backend"
        ));
    }
}

fn name_present_and_valid(context: &Context<'_, '_>, report: &mut CheckReport) {
    match context.artifact.metadata.get("Name").map(str::trim) {
        None | Some("") => report.errors.push(
            "`Name` is missing from the metadata; set `project.name` in pyproject.toml \
             and rebuild"
                .to_string(),
        ),
        Some(name) if context.name.is_none() => report.errors.push(format!(
            "`Name: {name}` is not a valid project name (ASCII letters, digits, `.`, `_`, \
             `-`, starting and ending with a letter or digit); fix `project.name`"
        )),
        Some(_) => {}
    }
}

fn version_present_and_valid(context: &Context<'_, '_>, report: &mut CheckReport) {
    match context.artifact.metadata.get("Version").map(str::trim) {
        None | Some("") => report.errors.push(
            "`Version` is missing from the metadata; set the project version and rebuild"
                .to_string(),
        ),
        Some(raw) => {
            if let Err(err) = Version::from_str(raw) {
                report.errors.push(format!(
                    "`Version: {raw}` is not a valid PEP 440 version ({err}); fix the \
                     project version and rebuild"
                ));
            }
        }
    }
}

fn filename_matches_metadata(context: &Context<'_, '_>, report: &mut CheckReport) {
    let filename = &context.artifact.filename;
    let parsed = match context.artifact.kind {
        ArtifactKind::Wheel => parse_wheel_filename(filename).map(|w| (w.name, w.version)),
        ArtifactKind::Sdist => parse_sdist_filename(filename).map(|s| (s.name, s.version)),
    };
    let (file_name, file_version) = match parsed {
        Ok(parsed) => parsed,
        Err(err) => {
            report.errors.push(err.to_string());
            return;
        }
    };
    if let Some(name) = context.name
        && normalize_name(name) != normalize_name(&file_name)
    {
        report.errors.push(format!(
            "the file name says project `{file_name}` but the metadata says `{name}`; the \
             file was renamed or built from another project, rebuild it"
        ));
    }
    match Version::from_str(&file_version) {
        Err(err) => report.errors.push(format!(
            "the file name's version `{file_version}` is not valid PEP 440 ({err}); rebuild \
             it with a current build backend"
        )),
        Ok(parsed) => {
            if let Some((raw, version)) = &context.version
                && *version != parsed
            {
                report.errors.push(format!(
                    "the file name says version {file_version} but the metadata says {raw}; \
                     the file was renamed or is a stale build, rebuild it"
                ));
            }
        }
    }
}

fn matches_expected(context: &Context<'_, '_>, report: &mut CheckReport) {
    let Some(expected) = context.expected else {
        return;
    };
    if let Some(name) = context.name
        && normalize_name(name) != normalize_name(expected.name)
    {
        report.errors.push(format!(
            "built package is `{name}` but tagpub.toml says `{}`; fix the package name in \
             tagpub.toml or `project.name`",
            expected.name
        ));
    }
    if let Some((raw, version)) = &context.version
        && version != expected.version
    {
        report.errors.push(format!(
            "built version {raw} but the tag says {}; set the project version to match the \
             tag (or fix dynamic versioning) and rebuild",
            expected.version
        ));
    }
}

fn has_summary(context: &Context<'_, '_>, report: &mut CheckReport) {
    if present(context.artifact.metadata.get("Summary")).is_none() {
        report.warnings.push(
            "no `Summary`: the index will show no one-line description; set \
             `project.description`"
                .to_string(),
        );
    }
}

fn has_long_description(context: &Context<'_, '_>, report: &mut CheckReport) {
    let metadata = &context.artifact.metadata;
    let in_body = metadata
        .body
        .as_deref()
        .is_some_and(|body| !body.trim().is_empty());
    let described = in_body || present(metadata.get("Description")).is_some();
    if !described {
        report.warnings.push(
            "no long description: the project page will be empty; set `project.readme`".to_string(),
        );
    } else if present(metadata.get("Description-Content-Type")).is_none() {
        report.warnings.push(
            "the long description has no `Description-Content-Type`, so it is rendered as \
             reStructuredText (plain text if that fails); give `project.readme` a `.md`/`.rst` \
             file or an explicit content-type"
                .to_string(),
        );
    }
}
