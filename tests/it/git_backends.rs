//! Both git backends against real repositories built with the `git` CLI.
//! Every repository kind runs through the same assertions (`check_repo`).

use std::path::{Path, PathBuf};
use std::process::Command;

use tagpub::git::{Backend, GitError, Repo};

const T1: i64 = 1704164645; // 2024-01-02T03:04:05Z, first commit
const T2: i64 = 1706933106; // 2024-02-03T04:05:06Z, second commit
const T_TAG: i64 = 1709528767; // 2024-03-04T05:06:07Z, every tag

const SSH_SIG: &str =
    "-----BEGIN SSH SIGNATURE-----\nU1NIU0lHAAAAAQ==\n-----END SSH SIGNATURE-----\n";

#[derive(Clone, Copy, Debug)]
enum Kind {
    Normal,
    Reftable,
    Sha256,
}

struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    c1: String,
    c2: String,
}

impl Fixture {
    fn git(&self, args: &[&str]) -> String {
        git_in(&self.root, args, T_TAG)
    }
}

/// Runs git isolated from the machine's configuration, with fixed identities and dates.
fn git_in(dir: &Path, args: &[&str], time: i64) -> String {
    git_with_input(dir, args, time, None)
}

fn git_with_input(dir: &Path, args: &[&str], time: i64, input: Option<&str>) -> String {
    use std::io::Write;
    let date = format!("@{time} +0000");
    let mut cmd = Command::new("git");
    cmd.arg("-C")
        .arg(dir)
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "advice.nestedTag=false",
        ])
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Ann Author")
        .env("GIT_AUTHOR_EMAIL", "ann@example.org")
        .env("GIT_COMMITTER_NAME", "Tag Ger")
        .env("GIT_COMMITTER_EMAIL", "tagger@example.org")
        .env("GIT_AUTHOR_DATE", &date)
        .env("GIT_COMMITTER_DATE", &date)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("git runs");
    if let Some(input) = input {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn git_version() -> (u32, u32) {
    let out = Command::new("git").arg("--version").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let mut nums = text
        .split_whitespace()
        .nth(2)
        .unwrap()
        .split('.')
        .map(|n| n.parse().unwrap_or(0));
    (nums.next().unwrap(), nums.next().unwrap())
}

fn write(root: &Path, rel: &str, content: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

/// Two commits (files, an executable, a symlink, nested dirs, a submodule
/// entry) and every kind of tag the backends must tell apart.
fn fixture(kind: Kind) -> Fixture {
    let needed = match kind {
        Kind::Normal => (2, 28),
        Kind::Reftable => (2, 45),
        Kind::Sha256 => (2, 29),
    };
    // The test machines have git 2.47 first on PATH; an older git would
    // silently test less, so it is a failure, not a skip.
    assert!(
        git_version() >= needed,
        "{kind:?} repositories need git {needed:?} or newer on PATH"
    );
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap().join("proj");
    std::fs::create_dir(&root).unwrap();
    let mut init = vec!["init", "-q"];
    match kind {
        Kind::Normal => {}
        Kind::Reftable => init.push("--ref-format=reftable"),
        Kind::Sha256 => init.push("--object-format=sha256"),
    }
    git_in(&root, &init, T1);

    write(&root, "README.md", "hello\n");
    write(&root, "src/pkg/__init__.py", "__version__ = '1.0'\n");
    write(&root, "src/pkg/data/nested.txt", "deep\n");
    write(&root, "run.sh", "#!/bin/sh\necho hi\n");
    std::os::unix::fs::symlink("README.md", root.join("link")).unwrap();
    git_in(&root, &["add", "-A"], T1);
    git_in(&root, &["update-index", "--chmod=+x", "run.sh"], T1);
    git_in(&root, &["commit", "-q", "-m", "first"], T1);
    let c1 = git_in(&root, &["rev-parse", "HEAD"], T1);

    write(&root, "README.md", "hello again\n");
    // A submodule entry: a commit id inside the tree.
    let gitlink = format!("160000,{c1},sub");
    git_in(
        &root,
        &["update-index", "--add", "--cacheinfo", &gitlink],
        T2,
    );
    // Not `commit -a`: it would drop `sub`, which has no checkout.
    git_in(&root, &["add", "README.md"], T2);
    git_in(&root, &["commit", "-q", "-m", "second"], T2);
    let c2 = git_in(&root, &["rev-parse", "HEAD"], T2);

    let f = Fixture {
        _tmp: tmp,
        root,
        c1,
        c2,
    };
    f.git(&["tag", "-a", "v1.0", "-m", "Release 1.0", &f.c1]);
    f.git(&["tag", "light-1"]);
    f.git(&["tag", "rel/a"]);
    // A tag of a tag.
    f.git(&["tag", "-a", "v1.0-again", "-m", "Again", "v1.0"]);
    // A tag object whose own name differs from its ref.
    f.git(&["tag", "-a", "inner-name", "-m", "Renamed", &f.c1]);
    let inner = f.git(&["rev-parse", "refs/tags/inner-name"]);
    f.git(&["update-ref", "refs/tags/outer-name", &inner]);
    f.git(&["tag", "-d", "inner-name"]);
    // A ref name that looks like an option (git tag refuses to create one).
    f.git(&["update-ref", "refs/tags/-dash", &f.c2]);
    // A "signed" tag: mktag checks the format, not the signature.
    let raw = format!(
        "object {}\ntype commit\ntag signed-1\ntagger Tag Ger <tagger@example.org> {T_TAG} +0000\n\nSigned release\n{SSH_SIG}",
        f.c2
    );
    let signed = git_with_input(&f.root, &["mktag"], T_TAG, Some(&raw));
    f.git(&["update-ref", "refs/tags/signed-1", &signed]);
    // A tag of a tree, which tagpub cannot publish.
    let tree = f.git(&["rev-parse", "HEAD^{tree}"]);
    f.git(&["update-ref", "refs/tags/tree-tag", &tree]);
    f
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(p).unwrap().permissions().mode()
}

/// The assertions every repository kind and backend must pass.
fn check_repo(f: &Fixture, repo: &Repo) {
    let (c1, c2) = (f.c1.as_str(), f.c2.as_str());
    assert_eq!(repo.workdir(), f.root);
    assert_eq!(repo.git_dir(), f.root.join(".git"));

    assert_eq!(
        repo.tag_names().unwrap(),
        [
            "-dash",
            "light-1",
            "outer-name",
            "rel/a",
            "signed-1",
            "tree-tag",
            "v1.0",
            "v1.0-again"
        ]
    );

    // Annotated tag.
    let v1 = repo.tag("v1.0").unwrap().unwrap();
    assert_eq!(v1.name, "v1.0");
    assert_eq!(v1.ref_target, f.git(&["rev-parse", "refs/tags/v1.0"]));
    assert_ne!(v1.ref_target, c1);
    assert_eq!(v1.commit, c1);
    assert_eq!(v1.commit_time, T1);
    let a = v1.annotated.unwrap();
    assert_eq!(a.object_name, "v1.0");
    assert_eq!(a.tagger_name.as_deref(), Some("Tag Ger"));
    assert_eq!(a.tagger_email.as_deref(), Some("tagger@example.org"));
    assert_eq!(a.tagger_time, Some(T_TAG));
    assert_eq!(a.message, "Release 1.0\n");
    assert!(!a.signed);

    // Lightweight tags, including one named like an option.
    for name in ["light-1", "-dash", "rel/a"] {
        let t = repo.tag(name).unwrap().unwrap();
        assert_eq!(t.name, name);
        assert_eq!((t.ref_target.as_str(), t.commit.as_str()), (c2, c2));
        assert_eq!(t.commit_time, T2);
        assert_eq!(t.annotated, None);
    }

    // The object's own name, not the ref's.
    let outer = repo.tag("outer-name").unwrap().unwrap();
    assert_eq!(outer.name, "outer-name");
    assert_eq!(outer.annotated.unwrap().object_name, "inner-name");
    assert_eq!(outer.commit, c1);

    // A tag of a tag peels to the commit; its data is the outer tag's.
    let again = repo.tag("v1.0-again").unwrap().unwrap();
    assert_eq!(again.commit, c1);
    assert_eq!(again.commit_time, T1);
    assert_ne!(again.ref_target, v1.ref_target);
    let a = again.annotated.unwrap();
    assert_eq!(a.object_name, "v1.0-again");
    assert_eq!(a.message, "Again\n");

    let signed = repo.tag("signed-1").unwrap().unwrap();
    assert_eq!(signed.commit, c2);
    let a = signed.annotated.unwrap();
    assert!(a.signed);
    assert_eq!(a.message, format!("Signed release\n{SSH_SIG}"));

    // Absent names: no glob, no prefix matching, no option parsing.
    for name in ["nope", "rel", "v1.0*", "v1", "", "--all", "v1.0^{}"] {
        assert_eq!(repo.tag(name).unwrap(), None, "{name:?}");
    }
    assert!(matches!(
        repo.tag("tree-tag"),
        Err(GitError::TagNotACommit { .. })
    ));

    // Commits.
    assert_eq!(repo.head_commit().unwrap(), c2);
    assert_eq!(repo.commit_time(c1).unwrap(), T1);
    assert_eq!(repo.commit_time(c2).unwrap(), T2);
    assert_eq!(repo.commit_time(&c2[..12]).unwrap(), T2);
    assert!(matches!(
        repo.commit_time("--help"),
        Err(GitError::InvalidObjectId(_))
    ));
    assert!(matches!(
        repo.commit_time("HEAD"),
        Err(GitError::InvalidObjectId(_))
    ));
    let missing = "0".repeat(c1.len());
    assert!(matches!(
        repo.commit_time(&missing),
        Err(GitError::UnknownCommit(_))
    ));

    // Files.
    let read = |c: &str, p: &str| repo.read_file(c, p).unwrap();
    assert_eq!(read(c1, "README.md").as_deref(), Some(&b"hello\n"[..]));
    assert_eq!(
        read(c2, "README.md").as_deref(),
        Some(&b"hello again\n"[..])
    );
    assert_eq!(
        read(c2, "src/pkg/data/nested.txt").as_deref(),
        Some(&b"deep\n"[..])
    );
    assert_eq!(read(c2, "link").as_deref(), Some(&b"README.md"[..]));
    assert_eq!(read(c2, "missing.txt"), None);
    assert_eq!(read(c2, "src/missing/x"), None);
    assert_eq!(read(c2, "README.md/x"), None);
    assert_eq!(read(c2, "src"), None);
    assert_eq!(read(c2, "sub"), None);
    assert_eq!(read(c2, ""), None);
    assert!(matches!(
        repo.read_file(c2, "../etc/passwd"),
        Err(GitError::InvalidPath { .. })
    ));

    // Directories.
    let list = |c: &str, p: &str| {
        let mut v = repo.list_dir(c, p).unwrap();
        v.sort();
        v
    };
    assert_eq!(list(c1, ""), ["README.md", "link", "run.sh", "src"]);
    assert_eq!(list(c2, ""), ["README.md", "link", "run.sh", "src", "sub"]);
    assert_eq!(list(c2, "src/pkg"), ["__init__.py", "data"]);
    assert_eq!(list(c2, "src/pkg/"), ["__init__.py", "data"]);
    assert!(list(c2, "missing").is_empty());
    assert!(list(c2, "README.md").is_empty());

    // The tree alone, without git metadata.
    let out = tempfile::tempdir().unwrap();
    let dest = out.path();
    repo.export_tree(c2, dest).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(dest)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["README.md", "link", "run.sh", "src"]); // no .git, no submodule
    assert_eq!(
        std::fs::read_to_string(dest.join("README.md")).unwrap(),
        "hello again\n"
    );
    assert_eq!(
        std::fs::read_to_string(dest.join("src/pkg/data/nested.txt")).unwrap(),
        "deep\n"
    );
    assert_eq!(mode(&dest.join("run.sh")) & 0o111, 0o111);
    assert_eq!(mode(&dest.join("README.md")) & 0o111, 0);
    assert_eq!(
        std::fs::read_link(dest.join("link")).unwrap(),
        Path::new("README.md")
    );
    // The destination must be empty.
    assert!(matches!(
        repo.export_tree(c2, dest),
        Err(GitError::DestNotEmpty(_))
    ));

    // The build's checkout: a clone at the commit, detached, with the tags.
    let out = tempfile::tempdir().unwrap();
    let dest = out.path();
    repo.export(c2, dest).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(dest)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    // The submodule stays an empty directory, as in a checkout without
    // `--recurse-submodules`.
    assert_eq!(names, [".git", "README.md", "link", "run.sh", "src", "sub"]);
    assert_eq!(std::fs::read_dir(dest.join("sub")).unwrap().count(), 0);
    assert_eq!(git_in(dest, &["rev-parse", "HEAD"], T_TAG), c2);
    assert_eq!(git_in(dest, &["status", "--porcelain"], T_TAG), "");
    let tags = git_in(dest, &["tag", "--points-at", "HEAD"], T_TAG);
    assert!(tags.lines().any(|t| t == "light-1"), "{tags}");
    assert_eq!(
        git_in(
            dest,
            &["describe", "--tags", "--match", "v1.0", "HEAD"],
            T_TAG
        ),
        "v1.0-1-g".to_string() + &c2[..7]
    );
    assert_eq!(
        std::fs::read_to_string(dest.join("src/pkg/data/nested.txt")).unwrap(),
        "deep\n"
    );
    assert_eq!(mode(&dest.join("run.sh")) & 0o111, 0o111);
    assert_eq!(
        std::fs::read_link(dest.join("link")).unwrap(),
        Path::new("README.md")
    );
    // The destination must be empty.
    assert!(matches!(
        repo.export(c2, dest),
        Err(GitError::DestNotEmpty(_))
    ));

    // Discovery from a subdirectory finds the same repository.
    let sub = Repo::discover(&f.root.join("src/pkg")).unwrap();
    assert_eq!(sub.workdir(), f.root);
    assert_eq!(sub.backend(), Repo::discover(&f.root).unwrap().backend());
}

fn run(kind: Kind, expected: Backend) {
    let f = fixture(kind);
    let repo = Repo::discover(&f.root).unwrap();
    assert_eq!(repo.backend(), expected);
    check_repo(&f, &repo);
}

#[test]
fn normal_repo_uses_libgit2() {
    run(Kind::Normal, Backend::Libgit2);
}

#[test]
fn normal_repo_through_cli_backend() {
    let f = fixture(Kind::Normal);
    let repo = Repo::discover_with_cli(&f.root).unwrap();
    assert_eq!(repo.backend(), Backend::Cli);
    check_repo(&f, &repo);
}

#[test]
fn backends_agree_on_every_tag() {
    let f = fixture(Kind::Normal);
    let (lib, cli) = (
        Repo::discover(&f.root).unwrap(),
        Repo::discover_with_cli(&f.root).unwrap(),
    );
    assert_eq!(lib.tag_names().unwrap(), cli.tag_names().unwrap());
    for name in lib.tag_names().unwrap() {
        match (lib.tag(&name), cli.tag(&name)) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{name}"),
            (Err(_), Err(_)) => {}
            (a, b) => panic!("{name}: backends disagree: {a:?} vs {b:?}"),
        }
    }
}

