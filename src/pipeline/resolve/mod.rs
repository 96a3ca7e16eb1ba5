//! Tag → package → version, and every check that can be made before
//! building. `plan` holds what a resolve gives (`Plan`, `TagPlan`, what a
//! tag releases) and its text for errors; `checks` the checks each member
//! gets; `names` what the checks' messages name (the next free tag, the
//! pretend-version variable, short ids).

mod checks;
mod names;
mod plan;

use crate::config::{Config, Package, SignaturePolicy};
use crate::git::{GitError, Repo, TagInfo};
use crate::pipeline::signature::{self, Signature};
use crate::version::{TagMatch, TagPattern, Version};

pub(crate) use checks::is_changelog_name;
use checks::{
    check_changelog, check_pyproject, check_repository, check_signature, check_symlinks,
    check_tag_object,
};
pub use names::{free_tag, free_version, next_patch, pretend_version_env, short, suggest_tag};
pub use plan::{Plan, TagPlan, Target, VersionSource};

/// Why a tag could not be planned at all (as opposed to a plan whose checks
/// fail).
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(
        "tag `{tag}` does not exist in {repo}: create it with `git tag -a {tag} -m \"Release …\"`, or check the name with `git tag --list`"
    )]
    NoSuchTag { tag: String, repo: String },
    #[error("tag `{tag}` matches no package or group in {config}. The patterns are:\n{patterns}")]
    NoPackage {
        tag: String,
        config: String,
        patterns: String,
    },
    #[error(
        "tag `{tag}` matches the pattern `{pattern}` of `{package}`, but `{text}` is not a PEP 440 version ({reason}). Use a version like 1.0.0, 1.0.0rc1 or 1.0.0.post1"
    )]
    InvalidVersion {
        tag: String,
        pattern: String,
        package: String,
        text: String,
        reason: String,
    },
    #[error(transparent)]
    Git(#[from] GitError),
}

/// A tag that names nothing releasable is the user's mistake (2); git
/// failing under the resolve is not.
impl crate::exit::Classify for ResolveError {
    fn exit_status(&self) -> crate::exit::ExitStatus {
        match self {
            Self::NoSuchTag { .. } | Self::NoPackage { .. } | Self::InvalidVersion { .. } => {
                crate::exit::ExitStatus::Usage
            }
            Self::Git(_) => crate::exit::ExitStatus::Failed,
        }
    }
}

/// Finds what a tag releases (a package or a group) and its version.
pub fn match_tag<'a>(config: &'a Config, tag: &str) -> Result<(Target<'a>, Version), ResolveError> {
    let targets = config
        .packages
        .iter()
        .map(Target::Package)
        .chain(config.groups.iter().map(Target::Group));
    for target in targets {
        for pattern in target.patterns() {
            match pattern.matches(tag) {
                Some(TagMatch::Version(version)) => return Ok((target, version)),
                Some(TagMatch::InvalidVersion { text, reason }) => {
                    return Err(ResolveError::InvalidVersion {
                        tag: tag.to_string(),
                        pattern: pattern.to_string(),
                        package: target.name().to_string(),
                        text,
                        reason,
                    });
                }
                None => {}
            }
        }
    }
    let listed = |name: &str, patterns: &[TagPattern]| {
        let patterns: Vec<_> = patterns.iter().map(|t| format!("`{t}`")).collect();
        format!("  {name}: {}", patterns.join(", "))
    };
    Err(ResolveError::NoPackage {
        tag: tag.to_string(),
        config: config.source.display().to_string(),
        patterns: config
            .packages
            .iter()
            .filter(|p| !p.tags.is_empty())
            .map(|p| listed(&p.name, &p.tags))
            .chain(
                config
                    .groups
                    .iter()
                    .map(|g| listed(&format!("group {}", g.name), &g.tags)),
            )
            .collect::<Vec<_>>()
            .join("\n"),
    })
}

/// What a plan is for: a release also checks where it would publish (the
/// repository and its token); a push only checks the tag itself, and must not
/// wait on a keychain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Release,
    Push,
}

/// Resolves `tag` and runs every pre-build check, for each package it
/// releases. Check failures are in the plans (so they can all be shown);
/// only a tag that cannot be resolved at all is an error.
pub fn resolve(
    repo: &Repo,
    config: &Config,
    tag: &str,
    repository_override: Option<&str>,
) -> Result<TagPlan, ResolveError> {
    resolve_for(repo, config, tag, repository_override, Scope::Release)
}

/// [`resolve`] for a purpose: a release, the pre-push gate (no token
/// needed), CI's resolve job.
pub fn resolve_for(
    repo: &Repo,
    config: &Config,
    tag: &str,
    repository_override: Option<&str>,
    scope: Scope,
) -> Result<TagPlan, ResolveError> {
    let (target, version) = match_tag(config, tag)?;
    let info = repo.tag(tag)?.ok_or_else(|| ResolveError::NoSuchTag {
        tag: tag.to_string(),
        repo: repo.workdir().display().to_string(),
    })?;
    let packages = target.members(config);
    let policy = config.signature_policy(&packages);
    // One verification per tag: every member is released by the same object.
    let signature = match &info.annotated {
        Some(annotated) if annotated.signed || policy.required => {
            Some(signature::verify(repo, &info.ref_target)?)
        }
        Some(_) => Some(Signature::Unsigned),
        None => None,
    };
    let members = packages
        .into_iter()
        .map(|package| {
            plan_member(
                repo,
                config,
                &info,
                target,
                package,
                &version,
                (&policy, signature.as_ref()),
                repository_override,
                scope,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(TagPlan {
        tag: tag.to_string(),
        group: target.group().map(str::to_string),
        version,
        members,
    })
}

#[allow(clippy::too_many_arguments)]
fn plan_member(
    repo: &Repo,
    config: &Config,
    info: &TagInfo,
    target: Target<'_>,
    package: &Package,
    version: &Version,
    (policy, signature): (&SignaturePolicy, Option<&Signature>),
    repository_override: Option<&str>,
    scope: Scope,
) -> Result<Plan, ResolveError> {
    let repository = config
        .repository_for(package, repository_override)
        .to_string();
    let mut plan = Plan {
        tag: info.name.clone(),
        package: package.name.clone(),
        version: version.clone(),
        path: package.display_path().to_string(),
        commit: info.commit.clone(),
        tag_target: info.ref_target.clone(),
        source_date_epoch: info
            .annotated
            .as_ref()
            .and_then(|a| a.tagger_time)
            .unwrap_or(info.commit_time),
        target: config.repository(&repository),
        repository,
        token_source: None,
        trusted_publishing: false,
        version_source: None,
        config: config.origin_text(),
        group: target.group().map(str::to_string),
        signature: None,
        checks: Vec::new(),
        package_config: package.clone(),
        tag_patterns: target.patterns().to_vec(),
    };
    check_tag_object(&mut plan, repo, config, info)?;
    check_signature(&mut plan, repo, config, policy, signature)?;
    check_pyproject(&mut plan, repo, package, version)?;
    check_symlinks(&mut plan, repo)?;
    check_changelog(
        &mut plan,
        repo,
        package,
        version,
        config.defaults.require_changelog,
    )?;
    if scope == Scope::Release {
        check_repository(&mut plan, config, package);
    }
    Ok(plan)
}
