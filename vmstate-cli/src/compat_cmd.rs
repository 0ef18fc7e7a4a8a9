//! The `vmstate compat` subcommand: argument handling and output around
//! [`compat::check`].

use std::io::Write;
use std::path::{Path, PathBuf};

use vmstate_core::dump::DumpFile;

use vmstate_core::compat::{self, Options};

use crate::error::CliError;

/// Output format of `vmstate compat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Exactly what QEMU's vmstate-static-checker.py prints.
    #[default]
    Text,
    /// A JSON document: problems, exit_status and findings (kind, section,
    /// description, field, message, explanation, counted).
    Json,
}

/// Arguments of `vmstate compat`.
#[derive(Debug, Clone, clap::Args)]
pub struct CompatArgs {
    /// `-dump-vmstate` JSON from the source QEMU.
    pub src: PathBuf,
    /// `-dump-vmstate` JSON from the destination QEMU.
    pub dest: PathBuf,
    /// Swap source and destination (check backward migration).
    #[arg(long)]
    pub reverse: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Text output: after each finding, why it breaks migration.
    #[arg(long)]
    pub explain: bool,
    /// Beyond QEMU: count section-level minimum-version errors and compare
    /// the "wire_type" of fields where both dumps have it.
    #[arg(long)]
    pub strict: bool,
}

/// Exit status when a file cannot be read or parsed (the error goes to
/// stderr). QEMU's script dies with a Python traceback (status 1) there;
/// we use 255, the status of "too many problems to count", so that a broken
/// input is never mistaken for a single finding.
pub const EXIT_INPUT_ERROR: u8 = 255;

fn load(path: &Path) -> Result<DumpFile, CliError> {
    let text = std::fs::read_to_string(path).map_err(CliError::file("read", path))?;
    DumpFile::parse(&text).map_err(|source| CliError::Dump {
        path: path.display().to_string(),
        source,
    })
}

/// Runs `vmstate compat`, printing to `out` and errors to `err`; returns
/// the exit status.
pub fn run(args: &CompatArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let (src, dest) = match (load(&args.src), load(&args.dest)) {
        (Ok(s), Ok(d)) => (s, d),
        (Err(e), _) | (_, Err(e)) => {
            let _ = writeln!(err, "vmstate compat: {e}");
            return EXIT_INPUT_ERROR;
        }
    };
    let report = compat::check(
        &src,
        &dest,
        Options {
            reverse: args.reverse,
            strict: args.strict,
        },
    );
    let text = match args.format {
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&report.to_json()).unwrap_or_default();
            s.push('\n');
            s
        }
        Format::Text if args.explain => report.explained_text(),
        Format::Text => report.stdout.clone(),
    };
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        let _ = writeln!(err, "vmstate compat: cannot write output: {e}");
    }
    report.exit_status()
}
