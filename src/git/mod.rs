//! Everything git that tagpub reads: the tags, commits and files of the
//! user's repository. git2 (vendored libgit2) first; the `git` CLI where
//! libgit2 cannot serve the repository (reftable refs, SHA-256 object format,
//! partial clones).
//!
//! `mod.rs` holds the public API ([`Repo`], [`TagInfo`], [`GitError`]) and
//! picks a backend once, at discovery: `libgit2.rs` and `cli.rs` each
//! implement the same small [`Objects`] trait, and every read goes through
//! [`Repo::objects`], the one place that chooses. Calls only git can answer
//! (remotes, hooks path, config) use the CLI whatever the backend.
//!
//! Neither backend writes to the repository: `export/` writes only into a
//! destination it is given (a fresh clone, a cache slot, an empty directory),
//! and the demo's repository set-up, the one writer, is `write.rs`. Strings
//! that come from outside (tag names, paths, commit ids) never reach a shell:
//! the CLI passes them as separate arguments, validated so that none can be
//! mistaken for an option.

mod cli;
mod export;
mod libgit2;
mod listing;
mod write;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

pub use export::cache::Checkout;
pub use listing::EscapingLink;
pub use write::{commit_all, create_annotated_tag, init_repository};

use listing::TreeListing;

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("{path} is not inside a git repository: run tagpub from your project's checkout")]
    NotARepository { path: PathBuf },
    #[error("git {args} failed: {stderr}")]
    Command { args: String, stderr: String },
    #[error("could not run git: {0}. Install git (2.28 or newer) and make sure it is on PATH")]
    Spawn(std::io::Error),
    #[error("{0}")]
    Libgit2(String),
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{0:?} is not a commit id: pass a hexadecimal object name such as the one `git rev-parse HEAD` prints"
    )]
    InvalidObjectId(String),
    #[error("no commit {0} in this repository: fetch it, or check the id")]
    UnknownCommit(String),
    #[error("HEAD does not point at a commit yet: make a first commit")]
    UnbornHead,
    #[error("tag {tag} does not point at a commit (it tags a tree or blob): tag a commit instead")]
    TagNotACommit { tag: String },
    #[error("invalid repository path {path:?}: {reason}")]
    InvalidPath { path: String, reason: &'static str },
    #[error("refusing to export tree entry {path:?}: {reason}")]
    UnsafeEntry { path: String, reason: &'static str },
    #[error("export destination {0} must be an existing, empty directory")]
    DestNotEmpty(PathBuf),
    #[error(
        "the tagged commit's file {path} (object {oid}{more}) is not in this repository{from}. \
         Fetch it: run `git fetch` (for a partial clone whose remote is gone, point the remote at \
         a copy that has it, or clone the repository again without --filter), then release again",
        more = if *count > 1 { format!(", and {} more", count - 1) } else { String::new() },
        from = promisor.as_ref().map(|u| format!(", and its promisor remote {u} could not provide it")).unwrap_or_default()
    )]
    MissingObject {
        path: String,
        oid: String,
        /// How many of the tree's files are missing.
        count: usize,
        /// The partial clone's promisor remote that was asked, if any.
        promisor: Option<String>,
    },
    #[error(
        "refusing to export the symlink {path} -> {target}: {why}, outside the repository. \
         A build would package whatever it points at on this machine: commit the file itself, \
         or point the link at a path inside the repository"
    )]
    LinkOutsideTree {
        path: String,
        target: String,
        why: String,
    },
}

