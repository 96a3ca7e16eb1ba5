//! Release groups end to end: one tag releasing several packages of the
//! sample monorepo (whose plugins depend on the core) to a real pypiserver.

use crate::common;

use crate::common::PypiServer;
use crate::common::project::{Project, Run, files_in};

/// The sample's three packages as one group released by `v{version}`,
/// listed plugins first so that only `Requires-Dist` can put the core first.
fn group_project(server: &PypiServer, extra: &str) -> Project {
    let project = Project::sample(&[]);
    project.write(
        "tagpub.toml",
        &format!(
            "[defaults]\nrepository = \"testindex\"\n\n\
             [[package]]\nname = \"open-ticket-ai\"\npath = \".\"\n\n\
             [[package]]\nname = \"open-ticket-ai-hf-local\"\npath = \"src/open_ticket_ai_hf_local\"\n\n\
             [[package]]\nname = \"open-ticket-ai-otobo-znuny-plugin\"\npath = \"src/open_ticket_ai_otobo_znuny_plugin\"\n\n\
             [[group]]\nname = \"open-ticket-ai\"\ntags = [\"v{{version}}\"]\n\
             packages = [\"open-ticket-ai-hf-local\", \"open-ticket-ai-otobo-znuny-plugin\", \"open-ticket-ai\"]\n\n\
             [repository.testindex]\nurl = \"{}\"\n{extra}",
            server.url
        ),
    );
    project.commit("one tag for the three packages");
    project
}

const ALL_FILES: [&str; 6] = [
    "open_ticket_ai-1.0.0-py3-none-any.whl",
    "open_ticket_ai-1.0.0.tar.gz",
    "open_ticket_ai_hf_local-1.0.0-py3-none-any.whl",
    "open_ticket_ai_hf_local-1.0.0.tar.gz",
    "open_ticket_ai_otobo_znuny_plugin-1.0.0-py3-none-any.whl",
    "open_ticket_ai_otobo_znuny_plugin-1.0.0.tar.gz",
];

fn release(project: &Project, server: &PypiServer, args: &[&str]) -> Run {
    project.run_with_token(args, "PYPI_API_TOKEN", &server.token)
}

fn sorted_files(server: &PypiServer) -> Vec<String> {
    let mut files = files_in(&server.packages_dir);
    files.sort();
    files
}

/// When the index stored `file` (pypiserver writes each upload once).
fn stored_at(server: &PypiServer, file: &str) -> std::time::SystemTime {
    std::fs::metadata(server.packages_dir.join(file))
        .and_then(|m| m.modified())
        .unwrap()
}

#[test]
fn a_group_tag_plans_and_releases_every_member_in_dependency_order() {
    let server = PypiServer::start();
    let project = group_project(&server, "");
    project.tag("v1.0.0");

    let plan = release(&project, &server, &["plan", "v1.0.0"]);
    plan.assert_ok();
    assert!(
        plan.stderr
            .contains("group      open-ticket-ai 1.0.0 (3 packages, released together)"),
        "{}",
        plan.stderr
    );
    for member in [
        "open-ticket-ai 1.0.0",
        "open-ticket-ai-hf-local 1.0.0",
        "open-ticket-ai-otobo-znuny-plugin 1.0.0",
    ] {
        assert!(
            plan.stderr.contains(&format!("package    {member}")),
            "{member}:\n{}",
            plan.stderr
        );
    }
    let json = release(&project, &server, &["plan", "v1.0.0", "--json"]);
    json.assert_ok();
    let value: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(value["plan"]["group"], "open-ticket-ai");
    assert_eq!(value["plan"]["members"].as_array().unwrap().len(), 3);

    let run = release(&project, &server, &["release", "v1.0.0", "--json"]);
    run.assert_ok();
    let summary: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let order: Vec<&str> = summary["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["package"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        [
            "open-ticket-ai",
            "open-ticket-ai-hf-local",
            "open-ticket-ai-otobo-znuny-plugin"
        ],
        "the core goes first: both plugins require it"
    );
    assert!(
        summary["members"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["status"] == "published"),
        "{}",
        run.stdout
    );
    assert_eq!(sorted_files(&server), ALL_FILES);
    assert_eq!(server.uploads(), 6);
    // The index stored the core before either plugin.
    let core = stored_at(&server, "open_ticket_ai-1.0.0-py3-none-any.whl");
    for plugin in [
        "open_ticket_ai_hf_local-1.0.0.tar.gz",
        "open_ticket_ai_otobo_znuny_plugin-1.0.0.tar.gz",
    ] {
        assert!(
            core <= stored_at(&server, plugin),
            "{plugin} before the core"
        );
    }

    let again = release(&project, &server, &["release", "v1.0.0"]);
    again.assert_ok();
    assert!(
        again.stderr.contains("is already complete")
            && again.stderr.contains("group open-ticket-ai 1.0.0"),
        "{}",
        again.stderr
    );
    assert_eq!(server.uploads(), 6, "a second run uploads nothing");
}

