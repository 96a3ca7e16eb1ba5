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
use url::Url;

pub const USER_AGENT: &str = concat!("tagpub/", env!("CARGO_PKG_VERSION"));
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Generous: a large wheel over a slow link must not be cut off.
const DEFAULT_UPLOAD_TIMEOUT: Duration = Duration::from_secs(15 * 60);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Extra CA bundles, in the order they are read.
pub const CA_BUNDLE_ENVS: [&str; 2] = ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"];

#[derive(Debug, thiserror::Error)]
pub enum HttpSetupError {
    #[error("{var}={path}: cannot read the CA bundle")]
    ReadBundle {
        var: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{var}={path} holds no PEM certificate: no `-----BEGIN CERTIFICATE-----` block")]
    EmptyBundle { var: &'static str, path: PathBuf },
    #[error("{var}={path} holds no PEM certificate tagpub can read")]
    BadBundle {
        var: &'static str,
        path: PathBuf,
        #[source]
        source: reqwest::Error,
    },
    #[error("{0}=`{1}` is not a duration (use e.g. 30s or 2m)")]
    BadTimeout(&'static str, String),
    #[error("cannot set up the HTTP client")]
    Client(#[source] reqwest::Error),
}

/// A client for requests outside an index's upload and simple pages (the
/// trusted-publishing exchange): follows redirects, checks certificates,
/// `TAGPUB_HTTP_TIMEOUT`. Set up once per process.
pub fn client() -> Result<Client, HttpSetupError> {
    static CLIENT: OnceLock<Client> = OnceLock::new();
    built_once(&CLIENT, || {
        with_ca_bundles(base_builder().timeout(request_timeout()?))
    })
}

/// tagpub's user agent and connect timeout.
fn base_builder() -> reqwest::blocking::ClientBuilder {
    Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(CONNECT_TIMEOUT)
}

/// The client in `cell`, built by `builder` the first time.
fn built_once(
    cell: &OnceLock<Client>,
    builder: impl FnOnce() -> Result<reqwest::blocking::ClientBuilder, HttpSetupError>,
) -> Result<Client, HttpSetupError> {
    if let Some(client) = cell.get() {
        return Ok(client.clone());
    }
    let client = builder()?.build().map_err(HttpSetupError::Client)?;
    Ok(cell.get_or_init(|| client).clone())
}

/// Adds the certificates of the PEM bundles the environment names.
fn with_ca_bundles(
    mut builder: reqwest::blocking::ClientBuilder,
) -> Result<reqwest::blocking::ClientBuilder, HttpSetupError> {
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
        let certificates = reqwest::Certificate::from_pem_bundle(&pem).map_err(|source| {
            HttpSetupError::BadBundle {
                var,
                path: path.clone(),
                source,
            }
        })?;
        if certificates.is_empty() {
            return Err(HttpSetupError::EmptyBundle { var, path });
        }
        for certificate in certificates {
            builder = builder.add_root_certificate(certificate);
        }
    }
    Ok(builder)
}

/// The client for requests to an index at `url`: never follows redirects
/// (a redirected upload would turn into a GET; listings follow them through
/// [`get`]), no overall timeout (each request sets its own), and the root
/// certificates loaded only for `https` (reading the system's store is
/// most of a short release's setup). One per scheme per process.
pub fn index_client(url: &Url) -> Result<Client, HttpSetupError> {
    static PLAIN: OnceLock<Client> = OnceLock::new();
    static TLS: OnceLock<Client> = OnceLock::new();
    let tls = url.scheme() != "http";
    built_once(if tls { &TLS } else { &PLAIN }, || {
        let builder = base_builder()
            .timeout(None)
            .redirect(reqwest::redirect::Policy::none());
        if tls {
            with_ca_bundles(builder)
        } else {
            Ok(builder.tls_built_in_root_certs(false))
        }
    })
}

/// How long one upload may take (`TAGPUB_UPLOAD_TIMEOUT`).
pub fn upload_timeout() -> Result<Duration, HttpSetupError> {
    timeout_from_env(crate::env::UPLOAD_TIMEOUT, DEFAULT_UPLOAD_TIMEOUT)
}

/// How long any other request may take (`TAGPUB_HTTP_TIMEOUT`).
pub fn request_timeout() -> Result<Duration, HttpSetupError> {
    timeout_from_env(crate::env::HTTP_TIMEOUT, DEFAULT_TIMEOUT)
}

/// Most redirects a GET follows, as browsers and pip do.
const MAX_REDIRECTS: usize = 10;

#[derive(Debug)]
pub enum GetError {
    Setup(HttpSetupError),
    /// The request to `url` (the hop that failed) failed.
    Request {
        url: Url,
        source: reqwest::Error,
    },
    TooManyRedirects {
        url: Url,
    },
}

/// GET with `accept`, following redirects (each hop with the client its
/// scheme needs). The response's `url()` is the last hop.
pub fn get(url: &Url, accept: &str) -> Result<reqwest::blocking::Response, GetError> {
    let timeout = request_timeout().map_err(GetError::Setup)?;
    let mut url = url.clone();
    for _ in 0..=MAX_REDIRECTS {
        let client = index_client(&url).map_err(GetError::Setup)?;
        let response = client
            .get(url.clone())
            .header(reqwest::header::ACCEPT, accept)
            .timeout(timeout)
            .send()
            .map_err(|source| GetError::Request {
                url: url.clone(),
                source,
            })?;
        let next = response
            .status()
            .is_redirection()
            .then(|| response.headers().get(reqwest::header::LOCATION))
            .flatten()
            .and_then(|location| location.to_str().ok())
            .and_then(|location| url.join(location).ok())
            .filter(|next| matches!(next.scheme(), "http" | "https"));
        match next {
            Some(next) => url = next,
            None => return Ok(response),
        }
    }
    Err(GetError::TooManyRedirects { url })
}

fn timeout_from_env(var: crate::env::Var, default: Duration) -> Result<Duration, HttpSetupError> {
    match var.get() {
        Some(text) if !text.trim().is_empty() => humantime::parse_duration(text.trim())
            .map_err(|_| HttpSetupError::BadTimeout(var.name, text)),
        _ => Ok(default),
    }
}
