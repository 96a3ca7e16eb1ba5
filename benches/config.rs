//! Config benchmark: loading a `tagpub.toml` of many packages, whose
//! pattern-overlap check used to compare every pair (150 000 packages took
//! over 2 minutes). Median of 5 loads at 1 000, 10 000 and 150 000 packages,
//! each package with two patterns of its own (`pkgN-v{version}`,
//! `release/pkgN/{version}`), plus one bare `{version}` package that every
//! other pattern's literals must be checked against. Target: 10 000 packages
//! under 1 s.
//!
//! Prints a table and rewrites the `config-bench` section of
//! `docs/benchmarks.md`. Run it with `scripts/bench.sh --config`. Without
//! `--bench` (as under `cargo test --all-targets`) it does nothing.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};

mod support;
use support::{bench_main, fmt_duration, stats};

const SECTION: &str = "config-bench";
const RUNS: usize = 5;

fn main() -> ExitCode {
    bench_main("config", run)
}

fn config_text(packages: usize) -> String {
    let mut text = String::from("[[package]]\nname = \"bare\"\ntags = [\"{version}\"]\n");
    for i in 0..packages {
        text.push_str(&format!(
            "[[package]]\nname = \"pkg{i}\"\npath = \"pkgs/pkg{i}\"\n\
             tags = [\"pkg{i}-v{{version}}\", \"release/pkg{i}/{{version}}\"]\n"
        ));
    }
    text
}

fn run(write_docs: bool) -> Result<()> {
    let mut rows = String::new();
    let mut ten_thousand = Duration::ZERO;
    for packages in [1_000, 10_000, 150_000] {
        let text = config_text(packages);
        let mut samples = Vec::new();
        for _ in 0..RUNS {
            let start = Instant::now();
            let config = tagpub::config::Config::parse(Path::new("tagpub.toml"), &text)?;
            samples.push(start.elapsed());
            ensure!(config.packages.len() == packages + 1, "all packages loaded");
        }
        let s = stats(&samples);
        if packages == 10_000 {
            ten_thousand = s.median;
        }
        rows.push_str(&format!(
            "| {packages} packages, {} patterns | {} | {} |\n",
            2 * packages + 1,
            fmt_duration(s.median),
            fmt_duration(s.min)
        ));
    }
    let verdict = if ten_thousand < Duration::from_secs(1) {
        "met"
    } else {
        "NOT met"
    };
    let markdown = format!(
        "## Config: loading many packages\n\n\
         Reproduce with `scripts/bench.sh --config`. Median of {RUNS} loads (`Config::parse`: \
         TOML, validation, the pattern-overlap check); every package has two patterns of its \
         own, plus one bare `{{version}}` package. Release build.\n\n\
         | config | median | min |\n| --- | ---: | ---: |\n{rows}\n\
         10 000 packages: **{}** (target: under 1 s: {verdict}).\n",
        fmt_duration(ten_thousand)
    );
    support::publish(SECTION, &markdown, write_docs)
}
