//! What every benchmark shares: statistics, formatting, and writing its own
//! section of `docs/benchmarks.md`.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, Result, ensure};

#[derive(Clone, Copy)]
pub struct Stats {
    pub median: Duration,
    pub min: Duration,
}

pub fn stats(samples: &[Duration]) -> Stats {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let mid = sorted.len() / 2;
    let median = if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2
    };
    Stats {
        median,
        min: sorted[0],
    }
}

pub fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

pub fn fmt_duration(d: Duration) -> String {
    if d < Duration::from_millis(10) {
        format!("{:.2} ms", d.as_secs_f64() * 1000.0)
    } else if d < Duration::from_secs(1) {
        format!("{:.0} ms", d.as_secs_f64() * 1000.0)
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

/// Replaces the section between `<!-- NAME:start -->` and `<!-- NAME:end -->`
/// of the docs file, appends it when the file has none, creates the file
/// when absent.
pub fn write_section(path: &Path, name: &str, section: &str) -> Result<()> {
    let start_marker = format!("<!-- {name}:start -->");
    let end_marker = format!("<!-- {name}:end -->");
    let block = format!("{start_marker}\n{}\n{end_marker}\n", section.trim_end());
    let existing = match fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => return Err(err).with_context(|| format!("cannot read {}", path.display())),
    };
    let text = match existing {
        None => format!(
            "# Benchmarks\n\nMeasurements of tagpub against the tools it replaces, each \
             section written by its benchmark (between its markers) and reproducible with \
             the command it names.\n\n{block}"
        ),
        Some(text) => match (text.find(&start_marker), text.find(&end_marker)) {
            (Some(start), Some(end)) if start < end => {
                let mut after = &text[end + end_marker.len()..];
                after = after.strip_prefix('\n').unwrap_or(after);
                format!("{}{block}{after}", &text[..start])
            }
            _ => format!("{}\n\n{block}", text.trim_end()),
        },
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// A benchmark binary's `main`: does nothing without `--bench` (as under
/// `cargo test --all-targets`), else runs, writing the docs unless
/// `--no-docs` is given.
pub fn bench_main(name: &str, run: impl FnOnce(bool) -> Result<()>) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        println!("{name} bench: run scripts/bench.sh --{name}");
        return ExitCode::SUCCESS;
    }
    match run(!args.iter().any(|a| a == "--no-docs")) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{name} bench failed: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The release build of tagpub that `scripts/bench.sh` names in `TAGPUB_BIN`.
pub fn tagpub_bin() -> Result<PathBuf> {
    let path = std::env::var_os("TAGPUB_BIN")
        .map(PathBuf::from)
        .context("set TAGPUB_BIN to a release build of tagpub (scripts/bench.sh does)")?;
    ensure!(path.is_file(), "{} does not exist", path.display());
    Ok(path)
}
