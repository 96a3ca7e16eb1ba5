//! The git CLI backend: every read through `git` subprocesses, for the
//! repositories libgit2 cannot open (reftable refs, SHA-256 objects, partial
//! clones), and the runner every other git call here goes through. Arguments
//! are passed separately, never through a shell, and checked so that none can
//! be read as an option. Nothing here writes to the repository.

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::export::tree::{Unpack, unpack_tar};
use super::listing::{
    ListedEntry, MODE_GITLINK, MODE_LINK, MODE_TREE, TreeListing, check_entry_name,
};
use super::{AnnotatedTag, Backend, GitError, Objects, TagInfo, check_hex, is_signed};

/// A repository served by the git CLI: where git is pointed.
pub(super) struct Git {
    pub(super) git_dir: PathBuf,
    pub(super) workdir: PathBuf,
}

/// Finds the repository containing `path` with `git rev-parse`.
pub(super) fn discover(path: &Path) -> Result<Git, GitError> {
    let rev_parse = |args: &[&str]| -> Result<Vec<String>, GitError> {
        let mut cmd = git_base();
        // Look where we were asked to, like libgit2's discover does.
        cmd.arg("-C").arg(path).arg("rev-parse").args(args);
        cmd.env_remove("GIT_DIR").env_remove("GIT_WORK_TREE");
        match run(cmd) {
            Ok(out) => Ok(String::from_utf8_lossy(&out)
                .lines()
                .map(str::to_string)
                .collect()),
            Err(GitError::Command { stderr, .. }) if stderr.contains("not a git repository") => {
                Err(GitError::NotARepository {
                    path: path.to_path_buf(),
                })
            }
            Err(GitError::Command { args, stderr })
                if stderr.contains("unknown repository extension") =>
            {
                Err(GitError::Command {
                    args,
                    stderr: format!(
                        "{stderr} (this repository needs a newer git: reftable refs need \
                         git 2.45 or newer, SHA-256 objects git 2.29 or newer)"
                    ),
                })
            }
            Err(e) => Err(e),
        }
    };
    let out = rev_parse(&["--is-bare-repository", "--absolute-git-dir"])?;
    let [bare, git_dir] = out.as_slice() else {
        return Err(GitError::Command {
            args: "rev-parse --is-bare-repository --absolute-git-dir".into(),
            stderr: format!("unexpected output {out:?}"),
        });
    };
    let git_dir = super::normalize(Path::new(git_dir));
    let workdir = if bare == "true" {
        git_dir.clone()
    } else {
        let top = rev_parse(&["--show-toplevel"])?;
        match top.first() {
            Some(t) => super::normalize(Path::new(t)),
            // Inside the git dir of a non-bare repository: no toplevel to show.
            None => git_dir.clone(),
        }
    };
    Ok(Git { git_dir, workdir })
}

