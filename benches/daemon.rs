//! Daemon benchmark, measured in one run on one machine:
//!
//! - tag → job latency: from just before `git tag -a` to the moment the
//!   daemon recorded the job (`seen_ms`), with the reference-transaction
//!   hook installed, and with the filesystem watch alone; p50 and p99.
//!   The grace period is long here so no build runs during the measurement:
//!   a job is recorded when its grace starts, and with `grace = "0s"` that
//!   is when its release starts.
//! - idle resident memory with 10 repositories watched, and how often the
//!   idle daemon wakes up (context switches over 10 s);
//! - a rescan (read every tag, diff with what is known) of a repository
//!   with 10 000 tags, with a config of 50 packages.
//!
//! Prints a table and rewrites the `daemon-bench` section of
//! `docs/benchmarks.md`. Run it with `scripts/bench.sh --daemon`. Without
//! `--bench` (as under `cargo test --all-targets`) it does nothing.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, ensure};

mod support;
use support::{bench_main, fmt_duration, tagpub_bin};

const SECTION: &str = "daemon-bench";
const HOOK_TAGS: usize = 50;
const WATCH_TAGS: usize = 30;
const IDLE_REPOS: usize = 10;
const RESCAN_TAGS: usize = 10_000;
const RESCAN_PACKAGES: usize = 50;

fn main() -> ExitCode {
    bench_main("daemon", run)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

struct Env {
    tagpub: PathBuf,
    state: PathBuf,
}

impl Env {
    fn tagpub(&self, dir: &Path, args: &[&str]) -> Command {
        let mut command = Command::new(&self.tagpub);
        tagpub_fixtures::dirs::isolate(&mut command, &self.state)
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null());
        command
    }

    /// git (the fixtures' fixed identity) whose hooks reach this daemon.
    fn git(&self, dir: &Path, args: &[&str]) -> Result<String> {
        let mut command = tagpub_fixtures::git::command(dir, args);
        tagpub_fixtures::dirs::isolate(&mut command, &self.state).stdin(Stdio::null());
        tagpub_fixtures::git::output(command).map_err(anyhow::Error::msg)
    }

    fn ok(&self, mut command: Command, what: &str) -> Result<String> {
        let output = command
            .output()
            .with_context(|| format!("cannot run {what}"))?;
        ensure!(
            output.status.success(),
            "{what}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(String::from_utf8(output.stdout)?)
    }

    /// A sample monorepo with a long grace period, committed.
    fn repo(&self, dir: &Path) -> Result<()> {
        tagpub::sample::write_monorepo(dir, "1.0.0")?;
        std::fs::write(
            dir.join("tagpub.toml"),
            "[defaults]\nrepository = \"local\"\ngrace = \"1h\"\n\n[[package]]\nname = \"open-ticket-ai\"\ntags = [\"v{version}\"]\n",
        )?;
        self.git(dir, &["init", "--quiet", "--initial-branch=main"])?;
        self.git(dir, &["add", "--all"])?;
        self.git(dir, &["commit", "--quiet", "-m", "sample"])?;
        Ok(())
    }

    fn seen_ms(&self, dir: &Path, tag: &str) -> Result<Option<u64>> {
        let status = self.ok(self.tagpub(dir, &["status", "--json"]), "tagpub status")?;
        let value: serde_json::Value = serde_json::from_str(&status)?;
        Ok(value["jobs"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|job| job["tag"] == tag)
            .and_then(|job| job["seen_ms"].as_u64()))
    }
}

/// Tag → job latencies for `count` tags, in ms.
fn latencies(env: &Env, repo: &Path, prefix: &str, count: usize) -> Result<Vec<f64>> {
    let mut samples = Vec::new();
    for i in 0..count {
        let tag = format!("v{prefix}.{i}");
        let started = now_ms();
        env.git(repo, &["tag", "-a", "-m", "bench", &tag])?;
        let deadline = Instant::now() + Duration::from_secs(10);
        let seen = loop {
            if let Some(seen) = env.seen_ms(repo, &tag)? {
                break seen;
            }
            ensure!(Instant::now() < deadline, "the daemon never recorded {tag}");
            std::thread::sleep(Duration::from_millis(5));
        };
        samples.push(seen.saturating_sub(started) as f64);
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    Ok(samples)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// Context switches per thread of a process.
fn switches(pid: u32) -> Result<BTreeMap<String, u64>> {
    let mut per_thread = BTreeMap::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))?.flatten() {
        let Ok(status) = std::fs::read_to_string(task.path().join("status")) else {
            continue;
        };
        let count: u64 = status
            .lines()
            .filter(|l| {
                l.starts_with("voluntary_ctxt_switches:")
                    || l.starts_with("nonvoluntary_ctxt_switches:")
            })
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum();
        per_thread.insert(task.file_name().to_string_lossy().into_owned(), count);
    }
    Ok(per_thread)
}

/// Switches between two snapshots; threads that came or went count from zero.
fn switches_between(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> u64 {
    after
        .iter()
        .map(|(tid, count)| count.saturating_sub(before.get(tid).copied().unwrap_or(0)))
        .sum()
}

fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .context("no VmRSS")
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
    }
}

