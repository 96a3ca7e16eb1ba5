//! Crash points for the tests that kill tagpub mid-release.
//!
//! `TAGPUB_FAULT=<name>` makes the process abort at the point of that name:
//! no destructors, no flushing, as abrupt as SIGKILL. The tests use it to
//! prove that a release survives a crash at every step boundary. Outside
//! those tests the variable is unset and a point costs one env lookup.

pub const FAULT_ENV: &str = "TAGPUB_FAULT";

/// Aborts the process if `TAGPUB_FAULT` names this point.
pub fn point(name: &str) {
    if std::env::var_os(FAULT_ENV).is_some_and(|wanted| wanted == name) {
        std::process::abort();
    }
}
