//! Dynamic versions that can be read without running anything, so `plan`
//! (and the pre-push gate) can check them before a build: a file's
//! `__version__ = "…"` (hatch `[tool.hatch.version] path`, pdm `file`,
//! setuptools `attr`), a plain version file (setuptools `file`), or the tag
//! itself (VCS plugins). Nothing is imported or executed: a version that only
//! code can compute is left to the check of the built metadata.

use regex::Regex;
use serde::Serialize;

use crate::config::join_repo_path;
use crate::git::{GitError, Repo};

/// Where a `dynamic = ["version"]` comes from at the tagged commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "from", rename_all = "lowercase")]
pub enum DynamicVersion {
    /// Read from `file` (repository path) as `text`; `how` is the setting
    /// that points there.
    File {
        file: String,
        text: String,
        how: String,
    },
    /// A VCS plugin derives it from the tag: the tag is the version.
    Tag { plugin: String },
    /// The setting names a file the backend would read, but it cannot be
    /// read there (missing, no version in it): the build would fail.
    Unreadable {
        file: String,
        how: String,
        reason: String,
    },
    /// Computed at build time (code, environment, an import): only the
    /// built metadata can tell.
    Build { how: Option<String> },
}

/// hatchling's default `regex` source pattern (`__version__` or `VERSION`,
/// either quote, optional `v`), without the backreference Rust's regex
/// lacks: each quote gets its own alternative.
const HATCH_DEFAULT: &str =
    r#"(?im)^(?:__version__|VERSION) *= *(?:"v?(?P<version>[^"\n]+?)"|'v?(?P<version2>[^'\n]+?)')"#;

/// VCS plugins, by how they show in `[build-system] requires` or `[tool]`.
const VCS_PLUGINS: [(&str, &str); 8] = [
    ("hatch-vcs", "hatch-vcs"),
    ("setuptools-scm", "setuptools_scm"),
    ("uv-dynamic-versioning", "uv-dynamic-versioning"),
    ("versioningit", "versioningit"),
    ("poetry-dynamic-versioning", "poetry-dynamic-versioning"),
    ("dunamai", "dunamai"),
    ("setuptools-git-versioning", "setuptools-git-versioning"),
    ("pbr", "pbr"),
];

