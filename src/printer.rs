//! Human output on stderr, data on stdout.

use std::io::{IsTerminal, Write};

use crate::pipeline::Reporter;

/// Writes progress lines to stderr unless quiet.
pub struct Printer {
    quiet: bool,
    color: bool,
}

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

    pub fn is_quiet(&self) -> bool {
        self.quiet
    }

    pub fn line(&self, text: &str) {
        if !self.quiet {
            let _ = writeln!(std::io::stderr(), "{text}");
        }
    }

    pub fn success(&self, text: &str) {
        self.line(&self.paint("32", text));
    }

    pub fn pass(&self, text: &str) -> String {
        format!("{} {text}", self.paint("32", "✓"))
    }

    pub fn fail(&self, text: &str) -> String {
        format!("{} {text}", self.paint("31", "✗"))
    }

    pub fn warning(&self, text: &str) -> String {
        format!("{} {text}", self.paint("33", "!"))
    }

    /// Data for scripts, on stdout.
    pub fn json<T: serde::Serialize>(&self, value: &T) {
        let text = serde_json::to_string_pretty(value).expect("reports always serialize");
        println!("{text}");
    }
}

impl Reporter for Printer {
    fn step(&self, message: &str) {
        self.line(&self.paint("1", &format!("→ {message}")));
    }

    fn info(&self, message: &str) {
        self.line(&format!("  {message}"));
    }

    fn warn(&self, message: &str) {
        // Warnings show even with -q: they may need action.
        let _ = writeln!(std::io::stderr(), "  {}", self.warning(message));
    }
}
