//! The one way tagpub starts a child process: builds, the RST renderer, the
//! install check, the notifier, doctor's probes, the demo's pip, `bump`'s git
//! and `systemctl`/`launchctl` all go through [`Child`], so no child can be
//! started with a secret in reach (a unit test below refuses a
//! `std::process::Command` anywhere else but `git/`).
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
//! Two documented exceptions, each with one builder: git (`git/` runs it with
//! its own fixed environment, `git::cli::git_base`) and tagpub itself
//! ([`Child::tagpub_itself`]: `daemon start` re-executes this program, which
//! holds the same secrets and needs its tokens).

pub mod sandbox;

use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::path::Path;
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
    /// Only for [`Child::tagpub_itself`]: the environment passes whole.
    is_tagpub: bool,
    sandbox: Option<sandbox::Sandbox>,
    /// Bytes for stdin, written from a thread while the output is read.
    input: Option<Vec<u8>>,
    /// Killed after this long ([`RunError::TimedOut`]).
    timeout: Option<Duration>,
    /// Whether the caller chose stdin/stdout/stderr (else [`Child::output`]
    /// closes stdin and captures both outputs, as `std` does).
    stdin_set: bool,
    stdout_set: bool,
    stderr_set: bool,
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
    #[error("cannot wait for {program}")]
    Wait {
        program: String,
        #[source]
        source: io::Error,
    },
    #[error("{program} ran longer than {} s and was stopped", .after.as_secs())]
    TimedOut { program: String, after: Duration },
    #[error("{program} failed ({status}). Last lines of its output:\n{tail}")]
    Failed {
        program: String,
        status: String,
        /// The last lines of stdout then stderr, quoted by [`quote_last_lines`].
        tail: String,
    },
}

impl RunError {
    /// As an `io::Error`; a failure to start keeps its kind (`NotFound`:
    /// the program is not installed).
    pub fn into_io(self) -> io::Error {
        match self {
            RunError::Start { source, .. } => source,
            other => io::Error::other(other),
        }
    }
}

impl Child {
    pub fn new(program: impl AsRef<OsStr>) -> Child {
        Child {
            command: Command::new(program.as_ref()),
            program: Path::new(program.as_ref()).display().to_string(),
            keep_session: false,
            is_tagpub: false,
            sandbox: None,
            input: None,
            timeout: None,
            stdin_set: false,
            stdout_set: false,
            stderr_set: false,
        }
    }

    /// This program again (`daemon start` → `tagpub daemon run`): the one
    /// child that keeps the whole environment, secrets and session included,
    /// since it is tagpub itself, which reads and holds them anyway (the
    /// daemon needs the tokens and the keychain's bus).
    pub fn tagpub_itself() -> io::Result<Child> {
        let mut child = Child::new(std::env::current_exe()?);
        child.is_tagpub = true;
        Ok(child)
    }

    /// Starts the child in a process group of its own, so a Ctrl-C in the
    /// starting terminal does not reach it.
    #[cfg(unix)]
    pub fn own_process_group(&mut self) -> &mut Child {
        std::os::unix::process::CommandExt::process_group(&mut self.command, 0);
        self
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

    /// Sets these variables; each still withheld at spawn if it is a secret.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Child
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.command.envs(vars);
        self
    }

    pub fn env_remove(&mut self, name: impl AsRef<OsStr>) -> &mut Child {
        self.command.env_remove(name);
        self
    }

    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Child {
        self.command.current_dir(dir);
        self
    }

    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Child {
        self.command.stdin(cfg);
        self.stdin_set = true;
        self
    }

    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Child {
        self.command.stdout(cfg);
        self.stdout_set = true;
        self
    }

    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Child {
        self.command.stderr(cfg);
        self.stderr_set = true;
        self
    }

    /// Gives [`Child::output`] these bytes on stdin, written from a thread
    /// while the output is read (a large input cannot deadlock against a
    /// full stdout pipe). A child that exits without reading them all is
    /// judged by its exit status and output, not by the broken pipe.
    pub fn input(&mut self, bytes: Vec<u8>) -> &mut Child {
        self.input = Some(bytes);
        self
    }

