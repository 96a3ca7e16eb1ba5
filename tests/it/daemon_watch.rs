//! The daemon's detection layer against real git and the real filesystem
//! watcher (inotify on Linux): `Repo::tag_targets` on both backends and at
//! scale, and `RefWatcher` + `debounce` seeing tag writes (loose, in new
//! subdirectories, packed, reftable) but never reads.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::project::git;
use tagpub::daemon::registry::{Registry, TagChange, diff};
use tagpub::daemon::watcher::{RefWatcher, debounce};
use tagpub::git::{Backend, Repo};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

/// A repository with one commit; `extra` goes to `git init`.
fn repo(extra: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["init", "-q", "-b", "main"];
    args.extend_from_slice(extra);
    git(dir.path(), &args);
    std::fs::write(dir.path().join("README"), "hello\n").unwrap();
    git(dir.path(), &["add", "README"]);
    git(dir.path(), &["commit", "-q", "-m", "first"]);
    let git_dir = std::fs::canonicalize(dir.path().join(".git")).unwrap();
    (dir, git_dir)
}

fn tag(dir: &Path, name: &str) {
    git(dir, &["tag", "-a", "-m", name, "--", name]);
}

/// git ≥ 2.45 (reftable) on PATH; the tests print why they skip otherwise.
fn git_has_reftable() -> bool {
    let out = Command::new("git").arg("--version").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut v = text
        .trim()
        .trim_start_matches("git version ")
        .split('.')
        .map(|n| n.parse::<u32>().unwrap_or(0));
    let (major, minor) = (v.next().unwrap_or(0), v.next().unwrap_or(0));
    let ok = (major, minor) >= (2, 45);
    if !ok {
        eprintln!(
            "skipped: {} has no reftable support (needs 2.45)",
            text.trim()
        );
    }
    ok
}

