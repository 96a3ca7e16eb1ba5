//! How a command ends: the exit status a command returns, the one trait
//! by which an error says whether it is the user's mistake (2) or a failure
//! (1), and the one way an error and its causes become text ([`chain_text`]).
//!
//! A leaf: commands, the pipeline and `config/` import it; it imports
//! only the secret masking (`secrets::mask`), itself a leaf.

use std::process::ExitCode;

/// What a command reports to the shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0: done, or every check passed.
    Success,
    /// 1: a release, a check or a comparison failed.
    Failed,
    /// 2: the command or its configuration was used wrongly.
    Usage,
}

impl ExitStatus {
    /// `Success` when `ok`, else `Failed`: checks that passed or did not.
    pub fn success_if(ok: bool) -> Self {
        if ok { Self::Success } else { Self::Failed }
    }

    pub fn code(self) -> u8 {
        match self {
            Self::Success => 0,
            Self::Failed => 1,
            Self::Usage => 2,
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        ExitCode::from(status.code())
    }
}

/// An error that knows which exit status it means. `lib.rs` asks every
/// error in a chain; one `Usage` anywhere makes the command exit 2, since a
/// usage error stays one when a layer adds context above it.
pub trait Classify: std::error::Error + 'static {
    fn exit_status(&self) -> ExitStatus;
}

/// "The command was used wrongly": a message that says how to use it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

impl Classify for UsageError {
    fn exit_status(&self) -> ExitStatus {
        ExitStatus::Usage
    }
}

/// An error as the user reads it: its own message, then one
/// `  caused by: …` line per error under it (`source()`), each layer once,
/// each masked of the secrets this process holds (a layer may quote an
/// index's answer). The one renderer of error chains: the CLI's `error:`,
/// job records and logs, doctor's and plan's findings, the pre-push gate
/// and JSON fields all print errors through it, which is why an error
/// never repeats its cause in its own message.
pub fn chain_text(err: &dyn std::error::Error) -> String {
    let mask = crate::secrets::mask;
    let mut text = mask(&err.to_string());
    let mut cause = err.source();
    while let Some(next) = cause {
        text.push_str("\n  caused by: ");
        text.push_str(&mask(&next.to_string()));
        cause = next.source();
    }
    text
}

/// [`chain_text`] of `err` under one more layer, `context`: what the
/// caller was doing when `err` happened.
pub fn chain_text_in(context: &str, err: &dyn std::error::Error) -> String {
    format!(
        "{}\n  caused by: {}",
        crate::secrets::mask(context),
        chain_text(err)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The index after the bracket that closes the one at `open`, skipping
    /// string literals (a message may hold a bracket).
    fn close_of(text: &[u8], open: usize) -> usize {
        let (mut depth, mut i, mut in_str) = (0, open, false);
        while i < text.len() {
            match (in_str, text[i]) {
                (true, b'\\') => i += 1,
                (_, b'"') => in_str = !in_str,
                (false, b'(' | b'{' | b'[') => depth += 1,
                (false, b')' | b'}' | b']') => {
                    depth -= 1;
                    if depth == 0 {
                        return i + 1;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        text.len()
    }

    /// The rule of [`chain_text`], checked on every thiserror message in
    /// `src/`: a message names no field that is its error's `source()`
    /// (a field named `source`, or marked `#[source]` / `#[from]`), so a
    /// cause is never printed twice.
    #[test]
    fn no_error_message_prints_its_source() {
        let mut offenders = Vec::new();
        let mut dirs = vec![std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src"
        ))];
        let mut checked = 0;
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                if path.extension().is_none_or(|e| e != "rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                let bytes = text.as_bytes();
                for (at, _) in text.match_indices("#[error(") {
                    let attr_end = close_of(bytes, at + 7);
                    let attr = &text[at..attr_end];
                    if attr.contains("transparent") {
                        continue;
                    }
                    // The fields of the variant (or struct) the attribute is on.
                    let rest = &text[attr_end..];
                    let Some(open) = rest.find(['{', '(', ',', ';']) else {
                        continue;
                    };
                    let mut fields = "";
                    if matches!(rest.as_bytes()[open], b'{' | b'(') {
                        fields = &rest[open..close_of(rest.as_bytes(), open)];
                    }
                    let tuple = rest.as_bytes()[open] == b'(';
                    let source = match fields.find("#[from]").or_else(|| fields.find("#[source]")) {
                        Some(mark) if tuple => fields[..mark].matches(',').count().to_string(),
                        Some(mark) => {
                            let after = &fields[mark..];
                            let after = &after[after.find(']').unwrap() + 1..];
                            after[..after.find(':').unwrap()]
                                .trim()
                                .trim_start_matches("pub ")
                                .trim()
                                .to_string()
                        }
                        None if !tuple
                            && fields
                                .lines()
                                .any(|l| l.trim_start().starts_with("source:")) =>
                        {
                            "source".to_string()
                        }
                        None => continue,
                    };
                    checked += 1;
                    let printed = [
                        format!("{{{source}}}"),
                        format!("{{{source}:"),
                        format!("{{.{source}"),
                    ]
                    .iter()
                    .any(|p| attr.contains(p.as_str()));
                    if printed {
                        offenders.push(format!(
                            "{}: {}",
                            path.display(),
                            attr.split_whitespace().collect::<Vec<_>>().join(" ")
                        ));
                    }
                }
            }
        }
        assert!(
            checked > 20,
            "the scan found only {checked} errors with a source"
        );
        assert!(
            offenders.is_empty(),
            "messages that print their source():\n{}",
            offenders.join("\n")
        );
    }

    #[test]
    fn codes_are_the_documented_ones() {
        assert_eq!(ExitStatus::Success.code(), 0);
        assert_eq!(ExitStatus::Failed.code(), 1);
        assert_eq!(ExitStatus::Usage.code(), 2);
        assert_eq!(ExitStatus::success_if(true), ExitStatus::Success);
        assert_eq!(ExitStatus::success_if(false), ExitStatus::Failed);
    }
}
