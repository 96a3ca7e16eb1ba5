//! `tagpub ci github|gitlab [--check]`: write the CI release pipeline from
//! the config; `tagpub ci resolve TAG`: what a CI job needs to know about
//! a tag before it picks the job that publishes it.

use std::path::Path;

use anyhow::Context as _;
use clap::{Args, Subcommand};

use crate::ci::publisher::{self, Forge};
use crate::ci::{self, HEADER_MARK, Target, github, gitlab};
use crate::commands::{Context, UsageError};
use crate::config::Config;
use crate::exit::ExitStatus;
use crate::git::Repo;
use crate::pipeline::resolve::{ResolveError, resolve};

#[derive(Debug, Args)]
pub struct CiArgs {
    #[command(subcommand)]
    pub command: CiCommand,
}

#[derive(Debug, Subcommand)]
pub enum CiCommand {
    /// Write .github/workflows/tagpub-release.yml: release on tag push, GitHub Release or a manual run.
    Github(GenerateArgs),
    /// Write .gitlab/tagpub-release.yml (and a .gitlab-ci.yml that includes it, if there is none).
    Gitlab(GenerateArgs),
    /// For CI jobs: the package, version and repository a tag releases, as key=value lines on stdout.
    Resolve(ResolveArgs),
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Write nothing; exit 1 if the file is missing or differs from what the config gives.
    #[arg(long, conflicts_with_all = ["stdout", "force"])]
    pub check: bool,
    /// Print the file on stdout instead of writing it.
    #[arg(long)]
    pub stdout: bool,
    /// Replace the file even if tagpub did not write it.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// The tag, e.g. `hf-local-v1.0.0`.
    pub tag: String,
    /// A tag that is no package's release is not an error: print nothing, exit 0.
    #[arg(long)]
    pub skip_unknown: bool,
}

pub fn run(ctx: &Context, args: &CiArgs) -> anyhow::Result<ExitStatus> {
    match &args.command {
        CiCommand::Github(args) => generate(ctx, Service::GitHub, args),
        CiCommand::Gitlab(args) => generate(ctx, Service::GitLab, args),
        CiCommand::Resolve(args) => resolve_tag(ctx, args),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    GitHub,
    GitLab,
}

impl Service {
    fn command(self) -> &'static str {
        match self {
            Service::GitHub => "tagpub ci github",
            Service::GitLab => "tagpub ci gitlab",
        }
    }

    fn path(self) -> &'static str {
        match self {
            Service::GitHub => github::WORKFLOW_PATH,
            Service::GitLab => gitlab::INCLUDE_PATH,
        }
    }
}

fn generate(ctx: &Context, service: Service, args: &GenerateArgs) -> anyhow::Result<ExitStatus> {
    let (repo, config) = ctx.repo_and_config()?;
    let root = repo.workdir();
    let config_name = config_name(root, &config);
    let targets = ci::targets(&config, &config_name).map_err(|err| UsageError(err.to_string()))?;
    let version = env!("CARGO_PKG_VERSION");
    let contents = match service {
        Service::GitHub => github::render(&targets, &config_name, version),
        Service::GitLab => gitlab::render(&targets, &config_name, version),
    };
    let path = root.join(service.path());
    let on_disk = read_if_exists(&path)?;

    if args.check {
        return Ok(check(
            ctx,
            service,
            root,
            on_disk.as_deref(),
            &contents,
            &config_name,
        ));
    }
    if args.stdout {
        ctx.printer.out(&contents)?;
        return Ok(ExitStatus::Success);
    }
    if let Some(existing) = &on_disk
        && !existing.starts_with(HEADER_MARK)
        && !args.force
    {
        return Err(UsageError(format!(
            "{} exists and was not written by tagpub; keeping it\n  help: move it away, or pass --force to replace it",
            service.path()
        ))
        .into());
    }
    if on_disk.as_deref() == Some(contents.as_str()) {
        ctx.printer.success(&format!(
            "{} is up to date with {config_name}",
            service.path()
        ));
    } else {
        write_file(&path, &contents)?;
        ctx.printer
            .success(&format!("wrote {} from {config_name}", service.path()));
    }
    if service == Service::GitLab {
        gitlab_main_file(ctx, root)?;
    }
    publisher_next_steps(ctx, service, &repo, &targets);
    warn_tokenless(ctx, service, &targets);
    ci::others::warn_each(root, &ctx.printer);
    Ok(ExitStatus::Success)
}