/// Reads how the pyproject `doc` of the package at `package_dir` gets its
/// dynamic version at `commit`.
pub fn dynamic_version(
    repo: &Repo,
    commit: &str,
    package_dir: &str,
    doc: &toml::Table,
) -> Result<DynamicVersion, GitError> {
    let tool = |name: &str| doc.get("tool").and_then(|t| t.get(name));
    let reader = Reader {
        repo,
        commit,
        package_dir,
    };

    if let Some(hatch) = tool("hatch")
        .and_then(|h| h.get("version"))
        .and_then(|v| v.as_table())
    {
        let source = hatch
            .get("source")
            .and_then(|s| s.as_str())
            .unwrap_or("regex");
        return match (source, hatch.get("path").and_then(|p| p.as_str())) {
            ("vcs", _) => Ok(DynamicVersion::Tag {
                plugin: "hatch-vcs".into(),
            }),
            ("regex", Some(path)) => {
                let how = format!("[tool.hatch.version] path = \"{path}\"");
                let pattern = match hatch.get("pattern").and_then(|p| p.as_str()) {
                    Some(custom) => match Regex::new(&format!("(?m){custom}")) {
                        Ok(regex) => regex,
                        // Python-only syntax (lookbehind, backreferences):
                        // hatchling may read it; here only the build can.
                        Err(_) => {
                            return Ok(DynamicVersion::Build {
                                how: Some(format!("{how} with a custom pattern")),
                            });
                        }
                    },
                    None => Regex::new(HATCH_DEFAULT).expect("valid pattern"),
                };
                reader.file_with(path, how, |text| {
                    let captures = pattern.captures(text)?;
                    captures
                        .name("version")
                        .or_else(|| captures.name("version2"))
                        .map(|m| m.as_str().to_string())
                })
            }
            ("regex", None) => Ok(DynamicVersion::Unreadable {
                file: "(no file)".into(),
                how: "[tool.hatch.version]".into(),
                reason: "it sets no `path` (hatchling requires one)".into(),
            }),
            (other, _) => Ok(DynamicVersion::Build {
                how: Some(format!("[tool.hatch.version] source = \"{other}\"")),
            }),
        };
    }

    if let Some(pdm) = tool("pdm")
        .and_then(|p| p.get("version"))
        .and_then(|v| v.as_table())
    {
        match (
            pdm.get("source").and_then(|s| s.as_str()),
            pdm.get("path").and_then(|p| p.as_str()),
        ) {
            (Some("scm"), _) => {
                return Ok(DynamicVersion::Tag {
                    plugin: "pdm-backend (scm)".into(),
                });
            }
            (Some("file"), Some(path)) => {
                let pattern = Regex::new(HATCH_DEFAULT).expect("valid pattern");
                return reader.file_with(
                    path,
                    format!("[tool.pdm.version] path = \"{path}\""),
                    |text| {
                        let captures = pattern.captures(text)?;
                        captures
                            .name("version")
                            .or_else(|| captures.name("version2"))
                            .map(|m| m.as_str().to_string())
                    },
                );
            }
            _ => {}
        }
    }

    if let Some(version) = tool("setuptools")
        .and_then(|s| s.get("dynamic"))
        .and_then(|d| d.get("version"))
    {
        if let Some(attr) = version.get("attr").and_then(|a| a.as_str()) {
            let setuptools = tool("setuptools");
            let mut package_map: Vec<(String, String)> = setuptools
                .and_then(|s| s.get("package-dir"))
                .and_then(|p| p.as_table())
                .map(|map| {
                    map.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                        .collect()
                })
                .unwrap_or_default();
            // `packages.find.where = ["src"]` maps the root package dir, as
            // setuptools does for its discovery.
            let find_where = setuptools
                .and_then(|s| s.get("packages"))
                .and_then(|p| p.get("find"))
                .and_then(|f| f.get("where"))
                .and_then(|w| w.as_array())
                .and_then(|w| w.first())
                .and_then(|w| w.as_str());
            if let Some(dir) = find_where
                && !package_map.iter().any(|(k, _)| k.is_empty())
            {
                package_map.push((String::new(), dir.to_string()));
            }
            return reader.attr(
                attr,
                &package_map,
                format!("[tool.setuptools.dynamic] version = {{attr = \"{attr}\"}}"),
            );
        }
        let files: Vec<&str> = match version.get("file") {
            Some(toml::Value::String(file)) => vec![file.as_str()],
            Some(toml::Value::Array(files)) => files.iter().filter_map(|f| f.as_str()).collect(),
            _ => Vec::new(),
        };
        if let Some(file) = files.first() {
            return reader.file_with(
                file,
                format!("[tool.setuptools.dynamic] version = {{file = \"{file}\"}}"),
                |text| Some(text.trim().to_string()).filter(|t| !t.is_empty()),
            );
        }
    }

    // flit-core reads `__version__` from the module it packages (the
    // project name with `_`, or `[tool.flit.module] name`), statically.
    let backend = doc
        .get("build-system")
        .and_then(|b| b.get("build-backend"))
        .and_then(|b| b.as_str());
    if backend == Some("flit_core.buildapi") {
        let module = tool("flit")
            .and_then(|f| f.get("module"))
            .and_then(|m| m.get("name"))
            .and_then(|n| n.as_str())
            .map(str::to_string)
            .or_else(|| {
                doc.get("project")
                    .and_then(|p| p.get("name"))
                    .and_then(|n| n.as_str())
                    .map(|n| n.replace(['-', '.'], "_"))
            });
        if let Some(module) = module {
            return reader.attr(
                &format!("{module}.__version__"),
                &[],
                format!("flit-core: `__version__` of module {module}"),
            );
        }
    }

    let requires: Vec<String> = doc
        .get("build-system")
        .and_then(|b| b.get("requires"))
        .and_then(|r| r.as_array())
        .map(|r| {
            r.iter()
                .filter_map(|v| v.as_str())
                .map(|s| crate::version::normalize_name(requirement_name(s)))
                .collect()
        })
        .unwrap_or_default();
    for (plugin, table) in VCS_PLUGINS {
        let configured = tool(table).is_some() || tool(plugin).is_some();
        if configured || requires.iter().any(|r| r == plugin) {
            return Ok(DynamicVersion::Tag {
                plugin: plugin.into(),
            });
        }
    }
    Ok(DynamicVersion::Build { how: None })
}

