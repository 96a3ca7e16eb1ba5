//! The enums of single settings (`trigger`, `source-date-epoch`,
//! `sandbox`, `verify`, `[hooks] pre-push`) and how each is written.

use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// Publish when the tag is created locally.
    Tag,
    /// Publish only after the tag reached the remote.
    Push,
}

/// `[defaults] source-date-epoch`: seconds, or where to take them from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(untagged)]
pub enum SourceDateEpoch {
    Seconds(i64),
    Named(EpochSource),
}

impl<'de> Deserialize<'de> for SourceDateEpoch {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = SourceDateEpoch;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(r#"Unix seconds (e.g. 1700000000), "tag", "commit" or "backend""#)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
                if v < 0 {
                    return Err(E::custom("source-date-epoch cannot be negative"));
                }
                Ok(SourceDateEpoch::Seconds(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                match v {
                    "tag" => Ok(SourceDateEpoch::Named(EpochSource::Tag)),
                    "commit" => Ok(SourceDateEpoch::Named(EpochSource::Commit)),
                    "backend" => Ok(SourceDateEpoch::Named(EpochSource::Backend)),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Str(v), &self)),
                }
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EpochSource {
    /// The tagger date (the commit date for a lightweight tag).
    Tag,
    /// The tagged commit's committer date.
    Commit,
    /// Leave it unset: the build backend's own default.
    Backend,
}

/// Whether builds run in a sandbox (`src/process/sandbox.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SandboxMode {
    /// Landlock where the kernel offers it, else unsandboxed (logged).
    #[default]
    Auto,
    /// Never sandbox builds.
    Off,
}

/// How a release is checked after upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verify {
    /// The index lists every file with the uploaded sha256.
    #[default]
    Index,
    /// That, and `name==version` installs from the index into a fresh venv
    /// and its top-level modules import.
    Install,
}

/// What the pre-push hook does for a release tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PrePush {
    /// The resolve checks of `tagpub plan` (fast).
    #[default]
    Check,
    /// Also build and check the distributions (the release reuses them).
    Build,
}
