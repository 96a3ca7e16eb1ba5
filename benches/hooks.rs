//! Hook benchmark: what tagpub's hooks cost git, measured in one run on one
//! machine.
//!
//! - `git tag -a` in a repository without hooks, with tagpub's hooks and no
//!   daemon, and with the hooks and a listener on the daemon socket (the
//!   nudge is sent): median of 50 each, interleaved; the added time in ms and
//!   as a ratio. Target: under 5 ms added.
//! - the pre-push gate (`tagpub hook pre-push`, as git runs it) for one
//!   release tag in a repository with 1 000 tags: median of 30. Target: under
//!   50 ms.
//!
//! Prints a table and rewrites the `hooks-bench` section of
//! `docs/benchmarks.md`. Run it with `scripts/bench.sh --hooks`. Without
//! `--bench` (as under `cargo test --all-targets`) it does nothing.

use std::io::{BufRead, Write as _};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, ensure};

mod support;
use support::{bench_main, fmt_duration, ratio, stats, tagpub_bin};

const SECTION: &str = "hooks-bench";
const TAG_RUNS: usize = 50;
const GATE_RUNS: usize = 30;
const GATE_TAGS: usize = 1000;

fn main() -> ExitCode {
    bench_main("hooks", run)
}

/// A git command with a fixed identity, no user config, and the bench's
/// tagpub dirs (for the hooks it runs).
fn git(dir: &Path, args: &[&str], state: &Path) -> Command {
    let mut command = support::git_command(dir, args);
    tagpub_fixtures::dirs::isolate(&mut command, state)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// A git command's trimmed stdout.
fn git_out(dir: &Path, args: &[&str], state: &Path) -> Result<String> {
    let mut command = git(dir, args, state);
    let output = command.stdout(Stdio::piped()).output()?;
    ensure!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8(output.stdout)?.trim().to_string())
}

