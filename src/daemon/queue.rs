//! Jobs: what the daemon does about each tag change a rescan finds, and the
//! workers that run releases. One job at a time per package, different
//! packages in parallel up to a bound.
//!
//! Every job transition is written to the ledger before it takes effect, and
//! the release itself is `pipeline::release`, whose own record makes a rerun
//! upload only what the index lacks: a daemon that dies anywhere resumes the
//! job on restart and never sends a file the index already has.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::{Config, Trigger};
use crate::daemon::registry::TagChange;
use crate::dirs::Dirs;
use crate::git::Repo;
use crate::ledger::{self, JobRecord, JobState};
use crate::pipeline::Reporter;
use crate::pipeline::release::{Release, ReleaseOptions};
use crate::pipeline::resolve::{ResolveError, match_tag, resolve, short};

/// How many releases run at once, across packages.
pub const DEFAULT_WORKERS: usize = 2;

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
    jobs: Mutex<Vec<JobRecord>>,
    workers: Arc<tokio::sync::Semaphore>,
    /// One lock per (repository, package): a package's releases never overlap.
    package_locks: Mutex<HashMap<(PathBuf, String), PackageLock>>,
}

impl Queue {
    pub fn new(dirs: Dirs, workers: usize) -> Arc<Queue> {
        let jobs = ledger::load_jobs(&dirs);
        Arc::new(Queue {
            dirs,
            jobs: Mutex::new(jobs),
            workers: Arc::new(tokio::sync::Semaphore::new(workers.max(1))),
            package_locks: Mutex::new(HashMap::new()),
        })
    }

    pub fn jobs(&self) -> Vec<JobRecord> {
        self.jobs.lock().expect("not poisoned").clone()
    }

    /// Records a transition durably, then in memory.
    fn update(&self, id: u64, change: impl FnOnce(&mut JobRecord)) -> Option<JobRecord> {
        let mut jobs = self.jobs.lock().expect("not poisoned");
        let job = jobs.iter_mut().find(|j| j.id == id)?;
        let mut next = job.clone();
        change(&mut next);
        next.updated = now_unix();
        if let Err(err) = ledger::save_job(&self.dirs, &next) {
            tracing::error!(%err, job = id, "cannot record the job's state; leaving it unchanged");
            return None;
        }
        let finished_now = !job.state.is_finished() && next.state.is_finished();
        *job = next.clone();
        drop(jobs);
        if finished_now {
            self.tell(&next);
        }
        Some(next)
    }

    fn insert(&self, mut job: JobRecord) -> Option<JobRecord> {
        let mut jobs = self.jobs.lock().expect("not poisoned");
        job.id = jobs.iter().map(|j| j.id).max().unwrap_or(0) + 1;
        if let Err(err) = ledger::save_job(&self.dirs, &job) {
            tracing::error!(%err, tag = %job.tag, "cannot record a new job; the tag is not released");
            return None;
        }
        jobs.push(job.clone());
        drop(jobs);
        if job.state.is_finished() {
            self.tell(&job);
        }
        Some(job)
    }

    fn job_for(&self, git_dir: &Path, tag: &str) -> Option<JobRecord> {
        self.jobs
            .lock()
            .expect("not poisoned")
            .iter()
            .rev()
            .find(|j| j.git_dir == git_dir && j.tag == tag)
            .cloned()
    }

