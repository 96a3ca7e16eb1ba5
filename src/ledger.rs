//! Durable release state. The only module that writes it.
//!
//! One record per release attempt, keyed by package, version and the tag
//! object, so a moved tag never reuses another commit's artifacts. Every
//! state change is written atomically before the next step starts, which is
//! what makes `tagpub release` safe to run again after any failure.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::dirs::Dirs;
use crate::fsutil::write_atomic;
use crate::version::normalize_name;

const RECORD_FILE: &str = "record.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuiltFile {
    pub filename: String,
    pub sha256: String,
}

/// What happened on one repository.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepositoryState {
    /// Files the index has confirmed (uploaded by us or found identical).
    pub uploaded: Vec<String>,
    /// The file whose upload started but is not known to have finished.
    pub in_flight: Option<String>,
    /// Until when (Unix ms) that upload could still complete: its start plus
    /// the upload timeout. Until then the index may yet store the file, so
    /// it is not sent again before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_flight_until_ms: Option<u64>,
    /// Files a run of this release sent and the index took (a subset of
    /// `uploaded`), so a run that finishes what a crashed one started
    /// reports the release as published, not as found complete.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sent: Vec<String>,
    pub verified: bool,
}

/// An upload that started and whose end is not known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFlight {
    pub filename: String,
    /// Unix ms after which the upload can no longer complete.
    pub until_ms: u64,
}

impl RepositoryState {
    /// Notes that `filename`'s upload starts now and may take `timeout`.
    pub fn start_upload(&mut self, filename: &str, timeout: std::time::Duration) {
        self.in_flight = Some(filename.to_string());
        self.in_flight_until_ms = Some(now_ms().saturating_add(timeout.as_millis() as u64));
    }

    /// The upload a crash interrupted, if any. A record written before the
    /// deadline was kept counts as interrupted just now (`timeout` from now).
    pub fn interrupted(&self, timeout: std::time::Duration) -> Option<InFlight> {
        let filename = self.in_flight.clone()?;
        let until_ms = self
            .in_flight_until_ms
            .unwrap_or_else(|| now_ms().saturating_add(timeout.as_millis() as u64));
        Some(InFlight { filename, until_ms })
    }

    pub fn clear_in_flight(&mut self) {
        self.in_flight = None;
        self.in_flight_until_ms = None;
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRecord {
    pub tag: String,
    pub tag_target: String,
    pub commit: String,
    pub package: String,
    pub version: String,
    pub files: Vec<BuiltFile>,
    #[serde(default)]
    pub repositories: BTreeMap<String, RepositoryState>,
    /// What decided the files' bytes; the files are reused only while it is
    /// unchanged (`None`: recorded before tagpub kept it, never reused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_inputs: Option<BuildInputs>,
}

/// Everything that decides a build's bytes, readable, and its sha256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildInputs {
    /// sha256 of `inputs` (as JSON): one value to compare and to show.
    pub fingerprint: String,
    /// Input name (`build-command`, `SOURCE_DATE_EPOCH`…) → its value.
    pub inputs: BTreeMap<String, String>,
}

impl BuildInputs {
    pub fn new(inputs: BTreeMap<String, String>) -> BuildInputs {
        use sha2::Digest as _;
        let json = serde_json::to_vec(&inputs).unwrap_or_default();
        BuildInputs {
            fingerprint: hex::encode(sha2::Sha256::digest(&json)),
            inputs,
        }
    }

    /// The inputs whose value differs from `earlier`'s (added or removed too).
    pub fn changed_since(&self, earlier: &BuildInputs) -> Vec<String> {
        let names: std::collections::BTreeSet<&String> = self
            .inputs
            .keys()
            .chain(earlier.inputs.keys())
            .filter(|name| self.inputs.get(*name) != earlier.inputs.get(*name))
            .collect();
        names.into_iter().cloned().collect()
    }
}

impl RepositoryState {
    /// Whether any file of this release may already be on this index.
    pub fn touched(&self) -> bool {
        !self.uploaded.is_empty() || self.in_flight.is_some() || !self.sent.is_empty()
    }
}

impl ReleaseRecord {
    pub fn repository_mut(&mut self, name: &str) -> &mut RepositoryState {
        self.repositories.entry(name.to_string()).or_default()
    }
}

/// The directory that holds one release's artifacts, build log and record.
#[derive(Debug, Clone)]
pub struct ReleaseDir {
    pub path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error(
        "cannot write release state {path}: check that tagpub's data dir is writable (TAGPUB_DATA_DIR)"
    )]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "release state {path} is unreadable ({reason}); move it aside to start this release over"
    )]
    Corrupt { path: PathBuf, reason: String },
}

