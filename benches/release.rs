//! Release benchmark: `tagpub release` against the seed workflow's steps run
//! locally, on the same machine, in the same run, publishing the sample
//! monorepo's `open-ticket-ai-hf-local` (hatchling) to one pypiserver on
//! 127.0.0.1.
//!
//! Contenders, each publishing a new version per iteration (round-robin,
//! after one untimed warm-up each):
//! - `tagpub release` with default tool detection, the dev venv first on
//!   PATH (so `uv build`);
//! - `tagpub release` with `python -m build` (`TAGPUB_PYTHON`, no uv on PATH);
//! - the seed workflow: `git archive` export, `python -m build`,
//!   `twine check`, `twine upload` (token in `TWINE_PASSWORD`, never argv).
//!
//! Plus `tagpub check` against `twine check` on the same two files.
//!
//! Prints a table and rewrites the `release-bench` section of
//! `docs/benchmarks.md`. Run it with `scripts/bench.sh [--iterations N]`.
//! Without `--bench` (as under `cargo test --all-targets`) it does nothing.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, ensure};

mod support;
use support::{
    Fixture, Options, PypiServer, Stats, Tools, clean_command, fmt_duration, ratio, stats, timed,
    version_of,
};
use tagpub::sample::{HF_LOCAL, HF_LOCAL_PATH};

const SECTION: &str = "release-bench";
const DEFAULT_ITERATIONS: usize = 7;
const MIN_ITERATIONS: usize = 5;
const INITIAL_VERSION: &str = "0.0.1";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes --bench; `cargo test --all-targets` does not.
    if !args.iter().any(|a| a == "--bench") {
        println!("release bench: run scripts/bench.sh");
        return ExitCode::SUCCESS;
    }
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("release bench failed: {err:#}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------- contenders

#[derive(Clone, Copy, PartialEq)]
enum Contender {
    TagpubUv,
    TagpubBuild,
    Seed,
}

const CONTENDERS: [Contender; 3] = [Contender::TagpubUv, Contender::TagpubBuild, Contender::Seed];
const SEED_STEPS: [&str; 4] = ["export", "build", "check", "upload"];

impl Contender {
    fn label(self) -> &'static str {
        match self {
            Contender::TagpubUv => "tagpub release (uv build)",
            Contender::TagpubBuild => "tagpub release (python -m build)",
            Contender::Seed => "seed workflow (python -m build + twine)",
        }
    }

    /// Each contender publishes its own version range.
    fn version(self, n: usize) -> String {
        let major = match self {
            Contender::TagpubUv => 1,
            Contender::TagpubBuild => 2,
            Contender::Seed => 3,
        };
        format!("{major}.0.{n}")
    }
}

/// One timed release: the total and, for the seed workflow, its steps.
struct Sample {
    total: Duration,
    steps: Vec<Duration>,
}

struct Bench<'a> {
    tools: &'a Tools,
    server: &'a PypiServer,
    fixture: Fixture,
    /// The seed workflow's last built files, for the check comparison.
    last_seed_files: Vec<PathBuf>,
}

