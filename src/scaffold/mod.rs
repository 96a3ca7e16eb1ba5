//! The tagpub.toml a repository would get: the pyproject.toml files found,
//! the tag scheme the repository already uses (`scheme.rs`), what is never
//! released left out (`skip.rs`), and how many existing release tags the
//! proposal accepts (by running `plan` on them). `tagpub init` shows and
//! writes it; the demo writes its sample's config with it.

mod scheme;
mod skip;

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;

use crate::config::{Config, join_repo_path};
use crate::exit::UsageError;
use crate::git::Repo;
use crate::pipeline::resolve::{Scope, resolve_for};
use crate::version::{TagMatch, TagPattern, normalize_name};

pub use scheme::{Choice, ReleaseTag, VcsScheme};

/// A project found in the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundPackage {
    pub name: String,
    /// `/`-separated, `""` for the root.
    pub path: String,
    /// `[project] classifiers`.
    pub classifiers: Vec<String>,
    /// Its VCS-version plugin's tag settings, if it uses one.
    pub vcs: Option<VcsScheme>,
}

impl FoundPackage {
    /// Its `pyproject.toml`, as a repository path.
    pub fn manifest_path(&self) -> String {
        join_repo_path(&self.path, "pyproject.toml")
    }

    /// Its directory as shown to a person (`.` for the root).
    pub fn display_path(&self) -> &str {
        if self.path.is_empty() {
            "."
        } else {
            &self.path
        }
    }
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
        let project = doc.get("project");
        let Some(name) = project.and_then(|p| p.get("name")).and_then(|n| n.as_str()) else {
            continue;
        };
        let classifiers = project
            .and_then(|p| p.get("classifiers"))
            .and_then(|c| c.as_array())
            .map(|c| {
                c.iter()
                    .filter_map(|c| c.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
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
            classifiers,
            vcs: scheme::vcs_scheme(&doc),
        });
    }
    // The root's path is "", so it sorts first.
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found
}

/// The tag pattern proposed for a package no release tag speaks for:
/// `v{version}` for the root one, `<short-name>-v{version}` for the others,
/// where the short name drops the root package's name as a prefix and a
/// trailing `-plugin`.
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

fn fallback_for(packages: &[FoundPackage]) -> impl Fn(&FoundPackage) -> String + '_ {
    let root_name = packages
        .iter()
        .find(|p| p.path.is_empty())
        .map(|p| p.name.as_str());
    move |package| propose_pattern(package, root_name, packages.len() == 1)
}

/// The config for `packages` without learning from tags (the demo's).
pub fn render_config(packages: &[FoundPackage], repository: &str) -> String {
    let fallback = fallback_for(packages);
    let choices: Vec<Choice> = packages
        .iter()
        .map(|p| Choice {
            pattern: fallback(p),
            why: "no release tags yet".into(),
        })
        .collect();
    render(packages, &choices, repository, None)
}

