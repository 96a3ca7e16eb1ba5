//! How long-running work tells what it does without printing: the pipeline,
//! the upload client and the daemon's jobs talk to a [`Reporter`], which the
//! terminal printer (`printer.rs`) and the daemon's job log implement. A leaf:
//! it imports nothing from tagpub.

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