impl ReleaseDir {
    pub fn for_release(dirs: &Dirs, package: &str, version: &str, tag_target: &str) -> ReleaseDir {
        ReleaseDir {
            path: dirs
                .releases()
                .join(normalize_name(package))
                .join(version)
                .join(&tag_target[..tag_target.len().min(12)]),
        }
    }

    pub fn dist(&self) -> PathBuf {
        self.path.join("dist")
    }

    pub fn build_log(&self) -> PathBuf {
        self.path.join("build.log")
    }

    fn record_path(&self) -> PathBuf {
        self.path.join(RECORD_FILE)
    }

    pub fn load(&self) -> Result<Option<ReleaseRecord>, LedgerError> {
        let path = self.record_path();
        match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|err| LedgerError::Corrupt {
                        path,
                        reason: err.to_string(),
                    })
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(LedgerError::Corrupt {
                path,
                reason: err.to_string(),
            }),
        }
    }

    pub fn save(&self, record: &ReleaseRecord) -> Result<(), LedgerError> {
        let path = self.record_path();
        let bytes = serde_json::to_vec_pretty(record).expect("a record always serializes");
        write_atomic(&path, &bytes).map_err(|source| LedgerError::Write { path, source })
    }

    /// Creates the release's dir (and the data dir above it) 0700 before a
    /// build writes into it.
    pub fn create(&self) -> Result<(), LedgerError> {
        crate::fsutil::create_private_dir(&self.path).map_err(|source| LedgerError::Write {
            path: self.path.clone(),
            source,
        })
    }

    /// Makes what a build wrote here with its umask (dist/, the artifacts,
    /// build.log) private like the rest of tagpub's files.
    pub fn make_private(&self) -> Result<(), LedgerError> {
        crate::fsutil::make_tree_private(&self.path).map_err(|source| LedgerError::Write {
            path: self.path.clone(),
            source,
        })
    }

    pub fn exists(path: &Path) -> bool {
        path.join(RECORD_FILE).is_file()
    }

    /// The records of every release of `package` made here (unreadable ones
    /// left out: `release` reports those when it meets them).
    pub fn records_of(dirs: &Dirs, package: &str) -> Vec<ReleaseRecord> {
        let package_dir = dirs.releases().join(normalize_name(package));
        let subdirs = |dir: &Path| -> Vec<PathBuf> {
            std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .map(|entry| entry.path())
                .filter(|path| path.is_dir())
                .collect()
        };
        subdirs(&package_dir)
            .iter()
            .flat_map(|version_dir| subdirs(version_dir))
            .filter_map(|path| ReleaseDir { path }.load().ok().flatten())
            .collect()
    }
}

/// One release of a package version at a time, across every process that
/// releases (the CLI, a daemon, a second daemon, the pre-push gate's build):
/// an exclusive lock on a file beside the version's records, held while the
/// release builds, uploads and verifies. The lock goes with the process, so a
/// `kill -9` never leaves it held.
#[derive(Debug)]
pub struct ReleaseLock {
    _file: std::fs::File,
}

/// Who holds a release lock, as its holder wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHolder {
    pub pid: Option<u32>,
    pub tag: Option<String>,
}

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.pid {
            Some(pid) => write!(f, "another tagpub (pid {pid})"),
            None => write!(f, "another tagpub"),
        }
    }
}

const LOCK_FILE: &str = "release.lock";

impl ReleaseLock {
    /// Takes the lock of `package` `version`; when another process holds it,
    /// calls `waiting` once with who it is, then waits for it.
    pub fn acquire(
        dirs: &Dirs,
        package: &str,
        version: &str,
        tag: &str,
        waiting: impl FnOnce(&LockHolder),
    ) -> Result<ReleaseLock, LedgerError> {
        use std::fs::TryLockError;
        use std::io::{Seek, Write};

        let dir = dirs.releases().join(normalize_name(package)).join(version);
        let path = dir.join(LOCK_FILE);
        let write_error = |source| LedgerError::Write {
            path: path.clone(),
            source,
        };
        let mut file = crate::fsutil::open_private(&path).map_err(write_error)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                // The holder writes its pid just after it takes the lock:
                // a waiter that comes in between gives it a moment.
                let mut holder = read_holder(&path);
                for _ in 0..20 {
                    if holder.pid.is_some() {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(10));
                    holder = read_holder(&path);
                }
                waiting(&holder);
                file.lock().map_err(write_error)?;
            }
            Err(TryLockError::Error(source)) => return Err(write_error(source)),
        }
        // Who holds it, for the next one who has to wait. Not durable on
        // purpose: a stale holder line is harmless, the lock is what counts.
        file.set_len(0).map_err(write_error)?;
        file.rewind().map_err(write_error)?;
        writeln!(file, "{}\n{tag}", std::process::id()).map_err(write_error)?;
        Ok(ReleaseLock { _file: file })
    }
}

