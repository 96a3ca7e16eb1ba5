//! The checks themselves. Each rule is independent and only appends to the
//! report; values several rules need (parsed name/version) are computed once
//! in [`Context`]. To add a check, write a function and list it in [`RULES`].

use std::str::FromStr;

use super::{CheckOptions, CheckReport, Expected, Inspected, Problem};
use crate::dist::filename::{parse_sdist_filename, parse_wheel_filename};
use crate::dist::{Artifact, ArtifactKind};
use crate::version::{Version, is_valid_project_name, normalize_name};

/// Metadata versions PyPI accepts, oldest first: Warehouse's
/// `SUPPORTED_METADATA_VERSIONS` (`warehouse/forklift/metadata.py`), which
/// lags `packaging` (2.0 was never released).
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
    options: &'a CheckOptions,
    /// Problems found while reading the archive (all errors).
    problems: &'a [Problem],
    /// The long description as the index receives it (see [`Inspected`]).
    description: Option<&'a str>,
    /// Metadata-Version, when it is one of [`KNOWN_METADATA_VERSIONS`].
    metadata_version: Option<(u32, u32)>,
    /// `Name`, when present and valid.
    name: Option<&'a str>,
    /// `Version`, when present and valid PEP 440 (raw text, parsed).
    version: Option<(&'a str, Version)>,
}

type Rule = fn(&Context<'_, '_>, &mut Findings<'_>);

/// Where a rule writes: every error is recorded under the rule's name.
pub(super) struct Findings<'r> {
    rule: &'static str,
    report: &'r mut CheckReport,
}

impl Findings<'_> {
    fn error(&mut self, message: String) {
        self.report.fail(self.rule, message);
    }
    /// For problems found while reading the archive, which carry their own rule.
    fn error_as(&mut self, rule: &'static str, message: String) {
        self.report.fail(rule, message);
    }
    fn warn(&mut self, message: String) {
        self.report.warnings.push(message);
    }
}

