//! Crash points for the tests that kill tagpub mid-release.
//!
//! `TAGPUB_FAULT=<name>` kills the process (SIGKILL: no destructors, no
//! flushing) at the point of that name; `TAGPUB_FAULT=hit:<n>` kills it at
//! the n-th point it crosses, whatever its name, which is how the crash test
//! picks random instants. Besides the named step boundaries of a release,
//! every durable write (`fsutil::commit`) is two points: before and after
//! its rename. `TAGPUB_FAULT_TRACE=<file>` appends the name of each point
//! crossed, so a test can tell where a kill landed.
//!
//! `TAGPUB_FAULT=panic:<name>` panics instead, the first time the process
//! crosses that point (only the first, so a test can show that a later job
//! of the same daemon still succeeds).
//!
//! Outside those tests the variables are unset and a point costs one env
//! lookup.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

static CROSSED: AtomicU64 = AtomicU64::new(0);
static PANICKED: AtomicBool = AtomicBool::new(false);

/// Kills the process if `TAGPUB_FAULT` names this point or its turn. The
/// name is only formatted when the variable is set.
pub fn point(name: impl std::fmt::Display) {
    let Some(wanted) = crate::env::FAULT.get_os() else {
        return;
    };
    let name = name.to_string();
    let crossed = CROSSED.fetch_add(1, Ordering::SeqCst) + 1;
    if let Some(trace) = crate::env::FAULT_TRACE.get_os() {
        trace_point(std::path::Path::new(&trace), crossed, &name);
    }
    let wanted = wanted.to_string_lossy();
    if let Some(point) = wanted.strip_prefix("panic:") {
        if point == name && !PANICKED.swap(true, Ordering::SeqCst) {
            panic!("fault injected at {name} (TAGPUB_FAULT=panic:{point})");
        }
        return;
    }
    let hit = match wanted.strip_prefix("hit:") {
        Some(n) => n.parse::<u64>().is_ok_and(|n| n == crossed),
        None => wanted == name,
    };
    if hit {
        die();
    }
}

fn trace_point(trace: &std::path::Path, crossed: u64, name: &str) {
    use std::io::Write;
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(trace)
    {
        let _ = writeln!(file, "{} {crossed} {name}", std::process::id());
    }
}

fn die() -> ! {
    #[cfg(unix)]
    // SAFETY: sending a signal to ourselves; SIGKILL cannot be caught.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
    std::process::abort()
}
