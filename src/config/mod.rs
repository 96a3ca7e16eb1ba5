//! `tagpub.toml` (or `[tool.tagpub]` in the root `pyproject.toml`): the
//! types every command reads, and the lookups on them. Each job is a
//! submodule: `load` (finding and reading the file, the raw TOML schema with
//! spans), `validate` (the whole document: packages, groups, overlapping
//! patterns), `fields` (one value's checks: URLs, env names, commands,
//! paths), `settings` (the enums of single settings), `repository` (the
//! built-in and configured repositories), `signers` (`allowed-signers` and
//! the signature policy).

mod fields;
mod load;
mod repository;
mod settings;
mod signers;
mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::version::TagPattern;

pub use repository::{
    BUILTIN_REPOSITORIES, PYPI_SIMPLE, PYPI_UPLOAD, RemoteRepository, RepositoryConfig,
    RepositoryTarget, TESTPYPI_SIMPLE, TESTPYPI_UPLOAD, Warehouse,
};
pub use settings::{EpochSource, PrePush, SandboxMode, SourceDateEpoch, Trigger, Verify};
pub use signers::{AllowedSigner, SignaturePolicy};

pub const CONFIG_FILE: &str = "tagpub.toml";
pub const PYPROJECT_FILE: &str = "pyproject.toml";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "no tagpub configuration in {root}: neither {CONFIG_FILE} nor [tool.tagpub] in {PYPROJECT_FILE}. Run `tagpub init` to write one"
    )]
    Missing { root: PathBuf },
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Git(#[from] crate::git::GitError),
    #[error("{location}: {message}{}", help.as_ref().map(|h| format!("\n  help: {h}")).unwrap_or_default())]
    Invalid {
        location: Location,
        message: String,
        help: Option<String>,
    },
}

// Every configuration problem is the user's to fix (exit 2), including a
// config that cannot be read from git.
impl crate::exit::Classify for ConfigError {
    fn exit_status(&self) -> crate::exit::ExitStatus {
        crate::exit::ExitStatus::Usage
    }
}

/// `file:line:col` of a problem, for editors and humans alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.path.display(), self.line, self.column)
    }
}

#[derive(Debug, Clone)]
pub struct Defaults {
    pub repository: String,
    pub trigger: Trigger,
    pub grace: Duration,
    pub require_annotated: bool,
    pub require_changelog: bool,
    pub build_command: Option<Vec<String>>,
    pub verify: Verify,
    pub sandbox: SandboxMode,
    /// Extra paths a sandboxed build may read and write (`~` expanded).
    pub sandbox_allow: Vec<PathBuf>,
    /// `source-date-epoch`: the build's SOURCE_DATE_EPOCH (see
    /// `pipeline::build::pick_source_date_epoch`); `None`: tagpub's default.
    pub source_date_epoch: Option<SourceDateEpoch>,
    /// `allow-unattested`: upload files without PEP 740 attestations to a
    /// project whose latest release had them (PyPI then shows the provenance
    /// as lost).
    pub allow_unattested: bool,
    /// `require-signed`: a release tag must carry a good signature
    /// (`pipeline::signature`).
    pub require_signed: bool,
    /// `allowed-signers`: who may sign release tags (OpenPGP fingerprints or
    /// long key ids, SSH principals or `SHA256:` key fingerprints); empty:
    /// anyone the keyring / allowed-signers file verifies.
    pub allowed_signers: Vec<String>,
}

/// What the daemon does when a job finishes, besides logging it.
#[derive(Debug, Clone, Default)]
pub struct Notify {
    /// Run with the outcome as JSON on stdin (chat webhooks and the like).
    pub command: Option<Vec<String>>,
    /// `false` turns the desktop notification off for this repository.
    pub desktop: Option<bool>,
}

#[derive(Debug, Clone, Default)]
pub struct Hooks {
    pub pre_push: PrePush,
}

