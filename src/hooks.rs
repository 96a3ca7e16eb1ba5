//! tagpub's git hooks in a hooks dir: install, uninstall, status.
//!
//! Like pre-commit's `install`: a hook that is already there is kept as
//! `<name>.legacy` and run first by tagpub's script with the same arguments
//! and stdin; `uninstall` renames it back, so what was there returns byte for
//! byte with its mode. tagpub's scripts are recognised by the marker comment
//! on their second line, never by their path.
//!
//! Chaining by renaming only works for hooks that do not derive their job
//! from their own file name. pre-commit's and husky's hook scripts do (both
//! look at `$0`), so tagpub refuses to rename them and says what to do.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// The first git that runs reference-transaction hooks.
pub const REFERENCE_TRANSACTION_SINCE: (u32, u32, u32) = (2, 28, 0);

/// The hooks tagpub installs.
pub const HOOK_NAMES: [&str; 2] = ["pre-push", "reference-transaction"];

/// The start of the second line of every tagpub hook script.
pub const MARKER: &str = "# tagpub-hook: ";

/// Replaced by the single-quoted path of the tagpub binary.
const PLACEHOLDER: &str = "@TAGPUB@";

const TEMPLATES: [(&str, &str); 2] = [
    ("pre-push", include_str!("../hooks/pre-push")),
    (
        "reference-transaction",
        include_str!("../hooks/reference-transaction"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum HooksError {
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "{hook} is not tagpub's, and {legacy} already exists: moving the hook aside would overwrite it. \
         Merge the two scripts into {hook} (or delete the one you no longer need), then run `tagpub hooks install` again"
    )]
    LegacyTaken { hook: PathBuf, legacy: PathBuf },
    #[error(
        "{hook} is pre-commit's hook, and {legacy} is where pre-commit keeps the hook it replaced: \
         tagpub chains hooks under the same name and will not overwrite it. \
         Run `pre-commit uninstall -t {name}` (it puts that hook back as {hook}), fold its commands \
         into your pre-commit config or delete it, then run `tagpub hooks install` and \
         `pre-commit install -t {name}` (pre-commit then keeps tagpub's hook as {name}.legacy and runs it first)"
    )]
    PreCommitLegacy {
        name: String,
        hook: PathBuf,
        legacy: PathBuf,
    },
    #[error(
        "{hook} is pre-commit's hook: renamed to {name}.legacy it would find itself as its own \
         legacy hook and fail every run (\"installed in migration mode\"). Let pre-commit run tagpub's \
         hook instead: `pre-commit uninstall -t {name}`, `tagpub hooks install`, then \
         `pre-commit install -t {name}` (pre-commit keeps tagpub's hook as {name}.legacy and runs it first)"
    )]
    PreCommit { name: String, hook: PathBuf },
    #[error(
        "{hook} is husky's hook: husky picks the script to run from its own file name, so renamed to \
         {name}.legacy it would silently stop running yours. Call tagpub from your husky script instead: \
         add the line `tagpub hook {name} \"$@\"` to .husky/{name}"
    )]
    Husky { name: String, hook: PathBuf },
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> HooksError {
    let context = context.into();
    move |source| HooksError::Io { context, source }
}

/// What a hook file in the hooks dir is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// tagpub's hook, nothing chained.
    Installed,
    /// tagpub's hook, running `<name>.legacy` first.
    Chained,
    /// Another hook, not tagpub's.
    Foreign,
    /// No hook of this name.
    Missing,
}

#[derive(Debug, Clone, Serialize)]
pub struct HookStatus {
    pub name: String,
    pub state: State,
    pub path: PathBuf,
    /// `<name>.legacy` when it exists.
    pub legacy: Option<PathBuf>,
}

/// What `install` did with one hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Installed {
    /// There was no hook: tagpub's is new.
    New,
    /// There was no hook, but a `<name>.legacy` (left by an earlier chain):
    /// tagpub's hook runs it.
    NewChainingExisting,
    /// The hook that was there is now `<name>.legacy`, run first.
    Chained,
    /// tagpub's hook was there with other content (e.g. another binary path).
    Updated,
    /// tagpub's hook was there, byte for byte: nothing was touched.
    Unchanged,
}

/// What `uninstall` did with one hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uninstalled {
    /// tagpub's hook was removed; nothing was chained.
    Removed,
    /// tagpub's hook was replaced by `<name>.legacy`, renamed back.
    Restored,
    /// No hook of this name.
    NotInstalled,
    /// Not tagpub's hook: left alone.
    Foreign,
}

/// Kinds of hooks that are not tagpub's, as far as chaining them matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tool {
    PreCommit,
    Husky,
    Other,
}

enum Existing {
    None,
    Ours { bytes: Vec<u8>, executable: bool },
    Foreign(Tool),
}

pub fn legacy_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.legacy"))
}

