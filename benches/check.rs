//! Check benchmark: `tagpub check --strict` against `twine check --strict`
//! on the whole corpus (tests/corpus/files.txt, fetched into
//! `$TAGPUB_DEV_CACHE/corpus` by `scripts/fetch-corpus.sh`), in one run on
//! one machine.
//!
//! Contenders, interleaved round-robin after one untimed warm-up each:
//! - `tagpub check --strict FILES` (RST auto: one `readme_renderer` process
//!   for every reStructuredText description);
//! - `tagpub check --strict FILES` with `TAGPUB_RST=native`;
//! - twine: `twine check --strict` stops at the first file whose metadata it
//!   refuses, so it runs as tests/corpus/twine_verdicts.py: twine's own
//!   check per file, all files in one Python process (one start-up, the
//!   cheapest way to get twine's verdict on every file).
//!
//! Also the verdict agreement per file (tagpub auto vs twine). Prints a
//! table and rewrites the `check-bench` section of `docs/benchmarks.md`.
//! Run it with `scripts/bench.sh --check [--iterations N]`. Without
//! `--bench` (as under `cargo test --all-targets`) it does nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Output};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, ensure};

mod support;
use support::{bench_main, fmt_duration, ratio, stats, tagpub_bin};

const SECTION: &str = "check-bench";
const DEFAULT_ITERATIONS: usize = 7;

fn main() -> ExitCode {
    bench_main("check", run)
}

fn iterations() -> Result<usize> {
    let args: Vec<String> = std::env::args().collect();
    let mut n = DEFAULT_ITERATIONS;
    for (i, arg) in args.iter().enumerate() {
        let value = if arg == "--iterations" {
            args.get(i + 1).cloned()
        } else {
            arg.strip_prefix("--iterations=").map(str::to_string)
        };
        if let Some(value) = value {
            n = value
                .parse()
                .with_context(|| format!("--iterations {value}: not a number"))?;
        }
    }
    ensure!(n >= 3, "--iterations must be at least 3");
    Ok(n)
}

fn dev_cache() -> Result<PathBuf> {
    std::env::var_os("TAGPUB_DEV_CACHE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/tagpub-dev")))
        .context("neither TAGPUB_DEV_CACHE nor HOME is set")
}

fn corpus(cache: &Path) -> Result<Vec<PathBuf>> {
    let list = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/files.txt");
    let mut files = Vec::new();
    for line in std::fs::read_to_string(&list)?.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let url = line.split_once(' ').context("`sha256 url` lines")?.1;
        let path = cache
            .join("corpus")
            .join(url.rsplit('/').next().unwrap_or(url));
        ensure!(
            path.is_file(),
            "{} is missing: run scripts/fetch-corpus.sh",
            path.display()
        );
        files.push(path);
    }
    Ok(files)
}

fn timed(mut command: Command, what: &str) -> Result<(Duration, Output)> {
    let started = Instant::now();
    let output = command
        .output()
        .with_context(|| format!("cannot run {what}"))?;
    let took = started.elapsed();
    // tagpub exits 1 when a file fails, which the corpus has on purpose.
    ensure!(
        matches!(output.status.code(), Some(0 | 1)),
        "{what} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok((took, output))
}

fn version_of(program: &Path, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| {
            let text = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        })
        .unwrap_or_else(|| "unknown".into())
}

