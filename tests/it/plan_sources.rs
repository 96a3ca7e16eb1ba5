//! What `plan` reads at the tagged commit: dynamic versions it can read
//! without running anything (hatch `path`, setuptools `attr` / `file`), the
//! tagpub config itself, and the tags it suggests. Real git repos, real
//! binary; the builds are real `uv build`s to the local index.

use crate::common::project::{Project, Run, files_in, git};

const HF: &str = "src/open_ticket_ai_hf_local";
const OTOBO: &str = "src/open_ticket_ai_otobo_znuny_plugin";
const ZERO: &str = "0000000000000000000000000000000000000000";

fn project() -> Project {
    let project = Project::sample(&[]);
    project.configure("local", "");
    project
}

/// The pre-push gate as git drives it, for one tag.
fn gate(project: &Project, tag: &str) -> Run {
    let sha = git(&project.root, &["rev-parse", &format!("refs/tags/{tag}")]);
    let input = format!("refs/tags/{tag} {sha} refs/tags/{tag} {ZERO}\n");
    project.run_with_stdin(&["hook", "pre-push", "origin", "/tmp/remote.git"], &input)
}

/// hf-local (hatchling) with its version in `__about__.py`, as hatch's
/// `path` source reads it.
fn hatch_path_package(project: &Project, about: &str) {
    project.write(
        &format!("{HF}/pyproject.toml"),
        r#"[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "open-ticket-ai-hf-local"
dynamic = ["version"]
description = "HuggingFace plugin of the sample monorepo"
readme = "README.md"
requires-python = ">=3.8"

[tool.hatch.version]
path = "open_ticket_ai_hf_local/__about__.py"
"#,
    );
    project.write(
        &format!("{HF}/open_ticket_ai_hf_local/__about__.py"),
        &format!("# SPDX-License-Identifier: MIT\n__version__ = \"{about}\"\n"),
    );
    project.commit(&format!("hatch path version {about}"));
}

#[test]
fn a_hatch_path_version_that_disagrees_with_the_tag_fails_plan_and_the_gate() {
    let project = project();
    // The next patch exists already: the suggestion must skip it.
    git(&project.root, &["tag", "-a", "-m", "x", "hf-local-v0.4.3"]);
    hatch_path_package(&project, "0.4.1");
    project.tag("hf-local-v0.4.2");

    let plan = project.run(&["plan", "hf-local-v0.4.2"]);
    plan.assert_fails(
        1,
        "version: tag hf-local-v0.4.2 says 0.4.2 but src/open_ticket_ai_hf_local/open_ticket_ai_hf_local/__about__.py at",
    )
    .assert_fails(1, "says 0.4.1 (the version source of src/open_ticket_ai_hf_local/pyproject.toml: [tool.hatch.version] path = \"open_ticket_ai_hf_local/__about__.py\")")
    .assert_fails(1, "set it to 0.4.2 in src/open_ticket_ai_hf_local/open_ticket_ai_hf_local/__about__.py and commit")
    .assert_fails(1, "or create hf-local-v0.4.4");
    assert!(!plan.stderr.contains("hf-local-v0.4.3"), "{}", plan.stderr);

    gate(&project, "hf-local-v0.4.2")
        .assert_fails(1, "tagpub: refusing to push hf-local-v0.4.2:")
        .assert_fails(1, "__about__.py at");
    // Nothing is built or published for it either.
    project
        .run(&["release", "hf-local-v0.4.2"])
        .assert_fails(1, "says 0.4.1");
    assert!(
        files_in(&project.local_index()).is_empty(),
        "{:?}",
        files_in(&project.local_index())
    );
}

#[test]
fn a_hatch_path_version_that_agrees_passes_and_hatchling_builds_it() {
    let project = project();
    hatch_path_package(&project, "0.4.2");
    project.tag("hf-local-v0.4.2");
    let plan = project.run(&["plan", "hf-local-v0.4.2"]);
    plan.assert_ok();
    assert!(
        plan.stderr.contains(
            "version: src/open_ticket_ai_hf_local/open_ticket_ai_hf_local/__about__.py at"
        ) && plan
            .stderr
            .contains("says 0.4.2 ([tool.hatch.version] path"),
        "{}",
        plan.stderr
    );
    gate(&project, "hf-local-v0.4.2").assert_ok();
    // The real backend reads the same file and agrees.
    project.run(&["release", "hf-local-v0.4.2"]).assert_ok();
    assert!(
        files_in(&project.local_index().join("open-ticket-ai-hf-local"))
            .contains(&"open_ticket_ai_hf_local-0.4.2-py3-none-any.whl".to_string())
    );
}

