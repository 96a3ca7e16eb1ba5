//! Tag patterns (`hf-local-v{version}`) and PEP 440 versions.
//!
//! A pattern is a literal prefix and suffix around one `{version}`. Matching
//! strips both and parses the middle as PEP 440 (`pep440_rs`, the parser uv
//! uses), so `v1.0.0-rc.1` resolves to `1.0.0rc1` exactly when PEP 440's
//! normalization says so.
//!
//! Two patterns conflict when some tag matches both. That is decided exactly,
//! not by guessing: each pattern becomes a DFA over bytes (prefix, the PEP 440
//! grammar, suffix), and a breadth-first walk of the two DFAs in lockstep finds
//! the shortest tag both accept, which the error then shows.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::str::FromStr;

pub use pep440_rs::Version;
use regex_automata::dfa::{Automaton, StartKind, dense};
use regex_automata::util::start;
use regex_automata::{Anchored, MatchKind};

/// A state of each DFA, walked in lockstep.
type StatePair = (u32, u32);

pub const VERSION_PLACEHOLDER: &str = "{version}";

/// The permissive PEP 440 grammar, as in `packaging.version.VERSION_PATTERN`,
/// without the surrounding whitespace it allows (tags cannot hold spaces).
/// Public for `tagpub ci gitlab`, whose tag rules are this same grammar.
pub const PEP440_PATTERN: &str = r"(?i:v?(?:[0-9]+!)?[0-9]+(?:\.[0-9]+)*(?:[-_.]?(?:alpha|a|beta|b|preview|pre|c|rc)[-_.]?[0-9]*)?(?:-[0-9]+|[-_.]?(?:post|rev|r)[-_.]?[0-9]*)?(?:[-_.]?dev[-_.]?[0-9]*)?(?:\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?)";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PatternError {
    #[error("tag pattern `{0}` has no `{{version}}`: write it like `v{{version}}`")]
    NoPlaceholder(String),
    #[error("tag pattern `{0}` has more than one `{{version}}`: keep exactly one")]
    SeveralPlaceholders(String),
    #[error(
        "tag pattern `{pattern}` contains {what}, which cannot appear in a git tag name: remove it"
    )]
    InvalidRefChars { pattern: String, what: String },
}

/// A tag pattern such as `hf-local-v{version}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagPattern {
    raw: String,
    prefix: String,
    suffix: String,
}

/// What a tag name means under one pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagMatch {
    /// Prefix and suffix fit and the middle is a PEP 440 version.
    Version(Version),
    /// Prefix and suffix fit but the middle is not PEP 440.
    InvalidVersion { text: String, reason: String },
}

