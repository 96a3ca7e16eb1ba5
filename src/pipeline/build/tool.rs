//! What runs a build: uv, `python -m build`, or the configured
//! `build-command` (with its placeholders), and the Python it uses.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::config::{Config, Package};
use crate::process::Child;

use super::BuildError;

/// What builds the distributions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildTool {
    /// `uv build` (fast; preferred when on PATH).
    Uv(PathBuf),
    /// `python -m build`.
    PythonBuild(PathBuf),
    /// A command from the config, with placeholders ([`Placeholders`]).
    Command(Vec<String>),
}

impl BuildTool {
    /// `uv` if it is on PATH, else `python -m build` with `TAGPUB_PYTHON`
    /// or the first `python3`/`python` on PATH.
    pub fn detect() -> Result<BuildTool, BuildError> {
        if let Some(uv) = crate::process::find_on_path("uv") {
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

    /// The tool as the user configured it (`uv build`, `python -m build`,
    /// the `build-command`), for messages and the build inputs.
    pub fn describe(&self) -> String {
        match self {
            BuildTool::Uv(path) => format!("uv build ({})", path.display()),
            BuildTool::PythonBuild(python) => format!("{} -m build", python.display()),
            BuildTool::Command(argv) => argv.join(" "),
        }
    }

    /// What a build runs, placeholders substituted: the program and its
    /// arguments, and how to show them.
    pub fn command_line(
        &self,
        source_dir: &Path,
        values: &Placeholders<'_>,
    ) -> Result<(PathBuf, Vec<String>, String), BuildError> {
        let out = values.outdir.display().to_string();
        let (program, args) = match self {
            BuildTool::Uv(uv) => (
                uv.clone(),
                vec![
                    "build".into(),
                    "--sdist".into(),
                    "--wheel".into(),
                    "--out-dir".into(),
                    out,
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
                    out,
                    source_dir.display().to_string(),
                ],
            ),
            BuildTool::Command(argv) => {
                let mut words = argv.iter().map(|word| values.expand(word));
                let program = words.next().ok_or(BuildError::NoBuildTool)?;
                (PathBuf::from(program), words.collect())
            }
        };
        let shown = std::iter::once(program.display().to_string())
            .chain(args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ");
        Ok((program, args, shown))
    }

    /// The frontend and its version, for the build fingerprint: `uv
    /// --version`, `python -m build --version`, else the program's path.
    pub fn frontend(&self) -> String {
        let version_of = |program: &Path, args: &[&str]| {
            let output = Child::new(program)
                .args(args)
                .stdin(Stdio::null())
                .output()
                .ok()
                .filter(|o| o.status.success());
            match output {
                Some(o) => String::from_utf8_lossy(&o.stdout).trim().to_string(),
                None => format!("{} (version unknown)", program.display()),
            }
        };
        match self {
            BuildTool::Uv(uv) => version_of(uv, &["--version"]),
            BuildTool::PythonBuild(python) => version_of(python, &["-m", "build", "--version"]),
            BuildTool::Command(argv) => {
                let Some(first) = argv.first() else {
                    return String::new();
                };
                let program = if first.contains('/') {
                    PathBuf::from(first)
                } else {
                    crate::process::find_on_path(first).unwrap_or_else(|| PathBuf::from(first))
                };
                let name = program
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if name == "uv" {
                    version_of(&program, &["--version"])
                } else if name.starts_with("python")
                    && argv.get(1..3) == Some(&["-m".into(), "build".into()])
                {
                    version_of(&program, &["-m", "build", "--version"])
                } else {
                    program.display().to_string()
                }
            }
        }
    }
}

/// The values of `build-command`'s placeholders `{outdir}`, `{version}` and
/// `{package}`.
pub struct Placeholders<'a> {
    pub outdir: &'a Path,
    pub version: &'a str,
    pub package: &'a str,
}

impl Placeholders<'_> {
    /// `word` with every placeholder replaced.
    pub fn expand(&self, word: &str) -> String {
        word.replace("{outdir}", &self.outdir.display().to_string())
            .replace("{version}", self.version)
            .replace("{package}", self.package)
    }
}

/// The Python to use: `TAGPUB_PYTHON`, else `python3`, else `python`.
pub fn python_interpreter() -> Option<PathBuf> {
    if let Some(explicit) = crate::env::PYTHON.non_empty() {
        return Some(PathBuf::from(explicit));
    }
    crate::process::find_on_path("python3").or_else(|| crate::process::find_on_path("python"))
}