/// otobo-znuny (setuptools) with a dynamic version from `dynamic`, plus the
/// files in `files`.
fn setuptools_dynamic(project: &Project, dynamic: &str, extra: &str, files: &[(&str, &str)]) {
    project.write(
        &format!("{OTOBO}/pyproject.toml"),
        &format!(
            r#"[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "open-ticket-ai-otobo-znuny-plugin"
dynamic = ["version"]
description = "dynamic"
readme = "README.md"

[tool.setuptools]
{extra}

[tool.setuptools.dynamic]
version = {dynamic}
"#
        ),
    );
    for (path, content) in files {
        project.write(&format!("{OTOBO}/{path}"), content);
    }
    project.commit("setuptools dynamic version");
}

#[test]
fn setuptools_attr_is_read_statically_in_a_src_layout() {
    let project = project();
    // `src/` layout found as setuptools' auto-discovery does; the module
    // would fail to import (it must never be run).
    setuptools_dynamic(
        &project,
        r#"{attr = "otobo_plugin.version.__version__"}"#,
        "",
        &[
            (
                "src/otobo_plugin/__init__.py",
                "raise SystemExit('imported')\n",
            ),
            (
                "src/otobo_plugin/version.py",
                "import sys\n__version__: str = '2.0.1'  # bumped by hand\n",
            ),
        ],
    );
    project.tag("otobo-znuny-v2.0.2");
    project
        .run(&["plan", "otobo-znuny-v2.0.2"])
        .assert_fails(1, "tag otobo-znuny-v2.0.2 says 2.0.2 but src/open_ticket_ai_otobo_znuny_plugin/src/otobo_plugin/version.py at")
        .assert_fails(1, "says 2.0.1 (the version source of src/open_ticket_ai_otobo_znuny_plugin/pyproject.toml: [tool.setuptools.dynamic] version = {attr = \"otobo_plugin.version.__version__\"})");
    gate(&project, "otobo-znuny-v2.0.2").assert_fails(1, "says 2.0.1");

    project.write(
        &format!("{OTOBO}/src/otobo_plugin/version.py"),
        "__version__ = \"2.0.3\"\n",
    );
    project.commit("bump");
    project.tag("otobo-znuny-v2.0.3");
    let plan = project.run(&["plan", "otobo-znuny-v2.0.3"]);
    plan.assert_ok();
    assert!(plan.stderr.contains("version.py at"), "{}", plan.stderr);
    assert!(plan.stderr.contains("says 2.0.3"), "{}", plan.stderr);
}