/// The script for hook `name`, calling the tagpub binary at `tagpub_exe`.
pub fn script(name: &str, tagpub_exe: &Path) -> Vec<u8> {
    let template = TEMPLATES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| *t)
        .unwrap_or_else(|| panic!("no hook template named {name}"));
    let (before, after) = template
        .split_once(PLACEHOLDER)
        .expect("every hook template names tagpub once");
    let mut out = before.as_bytes().to_vec();
    out.extend_from_slice(&sh_quote(path_bytes(tagpub_exe)));
    out.extend_from_slice(after.as_bytes());
    out
}

/// Single-quotes for sh: nothing inside `'…'` is special except `'` itself,
/// written as `'\''` (close, escaped quote, reopen).
pub fn sh_quote(raw: &[u8]) -> Vec<u8> {
    let mut out = vec![b'\''];
    for &b in raw {
        if b == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
    out
}

#[cfg(unix)]
fn path_bytes(path: &Path) -> &[u8] {
    use std::os::unix::ffi::OsStrExt;
    path.as_os_str().as_bytes()
}

#[cfg(not(unix))]
fn path_bytes(path: &Path) -> &[u8] {
    path.to_str().unwrap_or_default().as_bytes()
}

/// tagpub's hook named `name`: the marker on the second line.
pub fn is_tagpub_hook(bytes: &[u8], name: &str) -> bool {
    let Some(second) = bytes.split(|&b| b == b'\n').nth(1) else {
        return false;
    };
    let Some(rest) = second.strip_prefix(MARKER.as_bytes()) else {
        return false;
    };
    rest.strip_prefix(name.as_bytes())
        .is_some_and(|r| r.is_empty() || r[0] == b' ')
}

fn tool_of(bytes: &[u8]) -> Tool {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]);
    if text.contains("File generated by pre-commit") {
        Tool::PreCommit
    } else if text.contains("Hook created by Husky")
        || text.contains(". \"$(dirname \"$0\")/h\"")
        || text.contains(". \"${0%/*}/h\"")
    {
        // husky ≤ 4, and husky 9's one-line hooks in .husky/_: both take
        // the hook name from basename "$0".
        Tool::Husky
    } else {
        Tool::Other
    }
}

fn exists(path: &Path) -> Result<bool, HooksError> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_err(format!("cannot look at {}", path.display()))(e)),
    }
}

fn classify(path: &Path, name: &str) -> Result<Existing, HooksError> {
    if !exists(path)? {
        return Ok(Existing::None);
    }
    // A dangling symlink or a directory cannot be read: someone else's.
    let Ok(bytes) = fs::read(path) else {
        return Ok(Existing::Foreign(Tool::Other));
    };
    if is_tagpub_hook(&bytes, name) {
        let executable = is_executable(path);
        Ok(Existing::Ours { bytes, executable })
    } else {
        Ok(Existing::Foreign(tool_of(&bytes)))
    }
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o777 == 0o755)
}

#[cfg(not(unix))]
fn is_executable(_path: &Path) -> bool {
    true
}

fn sync_dir(dir: &Path) -> Result<(), HooksError> {
    crate::fsutil::sync_dir(dir).map_err(io_err(format!("cannot sync {}", dir.display())))
}

/// A temp file in `dir` holding `content`, mode 0755, ready to be renamed.
fn prepare(dir: &Path, content: &[u8]) -> Result<tempfile::NamedTempFile, HooksError> {
    crate::fsutil::prepare(dir, content, 0o755).map_err(io_err(format!(
        "cannot write a hook into {}",
        dir.display()
    )))
}

/// Installs tagpub's hooks into `dir` (created if missing), chaining any
/// other hook as `<name>.legacy`. Every hook is looked at before anything
/// changes, so a refusal leaves the dir as it was.
pub fn install(dir: &Path, tagpub_exe: &Path) -> Result<Vec<(String, Installed)>, HooksError> {
    fs::create_dir_all(dir).map_err(io_err(format!("cannot create {}", dir.display())))?;
    let mut plans = Vec::new();
    for name in HOOK_NAMES {
        let hook = dir.join(name);
        let legacy = legacy_path(dir, name);
        let existing = classify(&hook, name)?;
        let legacy_exists = exists(&legacy)?;
        let (name, hook_path) = (name.to_string(), hook.clone());
        match existing {
            Existing::Foreign(Tool::PreCommit) if legacy_exists => {
                return Err(HooksError::PreCommitLegacy {
                    name,
                    hook: hook_path,
                    legacy,
                });
            }
            Existing::Foreign(Tool::PreCommit) => {
                return Err(HooksError::PreCommit {
                    name,
                    hook: hook_path,
                });
            }
            Existing::Foreign(Tool::Husky) => {
                return Err(HooksError::Husky {
                    name,
                    hook: hook_path,
                });
            }
            Existing::Foreign(Tool::Other) if legacy_exists => {
                return Err(HooksError::LegacyTaken { hook, legacy });
            }
            _ => {}
        }
        plans.push((name, hook, legacy, existing, legacy_exists));
    }

    let mut done = Vec::new();
    for (name, hook, legacy, existing, legacy_exists) in plans {
        let content = script(&name, tagpub_exe);
        let outcome = match existing {
            Existing::Ours { bytes, executable } if bytes == content && executable => {
                Installed::Unchanged
            }
            Existing::Ours { .. } => {
                let temp = prepare(dir, &content)?;
                crate::fsutil::commit(temp, &hook, true)
                    .map_err(io_err(format!("cannot write {}", hook.display())))?;
                Installed::Updated
            }
            Existing::None => {
                write_new(dir, &hook, &content)?;
                if legacy_exists {
                    Installed::NewChainingExisting
                } else {
                    Installed::New
                }
            }
            Existing::Foreign(_) => {
                // Our script is fully written before the old hook moves, so
                // a failure in between leaves at worst no hook, never half a one.
                let temp = prepare(dir, &content)?;
                fs::rename(&hook, &legacy).map_err(io_err(format!(
                    "cannot move {} to {}",
                    hook.display(),
                    legacy.display()
                )))?;
                commit_new(temp, &hook)?;
                Installed::Chained
            }
        };
        done.push((name, outcome));
    }
    Ok(done)
}

