//! `Daemon`: a `tagpub daemon run` of a test project, in the foreground,
//! its stderr appended to `daemon.log` in the project's temp dir.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::project::Project;

/// A `tagpub daemon run` in the foreground, stopped with SIGTERM on drop.
pub struct Daemon {
    pub child: Child,
}

impl Daemon {
    /// `rescan` is the periodic rescan: long where a test must prove that
    /// the hook or the filesystem watch (not a timer) found the tag.
    pub fn start(project: &Project, rescan: &str) -> Daemon {
        Daemon::start_with(project, rescan, &[])
    }

    pub fn start_with(project: &Project, rescan: &str, env: &[(&str, &str)]) -> Daemon {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(project.temp.path().join("daemon.log"))
            .unwrap();
        let mut command = project.command(&["daemon", "run"]);
        command
            .env("TAGPUB_RESCAN_INTERVAL", rescan)
            // A job resumed after a crash mid-upload waits until that upload
            // could no longer land: seconds here, not the default 15 minutes.
            .env("TAGPUB_UPLOAD_TIMEOUT", "2s")
            .stdout(Stdio::null())
            .stderr(log);
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.spawn().unwrap();
        let daemon = Daemon { child };
        assert!(
            tagpub_fixtures::dirs::wait_for(
                &tagpub_fixtures::dirs::daemon_socket(&project.state),
                Duration::from_secs(10)
            ),
            "the daemon did not start:\n{}",
            daemon_log(project)
        );
        daemon
    }
}

impl Daemon {
    /// Waits for the daemon to die by itself (at a fault point).
    pub fn wait_for_crash(mut self, project: &Project) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(
                    !status.success(),
                    "the daemon exited cleanly instead of crashing"
                );
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(90),
                "the daemon did not reach its fault point:\n{}",
                daemon_log(project)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

pub fn daemon_log(project: &Project) -> String {
    std::fs::read_to_string(project.temp.path().join("daemon.log")).unwrap_or_default()
}
