//! Export the tagged commit and build sdist + wheel from it.
//!
//! The build never sees the working tree (uncommitted changes must not leak
//! into a release) and never sees a credential: it is started through
//! `process::Child` (environment scrubbed) and, with `sandbox = "auto"`, in
//! the Landlock sandbox of `process::sandbox`.
//!
//! The jobs live in submodules: `tool.rs` (what runs the build), `epoch.rs`
//! (SOURCE_DATE_EPOCH and the sdist clamp), `pretend.rs` (pretend versions).
//!
//! SOURCE_DATE_EPOCH ([`pick_source_date_epoch`]): the user's (environment,
//! then `[defaults] source-date-epoch`), else unset for backends that are
//! reproducible on their own (so the files equal a plain `uv build` of a
//! checkout), else the tag's date. Whenever it is set, the sdist's entries
//! are clamped to it ([`clamp_sdist`]): setuptools dates generated files
//! and the gzip header "now" even with SOURCE_DATE_EPOCH set.

use std::collections::BTreeMap;
use std::fs::{self, File};

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::str::FromStr;

use crate::config::{Config, Package, SandboxMode};
use crate::git::{GitError, Repo};
use crate::ledger::BuildInputs;
use crate::pipeline::resolve::{Plan, short};
use crate::process::sandbox::{Sandbox, SandboxError};
use crate::process::{Child, RunError};
use crate::report::Reporter;
use crate::version::Version;

mod epoch;
mod pretend;
mod tool;

pub use epoch::{
    EpochChoice, SELF_REPRODUCIBLE_BACKENDS, build_backend, clamp_sdist, pick_source_date_epoch,
    source_date_epoch,
};
pub use pretend::{PretendVersion, PretendWhen, pretend_fallback};
pub use tool::{BuildTool, Placeholders, python_interpreter};

/// The variables tagpub sets for a build (SOURCE_DATE_EPOCH, pretend
/// versions): the build and its fingerprint both take them from here.
/// `with_pretend`: whether this attempt sets the pretend versions (always
/// for [`PretendWhen::Always`], only on the second attempt for
/// [`PretendWhen::Fallback`]).
pub fn build_env(settings: &BuildSettings<'_>, with_pretend: bool) -> Vec<(String, String)> {
    let mut env = Vec::new();
    if let Some(epoch) = settings.source_date_epoch {
        env.push(("SOURCE_DATE_EPOCH".to_string(), epoch.to_string()));
    }
    if let Some(pretend) = settings.pretend_version.as_ref().filter(|_| with_pretend) {
        env.extend(pretend.env());
    }
    env
}

/// Everything that decides the bytes of a build of `package` at the tag
/// object `tag_target`, readable, with its sha256.
pub fn build_inputs(
    tag_target: &str,
    package: &Package,
    settings: &BuildSettings<'_>,
) -> BuildInputs {
    let mut inputs = BTreeMap::from([
        ("tag object".to_string(), tag_target.to_string()),
        ("path".to_string(), package.path.clone()),
        ("build-command".to_string(), settings.tool.describe()),
        ("frontend".to_string(), settings.tool.frontend()),
        (
            "sandbox".to_string(),
            format!("{:?}", settings.sandbox).to_lowercase(),
        ),
        (
            "sandbox-allow".to_string(),
            settings
                .sandbox_allow
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" "),
        ),
    ]);
    if settings.source_date_epoch.is_none() {
        inputs.insert("SOURCE_DATE_EPOCH".to_string(), "unset".to_string());
    }
    inputs.extend(build_env(settings, false));
    // Every variable the build may get, and when: a fallback set only when
    // the checkout does not give the version is still an input.
    if let Some(pretend) = &settings.pretend_version {
        let when = match pretend.when {
            PretendWhen::Always => "",
            PretendWhen::Fallback => " (only if a build without it does not give this version)",
        };
        for (name, value) in pretend.env() {
            inputs.insert(name, format!("{value}{when}"));
        }
    }
    BuildInputs::new(inputs)
}

