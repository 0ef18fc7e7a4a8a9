//! `vmstate extract-ram STREAM -o DIR`: every RAM block of a stream into
//! its own sparse file in the new directory DIR, as QEMU's
//! `analyze-migration.py -x` does (without its `desc.json` and
//! `state.json`: `vmstate desc` and `vmstate dump --format json` print
//! those). The library's [`vmstate_core::ram_extract`] does the work: file
//! names (block names are escaped, `/rom@etc/acpi/tables` becomes
//! `%2From@etc%2Facpi%2Ftables`), holes for zero pages, XBZRLE decoding,
//! mapped-ram regions read at their file offsets. DIR appears only if
//! everything succeeded; it must not exist, or be empty.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;

use vmstate_core::dynamic::DescriptionArena;
use vmstate_core::ram_extract::{
    ExtractError, ExtractOptions, ExtractedBlock, RamExtractor, extract_ram,
};

use crate::error::{CliError, report};
use crate::input::{Input, Progress};
use crate::limits::LimitArgs;
use crate::session;

/// Arguments of `vmstate extract-ram`.
#[derive(Debug, Clone, clap::Args)]
pub struct ExtractRamArgs {
    /// The migration stream (`-` for standard input).
    pub file: PathBuf,
    /// The directory to create, one file per RAM block.
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    pub output: PathBuf,
    /// Check the device sections with this vmdesc instead of the stream's
    /// own: another stream of the same QEMU and machine, or a saved
    /// `vmstate desc` JSON. Without one, device sections are skipped up to
    /// their footers.
    #[arg(long, value_name = "FILE")]
    pub vmdesc: Option<PathBuf>,
    /// The `--max-*` limits.
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Runs `vmstate extract-ram`.
pub fn run(args: &ExtractRamArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    report("extract-ram", extract(args, out), err)
}

/// The CLI error for a failed extraction of the input `name`.
fn cli_error(name: &str) -> impl Fn(ExtractError) -> CliError + '_ {
    move |e| match e {
        ExtractError::Output {
            action,
            path,
            source,
        } => CliError::File {
            action,
            path: path.display().to_string(),
            source,
        },
        ExtractError::Stream(source) => CliError::Stream {
            name: name.to_owned(),
            source,
        },
        other => CliError::Invalid {
            name: name.to_owned(),
            message: other.to_string(),
        },
    }
}

fn extract(args: &ExtractRamArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let limits = args.limits.limits();
    let mut input = Input::open(Some(&args.file), &limits)?;
    let name = input.name.clone();
    let fail = cli_error(&name);
    let arena = DescriptionArena::with_limits(limits);
    let schema = session::schema(&arena, &input, args.vmdesc.as_deref())?;
    let mut ex = RamExtractor::create(&args.output, ExtractOptions::default()).map_err(&fail)?;
    if let Some(path) = input.file_path() {
        // A second handle with its own file offset, for mapped-ram pages.
        let f = File::open(path).map_err(CliError::file("open", path))?;
        ex = ex.with_source(Box::new(f));
    }
    let mut dec = session::decoder(&mut input, schema.as_ref(), limits)?;
    let mut progress = Progress::new(input.len);
    extract_ram(&mut dec, &mut ex, |p| progress.update(p)).map_err(&fail)?;
    progress.finish();
    let blocks = ex.finish().map_err(&fail)?;
    for b in &blocks {
        writeln!(out, "{}", block_line(b))?;
    }
    writeln!(
        out,
        "{} RAM block(s) of {name} extracted into {}",
        blocks.len(),
        args.output.display()
    )?;
    Ok(out.flush()?)
}

/// One line per block: file, block name, length, pages.
fn block_line(b: &ExtractedBlock) -> String {
    let mut line = format!(
        "{}: block {:?}, length {:#x}, {} page(s) written",
        b.file_name,
        b.name.to_string_lossy(),
        b.length,
        b.pages
    );
    if b.xbzrle_pages > 0 {
        line.push_str(&format!(" ({} XBZRLE)", b.xbzrle_pages));
    }
    if b.zero_pages > 0 {
        line.push_str(&format!(", {} zero page(s)", b.zero_pages));
    }
    if b.mapped {
        line.push_str(", mapped-ram");
    }
    line
}
