//! The daemon end to end: watch a repository, create tags, and see packages
//! appear on the index without another command. Real git, real builds, a
//! real daemon process on a real socket.

use crate::common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::daemon::{Daemon, daemon_log};
use crate::common::project::{Project, files_in, git};
use crate::common::snapshot;

/// The sample monorepo publishing to the local index with a short grace.
fn project(grace: &str) -> Project {
    let project = Project::sample(&[]);
    project.configure("local", "");
    set_grace(&project, grace);
    project
}

/// Sets `[defaults] grace` and commits it.
fn set_grace(project: &Project, grace: &str) {
    project.add_defaults(&format!("grace = \"{grace}\"\n"), "grace");
}

/// The sample monorepo publishing to `server` with no grace period, under a
/// repository name of its own (so keychain entries never collide).
fn project_publishing_to(server: &common::PypiServer, name: &str) -> (Project, String) {
    project_publishing_to_url(&server.url, name)
}

fn project_publishing_to_url(url: &str, name: &str) -> (Project, String) {
    let repository = common::unique(name);
    (Project::publishing_to(&repository, url), repository)
}

/// The distributions the local index holds for a package (not its page).
fn index_files(project: &Project, package: &str) -> Vec<String> {
    files_in(&project.local_index().join(package))
        .into_iter()
        .filter(|name| name != "index.html")
        .collect()
}

