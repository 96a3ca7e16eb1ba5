//! Builds run in a checkout of the tagged commit with git metadata (issue
//! 13, item 2): setuptools-scm's version and file finder work as in a CI
//! checkout of the tag, a blobless clone releases (git fetches what it
//! lacks), and an object nobody can provide is named with its path. The
//! checkout cache (`Repo::checkout`): a reused slot equals a fresh clone
//! whatever the last build left, builds at once never share a slot, and
//! builds from it hold the files and bytes of a build in a fresh clone.

use crate::common;

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::common::project::{Project, git};
use tagpub::git::{Backend, GitError, Repo};

/// Every `.tar.gz` under `dir`, recursively.
fn sdists_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.to_string_lossy().ends_with(".tar.gz") {
                found.push(path);
            }
        }
    }
    found
}

fn sdist_members(path: &Path) -> Vec<String> {
    let file = std::fs::File::open(path).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect()
}

/// A repository whose only package lives in `packages/scmpkg` and takes its
/// version from setuptools-scm (`root = "../.."`, a `tag_regex`), built with
/// the pretend variables unset so only git can give the version.
fn scm_project() -> Project {
    let project = Project::empty(&[]);
    project.write(
        "tagpub.toml",
        "[defaults]\nrepository = \"local\"\n\
         build-command = [\"sh\", \"-c\", \"unset SETUPTOOLS_SCM_PRETEND_VERSION SETUPTOOLS_SCM_PRETEND_VERSION_FOR_SCMPKG; \
         env | grep -c PRETEND_VERSION || true; exec uv build --sdist --wheel --out-dir \\\"$0\\\" .\", \"{outdir}\"]\n\n\
         [[package]]\nname = \"scmpkg\"\npath = \"packages/scmpkg\"\ntags = [\"scm-v{version}\"]\n",
    );
    project.write(
        "packages/scmpkg/pyproject.toml",
        r#"[build-system]
requires = ["setuptools>=69", "setuptools-scm>=8"]
build-backend = "setuptools.build_meta"

[project]
name = "scmpkg"
dynamic = ["version"]
description = "versioned by its tag"
readme = "README.md"
license = "MIT"

[tool.setuptools]
packages = ["scmpkg"]

[tool.setuptools_scm]
root = "../.."
tag_regex = '^scm-v(?P<version>[0-9][0-9.]*)$'
"#,
    );
    project.write(
        "packages/scmpkg/README.md",
        "# scmpkg\n\nVersioned by git.\n",
    );
    project.write("packages/scmpkg/scmpkg/__init__.py", "NAME = 'scmpkg'\n");
    // Tracked, but neither package data nor in a MANIFEST.in: only
    // setuptools-scm's git file finder puts it into the sdist.
    project.write(
        "packages/scmpkg/notes/tracked-only.txt",
        "found by the file finder\n",
    );
    project.write("README.md", "# the monorepo\n");
    project.commit("scmpkg");
    project
}

#[test]
fn setuptools_scm_sees_the_tag_and_the_tracked_files() {
    let project = scm_project();
    project.tag("scm-v1.2.3");
    // An untracked file in the working tree must not reach the build.
    project.write("packages/scmpkg/notes/untracked.txt", "not committed\n");

    let run = project.run(&["release", "--dry-run", "scm-v1.2.3"]);
    run.assert_ok();
    let sdists = sdists_under(&project.state.join("data/releases/scmpkg"));
    let [sdist] = sdists.as_slice() else {
        panic!("one sdist expected: {sdists:?}\n{}", run.stderr);
    };
    // The version came from the tag through git: the build ran with the
    // pretend variables unset, and without git metadata setuptools-scm
    // cannot find any version at all.
    assert!(
        sdist.ends_with("scmpkg-1.2.3.tar.gz"),
        "{}: {}",
        sdist.display(),
        run.stderr
    );
    let members = sdist_members(sdist);
    assert!(
        members.contains(&"scmpkg-1.2.3/notes/tracked-only.txt".to_string()),
        "the scm file finder's file is missing: {members:?}"
    );
    assert!(
        !members.iter().any(|m| m.contains("untracked")),
        "an untracked file reached the sdist: {members:?}"
    );
}

