//! Masking of every form of every secret this process holds, in text that
//! came from outside (an index's error body, an OIDC answer) or that is
//! about to be stored or logged (job records, job logs, `daemon.log`).
//!
//! Indexes echo what they were sent: the raw token, the `Authorization`
//! header (`Basic base64(__token__:secret)`), form fields percent-encoded.
//! [`mask`] replaces, for every secret in [`super::held`]:
//!
//! - the value itself, also percent-encoded (any hex case, `+` for space)
//!   and JSON-escaped (`\/`, `\u00XX`), in any mix;
//! - base64 of `USER:secret` for `__token__` and every upload user name in
//!   use, standard and URL-safe alphabets, padded or not;
//! - the part of base64 that only the secret's bytes decide, at each of the
//!   three byte alignments, so the secret is hidden inside any base64 text
//!   (another user name, a longer header) whatever precedes it;
//!
//! and, held or not, anything shaped like a PyPI token (`pypi-…`) or a JWT
//! (`eyJ….….…`).

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use regex_automata::meta::Regex;
use secrecy::{ExposeSecret, SecretString};

use super::{TOKEN_USER, held};

/// What a masked secret becomes.
pub const MASKED: &str = "[redacted]";

/// Shorter values are not searched for as themselves (they would match
/// ordinary words); a secret this short is at most what may be shown anyway.
const MIN_RAW_LEN: usize = 5;

/// Shortest base64 run searched for inside other base64 text.
const MIN_CORE_LEN: usize = 6;

/// `text` with every form of every held secret, and every token-shaped
/// word, replaced by [`MASKED`].
pub fn mask(text: &str) -> String {
    mask_with(text, &[])
}

/// [`mask`], plus secrets the caller holds that are not (yet) registered.
pub fn mask_with(text: &str, extra: &[&SecretString]) -> String {
    let held = held::secrets();
    let mut users = held::users();
    if !users.iter().any(|u| u == TOKEN_USER) {
        users.push(TOKEN_USER.to_string());
    }
    let values = held
        .iter()
        .chain(extra.iter().copied())
        .map(|s| s.expose_secret().as_bytes());
    let mut needles: Vec<Vec<u8>> = Vec::new();
    for secret in values.filter(|s| !s.is_empty()) {
        needles.extend(forms(secret, &users));
    }
    // Longest first: a whole `Basic` credential goes before its core.
    needles.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    needles.dedup();
    let mut out = text.to_string();
    for needle in &needles {
        out = replace_encoded(&out, needle);
    }
    mask_token_shapes(&out)
}

/// The strings under which `secret` may appear.
fn forms(secret: &[u8], users: &[String]) -> Vec<Vec<u8>> {
    let mut forms = Vec::new();
    for user in users {
        let mut credential = format!("{user}:").into_bytes();
        credential.extend_from_slice(secret);
        for engine in [&STANDARD, &URL_SAFE] {
            let padded = engine.encode(&credential);
            forms.push(padded.trim_end_matches('=').as_bytes().to_vec());
            forms.push(padded.into_bytes());
        }
    }
    if secret.len() >= MIN_RAW_LEN {
        forms.push(secret.to_vec());
        for engine in [&STANDARD, &URL_SAFE] {
            for offset in 0..3 {
                let core = base64_core(engine, secret, offset);
                if core.len() >= MIN_CORE_LEN {
                    forms.push(core.into_bytes());
                }
            }
        }
    }
    forms
}

/// The base64 characters that depend only on `secret`'s bits when it
/// starts `offset` bytes into the encoded data.
fn base64_core(engine: &base64::engine::GeneralPurpose, secret: &[u8], offset: usize) -> String {
    let mut data = vec![0u8; offset];
    data.extend_from_slice(secret);
    let encoded = engine.encode(&data);
    let first_bit = 8 * offset;
    let end_bit = 8 * (offset + secret.len());
    // Character i encodes bits [6i, 6i + 6).
    let first = first_bit.div_ceil(6);
    let end = end_bit / 6;
    encoded.get(first..end).unwrap_or_default().to_string()
}

