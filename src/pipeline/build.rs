//! Export the tagged commit and build sdist + wheel from it.
//!
//! The build never sees the working tree (uncommitted changes must not leak
//! into a release) and never sees a credential: it is started through
//! `process::Child` (environment scrubbed) and, with `sandbox = "auto"`, in
//! the Landlock sandbox of `process::sandbox`.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::config::{Config, Package, SandboxMode};
use crate::git::{GitError, Repo};
use crate::pipeline::Reporter;
use crate::pipeline::resolve::short;
use crate::process::sandbox::{Sandbox, SandboxError};
use crate::process::{Child, RunError};

/// What builds the distributions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildTool {
    /// `uv build` (fast; preferred when on PATH).
    Uv(PathBuf),
    /// `python -m build`.
    PythonBuild(PathBuf),
    /// A command from the config; `{outdir}` is replaced by the output dir.
    Command(Vec<String>),
}

impl BuildTool {
    /// `uv` if it is on PATH, else `python -m build` with `TAGPUB_PYTHON`
    /// or the first `python3`/`python` on PATH.
    pub fn detect() -> Result<BuildTool, BuildError> {
        if let Some(uv) = find_on_path("uv") {
            return Ok(BuildTool::Uv(uv));
        }
        python_interpreter()
            .map(BuildTool::PythonBuild)
            .ok_or(BuildError::NoBuildTool)
    }

    /// The tool for a package: an explicit choice, else the package's
    /// `build-command`, the default `build-command`, or detection.
    pub fn for_package(
        config: &Config,
        package: &Package,
        explicit: Option<&BuildTool>,
    ) -> Result<BuildTool, BuildError> {
        if let Some(tool) = explicit {
            return Ok(tool.clone());
        }
        match package
            .build_command
            .as_ref()
            .or(config.defaults.build_command.as_ref())
        {
            Some(argv) => Ok(BuildTool::Command(argv.clone())),
            None => BuildTool::detect(),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            BuildTool::Uv(path) => format!("uv build ({})", path.display()),
            BuildTool::PythonBuild(python) => format!("{} -m build", python.display()),
            BuildTool::Command(argv) => argv.join(" "),
        }
    }
}

/// The Python to use: `TAGPUB_PYTHON`, else `python3`, else `python`.
pub fn python_interpreter() -> Option<PathBuf> {
    if let Some(explicit) = std::env::var_os("TAGPUB_PYTHON").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(explicit));
    }
    find_on_path("python3").or_else(|| find_on_path("python"))
}