/// The sample monorepo, configured and tagged, served from a bare repository
/// that allows `--filter`, and a blobless clone of it (`client`).
struct Blobless {
    _origin: Project,
    server: PathBuf,
    client: Project,
}

/// With `move_on`, `main` moves past the tag, so the clone's checkout of
/// `main` leaves the tagged commit's changed files unfetched.
fn blobless(clone_args: &[&str], move_on: bool) -> Blobless {
    let origin = Project::sample(&[]);
    origin.configure("local", "");
    origin.tag("v1.0.0");
    if move_on {
        origin.write("open_ticket_ai/__init__.py", "NAME = \"next\"\n");
        origin.write("README.md", "# next\n");
        origin.commit("after the release");
    }
    let server = origin.temp.path().join("server.git");
    git(
        origin.temp.path(),
        &["clone", "--quiet", "--bare", "repo", "server.git"],
    );
    git(&server, &["config", "uploadpack.allowFilter", "true"]);
    let temp = tempfile::tempdir().unwrap();
    let root = temp.path().join("client");
    let state = temp.path().join("state");
    let url = format!("file://{}", server.display());
    let mut args = vec!["clone", "--quiet", "--filter=blob:none"];
    args.extend_from_slice(clone_args);
    args.extend([url.as_str(), "client"]);
    git(temp.path(), &args);
    Blobless {
        _origin: origin,
        server,
        client: Project { temp, root, state },
    }
}

fn missing_objects(dir: &Path, rev: &str) -> usize {
    let out = common::project::git_command(
        "git",
        dir,
        &["rev-list", "--objects", "--missing=print", rev],
    )
    .env("GIT_NO_LAZY_FETCH", "1")
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('?'))
        .count()
}

#[test]
fn a_blobless_clone_releases() {
    let b = blobless(&[], true);
    let root = &b.client.root;
    let before = missing_objects(root, "v1.0.0");
    assert!(before > 0, "the clone is not blobless");
    assert_eq!(Repo::discover(root).unwrap().backend(), Backend::Cli);

    let run = b.client.run(&["release", "--dry-run", "v1.0.0"]);
    run.assert_ok();
    let sdists = sdists_under(&b.client.state.join("data/releases/open-ticket-ai"));
    assert!(
        sdists
            .iter()
            .any(|s| s.ends_with("open_ticket_ai-1.0.0.tar.gz")),
        "{sdists:?}\n{}",
        run.stderr
    );
    // The promisor remote lent to the checkout is gone from its config
    // (a URL may hold a credential the build must not read).
    let dest = tempfile::tempdir().unwrap();
    let commit = git(root, &["rev-parse", "v1.0.0^{commit}"]);
    Repo::discover(root)
        .unwrap()
        .export(&commit, dest.path())
        .unwrap();
    let config = std::fs::read_to_string(dest.path().join(".git/config")).unwrap();
    assert!(!config.contains("server.git"), "{config}");
    assert!(dest.path().join("open_ticket_ai/__init__.py").is_file());
    // The build's checkout fetched into its own clone, not into the user's.
    assert!(
        missing_objects(root, "v1.0.0") > 0,
        "the user's partial clone was filled in"
    );
}

