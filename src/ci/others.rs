//! Other pipelines of the repository that upload to an index too. Next to
//! tagpub's, two uploaders race for one release: the second finds files
//! with other bytes and fails, or skips them (`skip-existing`) and hides
//! that the index has the other pipeline's build.
//!
//! The CI files are read as text, line by line, for the upload steps of
//! the common tools; comment lines do not count, and tagpub's own files
//! (they start with [`HEADER_MARK`]) are not read.

use std::path::Path;

use super::HEADER_MARK;
use crate::report::Reporter;

/// An upload step outside tagpub's pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherUpload {
    /// The file, relative to the repository root, with `/` separators.
    pub path: String,
    /// 1-based.
    pub line: usize,
    /// What uploads: the action or the command.
    pub step: &'static str,
}

impl OtherUpload {
    /// What is wrong, for a doctor finding (with [`FIX`]).
    pub fn problem(&self) -> String {
        format!(
            "{}:{} uploads too ({}): two uploaders race for each release, and the second finds files with other bytes (or skips them and hides it)",
            self.path, self.line, self.step
        )
    }

    /// The problem and its fix in one line, for a warning.
    pub fn warning(&self) -> String {
        format!("{}: {FIX}", self.problem())
    }
}

/// Warns of every upload step in the CI files at `root` ([`find`]), one
/// line each: what `init` and `ci` print.
pub fn warn_each(root: &Path, reporter: &dyn Reporter) {
    for upload in find(root) {
        reporter.warn(&upload.warning());
    }
}

/// What to do about an [`OtherUpload`].
pub const FIX: &str = "remove that step (or its workflow) in the commit that adds tagpub's, or make sure it never publishes a package tagpub releases";

/// What uploads to an index, as written in a CI file (whitespace runs
/// count as one space).
const UPLOAD_STEPS: &[&str] = &[
    "pypa/gh-action-pypi-publish",
    "twine upload",
    "uv publish",
    "poetry publish",
    "hatch publish",
    "flit publish",
    "pdm publish",
    "maturin publish",
    "maturin upload",
];

/// CI files at fixed places, and the directories whose `*.yml`/`*.yaml`
/// files are CI files.
const CI_FILES: &[&str] = &[
    ".gitlab-ci.yml",
    ".travis.yml",
    ".circleci/config.yml",
    "azure-pipelines.yml",
];
const CI_DIRS: &[&str] = &[".github/workflows", ".gitlab"];

/// A CI file larger than this is not read (none is, in practice).
const MAX_CI_FILE: u64 = 1 << 20;

/// Every upload step in the CI files of the work tree at `root`.
pub fn find(root: &Path) -> Vec<OtherUpload> {
    let mut paths: Vec<String> = CI_FILES.iter().map(|path| path.to_string()).collect();
    for dir in CI_DIRS {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|entry| entry.file_name().into_string().ok())
            .filter(|name| name.ends_with(".yml") || name.ends_with(".yaml"))
            .collect();
        names.sort();
        paths.extend(names.into_iter().map(|name| format!("{dir}/{name}")));
    }
    paths
        .into_iter()
        .flat_map(|path| {
            let text = read_ci_file(&root.join(&path)).unwrap_or_default();
            uploads_in(&text)
                .into_iter()
                .map(|(line, step)| OtherUpload {
                    path: path.clone(),
                    line,
                    step,
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// A regular file's text (a symlink is not followed: it may lead out of
/// the repository); `None` for tagpub's own files.
fn read_ci_file(path: &Path) -> Option<String> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.is_file() || meta.len() > MAX_CI_FILE {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    (!text.starts_with(HEADER_MARK)).then_some(text)
}

/// The upload steps of one CI file: line number and step, at most one a line.
fn uploads_in(text: &str) -> Vec<(usize, &'static str)> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim_start().starts_with('#'))
        .filter_map(|(index, line)| {
            let words = line.split_whitespace().collect::<Vec<_>>().join(" ");
            UPLOAD_STEPS
                .iter()
                .find(|step| words.contains(*step))
                .map(|step| (index + 1, *step))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_steps_are_found_and_comments_are_not() {
        let text = "\
jobs:
  publish:
    steps:
    # - uses: pypa/gh-action-pypi-publish@release/v1
    - uses: pypa/gh-action-pypi-publish@release/v1
    - run: python -m twine   upload dist/*
    - run: uv build
    - run: twine check dist/*
";
        assert_eq!(
            uploads_in(text),
            vec![(5, "pypa/gh-action-pypi-publish"), (6, "twine upload")]
        );
    }

    #[test]
    fn every_ci_file_is_read_but_tagpubs_own_and_symlinks() {
        let root = tempfile::tempdir().unwrap();
        let write = |path: &str, text: &str| {
            let path = root.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write(".github/workflows/release.yml", "- run: uv publish\n");
        write(".github/workflows/docs.yaml", "- run: mkdocs gh-deploy\n");
        write(
            ".github/workflows/tagpub-release.yml",
            &format!("{HEADER_MARK} 0.1.0\n- run: twine upload dist/*\n"),
        );
        write(
            ".gitlab-ci.yml",
            "deploy:\n  script:\n    - poetry publish\n",
        );
        write("elsewhere.yml", "- run: hatch publish\n");
        #[cfg(unix)]
        std::os::unix::fs::symlink(
            root.path().join("elsewhere.yml"),
            root.path().join(".github/workflows/linked.yml"),
        )
        .unwrap();
        assert_eq!(
            find(root.path()),
            vec![
                OtherUpload {
                    path: ".gitlab-ci.yml".into(),
                    line: 3,
                    step: "poetry publish"
                },
                OtherUpload {
                    path: ".github/workflows/release.yml".into(),
                    line: 1,
                    step: "uv publish"
                },
            ]
        );
    }
}
