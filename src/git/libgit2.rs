//! The libgit2 backend (git2, vendored libgit2): reads objects and refs in
//! process, for every repository libgit2 can fully serve. Read-only: nothing
//! here writes to the repository.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use super::export::tree::write_listing;
use super::listing::{
    ListedEntry, MODE_GITLINK, MODE_LINK, MODE_TREE, TreeListing, check_entry_name, join_path,
};
use super::{
    AnnotatedTag, Backend, GitError, Objects, TagInfo, check_hex, is_signed, libgit2_error,
};

// git2::Repository is Send but not Sync; the Mutex keeps `Repo` shareable
// across threads like any plain value.
pub(super) struct Libgit2(Mutex<git2::Repository>);

impl Libgit2 {
    /// `repo` if libgit2 can read all of it; `None` leaves it to the git CLI.
    pub(super) fn serve(repo: git2::Repository) -> Option<Libgit2> {
        libgit2_can_serve(&repo).then(|| Libgit2(Mutex::new(repo)))
    }

    fn lock(&self) -> MutexGuard<'_, git2::Repository> {
        // A panic while holding the lock cannot leave the read-only handle
        // inconsistent, so a poisoned lock is still usable.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn tag_libgit2(&self, name: &str, refname: &str) -> Result<Option<TagInfo>, GitError> {
        let repo = self.lock();
        let reference = match repo.find_reference(refname) {
            Ok(r) => r,
            // Invalid names cannot name an existing tag either.
            Err(e)
                if matches!(
                    e.code(),
                    git2::ErrorCode::NotFound | git2::ErrorCode::InvalidSpec
                ) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(libgit2_error(&format!("cannot read tag {name}"), e)),
        };
        let target = reference
            .resolve()
            .ok()
            .and_then(|r| r.target())
            .ok_or_else(|| GitError::Libgit2(format!("tag {name} is a dangling reference")))?;
        let object = repo.find_object(target, None).map_err(|e| {
            libgit2_error(&format!("cannot read the object tag {name} points at"), e)
        })?;
        let annotated = object.as_tag().map(|t| {
            let message =
                String::from_utf8_lossy(t.message_bytes().unwrap_or_default()).into_owned();
            let tagger = t.tagger();
            AnnotatedTag {
                object_name: String::from_utf8_lossy(t.name_bytes()).into_owned(),
                tagger_name: tagger
                    .as_ref()
                    .map(|s| String::from_utf8_lossy(s.name_bytes()).into_owned()),
                tagger_email: tagger
                    .as_ref()
                    .map(|s| String::from_utf8_lossy(s.email_bytes()).into_owned()),
                tagger_time: tagger.as_ref().map(|s| s.when().seconds()),
                signed: is_signed(&message),
                message,
            }
        });
        // peel() follows nested tags all the way down.
        let commit = object
            .peel_to_commit()
            .map_err(|_| GitError::TagNotACommit {
                tag: name.to_string(),
            })?;
        Ok(Some(TagInfo {
            name: name.to_string(),
            ref_target: target.to_string(),
            commit: commit.id().to_string(),
            commit_time: commit.time().seconds(),
            annotated,
        }))
    }
}

impl Objects for Libgit2 {
    fn kind(&self) -> Backend {
        Backend::Libgit2
    }

    fn tag_names(&self) -> Result<Vec<String>, GitError> {
        let repo = self.lock();
        let refs = repo
            .references_glob("refs/tags/*")
            .map_err(|e| libgit2_error("cannot list tags", e))?;
        let mut names = Vec::new();
        for r in refs {
            let r = r.map_err(|e| libgit2_error("cannot list tags", e))?;
            let full = String::from_utf8_lossy(r.name_bytes());
            if let Some(short) = full.strip_prefix("refs/tags/") {
                names.push(short.to_string());
            }
        }
        Ok(names)
    }

    fn tag(&self, name: &str, refname: &str) -> Result<Option<TagInfo>, GitError> {
        self.tag_libgit2(name, refname)
    }

    fn head_commit(&self) -> Result<String, GitError> {
        let repo = self.lock();
        let head = match repo.head() {
            Ok(h) => h,
            Err(e) if e.code() == git2::ErrorCode::UnbornBranch => {
                return Err(GitError::UnbornHead);
            }
            Err(e) => return Err(libgit2_error("cannot read HEAD", e)),
        };
        let commit = head
            .peel_to_commit()
            .map_err(|e| libgit2_error("HEAD does not point at a commit", e))?;
        Ok(commit.id().to_string())
    }

    fn commit_time(&self, commit: &str) -> Result<i64, GitError> {
        let repo = self.lock();
        Ok(find_commit(&repo, commit)?.time().seconds())
    }

    fn read_file(
        &self,
        commit: &str,
        path: &str,
        _parts: &[&str],
    ) -> Result<Option<Vec<u8>>, GitError> {
        let repo = self.lock();
        let tree = commit_tree(&repo, commit)?;
        let entry = match tree.get_path(Path::new(path.trim_end_matches('/'))) {
            Ok(e) => e,
            Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
            Err(e) => return Err(libgit2_error(&format!("cannot look up {path}"), e)),
        };
        if entry.kind() != Some(git2::ObjectType::Blob) {
            return Ok(None);
        }
        let blob = repo
            .find_blob(entry.id())
            .map_err(|e| libgit2_error(&format!("cannot read {path}"), e))?;
        Ok(Some(blob.content().to_vec()))
    }