#[track_caller]
fn wait_for(project: &Project, what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < limit,
            "{what} did not happen within {limit:?}\nstatus: {}\ndaemon log:\n{}",
            project.run(&["status", "--json"]).stdout,
            daemon_log(project)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn status(project: &Project) -> serde_json::Value {
    let run = project.run(&["status", "--json"]);
    run.assert_ok();
    serde_json::from_str(&run.stdout).unwrap()
}

fn job_state(project: &Project, tag: &str) -> Option<String> {
    status(project)["jobs"]
        .as_array()?
        .iter()
        .rev()
        .find(|j| j["tag"] == tag)
        .map(|j| j["state"].as_str().unwrap_or_default().to_string())
}

/// Waits (at most `limit`) until the job for `tag` is in `state`.
#[track_caller]
fn wait_for_state(project: &Project, tag: &str, state: &str, limit: Duration) {
    wait_for(project, &format!("{tag} to be {state}"), limit, || {
        job_state(project, tag).as_deref() == Some(state)
    });
}

#[test]
fn a_new_tag_is_published_with_the_hook_and_with_the_watch_alone() {
    let project = project("0s");
    project.run(&["watch", "add"]).assert_ok();
    project.run(&["hooks", "install"]).assert_ok();
    let _daemon = Daemon::start(&project, "10m");

    project.tag("hf-local-v1.0.0");
    wait_for_state(
        &project,
        "hf-local-v1.0.0",
        "verified",
        Duration::from_secs(90),
    );
    assert_eq!(
        index_files(&project, "open-ticket-ai-hf-local"),
        [
            "open_ticket_ai_hf_local-1.0.0-py3-none-any.whl",
            "open_ticket_ai_hf_local-1.0.0.tar.gz"
        ]
    );
    // Only that package.
    assert!(index_files(&project, "open-ticket-ai").is_empty());

    // Without hooks, the filesystem watch alone sees the tag.
    project.run(&["hooks", "uninstall"]).assert_ok();
    project.tag("otobo-znuny-v1.0.0");
    wait_for_state(
        &project,
        "otobo-znuny-v1.0.0",
        "verified",
        Duration::from_secs(90),
    );
    assert_eq!(
        index_files(&project, "open-ticket-ai-otobo-znuny-plugin").len(),
        2
    );

    let log = project.run(&["log", "1"]);
    log.assert_ok();
    assert!(
        log.stdout.contains("published and verified"),
        "{}",
        log.stdout
    );
}

#[test]
fn tags_that_existed_before_watch_add_never_publish() {
    let project = project("0s");
    project.tag("v1.0.0");
    let added = project.run(&["watch", "add"]);
    added.assert_ok();
    assert!(added.stderr.contains("1 existing tag"), "{}", added.stderr);
    let _daemon = Daemon::start(&project, "2s");
    // Two periodic rescans pass.
    std::thread::sleep(Duration::from_secs(5));
    assert!(index_files(&project, "open-ticket-ai").is_empty());
    assert_eq!(job_state(&project, "v1.0.0"), None);
    let list = project.run(&["watch", "list"]);
    list.assert_ok();
    assert!(
        list.stdout
            .contains(&project.root.canonicalize().unwrap().display().to_string()),
        "{}",
        list.stdout
    );
}

#[test]
fn deleting_a_tag_in_its_grace_period_cancels_it() {
    let project = project("4s");
    project.run(&["watch", "add"]).assert_ok();
    let _daemon = Daemon::start(&project, "10m");
    project.tag("v1.0.0");
    wait_for_state(&project, "v1.0.0", "waiting", Duration::from_secs(10));
    git(&project.root, &["tag", "-d", "v1.0.0"]);
    wait_for_state(&project, "v1.0.0", "cancelled", Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(5));
    assert!(index_files(&project, "open-ticket-ai").is_empty());
    assert_eq!(job_state(&project, "v1.0.0").as_deref(), Some("cancelled"));
}

#[test]
fn a_moved_tag_is_a_conflict_and_never_republished() {
    let project = project("4s");
    project.run(&["watch", "add"]).assert_ok();
    let _daemon = Daemon::start(&project, "10m");
    project.tag("v1.0.0");
    wait_for_state(&project, "v1.0.0", "waiting", Duration::from_secs(10));
    project.write("README.md", "# changed\n");
    project.commit("another commit");
    git(&project.root, &["tag", "-f", "-a", "-m", "moved", "v1.0.0"]);
    wait_for_state(&project, "v1.0.0", "conflict", Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(5));
    assert!(index_files(&project, "open-ticket-ai").is_empty());
    // The whole status screen: the job in conflict, never republished.
    let status = project.run(&["status"]);
    snapshot::settings(&project)
        .bind(|| insta::assert_snapshot!("status_conflict", snapshot::transcript(&status)));
}

fn job_id(project: &Project, tag: &str) -> String {
    status(project)["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|j| j["tag"] == tag)
        .map(|j| j["id"].to_string())
        .unwrap()
}

#[test]
fn a_failed_job_is_retried_once_the_cause_is_fixed() {
    let token = tagpub::credentials::macaroon::encode("pypi.org", &common::unique("id-"), &[]);
    let server = common::PypiServer::start_with_token(&token);
    let (project, repository) = project_publishing_to(&server, "daemon");
    project.run(&["watch", "add"]).assert_ok();
    let _daemon = Daemon::start(&project, "10m");

    // The daemon has no token: the job fails with release's own message.
    project.tag("v1.0.0");
    wait_for_state(&project, "v1.0.0", "failed", Duration::from_secs(30));
    let text = project.run(&["status"]);
    assert!(
        text.stderr
            .contains(&format!("no token for `open-ticket-ai` on {repository}")),
        "{}",
        text.stderr
    );
    assert!(files_in(&server.packages_dir).is_empty());

    // Fix the cause (a token in the keychain), then retry: it is published.
    project
        .run_with_stdin(
            &[
                "token",
                "set",
                "-r",
                &repository,
                "-p",
                "open-ticket-ai",
                "--stdin",
            ],
            &server.token,
        )
        .assert_ok();
    let id = job_id(&project, "v1.0.0");
    project.run(&["retry", &id]).assert_ok();
    wait_for_state(&project, "v1.0.0", "verified", Duration::from_secs(90));
    assert_eq!(files_in(&server.packages_dir).len(), 2);
    // A verified job cannot be retried.
    project
        .run(&["retry", &id])
        .assert_fails(2, "only a failed release can be retried");
    project
        .run(&["token", "delete", "-r", &repository, "-p", "open-ticket-ai"])
        .assert_ok();
}

#[test]
fn an_index_down_during_upload_fails_the_job_after_retries_and_retry_finishes_it() {
    let server = common::PypiServer::start();
    let proxy = common::proxy::FaultProxy::start(&server.url);
    let (project, _) = project_publishing_to_url(&proxy.url(), "down");
    project.run(&["watch", "add"]).assert_ok();
    let _daemon = Daemon::start_with(
        &project,
        "10m",
        &[
            ("PYPI_API_TOKEN", server.token.as_str()),
            ("TAGPUB_RETRIES", "2"),
            ("TAGPUB_RETRY_BASE", "50ms"),
        ],
    );
    // The index answers the first listing, then goes down before the upload.
    proxy.inject("GET", 1, common::proxy::Fault::DelayRequest(Duration::ZERO));
    proxy.inject(
        "*",
        1000,
        common::proxy::Fault::status(503, None, "down for maintenance"),
    );
    project.tag("v1.0.0");
    wait_for_state(&project, "v1.0.0", "failed", Duration::from_secs(90));
    let text = project.run(&["status"]);
    assert!(
        text.stderr.contains("HTTP 503") && text.stderr.contains("gave up after 3 attempts"),
        "{}",
        text.stderr
    );
    let id = job_id(&project, "v1.0.0");
    let log = project.run(&["log", &id]);
    assert_eq!(
        log.stdout.matches("retrying in").count(),
        2,
        "two retries with backoff:\n{}",
        log.stdout
    );
    assert!(files_in(&server.packages_dir).is_empty());

    // The index is back: `tagpub retry` finishes the release.
    proxy.clear_rules();
    project.run(&["retry", &id]).assert_ok();
    wait_for_state(&project, "v1.0.0", "verified", Duration::from_secs(90));
    assert_eq!(files_in(&server.packages_dir).len(), 2);
    assert_eq!(server.uploads(), 2, "{}", server.logs());
}

#[test]
fn a_waiting_job_can_be_cancelled() {
    let project = project("30s");
    project.run(&["watch", "add"]).assert_ok();
    let _daemon = Daemon::start(&project, "10m");
    project.tag("v1.0.0");
    wait_for_state(&project, "v1.0.0", "waiting", Duration::from_secs(10));
    let id = job_id(&project, "v1.0.0");
    project.run(&["cancel", &id]).assert_ok();
    assert_eq!(job_state(&project, "v1.0.0").as_deref(), Some("cancelled"));
    project
        .run(&["cancel", &id])
        .assert_fails(2, "only a job still in its grace period can be cancelled");
}

/// The repository's problem as the running daemon's status reports it.
fn repo_problem(project: &Project) -> Option<String> {
    status(project)["repos"][0]["problem"]
        .as_str()
        .map(str::to_string)
}

fn known_tags(project: &Project) -> u64 {
    let list = project.run(&["watch", "list", "--json"]);
    list.assert_ok();
    let value: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    value["repos"][0]["known_tags"].as_u64().unwrap()
}

#[test]
fn a_tag_whose_job_cannot_be_recorded_is_shown_kept_unknown_and_released_once_it_can() {
    let project = project("0s");
    project.run(&["watch", "add"]).assert_ok();
    assert_eq!(known_tags(&project), 0);
    // What a `sudo tagpub …` (a root-owned jobs dir) or a full disk does:
    // job records cannot be written. The suite runs as root, which writes
    // anywhere, so a regular file stands where the directory should be.
    let jobs = project.state.join("data/jobs");
    let _ = std::fs::remove_dir_all(&jobs);
    std::fs::write(&jobs, "not a directory\n").unwrap();
    let daemon = Daemon::start(&project, "10m");

    project.tag("v1.0.0");
    wait_for(
        &project,
        "the failed job record in status",
        Duration::from_secs(30),
        || repo_problem(&project).is_some_and(|p| p.contains("cannot record a job for tag v1.0.0")),
    );
    let problem = repo_problem(&project).unwrap();
    assert!(
        problem.contains("jobs") && problem.contains("next rescan"),
        "{problem}"
    );
    // Not marked as seen: nothing recorded it.
    assert_eq!(known_tags(&project), 0);
    let text = project.run(&["status"]);
    text.assert_ok();
    assert!(
        text.stderr.contains("cannot record a job for tag v1.0.0"),
        "{}",
        text.stderr
    );
    let doctor = project.run(&["doctor"]);
    assert_ne!(doctor.code, 0, "{}", doctor.stderr);
    assert!(
        doctor.stderr.contains("cannot record a job for tag v1.0.0"),
        "{}",
        doctor.stderr
    );

    // A restart does not lose it: the first rescan finds the tag again.
    drop(daemon);
    let _daemon = Daemon::start(&project, "10m");
    wait_for(
        &project,
        "the failed job record after a restart",
        Duration::from_secs(30),
        || repo_problem(&project).is_some_and(|p| p.contains("v1.0.0")),
    );
    assert_eq!(known_tags(&project), 0);
    assert!(index_files(&project, "open-ticket-ai").is_empty());

    // Fixed: the next rescan (a hook's nudge) makes the job and releases it.
    std::fs::remove_file(&jobs).unwrap();
    project.run(&["hook", "nudge"]).assert_ok();
    wait_for_state(&project, "v1.0.0", "verified", Duration::from_secs(90));
    assert_eq!(index_files(&project, "open-ticket-ai").len(), 2);
    assert_eq!(known_tags(&project), 1);
    assert_eq!(repo_problem(&project), None);
}

#[test]
fn a_job_that_panics_fails_alone_and_the_daemon_goes_on() {
    let project = project("0s");
    project.run(&["watch", "add"]).assert_ok();
    // The first release to finish its build panics (once per process).
    let daemon = Daemon::start_with(&project, "10m", &[("TAGPUB_FAULT", "panic:built")]);
    project.tag("v1.0.0");
    wait_for_state(&project, "v1.0.0", "failed", Duration::from_secs(90));
    let job = status(&project)["jobs"][0].clone();
    let message = job["message"].as_str().unwrap();
    assert!(
        message.contains("internal error (panic: fault injected at built")
            && message.contains("tagpub retry"),
        "{message}"
    );
    let log = project.run(&["log", &job["id"].to_string()]);
    assert!(
        log.stdout.contains("panic: fault injected"),
        "{}",
        log.stdout
    );
    assert!(index_files(&project, "open-ticket-ai").is_empty());

    // The same daemon still serves and releases the next tag.
    let value = status(&project);
    assert_eq!(value["daemon"]["running"], true);
    assert_eq!(value["daemon"]["pid"], daemon.child.id());
    project.tag("hf-local-v1.0.0");
    wait_for_state(
        &project,
        "hf-local-v1.0.0",
        "verified",
        Duration::from_secs(90),
    );
    assert_eq!(index_files(&project, "open-ticket-ai-hf-local").len(), 2);
    assert_eq!(job_state(&project, "v1.0.0").as_deref(), Some("failed"));
}

#[test]
fn a_tag_moved_while_its_build_runs_ends_in_conflict_and_is_never_verified() {
    let project = Project::sample(&[]);
    // A build that says when it starts (in a dir the sandbox lets it
    // write), then takes a few seconds.
    let signals = project.temp.path().join("signals");
    let started = signals.join("build-started");
    project.configure("local", "");
    set_grace(&project, "0s");
    project.build_with_prelude(
        &format!("touch '{}' && sleep 4", started.display()),
        &signals,
    );
    project.run(&["watch", "add"]).assert_ok();
    let _daemon = Daemon::start(&project, "10m");
    project.tag("v1.0.0");
    wait_for(
        &project,
        "the build to start",
        Duration::from_secs(60),
        || started.exists(),
    );
    project.write("README.md", "# another commit\n");
    project.commit("another commit");
    git(&project.root, &["tag", "-f", "-a", "-m", "moved", "v1.0.0"]);

    // Watch every state the job passes through until it ends.
    let mut seen = Vec::new();
    let limit = Instant::now() + Duration::from_secs(120);
    loop {
        let state = job_state(&project, "v1.0.0");
        if seen.last() != Some(&state) {
            seen.push(state.clone());
        }
        // The release is over when its log has its last line (✓ or ✗);
        // a rescan may have written a state before that, which the
        // worker must not overwrite afterwards.
        let log = project.run(&["log", "1"]).stdout;
        if log
            .lines()
            .any(|l| l.starts_with('✓') || l.starts_with('✗'))
        {
            std::thread::sleep(Duration::from_secs(1));
            let later = job_state(&project, "v1.0.0");
            if seen.last() != Some(&later) {
                seen.push(later);
            }
            break;
        }
        assert!(Instant::now() < limit, "{seen:?}\n{}", daemon_log(&project));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        seen.last().unwrap().as_deref(),
        Some("conflict"),
        "states seen: {seen:?}\n{}",
        daemon_log(&project)
    );
    assert!(
        !seen.iter().any(|s| s.as_deref() == Some("verified")),
        "{seen:?}"
    );
    let jobs = status(&project)["jobs"].as_array().unwrap().clone();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert!(
        jobs[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("moved") && m.contains("never republished")),
        "{jobs:?}"
    );
    // The tag is re-read right before the first byte is uploaded: nothing
    // from either commit reaches the index.
    assert!(
        index_files(&project, "open-ticket-ai").is_empty(),
        "{:?}",
        index_files(&project, "open-ticket-ai")
    );
}

#[test]
fn retry_of_a_job_whose_repository_is_no_longer_watched_changes_nothing() {
    let project = project("0s");
    project.run(&["watch", "add"]).assert_ok();
    let _daemon = Daemon::start(&project, "10m");
    // Not the version in pyproject.toml: the release fails.
    project.tag("v9.9.9");
    wait_for_state(&project, "v9.9.9", "failed", Duration::from_secs(60));
    let id = job_id(&project, "v9.9.9");
    project.run(&["watch", "remove"]).assert_ok();
    project
        .run(&["retry", &id])
        .assert_fails(2, "no longer watched");
    assert_eq!(job_state(&project, "v9.9.9").as_deref(), Some("failed"));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(job_state(&project, "v9.9.9").as_deref(), Some("failed"));
    // Watched again, the same retry is accepted.
    project.run(&["watch", "add"]).assert_ok();
    project.run(&["retry", &id]).assert_ok();
}

/// Every step boundary of a release, including "the index has the file but
/// the ledger does not know yet" (`after-upload-N`).
const FAULT_POINTS: [&str; 9] = [
    "job-running",
    "built",
    "before-upload-1",
    "after-upload-1",
    "uploaded-1",
    "before-upload-2",
    "after-upload-2",
    "uploaded-2",
    "before-verify",
];

#[test]
fn a_daemon_killed_at_any_step_completes_the_release_once_after_restart() {
    for point in FAULT_POINTS {
        let server = common::PypiServer::start();
        let (project, _) = project_publishing_to(&server, "crash");
        project.run(&["watch", "add"]).assert_ok();
        let token = [("PYPI_API_TOKEN", server.token.as_str())];

        let crashing = Daemon::start_with(&project, "10m", &[token[0], ("TAGPUB_FAULT", point)]);
        project.tag("v1.0.0");
        crashing.wait_for_crash(&project);

        // The restarted daemon cleans up the stale socket and lock, resumes
        // the job, and finishes it without sending any file twice.
        let _daemon = Daemon::start_with(&project, "10m", &token);
        wait_for(
            &project,
            &format!("the release after a crash at {point}"),
            Duration::from_secs(90),
            || job_state(&project, "v1.0.0").as_deref() == Some("verified"),
        );
        assert_eq!(files_in(&server.packages_dir).len(), 2, "{point}");
        assert_eq!(
            server.uploads(),
            2,
            "crash at {point}: each file is uploaded exactly once\n{}",
            server.logs()
        );
        let jobs = status(&project)["jobs"].as_array().unwrap().len();
        assert_eq!(jobs, 1, "crash at {point}: one tag, one job");
    }
}

/// How many crash points a release crosses at most, with room to spare,
/// so some runs pass every point and finish.
const MOST_POINTS_PER_RUN: u64 = 40;

#[test]
fn a_daemon_killed_at_thirty_random_instants_publishes_each_release_exactly_once() {
    let mut rng = common::Rng::from_env();
    let seed = rng.seed;
    let server = common::PypiServer::start();
    let (project, _) = project_publishing_to(&server, "chaos");
    project.run(&["watch", "add"]).assert_ok();
    let trace = project.temp.path().join("fault-trace");
    let trace_env = trace.display().to_string();

    let mut kills: Vec<String> = Vec::new();
    let mut tags = Vec::new();
    let mut previous = "1.0.0".to_string();
    while kills.len() < 30 {
        let version = format!("1.{}.0", tags.len() + 1);
        tagpub::sample::set_version(&project.root, ".", &previous, &version).unwrap();
        project.commit(&format!("release {version}"));
        let tag = format!("v{version}");
        project.tag(&tag);
        previous = version;
        loop {
            let hit = format!("hit:{}", 1 + rng.below(MOST_POINTS_PER_RUN));
            let mut daemon = Daemon::start_with(
                &project,
                "10m",
                &[
                    ("PYPI_API_TOKEN", server.token.as_str()),
                    ("TAGPUB_FAULT", &hit),
                    ("TAGPUB_FAULT_TRACE", &trace_env),
                ],
            );
            let pid = daemon.child.id().to_string();
            let started = Instant::now();
            let crashed = loop {
                if daemon.child.try_wait().unwrap().is_some() {
                    break true;
                }
                match job_state(&project, &tag).as_deref() {
                    Some("verified") => break false,
                    Some("failed") => {
                        panic!("{tag} failed (seed {seed})\n{}", daemon_log(&project))
                    }
                    _ => {}
                }
                assert!(
                    started.elapsed() < Duration::from_secs(90),
                    "{tag} neither crashed nor finished (seed {seed})\n{}",
                    daemon_log(&project)
                );
                std::thread::sleep(Duration::from_millis(20));
            };
            if !crashed {
                break;
            }
            let trace_text = std::fs::read_to_string(&trace).unwrap_or_default();
            let point = trace_text
                .lines()
                .rev()
                .find(|line| line.starts_with(&format!("{pid} ")))
                .map(|line| line.splitn(3, ' ').nth(2).unwrap_or_default().to_string())
                .unwrap_or_else(|| {
                    panic!(
                        "the daemon died outside a crash point (seed {seed})\n{}",
                        daemon_log(&project)
                    )
                });
            kills.push(format!("{tag}: {hit} at {point}"));
        }
        tags.push(tag);
    }
    eprintln!(
        "{} kills over {} releases:\n{}",
        kills.len(),
        tags.len(),
        kills.join("\n")
    );

    let jobs = status(&project)["jobs"].as_array().cloned().unwrap();
    assert_eq!(jobs.len(), tags.len(), "one job per tag (seed {seed})");
    for job in &jobs {
        assert_eq!(job["state"], "verified", "{job} (seed {seed})");
    }
    assert_eq!(files_in(&server.packages_dir).len(), 2 * tags.len());
    assert_eq!(
        server.uploads(),
        2 * tags.len(),
        "no file was sent twice (seed {seed}); kills:\n{}\n{}",
        kills.join("\n"),
        server.logs()
    );
}

#[test]
fn a_burst_of_thirty_release_tags_publishes_each_exactly_once() {
    let server = common::PypiServer::start();
    let (project, _) = project_publishing_to(&server, "burst");
    // Ten versions of each of the three packages, each commit carrying its
    // versions; the tags are created afterwards, all within a second.
    let packages = [
        (".", "v"),
        ("src/open_ticket_ai_hf_local", "hf-local-v"),
        ("src/open_ticket_ai_otobo_znuny_plugin", "otobo-znuny-v"),
    ];
    let mut tags = Vec::new();
    let mut previous = "1.0.0".to_string();
    for minor in 1..=10 {
        let version = format!("1.{minor}.0");
        for (path, _) in packages {
            tagpub::sample::set_version(&project.root, path, &previous, &version).unwrap();
        }
        project.write("CHANGELOG.md", &format!("# Changelog\n\n## {version}\n"));
        project.commit(&format!("release {version}"));
        let commit = git(&project.root, &["rev-parse", "HEAD"]);
        for (_, prefix) in packages {
            tags.push((format!("{prefix}{version}"), commit.clone()));
        }
        previous = version;
    }
    project.run(&["watch", "add"]).assert_ok();
    project.run(&["hooks", "install"]).assert_ok();
    let _daemon = Daemon::start_with(
        &project,
        "10m",
        &[("PYPI_API_TOKEN", server.token.as_str())],
    );

    let started = Instant::now();
    for (tag, commit) in &tags {
        git(&project.root, &["tag", "-a", "-m", "burst", tag, commit]);
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "creating the tags took {:?}",
        started.elapsed()
    );

    wait_for(
        &project,
        "all 30 releases",
        Duration::from_secs(600),
        || {
            let value = status(&project);
            let jobs = value["jobs"].as_array().cloned().unwrap_or_default();
            jobs.len() >= 30
                && jobs
                    .iter()
                    .all(|j| j["state"] == "verified" || j["state"] == "failed")
        },
    );
    let value = status(&project);
    let jobs = value["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 30, "one job per tag");
    for job in jobs {
        assert_eq!(job["state"], "verified", "{job}");
    }
    assert_eq!(
        files_in(&server.packages_dir).len(),
        60,
        "an sdist and a wheel per release"
    );
    assert_eq!(server.uploads(), 60, "no file was sent twice");
}

#[test]
fn one_broken_or_deleted_repository_does_not_stop_the_others() {
    let good = project("0s");
    let broken = Project::sample(&[]);
    broken.configure("local", "");
    let doomed = Project::sample(&[]);
    doomed.configure("local", "");
    // All three share one daemon: the same tagpub dirs.
    for other in [&broken, &doomed] {
        let run = other
            .command(&["watch", "add"])
            .env("TAGPUB_DATA_DIR", good.state.join("data"))
            .env("TAGPUB_RUNTIME_DIR", good.state.join("run"))
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
    }
    // A notifier that records each finished job, and the environment it
    // was given (first, so it is there once the job is).
    let outcomes = good.temp.path().join("outcomes.jsonl");
    let notifier_env = good.temp.path().join("notifier.env");
    let config = std::fs::read_to_string(good.root.join("tagpub.toml")).unwrap();
    good.write(
        "tagpub.toml",
        &format!(
            "{config}\n[notify]\ncommand = [\"sh\", \"-c\", \"env > '{}'; cat >> '{}'; echo >> '{}'\"]\n",
            notifier_env.display(),
            outcomes.display(),
            outcomes.display()
        ),
    );
    good.commit("notify");
    good.run(&["watch", "add"]).assert_ok();
    let _daemon = Daemon::start_with(&good, "2s", &[("PYPI_API_TOKEN", "pypi-notifier-leak")]);

    broken.write("tagpub.toml", "[[package]]\nname = \"x\"\ntagz = []\n");
    broken.commit("break the config");
    broken.tag("v1.0.0");
    std::fs::remove_dir_all(&doomed.root).unwrap();

    good.tag("v1.0.0");
    wait_for(
        &good,
        "the healthy repository's release",
        Duration::from_secs(90),
        || job_state(&good, "v1.0.0").as_deref() == Some("verified"),
    );
    let value = status(&good);
    let problem_of = |root: &Path| {
        let root = root.canonicalize().unwrap_or(root.to_path_buf());
        value["repos"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["workdir"].as_str().map(Path::new) == Some(root.as_path()))
            .map(|r| r["problem"].as_str().unwrap_or_default().to_string())
    };
    let broken_problem = problem_of(&broken.root).expect("the broken repository is listed");
    assert!(
        broken_problem.contains("unknown field `tagz`"),
        "{broken_problem}"
    );
    let doomed_problem = problem_of(&doomed.root).unwrap_or_default();
    assert!(doomed_problem.contains("cannot read tags"), "{value}");
    // The broken repository's tag waits for its config to be fixed.
    assert!(value["jobs"].as_array().unwrap().iter().all(|j| {
        j["tag"] != "v1.0.0"
            || j["git_dir"]
                != broken
                    .root
                    .join(".git")
                    .canonicalize()
                    .unwrap()
                    .to_str()
                    .unwrap()
    }));

    // The notifier heard the verified job, as JSON.
    wait_for(&good, "the notifier", Duration::from_secs(10), || {
        outcomes.exists()
    });
    let line = std::fs::read_to_string(&outcomes).unwrap();
    let outcome: serde_json::Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
    assert_eq!(outcome["tag"], "v1.0.0");
    assert_eq!(outcome["state"], "verified");
    let seen = std::fs::read_to_string(&notifier_env).unwrap();
    assert!(seen.contains("PATH="), "{seen}");
    assert!(
        !seen.contains("pypi-notifier-leak") && !seen.contains("PYPI_API_TOKEN"),
        "the notifier got the token:\n{seen}"
    );
}

#[test]
fn with_trigger_push_a_tag_publishes_only_once_the_remote_has_it() {
    let project = project("0s");
    let config = std::fs::read_to_string(project.root.join("tagpub.toml")).unwrap();
    project.write(
        "tagpub.toml",
        &config.replace("[defaults]\n", "[defaults]\ntrigger = \"push\"\n"),
    );
    project.commit("publish on push");
    project.bare_origin();
    project.run(&["watch", "add"]).assert_ok();
    project.run(&["hooks", "install"]).assert_ok();
    let _daemon = Daemon::start(&project, "10m");

    project.tag("v1.0.0");
    wait_for_state(
        &project,
        "v1.0.0",
        "waiting-for-push",
        Duration::from_secs(10),
    );
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        index_files(&project, "open-ticket-ai").is_empty(),
        "published before the push"
    );
    assert_eq!(
        job_state(&project, "v1.0.0").as_deref(),
        Some("waiting-for-push")
    );

    // The push goes through the pre-push hook, which records it and nudges.
    project
        .git_as_user("git", &["push", "--quiet", "origin", "v1.0.0"])
        .assert_ok();
    wait_for_state(&project, "v1.0.0", "verified", Duration::from_secs(90));
    assert_eq!(index_files(&project, "open-ticket-ai").len(), 2);
}

/// A stand-in for the desktop's notification service
/// (`org.freedesktop.Notifications` on the session bus) that records what
/// it is asked to show.
#[cfg(all(feature = "desktop-notifications", target_os = "linux"))]
mod notification_service {
    use std::sync::{Arc, Mutex};

    pub struct Recorder {
        pub shown: Arc<Mutex<Vec<(String, String, String)>>>,
    }

    #[zbus::interface(name = "org.freedesktop.Notifications")]
    impl Recorder {
        #[allow(clippy::too_many_arguments)]
        fn notify(
            &self,
            app_name: String,
            _replaces_id: u32,
            _app_icon: String,
            summary: String,
            body: String,
            _actions: Vec<String>,
            _hints: std::collections::HashMap<String, zbus::zvariant::OwnedValue>,
            _expire_timeout: i32,
        ) -> u32 {
            let mut shown = self.shown.lock().unwrap();
            shown.push((app_name, summary, body));
            shown.len() as u32
        }

        fn get_capabilities(&self) -> Vec<String> {
            vec!["body".to_string()]
        }

        fn get_server_information(&self) -> (String, String, String, String) {
            let text = |s: &str| s.to_string();
            (
                text("recorder"),
                text("tagpub-tests"),
                text("1"),
                text("1.2"),
            )
        }

        fn close_notification(&self, _id: u32) {}
    }
}

#[cfg(all(feature = "desktop-notifications", target_os = "linux"))]
#[test]
fn a_finished_job_shows_a_desktop_notification_unless_turned_off() {
    use std::io::BufRead;
    use std::sync::{Arc, Mutex};
    // A bus of this test's own: the other tests' daemons notify on the
    // shared session bus at the same time.
    let mut bus = Command::new("dbus-daemon")
        .args(["--session", "--nofork", "--print-address=1"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("dbus-daemon runs (scripts/keyring-session.sh installs it)");
    let mut address = String::new();
    std::io::BufReader::new(bus.stdout.take().unwrap())
        .read_line(&mut address)
        .unwrap();
    let address = address.trim().to_string();
    struct Kill(Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _bus = Kill(bus);
    let shown = Arc::new(Mutex::new(Vec::new()));
    let _service = zbus::blocking::connection::Builder::address(address.as_str())
        .unwrap()
        .name("org.freedesktop.Notifications")
        .unwrap()
        .serve_at(
            "/org/freedesktop/Notifications",
            notification_service::Recorder {
                shown: shown.clone(),
            },
        )
        .unwrap()
        .build()
        .unwrap();

    let project = project("0s");
    project.run(&["watch", "add"]).assert_ok();
    let _daemon = Daemon::start_with(&project, "10m", &[("DBUS_SESSION_BUS_ADDRESS", &address)]);
    project.tag("hf-local-v1.0.0");
    wait_for(
        &project,
        "the notification",
        Duration::from_secs(90),
        || !shown.lock().unwrap().is_empty(),
    );
    assert_eq!(
        shown.lock().unwrap()[0],
        (
            "tagpub".to_string(),
            "tagpub: published hf-local-v1.0.0".to_string(),
            "open-ticket-ai-hf-local (job 1)".to_string()
        )
    );

    let config = std::fs::read_to_string(project.root.join("tagpub.toml")).unwrap();
    project.write(
        "tagpub.toml",
        &format!("{config}\n[notify]\ndesktop = false\n"),
    );
    project.commit("no desktop notifications");
    project.tag("otobo-znuny-v1.0.0");
    wait_for_state(
        &project,
        "otobo-znuny-v1.0.0",
        "verified",
        Duration::from_secs(90),
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        shown.lock().unwrap().len(),
        1,
        "desktop = false shows nothing"
    );
}

#[test]
fn the_daemon_releases_a_tag_with_the_config_of_the_tagged_commit() {
    let project = project("0s");
    project.run(&["watch", "add"]).assert_ok();
    let _daemon = Daemon::start(&project, "10m");
    // Uncommitted edits that would stop the release (no package matches
    // the tag, a build that fails): the tag's own config decides.
    let config = std::fs::read_to_string(project.root.join("tagpub.toml")).unwrap();
    project.write(
        "tagpub.toml",
        &config
            .replace("\"hf-local-v{version}\", ", "")
            .replace("[defaults]\n", "[defaults]\nbuild-command = [\"false\"]\n"),
    );
    project.tag("hf-local-v1.0.0");
    wait_for_state(
        &project,
        "hf-local-v1.0.0",
        "verified",
        Duration::from_secs(90),
    );
    assert_eq!(index_files(&project, "open-ticket-ai-hf-local").len(), 2);
}
