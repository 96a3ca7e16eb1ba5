use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    tagpub::run(tagpub::cli::Cli::parse())
}
