//! The checks each member of a plan gets before anything is built: the
//! tag object, its signature, the pyproject at the tagged commit (name,
//! version or its dynamic source), symlinks, the changelog, and where it
//! would publish (repository, token).

use std::str::FromStr;

use super::names::{next_patch, pretend_version_env, short, suggest_tag};
use super::plan::TOKEN_CHECK;
use super::{Plan, ResolveError, VersionSource};
use crate::config::{Config, Package, RepositoryTarget, SignaturePolicy, join_repo_path};
use crate::credentials;
use crate::finding::Status;
use crate::git::{GitError, Repo, TagInfo};
use crate::pipeline::signature::{self, Signature};
use crate::pipeline::version_source::{DynamicVersion, dynamic_version};
use crate::version::{Version, normalize_name};

/// The tag to advise for the next release: the next patch version's, free
/// under this plan's patterns (never this tag moved or deleted).
fn next_release_tag(plan: &Plan, repo: &Repo, info: &TagInfo) -> Result<String, GitError> {
    suggest_tag(
        repo,
        &plan.tag_patterns,
        &info.name,
        &next_patch(&plan.version),
    )
}

pub(super) fn check_tag_object(
    plan: &mut Plan,
    repo: &Repo,
    config: &Config,
    info: &TagInfo,
) -> Result<(), ResolveError> {
    let require_annotated = config.defaults.require_annotated;
    match &info.annotated {
        // Never advise deleting or moving the tag: it may be published
        // already (and fetched by others); the fix is for what comes next.
        None if require_annotated => {
            let next = next_release_tag(plan, repo, info)?;
            plan.push(
                "annotated",
                Status::Fail,
                format!(
                    "`{}` is a lightweight tag, and the config requires annotated release tags. If this repository releases from lightweight tags, set `require-annotated = false` under [defaults] in {} (commit it); otherwise leave this tag as it is and annotate the next release: git tag -a {next} -m \"Release {next}\"",
                    info.name,
                    config.source.display(),
                ),
            );
        }
        None => plan.push(
            "annotated",
            Status::Warn,
            format!(
                "`{}` is a lightweight tag (allowed: require-annotated = false)",
                info.name
            ),
        ),
        Some(annotated) => {
            plan.push("annotated", Status::Pass, "annotated tag");
            if annotated.object_name == info.name {
                plan.push(
                    "tag name",
                    Status::Pass,
                    "the tag object's own name matches the ref",
                );
            } else {
                let next = next_release_tag(plan, repo, info)?;
                plan.push(
                    "tag name",
                    Status::Fail,
                    format!(
                        "the ref is `{}` but the tag object calls itself `{}` (a renamed tag), so nothing can be released from it. Release the next version from a tag of its own: git tag -a {next} -m \"Release {next}\"",
                        info.name,
                        annotated.object_name,
                    ),
                );
            }
        }
    }
    Ok(())
}

