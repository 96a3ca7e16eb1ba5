//! The signed-tag policy end to end, with real signatures: throwaway
//! OpenPGP keys in temporary GNUPGHOMEs (one that verifies, one the
//! verifier has never seen), an expired and a revoked key, SSH keys from
//! ssh-keygen with an allowed-signers file. Every verdict goes through
//! `plan --json`, a real `git push` through the installed pre-push hook,
//! and `release`; the daemon gets the representative cases.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::daemon::{Daemon, daemon_log};
use crate::common::project::{Project, Run, git, git_command};
use serde_json::Value;

/// gpg and ssh-keygen are needed; scripts/keyring-session.sh (which every
/// test run goes through) installs them. Never skipped.
fn require_tools() {
    for tool in ["gpg", "gpgconf", "ssh-keygen"] {
        let found = Command::new(tool)
            .arg("--version")
            .output()
            .map(|_| true)
            .unwrap_or(false);
        assert!(
            found,
            "{tool} is missing: the signed-tag tests sign for real. Run the tests through scripts/keyring-session.sh (it installs gnupg and openssh-client), or apt-get install gnupg openssh-client"
        );
    }
}

/// Every key the tests sign with, in a temp dir; gpg-agents started for
/// its homes are killed on drop. Nothing uses the user's ~/.gnupg or ~/.ssh.
struct Keys {
    dir: tempfile::TempDir,
    /// The keyring tagpub verifies with.
    gnupg: PathBuf,
    /// A keyring whose key the verifier does not know.
    stranger: PathBuf,
    test_fpr: String,
    past_fpr: String,
    revoked_fpr: String,
    stranger_fpr: String,
    /// `gpg` at 2020-01-01, when the expired key was valid.
    gpg_past: PathBuf,
    alice: PathBuf,
    alice_fp: String,
    mallory: PathBuf,
    allowed_signers: PathBuf,
}

fn run_ok(command: &mut Command) -> String {
    let output = command.output().expect("the command runs");
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn gpg(home: &Path) -> Command {
    let mut command = Command::new("gpg");
    command
        .env("GNUPGHOME", home)
        .args(["--batch", "--quiet", "--passphrase", ""]);
    command
}

fn new_key(home: &Path, uid: &str, extra: &[&str]) -> String {
    run_ok(
        gpg(home)
            .args(extra)
            .args(["--quick-gen-key", uid, "ed25519", "sign", "1d"]),
    );
    let listing = run_ok(gpg(home).args(["--with-colons", "--list-keys", uid]));
    listing
        .lines()
        .find_map(|l| l.strip_prefix("fpr:"))
        .and_then(|l| l.split(':').find(|f| !f.is_empty()))
        .expect("a fingerprint")
        .to_string()
}

impl Keys {
    fn new() -> Keys {
        require_tools();
        let dir = tempfile::tempdir().unwrap();
        let home = |name: &str| {
            let path = dir.path().join(name);
            std::fs::create_dir(&path).unwrap();
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o700))
                .unwrap();
            path
        };
        let gnupg = home("gnupg");
        let stranger = home("stranger");
        let test_fpr = new_key(&gnupg, "Test <t@example.invalid>", &[]);
        let past_fpr = new_key(
            &gnupg,
            "Past <past@example.invalid>",
            &["--faked-system-time", "20200101T000000"],
        );
        let revoked_fpr = new_key(&gnupg, "Revoked <rev@example.invalid>", &[]);
        let stranger_fpr = new_key(&stranger, "Stranger <s@example.invalid>", &[]);
        let gpg_past = dir.path().join("gpg-past");
        std::fs::write(
            &gpg_past,
            "#!/bin/sh\nexec gpg --faked-system-time 20200101T120000 \"$@\"\n",
        )
        .unwrap();
        std::fs::set_permissions(
            &gpg_past,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();

        let ssh_key = |name: &str| {
            let path = dir.path().join(name);
            run_ok(
                Command::new("ssh-keygen")
                    .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
                    .arg(&path),
            );
            path
        };
        let alice = ssh_key("alice");
        let mallory = ssh_key("mallory");
        let alice_pub = std::fs::read_to_string(alice.with_extension("pub")).unwrap();
        let alice_fp = run_ok(
            Command::new("ssh-keygen")
                .arg("-lf")
                .arg(alice.with_extension("pub")),
        )
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();
        let allowed_signers = dir.path().join("allowed_signers");
        std::fs::write(
            &allowed_signers,
            format!("alice@example.invalid namespaces=\"git\" {alice_pub}"),
        )
        .unwrap();
        Keys {
            dir,
            gnupg,
            stranger,
            test_fpr,
            past_fpr,
            revoked_fpr,
            stranger_fpr,
            gpg_past,
            alice,
            alice_fp,
            mallory,
            allowed_signers,
        }
    }

    /// Revokes the "Revoked" key in the verifying keyring (after it signed).
    fn revoke(&self) {
        let certificate = std::fs::read_to_string(
            self.gnupg
                .join(format!("openpgp-revocs.d/{}.rev", self.revoked_fpr)),
        )
        .unwrap()
        // gpg guards the stored certificate against an accidental import.
        .replace(":-----BEGIN", "-----BEGIN");
        let path = self.dir.path().join("revocation.asc");
        std::fs::write(&path, certificate).unwrap();
        run_ok(gpg(&self.gnupg).arg("--import").arg(&path));
    }
}

