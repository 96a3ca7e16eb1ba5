//! `tagpub completions SHELL` and `tagpub man`: generated from the clap
//! definitions (`cli.rs` hands them in, as commands never import `cli`), so
//! they always list exactly the commands and options this tagpub has.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;

use crate::commands::Context;
use crate::exit::ExitStatus;

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for. Load it e.g. with
    /// `tagpub completions bash > ~/.local/share/bash-completion/completions/tagpub`,
    /// `tagpub completions zsh > "${fpath[1]}/_tagpub"` or
    /// `tagpub completions fish > ~/.config/fish/completions/tagpub.fish`.
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write tagpub.1 and a page per subcommand (tagpub-release.1, …) into
    /// this directory, instead of tagpub.1 to stdout.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

pub fn completions(
    ctx: &Context,
    args: &CompletionsArgs,
    mut cli: clap::Command,
) -> anyhow::Result<ExitStatus> {
    // Into memory first: clap_complete panics when its writer fails, and a
    // closed stdout must end the command quietly (see printer.rs).
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cli, "tagpub", &mut script);
    ctx.printer.out(&String::from_utf8_lossy(&script))?;
    Ok(ExitStatus::Success)
}

pub fn man(ctx: &Context, args: &ManArgs, cli: clap::Command) -> anyhow::Result<ExitStatus> {
    match &args.out_dir {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(cli)
                .render(&mut page)
                .context("cannot render the man page")?;
            ctx.printer.out(&String::from_utf8_lossy(&page))?;
        }
        Some(dir) => {
            let dir = ctx.cwd.join(dir);
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            clap_mangen::generate_to(cli, &dir)
                .with_context(|| format!("cannot write the man pages into {}", dir.display()))?;
            ctx.printer
                .line(&format!("wrote the man pages to {}", dir.display()));
        }
    }
    Ok(ExitStatus::Success)
}