/// An annotated tag object's own data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnotatedTag {
    /// The name recorded inside the tag object (may differ from the ref name).
    pub object_name: String,
    pub tagger_name: Option<String>,
    pub tagger_email: Option<String>,
    /// Seconds since the Unix epoch.
    pub tagger_time: Option<i64>,
    /// The raw message as stored, including a trailing signature block if any.
    pub message: String,
    /// The message carries a PGP/SSH signature block.
    pub signed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagInfo {
    /// Short ref name: `hf-local-v1.0.0` for `refs/tags/hf-local-v1.0.0`.
    pub name: String,
    /// What the ref points at: the tag object for annotated tags, else the commit.
    pub ref_target: String,
    /// The commit the tag finally peels to (hex).
    pub commit: String,
    /// The commit's committer time, seconds since the Unix epoch.
    pub commit_time: i64,
    /// `None` for a lightweight tag.
    pub annotated: Option<AnnotatedTag>,
}

/// What [`Repo::symlinks`] found in a commit's tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symlinks {
    pub total: usize,
    pub escaping: Vec<EscapingLink>,
}

/// Which engine serves this repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Libgit2,
    Cli,
}

// A directory that is no git repository is the user's mistake (exit 2).
/// A libgit2 failure, with what tagpub was doing.
pub(super) fn libgit2_error(context: &str, e: git2::Error) -> GitError {
    GitError::Libgit2(format!("{context}: {}", e.message()))
}

const SIGNATURE_MARKERS: [&str; 2] = [
    "-----BEGIN PGP SIGNATURE-----",
    "-----BEGIN SSH SIGNATURE-----",
];

/// Whether a tag's message carries a signature (both backends ask).
pub(super) fn is_signed(message: &str) -> bool {
    SIGNATURE_MARKERS.iter().any(|m| message.contains(m))
}

impl crate::exit::Classify for GitError {
    fn exit_status(&self) -> crate::exit::ExitStatus {
        match self {
            GitError::NotARepository { .. } => crate::exit::ExitStatus::Usage,
            _ => crate::exit::ExitStatus::Failed,
        }
    }
}

pub struct Repo {
    /// Always there: where git runs, and the engine for what only git can do.
    cli: cli::Git,
    /// The engine for reads when libgit2 can serve the repository.
    libgit2: Option<libgit2::Libgit2>,
}

/// The reads whose engine depends on the repository, implemented once by
/// each backend. [`Repo`] validates the input, then calls one of them.
trait Objects {
    fn kind(&self) -> Backend;
    /// Short tag names, in any order.
    fn tag_names(&self) -> Result<Vec<String>, GitError>;
    /// `refname` is `refs/tags/<name>`; `name` is non-empty, without NUL or newline.
    fn tag(&self, name: &str, refname: &str) -> Result<Option<TagInfo>, GitError>;
    fn head_commit(&self) -> Result<String, GitError>;
    fn commit_time(&self, commit: &str) -> Result<i64, GitError>;
    /// `parts` is `path` split by [`split_path`], non-empty.
    fn read_file(
        &self,
        commit: &str,
        path: &str,
        parts: &[&str],
    ) -> Result<Option<Vec<u8>>, GitError>;
    /// `parts` is `path` split by [`split_path`]; empty for the root.
    fn list_dir(&self, commit: &str, path: &str, parts: &[&str]) -> Result<Vec<Vec<u8>>, GitError>;
    /// The commit's full id and its whole tree.
    fn commit_listing(&self, commit: &str) -> Result<(String, TreeListing), GitError>;
    /// Writes the tree without git metadata into `dest` (checked empty).
    fn export_tree(&self, commit: &str, dest: &Path) -> Result<(), GitError>;
    /// Every tag's short name and ref target, in any order.
    fn tag_targets(&self) -> Result<Vec<(String, String)>, GitError>;
}

