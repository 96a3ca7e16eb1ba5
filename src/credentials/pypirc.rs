//! `~/.pypirc`, the file twine and older tools read tokens from.

use std::path::{Path, PathBuf};

use secrecy::SecretString;

/// A token found in a `.pypirc` section.
pub struct PypircToken {
    pub section: String,
    pub secret: SecretString,
}

/// The file twine reads: `~/.pypirc` (`TAGPUB_PYPIRC` overrides, for tests).
pub fn default_path() -> Option<PathBuf> {
    if let Some(path) = crate::env::PYPIRC.non_empty() {
        return Some(PathBuf::from(path));
    }
    directories::BaseDirs::new().map(|dirs| dirs.home_dir().join(".pypirc"))
}

/// The token for a repository: the section named like it, or one whose
/// `repository` URL is its upload URL. Only `__token__` logins count:
/// indexes no longer take passwords for uploads.
pub fn lookup(
    path: &Path,
    repository: &str,
    upload_url: Option<&str>,
) -> Result<Option<PypircToken>, String> {
    if !path.is_file() {
        return Ok(None);
    }
    let mut ini = configparser::ini::Ini::new();
    let map = ini
        .load(path)
        .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    let same_url = |a: &str, b: &str| a.trim_end_matches('/') == b.trim_end_matches('/');
    let wanted = repository.to_ascii_lowercase();
    let section = map.iter().find_map(|(name, values)| {
        let url = values.get("repository").cloned().flatten();
        let matches = *name == wanted
            || matches!((&url, upload_url), (Some(url), Some(upload)) if same_url(url, upload));
        matches.then_some((name, values))
    });
    let Some((name, values)) = section else {
        return Ok(None);
    };
    let username = values.get("username").cloned().flatten();
    let password = values.get("password").cloned().flatten();
    match (username.as_deref(), password) {
        (None | Some("__token__"), Some(password)) if !password.trim().is_empty() => {
            Ok(Some(PypircToken {
                section: name.clone(),
                secret: SecretString::from(password.trim().to_string()),
            }))
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn finds_sections_by_name_or_url() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".pypirc");
        std::fs::write(
            &path,
            "[distutils]\nindex-servers =\n    pypi\n    internal\n\n[pypi]\nusername = __token__\npassword = pypi-one\n\n\
             [internal]\nrepository = https://pypi.example.org/legacy/\nusername = __token__\npassword = pypi-two\n\n\
             [legacy]\nusername = alice\npassword = hunter2\n",
        )
        .unwrap();
        let pypi = lookup(&path, "pypi", Some("https://upload.pypi.org/legacy/"))
            .unwrap()
            .unwrap();
        assert_eq!(pypi.section, "pypi");
        assert_eq!(pypi.secret.expose_secret(), "pypi-one");
        let by_url = lookup(&path, "corp", Some("https://pypi.example.org/legacy"))
            .unwrap()
            .unwrap();
        assert_eq!(by_url.section, "internal");
        assert_eq!(by_url.secret.expose_secret(), "pypi-two");
        assert!(
            lookup(&path, "legacy", None).unwrap().is_none(),
            "password logins are not tokens"
        );
        assert!(
            lookup(&path, "testpypi", Some("https://test.pypi.org/legacy/"))
                .unwrap()
                .is_none()
        );
        assert!(
            lookup(&dir.path().join("missing"), "pypi", None)
                .unwrap()
                .is_none()
        );
    }
}
