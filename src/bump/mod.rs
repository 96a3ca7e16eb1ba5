//! `tagpub bump`: the front half of a release. From the committed state it
//! works out the next version of a package or release group, where each
//! member's version lives (`[project] version`, a hatch `path` / setuptools
//! `attr` file, or the tag itself for VCS versions), the changelog step, the
//! tag name and its message. Nothing here writes: `commands/bump.rs` shows
//! or applies the [`BumpPlan`].

pub mod changelog;
pub mod level;
pub mod write;

use std::path::{Path, PathBuf};

use crate::config::{Config, Package, join_repo_path};
use crate::git::{GitError, Repo};
use crate::pipeline::resolve::{Target, free_version, is_changelog_name};
use crate::pipeline::version_source::{DynamicVersion, dynamic_version};
use crate::version::{TagMatch, Version, normalize_name};
use level::{Level, LevelError};

/// One file the bump rewrites.
#[derive(Debug, Clone)]
pub struct Edit {
    /// Repository path (`/`-separated).
    pub path: String,
    pub before: String,
    pub after: String,
}

#[derive(Debug)]
pub struct BumpPlan {
    /// The package's or group's name.
    pub name: String,
    pub packages: Vec<String>,
    pub current: Version,
    pub next: Version,
    pub tag: String,
    /// The annotated tag's message: a title and the changelog's notes.
    pub message: String,
    pub edits: Vec<Edit>,
    /// What the user should know (an empty changelog section, versions
    /// that come from the tag).
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum BumpError {
    #[error("no package or group `{name}` in the config: use one of {known}")]
    UnknownTarget { name: String, known: String },
    #[error("`{name}` names more than one package ({matches}): use the full name")]
    Ambiguous { name: String, matches: String },
    #[error(transparent)]
    Level(#[from] LevelError),
    #[error(
        "the members of {name} are at different versions ({versions}): a group moves together, so set them to one version first"
    )]
    MembersDiffer { name: String, versions: String },
    #[error(
        "{package}'s version is computed when it is built ({how}), so tagpub cannot write it. Change it yourself, commit, then run `tagpub bump` with the explicit version to tag it"
    )]
    ComputedVersion { package: String, how: String },
    #[error(
        "{package}'s version comes from its tags, and no tag of it matches {patterns}: give the first version explicitly (`tagpub bump {package} 1.0.0`)"
    )]
    NoEarlierTag { package: String, patterns: String },
    #[error("{path} says version `{text}`, which is not PEP 440: fix it first")]
    BadCurrent { path: String, text: String },
    #[error("cannot find {package}'s version in {path} to replace it")]
    NotWritable { package: String, path: String },
    #[error(
        "the tag {tag} exists already: {next} was released (or tagged) before. Release the next free version with `tagpub bump {target} {free}`, or, if {tag} was never pushed or published, delete it (`git tag -d {tag}`) and bump again"
    )]
    TagExists {
        tag: String,
        next: String,
        target: String,
        free: String,
    },
    #[error(
        "{path} has changes that are not committed: a bump commits exactly its own edits, so commit or stash them first"
    )]
    Dirty { path: String },
    #[error("{path}: {reason}")]
    Changelog { path: String, reason: String },
    #[error("cannot read {path}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Git(#[from] GitError),
}