impl Repo {
    /// Finds the repository containing `path` (like `git rev-parse --show-toplevel`).
    ///
    /// For a bare repository, [`Repo::workdir`] is the git dir.
    pub fn discover(path: &Path) -> Result<Repo, GitError> {
        if !path.exists() {
            return Err(GitError::Io {
                context: format!("cannot look for a git repository at {}", path.display()),
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            });
        }
        let libgit2_err = match git2::Repository::discover(path) {
            Ok(repo) => {
                let git_dir = normalize(repo.path());
                let workdir = repo
                    .workdir()
                    .map(normalize)
                    .unwrap_or_else(|| git_dir.clone());
                if let Some(engine) = libgit2::Libgit2::serve(repo) {
                    return Ok(Repo {
                        cli: cli::Git { git_dir, workdir },
                        libgit2: Some(engine),
                    });
                }
                None
            }
            Err(e) => Some(e),
        };
        // libgit2 refused (unsupported extension, or not found): let git decide.
        match Repo::discover_with_cli(path) {
            Ok(repo) => Ok(repo),
            Err(GitError::Spawn(io)) => match libgit2_err {
                Some(e) if e.code() == git2::ErrorCode::NotFound => Err(GitError::NotARepository {
                    path: path.to_path_buf(),
                }),
                Some(e) => Err(GitError::Libgit2(format!(
                    "cannot open the repository at {}: {}; the git CLI, which could, \
                     is unavailable ({io}): install git 2.45 or newer",
                    path.display(),
                    e.message()
                ))),
                None => Err(GitError::Spawn(io)),
            },
            Err(e) => Err(e),
        }
    }

    /// Like [`Repo::discover`], but always uses the git CLI backend, even where
    /// libgit2 could serve the repository (for diagnostics and tests).
    pub fn discover_with_cli(path: &Path) -> Result<Repo, GitError> {
        Ok(Repo {
            cli: cli::discover(path)?,
            libgit2: None,
        })
    }

    /// The backend serving this repository's reads: the one dispatch point.
    fn objects(&self) -> &dyn Objects {
        match &self.libgit2 {
            Some(engine) => engine,
            None => &self.cli,
        }
    }

    pub fn backend(&self) -> Backend {
        self.objects().kind()
    }

    /// The working tree root.
    pub fn workdir(&self) -> &Path {
        &self.cli.workdir
    }

    /// The git dir (`.git`, or the worktree's git dir).
    pub fn git_dir(&self) -> &Path {
        &self.cli.git_dir
    }

    /// All tag names (short), sorted.
    pub fn tag_names(&self) -> Result<Vec<String>, GitError> {
        let mut names = self.objects().tag_names()?;
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// `None` when no such tag exists.
    pub fn tag(&self, name: &str) -> Result<Option<TagInfo>, GitError> {
        // No valid ref name is empty or contains these; such a tag cannot exist.
        if name.is_empty() || name.contains(['\0', '\n']) {
            return Ok(None);
        }
        self.objects().tag(name, &format!("refs/tags/{name}"))
    }

    /// HEAD's commit id (hex).
    pub fn head_commit(&self) -> Result<String, GitError> {
        self.objects().head_commit()
    }

    /// Committer time of a commit, seconds since the epoch.
    pub fn commit_time(&self, commit: &str) -> Result<i64, GitError> {
        self.objects().commit_time(commit)
    }

    /// A file's bytes at a commit; `None` if the path is not a blob there.
    /// `path` is relative to the repository root, `/`-separated.
    pub fn read_file(&self, commit: &str, path: &str) -> Result<Option<Vec<u8>>, GitError> {
        let parts = split_path(path)?;
        if parts.is_empty() {
            return Ok(None); // the root is a tree
        }
        self.objects().read_file(commit, path, &parts)
    }

    /// Names of the entries of a directory at a commit (`""` = root); empty if absent.
    pub fn list_dir(&self, commit: &str, path: &str) -> Result<Vec<String>, GitError> {
        let parts = split_path(path)?;
        Ok(self
            .objects()
            .list_dir(commit, path, &parts)?
            .iter()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .collect())
    }

    /// The commit's symlinks, and those that resolve outside its tree,
    /// followed the way the kernel would in an export: absolute targets,
    /// targets that climb above the root, and chains of links ending there.
    pub fn symlinks(&self, commit: &str) -> Result<Symlinks, GitError> {
        let (_, listing) = self.objects().commit_listing(commit)?;
        Ok(Symlinks {
            total: listing.links.len(),
            escaping: listing.escaping_links(),
        })
    }

    /// Every tag's short name and the object id its ref points at (the tag
    /// object for an annotated tag, the commit for a lightweight one), sorted
    /// by name. The daemon's rescan: nothing is peeled or parsed, so it stays
    /// one pass over the refs (10 000 tags in a few ms with libgit2).
    pub fn tag_targets(&self) -> Result<Vec<(String, String)>, GitError> {
        let mut tags = self.objects().tag_targets()?;
        tags.sort();
        tags.dedup();
        Ok(tags)
    }

    // ---- always the git CLI ----------------------------------------------

    /// Runs git against this repository (see [`cli::Git::git`]).
    fn git<I, S>(&self, args: I) -> Result<Vec<u8>, GitError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cli.git(args)
    }

