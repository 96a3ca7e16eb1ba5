//! `tagpub bump TARGET LEVEL [--commit] [--tag] [--sign] [--push]`: writes
//! the next version and the changelog step (`bump::BumpPlan`), after the
//! checks a release of it would meet, then commits exactly those files,
//! tags and pushes with the user's own git (signing keys, credentials).

use anyhow::Context as _;
use clap::Args;

use crate::bump::level::Level;
use crate::bump::{self, BumpPlan};
use crate::commands::{Context, UsageError};
use crate::config::{Config, RepositoryTarget};
use crate::credentials;
use crate::exit::ExitStatus;
use crate::git::Repo;
use crate::pipeline::index_state::version_files;
use crate::pipeline::upload::open_repository;
use crate::report::Reporter as _;

#[derive(Debug, Args)]
pub struct BumpArgs {
    /// The package or release group (its name, or a package's tag prefix such as `hf-local`).
    pub target: String,
    /// major, minor, patch, stable, a, b, rc, post, dev, or a PEP 440 version (`1.2.0rc1`).
    pub level: String,
    /// Commit exactly the files the bump changed.
    #[arg(long)]
    pub commit: bool,
    /// Create the annotated release tag (the first tag pattern), the changelog section as its message.
    #[arg(long)]
    pub tag: bool,
    /// Sign the tag with git's configured signing (OpenPGP or SSH, `gpg.format`).
    #[arg(long)]
    pub sign: bool,
    /// Push the commit and the tag to the current branch's upstream.
    #[arg(long)]
    pub push: bool,
    /// Print the diff and the git commands; write nothing.
    #[arg(long, short = 'n')]
    pub dry_run: bool,
    /// Do not ask the index whether the version is new.
    #[arg(long, env = crate::env::OFFLINE.name, value_parser = clap::builder::BoolishValueParser::new())]
    pub offline: bool,
}