#[test]
fn a_missing_object_is_named_with_its_path_and_the_fix() {
    // --sparse: only the top-level files' blobs (what plan reads for the
    // root package) are fetched; everything below stays on the server.
    let b = blobless(&["--sparse"], false);
    let root = &b.client.root;
    std::fs::rename(&b.server, b.server.with_extension("gone")).unwrap();

    let run = b.client.run(&["release", "--dry-run", "v1.0.0"]);
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("is not in this repository")
            && run.stderr.contains("open_ticket_ai/")
            && run.stderr.contains("promisor remote file://")
            && run.stderr.contains("git fetch"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("building open-ticket-ai"),
        "{}",
        run.stderr
    );

    // The same through the library, with the path of one missing file.
    let repo = Repo::discover(root).unwrap();
    let commit = git(root, &["rev-parse", "v1.0.0^{commit}"]);
    let dest = tempfile::tempdir().unwrap();
    match repo.export(&commit, dest.path()) {
        Err(GitError::MissingObject { path, count, .. }) => {
            let tracked = git(root, &["ls-tree", "-r", "--name-only", &commit]);
            assert!(tracked.lines().any(|l| l == path), "{path}");
            assert!(path.contains('/'), "a top-level file was missing: {path}");
            assert!(count >= 1);
        }
        other => panic!("expected MissingObject, got {other:?}"),
    }
}

/// The checkout is a real repository at the tag: `git describe` finds the
/// tag, HEAD is detached at the commit, and nothing of the working tree
/// (uncommitted or untracked) is in it.
#[test]
fn the_checkout_has_the_tag_and_no_working_tree_changes() {
    let project = scm_project();
    project.tag("scm-v1.2.3");
    project.write("packages/scmpkg/scmpkg/__init__.py", "NAME = 'edited'\n");
    project.write("untracked.txt", "x\n");
    let commit = git(&project.root, &["rev-parse", "scm-v1.2.3^{commit}"]);
    for repo in [
        Repo::discover(&project.root).unwrap(),
        Repo::discover_with_cli(&project.root).unwrap(),
    ] {
        let dest = tempfile::tempdir().unwrap();
        repo.export(&commit, dest.path()).unwrap();
        let d = dest.path();
        assert_eq!(git(d, &["rev-parse", "HEAD"]), commit);
        assert_eq!(
            git(d, &["describe", "--tags", "--exact-match"]),
            "scm-v1.2.3"
        );
        assert_eq!(git(d, &["status", "--porcelain"]), "");
        let mut init = String::new();
        std::fs::File::open(d.join("packages/scmpkg/scmpkg/__init__.py"))
            .unwrap()
            .read_to_string(&mut init)
            .unwrap();
        assert_eq!(init, "NAME = 'scmpkg'\n", "{:?}", repo.backend());
        assert!(!d.join("untracked.txt").exists());
        // The user's repository gained no worktree and no ref.
        assert_eq!(git(&project.root, &["worktree", "list"]).lines().count(), 1);
    }
}

/// hatch-vcs reads the version from the tag in the checkout (with the
/// pretend variables unset, nothing else could give it).
#[test]
fn hatch_vcs_reads_the_tag() {
    let project = Project::empty(&[]);
    project.write(
        "tagpub.toml",
        "[defaults]\nrepository = \"local\"\n\
         build-command = [\"sh\", \"-c\", \"unset SETUPTOOLS_SCM_PRETEND_VERSION SETUPTOOLS_SCM_PRETEND_VERSION_FOR_HV; \
         exec uv build --sdist --wheel --out-dir \\\"$0\\\" .\", \"{outdir}\"]\n\n\
         [[package]]\nname = \"hv\"\npath = \"pkgs/hv\"\ntags = [\"hv-v{version}\"]\n",
    );
    project.write(
        "pkgs/hv/pyproject.toml",
        r#"[build-system]
requires = ["hatchling", "hatch-vcs"]
build-backend = "hatchling.build"

[project]
name = "hv"
dynamic = ["version"]
description = "versioned by hatch-vcs"

[tool.hatch.version]
source = "vcs"
raw-options = { root = "../..", git_describe_command = ["git", "describe", "--dirty", "--tags", "--long", "--match", "hv-v*"] }
"#,
    );
    project.write("pkgs/hv/hv/__init__.py", "NAME = 'hv'\n");
    project.commit("hv");
    // Another package's later tag on the same commit must not be picked.
    project.tag("hv-v0.4.2");
    project.tag("other-v9.9.9");

    let run = project.run(&["release", "--dry-run", "hv-v0.4.2"]);
    run.assert_ok();
    let sdists = sdists_under(&project.state.join("data/releases/hv"));
    assert!(
        sdists.iter().any(|s| s.ends_with("hv-0.4.2.tar.gz")),
        "{sdists:?}\n{}",
        run.stderr
    );
}