#[derive(Debug, Clone)]
pub struct Package {
    pub name: String,
    /// Relative to the repository root, `/`-separated, `""` for the root.
    pub path: String,
    pub tags: Vec<TagPattern>,
    pub token_env: Option<String>,
    pub repository: Option<String>,
    pub build_command: Option<Vec<String>>,
    /// Overrides `[defaults] verify`.
    pub verify: Option<Verify>,
    /// Overrides `[defaults] sandbox`.
    pub sandbox: Option<SandboxMode>,
    /// Overrides `[defaults] allow-unattested`.
    pub allow_unattested: Option<bool>,
    /// Overrides `[defaults] require-signed`.
    pub require_signed: Option<bool>,
    /// Overrides `[defaults] allowed-signers`.
    pub allowed_signers: Option<Vec<String>>,
    /// The `[[group]]` this package is a member of.
    pub group: Option<String>,
}

/// Packages released together by one tag, at one version (`[[group]]`).
#[derive(Debug, Clone)]
pub struct Group {
    pub name: String,
    pub tags: Vec<TagPattern>,
    /// Member package names as configured, in config order.
    pub members: Vec<String>,
}

impl Package {
    /// This package's `sandbox`, else `[defaults] sandbox`.
    pub fn sandbox(&self, defaults: &Defaults) -> SandboxMode {
        self.sandbox.unwrap_or(defaults.sandbox)
    }

    /// The file inside the repository that holds this package's metadata.
    pub fn pyproject_path(&self) -> String {
        join_repo_path(&self.path, PYPROJECT_FILE)
    }

    pub fn display_path(&self) -> &str {
        if self.path.is_empty() {
            "."
        } else {
            &self.path
        }
    }
}

/// `a/b` + `c` → `a/b/c`; `""` + `c` → `c`.
pub fn join_repo_path(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from (in the working tree, also when it was
    /// read at a commit: the file to edit).
    pub source: PathBuf,
    /// Whether it was read at a tagged commit or from the working tree.
    pub origin: ConfigOrigin,
    pub defaults: Defaults,
    pub hooks: Hooks,
    pub notify: Notify,
    pub packages: Vec<Package>,
    pub groups: Vec<Group>,
    pub repositories: BTreeMap<String, RepositoryConfig>,
}

/// Where a loaded config came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigOrigin {
    /// The tagged commit's own file.
    Commit(String),
    /// The working tree; `tag_commit` is the tagged commit that had none.
    WorkingTree { tag_commit: Option<String> },
}

impl Config {
    /// Which config this is, for `plan`: `tagpub.toml at 1234abcd` or
    /// `… from the working tree`.
    pub fn origin_text(&self) -> String {
        let file = self
            .source
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let file = if file == PYPROJECT_FILE {
            format!("[tool.tagpub] in {file}")
        } else {
            file
        };
        match &self.origin {
            ConfigOrigin::Commit(commit) => {
                format!(
                    "{file} at {} (the tagged commit)",
                    &commit[..commit.len().min(10)]
                )
            }
            ConfigOrigin::WorkingTree { tag_commit: None } => {
                format!("{file} from the working tree")
            }
            ConfigOrigin::WorkingTree {
                tag_commit: Some(commit),
            } => format!(
                "{file} from the working tree (the tagged commit {} has no tagpub config)",
                &commit[..commit.len().min(10)]
            ),
        }
    }

    pub fn package(&self, name: &str) -> Option<&Package> {
        let wanted = crate::version::normalize_name(name);
        self.packages
            .iter()
            .find(|p| crate::version::normalize_name(&p.name) == wanted)
    }

    /// The configured package names, comma-separated, for messages.
    pub fn package_names(&self) -> String {
        self.packages
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// How a package's releases are verified, honouring its override.
    pub fn verify_for(&self, package: &Package) -> Verify {
        package.verify.unwrap_or(self.defaults.verify)
    }

    pub fn allow_unattested_for(&self, package: &Package) -> bool {
        package
            .allow_unattested
            .unwrap_or(self.defaults.allow_unattested)
    }
}

#[cfg(test)]
mod tests;
