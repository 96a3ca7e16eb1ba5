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

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

pub use pep440_rs::Version;
use regex_automata::dfa::{Automaton, StartKind, dense};
use regex_automata::nfa::thompson;
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
            "{}{}{}$",
            regex_escape(&self.prefix),
            PEP440_PATTERN,
            regex_escape(&self.suffix)
        );
        build_dfa(&regex, false)
    }

    /// The shortest tag that both patterns accept with a valid version, if any.
    pub fn overlap(&self, other: &TagPattern) -> Option<String> {
        if !literals_may_overlap(self, other) {
            return None;
        }
        common_match(&self.dfa(), &other.dfa())
    }
}

fn build_dfa(regex: &str, reverse: bool) -> dense::DFA<Vec<u32>> {
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
        .thompson(thompson::Config::new().reverse(reverse))
        .build(regex)
        .expect("a tag pattern always compiles: literals are escaped")
}

type Dfa = dense::DFA<Vec<u32>>;

/// The PEP 440 grammar alone, forwards and backwards (built once).
fn version_dfas() -> &'static (Dfa, Dfa) {
    static DFAS: OnceLock<(Dfa, Dfa)> = OnceLock::new();
    DFAS.get_or_init(|| {
        (
            build_dfa(PEP440_PATTERN, false),
            build_dfa(PEP440_PATTERN, true),
        )
    })
}

/// Whether a pattern's version can begin the text `extra` that another
/// pattern's longer prefix adds to this pattern's prefix: the version starts
/// with `extra`, or it is a proper prefix of `extra` and the rest of `extra`
/// begins this pattern's `suffix` (`{version}-x1` and `1-x{version}` share
/// `1-x1`).
fn version_can_begin(extra: &[u8], suffix: &[u8]) -> bool {
    let (dfa, _) = version_dfas();
    let Ok(mut state) = dfa.start_state(&start::Config::new().anchored(Anchored::Yes)) else {
        return false;
    };
    for (k, &byte) in extra.iter().enumerate() {
        if k > 0 && dfa.is_match_state(dfa.next_eoi_state(state)) && suffix.starts_with(&extra[k..])
        {
            return true;
        }
        state = dfa.next_state(state, byte);
        if dfa.is_dead_state(state) {
            return false;
        }
    }
    true
}

/// The mirror of [`version_can_begin`] for suffixes, read backwards through
/// the reversed grammar: the version ends with `extra`, or it is a proper
/// suffix of `extra` and the rest of `extra` ends this pattern's `prefix`.
fn version_can_end(extra: &[u8], prefix: &[u8]) -> bool {
    let (_, dfa) = version_dfas();
    let Ok(mut state) = dfa.start_state(&start::Config::new().anchored(Anchored::Yes)) else {
        return false;
    };
    for (k, &byte) in extra.iter().rev().enumerate() {
        let rest = &extra[..extra.len() - k];
        if k > 0 && dfa.is_match_state(dfa.next_eoi_state(state)) && prefix.ends_with(rest) {
            return true;
        }
        state = dfa.next_state(state, byte);
        if dfa.is_dead_state(state) {
            return false;
        }
    }
    true
}

/// A necessary condition for two patterns to share a tag, decided from their
/// literals: one prefix extends the other and one suffix extends the other,
/// and what the longer literal adds can begin (prefix) or end (suffix) the
/// other pattern's version, which must spell it (see [`version_can_begin`]).
/// Most pairs fail here, before any automaton is built.
fn literals_may_overlap(a: &TagPattern, b: &TagPattern) -> bool {
    let (short, long) = if a.prefix.len() <= b.prefix.len() {
        (a, b)
    } else {
        (b, a)
    };
    let Some(prefix_extra) = long.prefix.strip_prefix(short.prefix.as_str()) else {
        return false;
    };
    if !version_can_begin(prefix_extra.as_bytes(), short.suffix.as_bytes()) {
        return false;
    }
    let (short, long) = if a.suffix.len() <= b.suffix.len() {
        (a, b)
    } else {
        (b, a)
    };
    let Some(suffix_extra) = long.suffix.strip_suffix(short.suffix.as_str()) else {
        return false;
    };
    version_can_end(suffix_extra.as_bytes(), short.prefix.as_bytes())
}

