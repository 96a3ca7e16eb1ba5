//! Checkout benchmark (issue 13, item 2): what preparing a build's sources
//! costs on a repository of about 20 MB per commit (2 000 files of 10 KB
//! that do not compress, plus one small package), against the build of that
//! package. Contenders, each into a fresh empty directory, median of RUNS:
//!
//! - what builds use (`Repo::checkout` with a cache dir): a slot of the
//!   checkout cache moved from the previous release's commit to this one
//!   (`checkout -f` + `clean -ffdx`, refs synced, reset verified), the same
//!   slot again at the same commit (a release group's next member), and a
//!   new slot (the first build of a repository: a clone and a full checkout);
//! - a fresh checkout per build (`Repo::export`: a `git clone --shared
//!   --no-checkout` and a detached checkout of the commit; what builds did
//!   before the cache, and what they do when every slot is held);
//! - the same as a cone-mode sparse checkout of the package's directory
//!   (`Repo::export_sparse`; builds do not use it: a build that reads a file
//!   outside would fail where a CI checkout works);
//! - the tree-only export builds used before (`Repo::export_tree`), with
//!   libgit2 and with the git CLI backend;
//! - `git archive | tar -x`.
//!
//! The build is `uv build --sdist --wheel` of the small package in a
//! checkout, after one warm-up (uv's cache holds hatchling). Target: the
//! checkout costs at most 10 % of the build.
//!
//! Prints a table and rewrites the `checkout-bench` section of
//! `docs/benchmarks.md`. Run it with `scripts/bench.sh --checkout`. Without
//! `--bench` (as under `cargo test --all-targets`) it does nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, ensure};
use tagpub::git::Repo;

mod support;
use support::{Tools, bench_main, fmt_duration, run_checked, stats};

const SECTION: &str = "checkout-bench";
const RUNS: usize = 7;
const FILES: usize = 2_000;
const FILE_SIZE: usize = 10 * 1024;

fn main() -> ExitCode {
    bench_main("checkout", run)
}

fn git(dir: &Path, args: &[&str]) -> Result<String> {
    run_checked(
        &mut support::git_command(dir, args),
        &format!("git {}", args.join(" ")),
    )
}

/// The repository: `data/` of FILES incompressible files (hex of a
/// xorshift stream, 10 KB each, in 20 directories) and `pkgs/small`, a
/// hatchling package; committed and tagged `small-v0.9.0`, then changed a
/// little and tagged `small-v1.0.0`.
fn generate(root: &Path) -> Result<(String, String)> {
    std::fs::create_dir_all(root)?;
    git(root, &["init", "--quiet", "--initial-branch=main"])?;
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..FILES {
        let dir = root.join(format!("data/d{:02}", i % 20));
        std::fs::create_dir_all(&dir)?;
        let mut text = String::with_capacity(FILE_SIZE);
        while text.len() < FILE_SIZE {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            text.push_str(&format!("{state:016x}"));
        }
        std::fs::write(dir.join(format!("f{i:04}.txt")), text)?;
    }
    let pkg = root.join("pkgs/small");
    std::fs::create_dir_all(pkg.join("small"))?;
    std::fs::write(
        pkg.join("pyproject.toml"),
        "[build-system]\nrequires = [\"hatchling\"]\nbuild-backend = \"hatchling.build\"\n\n\
         [project]\nname = \"small\"\nversion = \"1.0.0\"\ndescription = \"bench\"\n",
    )?;
    std::fs::write(pkg.join("small/__init__.py"), "NAME = 'small'\n")?;
    git(root, &["add", "--all"])?;
    git(root, &["commit", "--quiet", "-m", "bench repository"])?;
    git(root, &["tag", "-a", "-m", "release", "small-v0.9.0"])?;
    // The release after it: the package and 1 % of the data changed.
    std::fs::write(pkg.join("small/__init__.py"), "NAME = 'small 1.0'\n")?;
    for i in (0..FILES).step_by(100) {
        let path = root.join(format!("data/d{:02}/f{i:04}.txt", i % 20));
        let mut text = std::fs::read_to_string(&path)?;
        text.replace_range(0..16, "0123456789abcdef");
        std::fs::write(path, text)?;
    }
    git(root, &["commit", "--quiet", "--all", "-m", "next release"])?;
    git(root, &["tag", "-a", "-m", "release", "small-v1.0.0"])?;
    Ok((
        git(root, &["rev-parse", "small-v0.9.0^{commit}"])?,
        git(root, &["rev-parse", "HEAD"])?,
    ))
}

