//! `tagpub token set|get|delete|list`: tokens in the OS keychain.

use clap::{Args, Subcommand};
use std::io::{IsTerminal, Read};

use anyhow::Context as _;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use crate::commands::{Context, UsageError};
use crate::config::{BUILTIN_REPOSITORIES, Config, RepositoryTarget, Warehouse};
use crate::credentials::{self, keychain, macaroon};
use crate::exit::ExitStatus;

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

pub fn run(ctx: &Context, args: &TokenArgs) -> anyhow::Result<ExitStatus> {
    match &args.command {
        TokenCommand::Set(args) => set(ctx, args),
        TokenCommand::Get(args) => get(ctx, args),
        TokenCommand::Delete(args) => delete(ctx, args),
        TokenCommand::List(args) => list(ctx, args),
    }
}

/// The config of the repository tagpub runs in, if any: it names the
/// default repository and custom repository URLs.
fn optional_config(ctx: &Context) -> Option<Config> {
    let repo = ctx.repo().ok()?;
    ctx.config(&repo).ok()
}

/// Which keychain entry the arguments name, and a description of it.
struct EntryChoice {
    service: String,
    user: String,
    repository: String,
    /// PyPI or TestPyPI, whose tokens are all `pypi-` macaroons.
    warehouse: Option<Warehouse>,
    package: Option<String>,
}

fn choose_entry(ctx: &Context, args: &TokenEntryArgs) -> anyhow::Result<EntryChoice> {
    let config = optional_config(ctx);
    let repository = args
        .repository
        .clone()
        .or_else(|| config.as_ref().map(|c| c.defaults.repository.clone()))
        .unwrap_or_else(|| "pypi".to_string());
    let target = match &config {
        Some(config) => config.repository(&repository),
        None => RepositoryTarget::builtin(&repository),
    };
    let remote = match target {
        Some(RepositoryTarget::Remote(remote)) => remote,
        Some(RepositoryTarget::Local) => {
            return Err(UsageError("the local index needs no token".into()).into());
        }
        None => {
            return Err(UsageError(format!(
                "unknown repository `{repository}`: use {} or one defined in tagpub.toml",
                BUILTIN_REPOSITORIES.join(", ")
            ))
            .into());
        }
    };
    let (service, user) = match &args.package {
        Some(package) => credentials::package_entry(&repository, package),
        None => credentials::repository_entry(remote.upload_url()),
    };
    Ok(EntryChoice {
        service,
        user,
        repository,
        warehouse: remote.warehouse,
        package: args.package.clone(),
    })
}

impl EntryChoice {
    fn describe(&self) -> String {
        match &self.package {
            Some(package) => format!("the token for {package} on {}", self.repository),
            None => format!(
                "the token for {} ({} {})",
                self.repository, self.service, self.user
            ),
        }
    }
}

fn read_secret(args: &TokenSetArgs, what: &str) -> anyhow::Result<SecretString> {
    let text = if args.stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the token from stdin")?;
        text
    } else if std::io::stdin().is_terminal() {
        rpassword::prompt_password(format!("Paste {what} (input is hidden): "))
            .context("cannot read the token from the terminal")?
    } else {
        return Err(UsageError(
            "stdin is not a terminal: pipe the token in with --stdin (tokens are never taken from the command line)".into(),
        )
        .into());
    };
    let secret = SecretString::from(text.trim().to_string());
    if secret.expose_secret().is_empty() {
        return Err(UsageError("the token is empty".into()).into());
    }
    if secret.expose_secret().chars().any(char::is_whitespace) {
        return Err(
            UsageError("the token contains whitespace: paste exactly one token".into()).into(),
        );
    }
    Ok(secret)
}

fn set(ctx: &Context, args: &TokenSetArgs) -> anyhow::Result<ExitStatus> {
    let entry = choose_entry(ctx, &args.entry)?;
    let secret = read_secret(args, &entry.describe())?;
    let pypi_like = entry.warehouse.is_some();
    let info = match macaroon::inspect(secret.expose_secret()) {
        Ok(info) => Some(info),
        Err(why) if pypi_like || secret.expose_secret().starts_with(macaroon::PYPI_PREFIX) => {
            return Err(UsageError(format!(
                "this is not a PyPI API token: {why}. Create one in your account settings on the index (API tokens) and paste it whole, including `pypi-`"
            ))
            .into());
        }
        Err(_) => None,
    };
    if let (Some(info), Some(package)) = (&info, &entry.package)
        && let Some(refusal) = info.refusal_now(package)
    {
        return Err(UsageError(format!("not stored: {refusal}")).into());
    }
    keychain::set(
        &entry.service,
        &entry.user,
        &secret,
        &format!("tagpub: {}", entry.describe()),
    )?;
    let scope = info
        .map(|i| format!(", {}", i.summary()))
        .unwrap_or_default();
    ctx.printer.success(&format!(
        "stored {} in the keychain: {}{scope}",
        entry.describe(),
        macaroon::redact(secret.expose_secret())
    ));
    Ok(ExitStatus::Success)
}

