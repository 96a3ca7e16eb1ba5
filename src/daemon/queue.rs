//! Jobs: what the daemon does about each tag change a rescan finds, and the
//! workers that run releases. One job at a time per package, different
//! packages in parallel up to a bound.
//!
//! Every job transition is written to the ledger before it takes effect, and
//! the release itself is `pipeline::release`, whose own record makes a rerun
//! upload only what the index lacks: a daemon that dies anywhere resumes the
//! job on restart and never sends a file the index already has.
//!
//! Ownership: a `Running` job belongs to the worker that claimed it, and
//! only that worker's [`Claim`] can write its final state ([`Queue::finish`]).
//! Every other writer goes through [`Queue::update`], which refuses to touch
//! a running job; a rescan that sees a running job's tag move or vanish
//! leaves a note on the job (`tag_changed`) that the worker turns into the
//! outcome. All of it happens under the one jobs mutex, so a check and the
//! write it guards cannot be separated by another writer.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::{Config, Trigger};
use crate::daemon::registry::TagChange;
use crate::dirs::Dirs;
use crate::git::Repo;
use crate::ledger::{self, JobRecord, JobState, TagChanged};
use crate::pipeline::resolve::{ResolveError, match_tag, short};

use super::job::{Outcome, run_notifier, run_release, settle, task_failure};
/// How many releases run at once, across packages.
pub const DEFAULT_WORKERS: usize = 2;

/// How long a worker waits before trying again to record that its job
/// started, when the record could not be written (a full disk, a jobs dir
/// it cannot write).
const CLAIM_RETRY: Duration = Duration::from_secs(10);

pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Held while a package's release runs.
type PackageLock = Arc<tokio::sync::Mutex<()>>;

/// The jobs of a daemon and what runs them.
pub struct Queue {
    dirs: Dirs,
    jobs: Mutex<Jobs>,
    workers: Arc<tokio::sync::Semaphore>,
    /// One lock per (repository, package): a package's releases never overlap.
    package_locks: Mutex<HashMap<(PathBuf, String), PackageLock>>,
    /// Job records that could not be written, by (repository, tag), for
    /// `status` and `doctor`; an entry goes once a later write succeeds.
    write_problems: Mutex<BTreeMap<(PathBuf, String), String>>,
}

#[derive(Default)]
struct Jobs {
    records: Vec<JobRecord>,
    /// Running jobs claimed by a worker of this daemon: job id → claim number.
    owners: HashMap<u64, u64>,
    claims: u64,
}

/// A worker's hold on the job it runs: the only way to write that job's
/// final state. Not `Clone`: one worker, one claim.
#[derive(Debug)]
pub struct Claim {
    id: u64,
    number: u64,
}

/// What [`Queue::claim`] found.
enum Claimed {
    Job(Claim, JobRecord),
    /// Cancelled, conflicted, already claimed or gone: nothing to run.
    NotWanted,
    /// The `running` record could not be written; the job stays waiting.
    WriteFailed,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Job records stay consistent even if a holder panicked: every change
    // is computed on a copy and swapped in after it is written.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Queue {
    pub fn new(dirs: Dirs, workers: usize) -> Arc<Queue> {
        let records = ledger::load_jobs(&dirs);
        Arc::new(Queue {
            dirs,
            jobs: Mutex::new(Jobs {
                records,
                ..Jobs::default()
            }),
            workers: Arc::new(tokio::sync::Semaphore::new(workers.max(1))),
            package_locks: Mutex::new(HashMap::new()),
            write_problems: Mutex::new(BTreeMap::new()),
        })
    }

    pub fn jobs(&self) -> Vec<JobRecord> {
        lock(&self.jobs).records.clone()
    }

    /// Why job records of this repository could not be written, if any did
    /// not: one line each, for `status` and `doctor`.
    pub fn write_problems(&self, git_dir: &Path) -> Vec<String> {
        lock(&self.write_problems)
            .iter()
            .filter(|((dir, _), _)| dir == git_dir)
            .map(|(_, problem)| problem.clone())
            .collect()
    }

