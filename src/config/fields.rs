//! One value's checks: URLs, environment variable names, commands,
//! package paths, `allowed-signers` entries, `~` in paths.

use std::path::{Component, Path, PathBuf};

use toml::Spanned;

use super::load::SourceFile;
use super::{AllowedSigner, ConfigError};

pub(super) fn check_url(
    source: &SourceFile<'_>,
    url: &Spanned<String>,
    key: &str,
) -> Result<String, ConfigError> {
    match url::Url::parse(url.get_ref()) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {
            if !parsed.username().is_empty() || parsed.password().is_some() {
                return Err(source.error(
                    url.span(),
                    format!("{key} must not contain credentials"),
                    Some("store the token with `tagpub token set` or an environment variable instead".to_string()),
                ));
            }
            Ok(url.get_ref().clone())
        }
        Ok(parsed) => Err(source.error(
            url.span(),
            format!("{key} must be http or https, not `{}`", parsed.scheme()),
            None,
        )),
        Err(err) => Err(source.error(
            url.span(),
            format!("invalid {key} `{}`: {err}", url.get_ref()),
            Some("write a full URL like \"https://pypi.example.org/legacy/\"".to_string()),
        )),
    }
}

/// `~` or `~/x` → the home directory (or `x` under it); other paths as given.
pub(super) fn expand_home(path: &str) -> PathBuf {
    let home = || std::env::var_os("HOME").map(PathBuf::from);
    match path.strip_prefix('~') {
        Some("") => home().unwrap_or_else(|| PathBuf::from(path)),
        Some(rest) if rest.starts_with('/') => home()
            .map(|h| h.join(rest.trim_start_matches('/')))
            .unwrap_or_else(|| PathBuf::from(path)),
        _ => PathBuf::from(path),
    }
}

pub(super) fn check_env_name(
    source: &SourceFile<'_>,
    name: Spanned<String>,
) -> Result<String, ConfigError> {
    let value = name.get_ref();
    let valid = !value.is_empty()
        && !value.starts_with(|c: char| c.is_ascii_digit())
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(source.error(
            name.span(),
            format!("`{value}` is not an environment variable name"),
            Some("token-env names the variable that holds the token, like \"PYPI_API_TOKEN_HF_LOCAL\"; never put the token itself here".to_string()),
        ));
    }
    // A variable named as a token's home is withheld from every child,
    // whether or not the token was read from it.
    crate::process::withhold_env(value);
    Ok(name.into_inner())
}

/// `allowed-signers`: each entry must be something a signature can be
/// matched against ([`AllowedSigner`]).
pub(super) fn check_signers(
    source: &SourceFile<'_>,
    signers: &Spanned<Vec<String>>,
) -> Result<Vec<String>, ConfigError> {
    for entry in signers.get_ref() {
        if let Err(reason) = AllowedSigner::parse(entry) {
            return Err(source.error(
                signers.span(),
                format!("allowed-signers entry `{entry}` {reason}"),
                Some("list OpenPGP key fingerprints (40 hex digits, `gpg --fingerprint`), long key ids (16 hex digits), SSH principals as in gpg.ssh.allowedSignersFile, or SSH key fingerprints (`SHA256:…`, `ssh-keygen -lf KEY.pub`)".to_string()),
            ));
        }
    }
    Ok(signers.get_ref().clone())
}

pub(super) fn check_command(
    source: &SourceFile<'_>,
    command: Spanned<Vec<String>>,
    key: &str,
) -> Result<Vec<String>, ConfigError> {
    if command.get_ref().is_empty() {
        return Err(source.error(
            command.span(),
            format!("{key} is empty"),
            Some("give the program and its arguments as a list, like [\"python\", \"-m\", \"build\"]".to_string()),
        ));
    }
    Ok(command.into_inner())
}

/// Validates a package path and returns it `/`-separated without `./`.
pub(super) fn normalize_package_path(path: &str) -> Result<String, &'static str> {
    let mut parts = Vec::new();
    for component in Path::new(path).components() {
        match component {
            Component::CurDir => {}
            Component::Normal(part) => {
                parts.push(part.to_str().ok_or("is not valid UTF-8")?.to_string())
            }
            Component::ParentDir => return Err("leaves the repository (`..`)"),
            Component::RootDir | Component::Prefix(_) => return Err("is absolute"),
        }
    }
    Ok(parts.join("/"))
}
