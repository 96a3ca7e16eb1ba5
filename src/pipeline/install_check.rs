//! `verify = "install"`: after publishing, install exactly `name==version`
//! from the index into a fresh venv, with no cache, and import the
//! package's top-level modules — what a user's `pip install` would meet.
//!
//! uv makes the venv and installs when it is on PATH, else `python -m venv`
//! and pip. Only the release's index is used: dependencies must be there
//! too, or on an extra index named by `PIP_EXTRA_INDEX_URL` /
//! `UV_EXTRA_INDEX_URL`.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Instant;

use crate::pipeline::build::python_interpreter;
use crate::process::find_on_path;
use crate::process::{Child, RunError};

/// What `verify = "install"` did: the installer, the modules imported, how long.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InstallReport {
    /// `uv` or `pip`.
    pub installer: String,
    /// The modules imported after the install.
    pub imported: Vec<String>,
    pub seconds: f64,
}

/// Why the installed release could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum InstallCheckError {
    #[error("no Python to make a venv with: install python3 or set TAGPUB_PYTHON")]
    NoPython,
    #[error("cannot {what}")]
    Run {
        what: String,
        #[source]
        source: RunError,
    },
    #[error("{what} failed ({status}). Last lines of its output:\n{tail}")]
    Failed {
        what: String,
        status: String,
        tail: String,
    },
}

/// Installs `project==version` from `simple_url` into a venv under `work`
/// and imports `modules`.
pub fn install_and_import(
    simple_url: &str,
    project: &str,
    version: &str,
    modules: &[String],
    work: &Path,
) -> Result<InstallReport, InstallCheckError> {
    let started = Instant::now();
    let venv = work.join("venv");
    let requirement = format!("{project}=={version}");
    let uv = find_on_path("uv");
    let python = python_interpreter();
    let venv_python = venv_python(&venv);
    let installer = match (&uv, &python) {
        (Some(uv), _) => {
            let mut make = Child::new(uv);
            make.args(["venv", "--quiet"]).arg(&venv);
            if let Some(python) = &python {
                make.arg("--python").arg(python);
            }
            run(&mut make, "make a venv with uv")?;
            run(
                Child::new(uv)
                    .args(["pip", "install", "--quiet", "--no-cache", "--python"])
                    .arg(&venv_python)
                    .args(["--index-url", simple_url, &requirement]),
                &format!("uv pip install {requirement}"),
            )?;
            "uv"
        }
        (None, Some(python)) => {
            run(
                Child::new(python).args(["-m", "venv"]).arg(&venv),
                "make a venv with python -m venv",
            )?;
            run(
                Child::new(&venv_python).args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--no-cache-dir",
                    "--index-url",
                    simple_url,
                    &requirement,
                ]),
                &format!("pip install {requirement}"),
            )?;
            "pip"
        }
        (None, None) => return Err(InstallCheckError::NoPython),
    };
    if !modules.is_empty() {
        let script = modules
            .iter()
            .map(|m| format!("import {m}"))
            .collect::<Vec<_>>()
            .join("; ");
        run(
            Child::new(&venv_python)
                .args(["-c", &script])
                .current_dir(work),
            &format!("import {}", modules.join(", ")),
        )?;
    }
    Ok(InstallReport {
        installer: installer.to_string(),
        imported: modules.to_vec(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The importable top-level names a wheel installs: packages
/// (`name/__init__.py`) and modules (`name.py`, `name.cpython-….so`),
/// not its `.dist-info` / `.data` directories. Namespace packages without
/// `__init__.py` count too, by their first directory.
pub fn top_level_modules(wheel: &Path) -> std::io::Result<Vec<String>> {
    let file = std::fs::File::open(wheel)?;
    let mut archive = zip::ZipArchive::new(file).map_err(std::io::Error::other)?;
    let mut names = std::collections::BTreeSet::new();
    for index in 0..archive.len() {
        let entry = archive.by_index(index).map_err(std::io::Error::other)?;
        let path = entry.name().to_string();
        let mut parts = path.split('/');
        let first = parts.next().unwrap_or_default();
        let nested = parts.next().is_some();
        if first.ends_with(".dist-info") || first.ends_with(".data") || first.is_empty() {
            continue;
        }
        let name = if nested {
            first.to_string()
        } else if let Some(stem) = first.strip_suffix(".py") {
            stem.to_string()
        } else if first.ends_with(".so") || first.ends_with(".pyd") {
            first.split('.').next().unwrap_or_default().to_string()
        } else {
            continue;
        };
        if is_identifier(&name) {
            names.insert(name);
        }
    }
    Ok(names.into_iter().collect())
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}

/// The Python interpreter inside a venv.
pub fn venv_python(venv: &Path) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts").join("python.exe")
    } else {
        venv.join("bin").join("python")
    }
}

/// Runs a step with no stdin, started by the one runner (no credentials,
/// no session bus: the import runs the published package's code).
fn run(command: &mut Child, what: &str) -> Result<Output, InstallCheckError> {
    command
        .stdin(Stdio::null())
        .run(12)
        .map_err(|err| match err {
            RunError::Failed { status, tail, .. } => InstallCheckError::Failed {
                what: what.to_string(),
                status,
                tail,
            },
            other => InstallCheckError::Run {
                what: what.to_string(),
                source: other,
            },
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_level_modules_are_packages_and_modules_not_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let members: Vec<_> = [
            "demo/__init__.py",
            "demo/sub/x.py",
            "helper.py",
            "_speedups.cpython-311-x86_64-linux-gnu.so",
            "ns_pkg/part/__init__.py",
            "demo-1.0.dist-info/METADATA",
            "demo-1.0.data/scripts/tool",
            "not-a-module.py",
            "README.txt",
        ]
        .iter()
        .map(|name| tagpub_fixtures::archive::member(name, b""))
        .collect();
        let wheel = tagpub_fixtures::archive::write_zip(
            &dir.path().join("demo-1.0-py3-none-any.whl"),
            &members,
        );
        assert_eq!(
            top_level_modules(&wheel).unwrap(),
            ["_speedups", "demo", "helper", "ns_pkg"]
        );
    }
}