    /// Turns the changes of one rescan into jobs. Returns the new jobs to
    /// start (after their grace period).
    pub fn on_changes(
        &self,
        git_dir: &Path,
        config: &Config,
        changes: &[TagChange],
    ) -> Vec<JobRecord> {
        let mut started = Vec::new();
        for change in changes {
            match change {
                TagChange::Created { tag, target } => {
                    // A crash between recording a job and recording the tag
                    // as known finds the tag again: it already has its job.
                    if self
                        .job_for(git_dir, tag)
                        .is_some_and(|j| &j.target == target && j.state != JobState::Cancelled)
                    {
                        continue;
                    }
                    let package = match match_tag(config, tag) {
                        Ok((package, _)) => package.name.clone(),
                        Err(ResolveError::NoPackage { .. }) => {
                            tracing::debug!(%tag, "tag matches no package; ignored");
                            continue;
                        }
                        Err(err) => {
                            // It looks like a release tag but cannot be one:
                            // a failed job tells the user why.
                            self.insert(new_job(
                                git_dir,
                                tag,
                                target,
                                "",
                                JobState::Failed,
                                Some(err.to_string()),
                            ));
                            continue;
                        }
                    };
                    if config.defaults.trigger == Trigger::Push {
                        let message = Some(
                            "waiting until the remote has the tag (trigger = \"push\")".to_string(),
                        );
                        let job = new_job(
                            git_dir,
                            tag,
                            target,
                            &package,
                            JobState::WaitingForPush,
                            message,
                        );
                        if let Some(job) = self.insert(job) {
                            tracing::info!(job = job.id, %tag, "new release tag; waiting for its push");
                        }
                        continue;
                    }
                    let message = Some(format!(
                        "waiting {:?} (grace period)",
                        config.defaults.grace
                    ));
                    if let Some(job) = self.insert(new_job(
                        git_dir,
                        tag,
                        target,
                        &package,
                        JobState::Waiting,
                        message,
                    )) {
                        tracing::info!(job = job.id, %tag, "new release tag");
                        started.push(job);
                    }
                }
                TagChange::Deleted { tag, .. } => {
                    if let Some(job) = self.job_for(git_dir, tag)
                        && matches!(job.state, JobState::Waiting | JobState::WaitingForPush)
                    {
                        tracing::info!(job = job.id, %tag, "tag deleted during the grace period: cancelled");
                        self.update(job.id, |j| {
                            j.state = JobState::Cancelled;
                            j.message = Some("the tag was deleted during the grace period".into());
                        });
                    }
                }
                TagChange::Moved { tag, from, to } => {
                    let Some(job) = self.job_for(git_dir, tag) else {
                        continue;
                    };
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
                        ));
                    } else {
                        self.update(job.id, |j| {
                            j.state = JobState::Conflict;
                            j.message = Some(message);
                        });
                    }
                }
            }
        }
        started
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
            match repo.remote_tag(&remote, &job.tag) {
                Ok(Some(id)) if id == job.target => {
                    if let Some(job) = self.update(job.id, |j| {
                        j.state = JobState::Waiting;
                        j.message = Some(format!("{remote} has the tag"));
                    }) {
                        ready.push(job);
                    }
                }
                Ok(Some(id)) => {
                    self.update(job.id, |j| {
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
                Err(err) => tracing::debug!(%err, tag = %job.tag, %remote, "cannot ask the remote"),
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

    /// Runs a job: waits out the grace period, then releases, unless the job
    /// was cancelled or conflicted meanwhile.
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
            let still_wanted = queue.jobs().iter().any(|j| {
                j.id == job.id && matches!(j.state, JobState::Waiting | JobState::Running)
            });
            if !still_wanted {
                return;
            }
            queue.update(job.id, |j| {
                j.state = JobState::Running;
                j.message = None;
            });
            crate::fault::point("job-running");
            let dirs = queue.dirs.clone();
            let running = job.clone();
            let outcome =
                tokio::task::spawn_blocking(move || run_release(&dirs, &running, &workdir))
                    .await
                    .unwrap_or_else(|err| {
                        Err((
                            JobState::Failed,
                            format!("the release task panicked: {err}"),
                        ))
                    });
            let (state, message) = match outcome {
                Ok(summary) => (JobState::Verified, summary),
                Err((state, message)) => (state, message),
            };
            queue.update(job.id, |j| {
                j.state = state;
                j.message = Some(message);
            });
        });
    }

    fn package_lock(&self, git_dir: &Path, package: &str) -> PackageLock {
        self.package_locks
            .lock()
            .expect("not poisoned")
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
        if job.state != JobState::Waiting {
            return Err(format!(
                "job {id} is {:?}: only a job still in its grace period can be cancelled",
                job.state
            ));
        }
        self.update(id, |j| {
            j.state = JobState::Cancelled;
            j.message = Some("cancelled with `tagpub cancel`".into());
        })
        .ok_or_else(|| "cannot record the cancellation".to_string())
    }

    /// Puts a failed job back in the queue; the release resumes where it stopped.
    pub fn retry(&self, id: u64) -> Result<JobRecord, String> {
        let job = self.get(id).ok_or_else(|| format!("no job {id}"))?;
        if job.state != JobState::Failed || job.package.is_empty() {
            return Err(format!(
                "job {id} is {:?}: only a failed release can be retried",
                job.state
            ));
        }
        self.update(id, |j| {
            j.state = JobState::Running;
            j.message = Some("retrying".into());
        })
        .ok_or_else(|| "cannot record the retry".to_string())
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

/// Runs `command` with `input` on stdin, killed after 30 s.
fn run_notifier(command: &[String], input: &[u8]) -> std::io::Result<()> {
    let (program, args) = command
        .split_first()
        .ok_or_else(|| std::io::Error::other("empty command"))?;
    let mut child = std::process::Command::new(program);
    child
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    crate::credentials::scrub_secret_env(&mut child, &[]);
    let mut child = child.spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input)?;
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if child.try_wait()?.is_some() {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            return Err(std::io::Error::other(
                "it ran longer than 30 s and was stopped",
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
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
    }
}

/// Writes a job's progress into its log file (`tagpub log`).
struct JobLog {
    file: Mutex<std::fs::File>,
}

impl JobLog {
    /// Another handle on the same file, for progress written from the
    /// HTTP client's thread.
    fn writer(&self) -> Option<std::fs::File> {
        self.file.lock().ok()?.try_clone().ok()
    }
}

impl JobLog {
    fn line(&self, text: &str) {
        let _ = writeln!(
            self.file.lock().expect("not poisoned"),
            "{}",
            crate::credentials::mask(text)
        );
    }
}

impl Reporter for JobLog {
    fn step(&self, message: &str) {
        self.line(&format!("→ {message}"));
    }
    fn info(&self, message: &str) {
        self.line(&format!("  {message}"));
    }
    fn warn(&self, message: &str) {
        self.line(&format!("  ! {message}"));
    }
    fn transfer(&self, label: &str, total: u64) -> Box<dyn crate::pipeline::Progress> {
        match self.writer() {
            Some(mut file) => crate::pipeline::ProgressLines::boxed(
                label,
                total,
                Box::new(move |line| {
                    let _ = writeln!(file, "  {line}");
                }),
            ),
            None => Box::new(crate::pipeline::NoProgress),
        }
    }
}

/// The release of one job, as `tagpub release` would do it. The error is
/// the job's final state and the message `tagpub release` would print.
fn run_release(dirs: &Dirs, job: &JobRecord, workdir: &Path) -> Result<String, (JobState, String)> {
    let failed = |message: String| (JobState::Failed, message);
    let log_path = ledger::job_log_path(dirs, job.id);
    let file = crate::fsutil::open_private_append(&log_path)
        .map_err(|err| failed(format!("cannot open {}: {err}", log_path.display())))?;
    let log = JobLog {
        file: Mutex::new(file),
    };
    log.line(&format!("job {}: {} ({})", job.id, job.tag, job.package));
    let result = (|| {
        let repo = Repo::discover(workdir).map_err(|e| failed(e.to_string()))?;
        let config = Config::discover(repo.workdir()).map_err(|e| failed(e.to_string()))?;
        // The tag must still be the one the job was made for.
        let info = repo
            .tag(&job.tag)
            .map_err(|e| failed(e.to_string()))?
            .ok_or_else(|| {
                (
                    JobState::Cancelled,
                    format!("tag {} no longer exists", job.tag),
                )
            })?;
        if info.ref_target != job.target {
            return Err((
                JobState::Conflict,
                format!("tag {} moved after it was seen: not released", job.tag),
            ));
        }
        let plan = resolve(&repo, &config, &job.tag, None).map_err(|e| failed(e.to_string()))?;
        let release = Release {
            repo: &repo,
            config: &config,
            dirs,
            reporter: &log,
        };
        let summary = release
            .run(&plan, &ReleaseOptions::default())
            .map_err(|e| failed(e.to_string()))?;
        Ok(format!(
            "{} {} on {}: {}",
            summary.package,
            summary.version,
            summary.repository,
            match summary.status {
                crate::pipeline::release::ReleaseStatus::AlreadyComplete => "already complete",
                _ => "published and verified",
            }
        ))
    })();
    match &result {
        Ok(summary) => log.line(&format!("✓ {summary}")),
        Err((state, message)) => log.line(&format!("✗ {state:?}: {message}")),
    }
    result
}
