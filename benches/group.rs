//! Group benchmark (issue 13, item 1): one tag releasing a group of five
//! packages against five tags releasing the same five packages one by one,
//! in the same run, to the same pypiserver.
//!
//! The repository holds five small hatchling packages (`pkgs/p0` … `p4`;
//! p1–p4 require p0). Each round bumps all five to a new version and commits;
//! then, timed:
//! - group: `tagpub release v<version>` (one process: builds two at a time,
//!   uploads p0 first and the others once p0 is listed);
//! - singles: `tagpub release pN-v<version>` for N = 0…4, one after another.
//!
//! The two runs release different project names (`grp-pN`, `one-pN`) so that
//! neither finds the other's files. Median and min of `--iterations` rounds
//! (default 3). Prints a table and rewrites the `group-bench` section of
//! `docs/benchmarks.md`. Run it with `scripts/bench.sh --group`.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;

mod support;
use support::{Options, PypiServer, Tools, bench_main, clean_command, fmt_duration, stats, timed};

const SECTION: &str = "group-bench";
const MEMBERS: usize = 5;

fn main() -> ExitCode {
    bench_main("group", run)
}

fn git(dir: &Path, args: &[&str]) -> Result<String> {
    support::git(dir, args)
}

/// Writes the five packages named `<prefix>-pN` at `version`.
fn write_packages(root: &Path, prefix: &str, version: &str) -> Result<()> {
    for n in 0..MEMBERS {
        let dir = root.join(format!("pkgs/p{n}"));
        let module = format!("{prefix}_p{n}");
        std::fs::create_dir_all(dir.join(&module))?;
        let dependencies = if n == 0 {
            String::new()
        } else {
            format!("dependencies = [\"{prefix}-p0>=1\"]\n")
        };
        std::fs::write(
            dir.join("pyproject.toml"),
            format!(
                "[build-system]\nrequires = [\"hatchling\"]\nbuild-backend = \"hatchling.build\"\n\n\
                 [project]\nname = \"{prefix}-p{n}\"\nversion = \"{version}\"\n\
                 description = \"group bench member {n}\"\n{dependencies}"
            ),
        )?;
        std::fs::write(dir.join(&module).join("__init__.py"), "VALUE = 1\n")?;
    }
    Ok(())
}

/// A repository of the five packages and its config: one group, or five
/// packages with their own tags.
fn repository(dir: &Path, server: &PypiServer, grouped: bool) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    git(dir, &["init", "--quiet", "--initial-branch=main"])?;
    let prefix = if grouped { "grp" } else { "one" };
    write_packages(dir, prefix, "1.0.0")?;
    let mut config = format!(
        "[defaults]\nrepository = \"benchindex\"\n\n[repository.benchindex]\nurl = \"{}\"\n",
        server.url
    );
    for n in 0..MEMBERS {
        config.push_str(&format!(
            "\n[[package]]\nname = \"{prefix}-p{n}\"\npath = \"pkgs/p{n}\"\n"
        ));
        if !grouped {
            config.push_str(&format!("tags = [\"p{n}-v{{version}}\"]\n"));
        }
    }
    if grouped {
        let members: Vec<String> = (0..MEMBERS).map(|n| format!("\"{prefix}-p{n}\"")).collect();
        config.push_str(&format!(
            "\n[[group]]\nname = \"grp\"\ntags = [\"v{{version}}\"]\npackages = [{}]\n",
            members.join(", ")
        ));
    }
    std::fs::write(dir.join("tagpub.toml"), config)?;
    git(dir, &["add", "--all"])?;
    git(dir, &["commit", "--quiet", "-m", "five packages"])?;
    Ok(())
}

fn tagpub(
    tools: &Tools,
    repo: &Path,
    state: &Path,
    server: &PypiServer,
    tag: &str,
) -> Result<Duration> {
    let mut command = clean_command(&tools.tagpub);
    command
        .args(["release", "--quiet", tag])
        .current_dir(repo)
        .env("TAGPUB_DATA_DIR", state.join("data"))
        .env("TAGPUB_CONFIG_DIR", state.join("config"))
        .env("TAGPUB_RUNTIME_DIR", state.join("run"))
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("PATH", &tools.path_venv)
        .env("PYPI_API_TOKEN", &server.token);
    timed(&mut command, &format!("tagpub release {tag}"))
}

fn run(write_docs: bool) -> Result<()> {
    let options = Options::from_args(3, 1)?;
    let tools = Tools::find()?;
    let server = support::start_server(&tools)?;
    let temp = tempfile::tempdir()?;
    let (grouped, single) = (temp.path().join("grouped"), temp.path().join("single"));
    repository(&grouped, &server, true)?;
    repository(&single, &server, false)?;
    let state = temp.path().join("state");

    let mut group_times = Vec::new();
    let mut single_times = Vec::new();
    // Round 0 is a warm-up (uv's cache gets hatchling); it is not counted.
    for round in 0..=options.iterations {
        let version = format!("1.0.{}", round + 1);
        for (dir, prefix) in [(&grouped, "grp"), (&single, "one")] {
            write_packages(dir, prefix, &version)?;
            git(dir, &["commit", "--quiet", "-am", &version])?;
        }
        let tag = format!("v{version}");
        git(&grouped, &["tag", "-a", "-m", &tag, &tag])?;
        let group = tagpub(&tools, &grouped, &state, &server, &tag)?;
        let mut singles = Duration::ZERO;
        for n in 0..MEMBERS {
            let tag = format!("p{n}-v{version}");
            git(&single, &["tag", "-a", "-m", &tag, &tag])?;
            singles += tagpub(&tools, &single, &state, &server, &tag)?;
        }
        eprintln!(
            "round {round}: group {} / five singles {}",
            fmt_duration(group),
            fmt_duration(singles)
        );
        if round > 0 {
            group_times.push(group);
            single_times.push(singles);
        }
    }
    let (group, singles) = (stats(&group_times), stats(&single_times));
    let ratio = singles.median.as_secs_f64() / group.median.as_secs_f64();
    let markdown = format!(
        "## Groups: one tag for five packages\n\n\
         Reproduce with `scripts/bench.sh --group`. Five small hatchling packages (four \
         require the fifth) released to a local pypiserver with `uv build`, warm uv cache; \
         median and min of {} rounds after a warm-up, {} cores.\n\n\
         | release | median | min |\n| --- | ---: | ---: |\n\
         | one group tag (`tagpub release v…`: two builds at a time, p0 uploaded and listed before the rest) | {} | {} |\n\
         | five package tags (`tagpub release pN-v…` one after another) | {} | {} |\n\n\
         Five single releases take **{ratio:.2}×** the time of the one group release.\n",
        options.iterations,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        fmt_duration(group.median),
        fmt_duration(group.min),
        fmt_duration(singles.median),
        fmt_duration(singles.min),
    );
    support::publish(SECTION, &markdown, write_docs)
}
