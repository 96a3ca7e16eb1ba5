//! A sample monorepo shaped like the one tagpub was made for: a core package
//! at the root (setuptools) and two plugins under `src/` (hatchling and
//! setuptools), the plugins depending on the core. `tagpub demo` and the
//! integration tests both start from it.

use std::fs;
use std::io;
use std::path::Path;

pub const CORE: &str = "open-ticket-ai";
pub const HF_LOCAL: &str = "open-ticket-ai-hf-local";
pub const OTOBO_ZNUNY: &str = "open-ticket-ai-otobo-znuny-plugin";
pub const HF_LOCAL_PATH: &str = "src/open_ticket_ai_hf_local";
pub const OTOBO_ZNUNY_PATH: &str = "src/open_ticket_ai_otobo_znuny_plugin";

/// Writes the sample packages at `version` into `root` (no git).
pub fn write_monorepo(root: &Path, version: &str) -> io::Result<()> {
    let files: Vec<(String, String)> = vec![
        (
            "pyproject.toml".into(),
            format!(
                r#"[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "{CORE}"
version = "{version}"
description = "Core of the sample monorepo"
readme = "README.md"
requires-python = ">=3.8"
license = {{ text = "MIT" }}
classifiers = ["Programming Language :: Python :: 3"]

[tool.setuptools]
packages = ["open_ticket_ai"]
"#
            ),
        ),
        ("README.md".into(), "# open-ticket-ai\n\nThe core package.\n".into()),
        (
            "CHANGELOG.md".into(),
            format!("# Changelog\n\n## {version}\n\n- First release.\n"),
        ),
        (
            "open_ticket_ai/__init__.py".into(),
            "\"\"\"Core package.\"\"\"\n\nNAME = \"core\"\n".into(),
        ),
        (
            format!("{HF_LOCAL_PATH}/pyproject.toml"),
            format!(
                r#"[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "{HF_LOCAL}"
version = "{version}"
description = "HuggingFace plugin of the sample monorepo"
readme = "README.md"
requires-python = ">=3.8"
dependencies = ["{CORE}>=1.0"]
"#
            ),
        ),
        (
            format!("{HF_LOCAL_PATH}/README.md"),
            "# open-ticket-ai-hf-local\n\nA plugin.\n".into(),
        ),
        (
            format!("{HF_LOCAL_PATH}/open_ticket_ai_hf_local/__init__.py"),
            "\"\"\"HF plugin.\"\"\"\n\nfrom open_ticket_ai import NAME as CORE_NAME\n\nNAME = \"hf-local\"\n".into(),
        ),
        (
            format!("{OTOBO_ZNUNY_PATH}/pyproject.toml"),
            format!(
                r#"[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "{OTOBO_ZNUNY}"
version = "{version}"
description = "OTOBO/Znuny plugin of the sample monorepo"
readme = "README.md"
requires-python = ">=3.8"
dependencies = ["{CORE}>=1.0"]

[tool.setuptools]
packages = ["open_ticket_ai_otobo_znuny_plugin"]
"#
            ),
        ),
        (
            format!("{OTOBO_ZNUNY_PATH}/README.md"),
            "# open-ticket-ai-otobo-znuny-plugin\n\nAnother plugin.\n".into(),
        ),
        (
            format!("{OTOBO_ZNUNY_PATH}/open_ticket_ai_otobo_znuny_plugin/__init__.py"),
            "\"\"\"OTOBO/Znuny plugin.\"\"\"\n\nNAME = \"otobo-znuny\"\n".into(),
        ),
        (".gitignore".into(), "dist/\n*.egg-info/\n__pycache__/\n".into()),
    ];
    for (path, content) in files {
        let path = root.join(path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(path, content)?;
    }
    Ok(())
}

/// Sets the version of one sample package (for tests and the demo's bumps).
pub fn set_version(root: &Path, package_path: &str, from: &str, to: &str) -> io::Result<()> {
    let path = root.join(package_path).join("pyproject.toml");
    let text = fs::read_to_string(&path)?;
    fs::write(
        &path,
        text.replace(
            &format!("version = \"{from}\""),
            &format!("version = \"{to}\""),
        ),
    )
}
