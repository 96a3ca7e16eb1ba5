//! Tag → package → version, and every check that can be made before building.

use std::str::FromStr;

use serde::Serialize;

use crate::config::{Config, Group, Package, RepositoryTarget, SignaturePolicy, join_repo_path};
use crate::credentials;
use crate::finding::{Finding, Status};
use crate::git::{GitError, Repo, TagInfo};
use crate::pipeline::signature::{self, Signature};
use crate::pipeline::version_source::{DynamicVersion, dynamic_version};
use crate::version::{TagMatch, TagPattern, Version, normalize_name};

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

const TOKEN_CHECK: &str = "token";

/// Where the version to release comes from at the tagged commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "lowercase")]
pub enum VersionSource {
    /// `[project] version` (or `[tool.poetry] version`).
    Static(String),
    /// `dynamic = ["version"]`: the build is told the version and the built
    /// metadata is verified; where the backend gets it, as far as it can be
    /// read without running anything.
    Dynamic(DynamicVersion),
}

/// Everything known about a release before anything is built.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub tag: String,
    pub package: String,
    #[serde(serialize_with = "serialize_display")]
    pub version: Version,
    pub path: String,
    pub commit: String,
    /// The object the tag ref points at (identifies this exact tag).
    pub tag_target: String,
    /// SOURCE_DATE_EPOCH for the build: the tagger date, else the commit date.
    pub source_date_epoch: i64,
    /// The repository's name.
    pub repository: String,
    /// The repository resolved; `None` when the config does not know the
    /// name (a `--repository`), and the `repository` check failed.
    #[serde(skip)]
    pub target: Option<RepositoryTarget>,
    /// Where the token would come from; `None` when not needed or not found.
    pub token_source: Option<String>,
    /// Whether that token is minted by trusted publishing (the only kind
    /// PyPI takes attestations with).
    #[serde(skip)]
    pub trusted_publishing: bool,
    pub version_source: Option<VersionSource>,
    /// Which config decided this plan (`Config::origin_text`).
    pub config: String,
    /// The `[[group]]` this tag releases, when it is a group tag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// What `git verify-tag` found (the `signature` check): `unsigned`
    /// without asking git when the tag object carries no signature block and
    /// none is required; absent for a lightweight tag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<Signature>,
    pub checks: Vec<Finding>,
    #[serde(skip)]
    pub package_config: Package,
    /// The patterns of what the tag releases (the group's or the
    /// package's): where suggested tags come from.
    #[serde(skip)]
    pub tag_patterns: Vec<TagPattern>,
}

/// What a tag releases: one package, or every member of a group.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    Package(&'a Package),
    Group(&'a Group),
}

impl<'a> Target<'a> {
    /// The name jobs, locks and messages use: the group's or the package's.
    pub fn name(&self) -> &'a str {
        match self {
            Target::Package(package) => &package.name,
            Target::Group(group) => &group.name,
        }
    }

    pub fn patterns(&self) -> &'a [TagPattern] {
        match self {
            Target::Package(package) => &package.tags,
            Target::Group(group) => &group.tags,
        }
    }

    /// The packages released, in config order.
    pub fn members(&self, config: &'a Config) -> Vec<&'a Package> {
        match self {
            Target::Package(package) => vec![*package],
            Target::Group(group) => group
                .members
                .iter()
                .filter_map(|name| config.package(name))
                .collect(),
        }
    }

    pub fn group(&self) -> Option<&'a str> {
        match self {
            Target::Package(_) => None,
            Target::Group(group) => Some(&group.name),
        }
    }
}

/// Everything known before building about the release of one tag: one
/// plan per package it releases (a group tag has several). Serialized as
/// the one plan for a package tag (the shape before groups existed).
#[derive(Debug, Clone)]
pub struct TagPlan {
    pub tag: String,
    pub group: Option<String>,
    pub version: Version,
    pub members: Vec<Plan>,
}