/// The `signature` check: `signature` is `None` for a lightweight tag.
/// With a policy that requires a signature (`require-signed`, or an
/// `allowed-signers` list) anything but a good signature by an allowed
/// signer fails; without one, an unsigned tag adds no check and a signature
/// that does not verify only warns.
pub(super) fn check_signature(
    plan: &mut Plan,
    repo: &Repo,
    config: &Config,
    policy: &SignaturePolicy,
    signature: Option<&Signature>,
) -> Result<(), ResolveError> {
    const CHECK: &str = "signature";
    plan.signature = signature.cloned();
    let tag = plan.tag.clone();
    let source = config.source.display().to_string();
    let next = || -> Result<String, ResolveError> {
        Ok(suggest_tag(
            repo,
            &plan.tag_patterns,
            &tag,
            &next_patch(&plan.version),
        )?)
    };
    let why_required = if policy.required && !policy.allowed.is_empty() {
        "the config requires signed release tags (allowed-signers is set)"
    } else {
        "the config requires signed release tags (require-signed)"
    };
    let problem = match signature {
        None => {
            if !policy.required {
                return Ok(());
            }
            format!(
                "`{tag}` is a lightweight tag, which cannot carry a signature, and {why_required} in {source}. Leave this tag as it is and sign the next release: git tag -s {} -m \"Release …\"",
                next()?
            )
        }
        Some(Signature::Unsigned) => {
            if !policy.required {
                return Ok(());
            }
            format!(
                "`{tag}` is not signed, and {why_required} in {source}. Leave this tag as it is and sign the next release (with user.signingkey set, and gpg.format = ssh for an SSH key): git tag -s {} -m \"Release …\"",
                next()?
            )
        }
        Some(Signature::Good { signer }) => {
            let refused: Vec<&str> = policy
                .allowed
                .iter()
                .filter(|(_, list)| !signature::allowed(list, signer))
                .map(|(package, _)| package.as_str())
                .collect();
            if refused.is_empty() {
                plan.push(CHECK, Status::Pass, format!("good signature by {signer}"));
                return Ok(());
            }
            let list = policy
                .allowed
                .iter()
                .find(|(package, _)| package == refused[0])
                .map(|(_, list)| list.join(", "))
                .unwrap_or_default();
            format!(
                "`{tag}` has a good signature by {signer}, who is not in the allowed-signers of {} ({list}) in {source}. If they may release, add their {} to allowed-signers (commit it); otherwise sign the next release with an allowed key",
                refused.join(", "),
                match signer.format {
                    signature::Format::Openpgp => "key fingerprint",
                    signature::Format::Ssh => "SSH principal or key fingerprint",
                },
            )
        }
        Some(Signature::Bad { signer }) => format!(
            "the signature of `{tag}`{} does not match the tag object: it was changed after signing, or the signature is corrupt. Do not release it: compare it with the remote's copy (git fetch origin tag {tag}) and sign the next release",
            signer
                .as_ref()
                .map(|s| format!(" (by {s})"))
                .unwrap_or_default()
        ),
        Some(Signature::UnknownKey { signer }) => match signer.format {
            signature::Format::Openpgp => format!(
                "`{tag}` is signed by {signer}, which is not in this keyring ({}), so the signature cannot be checked. If you trust that key, import it (gpg --import KEY.asc, or gpg --recv-keys {})",
                std::env::var("GNUPGHOME").unwrap_or_else(|_| "~/.gnupg".to_string()),
                signer.key
            ),
            signature::Format::Ssh => format!(
                "`{tag}` is signed by {signer}, which no principal has in git's gpg.ssh.allowedSignersFile, so the signer is unknown. If you trust that key, add a line `PRINCIPAL namespaces=\"git\" <public key>` for it to that file"
            ),
        },
        Some(Signature::ExpiredKey { signer }) => format!(
            "`{tag}` is signed by {signer}, whose key has expired. Extend the key's expiry (gpg --quick-set-expire FINGERPRINT 1y, then publish the key again; for SSH, the valid-before of its allowed-signers line) or sign the next release with a current key"
        ),
        Some(Signature::ExpiredSignature { signer }) => format!(
            "`{tag}` has a signature by {signer} that has expired. Sign the next release with a signature that does not expire"
        ),
        Some(Signature::Revoked { signer }) => format!(
            "`{tag}` is signed by {signer}, whose key has been revoked. Do not release it: sign the next release with a key that is not revoked"
        ),
        Some(Signature::Unverifiable { reason }) => format!(
            "git could not verify the signature of `{tag}`: {reason}. Fix the verification setup (gpg installed, GNUPGHOME, gpg.ssh.allowedSignersFile for SSH signatures), then run tagpub plan {tag} again"
        ),
    };
    if policy.required {
        plan.push(CHECK, Status::Fail, problem);
    } else {
        plan.push(
            CHECK,
            Status::Warn,
            format!("{problem} (a warning: no signature is required)"),
        );
    }
    Ok(())
}

