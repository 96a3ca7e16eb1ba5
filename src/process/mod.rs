//! The one way tagpub starts a child process: builds, the RST renderer, the
//! install check, the notifier, doctor's probes and the demo's pip all go
//! through [`Child`], so no child can be started with a secret in reach.
//!
//! At spawn (not at construction: a token read in between counts) the child's
//! environment loses every variable
//! - tagpub read a secret from (`secrets::held::env_names`),
//! - named as a `token-env` by any config this process loaded ([`withhold_env`]),
//! - that looks like a credential by name (`secrets::is_secret_env_name`),
//! - whose value is, or holds, one of the secrets tagpub holds,
//!
//! and, unless [`Child::keep_session`], the addresses of the user's session
//! services (D-Bus with its keychain, ssh/gpg agents: [`SESSION_ENV`]).
//! A build also runs in the sandbox of [`sandbox`].
//!
//! Git is the exception: `git/` runs it with its own fixed environment.

pub mod sandbox;

use std::ffi::{OsStr, OsString};
use std::io;
use std::path::Path;
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::Mutex;

use secrecy::ExposeSecret;

use crate::secrets::{held, is_secret_env_name};

/// Variables that lead a child to the user's session services: the Secret
/// Service (keychain) over D-Bus, ssh and gpg agents, Kerberos tickets.
pub const SESSION_ENV: [&str; 11] = [
    "DBUS_SESSION_BUS_ADDRESS",
    "DBUS_STARTER_ADDRESS",
    "DBUS_STARTER_BUS_TYPE",
    "SSH_AUTH_SOCK",
    "SSH_AGENT_PID",
    "GPG_AGENT_INFO",
    "GNOME_KEYRING_CONTROL",
    "GNOME_KEYRING_PID",
    // Where the bus socket lives when no address is given.
    "XDG_RUNTIME_DIR",
    "KRB5CCNAME",
    "KRB5_CONFIG",
];

/// Names withheld from every child because a config named them `token-env`.
static WITHHELD: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Withholds variable `name` from every child this process starts from now on.
pub fn withhold_env(name: &str) {
    let mut names = WITHHELD.lock().unwrap_or_else(|e| e.into_inner());
    if !names.iter().any(|n| n == name) {
        names.push(name.to_string());
    }
}

/// The first `program` on `PATH`, as a shell would find it.
pub fn find_on_path(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find_map(|dir| {
        let candidate = dir.join(program);
        #[cfg(windows)]
        let candidate = candidate.with_extension("exe");
        candidate.is_file().then_some(candidate)
    })
}

/// Makes this process non-dumpable, as ssh-agent does: other processes of
/// the same user (a build backend, anything the user runs) can then no
/// longer read its `/proc/<pid>/environ` or memory, nor ptrace it. Called
/// first thing in `main`, before any token is read. Children are
/// unaffected: `execve` resets the flag.
pub fn make_undumpable() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
        // Logging is not set up yet this early.
        crate::printer::eprint_line(&format!(
            "warning: cannot make tagpub non-dumpable: {}",
            io::Error::last_os_error()
        ));
    }
}

/// Whether this process is non-dumpable (for `doctor` and the tests).
pub fn is_undumpable() -> bool {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with integer arguments only.
    return unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) } == 0;
    #[cfg(not(target_os = "linux"))]
    false
}

/// Secrets shorter than this are matched as a whole value only: a short
/// password could occur inside an unrelated value such as PATH.
const MIN_SUBSTRING_SECRET: usize = 8;

/// What decides whether a variable reaches a child; taken at spawn.
struct Scrubber {
    names: Vec<String>,
    secrets: Vec<secrecy::SecretString>,
    keep_session: bool,
}

impl Scrubber {
    fn now(keep_session: bool) -> Scrubber {
        let mut names = held::env_names();
        names.extend(WITHHELD.lock().unwrap_or_else(|e| e.into_inner()).clone());
        Scrubber {
            names,
            secrets: held::secrets(),
            keep_session,
        }
    }

