//! Where tagpub keeps things. XDG on Linux via `directories`; each dir can be
//! overridden by an environment variable, which is how tests isolate runs.

use std::path::{Path, PathBuf};

use crate::env;

#[derive(Debug, Clone)]
pub struct Dirs {
    /// User configuration (`TAGPUB_CONFIG_DIR`).
    pub config: PathBuf,
    /// Ledger, artifacts, the local index (`TAGPUB_DATA_DIR`).
    pub data: PathBuf,
    /// Sockets and locks (`TAGPUB_RUNTIME_DIR`).
    pub runtime: PathBuf,
}

#[derive(Debug, thiserror::Error)]
#[error(
    "cannot tell where to keep tagpub's data: no home directory. Set TAGPUB_DATA_DIR, TAGPUB_CONFIG_DIR and TAGPUB_RUNTIME_DIR"
)]
pub struct NoHomeDir;

impl Dirs {
    pub fn from_env() -> Result<Dirs, NoHomeDir> {
        let project = directories::ProjectDirs::from("", "", "tagpub");
        let pick = |var: env::Var, fallback: Option<PathBuf>| -> Result<PathBuf, NoHomeDir> {
            match var.non_empty() {
                Some(value) => Ok(PathBuf::from(value)),
                None => fallback.ok_or(NoHomeDir),
            }
        };
        let data = pick(
            env::DATA_DIR,
            project.as_ref().map(|p| p.data_dir().to_path_buf()),
        )?;
        let dirs = Dirs {
            config: pick(
                env::CONFIG_DIR,
                project.as_ref().map(|p| p.config_dir().to_path_buf()),
            )?,
            runtime: pick(
                env::RUNTIME_DIR,
                project
                    .as_ref()
                    .and_then(|p| p.runtime_dir().map(Path::to_path_buf))
                    .or_else(|| Some(data.join("run"))),
            )?,
            data,
        };
        dirs.tighten_existing();
        Ok(dirs)
    }

    /// Makes the dirs private (0700) when an older version, or the umask,
    /// left them open to other users: what is inside may quote an index's
    /// answers. Best effort: a dir tagpub cannot change says so when
    /// tagpub writes to it.
    pub fn tighten_existing(&self) {
        for dir in [&self.data, &self.runtime, &self.config] {
            if dir.is_dir() {
                let _ = crate::fsutil::make_private(dir);
            }
        }
    }

    /// All dirs under one root (the demo and tests use this).
    pub fn under(root: &Path) -> Dirs {
        Dirs {
            config: root.join("config"),
            data: root.join("data"),
            runtime: root.join("run"),
        }
    }

    /// The built-in `local` repository: a PEP 503 directory index.
    pub fn local_index(&self) -> PathBuf {
        self.data.join("index")
    }

    /// The daemon's Unix socket, where hooks send their nudges.
    pub fn socket_path(&self) -> PathBuf {
        self.runtime.join("tagpub.sock")
    }

    /// The builds' cached checkouts (`git::Repo::checkout`), per repository.
    pub fn checkouts(&self) -> PathBuf {
        self.data.join("checkouts")
    }

    /// Per-release working state: artifacts, build log, ledger record.
    pub fn releases(&self) -> PathBuf {
        self.data.join("releases")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn dirs_left_open_by_an_older_version_are_tightened() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let dirs = Dirs::under(root.path());
        for dir in [&dirs.data, &dirs.runtime, &dirs.config] {
            std::fs::create_dir(dir).unwrap();
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        dirs.tighten_existing();
        for dir in [&dirs.data, &dirs.runtime, &dirs.config] {
            let mode = std::fs::metadata(dir).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{}", dir.display());
        }
    }
}
