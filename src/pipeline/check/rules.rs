//! The checks themselves. Each rule is independent and only appends to the
//! report; values several rules need (parsed name/version) are computed once
//! in [`Context`]. To add a check, write a function and list it in [`RULES`].

use std::str::FromStr;

use super::{
    Artifact, ArtifactKind, CheckOptions, CheckReport, Expected, Inspected, parse_sdist_filename,
    parse_wheel_filename,
};
use crate::version::{Version, is_valid_project_name, normalize_name};

/// Metadata versions the current core metadata spec (and so `packaging`,
/// twine and PyPI) accepts, oldest first; 2.0 was never released.
const KNOWN_METADATA_VERSIONS: &[(u32, u32)] = &[
    (1, 0),
    (1, 1),
    (1, 2),
    (2, 1),
    (2, 2),
    (2, 3),
    (2, 4),
    (2, 5),
    (2, 6),
];

struct Context<'a, 'e> {
    artifact: &'a Artifact,
    expected: Option<&'a Expected<'e>>,
    options: &'a CheckOptions,
    /// Problems found while reading the archive (all errors).
    problems: &'a [String],
    /// The long description as the index receives it (see [`Inspected`]).
    description: Option<&'a str>,
    /// Metadata-Version, when it is one of [`KNOWN_METADATA_VERSIONS`].
    metadata_version: Option<(u32, u32)>,
    /// `Name`, when present and valid.
    name: Option<&'a str>,
    /// `Version`, when present and valid PEP 440 (raw text, parsed).
    version: Option<(&'a str, Version)>,
}

type Rule = fn(&Context<'_, '_>, &mut CheckReport);

const RULES: &[Rule] = &[
    archive_problems,
    metadata_version,
    fields_known_and_introduced,
    description_content_type,
    classifiers_known,
    license_expression,
    requires_python,
    requires_dist,
    project_urls,
    provides_extra,
    dynamic_fields,
    platform_tags,
    name_present_and_valid,
    version_present_and_valid,
    filename_matches_metadata,
    matches_expected,
    has_summary,
    has_long_description,
];

pub(super) fn run(
    inspected: &Inspected,
    expected: Option<&Expected<'_>>,
    options: &CheckOptions,
) -> CheckReport {
    let artifact = &inspected.artifact;
    let metadata = &artifact.metadata;
    let name = present(metadata.get("Name")).filter(|name| is_valid_project_name(name));
    let version = present(metadata.get("Version"))
        .and_then(|raw| Version::from_str(raw).ok().map(|parsed| (raw, parsed)));
    let metadata_version = metadata
        .get("Metadata-Version")
        .and_then(parse_metadata_version);
    let context = Context {
        artifact,
        expected,
        options,
        problems: &inspected.problems,
        description: inspected.description.as_deref(),
        metadata_version: metadata_version.filter(|v| KNOWN_METADATA_VERSIONS.contains(v)),
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
    let Some((major, minor)) = parse_metadata_version(raw) else {
        report.errors.push(format!(
            "`Metadata-Version: {raw}` is not a metadata version; rebuild with a current \
             build backend"
        ));
        return;
    };
    if KNOWN_METADATA_VERSIONS.contains(&(major, minor)) {
        return;
    }
    // `packaging` (so twine and PyPI) refuses versions it does not know,
    // newer minor ones included, and 2.0, which was never released.
    report.errors.push(format!(
        "`Metadata-Version: {raw}` is not supported (known: 1.0, 1.1, 1.2, 2.1–2.6); \
         rebuild with a current build backend"
    ));
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
    if let Some(name) = context.name {
        let normalized = normalize_name(name);
        if normalized != normalize_name(&file_name) {
            report.errors.push(format!(
                "the file name says project `{file_name}` but the metadata says `{name}`; the \
                 file was renamed or built from another project, rebuild it"
            ));
        } else if context.artifact.kind == ArtifactKind::Wheel
            && file_name != normalized.replace('-', "_")
        {
            // Warehouse enforces PEP 427's normalized wheel names (not yet
            // PEP 625's for sdists).
            report.errors.push(format!(
                "the wheel's file name starts with `{file_name}` but PyPI wants the normalized \
                 project name `{}`; rebuild it with a current build backend (or rename the \
                 file and its `.dist-info` directory)",
                normalized.replace('-', "_")
            ));
        }
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

/// twine's two warnings, errors under `--strict` (as with `twine check --strict`).
fn has_long_description(context: &Context<'_, '_>, report: &mut CheckReport) {
    let metadata = &context.artifact.metadata;
    let list = if context.options.strict {
        &mut report.errors
    } else {
        &mut report.warnings
    };
    if metadata.get("Description-Content-Type").is_none() {
        list.push(
            "the long description has no `Description-Content-Type`, so it is rendered as \
             reStructuredText (plain text if that fails); give `project.readme` a `.md`/`.rst` \
             file or an explicit content-type"
                .to_string(),
        );
    }
    // twine: missing when empty or `UNKNOWN` (old setuptools' placeholder).
    let described = context
        .description
        .is_some_and(|text| !text.is_empty() && text.trim_end() != "UNKNOWN");
    if !described {
        list.push(
            "no long description: the project page will be empty; set `project.readme`".to_string(),
        );
    }
}

/// Every core metadata field (lower case) and the version that introduced
/// it; `packaging` refuses a field newer than the file's Metadata-Version,
/// and any field not listed here.
const FIELDS: &[(&str, (u32, u32))] = &[
    ("metadata-version", (1, 0)),
    ("name", (1, 0)),
    ("version", (1, 0)),
    ("platform", (1, 0)),
    ("summary", (1, 0)),
    ("description", (1, 0)),
    ("keywords", (1, 0)),
    ("home-page", (1, 0)),
    ("author", (1, 0)),
    ("author-email", (1, 0)),
    ("license", (1, 0)),
    ("supported-platform", (1, 1)),
    ("download-url", (1, 1)),
    ("classifier", (1, 1)),
    ("requires", (1, 1)),
    ("provides", (1, 1)),
    ("obsoletes", (1, 1)),
    ("maintainer", (1, 2)),
    ("maintainer-email", (1, 2)),
    ("requires-dist", (1, 2)),
    ("requires-python", (1, 2)),
    ("requires-external", (1, 2)),
    ("project-url", (1, 2)),
    ("provides-dist", (1, 2)),
    ("obsoletes-dist", (1, 2)),
    ("description-content-type", (2, 1)),
    ("provides-extra", (2, 1)),
    ("dynamic", (2, 2)),
    ("license-expression", (2, 4)),
    ("license-file", (2, 4)),
    ("import-name", (2, 5)),
    ("import-namespace", (2, 5)),
];

/// Fields that may appear once (the rest are multi-use).
const SINGLE_USE: &[&str] = &[
    "metadata-version",
    "name",
    "version",
    "summary",
    "description",
    "description-content-type",
    "keywords",
    "home-page",
    "download-url",
    "author",
    "author-email",
    "maintainer",
    "maintainer-email",
    "license",
    "license-expression",
    "requires-python",
];

fn parse_metadata_version(raw: &str) -> Option<(u32, u32)> {
    let (major, minor) = raw.trim().split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

fn archive_problems(context: &Context<'_, '_>, report: &mut CheckReport) {
    report.errors.extend(context.problems.iter().cloned());
}

fn fields_known_and_introduced(context: &Context<'_, '_>, report: &mut CheckReport) {
    let metadata = &context.artifact.metadata;
    let mut seen: Vec<String> = Vec::new();
    for (key, _) in &metadata.fields {
        let lower = key.to_ascii_lowercase();
        if seen.contains(&lower) {
            continue;
        }
        seen.push(lower.clone());
        let Some((_, introduced)) = FIELDS.iter().find(|(name, _)| *name == lower) else {
            report.errors.push(format!(
                "`{key}` is not a core metadata field; PyPI refuses unknown fields, remove it \
                 (or upgrade the build backend that wrote it)"
            ));
            continue;
        };
        let uses = metadata.get_all(key).len();
        if SINGLE_USE.contains(&lower.as_str()) && uses > 1 {
            report.errors.push(format!(
                "`{key}` appears {uses} times but may appear once; rebuild with a current \
                 build backend"
            ));
        }
        // twine drops License-File below 2.4 (old setuptools wrote it).
        if lower == "license-file" {
            continue;
        }
        if let Some(version) = context.metadata_version
            && *introduced > version
        {
            report.errors.push(format!(
                "`{key}` was introduced in metadata version {}.{}, but the file says \
                 `Metadata-Version: {}.{}`; rebuild with a build backend that writes {}.{} \
                 or newer",
                introduced.0, introduced.1, version.0, version.1, introduced.0, introduced.1
            ));
        }
    }
    if metadata.get("Description").is_some()
        && metadata
            .body
            .as_deref()
            .is_some_and(|body| !body.is_empty())
    {
        report.errors.push(
            "the long description is both in a `Description` header and in the body; \
             rebuild with a current build backend"
                .to_string(),
        );
    }
}

/// Splits `type/sub; key=value; ...` into the lower-cased type and the
/// parameters (keys lower-cased, quotes removed).
fn parse_content_type(value: &str) -> Option<(String, Vec<(String, String)>)> {
    let mut parts = value.split(';');
    let mime = parts.next()?.trim().to_ascii_lowercase();
    let (kind, sub) = mime.split_once('/')?;
    let token = |text: &str| {
        !text.is_empty()
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    if !token(kind) || !token(sub) {
        return None;
    }
    let mut params = Vec::new();
    for part in parts {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (key, value) = part.split_once('=')?;
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        params.push((key.trim().to_ascii_lowercase(), value.to_string()));
    }
    Some((mime, params))
}

fn description_content_type(context: &Context<'_, '_>, report: &mut CheckReport) {
    let Some(value) = context.artifact.metadata.get("Description-Content-Type") else {
        return;
    };
    let help = "use `text/markdown`, `text/x-rst` or `text/plain` (optionally \
                `; charset=UTF-8`, and for Markdown `; variant=GFM` or `; variant=CommonMark`)";
    let Some((mime, params)) = parse_content_type(value) else {
        report.errors.push(format!(
            "`Description-Content-Type: {value}` is not a content type; {help}"
        ));
        return;
    };
    if !["text/plain", "text/x-rst", "text/markdown"].contains(&mime.as_str()) {
        report.errors.push(format!(
            "`Description-Content-Type: {value}` is not one PyPI renders; {help}"
        ));
        return;
    }
    let param = |key: &str| {
        params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    if let Some(charset) = param("charset")
        && !charset.eq_ignore_ascii_case("utf-8")
    {
        report.errors.push(format!(
            "`Description-Content-Type: {value}`: the charset must be UTF-8, not `{charset}`; \
             {help}"
        ));
    }
    if mime == "text/markdown"
        && let Some(variant) = param("variant")
        && !["GFM", "CommonMark"].contains(&variant)
    {
        report.errors.push(format!(
            "`Description-Content-Type: {value}`: the Markdown variant must be `GFM` or \
             `CommonMark`, not `{variant}`; {help}"
        ));
    }
}

fn classifiers_known(context: &Context<'_, '_>, report: &mut CheckReport) {
    for classifier in context.artifact.metadata.get_all("Classifier") {
        if classifier.starts_with("Private ::") {
            report.errors.push(format!(
                "classifier `{classifier}`: PyPI refuses `Private ::` classifiers on purpose \
                 (they mark packages that must not be uploaded); remove it to publish"
            ));
        } else if !super::classifiers::known(classifier) {
            report.errors.push(format!(
                "classifier `{classifier}` is not a known trove classifier ({}); PyPI refuses \
                 it, fix the spelling (see https://pypi.org/classifiers/)",
                super::classifiers::source()
            ));
        }
    }
}

fn license_expression(context: &Context<'_, '_>, report: &mut CheckReport) {
    let Some(expression) = context.artifact.metadata.get("License-Expression") else {
        return;
    };
    if let Err(err) = spdx::Expression::parse(expression) {
        report.errors.push(format!(
            "`License-Expression: {expression}` is not a valid SPDX expression ({}); use SPDX \
             identifiers joined by AND/OR/WITH, e.g. `MIT OR Apache-2.0`",
            err.reason
        ));
    }
}

fn requires_python(context: &Context<'_, '_>, report: &mut CheckReport) {
    if let Some(value) = context.artifact.metadata.get("Requires-Python")
        && let Err(err) = pep440_rs::VersionSpecifiers::from_str(value)
    {
        report.errors.push(format!(
            "`Requires-Python: {value}` is not a valid version specifier ({err}); fix \
             `project.requires-python`, e.g. `>=3.9`"
        ));
    }
}

fn provides_extra(context: &Context<'_, '_>, report: &mut CheckReport) {
    for extra in context.artifact.metadata.get_all("Provides-Extra") {
        if !is_valid_project_name(extra) {
            report.errors.push(format!(
                "`Provides-Extra: {extra}` is not a valid extra name (letters, digits, `.`, \
                 `_`, `-`); rename it in `project.optional-dependencies`"
            ));
        }
    }
}

fn dynamic_fields(context: &Context<'_, '_>, report: &mut CheckReport) {
    for field in context.artifact.metadata.get_all("Dynamic") {
        let lower = field.trim().to_ascii_lowercase();
        if ["name", "version", "metadata-version"].contains(&lower.as_str()) {
            report.errors.push(format!(
                "`Dynamic: {field}` is not allowed: name and version must be static in a \
                 distribution; rebuild"
            ));
        } else if !FIELDS.iter().any(|(name, _)| *name == lower) {
            report.errors.push(format!(
                "`Dynamic: {field}` names no core metadata field; rebuild with a current \
                 build backend"
            ));
        }
    }
}

fn platform_tags(context: &Context<'_, '_>, report: &mut CheckReport) {
    if context.artifact.kind != ArtifactKind::Wheel {
        return;
    }
    let Ok(wheel) = parse_wheel_filename(&context.artifact.filename) else {
        return;
    };
    for tag in wheel.platform_tag.split('.') {
        if !super::platform::accepted(tag) {
            let hint = if tag.starts_with("linux_") {
                "build it in a manylinux/musllinux container (cibuildwheel) or repair it with \
                 auditwheel"
            } else {
                "PyPI accepts any, win32/win_amd64/win_arm64, manylinux_X_Y_ARCH, \
                 musllinux_X_Y_ARCH, macosx_10_X_ARCH / macosx_N_0_ARCH, ios_*, android_*"
            };
            report.errors.push(format!(
                "platform tag `{tag}` is not one PyPI accepts; {hint}"
            ));
        }
    }
}

/// packaging's limit on marker nesting ("Marker expression is nested more
/// than 200 levels deep"). pep508_rs has none and recurses per parenthesis,
/// so a deeper marker would overflow the stack: it is refused before parsing.
const MAX_MARKER_NESTING: usize = 200;

/// How deep parentheses nest in `text` (unbalanced ones counted as they come).
fn paren_depth(text: &str) -> usize {
    let mut depth = 0usize;
    let mut deepest = 0;
    for byte in text.bytes() {
        match byte {
            b'(' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

fn requires_dist(context: &Context<'_, '_>, report: &mut CheckReport) {
    for requirement in context.artifact.metadata.get_all("Requires-Dist") {
        if paren_depth(requirement) > MAX_MARKER_NESTING {
            let shown: String = requirement.chars().take(60).collect();
            report.errors.push(format!(
                "`Requires-Dist: {shown}…` is not a valid PEP 508 requirement (Marker \
                 expression is nested more than {MAX_MARKER_NESTING} levels deep); fix it in \
                 `project.dependencies` / `optional-dependencies`"
            ));
            continue;
        }
        if let Err(err) = pep508_rs::Requirement::<pep508_rs::VerbatimUrl>::from_str(requirement) {
            // The parser's message spans lines (it points at the column).
            let reason = err
                .to_string()
                .lines()
                .next()
                .unwrap_or_default()
                .to_string();
            report.errors.push(format!(
                "`Requires-Dist: {requirement}` is not a valid PEP 508 requirement ({reason}); \
                 fix it in `project.dependencies` / `optional-dependencies`"
            ));
        }
    }
}

/// `Project-URL: label, URL`: packaging (so twine and PyPI) refuses a label
/// used twice, and PyPI links only http(s) URLs.
fn project_urls(context: &Context<'_, '_>, report: &mut CheckReport) {
    let mut labels: Vec<&str> = Vec::new();
    for value in context.artifact.metadata.get_all("Project-URL") {
        let (label, url) = value.split_once(',').unwrap_or((value, ""));
        let (label, url) = (label.trim(), url.trim());
        if labels.contains(&label) {
            report.errors.push(format!(
                "`Project-URL` label `{label}` is used twice; give each URL its own label in \
                 `project.urls`"
            ));
        }
        labels.push(label);
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            report.errors.push(format!(
                "`Project-URL: {value}` is not `label, http(s) URL`; fix `project.urls`"
            ));
        }
    }
}
