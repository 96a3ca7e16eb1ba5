//! One job's run: the release as `tagpub release` would do it
//! (`run_release`), written to the job's own log (`JobLog`), checked
//! against its tag (`tag_unchanged`), settled into a final state (`settle`);
//! and the user's notify command told of it (`run_notifier`). `queue.rs`
//! decides when a job runs and who may write its state; this module only
//! runs it.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use crate::config::Config;
use crate::dirs::Dirs;
use crate::git::Repo;
use crate::ledger::{self, JobRecord, JobState, TagChanged};
use crate::pipeline::release::{Release, ReleaseOptions};
use crate::pipeline::resolve::{resolve, short};

/// A release's outcome: a summary, or the state it ended in and why.
pub(super) type Outcome = Result<String, (JobState, String)>;

/// The final state and message of a job, from its release's outcome and
/// what a rescan noted about its tag meanwhile: a tag that moved makes it a
/// conflict whatever the release did (it never ends `verified`), a tag that
/// vanished before the release finished cancels it.
pub(super) fn settle(job: &JobRecord, outcome: Outcome) -> (JobState, String) {
    let tag = &job.tag;
    match (&job.tag_changed, outcome) {
        (None, Ok(summary)) => (JobState::Verified, summary),
        (None, Err(failed)) => failed,
        (Some(TagChanged::Moved { to }), outcome) => {
            let moved = format!(
                "tag {tag} moved from {} to {} while it was being released",
                short(&job.target),
                short(to)
            );
            let what = match outcome {
                Ok(summary) => {
                    format!("after its upload began; {summary} from the commit first tagged")
                }
                Err((JobState::Failed, message)) => format!("not released ({message})"),
                Err(_) => "not released".to_string(),
            };
            (
                JobState::Conflict,
                format!(
                    "{moved}: {what}. A tag that was released (or about to be) is never republished. Create a new tag for a new version"
                ),
            )
        }
        (Some(TagChanged::Deleted), Ok(summary)) => (
            JobState::Verified,
            format!("{summary} (the tag was deleted afterwards)"),
        ),
        (Some(TagChanged::Deleted), Err(_)) => (
            JobState::Cancelled,
            format!("tag {tag} was deleted while it was being released: not released"),
        ),
    }
}

/// Why a release task ended without an outcome: it panicked (a bug; the
/// job fails, the daemon goes on) or was cancelled by a shutdown.
pub(super) fn task_failure(id: u64, err: tokio::task::JoinError) -> String {
    if err.is_panic() {
        panic_message(id, err.into_panic().as_ref())
    } else {
        format!("the release was interrupted ({err}); `tagpub retry {id}` runs it again")
    }
}

fn panic_message(id: u64, payload: &(dyn std::any::Any + Send)) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_string());
    format!(
        "the release stopped on an internal error (panic: {text}). This is a bug in tagpub: please report it with the output of `tagpub log {id}`; `tagpub retry {id}` runs the release again"
    )
}

/// Runs `command` with `input` on stdin, killed after 30 s.
pub(super) fn run_notifier(command: &[String], input: &[u8]) -> std::io::Result<()> {
    let (program, args) = command
        .split_first()
        .ok_or_else(|| std::io::Error::other("empty command"))?;
    // The one runner withholds every secret; the user's notifier keeps the
    // desktop bus (notify-send and the like need it). Its exit status is
    // its own business.
    crate::process::Child::new(program)
        .args(args)
        .input(input.to_vec())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .keep_session()
        .timeout(Duration::from_secs(30))
        .output()
        .map(drop)
        .map_err(crate::process::RunError::into_io)
}

/// Writes a job's progress into its log file (`tagpub log`).
pub(super) struct JobLog {
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
            crate::secrets::mask(text)
        );
    }
}

/// A job's log file: every line masked.
impl crate::report::LineSink for JobLog {
    fn put(&self, _: crate::report::LineKind, line: &str) {
        self.line(line);
    }

    fn follow(&self, label: &str, total: u64) -> Box<dyn crate::report::Progress> {
        match self.writer() {
            Some(mut file) => crate::report::progress_lines(label, total, move |line| {
                let _ = writeln!(file, "{}", crate::secrets::mask(line));
            }),
            None => Box::new(crate::report::NoProgress),
        }
    }
}

/// The release of one job, as `tagpub release` would do it. The error is
/// the job's final state and the message `tagpub release` would print.
pub(super) fn run_release(
    dirs: &Dirs,
    job: &JobRecord,
    workdir: &Path,
) -> Result<String, (JobState, String)> {
    let failed = |message: String| (JobState::Failed, message);
    let log_path = ledger::job_log_path(dirs, job.id);
    let file = crate::fsutil::open_private_append(&log_path).map_err(|err| {
        failed(crate::exit::chain_text_in(
            &format!("cannot open {}", log_path.display()),
            &err,
        ))
    })?;
    let log = JobLog {
        file: Mutex::new(file),
    };
    log.line(&format!("job {}: {} ({})", job.id, job.tag, job.package));
    let attempt = || {
        let repo = Repo::discover(workdir).map_err(|e| failed(crate::exit::chain_text(&e)))?;
        // The tag must still be the one the job was made for.
        tag_unchanged(&repo, job)?;
        let config =
            Config::for_tag(&repo, &job.tag).map_err(|e| failed(crate::exit::chain_text(&e)))?;
        let plan = resolve(&repo, &config, &job.tag, None)
            .map_err(|e| failed(crate::exit::chain_text(&e)))?;
        let release = Release {
            repo: &repo,
            config: &config,
            dirs,
            reporter: &log,
        };
        let summary = release
            .run(&plan, &ReleaseOptions::default())
            .map_err(|err| {
                // The release refuses to upload once the tag moved or
                // vanished; whatever stopped it, a tag that changed makes
                // the job a conflict (or cancels it), not a failure to retry.
                match tag_unchanged(&repo, job) {
                    Err(changed @ (JobState::Conflict | JobState::Cancelled, _)) => changed,
                    _ => failed(crate::exit::chain_text(&err)),
                }
            })?;
        Ok(summary.outcome())
    };
    // A panic anywhere in the release fails this job only (and says so in
    // its log); the daemon and its other jobs go on.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(attempt))
        .unwrap_or_else(|payload| Err(failed(panic_message(job.id, payload.as_ref()))));
    match &result {
        Ok(summary) => log.line(&crate::report::passed(summary)),
        Err((state, message)) => log.line(&crate::report::failed(&format!("{state:?}: {message}"))),
    }
    result
}

/// `Ok` while the tag still points where it did when the job was made;
/// else the state the job ends in: `conflict` for a moved tag, `cancelled`
/// for a deleted one.
pub(super) fn tag_unchanged(repo: &Repo, job: &JobRecord) -> Result<(), (JobState, String)> {
    match repo.tag(&job.tag) {
        Ok(None) => Err((
            JobState::Cancelled,
            format!("tag {} no longer exists: not released", job.tag),
        )),
        Ok(Some(info)) if info.ref_target != job.target => Err((
            JobState::Conflict,
            format!(
                "tag {} moved from {} to {} after it was seen: not released. A tag that was released (or about to be) is never republished. Create a new tag for a new version",
                job.tag,
                short(&job.target),
                short(&info.ref_target)
            ),
        )),
        Ok(Some(_)) => Ok(()),
        Err(err) => Err((JobState::Failed, crate::exit::chain_text(&err))),
    }
}
