//! Every secret this process has read, and the environment variables it
//! read them from, so that children can be started without them and text
//! from outside (an index's error body) can be masked of every form of them.
//!
//! The registry only grows: a process that once held a token keeps hiding it
//! until it exits.

use std::sync::Mutex;

use secrecy::{ExposeSecret, SecretString};

struct Held {
    secrets: Vec<SecretString>,
    env_names: Vec<String>,
    /// Upload user names sent with a secret (basic auth), so the masking
    /// finds `base64(USER:secret)` whole.
    users: Vec<String>,
}

static HELD: Mutex<Held> = Mutex::new(Held {
    secrets: Vec::new(),
    env_names: Vec::new(),
    users: Vec::new(),
});

/// Records a secret this process now holds, and the variable it came from.
pub fn remember(secret: &SecretString, env_name: Option<&str>) {
    let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
    let value = secret.expose_secret();
    if !value.is_empty() && !held.secrets.iter().any(|s| s.expose_secret() == value) {
        held.secrets.push(secret.clone());
    }
    if let Some(name) = env_name
        && !held.env_names.iter().any(|n| n == name)
    {
        held.env_names.push(name.to_string());
    }
}

/// Records a user name this process sends with a secret (an upload login).
pub fn remember_user(user: &str) {
    let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
    if !user.is_empty() && !held.users.iter().any(|u| u == user) {
        held.users.push(user.to_string());
    }
}

/// The user names recorded with [`remember_user`].
pub fn users() -> Vec<String> {
    HELD.lock().unwrap_or_else(|e| e.into_inner()).users.clone()
}

/// The secrets this process has read so far.
pub fn secrets() -> Vec<SecretString> {
    HELD.lock()
        .unwrap_or_else(|e| e.into_inner())
        .secrets
        .clone()
}

/// The environment variables this process has read a secret from.
pub fn env_names() -> Vec<String> {
    HELD.lock()
        .unwrap_or_else(|e| e.into_inner())
        .env_names
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_each_secret_and_name_once() {
        let secret = SecretString::from("held-test-secret-value".to_string());
        remember(&secret, Some("RELEASE_KEY_HELD_TEST"));
        remember(&secret, Some("RELEASE_KEY_HELD_TEST"));
        let count = secrets()
            .iter()
            .filter(|s| s.expose_secret() == "held-test-secret-value")
            .count();
        assert_eq!(count, 1);
        assert_eq!(
            env_names()
                .iter()
                .filter(|n| *n == "RELEASE_KEY_HELD_TEST")
                .count(),
            1
        );
    }
}