impl Drop for Keys {
    fn drop(&mut self) {
        for home in [&self.gnupg, &self.stranger] {
            let _ = Command::new("gpgconf")
                .env("GNUPGHOME", home)
                .args(["--kill", "all"])
                .status();
        }
    }
}

/// How a case's tag is made.
#[derive(Clone, Copy, Debug)]
enum Make {
    Openpgp,
    Ssh,
    Unsigned,
    Lightweight,
    TamperedOpenpgp,
    TamperedSsh,
    UnknownOpenpgp,
    UnknownSsh,
    ExpiredKey,
    Revoked,
}

/// The sample monorepo with `require-signed = true`, verifying SSH
/// signatures with `keys`' allowed-signers file (repository config).
fn project(keys: &Keys, defaults: &str) -> Project {
    let project = Project::sample(&[]);
    project.configure("local", "");
    project.add_defaults(defaults, "signature policy");
    git(
        &project.root,
        &[
            "config",
            "gpg.ssh.allowedSignersFile",
            keys.allowed_signers.to_str().unwrap(),
        ],
    );
    project
}

fn signing_git(project: &Project, home: &Path, config: &[String], args: &[&str]) {
    let mut command = git_command("git", &project.root, &[]);
    for entry in config {
        command.args(["-c", entry]);
    }
    run_ok(command.args(args).env("GNUPGHOME", home));
}

/// Creates `name` at HEAD as `make` says.
fn make_tag(project: &Project, keys: &Keys, name: &str, make: Make) {
    let message = format!("Release {name}");
    let signed = ["tag", "-s", "-m", &message, name];
    let openpgp = |home: &Path, key: &str| {
        signing_git(project, home, &[format!("user.signingkey={key}")], &signed)
    };
    let ssh_in = |project: &Project, key: &Path| {
        signing_git(
            project,
            &keys.gnupg,
            &[
                "gpg.format=ssh".to_string(),
                format!("user.signingkey={}", key.with_extension("pub").display()),
            ],
            &signed,
        )
    };
    let ssh = |key: &Path| ssh_in(project, key);
    match make {
        Make::Openpgp => openpgp(&keys.gnupg, &keys.test_fpr),
        Make::Ssh => ssh(&keys.alice),
        Make::Unsigned => project.tag(name),
        Make::Lightweight => {
            git(&project.root, &["tag", name]);
        }
        Make::TamperedOpenpgp | Make::TamperedSsh => {
            // Signed in a clone, so that this repository (and a daemon
            // watching it) only ever sees the edited tag.
            let clone = project.temp.path().join("signing-clone");
            let _ = std::fs::remove_dir_all(&clone);
            git(
                project.temp.path(),
                &[
                    "clone",
                    "--quiet",
                    project.root.to_str().unwrap(),
                    clone.to_str().unwrap(),
                ],
            );
            let in_clone = Project {
                temp: tempfile::tempdir().unwrap(),
                root: clone.clone(),
                state: clone.join("unused"),
            };
            if matches!(make, Make::TamperedOpenpgp) {
                signing_git(
                    &in_clone,
                    &keys.gnupg,
                    &[format!("user.signingkey={}", keys.test_fpr)],
                    &signed,
                )
            } else {
                ssh_in(&in_clone, &keys.alice)
            }
            // The same tag object with its message edited, signature kept.
            let object = git(&clone, &["cat-file", "tag", name]);
            let edited = object.replacen(&message, &format!("{message}, edited"), 1);
            assert_ne!(edited, object);
            let path = project.temp.path().join("tampered-tag");
            std::fs::write(&path, format!("{edited}\n")).unwrap();
            let id = git(
                &project.root,
                &["hash-object", "-t", "tag", "-w", path.to_str().unwrap()],
            );
            git(
                &project.root,
                &["update-ref", &format!("refs/tags/{name}"), &id],
            );
        }
        Make::UnknownOpenpgp => openpgp(&keys.stranger, &keys.stranger_fpr),
        Make::UnknownSsh => ssh(&keys.mallory),
        Make::ExpiredKey => signing_git(
            project,
            &keys.gnupg,
            &[
                format!("gpg.program={}", keys.gpg_past.display()),
                format!("user.signingkey={}", keys.past_fpr),
            ],
            &signed,
        ),
        Make::Revoked => {
            openpgp(&keys.gnupg, &keys.revoked_fpr);
            keys.revoke();
        }
    }
}