/// Creates `count` lightweight tags `t00000…` at HEAD in one ref transaction.
fn many_tags(dir: &Path, count: usize) {
    let head = git(dir, &["rev-parse", "HEAD"]);
    let mut input = String::new();
    for i in 0..count {
        input.push_str(&format!("create refs/tags/t{i:05} {head}\n"));
    }
    let mut child = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["update-ref", "--stdin"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
}

fn expected_targets(dir: &Path) -> Vec<(String, String)> {
    let out = git(
        dir,
        &[
            "for-each-ref",
            "--format=%(refname:strip=2) %(objectname)",
            "refs/tags/",
        ],
    );
    let mut v: Vec<(String, String)> = out
        .lines()
        .map(|l| {
            let (n, o) = l.split_once(' ').unwrap();
            (n.to_string(), o.to_string())
        })
        .collect();
    v.sort();
    v
}

// ---- Repo::tag_targets -------------------------------------------------------

#[test]
fn tag_targets_agree_on_both_backends() {
    let (dir, _) = repo(&[]);
    tag(dir.path(), "v1.0.0");
    git(dir.path(), &["tag", "light"]);
    tag(dir.path(), "release/x/1.0");
    git(dir.path(), &["pack-refs", "--all"]);
    // One loose and one packed-only tag, so both stores are read.
    tag(dir.path(), "v2.0.0");

    let libgit2 = Repo::discover(dir.path()).unwrap();
    let cli = Repo::discover_with_cli(dir.path()).unwrap();
    assert_eq!(libgit2.backend(), Backend::Libgit2);
    assert_eq!(cli.backend(), Backend::Cli);
    let expected = expected_targets(dir.path());
    assert_eq!(expected.len(), 4);
    assert_eq!(libgit2.tag_targets().unwrap(), expected);
    assert_eq!(cli.tag_targets().unwrap(), expected);

    // Annotated: the tag object; lightweight: the commit.
    let head = git(dir.path(), &["rev-parse", "HEAD"]);
    let targets: std::collections::BTreeMap<_, _> =
        libgit2.tag_targets().unwrap().into_iter().collect();
    assert_eq!(targets["light"], head);
    assert_eq!(
        targets["v1.0.0"],
        git(dir.path(), &["rev-parse", "refs/tags/v1.0.0"])
    );
    assert_ne!(targets["v1.0.0"], head);
    assert!(targets.contains_key("release/x/1.0"));
}

#[test]
fn tag_targets_empty_repository() {
    let (dir, _) = repo(&[]);
    assert_eq!(
        Repo::discover(dir.path()).unwrap().tag_targets().unwrap(),
        []
    );
    assert_eq!(
        Repo::discover_with_cli(dir.path())
            .unwrap()
            .tag_targets()
            .unwrap(),
        []
    );
}

#[test]
fn tag_targets_reftable() {
    if !git_has_reftable() {
        return;
    }
    let (dir, _) = repo(&["--ref-format=reftable"]);
    tag(dir.path(), "v1.0.0");
    tag(dir.path(), "release/x/1.0");
    let repo = Repo::discover(dir.path()).unwrap();
    assert_eq!(repo.backend(), Backend::Cli, "libgit2 cannot read reftable");
    assert_eq!(repo.tag_targets().unwrap(), expected_targets(dir.path()));
}

#[test]
fn tag_targets_10000_tags_is_fast() {
    let (dir, _) = repo(&[]);
    many_tags(dir.path(), 10_000);
    let libgit2 = Repo::discover(dir.path()).unwrap();
    let cli = Repo::discover_with_cli(dir.path()).unwrap();

    let time = |repo: &Repo| {
        // Best of 3: the first pass also warms the page cache.
        let mut best = Duration::MAX;
        for _ in 0..3 {
            let start = Instant::now();
            let tags = repo.tag_targets().unwrap();
            best = best.min(start.elapsed());
            assert_eq!(tags.len(), 10_000);
        }
        best
    };
    let loose = time(&libgit2);
    let loose_cli = time(&cli);
    git(dir.path(), &["pack-refs", "--all"]);
    let packed = time(&libgit2);
    let packed_cli = time(&cli);
    eprintln!(
        "tag_targets, 10 000 tags (debug test build): libgit2 loose {loose:?}, packed {packed:?}; \
         git CLI loose {loose_cli:?}, packed {packed_cli:?}"
    );
    assert!(loose < Duration::from_secs(1), "libgit2 loose: {loose:?}");
    assert!(
        packed < Duration::from_secs(1),
        "libgit2 packed: {packed:?}"
    );

    // The baseline of such a repository diffs to nothing, quickly.
    let known = libgit2.tag_targets().unwrap().into_iter().collect();
    let start = Instant::now();
    assert_eq!(diff(&known, &libgit2.tag_targets().unwrap()), vec![]);
    eprintln!("rescan + diff, 10 000 tags: {:?}", start.elapsed());
}

// ---- RefWatcher ------------------------------------------------------------

const WITHIN: Duration = Duration::from_secs(2);

fn watcher() -> (RefWatcher, UnboundedReceiver<PathBuf>) {
    let (tx, rx) = unbounded_channel();
    (RefWatcher::new(tx).unwrap(), rx)
}

/// Waits until `git_dir` is reported dirty; fails after [`WITHIN`].
async fn expect_dirty(rx: &mut UnboundedReceiver<PathBuf>, git_dir: &Path, what: &str) {
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(p)) if p == git_dir => return,
            Ok(Some(_)) => continue,
            Ok(None) => panic!("channel closed while waiting for {what}"),
            Err(_) => panic!(
                "{what}: no event for {} within {WITHIN:?}",
                git_dir.display()
            ),
        }
    }
}

/// Fails if any repository is reported dirty within `window`.
async fn expect_quiet(rx: &mut UnboundedReceiver<PathBuf>, window: Duration, what: &str) {
    if let Ok(Some(p)) = tokio::time::timeout(window, rx.recv()).await {
        panic!("{what}: unexpected event for {}", p.display());
    }
}

/// Swallows the events of a finished action (they come in bursts).
async fn settle(rx: &mut UnboundedReceiver<PathBuf>) {
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(300), rx.recv()).await {}
}

#[tokio::test]
async fn annotated_tag_marks_only_its_repo_dirty() {
    let (a, a_git) = repo(&[]);
    let (_b, b_git) = repo(&[]);
    let (mut w, mut rx) = watcher();
    assert_eq!(w.watch(&a.path().join(".git")).unwrap(), a_git);
    assert_eq!(w.watch(&b_git).unwrap(), b_git);
    let start = Instant::now();
    tag(a.path(), "v1.0.0");
    expect_dirty(&mut rx, &a_git, "git tag -a").await;
    eprintln!("git tag -a → dirty event: {:?}", start.elapsed());
    settle(&mut rx).await;

    // Only `a` was tagged; a branch commit in `b` is not a tag change.
    std::fs::write(_b.path().join("README"), "changed\n").unwrap();
    git(_b.path(), &["commit", "-q", "-am", "second"]);
    expect_quiet(&mut rx, Duration::from_millis(500), "a commit").await;
    assert_eq!(
        w.watched().collect::<BTreeSet<_>>(),
        BTreeSet::from([a_git.as_path(), b_git.as_path()])
    );
}

