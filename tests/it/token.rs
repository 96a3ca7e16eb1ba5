//! Tokens in the OS keychain, end to end: `tagpub token`, the lookup chain,
//! refusing tokens the index would refuse, Python keyring interop, and the
//! token never leaking. Runs inside a real Secret Service (gnome-keyring in
//! a private D-Bus session, set up by scripts/test.sh).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::project::{Project, Run, files_in};
use crate::common::{PypiServer, unique, venv_bin};
use tagpub::credentials::macaroon;

/// A PyPI-shaped token scoped to `projects` (unsigned: pypiserver only
/// compares it as a password).
fn token_for(projects: &[&str], expires: Option<i64>) -> String {
    let names = projects
        .iter()
        .map(|p| format!("\"{p}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let mut caveats = vec![format!("[1, [{names}]]")];
    if let Some(expires) = expires {
        caveats.push(format!("[0, {expires}, 0]"));
    }
    let caveats: Vec<&str> = caveats.iter().map(String::as_str).collect();
    macaroon::encode("pypi.org", &unique("id-"), &caveats)
}

/// The sample monorepo publishing to `server` under a repository name no
/// other test uses, so keychain entries never collide.
fn project_for(server: &PypiServer) -> (Project, String) {
    let repository = unique("kc");
    let project = Project::sample(&[]);
    project.configure(
        &repository,
        &format!("\n[repository.{repository}]\nurl = \"{}\"\n", server.url),
    );
    (project, repository)
}

fn python_keyring(args: &[&str], input: Option<&str>) -> String {
    let mut child = Command::new(venv_bin("python"))
        .args(["-m", "keyring"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    if let Some(input) = input {
        writeln!(stdin, "{input}").unwrap();
    }
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "python -m keyring {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// Every file under `dir`, read as bytes, must not contain `needle`.
fn assert_not_in_files(dir: &Path, needle: &str) {
    for entry in walk(dir) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "the token is in {}",
            entry.display()
        );
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() && !path.is_symlink() {
            files.extend(walk(&path));
        } else if path.is_file() {
            files.push(path);
        }
    }
    files
}

#[test]
fn package_token_from_the_keychain_publishes_and_never_leaks() {
    let token = token_for(&["open-ticket-ai-hf-local"], None);
    let server = PypiServer::start_with_token(&token);
    let (project, repository) = project_for(&server);
    // A build command that records the environment the build sees (into a
    // dir the build sandbox is told to allow).
    let dump_dir = project.temp.path().join("dump");
    let env_dump = dump_dir.join("build-env.txt");
    project.build_with_prelude(&format!("env > '{}'", env_dump.display()), &dump_dir);
    project.tag("hf-local-v1.0.0");

    let set = project.run_with_stdin(
        &[
            "token",
            "set",
            "--repository",
            &repository,
            "--package",
            "open-ticket-ai-hf-local",
            "--stdin",
        ],
        &format!("{token}\n"),
    );
    set.assert_ok();
    assert!(
        set.stderr.contains("projects: open-ticket-ai-hf-local"),
        "{}",
        set.stderr
    );

    let release = project
        .command(&["release", "hf-local-v1.0.0", "-vv"])
        .env("TAGPUB_LOG", "trace")
        .output()
        .unwrap();
    let release = Run::from_output(release);
    release.assert_ok();
    assert!(
        release.stderr.contains(&format!(
            "keychain entry {repository}/open-ticket-ai-hf-local (package-scoped)"
        )),
        "{}",
        release.stderr
    );
    assert_eq!(
        files_in(&server.packages_dir),
        [
            "open_ticket_ai_hf_local-1.0.0-py3-none-any.whl",
            "open_ticket_ai_hf_local-1.0.0.tar.gz"
        ]
    );
    // The token is nowhere but the keychain: not in output at TRACE, not
    // in any file tagpub wrote, not in the build's environment.
    assert!(!release.stdout.contains(&token) && !release.stderr.contains(&token));
    assert_not_in_files(&project.state, &token);
    assert_not_in_files(&project.root, &token);
    let env = std::fs::read_to_string(&env_dump).unwrap();
    assert!(!env.contains(&token), "the build saw the token");
}

#[test]
fn token_list_get_and_delete_tell_where_each_token_comes_from() {
    let server = PypiServer::start();
    let (project, repository) = project_for(&server);
    let scoped = token_for(&["open-ticket-ai-hf-local"], Some(4_102_444_800));
    project
        .run_with_stdin(
            &[
                "token",
                "set",
                "-r",
                &repository,
                "-p",
                "open-ticket-ai-hf-local",
                "--stdin",
            ],
            &scoped,
        )
        .assert_ok();
    let shared = token_for(
        &["open-ticket-ai", "open-ticket-ai-otobo-znuny-plugin"],
        None,
    );
    project
        .run_with_stdin(&["token", "set", "-r", &repository, "--stdin"], &shared)
        .assert_ok();

    let list = project.run(&["token", "list", "--json"]);
    list.assert_ok();
    assert!(!list.stdout.contains(&scoped) && !list.stdout.contains(&shared));
    let value: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    let row = |package: &str| {
        value["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["package"] == package && r["repository"] == repository.as_str())
            .unwrap()
            .clone()
    };
    let hf = row("open-ticket-ai-hf-local");
    assert_eq!(hf["source"]["kind"], "keychain");
    assert_eq!(hf["source"]["service"], "tagpub");
    assert_eq!(hf["scope"]["projects"][0], "open-ticket-ai-hf-local");
    assert_eq!(hf["scope"]["expires"], 4_102_444_800i64);
    assert_eq!(hf["token"], macaroon::redact(&scoped));
    let core = row("open-ticket-ai");
    assert_eq!(core["source"]["service"], server.url.as_str());
    assert_eq!(core["source"]["user"], "__token__");
    assert!(core["problem"].is_null());

    let text = project.run(&["token", "list"]);
    text.assert_ok();
    assert!(text.stderr.contains(&format!(
        "open-ticket-ai-hf-local on {repository}: keychain entry {repository}/open-ticket-ai-hf-local (package-scoped)"
    )), "{}", text.stderr);
    assert!(
        text.stderr.contains("expires 2100-01-01T00:00:00Z"),
        "{}",
        text.stderr
    );

    let get = project.run(&[
        "token",
        "get",
        "-r",
        &repository,
        "-p",
        "open-ticket-ai-hf-local",
    ]);
    get.assert_ok();
    assert!(get.stderr.contains(&macaroon::redact(&scoped)) && !get.stdout.contains(&scoped));
    project
        .run(&["token", "get", "-r", &repository, "--show"])
        .assert_fails(2, "only to a terminal");

    // Delete removes exactly the package entry; the repository entry stays.
    project
        .run(&[
            "token",
            "delete",
            "-r",
            &repository,
            "-p",
            "open-ticket-ai-hf-local",
        ])
        .assert_ok();
    project
        .run(&[
            "token",
            "get",
            "-r",
            &repository,
            "-p",
            "open-ticket-ai-hf-local",
        ])
        .assert_fails(1, "is stored in the keychain");
    project
        .run(&["token", "get", "-r", &repository])
        .assert_ok();
    project
        .run(&["token", "delete", "-r", &repository])
        .assert_ok();
    project
        .run(&["token", "delete", "-r", &repository])
        .assert_fails(1, "nothing deleted");
}

#[test]
fn tokens_are_never_taken_from_argv_and_are_validated() {
    let server = PypiServer::start();
    let (project, repository) = project_for(&server);
    // No --stdin and stdin is not a terminal: refused, never blocks.
    project
        .run(&["token", "set", "-r", &repository])
        .assert_fails(2, "pipe the token in with --stdin");
    // There is no way to pass it as an argument.
    let argv = project.run(&["token", "set", "-r", &repository, "pypi-AgEIcHlwaS5vcmc"]);
    assert_eq!(argv.code, 2, "{}", argv.stderr);
    project
        .run_with_stdin(
            &["token", "set", "-r", "pypi", "--stdin"],
            "ghp_notapypitoken",
        )
        .assert_fails(2, "this is not a PyPI API token");
    project
        .run_with_stdin(&["token", "set", "-r", &repository, "--stdin"], "two words")
        .assert_fails(2, "whitespace");
    // A token scoped to another project is refused when stored for a package.
    let other = token_for(&["someone-else"], None);
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
            &other,
        )
        .assert_fails(
            2,
            "this token is scoped to project someone-else, not open-ticket-ai",
        );
}

#[test]
fn wrong_scope_and_expired_tokens_are_refused_before_building() {
    let wrong = token_for(&["someone-else"], None);
    let server = PypiServer::start_with_token(&wrong);
    let (project, repository) = project_for(&server);
    project.tag("v1.0.0");
    // Stored for the whole repository, so `set` cannot know the package.
    project
        .run_with_stdin(&["token", "set", "-r", &repository, "--stdin"], &wrong)
        .assert_ok();
    project.run(&["release", "v1.0.0"]).assert_fails(
        1,
        "this token is scoped to project someone-else, not open-ticket-ai",
    );
    assert_eq!(files_in(&server.packages_dir), Vec::<String>::new());
    assert!(
        !project.state.join("data/releases").exists(),
        "nothing may be built"
    );

    project
        .run(&["token", "delete", "-r", &repository])
        .assert_ok();

    let expired = token_for(&["open-ticket-ai"], Some(1_000_000_000));
    let run = project.run_with_token(&["release", "v1.0.0"], "PYPI_API_TOKEN", &expired);
    run.assert_fails(1, "this token expired at 2001-09-09T01:46:40Z");
    assert!(!run.stderr.contains(&expired));
    assert!(
        !project.state.join("data/releases").exists(),
        "nothing may be built"
    );
}

#[test]
fn python_keyring_and_tagpub_share_repository_tokens() {
    let token = token_for(&["open-ticket-ai"], None);
    let server = PypiServer::start_with_token(&token);
    let (project, repository) = project_for(&server);
    project.tag("v1.0.0");
    // What `keyring set URL __token__` (twine's own setup step) writes is found…
    python_keyring(&["set", &server.url, "__token__"], Some(&token));
    let release = project.run(&["release", "v1.0.0"]);
    release.assert_ok();
    assert!(
        release.stderr.contains("(shared with twine/keyring)"),
        "{}",
        release.stderr
    );
    assert_eq!(files_in(&server.packages_dir).len(), 2);

    // …and what tagpub stores for a repository, twine's keyring reads.
    let other = token_for(&["open-ticket-ai"], None);
    project
        .run_with_stdin(&["token", "set", "-r", &repository, "--stdin"], &other)
        .assert_ok();
    assert_eq!(
        python_keyring(&["get", &server.url, "__token__"], None),
        other
    );
    project
        .run(&["token", "delete", "-r", &repository])
        .assert_ok();
}

#[test]
fn without_a_secret_service_the_message_says_what_to_do() {
    let server = PypiServer::start();
    let (project, repository) = project_for(&server);
    project.tag("v1.0.0");
    let no_bus = |args: &[&str]| {
        Run::from_output(
            project
                .command(args)
                .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
                .env("XDG_RUNTIME_DIR", "/nonexistent")
                .output()
                .unwrap(),
        )
    };
    let started = std::time::Instant::now();
    let list = no_bus(&["token", "list"]);
    list.assert_ok();
    assert!(
        list.stderr.contains("the keychain was not searched"),
        "{}",
        list.stderr
    );
    assert!(
        list.stderr.contains("dbus-run-session") || list.stderr.contains("environment variable"),
        "{}",
        list.stderr
    );
    let get = no_bus(&["token", "get", "-r", &repository]);
    get.assert_fails(1, "Secret Service");
    // The release says why the keychain was skipped when no token is found…
    no_bus(&["release", "v1.0.0", "--dry-run"]).assert_ok();
    no_bus(&["release", "v1.0.0"]).assert_fails(1, "The keychain was not searched");
    // …and an environment token works without any keychain.
    let with_env = Run::from_output(
        project
            .command(&["release", "v1.0.0"])
            .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
            .env("XDG_RUNTIME_DIR", "/nonexistent")
            .env("PYPI_API_TOKEN", &server.token)
            .output()
            .unwrap(),
    );
    with_env.assert_ok();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "no hang without D-Bus"
    );
}
