//! Trusted publishing: in CI, trade the CI's OIDC identity token for a
//! short-lived upload token, the way PyPI's trusted publishers work.
//!
//! Three requests, each with its own explained failure:
//!
//! 1. `GET {oidc}/_/oidc/audience` → `{"audience": "pypi"}`: which audience
//!    the ID token must name (and whether the index does this at all);
//! 2. the ID token: GitHub Actions mints one on request
//!    (`GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=AUD` with
//!    `Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN` → `{"value": JWT}`);
//!    GitLab CI puts a pre-minted one in the environment (`id_tokens:`
//!    exported as `PYPI_ID_TOKEN`), and `TAGPUB_ID_TOKEN` works anywhere;
//! 3. `POST {oidc}/_/oidc/mint-token` with `{"token": JWT}` →
//!    `{"success": true, "token": "pypi-…"}`, or 422 with Warehouse's
//!    `{"message": …, "errors": [{"code": …, "description": …}]}`.
//!
//! `{oidc}` is `https://pypi.org` for PyPI's upload URL, `https://test.pypi.org`
//! for TestPyPI's, the repository's `oidc-url` when configured, else the
//! origin of its upload URL (what uv and gh-action-pypi-publish do).
//!
//! The request token, the ID token and the minted token are `SecretString`s;
//! anything an index echoes back is scrubbed of them before it is shown.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use url::Url;

/// The ID token variables read, in order (GitLab's `id_tokens:` entry, or
/// any CI that can put an OIDC token in the environment).
pub const ID_TOKEN_ENV: [&str; 2] = [crate::env::ID_TOKEN.name, "PYPI_ID_TOKEN"];

const GITHUB_REQUEST_URL: &str = "ACTIONS_ID_TOKEN_REQUEST_URL";
const GITHUB_REQUEST_TOKEN: &str = "ACTIONS_ID_TOKEN_REQUEST_TOKEN";

/// How long a minted token is reused within one process. PyPI's live 15
/// minutes; a plan and the release that follows it share one.
const REUSE_FOR: Duration = Duration::from_secs(5 * 60);

/// Where this process can get an OIDC ID token from.
pub enum Ambient {
    /// GitHub Actions with `permissions: id-token: write`.
    GitHub {
        request_url: String,
        request_token: SecretString,
    },
    /// A ready ID token in an environment variable (GitLab CI and others).
    Env { name: String, token: SecretString },
}

impl Ambient {
    /// For messages and the token's source: `GitHub Actions`, `PYPI_ID_TOKEN`.
    pub fn provider(&self) -> String {
        match self {
            Ambient::GitHub { .. } => "GitHub Actions".to_string(),
            Ambient::Env { name, .. } => name.clone(),
        }
    }

    fn key(&self) -> String {
        match self {
            Ambient::GitHub { request_url, .. } => format!("github {request_url}"),
            Ambient::Env { name, .. } => format!("env {name}"),
        }
    }
}

/// What the environment offers for trusted publishing.
pub enum Detected {
    Available(Ambient),
    /// `GITHUB_ACTIONS=true` but no token request variables: the job was
    /// not given `id-token: write`.
    GitHubWithoutPermission,
    None,
}

