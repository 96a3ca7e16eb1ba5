//! SOURCE_DATE_EPOCH: which value a build gets and why
//! ([`pick_source_date_epoch`]), and the sdist clamped to it afterwards
//! ([`clamp_sdist`]: setuptools dates generated files and the gzip header
//! "now" even with it set).

use std::ffi::OsString;
use std::fs::{self};
use std::io::{Read as _, Write as _};
use std::path::Path;

use super::BuildError;
use crate::config::{Config, EpochSource, SourceDateEpoch};
use crate::git::{GitError, Repo};
use crate::pipeline::resolve::Plan;

/// Build backends whose files are byte-identical between builds without
/// SOURCE_DATE_EPOCH, whatever the files' mtimes (each has its own fixed
/// date): tagpub leaves it unset for them, so their files equal a plain
/// `uv build` of a checkout. Not flit-core nor pdm-backend: without it their
/// sdists (and flit's wheels) take the checkout's mtimes, so a plain build
/// is not reproducible and the tag's date is the better default.
pub const SELF_REPRODUCIBLE_BACKENDS: [&str; 4] = [
    "hatchling.build",
    // hatchling building itself (pypa/hatch's backend/).
    "hatchling.ouroboros",
    "uv_build",
    "poetry.core.masonry.api",
];

/// `[build-system] build-backend` of a `pyproject.toml` (`None`: not set,
/// which means setuptools' legacy backend).
pub fn build_backend(pyproject: &[u8]) -> Option<String> {
    let doc: toml::Table = toml::from_str(&String::from_utf8_lossy(pyproject)).ok()?;
    Some(
        doc.get("build-system")?
            .get("build-backend")?
            .as_str()?
            .to_string(),
    )
}

/// The build's SOURCE_DATE_EPOCH and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochChoice {
    /// `None`: not set; the backend's own default applies.
    pub value: Option<i64>,
    pub origin: String,
}

/// Picks SOURCE_DATE_EPOCH: the environment's (the user's), else the
/// config's, else unset for [`SELF_REPRODUCIBLE_BACKENDS`], else `tag_time`.
pub fn pick_source_date_epoch(
    from_env: Option<OsString>,
    configured: Option<SourceDateEpoch>,
    backend: Option<&str>,
    tag_time: i64,
    commit_time: i64,
) -> Result<EpochChoice, BuildError> {
    if let Some(raw) = from_env.filter(|v| !v.is_empty()) {
        let text = raw.to_string_lossy();
        return match text.trim().parse::<i64>() {
            Ok(value) if value >= 0 => Ok(EpochChoice {
                value: Some(value),
                origin: "from the environment".into(),
            }),
            _ => Err(BuildError::BadEpoch(text.into_owned())),
        };
    }
    let (value, origin) = match configured {
        Some(SourceDateEpoch::Seconds(value)) => (Some(value), "from tagpub.toml"),
        Some(SourceDateEpoch::Named(EpochSource::Tag)) => {
            (Some(tag_time), "the tag's date (tagpub.toml)")
        }
        Some(SourceDateEpoch::Named(EpochSource::Commit)) => {
            (Some(commit_time), "the commit's date (tagpub.toml)")
        }
        Some(SourceDateEpoch::Named(EpochSource::Backend)) => {
            (None, "the build backend's default (tagpub.toml)")
        }
        None => match backend {
            Some(b) if SELF_REPRODUCIBLE_BACKENDS.contains(&b) => {
                (None, "the build backend's own fixed date")
            }
            _ => (Some(tag_time), "the tag's date"),
        },
    };
    Ok(EpochChoice {
        value,
        origin: origin.into(),
    })
}

/// The build's SOURCE_DATE_EPOCH ([`pick_source_date_epoch`]), from the
/// package's build backend at the tagged commit.
pub fn source_date_epoch(
    repo: &Repo,
    config: &Config,
    plan: &Plan,
) -> Result<EpochChoice, BuildError> {
    let git_failed = |context: String| {
        move |err: GitError| BuildError::Io {
            context,
            source: std::io::Error::other(err),
        }
    };
    let pyproject_path = plan.package_config.pyproject_path();
    let backend = repo
        .read_file(&plan.commit, &pyproject_path)
        .map_err(git_failed(format!(
            "cannot read {pyproject_path} at {}",
            plan.commit
        )))?
        .and_then(|bytes| build_backend(&bytes));
    let commit_time = repo.commit_time(&plan.commit).map_err(git_failed(format!(
        "cannot read the date of {}",
        plan.commit
    )))?;
    pick_source_date_epoch(
        std::env::var_os("SOURCE_DATE_EPOCH"),
        config.defaults.source_date_epoch,
        backend.as_deref(),
        plan.source_date_epoch,
        commit_time,
    )
}

