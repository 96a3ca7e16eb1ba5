//! The command line, as clap definitions only. No logic here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "tagpub",
    version,
    about = "Publish Python packages the moment their release tag is created",
    long_about = "Publish Python packages the moment their release tag is created.\n\n\
        tagpub reads tagpub.toml (or [tool.tagpub] in pyproject.toml), resolves a release \
        tag to a package and version, builds it from a clean export of the tagged commit, \
        checks the files, uploads them and verifies them on the index.",
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Run as if tagpub was started in this directory (like `git -C`).
    #[arg(short = 'C', long = "directory", global = true, value_name = "DIR")]
    pub directory: Option<PathBuf>,
    /// More output (-v: info, -vv: debug, -vvv: trace). TAGPUB_LOG takes a tracing filter and overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write tagpub.toml from the pyproject.toml files in the repository.
    Init(InitArgs),
    /// Resolve a tag and show what releasing it would do, with every check.
    Plan(PlanArgs),
    /// Build a package from HEAD (committed state) for local testing.
    Build(BuildArgs),
    /// Check built distributions (wheels and sdists) the way the index would.
    Check(CheckArgs),
    /// Build, check, upload and verify the release a tag names.
    Release(ReleaseArgs),
    /// Write the next version and changelog section; commit, tag (signed), push.
    Bump(BumpArgs),
    /// Build a published release again from its tag and compare the files with the index's (exit 0: byte-identical, 1: something differs).
    Rebuild(RebuildArgs),
    /// Store, show, delete and list upload tokens (OS keychain).
    Token(TokenArgs),
    /// Install, remove or inspect tagpub's git hooks (pre-push gate, tag nudge).
    Hooks(HooksArgs),
    /// Run, start, stop the background daemon that publishes new tags.
    Daemon(crate::commands::daemon::DaemonArgs),
    /// Install the daemon as a user service (systemd, launchd).
    Service(crate::commands::service::ServiceArgs),
    /// Choose the repositories the daemon watches.
    Watch(crate::commands::watch::WatchArgs),
    /// The daemon, its repositories, and recent jobs.
    Status(crate::commands::watch::StatusArgs),
    /// A job's build and upload output.
    Log(crate::commands::watch::LogArgs),
    /// Run a failed job again; it uploads only what the index is missing.
    Retry(crate::commands::watch::JobArgs),
    /// Cancel a job still waiting out its grace period.
    Cancel(crate::commands::watch::JobArgs),
    /// Write the CI release pipeline (GitHub Actions, GitLab CI) from the config.
    Ci(crate::commands::ci::CiArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions(crate::commands::completions::CompletionsArgs),
    /// Print the man page (roff), or write one per command with --out-dir.
    #[command(hide = true)]
    Man(crate::commands::completions::ManArgs),
    /// Entry points the installed git hooks call (not for direct use).
    #[command(hide = true)]
    Hook(HookArgs),
    /// Make a sample monorepo, tag it, publish to a local index, pip install it.
    Demo(DemoArgs),
    /// Check everything a release needs, per package, with the fix for each problem.
    Doctor(crate::commands::doctor::DoctorArgs),
}

#[derive(Debug, Args)]
pub struct HooksArgs {
    #[command(subcommand)]
    pub command: HooksCommand,
}

#[derive(Debug, Subcommand)]
pub enum HooksCommand {
    /// Install the pre-push and reference-transaction hooks (chaining existing ones).
    Install,
    /// Remove tagpub's hooks and restore exactly what was there before.
    Uninstall,
    /// Show each hook's state, the hooks dir in use and whether the daemon hears nudges.
    Status(HooksStatusArgs),
}

#[derive(Debug, Args)]
pub struct HooksStatusArgs {
    /// Print the status as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

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

#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub command: TokenCommand,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Store a token in the keychain, read from a hidden prompt or --stdin (never from argv).
    Set(TokenSetArgs),
    /// Say whether a token is stored (redacted; --show prints it to a terminal).
    Get(TokenGetArgs),
    /// Remove exactly one keychain entry.
    Delete(TokenEntryArgs),
    /// For every package and repository: where the token comes from and what it may do.
    List(TokenListArgs),
}

#[derive(Debug, Args)]
pub struct TokenEntryArgs {
    /// The repository [default: the config's default, else pypi].
    #[arg(short, long)]
    pub repository: Option<String>,
    /// A token for this package only; without it, the token for the whole
    /// repository, stored where twine/keyring look (upload URL, __token__).
    #[arg(short, long)]
    pub package: Option<String>,
}

#[derive(Debug, Args)]
pub struct TokenSetArgs {
    #[command(flatten)]
    pub entry: TokenEntryArgs,
    /// Read the token from stdin instead of a hidden prompt.
    #[arg(long)]
    pub stdin: bool,
}

#[derive(Debug, Args)]
pub struct TokenGetArgs {
    #[command(flatten)]
    pub entry: TokenEntryArgs,
    /// Print the token itself (only to a terminal).
    #[arg(long)]
    pub show: bool,
}

#[derive(Debug, Args)]
pub struct TokenListArgs {
    /// Print the list as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Write without asking.
    #[arg(short, long)]
    pub yes: bool,
    /// Overwrite an existing tagpub.toml.
    #[arg(long)]
    pub force: bool,
    /// The default repository to write (pypi, testpypi, local).
    #[arg(long, default_value = "pypi")]
    pub repository: String,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The release tag, e.g. `hf-local-v1.0.0`.
    pub tag: String,
    /// Publish to this repository instead of the configured one.
    #[arg(short, long)]
    pub repository: Option<String>,
    /// Do not ask the index what it already has of the release (its files,
    /// the deadline of a half-published release, provenance).
    #[arg(long, env = crate::env::OFFLINE.name, value_parser = clap::builder::BoolishValueParser::new())]
    pub offline: bool,
    /// Print the plan as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The package to build (name from tagpub.toml); may be left out when there is one.
    pub package: Option<String>,
    /// Where to put the files [default: dist/ in the package's directory].
    #[arg(short, long)]
    pub out_dir: Option<PathBuf>,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Wheels (.whl) and sdists (.tar.gz, .zip).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Print the reports as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Like `twine check --strict`: a missing long description or content
    /// type is an error, not a warning.
    #[arg(long)]
    pub strict: bool,
}

#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// The release tag, e.g. `hf-local-v1.0.0`.
    pub tag: String,
    /// Build and check, but upload nothing.
    #[arg(long, short = 'n')]
    pub dry_run: bool,
    /// Publish to this repository instead of the configured one.
    #[arg(short, long)]
    pub repository: Option<String>,
    /// Upload files without PEP 740 attestations even though the project's
    /// latest release had them (the index then shows its provenance as lost).
    #[arg(long)]
    pub allow_unattested: bool,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

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

#[derive(Debug, Args)]
pub struct RebuildArgs {
    /// The release tag, e.g. `hf-local-v1.0.0`.
    pub tag: String,
    /// Compare with this repository instead of the configured one.
    #[arg(short, long)]
    pub repository: Option<String>,
    /// Print the comparison as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the sample repository and index instead of deleting them.
    #[arg(long)]
    pub keep: bool,
}
