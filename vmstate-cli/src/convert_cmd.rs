//! `vmstate convert FILE --to json|ber|qemu -o OUT`: a whole migration
//! stream as one JSON document
//! ([`vmstate_core::json_stream::stream_to_json`]: every device section
//! with field names and wire types, RAM and the other iterative sections
//! record by record with their data in base64, commands, the vmdesc) or as
//! a self-describing BER document ([`vmstate_core::ber::stream::to_ber`]:
//! device sections as BER structs, the rest carried as it is), and either
//! document back into the stream
//! ([`vmstate_core::json_stream::json_to_stream`],
//! [`vmstate_core::ber::stream::to_qemu`]), byte for byte. The input's
//! format is told by its first bytes (`QEVM`, a BER header, or a JSON
//! object). `--to qemu` on a stream re-encodes it, as `vmstate reencode`.
//! OUT is written only if everything succeeded, and never over FILE.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use vmstate_core::dynamic::DescriptionArena;
use vmstate_core::json_stream::{json_to_stream, stream_to_json};

use crate::error::{CliError, report};
use crate::input::{Input, Progress};
use crate::limits::LimitArgs;
use crate::output::Output;
use crate::session;

/// The formats `vmstate convert` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// QEMU's migration stream.
    Qemu,
    /// A JSON document: the state with field names and wire types, and
    /// everything else needed to write the stream back.
    Json,
    /// The self-describing BER format (docs/ber-format.md).
    Ber,
}

/// Arguments of `vmstate convert`.
#[derive(Debug, Clone, clap::Args)]
pub struct ConvertArgs {
    /// The input: a migration stream, or a JSON or BER document of
    /// `--to json` / `--to ber` (`-` for standard input).
    pub file: PathBuf,
    /// The format to write.
    #[arg(long, value_enum)]
    pub to: Format,
    /// Where to write (`-` for standard output).
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
    /// Decode the device sections of a stream with this vmdesc instead of
    /// its own: another stream of the same QEMU and machine, or a saved
    /// `vmstate desc` JSON. The JSON or BER document carries it.
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

/// What the input is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Stream,
    Json,
    Ber,
}

/// Tells a stream from a JSON document by the first bytes of `r`.
fn sniff(r: &mut dyn BufRead, name: &str) -> Result<Kind, CliError> {
    let head = r.fill_buf().map_err(|source| CliError::File {
        action: "read",
        path: name.to_owned(),
        source,
    })?;
    let first = head.iter().find(|b| !b.is_ascii_whitespace());
    if head.starts_with(&qemufile::stream::FILE_MAGIC.to_be_bytes()) {
        Ok(Kind::Stream)
    } else if vmstate_core::ber::is_ber(head) {
        Ok(Kind::Ber)
    } else if first == Some(&b'{') {
        Ok(Kind::Json)
    } else {
        Err(CliError::Invalid {
            name: name.to_owned(),
            message: "neither a migration stream (QEVM) nor a JSON or BER document of \
                      `vmstate convert`"
                .into(),
        })
    }
}