impl Git {
    /// Runs git against this repository; `Ok(None)` when it exits non-zero.
    pub(super) fn git_opt<I, S>(&self, args: I) -> Result<Option<Vec<u8>>, GitError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        match self.git(args) {
            Ok(out) => Ok(Some(out)),
            Err(GitError::Command { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(super) fn git<I, S>(&self, args: I) -> Result<Vec<u8>, GitError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.git_command();
        cmd.args(args);
        run(cmd)
    }

    pub(super) fn git_command(&self) -> Command {
        let mut cmd = git_base();
        // Pin the repository we discovered; an inherited GIT_DIR (e.g. inside
        // a hook) must not redirect us elsewhere.
        cmd.env("GIT_DIR", &self.git_dir)
            .env_remove("GIT_WORK_TREE")
            .current_dir(&self.workdir);
        cmd
    }

    /// [`Git::git_command`] through `process::Child` (every secret and the
    /// session's agent/bus addresses withheld): for the git call that runs
    /// the user's programs (gpg, ssh-keygen for `verify-tag`).
    pub(super) fn git_child(&self) -> crate::process::Child {
        let mut child = crate::process::Child::new("git");
        child
            .envs(FIXED_ENV)
            .env("GIT_DIR", &self.git_dir)
            .env_remove("GIT_WORK_TREE")
            .current_dir(&self.workdir)
            .stdin(Stdio::null());
        child
    }
    /// Full object id of `rev^{kind}`; `rev` must be hex so it cannot be
    /// read as an option or as revision syntax.
    pub(super) fn resolve(&self, rev: &str, kind: &str) -> Result<String, GitError> {
        check_hex(rev)?;
        let spec = format!("{rev}^{{{kind}}}");
        self.git_opt(["rev-parse", "--verify", "--quiet", &spec])?
            .map(|o| trim_line(&o))
            .ok_or_else(|| GitError::UnknownCommit(rev.to_string()))
    }

    fn ls_tree(&self, tree: &str) -> Result<Vec<TreeEntry>, GitError> {
        let out = self.git(["ls-tree", "-z", "--full-tree", tree])?;
        out.split(|&b| b == 0)
            .filter(|r| !r.is_empty())
            .map(|r| {
                parse_ls_tree(r).ok_or_else(|| GitError::Command {
                    args: format!("ls-tree -z {tree}"),
                    stderr: format!("unexpected output line {:?}", String::from_utf8_lossy(r)),
                })
            })
            .collect()
    }

    /// Walks `parts` from the commit's root tree one level at a time, matching
    /// names exactly (no pathspec or revision syntax involved).
    fn lookup_cli(&self, commit: &str, parts: &[&str]) -> Result<Option<TreeEntry>, GitError> {
        let mut tree = self.resolve(commit, "tree")?;
        let (last, dirs) = parts.split_last().expect("non-empty path");
        for dir in dirs {
            match self.find_entry(&tree, dir)? {
                Some(e) if e.kind == "tree" => tree = e.oid,
                _ => return Ok(None),
            }
        }
        self.find_entry(&tree, last)
    }

    fn find_entry(&self, tree: &str, name: &str) -> Result<Option<TreeEntry>, GitError> {
        Ok(self
            .ls_tree(tree)?
            .into_iter()
            .find(|e| e.name == name.as_bytes()))
    }

    fn tag_cli(&self, name: &str, refname: &str) -> Result<Option<TagInfo>, GitError> {
        // for-each-ref treats its argument as a pattern (prefix/glob), so
        // keep only the exact refname.
        let out = self.git([
            "for-each-ref",
            "--format=%(refname)%00%(objectname)%00%(objecttype)",
            refname,
        ])?;
        let out = String::from_utf8_lossy(&out);
        let Some((target, kind)) = out.lines().find_map(|l| {
            let mut f = l.split('\0');
            (f.next()? == refname).then_some(())?;
            Some((f.next()?.to_string(), f.next()?.to_string()))
        }) else {
            return Ok(None);
        };
        let annotated = if kind == "tag" {
            let raw = self.git(["cat-file", "tag", &target])?;
            Some(parse_tag(&raw))
        } else {
            None
        };
        let commit = match self.resolve(&target, "commit") {
            Err(GitError::UnknownCommit(_)) => {
                return Err(GitError::TagNotACommit {
                    tag: name.to_string(),
                });
            }
            other => other?,
        };
        let commit_time = Objects::commit_time(self, &commit)?;
        Ok(Some(TagInfo {
            name: name.to_string(),
            ref_target: target,
            commit,
            commit_time,
            annotated,
        }))
    }

    /// The whole tree of commit `oid`, with each symlink's target read in
    /// one `git cat-file --batch`.
    pub(super) fn listing(&self, oid: &str) -> Result<TreeListing, GitError> {
        let out = self.git(["ls-tree", "-r", "-t", "-z", "--full-tree", oid])?;
        let mut entries = Vec::new();
        let mut link_paths = Vec::new();
        let mut link_oids = Vec::new();
        let mut submodules = Vec::new();
        for record in out.split(|&b| b == 0).filter(|r| !r.is_empty()) {
            let entry = parse_ls_tree(record).ok_or_else(|| GitError::Command {
                args: format!("ls-tree -r -t -z {oid}"),
                stderr: format!(
                    "unexpected output line {:?}",
                    String::from_utf8_lossy(record)
                ),
            })?;
            let rel = String::from_utf8_lossy(&entry.name).into_owned();
            for name in entry.name.split(|&b| b == b'/') {
                check_entry_name(name, &rel)?;
            }
            match entry.mode {
                MODE_GITLINK => {
                    submodules.push(entry.name);
                    continue;
                }
                MODE_TREE => {}
                MODE_LINK => {
                    link_paths.push(entry.name.clone());
                    link_oids.push(entry.oid.clone());
                }
                mode if mode & 0o170000 == 0o100000 => {}
                _ => {
                    return Err(GitError::UnsafeEntry {
                        path: rel,
                        reason: "unknown file mode",
                    });
                }
            }
            entries.push(ListedEntry {
                path: entry.name,
                mode: entry.mode,
                oid: entry.oid,
            });
        }
        let targets = self.read_blobs(&link_oids)?;
        Ok(TreeListing::new(
            entries,
            link_paths.into_iter().zip(targets).collect(),
            submodules,
        ))
    }

    /// The contents of these blobs, in order, from one `git cat-file --batch`.
    fn read_blobs(&self, oids: &[String]) -> Result<Vec<Vec<u8>>, GitError> {
        if oids.is_empty() {
            return Ok(Vec::new());
        }
        for oid in oids {
            check_hex(oid)?;
        }
        let mut cmd = self.git_command();
        cmd.args(["cat-file", "--batch"]);
        let input: Vec<u8> = oids
            .iter()
            .flat_map(|o| o.bytes().chain(std::iter::once(b'\n')))
            .collect();
        let stdout = run_with_input(cmd, input)?;
        let failed = |why: String| GitError::Command {
            args: "cat-file --batch".into(),
            stderr: why,
        };
        // `<oid> SP <type> SP <size> LF <contents> LF` per object.
        let mut rest = stdout.as_slice();
        let mut blobs = Vec::with_capacity(oids.len());
        for oid in oids {
            let newline = rest
                .iter()
                .position(|&b| b == b'\n')
                .ok_or_else(|| failed(format!("no answer for {oid}")))?;
            let header = String::from_utf8_lossy(&rest[..newline]).into_owned();
            let size: usize = match header.split(' ').collect::<Vec<_>>()[..] {
                [_, "blob", size] => size
                    .parse()
                    .map_err(|_| failed(format!("unexpected header {header:?}")))?,
                _ => return Err(failed(format!("unexpected answer {header:?} for {oid}"))),
            };
            let body = rest
                .get(newline + 1..newline + 1 + size)
                .ok_or_else(|| failed(format!("short answer for {oid}")))?;
            blobs.push(body.to_vec());
            rest = rest.get(newline + 2 + size..).unwrap_or_default();
        }
        Ok(blobs)
    }

    fn export_tree_cli(&self, commit: &str, dest: &Path) -> Result<(), GitError> {
        let oid = self.resolve(commit, "commit")?;
        let listing = self.listing(&oid)?;
        listing.check_links()?;

        let args = ["archive", "--format=tar", oid.as_str()];
        let mut cmd = self.git_command();
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(GitError::Spawn)?;
        let mut stderr = child.stderr.take().expect("piped");
        // Drain stderr concurrently so a chatty git cannot block on a full pipe.
        let stderr_reader = std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = stderr.read_to_end(&mut s);
            s
        });
        let unpacked = unpack_tar(child.stdout.take().expect("piped"), dest, &listing);
        let status = child.wait().map_err(GitError::Spawn)?;
        let stderr = stderr_reader.join().unwrap_or_default();
        match unpacked {
            // We stopped reading (refused entry, full disk): git then dies of
            // a broken pipe, so our error is the one that explains it.
            Err(Unpack::Write(e)) => Err(e),
            _ if !status.success() => Err(command_error(&args.map(OsStr::new), &stderr)),
            Err(Unpack::Stream(e)) => Err(e),
            Ok(()) => Ok(()),
        }
    }
}

