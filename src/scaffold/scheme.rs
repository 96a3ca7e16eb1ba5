//! What tag scheme a repository really uses: the release tags it has (recent
//! ones decide) and each package's VCS-version settings (setuptools-scm,
//! hatch-vcs, uv-dynamic-versioning), turned into one tag pattern per package.

use std::collections::BTreeMap;
use std::str::FromStr;

use crate::git::{GitError, Repo};
use crate::pipeline::version_source::{DynamicVersion, dynamic_version};
use crate::version::{TagPattern, Version, normalize_name};

use super::FoundPackage;

/// Tags older than this before the newest release tag are history, not the
/// scheme (open-ticket-ai used per-package prefixes before 1.1.0).
const RECENT_SECONDS: i64 = 2 * 365 * 24 * 3600;

/// The tag prefix a package's VCS-version plugin reads, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VcsScheme {
    pub plugin: &'static str,
    /// The setting as written, for the report.
    pub setting: String,
    /// The literal text before the version in the tags it reads; `None`:
    /// the plugin's default, which accepts any prefix.
    pub prefix: Option<String>,
}

/// Reads the VCS-version settings of a pyproject: setuptools-scm
/// (`tag_regex`, `git_describe_command --match`), hatch-vcs (`tag-pattern`,
/// `raw-options`), uv-/poetry-dynamic-versioning (`pattern`, `pattern-prefix`).
pub fn vcs_scheme(doc: &toml::Table) -> Option<VcsScheme> {
    let tool = |name: &str| doc.get("tool").and_then(|t| t.get(name));
    let hatch_version = tool("hatch").and_then(|h| h.get("version"));
    if let Some(version) = hatch_version
        && version.get("source").and_then(|s| s.as_str()) == Some("vcs")
    {
        let raw = version.get("raw-options");
        return Some(scm_like(
            "hatch-vcs",
            version.get("tag-pattern").map(|p| ("tag-pattern", p)),
            raw.and_then(|r| r.get("tag_regex"))
                .map(|p| ("raw-options.tag_regex", p)),
            raw.and_then(|r| r.get("git_describe_command")),
        ));
    }
    if let Some(scm) = tool("setuptools_scm").or_else(|| tool("setuptools-scm")) {
        return Some(scm_like(
            "setuptools-scm",
            scm.get("tag_regex").map(|p| ("tag_regex", p)),
            None,
            // setuptools-scm 8 moved it to [tool.setuptools_scm.scm.git].
            scm.get("git_describe_command").or_else(|| {
                scm.get("scm")
                    .and_then(|s| s.get("git"))
                    .and_then(|g| g.get("describe_command"))
            }),
        ));
    }
    for plugin in ["uv-dynamic-versioning", "poetry-dynamic-versioning"] {
        let Some(table) = tool(plugin) else { continue };
        let extra = table
            .get("pattern-prefix")
            .and_then(|p| p.as_str())
            .unwrap_or("");
        let pattern = table.get("pattern").and_then(|p| p.as_str());
        // dunamai's named patterns: "default" reads `v1.2.3`, and
        // "default-unprefixed" `1.2.3`; `pattern-prefix` goes before either.
        let prefix = match pattern {
            None | Some("default") => Some(format!("{extra}v")),
            Some("default-unprefixed") => Some(extra.to_string()),
            Some(regex) => prefix_from_regex(regex).map(|p| format!("{extra}{p}")),
        };
        let mut setting = format!("[tool.{plugin}]");
        if let Some(pattern) = pattern {
            setting.push_str(&format!(" pattern = '{pattern}'"));
        }
        if !extra.is_empty() {
            setting.push_str(&format!(" pattern-prefix = '{extra}'"));
        }
        return Some(VcsScheme {
            plugin: if plugin == "uv-dynamic-versioning" {
                "uv-dynamic-versioning"
            } else {
                "poetry-dynamic-versioning"
            },
            setting,
            prefix,
        });
    }
    None
}

