//! What the plan's messages name: the next free tag to create, the
//! setuptools-scm pretend-version variable, short object ids.

use crate::git::{GitError, Repo};
use crate::version::{TagPattern, Version, normalize_name};

/// `version` with its last release number raised: 1.0.1 → 1.0.2.
pub fn next_patch(version: &Version) -> Version {
    let mut release = version.release().to_vec();
    if let Some(last) = release.last_mut() {
        *last += 1;
    }
    Version::new(release)
}

/// The one way tagpub names a tag to create: `version` in the pattern
/// `tag` matched (else the first of `patterns`), moved on patch by patch
/// past every tag that already exists, so a suggestion never names a tag
/// git would refuse or one that may already be published.
pub fn suggest_tag(
    repo: &Repo,
    patterns: &[TagPattern],
    tag: &str,
    version: &Version,
) -> Result<String, GitError> {
    let pattern = patterns
        .iter()
        .find(|p| p.matches(tag).is_some())
        .or(patterns.first());
    match pattern {
        Some(pattern) => free_tag(repo, pattern, version),
        None => Ok("a new tag".to_string()),
    }
}

/// `pattern` rendered at `version` or the first later patch no tag has.
pub fn free_tag(repo: &Repo, pattern: &TagPattern, version: &Version) -> Result<String, GitError> {
    Ok(pattern.render(&free_version(repo, pattern, version)?))
}

/// `version`, or the first later patch whose tag in `pattern` does not
/// exist yet.
pub fn free_version(
    repo: &Repo,
    pattern: &TagPattern,
    version: &Version,
) -> Result<Version, GitError> {
    let existing: std::collections::HashSet<String> = repo.tag_names()?.into_iter().collect();
    let mut candidate = version.clone();
    while existing.contains(&pattern.render(&candidate)) {
        candidate = next_patch(&candidate);
    }
    Ok(candidate)
}

/// `SETUPTOOLS_SCM_PRETEND_VERSION_FOR_<NAME>` as setuptools-scm spells it.
pub fn pretend_version_env(name: &str) -> String {
    format!(
        "SETUPTOOLS_SCM_PRETEND_VERSION_FOR_{}",
        normalize_name(name).replace('-', "_").to_ascii_uppercase()
    )
}

/// An object id shortened to 10 characters for people.
pub fn short(id: &str) -> &str {
    &id[..id.len().min(10)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretend_env_follows_setuptools_scm() {
        assert_eq!(
            pretend_version_env("Open_Ticket.AI-hf"),
            "SETUPTOOLS_SCM_PRETEND_VERSION_FOR_OPEN_TICKET_AI_HF"
        );
    }
}