    /// Writes `next` (a changed copy of the job at `index`), then makes it
    /// the job's state in memory. The one place a job record is written.
    fn commit(
        &self,
        mut jobs: MutexGuard<'_, Jobs>,
        index: usize,
        mut next: JobRecord,
    ) -> Result<JobRecord, String> {
        next.updated = now_unix();
        let key = (next.git_dir.clone(), next.tag.clone());
        if let Err(err) = ledger::save_job(&self.dirs, &next) {
            let problem = crate::exit::chain_text_in(
                &format!(
                    "cannot record job {} ({}, now {:?})",
                    next.id, next.tag, next.state
                ),
                &err,
            );
            tracing::error!(job = next.id, "{problem}");
            lock(&self.write_problems).insert(key, problem.clone());
            return Err(problem);
        }
        lock(&self.write_problems).remove(&key);
        let before = std::mem::replace(&mut jobs.records[index], next.clone());
        drop(jobs);
        if !before.state.is_finished() && next.state.is_finished() {
            self.tell(&next);
        }
        Ok(next)
    }

    /// Changes a job that is in one of the states `from` and not running.
    /// A running job's state is its worker's to write ([`Queue::finish`]):
    /// this refuses it whatever `from` says.
    fn update(
        &self,
        id: u64,
        from: &[JobState],
        change: impl FnOnce(&mut JobRecord),
    ) -> Result<JobRecord, String> {
        let jobs = lock(&self.jobs);
        let index = jobs
            .records
            .iter()
            .position(|j| j.id == id)
            .ok_or_else(|| format!("no job {id}"))?;
        let job = &jobs.records[index];
        if job.state == JobState::Running || !from.contains(&job.state) {
            return Err(format!("job {id} is {:?}", job.state));
        }
        let mut next = job.clone();
        change(&mut next);
        self.commit(jobs, index, next)
    }

    /// Records a new job; `None` when it could not be written (the problem
    /// is kept for `status`, and the caller must not treat the tag as seen).
    fn insert(&self, mut job: JobRecord) -> Option<JobRecord> {
        let mut jobs = lock(&self.jobs);
        job.id = jobs.records.iter().map(|j| j.id).max().unwrap_or(0) + 1;
        job.updated = now_unix();
        let key = (job.git_dir.clone(), job.tag.clone());
        if let Err(err) = ledger::save_job(&self.dirs, &job) {
            let problem = crate::exit::chain_text_in(
                &format!(
                    "cannot record a job for tag {}: the tag is not released yet; the daemon tries again at its next rescan",
                    job.tag
                ),
                &err,
            );
            tracing::error!(tag = %job.tag, "{problem}");
            lock(&self.write_problems).insert(key, problem);
            return None;
        }
        lock(&self.write_problems).remove(&key);
        jobs.records.push(job.clone());
        drop(jobs);
        if job.state.is_finished() {
            self.tell(&job);
        }
        Some(job)
    }

    fn job_for(&self, git_dir: &Path, tag: &str) -> Option<JobRecord> {
        lock(&self.jobs)
            .records
            .iter()
            .rev()
            .find(|j| j.git_dir == git_dir && j.tag == tag)
            .cloned()
    }

    /// What a rescan does about a tag that moved or vanished under an
    /// unfinished job, in one step under the jobs mutex: a job not started
    /// yet ends now (`conflict` or `cancelled`); a running job gets a note
    /// for its worker. `Ok(false)` when the job had finished already.
    fn tag_changed(&self, id: u64, change: TagChanged, message: String) -> Result<bool, String> {
        let jobs = lock(&self.jobs);
        let Some(index) = jobs.records.iter().position(|j| j.id == id) else {
            return Ok(false);
        };
        let mut next = jobs.records[index].clone();
        match next.state {
            JobState::Waiting | JobState::WaitingForPush => {
                next.state = match change {
                    TagChanged::Moved { .. } => JobState::Conflict,
                    TagChanged::Deleted => JobState::Cancelled,
                };
                next.message = Some(message);
            }
            JobState::Running => {
                if next.tag_changed.as_ref() == Some(&change) {
                    return Ok(true);
                }
                next.tag_changed = Some(change);
            }
            _ => return Ok(false),
        }
        self.commit(jobs, index, next).map(|_| true)
    }

