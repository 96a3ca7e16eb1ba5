//! RFC 822-style core metadata (PKG-INFO / METADATA).

use super::{Metadata, MetadataParseError};

/// Fields whose continuation lines are real line breaks, not folding:
/// setuptools escapes both with `rfc822_escape` (8 spaces), and the core
/// metadata spec's older form for `Description` is 7 spaces + `|`.
const MULTILINE_FIELDS: &[&str] = &["description", "license"];

/// What the parsed fields do not keep of the raw text.
#[derive(Debug, Clone, Default)]
pub struct Raw {
    /// The `Description` header with its continuation lines as they are.
    pub description: Option<String>,
    /// Headers that had continuation lines (folded into one line).
    pub folded: Vec<String>,
}

pub(super) fn parse(bytes: &[u8]) -> Result<Metadata, MetadataParseError> {
    parse_with_raw_description(bytes).map(|(metadata, _)| metadata)
}

/// Also returns the `Description` header exactly as Python's email parser
/// (and so `packaging`, twine and PyPI) reads it: continuation lines keep
/// their indentation. That is the text PyPI renders, so it is what is
/// checked, even where [`Metadata::get`] gives the unindented form.
pub fn parse_with_raw_description(bytes: &[u8]) -> Result<(Metadata, Raw), MetadataParseError> {
    let text = std::str::from_utf8(bytes).map_err(|err| MetadataParseError::NotUtf8 {
        offset: err.valid_up_to(),
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let text = text.replace("\r\n", "\n");

    // (name, first line, continuation lines) while headers are being read.
    let mut headers: Vec<(String, String, Vec<String>)> = Vec::new();
    let mut body = None;
    let mut lines = text.split_inclusive('\n');
    let mut number = 0;
    while let Some(raw) = lines.next() {
        number += 1;
        let line = raw.strip_suffix('\n').unwrap_or(raw);
        if line.is_empty() {
            // Blank line: the rest, verbatim, is the body.
            let rest: String = lines.collect();
            if !rest.is_empty() {
                body = Some(rest);
            }
            break;
        }
        if line.starts_with([' ', '\t']) {
            let (_, _, continuation) = headers
                .last_mut()
                .ok_or(MetadataParseError::OrphanContinuation { line: number })?;
            continuation.push(line.to_string());
            continue;
        }
        let (key, value) = line
            .split_once(':')
            .filter(|(key, _)| valid_key(key))
            .ok_or(MetadataParseError::MalformedLine { line: number })?;
        headers.push((
            key.to_string(),
            value.trim_start_matches([' ', '\t']).to_string(),
            Vec::new(),
        ));
    }

    let raw_description = headers
        .iter()
        .find(|(key, _, _)| key.eq_ignore_ascii_case("description"))
        .map(|(_, first, continuation)| {
            std::iter::once(first.as_str())
                .chain(continuation.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join("\n")
        });
    let folded = headers
        .iter()
        .filter(|(_, _, continuation)| !continuation.is_empty())
        .map(|(key, _, _)| key.clone())
        .collect();
    let fields = headers
        .into_iter()
        .map(|(key, first, continuation)| {
            let value = if MULTILINE_FIELDS.contains(&key.to_ascii_lowercase().as_str()) {
                multiline_value(&first, &continuation)
            } else {
                folded_value(&first, &continuation)
            };
            (key, value)
        })
        .collect();
    Ok((
        Metadata { fields, body },
        Raw {
            description: raw_description,
            folded,
        },
    ))
}

/// RFC 822 field names: printable ASCII except space and `:`.
fn valid_key(key: &str) -> bool {
    !key.is_empty() && key.bytes().all(|b| b.is_ascii_graphic() && b != b':')
}

/// Unfolds a header: continuation lines join the value with one space.
fn folded_value(first: &str, continuation: &[String]) -> String {
    let mut value = first.trim_end().to_string();
    for line in continuation {
        let line = line.trim();
        if !line.is_empty() {
            if !value.is_empty() {
                value.push(' ');
            }
            value.push_str(line);
        }
    }
    value
}

/// Keeps the line breaks, removing the escape prefix from each continuation
/// line: `       |` (7 spaces + pipe) or 8 spaces; otherwise leading blanks.
fn multiline_value(first: &str, continuation: &[String]) -> String {
    let mut lines = vec![first.trim_end()];
    for line in continuation {
        let stripped = line
            .strip_prefix("       |")
            .or_else(|| line.strip_prefix("        "))
            .unwrap_or_else(|| line.trim_start());
        // Trailing blanks can matter (Markdown hard breaks), so keep them.
        lines.push(stripped);
    }
    while lines.last().is_some_and(|line| line.trim().is_empty()) {
        lines.pop();
    }
    lines.join("\n")
}
