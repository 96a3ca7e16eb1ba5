//! `tagpub hooks install|uninstall|status`.
//!
//! INTERFACE STUB — implemented by the hooks helper.

use std::process::ExitCode;

use crate::cli::HooksArgs;
use crate::commands::Context;

pub fn run(_ctx: &Context, _args: &HooksArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
