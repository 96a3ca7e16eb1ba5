//! Human output on stderr, data on stdout: every byte tagpub prints for a
//! person goes through here (`clippy::print_stdout`/`print_stderr` are denied
//! everywhere else), so two rules hold for all of it:
//!
//! - Untrusted text cannot drive the terminal. Names, versions and summaries
//!   from `pyproject.toml`, tag names, index answers and build output may hold
//!   escape sequences, carriage returns or bidi overrides that would redraw a
//!   failed check as a pass; [`neutralize`] shows each such character as a
//!   visible escape (`\u{1b}`) instead. Colour is added after that, by the
//!   printer alone, from the line's leading mark (`✓`, `✗`, `!`).
//! - A closed stdout (`tagpub … | head -1`) ends the command quietly with
//!   exit 0, as ripgrep does: writes to stdout return [`StdoutClosed`], which
//!   `lib.rs` turns into a silent success.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::borrow::Cow;
use std::io::{IsTerminal, Write};

use crate::report::{
    FAIL_MARK, LineKind, LineSink, NoProgress, PASS_MARK, Progress, WARN_MARK, progress_lines,
};

/// Whether a character may reach the terminal as it is. Newlines and tabs
/// lay out tagpub's own multi-line messages; every other control character
/// (C0, DEL, C1 such as U+0085 and the one-byte CSI U+009B), the bidi
/// overrides and isolates, and the Unicode line separators are shown escaped.
fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
                | '\u{2028}' | '\u{2029}'
        )
}