/// A TOML basic string (quoted, escaped).
fn quoted(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

/// One line of comment text (what was learned may quote user input).
fn comment(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

/// Packages whose chosen patterns are the same become one `[[group]]`
/// (named after the root package when it is a member): one tag releases
/// them together, as the repository does.
fn render(
    packages: &[FoundPackage],
    choices: &[Choice],
    repository: &str,
    lightweight: Option<&[String]>,
) -> String {
    let annotated = match lightweight {
        None => "require-annotated = true\n".to_string(),
        Some(names) => format!(
            "# Recent release tags here are lightweight, so they are accepted:\n\
             # {}.\n\
             # Annotate new release tags (git tag -a) and set this to true to require that.\n\
             require-annotated = false\n",
            comment(&names.join(", "))
        ),
    };
    let mut out = format!(
        "# tagpub configuration: which tag releases which package.\n\
         # See the README, \"Configuration\", for every key.\n\n\
         [defaults]\n\
         repository = {}  # pypi | testpypi | local | a [repository.NAME]\n\
         grace = \"10s\"\n\
         {annotated}",
        quoted(repository)
    );
    let mut by_pattern: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (index, choice) in choices.iter().enumerate() {
        by_pattern.entry(&choice.pattern).or_default().push(index);
    }
    for (package, choice) in packages.iter().zip(choices) {
        let grouped = by_pattern[choice.pattern.as_str()].len() > 1;
        out.push_str(&format!(
            "\n[[package]]\nname = {}\npath = {}\n# tag scheme: {}\n",
            quoted(&package.name),
            quoted(package.display_path()),
            comment(&choice.why)
        ));
        if !grouped {
            out.push_str(&format!("tags = [{}]\n", quoted(&choice.pattern)));
        }
    }
    for (pattern, members) in by_pattern.iter().filter(|(_, m)| m.len() > 1) {
        let name = members
            .iter()
            .map(|&i| &packages[i])
            .find(|p| p.path.is_empty())
            .unwrap_or(&packages[members[0]])
            .name
            .clone();
        let names: Vec<String> = members.iter().map(|&i| quoted(&packages[i].name)).collect();
        out.push_str(&format!(
            "\n# One tag releases these packages together, at one version.\n\
             [[group]]\nname = {}\ntags = [{}]\npackages = [{}]\n",
            quoted(&name),
            quoted(pattern),
            names.join(", ")
        ));
    }
    out
}

/// How many release tags each proposed pattern would accept.
#[derive(Debug, Clone)]
pub struct PatternReport {
    pub pattern: String,
    /// `group NAME (N packages)` or the package's name.
    pub target: String,
    pub matching: usize,
    pub total: usize,
    /// The newest (by version) release tags it matches, at most [`LAST`].
    pub last: usize,
    pub passed: usize,
    /// The newest failing tag and why.
    pub failure: Option<(String, String)>,
}

/// How many of a pattern's newest release tags are tried with `plan`.
pub const LAST: usize = 10;

/// The newest (by version) `LAST` tags `pattern` accepts.
fn last_matching<'a>(pattern: &TagPattern, tags: &'a [ReleaseTag]) -> (usize, Vec<&'a ReleaseTag>) {
    let mut matching: Vec<&ReleaseTag> = tags
        .iter()
        .filter(|t| matches!(pattern.matches(&t.name), Some(TagMatch::Version(_))))
        .collect();
    let count = matching.len();
    matching.sort_by(|a, b| b.version.cmp(&a.version).then_with(|| b.date.cmp(&a.date)));
    matching.truncate(LAST);
    (count, matching)
}

/// The lightweight tags among each pattern's newest release tags: `None`
/// when all are annotated (or there are none).
fn lightweight_tags(choices: &[Choice], tags: &[ReleaseTag]) -> Option<Vec<String>> {
    let mut patterns: Vec<&str> = choices.iter().map(|c| c.pattern.as_str()).collect();
    patterns.sort_unstable();
    patterns.dedup();
    let mut names = Vec::new();
    for pattern in patterns.iter().filter_map(|p| TagPattern::parse(p).ok()) {
        let (_, last) = last_matching(&pattern, tags);
        names.extend(last.iter().filter(|t| !t.annotated).map(|t| t.name.clone()));
    }
    const SHOWN: usize = 3;
    if names.len() > SHOWN {
        let more = names.len() - SHOWN;
        names.truncate(SHOWN);
        names.push(format!("and {more} more"));
    }
    (!names.is_empty()).then_some(names)
}

/// Runs `plan` (push scope: no token needed) with `config` (the text init
/// writes, never a tag's committed config) on each pattern's newest tags.
fn evaluate(repo: &Repo, config: &Config, tags: &[ReleaseTag]) -> Vec<PatternReport> {
    let targets = config
        .groups
        .iter()
        .map(|g| {
            (
                format!("group {} ({} packages)", g.name, g.members.len()),
                &g.tags,
            )
        })
        .chain(
            config
                .packages
                .iter()
                .filter(|p| p.group.is_none())
                .map(|p| (p.name.clone(), &p.tags)),
        );
    let mut reports = Vec::new();
    for (target, patterns) in targets {
        for pattern in patterns {
            let (matching, last) = last_matching(pattern, tags);
            let mut passed = 0;
            let mut failure = None;
            for tag in &last {
                let verdict = match resolve_for(repo, config, &tag.name, None, Scope::Push) {
                    Ok(plan) if plan.ok() => Ok(()),
                    Ok(plan) => Err(plan.failure_lines()),
                    Err(err) => Err(crate::exit::chain_text(&err)),
                };
                match verdict {
                    Ok(()) => passed += 1,
                    Err(why) if failure.is_none() => {
                        let first = why
                            .lines()
                            .map(|l| l.trim().trim_start_matches("✗ "))
                            .find(|l| !l.is_empty());
                        failure = Some((tag.name.clone(), first.unwrap_or("failed").to_string()));
                    }
                    Err(_) => {}
                }
            }
            reports.push(PatternReport {
                pattern: pattern.to_string(),
                target: target.clone(),
                matching,
                total: tags.len(),
                last: last.len(),
                passed,
                failure,
            });
        }
    }
    reports
}

/// What `tagpub init` proposes for a repository: the packages kept and
/// left out, the tag scheme chosen for each, the config text, and how the
/// proposed patterns fare on the repository's own release tags.
pub struct Proposal {
    pub kept: Vec<FoundPackage>,
    pub skipped: Vec<(FoundPackage, String)>,
    pub choices: Vec<Choice>,
    /// Lightweight tags among the newest release tags (`None`: all annotated).
    pub lightweight: Option<Vec<String>>,
    /// The tagpub.toml to write; it loads (checked against `target`).
    pub text: String,
    pub reports: Vec<PatternReport>,
}

/// Proposes the config for the repository `repo` with `repository` as the
/// default index; `target` is where it would be written (for messages).
pub fn propose(repo: &Repo, target: &Path, repository: &str) -> anyhow::Result<Proposal> {
    let root = repo.workdir();
    let (kept, skipped): (Vec<FoundPackage>, Vec<FoundPackage>) = find_packages(root)
        .into_iter()
        .partition(|p| skip::skip_reason(&p.path, &p.classifiers).is_none());
    let skipped: Vec<(FoundPackage, String)> = skipped
        .into_iter()
        .map(|p| {
            let reason = skip::skip_reason(&p.path, &p.classifiers).unwrap_or_default();
            (p, reason)
        })
        .collect();
    if kept.is_empty() {
        let left_out: Vec<String> = skipped
            .iter()
            .map(|(p, why)| format!("{} ({why})", p.display_path()))
            .collect();
        return Err(UsageError(format!(
            "no pyproject.toml with a [project] name under {}{}: tagpub releases Python packages that declare one",
            root.display(),
            if left_out.is_empty() {
                String::new()
            } else {
                format!(" other than those never released: {}", left_out.join(", "))
            }
        ))
        .into());
    }
    let tags = scheme::release_tags(repo)?;
    let choices = scheme::choose(repo, &kept, &tags, fallback_for(&kept))?;
    let lightweight = lightweight_tags(&choices, &tags);
    let text = render(&kept, &choices, repository, lightweight.as_deref());
    // Validate before writing, so init never leaves a config that fails to load.
    let config = Config::parse(target, &text)
        .context("the proposed configuration is invalid; write tagpub.toml by hand")?;
    let reports = evaluate(repo, &config, &tags);
    Ok(Proposal {
        kept,
        skipped,
        choices,
        lightweight,
        text,
        reports,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(name: &str, path: &str) -> FoundPackage {
        FoundPackage {
            name: name.into(),
            path: path.into(),
            classifiers: Vec::new(),
            vcs: None,
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
