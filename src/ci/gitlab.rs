//! `.gitlab/tagpub-release.yml`, included from `.gitlab-ci.yml`.
//!
//! tagpub always writes its jobs to a file of its own and never edits
//! `.gitlab-ci.yml`: GitLab merges `include:`d files into the pipeline, so
//! the release jobs can be regenerated at any time without touching the
//! project's other jobs, and `--check` always knows which file to compare.
//! When there is no `.gitlab-ci.yml` yet, tagpub writes one that only
//! includes its file (see [`MAIN_FILE`]); an existing one is left alone and
//! the command says what to add.
//!
//! GitLab's `rules:if` takes regular expressions, so unlike on GitHub every
//! release job runs only for exactly the tags of its package or group (the
//! PEP 440 grammar tagpub resolves with), and needs no resolve job.
//!
//! As on GitHub (see [`super::github`]), one job and one `environment:` per
//! package with tags of its own and per group: PyPI's GitLab trusted
//! publisher names namespace, project, the top-level pipeline file
//! (`.gitlab-ci.yml`) and an environment. A trusted-publishing job (PyPI or
//! TestPyPI, no `token-env`) gets two ID tokens: `PYPI_ID_TOKEN` (audience
//! of the index) for the upload token and `SIGSTORE_ID_TOKEN` (audience
//! `sigstore`, where sigstore's credential detection looks on GitLab) for
//! signing; it builds with `--dry-run`, signs with pypi-attestations, then
//! `tagpub release` reuses the files and uploads them with their
//! attestations.

use std::fmt::Write as _;

use crate::ci::{
    HEADER_MARK, PYPI_ATTESTATIONS_VERSION, SIGN_SCRIPT, Target, UV_VERSION, gitlab_tag_regex,
    yaml_str,
};

pub const INCLUDE_PATH: &str = ".gitlab/tagpub-release.yml";
pub const MAIN_PATH: &str = ".gitlab-ci.yml";

/// What `.gitlab-ci.yml` gets when there is none.
pub const MAIN_FILE: &str = "\
# Written by `tagpub ci gitlab`. The release jobs are in .gitlab/tagpub-release.yml,
# which `tagpub ci gitlab` regenerates; this file is yours to add jobs to.
include:
  - local: .gitlab/tagpub-release.yml
";

/// The snippet a user adds to an existing `.gitlab-ci.yml`.
pub const INCLUDE_SNIPPET: &str = "include:\n  - local: .gitlab/tagpub-release.yml";

/// Whether a `.gitlab-ci.yml` already includes tagpub's file. A text
/// search: the path appears in the file only to include it.
pub fn includes_release_file(main: &str) -> bool {
    main.contains(INCLUDE_PATH)
}

