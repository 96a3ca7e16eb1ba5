//! `tagpub doctor`: one screen with everything a release needs, per package,
//! each problem with the command that fixes it.
//!
//! It asks the same code the real thing uses: the token chain
//! (`credentials::lookup_token`) and its offline scope check, the build tool
//! choice (`BuildTool::for_package`), the index listing a release does
//! before uploading (`Repository::list_files_once`), `hooks::status`, and the
//! daemon's own answers on its socket (`Ping`, `Status`).

use std::collections::HashMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::commands::Context;
use crate::config::ConfigError;
use crate::exit::ExitStatus;
use crate::finding::{self, Finding, Status};
use crate::git::Repo;

mod package;
mod setup;

use package::package_report;
use setup::{daemon_checks, git_check, hooks_check, keychain_check, python_check};

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// Print the checks as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
pub struct PackageReport {
    pub name: String,
    pub repository: String,
    pub checks: Vec<Finding>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub ok: bool,
    pub workdir: PathBuf,
    pub checks: Vec<Finding>,
    pub packages: Vec<PackageReport>,
}

impl Report {
    fn all(&self) -> impl Iterator<Item = &Finding> {
        self.checks
            .iter()
            .chain(self.packages.iter().flat_map(|p| p.checks.iter()))
    }
}

pub fn run(ctx: &Context, args: &DoctorArgs) -> anyhow::Result<ExitStatus> {
    let repo = ctx.repo()?;
    let report = diagnose(ctx, &repo);
    if args.json {
        ctx.printer.json(&report)?;
    } else {
        print(ctx, &report);
    }
    Ok(ExitStatus::success_if(report.ok))
}

pub fn diagnose(ctx: &Context, repo: &Repo) -> Report {
    let mut checks = vec![git_check(repo)];
    let config = match ctx.config(repo) {
        Ok(config) => {
            checks.push(Finding::pass(
                "config",
                format!(
                    "{}: {} package(s){}, valid",
                    config.source.display(),
                    config.packages.len(),
                    match config.groups.len() {
                        0 => String::new(),
                        n => format!(" and {n} group(s)"),
                    }
                ),
            ));
            Some(config)
        }
        Err(err) => {
            let missing = err.chain().any(|c| {
                matches!(
                    c.downcast_ref::<ConfigError>(),
                    Some(ConfigError::Missing { .. })
                )
            });
            checks.push(Finding::fail(
                "config",
                crate::exit::chain_text(err.as_ref()),
                if missing {
                    "tagpub init".to_string()
                } else {
                    "edit the file at the line and column above, then run `tagpub doctor` again"
                        .to_string()
                },
            ));
            None
        }
    };
    checks.push(python_check());
    let packages: Vec<PackageReport> = config
        .as_ref()
        .map(|config| {
            let mut tools = HashMap::new();
            config
                .packages
                .iter()
                .map(|package| package_report(ctx, repo, config, package, &mut tools))
                .collect()
        })
        .unwrap_or_default();
    // The keychain matters only as far as some package still lacks a token.
    let all_tokens_found = !packages.is_empty()
        && packages.iter().all(|p| {
            p.checks
                .iter()
                .any(|c| c.name == "token" && c.status == Status::Pass)
        });
    checks.push(keychain_check(all_tokens_found));
    checks.push(hooks_check(repo));
    let (daemon, watch) = daemon_checks(ctx, repo);
    checks.push(daemon);
    checks.push(watch);
    // Shown only when found: another pipeline that uploads races tagpub.
    checks.extend(
        crate::ci::others::find(repo.workdir())
            .iter()
            .map(|upload| Finding::warn("other uploads", upload.problem(), crate::ci::others::FIX)),
    );
    let mut report = Report {
        ok: false,
        workdir: repo.workdir().to_path_buf(),
        checks,
        packages,
    };
    let ok = report.all().all(|c| c.status != Status::Fail);
    report.ok = ok;
    report
}

fn print(ctx: &Context, report: &Report) {
    let p = &ctx.printer;
    let show = |checks: &[Finding]| {
        for line in finding::lines(checks, "") {
            p.line(&line);
        }
    };
    p.line(&format!("tagpub doctor: {}", report.workdir.display()));
    show(&report.checks);
    for package in &report.packages {
        p.line(&format!("{} → {}", package.name, package.repository));
        show(&package.checks);
    }
    let failures = report.all().filter(|c| c.status == Status::Fail).count();
    if failures == 0 {
        p.success("everything a release needs is in place");
    } else {
        p.line(&p.fail(&format!(
            "{failures} problem{} found; each has its fix above",
            if failures == 1 { "" } else { "s" }
        )));
    }
}