pub(super) fn check_pyproject(
    plan: &mut Plan,
    repo: &Repo,
    package: &Package,
    version: &Version,
) -> Result<(), ResolveError> {
    let path = package.pyproject_path();
    let at = short(&plan.commit).to_string();
    let Some(bytes) = repo.read_file(&plan.commit, &path)? else {
        plan.push(
            "pyproject",
            Status::Fail,
            format!(
                "{path} does not exist at {at}: check the package's `path` in the tagpub config"
            ),
        );
        return Ok(());
    };
    let document: toml::Table = match std::str::from_utf8(&bytes)
        .map_err(|e| e.to_string())
        .and_then(|text| text.parse::<toml::Table>().map_err(|e| e.to_string()))
    {
        Ok(doc) => doc,
        Err(err) => {
            plan.push(
                "pyproject",
                Status::Fail,
                format!("{path} at {at} is not valid TOML: {}", err.trim()),
            );
            return Ok(());
        }
    };
    let project = document.get("project").and_then(|p| p.as_table());
    let poetry = document
        .get("tool")
        .and_then(|t| t.get("poetry"))
        .and_then(|p| p.as_table());

    let declared_name = project
        .and_then(|p| p.get("name"))
        .or_else(|| poetry.and_then(|p| p.get("name")))
        .and_then(|n| n.as_str());
    match declared_name {
        Some(name) if normalize_name(name) == normalize_name(&package.name) => {
            plan.push("name", Status::Pass, format!("{path} names `{name}`"));
        }
        Some(name) => plan.push(
            "name",
            Status::Fail,
            format!(
                "{path} at {at} names `{name}` but the tagpub config says `{}`: fix the package's `name` or `path`",
                package.name
            ),
        ),
        None => plan.push(
            "name",
            Status::Fail,
            format!("{path} at {at} has no [project] name: add one"),
        ),
    }

    let dynamic = project
        .and_then(|p| p.get("dynamic"))
        .and_then(|d| d.as_array())
        .is_some_and(|d| d.iter().any(|v| v.as_str() == Some("version")));
    let declared_version = project
        .and_then(|p| p.get("version"))
        .or_else(|| poetry.and_then(|p| p.get("version")))
        .and_then(|v| v.as_str());
    match (dynamic, declared_version) {
        (true, _) => {
            let source = dynamic_version(repo, &plan.commit, &package.path, &document)?;
            let told = format!(
                "the build reads it in a checkout of the tag, as in CI; only if that does not give {version} is it built again with {}={version} (the fallback); the built metadata is checked",
                pretend_version_env(&package.name)
            );
            let (status, message) = match &source {
                DynamicVersion::Tag { plugin } => (
                    Status::Pass,
                    format!("{path} declares a dynamic version from the tag ({plugin}): {told}"),
                ),
                DynamicVersion::Build { how } => (
                    Status::Pass,
                    format!(
                        "{path} declares a dynamic version{} that only the build can compute: {told}",
                        how.as_ref().map(|h| format!(" ({h})")).unwrap_or_default()
                    ),
                ),
                DynamicVersion::Unreadable { file, how, reason } => (
                    Status::Fail,
                    format!(
                        "{path} at {at} reads its version from {file} ({how}), but {reason}: the build would fail. Fix {file} (or the setting), commit, then tag that commit"
                    ),
                ),
                DynamicVersion::File { file, text, how } => match Version::from_str(text) {
                    Ok(declared) if &declared == version => (
                        Status::Pass,
                        format!("{file} at {at} says {text} ({how})"),
                    ),
                    Ok(_) => (
                        Status::Fail,
                        format!(
                            "tag {} says {version} but {file} at {at} says {text} (the version source of {path}: {how}): set it to {version} in {file} and commit, then move the tag or create {}",
                            plan.tag,
                            suggest_tag(repo, &plan.tag_patterns, &plan.tag, &next_patch(version))?
                        ),
                    ),
                    Err(err) => (
                        Status::Fail,
                        format!(
                            "{file} at {at} says `{text}` ({how}), which is not PEP 440 ({err}): set it to {version}"
                        ),
                    ),
                },
            };
            plan.version_source = Some(VersionSource::Dynamic(source));
            plan.push("version", status, message);
        }
        (false, Some(text)) => {
            plan.version_source = Some(VersionSource::Static(text.to_string()));
            match Version::from_str(text) {
                Ok(declared) if &declared == version => plan.push(
                    "version",
                    Status::Pass,
                    format!("{path} at {at} says {text}"),
                ),
                Ok(_) => plan.push(
                    "version",
                    Status::Fail,
                    format!(
                        "tag {} says {version} but {path} at {at} says {text}: bump the version in pyproject.toml, then move the tag or create {}",
                        plan.tag,
                        suggest_tag(repo, &plan.tag_patterns, &plan.tag, &next_patch(version))?
                    ),
                ),
                Err(err) => plan.push(
                    "version",
                    Status::Fail,
                    format!("{path} at {at} has version `{text}`, which is not PEP 440 ({err})"),
                ),
            }
        }
        (false, None) => plan.push(
            "version",
            Status::Fail,
            format!("{path} at {at} has neither [project] version nor dynamic = [\"version\"]: add version = \"{version}\""),
        ),
    }
    Ok(())
}

/// A symlink anywhere in the tagged tree (not only the package's part: a
/// build can reach every exported file) must resolve inside it, or the
/// build would package a file of this machine's. The export refuses such a
/// tree too; this says so before anything runs, for `plan` and the gates.
pub(super) fn check_symlinks(plan: &mut Plan, repo: &Repo) -> Result<(), ResolveError> {
    let links = repo.symlinks(&plan.commit)?;
    let at = short(&plan.commit).to_string();
    match links.escaping.as_slice() {
        [] if links.total == 0 => {}
        [] => plan.push(
            "symlinks",
            Status::Pass,
            format!(
                "{} symlink{} at {at}, all inside the repository",
                links.total,
                if links.total == 1 { "" } else { "s" }
            ),
        ),
        escaping => {
            const SHOWN: usize = 5;
            let mut listed: Vec<String> = escaping
                .iter()
                .take(SHOWN)
                .map(|link| format!("{link}"))
                .collect();
            if escaping.len() > SHOWN {
                listed.push(format!("and {} more", escaping.len() - SHOWN));
            }
            plan.push(
                "symlinks",
                Status::Fail,
                format!(
                    "{} at {at} lead{} outside the repository: {}. A build would package what {} on this machine: commit the file itself, or point the link inside the repository",
                    if escaping.len() == 1 { "a symlink".to_string() } else { format!("{} symlinks", escaping.len()) },
                    if escaping.len() == 1 { "s" } else { "" },
                    listed.join("; "),
                    if escaping.len() == 1 { "it points at" } else { "they point at" },
                ),
            );
        }
    }
    Ok(())
}