impl Objects for Git {
    fn kind(&self) -> Backend {
        Backend::Cli
    }

    fn tag_names(&self) -> Result<Vec<String>, GitError> {
        let out = self.git(["for-each-ref", "--format=%(refname)", "refs/tags/"])?;
        Ok(String::from_utf8_lossy(&out)
            .lines()
            .filter_map(|l| l.strip_prefix("refs/tags/"))
            .map(str::to_string)
            .collect())
    }

    fn tag(&self, name: &str, refname: &str) -> Result<Option<TagInfo>, GitError> {
        self.tag_cli(name, refname)
    }

    fn head_commit(&self) -> Result<String, GitError> {
        let out = self.git_opt(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"])?;
        out.map(|o| trim_line(&o)).ok_or(GitError::UnbornHead)
    }

    fn commit_time(&self, commit: &str) -> Result<i64, GitError> {
        let oid = self.resolve(commit, "commit")?;
        let raw = self.git(["cat-file", "commit", &oid])?;
        let (headers, _) = parse_object(&raw);
        headers
            .iter()
            .find(|(k, _)| k == "committer")
            .and_then(|(_, v)| parse_ident(v).2)
            .ok_or_else(|| GitError::Command {
                args: format!("cat-file commit {oid}"),
                stderr: "commit has no parsable committer line".into(),
            })
    }

    fn read_file(
        &self,
        commit: &str,
        _path: &str,
        parts: &[&str],
    ) -> Result<Option<Vec<u8>>, GitError> {
        match self.lookup_cli(commit, parts)? {
            Some(e) if e.kind == "blob" => Ok(Some(self.git(["cat-file", "blob", &e.oid])?)),
            _ => Ok(None),
        }
    }

    fn list_dir(
        &self,
        commit: &str,
        _path: &str,
        parts: &[&str],
    ) -> Result<Vec<Vec<u8>>, GitError> {
        let tree = if parts.is_empty() {
            self.resolve(commit, "tree")?
        } else {
            match self.lookup_cli(commit, parts)? {
                Some(e) if e.kind == "tree" => e.oid,
                _ => return Ok(vec![]),
            }
        };
        Ok(self.ls_tree(&tree)?.into_iter().map(|e| e.name).collect())
    }

    fn commit_listing(&self, commit: &str) -> Result<(String, TreeListing), GitError> {
        let oid = self.resolve(commit, "commit")?;
        let listing = self.listing(&oid)?;
        Ok((oid, listing))
    }

    fn export_tree(&self, commit: &str, dest: &Path) -> Result<(), GitError> {
        self.export_tree_cli(commit, dest)
    }

    fn tag_targets(&self) -> Result<Vec<(String, String)>, GitError> {
        // Trailing slash: only refs inside refs/tags/, never a ref
        // named refs/tagsfoo.
        let out = self.git([
            "for-each-ref",
            "--format=%(refname:strip=2)%00%(objectname)",
            "refs/tags/",
        ])?;
        let mut tags = Vec::new();
        for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let mut fields = line.splitn(2, |&b| b == 0);
            let (Some(name), Some(oid)) = (fields.next(), fields.next()) else {
                return Err(GitError::Command {
                    args: "for-each-ref refs/tags/".into(),
                    stderr: format!("unexpected output line {:?}", String::from_utf8_lossy(line)),
                });
            };
            tags.push((
                String::from_utf8_lossy(name).into_owned(),
                String::from_utf8_lossy(oid).into_owned(),
            ));
        }
        Ok(tags)
    }
}