/// The sparse variant writes the root's files and the package's directory
/// only, with the same git metadata.
#[test]
fn a_sparse_checkout_holds_the_package_and_the_root_files() {
    let project = scm_project();
    project.write("other/big.txt", "elsewhere\n");
    project.commit("another directory");
    project.tag("scm-v1.2.3");
    let commit = git(&project.root, &["rev-parse", "HEAD"]);
    let repo = Repo::discover(&project.root).unwrap();
    let dest = tempfile::tempdir().unwrap();
    repo.export_sparse(&commit, dest.path(), &["packages/scmpkg"])
        .unwrap();
    let d = dest.path();
    assert!(d.join("packages/scmpkg/notes/tracked-only.txt").is_file());
    assert!(d.join("README.md").is_file());
    assert!(d.join("tagpub.toml").is_file());
    assert!(!d.join("other").exists());
    assert_eq!(git(d, &["rev-parse", "HEAD"]), commit);
    assert_eq!(git(d, &["describe", "--tags"]), "scm-v1.2.3");
    assert!(matches!(
        repo.export_sparse(&commit, tempfile::tempdir().unwrap().path(), &["../x"]),
        Err(GitError::InvalidPath { .. })
    ));
}

// ---- the checkout cache (`Repo::checkout`) ---------------------------------

/// Everything a build can see of a work tree but its `.git`: each path with
/// its kind, executable bit and bytes (a link's target); empty dirs too.
fn snapshot(root: &Path) -> Vec<(String, String)> {
    use std::os::unix::fs::PermissionsExt;
    let mut seen = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            if rel == ".git" {
                continue;
            }
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let what = if meta.is_symlink() {
                format!("link {}", std::fs::read_link(&path).unwrap().display())
            } else if meta.is_dir() {
                pending.push(path);
                "dir".to_string()
            } else {
                format!(
                    "file exec={} {}",
                    meta.permissions().mode() & 0o111 != 0,
                    String::from_utf8_lossy(&std::fs::read(&path).unwrap())
                )
            };
            seen.push((rel, what));
        }
    }
    seen.sort();
    seen
}

/// `git clone` of `root` with `rev` checked out: the reference a cached
/// checkout must equal.
fn fresh_clone(root: &Path, rev: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    git(
        dir.path(),
        &["clone", "--quiet", root.to_str().unwrap(), "fresh"],
    );
    git(
        &dir.path().join("fresh"),
        &[
            "-c",
            "advice.detachedHead=false",
            "checkout",
            "--quiet",
            rev,
        ],
    );
    dir
}

