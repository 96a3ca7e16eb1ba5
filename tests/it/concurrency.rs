//! Releases that race each other or die mid-way, against a real pypiserver
//! (behind the fault proxy where an upload must land late). Whatever happens,
//! each file reaches the index exactly once, and a release that died is
//! finished by the next one.
//!
//! Trial counts are small here (`TAGPUB_TRIALS`, default 3; the kill test
//! `TAGPUB_KILL_TRIALS`, default 4); `scripts/stress.sh` runs them large.

use crate::common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::PypiServer;
use crate::common::daemon::Daemon;
use crate::common::project::{Project, Run, files_in};
use crate::common::proxy::{Fault, FaultProxy, Rule};

fn trials(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Bumps the root package to `1.<n>.0`, commits and tags it; returns the tag.
fn next_release(project: &Project, n: usize) -> String {
    let from = if n == 1 {
        "1.0.0".to_string()
    } else {
        format!("1.{}.0", n - 1)
    };
    let to = format!("1.{n}.0");
    tagpub::sample::set_version(&project.root, ".", &from, &to).unwrap();
    project.commit(&format!("release {to}"));
    let tag = format!("v{to}");
    project.tag(&tag);
    tag
}

/// `tagpub release TAG` with the server's token, quick retries and a short
/// upload timeout (so an interrupted upload is waited out in seconds).
fn release_command(project: &Project, server: &PypiServer, tag: &str) -> Command {
    let mut command = project.command(&["release", tag]);
    command
        .env("PYPI_API_TOKEN", &server.token)
        .env("TAGPUB_RETRIES", "3")
        .env("TAGPUB_RETRY_BASE", "50ms")
        .env("TAGPUB_UPLOAD_TIMEOUT", "4s")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn finish(child: Child) -> Run {
    Run::from_output(child.wait_with_output().unwrap())
}

#[track_caller]
fn assert_each_file_once(server: &PypiServer, releases: usize, context: &str) {
    assert_eq!(
        files_in(&server.packages_dir).len(),
        2 * releases,
        "{context}"
    );
    assert_eq!(
        server.uploads(),
        2 * releases,
        "every file reached the index once\n{context}\n{}",
        server.logs()
    );
}

#[test]
fn two_cli_releases_of_one_tag_at_once_send_each_file_once() {
    // An index that takes re-uploads: a second send would be stored, not
    // refused, so the count of POSTs is all that tells.
    let server = PypiServer::start_overwriting();
    let project = Project::publishing_to("racy", &server.url);
    let n = trials("TAGPUB_TRIALS", 3);
    let mut waited = 0;
    for trial in 1..=n {
        let tag = next_release(&project, trial);
        let first = release_command(&project, &server, &tag).spawn().unwrap();
        let second = release_command(&project, &server, &tag).spawn().unwrap();
        let runs = [finish(first), finish(second)];
        let both = format!(
            "trial {trial}:\n--- first\n{}\n--- second\n{}",
            runs[0].stderr, runs[1].stderr
        );
        for run in &runs {
            assert_eq!(run.code, 0, "{both}");
        }
        let published = runs
            .iter()
            .filter(|r| r.stderr.contains("published open-ticket-ai"))
            .count();
        assert_eq!(published, 1, "exactly one of them uploaded\n{both}");
        let waiting = runs
            .iter()
            .filter(|r| r.stderr.contains("is releasing open-ticket-ai 1."))
            .count();
        if waiting == 1 {
            let loser = runs
                .iter()
                .find(|r| r.stderr.contains("is releasing"))
                .unwrap();
            assert!(
                loser.stderr.contains("another tagpub (pid ") && loser.stderr.contains("waiting"),
                "{both}"
            );
            waited += 1;
        }
        assert_each_file_once(&server, trial, &both);
    }
    // Started together, the second almost always finds the first building.
    assert!(waited > 0, "no trial ever waited for the other release");
}

fn job_state(project: &Project, tag: &str) -> Option<String> {
    let status: serde_json::Value =
        serde_json::from_str(&project.run(&["status", "--json"]).stdout).ok()?;
    status["jobs"]
        .as_array()?
        .iter()
        .rev()
        .find(|j| j["tag"] == tag)
        .map(|j| j["state"].as_str().unwrap_or_default().to_string())
}

#[test]
fn a_cli_release_racing_the_daemon_sends_each_file_once() {
    let server = PypiServer::start();
    let project = Project::publishing_to("racy", &server.url);
    project.run(&["watch", "add"]).assert_ok();
    let _daemon = Daemon::start_with(
        &project,
        "10m",
        &[
            ("PYPI_API_TOKEN", server.token.as_str()),
            ("TAGPUB_UPLOAD_TIMEOUT", "4s"),
        ],
    );
    let n = trials("TAGPUB_TRIALS", 3);
    for trial in 1..=n {
        let tag = next_release(&project, trial);
        // The watch sees the tag within milliseconds; the CLI starts now.
        let cli = finish(release_command(&project, &server, &tag).spawn().unwrap());
        assert_eq!(cli.code, 0, "trial {trial}:\n{}", cli.stderr);
        let started = Instant::now();
        loop {
            match job_state(&project, &tag).as_deref() {
                Some("verified") => break,
                Some(state @ ("failed" | "conflict" | "cancelled")) => panic!(
                    "trial {trial}: the daemon's job is {state}\n{}\n--- cli\n{}",
                    project.run(&["status"]).stderr,
                    cli.stderr
                ),
                _ => {}
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "trial {trial}: the job did not finish\n{}",
                project.run(&["status", "--json"]).stdout
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_each_file_once(&server, trial, &format!("trial {trial}\n{}", cli.stderr));
    }
}

/// Polls until this release's record notes a file whose name starts with
/// `file` in flight.
fn wait_for_in_flight(project: &Project, file: &str, limit: Duration) -> bool {
    let releases = project.state.join("data/releases");
    let mark = format!("\"in_flight\": \"{file}");
    let started = Instant::now();
    while started.elapsed() < limit {
        let in_flight = walk(&releases)
            .into_iter()
            .filter(|p| p.ends_with("record.json"))
            .any(|p| std::fs::read_to_string(p).is_ok_and(|t| t.contains(&mark)));
        if in_flight {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}

fn kill_9(child: &mut Child) {
    // SIGKILL: no destructor, no flush, as a crash or an OOM kill would end it.
    child.kill().unwrap();
    let _ = child.wait();
}

#[test]
fn an_upload_interrupted_by_a_crash_is_not_sent_again_while_it_can_still_land() {
    let server = PypiServer::start();
    let proxy = FaultProxy::start(&server.url);
    let project = Project::publishing_to("racy", &proxy.url());
    // The first file, then (with the first already on the index) the second.
    for (n, position) in [(1, 1), (2, 2)] {
        let tag = next_release(&project, n);
        // Wheels go first, then the sdist.
        let file = if position == 1 {
            format!("open_ticket_ai-1.{n}.0-py3-none-any.whl")
        } else {
            format!("open_ticket_ai-1.{n}.0.tar.gz")
        };
        if position == 2 {
            proxy.push(Rule::new("POST", Fault::DelayRequest(Duration::ZERO)));
        }
        // That POST reaches the server 2 s after it was sent, though its
        // sender is dead by then.
        proxy.push(Rule::new(
            "POST",
            Fault::DelayRequest(Duration::from_secs(2)),
        ));
        let mut first = release_command(&project, &server, &tag).spawn().unwrap();
        assert!(
            wait_for_in_flight(&project, &file, Duration::from_secs(60)),
            "the release never started uploading {file}"
        );
        std::thread::sleep(Duration::from_millis(300));
        kill_9(&mut first);

        let rerun = Run::from_output(release_command(&project, &server, &tag).output().unwrap());
        rerun.assert_ok();
        assert!(
            rerun
                .stderr
                .contains(&format!("the upload of {file} to racy was interrupted")),
            "the rerun said nothing of the interrupted upload:\n{}",
            rerun.stderr
        );
        assert_each_file_once(
            &server,
            n,
            &format!("{}\n{}", rerun.stderr, proxy.log_text()),
        );
    }
}

#[test]
fn a_release_killed_at_random_instants_is_finished_by_the_next_with_each_file_once() {
    let server = PypiServer::start();
    let proxy = FaultProxy::start(&server.url);
    let project = Project::publishing_to("racy", &proxy.url());
    // Every upload is stored 400 ms after it was sent, so kills land inside
    // uploads (and the index may store a file after its sender died).
    proxy
        .push(Rule::new("POST", Fault::DelayRequest(Duration::from_millis(400))).times(usize::MAX));
    let mut rng = common::Rng::from_env();
    // Two clean releases first (the first warms the build caches): how long
    // a whole run takes here. Kills are spread over that time; the run
    // length is updated as the trials go, as the machine's load changes.
    let mut whole_run = 0;
    for n in 1..=2 {
        let tag = next_release(&project, n);
        let started = Instant::now();
        Run::from_output(release_command(&project, &server, &tag).output().unwrap()).assert_ok();
        whole_run = started.elapsed().as_millis() as u64;
    }

    let n = trials("TAGPUB_KILL_TRIALS", 4);
    let mut landed = Vec::new();
    for trial in 3..=n + 2 {
        let tag = next_release(&project, trial);
        let started = Instant::now();
        let mut child = release_command(&project, &server, &tag).spawn().unwrap();
        // A third of the kills at any instant of the run (mostly the build),
        // a third inside an upload, a third while verifying.
        let files = format!("open_ticket_ai-1.{trial}.0");
        match rng.below(3) {
            0 => std::thread::sleep(Duration::from_millis(rng.below(whole_run + 1))),
            1 => {
                wait_for_in_flight(&project, &files, Duration::from_secs(60));
                std::thread::sleep(Duration::from_millis(rng.below(600)));
            }
            _ => {
                let waiting = Instant::now();
                while stage_of(&project, &tag) != "verifying"
                    && waiting.elapsed() < Duration::from_secs(60)
                    && child.try_wait().unwrap().is_none()
                {
                    std::thread::sleep(Duration::from_millis(2));
                }
                std::thread::sleep(Duration::from_millis(rng.below(30)));
            }
        }
        let kill_at = started.elapsed();
        let finished = child.try_wait().unwrap().is_some();
        kill_9(&mut child);
        let stage = stage_of(&project, &tag);
        let rerun = Run::from_output(release_command(&project, &server, &tag).output().unwrap());
        assert_eq!(
            rerun.code, 0,
            "{tag}, killed after {kill_at:?} while {stage}:\n{}",
            rerun.stderr
        );
        if finished {
            // The machine got faster: aim the next kills inside a run.
            whole_run = started.elapsed().as_millis() as u64;
        }
        landed.push(format!(
            "{tag}: killed after {} ms, {stage}",
            kill_at.as_millis()
        ));
        assert_each_file_once(
            &server,
            trial,
            &format!(
                "{}\n{}\n{}",
                landed.join("\n"),
                rerun.stderr,
                proxy.log_text()
            ),
        );
    }
    eprintln!(
        "{} kills, a whole run about {whole_run} ms:\n{}",
        landed.len(),
        landed.join("\n")
    );
}

/// Where a killed release of `tag` stood, from its record.
fn stage_of(project: &Project, tag: &str) -> &'static str {
    let record = walk(&project.state.join("data/releases"))
        .into_iter()
        .filter(|p| p.ends_with("record.json"))
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .filter_map(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .find(|r| r["tag"] == tag);
    let Some(record) = record else {
        return "building";
    };
    let state = &record["repositories"]["racy"];
    let uploaded = state["uploaded"].as_array().map_or(0, Vec::len);
    if state["verified"] == true {
        "done"
    } else if state["in_flight"].is_string() {
        "uploading"
    } else if uploaded == 2 {
        "verifying"
    } else {
        "checked, before or between uploads"
    }
}

#[test]
fn a_tag_moved_during_its_build_gets_no_upload() {
    let server = PypiServer::start();
    let project = Project::publishing_to("racy", &server.url);
    // A build that takes a second, so the tag can move meanwhile.
    project.build_with_prelude("sleep 1", &project.temp.path().join("unused"));
    let tag = next_release(&project, 1);
    let child = release_command(&project, &server, &tag).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    project.write("CHANGES", "moved\n");
    project.commit("another commit");
    common::project::git(&project.root, &["tag", "-f", "-a", "-m", "moved", &tag]);
    let run = finish(child);
    run.assert_fails(1, "moved while it was being released");
    assert_eq!(server.uploads(), 0, "{}", run.stderr);
    assert!(files_in(&server.packages_dir).is_empty());
}

#[test]
fn a_rerun_that_finishes_a_crashed_release_reports_it_published_then_complete() {
    let server = PypiServer::start();
    let project = Project::publishing_to("racy", &server.url);
    let tag = next_release(&project, 1);
    // Killed after every file is up, before verifying.
    let crashed = release_command(&project, &server, &tag)
        .env("TAGPUB_FAULT", "before-verify")
        .output()
        .unwrap();
    assert!(!crashed.status.success());
    assert_eq!(server.uploads(), 2);

    let rerun = Run::from_output(release_command(&project, &server, &tag).output().unwrap());
    rerun.assert_ok();
    assert!(
        rerun.stderr.contains("published open-ticket-ai 1.1.0"),
        "the run that finished the release must say it was published:\n{}",
        rerun.stderr
    );
    let again = Run::from_output(release_command(&project, &server, &tag).output().unwrap());
    again.assert_ok();
    assert!(
        again.stderr.contains("already complete"),
        "{}",
        again.stderr
    );
    assert_each_file_once(&server, 1, &again.stderr);
}
