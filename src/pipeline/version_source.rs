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
            let package_map = tool("setuptools")
                .and_then(|s| s.get("package-dir"))
                .and_then(|p| p.as_table());
            return reader.attr(attr, package_map);
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
        package_map: Option<&toml::Table>,
    ) -> Result<DynamicVersion, GitError> {
        let how = format!("[tool.setuptools.dynamic] version = {{attr = \"{spec}\"}}");
        let (module, name) = spec.rsplit_once('.').unwrap_or(("__init__", spec));
        let parts: Vec<&str> = module.split('.').collect();
        let mut bases: Vec<String> = Vec::new();
        match package_map {
            Some(map) => {
                if let Some(dir) = map.get(parts[0]).and_then(|d| d.as_str()) {
                    bases.push(join_all(dir, &parts[1..]));
                } else if let Some(dir) = map.get("").and_then(|d| d.as_str()) {
                    bases.push(join_all(dir, &parts));
                } else {
                    bases.push(join_all("", &parts));
                }
            }
            None => {
                bases.push(join_all("", &parts));
                bases.push(join_all("src", &parts));
            }
        }
        let candidates: Vec<String> = bases
            .iter()
            .flat_map(|b| [format!("{b}.py"), join_repo_path(b, "__init__.py")])
            .collect();
        for candidate in &candidates {
            let Some(file) = self.repo_path(candidate) else {
                continue;
            };
            let Some(bytes) = self.repo.read_file(self.commit, &file)? else {
                continue;
            };
            let text = String::from_utf8_lossy(&bytes);
            let literal = Regex::new(&format!(
                r#"(?m)^{}[ \t]*(?::[^=\n]*)?=[ \t]*[uU]?(?:"(?P<a>[^"\n]*)"|'(?P<b>[^'\n]*)')[ \t]*(?:#.*)?$"#,
                regex::escape(name)
            ))
            .expect("valid pattern");
            if let Some(captures) = literal.captures(&text) {
                let value = captures.name("a").or_else(|| captures.name("b"));
                return Ok(DynamicVersion::File {
                    file,
                    text: value.map(|m| m.as_str().to_string()).unwrap_or_default(),
                    how,
                });
            }
            // Assigned from code (or imported): setuptools would import the
            // module, which tagpub does not do.
            return Ok(DynamicVersion::Build {
                how: Some(format!(
                    "{how} ({file} does not assign it a string literal)"
                )),
            });
        }
        Ok(DynamicVersion::Unreadable {
            file: candidates
                .iter()
                .filter_map(|c| self.repo_path(c))
                .collect::<Vec<_>>()
                .join(" or "),
            how,
            reason: "no such module file there".into(),
        })
    }
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
    fn requirement_names_drop_specifiers() {
        assert_eq!(requirement_name("setuptools-scm>=8"), "setuptools-scm");
        assert_eq!(requirement_name("hatch-vcs"), "hatch-vcs");
        assert_eq!(
            requirement_name("setuptools_scm[toml] >= 6"),
            "setuptools_scm"
        );
    }
}
