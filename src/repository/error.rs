//! What can go wrong talking to an index or writing the local one, and how
//! it is told: network failures classified (unreachable, TLS, other), error
//! pages cut to a short excerpt, and every secret masked on the way in.

use std::io;
use std::path::Path;
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use crate::http;
use crate::secrets;

/// For the plain connect probe that tells "refused" from other failures.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const BODY_EXCERPT_CHARS: usize = 300;

#[derive(Debug, thiserror::Error)]
pub enum RepositoryError {
    #[error(
        "{repo} refused the token (HTTP {status}) for {url}: check that the token was issued \
         for this index and allows uploading this project, or point token-env at the right \
         variable"
    )]
    Auth {
        repo: String,
        url: String,
        status: u16,
    },
    #[error(
        "{repo} requires a token to upload (HTTP {status} from {url}): set the repository's \
         token-env variable"
    )]
    TokenRequired {
        repo: String,
        url: String,
        status: u16,
    },
    #[error(
        "{filename} is already on {repo} with different contents ({detail}): a version can be \
         published only once; bump the version in pyproject.toml and create a new tag"
    )]
    Conflict {
        repo: String,
        filename: String,
        detail: String,
    },
    #[error("{repo} rejected {filename} (HTTP {status}): {message}")]
    Rejected {
        repo: String,
        filename: String,
        status: u16,
        message: String,
    },
    /// 5xx, 429 and unexpected statuses; 5xx and 429 are retried.
    #[error("{repo} answered HTTP {status} for {url}: {message}")]
    Server {
        repo: String,
        url: String,
        status: u16,
        message: String,
        /// The server's `Retry-After`.
        retry_after: Option<Duration>,
    },
    #[error("cannot reach {repo} at {url}: {reason}; check the URL and that the server is running")]
    Unreachable {
        repo: String,
        url: String,
        reason: String,
    },
    #[error(
        "{repo} at {url} presented a certificate tagpub does not trust ({reason}). If the index uses a private certificate authority, point SSL_CERT_FILE (or REQUESTS_CA_BUNDLE) at its PEM bundle"
    )]
    Tls {
        repo: String,
        url: String,
        reason: String,
    },
    #[error("talking to {repo} at {url} failed: {reason}")]
    Network {
        repo: String,
        url: String,
        reason: String,
    },
    #[error("{repo}: cannot read the index page {url}: {reason}")]
    BadIndex {
        repo: String,
        url: String,
        reason: String,
    },
    #[error("cannot publish {filename}: {reason}")]
    InvalidArtifact { filename: String, reason: String },
    #[error("gave up after {attempts} attempts")]
    GaveUp {
        attempts: u32,
        #[source]
        source: Box<RepositoryError>,
    },
    #[error(transparent)]
    Setup(#[from] crate::http::HttpSetupError),
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

impl RepositoryError {
    /// `Some(retry_after)` when the failure may pass if the request is
    /// sent again: no connection, a timeout or reset, HTTP 5xx or 429.
    pub fn retry_hint(&self) -> Option<Option<Duration>> {
        match self {
            RepositoryError::Unreachable { .. } | RepositoryError::Network { .. } => Some(None),
            RepositoryError::Server {
                status,
                retry_after,
                ..
            } if *status >= 500 || *status == 429 => Some(*retry_after),
            _ => None,
        }
    }
}

pub(super) fn network_error(repo: &str, url: &Url, err: reqwest::Error) -> RepositoryError {
    let error = network_error_unmasked(repo, url, err);
    // A reason may quote what the server sent (a bad header, a redirect).
    match error {
        RepositoryError::Tls { repo, url, reason } => RepositoryError::Tls {
            repo,
            url,
            reason: secrets::mask(&reason),
        },
        RepositoryError::Unreachable { repo, url, reason } => RepositoryError::Unreachable {
            repo,
            url,
            reason: secrets::mask(&reason),
        },
        RepositoryError::Network { repo, url, reason } => RepositoryError::Network {
            repo,
            url,
            reason: secrets::mask(&reason),
        },
        other => other,
    }
}

fn network_error_unmasked(repo: &str, url: &Url, err: reqwest::Error) -> RepositoryError {
    // reqwest's Display carries the URL, which may hold credentials.
    let err = err.without_url();
    let url_for_probe = url.clone();
    let (repo, url) = (repo.to_owned(), redact_url(url));
    let chain = error_chain(&err);
    if chain.to_ascii_lowercase().contains("certificate") {
        // Not retried: an untrusted certificate stays untrusted.
        let reason = root_cause(&err);
        return RepositoryError::Tls { repo, url, reason };
    }
    if err.is_timeout() {
        let reason = "timed out".to_owned();
        RepositoryError::Unreachable { repo, url, reason }
    } else if err.is_connect() {
        // The innermost cause ("Connection refused", "failed to lookup address") says it all.
        let reason = root_cause(&err);
        RepositoryError::Unreachable { repo, url, reason }
    } else if let Some(reason) = connect_probe(&url_for_probe) {
        // reqwest's blocking client may report a refused connection as a failed
        // body stream ("receiver is gone"); a plain connect tells them apart.
        RepositoryError::Unreachable { repo, url, reason }
    } else {
        let reason = error_chain(&err);
        RepositoryError::Network { repo, url, reason }
    }
}

/// Why a TCP connection to the URL's host fails, or `None` if it succeeds.
fn connect_probe(url: &Url) -> Option<String> {
    let addrs = match url.socket_addrs(|| None) {
        Ok(addrs) => addrs,
        Err(e) => return Some(e.to_string()),
    };
    let mut last = None;
    for addr in addrs {
        match std::net::TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(_) => return None,
            Err(e) => last = Some(e.to_string()),
        }
    }
    Some(last.unwrap_or_else(|| "the host name resolves to no address".to_owned()))
}

