//! What every benchmark shares: statistics, formatting, and writing its own
//! section of `docs/benchmarks.md`; for the benchmarks that publish, the
//! tools they run, a pypiserver on 127.0.0.1 and the sample monorepo
//! configured for it, and the machine facts.

// Each bench is its own binary (`harness = false`, its own `main`) and uses
// part of this module; what is shared with the tests is in tagpub-fixtures.
#![allow(dead_code)]

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use tagpub::sample::{HF_LOCAL, HF_LOCAL_PATH};

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

/// Prints a bench's section and, unless `--no-docs`, writes it into
/// `docs/benchmarks.md` between its markers.
pub fn publish(name: &str, markdown: &str, write_docs: bool) -> Result<()> {
    println!("{markdown}");
    if write_docs {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/benchmarks.md");
        write_section(&docs, name, markdown)?;
        eprintln!("wrote the {name} section of {}", docs.display());
    }
    Ok(())
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

// ---------------------------------------------------------------- options

/// The options of the benchmarks that publish: `--iterations N`, `--no-docs`.
pub struct Options {
    pub iterations: usize,
    pub write_docs: bool,
}

impl Options {
    pub fn parse(args: &[String], default: usize, min: usize) -> Result<Options> {
        let mut options = Options {
            iterations: default,
            write_docs: true,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let iterations = if arg == "--iterations" {
                Some(args.next().context("--iterations needs a number")?.clone())
            } else {
                arg.strip_prefix("--iterations=").map(str::to_string)
            };
            if let Some(n) = iterations {
                options.iterations = n
                    .parse()
                    .with_context(|| format!("--iterations {n}: not a number"))?;
                ensure!(
                    options.iterations >= min,
                    "--iterations must be at least {min}"
                );
            } else if arg == "--no-docs" {
                options.write_docs = false;
            } else if arg == "--bench" || !arg.starts_with('-') {
                // cargo's own flag, or a name filter: nothing to filter here.
            } else {
                bail!("unknown option {arg} (known: --iterations N, --no-docs)");
            }
        }
        Ok(options)
    }

    /// From this process's arguments.
    pub fn from_args(default: usize, min: usize) -> Result<Options> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        Options::parse(&args, default, min)
    }
}

// ---------------------------------------------------------------- tools

/// Where the programs the bench runs live.
pub struct Tools {
    pub venv: PathBuf,
    /// The seed workflow's `pip install build twine`: python, build, twine
    /// (`TAGPUB_BENCH_SEED_VENV`, else the dev venv).
    pub seed_venv: PathBuf,
    pub tagpub: PathBuf,
    /// The dev venv's bin dir, then the inherited PATH (uv is found).
    pub path_venv: OsString,
    /// The inherited PATH without any dir that has a `uv` (python -m build).
    pub path_no_uv: OsString,
}

