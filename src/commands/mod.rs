//! One file per subcommand. Commands may call anything; they turn library
//! results into output and an `ExitStatus` (`exit.rs`).

pub mod build;
pub mod bump;
pub mod check;
pub mod ci;
pub mod completions;
pub mod daemon;
pub mod demo;
pub mod doctor;
pub mod hook;
pub mod hooks;
pub mod init;
pub mod plan;
pub mod rebuild;
pub mod release;
pub mod service;
pub mod token;
pub mod watch;

use std::path::PathBuf;

use anyhow::Context as _;

use crate::config::Config;
use crate::dirs::Dirs;
use crate::git::Repo;
use crate::printer::Printer;

/// What every command gets: where it runs, how it prints, where data lives.
pub struct Context {
    pub cwd: PathBuf,
    pub printer: Printer,
    pub dirs: Dirs,
}

impl Context {
    pub fn repo(&self) -> anyhow::Result<Repo> {
        Ok(Repo::discover(&self.cwd)?)
    }

    pub fn config(&self, repo: &Repo) -> anyhow::Result<Config> {
        Ok(Config::discover(repo.workdir())?)
    }

    pub fn repo_and_config(&self) -> anyhow::Result<(Repo, Config)> {
        let repo = self.repo()?;
        let config = self.config(&repo)?;
        Ok((repo, config))
    }

    /// The repository and the config a release of `tag` uses
    /// (`Config::for_tag`): the tagged commit's, else the working tree's.
    pub fn repo_and_config_for_tag(&self, tag: &str) -> anyhow::Result<(Repo, Config)> {
        let repo = self.repo()?;
        let config = Config::for_tag(&repo, tag)?;
        Ok((repo, config))
    }
}

pub use crate::exit::UsageError;

pub fn current_dir(directory: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    Ok(match directory {
        Some(dir) if dir.is_absolute() => dir,
        Some(dir) => cwd.join(dir),
        None => cwd,
    })
}