pub fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find_map(|dir| {
        let candidate = dir.join(program);
        #[cfg(windows)]
        let candidate = candidate.with_extension("exe");
        candidate.is_file().then_some(candidate)
    })
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(
        "no build tool found: install uv (`pip install uv`) or build (`pip install build`), or set build-command in tagpub.toml"
    )]
    NoBuildTool,
    #[error("could not start {tool}: {source}")]
    Spawn {
        tool: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the build failed ({tool}, {status}). Last lines of its output:\n{tail}\nFull log: {log}\n{}",
        hint.clone().unwrap_or_else(|| format!("Fix the package so `{tool}` succeeds in a clean checkout of the tag, then move the tag or create a new one"))
    )]
    Failed {
        tool: String,
        status: String,
        tail: String,
        log: PathBuf,
        /// How to allow what the sandbox denied, when that is why.
        hint: Option<String>,
    },
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error("the build succeeded but wrote no .tar.gz or .whl into {0}: check the build command")]
    NoArtifacts(PathBuf),
    #[error("cannot export {commit} for building: {source}")]
    Export {
        commit: String,
        #[source]
        source: GitError,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

fn io_error(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> BuildError {
    let context = context.into();
    move |source| BuildError::Io { context, source }
}

/// How to build, wherever the sources come from.
pub struct BuildSettings<'a> {
    pub tool: &'a BuildTool,
    /// Emptied first: it holds exactly this build's files afterwards.
    pub out_dir: &'a Path,
    /// Where the build's combined output goes.
    pub log_path: &'a Path,
    pub source_date_epoch: i64,
    /// `(env var, version)` for dynamic versions (setuptools-scm, hatch-vcs).
    pub pretend_version: Option<(String, String)>,
    /// Variables tagpub read a secret from; removed like every token variable.
    pub secret_env: &'a [String],
    /// `auto`: in the Landlock sandbox where the kernel has it.
    pub sandbox: SandboxMode,
    /// Extra paths the sandboxed build may read and write.
    pub sandbox_allow: &'a [PathBuf],
}

/// Runs the build and returns the artifacts, sdist first.
pub fn build(source_dir: &Path, request: &BuildSettings<'_>) -> Result<Vec<PathBuf>, BuildError> {
    build_in(source_dir, source_dir, request)
}

/// [`build`] of `source_dir` inside the tree `root` (the export: uv reads
/// the workspace's `pyproject.toml` above a package), which the sandbox
/// opens to the build.
fn build_in(
    root: &Path,
    source_dir: &Path,
    request: &BuildSettings<'_>,
) -> Result<Vec<PathBuf>, BuildError> {
    fs::create_dir_all(request.out_dir).map_err(io_error(format!(
        "cannot create {}",
        request.out_dir.display()
    )))?;
    let (program, args): (PathBuf, Vec<String>) = match request.tool {
        BuildTool::Uv(uv) => (
            uv.clone(),
            vec![
                "build".into(),
                "--sdist".into(),
                "--wheel".into(),
                "--out-dir".into(),
                request.out_dir.display().to_string(),
                source_dir.display().to_string(),
            ],
        ),
        BuildTool::PythonBuild(python) => (
            python.clone(),
            vec![
                "-m".into(),
                "build".into(),
                "--sdist".into(),
                "--wheel".into(),
                "--outdir".into(),
                request.out_dir.display().to_string(),
                source_dir.display().to_string(),
            ],
        ),
        BuildTool::Command(argv) => {
            let out = request.out_dir.display().to_string();
            let mut words = argv.iter().map(|w| w.replace("{outdir}", &out));
            let program = words.next().ok_or(BuildError::NoBuildTool)?;
            (PathBuf::from(program), words.collect())
        }
    };
    let tool = request.tool.describe();
    let log = File::create(request.log_path).map_err(io_error(format!(
        "cannot create {}",
        request.log_path.display()
    )))?;
    let log_err = log
        .try_clone()
        .map_err(io_error("cannot share the build log"))?;

    // The build's own temp dir: the sandbox opens no other.
    let temp = tempfile::Builder::new()
        .prefix("tagpub-build-tmp-")
        .tempdir()
        .map_err(io_error(
            "cannot create a temporary directory for the build",
        ))?;
    for name in request.secret_env {
        crate::process::withhold_env(name);
    }
    let mut command = Child::new(&program);
    command
        .args(&args)
        .current_dir(source_dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .env("TMPDIR", temp.path())
        .env("TMP", temp.path())
        .env("TEMP", temp.path())
        .env("SOURCE_DATE_EPOCH", request.source_date_epoch.to_string());
    if let Some((var, version)) = &request.pretend_version {
        command.env(var, version);
    }
    let sandboxed = request.sandbox == SandboxMode::Auto;
    if sandboxed {
        let mut programs = vec![program.clone()];
        if let BuildTool::Uv(_) = request.tool
            && let Some(python) = python_interpreter()
        {
            programs.push(python);
        }
        command.sandbox(Sandbox::for_build(
            &programs,
            &[root, source_dir, request.out_dir, temp.path()],
            request.sandbox_allow,
        ));
    }
    tracing::debug!(tool = %tool, dir = %source_dir.display(), sandbox = ?request.sandbox, "running build");
    let status = command.status().map_err(|err| match err {
        RunError::Sandbox(err) => BuildError::Sandbox(err),
        RunError::Start { source, .. } => BuildError::Spawn {
            tool: tool.clone(),
            source,
        },
        // status() reports a failed exit as a status, not as this.
        other @ RunError::Failed { .. } => BuildError::Spawn {
            tool: tool.clone(),
            source: std::io::Error::other(other.to_string()),
        },
    })?;
    if !status.success() {
        let hint = sandboxed
            .then(|| fs::read(request.log_path).ok())
            .flatten()
            .and_then(|text| crate::process::sandbox::denied_hint(&String::from_utf8_lossy(&text)));
        return Err(BuildError::Failed {
            tool,
            status: status.to_string(),
            tail: crate::process::quote_last_lines_of(request.log_path, 30),
            log: request.log_path.to_path_buf(),
            hint,
        });
    }
    let artifacts = list_artifacts(request.out_dir)?;
    if artifacts.is_empty() {
        return Err(BuildError::NoArtifacts(request.out_dir.to_path_buf()));
    }
    Ok(artifacts)
}

/// Exports `commit` into a temporary directory and builds `package` there.
pub fn build_commit(
    repo: &Repo,
    package: &Package,
    commit: &str,
    settings: &BuildSettings<'_>,
    reporter: &dyn Reporter,
) -> Result<Vec<PathBuf>, BuildError> {
    let export = tempfile::Builder::new()
        .prefix("tagpub-export-")
        .tempdir()
        .map_err(io_error(
            "cannot create a temporary directory for the export",
        ))?;
    reporter.step(&format!("exporting {}", short(commit)));
    repo.export(commit, export.path())
        .map_err(|source| BuildError::Export {
            commit: commit.to_string(),
            source,
        })?;
    if settings.out_dir.exists() {
        fs::remove_dir_all(settings.out_dir).map_err(io_error(format!(
            "cannot clear {}",
            settings.out_dir.display()
        )))?;
    }
    if let Some(parent) = settings.log_path.parent() {
        fs::create_dir_all(parent)
            .map_err(io_error(format!("cannot create {}", parent.display())))?;
    }
    reporter.step(&format!(
        "building {} with {}",
        package.name,
        settings.tool.describe()
    ));
    build_in(export.path(), &export.path().join(&package.path), settings)
}

/// The distributions in a directory, sdists first (PyPI's order, and the
/// seed workflows'), then wheels, each group sorted by name.
pub fn list_artifacts(dir: &Path) -> Result<Vec<PathBuf>, BuildError> {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(io_error(format!("cannot read {}", dir.display())))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.is_file() && artifact_rank(path).is_some())
        .collect();
    found.sort_by_key(|path| {
        (
            artifact_rank(path),
            path.file_name().map(|n| n.to_os_string()),
        )
    });
    Ok(found)
}

fn artifact_rank(path: &Path) -> Option<u8> {
    let name = path.file_name()?.to_str()?;
    if name.ends_with(".tar.gz") || name.ends_with(".zip") {
        Some(0)
    } else if name.ends_with(".whl") {
        Some(1)
    } else {
        None
    }
}
