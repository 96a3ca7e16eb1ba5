//! `.github/workflows/tagpub-release.yml`.
//!
//! One workflow for every package, in three kinds of jobs:
//!
//! - `resolve` runs `tagpub ci resolve` on the tag: which package, version
//!   and repository it releases, with the plan's checks. GitHub's tag filters
//!   are globs and its `if:` expressions have no regexes, so only tagpub
//!   itself can tell exactly which package a tag belongs to.
//! - `release-<repository>-<name>`, one per package with tags of its own
//!   and one per group, each in its own environment `<repository>-<name>`,
//!   runs when `resolve` names that job (`tagpub ci resolve` picks it with
//!   the same [`crate::ci::targets`] that wrote the file). Static jobs, not
//!   one job with a computed environment name: each job's environment (its
//!   approval rules and secrets), permissions and secrets are visible in
//!   the file and to linters. One environment per package because PyPI
//!   keys a trusted publisher by repository, workflow and environment and
//!   allows one pending publisher per such triple: with one shared
//!   environment only one new project of a monorepo could be created by
//!   trusted publishing, and every package's publisher would trust every
//!   other package's job. A group's job publishes all its members, so it
//!   has one environment, which each member's publisher names.
//! - A trusted-publishing job (PyPI or TestPyPI, no `token-env`) builds
//!   and checks with `tagpub release --dry-run`, signs every built file
//!   with pypi-attestations (PEP 740, pinned; [`crate::ci::SIGN_SCRIPT`]),
//!   then `tagpub release` reuses the built files and uploads them with
//!   their attestations. A job with a stored token has neither `id-token`
//!   nor attestations: PyPI accepts attestations only with trusted
//!   publishing.
//! - `dry-run` builds and checks for a manual run with `dry-run` ticked. It
//!   has no environment (no approval needed to build) and no `id-token`.
//!
//! Actions are pinned by commit (the tag in a comment), the checkout keeps
//! no credentials, and no `${{ }}` expression is expanded inside a shell
//! script: the tag reaches scripts as `$TAG` from the environment.

use std::fmt::Write as _;

use crate::ci::{
    HEADER_MARK, PYPI_ATTESTATIONS_VERSION, SIGN_SCRIPT, Target, UV_VERSION, expression_str,
    github_tag_globs, yaml_str,
};

pub const WORKFLOW_PATH: &str = ".github/workflows/tagpub-release.yml";
/// The workflow's file name, as a trusted publisher names it.
pub const WORKFLOW_FILE: &str = "tagpub-release.yml";

const CHECKOUT: &str = "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1";
const UPLOAD_ARTIFACT: &str =
    "actions/upload-artifact@bbbca2ddaa5d8feaa63e36b76fdaad77386f024f # v7.0.0";