/// Rewrites the sdist at `path` so no entry, and not the gzip header, is
/// dated after `epoch` (other bytes of each entry unchanged); returns
/// whether it had to. setuptools dates its generated files "now".
pub fn clamp_sdist(path: &Path, epoch: i64) -> Result<bool, BuildError> {
    let failed = |what: &str| {
        let context = format!("cannot {what} {}", path.display());
        move |source: std::io::Error| BuildError::Io { context, source }
    };
    let compressed = fs::read(path).map_err(failed("read"))?;
    let mut decoder = flate2::read::GzDecoder::new(&compressed[..]);
    let mut tar_bytes = Vec::new();
    decoder
        .read_to_end(&mut tar_bytes)
        .map_err(failed("decompress"))?;
    let header = decoder.header().cloned();
    let gz_mtime = header.as_ref().map_or(0, |h| i64::from(h.mtime()));
    let clamp = epoch.max(0);

    let mut changed = gz_mtime > clamp;
    let mut builder = tar::Builder::new(Vec::new());
    let mut archive = tar::Archive::new(&tar_bytes[..]);
    let entries = archive.entries().map_err(failed("read"))?.raw(true);
    for entry in entries {
        let mut entry = entry.map_err(failed("read"))?;
        let mut head = entry.header().clone();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).map_err(failed("read"))?;
        let kind = head.entry_type();
        if (kind.is_pax_local_extensions() || kind.is_pax_global_extensions())
            && let Some(clamped) = clamp_pax(&data, clamp)
        {
            data = clamped;
            head.set_size(data.len() as u64);
            changed = true;
        }
        if head.mtime().map_err(failed("read"))? > clamp as u64 {
            head.set_mtime(clamp as u64);
            changed = true;
        }
        head.set_cksum();
        builder
            .append(&head, &data[..])
            .map_err(failed("rewrite"))?;
    }
    if !changed {
        return Ok(false);
    }
    let tar_bytes = builder.into_inner().map_err(failed("rewrite"))?;
    let mut gz = flate2::GzBuilder::new().mtime(u32::try_from(clamp).unwrap_or(0));
    if let Some(name) = header.as_ref().and_then(|h| h.filename()) {
        gz = gz.filename(name);
    }
    let mut encoder = gz.write(Vec::new(), flate2::Compression::best());
    encoder.write_all(&tar_bytes).map_err(failed("rewrite"))?;
    let rewritten = encoder.finish().map_err(failed("rewrite"))?;
    crate::fsutil::write_atomic(path, &rewritten).map_err(failed("write"))?;
    Ok(true)
}

/// A pax header's records with `mtime`/`atime`/`ctime` later than `clamp`
/// set to it; `None` when none is.
fn clamp_pax(data: &[u8], clamp: i64) -> Option<Vec<u8>> {
    let mut records: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let space = rest.iter().position(|&b| b == b' ')?;
        let len: usize = std::str::from_utf8(&rest[..space]).ok()?.parse().ok()?;
        let record = rest.get(space + 1..len)?.strip_suffix(b"\n")?;
        let eq = record.iter().position(|&b| b == b'=')?;
        records.push((record[..eq].to_vec(), record[eq + 1..].to_vec()));
        rest = &rest[len..];
    }
    let mut changed = false;
    for (key, value) in &mut records {
        if matches!(&key[..], b"mtime" | b"atime" | b"ctime")
            && std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.parse::<f64>().ok())
                .is_some_and(|t| t > clamp as f64)
        {
            *value = clamp.to_string().into_bytes();
            changed = true;
        }
    }
    if !changed {
        return None;
    }
    let mut out = Vec::new();
    for (key, value) in records {
        let body_len = 1 + key.len() + 1 + value.len() + 1; // " k=v\n"
        let mut len = body_len + 1;
        while body_len + len.to_string().len() != len {
            len = body_len + len.to_string().len();
        }
        out.extend_from_slice(len.to_string().as_bytes());
        out.push(b' ');
        out.extend_from_slice(&key);
        out.push(b'=');
        out.extend_from_slice(&value);
        out.push(b'\n');
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_date_epoch_env_then_config_then_backend() {
        let pick = |env: Option<&str>, config, backend| {
            pick_source_date_epoch(env.map(OsString::from), config, backend, 100, 50)
                .map(|c| c.value)
        };
        assert_eq!(pick(None, None, Some("hatchling.build")).unwrap(), None);
        assert_eq!(pick(None, None, Some("uv_build")).unwrap(), None);
        assert_eq!(
            pick(None, None, Some("flit_core.buildapi")).unwrap(),
            Some(100)
        );
        assert_eq!(pick(None, None, Some("pdm.backend")).unwrap(), Some(100));
        assert_eq!(
            pick(None, None, Some("setuptools.build_meta")).unwrap(),
            Some(100)
        );
        assert_eq!(pick(None, None, None).unwrap(), Some(100));
        assert_eq!(
            pick(
                Some("7"),
                Some(SourceDateEpoch::Seconds(9)),
                Some("hatchling.build")
            )
            .unwrap(),
            Some(7)
        );
        assert_eq!(
            pick(
                None,
                Some(SourceDateEpoch::Seconds(9)),
                Some("hatchling.build")
            )
            .unwrap(),
            Some(9)
        );
        let named = |source| Some(SourceDateEpoch::Named(source));
        assert_eq!(
            pick(None, named(EpochSource::Commit), None).unwrap(),
            Some(50)
        );
        assert_eq!(
            pick(None, named(EpochSource::Tag), Some("hatchling.build")).unwrap(),
            Some(100)
        );
        assert_eq!(pick(None, named(EpochSource::Backend), None).unwrap(), None);
        assert!(matches!(
            pick(Some("soon"), None, None),
            Err(BuildError::BadEpoch(_))
        ));
    }

    #[test]
    fn pax_times_are_clamped_and_lengths_rewritten() {
        let data = b"28 mtime=1796546668.2469232\n21 path=pkg-1.0/a.py\n";
        let clamped = clamp_pax(data, 1_700_000_000).unwrap();
        assert_eq!(
            String::from_utf8(clamped).unwrap(),
            "20 mtime=1700000000\n21 path=pkg-1.0/a.py\n"
        );
        assert_eq!(clamp_pax(b"20 mtime=1600000000\n", 1_700_000_000), None);
    }
}