/// What a build leaves in its checkout: setuptools' `build/` and
/// `*.egg-info`, a changed tracked file.
fn leave_build_output(work: &Path) -> Result<()> {
    let pkg = work.join("pkgs/small");
    std::fs::create_dir_all(pkg.join("build/lib/small"))?;
    std::fs::write(pkg.join("build/lib/small/__init__.py"), "NAME = 'small'\n")?;
    std::fs::create_dir_all(pkg.join("small.egg-info"))?;
    std::fs::write(pkg.join("small.egg-info/PKG-INFO"), "Name: small\n")?;
    std::fs::write(pkg.join("small/__init__.py"), "NAME = 'changed'\n")?;
    Ok(())
}

/// Median and min of RUNS timings of `Repo::checkout` of `commit` from a
/// cache, each after `before` (untimed) brought the cache it returns to its
/// start state.
fn measure_cached(
    repo: &Repo,
    commit: &str,
    epoch: Option<&str>,
    mut before: impl FnMut(usize) -> Result<PathBuf>,
) -> Result<support::Stats> {
    let mut samples = Vec::new();
    for i in 0..RUNS {
        let cache = before(i)?;
        // A SOURCE_DATE_EPOCH later than the slot's files (the tag's date
        // for setuptools): build_commit dates them after it.
        // One second back: the slot's files are older still (`before`
        // waits 1.1 s), and files dated after it are not in the future
        // (git would take them for "racily clean" and hash them again).
        let tag_date = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs() as i64
            - 1;
        let start = Instant::now();
        let checkout = repo.checkout(commit, Some(&cache))?;
        if let Some(dir) = epoch {
            checkout.date_after(tag_date, Path::new(dir))?;
        }
        samples.push(start.elapsed());
        ensure!(checkout.cached(), "the cache was not used");
        ensure!(
            std::fs::read_to_string(checkout.path().join("pkgs/small/small/__init__.py"))?
                == "NAME = 'small 1.0'\n",
            "the cached checkout is not the commit"
        );
        leave_build_output(checkout.path())?;
    }
    Ok(stats(&samples))
}

/// Median and min of RUNS timings of `prepare` into fresh empty dirs.
fn measure(
    scratch: &Path,
    name: &str,
    mut prepare: impl FnMut(&Path) -> Result<()>,
) -> Result<support::Stats> {
    let mut samples = Vec::new();
    for i in 0..RUNS {
        let dest = scratch.join(format!("{name}-{i}"));
        std::fs::create_dir_all(&dest)?;
        let start = Instant::now();
        prepare(&dest).with_context(|| format!("{name} into {}", dest.display()))?;
        samples.push(start.elapsed());
        ensure!(
            dest.join("pkgs/small/pyproject.toml").is_file(),
            "{name}: the package is missing"
        );
        std::fs::remove_dir_all(&dest)?;
    }
    Ok(stats(&samples))
}