    /// Takes a job for a worker: `waiting` becomes `running`, or a job left
    /// `running` by a previous daemon is resumed. Refused when another
    /// worker of this daemon holds it or it no longer wants running.
    fn claim(&self, id: u64) -> Claimed {
        let mut jobs = lock(&self.jobs);
        let Some(index) = jobs.records.iter().position(|j| j.id == id) else {
            return Claimed::NotWanted;
        };
        let job = &jobs.records[index];
        let resumable = job.state == JobState::Running && !jobs.owners.contains_key(&id);
        if job.state != JobState::Waiting && !resumable {
            return Claimed::NotWanted;
        }
        let mut next = job.clone();
        next.state = JobState::Running;
        next.message = None;
        jobs.claims += 1;
        let number = jobs.claims;
        jobs.owners.insert(id, number);
        match self.commit(jobs, index, next) {
            Ok(job) => Claimed::Job(Claim { id, number }, job),
            Err(_) => {
                lock(&self.jobs).owners.remove(&id);
                Claimed::WriteFailed
            }
        }
    }

    /// The worker's last word on its job. The outcome is the release's,
    /// unless a rescan noted that the tag moved or vanished meanwhile: then
    /// the job never ends `verified`. Returns the recorded job, or why it
    /// could not be recorded (the job then stays `running` and resumes,
    /// as `already complete` if it was, when the daemon restarts).
    pub fn finish(&self, claim: Claim, outcome: Outcome) -> Result<JobRecord, String> {
        let mut jobs = lock(&self.jobs);
        if jobs.owners.get(&claim.id) != Some(&claim.number) {
            return Err(format!("job {} is not this worker's", claim.id));
        }
        jobs.owners.remove(&claim.id);
        let index = jobs
            .records
            .iter()
            .position(|j| j.id == claim.id)
            .ok_or_else(|| format!("no job {}", claim.id))?;
        let mut next = jobs.records[index].clone();
        let (state, message) = settle(&next, outcome);
        next.state = state;
        next.message = Some(message);
        self.commit(jobs, index, next)
    }

    /// Turns the changes of one rescan into jobs. Returns the new jobs to
    /// start (after their grace period) and the changes that are durably
    /// dealt with: only those may be recorded as known, so a change whose
    /// job record could not be written is found again by the next rescan.
    /// `config_for` gives the config a tag's release uses
    /// (`Config::for_tag`), so the package a job is made for is the one its
    /// release resolves.
    pub fn on_changes(
        &self,
        git_dir: &Path,
        config_for: &dyn Fn(&str) -> Result<Config, String>,
        changes: &[TagChange],
    ) -> (Vec<JobRecord>, Vec<TagChange>) {
        let mut started = Vec::new();
        let mut handled = Vec::new();
        for change in changes {
            let done = match change {
                TagChange::Created { tag, target } => match config_for(tag) {
                    Ok(config) => self.on_created(git_dir, &config, tag, target, &mut started),
                    // The tag's own config is broken: a failed job says so.
                    Err(message) => self
                        .insert(new_job(
                            git_dir,
                            tag,
                            target,
                            "",
                            JobState::Failed,
                            Some(message),
                        ))
                        .is_some(),
                },
                TagChange::Deleted { tag, .. } => match self.job_for(git_dir, tag) {
                    Some(job) => {
                        tracing::info!(job = job.id, %tag, "tag deleted");
                        let message = "the tag was deleted during the grace period".to_string();
                        self.tag_changed(job.id, TagChanged::Deleted, message)
                            .is_ok()
                    }
                    None => true,
                },
                TagChange::Moved { tag, from, to } => match self.job_for(git_dir, tag) {
                    None => true,
                    Some(job) => {
                        let message = format!(
                            "tag {tag} moved from {} to {} after it was seen: a tag that was released (or about to be) is never republished. Create a new tag for a new version",
                            short(from),
                            short(to)
                        );
                        tracing::warn!(job = job.id, %tag, "tag moved: conflict");
                        if job.state.is_finished() {
                            // Keep the finished job's record as it was; the
                            // conflict is a record of its own.
                            self.insert(new_job(
                                git_dir,
                                tag,
                                to,
                                &job.package,
                                JobState::Conflict,
                                Some(message),
                            ))
                            .is_some()
                        } else {
                            let change = TagChanged::Moved { to: to.clone() };
                            self.tag_changed(job.id, change, message).is_ok()
                        }
                    }
                },
            };
            if done {
                handled.push(change.clone());
            }
        }
        (started, handled)
    }

