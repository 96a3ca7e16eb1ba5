//! Writes that must survive a crash: temp file, fsync, rename, fsync dir.

use std::fs::{self, File};
use std::io::{self, Write};

use std::path::Path;
use tempfile::NamedTempFile;

/// A temp file beside `dest`'s final place, so the rename stays on one
/// file system and is atomic.
pub fn temp_file_in(dir: &Path) -> io::Result<NamedTempFile> {
    fs::create_dir_all(dir)?;
    tempfile::Builder::new().prefix(".tagpub-").tempfile_in(dir)
}

/// Makes a fully written temp file durable under its final name: fsync the
/// file, rename, fsync the directory. With `replace = false` an existing
/// `dest` is left alone and `Ok(false)` is returned.
pub fn commit(temp: NamedTempFile, dest: &Path, replace: bool) -> io::Result<bool> {
    temp.as_file().sync_all()?;
    let name = dest.file_name().unwrap_or_default().to_string_lossy();
    crate::fault::point(format_args!("before-rename {name}"));
    let renamed = if replace {
        temp.persist(dest).map(drop)
    } else {
        temp.persist_noclobber(dest).map(drop)
    };
    match renamed {
        Ok(()) => {}
        Err(err) if !replace && err.error.kind() == io::ErrorKind::AlreadyExists => {
            return Ok(false);
        }
        Err(err) => return Err(err.error),
    }
    crate::fault::point(format_args!("after-rename {name}"));
    sync_dir(parent_dir(dest))?;
    Ok(true)
}

/// Replaces `path` with `bytes` atomically: readers see the old or the new
/// content, never a mix, even if the process dies mid-write.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut temp = temp_file_in(parent_dir(path))?;
    temp.write_all(bytes)?;
    commit(temp, path, true).map(drop)
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Makes a rename durable. Directories cannot be opened for sync on Windows;
/// there the rename itself is what NTFS journals.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_replace() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/state.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        // No temp file left behind.
        assert_eq!(fs::read_dir(dir.path().join("sub")).unwrap().count(), 1);
        let temp = temp_file_in(&dir.path().join("sub")).unwrap();
        assert!(
            !commit(temp, &path, false).unwrap(),
            "no-clobber keeps the existing file"
        );
        assert_eq!(fs::read(&path).unwrap(), b"two");
    }
}