/// What a build run in `work` could leave behind: modified tracked files
/// (one with the same size), a tracked file turned into a directory, a
/// deleted one, a mode change, untracked and ignored files and dirs, an
/// empty dir, a nested repository, and changes to the clone's own
/// metadata (a tag, a config value).
fn dirty(work: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let init = work.join("packages/scmpkg/scmpkg/__init__.py");
    // One byte changed in place: same size, same second.
    let mut same_size = std::fs::read(&init).unwrap();
    same_size[0] ^= 1;
    std::fs::write(&init, same_size).unwrap();
    std::fs::write(work.join("README.md"), "# edited by a build\n").unwrap();
    std::fs::remove_file(work.join("packages/scmpkg/README.md")).unwrap();
    std::fs::create_dir(work.join("packages/scmpkg/README.md")).unwrap();
    std::fs::remove_file(work.join("packages/scmpkg/notes/tracked-only.txt")).unwrap();
    std::fs::set_permissions(
        work.join("packages/scmpkg/pyproject.toml"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::write(work.join("packages/scmpkg/scmpkg/leftover.py"), "x = 1\n").unwrap();
    std::fs::create_dir_all(work.join("packages/scmpkg/build/lib/scmpkg")).unwrap();
    std::fs::write(work.join("packages/scmpkg/build/lib/scmpkg/stale.py"), "").unwrap();
    std::fs::write(work.join("ignored.log"), "ignored\n").unwrap();
    std::fs::create_dir_all(work.join("empty/nested")).unwrap();
    git(work, &["init", "--quiet", "nested-repo"]);
    std::fs::write(work.join("nested-repo/file"), "x\n").unwrap();
    git(work, &["tag", "left-by-a-build"]);
    git(work, &["config", "core.sparseCheckout", "true"]);
}

/// A slot of the cache reused after a build that left every kind of mess
/// is byte for byte a fresh clone's checkout, at the same commit and at
/// another; its tags follow the repository's.
#[test]
fn a_reused_checkout_equals_a_fresh_clone_whatever_the_last_build_left() {
    let project = scm_project();
    project.write(".gitignore", "*.log\n");
    project.write("gone-later.txt", "deleted by the next commit\n");
    project.commit("ignore logs");
    project.tag("scm-v1.2.3");
    let first = git(&project.root, &["rev-parse", "HEAD"]);
    let cache = tempfile::tempdir().unwrap();
    let repo = Repo::discover(&project.root).unwrap();

    let checkout = repo.checkout(&first, Some(cache.path())).unwrap();
    assert!(checkout.cached());
    let slot = checkout.path().to_path_buf();
    assert_eq!(
        snapshot(&slot),
        snapshot(
            &fresh_clone(&project.root, "scm-v1.2.3")
                .path()
                .join("fresh")
        )
    );
    dirty(&slot);
    drop(checkout);
    let inode = |path: &Path| {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).unwrap().ino()
    };
    let untouched = inode(&slot.join("tagpub.toml"));

    // The same commit again: the same slot, clean, and reset in place (a
    // file nobody changed is not written again).
    let checkout = repo.checkout(&first, Some(cache.path())).unwrap();
    assert_eq!(checkout.path(), slot, "the free slot was not reused");
    assert_eq!(
        inode(&slot.join("tagpub.toml")),
        untouched,
        "the slot was cloned again instead of reset"
    );
    let reference = fresh_clone(&project.root, "scm-v1.2.3");
    assert_eq!(snapshot(&slot), snapshot(&reference.path().join("fresh")));
    assert_eq!(git(&slot, &["tag", "--list", "left-by-a-build"]), "");
    let config = git(&slot, &["config", "--list", "--local"]);
    assert!(!config.contains("sparsecheckout"), "{config}");
    dirty(&slot);
    drop(checkout);

    // The next release: a changed, an added and a deleted file; a new tag
    // and a deleted one.
    project.write("packages/scmpkg/scmpkg/__init__.py", "NAME = 'next'\n");
    project.write("packages/scmpkg/notes/second.txt", "new\n");
    git(&project.root, &["rm", "--quiet", "gone-later.txt"]);
    project.commit("next");
    project.tag("scm-v1.2.4");
    git(&project.root, &["tag", "-d", "scm-v1.2.3"]);
    let second = git(&project.root, &["rev-parse", "HEAD"]);
    for backend in [
        Repo::discover(&project.root).unwrap(),
        Repo::discover_with_cli(&project.root).unwrap(),
    ] {
        let checkout = backend.checkout(&second, Some(cache.path())).unwrap();
        assert_eq!(checkout.path(), slot);
        assert_eq!(inode(&slot.join("tagpub.toml")), untouched);
        let reference = fresh_clone(&project.root, "scm-v1.2.4");
        assert_eq!(snapshot(&slot), snapshot(&reference.path().join("fresh")));
        assert_eq!(git(&slot, &["rev-parse", "HEAD"]), second);
        assert_eq!(git(&slot, &["describe", "--tags"]), "scm-v1.2.4");
        assert_eq!(git(&slot, &["tag", "--list"]), "scm-v1.2.4");
        assert_eq!(git(&slot, &["status", "--porcelain", "--ignored"]), "");
        dirty(&slot);
    }
    // The user's repository is untouched by all of it.
    assert_eq!(git(&project.root, &["status", "--porcelain"]), "");
    assert_eq!(git(&project.root, &["tag", "--list"]), "scm-v1.2.4");
}

/// Builds at once never share a slot: within one process (a group's
/// workers) each holds its own, another process's lock is respected, and
/// when every slot is held the build gets a temporary checkout.
#[test]
fn builds_at_once_never_share_a_checkout() {
    let project = scm_project();
    project.tag("scm-v1.2.3");
    let commit = git(&project.root, &["rev-parse", "HEAD"]);
    let cache = tempfile::tempdir().unwrap();
    let repo = Repo::discover(&project.root).unwrap();
    drop(repo.checkout(&commit, Some(cache.path())).unwrap());
    let [dir] = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect::<Vec<_>>()
        .try_into()
        .unwrap();

    // Another process holds slot 0.
    let lock = dir.join("slot-0.lock");
    let mut holder = std::process::Command::new("flock")
        .args(["--exclusive", "--no-fork"])
        .arg(&lock)
        .args(["sleep", "60"])
        .spawn()
        .unwrap();
    let file = std::fs::File::open(&lock).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while file.try_lock().is_ok() {
        file.unlock().unwrap();
        assert!(std::time::Instant::now() < deadline, "flock never locked");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }

    let held: Vec<_> = (0..3)
        .map(|_| repo.checkout(&commit, Some(cache.path())).unwrap())
        .collect();
    let extra = repo.checkout(&commit, Some(cache.path())).unwrap();
    let mut paths: Vec<PathBuf> = held.iter().map(|c| c.path().to_path_buf()).collect();
    assert!(held.iter().all(|c| c.cached()));
    assert!(
        !paths.contains(&dir.join("slot-0/work")),
        "took the slot another process holds: {paths:?}"
    );
    assert!(!extra.cached(), "a fifth build got a cached slot");
    assert!(!extra.path().starts_with(cache.path()));
    paths.push(extra.path().to_path_buf());
    paths.sort();
    paths.dedup();
    assert_eq!(paths.len(), 4, "{paths:?}");
    let reference = fresh_clone(&project.root, "scm-v1.2.3");
    for checkout in held.iter().chain([&extra]) {
        assert_eq!(
            snapshot(checkout.path()),
            snapshot(&reference.path().join("fresh"))
        );
        assert_eq!(git(checkout.path(), &["rev-parse", "HEAD"]), commit);
    }
    let extra_dir = extra.path().to_path_buf();
    drop(extra);
    assert!(!extra_dir.exists(), "the temporary checkout stayed behind");
    holder.kill().unwrap();
    holder.wait().unwrap();
    // Released by the other process: slot 0 is used again.
    drop(held);
    let again = repo.checkout(&commit, Some(cache.path())).unwrap();
    assert_eq!(again.path(), dir.join("slot-0/work"));
}

/// The members of an sdist or wheel with their bytes.
fn members_with_bytes(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut found = Vec::new();
    if path.to_string_lossy().ends_with(".whl") {
        let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
        for i in 0..zip.len() {
            let mut member = zip.by_index(i).unwrap();
            let mut bytes = Vec::new();
            member.read_to_end(&mut bytes).unwrap();
            found.push((member.name().to_string(), bytes));
        }
    } else {
        let file = std::fs::File::open(path).unwrap();
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().display().to_string();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            found.push((name, bytes));
        }
    }
    found.sort();
    found
}

