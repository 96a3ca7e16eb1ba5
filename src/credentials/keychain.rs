//! The OS keychain: a small, blocking API over the `keyring-core` ecosystem.
//!
//! - Linux and the BSDs: the Secret Service (gnome-keyring, KeePassXC, KWallet)
//!   through `zbus-secret-service-keyring-store`: pure Rust D-Bus (zbus), no
//!   libdbus or libsecret.
//! - macOS: the login keychain (`apple-native-keyring-store`).
//! - Windows: the Credential Manager (`windows-native-keyring-store`).
//!
//! Only the Linux backend is compiled and tested here: the macOS and Windows
//! targets are not installed on the development machine (and cannot be
//! downloaded there), so those two `cfg` branches have not been type-checked.
//!
//! Every call runs on a worker thread and is bounded by a timeout (5 s, or
//! `TAGPUB_KEYCHAIN_TIMEOUT_MS`): a hung D-Bus must never hang tagpub. No call
//! ever asks to unlock anything: a locked collection is reported as
//! [`KeychainError::Locked`].
//!
//! Interop with Python's `keyring` (what twine uses): on the Secret Service
//! both sides find items by the attributes `service` and `username`, so an item
//! either one writes is found by the other. Python adds `application`; we do
//! too, so that either side's "replace" overwrites the other's item instead of
//! adding a second one. On macOS both use a generic password with the same
//! service and account. Windows Credential Manager target names differ between
//! the two libraries.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use keyring_core::{CredentialStore, Entry, Error as StoreError};
use secrecy::{ExposeSecret, SecretString};

/// How long a keychain call may take unless `TAGPUB_KEYCHAIN_TIMEOUT_MS` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Overrides [`DEFAULT_TIMEOUT`], in milliseconds (for tests).
pub const TIMEOUT_ENV: &str = crate::env::KEYCHAIN_TIMEOUT_MS.name;

/// The `application` attribute Python's keyring writes on Secret Service items.
pub const PYTHON_KEYRING_APPLICATION: &str = "Python keyring library";

const ENV_HINT: &str = "give the token in an environment variable such as PYPI_API_TOKEN";

/// Why the keychain could not be used. Never contains a secret.
#[derive(Debug, thiserror::Error)]
pub enum KeychainError {
    #[error(
        "no Secret Service on the session bus ({reason}): start one (gnome-keyring, KeePassXC), run under `dbus-run-session`, or {ENV_HINT}"
    )]
    Unavailable { reason: String },
    #[error(
        "the keychain collection is locked: unlock it (e.g. log in to the desktop, or `gnome-keyring-daemon --unlock`), or {ENV_HINT}"
    )]
    Locked,
    #[error(
        "the keychain did not answer within {}: check that the keychain service is running and responsive, or {ENV_HINT}",
        humantime::format_duration(*after)
    )]
    TimedOut { after: Duration },
    #[error(
        "{count} keychain items match service {service:?} and user {user:?}: delete the extra ones (e.g. with seahorse or `python -m keyring del`), or {ENV_HINT}"
    )]
    Ambiguous {
        service: String,
        user: String,
        count: usize,
    },
    #[error("keychain error: {0}")]
    Platform(String),
}

/// The secret stored for (`service`, `user`), or `None` when there is no such entry.
pub fn get(service: &str, user: &str) -> Result<Option<SecretString>, KeychainError> {
    let (service, user) = (service.to_string(), user.to_string());
    with_timeout(move || {
        let entry = platform::entry(&service, &user, None, Access::Read)?;
        match entry.get_password() {
            Ok(password) => Ok(Some(SecretString::from(password))),
            Err(StoreError::NoEntry) => Ok(None),
            Err(e) => Err(map_error(e, &service, &user)),
        }
    })
}

/// Store `secret` for (`service`, `user`), replacing an existing one. `label`
/// is what keychain UIs show (Secret Service only; set when the item is created).
pub fn set(
    service: &str,
    user: &str,
    secret: &SecretString,
    label: &str,
) -> Result<(), KeychainError> {
    let (service, user, label) = (service.to_string(), user.to_string(), label.to_string());
    let secret = secret.clone();
    with_timeout(move || {
        let entry = platform::entry(&service, &user, Some(&label), Access::Write)?;
        entry
            .set_password(secret.expose_secret())
            .map_err(|e| map_error(e, &service, &user))?;
        platform::after_set(&entry).map_err(|e| map_error(e, &service, &user))
    })
}