/// Looks at the environment (through `env`, so tests can pass their own).
pub fn detect(env: &dyn Fn(&str) -> Option<String>) -> Detected {
    let set = |name: &str| {
        env(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    // An ID token given explicitly wins over asking GitHub for one.
    for name in ID_TOKEN_ENV {
        if let Some(token) = set(name) {
            return Detected::Available(Ambient::Env {
                name: name.to_string(),
                token: SecretString::from(token),
            });
        }
    }
    match (set(GITHUB_REQUEST_URL), set(GITHUB_REQUEST_TOKEN)) {
        (Some(request_url), Some(request_token)) => Detected::Available(Ambient::GitHub {
            request_url,
            request_token: SecretString::from(request_token),
        }),
        _ if set("GITHUB_ACTIONS").as_deref() == Some("true") => Detected::GitHubWithoutPermission,
        _ => Detected::None,
    }
}

/// [`detect`] on this process's environment.
pub fn detect_env() -> Detected {
    detect(&|name| std::env::var(name).ok())
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum OidcError {
    #[error(
        "trusted publishing is not possible: this GitHub Actions job has no ID token, \
         the workflow lacks `permissions: id-token: write` ({GITHUB_REQUEST_URL} is not set). \
         Add `permissions:` with `id-token: write` to the job that runs tagpub"
    )]
    NoPermission,
    #[error(
        "trusted publishing: cannot tell where the OIDC endpoints of {upload_url} are: {reason}"
    )]
    Base { upload_url: String, reason: String },
    #[error("trusted publishing: cannot get the OIDC audience from {url}: {reason}")]
    Audience { url: String, reason: String },
    #[error("trusted publishing: {provider} did not issue an ID token: {reason}")]
    IdToken { provider: String, reason: String },
    #[error("trusted publishing: {help}{index} said: {reasons}")]
    Refused {
        index: String,
        reasons: String,
        help: String,
    },
    #[error(
        "trusted publishing: {url} answered {status}, not a token: {body}. Wait a few minutes and try again"
    )]
    BadMintResponse {
        url: String,
        status: String,
        body: String,
    },
}

/// The base URL of a repository's OIDC endpoints.
pub fn oidc_base(upload_url: &str, configured: Option<&str>) -> Result<Url, OidcError> {
    let error = |reason: String| OidcError::Base {
        upload_url: upload_url.to_string(),
        reason,
    };
    if let Some(configured) = configured {
        return Url::parse(configured).map_err(|e| error(format!("oidc-url: {e}")));
    }
    let url = Url::parse(upload_url).map_err(|e| error(e.to_string()))?;
    // PyPI and TestPyPI upload on their own host but mint on the main one.
    let origin = match url.host_str() {
        Some("upload.pypi.org") => "https://pypi.org".to_string(),
        Some("test.pypi.org") => "https://test.pypi.org".to_string(),
        Some(_) => url.origin().ascii_serialization(),
        None => return Err(error("it has no host".to_string())),
    };
    Url::parse(&origin).map_err(|e| error(e.to_string()))
}

/// `{base}/_/oidc/{endpoint}`, keeping a path the base may have.
fn endpoint(base: &Url, endpoint: &str) -> String {
    format!("{}/_/oidc/{endpoint}", base.as_str().trim_end_matches('/'))
}

/// A short-lived token and where it was minted.
pub struct Minted {
    pub token: SecretString,
    pub mint_url: String,
}

/// Minted tokens (and failures) of this process, so `release` mints once
/// for its plan and its upload.
#[allow(clippy::type_complexity)]
static MINTED: Mutex<Vec<(String, Instant, Result<(String, SecretString), OidcError>)>> =
    Mutex::new(Vec::new());

/// [`mint`], reusing what this process minted for the same index and ID
/// token source in the last few minutes.
pub fn mint_cached(base: &Url, ambient: &Ambient, project: &str) -> Result<Minted, OidcError> {
    // A token serves every project of its publisher; a refusal's help names
    // the project it was asked for, so it is kept per project.
    let key = format!("{} {}", base, ambient.key());
    let failure_key = format!("{key} {}", crate::version::normalize_name(project));
    let mut cache = MINTED.lock().unwrap_or_else(|e| e.into_inner());
    cache.retain(|(_, at, _)| at.elapsed() < REUSE_FOR);
    let found = cache.iter().find_map(|(k, _, result)| match result {
        Ok(_) if *k == key => Some(result),
        Err(_) if *k == failure_key => Some(result),
        _ => None,
    });
    if let Some(result) = found {
        return match result {
            Ok((mint_url, token)) => Ok(Minted {
                token: SecretString::from(token.expose_secret().to_string()),
                mint_url: mint_url.clone(),
            }),
            Err(err) => Err(err.clone()),
        };
    }
    let result = mint(base, ambient, project);
    cache.push((
        if result.is_ok() { key } else { failure_key },
        Instant::now(),
        match &result {
            Ok(minted) => Ok((
                minted.mint_url.clone(),
                SecretString::from(minted.token.expose_secret().to_string()),
            )),
            Err(err) => Err(err.clone()),
        },
    ));
    result
}

