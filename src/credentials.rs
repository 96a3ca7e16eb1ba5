//! Where upload tokens come from. The only module that touches secrets.
//!
//! The lookup chain lives in [`lookup_token`]; everything that needs a token
//! (release, plan's report, later the daemon) goes through it. For now the
//! chain is environment variables only; the keychain joins it in front.

pub mod keychain;

use std::fmt;

use secrecy::SecretString;

use crate::config::{Package, RepositoryConfig};

/// The generic variables twine, uv and the seed's CI workflows use.
pub const GENERIC_TOKEN_ENV: [&str; 3] = ["PYPI_API_TOKEN", "TWINE_PASSWORD", "UV_PUBLISH_TOKEN"];

/// Where a token was (or would be) found. Never holds the token itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "kebab-case")]
pub enum TokenSource {
    Env(String),
}

impl fmt::Display for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenSource::Env(name) => write!(f, "environment variable {name}"),
        }
    }
}

/// A token and where it came from. `Debug` shows only the source.
pub struct Token {
    pub secret: SecretString,
    pub source: TokenSource,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// The environment variables consulted, in order, for a package.
pub fn token_env_names(package: &Package, repository: Option<&RepositoryConfig>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let specific = [
        package.token_env.as_deref(),
        repository.and_then(|r| r.token_env.as_deref()),
    ];
    for name in specific.into_iter().flatten().chain(GENERIC_TOKEN_ENV) {
        if !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    names
}

/// The token for publishing `package` to `repository`: the first found wins.
pub fn lookup_token(package: &Package, repository: Option<&RepositoryConfig>) -> Option<Token> {
    token_env_names(package, repository)
        .into_iter()
        .find_map(|name| {
            let value = std::env::var(&name).ok()?;
            let value = value.trim();
            (!value.is_empty()).then(|| Token {
                secret: SecretString::from(value.to_string()),
                source: TokenSource::Env(name),
            })
        })
}

/// How to give tagpub a token, for "no token" errors.
pub fn missing_token_help(package: &Package, repository: Option<&RepositoryConfig>) -> String {
    let names = token_env_names(package, repository);
    format!(
        "set one of {} to an API token for this index (read from the environment, never from the command line)",
        names.join(", ")
    )
}

/// Whether a build must not see this environment variable: anything that
/// can hold an upload credential. Names tagpub read a token from are passed
/// in `extra`.
pub fn is_secret_env_name(name: &str, extra: &[String]) -> bool {
    let upper = name.to_ascii_uppercase();
    extra.iter().any(|e| e.eq_ignore_ascii_case(name))
        || [
            "PYPI_",
            "TWINE_",
            "UV_PUBLISH_",
            "ACTIONS_ID_TOKEN_",
            "TAGPUB_TOKEN",
        ]
        .iter()
        .any(|prefix| upper.starts_with(prefix))
        || ["TOKEN", "PASSWORD", "SECRET", "API_KEY"]
            .iter()
            .any(|word| upper.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_are_recognised() {
        for name in [
            "PYPI_API_TOKEN_HF_LOCAL",
            "TWINE_PASSWORD",
            "UV_PUBLISH_TOKEN",
            "GITHUB_TOKEN",
            "MY_SECRET",
        ] {
            assert!(is_secret_env_name(name, &[]), "{name}");
        }
        for name in ["PATH", "HOME", "SOURCE_DATE_EPOCH", "LANG"] {
            assert!(!is_secret_env_name(name, &[]), "{name}");
        }
        assert!(is_secret_env_name("RELEASE_KEY", &["RELEASE_KEY".into()]));
    }

    #[test]
    fn token_debug_hides_the_secret() {
        let token = Token {
            secret: SecretString::from("pypi-supersecret".to_string()),
            source: TokenSource::Env("PYPI_API_TOKEN".into()),
        };
        let shown = format!("{token:?}");
        assert!(!shown.contains("supersecret"));
        assert!(shown.contains("PYPI_API_TOKEN"));
    }
}
