//! The release pipeline: resolve → export → build → check → upload → verify.
//!
//! Nothing here prints: progress goes through a [`Reporter`], which the
//! terminal printer and (later) the daemon's log both implement, so the same
//! code runs by hand, in CI and in the background.

pub mod build;
pub mod check;
pub mod release;
pub mod resolve;
pub mod upload;
pub mod verify;

/// Receives progress from the pipeline.
pub trait Reporter {
    /// A pipeline step starts (`building`, `uploading demo-1.0.tar.gz`).
    fn step(&self, message: &str);
    /// Something done or found, worth a line.
    fn info(&self, message: &str);
    /// Something the user should look at; the release goes on.
    fn warn(&self, message: &str);
}

/// A reporter that drops everything (for `--json` and tests).
pub struct Silent;

impl Reporter for Silent {
    fn step(&self, _: &str) {}
    fn info(&self, _: &str) {}
    fn warn(&self, _: &str) {}
}