/// The three requests: audience, ID token, mint.
pub fn mint(base: &Url, ambient: &Ambient, project: &str) -> Result<Minted, OidcError> {
    // Same proxies and CA bundles as every other request to the index.
    let client = crate::http::client().map_err(|e| OidcError::Audience {
        url: base.to_string(),
        reason: e.to_string(),
    })?;
    // The CI's credentials are secrets this process holds: masked wherever
    // an answer quotes them.
    match ambient {
        Ambient::Env { name, token } => crate::secrets::held::remember(token, Some(name.as_str())),
        Ambient::GitHub { request_token, .. } => {
            crate::secrets::held::remember(request_token, Some(GITHUB_REQUEST_TOKEN))
        }
    }
    let audience = fetch_audience(&client, base)?;
    tracing::debug!(%audience, "trusted publishing audience");
    let id_token = id_token(&client, ambient, &audience)?;
    crate::secrets::held::remember(&id_token, None);
    let mint_url = endpoint(base, "mint-token");
    let token = exchange(&client, base, &mint_url, &id_token, project, ambient)?;
    Ok(Minted { token, mint_url })
}

fn fetch_audience(client: &reqwest::blocking::Client, base: &Url) -> Result<String, OidcError> {
    let url = endpoint(base, "audience");
    let error = |reason: String| OidcError::Audience {
        url: url.clone(),
        reason,
    };
    let response = client
        .get(&url)
        .send()
        .map_err(|e| error(format!("cannot reach it ({})", e.without_url())))?;
    let status = response.status();
    match status.as_u16() {
        200..=299 => {}
        403 => {
            return Err(error(
                "403: the index has trusted publishing disabled; use an API token instead"
                    .to_string(),
            ));
        }
        404 => {
            return Err(error(format!(
                "404: {} does not offer trusted publishing. If its OIDC endpoints live elsewhere, \
                 set `oidc-url` in its [repository.NAME] section; else use an API token",
                base.as_str().trim_end_matches('/')
            )));
        }
        _ => return Err(error(format!("unexpected answer {status}"))),
    }
    #[derive(serde::Deserialize)]
    struct Audience {
        audience: String,
    }
    let text = response
        .text()
        .map_err(|e| error(e.without_url().to_string()))?;
    serde_json::from_str::<Audience>(&text)
        .map(|a| a.audience)
        .map_err(|_| error(format!("not an audience: {}", excerpt(&text, &[]))))
}

fn id_token(
    client: &reqwest::blocking::Client,
    ambient: &Ambient,
    audience: &str,
) -> Result<SecretString, OidcError> {
    let (request_url, request_token) = match ambient {
        Ambient::Env { token, .. } => {
            return Ok(SecretString::from(token.expose_secret().to_string()));
        }
        Ambient::GitHub {
            request_url,
            request_token,
        } => (request_url, request_token),
    };
    let error = |reason: String| OidcError::IdToken {
        provider: ambient.provider(),
        reason,
    };
    // The request URL carries its own query (`?api-version=2.0`): append.
    let mut url = Url::parse(request_url)
        .map_err(|e| error(format!("{GITHUB_REQUEST_URL} is not a URL: {e}")))?;
    url.query_pairs_mut().append_pair("audience", audience);
    let response = client
        .get(url)
        .header(
            reqwest::header::AUTHORIZATION,
            format!("bearer {}", request_token.expose_secret()),
        )
        .send()
        .map_err(|e| {
            error(format!(
                "cannot reach the token service ({})",
                e.without_url()
            ))
        })?;
    let status = response.status();
    let text = response.text().unwrap_or_default();
    let secrets = [request_token];
    if !status.is_success() {
        let hint = if matches!(status.as_u16(), 401 | 403) {
            "; check that the job has `permissions: id-token: write`"
        } else {
            ""
        };
        return Err(error(format!(
            "the token service answered {status}: {}{hint}",
            excerpt(&text, &secrets)
        )));
    }
    #[derive(serde::Deserialize)]
    struct Value {
        value: String,
    }
    serde_json::from_str::<Value>(&text)
        .map(|v| SecretString::from(v.value))
        .map_err(|_| {
            error(format!(
                "the token service answered without a token: {}",
                excerpt(&text, &secrets)
            ))
        })
}

