//! The whole document checked at once: defaults, repositories, packages,
//! groups, and no two tag patterns matching one tag. Every error points at
//! the value with `file:line:col` and says how to fix it.

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::fields::{
    check_command, check_env_name, check_signers, check_url, expand_home, normalize_package_path,
};
use super::load::{RawConfig, RawGroup, SourceFile};
use super::{
    BUILTIN_REPOSITORIES, Config, ConfigError, ConfigOrigin, Defaults, Group, Hooks, Notify,
    Package, RepositoryConfig, Trigger,
};
use crate::version::{TagPattern, is_valid_project_name};

pub(super) fn validate(source: &SourceFile<'_>, raw: RawConfig) -> Result<Config, ConfigError> {
    let mut repositories = BTreeMap::new();
    for (name, spanned) in raw.repository {
        let span = spanned.span();
        let repo = spanned.into_inner();
        if BUILTIN_REPOSITORIES.contains(&name.as_str()) {
            return Err(source.error(
                span,
                format!("`{name}` is a built-in repository and cannot be redefined"),
                Some(format!(
                    "give it another name, e.g. [repository.{name}-mirror]"
                )),
            ));
        }
        let url = check_url(source, &repo.url, "url")?;
        let simple_url = repo
            .simple_url
            .as_ref()
            .map(|u| check_url(source, u, "simple-url"))
            .transpose()?;
        let token_env = repo
            .token_env
            .map(|t| check_env_name(source, t))
            .transpose()?;
        let oidc_url = repo
            .oidc_url
            .as_ref()
            .map(|u| check_url(source, u, "oidc-url"))
            .transpose()?;
        repositories.insert(
            name,
            RepositoryConfig {
                url,
                simple_url,
                token_env,
                oidc_url,
                username: repo.username.filter(|u| !u.trim().is_empty()),
                file_window: repo
                    .file_window
                    .as_ref()
                    .map(|text| {
                        humantime::parse_duration(text.get_ref()).map_err(|err| {
                            source.error(
                                text.span(),
                                format!("invalid duration `{}`: {err}", text.get_ref()),
                                Some("write it like \"14days\" or \"336h\"".to_string()),
                            )
                        })
                    })
                    .transpose()?,
            },
        );
    }

    let known_repository = |name: &Spanned<String>| -> Result<String, ConfigError> {
        let value = name.get_ref();
        if BUILTIN_REPOSITORIES.contains(&value.as_str()) || repositories.contains_key(value) {
            Ok(value.clone())
        } else {
            Err(source.error(
                name.span(),
                format!("unknown repository `{value}`"),
                Some(format!(
                    "use one of {} or define it with [repository.{value}] and a url",
                    BUILTIN_REPOSITORIES
                        .iter()
                        .map(|s| s.to_string())
                        .chain(repositories.keys().cloned())
                        .map(|s| format!("`{s}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            ))
        }
    };

    let defaults = {
        let d = raw.defaults;
        let repository = match &d.repository {
            Some(name) => known_repository(name)?,
            None => "pypi".to_string(),
        };
        let grace = match &d.grace {
            Some(text) => humantime::parse_duration(text.get_ref()).map_err(|err| {
                source.error(
                    text.span(),
                    format!("invalid duration `{}`: {err}", text.get_ref()),
                    Some("write it like \"10s\", \"500ms\" or \"1m\"".to_string()),
                )
            })?,
            None => Duration::from_secs(10),
        };
        Defaults {
            repository,
            trigger: d.trigger.unwrap_or(Trigger::Tag),
            grace,
            require_annotated: d.require_annotated.unwrap_or(true),
            require_changelog: d.require_changelog.unwrap_or(false),
            build_command: d
                .build_command
                .map(|c| check_command(source, c, "build-command"))
                .transpose()?,
            verify: d.verify.unwrap_or_default(),
            sandbox: d.sandbox.unwrap_or_default(),
            source_date_epoch: d.source_date_epoch,
            allow_unattested: d.allow_unattested.unwrap_or(false),
            require_signed: d.require_signed.unwrap_or(false),
            allowed_signers: d
                .allowed_signers
                .as_ref()
                .map(|s| check_signers(source, s))
                .transpose()?
                .unwrap_or_default(),
            sandbox_allow: match &d.sandbox_allow {
                Some(paths) => paths
                    .get_ref()
                    .iter()
                    .map(|p| {
                        let path = expand_home(p);
                        if path.is_absolute() {
                            Ok(path)
                        } else {
                            Err(source.error(
                                paths.span(),
                                format!("sandbox-allow path `{p}` is not absolute"),
                                Some("write it from / or ~, like \"~/.cache/foo\"".to_string()),
                            ))
                        }
                    })
                    .collect::<Result<_, _>>()?,
                None => Vec::new(),
            },
        }
    };

    if raw.package.is_empty() {
        return Err(source.error(
            0..0,
            "no [[package]] is configured",
            Some("add one, e.g.\n    [[package]]\n    name = \"my-package\"\n    path = \".\"\n    tags = [\"v{version}\"]\n  or run `tagpub init`".to_string()),
        ));
    }

    let mut packages: Vec<Package> = Vec::new();
    // Normalized name → index in `packages`, for the duplicate check.
    let mut names: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    // (package index, pattern span) for the overlap check.
    let mut pattern_spans: Vec<Vec<Range<usize>>> = Vec::new();
    let member_of = group_membership(source, &raw.group)?;
    for raw_package in raw.package {
        let name = raw_package.name.get_ref().clone();
        if !is_valid_project_name(&name) {
            return Err(source.error(
                raw_package.name.span(),
                format!("`{name}` is not a valid Python project name"),
                Some("use letters, digits, `-`, `_` and `.`, starting and ending with a letter or digit".to_string()),
            ));
        }
        if let Some(previous) = names
            .get(&crate::version::normalize_name(&name))
            .map(|&index| &packages[index])
        {
            return Err(source.error(
                raw_package.name.span(),
                format!(
                    "package `{name}` is configured twice (also as `{}`)",
                    previous.name
                ),
                Some(
                    "keep one [[package]] per project and list all its tag patterns in its `tags`"
                        .to_string(),
                ),
            ));
        }
        let path = match &raw_package.path {
            Some(path) => normalize_package_path(path.get_ref()).map_err(|why| {
                source.error(
                    path.span(),
                    format!("package path `{}` {why}", path.get_ref()),
                    Some(
                        "write it relative to the repository root, like \"src/my_plugin\""
                            .to_string(),
                    ),
                )
            })?,
            None => String::new(),
        };
        let group = member_of
            .get(&crate::version::normalize_name(&name))
            .cloned();
        let (tags, spans) = match &raw_package.tags {
            Some(patterns) => parse_patterns(source, patterns, &format!("package `{name}`"))?,
            None if group.is_some() => (Vec::new(), Vec::new()),
            None => {
                return Err(source.error(
                    raw_package.name.span(),
                    format!("package `{name}` has no tag patterns"),
                    Some("add `tags = [\"v{version}\"]`, or list the package in a [[group]] whose tags release it".to_string()),
                ));
            }
        };
        let repository = raw_package
            .repository
            .as_ref()
            .map(&known_repository)
            .transpose()?;
        names.insert(crate::version::normalize_name(&name), packages.len());
        packages.push(Package {
            name,
            path,
            tags,
            token_env: raw_package
                .token_env
                .map(|t| check_env_name(source, t))
                .transpose()?,
            repository,
            build_command: raw_package
                .build_command
                .map(|c| check_command(source, c, "build-command"))
                .transpose()?,
            verify: raw_package.verify,
            sandbox: raw_package.sandbox,
            allow_unattested: raw_package.allow_unattested,
            require_signed: raw_package.require_signed,
            allowed_signers: raw_package
                .allowed_signers
                .as_ref()
                .map(|s| check_signers(source, s))
                .transpose()?,
            group,
        });
        pattern_spans.push(spans);
    }
    let groups = validate_groups(source, raw.group, &packages, &names, &defaults.repository)?;

    // One tag must never release two things: reject any pair of patterns
    // (across or within packages and groups) that some tag matches both of.
    // Only pairs whose literals could overlap are walked (see
    // `version::Overlaps`); the first in config order is reported.
    let owners: Vec<PatternOwner<'_>> = packages
        .iter()
        .zip(&pattern_spans)
        .map(|(p, spans)| PatternOwner {
            name: format!("package `{}`", p.name),
            patterns: &p.tags,
            spans,
        })
        .chain(groups.iter().map(|(g, spans)| PatternOwner {
            name: format!("group `{}`", g.name),
            patterns: &g.tags,
            spans,
        }))
        .collect();
    check_overlaps(source, &owners)?;

    Ok(Config {
        source: source.path.to_path_buf(),
        origin: ConfigOrigin::WorkingTree { tag_commit: None },
        defaults,
        hooks: Hooks {
            pre_push: raw.hooks.pre_push.unwrap_or_default(),
        },
        notify: Notify {
            command: raw
                .notify
                .command
                .map(|c| check_command(source, c, "notify.command"))
                .transpose()?,
            desktop: raw.notify.desktop,
        },
        packages,
        groups: groups.into_iter().map(|(g, _)| g).collect(),
        repositories,
    })
}

/// Tag patterns as written, parsed; an empty list is an error.
fn parse_patterns(
    source: &SourceFile<'_>,
    patterns: &Spanned<Vec<Spanned<String>>>,
    owner: &str,
) -> Result<(Vec<TagPattern>, Vec<Range<usize>>), ConfigError> {
    if patterns.get_ref().is_empty() {
        return Err(source.error(
            patterns.span(),
            format!("{owner} has no tag patterns"),
            Some("add at least one, like tags = [\"v{version}\"]".to_string()),
        ));
    }
    let mut tags = Vec::new();
    let mut spans = Vec::new();
    for pattern in patterns.get_ref() {
        let parsed = TagPattern::parse(pattern.get_ref())
            .map_err(|err| source.error(pattern.span(), err.to_string(), None))?;
        tags.push(parsed);
        spans.push(pattern.span());
    }
    Ok((tags, spans))
}

/// Normalized member name → its group's name; a package listed twice (in
/// one group or two) is an error.
fn group_membership(
    source: &SourceFile<'_>,
    groups: &[RawGroup],
) -> Result<std::collections::HashMap<String, String>, ConfigError> {
    let mut member_of = std::collections::HashMap::new();
    for group in groups {
        for member in group.packages.get_ref() {
            let key = crate::version::normalize_name(member.get_ref());
            if let Some(previous) = member_of.insert(key, group.name.get_ref().clone()) {
                return Err(source.error(
                    member.span(),
                    format!(
                        "package `{}` is listed twice (also in group `{previous}`)",
                        member.get_ref()
                    ),
                    Some("a package belongs to at most one [[group]]; list it once".to_string()),
                ));
            }
        }
    }
    Ok(member_of)
}

/// The `[[group]]` tables: a name no package has, known members, patterns.
fn validate_groups(
    source: &SourceFile<'_>,
    raw: Vec<RawGroup>,
    packages: &[Package],
    package_names: &std::collections::HashMap<String, usize>,
    default_repository: &str,
) -> Result<Vec<SpannedGroup>, ConfigError> {
    let mut groups: Vec<SpannedGroup> = Vec::new();
    for group in raw {
        let name = group.name.get_ref().clone();
        let key = crate::version::normalize_name(&name);
        if !is_valid_project_name(&name) {
            return Err(source.error(
                group.name.span(),
                format!("`{name}` is not a valid group name"),
                Some("use letters, digits, `-`, `_` and `.`, like a project name".to_string()),
            ));
        }
        // Jobs, locks and status name a release by its group or package:
        // one name must mean one thing.
        if let Some(&index) = package_names.get(&key)
            && packages[index].group.as_deref() != Some(name.as_str())
        {
            return Err(source.error(
                group.name.span(),
                format!(
                    "group `{name}` has the name of package `{}`, which is not in it",
                    packages[index].name
                ),
                Some(
                    "name the group after its main package or give it a name of its own"
                        .to_string(),
                ),
            ));
        }
        if groups
            .iter()
            .any(|(g, _)| crate::version::normalize_name(&g.name) == key)
        {
            return Err(source.error(
                group.name.span(),
                format!("group `{name}` is configured twice"),
                Some(
                    "keep one [[group]] per name and list all its tag patterns in its `tags`"
                        .to_string(),
                ),
            ));
        }
        if group.packages.get_ref().is_empty() {
            return Err(source.error(
                group.packages.span(),
                format!("group `{name}` has no packages"),
                Some("list the [[package]] names it releases, like packages = [\"core\", \"plugin\"]".to_string()),
            ));
        }
        let mut members = Vec::new();
        for member in group.packages.get_ref() {
            let Some(&index) = package_names.get(&crate::version::normalize_name(member.get_ref()))
            else {
                return Err(source.error(
                    member.span(),
                    format!("group `{name}` lists `{}`, which is not a [[package]]", member.get_ref()),
                    Some(format!(
                        "add a [[package]] with name = \"{}\" and its path, or remove it from the group",
                        member.get_ref()
                    )),
                ));
            };
            members.push(packages[index].name.clone());
        }
        // One release of a group goes to one index: a CI job, a retry and
        // `--repository` then mean the same thing for every member.
        let repository_of = |member: &str| {
            packages
                .iter()
                .find(|p| p.name == member)
                .and_then(|p| p.repository.clone())
                .unwrap_or_else(|| default_repository.to_string())
        };
        if let Some(other) = members
            .iter()
            .find(|m| repository_of(m) != repository_of(&members[0]))
        {
            return Err(source.error(
                group.packages.span(),
                format!(
                    "group `{name}` publishes `{}` to {} but `{other}` to {}",
                    members[0],
                    repository_of(&members[0]),
                    repository_of(other)
                ),
                Some("the members of a group are released to one repository: give them the same `repository`".to_string()),
            ));
        }
        let (tags, spans) = parse_patterns(source, &group.tags, &format!("group `{name}`"))?;
        groups.push((
            Group {
                name,
                tags,
                members,
            },
            spans,
        ));
    }
    Ok(groups)
}

/// A group and the spans of its tag patterns.
type SpannedGroup = (Group, Vec<Range<usize>>);

/// A package or group with its tag patterns and where each is written.
struct PatternOwner<'a> {
    name: String,
    patterns: &'a [TagPattern],
    spans: &'a [Range<usize>],
}

/// Rejects the first pair of patterns (in config order) that some tag
/// matches both of, naming the tag.
fn check_overlaps(source: &SourceFile<'_>, owners: &[PatternOwner<'_>]) -> Result<(), ConfigError> {
    let located: Vec<(usize, usize)> = owners
        .iter()
        .enumerate()
        .flat_map(|(i, owner)| (0..owner.patterns.len()).map(move |pi| (i, pi)))
        .collect();
    let all: Vec<&TagPattern> = located
        .iter()
        .map(|&(i, pi)| &owners[i].patterns[pi])
        .collect();
    let overlaps = crate::version::Overlaps::new(&all);
    let mut candidates = overlaps.candidates();
    candidates.sort_by_key(|&(a, b)| {
        let ((i, pi), (j, pj)) = (located[a], located[b]);
        (i, j, pi, pj)
    });
    for (a, b) in candidates {
        let Some(witness) = overlaps.witness(a, b) else {
            continue;
        };
        let ((i, _), (j, pj)) = (located[a], located[b]);
        let (owner, other) = (&owners[i].name, &owners[j].name);
        let (pattern, other_pattern) = (all[a], all[b]);
        let who = if i == j {
            owner.clone()
        } else {
            format!("{owner} or {other}")
        };
        return Err(source.error(
            owners[j].spans[pj].clone(),
            format!(
                "tag patterns `{pattern}` ({owner}) and `{other_pattern}` ({other}) can match the same tag, e.g. `{witness}`: which of {who} it releases would be ambiguous"
            ),
            Some("give each package a distinct prefix, like \"v{version}\" and \"plugin-v{version}\"; to release several packages with one tag, list them in one [[group]]".to_string()),
        ));
    }
    Ok(())
}
