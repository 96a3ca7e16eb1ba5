//! The build sandbox: on Linux with Landlock (5.13+), a build may read the
//! system, its toolchains and interpreters, read and write the export, the
//! output dir, its own temp dir and the build tools' caches, and nothing
//! else of the user's home (`~/.pypirc`, keyrings, `~/.ssh`, `~/.config`).
//! It cannot read another process's environment or memory outside the
//! sandbox (Landlock refuses ptrace-class access across the boundary),
//! signal tagpub, or connect to abstract Unix sockets made outside it.
//! Network stays open: build backends come from the index.
//!
//! The ruleset is built in the parent; the child only makes the two system
//! calls that apply it between fork and exec (nothing that allocates).

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

#[cfg(target_os = "linux")]
use landlock::{
    ABI, Access, AccessFs, PathBeneath, PathFd, Ruleset, RulesetAttr, RulesetCreatedAttr, Scope,
};

/// How to let a build reach a path, for every "denied" message.
pub const ALLOW_HELP: &str = "if the build needs it, allow it in tagpub.toml with `[defaults] sandbox-allow = [\"PATH\"]`, or turn the sandbox off with `sandbox = \"off\"` (under [defaults], or in the package's [[package]] table)";

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error(
        "cannot set up the build sandbox (Landlock): {0}. Turn it off with `sandbox = \"off\"` under [defaults] in tagpub.toml if this kernel's Landlock is broken"
    )]
    Setup(String),
    #[error(
        "cannot apply the build sandbox (Landlock) to the build: {0}. Turn it off with `sandbox = \"off\"` under [defaults] in tagpub.toml if this kernel's Landlock is broken"
    )]
    Apply(io::Error),
    #[error("the build sandbox denied running {program}: {help}", help = ALLOW_HELP.replace("PATH", &program.display().to_string()))]
    Denied { program: PathBuf },
}

/// Paths a sandboxed child may use.
#[derive(Debug, Clone, Default)]
pub struct Sandbox {
    /// Read and execute.
    read: Vec<PathBuf>,
    /// Read, execute, write, create, remove.
    write: Vec<PathBuf>,
    /// The program, for "denied" messages.
    program: PathBuf,
}

/// A sandbox applied to a command; must live until the command is spawned.
pub struct Armed {
    #[cfg(target_os = "linux")]
    _ruleset: std::os::fd::OwnedFd,
}

/// System locations a build reads: programs, libraries, config, devices,
/// certificates, `/proc` and `/sys` (for `/proc/self`, CPU counts).
const SYSTEM_READ: [&str; 19] = [
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/etc",
    "/opt",
    "/nix",
    "/gnu",
    "/snap",
    "/proc",
    "/sys",
    "/dev",
    // /etc/resolv.conf often links here.
    "/run/systemd/resolve",
    "/run/resolvconf",
    "/run/NetworkManager",
    "/var/lib/ca-certificates",
];

/// Devices and shared memory a build writes.
const SYSTEM_WRITE: [&str; 6] = [
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/tty",
    "/dev/shm",
    "/dev/pts",
];