#[test]
fn setuptools_attr_follows_the_package_dir_mapping() {
    let project = project();
    setuptools_dynamic(
        &project,
        r#"{attr = "otobo_plugin.__version__"}"#,
        r#"package-dir = {"otobo_plugin" = "lib/plugin"}"#,
        &[("lib/plugin/__init__.py", "__version__ = '3.1.0'\n")],
    );
    project.tag("otobo-znuny-v3.1.1");
    project
        .run(&["plan", "otobo-znuny-v3.1.1"])
        .assert_fails(1, "lib/plugin/__init__.py at")
        .assert_fails(1, "says 3.1.0");
    // An attr whose module is not there fails too: the build would.
    setuptools_dynamic(&project, r#"{attr = "missing_mod.__version__"}"#, "", &[]);
    project.tag("otobo-znuny-v3.1.2");
    project
        .run(&["plan", "otobo-znuny-v3.1.2"])
        .assert_fails(1, "no such module file there: the build would fail");
}

#[test]
fn setuptools_file_version_is_checked_and_builds() {
    let project = project();
    setuptools_dynamic(
        &project,
        r#"{file = "VERSION"}"#,
        r#"packages = ["open_ticket_ai_otobo_znuny_plugin"]"#,
        &[("VERSION", "1.4.0\n")],
    );
    project.tag("otobo-znuny-v1.4.1");
    project
        .run(&["plan", "otobo-znuny-v1.4.1"])
        .assert_fails(1, "but src/open_ticket_ai_otobo_znuny_plugin/VERSION at")
        .assert_fails(1, "says 1.4.0 (the version source of src/open_ticket_ai_otobo_znuny_plugin/pyproject.toml: [tool.setuptools.dynamic] version = {file = \"VERSION\"})");

    project.write(&format!("{OTOBO}/VERSION"), "1.4.2\n");
    project.commit("1.4.2");
    project.tag("otobo-znuny-v1.4.2");
    project.run(&["plan", "otobo-znuny-v1.4.2"]).assert_ok();
    project.run(&["release", "otobo-znuny-v1.4.2"]).assert_ok();
    assert!(
        files_in(
            &project
                .local_index()
                .join("open-ticket-ai-otobo-znuny-plugin")
        )
        .contains(&"open_ticket_ai_otobo_znuny_plugin-1.4.2.tar.gz".to_string())
    );
}

#[test]
fn a_flit_module_version_is_read_statically() {
    let project = project();
    project.write(
        &format!("{HF}/pyproject.toml"),
        r#"[build-system]
requires = ["flit_core>=3.4"]
build-backend = "flit_core.buildapi"

[project]
name = "open-ticket-ai-hf-local"
dynamic = ["version", "description"]
"#,
    );
    project.write(
        &format!("{HF}/open_ticket_ai_hf_local/__init__.py"),
        "\"\"\"HF plugin.\"\"\"\n__version__ = '0.7.0'\n",
    );
    project.commit("flit");
    project.tag("hf-local-v0.7.1");
    project
        .run(&["plan", "hf-local-v0.7.1"])
        .assert_fails(1, "but src/open_ticket_ai_hf_local/open_ticket_ai_hf_local/__init__.py at")
        .assert_fails(1, "says 0.7.0 (the version source of src/open_ticket_ai_hf_local/pyproject.toml: flit-core: `__version__` of module open_ticket_ai_hf_local)");
}

#[test]
fn vcs_versions_are_shown_as_from_the_tag() {
    let project = project();
    project.write(
        &format!("{OTOBO}/pyproject.toml"),
        r#"[build-system]
requires = ["setuptools>=69", "setuptools-scm>=8"]
build-backend = "setuptools.build_meta"

[project]
name = "open-ticket-ai-otobo-znuny-plugin"
dynamic = ["version"]
"#,
    );
    project.commit("scm");
    project.tag("otobo-znuny-v5.0.0");
    let plan = project.run(&["plan", "otobo-znuny-v5.0.0"]);
    plan.assert_ok();
    assert!(
        plan.stderr
            .contains("declares a dynamic version from the tag (setuptools-scm)"),
        "{}",
        plan.stderr
    );
}

// ---- suggestions ----

#[test]
fn the_lightweight_tag_error_offers_the_config_key_and_the_next_release() {
    let project = project();
    project.tag("hf-local-v1.0.1");
    git(&project.root, &["tag", "hf-local-v1.0.0"]);
    let run = project.run(&["plan", "hf-local-v1.0.0"]);
    run.assert_fails(1, "`hf-local-v1.0.0` is a lightweight tag")
        .assert_fails(1, "set `require-annotated = false` under [defaults] in")
        .assert_fails(1, "annotate the next release: git tag -a hf-local-v1.0.2");
    // Never: delete or recreate a tag that may be published.
    assert!(!run.stderr.contains("git tag -d"), "{}", run.stderr);
    assert!(!run.stderr.contains("git tag -f"), "{}", run.stderr);

    // The key it offers does what it says (committed, so the tag's config
    // has it: a later commit, tagged lightweight too).
    let config = std::fs::read_to_string(project.root.join("tagpub.toml")).unwrap();
    project.write(
        "tagpub.toml",
        &config.replace("[defaults]\n", "[defaults]\nrequire-annotated = false\n"),
    );
    project.commit("lightweight tags");
    git(&project.root, &["tag", "hf-local-v1.0.5"]);
    let allowed = project.run(&["plan", "hf-local-v1.0.5"]);
    assert!(
        allowed.stderr.contains("is a lightweight tag (allowed"),
        "{}",
        allowed.stderr
    );
}

#[test]
fn a_near_miss_suggestion_skips_tags_that_exist() {
    let project = project();
    project.tag("hf-local-v1.0.0");
    project.tag("hf-locl-v1.0.0");
    let run = gate(&project, "hf-locl-v1.0.0");
    run.assert_ok();
    assert!(
        run.stderr
            .contains("hf-locl-v1.0.0 matches no package; did you mean hf-local-v1.0.1?"),
        "{}",
        run.stderr
    );
}

// ---- config from the tag ----

#[test]
fn uncommitted_config_edits_do_not_change_a_release_of_an_existing_tag() {
    let project = project();
    project.tag("hf-local-v1.0.0");
    let short = git(
        &project.root,
        &["rev-parse", "--short=10", "hf-local-v1.0.0^{commit}"],
    );
    // Edits that would each change or break the release, never committed.
    let config = std::fs::read_to_string(project.root.join("tagpub.toml")).unwrap();
    project.write(
        "tagpub.toml",
        &config.replace(
            "[defaults]\nrepository = \"local\"\n",
            "[defaults]\nrepository = \"nowhere\"\nbuild-command = [\"false\"]\n",
        ),
    );
    let plan = project.run(&["plan", "hf-local-v1.0.0"]);
    plan.assert_ok();
    assert!(
        plan.stderr.contains(&format!(
            "config     tagpub.toml at {short} (the tagged commit)"
        )),
        "{}",
        plan.stderr
    );
    assert!(plan.stderr.contains("repository local"), "{}", plan.stderr);
    let json = project.run(&["plan", "hf-local-v1.0.0", "--json"]);
    assert!(
        json.stdout.contains("\"repository\": \"local\"")
            || json.stdout.contains("\"repository\":\"local\""),
        "{}",
        json.stdout
    );

    project.run(&["release", "hf-local-v1.0.0"]).assert_ok();
    assert!(
        files_in(&project.local_index().join("open-ticket-ai-hf-local"))
            .contains(&"open_ticket_ai_hf_local-1.0.0-py3-none-any.whl".to_string())
    );
    // `ci resolve` (what a CI job runs) agrees.
    let ci = project.run(&["ci", "resolve", "hf-local-v1.0.0"]);
    ci.assert_ok();
    let shown = format!("{}{}", ci.stdout, ci.stderr);
    assert!(
        shown.contains("repository local") && !shown.contains("nowhere"),
        "{shown}"
    );
}

#[test]
fn a_tag_older_than_the_config_uses_the_working_tree_and_says_so() {
    let project = Project::sample(&[]);
    project.tag("hf-local-v1.0.0");
    let short = git(
        &project.root,
        &["rev-parse", "--short=10", "hf-local-v1.0.0^{commit}"],
    );
    project.configure("local", "");
    let plan = project.run(&["plan", "hf-local-v1.0.0"]);
    plan.assert_ok();
    assert!(
        plan.stderr.contains(&format!(
            "config     tagpub.toml from the working tree (the tagged commit {short} has no tagpub config)"
        )),
        "{}",
        plan.stderr
    );
    // A broken config at the tagged commit is an error naming that file.
    let config = std::fs::read_to_string(project.root.join("tagpub.toml")).unwrap();
    project.write("tagpub.toml", &format!("{config}\nbogus = 1\n"));
    project.commit("broken config");
    project.tag("hf-local-v1.0.1");
    let at = git(
        &project.root,
        &["rev-parse", "--short=10", "hf-local-v1.0.1^{commit}"],
    );
    project.write("tagpub.toml", &config);
    project
        .run(&["plan", "hf-local-v1.0.1"])
        .assert_fails(2, &format!("{at}:tagpub.toml:"));
    // The gate reads the same config as the release would: refused.
    gate(&project, "hf-local-v1.0.1")
        .assert_fails(
            1,
            "tagpub: refusing to push hf-local-v1.0.1: the tagpub config is invalid",
        )
        .assert_fails(1, &format!("{at}:tagpub.toml:"));
    // The older tag still passes the gate with the working tree's config.
    gate(&project, "hf-local-v1.0.0").assert_ok();
}