/// Why a build gave no files to check; each says whether the environment or
/// the package is at fault, and what to do.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(
        "no build tool found: install uv (`pip install uv`) or build (`pip install build`), or set build-command in tagpub.toml"
    )]
    NoBuildTool,
    #[error(
        "could not start {tool}. This is the build environment, not the package: install it, or fix build-command (or TAGPUB_PYTHON, which picks the Python of `python -m build`) in tagpub.toml, then run the release again"
    )]
    Spawn {
        tool: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the build failed ({tool}, {status}). Last lines of its output:\n{tail}\nFull log: {log}\n{}",
        hint.clone().unwrap_or_else(|| format!("This is a failure of the package (its build backend failed). Fix the package so `{tool}` succeeds in a clean checkout of the tag, then move the tag or create a new one"))
    )]
    Failed {
        tool: String,
        status: String,
        tail: String,
        log: PathBuf,
        /// What to do instead of fixing the package: how to allow what the
        /// sandbox denied, or how to fix the build environment.
        hint: Option<String>,
    },
    #[error(
        "SOURCE_DATE_EPOCH={0} is not a Unix time in seconds: set it to a whole number of seconds (e.g. `date +%s`) or unset it"
    )]
    BadEpoch(String),
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error("the build succeeded but wrote no .tar.gz or .whl into {0}: check the build command")]
    NoArtifacts(PathBuf),
    #[error("cannot export {commit} for building")]
    Export {
        commit: String,
        #[source]
        source: GitError,
    },
    #[error("{context}")]
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
    /// The package's name and the version built, for `{package}`/`{version}`.
    pub package: &'a str,
    pub version: &'a str,
    /// `None`: not set ([`pick_source_date_epoch`]).
    pub source_date_epoch: Option<i64>,
    /// The pretend versions for VCS versions (setuptools-scm, hatch-vcs)
    /// and when they are set ([`PretendWhen`]).
    pub pretend_version: Option<PretendVersion>,
    /// `auto`: in the Landlock sandbox where the kernel has it.
    pub sandbox: SandboxMode,
    /// Extra paths the sandboxed build may read and write.
    pub sandbox_allow: &'a [PathBuf],
}

/// How a release builds a plan's package: the one place that decides the
/// tool, SOURCE_DATE_EPOCH, pretend versions and sandbox, so `release` and
/// `rebuild` build exactly alike.
pub struct PlanBuild {
    pub tool: BuildTool,
    pub epoch: EpochChoice,
    pub version: String,
    pub pretend: Option<PretendVersion>,
    pub sandbox: SandboxMode,
    pub sandbox_allow: Vec<PathBuf>,
}

impl PlanBuild {
    /// `explicit`: a tool chosen by the caller instead of the config's.
    pub fn prepare(
        repo: &Repo,
        config: &Config,
        plan: &Plan,
        explicit: Option<&BuildTool>,
    ) -> Result<PlanBuild, BuildError> {
        let package = &plan.package_config;
        Ok(PlanBuild {
            tool: BuildTool::for_package(config, package, explicit)?,
            epoch: source_date_epoch(repo, config, plan)?,
            version: plan.version.to_string(),
            pretend: pretend_fallback(plan),
            sandbox: package.sandbox(&config.defaults),
            sandbox_allow: config.defaults.sandbox_allow.clone(),
        })
    }

    /// The settings of one build of `plan` into `out_dir`, logged to `log_path`.
    pub fn settings<'a>(
        &'a self,
        plan: &'a Plan,
        out_dir: &'a Path,
        log_path: &'a Path,
    ) -> BuildSettings<'a> {
        BuildSettings {
            tool: &self.tool,
            out_dir,
            log_path,
            package: &plan.package,
            version: &self.version,
            source_date_epoch: self.epoch.value,
            pretend_version: self.pretend.clone(),
            sandbox: self.sandbox,
            sandbox_allow: &self.sandbox_allow,
        }
    }
}

/// Runs the build and returns the artifacts, sdist first.
pub fn build(source_dir: &Path, request: &BuildSettings<'_>) -> Result<Vec<PathBuf>, BuildError> {
    build_in(source_dir, source_dir, request, pretend_on_first(request))
}

fn pretend_on_first(request: &BuildSettings<'_>) -> bool {
    request
        .pretend_version
        .as_ref()
        .is_some_and(|p| p.when == PretendWhen::Always)
}

