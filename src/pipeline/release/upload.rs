//! What the index lacks of a release and sending it: the listing settled
//! against the record, the 14-day window and provenance checked before the
//! first byte, wheels first, an interrupted upload waited out, the tag
//! checked unmoved.

use secrecy::SecretString;

use crate::config::RepositoryTarget;
use crate::credentials;
use crate::dist::Artifact;
use crate::fault;
use crate::ledger::{BuiltFile, ReleaseDir, ReleaseRecord};
use crate::pipeline::attest::{self};
use crate::pipeline::check::{self};
use crate::pipeline::index_state::{self, FileWindow};
use crate::pipeline::resolve::Plan;
use crate::repository::{FileStatus, Repository, UploadOutcome, UploadRequest};
use crate::version::normalize_name;

use super::{
    ClosedWindow, IncompleteUpload, LostProvenance, Member, MemberAttestations, Release,
    ReleaseError, ReleaseOptions, filenames,
};

impl Release<'_> {
    /// Uploads what the index does not have yet. Everything that could stop
    /// the release (a conflict, an unreachable index) is found before the
    /// first byte is sent; the tag is read again before each file, so a tag
    /// moved or deleted meanwhile stops the release.
    pub(super) fn upload_missing(
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
    pub(super) fn missing_files(
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
    pub(super) fn attestations(
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

    pub(super) fn list(
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
    pub(super) fn settle_listed(
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
    pub(super) fn check_file_window(
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
    pub(super) fn check_provenance(
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
    pub(super) fn wait_out_interrupted(
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
    pub(super) fn ensure_tag_unmoved(&self, plan: &Plan) -> Result<(), ReleaseError> {
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

/// Member indices in upload order: a member after every member its
/// `Requires-Dist` names, config order otherwise. A cycle (legal for pip)
/// is broken in config order.
pub(super) fn upload_order(members: &[Member<'_>], records: &[ReleaseRecord]) -> Vec<usize> {
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
pub(super) fn required_names(release_dir: &ReleaseDir, record: &ReleaseRecord) -> Vec<String> {
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

pub(super) fn list_or_none(files: &[String]) -> String {
    if files.is_empty() {
        "none".to_string()
    } else {
        files.join(", ")
    }
}

/// How long one upload to `repository` may take (the local index: no wait).
pub(super) fn upload_timeout(repository: &Repository) -> Result<std::time::Duration, ReleaseError> {
    if matches!(repository, Repository::Local { .. }) {
        return Ok(std::time::Duration::ZERO);
    }
    crate::http::upload_timeout().map_err(|err| ReleaseError::Io {
        context: "cannot read the upload timeout".to_string(),
        source: std::io::Error::other(err),
    })
}

pub(super) fn mark_uploaded(record: &mut ReleaseRecord, repository: &str, filename: &str) {
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