impl Bench<'_> {
    fn release(&mut self, contender: Contender, n: usize) -> Result<Sample> {
        let version = contender.version(n);
        let tag = self.fixture.bump(&version)?;
        match contender {
            Contender::TagpubUv | Contender::TagpubBuild => {
                let mut command = self.fixture.tagpub(self.tools, &["release", &tag]);
                command.env("PYPI_API_TOKEN", &self.server.token);
                if contender == Contender::TagpubUv {
                    command
                        .env("PATH", &self.tools.path_venv)
                        .env_remove("TAGPUB_PYTHON");
                } else {
                    command
                        .env("PATH", &self.tools.path_no_uv)
                        .env("TAGPUB_PYTHON", self.tools.seed_bin("python"));
                }
                let total = timed(&mut command, &format!("tagpub release {tag}"))?;
                Ok(Sample {
                    total,
                    steps: Vec::new(),
                })
            }
            Contender::Seed => self.seed(&tag),
        }
    }

    /// The seed workflow's steps: checkout (a `git archive` export of the
    /// tag), `python -m build`, `twine check`, `twine upload`.
    fn seed(&mut self, tag: &str) -> Result<Sample> {
        let work = self.fixture.temp.path().join(format!("seed-{tag}"));
        let checkout = work.join("checkout");
        let dist = work.join("dist");
        fs::create_dir_all(&checkout)?;
        let started = Instant::now();

        let mut archive = Command::new("git")
            .arg("-C")
            .arg(&self.fixture.root)
            .args(["archive", "--format=tar", tag])
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .stdout(Stdio::piped())
            .spawn()
            .context("cannot run git archive")?;
        let tar = Command::new("tar")
            .arg("-x")
            .arg("-C")
            .arg(&checkout)
            .stdin(archive.stdout.take().context("git archive stdout")?)
            .status()
            .context("cannot run tar")?;
        ensure!(
            archive.wait()?.success() && tar.success(),
            "exporting {tag} failed"
        );
        let export = started.elapsed();

        let build = timed(
            clean_command(self.tools.seed_bin("python"))
                .args(["-m", "build", "--outdir"])
                .arg(&dist)
                .arg(HF_LOCAL_PATH)
                .current_dir(&checkout)
                .env("PATH", &self.tools.path_venv),
            "python -m build",
        )?;

        let mut files: Vec<PathBuf> = fs::read_dir(&dist)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        files.sort();
        ensure!(files.len() == 2, "expected sdist + wheel in {dist:?}");

        let check = timed(
            clean_command(self.tools.seed_bin("twine"))
                .arg("check")
                .args(&files)
                .env("PATH", &self.tools.path_venv),
            "twine check",
        )?;
        let upload = timed(
            &mut self.tools.twine_upload(self.server, &files),
            "twine upload",
        )?;
        let total = started.elapsed();
        self.last_seed_files = files;
        Ok(Sample {
            total,
            steps: vec![export, build, check, upload],
        })
    }
}

// ---------------------------------------------------------------- machine

/// The build backend and metadata version of the built wheel, from its
/// `WHEEL` and `METADATA` files.
fn wheel_facts(files: &[PathBuf]) -> String {
    let read = |wheel: &Path| -> Result<String> {
        let mut archive = zip::ZipArchive::new(fs::File::open(wheel)?)?;
        let mut facts = Vec::new();
        for (file, key) in [("WHEEL", "Generator: "), ("METADATA", "Metadata-Version: ")] {
            let name = archive
                .file_names()
                .find(|n| n.ends_with(&format!(".dist-info/{file}")))
                .map(str::to_string)
                .with_context(|| format!("no {file} in the wheel"))?;
            let mut text = String::new();
            std::io::Read::read_to_string(&mut archive.by_name(&name)?, &mut text)?;
            if let Some(line) = text.lines().find(|l| l.starts_with(key)) {
                facts.push(line.trim().to_string());
            }
        }
        Ok(facts.join(", "))
    };
    files
        .iter()
        .find(|f| f.extension().is_some_and(|e| e == "whl"))
        .and_then(|wheel| read(wheel).ok())
        .unwrap_or_else(|| "unknown".to_string())
}

/// The shared facts plus the seed's build frontend and the built wheel.
fn machine_facts(tools: &Tools, files: &[PathBuf]) -> Vec<(&'static str, String)> {
    // `python -m build --version` ends with "(path)": keep the version only.
    let build = version_of(&tools.seed_bin("python"), &["-m", "build", "--version"]);
    let build = build.split(" (").next().unwrap_or(&build).to_string();
    support::machine_facts(
        tools,
        vec![("build", build), ("built wheel", wheel_facts(files))],
    )
}

// ---------------------------------------------------------------- main loop

