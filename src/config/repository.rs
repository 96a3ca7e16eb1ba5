//! The repositories a config can publish to: the built-in `pypi`,
//! `testpypi` and `local`, and `[repository.NAME]` tables. A name is
//! resolved once into a [`RepositoryTarget`], which the pipeline and the
//! commands match on (no code compares repository names).

use std::time::Duration;

use super::{Config, Package};

pub const PYPI_UPLOAD: &str = "https://upload.pypi.org/legacy/";
pub const PYPI_SIMPLE: &str = "https://pypi.org/simple/";
pub const TESTPYPI_UPLOAD: &str = "https://test.pypi.org/legacy/";
pub const TESTPYPI_SIMPLE: &str = "https://test.pypi.org/simple/";

/// Repositories every config knows without a `[repository.NAME]` table.
pub const BUILTIN_REPOSITORIES: [&str; 3] = ["pypi", "testpypi", "local"];

/// How long PyPI and TestPyPI take new files for a release after its first
/// (warehouse #19727, July 2026).
const WAREHOUSE_FILE_WINDOW: Duration = Duration::from_secs(14 * 24 * 60 * 60);

#[derive(Debug, Clone, PartialEq, Eq)]
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

/// Where a release goes, resolved from the repository's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepositoryTarget {
    /// The built-in `local`: a PEP 503 directory index in the data dir.
    Local,
    /// An index with the legacy upload API: `pypi`, `testpypi` or a
    /// `[repository.NAME]`.
    Remote(RemoteRepository),
}

/// An index tagpub uploads to over HTTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteRepository {
    /// Its name in the config (`pypi`, `internal`).
    pub name: String,
    /// `Some` for the built-in `pypi` and `testpypi`.
    pub warehouse: Option<Warehouse>,
    /// Its `[repository.NAME]` table, or the built-in's equivalent.
    pub settings: RepositoryConfig,
}

/// The Warehouse instances tagpub has built in: what trusted publishing
/// and the CI pipelines need to know about them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Warehouse {
    Pypi,
    TestPypi,
}

impl Warehouse {
    /// The audience of the OIDC token it accepts (and its built-in name).
    pub fn audience(self) -> &'static str {
        match self {
            Warehouse::Pypi => "pypi",
            Warehouse::TestPypi => "testpypi",
        }
    }

    /// Its web origin: project pages, trusted publisher settings.
    pub fn origin(self) -> &'static str {
        match self {
            Warehouse::Pypi => "https://pypi.org",
            Warehouse::TestPypi => "https://test.pypi.org",
        }
    }

    fn settings(self) -> RepositoryConfig {
        let (upload, simple) = match self {
            Warehouse::Pypi => (PYPI_UPLOAD, PYPI_SIMPLE),
            Warehouse::TestPypi => (TESTPYPI_UPLOAD, TESTPYPI_SIMPLE),
        };
        RepositoryConfig {
            url: upload.to_string(),
            simple_url: Some(simple.to_string()),
            token_env: None,
            oidc_url: None,
            username: None,
            file_window: Some(WAREHOUSE_FILE_WINDOW),
        }
    }
}

impl RepositoryTarget {
    /// `local`, `pypi` or `testpypi`; `None` for other names.
    pub fn builtin(name: &str) -> Option<RepositoryTarget> {
        let warehouse = match name {
            "local" => return Some(RepositoryTarget::Local),
            "pypi" => Warehouse::Pypi,
            "testpypi" => Warehouse::TestPypi,
            _ => return None,
        };
        Some(RepositoryTarget::Remote(RemoteRepository {
            name: name.to_string(),
            warehouse: Some(warehouse),
            settings: warehouse.settings(),
        }))
    }

    pub fn name(&self) -> &str {
        match self {
            RepositoryTarget::Local => "local",
            RepositoryTarget::Remote(remote) => &remote.name,
        }
    }

    /// The remote index, unless this is the local one.
    pub fn remote(&self) -> Option<&RemoteRepository> {
        match self {
            RepositoryTarget::Local => None,
            RepositoryTarget::Remote(remote) => Some(remote),
        }
    }

    /// How long after a release's first upload the index still takes files
    /// for it: PyPI and TestPyPI take none after 14 days; other indexes
    /// only with `file-window`; the local index always does.
    pub fn file_window(&self) -> Option<Duration> {
        self.remote()?.settings.file_window
    }
}

impl RemoteRepository {
    /// The legacy upload API's URL, as configured (also the keychain
    /// service under which twine finds a token).
    pub fn upload_url(&self) -> &str {
        &self.settings.url
    }
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

    /// The repository named `name`, built in or configured; `None` when
    /// this config does not know it (only a `--repository` can name one:
    /// the config's own names are checked when it is loaded).
    pub fn repository(&self, name: &str) -> Option<RepositoryTarget> {
        RepositoryTarget::builtin(name).or_else(|| {
            self.repositories.get(name).map(|settings| {
                RepositoryTarget::Remote(RemoteRepository {
                    name: name.to_string(),
                    warehouse: None,
                    settings: settings.clone(),
                })
            })
        })
    }

    /// Whether `name` is a repository this config can publish to.
    pub fn knows_repository(&self, name: &str) -> bool {
        self.repository(name).is_some()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Each built-in resolves to its kind, a `[repository.NAME]` to a remote
    /// with its own settings, and only PyPI's have the 14-day window.
    #[test]
    fn names_resolve_once_into_targets() {
        let text = "[repository.internal]\nurl = \"https://pypi.example.org/legacy/\"\n\
                    file-window = \"2days\"\n[repository.open]\nurl = \"https://o.example.org/legacy/\"\n\
                    [[package]]\nname = \"a\"\ntags = [\"v{version}\"]\n";
        let config = Config::parse(std::path::Path::new("tagpub.toml"), text).unwrap();
        assert_eq!(config.repository("local"), Some(RepositoryTarget::Local));
        let pypi = config.repository("pypi").unwrap();
        let pypi = pypi.remote().unwrap();
        assert_eq!(pypi.warehouse, Some(Warehouse::Pypi));
        assert_eq!(pypi.upload_url(), PYPI_UPLOAD);
        assert_eq!(pypi.warehouse.unwrap().audience(), "pypi");
        let testpypi = config.repository("testpypi").unwrap();
        assert_eq!(testpypi.file_window(), Some(WAREHOUSE_FILE_WINDOW));
        assert_eq!(
            testpypi.remote().unwrap().warehouse.unwrap().origin(),
            "https://test.pypi.org"
        );
        let internal = config.repository("internal").unwrap();
        assert_eq!(internal.name(), "internal");
        assert_eq!(internal.remote().unwrap().warehouse, None);
        assert_eq!(
            internal.file_window(),
            Some(Duration::from_secs(2 * 24 * 60 * 60))
        );
        assert_eq!(config.repository("open").unwrap().file_window(), None);
        assert_eq!(RepositoryTarget::Local.file_window(), None);
        assert_eq!(config.repository("nope"), None);
        assert_eq!(RepositoryTarget::builtin("internal"), None);
    }
}