fn write_new(dir: &Path, hook: &Path, content: &[u8]) -> Result<(), HooksError> {
    let temp = prepare(dir, content)?;
    commit_new(temp, hook)
}

/// Renames the temp file to `hook` unless something appeared there meanwhile.
fn commit_new(temp: tempfile::NamedTempFile, hook: &Path) -> Result<(), HooksError> {
    let ctx = || format!("cannot write {}", hook.display());
    if crate::fsutil::commit(temp, hook, false).map_err(io_err(ctx()))? {
        Ok(())
    } else {
        Err(HooksError::Io {
            context: ctx(),
            source: io::Error::new(
                io::ErrorKind::AlreadyExists,
                "another program created it meanwhile; run `tagpub hooks install` again",
            ),
        })
    }
}

/// Removes tagpub's hooks from `dir`, renaming each `<name>.legacy` back.
/// Hooks that are not tagpub's are left alone.
pub fn uninstall(dir: &Path) -> Result<Vec<(String, Uninstalled)>, HooksError> {
    let mut done = Vec::new();
    for name in HOOK_NAMES {
        let hook = dir.join(name);
        let legacy = legacy_path(dir, name);
        let outcome = match classify(&hook, name)? {
            Existing::None => Uninstalled::NotInstalled,
            Existing::Foreign(_) => Uninstalled::Foreign,
            Existing::Ours { .. } if exists(&legacy)? => {
                // One rename replaces our script: there is always a hook.
                fs::rename(&legacy, &hook).map_err(io_err(format!(
                    "cannot move {} back to {}",
                    legacy.display(),
                    hook.display()
                )))?;
                sync_dir(dir)?;
                Uninstalled::Restored
            }
            Existing::Ours { .. } => {
                fs::remove_file(&hook)
                    .map_err(io_err(format!("cannot remove {}", hook.display())))?;
                sync_dir(dir)?;
                Uninstalled::Removed
            }
        };
        done.push((name.to_string(), outcome));
    }
    Ok(done)
}

/// The state of each of tagpub's hooks in `dir` (which may not exist).
pub fn status(dir: &Path) -> Result<Vec<HookStatus>, HooksError> {
    HOOK_NAMES
        .iter()
        .map(|&name| {
            let path = dir.join(name);
            let legacy = legacy_path(dir, name);
            let legacy = exists(&legacy)?.then_some(legacy);
            let state = match classify(&path, name)? {
                Existing::None => State::Missing,
                Existing::Foreign(_) => State::Foreign,
                Existing::Ours { .. } if legacy.is_some() => State::Chained,
                Existing::Ours { .. } => State::Installed,
            };
            Ok(HookStatus {
                name: name.to_string(),
                state,
                path,
                legacy,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_quotes() {
        assert_eq!(sh_quote(b"/a b/it's"), b"'/a b/it'\\''s'".to_vec());
    }

    #[test]
    fn scripts_carry_the_marker_and_the_path() {
        for name in HOOK_NAMES {
            let s = script(name, Path::new("/opt/tag pub/tagpub"));
            assert!(is_tagpub_hook(&s, name), "{name}");
            assert!(!is_tagpub_hook(&s, "other"), "{name}");
            let text = String::from_utf8(s).unwrap();
            assert!(text.contains("TAGPUB='/opt/tag pub/tagpub'\n"), "{text}");
            assert!(!text.contains(PLACEHOLDER));
        }
        assert!(!is_tagpub_hook(b"#!/bin/sh\necho hi\n", "pre-push"));
    }

    #[test]
    fn recognises_tools_that_cannot_be_renamed() {
        assert_eq!(
            tool_of(
                b"#!/usr/bin/env bash\n# File generated by pre-commit: https://pre-commit.com\n"
            ),
            Tool::PreCommit
        );
        assert_eq!(
            tool_of(b"#!/usr/bin/env sh\n. \"$(dirname \"$0\")/h\""),
            Tool::Husky
        );
        assert_eq!(tool_of(b"#!/bin/sh\nexit 0\n"), Tool::Other);
    }
}