/// setuptools-scm and hatch-vcs (which passes its options to it): a tag
/// regex decides, else `git describe --match`, else the default (any).
fn scm_like(
    plugin: &'static str,
    regex: Option<(&str, &toml::Value)>,
    raw_regex: Option<(&str, &toml::Value)>,
    describe: Option<&toml::Value>,
) -> VcsScheme {
    for (key, value) in [regex, raw_regex].into_iter().flatten() {
        if let Some(text) = value.as_str() {
            return VcsScheme {
                plugin,
                setting: format!("{key} = '{text}'"),
                prefix: prefix_from_regex(text),
            };
        }
    }
    if let Some(glob) = describe.and_then(describe_match) {
        return VcsScheme {
            plugin,
            setting: format!("git_describe_command --match '{glob}'"),
            prefix: prefix_from_glob(&glob),
        };
    }
    VcsScheme {
        plugin,
        setting: "its default tag regex".into(),
        prefix: None,
    }
}

/// The `--match` glob of a `git_describe_command` (a string or a list).
fn describe_match(command: &toml::Value) -> Option<String> {
    let words: Vec<String> = match command {
        toml::Value::String(text) => text
            .split_whitespace()
            .map(|w| w.trim_matches(['"', '\'']).to_string())
            .collect(),
        toml::Value::Array(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        _ => return None,
    };
    let mut words = words.iter();
    while let Some(word) = words.next() {
        if word == "--match" || word == "-m" {
            return words.next().cloned();
        }
        if let Some(glob) = word.strip_prefix("--match=") {
            return Some(glob.to_string());
        }
    }
    None
}

/// `hatch-v*` → `hatch-v`; `None` when the glob starts with a wildcard.
pub fn prefix_from_glob(glob: &str) -> Option<String> {
    let end = glob.find(['*', '?', '[', '\\']).unwrap_or(glob.len());
    if end == 0 && !glob.starts_with('[') {
        return None;
    }
    Some(glob[..end].to_string())
}

/// The literal text a tag regex requires before its version group:
/// `^v(?P<version>…)$` → `v`, `^hatch\-v(?P<version>…)` → `hatch-v`.
/// `None` when what precedes the version is not literal (setuptools-scm's
/// default `^(?:[\w-]+-)?…` accepts any prefix).
pub fn prefix_from_regex(regex: &str) -> Option<String> {
    let body = regex.strip_prefix('^').unwrap_or(regex);
    let mut literal = String::new();
    let mut chars = body.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '\\' => {
                let (_, escaped) = chars.next()?;
                if escaped.is_ascii_alphanumeric() {
                    return None; // \d, \w: a class, not a literal
                }
                literal.push(escaped);
            }
            '(' => {
                let rest = &body[at..];
                let versioned = ["(?P<version>", "(?P<base>", "((?P<epoch>"]
                    .iter()
                    .any(|start| rest.starts_with(start));
                return versioned.then_some(literal);
            }
            '.' | '[' | ']' | '*' | '+' | '?' | '{' | '}' | '|' | '$' | ')' => return None,
            c => literal.push(c),
        }
    }
    None
}

/// A tag whose name ends in a PEP 440 version.
#[derive(Debug, Clone)]
pub struct ReleaseTag {
    pub name: String,
    /// The text before the version: `hatch-v`, `v`, or empty.
    pub prefix: String,
    pub version: Version,
    pub commit: String,
    /// The tagger date (annotated tags), else the commit date.
    pub date: i64,
    pub annotated: bool,
}

/// `hatch-v1.18.0` → (`hatch-v`, 1.18.0): the version starts at the first
/// digit from which the rest is PEP 440 (so `v` stays in the prefix).
pub fn split_tag(tag: &str) -> Option<(&str, Version)> {
    tag.char_indices()
        .filter(|(at, c)| {
            c.is_ascii_digit() && (*at == 0 || !tag[..*at].ends_with(|p: char| p.is_ascii_digit()))
        })
        .find_map(|(at, _)| Some((&tag[..at], Version::from_str(&tag[at..]).ok()?)))
}