#[tokio::test]
async fn tag_deletion_and_force_move_are_seen() {
    let (dir, git_dir) = repo(&[]);
    tag(dir.path(), "v1.0.0");
    let (mut w, mut rx) = watcher();
    w.watch(&git_dir).unwrap();
    std::fs::write(dir.path().join("README"), "changed\n").unwrap();
    git(dir.path(), &["commit", "-q", "-am", "second"]);
    git(dir.path(), &["tag", "-f", "-a", "-m", "moved", "v1.0.0"]);
    expect_dirty(&mut rx, &git_dir, "git tag -f").await;
    settle(&mut rx).await;
    git(dir.path(), &["tag", "-d", "v1.0.0"]);
    expect_dirty(&mut rx, &git_dir, "git tag -d").await;
}

#[tokio::test]
async fn tag_in_a_new_subdirectory_is_seen() {
    let (dir, git_dir) = repo(&[]);
    let (mut w, mut rx) = watcher();
    w.watch(&git_dir).unwrap();
    // refs/tags/release/ and release/x/ do not exist yet.
    tag(dir.path(), "release/x/1.0");
    expect_dirty(&mut rx, &git_dir, "tag in new subdirectories").await;
    settle(&mut rx).await;
    // The new directories are watched now: a second tag in them is seen too.
    tag(dir.path(), "release/x/2.0");
    expect_dirty(&mut rx, &git_dir, "tag in a directory created after watch").await;
    settle(&mut rx).await;
    tag(dir.path(), "release/y/deeper/1.0");
    expect_dirty(&mut rx, &git_dir, "tag in a nested new subdirectory").await;
}

#[tokio::test]
async fn pack_refs_is_seen() {
    let (dir, git_dir) = repo(&[]);
    tag(dir.path(), "v1.0.0");
    let (mut w, mut rx) = watcher();
    w.watch(&git_dir).unwrap();
    git(dir.path(), &["pack-refs", "--all"]);
    expect_dirty(&mut rx, &git_dir, "git pack-refs --all").await;
    assert!(!git_dir.join("refs/tags/v1.0.0").exists());
}

#[tokio::test]
async fn deleting_a_packed_tag_is_seen() {
    // Only packed-refs changes here (the loose ref's lock is ignored): this
    // is what the git-dir watch filtered to `packed-refs` is for.
    let (dir, git_dir) = repo(&[]);
    tag(dir.path(), "v1.0.0");
    git(dir.path(), &["pack-refs", "--all"]);
    let (mut w, mut rx) = watcher();
    w.watch(&git_dir).unwrap();
    git(dir.path(), &["tag", "-d", "v1.0.0"]);
    expect_dirty(&mut rx, &git_dir, "deleting a packed tag").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_of_30_tags_is_one_batch() {
    let (dir, git_dir) = repo(&[]);
    let (_b, other) = repo(&[]);
    let (mut w, mut rx) = watcher();
    w.watch(&git_dir).unwrap();
    w.watch(&other).unwrap();
    let path = dir.path().to_path_buf();
    let tagger = tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        for i in 0..30 {
            tag(&path, &format!("pkg{}-v1.0.{i}", i % 3));
        }
        start.elapsed()
    });
    let batch = debounce(&mut rx, Duration::from_millis(300)).await;
    let took = tagger.await.unwrap();
    // About 60 ms here. Not asserted: a loaded CI machine may be slower, and
    // what matters is that no pause between two tags reaches the 300 ms quiet.
    eprintln!("30 tags in {took:?}");
    assert_eq!(batch, BTreeSet::from([git_dir.clone()]));
    // Nothing left over for a second batch.
    expect_quiet(&mut rx, Duration::from_millis(700), "after the batch").await;

    // The one rescan finds all 30.
    let repo = Repo::discover(dir.path()).unwrap();
    let changes = diff(&Default::default(), &repo.tag_targets().unwrap());
    assert_eq!(changes.len(), 30);
    assert!(
        changes
            .iter()
            .all(|c| matches!(c, TagChange::Created { .. }))
    );
}