#[test]
fn a_member_that_fails_to_build_stops_the_group_before_any_upload() {
    let server = PypiServer::start();
    let project = group_project(&server, "");
    let config = std::fs::read_to_string(project.root.join("tagpub.toml")).unwrap();
    project.write(
        "tagpub.toml",
        &config.replace(
            "path = \"src/open_ticket_ai_otobo_znuny_plugin\"\n",
            "path = \"src/open_ticket_ai_otobo_znuny_plugin\"\nbuild-command = [\"sh\", \"-c\", \"echo the otobo build broke >&2; exit 3\"]\n",
        ),
    );
    project.commit("a broken member build");
    project.tag("v1.0.0");
    let run = release(&project, &server, &["release", "v1.0.0"]);
    run.assert_fails(
        1,
        "1 of the 3 packages of open-ticket-ai failed before anything was uploaded",
    );
    assert!(
        run.stderr.contains("open-ticket-ai-otobo-znuny-plugin: "),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("the otobo build broke"),
        "{}",
        run.stderr
    );
    assert_eq!(server.uploads(), 0);
    assert!(files_in(&server.packages_dir).is_empty());
}

#[test]
fn a_member_whose_version_differs_fails_the_plan_of_the_whole_group() {
    let server = PypiServer::start();
    let project = group_project(&server, "");
    let path = "src/open_ticket_ai_hf_local/pyproject.toml";
    let pyproject = std::fs::read_to_string(project.root.join(path)).unwrap();
    project.write(
        path,
        &pyproject.replace("version = \"1.0.0\"", "version = \"1.0.1\""),
    );
    project.commit("hf-local moves ahead");
    project.tag("v1.0.0");
    let plan = release(&project, &server, &["plan", "v1.0.0"]);
    assert_eq!(plan.code, 1, "{}", plan.stderr);
    let run = release(&project, &server, &["release", "v1.0.0"]);
    run.assert_fails(1, "v1.0.0 cannot be released");
    assert!(
        run.stderr.contains("✗ open-ticket-ai-hf-local: version:"),
        "the failure names the member:\n{}",
        run.stderr
    );
    assert_eq!(server.uploads(), 0);
}

#[test]
fn a_conflict_in_any_member_stops_the_group_before_the_first_upload() {
    let server = PypiServer::start();
    let project = group_project(&server, "");
    project.tag("v1.0.0");
    // The last member to upload already has a file of this version with
    // other bytes on the index.
    let other = common::write_wheel(
        project.temp.path(),
        "open-ticket-ai-otobo-znuny-plugin",
        "1.0.0",
        "other bytes",
    );
    std::fs::copy(&other, server.packages_dir.join(other.file_name().unwrap())).unwrap();
    let run = release(&project, &server, &["release", "v1.0.0"]);
    run.assert_fails(
        1,
        "already has open_ticket_ai_otobo_znuny_plugin-1.0.0-py3-none-any.whl with other bytes",
    );
    assert_eq!(server.uploads(), 0, "the core must not be uploaded either");
}

#[test]
fn a_group_release_killed_between_members_resumes_and_sends_each_file_once() {
    let server = PypiServer::start();
    let project = group_project(&server, "");
    project.tag("v1.0.0");
    // Killed right after the first member (the core) is published and verified.
    let mut command = project.command(&["release", "v1.0.0"]);
    command
        .env("PYPI_API_TOKEN", &server.token)
        .env("TAGPUB_FAULT", "member-published");
    let crashed = command.output().unwrap();
    assert!(!crashed.status.success());
    assert_eq!(
        sorted_files(&server),
        [
            "open_ticket_ai-1.0.0-py3-none-any.whl",
            "open_ticket_ai-1.0.0.tar.gz"
        ],
        "only the core was out when it crashed"
    );

    let rerun = release(&project, &server, &["release", "v1.0.0"]);
    rerun.assert_ok();
    assert!(
        rerun
            .stderr
            .contains("open-ticket-ai 1.0.0 is already complete")
            && rerun
                .stderr
                .contains("published open-ticket-ai-hf-local 1.0.0")
            && rerun
                .stderr
                .contains("published open-ticket-ai-otobo-znuny-plugin 1.0.0"),
        "{}",
        rerun.stderr
    );
    assert_eq!(sorted_files(&server), ALL_FILES);
    assert_eq!(server.uploads(), 6, "each file was sent exactly once");
}

