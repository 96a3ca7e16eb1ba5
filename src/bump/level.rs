//! The next version: `major | minor | patch | stable | a | b | rc | post |
//! dev`, or an explicit PEP 440 version, by PEP 440's ordering.
//!
//! A step never goes backwards: `rc` after `1.2.1rc1` is `1.2.1rc2`, after
//! `1.2.0` it starts the next patch (`1.2.1rc1`, as a pre-release of a
//! released version would sort before it), and `a` after `rc1` is refused.
//! `major`/`minor`/`patch` drop pre-, post- and dev-parts (as `uv version
//! --bump` does); `stable` drops them without moving the release.

use std::str::FromStr;

use pep440_rs::{Prerelease, PrereleaseKind};

use crate::version::Version;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Level {
    Major,
    Minor,
    Patch,
    Stable,
    Pre(PrereleaseKind),
    Post,
    Dev,
    Exact(Version),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LevelError {
    #[error(
        "`{0}` is neither a level (major, minor, patch, stable, a, b, rc, post, dev) nor a PEP 440 version"
    )]
    Unknown(String),
    #[error(
        "{next} is not after the current version {current}: a release must move forward. Give a higher version"
    )]
    NotForward { current: String, next: String },
    #[error("{0} is a local version (`+…`), which no index takes: leave the local part out")]
    Local(String),
    #[error(
        "{current} is already a final release: `stable` only ends a pre-release or dev release"
    )]
    AlreadyStable { current: String },
    #[error(
        "`{level}` after {current} would go back to an earlier kind of pre-release; bump `patch` (or give the version) to start a new one"
    )]
    Backwards { level: String, current: String },
}

impl FromStr for Level {
    type Err = LevelError;

    fn from_str(text: &str) -> Result<Level, LevelError> {
        Ok(match text.to_ascii_lowercase().as_str() {
            "major" => Level::Major,
            "minor" => Level::Minor,
            "patch" => Level::Patch,
            "stable" => Level::Stable,
            "a" | "alpha" => Level::Pre(PrereleaseKind::Alpha),
            "b" | "beta" => Level::Pre(PrereleaseKind::Beta),
            "rc" => Level::Pre(PrereleaseKind::Rc),
            "post" => Level::Post,
            "dev" => Level::Dev,
            _ => {
                let version = Version::from_str(text.trim_start_matches('v'))
                    .map_err(|_| LevelError::Unknown(text.to_string()))?;
                if version.is_local() {
                    return Err(LevelError::Local(text.to_string()));
                }
                Level::Exact(version)
            }
        })
    }
}

impl Level {
    /// The version after `current` at this level.
    pub fn apply(&self, current: &Version) -> Result<Version, LevelError> {
        let release_only = |v: &Version| v.only_release().with_epoch(v.epoch());
        let next = match self {
            Level::Major => bump_release(current, 0),
            Level::Minor => bump_release(current, 1),
            Level::Patch => bump_release(current, 2),
            Level::Stable => {
                if current.pre().is_none() && current.dev().is_none() {
                    return Err(LevelError::AlreadyStable {
                        current: current.to_string(),
                    });
                }
                // 1.2.1rc1.post1 and 1.2.1.dev1 both end at 1.2.1.
                release_only(current)
            }
            Level::Pre(kind) => pre_release(current, *kind)?,
            Level::Post => match (current.post(), current.dev()) {
                (Some(post), Some(_)) => current.clone().with_dev(None).with_post(Some(post)),
                (Some(post), None) => current.clone().with_post(Some(post + 1)),
                (None, Some(_)) if current.pre().is_none() => {
                    // 1.2.dev1 has no release yet to post-release.
                    release_only(current).with_post(Some(1))
                }
                (None, _) => current.clone().with_dev(None).with_post(Some(1)),
            },
            // A dev release sorts before the release it leads to, so the
            // first one after a release leads to the next: the next post,
            // pre-release or patch.
            Level::Dev => match (current.dev(), current.post(), current.pre()) {
                (Some(dev), _, _) => current.clone().with_dev(Some(dev + 1)),
                (None, Some(post), _) => {
                    current.clone().with_post(Some(post + 1)).with_dev(Some(1))
                }
                (None, None, Some(pre)) => current
                    .clone()
                    .with_pre(Some(Prerelease {
                        kind: pre.kind,
                        number: pre.number + 1,
                    }))
                    .with_dev(Some(1)),
                (None, None, None) => bump_release(current, 2).with_dev(Some(1)),
            },
            Level::Exact(version) => version.clone(),
        };
        if next <= *current {
            return Err(LevelError::NotForward {
                current: current.to_string(),
                next: next.to_string(),
            });
        }
        Ok(next)
    }
}