/// The shortest string both anchored DFAs match: a breadth-first walk over
/// both in lockstep.
fn common_match(a: &dense::DFA<Vec<u32>>, b: &dense::DFA<Vec<u32>>) -> Option<String> {
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

/// Every pair of patterns some tag matches both of, found without looking
/// at all pairs: only pairs whose literals could overlap (one prefix extends
/// the other and one suffix extends the other) are enumerated, through
/// indexes of the literals, and only those get the exact walk (each
/// pattern's automaton built once). A config of 10 000 packages with their
/// own prefixes has next to no such pairs.
pub struct Overlaps<'a> {
    patterns: &'a [&'a TagPattern],
    dfas: Vec<OnceLock<dense::DFA<Vec<u32>>>>,
}

impl<'a> Overlaps<'a> {
    pub fn new(patterns: &'a [&'a TagPattern]) -> Overlaps<'a> {
        Overlaps {
            patterns,
            dfas: patterns.iter().map(|_| OnceLock::new()).collect(),
        }
    }

    /// The pairs `(i, j)`, `i < j`, whose literals may overlap, sorted.
    pub fn candidates(&self) -> Vec<(usize, usize)> {
        let patterns = self.patterns;
        let prefixes: HashSet<&str> = patterns.iter().map(|p| p.prefix.as_str()).collect();
        let suffixes: HashSet<&str> = patterns.iter().map(|p| p.suffix.as_str()).collect();
        let mut exact: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
        let mut by_suffix: HashMap<&str, Vec<(&str, usize)>> = HashMap::new();
        for (i, p) in patterns.iter().enumerate() {
            exact
                .entry((p.prefix.as_str(), p.suffix.as_str()))
                .or_default()
                .push(i);
            by_suffix
                .entry(p.suffix.as_str())
                .or_default()
                .push((p.prefix.as_str(), i));
        }
        for group in by_suffix.values_mut() {
            group.sort_unstable();
        }
        // The literal's own prefixes (or suffixes) that some pattern has.
        let heads = |text: &'a str| {
            (0..=text.len())
                .filter(|&k| text.is_char_boundary(k))
                .map(move |k| &text[..k])
                .filter(|head| prefixes.contains(head))
        };
        let tails = |text: &'a str| {
            (0..=text.len())
                .filter(|&k| text.is_char_boundary(k))
                .map(move |k| &text[k..])
                .filter(|tail| suffixes.contains(tail))
        };
        let mut pairs = Vec::new();
        let mut add = |i: usize, j: usize| {
            if i != j {
                pairs.push((i.min(j), i.max(j)));
            }
        };
        for (q, pattern) in patterns.iter().enumerate() {
            // Patterns whose prefix and suffix both are parts of this one's.
            for head in heads(&pattern.prefix) {
                for tail in tails(&pattern.suffix) {
                    for &p in exact.get(&(head, tail)).into_iter().flatten() {
                        add(p, q);
                    }
                }
            }
            // Patterns whose prefix extends this one's and whose suffix is
            // part of this one's.
            for tail in tails(&pattern.suffix) {
                let group = &by_suffix[tail];
                let from = group.partition_point(|(prefix, _)| *prefix < pattern.prefix.as_str());
                for &(_, p) in group[from..]
                    .iter()
                    .take_while(|(prefix, _)| prefix.starts_with(pattern.prefix.as_str()))
                {
                    add(q, p);
                }
            }
        }
        pairs.sort_unstable();
        pairs.dedup();
        pairs.retain(|&(i, j)| literals_may_overlap(patterns[i], patterns[j]));
        pairs
    }

    /// The shortest tag patterns `i` and `j` both accept, if any.
    pub fn witness(&self, i: usize, j: usize) -> Option<String> {
        let dfa = |k: usize| self.dfas[k].get_or_init(|| self.patterns[k].dfa());
        common_match(dfa(i), dfa(j))
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

/// PEP 503 normalized project name: lowercase, runs of `-_.` become `-`
/// (pep508_rs's `PackageName`, as uv normalizes). Text that is no project
/// name at all (a typo on the command line) is only lowercased: no index
/// has a project of that name, so it matches nothing but itself.
pub fn normalize_name(name: &str) -> String {
    pep508_rs::PackageName::new(name.to_string())
        .map(|valid| valid.to_string())
        .unwrap_or_else(|_| name.to_ascii_lowercase())
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

    /// The indexed search misses no overlap the exact pairwise walk finds,
    /// on patterns chosen to share prefixes and suffixes in every way.
    #[test]
    fn indexed_overlaps_agree_with_the_pairwise_walk() {
        let prefixes = [
            "", "v", "V", "v1", "v1.", "1", "pkg-", "pkg-1", "pkg-10", "a/", "a/b-", "rc", "post",
        ];
        let suffixes = [
            "", "-final", "final", ".0", "0", "+x", "-1", "rc1", ".post1", "/x",
        ];
        let mut raw = Vec::new();
        for (k, prefix) in prefixes.iter().enumerate() {
            for (m, suffix) in suffixes.iter().enumerate() {
                // A spread of combinations, not all 130.
                if (k * 7 + m * 3) % 4 != 0 {
                    raw.push(format!("{prefix}{{version}}{suffix}"));
                }
            }
        }
        // Overlaps where one version is shorter than the other's extra
        // literal: `1-x1` and `1.0.0.1` are tags of both patterns of a pair.
        let first_tricky = raw.len();
        for tricky in [
            "{version}-x1",
            "1-x{version}",
            "{version}.0.0.1",
            "1.0.0.{version}",
        ] {
            raw.push(tricky.to_string());
        }
        let parsed: Vec<TagPattern> = raw.iter().map(|r| TagPattern::parse(r).unwrap()).collect();
        let patterns: Vec<&TagPattern> = parsed.iter().collect();
        let overlaps = Overlaps::new(&patterns);
        let candidates = overlaps.candidates();
        let dfas: Vec<_> = patterns.iter().map(|p| p.dfa()).collect();
        let mut found = 0;
        for i in 0..patterns.len() {
            for j in i + 1..patterns.len() {
                // The walk alone, without the literal filter under test.
                let exact = common_match(&dfas[i], &dfas[j]);
                if let Some(witness) = &exact {
                    found += 1;
                    assert!(
                        candidates.contains(&(i, j)),
                        "{} and {} share {witness} but were not candidates",
                        patterns[i],
                        patterns[j]
                    );
                    assert!(patterns[i].matches(witness).is_some());
                    assert!(patterns[j].matches(witness).is_some());
                }
                if candidates.contains(&(i, j)) {
                    assert_eq!(
                        overlaps.witness(i, j),
                        exact,
                        "{} / {}",
                        patterns[i],
                        patterns[j]
                    );
                }
            }
        }
        assert!(found > 20, "the set has real overlaps to find ({found})");
        for (i, j) in [
            (first_tricky, first_tricky + 1),
            (first_tricky + 2, first_tricky + 3),
        ] {
            assert!(overlaps.witness(i, j).is_some() && candidates.contains(&(i, j)));
        }
    }

    #[test]
    fn normalizes_names() {
        assert_eq!(normalize_name("Open_Ticket.AI--hf"), "open-ticket-ai-hf");
        assert_eq!(normalize_name("A._-b"), "a-b");
        assert_eq!(normalize_name("-Not a name"), "-not a name");
        assert!(is_valid_project_name("open-ticket-ai"));
        assert!(!is_valid_project_name("-bad"));
        assert!(!is_valid_project_name(""));
    }
}