/// Every tag that names a version, newest first.
pub fn release_tags(repo: &Repo) -> Result<Vec<ReleaseTag>, GitError> {
    let mut tags = Vec::new();
    for name in repo.tag_names()? {
        let Some((prefix, version)) = split_tag(&name) else {
            continue;
        };
        let prefix = prefix.to_string();
        let Some(info) = repo.tag(&name)? else {
            continue;
        };
        tags.push(ReleaseTag {
            prefix,
            version,
            commit: info.commit,
            date: info
                .annotated
                .as_ref()
                .and_then(|a| a.tagger_time)
                .unwrap_or(info.commit_time),
            annotated: info.annotated.is_some(),
            name,
        });
    }
    tags.sort_by(|a, b| b.date.cmp(&a.date).then_with(|| b.version.cmp(&a.version)));
    Ok(tags)
}

/// `hatch-v` → `hatch`, `v` → ``, `otai_base-` → `otai-base`.
fn stem(prefix: &str) -> String {
    let trimmed = prefix.trim_end_matches(['-', '_', '/', '.', '@']);
    let trimmed = trimmed
        .strip_suffix(['v', 'V'])
        .filter(|rest| rest.is_empty() || rest.ends_with(['-', '_', '/', '.', '@']))
        .unwrap_or(trimmed);
    normalize_name(trimmed.trim_end_matches(['-', '_', '/', '.', '@']))
}

/// The pattern chosen for a package and what it was learned from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub pattern: String,
    pub why: String,
}

/// A prefix's recent tags, newest first.
struct PrefixTags<'a> {
    prefix: &'a str,
    tags: Vec<&'a ReleaseTag>,
}

impl PrefixTags<'_> {
    fn newest(&self) -> &ReleaseTag {
        self.tags[0]
    }

    fn summary(&self) -> String {
        format!(
            "{} recent tag{} like {}",
            self.tags.len(),
            if self.tags.len() == 1 { "" } else { "s" },
            self.newest().name
        )
    }
}

/// One pattern per package, from (in order): its VCS plugin's tag setting;
/// its own recent tags (unless the shared tags took over: its version moves
/// with them); the shared `v`-tags for the root package, or for one whose
/// version at the newest shared tag is that tag's; else `fallback`.
pub fn choose(
    repo: &Repo,
    packages: &[FoundPackage],
    tags: &[ReleaseTag],
    fallback: impl Fn(&FoundPackage) -> String,
) -> Result<Vec<Choice>, GitError> {
    let cutoff = tags.first().map_or(i64::MIN, |t| t.date - RECENT_SECONDS);
    let mut by_prefix: BTreeMap<&str, Vec<&ReleaseTag>> = BTreeMap::new();
    for tag in tags.iter().filter(|t| t.date >= cutoff) {
        by_prefix.entry(&tag.prefix).or_default().push(tag);
    }
    let prefixes: Vec<PrefixTags> = by_prefix
        .into_iter()
        .map(|(prefix, tags)| PrefixTags { prefix, tags })
        .collect();
    // The repository-wide tags (`v1.2.3`, `1.2.3`): the busiest recent one.
    let shared = prefixes
        .iter()
        .filter(|p| stem(p.prefix).is_empty())
        .max_by_key(|p| (p.newest().date, p.tags.len()));
    let owners = own_prefixes(packages, &prefixes);

    let mut choices = Vec::new();
    for (index, package) in packages.iter().enumerate() {
        let manifest = package.manifest_path();
        // A prefix no tag name can carry (a regex tagpub misread) says nothing.
        if let Some(vcs) = &package.vcs
            && let Some(prefix) = &vcs.prefix
            && TagPattern::parse(&format!("{prefix}{{version}}")).is_ok()
        {
            choices.push(Choice {
                pattern: format!("{prefix}{{version}}"),
                why: format!("{} {} in {manifest}", vcs.plugin, vcs.setting),
            });
            continue;
        }
        let own = owners
            .iter()
            .filter(|(owner, _)| *owner == index)
            .map(|(_, p)| &prefixes[*p])
            .max_by_key(|p| p.newest().date);
        let shared_newer =
            shared.filter(|s| own.is_none_or(|own| s.newest().date > own.newest().date));
        if let Some(own) = own {
            let joined = match shared_newer {
                Some(s) => lockstep(repo, package, s.newest())?,
                None => false,
            };
            if !joined {
                choices.push(Choice {
                    pattern: format!("{}{{version}}", own.prefix),
                    why: own.summary(),
                });
                continue;
            }
        }
        if let Some(shared) = shared {
            let is_root = package.path.is_empty() || packages.len() == 1;
            if is_root {
                choices.push(Choice {
                    pattern: format!("{}{{version}}", shared.prefix),
                    why: shared.summary(),
                });
                continue;
            }
            if lockstep(repo, package, shared.newest())? {
                choices.push(Choice {
                    pattern: format!("{}{{version}}", shared.prefix),
                    why: format!(
                        "{}, and its version at {} is {}",
                        shared.summary(),
                        shared.newest().name,
                        shared.newest().version
                    ),
                });
                continue;
            }
        }
        choices.push(Choice {
            pattern: fallback(package),
            why: if tags.is_empty() {
                "no release tags yet".into()
            } else {
                "no recent release tag names it".into()
            },
        });
    }
    Ok(choices)
}