/// `--check`: 0 when the file is what the config gives, else 1 and how to fix it.
fn check(
    ctx: &Context,
    service: Service,
    root: &Path,
    on_disk: Option<&str>,
    contents: &str,
    config_name: &str,
) -> ExitStatus {
    let path = service.path();
    let command = service.command();
    let problem = match on_disk {
        None => Some(format!(
            "{path} does not exist: run `{command}` to write it"
        )),
        Some(text) if text != contents => Some(format!(
            "{path} is out of date with {config_name} (or with this tagpub): run `{command}` to regenerate it"
        )),
        Some(_) => None,
    };
    let problem = problem.or_else(|| {
        if service != Service::GitLab {
            return None;
        }
        match std::fs::read_to_string(root.join(gitlab::MAIN_PATH)) {
            Err(_) => Some(format!(
                "{} does not exist, so GitLab never runs the jobs in {path}: run `{command}` to write one that includes it",
                gitlab::MAIN_PATH
            )),
            Ok(main) => (!gitlab::includes_release_file(&main)).then(|| {
                format!(
                    "{} does not include {path}, so GitLab never runs its jobs: add\n{}",
                    gitlab::MAIN_PATH,
                    indent(gitlab::INCLUDE_SNIPPET)
                )
            }),
        }
    });
    match problem {
        Some(problem) => {
            ctx.printer.always(&ctx.printer.fail(&problem));
            ExitStatus::Failed
        }
        None => {
            ctx.printer.line(
                &ctx.printer
                    .pass(&format!("{path} is up to date with {config_name}")),
            );
            ExitStatus::Success
        }
    }
}