    fn withholds(&self, name: &OsStr, value: &OsStr) -> bool {
        let name = name.to_string_lossy();
        if is_secret_env_name(&name, &self.names) {
            return true;
        }
        if !self.keep_session && SESSION_ENV.iter().any(|s| name.eq_ignore_ascii_case(s)) {
            return true;
        }
        let value = value.to_string_lossy();
        self.secrets.iter().any(|secret| {
            let secret = secret.expose_secret();
            !secret.is_empty()
                && (value == secret
                    || (secret.len() >= MIN_SUBSTRING_SECRET && value.contains(secret)))
        })
    }

    fn apply(&self, command: &mut Command) {
        let explicit: Vec<(OsString, Option<OsString>)> = command
            .get_envs()
            .map(|(n, v)| (n.to_os_string(), v.map(OsStr::to_os_string)))
            .collect();
        for (name, value) in std::env::vars_os() {
            if self.withholds(&name, &value) {
                command.env_remove(&name);
            }
        }
        for (name, value) in explicit {
            if let Some(value) = value
                && self.withholds(&name, &value)
            {
                command.env_remove(&name);
            }
        }
    }
}

/// Gives a `std` command the environment scrub a [`Child`] gets, keeping
/// the session services: for callers that must hold a `std::process::Command`
/// (the test harness's `tagpub` runs).
pub fn scrub_secret_env(command: &mut Command) {
    Scrubber::now(true).apply(command);
}

/// A child process to be started without secrets (see the module doc).
pub struct Child {
    command: Command,
    program: String,
    keep_session: bool,
    sandbox: Option<sandbox::Sandbox>,
}

