//! Writes that must survive a crash (temp file, fsync, rename, fsync dir),
//! and the one way tagpub creates its files and directories: private to
//! the user (0600 files, 0700 directories on Unix). Job records, logs and
//! release state may quote an index's answers; no other user reads them.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};

use std::path::Path;
use tempfile::NamedTempFile;

/// Mode of every file tagpub creates in its dirs.
pub const PRIVATE_FILE_MODE: u32 = 0o600;
/// Mode of every directory tagpub creates.
pub const PRIVATE_DIR_MODE: u32 = 0o700;

/// Creates `dir` and any missing parents, each 0700. Existing directories
/// are left as they are (see [`make_private`]).
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, PRIVATE_DIR_MODE);
    builder.create(dir)
}

/// Options that create a file 0600 in a directory created 0700.
fn private_options(path: &Path) -> io::Result<OpenOptions> {
    create_private_dir(parent_dir(path))?;
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, PRIVATE_FILE_MODE);
    options.create(true);
    Ok(options)
}

/// Opens `path` for appending (a log), creating it 0600. A file an older
/// version left readable by others is made private.
pub fn open_private_append(path: &Path) -> io::Result<File> {
    let file = private_options(path)?.append(true).open(path)?;
    tighten_open_file(&file)?;
    Ok(file)
}

/// Opens `path` for reading and writing without truncating it (a lock
/// file), creating it 0600.
pub fn open_private(path: &Path) -> io::Result<File> {
    let file = private_options(path)?
        .read(true)
        .write(true)
        .truncate(false)
        .open(path)?;
    tighten_open_file(&file)?;
    Ok(file)
}

fn tighten_open_file(file: &File) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = file.metadata()?.permissions().mode();
        if mode & 0o077 != 0 {
            file.set_permissions(fs::Permissions::from_mode(mode & 0o700))?;
        }
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

/// Takes group and other access away from `path` (file or directory) if it
/// has any: what older versions created with the umask's modes. Symlinks
/// are not followed.
pub fn make_private(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = fs::symlink_metadata(path)?;
        let mode = meta.permissions().mode();
        if !meta.file_type().is_symlink() && mode & 0o077 != 0 {
            fs::set_permissions(path, fs::Permissions::from_mode(mode & 0o7700))?;
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// [`make_private`] for `dir` and everything under it (what a build
/// child wrote there with its umask).
pub fn make_tree_private(dir: &Path) -> io::Result<()> {
    make_private(dir)?;
    if fs::symlink_metadata(dir)?.is_dir() {
        for entry in fs::read_dir(dir)? {
            let path = entry?.path();
            if fs::symlink_metadata(&path)?.is_dir() {
                make_tree_private(&path)?;
            } else {
                make_private(&path)?;
            }
        }
    }
    Ok(())
}

/// A temp file beside `dest`'s final place, so the rename stays on one
/// file system and is atomic. The file is 0600 (tempfile's default, which
/// the rename keeps) and a missing `dir` is created 0700.
pub fn temp_file_in(dir: &Path) -> io::Result<NamedTempFile> {
    create_private_dir(dir)?;
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

/// A temp file in `dir` holding `bytes` with `mode` (Unix), ready for
/// [`commit`]: the first half of every whole-file write, for callers that
/// do something between writing and renaming (hooks move the old hook away).
/// The mode is set explicitly, so the umask does not apply.
pub fn prepare(dir: &Path, bytes: &[u8], mode: u32) -> io::Result<NamedTempFile> {
    let mut temp = temp_file_in(dir)?;
    temp.write_all(bytes)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        temp.as_file()
            .set_permissions(fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    Ok(temp)
}

/// Replaces `path` with `bytes` atomically, mode `mode`: readers see the
/// old or the new content, never a mix, even if the process dies mid-write.
/// A symlink at `path` is replaced, never followed (the rename replaces the
/// name). The one whole-file writer: tagpub's state (0600, [`write_atomic`]),
/// hook scripts (0755), CI pipeline files (0644).
pub fn write_atomic_mode(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let temp = prepare(parent_dir(path), bytes, mode)?;
    commit(temp, path, true).map(drop)
}

/// [`write_atomic_mode`] with [`PRIVATE_FILE_MODE`].
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_mode(path, bytes, PRIVATE_FILE_MODE)
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Makes a rename durable. Directories cannot be opened for sync on Windows;
/// there the rename itself is what NTFS journals.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
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

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[cfg(unix)]
    #[test]
    fn what_tagpub_creates_is_private_and_old_modes_are_tightened() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let record = dir.path().join("a/b/record.json");
        write_atomic(&record, b"{}").unwrap();
        assert_eq!(mode(&record), 0o600);
        assert_eq!(mode(&dir.path().join("a")), 0o700);
        assert_eq!(mode(&dir.path().join("a/b")), 0o700);

        // Other modes are set as asked, whatever the umask, and a symlink
        // in the way is replaced, not written through.
        let hook = dir.path().join("hooks/pre-push");
        write_atomic_mode(&hook, b"#!/bin/sh\n", 0o755).unwrap();
        assert_eq!(mode(&hook), 0o755);
        let target = dir.path().join("target");
        fs::write(&target, "untouched").unwrap();
        let link = dir.path().join("link.yml");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        write_atomic_mode(&link, b"new", 0o644).unwrap();
        assert!(!fs::symlink_metadata(&link).unwrap().is_symlink());
        assert_eq!(mode(&link), 0o644);
        assert_eq!(fs::read(&target).unwrap(), b"untouched");

        let log = dir.path().join("logs/x.log");
        drop(open_private_append(&log).unwrap());
        assert_eq!(mode(&log), 0o600);
        assert_eq!(mode(&dir.path().join("logs")), 0o700);
        drop(open_private(&dir.path().join("logs/x.lock")).unwrap());
        assert_eq!(mode(&dir.path().join("logs/x.lock")), 0o600);

        // Left by an older version with the umask's modes.
        let old = dir.path().join("old");
        fs::create_dir(&old).unwrap();
        fs::set_permissions(&old, fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(old.join("daemon.log"), "x").unwrap();
        fs::set_permissions(old.join("daemon.log"), fs::Permissions::from_mode(0o644)).unwrap();
        drop(open_private_append(&old.join("daemon.log")).unwrap());
        assert_eq!(mode(&old.join("daemon.log")), 0o600);
        fs::set_permissions(old.join("daemon.log"), fs::Permissions::from_mode(0o644)).unwrap();
        make_tree_private(&old).unwrap();
        assert_eq!(mode(&old), 0o700);
        assert_eq!(mode(&old.join("daemon.log")), 0o600);
    }
}