impl TagPattern {
    pub fn parse(raw: &str) -> Result<Self, PatternError> {
        let (prefix, suffix) = raw
            .split_once(VERSION_PLACEHOLDER)
            .ok_or_else(|| PatternError::NoPlaceholder(raw.to_string()))?;
        if suffix.contains(VERSION_PLACEHOLDER) {
            return Err(PatternError::SeveralPlaceholders(raw.to_string()));
        }
        for literal in [prefix, suffix] {
            if let Some(what) = invalid_ref_part(literal) {
                return Err(PatternError::InvalidRefChars {
                    pattern: raw.to_string(),
                    what,
                });
            }
        }
        Ok(Self {
            raw: raw.to_string(),
            prefix: prefix.to_string(),
            suffix: suffix.to_string(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The literal text before `{version}`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `None` when the tag does not have this pattern's prefix and suffix.
    pub fn matches(&self, tag: &str) -> Option<TagMatch> {
        let middle = tag.strip_prefix(&self.prefix)?.strip_suffix(&self.suffix)?;
        if middle.is_empty() {
            return None;
        }
        Some(match Version::from_str(middle) {
            Ok(version) => TagMatch::Version(version),
            Err(err) => TagMatch::InvalidVersion {
                text: middle.to_string(),
                reason: err.to_string(),
            },
        })
    }

    /// The tag this pattern gives for a version.
    pub fn render(&self, version: &Version) -> String {
        format!("{}{}{}", self.prefix, version, self.suffix)
    }

    fn dfa(&self) -> dense::DFA<Vec<u32>> {
        let regex = format!(
            "{}{}{}",
            regex_escape(&self.prefix),
            PEP440_PATTERN,
            regex_escape(&self.suffix)
        );
        dense::Builder::new()
            .configure(
                dense::Config::new()
                    .start_kind(StartKind::Anchored)
                    .match_kind(MatchKind::All),
            )
            .syntax(
                regex_automata::util::syntax::Config::new()
                    .unicode(false)
                    .utf8(false),
            )
            .build(&format!("{regex}$"))
            .expect("a tag pattern always compiles: literals are escaped")
    }

    /// The shortest tag that both patterns accept with a valid version, if any.
    pub fn overlap(&self, other: &TagPattern) -> Option<String> {
        // A tag matching both starts with both prefixes and ends with both
        // suffixes, so one of each must extend the other. Most pairs end
        // here, before any automaton is built (a config of 50 packages has
        // 1 225 pairs).
        let prefixes_agree =
            self.prefix.starts_with(&other.prefix) || other.prefix.starts_with(&self.prefix);
        let suffixes_agree =
            self.suffix.ends_with(&other.suffix) || other.suffix.ends_with(&self.suffix);
        if !(prefixes_agree && suffixes_agree) {
            return None;
        }
        let a = self.dfa();
        let b = other.dfa();
        let start_config = start::Config::new().anchored(Anchored::Yes);
        let start_a = a.start_state(&start_config).ok()?;
        let start_b = b.start_state(&start_config).ok()?;
        // Parent links reconstruct the witness once a common match is reached.
        let mut seen: HashMap<StatePair, Option<(StatePair, u8)>> = HashMap::new();
        let mut queue = VecDeque::new();
        let start_pair = (start_a.as_u32(), start_b.as_u32());
        seen.insert(start_pair, None);
        queue.push_back((start_a, start_b));
        while let Some((sa, sb)) = queue.pop_front() {
            let pair = (sa.as_u32(), sb.as_u32());
            if a.is_match_state(a.next_eoi_state(sa)) && b.is_match_state(b.next_eoi_state(sb)) {
                let mut bytes = Vec::new();
                let mut cursor = pair;
                while let Some(Some((parent, byte))) = seen.get(&cursor) {
                    bytes.push(*byte);
                    cursor = *parent;
                }
                bytes.reverse();
                return Some(String::from_utf8_lossy(&bytes).into_owned());
            }
            for byte in 0..=255u8 {
                let na = a.next_state(sa, byte);
                let nb = b.next_state(sb, byte);
                if a.is_dead_state(na) || b.is_dead_state(nb) {
                    continue;
                }
                let next = (na.as_u32(), nb.as_u32());
                if let std::collections::hash_map::Entry::Vacant(slot) = seen.entry(next) {
                    slot.insert(Some((pair, byte)));
                    queue.push_back((na, nb));
                }
            }
        }
        None
    }
}

impl fmt::Display for TagPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

fn regex_escape(literal: &str) -> String {
    let mut out = String::with_capacity(literal.len() * 2);
    for ch in literal.chars() {
        if ch.is_ascii_alphanumeric() || ch == '_' {
            out.push(ch);
        } else if ch.is_ascii() {
            out.push('\\');
            out.push(ch);
        } else {
            // Non-ASCII: match its UTF-8 bytes one by one.
            let mut buf = [0u8; 4];
            for byte in ch.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("\\x{byte:02x}"));
            }
        }
    }
    out
}

/// Characters git refuses in a ref name component (git-check-ref-format).
fn invalid_ref_part(literal: &str) -> Option<String> {
    for ch in literal.chars() {
        if ch.is_control() || ch == ' ' {
            return Some("a space or control character".to_string());
        }
        if matches!(ch, '~' | '^' | ':' | '?' | '*' | '[' | '\\') {
            return Some(format!("`{ch}`"));
        }
    }
    if literal.contains("..") {
        return Some("`..`".to_string());
    }
    if literal.contains("@{") {
        return Some("`@{`".to_string());
    }
    None
}

/// PEP 503 normalized project name: lowercase, runs of `-_.` become `-`.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_separator = false;
    for ch in name.chars() {
        if matches!(ch, '-' | '_' | '.') {
            in_separator = true;
        } else {
            if in_separator && !out.is_empty() {
                out.push('-');
            }
            in_separator = false;
            out.push(ch.to_ascii_lowercase());
        }
    }
    out
}

/// Whether `name` is a valid project name per PEP 508 / core metadata.
pub fn is_valid_project_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let Some((&first, rest)) = bytes.split_first() else {
        return false;
    };
    let last = *rest.last().unwrap_or(&first);
    first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(text: &str) -> Version {
        Version::from_str(text).unwrap()
    }

