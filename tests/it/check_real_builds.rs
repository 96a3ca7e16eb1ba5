//! `inspect` + `check` on what real build backends (setuptools, hatchling)
//! produce, built with the dev venv's `uv build`. The venv is created with
//! `scripts/setup-venv.sh` when missing: this test never skips.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

use tagpub::dist::ArtifactKind;
use tagpub::pipeline::check::{Expected, check, inspect};
use tagpub::version::Version;

fn venv() -> PathBuf {
    let venv = std::env::var_os("TAGPUB_DEV_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").expect("HOME is set");
            Path::new(&home).join(".cache/tagpub-dev/venv")
        });
    if !venv.join("bin/python").exists() {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/setup-venv.sh");
        let status = Command::new("bash")
            .arg(&script)
            .env(
                "TAGPUB_DEV_CACHE",
                venv.parent().expect("venv has a parent"),
            )
            .status()
            .expect("run scripts/setup-venv.sh");
        assert!(status.success(), "scripts/setup-venv.sh failed");
    }
    assert!(
        venv.join("bin/uv").exists(),
        "{} has no uv; rerun scripts/setup-venv.sh",
        venv.display()
    );
    venv
}

fn write(path: &Path, content: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// Builds `project` with `uv build` (no isolation, offline: the venv already
/// has the backends) and returns the sorted output files.
fn build(venv: &Path, project: &Path, out: &Path) -> Vec<PathBuf> {
    let output = Command::new(venv.join("bin/uv"))
        .args(["build", "--no-build-isolation", "--offline", "--no-cache"])
        .arg("--python")
        .arg(venv.join("bin/python"))
        .arg("--out-dir")
        .arg(out)
        .arg(project)
        .env_remove("VIRTUAL_ENV")
        .output()
        .expect("run uv build");
    assert!(
        output.status.success(),
        "uv build failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        // uv also writes a `.gitignore` into the output directory.
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy();
            ArtifactKind::from_filename(&name).is_some()
        })
        .collect();
    files.sort();
    files
}

fn project(root: &Path, backend: &str, requires: &str, name: &str, version: &str) -> PathBuf {
    let module = name.to_lowercase().replace(['-', '.'], "_");
    let dir = root.join(&module);
    write(
        &dir.join("pyproject.toml"),
        &format!(
            "[build-system]\nrequires = [\"{requires}\"]\nbuild-backend = \"{backend}\"\n\n\
             [project]\nname = \"{name}\"\nversion = \"{version}\"\n\
             description = \"A tiny test project\"\nreadme = \"README.md\"\n\
             dependencies = [\"requests>=2\", \"click\"]\n"
        ),
    );
    write(&dir.join("README.md"), "# Tiny\n\nA *tiny* project.\n");
    write(&dir.join(format!("src/{module}/__init__.py")), "");
    dir
}

fn assert_builds_pass(backend: &str, requires: &str, name: &str, version: &str) {
    let venv = venv();
    let temp = tempfile::tempdir().unwrap();
    let dir = project(temp.path(), backend, requires, name, version);
    let out = temp.path().join("dist");
    let files = build(&venv, &dir, &out);
    assert_eq!(files.len(), 2, "expected an sdist and a wheel: {files:?}");

    let tag_version = Version::from_str(version).unwrap();
    let expected = Expected {
        name,
        version: &tag_version,
    };
    let mut kinds = Vec::new();
    for file in &files {
        let artifact = inspect(file).unwrap_or_else(|err| panic!("{}: {err}", file.display()));
        kinds.push(artifact.kind);
        assert_eq!(artifact.sha256.len(), 64);
        assert_eq!(artifact.blake2_256.len(), 64);
        // Hatchling sorts dependencies, setuptools keeps their order.
        let mut requires = artifact.metadata.get_all("Requires-Dist");
        requires.sort();
        assert_eq!(requires, ["click", "requests>=2"]);
        assert!(
            artifact
                .metadata
                .body
                .as_deref()
                .is_some_and(|body| body.contains("A *tiny* project.")),
            "{}: {:?}",
            artifact.filename,
            artifact.metadata.body
        );
        match artifact.kind {
            ArtifactKind::Wheel => assert!(artifact.pyversion.starts_with("py"), "{artifact:?}"),
            ArtifactKind::Sdist => assert_eq!(artifact.pyversion, "source"),
        }
        let report = check(&artifact, Some(&expected));
        assert!(report.ok(), "{report:?}");
        // A newer Metadata-Version than we know is fine; anything else means
        // we misread what the backend wrote.
        let unexpected: Vec<_> = report
            .warnings
            .iter()
            .filter(|warning| !warning.contains("newer than tagpub knows"))
            .collect();
        assert!(unexpected.is_empty(), "{report:?}");
    }
    kinds.sort_by_key(|kind| *kind == ArtifactKind::Wheel);
    assert_eq!(kinds, [ArtifactKind::Sdist, ArtifactKind::Wheel]);
}

#[test]
fn setuptools_build_passes_checks() {
    assert_builds_pass(
        "setuptools.build_meta",
        "setuptools>=69",
        "Demo.Setuptools",
        "1.2.0",
    );
}

#[test]
fn hatchling_build_passes_checks() {
    assert_builds_pass("hatchling.build", "hatchling", "demo-hatch", "0.3.0rc1");
}
