//! A desktop notification for each finished job, where the platform has a
//! notification service (the freedesktop one over D-Bus on Linux, the
//! Notification Center on macOS, toasts on Windows).
//!
//! Built with the `desktop-notifications` cargo feature (on by default).
//! Without the feature, or without a notification service (a server, CI, a
//! container), it is silently absent: the log line and `[notify] command`
//! still tell the user.

use crate::ledger::{JobRecord, JobState};

/// The notification's title and body for a finished job.
pub fn text(job: &JobRecord) -> (String, String) {
    let title = match job.state {
        JobState::Verified => format!("tagpub: published {}", job.tag),
        JobState::Failed => format!("tagpub: {} failed", job.tag),
        JobState::Conflict => format!("tagpub: {} conflicts", job.tag),
        JobState::Cancelled => format!("tagpub: {} cancelled", job.tag),
        _ => format!("tagpub: {}", job.tag),
    };
    let mut body = format!("{} (job {})", job.package, job.id);
    if let Some(message) = job
        .message
        .as_deref()
        .filter(|_| job.state != JobState::Verified)
    {
        // The first line says what happened; `tagpub log` has the rest.
        let first = message.lines().next().unwrap_or_default();
        body.push_str(": ");
        body.push_str(first);
    }
    (title, body)
}

/// Shows the notification from a thread of its own: a slow or absent
/// notification service never holds up a worker.
pub fn notify(job: &JobRecord) {
    let (title, body) = text(job);
    show(title, body);
}

#[cfg(feature = "desktop-notifications")]
fn show(title: String, body: String) {
    std::thread::spawn(move || {
        let shown = notify_rust::Notification::new()
            .appname("tagpub")
            .summary(&title)
            .body(&body)
            .show();
        if let Err(err) = shown {
            tracing::debug!(%err, "no desktop notification");
        }
    });
}

#[cfg(not(feature = "desktop-notifications"))]
fn show(_title: String, _body: String) {}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(state: JobState, message: Option<&str>) -> JobRecord {
        JobRecord {
            id: 7,
            git_dir: "/r/.git".into(),
            tag: "hf-local-v1.0.0".into(),
            target: "abc".into(),
            package: "open-ticket-ai-hf-local".into(),
            state,
            message: message.map(str::to_string),
            created: 0,
            seen_ms: 0,
            tag_changed: None,
            updated: 0,
        }
    }

    #[test]
    fn says_what_happened_in_one_line() {
        assert_eq!(
            text(&job(JobState::Verified, Some("published 2 files"))),
            (
                "tagpub: published hf-local-v1.0.0".to_string(),
                "open-ticket-ai-hf-local (job 7)".to_string()
            )
        );
        let (title, body) = text(&job(
            JobState::Failed,
            Some("the build failed (uv build, exit status: 1)\n  | details"),
        ));
        assert_eq!(title, "tagpub: hf-local-v1.0.0 failed");
        assert_eq!(
            body,
            "open-ticket-ai-hf-local (job 7): the build failed (uv build, exit status: 1)"
        );
    }
}
