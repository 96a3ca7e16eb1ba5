//! Value checks Warehouse adds on top of `packaging.metadata`
//! (`warehouse/forklift/metadata.py`, `_validate_metadata`): email addresses
//! as `email-validator` sees them and URLs as `warehouse/utils/http.py`'s
//! `is_valid_uri` does.

/// Top-level names `email-validator` refuses (`SPECIAL_USE_DOMAIN_NAMES`).
const SPECIAL_USE_DOMAINS: &[&str] = &["arpa", "invalid", "local", "localhost", "onion", "test"];

/// The one address in an `Author-email` / `Maintainer-email` value, as
/// Python's strict `email.utils.parseaddr` (3.13+) returns it: `None` when
/// the value holds several addresses (Warehouse then checks nothing).
pub fn single_address(value: &str) -> Option<String> {
    // Split at commas outside quotes and angle brackets.
    let (mut parts, mut current) = (Vec::new(), String::new());
    let (mut quoted, mut angle) = (false, false);
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if quoted => {
                current.push(c);
                if let Some(next) = chars.next() {
                    current.push(next);
                }
                continue;
            }
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    parts.push(current);
    let parts: Vec<&str> = parts
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .collect();
    let [one] = parts.as_slice() else {
        return None;
    };
    let address = match (one.rfind('<'), one.rfind('>')) {
        (Some(open), Some(close)) if open < close => one[open + 1..close].trim(),
        _ => one,
    };
    (!address.is_empty()).then(|| address.to_string())
}

/// Why `email-validator` (no deliverability check) refuses an address.
pub fn email_problem(address: &str) -> Option<String> {
    let Some((local, domain)) = address.rsplit_once('@') else {
        return Some("an email address must have an @-sign".into());
    };
    if local.is_empty() {
        return Some("there must be something before the @-sign".into());
    }
    if local.starts_with('"') {
        return Some("quoting the part before the @-sign is not allowed".into());
    }
    // RFC 5322 atext, plus any non-ASCII (SMTPUTF8 is allowed).
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    if let Some(bad) = local
        .chars()
        .find(|&c| c != '.' && !atext(c) && (c.is_ascii() || c.is_control() || c.is_whitespace()))
    {
        return Some(format!(
            "the part before the @-sign contains an invalid character `{}`",
            bad.escape_default()
        ));
    }
    if local.chars().count() > 64 {
        return Some("the part before the @-sign is longer than 64 characters".into());
    }
    if let Some(problem) = dot_atom_problem(local, "the @-sign") {
        return Some(problem);
    }
    if domain.is_empty() {
        return Some("there must be something after the @-sign".into());
    }
    if domain.starts_with('[') {
        return Some("a bracketed IP address after the @-sign is not allowed".into());
    }
    let hostname = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.';
    if let Some(bad) = domain
        .chars()
        .find(|&c| !hostname(c) && (c.is_ascii() || !c.is_alphanumeric()))
    {
        return Some(format!(
            "the part after the @-sign contains an invalid character `{}`",
            bad.escape_default()
        ));
    }
    if let Some(problem) = dot_atom_problem(domain, "the @-sign") {
        return Some(problem);
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Some("the part after the @-sign is not valid: it should have a period".into());
    }
    if let Some(label) = labels
        .iter()
        .find(|label| label.starts_with('-') || label.ends_with('-'))
    {
        return Some(format!(
            "the domain label `{label}` cannot start or end with a hyphen"
        ));
    }
    if let Some(label) = labels.iter().find(|label| label.len() > 63) {
        return Some(format!(
            "the domain label `{label}` is longer than 63 characters"
        ));
    }
    if domain.len() > 253 {
        return Some("the part after the @-sign is longer than 253 characters".into());
    }
    if !domain.ends_with(|c: char| c.is_alphabetic()) {
        return Some(
            "the part after the @-sign is not within a valid top-level domain".to_string(),
        );
    }
    let lower = domain.to_lowercase();
    if SPECIAL_USE_DOMAINS
        .iter()
        .any(|name| lower == *name || lower.ends_with(&format!(".{name}")))
    {
        return Some(
            "the part after the @-sign is a special-use or reserved name that cannot be used \
             with email"
                .into(),
        );
    }
    None
}

