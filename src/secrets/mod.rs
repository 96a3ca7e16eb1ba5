//! The secrets this process holds, and how they are kept out of what it
//! shows and starts: the registry of held secrets (`held`), the masking of
//! every form of them in text (`mask`), and which environment variables may
//! carry one. A leaf below `credentials` (which reads tokens) and `process`
//! (which starts children without them), so both can use it.

pub mod held;
pub mod mask;

pub use mask::mask;

/// The user name indexes expect with an API token, and under which Python's
/// `keyring` stores one.
pub const TOKEN_USER: &str = "__token__";

/// Whether a build must not see this environment variable: anything that
/// can hold an upload credential. Names tagpub read a token from are passed
/// in `extra`.
pub fn is_secret_env_name(name: &str, extra: &[String]) -> bool {
    let upper = name.to_ascii_uppercase();
    extra.iter().any(|e| e.eq_ignore_ascii_case(name))
        || [
            "PYPI_",
            "TWINE_",
            "UV_PUBLISH_",
            "ACTIONS_ID_TOKEN_",
            crate::env::TOKEN_PREFIX,
        ]
        .iter()
        .any(|prefix| upper.starts_with(prefix))
        || ["TOKEN", "PASSWORD", "SECRET", "API_KEY"]
            .iter()
            .any(|word| upper.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_are_recognised() {
        for name in [
            "PYPI_API_TOKEN_HF_LOCAL",
            "TWINE_PASSWORD",
            "UV_PUBLISH_TOKEN",
            "GITHUB_TOKEN",
            "MY_SECRET",
        ] {
            assert!(is_secret_env_name(name, &[]), "{name}");
        }
        for name in ["PATH", "HOME", "SOURCE_DATE_EPOCH", "LANG"] {
            assert!(!is_secret_env_name(name, &[]), "{name}");
        }
        assert!(is_secret_env_name("RELEASE_KEY", &["RELEASE_KEY".into()]));
    }
}
