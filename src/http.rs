//! The HTTP client every request to an index goes through: tagpub's user
//! agent, timeouts, proxies and certificate authorities.
//!
//! - Proxies come from the environment, as for pip and twine: `HTTPS_PROXY`,
//!   `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` (either case).
//! - Server certificates are checked against the system's roots plus
//!   Mozilla's, and the PEM bundles named by `SSL_CERT_FILE` and, for users
//!   coming from twine, `REQUESTS_CA_BUNDLE`.
//! - `TAGPUB_UPLOAD_TIMEOUT` and `TAGPUB_HTTP_TIMEOUT` (e.g. `30s`) bound one
//!   upload and one other request.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use reqwest::blocking::Client;

pub const USER_AGENT: &str = concat!("tagpub/", env!("CARGO_PKG_VERSION"));
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Generous: a large wheel over a slow link must not be cut off.
const DEFAULT_UPLOAD_TIMEOUT: Duration = Duration::from_secs(15 * 60);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
pub const UPLOAD_TIMEOUT_ENV: &str = "TAGPUB_UPLOAD_TIMEOUT";
pub const TIMEOUT_ENV: &str = "TAGPUB_HTTP_TIMEOUT";
/// Extra CA bundles, in the order they are read.
pub const CA_BUNDLE_ENVS: [&str; 2] = ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The upload POST: long timeout, never follow redirects (a redirected
    /// POST turns into a GET and the file is silently not uploaded).
    Upload,
    /// Listings, OIDC exchanges and other short requests.
    Request,
}

#[derive(Debug, thiserror::Error)]
pub enum HttpSetupError {
    #[error("{var}={path}: cannot read the CA bundle: {source}")]
    ReadBundle {
        var: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{var}={path} holds no PEM certificate: {reason}")]
    BadBundle {
        var: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("{0}=`{1}` is not a duration (use e.g. 30s or 2m)")]
    BadTimeout(&'static str, String),
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
}

/// A client for `purpose`, set up from the environment once per process
/// (loading the system's root certificates is the slow part) and shared:
/// clones share one connection pool.
pub fn client(purpose: Purpose) -> Result<Client, HttpSetupError> {
    static UPLOAD: OnceLock<Client> = OnceLock::new();
    static REQUEST: OnceLock<Client> = OnceLock::new();
    let cell = match purpose {
        Purpose::Upload => &UPLOAD,
        Purpose::Request => &REQUEST,
    };
    if let Some(client) = cell.get() {
        return Ok(client.clone());
    }
    let client = new_client(purpose)?;
    Ok(cell.get_or_init(|| client).clone())
}

fn new_client(purpose: Purpose) -> Result<Client, HttpSetupError> {
    let (timeout_env, default) = match purpose {
        Purpose::Upload => (UPLOAD_TIMEOUT_ENV, DEFAULT_UPLOAD_TIMEOUT),
        Purpose::Request => (TIMEOUT_ENV, DEFAULT_TIMEOUT),
    };
    let mut builder = Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(timeout_from_env(timeout_env, default)?);
    if purpose == Purpose::Upload {
        builder = builder.redirect(reqwest::redirect::Policy::none());
    }
    for var in CA_BUNDLE_ENVS {
        let Some(path) = std::env::var_os(var).filter(|p| !p.is_empty()) else {
            continue;
        };
        let path = PathBuf::from(path);
        let pem = std::fs::read(&path).map_err(|source| HttpSetupError::ReadBundle {
            var,
            path: path.clone(),
            source,
        })?;
        let certificates =
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| HttpSetupError::BadBundle {
                var,
                path: path.clone(),
                reason: e.to_string(),
            })?;
        if certificates.is_empty() {
            return Err(HttpSetupError::BadBundle {
                var,
                path,
                reason: "no `-----BEGIN CERTIFICATE-----` block".to_string(),
            });
        }
        for certificate in certificates {
            builder = builder.add_root_certificate(certificate);
        }
    }
    builder
        .build()
        .map_err(|e| HttpSetupError::Client(e.to_string()))
}

fn timeout_from_env(var: &'static str, default: Duration) -> Result<Duration, HttpSetupError> {
    match std::env::var(var) {
        Ok(text) if !text.trim().is_empty() => humantime::parse_duration(text.trim())
            .map_err(|_| HttpSetupError::BadTimeout(var, text)),
        _ => Ok(default),
    }
}