/// The included file for the config's `targets`; `config_name` is the
/// config file's path in the repository, for the header.
pub fn render(targets: &[Target<'_>], config_name: &str, tagpub_version: &str) -> String {
    let mut out = String::new();
    let w = &mut out;
    for text in [
        format!("{HEADER_MARK} {tagpub_version} (`tagpub ci gitlab`) from {config_name}."),
        format!("# Do not edit: change {config_name} and run `tagpub ci gitlab` again;"),
        "# `tagpub ci gitlab --check` fails while this file is out of date.".into(),
        format!("# {MAIN_PATH} includes it with `include: - local: {INCLUDE_PATH}`."),
        "#".into(),
        "# A pipeline for a release tag publishes that release. To build and check one".into(),
        "# without publishing: Build > Pipelines > Run pipeline, choose the tag and set".into(),
        "# TAGPUB_DRY_RUN to \"true\". The jobs use the `deploy` stage, which every".into(),
        "# pipeline has unless it lists its own `stages:` without it.".into(),
    ] {
        line(w, &text);
    }
    line(w, "");
    line(w, "variables:");
    line(w, "  TAGPUB_DRY_RUN:");
    line(w, "    value: 'false'");
    line(w, "    options: ['false', 'true']");
    line(
        w,
        "    description: 'true: build and check the tag''s release, publish nothing'",
    );
    line(w, "");
    line(w, ".tagpub-release:");
    line(w, "  stage: deploy");
    line(w, "  image: python:3.12");
    line(w, "  variables:");
    line(
        w,
        "    # Full history and every tag: tagpub reads the tag object (annotated? signed?",
    );
    line(
        w,
        "    # its name) and the package's files at the tagged commit.",
    );
    line(w, "    GIT_DEPTH: '0'");
    line(
        w,
        "    # Inside the project dir, where artifacts:paths can name the built files.",
    );
    line(w, "    TAGPUB_DATA_DIR: $CI_PROJECT_DIR/.tagpub");
    line(w, "    PIP_ROOT_USER_ACTION: ignore");
    line(w, "  before_script:");
    line(
        w,
        &format!("    - pip install \"tagpub=={tagpub_version}\" \"uv=={UV_VERSION}\""),
    );
    line(w, "  artifacts:");
    line(
        w,
        "    # The built files, also when publishing failed, for inspection.",
    );
    line(w, "    when: always");
    line(w, "    paths:");
    line(w, "      - .tagpub/releases/*/*/*/dist/");
    line(w, "");

    line(w, "tagpub-dry-run:");
    line(w, "  extends: .tagpub-release");
    line(w, "  rules:");
    line(w, "    - if: '$TAGPUB_DRY_RUN != \"true\"'");
    line(w, "      when: never");
    for target in targets {
        tag_rules(w, target);
    }
    line(w, "  script:");
    line(w, "    - tagpub release --dry-run \"$CI_COMMIT_TAG\"");

    for target in targets {
        release_job(w, target);
    }
    out
}

fn release_job(w: &mut String, target: &Target<'_>) {
    line(w, "");
    line(w, &format!("tagpub-{}:", target.job_id));
    line(w, "  extends: .tagpub-release");
    line(w, "  rules:");
    line(w, "    - if: '$TAGPUB_DRY_RUN == \"true\"'");
    line(w, "      when: never");
    tag_rules(w, target);
    line(
        w,
        "  # One environment per release: its trusted publisher, approval rules and variables.",
    );
    line(w, "  environment:");
    line(w, &format!("    name: {}", yaml_str(&target.environment)));
    let trusted = target.trusted_publishing();
    if let (true, Some(audience)) = (trusted, target.oidc_audience()) {
        line(w, "  id_tokens:");
        line(
            w,
            "    # Trusted publishing: tagpub trades this OIDC token for an upload token.",
        );
        line(w, "    PYPI_ID_TOKEN:");
        line(w, &format!("      aud: {audience}"));
        line(
            w,
            "    # PEP 740 attestations: pypi-attestations signs with this one (sigstore).",
        );
        line(w, "    SIGSTORE_ID_TOKEN:");
        line(w, "      aud: sigstore");
    }
    if !target.secret_envs.is_empty() {
        line(
            w,
            &format!(
                "  # token-env in the config: a CI/CD variable (masked, protected) can hold the token: {}",
                target.secret_envs.join(", ")
            ),
        );
    }
    line(w, "  script:");
    if trusted {
        line(
            w,
            &format!("    - pip install \"pypi-attestations=={PYPI_ATTESTATIONS_VERSION}\""),
        );
        line(w, "    - tagpub release --dry-run \"$CI_COMMIT_TAG\"");
        line(w, "    - |");
        for text in SIGN_SCRIPT.lines() {
            line(w, &format!("      {text}"));
        }
        line(
            w,
            "    # Reuses the files built and checked above and uploads them with their attestations.",
        );
    }
    line(w, "    - tagpub release \"$CI_COMMIT_TAG\"");
}

/// One rule per tag pattern of the package or group.
fn tag_rules(w: &mut String, target: &Target<'_>) {
    line(w, &format!("    # {}", target.comment()));
    for pattern in target.patterns {
        let condition = format!("$CI_COMMIT_TAG =~ {}", gitlab_tag_regex(pattern));
        line(w, &format!("    - if: {}", yaml_str(&condition)));
    }
}

fn line(w: &mut String, text: &str) {
    let _ = writeln!(w, "{text}");
}