/// Delete the entry for (`service`, `user`); `false` when there was none.
/// Duplicates (several matching items) are all deleted.
pub fn delete(service: &str, user: &str) -> Result<bool, KeychainError> {
    let (service, user) = (service.to_string(), user.to_string());
    with_timeout(move || {
        let entry = platform::entry(&service, &user, None, Access::Write)?;
        match entry.delete_credential() {
            Ok(()) => Ok(true),
            Err(StoreError::NoEntry) => Ok(false),
            Err(StoreError::Ambiguous(entries)) => {
                for e in entries {
                    e.delete_credential()
                        .map_err(|e| map_error(e, &service, &user))?;
                }
                Ok(true)
            }
            Err(e) => Err(map_error(e, &service, &user)),
        }
    })
}

/// The configured timeout for one keychain call.
pub fn timeout() -> Duration {
    crate::env::KEYCHAIN_TIMEOUT_MS
        .get()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_millis)
        .unwrap_or(DEFAULT_TIMEOUT)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    Write,
}

/// Runs `op` on a worker thread and gives up after [`timeout`]; the worker is
/// left behind (detached) when the keychain hangs.
fn with_timeout<T: Send + 'static>(
    op: impl FnOnce() -> Result<T, KeychainError> + Send + 'static,
) -> Result<T, KeychainError> {
    let after = timeout();
    let (tx, rx) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("tagpub-keychain".into())
        .spawn(move || {
            let _ = tx.send(op());
        })
        .map_err(|e| KeychainError::Platform(format!("cannot start the keychain thread: {e}")))?;
    match rx.recv_timeout(after) {
        Ok(result) => result,
        Err(mpsc::RecvTimeoutError::Timeout) => Err(KeychainError::TimedOut { after }),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(KeychainError::Platform(
            "the keychain thread stopped without an answer".into(),
        )),
    }
}

/// Store errors → ours. `BadEncoding`/`BadDataFormat` carry the secret's bytes,
/// so they are never formatted.
fn map_error(e: StoreError, service: &str, user: &str) -> KeychainError {
    match e {
        StoreError::NoStorageAccess(inner) => platform::no_access(inner),
        StoreError::PlatformFailure(inner) => platform::failure(inner),
        StoreError::Ambiguous(entries) => KeychainError::Ambiguous {
            service: service.to_string(),
            user: user.to_string(),
            count: entries.len(),
        },
        StoreError::BadEncoding(_) => {
            KeychainError::Platform("the stored secret is not valid UTF-8".into())
        }
        StoreError::BadDataFormat(_, _) => {
            KeychainError::Platform("the stored secret is not in the expected format".into())
        }
        other => KeychainError::Platform(other.to_string()),
    }
}

/// Why the session bus cannot be reached without trying it, given
/// `DBUS_SESSION_BUS_ADDRESS` and `XDG_RUNTIME_DIR`; `None` when it may be.
/// Only `unix:path=` addresses are checked; others are left to D-Bus.
#[doc(hidden)]
pub fn session_bus_problem(
    address: Option<&std::ffi::OsStr>,
    runtime_dir: Option<&std::ffi::OsStr>,
) -> Option<String> {
    use std::path::Path;
    match address.and_then(|a| a.to_str()).filter(|a| !a.is_empty()) {
        Some(address) => {
            // Several addresses may be listed (`;`); any usable one will do.
            let paths: Vec<&str> = address
                .split(';')
                .map(|a| a.strip_prefix("unix:").and_then(|rest| unix_path(rest)))
                .collect::<Option<_>>()?;
            let missing = paths.iter().all(|p| !Path::new(p).exists());
            missing.then(|| {
                format!("DBUS_SESSION_BUS_ADDRESS names {address}, and no such socket exists")
            })
        }
        None => {
            let bus = runtime_dir
                .filter(|d| !d.is_empty())
                .map(|d| Path::new(d).join("bus"));
            match bus {
                Some(bus) if bus.exists() => None,
                _ => Some(
                    "DBUS_SESSION_BUS_ADDRESS is not set and there is no $XDG_RUNTIME_DIR/bus socket"
                        .into(),
                ),
            }
        }
    }
}

