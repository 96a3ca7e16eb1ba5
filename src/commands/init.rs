//! `tagpub init`: write tagpub.toml from the pyproject.toml files found.

use std::io::{BufRead, IsTerminal};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;

use crate::cli::InitArgs;
use crate::commands::{Context, UsageError};
use crate::config::{BUILTIN_REPOSITORIES, CONFIG_FILE, Config};
use crate::version::normalize_name;

/// A project found in the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundPackage {
    pub name: String,
    /// `/`-separated, `""` for the root.
    pub path: String,
}

/// Directories that hold environments or build output, never sources.
const SKIPPED_DIRS: [&str; 12] = [
    "venv",
    ".venv",
    "env",
    "build",
    "dist",
    "node_modules",
    "site-packages",
    "__pypackages__",
    ".tox",
    ".nox",
    ".git",
    "target",
];

/// Every `pyproject.toml` with a `[project] name`, skipping ignored files,
/// environments and build output. Sorted by path, root first.
pub fn find_packages(root: &Path) -> Vec<FoundPackage> {
    let walker = ignore::WalkBuilder::new(root)
        .hidden(true)
        .git_ignore(true)
        .require_git(false)
        .filter_entry(|entry| {
            let name = entry.file_name().to_string_lossy();
            !(entry.file_type().is_some_and(|t| t.is_dir())
                && (SKIPPED_DIRS.contains(&name.as_ref())
                    || entry.path().join("pyvenv.cfg").is_file()))
        })
        .build();
    let mut found = Vec::new();
    for entry in walker.flatten() {
        if entry.file_name() != "pyproject.toml" || !entry.file_type().is_some_and(|t| t.is_file())
        {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        let Ok(doc) = text.parse::<toml::Table>() else {
            continue;
        };
        let Some(name) = doc
            .get("project")
            .and_then(|p| p.get("name"))
            .and_then(|n| n.as_str())
        else {
            continue;
        };
        let dir = entry.path().parent().unwrap_or(root);
        let path = dir
            .strip_prefix(root)
            .unwrap_or(dir)
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        found.push(FoundPackage {
            name: name.to_string(),
            path,
        });
    }
    // The root's path is "", so it sorts first.
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found
}

/// The tag pattern proposed for a package: `v{version}` for the root one,
/// `<short-name>-v{version}` for the others, where the short name drops the
/// root package's name as a prefix and a trailing `-plugin`.
pub fn propose_pattern(package: &FoundPackage, root_name: Option<&str>, only_one: bool) -> String {
    if package.path.is_empty() || only_one {
        return "v{version}".to_string();
    }
    let name = normalize_name(&package.name);
    let mut short = root_name
        .map(normalize_name)
        .and_then(|root| name.strip_prefix(&format!("{root}-")).map(str::to_string))
        .unwrap_or_else(|| name.clone());
    if let Some(stripped) = short.strip_suffix("-plugin")
        && !stripped.is_empty()
    {
        short = stripped.to_string();
    }
    format!("{short}-v{{version}}")
}

pub fn render_config(packages: &[FoundPackage], repository: &str) -> String {
    let root_name = packages
        .iter()
        .find(|p| p.path.is_empty())
        .map(|p| p.name.as_str());
    let mut out = format!(
        "# tagpub configuration: which tag releases which package.\n\
         # See the README, \"Configuration\", for every key.\n\n\
         [defaults]\n\
         repository = \"{repository}\"  # pypi | testpypi | local | a [repository.NAME]\n\
         grace = \"10s\"\n\
         require-annotated = true\n"
    );
    for package in packages {
        let pattern = propose_pattern(package, root_name, packages.len() == 1);
        let path = if package.path.is_empty() {
            "."
        } else {
            &package.path
        };
        out.push_str(&format!(
            "\n[[package]]\nname = \"{}\"\npath = \"{}\"\ntags = [\"{}\"]\n",
            package.name, path, pattern
        ));
    }
    out
}

pub fn run(ctx: &Context, args: &InitArgs) -> anyhow::Result<ExitCode> {
    if !BUILTIN_REPOSITORIES.contains(&args.repository.as_str()) {
        return Err(UsageError(format!(
            "--repository must be one of {}; add custom ones to tagpub.toml afterwards",
            BUILTIN_REPOSITORIES.join(", ")
        ))
        .into());
    }
    let repo = ctx.repo()?;
    let root = repo.workdir();
    let target = root.join(CONFIG_FILE);
    if target.exists() && !args.force {
        return Err(UsageError(format!(
            "{} already exists; pass --force to overwrite it",
            target.display()
        ))
        .into());
    }
    let packages = find_packages(root);
    if packages.is_empty() {
        return Err(UsageError(format!(
            "no pyproject.toml with a [project] name under {}: tagpub releases Python packages that declare one",
            root.display()
        ))
        .into());
    }
    let text = render_config(&packages, &args.repository);
    // Validate before writing, so init never leaves a config that fails to load.
    Config::parse(&target, &text)
        .context("the proposed configuration is invalid; write tagpub.toml by hand")?;

    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if !args.yes && interactive {
        crate::printer::eprint_prompt(&format!(
            "{text}\nWrite this to {}? [Y/n] ",
            target.display()
        ));
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if matches!(answer.trim().to_ascii_lowercase().as_str(), "n" | "no") {
            ctx.printer.line("nothing written");
            return Ok(ExitCode::from(1));
        }
    }
    crate::fsutil::write_atomic(&target, text.as_bytes())
        .with_context(|| format!("cannot write {}", target.display()))?;
    ctx.printer.out(&text)?;
    ctx.printer.success(&format!(
        "wrote {} with {} package{}",
        target.display(),
        packages.len(),
        if packages.len() == 1 { "" } else { "s" }
    ));
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(name: &str, path: &str) -> FoundPackage {
        FoundPackage {
            name: name.into(),
            path: path.into(),
        }
    }

    #[test]
    fn proposes_the_seed_patterns() {
        let root = Some("open-ticket-ai");
        assert_eq!(
            propose_pattern(&found("open-ticket-ai", ""), root, false),
            "v{version}"
        );
        assert_eq!(
            propose_pattern(
                &found("open-ticket-ai-hf-local", "src/open_ticket_ai_hf_local"),
                root,
                false
            ),
            "hf-local-v{version}"
        );
        assert_eq!(
            propose_pattern(
                &found("open-ticket-ai-otobo-znuny-plugin", "src/x"),
                root,
                false
            ),
            "otobo-znuny-v{version}"
        );
        assert_eq!(
            propose_pattern(&found("other", "libs/other"), root, false),
            "other-v{version}"
        );
        assert_eq!(
            propose_pattern(&found("solo", "pkg"), None, true),
            "v{version}"
        );
    }

    #[test]
    fn finds_packages_and_skips_environments() {
        let dir = tempfile::tempdir().unwrap();
        crate::sample::write_monorepo(dir.path(), "1.0.0").unwrap();
        let venv = dir.path().join(".venv/lib/python3.11/site-packages/dep");
        std::fs::create_dir_all(&venv).unwrap();
        std::fs::write(venv.join("pyproject.toml"), "[project]\nname = \"dep\"\n").unwrap();
        let build = dir.path().join("src/open_ticket_ai_hf_local/build/lib");
        std::fs::create_dir_all(&build).unwrap();
        std::fs::write(build.join("pyproject.toml"), "[project]\nname = \"copy\"\n").unwrap();
        let ignored = dir.path().join("scratch");
        std::fs::create_dir_all(&ignored).unwrap();
        std::fs::write(
            ignored.join("pyproject.toml"),
            "[project]\nname = \"scratch\"\n",
        )
        .unwrap();
        std::fs::write(dir.path().join(".gitignore"), "scratch/\n").unwrap();

        let packages = find_packages(dir.path());
        let names: Vec<_> = packages
            .iter()
            .map(|p| (p.name.as_str(), p.path.as_str()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("open-ticket-ai", ""),
                ("open-ticket-ai-hf-local", "src/open_ticket_ai_hf_local"),
                (
                    "open-ticket-ai-otobo-znuny-plugin",
                    "src/open_ticket_ai_otobo_znuny_plugin"
                ),
            ]
        );
        let text = render_config(&packages, "local");
        let config = Config::parse(Path::new("tagpub.toml"), &text).unwrap();
        assert_eq!(config.packages.len(), 3);
        assert_eq!(config.defaults.repository, "local");
    }
}