impl Sandbox {
    /// The sandbox for a build running `programs` (the tool, the
    /// interpreter) with `writable` dirs (export, output, temp), plus the
    /// user's `allow` list.
    pub fn for_build(programs: &[PathBuf], writable: &[&Path], allow: &[PathBuf]) -> Sandbox {
        let home = home();
        let mut sandbox = Sandbox {
            program: programs.first().cloned().unwrap_or_default(),
            ..Sandbox::default()
        };
        sandbox.read.extend(SYSTEM_READ.iter().map(PathBuf::from));
        sandbox.write.extend(SYSTEM_WRITE.iter().map(PathBuf::from));
        sandbox
            .write
            .extend(writable.iter().map(|p| p.to_path_buf()));
        sandbox.write.extend(allow.iter().cloned());
        // A build dir that is a shared clone (the tagged commit's checkout)
        // reads its objects from the repository's store: read-only. A
        // cached checkout keeps its git dir beside the work tree (`.git` is
        // a `gitdir:` file): the build may read it, not change it.
        for dir in writable {
            let git_dir = separate_git_dir(dir);
            let objects = git_dir
                .as_ref()
                .map_or_else(|| dir.join(".git/objects"), |g| g.join("objects"));
            sandbox.read.extend(borrowed_object_dirs(&objects));
            sandbox.read.extend(git_dir);
        }
        let keep = |path: &Path| !reveals_home(path, home.as_deref());
        // Every PATH directory (its programs, not its parent).
        if let Some(path) = std::env::var_os("PATH") {
            sandbox
                .read
                .extend(std::env::split_paths(&path).filter(|dir| dir.is_absolute() && keep(dir)));
        }
        // The programs' installations: venvs and the interpreters they point at.
        for program in programs {
            for prefix in prefixes(program) {
                if keep(&prefix) {
                    sandbox.read.push(prefix);
                }
            }
        }
        if let Some(home) = &home {
            // Python's user site-packages, toolchain managers, tool config.
            if let Ok(entries) = std::fs::read_dir(home.join(".local/lib")) {
                sandbox
                    .read
                    .extend(entries.flatten().map(|e| e.path()).filter(|p| {
                        p.file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with("python"))
                    }));
            }
            sandbox.read.extend(
                [
                    env_path("PYENV_ROOT").unwrap_or_else(|| home.join(".pyenv")),
                    env_path("RUSTUP_HOME").unwrap_or_else(|| home.join(".rustup")),
                    home.join(".cargo/bin"),
                    config_home(home).join("uv"),
                    config_home(home).join("pip"),
                    home.join(".pip"),
                    // git's global config files: git dies when it may not
                    // read one that exists, and VCS plugins (setuptools-scm,
                    // hatch-vcs, …) run git in the build's checkout with
                    // every GIT_* variable removed.
                    home.join(".gitconfig"),
                    config_home(home).join("git/config"),
                ]
                .into_iter()
                .filter(|p| keep(p)),
            );
        }
        // Caches and managed interpreters the tools write; created now, as
        // the sandboxed tool could not create them itself.
        for dir in build_caches(home.as_deref()) {
            if keep(&dir) && std::fs::create_dir_all(&dir).is_ok() {
                sandbox.write.push(dir);
            }
        }
        sandbox
    }

    /// Prepares `command` to run in the sandbox. `Ok(None)` when this kernel
    /// (or OS) has no Landlock: the command then runs unsandboxed, logged.
    pub fn arm(&self, command: &mut Command) -> Result<Option<Armed>, SandboxError> {
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::process::CommandExt;

            let Some(ruleset) = self.ruleset()? else {
                tracing::info!("this kernel offers no Landlock: the build runs without a sandbox");
                return Ok(None);
            };
            let fd = std::os::fd::AsRawFd::as_raw_fd(&ruleset);
            // SAFETY: only async-signal-safe system calls between fork and exec.
            unsafe {
                command.pre_exec(move || {
                    if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                        return Err(io::Error::last_os_error());
                    }
                    if libc::syscall(libc::SYS_landlock_restrict_self, fd, 0) != 0 {
                        return Err(io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            tracing::debug!(read = ?self.read, write = ?self.write, "the build runs in a Landlock sandbox");
            Ok(Some(Armed { _ruleset: ruleset }))
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = command;
            tracing::info!("no sandbox on this OS: the build runs without one");
            Ok(None)
        }
    }

    /// The Landlock ruleset, or `None` when the kernel has none.
    #[cfg(target_os = "linux")]
    fn ruleset(&self) -> Result<Option<std::os::fd::OwnedFd>, SandboxError> {
        // The newest ABI tested here (6.18: ABI 7); older kernels get what
        // they support (best effort), a kernel without Landlock gets none.
        let abi = ABI::V6;
        let setup = |e: landlock::RulesetError| SandboxError::Setup(e.to_string());
        let mut ruleset = Ruleset::default()
            .handle_access(AccessFs::from_all(abi))
            .map_err(setup)?
            .scope(Scope::AbstractUnixSocket | Scope::Signal)
            .map_err(setup)?
            .create()
            .map_err(setup)?;
        let rules = self
            .read
            .iter()
            .map(|p| (p, AccessFs::from_read(abi)))
            .chain(self.write.iter().map(|p| (p, AccessFs::from_all(abi))));
        for (path, access) in rules {
            let Ok(metadata) = std::fs::metadata(path) else {
                continue; // absent here: nothing to allow
            };
            let access = if metadata.is_dir() {
                access
            } else {
                access & AccessFs::from_file(abi)
            };
            let Ok(fd) = PathFd::new(path) else {
                continue;
            };
            ruleset = ruleset
                .add_rule(PathBeneath::new(fd, access))
                .map_err(setup)?;
        }
        Ok(ruleset.into())
    }
}

/// Whether this kernel enforces Landlock, i.e. whether a build asked to run
/// sandboxed (`sandbox = "auto"`) really is.
pub fn available() -> bool {
    #[cfg(target_os = "linux")]
    {
        const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
        // SAFETY: with this flag and no attributes the call only returns the
        // ABI version (or an error); nothing is created.
        let abi = unsafe {
            libc::syscall(
                libc::SYS_landlock_create_ruleset,
                std::ptr::null::<libc::c_void>(),
                0usize,
                LANDLOCK_CREATE_RULESET_VERSION,
            )
        };
        abi >= 1
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

/// The git dir a `.git` file in `dir` points at (`gitdir: PATH`), if any.
fn separate_git_dir(dir: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(dir.join(".git")).ok()?;
    let target = text.strip_prefix("gitdir: ")?.trim_end_matches('\n');
    Some(dir.join(target))
}

/// The object stores `objects` borrows through `info/alternates`, followed
/// as deep as git does (5 levels).
fn borrowed_object_dirs(objects: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![(objects.to_path_buf(), 0)];
    while let Some((dir, depth)) = pending.pop() {
        let Ok(text) = std::fs::read_to_string(dir.join("info/alternates")) else {
            continue;
        };
        for line in text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let alternate = dir.join(line); // a relative one is relative to `dir`
            if depth < 5 && !found.contains(&alternate) {
                found.push(alternate.clone());
                pending.push((alternate, depth + 1));
            }
        }
    }
    found
}

/// The error for a sandboxed spawn that failed in the child, if it is one.
pub(crate) fn failed_in_child(sandbox: &Sandbox, error: &io::Error) -> Option<SandboxError> {
    match error.raw_os_error()? {
        libc::EACCES => Some(SandboxError::Denied {
            program: sandbox.program.clone(),
        }),
        libc::EPERM
        | libc::EINVAL
        | libc::E2BIG
        | libc::EBADF
        | libc::EBADFD
        | libc::EOPNOTSUPP
        | libc::ENOSYS => Some(SandboxError::Apply(io::Error::from_raw_os_error(
            error.raw_os_error()?,
        ))),
        _ => None,
    }
}

/// What to tell the user when a sandboxed build failed: the paths its
/// output says it was denied, and how to allow them; `None` when the
/// output shows no permission error.
pub fn denied_hint(output: &str) -> Option<String> {
    let markers = [
        "Permission denied",
        "PermissionError",
        "os error 13",
        "EACCES",
    ];
    let mut paths: Vec<String> = Vec::new();
    let mut denied = false;
    for line in output
        .lines()
        .filter(|l| markers.iter().any(|m| l.contains(m)))
    {
        denied = true;
        for path in quoted_paths(line) {
            if !paths.contains(&path) {
                paths.push(path);
            }
        }
    }
    if !denied {
        return None;
    }
    let path = paths.first().map(String::as_str).unwrap_or("PATH");
    let what = if paths.is_empty() {
        "the build ran in tagpub's sandbox and was denied a file".to_string()
    } else {
        format!(
            "the build ran in tagpub's sandbox, which denied {}",
            paths
                .iter()
                .map(|p| format!("`{p}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    Some(format!("{what}: {}", ALLOW_HELP.replace("PATH", path)))
}

/// Absolute paths quoted in a line ('…', "…", `…`), or after "denied: ".
fn quoted_paths(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    for quote in ['\'', '"', '`'] {
        let parts: Vec<&str> = line.split(quote).collect();
        for inside in parts
            .iter()
            .skip(1)
            .step_by(2)
            .take(parts.len().saturating_sub(1) / 2)
        {
            if inside.starts_with('/') || inside.starts_with("~/") {
                found.push(inside.to_string());
            }
        }
    }
    if found.is_empty() {
        // `sh: 1: cannot create /x/y: Permission denied`, `cat: /x: …`
        found.extend(
            line.split_whitespace()
                .map(|word| word.trim_end_matches([':', ',', ';']))
                .filter(|word| word.len() > 1 && word.starts_with('/'))
                .map(str::to_string),
        );
    }
    found
}

fn home() -> Option<PathBuf> {
    env_path("HOME")
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
}

fn config_home(home: &Path) -> PathBuf {
    env_path("XDG_CONFIG_HOME").unwrap_or_else(|| home.join(".config"))
}

fn cache_home(home: Option<&Path>) -> Option<PathBuf> {
    env_path("XDG_CACHE_HOME").or_else(|| home.map(|h| h.join(".cache")))
}

fn data_home(home: Option<&Path>) -> Option<PathBuf> {
    env_path("XDG_DATA_HOME").or_else(|| home.map(|h| h.join(".local/share")))
}

/// uv's and pip's caches, uv's managed Pythons, cargo's registry (maturin).
fn build_caches(home: Option<&Path>) -> Vec<PathBuf> {
    let cache = cache_home(home);
    let cargo = env_path("CARGO_HOME").or_else(|| home.map(|h| h.join(".cargo")));
    [
        env_path("UV_CACHE_DIR").or_else(|| cache.as_ref().map(|c| c.join("uv"))),
        env_path("PIP_CACHE_DIR").or_else(|| cache.as_ref().map(|c| c.join("pip"))),
        env_path("UV_PYTHON_INSTALL_DIR").or_else(|| data_home(home).map(|d| d.join("uv/python"))),
        cargo.as_ref().map(|c| c.join("registry")),
        cargo.as_ref().map(|c| c.join("git")),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Whether allowing `path` (and all below it) would open the home
/// directory itself, or `~/.local` (keyrings live in `~/.local/share`).
fn reveals_home(path: &Path, home: Option<&Path>) -> bool {
    let Some(home) = home else {
        return path == Path::new("/");
    };
    home.starts_with(path) || path == home.join(".local") || path == home.join(".local/share")
}

/// The installation a program belongs to: `PREFIX` for `PREFIX/bin/prog`
/// (as found and with links resolved), and the base interpreter's prefix
/// named by a venv's `pyvenv.cfg`.
fn prefixes(program: &Path) -> Vec<PathBuf> {
    let found = if program.is_absolute() {
        Some(program.to_path_buf())
    } else {
        crate::process::find_on_path(&program.to_string_lossy())
    };
    let Some(found) = found else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut candidates = vec![found.clone()];
    if let Ok(real) = std::fs::canonicalize(&found) {
        candidates.push(real);
    }
    for binary in candidates {
        let Some(bin) = binary.parent() else { continue };
        let prefix = match bin.file_name().and_then(|n| n.to_str()) {
            Some("bin" | "Scripts") => bin.parent().unwrap_or(bin).to_path_buf(),
            _ => bin.to_path_buf(),
        };
        if let Ok(cfg) = std::fs::read_to_string(prefix.join("pyvenv.cfg")) {
            for line in cfg.lines() {
                if let Some((key, value)) = line.split_once('=')
                    && key.trim() == "home"
                {
                    let base = PathBuf::from(value.trim());
                    let base = std::fs::canonicalize(&base).unwrap_or(base);
                    out.push(match base.file_name().and_then(|n| n.to_str()) {
                        Some("bin" | "Scripts") => base.parent().unwrap_or(&base).to_path_buf(),
                        _ => base,
                    });
                }
            }
        }
        out.push(prefix);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denied_paths_are_named_with_how_to_allow_them() {
        let hint = denied_hint(
            "Traceback (most recent call last):\nPermissionError: [Errno 13] Permission denied: '/home/u/.cache/foo/x'\n",
        )
        .unwrap();
        assert!(hint.contains("`/home/u/.cache/foo/x`"), "{hint}");
        assert!(
            hint.contains("sandbox-allow = [\"/home/u/.cache/foo/x\"]"),
            "{hint}"
        );
        assert!(hint.contains("sandbox = \"off\""), "{hint}");
        let uv = denied_hint(
            "error: failed to open file `/root/.cache/bar/lock`: Permission denied (os error 13)",
        )
        .unwrap();
        assert!(uv.contains("`/root/.cache/bar/lock`"), "{uv}");
        let sh = denied_hint("sh: 1: cannot create /tmp/x/env.txt: Permission denied").unwrap();
        assert!(sh.contains("[\"/tmp/x/env.txt\"]"), "{sh}");
        assert_eq!(denied_hint("error: no module named foo"), None);
    }

    #[test]
    fn the_home_itself_is_never_opened() {
        let home = Path::new("/home/u");
        for path in [
            "/",
            "/home",
            "/home/u",
            "/home/u/.local",
            "/home/u/.local/share",
        ] {
            assert!(reveals_home(Path::new(path), Some(home)), "{path}");
        }
        for path in ["/usr", "/home/u/.cache/uv", "/home/u/.pyenv", "/home/v"] {
            assert!(!reveals_home(Path::new(path), Some(home)), "{path}");
        }
    }
}