    /// Runs git against this repository; `Ok(None)` when it exits non-zero.
    fn git_opt<I, S>(&self, args: I) -> Result<Option<Vec<u8>>, GitError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cli.git_opt(args)
    }

    /// The directory git runs this repository's hooks from: `core.hooksPath`
    /// if set (a relative value is relative to the working tree root, where
    /// git runs hooks), else `hooks/` in the common git dir, so a linked
    /// worktree gets the main repository's hooks. Absolute; may not exist yet.
    pub fn hooks_dir(&self) -> Result<PathBuf, GitError> {
        // `--git-path hooks` applies core.hooksPath and the common dir the
        // same way git's hook runner does (checked with git 2.39 and 2.47).
        let out = self.git(["rev-parse", "--git-path", "hooks"])?;
        let bytes = out.strip_suffix(b"\n").unwrap_or(&out);
        if bytes.is_empty() {
            return Err(GitError::Command {
                args: "rev-parse --git-path hooks".into(),
                stderr: "printed no path".into(),
            });
        }
        // Relative output is relative to where git ran: the working tree root.
        let path = self.cli.workdir.join(os_str_from_bytes(bytes)?);
        Ok(path.components().collect())
    }

    /// The version of the `git` on PATH (the one that runs hooks), e.g. (2, 47, 3).
    pub fn git_version(&self) -> Result<(u32, u32, u32), GitError> {
        let out = self.git(["--version"])?;
        let text = cli::trim_line(&out);
        // "git version 2.47.3", "git version 2.39.5 (Apple Git-154)",
        // "git version 2.45.1.windows.1".
        let mut numbers = text
            .strip_prefix("git version ")
            .and_then(|v| v.split_whitespace().next())
            .unwrap_or("")
            .split('.')
            .map(|n| n.parse::<u32>());
        match (numbers.next(), numbers.next(), numbers.next()) {
            (Some(Ok(major)), Some(Ok(minor)), patch) => {
                Ok((major, minor, patch.and_then(Result::ok).unwrap_or(0)))
            }
            _ => Err(GitError::Command {
                args: "--version".into(),
                stderr: format!("cannot read a version from {text:?}"),
            }),
        }
    }

    /// What `remote` has for `refs/tags/<tag>` (`git ls-remote`): the
    /// object id, or `None` when the remote has no such tag. Always the git
    /// CLI, which knows the user's remotes, credentials helpers and SSH setup.
    pub fn remote_tag(&self, remote: &str, tag: &str) -> Result<Option<String>, GitError> {
        let refname = format!("refs/tags/{tag}");
        // `--` keeps a remote or tag name from being read as an option.
        let out = self.git(["ls-remote", "--tags", "--", remote, &refname])?;
        Ok(String::from_utf8_lossy(&out)
            .lines()
            .filter_map(|line| line.split_once('\t'))
            .find(|(_, name)| *name == refname)
            .map(|(id, _)| id.to_string()))
    }

    /// The URL of `remote` as configured (`remote.<name>.url`, before any
    /// `insteadOf` rewriting), or `None` when there is no such remote.
    pub fn remote_url(&self, remote: &str) -> Result<Option<String>, GitError> {
        let key = format!("remote.{remote}.url");
        Ok(self
            .git_opt(["config", "--get", "--", &key])?
            .map(|out| cli::trim_line(&out))
            .filter(|url| !url.is_empty()))
    }
}

