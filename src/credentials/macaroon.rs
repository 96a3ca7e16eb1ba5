//! Reading PyPI API tokens offline: `pypi-` + base64url of a macaroon in the
//! libmacaroons v2 binary format. tagpub never verifies a token (only the
//! index can); it reads the caveats to tell the user what a token allows and
//! to refuse a release the index would refuse anyway.
//!
//! No maintained Rust crate reads v2 macaroons without linking libsodium, and
//! the format is a handful of tag-length-value fields, so it is read here.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use serde::Serialize;

pub const PYPI_PREFIX: &str = "pypi-";

const FIELD_EOS: u8 = 0;
const FIELD_LOCATION: u8 = 1;
const FIELD_IDENTIFIER: u8 = 2;
const FIELD_VID: u8 = 4;
const FIELD_SIGNATURE: u8 = 6;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MacaroonError {
    #[error("it does not start with `pypi-`")]
    NoPrefix,
    #[error("the part after `pypi-` is not base64")]
    NotBase64,
    #[error("it is not a version 2 macaroon ({0})")]
    Malformed(&'static str),
}

/// What a PyPI token says about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    /// The index that minted it (`pypi.org`, `test.pypi.org`).
    pub location: Option<String>,
    /// Projects it may upload to, normalized; `None` = every project of the user.
    pub projects: Option<Vec<String>>,
    /// Unix time after which it is refused.
    pub expires: Option<i64>,
    pub not_before: Option<i64>,
    /// Caveats tagpub does not know how to read (shown, never guessed at).
    pub unknown_caveats: Vec<String>,
}

impl TokenInfo {
    /// Why the index would refuse this token for `project` at `now`, if it would.
    pub fn refusal(&self, project: &str, now: i64) -> Option<String> {
        if let Some(expires) = self.expires
            && now >= expires
        {
            return Some(format!("this token expired at {}", format_time(expires)));
        }
        if let Some(not_before) = self.not_before
            && now < not_before
        {
            return Some(format!(
                "this token is not valid before {}",
                format_time(not_before)
            ));
        }
        let wanted = crate::version::normalize_name(project);
        match &self.projects {
            Some(projects) if !projects.contains(&wanted) => Some(format!(
                "this token is scoped to project {}, not {project}",
                projects.join(", ")
            )),
            _ => None,
        }
    }

    /// [`TokenInfo::refusal`] at the current time.
    pub fn refusal_now(&self, project: &str) -> Option<String> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        self.refusal(project, now)
    }

    /// One line for `token list`: scope and expiry.
    pub fn summary(&self) -> String {
        let mut parts = vec![match &self.projects {
            Some(projects) => format!("projects: {}", projects.join(", ")),
            None => "all projects of its user".to_string(),
        }];
        if let Some(expires) = self.expires {
            parts.push(format!("expires {}", format_time(expires)));
        }
        if !self.unknown_caveats.is_empty() {
            parts.push(format!("{} unread caveat(s)", self.unknown_caveats.len()));
        }
        parts.join("; ")
    }
}

/// `2026-11-25 17:00:00 UTC` from Unix seconds.
pub fn format_time(unix: i64) -> String {
    humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix.max(0) as u64),
    )
    .to_string()
}

/// Secrets shorter than this are never shown beyond [`SHOWN_OF_OTHERS`]
/// characters; PyPI tokens are far longer (about 200).
const PYPI_TOKEN_MIN_LEN: usize = 32;
/// Characters of a secret that is not a PyPI token ever shown, in all.
const SHOWN_OF_OTHERS: usize = 4;
/// Below this length a secret that is not a PyPI token shows nothing: four
/// characters of a short password are too large a share of it.
const SHOWN_FROM_LEN: usize = 12;

/// `pypi-AgE…x4Q` for a PyPI token: enough to recognise it, too little to
/// use it. Any other secret (an index password) shows at most its first and
/// last 2 characters, and nothing when shorter than 12.
pub fn redact(token: &str) -> String {
    let chars: Vec<char> = token.chars().collect();
    let n = chars.len();
    let (head, tail) = if token.starts_with(PYPI_PREFIX) && n >= PYPI_TOKEN_MIN_LEN {
        (PYPI_PREFIX.len() + 3, 3)
    } else if n >= SHOWN_FROM_LEN {
        (SHOWN_OF_OTHERS / 2, SHOWN_OF_OTHERS / 2)
    } else {
        (0, 0)
    };
    let head: String = chars[..head].iter().collect();
    let tail: String = chars[n - tail..].iter().collect();
    format!("{head}…{tail}")
}