/// `setuptools-scm>=8` → `setuptools-scm`.
fn requirement_name(requirement: &str) -> &str {
    let end = requirement
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(requirement.len());
    &requirement[..end]
}

struct Reader<'a> {
    repo: &'a Repo,
    commit: &'a str,
    package_dir: &'a str,
}

impl Reader<'_> {
    /// `relative` (to the package) as a repository path; `None` if it leaves
    /// the repository.
    fn repo_path(&self, relative: &str) -> Option<String> {
        let mut parts: Vec<&str> = self
            .package_dir
            .split('/')
            .filter(|p| !p.is_empty())
            .collect();
        for part in relative.split(['/', '\\']) {
            match part {
                "" | "." => {}
                ".." => {
                    parts.pop()?;
                }
                part => parts.push(part),
            }
        }
        Some(parts.join("/"))
    }

    fn file_with(
        &self,
        relative: &str,
        how: String,
        extract: impl Fn(&str) -> Option<String>,
    ) -> Result<DynamicVersion, GitError> {
        let Some(file) = self.repo_path(relative) else {
            return Ok(DynamicVersion::Unreadable {
                file: relative.to_string(),
                how,
                reason: "it points outside the repository".into(),
            });
        };
        let Some(bytes) = self.repo.read_file(self.commit, &file)? else {
            return Ok(DynamicVersion::Unreadable {
                file,
                how,
                reason: "it does not exist there".into(),
            });
        };
        let text = String::from_utf8_lossy(&bytes);
        Ok(match extract(&text) {
            Some(version) => DynamicVersion::File {
                file,
                text: version,
                how,
            },
            None => DynamicVersion::Unreadable {
                file,
                how,
                reason: "it holds no version the backend's pattern finds".into(),
            },
        })
    }

    /// setuptools' `attr = "pkg.module.NAME"`: the module's file as
    /// setuptools finds it (package-dir mapping, else the root or `src/`),
    /// and NAME's top-level string assignment, read as its static reader
    /// does (no import).
    fn attr(
        &self,
        spec: &str,
        package_map: &[(String, String)],
        how: String,
    ) -> Result<DynamicVersion, GitError> {
        let (module, name) = spec.trim().rsplit_once('.').unwrap_or(("__init__", spec));
        let parts: Vec<&str> = module.split('.').collect();
        // setuptools' `find_package_path`: the most specific mapped prefix
        // of the module's name, else the "" mapping, else the root (and, as
        // its auto-discovery does for a src layout, `src/`).
        let mapped = (1..=parts.len()).rev().find_map(|i| {
            let prefix = parts[..i].join(".");
            package_map
                .iter()
                .find(|(k, _)| *k == prefix)
                .map(|(_, dir)| join_all(dir, &parts[i..]))
        });
        let bases: Vec<String> = match mapped {
            Some(base) => vec![base],
            None => match package_map.iter().find(|(k, _)| k.is_empty()) {
                Some((_, dir)) => vec![join_all(dir, &parts)],
                None => vec![join_all("", &parts), join_all("src", &parts)],
            },
        };
        let candidates: Vec<String> = bases
            .iter()
            .flat_map(|b| [format!("{b}.py"), join_repo_path(b, "__init__.py")])
            .filter_map(|c| self.repo_path(&c))
            .collect();
        for file in &candidates {
            let Some(bytes) = self.repo.read_file(self.commit, file)? else {
                continue;
            };
            let text = String::from_utf8_lossy(&bytes);
            return Ok(match first_assignment(&text, name) {
                Some(Some(value)) => DynamicVersion::File {
                    file: file.clone(),
                    text: value,
                    how,
                },
                // Assigned from code, imported, or not at the top level:
                // setuptools would import the module, which tagpub does not.
                _ => DynamicVersion::Build {
                    how: Some(format!("{how}; {file} does not assign it a string literal")),
                },
            });
        }
        Ok(DynamicVersion::Unreadable {
            file: candidates.join(" or "),
            how,
            reason: "no such module file there".into(),
        })
    }
}