/// (package index, prefix index) for every recent prefix whose stem names a
/// package: its name or directory first, then its name without the first
/// word or the root package's name (`otai-hf-local` → `hf-local`).
fn own_prefixes(packages: &[FoundPackage], prefixes: &[PrefixTags]) -> Vec<(usize, usize)> {
    let root = packages
        .iter()
        .find(|p| p.path.is_empty())
        .map(|p| normalize_name(&p.name));
    let forms: Vec<(Vec<String>, Vec<String>)> = packages
        .iter()
        .map(|package| {
            let name = normalize_name(&package.name);
            let dir = normalize_name(package.path.rsplit('/').next().unwrap_or(""));
            let mut exact = vec![name.clone()];
            if !dir.is_empty() {
                exact.push(dir);
            }
            let mut short = Vec::new();
            if let Some((_, rest)) = name.split_once('-') {
                short.push(rest.to_string());
            }
            if let Some(root) = &root
                && let Some(rest) = name.strip_prefix(&format!("{root}-"))
            {
                short.push(rest.to_string());
            }
            for form in short.clone() {
                if let Some(rest) = form.strip_suffix("-plugin") {
                    short.push(rest.to_string());
                }
            }
            (exact, short)
        })
        .collect();
    let mut owners = Vec::new();
    for (p, prefix) in prefixes.iter().enumerate() {
        let stem = stem(prefix.prefix);
        if stem.is_empty() {
            continue;
        }
        for tier in [0, 1] {
            let matching: Vec<usize> = forms
                .iter()
                .enumerate()
                .filter(|(_, (exact, short))| if tier == 0 { exact } else { short }.contains(&stem))
                .map(|(i, _)| i)
                .collect();
            // Two packages with the same claim: neither is sure.
            if let [only] = matching[..] {
                owners.push((only, p));
                break;
            }
            if !matching.is_empty() {
                break;
            }
        }
    }
    owners
}

