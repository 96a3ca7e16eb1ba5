//! A sample monorepo in a temp dir, and the tagpub binary run against it
//! with its own data dirs and a controlled environment.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The tagpub binary the tests run: a hard link, made once per test
/// process, to the one cargo built for this run.
///
/// `install::pip_install_builds_a_working_tagpub` builds tagpub through
/// maturin in this target dir, and cargo re-links `target/debug/tagpub`
/// (remove, then link) because maturin's `cargo rustc` flags differ from
/// `cargo test`'s. A test that started tagpub in that moment got ENOENT, or
/// ran the other build. The link keeps this build's file whatever cargo does
/// to the path. `install` takes it before it starts maturin.
pub fn tagpub_bin() -> &'static Path {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let built = Path::new(env!("CARGO_BIN_EXE_tagpub"));
        let links = built.with_file_name("tagpub-for-tests");
        remove_links_of_finished_runs(&links);
        let dir = links.join(std::process::id().to_string());
        std::fs::create_dir_all(&dir).expect("a dir for the test binary");
        let link = dir.join("tagpub");
        let _ = std::fs::remove_file(&link);
        if std::fs::hard_link(built, &link).is_err() {
            std::fs::copy(built, &link).expect("a copy of the tagpub binary");
        }
        link
    })
}