fn run(write_docs: bool) -> Result<()> {
    let tools = Tools::find()?;
    let temp = tempfile::tempdir()?;
    let root = temp.path().join("repo");
    let (previous, commit) = generate(&root)?;
    let size: u64 = (0..FILES).map(|_| FILE_SIZE as u64).sum();
    let scratch = temp.path().join("scratch");
    std::fs::create_dir_all(&scratch)?;

    let libgit2 = Repo::discover(&root)?;
    let cli = Repo::discover_with_cli(&root)?;
    let caches = temp.path().join("caches");
    let warm = caches.join("warm");
    let to_previous = |_: usize| {
        let at_previous = libgit2.checkout(&previous, Some(&warm))?;
        leave_build_output(at_previous.path())?;
        // A release comes seconds to days after the last: git's index is
        // not "racily clean" then (it is right after a checkout), and the
        // tag (SOURCE_DATE_EPOCH) is later than the slot's files.
        std::thread::sleep(Duration::from_millis(1100));
        Ok(warm.clone())
    };
    let next_release = measure_cached(&libgit2, &commit, None, to_previous)?;
    let next_release_epoch = measure_cached(&libgit2, &commit, Some("pkgs/small"), to_previous)?;
    let next_release_root = measure_cached(&libgit2, &commit, Some("."), to_previous)?;
    let same_commit = measure_cached(&libgit2, &commit, None, |_| Ok(warm.clone()))?;
    let new_slot = measure_cached(&libgit2, &commit, None, |i| {
        Ok(caches.join(format!("cold-{i}")))
    })?;
    let checkout = measure(&scratch, "checkout", |d| Ok(libgit2.export(&commit, d)?))?;
    let sparse = measure(&scratch, "sparse", |d| {
        Ok(libgit2.export_sparse(&commit, d, &["pkgs/small"])?)
    })?;
    let tree_libgit2 = measure(&scratch, "tree-libgit2", |d| {
        Ok(libgit2.export_tree(&commit, d)?)
    })?;
    let tree_cli = measure(&scratch, "tree-cli", |d| Ok(cli.export_tree(&commit, d)?))?;
    let archive = measure(&scratch, "archive", |d| {
        run_checked(
            Command::new("sh")
                .arg("-c")
                .arg("git -C \"$0\" archive --format=tar \"$1\" | tar -x -C \"$2\"")
                .arg(&root)
                .arg(&commit)
                .arg(d),
            "git archive | tar -x",
        )
        .map(drop)
    })?;

    // The build, in one checkout, after a warm-up that fills uv's cache.
    let build_dir = scratch.join("build");
    std::fs::create_dir_all(&build_dir)?;
    libgit2.export(&commit, &build_dir)?;
    let uv = tools.bin("uv");
    let build_once = |i: usize| -> Result<Duration> {
        let out = scratch.join(format!("dist-{i}"));
        let start = Instant::now();
        run_checked(
            Command::new(&uv)
                .args(["build", "--quiet", "--sdist", "--wheel", "--out-dir"])
                .arg(&out)
                .arg(build_dir.join("pkgs/small")),
            "uv build",
        )?;
        Ok(start.elapsed())
    };
    build_once(usize::MAX)?;
    let builds: Vec<Duration> = (0..RUNS).map(build_once).collect::<Result<_>>()?;
    let build = stats(&builds);

    let share = next_release.median.as_secs_f64() / build.median.as_secs_f64() * 100.0;
    let same_share = same_commit.median.as_secs_f64() / build.median.as_secs_f64() * 100.0;
    let epoch_share = next_release_epoch.median.as_secs_f64() / build.median.as_secs_f64() * 100.0;
    let root_share = next_release_root.median.as_secs_f64() / build.median.as_secs_f64() * 100.0;
    let verdict = if share.max(epoch_share) <= 10.0 {
        "met"
    } else {
        "NOT met"
    };
    let row = |what: &str, s: support::Stats| {
        format!(
            "| {what} | {} | {} | {:.0} % |\n",
            fmt_duration(s.median),
            fmt_duration(s.min),
            s.median.as_secs_f64() / build.median.as_secs_f64() * 100.0
        )
    };
    let mut rows = String::new();
    rows.push_str(&row(
        "cached checkout, next release: the slot moved from the previous tag (what builds use)",
        next_release,
    ));
    rows.push_str(&row(
        "the same with SOURCE_DATE_EPOCH set (setuptools, flit-core, pdm-backend): the package dir's files older than the tag dated after it, index refreshed",
        next_release_epoch,
    ));
    rows.push_str(&row(
        "the same for a package at the repository's root (every file of the 20 MB tree dated again and hashed)",
        next_release_root,
    ));
    rows.push_str(&row(
        "cached checkout, same commit again (a release group's next member)",
        same_commit,
    ));
    rows.push_str(&row(
        "cached checkout, new slot (a repository's first build: clone + full checkout)",
        new_slot,
    ));
    rows.push_str(&row(
        "fresh checkout per build (`git clone --shared` + detached checkout; before the cache, and when every slot is held)",
        checkout,
    ));
    rows.push_str(&row(
        "sparse checkout of the package dir and the root's files (`Repo::export_sparse`, not used by builds)",
        sparse,
    ));
    rows.push_str(&row("tree-only export, libgit2 (before)", tree_libgit2));
    rows.push_str(&row("tree-only export, git CLI backend (before)", tree_cli));
    rows.push_str(&row("`git archive \\| tar -x`", archive));
    rows.push_str(&row("`uv build` of the small package (warm cache)", build));
    let markdown = format!(
        "## Checkout: preparing a build's sources\n\n\
         Reproduce with `scripts/bench.sh --checkout`. A generated repository of {FILES} \
         incompressible files ({:.1} MB per commit) plus a small hatchling package; each \
         uncached contender writes the tagged commit into a fresh empty directory (median and \
         min of {RUNS}); the last column is the share of the package's build. {profile}\n\n\
         | preparing the sources | median | min | of the build |\n\
         | --- | ---: | ---: | ---: |\n{rows}\n\
         Checkout from the cache: **{share:.0} %** of the build at the next release \
         ({epoch_share:.0} % when SOURCE_DATE_EPOCH is set, {root_share:.0} % then for a package \
         at the root of the 20 MB tree), {same_share:.0} % for a release group's next member at \
         the same commit (target for the 0.6 MB package in a subdirectory: at most 10 %: \
         {verdict}). The first build of a repository pays for a new slot. The cached \
         rows start from a slot a build left output and a changed tracked file in; the next \
         release changed the package and 1 % of the data files.\n",
        size as f64 / 1_000_000.0,
        // The git CLI and uv rows do not depend on it; the libgit2 row does.
        profile = if cfg!(debug_assertions) {
            "Dev build of tagpub (`cargo test --bench checkout -- --bench`)."
        } else {
            "Release build of tagpub."
        }
    );
    support::publish(SECTION, &markdown, write_docs)
}
