use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    tagpub::process::make_undumpable();
    tagpub::run(tagpub::cli::Cli::parse())
}
