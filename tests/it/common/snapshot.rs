//! Whole-output snapshots (`insta`) of what a user reads: a run's exit
//! code, stdout and stderr, with what differs between runs redacted (the
//! project's temp dir, the dev venv, loopback ports, commits, hashes, pids,
//! the random end of a redacted token, tool versions).
//! Snapshots live in `tests/it/snapshots/`; review changes with
//! `cargo insta review` (or `INSTA_UPDATE=always`, then `git diff`).

use super::project::{Project, Run};

/// `run` as the user saw it: exit code, then stdout and stderr whole.
pub fn transcript(run: &Run) -> String {
    format!(
        "exit: {}\n--- stdout ---\n{}--- stderr ---\n{}",
        run.code, run.stdout, run.stderr
    )
}

/// insta settings whose filters redact what differs between runs of
/// `project`: bind an assertion to them.
pub fn settings(project: &Project) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(true);
    let temp = project.temp.path();
    let mut temps = vec![temp.to_path_buf()];
    if let Ok(real) = temp.canonicalize() {
        temps.push(real);
    }
    for dir in temps {
        settings.add_filter(&regex::escape(&dir.display().to_string()), "[TEMP]");
    }
    settings.add_filter(
        &regex::escape(&super::venv().display().to_string()),
        "[VENV]",
    );
    for (pattern, replacement) in FILTERS {
        settings.add_filter(pattern, *replacement);
    }
    settings
}

/// Redactions that hold for every project (its temp dir and the dev venv
/// are added per project). Durations are not redacted: the outputs
/// snapshotted here print none that vary, and config defaults are asserted.
const FILTERS: &[(&str, &str)] = &[
    (r"127\.0\.0\.1:\d{1,5}", "127.0.0.1:[PORT]"),
    (r"\b[0-9a-f]{64}\b", "[SHA256]"),
    (r"\b[0-9a-f]{40}\b", "[COMMIT]"),
    // Abbreviated commits, and the build and checkout keys derived from them.
    (r"\b[0-9a-f]{10,16}\b", "[HASH]"),
    (r"\bpid \d+\b", "pid [PID]"),
    // A redacted token keeps its kind; its last characters are random here.
    (r"(pypi-[A-Za-z0-9]{3})…[A-Za-z0-9_=-]{3}\b", "$1…[END]"),
    // The tools of the machine the tests run on.
    (r"\bgit \d+\.\d+(\.\d+)*", "git [VERSION]"),
    (r"\bPython 3\.\d+\.\d+", "Python [VERSION]"),
    (r"\buv \d+\.\d+\.\d+( \([^)]*\))?", "uv [VERSION]"),
];