fn run(write_docs: bool) -> Result<()> {
    let iterations = iterations()?;
    let cache = dev_cache()?;
    let venv = std::env::var_os("TAGPUB_DEV_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache.join("venv"));
    let python = venv.join("bin/python");
    ensure!(
        python.is_file(),
        "{} is missing: run scripts/setup-venv.sh",
        python.display()
    );
    let tagpub = tagpub_bin()?;
    let files = corpus(&cache)?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/twine_verdicts.py");

    let tagpub_cmd = |engine: &str| {
        let mut command = Command::new(&tagpub);
        command
            .args(["check", "--strict", "--json"])
            .args(&files)
            .env("TAGPUB_RST", engine)
            .env("TAGPUB_PYTHON", &python);
        command
    };
    let twine_cmd = || {
        let mut command = Command::new(&python);
        command.arg(&script).args(&files);
        command
    };
    let names = [
        "`tagpub check --strict` (RST: readme_renderer, one process)",
        "`tagpub check --strict` (RST: native)",
        "`twine check --strict` (all files, one Python process)",
    ];
    let run_one = |which: usize| -> Result<(Duration, Output)> {
        match which {
            0 => timed(tagpub_cmd("auto"), names[0]),
            1 => timed(tagpub_cmd("native"), names[1]),
            _ => timed(twine_cmd(), names[2]),
        }
    };
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); names.len()];
    let mut last: Vec<Option<Output>> = vec![None, None, None];
    for which in 0..names.len() {
        run_one(which)?; // warm-up
    }
    for round in 0..iterations {
        for which in 0..names.len() {
            let (took, output) = run_one(which)?;
            eprintln!("round {round}: {} {}", names[which], fmt_duration(took));
            samples[which].push(took);
            last[which] = Some(output);
        }
    }
    let stat: Vec<_> = samples.iter().map(|s| stats(s)).collect();

    // Verdicts: each tagpub run vs twine, per file.
    let twine_json: serde_json::Value =
        serde_json::from_slice(&last[2].as_ref().context("no twine run")?.stdout)?;
    let verdicts = |which: usize| -> Result<(serde_json::Value, BTreeMap<String, bool>)> {
        let json: serde_json::Value =
            serde_json::from_slice(&last[which].as_ref().context("no tagpub run")?.stdout)?;
        let mut ok = BTreeMap::new();
        for report in json["files"].as_array().context("no files")? {
            let file = report["file"].as_str().unwrap_or_default().to_string();
            ok.insert(
                file,
                report["errors"].as_array().is_some_and(|e| e.is_empty()),
            );
        }
        Ok((json["rst_engine"].clone(), ok))
    };
    // Files tagpub refuses by a PyPI rule twine does not check (`--strict`
    // column), from tests/corpus/stricter.txt: (file, rule).
    let stricter: Vec<(String, String)> = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/stricter.txt"),
    )?
    .lines()
    .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
    .filter_map(|line| {
        let fields: Vec<&str> = line.split('\t').collect();
        (fields.len() == 3 && fields[1].split(',').any(|m| m == "strict"))
            .then(|| (fields[0].to_string(), fields[2].to_string()))
    })
    .collect();
    // (documented stricter differences, unexplained differences)
    let disagreements = |ok: &BTreeMap<String, bool>| -> Result<(Vec<String>, Vec<String>)> {
        let (mut documented, mut differ) = (Vec::new(), Vec::new());
        for (file, ok) in ok {
            let twine_ok = twine_json[file]["ok"].as_bool().context("twine verdict")?;
            if twine_ok == *ok {
                continue;
            }
            match stricter.iter().find(|(f, _)| f == file) {
                Some((_, rule)) if twine_ok => documented.push(format!("{file} ({rule})")),
                _ => differ.push(format!("{file}: twine ok={twine_ok}, tagpub ok={ok}")),
            }
        }
        Ok((documented, differ))
    };
    let (engine, tagpub_ok) = verdicts(0)?;
    let (native_engine, native_ok) = verdicts(1)?;
    let (documented, differ) = disagreements(&tagpub_ok)?;
    let (native_documented, native_differ) = disagreements(&native_ok)?;
    let agree = files.len() - differ.len() - documented.len();
    let native_agree = files.len() - native_differ.len() - native_documented.len();
    let passing = tagpub_ok.values().filter(|ok| **ok).count();

    let cpu = support::cpu_model();
    // `twine --version` lists its dependencies after the version.
    let twine_version = version_of(&venv.join("bin/twine"), &["--version"])
        .split(" (")
        .next()
        .unwrap_or_default()
        .to_string();
    let rr_version = version_of(
        &python,
        &[
            "-c",
            "import importlib.metadata as m; print(m.version('readme_renderer'))",
        ],
    );
    let bytes: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let twine_median = stat[2].median;

    let mut md = String::new();
    md.push_str("## Check: `tagpub check` vs `twine check --strict`\n\n");
    md.push_str(&format!(
        "Reproduce with `scripts/bench.sh --check` (`--iterations N`, default {DEFAULT_ITERATIONS}). \
         The corpus: {} real files from PyPI ({:.1} MiB; tests/corpus/files.txt, fetched by \
         `scripts/fetch-corpus.sh`), all checked by each command in one run; {iterations} runs per \
         contender, interleaved, after one warm-up. Machine: {cpu}, {} cores; tagpub release build; \
         {twine_version}; readme_renderer {rr_version}.\n\n",
        files.len(),
        bytes as f64 / (1024.0 * 1024.0),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    ));
    md.push_str(
        "twine stops at the first file whose metadata it refuses, so its contender is \
         tests/corpus/twine_verdicts.py: twine's own check, file by file, in one Python \
         process (one start-up for the whole corpus, the cheapest way to get twine's \
         verdict on every file). tagpub verifies every RECORD hash of every wheel besides.\n\n",
    );
    md.push_str(
        "| contender | median | min | twine / this (medians) |\n| --- | ---: | ---: | ---: |\n",
    );
    for (name, s) in names.iter().zip(&stat) {
        md.push_str(&format!(
            "| {name} | {} | {} | {:.1}× |\n",
            fmt_duration(s.median),
            fmt_duration(s.min),
            ratio(twine_median, s.median)
        ));
    }
    let native_speedup = ratio(twine_median, stat[1].median);
    let rr_speedup = ratio(twine_median, stat[0].median);
    let met = |x: f64| if x >= 10.0 { "met" } else { "not met" };
    md.push_str(&format!(
        "\nWith its native RST validator **tagpub check is {native_speedup:.1}× faster than \
         twine check --strict** (medians; target ≥ 10×: {}). With readme_renderer it is \
         {rr_speedup:.1}× ({}): almost all of that run is docutils rendering the corpus's \
         reStructuredText descriptions in Python (each distinct text once), the same work \
         twine does, so the Python side bounds it; the rest of the check (archives, RECORD \
         hashes, metadata rules) is the native run's time.\n\n",
        met(native_speedup),
        met(rr_speedup),
    ));
    let differences = |differ: &[String]| {
        if differ.is_empty() {
            String::new()
        } else {
            format!(" Unexplained differences: {}.", differ.join("; "))
        }
    };
    let n = files.len();
    md.push_str(&format!(
        "Verdicts against twine: with RST by {}, **{agree} of {n} files get twine's verdict** \
         ({passing} pass, {} fail) and **{} more are refused by a PyPI rule twine does not \
         check** (the documented differences of tests/corpus/stricter.txt), so **{:.0} % \
         agree except documented stricter rules**{}; with RST by the {} validator: {native_agree} \
         + {} documented ({:.0} %){}.\n\n",
        engine["engine"].as_str().unwrap_or("none"),
        n - passing,
        documented.len(),
        100.0 * (agree + documented.len()) as f64 / n as f64,
        differences(&differ),
        native_engine["engine"].as_str().unwrap_or("none"),
        native_documented.len(),
        100.0 * (native_agree + native_documented.len()) as f64 / n as f64,
        differences(&native_differ),
    ));
    if !documented.is_empty() {
        md.push_str(&format!(
            "Stricter than twine: {}.\n",
            documented.join("; ")
        ));
    }
    support::publish(SECTION, &md, write_docs)
}