/// The `path=` of a D-Bus unix address's key=value list.
fn unix_path(params: &str) -> Option<&str> {
    params.split(',').find_map(|kv| kv.strip_prefix("path="))
}

#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
mod platform {
    use super::*;
    use secret_service::blocking::SecretService;
    use secret_service::{EncryptionType, Error as SsError};
    use zbus_secret_service_keyring_store::Store;

    type PlatformError = Box<dyn std::error::Error + Send + Sync>;

    pub(super) fn entry(
        service: &str,
        user: &str,
        label: Option<&str>,
        access: Access,
    ) -> Result<Entry, KeychainError> {
        if let Some(reason) = session_bus_problem(
            std::env::var_os("DBUS_SESSION_BUS_ADDRESS").as_deref(),
            std::env::var_os("XDG_RUNTIME_DIR").as_deref(),
        ) {
            return Err(KeychainError::Unavailable { reason });
        }
        refuse_if_locked(service, user, access)?;
        let store: Arc<CredentialStore> = Store::new().map_err(|e| map_error(e, service, user))?;
        let mut modifiers = HashMap::new();
        if let Some(label) = label.filter(|l| !l.is_empty()) {
            modifiers.insert("label", label);
        }
        Entry::new_in_store_with_modifiers(&store, service, user, &modifiers)
            .map_err(|e| map_error(e, service, user))
    }

    /// The store unlocks (= prompts) whatever it needs; look first, without
    /// prompting, and refuse instead.
    fn refuse_if_locked(service: &str, user: &str, access: Access) -> Result<(), KeychainError> {
        let ss = SecretService::connect(EncryptionType::Plain).map_err(ss_error)?;
        let found = ss
            .search_items(HashMap::from([("service", service), ("username", user)]))
            .map_err(ss_error)?;
        if !found.locked.is_empty() {
            return Err(KeychainError::Locked);
        }
        if !found.unlocked.is_empty() {
            return Ok(());
        }
        // Nothing visible: a locked default collection may hide the item (and
        // is where a new one would go).
        let collection = match ss.get_default_collection() {
            Ok(collection) => collection,
            Err(SsError::NoResult) if access == Access::Read => return Ok(()),
            Err(SsError::NoResult) => {
                return Err(KeychainError::Platform(
                    "the Secret Service has no default collection to store the token in".into(),
                ));
            }
            Err(e) => return Err(ss_error(e)),
        };
        if collection.is_locked().map_err(ss_error)? {
            return Err(KeychainError::Locked);
        }
        Ok(())
    }

    /// Tag our items like Python's keyring does (see the module docs).
    pub(super) fn after_set(entry: &Entry) -> keyring_core::Result<()> {
        let attributes = entry.get_attributes()?;
        if !attributes.contains_key("application") {
            entry.update_attributes(&HashMap::from([(
                "application",
                PYTHON_KEYRING_APPLICATION,
            )]))?;
        }
        Ok(())
    }

    fn ss_error(e: SsError) -> KeychainError {
        match e {
            SsError::Locked | SsError::Prompt => KeychainError::Locked,
            SsError::Unavailable => KeychainError::Unavailable {
                reason: "nothing answers org.freedesktop.secrets".into(),
            },
            SsError::Zbus(zbus::Error::MethodError(name, _, _))
                if name.as_str() == "org.freedesktop.DBus.Error.ServiceUnknown" =>
            {
                KeychainError::Unavailable {
                    reason: "nothing answers org.freedesktop.secrets".into(),
                }
            }
            SsError::Zbus(zbus::Error::InputOutput(io)) => KeychainError::Unavailable {
                reason: format!("cannot connect to the session bus: {io}"),
            },
            e => KeychainError::Platform(e.to_string()),
        }
    }

    fn downcast(inner: PlatformError) -> Result<SsError, PlatformError> {
        inner.downcast::<SsError>().map(|e| *e)
    }