#[test]
fn reftable_repo_uses_cli() {
    run(Kind::Reftable, Backend::Cli);
}

#[test]
fn sha256_repo_uses_cli() {
    run(Kind::Sha256, Backend::Cli);
}

#[test]
fn plain_directory_is_not_a_repository() {
    let tmp = tempfile::tempdir().unwrap();
    // Keep discovery from walking up into a repository around the temp dir.
    let dir = tmp.path().join("plain");
    std::fs::create_dir(&dir).unwrap();
    let err = Repo::discover(&dir).err().expect("not a repository");
    assert!(
        matches!(err, GitError::NotARepository { .. }),
        "unexpected error: {err}"
    );
    assert!(matches!(
        Repo::discover_with_cli(&dir),
        Err(GitError::NotARepository { .. })
    ));
}

#[test]
fn linked_worktree_and_bare_clone() {
    let f = fixture(Kind::Normal);
    let wt = f.root.parent().unwrap().join("wt");
    f.git(&[
        "worktree",
        "add",
        "-q",
        "--detach",
        wt.to_str().unwrap(),
        &f.c1,
    ]);
    let bare = f.root.parent().unwrap().join("bare.git");
    f.git(&[
        "clone",
        "-q",
        "--bare",
        f.root.to_str().unwrap(),
        bare.to_str().unwrap(),
    ]);

    for repo in [
        Repo::discover(&wt).unwrap(),
        Repo::discover_with_cli(&wt).unwrap(),
    ] {
        assert_eq!(repo.workdir(), wt);
        assert_eq!(repo.git_dir(), f.root.join(".git/worktrees/wt"));
        assert_eq!(repo.head_commit().unwrap(), f.c1);
        assert!(repo.tag_names().unwrap().contains(&"v1.0".to_string()));
        assert_checkout(&repo, &f.c1);
    }
    for repo in [
        Repo::discover(&bare).unwrap(),
        Repo::discover_with_cli(&bare).unwrap(),
    ] {
        assert_eq!(repo.git_dir(), bare);
        assert_eq!(repo.workdir(), bare);
        assert_eq!(repo.head_commit().unwrap(), f.c2);
        assert_eq!(repo.tag("v1.0").unwrap().unwrap().commit, f.c1);
        assert_checkout(&repo, &f.c1);
    }
}