/// One unit of `hay` at `at` read as a byte of an encoded string: `%XX`,
/// `\/`, `\u00XX`, or the byte itself. Returns the byte and its length.
fn decode_unit(hay: &[u8], at: usize, want: u8) -> Option<usize> {
    let hex = |a: u8, b: u8| -> Option<u8> {
        let digit = |c: u8| (c as char).to_digit(16);
        Some((digit(a)? * 16 + digit(b)?) as u8)
    };
    let rest = &hay[at..];
    match rest {
        [b'%', a, b, ..] if hex(*a, *b) == Some(want) => Some(3),
        [b'+', ..] if want == b' ' => Some(1),
        [b'\\', b'/', ..] if want == b'/' => Some(2),
        [b'\\', b'u', b'0', b'0', a, b, ..] if hex(*a, *b) == Some(want) => Some(6),
        [c, ..] if *c == want => Some(1),
        _ => None,
    }
}

/// `hay` with every occurrence of `needle`, plain or encoded, masked.
fn replace_encoded(hay: &str, needle: &[u8]) -> String {
    let bytes = hay.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut at = 0;
    let mut found = false;
    while at < bytes.len() {
        let mut end = at;
        let matched = needle.iter().all(|&want| {
            if end >= bytes.len() {
                return false;
            }
            match decode_unit(bytes, end, want) {
                Some(len) => {
                    end += len;
                    true
                }
                None => false,
            }
        });
        if matched {
            out.extend_from_slice(MASKED.as_bytes());
            at = end;
            found = true;
        } else {
            out.push(bytes[at]);
            at += 1;
        }
    }
    if !found {
        return hay.to_string();
    }
    // A match starts and ends on ASCII or on whole characters of the needle.
    String::from_utf8_lossy(&out).into_owned()
}

/// Replaces anything shaped like a PyPI token (`pypi-` + base64) or a JWT
/// (`eyJ…` header, payload, signature), held or not: indexes echo the
/// tokens they were sent, and the CI's ID token is one too.
pub fn mask_token_shapes(text: &str) -> String {
    static SHAPES: OnceLock<Regex> = OnceLock::new();
    let shapes = SHAPES.get_or_init(|| {
        Regex::new(
            r"pypi-[A-Za-z0-9_\-+/]{16,}=*|eyJ[A-Za-z0-9_\-+/=]+\.[A-Za-z0-9_\-+/=]+\.[A-Za-z0-9_\-+/=]*",
        )
        .expect("a valid pattern")
    });
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for found in shapes.find_iter(text) {
        out.push_str(&text[last..found.start()]);
        out.push_str(MASKED);
        last = found.end();
    }
    out.push_str(&text[last..]);
    out
}

/// For `#[serde(serialize_with)]`: an optional message stored or sent
/// masked (job records, `status --json`).
pub fn serialize_masked<S: serde::Serializer>(
    value: &Option<String>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(text) => serializer.serialize_some(&mask(text)),
        None => serializer.serialize_none(),
    }
}

/// A writer that masks what passes through it: the daemon's log and
/// stderr get every log line masked. `tracing`'s formatter writes one
/// whole event per `write`, so a secret is never split between two calls.
pub struct MaskingWriter<W> {
    inner: W,
}

impl<W> MaskingWriter<W> {
    pub fn new(inner: W) -> MaskingWriter<W> {
        MaskingWriter { inner }
    }
}