/// tagpub's builds from the cache (a fresh slot, then the slot reused at the
/// next release after a build left files in it) hold exactly the files, with
/// the same bytes, that `uv build` gives in a fresh `git clone` checked out
/// at the tag; the setuptools-scm package (`root = "../.."`) has the
/// tracked file only its git file finder includes.
#[test]
fn builds_from_the_cache_hold_what_a_fresh_clone_builds() {
    let project = scm_project();
    project.tag("scm-v1.2.3");
    project
        .run(&["release", "--dry-run", "scm-v1.2.3"])
        .assert_ok();
    let slots: Vec<PathBuf> = std::fs::read_dir(project.state.join("data/checkouts"))
        .unwrap()
        .map(|e| e.unwrap().path().join("slot-0/work"))
        .collect();
    let [slot] = slots.as_slice() else {
        panic!("one cached checkout expected: {slots:?}")
    };
    // What a build could leave: an untracked module setuptools would
    // package, an untracked note, a tracked file changed.
    std::fs::write(slot.join("packages/scmpkg/scmpkg/leftover.py"), "x = 1\n").unwrap();
    std::fs::write(slot.join("packages/scmpkg/notes/untracked.txt"), "x\n").unwrap();
    std::fs::write(
        slot.join("packages/scmpkg/notes/tracked-only.txt"),
        "changed by a build\n",
    )
    .unwrap();
    project.write("packages/scmpkg/notes/second.txt", "new in 1.2.4\n");
    project.commit("next");
    project.tag("scm-v1.2.4");
    let run = project.run(&["release", "--dry-run", "scm-v1.2.4"]);
    run.assert_ok();

    for version in ["1.2.3", "1.2.4"] {
        let tag = format!("scm-v{version}");
        let reference = fresh_clone(&project.root, &tag);
        let out = reference.path().join("dist");
        let status = std::process::Command::new("uv")
            .args(["build", "--quiet", "--sdist", "--wheel", "--out-dir"])
            .arg(&out)
            .arg(reference.path().join("fresh/packages/scmpkg"))
            .env_remove("SETUPTOOLS_SCM_PRETEND_VERSION")
            .env_remove("SETUPTOOLS_SCM_PRETEND_VERSION_FOR_SCMPKG")
            .status()
            .unwrap();
        assert!(status.success());
        for name in [
            format!("scmpkg-{version}.tar.gz"),
            format!("scmpkg-{version}-py3-none-any.whl"),
        ] {
            let ours = project
                .state
                .join(format!("data/releases/scmpkg/{version}/dist/{name}"));
            let ours = if ours.is_file() {
                ours
            } else {
                let found = sdists_under(&project.state.join("data/releases/scmpkg"));
                let dir = found
                    .iter()
                    .find(|p| p.ends_with(format!("scmpkg-{version}.tar.gz")))
                    .unwrap_or_else(|| panic!("no {version} sdist: {found:?}"))
                    .parent()
                    .unwrap()
                    .to_path_buf();
                dir.join(&name)
            };
            let mine = members_with_bytes(&ours);
            let theirs = members_with_bytes(&out.join(&name));
            let names =
                |m: &[(String, Vec<u8>)]| m.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
            assert_eq!(names(&mine), names(&theirs), "{name}");
            assert_eq!(mine, theirs, "{name}: same files, other bytes");
            if name.ends_with(".tar.gz") {
                assert!(
                    mine.iter()
                        .any(|(n, b)| n.ends_with("notes/tracked-only.txt")
                            && b == b"found by the file finder\n"),
                    "{name}: {:?}",
                    names(&mine)
                );
            }
        }
    }
}