// ---- running git -----------------------------------------------------------

/// Runs `cmd` with `input` on its stdin (written from a thread: git
/// answers while it reads).
pub(super) fn run_with_input(mut cmd: Command, input: Vec<u8>) -> Result<Vec<u8>, GitError> {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(GitError::Spawn)?;
    let mut stdin = child.stdin.take().expect("piped");
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        stdin.write_all(&input)
    });
    let output = child.wait_with_output().map_err(GitError::Spawn)?;
    let _ = writer.join();
    if output.status.success() {
        Ok(output.stdout)
    } else {
        let args: Vec<&OsStr> = cmd.get_args().collect();
        Err(command_error(&args, &output.stderr))
    }
}

/// What every git child gets: stable, parseable messages and never a
/// prompt; everything else of the user's setup (config, safe.directory,
/// object quarantine in hooks) is respected.
const FIXED_ENV: [(&str, &str); 2] = [("LC_ALL", "C"), ("GIT_TERMINAL_PROMPT", "0")];

/// The one builder of a git command (the repository-pinned
/// [`Git::git_command`], the export's `git_isolated` and the demo's writes
/// start here).
pub(super) fn git_base() -> Command {
    let mut cmd = Command::new("git");
    cmd.envs(FIXED_ENV).stdin(Stdio::null());
    cmd
}