    /// Makes [`Child::output`] kill the child after `limit` and fail with
    /// [`RunError::TimedOut`].
    pub fn timeout(&mut self, limit: Duration) -> &mut Child {
        self.timeout = Some(limit);
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
        if !self.is_tagpub {
            Scrubber::now(self.keep_session).apply(&mut self.command);
        }
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

    /// Runs to the end with stdout and stderr captured unless set (stdin is
    /// null unless set, or the [`Child::input`] bytes), within the
    /// [`Child::timeout`] if one is set.
    pub fn output(&mut self) -> Result<Output, RunError> {
        if self.input.is_none() && self.timeout.is_none() {
            let _armed = self.prepare()?;
            return self
                .command
                .output()
                .map_err(|source| self.start_error(source));
        }
        let input = self.input.take();
        if input.is_some() {
            self.command.stdin(Stdio::piped());
        } else if !self.stdin_set {
            self.command.stdin(Stdio::null());
        }
        if !self.stdout_set {
            self.command.stdout(Stdio::piped());
        }
        if !self.stderr_set {
            self.command.stderr(Stdio::piped());
        }
        let mut child = self.spawn()?;
        let writer = input.zip(child.stdin.take()).map(|(bytes, mut stdin)| {
            std::thread::spawn(move || {
                let _ = stdin.write_all(&bytes);
            })
        });
        let read_all = |pipe: Option<Box<dyn Read + Send>>| {
            pipe.map(|mut pipe| {
                std::thread::spawn(move || {
                    let mut bytes = Vec::new();
                    let _ = pipe.read_to_end(&mut bytes);
                    bytes
                })
            })
        };
        let stdout = read_all(child.stdout.take().map(|p| Box::new(p) as _));
        let stderr = read_all(child.stderr.take().map(|p| Box::new(p) as _));
        let waited = match self.timeout {
            None => child.wait().map(Some),
            Some(limit) => wait_within(&mut child, limit),
        };
        let status = match waited {
            Ok(Some(status)) => status,
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                // The readers are left to finish on their own: something the
                // child started may still hold its pipes.
                return Err(RunError::TimedOut {
                    program: self.program.clone(),
                    after: self.timeout.unwrap_or_default(),
                });
            }
            Err(source) => {
                return Err(RunError::Wait {
                    program: self.program.clone(),
                    source,
                });
            }
        };
        if let Some(writer) = writer {
            let _ = writer.join();
        }
        let collect = |reader: Option<std::thread::JoinHandle<Vec<u8>>>| {
            reader
                .map(|r| r.join().unwrap_or_default())
                .unwrap_or_default()
        };
        Ok(Output {
            status,
            stdout: collect(stdout),
            stderr: collect(stderr),
        })
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

/// Waits for `child` up to `limit`; `Ok(None)` when it is still running.
pub fn wait_within(
    child: &mut std::process::Child,
    limit: Duration,
) -> io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(20));
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
    fn input_reaches_stdin_and_a_timeout_stops_the_child() {
        // More than a pipe holds, echoed back: written while it is read.
        let input = vec![b'x'; 1 << 20];
        let output = Child::new("cat").input(input.clone()).output().unwrap();
        assert!(output.status.success());
        assert_eq!(output.stdout, input);

        let started = Instant::now();
        match Child::new("sleep")
            .arg("30")
            .timeout(Duration::from_millis(200))
            .output()
        {
            Err(RunError::TimedOut { program, .. }) => assert_eq!(program, "sleep"),
            other => panic!("expected a timeout, got {other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(10));
        // The scrub applies on this path too.
        let secret = secrecy::SecretString::from("process-test-input-secret-2".to_string());
        held::remember(&secret, Some("PROCESS_TEST_INPUT_HELD"));
        let output = Child::new("env")
            .env("PROCESS_TEST_INPUT_HELD", "process-test-input-secret-2")
            .env("PROCESS_TEST_INPUT_KEPT", "kept")
            .input(Vec::new())
            .timeout(Duration::from_secs(30))
            .output()
            .unwrap();
        let env = String::from_utf8_lossy(&output.stdout);
        assert!(env.contains("PROCESS_TEST_INPUT_KEPT=kept"), "{env}");
        assert!(!env.contains("process-test-input-secret-2"), "{env}");
    }

    /// The class of bug, not the instance: a child started any other way
    /// would skip the scrub.
    #[test]
    fn only_process_and_git_build_commands() {
        fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    out.push(path);
                }
            }
        }
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        walk(&src, &mut files);
        let mut offenders = Vec::new();
        for file in files {
            let relative = file.strip_prefix(&src).unwrap();
            if relative.starts_with("process") || relative.starts_with("git") {
                continue;
            }
            let text = std::fs::read_to_string(&file).unwrap();
            // Test modules may run what they like.
            let code = text.split("#[cfg(test)]\nmod ").next().unwrap_or_default();
            for needle in ["Command::new", "process::Command", "CommandExt"] {
                if code.contains(needle) {
                    offenders.push(format!("{}: {needle}", relative.display()));
                }
            }
        }
        assert!(
            offenders.is_empty(),
            "start children with process::Child: {offenders:?}"
        );
        assert!(
            src.join("commands/service.rs").is_file(),
            "the walk looked at the sources"
        );
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
