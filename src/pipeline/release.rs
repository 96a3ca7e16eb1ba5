//! The whole release of one resolved tag: build (or reuse), check, upload
//! what the index lacks, verify. Safe to run again after any failure.

use std::path::PathBuf;

use secrecy::SecretString;

use crate::config::{Config, RepositoryTarget, Verify};
use crate::credentials;
use crate::dirs::Dirs;
use crate::dist::Artifact;
use crate::fault;
use crate::git::Repo;
use crate::ledger::{BuiltFile, LedgerError, ReleaseDir, ReleaseLock, ReleaseRecord};
use crate::pipeline::attest::{self, AttestationError, Attestations};
use crate::pipeline::build::{self, BuildError, BuildSettings, BuildTool};
use crate::pipeline::check::{self, CheckReport, Expected};
use crate::pipeline::index_state::{self, FileWindow};
use crate::pipeline::install_check::{self, InstallCheckError, InstallReport};
use crate::pipeline::resolve::{Plan, TagPlan};
use crate::pipeline::upload::open_repository;
use crate::pipeline::verify::{self, VerifyError};
use crate::report::Reporter;
use crate::repository::{FileStatus, Repository, RepositoryError, UploadOutcome, UploadRequest};
use crate::version::normalize_name;

#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error("{tag} cannot be released:\n{failures}")]
    PlanFailed { tag: String, failures: String },
    #[error("unknown repository `{0}`")]
    UnknownRepository(String),
    #[error("no token for `{package}` on {repository}: {help}")]
    NoToken {
        package: String,
        repository: String,
        help: String,
    },
    #[error(
        "the token from {source_name} cannot publish this release: {refusal}. Nothing was built or uploaded"
    )]
    TokenRefused {
        source_name: String,
        refusal: String,
    },
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error("the built files did not pass the checks, so nothing was uploaded:\n{}", format_reports(.0))]
    Check(Vec<CheckReport>),
    #[error(
        "{repository} already has {file} with other bytes (sha256 {index_sha256}, ours {sha256}). A version can be published only once: bump the version in pyproject.toml and create a new tag. Nothing was uploaded"
    )]
    VersionConflict {
        repository: String,
        file: String,
        sha256: String,
        index_sha256: String,
    },
    #[error("cannot reach {repository} before uploading, so nothing was uploaded")]
    Index {
        repository: String,
        #[source]
        source: Box<RepositoryError>,
    },
    #[error(transparent)]
    Upload(Box<IncompleteUpload>),
    #[error(transparent)]
    Verify(#[from] VerifyError),
    #[error(
        "{package} {version} is published on {repository}, but installing it from there failed. Fix the package or its dependencies and publish a new version; `tagpub release {tag}` checks the install again"
    )]
    Install {
        package: String,
        version: String,
        repository: String,
        tag: String,
        #[source]
        source: Box<InstallCheckError>,
    },
    #[error(
        "{tag} moved while it was being released (it pointed at {expected}, now {}), so nothing more was uploaded. A published version is never republished from another commit: if the new commit is the release, bump the version and tag it anew",
        .found.as_deref().unwrap_or("nothing: the tag was deleted")
    )]
    TagMoved {
        tag: String,
        expected: String,
        found: Option<String>,
    },
    #[error(
        "{failed} of the {total} packages of {group} failed before anything was uploaded:\n{failures}"
    )]
    MembersFailed {
        group: String,
        failed: usize,
        total: usize,
        failures: String,
    },
    #[error(transparent)]
    FileWindowClosed(Box<ClosedWindow>),
    #[error("an attestation beside the built files would be refused, so nothing was uploaded")]
    Attestation(#[from] AttestationError),
    #[error(
        "{files} {has} PEP 740 attestations ({paths}), and {repository} takes attestations only with a trusted-publishing token, but the credential here is {credential}. Nothing was uploaded. Publish from CI with trusted publishing (`tagpub ci github` or `tagpub ci gitlab`), or remove the attestation files to upload without them"
    )]
    AttestationsNeedTrustedPublishing {
        files: String,
        has: &'static str,
        paths: String,
        repository: String,
        credential: String,
    },
    #[error(transparent)]
    ProvenanceLost(Box<LostProvenance>),
    #[error(transparent)]
    Member(Box<MemberFailed>),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