/// Decodes a `pypi-` token and reads its caveats.
pub fn inspect(token: &str) -> Result<TokenInfo, MacaroonError> {
    let encoded = token
        .strip_prefix(PYPI_PREFIX)
        .ok_or(MacaroonError::NoPrefix)?;
    let encoded = encoded.trim_end_matches('=');
    let bytes = URL_SAFE_NO_PAD
        .decode(encoded)
        .or_else(|_| STANDARD_NO_PAD.decode(encoded))
        .map_err(|_| MacaroonError::NotBase64)?;
    let macaroon = parse_v2(&bytes)?;
    let mut info = TokenInfo {
        location: macaroon.location,
        ..TokenInfo::default()
    };
    for caveat in macaroon.caveats {
        read_caveat(&caveat, &mut info);
    }
    Ok(info)
}

struct RawMacaroon {
    location: Option<String>,
    /// First-party caveat predicates (third-party ones carry a vid).
    caveats: Vec<String>,
}

/// A cursor over the v2 fields: a type byte, a varint length, the data.
struct Fields<'a> {
    bytes: &'a [u8],
}

impl<'a> Fields<'a> {
    fn next(&mut self) -> Result<(u8, &'a [u8]), MacaroonError> {
        let (&kind, rest) = self
            .bytes
            .split_first()
            .ok_or(MacaroonError::Malformed("truncated"))?;
        self.bytes = rest;
        if kind == FIELD_EOS {
            return Ok((FIELD_EOS, &[]));
        }
        let mut length: usize = 0;
        let mut shift = 0;
        loop {
            let (&byte, rest) = self
                .bytes
                .split_first()
                .ok_or(MacaroonError::Malformed("truncated length"))?;
            self.bytes = rest;
            length |= usize::from(byte & 0x7f)
                .checked_shl(shift)
                .ok_or(MacaroonError::Malformed("length overflow"))?;
            if byte & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift > 28 {
                return Err(MacaroonError::Malformed("length overflow"));
            }
        }
        if length > self.bytes.len() {
            return Err(MacaroonError::Malformed("field longer than the token"));
        }
        let (data, rest) = self.bytes.split_at(length);
        self.bytes = rest;
        Ok((kind, data))
    }
}

fn parse_v2(bytes: &[u8]) -> Result<RawMacaroon, MacaroonError> {
    let (&version, rest) = bytes
        .split_first()
        .ok_or(MacaroonError::Malformed("empty"))?;
    if version != 2 {
        return Err(MacaroonError::Malformed("not format version 2"));
    }
    let mut fields = Fields { bytes: rest };
    let mut location = None;
    let mut has_identifier = false;
    loop {
        match fields.next()? {
            (FIELD_EOS, _) => break,
            (FIELD_LOCATION, data) => location = Some(String::from_utf8_lossy(data).into_owned()),
            (FIELD_IDENTIFIER, _) => has_identifier = true,
            _ => return Err(MacaroonError::Malformed("unexpected field in the header")),
        }
    }
    if !has_identifier {
        return Err(MacaroonError::Malformed("no identifier"));
    }
    let mut caveats = Vec::new();
    loop {
        // Each caveat ends with EOS; an EOS right away ends the caveat list.
        let (kind, data) = fields.next()?;
        if kind == FIELD_EOS {
            break;
        }
        let mut identifier = None;
        let mut third_party = false;
        let mut field = (kind, data);
        loop {
            match field {
                (FIELD_EOS, _) => break,
                (FIELD_IDENTIFIER, data) => identifier = Some(data),
                (FIELD_VID, _) => third_party = true,
                (FIELD_LOCATION, _) => {}
                _ => return Err(MacaroonError::Malformed("unexpected field in a caveat")),
            }
            field = fields.next()?;
        }
        let identifier = identifier.ok_or(MacaroonError::Malformed("caveat without identifier"))?;
        if !third_party {
            caveats.push(String::from_utf8_lossy(identifier).into_owned());
        }
    }
    match fields.next()? {
        (FIELD_SIGNATURE, data) if data.len() == 32 => {}
        _ => return Err(MacaroonError::Malformed("no signature")),
    }
    Ok(RawMacaroon { location, caveats })
}