pub(crate) fn is_changelog_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ["CHANGELOG", "CHANGES", "HISTORY"]
        .iter()
        .any(|stem| upper.starts_with(stem))
}

pub(super) fn check_changelog(
    plan: &mut Plan,
    repo: &Repo,
    package: &Package,
    version: &Version,
    required: bool,
) -> Result<(), ResolveError> {
    // The package's own changelog wins; the repository's applies otherwise.
    let mut candidates = vec![package.path.clone()];
    if !package.path.is_empty() {
        candidates.push(String::new());
    }
    for dir in candidates {
        let Some(name) = repo
            .list_dir(&plan.commit, &dir)?
            .into_iter()
            .find(|n| is_changelog_name(n))
        else {
            continue;
        };
        let path = join_repo_path(&dir, &name);
        let text = repo
            .read_file(&plan.commit, &path)?
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let tag_text = plan.tag.clone();
        let mentions = changelog_mentions(&text, version, &tag_text);
        let failing = if required { Status::Fail } else { Status::Warn };
        if mentions {
            plan.push(
                "changelog",
                Status::Pass,
                format!("{path} mentions {version}"),
            );
        } else {
            plan.push(
                "changelog",
                failing,
                format!("{path} does not mention {version}: add an entry for this release"),
            );
        }
        return Ok(());
    }
    if required {
        plan.push(
            "changelog",
            Status::Fail,
            format!(
                "require-changelog is set but neither {} nor the repository root has a CHANGELOG, CHANGES or HISTORY file",
                package.display_path()
            ),
        );
    }
    Ok(())
}

/// Whether a changelog mentions the version, as written in PEP 440 normal
/// form or as any version-looking word equal to it (`1.0.0-rc.1`, `v1.0`).
fn changelog_mentions(text: &str, version: &Version, tag: &str) -> bool {
    if text.contains(tag) {
        return true;
    }
    text.split(|c: char| {
        c.is_whitespace() || matches!(c, '[' | ']' | '(' | ')' | '#' | ',' | ':' | '`' | '*')
    })
    .filter(|word| word.starts_with(|c: char| c.is_ascii_digit() || c == 'v'))
    .filter_map(|word| Version::from_str(word.trim_end_matches('.')).ok())
    .any(|found| &found == version)
}

pub(super) fn check_repository(plan: &mut Plan, config: &Config, package: &Package) {
    let repository = plan.repository.clone();
    let target = match &plan.target {
        None => {
            plan.push(
                "repository",
                Status::Fail,
                format!(
                    "unknown repository `{repository}`: use one of {}",
                    config.repository_names().join(", ")
                ),
            );
            return;
        }
        Some(RepositoryTarget::Local) => {
            plan.push(TOKEN_CHECK, Status::Pass, "the local index needs no token");
            return;
        }
        Some(RepositoryTarget::Remote(remote)) => remote.clone(),
    };
    let lookup = credentials::lookup_token(package, &target);
    match &lookup.token {
        Some(token) => {
            plan.token_source = Some(token.source.to_string());
            plan.trusted_publishing = matches!(
                token.source,
                credentials::TokenSource::TrustedPublishing { .. }
            );
            match token.refusal(&package.name) {
                Some(refusal) => plan.push(
                    TOKEN_CHECK,
                    Status::Fail,
                    format!(
                        "the token from {} would be refused: {refusal}. Store one for this project with `tagpub token set --repository {repository} --package {}`",
                        token.source, package.name
                    ),
                ),
                None => plan.push(
                    TOKEN_CHECK,
                    Status::Pass,
                    format!("token from {} ({})", token.source, token.redacted()),
                ),
            }
        }
        None => plan.push(
            TOKEN_CHECK,
            Status::Fail,
            format!(
                "no token for `{}` on {repository}: {}",
                package.name,
                credentials::missing_token_help(package, &target, &lookup)
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changelog_mentions_versions_in_any_spelling() {
        let v = Version::from_str("1.0.0rc1").unwrap();
        assert!(changelog_mentions(
            "## [1.0.0-rc.1] - 2026-01-01",
            &v,
            "v1.0.0rc1"
        ));
        assert!(changelog_mentions("## v1.0.0rc1", &v, "v1.0.0rc1"));
        assert!(!changelog_mentions("## 1.0.0\n## 0.9.0", &v, "v1.0.0rc1"));
        let plain = Version::from_str("2.1").unwrap();
        assert!(changelog_mentions("Version 2.1.0: fixes.", &plain, "v2.1"));
    }
}
