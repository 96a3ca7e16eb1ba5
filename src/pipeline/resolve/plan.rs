//! What a resolve gives: one `Plan` per package a tag releases (its
//! checks are `Finding`s), the `TagPlan` over them, and what a tag
//! releases (`Target`: a package or a group).

use serde::Serialize;

use crate::config::{Config, Group, Package, RepositoryTarget};
use crate::finding::{Finding, Status};
use crate::pipeline::signature::Signature;
use crate::pipeline::version_source::DynamicVersion;
use crate::version::{TagPattern, Version};

pub(super) const TOKEN_CHECK: &str = "token";

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

    /// The tag patterns that release this target.
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

    /// The group's name, for a group.
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
    /// Whether every member's checks passed.
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

    /// The plan of a dry run: every member's, without the token requirement.
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
    /// Whether every check passed.
    pub fn ok(&self) -> bool {
        !self.checks.iter().any(Finding::failed)
    }

    /// The checks that failed.
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

    /// Whether the version comes from the build (a VCS plugin or code), not
    /// from a file tagpub can read.
    pub fn dynamic_version(&self) -> bool {
        matches!(self.version_source, Some(VersionSource::Dynamic(_)))
    }

    pub(crate) fn push(&mut self, name: &'static str, status: Status, message: impl Into<String>) {
        self.checks.push(Finding::new(name, status, message));
    }
}
