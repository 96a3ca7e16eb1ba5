//! The whole release of one resolved tag: build (or reuse), check, upload
//! what the index lacks, verify. Safe to run again after any failure.

use std::path::PathBuf;

use crate::config::{Config, RepositoryTarget, Verify};
use crate::credentials;
use crate::dirs::Dirs;
use crate::fault;
use crate::git::Repo;
use crate::ledger::{BuiltFile, ReleaseDir, ReleaseLock, ReleaseRecord};
use crate::pipeline::attest::Attestations;
use crate::pipeline::build::BuildTool;
use crate::pipeline::install_check::{self, InstallReport};
use crate::pipeline::resolve::{Plan, TagPlan};
use crate::pipeline::upload::open_repository;
use crate::pipeline::verify::{self};
use crate::report::Reporter;
use crate::repository::Repository;
use crate::version::normalize_name;

mod error;
mod files;
mod upload;

pub use error::{ClosedWindow, IncompleteUpload, LostProvenance, MemberFailed, ReleaseError};
use upload::{list_or_none, upload_order};

/// How a release runs: a dry run or not, the build tool, how long to verify,
/// whether files may go up without attestations.
pub struct ReleaseOptions {
    pub dry_run: bool,
    /// `None`: the package's build-command, the default one, or detection.
    pub build_tool: Option<BuildTool>,
    /// How many times verification lists the index before giving up.
    pub verify_attempts: u32,
    /// `--allow-unattested`: upload without attestations after an attested
    /// release (see `LostProvenance`); the config key does the same.
    pub allow_unattested: bool,
}

impl Default for ReleaseOptions {
    fn default() -> Self {
        ReleaseOptions {
            dry_run: false,
            build_tool: None,
            verify_attempts: 8,
            allow_unattested: false,
        }
    }
}

/// How one member's release ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReleaseStatus {
    /// `--dry-run`: built and checked, nothing uploaded.
    DryRun,
    /// Some files were uploaded now.
    Published,
    /// Every file was already on the index with the same hash.
    AlreadyComplete,
}

/// What a release did for one member: its files, where they went, how to
/// install them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReleaseSummary {
    pub status: ReleaseStatus,
    pub tag: String,
    pub package: String,
    pub version: String,
    pub repository: String,
    pub simple_url: String,
    pub artifacts_dir: PathBuf,
    pub files: Vec<BuiltFile>,
    pub uploaded: Vec<String>,
    /// With `verify = "install"`: how installing from the index went.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub installed: Option<InstallReport>,
}

/// Releases resolved tags ([`Release::run`]): the one entry point the CLI,
/// CI and the daemon share.
pub struct Release<'a> {
    pub repo: &'a Repo,
    pub config: &'a Config,
    pub dirs: &'a Dirs,
    pub reporter: &'a dyn Reporter,
}

/// What releasing a tag did, per package (one for a package tag, every
/// member in upload order for a group tag). Serialized as the one summary
/// for a package tag.
#[derive(Debug, Clone)]
pub struct TagSummary {
    pub tag: String,
    pub group: Option<String>,
    pub version: String,
    pub members: Vec<ReleaseSummary>,
}

impl TagSummary {
    /// One line: `pkg 1.0 on pypi: published and verified`, or per member
    /// for a group.
    pub fn outcome(&self) -> String {
        let status = |summary: &ReleaseSummary| match summary.status {
            ReleaseStatus::AlreadyComplete => "already complete",
            ReleaseStatus::DryRun => "built and checked",
            ReleaseStatus::Published => "published and verified",
        };
        match (&self.group, self.members.as_slice()) {
            (None, [one]) => format!(
                "{} {} on {}: {}",
                one.package,
                one.version,
                one.repository,
                status(one)
            ),
            (group, members) => format!(
                "group {} {}: {}",
                group.as_deref().unwrap_or_default(),
                self.version,
                members
                    .iter()
                    .map(|m| format!("{} on {} {}", m.package, m.repository, status(m)))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        }
    }
}

impl serde::Serialize for TagSummary {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct GroupSummary<'a> {
            tag: &'a str,
            group: &'a str,
            version: &'a str,
            members: &'a [ReleaseSummary],
        }
        match (&self.group, self.members.as_slice()) {
            (None, [summary]) => summary.serialize(s),
            (group, members) => GroupSummary {
                tag: &self.tag,
                group: group.as_deref().unwrap_or_default(),
                version: &self.version,
                members,
            }
            .serialize(s),
        }
    }
}

/// One package of a release on its way: where it goes and with what token.
struct Member<'p> {
    plan: &'p Plan,
    repository: Repository,
    token: Option<credentials::Token>,
    release_dir: ReleaseDir,
}

/// Builds of a group run two at a time: enough to overlap one build's
/// downloads and Python start-up with another's work on a laptop, without
/// starving the machine.
const BUILD_WORKERS: usize = 2;

