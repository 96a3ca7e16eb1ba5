//! Where upload tokens come from. The only module that touches secrets.
//!
//! [`lookup_token`] is the one lookup chain; release, plan, `token list` and
//! (later) the daemon all go through it. First found wins:
//!
//! 1. the package's keychain entry (`tagpub token set --package P`),
//! 2. the repository's keychain entry: service = the upload URL, user
//!    `__token__`, which is exactly where Python's `keyring` (and so twine)
//!    keeps it, so one entry serves both tools,
//! 3. the package's `token-env`, then the repository's `token-env`,
//! 4. `PYPI_API_TOKEN`, `TWINE_PASSWORD`, `UV_PUBLISH_TOKEN`,
//! 5. `~/.pypirc`,
//! 6. trusted publishing: in CI with an OIDC ID token (GitHub Actions with
//!    `id-token: write`, GitLab's `PYPI_ID_TOKEN`, `TAGPUB_ID_TOKEN`), a
//!    short-lived token minted by the index (`oidc.rs`).
//!
//! Tokens are `SecretString` from the moment they are read; their `Debug`,
//! their source and every message show at most a redacted form.

pub mod keychain;
pub mod macaroon;
pub mod oidc;
pub mod pypirc;

use std::fmt;
use std::path::PathBuf;
use std::sync::Mutex;

use secrecy::{ExposeSecret, SecretString};

pub use crate::secrets::TOKEN_USER;

use crate::config::{Package, RemoteRepository, RepositoryConfig};
use crate::version::normalize_name;

/// The generic variables twine, uv and the seed's CI workflows use.
pub const GENERIC_TOKEN_ENV: [&str; 3] = ["PYPI_API_TOKEN", "TWINE_PASSWORD", "UV_PUBLISH_TOKEN"];

/// The keychain service of tagpub's package-scoped entries.
pub const KEYCHAIN_SERVICE: &str = "tagpub";

/// Where a token was (or would be) found. Never holds the token itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum TokenSource {
    Keychain {
        service: String,
        user: String,
    },
    Env {
        name: String,
    },
    Pypirc {
        path: PathBuf,
        section: String,
    },
    /// Minted just now from a CI's OIDC ID token.
    TrustedPublishing {
        provider: String,
        mint_url: String,
    },
}

impl fmt::Display for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenSource::Keychain { service, user } if service == KEYCHAIN_SERVICE => {
                write!(f, "keychain entry {user} (package-scoped)")
            }
            TokenSource::Keychain { service, user } => {
                write!(
                    f,
                    "keychain entry {service} {user} (shared with twine/keyring)"
                )
            }
            TokenSource::Env { name } => write!(f, "environment variable {name}"),
            TokenSource::Pypirc { path, section } => write!(f, "{} [{section}]", path.display()),
            TokenSource::TrustedPublishing { provider, mint_url } => {
                write!(
                    f,
                    "trusted publishing ({provider} ID token, minted at {mint_url})"
                )
            }
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

impl Token {
    /// `pypi-AgE…x4Q`.
    pub fn redacted(&self) -> String {
        macaroon::redact(self.secret.expose_secret())
    }

    /// What a PyPI token says about itself; `None` for other kinds of token.
    pub fn info(&self) -> Option<macaroon::TokenInfo> {
        macaroon::inspect(self.secret.expose_secret()).ok()
    }

    /// Why the index would refuse this token for `project` now, if it would.
    pub fn refusal(&self, project: &str) -> Option<String> {
        self.info()?.refusal_now(project)
    }
}

/// The keychain entry `tagpub token set --package` writes.
pub fn package_entry(repository: &str, package: &str) -> (String, String) {
    (
        KEYCHAIN_SERVICE.to_string(),
        format!("{repository}/{}", normalize_name(package)),
    )
}

/// The keychain entry shared with Python's keyring: upload URL + `__token__`.
pub fn repository_entry(upload_url: &str) -> (String, String) {
    (upload_url.to_string(), TOKEN_USER.to_string())
}