/// Periods: not first, not last, never two in a row.
fn dot_atom_problem(text: &str, at: &str) -> Option<String> {
    if text.starts_with('.') {
        return Some(format!(
            "an email address cannot have a period next to {at}"
        ));
    }
    if text.ends_with('.') {
        return Some(
            "an email address cannot end with a period, or have one before the @-sign".into(),
        );
    }
    if text.contains("..") {
        return Some("an email address cannot have two periods in a row".into());
    }
    None
}

/// Warehouse's `is_valid_uri(url, require_authority=False)`: an `http` or
/// `https` scheme (any case) and, when there is one, a port from 0 to 65535.
/// `rfc3986` percent-encodes everything else before validating, so spaces
/// and odd characters pass, as they do at PyPI.
pub fn url_problem(url: &str) -> Option<&'static str> {
    // RFC 3986 appendix B: scheme is what precedes the first `:` if it comes
    // before any of `/?#`.
    let scheme_end = url.find([':', '/', '?', '#']);
    let scheme = match scheme_end {
        Some(end) if url[end..].starts_with(':') && end > 0 => &url[..end],
        _ => return Some("it has no scheme (write `https://…`)"),
    };
    if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
        return Some("only http and https URLs are accepted");
    }
    let rest = &url[scheme.len() + 1..];
    if let Some(after) = rest.strip_prefix("//") {
        let authority = &after[..after.find(['/', '?', '#']).unwrap_or(after.len())];
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        // An IPv6 literal's colons are not a port separator.
        let port = match host_port.rfind(']') {
            Some(close) => host_port[close + 1..].strip_prefix(':'),
            None => host_port.rsplit_once(':').map(|(_, port)| port),
        };
        if let Some(port) = port
            && !port.is_empty()
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u32>().map_or(true, |p| p > 65535)
        {
            return Some("its port is not between 0 and 65535");
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::{email_problem, single_address, url_problem};

    /// Verdicts of Warehouse's own code (email-validator 2.3.0, rfc3986
    /// 2.0.0, Python's parseaddr), recorded by running it.
    #[test]
    fn agrees_with_warehouse() {
        for good in [
            "a@example.org",
            "jo@example.com",
            "ä@example.org",
            "first.last+tag@sub.example.co.uk",
        ] {
            assert_eq!(email_problem(good), None, "{good}");
        }
        for bad in [
            "a@b",
            "a@localhost",
            "a..b@example.org",
            "a@example.test",
            "bad",
            "a@-x.org",
            "a@example.123",
            "\"q r\"@example.org",
            "a@[127.0.0.1]",
            "a@ex_ample.org",
            "a@example.local",
            "a@example.com.",
        ] {
            assert!(email_problem(bad).is_some(), "{bad}");
        }
        assert_eq!(
            single_address("Jo Smith <jo@example.com>").as_deref(),
            Some("jo@example.com")
        );
        assert_eq!(
            single_address("\"Smith, Jo\" <jo@example.com>").as_deref(),
            Some("jo@example.com")
        );
        assert_eq!(single_address("x@example.com, y@example.com"), None);
        for good in [
            "https://example.org",
            "http://a b",
            "https:foo",
            "https://",
            "https://example.org:80",
            "HTTPS://X.org",
            "https://[::1]/",
            "https://exa mple.org/a b?c d#e f",
        ] {
            assert_eq!(url_problem(good), None, "{good}");
        }
        for bad in [
            "ftp://x",
            "https://example.org:99999",
            "//example.org",
            "example.org",
        ] {
            assert!(url_problem(bad).is_some(), "{bad}");
        }
    }
}
