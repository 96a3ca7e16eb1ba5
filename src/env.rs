//! Every `TAGPUB_*` environment variable, declared once: its name, what it
//! does and its default. Code reads a variable only through its [`Var`]
//! here, and a unit test holds that every `TAGPUB_` name in `src/` is
//! declared and every declared one is in README.md's table.
//!
//! A leaf: it imports nothing of tagpub's.

use std::ffi::OsString;

/// One environment variable tagpub reads (or, for `ci`, writes into the
/// pipelines it generates).
#[derive(Debug, Clone, Copy)]
pub struct Var {
    pub name: &'static str,
    pub effect: &'static str,
    pub default: &'static str,
}

impl Var {
    /// The value when set and valid UTF-8 (possibly empty).
    pub fn get(&self) -> Option<String> {
        std::env::var(self.name).ok()
    }

    /// The value when set, as the OS has it (possibly empty).
    pub fn get_os(&self) -> Option<OsString> {
        std::env::var_os(self.name)
    }

    /// The value when set and not empty: an empty override means "unset".
    pub fn non_empty(&self) -> Option<OsString> {
        self.get_os().filter(|value| !value.is_empty())
    }
}

const fn var(name: &'static str, effect: &'static str, default: &'static str) -> Var {
    Var {
        name,
        effect,
        default,
    }
}

pub const DATA_DIR: Var = var(
    "TAGPUB_DATA_DIR",
    "data dir: releases, job records, the `local` index, the daemon's log",
    "the platform data dir (`~/.local/share/tagpub`)",
);
pub const CONFIG_DIR: Var = var(
    "TAGPUB_CONFIG_DIR",
    "config dir",
    "the platform config dir (`~/.config/tagpub`)",
);
pub const RUNTIME_DIR: Var = var(
    "TAGPUB_RUNTIME_DIR",
    "runtime dir: the daemon's socket and locks",
    "`$XDG_RUNTIME_DIR/tagpub`, else `$DATA/run`",
);
pub const LOG: Var = var(
    "TAGPUB_LOG",
    "log filter (`tracing` EnvFilter syntax, e.g. `tagpub=debug`)",
    "by `-v`/`-q`: `warn`",
);
pub const LOG_MAX_BYTES: Var = var(
    "TAGPUB_LOG_MAX_BYTES",
    "size of the daemon's log file before it rotates",
    "5 MiB",
);
pub const OFFLINE: Var = var(
    "TAGPUB_OFFLINE",
    "`plan` and `bump` do not ask the index (same as `--offline`)",
    "false",
);
pub const PYTHON: Var = var(
    "TAGPUB_PYTHON",
    "the Python for `python -m build`, venvs, `readme_renderer` and the demo",
    "`python3` on PATH",
);
pub const RST: Var = var(
    "TAGPUB_RST",
    "RST description check: `native`, `readme_renderer` or `auto`",
    "`auto`",
);
pub const PYPIRC: Var = var(
    "TAGPUB_PYPIRC",
    "the `.pypirc` file tokens are read from",
    "`~/.pypirc`",
);
pub const ID_TOKEN: Var = var(
    "TAGPUB_ID_TOKEN",
    "an OIDC ID token for trusted publishing (also `PYPI_ID_TOKEN`)",
    "asked from the CI service",
);
pub const KEYCHAIN_TIMEOUT_MS: Var = var(
    "TAGPUB_KEYCHAIN_TIMEOUT_MS",
    "bound on one OS keychain call, in milliseconds",
    "5000",
);
pub const HTTP_TIMEOUT: Var = var(
    "TAGPUB_HTTP_TIMEOUT",
    "timeout of an index request other than an upload (e.g. `30s`)",
    "60s",
);
pub const UPLOAD_TIMEOUT: Var = var(
    "TAGPUB_UPLOAD_TIMEOUT",
    "timeout of one upload (e.g. `30m`)",
    "15m",
);
pub const RETRIES: Var = var("TAGPUB_RETRIES", "retries of a failed index request", "4");
pub const RETRY_BASE: Var = var(
    "TAGPUB_RETRY_BASE",
    "first backoff delay, doubled per retry (e.g. `1s`)",
    "1s",
);
pub const RESCAN_INTERVAL: Var = var(
    "TAGPUB_RESCAN_INTERVAL",
    "the daemon's periodic rescan of watched repositories (e.g. `2s`)",
    "5m",
);
pub const SYSTEMD_USER_DIR: Var = var(
    "TAGPUB_SYSTEMD_USER_DIR",
    "where `tagpub service install` writes the systemd user unit",
    "`~/.config/systemd/user`",
);
pub const FAULT: Var = var(
    "TAGPUB_FAULT",
    "tests only: crash at a named point (`<name>`, `hit:<n>`, `panic:<name>`)",
    "unset",
);
pub const FAULT_TRACE: Var = var(
    "TAGPUB_FAULT_TRACE",
    "tests only: file that each crossed fault point is appended to",
    "unset",
);
pub const DRY_RUN: Var = var(
    "TAGPUB_DRY_RUN",
    "GitLab CI variable of the generated pipeline: `true` builds and checks the tag without publishing",
    "unset",
);

