//! How long-running work tells what it does without printing: the pipeline,
//! the upload client and the daemon's jobs talk to a [`Reporter`]. The
//! terminal printer (`printer.rs`) and the daemon's job log are both a
//! [`LineSink`]: the line itself (its mark, its indentation) is made here
//! once, each sink only says where it goes (a terminal with colour and `-q`,
//! a log file with secrets masked). A leaf: it imports nothing from tagpub.

/// Receives progress from the pipeline.
pub trait Reporter: Sync {
    /// A pipeline step starts (`building`, `uploading demo-1.0.tar.gz`).
    fn step(&self, message: &str);
    /// Something done or found, worth a line.
    fn info(&self, message: &str);
    /// Something the user should look at; the release goes on.
    fn warn(&self, message: &str);
    /// Follows the bytes of one transfer (`total` bytes of `label`). It is
    /// fed from the HTTP client's thread, hence `Send` and owned.
    fn transfer(&self, _label: &str, _total: u64) -> Box<dyn Progress> {
        Box::new(NoProgress)
    }
}

/// The marks a line may start with (the printer colours them).
pub const PASS_MARK: char = '✓';
pub const FAIL_MARK: char = '✗';
pub const WARN_MARK: char = '!';
pub const STEP_MARK: char = '→';

/// `✓ text`: something that passed or succeeded.
pub fn passed(text: &str) -> String {
    format!("{PASS_MARK} {text}")
}

/// `✗ text`: something that failed.
pub fn failed(text: &str) -> String {
    format!("{FAIL_MARK} {text}")
}

/// `! text`: something to look at.
pub fn warning(text: &str) -> String {
    format!("{WARN_MARK} {text}")
}

/// What a reporter's line is; decides its mark and indentation, the same on
/// the terminal and in a job's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    /// `→ building`
    Step,
    /// `  built demo-1.0.tar.gz`
    Info,
    /// `  ! no changelog entry`
    Warn,
    /// `  demo.whl: 50% sent (…)`
    Progress,
}

impl LineKind {
    /// `message` as a line of this kind.
    pub fn line(self, message: &str) -> String {
        match self {
            LineKind::Step => format!("{STEP_MARK} {message}"),
            LineKind::Info | LineKind::Progress => format!("  {message}"),
            LineKind::Warn => format!("  {}", warning(message)),
        }
    }
}

/// Where a [`Reporter`]'s lines go: every `LineSink` is a `Reporter` whose
/// lines are made by [`LineKind::line`].
pub trait LineSink: Sync {
    /// Writes one line, already formatted; `kind` lets a terminal colour it
    /// or leave it out (`-q`).
    fn put(&self, kind: LineKind, line: &str);
    /// Follows one transfer (see [`Reporter::transfer`]); lines of it are
    /// best made with [`progress_lines`].
    fn follow(&self, _label: &str, _total: u64) -> Box<dyn Progress> {
        Box::new(NoProgress)
    }
}

impl<S: LineSink> Reporter for S {
    fn step(&self, message: &str) {
        self.put(LineKind::Step, &LineKind::Step.line(message));
    }
    fn info(&self, message: &str) {
        self.put(LineKind::Info, &LineKind::Info.line(message));
    }
    fn warn(&self, message: &str) {
        self.put(LineKind::Warn, &LineKind::Warn.line(message));
    }
    fn transfer(&self, label: &str, total: u64) -> Box<dyn Progress> {
        self.follow(label, total)
    }
}

/// [`ProgressLines`] of a transfer, each a [`LineKind::Progress`] line
/// given to `put` (from the HTTP client's thread).
pub fn progress_lines(
    label: &str,
    total: u64,
    mut put: impl FnMut(&str) + Send + 'static,
) -> Box<dyn Progress> {
    ProgressLines::boxed(
        label,
        total,
        Box::new(move |line| put(&LineKind::Progress.line(line))),
    )
}

