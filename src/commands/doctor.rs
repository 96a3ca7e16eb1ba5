//! `tagpub doctor`: one screen with everything a release needs, per package,
//! each problem with the command that fixes it.
//!
//! It asks the same code the real thing uses: the token chain
//! (`credentials::lookup_token`) and its offline scope check, the build tool
//! choice (`BuildTool::for_package`), the index listing a release does
//! before uploading (`Repository::list_files_once`), `hooks::status`, and the
//! daemon's own answers on its socket (`Ping`, `Status`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use std::time::Duration;

use serde::Serialize;

use crate::bump;
use crate::commands::Context;
use crate::config::{Config, ConfigError, Package, RepositoryTarget};
use crate::credentials::{self, KEYCHAIN_SERVICE, keychain};
use crate::daemon::registry::{Registry, common_git_dir};
use crate::exit::ExitStatus;
use crate::finding::{self, Finding, Status};
use crate::git::Repo;
use crate::hooks::REFERENCE_TRANSACTION_SINCE;
use crate::hooks::{self, State};
use crate::ipc::{self, Request, Response};
use crate::ledger::ReleaseDir;
use crate::pipeline::build::{self, BuildTool};
use crate::pipeline::index_state::{self, FileWindow};
use crate::pipeline::upload::open_repository;
use crate::repository::IndexedFile;
use crate::version::Version;

const DAEMON_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// Print the checks as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
pub struct PackageReport {
    pub name: String,
    pub repository: String,
    pub checks: Vec<Finding>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub ok: bool,
    pub workdir: PathBuf,
    pub checks: Vec<Finding>,
    pub packages: Vec<PackageReport>,
}

impl Report {
    fn all(&self) -> impl Iterator<Item = &Finding> {
        self.checks
            .iter()
            .chain(self.packages.iter().flat_map(|p| p.checks.iter()))
    }
}

pub fn run(ctx: &Context, args: &DoctorArgs) -> anyhow::Result<ExitStatus> {
    let repo = ctx.repo()?;
    let report = diagnose(ctx, &repo);
    if args.json {
        ctx.printer.json(&report)?;
    } else {
        print(ctx, &report);
    }
    Ok(ExitStatus::success_if(report.ok))
}

pub fn diagnose(ctx: &Context, repo: &Repo) -> Report {
    let mut checks = vec![git_check(repo)];
    let config = match ctx.config(repo) {
        Ok(config) => {
            checks.push(Finding::pass(
                "config",
                format!(
                    "{}: {} package(s){}, valid",
                    config.source.display(),
                    config.packages.len(),
                    match config.groups.len() {
                        0 => String::new(),
                        n => format!(" and {n} group(s)"),
                    }
                ),
            ));
            Some(config)
        }
        Err(err) => {
            let missing = err.chain().any(|c| {
                matches!(
                    c.downcast_ref::<ConfigError>(),
                    Some(ConfigError::Missing { .. })
                )
            });
            checks.push(Finding::fail(
                "config",
                crate::exit::chain_text(err.as_ref()),
                if missing {
                    "tagpub init".to_string()
                } else {
                    "edit the file at the line and column above, then run `tagpub doctor` again"
                        .to_string()
                },
            ));
            None
        }
    };
    checks.push(python_check());
    let packages: Vec<PackageReport> = config
        .as_ref()
        .map(|config| {
            let mut tools = HashMap::new();
            config
                .packages
                .iter()
                .map(|package| package_report(ctx, repo, config, package, &mut tools))
                .collect()
        })
        .unwrap_or_default();
    // The keychain matters only as far as some package still lacks a token.
    let all_tokens_found = !packages.is_empty()
        && packages.iter().all(|p| {
            p.checks
                .iter()
                .any(|c| c.name == "token" && c.status == Status::Pass)
        });
    checks.push(keychain_check(all_tokens_found));
    checks.push(hooks_check(repo));
    let (daemon, watch) = daemon_checks(ctx, repo);
    checks.push(daemon);
    checks.push(watch);
    let mut report = Report {
        ok: false,
        workdir: repo.workdir().to_path_buf(),
        checks,
        packages,
    };
    let ok = report.all().all(|c| c.status != Status::Fail);
    report.ok = ok;
    report
}