/// Whether `package`'s version at `tag`'s commit is that tag's version: a
/// static or file version equal to it, or a VCS version with the plugin's
/// default tag regex (it reads whatever tag describes the commit).
fn lockstep(repo: &Repo, package: &FoundPackage, tag: &ReleaseTag) -> Result<bool, GitError> {
    let Some(bytes) = repo.read_file(&tag.commit, &package.manifest_path())? else {
        return Ok(false);
    };
    let Some(doc) = std::str::from_utf8(&bytes)
        .ok()
        .and_then(|text| text.parse::<toml::Table>().ok())
    else {
        return Ok(false);
    };
    let project = doc.get("project");
    let dynamic = project
        .and_then(|p| p.get("dynamic"))
        .and_then(|d| d.as_array())
        .is_some_and(|d| d.iter().any(|v| v.as_str() == Some("version")));
    let same = |text: &str| Version::from_str(text).is_ok_and(|v| v == tag.version);
    if !dynamic {
        return Ok(project
            .and_then(|p| p.get("version"))
            .and_then(|v| v.as_str())
            .is_some_and(same));
    }
    Ok(
        match dynamic_version(repo, &tag.commit, &package.path, &doc)? {
            DynamicVersion::File { text, .. } => same(&text),
            DynamicVersion::Tag { .. } => vcs_scheme(&doc).is_none_or(|s| s.prefix.is_none()),
            DynamicVersion::Unreadable { .. } | DynamicVersion::Build { .. } => false,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_from_regexes_and_globs() {
        assert_eq!(
            prefix_from_regex(r"^v(?P<version>\d+\.\d+\.\d+)$").as_deref(),
            Some("v")
        );
        assert_eq!(
            prefix_from_regex(r"^hatch\-v(?P<version>.*)$").as_deref(),
            Some("hatch-v")
        );
        assert_eq!(
            prefix_from_regex(r"^(?P<version>\d+(\.\d+)*)$").as_deref(),
            Some("")
        );
        // setuptools-scm's default: any prefix.
        assert_eq!(
            prefix_from_regex(r"^(?:[\w-]+-)?(?P<version>[vV]?\d+(?:\.\d+){0,2}[^\+]*)(?:\+.*)?$"),
            None
        );
        assert_eq!(prefix_from_regex(r"^[vV](?P<version>.*)$"), None);
        assert_eq!(
            prefix_from_regex(r"^v((?P<epoch>\d+)!)?(?P<base>\d+(\.\d+)*)").as_deref(),
            Some("v")
        );
        assert_eq!(prefix_from_glob("hatch-v*").as_deref(), Some("hatch-v"));
        assert_eq!(prefix_from_glob("v[0-9]*").as_deref(), Some("v"));
        assert_eq!(prefix_from_glob("*"), None);
    }

    #[test]
    fn reads_vcs_settings() {
        let doc = |text: &str| text.parse::<toml::Table>().unwrap();
        let hatch = doc(
            "[tool.hatch.version]\nsource = \"vcs\"\n[tool.hatch.version.raw-options]\n\
             git_describe_command = [\"git\", \"describe\", \"--tags\", \"--match\", \"hatch-v*\"]\n",
        );
        assert_eq!(
            vcs_scheme(&hatch).unwrap().prefix.as_deref(),
            Some("hatch-v")
        );
        let scm = doc(
            "[tool.setuptools_scm]\nroot = \"../..\"\ntag_regex = '^v(?P<version>\\d+\\.\\d+\\.\\d+)$'\n",
        );
        let scheme = vcs_scheme(&scm).unwrap();
        assert_eq!(
            (scheme.plugin, scheme.prefix.as_deref()),
            ("setuptools-scm", Some("v"))
        );
        let describe =
            doc("[tool.setuptools_scm]\ngit_describe_command = \"git describe --match=core-v*\"\n");
        assert_eq!(
            vcs_scheme(&describe).unwrap().prefix.as_deref(),
            Some("core-v")
        );
        let scm8 = doc(
            "[tool.setuptools_scm.scm.git]\ndescribe_command = \"git describe --tags --match lib-v*\"\n",
        );
        assert_eq!(vcs_scheme(&scm8).unwrap().prefix.as_deref(), Some("lib-v"));
        let default = doc("[tool.setuptools_scm]\n");
        assert_eq!(vcs_scheme(&default).unwrap().prefix, None);
        let uv = doc("[tool.uv-dynamic-versioning]\npattern-prefix = \"cli-\"\n");
        assert_eq!(vcs_scheme(&uv).unwrap().prefix.as_deref(), Some("cli-v"));
        assert_eq!(
            vcs_scheme(&doc("[tool.hatch.version]\npath = \"a.py\"\n")),
            None
        );
    }

    #[test]
    fn splits_tags_and_stems() {
        let (prefix, version) = split_tag("hatch-v1.18.0").unwrap();
        assert_eq!(
            (prefix, version.to_string().as_str()),
            ("hatch-v", "1.18.0")
        );
        assert_eq!(split_tag("v1.5.14").unwrap().0, "v");
        assert_eq!(split_tag("1.0").unwrap().0, "");
        assert_eq!(split_tag("py3-v2.0rc1").unwrap().0, "py3-v");
        assert!(split_tag("latest").is_none());
        assert_eq!(stem("hatch-v"), "hatch");
        assert_eq!(stem("v"), "");
        assert_eq!(stem("otai_hf_local-"), "otai-hf-local");
        assert_eq!(stem("dev"), "dev");
    }
}