/// An upload failed part-way: what is on the index and what is not.
#[derive(Debug, thiserror::Error)]
#[error(
    "uploading {file} to {repository} failed. The release is incomplete. On the index: {uploaded}. Missing: {missing}. Fix the cause below and run `tagpub release {tag}` again: it uploads only the missing files"
)]
pub struct IncompleteUpload {
    pub repository: String,
    pub file: String,
    pub tag: String,
    pub uploaded: String,
    pub missing: String,
    #[source]
    pub source: RepositoryError,
}

/// A release older than the index's window for new files.
#[derive(Debug, thiserror::Error)]
#[error(
    "{repository} takes no more files for {package} {version}: its first file was uploaded {first}, more than {days} days ago, and PyPI adds nothing to a release after that (since July 2026). Nothing was uploaded; {missing} cannot join this release. Publish the change as a new version: bump it and tag again"
)]
pub struct ClosedWindow {
    pub repository: String,
    pub package: String,
    pub version: String,
    pub first: String,
    pub days: u64,
    pub missing: String,
}

/// Files without attestations after a release that had them.
#[derive(Debug, thiserror::Error)]
#[error(
    "{package} {attested_version} on {repository} was published with PEP 740 attestations ({attested} of its {total} files), and {files} {has} none: {repository} would show {package} {version} as having {effect} provenance. Nothing was uploaded. Publish through trusted publishing from CI, which attests every file (`tagpub ci github` or `tagpub ci gitlab`, and `trigger = \"push\"` for this package), or pass --allow-unattested (or set allow-unattested = true) to publish without attestations"
)]
pub struct LostProvenance {
    pub repository: String,
    pub package: String,
    pub version: String,
    pub attested_version: String,
    pub attested: usize,
    pub total: usize,
    pub files: String,
    pub has: &'static str,
    /// `lost` (after an attested release) or `partial` (mixed in one).
    pub effect: &'static str,
}

/// A group release stopped at one member: which members are done.
#[derive(Debug, thiserror::Error)]
#[error(
    "{package} failed. The release of {group} is incomplete. Published and verified: {done}. Not yet: {pending}. Run `tagpub release {tag}` again: it finishes only what is missing"
)]
pub struct MemberFailed {
    pub tag: String,
    pub group: String,
    pub package: String,
    pub done: String,
    pub pending: String,
    #[source]
    pub source: ReleaseError,
}