#[tokio::test]
async fn reading_refs_makes_no_event() {
    let (dir, git_dir) = repo(&[]);
    tag(dir.path(), "v1.0.0");
    tag(dir.path(), "release/x/1.0");
    git(dir.path(), &["pack-refs", "--all"]);
    tag(dir.path(), "v2.0.0");
    let (mut w, mut rx) = watcher();
    w.watch(&git_dir).unwrap();
    git(dir.path(), &["tag", "--list"]);
    git(dir.path(), &["for-each-ref", "refs/tags/"]);
    git(dir.path(), &["show-ref", "--tags"]);
    git(dir.path(), &["cat-file", "-p", "v1.0.0"]);
    git(dir.path(), &["status", "--short"]);
    let libgit2 = Repo::discover(dir.path()).unwrap();
    let cli = Repo::discover_with_cli(dir.path()).unwrap();
    for repo in [&libgit2, &cli] {
        assert_eq!(repo.tag_targets().unwrap().len(), 3);
        assert!(repo.tag("v1.0.0").unwrap().is_some());
    }
    expect_quiet(&mut rx, Duration::from_millis(500), "reading refs").await;
}

#[tokio::test]
async fn reftable_tag_is_seen() {
    if !git_has_reftable() {
        return;
    }
    let (dir, git_dir) = repo(&["--ref-format=reftable"]);
    assert!(git_dir.join("reftable").is_dir());
    let (mut w, mut rx) = watcher();
    w.watch(&git_dir).unwrap();
    git(dir.path(), &["tag", "--list"]);
    expect_quiet(&mut rx, Duration::from_millis(300), "reading reftable").await;
    tag(dir.path(), "v1.0.0");
    expect_dirty(&mut rx, &git_dir, "git tag -a in a reftable repo").await;
}

#[tokio::test]
async fn repository_without_refs_tags_dir() {
    // git does not recreate refs/tags once it is gone (e.g. after pack-refs
    // and cleanup by other tools); the watch covers its creation.
    let (dir, git_dir) = repo(&[]);
    std::fs::remove_dir(git_dir.join("refs/tags")).unwrap();
    let (mut w, mut rx) = watcher();
    w.watch(&git_dir).unwrap();
    tag(dir.path(), "v1.0.0");
    expect_dirty(&mut rx, &git_dir, "first tag creating refs/tags").await;
}

#[tokio::test]
async fn unwatch_stops_events() {
    let (dir, git_dir) = repo(&[]);
    let (mut w, mut rx) = watcher();
    w.watch(&git_dir).unwrap();
    w.watch(&git_dir).unwrap(); // idempotent
    assert!(w.unwatch(&dir.path().join(".git")));
    assert!(!w.unwatch(&git_dir));
    tag(dir.path(), "v1.0.0");
    expect_quiet(&mut rx, Duration::from_millis(500), "after unwatch").await;
}

#[tokio::test]
async fn watched_repository_deleted() {
    let (a, a_git) = repo(&[]);
    let (b, b_git) = repo(&[]);
    let (mut w, mut rx) = watcher();
    w.watch(&a_git).unwrap();
    w.watch(&b_git).unwrap();
    drop(a);
    // Removing refs/tags is a tag change: the daemon rescans and finds the
    // repository gone. The other repository keeps working.
    expect_dirty(&mut rx, &a_git, "repository deleted").await;
    settle(&mut rx).await;
    tag(b.path(), "v1.0.0");
    expect_dirty(&mut rx, &b_git, "tag in the surviving repository").await;
    assert!(w.unwatch(&a_git));
}

#[tokio::test]
async fn registry_and_watcher_agree_on_the_git_dir() {
    // The watcher reports the canonical common git dir, which is the
    // registry's key, also when added from a linked worktree.
    let (dir, git_dir) = repo(&[]);
    let (_wt, wt_path) = tagpub_fixtures::git::linked_worktree(dir.path());
    let linked = Repo::discover(&wt_path).unwrap();
    let mut registry = Registry::default();
    registry.add(&linked).unwrap();
    let key = registry.repos()[0].git_dir.clone();
    assert_eq!(key, git_dir);
    let (mut w, mut rx) = watcher();
    assert_eq!(w.watch(&key).unwrap(), key);
    tag(&wt_path, "v1.0.0");
    expect_dirty(&mut rx, &key, "tag made in a linked worktree").await;
    let watched = registry.get_mut(&key).unwrap();
    let changes = diff(&watched.known, &linked.tag_targets().unwrap());
    assert!(matches!(&changes[..], [TagChange::Created { tag, .. }] if tag == "v1.0.0"));
    watched.apply(&changes);
}
