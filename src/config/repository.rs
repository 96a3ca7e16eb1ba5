//! The repositories a config can publish to: the built-in `pypi`,
//! `testpypi` and `local`, and `[repository.NAME]` tables.

use std::time::Duration;

use super::{Config, Package};

pub const PYPI_UPLOAD: &str = "https://upload.pypi.org/legacy/";
pub const PYPI_SIMPLE: &str = "https://pypi.org/simple/";
pub const TESTPYPI_UPLOAD: &str = "https://test.pypi.org/legacy/";
pub const TESTPYPI_SIMPLE: &str = "https://test.pypi.org/simple/";

/// Repositories every config knows without a `[repository.NAME]` table.
pub const BUILTIN_REPOSITORIES: [&str; 3] = ["pypi", "testpypi", "local"];

#[derive(Debug, Clone)]
pub struct RepositoryConfig {
    pub url: String,
    pub simple_url: Option<String>,
    pub token_env: Option<String>,
    /// Where its trusted publishing endpoints (`/_/oidc/…`) live; default:
    /// the origin of `url` (see `credentials/oidc.rs`).
    pub oidc_url: Option<String>,
    /// The login for uploads: `__token__` (PyPI-style tokens) unless the
    /// index has users of its own (devpi, Artifactory); the token is then
    /// that user's password.
    pub username: Option<String>,
    /// How long after a release's first file the index still takes new
    /// files for it (PyPI: 14 days); `None`: no limit.
    pub file_window: Option<Duration>,
}

impl Config {
    /// The repository a package publishes to, honouring an override.
    pub fn repository_for<'a>(
        &'a self,
        package: &'a Package,
        cli_override: Option<&'a str>,
    ) -> &'a str {
        cli_override
            .or(package.repository.as_deref())
            .unwrap_or(&self.defaults.repository)
    }

    /// How long after a release's first upload `name` still takes files
    /// for it: PyPI and TestPyPI take none after 14 days (warehouse #19727,
    /// July 2026); other indexes only with `file-window`.
    pub fn file_window(&self, name: &str) -> Option<Duration> {
        match self.repositories.get(name) {
            Some(repository) => repository.file_window,
            None if matches!(name, "pypi" | "testpypi") => {
                Some(Duration::from_secs(14 * 24 * 60 * 60))
            }
            None => None,
        }
    }

    /// Whether `name` is a repository this config can publish to.
    pub fn knows_repository(&self, name: &str) -> bool {
        BUILTIN_REPOSITORIES.contains(&name) || self.repositories.contains_key(name)
    }

    /// Upload URL and, if known, simple index URL of a remote repository;
    /// `None` for `local` and unknown names.
    pub fn repository_urls(&self, name: &str) -> Option<(String, Option<String>)> {
        Config::builtin_repository_urls(name).or_else(|| {
            self.repositories
                .get(name)
                .map(|r| (r.url.clone(), r.simple_url.clone()))
        })
    }

    /// The URLs of `pypi` and `testpypi`.
    pub fn builtin_repository_urls(name: &str) -> Option<(String, Option<String>)> {
        match name {
            "pypi" => Some((PYPI_UPLOAD.into(), Some(PYPI_SIMPLE.into()))),
            "testpypi" => Some((TESTPYPI_UPLOAD.into(), Some(TESTPYPI_SIMPLE.into()))),
            _ => None,
        }
    }

    /// Every repository name, built-in first.
    pub fn repository_names(&self) -> Vec<String> {
        BUILTIN_REPOSITORIES
            .iter()
            .map(|s| s.to_string())
            .chain(self.repositories.keys().cloned())
            .collect()
    }
}