fn get(ctx: &Context, args: &TokenGetArgs) -> anyhow::Result<ExitStatus> {
    let entry = choose_entry(ctx, &args.entry)?;
    if args.show && !std::io::stdout().is_terminal() {
        return Err(UsageError(
            "--show prints the token only to a terminal, never into a pipe or file".into(),
        )
        .into());
    }
    let Some(secret) = keychain::get(&entry.service, &entry.user)? else {
        ctx.printer.line(&format!(
            "no {} is stored in the keychain",
            entry.describe()
        ));
        return Ok(ExitStatus::Failed);
    };
    let scope = macaroon::inspect(secret.expose_secret())
        .map(|info| format!(" ({})", info.summary()))
        .unwrap_or_default();
    ctx.printer.line(&format!(
        "{}: {}{scope}",
        entry.describe(),
        macaroon::redact(secret.expose_secret())
    ));
    if args.show {
        ctx.printer
            .out_raw(&format!("{}\n", secret.expose_secret()))?;
    }
    Ok(ExitStatus::Success)
}

fn delete(ctx: &Context, args: &TokenEntryArgs) -> anyhow::Result<ExitStatus> {
    let entry = choose_entry(ctx, args)?;
    if keychain::delete(&entry.service, &entry.user)? {
        ctx.printer
            .success(&format!("deleted {} from the keychain", entry.describe()));
        Ok(ExitStatus::Success)
    } else {
        ctx.printer.line(&format!(
            "no {} is stored in the keychain; nothing deleted",
            entry.describe()
        ));
        Ok(ExitStatus::Failed)
    }
}

#[derive(Serialize)]
struct TokenRow {
    package: String,
    repository: String,
    source: Option<credentials::TokenSource>,
    token: Option<String>,
    scope: Option<macaroon::TokenInfo>,
    /// Why the index would refuse it for this package, if it would.
    problem: Option<String>,
}

fn list(ctx: &Context, args: &TokenListArgs) -> anyhow::Result<ExitStatus> {
    let (_, config) = ctx.repo_and_config()?;
    let mut rows = Vec::new();
    let mut keychain_problem = None;
    for package in &config.packages {
        for repository in config.repository_names() {
            let Some(RepositoryTarget::Remote(target)) = config.repository(&repository) else {
                continue;
            };
            let lookup = credentials::lookup_token(package, &target);
            keychain_problem = keychain_problem.or(lookup.keychain_problem);
            let token = lookup.token;
            rows.push(TokenRow {
                package: package.name.clone(),
                repository: repository.clone(),
                problem: token.as_ref().and_then(|t| t.refusal(&package.name)),
                scope: token.as_ref().and_then(|t| t.info()),
                token: token.as_ref().map(|t| t.redacted()),
                source: token.map(|t| t.source),
            });
        }
    }
    if args.json {
        ctx.printer.json(&serde_json::json!({
            "tokens": rows,
            "keychain_problem": keychain_problem,
        }))?;
        return Ok(ExitStatus::Success);
    }
    for row in &rows {
        let head = format!("{} on {}", row.package, row.repository);
        match (&row.source, &row.token) {
            (Some(source), Some(token)) => {
                let scope = row
                    .scope
                    .as_ref()
                    .map(|s| format!(" — {}", s.summary()))
                    .unwrap_or_default();
                let line = format!("{head}: {source}, {token}{scope}");
                ctx.printer.line(&match &row.problem {
                    Some(problem) => ctx.printer.fail(&format!("{line} — {problem}")),
                    None => ctx.printer.pass(&line),
                });
            }
            _ => ctx
                .printer
                .line(&ctx.printer.warning(&format!("{head}: no token"))),
        }
    }
    if let Some(problem) = keychain_problem {
        ctx.printer.line(
            &ctx.printer
                .warning(&format!("the keychain was not searched: {problem}")),
        );
    }
    Ok(ExitStatus::Success)
}
