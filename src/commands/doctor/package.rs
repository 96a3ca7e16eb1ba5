//! Doctor's checks of one package: its tags and release loop, build tool,
//! token, repository, half-published releases and provenance.

use std::collections::HashMap;

use crate::bump;
use crate::commands::Context;
use crate::config::{Config, Package, RepositoryTarget};
use crate::credentials;
use crate::finding::Finding;
use crate::git::Repo;
use crate::ledger::ReleaseDir;
use crate::pipeline::build::BuildTool;
use crate::pipeline::index_state::{self, FileWindow};
use crate::pipeline::upload::open_repository;
use crate::repository::IndexedFile;
use crate::version::Version;

use super::PackageReport;
use super::setup::command_output;

pub(super) fn package_report(
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
pub(super) fn loop_check(repo: &Repo, config: &Config, package: &Package) -> Finding {
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
pub(super) fn tags_check(config: &Config, package: &Package) -> Finding {
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

pub(super) fn build_check(
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

pub(super) fn token_check(
    package: &Package,
    repository: &str,
    target: Option<&RepositoryTarget>,
) -> Finding {
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
pub(super) fn repository_check(
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
pub(super) fn half_published_checks(
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
pub(super) fn provenance_check(
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
