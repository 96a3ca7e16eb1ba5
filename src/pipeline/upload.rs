//! Which index a release goes to, and what of it is already there.

use url::Url;

use crate::config::Config;
use crate::dirs::Dirs;
use crate::repository::{Repository, simple_url_for_upload};

/// Turns a repository name from the config into something to upload to.
/// The config has validated names and URLs already.
pub fn open_repository(config: &Config, name: &str, dirs: &Dirs) -> Option<Repository> {
    if name == "local" {
        return Some(Repository::Local {
            name: name.to_string(),
            root: dirs.local_index(),
        });
    }
    let (upload, simple) = config.repository_urls(name)?;
    let upload_url = Url::parse(&upload).ok()?;
    let simple_url = match simple {
        Some(simple) => Url::parse(&simple).ok()?,
        None => simple_url_for_upload(&upload_url),
    };
    Some(Repository::Remote {
        name: name.to_string(),
        upload_url,
        simple_url,
        backoff: crate::retry::Backoff::from_env(),
        username: config
            .repositories
            .get(name)
            .and_then(|r| r.username.clone())
            .unwrap_or_else(|| crate::secrets::TOKEN_USER.to_string()),
    })
}