/// tagpub with the verifying keyring.
fn tagpub(project: &Project, keys: &Keys, args: &[&str]) -> Run {
    Run::from_output(
        project
            .command(args)
            .env("GNUPGHOME", &keys.gnupg)
            .output()
            .unwrap(),
    )
}

fn plan_json(project: &Project, keys: &Keys, tag: &str) -> (Run, Value) {
    let run = tagpub(project, keys, &["plan", tag, "--json"]);
    let value: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout, run.stderr));
    (run, value["plan"].clone())
}

fn check<'a>(plan: &'a Value, name: &str) -> Option<&'a Value> {
    plan["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
}

/// A bare remote for `project`'s `origin`, and tagpub's hooks installed.
fn remote(project: &Project, keys: &Keys) -> PathBuf {
    let remote = project.bare_origin();
    tagpub(project, keys, &["hooks", "install"]).assert_ok();
    remote
}

/// A real `git push origin TAG` as the user runs it (the hook runs tagpub).
fn push(project: &Project, keys: &Keys, tag: &str) -> Run {
    let mut command = Command::new("git");
    let output = project
        .with_tagpub_dirs(&mut command)
        .arg("-C")
        .arg(&project.root)
        .args(["push", "origin", tag])
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GNUPGHOME", &keys.gnupg)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    Run::from_output(output)
}

/// Each refused case: how it is made, and what the refusal says.
fn refused_cases(keys: &Keys) -> Vec<(Make, String)> {
    vec![
        (
            Make::Unsigned,
            "`v1.0.0` is not signed, and the config requires signed release tags (require-signed)"
                .into(),
        ),
        (
            Make::Lightweight,
            "`v1.0.0` is a lightweight tag, which cannot carry a signature".into(),
        ),
        (
            Make::TamperedOpenpgp,
            format!(
                "the signature of `v1.0.0` (by Test <t@example.invalid> (OpenPGP key {})) does not match the tag object",
                &keys.test_fpr[24..]
            ),
        ),
        (
            Make::TamperedSsh,
            "the signature of `v1.0.0` does not match the tag object: it was changed after signing"
                .into(),
        ),
        (
            Make::UnknownOpenpgp,
            format!(
                "`v1.0.0` is signed by OpenPGP key {}, which is not in this keyring",
                keys.stranger_fpr
            ),
        ),
        (
            Make::UnknownSsh,
            "which no principal has in git's gpg.ssh.allowedSignersFile".into(),
        ),
        (
            Make::ExpiredKey,
            format!(
                "`v1.0.0` is signed by Past <past@example.invalid> (OpenPGP key {}), whose key has expired",
                keys.past_fpr
            ),
        ),
        (
            Make::Revoked,
            format!(
                "`v1.0.0` is signed by Revoked <rev@example.invalid> (OpenPGP key {}), whose key has been revoked",
                keys.revoked_fpr
            ),
        ),
    ]
}

