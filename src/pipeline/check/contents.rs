//! What a wheel or sdist must contain beyond its metadata: every
//! `License-File` it names, and an `entry_points.txt` PyPI accepts.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::BufReader;

use super::member::read_capped;
use super::{CheckError, Problem};
use crate::dist::Metadata;

/// PEP 639: every `License-File` of metadata 2.4+ is in the wheel under
/// `.dist-info/licenses/` (Warehouse refuses the upload otherwise; below
/// 2.4 twine drops the field, so nothing is checked).
pub(super) fn check_license_files(
    zip: &mut zip::ZipArchive<BufReader<File>>,
    metadata: &Metadata,
    dist_info: &str,
    problems: &mut Vec<Problem>,
) {
    if metadata_version(metadata).is_none_or(|v| v < (2, 4)) {
        return;
    }
    for license in metadata.get_all("License-File") {
        let member = format!("{dist_info}/licenses/{license}");
        if zip.index_for_name(&member).is_none() {
            problems.push(Problem::new(
                "license-file-present",
                format!(
                    "`License-File: {license}` is not in the wheel at `{member}`; PyPI refuses \
                 the upload, rebuild it (and check `project.license-files`)"
                ),
            ));
        }
    }
}

/// warehouse/utils/wheel.py `validate_entrypoints`: the wheel's
/// `entry_points.txt` (under the file name's literal `.dist-info`) is UTF-8,
/// a valid INI file with `=` delimiters, and its console/gui script names
/// match `[\w.-]+`.
pub(super) fn check_entry_points(
    zip: &mut zip::ZipArchive<BufReader<File>>,
    filename: &str,
    dist_info: &str,
    problems: &mut Vec<Problem>,
) -> Result<(), CheckError> {
    let member = format!("{dist_info}/entry_points.txt");
    let Ok(entry) = zip.by_name(&member) else {
        return Ok(());
    };
    let bytes = read_capped(entry, filename, &member, "zip")?;
    let why = match std::str::from_utf8(&bytes) {
        Err(_) => Some("it is not UTF-8".to_string()),
        Ok(text) => entry_points_problem(text),
    };
    if let Some(why) = why {
        problems.push(Problem::new(
            "entry-points",
            format!(
                "`{member}` is invalid: {why}; PyPI refuses the wheel (\"invalid entry points\"), \
                 fix `project.scripts` / `project.entry-points` and rebuild"
            ),
        ));
    }
    Ok(())
}

/// Why Python's `configparser` (case-sensitive, `=` only, strict) would
/// refuse `text`, or a script name that does not match `[\w.-]+`.
pub(super) fn entry_points_problem(text: &str) -> Option<String> {
    // section → its option names in order.
    let mut sections: Vec<(String, Vec<String>)> = Vec::new();
    // The indentation of the current option line, for continuation lines.
    let mut option_indent: Option<usize> = None;
    for (number, line) in text.lines().enumerate() {
        let number = number + 1;
        let stripped = line.trim();
        if stripped.is_empty() {
            continue;
        }
        if stripped.starts_with('#') || stripped.starts_with(';') {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        if let (Some(option), Some(_)) = (option_indent, sections.last())
            && indent > option
        {
            continue;
        }
        if let Some(rest) = stripped.strip_prefix('[')
            && let Some(close) = rest.rfind(']')
            && close > 0
        {
            let name = rest[..close].to_string();
            if sections.iter().any(|(existing, _)| *existing == name) {
                return Some(format!("line {number}: section `[{name}]` appears twice"));
            }
            sections.push((name, Vec::new()));
            option_indent = None;
            continue;
        }
        let Some((_, options)) = sections.last_mut() else {
            return Some(format!(
                "line {number}: `{stripped}` comes before any `[section]`"
            ));
        };
        let Some((name, _)) = stripped.split_once('=') else {
            return Some(format!("line {number}: `{stripped}` is not `name = value`"));
        };
        let name = name.trim_end().to_string();
        if name.is_empty() {
            return Some(format!(
                "line {number}: `{stripped}` has no name before `=`"
            ));
        }
        if options.contains(&name) {
            return Some(format!(
                "line {number}: `{name}` is defined twice in its section"
            ));
        }
        options.push(name);
        option_indent = Some(indent);
    }
    for (section, options) in &sections {
        if section != "console_scripts" && section != "gui_scripts" {
            continue;
        }
        let valid = |name: &str| {
            name.chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '.' || c == '-')
        };
        if let Some(name) = options.iter().find(|name| !valid(name)) {
            return Some(format!(
                "script name `{name}` in `[{section}]` must be letters, digits, `_`, `.` or \
                 `-` (no paths or spaces)"
            ));
        }
    }
    None
}

/// warehouse/forklift/legacy.py `file_upload`: every `License-File` exists
/// in the sdist under its top-level directory (PEP 639; metadata 2.4+, as
/// for wheels).
pub(super) fn check_sdist_license_files(
    metadata: &Metadata,
    top: &str,
    names: &BTreeSet<String>,
    problems: &mut Vec<Problem>,
) {
    if metadata_version(metadata).is_none_or(|v| v < (2, 4)) {
        return;
    }
    for license in metadata.get_all("License-File") {
        let member = format!("{top}/{license}");
        if !names.contains(&member) {
            problems.push(Problem::new(
                "license-file-present",
                format!(
                    "`License-File: {license}` is not in the sdist at `{member}`; PyPI refuses \
                     the upload, rebuild it (and check `project.license-files`)"
                ),
            ));
        }
    }
}

pub(super) fn metadata_version(metadata: &Metadata) -> Option<(u32, u32)> {
    metadata
        .get("Metadata-Version")
        .and_then(|v| v.trim().split_once('.'))
        .and_then(|(major, minor)| Some((major.parse::<u32>().ok()?, minor.parse::<u32>().ok()?)))
}