/// The package or group `name` names: its exact (normalized) name, or a
/// package's short name, its first tag pattern's prefix without `-v`
/// (`hf-local` for `hf-local-v{version}`).
pub fn find_target<'a>(config: &'a Config, name: &str) -> Result<Target<'a>, BumpError> {
    let wanted = normalize_name(name);
    if let Some(group) = config
        .groups
        .iter()
        .find(|g| normalize_name(&g.name) == wanted)
    {
        return Ok(Target::Group(group));
    }
    if let Some(package) = config
        .packages
        .iter()
        .find(|p| normalize_name(&p.name) == wanted)
    {
        return Ok(Target::Package(package));
    }
    let short: Vec<&Package> = config
        .packages
        .iter()
        .filter(|p| tag_prefix_name(p).is_some_and(|short| normalize_name(&short) == wanted))
        .collect();
    match short.as_slice() {
        [package] => Ok(Target::Package(package)),
        [] => Err(BumpError::UnknownTarget {
            name: name.to_string(),
            known: config
                .groups
                .iter()
                .map(|g| g.name.as_str())
                .chain(config.packages.iter().map(|p| p.name.as_str()))
                .collect::<Vec<_>>()
                .join(", "),
        }),
        several => Err(BumpError::Ambiguous {
            name: name.to_string(),
            matches: several
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// Where one member's version is written.
enum Source {
    /// A string in the pyproject (`[project]` or `[tool.poetry]`).
    Pyproject { path: String, text: String },
    /// A version file (hatch `path`, setuptools `attr`/`file`).
    File { path: String, text: String },
    /// The tag is the version (VCS plugins): nothing to write.
    Tag,
}

impl BumpPlan {
    /// The bump of `target` by `level`, from the commit HEAD points at.
    /// `today` (`YYYY-MM-DD`) dates the changelog section.
    pub fn prepare(
        repo: &Repo,
        config: &Config,
        target: Target<'_>,
        level: &Level,
        today: &str,
    ) -> Result<BumpPlan, BumpError> {
        let head = repo.head_commit()?;
        let members = target.members(config);
        let (current, sources) = current_version(repo, config, &head, target)?;
        let next = level.apply(&current)?;
        let pattern = &target.patterns()[0];
        let tag = pattern.render(&next);
        if repo.tag(&tag)?.is_some() {
            return Err(BumpError::TagExists {
                free: free_version(repo, pattern, &next)?.to_string(),
                target: short_name(target),
                tag,
                next: next.to_string(),
            });
        }
        let mut edits = Vec::new();
        let mut warnings = Vec::new();
        for (package, source) in members.iter().zip(&sources) {
            let path = match source {
                Source::Tag => {
                    warnings.push(format!(
                        "{}'s version comes from the tag: nothing to write, the tag {tag} sets it",
                        package.name
                    ));
                    continue;
                }
                Source::Pyproject { path, .. } | Source::File { path, .. } => path,
            };
            let before = working_text(repo, &head, path)?;
            let after = match source {
                Source::File { text, .. } => write::version_file(&before, text, &next.to_string()),
                _ => write::pyproject_version(&before, &next.to_string()),
            }
            .ok_or_else(|| BumpError::NotWritable {
                package: package.name.clone(),
                path: path.clone(),
            })?;
            if !edits.iter().any(|e: &Edit| &e.path == path) {
                edits.push(Edit {
                    path: path.clone(),
                    before,
                    after,
                });
            }
        }

        let mut notes = None;
        for path in changelogs(repo, &head, &members)? {
            let before = working_text(repo, &head, &path)?;
            let released = match changelog::release(&before, &next.to_string(), &tag, today) {
                Ok(released) => released,
                Err(err) if config.defaults.require_changelog => {
                    return Err(BumpError::Changelog {
                        path,
                        reason: format!("{err} (require-changelog = true)"),
                    });
                }
                Err(err) => {
                    warnings.push(format!("{path}: {err}; left as it is"));
                    continue;
                }
            };
            if released.notes.is_empty() {
                let reason = "its Unreleased section is empty: nothing is noted for this release";
                if config.defaults.require_changelog {
                    return Err(BumpError::Changelog {
                        path,
                        reason: format!("{reason} (require-changelog = true)"),
                    });
                }
                warnings.push(format!("{path}: {reason}"));
            }
            notes.get_or_insert(released.notes);
            edits.push(Edit {
                path,
                before,
                after: released.text,
            });
        }
        let title = format!("Release {} {next}", target.name());
        let message = match notes.filter(|n| !n.is_empty()) {
            Some(notes) => format!("{title}\n\n{notes}\n"),
            None => format!("{title}\n"),
        };
        Ok(BumpPlan {
            name: target.name().to_string(),
            packages: members.iter().map(|p| p.name.clone()).collect(),
            current,
            next,
            tag,
            message,
            edits,
            warnings,
        })
    }
}

/// The version `target` is at in commit `head`, and where each member's
/// version lives.
fn current_version(
    repo: &Repo,
    config: &Config,
    head: &str,
    target: Target<'_>,
) -> Result<(Version, Vec<Source>), BumpError> {
    let members = target.members(config);
    let mut sources = Vec::new();
    for package in &members {
        sources.push(source_of(repo, head, package)?);
    }
    let written: Vec<(String, &str)> = sources
        .iter()
        .filter_map(|source| match source {
            Source::Pyproject { path, text } | Source::File { path, text } => {
                Some((path.clone(), text.as_str()))
            }
            Source::Tag => None,
        })
        .collect();
    let current = match written.first() {
        Some((path, text)) => {
            if written.iter().any(|(_, t)| t != text) {
                return Err(BumpError::MembersDiffer {
                    name: target.name().to_string(),
                    versions: written
                        .iter()
                        .map(|(p, t)| format!("{p}: {t}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
            text.parse::<Version>().map_err(|_| BumpError::BadCurrent {
                path: path.clone(),
                text: text.to_string(),
            })?
        }
        None => latest_tagged(repo, target)?.1,
    };
    Ok((current, sources))
}

fn source_of(repo: &Repo, head: &str, package: &Package) -> Result<Source, BumpError> {
    let path = join_repo_path(&package.path, "pyproject.toml");
    // The committed state decides; the files written are checked for
    // uncommitted changes when they are read for the edit.
    let text = repo
        .read_file(head, &path)?
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .ok_or_else(|| BumpError::Read {
            path: path.clone(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "not in the commit HEAD points at",
            ),
        })?;
    let doc: toml::Table = toml::from_str(&text).map_err(|err| BumpError::Changelog {
        path: path.clone(),
        reason: format!("not valid TOML: {}", err.message()),
    })?;
    let static_version = doc
        .get("project")
        .and_then(|p| p.get("version"))
        .or_else(|| {
            doc.get("tool")
                .and_then(|t| t.get("poetry"))
                .and_then(|p| p.get("version"))
        })
        .and_then(|v| v.as_str());
    if let Some(version) = static_version {
        return Ok(Source::Pyproject {
            path,
            text: version.to_string(),
        });
    }
    Ok(match dynamic_version(repo, head, &package.path, &doc)? {
        DynamicVersion::File { file, text, .. } => Source::File { path: file, text },
        DynamicVersion::Tag { .. } => Source::Tag,
        DynamicVersion::Unreadable { how, reason, .. } => {
            return Err(BumpError::ComputedVersion {
                package: package.name.clone(),
                how: format!("{how}: {reason}"),
            });
        }
        DynamicVersion::Build { how } => {
            return Err(BumpError::ComputedVersion {
                package: package.name.clone(),
                how: how.unwrap_or_else(|| "dynamic".into()),
            });
        }
    })
}

/// The target's latest release tag and its version (the highest version
/// among its tags).
pub fn latest_release(
    repo: &Repo,
    target: Target<'_>,
) -> Result<Option<(String, Version)>, GitError> {
    let mut latest: Option<(String, Version)> = None;
    for tag in repo.tag_names()? {
        for pattern in target.patterns() {
            if let Some(TagMatch::Version(version)) = pattern.matches(&tag)
                && latest.as_ref().is_none_or(|(_, l)| version > *l)
            {
                latest = Some((tag.clone(), version));
            }
        }
    }
    Ok(latest)
}

fn latest_tagged(repo: &Repo, target: Target<'_>) -> Result<(String, Version), BumpError> {
    latest_release(repo, target)?.ok_or_else(|| BumpError::NoEarlierTag {
        package: target.name().to_string(),
        patterns: target
            .patterns()
            .iter()
            .map(|p| format!("`{}`", p.as_str()))
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// The file as it is in the working tree, which must be as committed.
fn working_text(repo: &Repo, head: &str, path: &str) -> Result<String, BumpError> {
    let full: PathBuf = repo.workdir().join(path);
    let text = std::fs::read_to_string(&full).map_err(|source| BumpError::Read {
        path: path.to_string(),
        source,
    })?;
    let committed = repo.read_file(head, path)?;
    if committed.as_deref() != Some(text.as_bytes()) {
        return Err(BumpError::Dirty {
            path: path.to_string(),
        });
    }
    Ok(text)
}

/// Each member's changelog as `plan` finds it: its own, else the
/// repository's (a file shared by members is released once).
fn changelogs(repo: &Repo, head: &str, members: &[&Package]) -> Result<Vec<String>, BumpError> {
    let mut found: Vec<String> = Vec::new();
    for package in members {
        let mut dirs = vec![package.path.as_str()];
        if !package.path.is_empty() {
            dirs.push("");
        }
        for dir in dirs {
            let names = repo.list_dir(head, dir)?;
            if let Some(name) = names.iter().find(|n| is_changelog_name(n)) {
                let path = join_repo_path(dir, name);
                if !found.contains(&path) {
                    found.push(path);
                }
                break;
            }
        }
    }
    Ok(found)
}

/// Where a package or group stands, and the command that releases it next:
/// the loop `status` and `doctor` show.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NextRelease {
    pub name: String,
    /// The latest release tag, if there is one.
    pub latest: Option<String>,
    /// The version the committed state is at (`None` when tagpub cannot
    /// tell: computed by code, no tag yet for a VCS version).
    pub version: Option<String>,
    /// `tagpub bump … patch --commit --tag [--sign] [--push]`.
    pub command: String,
}

pub fn next_release(repo: &Repo, config: &Config, target: Target<'_>) -> NextRelease {
    let latest = latest_release(repo, target).ok().flatten();
    let current = repo
        .head_commit()
        .ok()
        .and_then(|head| current_version(repo, config, &head, target).ok())
        .map(|(version, _)| version);
    // When the next patch's tag exists already (a tag that was never
    // released, say), `patch` would be refused: name the free version.
    let level = current
        .as_ref()
        .and_then(|current| {
            let next = Level::Patch.apply(current).ok()?;
            let free = free_version(repo, target.patterns().first()?, &next).ok()?;
            (free != next).then(|| free.to_string())
        })
        .unwrap_or_else(|| "patch".to_string());
    let version = current.map(|version| version.to_string());
    let mut command = format!("tagpub bump {} {level} --commit --tag", short_name(target));
    if config.signature_policy(&target.members(config)).required {
        command.push_str(" --sign");
    }
    let upstream = user_git(
        repo.workdir(),
        &[
            "rev-parse",
            "--abbrev-ref",
            "--symbolic-full-name",
            "@{upstream}",
        ],
    );
    if upstream.is_ok() {
        command.push_str(" --push");
    }
    NextRelease {
        name: target.name().to_string(),
        latest: latest.map(|(tag, _)| tag),
        version,
        command,
    }
}

/// What `bump` accepts as the target's name, shortest first: a package's
/// tag prefix (`hf-local`), else its or the group's name.
fn short_name(target: Target<'_>) -> String {
    match target {
        Target::Package(package) => tag_prefix_name(package),
        Target::Group(_) => None,
    }
    .unwrap_or_else(|| target.name().to_string())
}

/// A package's first tag prefix without `-v`: `hf-local` for
/// `hf-local-v{version}`; `None` for `v{version}`.
fn tag_prefix_name(package: &Package) -> Option<String> {
    let pattern = package.tags.first()?;
    let prefix = pattern
        .prefix()
        .trim_end_matches('v')
        .trim_end_matches(['-', '_']);
    (!prefix.is_empty()).then(|| prefix.to_string())
}

/// Every release target of the config: groups, then packages in none.
pub fn targets(config: &Config) -> Vec<Target<'_>> {
    config
        .groups
        .iter()
        .map(Target::Group)
        .chain(
            config
                .packages
                .iter()
                .filter(|p| p.group.is_none())
                .map(Target::Package),
        )
        .collect()
}

/// The user's own git in `workdir`, with their session (signing agents,
/// push credentials, global config) but no secret tagpub holds: for what
/// the user would do by hand (commit, tag, sign, push, read their config).
pub fn user_git(
    workdir: &Path,
    args: &[impl AsRef<str>],
) -> Result<String, crate::process::RunError> {
    let mut child = crate::process::Child::new("git");
    child
        .args(args.iter().map(|a| a.as_ref()))
        .current_dir(workdir)
        .keep_session();
    let output = child.run(20)?;
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
