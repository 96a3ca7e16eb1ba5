//! Which index a release goes to, and what of it is already there.

use url::Url;

use crate::config::RepositoryTarget;
use crate::dirs::Dirs;
use crate::repository::{Repository, simple_url_for_upload};

/// Turns a repository the config resolved into something to upload to.
/// `None` only when a URL does not parse (the config checked them).
pub fn open_repository(target: &RepositoryTarget, dirs: &Dirs) -> Option<Repository> {
    let remote = match target {
        RepositoryTarget::Local => {
            return Some(Repository::Local {
                name: target.name().to_string(),
                root: dirs.local_index(),
            });
        }
        RepositoryTarget::Remote(remote) => remote,
    };
    let upload_url = Url::parse(remote.upload_url()).ok()?;
    let simple_url = match &remote.settings.simple_url {
        Some(simple) => Url::parse(simple).ok()?,
        None => simple_url_for_upload(&upload_url),
    };
    Some(Repository::Remote {
        name: remote.name.clone(),
        upload_url,
        simple_url,
        backoff: crate::retry::Backoff::from_env(),
        username: remote
            .settings
            .username
            .clone()
            .unwrap_or_else(|| crate::secrets::TOKEN_USER.to_string()),
    })
}
