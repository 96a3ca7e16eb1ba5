//! The reference-transaction hook's nudge reaches a listening daemon socket
//! when a tag is created, and only then.

use std::io::BufRead;
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

use crate::common::project::Project;

/// Accepts connections until `limit`; returns the lines received.
fn collect(listener: &UnixListener, limit: Duration) -> Vec<String> {
    listener.set_nonblocking(true).unwrap();
    let started = Instant::now();
    let mut lines = Vec::new();
    while started.elapsed() < limit {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).unwrap();
                let mut line = String::new();
                std::io::BufReader::new(stream)
                    .read_line(&mut line)
                    .unwrap();
                lines.push(line);
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    lines
}

#[test]
fn creating_a_tag_nudges_the_daemon_and_a_commit_does_not() {
    let project = Project::sample(&[]);
    project.configure("local", "");
    project.run(&["hooks", "install"]).assert_ok();
    let run_dir = project.state.join("run");
    std::fs::create_dir_all(&run_dir).unwrap();
    let listener = UnixListener::bind(run_dir.join("tagpub.sock")).unwrap();
    let git = |args: &[&str]| {
        let run = project.git_as_user("git", args);
        run.assert_ok();
        assert!(
            run.stderr.is_empty(),
            "hooks must print nothing: {}",
            run.stderr
        );
    };

    git(&["commit", "--allow-empty", "--quiet", "-m", "no tag here"]);
    assert!(
        collect(&listener, Duration::from_millis(300)).is_empty(),
        "a branch update must not nudge"
    );

    git(&["tag", "-a", "-m", "release", "v1.0.0"]);
    let lines = collect(&listener, Duration::from_secs(2));
    assert_eq!(lines.len(), 1, "{lines:?}");
    let message: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(message["version"], 1);
    assert_eq!(message["type"], "nudge");
    let git_dir = std::path::PathBuf::from(message["git_dir"].as_str().unwrap());
    assert_eq!(
        git_dir.canonicalize().unwrap(),
        project.root.join(".git").canonicalize().unwrap()
    );

    // Deleting a tag is a tag change too: the daemon rescans (and cancels).
    git(&["tag", "-d", "v1.0.0"]);
    assert_eq!(collect(&listener, Duration::from_secs(2)).len(), 1);
}