    #[test]
    fn matches_prefix_and_normalizes_version() {
        let pattern = TagPattern::parse("hf-local-v{version}").unwrap();
        assert_eq!(
            pattern.matches("hf-local-v1.0.0"),
            Some(TagMatch::Version(version("1.0.0")))
        );
        let Some(TagMatch::Version(v)) = pattern.matches("hf-local-v1.0.0-rc.1") else {
            panic!("rc with separators is PEP 440");
        };
        assert_eq!(v.to_string(), "1.0.0rc1");
        for text in ["1.0.0a1", "1.0.0b2", "2!1.0.post1.dev3", "1.0+local.7"] {
            assert!(matches!(
                pattern.matches(&format!("hf-local-v{text}")),
                Some(TagMatch::Version(_))
            ));
        }
        assert_eq!(pattern.matches("v1.0.0"), None);
        assert!(matches!(
            pattern.matches("hf-local-vnext"),
            Some(TagMatch::InvalidVersion { .. })
        ));
    }

    #[test]
    fn suffix_patterns_work() {
        let pattern = TagPattern::parse("release/{version}/final").unwrap();
        assert_eq!(
            pattern.matches("release/2.1/final"),
            Some(TagMatch::Version(version("2.1")))
        );
        assert_eq!(
            pattern.render(&version("2.1")),
            "release/2.1/final".to_string()
        );
    }

    #[test]
    fn rejects_bad_patterns() {
        assert_eq!(
            TagPattern::parse("v1"),
            Err(PatternError::NoPlaceholder("v1".into()))
        );
        assert!(matches!(
            TagPattern::parse("{version}-{version}"),
            Err(PatternError::SeveralPlaceholders(_))
        ));
        assert!(matches!(
            TagPattern::parse("bad name {version}"),
            Err(PatternError::InvalidRefChars { .. })
        ));
    }

    #[test]
    fn overlap_finds_a_witness() {
        let bare = TagPattern::parse("{version}").unwrap();
        let v = TagPattern::parse("v{version}").unwrap();
        let witness = bare.overlap(&v).expect("v1 matches both");
        assert!(bare.matches(&witness).is_some() && v.matches(&witness).is_some());
        assert!(matches!(bare.matches(&witness), Some(TagMatch::Version(_))));

        let core = TagPattern::parse("v{version}").unwrap();
        let hf = TagPattern::parse("hf-local-v{version}").unwrap();
        assert_eq!(core.overlap(&hf), None);

        // "v1." + "0" is a valid version for both.
        let major = TagPattern::parse("v1.{version}").unwrap();
        assert!(core.overlap(&major).is_some());

        let same = TagPattern::parse("v{version}").unwrap();
        assert!(core.overlap(&same).is_some());

        // Prefixes that do not extend each other never overlap.
        let ten = TagPattern::parse("pkg-10-v{version}").unwrap();
        let one = TagPattern::parse("pkg-1-v{version}").unwrap();
        assert_eq!(one.overlap(&ten), None);
        // But `pkg-1{version}` and `pkg-10{version}` do: `pkg-100` is both.
        let loose = TagPattern::parse("pkg-1{version}").unwrap();
        let loose_ten = TagPattern::parse("pkg-10{version}").unwrap();
        assert!(loose.overlap(&loose_ten).is_some());
    }

    #[test]
    fn normalizes_names() {
        assert_eq!(normalize_name("Open_Ticket.AI--hf"), "open-ticket-ai-hf");
        assert!(is_valid_project_name("open-ticket-ai"));
        assert!(!is_valid_project_name("-bad"));
        assert!(!is_valid_project_name(""));
    }
}
