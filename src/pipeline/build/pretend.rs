//! The pretend-version variables (`SETUPTOOLS_SCM_PRETEND_VERSION_FOR_…`)
//! a VCS-versioned package's build may get, and when.

use crate::pipeline::resolve::{Plan, VersionSource, pretend_version_env};
use crate::pipeline::version_source::DynamicVersion;

/// When a build gets the pretend-version variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PretendWhen {
    /// On every attempt (`tagpub build` of HEAD, whose version is made up).
    Always,
    /// Only when a build without them does not give the tag's version: the
    /// checkout has `.git` and the tags, so the VCS plugin finds the version
    /// itself, as in a CI checkout of the tag.
    Fallback,
}

/// The pretend-version variables for a VCS-versioned package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PretendVersion {
    /// `SETUPTOOLS_SCM_PRETEND_VERSION_FOR_<DIST>` ([`pretend_version_env`]).
    pub dist_var: String,
    pub version: String,
    pub when: PretendWhen,
}

impl PretendVersion {
    /// The variables it sets. setuptools-scm reads the per-dist name only
    /// when it knows the dist name; hatch-vcs calls it without one, so it
    /// reads only the generic name. The build is of this one package: both
    /// are safe.
    pub fn env(&self) -> [(String, String); 2] {
        [
            (
                "SETUPTOOLS_SCM_PRETEND_VERSION".to_string(),
                self.version.clone(),
            ),
            (self.dist_var.clone(), self.version.clone()),
        ]
    }

    pub(super) fn shown(&self) -> String {
        self.env()
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join(" and ")
    }
}

/// The fallback pretend versions of a release: for a dynamic version a VCS
/// plugin derives (or one only the build can tell, which may be one);
/// `None` for a static version or one read from a file, which the
/// variables cannot change.
pub fn pretend_fallback(plan: &Plan) -> Option<PretendVersion> {
    match &plan.version_source {
        Some(VersionSource::Dynamic(DynamicVersion::Tag { .. } | DynamicVersion::Build { .. })) => {
            Some(PretendVersion {
                dist_var: pretend_version_env(&plan.package),
                version: plan.version.to_string(),
                when: PretendWhen::Fallback,
            })
        }
        _ => None,
    }
}
