//! The built-in `local` index: a PEP 503 directory tree under tagpub's data
//! dir. Files are copied in atomically and never replaced; `index.html` is
//! what pip reads, so it is the listing.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};
use url::Url;

use super::error::{RepositoryError, io_error};
use super::simple::parse_simple_html;
use super::upload::project_name;
use super::{IndexedFile, UploadOutcome};
use crate::dist::Artifact;
use crate::dist::hash::sha256_file;
use crate::fsutil;
use crate::version::normalize_name;

pub(super) fn local_simple_url(root: &Path) -> Url {
    let simple = std::path::absolute(root.join("simple")).unwrap_or_else(|_| root.join("simple"));
    Url::from_directory_path(&simple).unwrap_or_else(|()| {
        // Only a relative path fails, and only if the cwd is gone.
        Url::parse("file:///").expect("a valid constant URL")
    })
}

pub(super) fn local_list(
    root: &Path,
    normalized: &str,
) -> Result<Vec<IndexedFile>, RepositoryError> {
    let dir = root.join("simple").join(normalized);
    // index.html is what pip sees, so it is the listing.
    read_local_index(&dir)
}

fn read_local_index(dir: &Path) -> Result<Vec<IndexedFile>, RepositoryError> {
    let index = dir.join("index.html");
    let html = match fs::read_to_string(&index) {
        Ok(html) => html,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(&index, "read", e)),
    };
    let base = std::path::absolute(dir)
        .ok()
        .and_then(|d| Url::from_directory_path(d).ok())
        .unwrap_or_else(|| Url::parse("file:///").expect("a valid constant URL"));
    Ok(parse_simple_html(&html, &base))
}

pub(super) fn local_upload(
    repo: &str,
    root: &Path,
    artifact: &Artifact,
) -> Result<UploadOutcome, RepositoryError> {
    let project = project_name(artifact)?;
    let normalized = normalize_name(&project);
    let simple = root.join("simple");
    let dir = simple.join(&normalized);
    fsutil::create_private_dir(&dir).map_err(|e| io_error(&dir, "create", e))?;
    let dest = dir.join(&artifact.filename);

    let outcome = if dest.exists() {
        existing_local(repo, artifact, &dest)?
    } else {
        let sha = atomic_copy_noclobber(&artifact.path, &dest)?;
        match sha {
            Some(sha) if !sha.eq_ignore_ascii_case(&artifact.sha256) => {
                // Unpublish our own copy: the file changed after it was checked.
                let _ = fs::remove_file(&dest);
                return Err(RepositoryError::InvalidArtifact {
                    filename: artifact.filename.clone(),
                    reason: format!(
                        "its sha256 is now {sha}, not {} as when it was checked",
                        artifact.sha256
                    ),
                });
            }
            Some(_) => UploadOutcome::Uploaded,
            // Lost a race with another writer: judge what is there now.
            None => existing_local(repo, artifact, &dest)?,
        }
    };

    let listed = read_local_index(&dir)?;
    if outcome == UploadOutcome::Uploaded || !listed.iter().any(|f| f.filename == artifact.filename)
    {
        write_project_index(&dir, &normalized, &listed)?;
        write_root_index(&simple)?;
    }
    Ok(outcome)
}

fn existing_local(
    repo: &str,
    artifact: &Artifact,
    dest: &Path,
) -> Result<UploadOutcome, RepositoryError> {
    let theirs = sha256_file(dest).map_err(|e| io_error(dest, "read", e))?;
    let ours = sha256_file(&artifact.path).map_err(|e| io_error(&artifact.path, "read", e))?;
    if theirs == ours {
        return Ok(UploadOutcome::AlreadyPresent);
    }
    Err(RepositoryError::Conflict {
        repo: repo.to_owned(),
        filename: artifact.filename.clone(),
        detail: format!("sha256 there {theirs}, here {ours}"),
    })
}