    /// A new tag: a job, unless it matches no package. `false` when its job
    /// could not be recorded.
    fn on_created(
        &self,
        git_dir: &Path,
        config: &Config,
        tag: &str,
        target: &str,
        started: &mut Vec<JobRecord>,
    ) -> bool {
        // A crash between recording a job and recording the tag as known
        // finds the tag again: it already has its job.
        if self
            .job_for(git_dir, tag)
            .is_some_and(|j| j.target == target && j.state != JobState::Cancelled)
        {
            return true;
        }
        let package = match match_tag(config, tag) {
            Ok((target, _)) => target.name().to_string(),
            Err(ResolveError::NoPackage { .. }) => {
                tracing::debug!(%tag, "tag matches no package; ignored");
                return true;
            }
            Err(err) => {
                // It looks like a release tag but cannot be one: a failed
                // job tells the user why.
                let job = new_job(
                    git_dir,
                    tag,
                    target,
                    "",
                    JobState::Failed,
                    Some(crate::exit::chain_text(&err)),
                );
                return self.insert(job).is_some();
            }
        };
        if config.defaults.trigger == Trigger::Push {
            let message =
                Some("waiting until the remote has the tag (trigger = \"push\")".to_string());
            let job = new_job(
                git_dir,
                tag,
                target,
                &package,
                JobState::WaitingForPush,
                message,
            );
            let Some(job) = self.insert(job) else {
                return false;
            };
            tracing::info!(job = job.id, %tag, "new release tag; waiting for its push");
            return true;
        }
        let message = Some(format!(
            "waiting {:?} (grace period)",
            config.defaults.grace
        ));
        let job = new_job(git_dir, tag, target, &package, JobState::Waiting, message);
        let Some(job) = self.insert(job) else {
            return false;
        };
        tracing::info!(job = job.id, %tag, "new release tag");
        started.push(job);
        true
    }

    /// Whether any job of this repository waits for its tag to be pushed.
    pub fn waits_for_push(&self, git_dir: &Path) -> bool {
        self.jobs()
            .iter()
            .any(|j| j.git_dir == git_dir && j.state == JobState::WaitingForPush)
    }

    /// For `trigger = "push"`: the jobs whose tag the remote now has (as
    /// `git ls-remote` says, at the same object) move on to their grace
    /// period; they are returned to be started. The remote is the one the
    /// pre-push hook recorded for the tag, else `origin`.
    pub fn check_pushes(&self, git_dir: &Path, repo: &Repo) -> Vec<JobRecord> {
        let pushed = ledger::pushed_tags(&self.dirs).unwrap_or_default();
        let waiting: Vec<JobRecord> = self
            .jobs()
            .into_iter()
            .filter(|j| j.git_dir == git_dir && j.state == JobState::WaitingForPush)
            .collect();
        let mut ready = Vec::new();
        for job in waiting {
            let remote = pushed
                .iter()
                .rev()
                .find(|p| {
                    p.tag == job.tag && p.git_dir.canonicalize().ok().as_deref() == Some(git_dir)
                })
                .map_or("origin".to_string(), |p| p.remote.clone());
            let from = [JobState::WaitingForPush];
            match repo.remote_tag(&remote, &job.tag) {
                Ok(Some(id)) if id == job.target => {
                    if let Ok(job) = self.update(job.id, &from, |j| {
                        j.state = JobState::Waiting;
                        j.message = Some(format!("{remote} has the tag"));
                    }) {
                        ready.push(job);
                    }
                }
                Ok(Some(id)) => {
                    let _ = self.update(job.id, &from, |j| {
                        j.state = JobState::Conflict;
                        j.message = Some(format!(
                            "{remote} has tag {} at {}, not at {} as here: never published. Make both agree, then create a new tag",
                            j.tag,
                            short(&id),
                            short(&j.target)
                        ));
                    });
                }
                Ok(None) => {}
                Err(err) => {
                    let err = crate::exit::chain_text(&err);
                    tracing::debug!(%err, tag = %job.tag, %remote, "cannot ask the remote");
                }
            }
        }
        ready
    }

    /// Jobs a previous daemon left unfinished: they resume now.
    pub fn unfinished(&self) -> Vec<JobRecord> {
        self.jobs()
            .into_iter()
            .filter(|j| matches!(j.state, JobState::Waiting | JobState::Running))
            .collect()
    }