fn git_check(repo: &Repo) -> Finding {
    match repo.git_version() {
        Ok(version @ (major, minor, patch)) if version >= REFERENCE_TRANSACTION_SINCE => {
            Finding::pass(
                "git",
                format!("git {major}.{minor}.{patch}: runs the reference-transaction hook"),
            )
        }
        Ok((major, minor, patch)) => Finding::warn(
            "git",
            format!(
                "git {major}.{minor}.{patch} is older than 2.28 and never runs the reference-transaction hook: \
                 the daemon sees new tags by its own watch only"
            ),
            "upgrade git to 2.28 or later",
        ),
        Err(err) => Finding::fail(
            "git",
            crate::exit::chain_text_in("cannot run git", &err),
            "install git 2.28 or later and put it on PATH",
        ),
    }
}

fn python_check() -> Finding {
    let Some(python) = build::python_interpreter() else {
        return Finding::warn(
            "python",
            "no python3 or python on PATH (uv build brings its own; python -m build cannot run)",
            "install Python 3, or set TAGPUB_PYTHON=/path/to/python",
        );
    };
    match command_output(&python, &["--version"]) {
        Ok(version) => Finding::pass("python", format!("{version} ({})", python.display())),
        Err(problem) => Finding::fail(
            "python",
            format!("{} does not run: {problem}", python.display()),
            "install Python 3, or set TAGPUB_PYTHON=/path/to/python",
        ),
    }
}

/// First line of a program's output (stdout, else stderr), or why it failed.
fn command_output(program: &Path, args: &[&str]) -> Result<String, String> {
    let output = crate::process::Child::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    let text = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes)
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(str::to_string)
    };
    if output.status.success() {
        Ok(text(&output.stdout)
            .or_else(|| text(&output.stderr))
            .unwrap_or_default())
    } else {
        Err(text(&output.stderr)
            .or_else(|| text(&output.stdout))
            .unwrap_or_else(|| output.status.to_string()))
    }
}

fn package_report(
    ctx: &Context,
    repo: &Repo,
    config: &Config,
    package: &Package,
    tools: &mut HashMap<String, Finding>,
) -> PackageReport {
    let repository = config.repository_for(package, None).to_string();
    // The config checked its repository names: this finds each.
    let target = config.repository(&repository);
    let (repository_check, listed) =
        repository_check(ctx, config, package, &repository, target.as_ref());
    let mut checks = vec![
        tags_check(config, package),
        loop_check(repo, config, package),
        build_check(repo, config, package, tools),
        token_check(package, &repository, target.as_ref()),
        repository_check,
    ];
    if let (Some(listed), Some(target)) = (listed, &target) {
        checks.extend(half_published_checks(
            ctx,
            package,
            &repository,
            target,
            &listed,
        ));
        checks.extend(provenance_check(config, package, target, &listed));
    }
    // The CI pipeline's trusted publisher(s) for it, with PyPI's form link.
    checks.extend(
        crate::ci::publisher::setup_lines(repo, config, &package.name)
            .into_iter()
            .map(|line| Finding::pass("trusted-publisher", line)),
    );
    PackageReport {
        name: package.name.clone(),
        repository,
        checks,
    }
}

