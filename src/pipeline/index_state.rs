//! What one listing of a project on the index says about a release of it:
//! which files of the version are there and when the first arrived (PyPI
//! takes no new file for a release more than 14 days after its first), and
//! whether the project's latest other release carried PEP 740 attestations
//! (PyPI shows a release uploaded without them after such a release as
//! having lost its provenance). `plan`, `doctor` and `release` all decide
//! from here, so what they say cannot disagree.

use std::time::{Duration, SystemTime};

use crate::config::{Config, RepositoryTarget};
use crate::dirs::Dirs;
use crate::finding::Status;
use crate::ledger::{ReleaseDir, ReleaseRecord};
use crate::pipeline::resolve::{Plan, TagPlan};
use crate::pipeline::upload::open_repository;
use crate::repository::IndexedFile;
use crate::version::Version;

/// The version in a distribution's file name (`name-1.0.tar.gz`,
/// `name-1.0-py3-none-any.whl`), if it has one.
pub fn filename_version(filename: &str) -> Option<Version> {
    let stem = filename
        .strip_suffix(".tar.gz")
        .or_else(|| filename.strip_suffix(".zip"))
        .or_else(|| filename.strip_suffix(".whl"))?;
    let text = if filename.ends_with(".whl") {
        stem.split('-').nth(1)?
    } else {
        stem.rsplit_once('-')?.1
    };
    text.parse().ok()
}

/// The files the index lists for `version`.
pub fn version_files<'a>(listed: &'a [IndexedFile], version: &Version) -> Vec<&'a IndexedFile> {
    listed
        .iter()
        .filter(|f| filename_version(&f.filename).as_ref() == Some(version))
        .collect()
}

/// The window in which the index still takes new files of a release that
/// already has some.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileWindow {
    /// When the release's first file arrived.
    pub first: SystemTime,
    /// When the index stops taking new files for it.
    pub closes: SystemTime,
    /// The release's files the index has.
    pub present: Vec<String>,
    pub days: u64,
}

impl FileWindow {
    /// `None` while the release has no file with an upload time.
    pub fn of(listed: &[IndexedFile], version: &Version, window: Duration) -> Option<FileWindow> {
        let files = version_files(listed, version);
        let first = files.iter().filter_map(|f| f.upload_time).min()?;
        Some(FileWindow {
            first,
            closes: first + window,
            present: files.iter().map(|f| f.filename.clone()).collect(),
            days: window.as_secs() / 86_400,
        })
    }

    /// Whether the index still takes new files of this version.
    pub fn is_open(&self) -> bool {
        SystemTime::now() <= self.closes
    }

    /// `2026-07-08T09:10:11Z`.
    pub fn first_text(&self) -> String {
        humantime::format_rfc3339_seconds(self.first).to_string()
    }

    /// When the window closes, `2026-07-22T09:10:11Z`.
    pub fn closes_text(&self) -> String {
        humantime::format_rfc3339_seconds(self.closes).to_string()
    }

    /// `new files accepted until …` (with the time left), or when it closed.
    pub fn describe(&self) -> String {
        match self.closes.duration_since(SystemTime::now()) {
            Ok(left) => format!(
                "new files accepted until {} ({} left)",
                self.closes_text(),
                rounded(left)
            ),
            Err(_) => format!(
                "the index stopped taking new files on {}, {} days after the first one",
                self.closes_text(),
                self.days
            ),
        }
    }
}

/// Days, hours or minutes, whichever reads best.
fn rounded(left: Duration) -> String {
    let minutes = left.as_secs() / 60;
    match minutes {
        0..=119 => format!("{minutes} min"),
        120..=2879 => format!("{} h", minutes / 60),
        _ => format!("{} days", (minutes + 720) / 1440),
    }
}

/// The project's latest release other than the one being made, when its
/// files carry PEP 740 provenance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestedRelease {
    pub version: String,
    /// Its files with provenance, of how many.
    pub attested: usize,
    pub files: usize,
}

impl AttestedRelease {
    /// What unattested files of `version` do to the provenance: `partial`
    /// when this very release is attested, `lost` after an attested one.
    pub fn effect_on(&self, version: &Version) -> &'static str {
        if self.version == version.to_string() {
            "partial"
        } else {
            "lost"
        }
    }
}

/// Whether uploading files without attestations for `version` would lose
/// (or split) the project's provenance: the latest other release (by upload
/// time, else by version) has attested files, or this version already has.
pub fn attested_before(listed: &[IndexedFile], version: &Version) -> Option<AttestedRelease> {
    let own = version_files(listed, version);
    if own.iter().any(|f| f.provenance.is_some()) {
        return Some(summary(version, &own));
    }
    latest_attested(listed, Some(version))
}

