//! `tagpub.toml` (or `[tool.tagpub]` in the root `pyproject.toml`): schema,
//! loading, and validation with `file:line:col` and the fix in every error.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::version::{TagPattern, is_valid_project_name};

pub const CONFIG_FILE: &str = "tagpub.toml";
pub const PYPROJECT_FILE: &str = "pyproject.toml";

pub const PYPI_UPLOAD: &str = "https://upload.pypi.org/legacy/";
pub const PYPI_SIMPLE: &str = "https://pypi.org/simple/";
pub const TESTPYPI_UPLOAD: &str = "https://test.pypi.org/legacy/";
pub const TESTPYPI_SIMPLE: &str = "https://test.pypi.org/simple/";

/// Repositories every config knows without a `[repository.NAME]` table.
pub const BUILTIN_REPOSITORIES: [&str; 3] = ["pypi", "testpypi", "local"];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "no tagpub configuration in {root}: neither {CONFIG_FILE} nor [tool.tagpub] in {PYPROJECT_FILE}. Run `tagpub init` to write one"
    )]
    Missing { root: PathBuf },
    #[error("cannot read {path}: {source}")]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// Publish when the tag is created locally.
    Tag,
    /// Publish only after the tag reached the remote.
    Push,
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

/// `[defaults] source-date-epoch`: seconds, or where to take them from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(untagged)]
pub enum SourceDateEpoch {
    Seconds(i64),
    Named(EpochSource),
}

impl<'de> Deserialize<'de> for SourceDateEpoch {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = SourceDateEpoch;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(r#"Unix seconds (e.g. 1700000000), "tag", "commit" or "backend""#)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
                if v < 0 {
                    return Err(E::custom("source-date-epoch cannot be negative"));
                }
                Ok(SourceDateEpoch::Seconds(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                match v {
                    "tag" => Ok(SourceDateEpoch::Named(EpochSource::Tag)),
                    "commit" => Ok(SourceDateEpoch::Named(EpochSource::Commit)),
                    "backend" => Ok(SourceDateEpoch::Named(EpochSource::Backend)),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Str(v), &self)),
                }
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EpochSource {
    /// The tagger date (the commit date for a lightweight tag).
    Tag,
    /// The tagged commit's committer date.
    Commit,
    /// Leave it unset: the build backend's own default.
    Backend,
}

/// Whether builds run in a sandbox (`src/process/sandbox.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SandboxMode {
    /// Landlock where the kernel offers it, else unsandboxed (logged).
    #[default]
    Auto,
    /// Never sandbox builds.
    Off,
}

/// How a release is checked after upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verify {
    /// The index lists every file with the uploaded sha256.
    #[default]
    Index,
    /// That, and `name==version` installs from the index into a fresh venv
    /// and its top-level modules import.
    Install,
}

/// What the pre-push hook does for a release tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PrePush {
    /// The resolve checks of `tagpub plan` (fast).
    #[default]
    Check,
    /// Also build and check the distributions (the release reuses them).
    Build,
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

/// What a release tag's signature must satisfy ([`Config::signature_policy`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignaturePolicy {
    pub required: bool,
    /// Per package with a non-empty `allowed-signers`: the signer must be in
    /// each of these lists.
    pub allowed: Vec<(String, Vec<String>)>,
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