/// The release loop for the package (its group's when it has one): where
/// it stands and the `tagpub bump` that releases it next; with
/// `require-signed`, whether git can sign.
fn loop_check(repo: &Repo, config: &Config, package: &Package) -> Finding {
    let target = match package
        .group
        .as_deref()
        .and_then(|name| config.groups.iter().find(|g| g.name == name))
    {
        Some(group) => crate::pipeline::resolve::Target::Group(group),
        None => crate::pipeline::resolve::Target::Package(package),
    };
    let next = bump::next_release(repo, config, target);
    let publisher = match config.defaults.trigger {
        crate::config::Trigger::Tag => "the daemon publishes the tag",
        crate::config::Trigger::Push => "the daemon publishes the tag once the remote has it",
    };
    let message = format!(
        "{} is at {} ({}); next: `{}`, then {publisher} (or CI: `tagpub ci github|gitlab`)",
        next.name,
        next.version
            .as_deref()
            .unwrap_or("a version tagpub cannot read"),
        next.latest
            .map(|tag| format!("latest tag {tag}"))
            .unwrap_or_else(|| "no release tag yet".into()),
        next.command
    );
    if config.signature_policy(&target.members(config)).required {
        let setting = |key: &str| {
            bump::user_git(repo.workdir(), &["config", "--get", key])
                .ok()
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let ssh = setting("gpg.format").as_deref() == Some("ssh");
        if ssh && setting("user.signingkey").is_none() {
            return Finding::warn(
                "release loop",
                format!(
                    "{message}; tags must be signed (require-signed), but git signs with SSH (gpg.format = ssh) and has no user.signingkey"
                ),
                "git config --global user.signingkey ~/.ssh/id_ed25519.pub",
            );
        }
    }
    Finding::pass("release loop", message)
}

/// Which tags release the package: its own patterns and its group's.
fn tags_check(config: &Config, package: &Package) -> Finding {
    let listed = |patterns: &[crate::version::TagPattern]| {
        patterns
            .iter()
            .map(|p| format!("`{p}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut ways = Vec::new();
    if !package.tags.is_empty() {
        ways.push(format!("{} (this package alone)", listed(&package.tags)));
    }
    if let Some(group) = package
        .group
        .as_deref()
        .and_then(|name| config.groups.iter().find(|g| g.name == name))
    {
        ways.push(format!(
            "{} (group {}: {})",
            listed(&group.tags),
            group.name,
            group.members.join(", ")
        ));
    }
    Finding::pass("tags", format!("released by {}", ways.join("; ")))
}

fn build_check(
    repo: &Repo,
    config: &Config,
    package: &Package,
    tools: &mut HashMap<String, Finding>,
) -> Finding {
    const INSTALL: &str = "install uv (https://docs.astral.sh/uv/getting-started/installation/) \
                           or `python3 -m pip install build`";
    let tool = match BuildTool::for_package(config, package, None) {
        Ok(tool) => tool,
        Err(err) => return Finding::fail("build tool", crate::exit::chain_text(&err), INSTALL),
    };
    let described = tool.describe();
    if let Some(check) = tools.get(&described) {
        return check.clone();
    }
    let check = match &tool {
        BuildTool::Uv(uv) => match command_output(uv, &["--version"]) {
            Ok(version) => Finding::pass(
                "build tool",
                format!("uv build ({version}, {})", uv.display()),
            ),
            Err(problem) => Finding::fail(
                "build tool",
                format!("{} does not run: {problem}", uv.display()),
                INSTALL,
            ),
        },
        BuildTool::PythonBuild(python) => {
            match command_output(python, &["-m", "build", "--version"]) {
                Ok(version) => Finding::pass(
                    "build tool",
                    format!("{} -m build ({version})", python.display()),
                ),
                Err(problem) => Finding::fail(
                    "build tool",
                    format!("{} -m build does not run: {problem}", python.display()),
                    format!("{} -m pip install build, or install uv", python.display()),
                ),
            }
        }
        BuildTool::Command(argv) => {
            let program = argv.first().map(String::as_str).unwrap_or_default();
            // A path runs from the package's directory; a bare name from PATH.
            let found = if program.contains('/') {
                let path = repo.workdir().join(&package.path).join(program);
                path.is_file().then_some(path)
            } else {
                crate::process::find_on_path(program)
            };
            match found {
                Some(path) => Finding::pass(
                    "build tool",
                    format!("build-command `{described}` ({})", path.display()),
                ),
                None => Finding::fail(
                    "build tool",
                    format!("build-command `{described}`: `{program}` is not found"),
                    format!(
                        "install `{program}`, or change build-command in {}",
                        config.source.display()
                    ),
                ),
            }
        }
    };
    tools.insert(described, check.clone());
    check
}

fn token_check(package: &Package, repository: &str, target: Option<&RepositoryTarget>) -> Finding {
    let target = match target {
        Some(RepositoryTarget::Remote(remote)) => remote,
        Some(RepositoryTarget::Local) => {
            return Finding::pass("token", "the local index needs no token");
        }
        // The `repository` check says what to do about it.
        None => {
            return Finding::fail(
                "token",
                format!("no token can be looked up for the unknown repository `{repository}`"),
                format!("define [repository.{repository}] with a url"),
            );
        }
    };
    let set_command = format!(
        "tagpub token set --repository {repository} --package {}",
        package.name
    );
    let lookup = credentials::lookup_token(package, target);
    let Some(token) = lookup.token else {
        return Finding::fail(
            "token",
            format!(
                "no token for {repository}: {}",
                credentials::missing_token_help(package, target, &lookup)
            ),
            set_command,
        );
    };
    let shown = format!("{} ({})", token.source, token.redacted());
    if let Some(refusal) = token.refusal(&package.name) {
        return Finding::fail(
            "token",
            format!("the token from {shown} would be refused: {refusal}"),
            set_command,
        );
    }
    match token.info() {
        Some(info) => Finding::pass("token", format!("{shown}: {}", info.summary())),
        // Not a PyPI macaroon (another index's token): present, scope unknown.
        None => Finding::pass(
            "token",
            format!("{shown}: not a PyPI token, its scope is known only to the index"),
        ),
    }
}

/// The check, and the listing when the index answered.
fn repository_check(
    ctx: &Context,
    config: &Config,
    package: &Package,
    name: &str,
    target: Option<&RepositoryTarget>,
) -> (Finding, Option<Vec<IndexedFile>>) {
    let Some(repository) = target.and_then(|target| open_repository(target, &ctx.dirs)) else {
        let check = Finding::fail(
            "repository",
            format!("unknown repository `{name}`"),
            format!(
                "define [repository.{name}] with a url in {}",
                config.source.display()
            ),
        );
        return (check, None);
    };
    let simple = repository.simple_url();
    // The very listing a release does before uploading.
    // One attempt: a doctor reports, it does not wait out retries.
    match repository.list_files_once(&package.name) {
        Ok(files) => (
            Finding::pass(
                "repository",
                format!(
                    "{name} ({simple}) answers; {} file(s) of {} listed",
                    files.len(),
                    package.name
                ),
            ),
            Some(files),
        ),
        Err(err) => (
            Finding::fail(
                "repository",
                crate::exit::chain_text(&err),
                match target.and_then(RepositoryTarget::remote) {
                    Some(remote) if remote.warehouse.is_none() => format!(
                        "check that the index is up and that url / simple-url of [repository.{name}] in {} are right",
                        config.source.display()
                    ),
                    _ => format!("check the network connection to {simple}"),
                },
            ),
            None,
        ),
    }
}

/// Releases made here that have some files on the index and not all: each
/// with the deadline for the rest (PyPI's 14-day window).
fn half_published_checks(
    ctx: &Context,
    package: &Package,
    repository: &str,
    target: &RepositoryTarget,
    listed: &[IndexedFile],
) -> Vec<Finding> {
    let mut checks = Vec::new();
    for record in ReleaseDir::records_of(&ctx.dirs, &package.name) {
        let Some(state) = record.repositories.get(repository) else {
            continue;
        };
        if state.verified || !state.touched() {
            continue;
        }
        let missing = index_state::not_listed(&record, listed);
        if missing.is_empty() {
            continue;
        }
        let Ok(version) = record.version.parse::<Version>() else {
            continue;
        };
        let window = target
            .file_window()
            .and_then(|days| FileWindow::of(listed, &version, days));
        let message = format!(
            "{} {} ({}) is half-published on {repository}: not yet {}{}",
            package.name,
            record.version,
            record.tag,
            missing.join(", "),
            window
                .as_ref()
                .map(|w| format!("; {}", w.describe()))
                .unwrap_or_default()
        );
        checks.push(match window {
            Some(window) if !window.is_open() => Finding::fail(
                "half-published",
                message,
                "the missing files can no longer join this release: bump the version and tag it",
            ),
            _ => Finding::warn(
                "half-published",
                message,
                format!("tagpub release {}", record.tag),
            ),
        });
    }
    checks
}

/// When the latest release carried PEP 740 attestations and this package
/// would upload by token (which sends none), how to keep the provenance.
fn provenance_check(
    config: &Config,
    package: &Package,
    target: &RepositoryTarget,
    listed: &[IndexedFile],
) -> Option<Finding> {
    let attested = index_state::latest_attested(listed, None)?;
    // The local index keeps no attestations.
    let remote = target.remote()?;
    let repository = &remote.name;
    let token = credentials::lookup_token(package, remote).token;
    let trusted = matches!(
        token.as_ref().map(|t| &t.source),
        Some(credentials::TokenSource::TrustedPublishing { .. })
    );
    if trusted || config.allow_unattested_for(package) {
        return Some(Finding::pass(
            "provenance",
            format!(
                "{} {} on {repository} carries PEP 740 attestations; {}",
                package.name,
                attested.version,
                if trusted {
                    "this run publishes by trusted publishing"
                } else {
                    "allow-unattested is set: token uploads go without them"
                }
            ),
        ));
    }
    Some(Finding::warn(
        "provenance",
        format!(
            "{} {} on {repository} carries PEP 740 attestations ({} of {} files). A release from here uploads with a token, which sends none, so {repository} would show the next version's provenance as lost; `tagpub release` refuses that without --allow-unattested",
            package.name, attested.version, attested.attested, attested.files
        ),
        format!(
            "publish {} through trusted publishing from CI, which attests every file: `tagpub ci github` (or gitlab), register that workflow as the project's trusted publisher on {repository}, and push release tags (`trigger = \"push\"`): CI publishes them, and a token upload from here is refused meanwhile, so nothing goes up unattested",
            package.name
        ),
    ))
}

fn keychain_check(all_tokens_found: bool) -> Finding {
    match keychain::get(KEYCHAIN_SERVICE, "tagpub-doctor/probe") {
        Ok(_) => Finding::pass("keychain", "reachable, unlocked"),
        Err(err) => {
            let fix = "start a Secret Service (gnome-keyring, KeePassXC) in this session, \
                       or give tokens through the environment (PYPI_API_TOKEN or the package's token-env)";
            if all_tokens_found {
                Finding::warn(
                    "keychain",
                    format!(
                        "{} (every package has a token from elsewhere)",
                        crate::exit::chain_text(&err)
                    ),
                    fix,
                )
            } else {
                Finding::fail("keychain", crate::exit::chain_text(&err), fix)
            }
        }
    }
}

fn hooks_check(repo: &Repo) -> Finding {
    let dir = match repo.hooks_dir() {
        Ok(dir) => dir,
        Err(err) => {
            return Finding::fail(
                "hooks",
                crate::exit::chain_text(&err),
                "tagpub hooks install",
            );
        }
    };
    let statuses = match hooks::status(&dir) {
        Ok(statuses) => statuses,
        Err(err) => {
            return Finding::fail(
                "hooks",
                crate::exit::chain_text(&err),
                "tagpub hooks install",
            );
        }
    };
    let describe = |state: State| match state {
        State::Installed => "installed",
        State::Chained => "installed (chained)",
        State::Foreign => "another tool's hook, not tagpub's",
        State::Missing => "not installed",
    };
    let summary = statuses
        .iter()
        .map(|h| format!("{}: {}", h.name, describe(h.state)))
        .collect::<Vec<_>>()
        .join(", ");
    let message = format!("{summary} ({})", dir.display());
    if statuses
        .iter()
        .all(|h| matches!(h.state, State::Installed | State::Chained))
    {
        Finding::pass("hooks", message)
    } else {
        // `install` chains a foreign hook as `.legacy`, so it is the fix for both.
        Finding::fail("hooks", message, "tagpub hooks install")
    }
}

/// Whether the daemon runs, and whether it watches this repository.
fn daemon_checks(ctx: &Context, repo: &Repo) -> (Finding, Finding) {
    let socket = ctx.dirs.socket_path();
    let git_dir = common_git_dir(repo.git_dir()).unwrap_or_else(|_| repo.git_dir().to_path_buf());
    let watch_fix = format!("tagpub watch add {}", repo.workdir().display());
    let daemon = match ipc::request(&socket, Request::Ping, DAEMON_TIMEOUT) {
        Ok(Response::Pong {
            pid,
            tagpub_version,
            ..
        }) if tagpub_version != env!("CARGO_PKG_VERSION") => Finding::warn(
            "daemon",
            format!(
                "running (pid {pid}) but it is tagpub {tagpub_version}, this is {}",
                env!("CARGO_PKG_VERSION")
            ),
            "tagpub daemon stop && tagpub daemon start",
        ),
        Ok(Response::Pong { pid, .. }) => Finding::pass("daemon", format!("running (pid {pid})")),
        Ok(other) => Finding::fail(
            "daemon",
            format!("answered {other:?} to a ping"),
            "tagpub daemon stop && tagpub daemon start",
        ),
        Err(err) if err.is_not_running() => Finding::fail(
            "daemon",
            format!("not running (nothing listens on {})", socket.display()),
            "tagpub daemon start   (or `tagpub service install` to start it at login)",
        ),
        Err(err) => Finding::fail(
            "daemon",
            crate::exit::chain_text(&err),
            "tagpub daemon stop && tagpub daemon start",
        ),
    };
    let same = |dir: &Path| dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf()) == git_dir;
    // The running daemon's own view, with a problem it has with this repo;
    // else the watch list it will read when it starts.
    let watch = if daemon.status != Status::Fail
        && let Ok(Response::Status(status)) = ipc::request(&socket, Request::Status, DAEMON_TIMEOUT)
    {
        let entry = status.repos.iter().find(|r| same(&r.git_dir));
        match entry {
            Some(entry) => match entry.problem.as_deref() {
                Some(problem) => Finding::fail(
                    "watch",
                    format!("the daemon watches this repository but: {problem}"),
                    "fix the problem above; the daemon retries on its next rescan",
                ),
                None => Finding::pass("watch", "the daemon watches this repository"),
            },
            None => Finding::fail(
                "watch",
                "the daemon does not watch this repository",
                watch_fix,
            ),
        }
    } else {
        match Registry::load(&ctx.dirs) {
            Ok(registry) if registry.repos().iter().any(|r| same(&r.git_dir)) => Finding::pass(
                "watch",
                "on the watch list (the daemon watches it once it runs)",
            ),
            Ok(_) => Finding::fail(
                "watch",
                "this repository is not on the daemon's watch list",
                watch_fix,
            ),
            Err(err) => Finding::fail("watch", crate::exit::chain_text(&err), watch_fix),
        }
    };
    (daemon, watch)
}

fn print(ctx: &Context, report: &Report) {
    let p = &ctx.printer;
    let show = |checks: &[Finding]| {
        for line in finding::lines(checks, "") {
            p.line(&line);
        }
    };
    p.line(&format!("tagpub doctor: {}", report.workdir.display()));
    show(&report.checks);
    for package in &report.packages {
        p.line(&format!("{} → {}", package.name, package.repository));
        show(&package.checks);
    }
    let failures = report.all().filter(|c| c.status == Status::Fail).count();
    if failures == 0 {
        p.success("everything a release needs is in place");
    } else {
        p.line(&p.fail(&format!(
            "{failures} problem{} found; each has its fix above",
            if failures == 1 { "" } else { "s" }
        )));
    }
}