/// Every variable, in README order.
pub const ALL: [Var; 20] = [
    DATA_DIR,
    CONFIG_DIR,
    RUNTIME_DIR,
    LOG,
    LOG_MAX_BYTES,
    OFFLINE,
    PYTHON,
    RST,
    PYPIRC,
    ID_TOKEN,
    KEYCHAIN_TIMEOUT_MS,
    HTTP_TIMEOUT,
    UPLOAD_TIMEOUT,
    RETRIES,
    RETRY_BASE,
    RESCAN_INTERVAL,
    SYSTEMD_USER_DIR,
    FAULT,
    FAULT_TRACE,
    DRY_RUN,
];

/// A secret-name prefix, not a variable: `credentials` withholds every
/// `TAGPUB_TOKEN*` from children.
pub const TOKEN_PREFIX: &str = "TAGPUB_TOKEN";

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;

    /// `TAGPUB_` followed by upper-case letters, digits and underscores.
    fn names_in(text: &str) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        for (start, _) in text.match_indices("TAGPUB_") {
            let name: String = text[start..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            let name = name.trim_end_matches('_');
            // `TAGPUB_` alone (this scanner's own text) names nothing.
            if name.len() > "TAGPUB".len() {
                names.insert(name.to_string());
            }
        }
        names
    }

    #[test]
    fn every_tagpub_name_in_the_source_is_declared_here() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        crate::layering::rust_files(&root, &mut files);
        assert!(files.len() > 20, "found only {files:?}");
        let declared: BTreeSet<&str> = ALL.iter().map(|v| v.name).collect();
        let mut undeclared = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for name in names_in(&text) {
                if !declared.contains(name.as_str()) && name != TOKEN_PREFIX {
                    undeclared.push(format!("{name} in {}", file.display()));
                }
            }
        }
        assert!(
            undeclared.is_empty(),
            "declare these in src/env.rs: {undeclared:#?}"
        );
    }

    #[test]
    fn the_readme_table_is_the_declarations() {
        let readme =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
                .unwrap();
        for var in ALL {
            let row = format!("| `{}` | {} | {} |", var.name, var.effect, var.default);
            assert!(
                readme.lines().any(|line| line == row),
                "README.md's environment table needs the row\n{row}"
            );
        }
        let names: BTreeSet<&str> = ALL.iter().map(|v| v.name).collect();
        assert_eq!(names.len(), ALL.len(), "a variable is declared twice");
    }

    #[test]
    fn the_name_scanner_finds_names_and_only_names() {
        let names = names_in("TAGPUB_DATA_DIR=x $TAGPUB_LOG_MAX_BYTES, TAGPUB_FAULT=panic:a");
        assert_eq!(
            names.into_iter().collect::<Vec<_>>(),
            ["TAGPUB_DATA_DIR", "TAGPUB_FAULT", "TAGPUB_LOG_MAX_BYTES"]
        );
    }
}