    /// Runs a job: waits out the grace period, then claims it and releases,
    /// unless it was cancelled or conflicted meanwhile.
    pub fn spawn(self: &Arc<Self>, job: JobRecord, workdir: PathBuf, grace: Duration) {
        let queue = self.clone();
        tokio::spawn(async move {
            if job.state == JobState::Waiting {
                tokio::time::sleep(grace).await;
            }
            let lock = queue.package_lock(&job.git_dir, &job.package);
            let _package = lock.lock().await;
            let Ok(_worker) = queue.workers.clone().acquire_owned().await else {
                return;
            };
            let (claim, job) = loop {
                match queue.claim(job.id) {
                    Claimed::Job(claim, job) => break (claim, job),
                    Claimed::NotWanted => return,
                    Claimed::WriteFailed => tokio::time::sleep(CLAIM_RETRY).await,
                }
            };
            crate::fault::point("job-running");
            let outcome = if job.tag_changed.is_some() {
                // Noted before a restart: the release does not resume.
                Err((JobState::Conflict, String::new()))
            } else {
                let dirs = queue.dirs.clone();
                let id = job.id;
                tokio::task::spawn_blocking(move || run_release(&dirs, &job, &workdir))
                    .await
                    .unwrap_or_else(|err| Err((JobState::Failed, task_failure(id, err))))
            };
            if let Err(err) = queue.finish(claim, outcome) {
                tracing::error!(%err, "the job's outcome is not recorded");
            }
        });
    }

    fn package_lock(&self, git_dir: &Path, package: &str) -> PackageLock {
        lock(&self.package_locks)
            .entry((git_dir.to_path_buf(), package.to_string()))
            .or_default()
            .clone()
    }

    /// Whether a job id exists (for `retry`/`cancel`).
    pub fn get(&self, id: u64) -> Option<JobRecord> {
        self.jobs().into_iter().find(|j| j.id == id)
    }

    /// Cancels a job that has not started releasing.
    pub fn cancel(&self, id: u64) -> Result<JobRecord, String> {
        let job = self.get(id).ok_or_else(|| format!("no job {id}"))?;
        self.update(id, &[JobState::Waiting], |j| {
            j.state = JobState::Cancelled;
            j.message = Some("cancelled with `tagpub cancel`".into());
        })
        .map_err(|_| {
            format!(
                "job {id} is {:?}: only a job still in its grace period can be cancelled",
                job.state
            )
        })
    }

    /// Puts a failed job back in the queue (as `waiting`, with no grace
    /// period left: the caller spawns it); the release resumes where it
    /// stopped. The caller checks first that it can run the job at all.
    pub fn retry(&self, id: u64) -> Result<JobRecord, String> {
        let job = self.get(id).ok_or_else(|| format!("no job {id}"))?;
        let refused = || {
            format!(
                "job {id} is {:?}: only a failed release can be retried",
                job.state
            )
        };
        if job.package.is_empty() {
            return Err(refused());
        }
        self.update(id, &[JobState::Failed], |j| {
            j.state = JobState::Waiting;
            j.message = Some("retrying".into());
        })
        .map_err(|err| {
            if err.starts_with("cannot record") {
                err
            } else {
                refused()
            }
        })
    }
}

impl Queue {
    /// One line in the daemon's log for every finished job, a desktop
    /// notification (unless `[notify] desktop = false`), and the
    /// repository's `[notify] command` run with the outcome as JSON on stdin.
    fn tell(&self, job: &JobRecord) {
        tracing::info!(job = job.id, tag = %job.tag, state = ?job.state, message = job.message.as_deref().unwrap_or(""), "job finished");
        let Some(workdir) = crate::daemon::registry::Registry::load(&self.dirs)
            .ok()
            .and_then(|r| r.get(&job.git_dir).map(|w| w.workdir.clone()))
        else {
            return;
        };
        let notify = Config::discover(&workdir)
            .map(|c| c.notify)
            .unwrap_or_default();
        if notify.desktop != Some(false) {
            crate::daemon::desktop::notify(job);
        }
        let Some(command) = notify.command else {
            return;
        };
        let outcome = serde_json::to_vec(job).expect("jobs always serialize");
        // The notifier is the user's program, but it gets no credentials.
        std::thread::spawn(move || {
            if let Err(err) = run_notifier(&command, &outcome) {
                tracing::warn!(%err, "the notify command failed");
            }
        });
    }
}

fn new_job(
    git_dir: &Path,
    tag: &str,
    target: &str,
    package: &str,
    state: JobState,
    message: Option<String>,
) -> JobRecord {
    let now = now_unix();
    JobRecord {
        id: 0,
        git_dir: git_dir.to_path_buf(),
        tag: tag.to_string(),
        target: target.to_string(),
        package: package.to_string(),
        state,
        message,
        created: now,
        seen_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        updated: now,
        tag_changed: None,
    }
}
