//! Wheel and sdist file names, parsed the way `packaging.utils` does.
//!
//! Versions stay strings here: whether they are valid PEP 440 is a check
//! (reported with the other findings), not a reason to refuse to open the file.

/// A file name that is not a wheel's or an sdist's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{filename}` is not a valid {kind} file name: {reason}")]
pub struct FilenameError {
    pub filename: String,
    /// `wheel` or `sdist`.
    pub kind: &'static str,
    pub reason: String,
}

/// `{distribution}-{version}(-{build tag})?-{python tag}-{abi tag}-{platform tag}.whl`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WheelFilename {
    /// As written in the file name (escaped: `-` became `_`).
    pub name: String,
    pub version: String,
    pub build_tag: Option<String>,
    /// May be compressed, e.g. `py2.py3`.
    pub python_tag: String,
    pub abi_tag: String,
    pub platform_tag: String,
}

/// `{name}-{version}.tar.gz` or legacy `{name}-{version}.zip`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdistFilename {
    pub name: String,
    pub version: String,
}

fn invalid(filename: &str, kind: &'static str, reason: impl Into<String>) -> FilenameError {
    FilenameError {
        filename: filename.to_string(),
        kind,
        reason: reason.into(),
    }
}

/// Mirrors `packaging.utils.parse_wheel_filename`.
pub fn parse_wheel_filename(filename: &str) -> Result<WheelFilename, FilenameError> {
    let stem = filename
        .strip_suffix(".whl")
        .ok_or_else(|| invalid(filename, "wheel", "it does not end in `.whl`"))?;
    let parts: Vec<&str> = stem.split('-').collect();
    if !(parts.len() == 5 || parts.len() == 6) {
        return Err(invalid(
            filename,
            "wheel",
            "expected `{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl`",
        ));
    }
    if parts.iter().any(|part| part.is_empty()) {
        return Err(invalid(
            filename,
            "wheel",
            "it has an empty `-`-separated part",
        ));
    }
    let name = parts[0];
    // PEP 427 escaping: runs of `-_.` become a single `_`, so `-` and `__`
    // cannot appear (packaging rejects them too).
    if name.contains("__")
        || !name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
    {
        return Err(invalid(
            filename,
            "wheel",
            format!("`{name}` is not an escaped project name"),
        ));
    }
    let build_tag = if parts.len() == 6 {
        let build = parts[2];
        if !build.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(invalid(
                filename,
                "wheel",
                format!("build tag `{build}` must start with a digit"),
            ));
        }
        Some(build.to_string())
    } else {
        None
    };
    let n = parts.len();
    Ok(WheelFilename {
        name: name.to_string(),
        version: parts[1].to_string(),
        build_tag,
        python_tag: parts[n - 3].to_string(),
        abi_tag: parts[n - 2].to_string(),
        platform_tag: parts[n - 1].to_string(),
    })
}

/// Mirrors `packaging.utils.parse_sdist_filename`: rpartition on `-`, since
/// older sdists keep `-` in the name but versions never contain one.
pub fn parse_sdist_filename(filename: &str) -> Result<SdistFilename, FilenameError> {
    let stem = filename
        .strip_suffix(".tar.gz")
        .or_else(|| filename.strip_suffix(".zip"))
        .ok_or_else(|| invalid(filename, "sdist", "it does not end in `.tar.gz` or `.zip`"))?;
    let (name, version) = stem
        .rsplit_once('-')
        .ok_or_else(|| invalid(filename, "sdist", "expected `{name}-{version}.tar.gz`"))?;
    if name.is_empty() || version.is_empty() {
        return Err(invalid(
            filename,
            "sdist",
            "expected `{name}-{version}.tar.gz`",
        ));
    }
    Ok(SdistFilename {
        name: name.to_string(),
        version: version.to_string(),
    })
}