/// `text` with every character that could move the cursor, change colours,
/// or reorder what is shown replaced by its visible escape (`\u{1b}`).
pub fn neutralize(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' && chars.peek() == Some(&'\n') {
            // A Windows line end (a build's output) is just a line end.
        } else if is_unsafe(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The same characters as JSON escapes (`\u001b`): serde_json leaves DEL, C1
/// and bidi characters raw, and an escape keeps the string's value the same.
fn neutralize_json(json: &str) -> Cow<'_, str> {
    if !json.chars().any(is_unsafe) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if is_unsafe(c) {
            // Outside strings JSON has only ASCII whitespace, which is never
            // unsafe here, so every such character is inside a string.
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Writes one line to stderr, neutralized. Failures to write are ignored:
/// human output must never be why a command fails.
pub fn eprint_line(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{}", neutralize(text));
}

/// A question on stderr, without a newline, flushed before the answer is read.
pub fn eprint_prompt(text: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = write!(stderr, "{}", neutralize(text));
    let _ = stderr.flush();
}

/// Stdout was closed by its reader (`| head -1`): the command stops, quietly.
#[derive(Debug, thiserror::Error)]
#[error("stdout was closed by its reader")]
pub struct StdoutClosed;

/// Writes `text` to stdout as it is; a closed pipe becomes [`StdoutClosed`].
fn write_stdout(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Err(StdoutClosed.into()),
        Err(err) => Err(anyhow::Error::new(err).context("cannot write to stdout")),
    }
}

/// Writes progress lines to stderr unless quiet.
pub struct Printer {
    quiet: bool,
    color: bool,
}

/// The marks a line may start with, and their colours.
const MARKS: [(char, &str); 3] = [(PASS_MARK, "32"), (FAIL_MARK, "31"), (WARN_MARK, "33")];

impl Printer {
    pub fn new(quiet: bool) -> Printer {
        let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Printer { quiet, color }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// `text` neutralized, then coloured: the whole of it in `whole`, else
    /// a leading mark (after indentation) in the mark's colour.
    fn render(&self, text: &str, whole: Option<&str>) -> String {
        let safe = neutralize(text);
        if !self.color {
            return safe.into_owned();
        }
        if let Some(code) = whole {
            return self.paint(code, &safe);
        }
        let body = safe.trim_start_matches(' ');
        let indent = &safe[..safe.len() - body.len()];
        let mut chars = body.chars();
        if let (Some(mark), Some(' ')) = (chars.next(), chars.next())
            && let Some((_, code)) = MARKS.iter().find(|(m, _)| *m == mark)
        {
            let rest = &body[mark.len_utf8()..];
            return format!("{indent}{}{rest}", self.paint(code, &mark.to_string()));
        }
        safe.into_owned()
    }

    fn emit(&self, text: &str, whole: Option<&str>) {
        let _ = writeln!(std::io::stderr().lock(), "{}", self.render(text, whole));
    }

    pub fn is_quiet(&self) -> bool {
        self.quiet
    }

    /// A line for a person, unless quiet.
    pub fn line(&self, text: &str) {
        if !self.quiet {
            self.emit(text, None);
        }
    }

    /// A line shown even with `-q`: refusals and errors need action.
    pub fn always(&self, text: &str) {
        self.emit(text, None);
    }

    pub fn success(&self, text: &str) {
        if !self.quiet {
            self.emit(text, Some("32"));
        }
    }

    pub fn pass(&self, text: &str) -> String {
        crate::report::passed(text)
    }

    pub fn fail(&self, text: &str) -> String {
        crate::report::failed(text)
    }

    pub fn warning(&self, text: &str) -> String {
        crate::report::warning(text)
    }

    /// Data for scripts, on stdout.
    pub fn json<T: serde::Serialize>(&self, value: &T) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(value).expect("reports always serialize");
        write_stdout(&format!("{}\n", neutralize_json(&text)))
    }

    /// Text for scripts (or a pipe), on stdout, neutralized like every line.
    pub fn out(&self, text: &str) -> anyhow::Result<()> {
        write_stdout(&neutralize(text))
    }

    /// Bytes that must reach stdout unchanged (a secret the user asked for).
    pub fn out_raw(&self, text: &str) -> anyhow::Result<()> {
        write_stdout(text)
    }
}

/// The terminal: steps bold, marks coloured, everything but warnings
/// left out with `-q` (warnings may need action).
impl LineSink for Printer {
    fn put(&self, kind: LineKind, line: &str) {
        match kind {
            LineKind::Warn => self.always(line),
            LineKind::Step if !self.quiet => self.emit(line, Some("1")),
            LineKind::Step => {}
            LineKind::Info | LineKind::Progress => self.line(line),
        }
    }

    fn follow(&self, label: &str, total: u64) -> Box<dyn Progress> {
        if self.quiet {
            return Box::new(NoProgress);
        }
        let label = neutralize(label).into_owned();
        if !std::io::stderr().is_terminal() {
            return progress_lines(&label, total, eprint_line);
        }
        let bar = indicatif::ProgressBar::new(total).with_style(
            indicatif::ProgressStyle::with_template(
                "  {bar:30} {bytes}/{total_bytes} {bytes_per_sec} {msg}",
            )
            .expect("a valid template"),
        );
        bar.set_message(label);
        Box::new(Bar(bar))
    }
}

/// A progress bar on the terminal, gone once the transfer ends (the step
/// line above it says what was sent).
struct Bar(indicatif::ProgressBar);

impl Progress for Bar {
    fn advance(&mut self, bytes: u64) {
        self.0.inc(bytes);
    }

    fn finish(&mut self) {
        self.0.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        assert_eq!(neutralize("plain ✓ text\n\tnext"), "plain ✓ text\n\tnext");
        assert_eq!(neutralize("dos\r\nline\rover"), "dos\nline\\u{d}over");
        assert_eq!(
            neutralize("a\x1b[2K\rb\u{202e}c\u{85}d\u{9b}e\u{2028}f\u{7f}"),
            "a\\u{1b}[2K\\u{d}b\\u{202e}c\\u{85}d\\u{9b}e\\u{2028}f\\u{7f}"
        );
        let json = serde_json::to_string(&"x\u{7f}\u{9b}\u{202e}\u{1b}").unwrap();
        let safe = neutralize_json(&json);
        assert!(!safe.chars().any(is_unsafe), "{safe}");
        let back: String = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, "x\u{7f}\u{9b}\u{202e}\u{1b}", "same value");
    }

    #[test]
    fn colour_comes_only_from_the_printer() {
        let printer = Printer {
            quiet: false,
            color: true,
        };
        let line = printer.render(&printer.fail("evil \x1b[32m\r✓ pass"), None);
        assert_eq!(
            line, "\x1b[31m✗\x1b[0m evil \\u{1b}[32m\\u{d}✓ pass",
            "the mark is painted, the text's own escape is not"
        );
        assert_eq!(
            printer.render("  ! careful", None),
            "  \x1b[33m!\x1b[0m careful"
        );
    }
}
