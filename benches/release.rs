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

use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, bail, ensure};

mod support;
use support::{Stats, fmt_duration, ratio, stats, write_section};
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

struct Options {
    iterations: usize,
    write_docs: bool,
}

fn parse_options(args: &[String]) -> Result<Options> {
    let mut options = Options {
        iterations: DEFAULT_ITERATIONS,
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
                options.iterations >= MIN_ITERATIONS,
                "--iterations must be at least {MIN_ITERATIONS}"
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

// ---------------------------------------------------------------- tools

/// Where the programs the bench runs live.
struct Tools {
    venv: PathBuf,
    /// The seed workflow's `pip install build twine`: python, build, twine
    /// (`TAGPUB_BENCH_SEED_VENV`, else the dev venv).
    seed_venv: PathBuf,
    tagpub: PathBuf,
    /// The dev venv's bin dir, then the inherited PATH (uv is found).
    path_venv: OsString,
    /// The inherited PATH without any dir that has a `uv` (python -m build).
    path_no_uv: OsString,
}

impl Tools {
    fn find() -> Result<Tools> {
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

    fn bin(&self, name: &str) -> PathBuf {
        self.venv.join("bin").join(name)
    }

    fn seed_bin(&self, name: &str) -> PathBuf {
        self.seed_venv.join("bin").join(name)
    }
}

/// A command without any token-like variable from the bench's environment.
fn clean_command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new(program);
    for (name, _) in std::env::vars_os() {
        if tagpub::credentials::is_secret_env_name(&name.to_string_lossy(), &[]) {
            command.env_remove(name);
        }
    }
    command.stdin(Stdio::null()).env("NO_COLOR", "1");
    command
}

/// Runs a command to completion, failing with its output if it fails.
fn run_checked(command: &mut Command, what: &str) -> Result<String> {
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

fn timed(command: &mut Command, what: &str) -> Result<Duration> {
    let started = Instant::now();
    run_checked(command, what)?;
    Ok(started.elapsed())
}

// ---------------------------------------------------------------- pypiserver

/// A compact copy of the test harness's `PypiServer`: htpasswd (apr1) with
/// user `__token__`, reads open, no fallback; killed on drop.
struct PypiServer {
    url: String,
    token: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl PypiServer {
    fn start(tools: &Tools) -> Result<PypiServer> {
        let dir = tempfile::tempdir()?;
        let packages = dir.path().join("packages");
        fs::create_dir_all(&packages)?;
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
        let token = format!("pypi-bench-{nanos:x}{:x}", std::process::id());

        // The password goes through stdin, not argv.
        let mut openssl = Command::new("openssl")
            .args(["passwd", "-apr1", "-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("cannot run openssl passwd")?;
        openssl
            .stdin
            .take()
            .context("openssl stdin")?
            .write_all(format!("{token}\n").as_bytes())?;
        let hash = openssl.wait_with_output()?;
        ensure!(hash.status.success(), "openssl passwd -apr1 failed");
        let htpasswd = dir.path().join("htpasswd");
        fs::write(
            &htpasswd,
            format!("__token__:{}\n", String::from_utf8(hash.stdout)?.trim()),
        )?;

        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let log = fs::File::create(dir.path().join("pypiserver.out"))?;
        let child = Command::new(tools.bin("pypi-server"))
            .arg("run")
            .args(["-i", "127.0.0.1", "-p", &port.to_string()])
            .arg("-P")
            .arg(&htpasswd)
            .args(["-a", "update", "--disable-fallback"])
            .arg(&packages)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("cannot start pypi-server")?;
        let mut server = PypiServer {
            url: format!("http://127.0.0.1:{port}/"),
            token,
            child,
            _dir: dir,
        };
        server.wait_ready(Duration::from_secs(15))?;
        Ok(server)
    }

    fn wait_ready(&mut self, limit: Duration) -> Result<()> {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()?;
        let simple = format!("{}simple/", self.url);
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("pypi-server exited ({status}) before answering");
            }
            if client
                .get(&simple)
                .send()
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(());
            }
            ensure!(
                started.elapsed() < limit,
                "pypi-server did not answer {simple} within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for PypiServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------- fixture

/// The sample monorepo, configured to publish to the bench's pypiserver.
struct Fixture {
    temp: tempfile::TempDir,
    root: PathBuf,
    state: PathBuf,
    version: String,
}

fn git(dir: &Path, args: &[&str]) -> Result<String> {
    run_checked(
        Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "Bench")
            .env("GIT_AUTHOR_EMAIL", "bench@example.invalid")
            .env("GIT_COMMITTER_NAME", "Bench")
            .env("GIT_COMMITTER_EMAIL", "bench@example.invalid"),
        &format!("git {}", args.join(" ")),
    )
}

impl Fixture {
    fn new(server: &PypiServer) -> Result<Fixture> {
        let temp = tempfile::tempdir()?;
        let root = temp.path().join("repo");
        let state = temp.path().join("state");
        fs::create_dir_all(&root)?;
        tagpub::sample::write_monorepo(&root, INITIAL_VERSION)?;
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
            version: INITIAL_VERSION.to_string(),
        })
    }

    /// Setup, not timed: bump the package to `version`, add it to the
    /// changelog, commit and create the annotated tag; returns the tag.
    fn bump(&mut self, version: &str) -> Result<String> {
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

    fn tagpub(&self, tools: &Tools, args: &[&str]) -> Command {
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
            clean_command(self.tools.seed_bin("twine"))
                .args([
                    "upload",
                    "--non-interactive",
                    "--disable-progress-bar",
                    "--repository-url",
                    &self.server.url,
                ])
                .args(&files)
                .env("PATH", &self.tools.path_venv)
                .env("TWINE_USERNAME", "__token__")
                .env("TWINE_PASSWORD", &self.server.token),
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

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or("").trim().to_string()
}

fn version_of(program: &Path, args: &[&str]) -> String {
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

fn machine_facts(tools: &Tools, files: &[PathBuf]) -> Vec<(&'static str, String)> {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string());
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
    // `python -m build --version` ends with "(path)": keep the version only.
    let build = version_of(&tools.seed_bin("python"), &["-m", "build", "--version"]);
    let build = build.split(" (").next().unwrap_or(&build).to_string();
    let twine = version_of(&tools.seed_bin("twine"), &["--version"]);
    let twine = twine.split(" (").next().unwrap_or(&twine).to_string();
    vec![
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
        ("build", build),
        ("twine", twine),
        (
            "pypiserver",
            version_of(&tools.bin("pypi-server"), &["--version"]),
        ),
        (
            "python",
            version_of(&tools.seed_bin("python"), &["--version"]),
        ),
        ("built wheel", wheel_facts(files)),
        ("git", version_of(Path::new("git"), &["--version"])),
    ]
}

// ---------------------------------------------------------------- main loop

fn run(args: &[String]) -> Result<()> {
    let options = parse_options(args)?;
    let tools = Tools::find()?;
    let server = PypiServer::start(&tools)?;
    let fixture = Fixture::new(&server)?;
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
    println!("{section}");
    if options.write_docs {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/benchmarks.md");
        write_section(&path, SECTION, &section)?;
        eprintln!("release bench: wrote {}", path.display());
    }
    Ok(())
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
