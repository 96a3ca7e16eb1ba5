//! Trusted-publisher setup: for each project a trusted-publishing job
//! releases, the values PyPI's "Add a new publisher" form needs, and a link
//! that pre-fills it.
//!
//! The link: pypi/warehouse `warehouse/manage/views/oidc_publishers.py`,
//! `manage_project_oidc_publishers_prefill` (PR #16399, read at commit
//! 6b62157, Aug 2026) fills the project's publisher form from the query
//! string when it has `provider=github|gitlab`, taking each form's field
//! names (`warehouse/oidc/forms/github.py`: `owner`, `repository`,
//! `workflow_filename`, `environment`; `forms/gitlab.py`: `namespace`,
//! `project`, `workflow_filepath`, `environment`). The page is the route
//! `manage.project.settings.publishing`,
//! `/manage/project/{project_name}/settings/publishing/`
//! (`warehouse/routes.py`; the project is looked up by its normalized name,
//! `ProjectFactory`), so the link serves a project that exists. The
//! pending-publisher page for a new project (`/manage/account/publishing/`)
//! takes no such parameters there, so for a new project the values are
//! printed to be typed in.

use crate::ci::{Target, github, gitlab};
use crate::config::Config;
use crate::git::Repo;

/// Where the repository is hosted, as PyPI's publisher forms name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forge {
    GitHub { owner: String, repository: String },
    GitLab { namespace: String, project: String },
}

impl Forge {
    /// The forge of a git remote URL on github.com or gitlab.com (https,
    /// ssh, git and scp-like `git@host:path` forms), else `None`: PyPI
    /// trusts only those two (and GitLab instances of organizations).
    pub fn from_remote_url(remote: &str) -> Option<Forge> {
        let remote = remote.trim();
        // scp-like syntax: `[user@]host:path`, with no `/` before the `:`.
        let normalized = match remote.split_once(':') {
            Some((host, path)) if !remote.contains("://") && !host.contains('/') => {
                format!("ssh://{host}/{}", path.trim_start_matches('/'))
            }
            _ => remote.to_string(),
        };
        let url = url::Url::parse(&normalized).ok()?;
        let host = url.host_str()?.to_ascii_lowercase();
        let mut segments: Vec<String> = url
            .path_segments()?
            .filter(|s| !s.is_empty())
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        let last = segments.pop()?;
        let last = last.strip_suffix(".git").unwrap_or(&last).to_string();
        if last.is_empty() || segments.is_empty() {
            return None;
        }
        match host.as_str() {
            "github.com" if segments.len() == 1 => Some(Forge::GitHub {
                owner: segments.remove(0),
                repository: last,
            }),
            "gitlab.com" => Some(Forge::GitLab {
                namespace: segments.join("/"),
                project: last,
            }),
            _ => None,
        }
    }

    /// The forge of the repository's `origin` remote.
    pub fn of(repo: &Repo) -> Option<Forge> {
        repo.remote_url("origin")
            .ok()
            .flatten()
            .and_then(|url| Forge::from_remote_url(&url))
    }

    /// What the form calls the pipeline file: GitHub the workflow's file
    /// name; GitLab the top-level pipeline file (the OIDC token names
    /// `.gitlab-ci.yml`, not the file it includes).
    fn workflow(&self) -> (&'static str, &'static str) {
        match self {
            Forge::GitHub { .. } => ("workflow_filename", github::WORKFLOW_FILE),
            Forge::GitLab { .. } => ("workflow_filepath", gitlab::MAIN_PATH),
        }
    }

    fn fields(&self) -> [(&'static str, &str); 3] {
        match self {
            Forge::GitHub { owner, repository } => [
                ("provider", "github"),
                ("owner", owner),
                ("repository", repository),
            ],
            Forge::GitLab { namespace, project } => [
                ("provider", "gitlab"),
                ("namespace", namespace),
                ("project", project),
            ],
        }
    }
}

/// One trusted publisher to add on the index: `project` trusts the job of
/// `environment`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publisher {
    pub project: String,
    pub repository: String,
    pub environment: String,
    /// The form, pre-filled; `None` without a github.com/gitlab.com origin.
    pub form_url: Option<String>,
    /// The values to type into the form (what the link fills in).
    pub values: String,
}

