//! Finding and reading a config: the tagged commit's, the working tree's
//! `tagpub.toml` or `[tool.tagpub]`; the raw schema as written, and byte
//! spans turned into `file:line:col`.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::validate::validate;
use super::{
    CONFIG_FILE, Config, ConfigError, ConfigOrigin, Location, PYPROJECT_FILE, PrePush, SandboxMode,
    SourceDateEpoch, Trigger, Verify,
};

// The raw schema as written. `deny_unknown_fields` everywhere: a typo must be
// an error, never a setting that silently does nothing.

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawConfig {
    #[serde(default)]
    pub(super) defaults: RawDefaults,
    #[serde(default)]
    pub(super) hooks: RawHooks,
    #[serde(default)]
    pub(super) notify: RawNotify,
    #[serde(default)]
    pub(super) package: Vec<RawPackage>,
    #[serde(default)]
    pub(super) group: Vec<RawGroup>,
    #[serde(default)]
    pub(super) repository: BTreeMap<String, Spanned<RawRepository>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawNotify {
    pub(super) command: Option<Spanned<Vec<String>>>,
    pub(super) desktop: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawHooks {
    pub(super) pre_push: Option<PrePush>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawDefaults {
    pub(super) repository: Option<Spanned<String>>,
    pub(super) trigger: Option<Trigger>,
    pub(super) grace: Option<Spanned<String>>,
    pub(super) require_annotated: Option<bool>,
    pub(super) require_changelog: Option<bool>,
    pub(super) build_command: Option<Spanned<Vec<String>>>,
    pub(super) verify: Option<Verify>,
    pub(super) sandbox: Option<SandboxMode>,
    pub(super) sandbox_allow: Option<Spanned<Vec<String>>>,
    pub(super) source_date_epoch: Option<SourceDateEpoch>,
    pub(super) allow_unattested: Option<bool>,
    pub(super) require_signed: Option<bool>,
    pub(super) allowed_signers: Option<Spanned<Vec<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawPackage {
    pub(super) name: Spanned<String>,
    #[serde(default)]
    pub(super) path: Option<Spanned<String>>,
    pub(super) tags: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) token_env: Option<Spanned<String>>,
    pub(super) repository: Option<Spanned<String>>,
    pub(super) build_command: Option<Spanned<Vec<String>>>,
    pub(super) verify: Option<Verify>,
    pub(super) sandbox: Option<SandboxMode>,
    pub(super) allow_unattested: Option<bool>,
    pub(super) require_signed: Option<bool>,
    pub(super) allowed_signers: Option<Spanned<Vec<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawGroup {
    pub(super) name: Spanned<String>,
    pub(super) tags: Spanned<Vec<Spanned<String>>>,
    pub(super) packages: Spanned<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawRepository {
    pub(super) url: Spanned<String>,
    pub(super) simple_url: Option<Spanned<String>>,
    pub(super) token_env: Option<Spanned<String>>,
    pub(super) oidc_url: Option<Spanned<String>>,
    pub(super) username: Option<String>,
    pub(super) file_window: Option<Spanned<String>>,
}

#[derive(Deserialize)]
pub(super) struct RawPyproject {
    pub(super) tool: Option<RawTool>,
}

#[derive(Deserialize)]
pub(super) struct RawTool {
    pub(super) tagpub: Option<toml::Value>,
}

/// Turns byte spans into `file:line:col` errors.
pub(super) struct SourceFile<'a> {
    pub(super) path: &'a Path,
    pub(super) text: &'a str,
}

impl SourceFile<'_> {
    pub(super) fn location(&self, offset: usize) -> Location {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Location {
            path: self.path.to_path_buf(),
            line,
            column,
        }
    }

    pub(super) fn error(
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