fn root_cause(err: &dyn std::error::Error) -> String {
    let mut cause = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// The text a person would read on a page, without styles, scripts and
/// the title (which repeats the heading).
fn visible_text(html: &str) -> String {
    // An explicit stack, not recursion: the page comes from the index, and a
    // page of 100 000 nested tags must not overflow tagpub's stack.
    enum Step {
        Node(tl::NodeHandle),
        Space,
    }
    let Ok(dom) = tl::parse(html, tl::ParserOptions::default()) else {
        return html.to_string();
    };
    let parser = dom.parser();
    let mut out = String::new();
    let mut stack: Vec<Step> = dom
        .children()
        .iter()
        .rev()
        .map(|c| Step::Node(*c))
        .collect();
    while let Some(step) = stack.pop() {
        let handle = match step {
            Step::Space => {
                out.push(' ');
                continue;
            }
            Step::Node(handle) => handle,
        };
        match handle.get(parser) {
            Some(tl::Node::Tag(tag)) => {
                let name = tag.name().as_utf8_str().to_ascii_lowercase();
                if matches!(name.as_str(), "style" | "script" | "title") {
                    continue;
                }
                // Children in order, then the space that ends the tag.
                stack.push(Step::Space);
                let children: Vec<Step> = tag
                    .children()
                    .top()
                    .iter()
                    .map(|c| Step::Node(*c))
                    .collect();
                stack.extend(children.into_iter().rev());
            }
            Some(tl::Node::Raw(text)) => out.push_str(&text.as_utf8_str()),
            _ => {}
        }
    }
    html_escape::decode_html_entities(&out).into_owned()
}

/// A short, readable excerpt of an error page: tags, styles and scripts
/// dropped, whitespace collapsed, and every form of every secret masked
/// (`secrets::mask`): servers echo what they were sent, headers included.
pub(super) fn body_excerpt(body: &str, token: Option<&SecretString>) -> String {
    let text = visible_text(body)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let mut text = secrets::mask::mask_with(&text, &token.into_iter().collect::<Vec<_>>());
    if text.is_empty() {
        return "(empty response)".to_owned();
    }
    if let Some((cut, _)) = text.char_indices().nth(BODY_EXCERPT_CHARS) {
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// The URL for messages and logs: a password (or a lone user, often a
/// token) becomes `***`.
pub fn redact_url(url: &Url) -> String {
    if url.password().is_none() && url.username().is_empty() {
        // A redirect's target comes from the index and may carry a secret.
        return secrets::mask(url.as_str());
    }
    let mut shown = url.clone();
    if shown.password().is_some() {
        let _ = shown.set_password(Some("***"));
    } else {
        let _ = shown.set_username("***");
    }
    shown.to_string()
}

pub(super) fn io_error(path: &Path, action: &str, source: io::Error) -> RepositoryError {
    RepositoryError::Io {
        context: format!("cannot {action} {}", path.display()),
        source,
    }
}

/// A failed GET of an index page or file, told as the repository's error.
pub(super) fn get_error(repo: &str, err: http::GetError) -> RepositoryError {
    match err {
        http::GetError::Setup(e) => RepositoryError::Setup(e),
        http::GetError::Request { url, source } => network_error(repo, &url, source),
        http::GetError::TooManyRedirects { url } => RepositoryError::BadIndex {
            repo: repo.to_owned(),
            url: redact_url(&url),
            reason: "too many redirects".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn error_pages_nested_beyond_any_stack_are_read_without_recursion() {
        let depth = 100_000;
        let page = format!("{}deep{}", "<div>".repeat(depth), "</div>".repeat(depth));
        // A small stack, as a worker thread of the daemon might have.
        let text = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || visible_text(&page))
            .unwrap()
            .join()
            .expect("no stack overflow");
        assert_eq!(text.trim(), "deep");
        assert_eq!(
            visible_text("<p>a<b>b</b><script>x</script></p>c")
                .split_whitespace()
                .collect::<Vec<_>>(),
            ["ab", "c"]
        );
    }

    #[test]
    fn redacts_credentials() {
        assert_eq!(
            redact_url(&url("https://user:secret@host/simple/")),
            "https://user:***@host/simple/"
        );
        assert_eq!(
            redact_url(&url("https://pypi-token@host/")),
            "https://***@host/"
        );
        assert_eq!(redact_url(&url("https://host/x/")), "https://host/x/");
    }

    #[test]
    fn body_excerpt_is_short_plain_text_without_token() {
        let page = "<html><head><title>Error</title><style>body {color: red}</style></head>\
                    <body><h1>400</h1><p>Package &#x27;x&#x27; already exists! pypi-SECRET</p>\
                    <script>var a = 1;</script></body></html>";
        let token = SecretString::from("pypi-SECRET");
        assert_eq!(
            body_excerpt(page, Some(&token)),
            "400 Package 'x' already exists! [redacted]"
        );
        let long = "x".repeat(1000);
        assert_eq!(
            body_excerpt(&long, None).chars().count(),
            BODY_EXCERPT_CHARS + 1
        );
        assert_eq!(body_excerpt("  ", None), "(empty response)");

        // An index echoing the request's Authorization header.
        use base64::Engine as _;
        let password = SecretString::from("short-index-pw1");
        let basic = base64::engine::general_purpose::STANDARD.encode("__token__:short-index-pw1");
        let shown = body_excerpt(
            &format!("<p>bad auth: Basic {basic} (__token__:short-index-pw1)</p>"),
            Some(&password),
        );
        assert_eq!(shown, "bad auth: Basic [redacted] (__token__:[redacted])");
    }
}
