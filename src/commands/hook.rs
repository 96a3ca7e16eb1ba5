//! The entry points the installed hooks call: `tagpub hook pre-push` (the
//! release-tag gate) and `tagpub hook nudge` (tell the daemon tags changed).

use std::process::ExitCode;

use crate::cli::{HookArgs, HookCommand};
use crate::commands::Context;

pub fn run(_ctx: &Context, args: &HookArgs) -> anyhow::Result<ExitCode> {
    match &args.command {
        HookCommand::PrePush { .. } => anyhow::bail!("not implemented yet"),
        HookCommand::Nudge => Ok(ExitCode::SUCCESS),
    }
}