/// Warehouse's caveats: the legacy JSON object (`{"version": 1, "permissions":
/// …}`) and the current tagged arrays (`[0, expires, not_before]`,
/// `[1, [project names]]`, `[2, [project ids]]`, `[3, user id]`).
fn read_caveat(text: &str, info: &mut TokenInfo) {
    let unknown = |info: &mut TokenInfo| info.unknown_caveats.push(text.to_string());
    let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
        return unknown(info);
    };
    let names = |list: &serde_json::Value| -> Option<Vec<String>> {
        list.as_array()?
            .iter()
            .map(|v| v.as_str().map(crate::version::normalize_name))
            .collect()
    };
    let restrict = |info: &mut TokenInfo, projects: Vec<String>| {
        // Several project caveats all apply: only their intersection is allowed.
        info.projects = Some(match info.projects.take() {
            Some(previous) => previous
                .into_iter()
                .filter(|p| projects.contains(p))
                .collect(),
            None => projects,
        });
    };
    match &value {
        serde_json::Value::Object(map)
            if map.get("version").and_then(|v| v.as_i64()) == Some(1) =>
        {
            match map.get("permissions") {
                Some(serde_json::Value::String(s)) if s == "user" => {}
                Some(permissions) => match permissions.get("projects").and_then(names) {
                    Some(projects) => restrict(info, projects),
                    None => unknown(info),
                },
                None => unknown(info),
            }
        }
        serde_json::Value::Array(items) => match items.first().and_then(|t| t.as_i64()) {
            Some(0) => {
                info.expires = items.get(1).and_then(|v| v.as_i64());
                info.not_before = items.get(2).and_then(|v| v.as_i64());
            }
            Some(1) => match items.get(1).and_then(names) {
                Some(projects) => restrict(info, projects),
                None => unknown(info),
            },
            // Project ids, user ids and the trusted publisher of a minted
            // token (4) cannot be read offline; they restrict what the index
            // allows, which the index will tell.
            Some(2..=4) => {}
            _ => unknown(info),
        },
        _ => unknown(info),
    }
}