/// Why a child did not run to success.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot start {program}")]
    Start {
        program: String,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Sandbox(#[from] sandbox::SandboxError),
    #[error("{program} failed ({status}). Last lines of its output:\n{tail}")]
    Failed {
        program: String,
        status: String,
        /// The last lines of stdout then stderr, quoted by [`quote_last_lines`].
        tail: String,
    },
}

impl Child {
    pub fn new(program: impl AsRef<OsStr>) -> Child {
        Child {
            command: Command::new(program.as_ref()),
            program: Path::new(program.as_ref()).display().to_string(),
            keep_session: false,
            sandbox: None,
        }
    }

    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Child {
        self.command.arg(arg);
        self
    }

    pub fn args<I, S>(&mut self, args: I) -> &mut Child
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command.args(args);
        self
    }

    /// Sets a variable; still withheld at spawn if it is a secret.
    pub fn env(&mut self, name: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Child {
        self.command.env(name, value);
        self
    }

    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Child {
        self.command.current_dir(dir);
        self
    }

    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Child {
        self.command.stdin(cfg);
        self
    }

    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Child {
        self.command.stdout(cfg);
        self
    }

    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Child {
        self.command.stderr(cfg);
        self
    }

    /// Keeps the session services' addresses ([`SESSION_ENV`]): only for the
    /// user's own notifier, which may need the desktop bus.
    pub fn keep_session(&mut self) -> &mut Child {
        self.keep_session = true;
        self
    }

    /// Runs the child in `sandbox` (where the kernel offers one).
    pub fn sandbox(&mut self, sandbox: sandbox::Sandbox) -> &mut Child {
        self.sandbox = Some(sandbox);
        self
    }

    /// The program, as given, for messages.
    pub fn program(&self) -> &str {
        &self.program
    }

    /// Scrubs the environment and arms the sandbox; the guard must outlive
    /// the spawn (it holds the sandbox's ruleset).
    fn prepare(&mut self) -> Result<Option<sandbox::Armed>, RunError> {
        Scrubber::now(self.keep_session).apply(&mut self.command);
        match &self.sandbox {
            Some(sandbox) => Ok(sandbox.arm(&mut self.command)?),
            None => Ok(None),
        }
    }

    pub fn spawn(&mut self) -> Result<std::process::Child, RunError> {
        let _armed = self.prepare()?;
        self.command
            .spawn()
            .map_err(|source| self.start_error(source))
    }

    pub fn status(&mut self) -> Result<ExitStatus, RunError> {
        let _armed = self.prepare()?;
        self.command
            .status()
            .map_err(|source| self.start_error(source))
    }

    /// Runs to the end with stdout and stderr captured (stdin is null
    /// unless set).
    pub fn output(&mut self) -> Result<Output, RunError> {
        let _armed = self.prepare()?;
        self.command
            .output()
            .map_err(|source| self.start_error(source))
    }

    /// [`Child::output`], with a failed exit as [`RunError::Failed`] carrying
    /// the last `count` non-empty lines of its output.
    pub fn run(&mut self, count: usize) -> Result<Output, RunError> {
        let output = self.output()?;
        if output.status.success() {
            return Ok(output);
        }
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        Err(RunError::Failed {
            program: self.program.clone(),
            status: output.status.to_string(),
            tail: quote_last_lines(&lines, count),
        })
    }

    fn start_error(&self, source: io::Error) -> RunError {
        // A sandbox that fails in the child (pre_exec) surfaces here.
        if let Some(sandbox) = &self.sandbox
            && let Some(error) = sandbox::failed_in_child(sandbox, &source)
        {
            return RunError::Sandbox(error);
        }
        RunError::Start {
            program: self.program.clone(),
            source,
        }
    }
}

/// The last `count` lines, each quoted as `  | line`, for error messages.
pub fn quote_last_lines(lines: &[impl AsRef<str>], count: usize) -> String {
    lines[lines.len().saturating_sub(count)..]
        .iter()
        .map(|line| format!("  | {}", line.as_ref()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The last `count` lines of a file, quoted like [`quote_last_lines`].
pub fn quote_last_lines_of(path: &Path, count: usize) -> String {
    let Ok(text) = std::fs::read(path) else {
        return String::new();
    };
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    quote_last_lines(&lines, count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(child: &mut Child) -> String {
        let output = child.output().expect("env runs");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    #[test]
    fn withholds_secrets_by_name_by_value_and_session_addresses() {
        let secret = secrecy::SecretString::from("process-test-held-secret-1".to_string());
        held::remember(&secret, Some("PROCESS_TEST_HELD_NAME"));
        withhold_env("PROCESS_TEST_CONFIGURED");
        let mut child = Child::new("env");
        child
            .env("PROCESS_TEST_HELD_NAME", "x")
            .env("PROCESS_TEST_CONFIGURED", "y")
            .env("PROCESS_TEST_BY_VALUE", "process-test-held-secret-1")
            .env(
                "PROCESS_TEST_URL",
                "https://u:process-test-held-secret-1@h/",
            )
            .env("GITHUB_TOKEN", "z")
            .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nowhere")
            .env("PROCESS_TEST_KEPT", "kept-value");
        let env = env_of(&mut child);
        for gone in [
            "PROCESS_TEST_HELD_NAME",
            "PROCESS_TEST_CONFIGURED",
            "PROCESS_TEST_BY_VALUE",
            "PROCESS_TEST_URL",
            "GITHUB_TOKEN",
            "DBUS_SESSION_BUS_ADDRESS",
            "process-test-held-secret-1",
        ] {
            assert!(!env.contains(gone), "{gone} reached the child:\n{env}");
        }
        assert!(env.contains("PROCESS_TEST_KEPT=kept-value"), "{env}");
        // The notifier keeps the desktop bus.
        let mut notifier = Child::new("env");
        notifier
            .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nowhere")
            .keep_session();
        assert!(env_of(&mut notifier).contains("DBUS_SESSION_BUS_ADDRESS="));
    }

    #[test]
    fn a_failure_carries_the_last_lines() {
        let mut child = Child::new("sh");
        child.args(["-c", "for i in 1 2 3 4 5; do echo line$i; done; exit 3"]);
        match child.run(2) {
            Err(RunError::Failed { tail, status, .. }) => {
                assert_eq!(tail, "  | line4\n  | line5");
                assert!(status.contains('3'), "{status}");
            }
            other => panic!("expected a failure, got {other:?}"),
        }
    }
}
