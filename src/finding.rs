//! What a check found: `plan`'s checks of a tag and `doctor`'s checks of a
//! set-up are one type with one text form, so a mark, a name and a fix read
//! the same wherever they are shown. A leaf: the pipeline fills findings in
//! (it never prints), commands print them with [`lines`].

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    /// Worth knowing; does not stop a release.
    Warn,
    Fail,
}

impl Status {
    /// The line's leading mark, from which the printer colours it.
    pub fn mark(self) -> char {
        match self {
            Status::Pass => '✓',
            Status::Warn => '!',
            Status::Fail => '✗',
        }
    }

    /// `text` behind this status's mark: `✓ text`.
    pub fn marked(self, text: &str) -> String {
        format!("{} {text}", self.mark())
    }
}

/// One check: what was checked, what was found, and how to fix it.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub name: &'static str,
    pub status: Status,
    pub message: String,
    /// The command (or edit) that fixes it; every failure `doctor` reports
    /// has one. A plan's checks say the fix in their message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Finding {
    pub fn new(name: &'static str, status: Status, message: impl Into<String>) -> Finding {
        Finding {
            name,
            status,
            message: message.into(),
            fix: None,
        }
    }

    pub fn pass(name: &'static str, message: impl Into<String>) -> Finding {
        Finding::new(name, Status::Pass, message)
    }

    pub fn warn(name: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding::new(name, Status::Warn, message).with_fix(fix)
    }

    pub fn fail(name: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding::new(name, Status::Fail, message).with_fix(fix)
    }

    pub fn with_fix(mut self, fix: impl Into<String>) -> Finding {
        self.fix = Some(fix.into());
        self
    }

    pub fn failed(&self) -> bool {
        self.status == Status::Fail
    }

    /// `name: message`, behind `prefix` (a group member's `package: `).
    pub fn text(&self, prefix: &str) -> String {
        format!("{prefix}{}: {}", self.name, self.message)
    }

    /// `✓ name: message`.
    pub fn marked(&self, prefix: &str) -> String {
        self.status.marked(&self.text(prefix))
    }
}

/// The text form of findings, a line each, under `indent`:
/// `{indent}  ✓ name: message`, and for a finding that did not pass and
/// has a fix, `{indent}      fix: {fix}` below it.
pub fn lines<'a>(findings: impl IntoIterator<Item = &'a Finding>, indent: &str) -> Vec<String> {
    let mut lines = Vec::new();
    for finding in findings {
        lines.push(format!("{indent}  {}", finding.marked("")));
        if let (Some(fix), false) = (&finding.fix, finding.status == Status::Pass) {
            lines.push(format!("{indent}      fix: {fix}"));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_form_is_a_marked_line_and_a_fix_under_what_did_not_pass() {
        let findings = [
            Finding::pass("git", "git 2.43.0"),
            Finding::warn("python", "no python3", "install Python 3"),
            Finding::fail("token", "no token for pypi", "tagpub token set"),
            Finding::new(
                "changelog",
                Status::Fail,
                "CHANGELOG.md does not mention 1.0",
            ),
            Finding::pass("daemon", "running").with_fix("never shown"),
        ];
        assert_eq!(
            lines(&findings, "").join("\n"),
            "  ✓ git: git 2.43.0\n  \
             ! python: no python3\n      fix: install Python 3\n  \
             ✗ token: no token for pypi\n      fix: tagpub token set\n  \
             ✗ changelog: CHANGELOG.md does not mention 1.0\n  \
             ✓ daemon: running"
        );
        assert_eq!(
            lines(&findings[..1], "  "),
            ["    ✓ git: git 2.43.0".to_string()]
        );
        assert_eq!(
            findings[2].marked("core: "),
            "✗ core: token: no token for pypi"
        );
    }

    #[test]
    fn json_has_a_fix_only_when_there_is_one() {
        assert_eq!(
            serde_json::to_value(Finding::pass("git", "ok")).unwrap(),
            serde_json::json!({"name": "git", "status": "pass", "message": "ok"})
        );
        assert_eq!(
            serde_json::to_value(Finding::warn("hooks", "missing", "tagpub hooks install"))
                .unwrap(),
            serde_json::json!({"name": "hooks", "status": "warn", "message": "missing", "fix": "tagpub hooks install"})
        );
    }
}