/// The latest release (other than `except`), when it carries provenance.
pub fn latest_attested(
    listed: &[IndexedFile],
    except: Option<&Version>,
) -> Option<AttestedRelease> {
    let mut others: Vec<(Version, Option<SystemTime>)> = Vec::new();
    for file in listed {
        let Some(v) = filename_version(&file.filename) else {
            continue;
        };
        if Some(&v) == except {
            continue;
        }
        match others.iter_mut().find(|(known, _)| *known == v) {
            Some((_, time)) => *time = (*time).max(file.upload_time),
            None => others.push((v, file.upload_time)),
        }
    }
    let (latest, _) = others
        .into_iter()
        .max_by(|(va, ta), (vb, tb)| ta.cmp(tb).then_with(|| va.cmp(vb)))?;
    let files = version_files(listed, &latest);
    files
        .iter()
        .any(|f| f.provenance.is_some())
        .then(|| summary(&latest, &files))
}

/// Adds to each member of `tag_plan` what its repository already has:
/// the `index` check (the version's files there and, when half-published,
/// until when the rest may follow) and, when a token upload would cost the
/// project its provenance, a `provenance` warning. One listing a member.
pub fn add_plan_checks(tag_plan: &mut TagPlan, config: &Config, dirs: &Dirs) {
    for plan in &mut tag_plan.members {
        let Some(repository) = plan
            .target
            .as_ref()
            .and_then(|target| open_repository(target, dirs))
        else {
            continue; // the plan's `repository` check already failed
        };
        let listed = match repository.list_files_once(&plan.package) {
            Ok(listed) => listed,
            Err(err) => {
                plan.push(
                    INDEX_CHECK,
                    Status::Warn,
                    crate::exit::chain_text_in(
                        "cannot list it; the release lists it again before uploading",
                        &err,
                    ),
                );
                continue;
            }
        };
        let record = ReleaseDir::for_release(
            dirs,
            &plan.package,
            &plan.version.to_string(),
            &plan.tag_target,
        )
        .load()
        .ok()
        .flatten();
        let (status, message) = index_finding(plan, &listed, record.as_ref());
        plan.push(INDEX_CHECK, status, message);
        if let Some(message) = provenance_finding(plan, config, &listed) {
            plan.push("provenance", Status::Warn, message);
        }
    }
}

const INDEX_CHECK: &str = "index";

fn index_finding(
    plan: &Plan,
    listed: &[IndexedFile],
    record: Option<&ReleaseRecord>,
) -> (Status, String) {
    let (repository, what) = (
        &plan.repository,
        format!("{} {}", plan.package, plan.version),
    );
    let present = version_files(listed, &plan.version);
    if present.is_empty() {
        return (
            Status::Pass,
            format!("{repository} has no file of {what} yet"),
        );
    }
    let names: Vec<&str> = present.iter().map(|f| f.filename.as_str()).collect();
    // Files built here that the index has with other bytes: the release
    // would stop at them (compared only where the index gives a hash).
    let conflicts: Vec<&str> = record
        .map(|record| {
            record
                .files
                .iter()
                .filter(|built| {
                    present.iter().any(|listed| {
                        listed.filename == built.filename
                            && listed
                                .sha256
                                .as_deref()
                                .is_some_and(|sha| !sha.eq_ignore_ascii_case(&built.sha256))
                    })
                })
                .map(|built| built.filename.as_str())
                .collect()
        })
        .unwrap_or_default();
    if !conflicts.is_empty() {
        return (
            Status::Fail,
            format!(
                "{repository} has {} of {what} with other bytes than the files built here: a version is published only once. Bump the version and tag it",
                conflicts.join(", ")
            ),
        );
    }
    // The files still to come are known once this tag was built here.
    let missing: Option<Vec<&str>> = record.map(|record| not_listed(record, listed));
    if missing.as_ref().is_some_and(|m| m.is_empty()) {
        return (
            Status::Pass,
            format!(
                "{what} is complete on {repository} ({}): a release only verifies it",
                names.join(", ")
            ),
        );
    }
    let rest = match &missing {
        Some(missing) => format!("not yet: {}", missing.join(", ")),
        None => {
            "a release uploads only what it lacks and stops at a file with other bytes".to_string()
        }
    };
    let window = plan
        .target
        .as_ref()
        .and_then(RepositoryTarget::file_window)
        .and_then(|days| FileWindow::of(listed, &plan.version, days));
    match window {
        Some(window) if window.is_open() => (
            Status::Warn,
            format!(
                "{repository} has {} of {what} since {} ({rest}); {}. Run `tagpub release {}` before then",
                names.join(", "),
                window.first_text(),
                window.describe(),
                plan.tag
            ),
        ),
        Some(window) => (
            // Known missing files can no longer be added; unknown ones may
            // all be there already.
            if missing.is_some() {
                Status::Fail
            } else {
                Status::Warn
            },
            format!(
                "{repository} has {} of {what} since {} ({rest}); {}: a file still missing can only be published in a new version",
                names.join(", "),
                window.first_text(),
                window.describe()
            ),
        ),
        None => (
            Status::Warn,
            format!(
                "{repository} already has {} of {what} ({rest})",
                names.join(", ")
            ),
        ),
    }
}