impl Serialize for TagPlan {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct GroupPlan<'a> {
            tag: &'a str,
            group: &'a str,
            version: String,
            ok: bool,
            members: &'a [Plan],
        }
        match (&self.group, self.members.as_slice()) {
            (None, [plan]) => plan.serialize(s),
            (group, members) => GroupPlan {
                tag: &self.tag,
                group: group.as_deref().unwrap_or_default(),
                version: self.version.to_string(),
                ok: self.ok(),
                members,
            }
            .serialize(s),
        }
    }
}

impl TagPlan {
    pub fn ok(&self) -> bool {
        self.members.iter().all(Plan::ok)
    }

    /// The group's name, else the one package's.
    pub fn name(&self) -> &str {
        self.group
            .as_deref()
            .unwrap_or_else(|| &self.members[0].package)
    }

    /// What goes before a member's check names: `package: ` in a group
    /// (whose members' checks are listed together), else nothing.
    pub fn member_prefix(&self, plan: &Plan) -> String {
        match &self.group {
            Some(_) => format!("{}: ", plan.package),
            None => String::new(),
        }
    }

    pub fn for_dry_run(self) -> TagPlan {
        TagPlan {
            members: self.members.into_iter().map(Plan::for_dry_run).collect(),
            ..self
        }
    }

    /// Every failed check, `  ✗ [package: ]name: message` a line.
    pub fn failure_lines(&self) -> String {
        self.members
            .iter()
            .flat_map(|plan| {
                plan.failures()
                    .map(move |c| format!("  {}", c.marked(&self.member_prefix(plan))))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn serialize_display<S: serde::Serializer>(value: &Version, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(value)
}

impl Plan {
    pub fn ok(&self) -> bool {
        !self.checks.iter().any(Finding::failed)
    }

    pub fn failures(&self) -> impl Iterator<Item = &Finding> {
        self.checks.iter().filter(|c| c.failed())
    }

    /// A dry run uploads nothing, so a missing token is no reason to stop it.
    pub fn for_dry_run(mut self) -> Plan {
        for check in &mut self.checks {
            if check.name == TOKEN_CHECK && check.status == Status::Fail {
                check.status = Status::Warn;
                check.message.push_str(" (not needed for a dry run)");
            }
        }
        self
    }

    pub fn dynamic_version(&self) -> bool {
        matches!(self.version_source, Some(VersionSource::Dynamic(_)))
    }

    pub(crate) fn push(&mut self, name: &'static str, status: Status, message: impl Into<String>) {
        self.checks.push(Finding::new(name, status, message));
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

fn check_tag_object(
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
            let next = suggest_tag(
                repo,
                &plan.tag_patterns,
                &info.name,
                &next_patch(&plan.version),
            )?;
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
                let next = suggest_tag(
                    repo,
                    &plan.tag_patterns,
                    &info.name,
                    &next_patch(&plan.version),
                )?;
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
fn check_signature(
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

fn check_pyproject(
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
fn check_symlinks(plan: &mut Plan, repo: &Repo) -> Result<(), ResolveError> {
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
    let existing: std::collections::HashSet<String> = repo.tag_names()?.into_iter().collect();
    let mut candidate = version.clone();
    loop {
        let name = pattern.render(&candidate);
        if !existing.contains(&name) {
            return Ok(name);
        }
        candidate = next_patch(&candidate);
    }
}

/// `SETUPTOOLS_SCM_PRETEND_VERSION_FOR_<NAME>` as setuptools-scm spells it.
pub fn pretend_version_env(name: &str) -> String {
    format!(
        "SETUPTOOLS_SCM_PRETEND_VERSION_FOR_{}",
        normalize_name(name).replace('-', "_").to_ascii_uppercase()
    )
}

pub(crate) fn is_changelog_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ["CHANGELOG", "CHANGES", "HISTORY"]
        .iter()
        .any(|stem| upper.starts_with(stem))
}

fn check_changelog(
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

fn check_repository(plan: &mut Plan, config: &Config, package: &Package) {
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

pub fn short(id: &str) -> &str {
    &id[..id.len().min(10)]
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

    #[test]
    fn pretend_env_follows_setuptools_scm() {
        assert_eq!(
            pretend_version_env("Open_Ticket.AI-hf"),
            "SETUPTOOLS_SCM_PRETEND_VERSION_FOR_OPEN_TICKET_AI_HF"
        );
    }
}
