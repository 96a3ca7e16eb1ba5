//! The entry points the installed hooks call: `tagpub hook pre-push` (the
//! release-tag gate) and `tagpub hook nudge` (tell the daemon tags changed).

use clap::{Args, Subcommand};
use std::io::Read;

use anyhow::Context as _;
use std::path::PathBuf;
use std::str::FromStr;

use crate::commands::Context;
use crate::config::{Config, PrePush, Trigger};
use crate::exit::ExitStatus;
use crate::git::Repo;
use crate::ledger::{self, PushedTag};
use crate::pipeline::release::{Release, ReleaseOptions};
use crate::pipeline::resolve::{ResolveError, Scope, free_tag, match_tag, resolve_for};
use crate::report::{Reporter, Silent};
use crate::version::Version;

#[derive(Debug, Args)]
pub struct HookArgs {
    #[command(subcommand)]
    pub command: HookCommand,
}

#[derive(Debug, Subcommand)]
pub enum HookCommand {
    /// git's pre-push: refs on stdin, remote name and URL as arguments.
    PrePush {
        remote: Option<String>,
        url: Option<String>,
    },
    /// Tell the daemon that tags changed; never waits, never fails.
    Nudge,
}

pub fn run(ctx: &Context, args: &HookArgs) -> anyhow::Result<ExitStatus> {
    match &args.command {
        HookCommand::PrePush { remote, .. } => pre_push(ctx, remote.as_deref().unwrap_or("")),
        HookCommand::Nudge => {
            nudge(ctx);
            Ok(ExitStatus::Success)
        }
    }
}

/// Sends the daemon a nudge. Silent and infallible: a missing daemon or a
/// stale socket must never disturb git.
fn nudge(ctx: &Context) {
    let git_dir = hook_git_dir(&ctx.cwd);
    if let Err(err) = crate::ipc::send_nudge(&ctx.dirs.socket_path(), &git_dir) {
        let err = crate::exit::chain_text(&err);
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
#[derive(Debug, PartialEq, Eq)]
struct PushedRef {
    local_ref: String,
    local_sha: String,
    remote_ref: String,
}

fn is_zero(sha: &str) -> bool {
    is_zero_bytes(sha.as_bytes())
}

fn is_zero_bytes(sha: &[u8]) -> bool {
    !sha.is_empty() && sha.iter().all(|&b| b == b'0')
}

/// Git's pre-push lines, as bytes: `<local ref> SP <local oid> SP <remote
/// ref> SP <remote oid> LF`. Ref names hold no ASCII space or control
/// character but may hold any other byte, so fields are split on ASCII space
/// only (never on Unicode whitespace such as U+00A0 or U+2028), and a line
/// that cannot be read refuses the push rather than letting its ref through
/// unchecked. Returns the tag pushes, and a refusal per unreadable line.
fn read_pushed_refs(input: &[u8]) -> (Vec<PushedRef>, Vec<String>) {
    let mut refs = Vec::new();
    let mut unreadable = Vec::new();
    for line in input.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let shown = String::from_utf8_lossy(line);
        let fields: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
        let [local_ref, local_sha, remote_ref, _remote_sha] = fields[..] else {
            unreadable.push(format!(
                "cannot read git's pre-push line {shown:?} (expected 4 fields separated by spaces)"
            ));
            continue;
        };
        // A branch (or any non-tag ref) passes whatever its name.
        if !remote_ref.starts_with(b"refs/tags/") {
            continue;
        }
        let (Ok(local_ref), Ok(local_sha), Ok(remote_ref)) = (
            std::str::from_utf8(local_ref),
            std::str::from_utf8(local_sha),
            std::str::from_utf8(remote_ref),
        ) else {
            // Deleting a tag (a local oid of zeros) releases nothing.
            if is_zero_bytes(local_sha) {
                continue;
            }
            unreadable.push(format!(
                "the tag {} is not valid UTF-8, so tagpub cannot tell whether it is a release tag. Rename it (git tag <new> <old> && git tag -d <old>), or push it with --no-verify",
                String::from_utf8_lossy(remote_ref)
            ));
            continue;
        };
        refs.push(PushedRef {
            local_ref: local_ref.to_string(),
            local_sha: local_sha.to_string(),
            remote_ref: remote_ref.to_string(),
        });
    }
    (refs, unreadable)
}

fn pre_push(ctx: &Context, remote: &str) -> anyhow::Result<ExitStatus> {
    let mut input = Vec::new();
    std::io::stdin()
        .lock()
        .read_to_end(&mut input)
        .context("cannot read the refs git is pushing from stdin")?;
    let (refs, unreadable) = read_pushed_refs(&input);
    let printer = &ctx.printer;
    let mut refused = 0;
    for why in &unreadable {
        refused += 1;
        printer.always(&format!("tagpub: refusing to push:\n  ✗ {why}"));
    }
    // Branch pushes pass untouched, without even reading the config.
    if refs.is_empty() {
        return Ok(finish_refusals(printer, refused));
    }
    let repo = ctx.repo()?;
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
        // The config the release of this tag will use: the tagged commit's.
        let config = match Config::for_tag(&repo, local_tag) {
            Ok(config) => config,
            Err(crate::config::ConfigError::Missing { .. }) => continue,
            Err(err) => {
                refused += 1;
                printer.always(&format!(
                    "tagpub: refusing to push {tag}: the tagpub config is invalid:\n{}",
                    crate::exit::chain_text(&err)
                ));
                continue;
            }
        };
        match match_tag(&config, tag) {
            Err(ResolveError::NoPackage { .. }) => {
                if let Some(suggestion) = near_miss(&repo, &config, tag)? {
                    printer.always(&format!(
                        "tagpub: warning: {tag} matches no package; did you mean {suggestion}? (pushed anyway)"
                    ));
                }
                continue;
            }
            Err(err) => {
                refused += 1;
                printer.always(&format!(
                    "tagpub: refusing to push {tag}:\n  ✗ {}",
                    crate::exit::chain_text(&err)
                ));
                continue;
            }
            Ok(_) => {}
        }
        let plan = match resolve_for(&repo, &config, local_tag, None, Scope::Push) {
            Ok(plan) => plan,
            Err(err) => {
                refused += 1;
                printer.always(&format!(
                    "tagpub: refusing to push {tag}:\n  ✗ {}",
                    crate::exit::chain_text(&err)
                ));
                continue;
            }
        };
        if !plan.ok() {
            refused += 1;
            printer.always(&format!("tagpub: refusing to push {tag}:"));
            printer.always(&plan.failure_lines());
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
                printer.always(&format!(
                    "tagpub: refusing to push {tag}: it does not build cleanly:\n  ✗ {}",
                    crate::exit::chain_text(&err)
                ));
                continue;
            }
        }
        printer.always(&format!(
            "tagpub: ✓ {tag} ({} {})",
            plan.name(),
            plan.version
        ));
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
        return Ok(finish_refusals(printer, refused));
    }
    if !to_record.is_empty() {
        ledger::record_pushes(&ctx.dirs, &to_record)?;
        // The daemon starts looking for these tags on the remote.
        nudge(ctx);
    }
    Ok(ExitStatus::Success)
}

