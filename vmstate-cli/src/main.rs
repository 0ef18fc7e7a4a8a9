//! The `vmstate` command: a thin dispatcher over the subcommands in the
//! `vmstate_cli` library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Inspect, check and compare QEMU migration state.
#[derive(Debug, Parser)]
#[command(name = "vmstate", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Compare two -dump-vmstate files like QEMU's vmstate-static-checker.py;
    /// the exit status is the number of problems (at most 255).
    Compat(vmstate_cli::compat_cmd::CompatArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let status = match &cli.command {
        Command::Compat(args) => {
            vmstate_cli::compat_cmd::run(args, &mut stdout.lock(), &mut stderr.lock())
        }
    };
    ExitCode::from(status)
}