    pub(super) fn no_access(inner: PlatformError) -> KeychainError {
        match downcast(inner) {
            Ok(SsError::NoResult) => KeychainError::Platform(
                "the Secret Service returned no result (is there a default collection?)".into(),
            ),
            Ok(e) => match ss_error(e) {
                KeychainError::Platform(_) => KeychainError::Locked,
                other => other,
            },
            Err(_) => KeychainError::Locked,
        }
    }

    pub(super) fn failure(inner: PlatformError) -> KeychainError {
        match downcast(inner) {
            Ok(e) => ss_error(e),
            Err(other) => KeychainError::Platform(other.to_string()),
        }
    }
}

#[cfg(any(target_os = "macos", target_os = "windows"))]
mod platform {
    use super::*;

    type PlatformError = Box<dyn std::error::Error + Send + Sync>;

    pub(super) fn entry(
        service: &str,
        user: &str,
        _label: Option<&str>,
        _access: Access,
    ) -> Result<Entry, KeychainError> {
        #[cfg(target_os = "macos")]
        let store = apple_native_keyring_store::keychain::Store::new();
        #[cfg(target_os = "windows")]
        let store = windows_native_keyring_store::Store::new();
        let store: Arc<CredentialStore> = store.map_err(|e| map_error(e, service, user))?;
        Entry::new_in_store(&store, service, user).map_err(|e| map_error(e, service, user))
    }

    pub(super) fn after_set(_entry: &Entry) -> keyring_core::Result<()> {
        Ok(())
    }

    pub(super) fn no_access(_inner: PlatformError) -> KeychainError {
        KeychainError::Locked
    }

    pub(super) fn failure(inner: PlatformError) -> KeychainError {
        KeychainError::Platform(inner.to_string())
    }
}

#[cfg(not(any(
    target_os = "macos",
    target_os = "windows",
    all(
        unix,
        not(any(target_os = "macos", target_os = "ios", target_os = "android"))
    )
)))]
mod platform {
    use super::*;

    type PlatformError = Box<dyn std::error::Error + Send + Sync>;

    pub(super) fn entry(
        _service: &str,
        _user: &str,
        _label: Option<&str>,
        _access: Access,
    ) -> Result<Entry, KeychainError> {
        Err(KeychainError::Platform(
            "no keychain support on this platform".into(),
        ))
    }

    pub(super) fn after_set(_entry: &Entry) -> keyring_core::Result<()> {
        Ok(())
    }

    pub(super) fn no_access(_inner: PlatformError) -> KeychainError {
        KeychainError::Locked
    }

    pub(super) fn failure(inner: PlatformError) -> KeychainError {
        KeychainError::Platform(inner.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn no_session_bus_is_seen_without_trying() {
        let dir = tempfile::tempdir().unwrap();
        let reason = session_bus_problem(None, Some(dir.path().as_os_str())).unwrap();
        assert!(
            reason.contains("DBUS_SESSION_BUS_ADDRESS is not set"),
            "{reason}"
        );
        assert!(session_bus_problem(None, None).is_some());
        let gone = OsStr::new("unix:path=/nonexistent/tagpub-bus,guid=1");
        assert!(session_bus_problem(Some(gone), None).is_some());

        std::fs::write(dir.path().join("bus"), "").unwrap();
        assert_eq!(
            session_bus_problem(None, Some(dir.path().as_os_str())),
            None
        );
        let there = format!("unix:path={}", dir.path().join("bus").display());
        assert_eq!(session_bus_problem(Some(OsStr::new(&there)), None), None);
        // Addresses we cannot check are left to D-Bus.
        let abstract_ = OsStr::new("unix:abstract=/tmp/dbus-x");
        assert_eq!(session_bus_problem(Some(abstract_), None), None);
    }

    #[test]
    fn errors_never_show_secrets() {
        let e = map_error(StoreError::BadEncoding(b"pypi-secret".to_vec()), "s", "u");
        assert!(!format!("{e} {e:?}").contains("pypi-secret"));
    }

    #[test]
    fn messages_say_what_to_do() {
        let e = KeychainError::TimedOut {
            after: Duration::from_millis(1500),
        };
        assert!(e.to_string().contains("1s 500ms"), "{e}");
        assert!(e.to_string().contains("PYPI_API_TOKEN"), "{e}");
        assert!(KeychainError::Locked.to_string().contains("--unlock"));
    }
}