/// The files built for `record` that the index does not list.
pub fn not_listed<'a>(record: &'a ReleaseRecord, listed: &[IndexedFile]) -> Vec<&'a str> {
    record
        .files
        .iter()
        .map(|f| f.filename.as_str())
        .filter(|name| !listed.iter().any(|l| l.filename == *name))
        .collect()
}

/// A warning when the files would go up by token (no attestations: PyPI
/// takes those only from trusted publishing) after an attested release.
fn provenance_finding(plan: &Plan, config: &Config, listed: &[IndexedFile]) -> Option<String> {
    if plan.trusted_publishing || config.allow_unattested_for(&plan.package_config) {
        return None;
    }
    let attested = attested_before(listed, &plan.version)?;
    Some(format!(
        "{} {} on {} carries PEP 740 attestations ({} of {} files); uploading {} with a token sends none, so {} would show its provenance as {}. `tagpub release` refuses that without --allow-unattested: publish it through trusted publishing from CI (`tagpub ci github`, `trigger = \"push\"`; `tagpub doctor` shows the setup)",
        plan.package,
        attested.version,
        plan.repository,
        attested.attested,
        attested.files,
        plan.version,
        plan.repository,
        attested.effect_on(&plan.version)
    ))
}

fn summary(version: &Version, files: &[&IndexedFile]) -> AttestedRelease {
    AttestedRelease {
        version: version.to_string(),
        attested: files.iter().filter(|f| f.provenance.is_some()).count(),
        files: files.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    fn file(name: &str, days_ago: u64, attested: bool) -> IndexedFile {
        IndexedFile {
            filename: name.to_string(),
            sha256: None,
            url: None,
            upload_time: Some(SystemTime::now() - Duration::from_secs(days_ago * 86_400)),
            provenance: attested
                .then(|| url::Url::parse("https://pypi.org/integrity/x/provenance").unwrap()),
        }
    }

    #[test]
    fn file_names_give_their_version() {
        assert_eq!(filename_version("demo-1.0.tar.gz"), Some(v("1.0")));
        assert_eq!(
            filename_version("demo_pkg-2.0rc1-py3-none-any.whl"),
            Some(v("2.0rc1"))
        );
        assert_eq!(filename_version("my-demo-1.0.zip"), Some(v("1.0")));
        assert_eq!(filename_version("demo-pkg-2.0rc1.zip"), Some(v("2.0rc1")));
        assert_eq!(
            filename_version("demo_pkg-1.0.post1-1-py3-none-any.whl"),
            Some(v("1.0.post1"))
        );
        assert_eq!(filename_version("demo_pkg-1.0.0.egg"), None);
        assert_eq!(filename_version("README"), None);
    }

    #[test]
    fn window_runs_from_the_first_file() {
        let listed = [
            file("demo-1.0-py3-none-any.whl", 20, false),
            file("demo-1.1-py3-none-any.whl", 3, false),
            file("demo-1.1.tar.gz", 1, false),
        ];
        let day = Duration::from_secs(86_400);
        let open = FileWindow::of(&listed, &v("1.1"), 14 * day).unwrap();
        assert!(open.is_open());
        assert_eq!(open.present.len(), 2);
        assert!(
            open.describe().contains("(11 days left)"),
            "{}",
            open.describe()
        );
        let closed = FileWindow::of(&listed, &v("1.0"), 14 * day).unwrap();
        assert!(!closed.is_open());
        assert!(closed.describe().contains("stopped taking new files"));
        assert!(FileWindow::of(&listed, &v("2.0"), 14 * day).is_none());
    }

    #[test]
    fn provenance_follows_the_latest_other_release() {
        let attested_then_not = [
            file("demo-1.0-py3-none-any.whl", 30, true),
            file("demo-1.0.tar.gz", 30, true),
            file("demo-0.9.tar.gz", 60, false),
        ];
        assert_eq!(
            attested_before(&attested_then_not, &v("1.1")),
            Some(AttestedRelease {
                version: "1.0".into(),
                attested: 2,
                files: 2
            })
        );
        // An unattested release after it: provenance is already gone.
        let lost = [
            file("demo-1.0.tar.gz", 30, true),
            file("demo-1.1.tar.gz", 10, false),
        ];
        assert_eq!(attested_before(&lost, &v("1.2")), None);
        // A half-published release with attested files would turn partial.
        let partial = [file("demo-1.2-py3-none-any.whl", 1, true)];
        assert_eq!(
            attested_before(&partial, &v("1.2")).map(|r| r.version),
            Some("1.2".into())
        );
        assert_eq!(attested_before(&[], &v("1.0")), None);
    }
}