impl Tools {
    pub fn find() -> Result<Tools> {
        let venv = std::env::var_os("TAGPUB_DEV_VENV")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/tagpub-dev/venv"))
            })
            .context("neither TAGPUB_DEV_VENV nor HOME is set")?;
        for program in ["python", "pypi-server", "twine", "uv"] {
            let path = venv.join("bin").join(program);
            ensure!(
                path.is_file(),
                "{} is missing: run scripts/setup-venv.sh (or scripts/bench.sh)",
                path.display()
            );
        }
        let seed_venv = std::env::var_os("TAGPUB_BENCH_SEED_VENV")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| venv.clone());
        for program in ["python", "twine"] {
            let path = seed_venv.join("bin").join(program);
            ensure!(
                path.is_file(),
                "{} is missing: scripts/bench.sh creates the seed venv",
                path.display()
            );
        }
        let tagpub = match std::env::var_os("TAGPUB_BIN").filter(|v| !v.is_empty()) {
            Some(bin) => PathBuf::from(bin),
            None => std::env::var_os("CARGO_TARGET_DIR")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
                .join("release/tagpub"),
        };
        ensure!(
            tagpub.is_file(),
            "{} is missing: run `cargo build --release` or set TAGPUB_BIN (scripts/bench.sh does both)",
            tagpub.display()
        );

        let inherited: Vec<PathBuf> = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).collect())
            .unwrap_or_default();
        let mut with_venv = vec![venv.join("bin")];
        with_venv.extend(inherited.iter().cloned());
        let no_uv = inherited
            .iter()
            .filter(|dir| !dir.join("uv").exists() && *dir != &venv.join("bin"))
            .cloned();
        Ok(Tools {
            path_venv: std::env::join_paths(with_venv)?,
            path_no_uv: std::env::join_paths(no_uv)?,
            tagpub,
            venv,
            seed_venv,
        })
    }

    pub fn bin(&self, name: &str) -> PathBuf {
        self.venv.join("bin").join(name)
    }

    /// The seed workflow's `twine upload` of `files` to `server` (token in
    /// `TWINE_PASSWORD`, never argv).
    pub fn twine_upload(&self, server: &PypiServer, files: &[PathBuf]) -> Command {
        let mut command = clean_command(self.seed_bin("twine"));
        command
            .args([
                "upload",
                "--non-interactive",
                "--disable-progress-bar",
                "--repository-url",
                &server.url,
            ])
            .args(files)
            .env("PATH", &self.path_venv)
            .env("TWINE_USERNAME", "__token__")
            .env("TWINE_PASSWORD", &server.token);
        command
    }

    pub fn seed_bin(&self, name: &str) -> PathBuf {
        self.seed_venv.join("bin").join(name)
    }
}

/// A command without any token-like variable from the bench's environment.
pub fn clean_command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new(program);
    for (name, _) in std::env::vars_os() {
        if tagpub::secrets::is_secret_env_name(&name.to_string_lossy(), &[]) {
            command.env_remove(name);
        }
    }
    command.stdin(Stdio::null()).env("NO_COLOR", "1");
    command
}

/// Runs a command to completion, failing with its output if it fails.
pub fn run_checked(command: &mut Command, what: &str) -> Result<String> {
    let output = command
        .output()
        .with_context(|| format!("cannot start {what}"))?;
    ensure!(
        output.status.success(),
        "{what} failed ({}):\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

pub fn timed(command: &mut Command, what: &str) -> Result<Duration> {
    let started = Instant::now();
    run_checked(command, what)?;
    Ok(started.elapsed())
}

// ---------------------------------------------------------------- pypiserver

pub use tagpub_fixtures::PypiServer;

/// The test harness's pypiserver (tagpub-fixtures), listing its directory
/// on every request (no cache to go stale), so files removed behind its
/// back are gone from the next listing; requests are not logged.
pub fn start_server(tools: &Tools) -> Result<PypiServer> {
    PypiServer::start_in(
        &tools.venv,
        tagpub_fixtures::pypi::Options {
            simple_dir: true,
            log_requests: false,
            ..Default::default()
        },
    )
    .map_err(anyhow::Error::msg)
}

// ---------------------------------------------------------------- fixture

/// The sample monorepo, configured to publish to the bench's pypiserver.
pub struct Fixture {
    pub temp: tempfile::TempDir,
    pub root: PathBuf,
    pub state: PathBuf,
    pub version: String,
}

/// A git command in `dir` with the fixtures' fixed identity and no user or
/// system config.
pub fn git_command(dir: &Path, args: &[&str]) -> Command {
    tagpub_fixtures::git::command(dir, args)
}

pub fn git(dir: &Path, args: &[&str]) -> Result<String> {
    run_checked(
        &mut git_command(dir, args),
        &format!("git {}", args.join(" ")),
    )
}

impl Fixture {
    /// The sample monorepo at `initial_version`, committed, no tags.
    pub fn new(server: &PypiServer, initial_version: &str) -> Result<Fixture> {
        let temp = tempfile::tempdir()?;
        let root = temp.path().join("repo");
        let state = temp.path().join("state");
        fs::create_dir_all(&root)?;
        tagpub::sample::write_monorepo(&root, initial_version)?;
        fs::write(
            root.join("tagpub.toml"),
            format!(
                "[defaults]\nrepository = \"benchindex\"\n\n\
                 [[package]]\nname = \"open-ticket-ai\"\npath = \".\"\ntags = [\"v{{version}}\"]\n\n\
                 [[package]]\nname = \"{HF_LOCAL}\"\npath = \"{HF_LOCAL_PATH}\"\n\
                 tags = [\"hf-local-v{{version}}\"]\n\n\
                 [repository.benchindex]\nurl = \"{}\"\n",
                server.url
            ),
        )?;
        git(&root, &["init", "--quiet", "--initial-branch=main"])?;
        git(&root, &["add", "--all"])?;
        git(&root, &["commit", "--quiet", "-m", "initial"])?;
        Ok(Fixture {
            temp,
            root,
            state,
            version: initial_version.to_string(),
        })
    }

    /// Setup, not timed: bump the package to `version`, add it to the
    /// changelog, commit and create the annotated tag; returns the tag.
    pub fn bump(&mut self, version: &str) -> Result<String> {
        tagpub::sample::set_version(&self.root, HF_LOCAL_PATH, &self.version, version)?;
        let changelog = self.root.join("CHANGELOG.md");
        let text = fs::read_to_string(&changelog)?;
        let text = text.replacen(
            "# Changelog\n",
            &format!("# Changelog\n\n## {version}\n\n- Bench release.\n"),
            1,
        );
        fs::write(&changelog, text)?;
        self.version = version.to_string();
        let tag = format!("hf-local-v{version}");
        git(&self.root, &["commit", "--quiet", "-am", &tag])?;
        git(
            &self.root,
            &["tag", "-a", "-m", &format!("Release {tag}"), &tag],
        )?;
        Ok(tag)
    }

    pub fn tagpub(&self, tools: &Tools, args: &[&str]) -> Command {
        let mut command = clean_command(&tools.tagpub);
        command
            .args(args)
            .current_dir(&self.root)
            .env("TAGPUB_DATA_DIR", self.state.join("data"))
            .env("TAGPUB_CONFIG_DIR", self.state.join("config"))
            .env("TAGPUB_RUNTIME_DIR", self.state.join("run"))
            .env("GIT_CONFIG_GLOBAL", "/dev/null");
        command
    }
}

// ---------------------------------------------------------------- machine

pub fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or("").trim().to_string()
}

pub fn version_of(program: &Path, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| {
            let out = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            first_line(&String::from_utf8_lossy(&out))
        })
        .unwrap_or_else(|| "unknown".to_string())
}