/// Every rule with its name (`tagpub check --json` reports it with each
/// failure; the README lists them with their Warehouse sources).
const RULES: &[(&str, Rule)] = &[
    ("archive", archive_problems),
    ("metadata-version", metadata_version),
    ("fields-known", fields_known_and_introduced),
    ("description-content-type", description_content_type),
    ("classifiers", classifiers_known),
    ("license-expression", license_expression),
    ("license-and-expression", license_and_expression),
    ("license-file-paths", license_file_paths),
    ("requires-python", requires_python),
    ("requires-dist", requires_dist),
    ("provides-obsoletes-dist", provides_obsoletes_dist),
    ("no-direct-dependencies", no_direct_dependencies),
    ("project-urls", project_urls),
    ("urls", home_page_and_download_url),
    ("emails", emails),
    ("field-length", field_length),
    ("provides-extra", provides_extra),
    ("import-names", import_names),
    ("dynamic", dynamic_fields),
    ("platform-tag", platform_tags),
    ("name", name_present_and_valid),
    ("version", version_present_and_valid),
    ("no-local-version", no_local_version),
    ("filename-characters", filename_characters),
    ("filename-matches-metadata", filename_matches_metadata),
    ("sdist-filename", sdist_filename),
    ("matches-tag", matches_expected),
    ("summary", has_summary),
    ("long-description", has_long_description),
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
    for (name, rule) in RULES {
        rule(
            &context,
            &mut Findings {
                rule: name,
                report: &mut report,
            },
        );
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

fn metadata_version(context: &Context<'_, '_>, report: &mut Findings<'_>) {
    let Some(raw) = present(context.artifact.metadata.get("Metadata-Version")) else {
        report.error(
            "`Metadata-Version` is missing from the metadata; the build backend wrote \
             incomplete metadata, upgrade it and rebuild"
                .to_string(),
        );
        return;
    };
    let Some((major, minor)) = parse_metadata_version(raw) else {
        report.error(format!(
            "`Metadata-Version: {raw}` is not a metadata version; rebuild with a current \
             build backend"
        ));
        return;
    };
    if KNOWN_METADATA_VERSIONS.contains(&(major, minor)) {
        return;
    }
    // warehouse/forklift/metadata.py `_validate_metadata`: not in
    // SUPPORTED_METADATA_VERSIONS (2.0 was never released; newer ones wait
    // until Warehouse implements them).
    report.error(format!(
        "`Metadata-Version: {raw}` is not supported by PyPI (it accepts 1.0, 1.1, 1.2, \
         2.1–2.5); rebuild with a build backend that writes one of those"
    ));
}

fn name_present_and_valid(context: &Context<'_, '_>, report: &mut Findings<'_>) {
    match context.artifact.metadata.get("Name").map(str::trim) {
        None | Some("") => report.error(
            "`Name` is missing from the metadata; set `project.name` in pyproject.toml \
             and rebuild"
                .to_string(),
        ),
        Some(name) if context.name.is_none() => report.error(format!(
            "`Name: {name}` is not a valid project name (ASCII letters, digits, `.`, `_`, \
             `-`, starting and ending with a letter or digit); fix `project.name`"
        )),
        Some(_) => {}
    }
}

fn version_present_and_valid(context: &Context<'_, '_>, report: &mut Findings<'_>) {
    match context.artifact.metadata.get("Version").map(str::trim) {
        None | Some("") => report.error(
            "`Version` is missing from the metadata; set the project version and rebuild"
                .to_string(),
        ),
        Some(raw) => {
            if let Err(err) = Version::from_str(raw) {
                report.error(format!(
                    "`Version: {raw}` is not a valid PEP 440 version ({err}); fix the \
                     project version and rebuild"
                ));
            }
        }
    }
}

fn filename_matches_metadata(context: &Context<'_, '_>, report: &mut Findings<'_>) {
    let filename = &context.artifact.filename;
    let parsed = match context.artifact.kind {
        ArtifactKind::Wheel => parse_wheel_filename(filename).map(|w| (w.name, w.version)),
        ArtifactKind::Sdist => parse_sdist_filename(filename).map(|s| (s.name, s.version)),
    };
    let (file_name, file_version) = match parsed {
        Ok(parsed) => parsed,
        Err(err) => {
            report.error(err.to_string());
            return;
        }
    };
    if let Some(name) = context.name {
        let normalized = normalize_name(name);
        if normalized != normalize_name(&file_name) {
            report.error(format!(
                "the file name says project `{file_name}` but the metadata says `{name}`; the \
                 file was renamed or built from another project, rebuild it"
            ));
        } else if context.artifact.kind == ArtifactKind::Wheel
            && file_name != normalized.replace('-', "_")
        {
            // warehouse/forklift/legacy.py `file_upload`: "PEP 427 / PEP 503:
            // Enforcement of project name normalization" (sdists: `sdist_filename`).
            report.error(format!(
                "the wheel's file name starts with `{file_name}` but PyPI wants the normalized \
                 project name `{}`; rebuild it with a current build backend (or rename the \
                 file and its `.dist-info` directory)",
                normalized.replace('-', "_")
            ));
        }
    }
    match Version::from_str(&file_version) {
        Err(err) => report.error(format!(
            "the file name's version `{file_version}` is not valid PEP 440 ({err}); rebuild \
             it with a current build backend"
        )),
        Ok(parsed) => {
            if let Some((raw, version)) = &context.version
                && *version != parsed
            {
                report.error(format!(
                    "the file name says version {file_version} but the metadata says {raw}; \
                     the file was renamed or is a stale build, rebuild it"
                ));
            }
        }
    }
}

fn matches_expected(context: &Context<'_, '_>, report: &mut Findings<'_>) {
    let Some(expected) = context.expected else {
        return;
    };
    if let Some(name) = context.name
        && normalize_name(name) != normalize_name(expected.name)
    {
        report.error(format!(
            "built package is `{name}` but tagpub.toml says `{}`; fix the package name in \
             tagpub.toml or `project.name`",
            expected.name
        ));
    }
    if let Some((raw, version)) = &context.version
        && version != expected.version
    {
        report.error(format!(
            "built version {raw} but the tag says {}; set the project version to match the \
             tag (or fix dynamic versioning) and rebuild",
            expected.version
        ));
    }
}

fn has_summary(context: &Context<'_, '_>, report: &mut Findings<'_>) {
    if present(context.artifact.metadata.get("Summary")).is_none() {
        report.warn(
            "no `Summary`: the index will show no one-line description; set \
             `project.description`"
                .to_string(),
        );
    }
}

/// twine's two warnings, errors under `--strict` (as with `twine check --strict`).
fn has_long_description(context: &Context<'_, '_>, report: &mut Findings<'_>) {
    let metadata = &context.artifact.metadata;
    let strict = context.options.strict;
    let mut list = |message: String| {
        if strict {
            report.error(message)
        } else {
            report.warn(message)
        }
    };
    if metadata.get("Description-Content-Type").is_none() {
        list(
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
        list(
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

/// Each problem under the rule that found it while reading the archive.
fn archive_problems(context: &Context<'_, '_>, report: &mut Findings<'_>) {
    for problem in context.problems {
        report.error_as(problem.rule, problem.message.clone());
    }
}

fn fields_known_and_introduced(context: &Context<'_, '_>, report: &mut Findings<'_>) {
    let metadata = &context.artifact.metadata;
    let mut seen: Vec<String> = Vec::new();
    for (key, _) in &metadata.fields {
        let lower = key.to_ascii_lowercase();
        if seen.contains(&lower) {
            continue;
        }
        seen.push(lower.clone());
        let Some((_, introduced)) = FIELDS.iter().find(|(name, _)| *name == lower) else {
            report.error(format!(
                "`{key}` is not a core metadata field; PyPI refuses unknown fields, remove it \
                 (or upgrade the build backend that wrote it)"
            ));
            continue;
        };
        let uses = metadata.get_all(key).len();
        if SINGLE_USE.contains(&lower.as_str()) && uses > 1 {
            report.error(format!(
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
            report.error(format!(
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
        report.error(
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

fn description_content_type(context: &Context<'_, '_>, report: &mut Findings<'_>) {
    let Some(value) = context.artifact.metadata.get("Description-Content-Type") else {
        return;
    };
    let help = "use `text/markdown`, `text/x-rst` or `text/plain` (optionally \
                `; charset=UTF-8`, and for Markdown `; variant=GFM` or `; variant=CommonMark`)";
    let Some((mime, params)) = parse_content_type(value) else {
        report.error(format!(
            "`Description-Content-Type: {value}` is not a content type; {help}"
        ));
        return;
    };
    if !["text/plain", "text/x-rst", "text/markdown"].contains(&mime.as_str()) {
        report.error(format!(
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
        report.error(format!(
            "`Description-Content-Type: {value}`: the charset must be UTF-8, not `{charset}`; \
             {help}"
        ));
    }
    if mime == "text/markdown"
        && let Some(variant) = param("variant")
        && !["GFM", "CommonMark"].contains(&variant)
    {
        report.error(format!(
            "`Description-Content-Type: {value}`: the Markdown variant must be `GFM` or \
             `CommonMark`, not `{variant}`; {help}"
        ));
    }
}

fn classifiers_known(context: &Context<'_, '_>, report: &mut Findings<'_>) {
    for classifier in context.artifact.metadata.get_all("Classifier") {
        if classifier.starts_with("Private ::") {
            report.error(format!(
                "classifier `{classifier}`: PyPI refuses `Private ::` classifiers on purpose \
                 (they mark packages that must not be uploaded); remove it to publish"
            ));
        } else if let Some(replacements) = super::classifiers::deprecated(classifier) {
            // warehouse/forklift/metadata.py `_validate_metadata`: deprecated
            // classifiers are refused (trove_classifiers.deprecated_classifiers).
            let instead = match replacements.as_slice() {
                [] => "remove it".to_string(),
                some => format!(
                    "use {} instead",
                    some.iter()
                        .map(|c| format!("`{c}`"))
                        .collect::<Vec<_>>()
                        .join(" or ")
                ),
            };
            report.error(format!(
                "classifier `{classifier}` is deprecated and PyPI refuses it; {instead}"
            ));
        } else if !super::classifiers::known(classifier) {
            report.error(format!(
                "classifier `{classifier}` is not a known trove classifier ({}); PyPI refuses \
                 it, fix the spelling (see https://pypi.org/classifiers/)",
                super::classifiers::source()
            ));
        }
    }
}

fn license_expression(context: &Context<'_, '_>, report: &mut Findings<'_>) {
    let Some(expression) = context.artifact.metadata.get("License-Expression") else {
        return;
    };
    if let Err(err) = spdx::Expression::parse(expression) {
        report.error(format!(
            "`License-Expression: {expression}` is not a valid SPDX expression ({}); use SPDX \
             identifiers joined by AND/OR/WITH, e.g. `MIT OR Apache-2.0`",
            err.reason
        ));
    }
}

fn requires_python(context: &Context<'_, '_>, report: &mut Findings<'_>) {
    if let Some(value) = context.artifact.metadata.get("Requires-Python")
        && let Err(err) = pep440_rs::VersionSpecifiers::from_str(value)
    {
        report.error(format!(
            "`Requires-Python: {value}` is not a valid version specifier ({err}); fix \
             `project.requires-python`, e.g. `>=3.9`"
        ));
    }
}

fn provides_extra(context: &Context<'_, '_>, report: &mut Findings<'_>) {
    for extra in context.artifact.metadata.get_all("Provides-Extra") {
        if !is_valid_project_name(extra) {
            report.error(format!(
                "`Provides-Extra: {extra}` is not a valid extra name (letters, digits, `.`, \
                 `_`, `-`); rename it in `project.optional-dependencies`"
            ));
        }
    }
}

/// warehouse/forklift/metadata.py `DYNAMIC_FIELDS`: the fields PyPI lets
/// `Dynamic` name (packaging refuses name, version and metadata-version).
const DYNAMIC_FIELDS: &[&str] = &[
    "platform",
    "supported-platform",
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
    "license-file",
    "classifier",
    "requires-dist",
    "requires-python",
    "requires-external",
    "project-url",
    "provides-extra",
    "provides-dist",
    "obsoletes-dist",
    "requires",
    "provides",
    "obsoletes",
    "import-name",
    "import-namespace",
];

fn dynamic_fields(context: &Context<'_, '_>, report: &mut Findings<'_>) {
    for field in context.artifact.metadata.get_all("Dynamic") {
        let lower = field.trim().to_ascii_lowercase();
        if ["name", "version", "metadata-version"].contains(&lower.as_str()) {
            report.error(format!(
                "`Dynamic: {field}` is not allowed: name and version must be static in a \
                 distribution; rebuild"
            ));
        } else if !DYNAMIC_FIELDS.contains(&lower.as_str()) {
            report.error(format!(
                "`Dynamic: {field}` is not a field PyPI lets be dynamic; rebuild with a \
                 current build backend"
            ));
        }
    }
}

fn platform_tags(context: &Context<'_, '_>, report: &mut Findings<'_>) {
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
                 musllinux_X_Y_ARCH, macosx_10_X_ARCH / macosx_N_0_ARCH, ios_*, android_*, \
                 pyemscripten_X_Y_wasm32"
            };
            report.error(format!(
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

fn requires_dist(context: &Context<'_, '_>, report: &mut Findings<'_>) {
    for requirement in context.artifact.metadata.get_all("Requires-Dist") {
        if paren_depth(requirement) > MAX_MARKER_NESTING {
            let shown: String = requirement.chars().take(60).collect();
            report.error(format!(
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
            report.error(format!(
                "`Requires-Dist: {requirement}` is not a valid PEP 508 requirement ({reason}); \
                 fix it in `project.dependencies` / `optional-dependencies`"
            ));
        }
    }
}

/// `Project-URL: label, URL`: packaging (so twine and PyPI) refuses a label
/// used twice; warehouse/forklift/metadata.py `_validate_metadata` wants a
/// label of at most 32 characters and a valid http(s) URL.
fn project_urls(context: &Context<'_, '_>, report: &mut Findings<'_>) {
    let mut labels: Vec<&str> = Vec::new();
    for value in context.artifact.metadata.get_all("Project-URL") {
        let (label, url) = value.split_once(',').unwrap_or((value, ""));
        let (label, url) = (label.trim(), url.trim());
        if labels.contains(&label) {
            report.error(format!(
                "`Project-URL` label `{label}` is used twice; give each URL its own label in \
                 `project.urls`"
            ));
        }
        labels.push(label);
        if label.is_empty() {
            report.error(format!(
                "`Project-URL: {value}` has no label; PyPI refuses it, name it in `project.urls`"
            ));
        } else if label.chars().count() > 32 {
            report.error(format!(
                "`Project-URL` label `{label}` is {} characters; PyPI allows at most 32, \
                 shorten it in `project.urls`",
                label.chars().count()
            ));
        }
        if url.is_empty() {
            report.error(format!(
                "`Project-URL: {value}` is not `label, http(s) URL`; fix `project.urls`"
            ));
        } else if let Some(why) = super::fields::url_problem(url) {
            report.error(format!(
                "`Project-URL: {value}` is not `label, http(s) URL` ({why}); fix `project.urls`"
            ));
        }
    }
}

/// warehouse/forklift/metadata.py `_validate_metadata`: `Home-page` and
/// `Download-URL` must be http(s) URLs.
fn home_page_and_download_url(context: &Context<'_, '_>, report: &mut Findings<'_>) {
    for field in ["Home-page", "Download-URL"] {
        if let Some(url) = context.artifact.metadata.get(field)
            && let Some(why) = super::fields::url_problem(url)
        {
            report.error(format!(
                "`{field}: {url}` is not a valid URL ({why}); PyPI refuses it, fix or remove it"
            ));
        }
    }
}

/// warehouse/forklift/metadata.py `_validate_metadata`: `Author-email` and
/// `Maintainer-email` must be valid addresses (email-validator, no
/// deliverability check); a value with several addresses is not checked.
fn emails(context: &Context<'_, '_>, report: &mut Findings<'_>) {
    for field in ["Author-email", "Maintainer-email"] {
        let Some(value) = context.artifact.metadata.get(field) else {
            continue;
        };
        if let Some(address) = super::fields::single_address(value)
            && let Some(why) = super::fields::email_problem(&address)
        {
            report.error(format!(
                "`{field}: {value}`: `{address}` is not a valid email address ({why}); PyPI \
                 refuses it, fix the address in `project.authors` / `project.maintainers`"
            ));
        }
    }
}

/// warehouse/forklift/metadata.py `_LENGTH_LIMITS`: `Summary` is at most
/// 512 characters.
fn field_length(context: &Context<'_, '_>, report: &mut Findings<'_>) {
    const LIMITS: &[(&str, usize)] = &[("Summary", 512)];
    for (field, limit) in LIMITS {
        if let Some(value) = context.artifact.metadata.get(field)
            && value.chars().count() > *limit
        {
            report.error(format!(
                "`{field}` is {} characters; PyPI allows at most {limit}, shorten it",
                value.chars().count()
            ));
        }
    }
}

/// warehouse/forklift/metadata.py `_validate_metadata`: "The use of local
/// versions ... is not allowed."
fn no_local_version(context: &Context<'_, '_>, report: &mut Findings<'_>) {
    if let Some((raw, version)) = &context.version
        && version.is_local()
    {
        report.error(format!(
            "`Version: {raw}` is a local version (`+…`), which PyPI refuses; publish \
             {} (set the version without the local part, e.g. setuptools-scm's \
             `local_scheme = \"no-local-version\"`)",
            version.clone().without_local()
        ));
    }
}

/// warehouse/forklift/metadata.py `_validate_metadata`: `License` and
/// `License-Expression` are mutually exclusive (PEP 639).
fn license_and_expression(context: &Context<'_, '_>, report: &mut Findings<'_>) {
    let metadata = &context.artifact.metadata;
    let has = |field| metadata.get(field).is_some_and(|v| !v.trim().is_empty());
    if has("License") && has("License-Expression") {
        report.error(
            "both `License` and `License-Expression` are set; PyPI refuses that (License is \
             deprecated when License-Expression is present), keep only `project.license` as \
             an SPDX expression and drop the license text or table"
                .to_string(),
        );
    }
}

/// packaging.metadata `_process_license_files` (PyPI validates with it):
/// relative, resolved, `/`-separated paths.
fn license_file_paths(context: &Context<'_, '_>, report: &mut Findings<'_>) {
    if context.metadata_version.is_none_or(|v| v < (2, 4)) {
        return;
    }
    for path in context.artifact.metadata.get_all("License-File") {
        let bytes = path.as_bytes();
        let why = if path.contains("..") {
            Some("parent directory indicators are not allowed")
        } else if path.contains('*') {
            Some("paths must be resolved, not globs")
        } else if path.starts_with(['/', '\\']) || (bytes.len() >= 2 && bytes[1] == b':') {
            Some("paths must be relative")
        } else if path.contains('\\') {
            Some("paths must use `/`")
        } else {
            None
        };
        if let Some(why) = why {
            report.error(format!(
                "`License-File: {path}` is invalid ({why}); fix `project.license-files`"
            ));
        }
    }
}

/// Python's reserved words: packaging refuses them as import names.
const PYTHON_KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

/// packaging.metadata `_process_import_names`: dotted identifiers, no
/// keywords, optionally `; private`.
fn import_names(context: &Context<'_, '_>, report: &mut Findings<'_>) {
    let metadata = &context.artifact.metadata;
    for field in ["Import-Name", "Import-Namespace"] {
        for value in metadata.get_all(field) {
            let (name, private) = match value.split_once(';') {
                Some((name, option)) => (name.trim_end(), Some(option.trim())),
                None => (value.trim_end(), None),
            };
            let bad = name
                .split('.')
                .find(|part| !is_identifier(part) || PYTHON_KEYWORDS.contains(part));
            if let Some(part) = bad {
                report.error(format!(
                    "`{field}: {value}`: `{part}` is not a valid Python identifier; fix the \
                     import names in pyproject.toml"
                ));
            } else if private.is_some_and(|option| option != "private") {
                report.error(format!(
                    "`{field}: {value}`: the only option is `private`; fix the import names \
                     in pyproject.toml"
                ));
            }
        }
    }
}

/// Python's `str.isidentifier` (XID_Start / XID_Continue, or `_` first).
fn is_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|c| c == '_' || unicode_ident::is_xid_start(c))
        && chars.all(unicode_ident::is_xid_continue)
}

/// `Provides-Dist` / `Obsoletes-Dist` must be PEP 508 requirements
/// (warehouse/forklift/metadata.py `_validate_metadata`).
fn provides_obsoletes_dist(context: &Context<'_, '_>, report: &mut Findings<'_>) {
    for field in ["Provides-Dist", "Obsoletes-Dist"] {
        for requirement in context.artifact.metadata.get_all(field) {
            if paren_depth(requirement) > MAX_MARKER_NESTING {
                report.error(format!(
                    "`{field}` has a marker nested more than {MAX_MARKER_NESTING} levels deep; \
                     fix it"
                ));
            } else if let Err(err) =
                pep508_rs::Requirement::<pep508_rs::VerbatimUrl>::from_str(requirement)
            {
                let reason = err
                    .to_string()
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_string();
                report.error(format!(
                    "`{field}: {requirement}` is not a valid PEP 508 requirement ({reason}); \
                     fix or remove it"
                ));
            }
        }
    }
}

/// warehouse/forklift/metadata.py `_validate_metadata`: "Can't have direct
/// dependency" in Requires-Dist, Provides-Dist or Obsoletes-Dist.
fn no_direct_dependencies(context: &Context<'_, '_>, report: &mut Findings<'_>) {
    for field in ["Requires-Dist", "Provides-Dist", "Obsoletes-Dist"] {
        for requirement in context.artifact.metadata.get_all(field) {
            if paren_depth(requirement) > MAX_MARKER_NESTING {
                continue;
            }
            let Ok(parsed) =
                pep508_rs::Requirement::<pep508_rs::VerbatimUrl>::from_str(requirement)
            else {
                continue;
            };
            if matches!(parsed.version_or_url, Some(pep508_rs::VersionOrUrl::Url(_))) {
                report.error(format!(
                    "`{field}: {requirement}` is a direct URL dependency, which PyPI refuses; \
                     depend on a released version (publish the dependency to the index first)"
                ));
            }
        }
    }
}

/// warehouse/forklift/legacy.py `_validate_filename`: no control characters
/// (ordinals 0–31, 127) in the file name; and the wheel's `.metadata` file
/// Warehouse writes next to it must fit a 255-byte file name ("Filename is
/// too long").
fn filename_characters(context: &Context<'_, '_>, report: &mut Findings<'_>) {
    let filename = &context.artifact.filename;
    if filename.chars().any(|c| (c as u32) < 32 || c as u32 == 127) {
        report.error(format!(
            "the file name `{}` contains control characters, which PyPI refuses; rename it",
            filename.escape_default()
        ));
    }
    if context.artifact.kind == ArtifactKind::Wheel && filename.len() + ".metadata".len() > 255 {
        report.error(format!(
            "the file name is {} bytes; PyPI stores `<wheel>.metadata` beside it and refuses \
             names over {} bytes (\"Filename is too long\"), shorten the tags or the version",
            filename.len(),
            255 - ".metadata".len()
        ));
    }
}

/// warehouse/forklift/legacy.py `file_upload`, "PEP 625: Enforcement of
/// source distribution filename normalization": an sdist must be named
/// exactly `{normalized_name}-{normalized version}.tar.gz` (so `.zip` sdists
/// are refused too).
fn sdist_filename(context: &Context<'_, '_>, report: &mut Findings<'_>) {
    if context.artifact.kind != ArtifactKind::Sdist {
        return;
    }
    let (Some(name), Some((_, version))) = (context.name, &context.version) else {
        return;
    };
    let expected = format!(
        "{}-{version}.tar.gz",
        normalize_name(name).replace('-', "_")
    );
    let filename = &context.artifact.filename;
    if *filename == expected {
        return;
    }
    let why = if filename.ends_with(".zip") {
        "PyPI accepts only `.tar.gz` sdists (PEP 625); build it with a current build \
         backend (`python -m build --sdist`)"
    } else {
        "PyPI wants the normalized project name and version (PEP 625); rebuild it with a \
         current build backend (setuptools >= 69.3, hatchling, flit-core >= 3.9, …)"
    };
    report.error(format!(
        "sdist `{filename}` should be named `{expected}`: {why}"
    ));
}
