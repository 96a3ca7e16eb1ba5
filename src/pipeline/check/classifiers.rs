//! Trove classifiers PyPI knows: `data/classifiers.txt`, generated from the
//! `trove-classifiers` package by `scripts/refresh-classifiers.sh` (sorted,
//! one a line, `#` comment lines). Warehouse refuses any other classifier,
//! except the `Private :: ` prefix, which it refuses on purpose so private
//! packages cannot be uploaded by accident.

const LIST: &str = include_str!("../../../data/classifiers.txt");
/// `trove_classifiers.deprecated_classifiers`: each line a deprecated
/// classifier, then its replacements, tab-separated.
const DEPRECATED: &str = include_str!("../../../data/deprecated-classifiers.txt");

/// The replacements of a deprecated classifier (possibly none), or `None`
/// when it is not deprecated. Warehouse refuses deprecated classifiers
/// (`warehouse/forklift/metadata.py`, `_validate_metadata`).
pub fn deprecated(classifier: &str) -> Option<Vec<&'static str>> {
    DEPRECATED
        .lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| line.split('\t'))
        .find_map(|mut fields| (fields.next() == Some(classifier)).then(|| fields.collect()))
}

/// The `trove-classifiers` version the list came from (its first line).
pub fn source() -> &'static str {
    LIST.lines()
        .next()
        .and_then(|line| line.strip_prefix("# "))
        .unwrap_or("unknown")
}

pub fn known(classifier: &str) -> bool {
    // The script writes the file sorted, so the lines are searched in place.
    static LINES: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    LINES
        .get_or_init(|| LIST.lines().filter(|line| !line.starts_with('#')).collect())
        .binary_search(&classifier)
        .is_ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn list_is_sorted_and_known() {
        let lines: Vec<&str> = super::LIST
            .lines()
            .filter(|line| !line.starts_with('#'))
            .collect();
        assert!(lines.len() > 500);
        assert!(lines.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(super::known("Programming Language :: Python :: 3"));
        assert!(!super::known("Programming Language :: Python :: 9"));
        assert!(super::source().starts_with("trove-classifiers "));
        assert_eq!(
            super::deprecated("Natural Language :: Ukranian"),
            Some(vec!["Natural Language :: Ukrainian"])
        );
        assert_eq!(
            super::deprecated("Topic :: Communications :: Chat :: AOL Instant Messenger"),
            Some(vec![])
        );
        assert_eq!(super::deprecated("Natural Language :: Ukrainian"), None);
    }
}