/// The CPU's model name (Linux `/proc/cpuinfo`), or `unknown`.
pub fn cpu_model() -> String {
    fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string())
}

/// Where and with what a benchmark ran, for its section of the docs; the
/// bench's own facts (`extra`) come before git's version.
pub fn machine_facts(
    tools: &Tools,
    extra: Vec<(&'static str, String)>,
) -> Vec<(&'static str, String)> {
    let cpu = cpu_model();
    let nproc = Command::new("nproc")
        .output()
        .ok()
        .map(|o| first_line(&String::from_utf8_lossy(&o.stdout)))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.to_string())
                .unwrap_or_default()
        });
    let os = fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_else(|| std::env::consts::OS.to_string());
    let commit = git(
        Path::new(env!("CARGO_MANIFEST_DIR")),
        &["describe", "--always", "--dirty", "--abbrev=10"],
    )
    .unwrap_or_else(|_| "unknown".to_string());
    let twine = version_of(&tools.seed_bin("twine"), &["--version"]);
    let twine = twine.split(" (").next().unwrap_or(&twine).to_string();
    let mut facts = vec![
        (
            "date",
            version_of(Path::new("date"), &["-u", "+%Y-%m-%d %H:%M UTC"]),
        ),
        ("cpu", cpu),
        ("nproc", nproc),
        ("os", os),
        (
            "tagpub",
            format!(
                "{} (release build, commit {commit})",
                version_of(&tools.tagpub, &["--version"])
            ),
        ),
        ("uv", version_of(&tools.bin("uv"), &["--version"])),
        ("twine", twine),
        (
            "pypiserver",
            version_of(&tools.bin("pypi-server"), &["--version"]),
        ),
        (
            "python",
            version_of(&tools.seed_bin("python"), &["--version"]),
        ),
    ];
    facts.extend(extra);
    facts.push(("git", version_of(Path::new("git"), &["--version"])));
    facts
}