/// Builds an unsigned v2 macaroon token (`pypi-…`) with these caveats.
/// The index would reject it; it exists for tests and fixtures that need a
/// token of a given shape, such as a pypiserver password.
pub fn encode(location: &str, identifier: &str, caveats: &[&str]) -> String {
    fn field(out: &mut Vec<u8>, kind: u8, data: &[u8]) {
        out.push(kind);
        let mut length = data.len();
        loop {
            let byte = (length & 0x7f) as u8;
            length >>= 7;
            if length == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
        out.extend_from_slice(data);
    }
    let mut out = vec![2u8];
    field(&mut out, FIELD_LOCATION, location.as_bytes());
    field(&mut out, FIELD_IDENTIFIER, identifier.as_bytes());
    out.push(FIELD_EOS);
    for caveat in caveats {
        field(&mut out, FIELD_IDENTIFIER, caveat.as_bytes());
        out.push(FIELD_EOS);
    }
    out.push(FIELD_EOS);
    field(&mut out, FIELD_SIGNATURE, &[0u8; 32]);
    format!("{PYPI_PREFIX}{}", URL_SAFE_NO_PAD.encode(out))
}

impl fmt::Display for TokenInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_current_and_legacy_caveats() {
        let token = encode(
            "pypi.org",
            "id-1",
            &[
                r#"[0, 2000000000, 1700000000]"#,
                r#"[1, ["Open_Ticket_AI-hf-local"]]"#,
                r#"[3, "user-uuid"]"#,
            ],
        );
        let info = inspect(&token).unwrap();
        assert_eq!(info.location.as_deref(), Some("pypi.org"));
        assert_eq!(
            info.projects,
            Some(vec!["open-ticket-ai-hf-local".to_string()])
        );
        assert_eq!(info.expires, Some(2_000_000_000));
        assert!(info.unknown_caveats.is_empty());
        assert_eq!(info.refusal("open-ticket-ai-hf-local", 1_800_000_000), None);
        assert_eq!(
            info.refusal("open-ticket-ai", 1_800_000_000).unwrap(),
            "this token is scoped to project open-ticket-ai-hf-local, not open-ticket-ai"
        );
        assert!(
            info.refusal("open-ticket-ai-hf-local", 2_000_000_001)
                .unwrap()
                .contains("expired")
        );

        let legacy = encode(
            "pypi.org",
            "id-2",
            &[r#"{"version": 1, "permissions": {"projects": ["a", "b"]}}"#],
        );
        assert_eq!(
            inspect(&legacy).unwrap().projects,
            Some(vec!["a".into(), "b".into()])
        );
        let user = encode(
            "pypi.org",
            "id-3",
            &[r#"{"version": 1, "permissions": "user"}"#],
        );
        let info = inspect(&user).unwrap();
        assert_eq!(info.projects, None);
        assert_eq!(info.refusal("anything", 0), None);
        assert_eq!(info.summary(), "all projects of its user");

        let odd = encode("pypi.org", "id-4", &["not json", "[9, 1]"]);
        assert_eq!(inspect(&odd).unwrap().unknown_caveats.len(), 2);
    }

    #[test]
    fn several_project_caveats_intersect() {
        let token = encode(
            "pypi.org",
            "i",
            &[r#"[1, ["a", "b"]]"#, r#"[1, ["b", "c"]]"#],
        );
        assert_eq!(
            inspect(&token).unwrap().projects,
            Some(vec!["b".to_string()])
        );
    }

    #[test]
    fn rejects_what_is_not_a_token() {
        assert_eq!(inspect("ghp_abc"), Err(MacaroonError::NoPrefix));
        assert_eq!(inspect("pypi-!!!"), Err(MacaroonError::NotBase64));
        assert!(matches!(
            inspect("pypi-AQID"),
            Err(MacaroonError::Malformed(_))
        ));
        let token = encode("pypi.org", "i", &[]);
        // Cut anywhere: never a panic, always an error.
        for cut in 6..token.len() - 1 {
            let _ = inspect(&token[..cut]);
        }
    }

    #[test]
    fn redaction_keeps_only_the_ends() {
        let token = encode("pypi.org", "identifier", &[]);
        let shown = redact(&token);
        assert_eq!(
            shown,
            format!("{}…{}", &token[..8], &token[token.len() - 3..])
        );
        assert!(shown.starts_with("pypi-AgE"), "{shown}");
        assert_eq!(redact("short"), "…");
    }

    /// Characters of `secret` that `shown` gives away: the longest run of
    /// the secret's characters, in order, at its start plus at its end.
    fn revealed(secret: &str, shown: &str) -> usize {
        let (head, tail) = shown.split_once('…').expect("an ellipsis");
        assert!(secret.starts_with(head) && secret.ends_with(tail));
        head.chars().count() + tail.chars().count()
    }

    #[test]
    fn short_secrets_show_at_most_four_characters() {
        // A 17-character index password once showed 11 of its characters.
        for len in 1..32 {
            for secret in [
                "s3cr3t-index-pass-word-0123456789"
                    .chars()
                    .take(len)
                    .collect::<String>(),
                // Shaped like a token but too short to be one.
                format!("pypi-{}", "x".repeat(len.saturating_sub(5))),
            ] {
                let shown = redact(&secret);
                assert!(
                    revealed(&secret, &shown) <= 4,
                    "{secret:?} ({} chars) shown as {shown:?}",
                    secret.chars().count()
                );
            }
        }
        assert_eq!(redact("hunter2-password!"), "hu…d!");
        assert_eq!(redact("ünïcödé-pässwörd"), "ün…rd");
        // Long secrets that are not PyPI tokens show no more.
        assert_eq!(redact(&"k".repeat(64)), "kk…kk");
    }
}