/// Two tagpub builds of one tag are byte-identical whether the checkout is
/// a new slot or one an earlier release left with older file times: the
/// setuptools sdist stores file times (clamped to SOURCE_DATE_EPOCH, the
/// tag's date), so files older than the tag must not keep their time.
#[test]
fn a_reused_checkout_builds_the_same_bytes_as_a_new_one() {
    let project = scm_project();
    project.tag("scm-v1.2.3");
    project
        .run(&["release", "--dry-run", "scm-v1.2.3"])
        .assert_ok();
    // The next tag is dated after the slot's files were written.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    project.write("packages/scmpkg/notes/second.txt", "new in 1.2.4\n");
    project.commit("next");
    project.tag("scm-v1.2.4");

    let sdist = |label: &str| {
        let run = project.run(&["release", "--dry-run", "scm-v1.2.4"]);
        run.assert_ok();
        let found = sdists_under(&project.state.join("data/releases/scmpkg"));
        let path = found
            .iter()
            .find(|p| p.ends_with("scmpkg-1.2.4.tar.gz"))
            .unwrap_or_else(|| panic!("{label}: no sdist in {found:?}\n{}", run.stderr));
        std::fs::read(path).unwrap()
    };
    let reused = sdist("reused slot");
    std::fs::remove_dir_all(project.state.join("data/releases")).unwrap();
    std::fs::remove_dir_all(project.state.join("data/checkouts")).unwrap();
    let fresh = sdist("new slot");
    assert!(
        reused == fresh,
        "the sdist from the reused checkout differs from the one from a new checkout"
    );
}

