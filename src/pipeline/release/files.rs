//! The files of each member: reused when this tag was already built from
//! the same inputs and they are intact on disk, else built and checked.

use std::path::PathBuf;

use crate::fault;
use crate::ledger::{BuiltFile, ReleaseDir, ReleaseRecord};
use crate::pipeline::build::{self, BuildSettings};
use crate::pipeline::check::{self, CheckReport, Expected};
use crate::pipeline::resolve::{Plan, TagPlan};

use super::{BUILD_WORKERS, Member, Release, ReleaseError, ReleaseOptions};

impl Release<'_> {
    /// Every member built (or reused) and checked, `BUILD_WORKERS` at a
    /// time; records in member order. Any failure fails the release.
    pub(super) fn build_members(
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

    /// The release's built files: reused when this exact tag was built
    /// before and the files are intact, else built and checked now.
    pub(super) fn built_record(
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

    pub(super) fn build(
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
}

pub(super) fn artifacts_intact(release_dir: &ReleaseDir, files: &[BuiltFile]) -> bool {
    !files.is_empty()
        && files.iter().all(|file| {
            crate::dist::hash::sha256_file(&release_dir.dist().join(&file.filename))
                .is_ok_and(|sha| sha == file.sha256)
        })
}