// The raw schema as written. `deny_unknown_fields` everywhere: a typo must be
// an error, never a setting that silently does nothing.

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawConfig {
    #[serde(default)]
    defaults: RawDefaults,
    #[serde(default)]
    hooks: RawHooks,
    #[serde(default)]
    notify: RawNotify,
    #[serde(default)]
    package: Vec<RawPackage>,
    #[serde(default)]
    group: Vec<RawGroup>,
    #[serde(default)]
    repository: BTreeMap<String, Spanned<RawRepository>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawNotify {
    command: Option<Spanned<Vec<String>>>,
    desktop: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawHooks {
    pre_push: Option<PrePush>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawDefaults {
    repository: Option<Spanned<String>>,
    trigger: Option<Trigger>,
    grace: Option<Spanned<String>>,
    require_annotated: Option<bool>,
    require_changelog: Option<bool>,
    build_command: Option<Spanned<Vec<String>>>,
    verify: Option<Verify>,
    sandbox: Option<SandboxMode>,
    sandbox_allow: Option<Spanned<Vec<String>>>,
    source_date_epoch: Option<SourceDateEpoch>,
    allow_unattested: Option<bool>,
    require_signed: Option<bool>,
    allowed_signers: Option<Spanned<Vec<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawPackage {
    name: Spanned<String>,
    #[serde(default)]
    path: Option<Spanned<String>>,
    tags: Option<Spanned<Vec<Spanned<String>>>>,
    token_env: Option<Spanned<String>>,
    repository: Option<Spanned<String>>,
    build_command: Option<Spanned<Vec<String>>>,
    verify: Option<Verify>,
    sandbox: Option<SandboxMode>,
    allow_unattested: Option<bool>,
    require_signed: Option<bool>,
    allowed_signers: Option<Spanned<Vec<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawGroup {
    name: Spanned<String>,
    tags: Spanned<Vec<Spanned<String>>>,
    packages: Spanned<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawRepository {
    url: Spanned<String>,
    simple_url: Option<Spanned<String>>,
    token_env: Option<Spanned<String>>,
    oidc_url: Option<Spanned<String>>,
    username: Option<String>,
    file_window: Option<Spanned<String>>,
}

#[derive(Deserialize)]
struct RawPyproject {
    tool: Option<RawTool>,
}

#[derive(Deserialize)]
struct RawTool {
    tagpub: Option<toml::Value>,
}

/// Turns byte spans into `file:line:col` errors.
struct SourceFile<'a> {
    path: &'a Path,
    text: &'a str,
}

impl SourceFile<'_> {
    fn location(&self, offset: usize) -> Location {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Location {
            path: self.path.to_path_buf(),
            line,
            column,
        }
    }

    fn error(
        &self,
        span: Range<usize>,
        message: impl Into<String>,
        help: Option<String>,
    ) -> ConfigError {
        ConfigError::Invalid {
            location: self.location(span.start),
            message: message.into(),
            help,
        }
    }
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
    /// The config a release of `tag` uses: the tagged commit's own
    /// `tagpub.toml` / `[tool.tagpub]` when it has one, so a local release,
    /// the daemon and a CI job on the same tag agree and uncommitted edits
    /// cannot change a release; else the working tree's (the commit
    /// predates the config, or the tag does not exist).
    pub fn for_tag(repo: &crate::git::Repo, tag: &str) -> Result<Config, ConfigError> {
        let Some(info) = repo.tag(tag)? else {
            return Config::discover(repo.workdir());
        };
        if let Some(config) = Config::at_commit(repo, &info.commit)? {
            return Ok(config);
        }
        let mut config = Config::discover(repo.workdir())?;
        config.origin = ConfigOrigin::WorkingTree {
            tag_commit: Some(info.commit),
        };
        Ok(config)
    }

    /// The config committed at `commit`, found as `discover` finds it;
    /// `None` when that commit has none. Errors name `<commit>:<file>`
    /// (what `git show` takes).
    pub fn at_commit(repo: &crate::git::Repo, commit: &str) -> Result<Option<Config>, ConfigError> {
        let short = &commit[..commit.len().min(10)];
        for file in [CONFIG_FILE, PYPROJECT_FILE] {
            let Some(bytes) = repo.read_file(commit, file)? else {
                continue;
            };
            let shown = PathBuf::from(format!("{short}:{file}"));
            let text = String::from_utf8(bytes).map_err(|_| ConfigError::Invalid {
                location: Location {
                    path: shown.clone(),
                    line: 1,
                    column: 1,
                },
                message: "not UTF-8".into(),
                help: None,
            })?;
            let parsed = if file == CONFIG_FILE {
                Some(Config::parse(&shown, &text)?)
            } else {
                Config::parse_pyproject(&shown, &text)?
            };
            if let Some(mut config) = parsed {
                config.source = repo.workdir().join(file);
                config.origin = ConfigOrigin::Commit(commit.to_string());
                return Ok(Some(config));
            }
        }
        Ok(None)
    }

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

    /// Loads the config of the repository whose root is `root`.
    pub fn discover(root: &Path) -> Result<Config, ConfigError> {
        let tagpub_toml = root.join(CONFIG_FILE);
        if tagpub_toml.is_file() {
            return Config::load_file(&tagpub_toml);
        }
        let pyproject = root.join(PYPROJECT_FILE);
        if pyproject.is_file() {
            let text = read(&pyproject)?;
            if let Some(config) = Config::parse_pyproject(&pyproject, &text)? {
                return Ok(config);
            }
        }
        Err(ConfigError::Missing {
            root: root.to_path_buf(),
        })
    }

    pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
        let text = read(path)?;
        if path.file_name().is_some_and(|n| n == PYPROJECT_FILE) {
            return Config::parse_pyproject(path, &text)?.ok_or_else(|| ConfigError::Missing {
                root: path.parent().unwrap_or(Path::new(".")).to_path_buf(),
            });
        }
        Config::parse(path, &text)
    }

    /// Parses a `tagpub.toml` document.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let source = SourceFile { path, text };
        let raw: RawConfig = toml::from_str(text).map_err(|err| toml_error(&source, &err))?;
        validate(&source, raw)
    }

    /// Parses `[tool.tagpub]` out of a `pyproject.toml`; `None` when absent.
    pub fn parse_pyproject(path: &Path, text: &str) -> Result<Option<Config>, ConfigError> {
        let source = SourceFile { path, text };
        let raw: RawPyproject = toml::from_str(text).map_err(|err| toml_error(&source, &err))?;
        if raw.tool.and_then(|t| t.tagpub).is_none() {
            return Ok(None);
        }
        // Deserialize the table again through a typed wrapper so that error
        // spans still point into the pyproject.toml text.
        #[derive(Deserialize)]
        struct Wrapper {
            tool: ToolWrapper,
        }
        #[derive(Deserialize)]
        struct ToolWrapper {
            tagpub: RawConfig,
        }
        let wrapper: Wrapper = toml::from_str(text).map_err(|err| toml_error(&source, &err))?;
        validate(&source, wrapper.tool.tagpub).map(Some)
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

    /// How a package's releases are verified, honouring its override.
    pub fn verify_for(&self, package: &Package) -> Verify {
        package.verify.unwrap_or(self.defaults.verify)
    }

    pub fn allow_unattested_for(&self, package: &Package) -> bool {
        package
            .allow_unattested
            .unwrap_or(self.defaults.allow_unattested)
    }

    /// The signature policy of a tag releasing `members` (one package, or a
    /// group's members). One tag serves them all, so the strictest holds:
    /// a signature is required when any member requires one, and the signer
    /// must be on every member's `allowed-signers` list (a member without a
    /// list, and no `[defaults]` list, accepts any verified signer).
    pub fn signature_policy(&self, members: &[&Package]) -> SignaturePolicy {
        SignaturePolicy {
            // A list of who may release is no restriction if an unsigned
            // tag could still release: a list requires a signature too.
            required: members.iter().any(|p| {
                p.require_signed.unwrap_or(self.defaults.require_signed)
                    || !p
                        .allowed_signers
                        .as_ref()
                        .unwrap_or(&self.defaults.allowed_signers)
                        .is_empty()
            }),
            allowed: members
                .iter()
                .map(|p| {
                    (
                        p.name.clone(),
                        p.allowed_signers
                            .clone()
                            .unwrap_or_else(|| self.defaults.allowed_signers.clone()),
                    )
                })
                .filter(|(_, list)| !list.is_empty())
                .collect(),
        }
    }

    /// Whether `name` is a repository this config can publish to.
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

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn toml_error(source: &SourceFile<'_>, err: &toml::de::Error) -> ConfigError {
    let span = err.span().unwrap_or(0..0);
    let message = err.message().trim().to_string();
    let help = if message.starts_with("unknown field") {
        Some("check the spelling; the keys tagpub knows are listed in the README under \"Configuration\"".to_string())
    } else if message.starts_with("missing field") {
        Some("add the field; see the README's \"Configuration\" section for an example".to_string())
    } else {
        None
    };
    source.error(span, message, help)
}

fn validate(source: &SourceFile<'_>, raw: RawConfig) -> Result<Config, ConfigError> {
    let mut repositories = BTreeMap::new();
    for (name, spanned) in raw.repository {
        let span = spanned.span();
        let repo = spanned.into_inner();
        if BUILTIN_REPOSITORIES.contains(&name.as_str()) {
            return Err(source.error(
                span,
                format!("`{name}` is a built-in repository and cannot be redefined"),
                Some(format!(
                    "give it another name, e.g. [repository.{name}-mirror]"
                )),
            ));
        }
        let url = check_url(source, &repo.url, "url")?;
        let simple_url = repo
            .simple_url
            .as_ref()
            .map(|u| check_url(source, u, "simple-url"))
            .transpose()?;
        let token_env = repo
            .token_env
            .map(|t| check_env_name(source, t))
            .transpose()?;
        let oidc_url = repo
            .oidc_url
            .as_ref()
            .map(|u| check_url(source, u, "oidc-url"))
            .transpose()?;
        repositories.insert(
            name,
            RepositoryConfig {
                url,
                simple_url,
                token_env,
                oidc_url,
                username: repo.username.filter(|u| !u.trim().is_empty()),
                file_window: repo
                    .file_window
                    .as_ref()
                    .map(|text| {
                        humantime::parse_duration(text.get_ref()).map_err(|err| {
                            source.error(
                                text.span(),
                                format!("invalid duration `{}`: {err}", text.get_ref()),
                                Some("write it like \"14days\" or \"336h\"".to_string()),
                            )
                        })
                    })
                    .transpose()?,
            },
        );
    }

    let known_repository = |name: &Spanned<String>| -> Result<String, ConfigError> {
        let value = name.get_ref();
        if BUILTIN_REPOSITORIES.contains(&value.as_str()) || repositories.contains_key(value) {
            Ok(value.clone())
        } else {
            Err(source.error(
                name.span(),
                format!("unknown repository `{value}`"),
                Some(format!(
                    "use one of {} or define it with [repository.{value}] and a url",
                    BUILTIN_REPOSITORIES
                        .iter()
                        .map(|s| s.to_string())
                        .chain(repositories.keys().cloned())
                        .map(|s| format!("`{s}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            ))
        }
    };

    let defaults = {
        let d = raw.defaults;
        let repository = match &d.repository {
            Some(name) => known_repository(name)?,
            None => "pypi".to_string(),
        };
        let grace = match &d.grace {
            Some(text) => humantime::parse_duration(text.get_ref()).map_err(|err| {
                source.error(
                    text.span(),
                    format!("invalid duration `{}`: {err}", text.get_ref()),
                    Some("write it like \"10s\", \"500ms\" or \"1m\"".to_string()),
                )
            })?,
            None => Duration::from_secs(10),
        };
        Defaults {
            repository,
            trigger: d.trigger.unwrap_or(Trigger::Tag),
            grace,
            require_annotated: d.require_annotated.unwrap_or(true),
            require_changelog: d.require_changelog.unwrap_or(false),
            build_command: d
                .build_command
                .map(|c| check_command(source, c, "build-command"))
                .transpose()?,
            verify: d.verify.unwrap_or_default(),
            sandbox: d.sandbox.unwrap_or_default(),
            source_date_epoch: d.source_date_epoch,
            allow_unattested: d.allow_unattested.unwrap_or(false),
            require_signed: d.require_signed.unwrap_or(false),
            allowed_signers: d
                .allowed_signers
                .as_ref()
                .map(|s| check_signers(source, s))
                .transpose()?
                .unwrap_or_default(),
            sandbox_allow: match &d.sandbox_allow {
                Some(paths) => paths
                    .get_ref()
                    .iter()
                    .map(|p| {
                        let path = expand_home(p);
                        if path.is_absolute() {
                            Ok(path)
                        } else {
                            Err(source.error(
                                paths.span(),
                                format!("sandbox-allow path `{p}` is not absolute"),
                                Some("write it from / or ~, like \"~/.cache/foo\"".to_string()),
                            ))
                        }
                    })
                    .collect::<Result<_, _>>()?,
                None => Vec::new(),
            },
        }
    };

    if raw.package.is_empty() {
        return Err(source.error(
            0..0,
            "no [[package]] is configured",
            Some("add one, e.g.\n    [[package]]\n    name = \"my-package\"\n    path = \".\"\n    tags = [\"v{version}\"]\n  or run `tagpub init`".to_string()),
        ));
    }

    let mut packages: Vec<Package> = Vec::new();
    // Normalized name → index in `packages`, for the duplicate check.
    let mut names: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    // (package index, pattern span) for the overlap check.
    let mut pattern_spans: Vec<Vec<Range<usize>>> = Vec::new();
    let member_of = group_membership(source, &raw.group)?;
    for raw_package in raw.package {
        let name = raw_package.name.get_ref().clone();
        if !is_valid_project_name(&name) {
            return Err(source.error(
                raw_package.name.span(),
                format!("`{name}` is not a valid Python project name"),
                Some("use letters, digits, `-`, `_` and `.`, starting and ending with a letter or digit".to_string()),
            ));
        }
        if let Some(previous) = names
            .get(&crate::version::normalize_name(&name))
            .map(|&index| &packages[index])
        {
            return Err(source.error(
                raw_package.name.span(),
                format!(
                    "package `{name}` is configured twice (also as `{}`)",
                    previous.name
                ),
                Some(
                    "keep one [[package]] per project and list all its tag patterns in its `tags`"
                        .to_string(),
                ),
            ));
        }
        let path = match &raw_package.path {
            Some(path) => normalize_package_path(path.get_ref()).map_err(|why| {
                source.error(
                    path.span(),
                    format!("package path `{}` {why}", path.get_ref()),
                    Some(
                        "write it relative to the repository root, like \"src/my_plugin\""
                            .to_string(),
                    ),
                )
            })?,
            None => String::new(),
        };
        let group = member_of
            .get(&crate::version::normalize_name(&name))
            .cloned();
        let (tags, spans) = match &raw_package.tags {
            Some(patterns) => parse_patterns(source, patterns, &format!("package `{name}`"))?,
            None if group.is_some() => (Vec::new(), Vec::new()),
            None => {
                return Err(source.error(
                    raw_package.name.span(),
                    format!("package `{name}` has no tag patterns"),
                    Some("add `tags = [\"v{version}\"]`, or list the package in a [[group]] whose tags release it".to_string()),
                ));
            }
        };
        let repository = raw_package
            .repository
            .as_ref()
            .map(&known_repository)
            .transpose()?;
        names.insert(crate::version::normalize_name(&name), packages.len());
        packages.push(Package {
            name,
            path,
            tags,
            token_env: raw_package
                .token_env
                .map(|t| check_env_name(source, t))
                .transpose()?,
            repository,
            build_command: raw_package
                .build_command
                .map(|c| check_command(source, c, "build-command"))
                .transpose()?,
            verify: raw_package.verify,
            sandbox: raw_package.sandbox,
            allow_unattested: raw_package.allow_unattested,
            require_signed: raw_package.require_signed,
            allowed_signers: raw_package
                .allowed_signers
                .as_ref()
                .map(|s| check_signers(source, s))
                .transpose()?,
            group,
        });
        pattern_spans.push(spans);
    }
    let groups = validate_groups(source, raw.group, &packages, &names, &defaults.repository)?;

    // One tag must never release two things: reject any pair of patterns
    // (across or within packages and groups) that some tag matches both of.
    // Only pairs whose literals could overlap are walked (see
    // `version::Overlaps`); the first in config order is reported.
    let owners: Vec<PatternOwner<'_>> = packages
        .iter()
        .zip(&pattern_spans)
        .map(|(p, spans)| PatternOwner {
            name: format!("package `{}`", p.name),
            patterns: &p.tags,
            spans,
        })
        .chain(groups.iter().map(|(g, spans)| PatternOwner {
            name: format!("group `{}`", g.name),
            patterns: &g.tags,
            spans,
        }))
        .collect();
    check_overlaps(source, &owners)?;

    Ok(Config {
        source: source.path.to_path_buf(),
        origin: ConfigOrigin::WorkingTree { tag_commit: None },
        defaults,
        hooks: Hooks {
            pre_push: raw.hooks.pre_push.unwrap_or_default(),
        },
        notify: Notify {
            command: raw
                .notify
                .command
                .map(|c| check_command(source, c, "notify.command"))
                .transpose()?,
            desktop: raw.notify.desktop,
        },
        packages,
        groups: groups.into_iter().map(|(g, _)| g).collect(),
        repositories,
    })
}

/// Tag patterns as written, parsed; an empty list is an error.
fn parse_patterns(
    source: &SourceFile<'_>,
    patterns: &Spanned<Vec<Spanned<String>>>,
    owner: &str,
) -> Result<(Vec<TagPattern>, Vec<Range<usize>>), ConfigError> {
    if patterns.get_ref().is_empty() {
        return Err(source.error(
            patterns.span(),
            format!("{owner} has no tag patterns"),
            Some("add at least one, like tags = [\"v{version}\"]".to_string()),
        ));
    }
    let mut tags = Vec::new();
    let mut spans = Vec::new();
    for pattern in patterns.get_ref() {
        let parsed = TagPattern::parse(pattern.get_ref())
            .map_err(|err| source.error(pattern.span(), err.to_string(), None))?;
        tags.push(parsed);
        spans.push(pattern.span());
    }
    Ok((tags, spans))
}

/// Normalized member name → its group's name; a package listed twice (in
/// one group or two) is an error.
fn group_membership(
    source: &SourceFile<'_>,
    groups: &[RawGroup],
) -> Result<std::collections::HashMap<String, String>, ConfigError> {
    let mut member_of = std::collections::HashMap::new();
    for group in groups {
        for member in group.packages.get_ref() {
            let key = crate::version::normalize_name(member.get_ref());
            if let Some(previous) = member_of.insert(key, group.name.get_ref().clone()) {
                return Err(source.error(
                    member.span(),
                    format!(
                        "package `{}` is listed twice (also in group `{previous}`)",
                        member.get_ref()
                    ),
                    Some("a package belongs to at most one [[group]]; list it once".to_string()),
                ));
            }
        }
    }
    Ok(member_of)
}

/// The `[[group]]` tables: a name no package has, known members, patterns.
fn validate_groups(
    source: &SourceFile<'_>,
    raw: Vec<RawGroup>,
    packages: &[Package],
    package_names: &std::collections::HashMap<String, usize>,
    default_repository: &str,
) -> Result<Vec<SpannedGroup>, ConfigError> {
    let mut groups: Vec<SpannedGroup> = Vec::new();
    for group in raw {
        let name = group.name.get_ref().clone();
        let key = crate::version::normalize_name(&name);
        if !is_valid_project_name(&name) {
            return Err(source.error(
                group.name.span(),
                format!("`{name}` is not a valid group name"),
                Some("use letters, digits, `-`, `_` and `.`, like a project name".to_string()),
            ));
        }
        // Jobs, locks and status name a release by its group or package:
        // one name must mean one thing.
        if let Some(&index) = package_names.get(&key)
            && packages[index].group.as_deref() != Some(name.as_str())
        {
            return Err(source.error(
                group.name.span(),
                format!(
                    "group `{name}` has the name of package `{}`, which is not in it",
                    packages[index].name
                ),
                Some(
                    "name the group after its main package or give it a name of its own"
                        .to_string(),
                ),
            ));
        }
        if groups
            .iter()
            .any(|(g, _)| crate::version::normalize_name(&g.name) == key)
        {
            return Err(source.error(
                group.name.span(),
                format!("group `{name}` is configured twice"),
                Some(
                    "keep one [[group]] per name and list all its tag patterns in its `tags`"
                        .to_string(),
                ),
            ));
        }
        if group.packages.get_ref().is_empty() {
            return Err(source.error(
                group.packages.span(),
                format!("group `{name}` has no packages"),
                Some("list the [[package]] names it releases, like packages = [\"core\", \"plugin\"]".to_string()),
            ));
        }
        let mut members = Vec::new();
        for member in group.packages.get_ref() {
            let Some(&index) = package_names.get(&crate::version::normalize_name(member.get_ref()))
            else {
                return Err(source.error(
                    member.span(),
                    format!("group `{name}` lists `{}`, which is not a [[package]]", member.get_ref()),
                    Some(format!(
                        "add a [[package]] with name = \"{}\" and its path, or remove it from the group",
                        member.get_ref()
                    )),
                ));
            };
            members.push(packages[index].name.clone());
        }
        // One release of a group goes to one index: a CI job, a retry and
        // `--repository` then mean the same thing for every member.
        let repository_of = |member: &str| {
            packages
                .iter()
                .find(|p| p.name == member)
                .and_then(|p| p.repository.clone())
                .unwrap_or_else(|| default_repository.to_string())
        };
        if let Some(other) = members
            .iter()
            .find(|m| repository_of(m) != repository_of(&members[0]))
        {
            return Err(source.error(
                group.packages.span(),
                format!(
                    "group `{name}` publishes `{}` to {} but `{other}` to {}",
                    members[0],
                    repository_of(&members[0]),
                    repository_of(other)
                ),
                Some("the members of a group are released to one repository: give them the same `repository`".to_string()),
            ));
        }
        let (tags, spans) = parse_patterns(source, &group.tags, &format!("group `{name}`"))?;
        groups.push((
            Group {
                name,
                tags,
                members,
            },
            spans,
        ));
    }
    Ok(groups)
}

/// A group and the spans of its tag patterns.
type SpannedGroup = (Group, Vec<Range<usize>>);

/// A package or group with its tag patterns and where each is written.
struct PatternOwner<'a> {
    name: String,
    patterns: &'a [TagPattern],
    spans: &'a [Range<usize>],
}

/// Rejects the first pair of patterns (in config order) that some tag
/// matches both of, naming the tag.
fn check_overlaps(source: &SourceFile<'_>, owners: &[PatternOwner<'_>]) -> Result<(), ConfigError> {
    let located: Vec<(usize, usize)> = owners
        .iter()
        .enumerate()
        .flat_map(|(i, owner)| (0..owner.patterns.len()).map(move |pi| (i, pi)))
        .collect();
    let all: Vec<&TagPattern> = located
        .iter()
        .map(|&(i, pi)| &owners[i].patterns[pi])
        .collect();
    let overlaps = crate::version::Overlaps::new(&all);
    let mut candidates = overlaps.candidates();
    candidates.sort_by_key(|&(a, b)| {
        let ((i, pi), (j, pj)) = (located[a], located[b]);
        (i, j, pi, pj)
    });
    for (a, b) in candidates {
        let Some(witness) = overlaps.witness(a, b) else {
            continue;
        };
        let ((i, _), (j, pj)) = (located[a], located[b]);
        let (owner, other) = (&owners[i].name, &owners[j].name);
        let (pattern, other_pattern) = (all[a], all[b]);
        let who = if i == j {
            owner.clone()
        } else {
            format!("{owner} or {other}")
        };
        return Err(source.error(
            owners[j].spans[pj].clone(),
            format!(
                "tag patterns `{pattern}` ({owner}) and `{other_pattern}` ({other}) can match the same tag, e.g. `{witness}`: which of {who} it releases would be ambiguous"
            ),
            Some("give each package a distinct prefix, like \"v{version}\" and \"plugin-v{version}\"; to release several packages with one tag, list them in one [[group]]".to_string()),
        ));
    }
    Ok(())
}

fn check_url(
    source: &SourceFile<'_>,
    url: &Spanned<String>,
    key: &str,
) -> Result<String, ConfigError> {
    match url::Url::parse(url.get_ref()) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {
            if !parsed.username().is_empty() || parsed.password().is_some() {
                return Err(source.error(
                    url.span(),
                    format!("{key} must not contain credentials"),
                    Some("store the token with `tagpub token set` or an environment variable instead".to_string()),
                ));
            }
            Ok(url.get_ref().clone())
        }
        Ok(parsed) => Err(source.error(
            url.span(),
            format!("{key} must be http or https, not `{}`", parsed.scheme()),
            None,
        )),
        Err(err) => Err(source.error(
            url.span(),
            format!("invalid {key} `{}`: {err}", url.get_ref()),
            Some("write a full URL like \"https://pypi.example.org/legacy/\"".to_string()),
        )),
    }
}

/// `~` or `~/x` → the home directory (or `x` under it); other paths as given.
fn expand_home(path: &str) -> PathBuf {
    let home = || std::env::var_os("HOME").map(PathBuf::from);
    match path.strip_prefix('~') {
        Some("") => home().unwrap_or_else(|| PathBuf::from(path)),
        Some(rest) if rest.starts_with('/') => home()
            .map(|h| h.join(rest.trim_start_matches('/')))
            .unwrap_or_else(|| PathBuf::from(path)),
        _ => PathBuf::from(path),
    }
}

fn check_env_name(source: &SourceFile<'_>, name: Spanned<String>) -> Result<String, ConfigError> {
    let value = name.get_ref();
    let valid = !value.is_empty()
        && !value.starts_with(|c: char| c.is_ascii_digit())
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(source.error(
            name.span(),
            format!("`{value}` is not an environment variable name"),
            Some("token-env names the variable that holds the token, like \"PYPI_API_TOKEN_HF_LOCAL\"; never put the token itself here".to_string()),
        ));
    }
    // A variable named as a token's home is withheld from every child,
    // whether or not the token was read from it.
    crate::process::withhold_env(value);
    Ok(name.into_inner())
}

/// `allowed-signers`: each entry must be something a signature can be
/// matched against ([`AllowedSigner`]).
fn check_signers(
    source: &SourceFile<'_>,
    signers: &Spanned<Vec<String>>,
) -> Result<Vec<String>, ConfigError> {
    for entry in signers.get_ref() {
        if let Err(reason) = AllowedSigner::parse(entry) {
            return Err(source.error(
                signers.span(),
                format!("allowed-signers entry `{entry}` {reason}"),
                Some("list OpenPGP key fingerprints (40 hex digits, `gpg --fingerprint`), long key ids (16 hex digits), SSH principals as in gpg.ssh.allowedSignersFile, or SSH key fingerprints (`SHA256:…`, `ssh-keygen -lf KEY.pub`)".to_string()),
            ));
        }
    }
    Ok(signers.get_ref().clone())
}

/// One `allowed-signers` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedSigner {
    /// A fingerprint (40 or 64 hex digits) or long key id (16), upper case.
    OpenpgpKey(String),
    /// `SHA256:…` as `ssh-keygen -l` and git print it.
    SshKey(String),
    /// A principal of the allowed-signers file (often an email address).
    SshPrincipal(String),
}

impl AllowedSigner {
    /// The error completes "allowed-signers entry `X` …".
    pub fn parse(entry: &str) -> Result<AllowedSigner, String> {
        let text = entry.trim();
        if text.is_empty() || text.chars().any(char::is_whitespace) {
            return Err("is empty or contains spaces (write fingerprints without spaces)".into());
        }
        if text.starts_with("SHA256:") {
            return Ok(AllowedSigner::SshKey(text.to_string()));
        }
        let hex = text
            .strip_prefix("0x")
            .or_else(|| text.strip_prefix("0X"))
            .unwrap_or(text);
        if hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return match hex.len() {
                16 | 40 | 64 => Ok(AllowedSigner::OpenpgpKey(hex.to_ascii_uppercase())),
                // A short id is trivially forged by making a key with it.
                8 => Err("is a short key id, which anyone can forge: use the full fingerprint (`gpg --fingerprint`)".into()),
                _ => Err("looks like a key id but is neither 16 nor 40 hex digits: use the full fingerprint (`gpg --fingerprint`)".into()),
            };
        }
        Ok(AllowedSigner::SshPrincipal(text.to_string()))
    }
}

fn check_command(
    source: &SourceFile<'_>,
    command: Spanned<Vec<String>>,
    key: &str,
) -> Result<Vec<String>, ConfigError> {
    if command.get_ref().is_empty() {
        return Err(source.error(
            command.span(),
            format!("{key} is empty"),
            Some("give the program and its arguments as a list, like [\"python\", \"-m\", \"build\"]".to_string()),
        ));
    }
    Ok(command.into_inner())
}

/// Validates a package path and returns it `/`-separated without `./`.
fn normalize_package_path(path: &str) -> Result<String, &'static str> {
    let mut parts = Vec::new();
    for component in Path::new(path).components() {
        match component {
            Component::CurDir => {}
            Component::Normal(part) => {
                parts.push(part.to_str().ok_or("is not valid UTF-8")?.to_string())
            }
            Component::ParentDir => return Err("leaves the repository (`..`)"),
            Component::RootDir | Component::Prefix(_) => return Err("is absolute"),
        }
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("tagpub.toml"), text)
    }

    const GOOD: &str = r#"
[defaults]
repository = "local"
grace = "5s"

[[package]]
name = "open-ticket-ai"
path = "."
tags = ["v{version}"]

[[package]]
name = "open-ticket-ai-hf-local"
path = "./src/open_ticket_ai_hf_local"
tags = ["hf-local-v{version}", "open-ticket-ai-hf-local-v{version}"]
token-env = "PYPI_API_TOKEN_HF_LOCAL"

[repository.internal]
url = "https://pypi.example.org/legacy/"
"#;

    #[test]
    fn signature_policy_is_the_strictest_of_a_groups_members() {
        let text = "[defaults]\nrequire-signed = false\n\n\
            [[package]]\nname = \"a\"\npath = \"a\"\ntags = [\"a-v{version}\"]\n\
            allowed-signers = [\"202B115BB4BF8B8C7F7A8A1B01D57AB8C657CFF8\"]\n\n\
            [[package]]\nname = \"b\"\npath = \"b\"\ntags = [\"b-v{version}\"]\nrequire-signed = true\n\n\
            [[package]]\nname = \"c\"\npath = \"c\"\ntags = [\"c-v{version}\"]\n";
        let config = parse(text).unwrap();
        let [a, b, c] = [0, 1, 2].map(|i| &config.packages[i]);
        assert_eq!(config.signature_policy(&[c]), SignaturePolicy::default());
        let both = config.signature_policy(&[b, c]);
        assert!(both.required && both.allowed.is_empty());
        // A list of allowed signers requires a signature by itself.
        let listed = config.signature_policy(&[a, c]);
        assert!(listed.required);
        assert_eq!(listed.allowed.len(), 1);
        assert_eq!(listed.allowed[0].0, "a");

        let short = "[[package]]\nname = \"a\"\ntags = [\"v{version}\"]\nallowed-signers = [\"C657CFF8\"]\n";
        let message = error_text(short);
        assert!(message.contains("short key id"), "{message}");
        let message = error_text("[defaults]\nrequire-signed = \"yes\"\n");
        assert!(message.contains(":2:18: invalid type"), "{message}");
    }

    #[test]
    fn parses_the_design_example() {
        let config = parse(GOOD).unwrap();
        assert_eq!(config.defaults.repository, "local");
        assert_eq!(config.defaults.grace, Duration::from_secs(5));
        assert!(config.defaults.require_annotated);
        assert_eq!(config.packages.len(), 2);
        assert_eq!(config.packages[0].path, "");
        assert_eq!(config.packages[1].path, "src/open_ticket_ai_hf_local");
        assert_eq!(
            config.packages[1].pyproject_path(),
            "src/open_ticket_ai_hf_local/pyproject.toml"
        );
        assert_eq!(
            config.packages[1].token_env.as_deref(),
            Some("PYPI_API_TOKEN_HF_LOCAL")
        );
        assert!(config.knows_repository("internal"));
        assert!(config.package("Open_Ticket_AI").is_some());
    }

    fn error_text(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn unknown_key_is_an_error_with_line_and_column() {
        let text = "[[package]]\nname = \"a\"\ntag = [\"v{version}\"]\n";
        let message = error_text(text);
        assert!(
            message.starts_with("tagpub.toml:3:1: unknown field `tag`"),
            "{message}"
        );
        assert!(message.contains("help:"), "{message}");
    }

    #[test]
    fn ambiguous_patterns_name_both_packages() {
        let text = "[[package]]\nname = \"a\"\ntags = [\"{version}\"]\n[[package]]\nname = \"b\"\npath = \"b\"\ntags = [\"v{version}\"]\n";
        let message = error_text(text);
        assert!(message.starts_with("tagpub.toml:7:9:"), "{message}");
        assert!(
            message.contains("`{version}` (package `a`)")
                && message.contains("`v{version}` (package `b`)"),
            "{message}"
        );
        assert!(message.contains("e.g. `v"), "{message}");
    }

    const GROUP: &str = "[[package]]\nname = \"core\"\n\n[[package]]\nname = \"plugin\"\npath = \"src/plugin\"\ntags = [\"plugin-v{version}\"]\n\n[[group]]\nname = \"core\"\ntags = [\"v{version}\"]\npackages = [\"core\", \"plugin\"]\n";

    #[test]
    fn a_group_releases_its_members_and_members_need_no_tags() {
        let config = Config::parse(Path::new("tagpub.toml"), GROUP).unwrap();
        assert_eq!(config.groups.len(), 1);
        assert_eq!(config.groups[0].members, ["core", "plugin"]);
        assert_eq!(config.groups[0].tags[0].to_string(), "v{version}");
        assert!(config.packages[0].tags.is_empty());
        assert_eq!(config.packages[1].group.as_deref(), Some("core"));
    }

    #[test]
    fn group_errors_point_at_the_offending_entry() {
        let cases = [
            (
                GROUP.replace("\"core\", \"plugin\"]", "\"core\", \"plugni\"]"),
                "lists `plugni`, which is not a [[package]]",
            ),
            (
                format!(
                    "{GROUP}[[group]]\nname = \"other\"\ntags = [\"o-v{{version}}\"]\npackages = [\"plugin\"]\n"
                ),
                "package `plugin` is listed twice (also in group `core`)",
            ),
            (
                GROUP.replace(
                    "packages = [\"core\", \"plugin\"]",
                    "packages = [\"plugin\"]",
                ),
                "package `core` has no tag patterns",
            ),
            (
                GROUP
                    .replace("name = \"core\"\ntags", "name = \"plugin\"\ntags")
                    .replace("[\"core\", \"plugin\"]", "[\"core\"]"),
                "group `plugin` has the name of package `plugin`",
            ),
            (
                GROUP.replace("plugin-v{version}", "{version}"),
                "(package `plugin`) and `v{version}` (group `core`) can match the same tag",
            ),
            (
                GROUP
                    .replace("packages = [\"core\", \"plugin\"]", "packages = []")
                    .replace(
                        "name = \"core\"\n\n",
                        "name = \"core\"\ntags = [\"core-v{version}\"]\n\n",
                    )
                    .replace(
                        "name = \"core\"\ntags = [\"v",
                        "name = \"all\"\ntags = [\"v",
                    ),
                "group `all` has no packages",
            ),
            (
                GROUP.replace(
                    "path = \"src/plugin\"",
                    "path = \"src/plugin\"\nrepository = \"testpypi\"",
                ),
                "group `core` publishes `core` to pypi but `plugin` to testpypi",
            ),
        ];
        for (text, expected) in cases {
            let message = error_text(&text);
            assert!(message.contains(expected), "{expected}\n{message}");
            assert!(message.starts_with("tagpub.toml:"), "{message}");
        }
    }

    /// `packages` packages with their own prefixes, plus `extra` TOML.
    fn many_packages(packages: usize, extra: &str) -> String {
        let mut text = String::new();
        for i in 0..packages {
            text.push_str(&format!(
                "[[package]]\nname = \"pkg{i}\"\npath = \"pkgs/pkg{i}\"\ntags = [\"pkg{i}-v{{version}}\", \"release/pkg{i}/{{version}}\"]\n"
            ));
        }
        text.push_str(extra);
        text
    }

    /// The overlap check is not pairwise: 10 000 packages (20 000 patterns,
    /// 200 million pairs) load, and an overlap among them is still found.
    /// The time is measured in `benches/config.rs`.
    #[test]
    fn ten_thousand_packages_load_and_overlaps_among_them_are_found() {
        let config = parse(&many_packages(10_000, "")).unwrap();
        assert_eq!(config.packages.len(), 10_000);
        // A bare `{version}` shares no tag with any of them ("p" and "r"
        // cannot start a version), so it loads too.
        let bare = "[[package]]\nname = \"bare\"\ntags = [\"{version}\"]\n";
        assert_eq!(
            parse(&many_packages(10_000, bare)).unwrap().packages.len(),
            10_001
        );
        // `pkg9999-v1.{version}` overlaps `pkg9999-v{version}` (pkg9999-v1.0).
        let late = "[[package]]\nname = \"late\"\ntags = [\"pkg9999-v1.{version}\"]\n";
        let message = error_text(&many_packages(10_000, late));
        assert!(
            message.contains(
                "`pkg9999-v{version}` (package `pkg9999`) and `pkg9999-v1.{version}` (package `late`)"
            ),
            "{message}"
        );
        // And a duplicate name among them.
        let twice = "[[package]]\nname = \"PKG5000\"\ntags = [\"other-{version}\"]\n";
        let message = error_text(&many_packages(10_000, twice));
        assert!(
            message.contains("package `PKG5000` is configured twice (also as `pkg5000`)"),
            "{message}"
        );
    }

    #[test]
    fn rejects_bad_values() {
        for (text, expected) in [
            (
                "[[package]]\nname = \"a\"\ntags = [\"v1\"]\n",
                "has no `{version}`",
            ),
            (
                "[[package]]\nname = \"-a\"\ntags = [\"v{version}\"]\n",
                "not a valid Python project name",
            ),
            (
                "[[package]]\nname = \"a\"\npath = \"../x\"\ntags = [\"v{version}\"]\n",
                "leaves the repository",
            ),
            (
                "[defaults]\nrepository = \"nope\"\n[[package]]\nname = \"a\"\ntags = [\"v{version}\"]\n",
                "unknown repository `nope`",
            ),
            (
                "[defaults]\ngrace = \"soon\"\n[[package]]\nname = \"a\"\ntags = [\"v{version}\"]\n",
                "invalid duration",
            ),
            (
                "[defaults]\nsource-date-epoch = \"tagg\"\n[[package]]\nname = \"a\"\ntags = [\"v{version}\"]\n",
                r#""tag", "commit" or "backend""#,
            ),
            (
                "[[package]]\nname = \"a\"\ntags = [\"v{version}\"]\ntoken-env = \"pypi-AgEIcHlwaS5vcmc\"\n",
                "not an environment variable name",
            ),
            (
                "[[package]]\nname = \"a\"\ntags = [\"v{version}\"]\n[[package]]\nname = \"A\"\npath = \"x\"\ntags = [\"x{version}\"]\n",
                "configured twice",
            ),
            (
                "[repository.local]\nurl = \"https://x/\"\n[[package]]\nname = \"a\"\ntags = [\"v{version}\"]\n",
                "built-in repository",
            ),
            (
                "[repository.x]\nurl = \"https://u:p@x/\"\n[[package]]\nname = \"a\"\ntags = [\"v{version}\"]\n",
                "must not contain credentials",
            ),
            ("[defaults]\n", "no [[package]]"),
            ("[[package]\n", "tagpub.toml:1:"),
        ] {
            let message = error_text(text);
            assert!(message.contains(expected), "{text:?} gave {message}");
        }
    }

    #[test]
    fn reads_tool_tagpub_from_pyproject() {
        let text = "[project]\nname = \"a\"\nversion = \"1\"\n\n[tool.tagpub]\ndefaults = { repository = \"local\" }\n\n[[tool.tagpub.package]]\nname = \"a\"\ntags = [\"v{version}\"]\n";
        let config = Config::parse_pyproject(Path::new("pyproject.toml"), text)
            .unwrap()
            .unwrap();
        assert_eq!(config.packages[0].name, "a");
        assert!(
            Config::parse_pyproject(Path::new("pyproject.toml"), "[project]\nname = \"a\"\n")
                .unwrap()
                .is_none()
        );
        let bad = "[project]\nname = \"a\"\n[[tool.tagpub.package]]\nname = \"a\"\ntagz = []\n";
        let message = Config::parse_pyproject(Path::new("pyproject.toml"), bad)
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with("pyproject.toml:5:1: unknown field `tagz`"),
            "{message}"
        );
    }
}
