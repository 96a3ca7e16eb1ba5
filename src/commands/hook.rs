//! The entry points the installed hooks call: `tagpub hook pre-push` (the
//! release-tag gate) and `tagpub hook nudge` (tell the daemon tags changed).

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;

use crate::cli::{HookArgs, HookCommand};
use crate::commands::Context;
use crate::config::{Config, PrePush, Trigger};
use crate::ledger::{self, PushedTag};
use crate::pipeline::release::{Release, ReleaseOptions};
use crate::pipeline::resolve::{ResolveError, Scope, match_tag, resolve_for};
use crate::pipeline::{Reporter, Silent};
use crate::version::Version;

pub fn run(ctx: &Context, args: &HookArgs) -> anyhow::Result<ExitCode> {
    match &args.command {
        HookCommand::PrePush { remote, .. } => pre_push(ctx, remote.as_deref().unwrap_or("")),
        HookCommand::Nudge => {
            nudge(ctx);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Sends the daemon a nudge. Silent and infallible: a missing daemon or a
/// stale socket must never disturb git.
fn nudge(ctx: &Context) {
    let git_dir = hook_git_dir(&ctx.cwd);
    if let Err(err) = crate::ipc::send_nudge(&ctx.dirs.socket_path(), &git_dir) {
        tracing::debug!(%err, "no daemon heard the nudge");
    }
}

/// The git dir a hook runs for, found without running git (a nudge must be
/// cheap): `GIT_DIR` when git set it, else `.git` in the working tree root
/// where git starts hooks (a directory, or a worktree's `gitdir:` file), else
/// the current directory itself (a bare repository).
fn hook_git_dir(cwd: &std::path::Path) -> PathBuf {
    let absolute = |path: PathBuf| {
        if path.is_absolute() {
            path
        } else {
            cwd.join(path)
        }
    };
    if let Some(dir) = std::env::var_os("GIT_DIR").filter(|d| !d.is_empty()) {
        return absolute(PathBuf::from(dir));
    }
    let dot_git = cwd.join(".git");
    if dot_git.is_dir() {
        return dot_git;
    }
    if let Ok(text) = std::fs::read_to_string(&dot_git)
        && let Some(dir) = text.trim().strip_prefix("gitdir:")
    {
        return absolute(PathBuf::from(dir.trim()));
    }
    cwd.to_path_buf()
}

/// One line of pre-push's stdin.
struct PushedRef {
    local_ref: String,
    local_sha: String,
    remote_ref: String,
}

fn is_zero(sha: &str) -> bool {
    !sha.is_empty() && sha.bytes().all(|b| b == b'0')
}

fn pre_push(ctx: &Context, remote: &str) -> anyhow::Result<ExitCode> {
    let refs: Vec<PushedRef> = std::io::stdin()
        .lock()
        .lines()
        .map_while(Result::ok)
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let (local_ref, local_sha, remote_ref) = (words.next()?, words.next()?, words.next()?);
            Some(PushedRef {
                local_ref: local_ref.to_string(),
                local_sha: local_sha.to_string(),
                remote_ref: remote_ref.to_string(),
            })
        })
        .filter(|r| r.remote_ref.starts_with("refs/tags/"))
        .collect();
    // Branch pushes pass untouched, without even reading the config.
    if refs.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let repo = ctx.repo()?;
    let config = match Config::discover(repo.workdir()) {
        Ok(config) => config,
        Err(crate::config::ConfigError::Missing { .. }) => return Ok(ExitCode::SUCCESS),
        Err(err) => {
            eprintln!("tagpub: refusing to push tags: the tagpub config is invalid:\n{err}");
            return Ok(ExitCode::from(1));
        }
    };
    let printer = &ctx.printer;
    let mut refused = 0;
    let mut to_record = Vec::new();
    for pushed in &refs {
        let tag = pushed.remote_ref.trim_start_matches("refs/tags/");
        if is_zero(&pushed.local_sha) {
            warn_if_published(ctx, tag);
            continue;
        }
        // `git push origin a:refs/tags/b` pushes the local ref a as tag b;
        // the checks read the local tag.
        let local_tag = pushed.local_ref.strip_prefix("refs/tags/").unwrap_or(tag);
        match match_tag(&config, tag) {
            Err(ResolveError::NoPackage { .. }) => {
                if let Some(suggestion) = near_miss(&config, tag) {
                    eprintln!(
                        "tagpub: warning: {tag} matches no package; did you mean {suggestion}? (pushed anyway)"
                    );
                }
                continue;
            }
            Err(err) => {
                refused += 1;
                eprintln!("tagpub: refusing to push {tag}:\n  ✗ {err}");
                continue;
            }
            Ok(_) => {}
        }
        let plan = match resolve_for(&repo, &config, local_tag, None, Scope::Push) {
            Ok(plan) => plan,
            Err(err) => {
                refused += 1;
                eprintln!("tagpub: refusing to push {tag}:\n  ✗ {err}");
                continue;
            }
        };
        if !plan.ok() {
            refused += 1;
            eprintln!("tagpub: refusing to push {tag}:");
            for check in plan.failures() {
                eprintln!("  ✗ {}: {}", check.name, check.message);
            }
            continue;
        }
        if config.hooks.pre_push == PrePush::Build {
            let release = Release {
                repo: &repo,
                config: &config,
                dirs: &ctx.dirs,
                reporter: if ctx.printer.is_quiet() {
                    &Silent as &dyn Reporter
                } else {
                    printer
                },
            };
            let options = ReleaseOptions {
                dry_run: true,
                ..ReleaseOptions::default()
            };
            if let Err(err) = release.run(&plan.clone().for_dry_run(), &options) {
                refused += 1;
                eprintln!("tagpub: refusing to push {tag}: it does not build cleanly:\n  ✗ {err}");
                continue;
            }
        }
        eprintln!("tagpub: ✓ {tag} ({} {})", plan.package, plan.version);
        if config.defaults.trigger == Trigger::Push {
            to_record.push(PushedTag {
                git_dir: repo.git_dir().to_path_buf(),
                remote: remote.to_string(),
                tag: tag.to_string(),
                target: pushed.local_sha.clone(),
            });
        }
    }
    if refused > 0 {
        eprintln!(
            "tagpub: push refused: {refused} release tag{} would fail. Nothing was pushed. Fix the tag{0} as said above, or push without it",
            if refused == 1 { "" } else { "s" }
        );
        return Ok(ExitCode::from(1));
    }
    if !to_record.is_empty() {
        ledger::record_pushes(&ctx.dirs, &to_record)?;
        // The daemon starts looking for these tags on the remote.
        nudge(ctx);
    }
    Ok(ExitCode::SUCCESS)
}

fn warn_if_published(ctx: &Context, tag: &str) {
    for record in ledger::records_for_tag(&ctx.dirs, tag) {
        let published: Vec<&str> = record
            .repositories
            .iter()
            .filter(|(_, state)| !state.uploaded.is_empty())
            .map(|(name, _)| name.as_str())
            .collect();
        if !published.is_empty() {
            eprintln!(
                "tagpub: warning: deleting remote tag {tag}, but {} {} is already published on {}; the index keeps it, and that version cannot be published again",
                record.package,
                record.version,
                published.join(", ")
            );
        }
    }
}

/// For a tag that matches no pattern but looks like a typo of one's prefix
/// (`hf-locl-v1.0.0` for `hf-local-v{version}`): the tag it probably meant.
fn near_miss(config: &Config, tag: &str) -> Option<String> {
    // Where could a version start? Try each split whose tail is PEP 440.
    let splits = (1..tag.len())
        .filter(|&i| tag.is_char_boundary(i))
        .filter_map(|i| Version::from_str(&tag[i..]).ok().map(|v| (&tag[..i], v)));
    for (prefix, version) in splits {
        for pattern in config.packages.iter().flat_map(|p| &p.tags) {
            let distance = strsim::levenshtein(prefix, pattern.prefix());
            if (1..=2).contains(&distance) {
                return Some(pattern.render(&version));
            }
        }
    }
    None
}