// ---- signature verification ------------------------------------------------

impl Repo {
    /// `git verify-tag --raw` of the tag object `object` (hex: the object
    /// the plan resolved, not a name that could move): whether git accepted
    /// the signature, and its stdout then stderr (gpg's status lines or
    /// ssh-keygen's verdict; `pipeline::signature` reads them).
    ///
    /// Unlike every other git call here it runs through `process::Child`:
    /// git hands the signature to gpg or ssh-keygen, so the child keeps what
    /// they need of the user's setup (HOME, GNUPGHOME, git's config with
    /// gpg.format, gpg.program, gpg.ssh.allowedSignersFile) but loses every
    /// token and the session's agent/bus addresses (verifying needs no agent).
    pub fn verify_tag_raw(&self, object: &str) -> Result<(bool, String), GitError> {
        check_hex(object)?;
        let output = self
            .cli
            .git_child()
            .args(["verify-tag", "--raw", object])
            .output()
            .map_err(|e| match e {
                crate::process::RunError::Start { source, .. } => GitError::Spawn(source),
                other => GitError::Command {
                    args: format!("verify-tag --raw {object}"),
                    stderr: other.to_string(),
                },
            })?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        Ok((output.status.success(), text))
    }
}

fn normalize(path: &Path) -> PathBuf {
    // Canonical and without libgit2's trailing slash, so both backends agree.
    std::fs::canonicalize(path).unwrap_or_else(|_| path.components().collect())
}

// ---- input validation ------------------------------------------------------

fn check_hex(id: &str) -> Result<(), GitError> {
    if (4..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(GitError::InvalidObjectId(id.to_string()))
    }
}

/// Splits a repository-relative path; `""` (the root) gives no parts.
fn split_path(path: &str) -> Result<Vec<&str>, GitError> {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok(vec![]);
    }
    let invalid = |reason| GitError::InvalidPath {
        path: path.to_string(),
        reason,
    };
    if trimmed.starts_with('/') {
        return Err(invalid("must be relative to the repository root"));
    }
    let parts: Vec<&str> = trimmed.split('/').collect();
    for p in &parts {
        match *p {
            "" => return Err(invalid("contains an empty component")),
            "." | ".." => return Err(invalid("must not contain . or .. components")),
            _ if p.contains('\0') => return Err(invalid("contains a NUL byte")),
            _ => {}
        }
    }
    Ok(parts)
}

fn io_err(context: String) -> impl FnOnce(std::io::Error) -> GitError {
    move |source| GitError::Io { context, source }
}

/// A relative path as the listing spells it: components joined by `/`.
fn path_bytes(path: &Path) -> Vec<u8> {
    let parts: Vec<Vec<u8>> = path
        .components()
        .map(|c| c.as_os_str().as_encoded_bytes().to_vec())
        .collect();
    parts.join(&b'/')
}

#[cfg(unix)]
fn os_str_from_bytes(b: &[u8]) -> Result<&OsStr, GitError> {
    use std::os::unix::ffi::OsStrExt;
    Ok(OsStr::from_bytes(b))
}

#[cfg(not(unix))]
fn os_str_from_bytes(b: &[u8]) -> Result<&OsStr, GitError> {
    std::str::from_utf8(b)
        .map(OsStr::new)
        .map_err(|_| GitError::UnsafeEntry {
            path: String::from_utf8_lossy(b).into_owned(),
            reason: "name is not valid UTF-8",
        })
}