/// How far one transfer has got.
pub trait Progress: Send {
    fn advance(&mut self, bytes: u64);
    /// The transfer ended (sent, or failed and about to be retried).
    fn finish(&mut self) {}
}

pub struct NoProgress;

impl Progress for NoProgress {
    fn advance(&mut self, _: u64) {}
}

/// Progress as plain lines, for logs and terminals that are not one: a
/// line at each quarter of a transfer big enough for that to matter.
pub struct ProgressLines {
    label: String,
    total: u64,
    sent: u64,
    quarters_told: u64,
    write: Box<dyn FnMut(&str) + Send>,
}

/// Smaller transfers end before progress lines would tell anything.
pub const PROGRESS_LINES_FROM: u64 = 1024 * 1024;

impl ProgressLines {
    pub fn boxed(label: &str, total: u64, write: Box<dyn FnMut(&str) + Send>) -> Box<dyn Progress> {
        if total < PROGRESS_LINES_FROM {
            return Box::new(NoProgress);
        }
        Box::new(ProgressLines {
            label: label.to_string(),
            total,
            sent: 0,
            quarters_told: 0,
            write,
        })
    }
}

impl Progress for ProgressLines {
    fn advance(&mut self, bytes: u64) {
        self.sent = (self.sent + bytes).min(self.total);
        let quarters = self.sent * 4 / self.total.max(1);
        if quarters > self.quarters_told {
            self.quarters_told = quarters;
            let line = format!(
                "{}: {}% sent ({} of {})",
                self.label,
                quarters * 25,
                indicatif::HumanBytes(self.sent),
                indicatif::HumanBytes(self.total)
            );
            (self.write)(&line);
        }
    }
}

/// A reporter that drops everything (for `--json` and tests).
pub struct Silent;

impl Reporter for Silent {
    fn step(&self, _: &str) {}
    fn info(&self, _: &str) {}
    fn warn(&self, _: &str) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Records what a sink is given.
    struct Recorder(Mutex<Vec<(LineKind, String)>>);

    impl LineSink for Recorder {
        fn put(&self, kind: LineKind, line: &str) {
            self.0.lock().unwrap().push((kind, line.to_string()));
        }
    }

    #[test]
    fn every_sink_gets_the_same_lines() {
        let recorder = Recorder(Mutex::new(Vec::new()));
        let reporter: &dyn Reporter = &recorder;
        reporter.step("building");
        reporter.info(&passed("built demo-1.0.tar.gz"));
        reporter.warn("no changelog entry");
        assert_eq!(
            *recorder.0.lock().unwrap(),
            [
                (LineKind::Step, "→ building".to_string()),
                (LineKind::Info, "  ✓ built demo-1.0.tar.gz".to_string()),
                (LineKind::Warn, "  ! no changelog entry".to_string()),
            ]
        );
        assert_eq!(failed("x"), "✗ x");
    }

    #[test]
    fn progress_lines_at_each_quarter_of_a_large_transfer_only() {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let mut progress = ProgressLines::boxed(
            "big.whl",
            4 * 1024 * 1024,
            Box::new(move |line| sink.lock().unwrap().push(line.to_string())),
        );
        for _ in 0..64 {
            progress.advance(64 * 1024);
        }
        assert_eq!(
            *lines.lock().unwrap(),
            [
                "big.whl: 25% sent (1.00 MiB of 4.00 MiB)",
                "big.whl: 50% sent (2.00 MiB of 4.00 MiB)",
                "big.whl: 75% sent (3.00 MiB of 4.00 MiB)",
                "big.whl: 100% sent (4.00 MiB of 4.00 MiB)",
            ]
        );
        let small = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = small.clone();
        let mut progress = ProgressLines::boxed(
            "small.tar.gz",
            1000,
            Box::new(move |line| sink.lock().unwrap().push(line.to_string())),
        );
        progress.advance(1000);
        assert!(small.lock().unwrap().is_empty());
    }
}