impl Release<'_> {
    /// Releases every package the tag names. Anything that can stop the
    /// release (a failed plan check, a missing token, a failed build or
    /// check of any member, a conflicting file on the index) stops it
    /// before the first upload; members are then uploaded in dependency
    /// order, each verified on the index before the members that need it.
    pub fn run(
        &self,
        tag_plan: &TagPlan,
        options: &ReleaseOptions,
    ) -> Result<TagSummary, ReleaseError> {
        if !tag_plan.ok() {
            return Err(ReleaseError::PlanFailed {
                tag: tag_plan.tag.clone(),
                failures: tag_plan.failure_lines(),
            });
        }
        let members = tag_plan
            .members
            .iter()
            .map(|plan| self.member(plan, options))
            .collect::<Result<Vec<_>, _>>()?;
        // Held until this release returns: a second process releasing the
        // same version waits here, then finds this one's files and record.
        // Taken in name order, so two releases sharing members cannot
        // hold one each and wait for the other.
        let mut by_name: Vec<&Plan> = tag_plan.members.iter().collect();
        by_name.sort_by_key(|plan| normalize_name(&plan.package));
        let _locks = by_name
            .into_iter()
            .map(|plan| self.lock(plan))
            .collect::<Result<Vec<_>, _>>()?;

        let mut records = self.build_members(tag_plan, &members, options)?;
        let order = upload_order(&members, &records);
        let mut summaries: Vec<ReleaseSummary> = order
            .iter()
            .map(|&i| ReleaseSummary {
                status: ReleaseStatus::DryRun,
                tag: tag_plan.tag.clone(),
                package: members[i].plan.package.clone(),
                version: tag_plan.version.to_string(),
                repository: members[i].plan.repository.clone(),
                simple_url: members[i].repository.simple_url().to_string(),
                artifacts_dir: members[i].release_dir.dist(),
                files: records[i].files.clone(),
                uploaded: Vec::new(),
                installed: None,
            })
            .collect();
        let summary = |members| TagSummary {
            tag: tag_plan.tag.clone(),
            group: tag_plan.group.clone(),
            version: tag_plan.version.to_string(),
            members,
        };
        if options.dry_run {
            return Ok(summary(summaries));
        }
        let attestations = members
            .iter()
            .zip(&records)
            .map(|(member, record)| self.attestations(member, record))
            .collect::<Result<Vec<_>, _>>()?;
        if tag_plan.group.is_some() {
            // Every member's files are compared with the index before the
            // first upload: a conflict in the last member stops the first.
            for &i in &order {
                self.missing_files(&members[i], &mut records[i], &attestations[i], options)?;
            }
        }
        for (position, &i) in order.iter().enumerate() {
            let result = self.publish(&members[i], &mut records[i], &attestations[i], options);
            match result {
                Ok((uploaded, status, installed)) => {
                    let member_summary = &mut summaries[position];
                    member_summary.uploaded = uploaded;
                    member_summary.status = status;
                    member_summary.installed = installed;
                    fault::point("member-published");
                }
                Err(source) if tag_plan.group.is_some() => {
                    let names = |range: &[usize]| {
                        range
                            .iter()
                            .map(|&j| members[j].plan.package.clone())
                            .collect::<Vec<_>>()
                    };
                    return Err(ReleaseError::Member(Box::new(MemberFailed {
                        tag: tag_plan.tag.clone(),
                        group: tag_plan.name().to_string(),
                        package: members[i].plan.package.clone(),
                        done: list_or_none(&names(&order[..position])),
                        pending: list_or_none(&names(&order[position..])),
                        source,
                    })));
                }
                Err(source) => return Err(source),
            }
        }
        Ok(summary(summaries))
    }

    /// Opens a member's repository and finds its token: a release that
    /// cannot be uploaded should fail in a second, not after a build.
    fn member<'p>(
        &self,
        plan: &'p Plan,
        options: &ReleaseOptions,
    ) -> Result<Member<'p>, ReleaseError> {
        let repository = plan
            .target
            .as_ref()
            .and_then(|target| open_repository(target, self.dirs))
            .ok_or_else(|| ReleaseError::UnknownRepository(plan.repository.clone()))?;
        let token = if repository.needs_token() && !options.dry_run {
            let token = self.token(plan)?;
            if let Some(refusal) = token.refusal(&plan.package) {
                return Err(ReleaseError::TokenRefused {
                    source_name: token.source.to_string(),
                    refusal,
                });
            }
            Some(token)
        } else {
            None
        };
        Ok(Member {
            plan,
            repository,
            token,
            release_dir: ReleaseDir::for_release(
                self.dirs,
                &plan.package,
                &plan.version.to_string(),
                &plan.tag_target,
            ),
        })
    }

    fn lock(&self, plan: &Plan) -> Result<ReleaseLock, ReleaseError> {
        let version = plan.version.to_string();
        Ok(ReleaseLock::acquire(
            self.dirs,
            &plan.package,
            &version,
            &plan.tag,
            |holder| {
                self.reporter.warn(&format!(
                    "{holder} is releasing {} {version}{}; waiting",
                    plan.package,
                    holder
                        .tag
                        .as_deref()
                        .filter(|t| *t != plan.tag)
                        .map(|t| format!(" (from {t})"))
                        .unwrap_or_default()
                ))
            },
        )?)
    }

    /// Uploads what the index lacks of one member, verifies it there (which
    /// waits, bounded, until the index lists it) and checks the install.
    fn publish(
        &self,
        member: &Member<'_>,
        record: &mut ReleaseRecord,
        attestations: &MemberAttestations,
        options: &ReleaseOptions,
    ) -> Result<(Vec<String>, ReleaseStatus, Option<InstallReport>), ReleaseError> {
        let plan = member.plan;
        // A token minted by trusted publishing lives 15 minutes; after a long
        // build, ask again (the chain reuses one younger than 5 minutes).
        let refreshed;
        let token = match &member.token {
            Some(credentials::Token {
                source: credentials::TokenSource::TrustedPublishing { .. },
                ..
            }) => {
                refreshed = self.token(plan)?;
                Some(&refreshed)
            }
            other => other.as_ref(),
        };
        let secret = token.map(|t| &t.secret);
        let verified_before = record.repository_mut(&plan.repository).verified;
        let uploaded = self.upload_missing(member, record, secret, attestations, options)?;

        fault::point("before-verify");
        self.reporter.step(&format!(
            "verifying {} on {}",
            plan.package, plan.repository
        ));
        verify::verify(
            &member.repository,
            &plan.package,
            &record.files,
            &plan.tag,
            options.verify_attempts,
        )?;
        record.repository_mut(&plan.repository).verified = true;
        member.release_dir.save(record)?;
        let installed = if self.config.verify_for(&plan.package_config) == Verify::Install {
            Some(self.install_check(plan, &member.repository, &member.release_dir, record)?)
        } else {
            None
        };
        // "Already complete" only when no run of this release sent a file
        // before it was verified: finishing a crashed run is publishing.
        let sent_earlier =
            !verified_before && !record.repository_mut(&plan.repository).sent.is_empty();
        let status = if uploaded.is_empty() && !sent_earlier {
            ReleaseStatus::AlreadyComplete
        } else {
            ReleaseStatus::Published
        };
        Ok((uploaded, status, installed))
    }

    /// The package's token for the plan's repository, from the lookup chain.
    fn token(&self, plan: &Plan) -> Result<credentials::Token, ReleaseError> {
        let package = &plan.package_config;
        let Some(target) = plan.target.as_ref().and_then(RepositoryTarget::remote) else {
            return Err(ReleaseError::UnknownRepository(plan.repository.clone()));
        };
        let mut lookup = credentials::lookup_token(package, target);
        if let Some(token) = lookup.token.take() {
            return Ok(token);
        }
        Err(ReleaseError::NoToken {
            package: package.name.clone(),
            repository: plan.repository.clone(),
            help: credentials::missing_token_help(package, target, &lookup),
        })
    }

    /// `verify = "install"`: `name==version` from the index into a fresh
    /// venv, then its top-level modules import.
    fn install_check(
        &self,
        plan: &Plan,
        repository: &Repository,
        release_dir: &ReleaseDir,
        record: &ReleaseRecord,
    ) -> Result<InstallReport, ReleaseError> {
        let failed = |source| ReleaseError::Install {
            package: plan.package.clone(),
            version: plan.version.to_string(),
            repository: plan.repository.clone(),
            tag: plan.tag.clone(),
            source: Box::new(source),
        };
        let modules = record
            .files
            .iter()
            .find(|f| f.filename.ends_with(".whl"))
            .map(|wheel| {
                install_check::top_level_modules(&release_dir.dist().join(&wheel.filename))
            })
            .transpose()
            .map_err(|e| ReleaseError::Io {
                context: "cannot read the wheel's file list".to_string(),
                source: e,
            })?
            .unwrap_or_default();
        self.reporter.step(&format!(
            "installing {}=={} from {} into a fresh venv",
            plan.package, plan.version, plan.repository
        ));
        let work = tempfile::tempdir().map_err(|e| ReleaseError::Io {
            context: "cannot make a temp dir for the install check".to_string(),
            source: e,
        })?;
        let report = install_check::install_and_import(
            repository.simple_url().as_str(),
            &plan.package,
            &plan.version.to_string(),
            &modules,
            work.path(),
        )
        .map_err(failed)?;
        self.reporter.info(&format!(
            "installed with {} and imported {} in {:.1} s",
            report.installer,
            if report.imported.is_empty() {
                "nothing (the wheel has no top-level module)".to_string()
            } else {
                report.imported.join(", ")
            },
            report.seconds
        ));
        Ok(report)
    }
}

/// The attestations of a member's files, by file name.
type MemberAttestations = std::collections::HashMap<String, Attestations>;

fn filenames(files: &[BuiltFile]) -> String {
    files
        .iter()
        .map(|f| f.filename.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