#[test]
fn with_require_signed_plan_and_a_real_push_refuse_all_but_a_good_signature() {
    let keys = Keys::new();
    let project = project(&keys, "require-signed = true\n");
    let remote = remote(&project, &keys);
    git(&project.root, &["push", "--quiet", "origin", "main"]);

    for (make, message) in refused_cases(&keys) {
        make_tag(&project, &keys, "v1.0.0", make);
        let (run, plan) = plan_json(&project, &keys, "v1.0.0");
        assert_eq!(run.code, 1, "{make:?}: plan must fail\n{}", run.stderr);
        let signature = check(&plan, "signature").expect("a signature check");
        assert_eq!(signature["status"], "fail", "{make:?}: {signature}");
        let text = signature["message"].as_str().unwrap();
        assert!(text.contains(&message), "{make:?}: {text}");

        push(&project, &keys, "v1.0.0")
            .assert_fails(1, "tagpub: refusing to push v1.0.0")
            .assert_fails(1, &message);
        assert_eq!(
            git(&remote, &["tag", "--list"]),
            "",
            "{make:?} reached the remote"
        );
        git(&project.root, &["tag", "-d", "v1.0.0"]);
    }

    // Good signatures pass everywhere, and plan --json names the signer.
    make_tag(&project, &keys, "hf-local-v1.0.0", Make::Openpgp);
    let (run, plan) = plan_json(&project, &keys, "hf-local-v1.0.0");
    run.assert_ok();
    assert_eq!(plan["signature"]["status"], "good");
    assert_eq!(plan["signature"]["signer"]["format"], "openpgp");
    assert_eq!(plan["signature"]["signer"]["key"], keys.test_fpr.as_str());
    assert_eq!(
        plan["signature"]["signer"]["identity"],
        "Test <t@example.invalid>"
    );
    assert_eq!(check(&plan, "signature").unwrap()["status"], "pass");
    push(&project, &keys, "hf-local-v1.0.0").assert_ok();

    make_tag(&project, &keys, "otobo-znuny-v1.0.0", Make::Ssh);
    let (run, plan) = plan_json(&project, &keys, "otobo-znuny-v1.0.0");
    run.assert_ok();
    assert_eq!(plan["signature"]["signer"]["format"], "ssh");
    assert_eq!(plan["signature"]["signer"]["key"], keys.alice_fp.as_str());
    assert_eq!(
        plan["signature"]["signer"]["identity"],
        "alice@example.invalid"
    );
    push(&project, &keys, "otobo-znuny-v1.0.0").assert_ok();
    assert_eq!(
        git(&remote, &["tag", "--list"]),
        "hf-local-v1.0.0\notobo-znuny-v1.0.0"
    );
}

#[test]
fn ci_resolve_and_release_refuse_an_unsigned_or_tampered_tag_before_building() {
    let keys = Keys::new();
    let project = project(&keys, "require-signed = true\n");
    for make in [Make::Unsigned, Make::TamperedOpenpgp] {
        make_tag(&project, &keys, "v1.0.0", make);
        let resolved = tagpub(&project, &keys, &["ci", "resolve", "v1.0.0"]);
        resolved.assert_fails(1, "v1.0.0 cannot be released");
        resolved.assert_fails(1, "signature: ");
        assert!(resolved.stdout.is_empty(), "{}", resolved.stdout);
        tagpub(&project, &keys, &["release", "v1.0.0"]).assert_fails(1, "signature: ");
        assert!(
            common::project::files_in(&project.local_index().join("open-ticket-ai")).is_empty(),
            "{make:?}: nothing may be published"
        );
        git(&project.root, &["tag", "-d", "v1.0.0"]);
    }
}

#[test]
fn without_require_signed_a_signature_is_shown_and_its_absence_is_no_failure() {
    let keys = Keys::new();
    let project = project(&keys, "require-signed = false\n");

    make_tag(&project, &keys, "v1.0.0", Make::Unsigned);
    let (run, plan) = plan_json(&project, &keys, "v1.0.0");
    run.assert_ok();
    assert!(check(&plan, "signature").is_none(), "{plan}");

    make_tag(&project, &keys, "hf-local-v1.0.0", Make::Openpgp);
    let (run, plan) = plan_json(&project, &keys, "hf-local-v1.0.0");
    run.assert_ok();
    let signature = check(&plan, "signature").unwrap();
    assert_eq!(signature["status"], "pass");
    assert!(
        signature["message"].as_str().unwrap().contains(&format!(
            "good signature by Test <t@example.invalid> (OpenPGP key {})",
            keys.test_fpr
        )),
        "{signature}"
    );

    // A signature that does not verify is worth a warning, not a refusal.
    make_tag(&project, &keys, "otobo-znuny-v1.0.0", Make::TamperedSsh);
    let (run, plan) = plan_json(&project, &keys, "otobo-znuny-v1.0.0");
    run.assert_ok();
    assert_eq!(check(&plan, "signature").unwrap()["status"], "warn");
    assert_eq!(plan["signature"]["status"], "bad");
}