fn run(write_docs: bool) -> Result<()> {
    let tagpub = tagpub_bin()?;
    let temp = tempfile::tempdir()?;
    let env = Env {
        tagpub,
        state: temp.path().join("state"),
    };
    let repos: Vec<PathBuf> = (0..IDLE_REPOS)
        .map(|i| temp.path().join(format!("repo-{i}")))
        .collect();
    for repo in &repos {
        env.repo(repo)?;
        env.ok(env.tagpub(repo, &["watch", "add"]), "tagpub watch add")?;
    }
    let main_repo = &repos[0];
    env.ok(
        env.tagpub(main_repo, &["hooks", "install"]),
        "tagpub hooks install",
    )?;
    let mut daemon_command = env.tagpub(temp.path(), &["daemon", "run"]);
    daemon_command
        .env("TAGPUB_RESCAN_INTERVAL", "1h")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let daemon = Daemon(daemon_command.spawn()?);
    let socket = env.state.join("run/tagpub.sock");
    let started = Instant::now();
    while !socket.exists() {
        ensure!(
            started.elapsed() < Duration::from_secs(10),
            "the daemon did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_secs(1));

    // Idle: memory and wakeups with 10 repositories watched.
    let pid = daemon.0.id();
    let rss = rss_kib(pid)?;
    let before = switches(pid)?;
    std::thread::sleep(Duration::from_secs(10));
    let wakeups_per_s = switches_between(&before, &switches(pid)?) as f64 / 10.0;

    let hook = latencies(&env, main_repo, "1", HOOK_TAGS)?;
    env.ok(
        env.tagpub(main_repo, &["hooks", "uninstall"]),
        "tagpub hooks uninstall",
    )?;
    let watch = latencies(&env, main_repo, "2", WATCH_TAGS)?;
    drop(daemon);

    // Rescan: 10 000 tags, 50 packages.
    let big = temp.path().join("big");
    env.repo(&big)?;
    let mut config = String::from("[defaults]\nrepository = \"local\"\n");
    for i in 0..RESCAN_PACKAGES {
        config.push_str(&format!(
            "\n[[package]]\nname = \"pkg-{i}\"\npath = \"p{i}\"\ntags = [\"pkg-{i}-v{{version}}\"]\n"
        ));
    }
    std::fs::write(big.join("tagpub.toml"), &config)?;
    let head = env.git(&big, &["rev-parse", "HEAD"])?;
    let mut refs = String::new();
    for i in 0..RESCAN_TAGS {
        refs.push_str(&format!(
            "create refs/tags/pkg-{}-v1.{}.0 {head}\n",
            i % RESCAN_PACKAGES,
            i
        ));
    }
    let mut update = Command::new("git");
    update
        .arg("-C")
        .arg(&big)
        .args(["update-ref", "--stdin"])
        .stdin(Stdio::piped());
    let mut child = update.spawn()?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(refs.as_bytes())?;
    ensure!(child.wait()?.success(), "git update-ref failed");
    env.git(&big, &["pack-refs", "--all"])?;
    let repo = tagpub::git::Repo::discover(&big)?;
    let known: BTreeMap<String, String> = repo.tag_targets()?.into_iter().collect();
    let mut rescans = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let config = tagpub::config::Config::discover(&big)?;
        let now = repo.tag_targets()?;
        let changes = tagpub::daemon::registry::diff(&known, &now);
        ensure!(
            changes.is_empty() && config.packages.len() == RESCAN_PACKAGES,
            "unexpected rescan result"
        );
        rescans.push(started.elapsed());
    }
    rescans.sort();
    let rescan = rescans[rescans.len() / 2];

    let cpu = support::cpu_model();
    let verdict = |ok: bool| if ok { "met" } else { "not met" };
    let mut md = String::from("## Daemon: latency, idle cost, rescan\n\n");
    md.push_str(&format!(
        "Reproduce with `scripts/bench.sh --daemon`. Machine: {cpu}, {} cores; tagpub release build. Latency is from just before `git tag -a` to the daemon's record of the job (`seen_ms`); the grace period starts there, so with `grace = \"0s\"` it is when the release starts.\n\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    ));
    md.push_str("| what | measured | target |\n| --- | ---: | --- |\n");
    md.push_str(&format!(
        "| tag → job, hook ({HOOK_TAGS} tags) | p50 {:.0} ms, p99 {:.0} ms | p50 < 20 ms, p99 < 100 ms: {} |\n",
        percentile(&hook, 0.5),
        percentile(&hook, 0.99),
        verdict(percentile(&hook, 0.5) < 20.0 && percentile(&hook, 0.99) < 100.0)
    ));
    md.push_str(&format!(
        "| tag → job, filesystem watch only ({WATCH_TAGS} tags) | p50 {:.0} ms, max {:.0} ms | < 500 ms: {} |\n",
        percentile(&watch, 0.5),
        watch.last().copied().unwrap_or(0.0),
        verdict(watch.last().copied().unwrap_or(f64::MAX) < 500.0)
    ));
    md.push_str(&format!(
        "| idle resident memory, {IDLE_REPOS} repos watched | {:.1} MiB | < 20 MB: {} |\n",
        rss as f64 / 1024.0,
        verdict((rss as f64) * 1024.0 < 20_000_000.0)
    ));
    md.push_str(&format!(
        "| idle wakeups (context switches) | {wakeups_per_s:.1} per second | |\n"
    ));
    md.push_str(&format!(
        "| rescan, {RESCAN_TAGS} tags (packed), {RESCAN_PACKAGES} packages: config + read tags + diff | {} (median of 20) | < 100 ms: {} |\n",
        fmt_duration(rescan),
        verdict(rescan < Duration::from_millis(100))
    ));
    support::publish(SECTION, &md, write_docs)
}
