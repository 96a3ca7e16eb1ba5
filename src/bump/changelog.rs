//! A Keep-a-Changelog file's release step: the `Unreleased` section becomes
//! `## [X.Y.Z] - DATE` under a fresh, empty `## [Unreleased]`, and the
//! compare links at the bottom (`[Unreleased]: …/compare/v1.1.0...HEAD`)
//! move on to the new tag. Everything else is kept byte for byte.

/// The result of releasing the `Unreleased` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Released {
    pub text: String,
    /// The section's body (the notes of this release), trimmed.
    pub notes: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("it has no `## [Unreleased]` section to release")]
pub struct NoUnreleased;

/// Releases `text`'s Unreleased section as `version` (tag `tag`, on
/// `date`, `YYYY-MM-DD`). An empty section is released too: its `notes`
/// are empty, and the caller decides whether that is a warning.
pub fn release(text: &str, version: &str, tag: &str, date: &str) -> Result<Released, NoUnreleased> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let heading = lines
        .iter()
        .position(|line| is_unreleased_heading(line))
        .ok_or(NoUnreleased)?;
    let level = heading_level(lines[heading]);
    let end = lines[heading + 1..]
        .iter()
        .position(|line| {
            let l = heading_level(line);
            (l > 0 && l <= level) || is_link_definition(line)
        })
        .map_or(lines.len(), |i| heading + 1 + i);
    let notes: String = lines[heading + 1..end].concat();
    let notes = notes.trim().to_string();

    let hashes = "#".repeat(level);
    let linked = lines[heading].contains('[');
    let title = if linked {
        format!("[{version}]")
    } else {
        version.to_string()
    };
    let mut out = String::new();
    out.push_str(&lines[..heading].concat());
    out.push_str(lines[heading]);
    out.push('\n');
    out.push_str(&format!("{hashes} {title} - {date}\n"));
    out.push_str(&lines[heading + 1..end].concat());
    out.push_str(&update_links(&lines[end..].concat(), version, tag));
    Ok(Released { text: out, notes })
}

fn heading_level(line: &str) -> usize {
    let hashes = line.bytes().take_while(|b| *b == b'#').count();
    if hashes > 0 && line[hashes..].starts_with(' ') {
        hashes
    } else {
        0
    }
}

fn is_unreleased_heading(line: &str) -> bool {
    heading_level(line) > 0
        && line
            .trim_start_matches('#')
            .trim()
            .trim_start_matches('[')
            .to_ascii_lowercase()
            .starts_with("unreleased")
}

/// `[label]: url` at the start of a line.
fn is_link_definition(line: &str) -> bool {
    line.starts_with('[') && line.contains("]: ")
}

/// `[Unreleased]: …/compare/OLD...HEAD` → `…/compare/TAG...HEAD`, plus
/// `[VERSION]: …/compare/OLD...TAG` below it. Other links stay as they are.
fn update_links(tail: &str, version: &str, tag: &str) -> String {
    let mut out = String::new();
    for line in tail.split_inclusive('\n') {
        let Some(rest) = line
            .strip_prefix("[Unreleased]: ")
            .or_else(|| line.strip_prefix("[unreleased]: "))
        else {
            out.push_str(line);
            continue;
        };
        let url = rest.trim_end();
        let label = &line[..line.find("]: ").expect("a link definition") + 1];
        let Some((base, range)) = url.rsplit_once("/compare/") else {
            out.push_str(line);
            continue;
        };
        let Some((previous, head)) = range.split_once("...") else {
            out.push_str(line);
            continue;
        };
        out.push_str(&format!("{label}: {base}/compare/{tag}...{head}\n"));
        out.push_str(&format!("[{version}]: {base}/compare/{previous}...{tag}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHANGELOG: &str = "# Changelog\n\nAll notable changes.\n\n## [Unreleased]\n### Added\n- bump (#12)\n\n## [1.1.0] - 2026-01-01\n### Fixed\n- a bug\n\n[Unreleased]: https://github.com/o/r/compare/v1.1.0...HEAD\n[1.1.0]: https://github.com/o/r/compare/v1.0.0...v1.1.0\n";

    #[test]
    fn unreleased_becomes_the_release_and_links_move_on() {
        let released = release(CHANGELOG, "1.2.0", "v1.2.0", "2026-12-06").unwrap();
        assert_eq!(released.notes, "### Added\n- bump (#12)");
        assert_eq!(
            released.text,
            "# Changelog\n\nAll notable changes.\n\n## [Unreleased]\n\n## [1.2.0] - 2026-12-06\n### Added\n- bump (#12)\n\n## [1.1.0] - 2026-01-01\n### Fixed\n- a bug\n\n[Unreleased]: https://github.com/o/r/compare/v1.2.0...HEAD\n[1.2.0]: https://github.com/o/r/compare/v1.1.0...v1.2.0\n[1.1.0]: https://github.com/o/r/compare/v1.0.0...v1.1.0\n"
        );
    }

    #[test]
    fn plain_headings_and_a_missing_or_empty_section() {
        let plain = "## Unreleased\n\n- x\n\n## 1.0 - 2025-01-01\n";
        assert_eq!(
            release(plain, "1.1", "v1.1", "2026-12-06").unwrap().text,
            "## Unreleased\n\n## 1.1 - 2026-12-06\n\n- x\n\n## 1.0 - 2025-01-01\n"
        );
        assert_eq!(
            release("# Changes\n## 1.0\n", "1.1", "v1.1", "d"),
            Err(NoUnreleased)
        );
        let empty = release(
            "## [Unreleased]\n\n## [1.0] - d\n",
            "1.1",
            "v1.1",
            "2026-12-06",
        )
        .unwrap();
        assert_eq!(empty.notes, "");
        assert_eq!(
            empty.text,
            "## [Unreleased]\n\n## [1.1] - 2026-12-06\n\n## [1.0] - d\n"
        );
    }
}