    fn list_dir(&self, commit: &str, path: &str, parts: &[&str]) -> Result<Vec<Vec<u8>>, GitError> {
        let repo = self.lock();
        let root = commit_tree(&repo, commit)?;
        let tree = if parts.is_empty() {
            root
        } else {
            let entry = match root.get_path(Path::new(path.trim_end_matches('/'))) {
                Ok(e) => e,
                Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(vec![]),
                Err(e) => return Err(libgit2_error(&format!("cannot look up {path}"), e)),
            };
            if entry.kind() != Some(git2::ObjectType::Tree) {
                return Ok(vec![]);
            }
            repo.find_tree(entry.id())
                .map_err(|e| libgit2_error(&format!("cannot read directory {path}"), e))?
        };
        Ok(tree.iter().map(|e| e.name_bytes().to_vec()).collect())
    }

    fn commit_listing(&self, commit: &str) -> Result<(String, TreeListing), GitError> {
        let repo = self.lock();
        let commit = find_commit(&repo, commit)?;
        let tree = commit
            .tree()
            .map_err(|e| libgit2_error("cannot read the commit's tree", e))?;
        Ok((commit.id().to_string(), listing_libgit2(&repo, &tree)?))
    }

    fn export_tree(&self, commit: &str, dest: &Path) -> Result<(), GitError> {
        let repo = self.lock();
        let tree = commit_tree(&repo, commit)?;
        let listing = listing_libgit2(&repo, &tree)?;
        listing.check_links()?;
        write_listing(&repo, &listing, dest)
    }

    fn tag_targets(&self) -> Result<Vec<(String, String)>, GitError> {
        let repo = self.lock();
        let refs = repo
            .references_glob("refs/tags/*")
            .map_err(|e| libgit2_error("cannot list tags", e))?;
        let mut tags = Vec::new();
        for r in refs {
            let r = r.map_err(|e| libgit2_error("cannot list tags", e))?;
            let Some(short) = r.name_bytes().strip_prefix(b"refs/tags/") else {
                continue;
            };
            // A symbolic ref under refs/tags has no object id of its
            // own; it cannot be a release tag, so leave it out.
            if let Some(oid) = r.target() {
                tags.push((String::from_utf8_lossy(short).into_owned(), oid.to_string()));
            }
        }
        Ok(tags)
    }
}

/// libgit2 (1.9, no experimental SHA-256) may open repositories whose refs or
/// objects it cannot actually read; check the extensions ourselves.
fn libgit2_can_serve(repo: &git2::Repository) -> bool {
    let Ok(config) = repo.config() else {
        return false;
    };
    let get = |key: &str| config.get_string(key).ok().map(|v| v.to_ascii_lowercase());
    let refs_ok = get("extensions.refstorage").is_none_or(|v| v == "files");
    let objects_ok = get("extensions.objectformat").is_none_or(|v| v == "sha1");
    // libgit2 cannot fetch a partial clone's missing objects; git does.
    let complete = get("extensions.partialclone").is_none()
        && config
            .entries(Some(r"remote\..*\.promisor"))
            .map(|mut entries| {
                let mut promisor = false;
                while let Some(Ok(entry)) = entries.next() {
                    promisor |= entry
                        .value()
                        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
                }
                !promisor
            })
            .unwrap_or(true);
    refs_ok && objects_ok && complete
}

/// The whole tree of `tree`, walked without recursion (a tree may nest as
/// deep as its paths are long), with each symlink's target read.
pub(super) fn listing_libgit2(
    repo: &git2::Repository,
    tree: &git2::Tree<'_>,
) -> Result<TreeListing, GitError> {
    let mut entries = Vec::new();
    let mut links = Vec::new();
    let mut submodules = Vec::new();
    let mut pending: Vec<(git2::Oid, Vec<u8>)> = vec![(tree.id(), Vec::new())];
    while let Some((id, prefix)) = pending.pop() {
        let dir = String::from_utf8_lossy(&prefix).into_owned();
        let tree = repo
            .find_tree(id)
            .map_err(|e| libgit2_error(&format!("cannot read directory {dir}"), e))?;
        for entry in tree.iter() {
            let name = entry.name_bytes();
            let path = join_path(&prefix, name);
            let rel = String::from_utf8_lossy(&path).into_owned();
            check_entry_name(name, &rel)?;
            let mode = u32::try_from(entry.filemode_raw()).unwrap_or(0);
            match mode {
                MODE_GITLINK => {
                    submodules.push(path);
                    continue;
                }
                MODE_TREE => pending.push((entry.id(), path.clone())),
                MODE_LINK => {
                    let blob = repo
                        .find_blob(entry.id())
                        .map_err(|e| libgit2_error(&format!("cannot read {rel}"), e))?;
                    links.push((path.clone(), blob.content().to_vec()));
                }
                _ if mode & 0o170000 == 0o100000 => {}
                _ => {
                    return Err(GitError::UnsafeEntry {
                        path: rel,
                        reason: "unknown file mode",
                    });
                }
            }
            entries.push(ListedEntry {
                path,
                mode,
                oid: entry.id().to_string(),
            });
        }
    }
    Ok(TreeListing::new(entries, links, submodules))
}

pub(super) fn commit_tree<'r>(
    repo: &'r git2::Repository,
    id: &str,
) -> Result<git2::Tree<'r>, GitError> {
    find_commit(repo, id)?
        .tree()
        .map_err(|e| libgit2_error("cannot read the commit's tree", e))
}

pub(super) fn find_commit<'r>(
    repo: &'r git2::Repository,
    id: &str,
) -> Result<git2::Commit<'r>, GitError> {
    check_hex(id)?;
    let object = repo
        .find_object_by_prefix(id, None)
        .map_err(|e| match e.code() {
            git2::ErrorCode::NotFound => GitError::UnknownCommit(id.to_string()),
            _ => libgit2_error(&format!("cannot look up {id}"), e),
        })?;
    object
        .peel_to_commit()
        .map_err(|_| GitError::UnknownCommit(id.to_string()))
}