/// The build's checkout works from a linked worktree and a bare clone too.
fn assert_checkout(repo: &Repo, commit: &str) {
    let out = tempfile::tempdir().unwrap();
    repo.export(commit, out.path()).unwrap();
    assert_eq!(git_in(out.path(), &["rev-parse", "HEAD"], T_TAG), commit);
    assert_eq!(
        git_in(
            out.path(),
            &["describe", "--tags", "--match", "v1.0"],
            T_TAG
        ),
        "v1.0"
    );
}

/// Trees written with `git mktree` can hold names no checkout would accept;
/// neither backend may write them.
#[test]
fn export_refuses_hostile_trees() {
    let f = fixture(Kind::Normal);
    let blob = git_with_input(&f.root, &["hash-object", "-w", "--stdin"], T1, Some("x\n"));
    for name in ["..", ".git", ".GIT"] {
        let listing = format!("100644 blob {blob}\t{name}\n");
        let tree = git_with_input(&f.root, &["mktree"], T1, Some(&listing));
        let commit = f.git(&["commit-tree", "-m", "evil", &tree]);
        for repo in [
            Repo::discover(&f.root).unwrap(),
            Repo::discover_with_cli(&f.root).unwrap(),
        ] {
            let out = tempfile::tempdir().unwrap();
            let dest = out.path().join("dest");
            std::fs::create_dir(&dest).unwrap();
            let err = repo.export(&commit, &dest).unwrap_err();
            assert!(
                // git archive itself refuses these names before we see them.
                matches!(err, GitError::UnsafeEntry { .. })
                    || (repo.backend() == Backend::Cli
                        && matches!(&err, GitError::Command { stderr, .. }
                            if stderr.contains("invalid path"))),
                "{name} via {:?}: {err}",
                repo.backend()
            );
            // Nothing escaped next to the destination.
            assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 1);
        }
    }
}