pub(super) fn run(mut cmd: Command) -> Result<Vec<u8>, GitError> {
    let out = cmd.output().map_err(GitError::Spawn)?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        let args: Vec<&OsStr> = cmd.get_args().collect();
        Err(command_error(&args, &out.stderr))
    }
}

pub(super) fn command_error(args: &[&OsStr], stderr: &[u8]) -> GitError {
    let args = args
        .iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    let stderr = String::from_utf8_lossy(stderr).trim().to_string();
    GitError::Command {
        args,
        stderr: if stderr.is_empty() {
            "(no error output)".into()
        } else {
            stderr
        },
    }
}

pub(super) fn trim_line(out: &[u8]) -> String {
    String::from_utf8_lossy(out).trim().to_string()
}

// ---- parsing git's raw output ---------------------------------------------

/// One record of `git ls-tree -z` (CLI backend).
struct TreeEntry {
    mode: u32,
    kind: String,
    oid: String,
    name: Vec<u8>,
}

/// Splits a raw commit/tag object into headers (continuation lines joined
/// with `\n`) and the message after the first blank line.
fn parse_object(raw: &[u8]) -> (Vec<(String, String)>, String) {
    let text = String::from_utf8_lossy(raw);
    let (head, message) = match text.find("\n\n") {
        Some(i) => (&text[..i], &text[i + 2..]),
        None => (text.trim_end_matches('\n'), ""),
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.split('\n') {
        if let Some(cont) = line.strip_prefix(' ') {
            if let Some((_, v)) = headers.last_mut() {
                v.push('\n');
                v.push_str(cont);
            }
        } else {
            let (k, v) = line.split_once(' ').unwrap_or((line, ""));
            headers.push((k.to_string(), v.to_string()));
        }
    }
    (headers, message.to_string())
}

fn parse_tag(raw: &[u8]) -> AnnotatedTag {
    let (headers, message) = parse_object(raw);
    let header = |k: &str| {
        headers
            .iter()
            .find(|(h, _)| h == k)
            .map(|(_, v)| v.as_str())
    };
    let (tagger_name, tagger_email, tagger_time) =
        header("tagger").map(parse_ident).unwrap_or_default();
    // A signature over the compat-hash form of the tag lives in a header.
    let header_sig = header("gpgsig").is_some() || header("gpgsig-sha256").is_some();
    AnnotatedTag {
        object_name: header("tag").unwrap_or_default().to_string(),
        tagger_name,
        tagger_email,
        tagger_time,
        signed: header_sig || is_signed(&message),
        message,
    }
}

/// `Name <email> 1700000000 +0100` → (name, email, time).
fn parse_ident(ident: &str) -> (Option<String>, Option<String>, Option<i64>) {
    let (Some(lt), Some(gt)) = (ident.find('<'), ident.rfind('>')) else {
        return (Some(ident.trim().to_string()), None, None);
    };
    if gt < lt {
        return (Some(ident.trim().to_string()), None, None);
    }
    let name = ident[..lt].trim().to_string();
    let email = ident[lt + 1..gt].to_string();
    let time = ident[gt + 1..]
        .split_whitespace()
        .next()
        .and_then(|t| t.parse().ok());
    (Some(name), Some(email), time)
}

/// `<mode> SP <type> SP <oid> TAB <name>` (one `ls-tree -z` record).
fn parse_ls_tree(record: &[u8]) -> Option<TreeEntry> {
    let tab = record.iter().position(|&b| b == b'\t')?;
    let meta = std::str::from_utf8(&record[..tab]).ok()?;
    let mut f = meta.split(' ');
    let mode = u32::from_str_radix(f.next()?, 8).ok()?;
    let kind = f.next()?.to_string();
    let oid = f.next()?.to_string();
    Some(TreeEntry {
        mode,
        kind,
        oid,
        name: record[tab + 1..].to_vec(),
    })
}