/// Where to set up trusted publishing: a publisher for each project of
/// each trusted-publishing job, with a link that pre-fills PyPI's form
/// when `origin` is on the service the pipeline is for.
fn publisher_next_steps(ctx: &Context, service: Service, repo: &Repo, targets: &[Target<'_>]) {
    let forge = Forge::of(repo).filter(|forge| {
        matches!(
            (service, forge),
            (Service::GitHub, Forge::GitHub { .. }) | (Service::GitLab, Forge::GitLab { .. })
        )
    });
    let publishers = publisher::publishers(targets, forge.as_ref());
    if !publishers.is_empty() {
        ctx.printer.line(
            "  next: add a trusted publisher for each package (its project settings > Publishing on the index):",
        );
        for publisher in &publishers {
            ctx.printer.line(&format!(
                "        {}: {}",
                publisher.project,
                publisher::describe(publisher)
            ));
        }
        ctx.printer.line(
            "        a project that does not exist yet: add a pending publisher with the same values under your account > Publishing",
        );
        ctx.printer.line(
            "        then commit the pipeline; each environment's protection rules decide who may publish",
        );
    }
    for target in targets {
        if target.index_has_trusted_publishing() && !target.trusted_publishing() {
            ctx.printer.line(&format!(
                "  note: {} publishes to {} with the token in {} (token-env), so without trusted publishing and attestations; remove token-env to use them",
                target.name,
                target.repository,
                target.secret_envs.join(", ")
            ));
        }
    }
}

/// Writes `.gitlab-ci.yml` when there is none; otherwise says how to
/// include tagpub's file if it does not yet.
fn gitlab_main_file(ctx: &Context, root: &Path) -> anyhow::Result<()> {
    let main = root.join(gitlab::MAIN_PATH);
    match read_if_exists(&main)? {
        None => {
            write_file(&main, gitlab::MAIN_FILE)?;
            ctx.printer.success(&format!(
                "wrote {} (it includes {})",
                gitlab::MAIN_PATH,
                gitlab::INCLUDE_PATH
            ));
        }
        Some(text) if gitlab::includes_release_file(&text) => {}
        Some(_) => {
            use crate::report::Reporter as _;
            ctx.printer.warn(&format!(
                "{} is yours and tagpub leaves it alone; add this to it so GitLab runs the release jobs:\n{}",
                gitlab::MAIN_PATH,
                indent(gitlab::INCLUDE_SNIPPET)
            ));
        }
    }
    Ok(())
}

/// A repository without trusted publishing and without any `token-env`
/// has no token in CI.
fn warn_tokenless(ctx: &Context, service: Service, targets: &[Target<'_>]) {
    use crate::report::Reporter as _;
    // One warning per repository, naming its jobs that have no token.
    let mut repositories: Vec<(&str, Vec<&str>)> = Vec::new();
    for target in targets {
        if target.index_has_trusted_publishing() || !target.secret_envs.is_empty() {
            continue;
        }
        match repositories
            .iter_mut()
            .find(|(r, _)| *r == target.repository)
        {
            Some((_, names)) => names.push(&target.name),
            None => repositories.push((&target.repository, vec![&target.name])),
        }
    }
    let store = match service {
        Service::GitHub => "a secret of the same name in the environment",
        Service::GitLab => "a masked CI/CD variable of the same name",
    };
    for (repository, names) in repositories {
        ctx.printer.warn(&format!(
            "repository `{repository}` has no trusted publishing and no token-env applies to {}: set `token-env = \"NAME\"` in its [repository.{repository}] (or in the [[package]]) and create {store}",
            names.join(", ")
        ));
    }
}

fn resolve_tag(ctx: &Context, args: &ResolveArgs) -> anyhow::Result<ExitStatus> {
    let (repo, config) = ctx.repo_and_config_for_tag(&args.tag)?;
    let plan = match resolve(&repo, &config, &args.tag, None) {
        Ok(plan) => plan,
        Err(ResolveError::NoPackage { tag, .. }) if args.skip_unknown => {
            ctx.printer.line(&format!(
                "tag `{tag}` is no package's release: nothing to do"
            ));
            return Ok(ExitStatus::Success);
        }
        Err(err) => return Err(err.into()),
    };
    // A group publishes to one repository (config/validate.rs checks it).
    let repository = plan.members[0].repository.clone();
    let released = match &plan.group {
        Some(group) => format!(
            "{group} {} (group: {})",
            plan.version,
            plan.members
                .iter()
                .map(|m| m.package.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => format!("{} {}", plan.name(), plan.version),
    };
    for (key, value) in [
        ("tag", plan.tag.as_str()),
        ("package", &released),
        ("repository", &repository),
    ] {
        ctx.printer.line(&format!("{key:<11}{value}"));
    }
    // The token is the release job's business: it has the environment's
    // secrets and the OIDC token; this job has neither.
    let mut failed = false;
    for member in &plan.members {
        let prefix = plan.member_prefix(member);
        for check in member.checks.iter().filter(|c| c.name != "token") {
            failed |= check.failed();
            ctx.printer.always(&format!("  {}", check.marked(&prefix)));
        }
    }
    if failed {
        ctx.printer.always(&format!(
            "error: {} cannot be released; fix the checks marked ✗ and tag again",
            plan.tag
        ));
        return Ok(ExitStatus::Failed);
    }
    // The release job, found by the function that wrote the workflow's
    // jobs, so the two cannot disagree on which job runs. A config that
    // gives no pipeline (a `local` repository) has no job to name.
    let config_name = config_name(repo.workdir(), &config);
    let job = ci::targets(&config, &config_name).ok().and_then(|targets| {
        ci::target_for(&targets, plan.name(), plan.group.is_some()).map(|t| t.job_id.clone())
    });
    // Package names, PEP 440 versions, repository names and job ids hold no
    // newline, so each is one `key=value` line for $GITHUB_OUTPUT.
    ctx.printer.out(&format!(
        "package={}\nversion={}\nrepository={repository}\n{}",
        plan.name(),
        plan.version,
        job.map(|job| format!("job={job}\n")).unwrap_or_default()
    ))?;
    Ok(ExitStatus::Success)
}

/// The config file's path in the repository, `/`-separated.
fn config_name(root: &Path, config: &Config) -> String {
    config
        .source
        .strip_prefix(root)
        .unwrap_or(&config.source)
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

fn read_if_exists(path: &Path) -> anyhow::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Atomically, readable by everyone like any other file of the checkout.
fn write_file(path: &Path, contents: &str) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    crate::fsutil::write_atomic_mode(path, contents.as_bytes(), 0o644)
        .with_context(|| format!("cannot write {}", path.display()))
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