/// The workflow for the config's `targets`; `config_name` is the config
/// file's path in the repository, for the header.
pub fn render(targets: &[Target<'_>], config_name: &str, tagpub_version: &str) -> String {
    let mut out = String::new();
    let w = &mut out;
    line(
        w,
        &format!("{HEADER_MARK} {tagpub_version} (`tagpub ci github`) from {config_name}."),
    );
    line(
        w,
        &format!("# Do not edit: change {config_name} and run `tagpub ci github` again;"),
    );
    line(
        w,
        "# `tagpub ci github --check` fails while this file is out of date.",
    );
    line(w, "name: Release (tagpub)");
    line(w, "");
    line(w, "on:");
    line(w, "  push:");
    line(w, "    tags:");
    for target in targets {
        line(w, &format!("      # {}", target.comment()));
        for pattern in target.patterns {
            for glob in github_tag_globs(pattern) {
                line(w, &format!("      - {}", yaml_str(&glob)));
            }
        }
    }
    line(w, "  release:");
    line(w, "    types: [published]");
    line(w, "  workflow_dispatch:");
    line(w, "    inputs:");
    line(w, "      tag:");
    line(
        w,
        "        description: The release tag to build, e.g. v1.0.0",
    );
    line(w, "        required: true");
    line(w, "        type: string");
    line(w, "      dry-run:");
    line(
        w,
        "        description: Dry run - build and check the release, publish nothing",
    );
    line(w, "        type: boolean");
    line(w, "        default: true");
    line(w, "");
    line(w, "permissions: {}");
    line(w, "");
    line(
        w,
        "# One run per tag at a time: a tag push and the GitHub Release made from it",
    );
    line(
        w,
        "# start two runs, and the second finds the release complete.",
    );
    line(w, "concurrency:");
    line(
        w,
        "  group: tagpub-release-${{ inputs.tag || github.ref_name }}",
    );
    line(w, "  cancel-in-progress: false");
    line(w, "");
    line(w, "env:");
    line(w, "  TAG: ${{ inputs.tag || github.ref_name }}");
    line(w, "");
    line(w, "jobs:");

    line(w, "  resolve:");
    line(w, "    name: Resolve the tag");
    line(w, "    runs-on: ubuntu-latest");
    line(w, "    permissions:");
    line(w, "      contents: read # check out the repository");
    line(w, "    outputs:");
    for key in ["package", "version", "repository", "job"] {
        line(
            w,
            &format!("      {key}: ${{{{ steps.resolve.outputs.{key} }}}}"),
        );
    }
    line(w, "    steps:");
    checkout(w);
    line(w, "      - name: Install tagpub");
    line(
        w,
        &format!(
            "        run: pipx install {}",
            shell_word(&format!("tagpub=={tagpub_version}"))
        ),
    );
    line(
        w,
        "      - name: Which package, version and repository the tag releases",
    );
    line(w, "        id: resolve");
    line(
        w,
        "        # A GitHub Release may be made for any tag: one that is no package's is skipped.",
    );
    line(w, "        run: |");
    line(w, "          if [ \"$GITHUB_EVENT_NAME\" = release ]; then");
    line(
        w,
        "            tagpub ci resolve --skip-unknown \"$TAG\" >> \"$GITHUB_OUTPUT\"",
    );
    line(w, "          else");
    line(
        w,
        "            tagpub ci resolve \"$TAG\" >> \"$GITHUB_OUTPUT\"",
    );
    line(w, "          fi");

    line(w, "");
    line(w, "  dry-run:");
    line(w, "    name: Dry run (build and check, publish nothing)");
    line(w, "    needs: resolve");
    line(
        w,
        "    if: inputs.dry-run && needs.resolve.outputs.repository != ''",
    );
    line(w, "    runs-on: ubuntu-latest");
    line(w, "    permissions:");
    line(w, "      contents: read # check out the repository");
    line(w, "    steps:");
    checkout(w);
    install(w, tagpub_version, false);
    line(w, "      - name: tagpub release --dry-run");
    data_dir_env(w);
    line(w, "        run: tagpub release --dry-run \"$TAG\"");
    upload(w);

    for target in targets {
        release_job(w, target, tagpub_version);
    }
    out
}

fn release_job(w: &mut String, target: &Target<'_>, tagpub_version: &str) {
    line(w, "");
    line(w, &format!("  {}:", target.job_id));
    let what = if target.group {
        format!("group {}", target.name)
    } else {
        target.name.clone()
    };
    line(
        w,
        &format!(
            "    name: {}",
            yaml_str(&format!("Release {what} to {}", target.repository))
        ),
    );
    line(w, "    needs: resolve");
    let condition = format!(
        "!inputs.dry-run && needs.resolve.outputs.job == {}",
        expression_str(&target.job_id)
    );
    line(w, &format!("    if: {}", yaml_str(&condition)));
    line(w, "    runs-on: ubuntu-latest");
    line(
        w,
        "    # One environment per release: its trusted publisher, approval rules and secrets.",
    );
    line(w, "    environment:");
    line(w, &format!("      name: {}", yaml_str(&target.environment)));
    if let (Some(base), Some(first)) = (target.project_url_base(), target.packages.first()) {
        line(
            w,
            &format!(
                "      url: {}",
                yaml_str(&format!(
                    "{base}{}/${{{{ needs.resolve.outputs.version }}}}/",
                    first.name
                ))
            ),
        );
    }
    line(w, "    permissions:");
    line(w, "      contents: read # check out the repository");
    let trusted = target.trusted_publishing();
    if trusted {
        line(
            w,
            "      id-token: write # trusted publishing (an upload token for the OIDC token) and sigstore signing",
        );
    }
    line(w, "    steps:");
    checkout(w);
    install(w, tagpub_version, trusted);
    if trusted {
        line(
            w,
            "      - name: Build and check (tagpub release --dry-run)",
        );
        data_dir_env(w);
        line(w, "        run: tagpub release --dry-run \"$TAG\"");
        line(w, "      - name: Attest the built files (PEP 740)");
        data_dir_env(w);
        line(w, "        run: |");
        for text in SIGN_SCRIPT.lines() {
            line(w, &format!("          {text}"));
        }
    }
    line(w, "      - name: tagpub release");
    data_dir_env(w);
    if !target.secret_envs.is_empty() {
        line(
            w,
            "          # token-env from the config, from this environment's (or the repository's) secrets",
        );
    }
    for name in &target.secret_envs {
        line(w, &format!("          {name}: ${{{{ secrets.{name} }}}}"));
    }
    if trusted {
        line(
            w,
            "        # Reuses the files built and checked above and uploads them with their attestations.",
        );
    }
    line(w, "        run: tagpub release \"$TAG\"");
    upload(w);
}

/// Every tagpub step of a job shares one data dir: the release reuses what
/// the dry run built there.
fn data_dir_env(w: &mut String) {
    line(w, "        env:");
    line(w, "          TAGPUB_DATA_DIR: ${{ runner.temp }}/tagpub");
}

fn line(w: &mut String, text: &str) {
    let _ = writeln!(w, "{text}");
}

/// Full history and every tag: tagpub reads the tag object (annotated?
/// signed? its name) and the package's files at the tagged commit.
fn checkout(w: &mut String) {
    line(w, &format!("      - uses: {CHECKOUT}"));
    line(w, "        with:");
    line(w, "          fetch-depth: 0");
    line(w, "          persist-credentials: false");
}

fn install(w: &mut String, tagpub_version: &str, attestations: bool) {
    let mut tools = vec![
        format!("tagpub=={tagpub_version}"),
        format!("uv=={UV_VERSION}"),
    ];
    if attestations {
        tools.push(format!("pypi-attestations=={PYPI_ATTESTATIONS_VERSION}"));
    }
    let name = if attestations {
        "Install tagpub, uv and pypi-attestations"
    } else {
        "Install tagpub and uv"
    };
    line(w, &format!("      - name: {name}"));
    let commands: Vec<String> = tools
        .iter()
        .map(|t| format!("pipx install {}", shell_word(t)))
        .collect();
    line(w, &format!("        run: {}", commands.join(" && ")));
}

/// The built files, also when a later step failed, for inspection.
fn upload(w: &mut String) {
    line(w, "      - name: Keep the built files");
    line(w, "        if: always()");
    line(w, &format!("        uses: {UPLOAD_ARTIFACT}"));
    line(w, "        with:");
    line(
        w,
        "          name: dist-${{ needs.resolve.outputs.package }}-${{ needs.resolve.outputs.version }}",
    );
    line(
        w,
        "          path: ${{ runner.temp }}/tagpub/releases/*/*/*/dist/",
    );
    line(w, "          if-no-files-found: warn");
}

/// A version requirement as one shell word (versions hold no quotes).
fn shell_word(text: &str) -> String {
    format!("\"{text}\"")
}