/// Copies `src` to `dest` through a temp file in the same directory (fsync,
/// no-clobber rename, fsync the directory). Returns the sha256 of the bytes
/// written, or `None` if `dest` appeared meanwhile.
fn atomic_copy_noclobber(src: &Path, dest: &Path) -> Result<Option<String>, RepositoryError> {
    let dir = dest.parent().expect("dest is inside a project directory");
    let mut input = File::open(src).map_err(|e| io_error(src, "open", e))?;
    let mut tmp =
        fsutil::temp_file_in(dir).map_err(|e| io_error(dir, "create a temp file in", e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = input.read(&mut buf).map_err(|e| io_error(src, "read", e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        tmp.write_all(&buf[..n])
            .map_err(|e| io_error(tmp.path(), "write", e))?;
    }
    let written = fsutil::commit(tmp, dest, false).map_err(|e| io_error(dest, "create", e))?;
    Ok(written.then(|| hex::encode(hasher.finalize())))
}

/// Replaces `dest` with `contents` atomically.
fn atomic_write(dest: &Path, contents: &[u8]) -> Result<(), RepositoryError> {
    let dir = dest.parent().expect("index files live in a directory");
    let mut tmp =
        fsutil::temp_file_in(dir).map_err(|e| io_error(dir, "create a temp file in", e))?;
    tmp.write_all(contents)
        .map_err(|e| io_error(tmp.path(), "write", e))?;
    // 0600 like everything in tagpub's data dir: pip reads it as this user.
    fsutil::commit(tmp, dest, true)
        .map(drop)
        .map_err(|e| io_error(dest, "replace", e))
}

/// Files in a project directory: no index, no dotfiles (our temp files).
fn project_files(dir: &Path) -> Result<Vec<String>, RepositoryError> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| io_error(dir, "read", e))? {
        let entry = entry.map_err(|e| io_error(dir, "read", e))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name.starts_with('.') || name == "index.html" {
            continue;
        }
        if entry.file_type().is_ok_and(|t| t.is_file()) {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Rewrites a project's index.html; hashes already listed are reused so only
/// new files are read.
fn write_project_index(
    dir: &Path,
    normalized: &str,
    listed: &[IndexedFile],
) -> Result<(), RepositoryError> {
    let known: HashMap<&str, &str> = listed
        .iter()
        .filter_map(|f| Some((f.filename.as_str(), f.sha256.as_deref()?)))
        .collect();
    let mut links = String::new();
    for name in project_files(dir)? {
        let sha = match known.get(name.as_str()) {
            Some(sha) => (*sha).to_owned(),
            None => {
                let path = dir.join(&name);
                sha256_file(&path).map_err(|e| io_error(&path, "read", e))?
            }
        };
        let _ = writeln!(
            links,
            "    <a href=\"{}#sha256={sha}\">{}</a><br>",
            escape_html(&encode_path_segment(&name)),
            escape_html(&name)
        );
    }
    let html = page(&format!("Links for {normalized}"), &links);
    atomic_write(&dir.join("index.html"), html.as_bytes())
}

fn write_root_index(simple: &Path) -> Result<(), RepositoryError> {
    let mut projects = Vec::new();
    for entry in fs::read_dir(simple).map_err(|e| io_error(simple, "read", e))? {
        let entry = entry.map_err(|e| io_error(simple, "read", e))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if !name.starts_with('.') && entry.path().join("index.html").is_file() {
            projects.push(name);
        }
    }
    projects.sort();
    let mut links = String::new();
    for name in &projects {
        let _ = writeln!(
            links,
            "    <a href=\"{}/\">{}</a><br>",
            escape_html(&encode_path_segment(name)),
            escape_html(name)
        );
    }
    let html = page("Simple index", &links);
    atomic_write(&simple.join("index.html"), html.as_bytes())
}

fn page(title: &str, links: &str) -> String {
    let title = escape_html(title);
    format!(
        "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" \
         content=\"1.0\">\n    <title>{title}</title>\n  </head>\n  <body>\n    \
         <h1>{title}</h1>\n{links}  </body>\n</html>\n"
    )
}

/// `&`, `<`, `>` and `"` escaped: fit for text and double-quoted attributes.
fn escape_html(s: &str) -> String {
    html_escape::encode_double_quoted_attribute(s).into_owned()
}

/// Every byte but ASCII letters, digits and `-._~+!` percent-encoded.
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'+')
    .remove(b'!');

fn encode_path_segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, PATH_SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_are_percent_encoded_in_links() {
        assert_eq!(encode_path_segment("a b+c.whl"), "a%20b+c.whl");
        assert_eq!(
            encode_path_segment("x/é~!_-.%&\"<"),
            "x%2F%C3%A9~!_-.%25%26%22%3C"
        );
        assert_eq!(escape_html("a&b<c>d\"e'f"), "a&amp;b&lt;c&gt;d&quot;e'f");
    }
}