fn run_ok(mut command: Command, what: &str) -> Result<Duration> {
    let started = Instant::now();
    let output = command
        .output()
        .with_context(|| format!("cannot run {what}"))?;
    let took = started.elapsed();
    ensure!(
        output.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(took)
}

/// The sample monorepo, committed and configured, in `dir`.
fn sample_repo(dir: &Path, state: &Path) -> Result<()> {
    tagpub::sample::write_monorepo(dir, "1.0.0")?;
    std::fs::write(
        dir.join("tagpub.toml"),
        "[defaults]\nrepository = \"local\"\n\n[[package]]\nname = \"open-ticket-ai\"\ntags = [\"v{version}\"]\n\n\
         [[package]]\nname = \"open-ticket-ai-hf-local\"\npath = \"src/open_ticket_ai_hf_local\"\ntags = [\"hf-local-v{version}\"]\n",
    )?;
    run_ok(
        git(dir, &["init", "--quiet", "--initial-branch=main"], state),
        "git init",
    )?;
    run_ok(git(dir, &["add", "--all"], state), "git add")?;
    run_ok(
        git(dir, &["commit", "--quiet", "-m", "sample"], state),
        "git commit",
    )?;
    Ok(())
}

fn run(write_docs: bool) -> Result<()> {
    let tagpub = tagpub_bin()?;
    let temp = tempfile::tempdir()?;
    let state = temp.path().join("state");
    let plain = temp.path().join("plain");
    let hooked = temp.path().join("hooked");
    let listened = temp.path().join("listened");
    let listened_state = temp.path().join("listened-state");
    for (dir, state) in [
        (&plain, &state),
        (&hooked, &state),
        (&listened, &listened_state),
    ] {
        sample_repo(dir, state)?;
    }
    for (dir, state) in [(&hooked, &state), (&listened, &listened_state)] {
        let mut install = Command::new(&tagpub);
        install
            .args(["hooks", "install"])
            .current_dir(dir)
            .env("TAGPUB_DATA_DIR", state.join("data"))
            .env("TAGPUB_RUNTIME_DIR", state.join("run"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        run_ok(install, "tagpub hooks install")?;
    }
    // A stand-in daemon: accepts and reads nudges, counting them.
    std::fs::create_dir_all(listened_state.join("run"))?;
    let listener = std::os::unix::net::UnixListener::bind(listened_state.join("run/tagpub.sock"))?;
    let nudges = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    {
        let nudges = nudges.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut line = String::new();
                if std::io::BufReader::new(stream).read_line(&mut line).is_ok()
                    && line.contains("nudge")
                {
                    nudges.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            }
        });
    }

    // Interleaved so machine noise spreads over all three.
    let mut times: [Vec<Duration>; 3] = Default::default();
    for i in 0..=TAG_RUNS {
        for (slot, (dir, state)) in [
            (&plain, &state),
            (&hooked, &state),
            (&listened, &listened_state),
        ]
        .into_iter()
        .enumerate()
        {
            let name = format!("bench-{i}");
            let took = run_ok(
                git(dir, &["tag", "-a", "-m", "bench", &name], state),
                "git tag -a",
            )?;
            if i > 0 {
                times[slot].push(took);
            }
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    let heard = nudges.load(std::sync::atomic::Ordering::SeqCst);
    ensure!(
        heard > TAG_RUNS,
        "the stand-in daemon heard {heard} nudges for {} tags",
        TAG_RUNS + 1
    );
    let [plain_t, hooked_t, listened_t] = times.map(|t| stats(&t));

    // The gate with 1 000 tags in the repository.
    let mut refs = String::new();
    let head = git_out(&plain, &["rev-parse", "HEAD"], &state)?;
    for i in 0..GATE_TAGS {
        refs.push_str(&format!("create refs/tags/old-{i} {}\n", head));
    }
    let mut update = git(&plain, &["update-ref", "--stdin"], &state);
    update.stdin(Stdio::piped());
    let mut child = update.spawn()?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(refs.as_bytes())?;
    ensure!(child.wait()?.success(), "git update-ref failed");
    run_ok(
        git(
            &plain,
            &["tag", "-a", "-m", "release", "hf-local-v1.0.0"],
            &state,
        ),
        "git tag",
    )?;
    let tag_sha = git_out(&plain, &["rev-parse", "refs/tags/hf-local-v1.0.0"], &state)?;
    let line = format!(
        "refs/tags/hf-local-v1.0.0 {} refs/tags/hf-local-v1.0.0 {}\n",
        tag_sha,
        "0".repeat(40)
    );
    let mut gate_times = Vec::new();
    for i in 0..=GATE_RUNS {
        let mut gate = Command::new(&tagpub);
        gate.args(["hook", "pre-push", "origin", "/dev/null"])
            .current_dir(&plain)
            .env("TAGPUB_DATA_DIR", state.join("data"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = gate.spawn()?;
        child
            .stdin
            .take()
            .context("stdin")?
            .write_all(line.as_bytes())?;
        let output = child.wait_with_output()?;
        let took = started.elapsed();
        let said = String::from_utf8_lossy(&output.stderr);
        // The gate must really have checked the tag, not passed it by.
        ensure!(
            output.status.success() && said.contains("✓ hf-local-v1.0.0"),
            "the gate did not pass the tag ({}): {said} for input {line}",
            output.status
        );
        if i > 0 {
            gate_times.push(took);
        }
    }
    let gate_t = stats(&gate_times);

    let added = hooked_t.median.saturating_sub(plain_t.median);
    let added_listened = listened_t.median.saturating_sub(plain_t.median);
    let git_version = String::from_utf8(Command::new("git").arg("--version").output()?.stdout)?;
    let cpu = support::cpu_model();
    let rows = [
        ("`git tag -a`, no hooks", plain_t),
        ("`git tag -a`, tagpub hooks, no daemon", hooked_t),
        (
            "`git tag -a`, tagpub hooks, daemon socket listening",
            listened_t,
        ),
    ];
    let mut md = String::new();
    md.push_str("## Hooks: what they add to git\n\n");
    md.push_str(&format!(
        "Reproduce with `scripts/bench.sh --hooks`. {TAG_RUNS} `git tag -a` per setup, interleaved, after one warm-up; the gate {GATE_RUNS} times for one release tag in a repository with {GATE_TAGS} other tags. Machine: {cpu}, {} cores; {}; tagpub release build.\n\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        git_version.trim()
    ));
    md.push_str("| what | median | min | vs no hooks |\n| --- | ---: | ---: | ---: |\n");
    for (name, s) in rows {
        md.push_str(&format!(
            "| {name} | {} | {} | {:.2}× |\n",
            fmt_duration(s.median),
            fmt_duration(s.min),
            ratio(s.median, plain_t.median)
        ));
    }
    md.push_str(&format!(
        "| pre-push gate, 1 release tag, {GATE_TAGS} tags in the repo | {} | {} | |\n\n",
        fmt_duration(gate_t.median),
        fmt_duration(gate_t.min)
    ));
    md.push_str(&format!(
        "Added to `git tag -a` (medians): **{}** without a daemon, **{}** with the nudge delivered (target: under 5 ms: {}). The pre-push gate: **{}** (target: under 50 ms: {}).\n",
        fmt_duration(added),
        fmt_duration(added_listened),
        if added_listened.max(added) < Duration::from_millis(5) { "met" } else { "not met" },
        fmt_duration(gate_t.median),
        if gate_t.median < Duration::from_millis(50) { "met" } else { "not met" },
    ));
    support::publish(SECTION, &md, write_docs)
}
