//! `vmstate convert FILE --to ber|qemu -o OUT`: a whole migration stream
//! into the self-describing BER format and back
//! ([`vmstate_core::ber::stream`]): device sections as BER structs (fields
//! by name, decoded with the stream's vmdesc), RAM and everything else
//! carried as it is. Converting the BER back gives the original stream,
//! byte for byte. OUT is written only if everything succeeded.

use std::io::Write;
use std::path::{Path, PathBuf};

use vmstate_core::dynamic::DescriptionArena;

use crate::error::{CliError, report};
use crate::input::{Input, Progress};
use crate::limits::LimitArgs;
use crate::output::Output;
use crate::session;

/// The formats `vmstate convert` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// QEMU's migration stream (from a BER stream document).
    Qemu,
    /// The self-describing BER format (docs/ber-format.md).
    Ber,
}

/// Arguments of `vmstate convert`.
#[derive(Debug, Clone, clap::Args)]
pub struct ConvertArgs {
    /// The input: a migration stream, or a BER stream document (`-` for
    /// standard input).
    pub file: PathBuf,
    /// The format to write.
    #[arg(long = "to", value_enum)]
    pub to: Format,
    /// Where to write (`-` for standard output).
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
    /// `--to ber`: describe the device sections with this vmdesc instead of
    /// the stream's own (a stream without one, such as a postcopy stream):
    /// another stream of the same QEMU and machine, or a `vmstate desc`
    /// JSON. It is carried in the BER header.
    #[arg(long, value_name = "FILE")]
    pub vmdesc: Option<PathBuf>,
    /// The `--max-*` limits.
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Runs `vmstate convert`.
pub fn run(args: &ConvertArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    report("convert", convert(args, out), err)
}

fn convert(args: &ConvertArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let limits = args.limits.limits();
    let mut input = Input::open(Some(&args.file), &limits)?;
    let is_ber = match input.take_reader() {
        Some(mut reader) => {
            let head = qemufile::QemuRead::peek(&mut reader, 0, 32)
                .map_err(|e| CliError::stream(&input.name)(e.into()))?;
            let ber = vmstate_core::ber::is_ber(head);
            (ber, reader)
        }
        None => {
            return Err(CliError::Input(format!(
                "{}: input already used",
                input.name
            )));
        }
    };
    let (is_ber, reader) = is_ber;
    let source = (args.file.as_os_str() != "-").then_some(args.file.as_path());
    match (args.to, is_ber) {
        (Format::Ber, true) => Err(CliError::Input(format!(
            "{} is a BER document already",
            input.name
        ))),
        (Format::Qemu, false) => Err(CliError::Input(format!(
            "{} is not a BER document (a QEMU stream already?): `--to qemu` reads what \
             `--to ber` wrote",
            input.name
        ))),
        (Format::Qemu, true) => {
            let mut output = Output::create(&args.output, source)?;
            let w = qemufile::Writer::new(output.writer());
            let w = vmstate_core::ber::stream::to_qemu(reader, w, limits)
                .map_err(CliError::stream(&input.name))?;
            w.into_inner()
                .map_err(|e| CliError::Output(std::io::Error::other(e.to_string())))?;
            output.commit(out)
        }
        (Format::Ber, false) => {
            let arena = DescriptionArena::with_limits(limits);
            let schema =
                session::schema(&arena, &input, args.vmdesc.as_deref())?.ok_or_else(|| {
                    CliError::Invalid {
                        name: input.name.clone(),
                        message: "no vmdesc at the end of the stream to describe its device \
                              sections (a postcopy stream, or written with suppress-vmdesc): \
                              give one with --vmdesc"
                            .into(),
                    }
                })?;
            let json = match args.vmdesc.as_deref() {
                Some(path) => vmdesc_json(path)?,
                None => input
                    .vmdesc
                    .as_ref()
                    .map(|(_, j)| j.to_vec())
                    .unwrap_or_default(),
            };
            let mut output = Output::create(&args.output, source)?;
            let mut progress = Progress::new(input.len);
            let w = qemufile::Writer::new(output.writer());
            let w =
                vmstate_core::ber::stream::to_ber(reader, &schema, Some(&json), w, limits, |p| {
                    progress.update(p)
                })
                .map_err(CliError::stream(&input.name))?;
            w.into_inner()
                .map_err(|e| CliError::Output(std::io::Error::other(e.to_string())))?;
            progress.finish();
            output.commit(out)
        }
    }
}

/// The JSON of `--vmdesc FILE`: a stream's vmdesc, or the file itself.
fn vmdesc_json(path: &Path) -> Result<Vec<u8>, CliError> {
    let bytes = std::fs::read(path).map_err(CliError::file("open", path))?;
    if bytes.starts_with(&qemufile::stream::FILE_MAGIC.to_be_bytes()) {
        return match qemufile::stream::find_vmdesc(&bytes) {
            Some((_, json)) => Ok(json.to_vec()),
            None => Err(CliError::Invalid {
                name: path.display().to_string(),
                message: "this stream has no vmdesc at its end to lend".into(),
            }),
        };
    }
    Ok(bytes)
}