fn exchange(
    client: &reqwest::blocking::Client,
    base: &Url,
    mint_url: &str,
    id_token: &SecretString,
    project: &str,
    ambient: &Ambient,
) -> Result<SecretString, OidcError> {
    let index = index_name(base);
    let body = serde_json::json!({ "token": id_token.expose_secret() });
    let response =
        client
            .post(mint_url)
            .json(&body)
            .send()
            .map_err(|e| OidcError::BadMintResponse {
                url: mint_url.to_string(),
                status: "nothing".to_string(),
                body: format!("cannot reach it ({})", e.without_url()),
            })?;
    let status = response.status();
    let text = response.text().unwrap_or_default();
    let secrets = [id_token];

    #[derive(serde::Deserialize)]
    struct Answer {
        token: Option<String>,
        #[serde(default)]
        errors: Vec<Reason>,
        message: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct Reason {
        code: String,
        description: String,
    }
    let answer = serde_json::from_str::<Answer>(&text).ok();
    if status.is_success()
        && let Some(token) = answer.as_ref().and_then(|a| a.token.clone())
        && !token.trim().is_empty()
    {
        return Ok(SecretString::from(token.trim().to_string()));
    }
    match answer {
        Some(answer)
            if !status.is_success() && (!answer.errors.is_empty() || answer.message.is_some()) =>
        {
            let mut reasons: Vec<String> = answer
                .errors
                .iter()
                .map(|r| format!("`{}`: {}", r.code, excerpt(&r.description, &secrets)))
                .collect();
            if reasons.is_empty()
                && let Some(message) = &answer.message
            {
                reasons.push(excerpt(message, &secrets));
            }
            let codes: Vec<&str> = answer.errors.iter().map(|r| r.code.as_str()).collect();
            Err(OidcError::Refused {
                help: refusal_help(&codes, base, &index, project, ambient),
                index,
                reasons: reasons.join("; "),
            })
        }
        _ => Err(OidcError::BadMintResponse {
            url: mint_url.to_string(),
            status: status.to_string(),
            body: excerpt(&text, &secrets),
        }),
    }
}

/// `PyPI`, `TestPyPI`, or the host.
fn index_name(base: &Url) -> String {
    match base.host_str() {
        Some("pypi.org") => "PyPI".to_string(),
        Some("test.pypi.org") => "TestPyPI".to_string(),
        _ => base
            .host_str()
            .map(|h| match base.port() {
                Some(port) => format!("{h}:{port}"),
                None => h.to_string(),
            })
            .unwrap_or_else(|| base.to_string()),
    }
}

/// What to do about Warehouse's error codes (its `oidc/views.py`).
fn refusal_help(
    codes: &[&str],
    base: &Url,
    index: &str,
    project: &str,
    ambient: &Ambient,
) -> String {
    let root = base.as_str().trim_end_matches('/');
    let project = crate::version::normalize_name(project);
    if codes.contains(&"invalid-publisher") {
        format!(
            "no trusted publisher configured for this project on {index} matches this run: \
             add one at {root}/manage/project/{project}/settings/publishing/ with this CI's \
             repository, workflow file and environment (for a project not yet on {index}, \
             a pending publisher at {root}/manage/account/publishing/). "
        )
    } else if codes.contains(&"invalid-pending-publisher") {
        format!(
            "the project exists on {index} now: move the pending publisher to \
             {root}/manage/project/{project}/settings/publishing/. "
        )
    } else if codes.contains(&"invalid-reuse-token") {
        format!(
            "{} gave an ID token that was already used: each release needs a fresh one. ",
            ambient.provider()
        )
    } else if codes.contains(&"invalid-token") || codes.contains(&"invalid-payload") {
        format!(
            "the ID token from {} was not accepted; check that its audience is the one {index} \
             asks for at {root}/_/oidc/audience. ",
            ambient.provider()
        )
    } else if codes.contains(&"not-enabled") {
        format!("{index} has trusted publishing turned off for this CI; use an API token. ")
    } else {
        format!("{index} refused to mint an upload token. ")
    }
}

/// At most 300 characters of an answer, with every form of the given and
/// the held secrets and anything shaped like a JWT or a PyPI token masked
/// (`secrets::mask`): indexes echo their input.
pub fn excerpt(text: &str, secrets: &[&SecretString]) -> String {
    let text = crate::secrets::mask::mask_with(text.trim(), secrets);
    let mut chars = text.chars();
    let short: String = chars.by_ref().take(300).collect();
    if chars.next().is_some() {
        format!("{short}…")
    } else if short.is_empty() {
        "(empty)".to_string()
    } else {
        short
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn oidc_base_follows_pypi_then_the_upload_origin() {
        let base = |url: &str, configured: Option<&str>| {
            oidc_base(url, configured).unwrap().as_str().to_string()
        };
        assert_eq!(
            base("https://upload.pypi.org/legacy/", None),
            "https://pypi.org/"
        );
        assert_eq!(
            base("https://test.pypi.org/legacy/", None),
            "https://test.pypi.org/"
        );
        assert_eq!(
            base("http://127.0.0.1:8080/legacy/", None),
            "http://127.0.0.1:8080/"
        );
        assert_eq!(
            base(
                "https://pypi.example.org/legacy/",
                Some("https://oidc.example.org/x/")
            ),
            "https://oidc.example.org/x/"
        );
        assert_eq!(
            endpoint(
                &Url::parse("https://oidc.example.org/x/").unwrap(),
                "audience"
            ),
            "https://oidc.example.org/x/_/oidc/audience"
        );
    }

    #[test]
    fn detection_prefers_an_explicit_id_token_and_spots_missing_permission() {
        assert!(matches!(
            detect(&env_of(&[("GITHUB_ACTIONS", "true")])),
            Detected::GitHubWithoutPermission
        ));
        assert!(matches!(detect(&env_of(&[])), Detected::None));
        match detect(&env_of(&[
            ("GITHUB_ACTIONS", "true"),
            (GITHUB_REQUEST_URL, "https://x/?api-version=2.0"),
            (GITHUB_REQUEST_TOKEN, "r"),
        ])) {
            Detected::Available(a) => assert_eq!(a.provider(), "GitHub Actions"),
            _ => panic!("GitHub not detected"),
        }
        match detect(&env_of(&[
            ("GITLAB_CI", "true"),
            ("PYPI_ID_TOKEN", "eyJ.x.y"),
            (GITHUB_REQUEST_URL, "https://x/"),
            (GITHUB_REQUEST_TOKEN, "r"),
        ])) {
            Detected::Available(a) => assert_eq!(a.provider(), "PYPI_ID_TOKEN"),
            _ => panic!("the ID token variable was not used"),
        }
    }

    #[test]
    fn excerpts_hide_secrets_and_token_shapes() {
        let secret = SecretString::from("s3cr3t-request-token".to_string());
        let text = "input_value='eyJhbGciOi.eyJzdWIi.c2ln' and s3cr3t-request-token, \
                    pypi-AgEIcHlwaS5vcmcCJGFhYWFhYWFh";
        let shown = excerpt(text, &[&secret]);
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(!shown.contains("eyJhbGciOi"), "{shown}");
        assert!(!shown.contains("AgEIcHlw"), "{shown}");
        assert!(shown.contains("input_value='[redacted]'"), "{shown}");
    }

    #[test]
    fn invalid_publisher_help_names_the_settings_page() {
        let base = Url::parse("https://pypi.org").unwrap();
        let ambient = Ambient::Env {
            name: "PYPI_ID_TOKEN".into(),
            token: SecretString::from("x".to_string()),
        };
        let help = refusal_help(
            &["invalid-publisher"],
            &base,
            &index_name(&base),
            "Open_Ticket-AI",
            &ambient,
        );
        assert!(
            help.contains("no trusted publisher configured for this project on PyPI")
                && help.contains(
                    "https://pypi.org/manage/project/open-ticket-ai/settings/publishing/"
                ),
            "{help}"
        );
    }
}