/// The result of the chain: the token, or why there is none.
pub struct Lookup {
    pub token: Option<Token>,
    /// Why the keychain could not be asked, when it could not.
    pub keychain_problem: Option<String>,
    /// Why trusted publishing gave no token, when this is a CI job that
    /// could have used it.
    pub trusted_publishing_problem: Option<String>,
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

/// A keychain that failed once (no D-Bus, locked, timed out) is not asked
/// again by this process: every later call would fail or wait the same way.
static KEYCHAIN_FAILURE: Mutex<Option<String>> = Mutex::new(None);

fn keychain_get(service: &str, user: &str) -> Result<Option<SecretString>, String> {
    if let Some(problem) = KEYCHAIN_FAILURE.lock().expect("not poisoned").clone() {
        return Err(problem);
    }
    keychain::get(service, user).map_err(|err| {
        let problem = crate::exit::chain_text(&err);
        *KEYCHAIN_FAILURE.lock().expect("not poisoned") = Some(problem.clone());
        problem
    })
}

/// The token for publishing `package` to `target`: the first found wins.
pub fn lookup_token(package: &Package, target: &RemoteRepository) -> Lookup {
    let mut keychain_problem = None;
    let entries = [
        package_entry(&target.name, &package.name),
        repository_entry(target.upload_url()),
    ];
    for (service, user) in entries {
        match keychain_get(&service, &user) {
            Ok(Some(secret)) => {
                crate::secrets::held::remember(&secret, None);
                return Lookup {
                    token: Some(Token {
                        secret,
                        source: TokenSource::Keychain { service, user },
                    }),
                    keychain_problem: None,
                    trusted_publishing_problem: None,
                };
            }
            Ok(None) => {}
            Err(problem) => {
                tracing::debug!(%problem, "keychain not available");
                keychain_problem = Some(problem);
                break;
            }
        }
    }
    let from_env = token_env_names(package, Some(&target.settings))
        .into_iter()
        .find_map(|name| {
            let value = std::env::var(&name).ok()?;
            let value = value.trim();
            (!value.is_empty()).then(|| Token {
                secret: SecretString::from(value.to_string()),
                source: TokenSource::Env { name },
            })
        });
    let token = from_env.or_else(|| {
        let path = pypirc::default_path()?;
        match pypirc::lookup(&path, &target.name, Some(target.upload_url())) {
            Ok(found) => found.map(|found| Token {
                secret: found.secret,
                source: TokenSource::Pypirc {
                    path,
                    section: found.section,
                },
            }),
            Err(problem) => {
                tracing::warn!(%problem, "ignoring ~/.pypirc");
                None
            }
        }
    });
    let mut trusted_publishing_problem = None;
    let token = token.or_else(|| match trusted_publishing(package, target) {
        Ok(token) => token,
        Err(problem) => {
            trusted_publishing_problem = Some(problem.to_string());
            None
        }
    });
    if let Some(token) = &token {
        let env_name = match &token.source {
            TokenSource::Env { name } => Some(name.as_str()),
            _ => None,
        };
        crate::secrets::held::remember(&token.secret, env_name);
    }
    Lookup {
        token,
        keychain_problem,
        trusted_publishing_problem,
    }
}

/// The last step of the chain: a token minted from the CI's ID token, when
/// this process runs in a CI that has one.
fn trusted_publishing(
    package: &Package,
    target: &RemoteRepository,
) -> Result<Option<Token>, oidc::OidcError> {
    let ambient = match oidc::detect_env() {
        oidc::Detected::None => return Ok(None),
        oidc::Detected::GitHubWithoutPermission => return Err(oidc::OidcError::NoPermission),
        oidc::Detected::Available(ambient) => ambient,
    };
    let configured = target.settings.oidc_url.as_deref();
    let base = oidc::oidc_base(target.upload_url(), configured)?;
    let minted = oidc::mint_cached(&base, &ambient, &package.name)?;
    tracing::info!(provider = %ambient.provider(), "minted a short-lived upload token");
    Ok(Some(Token {
        secret: minted.token,
        source: TokenSource::TrustedPublishing {
            provider: ambient.provider(),
            mint_url: minted.mint_url,
        },
    }))
}

/// How to give tagpub a token, for "no token" errors.
pub fn missing_token_help(package: &Package, target: &RemoteRepository, lookup: &Lookup) -> String {
    let names = token_env_names(package, Some(&target.settings));
    // In CI, trusted publishing was the way meant; its failure comes first.
    let mut help = match &lookup.trusted_publishing_problem {
        Some(problem) => format!("{problem}. Or "),
        None => String::new(),
    };
    help.push_str(&format!(
        "store one with `tagpub token set --repository {} --package {}` (or without --package for every package), \
         or set one of {} (read from the environment, never from the command line)",
        target.name,
        package.name,
        names.join(", ")
    ));
    if let Some(problem) = &lookup.keychain_problem {
        help.push_str(&format!(". The keychain was not searched: {problem}"));
    }
    help
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_publishing_inputs_never_reach_a_build() {
        // Trusted publishing's inputs never reach a build either.
        for name in oidc::ID_TOKEN_ENV.into_iter().chain([
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        ]) {
            assert!(crate::secrets::is_secret_env_name(name, &[]), "{name}");
        }
    }

    #[test]
    fn token_debug_and_source_hide_the_secret() {
        let token = Token {
            secret: SecretString::from("pypi-supersecretvalue".to_string()),
            source: TokenSource::Env {
                name: "PYPI_API_TOKEN".into(),
            },
        };
        let shown = format!("{token:?} {}", token.source);
        assert!(!shown.contains("supersecret"));
        assert!(shown.contains("PYPI_API_TOKEN"));
        assert!(!token.redacted().contains("supersecret"));
    }

    #[test]
    fn entries_are_named_for_interop() {
        assert_eq!(
            package_entry("pypi", "Open_Ticket_AI-HF-Local"),
            (
                "tagpub".to_string(),
                "pypi/open-ticket-ai-hf-local".to_string()
            )
        );
        assert_eq!(
            repository_entry("https://upload.pypi.org/legacy/"),
            (
                "https://upload.pypi.org/legacy/".to_string(),
                "__token__".to_string()
            )
        );
    }
}
