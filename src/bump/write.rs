//! Writing a new version where it lives, changing nothing but the version's
//! characters: a pyproject's `[project] version` (or `[tool.poetry]
//! version`) is found by `toml_edit`, whose spans point at the string in the
//! original text, so comments, layout and quoting stay as they were.

/// `text` with the static version (`[project]`, else `[tool.poetry]`) set
/// to `next`; `None` when it declares none.
pub fn pyproject_version(text: &str, next: &str) -> Option<String> {
    let doc = toml_edit::Document::parse(text).ok()?;
    let version = ["project", "tool.poetry"].iter().find_map(|table| {
        let mut item = doc.as_item();
        for key in table.split('.') {
            item = item.as_table_like()?.get(key)?;
        }
        item.as_table_like()?.get("version")?.as_value().cloned()
    })?;
    version.as_str()?;
    let span = version.span()?;
    Some(replace_string_literal(text, span, next))
}

/// The literal at `span` (`"1.0"`, `'1.0'`, triple-quoted) with its
/// content replaced by `next`, quotes kept.
fn replace_string_literal(text: &str, span: std::ops::Range<usize>, next: &str) -> String {
    let literal = &text[span.clone()];
    let quote = ["\"\"\"", "'''", "\"", "'"]
        .into_iter()
        .find(|q| literal.starts_with(q))
        .unwrap_or("\"");
    format!(
        "{}{quote}{next}{quote}{}",
        &text[..span.start],
        &text[span.end..]
    )
}

/// A version file with `old` replaced by `next`: a file that is only the
/// version (setuptools `file:`), else the first quoted `old` (or `vOLD`) on
/// a line that assigns a version (`__version__ = "1.0"`).
pub fn version_file(text: &str, old: &str, next: &str) -> Option<String> {
    if text.trim() == old {
        let start = text.find(old)?;
        return Some(format!(
            "{}{next}{}",
            &text[..start],
            &text[start + old.len()..]
        ));
    }
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let assigns = line.contains('=') || line.contains(':');
        if assigns && line.to_ascii_lowercase().contains("version") {
            for quote in ['"', '\''] {
                for prefix in ["", "v"] {
                    let needle = format!("{quote}{prefix}{old}{quote}");
                    if let Some(at) = line.find(&needle) {
                        let start = offset + at + 1 + prefix.len();
                        return Some(format!(
                            "{}{next}{}",
                            &text[..start],
                            &text[start + old.len()..]
                        ));
                    }
                }
            }
        }
        offset += line.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pyproject_keeps_every_byte_but_the_version() {
        let text = "# top comment\n[build-system]\nrequires = [\"hatchling\"]\n\n[project]\nname = \"demo\"   # the name\nversion = '1.0.0'   # bumped by tagpub\ndescription = \"version = 1.0.0 in text\"\n\n[tool.other]\nversion = \"9\"\n";
        assert_eq!(
            pyproject_version(text, "1.1.0").unwrap(),
            text.replace("'1.0.0'", "'1.1.0'")
        );
        let inline = "project = { name = \"x\", version = \"2.0\" }\n";
        assert_eq!(
            pyproject_version(inline, "2.1").unwrap(),
            "project = { name = \"x\", version = \"2.1\" }\n"
        );
        let poetry = "[tool.poetry]\nname = \"x\"\nversion = \"0.3.0\"\n";
        assert_eq!(
            pyproject_version(poetry, "0.4.0").unwrap(),
            poetry.replace("0.3.0", "0.4.0")
        );
        assert_eq!(pyproject_version("[project]\nname = \"x\"\n", "1"), None);
    }

    #[test]
    fn version_files() {
        assert_eq!(
            version_file("1.0.0\n", "1.0.0", "1.1.0").unwrap(),
            "1.1.0\n"
        );
        let module = "\"\"\"Docs mention 1.0.0.\"\"\"\nimport os\n__version__ = \"1.0.0\"\nOTHER = \"1.0.0\"\n";
        assert_eq!(
            version_file(module, "1.0.0", "1.1.0").unwrap(),
            "\"\"\"Docs mention 1.0.0.\"\"\"\nimport os\n__version__ = \"1.1.0\"\nOTHER = \"1.0.0\"\n"
        );
        assert_eq!(
            version_file("VERSION = 'v2.0'\n", "2.0", "2.1").unwrap(),
            "VERSION = 'v2.1'\n"
        );
        assert_eq!(version_file("x = 1\n", "1.0", "1.1"), None);
    }
}