#[test]
fn allowed_signers_restrict_who_may_release_and_require_a_signature() {
    let keys = Keys::new();
    let project = project(
        &keys,
        &format!(
            "allowed-signers = [\"alice@example.invalid\", \"{}\"]\n",
            &keys.test_fpr[24..]
        ),
    );
    make_tag(&project, &keys, "v1.0.0", Make::Unsigned);
    let (run, plan) = plan_json(&project, &keys, "v1.0.0");
    assert_eq!(run.code, 1);
    assert!(
        check(&plan, "signature").unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("(allowed-signers is set)"),
        "{plan}"
    );
    git(&project.root, &["tag", "-d", "v1.0.0"]);

    // Both listed signers, by principal and by long key id, pass.
    make_tag(&project, &keys, "v1.0.0", Make::Ssh);
    plan_json(&project, &keys, "v1.0.0").0.assert_ok();
    make_tag(&project, &keys, "hf-local-v1.0.0", Make::Openpgp);
    plan_json(&project, &keys, "hf-local-v1.0.0").0.assert_ok();

    // A good signature by a signer git verifies, but who is not listed.
    let config = std::fs::read_to_string(project.root.join("tagpub.toml")).unwrap();
    project.write(
        "tagpub.toml",
        &config.replace("alice@example.invalid", "bob@example.invalid"),
    );
    project.commit("alice may no longer release");
    make_tag(&project, &keys, "otobo-znuny-v1.0.0", Make::Ssh);
    let (run, plan) = plan_json(&project, &keys, "otobo-znuny-v1.0.0");
    assert_eq!(run.code, 1, "{}", run.stderr);
    let text = check(&plan, "signature").unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        text.contains(&format!(
            "has a good signature by alice@example.invalid (SSH key {}), who is not in the allowed-signers of open-ticket-ai-otobo-znuny-plugin (bob@example.invalid, ",
            keys.alice_fp
        )),
        "{text}"
    );
}

#[test]
fn a_group_tag_takes_the_strictest_policy_of_its_members() {
    let keys = Keys::new();
    let project = Project::sample(&[]);
    project.write(
        "tagpub.toml",
        "[defaults]\nrepository = \"local\"\n\n\
         [[package]]\nname = \"open-ticket-ai\"\npath = \".\"\n\n\
         [[package]]\nname = \"open-ticket-ai-hf-local\"\npath = \"src/open_ticket_ai_hf_local\"\n\
         require-signed = true\n\n\
         [[package]]\nname = \"open-ticket-ai-otobo-znuny-plugin\"\npath = \"src/open_ticket_ai_otobo_znuny_plugin\"\n\
         allowed-signers = [\"alice@example.invalid\"]\n\n\
         [[group]]\nname = \"open-ticket-ai\"\ntags = [\"v{version}\"]\n\
         packages = [\"open-ticket-ai-hf-local\", \"open-ticket-ai-otobo-znuny-plugin\", \"open-ticket-ai\"]\n",
    );
    project.commit("one tag for the three packages");
    git(
        &project.root,
        &[
            "config",
            "gpg.ssh.allowedSignersFile",
            keys.allowed_signers.to_str().unwrap(),
        ],
    );

    // Signed, but not by the one signer a member allows: every member of
    // the group is refused (one tag releases them all).
    make_tag(&project, &keys, "v1.0.0", Make::Openpgp);
    let (run, plan) = plan_json(&project, &keys, "v1.0.0");
    assert_eq!(run.code, 1, "{}", run.stderr);
    for member in plan["members"].as_array().unwrap() {
        let signature = check(member, "signature").unwrap();
        assert_eq!(signature["status"], "fail", "{member}");
        assert!(
            signature["message"]
                .as_str()
                .unwrap()
                .contains("not in the allowed-signers of open-ticket-ai-otobo-znuny-plugin"),
            "{signature}"
        );
    }
    git(&project.root, &["tag", "-d", "v1.0.0"]);

    make_tag(&project, &keys, "v1.0.0", Make::Ssh);
    let (run, plan) = plan_json(&project, &keys, "v1.0.0");
    run.assert_ok();
    assert_eq!(plan["members"].as_array().unwrap().len(), 3);
}