/// The first top-level assignment to `name` in Python `source`, as
/// setuptools' static reader takes it: `Some(Some(text))` for a string
/// literal (also `name: str = …` and `a = name = …`), `Some(None)` for
/// anything else, `None` when there is none.
fn first_assignment(source: &str, name: &str) -> Option<Option<String>> {
    let assignment = Regex::new(&format!(
        r"(?m)^(?:[A-Za-z_]\w*[ \t]*=[ \t]*)*{}[ \t]*(?::[^=\n]*)?=(?P<rest>[^=\n][^\n]*)$",
        regex::escape(name)
    ))
    .expect("valid pattern");
    let literal = Regex::new(
        r#"^[ \t]*(?:[A-Za-z_]\w*[ \t]*=[ \t]*)*[rRuU]?(?:"(?P<a>[^"\n]*)"|'(?P<b>[^'\n]*)')[ \t\r]*(?:#.*)?$"#,
    )
    .expect("valid pattern");
    let rest = assignment
        .captures(source)?
        .name("rest")?
        .as_str()
        .to_string();
    Some(literal.captures(&rest).and_then(|c| {
        c.name("a")
            .or_else(|| c.name("b"))
            .map(|m| m.as_str().to_string())
    }))
}

fn join_all(dir: &str, parts: &[&str]) -> String {
    parts
        .iter()
        .fold(dir.trim_end_matches('/').to_string(), |acc, p| {
            join_repo_path(&acc, p)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hatch_default_pattern_reads_either_quote_and_a_leading_v() {
        let regex = Regex::new(HATCH_DEFAULT).unwrap();
        let read = |text: &str| {
            regex.captures(text).and_then(|c| {
                c.name("version")
                    .or_else(|| c.name("version2"))
                    .map(|m| m.as_str().to_string())
            })
        };
        assert_eq!(
            read("# x\n__version__ = \"0.4.1\"\n").as_deref(),
            Some("0.4.1")
        );
        assert_eq!(read("VERSION = 'v1.2'\n").as_deref(), Some("1.2"));
        assert_eq!(read("x__version__ = '1'\n"), None);
    }

    #[test]
    fn the_first_top_level_assignment_counts() {
        let read = |text: &str| first_assignment(text, "__version__");
        assert_eq!(
            read("import x\n__version__: str = '1.2'  # note\n"),
            Some(Some("1.2".into()))
        );
        assert_eq!(
            read("__version__ = VERSION = \"2.0\"\n"),
            Some(Some("2.0".into()))
        );
        assert_eq!(
            read("VERSION = __version__ = \"2.1\"\n"),
            Some(Some("2.1".into()))
        );
        // Computed first: setuptools would import; a later literal is not it.
        assert_eq!(read("__version__ = get()\n__version__ = '9'\n"), Some(None));
        // Indented (inside a block) or a comparison is no top-level assignment.
        assert_eq!(
            read("if x:\n    __version__ = '1'\nif __version__ == '1': pass\n"),
            None
        );
    }

    #[test]
    fn requirement_names_drop_specifiers() {
        assert_eq!(requirement_name("setuptools-scm>=8"), "setuptools-scm");
        assert_eq!(requirement_name("hatch-vcs"), "hatch-vcs");
        assert_eq!(
            requirement_name("setuptools_scm[toml] >= 6"),
            "setuptools_scm"
        );
    }
}
