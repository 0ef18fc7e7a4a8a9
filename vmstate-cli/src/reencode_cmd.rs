//! `vmstate reencode FILE -o OUT`: every device section decoded into values
//! with the stream's vmdesc and encoded again by the output visitor, RAM and
//! the other iterative sections copied record by record, the framing written
//! anew ([`vmstate_core::stream::reencode`]). For every stream QEMU writes,
//! OUT equals FILE byte for byte. OUT is written only if everything
//! succeeded; a stream with bytes after its end (EOF and the vmdesc), which
//! `check` refuses too, is refused rather than written without them.

use std::io::Write;
use std::path::PathBuf;

use qemufile::QemuRead;

use vmstate_core::dynamic::DescriptionArena;

use crate::error::{CliError, report};
use crate::input::{Input, Progress};
use crate::limits::LimitArgs;
use crate::output::Output;
use crate::session;

/// Arguments of `vmstate reencode`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReencodeArgs {
    /// The migration stream (`-` for standard input).
    pub file: PathBuf,
    /// Where to write the re-encoded stream (`-` for standard output).
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
    /// Decode the device sections with this vmdesc instead of the stream's
    /// own: another stream of the same QEMU and machine, or a saved
    /// `vmstate desc` JSON.
    #[arg(long, value_name = "FILE")]
    pub vmdesc: Option<PathBuf>,
    /// The `--max-*` limits.
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Runs `vmstate reencode`.
pub fn run(args: &ReencodeArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    report("reencode", reencode(args, out), err)
}

fn reencode(args: &ReencodeArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let mut input = Input::open(Some(&args.file), &args.limits.limits())?;
    let arena = DescriptionArena::with_limits(args.limits.limits());
    let schema = session::schema(&arena, &input, args.vmdesc.as_deref())?;
    let source = (args.file.as_os_str() != "-").then_some(args.file.as_path());
    let mut output = Output::create(&args.output, source)?;
    let mut dec = session::decoder(&mut input, schema.as_ref(), args.limits.limits())?;
    let mut progress = Progress::new(input.len);
    let w = qemufile::Writer::new(output.writer());
    let w = vmstate_core::stream::reencode(&mut dec, w, |p| progress.update(p))
        .map_err(CliError::stream(&input.name))?;
    // Bytes after EOF (and its vmdesc) are not written back: refuse the
    // stream, as `check` does, rather than drop them.
    let rest = dec
        .get_mut()
        .peek(0, 1)
        .map_err(|e| CliError::stream(&input.name)(e.into()))?;
    if !rest.is_empty() {
        let at = dec.position();
        return Err(CliError::Invalid {
            name: input.name.clone(),
            message: format!(
                "at byte offset {at} (0x{at:x}): bytes after the end of the stream (EOF and \
                 its vmdesc): QEMU ignores them, and re-encoding would drop them"
            ),
        });
    }
    w.into_inner()
        .map_err(|e| CliError::Output(std::io::Error::other(e.to_string())))?;
    progress.finish();
    output.commit(out)
}