fn daemon_job(project: &Project, keys: &Keys, tag: &str) -> Option<Value> {
    let run = tagpub(project, keys, &["status", "--json"]);
    run.assert_ok();
    let status: Value = serde_json::from_str(&run.stdout).unwrap();
    status["jobs"]
        .as_array()?
        .iter()
        .rev()
        .find(|j| j["tag"] == tag)
        .cloned()
}

#[track_caller]
fn wait_for_job(project: &Project, keys: &Keys, tag: &str, state: &str) -> Value {
    let started = Instant::now();
    loop {
        if let Some(job) = daemon_job(project, keys, tag)
            && job["state"] == state
        {
            return job;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{tag} did not become {state}\nstatus: {}\ndaemon log:\n{}",
            tagpub(project, keys, &["status", "--json"]).stdout,
            daemon_log(project)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The daemon gets the representative cases: an unsigned and a tampered
/// tag fail their jobs with the plan's message, a good one is published.
#[test]
fn the_daemon_publishes_only_a_good_signature() {
    let keys = Keys::new();
    let project = project(&keys, "require-signed = true\ngrace = \"0s\"\n");
    tagpub(&project, &keys, &["watch", "add"]).assert_ok();
    let gnupg = keys.gnupg.to_str().unwrap().to_string();
    let _daemon = Daemon::start_with(&project, "10m", &[("GNUPGHOME", &gnupg)]);

    make_tag(&project, &keys, "v1.0.0", Make::Unsigned);
    make_tag(&project, &keys, "otobo-znuny-v1.0.0", Make::TamperedOpenpgp);
    make_tag(&project, &keys, "hf-local-v1.0.0", Make::Ssh);
    wait_for_job(&project, &keys, "v1.0.0", "failed");
    wait_for_job(&project, &keys, "otobo-znuny-v1.0.0", "failed");
    wait_for_job(&project, &keys, "hf-local-v1.0.0", "verified");
    let text = tagpub(&project, &keys, &["status"]);
    for message in [
        "`v1.0.0` is not signed",
        "the signature of `otobo-znuny-v1.0.0` (by Test <t@example.invalid>",
    ] {
        assert!(
            text.stderr.contains(message) || text.stdout.contains(message),
            "{message}: {}{}",
            text.stdout,
            text.stderr
        );
    }
    let published = |package: &str| {
        common::project::files_in(&project.local_index().join(package))
            .into_iter()
            .filter(|n| n != "index.html")
            .count()
    };
    assert_eq!(published("open-ticket-ai-hf-local"), 2);
    assert_eq!(published("open-ticket-ai"), 0);
    assert_eq!(published("open-ticket-ai-otobo-znuny-plugin"), 0);
}

/// git verify-tag's children (gpg here) get the user's GNUPGHOME but no
/// token and no agent address, whatever tagpub's own environment holds.
#[test]
fn the_verifier_runs_without_tokens_or_agents() {
    let keys = Keys::new();
    let project = project(&keys, "require-signed = true\n");
    make_tag(&project, &keys, "hf-local-v1.0.0", Make::Openpgp);
    let dump = project.temp.path().join("gpg-env");
    let wrapper = project.temp.path().join("gpg-dumping-env");
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\nenv > '{}'\nexec gpg \"$@\"\n", dump.display()),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    git(
        &project.root,
        &["config", "gpg.program", wrapper.to_str().unwrap()],
    );
    let token = "pypi-AgEIcHlwaS5vcmcSecretSecretSecret";
    let output = project
        .command(&["plan", "hf-local-v1.0.0"])
        .env("GNUPGHOME", &keys.gnupg)
        .env("PYPI_API_TOKEN_HF_LOCAL", token)
        .env("SSH_AUTH_SOCK", "/tmp/agent.sock")
        .output()
        .unwrap();
    let run = Run::from_output(output);
    run.assert_ok();
    assert!(
        run.stderr.contains("good signature by Test"),
        "{}",
        run.stderr
    );
    let env = std::fs::read_to_string(&dump).expect("gpg ran through the wrapper");
    assert!(
        env.contains(&format!("GNUPGHOME={}", keys.gnupg.display())),
        "{env}"
    );
    assert!(!env.contains(token), "a token reached gpg:\n{env}");
    assert!(!env.contains("SSH_AUTH_SOCK"), "{env}");
}

/// Issue 15's loop on the sample monorepo: `tagpub bump hf-local minor
/// --commit --tag --sign` makes a signed tag the daemon (with
/// `require-signed`) publishes, with the new version and changelog section.
#[test]
fn bump_then_the_daemon_publishes_the_signed_tag() {
    let keys = Keys::new();
    let project = project(&keys, "require-signed = true\ngrace = \"0s\"\n");
    project.write(
        "src/open_ticket_ai_hf_local/CHANGELOG.md",
        "# Changelog\n\n## [Unreleased]\n### Added\n- Models from the local cache.\n\n## [1.0.0] - 2026-01-01\n- First release.\n",
    );
    project.commit("hf-local changelog");
    for (key, value) in [
        ("user.name", "Alice".to_string()),
        ("user.email", "alice@example.invalid".to_string()),
        ("gpg.format", "ssh".to_string()),
        (
            "user.signingkey",
            keys.alice.with_extension("pub").display().to_string(),
        ),
    ] {
        git(&project.root, &["config", key, &value]);
    }
    tagpub(&project, &keys, &["watch", "add"]).assert_ok();
    let gnupg = keys.gnupg.to_str().unwrap().to_string();
    let _daemon = Daemon::start_with(&project, "10m", &[("GNUPGHOME", &gnupg)]);

    tagpub(
        &project,
        &keys,
        &["bump", "hf-local", "minor", "--commit", "--tag", "--sign"],
    )
    .assert_ok();
    let job = wait_for_job(&project, &keys, "hf-local-v1.1.0", "verified");
    assert_eq!(job["package"], "open-ticket-ai-hf-local", "{job}");
    let files = common::project::files_in(&project.local_index().join("open-ticket-ai-hf-local"));
    assert!(
        files.contains(&"open_ticket_ai_hf_local-1.1.0-py3-none-any.whl".to_string())
            && files.contains(&"open_ticket_ai_hf_local-1.1.0.tar.gz".to_string()),
        "{files:?}"
    );
    // The published sdist carries the released changelog section.
    let sdist = project
        .local_index()
        .join("open-ticket-ai-hf-local/open_ticket_ai_hf_local-1.1.0.tar.gz");
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(
        std::fs::File::open(&sdist).unwrap(),
    ));
    let changelog = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap())
        .find(|e| e.path().unwrap().ends_with("CHANGELOG.md"))
        .map(|mut e| {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut e, &mut text).unwrap();
            text
        })
        .expect("the sdist has the changelog");
    assert!(
        changelog.contains("## [Unreleased]\n\n## [1.1.0] - ")
            && changelog.contains("- Models from the local cache."),
        "{changelog}"
    );
    // The plan of the tag names its signer.
    let (run, plan) = plan_json(&project, &keys, "hf-local-v1.1.0");
    run.assert_ok();
    assert_eq!(plan["signature"]["status"], "good", "{plan}");

    // status and doctor show the loop's next turn.
    let next = "`tagpub bump hf-local patch --commit --tag --sign`";
    let status = tagpub(&project, &keys, &["status"]);
    assert!(
        status.stderr.contains(&format!(
            "open-ticket-ai-hf-local 1.1.0 (hf-local-v1.1.0): next {next}"
        )),
        "{}",
        status.stderr
    );
    let doctor = tagpub(&project, &keys, &["doctor", "--json"]);
    let report: Value = serde_json::from_str(&doctor.stdout).unwrap();
    let hf = report["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "open-ticket-ai-hf-local")
        .unwrap();
    let loop_check = check(hf, "release loop").expect("a release loop check");
    assert_eq!(
        loop_check["message"],
        format!(
            "open-ticket-ai-hf-local is at 1.1.0 (latest tag hf-local-v1.1.0); next: {next}, then the daemon publishes the tag (or CI: `tagpub ci github|gitlab`)"
        ),
    );
}