fn convert(args: &ConvertArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let limits = args.limits.limits();
    let stdin = args.file.as_os_str() == "-";
    let name = if stdin {
        "<stdin>".to_owned()
    } else {
        args.file.display().to_string()
    };
    let source = (!stdin).then_some(args.file.as_path());
    let mut reader: Box<dyn BufRead> = if stdin {
        // Standard input's own buffer: what sniffing looks at stays there.
        Box::new(io::stdin().lock())
    } else {
        let f = File::open(&args.file).map_err(CliError::file("open", &args.file))?;
        Box::new(BufReader::with_capacity(1 << 16, f))
    };
    let kind = sniff(&mut reader, &name)?;
    match (kind, args.to) {
        (Kind::Json, Format::Json | Format::Ber) | (Kind::Ber, Format::Ber | Format::Json) => {
            Err(CliError::Input(format!(
                "{name} is a {} document already: `--to qemu` writes its stream",
                if kind == Kind::Ber { "BER" } else { "JSON" }
            )))
        }
        (Kind::Ber, Format::Qemu) => {
            let mut output = Output::create(&args.output, source)?;
            let w = qemufile::Writer::new(output.writer());
            let w = vmstate_core::ber::stream::to_qemu(qemufile::Reader::new(reader), w, limits)
                .map_err(CliError::stream(&name))?;
            w.into_inner()
                .map_err(|e| CliError::Output(io::Error::other(e.to_string())))?;
            output.commit(out)
        }
        (Kind::Json, Format::Qemu) => {
            let mut output = Output::create(&args.output, source)?;
            let total = if stdin {
                0
            } else {
                std::fs::metadata(&args.file).map_or(0, |m| m.len())
            };
            let mut progress = Progress::new(total);
            let w = qemufile::Writer::new(output.writer());
            let w = json_to_stream(reader, w, limits, |p| progress.update(p))
                .map_err(CliError::stream(&name))?;
            w.into_inner()
                .map_err(|e| CliError::Output(io::Error::other(e.to_string())))?;
            progress.finish();
            output.commit(out)
        }
        (Kind::Stream, to) => {
            drop(reader);
            let spool;
            let path = if stdin {
                spool = Spool::stdin()?;
                spool.0.as_path()
            } else {
                args.file.as_path()
            };
            stream_to(args, path, &name, source, to, out)
        }
    }
}

fn stream_to(
    args: &ConvertArgs,
    path: &Path,
    name: &str,
    source: Option<&Path>,
    to: Format,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let limits = args.limits.limits();
    let mut input = Input::open(Some(path), &limits)?;
    input.name = name.to_owned();
    let arena = DescriptionArena::with_limits(limits);
    let schema = session::schema(&arena, &input, args.vmdesc.as_deref())?;
    let vmdesc = session::vmdesc_text(&input, args.vmdesc.as_deref())?;
    let mut output = Output::create(&args.output, source)?;
    let mut progress = Progress::new(input.len);
    if to == Format::Ber {
        let schema = schema.ok_or_else(|| CliError::Invalid {
            name: input.name.clone(),
            message: "no vmdesc at the end of the stream to describe its device sections (a \
                      postcopy stream, or written with suppress-vmdesc): give one with --vmdesc"
                .into(),
        })?;
        let reader = input
            .take_reader()
            .ok_or_else(|| CliError::Input(format!("{}: input already used", input.name)))?;
        let w = qemufile::Writer::new(output.writer());
        let w =
            vmstate_core::ber::stream::to_ber(reader, &schema, vmdesc.as_deref(), w, limits, |p| {
                progress.update(p)
            })
            .map_err(CliError::stream(&input.name))?;
        w.into_inner()
            .map_err(|e| CliError::Output(io::Error::other(e.to_string())))?;
        progress.finish();
        return output.commit(out);
    }
    let mut dec = session::decoder(&mut input, schema.as_ref(), limits)?;
    match to {
        Format::Json => {
            stream_to_json(&mut dec, vmdesc.as_deref(), output.writer(), |p| {
                progress.update(p)
            })
            .map_err(CliError::stream(&input.name))?;
        }
        Format::Qemu | Format::Ber => {
            let w = qemufile::Writer::new(output.writer());
            let w = vmstate_core::stream::reencode(&mut dec, w, |p| progress.update(p))
                .map_err(CliError::stream(&input.name))?;
            w.into_inner()
                .map_err(|e| CliError::Output(io::Error::other(e.to_string())))?;
        }
    }
    progress.finish();
    output.commit(out)
}

/// Standard input (once it is known to be a stream) spooled to a file, as
/// [`Input`] reads it (the vmdesc is at the end); removed when dropped.
struct Spool(PathBuf);

impl Spool {
    fn stdin() -> Result<Spool, CliError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = std::env::temp_dir().join(format!(
            "vmstate-convert-{}-{nanos}.mig",
            std::process::id()
        ));
        let spool = Spool(path);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&spool.0)
            .map_err(CliError::file("create", &spool.0))?;
        // What the sniffing looked at is still in standard input's buffer.
        io::copy(&mut io::stdin().lock(), &mut f)
            .map_err(CliError::file("spool standard input to", &spool.0))?;
        Ok(spool)
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
