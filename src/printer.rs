//! Human output on stderr, data on stdout.

use std::io::{IsTerminal, Write};

use crate::pipeline::{NoProgress, Progress, ProgressLines, Reporter};

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

    fn transfer(&self, label: &str, total: u64) -> Box<dyn Progress> {
        if self.quiet {
            return Box::new(NoProgress);
        }
        if !std::io::stderr().is_terminal() {
            return ProgressLines::boxed(label, total, Box::new(|line| eprintln!("  {line}")));
        }
        let bar = indicatif::ProgressBar::new(total).with_style(
            indicatif::ProgressStyle::with_template(
                "  {bar:30} {bytes}/{total_bytes} {bytes_per_sec} {msg}",
            )
            .expect("a valid template"),
        );
        bar.set_message(label.to_string());
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