pub fn run(ctx: &Context, args: &BumpArgs) -> anyhow::Result<ExitStatus> {
    if args.sign && !args.tag {
        return Err(UsageError("--sign signs the tag: add --tag".into()).into());
    }
    if args.push && !args.commit && !args.tag {
        return Err(UsageError(
            "--push pushes the commit and the tag: add --commit or --tag".into(),
        )
        .into());
    }
    let (repo, config) = ctx.repo_and_config()?;
    let target = bump::find_target(&config, &args.target)?;
    let level: Level = args
        .level
        .parse()
        .map_err(|e: bump::level::LevelError| UsageError(e.to_string()))?;
    let plan =
        BumpPlan::prepare(&repo, &config, target, &level, &today()).map_err(|err| match err {
            // The version asked for is the user's mistake, not a failure.
            bump::BumpError::Level(err) => anyhow::Error::from(UsageError(err.to_string())),
            other => other.into(),
        })?;
    let tagging = args.tag;
    if tagging && !args.commit && !plan.edits.is_empty() {
        return Err(UsageError(format!(
            "--tag without --commit would tag a commit without the new version ({} to change): add --commit",
            plan.edits
                .iter()
                .map(|e| e.path.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into());
    }

    let printer = &ctx.printer;
    printer.line(&format!(
        "{} {} → {} (tag {})",
        plan.name, plan.current, plan.next, plan.tag
    ));
    for warning in &plan.warnings {
        printer.warn(warning);
    }
    let failures = release_checks(ctx, &repo, &config, &plan, args)?;
    for failure in &failures {
        printer.line(&format!("  ✗ {failure}"));
    }

    let commands = git_commands(&plan, args, &repo)?;
    if args.dry_run {
        for edit in &plan.edits {
            printer.line(
                &similar::TextDiff::from_lines(&edit.before, &edit.after)
                    .unified_diff()
                    .header(&format!("a/{}", edit.path), &format!("b/{}", edit.path))
                    .to_string(),
            );
        }
        for command in &commands {
            printer.line(&format!("would run: git {}", shown(command)));
        }
        return Ok(if failures.is_empty() {
            printer.success("dry run: nothing written");
            ExitStatus::Success
        } else {
            ExitStatus::Failed
        });
    }
    if !failures.is_empty() {
        anyhow::bail!(
            "{} {} would not release, so nothing was written:\n{}",
            plan.name,
            plan.next,
            failures
                .iter()
                .map(|f| format!("  ✗ {f}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

    for edit in &plan.edits {
        let path = repo.workdir().join(&edit.path);
        std::fs::write(&path, &edit.after)
            .with_context(|| format!("cannot write {}", path.display()))?;
        printer.info(&format!("wrote {}", edit.path));
    }
    let message_file = tempfile::NamedTempFile::new().context("cannot create a temp file")?;
    std::fs::write(message_file.path(), &plan.message).context("cannot write the tag message")?;
    for command in commands {
        let command: Vec<String> = command
            .into_iter()
            .map(|arg| {
                if arg == MESSAGE_FILE {
                    message_file.path().display().to_string()
                } else {
                    arg
                }
            })
            .collect();
        git(&repo, &command)?;
        printer.info(&format!("git {}", shown(&command)));
    }
    printer.success(&match (args.commit, tagging, args.push) {
        (_, true, true) => format!("{} pushed: the daemon or CI publishes it", plan.tag),
        (_, true, false) => format!(
            "tagged {}: the daemon publishes it (with trigger = \"push\", once you push it)",
            plan.tag
        ),
        (true, false, _) => format!("committed {} {}; tag it with --tag", plan.name, plan.next),
        (false, false, _) => format!(
            "wrote {} {}; commit and tag it (or run again with --commit --tag)",
            plan.name, plan.next
        ),
    });
    Ok(ExitStatus::Success)
}

/// A command line as a shell would need it (words with spaces quoted).
fn shown(command: &[String]) -> String {
    command
        .iter()
        .map(|arg| {
            if arg.contains(char::is_whitespace) {
                format!("'{arg}'")
            } else {
                arg.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Stands in for the tag message file's path until it exists.
const MESSAGE_FILE: &str = "<message-file>";

/// What the release of the new version would meet: the version new on
/// each member's index and a token for each (the tag's absence is part
/// of the plan already). Staged changes would slip into `--commit`.
fn release_checks(
    ctx: &Context,
    repo: &Repo,
    config: &Config,
    plan: &BumpPlan,
    args: &BumpArgs,
) -> anyhow::Result<Vec<String>> {
    let mut failures = Vec::new();
    let head = repo.head_commit()?;
    let ci_pipeline = [
        crate::ci::github::WORKFLOW_PATH,
        crate::ci::gitlab::INCLUDE_PATH,
    ]
    .into_iter()
    .find(|path| repo.read_file(&head, path).ok().flatten().is_some());
    if args.commit {
        let staged = git(repo, &["diff", "--cached", "--name-only"])?;
        if !staged.trim().is_empty() {
            failures.push(format!(
                "changes are staged ({}): --commit commits only the bump, so commit or unstage them first",
                staged.split_whitespace().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    for name in &plan.packages {
        let Some(package) = config.package(name) else {
            continue;
        };
        let repository = config.repository_for(package, None);
        let target = config.repository(repository);
        if let Some(index) = target
            .as_ref()
            .and_then(|target| open_repository(target, &ctx.dirs))
            && !args.offline
        {
            match index.list_files_once(name) {
                Ok(listed) if !version_files(&listed, &plan.next).is_empty() => {
                    failures.push(format!(
                        "{repository} already has {name} {}: pick another version",
                        plan.next
                    ))
                }
                Ok(_) => {}
                Err(err) => failures.push(crate::exit::chain_text_in(
                    &format!(
                        "cannot ask {repository} whether {name} {} is new (--offline skips this)",
                        plan.next
                    ),
                    &err,
                )),
            }
        }
        if let Some(RepositoryTarget::Remote(target)) = &target {
            let lookup = credentials::lookup_token(package, target);
            if lookup.token.is_none() {
                match &ci_pipeline {
                    // CI publishes the pushed tag by trusted publishing.
                    Some(pipeline) => ctx.printer.warn(&format!(
                        "no token for `{name}` on {repository} here; {pipeline} publishes the tag once it is pushed"
                    )),
                    None => failures.push(format!(
                        "no token for `{name}` on {repository}: {}",
                        credentials::missing_token_help(package, target, &lookup)
                    )),
                }
            }
        }
    }
    Ok(failures)
}

/// The git commands the options ask for, in order.
fn git_commands(plan: &BumpPlan, args: &BumpArgs, repo: &Repo) -> anyhow::Result<Vec<Vec<String>>> {
    let paths: Vec<String> = plan.edits.iter().map(|e| e.path.clone()).collect();
    let mut commands = Vec::new();
    let own = |parts: &[&str]| parts.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    if args.commit && !paths.is_empty() {
        let mut add = own(&["add", "--"]);
        add.extend(paths.iter().cloned());
        commands.push(add);
        let mut commit = own(&["commit", "--quiet", "-m"]);
        commit.push(format!("Release {} {}", plan.name, plan.next));
        commit.push("--".into());
        commit.extend(paths.iter().cloned());
        commands.push(commit);
    }
    if args.tag {
        // `whitespace`: the changelog's `### Added` lines are not comments.
        let mut tag = own(&["tag", "-a", "--cleanup=whitespace"]);
        if args.sign {
            tag.push("-s".into());
        }
        tag.extend(own(&["-F", MESSAGE_FILE, &plan.tag]));
        commands.push(tag);
    }
    if args.push {
        let upstream = git(
            repo,
            &["rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{upstream}"],
        )
        .map_err(|_| {
            UsageError(
                "--push needs an upstream for the current branch: set one with `git push -u REMOTE BRANCH`".into(),
            )
        })?;
        let upstream = upstream.trim();
        let (remote, branch) = upstream
            .split_once('/')
            .with_context(|| format!("cannot read the upstream `{upstream}`"))?;
        let mut push = own(&["push", "--atomic", remote]);
        if args.commit {
            push.push(format!("HEAD:refs/heads/{branch}"));
        }
        if args.tag {
            push.push(format!("refs/tags/{}", plan.tag));
        }
        commands.push(push);
    }
    Ok(commands)
}

fn git(repo: &Repo, args: &[impl AsRef<str>]) -> anyhow::Result<String> {
    Ok(bump::user_git(repo.workdir(), args)?)
}

/// `YYYY-MM-DD` (UTC), for the changelog's heading.
fn today() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()[..10].to_string()
}