impl<W: std::io::Write> std::io::Write for MaskingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.inner.write_all(mask(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// [`MaskingWriter`] for `tracing_subscriber`: every log line tagpub
/// writes (stderr, `daemon.log`) is masked.
pub struct MaskingMakeWriter<M>(pub M);

impl<'a, M: tracing_subscriber::fmt::MakeWriter<'a>> tracing_subscriber::fmt::MakeWriter<'a>
    for MaskingMakeWriter<M>
{
    type Writer = MaskingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        MaskingWriter::new(self.0.make_writer())
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        MaskingWriter::new(self.0.make_writer_for(meta))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(value: &str) -> SecretString {
        SecretString::from(value.to_string())
    }

    /// Every way the tests look for a secret: the raw value, its base64
    /// forms for `__token__`, percent-encoded, and any slice of more than 4
    /// characters when it is short.
    fn assert_hidden(shown: &str, value: &str) {
        assert!(!shown.contains(value), "raw {value:?} in {shown}");
        let credential = format!("__token__:{value}");
        for engine in [&STANDARD, &URL_SAFE] {
            let encoded = engine.encode(&credential);
            assert!(
                !shown.contains(encoded.trim_end_matches('=')),
                "base64 of {credential:?} in {shown}"
            );
        }
        let encoded =
            percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        assert!(!shown.contains(&encoded), "{encoded} in {shown}");
        if value.chars().count() < 32 {
            let chars: Vec<char> = value.chars().collect();
            for window in chars.windows(5) {
                let slice: String = window.iter().collect();
                assert!(!shown.contains(&slice), "slice {slice:?} in {shown}");
            }
        }
    }

    #[test]
    fn every_form_of_a_secret_is_masked() {
        let value = "s3cr+t/pass w0rd";
        let held = secret(value);
        let credential = format!("__token__:{value}");
        let basic = STANDARD.encode(&credential);
        let basic_url = URL_SAFE.encode(&credential);
        let other_user = STANDARD.encode(format!("alice:{value}"));
        let in_longer = STANDARD.encode(format!("Authorization: Basic x:{value};"));
        let percent =
            percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC)
                .to_string()
                .to_lowercase();
        let text = format!(
            "echo: Basic {basic} / {} / {basic_url} / {other_user} / {in_longer} / \
             password={percent} / form: s3cr%2Bt%2Fpass+w0rd / json: s3cr+t\\/pass w0rd / {value}",
            basic.trim_end_matches('='),
        );
        let shown = mask_with(&text, &[&held]);
        assert_hidden(&shown, value);
        assert!(!shown.contains(&other_user[8..]), "{shown}");
        assert!(
            shown.starts_with("echo: Basic [redacted] / [redacted] /"),
            "{shown}"
        );
        assert!(shown.contains("password=[redacted]"), "{shown}");
        assert!(shown.contains("form: [redacted]"), "{shown}");
        assert!(shown.contains("json: [redacted]"), "{shown}");
    }

    #[test]
    fn registered_user_names_get_their_whole_credential_masked() {
        held::remember_user("mask-test-uploader");
        let value = "an-index-password-1";
        let basic = STANDARD.encode(format!("mask-test-uploader:{value}"));
        let shown = mask_with(&format!("Basic {basic}"), &[&secret(value)]);
        assert_eq!(shown, "Basic [redacted]");
    }

    #[test]
    fn token_shapes_are_masked_held_or_not() {
        let text = "token=pypi-AgEIcHlwaS5vcmcCJGFhYWFhYWFh and \"eyJhbGciOi.eyJzdWIi.c2ln\", \
                    not pypi-short nor eyJ alone";
        let shown = mask(text);
        assert_eq!(
            shown,
            "token=[redacted] and \"[redacted]\", not pypi-short nor eyJ alone"
        );
    }

    #[test]
    fn ordinary_text_is_left_alone() {
        let text = "400 Bad Request: Package 'x' already exists — ünïcode stays.";
        assert_eq!(mask_with(text, &[&secret("unrelated-secret")]), text);
        // Too short to look for by itself.
        assert_eq!(mask_with("a b c", &[&secret("b")]), "a b c");
    }

    #[test]
    fn the_masking_writer_masks_each_write() {
        use std::io::Write;
        let mut out = Vec::new();
        let mut writer = MaskingWriter::new(&mut out);
        writer
            .write_all(b"answer: pypi-AgEIcHlwaS5vcmcCJGFhYWFhYWFh\n")
            .unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "answer: [redacted]\n");
    }
}