#[test]
fn ci_resolve_doctor_and_the_pre_push_gate_understand_a_group_tag() {
    let server = PypiServer::start();
    let project = group_project(&server, "");
    project.tag("v1.0.0");
    let resolved = project.run(&["ci", "resolve", "v1.0.0"]);
    resolved.assert_ok();
    assert!(
        resolved
            .stdout
            .contains("package=open-ticket-ai\nversion=1.0.0\nrepository=testindex\n"),
        "{}",
        resolved.stdout
    );
    assert!(
        resolved.stderr.contains(
            "(group: open-ticket-ai-hf-local, open-ticket-ai-otobo-znuny-plugin, open-ticket-ai)"
        ),
        "{}",
        resolved.stderr
    );
    let doctor = project.run(&["doctor"]);
    assert!(
        doctor.stderr.contains("3 package(s) and 1 group(s), valid")
            && doctor.stderr.contains(
                "tags: released by `v{version}` (group open-ticket-ai: open-ticket-ai-hf-local, open-ticket-ai-otobo-znuny-plugin, open-ticket-ai)"
            ),
        "{}",
        doctor.stderr
    );
    let gitlab = project.run(&["ci", "gitlab"]);
    gitlab.assert_ok();
    let pipeline =
        std::fs::read_to_string(project.root.join(".gitlab/tagpub-release.yml")).unwrap();
    assert!(
        pipeline.contains("# group open-ticket-ai: v{version}"),
        "{pipeline}"
    );

    // A member tagged at a version its pyproject does not have: the gate
    // refuses the group tag and names the member.
    let path = "src/open_ticket_ai_hf_local/pyproject.toml";
    let pyproject = std::fs::read_to_string(project.root.join(path)).unwrap();
    project.write(
        path,
        &pyproject.replace("version = \"1.0.0\"", "version = \"1.1.0\""),
    );
    project.commit("hf-local only");
    project.tag("v1.1.0");
    let remote = project.temp.path().join("remote.git");
    common::project::git(
        project.temp.path(),
        &["init", "--quiet", "--bare", remote.to_str().unwrap()],
    );
    common::project::git(
        &project.root,
        &["remote", "add", "origin", remote.to_str().unwrap()],
    );
    project.run(&["hooks", "install"]).assert_ok();
    let push = project.git_as_user("git", &["push", "origin", "v1.1.0"]);
    assert_ne!(push.code, 0, "{}", push.stderr);
    assert!(
        push.stderr.contains("refusing to push v1.1.0")
            && push.stderr.contains("✗ open-ticket-ai: version:"),
        "{}",
        push.stderr
    );
    let push = project.git_as_user("git", &["push", "origin", "v1.0.0"]);
    assert_eq!(push.code, 0, "{}", push.stderr);
    assert!(
        push.stderr.contains("✓ v1.0.0 (open-ticket-ai 1.0.0)"),
        "{}",
        push.stderr
    );
}

#[test]
fn the_daemon_releases_a_new_group_tag_as_one_job() {
    let server = PypiServer::start();
    let project = group_project(&server, "");
    project.add_defaults("grace = \"0s\"\n", "no grace");
    project.run(&["watch", "add"]).assert_ok();
    let _daemon = common::daemon::Daemon::start_with(
        &project,
        "10m",
        &[("PYPI_API_TOKEN", server.token.as_str())],
    );
    project.tag("v1.0.0");
    let started = std::time::Instant::now();
    let job = loop {
        let run = project.run(&["status", "--json"]);
        let status: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let job = status["jobs"]
            .as_array()
            .and_then(|jobs| jobs.iter().find(|j| j["tag"] == "v1.0.0").cloned());
        if let Some(job) = job.filter(|j| j["state"] == "verified" || j["state"] == "failed") {
            break job;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(180),
            "no finished job for v1.0.0:\n{}\n{}",
            run.stdout,
            common::daemon::daemon_log(&project)
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(job["state"], "verified", "{job}");
    assert_eq!(
        job["package"], "open-ticket-ai",
        "the job is named after the group"
    );
    assert!(
        job["message"].as_str().is_some_and(|m| m.starts_with(
            "group open-ticket-ai 1.0.0: open-ticket-ai on testindex published and verified"
        )),
        "{job}"
    );
    assert_eq!(sorted_files(&server), ALL_FILES);
    assert_eq!(server.uploads(), 6);
}