fn run(args: &[String]) -> Result<()> {
    let options = Options::parse(args, DEFAULT_ITERATIONS, MIN_ITERATIONS)?;
    let tools = Tools::find()?;
    let server = support::start_server(&tools)?;
    let fixture = Fixture::new(&server, INITIAL_VERSION)?;
    eprintln!(
        "release bench: {} iterations per contender, index {}, fixture {}",
        options.iterations,
        server.url,
        fixture.root.display()
    );
    let mut bench = Bench {
        tools: &tools,
        server: &server,
        fixture,
        last_seed_files: Vec::new(),
    };

    // Warm-up (untimed): uv's and pip's caches, the page cache.
    for contender in CONTENDERS {
        eprintln!("  warm-up: {}", contender.label());
        bench.release(contender, 0)?;
    }
    let mut totals: Vec<Vec<Duration>> = vec![Vec::new(); CONTENDERS.len()];
    let mut seed_steps: Vec<Vec<Duration>> = vec![Vec::new(); SEED_STEPS.len()];
    for n in 1..=options.iterations {
        for (i, contender) in CONTENDERS.iter().enumerate() {
            let sample = bench.release(*contender, n)?;
            eprintln!(
                "  {n}/{}: {:<40} {}",
                options.iterations,
                contender.label(),
                fmt_duration(sample.total)
            );
            totals[i].push(sample.total);
            for (step, time) in sample.steps.iter().enumerate() {
                seed_steps[step].push(*time);
            }
        }
    }

    // The check step alone, on the seed workflow's last two files.
    let files = bench.last_seed_files.clone();
    let check_runs = options.iterations.max(MIN_ITERATIONS);
    let mut tagpub_check = bench.fixture.tagpub(&tools, &["check"]);
    tagpub_check.args(&files).env("PATH", &tools.path_venv);
    let mut twine_check = clean_command(tools.seed_bin("twine"));
    twine_check
        .arg("check")
        .args(&files)
        .env("PATH", &tools.path_venv);
    timed(&mut tagpub_check, "tagpub check")?;
    timed(&mut twine_check, "twine check")?;
    let mut checks = [Vec::new(), Vec::new()];
    for _ in 0..check_runs {
        checks[0].push(timed(&mut tagpub_check, "tagpub check")?);
        checks[1].push(timed(&mut twine_check, "twine check")?);
    }

    let report = Report {
        iterations: options.iterations,
        check_runs,
        files: files
            .iter()
            .map(|f| {
                f.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect(),
        totals: totals.iter().map(|t| stats(t)).collect(),
        seed_steps: seed_steps.iter().map(|t| stats(t)).collect(),
        checks: [stats(&checks[0]), stats(&checks[1])],
        facts: machine_facts(&tools, &files),
    };
    let section = report.markdown();
    support::publish(SECTION, &section, options.write_docs)
}

// ---------------------------------------------------------------- report

struct Report {
    iterations: usize,
    check_runs: usize,
    files: Vec<String>,
    /// In `CONTENDERS` order.
    totals: Vec<Stats>,
    /// In `SEED_STEPS` order.
    seed_steps: Vec<Stats>,
    /// tagpub check, twine check.
    checks: [Stats; 2],
    facts: Vec<(&'static str, String)>,
}

impl Report {
    fn markdown(&self) -> String {
        let seed = self.totals[2];
        let mut md = String::new();
        let _ = writeln!(md, "## Release: `tagpub release` vs the seed workflow\n");
        let _ = writeln!(
            md,
            "Wall time to publish the sample monorepo's `{HF_LOCAL}` (hatchling) from an \
             annotated tag to a pypiserver on 127.0.0.1, one new version per run, on the same \
             machine in the same run. Reproduce with `scripts/bench.sh` \
             (`--iterations N`, default {DEFAULT_ITERATIONS}); the numbers below are from its last run.\n"
        );
        let _ = writeln!(md, "Contenders (round-robin, one untimed warm-up each):\n");
        let _ = writeln!(
            md,
            "- **tagpub release (uv build)**: `tagpub release hf-local-v1.0.N`, token in \
             `PYPI_API_TOKEN`, the dev venv first on PATH so `uv build` is used. Covers resolve + \
             plan checks, export of the tagged commit, build, native check, upload, and verify \
             (reading the index back)."
        );
        let _ = writeln!(
            md,
            "- **tagpub release (python -m build)**: the same, with `TAGPUB_PYTHON` set to the \
             seed venv's Python and no `uv` on PATH, i.e. the seed workflow's build frontend: \
             shows how much of the difference is the build frontend."
        );
        let _ = writeln!(
            md,
            "- **seed workflow**: the seed CI's steps run locally: `git archive` export of the tag \
             (its checkout), `python -m build --outdir DIR {HF_LOCAL_PATH}`, `twine check DIR/*`, \
             `twine upload --repository-url URL DIR/*` (token in `TWINE_PASSWORD`), with \
             `build` and `twine` from a venv made like the seed's `pip install build twine` \
             (latest versions; `scripts/bench.sh` creates it once). It does not verify the \
             upload. (The dev venv's `twine==6.*` cannot be used: twine 6.2 rejects the \
             `Metadata-Version: 2.5` that current hatchling writes.)\n"
        );
        let _ = writeln!(
            md,
            "Both build frontends build in an isolated environment and install `hatchling` into \
             it (uv from its cache; pip from its wheel cache, still asking pypi.org for the index \
             page), so the builds need the network. Git setup (bump, commit, tag) is not timed.\n"
        );
        let _ = writeln!(md, "Machine and tools:\n");
        for (key, value) in &self.facts {
            let _ = writeln!(md, "- {key}: {value}");
        }
        let _ = writeln!(md, "\n{} timed releases per contender:\n", self.iterations);
        let _ = writeln!(
            md,
            "| contender | median | min | median / seed | min / seed |"
        );
        let _ = writeln!(md, "| --- | ---: | ---: | ---: | ---: |");
        for (contender, s) in CONTENDERS.iter().zip(&self.totals) {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {:.2} | {:.2} |",
                contender.label(),
                fmt_duration(s.median),
                fmt_duration(s.min),
                ratio(s.median, seed.median),
                ratio(s.min, seed.min)
            );
        }
        let uv = ratio(self.totals[0].median, seed.median);
        let build = ratio(self.totals[1].median, seed.median);
        let verdict = if uv <= 0.5 { "met" } else { "not met" };
        let _ = writeln!(
            md,
            "\nRatios of medians: **tagpub (uv) / seed workflow = {uv:.2}** (target ≤ 0.50: \
             {verdict}); tagpub (python -m build) / seed workflow = {build:.2}.\n"
        );
        let _ = writeln!(md, "The seed workflow's steps (median, min):\n");
        let _ = writeln!(md, "| step | median | min |");
        let _ = writeln!(md, "| --- | ---: | ---: |");
        for (step, s) in SEED_STEPS.iter().zip(&self.seed_steps) {
            let _ = writeln!(
                md,
                "| {step} | {} | {} |",
                fmt_duration(s.median),
                fmt_duration(s.min)
            );
        }
        let [tagpub, twine] = self.checks;
        let _ = writeln!(
            md,
            "\nThe check step alone, {} runs each (after one warm-up) on the same two files \
             ({}):\n",
            self.check_runs,
            self.files.join(", ")
        );
        let _ = writeln!(md, "| command | median | min |");
        let _ = writeln!(md, "| --- | ---: | ---: |");
        let _ = writeln!(
            md,
            "| `tagpub check FILES` | {} | {} |",
            fmt_duration(tagpub.median),
            fmt_duration(tagpub.min)
        );
        let _ = writeln!(
            md,
            "| `twine check FILES` | {} | {} |",
            fmt_duration(twine.median),
            fmt_duration(twine.min)
        );
        let _ = writeln!(
            md,
            "\ntagpub check / twine check = {:.2} (medians).\n",
            ratio(tagpub.median, twine.median)
        );
        let _ = writeln!(
            md,
            "The upload step is not timed alone for tagpub: it has no upload-only command \
             (the seed's `twine upload` time is in the steps table)."
        );
        md
    }
}
