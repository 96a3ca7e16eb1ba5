//! Committed symlinks that lead out of the repository (issue 12, item 3):
//! an absolute link, a link climbing above the root, and a chain of links
//! that ends outside must refuse the release before anything is built, with
//! both git backends; a link to a sibling directory inside the repository
//! still builds and publishes.

use std::path::Path;

use crate::common::PypiServer;
use crate::common::project::{Project, files_in, git};
use tagpub::git::{GitError, Repo};

const PKG_DIR: &str = "src/open_ticket_ai_hf_local/open_ticket_ai_hf_local";
const SECRET: &str = "SECRET-FROM-OUTSIDE-THE-REPOSITORY";

/// The sample monorepo publishing to `server`, plus a file outside the
/// repository (in the test's temp dir) that no release may read.
fn project(server: &PypiServer) -> Project {
    let project = Project::sample(&[]);
    project.configure(
        "testindex",
        &format!("\n[repository.testindex]\nurl = \"{}\"\n", server.url),
    );
    let outside = project.temp.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("pypirc"), SECRET).unwrap();
    project
}

fn link(project: &Project, path: &str, target: &str) {
    let path = project.root.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(target, path).unwrap();
}

/// Which links make each hostile commit, and what the refusal must name.
struct Case {
    what: &'static str,
    links: Vec<(String, String)>,
    /// The link the refusal names, and its target as committed.
    named: (String, String),
    why: &'static str,
}

fn cases(project: &Project) -> Vec<Case> {
    let outside = project.temp.path().join("outside/pypirc");
    let absolute = outside.display().to_string();
    // From PKG_DIR (three levels deep) the fourth `..` leaves the repository
    // and the fifth reaches the test's temp dir, where `outside/` is.
    let climbing = "../../../../outside/pypirc".to_string();
    vec![
        Case {
            what: "absolute",
            links: vec![(format!("{PKG_DIR}/pypirc.txt"), absolute.clone())],
            named: (format!("{PKG_DIR}/pypirc.txt"), absolute),
            why: "the target is an absolute path",
        },
        Case {
            what: "climbing",
            links: vec![(format!("{PKG_DIR}/hostname.txt"), climbing.clone())],
            named: (format!("{PKG_DIR}/hostname.txt"), climbing),
            why: "it climbs above the repository root",
        },
        // `docs/up` alone is fine (it is the root); read lexically the
        // second link stays inside too (`docs/outside/pypirc`), but the
        // kernel follows `up` to the root first, and `..` then leaves it.
        Case {
            what: "chain",
            links: vec![
                ("docs/up".to_string(), "..".to_string()),
                (
                    format!("{PKG_DIR}/chained.txt"),
                    "../../../docs/up/../outside/pypirc".to_string(),
                ),
            ],
            named: (
                format!("{PKG_DIR}/chained.txt"),
                "../../../docs/up/../outside/pypirc".to_string(),
            ),
            why: "it climbs above the repository root (through docs/up -> ..)",
        },
    ]
}

#[test]
fn links_out_of_the_repository_refuse_the_release_before_building() {
    let server = PypiServer::start();
    for what in ["absolute", "climbing", "chain"] {
        let project = project(&server);
        // Each case names paths in its own project's temp dir.
        let case = cases(&project)
            .into_iter()
            .find(|c| c.what == what)
            .unwrap();
        for (path, target) in &case.links {
            link(&project, path, target);
        }
        project.commit("add links");
        project.tag("hf-local-v1.0.0");
        let (path, target) = &case.named;
        let expected = format!("{path} -> {target} ({})", case.why);

        let plan = project.run_with_token(
            &["plan", "hf-local-v1.0.0"],
            "PYPI_API_TOKEN_HF_LOCAL",
            &server.token,
        );
        plan.assert_fails(1, &expected)
            .assert_fails(1, "leads outside the repository");
        let release = project.run_with_token(
            &["release", "hf-local-v1.0.0"],
            "PYPI_API_TOKEN_HF_LOCAL",
            &server.token,
        );
        release.assert_fails(1, &expected);
        assert!(
            !release.stderr.contains("building") && !release.stderr.contains("exporting"),
            "{}: refused before building:\n{}",
            case.what,
            release.stderr
        );
        assert!(!release.stderr.contains(SECRET), "{}", release.stderr);
        assert_eq!(files_in(&server.packages_dir), Vec::<String>::new());
        // Nothing of the release was kept either.
        assert!(
            !project
                .state
                .join("data/releases/open-ticket-ai-hf-local")
                .exists(),
            "{}",
            case.what
        );

        // The pre-push gate refuses the tag too.
        let sha = git(&project.root, &["rev-parse", "refs/tags/hf-local-v1.0.0"]);
        let zero = "0".repeat(40);
        project
            .run_with_stdin(
                &["hook", "pre-push", "origin", "/tmp/remote.git"],
                &format!("refs/tags/hf-local-v1.0.0 {sha} refs/tags/hf-local-v1.0.0 {zero}\n"),
            )
            .assert_fails(1, &expected);

        // The export itself refuses, with either backend, and writes nothing.
        let commit = git(&project.root, &["rev-parse", "HEAD"]);
        for repo in [
            Repo::discover(&project.root).unwrap(),
            Repo::discover_with_cli(&project.root).unwrap(),
        ] {
            let symlinks = repo.symlinks(&commit).unwrap();
            assert_eq!(symlinks.total, case.links.len(), "{}", case.what);
            assert_eq!(
                symlinks
                    .escaping
                    .iter()
                    .map(|l| l.to_string())
                    .collect::<Vec<_>>(),
                std::slice::from_ref(&expected),
                "{} via {:?}",
                case.what,
                repo.backend()
            );
            let out = tempfile::tempdir().unwrap();
            let err = repo.export(&commit, out.path()).unwrap_err();
            assert!(
                matches!(&err, GitError::LinkOutsideTree { path: p, target: t, .. }
                    if p == path && t == target),
                "{} via {:?}: {err}",
                case.what,
                repo.backend()
            );
            assert!(
                err.to_string().contains(&format!("{path} -> {target}")),
                "{err}"
            );
            assert_eq!(
                std::fs::read_dir(out.path()).unwrap().count(),
                0,
                "{} via {:?}: nothing exported",
                case.what,
                repo.backend()
            );
        }
    }
}