/// What a build could leave to change the next checkout's bytes: an
/// untracked `.gitattributes` in the work tree, attributes in the slot's
/// `info/`, a replace ref for the next commit. None of it reaches the next
/// checkout.
#[test]
fn a_reused_checkout_ignores_attributes_and_replace_refs_a_build_left() {
    let project = scm_project();
    project.write("packages/scmpkg/notes/text.txt", "one\ntwo\n");
    project.commit("a text file");
    let first = git(&project.root, &["rev-parse", "HEAD"]);
    let cache = tempfile::tempdir().unwrap();
    let repo = Repo::discover(&project.root).unwrap();
    let checkout = repo.checkout(&first, Some(cache.path())).unwrap();
    let slot = checkout.path().to_path_buf();
    let git_dir = slot.parent().unwrap().join("git");
    // Left by the build: CRLF conversion on checkout, twice over.
    std::fs::write(
        slot.join("packages/.gitattributes"),
        "*.txt text eol=crlf\n",
    )
    .unwrap();
    std::fs::create_dir_all(git_dir.join("info")).unwrap();
    std::fs::write(git_dir.join("info/attributes"), "*.txt text eol=crlf\n").unwrap();
    drop(checkout);

    project.write("packages/scmpkg/notes/text.txt", "one\ntwo\nthree\n");
    project.commit("next");
    let second = git(&project.root, &["rev-parse", "HEAD"]);
    // A replace ref, written into the slot's git dir, standing in for the
    // next commit with the first one.
    git(
        &slot,
        &["update-ref", &format!("refs/replace/{second}"), &first],
    );
    let checkout = repo.checkout(&second, Some(cache.path())).unwrap();
    assert_eq!(checkout.path(), slot);
    assert_eq!(
        std::fs::read(slot.join("packages/scmpkg/notes/text.txt")).unwrap(),
        b"one\ntwo\nthree\n",
        "the checkout wrote other bytes than the commit's"
    );
    let reference = fresh_clone(&project.root, &second);
    assert_eq!(snapshot(&slot), snapshot(&reference.path().join("fresh")));
}

/// A build that ran without the sandbox could have rewritten the slot's git
/// dir (its index too): its slot is removed, not reused; a sandboxed
/// build's slot is kept.
#[test]
fn an_unsandboxed_build_does_not_leave_its_checkout_for_the_next() {
    let project = scm_project();
    project.tag("scm-v1.2.3");
    let slots = || -> Vec<String> {
        let root = project.state.join("data/checkouts");
        let mut found = Vec::new();
        for repo in std::fs::read_dir(&root).into_iter().flatten().flatten() {
            for entry in std::fs::read_dir(repo.path()).unwrap().flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if entry.path().is_dir() {
                    found.push(name);
                }
            }
        }
        found
    };
    project.add_defaults("sandbox = \"off\"\n", "no sandbox");
    project.tag("scm-v1.2.4");
    project
        .run(&["release", "--dry-run", "scm-v1.2.4"])
        .assert_ok();
    assert_eq!(
        slots(),
        Vec::<String>::new(),
        "an unsandboxed build's slot was kept"
    );
    if tagpub::process::sandbox::available() {
        project
            .run(&["release", "--dry-run", "scm-v1.2.3"])
            .assert_ok();
        assert_eq!(slots(), ["slot-0"], "a sandboxed build's slot is kept");
    }
}
