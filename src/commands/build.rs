//! `tagpub build [PACKAGE]`: build a package from HEAD for local testing,
//! the same way a release would (clean export, scrubbed environment).

use clap::Args;
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::Context as _;

use crate::commands::{Context, UsageError};
use crate::exit::ExitStatus;
use crate::pipeline::build::{
    BuildSettings, BuildTool, PretendVersion, PretendWhen, build_backend, build_commit,
    pick_source_date_epoch,
};
use crate::pipeline::check::{Expected, check_path};
use crate::pipeline::resolve::{pretend_version_env, short};
use crate::version::Version;

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The package to build (name from tagpub.toml); may be left out when there is one.
    pub package: Option<String>,
    /// Where to put the files [default: dist/ in the package's directory].
    #[arg(short, long)]
    pub out_dir: Option<PathBuf>,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(ctx: &Context, args: &BuildArgs) -> anyhow::Result<ExitStatus> {
    let (repo, config) = ctx.repo_and_config()?;
    let package = match &args.package {
        Some(name) => config.package(name).ok_or_else(|| {
            UsageError(format!(
                "no package `{name}` in {}; configured: {}",
                config.source.display(),
                config.package_names()
            ))
        })?,
        None if config.packages.len() == 1 => &config.packages[0],
        None => {
            return Err(UsageError(format!(
                "name the package to build: one of {}",
                config.package_names()
            ))
            .into());
        }
    };
    let commit = repo.head_commit()?;
    let out_dir = match &args.out_dir {
        Some(dir) => ctx.cwd.join(dir),
        None => repo.workdir().join(&package.path).join("dist"),
    };
    // HEAD is no release: a dynamic version is always told a local version
    // naming the commit (`PretendWhen::Always`), whatever tags git has.
    let pyproject = repo
        .read_file(&commit, &package.pyproject_path())?
        .with_context(|| format!("{} does not exist at HEAD", package.pyproject_path()))?;
    let static_version = toml::from_str::<toml::Table>(&String::from_utf8_lossy(&pyproject))
        .ok()
        .and_then(|doc| {
            doc.get("project")?
                .get("version")?
                .as_str()
                .and_then(|v| Version::from_str(v).ok())
        });
    let pretend_version = match static_version {
        Some(_) => None,
        None => Some(PretendVersion {
            dist_var: pretend_version_env(&package.name),
            version: format!("0.0.0+g{}", short(&commit)),
            when: PretendWhen::Always,
        }),
    };
    let version = pretend_version
        .as_ref()
        .map(|p| p.version.clone())
        .or_else(|| static_version.as_ref().map(|v| v.to_string()))
        .unwrap_or_default();
    let commit_time = repo.commit_time(&commit)?;
    let epoch = pick_source_date_epoch(
        std::env::var_os("SOURCE_DATE_EPOCH"),
        config.defaults.source_date_epoch,
        build_backend(&pyproject).as_deref(),
        commit_time,
        commit_time,
    )?;
    let tool = BuildTool::for_package(&config, package, None)?;
    let log_dir = tempfile::tempdir()?;
    let log_path = log_dir.path().join("build.log");
    let artifacts = build_commit(
        &repo,
        package,
        &commit,
        &BuildSettings {
            tool: &tool,
            out_dir: &out_dir,
            log_path: &log_path,
            package: &package.name,
            version: &version,
            source_date_epoch: epoch.value,
            pretend_version,
            sandbox: package.sandbox(&config.defaults),
            sandbox_allow: &config.defaults.sandbox_allow,
        },
        &ctx.printer,
        Some(&ctx.dirs.checkouts()),
    )?;

    let mut ok = true;
    let mut files = Vec::new();
    for path in &artifacts {
        let report = check_path(
            path,
            static_version
                .as_ref()
                .map(|version| Expected {
                    name: &package.name,
                    version,
                })
                .as_ref(),
        );
        ok &= report.ok();
        if report.ok() {
            ctx.printer
                .line(&ctx.printer.pass(&path.display().to_string()));
        } else {
            ctx.printer.line(&ctx.printer.fail(&format!(
                "{}: {}",
                path.display(),
                report.errors.join("; ")
            )));
        }
        files.push(path.display().to_string());
    }
    if args.json {
        ctx.printer.json(&serde_json::json!({ "ok": ok, "package": package.name, "commit": commit, "files": files }))?;
    }
    Ok(ExitStatus::success_if(ok))
}