fn read_holder(path: &Path) -> LockHolder {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut lines = text.lines();
    LockHolder {
        pid: lines.next().and_then(|l| l.trim().parse().ok()),
        tag: lines.next().map(str::to_string).filter(|t| !t.is_empty()),
    }
}

/// The release records of a tag, for any package and version.
pub fn records_for_tag(dirs: &Dirs, tag: &str) -> Vec<ReleaseRecord> {
    // releases/<package>/<version>/<tag object>/record.json
    let releases = dirs.releases();
    let mut found = Vec::new();
    let level = |dir: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect()
    };
    for package in level(&releases) {
        for version in level(&package) {
            for release in level(&version) {
                let dir = ReleaseDir { path: release };
                if let Ok(Some(record)) = dir.load()
                    && record.tag == tag
                {
                    found.push(record);
                }
            }
        }
    }
    found
}

/// Where a daemon job stands. Written before each transition takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobState {
    /// Waiting out the grace period: deleting the tag now cancels it.
    Waiting,
    /// `trigger = "push"`: waiting until the remote has the tag.
    WaitingForPush,
    /// Building, checking, uploading or verifying (the release record tells which).
    Running,
    Verified,
    Failed,
    Cancelled,
    /// The tag moved to another commit after it was seen: never republished.
    Conflict,
}

impl JobState {
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobState::Verified | JobState::Failed | JobState::Cancelled | JobState::Conflict
        )
    }
}

/// One tag the daemon saw being created, and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    pub id: u64,
    pub git_dir: PathBuf,
    pub tag: String,
    /// The object the tag pointed at when the job was made.
    pub target: String,
    pub package: String,
    pub state: JobState,
    /// Why it failed, was cancelled or conflicts; the release summary when done.
    /// Masked of secrets wherever it is written or sent (record, socket).
    #[serde(serialize_with = "crate::secrets::mask::serialize_masked")]
    pub message: Option<String>,
    /// Unix seconds.
    pub created: u64,
    /// Unix milliseconds when the daemon saw the tag (for latency figures).
    #[serde(default)]
    pub seen_ms: u64,
    pub updated: u64,
    /// Set by a rescan that saw the tag move or vanish while the job was
    /// running. A running job belongs to its worker: the rescan only leaves
    /// this note, and the worker decides the final state from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag_changed: Option<TagChanged>,
}

/// What happened to a running job's tag, as a rescan saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "kebab-case")]
pub enum TagChanged {
    /// `git tag -f` (or delete and re-create): the ref now points at `to`.
    Moved {
        to: String,
    },
    Deleted,
}

fn jobs_dir(dirs: &Dirs) -> PathBuf {
    dirs.data.join("jobs")
}

/// The file that holds a job's build and upload output (`tagpub log`).
pub fn job_log_path(dirs: &Dirs, id: u64) -> PathBuf {
    jobs_dir(dirs).join(format!("{id}.log"))
}

pub fn save_job(dirs: &Dirs, job: &JobRecord) -> Result<(), LedgerError> {
    let path = jobs_dir(dirs).join(format!("{}.json", job.id));
    let bytes = serde_json::to_vec_pretty(job).expect("jobs always serialize");
    write_atomic(&path, &bytes).map_err(|source| LedgerError::Write { path, source })
}

/// Every job on disk, oldest first. Unreadable records are skipped with a
/// warning rather than stopping the daemon.
pub fn load_jobs(dirs: &Dirs) -> Vec<JobRecord> {
    let mut jobs: Vec<JobRecord> = std::fs::read_dir(jobs_dir(dirs))
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .filter_map(|path| match std::fs::read(&path).map(|b| serde_json::from_slice(&b)) {
            Ok(Ok(job)) => Some(job),
            Ok(Err(err)) => {
                tracing::warn!(path = %path.display(), %err, "skipping an unreadable job record");
                None
            }
            Err(err) => {
                tracing::warn!(path = %path.display(), %err, "skipping an unreadable job record");
                None
            }
        })
        .collect();
    jobs.sort_by_key(|job| job.id);
    jobs
}

/// A tag pushed while `trigger = "push"`: the daemon publishes it once the
/// remote has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushedTag {
    pub git_dir: PathBuf,
    pub remote: String,
    pub tag: String,
    /// The tag object (or commit) that was pushed.
    pub target: String,
}

