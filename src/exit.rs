//! How a command ends: the exit status a command returns, and the one trait
//! by which an error says whether it is the user's mistake (2) or a failure (1).
//!
//! A leaf: commands, the pipeline and `config/` import it; it imports
//! nothing of tagpub's.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_documented_ones() {
        assert_eq!(ExitStatus::Success.code(), 0);
        assert_eq!(ExitStatus::Failed.code(), 1);
        assert_eq!(ExitStatus::Usage.code(), 2);
        assert_eq!(ExitStatus::success_if(true), ExitStatus::Success);
        assert_eq!(ExitStatus::success_if(false), ExitStatus::Failed);
    }
}