/// A publisher for every project of every trusted-publishing job: a group's
/// job needs one on each member's project, all with the group's environment.
pub fn publishers(targets: &[Target<'_>], forge: Option<&Forge>) -> Vec<Publisher> {
    targets
        .iter()
        .filter(|t| t.trusted_publishing())
        .flat_map(|target| {
            target
                .packages
                .iter()
                .map(move |package| publisher(target, &package.name, forge))
        })
        .collect()
}

fn publisher(target: &Target<'_>, project: &str, forge: Option<&Forge>) -> Publisher {
    let form_url = forge.and_then(|forge| {
        let base = target.warehouse?.origin();
        let mut url = url::Url::parse(base).ok()?;
        url.path_segments_mut().ok()?.extend([
            "manage",
            "project",
            project,
            "settings",
            "publishing",
            "",
        ]);
        let (workflow_key, workflow) = forge.workflow();
        url.query_pairs_mut()
            .extend_pairs(forge.fields())
            .append_pair(workflow_key, workflow)
            .append_pair("environment", &target.environment);
        Some(url.to_string())
    });
    let values = match forge {
        Some(forge) => {
            let (workflow_key, workflow) = forge.workflow();
            forge
                .fields()
                .iter()
                .skip(1)
                .map(|(k, v)| format!("{k} `{v}`"))
                .chain([
                    format!("{workflow_key} `{workflow}`"),
                    format!("environment `{}`", target.environment),
                ])
                .collect::<Vec<_>>()
                .join(", ")
        }
        None => format!("environment `{}`", target.environment),
    };
    Publisher {
        project: project.to_string(),
        repository: target.repository.clone(),
        environment: target.environment.clone(),
        form_url,
        values,
    }
}

/// For `tagpub doctor`: how to set up trusted publishing for `package`, one
/// line per job that releases it by trusted publishing (its own, its
/// group's). Empty when none does or the config yields no pipeline.
pub fn setup_lines(repo: &Repo, config: &Config, package: &str) -> Vec<String> {
    let Ok(targets) = super::targets(config, "tagpub.toml") else {
        return Vec::new();
    };
    if !targets.iter().any(|t| t.trusted_publishing()) {
        return Vec::new();
    }
    let forge = Forge::of(repo);
    publishers(&targets, forge.as_ref())
        .into_iter()
        .filter(|p| p.project == package)
        .map(|p| describe(&p))
        .collect()
}

/// `trusted publisher on pypi (owner `o`, …, environment `pypi-x`): https://…`,
/// or the values alone when there is no link.
pub fn describe(publisher: &Publisher) -> String {
    match &publisher.form_url {
        Some(url) => format!(
            "trusted publisher on {} ({}): {url}",
            publisher.repository, publisher.values
        ),
        None => format!(
            "trusted publisher on {}: {} (no link: `origin` is not a github.com or gitlab.com URL)",
            publisher.repository, publisher.values
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_urls() {
        let gh = |o: &str, r: &str| {
            Some(Forge::GitHub {
                owner: o.into(),
                repository: r.into(),
            })
        };
        assert_eq!(
            Forge::from_remote_url("https://github.com/octo/repo.git"),
            gh("octo", "repo")
        );
        assert_eq!(
            Forge::from_remote_url("https://user@GitHub.com/octo/repo/"),
            gh("octo", "repo")
        );
        assert_eq!(
            Forge::from_remote_url("git@github.com:octo/repo.git"),
            gh("octo", "repo")
        );
        assert_eq!(
            Forge::from_remote_url("ssh://git@github.com:22/octo/repo"),
            gh("octo", "repo")
        );
        assert_eq!(
            Forge::from_remote_url("git@gitlab.com:group/sub/proj.git"),
            Some(Forge::GitLab {
                namespace: "group/sub".into(),
                project: "proj".into()
            })
        );
        assert_eq!(Forge::from_remote_url("https://github.com/octo"), None);
        assert_eq!(Forge::from_remote_url("https://github.com/a/b/c"), None);
        assert_eq!(
            Forge::from_remote_url("https://git.example.com/a/b.git"),
            None
        );
        assert_eq!(Forge::from_remote_url("/srv/git/repo.git"), None);
        assert_eq!(Forge::from_remote_url("../repo"), None);
    }
}