/// A loop of links, and one that goes through many links inside the tree
/// before climbing out, are refused by both backends without hanging.
#[test]
fn link_loops_and_long_chains_are_refused() {
    let project = Project::sample(&[]);
    link(&project, "loop/a", "b");
    link(&project, "loop/b", "a");
    // l0 -> l1 -> … -> l9 -> ../.. (above the root).
    for k in 0..9 {
        link(&project, &format!("chain/l{k}"), &format!("l{}", k + 1));
    }
    link(&project, "chain/l9", "../..");
    project.commit("links");
    let commit = git(&project.root, &["rev-parse", "HEAD"]);
    for repo in [
        Repo::discover(&project.root).unwrap(),
        Repo::discover_with_cli(&project.root).unwrap(),
    ] {
        let escaping: Vec<String> = repo
            .symlinks(&commit)
            .unwrap()
            .escaping
            .iter()
            .map(|l| l.to_string())
            .collect();
        assert!(
            escaping
                .contains(&"loop/a -> b (it goes through more than 40 links (a loop))".to_string()),
            "{escaping:?}"
        );
        assert!(
            escaping.contains(
                &"chain/l0 -> l1 (it climbs above the repository root (through chain/l9 -> ../..))"
                    .to_string()
            ),
            "{escaping:?}"
        );
        assert_eq!(escaping.len(), 12, "{escaping:?}");
    }
}

/// Links that stay inside the repository keep working: the core package
/// (setuptools, at the root) links a module from a sibling directory and
/// one of its own. (hatchling keeps links in its sdist as links, which
/// `tagpub check` refuses when they leave the package's directory: that is
/// the archive rule, not this one.)
#[test]
fn links_inside_the_repository_still_build_and_publish() {
    let server = PypiServer::start();
    let project = project(&server);
    link(
        &project,
        "open_ticket_ai/plugin_copy.py",
        "../src/open_ticket_ai_hf_local/open_ticket_ai_hf_local/__init__.py",
    );
    link(&project, "open_ticket_ai/alias.py", "./__init__.py");
    project.commit("link modules");
    project.tag("v1.0.0");

    let plan = project.run_with_token(&["plan", "v1.0.0"], "PYPI_API_TOKEN", &server.token);
    plan.assert_ok();
    assert!(
        plan.stderr.contains("2 symlinks at") && plan.stderr.contains("all inside the repository"),
        "{}",
        plan.stderr
    );
    project
        .run_with_token(&["release", "v1.0.0"], "PYPI_API_TOKEN", &server.token)
        .assert_ok();
    let wheel = server
        .packages_dir
        .join("open_ticket_ai-1.0.0-py3-none-any.whl");
    assert_eq!(
        read_member(&wheel, "open_ticket_ai/plugin_copy.py"),
        std::fs::read_to_string(project.root.join(format!("{PKG_DIR}/__init__.py"))).unwrap(),
        "the sibling directory's file was packaged"
    );
    assert!(
        read_member(&wheel, "open_ticket_ai/alias.py").contains("Core package"),
        "the link within the package was packaged"
    );
}

fn read_member(wheel: &Path, name: &str) -> String {
    use std::io::Read;
    let mut zip = zip::ZipArchive::new(std::fs::File::open(wheel).unwrap()).unwrap();
    let mut text = String::new();
    zip.by_name(name)
        .unwrap_or_else(|_| panic!("{name} is in {}", wheel.display()))
        .read_to_string(&mut text)
        .unwrap();
    text
}