/// `index` (0 major, 1 minor, 2 patch) up by one, later parts zero, no
/// pre/post/dev; the release keeps at least its length (`1.2` → `2.0`).
fn bump_release(current: &Version, index: usize) -> Version {
    let mut release = current.release().to_vec();
    if release.len() <= index {
        release.resize(index + 1, 0);
    }
    release[index] += 1;
    for part in &mut release[index + 1..] {
        *part = 0;
    }
    Version::new(release).with_epoch(current.epoch())
}

fn pre_release(current: &Version, kind: PrereleaseKind) -> Result<Version, LevelError> {
    let pre = |number| Some(Prerelease { kind, number });
    let Some(existing) = current.pre() else {
        // A final (or post) release: the next patch's first pre-release.
        return Ok(bump_release(current, 2).with_pre(pre(1)));
    };
    if kind < existing.kind {
        return Err(LevelError::Backwards {
            level: kind.to_string(),
            current: current.to_string(),
        });
    }
    let base = current
        .only_release()
        .with_epoch(current.epoch())
        .with_pre(Some(existing));
    if kind > existing.kind {
        return Ok(base.with_pre(pre(1)));
    }
    // rc1.dev2 → rc1 (the release its dev releases lead to); rc1 → rc2.
    if current.dev().is_some() && current.post().is_none() {
        return Ok(base);
    }
    Ok(base.with_pre(pre(existing.number + 1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(current: &str, level: &str) -> Result<String, LevelError> {
        let current = Version::from_str(current).unwrap();
        level
            .parse::<Level>()?
            .apply(&current)
            .map(|v| v.to_string())
    }

    #[test]
    fn every_step_of_the_issue() {
        for (current, level, next) in [
            ("1.2.0", "rc", "1.2.1rc1"),
            ("1.2.1rc1", "rc", "1.2.1rc2"),
            ("1.2.1rc2", "stable", "1.2.1"),
            ("1.2.0", "major", "2.0.0"),
            ("1.2.3", "minor", "1.3.0"),
            ("1.2.3", "patch", "1.2.4"),
            ("1.2", "patch", "1.2.1"),
            ("1.2", "major", "2.0"),
            ("1.2.3rc1", "patch", "1.2.4"),
            ("1.2.3", "a", "1.2.4a1"),
            ("1.2.4a1", "a", "1.2.4a2"),
            ("1.2.4a2", "b", "1.2.4b1"),
            ("1.2.4b3", "rc", "1.2.4rc1"),
            ("1.2.4rc1.dev2", "rc", "1.2.4rc1"),
            ("1.2.3", "post", "1.2.3.post1"),
            ("1.2.3.post1", "post", "1.2.3.post2"),
            ("1.2.3.post1.dev1", "post", "1.2.3.post1"),
            ("1.2.3", "dev", "1.2.4.dev1"),
            ("1.2.4.dev1", "dev", "1.2.4.dev2"),
            ("1.2.4.dev3", "stable", "1.2.4"),
            ("1.2.4rc1", "dev", "1.2.4rc2.dev1"),
            ("1.2.4.post1", "dev", "1.2.4.post2.dev1"),
            ("1!1.0", "major", "1!2.0"),
            ("1.2.0", "1.3.0rc1", "1.3.0rc1"),
            ("1.2.0", "v2.0.0", "2.0.0"),
        ] {
            assert_eq!(
                step(current, level).as_deref(),
                Ok(next),
                "{current} {level}"
            );
        }
    }

    #[test]
    fn refusals() {
        assert!(matches!(
            step("1.2.0", "stable"),
            Err(LevelError::AlreadyStable { .. })
        ));
        assert!(matches!(
            step("1.2.1rc1", "a"),
            Err(LevelError::Backwards { .. })
        ));
        assert!(matches!(
            step("1.2.0", "1.2.0"),
            Err(LevelError::NotForward { .. })
        ));
        assert!(matches!(
            step("1.2.0", "1.1.9"),
            Err(LevelError::NotForward { .. })
        ));
        assert!(matches!(
            step("1.2.0", "1.3.0+local"),
            Err(LevelError::Local(_))
        ));
        assert!(matches!(step("1.2.0", "huge"), Err(LevelError::Unknown(_))));
    }
}
