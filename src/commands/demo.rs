//! `tagpub demo`: the main job end to end, with no account and no server.
//! Makes the sample monorepo, writes its config with `init`'s logic, tags two
//! packages, releases them to a `local` index and pip-installs the result.

use clap::Args;
use std::path::Path;
use std::process::Output;

use anyhow::{Context as _, bail};

use crate::commands::Context;
use crate::config::{CONFIG_FILE, Config};
use crate::dirs::Dirs;
use crate::exit::ExitStatus;
use crate::git::{self, Repo};
use crate::pipeline::build::{BuildTool, python_interpreter};
use crate::pipeline::install_check::venv_python;
use crate::pipeline::release::{Release, ReleaseOptions};
use crate::pipeline::resolve::resolve;
use crate::process::find_on_path;
use crate::process::{Child, RunError};
use crate::render::{print_plan, print_summary};
use crate::report::Reporter;
use crate::sample;
use crate::scaffold::{find_packages, render_config};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the sample repository and index instead of deleting them.
    #[arg(long)]
    pub keep: bool,
}

pub fn run(ctx: &Context, args: &DemoArgs) -> anyhow::Result<ExitStatus> {
    let workspace = tempfile::Builder::new().prefix("tagpub-demo-").tempdir()?;
    let root = workspace.path().to_path_buf();
    let result = demo(ctx, &root);
    if args.keep || result.is_err() {
        let kept = workspace.keep();
        ctx.printer
            .line(&format!("the demo's files are kept in {}", kept.display()));
    }
    result
}

fn demo(ctx: &Context, root: &Path) -> anyhow::Result<ExitStatus> {
    let printer = &ctx.printer;
    let python = python_interpreter()
        .context("the demo needs Python 3 (python3 on PATH, or TAGPUB_PYTHON)")?;
    let build_tool = demo_build_tool(ctx, &python)?;

    let repo_dir = root.join("open-ticket-ai");
    printer.step(&format!(
        "creating a sample monorepo in {}",
        repo_dir.display()
    ));
    sample::write_monorepo(&repo_dir, "1.0.0")?;
    std::fs::write(
        repo_dir.join(CONFIG_FILE),
        render_config(&find_packages(&repo_dir), "local"),
    )?;
    git::init_repository(&repo_dir)?;
    git::commit_all(&repo_dir, "Initial commit")?;
    let tags = ["v1.0.0", "hf-local-v1.0.0"];
    for tag in tags {
        git::create_annotated_tag(&repo_dir, tag, &format!("Release {tag}"))?;
        printer.line(&format!("  git tag -a {tag}"));
    }

    // The demo's index and state live in its own directory, so it never
    // touches (or conflicts with) the user's real `local` index.
    let dirs = Dirs::under(&root.join("state"));
    let repo = Repo::discover(&repo_dir)?;
    let config = Config::discover(&repo_dir)?;
    let release = Release {
        repo: &repo,
        config: &config,
        dirs: &dirs,
        reporter: printer,
    };
    let options = ReleaseOptions {
        build_tool: Some(build_tool),
        ..ReleaseOptions::default()
    };
    let mut simple_url = String::new();
    for tag in tags {
        printer.line("");
        let plan = resolve(&repo, &config, tag, None)?;
        print_plan(printer, &plan);
        let summary = release.run(&plan, &options)?;
        print_summary(printer, &summary);
        simple_url = summary.members[0].simple_url.clone();
    }

    printer.line("");
    printer
        .step("installing open-ticket-ai-hf-local==1.0.0 from the local index into a fresh venv");
    let venv = root.join("venv");
    run_quiet(
        Child::new(&python).args(["-m", "venv"]).arg(&venv),
        "create a venv",
    )?;
    let venv_python = venv_python(&venv);
    run_quiet(
        Child::new(&venv_python)
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-cache-dir",
                "--index-url",
            ])
            .arg(&simple_url)
            .arg("open-ticket-ai-hf-local==1.0.0"),
        "pip install from the local index",
    )?;
    let output = run_quiet(
        Child::new(&venv_python).args([
            "-c",
            "import importlib.metadata as m, open_ticket_ai_hf_local as p; \
             print(p.NAME, p.CORE_NAME, m.version('open-ticket-ai-hf-local'), m.version('open-ticket-ai'))",
        ]),
        "import the installed package",
    )?;
    let seen = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if seen != "hf-local core 1.0.0 1.0.0" {
        bail!("the installed package reports `{seen}`, expected `hf-local core 1.0.0 1.0.0`");
    }
    printer.success(&format!(
        "demo complete: pip installed open-ticket-ai-hf-local 1.0.0 and its dependency open-ticket-ai 1.0.0 from {simple_url}"
    ));
    Ok(ExitStatus::Success)
}

/// uv if present; else `python -m build`, installing `build` once into a
/// venv under tagpub's data dir when the system Python lacks it.
fn demo_build_tool(ctx: &Context, python: &Path) -> anyhow::Result<BuildTool> {
    if let Some(uv) = find_on_path("uv") {
        return Ok(BuildTool::Uv(uv));
    }
    if Child::new(python)
        .args(["-c", "import build"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return Ok(BuildTool::PythonBuild(python.to_path_buf()));
    }
    let tools = ctx.dirs.data.join("demo-tools");
    let tools_python = venv_python(&tools);
    let ready = Child::new(&tools_python)
        .args(["-c", "import build"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ready {
        ctx.printer.step(&format!(
            "installing `build` into {} (once)",
            tools.display()
        ));
        run_quiet(
            Child::new(python).args(["-m", "venv"]).arg(&tools),
            "create a venv",
        )?;
        run_quiet(
            Child::new(&tools_python).args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "build",
            ]),
            "pip install build",
        )?;
    }
    Ok(BuildTool::PythonBuild(tools_python))
}

fn run_quiet(command: &mut Child, what: &str) -> anyhow::Result<Output> {
    command
        .stdin(std::process::Stdio::null())
        .run(30)
        .map_err(|err| match err {
            RunError::Failed { status, tail, .. } => {
                anyhow::anyhow!("could not {what} ({status}):\n{tail}")
            }
            other => anyhow::Error::new(other).context(format!("cannot {what}")),
        })
}