/// Each run's link holds its build's file on disk: a dir whose process is
/// gone (or, without `/proc`, older than a day) is removed.
fn remove_links_of_finished_runs(links: &Path) {
    let Ok(entries) = std::fs::read_dir(links) else {
        return;
    };
    let has_proc = Path::new("/proc/self").exists();
    for entry in entries.flatten() {
        let finished = if has_proc {
            !Path::new("/proc").join(entry.file_name()).exists()
        } else {
            entry
                .metadata()
                .and_then(|meta| meta.modified())
                .ok()
                .and_then(|modified| modified.elapsed().ok())
                .is_some_and(|age| age > std::time::Duration::from_secs(24 * 3600))
        };
        if finished {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

pub use tagpub_fixtures::git::{command_with as git_command, git};

pub struct Project {
    pub temp: tempfile::TempDir,
    pub root: PathBuf,
    pub state: PathBuf,
}

/// What a tagpub run printed and how it ended.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from_output(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    #[track_caller]
    pub fn assert_ok(&self) -> &Run {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn assert_fails(&self, code: i32, message: &str) -> &Run {
        assert_eq!(
            self.code, code,
            "expected exit {code}\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self.assert_stderr(message)
    }

    #[track_caller]
    pub fn assert_stderr(&self, text: &str) -> &Run {
        assert!(
            self.stderr.contains(text),
            "expected `{text}` in stderr:\n{}",
            self.stderr
        );
        self
    }
}

impl Project {
    /// The sample monorepo at `version`, committed, with `git init`'s
    /// `ref_format`/`object_format` options if given (e.g. `--ref-format=reftable`).
    pub fn sample(init_args: &[&str]) -> Project {
        let project = Project::empty(init_args);
        tagpub::sample::write_monorepo(&project.root, "1.0.0").unwrap();
        project.commit("initial");
        project
    }

    /// An empty git repository (`repo/`, branch `main`) in a temp dir, with
    /// its tagpub state beside it in `state/`.
    pub fn empty(init_args: &[&str]) -> Project {
        let temp = tempfile::tempdir().unwrap();
        let root = temp.path().join("repo");
        let state = temp.path().join("state");
        std::fs::create_dir_all(&root).unwrap();
        tagpub_fixtures::git::init(&root, init_args);
        Project { temp, root, state }
    }

    pub fn write(&self, path: &str, content: &str) {
        let path = self.root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    pub fn commit(&self, message: &str) {
        git(&self.root, &["add", "--all"]);
        git(&self.root, &["commit", "--quiet", "-m", message]);
    }

    pub fn tag(&self, name: &str) {
        git(
            &self.root,
            &["tag", "-a", "-m", &format!("Release {name}"), name],
        );
    }

    /// Writes the seed's three-package config publishing to `repository`,
    /// plus `extra` TOML, and commits it.
    pub fn configure(&self, repository: &str, extra: &str) {
        self.write(
            "tagpub.toml",
            &format!(
                "[defaults]\nrepository = \"{repository}\"\n\n\
                 [[package]]\nname = \"open-ticket-ai\"\npath = \".\"\ntags = [\"v{{version}}\"]\n\n\
                 [[package]]\nname = \"open-ticket-ai-hf-local\"\npath = \"src/open_ticket_ai_hf_local\"\n\
                 tags = [\"hf-local-v{{version}}\", \"open-ticket-ai-hf-local-v{{version}}\"]\n\
                 token-env = \"PYPI_API_TOKEN_HF_LOCAL\"\n\n\
                 [[package]]\nname = \"open-ticket-ai-otobo-znuny-plugin\"\npath = \"src/open_ticket_ai_otobo_znuny_plugin\"\n\
                 tags = [\"otobo-znuny-v{{version}}\"]\n{extra}"
            ),
        );
        self.commit("configure tagpub");
    }

    /// Makes the build run the shell command `prelude` before `uv build`
    /// (`[defaults] build-command`), with the test's dir `writable` (made
    /// here) allowed in the build sandbox, and commits it.
    pub fn build_with_prelude(&self, prelude: &str, writable: &Path) {
        std::fs::create_dir_all(writable).unwrap();
        self.add_defaults(
            &format!(
                "sandbox-allow = [\"{}\"]\nbuild-command = [\"sh\", \"-c\", \"{} && exec uv build --sdist --wheel --out-dir \\\"$0\\\" .\", \"{{outdir}}\"]\n",
                writable.display(),
                prelude.replace('\\', "\\\\").replace('"', "\\\"")
            ),
            "a build with a prelude",
        );
    }

    /// Adds `lines` (TOML, each ending in a newline) at the top of the
    /// config's `[defaults]` and commits with `message`.
    pub fn add_defaults(&self, lines: &str, message: &str) {
        let config = std::fs::read_to_string(self.root.join("tagpub.toml")).unwrap();
        self.write(
            "tagpub.toml",
            &config.replace("[defaults]\n", &format!("[defaults]\n{lines}")),
        );
        self.commit(message);
    }

    /// The sample monorepo publishing to `url` as repository `name`
    /// (`[repository.NAME]`), with no grace period.
    pub fn publishing_to(name: &str, url: &str) -> Project {
        let project = Project::sample(&[]);
        project.configure(name, &format!("\n[repository.{name}]\nurl = \"{url}\"\n"));
        project.add_defaults("grace = \"0s\"\n", "no grace");
        project
    }

    /// Points `command` (tagpub, or a git whose hooks run tagpub) at this
    /// project's tagpub dirs.
    pub fn with_tagpub_dirs<'c>(&self, command: &'c mut Command) -> &'c mut Command {
        tagpub_fixtures::dirs::isolate(command, &self.state)
    }

    /// A tagpub command with isolated dirs and no token in the environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(tagpub_bin());
        self.with_tagpub_dirs(&mut command)
            .args(args)
            .current_dir(&self.root)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("TAGPUB_PYPIRC", self.state.join("pypirc"))
            .env("NO_COLOR", "1")
            // `plan` asks no index but loopback ones in tests: the tests
            // of its index checks remove this.
            .env("TAGPUB_OFFLINE", "1")
            .stdin(std::process::Stdio::null());
        tagpub::process::scrub_secret_env(&mut command);
        command
    }

    /// Runs `git_program` in the repository the way a user would, with this
    /// project's tagpub dirs in the environment so installed hooks (and the
    /// tagpub they call) use them.
    pub fn git_as_user(&self, git_program: &str, args: &[&str]) -> Run {
        let mut command = Command::new(git_program);
        let output = self
            .with_tagpub_dirs(&mut command)
            .arg("-C")
            .arg(&self.root)
            .args([
                "-c",
                "user.name=Test",
                "-c",
                "user.email=test@example.invalid",
            ])
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("git runs");
        Run::from_output(output)
    }

    /// A tagpub command with `input` on stdin.
    pub fn run_with_stdin(&self, args: &[&str], input: &str) -> Run {
        Run::from_output(output_with_stdin(self.command(args), input.as_bytes()))
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::from_output(self.command(args).output().expect("tagpub runs"))
    }

    pub fn run_with_token(&self, args: &[&str], var: &str, token: &str) -> Run {
        Run::from_output(
            self.command(args)
                .env(var, token)
                .output()
                .expect("tagpub runs"),
        )
    }

    /// A bare repository beside this one as its `origin`; returns its path.
    pub fn bare_origin(&self) -> PathBuf {
        let remote = self.temp.path().join("remote.git");
        git(
            self.temp.path(),
            &["init", "--quiet", "--bare", remote.to_str().unwrap()],
        );
        git(
            &self.root,
            &["remote", "add", "origin", remote.to_str().unwrap()],
        );
        remote
    }

    pub fn local_index(&self) -> PathBuf {
        self.state.join("data/index/simple")
    }
}

/// Runs `command` with `input` on its stdin and collects its output.
pub fn output_with_stdin(mut command: Command, input: &[u8]) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the command starts");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(input)
        .expect("the command reads its input");
    child.wait_with_output().expect("the command ends")
}

/// File names in a directory, sorted; empty when it does not exist.
pub fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| e.path().is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}
