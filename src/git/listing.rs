//! A commit's whole tree as one listing (`TreeListing`), built by either
//! backend before anything is written: every name checked, every symlink's
//! target resolved the way the kernel would in an export. Pure data: nothing
//! here runs git or touches the disk.

use super::GitError;

pub(super) const MODE_TREE: u32 = 0o040000;
pub(super) const MODE_EXEC: u32 = 0o100755;
pub(super) const MODE_LINK: u32 = 0o120000;
pub(super) const MODE_GITLINK: u32 = 0o160000;

/// Refuses names that could write outside the destination or into a git dir,
/// even though well-formed trees never contain them.
pub(super) fn check_entry_name(name: &[u8], path: &str) -> Result<(), GitError> {
    let reason = if name.is_empty() {
        "empty name"
    } else if name.contains(&b'/') || name.contains(&b'\\') || name.contains(&0) {
        "name contains a path separator"
    } else if name == b"." || name == b".." {
        "name is . or .."
    } else if name.eq_ignore_ascii_case(b".git") {
        "name is .git"
    } else {
        return Ok(());
    };
    Err(GitError::UnsafeEntry {
        path: path.to_string(),
        reason,
    })
}

// ---- the tree's listing and its symlinks -------------------------------------

/// How many symlinks one path may go through, as Linux allows (MAXSYMLINKS).
const MAX_LINK_HOPS: usize = 40;

/// One entry of a commit's whole tree, parents before children.
pub(super) struct ListedEntry {
    /// `/`-separated, relative to the root; every component checked by
    /// [`check_entry_name`].
    pub(super) path: Vec<u8>,
    pub(super) mode: u32,
    pub(super) oid: String,
}

/// A commit's whole tree (submodules left out) with every symlink's target:
/// what an export writes, checked before anything is written.
pub(super) struct TreeListing {
    pub(super) entries: Vec<ListedEntry>,
    /// Symlink path → target, as committed.
    pub(super) links: std::collections::BTreeMap<Vec<u8>, Vec<u8>>,
    /// Paths of submodules (left out of the export).
    pub(super) submodules: Vec<Vec<u8>>,
}

/// A committed symlink that leads outside the repository's tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscapingLink {
    /// The link, relative to the repository root.
    pub path: String,
    /// Its target as committed.
    pub target: String,
    /// Why the target is outside (`it is an absolute path`, …).
    pub why: String,
}

impl std::fmt::Display for EscapingLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} -> {} ({})", self.path, self.target, self.why)
    }
}

impl TreeListing {
    pub(super) fn new(
        entries: Vec<ListedEntry>,
        links: Vec<(Vec<u8>, Vec<u8>)>,
        submodules: Vec<Vec<u8>>,
    ) -> TreeListing {
        TreeListing {
            entries,
            links: links.into_iter().collect(),
            submodules,
        }
    }

    /// Every symlink that resolves outside the tree, in path order.
    pub(super) fn escaping_links(&self) -> Vec<EscapingLink> {
        self.links
            .iter()
            .filter_map(|(path, target)| {
                self.resolve_link(path, target)
                    .err()
                    .map(|why| EscapingLink {
                        path: String::from_utf8_lossy(path).into_owned(),
                        target: String::from_utf8_lossy(target).into_owned(),
                        why,
                    })
            })
            .collect()
    }

    /// Follows the link at `path` the way the kernel would inside an export
    /// of this tree: component by component, through the tree's own links.
    /// `Err` says why it leaves the tree. Components that do not exist are
    /// taken as plain directories: the kernel would fail there, which is
    /// harmless, and `..` after one still counts against the root.
    fn resolve_link(&self, path: &[u8], target: &[u8]) -> Result<(), String> {
        fn via(through: Option<(&[u8], &[u8])>) -> String {
            through.map_or(String::new(), |(link, target)| {
                format!(
                    " (through {} -> {})",
                    String::from_utf8_lossy(link),
                    String::from_utf8_lossy(target)
                )
            })
        }
        let mut dir: Vec<&[u8]> = path.split(|&b| b == b'/').collect();
        dir.pop(); // a target is relative to the link's own directory
        let mut pending: std::collections::VecDeque<&[u8]> = std::collections::VecDeque::new();
        let mut hops = 0;
        // The link being followed now, once the first one led to another.
        let mut through: Option<(&[u8], &[u8])> = None;
        let mut target = target;
        loop {
            if target.is_empty() {
                return Err(format!("the target is empty{}", via(through)));
            }
            if target.starts_with(b"/") {
                return Err(format!("the target is an absolute path{}", via(through)));
            }
            for part in target.split(|&b| b == b'/').rev() {
                pending.push_front(part);
            }
            let mut next_link = None;
            while let Some(part) = pending.pop_front() {
                match part {
                    b"" | b"." => {}
                    b".." => {
                        if dir.pop().is_none() {
                            return Err(format!(
                                "it climbs above the repository root{}",
                                via(through)
                            ));
                        }
                    }
                    name => {
                        dir.push(name);
                        if let Some((link, link_target)) =
                            self.links.get_key_value(&dir.join(&b'/'))
                        {
                            dir.pop();
                            next_link = Some((link.as_slice(), link_target.as_slice()));
                            break;
                        }
                    }
                }
            }
            let Some(link) = next_link else {
                return Ok(());
            };
            hops += 1;
            if hops > MAX_LINK_HOPS {
                return Err(format!(
                    "it goes through more than {MAX_LINK_HOPS} links (a loop)"
                ));
            }
            through = Some(link);
            target = link.1;
        }
    }

    /// Refuses the first symlink that leads outside the tree.
    pub(super) fn check_links(&self) -> Result<(), GitError> {
        match self.escaping_links().into_iter().next() {
            Some(link) => Err(GitError::LinkOutsideTree {
                path: link.path,
                target: link.target,
                why: link.why,
            }),
            None => Ok(()),
        }
    }
}

pub(super) fn join_path(prefix: &[u8], name: &[u8]) -> Vec<u8> {
    let mut path = prefix.to_vec();
    if !path.is_empty() {
        path.push(b'/');
    }
    path.extend_from_slice(name);
    path
}