/// The gate's verdict once every line was checked: refused if any was.
fn finish_refusals(printer: &crate::printer::Printer, refused: usize) -> ExitStatus {
    if refused == 0 {
        return ExitStatus::Success;
    }
    printer.always(&format!(
        "tagpub: push refused: {refused} release tag{} would fail. Nothing was pushed. Fix the tag{0} as said above, or push without it",
        if refused == 1 { "" } else { "s" }
    ));
    ExitStatus::Failed
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
            ctx.printer.always(&format!(
                "tagpub: warning: deleting remote tag {tag}, but {} {} is already published on {}; the index keeps it, and that version cannot be published again",
                record.package,
                record.version,
                published.join(", ")
            ));
        }
    }
}

/// For a tag that matches no pattern but looks like a typo of one's prefix
/// (`hf-locl-v1.0.0` for `hf-local-v{version}`): the tag it probably meant.
fn near_miss(repo: &Repo, config: &Config, tag: &str) -> anyhow::Result<Option<String>> {
    // Where could a version start? Try each split whose tail is PEP 440.
    let splits = (1..tag.len())
        .filter(|&i| tag.is_char_boundary(i))
        .filter_map(|i| Version::from_str(&tag[i..]).ok().map(|v| (&tag[..i], v)));
    for (prefix, version) in splits {
        for pattern in config.packages.iter().flat_map(|p| &p.tags) {
            let distance = strsim::levenshtein(prefix, pattern.prefix());
            if (1..=2).contains(&distance) {
                // Never suggest a tag that exists already.
                return Ok(Some(free_tag(repo, pattern, &version)?));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ref_lines_are_bytes_split_on_ascii_spaces_only() {
        let sha = "1".repeat(40);
        let zero = "0".repeat(40);
        let mut input = Vec::new();
        // Not UTF-8: refused, and the lines after it are still read.
        input.extend_from_slice(b"refs/tags/a\xff ");
        input.extend_from_slice(format!("{sha} refs/tags/a").as_bytes());
        input.extend_from_slice(b"\xff ");
        input.extend_from_slice(format!("{zero}\n").as_bytes());
        for name in ["v1.0\u{a0}x", "v1.0\u{2028}x", "v1.0\u{85}x", "v1.0.0"] {
            input.extend_from_slice(
                format!("refs/tags/{name} {sha} refs/tags/{name} {zero}\n").as_bytes(),
            );
        }
        input.extend_from_slice(
            format!("refs/heads/main {sha} refs/heads/main {zero}\n").as_bytes(),
        );
        input.extend_from_slice(b"garbage\n");
        // Deleting a tag whose name is not UTF-8 releases nothing: it passes.
        input.extend_from_slice(b"(delete) ");
        input.extend_from_slice(format!("{zero} refs/tags/b").as_bytes());
        input.extend_from_slice(b"\xff ");
        input.extend_from_slice(format!("{sha}\n").as_bytes());
        let (refs, unreadable) = read_pushed_refs(&input);
        let names: Vec<&str> = refs.iter().map(|r| r.remote_ref.as_str()).collect();
        assert_eq!(
            names,
            [
                "refs/tags/v1.0\u{a0}x",
                "refs/tags/v1.0\u{2028}x",
                "refs/tags/v1.0\u{85}x",
                "refs/tags/v1.0.0"
            ]
        );
        assert_eq!(unreadable.len(), 2, "{unreadable:?}");
        assert!(
            unreadable[0].contains("is not valid UTF-8"),
            "{unreadable:?}"
        );
        assert!(
            unreadable[1].contains("cannot read git's pre-push line"),
            "{unreadable:?}"
        );
    }
}