/// [`build`] of `source_dir` inside the tree `root` (the export: uv reads
/// the workspace's `pyproject.toml` above a package), which the sandbox
/// opens to the build.
fn build_in(
    root: &Path,
    source_dir: &Path,
    request: &BuildSettings<'_>,
    with_pretend: bool,
) -> Result<Vec<PathBuf>, BuildError> {
    fs::create_dir_all(request.out_dir).map_err(io_error(format!(
        "cannot create {}",
        request.out_dir.display()
    )))?;
    let (program, args, tool) = request.tool.command_line(
        source_dir,
        &Placeholders {
            outdir: request.out_dir,
            version: request.version,
            package: request.package,
        },
    )?;
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
    let mut command = Child::new(&program);
    command
        .args(&args)
        .current_dir(source_dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .env("TMPDIR", temp.path())
        .env("TMP", temp.path())
        .env("TEMP", temp.path());
    for (name, value) in build_env(request, with_pretend) {
        command.env(name, value);
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
        // status() reports a failed exit as a status, and sets no time
        // limit: neither is this.
        other @ (RunError::Failed { .. } | RunError::Wait { .. } | RunError::TimedOut { .. }) => {
            BuildError::Spawn {
                tool: tool.clone(),
                source: std::io::Error::other(other),
            }
        }
    })?;
    if !status.success() {
        let hint = sandboxed
            .then(|| fs::read(request.log_path).ok())
            .flatten()
            .and_then(|text| crate::process::sandbox::denied_hint(&String::from_utf8_lossy(&text)))
            .or_else(|| {
                let text = fs::read(request.log_path).ok()?;
                environment_failure(&String::from_utf8_lossy(&text))
            });
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
    if let Some(epoch) = request.source_date_epoch {
        for sdist in artifacts
            .iter()
            .filter(|p| p.to_string_lossy().ends_with(".tar.gz"))
        {
            if clamp_sdist(sdist, epoch)? {
                tracing::info!(sdist = %sdist.display(), epoch, "dated the sdist's entries no later than SOURCE_DATE_EPOCH");
            }
        }
    }
    Ok(artifacts)
}

/// Known failures of the build environment (not of the package) in a
/// build's output, with their fix.
pub fn environment_failure(log: &str) -> Option<String> {
    const AGAIN: &str = "This is the build environment, not the package: the tag can stay; fix it, then run the release again";
    let found = |needles: &[&str]| needles.iter().any(|n| log.contains(n));
    if found(&["No module named build", "No module named 'build'"]) {
        return Some(format!(
            "The Python that ran `-m build` has no `build` module. {AGAIN}: install it into that Python (`python -m pip install build`), install uv, or point TAGPUB_PYTHON (or build-command) at a Python that has it."
        ));
    }
    if found(&[
        "No interpreter found",
        "No Python at",
        "Failed to download",
        "failed to download",
        "No download found for request",
    ]) {
        return Some(format!(
            "uv found no Python that satisfies the package's requires-python and could not download one. {AGAIN}: install a matching Python (`uv python install`), allow uv's downloads, or set UV_PYTHON."
        ));
    }
    if found(&[
        "dns error",
        "Network is unreachable",
        "Temporary failure in name resolution",
        "Failed to fetch:",
        "Could not connect",
    ]) {
        return Some(format!(
            "The build could not reach the package index for its build requirements. {AGAIN}: check the network, proxy or index settings (UV_INDEX_URL / PIP_INDEX_URL)."
        ));
    }
    None
}

/// Checks `commit` out ([`Repo::checkout`]: a slot of the checkout cache
/// `checkouts` (the data dir's, from the caller's `Dirs`), else a temporary
/// directory) and builds `package` there.
pub fn build_commit(
    repo: &Repo,
    package: &Package,
    commit: &str,
    settings: &BuildSettings<'_>,
    reporter: &dyn Reporter,
    checkouts: Option<&Path>,
) -> Result<Vec<PathBuf>, BuildError> {
    reporter.step(&format!("exporting {}", short(commit)));
    let checkout = check_out(repo, package, commit, settings, checkouts)?;
    let export = checkout.path();
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
    let source_dir = export.join(&package.path);
    let (_, _, shown) = settings.tool.command_line(
        &source_dir,
        &Placeholders {
            outdir: settings.out_dir,
            version: settings.version,
            package: settings.package,
        },
    )?;
    reporter.step(&format!("building {} with {shown}", package.name));
    let with_pretend = pretend_on_first(settings);
    let first = build_in(export, &source_dir, settings, with_pretend);
    let Some(pretend) = settings.pretend_version.as_ref().filter(|_| !with_pretend) else {
        return done_with(checkout, commit, settings, first);
    };
    // The first attempt's log is kept beside the second's.
    let first_log = settings.log_path.with_extension("without-pretend.log");
    let why = match first {
        Ok(artifacts) => match other_version(&artifacts, &pretend.version) {
            None => return done_with(checkout, commit, settings, Ok(artifacts)),
            Some((file, found)) => format!(
                "{file} came out as version {found}, not the tag's {}: the VCS plugin did not get it from the checkout (does its tag pattern, e.g. setuptools-scm's tag_regex, match the tag?)",
                pretend.version
            ),
        },
        // A plugin that finds no version may fail the build instead; a
        // failure of the environment or the sandbox (`hint`) would only
        // fail again.
        Err(BuildError::Failed { hint: None, .. }) => format!(
            "the build without pretend versions failed (it may not find the version in the checkout; log: {})",
            first_log.display()
        ),
        Err(other) => return done_with(checkout, commit, settings, Err(other)),
    };
    reporter.info(&format!("{why}; building again with {}", pretend.shown()));
    if settings.log_path.exists() {
        fs::rename(settings.log_path, &first_log).map_err(io_error(format!(
            "cannot keep the first build's log as {}",
            first_log.display()
        )))?;
    }
    fs::remove_dir_all(settings.out_dir).map_err(io_error(format!(
        "cannot clear {}",
        settings.out_dir.display()
    )))?;
    // What the first attempt wrote into the tree (egg-info, build/, a
    // version file) must not reach the second: a clean checkout again.
    done_with(checkout, commit, settings, Ok(Vec::new()))?;
    let checkout = check_out(repo, package, commit, settings, checkouts)?;
    let second = build_in(
        checkout.path(),
        &checkout.path().join(&package.path),
        settings,
        true,
    );
    done_with(checkout, commit, settings, second)
}

/// Gives the checkout back after a build: a cached slot is kept for the
/// next build only when this one ran in the sandbox (which cannot write the
/// slot's git dir); otherwise it is removed.
fn done_with(
    checkout: crate::git::Checkout,
    commit: &str,
    settings: &BuildSettings<'_>,
    result: Result<Vec<PathBuf>, BuildError>,
) -> Result<Vec<PathBuf>, BuildError> {
    let sandboxed = settings.sandbox == SandboxMode::Auto && crate::process::sandbox::available();
    if !sandboxed {
        checkout.discard().map_err(|source| BuildError::Export {
            commit: commit.to_string(),
            source,
        })?;
    }
    result
}

/// A clean checkout of `commit` for building `package`, its files dated
/// after SOURCE_DATE_EPOCH as a fresh checkout's would be.
fn check_out(
    repo: &Repo,
    package: &Package,
    commit: &str,
    settings: &BuildSettings<'_>,
    checkouts: Option<&Path>,
) -> Result<crate::git::Checkout, BuildError> {
    let failed = |source| BuildError::Export {
        commit: commit.to_string(),
        source,
    };
    let checkout = repo.checkout(commit, checkouts).map_err(failed)?;
    if let Some(epoch) = settings.source_date_epoch {
        checkout
            .date_after(epoch, Path::new(&package.path))
            .map_err(failed)?;
    }
    Ok(checkout)
}

/// The first built file whose metadata names another version than
/// `expected` (compared as PEP 440 versions: `1.0` is `1.0.0`), with the
/// version it names.
fn other_version(artifacts: &[PathBuf], expected: &str) -> Option<(String, String)> {
    let expected = Version::from_str(expected).ok();
    artifacts.iter().find_map(|path| {
        let name = path.file_name()?.to_string_lossy().into_owned();
        let found = match crate::pipeline::check::inspect(path) {
            Ok(artifact) => artifact.metadata.get("Version").unwrap_or("").to_string(),
            Err(_) => return None,
        };
        let same = expected.is_some() && Version::from_str(found.trim()).ok() == expected;
        (!same).then_some((name, found))
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_failures_are_told_from_package_failures() {
        assert!(
            environment_failure("/usr/bin/python3: No module named build")
                .unwrap()
                .contains("TAGPUB_PYTHON")
        );
        assert!(
            environment_failure(
                "error: No interpreter found for Python >=3.99 in managed installations"
            )
            .is_some()
        );
        assert_eq!(
            environment_failure("error in setup.cfg: invalid syntax\nBackend subprocess exited"),
            None
        );
    }
}