/// Member indices in upload order: a member after every member its
/// `Requires-Dist` names, config order otherwise. A cycle (legal for pip)
/// is broken in config order.
fn upload_order(members: &[Member<'_>], records: &[ReleaseRecord]) -> Vec<usize> {
    let names: Vec<String> = members
        .iter()
        .map(|m| normalize_name(&m.plan.package))
        .collect();
    let needs: Vec<Vec<usize>> = members
        .iter()
        .zip(records)
        .enumerate()
        .map(|(i, (member, record))| {
            let required = required_names(&member.release_dir, record);
            (0..members.len())
                .filter(|&j| j != i && required.contains(&names[j]))
                .collect()
        })
        .collect();
    let mut order = Vec::new();
    let mut placed = vec![false; members.len()];
    while order.len() < members.len() {
        let ready = (0..members.len())
            .find(|&i| !placed[i] && needs[i].iter().all(|&j| placed[j]))
            .or_else(|| (0..members.len()).find(|&i| !placed[i]))
            .expect("an unplaced member remains");
        placed[ready] = true;
        order.push(ready);
    }
    order
}

/// The normalized project names a member's built metadata requires (the
/// wheel's, else the sdist's), extras and markers included.
fn required_names(release_dir: &ReleaseDir, record: &ReleaseRecord) -> Vec<String> {
    let mut files: Vec<&BuiltFile> = record.files.iter().collect();
    files.sort_by_key(|f| !f.filename.ends_with(".whl"));
    let Some(artifact) = files
        .iter()
        .find_map(|f| check::inspect(&release_dir.dist().join(&f.filename)).ok())
    else {
        return Vec::new();
    };
    artifact
        .metadata
        .get_all("Requires-Dist")
        .into_iter()
        .map(|requirement| {
            let end = requirement
                .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
                .unwrap_or(requirement.len());
            normalize_name(&requirement[..end])
        })
        .collect()
}

fn format_reports(reports: &[CheckReport]) -> String {
    reports
        .iter()
        .filter(|r| !r.errors.is_empty())
        .map(|r| format!("  ✗ {}: {}", r.file, r.errors.join("; ")))
        .collect::<Vec<_>>()
        .join("\n")
}

fn list_or_none(files: &[String]) -> String {
    if files.is_empty() {
        "none".to_string()
    } else {
        files.join(", ")
    }
}

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

    /// Every member built (or reused) and checked, `BUILD_WORKERS` at a
    /// time; records in member order. Any failure fails the release.
    fn build_members(
        &self,
        tag_plan: &TagPlan,
        members: &[Member<'_>],
        options: &ReleaseOptions,
    ) -> Result<Vec<ReleaseRecord>, ReleaseError> {
        if members.len() == 1 {
            return Ok(vec![self.built_record(
                members[0].plan,
                &members[0].release_dir,
                options,
            )?]);
        }
        let next = std::sync::atomic::AtomicUsize::new(0);
        let results: Vec<std::sync::Mutex<Option<Result<ReleaseRecord, ReleaseError>>>> = members
            .iter()
            .map(|_| std::sync::Mutex::new(None))
            .collect();
        std::thread::scope(|scope| {
            for _ in 0..BUILD_WORKERS.min(members.len()) {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let Some(member) = members.get(i) else { break };
                        let built = self.built_record(member.plan, &member.release_dir, options);
                        *results[i].lock().expect("not poisoned") = Some(built);
                    }
                });
            }
        });
        let mut records = Vec::new();
        let mut failures = Vec::new();
        for (member, result) in members.iter().zip(results) {
            match result.into_inner().expect("not poisoned") {
                Some(Ok(record)) => records.push(record),
                Some(Err(err)) => failures.push(format!(
                    "{}: {}",
                    member.plan.package,
                    crate::exit::chain_text(&err)
                )),
                None => failures.push(format!("{}: the build did not run", member.plan.package)),
            }
        }
        if failures.is_empty() {
            return Ok(records);
        }
        Err(ReleaseError::MembersFailed {
            group: tag_plan.name().to_string(),
            failed: failures.len(),
            total: members.len(),
            failures: failures.join("\n"),
        })
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

    /// The release's built files: reused when this exact tag was built
    /// before and the files are intact, else built and checked now.
    fn built_record(
        &self,
        plan: &Plan,
        release_dir: &ReleaseDir,
        options: &ReleaseOptions,
    ) -> Result<ReleaseRecord, ReleaseError> {
        let package = &plan.package_config;
        let (dist, log) = (release_dir.dist(), release_dir.build_log());
        let how =
            build::PlanBuild::prepare(self.repo, self.config, plan, options.build_tool.as_ref())?;
        let (epoch, settings) = (&how.epoch, how.settings(plan, &dist, &log));
        let inputs = build::build_inputs(&plan.tag_target, package, &settings);
        if let Some(record) = release_dir.load()?
            && record.tag_target == plan.tag_target
            && artifacts_intact(release_dir, &record.files)
        {
            let changed = match &record.build_inputs {
                Some(earlier) if earlier.fingerprint == inputs.fingerprint => {
                    self.reporter.info(&format!(
                        "reusing the files built for {} at {} (same build inputs, {})",
                        plan.tag,
                        dist.display(),
                        &inputs.fingerprint[..12]
                    ));
                    return Ok(record);
                }
                Some(earlier) => inputs.changed_since(earlier).join(", "),
                None => "the build inputs (not recorded by the earlier build)".to_string(),
            };
            let on_index: Vec<&String> = record
                .repositories
                .iter()
                .filter(|(_, state)| state.touched())
                .map(|(name, _)| name)
                .collect();
            if !on_index.is_empty() {
                // Those bytes are published and cannot change; a rebuild
                // would only conflict with them.
                self.reporter.warn(&format!(
                    "{changed} changed since the files in {} were built, but some of them are already on {}: finishing the release with the files built then. To publish the change, release a new version",
                    dist.display(),
                    on_index.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                ));
                return Ok(record);
            }
            self.reporter.info(&format!(
                "rebuilding: {changed} changed since the files in {} were built",
                dist.display()
            ));
        }
        self.reporter.info(&format!(
            "SOURCE_DATE_EPOCH: {} ({})",
            epoch
                .value
                .map_or_else(|| "unset".to_string(), |v| v.to_string()),
            epoch.origin
        ));
        let artifacts = self.build(plan, release_dir, &settings)?;
        let expected = Expected {
            name: &plan.package,
            version: &plan.version,
        };
        let mut reports = Vec::new();
        let mut files = Vec::new();
        // One check run for all files: at most one Python start-up for RST.
        let options = check::CheckOptions {
            strict: false,
            rst: check::RstChoice::from_env().unwrap_or_default(),
        };
        let checked = match check::check_paths(&artifacts, Some(&expected), &options) {
            Ok(run) => run.reports,
            Err(err) => artifacts
                .iter()
                .map(|path| CheckReport::unreadable(path, &err))
                .collect(),
        };
        for (path, report) in artifacts.iter().zip(checked) {
            for warning in &report.warnings {
                self.reporter.warn(&format!("{}: {warning}", report.file));
            }
            if report.ok() {
                self.reporter.info(&format!("✓ {}", report.file));
            }
            // The check read the archive; the ledger needs only its hash.
            if let Ok(sha256) = crate::dist::hash::sha256_file(path) {
                files.push(BuiltFile {
                    filename: report.file.clone(),
                    sha256,
                });
            }
            reports.push(report);
        }
        if reports.iter().any(|r| !r.ok()) {
            return Err(ReleaseError::Check(reports));
        }
        let record = ReleaseRecord {
            tag: plan.tag.clone(),
            tag_target: plan.tag_target.clone(),
            commit: plan.commit.clone(),
            package: plan.package.clone(),
            version: plan.version.to_string(),
            files,
            repositories: Default::default(),
            build_inputs: Some(inputs),
        };
        release_dir.save(&record)?;
        fault::point("built");
        Ok(record)
    }

    fn build(
        &self,
        plan: &Plan,
        release_dir: &ReleaseDir,
        settings: &BuildSettings<'_>,
    ) -> Result<Vec<PathBuf>, ReleaseError> {
        release_dir.create()?;
        let artifacts = build::build_commit(
            self.repo,
            &plan.package_config,
            &plan.commit,
            settings,
            self.reporter,
            Some(&self.dirs.checkouts()),
        );
        // Also after a failed build: its log stays behind.
        release_dir.make_private()?;
        Ok(artifacts?)
    }

    /// Uploads what the index does not have yet. Everything that could stop
    /// the release (a conflict, an unreachable index) is found before the
    /// first byte is sent; the tag is read again before each file, so a tag
    /// moved or deleted meanwhile stops the release.
    fn upload_missing(
        &self,
        member: &Member<'_>,
        record: &mut ReleaseRecord,
        token: Option<&SecretString>,
        attestations: &MemberAttestations,
        options: &ReleaseOptions,
    ) -> Result<Vec<String>, ReleaseError> {
        let (plan, repository, release_dir) =
            (member.plan, &member.repository, &member.release_dir);
        let mut missing = self.missing_files(member, record, attestations, options)?;
        let timeout = upload_timeout(repository)?;
        self.wait_out_interrupted(plan, repository, release_dir, record, &mut missing, timeout)?;

        let mut uploaded_now = Vec::new();
        for (index, file) in missing.iter().enumerate() {
            let path = release_dir.dist().join(&file.filename);
            let artifact: Artifact = check::inspect(&path).map_err(|err| ReleaseError::Io {
                context: format!("cannot reopen {}", path.display()),
                source: std::io::Error::other(err),
            })?;
            self.ensure_tag_unmoved(plan)?;
            self.reporter.step(&format!(
                "uploading {} ({}/{}) to {}",
                file.filename,
                index + 1,
                missing.len(),
                plan.repository
            ));
            record
                .repository_mut(&plan.repository)
                .start_upload(&file.filename, timeout);
            release_dir.save(record)?;
            fault::point(format_args!("before-upload-{}", index + 1));
            let request = UploadRequest {
                artifact: &artifact,
                attestations: attestations
                    .get(&file.filename)
                    .map(|a| a.form_value.as_str()),
                token,
                reporter: self.reporter,
            };
            match repository.upload(&request) {
                Ok(outcome) => {
                    // The index has the file; the ledger does not know yet.
                    fault::point(format_args!("after-upload-{}", index + 1));
                    if outcome == UploadOutcome::AlreadyPresent {
                        self.reporter.info(&format!(
                            "{} was already on {} (same sha256)",
                            file.filename, plan.repository
                        ));
                    } else {
                        uploaded_now.push(file.filename.clone());
                        record
                            .repository_mut(&plan.repository)
                            .sent
                            .push(file.filename.clone());
                    }
                    mark_uploaded(record, &plan.repository, &file.filename);
                    release_dir.save(record)?;
                    fault::point(format_args!("uploaded-{}", index + 1));
                }
                Err(source) => {
                    // The upload ended (in failure): the client gave up on it,
                    // so it cannot complete later and a rerun may send it.
                    let state = record.repository_mut(&plan.repository);
                    state.clear_in_flight();
                    let on_index = state.uploaded.clone();
                    release_dir.save(record)?;
                    let still_missing: Vec<String> = missing[index..]
                        .iter()
                        .map(|f| f.filename.clone())
                        .collect();
                    return Err(ReleaseError::Upload(Box::new(IncompleteUpload {
                        repository: plan.repository.clone(),
                        file: file.filename.clone(),
                        tag: plan.tag.clone(),
                        uploaded: list_or_none(&on_index),
                        missing: list_or_none(&still_missing),
                        source,
                    })));
                }
            }
        }
        Ok(uploaded_now)
    }

    /// What the index lacks of a member's files, after every check that
    /// could refuse them there: other bytes already listed, the file
    /// window, provenance.
    fn missing_files(
        &self,
        member: &Member<'_>,
        record: &mut ReleaseRecord,
        attestations: &MemberAttestations,
        options: &ReleaseOptions,
    ) -> Result<Vec<BuiltFile>, ReleaseError> {
        let plan = member.plan;
        let listed = self.list(plan, &member.repository)?;
        let mut missing = self.settle_listed(plan, &member.repository, record, &listed)?;
        member.release_dir.save(record)?;
        // Wheels before the sdist (as twine and uv do): an installer that
        // meets a half-published release finds a wheel instead of building
        // the sdist.
        missing.sort_by_key(|file| !file.filename.ends_with(".whl"));
        self.check_file_window(plan, &listed, &missing)?;
        self.check_provenance(plan, &listed, &missing, attestations, options)?;
        Ok(missing)
    }

    /// The PEP 740 attestations beside a member's files, checked; with any
    /// credential but a trusted-publishing token they are refused here, as
    /// PyPI would refuse them after the first file.
    fn attestations(
        &self,
        member: &Member<'_>,
        record: &ReleaseRecord,
    ) -> Result<MemberAttestations, ReleaseError> {
        let dist = member.release_dir.dist();
        let mut found = MemberAttestations::new();
        for file in &record.files {
            if let Some(attestations) = attest::for_file(&dist, &file.filename, &file.sha256)? {
                found.insert(file.filename.clone(), attestations);
            }
        }
        if found.is_empty() {
            return Ok(found);
        }
        if matches!(member.repository, Repository::Local { .. }) {
            self.reporter.info(&format!(
                "the local index keeps no attestations: {} uploaded without them",
                member.plan.package
            ));
            return Ok(MemberAttestations::new());
        }
        let credential = match &member.token {
            Some(credentials::Token {
                source: credentials::TokenSource::TrustedPublishing { .. },
                ..
            }) => return Ok(found),
            Some(token) => token.source.to_string(),
            None => "none (the index takes uploads without a token)".to_string(),
        };
        let mut names: Vec<&String> = found.keys().collect();
        names.sort();
        let paths: Vec<String> = names
            .iter()
            .flat_map(|name| found[*name].paths.iter())
            .map(|p| p.display().to_string())
            .collect();
        Err(ReleaseError::AttestationsNeedTrustedPublishing {
            has: if names.len() == 1 { "has" } else { "have" },
            files: names
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            paths: paths.join(", "),
            repository: member.plan.repository.clone(),
            credential,
        })
    }

    fn list(
        &self,
        plan: &Plan,
        repository: &Repository,
    ) -> Result<Vec<crate::repository::IndexedFile>, ReleaseError> {
        repository
            .list_files(&plan.package)
            .map_err(|source| ReleaseError::Index {
                repository: plan.repository.clone(),
                source: Box::new(source),
            })
    }

    /// Marks in the record what the index already has; returns the files it
    /// lacks. A file the index has with other bytes stops the release.
    fn settle_listed(
        &self,
        plan: &Plan,
        repository: &Repository,
        record: &mut ReleaseRecord,
        listed: &[crate::repository::IndexedFile],
    ) -> Result<Vec<BuiltFile>, ReleaseError> {
        let mut missing = Vec::new();
        for file in record.files.clone() {
            let status = repository
                .file_status(&file.filename, &file.sha256, listed)
                .map_err(|source| ReleaseError::Index {
                    repository: plan.repository.clone(),
                    source: Box::new(source),
                })?;
            match status {
                FileStatus::Missing => missing.push(file.clone()),
                FileStatus::Present => {
                    self.reporter.info(&format!(
                        "{} is already on {}",
                        file.filename, plan.repository
                    ));
                    mark_uploaded(record, &plan.repository, &file.filename);
                }
                FileStatus::Conflict { index_sha256 } => {
                    return Err(ReleaseError::VersionConflict {
                        repository: plan.repository.clone(),
                        file: file.filename.clone(),
                        sha256: file.sha256.clone(),
                        index_sha256,
                    });
                }
            }
        }
        Ok(missing)
    }

    /// PyPI takes no new file for a release more than 14 days after its
    /// first one (`RepositoryTarget::file_window`): finishing or extending an older
    /// release would fail at the index, so it is refused before any upload.
    fn check_file_window(
        &self,
        plan: &Plan,
        listed: &[crate::repository::IndexedFile],
        missing: &[BuiltFile],
    ) -> Result<(), ReleaseError> {
        let Some(window) = plan.target.as_ref().and_then(RepositoryTarget::file_window) else {
            return Ok(());
        };
        let Some(window) = FileWindow::of(listed, &plan.version, window) else {
            return Ok(());
        };
        if missing.is_empty() || window.is_open() {
            return Ok(());
        }
        Err(ReleaseError::FileWindowClosed(Box::new(ClosedWindow {
            repository: plan.repository.clone(),
            package: plan.package.clone(),
            version: plan.version.to_string(),
            first: window.first_text(),
            days: window.days,
            missing: filenames(missing),
        })))
    }

    /// Files uploaded without attestations after a release that had them
    /// cost the project its provenance on PyPI: refused unless allowed.
    fn check_provenance(
        &self,
        plan: &Plan,
        listed: &[crate::repository::IndexedFile],
        missing: &[BuiltFile],
        attestations: &MemberAttestations,
        options: &ReleaseOptions,
    ) -> Result<(), ReleaseError> {
        let unattested: Vec<BuiltFile> = missing
            .iter()
            .filter(|f| !attestations.contains_key(&f.filename))
            .cloned()
            .collect();
        if unattested.is_empty() {
            return Ok(());
        }
        let Some(attested) = index_state::attested_before(listed, &plan.version) else {
            return Ok(());
        };
        let effect = attested.effect_on(&plan.version);
        if options.allow_unattested || self.config.allow_unattested_for(&plan.package_config) {
            self.reporter.warn(&format!(
                "uploading {} without attestations after {} {} had them (allow-unattested): {} shows the provenance as {}",
                filenames(&unattested),
                plan.package,
                attested.version,
                plan.repository,
                effect
            ));
            return Ok(());
        }
        Err(ReleaseError::ProvenanceLost(Box::new(LostProvenance {
            repository: plan.repository.clone(),
            package: plan.package.clone(),
            version: plan.version.to_string(),
            attested_version: attested.version,
            attested: attested.attested,
            total: attested.files,
            has: if unattested.len() == 1 { "has" } else { "have" },
            files: filenames(&unattested),
            effect,
        })))
    }

    /// A file whose upload a crash interrupted may still be stored by the
    /// index until that upload's timeout has passed: until then it is not
    /// sent again. The index is asked meanwhile; once it lists the file (same
    /// bytes), the file is done.
    fn wait_out_interrupted(
        &self,
        plan: &Plan,
        repository: &Repository,
        release_dir: &ReleaseDir,
        record: &mut ReleaseRecord,
        missing: &mut Vec<BuiltFile>,
        timeout: std::time::Duration,
    ) -> Result<(), ReleaseError> {
        let Some(interrupted) = record.repository_mut(&plan.repository).interrupted(timeout) else {
            return Ok(());
        };
        // The local index stores a file with one rename: nothing can land later.
        if matches!(repository, Repository::Local { .. })
            || !missing.iter().any(|f| f.filename == interrupted.filename)
        {
            record.repository_mut(&plan.repository).clear_in_flight();
            return release_dir.save(record).map_err(Into::into);
        }
        let mut told = false;
        loop {
            let now = crate::ledger::now_ms();
            let remaining = interrupted.until_ms.saturating_sub(now);
            if remaining > 0 && !told {
                told = true;
                self.reporter.warn(&format!(
                    "the upload of {} to {} was interrupted; the index may still store it for {:.0} s more, so it is not sent again before then",
                    interrupted.filename,
                    plan.repository,
                    (remaining as f64 / 1000.0).ceil()
                ));
            }
            // After the deadline the listing must succeed (with retries);
            // before it, a failing index is simply asked again.
            let listed = if remaining == 0 {
                Some(self.list(plan, repository)?)
            } else {
                std::thread::sleep(std::time::Duration::from_millis(remaining.min(2_000)));
                repository.list_files_once(&plan.package).ok()
            };
            if let Some(listed) = listed {
                let still_missing = self.settle_listed(plan, repository, record, &listed)?;
                let landed = !still_missing
                    .iter()
                    .any(|f| f.filename == interrupted.filename);
                // Landed: done. Past the deadline: it can no longer land.
                if landed || remaining == 0 {
                    *missing = still_missing;
                    break;
                }
            }
        }
        record.repository_mut(&plan.repository).clear_in_flight();
        release_dir.save(record)?;
        Ok(())
    }

    /// The tag must still point where it pointed when the release was
    /// planned: a moved or deleted tag gets no (further) upload.
    fn ensure_tag_unmoved(&self, plan: &Plan) -> Result<(), ReleaseError> {
        let found = self
            .repo
            .tag(&plan.tag)
            .map_err(|err| ReleaseError::Io {
                context: format!("cannot read {} again before uploading", plan.tag),
                source: std::io::Error::other(err),
            })?
            .map(|info| info.ref_target);
        if found.as_deref() == Some(plan.tag_target.as_str()) {
            return Ok(());
        }
        Err(ReleaseError::TagMoved {
            tag: plan.tag.clone(),
            expected: plan.tag_target.clone(),
            found,
        })
    }
}

/// How long one upload to `repository` may take (the local index: no wait).
fn upload_timeout(repository: &Repository) -> Result<std::time::Duration, ReleaseError> {
    if matches!(repository, Repository::Local { .. }) {
        return Ok(std::time::Duration::ZERO);
    }
    crate::http::upload_timeout().map_err(|err| ReleaseError::Io {
        context: "cannot read the upload timeout".to_string(),
        source: std::io::Error::other(err),
    })
}

fn mark_uploaded(record: &mut ReleaseRecord, repository: &str, filename: &str) {
    let state = record.repository_mut(repository);
    // Only this file's mark: another file's interrupted upload must still
    // be waited out.
    if state.in_flight.as_deref() == Some(filename) {
        state.clear_in_flight();
    }
    if !state.uploaded.iter().any(|f| f == filename) {
        state.uploaded.push(filename.to_string());
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

fn artifacts_intact(release_dir: &ReleaseDir, files: &[BuiltFile]) -> bool {
    !files.is_empty()
        && files.iter().all(|file| {
            crate::dist::hash::sha256_file(&release_dir.dist().join(&file.filename))
                .is_ok_and(|sha| sha == file.sha256)
        })
}