fn pushes_path(dirs: &Dirs) -> PathBuf {
    dirs.data.join("pushed-tags.json")
}

/// Adds pushed tags to the durable list (a tag pushed again replaces its entry).
pub fn record_pushes(dirs: &Dirs, pushes: &[PushedTag]) -> Result<(), LedgerError> {
    let path = pushes_path(dirs);
    let mut all = pushed_tags(dirs)?;
    for push in pushes {
        all.retain(|p| !(p.git_dir == push.git_dir && p.tag == push.tag));
        all.push(push.clone());
    }
    let bytes = serde_json::to_vec_pretty(&all).expect("pushes always serialize");
    write_atomic(&path, &bytes).map_err(|source| LedgerError::Write { path, source })
}

/// The tags recorded by the pre-push hook, oldest first.
pub fn pushed_tags(dirs: &Dirs) -> Result<Vec<PushedTag>, LedgerError> {
    let path = pushes_path(dirs);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|err| LedgerError::Corrupt {
            path,
            reason: err.to_string(),
        }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(err) => Err(LedgerError::Corrupt {
            path,
            reason: err.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips() {
        let root = tempfile::tempdir().unwrap();
        let dirs = Dirs::under(root.path());
        let dir = ReleaseDir::for_release(&dirs, "Open_Ticket_AI", "1.0.0", "0123456789abcdef");
        assert!(
            dir.path
                .ends_with("releases/open-ticket-ai/1.0.0/0123456789ab")
        );
        assert_eq!(dir.load().unwrap(), None);
        let mut record = ReleaseRecord {
            tag: "v1.0.0".into(),
            tag_target: "0123456789abcdef".into(),
            commit: "fedcba".into(),
            package: "open-ticket-ai".into(),
            version: "1.0.0".into(),
            files: vec![BuiltFile {
                filename: "open_ticket_ai-1.0.0.tar.gz".into(),
                sha256: "ab".into(),
            }],
            repositories: BTreeMap::new(),
            build_inputs: Some(BuildInputs::new(BTreeMap::from([(
                "tag object".to_string(),
                "0123456789abcdef".to_string(),
            )]))),
        };
        record
            .repository_mut("local")
            .uploaded
            .push("open_ticket_ai-1.0.0.tar.gz".into());
        dir.save(&record).unwrap();
        assert_eq!(dir.load().unwrap(), Some(record.clone()));
        assert_eq!(records_for_tag(&dirs, "v1.0.0"), vec![record]);
        assert!(records_for_tag(&dirs, "v2.0.0").is_empty());
        std::fs::write(dir.path.join(RECORD_FILE), b"{").unwrap();
        assert!(matches!(dir.load(), Err(LedgerError::Corrupt { .. })));
    }

    #[test]
    fn jobs_round_trip_in_id_order() {
        let root = tempfile::tempdir().unwrap();
        let dirs = Dirs::under(root.path());
        assert!(load_jobs(&dirs).is_empty());
        let job = |id: u64, state: JobState| JobRecord {
            id,
            git_dir: PathBuf::from("/r/.git"),
            tag: format!("v{id}"),
            target: "abc".into(),
            package: "p".into(),
            state,
            message: None,
            created: id,
            seen_ms: id * 1000,
            updated: id,
            tag_changed: (id == 10).then(|| TagChanged::Moved { to: "def".into() }),
        };
        save_job(&dirs, &job(10, JobState::Verified)).unwrap();
        save_job(&dirs, &job(2, JobState::Waiting)).unwrap();
        save_job(&dirs, &job(2, JobState::Cancelled)).unwrap();
        std::fs::write(jobs_dir(&dirs).join("3.json"), b"{").unwrap();
        let loaded = load_jobs(&dirs);
        assert_eq!(
            loaded,
            vec![job(2, JobState::Cancelled), job(10, JobState::Verified)]
        );
        assert!(JobState::Conflict.is_finished() && !JobState::Waiting.is_finished());
    }

    #[test]
    fn pushed_tags_accumulate_and_replace() {
        let root = tempfile::tempdir().unwrap();
        let dirs = Dirs::under(root.path());
        assert!(pushed_tags(&dirs).unwrap().is_empty());
        let push = |tag: &str, target: &str| PushedTag {
            git_dir: PathBuf::from("/r/.git"),
            remote: "origin".into(),
            tag: tag.into(),
            target: target.into(),
        };
        record_pushes(&dirs, &[push("v1", "a"), push("v2", "b")]).unwrap();
        record_pushes(&dirs, &[push("v1", "c")]).unwrap();
        assert_eq!(
            pushed_tags(&dirs).unwrap(),
            vec![push("v2", "b"), push("v1", "c")]
        );
    }
}
