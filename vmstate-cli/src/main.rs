//! The `vmstate` command: a thin dispatcher over the subcommands in the
//! `vmstate_cli` library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use vmstate_cli::terminal::SafeText;
use vmstate_cli::{
    check_cmd, compat_cmd, convert_cmd, desc_cmd, diff_cmd, dump_cmd, extract_cmd, net_cmd,
    reencode_cmd, set_cmd,
};

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
    Compat(compat_cmd::CompatArgs),
    /// Decode a migration stream with its own vmdesc: every section, field
    /// by field (text), or the JSON of QEMU's analyze-migration.py.
    Dump(dump_cmd::DumpArgs),
    /// Print a stream's vmdesc like analyze-migration.py -d desc.
    Desc(desc_cmd::DescArgs),
    /// Decode every section and write the stream again (byte-identical).
    Reencode(reencode_cmd::ReencodeArgs),
    /// Convert a whole stream to a JSON document (`--to json`: the state
    /// with field names and wire types, RAM and records with their data) or
    /// to the self-describing BER format (`--to ber`), and either back
    /// (`--to qemu`), byte for byte.
    Convert(convert_cmd::ConvertArgs),
    /// Change fields of a stream (`PATH=VALUE`, paths as `dump` prints
    /// them), keeping every other byte; refuses values that do not fit,
    /// unknown paths (suggesting near ones) and size changes.
    Set(set_cmd::SetArgs),
    /// Write every RAM block into its own sparse file in a new directory
    /// (like analyze-migration.py -x); zero pages stay holes.
    ExtractRam(extract_cmd::ExtractRamArgs),
    /// Validate a stream: structure, footers, sizes against the vmdesc;
    /// exit status 1 and the byte offset of the first problem. Without a
    /// usable vmdesc (QEMU loads such streams), warn and check the framing.
    Check(check_cmd::CheckArgs),
    /// Show which devices and fields differ between two streams (exit
    /// status 0: same, 1: different, 2: trouble).
    Diff(diff_cmd::DiffArgs),
    /// Receive a live migration (QEMU: `migrate tcp:ADDR`) into a file,
    /// validating it as it arrives; exit status 1 and the byte offset of
    /// the first problem. Bounded by --timeout, --deadline and --max-bytes.
    Listen(net_cmd::ListenArgs),
    /// Send a stream to a QEMU started with `-incoming tcp:ADDR`; exit
    /// status 0 once every byte is written and the peer closed. Bounded by
    /// --timeout and --deadline.
    Send(net_cmd::SendArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    // Names from a stream never reach the terminal raw; only a stream
    // written to standard output (`reencode -o -`, `convert --to qemu -o -`,
    // `set -o -`) is binary.
    let err = &mut SafeText::new(stderr.lock());
    let binary = match &cli.command {
        Command::Reencode(a) => a.output.as_os_str() == "-",
        // JSON is text; QEMU streams and BER documents are binary.
        Command::Convert(a) => a.output.as_os_str() == "-" && a.to != convert_cmd::Format::Json,
        Command::Set(a) => a.output.as_os_str() == "-",
        _ => false,
    };
    let (mut text, mut raw);
    let out: &mut dyn std::io::Write = if binary {
        raw = stdout.lock();
        &mut raw
    } else {
        text = SafeText::new(stdout.lock());
        &mut text
    };
    let status = match &cli.command {
        Command::Compat(args) => compat_cmd::run(args, out, err),
        Command::Dump(args) => dump_cmd::run(args, out, err),
        Command::Desc(args) => desc_cmd::run(args, out, err),
        Command::Reencode(args) => reencode_cmd::run(args, out, err),
        Command::Convert(args) => convert_cmd::run(args, out, err),
        Command::Set(args) => set_cmd::run(args, out, err),
        Command::ExtractRam(args) => extract_cmd::run(args, out, err),
        Command::Check(args) => check_cmd::run(args, out, err),
        Command::Diff(args) => diff_cmd::run(args, out, err),
        Command::Listen(args) => net_cmd::run_listen(args, out, err),
        Command::Send(args) => net_cmd::run_send(args, out, err),
    };
    ExitCode::from(status)
}
